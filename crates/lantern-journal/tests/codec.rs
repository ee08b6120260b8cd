//! Round trips of every command, property tests of the hot commands, and decoding of damaged
//! or hostile bytes.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use lantern_core::pricing::CartLine;
use lantern_core::{
    Address, CampaignId, CampaignSpec, Capacity, Catalog, CatalogId, CouponTemplate, Eligibility, GeoPoint,
    IdempotencyKey, IssuancePace, Item, ItemId, ItemOption, Merchant, MerchantId, MerchantStatus, Money,
    OptionGroup, OptionId, OptionKind, OrderChannel, OrderEvent, OrderId, QuoteId, ShopperId, Timestamp,
    Validity, Wave,
};
use lantern_journal::{
    BATCH_HEADER_BYTES, BATCH_MAGIC, CommandProblem, DecodeError, FORMAT_VERSION, InvalidValue, decode_batch,
    encode_batch,
};
use lantern_ledger::{CampaignEdit, Command, CouponChoice};
use proptest::prelude::*;

const FEB_10_2026_MS: u64 = 1_770_681_600_000;
const DAY_MS: u64 = 86_400_000;

fn option(id: u32, name: &str, delta_fen: i64) -> ItemOption {
    ItemOption { id: OptionId::new(id), name: name.into(), price_delta: Money::from_fen(delta_fen) }
}

fn group(
    kind: OptionKind,
    name: &str,
    choices: Vec<ItemOption>,
    min: u8,
    max: u8,
    default: Option<u32>,
) -> OptionGroup {
    OptionGroup {
        kind,
        name: name.into(),
        choices,
        min_choices: min,
        max_choices: max,
        default_choice: default.map(OptionId::new),
    }
}

fn bubble_tea_catalog() -> Catalog {
    let size = || {
        group(
            OptionKind::Size,
            "杯型 size",
            vec![option(1, "中杯 medium", 0), option(2, "大杯 large", 300)],
            1,
            1,
            Some(1),
        )
    };
    let sugar = || {
        group(
            OptionKind::Sugar,
            "甜度 sugar",
            vec![option(10, "全糖 full", 0), option(11, "少糖 less", 0), option(12, "无糖 none", 0)],
            0,
            1,
            Some(10),
        )
    };
    let ice = || {
        group(
            OptionKind::Ice,
            "冰量 ice",
            vec![option(20, "正常冰 regular", 0), option(21, "去冰 no ice", 0), option(22, "热 hot", 0)],
            0,
            1,
            None,
        )
    };
    let toppings = group(
        OptionKind::Topping,
        "加料 toppings",
        vec![
            option(30, "珍珠 pearls", 200),
            option(31, "椰果 coconut jelly", 150),
            option(32, "芋圆 taro balls", 300),
        ],
        0,
        3,
        None,
    );
    let items = vec![
        Item {
            id: ItemId::new(101),
            name: "杨枝甘露 Mango Pomelo Sago".into(),
            category: "果茶 fruit tea".into(),
            price: Money::from_fen(1_800),
            option_groups: vec![size(), sugar(), ice()],
        },
        Item {
            id: ItemId::new(7),
            name: "珍珠奶茶 Pearl Milk Tea".into(),
            category: "奶茶 milk tea".into(),
            price: Money::from_fen(1_500),
            option_groups: vec![size(), sugar(), ice(), toppings],
        },
        Item {
            id: ItemId::new(300_000),
            name: "柠檬水 Lemonade".into(),
            category: "饮品 drinks".into(),
            price: Money::from_fen(400),
            option_groups: vec![group(
                OptionKind::Other,
                "discount",
                vec![option(40, "自带杯 own cup", -100)],
                0,
                1,
                None,
            )],
        },
    ];
    Catalog::new(CatalogId::new(9), items).unwrap_or_else(|e| panic!("{e}"))
}

fn festival_spec(template: CouponTemplate, pace: IssuancePace) -> CampaignSpec {
    CampaignSpec {
        name: "春节红包 Spring Festival".into(),
        budget: Money::from_yuan(3_000_000_000),
        template,
        min_spend: Money::ZERO,
        eligibility: Eligibility::default(),
        per_shopper_limit: 1,
        referral_bonus_cap: 3,
        validity: Validity::new(
            Timestamp::from_ms(FEB_10_2026_MS),
            Timestamp::from_ms(FEB_10_2026_MS + 13 * DAY_MS),
        )
        .unwrap_or_else(|e| panic!("{e}")),
        pace,
    }
}

