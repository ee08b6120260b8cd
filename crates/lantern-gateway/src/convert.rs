//! Between the wire's JSON shapes and the domain's types: parsing with errors that name the
//! field, and rendering ledger answers.

use std::sync::Arc;

use lantern_core::pricing::{CART_LINES_MAX, CartLine, LINE_OPTIONS_MAX, LINE_QUANTITY_MAX, PricedLine};
use lantern_core::{
    Campaign, CampaignId, Catalog, CouponId, IdError, ItemId, Merchant, MerchantId, OptionId, OrderId,
    QuoteId, Timestamp,
};
use lantern_ledger::{CouponChoice, Ledger, OrderView, WalletCoupon};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::wire::{
    AddressBody, CURRENCY, CampaignBody, ChannelOrdersBody, CouponBody, DiscountsRequest, ItemRequest,
    LineItemBody, LocationBody, MenuItem, MerchantSummary, OptionChoiceBody, OptionGroupBody, OrderBody,
    RejectedDiscountBody,
};

/// Parses a JSON body; the error says where and what (serde's message names unknown fields).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::invalid("$", "the request needs a JSON body"));
    }
    // serde reads a struct from an array too (field by field); the API takes objects only.
    let first = body.iter().find(|byte| !byte.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(ApiError::invalid("$", "the body must be a JSON object: {...}"));
    }
    serde_json::from_slice(body).map_err(|error| {
        ApiError::invalid("$", format!("the body is not valid JSON for this request: {error}"))
    })
}

pub fn parse_id<T>(parse: fn(&str) -> Result<T, IdError>, text: &str, param: &str) -> Result<T, ApiError> {
    parse(text).map_err(|error| ApiError::invalid(param, error.to_string()))
}

/// A checkout session's id is its quote's: `cs_<n>`.
pub fn session_id(quote: QuoteId) -> String {
    format!("cs_{}", quote.get())
}

pub fn parse_session_id(text: &str) -> Result<QuoteId, ApiError> {
    text.strip_prefix("cs_").and_then(|digits| digits.parse::<u64>().ok()).map(QuoteId::new).ok_or_else(
        || ApiError::not_found(format!("checkout session {text:?} does not exist (ids look like cs_12)")),
    )
}

pub fn cart_lines(items: &[ItemRequest], param: &str) -> Result<Vec<CartLine>, ApiError> {
    if items.is_empty() || items.len() > CART_LINES_MAX {
        return Err(ApiError::invalid(param, format!("give 1..={CART_LINES_MAX} line items")));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let at = |field: &str| format!("{param}[{index}].{field}");
            let id = parse_id(ItemId::parse, &item.id, &at("id"))?;
            if !(1..=LINE_QUANTITY_MAX).contains(&item.quantity) {
                return Err(ApiError::invalid(
                    at("quantity"),
                    format!("quantity must be 1..={LINE_QUANTITY_MAX}"),
                ));
            }
            if item.options.len() > LINE_OPTIONS_MAX {
                return Err(ApiError::invalid(at("options"), format!("at most {LINE_OPTIONS_MAX} options")));
            }
            Ok(CartLine {
                item: id,
                quantity: item.quantity,
                options: item.options.iter().map(|o| OptionId::new(*o)).collect(),
            })
        })
        .collect()
}

/// Discount codes to the ledger's coupon choice. Absent: the best coupon in the wallet; empty:
/// none; a code: that campaign's coupon (codes are campaign ids or names; coupons do not
/// stack, so only the first code is used and the rest are rejected).
pub fn coupon_choice(
    ledger: &Ledger,
    discounts: Option<&DiscountsRequest>,
) -> (CouponChoice, Option<String>, Vec<RejectedDiscountBody>) {
    let Some(discounts) = discounts else { return (CouponChoice::Best, None, Vec::new()) };
    let mut rejected = Vec::new();
    let mut choice = CouponChoice::None;
    let mut used = None;
    for (index, code) in discounts.codes.iter().enumerate() {
        if index > 0 {
            rejected.push(RejectedDiscountBody {
                code: code.clone(),
                reason: "discount_code_combination_disallowed".into(),
                message: "coupons do not stack; only the first code is used".into(),
            });
            continue;
        }
        match resolve_code(ledger, code) {
            Some(campaign) => {
                choice = CouponChoice::Campaign(campaign);
                used = Some(code.clone());
            }
            None => rejected.push(RejectedDiscountBody {
                code: code.clone(),
                reason: "discount_code_invalid".into(),
                message: "no campaign has this code".into(),
            }),
        }
    }
    (choice, used, rejected)
}

fn resolve_code(ledger: &Ledger, code: &str) -> Option<CampaignId> {
    if let Ok(id) = CampaignId::parse(code)
        && ledger.campaign(id).is_some()
    {
        return Some(id);
    }
    ledger.campaign_ids().into_iter().find(|id| {
        ledger.campaign(*id).is_some_and(|campaign| campaign.spec().name.eq_ignore_ascii_case(code))
    })
}

