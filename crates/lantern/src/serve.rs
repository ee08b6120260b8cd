//! `lantern serve`: the HTTP gateway over the durable ledger, and `lantern token`, which issues
//! development bearer tokens signed with the same data directory's secret.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use base64::Engine as _;
use lantern_auth::{Claims, Role, Signer};
use lantern_core::{Capacity, MerchantId, Money, ShopperId, Timestamp, Validity};
use lantern_ledger::Command;
use lantern_sequencer::{Clock, ReplayProgress, SequencerHandle, SystemClock};
use lantern_store::{Durability, OpenMode};

use crate::cluster::{self, JournalPlace, LeaseKeeper, StoreTarget};
use crate::config::ServeConfig;
use crate::world;

/// The secret's file inside the data directory (made on first start, mode 0600).
pub(crate) const SECRET_FILE_NAME: &str = "secret";
/// Environment variable that supplies the secret instead of the file.
const SECRET_ENV: &str = "LANTERN_SECRET";
/// Idle ticks keep holds and campaigns expiring on time when no request arrives.
pub(crate) const IDLE_TICK_MS: u64 = 1_000;
/// Outlets the demo opens: tea shops, then coffee shops.
const DEMO_TEA_SHOPS: u64 = 6;
const DEMO_COFFEE_SHOPS: u64 = 4;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Configuration file (TOML). Every key is optional; environment variables
    /// `LANTERN_<SECTION>__<KEY>` override it (LANTERN_LISTEN, LANTERN_ADMISSION__MAX_LIMIT, ...).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on (overrides the configuration).
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Data directory (overrides the configuration; default ./lantern-data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Seed demo shops (bubble tea and coffee, menus in Chinese and English) and the Spring
    /// Festival campaign (25-yuan coupons, valid to Feb 28) when the data directory is new, and
    /// hand out guest shopper tokens to the chat page at /.
    #[arg(long)]
    demo: bool,
    /// Turn admission control off (for comparisons only: shows what happens without it).
    #[arg(long)]
    no_admission: bool,
    /// Print development tokens for the demo (an operator, shop mer_1, shopper shp_1) at start.
    #[arg(long)]
    print_tokens: bool,
    /// Print the configuration this command would run with (every key: the defaults, the
    /// file, the environment and these flags), checked, as TOML, and exit. Saved as a file, it
    /// is a `--config` to start from.
    #[arg(long)]
    print_config: bool,
}

pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let config = load_config(args.config.as_deref(), args.data.as_deref(), |config| {
        if let Some(listen) = args.listen {
            config.listen = listen;
        }
        if args.no_admission {
            config.admission.enabled = false;
        }
        if args.demo {
            // The demo's chat page works without a token of its own.
            config.web.guest_tokens = true;
        }
    })?;
    // Every setting is checked before the port opens.
    let gateway_config = config.gateway()?;
    if args.print_config {
        print!("{}", config.to_toml()?);
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // The port opens before the journal is replayed (half a minute after a surge): until the
    // gateway is ready it answers 503 `starting` with the replay's progress, not a refused
    // connection.
    let listener = runtime
        .block_on(async { listen(config.listen) })
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "listening; answering 503 starting until the ledger is rebuilt");
    // Ctrl-C and SIGTERM are caught from now on, the start included; a failed start stops the
    // server the same way.
    let (stop_sender, stop) = tokio::sync::watch::channel(false);
    let stop_sender = Arc::new(stop_sender);
    let signalled = Arc::clone(&stop_sender);
    runtime.spawn(async move {
        shutdown_signal().await;
        let _ = signalled.send(true);
    });
    let stopped = |mut stop: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|stop| *stop).await;
    };
    let starting = lantern_gateway::Starting::new();
    let server = runtime.spawn(lantern_gateway::serve_from_start(
        listener,
        Arc::clone(&starting),
        stopped(stop.clone()),
    ));
    let started = start_in_background(
        config,
        gateway_config,
        args.demo,
        Arc::clone(&starting),
        runtime.handle().clone(),
    )?;
    let started = runtime.block_on(async {
        tokio::select! {
            started = started => Some(started),
            () = stopped(stop.clone()) => None,
        }
    });
    let (opened, app) = match started {
        Some(Ok(Ok(started))) => started,
        failed => {
            let _ = stop_sender.send(true);
            let _ = runtime.block_on(server);
            runtime.shutdown_background();
            return match failed {
                Some(Ok(Err(error))) => Err(error),
                Some(_) => bail!("the gateway's start ended without an answer (see the log above)"),
                None => {
                    // Nothing was served yet; what the start wrote is as safe as at any kill.
                    tracing::info!("shutdown requested while starting; stopped before serving");
                    Ok(())
                }
            };
        }
    };
    starting.open(app);
    let Opened { sequencer, signer, clock, keeper, .. } = opened;
    // One line a script can wait for: from here on the gateway answers for real.
    println!("lantern listening on http://{address}");
    if args.print_tokens {
        print_demo_tokens(&signer, clock.now());
    }
    let _ = std::io::stdout().flush();
    let result = match runtime.block_on(server) {
        Ok(served) => served.context("the server failed"),
        Err(error) => Err(anyhow::anyhow!("the server stopped unexpectedly: {error}")),
    };
    // Requests have drained; unspent leases go back, then commit and answer what is queued.
    if let Some(keeper) = keeper {
        keeper.stop();
    }
    sequencer.stop();
    tracing::info!("stopped");
    result
}

