//! [`understand`]: scanning, reading the cart, deciding the intent, and putting the
//! [`Understanding`] together.

use lantern_core::{MerchantId, OrderId};

use crate::intent::{Features, decide};
use crate::lexicon::{ItemEntry, Lexicon, is_han};
use crate::normalise::Normalised;
use crate::scan::{Token, meanings, scan};
use crate::vocab::{Attr, Cue, Level, Meaning, RefKind, Vocab};
use crate::{
    ADDRESS_CHARS_MAX, AMBIGUITIES_MAX, Ambiguity, Awaiting, CANDIDATES_MAX, COUPON_CODE_CHARS_MAX, CartLine,
    Context, Intent, ItemMention, ItemRef, LINES_MAX, Language, NOTE_CHARS_MAX, OptionRemoval, OrderRef,
    QUANTITY_MAX, Understanding,
};

/// Reads one message. Total: every input gives an answer (at worst `OutOfScope` with a low
/// confidence); see the crate documentation for the steps and their cost.
pub fn understand(lexicon: &Lexicon, context: &Context, utterance: &str) -> Understanding {
    let normalised = Normalised::new(utterance);
    let text = normalised.text.as_str();
    let vocab = lexicon.vocab();
    let index = lexicon.index();
    let scanned = scan(text, vocab, index);
    let tokens = scanned.tokens;
    let classes: Vec<Class> = tokens.iter().map(|token| classify(vocab, lexicon, token)).collect();
    let mut unsure = Vec::new();
    let mentioned = mentioned_merchant(lexicon, context, &tokens, text, &mut unsure);
    let scope = mentioned.or(context.merchant);
    let (mut generic, shop_named) = generic_phrases(text, &tokens, &classes);
    objects_of_order(vocab, text, &tokens, &classes, &mut generic);
    let mut reading = Reading::default();
    read_cart(
        &mut Reader { lexicon, context, text, tokens: &tokens, classes: &classes, scope },
        &generic,
        &mut reading,
    );
    let mut features = features(vocab, context, text, &tokens, &scanned.cues, &classes, &reading);
    features.merchant =
        mentioned.is_some() || shop_named || tokens.iter().any(|token| is_merchant_phrase(lexicon, token));
    let (intent, mut confidence) = decide(&features, context);

    let language = language_of(text);
    let mut understanding = Understanding {
        intent,
        lines: Vec::new(),
        merchant: mentioned,
        coupon_code: None,
        order_ref: None,
        address: None,
        language,
        unsure: Vec::new(),
        mentions: Vec::new(),
        confidence_pct: 0,
    };
    let resolved = resolve_drafts(lexicon, context, text, scope, &reading, intent, &mut unsure);
    understanding.mentions = resolved.mentions;
    match intent {
        Intent::Order | Intent::Remove => {
            understanding.lines = resolved.lines;
            if resolved.dropped {
                unsure.push(Ambiguity::TooManyLines);
            }
        }
        Intent::UseCoupon => understanding.coupon_code = coupon_code(utterance),
        Intent::CancelOrder | Intent::OrderStatus => {
            understanding.order_ref = Some(order_id(text, &tokens).map_or(OrderRef::Last, OrderRef::Id));
        }
        Intent::SetAddress => {
            understanding.address = address(utterance, &normalised, &tokens, vocab, context)
        }
        _ => {}
    }
    if !matches!(intent, Intent::Order | Intent::Remove | Intent::Browse) {
        unsure.retain(|ambiguity| matches!(ambiguity, Ambiguity::Merchant { .. }));
    }
    if understanding.merchant.is_none() {
        let mut merchants = understanding.lines.iter().map(|line| line.merchant);
        let first = merchants.next();
        understanding.merchant = if first.is_some() && merchants.all(|merchant| Some(merchant) == first) {
            first
        } else {
            context.merchant
        };
    }
    if matches!(intent, Intent::Order | Intent::Remove)
        && understanding.lines.is_empty()
        && !unsure.is_empty()
    {
        confidence = confidence.min(60);
    } else if !unsure.is_empty() {
        confidence = confidence.min(75);
    }
    unsure.truncate(AMBIGUITIES_MAX);
    understanding.unsure = unsure;
    understanding.confidence_pct = confidence;
    understanding
}

/// What a token is, for the cart reader.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Class {
    /// A lexicon phrase naming items.
    Item(usize),
    /// A lexicon phrase naming option choices only.
    OptionName(usize),
    Merchant,
    Separator,
    /// A number; `true` for "a" / "an".
    Quantity(u64, bool),
    Times,
    Size(u8),
    Concept(Attr, Level),
    Negation,
    AddMarker,
    With,
    Reference(RefKind),
    Ordinal(u8),
    Food,
    Classifier,
    /// A function word that neither starts nor ends anything for the cart ("the", "some").
    Filler,
    Word,
    Other,
}

