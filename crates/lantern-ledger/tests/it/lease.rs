//! Budget leases across several nodes: real ledgers, the pure lease policy (`next_step`) and a
//! model of the central row, driven by random claims, keeper steps, crashes that cut a move in
//! half, and closings. After every step: the central row conserves the budget to the fen, no
//! node gives out more than it leased, and nothing is given out past the budget. At the end,
//! closing every node returns every unspent fen to the pool.

use lantern_core::{CampaignId, CouponTemplate, Money, ShopperId, Timestamp};
use lantern_ledger::{
    CampaignEdit, CentralLease, Command, LeasePolicy, LeaseStep, LeaseView, Ledger, LedgerError, Outcome,
    SpendMeter, expiry_ms, next_step,
};
use proptest::prelude::*;

use crate::world::{T0, config, plain_spec};

const FACE_FEN: i64 = 500;
const CAMPAIGN: CampaignId = CampaignId::new(1);

#[derive(Clone, Copy, Debug)]
enum Step {
    Claim { node: usize, n: u8 },
    Keep { node: usize, crash_midway: bool },
    Close { node: usize },
    Wait { ms: u64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (0usize..4, 1u8..6).prop_map(|(node, n)| Step::Claim { node, n }),
        5 => (0usize..4, prop::bool::weighted(0.15)).prop_map(|(node, crash_midway)| Step::Keep { node, crash_midway }),
        1 => (0usize..4).prop_map(|node| Step::Close { node }),
        2 => prop_oneof![Just(10u64), Just(300), Just(2_000)].prop_map(|ms| Step::Wait { ms }),
    ]
}

struct Node {
    ledger: Ledger,
    central: CentralLease,
    next_shopper: u64,
    last_issued: (u64, u64),
    last_grant_ms: u64,
    /// The node's measured spend; the policy's chunk and low-water mark grow with it.
    meter: SpendMeter,
}

struct Cluster {
    budget: Money,
    pool: Money,
    nodes: Vec<Node>,
    now_ms: u64,
    policy: LeasePolicy,
}

impl Cluster {
    fn new(n_nodes: usize, budget: Money, policy: LeasePolicy) -> Cluster {
        let nodes = (0..n_nodes)
            .map(|node_idx| {
                let mut ledger = Ledger::new(config());
                let spec = plain_spec(
                    CouponTemplate::AmountOff { amount: Money::from_fen(FACE_FEN) },
                    Money::from_fen(1),
                );
                ledger.apply(&Command::CreateCampaign { spec }, T0).unwrap();
                let draw = Command::EditCampaign { campaign: CAMPAIGN, edit: CampaignEdit::DrawFromLeases };
                ledger.apply(&draw, T0).unwrap();
                Node {
                    ledger,
                    central: CentralLease::default(),
                    next_shopper: node_idx as u64 * 1_000_000,
                    last_issued: (0, 0),
                    last_grant_ms: 0,
                    meter: SpendMeter::default(),
                }
            })
            .collect();
        Cluster { budget, pool: budget, nodes, now_ms: 0, policy }
    }

    fn now(&self) -> Timestamp {
        T0.plus_ms(self.now_ms)
    }

    fn claim(&mut self, node_idx: usize) {
        let now = self.now();
        let node = &mut self.nodes[node_idx];
        node.next_shopper += 1;
        let claim = Command::ClaimCoupon {
            shopper: ShopperId::new(node.next_shopper),
            campaign: CAMPAIGN,
            referred_by: None,
        };
        match node.ledger.apply(&claim, now) {
            Ok(Outcome::CouponClaimed { newly_claimed: true, .. }) => {}
            Err(LedgerError::LeaseExhausted { .. } | LedgerError::BudgetExhausted { .. }) => {}
            other => panic!("claim answered {other:?}"),
        }
        let n_issued = node.ledger.campaign_stats(CAMPAIGN).unwrap().n_issued;
        if n_issued != node.last_issued.0 {
            node.last_issued = (n_issued, self.now_ms);
        }
    }

