//! [`AgentEvent`]: what one turn sends to the shopper's screen, in the order it happens.

use lantern_nlu::ItemRef;
use serde::Serialize;

use crate::shop::{Alternative, CouponInfo, Found, OrderInfo, QuoteInfo, Waiting};

/// One thing a turn shows. Serialized with a `type` tag (`{"type": "quote", "quote": {...}}`) for
/// the SSE stream; money is integer fen in fields ending `_fen`.
///
/// Every turn ends with at least one `Text`, which always carries the whole answer in words
/// (numbered choices included), so a plain-text client can ignore the other events; they are
/// there for cards and buttons. `Choices.question` repeats the question already in the text.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentEvent {
    Text {
        text: String,
    },
    Results {
        items: Vec<Found>,
    },
    Cart {
        lines: Vec<CartLineView>,
        merchant_name: Option<String>,
    },
    /// A priced cart; the agent asks to confirm it in the text that follows.
    Quote {
        quote: QuoteInfo,
    },
    OrderPlaced {
        order: OrderInfo,
    },
    OrderStatus {
        order: OrderInfo,
    },
    Coupons {
        coupons: Vec<CouponInfo>,
    },
    /// The shopper is in the waiting room.
    Queued {
        waiting: Waiting,
    },
    /// The shop is at capacity: its honest wait, and shops that can make the order sooner.
    Busy {
        merchant_name: String,
        eta_ms: u64,
        alternatives: Vec<Alternative>,
    },
    /// Numbered answers to a question; the shopper may answer with the number.
    Choices {
        question: String,
        choices: Vec<String>,
    },
}

/// A cart line for display. Prices are not shown until the cart is quoted: only a quote's
/// figures are the engine's.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct CartLineView {
    pub item: ItemRef,
    pub name: String,
    pub quantity: u32,
    /// Names of the options chosen (not the defaults the engine fills in).
    pub options: Vec<String>,
}
