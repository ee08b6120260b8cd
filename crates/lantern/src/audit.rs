//! `lantern audit`: rebuild the ledger from a data directory and check every invariant.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use lantern_core::{
    CampaignId, CampaignStatus, CouponId, CouponStatus, MerchantId, Money, OrderId, OrderStatus, ShopperId,
    Timestamp,
};
use lantern_ledger::{Account, Ledger};
use lantern_store::{Durability, OpenMode};

use crate::node;

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// The data directory to audit (it must exist; stop the lantern process using it first).
    #[arg(long, required_unless_present = "store")]
    data: Option<PathBuf>,
    /// Audit a cluster instead: every shard of the journal in this PostgreSQL, checked one by one
    /// and together (central budget conserved and never exceeded, caps across nodes, each
    /// acknowledged order present once). Nodes may still run; the audit reads.
    #[arg(long)]
    store: Option<String>,
    /// How many nodes the cluster has (acknowledgements are checked on their shopper's node).
    #[arg(long, default_value_t = 1)]
    nodes: u32,
    /// A file of acknowledgement lines as `lantern loadgen` prints them; each must be present.
    #[arg(long)]
    acks: Option<PathBuf>,
    /// Print the result as one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

/// One invariant, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

/// What `lantern loadgen` acknowledged.
#[derive(Debug, Default)]
pub struct Acks {
    claims: Vec<CouponId>,
    orders: Vec<AckedOrder>,
}

#[derive(Debug, Clone, Copy)]
struct AckedOrder {
    order: OrderId,
    shopper: ShopperId,
    coupon: Option<CouponId>,
    total: Money,
}

/// The line `lantern loadgen` prints for an acknowledged claim.
pub fn claim_line(coupon: CouponId) -> String {
    format!("claim {} {} {}", coupon.campaign.get(), coupon.shopper.get(), coupon.ordinal)
}

/// The line `lantern loadgen` prints for an acknowledged order.
pub fn order_line(order: OrderId, shopper: ShopperId, coupon: Option<CouponId>, total: Money) -> String {
    let (campaign, ordinal) = coupon.map(|coupon| (coupon.campaign.get(), coupon.ordinal)).unwrap_or((0, 0));
    format!("order {} {} {campaign} {ordinal} {}", order.get(), shopper.get(), total.fen())
}

impl Acks {
    /// Room for `orders` acknowledged orders, reserved and written to now. A driver that
    /// records millions of them while its clock runs (the full surge: 10 M, 560 MB) would
    /// otherwise have its own thread fault in and zero that memory, and copy all of it at each
    /// doubling: a sixth of the in-process driver's time, on the thread that feeds the ledger.
    pub fn with_order_capacity(orders: usize) -> Acks {
        let mut acked = Vec::with_capacity(orders);
        let placeholder = AckedOrder {
            order: OrderId::new(0),
            shopper: ShopperId::new(0),
            coupon: None,
            total: Money::ZERO,
        };
        // One write a page is enough to have the kernel map and zero it.
        let per_page = (4096 / std::mem::size_of::<AckedOrder>()).max(1);
        for slot in acked.spare_capacity_mut().iter_mut().step_by(per_page) {
            slot.write(placeholder);
        }
        std::hint::black_box(&mut acked);
        Acks { claims: Vec::new(), orders: acked }
    }

    /// Adds an order its placer saw acknowledged.
    pub fn push_order(&mut self, receipt: &lantern_ledger::OrderReceipt) {
        self.orders.push(AckedOrder {
            order: receipt.order,
            shopper: receipt.shopper,
            coupon: receipt.coupon,
            total: receipt.total,
        });
    }

    /// Adds an order its placer saw acknowledged, from the fields of its answer.
    pub fn push(&mut self, order: OrderId, shopper: ShopperId, coupon: Option<CouponId>, total: Money) {
        self.orders.push(AckedOrder { order, shopper, coupon, total });
    }

