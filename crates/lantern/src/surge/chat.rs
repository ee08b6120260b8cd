//! The in-process surge's chat share: conversations with the real agent (`lantern_agent`) over
//! the gateway's `Shop` (`GatewayShop`: reads, claims, quotes and placements through the same
//! sequencer and durable ledger as the rest of the run), in this process, with no HTTP.
//!
//! A conversation is the four messages of [`lantern_surge::chat_messages`] (claim, the drink,
//! checkout, "yes"), one message per slice of the engine driver: every slice, after the
//! driver has submitted its API tries, each open conversation sends its next message, all of
//! them at once on one thread, and the slice waits for their answers. Each turn hands its
//! ledger command to the sequencer on its first poll, in the conversations' order, after the
//! slice's API tries, so the ledger sees the same commands in the same order every run: a
//! run stays a pure function of profile, scale and seed. Admission is off, as for the rest of
//! the in-process run (the engine's capacity is what it measures).
//!
//! The agent's catalog knows one shop, the chat shop (registered before the surge's outlets,
//! as the demo's shops are over HTTP): a shopper who chats orders there.

use std::sync::Arc;
use std::time::Instant;

use lantern_agent::{Agent, AgentEvent, Session};
use lantern_core::{Capacity, MerchantId, OrderId, ShopperId};
use lantern_gateway::{App, GatewayConfig, GatewayShop};
use lantern_sequencer::{Clock, SequencerHandle};
use lantern_surge::Arrival;

/// Most conversations open at once; a chat arrival beyond it orders through the API instead.
pub const CONVERSATIONS_OPEN_MAX: usize = 100_000;

/// The chat shop: never full (the engine's kitchens are the surge outlets'; its orders wait in
/// its backlog of a million).
pub fn chat_shop_capacity() -> Capacity {
    Capacity::new(lantern_core::ORDERS_PER_MINUTE_MAX, lantern_core::OPEN_ORDERS_MAX)
        .unwrap_or_else(|error| panic!("the largest capacity is valid: {error}"))
}

/// One open conversation.
struct Conversation {
    arrival: Arrival,
    session: Session,
    messages: [String; 4],
    /// Messages sent so far.
    sent: usize,
    /// A turn said a shop was busy.
    busy: bool,
    began: Instant,
}

/// How a conversation ended.
#[derive(Debug)]
pub struct Ended {
    pub arrival: Arrival,
    /// The order the agent placed, if it did.
    pub placed: Option<OrderId>,
    pub busy: bool,
    pub latency_us: u64,
}

/// The agent and its conversations.
pub struct Chats {
    runtime: tokio::runtime::Runtime,
    agent: Arc<Agent<GatewayShop>>,
    /// Kept for the life of the run (the agent's shop holds it too).
    _app: Arc<App>,
    open: Vec<Conversation>,
    n_turns: u64,
}

impl Chats {
    /// The gateway's `App` over `handle` (its catalogs read from the ledger now: the chat shop
    /// and its menu must be registered, the surge's outlets not yet), with admission off, and
    /// an agent over its `Shop`.
    pub fn new(handle: SequencerHandle, clock: Arc<dyn Clock>) -> anyhow::Result<Chats> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let mut config = GatewayConfig::default_for_serve();
        config.admission_enabled = false;
        // The surge's shoppers would otherwise count as one caller per process.
        config.admission.ip_bucket.per_second = 0;
        config.admission.shopper_bucket.per_second = 0;
        let signer = lantern_auth::Signer::new(&[7; 32])?;
        let (app, agent) = runtime.block_on(async {
            let app = App::new(config, handle, signer, clock);
            let shop = Arc::new(GatewayShop::new(Arc::clone(&app), std::net::Ipv4Addr::LOCALHOST.into()));
            let agent = Agent::new(shop, Arc::clone(&app.catalogs.lexicon), None, app.config.agent.clone());
            (app, Arc::new(agent))
        });
        Ok(Chats { runtime, agent, _app: app, open: Vec::new(), n_turns: 0 })
    }

    /// Opens a conversation for `arrival` (its first message goes in the next [`Chats::step`]);
    /// false when [`CONVERSATIONS_OPEN_MAX`] are open.
    pub fn open(&mut self, arrival: Arrival) -> bool {
        if self.open.len() >= CONVERSATIONS_OPEN_MAX {
            return false;
        }
        let session = Session::new(&format!("surge-chat-{}", arrival.index));
        let messages = lantern_surge::chat_messages(&arrival);
        self.open.push(Conversation {
            arrival,
            session,
            messages,
            sent: 0,
            busy: false,
            began: Instant::now(),
        });
        true
    }

    pub fn n_open(&self) -> usize {
        self.open.len()
    }

    pub fn n_turns(&self) -> u64 {
        self.n_turns
    }

    /// Every open conversation sends its next message; returns those that ended (an order
    /// placed, or every message sent without one).
    pub fn step(&mut self) -> Vec<Ended> {
        if self.open.is_empty() {
            return Vec::new();
        }
        let agent = Arc::clone(&self.agent);
        let turns = self.open.iter_mut().map(|conversation| {
            let agent = Arc::clone(&agent);
            async move {
                let shopper: ShopperId = conversation.arrival.shopper;
                let message = &conversation.messages[conversation.sent];
                let mut busy = false;
                let outcome = agent
                    .turn(&mut conversation.session, shopper, message, &mut |event| {
                        busy |= matches!(event, AgentEvent::Busy { .. });
                    })
                    .await;
                conversation.sent += 1;
                conversation.busy |= busy;
                outcome.placed
            }
        });
        let placed: Vec<Option<OrderId>> = self.runtime.block_on(futures_util::future::join_all(turns));
        self.n_turns += placed.len() as u64;
        let mut ended = Vec::new();
        let mut still_open = Vec::with_capacity(self.open.len());
        for (conversation, placed) in std::mem::take(&mut self.open).into_iter().zip(placed) {
            if placed.is_some() || conversation.sent == conversation.messages.len() {
                ended.push(Ended {
                    placed,
                    busy: conversation.busy,
                    latency_us: u64::try_from(conversation.began.elapsed().as_micros()).unwrap_or(u64::MAX),
                    arrival: conversation.arrival,
                });
            } else {
                still_open.push(conversation);
            }
        }
        self.open = still_open;
        ended
    }
}

/// The chat shop's id: after the surge's outlets.
pub fn chat_shop(outlets: u64) -> MerchantId {
    MerchantId::new(outlets + 1)
}
