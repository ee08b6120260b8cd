//! [`Session`]: what one conversation remembers between messages, and the cart rules.

use lantern_core::pricing::LINE_QUANTITY_MAX;
use lantern_core::{MerchantId, OrderId, QuoteId};
use lantern_nlu::{Awaiting, CartLine, Context, ItemRef, Language, OptionRemoval};
use sha2::{Digest, Sha256};

use crate::shop::{Alternative, QuoteInfo, Waiting};

/// One conversation's state: the cart, the quote waiting for the shopper's yes, what was last
/// shown, the address and the question the agent asked last. The caller keeps it between
/// messages (in memory, keyed by the chat session) and passes it to every
/// [`Agent::turn`](crate::Agent::turn) of that conversation; a turn takes it by `&mut`, so two
/// messages of one conversation are never handled at once.
#[derive(Default, Debug, Clone)]
pub struct Session {
    /// The caller's id for the conversation; placement idempotency keys derive from it.
    id: String,
    /// Cart lines, all of one shop (`merchant`), equal lines merged.
    pub(crate) cart: Vec<CartLine>,
    /// The shop the conversation is at: the cart's, else the last one ordered from or moved to.
    pub(crate) merchant: Option<MerchantId>,
    /// The quote shown to the shopper, for exactly the cart it priced.
    pub(crate) pending: Option<PendingQuote>,
    /// Items last shown as numbered choices or results, first is "that one".
    pub(crate) last_items: Vec<ItemRef>,
    /// The lines of the last placed order, for "the same again".
    pub(crate) last_order: Vec<CartLine>,
    pub(crate) address: Option<String>,
    /// What the last answer asked, for reading a short reply ("yes", "2").
    pub(crate) awaiting: Option<Awaiting>,
    /// What a "yes", "no" or number answers, beyond what the understanding needs to know.
    pub(crate) question: Option<Question>,
    pub(crate) language: Option<Language>,
    pub(crate) turns: u64,
    pub(crate) orders_placed: u64,
}

/// A quote shown to the shopper and the cart it priced: the only thing a "yes" can place.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingQuote {
    pub quote: QuoteInfo,
    pub cart: Vec<CartLine>,
    /// Set when placing it put the shopper in the waiting room.
    pub waiting: Option<Waiting>,
}

/// What the agent asked, for the answers the understanding alone cannot route.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Question {
    /// Lines from another shop arrived: start a new cart there?
    SwitchShop { merchant: MerchantId, lines: Vec<CartLine> },
    /// Numbered candidates for an ambiguous phrase. The message that had it is kept, so the
    /// pick can be read again with its quantity, size and options.
    PickItem { utterance: String, phrase: String },
    /// Numbered search or browse results.
    PickResult,
    /// Numbered cart lines, to take one off.
    PickRemoval,
    /// The shop is busy or paused: numbered faster shops with the same menu.
    Alternatives(Vec<Alternative>),
    /// The planner asked to cancel this placed order; only the shopper's yes does it.
    CancelOrder(OrderId),
}

/// Why a line could not go in the cart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CartFull;

