//! Menus: items with option groups (size, sugar, ice, toppings) and their price deltas.

use crate::ids::{CatalogId, ItemId, OptionId};
use crate::money::Money;

/// Most items on one menu.
pub const CATALOG_ITEMS_MAX: usize = 10_000;
/// Most option groups on one item.
pub const OPTION_GROUPS_MAX: usize = 16;
/// Most choices in one option group.
pub const OPTION_CHOICES_MAX: usize = 64;
/// Highest price of one item (or absolute price delta of one option): 100,000 yuan.
pub const ITEM_PRICE_MAX: Money = Money::from_yuan(100_000);
/// Longest item, option or category name, in characters.
pub const NAME_CHARS_MAX: usize = 200;

/// What kind of choice an option group offers; the agent uses it to map "large" or "少糖".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OptionKind {
    Size,
    Sugar,
    Ice,
    Topping,
    Other,
}

impl OptionKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            OptionKind::Size => "size",
            OptionKind::Sugar => "sugar",
            OptionKind::Ice => "ice",
            OptionKind::Topping => "topping",
            OptionKind::Other => "other",
        }
    }
}

/// One choice in a group, with what it adds to (or takes off) the item's price.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemOption {
    pub id: OptionId,
    pub name: String,
    pub price_delta: Money,
}

/// A group of choices on an item: pick between `min_choices` and `max_choices` of them; when
/// the shopper picks none, `default_choice` (if any) is taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionGroup {
    pub kind: OptionKind,
    pub name: String,
    pub choices: Vec<ItemOption>,
    pub min_choices: u8,
    pub max_choices: u8,
    pub default_choice: Option<OptionId>,
}

/// An item on a menu.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub id: ItemId,
    pub name: String,
    pub category: String,
    pub price: Money,
    pub option_groups: Vec<OptionGroup>,
}

/// A validated menu: item ids unique, prices in range, option groups consistent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Catalog {
    id: CatalogId,
    /// Sorted by id, so lookups are a binary search and no map is needed.
    items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("a catalog holds 1..={CATALOG_ITEMS_MAX} items, got {0}")]
    ItemCount(usize),
    #[error("item {0} appears twice; give each item its own id")]
    DuplicateItem(ItemId),
    #[error("item {item}: {field} must be 1..={NAME_CHARS_MAX} characters")]
    Name { item: ItemId, field: &'static str },
    #[error("item {item}: price {price} is outside 0..={ITEM_PRICE_MAX}")]
    Price { item: ItemId, price: Money },
    #[error("item {item}: at most {OPTION_GROUPS_MAX} option groups of at most {OPTION_CHOICES_MAX} choices")]
    OptionCount { item: ItemId },
    #[error("item {item}: option {option} appears twice")]
    DuplicateOption { item: ItemId, option: OptionId },
    #[error("item {item}: option {option} price delta {delta} is outside ±{ITEM_PRICE_MAX}")]
    OptionDelta { item: ItemId, option: OptionId, delta: Money },
    #[error(
        "item {item}: group {group:?} needs min_choices <= max_choices <= number of choices, and a default that is one of its choices"
    )]
    GroupBounds { item: ItemId, group: String },
}

fn name_ok(name: &str) -> bool {
    let n_chars = name.chars().count();
    n_chars > 0 && n_chars <= NAME_CHARS_MAX
}

impl Catalog {
    pub fn new(id: CatalogId, mut items: Vec<Item>) -> Result<Catalog, CatalogError> {
        if items.is_empty() || items.len() > CATALOG_ITEMS_MAX {
            return Err(CatalogError::ItemCount(items.len()));
        }
        items.sort_by_key(|item| item.id);
        for pair in items.windows(2) {
            if pair[0].id == pair[1].id {
                return Err(CatalogError::DuplicateItem(pair[0].id));
            }
        }
        for item in &items {
            validate_item(item)?;
        }
        Ok(Catalog { id, items })
    }

    pub fn id(&self) -> CatalogId {
        self.id
    }

    pub fn items(&self) -> &[Item] {
        &self.items
    }