fn classify(vocab: &Vocab, lexicon: &Lexicon, token: &Token) -> Class {
    // A menu name that is also one of the vocabulary's function phrases ("没有", "推荐" on a
    // dish list) reads as the function phrase.
    let functional =
        meanings(vocab, token).iter().any(|meaning| !matches!(meaning, Meaning::Food | Meaning::Cuisine));
    if let Some(phrase) = token.phrase.and_then(|pattern| lexicon.index().phrase(pattern)) {
        if phrase.names_items() && !functional {
            return Class::Item(token.phrase.unwrap_or_default());
        }
        // A choice name the vocabulary also knows ("large", "no ice") reads as the vocabulary
        // says; the choice is still found by name when the line is resolved.
        let known = meanings(vocab, token)
            .iter()
            .any(|meaning| matches!(meaning, Meaning::Size(_) | Meaning::Concept(..)));
        if phrase.option && !known {
            return Class::OptionName(token.phrase.unwrap_or_default());
        }
        if !phrase.merchants.is_empty() && token.vocab.is_none() {
            return Class::Merchant;
        }
    }
    if let Some(number) = token.number {
        return Class::Quantity(number, false);
    }
    let list = meanings(vocab, token);
    let rank = |meaning: &Meaning| -> Option<(u8, Class)> {
        Some(match *meaning {
            Meaning::Separator => (0, Class::Separator),
            Meaning::Number(value) => (1, Class::Quantity(u64::from(value), false)),
            Meaning::Article => (2, Class::Quantity(1, true)),
            Meaning::Times => (3, Class::Times),
            Meaning::Size(rank) => (4, Class::Size(rank)),
            Meaning::Concept(attr, level) => (5, Class::Concept(attr, level)),
            Meaning::Negation => (6, Class::Negation),
            Meaning::AddMarker => (7, Class::AddMarker),
            Meaning::With => (8, Class::With),
            Meaning::Reference(kind) => (9, Class::Reference(kind)),
            Meaning::Ordinal(rank) => (10, Class::Ordinal(rank)),
            Meaning::Food | Meaning::Cuisine => (11, Class::Food),
            Meaning::Classifier => (12, Class::Classifier),
            Meaning::Boundary => (13, Class::Filler),
            Meaning::Cue(_) => return None,
        })
    };
    if let Some((_, class)) = list.iter().filter_map(rank).min_by_key(|(priority, _)| *priority) {
        return class;
    }
    if token.is_word() {
        return Class::Word;
    }
    if token.phrase.is_some() && token.vocab.is_none() {
        return Class::Merchant;
    }
    Class::Other
}

fn is_merchant_phrase(lexicon: &Lexicon, token: &Token) -> bool {
    token
        .phrase
        .and_then(|pattern| lexicon.index().phrase(pattern))
        .is_some_and(|phrase| !phrase.merchants.is_empty() && !phrase.names_items())
}

/// The merchant the message names, if exactly one fits (the context's shop wins a tie).
fn mentioned_merchant(
    lexicon: &Lexicon,
    context: &Context,
    tokens: &[Token],
    text: &str,
    unsure: &mut Vec<Ambiguity>,
) -> Option<MerchantId> {
    for token in tokens {
        let Some(phrase) = token.phrase.and_then(|pattern| lexicon.index().phrase(pattern)) else { continue };
        if phrase.merchants.is_empty() || phrase.names_items() {
            continue;
        }
        if let [only] = phrase.merchants.as_slice() {
            return Some(*only);
        }
        if let Some(current) = context.merchant.filter(|current| phrase.merchants.contains(current)) {
            return Some(current);
        }
        unsure.push(Ambiguity::Merchant {
            phrase: clip(&text[token.start..token.end]),
            candidates: phrase.merchants.iter().take(CANDIDATES_MAX).copied().collect(),
        });
        return None;
    }
    None
}

/// Runs of words around a food noun that name a dish no menu holds ("general tsos chicken",
/// "麻辣香锅"): (first token, last token), in order, not overlapping; and whether a run was
/// dropped because it names a shop ("pizza hut"), which still tells that a shop is meant.
fn generic_phrases(text: &str, tokens: &[Token], classes: &[Class]) -> (Vec<(usize, usize)>, bool) {
    let mut out = Vec::new();
    let mut shop = false;
    let mut index = 0;
    while index < tokens.len() {
        if !matches!(classes[index], Class::Food | Class::Word) {
            index += 1;
            continue;
        }
        let mut stop = index;
        while stop + 1 < tokens.len()
            && matches!(classes[stop + 1], Class::Food | Class::Word)
            && adjacent(text, &tokens[stop], &tokens[stop + 1])
        {
            stop += 1;
        }
        // Trim words after the last food noun; keep a few words before the first.
        let last_food = (index..=stop).rev().find(|&at| classes[at] == Class::Food);
        if let Some(last_food) = last_food {
            let han = text[tokens[index].start..tokens[last_food].end].chars().any(is_han);
            let words_max = if han { 8 } else { 4 };
            let first = last_food.saturating_sub(words_max - 1).max(index);
            let first = (first..=last_food).find(|&at| !is_digits(text, &tokens[at])).unwrap_or(last_food);
            if names_a_shop(text, tokens, first, last_food) {
                shop = true;
            } else {
                out.push((first, last_food));
            }
        }
        index = stop + 1;
    }
    (out, shop)
}

/// English words right after "order" (and an article) that no vocabulary knows name what is
/// ordered: "order lomaine to go", "order me a byron from deliveroo". Up to three words, ended
/// by a function word, a separator or the end.
fn objects_of_order(
    vocab: &Vocab,
    text: &str,
    tokens: &[Token],
    classes: &[Class],
    generic: &mut Vec<(usize, usize)>,
) {
    let mut found = Vec::new();
    for (at, token) in tokens.iter().enumerate() {
        if !has_cue(vocab, token, Cue::Order) || !text[token.start..token.end].starts_with("order") {
            continue;
        }
        let mut first = at + 1;
        while first < tokens.len()
            && matches!(classes[first], Class::Filler | Class::Quantity(..) | Class::Classifier)
        {
            first += 1;
        }
        let mut last = first;
        while last < tokens.len() && classes[last] == Class::Word && last - first < 3 {
            last += 1;
        }
        if last == first || !text[tokens[first].start..tokens[first].end].is_ascii() {
            continue;
        }
        let ended = tokens.get(last).is_none_or(|next| {
            !matches!(classes.get(last), Some(Class::Word | Class::Food)) && next.start > tokens[last - 1].end
        });
        let taken = generic.iter().any(|&(from, to)| from < last && first <= to);
        if ended && !taken && !names_a_shop(text, tokens, first, last - 1) {
            found.push((first, last - 1));
        }
    }
    generic.extend(found);
    generic.sort_unstable();
}

/// Words after a food word that make it a shop's name ("pizza hut", "taco bell", "burger king").
const SHOP_NOUNS: &[&str] = &[
    "hut",
    "bell",
    "king",
    "express",
    "place",
    "places",
    "shop",
    "shops",
    "store",
    "stores",
    "restaurant",
    "restaurants",
    "kitchen",
    "house",
    "garden",
    "palace",
    "buffet",
    "wok",
    "junction",
    "bar",
    "cafe",
    "diner",
    "grill",
    "pizzeria",
    "shack",
    "warehouse",
    "inn",
    "joint",
    "spot",
    "spots",
    "店",
    "馆",
    "餐厅",
    "餐馆",
];

