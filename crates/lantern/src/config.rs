//! `lantern serve`'s configuration: a TOML file (every key optional, defaults below), then
//! environment overrides `LANTERN_<SECTION>__<KEY>` (e.g. `LANTERN_ADMISSION__MAX_LIMIT=2048`,
//! `LANTERN_LISTEN=0.0.0.0:8080`), then the command line. A value of the wrong type, an unknown
//! key or an out-of-range value stops the start with a message naming the key, and for the first
//! two where it was set: the file's line, or the environment variable.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use lantern_admission::{AdmissionConfig, BucketConfig};
use lantern_gateway::GatewayConfig;
use serde::{Deserialize, Serialize};

/// Environment variables that override the file start with this.
const ENV_PREFIX: &str = "LANTERN_";
/// The folder inside the data directory that `POST /v1/ops/backups` writes backups to.
pub(crate) const BACKUPS_DIR_NAME: &str = "backups";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The data directory (the journal database lives in it).
    pub data: PathBuf,
    /// Where `POST /v1/ops/backups` writes backups, a folder each (default: `DATA/backups`).
    /// Another disk or a mounted volume also survives the loss of this one.
    pub backups_dir: Option<PathBuf>,
    /// Finished backups kept there: once a backup is done, the oldest beyond this many are
    /// removed (0 keeps every one).
    pub backups_kept: usize,
    /// Orders the ledger's and the read index's tables are sized for up front (their memory is
    /// taken at start, so a surge does not regrow them or fault them in; 0 sizes nothing ahead).
    pub expected_orders: usize,
    pub limits: Limits,
    pub admission: Admission,
    pub waiting_room: WaitingRoom,
    pub chat: Chat,
    pub web: Web,
    pub acp: Acp,
    /// Where the journal lives: a SQLite data directory (default: `data`), or
    /// `postgres://USER@HOST:PORT/DATABASE` for a node of a cluster over PostgreSQL.
    pub store: Option<String>,
    pub cluster: Cluster,
}

/// The web pages (`/`, `/ops`, `/merchant`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Web {
    /// Hand out guest shopper tokens (`POST /v1/guest_token`) so the chat page works without
    /// one; on with `--demo`, off otherwise.
    pub guest_tokens: bool,
}

/// The Agentic Commerce Protocol (`/checkout_sessions`): order links and order webhooks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Acp {
    /// Where agents reach this gateway: the base of the orders' `permalink_url`.
    pub public_url: String,
    /// The agent platform's receiver for order events; none are sent when empty.
    pub webhook_url: String,
    /// The environment variable holding the shared HMAC secret (at least 16 bytes).
    pub webhook_secret_env: String,
    /// Events handed to the senders and not yet sent, at most; the ledger's record of ACP
    /// orders' changes holds the rest (up to a million changes).
    pub webhook_outbox_max: usize,
    /// Events sent at once (lanes of the outbox; an order's events keep their order), 1..=64.
    pub webhook_concurrency: usize,
    /// Tries per event in a round, the first included; after them the event steps aside (its
    /// lane moves on) and gets another round every `webhook_retry_max_ms`.
    pub webhook_attempts_max: u32,
    /// Wait before the first retry, doubled each time up to `webhook_retry_max_ms`.
    pub webhook_retry_base_ms: u64,
    pub webhook_retry_max_ms: u64,
    /// How long one try may take.
    pub webhook_timeout_ms: u64,
    /// The environment variable holding the secret agent platforms sign their requests with
    /// (at least 16 bytes). When it is set, every ACP request must be signed
    /// (`lantern_gateway::RequestSigning`); when it is unset or empty, none need be.
    pub request_secret_env: String,
    /// How far a signed request's `Timestamp` may be from this gateway's clock, either way.
    pub request_skew_ms: u64,
    /// The seller's pages every checkout session links to, by kind (`terms_of_use`,
    /// `privacy_policy`, `return_policy`, `shipping_policy`, `contact_us`, `about_us`, `faq`,
    /// `support`), each an absolute http(s) URL: `[acp.links] terms_of_use = "https://..."`.
    pub links: std::collections::BTreeMap<String, String>,
}

