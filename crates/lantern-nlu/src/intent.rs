//! Deciding the intent from the cues found and what the cart reader made of the message.
//!
//! The rules are an ordered list (the first that applies wins), because the cues overlap and
//! a fixed order is easy to reason about and to test. "Other-domain words" are the vocabulary's
//! `Oos` cues (weather, flights, credit-card points, hotels) and `OosFood` cues (recipes,
//! cooking, calories, ingredients); "list words" are shopping lists and notes, which are not
//! the cart.
//!
//! 1. While the agent awaits an address, the message is the address (unless it says cancel,
//!    no, or asks for help).
//! 2. Address cues ("deliver to", 送到) not in a question: `SetAddress`.
//! 3. "Cancel my order" / "cancel it" / 取消订单: `CancelOrder` ("cancel" alone is rule 13).
//! 4. Coupon words (not credit-card points): `UseCoupon` with a use verb or a code, else
//!    `ListCoupons`.
//! 5. Status cues ("where is my order", "track", 到哪了), or "when / how long / arrive / ready"
//!    about an order, food, a dish or a shop, without a new request: `OrderStatus`.
//! 6. Cart words ("cart", 购物车) without an add or order verb: `ShowCart`.
//! 7. A remove cue with an object next to it ("remove the muffin", "remove it", "蓝莓松饼删掉"),
//!    or "no" / 不要 right before an item: `Remove`.
//! 8. Confirm cues ("place my order", 确认下单) with nothing to order: `Confirm`; checkout cues
//!    (unless "check out X and order"): `Checkout`; "that's all" is `Checkout` when the
//!    conversation has items, else `Goodbye`.
//! 9. A menu item named, unless it is a menu or shop question without a firm order verb ("do
//!    you have lattes?", "拿铁多少钱"), a recipe or nutrition question, or about a list: `Order`.
//!    Also a reference with an order verb, a choice awaited, or on its own ("I'll have that
//!    one", "the second one", "the same again"), and "another one" when the conversation has
//!    items.
//! 10. A firm "order" / "buy" (not a question without goods, not about another domain):
//!     `Order`, even of things no menu here has ("order me some lysol").
//! 11. Browsing: asking what to have or where ("recommend", "near me", 附近) with food or a shop
//!     around, or a menu or shop question ("menu", "do they deliver", 营业时间): `Browse`. An
//!     other-domain word does not stop it when a dish or shop is named. Then weaker orders: a
//!     request or want verb with a food word or a quantity ("get me a pizza", 我要两个), a bare
//!     dish of up to four words ("coffee"), weaker browsing cues ("best", "cheap") with food
//!     around, and "get me some food".
//! 12. `Help` (not "thanks for your help").
//! 13. Conversation: "repeat that" (`OutOfScope`: the agent repeats itself), goodbye, thanks
//!     (but "thanks, but that's wrong" and "no thanks" are `No`), "stop / cancel / never mind"
//!     (`No`), a firm no or a negated compliment ("not what I wanted"), greeting, yes (a
//!     compliment counts when it is not a request or a question), a short negated sentence.
//! 14. Everything else is `OutOfScope`, surer when an other-domain word is present.
//!
//! The confidence is fixed per rule (higher for explicit cues, lower for the weaker ones),
//! then lowered by the reader when something is ambiguous.

use crate::vocab::Cue;
use crate::{Awaiting, Context, Intent};

/// What the scan and the cart reader found, as the rules need it.
#[derive(Debug, Default, Clone)]
pub(crate) struct Features {
    /// For each cue, the byte offset of its first occurrence.
    first: CueTable,
    /// Menu items named (resolved or ambiguous).
    pub(crate) items: usize,
    /// Item phrases no menu knows ("pizza" at a tea shop).
    pub(crate) foods: usize,
    pub(crate) quantity: bool,
    /// "That one", "the same again", an ordinal, or a bare choice number.
    pub(crate) reference: bool,
    /// The reference is explicit ("that one", "the same again", "the second one"), not a bare
    /// "that".
    pub(crate) strong_reference: bool,
    /// "it" / "that" (for "remove it").
    pub(crate) pronoun: bool,
    /// "no" / 不要 right before an item.
    pub(crate) negated_item: bool,
    /// A 来 / 要 / 点 / 买 right before a quantity, size or item.
    pub(crate) zh_verb_before_goods: bool,
    /// A merchant's name.
    pub(crate) merchant: bool,
    /// Options or sizes were asked for.
    pub(crate) options: bool,
    pub(crate) question: bool,
    /// A coupon-code-looking token.
    pub(crate) code: bool,
    /// A token that looks like an order id.
    pub(crate) order_id: bool,
    /// Words (Latin words and Chinese characters) in the message.
    pub(crate) words: usize,
    /// The message is in English.
    pub(crate) english: bool,
}

const CUES: usize = 36;

