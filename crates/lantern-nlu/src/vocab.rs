//! The built-in vocabulary: every phrase the fast path knows without a menu (intent cues,
//! numbers, sizes, option concepts, references, food words), each with its meanings, in one
//! Aho-Corasick automaton built once per [`Lexicon`](crate::Lexicon).
//!
//! Phrases are written in normal form (see [`normalise`](crate::normalise)): lowercase, ASCII
//! punctuation, Chinese numerals before classifiers already digits. A phrase may carry several
//! meanings ("add" is an order cue and an option marker); the reader decides from what follows.
//!
//! The lists were written for this crate and grown while developing against the development
//! splits of HWU64, CLINC150 and CrossWOZ (phrasings such as "what sorts of things can i ask",
//! "tootles", "没关系"); the held-out splits were only ever measured (see [`crate::eval`]).

use aho_corasick::{AhoCorasick, MatchKind};
use rustc_hash::FxHashMap;

/// Evidence for an intent; see `intent.rs` for how they combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Cue {
    /// "order", "buy", "i'll have": an order even without a known item.
    Order,
    /// "can i get", "i'd like", "i'll have": a polite request, an order when something to
    /// order (a food word, a quantity) follows.
    Request,
    /// "i want", "give me", "我要": an order when something to order follows.
    Want,
    /// 来 / 要 / 点 / 买: an order only right before a quantity, size or item.
    ZhVerb,
    /// "add", 加: an order unless it is about a list.
    Add,
    /// "another", "one more", 再来: an order; the last item again when none is named.
    Another,
    Remove,
    Cart,
    Coupon,
    CouponUse,
    Checkout,
    /// "that's all": checkout when the conversation has items, else goodbye.
    ThatsAll,
    Confirm,
    CancelOrder,
    /// "cancel", "stop", "never mind" on their own: stop what is going on (not an order).
    Cancel,
    Status,
    /// "when will", "how long", "arrive": status when an order noun is near.
    StatusWeak,
    /// "order", "food", "package", 订单: what a status question is about.
    OrderNoun,
    Address,
    Help,
    Browse,
    /// "recommend", "near me": browsing when food is in the sentence.
    BrowseWeak,
    /// "food", "eat", "restaurant", 吃, 餐: the sentence is about food.
    FoodContext,
    /// "recommend", "suggest", 推荐: asking what to have.
    Recommend,
    /// "where should i", "anywhere", "near me", 附近: asking where to get it.
    Where,
    /// "repeat that", "say it again": the assistant should repeat itself (not ours).
    Repeat,
    Yes,
    No,
    Greeting,
    Thanks,
    Goodbye,
    /// Clearly another domain (weather, flights, credit-card points, hotels).
    Oos,
    /// Food, but not buying it: recipes, cooking, calories, nutrition, ingredients. Unlike
    /// `Oos`, a dish named in the sentence does not make it ours.
    OosFood,
    /// Lists and notes: "add milk to my shopping list" is not a cart.
    OosList,
    /// "not", "n't", 不: the sentence is negated.
    Not,
    Praise,
}

