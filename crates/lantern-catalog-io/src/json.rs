//! The JSON format: parsing with serde (unknown fields refused) and printing back.

use std::fmt;

use lantern_core::{CatalogId, Item, ItemId, ItemOption, Money, OptionGroup, OptionId, OptionKind};
use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::error::excerpt;
use crate::menu::{GroupOrigin, ItemOrigin, ParsedItem, Place, assemble, check_extras};
use crate::{FORMAT_NAME, FormatError, ItemExtras, Menu, check_size};

/// Parses a menu in the JSON format (see the crate docs and `FORMAT.md`).
pub fn parse_json(catalog: CatalogId, input: &str) -> Result<Menu, FormatError> {
    check_size(input)?;
    let document: MenuDocument = serde_json::from_str(input).map_err(|error| {
        // serde_json appends " at line L column C"; the variant carries those separately.
        let suffix = format!(" at line {} column {}", error.line(), error.column());
        let message = error.to_string();
        let message = message.strip_suffix(&suffix).unwrap_or(&message).to_owned();
        FormatError::Json { line: error.line(), column: error.column(), message }
    })?;
    if let Some(format) = &document.format
        && format != FORMAT_NAME
    {
        return Err(FormatError::BadValue {
            location: "format".into(),
            value: excerpt(format),
            expected: "\"lantern.menu/1\", the only format version (or leave the field out)",
        });
    }
    let mut parsed = Vec::with_capacity(document.items.len());
    for (item_index, item) in document.items.into_iter().enumerate() {
        let at = Place::Path(format!("items[{item_index}]"));
        check_extras(&item.aliases, &item.description, &at)?;
        parsed.push(parsed_item(item, at));
    }
    assemble(catalog, parsed)
}