/// Words before a phrase that make it a shop ("from X", "call X", "does X deliver").
const SHOP_BEFORE: &[&str] = &["from", "at", "call", "contact", "via", "does", "if", "with"];

/// Whether a food phrase is a shop's name by what surrounds it: a phrase that no lexicon holds
/// is then not an item (HWU64 says "order pizza from pizza hut").
fn names_a_shop(text: &str, tokens: &[Token], first: usize, last: usize) -> bool {
    let word = |at: usize| tokens.get(at).map_or("", |token| &text[token.start..token.end]);
    let after = word(last + 1);
    let before = first.checked_sub(1).map_or("", word);
    SHOP_NOUNS.contains(&after) || (SHOP_BEFORE.contains(&before) && !before.is_empty())
}

fn is_digits(text: &str, token: &Token) -> bool {
    text[token.start..token.end].bytes().all(|byte| byte.is_ascii_digit())
}

/// Two tokens are adjacent when only one space (Latin) or nothing (Chinese) separates them.
fn adjacent(text: &str, left: &Token, right: &Token) -> bool {
    match text.get(left.end..right.start) {
        Some("") => true,
        Some(" ") => {
            let left_han = text[left.start..left.end].chars().any(is_han);
            let right_han = text[right.start..right.end].chars().any(is_han);
            !left_han && !right_han
        }
        _ => false,
    }
}

struct Reader<'a> {
    lexicon: &'a Lexicon,
    context: &'a Context,
    text: &'a str,
    tokens: &'a [Token],
    classes: &'a [Class],
    scope: Option<MerchantId>,
}

#[derive(Debug, Clone, Copy)]
enum Target {
    /// A lexicon phrase, resolved when the lines are built.
    Phrase(usize),
    /// A dish no menu holds.
    Unknown,
    /// An item from the context ("that one").
    Reference(ItemRef),
    /// The i-th line of the context's last order ("the same again").
    LastOrder(usize),
    /// A reference with nothing to point at.
    Missing,
}

