//! Issuing and verifying tokens and tickets, and reading the bearer header.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use lantern_core::Timestamp;
use sha2::Sha256;

use crate::payload::{decode_claims, decode_ticket, encode_claims, encode_ticket};
use crate::{AuthError, CLOCK_SKEW_MS_MAX, CREDENTIAL_BYTES_MAX, Claims, SECRET_BYTES_MIN, SignedTicket};

type HmacSha256 = Hmac<Sha256>;

const MAC_BYTES: usize = 32;

/// The two kinds of credential, each with its own prefix and key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Token,
    Ticket,
}

impl Kind {
    const fn prefix(self) -> &'static str {
        match self {
            Kind::Token => "lt1.",
            Kind::Ticket => "lw1.",
        }
    }

    const fn other(self) -> Kind {
        match self {
            Kind::Token => Kind::Ticket,
            Kind::Ticket => Kind::Token,
        }
    }

    /// The label the purpose key is derived under; changing it invalidates every credential.
    const fn key_label(self) -> &'static [u8] {
        match self {
            Kind::Token => b"lantern-auth/v1/bearer-token",
            Kind::Ticket => b"lantern-auth/v1/waiting-room-ticket",
        }
    }
}

/// Issues and verifies tokens and tickets. Holds HMAC keys derived from the operator's secret,
/// one per purpose, each keyed once here so issuing and verifying only clone it.
#[derive(Clone)]
pub struct Signer {
    token_mac: HmacSha256,
    ticket_mac: HmacSha256,
}

impl fmt::Debug for Signer {
    /// Never prints key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for `secret`, which must be at least [`SECRET_BYTES_MIN`] random bytes. Every node
    /// that verifies what another issued needs the same secret.
    pub fn new(secret: &[u8]) -> Result<Signer, AuthError> {
        if secret.len() < SECRET_BYTES_MIN {
            return Err(AuthError::SecretTooShort { length_bytes: secret.len() });
        }
        Ok(Signer {
            token_mac: purpose_mac(secret, Kind::Token)?,
            ticket_mac: purpose_mac(secret, Kind::Ticket)?,
        })
    }

    /// A bearer token for `claims`: `lt1.<payload>.<mac>`.
    pub fn issue_token(&self, claims: &Claims) -> String {
        self.sign(Kind::Token, &encode_claims(claims))
    }

    /// The claims of a token this signer's secret issued, if it is intact and valid at `now`.
    pub fn verify_token(&self, token: &str, now: Timestamp) -> Result<Claims, AuthError> {
        let payload = self.open(Kind::Token, token)?;
        let claims = decode_claims(&payload)?;
        check_window(claims.issued_at, claims.expires_at, now)?;
        Ok(claims)
    }

    /// A waiting-room ticket: `lw1.<payload>.<mac>`.
    pub fn issue_ticket(&self, ticket: &SignedTicket) -> String {
        self.sign(Kind::Ticket, &encode_ticket(ticket))
    }

    /// The ticket this signer's secret issued, if it is intact and valid at `now`.
    pub fn verify_ticket(&self, ticket: &str, now: Timestamp) -> Result<SignedTicket, AuthError> {
        let payload = self.open(Kind::Ticket, ticket)?;
        let ticket = decode_ticket(&payload)?;
        check_window(ticket.issued_at, ticket.expires_at, now)?;
        Ok(ticket)
    }

    fn mac(&self, kind: Kind) -> HmacSha256 {
        match kind {
            Kind::Token => self.token_mac.clone(),
            Kind::Ticket => self.ticket_mac.clone(),
        }
    }

    fn sign(&self, kind: Kind, payload: &[u8]) -> String {
        let mut credential = String::with_capacity(CREDENTIAL_BYTES_MAX / 4);
        credential.push_str(kind.prefix());
        URL_SAFE_NO_PAD.encode_string(payload, &mut credential);
        let mut mac = self.mac(kind);
        mac.update(credential.as_bytes());
        let tag = mac.finalize().into_bytes();
        credential.push('.');
        URL_SAFE_NO_PAD.encode_string(tag, &mut credential);
        credential
    }

    /// Checks the length, prefix and MAC of `credential` and returns its payload bytes, still to
    /// be decoded. Nothing but the length and the prefix is read before the MAC is checked.
    fn open(&self, kind: Kind, credential: &str) -> Result<Vec<u8>, AuthError> {
        if credential.len() > CREDENTIAL_BYTES_MAX {
            return Err(AuthError::Malformed { reason: "it is longer than 512 bytes" });
        }
        let Some(rest) = credential.strip_prefix(kind.prefix()) else {
            if credential.starts_with(kind.other().prefix()) {
                return Err(AuthError::WrongKind);
            }
            return Err(AuthError::Malformed {
                reason: match kind {
                    Kind::Token => "a token starts with `lt1.`",
                    Kind::Ticket => "a ticket starts with `lw1.`",
                },
            });
        };
        let Some((payload_text, tag_text)) = rest.split_once('.') else {
            return Err(AuthError::Malformed { reason: "it lacks the `.` before its signature" });
        };
        let tag = URL_SAFE_NO_PAD
            .decode(tag_text)
            .map_err(|_| AuthError::Malformed { reason: "its signature is not unpadded base64url" })?;
        if tag.len() != MAC_BYTES {
            return Err(AuthError::Malformed { reason: "its signature is not 32 bytes" });
        }
        let signed_len = kind.prefix().len() + payload_text.len();
        let mut mac = self.mac(kind);
        mac.update(credential.as_bytes().get(..signed_len).unwrap_or_default());
        // `verify_slice` compares in constant time, so the comparison leaks nothing about the tag.
        mac.verify_slice(&tag).map_err(|_| AuthError::BadSignature)?;
        URL_SAFE_NO_PAD
            .decode(payload_text)
            .map_err(|_| AuthError::Malformed { reason: "its payload is not unpadded base64url" })
    }
}