/// The menu in the JSON format, pretty-printed; [`parse_json`] reads it back to an equal menu.
pub fn to_json(menu: &Menu) -> String {
    let items = menu
        .catalog()
        .items()
        .iter()
        .zip(menu.extras())
        .map(|(item, extras)| ItemDocument {
            id: item.id.get(),
            name: item.name.clone(),
            category: item.category.clone(),
            price_fen: Fen(item.price.fen()),
            aliases: extras.aliases.clone(),
            description: extras.description.clone(),
            option_groups: item
                .option_groups
                .iter()
                .map(|group| GroupDocument {
                    kind: Kind(group.kind),
                    name: group.name.clone(),
                    min_choices: group.min_choices,
                    max_choices: group.max_choices,
                    default_choice: group.default_choice.map(OptionId::get),
                    choices: group
                        .choices
                        .iter()
                        .map(|choice| ChoiceDocument {
                            id: choice.id.get(),
                            name: choice.name.clone(),
                            price_delta_fen: Fen(choice.price_delta.fen()),
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    let document = MenuDocument { format: Some(FORMAT_NAME.to_owned()), items };
    // Structs of strings and integers always serialize; the fallback is never taken.
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}

fn parsed_item(document: ItemDocument, at: Place) -> ParsedItem {
    let id = ItemId::new(document.id);
    let mut group_origins = Vec::with_capacity(document.option_groups.len());
    let option_groups = document
        .option_groups
        .into_iter()
        .enumerate()
        .map(|(group_index, group)| {
            let group_at = format!("{}.option_groups[{group_index}]", at.here());
            let choice_origins = (0..group.choices.len())
                .zip(&group.choices)
                .map(|(choice_index, choice)| {
                    (OptionId::new(choice.id), Place::Path(format!("{group_at}.choices[{choice_index}]")))
                })
                .collect();
            group_origins.push(GroupOrigin {
                name: group.name.clone(),
                at: Place::Path(group_at),
                choices: choice_origins,
            });
            OptionGroup {
                kind: group.kind.0,
                name: group.name,
                choices: group
                    .choices
                    .into_iter()
                    .map(|choice| ItemOption {
                        id: OptionId::new(choice.id),
                        name: choice.name,
                        price_delta: Money::from_fen(choice.price_delta_fen.0),
                    })
                    .collect(),
                min_choices: group.min_choices,
                max_choices: group.max_choices,
                default_choice: group.default_choice.map(OptionId::new),
            }
        })
        .collect();
    ParsedItem {
        item: Item {
            id,
            name: document.name,
            category: document.category,
            price: Money::from_fen(document.price_fen.0),
            option_groups,
        },
        extras: ItemExtras { item: id, aliases: document.aliases, description: document.description },
        origin: ItemOrigin { id, at, groups: group_origins },
    }
}

// The documents below are the format: field names, order (for printing) and defaults.

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MenuDocument {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    format: Option<String>,
    items: Vec<ItemDocument>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemDocument {
    #[serde(deserialize_with = "item_id")]
    id: u64,
    name: String,
    category: String,
    price_fen: Fen,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    option_groups: Vec<GroupDocument>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupDocument {
    kind: Kind,
    name: String,
    #[serde(deserialize_with = "choice_count")]
    min_choices: u8,
    #[serde(deserialize_with = "choice_count")]
    max_choices: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default_choice: Option<u32>,
    choices: Vec<ChoiceDocument>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChoiceDocument {
    #[serde(deserialize_with = "option_id")]
    id: u32,
    name: String,
    price_delta_fen: Fen,
}

pub(crate) const ITEM_ID_EXPECTED: &str = "an item id: a whole number such as 42";
pub(crate) const OPTION_ID_EXPECTED: &str = "an option id: a whole number such as 3, unique within its item";
pub(crate) const CHOICE_COUNT_EXPECTED: &str = "a number of choices: a whole number from 0 to 255";

fn item_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    deserializer.deserialize_u64(Whole { expecting: ITEM_ID_EXPECTED, max: u64::MAX })
}

fn option_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let id = deserializer.deserialize_u32(Whole { expecting: OPTION_ID_EXPECTED, max: u32::MAX.into() })?;
    u32::try_from(id).map_err(|_| de::Error::custom(OPTION_ID_EXPECTED))
}

fn choice_count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u8, D::Error> {
    let count =
        deserializer.deserialize_u8(Whole { expecting: CHOICE_COUNT_EXPECTED, max: u8::MAX.into() })?;
    u8::try_from(count).map_err(|_| de::Error::custom(CHOICE_COUNT_EXPECTED))
}

/// A whole number from 0 to `max`, refused with `expecting` in the message otherwise.
struct Whole {
    expecting: &'static str,
    max: u64,
}

impl Visitor<'_> for Whole {
    type Value = u64;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.expecting)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<u64, E> {
        if value > self.max {
            return Err(E::custom(format!("{value} is too large for {}", self.expecting)));
        }
        Ok(value)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<u64, E> {
        u64::try_from(value)
            .map_err(|_| E::custom(format!("{value} is negative, but it must be {}", self.expecting)))
            .and_then(|value| self.visit_u64(value))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<u64, E> {
        Err(E::custom(format!("{value} has a fraction or exponent, but it must be {}", self.expecting)))
    }
}

/// An amount in fen. Its own type so that a fraction (`15.5`) is refused with advice, not with
/// serde's generic "invalid type".
struct Fen(i64);

impl Serialize for Fen {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.0)
    }
}

impl<'de> Deserialize<'de> for Fen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fen, D::Error> {
        deserializer.deserialize_i64(FenVisitor)
    }
}

pub(crate) const FEN_EXPECTED: &str = "a whole number of fen (1 yuan = 100 fen: write ¥15.50 as 1550)";

struct FenVisitor;

impl Visitor<'_> for FenVisitor {
    type Value = Fen;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(FEN_EXPECTED)
    }

    fn visit_i64<E: de::Error>(self, fen: i64) -> Result<Fen, E> {
        Ok(Fen(fen))
    }

    fn visit_u64<E: de::Error>(self, fen: u64) -> Result<Fen, E> {
        i64::try_from(fen).map(Fen).map_err(|_| E::custom(format!("{fen} fen is far too large a price")))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Fen, E> {
        Err(E::custom(format!("{value} has a fraction or exponent, but prices are {FEN_EXPECTED}")))
    }
}

/// An option kind, by its lantern-core name (`size`, `sugar`, `ice`, `topping`, `other`).
struct Kind(OptionKind);

pub(crate) const KIND_EXPECTED: &str = "an option kind: size, sugar, ice, topping or other";

/// The kind named `text`, by lantern-core's own names.
pub(crate) fn option_kind(text: &str) -> Option<OptionKind> {
    const KINDS: [OptionKind; 5] =
        [OptionKind::Size, OptionKind::Sugar, OptionKind::Ice, OptionKind::Topping, OptionKind::Other];
    KINDS.into_iter().find(|kind| kind.as_str() == text)
}

impl Serialize for Kind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Kind, D::Error> {
        deserializer.deserialize_str(KindVisitor)
    }
}

struct KindVisitor;

impl Visitor<'_> for KindVisitor {
    type Value = Kind;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(KIND_EXPECTED)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Kind, E> {
        option_kind(text)
            .map(Kind)
            .ok_or_else(|| E::custom(format!("{:?} is not {KIND_EXPECTED}", excerpt(text))))
    }
}
