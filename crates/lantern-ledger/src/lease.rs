//! Budget leases: the pure decision of what a node does next about one campaign's lease.
//!
//! Several nodes share one campaign budget kept in a central row. Each node leases chunks of
//! it: the central row moves a chunk from its pool to the node's lease (`granted`), and the
//! node's journal then records `CampaignEdit::LeaseIn`, after which its ledger can give the money
//! out with no central round trip per order. Unspent money goes back the other way: the journal
//! first records `CampaignEdit::LeaseOut`, then the central row moves it from the lease
//! (`returned`) to the pool. Both sides keep running totals, so after a crash between the two
//! halves of either move the node sees the difference and finishes the move ([`LeaseStep::
//! JournalGrant`], [`LeaseStep::RecordReturn`]) without counting anything twice.
//!
//! Why the budget is never exceeded: the central row only grants what its pool holds, a node's
//! ledger only gives out what its lease brought in (its `available` account cannot go below
//! zero), and the journal never records more coming in than the central row granted, nor the
//! central row more going back than the journal gave back. [`next_step`] keeps these orders.
//!
//! No I/O, no clock: the caller passes what it observed and the time, and performs the step.

use lantern_core::Money;

use crate::LeaseState;

/// How a node keeps its leases. There is no `Default`: the binary states each value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeasePolicy {
    /// How much one top-up asks the pool for.
    pub chunk: Money,
    /// Top up when less than this is available locally (before it runs dry).
    pub low_water: Money,
    /// With no claim for this long, give back everything above `low_water` (all of it once the
    /// pool is drained, so idle nodes do not strand the last of the budget).
    pub idle_return_ms: u64,
    /// A lease not renewed for this long lapses: its node is presumed dead and another node may
    /// settle it from the journal.
    pub lease_ttl_ms: u64,
    /// After the pool answered empty, ask it again only this often.
    pub drained_retry_ms: u64,
}

impl LeasePolicy {
    /// Checks the relations between the values; the message names the one at fault.
    pub fn validate(&self) -> Result<(), String> {
        if self.chunk <= Money::ZERO {
            return Err("lease chunk must be positive".into());
        }
        if self.low_water <= Money::ZERO || self.low_water > self.chunk {
            return Err("lease low-water mark must be positive and at most the chunk".into());
        }
        if self.lease_ttl_ms < 1_000 {
            return Err("lease ttl must be at least 1000 ms".into());
        }
        Ok(())
    }
}

/// At the measured spend, a chunk lasts at least this long: a busy node asks the central row
/// about once a second, however busy it is.
pub const CHUNK_COVERS_MS: u64 = 1_000;
/// At the measured spend, the low-water mark lasts at least this long. A top-up (the keeper woken,
/// one central transaction, one journal commit) takes a few milliseconds; the rest is room for a
/// slow commit, so a busy node tops up before its lease runs dry instead of refusing claims.
pub const LOW_WATER_COVERS_MS: u64 = 250;

impl LeasePolicy {
    /// This policy with the chunk and the low-water mark grown to cover the measured spend
    /// (`coupons_per_s` coupons of `face_value`): the chunk [`CHUNK_COVERS_MS`] of it, but never
    /// more than `chunk_max` (so one node cannot hold much of a small budget), the low-water mark
    /// [`LOW_WATER_COVERS_MS`] of it, but never more than the chunk. Never smaller than the
    /// configured values: a quiet campaign keeps its configured chunk.
    pub fn sized_for(&self, face_value: Money, coupons_per_s: u64, chunk_max: Money) -> LeasePolicy {
        let covering = |duration_ms: u64| {
            let coupons = coupons_per_s.saturating_mul(duration_ms) / 1_000;
            let coupons = i64::try_from(coupons).unwrap_or(i64::MAX);
            face_value.checked_mul(coupons).unwrap_or(Money::from_fen(i64::MAX))
        };
        let chunk = self.chunk.max(covering(CHUNK_COVERS_MS).min(chunk_max));
        let low_water = self.low_water.max(covering(LOW_WATER_COVERS_MS)).min(chunk);
        LeasePolicy { chunk, low_water, ..*self }
    }
}

/// A campaign's recent spend on one node, in coupons per second, from the ledger's running count
/// of coupons issued, sampled whenever the keeper looks. It follows a rise at once (a surge must
/// not wait for an average to catch up) and a fall a quarter per window (a short lull does not
/// shrink the chunk a surge needs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpendMeter {
    window_started_ms: Option<u64>,
    window_started_issued: u64,
    coupons_per_s: u64,
}