    pub fn item(&self, id: ItemId) -> Option<&Item> {
        self.items.binary_search_by_key(&id, |item| item.id).ok().map(|index| &self.items[index])
    }
}

fn validate_item(item: &Item) -> Result<(), CatalogError> {
    if !name_ok(&item.name) {
        return Err(CatalogError::Name { item: item.id, field: "name" });
    }
    if !name_ok(&item.category) {
        return Err(CatalogError::Name { item: item.id, field: "category" });
    }
    if item.price.is_negative() || item.price > ITEM_PRICE_MAX {
        return Err(CatalogError::Price { item: item.id, price: item.price });
    }
    if item.option_groups.len() > OPTION_GROUPS_MAX
        || item.option_groups.iter().any(|group| group.choices.len() > OPTION_CHOICES_MAX)
    {
        return Err(CatalogError::OptionCount { item: item.id });
    }
    let mut seen = Vec::new();
    for group in &item.option_groups {
        let bounds_ok = group.min_choices <= group.max_choices
            && usize::from(group.max_choices) <= group.choices.len()
            && group.max_choices > 0
            && name_ok(&group.name)
            && group
                .default_choice
                .is_none_or(|default| group.choices.iter().any(|choice| choice.id == default));
        if !bounds_ok {
            return Err(CatalogError::GroupBounds { item: item.id, group: group.name.clone() });
        }
        for choice in &group.choices {
            if seen.contains(&choice.id) {
                return Err(CatalogError::DuplicateOption { item: item.id, option: choice.id });
            }
            seen.push(choice.id);
            if !name_ok(&choice.name) {
                return Err(CatalogError::Name { item: item.id, field: "option name" });
            }
            if choice.price_delta.fen().unsigned_abs() > ITEM_PRICE_MAX.fen().unsigned_abs() {
                return Err(CatalogError::OptionDelta {
                    item: item.id,
                    option: choice.id,
                    delta: choice.price_delta,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tea(id: u64, price_fen: i64) -> Item {
        Item {
            id: ItemId::new(id),
            name: "杨枝甘露 Mango Pomelo Sago".into(),
            category: "milk tea".into(),
            price: Money::from_fen(price_fen),
            option_groups: vec![OptionGroup {
                kind: OptionKind::Size,
                name: "size".into(),
                choices: vec![
                    ItemOption { id: OptionId::new(1), name: "medium".into(), price_delta: Money::ZERO },
                    ItemOption {
                        id: OptionId::new(2),
                        name: "large".into(),
                        price_delta: Money::from_fen(300),
                    },
                ],
                min_choices: 1,
                max_choices: 1,
                default_choice: Some(OptionId::new(1)),
            }],
        }
    }

    #[test]
    fn valid_catalog_is_sorted_and_searchable() {
        let catalog = Catalog::new(CatalogId::new(1), vec![tea(9, 1500), tea(3, 1800)])
            .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(catalog.items()[0].id, ItemId::new(3));
        assert_eq!(catalog.item(ItemId::new(9)).map(|item| item.price), Some(Money::from_fen(1500)));
        assert!(catalog.item(ItemId::new(4)).is_none());
    }

    #[test]
    fn bad_catalogs_are_refused_with_the_reason() {
        assert_eq!(Catalog::new(CatalogId::new(1), vec![]), Err(CatalogError::ItemCount(0)));
        assert_eq!(
            Catalog::new(CatalogId::new(1), vec![tea(1, 100), tea(1, 200)]),
            Err(CatalogError::DuplicateItem(ItemId::new(1)))
        );
        assert!(matches!(Catalog::new(CatalogId::new(1), vec![tea(1, -1)]), Err(CatalogError::Price { .. })));
        let mut bad_default = tea(1, 100);
        bad_default.option_groups[0].default_choice = Some(OptionId::new(77));
        assert!(matches!(
            Catalog::new(CatalogId::new(1), vec![bad_default]),
            Err(CatalogError::GroupBounds { .. })
        ));
        let mut no_name = tea(1, 100);
        no_name.name.clear();
        assert!(matches!(Catalog::new(CatalogId::new(1), vec![no_name]), Err(CatalogError::Name { .. })));
    }
}