/// What an option phrase asks for, independent of a menu's wording.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Attr {
    Sugar,
    Ice,
    Temperature,
    Shot,
    Caffeine,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Level {
    None,
    Light,
    Less,
    Half,
    Regular,
    Extra,
    Hot,
    Warm,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum RefKind {
    /// "the same again", "same as last time", 一样的.
    Same,
    /// "that one", 那个.
    That,
    /// "it", "that": only meaningful after remove or cancel.
    It,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Meaning {
    Cue(Cue),
    /// A number word ("two", "a dozen").
    Number(u32),
    /// "a", "an": one, if an item follows.
    Article,
    /// 杯 / 份 / 个, "cups of": between a quantity and an item.
    Classifier,
    /// "x" in "2 x latte" or "latte x2".
    Times,
    Separator,
    /// "add", 加: a separator before a quantity or item, an option marker before an option.
    AddMarker,
    /// "with", "extra": the option that follows is wanted.
    With,
    /// "no", "without", 不要: the option or thing that follows is not wanted.
    Negation,
    Concept(Attr, Level),
    /// Size rank: 1 small, 2 medium, 3 large, 4 extra large.
    Size(u8),
    Reference(RefKind),
    Ordinal(u8),
    /// A generic food or drink noun (the head of an item phrase no menu knows).
    Food,
    /// A cuisine ("chinese", "thai"): names food on its own.
    Cuisine,
    /// A word that ends a generic item phrase ("the", "from", 的).
    Boundary,
}

/// The built-in phrases and their automaton.
#[derive(Debug, Clone)]
pub(crate) struct Vocab {
    automaton: Option<AhoCorasick>,
    meanings: Vec<Vec<Meaning>>,
    /// For each phrase, whether it is made of ASCII word characters at its ends (so it needs
    /// word boundaries) and whether a plural "s" may follow.
    plural_ok: Vec<bool>,
}

impl Vocab {
    pub(crate) fn new() -> Vocab {
        let mut by_phrase: FxHashMap<String, Vec<Meaning>> = FxHashMap::default();
        let mut order: Vec<String> = Vec::new();
        for (phrase, meaning) in entries() {
            let phrase = crate::normalise(&phrase);
            if phrase.is_empty() {
                continue;
            }
            let meanings = by_phrase.entry(phrase.clone()).or_insert_with(|| {
                order.push(phrase.clone());
                Vec::new()
            });
            if !meanings.contains(&meaning) {
                meanings.push(meaning);
            }
        }
        let mut meanings = Vec::with_capacity(order.len());
        let mut plural_ok = Vec::with_capacity(order.len());
        for phrase in &order {
            let list = by_phrase.remove(phrase).unwrap_or_default();
            plural_ok.push(list.iter().any(|meaning| matches!(meaning, Meaning::Food | Meaning::Cuisine)));
            meanings.push(list);
        }
        // The phrases are fixed and valid, so building cannot fail; if it ever did, no automaton
        // keeps the fast path working (with menu matches only) instead of panicking.
        let automaton = AhoCorasick::builder().match_kind(MatchKind::Standard).build(&order).ok();
        Vocab { automaton, meanings, plural_ok }
    }

    pub(crate) fn automaton(&self) -> Option<&AhoCorasick> {
        self.automaton.as_ref()
    }

    pub(crate) fn meanings(&self, pattern: usize) -> &[Meaning] {
        self.meanings.get(pattern).map(Vec::as_slice).unwrap_or(&[])
    }

    pub(crate) fn plural_ok(&self, pattern: usize) -> bool {
        self.plural_ok.get(pattern).copied().unwrap_or(false)
    }
}

fn entries() -> Vec<(String, Meaning)> {
    let mut out: Vec<(String, Meaning)> = Vec::with_capacity(2_000);
    let mut add = |phrases: &[&str], meaning: Meaning| {
        out.extend(phrases.iter().map(|phrase| ((*phrase).to_owned(), meaning)));
    };
    use Cue::*;
    add(ORDER, Meaning::Cue(Order));
    add(REQUEST, Meaning::Cue(Request));
    add(RECOMMEND, Meaning::Cue(Recommend));
    add(WHERE, Meaning::Cue(Where));
    add(REPEAT, Meaning::Cue(Repeat));
    add(WANT, Meaning::Cue(Want));
    add(&["来", "要", "点", "买", "订", "拿", "加"], Meaning::Cue(ZhVerb));
    add(&["add", "加", "加上", "再加"], Meaning::Cue(Add));
    add(ANOTHER, Meaning::Cue(Another));
    add(REMOVE, Meaning::Cue(Remove));
    add(CART, Meaning::Cue(Cart));
    add(COUPON, Meaning::Cue(Coupon));
    add(COUPON_USE, Meaning::Cue(CouponUse));
    add(CHECKOUT, Meaning::Cue(Checkout));
    add(THATS_ALL, Meaning::Cue(ThatsAll));
    add(CONFIRM, Meaning::Cue(Confirm));
    add(CANCEL_ORDER, Meaning::Cue(CancelOrder));
    add(CANCEL, Meaning::Cue(Cancel));
    add(STATUS, Meaning::Cue(Status));
    add(STATUS_WEAK, Meaning::Cue(StatusWeak));
    add(ORDER_NOUN, Meaning::Cue(OrderNoun));
    add(ADDRESS, Meaning::Cue(Address));
    add(HELP, Meaning::Cue(Help));
    add(BROWSE, Meaning::Cue(Browse));
    add(BROWSE_WEAK, Meaning::Cue(BrowseWeak));
    add(FOOD_CONTEXT, Meaning::Cue(FoodContext));
    add(YES, Meaning::Cue(Yes));
    add(NO, Meaning::Cue(No));
    add(GREETING, Meaning::Cue(Greeting));
    add(THANKS, Meaning::Cue(Thanks));
    add(GOODBYE, Meaning::Cue(Goodbye));
    add(OOS, Meaning::Cue(Oos));
    add(OOS_FOOD, Meaning::Cue(OosFood));
    add(OOS_LIST, Meaning::Cue(OosList));
    add(NOT, Meaning::Cue(Not));
    add(PRAISE, Meaning::Cue(Praise));

    for (phrases, value) in NUMBER_WORDS {
        add(phrases, Meaning::Number(*value));
    }
    add(&["a", "an"], Meaning::Article);
    add(CLASSIFIER, Meaning::Classifier);
    add(&["x", "×", "*"], Meaning::Times);
    add(SEPARATOR, Meaning::Separator);
    add(&["add", "加", "再加", "加上", "plus"], Meaning::AddMarker);
    add(WITH, Meaning::With);
    add(NEGATION, Meaning::Negation);
    for (rank, phrases) in SIZES {
        add(phrases, Meaning::Size(*rank));
    }
    for (attr, level, phrases) in CONCEPTS {
        add(phrases, Meaning::Concept(*attr, *level));
    }
    add(SAME, Meaning::Reference(RefKind::Same));
    add(THAT_ONE, Meaning::Reference(RefKind::That));
    add(&["it", "that", "them", "this", "它", "这单"], Meaning::Reference(RefKind::It));
    for (rank, phrases) in ORDINALS {
        add(phrases, Meaning::Ordinal(*rank));
    }
    let zh_ordinals: Vec<(String, u8)> = (1..=9u8)
        .flat_map(|n| ["个", "杯", "份", "种", "款"].into_iter().map(move |tail| (format!("第{n}{tail}"), n)))
        .collect();
    for (phrase, n) in &zh_ordinals {
        add(&[phrase.as_str()], Meaning::Ordinal(*n));
    }
    add(FOOD_EN, Meaning::Food);
    add(FOOD_ZH, Meaning::Food);
    add(CUISINE, Meaning::Cuisine);
    add(BOUNDARY_EN, Meaning::Boundary);
    add(BOUNDARY_ZH, Meaning::Boundary);
    out
}

#[rustfmt::skip]
const ORDER: &[&str] = &[
    "order", "ordering", "ordered", "reorder", "re-order", "buy", "buy me", "purchase", "place an order",
    "put in an order", "make an order", "i'll order", "order me", "点个", "帮我点", "帮我订", "我想点", "我要点", "给我点",
    "我要订", "我想订", "下个单", "叫个外卖", "点外卖", "订外卖", "点餐", "我要买", "我想买", "帮我买", "everything on my shopping list",
    "everything on my list", "everything on the shopping list", "everything on the list", "all the things on",
    "everything on it", "order everything", "place order",
];

#[rustfmt::skip]
const REQUEST: &[&str] = &[
    "i'll have", "i will have", "i'll take", "i will take", "i'll get", "can i get", "could i get",
    "can i have", "could i have", "may i have", "may i get", "can we get", "can we have", "could we get",
    "i'd like", "i would like", "we'd like", "we would like", "get me", "bring me", "deliver me", "send me",
    "let me get", "let me have", "get us", "i'd love", "i would love", "hook me up with", "get everything",
    "帮我来", "给我来", "get a", "get an", "get some", "get one", "get two", "get three", "get large", "get small",
    "get medium",
];

#[rustfmt::skip]
const WANT: &[&str] = &[
    "i want", "i need", "we want", "we need", "give me", "make me", "make us", "fetch me", "grab me",
    "i'm craving", "i am craving", "craving", "i feel like", "i'm in the mood for", "prepare", "brew", "我要",
    "我想要", "给我", "想喝", "想吃", "我想喝", "我想吃", "喝点", "吃点", "make a", "make some", "make more", "fix me",
    "i fancy", "fancy some", "do a",
];

const ANOTHER: &[&str] = &["another", "one more", "more", "again", "再来", "再要", "再点", "也要", "还要"];

#[rustfmt::skip]
const REMOVE: &[&str] = &[
    "remove", "delete", "take off", "take out", "take away", "drop the", "get rid of", "don't want",
    "do not want", "no longer want", "don't need", "scratch the", "forget the", "cancel the", "minus the",
    "instead of", "删除", "删掉", "删了", "去掉", "拿掉", "不要了", "不想要", "取消", "退掉", "减掉", "减少", "少要",
];

#[rustfmt::skip]
const CART: &[&str] = &[
    "cart", "basket", "my bag", "what did i order", "what have i ordered", "what i ordered",
    "my order so far", "order so far", "what's in my", "what is in my", "show my order", "show me my order",
    "review my order", "购物车", "点了什么", "点了啥", "点了哪些", "都点了", "我点的", "已点",
];

#[rustfmt::skip]
const COUPON: &[&str] = &[
    "coupon", "coupons", "voucher", "vouchers", "promo", "promo code", "promotion", "promotions", "discount",
    "discounts", "discount code", "deal", "deals", "red packet", "red envelope", "优惠", "优惠券", "券", "红包", "折扣",
    "满减", "代金券", "优惠码", "打折", "减免", "code", "codes", "promo codes", "coupon code", "voucher code",
];

const COUPON_USE: &[&str] =
    &["use", "apply", "redeem", "add the", "enter", "用", "使用", "用上", "用掉", "抵扣", "抵"];

#[rustfmt::skip]
const CHECKOUT: &[&str] = &[
    "checkout", "check out", "pay", "pay now", "pay for", "proceed to", "ready to pay", "i'm done",
    "i am done", "finish my order", "finish the order", "complete my order", "complete the order", "the bill",
    "my bill", "settle up", "结账", "买单", "付款", "支付", "去结算", "结算", "付钱", "埋单", "就这些", "就这样吧", "就这么多", "没别的了",
    "就要这些",
];

#[rustfmt::skip]
const THATS_ALL: &[&str] = &[
    "that's all", "that is all", "that's it", "that is it", "that'll be all", "that will be all",
    "that would be all", "nothing else", "that's everything", "no more",
];

#[rustfmt::skip]
const CONFIRM: &[&str] = &[
    "confirm", "confirmed", "place the order", "place my order", "place it", "submit the order",
    "submit my order", "submit order", "go ahead", "send the order", "send my order", "确认", "确定", "确认下单",
    "下单", "提交订单", "提交",
];

#[rustfmt::skip]
const CANCEL_ORDER: &[&str] = &[
    "cancel my order", "cancel the order", "cancel order", "cancel this order", "cancel that order",
    "cancel it", "cancel my last order", "cancel the last order", "cancel my food", "cancel my delivery",
    "cancel ord", "取消订单", "取消这个订单", "取消我的订单", "取消这单", "退单", "不要这单", "撤单", "取消刚才的订单", "把订单取消",
];

#[rustfmt::skip]
const CANCEL: &[&str] = &[
    "cancel", "cancel that", "never mind", "nevermind", "forget it", "forget that", "forget about it", "stop",
    "quit", "shut up", "be quiet", "silence", "mute", "pause", "enough", "shut down", "shut off", "turn off",
    "exit", "abort", "halt", "end this", "算了", "不用了", "停", "别说了", "闭嘴", "退出", "quiet", "shhhh", "shh", "shhh",
    "discontinue", "don't want you to speak", "forget my previous command", "cancel the action",
    "cancel the input", "terminate", "negate last command", "abandon", "stop it", "cancel my last request",
    "cancel that last thing", "cancel everything", "stop talking", "quit talking", "go back",
    "cancel the current", "shut the hell up", "destroy process", "refrain", "do not complete", "undo",
    "switch off", "end the task", "scratch", "scrap", "rescind", "eliminate", "forget that", "abort",
];

#[rustfmt::skip]
const STATUS: &[&str] = &[
    "where is my order", "where's my order", "order status", "status of my order", "status of the order",
    "my order status", "track", "tracking", "where is my food", "where's my food", "where is my package",
    "where's my package", "where is my delivery", "package", "shipped", "shipment", "到哪了", "到哪里了", "什么时候到",
    "订单状态", "进度", "送到了吗", "到了吗", "做好了吗", "好了没", "还没到", "怎么还没", "配送状态", "送达", "up with my order",
    "how is my order", "how's my order",
];

#[rustfmt::skip]
const STATUS_WEAK: &[&str] = &[
    "when will", "when is", "when does", "when do", "when can", "how long", "how much longer", "eta",
    "arrive", "arriving", "arrival", "be here", "get here", "be ready", "ready", "delivered", "on its way",
    "on the way", "status", "still waiting", "expected", "pick up", "pickup", "collect", "update", "多久",
    "还要多久", "什么时候", "几点到", "快到了吗", "ship", "coming", "dropped off", "distributed", "going on with",
    "where is", "where's", "updates", "get to me", "arrived", "sent out", "been sent", "on route", "en route",
    "how far", "happening", "happened", "what's with", "check on", "last order", "recent order", "my last",
    "expected to", "projected", "due", "yet", "here yet", "order here", "brought", "showed up", "show up",
    "status update", "update on", "where my", "what's up with my", "how's the", "is the last", "already here",
    "order here", "delivery address",
];

#[rustfmt::skip]
const ORDER_NOUN: &[&str] = &[
    "order", "orders", "food", "package", "delivery", "takeaway", "takeout", "take out", "meal", "coffee",
    "pizza", "it", "订单", "外卖", "餐", "饭", "快递", "奶茶", "咖啡", "ordered", "goods", "packaged", "parcel", "items",
    "stuff", "purchase", "purchases", "shipment", "my order", "dinner", "lunch", "breakfast", "take away",
];

#[rustfmt::skip]
const ADDRESS: &[&str] = &[
    "deliver to", "deliver it to", "send it to", "send to", "ship to", "ship it to", "bring it to",
    "my address is", "address is", "the address is", "my address:", "address:", "change my address",
    "change the address", "update my address", "set my address", "new address", "i live at",
    "deliver them to", "送到", "送去", "地址是", "地址改成", "地址改为", "地址换成", "配送到", "寄到", "我的地址", "收货地址", "我住在", "我在",
];

#[rustfmt::skip]
const HELP: &[&str] = &[
    "help", "what can you do", "what can i ask", "what can you help", "how does this work", "how do i use",
    "how do i order", "how to order", "what do you do", "what are you able", "what are your capabilities",
    "capabilities", "what kind of things", "what sort of things", "what kinds of things",
    "what sorts of things", "what types of things", "what type of things", "what kind of questions",
    "what kinds of questions", "what sort of questions", "what sorts of questions", "what type of questions",
    "what types of questions", "can i ask you", "i can ask you", "questions can you answer", "you can help",
    "can you help me with", "how can you help", "you familiar with", "familiar with", "knowledgeable",
    "knowledgable", "well versed", "subjects", "subject areas", "what are you good at", "what can i say",
    "how it works", "帮助", "怎么用", "你能做什么", "你会什么", "怎么点", "怎么下单", "你可以做什么", "能干什么", "有什么功能", "能帮我做什么", "使用说明",
    "capable of", "queries", "questions may i ask", "questions are", "list of commands", "commands",
    "what all can you do", "things do you know", "able to do", "can you answer", "can't ask you",
    "questions do you", "should i ask you", "what do you know", "what are you for", "what is your purpose",
    "sort of thing", "things can you do", "allowed to ask", "may ask", "able to ask", "should ask",
    "are you able to do", "how can i use you", "can assist me with", "benefit from using you",
    "how can you assist", "can you be asked", "topics", "versed", "what sort of stuff", "tasks can you",
    "can i ask the ai", "kind of information", "information do you know", "what do you do", "can you help me",
];

#[rustfmt::skip]
const BROWSE: &[&str] = &[
    "menu", "menus", "what do you have", "what do you sell", "what do they have", "what's good",
    "what is good", "what's on", "what drinks", "what food", "what dishes", "what's popular", "bestseller",
    "best seller", "specials", "do you have", "do they have", "does it have", "do you sell", "do they sell",
    "do they deliver", "does it deliver", "do you deliver", "deliver", "delivers", "restaurant",
    "restaurants", "price", "prices", "how much", "cost", "costs", "what are the options", "菜单", "推荐", "有什么",
    "有哪些", "有没有", "餐馆", "餐厅", "饭店", "饭馆", "哪家", "评分", "人均", "电话", "营业时间", "招牌", "特色", "好吃", "多少钱", "价格", "价位",
    "几点开门", "几点关门", "营业", "在哪", "地址是在哪", "地址在哪", "地址", "地址是", "几点", "联系方式", "takeaway", "takeaways",
    "takeout", "take out", "carry out", "catering", "dine in", "take orders", "orders online",
    "orders over the phone", "phone number", "opening hours", "closing time", "hours",
];

#[rustfmt::skip]
const RECOMMEND: &[&str] = &[
    "recommend", "recommendation", "recommendations", "suggest", "suggestion", "suggestions",
    "what should i eat", "what should i have", "what should we eat", "any ideas", "ideas", "idea", "推荐", "建议",
    "给我推荐", "介绍",
];

#[rustfmt::skip]
const WHERE: &[&str] = &[
    "where should i", "where should we", "where can i", "where can we", "where to", "where do", "where would",
    "where is a", "where's a", "where is the best", "anywhere", "places", "place to", "spots", "spot",
    "near me", "nearby", "around here", "in the area", "in town", "close by", "near here", "close to me",
    "near my", "附近", "哪里", "哪家", "哪儿", "closest", "nearest", "shop", "shops", "store", "stores", "local",
    "locate",
];

#[rustfmt::skip]
const REPEAT: &[&str] = &[
    "repeat", "repeated", "say it again", "say that again", "didn't hear", "didn't catch", "couldn't hear",
    "did not hear", "missed that", "come again", "run that by me", "once more", "pardon", "one more time",
    "another time", "say again", "what did you say", "再说一遍", "重复",
];

#[rustfmt::skip]
const BROWSE_WEAK: &[&str] = &[
    "open now", "open until", "place", "find", "look up", "search", "show me", "any good", "best", "good",
    "cheap", "low priced", "looking for", "options", "takeaway", "takeout", "delivery", "周边", "找", "decent",
    "list of", "serves", "serve",
];

#[rustfmt::skip]
const FOOD_CONTEXT: &[&str] = &[
    "food", "foods", "meal", "meals", "eat", "eating", "dinner", "lunch", "breakfast", "brunch", "snack",
    "snacks", "hungry", "drink", "drinks", "restaurant", "restaurants", "cafe", "dish", "dishes", "cuisine",
    "takeaway", "takeout", "delivery", "dessert", "吃", "喝", "菜", "餐", "饭", "美食", "吃饭", "用餐", "就餐", "吃东西",
    "饭菜", "饮料", "外卖", "饮品", "小吃", "takeaways", "take out", "take away", "carry out", "carryout", "dine in",
    "to go", "pizza place", "grub", "dining", "dine", "steakhouse", "steakhouses", "eatery", "eateries",
    "diner", "bistro", "grill",
];

#[rustfmt::skip]
const YES: &[&str] = &[
    "yes", "yeah", "yep", "yup", "yeap", "ya", "yea", "yah", "sure", "ok", "okay", "k", "alright",
    "all right", "correct", "right", "exactly", "agreed", "agree", "absolutely", "definitely", "certainly",
    "of course", "indeed", "affirmative", "please do", "do it", "go for it", "that's right", "that is right",
    "true", "sounds good", "that works", "works for me", "precisely", "confirm", "i do", "that's correct",
    "that is correct", "好的", "好啊", "好吧", "好呀", "好嘞", "是的", "对", "对的", "没错", "可以", "行", "嗯", "嗯嗯", "要的", "当然",
    "没问题", "ok的", "确认", "同意", "positive", "do that", "that's the truth", "uh-huh", "uh huh", "facts",
    "accepted", "approved", "affirmitive", "that is a fact", "resounding yes", "makes sense", "sounds right",
    "for sure", "you bet", "yes please",
];

#[rustfmt::skip]
const NO: &[&str] = &[
    "no", "nope", "nah", "negative", "wrong", "incorrect", "never", "dammit", "damn", "goddammit", "damnit",
    "shit", "ugh", "no thanks", "no thank you", "not really", "not right", "not correct", "i don't think so",
    "don't", "didn't", "doesn't", "isn't", "wasn't", "mistake", "false", "not true", "are you sure", "不是",
    "不要", "不用", "不对", "错了", "不行", "不需要", "不了", "naw", "nay", "not the case", "inaccurate", "untrue",
    "erroneous", "i'll pass", "ill pass", "nada", "negatory", "invalid", "absolutely not", "certainly not",
    "no way", "nah thanks", "messed up", "something else", "did not say", "didn't say", "did not ask",
    "didn't ask", "not what i", "incorrectly", "oops", "do not understand", "don't understand",
    "misunderstood", "check the command", "not right", "not correct", "you got it wrong", "that's wrong",
    "not that",
];

#[rustfmt::skip]
const GREETING: &[&str] = &[
    "hi", "hello", "hey", "hiya", "howdy", "greetings", "salutations", "good morning", "good afternoon",
    "good evening", "morning", "how are you", "how are things", "how's it going", "how is it going",
    "how have you been", "how are you doing", "what's up", "sup", "yo", "nice to see you", "nice to meet you",
    "ahoy", "are you there", "anyone there", "you there", "hello there", "how is everything",
    "how's everything", "how's life", "how is life", "are you doing", "are you okay", "are you ok",
    "how do you do", "how's your day", "how is your day", "good to see you", "long time no see", "what's new",
    "hey there", "hi there", "你好", "您好", "嗨", "哈喽", "哈啰", "在吗", "在不在", "早上好", "晚上好", "下午好", "早安", "早",
    "hello啊", "how're you", "how goes it", "wake up", "are things going well", "how is my", "heller",
    "are you well", "hola", "how've you been", "how you're doing", "aloha", "is everything going",
    "everything ok", "good day", "have you been good", "are you feeling", "how ya", "are you good",
    "going okay", "how do you feel", "what's happening", "how are ya", "bonjour", "namaste", "how is the ai",
    "what's going on", "treating you", "how you've been", "heyo", "how you are", "wassup", "how's it hanging",
    "feel like doing", "good to see you",
];

#[rustfmt::skip]
const THANKS: &[&str] = &[
    "thanks", "thank you", "thank", "thankyou", "cheers", "appreciate", "appreciated", "much obliged",
    "grateful", "谢谢", "感谢", "多谢", "谢了", "谢啦", "辛苦了", "谢谢你", "谢", "gracias", "thankful", "merci",
    "kind of you", "so kind", "you're the best", "you helped me", "glad you helped", "pleased me",
    "happy with your answer", "much appreciated", "easier with you", "good job", "great help", "big help",
    "gratitude", "nice of you", "good looking out", "you're so nice", "you are so nice", "you rock", "danke",
    "arigato", "you're a doll", "youre a doll", "owe you one", "glad that you did", "happy you did",
    "you did that for me", "i appreciate",
];

#[rustfmt::skip]
const GOODBYE: &[&str] = &[
    "bye", "goodbye", "good bye", "bye bye", "see you", "see ya", "see you later", "later",
    "talk to you later", "talk later", "good night", "goodnight", "farewell", "take care", "have a good day",
    "have a nice day", "have a good one", "catch you later", "gotta go", "got to go", "i'm leaving",
    "i have to go", "i'm off", "until next time", "so long", "adios", "ciao", "signing off",
    "i'll talk to you", "i will talk to you", "i would talk to you", "再见", "拜拜", "回见", "晚安", "下次见", "先这样",
    "syonara", "sayonara", "glad we got to talk", "got to talk", "tata", "i'm out of here",
    "catch you around", "enjoyed talking", "take it easy", "fairwell", "fare well", "peace", "get going",
    "nice to speak with you", "great conversation", "good seeing you", "good chatting", "nice chatting",
    "nice to talk", "nice to get in touch", "nice to converse", "nice to speak", "chat with you",
    "great talk", "talking to you", "speaking with you", "chatting with you", "that's all for now",
    "i'm done here", "good talking", "leaving now", "be leaving", "good to talk", "enjoyable talking",
    "pleasant conversing", "got to run", "outta here", "pleasant having a conversation", "buhbye", "tootles",
    "have this conversation", "catch up with you", "talking with you", "nice chat", "nice conversation",
    "to speak with you", "bye for now",
];

#[rustfmt::skip]
const OOS: &[&str] = &[
    "weather", "forecast", "rain", "alarm", "timer", "remind", "reminder", "calendar", "meeting", "email",
    "text message", "message", "music", "song", "songs", "playlist", "play", "movie", "movies", "flight",
    "flights", "hotel", "uber", "lyft", "taxi", "tire", "oil change", "bank", "account", "balance",
    "credit card", "credit score", "card", "points", "rewards", "reward", "miles", "cash back", "transfer",
    "translate", "joke", "news", "traffic", "directions", "temperature", "lights", "vacuum", "insurance",
    "vacation", "schedule", "appointment", "reservation", "reserve", "book a table", "book", "rent", "salary",
    "tax", "taxes", "pto", "holiday", "battery", "volume", "spell", "definition", "meaning of", "who is",
    "who was", "what year", "distance", "exchange rate", "currency", "stock", "stocks", "gas", "mpg", "pin",
    "routing", "ticket", "tickets", "train", "bus", "plug", "socket", "robot", "roomba", "thermostat", "wifi",
    "password", "time is it", "timezone", "birthday", "anniversary", "spend", "spending", "budget", "expense",
    "bill pay", "utilities", "景点", "酒店", "宾馆", "地铁", "天气", "机票", "火车", "打车", "景区", "门票", "住宿", "游玩",
    "share of", "crypto", "gpa", "definition", "coffee machine", "coffee maker", "coffee pot", "kettle",
    "turn on", "switch on", "mr coffee", "timer on", "zip code", "area code", "postal code", "source code",
    "country code", "dress code", "qr code", "code of",
];

#[rustfmt::skip]
const OOS_FOOD: &[&str] = &[
    "calories", "calorie", "nutrition", "nutritional", "nutrients", "protein", "carbs", "carbohydrates",
    "fat", "sodium", "cholesterol", "ingredients", "ingredient", "recipe", "recipes", "cooking", "bake",
    "how do i make", "how to make", "how can i make", "to bake", "what can i make", "what should i make",
    "what should i cook", "dinner ideas", "healthy", "allergic", "allergy", "need to make", "what to make",
    "how do you make", "making", "procedure", "homemade", "serving of", "how healthy", "vitamins",
    "sugar content", "caffeine content", "菜谱", "做法", "怎么做", "卡路里", "热量", "how to cook", "how do i cook",
    "how should i cook", "how do you cook", "cook", "roast", "simmer", "boil", "how long do i",
    "how long should i", "way to cook", "best way to", "to make", "to put in", "put into", "mix to make",
    "come from",
];

#[rustfmt::skip]
const OOS_LIST: &[&str] = &[
    "lists", "to do", "todo", "to-do", "notes", "shopping list", "grocery list", "playlist", "清单", "备忘",
    "my list", "the list", "a list", "new list", "this list", "that list", "list of things", "checklist",
    "to buy list", "shopping bag", "list",
];

#[rustfmt::skip]
const NOT: &[&str] = &[
    "not", "n't", "don't", "didn't", "doesn't", "isn't", "wasn't", "aren't", "weren't", "haven't", "hasn't",
    "can't", "won't", "cannot", "never", "不",
];

#[rustfmt::skip]
const PRAISE: &[&str] = &[
    "perfect", "perfectly", "great", "good", "fine", "wonderful", "fantastic", "excellent", "amazing",
    "awesome", "nice", "cool", "brilliant", "super", "lovely", "well done", "good job", "nailed it", "got it",
    "gotten it", "understood", "exact", "exactly", "spot on", "correctly", "right", "correct", "太好了", "很好",
    "不错", "完美", "棒", "accurate", "truth", "true", "fact",
];

const NUMBER_WORDS: &[(&[&str], u32)] = &[
    (&["one", "single"], 1),
    (&["two", "a couple of", "a couple", "couple of", "a pair of", "pair of", "both"], 2),
    (&["three"], 3),
    (&["four"], 4),
    (&["five"], 5),
    (&["six", "half a dozen", "half dozen"], 6),
    (&["seven"], 7),
    (&["eight"], 8),
    (&["nine"], 9),
    (&["ten"], 10),
    (&["eleven"], 11),
    (&["twelve", "a dozen", "dozen"], 12),
    (&["twenty"], 20),
];

#[rustfmt::skip]
const CLASSIFIER: &[&str] = &[
    "杯", "份", "个", "碗", "瓶", "块", "盒", "盘", "壶", "袋", "罐", "只", "串", "cup of", "cups of", "glass of",
    "glasses of", "bottle of", "bottles of", "piece of", "pieces of", "slice of", "slices of", "order of",
    "orders of", "serving of", "servings of", "portion of", "portions of", "bowl of", "bowls of", "box of",
    "boxes of", "pack of", "packs of", "can of", "cans of", "pot of", "mug of", "mugs of", "cup", "cups",
    "pack", "portion",
];

#[rustfmt::skip]
const SEPARATOR: &[&str] = &[
    "and", "&", ",", ";", ".", "!", "?", "plus", "also", "as well as", "and also", "then", "along with", "和",
    "跟", "与", "以及", "还有", "还要", "另外", "再来", "再要", "再加", "外加", "/",
];

const WITH: &[&str] = &["with", "extra", "add", "double", "with extra", "加", "多加", "加份", "要加", "配"];

#[rustfmt::skip]
const NEGATION: &[&str] = &[
    "no", "without", "hold the", "minus", "skip the", "leave out", "leave off", "no more", "not too much",
    "don't put", "don't add", "do not add", "不要", "不加", "去掉", "免", "别加", "不放", "别放", "不要加",
];

const SIZES: &[(u8, &[&str])] = &[
    (1, &["small", "short", "kid", "小杯", "小份", "小的", "小号", "小碗"]),
    (2, &["medium", "regular", "tall", "中杯", "中份", "中的", "中号", "中碗"]),
    (3, &["large", "big", "grande", "大杯", "大份", "大的", "大号", "大碗"]),
    (4, &["venti", "extra large", "extra-large", "xl", "超大杯", "特大杯", "超大", "超大份"]),
];

const CONCEPTS: &[(Attr, Level, &[&str])] = &[
    (
        Attr::Sugar,
        Level::None,
        &[
            "no sugar",
            "sugar free",
            "sugar-free",
            "sugarfree",
            "without sugar",
            "zero sugar",
            "unsweetened",
            "0 sugar",
            "0% sugar",
            "无糖",
            "不加糖",
            "不要糖",
            "去糖",
            "零糖",
            "0糖",
            "免糖",
            "不要加糖",
        ],
    ),
    (
        Attr::Sugar,
        Level::Light,
        &[
            "微糖",
            "一分糖",
            "1分糖",
            "二分糖",
            "2分糖",
            "三分糖",
            "3分糖",
            "30% sugar",
            "25% sugar",
            "light sugar",
            "a little sugar",
            "little sugar",
            "slightly sweet",
            "barely sweet",
        ],
    ),
    (
        Attr::Sugar,
        Level::Less,
        &[
            "少糖",
            "less sugar",
            "low sugar",
            "less sweet",
            "七分糖",
            "7分糖",
            "70% sugar",
            "75% sugar",
            "少甜",
        ],
    ),
    (
        Attr::Sugar,
        Level::Half,
        &["半糖", "half sugar", "half sweet", "50% sugar", "五分糖", "5分糖", "half the sugar"],
    ),
    (
        Attr::Sugar,
        Level::Regular,
        &[
            "全糖",
            "full sugar",
            "regular sugar",
            "normal sugar",
            "standard sugar",
            "100% sugar",
            "正常糖",
            "标准糖",
            "十分糖",
            "full sweet",
            "正常甜",
        ],
    ),
    (Attr::Sugar, Level::Extra, &["多糖", "extra sugar", "more sugar", "extra sweet", "加糖"]),
    (
        Attr::Ice,
        Level::None,
        &[
            "no ice",
            "without ice",
            "ice free",
            "zero ice",
            "hold the ice",
            "去冰",
            "无冰",
            "走冰",
            "不加冰",
            "不要冰",
            "免冰",
            "去掉冰",
        ],
    ),
    (
        Attr::Ice,
        Level::Less,
        &["少冰", "less ice", "light ice", "little ice", "a little ice", "easy ice", "微冰"],
    ),
    (
        Attr::Ice,
        Level::Regular,
        &["正常冰", "regular ice", "normal ice", "standard ice", "标准冰", "iced", "加冰", "冰的"],
    ),
    (Attr::Ice, Level::Extra, &["多冰", "extra ice", "more ice"]),
    (Attr::Temperature, Level::Hot, &["hot", "热的", "要热的", "热饮", "做热的", "热"]),
    (Attr::Temperature, Level::Warm, &["warm", "温", "温的", "常温", "room temperature"]),
    (
        Attr::Shot,
        Level::Extra,
        &[
            "extra shot",
            "an extra shot",
            "extra espresso shot",
            "extra espresso",
            "add a shot",
            "add shot",
            "double shot",
            "another shot",
            "one more shot",
            "加浓",
            "加1份浓缩",
            "加份浓缩",
            "多1份浓缩",
            "双份浓缩",
            "加shot",
            "多加1份浓缩",
        ],
    ),
    (Attr::Caffeine, Level::None, &["decaf", "decaffeinated", "低因", "无咖啡因", "去咖啡因"]),
];

#[rustfmt::skip]
const SAME: &[&str] = &[
    "the same again", "same again", "same as last time", "same as before", "the same as last time",
    "the same as before", "same thing", "the same thing", "the usual", "my usual", "same as usual",
    "the same", "一样的", "老样子", "和上次一样", "跟上次一样", "同样的", "照旧", "和刚才一样", "跟刚才一样",
];

#[rustfmt::skip]
const THAT_ONE: &[&str] = &[
    "that one", "this one", "the one", "that", "那个", "这个", "就这个", "就那个", "那杯", "这杯", "那份", "这份", "这款", "那款",
];

const ORDINALS: &[(u8, &[&str])] = &[
    (1, &["first", "1st", "the first one", "number one", "option one", "option 1", "number 1"]),
    (2, &["second", "2nd", "the second one", "number two", "option two", "option 2", "number 2"]),
    (3, &["third", "3rd", "the third one", "number three", "option three", "option 3", "number 3"]),
    (4, &["fourth", "4th", "the fourth one", "option 4", "number 4"]),
    (5, &["fifth", "5th", "the fifth one", "option 5", "number 5"]),
];

/// Common food and drink nouns: the head of an item phrase when no menu knows it.
#[rustfmt::skip]
const FOOD_EN: &[&str] = &[
    "pizza", "burger", "hamburger", "cheeseburger", "sandwich", "sandwiches", "sub", "wrap", "taco",
    "burrito", "bowl", "salad", "soup", "sushi", "sashimi", "ramen", "noodle", "noodles", "pasta",
    "spaghetti", "lasagna", "lasagne", "risotto", "curry", "rice", "fried rice", "dumpling", "dumplings",
    "bao", "bun", "buns", "fries", "chips", "nachos", "quesadilla", "steak", "chicken", "wings", "wing",
    "nuggets", "beef", "pork", "lamb", "fish", "shrimp", "prawn", "prawns", "salmon", "tuna", "tofu", "egg",
    "eggs", "omelette", "omelet", "pancake", "pancakes", "waffle", "waffles", "bagel", "toast", "bread",
    "croissant", "muffin", "cake", "cupcake", "cookie", "cookies", "brownie", "donut", "doughnut", "pie",
    "tart", "ice cream", "dessert", "desserts", "pudding", "yogurt", "smoothie", "shake", "milkshake",
    "juice", "lemonade", "soda", "coke", "pepsi", "sprite", "tea", "milk tea", "bubble tea", "boba", "coffee",
    "latte", "cappuccino", "espresso", "americano", "mocha", "macchiato", "frappuccino", "cold brew",
    "hot chocolate", "cocoa", "beer", "wine", "kebab", "falafel", "hummus", "gyro", "shawarma", "paneer",
    "biryani", "naan", "samosa", "samosas", "tikka", "masala", "pho", "banh mi", "dim sum", "spring roll",
    "spring rolls", "egg roll", "egg rolls", "eggroll", "eggrolls", "chow mein", "lo mein", "pad thai",
    "teriyaki", "tempura", "udon", "bibimbap", "kimchi", "hot dog", "hotdog", "bacon", "sausage", "ham",
    "cheese", "meatballs", "meatball", "ribs", "brisket", "barbecue", "bbq", "lobster", "crab", "oysters",
    "scallops", "calamari", "chowder", "stew", "chili", "enchilada", "enchiladas", "fajitas", "guacamole",
    "salsa", "bagels", "donuts", "doughnuts", "cheesecake", "tiramisu", "gelato", "sorbet", "frozen yogurt",
    "popcorn", "pretzel", "crepe", "crepes", "scone", "scones", "biscuit", "biscuits", "oatmeal", "porridge",
    "cereal", "granola", "fruit", "veggies", "vegetables", "delicacies", "delicacy", "seafood", "poke",
    "gnocchi", "ravioli", "fettuccine", "penne", "mac and cheese", "grilled cheese", "club sandwich",
    "sub sandwich", "hoagie", "panini", "calzone", "stromboli", "wonton", "wontons", "potstickers", "congee",
    "hot pot", "hotpot", "kabob", "tandoori", "vindaloo", "korma", "dal", "dosa", "roti", "chai", "matcha",
    "cortado", "flat white", "affogato", "frappe", "iced tea", "green tea", "black tea", "chai latte",
    "hot cocoa", "water", "sparkling water", "soft drink", "soft drinks", "pop", "brew", "mozzarella sticks",
    "onion rings", "nugget", "tenders", "chicken tenders", "quiche", "bruschetta", "antipasto", "paella",
    "tapas", "lasagnas", "tacos", "burritos", "pizzas", "burgers", "wraps", "bowls", "salads", "soups",
];

/// Chinese dish and drink heads: the last characters of a dish name.
#[rustfmt::skip]
const FOOD_ZH: &[&str] = &[
    "奶茶", "咖啡", "拿铁", "茶", "面", "粥", "汤", "鸭", "鸡", "鱼", "肉", "虾", "蟹", "饺", "饺子", "包子", "馒头", "饼", "烧饼",
    "火锅", "锅", "串", "烤串", "丸", "丸子", "糕", "酥", "排", "排骨", "翅", "鸡翅", "肘", "肘子", "肠", "肚", "卷", "粉", "米线",
    "豆腐", "豆汁", "沙拉", "披萨", "比萨", "汉堡", "薯条", "寿司", "蛋糕", "面包", "甜点", "冰淇淋", "果汁", "可乐", "啤酒", "烤鸭", "炸酱面",
    "凉皮", "馄饨", "煎饼", "羊肉", "牛肉", "猪肉", "鸡肉", "慕斯", "布丁", "奶昔", "酸奶", "松饼", "泡芙", "蛋挞", "饮料", "肥牛", "毛肚",
    "腰花", "鸡丁", "肉丝", "鱼片", "烧麦", "烧卖", "春卷", "炒饭", "盖饭", "拉面", "刀削面", "担担面", "凉面", "小笼包", "生煎", "锅贴", "油条",
    "豆浆", "煲", "羹", "卤", "烤", "炖", "蒸", "炒", "拌", "蛋", "菇", "笋", "藕", "虾仁", "鱿鱼", "鲍鱼", "海参", "扇贝", "牛排",
    "猪蹄", "鸭脖", "鸭血", "肥肠", "烤肉", "烤鱼", "酸菜鱼", "水煮鱼", "麻辣烫", "冒菜", "米饭", "炒面", "焖面", "烩面", "饸饹", "窝头", "糖葫芦",
    "驴打滚", "豌豆黄", "艾窝窝", "烧烤", "拉条子", "抄手", "汤圆", "元宵", "粽子", "月饼", "果茶", "柠檬水", "鲜奶", "酸梅汤", "奶盖", "芝士",
    "焦圈", "炸糕", "爆肚", "卤煮", "炒肝", "灌肠", "烤串儿", "涮肉", "铜锅", "鸭架", "鸭掌", "鸭肠",
];

#[rustfmt::skip]
const CUISINE: &[&str] = &[
    "chinese", "thai", "indian", "italian", "mexican", "japanese", "korean", "vietnamese", "french", "greek",
    "spanish", "turkish", "lebanese", "american", "vegan", "vegetarian", "halal", "burmese", "peruvian",
    "ethiopian", "malaysian", "indonesian", "filipino", "cantonese", "sichuan", "szechuan", "spicy",
    "mediterranean", "middle eastern", "caribbean", "brazilian", "german", "british", "川菜", "粤菜", "湘菜", "鲁菜",
    "东北菜", "西餐", "日料", "韩餐", "泰餐", "火锅店",
];

/// English function words that end a generic item phrase.
#[rustfmt::skip]
const BOUNDARY_EN: &[&str] = &[
    "the", "some", "my", "your", "our", "their", "me", "us", "for", "from", "to", "at", "in", "on", "of",
    "near", "please", "or", "any", "this", "these", "those", "is", "are", "was", "be", "can", "could",
    "would", "will", "you", "i", "we", "they", "he", "she", "like", "love", "want", "need", "get", "have",
    "order", "tonight", "today", "now", "tomorrow", "here", "there", "what", "which", "where", "when", "how",
    "why", "who", "do", "does", "did", "place", "places", "shop", "store", "restaurant", "nearby", "good",
    "best", "open", "cheap", "delivery", "takeaway", "takeout", "make", "made", "pack", "time", "so", "very",
    "just", "too", "up", "out", "by", "about", "it", "its", "it's", "that's", "all", "know", "find", "call",
    "tell", "them", "him", "her", "right", "ready", "am", "been", "being", "has", "had", "food", "meal",
    "dinner", "lunch", "breakfast", "delivered", "deliver", "using", "use", "set", "start", "machine",
    "maker", "cup", "mug", "pot", "few", "a few", "several", "any", "anything", "something", "things",
    "thing", "kind", "type", "types", "sort", "want to know", "need to know", "like to know",
    "wanted to know", "list off", "list me", "list some", "list a few", "list nearby", "list all",
    "can you list", "please list", "contact", "see", "if", "priced", "piece", "pieces", "usual", "offers",
    "offer", "rated", "highest", "lowest", "favorite", "favourite", "ask", "more", "less", "other", "stat",
    "also", "really", "hey", "olly", "ai", "via", "with", "than", "then", "yet", "well",
];

/// Chinese characters and words that end a generic dish phrase.
#[rustfmt::skip]
const BOUNDARY_ZH: &[&str] = &[
    "的", "吃", "喝", "点", "要", "来", "想", "有", "做", "叫", "家", "这", "那", "些", "种", "能", "可以", "还", "在", "里", "是",
    "找", "推荐", "请", "给", "我", "你", "他", "她", "们", "去", "到", "了", "吗", "呢", "吧", "啊", "就", "都", "也", "又", "再",
    "把", "被", "让", "用", "上", "下", "从", "对", "为", "等", "及", "并", "且", "而", "着", "过", "得", "地", "很", "最", "更",
    "太", "道", "盘", "碗", "家店", "餐馆", "餐厅", "饭店", "哪", "什么", "一", "个", "份", "杯", "好", "想要", "特别", "喜欢", "一下",
    "这道菜", "菜品", "招牌菜", "店", "位", "元", "人均", "评分", "分", "以上", "左右", "之间", "其他", "里面", "外面", "前面", "后面", "上面",
    "下面", "面积", "见面", "方面", "安排", "排队", "面前", "对面", "北面", "南面", "最好", "不过", "不少", "不久", "不仅", "不管", "不如",
    "没关系", "不得不", "不然", "要不", "不一定", "要是", "对于", "对方", "旅行", "行程", "银行", "进行", "好玩", "好点", "吃个饭", "吃顿饭",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_phrase_is_already_normal() {
        // A phrase that normalisation would change could never match normalised text.
        let wrong: Vec<String> = entries()
            .into_iter()
            .filter(|(phrase, _)| crate::normalise(phrase) != *phrase)
            .map(|(phrase, meaning)| format!("{phrase:?} ({meaning:?}) -> {:?}", crate::normalise(&phrase)))
            .collect();
        assert!(wrong.is_empty(), "not in normal form: {wrong:#?}");
    }

    #[test]
    fn phrases_keep_all_their_meanings() {
        let vocab = Vocab::new();
        let find = |phrase: &str| {
            let automaton = vocab.automaton().unwrap_or_else(|| panic!("the vocabulary builds"));
            let found =
                automaton.find_overlapping_iter(phrase).find(|m| m.start() == 0 && m.end() == phrase.len());
            found.map(|m| vocab.meanings(m.pattern().as_usize()).to_vec()).unwrap_or_default()
        };
        let add = find("add");
        assert!(add.contains(&Meaning::Cue(Cue::Add)) && add.contains(&Meaning::AddMarker));
        assert_eq!(find("去冰"), vec![Meaning::Concept(Attr::Ice, Level::None)]);
        assert!(find("大杯").contains(&Meaning::Size(3)));
        assert!(find("twelve").contains(&Meaning::Number(12)));
        assert!(find("第2个").contains(&Meaning::Ordinal(2)));
    }
}