fn waves() -> IssuancePace {
    IssuancePace::Waves(vec![
        Wave { starts_at: Timestamp::from_ms(FEB_10_2026_MS), coupons: 1_000_000 },
        Wave { starts_at: Timestamp::from_ms(FEB_10_2026_MS + 3_600_000), coupons: 4_000_000 },
        Wave { starts_at: Timestamp::from_ms(FEB_10_2026_MS + DAY_MS), coupons: u64::MAX },
    ])
}

/// Wudaokou, Beijing; the far corners too.
fn wudaokou() -> GeoPoint {
    GeoPoint::new(39_992_800, 116_337_700).unwrap_or_else(|e| panic!("{e}"))
}

fn chengfu_road() -> Address {
    Address::new("成府路 1号", "北京市", "北京市", "CN", "100083").unwrap_or_else(|e| panic!("{e}"))
}

fn merchant(status: MerchantStatus) -> Merchant {
    let capacity = Capacity::new(12, 40).unwrap_or_else(|e| panic!("{e}"));
    let mut merchant =
        Merchant::new(MerchantId::new(123_456), "茶百道 (五道口店) Wudaokou", CatalogId::new(9), capacity)
            .unwrap_or_else(|e| panic!("{e}"));
    merchant.status = status;
    merchant
}

fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::new(text).unwrap_or_else(|e| panic!("{e}"))
}

