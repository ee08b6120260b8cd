//! [`Lexicon`]: the names the fast path matches (items, aliases, option choices, merchants),
//! kept per menu and compiled into one Aho-Corasick automaton.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};
use lantern_catalog_io::Menu;
use lantern_core::{CatalogId, ItemId, MerchantId, OptionId, OptionKind};
use rustc_hash::FxHashMap;

use crate::normalise;
use crate::vocab::{Attr, Level, Meaning, Vocab};

/// Everything [`understand`](crate::understand) matches against: the built-in vocabulary and
/// the menus of the merchants it holds.
///
/// Merchants that share a menu (outlets of a chain with the same [`CatalogId`]) share its
/// entries, so a chain of thousands of outlets costs one menu. Upserting a merchant replaces
/// the entries of its menu's catalog id (for every merchant on that catalog: the latest menu
/// uploaded under an id is the menu of that id).
///
/// **Cost of changes:** [`upsert_merchant`](Lexicon::upsert_merchant) indexes the one menu
/// (linear in its names) and [`remove_merchant`](Lexicon::remove_merchant) is a hash lookup;
/// both mark the automaton stale. The automaton is rebuilt once, lazily, on the next
/// [`understand`](crate::understand) (or [`prepare`](Lexicon::prepare)): linear in all names
/// held, about 0.3 s for 10,000 bilingual items in a release build. Load many menus, then
/// prepare once.
#[derive(Debug, Clone)]
pub struct Lexicon {
    vocab: Vocab,
    catalogs: FxHashMap<CatalogId, CatalogEntry>,
    merchants: FxHashMap<MerchantId, MerchantEntry>,
    index: OnceLock<Index>,
}

#[derive(Debug, Clone)]
pub(crate) struct CatalogEntry {
    pub(crate) items: Vec<ItemEntry>,
    /// Sorted, so "does this shop use this menu" is a binary search.
    pub(crate) merchants: Vec<MerchantId>,
}

#[derive(Debug, Clone)]
pub(crate) struct ItemEntry {
    pub(crate) id: ItemId,
    /// Full names, each script's part of a bilingual name, aliases: an exact match.
    exact_names: Vec<String>,
    /// Word suffixes of English names ("muffin" for "blueberry muffin") and character suffixes
    /// of Chinese ones ("奶茶" for "珍珠奶茶"): a partial match, beaten by any exact one.
    partial_names: Vec<String>,
    pub(crate) choices: Vec<ChoiceEntry>,
}

#[derive(Debug, Clone)]
pub(crate) struct ChoiceEntry {
    pub(crate) id: OptionId,
    pub(crate) kind: OptionKind,
    /// The group this choice belongs to (index in the item's groups).
    pub(crate) group: u8,
    /// Normalised names (full, each script's part, shortened forms).
    pub(crate) names: Vec<String>,
    /// What the choice means, when its name says it in words the vocabulary knows.
    pub(crate) concept: Option<(Attr, Level)>,
    /// For size choices: 1 small, 2 medium, 3 large, 4 extra large.
    pub(crate) size_rank: Option<u8>,
}

#[derive(Debug, Clone)]
struct MerchantEntry {
    catalog: CatalogId,
    names: Vec<String>,
}

