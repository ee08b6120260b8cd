//! Commands to bytes. On the hot path: no allocation but the growth of `out`, no validation
//! (every value in a [`Command`] is already well-formed).

use lantern_core::pricing::CartLine;
use lantern_core::{
    CampaignSpec, Capacity, Catalog, CouponTemplate, IssuancePace, Item, MerchantStatus, Money, OptionGroup,
    OptionKind, OrderChannel, OrderEvent, Timestamp,
};
use lantern_ledger::{CampaignEdit, Command, CouponChoice};

use crate::format::{
    BATCH_HEADER_BYTES, BATCH_MAGIC, COMMAND_COUNT_BYTES, COMMAND_COUNT_OFFSET, FORMAT_VERSION,
    VARINT_BYTES_MAX, command_tag, coupon_choice_tag, edit_tag, merchant_status_tag, option_kind_tag,
    order_channel_tag, order_event_tag, pace_tag, presence, template_tag,
};

/// A typical hot command's encoded size, to reserve `out` once per batch instead of growing it
/// command by command.
const TYPICAL_COMMAND_BYTES: usize = 16;

/// Appends one batch of `commands` to `out`: the header, then each command.
///
/// `out` is only appended to, so a caller may reuse one buffer for every batch (clearing it in
/// between) and pay for allocation only while it grows to the largest batch.
///
/// # Panics
/// When the batch holds more than `u32::MAX` commands, which no sequencer batch comes near.
pub fn encode_batch<'a>(commands: impl IntoIterator<Item = &'a Command>, out: &mut Vec<u8>) {
    let commands = commands.into_iter();
    let (n_commands_hint, _) = commands.size_hint();
    out.reserve(BATCH_HEADER_BYTES + n_commands_hint.saturating_mul(TYPICAL_COMMAND_BYTES));
    let header_start = out.len();
    out.extend_from_slice(&BATCH_MAGIC);
    out.push(FORMAT_VERSION);
    // Patched below: the iterator need not know its length.
    out.extend_from_slice(&[0; COMMAND_COUNT_BYTES]);
    let mut n_commands: u64 = 0;
    for command in commands {
        put_command(out, command);
        n_commands += 1;
    }
    let Ok(n_commands) = u32::try_from(n_commands) else {
        panic!("bug: a journal batch holds at most u32::MAX commands, got {n_commands}");
    };
    let count_start = header_start + COMMAND_COUNT_OFFSET;
    out[count_start..count_start + COMMAND_COUNT_BYTES].copy_from_slice(&n_commands.to_le_bytes());
}