/// One of every command, and of every enum inside them.
fn every_command() -> Vec<Command> {
    let campaign = CampaignId::new(1);
    let shopper = ShopperId::new(8_000_000);
    let mut commands = vec![
        Command::CreateCampaign {
            spec: festival_spec(
                CouponTemplate::AmountOff { amount: Money::from_yuan(25) },
                IssuancePace::Unlimited,
            ),
        },
        Command::CreateCampaign {
            spec: CampaignSpec {
                min_spend: Money::from_yuan(30),
                eligibility: Eligibility {
                    merchants: vec![MerchantId::new(123_456), MerchantId::new(u64::MAX)],
                    categories: vec!["奶茶 milk tea".into(), "果茶 fruit tea".into()],
                },
                per_shopper_limit: 8,
                referral_bonus_cap: 0,
                ..festival_spec(
                    CouponTemplate::PercentOff { percent_bp: 1_500, cap: Money::from_yuan(10) },
                    IssuancePace::PerSecond { coupons_per_s: 5_000, burst: 20_000 },
                )
            },
        },
        Command::CreateCampaign {
            spec: festival_spec(CouponTemplate::FreeItem { up_to: Money::from_fen(1_800) }, waves()),
        },
        Command::EditCampaign {
            campaign,
            edit: CampaignEdit::SetEndsAt(Timestamp::from_ms(FEB_10_2026_MS + 18 * DAY_MS)),
        },
        Command::EditCampaign { campaign, edit: CampaignEdit::SetPace(IssuancePace::Unlimited) },
        Command::EditCampaign {
            campaign,
            edit: CampaignEdit::SetPace(IssuancePace::PerSecond { coupons_per_s: 1, burst: 1_000_000 }),
        },
        Command::EditCampaign { campaign, edit: CampaignEdit::SetPace(waves()) },
        Command::EditCampaign { campaign, edit: CampaignEdit::TopUp(Money::from_yuan(500_000_000)) },
        Command::EditCampaign { campaign, edit: CampaignEdit::Pause },
        Command::EditCampaign { campaign, edit: CampaignEdit::Resume },
        Command::EditCampaign { campaign, edit: CampaignEdit::DrawFromLeases },
        Command::EditCampaign { campaign, edit: CampaignEdit::LeaseIn(Money::from_yuan(250_000)) },
        Command::EditCampaign { campaign, edit: CampaignEdit::LeaseIn(Money::ZERO) },
        Command::EditCampaign { campaign, edit: CampaignEdit::LeaseOut(Money::from_fen(2_501)) },
        Command::PublishCatalog { catalog: Arc::new(bubble_tea_catalog()) },
    ];
    for status in [MerchantStatus::Open, MerchantStatus::Busy, MerchantStatus::Paused] {
        commands.push(Command::RegisterMerchant { merchant: merchant(status) });
        commands.push(Command::RegisterMerchant { merchant: merchant(status).with_location(wudaokou()) });
        commands.push(Command::RegisterMerchant {
            merchant: merchant(status).with_location(wudaokou()).with_address(chengfu_road()),
        });
        commands.push(Command::SetMerchantStatus { merchant: MerchantId::new(123_456), status });
    }
    commands.extend([
        Command::SetMerchantCapacity {
            merchant: MerchantId::new(123_456),
            capacity: Capacity::new(100_000, 1_000_000).unwrap_or_else(|e| panic!("{e}")),
        },
        Command::ClaimCoupon { shopper, campaign, referred_by: None },
        Command::ClaimCoupon { shopper: ShopperId::new(2), campaign, referred_by: Some(shopper) },
    ]);
    for coupon in [CouponChoice::Best, CouponChoice::Campaign(campaign), CouponChoice::None] {
        commands.push(Command::Quote {
            shopper,
            merchant: MerchantId::new(123_456),
            lines: vec![
                CartLine {
                    item: ItemId::new(7),
                    quantity: 2,
                    options: vec![OptionId::new(2), OptionId::new(11), OptionId::new(30)],
                },
                CartLine { item: ItemId::new(101), quantity: 1, options: vec![] },
            ],
            coupon,
        });
    }
    commands.extend([
        Command::Quote { shopper, merchant: MerchantId::new(1), lines: vec![], coupon: CouponChoice::Best },
        Command::PlaceOrder {
            shopper,
            quote: QuoteId::new(77),
            idempotency_key: key("order-7f3a9c2e-0001"),
            channel: OrderChannel::Acp,
        },
        Command::CancelOrder { shopper, order: OrderId::new(5) },
    ]);
    for event in [
        OrderEvent::Accept,
        OrderEvent::Reject,
        OrderEvent::Ready,
        OrderEvent::Dispatch,
        OrderEvent::Deliver,
        OrderEvent::Cancel,
    ] {
        commands.push(Command::AdvanceOrder {
            merchant: MerchantId::new(123_456),
            order: OrderId::new(5),
            event,
        });
    }
    commands.push(Command::Tick);
    commands.push(Command::DrawAllFromLeases);
    commands.push(Command::SettleWebhooks { through: u64::MAX });
    commands.push(Command::Requote {
        shopper,
        quote: QuoteId::new(77),
        lines: vec![],
        coupon: CouponChoice::Campaign(campaign),
    });
    commands.push(Command::CancelQuote { shopper, quote: QuoteId::new(77) });
    commands.push(Command::CouponOrder {
        shopper,
        campaign,
        merchant: MerchantId::new(9),
        lines: vec![],
        idempotency_key: key("coupon-order-1"),
        channel: OrderChannel::Chat,
    });
    commands.push(Command::Keyed {
        scope: u64::MAX,
        key: key("checkout-complete-1"),
        fingerprint: 0x0123_4567_89ab_cdef,
        command: Box::new(Command::CancelOrder { shopper, order: OrderId::new(5) }),
    });
    commands
}

fn encode(commands: &[Command]) -> Vec<u8> {
    let mut bytes = Vec::new();
    encode_batch(commands, &mut bytes);
    bytes
}

/// What every successful decode must satisfy: the commands re-encode to exactly the same bytes
/// (a batch of an older version: to the same commands, in the current version).
fn assert_canonical(bytes: &[u8], commands: &[Command]) {
    let encoded = encode(commands);
    if bytes.get(BATCH_MAGIC.len()) == Some(&FORMAT_VERSION) {
        assert_eq!(encoded, bytes, "a decoded batch must re-encode to the same bytes");
    } else {
        assert_eq!(decode_batch(&encoded).as_deref(), Ok(commands), "an older batch must upgrade as it read");
    }
}

/// A batch of one order (shopper 1, quote 2) under `key_text`.
fn place_order_batch(key_text: &str, channel: OrderChannel) -> Vec<u8> {
    encode(&[Command::PlaceOrder {
        shopper: ShopperId::new(1),
        quote: QuoteId::new(2),
        idempotency_key: key(key_text),
        channel,
    }])
}

fn command_problem(error: DecodeError) -> (usize, usize, CommandProblem) {
    match error {
        DecodeError::Command { command_index, offset, problem } => (command_index, offset, problem),
        other => panic!("expected a command problem, got {other:?}"),
    }
}