/// The compiled automaton and what each of its patterns means.
#[derive(Debug, Clone)]
pub(crate) struct Index {
    automaton: Option<AhoCorasick>,
    phrases: Vec<Phrase>,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Phrase {
    /// Items this phrase names exactly, sorted by (catalog, item index).
    pub(crate) exact: Vec<ItemHit>,
    /// Items this phrase names partially, sorted likewise.
    pub(crate) partial: Vec<ItemHit>,
    /// Some choice on some menu has this name.
    pub(crate) option: bool,
    pub(crate) merchants: Vec<MerchantId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ItemHit {
    pub(crate) catalog: CatalogId,
    pub(crate) item: u32,
}

impl Default for Lexicon {
    fn default() -> Lexicon {
        Lexicon::new()
    }
}

impl Lexicon {
    /// The built-in vocabulary and no menus.
    pub fn new() -> Lexicon {
        Lexicon {
            vocab: Vocab::new(),
            catalogs: FxHashMap::default(),
            merchants: FxHashMap::default(),
            index: OnceLock::new(),
        }
    }

    /// Adds a merchant with its menu, or replaces what the lexicon held for it (its name, and
    /// the entries of its menu's catalog id). Item descriptions are not read.
    pub fn upsert_merchant(&mut self, merchant: MerchantId, merchant_name: &str, menu: &Menu) {
        self.detach(merchant);
        let catalog_id = menu.catalog().id();
        let items = menu
            .catalog()
            .items()
            .iter()
            .zip(menu.extras())
            .map(|(item, extras)| index_item(&self.vocab, item, &extras.aliases))
            .collect();
        let catalog = self
            .catalogs
            .entry(catalog_id)
            .or_insert_with(|| CatalogEntry { items: Vec::new(), merchants: Vec::new() });
        catalog.items = items;
        if let Err(at) = catalog.merchants.binary_search(&merchant) {
            catalog.merchants.insert(at, merchant);
        }
        self.merchants
            .insert(merchant, MerchantEntry { catalog: catalog_id, names: merchant_names(merchant_name) });
        self.index = OnceLock::new();
    }

    /// Forgets a merchant (and its menu, when no other merchant uses it). Unknown merchants
    /// are ignored.
    pub fn remove_merchant(&mut self, merchant: MerchantId) {
        if self.detach(merchant) {
            self.index = OnceLock::new();
        }
    }

    /// Builds the automaton now if the menus changed since it was last built, so the next
    /// [`understand`](crate::understand) does not pay for it.
    pub fn prepare(&self) {
        let _ = self.index();
    }

    /// How many merchants and distinct menus (catalog ids) the lexicon holds.
    pub fn counts(&self) -> (usize, usize) {
        (self.merchants.len(), self.catalogs.len())
    }

    pub fn is_empty(&self) -> bool {
        self.merchants.is_empty()
    }

    fn detach(&mut self, merchant: MerchantId) -> bool {
        let Some(entry) = self.merchants.remove(&merchant) else {
            return false;
        };
        if let Some(catalog) = self.catalogs.get_mut(&entry.catalog) {
            catalog.merchants.retain(|held| *held != merchant);
            if catalog.merchants.is_empty() {
                self.catalogs.remove(&entry.catalog);
            }
        }
        true
    }

    pub(crate) fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    pub(crate) fn index(&self) -> &Index {
        self.index.get_or_init(|| build_index(&self.catalogs, &self.merchants))
    }

    pub(crate) fn catalog(&self, id: CatalogId) -> Option<&CatalogEntry> {
        self.catalogs.get(&id)
    }

    pub(crate) fn catalog_of(&self, merchant: MerchantId) -> Option<CatalogId> {
        self.merchants.get(&merchant).map(|entry| entry.catalog)
    }

    pub(crate) fn item(&self, hit: ItemHit) -> Option<&ItemEntry> {
        self.catalogs.get(&hit.catalog).and_then(|catalog| catalog.items.get(hit.item as usize))
    }

    /// The item entry behind an item reference, if the lexicon holds it.
    pub(crate) fn item_of(&self, item: crate::ItemRef) -> Option<&ItemEntry> {
        let catalog = self.catalogs.get(&self.catalog_of(item.merchant)?)?;
        catalog.items.iter().find(|entry| entry.id == item.item)
    }
}

impl Index {
    pub(crate) fn automaton(&self) -> Option<&AhoCorasick> {
        self.automaton.as_ref()
    }

    pub(crate) fn phrase(&self, pattern: usize) -> Option<&Phrase> {
        self.phrases.get(pattern)
    }
}

impl Phrase {
    pub(crate) fn names_items(&self) -> bool {
        !self.exact.is_empty() || !self.partial.is_empty()
    }
}

fn build_index(
    catalogs: &FxHashMap<CatalogId, CatalogEntry>,
    merchants: &FxHashMap<MerchantId, MerchantEntry>,
) -> Index {
    let mut ids: FxHashMap<&str, usize> = FxHashMap::default();
    let mut texts: Vec<&str> = Vec::new();
    let mut phrases: Vec<Phrase> = Vec::new();
    // Catalogs in id order, so that candidates come out in a stable order.
    let mut catalog_ids: Vec<&CatalogId> = catalogs.keys().collect();
    catalog_ids.sort();
    for catalog_id in catalog_ids {
        let Some(catalog) = catalogs.get(catalog_id) else { continue };
        for (item_index, item) in catalog.items.iter().enumerate() {
            let hit = ItemHit { catalog: *catalog_id, item: u32::try_from(item_index).unwrap_or(u32::MAX) };
            for name in &item.exact_names {
                let at = intern(name, &mut ids, &mut texts, &mut phrases);
                if let Some(phrase) = phrases.get_mut(at)
                    && phrase.exact.last() != Some(&hit)
                {
                    phrase.exact.push(hit);
                }
            }
            for name in &item.partial_names {
                let at = intern(name, &mut ids, &mut texts, &mut phrases);
                if let Some(phrase) = phrases.get_mut(at)
                    && phrase.exact.last() != Some(&hit)
                    && phrase.partial.last() != Some(&hit)
                {
                    phrase.partial.push(hit);
                }
            }
            for choice in &item.choices {
                for name in &choice.names {
                    let at = intern(name, &mut ids, &mut texts, &mut phrases);
                    if let Some(phrase) = phrases.get_mut(at) {
                        phrase.option = true;
                    }
                }
            }
        }
    }
    let mut merchant_ids: Vec<(&MerchantId, &MerchantEntry)> = merchants.iter().collect();
    merchant_ids.sort_by_key(|(id, _)| **id);
    for (merchant, entry) in merchant_ids {
        for name in &entry.names {
            let at = intern(name, &mut ids, &mut texts, &mut phrases);
            if let Some(phrase) = phrases.get_mut(at) {
                phrase.merchants.push(*merchant);
            }
        }
    }
    for phrase in &mut phrases {
        // An item both exactly and partially named by a phrase counts as exact only.
        let exact = std::mem::take(&mut phrase.exact);
        phrase.partial.retain(|hit| exact.binary_search(hit).is_err());
        phrase.exact = exact;
    }
    let automaton = if texts.is_empty() {
        None
    } else {
        AhoCorasick::builder().match_kind(MatchKind::Standard).build(&texts).ok()
    };
    Index { automaton, phrases }
}

fn intern<'a>(
    text: &'a str,
    ids: &mut FxHashMap<&'a str, usize>,
    texts: &mut Vec<&'a str>,
    phrases: &mut Vec<Phrase>,
) -> usize {
    *ids.entry(text).or_insert_with(|| {
        texts.push(text);
        phrases.push(Phrase::default());
        phrases.len() - 1
    })
}

/// Words that never make a partial item name on their own.
const PARTIAL_STOP: &[&str] = &[
    "and", "with", "of", "the", "a", "an", "or", "in", "on", "no", "large", "small", "medium", "hot", "iced",
    "special", "classic", "original", "new", "regular", "plain", "fresh", "house", "side", "combo", "meal",
    "set", "pack", "single", "double",
];

fn index_item(vocab: &Vocab, item: &lantern_core::Item, aliases: &[String]) -> ItemEntry {
    let mut exact_names = Vec::new();
    let mut partial_names = Vec::new();
    for name in std::iter::once(&item.name).chain(aliases.iter()) {
        for part in name_forms(name) {
            push_unique(&mut exact_names, part);
        }
    }
    for name in exact_names.clone() {
        for partial in partial_forms(&name) {
            if !exact_names.contains(&partial) {
                push_unique(&mut partial_names, partial);
            }
        }
    }
    let mut choices = Vec::new();
    for (group_index, group) in item.option_groups.iter().enumerate() {
        let group_at = u8::try_from(group_index).unwrap_or(u8::MAX);
        let start = choices.len();
        for choice in &group.choices {
            let names = choice_forms(&choice.name);
            let concept = names.iter().find_map(|name| concept_of(vocab, name));
            let size_rank = if group.kind == OptionKind::Size {
                names.iter().find_map(|name| size_of(vocab, name))
            } else {
                None
            };
            choices.push(ChoiceEntry {
                id: choice.id,
                kind: group.kind,
                group: group_at,
                names,
                concept,
                size_rank,
            });
        }
        if group.kind == OptionKind::Size {
            rank_sizes_by_price(&mut choices[start..], &group.choices);
        }
    }
    ItemEntry { id: item.id, exact_names, partial_names, choices }
}

/// When no size name says small / medium / large, rank the choices by their price delta, so
/// that "large" still finds the dearest of two.
fn rank_sizes_by_price(choices: &mut [ChoiceEntry], options: &[lantern_core::ItemOption]) {
    if choices.iter().any(|choice| choice.size_rank.is_some()) {
        return;
    }
    let ranks: &[u8] = match choices.len() {
        1 => &[2],
        2 => &[2, 3],
        3 => &[1, 2, 3],
        4 => &[1, 2, 3, 4],
        _ => return,
    };
    let mut order: Vec<usize> = (0..choices.len()).collect();
    order.sort_by_key(|&index| options.get(index).map(|option| option.price_delta.fen()).unwrap_or(0));
    for (rank, index) in ranks.iter().zip(order) {
        if let Some(choice) = choices.get_mut(index) {
            choice.size_rank = Some(*rank);
        }
    }
}

/// The forms of a name that count as exactly that name: the whole name, the name without a
/// parenthesised part, and each script's part of a bilingual name ("珍珠奶茶 Pearl Milk Tea").
pub(crate) fn name_forms(name: &str) -> Vec<String> {
    let full = normalise(name);
    let mut forms = Vec::new();
    push_unique(&mut forms, full.clone());
    let without_brackets = strip_brackets(&full);
    push_unique(&mut forms, without_brackets.clone());
    for part in script_parts(&without_brackets) {
        push_unique(&mut forms, part);
    }
    // A name part of digits and signs only ("1/2" of "1/2只烤鸭") names nothing, and a Latin
    // name of one or two letters ("S", "AS") would match ordinary words.
    forms.retain(|form| {
        form.chars().any(|c| c.is_alphabetic()) && (form.chars().any(is_han) || form.len() >= 3)
    });
    forms
}

/// Word suffixes of Latin parts ("milk tea", "tea") and character suffixes (two or more) of
/// Chinese parts of three or more characters ("奶茶").
fn partial_forms(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    if name.chars().any(is_han) {
        let chars: Vec<char> = name.chars().collect();
        if chars.len() >= 3 && chars.iter().all(|c| is_han(*c)) {
            for start in 1..=chars.len() - 2 {
                out.push(chars[start..].iter().collect());
            }
        }
        return out;
    }
    let words: Vec<&str> = name.split(' ').filter(|word| !word.is_empty()).collect();
    for start in 1..words.len() {
        let Some(first) = words.get(start) else { continue };
        if PARTIAL_STOP.contains(first) || first.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let suffix = words[start..].join(" ");
        if suffix.len() >= 3 {
            out.push(suffix);
        }
    }
    out
}

/// Choice names: the name's forms, plus shortened forms shoppers say: "珍珠" for "加珍珠", "pearl"
/// for "pearls", "oat" for "oat milk", "caramel" for "caramel syrup".
fn choice_forms(name: &str) -> Vec<String> {
    let mut forms = name_forms(name);
    for form in forms.clone() {
        if let Some(rest) = form.strip_prefix('加').filter(|rest| rest.chars().count() >= 2) {
            push_unique(&mut forms, rest.to_owned());
        }
        // "燕麦" for "燕麦奶", "冰" for "冰的".
        if form.chars().all(is_han) {
            if let Some(rest) = form.strip_suffix('奶').filter(|rest| rest.chars().count() >= 2) {
                push_unique(&mut forms, rest.to_owned());
            }
            if let Some(rest) = form.strip_suffix('的').filter(|rest| !rest.is_empty()) {
                push_unique(&mut forms, rest.to_owned());
            }
        }
        for prefix in ["add ", "extra ", "with "] {
            if let Some(rest) = form.strip_prefix(prefix).filter(|rest| rest.len() >= 3) {
                push_unique(&mut forms, rest.to_owned());
            }
        }
        if form.is_ascii()
            && !form.contains(' ')
            && form.len() > 3
            && form.ends_with('s')
            && !form.ends_with("ss")
        {
            push_unique(&mut forms, form[..form.len() - 1].to_owned());
        }
        let words: Vec<&str> = form.split(' ').collect();
        if let [first, last] = words.as_slice()
            && first.len() >= 3
            && ["milk", "syrup", "sauce", "shot", "shots", "foam", "jelly"].contains(last)
        {
            push_unique(&mut forms, (*first).to_owned());
        }
    }
    forms
}

fn merchant_names(name: &str) -> Vec<String> {
    name_forms(name).into_iter().filter(|form| form.chars().count() >= 2).collect()
}

fn push_unique(list: &mut Vec<String>, value: String) {
    if !value.is_empty() && !list.contains(&value) {
        list.push(value);
    }
}

fn strip_brackets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0u32;
    for c in text.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(crate) fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}')
}

