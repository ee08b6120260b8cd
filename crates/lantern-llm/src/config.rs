//! [`LlmConfig`]: where the model is and every bound on calling it.

use serde::{Deserialize, Serialize};

/// Most calls in flight at once that a configuration may ask for. A model server serves a few
/// dozen streams well; more only queue inside it, where our deadline cannot see them.
pub const CONCURRENCY_LIMIT_MAX: u32 = 1024;

/// Largest tokens-per-minute budget a configuration may ask for (a billion): far above any
/// single endpoint, low enough that the budget's arithmetic cannot overflow.
pub const TOKENS_PER_MINUTE_LIMIT_MAX: u64 = 1_000_000_000;

/// Shortest deadline accepted, in milliseconds. Tests use tens of milliseconds; nothing useful
/// comes back from a model faster than this.
pub const DEADLINE_MS_MIN: u64 = 10;

/// Longest deadline accepted, in milliseconds (two minutes). The planner serves a shopper who
/// is waiting; past this the fast path must answer instead.
pub const DEADLINE_MS_MAX: u64 = 120_000;

/// Most model-and-tools rounds one utterance may take.
pub const TOOL_STEPS_LIMIT_MAX: u32 = 16;

/// Largest `max_tokens` one call may ask the model for.
pub const MAX_TOKENS_PER_CALL_LIMIT: u32 = 32_768;

/// Largest number of consecutive failures the breaker may be told to tolerate.
pub const BREAKER_FAILURES_LIMIT_MAX: u32 = 1_000;

/// Longest time the breaker may stay open, in milliseconds (ten minutes).
pub const BREAKER_OPEN_MS_MAX: u64 = 600_000;

/// Highest sampling temperature accepted, in thousandths (2.0, the OpenAI maximum).
pub const TEMPERATURE_MILLI_MAX: u32 = 2_000;

/// Longest model name accepted, in bytes.
pub const MODEL_NAME_BYTES_MAX: usize = 200;

/// Longest base URL accepted, in bytes.
pub const BASE_URL_BYTES_MAX: usize = 2_048;

/// Longest environment-variable name accepted for the API key, in bytes.
pub const API_KEY_ENV_BYTES_MAX: usize = 128;

/// The LLM planner's configuration: where the OpenAI-compatible endpoint is and every bound on
/// calling it. Deserializable (unknown fields are refused, missing ones take the [`Default`]), so
/// it can be a section of the server's TOML file; call [`LlmConfig::validate`] before use
/// ([`LlmClient::new`](crate::LlmClient::new) does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// The endpoint's base URL, up to and including the API version, without the
    /// `/chat/completions` suffix: `http://127.0.0.1:8000/v1` (vLLM), `http://127.0.0.1:11434/v1`
    /// (Ollama), `http://127.0.0.1:8080/v1` (llama.cpp server), or a hosted endpoint over TLS:
    /// `https://dashscope.aliyuncs.com/compatible-mode/v1` (Qwen's OpenAI-compatible mode).
    pub base_url: String,
    /// A PEM file of extra root certificates to trust for an `https://` endpoint, besides the
    /// platform's (a private CA in front of a self-hosted model); empty for none.
    pub ca_cert_file: String,
    /// The model name sent in every request (`qwen2.5-7b-instruct`, `qwen3:8b`, ...).
    pub model: String,
    /// Name of the environment variable holding the API key (its *name*, never the key). The
    /// caller reads it and passes the key to [`LlmClient::new`](crate::LlmClient::new); empty
    /// means the endpoint needs no key (typical for a local vLLM or Ollama).
    pub api_key_env: String,
    /// Most calls in flight at once. A call that finds no free slot is refused at once
    /// ([`LlmError::Saturated`](crate::LlmError::Saturated)) instead of queueing: a shopper
    /// waiting behind the model is worse off than one answered by the fast path.
    pub concurrency_max: u32,
    /// Tokens (prompt plus completion) the planner may spend per minute, as a token bucket
    /// refilled continuously; must cover at least one call of `max_tokens_per_call`.
    pub tokens_per_minute_max: u64,
    /// Deadline for one call, from sending the request to the last streamed byte.
    pub deadline_ms: u64,
    /// Most model-and-tools rounds for one utterance. Enforced by the caller's tool loop; kept
    /// here so that all of the planner's bounds live in one validated place.
    pub tool_steps_max: u32,
    /// `max_tokens` sent with every call: the most the model may write in one answer.
    pub max_tokens_per_call: u32,
    /// Consecutive failed calls after which the circuit breaker opens.
    pub breaker_failures_threshold: u32,
    /// How long the breaker stays open before it lets one probe call through, in milliseconds.
    pub breaker_open_ms: u64,
    /// Sampling temperature in thousandths (`200` is 0.2); `None` leaves the server's default.
    /// Integers keep floats out of configuration; the conversion happens when the request is
    /// written.
    pub temperature_milli: Option<u32>,
}