#[derive(Debug, Clone, Copy)]
struct Ask {
    kind: AskKind,
    negated: bool,
    start: usize,
    end: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum AskKind {
    Size(u8),
    Concept(Attr, Level),
    /// A choice name from the lexicon (or an item phrase the item offers as a choice).
    Name,
    /// Free text ("onions").
    Text,
}

#[derive(Debug, Clone)]
struct Draft {
    target: Target,
    start: usize,
    end: usize,
    quantity: Option<u64>,
    asks: Vec<Ask>,
    negated: bool,
}

#[derive(Debug, Default)]
struct Pending {
    quantity: Option<u64>,
    asks: Vec<Ask>,
}

#[derive(Debug, Default)]
struct Reading {
    drafts: Vec<Draft>,
    /// A quantity with nothing to attach to ("再来两杯", "two more").
    loose_quantity: Option<u64>,
    pronoun: bool,
    reference: bool,
    strong_reference: bool,
    quantity: bool,
    options: bool,
    /// A 来/要/点/买 right before a quantity, size or item.
    zh_verb_before_goods: bool,
    remove_object: bool,
}

const MODIFIERS_MAX: usize = 16;

fn read_cart(reader: &mut Reader<'_>, generic: &[(usize, usize)], reading: &mut Reading) {
    let Reader { lexicon, context, text, tokens, classes, .. } = *reader;
    // For each token, whether an item comes later in the same segment (before a separator).
    let mut item_ahead = vec![false; tokens.len()];
    let mut seen = false;
    for at in (0..tokens.len()).rev() {
        item_ahead[at] = seen;
        match classes[at] {
            Class::Separator => seen = false,
            Class::Item(_) | Class::Food | Class::Reference(RefKind::That) | Class::Ordinal(_) => seen = true,
            _ => {}
        }
    }
    let choice_awaited = match context.awaiting {
        Some(Awaiting::Choice(n)) => usize::from(n).min(context.last_items.len()),
        _ => 0,
    };
    let has_goods = classes.iter().any(|class| matches!(class, Class::Item(_) | Class::Food));

    let mut pending = Pending::default();
    let mut current: Option<usize> = None;
    let mut negate = false;
    let mut with = false;
    let mut generic_at = generic.iter().peekable();
    let mut at = 0;
    while at < tokens.len() {
        let token = tokens[at];
        // A dish no menu holds.
        if let Some(&&(first, last)) = generic_at.peek()
            && first == at
        {
            generic_at.next();
            if negate || with {
                let ask =
                    Ask { kind: AskKind::Text, negated: negate, start: token.start, end: tokens[last].end };
                attach(reading, &mut pending, current, item_ahead[last], ask);
                negate = false;
                with = false;
            } else {
                let draft = new_draft(Target::Unknown, token.start, tokens[last].end, &mut pending, false);
                reading.drafts.push(draft);
                current = Some(reading.drafts.len() - 1);
            }
            at = last + 1;
            continue;
        }
        match classes[at] {
            Class::Item(pattern) => {
                // A name the line's item offers as a choice is that choice ("guacamole" on a
                // bowl, though "Chips and Guacamole" is on the menu too), unless an item of its
                // own is clearly meant: the phrase is an item's full name and stands alone.
                let last = current.or(reading.drafts.len().checked_sub(1));
                let offered = last
                    .and_then(|index| reading.drafts.get(index))
                    .and_then(|draft| draft_entry(reader, draft))
                    .is_some_and(|entry| offers_name(entry, &text[token.start..token.end]));
                let partial_only =
                    lexicon.index().phrase(pattern).is_some_and(|phrase| phrase.exact.is_empty());
                let as_option =
                    offered && (with || negate || ((current.is_some() || partial_only) && !item_ahead[at]));
                if as_option {
                    let ask =
                        Ask { kind: AskKind::Name, negated: negate, start: token.start, end: token.end };
                    attach(reading, &mut pending, current, false, ask);
                } else {
                    let draft =
                        new_draft(Target::Phrase(pattern), token.start, token.end, &mut pending, negate);
                    reading.drafts.push(draft);
                    current = Some(reading.drafts.len() - 1);
                }
                negate = false;
                with = false;
            }
            Class::Separator => {
                flush(reading, &mut pending, current);
                current = None;
                negate = false;
                with = false;
            }
            Class::AddMarker
                if next_significant(classes, at).is_some_and(|next| {
                    matches!(
                        classes[next],
                        Class::Quantity(..) | Class::Item(_) | Class::Food | Class::Size(_)
                    )
                }) =>
            {
                flush(reading, &mut pending, current);
                current = None;
                negate = false;
                with = false;
            }
            Class::AddMarker | Class::With => with = true,
            Class::Negation => negate = true,
            Class::Quantity(value, article) => {
                if !article {
                    reading.quantity = true;
                }
                let previous_times = previous_class(classes, at) == Some(Class::Times);
                let next = next_significant(classes, at);
                let next_goods = next.is_some_and(|next| {
                    matches!(
                        classes[next],
                        Class::Item(_)
                            | Class::Food
                            | Class::Size(_)
                            | Class::Concept(..)
                            | Class::OptionName(_)
                            | Class::Word
                            | Class::Reference(_)
                            | Class::Times
                    )
                });
                if choice_awaited > 0
                    && !has_goods
                    && !article
                    && (1..=choice_awaited as u64).contains(&value)
                {
                    let index = usize::try_from(value).unwrap_or(1) - 1;
                    if let Some(item) = context.last_items.get(index) {
                        push_reference(reading, &mut pending, &mut current, Target::Reference(*item), token);
                    }
                } else if article && with {
                    // "with a shot of vanilla": the article belongs to the option.
                } else if previous_times || (!next_goods && current.is_some()) {
                    if let Some(draft) = current.and_then(|index| reading.drafts.get_mut(index)) {
                        if draft.quantity.is_none() {
                            draft.quantity = Some(value);
                        } else {
                            pending.quantity = Some(value);
                        }
                    }
                } else if !article || next_goods {
                    pending.quantity = Some(value);
                }
            }
            Class::Size(rank) => {
                let ask =
                    Ask { kind: AskKind::Size(rank), negated: false, start: token.start, end: token.end };
                attach(reading, &mut pending, current, item_ahead[at], ask);
            }
            Class::Concept(attr, level) => {
                let ask = Ask {
                    kind: AskKind::Concept(attr, level),
                    negated: negate,
                    start: token.start,
                    end: token.end,
                };
                attach(reading, &mut pending, current, item_ahead[at], ask);
                negate = false;
                with = false;
            }
            Class::OptionName(_) => {
                let ask = Ask { kind: AskKind::Name, negated: negate, start: token.start, end: token.end };
                attach(reading, &mut pending, current, item_ahead[at], ask);
                negate = false;
                with = false;
            }
            Class::Word if negate || with => {
                // Free text after "no" / "with": up to three words, or six Chinese characters.
                let mut last = at;
                while last + 1 < tokens.len()
                    && classes[last + 1] == Class::Word
                    && adjacent(text, &tokens[last], &tokens[last + 1])
                    && last - at < 5
                {
                    last += 1;
                }
                let ask =
                    Ask { kind: AskKind::Text, negated: negate, start: token.start, end: tokens[last].end };
                attach(reading, &mut pending, current, item_ahead[last], ask);
                negate = false;
                with = false;
                at = last + 1;
                continue;
            }
            Class::Reference(RefKind::Same) => {
                reading.reference = true;
                reading.strong_reference = true;
                if context.last_order.is_empty() {
                    let target =
                        context.last_items.first().map_or(Target::Missing, |item| Target::Reference(*item));
                    push_reference(reading, &mut pending, &mut current, target, token);
                } else {
                    let quantity = pending.quantity.take();
                    for line in 0..context.last_order.len().min(LINES_MAX) {
                        let mut draft =
                            new_draft(Target::LastOrder(line), token.start, token.end, &mut pending, false);
                        if context.last_order.len() == 1 {
                            draft.quantity = quantity;
                        }
                        reading.drafts.push(draft);
                    }
                    current = None;
                }
            }
            Class::Reference(RefKind::That) if determiner(lexicon.vocab(), text, tokens, classes, at) => {}
            Class::Reference(RefKind::That) => {
                reading.reference = true;
                reading.strong_reference |= !matches!(&text[token.start..token.end], "that" | "this");
                let target =
                    context.last_items.first().map_or(Target::Missing, |item| Target::Reference(*item));
                push_reference(reading, &mut pending, &mut current, target, token);
            }
            Class::Ordinal(rank) => {
                reading.reference = true;
                reading.strong_reference = true;
                let target = context
                    .last_items
                    .get(usize::from(rank).saturating_sub(1))
                    .map_or(Target::Missing, |item| Target::Reference(*item));
                push_reference(reading, &mut pending, &mut current, target, token);
            }
            Class::Reference(RefKind::It) => reading.pronoun = true,
            Class::Other => {
                negate = false;
                with = false;
            }
            Class::Times
            | Class::Classifier
            | Class::Filler
            | Class::Merchant
            | Class::Word
            | Class::Food => {}
        }
        at += 1;
    }
    flush(reading, &mut pending, current);
    reading.loose_quantity = pending.quantity;
    reading.options = reading.drafts.iter().any(|draft| !draft.asks.is_empty());
    reading.zh_verb_before_goods = zh_verb_before_goods(lexicon.vocab(), text, tokens, classes);
    reading.remove_object = remove_object(lexicon.vocab(), tokens, classes);
}

/// "这个餐馆", "that restaurant": a demonstrative before a noun points at the noun, not at
/// an item of the context.
fn determiner(vocab: &Vocab, text: &str, tokens: &[Token], classes: &[Class], at: usize) -> bool {
    let Some(next) = tokens.get(at + 1) else { return false };
    let gap = text.get(tokens[at].end..next.start).unwrap_or("");
    let noun_like = match classes.get(at + 1) {
        Some(Class::Word | Class::Food | Class::Item(_) | Class::Other | Class::Merchant) => true,
        // "这个餐馆": a function word that is also a cue ("餐馆" is a browse cue) is a noun here.
        Some(Class::Filler) => meanings(vocab, next).iter().any(|meaning| matches!(meaning, Meaning::Cue(_))),
        _ => false,
    };
    (gap.is_empty() || gap == " ") && noun_like
}

fn new_draft(target: Target, start: usize, end: usize, pending: &mut Pending, negated: bool) -> Draft {
    Draft {
        target,
        start,
        end,
        quantity: pending.quantity.take(),
        asks: std::mem::take(&mut pending.asks),
        negated,
    }
}

fn push_reference(
    reading: &mut Reading,
    pending: &mut Pending,
    current: &mut Option<usize>,
    target: Target,
    token: Token,
) {
    reading.reference = true;
    reading.drafts.push(new_draft(target, token.start, token.end, pending, false));
    *current = Some(reading.drafts.len() - 1);
}

/// Puts an option, size or note on the current line, or keeps it for the next item when one
/// follows in the same segment ("large latte", "少糖珍珠奶茶").
fn attach(reading: &mut Reading, pending: &mut Pending, current: Option<usize>, item_ahead: bool, ask: Ask) {
    match current.and_then(|index| reading.drafts.get_mut(index)) {
        Some(draft) if !item_ahead => {
            if draft.asks.len() < MODIFIERS_MAX {
                draft.asks.push(ask);
            }
        }
        _ => {
            if pending.asks.len() < MODIFIERS_MAX {
                pending.asks.push(ask);
            }
        }
    }
}

/// At a separator or the end: options with no item of their own go to the last line. With a
/// smaller quantity ("two lattes, one with oat milk") they split it.
fn flush(reading: &mut Reading, pending: &mut Pending, current: Option<usize>) {
    if pending.asks.is_empty() {
        return;
    }
    let asks = std::mem::take(&mut pending.asks);
    let last = current.or(reading.drafts.len().checked_sub(1));
    let Some(draft) = last.and_then(|index| reading.drafts.get_mut(index)) else {
        return;
    };
    let split = match (pending.quantity, draft.quantity) {
        (Some(part), Some(whole)) if part < whole => Some(part),
        _ => None,
    };
    match split {
        Some(part) => {
            let mut twin = draft.clone();
            draft.quantity = draft.quantity.map(|whole| whole - part);
            twin.quantity = Some(part);
            twin.asks.extend(asks);
            twin.asks.truncate(MODIFIERS_MAX);
            pending.quantity = None;
            reading.drafts.push(twin);
        }
        None => {
            draft.asks.extend(asks);
            draft.asks.truncate(MODIFIERS_MAX);
        }
    }
}

fn next_significant(classes: &[Class], at: usize) -> Option<usize> {
    (at + 1..classes.len()).find(|&next| !matches!(classes[next], Class::Classifier | Class::Filler))
}

fn previous_class(classes: &[Class], at: usize) -> Option<Class> {
    (0..at)
        .rev()
        .map(|previous| classes[previous])
        .find(|class| !matches!(class, Class::Filler | Class::Classifier))
}

fn draft_entry<'a>(reader: &Reader<'a>, draft: &Draft) -> Option<&'a ItemEntry> {
    match draft.target {
        Target::Phrase(pattern) => {
            let phrase = reader.lexicon.index().phrase(pattern)?;
            let candidates = candidates(reader.lexicon, phrase, reader.scope);
            match candidates.refs.as_slice() {
                [only] => reader.lexicon.item_of(*only),
                _ => None,
            }
        }
        Target::Reference(item) => reader.lexicon.item_of(item),
        _ => None,
    }
}