    /// The acknowledged orders as `lantern loadgen` prints them (what `--acks` reads).
    pub fn to_lines(&self) -> String {
        let mut text = String::new();
        for acked in &self.orders {
            text.push_str(&order_line(acked.order, acked.shopper, acked.coupon, acked.total));
            text.push('\n');
        }
        text
    }

    /// Acknowledged orders so far.
    pub fn n_orders(&self) -> usize {
        self.orders.len()
    }

    /// Order ids acknowledged more than once (a duplicate the placer was handed), at most `limit`.
    pub fn duplicate_orders(&self, limit: usize) -> (usize, Vec<OrderId>) {
        let mut seen = HashSet::with_capacity(self.orders.len());
        let mut duplicates = Vec::new();
        let mut n_duplicates = 0;
        for acked in &self.orders {
            if !seen.insert(acked.order) {
                n_duplicates += 1;
                if duplicates.len() < limit {
                    duplicates.push(acked.order);
                }
            }
        }
        (n_duplicates, duplicates)
    }

    /// The acknowledgements of shoppers that `keep` accepts.
    pub fn filtered(&self, keep: impl Fn(ShopperId) -> bool) -> Acks {
        Acks {
            claims: self.claims.iter().copied().filter(|coupon| keep(coupon.shopper)).collect(),
            orders: self
                .orders
                .iter()
                .filter(|order| keep(order.shopper))
                .map(|order| AckedOrder { ..*order })
                .collect(),
        }
    }

    /// The shoppers with an acknowledged order.
    pub fn order_shoppers(&self) -> impl Iterator<Item = ShopperId> + '_ {
        self.orders.iter().map(|order| order.shopper)
    }

    pub fn n_claims(&self) -> usize {
        self.claims.len()
    }

    /// Parses acknowledgement lines; lines of other kinds are skipped, malformed ones refused.
    pub fn parse(text: &str) -> anyhow::Result<Acks> {
        let mut acks = Acks::default();
        for (line_idx, line) in text.lines().enumerate() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let number = |index: usize| -> anyhow::Result<u64> {
                fields.get(index).and_then(|field| field.parse().ok()).with_context(|| {
                    format!("acks line {}: field {index} of {line:?} is not a number", line_idx + 1)
                })
            };
            match fields.first() {
                Some(&"claim") => acks.claims.push(CouponId {
                    campaign: CampaignId::new(number(1)?),
                    shopper: ShopperId::new(number(2)?),
                    ordinal: u8::try_from(number(3)?)?,
                }),
                Some(&"order") => {
                    let shopper = ShopperId::new(number(2)?);
                    let campaign = number(3)?;
                    let coupon = (campaign != 0).then_some(()).map(|()| -> anyhow::Result<CouponId> {
                        Ok(CouponId {
                            campaign: CampaignId::new(campaign),
                            shopper,
                            ordinal: u8::try_from(number(4)?)?,
                        })
                    });
                    acks.orders.push(AckedOrder {
                        order: OrderId::new(number(1)?),
                        shopper,
                        coupon: coupon.transpose()?,
                        total: Money::from_fen(i64::try_from(number(5)?)?),
                    });
                }
                _ => {}
            }
        }
        Ok(acks)
    }
}

pub fn run(args: &AuditArgs) -> anyhow::Result<()> {
    let acks = match &args.acks {
        Some(path) => Acks::parse(
            &std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?,
        )?,
        None => Acks::default(),
    };
    if let Some(url) = &args.store {
        return crate::cluster_audit::run(url, args.nodes, &acks, args.json);
    }
    let data = args.data.as_ref().context("give --data or --store")?;
    let clock = Arc::new(lantern_sequencer::ManualClock::new(lantern_core::Timestamp::EPOCH));
    let (sequencer, summary) = node::start(data, OpenMode::Existing, Durability::Full, clock, 0, 0)?;
    let checks = sequencer.handle().read(|ledger| audit_ledger(ledger, &acks));
    let (n_orders, n_campaigns) =
        sequencer.handle().read(|ledger| (ledger.orders().count(), ledger.campaign_ids().len()));
    sequencer.stop();
    println!(
        "audit of {}: {} batches, {} commands replayed in {} ms; {n_campaigns} campaigns, {n_orders} orders",
        data.display(),
        summary.n_batches,
        summary.n_commands,
        summary.elapsed_ms
    );
    report(&checks, &acks, (summary.n_batches, summary.n_commands, n_orders), None, args.json)
}