impl Default for LlmConfig {
    /// A local vLLM serving Qwen on its default port, with bounds sized for a planner that is
    /// only asked when the fast path is unsure: 8 calls at once, 200,000 tokens a minute, 8 s per
    /// call, 4 tool rounds, 512 tokens per answer, breaker open for 10 s after 5 failures in a row.
    fn default() -> Self {
        LlmConfig {
            base_url: "http://127.0.0.1:8000/v1".to_string(),
            ca_cert_file: String::new(),
            model: "qwen2.5-7b-instruct".to_string(),
            api_key_env: "LANTERN_LLM_API_KEY".to_string(),
            concurrency_max: 8,
            tokens_per_minute_max: 200_000,
            deadline_ms: 8_000,
            tool_steps_max: 4,
            max_tokens_per_call: 512,
            breaker_failures_threshold: 5,
            breaker_open_ms: 10_000,
            temperature_milli: Some(200),
        }
    }
}

/// A configuration value that cannot work, with the field at fault and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A field's value is not acceptable.
    #[error("llm.{field}: {problem}")]
    Invalid {
        /// The field's name as written in the configuration.
        field: &'static str,
        /// What is wrong and what would be accepted.
        problem: String,
    },
    /// The HTTP client could not be built (a platform problem, not a configuration value).
    #[error("could not build the HTTP client for the model endpoint: {detail}")]
    HttpClient {
        /// The underlying error.
        detail: String,
    },
}

fn invalid(field: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { field, problem: problem.into() }
}

fn check_range<T: PartialOrd + std::fmt::Display>(
    field: &'static str,
    value: T,
    min: T,
    max: T,
) -> Result<(), ConfigError> {
    if value < min || value > max {
        return Err(invalid(field, format!("{value} is out of range; write a value from {min} to {max}")));
    }
    Ok(())
}