impl SpendMeter {
    /// Shortest span one sample covers: shorter spans would measure the batching, not the spend.
    pub const WINDOW_MS: u64 = 100;

    /// Records that `n_issued` coupons had been issued by `now_ms`.
    pub fn observe(&mut self, now_ms: u64, n_issued: u64) {
        let Some(started_ms) = self.window_started_ms else {
            self.window_started_ms = Some(now_ms);
            self.window_started_issued = n_issued;
            return;
        };
        let elapsed_ms = now_ms.saturating_sub(started_ms);
        if elapsed_ms < Self::WINDOW_MS {
            return;
        }
        let issued = n_issued.saturating_sub(self.window_started_issued);
        let sample = issued.saturating_mul(1_000) / elapsed_ms;
        self.coupons_per_s = if sample >= self.coupons_per_s {
            sample
        } else {
            self.coupons_per_s - (self.coupons_per_s - sample).div_ceil(4)
        };
        self.window_started_ms = Some(now_ms);
        self.window_started_issued = n_issued;
    }

    pub fn coupons_per_s(&self) -> u64 {
        self.coupons_per_s
    }
}

/// What the central row says about this node's lease.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CentralLease {
    pub granted: Money,
    pub returned: Money,
    pub expires_at_ms: u64,
}

/// What a node observed about one campaign, all at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseView {
    /// The ledger's running totals (from its journal).
    pub journal: LeaseState,
    /// The central row's running totals, as last read or written.
    pub central: CentralLease,
    /// The ledger's available balance.
    pub available: Money,
    /// Milliseconds since the ledger last issued a coupon of this campaign.
    pub idle_ms: u64,
    /// Milliseconds since the pool was last asked for a chunk.
    pub since_grant_ms: u64,
    /// The node is shutting down, the campaign ended, or this node settles a dead node's lease:
    /// everything goes back.
    pub closing: bool,
    pub now_ms: u64,
}

/// The one thing to do next; the caller performs it and asks again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseStep {
    /// The central row granted more than the journal has: journal `LeaseIn` of the difference.
    JournalGrant(Money),
    /// The journal gave back more than the central row records: record the journal's total.
    RecordReturn {
        returned_total: Money,
    },
    /// Ask the pool for up to this much (`grant`), then journal what came (`LeaseIn`, zero too).
    Grant(Money),
    /// Journal `LeaseOut` of this much, then record the new total centrally.
    GiveBack(Money),
    /// Push the central expiry forward.
    Renew,
    Nothing,
}

/// The next step for one campaign's lease. Finishing a half-done move always comes first.
///
/// # Panics
/// When the journal holds more granted, or the central row more returned, than the other side:
/// neither can happen when moves go in the documented order, so it is a bug.
pub fn next_step(policy: &LeasePolicy, view: &LeaseView) -> LeaseStep {
    let LeaseView { journal, central, available, .. } = *view;
    assert!(
        journal.granted <= central.granted,
        "lease bug: the journal has {} granted but the central row only {}",
        journal.granted,
        central.granted
    );
    assert!(
        central.returned <= journal.returned,
        "lease bug: the central row has {} returned but the journal only {}",
        central.returned,
        journal.returned
    );
    if journal.granted < central.granted {
        return LeaseStep::JournalGrant(difference(central.granted, journal.granted));
    }
    if central.returned < journal.returned {
        return LeaseStep::RecordReturn { returned_total: journal.returned };
    }
    if view.closing {
        return if available > Money::ZERO { LeaseStep::GiveBack(available) } else { LeaseStep::Nothing };
    }
    if view.idle_ms >= policy.idle_return_ms {
        let keep = if journal.pool_drained { Money::ZERO } else { policy.low_water };
        if available > keep {
            return LeaseStep::GiveBack(difference(available, keep));
        }
    }
    // Below the low-water mark a node tops up even when idle, so the first claim after a quiet
    // spell finds budget; an idle node settles at the low-water mark. Once the pool answered
    // empty, only a node with demand asks again, and only every `drained_retry_ms`.
    let hungry = available < policy.low_water;
    let may_ask = !journal.pool_drained
        || (view.since_grant_ms >= policy.drained_retry_ms && view.idle_ms < policy.idle_return_ms);
    if hungry && may_ask {
        return LeaseStep::Grant(policy.chunk);
    }
    let holds_budget = central.granted > central.returned;
    if holds_budget && central.expires_at_ms < view.now_ms.saturating_add(policy.lease_ttl_ms / 2) {
        return LeaseStep::Renew;
    }
    LeaseStep::Nothing
}