type Started = anyhow::Result<(Opened, Arc<lantern_gateway::App>)>;

/// Placed orders the replay hands the indexing thread at a time, and how many such handfuls may
/// wait for it (beyond that the replay waits).
const INDEX_FEED_ORDERS_MAX: usize = 4_096;
const INDEX_FEED_QUEUE_MAX: usize = 64;

/// Runs `replay` (a start that hands each replayed answer to its argument) while a second
/// thread records the read index of the placed orders: the index to finish
/// ([`lantern_gateway::ReadIndex::finish`]) instead of walking every order afterwards. `None`
/// when the indexing thread could not start or failed, which only costs that walk.
pub(crate) fn index_while_replaying<R>(
    expected_orders: usize,
    replay: impl FnOnce(&mut dyn FnMut(&lantern_ledger::Outcome)) -> R,
) -> (R, Option<lantern_gateway::ReadIndex>) {
    let (feed, fed) =
        std::sync::mpsc::sync_channel::<Vec<lantern_ledger::OrderReceipt>>(INDEX_FEED_QUEUE_MAX);
    let indexer = std::thread::Builder::new().name("lantern-index".into()).spawn(move || {
        let mut index = lantern_gateway::ReadIndex::sized(expected_orders);
        for receipts in fed {
            for receipt in &receipts {
                index.record_order(receipt);
            }
        }
        index
    });
    let mut placed = Vec::with_capacity(INDEX_FEED_ORDERS_MAX);
    let replayed = replay(&mut |outcome| {
        if let Some(receipt) = lantern_gateway::ReadIndex::placed(outcome) {
            placed.push(*receipt);
            if placed.len() >= INDEX_FEED_ORDERS_MAX {
                let full = std::mem::replace(&mut placed, Vec::with_capacity(INDEX_FEED_ORDERS_MAX));
                let _ = feed.send(full);
            }
        }
    });
    let _ = feed.send(placed);
    drop(feed);
    let recorded = indexer.ok().and_then(|indexer| indexer.join().ok());
    (replayed, recorded)
}

/// Opens the gateway's parts on a thread of its own (the replay blocks for as long as the
/// journal takes), telling `starting` how far it has come; the answer arrives on the receiver.
/// The read index of orders is recorded from the replay's answers on a second thread as the
/// journal replays (the gateway would otherwise walk every order after the replay: 7 s for the
/// full surge's 10 M orders on this machine).
fn start_in_background(
    config: ServeConfig,
    gateway_config: lantern_gateway::GatewayConfig,
    demo: bool,
    starting: Arc<lantern_gateway::Starting>,
    runtime: tokio::runtime::Handle,
) -> anyhow::Result<tokio::sync::oneshot::Receiver<Started>> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("lantern-start".into())
        .spawn(move || {
            let expected_orders = config.expected_orders;
            let (opened, recorded) = index_while_replaying(expected_orders, |observe| {
                open_loaded(
                    config,
                    gateway_config,
                    demo,
                    &mut |replayed| {
                        starting.replaying(
                            replayed.n_batches_done,
                            replayed.n_batches_total,
                            replayed.elapsed_ms,
                        );
                    },
                    observe,
                )
            });
            let started = opened.map(|opened| {
                starting.replayed(
                    opened.replay.n_batches,
                    opened.replay.n_commands,
                    opened.replay.elapsed_ms,
                );
                starting.indexing();
                // The gateway's parts spawn their tasks on the server's runtime.
                let _runtime = runtime.enter();
                let app = lantern_gateway::App::with_index(
                    opened.gateway_config.clone(),
                    opened.sequencer.handle(),
                    opened.signer.clone(),
                    Arc::clone(&opened.clock),
                    recorded,
                );
                (opened, app)
            });
            let _ = sender.send(started);
        })
        .context("cannot start the thread that opens the ledger")?;
    Ok(receiver)
}