fn put_command(out: &mut Vec<u8>, command: &Command) {
    match command {
        Command::CreateCampaign { spec } => {
            out.push(command_tag::CREATE_CAMPAIGN);
            put_campaign_spec(out, spec);
        }
        Command::EditCampaign { campaign, edit } => {
            out.push(command_tag::EDIT_CAMPAIGN);
            put_u64(out, campaign.get());
            put_campaign_edit(out, edit);
        }
        Command::PublishCatalog { catalog } => {
            out.push(command_tag::PUBLISH_CATALOG);
            put_catalog(out, catalog);
        }
        Command::RegisterMerchant { merchant } => {
            out.push(command_tag::REGISTER_MERCHANT);
            put_u64(out, merchant.id.get());
            put_str(out, merchant.name());
            put_u64(out, merchant.catalog.get());
            put_merchant_status(out, merchant.status);
            put_capacity(out, merchant.capacity);
            match merchant.location {
                Some(location) => {
                    out.push(presence::PRESENT);
                    put_u64(out, zigzag(i64::from(location.lat_e6())));
                    put_u64(out, zigzag(i64::from(location.lon_e6())));
                }
                None => out.push(presence::ABSENT),
            }
            match &merchant.address {
                Some(address) => {
                    out.push(presence::PRESENT);
                    for field in [
                        address.line_one(),
                        address.city(),
                        address.state(),
                        address.country(),
                        address.postal_code(),
                    ] {
                        put_str(out, field);
                    }
                }
                None => out.push(presence::ABSENT),
            }
        }
        Command::SetMerchantStatus { merchant, status } => {
            out.push(command_tag::SET_MERCHANT_STATUS);
            put_u64(out, merchant.get());
            put_merchant_status(out, *status);
        }
        Command::SetMerchantCapacity { merchant, capacity } => {
            out.push(command_tag::SET_MERCHANT_CAPACITY);
            put_u64(out, merchant.get());
            put_capacity(out, *capacity);
        }
        Command::ClaimCoupon { shopper, campaign, referred_by } => {
            out.push(command_tag::CLAIM_COUPON);
            put_u64(out, shopper.get());
            put_u64(out, campaign.get());
            match referred_by {
                Some(referrer) => {
                    out.push(presence::PRESENT);
                    put_u64(out, referrer.get());
                }
                None => out.push(presence::ABSENT),
            }
        }
        Command::Quote { shopper, merchant, lines, coupon } => {
            out.push(command_tag::QUOTE);
            put_u64(out, shopper.get());
            put_u64(out, merchant.get());
            put_len(out, lines.len());
            for line in lines {
                put_cart_line(out, line);
            }
            put_coupon_choice(out, *coupon);
        }
        Command::Requote { shopper, quote, lines, coupon } => {
            out.push(command_tag::REQUOTE);
            put_u64(out, shopper.get());
            put_u64(out, quote.get());
            put_len(out, lines.len());
            for line in lines {
                put_cart_line(out, line);
            }
            put_coupon_choice(out, *coupon);
        }
        Command::CancelQuote { shopper, quote } => {
            out.push(command_tag::CANCEL_QUOTE);
            put_u64(out, shopper.get());
            put_u64(out, quote.get());
        }
        Command::Keyed { scope, key, fingerprint, command } => {
            out.push(command_tag::KEYED);
            put_u64(out, *scope);
            put_str(out, key.as_str());
            put_u64(out, *fingerprint);
            put_command(out, command);
        }
        Command::PlaceOrder { shopper, quote, idempotency_key, channel } => {
            out.push(command_tag::PLACE_ORDER);
            put_u64(out, shopper.get());
            put_u64(out, quote.get());
            put_str(out, idempotency_key.as_str());
            out.push(order_channel_tag_of(*channel));
        }
        Command::CouponOrder { shopper, campaign, merchant, lines, idempotency_key, channel } => {
            out.push(command_tag::COUPON_ORDER);
            put_u64(out, shopper.get());
            put_u64(out, campaign.get());
            put_u64(out, merchant.get());
            put_len(out, lines.len());
            for line in lines {
                put_cart_line(out, line);
            }
            put_str(out, idempotency_key.as_str());
            out.push(order_channel_tag_of(*channel));
        }
        Command::CancelOrder { shopper, order } => {
            out.push(command_tag::CANCEL_ORDER);
            put_u64(out, shopper.get());
            put_u64(out, order.get());
        }
        Command::AdvanceOrder { merchant, order, event } => {
            out.push(command_tag::ADVANCE_ORDER);
            put_u64(out, merchant.get());
            put_u64(out, order.get());
            out.push(order_event_tag_of(*event));
        }
        Command::Tick => out.push(command_tag::TICK),
        Command::DrawAllFromLeases => out.push(command_tag::DRAW_ALL_FROM_LEASES),
        Command::SettleWebhooks { through } => {
            out.push(command_tag::SETTLE_WEBHOOKS);
            put_u64(out, *through);
        }
    }
}