pub fn merchant_summary(merchant: &Merchant, open_orders: u32) -> MerchantSummary {
    MerchantSummary {
        id: merchant.id.to_string(),
        name: merchant.name().to_owned(),
        status: merchant.status.as_str().into(),
        catalog_id: merchant.catalog.to_string(),
        eta_ms: merchant.capacity.eta_ms(open_orders),
        orders_per_minute: merchant.capacity.orders_per_minute(),
        open_orders_max: merchant.capacity.open_orders_max(),
        open_orders,
        location: merchant.location.map(|point| LocationBody { lat: point.lat(), lon: point.lon() }),
        address: merchant.address.as_deref().map(|address| AddressBody {
            line_one: address.line_one().to_owned(),
            city: address.city().to_owned(),
            state: address.state().to_owned(),
            country: address.country().to_owned(),
            postal_code: address.postal_code().to_owned(),
        }),
        distance_m: None,
    }
}

pub fn summary_of(ledger: &Ledger, merchant: MerchantId) -> Option<MerchantSummary> {
    ledger.merchant(merchant).map(|(merchant, backlog, _)| merchant_summary(merchant, backlog))
}

pub fn menu_item(item: &lantern_core::Item) -> MenuItem {
    MenuItem {
        id: item.id.to_string(),
        name: item.name.clone(),
        category: item.category.clone(),
        price: item.price.fen(),
        currency: CURRENCY.into(),
        option_groups: item
            .option_groups
            .iter()
            .map(|group| OptionGroupBody {
                kind: group.kind.as_str().into(),
                name: group.name.clone(),
                min_choices: group.min_choices,
                max_choices: group.max_choices,
                default_choice: group.default_choice.map(OptionId::get),
                choices: group
                    .choices
                    .iter()
                    .map(|choice| OptionChoiceBody {
                        id: choice.id.get(),
                        name: choice.name.clone(),
                        price_delta: choice.price_delta.fen(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

pub fn line_items(catalog: Option<&Catalog>, lines: &[PricedLine]) -> Vec<LineItemBody> {
    lines
        .iter()
        .enumerate()
        .map(|(index, line)| LineItemBody {
            id: format!("li_{}", index + 1),
            item_id: line.item.to_string(),
            name: catalog
                .and_then(|catalog| catalog.item(line.item))
                .map(|item| item.name.clone())
                .unwrap_or_else(|| line.item.to_string()),
            quantity: line.quantity,
            options: line.options.iter().map(|option| option.get()).collect(),
            unit_amount: line.unit_price.fen(),
            total: line.line_total.fen(),
        })
        .collect()
}

pub fn cart_of(lines: &[PricedLine]) -> Vec<CartLine> {
    lines
        .iter()
        .map(|line| CartLine { item: line.item, quantity: line.quantity, options: line.options.clone() })
        .collect()
}

pub fn catalog_of(ledger: &Ledger, merchant: MerchantId) -> Option<&Catalog> {
    merchants_catalog(ledger, merchant).map(Arc::as_ref)
}

fn merchants_catalog(ledger: &Ledger, merchant: MerchantId) -> Option<&Arc<Catalog>> {
    let (merchant, ..) = ledger.merchant(merchant)?;
    ledger.catalog(merchant.catalog)
}

pub fn order_body(ledger: &Ledger, view: &OrderView) -> OrderBody {
    order_body_in(catalog_of(ledger, view.receipt.merchant), view)
}

/// The order's merchant's catalog, shared: with the order's view (whose lines are shared
/// too) it is all an order's body needs, so a caller can copy both out under the ledger's read
/// lock and build the body after letting go of it.
pub fn shared_catalog_of(ledger: &Ledger, merchant: MerchantId) -> Option<Arc<Catalog>> {
    merchants_catalog(ledger, merchant).cloned()
}

/// [`order_body`] from the order's catalog instead of the whole ledger.
pub fn order_body_in(catalog: Option<&Catalog>, view: &OrderView) -> OrderBody {
    let receipt = &view.receipt;
    OrderBody {
        id: receipt.order.to_string(),
        checkout_session_id: session_id(receipt.quote),
        merchant_id: receipt.merchant.to_string(),
        status: view.status.as_str().into(),
        currency: CURRENCY.into(),
        subtotal: receipt.subtotal.fen(),
        discount: receipt.discount.fen(),
        total: receipt.total.fen(),
        coupon_id: receipt.coupon.map(coupon_id_text),
        line_items: line_items(catalog, &view.lines),
        created_at: receipt.placed_at.to_string(),
        updated_at: view.updated_at.to_string(),
        eta_ms: receipt.eta_ms,
        channel: view.channel.as_str().into(),
    }
}

/// Orders placed since the journal began, by channel.
pub fn channel_orders_bodies(ledger: &Ledger) -> Vec<ChannelOrdersBody> {
    ledger
        .orders_by_channel()
        .iter()
        .map(|(channel, orders)| ChannelOrdersBody { channel: channel.as_str().into(), orders: *orders })
        .collect()
}

pub fn order_of(ledger: &Ledger, order: OrderId) -> Option<OrderBody> {
    ledger.order(order).map(|view| order_body(ledger, view))
}

/// `order` as one of its changes left it, not as it is now: only its status and `updated_at`
/// change after placing. (A replayed answer shows its first body; a webhook event, its change.)
pub fn order_as_of(
    ledger: &Ledger,
    order: OrderId,
    status: lantern_core::OrderStatus,
    at: Timestamp,
) -> Option<OrderBody> {
    let mut body = order_of(ledger, order)?;
    body.status = status.as_str().into();
    body.updated_at = at.to_string();
    Some(body)
}

pub fn coupon_id_text(coupon: CouponId) -> String {
    format!("cpn_{}_{}_{}", coupon.campaign.get(), coupon.shopper.get(), coupon.ordinal)
}

pub fn coupon_body(coupon: &WalletCoupon) -> CouponBody {
    CouponBody {
        id: coupon_id_text(coupon.coupon),
        campaign_id: coupon.coupon.campaign.to_string(),
        status: coupon.status.as_str().into(),
        face_value: coupon.face_value.fen(),
        currency: CURRENCY.into(),
        referral: coupon.referral,
        expires_at: coupon.expires_at.to_string(),
    }
}

pub fn campaign_body(campaign: &Campaign, now: Timestamp) -> CampaignBody {
    let spec = campaign.spec();
    let status = match campaign.status() {
        lantern_core::CampaignStatus::Active if now < spec.validity.starts_at() => "scheduled",
        status => status.as_str(),
    };
    CampaignBody {
        id: campaign.id().to_string(),
        name: spec.name.clone(),
        status: status.into(),
        template: spec.template.kind().into(),
        face_value: campaign.face_value().fen(),
        min_spend: spec.min_spend.fen(),
        per_shopper_limit: spec.per_shopper_limit,
        starts_at: spec.validity.starts_at().to_string(),
        ends_at: spec.validity.ends_at().to_string(),
        currency: CURRENCY.into(),
    }
}

/// Parses an RFC 3339 time (`2027-02-28T00:00:00+08:00`, `...Z`, optional fraction).
pub fn parse_time(text: &str, param: &str) -> Result<Timestamp, ApiError> {
    parse_rfc3339(text).ok_or_else(|| {
        ApiError::invalid(param, format!("{text:?} is not an RFC 3339 time like 2027-02-28T00:00:00+08:00"))
    })
}

fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || !matches!(bytes[10], b'T' | b't' | b' ') {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes().all(|b| b.is_ascii_digit()).then(|| part.parse().ok())?
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if bytes[13] != b':' || bytes[16] != b':' || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded: String = fraction[..digits].chars().chain("000".chars()).take(3).collect();
        millis = padded.parse::<i64>().ok()?;
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(rest.as_bytes()[0], b'+' | b'-') && rest.as_bytes()[3] == b':' => {
            let hours: i64 = rest.get(1..3)?.parse().ok()?;
            let minutes: i64 = rest.get(4..6)?.parse().ok()?;
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (hours * 60 + minutes)
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m) = if month <= 2 { (year - 1, month + 9) } else { (year, month - 3) };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * m + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let unix_s = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    let unix_ms = unix_s.checked_mul(1_000)?.checked_add(millis)?;
    u64::try_from(unix_ms).ok().map(Timestamp::from_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_parse_to_unix_ms() {
        let at = |text: &str| parse_rfc3339(text).map(Timestamp::unix_ms);
        assert_eq!(at("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(at("2027-02-06T00:00:00+08:00"), Some(1_801_843_200_000));
        assert_eq!(at("2027-02-05T16:00:00.5Z"), Some(1_801_843_200_500));
        assert_eq!(at("2024-02-29T12:00:00-01:30"), Some(1_709_213_400_000));
        for bad in [
            "",
            "2027-02-06",
            "2027-13-01T00:00:00Z",
            "2027-02-06T25:00:00Z",
            "2027-02-06T00:00:00",
            "1969-12-31T23:59:59Z",
            "2027-02-06T00:00:00.Z",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }

    #[test]
    fn formatted_timestamps_parse_back() {
        for unix_ms in [0, 1_801_843_200_000, 1_803_744_000_123] {
            let text = Timestamp::from_ms(unix_ms).to_string();
            assert_eq!(parse_rfc3339(&text), Some(Timestamp::from_ms(unix_ms)), "{text}");
        }
    }
}
