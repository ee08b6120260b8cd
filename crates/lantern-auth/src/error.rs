//! Why a secret, token or ticket was refused, with stable machine codes.

use lantern_core::Timestamp;

use crate::SECRET_BYTES_MIN;

/// A refused secret, token or ticket. Token and ticket errors share their variants and codes:
/// the caller knows which of the two it was verifying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(
        "the signing secret is {length_bytes} bytes, fewer than the {SECRET_BYTES_MIN} needed; \
         make a random one with `head -c 32 /dev/urandom | base64` and configure its decoded bytes"
    )]
    SecretTooShort { length_bytes: usize },

    #[error(
        "the token or ticket is malformed: {reason}; sign in again (or rejoin the waiting room) for a new one"
    )]
    Malformed { reason: &'static str },

    #[error(
        "the token or ticket's signature does not match: it was altered or signed with another secret; \
         sign in again (or rejoin the waiting room) for a new one"
    )]
    BadSignature,

    #[error(
        "the token or ticket expired at {expired_at}; sign in again (or rejoin the waiting room) for a new one"
    )]
    Expired { expired_at: Timestamp },

    #[error(
        "the token or ticket is not valid yet (issued in the future): check that this server's clock is right"
    )]
    NotYetValid,

    #[error(
        "a waiting-room ticket was presented as a bearer token, or a token as a ticket; \
         send the token in `Authorization: Bearer` and the ticket where the waiting room asks for it"
    )]
    WrongKind,
}

impl AuthError {
    /// A stable, machine-readable code for API responses and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::SecretTooShort { .. } => "auth_secret_too_short",
            AuthError::Malformed { .. } => "token_malformed",
            AuthError::BadSignature => "token_bad_signature",
            AuthError::Expired { .. } => "token_expired",
            AuthError::NotYetValid => "token_not_yet_valid",
            AuthError::WrongKind => "token_wrong_kind",
        }
    }
}