fn offers_name(entry: &ItemEntry, name: &str) -> bool {
    entry.choices.iter().any(|choice| choice.names.iter().any(|held| held == name))
}

/// A remove cue with an object next to it: "remove the muffin", "delete that one", "remove
/// it", "蓝莓松饼删掉". A cue with no item or reference beside it ("take out service", "去掉香菜"
/// on a noodle order) removes nothing from the cart.
fn remove_object(vocab: &Vocab, tokens: &[Token], classes: &[Class]) -> bool {
    let object = |class: Class| matches!(class, Class::Item(_) | Class::Reference(_) | Class::Ordinal(_));
    tokens.iter().enumerate().any(|(at, token)| {
        if !has_cue(vocab, token, Cue::Remove) {
            return false;
        }
        // The object is the next token, or the one after a single article or quantity ("remove
        // the muffin", "remove one latte"); or, in Chinese order, the item just before.
        let after = match classes.get(at + 1) {
            Some(Class::Filler | Class::Quantity(..) | Class::Classifier) => classes.get(at + 2),
            next => next,
        };
        let before = at.checked_sub(1).and_then(|previous| classes.get(previous));
        after.is_some_and(|class| object(*class))
            || before.is_some_and(|class| matches!(class, Class::Item(_)))
    })
}

fn has_cue(vocab: &Vocab, token: &Token, cue: Cue) -> bool {
    meanings(vocab, token).contains(&Meaning::Cue(cue))
}

fn zh_verb_before_goods(vocab: &Vocab, text: &str, tokens: &[Token], classes: &[Class]) -> bool {
    tokens.iter().enumerate().any(|(at, token)| {
        has_cue(vocab, token, Cue::ZhVerb)
            && tokens.get(at + 1).is_some_and(|next| {
                next.start == token.end
                    && (matches!(
                        classes[at + 1],
                        Class::Quantity(..)
                            | Class::Item(_)
                            | Class::Size(_)
                            | Class::Classifier
                            | Class::Food
                            | Class::Concept(..)
                    ) || (classes[at + 1] == Class::Word
                        && text[next.start..next.end].chars().any(is_han)))
            })
    })
}

