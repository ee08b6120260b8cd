//! The canonical binary payloads of tokens and tickets (layout in the crate docs).
//!
//! Every field is fixed-width and the length follows from the leading tag byte, so decoding
//! accepts exactly the bytes [`encode_claims`] and [`encode_ticket`] produce.

use lantern_core::{MerchantId, ShopperId, Timestamp};

use crate::{ADMISSION_CLASSES, AuthError, Claims, Role, SignedTicket};

const ROLE_SHOPPER: u8 = 1;
const ROLE_MERCHANT: u8 = 2;
const ROLE_OPERATOR: u8 = 3;

const SHOPPER_ABSENT: u8 = 0;
const SHOPPER_PRESENT: u8 = 1;

/// Longest payload of either kind, in bytes (a ticket with a shopper).
pub(crate) const PAYLOAD_BYTES_MAX: usize = 1 + 8 + 1 + 8 + 8 + 8;

pub(crate) fn encode_claims(claims: &Claims) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(PAYLOAD_BYTES_MAX);
    match claims.role {
        Role::Shopper(shopper) => {
            bytes.push(ROLE_SHOPPER);
            bytes.extend_from_slice(&shopper.get().to_be_bytes());
        }
        Role::Merchant(merchant) => {
            bytes.push(ROLE_MERCHANT);
            bytes.extend_from_slice(&merchant.get().to_be_bytes());
        }
        Role::Operator => bytes.push(ROLE_OPERATOR),
    }
    bytes.extend_from_slice(&claims.issued_at.unix_ms().to_be_bytes());
    bytes.extend_from_slice(&claims.expires_at.unix_ms().to_be_bytes());
    bytes
}

pub(crate) fn decode_claims(bytes: &[u8]) -> Result<Claims, AuthError> {
    let mut reader = Reader { bytes };
    let role = match reader.u8()? {
        ROLE_SHOPPER => Role::Shopper(ShopperId::new(reader.u64()?)),
        ROLE_MERCHANT => Role::Merchant(MerchantId::new(reader.u64()?)),
        ROLE_OPERATOR => Role::Operator,
        _ => return Err(AuthError::Malformed { reason: "the token names an unknown role" }),
    };
    let issued_at = Timestamp::from_ms(reader.u64()?);
    let expires_at = Timestamp::from_ms(reader.u64()?);
    reader.finish()?;
    Ok(Claims { role, issued_at, expires_at })
}

pub(crate) fn encode_ticket(ticket: &SignedTicket) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(PAYLOAD_BYTES_MAX);
    match ticket.shopper {
        Some(shopper) => {
            bytes.push(SHOPPER_PRESENT);
            bytes.extend_from_slice(&shopper.get().to_be_bytes());
        }
        None => bytes.push(SHOPPER_ABSENT),
    }
    bytes.push(ticket.class);
    bytes.extend_from_slice(&ticket.seq.to_be_bytes());
    bytes.extend_from_slice(&ticket.issued_at.unix_ms().to_be_bytes());
    bytes.extend_from_slice(&ticket.expires_at.unix_ms().to_be_bytes());
    bytes
}

pub(crate) fn decode_ticket(bytes: &[u8]) -> Result<SignedTicket, AuthError> {
    let mut reader = Reader { bytes };
    let shopper = match reader.u8()? {
        SHOPPER_ABSENT => None,
        SHOPPER_PRESENT => Some(ShopperId::new(reader.u64()?)),
        _ => return Err(AuthError::Malformed { reason: "the ticket's shopper flag is neither 0 nor 1" }),
    };
    let class = reader.u8()?;
    if class >= ADMISSION_CLASSES {
        return Err(AuthError::Malformed { reason: "the ticket names an unknown admission class" });
    }
    let seq = reader.u64()?;
    let issued_at = Timestamp::from_ms(reader.u64()?);
    let expires_at = Timestamp::from_ms(reader.u64()?);
    reader.finish()?;
    Ok(SignedTicket { shopper, class, seq, issued_at, expires_at })
}

/// Reads fixed-width fields from the front of a payload; running short is `Malformed`.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn u8(&mut self) -> Result<u8, AuthError> {
        let (&first, rest) = self.bytes.split_first().ok_or(TRUNCATED)?;
        self.bytes = rest;
        Ok(first)
    }

    fn u64(&mut self) -> Result<u64, AuthError> {
        let (field, rest) = self.bytes.split_first_chunk::<8>().ok_or(TRUNCATED)?;
        self.bytes = rest;
        Ok(u64::from_be_bytes(*field))
    }

    fn finish(self) -> Result<(), AuthError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(AuthError::Malformed { reason: "the payload has bytes after its last field" })
        }
    }
}

const TRUNCATED: AuthError = AuthError::Malformed { reason: "the payload ends before its last field" };
