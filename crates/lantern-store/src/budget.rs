//! The central campaign budget that lantern nodes lease from, in PostgreSQL.
//!
//! One `campaign_budget` row per campaign holds the budget and the pool not yet leased; one
//! `budget_lease` row per campaign and shard holds what that shard was ever granted and what it
//! ever gave back, both as running totals. So, always,
//! `pool + Σ (granted − returned) = budget`, and a shard can give out at most what it holds.
//! Totals (not deltas) make giving back idempotent: a node that crashed between journaling a
//! return and recording it here records the same total again after its restart, and nothing is
//! counted twice. The hot row is touched once per lease chunk, never per order.

use postgres::Client;

use crate::StoreError;
use crate::postgres::{connect, database_error, describe_target, lock_shard, migrate, parse_url};

/// A campaign's central budget row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CampaignBudget {
    pub campaign: u64,
    pub budget_fen: i64,
    /// Budget not leased to any shard.
    pub pool_fen: i64,
    /// Σ (granted − returned) over the campaign's leases.
    pub leased_fen: i64,
}

/// One shard's lease of one campaign, as running totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeaseTotals {
    pub granted_fen: i64,
    pub returned_fen: i64,
    pub expires_at_ms: i64,
}

impl LeaseTotals {
    /// What the shard holds: granted and not given back.
    pub fn outstanding_fen(&self) -> i64 {
        self.granted_fen - self.returned_fen
    }
}

/// A connection to the central budget (its own, so lease traffic never waits behind a journal
/// commit).
pub struct PostgresBudget {
    client: Client,
    target: String,
}

impl std::fmt::Debug for PostgresBudget {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("PostgresBudget").field("target", &self.target).finish_non_exhaustive()
    }
}

impl PostgresBudget {
    /// Connects and brings the schema up to date (migrations are idempotent).
    pub fn connect(url: &str) -> Result<PostgresBudget, StoreError> {
        let config = parse_url(url)?;
        let target = describe_target(&config);
        let mut client = connect(&config, &target)?;
        migrate(&mut client, &target)?;
        Ok(PostgresBudget { client, target })
    }

    /// Takes the session lock of `shard` (the lock a journal shard's writer holds), for a node
    /// whose journal is not in PostgreSQL: two nodes started with one node index would otherwise
    /// share one lease row and each spend what the other leased. Held until this connection
    /// closes; refused with [`StoreError::ShardLocked`] while another session holds it.
    pub fn lock_shard(&mut self, shard: u32) -> Result<(), StoreError> {
        lock_shard(&mut self.client, &self.target, shard)
    }