/// A gateway's parts, opened over its data directory.
pub(crate) struct Opened {
    pub gateway_config: lantern_gateway::GatewayConfig,
    /// What the start replayed, and how long it took.
    pub replay: lantern_sequencer::ReplaySummary,
    pub clock: Arc<dyn Clock>,
    pub sequencer: lantern_sequencer::Sequencer,
    pub signer: Signer,
    /// The budget lease keeper of a node over PostgreSQL; stop it before the sequencer, so
    /// unspent leases go back.
    pub keeper: Option<LeaseKeeper>,
}

/// Loads the configuration (file, environment, then `adjust` and `data`), replays the ledger
/// and, with `demo` on a new data directory, seeds the demo shops and campaign.
pub(crate) fn open(
    config_file: Option<&Path>,
    data: Option<&Path>,
    demo: bool,
    adjust: impl FnOnce(&mut ServeConfig),
) -> anyhow::Result<Opened> {
    let config = load_config(config_file, data, adjust)?;
    let gateway_config = config.gateway()?;
    open_loaded(config, gateway_config, demo, &mut |_| {}, &mut |_| {})
}

/// The configuration: the file, the environment, then `adjust` and `data`.
fn load_config(
    config_file: Option<&Path>,
    data: Option<&Path>,
    adjust: impl FnOnce(&mut ServeConfig),
) -> anyhow::Result<ServeConfig> {
    let mut config = ServeConfig::load(config_file, std::env::vars())?;
    if let Some(data) = data {
        config.data = data.to_path_buf();
    }
    adjust(&mut config);
    Ok(config)
}

/// [`open`] with the configuration loaded and checked, telling `watch` how the replay goes and `observe`
/// each answer the replay's commands get.
fn open_loaded(
    config: ServeConfig,
    gateway_config: lantern_gateway::GatewayConfig,
    demo: bool,
    watch: &mut dyn FnMut(&ReplayProgress),
    observe: &mut dyn FnMut(&lantern_ledger::Outcome),
) -> anyhow::Result<Opened> {
    // The journal: the data directory's SQLite, or this node's shard of a PostgreSQL cluster.
    let target = match &config.store {
        Some(store) => StoreTarget::parse(store, config.cluster.node_index),
        None => StoreTarget::Sqlite(config.data.clone()),
    };
    let fresh = !target.exists()?;
    let mode = if fresh { OpenMode::Create } else { OpenMode::Existing };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (sequencer, replay) = cluster::start_node_watched(
        &target,
        mode,
        Durability::Full,
        Arc::clone(&clock),
        IDLE_TICK_MS,
        config.expected_orders,
        watch,
        observe,
    )?;
    tracing::info!(data = %config.data.display(), batches = replay.n_batches, commands = replay.n_commands, elapsed_ms = replay.elapsed_ms, "ledger rebuilt");
    match &gateway_config.acp.signing {
        Some(signing) => tracing::info!(skew_ms = signing.skew_ms, "acp requests must be signed"),
        None => tracing::info!(
            secret_env = %config.acp.request_secret_env,
            "acp requests need no signature; set the secret's variable to require one"
        ),
    }
    let signer = load_or_make_signer(&config.data)?;
    let handle = sequencer.handle();
    // Where this node's campaigns lease their budget from, if anywhere.
    let leases = match (&target, &config.cluster.budget_store) {
        (StoreTarget::Postgres { url, shard }, _) => {
            Some((url.clone(), *shard, JournalPlace::Postgres, None))
        }
        (StoreTarget::Sqlite(_), Some(url)) => {
            let shard = config.cluster.node_index;
            Some((url.clone(), shard, JournalPlace::Local, cluster::lock_lease_shard(url, shard)?))
        }
        (StoreTarget::Sqlite(_), None) => None,
    };
    let keeper = match leases {
        Some((url, shard, journal, budget)) => {
            // Before anything is served: every campaign of this node spends only leased budget.
            cluster::draw_all_from_leases(&handle)?;
            Some(LeaseKeeper::start(
                url,
                shard,
                handle.clone(),
                Arc::clone(&clock),
                config.cluster.lease_ttl_ms,
                journal,
                budget,
            ))
        }
        None => None,
    };
    if demo && fresh {
        seed_demo(&handle, clock.now())?;
        tracing::info!(shops = DEMO_TEA_SHOPS + DEMO_COFFEE_SHOPS, "demo shops and campaign seeded");
    }
    Ok(Opened { gateway_config, replay, clock, sequencer, signer, keeper })
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// The signing secret: `LANTERN_SECRET` (base64), or `DATA/secret`, made on first start.
pub fn load_or_make_signer(data: &Path) -> anyhow::Result<Signer> {
    let engine = base64::engine::general_purpose::STANDARD;
    let secret = match std::env::var(SECRET_ENV) {
        Ok(text) => engine.decode(text.trim()).with_context(|| format!("{SECRET_ENV} is not base64"))?,
        Err(_) => {
            let path = data.join(SECRET_FILE_NAME);
            match std::fs::read_to_string(&path) {
                Ok(text) => engine.decode(text.trim()).with_context(|| {
                    format!("{} is not base64; delete it to make a new one", path.display())
                })?,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => make_secret(&path)?,
                Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
            }
        }
    };
    Signer::new(&secret).map_err(|error| anyhow::anyhow!("{error}"))
}

fn make_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut secret = vec![0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| std::io::Read::read_exact(&mut random, &mut secret))
        .context("cannot read /dev/urandom for a new secret")?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(file, "{}", base64::engine::general_purpose::STANDARD.encode(&secret))?;
    Ok(secret)
}

