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