#[test]
fn every_command_round_trips() {
    let commands = every_command();
    let kinds: std::collections::BTreeSet<&str> = commands.iter().map(Command::kind).collect();
    assert_eq!(kinds.len(), 17, "the sample must hold every command variant");
    let bytes = encode(&commands);
    let decoded = decode_batch(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(decoded, commands);
    // And one at a time, so a broken variant is named by the failing assertion.
    for command in &commands {
        let bytes = encode(std::slice::from_ref(command));
        assert_eq!(decode_batch(&bytes).as_deref(), Ok(std::slice::from_ref(command)), "{}", command.kind());
    }
}

#[test]
fn a_keyed_command_inside_a_keyed_command_is_refused() {
    let inner =
        Command::Keyed { scope: 1, key: key("inner"), fingerprint: 2, command: Box::new(Command::Tick) };
    let outer = Command::Keyed { scope: 1, key: key("outer"), fingerprint: 2, command: Box::new(inner) };
    let bytes = encode(&[outer]);
    let (command_index, _, problem) = command_problem(decode_batch(&bytes).expect_err("nested keyed"));
    assert_eq!(command_index, 0);
    assert!(format!("{problem:?}").contains("inside keyed"), "{problem:?}");
}

#[test]
fn an_empty_batch_round_trips() {
    let bytes = encode(&[]);
    assert_eq!(bytes.len(), BATCH_HEADER_BYTES);
    assert_eq!(decode_batch(&bytes), Ok(vec![]));
}

#[test]
fn encode_appends_and_reuses_the_buffer() {
    let mut out = b"prefix".to_vec();
    encode_batch(&[Command::Tick], &mut out);
    assert_eq!(&out[..6], b"prefix");
    assert_eq!(decode_batch(&out[6..]), Ok(vec![Command::Tick]));
    // Works with any iterator of references, as the sequencer passes its queue.
    let queue = [(Command::Tick, 1), (Command::Tick, 2)];
    out.clear();
    encode_batch(queue.iter().map(|(command, _)| command), &mut out);
    assert_eq!(decode_batch(&out), Ok(vec![Command::Tick, Command::Tick]));
}

/// Pins the format: if this changes, journals on disk no longer decode, and FORMAT_VERSION must
/// go up instead.
#[test]
fn the_format_is_stable() {
    let commands = [
        Command::ClaimCoupon {
            shopper: ShopperId::new(300),
            campaign: CampaignId::new(1),
            referred_by: Some(ShopperId::new(2)),
        },
        Command::EditCampaign {
            campaign: CampaignId::new(1),
            edit: CampaignEdit::TopUp(Money::from_fen(-65)),
        },
        Command::PlaceOrder {
            shopper: ShopperId::new(1),
            quote: QuoteId::new(2),
            idempotency_key: key("k1"),
            channel: OrderChannel::Acp,
        },
        Command::Tick,
        Command::SettleWebhooks { through: 300 },
    ];
    let expected: Vec<u8> = [
        &b"LTJB"[..],
        &[5, 5, 0, 0, 0],
        &[7, 0xac, 0x02, 1, 1, 2],
        &[2, 1, 2, 129, 1],
        &[9, 1, 2, 2, b'k', b'1', 2],
        &[12],
        &[18, 0xac, 0x02],
    ]
    .concat();
    assert_eq!(encode(&commands), expected);
}

/// Journals written before orders carried their channel (format version 1) still decode, every
/// order placed through the API; read back, they are written in the current version.
#[test]
fn a_version_1_batch_still_decodes_with_its_orders_from_the_api() {
    let version_1: Vec<u8> =
        [&b"LTJB"[..], &[1, 3, 0, 0, 0], &[9, 1, 2, 2, b'k', b'1'], &[16, 1, 3, 4, 0, 2, b'k', b'2'], &[12]]
            .concat();
    let commands = decode_batch(&version_1).unwrap();
    let expected = vec![
        Command::PlaceOrder {
            shopper: ShopperId::new(1),
            quote: QuoteId::new(2),
            idempotency_key: key("k1"),
            channel: OrderChannel::Api,
        },
        Command::CouponOrder {
            shopper: ShopperId::new(1),
            campaign: CampaignId::new(3),
            merchant: MerchantId::new(4),
            lines: vec![],
            idempotency_key: key("k2"),
            channel: OrderChannel::Api,
        },
        Command::Tick,
    ];
    assert_eq!(commands, expected);
    let upgraded = encode(&commands);
    assert_eq!(upgraded[BATCH_MAGIC.len()], FORMAT_VERSION);
    assert_eq!(decode_batch(&upgraded).unwrap(), expected);
    // A version 1 batch with a channel byte has a byte too many.
    let mut with_channel = version_1.clone();
    with_channel.insert(BATCH_HEADER_BYTES + 6, 2);
    assert!(decode_batch(&with_channel).is_err());
}

/// Version 4 journals (merchants without an address) still decode; version 5 carries it, through
/// `Address::new`.
#[test]
fn a_version_4_merchant_decodes_without_an_address_and_a_bad_address_is_refused() {
    let located =
        [Command::RegisterMerchant { merchant: merchant(MerchantStatus::Open).with_location(wudaokou()) }];
    let mut version_4 = encode(&located);
    assert_eq!(version_4.pop(), Some(0), "the current version writes an absent address");
    version_4[BATCH_MAGIC.len()] = 4;
    assert_eq!(decode_batch(&version_4).unwrap(), located);
    let addressed =
        [Command::RegisterMerchant { merchant: merchant(MerchantStatus::Open).with_address(chengfu_road()) }];
    let mut bytes = encode(&addressed);
    assert_eq!(decode_batch(&bytes).unwrap(), addressed);
    // "CN" as "cN": Address::new refuses a country code not in capitals.
    let country_at = bytes.windows(2).rposition(|window| window == b"CN").unwrap();
    bytes[country_at] = b'c';
    let (_, _, problem) = command_problem(decode_batch(&bytes).unwrap_err());
    assert!(
        matches!(&problem, CommandProblem::Invalid { what: "register_merchant.address", .. }),
        "{problem:?}"
    );
}

/// Version 2 journals (orders with their channel, merchants without a location) still decode.
#[test]
fn a_version_2_merchant_decodes_without_a_location() {
    let unlocated = [Command::RegisterMerchant { merchant: merchant(MerchantStatus::Busy) }];
    let mut version_2 = encode(&unlocated);
    assert_eq!(version_2.pop(), Some(0), "the current version writes an absent address");
    assert_eq!(version_2.pop(), Some(0), "and before it an absent location");
    version_2[BATCH_MAGIC.len()] = 2;
    assert_eq!(decode_batch(&version_2).unwrap(), unlocated);
    // Version 3 carries it; a latitude past the pole is refused by GeoPoint::new.
    let far = Command::RegisterMerchant {
        merchant: merchant(MerchantStatus::Open)
            .with_location(GeoPoint::new(-90_000_000, 180_000_000).unwrap()),
    };
    let one = std::slice::from_ref(&far);
    assert_eq!(decode_batch(&encode(one)).unwrap(), one);
    let mut bytes = encode(&[far]);
    // The location comes last but for the address's absence: presence, latitude (zigzag
    // -90,000,000 = 179,999,999: 4 varint bytes), longitude (zigzag 180,000,000: 5 bytes).
    // Write -90,000,001 instead.
    let lat_at = bytes.len() - 1 - 5 - 4;
    assert_eq!(bytes[lat_at - 1], 1, "presence");
    let mut zigzag = 180_000_001_u64;
    for byte in &mut bytes[lat_at..lat_at + 4] {
        *byte = (zigzag & 0x7f) as u8 | if zigzag >= 0x80 { 0x80 } else { 0 };
        zigzag >>= 7;
    }
    let error = decode_batch(&bytes);
    assert!(
        matches!(
            &error,
            Err(DecodeError::Command {
                problem: CommandProblem::Invalid { what: "register_merchant.location", .. },
                ..
            })
        ),
        "{error:?}"
    );
}

#[test]
fn an_unknown_channel_is_named() {
    let mut bytes = place_order_batch("k1", OrderChannel::Chat);
    let channel_at = bytes.len() - 1;
    bytes[channel_at] = 9;
    let (index, offset, problem) = command_problem(decode_batch(&bytes).unwrap_err());
    assert_eq!((index, offset), (0, channel_at));
    assert_eq!(problem, CommandProblem::UnknownTag { what: "place_order.channel", tag: 9 });
}

#[test]
fn a_newer_version_says_so() {
    let mut bytes = encode(&every_command());
    bytes[BATCH_MAGIC.len()] = FORMAT_VERSION + 1;
    let error = decode_batch(&bytes).unwrap_err();
    assert_eq!(error, DecodeError::NewerVersion { version: FORMAT_VERSION + 1 });
    let message = error.to_string();
    assert!(message.contains("written by a newer lantern"), "{message}");
    assert!(message.contains("upgrade lantern"), "{message}");

    bytes[BATCH_MAGIC.len()] = 0;
    assert_eq!(decode_batch(&bytes), Err(DecodeError::UnknownVersion { version: 0 }));
}

#[test]
fn header_damage_is_named() {
    let bytes = encode(&[Command::Tick]);
    assert_eq!(decode_batch(&bytes[..3]), Err(DecodeError::HeaderTruncated { length_bytes: 3 }));
    let mut wrong_magic = bytes.clone();
    wrong_magic[0] = b'X';
    assert!(matches!(decode_batch(&wrong_magic), Err(DecodeError::BadMagic { found }) if found == *b"XTJB"));
    // A damaged entry says what to do about it: go back to a backup.
    let message = decode_batch(&wrong_magic).map(|_| ()).unwrap_err().to_string();
    assert!(message.ends_with(lantern_journal::BACKUP_ADVICE) && message.contains("backups/"), "{message}");
    let mut too_many = bytes.clone();
    too_many[5] = 2;
    assert_eq!(
        decode_batch(&too_many),
        Err(DecodeError::CountBeyondEnd { n_commands: 2, remaining_bytes: 1 })
    );
    let mut huge_count = bytes;
    huge_count[5..9].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(decode_batch(&huge_count), Err(DecodeError::CountBeyondEnd { .. })));
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = encode(&[Command::Tick]);
    bytes.extend_from_slice(&[12, 12]);
    assert_eq!(
        decode_batch(&bytes),
        Err(DecodeError::TrailingBytes { offset: BATCH_HEADER_BYTES + 1, n_bytes: 2 })
    );
}