/// The runs of a name in one script: Chinese characters, or everything else (trimmed), when
/// the name mixes both.
fn script_parts(name: &str) -> Vec<String> {
    // Only a name with both Chinese characters and Latin letters has parts; punctuation between
    // two Chinese runs ("清•雍正王朝烤鸭") does not split a name.
    if !(name.chars().any(is_han) && name.chars().any(|c| c.is_ascii_alphabetic())) {
        return Vec::new();
    }
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut current_han: Option<bool> = None;
    for c in name.chars() {
        let han = is_han(c);
        if c == ' ' && current_han != Some(true) {
            current.push(c);
            continue;
        }
        if current_han.is_some_and(|was| was != han) {
            parts.push(std::mem::take(&mut current));
        }
        if c != ' ' {
            current.push(c);
            current_han = Some(han);
        }
    }
    parts.push(current);
    if parts.len() < 2 {
        return Vec::new();
    }
    parts
        .into_iter()
        .map(|part| part.trim_matches(|c: char| c == ' ' || c == '-' || c == '/' || c == ',').to_owned())
        .filter(|part| part.chars().any(char::is_alphabetic))
        .collect()
}

/// The option concept a choice name states, when one vocabulary phrase covers the whole name.
fn concept_of(vocab: &Vocab, name: &str) -> Option<(Attr, Level)> {
    whole_meanings(vocab, name).find_map(|meaning| match meaning {
        Meaning::Concept(attr, level) => Some((attr, level)),
        _ => None,
    })
}

