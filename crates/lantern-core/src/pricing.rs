//! Pricing a cart against a menu, and what a coupon takes off it.
//!
//! Prices and discounts shown to a shopper come from here (through a quote), never from a
//! language model.

use crate::campaign::{CampaignSpec, CouponTemplate};
use crate::catalog::{Catalog, OptionKind};
use crate::ids::{ItemId, MerchantId, OptionId};
use crate::money::{Money, MoneyError};
use crate::reason::ReasonCode;

/// Most lines in one cart.
pub const CART_LINES_MAX: usize = 50;
/// Most units of one line.
pub const LINE_QUANTITY_MAX: u16 = 99;
/// Most options picked on one line.
pub const LINE_OPTIONS_MAX: usize = 32;

/// What a shopper asks for: an item, how many, and which options.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CartLine {
    pub item: ItemId,
    pub quantity: u16,
    pub options: Vec<OptionId>,
}

/// A line with its options resolved (defaults filled in) and its price computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PricedLine {
    pub item: ItemId,
    pub quantity: u16,
    /// Chosen options, defaults included, in catalog order.
    pub options: Vec<OptionId>,
    pub unit_price: Money,
    pub line_total: Money,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PricedCart {
    pub lines: Vec<PricedLine>,
    pub subtotal: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("the cart is empty; add at least one item")]
    Empty,
    #[error("a cart holds at most {CART_LINES_MAX} lines, got {0}")]
    TooManyLines(usize),
    #[error("line {line}: quantity must be 1..={LINE_QUANTITY_MAX}, got {quantity}")]
    Quantity { line: usize, quantity: u16 },
    #[error("line {line}: item {item} is not on this shop's menu")]
    UnknownItem { line: usize, item: ItemId },
    #[error("line {line}: option {option} is not offered for this item")]
    UnknownOption { line: usize, option: OptionId },
    #[error("line {line}: pick {min}..={max} of {group:?}")]
    OptionChoices { line: usize, group: String, min: u8, max: u8 },
    #[error("line {line}: options bring the unit price below zero")]
    NegativePrice { line: usize },
    #[error("cart total overflowed")]
    Overflow,
}

impl From<MoneyError> for PricingError {
    fn from(_: MoneyError) -> PricingError {
        PricingError::Overflow
    }
}

impl PricingError {
    pub fn code(&self) -> ReasonCode {
        match self {
            PricingError::Quantity { .. } => ReasonCode::QuantityExceeded,
            PricingError::TooManyLines(_) => ReasonCode::MaximumExceeded,
            PricingError::UnknownItem { .. } | PricingError::UnknownOption { .. } => ReasonCode::OutOfStock,
            _ => ReasonCode::Invalid,
        }
    }
}

/// Prices `lines` against `catalog`: resolves options (filling defaults), checks each group's
/// bounds, and adds everything up in checked fen arithmetic.
pub fn price_cart(catalog: &Catalog, lines: &[CartLine]) -> Result<PricedCart, PricingError> {
    if lines.is_empty() {
        return Err(PricingError::Empty);
    }
    if lines.len() > CART_LINES_MAX {
        return Err(PricingError::TooManyLines(lines.len()));
    }
    let mut priced_lines = Vec::with_capacity(lines.len());
    let mut subtotal = Money::ZERO;
    for (line_idx, line) in lines.iter().enumerate() {
        let priced = price_line(catalog, line_idx, line)?;
        subtotal = subtotal.checked_add(priced.line_total)?;
        priced_lines.push(priced);
    }
    Ok(PricedCart { lines: priced_lines, subtotal })
}

fn price_line(catalog: &Catalog, line_idx: usize, line: &CartLine) -> Result<PricedLine, PricingError> {
    if line.quantity == 0 || line.quantity > LINE_QUANTITY_MAX {
        return Err(PricingError::Quantity { line: line_idx, quantity: line.quantity });
    }
    let item =
        catalog.item(line.item).ok_or(PricingError::UnknownItem { line: line_idx, item: line.item })?;
    if line.options.len() > LINE_OPTIONS_MAX {
        return Err(PricingError::OptionChoices { line: line_idx, group: "any".into(), min: 0, max: 0 });
    }
    for option in &line.options {
        let offered =
            item.option_groups.iter().any(|group| group.choices.iter().any(|choice| choice.id == *option));
        if !offered {
            return Err(PricingError::UnknownOption { line: line_idx, option: *option });
        }
    }
    let mut unit_price = item.price;
    let mut chosen = Vec::new();
    for group in &item.option_groups {
        let mut picked: Vec<OptionId> = group
            .choices
            .iter()
            .filter(|choice| line.options.contains(&choice.id))
            .map(|choice| choice.id)
            .collect();
        if picked.is_empty() {
            picked.extend(group.default_choice);
        }
        let n_picked = picked.len();
        // Toppings may be left out; sizes, sugar and ice need their minimum.
        let min = if group.kind == OptionKind::Topping { 0 } else { usize::from(group.min_choices) };
        if n_picked < min || n_picked > usize::from(group.max_choices) {
            return Err(PricingError::OptionChoices {
                line: line_idx,
                group: group.name.clone(),
                min: group.min_choices,
                max: group.max_choices,
            });
        }
        for choice in group.choices.iter().filter(|choice| picked.contains(&choice.id)) {
            unit_price = unit_price.checked_add(choice.price_delta)?;
        }
        chosen.extend(picked);
    }
    if unit_price.is_negative() {
        return Err(PricingError::NegativePrice { line: line_idx });
    }
    Ok(PricedLine {
        item: item.id,
        quantity: line.quantity,
        options: chosen,
        unit_price,
        line_total: unit_price.checked_mul(i64::from(line.quantity))?,
    })
}