    /// One keeper step for one node, as the binary performs it; `crash_midway` stops after the
    /// first half of a two-part move (the process died there).
    fn keep(&mut self, node_idx: usize, closing: bool, crash_midway: bool) -> LeaseStep {
        let now = self.now();
        let now_ms = self.now_ms;
        let node = &mut self.nodes[node_idx];
        let stats = node.ledger.campaign_stats(CAMPAIGN).unwrap();
        // As the binary does: sized for the node's measured spend (any size must stay safe).
        node.meter.observe(now_ms, stats.n_issued);
        let face_value = Money::from_fen(FACE_FEN);
        let policy = self.policy.sized_for(
            face_value,
            node.meter.coupons_per_s(),
            face_value.checked_mul(12).unwrap(),
        );
        let view = LeaseView {
            journal: node.ledger.campaign_lease(CAMPAIGN).unwrap(),
            central: node.central,
            available: stats.available,
            idle_ms: now_ms - node.last_issued.1,
            since_grant_ms: now_ms - node.last_grant_ms,
            closing,
            now_ms,
        };
        let step = next_step(&policy, &view);
        let edit = |ledger: &mut Ledger, edit: CampaignEdit| {
            let command = Command::EditCampaign { campaign: CAMPAIGN, edit };
            ledger.apply(&command, now).unwrap_or_else(|error| panic!("{command:?}: {error}"));
        };
        match step {
            LeaseStep::JournalGrant(amount) => edit(&mut node.ledger, CampaignEdit::LeaseIn(amount)),
            LeaseStep::RecordReturn { returned_total } => {
                self.pool = self
                    .pool
                    .checked_add(returned_total.checked_sub(node.central.returned).unwrap())
                    .unwrap();
                node.central.returned = returned_total;
            }
            LeaseStep::Grant(chunk) => {
                let amount = chunk.min(self.pool);
                self.pool = self.pool.checked_sub(amount).unwrap();
                node.central.granted = node.central.granted.checked_add(amount).unwrap();
                node.central.expires_at_ms = expiry_ms(&policy, now_ms);
                node.last_grant_ms = now_ms;
                if !crash_midway {
                    edit(&mut node.ledger, CampaignEdit::LeaseIn(amount));
                }
            }
            LeaseStep::GiveBack(amount) => {
                edit(&mut node.ledger, CampaignEdit::LeaseOut(amount));
                if !crash_midway {
                    let returned_total = node.ledger.campaign_lease(CAMPAIGN).unwrap().returned;
                    self.pool = self
                        .pool
                        .checked_add(returned_total.checked_sub(node.central.returned).unwrap())
                        .unwrap();
                    node.central.returned = returned_total;
                }
            }
            LeaseStep::Renew => node.central.expires_at_ms = expiry_ms(&policy, now_ms),
            LeaseStep::Nothing => {}
        }
        step
    }

    fn given_out(&self, node_idx: usize) -> Money {
        let stats = self.nodes[node_idx].ledger.campaign_stats(CAMPAIGN).unwrap();
        [stats.wallets, stats.held, stats.redeemed, stats.settled]
            .into_iter()
            .try_fold(Money::ZERO, |sum, part| sum.checked_add(part))
            .unwrap()
    }

    fn check(&self) {
        let mut leased = Money::ZERO;
        let mut given_out_total = Money::ZERO;
        for (node_idx, node) in self.nodes.iter().enumerate() {
            let journal = node.ledger.campaign_lease(CAMPAIGN).unwrap();
            assert!(
                journal.granted <= node.central.granted,
                "node {node_idx}: journal granted more than the center"
            );
            assert!(
                node.central.returned <= journal.returned,
                "node {node_idx}: center counted a return the journal lacks"
            );
            let holds = journal.granted.checked_sub(journal.returned).unwrap();
            let given_out = self.given_out(node_idx);
            assert!(given_out <= holds, "node {node_idx} gave out {given_out} of a {holds} lease");
            leased =
                leased.checked_add(node.central.granted.checked_sub(node.central.returned).unwrap()).unwrap();
            given_out_total = given_out_total.checked_add(given_out).unwrap();
        }
        assert_eq!(self.pool.checked_add(leased).unwrap(), self.budget, "pool + leases = budget");
        assert!(
            given_out_total <= self.budget,
            "given out {given_out_total} past the budget {}",
            self.budget
        );
    }
}