impl Default for Acp {
    fn default() -> Acp {
        Acp {
            public_url: GatewayConfig::default_for_serve().acp.public_url,
            webhook_url: String::new(),
            webhook_secret_env: "LANTERN_WEBHOOK_SECRET".into(),
            webhook_outbox_max: 10_000,
            webhook_concurrency: 8,
            // 0.5 s doubling to 30 s: a receiver may be down about seven minutes.
            webhook_attempts_max: 20,
            webhook_retry_base_ms: 500,
            webhook_retry_max_ms: 30_000,
            webhook_timeout_ms: 5_000,
            request_secret_env: "LANTERN_ACP_REQUEST_SECRET".into(),
            request_skew_ms: 300_000,
            links: std::collections::BTreeMap::new(),
        }
    }
}

impl Acp {
    /// The gateway's settings; the secret is read from its variable when webhooks are on.
    pub fn gateway(&self) -> anyhow::Result<lantern_gateway::AcpConfig> {
        let webhook = if self.webhook_url.is_empty() {
            None
        } else {
            let secret = std::env::var(&self.webhook_secret_env).with_context(|| {
                format!("acp.webhook_url is set, so {} must hold the webhook secret", self.webhook_secret_env)
            })?;
            Some(lantern_gateway::webhooks::WebhookConfig {
                url: self.webhook_url.clone(),
                secret: secret.into_bytes(),
                outbox_max: self.webhook_outbox_max,
                concurrency: self.webhook_concurrency,
                attempts_max: self.webhook_attempts_max,
                retry_base_ms: self.webhook_retry_base_ms,
                retry_max_ms: self.webhook_retry_max_ms,
                timeout_ms: self.webhook_timeout_ms,
            })
        };
        let signing = match std::env::var(&self.request_secret_env) {
            Ok(secret) if !secret.is_empty() => {
                anyhow::ensure!(
                    secret.len() >= lantern_gateway::SIGNING_SECRET_BYTES_MIN,
                    "{} holds {} bytes; a request-signing secret needs at least {} (e.g. `openssl rand -hex 32`)",
                    self.request_secret_env,
                    secret.len(),
                    lantern_gateway::SIGNING_SECRET_BYTES_MIN
                );
                Some(lantern_gateway::RequestSigning {
                    secret: secret.into_bytes(),
                    skew_ms: self.request_skew_ms,
                })
            }
            _ => None,
        };
        let links = self
            .links
            .iter()
            .map(|(kind, url)| {
                lantern_gateway::AcpLink::new(kind, url).map_err(|problem| {
                    anyhow::anyhow!("the configuration is invalid: acp.links.{kind}: {problem}")
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(lantern_gateway::AcpConfig { public_url: self.public_url.clone(), webhook, signing, links })
    }
}

/// Several nodes over one PostgreSQL (`store = "postgres://..."`): shoppers are sharded over
/// `nodes` by their id and campaign budget is leased to each node in chunks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cluster {
    /// Every node's base URL, in node order (one node when empty).
    pub nodes: Vec<String>,
    /// This node's position in `nodes` (0-based); also its journal shard.
    pub node_index: u32,
    /// How long a budget lease lasts unrenewed: a dead node's unspent lease returns to the pool
    /// about this long after it died.
    pub lease_ttl_ms: u64,
    /// Keep the journal in this node's SQLite (`data`) and lease campaign budget from the
    /// PostgreSQL at this URL (`postgres://USER@HOST:PORT/DATABASE`): through a database outage
    /// the node keeps selling from its lease, then sheds claims with `rate_limited`. Not together
    /// with `store = "postgres://..."`, which keeps journal and leases in PostgreSQL.
    pub budget_store: Option<String>,
}

impl Default for Cluster {
    fn default() -> Cluster {
        Cluster {
            nodes: Vec::new(),
            node_index: 0,
            lease_ttl_ms: crate::cluster::LEASE_TTL_MS_DEFAULT,
            budget_store: None,
        }
    }
}

impl Cluster {
    fn shard_map(&self) -> Option<lantern_gateway::sharding::ShardMap> {
        (!self.nodes.is_empty()).then(|| lantern_gateway::sharding::ShardMap {
            nodes: self.nodes.clone(),
            node_index: self.node_index,
        })
    }
}

/// The chat agent (`POST /v1/chat`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Chat {
    /// Conversations kept at once.
    pub sessions_max: usize,
    /// A conversation unused this long is forgotten.
    pub session_idle_ms: u64,
    pub agent: lantern_agent::AgentConfig,
    /// An OpenAI-compatible model for messages the fast path is unsure of (off when absent):
    /// `base_url`, `model`, `api_key_env` (the name of the variable holding the key) and its
    /// limits (see lantern-llm's `LlmConfig`).
    pub llm: Option<lantern_llm::LlmConfig>,
}

impl Default for Chat {
    fn default() -> Chat {
        let gateway = GatewayConfig::default_for_serve();
        Chat {
            sessions_max: gateway.chat_sessions_max,
            session_idle_ms: gateway.chat_session_idle_ms,
            agent: gateway.agent,
            llm: gateway.llm,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub body_bytes_max: usize,
    pub request_deadline_ms: u64,
    pub sse_keepalive_ms: u64,
    pub sse_lifetime_ms: u64,
    pub keys_in_flight_max: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Admission {
    /// Off only for comparisons (`lantern surge --no-admission`).
    pub enabled: bool,
    pub initial_limit: u32,
    pub min_limit: u32,
    pub max_limit: u32,
    /// Latency above which the concurrency limit backs off.
    pub target_latency_ms: u64,
    /// How long an admitted order may hold its slot, waiting for a core included, before the
    /// concurrency limit backs off (0: only the ledger's latency counts).
    pub slot_time_target_ms: u64,
    /// Share of the limit each class may fill, per-mille: complete checkout, checkout, claim,
    /// browse, chat.
    pub class_share_permille: [u32; 5],
    pub shopper_per_second: u32,
    pub shopper_burst: u32,
    pub ip_per_second: u32,
    pub ip_burst: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WaitingRoom {
    /// Tickets each class may hold: complete checkout, checkout, claim, browse, chat.
    pub capacity: [u32; 5],
    pub ticket_idle_ttl_ms: u64,
    pub admitted_ttl_ms: u64,
    /// A promoted ticket's reservation keeps others out only this long; then it stays good for
    /// its holder but no longer counts against the limit (at most `admitted_ttl_ms`).
    pub reservation_grace_ms: u64,
    pub ticket_ttl_ms: u64,
    pub long_poll_ms: u64,
    /// A state-changing request whose turn is due within this long waits for it in the gateway
    /// instead of getting a ticket (0: always a ticket).
    pub line_wait_ms: u64,
}

impl Default for ServeConfig {
    fn default() -> ServeConfig {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data: PathBuf::from("lantern-data"),
            backups_dir: None,
            backups_kept: 10,
            expected_orders: 0,
            limits: Limits::default(),
            admission: Admission::default(),
            waiting_room: WaitingRoom::default(),
            chat: Chat::default(),
            web: Web::default(),
            acp: Acp::default(),
            store: None,
            cluster: Cluster::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        let gateway = GatewayConfig::default_for_serve();
        Limits {
            body_bytes_max: gateway.body_bytes_max,
            request_deadline_ms: gateway.request_deadline_ms,
            sse_keepalive_ms: gateway.sse_keepalive_ms,
            sse_lifetime_ms: gateway.sse_lifetime_ms,
            keys_in_flight_max: gateway.keys_in_flight_max,
        }
    }
}

impl Default for Admission {
    fn default() -> Admission {
        let admission = AdmissionConfig::default_for_gateway();
        Admission {
            enabled: true,
            initial_limit: admission.limiter.initial_limit,
            min_limit: admission.limiter.min_limit,
            max_limit: admission.limiter.max_limit,
            target_latency_ms: admission.limiter.target_latency_us / 1_000,
            slot_time_target_ms: admission.limiter.slot_time_target_us / 1_000,
            class_share_permille: admission.class_share_permille,
            shopper_per_second: admission.shopper_bucket.per_second,
            shopper_burst: admission.shopper_bucket.burst,
            ip_per_second: admission.ip_bucket.per_second,
            ip_burst: admission.ip_bucket.burst,
        }
    }
}

impl Default for WaitingRoom {
    fn default() -> WaitingRoom {
        let admission = AdmissionConfig::default_for_gateway();
        let gateway = GatewayConfig::default_for_serve();
        WaitingRoom {
            capacity: admission.waiting_room_capacity,
            ticket_idle_ttl_ms: admission.ticket_idle_ttl_ms,
            admitted_ttl_ms: admission.admitted_ttl_ms,
            reservation_grace_ms: admission.reservation_grace_ms,
            ticket_ttl_ms: gateway.ticket_ttl_ms,
            long_poll_ms: gateway.long_poll_ms,
            line_wait_ms: gateway.line_wait_ms,
        }
    }
}

impl ServeConfig {
    /// Reads `file` (if given), applies the environment's overrides and checks every value. A
    /// value of the wrong type is named by its key and where it was set: the file's line, or
    /// the environment variable.
    pub fn load(
        file: Option<&Path>,
        environment: impl Iterator<Item = (String, String)>,
    ) -> anyhow::Result<ServeConfig> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
                // The file on its own first: toml's error then shows the line and the key.
                if let Err(error) = toml::from_str::<ServeConfig>(&text) {
                    bail!(
                        "the configuration file {} is invalid: {}",
                        path.display(),
                        error.to_string().trim()
                    );
                }
                text.parse::<toml::Table>()
                    .with_context(|| format!("{} is not valid TOML", path.display()))?
            }
            None => toml::Table::new(),
        };
        // Each override's key path and the variable that set it, the last one last.
        let mut overrides: Vec<(Vec<String>, String)> = Vec::new();
        for (name, value) in environment {
            let Some(key) = name.strip_prefix(ENV_PREFIX) else { continue };
            // Variables of other tools that share the prefix are not ours.
            if matches!(
                key,
                "LOG" | "SECRET" | "WEBHOOK_SECRET" | "ACP_REQUEST_SECRET" | "BENCH_WORKERS" | "KILL_SEED"
            ) {
                continue;
            }
            let path: Vec<String> = key.split("__").map(str::to_lowercase).collect();
            set_path(&mut table, &path, &value)
                .with_context(|| format!("in the environment variable {name}"))?;
            // The variable's name only: a value may hold a password (a store's URL).
            overrides.push((path, name));
        }
        let config: ServeConfig =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|error| {
                let message = error.inner().message().trim().to_owned();
                let key = error_key(error.path());
                if key.is_empty() {
                    return anyhow::anyhow!("the configuration is invalid: {message}");
                }
                // The file was valid on its own, so an override made this value.
                let set_by = overrides
                    .iter()
                    .rev()
                    .find(|(path, _)| path.starts_with(&key) || key.starts_with(path))
                    .map(|(_, variable)| format!(", set by {variable}"))
                    .unwrap_or_default();
                anyhow::anyhow!("the configuration is invalid: {}{set_by}: {message}", key.join("."))
            })?;
        config.gateway()?;
        Ok(config)
    }

    /// The configuration as a TOML file that gives it (`lantern serve --print-config`): every
    /// key, with a header saying where the values came from.
    pub fn to_toml(&self) -> anyhow::Result<String> {
        let body = toml::to_string(self).context("writing the configuration as TOML")?;
        Ok(format!(
            "# lantern serve's configuration: the defaults, then the --config file, then the\n\
             # LANTERN_<SECTION>__<KEY> environment variables, then the command line. Save it as a\n\
             # file to start from (every key is optional; remove the ones you keep at their default).\n\n{body}"
        ))
    }

    /// The gateway's settings, checked.
    pub fn gateway(&self) -> anyhow::Result<GatewayConfig> {
        let admission = AdmissionConfig {
            limiter: lantern_admission::LimiterConfig {
                initial_limit: self.admission.initial_limit,
                min_limit: self.admission.min_limit,
                max_limit: self.admission.max_limit,
                target_latency_us: self.admission.target_latency_ms.saturating_mul(1_000),
                backoff_permille: AdmissionConfig::default_for_gateway().limiter.backoff_permille,
                slot_time_target_us: self.admission.slot_time_target_ms.saturating_mul(1_000),
            },
            class_share_permille: self.admission.class_share_permille,
            waiting_room_capacity: self.waiting_room.capacity,
            ticket_idle_ttl_ms: self.waiting_room.ticket_idle_ttl_ms,
            admitted_ttl_ms: self.waiting_room.admitted_ttl_ms,
            reservation_grace_ms: self.waiting_room.reservation_grace_ms,
            shopper_bucket: BucketConfig {
                burst: self.admission.shopper_burst,
                per_second: self.admission.shopper_per_second,
            },
            ip_bucket: BucketConfig {
                burst: self.admission.ip_burst,
                per_second: self.admission.ip_per_second,
            },
            bucket_keys_max: AdmissionConfig::default_for_gateway().bucket_keys_max,
        };
        let gateway = GatewayConfig {
            admission,
            admission_enabled: self.admission.enabled,
            body_bytes_max: self.limits.body_bytes_max,
            request_deadline_ms: self.limits.request_deadline_ms,
            long_poll_ms: self.waiting_room.long_poll_ms,
            sse_keepalive_ms: self.limits.sse_keepalive_ms,
            sse_lifetime_ms: self.limits.sse_lifetime_ms,
            ticket_ttl_ms: self.waiting_room.ticket_ttl_ms,
            keys_in_flight_max: self.limits.keys_in_flight_max,
            line_wait_ms: self.waiting_room.line_wait_ms,
            agent: self.chat.agent.clone(),
            llm: self.chat.llm.clone(),
            chat_sessions_max: self.chat.sessions_max,
            chat_session_idle_ms: self.chat.session_idle_ms,
            guest_tokens: self.web.guest_tokens,
            acp: self.acp.gateway()?,
            shards: self.cluster.shard_map(),
            backups: Some(lantern_gateway::backups::BackupPlace {
                directory: self.backups_dir.clone().unwrap_or_else(|| self.data.join(BACKUPS_DIR_NAME)),
                carry: vec![self.data.join(crate::serve::SECRET_FILE_NAME)],
                kept: self.backups_kept,
            }),
            expected_orders: self.expected_orders,
        };
        gateway.validate().map_err(|problem| anyhow::anyhow!("the configuration is invalid: {problem}"))?;
        if self.cluster.lease_ttl_ms < 1_000 {
            bail!("the configuration is invalid: cluster.lease_ttl_ms must be at least 1000");
        }
        if let Some(budget_store) = &self.cluster.budget_store {
            if !is_postgres_url(budget_store) {
                bail!(
                    "the configuration is invalid: cluster.budget_store must be a postgres://USER@HOST:PORT/DATABASE URL"
                );
            }
            if self.store.as_deref().is_some_and(is_postgres_url) {
                bail!(
                    "the configuration is invalid: cluster.budget_store is for a node whose journal stays in SQLite; \
                     with store = \"postgres://...\" the leases are already in that PostgreSQL, so remove one of them"
                );
            }
        }
        if self.expected_orders > lantern_ledger::EXPECTED_ENTRIES_MAX {
            bail!(
                "the configuration is invalid: expected_orders must be at most {}",
                lantern_ledger::EXPECTED_ENTRIES_MAX
            );
        }
        Ok(gateway)
    }
}

/// The key a deserialization error is about, as a list of names (an array's item by its index).
/// An unknown field's path ends with the field.
fn error_key(path: &serde_path_to_error::Path) -> Vec<String> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Map { key } => Some(key.clone()),
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .collect()
}

fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Sets `path` in `table` to `value`, read as TOML when it parses (numbers, booleans, arrays)
/// and as a string otherwise.
fn set_path(table: &mut toml::Table, path: &[String], value: &str) -> anyhow::Result<()> {
    let (last, parents) = path.split_last().context("empty key")?;
    let mut current = table;
    for part in parents {
        let entry = current.entry(part.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry.as_table_mut().with_context(|| format!("{part} is not a section"))?;
    }
    let parsed = format!("value = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut table| table.remove("value"))
        .unwrap_or_else(|| toml::Value::String(value.to_owned()));
    current.insert(last.clone(), parsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>().into_iter()
    }

    #[test]
    fn defaults_are_valid_and_the_environment_overrides_them() {
        let config = ServeConfig::load(None, env(&[])).expect("defaults");
        assert_eq!(config.listen.port(), 8080);
        let config = ServeConfig::load(
            None,
            env(&[
                ("LANTERN_LISTEN", "0.0.0.0:9000"),
                ("LANTERN_ADMISSION__MAX_LIMIT", "2048"),
                ("LANTERN_LOG", "debug"),
            ]),
        )
        .expect("overridden");
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.admission.max_limit, 2048);
    }

    #[test]
    fn acp_links_are_checked_and_kept_in_kind_order() {
        let config = ServeConfig::load(
            None,
            env(&[
                ("LANTERN_ACP__LINKS__TERMS_OF_USE", "https://shop.example/terms"),
                ("LANTERN_ACP__LINKS__PRIVACY_POLICY", "https://shop.example/privacy"),
            ]),
        )
        .expect("valid links");
        let links = config.gateway().expect("valid").acp.links;
        let expected = [
            lantern_gateway::AcpLink::new("privacy_policy", "https://shop.example/privacy").expect("valid"),
            lantern_gateway::AcpLink::new("terms_of_use", "https://shop.example/terms").expect("valid"),
        ];
        assert_eq!(links, expected);
        for (variable, value, says) in [
            (
                "LANTERN_ACP__LINKS__TERMS",
                "https://shop.example/terms",
                "acp.links.terms: \"terms\" is not a kind of link",
            ),
            (
                "LANTERN_ACP__LINKS__FAQ",
                "shop.example/faq",
                "acp.links.faq: \"shop.example/faq\" is not an absolute http(s) URL",
            ),
            ("LANTERN_ACP__LINKS__SUPPORT", "https:///support", "acp.links.support"),
        ] {
            let error = ServeConfig::load(None, env(&[(variable, value)])).expect_err(variable).to_string();
            assert!(error.contains(says), "{variable}: {error}");
        }
    }

    #[test]
    fn backups_go_inside_the_data_directory_unless_told_otherwise() {
        let place = |vars: &[(&str, &str)]| {
            let config = ServeConfig::load(None, env(vars)).expect("valid");
            config.gateway().expect("valid").backups.expect("a data directory has backups")
        };
        let inside = place(&[("LANTERN_DATA", "/srv/lantern")]);
        assert_eq!(inside.directory, PathBuf::from("/srv/lantern/backups"));
        assert_eq!(inside.carry, [PathBuf::from("/srv/lantern/secret")]);
        assert_eq!(inside.kept, 10);
        let elsewhere = place(&[
            ("LANTERN_DATA", "/srv/lantern"),
            ("LANTERN_BACKUPS_DIR", "/mnt/vault"),
            ("LANTERN_BACKUPS_KEPT", "0"),
        ]);
        assert_eq!(elsewhere.directory, PathBuf::from("/mnt/vault"));
        assert_eq!(elsewhere.kept, 0);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let error =
            ServeConfig::load(None, env(&[("LANTERN_ADMISSION__MAX_LIMITS", "5")])).expect_err("typo");
        assert!(format!("{error:#}").contains("max_limits"), "{error:#}");
        let error =
            ServeConfig::load(None, env(&[("LANTERN_LIMITS__BODY_BYTES_MAX", "10")])).expect_err("too small");
        assert!(format!("{error:#}").contains("body_bytes_max"), "{error:#}");
        let error = ServeConfig::load(None, env(&[("LANTERN_ADMISSION__SLOT_TIME_TARGET_MS", "100000")]))
            .expect_err("past a minute");
        assert!(format!("{error:#}").contains("slot_time_target"), "{error:#}");
        let config =
            ServeConfig::load(None, env(&[("LANTERN_ADMISSION__SLOT_TIME_TARGET_MS", "0")])).expect("off");
        assert_eq!(config.gateway().expect("valid").admission.limiter.slot_time_target_us, 0);
        let error =
            ServeConfig::load(None, env(&[("LANTERN_LISTEN", "not an address")])).expect_err("address");
        assert!(format!("{error:#}").contains("invalid"), "{error:#}");
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_key_and_the_variable_that_set_it() {
        let cases = [
            ("LANTERN_ADMISSION__MAX_LIMIT", "abc", "admission.max_limit", "expected u32"),
            ("LANTERN_ADMISSION__ENABLED", "yes", "admission.enabled", "expected a boolean"),
            ("LANTERN_ADMISSION__TYPO", "3", "admission.typo", "unknown field `typo`"),
            ("LANTERN_ADMISSION", "5", "admission", "expected struct Admission"),
            (
                "LANTERN_WAITING_ROOM__CAPACITY",
                "[1, 2, \"x\", 4, 5]",
                "waiting_room.capacity.2",
                "expected u32",
            ),
            ("LANTERN_LISTEN", "not an address", "listen", "socket address"),
            ("LANTERN_BACKUPS_KEPT", "-1", "backups_kept", "expected usize"),
        ];
        for (variable, value, key, why) in cases {
            let others = [("LANTERN_LIMITS__SSE_KEEPALIVE_MS", "15000"), (variable, value)];
            let error = ServeConfig::load(None, env(&others)).expect_err(variable).to_string();
            let set_by = format!("{key}, set by {variable}: ");
            assert!(error.contains(&set_by), "{variable}: {error}");
            assert!(error.contains(why), "{variable}: {error}");
        }
    }

    /// Loads `text` as a configuration file (written to a folder of its own, then removed);
    /// also the file's path, as an error would show it.
    fn load_file(name: &str, text: &str) -> (anyhow::Result<ServeConfig>, String) {
        let dir = std::env::temp_dir().join(format!("lantern-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("lantern.toml");
        std::fs::write(&file, text).unwrap();
        let loaded = ServeConfig::load(Some(&file), env(&[]));
        std::fs::remove_dir_all(&dir).unwrap();
        (loaded, file.display().to_string())
    }

    #[test]
    fn a_bad_file_is_named_with_the_line_and_the_key() {
        let text = "listen = \"127.0.0.1:9000\"\n\n[admission]\nmax_limit = \"lots\"\n";
        let (loaded, file) = load_file("bad", text);
        let error = loaded.expect_err("a string for a number").to_string();
        assert!(error.contains(&file), "{error}");
        assert!(error.contains("line 4"), "{error}");
        assert!(error.contains("max_limit = \"lots\""), "{error}");
        assert!(error.contains("expected u32"), "{error}");
    }

    use proptest::prelude::*;

    #[test]
    fn the_printed_configuration_loads_back_as_itself() {
        let config = ServeConfig::load(
            None,
            env(&[
                ("LANTERN_ADMISSION__MAX_LIMIT", "777"),
                ("LANTERN_WAITING_ROOM__CAPACITY", "[9, 8, 7, 6, 5]"),
                ("LANTERN_ACP__LINKS__FAQ", "https://shop.example/faq"),
                ("LANTERN_CHAT__LLM__MODEL", "qwen3:8b"),
                ("LANTERN_CHAT__LLM__BASE_URL", "http://127.0.0.1:11434/v1"),
            ]),
        )
        .expect("valid");
        let printed = config.to_toml().expect("printable");
        assert!(printed.contains("max_limit = 777"), "{printed}");
        assert!(printed.contains("[chat.llm]"), "{printed}");
        let again = load_file("printed", &printed).0.expect("the printed file loads");
        assert_eq!(again.to_toml().unwrap(), printed);
        assert_eq!(again.admission.max_limit, 777);
        assert_eq!(again.waiting_room.capacity, [9, 8, 7, 6, 5]);
        // The defaults print too: a file to start from.
        let defaults = ServeConfig::default().to_toml().unwrap();
        for section in ["[limits]", "[admission]", "[waiting_room]", "[chat.agent]", "[acp]", "[cluster]"] {
            assert!(defaults.contains(section), "{section} missing from {defaults}");
        }
    }

    /// Keys the gateway reads, and a few it does not, for the fuzz test's overrides.
    const FUZZ_KEYS: [&str; 12] = [
        "LISTEN",
        "BACKUPS_KEPT",
        "EXPECTED_ORDERS",
        "ADMISSION",
        "ADMISSION__MAX_LIMIT",
        "ADMISSION__MIN_LIMIT",
        "ADMISSION__CLASS_SHARE_PERMILLE",
        "WAITING_ROOM__CAPACITY",
        "LIMITS__BODY_BYTES_MAX",
        "CHAT__AGENT",
        "CLUSTER__BUDGET_STORE",
        "NO_SUCH__KEY",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the environment says, the start either gets a configuration or refuses with
        /// a message naming the key (or the variable) it refused, and never panics.
        #[test]
        fn any_override_is_taken_or_refused_by_name(
            overrides in proptest::collection::vec(
                (
                    proptest::sample::select(FUZZ_KEYS.to_vec()),
                    proptest::prop_oneof![
                        proptest::num::i64::ANY.prop_map(|n| n.to_string()),
                        (0u32..5_000).prop_map(|n| n.to_string()),
                        proptest::num::f64::ANY.prop_map(|n| n.to_string()),
                        proptest::bool::ANY.prop_map(|b| b.to_string()),
                        "[a-z0-9 .:/\\[\\]{}=\",-]{0,24}",
                        proptest::collection::vec(0u32..2_000, 0..7).prop_map(|v| format!("{v:?}")),
                    ],
                ),
                1..4,
            )
        ) {
            let pairs: Vec<(String, String)> =
                overrides.iter().map(|(key, value)| (format!("LANTERN_{key}"), value.clone())).collect();
            if let Err(error) = ServeConfig::load(None, pairs.clone().into_iter()) {
                let error = format!("{error:#}").to_lowercase();
                let named = pairs.iter().any(|(variable, _)| {
                    let key = variable.trim_start_matches("LANTERN_").to_lowercase();
                    error.contains(&variable.to_lowercase())
                        || key.split("__").any(|part| error.contains(part))
                });
                prop_assert!(named, "{pairs:?}: {error}");
            }
        }
    }

    #[test]
    fn a_budget_store_is_a_postgres_url_for_a_node_with_a_local_journal() {
        let config = ServeConfig::load(
            None,
            env(&[("LANTERN_CLUSTER__BUDGET_STORE", "postgres://lantern@db:5432/lantern")]),
        )
        .expect("SQLite journal, leases in PostgreSQL");
        assert_eq!(config.cluster.budget_store.as_deref(), Some("postgres://lantern@db:5432/lantern"));
        let error = ServeConfig::load(None, env(&[("LANTERN_CLUSTER__BUDGET_STORE", "/srv/budget")]))
            .expect_err("not a URL");
        assert!(format!("{error:#}").contains("cluster.budget_store"), "{error:#}");
        let error = ServeConfig::load(
            None,
            env(&[
                ("LANTERN_STORE", "postgres://lantern@db:5432/lantern"),
                ("LANTERN_CLUSTER__BUDGET_STORE", "postgres://lantern@db:5432/lantern"),
            ]),
        )
        .expect_err("both");
        assert!(format!("{error:#}").contains("remove one of them"), "{error:#}");
    }
}