fn features(
    vocab: &Vocab,
    context: &Context,
    text: &str,
    tokens: &[Token],
    cues: &[(usize, usize, usize)],
    classes: &[Class],
    reading: &Reading,
) -> Features {
    let mut f = Features::default();
    for &(start, _, pattern) in cues {
        for meaning in vocab.meanings(pattern) {
            if let Meaning::Cue(cue) = meaning {
                // "谢谢你的推荐", "thanks for your help": the thing thanked for, not a request.
                let object_of_thanks = matches!(cue, Cue::Browse | Cue::BrowseWeak | Cue::Help)
                    && is_thanked_for(&text[..start]);
                if !object_of_thanks {
                    f.note(*cue, start);
                }
            }
        }
    }
    f.items = reading
        .drafts
        .iter()
        .filter(|draft| matches!(draft.target, Target::Phrase(_)) && !draft.negated)
        .count();
    let negated = reading.drafts.iter().filter(|draft| draft.negated).count();
    f.negated_item = negated > 0 && f.items == 0;
    // A remove cue counts only with an object ("remove the muffin", "remove it").
    if reading.remove_object {
        f.note(Cue::Remove, 0);
    } else {
        f.forget(Cue::Remove);
    }
    f.pronoun = reading.pronoun && !context.last_items.is_empty();
    f.foods = reading.drafts.iter().filter(|draft| matches!(draft.target, Target::Unknown)).count();
    f.quantity = reading.quantity || reading.loose_quantity.is_some();
    f.reference = reading.reference;
    f.strong_reference = reading.strong_reference;
    f.zh_verb_before_goods = reading.zh_verb_before_goods;
    f.options = reading.options;
    f.question = is_question(text);
    f.english = language_of(text) == Language::En;
    f.code = looks_like_code_in(text);
    f.order_id = order_id(text, tokens).is_some();
    f.words = tokens.iter().zip(classes).filter(|(_, class)| !matches!(class, Class::Separator)).count();
    f
}

fn is_thanked_for(before: &str) -> bool {
    if !(before.contains('谢') || before.contains("thank")) {
        return false;
    }
    let before = before.trim_end();
    ["的", "for the", "for your", "for all the", "for all your", "for that", "for this"]
        .iter()
        .any(|tail| before.ends_with(tail))
}

fn is_question(text: &str) -> bool {
    if text.contains('?')
        || text.contains('吗')
        || text.contains("什么")
        || text.contains('哪')
        || text.contains("多少")
    {
        return true;
    }
    let first = text.split(' ').next().unwrap_or("");
    matches!(
        first,
        "what"
            | "what's"
            | "which"
            | "how"
            | "where"
            | "where's"
            | "when"
            | "why"
            | "who"
            | "do"
            | "does"
            | "is"
            | "are"
    )
}

fn language_of(text: &str) -> Language {
    let han = text.chars().filter(|c| is_han(*c)).count();
    let latin_words = text.split(|c: char| !c.is_ascii_alphabetic()).filter(|word| !word.is_empty()).count();
    if han > 0 && han >= latin_words { Language::Zh } else { Language::En }
}

struct Candidates {
    refs: Vec<ItemRef>,
    /// The shop in scope does not sell it: the candidates come from other shops.
    outside_scope: bool,
}

/// The items a phrase names, in the scope's shop first; at most `CANDIDATES_MAX + 1`, enough
/// to know whether there is more than one.
fn candidates(lexicon: &Lexicon, phrase: &crate::lexicon::Phrase, scope: Option<MerchantId>) -> Candidates {
    if let Some(merchant) = scope
        && let Some(catalog) = lexicon.catalog_of(merchant)
    {
        for hits in [&phrase.exact, &phrase.partial] {
            let first = hits.partition_point(|hit| hit.catalog < catalog);
            let refs: Vec<ItemRef> = hits[first..]
                .iter()
                .take_while(|hit| hit.catalog == catalog)
                .filter_map(|hit| lexicon.item(*hit))
                .map(|entry| ItemRef { merchant, item: entry.id })
                .take(CANDIDATES_MAX + 1)
                .collect();
            if !refs.is_empty() {
                return Candidates { refs, outside_scope: false };
            }
        }
    }
    for hits in [&phrase.exact, &phrase.partial] {
        let mut refs = Vec::new();
        'hits: for hit in hits {
            let (Some(entry), Some(catalog)) = (lexicon.item(*hit), lexicon.catalog(hit.catalog)) else {
                continue;
            };
            for merchant in &catalog.merchants {
                refs.push(ItemRef { merchant: *merchant, item: entry.id });
                if refs.len() > CANDIDATES_MAX {
                    break 'hits;
                }
            }
        }
        if !refs.is_empty() {
            return Candidates { refs, outside_scope: scope.is_some() };
        }
    }
    Candidates { refs: Vec::new(), outside_scope: false }
}

struct Resolved {
    lines: Vec<CartLine>,
    mentions: Vec<ItemMention>,
    dropped: bool,
}