#[test]
fn command_damage_names_the_command_and_offset() {
    let commands =
        [Command::Tick, Command::CancelOrder { shopper: ShopperId::new(1), order: OrderId::new(2) }];
    let bytes = encode(&commands);

    let mut unknown = bytes.clone();
    unknown[BATCH_HEADER_BYTES + 1] = 200;
    let error = decode_batch(&unknown).unwrap_err();
    assert!(
        error.to_string().starts_with("journal batch, command 1 (byte 10): command has unknown tag 200"),
        "{error}"
    );
    assert_eq!(
        command_problem(error),
        (1, BATCH_HEADER_BYTES + 1, CommandProblem::UnknownTag { what: "command", tag: 200 })
    );

    let truncated = &bytes[..bytes.len() - 1];
    assert_eq!(
        command_problem(decode_batch(truncated).unwrap_err()),
        (1, BATCH_HEADER_BYTES + 3, CommandProblem::Truncated { what: "cancel_order.order" })
    );

    // 0x80 0x00 is zero written in two bytes: refused so that decoding stays canonical.
    let overlong =
        [&bytes[..BATCH_HEADER_BYTES + 2], &[0x80, 0x00], &bytes[BATCH_HEADER_BYTES + 3..]].concat();
    assert_eq!(
        command_problem(decode_batch(&overlong).unwrap_err()),
        (1, BATCH_HEADER_BYTES + 2, CommandProblem::BadVarint { what: "cancel_order.shopper" })
    );
    let too_long = [&bytes[..BATCH_HEADER_BYTES + 2], &[0xff; 10], &[0x01]].concat();
    assert!(matches!(
        command_problem(decode_batch(&too_long).unwrap_err()).2,
        CommandProblem::BadVarint { what: "cancel_order.shopper" }
    ));
}