pub(crate) fn seed_demo(handle: &SequencerHandle, now: Timestamp) -> anyhow::Result<()> {
    let capacity = Capacity::new(30, 40)?;
    let shops = world::shop_commands(DEMO_TEA_SHOPS, DEMO_COFFEE_SHOPS, capacity);
    for command in world::located_around_wuyi_square(shops) {
        handle.submit_blocking(command).context("seeding the demo shops")?;
    }
    // Valid from now to Feb 28 (as the February campaign was extended to), or a month when
    // that date has passed.
    let ends_at = world::FESTIVAL_EXTENDED_ENDS_AT.max(now.plus_ms(30 * 24 * 60 * 60 * 1000));
    let validity = Validity::new(now, ends_at)?;
    let spec = world::festival_campaign(Money::from_yuan(3_000_000_000), validity);
    handle.submit_blocking(Command::CreateCampaign { spec }).context("creating the demo campaign")?;
    Ok(())
}

fn print_demo_tokens(signer: &Signer, now: Timestamp) {
    let expires_at = now.plus_ms(TOKEN_TTL_MS_DEFAULT);
    for role in [Role::Operator, Role::Merchant(MerchantId::new(1)), Role::Shopper(ShopperId::new(1))] {
        let token = signer.issue_token(&Claims { role, issued_at: now, expires_at });
        println!("token {role}: {token}");
    }
}

/// Development tokens last a day unless told otherwise.
const TOKEN_TTL_MS_DEFAULT: u64 = 24 * 60 * 60 * 1000;

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// Who the token is for: `operator`, `merchant mer_1` or `shopper shp_42`.
    #[arg(value_name = "ROLE")]
    role: String,
    /// The merchant or shopper id (for `merchant` and `shopper`).
    #[arg(value_name = "ID")]
    id: Option<String>,
    /// The data directory whose secret signs the token (or set LANTERN_SECRET).
    #[arg(long, default_value = "lantern-data")]
    data: PathBuf,
    /// How long the token is valid, in seconds.
    #[arg(long, default_value_t = TOKEN_TTL_MS_DEFAULT / 1000)]
    ttl_s: u64,
}

/// Prints one bearer token for development and tests.
pub fn token(args: &TokenArgs) -> anyhow::Result<()> {
    let role = match (args.role.as_str(), args.id.as_deref()) {
        ("operator", None) => Role::Operator,
        ("merchant", Some(id)) => Role::Merchant(MerchantId::parse(id)?),
        ("shopper", Some(id)) => Role::Shopper(ShopperId::parse(id)?),
        ("operator", Some(_)) => bail!("an operator token takes no id"),
        (_, _) => bail!("say `operator`, `merchant mer_1` or `shopper shp_42`"),
    };
    if std::env::var(SECRET_ENV).is_err() && !args.data.join(SECRET_FILE_NAME).exists() {
        bail!(
            "{} has no secret yet; start `lantern serve --data {}` once, or set {SECRET_ENV}",
            args.data.display(),
            args.data.display()
        );
    }
    let signer = load_or_make_signer(&args.data)?;
    let now = SystemClock.now();
    let token = signer.issue_token(&Claims {
        role,
        issued_at: now,
        expires_at: now.plus_ms(args.ttl_s.saturating_mul(1000)),
    });
    println!("{token}");
    Ok(())
}

/// Connections the kernel may hold for the gateway to accept (capped by
/// `net.core.somaxconn`). A surge opens thousands of connections at once; past the backlog the
/// kernel drops the handshake's last packet and the client's request waits a whole SYN-ACK
/// retransmission (a second) before it is even seen. Tokio's default is 1,024.
const LISTEN_BACKLOG: u32 = 16_384;

fn listen(address: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket =
        if address.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    // As `TcpListener::bind` does: a restarted gateway can listen again at once.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}