/// Prints the checks (and the JSON line), and fails when one failed.
pub fn report(
    checks: &[Check],
    acks: &Acks,
    (n_batches, n_commands, n_orders): (u64, u64, usize),
    cluster: Option<serde_json::Value>,
    json: bool,
) -> anyhow::Result<()> {
    let passed = checks.iter().all(|check| check.passed);
    for check in checks {
        println!("  {} {}: {}", if check.passed { "PASS" } else { "FAIL" }, check.name, check.detail);
    }
    if json {
        let checks_json: Vec<_> = checks
            .iter()
            .map(|check| serde_json::json!({"name": check.name, "passed": check.passed, "detail": check.detail}))
            .collect();
        let report = serde_json::json!({
            "passed": passed,
            "n_batches": n_batches,
            "n_commands": n_commands,
            "n_orders": n_orders,
            "n_acked_claims": acks.claims.len(),
            "n_acked_orders": acks.orders.len(),
            "checks": checks_json,
            "cluster": cluster,
        });
        println!("{report}");
    }
    if !passed {
        anyhow::bail!("audit failed: see the FAIL lines above");
    }
    Ok(())
}

/// Checks that no merchant took orders faster than its declared capacity: each outlet's orders,
/// by placing time, are replayed through a token bucket of `orders_per_minute` orders refilled
/// at that rate (the ledger's rule), which must never run dry; and no kitchen holds more than
/// `open_orders_max` open orders now. Assumes capacities did not change during the run (the
/// surge never changes them).
pub fn capacity_check(ledger: &Ledger) -> Check {
    // Milli-tokens per order: one order is one minute of one slot (as in the ledger).
    const UNITS_PER_ORDER: u64 = 60_000;
    let mut placed: Vec<(MerchantId, Timestamp)> =
        ledger.orders().map(|view| (view.receipt.merchant, view.receipt.placed_at)).collect();
    placed.sort_unstable();
    let mut failures = Vec::new();
    let mut run_start = 0;
    let n_merchants = ledger.merchant_ids().len();
    while run_start < placed.len() {
        let merchant = placed[run_start].0;
        let run_end = run_start + placed[run_start..].partition_point(|(id, _)| *id == merchant);
        let Some((state, backlog, _)) = ledger.merchant(merchant) else {
            failures.push(format!("{merchant} has orders but is not registered"));
            run_start = run_end;
            continue;
        };
        let rate = u64::from(state.capacity.orders_per_minute());
        let units_max = rate * UNITS_PER_ORDER;
        let mut units = units_max;
        let mut refilled_at = placed[run_start].1;
        for (_, at) in &placed[run_start..run_end] {
            units = units.saturating_add(refilled_at.ms_until(*at).saturating_mul(rate)).min(units_max);
            refilled_at = *at;
            if units < UNITS_PER_ORDER {
                failures.push(format!("{merchant} took an order at {at} beyond its {rate} orders a minute"));
                break;
            }
            units -= UNITS_PER_ORDER;
        }
        if backlog > state.capacity.open_orders_max() {
            failures.push(format!(
                "{merchant} has {backlog} open orders, over its {}",
                state.capacity.open_orders_max()
            ));
        }
        run_start = run_end;
    }
    check(
        "no merchant over capacity",
        &failures,
        format!(
            "{} orders at {n_merchants} outlets within each outlet's rate and kitchen backlog",
            placed.len()
        ),
    )
}