    fn error(&self, action: &'static str) -> impl Fn(postgres::Error) -> StoreError + '_ {
        move |error| database_error(&self.target, action, &error)
    }

    /// Creates the campaign's row with its whole budget in the pool, unless it exists; returns
    /// the row as it is. A different budget for an existing campaign is refused (a top-up is a
    /// separate, explicit operation).
    pub fn ensure_campaign(&mut self, campaign: u64, budget_fen: i64) -> Result<CampaignBudget, StoreError> {
        let campaign_id = campaign_column(campaign);
        self.client
            .execute(
                "INSERT INTO campaign_budget (campaign_id, budget_fen, pool_fen) VALUES ($1, $2, $2) \
                 ON CONFLICT (campaign_id) DO NOTHING",
                &[&campaign_id, &budget_fen],
            )
            .map_err(|error| database_error(&self.target, "creating a campaign budget in", &error))?;
        let row = self.campaign(campaign)?.ok_or_else(|| StoreError::Database {
            target: self.target.clone(),
            action: "creating a campaign budget in",
            reason: format!("campaign {campaign} vanished right after it was created"),
        })?;
        if row.budget_fen != budget_fen {
            return Err(StoreError::Database {
                target: self.target.clone(),
                action: "creating a campaign budget in",
                reason: format!(
                    "campaign {campaign} already has a budget of {} fen, not {budget_fen}; use the same budget on \
                     every node",
                    row.budget_fen
                ),
            });
        }
        Ok(row)
    }

    /// The campaign's row with the sum of its leases, or `None` when it has none.
    pub fn campaign(&mut self, campaign: u64) -> Result<Option<CampaignBudget>, StoreError> {
        let campaign_id = campaign_column(campaign);
        let rows = self
            .client
            .query(
                "SELECT b.budget_fen, b.pool_fen, \
                    COALESCE((SELECT SUM(granted_fen - returned_fen) FROM budget_lease l \
                              WHERE l.campaign_id = b.campaign_id), 0)::BIGINT \
                 FROM campaign_budget b WHERE b.campaign_id = $1",
                &[&campaign_id],
            )
            .map_err(self.error("reading"))?;
        Ok(rows.first().map(|row| CampaignBudget {
            campaign,
            budget_fen: row.get(0),
            pool_fen: row.get(1),
            leased_fen: row.get(2),
        }))
    }

    /// Takes up to `chunk_fen` from the pool into `shard`'s lease (less when the pool holds
    /// less, nothing when it is empty) and sets the lease's expiry; returns the lease's totals
    /// after. One short transaction with the campaign row locked only inside it.
    pub fn grant(
        &mut self,
        campaign: u64,
        shard: u32,
        chunk_fen: i64,
        expires_at_ms: i64,
    ) -> Result<LeaseTotals, StoreError> {
        assert!(chunk_fen >= 0, "bug: a lease chunk is never negative");
        let (campaign_id, shard_id) = (campaign_column(campaign), shard_column(shard));
        let target = self.target.clone();
        let on_error = |error: postgres::Error| database_error(&target, "leasing budget from", &error);
        let mut transaction = self.client.transaction().map_err(on_error)?;
        let pool: Option<i64> = transaction
            .query_opt(
                "SELECT pool_fen FROM campaign_budget WHERE campaign_id = $1 FOR UPDATE",
                &[&campaign_id],
            )
            .map_err(on_error)?
            .map(|row| row.get(0));
        let Some(pool) = pool else {
            return Err(StoreError::Database {
                target: target.clone(),
                action: "leasing budget from",
                reason: format!("campaign {campaign} has no central budget row"),
            });
        };
        let amount = pool.min(chunk_fen);
        transaction
            .execute(
                "UPDATE campaign_budget SET pool_fen = pool_fen - $2 WHERE campaign_id = $1",
                &[&campaign_id, &amount],
            )
            .map_err(on_error)?;
        let row = transaction
            .query_one(
                "INSERT INTO budget_lease (campaign_id, shard, granted_fen, returned_fen, expires_at_ms) \
                 VALUES ($1, $2, $3, 0, $4) \
                 ON CONFLICT (campaign_id, shard) DO UPDATE SET \
                   granted_fen = budget_lease.granted_fen + EXCLUDED.granted_fen, \
                   expires_at_ms = EXCLUDED.expires_at_ms \
                 RETURNING granted_fen, returned_fen, expires_at_ms",
                &[&campaign_id, &shard_id, &amount, &expires_at_ms],
            )
            .map_err(on_error)?;
        transaction.commit().map_err(on_error)?;
        Ok(LeaseTotals { granted_fen: row.get(0), returned_fen: row.get(1), expires_at_ms: row.get(2) })
    }

    /// Records that `shard` has given back `returned_total_fen` of the campaign in all (a running
    /// total taken from its journal), moving the part not yet recorded back to the pool. Recording
    /// a total already recorded changes nothing. Returns the lease's totals after.
    pub fn record_returned(
        &mut self,
        campaign: u64,
        shard: u32,
        returned_total_fen: i64,
    ) -> Result<LeaseTotals, StoreError> {
        let (campaign_id, shard_id) = (campaign_column(campaign), shard_column(shard));
        let target = self.target.clone();
        let on_error = |error: postgres::Error| database_error(&target, "returning budget to", &error);
        let mut transaction = self.client.transaction().map_err(on_error)?;
        // The campaign row first, as in `grant`, so the two never wait on each other in a cycle.
        transaction
            .execute("SELECT 1 FROM campaign_budget WHERE campaign_id = $1 FOR UPDATE", &[&campaign_id])
            .map_err(on_error)?;
        let row = transaction
            .query_opt(
                "SELECT granted_fen, returned_fen, expires_at_ms FROM budget_lease \
                 WHERE campaign_id = $1 AND shard = $2 FOR UPDATE",
                &[&campaign_id, &shard_id],
            )
            .map_err(on_error)?;
        let Some(row) = row else {
            return Err(StoreError::Database {
                target: target.clone(),
                action: "returning budget to",
                reason: format!("shard {shard} has no lease of campaign {campaign}"),
            });
        };
        let mut totals =
            LeaseTotals { granted_fen: row.get(0), returned_fen: row.get(1), expires_at_ms: row.get(2) };
        assert!(
            returned_total_fen <= totals.granted_fen,
            "bug: shard {shard} says it returned {returned_total_fen} fen of campaign {campaign} but was granted only {}",
            totals.granted_fen
        );
        let amount = returned_total_fen - totals.returned_fen;
        if amount > 0 {
            transaction
                .execute(
                    "UPDATE budget_lease SET returned_fen = $3 WHERE campaign_id = $1 AND shard = $2",
                    &[&campaign_id, &shard_id, &returned_total_fen],
                )
                .map_err(on_error)?;
            transaction
                .execute(
                    "UPDATE campaign_budget SET pool_fen = pool_fen + $2 WHERE campaign_id = $1",
                    &[&campaign_id, &amount],
                )
                .map_err(on_error)?;
            totals.returned_fen = returned_total_fen;
        }
        transaction.commit().map_err(on_error)?;
        Ok(totals)
    }

    /// Pushes the lease's expiry forward: the node is alive and still holds it.
    pub fn renew(&mut self, campaign: u64, shard: u32, expires_at_ms: i64) -> Result<(), StoreError> {
        self.client
            .execute(
                "UPDATE budget_lease SET expires_at_ms = GREATEST(expires_at_ms, $3) WHERE campaign_id = $1 AND shard = $2",
                &[&campaign_column(campaign), &shard_column(shard), &expires_at_ms],
            )
            .map_err(self.error("renewing a lease in"))?;
        Ok(())
    }

    /// The shard's lease totals (zero when it never leased).
    pub fn lease(&mut self, campaign: u64, shard: u32) -> Result<LeaseTotals, StoreError> {
        let row = self
            .client
            .query_opt(
                "SELECT granted_fen, returned_fen, expires_at_ms FROM budget_lease WHERE campaign_id = $1 AND shard = $2",
                &[&campaign_column(campaign), &shard_column(shard)],
            )
            .map_err(self.error("reading"))?;
        Ok(row
            .map(|row| LeaseTotals {
                granted_fen: row.get(0),
                returned_fen: row.get(1),
                expires_at_ms: row.get(2),
            })
            .unwrap_or_default())
    }

    /// Leases of other shards that expired before `now_ms` and still hold budget: their nodes
    /// stopped renewing, so an adopter may settle them from their journals.
    pub fn expired_leases(&mut self, now_ms: i64) -> Result<Vec<(u64, u32, LeaseTotals)>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT campaign_id, shard, granted_fen, returned_fen, expires_at_ms FROM budget_lease \
                 WHERE expires_at_ms < $1 AND granted_fen > returned_fen ORDER BY campaign_id, shard",
                &[&now_ms],
            )
            .map_err(self.error("reading"))?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                let campaign = u64::try_from(row.get::<_, i64>(0)).ok()?;
                let shard = u32::try_from(row.get::<_, i32>(1)).ok()?;
                let totals = LeaseTotals {
                    granted_fen: row.get(2),
                    returned_fen: row.get(3),
                    expires_at_ms: row.get(4),
                };
                Some((campaign, shard, totals))
            })
            .collect())
    }
}

fn campaign_column(campaign: u64) -> i64 {
    i64::try_from(campaign).unwrap_or_else(|_| panic!("bug: campaign {campaign} does not fit BIGINT"))
}

fn shard_column(shard: u32) -> i32 {
    i32::try_from(shard).unwrap_or_else(|_| panic!("bug: shard {shard} does not fit INTEGER"))
}