fn size_of(vocab: &Vocab, name: &str) -> Option<u8> {
    whole_meanings(vocab, name).find_map(|meaning| match meaning {
        Meaning::Size(rank) => Some(rank),
        _ => None,
    })
}

fn whole_meanings<'v>(vocab: &'v Vocab, name: &str) -> impl Iterator<Item = Meaning> + 'v {
    let pattern = vocab
        .automaton()
        .and_then(|automaton| {
            automaton.find_overlapping_iter(name).find(|m| m.start() == 0 && m.end() == name.len())
        })
        .map(|m| m.pattern().as_usize());
    pattern.into_iter().flat_map(move |pattern| vocab.meanings(pattern).iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bilingual_names_give_each_part() {
        assert_eq!(
            name_forms("珍珠奶茶 Pearl Milk Tea"),
            vec!["珍珠奶茶 pearl milk tea", "珍珠奶茶", "pearl milk tea"]
        );
        assert_eq!(name_forms("Caffè Latte"), vec!["caffe latte"]);
        assert_eq!(name_forms("喜茶 (三里屯店)"), vec!["喜茶 (三里屯店)", "喜茶"]);
        assert_eq!(partial_forms("pearl milk tea"), vec!["milk tea", "tea"]);
        assert_eq!(partial_forms("珍珠奶茶"), vec!["珠奶茶", "奶茶"]);
        assert!(partial_forms("tea").is_empty());
    }

    #[test]
    fn choice_names_get_short_forms() {
        assert!(choice_forms("加珍珠 Pearls").contains(&"珍珠".to_owned()));
        assert!(choice_forms("加珍珠 Pearls").contains(&"pearl".to_owned()));
        assert!(choice_forms("燕麦奶 Oat milk").contains(&"oat".to_owned()));
    }

    #[test]
    fn choice_concepts_come_from_their_names() {
        let vocab = Vocab::new();
        assert_eq!(concept_of(&vocab, "去冰"), Some((Attr::Ice, Level::None)));
        assert_eq!(concept_of(&vocab, "no ice"), Some((Attr::Ice, Level::None)));
        assert_eq!(concept_of(&vocab, "少糖"), Some((Attr::Sugar, Level::Less)));
        assert_eq!(concept_of(&vocab, "pearls"), None);
        assert_eq!(size_of(&vocab, "大杯"), Some(3));
    }
}