/// For each cue, where it first occurs (std derives `Default` for arrays of at most 32).
#[derive(Debug, Clone)]
struct CueTable([Option<usize>; CUES]);

impl Default for CueTable {
    fn default() -> CueTable {
        CueTable([None; CUES])
    }
}

fn slot(cue: Cue) -> usize {
    match cue {
        Cue::Order => 0,
        Cue::Want => 1,
        Cue::ZhVerb => 2,
        Cue::Add => 3,
        Cue::Another => 4,
        Cue::Remove => 5,
        Cue::Cart => 6,
        Cue::Coupon => 7,
        Cue::CouponUse => 8,
        Cue::Checkout => 9,
        Cue::ThatsAll => 10,
        Cue::Confirm => 11,
        Cue::CancelOrder => 12,
        Cue::Cancel => 13,
        Cue::Status => 14,
        Cue::StatusWeak => 15,
        Cue::OrderNoun => 16,
        Cue::Address => 17,
        Cue::Help => 18,
        Cue::Browse => 19,
        Cue::BrowseWeak => 20,
        Cue::FoodContext => 21,
        Cue::Yes => 22,
        Cue::No => 23,
        Cue::Greeting => 24,
        Cue::Thanks => 25,
        Cue::Goodbye => 26,
        Cue::Oos => 27,
        Cue::OosList => 28,
        Cue::Not => 29,
        Cue::Praise => 30,
        Cue::Request => 31,
        Cue::Recommend => 32,
        Cue::Where => 33,
        Cue::Repeat => 34,
        Cue::OosFood => 35,
    }
}

impl Features {
    pub(crate) fn note(&mut self, cue: Cue, at: usize) {
        let entry = &mut self.first.0[slot(cue)];
        if entry.is_none_or(|seen| at < seen) {
            *entry = Some(at);
        }
    }

    pub(crate) fn has(&self, cue: Cue) -> bool {
        self.first.0[slot(cue)].is_some()
    }

    pub(crate) fn forget(&mut self, cue: Cue) {
        self.first.0[slot(cue)] = None;
    }

    fn at(&self, cue: Cue) -> Option<usize> {
        self.first.0[slot(cue)]
    }
}

