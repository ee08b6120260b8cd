//! Lantern's fast path for understanding what a shopper types, in English or Chinese, without a
//! language model: [`understand`] turns one message into an [`Understanding`] (an [`Intent`],
//! cart lines resolved against the merchants' menus, a coupon code, an order reference or an
//! address) in well under a millisecond, so the agent answers most turns without calling a
//! model and stays up when the model is saturated or down.
//!
//! # How it works
//!
//! 1. **Normalise** ([`normalise`]): case, full-width characters, Chinese punctuation, common
//!    traditional characters, a short typo list, Chinese numerals that are quantities (`两杯`
//!    becomes `2杯`). Menu names go through the same function, so matching is exact string
//!    matching afterwards.
//! 2. **Scan**: two Aho-Corasick automata run over the normalised text once each: the built-in
//!    vocabulary (intent cues, numbers, sizes, option concepts such as "no ice" / 去冰 / 少糖,
//!    references, food words) and the [`Lexicon`] (every item name, alias and name part, option
//!    choice name and merchant name of the menus it holds). Overlapping matches are reduced to
//!    the longest ones, with word boundaries for Latin text and none for Chinese.
//! 3. **Read the cart**: quantities, sizes and options attach to the nearest item ("two large
//!    lattes and a blueberry muffin", "珍珠奶茶两杯，少糖去冰"); lines split at "and", commas,
//!    和, 还有, 再来, and 加 when a quantity or item follows it (before an option, 加 means
//!    "add this topping"). Options are resolved against the item's own choices by name and by
//!    concept ("without ice" finds the choice "去冰 No ice"); what the menu cannot express is
//!    kept as text ([`OptionRemoval::Text`], [`CartLine::options_unknown`]). References ("the
//!    same again", "that one", "the second one", 再来一杯一样的) use the [`Context`].
//! 4. **Decide the intent** from the cues and what was found (see `intent.rs` for the order of
//!    the rules), with a confidence the agent uses to decide whether to ask a model or a short
//!    question ([`Understanding::unsure`]).
//!
//! # Cost
//!
//! One call is linear in the message (bounded by [`UTTERANCE_CHARS_MAX`]) plus the candidates of
//! the phrases found (bounded by [`CANDIDATES_MAX`]); it never scans the menus. On a
//! 10,000-item menu a release build reads a turn in about 3 µs at the median and 9 µs at the
//! 99th percentile on one core (`tests/perf.rs`, ignored; the benchmark is the yardstick). The
//! lexicon's automaton is rebuilt lazily, once, on the first call after the menus change: that
//! costs time linear in all names held (about 0.3 s for 10,000 bilingual items with their
//! options), so load menus in bulk and call [`Lexicon::prepare`] before serving.
//!
//! # Trust
//!
//! Only names, aliases and option names are matched; item descriptions (merchant free text)
//! are never read, so nothing a merchant writes can steer the agent. Every input is bounded:
//! [`UTTERANCE_CHARS_MAX`], [`LINES_MAX`], [`CANDIDATES_MAX`], [`AMBIGUITIES_MAX`],
//! [`MATCHES_MAX`], [`ADDRESS_CHARS_MAX`], [`COUPON_CODE_CHARS_MAX`], [`NOTE_CHARS_MAX`];
//! beyond them input is ignored, never a panic.
//!
//! The [`eval`] module measures all this against public data sets and [`orders`] against a
//! set of our own orders with their expected carts.
//!
//! Pure: no I/O, no async, no clock.

mod intent;
mod lexicon;
mod normalise;
mod reader;
mod scan;
mod ser;
mod vocab;

pub mod eval;
pub mod orders;

use lantern_core::{ItemId, MerchantId, OptionId, OrderId};
use serde::Serialize;

pub use lexicon::Lexicon;
pub use normalise::normalise;
pub use reader::understand;

/// Characters of a message that are read; the rest is ignored.
pub const UTTERANCE_CHARS_MAX: usize = 1_000;
/// Most cart lines one message yields; further items are ignored (and lower the confidence).
pub const LINES_MAX: usize = 20;
/// Most candidates listed for one ambiguous phrase.
pub const CANDIDATES_MAX: usize = 5;
/// Most ambiguities reported for one message.
pub const AMBIGUITIES_MAX: usize = 8;
/// Most raw automaton matches examined for one message (a pathological message cannot make a
/// call slow).
pub const MATCHES_MAX: usize = 4_096;
/// Longest address taken from a message, in characters.
pub const ADDRESS_CHARS_MAX: usize = 200;
/// Longest coupon code taken from a message, in characters.
pub const COUPON_CODE_CHARS_MAX: usize = 32;
/// Longest free-text option ("no onions") or item mention kept, in characters.
pub const NOTE_CHARS_MAX: usize = 60;
/// Largest quantity on one line; a larger number is lowered to it and reported in
/// [`Understanding::unsure`]. Same as the ledger's limit.
pub const QUANTITY_MAX: u32 = lantern_core::pricing::LINE_QUANTITY_MAX as u32;