fn put_campaign_spec(out: &mut Vec<u8>, spec: &CampaignSpec) {
    // Destructured so that a new field is a compile error here rather than silently unjournaled.
    let CampaignSpec {
        name,
        budget,
        template,
        min_spend,
        eligibility,
        per_shopper_limit,
        referral_bonus_cap,
        validity,
        pace,
    } = spec;
    put_str(out, name);
    put_money(out, *budget);
    match template {
        CouponTemplate::AmountOff { amount } => {
            out.push(template_tag::AMOUNT_OFF);
            put_money(out, *amount);
        }
        CouponTemplate::PercentOff { percent_bp, cap } => {
            out.push(template_tag::PERCENT_OFF);
            put_u64(out, u64::from(*percent_bp));
            put_money(out, *cap);
        }
        CouponTemplate::FreeItem { up_to } => {
            out.push(template_tag::FREE_ITEM);
            put_money(out, *up_to);
        }
    }
    put_money(out, *min_spend);
    put_len(out, eligibility.merchants.len());
    for merchant in &eligibility.merchants {
        put_u64(out, merchant.get());
    }
    put_len(out, eligibility.categories.len());
    for category in &eligibility.categories {
        put_str(out, category);
    }
    out.push(*per_shopper_limit);
    out.push(*referral_bonus_cap);
    put_timestamp(out, validity.starts_at());
    put_timestamp(out, validity.ends_at());
    put_pace(out, pace);
}

fn put_campaign_edit(out: &mut Vec<u8>, edit: &CampaignEdit) {
    match edit {
        CampaignEdit::SetEndsAt(ends_at) => {
            out.push(edit_tag::SET_ENDS_AT);
            put_timestamp(out, *ends_at);
        }
        CampaignEdit::SetPace(pace) => {
            out.push(edit_tag::SET_PACE);
            put_pace(out, pace);
        }
        CampaignEdit::TopUp(amount) => {
            out.push(edit_tag::TOP_UP);
            put_money(out, *amount);
        }
        CampaignEdit::Pause => out.push(edit_tag::PAUSE),
        CampaignEdit::Resume => out.push(edit_tag::RESUME),
        CampaignEdit::DrawFromLeases => out.push(edit_tag::DRAW_FROM_LEASES),
        CampaignEdit::LeaseIn(amount) => {
            out.push(edit_tag::LEASE_IN);
            put_money(out, *amount);
        }
        CampaignEdit::LeaseOut(amount) => {
            out.push(edit_tag::LEASE_OUT);
            put_money(out, *amount);
        }
    }
}

fn put_pace(out: &mut Vec<u8>, pace: &IssuancePace) {
    match pace {
        IssuancePace::Unlimited => out.push(pace_tag::UNLIMITED),
        IssuancePace::PerSecond { coupons_per_s, burst } => {
            out.push(pace_tag::PER_SECOND);
            put_u64(out, u64::from(*coupons_per_s));
            put_u64(out, u64::from(*burst));
        }
        IssuancePace::Waves(waves) => {
            out.push(pace_tag::WAVES);
            put_len(out, waves.len());
            for wave in waves {
                put_timestamp(out, wave.starts_at);
                put_u64(out, wave.coupons);
            }
        }
    }
}

fn put_catalog(out: &mut Vec<u8>, catalog: &Catalog) {
    put_u64(out, catalog.id().get());
    // Catalog keeps its items sorted by id, which the decoder relies on for a canonical form.
    put_len(out, catalog.items().len());
    for item in catalog.items() {
        put_item(out, item);
    }
}

fn put_item(out: &mut Vec<u8>, item: &Item) {
    let Item { id, name, category, price, option_groups } = item;
    put_u64(out, id.get());
    put_str(out, name);
    put_str(out, category);
    put_money(out, *price);
    put_len(out, option_groups.len());
    for group in option_groups {
        put_option_group(out, group);
    }
}

