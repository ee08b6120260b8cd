//! `lantern audit --store postgres://...`: every node's ledger rebuilt from its shard, checked
//! alone (as `lantern audit` checks one data directory) and together with the central budget.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use lantern_core::sharding::{NODES_MAX, node_of};
use lantern_core::{CampaignId, Money, ShopperId};
use lantern_sequencer::{ManualClock, Sequencer};
use lantern_store::{Durability, OpenMode, PostgresBudget, PostgresStore};

use crate::audit::{Acks, Check, audit_ledger, check, report};
use crate::node;

pub fn run(url: &str, n_nodes: u32, acks: &Acks, json: bool) -> anyhow::Result<()> {
    anyhow::ensure!((1..=NODES_MAX).contains(&n_nodes), "--nodes must be 1..={NODES_MAX}");
    let mut sequencers = Vec::new();
    let (mut n_batches, mut n_commands) = (0, 0);
    for shard in 0..n_nodes {
        // Read only: no shard lock, so running nodes are not disturbed.
        let store = PostgresStore::open(url, OpenMode::Existing, Durability::Full, None)?;
        let mut config = node::sequencer_config(0);
        config.shard = shard;
        let clock = Arc::new(ManualClock::new(lantern_core::Timestamp::EPOCH));
        let (sequencer, summary) = Sequencer::start(Box::new(store), node::ledger_config(0), config, clock)
            .with_context(|| format!("cannot rebuild shard {shard}"))?;
        n_batches += summary.n_batches;
        n_commands += summary.n_commands;
        sequencers.push(sequencer);
    }
    let mut checks: Vec<Check> = Vec::new();
    // Each node alone, against the acknowledgements of the shoppers it owns.
    for (shard, sequencer) in sequencers.iter().enumerate() {
        let shard = shard as u32;
        let node_acks = acks.filtered(|shopper| node_of(shopper, n_nodes) == shard);
        for mut node_check in sequencer.handle().read(|ledger| audit_ledger(ledger, &node_acks)) {
            node_check.detail = format!("node {shard}: {}", node_check.detail);
            checks.push(node_check);
        }
    }
    let mut budget = PostgresBudget::connect(url)?;
    let mut budget_failures = Vec::new();
    let mut lease_failures = Vec::new();
    let mut campaigns: Vec<CampaignId> = sequencers
        .iter()
        .flat_map(|sequencer| sequencer.handle().read(|ledger| ledger.campaign_ids()))
        .collect();
    campaigns.sort();
    campaigns.dedup();
    let mut summary = Vec::new();
    let mut campaigns_json = Vec::new();
    for campaign in &campaigns {
        let Some(central) = budget.campaign(campaign.get())? else { continue };
        let mut given_out_total = Money::ZERO;
        for (shard, sequencer) in sequencers.iter().enumerate() {
            let shard = shard as u32;
            let (given_out, lease) = sequencer.handle().read(|ledger| {
                let given_out = ledger.accounts(*campaign).map(|accounts| accounts.given_out());
                (given_out, ledger.campaign_lease(*campaign))
            });
            let given_out = match given_out {
                Some(Ok(given_out)) => given_out,
                Some(Err(_)) => {
                    budget_failures.push(format!("node {shard}: {campaign}'s given-out sum overflows"));
                    continue;
                }
                None => continue,
            };
            given_out_total = given_out_total.checked_add(given_out)?;
            let row = budget.lease(campaign.get(), shard)?;
            let Some(lease) = lease else {
                if given_out > Money::ZERO {
                    lease_failures
                        .push(format!("node {shard}: {campaign} gives out {given_out} without a lease"));
                }
                continue;
            };
            if lease.granted.fen() > row.granted_fen || lease.returned.fen() < row.returned_fen {
                lease_failures.push(format!(
                    "node {shard}: {campaign}'s journal has {} granted and {} returned, the central row {} and {}",
                    lease.granted, lease.returned, row.granted_fen, row.returned_fen
                ));
            }
            let holds = lease.granted.checked_sub(lease.returned)?;
            if given_out > holds {
                lease_failures
                    .push(format!("node {shard}: {campaign} gave out {given_out} of a {holds} lease"));
            }
        }
        if central.pool_fen + central.leased_fen != central.budget_fen {
            budget_failures.push(format!(
                "{campaign}: pool {} + leased {} is not the budget {}",
                central.pool_fen, central.leased_fen, central.budget_fen
            ));
        }
        if given_out_total.fen() > central.budget_fen {
            budget_failures.push(format!(
                "{campaign}: the nodes gave out {given_out_total} of a {} fen budget",
                central.budget_fen
            ));
        }
        campaigns_json.push(serde_json::json!({
            "campaign": campaign.get(),
            "budget_fen": central.budget_fen,
            "pool_fen": central.pool_fen,
            "leased_fen": central.leased_fen,
            "given_out_fen": given_out_total.fen(),
        }));
        summary.push(format!(
            "{campaign}: {given_out_total} of {} given out, {} in the pool",
            Money::from_fen(central.budget_fen),
            Money::from_fen(central.pool_fen)
        ));
    }
    // Caps across nodes: a shopper's coupons live on one node only.
    let mut claims_by_shopper: HashMap<(CampaignId, ShopperId), Vec<u32>> = HashMap::new();
    let mut orders_by_shopper: HashMap<ShopperId, u32> = HashMap::new();
    for (shard, sequencer) in sequencers.iter().enumerate() {
        sequencer.handle().read(|ledger| {
            for campaign in &campaigns {
                for (shopper, _, _) in ledger.claim_counts(*campaign) {
                    claims_by_shopper.entry((*campaign, shopper)).or_default().push(shard as u32);
                }
            }
            for view in ledger.orders() {
                *orders_by_shopper.entry(view.receipt.shopper).or_default() += 1;
            }
        });
    }
    let cap_failures: Vec<String> = claims_by_shopper
        .iter()
        .filter(|(_, shards)| shards.len() > 1)
        .map(|((campaign, shopper), shards)| {
            format!("{shopper} holds coupons of {campaign} on nodes {shards:?}")
        })
        .collect();
    let once_failures: Vec<String> = acks
        .order_shoppers()
        .filter_map(|shopper| {
            let n = orders_by_shopper.get(&shopper).copied().unwrap_or(0);
            (n != 1).then(|| format!("{shopper} has {n} orders across the nodes, acknowledged once"))
        })
        .collect();
    let n_orders: usize = orders_by_shopper.values().map(|n| *n as usize).sum();
    for sequencer in sequencers {
        sequencer.stop();
    }
    checks.push(check(
        "budget never exceeded across nodes",
        &budget_failures,
        if summary.is_empty() { "no central budget rows".into() } else { summary.join("; ") },
    ));
    checks.push(check(
        "leases match the central rows",
        &lease_failures,
        format!("{} node(s) spend only what they leased", n_nodes),
    ));
    checks.push(check(
        "each shopper on one node",
        &cap_failures,
        format!("{} shopper-campaign pairs, each on one node", claims_by_shopper.len()),
    ));
    checks.push(check(
        "every acknowledged order present once",
        &once_failures,
        "each acknowledged shopper has exactly one order across the nodes".into(),
    ));
    println!(
        "audit of {n_nodes} node(s) over {}: {n_batches} batches, {n_commands} commands, {n_orders} orders, {} acknowledged claims",
        redact(url),
        acks.n_claims()
    );
    let cluster = serde_json::json!({ "nodes": n_nodes, "campaigns": campaigns_json });
    report(&checks, acks, (n_batches, n_commands, n_orders), Some(cluster), json)
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let user = url[scheme_end + 3..at].split(':').next().unwrap_or_default();
            format!("{}{user}@{}", &url[..scheme_end + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}