/// What the shopper wants done.
///
/// `Checkout` ("check out", "that's all", 结账) asks for a quote; `Confirm` ("place the order",
/// "confirm", 确认下单) asks to place the quoted order. They are two intents so that a shopper who
/// says "checkout" is always shown the quote first; the agent places an order only on `Confirm`
/// or `Yes` while it awaits a confirmation ([`Awaiting::Confirmation`]), and treats `Confirm`
/// without a quote as `Checkout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Order or add items ("two lattes", "来一杯珍珠奶茶", "the same again").
    Order,
    /// Take items off the cart ("remove the muffin", "不要蓝莓松饼了").
    Remove,
    ShowCart,
    /// "What coupons do I have?"
    ListCoupons,
    /// "Use coupon SPRING25", "用优惠券".
    UseCoupon,
    Checkout,
    Confirm,
    /// Cancel a placed order ("cancel my order", "cancel it", 取消订单); see [`Understanding::order_ref`].
    CancelOrder,
    OrderStatus,
    SetAddress,
    /// Look at menus or shops: "what do you have", "any good pizza near me", 推荐一家餐馆.
    Browse,
    Help,
    Yes,
    /// Also "stop", "cancel" and "never mind" on their own: drop what is going on.
    No,
    Greeting,
    Thanks,
    Goodbye,
    OutOfScope,
}

impl Intent {
    pub const ALL: [Intent; 18] = [
        Intent::Order,
        Intent::Remove,
        Intent::ShowCart,
        Intent::ListCoupons,
        Intent::UseCoupon,
        Intent::Checkout,
        Intent::Confirm,
        Intent::CancelOrder,
        Intent::OrderStatus,
        Intent::SetAddress,
        Intent::Browse,
        Intent::Help,
        Intent::Yes,
        Intent::No,
        Intent::Greeting,
        Intent::Thanks,
        Intent::Goodbye,
        Intent::OutOfScope,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Intent::Order => "order",
            Intent::Remove => "remove",
            Intent::ShowCart => "show_cart",
            Intent::ListCoupons => "list_coupons",
            Intent::UseCoupon => "use_coupon",
            Intent::Checkout => "checkout",
            Intent::Confirm => "confirm",
            Intent::CancelOrder => "cancel_order",
            Intent::OrderStatus => "order_status",
            Intent::SetAddress => "set_address",
            Intent::Browse => "browse",
            Intent::Help => "help",
            Intent::Yes => "yes",
            Intent::No => "no",
            Intent::Greeting => "greeting",
            Intent::Thanks => "thanks",
            Intent::Goodbye => "goodbye",
            Intent::OutOfScope => "out_of_scope",
        }
    }

    /// Whether the intent is about shopping (rather than conversation or out of scope).
    pub const fn is_commerce(self) -> bool {
        matches!(
            self,
            Intent::Order
                | Intent::Remove
                | Intent::ShowCart
                | Intent::ListCoupons
                | Intent::UseCoupon
                | Intent::Checkout
                | Intent::Confirm
                | Intent::CancelOrder
                | Intent::OrderStatus
                | Intent::SetAddress
                | Intent::Browse
        )
    }
}

/// The language the shopper wrote in: `Zh` when the message has Chinese characters and at least
/// as many of them as Latin words, else `En`. The agent answers in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    En,
    Zh,
}

/// One item of one merchant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ItemRef {
    #[serde(serialize_with = "ser::display")]
    pub merchant: MerchantId,
    #[serde(serialize_with = "ser::display")]
    pub item: ItemId,
}

/// What the agent asked last, which changes how a short answer reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Awaiting {
    /// A quote was shown and the agent asked to confirm it.
    Confirmation,
    /// The agent offered the first `n` of [`Context::last_items`] as numbered choices; a bare
    /// number or "the second one" picks one.
    Choice(u8),
    /// The agent asked for the delivery address: the whole message is the address unless it is
    /// clearly something else (cancel, no, help).
    Address,
}