fn resolve_drafts(
    lexicon: &Lexicon,
    context: &Context,
    text: &str,
    scope: Option<MerchantId>,
    reading: &Reading,
    intent: Intent,
    unsure: &mut Vec<Ambiguity>,
) -> Resolved {
    let mut out = Resolved { lines: Vec::new(), mentions: Vec::new(), dropped: false };
    let removing = intent == Intent::Remove;
    let any_negated = reading.drafts.iter().any(|draft| draft.negated);
    let push = |out: &mut Resolved, line: CartLine| {
        if out.lines.len() < LINES_MAX {
            out.lines.push(line);
        } else {
            out.dropped = true;
        }
    };
    for draft in &reading.drafts {
        let wanted = if removing { draft.negated || !any_negated } else { !draft.negated };
        let phrase_text = clip(text.get(draft.start..draft.end).unwrap_or(""));
        match draft.target {
            Target::Phrase(pattern) => {
                let Some(phrase) = lexicon.index().phrase(pattern) else { continue };
                let found = candidates(lexicon, phrase, scope);
                let single = match found.refs.as_slice() {
                    [only] if !found.outside_scope => Some(*only),
                    _ => None,
                };
                out.mentions.push(ItemMention { text: phrase_text.clone(), resolved: single.is_some() });
                if !wanted {
                    continue;
                }
                match single {
                    Some(item) => {
                        let line = build_line(lexicon, text, item, draft, unsure);
                        push(&mut out, line);
                    }
                    None if !found.refs.is_empty() => {
                        let mut candidates = found.refs;
                        candidates.truncate(CANDIDATES_MAX);
                        unsure.push(Ambiguity::Item { phrase: phrase_text, candidates });
                    }
                    None => {}
                }
            }
            Target::Unknown => out.mentions.push(ItemMention { text: phrase_text, resolved: false }),
            Target::Reference(item) if wanted => {
                let mut line = build_line(lexicon, text, item, draft, unsure);
                line.from_reference = true;
                push(&mut out, line);
            }
            Target::LastOrder(index) if wanted => {
                if let Some(previous) = context.last_order.get(index) {
                    let mut line = previous.clone();
                    line.from_reference = true;
                    if let Some(quantity) = draft.quantity {
                        line.quantity = capped_quantity(quantity, unsure);
                    }
                    push(&mut out, line);
                }
            }
            Target::Missing if wanted => unsure.push(Ambiguity::Reference { phrase: phrase_text }),
            Target::Reference(_) | Target::LastOrder(_) | Target::Missing => {}
        }
    }
    // "Another one", "再来两杯", "remove it": the last item, when nothing else was named.
    let named =
        reading.drafts.iter().any(|draft| matches!(draft.target, Target::Phrase(_) | Target::Unknown));
    if out.lines.is_empty()
        && !named
        && matches!(intent, Intent::Order | Intent::Remove)
        && let Some(item) = context.last_items.first()
    {
        let draft = Draft {
            target: Target::Reference(*item),
            start: 0,
            end: 0,
            quantity: reading.loose_quantity,
            asks: Vec::new(),
            negated: false,
        };
        let mut line = build_line(lexicon, text, *item, &draft, unsure);
        line.from_reference = true;
        push(&mut out, line);
    }
    out
}

fn capped_quantity(asked: u64, unsure: &mut Vec<Ambiguity>) -> u32 {
    if asked > u64::from(QUANTITY_MAX) {
        unsure.push(Ambiguity::Quantity { asked });
        return QUANTITY_MAX;
    }
    u32::try_from(asked).unwrap_or(QUANTITY_MAX).max(1)
}

/// A cart line for `item`, with the draft's quantity and its options resolved against the
/// item's choices.
fn build_line(
    lexicon: &Lexicon,
    text: &str,
    item: ItemRef,
    draft: &Draft,
    unsure: &mut Vec<Ambiguity>,
) -> CartLine {
    let mut line = CartLine {
        merchant: item.merchant,
        item: item.item,
        quantity: draft.quantity.map_or(1, |quantity| capped_quantity(quantity, unsure)),
        size: None,
        options_added: Vec::new(),
        options_removed: Vec::new(),
        options_unknown: Vec::new(),
        from_reference: false,
    };
    let entry = lexicon.item_of(item);
    for ask in &draft.asks {
        let said = text.get(ask.start..ask.end).unwrap_or("");
        apply_ask(entry, item, ask, said, &mut line, unsure);
    }
    line
}

fn apply_ask(
    entry: Option<&ItemEntry>,
    item: ItemRef,
    ask: &Ask,
    said: &str,
    line: &mut CartLine,
    unsure: &mut Vec<Ambiguity>,
) {
    let choices = entry.map(|entry| entry.choices.as_slice()).unwrap_or(&[]);
    // A choice named exactly so first ("Roasted Chili Corn Salsa" rather than "Roasted Chili
    // Corn Salsa (Medium)", whose short form is the same), then any of the choices' forms.
    let by_name = choices
        .iter()
        .find(|choice| choice.names.first().is_some_and(|name| name == said))
        .or_else(|| choices.iter().find(|choice| choice.names.iter().any(|name| name == said)));
    let choice = match (by_name, ask.kind) {
        (Some(choice), _) => Some(choice),
        (None, AskKind::Size(rank)) => {
            let sizes = || choices.iter().filter(|choice| choice.kind == lantern_core::OptionKind::Size);
            let found = sizes().find(|choice| choice.size_rank == Some(rank)).or_else(|| {
                // "Venti" on a menu whose largest is "large".
                if rank == 4 { sizes().rfind(|choice| choice.size_rank == Some(3)) } else { None }
            });
            if found.is_none() && sizes().next().is_some() {
                unsure.push(Ambiguity::Size {
                    item,
                    phrase: clip(said),
                    choices: sizes().map(|choice| choice.id).collect(),
                });
            }
            found
        }
        (None, AskKind::Concept(attr, level)) => {
            let exact = choices.iter().find(|choice| choice.concept == Some((attr, level)));
            exact.or_else(|| {
                // Close enough: a "light" sugar is the menu's "less" and the other way round.
                let near = match level {
                    Level::Light => Some(Level::Less),
                    Level::Less => Some(Level::Light),
                    _ => None,
                };
                near.and_then(|near| choices.iter().find(|choice| choice.concept == Some((attr, near))))
            })
        }
        (None, AskKind::Name | AskKind::Text) => None,
    };
    match choice {
        Some(choice) if choice.kind == lantern_core::OptionKind::Size && !ask.negated => {
            line.size = Some(choice.id)
        }
        Some(choice) if ask.negated && !matches!(ask.kind, AskKind::Concept(..)) => {
            let removal = OptionRemoval::Choice(choice.id);
            if !line.options_removed.contains(&removal) {
                line.options_removed.push(removal);
            }
        }
        Some(choice) => {
            // One choice per single-choice group: the later word wins ("少糖... 半糖").
            line.options_added.retain(|held| {
                choices
                    .iter()
                    .find(|other| other.id == *held)
                    .is_none_or(|other| other.group != choice.group || !single_choice(choices, choice.group))
            });
            if !line.options_added.contains(&choice.id) {
                line.options_added.push(choice.id);
            }
        }
        None => {
            let removal_text = match ask.kind {
                AskKind::Concept(attr, Level::None) => Some(attr_noun(attr).to_owned()),
                AskKind::Text | AskKind::Name if ask.negated => Some(clip(said)),
                _ => None,
            };
            match removal_text {
                Some(text) => {
                    let removal = OptionRemoval::Text(text);
                    if !line.options_removed.contains(&removal) {
                        line.options_removed.push(removal);
                    }
                }
                None if !matches!(ask.kind, AskKind::Size(_)) => {
                    let text = clip(said);
                    if !text.is_empty() && !line.options_unknown.contains(&text) {
                        line.options_unknown.push(text);
                    }
                }
                None => {}
            }
        }
    }
}