/// The HMAC keyed with `kind`'s key: HMAC-SHA256(secret, label). Separate keys mean a MAC made
/// for one purpose is worthless for the other, whatever the payloads look like.
fn purpose_mac(secret: &[u8], kind: Kind) -> Result<HmacSha256, AuthError> {
    // HMAC takes keys of any length, so these errors cannot happen; they are mapped, not unwrapped.
    let too_short = |_| AuthError::SecretTooShort { length_bytes: secret.len() };
    let mut derive = HmacSha256::new_from_slice(secret).map_err(too_short)?;
    derive.update(kind.key_label());
    let key = derive.finalize().into_bytes();
    HmacSha256::new_from_slice(&key).map_err(too_short)
}

fn check_window(issued_at: Timestamp, expires_at: Timestamp, now: Timestamp) -> Result<(), AuthError> {
    if now >= expires_at {
        return Err(AuthError::Expired { expired_at: expires_at });
    }
    if issued_at > now.plus_ms(CLOCK_SKEW_MS_MAX) {
        return Err(AuthError::NotYetValid);
    }
    Ok(())
}

/// The token in an `Authorization` header value: `Bearer <token>`, the scheme in any case, with
/// surrounding whitespace ignored.
pub fn parse_bearer(header_value: &str) -> Result<&str, AuthError> {
    const NOT_BEARER: AuthError =
        AuthError::Malformed { reason: "the Authorization header must be `Bearer <token>`" };
    let (scheme, token) = header_value.trim().split_once([' ', '\t']).ok_or(NOT_BEARER)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(NOT_BEARER);
    }
    let token = token.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(NOT_BEARER);
    }
    if token.len() > CREDENTIAL_BYTES_MAX {
        return Err(AuthError::Malformed { reason: "it is longer than 512 bytes" });
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use lantern_core::ShopperId;

    use super::*;
    use crate::Role;
    use crate::payload::PAYLOAD_BYTES_MAX;

    fn signer() -> Signer {
        Signer::new(&[7; 32]).unwrap_or_else(|error| panic!("{error}"))
    }

    fn claims() -> Claims {
        Claims {
            role: Role::Shopper(ShopperId::new(42)),
            issued_at: Timestamp::from_ms(1_000),
            expires_at: Timestamp::from_ms(2_000),
        }
    }

    #[test]
    fn only_the_canonical_payload_is_accepted_even_when_signed() {
        let signer = signer();
        let canonical = encode_claims(&claims());
        let at = Timestamp::from_ms(1_500);
        assert_eq!(signer.verify_token(&signer.sign(Kind::Token, &canonical), at), Ok(claims()));

        let mut trailing = canonical.clone();
        trailing.push(0);
        let mut unknown_role = canonical.clone();
        unknown_role[0] = 9;
        let mut operator_with_id = canonical.clone();
        operator_with_id[0] = 3;
        for bad in [&trailing[..], &canonical[..canonical.len() - 1], &unknown_role, &operator_with_id, &[]] {
            let token = signer.sign(Kind::Token, bad);
            assert!(
                matches!(signer.verify_token(&token, at), Err(AuthError::Malformed { .. })),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn tickets_with_unknown_classes_or_flags_are_malformed() {
        let signer = signer();
        let ticket = SignedTicket {
            shopper: None,
            class: 4,
            seq: 1,
            issued_at: Timestamp::from_ms(1_000),
            expires_at: Timestamp::from_ms(2_000),
        };
        let mut bad_class = encode_ticket(&ticket);
        bad_class[1] = 5;
        let mut bad_flag = encode_ticket(&ticket);
        bad_flag[0] = 2;
        for bad in [bad_class, bad_flag] {
            let text = signer.sign(Kind::Ticket, &bad);
            assert!(matches!(
                signer.verify_ticket(&text, Timestamp::from_ms(1_500)),
                Err(AuthError::Malformed { .. })
            ));
        }
        let with_shopper = SignedTicket { shopper: Some(ShopperId::new(u64::MAX)), ..ticket };
        assert_eq!(encode_ticket(&with_shopper).len(), PAYLOAD_BYTES_MAX);
    }

    #[test]
    fn non_canonical_base64_is_refused() {
        // 25 payload bytes end in a base64 group whose last character carries 4 unused bits; any
        // other value of those bits decodes to the same bytes and must not be accepted.
        let signer = signer();
        let token = signer.issue_token(&claims());
        let (head, tag) = token.rsplit_once('.').unwrap_or_default();
        let last = head.chars().last().unwrap_or_default();
        let sibling = if last == 'A' { 'B' } else { 'A' };
        let mut altered_head = head[..head.len() - 1].to_owned();
        altered_head.push(sibling);
        let resigned = {
            let mut mac = signer.mac(Kind::Token);
            mac.update(altered_head.as_bytes());
            format!("{altered_head}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
        };
        assert_ne!(resigned, token);
        assert!(!tag.is_empty());
        assert!(matches!(
            signer.verify_token(&resigned, Timestamp::from_ms(1_500)),
            Err(AuthError::Malformed { .. })
        ));
    }
}
