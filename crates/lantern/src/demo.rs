//! `lantern demo`: a small scripted Spring Festival campaign, told step by step.

use std::path::PathBuf;
use std::sync::Arc;

use lantern_core::pricing::CartLine;
use lantern_core::{
    CampaignId, Capacity, IdempotencyKey, ItemId, MerchantId, MerchantStatus, Money, OptionId, OrderChannel,
    OrderEvent, ShopperId,
};
use lantern_ledger::{CampaignEdit, Command, CouponChoice, Outcome};
use lantern_sequencer::{ManualClock, SequencerHandle, SubmitError};
use lantern_store::{Durability, OpenMode};

use crate::{audit, node, world};

const ALICE: ShopperId = ShopperId::new(1);
const BOB: ShopperId = ShopperId::new(2);
const CAROL: ShopperId = ShopperId::new(3);
const DAVE: ShopperId = ShopperId::new(4);
const TEA_HOUSE: MerchantId = MerchantId::new(1);
const CAMPAIGN: CampaignId = CampaignId::new(1);

/// Sends a command, prints a line about what came back, and returns the outcome.
fn step(handle: &SequencerHandle, what: &str, command: Command) -> Option<Outcome> {
    match handle.submit_blocking(command) {
        Ok(outcome) => {
            println!("  ✓ {what}: {}", describe(&outcome));
            Some(outcome)
        }
        Err(SubmitError::Ledger(refusal)) => {
            println!("  ✗ {what}: refused [{}] {refusal}", refusal.code());
            None
        }
        Err(error) => {
            println!("  ✗ {what}: {error}");
            None
        }
    }
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::CouponClaimed { coupon, face_value, newly_claimed, referral_bonus } => {
            let again = if *newly_claimed { "" } else { " (already claimed: same coupon again)" };
            let bonus = referral_bonus.map(|bonus| format!("; referrer earned {bonus}")).unwrap_or_default();
            format!("{coupon} worth {face_value}{again}{bonus}")
        }
        Outcome::Quoted(view) => format!(
            "{} for {} lines: {} − {} coupon = {} (hold until {}, shop ETA {} min)",
            view.quote,
            view.lines.len(),
            view.subtotal,
            view.discount,
            view.total,
            view.expires_at,
            view.merchant_eta_ms.div_ceil(60_000)
        ),
        Outcome::OrderPlaced { receipt, replayed } => format!(
            "{} total {} (coupon {}){}",
            receipt.order,
            receipt.total,
            receipt.coupon.map(|coupon| coupon.to_string()).unwrap_or_else(|| "none".into()),
            if *replayed { " — replayed, nothing done twice" } else { "" }
        ),
        Outcome::OrderAdvanced { order, status, .. } => format!("{order} is now {}", status.as_str()),
        Outcome::CampaignEdited { status, ends_at, budget_total, .. } => {
            format!("campaign {} until {ends_at}, budget {budget_total}", status.as_str())
        }
        Outcome::CampaignCreated { campaign } => format!("{campaign}"),
        Outcome::MerchantUpdated { merchant, status, capacity } => format!(
            "{merchant} is {} ({} orders a minute, {} in the kitchen at most)",
            status.as_str(),
            capacity.orders_per_minute(),
            capacity.open_orders_max()
        ),
        other => format!("{other:?}"),
    }
}

fn milk_tea(quantity: u16, options: &[u32]) -> Vec<CartLine> {
    vec![CartLine {
        item: ItemId::new(101),
        quantity,
        options: options.iter().map(|option| OptionId::new(*option)).collect(),
    }]
}

fn quote_id(outcome: Option<Outcome>) -> Option<lantern_core::QuoteId> {
    match outcome {
        Some(Outcome::Quoted(view)) => Some(view.quote),
        _ => None,
    }
}

fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::new(text).unwrap_or_else(|error| panic!("demo key is valid: {error}"))
}