impl Session {
    /// A new conversation. `id` is the caller's stable id for it (a chat session id): the
    /// idempotency key of every order placed from it derives from `id` and the quote, so a
    /// repeated "yes" can never place twice.
    pub fn new(id: &str) -> Session {
        Session { id: id.to_string(), ..Session::default() }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The cart lines, as the fast path understood them (all from one shop).
    pub fn cart(&self) -> &[CartLine] {
        &self.cart
    }

    /// The shop the conversation is at.
    pub fn merchant(&self) -> Option<MerchantId> {
        self.merchant
    }

    /// The quote waiting for the shopper's confirmation, if any.
    pub fn pending_quote(&self) -> Option<&QuoteInfo> {
        self.pending.as_ref().map(|pending| &pending.quote)
    }

    pub fn address(&self) -> Option<&str> {
        self.address.as_deref()
    }

    pub fn awaiting(&self) -> Option<Awaiting> {
        self.awaiting
    }

    /// The language of the shopper's last message.
    pub fn language(&self) -> Option<Language> {
        self.language
    }

    pub fn turns(&self) -> u64 {
        self.turns
    }

    pub fn orders_placed(&self) -> u64 {
        self.orders_placed
    }

    /// What the understanding needs to know about the conversation.
    pub(crate) fn context(&self) -> Context {
        let last_order = if self.last_order.is_empty() { self.cart.clone() } else { self.last_order.clone() };
        Context {
            merchant: self.merchant,
            last_items: self.last_items.clone(),
            last_order,
            awaiting: self.awaiting,
        }
    }

    pub(crate) fn cart_merchant(&self) -> Option<MerchantId> {
        self.cart.first().map(|line| line.merchant)
    }

    /// The idempotency key for placing `quote` from this conversation: the same conversation
    /// and quote always give the same key (so a repeated or retried "yes" answers the same
    /// order), and it is printable ASCII of a fixed length whatever the caller's id is.
    pub(crate) fn placement_key(&self, quote: QuoteId) -> String {
        let digest = Sha256::digest(self.id.as_bytes());
        let hex: String = digest.iter().take(12).map(|byte| format!("{byte:02x}")).collect();
        format!("chat-{hex}-{quote}")
    }
}

/// A cart line in the form the cart keeps: options sorted, notes the shop cannot take dropped,
/// quantity within the engine's limit.
pub(crate) fn stored_line(line: &CartLine) -> CartLine {
    let mut options_added = line.options_added.clone();
    options_added.sort_unstable();
    options_added.dedup();
    let mut options_removed: Vec<OptionRemoval> = line
        .options_removed
        .iter()
        .filter(|removal| matches!(removal, OptionRemoval::Choice(_)))
        .cloned()
        .collect();
    options_removed.sort_by_key(|removal| match removal {
        OptionRemoval::Choice(option) => option.get(),
        OptionRemoval::Text(_) => u32::MAX,
    });
    options_removed.dedup();
    CartLine {
        merchant: line.merchant,
        item: line.item,
        quantity: line.quantity.clamp(1, u32::from(LINE_QUANTITY_MAX)),
        size: line.size,
        options_added,
        options_removed,
        options_unknown: Vec::new(),
        from_reference: false,
    }
}

fn same_choice(a: &CartLine, b: &CartLine) -> bool {
    a.merchant == b.merchant
        && a.item == b.item
        && a.size == b.size
        && a.options_added == b.options_added
        && a.options_removed == b.options_removed
}

/// Adds a line, merging it into an equal one (same item, size and options); refuses a new line
/// beyond `lines_max`. A merged quantity stops at the engine's per-line limit.
pub(crate) fn merge_line(cart: &mut Vec<CartLine>, line: CartLine, lines_max: usize) -> Result<(), CartFull> {
    let line = stored_line(&line);
    if let Some(existing) = cart.iter_mut().find(|existing| same_choice(existing, &line)) {
        existing.quantity = existing.quantity.saturating_add(line.quantity).min(u32::from(LINE_QUANTITY_MAX));
        return Ok(());
    }
    if cart.len() >= lines_max {
        return Err(CartFull);
    }
    cart.push(line);
    Ok(())
}

/// The cart as the engine prices it: the chosen size and options (the engine fills in the
/// defaults), less the choices the shopper declined.
pub(crate) fn pricing_lines(cart: &[CartLine]) -> Vec<lantern_core::pricing::CartLine> {
    cart.iter()
        .map(|line| {
            let declined = |option: &lantern_core::OptionId| {
                line.options_removed.contains(&OptionRemoval::Choice(*option))
            };
            let mut options: Vec<lantern_core::OptionId> = line
                .size
                .into_iter()
                .chain(line.options_added.iter().copied())
                .filter(|o| !declined(o))
                .collect();
            options.sort_unstable();
            options.dedup();
            lantern_core::pricing::CartLine {
                item: line.item,
                quantity: u16::try_from(line.quantity.min(u32::from(LINE_QUANTITY_MAX)))
                    .unwrap_or(LINE_QUANTITY_MAX),
                options,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use lantern_core::{ItemId, OptionId};

    use super::*;

    fn line(item: u64, quantity: u32, options: &[u32]) -> CartLine {
        CartLine {
            merchant: MerchantId::new(1),
            item: ItemId::new(item),
            quantity,
            size: None,
            options_added: options.iter().map(|&option| OptionId::new(option)).collect(),
            options_removed: vec![OptionRemoval::Text("no onions".into())],
            options_unknown: vec!["caramel".into()],
            from_reference: true,
        }
    }

    #[test]
    fn equal_lines_merge_and_the_line_limit_holds() {
        let mut cart = Vec::new();
        merge_line(&mut cart, line(1, 2, &[5, 3]), 2).unwrap();
        merge_line(&mut cart, line(1, 1, &[3, 5]), 2).unwrap();
        assert_eq!(cart.len(), 1);
        assert_eq!(cart[0].quantity, 3);
        assert!(cart[0].options_removed.is_empty() && cart[0].options_unknown.is_empty());
        merge_line(&mut cart, line(1, 1, &[3]), 2).unwrap();
        assert_eq!(merge_line(&mut cart, line(2, 1, &[]), 2), Err(CartFull));
        merge_line(&mut cart, line(1, 99, &[3]), 2).unwrap();
        assert_eq!(cart[1].quantity, u32::from(LINE_QUANTITY_MAX));
    }

    #[test]
    fn placement_keys_are_stable_printable_and_per_quote() {
        let session = Session::new("web:会话/42 with spaces");
        let key = session.placement_key(QuoteId::new(7));
        assert_eq!(key, session.clone().placement_key(QuoteId::new(7)));
        assert_ne!(key, session.placement_key(QuoteId::new(8)));
        assert_ne!(key, Session::new("other").placement_key(QuoteId::new(7)));
        assert!(lantern_core::IdempotencyKey::new(key.clone()).is_ok(), "{key}");
    }

    #[test]
    fn declined_choices_are_not_priced() {
        let mut declined = line(1, 1, &[11, 12]);
        declined.size = Some(OptionId::new(2));
        declined.options_removed = vec![OptionRemoval::Choice(OptionId::new(12))];
        let priced = pricing_lines(&[stored_line(&declined)]);
        assert_eq!(priced[0].options, vec![OptionId::new(2), OptionId::new(11)]);
    }
}
