//! The in-process surge's chat share: conversations with the real agent (`lantern_agent`) over
//! the gateway's `Shop` (`GatewayShop`: reads, claims, quotes and placements through the same
//! sequencer and durable ledger as the rest of the run), in this process, with no HTTP.
//!
//! A conversation is the four messages of [`lantern_surge::chat_messages`] (claim, the drink,
//! checkout, "yes"), one message per slice of the engine driver. At the start of every slice
//! ([`Chats::start_step`]) each open conversation sends its next message, all of them at once
//! on the chat thread, polled once without tokio's cooperative budget, so each turn hands its
//! ledger command to the sequencer in the conversations' order before the call returns; then
//! the driver submits the slice's API tries, which join the same batches, and
//! [`Chats::finish_step`] waits for the turns' answers. For a turn that hands the ledger one
//! command, the ledger sees the same commands in the same order every run (a run stays a pure
//! function of profile, scale and seed), and the chat costs no fsync round trip of its own.
//! The exception: a turn that needs a second command sends it when its first answer comes,
//! while the driver is still submitting the slice's API tries. That is a "yes" whose quote the
//! same shopper's API order took over, answered with a fresh quote (a few in 100,000 chats).
//! Where that second command lands differs from run to run, and so can the rest of that
//! conversation and that shopper's next try: two full-scale runs of one build differed by one
//! "shop busy" in 14.5 M tries and by 2 of 200,000 chats ending without an order. The test that
//! repeats a run (scale 0.001) compares every count exactly. Admission is off, as for the rest of
//! the in-process run (the engine's capacity is what it measures).
//!
//! The agent's catalog knows one shop, the chat shop (registered before the surge's outlets,
//! as the demo's shops are over HTTP): a shopper who chats orders there.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
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
    /// Times the last message was said again to a fresh quote ([`lantern_surge::CHAT_RECONFIRMS_MAX`]).
    reconfirms: u32,
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

/// A conversation after a turn, and the order that turn placed.
type Answered = Vec<(Conversation, Option<OrderId>)>;

/// The agent's conversations, and the thread that runs their turns (the agent, the gateway's
/// `App` and a current-thread runtime live there).
pub struct Chats {
    /// Conversations to run a turn of; one step at a time.
    to_thread: Option<std::sync::mpsc::SyncSender<Vec<Conversation>>>,
    /// A step's turns have handed their commands to the sequencer.
    submitted: std::sync::mpsc::Receiver<()>,
    answered: std::sync::mpsc::Receiver<Answered>,
    thread: Option<std::thread::JoinHandle<()>>,
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
        let (to_thread, steps) = std::sync::mpsc::sync_channel::<Vec<Conversation>>(1);
        let (submitted_tx, submitted) = std::sync::mpsc::sync_channel(1);
        let (answered_tx, answered) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new().name("surge-chat".into()).spawn(move || {
            // Kept for the life of the thread (the agent's shop holds it too).
            let _app = app;
            while let Ok(conversations) = steps.recv() {
                runtime.block_on(async {
                    let turns = conversations.into_iter().map(|conversation| turn(&agent, conversation));
                    let mut turns =
                        Box::pin(tokio::task::unconstrained(futures_util::future::join_all(turns)));
                    let first = futures_util::future::poll_immediate(&mut turns).await;
                    let _ = submitted_tx.send(());
                    let answered = match first {
                        Some(answered) => answered,
                        None => turns.await,
                    };
                    let _ = answered_tx.send(answered);
                });
            }
        })?;
        Ok(Chats {
            to_thread: Some(to_thread),
            submitted,
            answered,
            thread: Some(thread),
            open: Vec::new(),
            n_turns: 0,
        })
    }

    /// Opens a conversation for `arrival` (its first message goes in the next [`Chats::start_step`]);
    /// false when [`CONVERSATIONS_OPEN_MAX`] are open.
    pub fn open(&mut self, arrival: Arrival) -> bool {
        if self.open.len() >= CONVERSATIONS_OPEN_MAX {
            return false;
        }
        let session = Session::new(&format!("surge-chat-{}", arrival.index));
        // The agent knows one shop and one campaign here: no need to name them.
        let messages = lantern_surge::chat_messages(&arrival, None, None);
        self.open.push(Conversation {
            arrival,
            session,
            messages,
            sent: 0,
            busy: false,
            reconfirms: 0,
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

    /// Every open conversation sends its next message: when this returns, each turn's ledger
    /// command is with the sequencer. False when none is open.
    pub fn start_step(&mut self) -> anyhow::Result<bool> {
        if self.open.is_empty() {
            return Ok(false);
        }
        let to_thread = self.to_thread.as_ref().context("the chat thread is stopped")?;
        to_thread.send(std::mem::take(&mut self.open)).ok().context("the chat thread stopped")?;
        self.submitted.recv().ok().context("the chat thread stopped")?;
        Ok(true)
    }

    /// Waits for the answers of the turns [`Chats::start_step`] started (if it started any);
    /// returns the conversations that ended (an order placed, or every message sent without
    /// one).
    pub fn finish_step(&mut self, started: bool) -> anyhow::Result<Vec<Ended>> {
        if !started {
            return Ok(Vec::new());
        }
        let answered = self.answered.recv().ok().context("the chat thread stopped")?;
        self.n_turns += answered.len() as u64;
        let mut ended = Vec::new();
        let mut still_open = Vec::with_capacity(answered.len());
        for (conversation, placed) in answered {
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
        // Conversations opened during the step (new arrivals) go after those already open.
        still_open.append(&mut self.open);
        self.open = still_open;
        Ok(ended)
    }
}

impl Drop for Chats {
    /// Stops the chat thread, so the gateway's `App` (and its sequencer handle) is gone.
    fn drop(&mut self) {
        self.to_thread = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One turn of `conversation`.
async fn turn(agent: &Agent<GatewayShop>, mut conversation: Conversation) -> (Conversation, Option<OrderId>) {
    let shopper: ShopperId = conversation.arrival.shopper;
    let (mut busy, mut quoted) = (false, false);
    let outcome = agent
        .turn(&mut conversation.session, shopper, &conversation.messages[conversation.sent], &mut |event| {
            busy |= matches!(event, AgentEvent::Busy { .. });
            quoted |= matches!(event, AgentEvent::Quote { .. });
        })
        .await;
    conversation.sent += 1;
    conversation.busy |= busy;
    // The "yes" met a quote that can no longer be placed, and a fresh one: say it again.
    if outcome.placed.is_none()
        && quoted
        && conversation.sent == conversation.messages.len()
        && conversation.reconfirms < lantern_surge::CHAT_RECONFIRMS_MAX
    {
        conversation.sent -= 1;
        conversation.reconfirms += 1;
    }
    (conversation, outcome.placed)
}

/// The chat shop's id: after the surge's outlets.
pub fn chat_shop(outlets: u64) -> MerchantId {
    MerchantId::new(outlets + 1)
}
