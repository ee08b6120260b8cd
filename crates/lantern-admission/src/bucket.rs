//! Token buckets per key (shopper or IP), in a table bounded by a least-recently-seen eviction.
//!
//! Tokens are counted in milli-tokens so refill is exact integer arithmetic: a bucket refilling
//! `per_second` tokens per second gains exactly `per_second` milli-tokens per millisecond.

use rustc_hash::FxHashMap;

use crate::config::BucketConfig;

/// Milli-tokens one request costs.
const TOKEN_MILLI: u64 = 1000;
/// "No slot" in the recency list.
const SLOT_NONE: u32 = u32::MAX;

/// A bucket table: `keys_max` slots in a vector, a hash index from key to slot, and an intrusive
/// doubly linked list through the slots from least to most recently seen, so lookup, refresh and
/// eviction are all O(1) and a full table reuses its oldest slot instead of allocating.
#[derive(Debug)]
pub(crate) struct BucketTable {
    config: BucketConfig,
    keys_max: usize,
    slot_by_key: FxHashMap<u128, u32>,
    slots: Vec<BucketSlot>,
    /// Least recently seen slot, evicted first.
    oldest: u32,
    /// Most recently seen slot.
    newest: u32,
}

#[derive(Clone, Copy, Debug)]
struct BucketSlot {
    key: u128,
    tokens_milli: u64,
    refilled_at_ms: u64,
    older: u32,
    newer: u32,
}

impl BucketTable {
    pub(crate) fn new(config: BucketConfig, keys_max: usize) -> BucketTable {
        // Slot indexes are u32 with one value reserved for "none".
        assert!(keys_max >= 1 && keys_max < SLOT_NONE as usize);
        assert!(config.burst >= 1);
        BucketTable {
            config,
            keys_max,
            slot_by_key: FxHashMap::default(),
            slots: Vec::new(),
            oldest: SLOT_NONE,
            newest: SLOT_NONE,
        }
    }

    /// A `per_second` of 0 means unlimited: nothing is tracked.
    pub(crate) fn is_unlimited(&self) -> bool {
        self.config.per_second == 0
    }

    pub(crate) fn keys_tracked(&self) -> usize {
        debug_assert!(self.slot_by_key.len() == self.slots.len());
        debug_assert!(self.slots.len() <= self.keys_max);
        self.slots.len()
    }

    /// Finds (or creates, full) the bucket of `key`, refills it to `now_ms` and marks it most
    /// recently seen. Returns its slot for [`BucketTable::available`] and [`BucketTable::take`];
    /// the slot stays valid until the next `touch`.
    pub(crate) fn touch(&mut self, key: u128, now_ms: u64) -> u32 {
        debug_assert!(!self.is_unlimited());
        let slot_idx = match self.slot_by_key.get(&key) {
            Some(&slot_idx) => {
                self.unlink(slot_idx);
                self.refill(slot_idx, now_ms);
                slot_idx
            }
            None => self.insert(key, now_ms),
        };
        self.link_newest(slot_idx);
        slot_idx
    }

    /// Ok when the bucket holds a token, else the exact milliseconds until it will.
    pub(crate) fn available(&self, slot_idx: u32) -> Result<(), u64> {
        let tokens_milli = self.slots[slot_idx as usize].tokens_milli;
        if tokens_milli >= TOKEN_MILLI {
            return Ok(());
        }
        let per_second = u64::from(self.config.per_second);
        debug_assert!(per_second > 0);
        Err((TOKEN_MILLI - tokens_milli).div_ceil(per_second.max(1)))
    }

    pub(crate) fn take(&mut self, slot_idx: u32) {
        let slot = &mut self.slots[slot_idx as usize];
        debug_assert!(slot.tokens_milli >= TOKEN_MILLI);
        slot.tokens_milli = slot.tokens_milli.saturating_sub(TOKEN_MILLI);
    }