#[test]
fn lengths_beyond_the_end_are_refused_before_allocating() {
    // A quote claiming u64::MAX lines, then nothing.
    let mut bytes = encode(&[Command::Quote {
        shopper: ShopperId::new(1),
        merchant: MerchantId::new(2),
        lines: vec![],
        coupon: CouponChoice::Best,
    }]);
    let lines_at = BATCH_HEADER_BYTES + 3;
    bytes.truncate(lines_at);
    bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0]);
    let (index, offset, problem) = command_problem(decode_batch(&bytes).unwrap_err());
    assert_eq!((index, offset), (0, lines_at));
    assert_eq!(
        problem,
        CommandProblem::LengthBeyondEnd { what: "quote.lines", length: u64::MAX, remaining_bytes: 1 }
    );

    // A string longer than what is left.
    let mut bytes = place_order_batch("abc", OrderChannel::Api);
    let length_at = bytes.len() - 5;
    bytes[length_at] = 5;
    assert!(matches!(
        command_problem(decode_batch(&bytes).unwrap_err()).2,
        CommandProblem::LengthBeyondEnd {
            what: "place_order.idempotency_key",
            length: 5,
            remaining_bytes: 4
        }
    ));
}

#[test]
fn values_go_through_their_checking_constructors() {
    // An idempotency key with a space, which IdempotencyKey::new refuses.
    let mut bytes = place_order_batch("a-b", OrderChannel::Api);
    let dash_at = bytes.len() - 3;
    bytes[dash_at] = b' ';
    let (_, _, problem) = command_problem(decode_batch(&bytes).unwrap_err());
    assert!(matches!(problem, CommandProblem::Invalid { source: InvalidValue::Id(_), .. }), "{problem:?}");

    // Invalid UTF-8 in a merchant name.
    let mut bytes = encode(&[Command::RegisterMerchant { merchant: merchant(MerchantStatus::Open) }]);
    let name_at = bytes.windows(3).position(|window| window == "茶".as_bytes()).unwrap();
    bytes[name_at] = 0xff;
    let (_, offset, problem) = command_problem(decode_batch(&bytes).unwrap_err());
    assert_eq!(problem, CommandProblem::BadUtf8 { what: "register_merchant.name" });
    assert_eq!(offset, name_at - 1, "the offset is where the string's length starts");

    // A capacity of zero orders per minute, which Capacity::new refuses.
    let mut bytes = encode(&[Command::SetMerchantCapacity {
        merchant: MerchantId::new(1),
        capacity: Capacity::new(1, 1).unwrap(),
    }]);
    bytes[BATCH_HEADER_BYTES + 2] = 0;
    let (_, _, problem) = command_problem(decode_batch(&bytes).unwrap_err());
    assert!(
        matches!(problem, CommandProblem::Invalid { source: InvalidValue::Merchant(_), .. }),
        "{problem:?}"
    );

    // A validity that ends before it starts.
    let mut spec =
        festival_spec(CouponTemplate::AmountOff { amount: Money::from_yuan(25) }, IssuancePace::Unlimited);
    spec.validity = Validity::new(Timestamp::from_ms(1), Timestamp::from_ms(2)).unwrap();
    let mut bytes = encode(&[Command::CreateCampaign { spec }]);
    let ends_at = bytes.len() - 2;
    assert_eq!(bytes[ends_at - 1..], [1, 2, 0]);
    bytes[ends_at] = 1;
    let (_, _, problem) = command_problem(decode_batch(&bytes).unwrap_err());
    assert!(
        matches!(problem, CommandProblem::Invalid { source: InvalidValue::Campaign(_), .. }),
        "{problem:?}"
    );

    // A catalog whose default option is not one of the group's choices.
    let bytes = encode(&[Command::PublishCatalog { catalog: Arc::new(bubble_tea_catalog()) }]);
    let default_at = bytes.windows(4).position(|window| window == [1, 1, 1, 1]).unwrap();
    let mut damaged = bytes.clone();
    damaged[default_at + 3] = 99;
    let (_, _, problem) = command_problem(decode_batch(&damaged).unwrap_err());
    assert!(
        matches!(problem, CommandProblem::Invalid { source: InvalidValue::Catalog(_), .. }),
        "{problem:?}"
    );
}