/// What the conversation knows before this message.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Context {
    /// The shop the conversation is at; item names are looked up there first.
    pub merchant: Option<MerchantId>,
    /// Items last shown or ordered, most recent first: "that one" is the first, "the second
    /// one" the second.
    pub last_items: Vec<ItemRef>,
    /// The lines of the shopper's last order (or current cart), for "the same again" / "same as
    /// last time"; when empty, those phrases fall back to the first of `last_items`.
    pub last_order: Vec<CartLine>,
    pub awaiting: Option<Awaiting>,
}

/// One line the shopper asked for (or asked to remove, for [`Intent::Remove`]).
///
/// `options_added` holds every menu choice the shopper picked, including choices that are
/// themselves negative such as "去冰 No ice" or "无糖 No sugar": they are choices to select on the
/// line. `options_removed` holds what the shopper wants left off that is not a choice to
/// select: a positive choice they declined ("no pearls", when pearls are a choice: deselect
/// it) or text the menu has no choice for ("no onions").
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CartLine {
    #[serde(serialize_with = "ser::display")]
    pub merchant: MerchantId,
    #[serde(serialize_with = "ser::display")]
    pub item: ItemId,
    /// 1 when the shopper gave no number; at most [`QUANTITY_MAX`].
    pub quantity: u32,
    #[serde(serialize_with = "ser::display_option")]
    pub size: Option<OptionId>,
    #[serde(serialize_with = "ser::display_vec")]
    pub options_added: Vec<OptionId>,
    pub options_removed: Vec<OptionRemoval>,
    /// Options asked for that the item does not offer ("caramel drizzle" on a plain tea), so
    /// the agent can say so instead of silently dropping them.
    pub options_unknown: Vec<String>,
    /// The line comes from the context ("the same again", "that one"), not from a name.
    pub from_reference: bool,
}

/// Something the shopper wants left off; see [`CartLine`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OptionRemoval {
    Choice(#[serde(serialize_with = "ser::display")] OptionId),
    Text(String),
}

/// Which placed order a status question or a cancellation is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderRef {
    /// "my order", "cancel it": the shopper's most recent order.
    Last,
    Id(#[serde(serialize_with = "ser::display")] OrderId),
}

/// Something the fast path could not settle alone; the agent asks a short question.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Ambiguity {
    /// A phrase matched several items (or the same item at several shops).
    Item { phrase: String, candidates: Vec<ItemRef> },
    /// A size the item does not come in ("venti" on a two-size menu); `choices` are its sizes.
    Size {
        item: ItemRef,
        phrase: String,
        #[serde(serialize_with = "ser::display_vec")]
        choices: Vec<OptionId>,
    },
    /// More than [`QUANTITY_MAX`] asked on one line: the line holds the maximum.
    Quantity { asked: u64 },
    /// A shop name several shops share (outlets of a chain) and none is the context's.
    Merchant {
        phrase: String,
        #[serde(serialize_with = "ser::display_vec")]
        candidates: Vec<MerchantId>,
    },
    /// "That one" or "the same again" with nothing in the context to point at.
    Reference { phrase: String },
    /// More than [`LINES_MAX`] lines: the rest were dropped.
    TooManyLines,
}

/// An item phrase in the message: resolved to a menu item (`resolved`, the line is in
/// [`Understanding::lines`] or the candidates in [`Understanding::unsure`]) or not on any menu
/// the lexicon holds (`"cheese burger"` at a tea shop), so the agent can search or say so.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ItemMention {
    /// The phrase in normal form.
    pub text: String,
    pub resolved: bool,
}

/// Everything the fast path read from one message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Understanding {
    pub intent: Intent,
    /// For `Order`: what to add; for `Remove`: what to take off. Empty for other intents.
    pub lines: Vec<CartLine>,
    /// The shop named in the message, else the one every line is from, else the context's.
    #[serde(serialize_with = "ser::display_option")]
    pub merchant: Option<MerchantId>,
    /// The code for `UseCoupon`, as written (case kept).
    pub coupon_code: Option<String>,
    /// For `CancelOrder` and `OrderStatus`.
    pub order_ref: Option<OrderRef>,
    /// For `SetAddress`, as written; `None` when the shopper wants to set one but gave none.
    pub address: Option<String>,
    pub language: Language,
    pub unsure: Vec<Ambiguity>,
    /// Item phrases, matched or not, in the order written.
    pub mentions: Vec<ItemMention>,
    /// How sure the fast path is, 0 to 100: below about 60 the agent should ask a model (when
    /// one is available) or a clarifying question.
    pub confidence_pct: u8,
}