    fn capacity_milli(&self) -> u64 {
        u64::from(self.config.burst) * TOKEN_MILLI
    }

    fn refill(&mut self, slot_idx: u32, now_ms: u64) {
        let capacity_milli = self.capacity_milli();
        let per_second = u64::from(self.config.per_second);
        let slot = &mut self.slots[slot_idx as usize];
        // Time going backwards counts as no time passed.
        let elapsed_ms = now_ms.saturating_sub(slot.refilled_at_ms);
        let gained_milli = elapsed_ms.saturating_mul(per_second);
        slot.tokens_milli = slot.tokens_milli.saturating_add(gained_milli).min(capacity_milli);
        slot.refilled_at_ms = slot.refilled_at_ms.max(now_ms);
    }

    /// A new key starts full: in a fresh slot while the table has room, else in the least
    /// recently seen key's slot.
    fn insert(&mut self, key: u128, now_ms: u64) -> u32 {
        let fresh = BucketSlot {
            key,
            tokens_milli: self.capacity_milli(),
            refilled_at_ms: now_ms,
            older: SLOT_NONE,
            newer: SLOT_NONE,
        };
        let slot_idx = if self.slots.len() < self.keys_max {
            self.slots.push(fresh);
            u32::try_from(self.slots.len() - 1).unwrap_or(SLOT_NONE)
        } else {
            let slot_idx = self.oldest;
            debug_assert!(slot_idx != SLOT_NONE);
            self.unlink(slot_idx);
            let evicted = self.slots[slot_idx as usize].key;
            self.slot_by_key.remove(&evicted);
            self.slots[slot_idx as usize] = fresh;
            slot_idx
        };
        self.slot_by_key.insert(key, slot_idx);
        slot_idx
    }

    fn unlink(&mut self, slot_idx: u32) {
        let BucketSlot { older, newer, .. } = self.slots[slot_idx as usize];
        if older == SLOT_NONE {
            self.oldest = newer;
        } else {
            self.slots[older as usize].newer = newer;
        }
        if newer == SLOT_NONE {
            self.newest = older;
        } else {
            self.slots[newer as usize].older = older;
        }
        let slot = &mut self.slots[slot_idx as usize];
        slot.older = SLOT_NONE;
        slot.newer = SLOT_NONE;
    }

    fn link_newest(&mut self, slot_idx: u32) {
        let previous_newest = self.newest;
        {
            let slot = &mut self.slots[slot_idx as usize];
            slot.older = previous_newest;
            slot.newer = SLOT_NONE;
        }
        if previous_newest == SLOT_NONE {
            self.oldest = slot_idx;
        } else {
            self.slots[previous_newest as usize].newer = slot_idx;
        }
        self.newest = slot_idx;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take_once(table: &mut BucketTable, key: u128, now_ms: u64) -> Result<(), u64> {
        let slot_idx = table.touch(key, now_ms);
        table.available(slot_idx)?;
        table.take(slot_idx);
        Ok(())
    }

    #[test]
    fn the_least_recently_seen_key_is_evicted_and_starts_full_again() {
        let mut table = BucketTable::new(BucketConfig { burst: 1, per_second: 1 }, 2);
        assert_eq!(take_once(&mut table, 1, 0), Ok(()));
        assert_eq!(take_once(&mut table, 2, 0), Ok(()));
        // Key 1 is seen again (refused), so key 2 is now the least recently seen.
        assert_eq!(take_once(&mut table, 1, 0), Err(1000));
        assert_eq!(take_once(&mut table, 3, 0), Ok(()));
        assert_eq!(table.keys_tracked(), 2);
        // Key 1 survived the eviction with its empty bucket; key 2 was dropped and starts full.
        assert_eq!(take_once(&mut table, 1, 0), Err(1000));
        assert_eq!(take_once(&mut table, 2, 0), Ok(()));
        assert_eq!(table.keys_tracked(), 2);
    }
}