pub fn check(name: &'static str, failures: &[String], passed_detail: String) -> Check {
    match failures.first() {
        None => Check { name, passed: true, detail: passed_detail },
        Some(first) => {
            Check { name, passed: false, detail: format!("{} problem(s); first: {first}", failures.len()) }
        }
    }
}

/// Checks every invariant of DESIGN.md that the ledger's state can show.
pub fn audit_ledger(ledger: &Ledger, acks: &Acks) -> Vec<Check> {
    let mut budget_failures = Vec::new();
    let mut account_failures = Vec::new();
    let mut cap_failures = Vec::new();
    let mut n_coupons_seen = 0u64;
    for campaign in ledger.campaign_ids() {
        let (Some(accounts), Some(state)) = (ledger.accounts(campaign), ledger.campaign(campaign)) else {
            continue;
        };
        let given_out = accounts.given_out().unwrap_or(Money::from_fen(i64::MAX));
        if given_out > accounts.budget_total() || accounts.balance(Account::Available).is_negative() {
            budget_failures
                .push(format!("{campaign}: gave out {given_out} of a {} budget", accounts.budget_total()));
        }
        let face_value = state.face_value();
        let ended = state.status() == CampaignStatus::Ended;
        let spec = state.spec();
        let mut n_by_status = [0i64; 4];
        for (shopper, n_base, n_referral) in ledger.claim_counts(campaign) {
            if n_base > spec.per_shopper_limit || n_referral > spec.referral_bonus_cap {
                cap_failures
                    .push(format!("{shopper} holds {n_base} + {n_referral} referral coupons of {campaign}"));
            }
            for coupon in ledger.wallet(shopper).iter().filter(|coupon| coupon.coupon.campaign == campaign) {
                n_coupons_seen += 1;
                let slot = match coupon.status {
                    CouponStatus::Claimed => 0,
                    CouponStatus::Held => 1,
                    CouponStatus::Redeemed => 2,
                    CouponStatus::Expired => 3,
                };
                n_by_status[slot] += 1;
            }
        }
        let expect = |account: Account, count: i64| {
            let expected = face_value.checked_mul(count).unwrap_or(Money::from_fen(i64::MAX));
            (accounts.balance(account) != expected).then(|| {
                format!(
                    "{campaign}: {account:?} holds {} but its coupons add up to {expected}",
                    accounts.balance(account)
                )
            })
        };
        let claimed_in_wallets = if ended { 0 } else { n_by_status[0] };
        account_failures.extend(expect(Account::Wallets, claimed_in_wallets));
        account_failures.extend(expect(Account::Held, n_by_status[1]));
        let settled: i64 = ledger
            .orders()
            .filter(|view| view.status == OrderStatus::Delivered)
            .filter(|view| view.receipt.coupon.is_some_and(|coupon| coupon.campaign == campaign))
            .map(|view| view.receipt.discount.fen())
            .sum();
        if accounts.balance(Account::Settled) != Money::from_fen(settled) {
            account_failures.push(format!(
                "{campaign}: settled {} but delivered discounts add up to {settled} fen",
                accounts.balance(Account::Settled)
            ));
        }
        let n_redeemed_open = ledger
            .orders()
            .filter(|view| view.status.is_open())
            .filter(|view| view.receipt.coupon.is_some_and(|coupon| coupon.campaign == campaign))
            .count() as i64;
        account_failures.extend(expect(Account::Redeemed, n_redeemed_open));
    }
    let mut redemption_failures = Vec::new();
    let mut coupons_on_orders = HashSet::new();
    for view in ledger.orders() {
        if matches!(view.status, OrderStatus::Cancelled | OrderStatus::Rejected) {
            continue;
        }
        if let Some(coupon) = view.receipt.coupon
            && !coupons_on_orders.insert(coupon)
        {
            redemption_failures.push(format!("{coupon} is on two live orders"));
        }
    }
    let mut claim_failures = Vec::new();
    for coupon in &acks.claims {
        if !ledger.wallet(coupon.shopper).iter().any(|held| held.coupon == *coupon) {
            claim_failures.push(format!("acknowledged {coupon} is missing"));
        }
    }
    let mut order_failures = Vec::new();
    for acked in &acks.orders {
        match ledger.order(acked.order) {
            None => order_failures.push(format!("acknowledged {} is missing", acked.order)),
            Some(view) => {
                let receipt = view.receipt;
                if receipt.shopper != acked.shopper
                    || receipt.coupon != acked.coupon
                    || receipt.total != acked.total
                {
                    order_failures
                        .push(format!("{} differs from its acknowledgement: {receipt:?}", acked.order));
                }
            }
        }
    }
    let n_campaigns = ledger.campaign_ids().len();
    vec![
        check("budget never exceeded", &budget_failures, format!("{n_campaigns} campaign(s) within budget")),
        check(
            "accounts match coupons",
            &account_failures,
            format!("{n_coupons_seen} coupons reconcile with the accounts"),
        ),
        check(
            "no shopper over the cap",
            &cap_failures,
            "every shopper within per-shopper and referral caps".into(),
        ),
        check(
            "no coupon redeemed twice",
            &redemption_failures,
            format!("{} coupons each on one live order", coupons_on_orders.len()),
        ),
        check(
            "every acknowledged claim present",
            &claim_failures,
            format!("{} acknowledged claims present", acks.claims.len()),
        ),
        check(
            "every acknowledged order present",
            &order_failures,
            format!("{} acknowledged orders present and unchanged", acks.orders.len()),
        ),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use lantern_core::pricing::CartLine;
    use lantern_core::{Capacity, IdempotencyKey, ItemId, OrderChannel};
    use lantern_ledger::{Command, CouponChoice, Outcome};

    use super::*;
    use crate::world;

    #[test]
    fn acks_made_with_room_hold_nothing_until_told() {
        let mut acks = Acks::with_order_capacity(10_000);
        assert_eq!(acks.n_orders(), 0);
        assert_eq!(acks.to_lines(), "");
        acks.push(OrderId::new(7), ShopperId::new(3), None, Money::from_fen(1_200));
        assert_eq!(acks.n_orders(), 1);
        assert_eq!(acks.to_lines(), "order 7 3 0 0 1200\n");
        assert!(acks.orders.capacity() >= 10_000);
    }

    #[test]
    fn capacity_check_catches_an_outlet_over_its_rate() {
        let mut ledger = Ledger::new(crate::node::ledger_config(0));
        let now = world::FESTIVAL_STARTS_AT.plus_ms(60_000);
        let merchant = MerchantId::new(1);
        for command in world::menu_commands() {
            ledger.apply(&command, now).unwrap();
        }
        ledger.apply(&world::tea_outlet(1, Capacity::new(2, 100).unwrap()), now).unwrap();
        for shopper in 1..=2 {
            let shopper = ShopperId::new(shopper);
            let lines = vec![CartLine { item: ItemId::new(101), quantity: 1, options: vec![] }];
            let quote = match ledger
                .apply(&Command::Quote { shopper, merchant, lines, coupon: CouponChoice::None }, now)
            {
                Ok(Outcome::Quoted(view)) => view.quote,
                other => panic!("quote: {other:?}"),
            };
            let idempotency_key = IdempotencyKey::new(format!("k{shopper}")).unwrap();
            ledger
                .apply(
                    &Command::PlaceOrder { shopper, quote, idempotency_key, channel: OrderChannel::Api },
                    now,
                )
                .unwrap();
        }
        let held = capacity_check(&ledger);
        assert!(held.passed, "{held:?}");
        // Two orders in the same instant are over a rate of one a minute.
        let capacity = Capacity::new(1, 100).unwrap();
        ledger.apply(&Command::SetMerchantCapacity { merchant, capacity }, now).unwrap();
        let broken = capacity_check(&ledger);
        assert!(!broken.passed && broken.detail.contains("beyond its 1 orders a minute"), "{broken:?}");
    }
}