fn put_option_group(out: &mut Vec<u8>, group: &OptionGroup) {
    let OptionGroup { kind, name, choices, min_choices, max_choices, default_choice } = group;
    out.push(match kind {
        OptionKind::Size => option_kind_tag::SIZE,
        OptionKind::Sugar => option_kind_tag::SUGAR,
        OptionKind::Ice => option_kind_tag::ICE,
        OptionKind::Topping => option_kind_tag::TOPPING,
        OptionKind::Other => option_kind_tag::OTHER,
    });
    put_str(out, name);
    put_len(out, choices.len());
    for choice in choices {
        put_u64(out, u64::from(choice.id.get()));
        put_str(out, &choice.name);
        put_money(out, choice.price_delta);
    }
    out.push(*min_choices);
    out.push(*max_choices);
    match default_choice {
        Some(option) => {
            out.push(presence::PRESENT);
            put_u64(out, u64::from(option.get()));
        }
        None => out.push(presence::ABSENT),
    }
}

fn put_cart_line(out: &mut Vec<u8>, line: &CartLine) {
    put_u64(out, line.item.get());
    put_u64(out, u64::from(line.quantity));
    put_len(out, line.options.len());
    for option in &line.options {
        put_u64(out, u64::from(option.get()));
    }
}

fn put_coupon_choice(out: &mut Vec<u8>, choice: CouponChoice) {
    match choice {
        CouponChoice::Best => out.push(coupon_choice_tag::BEST),
        CouponChoice::Campaign(campaign) => {
            out.push(coupon_choice_tag::CAMPAIGN);
            put_u64(out, campaign.get());
        }
        CouponChoice::None => out.push(coupon_choice_tag::NONE),
    }
}

fn put_merchant_status(out: &mut Vec<u8>, status: MerchantStatus) {
    out.push(match status {
        MerchantStatus::Open => merchant_status_tag::OPEN,
        MerchantStatus::Busy => merchant_status_tag::BUSY,
        MerchantStatus::Paused => merchant_status_tag::PAUSED,
    });
}

fn put_capacity(out: &mut Vec<u8>, capacity: Capacity) {
    put_u64(out, u64::from(capacity.orders_per_minute()));
    put_u64(out, u64::from(capacity.open_orders_max()));
}

const fn order_channel_tag_of(channel: OrderChannel) -> u8 {
    match channel {
        OrderChannel::Api => order_channel_tag::API,
        OrderChannel::Chat => order_channel_tag::CHAT,
        OrderChannel::Acp => order_channel_tag::ACP,
    }
}

const fn order_event_tag_of(event: OrderEvent) -> u8 {
    match event {
        OrderEvent::Accept => order_event_tag::ACCEPT,
        OrderEvent::Reject => order_event_tag::REJECT,
        OrderEvent::Ready => order_event_tag::READY,
        OrderEvent::Dispatch => order_event_tag::DISPATCH,
        OrderEvent::Deliver => order_event_tag::DELIVER,
        OrderEvent::Cancel => order_event_tag::CANCEL,
    }
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_len(out, text.len());
    out.extend_from_slice(text.as_bytes());
}

fn put_len(out: &mut Vec<u8>, length: usize) {
    // usize is at most 64 bits on every platform lantern builds for.
    put_u64(out, length as u64);
}

fn put_money(out: &mut Vec<u8>, amount: Money) {
    put_u64(out, zigzag(amount.fen()));
}

fn put_timestamp(out: &mut Vec<u8>, at: Timestamp) {
    put_u64(out, at.unix_ms());
}

/// Maps small magnitudes of either sign to small unsigned numbers (0, -1, 1, -2 → 0, 1, 2, 3),
/// so a price delta of -3 yuan takes two bytes, not ten.
pub(crate) const fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// LEB128: seven bits per byte, low first, high bit set on all but the last byte.
#[inline]
fn put_u64(out: &mut Vec<u8>, value: u64) {
    if value < 0x80 {
        // The common case (lengths, quantities, small ids and amounts): one push.
        out.push(value as u8);
        return;
    }
    let mut buffer = [0_u8; VARINT_BYTES_MAX];
    let mut rest = value;
    let mut length = 0;
    while rest >= 0x80 {
        buffer[length] = (rest as u8) | 0x80;
        rest >>= 7;
        length += 1;
    }
    buffer[length] = rest as u8;
    out.extend_from_slice(&buffer[..=length]);
}