pub fn run(data: Option<PathBuf>, json: bool) -> anyhow::Result<()> {
    let data = data.unwrap_or_else(|| node::temp_data_dir("demo"));
    let clock = Arc::new(ManualClock::new(world::FESTIVAL_STARTS_AT.plus_ms(60 * 60 * 1000)));
    let (sequencer, _) = node::start(&data, OpenMode::Create, Durability::Full, clock.clone(), 0, 0)?;
    let handle = sequencer.handle();
    println!("Lantern demo — a Spring Festival campaign with a budget for 4 coupons ({})", data.display());
    println!("setup");
    for command in world::shop_commands(2, 1, Capacity::new(2, 3)?) {
        handle.submit_blocking(command)?;
    }
    let spec = world::festival_campaign(Money::from_yuan(100), world::festival_validity());
    step(&handle, "operator creates the campaign", Command::CreateCampaign { spec });
    println!("claims");
    let claim = |shopper, referred_by| Command::ClaimCoupon { shopper, campaign: CAMPAIGN, referred_by };
    step(&handle, "alice claims", claim(ALICE, None));
    step(&handle, "alice taps claim again", claim(ALICE, None));
    step(&handle, "bob claims, referred by alice", claim(BOB, Some(ALICE)));
    step(&handle, "carol claims", claim(CAROL, None));
    step(&handle, "dave claims", claim(DAVE, None));
    println!("orders");
    let quote =
        |shopper, lines| Command::Quote { shopper, merchant: TEA_HOUSE, lines, coupon: CouponChoice::Best };
    let alice_quote = quote_id(step(
        &handle,
        "alice: 2 large pearl milk teas, half sugar",
        quote(ALICE, milk_tea(2, &[2, 12])),
    ));
    if let Some(quote) = alice_quote {
        let place = Command::PlaceOrder {
            shopper: ALICE,
            quote,
            idempotency_key: key("alice-1"),
            channel: OrderChannel::Api,
        };
        step(&handle, "alice confirms", place.clone());
        step(&handle, "alice's phone retries the same request", place);
    }
    for event in [OrderEvent::Accept, OrderEvent::Ready, OrderEvent::Deliver] {
        let order = lantern_core::OrderId::new(1);
        step(&handle, "tea house", Command::AdvanceOrder { merchant: TEA_HOUSE, order, event });
    }
    let bob_quote = quote_id(step(&handle, "bob: a pearl milk tea", quote(BOB, milk_tea(1, &[]))));
    if let Some(quote) = bob_quote {
        step(
            &handle,
            "bob confirms",
            Command::PlaceOrder {
                shopper: BOB,
                quote,
                idempotency_key: key("bob-1"),
                channel: OrderChannel::Api,
            },
        );
        let order = lantern_core::OrderId::new(2);
        step(
            &handle,
            "bob cancels; his coupon goes back to his wallet",
            Command::CancelOrder { shopper: BOB, order },
        );
    }
    println!("surge at the tea house (capacity 2 a minute, 3 in the kitchen)");
    for (shopper, label) in [(CAROL, "carol orders"), (DAVE, "dave orders"), (BOB, "bob orders again")] {
        if let Some(quote) = quote_id(step(&handle, label, quote(shopper, milk_tea(1, &[])))) {
            let place = Command::PlaceOrder {
                shopper,
                quote,
                idempotency_key: key(&format!("{}-2", shopper.get())),
                channel: OrderChannel::Api,
            };
            step(&handle, "  confirms", place);
        }
    }
    step(
        &handle,
        "tea house goes busy",
        Command::SetMerchantStatus { merchant: TEA_HOUSE, status: MerchantStatus::Busy },
    );
    println!("operator");
    let edit = |edit| Command::EditCampaign { campaign: CAMPAIGN, edit };
    step(
        &handle,
        "extend validity to Feb 28",
        edit(CampaignEdit::SetEndsAt(world::FESTIVAL_EXTENDED_ENDS_AT)),
    );
    step(&handle, "top up 50 yuan", edit(CampaignEdit::TopUp(Money::from_yuan(50))));
    step(&handle, "dave claims after the top-up", claim(DAVE, None));
    step(&handle, "pause", edit(CampaignEdit::Pause));
    step(&handle, "erin claims while paused", claim(ShopperId::new(5), None));
    let stats = handle.read(|ledger| ledger.campaign_stats(CAMPAIGN));
    let checks = handle.read(|ledger| audit::audit_ledger(ledger, &audit::Acks::default()));
    sequencer.stop();
    if let Some(stats) = &stats {
        println!("campaign");
        println!(
            "  budget {} · available {} · in wallets {} · held {} · on open orders {} · paid to shops {}",
            stats.budget_total, stats.available, stats.wallets, stats.held, stats.redeemed, stats.settled
        );
        println!(
            "  {} coupons issued ({} referral) to {} shoppers",
            stats.n_issued, stats.n_referral_issued, stats.n_shoppers
        );
    }
    println!("audit");
    for check in &checks {
        println!("  {} {}: {}", if check.passed { "PASS" } else { "FAIL" }, check.name, check.detail);
    }
    if json {
        let summary = stats.map(|stats| {
            serde_json::json!({
                "budget_total_fen": stats.budget_total.fen(),
                "available_fen": stats.available.fen(),
                "settled_fen": stats.settled.fen(),
                "n_issued": stats.n_issued,
                "audit_passed": checks.iter().all(|check| check.passed),
            })
        });
        println!("{}", summary.unwrap_or_default());
    }
    anyhow::ensure!(checks.iter().all(|check| check.passed), "the demo's audit failed");
    Ok(())
}