impl LlmConfig {
    /// Checks every field, giving the first problem found with the field's name and the accepted
    /// values.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_base_url()?;
        if self.model.trim().is_empty() {
            return Err(invalid("model", "is empty; write the model name the endpoint serves"));
        }
        if self.model.len() > MODEL_NAME_BYTES_MAX {
            return Err(invalid("model", format!("is longer than {MODEL_NAME_BYTES_MAX} bytes")));
        }
        self.validate_api_key_env()?;
        check_range("concurrency_max", self.concurrency_max, 1, CONCURRENCY_LIMIT_MAX)?;
        check_range("max_tokens_per_call", self.max_tokens_per_call, 1, MAX_TOKENS_PER_CALL_LIMIT)?;
        check_range(
            "tokens_per_minute_max",
            self.tokens_per_minute_max,
            u64::from(self.max_tokens_per_call),
            TOKENS_PER_MINUTE_LIMIT_MAX,
        )
        .map_err(|_| {
            invalid(
                "tokens_per_minute_max",
                format!(
                    "{} must be at least max_tokens_per_call ({}), or no call could ever fit, and at most {}",
                    self.tokens_per_minute_max, self.max_tokens_per_call, TOKENS_PER_MINUTE_LIMIT_MAX
                ),
            )
        })?;
        check_range("deadline_ms", self.deadline_ms, DEADLINE_MS_MIN, DEADLINE_MS_MAX)?;
        check_range("tool_steps_max", self.tool_steps_max, 1, TOOL_STEPS_LIMIT_MAX)?;
        check_range(
            "breaker_failures_threshold",
            self.breaker_failures_threshold,
            1,
            BREAKER_FAILURES_LIMIT_MAX,
        )?;
        check_range("breaker_open_ms", self.breaker_open_ms, 1, BREAKER_OPEN_MS_MAX)?;
        if let Some(temperature) = self.temperature_milli {
            check_range("temperature_milli", temperature, 0, TEMPERATURE_MILLI_MAX)?;
        }
        Ok(())
    }

    fn validate_base_url(&self) -> Result<(), ConfigError> {
        let url = self.base_url.as_str();
        if url.len() > BASE_URL_BYTES_MAX {
            return Err(invalid("base_url", format!("is longer than {BASE_URL_BYTES_MAX} bytes")));
        }
        let Some(rest) = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")) else {
            return Err(invalid(
                "base_url",
                format!("{url:?} is not an http:// or https:// URL; write e.g. http://127.0.0.1:8000/v1"),
            ));
        };
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() {
            return Err(invalid(
                "base_url",
                format!("{url:?} has no host; write e.g. http://127.0.0.1:8000/v1"),
            ));
        }
        if !self.ca_cert_file.is_empty() && !url.starts_with("https://") {
            return Err(invalid(
                "ca_cert_file",
                "is set but base_url is plain http://, which uses no certificates; write https:// or leave it empty",
            ));
        }
        if url.contains(['?', '#']) || url.chars().any(char::is_whitespace) {
            return Err(invalid(
                "base_url",
                format!("{url:?} has a query, fragment or space; write only scheme, host, port and path"),
            ));
        }
        if url.trim_end_matches('/').ends_with("/chat/completions") {
            return Err(invalid(
                "base_url",
                "ends with /chat/completions; write the base only (e.g. http://127.0.0.1:8000/v1), \
                 the client adds /chat/completions",
            ));
        }
        Ok(())
    }

    fn validate_api_key_env(&self) -> Result<(), ConfigError> {
        let name = self.api_key_env.as_str();
        if name.is_empty() {
            return Ok(());
        }
        let well_formed = name.len() <= API_KEY_ENV_BYTES_MAX
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !name.as_bytes()[0].is_ascii_digit();
        if !well_formed {
            return Err(invalid(
                "api_key_env",
                format!(
                    "{name:?} is not an environment-variable name; write the variable's name (letters, \
                     digits, _), never the key itself, or leave it empty when the endpoint needs no key"
                ),
            ));
        }
        Ok(())
    }

    /// The URL every call is posted to: the base URL plus `/chat/completions`.
    pub fn chat_completions_url(&self) -> String {
        format!("{}/chat/completions", self.base_url.trim_end_matches('/'))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn field_of(error: ConfigError) -> &'static str {
        match error {
            ConfigError::Invalid { field, .. } => field,
            ConfigError::HttpClient { .. } => "",
        }
    }

    #[test]
    fn the_default_is_valid() {
        assert_eq!(LlmConfig::default().validate(), Ok(()));
    }

    #[test]
    fn a_hosted_https_endpoint_is_valid() {
        let config = LlmConfig {
            base_url: "https://dashscope.aliyuncs.com/compatible-mode/v1".into(),
            ..Default::default()
        };
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases: Vec<(&str, LlmConfig)> = vec![
            (
                "base_url",
                LlmConfig { base_url: "ftp://dashscope.aliyuncs.com/v1".into(), ..Default::default() },
            ),
            ("base_url", LlmConfig { base_url: "https:///v1".into(), ..Default::default() }),
            ("base_url", LlmConfig { base_url: "127.0.0.1:8000".into(), ..Default::default() }),
            ("base_url", LlmConfig { base_url: "http:///v1".into(), ..Default::default() }),
            ("base_url", LlmConfig { base_url: "http://h/v1/chat/completions".into(), ..Default::default() }),
            ("base_url", LlmConfig { base_url: "http://h/v1?x=1".into(), ..Default::default() }),
            ("model", LlmConfig { model: " ".into(), ..Default::default() }),
            ("ca_cert_file", LlmConfig { ca_cert_file: "/etc/ca.pem".into(), ..Default::default() }),
            ("api_key_env", LlmConfig { api_key_env: "sk-123".into(), ..Default::default() }),
            ("api_key_env", LlmConfig { api_key_env: "1KEY".into(), ..Default::default() }),
            ("concurrency_max", LlmConfig { concurrency_max: 0, ..Default::default() }),
            ("tokens_per_minute_max", LlmConfig { tokens_per_minute_max: 100, ..Default::default() }),
            ("deadline_ms", LlmConfig { deadline_ms: 0, ..Default::default() }),
            ("deadline_ms", LlmConfig { deadline_ms: DEADLINE_MS_MAX + 1, ..Default::default() }),
            ("tool_steps_max", LlmConfig { tool_steps_max: 0, ..Default::default() }),
            ("max_tokens_per_call", LlmConfig { max_tokens_per_call: 0, ..Default::default() }),
            ("breaker_failures_threshold", LlmConfig { breaker_failures_threshold: 0, ..Default::default() }),
            ("breaker_open_ms", LlmConfig { breaker_open_ms: 0, ..Default::default() }),
            ("temperature_milli", LlmConfig { temperature_milli: Some(2_001), ..Default::default() }),
        ];
        for (field, config) in cases {
            let error = config.validate().expect_err(field);
            assert!(error.to_string().starts_with(&format!("llm.{field}:")), "{error}");
            assert_eq!(field_of(error), field);
        }
    }

    #[test]
    fn an_empty_key_variable_means_no_key() {
        let config = LlmConfig { api_key_env: String::new(), ..Default::default() };
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn the_endpoint_is_the_base_plus_chat_completions() {
        let config = LlmConfig { base_url: "http://127.0.0.1:11434/v1/".into(), ..Default::default() };
        assert_eq!(config.chat_completions_url(), "http://127.0.0.1:11434/v1/chat/completions");
    }

    #[test]
    fn it_reads_from_a_partial_document() {
        let config: LlmConfig =
            serde_json::from_str(r#"{"model":"qwen3:8b","deadline_ms":3000}"#).unwrap_or_default();
        assert_eq!(config.model, "qwen3:8b");
        assert_eq!(config.deadline_ms, 3000);
        assert_eq!(config.concurrency_max, LlmConfig::default().concurrency_max);
        assert!(serde_json::from_str::<LlmConfig>(r#"{"modle":"x"}"#).is_err());
    }
}
