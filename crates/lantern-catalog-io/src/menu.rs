//! [`Menu`]: a validated catalog with each item's display and search extras, and the assembly
//! both parsers share (extras checks, lantern-core's validation, error locations).

use lantern_core::{Catalog, CatalogError, CatalogId, Item, ItemId, OptionId};

use crate::FormatError;

/// Most aliases on one item.
pub const ALIASES_PER_ITEM_MAX: usize = 32;
/// Longest alias, in characters.
pub const ALIAS_CHARS_MAX: usize = 100;
/// Longest item description, in characters.
pub const DESCRIPTION_CHARS_MAX: usize = 2_000;

/// What the search index and the web pages know about an item beyond what the ledger needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemExtras {
    pub item: ItemId,
    /// Other names shoppers use for the item ("波霸奶茶", "boba"): each non-blank, at most
    /// [`ALIAS_CHARS_MAX`] characters, no two the same, at most [`ALIASES_PER_ITEM_MAX`].
    pub aliases: Vec<String>,
    /// Free text for the item's page, at most [`DESCRIPTION_CHARS_MAX`] characters; may be empty.
    pub description: String,
}

impl ItemExtras {
    /// No aliases and no description.
    pub fn empty(item: ItemId) -> ItemExtras {
        ItemExtras { item, aliases: Vec::new(), description: String::new() }
    }
}

/// A merchant's menu: the validated [`Catalog`] and one [`ItemExtras`] per catalog item, in the
/// catalog's (item id) order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Menu {
    catalog: Catalog,
    /// Invariant: `extras[i].item == catalog.items()[i].id` for every `i`.
    extras: Vec<ItemExtras>,
}

impl Menu {
    /// A menu from a catalog and the extras of some of its items (in any order); items without
    /// extras get [`ItemExtras::empty`]. Extras for an item the catalog lacks, given twice, or
    /// over the limits are refused.
    pub fn new(catalog: Catalog, mut extras: Vec<ItemExtras>) -> Result<Menu, FormatError> {
        extras.sort_by_key(|extras| extras.item);
        for pair in extras.windows(2) {
            if pair[0].item == pair[1].item {
                return Err(FormatError::Extras {
                    location: pair[0].item.to_string(),
                    problem: "the item's extras are given twice; merge them into one".into(),
                });
            }
        }
        for given in &extras {
            if catalog.item(given.item).is_none() {
                return Err(FormatError::Extras {
                    location: given.item.to_string(),
                    problem: "no item with this id is on the menu; add the item or drop its extras".into(),
                });
            }
            check_extras(&given.aliases, &given.description, &Place::Path(given.item.to_string()))?;
        }
        let mut given = extras.into_iter().peekable();
        let extras = catalog
            .items()
            .iter()
            .map(|item| match given.next_if(|extras| extras.item == item.id) {
                Some(extras) => extras,
                None => ItemExtras::empty(item.id),
            })
            .collect();
        Ok(Menu { catalog, extras })
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// One per catalog item, in the same order as [`Catalog::items`].
    pub fn extras(&self) -> &[ItemExtras] {
        &self.extras
    }

    pub fn extras_of(&self, item: ItemId) -> Option<&ItemExtras> {
        self.extras
            .binary_search_by_key(&item, |extras| extras.item)
            .ok()
            .and_then(|index| self.extras.get(index))
    }

    pub fn into_parts(self) -> (Catalog, Vec<ItemExtras>) {
        (self.catalog, self.extras)
    }
}

/// Where something was written in the input, to build error locations in the input's own terms.
#[derive(Clone, Debug)]
pub(crate) enum Place {
    /// A JSON path such as `items[3]`.
    Path(String),
    /// A CSV line, counted from 1.
    Line(u64),
}

impl Place {
    pub(crate) fn here(&self) -> String {
        match self {
            Place::Path(path) => path.clone(),
            Place::Line(line) => format!("line {line}"),
        }
    }

    /// A field of this place: `items[3].price_fen`, or `line 7, column price_fen`.
    pub(crate) fn field(&self, name: &str) -> String {
        match self {
            Place::Path(path) => format!("{path}.{name}"),
            Place::Line(line) => format!("line {line}, column {name}"),
        }
    }