/// Whether the group holds sugar, ice or temperature levels (one at a time by nature), judged
/// by its choices' concepts, since the lexicon does not keep `max_choices`.
fn single_choice(choices: &[crate::lexicon::ChoiceEntry], group: u8) -> bool {
    choices.iter().filter(|choice| choice.group == group).any(|choice| {
        matches!(choice.concept, Some((Attr::Sugar | Attr::Ice | Attr::Temperature, _)))
            || choice.kind == lantern_core::OptionKind::Size
    })
}

fn attr_noun(attr: Attr) -> &'static str {
    match attr {
        Attr::Sugar => "sugar",
        Attr::Ice => "ice",
        Attr::Temperature => "heat",
        Attr::Shot => "shot",
        Attr::Caffeine => "caffeine",
    }
}

fn clip(text: &str) -> String {
    text.chars().take(NOTE_CHARS_MAX).collect::<String>().trim().to_owned()
}

/// Words around a coupon code that are not the code.
const NOT_A_CODE: &[&str] = &[
    "USE", "APPLY", "COUPON", "COUPONS", "CODE", "PROMO", "VOUCHER", "THE", "MY", "PLEASE", "OK", "OKAY",
    "REDEEM", "THIS", "THAT", "WITH", "AND", "FOR", "DISCOUNT", "CAN", "YOU", "ENTER", "ADD",
];

fn code_candidates(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .map(|word| word.trim_matches(|c| c == '-' || c == '_'))
        .filter(|word| (3..=COUPON_CODE_CHARS_MAX).contains(&word.len()))
}

fn is_code(word: &str) -> bool {
    let digits = word.bytes().any(|byte| byte.is_ascii_digit());
    let letters = word.bytes().any(|byte| byte.is_ascii_alphabetic());
    let upper = word.bytes().all(|byte| !byte.is_ascii_lowercase()) && letters && word.len() >= 4;
    ((digits && letters) || upper) && !NOT_A_CODE.contains(&word.to_ascii_uppercase().as_str())
}

/// Whether the normalised (lowercase) text holds something shaped like a code: letters and
/// digits together ("spring25").
fn looks_like_code_in(text: &str) -> bool {
    code_candidates(text).any(|word| {
        word.bytes().any(|byte| byte.is_ascii_digit())
            && word.bytes().any(|byte| byte.is_ascii_alphabetic())
            && !word.starts_with("ord")
    })
}

/// The coupon code as the shopper wrote it: a word of letters and digits, or all capitals, or
/// the word after "code" / "coupon".
fn coupon_code(original: &str) -> Option<String> {
    let words: Vec<&str> = code_candidates(original).collect();
    if let Some(word) = words.iter().find(|word| is_code(word)) {
        return Some((*word).to_owned());
    }
    words
        .windows(2)
        .find(|pair| {
            matches!(pair[0].to_ascii_lowercase().as_str(), "code" | "coupon" | "voucher" | "promo")
                && !NOT_A_CODE.contains(&pair[1].to_ascii_uppercase().as_str())
        })
        .map(|pair| pair[1].to_owned())
}

/// An order id: `ord_42`, `#42`, "order number 42", 订单号42, or "order 4211" (three digits or
/// more, so that "order 2 lattes" is not an id).
fn order_id(text: &str, tokens: &[Token]) -> Option<OrderId> {
    if let Some(at) = text.find("ord_") {
        let digits: String = text[at + 4..].chars().take_while(char::is_ascii_digit).collect();
        if let Ok(id) = OrderId::parse(&digits) {
            return Some(id);
        }
    }
    for (index, token) in tokens.iter().enumerate() {
        let Some(value) = token.number else { continue };
        let before = text[..token.start].trim_end();
        let marked = before.ends_with('#')
            || before.ends_with("order number")
            || before.ends_with("order no.")
            || before.ends_with("订单号")
            || before.ends_with("订单")
            || (before.ends_with("order") && token.end - token.start >= 3);
        let then_item = tokens.get(index + 1).is_some_and(|next| next.phrase.is_some());
        if marked && !then_item {
            return Some(OrderId::new(value));
        }
    }
    None
}

/// The address after an address cue, as written; or the whole message when the agent asked for
/// one.
fn address(
    utterance: &str,
    normalised: &Normalised,
    tokens: &[Token],
    vocab: &Vocab,
    context: &Context,
) -> Option<String> {
    let cue_end = tokens.iter().find(|token| has_cue(vocab, token, Cue::Address)).map(|token| token.end);
    let start = match cue_end {
        Some(end) => end,
        None if context.awaiting == Some(Awaiting::Address) => 0,
        None => return None,
    };
    let (from, to) = normalised.original_span(start, normalised.text.len());
    let original = utterance.get(from..to)?;
    let trimmed = original
        .trim_start_matches(|c: char| c.is_whitespace() || matches!(c, ':' | '：' | ',' | '，' | '-'))
        .trim_start_matches("is ")
        .trim_end_matches(|c: char| c.is_whitespace() || matches!(c, '.' | '。' | '!' | '！' | ',' | '，'));
    let address: String = trimmed.chars().take(ADDRESS_CHARS_MAX).collect();
    if address.chars().any(char::is_alphanumeric) { Some(address) } else { None }
}