fn shopper_id() -> impl Strategy<Value = ShopperId> {
    prop_oneof![0..1_000_u64, any::<u64>()].prop_map(ShopperId::new)
}

fn idempotency_key() -> impl Strategy<Value = IdempotencyKey> {
    "[!-~]{1,255}".prop_map(|text| key(&text))
}

fn cart_line() -> impl Strategy<Value = CartLine> {
    (any::<u64>(), any::<u16>(), prop::collection::vec(any::<u32>(), 0..40)).prop_map(
        |(item, quantity, options)| CartLine {
            item: ItemId::new(item),
            quantity,
            options: options.into_iter().map(OptionId::new).collect(),
        },
    )
}

fn coupon_choice() -> impl Strategy<Value = CouponChoice> {
    prop_oneof![
        Just(CouponChoice::Best),
        Just(CouponChoice::None),
        any::<u64>().prop_map(|id| CouponChoice::Campaign(CampaignId::new(id))),
    ]
}

fn order_event() -> impl Strategy<Value = OrderEvent> {
    prop_oneof![
        Just(OrderEvent::Accept),
        Just(OrderEvent::Reject),
        Just(OrderEvent::Ready),
        Just(OrderEvent::Dispatch),
        Just(OrderEvent::Deliver),
        Just(OrderEvent::Cancel),
    ]
}