    /// One element of a list field: `items[3].aliases[1]`; CSV has no finer place than the cell.
    fn element(&self, name: &str, index: usize) -> String {
        match self {
            Place::Path(path) => format!("{path}.{name}[{index}]"),
            Place::Line(_) => self.field(name),
        }
    }
}

/// Where one item, its groups and their choices were written, in input order.
#[derive(Debug)]
pub(crate) struct ItemOrigin {
    pub(crate) id: ItemId,
    pub(crate) at: Place,
    pub(crate) groups: Vec<GroupOrigin>,
}

#[derive(Debug)]
pub(crate) struct GroupOrigin {
    pub(crate) name: String,
    pub(crate) at: Place,
    pub(crate) choices: Vec<(OptionId, Place)>,
}

/// One item as parsed, before lantern-core validates the menu.
#[derive(Debug)]
pub(crate) struct ParsedItem {
    pub(crate) item: Item,
    pub(crate) extras: ItemExtras,
    pub(crate) origin: ItemOrigin,
}

pub(crate) fn check_extras(aliases: &[String], description: &str, at: &Place) -> Result<(), FormatError> {
    if aliases.len() > ALIASES_PER_ITEM_MAX {
        return Err(FormatError::Extras {
            location: at.field("aliases"),
            problem: format!(
                "{} aliases, more than {ALIASES_PER_ITEM_MAX}; keep the names shoppers really use",
                aliases.len()
            ),
        });
    }
    for (alias_index, alias) in aliases.iter().enumerate() {
        let location = || at.element("aliases", alias_index);
        if alias.trim().is_empty() {
            return Err(FormatError::Extras {
                location: location(),
                problem: "an alias is empty; remove it".into(),
            });
        }
        let n_chars = alias.chars().count();
        if n_chars > ALIAS_CHARS_MAX {
            return Err(FormatError::Extras {
                location: location(),
                problem: format!("an alias is {n_chars} characters, more than {ALIAS_CHARS_MAX}; shorten it"),
            });
        }
        if aliases[..alias_index].contains(alias) {
            return Err(FormatError::Extras {
                location: location(),
                problem: format!("alias {alias:?} is listed twice; remove one"),
            });
        }
    }
    let n_chars = description.chars().count();
    if n_chars > DESCRIPTION_CHARS_MAX {
        return Err(FormatError::Extras {
            location: at.field("description"),
            problem: format!(
                "the description is {n_chars} characters, more than {DESCRIPTION_CHARS_MAX}; shorten it"
            ),
        });
    }
    Ok(())
}

/// Validates the parsed items through [`Catalog::new`] and pairs them with their extras.
/// The extras must already have passed [`check_extras`].
pub(crate) fn assemble(catalog: CatalogId, parsed: Vec<ParsedItem>) -> Result<Menu, FormatError> {
    let mut items = Vec::with_capacity(parsed.len());
    let mut extras = Vec::with_capacity(parsed.len());
    let mut origins = Vec::with_capacity(parsed.len());
    for ParsedItem { item, extras: item_extras, origin } in parsed {
        items.push(item);
        extras.push(item_extras);
        origins.push(origin);
    }
    let catalog = Catalog::new(catalog, items)
        .map_err(|error| FormatError::Catalog { location: locate(&error, &origins), error })?;
    // Catalog::new sorted the items by id and refused duplicates; sort the extras the same way.
    extras.sort_by_key(|extras| extras.item);
    Ok(Menu { catalog, extras })
}

/// Where in the input lantern-core's complaint applies, as closely as the error tells.
fn locate(error: &CatalogError, origins: &[ItemOrigin]) -> Option<String> {
    let item_at = |id: ItemId| origins.iter().find(|origin| origin.id == id);
    let choices_of = |id: ItemId| {
        item_at(id).into_iter().flat_map(|origin| origin.groups.iter()).flat_map(|group| group.choices.iter())
    };
    match error {
        CatalogError::ItemCount(_) => None,
        CatalogError::DuplicateItem(id) => {
            origins.iter().filter(|origin| origin.id == *id).nth(1).map(|origin| origin.at.here())
        }
        CatalogError::Name { item, field } => item_at(*item).map(|origin| match *field {
            "name" | "category" => origin.at.field(field),
            _ => origin.at.here(),
        }),
        CatalogError::Price { item, .. } => item_at(*item).map(|origin| origin.at.field("price_fen")),
        CatalogError::OptionCount { item } => item_at(*item).map(|origin| origin.at.here()),
        CatalogError::DuplicateOption { item, option } => {
            choices_of(*item).filter(|(id, _)| id == option).nth(1).map(|(_, at)| at.here())
        }
        CatalogError::OptionDelta { item, option, .. } => {
            choices_of(*item).find(|(id, _)| id == option).map(|(_, at)| at.field("price_delta_fen"))
        }
        CatalogError::GroupBounds { item, group } => item_at(*item)
            .and_then(|origin| origin.groups.iter().find(|origin| origin.name == *group))
            .map(|origin| origin.at.here()),
    }
}