/// What one coupon of `spec` takes off `cart` at `merchant`, or why it does not apply.
///
/// The discount never exceeds the eligible part of the cart nor the coupon's face value, so a
/// coupon can never make an order cost less than zero or spend more than it reserved.
pub fn discount(
    spec: &CampaignSpec,
    merchant: MerchantId,
    catalog: &Catalog,
    cart: &PricedCart,
) -> Result<Money, ReasonCode> {
    if !spec.eligibility.merchant_eligible(merchant) {
        return Err(ReasonCode::DiscountCodeUserIneligible);
    }
    let mut eligible_subtotal = Money::ZERO;
    let mut dearest_eligible_unit = Money::ZERO;
    let line_eligible = |line: &&PricedLine| {
        catalog.item(line.item).is_some_and(|item| spec.eligibility.category_eligible(&item.category))
    };
    for line in cart.lines.iter().filter(line_eligible) {
        eligible_subtotal =
            eligible_subtotal.checked_add(line.line_total).map_err(|_| ReasonCode::Invalid)?;
        dearest_eligible_unit = dearest_eligible_unit.max(line.unit_price);
    }
    if eligible_subtotal == Money::ZERO {
        return Err(ReasonCode::DiscountCodeUserIneligible);
    }
    if eligible_subtotal < spec.min_spend {
        return Err(ReasonCode::DiscountCodeMinimumNotMet);
    }
    let amount = match spec.template {
        CouponTemplate::AmountOff { amount } => amount,
        CouponTemplate::PercentOff { percent_bp, cap } => {
            eligible_subtotal.percent_bp(percent_bp).map_err(|_| ReasonCode::Invalid)?.min(cap)
        }
        CouponTemplate::FreeItem { up_to } => dearest_eligible_unit.min(up_to),
    };
    let amount = amount.min(eligible_subtotal).min(spec.template.face_value());
    debug_assert!(!amount.is_negative());
    if amount == Money::ZERO {
        // A percentage of a tiny cart can round to nothing: such a coupon must not be held or
        // spent for nothing, so it does not apply.
        return Err(ReasonCode::DiscountCodeMinimumNotMet);
    }
    Ok(amount)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::{Eligibility, IssuancePace, Validity};
    use crate::catalog::{Item, ItemOption, OptionGroup};
    use crate::ids::CatalogId;
    use crate::time::Timestamp;

    fn menu() -> Catalog {
        let group =
            |kind, name: &str, min, max, default: Option<u32>, choices: Vec<(u32, &str, i64)>| OptionGroup {
                kind,
                name: name.into(),
                choices: choices
                    .into_iter()
                    .map(|(id, name, delta)| ItemOption {
                        id: OptionId::new(id),
                        name: name.into(),
                        price_delta: Money::from_fen(delta),
                    })
                    .collect(),
                min_choices: min,
                max_choices: max,
                default_choice: default.map(OptionId::new),
            };
        let milk_tea = Item {
            id: ItemId::new(1),
            name: "珍珠奶茶 Pearl milk tea".into(),
            category: "milk tea".into(),
            price: Money::from_fen(1600),
            option_groups: vec![
                group(OptionKind::Size, "size", 1, 1, Some(1), vec![(1, "medium", 0), (2, "large", 300)]),
                group(
                    OptionKind::Topping,
                    "toppings",
                    0,
                    2,
                    None,
                    vec![(3, "pearls", 200), (4, "pudding", 300)],
                ),
            ],
        };
        let cake = Item {
            id: ItemId::new(2),
            name: "Cheesecake".into(),
            category: "dessert".into(),
            price: Money::from_fen(2800),
            option_groups: vec![],
        };
        Catalog::new(CatalogId::new(1), vec![milk_tea, cake]).unwrap_or_else(|error| panic!("{error}"))
    }

    fn line(item: u64, quantity: u16, options: &[u32]) -> CartLine {
        CartLine {
            item: ItemId::new(item),
            quantity,
            options: options.iter().map(|id| OptionId::new(*id)).collect(),
        }
    }

    fn spec(template: CouponTemplate, min_spend: i64, categories: &[&str]) -> CampaignSpec {
        CampaignSpec {
            name: "test".into(),
            budget: Money::from_yuan(1000),
            template,
            min_spend: Money::from_fen(min_spend),
            eligibility: Eligibility {
                merchants: vec![],
                categories: categories.iter().map(|c| c.to_string()).collect(),
            },
            per_shopper_limit: 1,
            referral_bonus_cap: 0,
            validity: Validity::new(Timestamp::from_ms(0), Timestamp::from_ms(1))
                .unwrap_or_else(|error| panic!("{error}")),
            pace: IssuancePace::Unlimited,
        }
    }

    #[test]
    fn prices_options_and_defaults() {
        let cart = price_cart(&menu(), &[line(1, 2, &[2, 3]), line(1, 1, &[])])
            .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(cart.lines[0].unit_price, Money::from_fen(2100));
        assert_eq!(cart.lines[0].line_total, Money::from_fen(4200));
        assert_eq!(cart.lines[1].options, vec![OptionId::new(1)], "default size filled in");
        assert_eq!(cart.subtotal, Money::from_fen(5800));
    }

    #[test]
    fn refuses_bad_lines_with_the_line_number() {
        let catalog = menu();
        assert_eq!(price_cart(&catalog, &[]), Err(PricingError::Empty));
        assert_eq!(
            price_cart(&catalog, &[line(1, 1, &[]), line(9, 1, &[])]),
            Err(PricingError::UnknownItem { line: 1, item: ItemId::new(9) })
        );
        assert_eq!(
            price_cart(&catalog, &[line(1, 0, &[])]),
            Err(PricingError::Quantity { line: 0, quantity: 0 })
        );
        assert_eq!(
            price_cart(&catalog, &[line(1, 100, &[])]).map_err(|e| e.code()),
            Err(ReasonCode::QuantityExceeded)
        );
        assert!(matches!(
            price_cart(&catalog, &[line(1, 1, &[1, 2])]),
            Err(PricingError::OptionChoices { .. })
        ));
        assert_eq!(
            price_cart(&catalog, &[line(2, 1, &[1])]),
            Err(PricingError::UnknownOption { line: 0, option: OptionId::new(1) })
        );
    }

    #[test]
    fn discounts_respect_templates_minimums_and_eligibility() {
        let catalog = menu();
        let cart = price_cart(&catalog, &[line(1, 1, &[]), line(2, 1, &[])])
            .unwrap_or_else(|error| panic!("{error}"));
        let merchant = MerchantId::new(1);
        let amount_off = spec(CouponTemplate::AmountOff { amount: Money::from_yuan(25) }, 0, &[]);
        assert_eq!(discount(&amount_off, merchant, &catalog, &cart), Ok(Money::from_yuan(25)));
        let tea_only = spec(CouponTemplate::AmountOff { amount: Money::from_yuan(25) }, 0, &["milk tea"]);
        assert_eq!(
            discount(&tea_only, merchant, &catalog, &cart),
            Ok(Money::from_fen(1600)),
            "capped at the eligible part"
        );
        let percent =
            spec(CouponTemplate::PercentOff { percent_bp: 1000, cap: Money::from_fen(300) }, 0, &[]);
        assert_eq!(
            discount(&percent, merchant, &catalog, &cart),
            Ok(Money::from_fen(300)),
            "10% of 44 yuan capped at 3"
        );
        let tiny = price_cart(&catalog, &[line(2, 1, &[])]).unwrap_or_else(|error| panic!("{error}"));
        let one_bp = spec(CouponTemplate::PercentOff { percent_bp: 1, cap: Money::from_fen(300) }, 0, &[]);
        assert_eq!(
            discount(&one_bp, merchant, &catalog, &tiny),
            Err(ReasonCode::DiscountCodeMinimumNotMet),
            "0.01% of 28 yuan rounds to 0 fen: not applicable"
        );
        let free_item = spec(CouponTemplate::FreeItem { up_to: Money::from_yuan(20) }, 0, &[]);
        assert_eq!(discount(&free_item, merchant, &catalog, &cart), Ok(Money::from_yuan(20)));
        let minimum = spec(CouponTemplate::AmountOff { amount: Money::from_yuan(5) }, 5_000, &[]);
        assert_eq!(discount(&minimum, merchant, &catalog, &cart), Err(ReasonCode::DiscountCodeMinimumNotMet));
        let cakes_only = spec(CouponTemplate::AmountOff { amount: Money::from_yuan(5) }, 0, &["bread"]);
        assert_eq!(
            discount(&cakes_only, merchant, &catalog, &cart),
            Err(ReasonCode::DiscountCodeUserIneligible)
        );
        let mut other_shop = amount_off.clone();
        other_shop.eligibility.merchants = vec![MerchantId::new(2)];
        assert_eq!(
            discount(&other_shop, merchant, &catalog, &cart),
            Err(ReasonCode::DiscountCodeUserIneligible)
        );
    }
}