/// The expiry a grant or renewal made at `now_ms` sets.
pub fn expiry_ms(policy: &LeasePolicy, now_ms: u64) -> u64 {
    now_ms.saturating_add(policy.lease_ttl_ms)
}

fn difference(larger: Money, smaller: Money) -> Money {
    larger.checked_sub(smaller).unwrap_or_else(|_| panic!("lease bug: {larger} - {smaller} overflowed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FACE: Money = Money::from_fen(2_500);

    fn coupons(n: i64) -> Money {
        Money::from_fen(2_500 * n)
    }

    fn base() -> LeasePolicy {
        LeasePolicy {
            chunk: coupons(16),
            low_water: coupons(4),
            idle_return_ms: 2_000,
            lease_ttl_ms: 10_000,
            drained_retry_ms: 1_000,
        }
    }

    #[test]
    fn a_quiet_campaign_keeps_the_configured_chunk_and_mark() {
        assert_eq!(base().sized_for(FACE, 0, coupons(1_000)), base());
        assert_eq!(base().sized_for(FACE, 10, coupons(1_000)), base(), "10/s is within the configured sizes");
    }

    #[test]
    fn a_busy_node_leases_a_second_of_spend_and_tops_up_a_quarter_second_ahead() {
        let sized = base().sized_for(FACE, 80_000, coupons(1_000_000));
        assert_eq!((sized.chunk, sized.low_water), (coupons(80_000), coupons(20_000)));
        sized.validate().expect("a sized policy is valid");
        assert_eq!((sized.idle_return_ms, sized.lease_ttl_ms), (2_000, 10_000), "the rest is kept");
    }

    #[test]
    fn the_chunk_is_capped_and_the_mark_never_passes_it() {
        let sized = base().sized_for(FACE, 80_000, coupons(100));
        assert_eq!((sized.chunk, sized.low_water), (coupons(100), coupons(100)));
        sized.validate().expect("valid");
        // A cap below the configured chunk does not shrink it.
        assert_eq!(base().sized_for(FACE, 80_000, coupons(1)).chunk, coupons(16));
        // Absurd rates saturate instead of overflowing.
        let huge = base().sized_for(Money::from_fen(i64::MAX / 2), u64::MAX, Money::from_fen(i64::MAX));
        huge.validate().expect("valid");
    }

    #[test]
    fn the_meter_follows_a_surge_at_once_and_a_lull_slowly() {
        let mut meter = SpendMeter::default();
        meter.observe(1_000, 0);
        assert_eq!(meter.coupons_per_s(), 0);
        meter.observe(1_050, 5_000);
        assert_eq!(meter.coupons_per_s(), 0, "a window is at least 100 ms");
        meter.observe(1_100, 8_000);
        assert_eq!(meter.coupons_per_s(), 80_000, "up at once");
        meter.observe(1_200, 8_000);
        assert_eq!(meter.coupons_per_s(), 60_000, "down a quarter of the gap per window");
        let mut n_windows = 0;
        let mut now_ms = 1_200;
        while meter.coupons_per_s() > 0 {
            now_ms += 100;
            meter.observe(now_ms, 8_000);
            n_windows += 1;
            assert!(n_windows < 100, "an idle campaign's rate reaches zero");
        }
        // Out-of-order readings (a clock step back, a replayed count) do not panic or jump.
        meter.observe(0, 0);
        assert_eq!(meter.coupons_per_s(), 0);
    }

    #[test]
    fn a_sized_policy_tops_up_earlier_than_the_configured_one() {
        let view = LeaseView {
            journal: LeaseState { granted: coupons(16), returned: Money::ZERO, pool_drained: false },
            central: CentralLease { granted: coupons(16), returned: Money::ZERO, expires_at_ms: 100_000 },
            available: coupons(10),
            idle_ms: 0,
            since_grant_ms: 50,
            closing: false,
            now_ms: 1_000,
        };
        assert_eq!(next_step(&base(), &view), LeaseStep::Nothing, "10 coupons are above the configured mark");
        let busy = base().sized_for(FACE, 1_000, coupons(10_000));
        assert_eq!(
            next_step(&busy, &view),
            LeaseStep::Grant(coupons(1_000)),
            "a quarter second at 1,000/s is 250"
        );
    }
}