/// The intent and how sure the rules are of it (0 to 100).
pub(crate) fn decide(f: &Features, context: &Context) -> (Intent, u8) {
    use Cue::*;
    let oos = f.has(Oos) || f.has(OosFood);
    let list = f.has(OosList);
    let goods = f.items > 0 || f.foods > 0;
    let conversation_has_items = !context.last_items.is_empty() || !context.last_order.is_empty();

    // 1. The address the agent asked for.
    if context.awaiting == Some(Awaiting::Address)
        && !f.has(Cancel)
        && !f.has(CancelOrder)
        && !f.has(No)
        && !f.has(Help)
        && f.words > 0
    {
        return (Intent::SetAddress, 80);
    }
    // 2. An address given.
    if f.has(Address) && !f.question {
        return (Intent::SetAddress, 90);
    }
    // 3. Cancelling a placed order (not "cancel" alone, which stops what is going on).
    if f.has(CancelOrder) && !list {
        return (Intent::CancelOrder, 90);
    }
    // 4. Coupons.
    if f.has(Coupon) && !oos && !list {
        let using = f.has(CouponUse) || f.code;
        return if using { (Intent::UseCoupon, 90) } else { (Intent::ListCoupons, 85) };
    }
    // 5. Order status.
    let about_an_order = f.has(OrderNoun) || f.order_id || goods || f.merchant;
    let new_order = f.has(Request) || f.has(Add) || f.zh_verb_before_goods;
    if (f.has(Status) || (f.has(StatusWeak) && about_an_order && !new_order))
        && !oos
        && !list
        && !f.has(Checkout)
    {
        let sure = if f.has(Status) { 90 } else { 75 };
        return (Intent::OrderStatus, sure);
    }
    // 6. The cart.
    if f.has(Cart) && !list && !f.has(Remove) && !f.has(Add) && !f.has(Order) && !f.has(Request) {
        return (Intent::ShowCart, 90);
    }
    // 7. Removing from the cart.
    if (f.has(Remove) || f.negated_item) && !list {
        return (Intent::Remove, if f.items > 0 { 90 } else { 70 });
    }
    // 8. Checkout and confirmation.
    if f.has(Confirm) && !goods && !f.question && !f.has(Order) {
        if f.has(Not) || f.has(No) {
            return (Intent::No, 60);
        }
        return (Intent::Confirm, 85);
    }
    if f.has(Checkout) && !oos && !f.has(Order) {
        return (Intent::Checkout, 90);
    }
    if f.has(ThatsAll) && !goods {
        return if conversation_has_items { (Intent::Checkout, 70) } else { (Intent::Goodbye, 60) };
    }
    // 9. Ordering what a menu has. Not a menu or shop question without a firm order verb ("do
    // you have lattes?", "拿铁多少钱", "X餐馆的电话"), nor "how many calories in a latte".
    let firm = f.has(Order) || f.has(Request) || f.has(Add) || f.zh_verb_before_goods;
    let verb = firm || f.has(Want) || f.has(Another);
    let asking =
        (f.question && !firm && (f.has(Browse) || f.has(BrowseWeak) || f.has(Recommend) || f.has(Where)))
            || (f.has(Browse) && !(f.has(Order) || f.has(Add) || f.zh_verb_before_goods))
            || (f.question && !verb);
    if f.items > 0 && !asking && !f.has(OosFood) && (!oos || verb) && (!list || f.has(Order)) {
        return (Intent::Order, if verb { 95 } else { 85 });
    }
    let choosing = matches!(context.awaiting, Some(Awaiting::Choice(_)));
    if f.reference
        && (firm || f.has(Another) || choosing || (f.strong_reference && f.words <= 4))
        && !f.has(No)
        && !f.has(Not)
    {
        return (Intent::Order, 80);
    }
    if f.has(Another) && conversation_has_items && !oos && !list && !f.question {
        return (Intent::Order, 70);
    }
    // 10. A firm "order" / "buy": an order even of things no menu here has ("order me some lysol").
    if f.has(Order) && !oos && (!f.question || goods) {
        return (Intent::Order, if goods { 85 } else { 70 });
    }
    // 11. Browsing menus and shops: asking what to have or where, or a menu or shop question.
    // A clear other-domain word does not stop it when a dish or shop is named ("在景点周边找个能做
    // 樟茶鸭的餐馆").
    let food_around = goods || f.has(FoodContext) || f.merchant;
    let grounded = !f.has(OosFood) && (!f.has(Oos) || goods || f.merchant);
    if (f.has(Recommend) || f.has(Where)) && food_around && grounded && !list {
        return (Intent::Browse, 75);
    }
    if f.has(Browse) && grounded && !list {
        return (Intent::Browse, 75);
    }
    if (f.has(Request) || f.has(Want) || f.has(Add) || f.zh_verb_before_goods)
        && (f.foods > 0 || f.quantity)
        && !oos
        && !list
    {
        return (Intent::Order, 70);
    }
    if f.foods > 0 && !f.question && !oos && !list && f.words <= 4 && !f.has(BrowseWeak) {
        // "coffee", "two pizzas please": a bare order.
        return (Intent::Order, 60);
    }
    if f.has(BrowseWeak) && food_around && grounded && !list {
        return (Intent::Browse, 65);
    }
    if (f.has(Request) || f.has(Want)) && f.has(FoodContext) && !f.question && !oos && !list {
        // "get me some food", "i need a drink".
        return (Intent::Order, 60);
    }
    // 12. Help (not "thanks for your help").
    if f.has(Help) && !oos && !list && !f.has(Thanks) {
        return (Intent::Help, 85);
    }
    // 13. Conversation.
    if f.has(Repeat) {
        return (Intent::OutOfScope, 70);
    }
    if f.has(Goodbye) {
        return (Intent::Goodbye, 85);
    }
    if let Some(thanks) = f.at(Thanks) {
        // "Thanks but that's not right" (a no after the thanks, in English) and "no thanks" /
        // "不用了，谢谢" (a firm no just before it) are a no; otherwise thanks win over the
        // negations around them ("那算了吧，不过还是谢谢你").
        let no_after = [f.at(No), f.at(Not)].into_iter().flatten().any(|at| at > thanks) && f.english;
        let no_before = f.at(No).is_some_and(|at| at < thanks) && f.words <= 6;
        if no_after || no_before {
            return (Intent::No, 75);
        }
        return (Intent::Thanks, 90);
    }
    if f.has(Cancel) {
        return (Intent::No, 75);
    }
    let negated_praise = f.has(Not) && (f.has(Praise) || f.has(Yes));
    if (negated_praise || f.has(No)) && !f.has(Oos) {
        return (Intent::No, 80);
    }
    if f.has(Greeting) && !oos {
        return (Intent::Greeting, 85);
    }
    // A "好的，" in front of a question is not the answer yes; a compliment is a yes only when it
    // is not a request ("i need a good shop") or a question ("where is a great pub").
    if (f.has(Yes) || f.has(Confirm)) && !oos && (f.words <= 8 || !f.question) {
        return (Intent::Yes, 85);
    }
    let requesting = f.has(Want) || f.has(Request) || f.has(Where) || f.has(BrowseWeak);
    if f.has(Praise) && !oos && !f.question && !requesting {
        return (Intent::Yes, 65);
    }
    if f.has(Not) && f.words <= 8 && !f.has(Oos) {
        return (Intent::No, 60);
    }
    // 14. Nothing of ours.
    if oos || list { (Intent::OutOfScope, 80) } else { (Intent::OutOfScope, 40) }
}
