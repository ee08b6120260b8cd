//! The constants of the format: header layout and every tag byte.
//!
//! A tag is never reused or renumbered within a format version: journals written years ago must
//! still decode to the same commands.

/// The version of the format [`encode_batch`](crate::encode_batch) writes and the newest
/// [`decode_batch`](crate::decode_batch) reads. Version 2 added an order's channel (a byte after
/// the idempotency key of `place_order` and `coupon_order`); version 3 a merchant's location
/// (after its capacity in `register_merchant`: a presence byte, then latitude and longitude in
/// micro-degrees as zigzag varints); version 4 the command `settle_webhooks` (tag 18, a varint);
/// version 5 a merchant's address (after its location: a presence byte, then line one, city,
/// state, country and postal code as strings). Older batches still decode: their orders placed
/// through the API, their merchants without a location or address.
pub const FORMAT_VERSION: u8 = 5;

/// The oldest version [`decode_batch`](crate::decode_batch) still reads.
pub(crate) const OLDEST_FORMAT_VERSION: u8 = 1;

/// The first version whose orders carry their channel.
pub(crate) const CHANNEL_FORMAT_VERSION: u8 = 2;

/// The first version whose merchants carry their location.
pub(crate) const LOCATION_FORMAT_VERSION: u8 = 3;

/// The first version whose merchants carry their address.
pub(crate) const ADDRESS_FORMAT_VERSION: u8 = 5;

/// The first bytes of every batch ("Lantern Typed Journal Batch"), so a body that is not a
/// journal batch at all is told apart from a damaged one.
pub const BATCH_MAGIC: [u8; 4] = *b"LTJB";

/// Magic, version byte and the fixed-width command count.
pub const BATCH_HEADER_BYTES: usize = BATCH_MAGIC.len() + 1 + COMMAND_COUNT_BYTES;

/// The command count is a fixed-width little-endian u32, so the encoder can patch it in after
/// writing the commands of an iterator it cannot count in advance.
pub(crate) const COMMAND_COUNT_BYTES: usize = 4;

/// Where the count sits in the header.
pub(crate) const COMMAND_COUNT_OFFSET: usize = BATCH_MAGIC.len() + 1;

/// The longest LEB128 encoding of a u64.
pub(crate) const VARINT_BYTES_MAX: usize = 10;

/// How many elements a decoder reserves room for up front. The real length is checked against
/// the bytes left before this; beyond it the vector grows as elements actually decode, so a
/// forged length cannot make the decoder reserve more memory than the data backs.
pub(crate) const PREALLOCATED_ELEMENTS_MAX: usize = 1024;

/// Command tags.
pub(crate) mod command_tag {
    pub const CREATE_CAMPAIGN: u8 = 1;
    pub const EDIT_CAMPAIGN: u8 = 2;
    pub const PUBLISH_CATALOG: u8 = 3;
    pub const REGISTER_MERCHANT: u8 = 4;
    pub const SET_MERCHANT_STATUS: u8 = 5;
    pub const SET_MERCHANT_CAPACITY: u8 = 6;
    pub const CLAIM_COUPON: u8 = 7;
    pub const QUOTE: u8 = 8;
    pub const PLACE_ORDER: u8 = 9;
    pub const CANCEL_ORDER: u8 = 10;
    pub const ADVANCE_ORDER: u8 = 11;
    pub const TICK: u8 = 12;
    pub const REQUOTE: u8 = 13;
    pub const CANCEL_QUOTE: u8 = 14;
    /// Wraps one command that is not itself keyed.
    pub const KEYED: u8 = 15;
    pub const COUPON_ORDER: u8 = 16;
    pub const DRAW_ALL_FROM_LEASES: u8 = 17;
    /// Since version 4.
    pub const SETTLE_WEBHOOKS: u8 = 18;
}

pub(crate) mod edit_tag {
    pub const SET_ENDS_AT: u8 = 0;
    pub const SET_PACE: u8 = 1;
    pub const TOP_UP: u8 = 2;
    pub const PAUSE: u8 = 3;
    pub const RESUME: u8 = 4;
    pub const DRAW_FROM_LEASES: u8 = 5;
    pub const LEASE_IN: u8 = 6;
    pub const LEASE_OUT: u8 = 7;
}

pub(crate) mod template_tag {
    pub const AMOUNT_OFF: u8 = 0;
    pub const PERCENT_OFF: u8 = 1;
    pub const FREE_ITEM: u8 = 2;
}

pub(crate) mod pace_tag {
    pub const UNLIMITED: u8 = 0;
    pub const PER_SECOND: u8 = 1;
    pub const WAVES: u8 = 2;
}

pub(crate) mod coupon_choice_tag {
    pub const BEST: u8 = 0;
    pub const CAMPAIGN: u8 = 1;
    pub const NONE: u8 = 2;
}

pub(crate) mod merchant_status_tag {
    pub const OPEN: u8 = 0;
    pub const BUSY: u8 = 1;
    pub const PAUSED: u8 = 2;
}

pub(crate) mod order_channel_tag {
    pub const API: u8 = 0;
    pub const CHAT: u8 = 1;
    pub const ACP: u8 = 2;
}

pub(crate) mod order_event_tag {
    pub const ACCEPT: u8 = 0;
    pub const REJECT: u8 = 1;
    pub const READY: u8 = 2;
    pub const DISPATCH: u8 = 3;
    pub const DELIVER: u8 = 4;
    pub const CANCEL: u8 = 5;
}

pub(crate) mod option_kind_tag {
    pub const SIZE: u8 = 0;
    pub const SUGAR: u8 = 1;
    pub const ICE: u8 = 2;
    pub const TOPPING: u8 = 3;
    pub const OTHER: u8 = 4;
}

/// The byte before an `Option`'s value.
pub(crate) mod presence {
    pub const ABSENT: u8 = 0;
    pub const PRESENT: u8 = 1;
}

/// The fewest bytes one encoded element of each vector can take, used to refuse a length the
/// remaining bytes cannot possibly hold before anything is allocated for it.
pub(crate) mod min_encoded_bytes {
    /// A varint id (1 byte at least).
    pub const ID: usize = 1;
    /// A string: its length varint.
    pub const STRING: usize = 1;
    /// item id, quantity, option count.
    pub const CART_LINE: usize = 3;
    /// starts_at, coupons.
    pub const WAVE: usize = 2;
    /// id, name, category, price, group count.
    pub const ITEM: usize = 5;
    /// kind, name, choice count, min, max, default presence.
    pub const OPTION_GROUP: usize = 6;
    /// id, name, price delta.
    pub const ITEM_OPTION: usize = 3;
    /// A tag byte.
    pub const COMMAND: usize = 1;
}