fn policy() -> LeasePolicy {
    LeasePolicy {
        chunk: Money::from_fen(FACE_FEN * 4),
        low_water: Money::from_fen(FACE_FEN),
        idle_return_ms: 1_000,
        lease_ttl_ms: 5_000,
        drained_retry_ms: 500,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn leases_never_overspend_and_closing_returns_every_fen(
        n_nodes in 1usize..4,
        budget_fen in (0i64..40).prop_map(|coupons| coupons * FACE_FEN + 37),
        steps in prop::collection::vec(step(), 1..160),
    ) {
        let budget = Money::from_fen(budget_fen);
        let mut cluster = Cluster::new(n_nodes, budget, policy());
        for step in steps {
            match step {
                Step::Claim { node, n } => {
                    for _ in 0..n {
                        cluster.claim(node % n_nodes);
                    }
                }
                Step::Keep { node, crash_midway } => {
                    cluster.keep(node % n_nodes, false, crash_midway);
                }
                Step::Close { node } => {
                    cluster.keep(node % n_nodes, true, false);
                }
                Step::Wait { ms } => cluster.now_ms += ms,
            }
            cluster.check();
        }
        // Every node closes (shutdown, or another node settling its lapsed lease from its journal).
        for node_idx in 0..n_nodes {
            let mut n_steps = 0;
            while cluster.keep(node_idx, true, false) != LeaseStep::Nothing {
                n_steps += 1;
                prop_assert!(n_steps < 10, "closing does not settle");
            }
            cluster.check();
        }
        let given_out: Money = (0..n_nodes).map(|node_idx| cluster.given_out(node_idx)).try_fold(Money::ZERO, |sum, part| sum.checked_add(part)).unwrap();
        prop_assert_eq!(cluster.pool.checked_add(given_out).unwrap(), budget, "every unspent fen is back in the pool");
    }
}

#[test]
fn a_cluster_node_creates_campaigns_without_budget_until_a_lease_arrives() {
    let mut ledger = Ledger::new(config());
    let spec = plain_spec(
        CouponTemplate::AmountOff { amount: Money::from_fen(FACE_FEN) },
        Money::from_fen(FACE_FEN * 10),
    );
    ledger.apply(&Command::CreateCampaign { spec: spec.clone() }, T0).unwrap();
    let claim_first =
        Command::ClaimCoupon { shopper: ShopperId::new(1), campaign: CAMPAIGN, referred_by: None };
    ledger.apply(&claim_first, T0).unwrap();
    // The first campaign gave out a coupon from its own budget, so it stays as it is; the next
    // one starts empty.
    assert_eq!(ledger.apply(&Command::DrawAllFromLeases, T0).unwrap(), Outcome::LeasesOn { n_switched: 0 });
    assert!(ledger.campaign_lease(CAMPAIGN).is_none());
    ledger.apply(&Command::CreateCampaign { spec }, T0).unwrap();
    let second = CampaignId::new(2);
    let stats = ledger.campaign_stats(second).unwrap();
    assert_eq!((stats.budget_total, stats.available), (Money::ZERO, Money::ZERO));
    let claim_second =
        Command::ClaimCoupon { shopper: ShopperId::new(2), campaign: second, referred_by: None };
    assert!(matches!(ledger.apply(&claim_second, T0), Err(LedgerError::LeaseExhausted { .. })));
    let lease_in =
        Command::EditCampaign { campaign: second, edit: CampaignEdit::LeaseIn(Money::from_fen(FACE_FEN)) };
    ledger.apply(&lease_in, T0).unwrap();
    assert!(matches!(
        ledger.apply(&claim_second, T0),
        Ok(Outcome::CouponClaimed { newly_claimed: true, .. })
    ));
    let lease_out =
        Command::EditCampaign { campaign: second, edit: CampaignEdit::LeaseOut(Money::from_fen(1)) };
    assert!(ledger.apply(&lease_out, T0).is_err(), "nothing is left to give back");
}

#[test]
fn a_busy_node_tops_up_before_it_runs_dry_and_an_idle_one_gives_back() {
    let mut cluster = Cluster::new(2, Money::from_fen(FACE_FEN * 100), policy());
    assert_eq!(cluster.keep(0, false, false), LeaseStep::Grant(policy().chunk));
    for _ in 0..3 {
        cluster.claim(0);
    }
    // 4 coupons leased, 3 claimed: one left, at the low-water mark, so not yet.
    assert_eq!(cluster.keep(0, false, false), LeaseStep::Nothing);
    cluster.claim(0);
    assert_eq!(cluster.keep(0, false, false), LeaseStep::Grant(policy().chunk), "below the mark: top up");
    cluster.now_ms += 5_000;
    assert_eq!(
        cluster.keep(0, false, false),
        LeaseStep::GiveBack(Money::from_fen(FACE_FEN * 3)),
        "idle: keep the mark"
    );
    cluster.check();
    assert_eq!(cluster.pool, Money::from_fen(FACE_FEN * 95));
    // A claim on a node without a lease says "try again", not "gone".
    let now = cluster.now();
    let refused = cluster.nodes[1].ledger.apply(
        &Command::ClaimCoupon { shopper: ShopperId::new(9), campaign: CAMPAIGN, referred_by: None },
        now,
    );
    assert!(matches!(refused, Err(LedgerError::LeaseExhausted { .. })), "{refused:?}");
}