/// The commands every order sends, with random field values, extremes included.
fn hot_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        (shopper_id(), any::<u64>(), prop::option::of(shopper_id())).prop_map(
            |(shopper, campaign, referred_by)| {
                Command::ClaimCoupon { shopper, campaign: CampaignId::new(campaign), referred_by }
            }
        ),
        (shopper_id(), any::<u64>(), prop::collection::vec(cart_line(), 0..60), coupon_choice()).prop_map(
            |(shopper, merchant, lines, coupon)| Command::Quote {
                shopper,
                merchant: MerchantId::new(merchant),
                lines,
                coupon
            }
        ),
        (shopper_id(), any::<u64>(), idempotency_key(), prop::sample::select(OrderChannel::ALL.to_vec()))
            .prop_map(|(shopper, quote, idempotency_key, channel)| {
                Command::PlaceOrder { shopper, quote: QuoteId::new(quote), idempotency_key, channel }
            }),
        (shopper_id(), any::<u64>())
            .prop_map(|(shopper, order)| Command::CancelOrder { shopper, order: OrderId::new(order) }),
        (any::<u64>(), any::<u64>(), order_event()).prop_map(|(merchant, order, event)| {
            Command::AdvanceOrder { merchant: MerchantId::new(merchant), order: OrderId::new(order), event }
        }),
        Just(Command::Tick),
        any::<u64>().prop_map(|through| Command::SettleWebhooks { through }),
    ]
}

/// Checks the contract of `decode_batch` on arbitrary input: no panic, and either an error or
/// commands that re-encode to exactly these bytes (so nothing was misread or dropped).
fn decodes_to_error_or_canonical_batch(bytes: &[u8]) {
    if let Ok(commands) = decode_batch(bytes) {
        assert_canonical(bytes, &commands);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn hot_commands_round_trip(commands in prop::collection::vec(hot_command(), 0..64)) {
        let bytes = encode(&commands);
        prop_assert_eq!(decode_batch(&bytes), Ok(commands));
    }

    #[test]
    fn money_and_ids_round_trip_at_any_value(fen in any::<i64>(), campaign in any::<u64>(), ends_at in any::<u64>()) {
        let commands = [
            Command::EditCampaign { campaign: CampaignId::new(campaign), edit: CampaignEdit::TopUp(Money::from_fen(fen)) },
            Command::EditCampaign { campaign: CampaignId::new(campaign), edit: CampaignEdit::SetEndsAt(Timestamp::from_ms(ends_at)) },
        ];
        let bytes = encode(&commands);
        prop_assert_eq!(decode_batch(&bytes), Ok(commands.to_vec()));
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decodes_to_error_or_canonical_batch(&bytes);
    }

    #[test]
    fn random_bytes_after_a_valid_header_never_panic(
        n_commands in 0_u32..8,
        body in prop::collection::vec(prop_oneof![0_u8..16, any::<u8>()], 0..256),
    ) {
        // Mostly small bytes, so tags and lengths are often valid and decoding gets deep.
        let mut bytes = BATCH_MAGIC.to_vec();
        bytes.push(FORMAT_VERSION);
        bytes.extend_from_slice(&n_commands.to_le_bytes());
        bytes.extend_from_slice(&body);
        decodes_to_error_or_canonical_batch(&bytes);
    }

    #[test]
    fn damaged_valid_batches_never_panic(
        hot in prop::collection::vec(hot_command(), 0..8),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1_u8..=255), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut commands = every_command();
        commands.extend(hot);
        let mut bytes = encode(&commands);
        for (position, mask) in flips {
            let position = position.index(bytes.len());
            bytes[position] ^= mask;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        decodes_to_error_or_canonical_batch(&bytes);
    }

    #[test]
    fn truncated_valid_batches_are_errors(cut in any::<prop::sample::Index>()) {
        let bytes = encode(&every_command());
        let cut = cut.index(bytes.len());
        prop_assert!(decode_batch(&bytes[..cut]).is_err());
    }
}
