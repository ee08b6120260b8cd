//! One class's line of tickets, in `seq` order.
//!
//! Entries sit in a deque sorted by `seq`, dense but for the gaps a rebuild leaves, so a ticket
//! is found by counting from either end (by binary search between two gaps). A ticket that
//! leaves from the middle of the line (its shopper stopped polling, or it was promoted) stays as a
//! tombstone until it reaches the front; the exact count of tickets still waiting ahead of any
//! entry comes from a [`Fenwick`] tree over the entries' waiting flags, so positions are exact
//! despite the holes.
//!
//! Two lists thread through the entries by `seq`, so expiry never scans the line:
//! - idle: waiting tickets by last poll, oldest first (a poll moves its ticket to the back);
//! - admitted: promoted tickets by the end of their hold, soonest first (promotions happen in time
//!   order and all hold for the same TTL).
//!
//! Cost: lookup is O(1) but between gaps; poll, promote and remove are O(log n). Tombstones are swept out when the index
//! fills up (a rebuild, O(n), at most once per n pushes), which sizes the index to about twice the
//! live tickets; so a line never holds more than about 4x (waiting room capacity + max_limit)
//! entries.

use std::collections::VecDeque;

use crate::fenwick::Fenwick;

/// Smallest index a line rebuilds to, so a short line does not rebuild every few pushes.
const LINE_INDEX_LEN_MIN: usize = 64;
/// `seq` 0 is never issued, so it marks the end of a list.
const SEQ_NONE: u64 = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EntryState {
    Waiting,
    /// Promoted: holds a reserved slot until redeemed or until its hold ends.
    Admitted,
    /// Left the line; a tombstone until it reaches the front.
    Gone,
}

/// One ticket: 48 bytes, plus up to 4 index flags of 4 bytes in the [`Fenwick`] tree.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TicketEntry {
    pub(crate) seq: u64,
    /// Checked on lookup, so a ticket from before a restart (same `seq`) is not mistaken for a
    /// new one.
    pub(crate) issued_at_ms: u64,
    /// Waiting: when it was last polled. Admitted: when its hold ends.
    pub(crate) clock_ms: u64,
    list_prev_seq: u64,
    list_next_seq: u64,
    pub(crate) state: EntryState,
    /// Admitted while nobody was there to take the slot ([`crate::Admission::mark_away`]): its
    /// reservation is stale from then on, whatever the grace.
    pub(crate) away: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ListKind {
    Idle,
    Admitted,
}

#[derive(Clone, Copy, Debug, Default)]
struct SeqList {
    head_seq: u64,
    tail_seq: u64,
}

#[derive(Debug)]
pub(crate) struct Line {
    entries: VecDeque<TicketEntry>,
    /// Flag `popped + i` is set while `entries[i]` is waiting.
    waiting_flags: Fenwick,
    /// Entries popped off the front since the last rebuild: the index offset of `entries[0]`.
    popped: usize,
    next_seq: u64,
    n_waiting: u32,
    n_admitted: u32,
    idle: SeqList,
    admitted: SeqList,
}

impl Line {
    pub(crate) fn new() -> Line {
        let mut waiting_flags = Fenwick::default();
        waiting_flags.rebuild(LINE_INDEX_LEN_MIN, std::iter::empty());
        Line {
            entries: VecDeque::new(),
            waiting_flags,
            popped: 0,
            next_seq: 1,
            n_waiting: 0,
            n_admitted: 0,
            idle: SeqList::default(),
            admitted: SeqList::default(),
        }
    }

    pub(crate) fn n_waiting(&self) -> u32 {
        self.n_waiting
    }

    pub(crate) fn n_admitted(&self) -> u32 {
        self.n_admitted
    }

    pub(crate) fn entry(&self, entry_idx: usize) -> &TicketEntry {
        &self.entries[entry_idx]
    }

    /// The live entry of a ticket, if it is still in line.
    pub(crate) fn locate(&self, seq: u64, issued_at_ms: u64) -> Option<usize> {
        let entry_idx = self.index_of(seq)?;
        let entry = &self.entries[entry_idx];
        (entry.state != EntryState::Gone && entry.issued_at_ms == issued_at_ms).then_some(entry_idx)
    }

    /// Tickets of this class still waiting ahead of `entries[entry_idx]`.
    pub(crate) fn waiting_ahead(&self, entry_idx: usize) -> u64 {
        self.waiting_flags.count_before(self.popped + entry_idx)
    }

    /// Appends a waiting ticket issued (and polled) at `now_ms`; returns its `seq`.
    pub(crate) fn push(&mut self, now_ms: u64) -> u64 {
        if self.popped + self.entries.len() >= self.waiting_flags.len() {
            self.rebuild();
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let flag_idx = self.popped + self.entries.len();
        self.entries.push_back(TicketEntry {
            seq,
            issued_at_ms: now_ms,
            clock_ms: now_ms,
            list_prev_seq: SEQ_NONE,
            list_next_seq: SEQ_NONE,
            state: EntryState::Waiting,
            away: false,
        });
        self.waiting_flags.set(flag_idx);
        self.list_push_back(ListKind::Idle, self.entries.len() - 1);
        self.n_waiting += 1;
        seq
    }

    /// Marks an admitted entry's holder away (see [`TicketEntry::away`]).
    pub(crate) fn set_away(&mut self, entry_idx: usize) {
        debug_assert!(self.entries[entry_idx].state == EntryState::Admitted);
        self.entries[entry_idx].away = true;
    }

    /// A poll: the ticket is alive as of `now_ms`.
    pub(crate) fn touch(&mut self, entry_idx: usize, now_ms: u64) {
        debug_assert!(self.entries[entry_idx].state == EntryState::Waiting);
        self.list_unlink(ListKind::Idle, entry_idx);
        self.entries[entry_idx].clock_ms = now_ms;
        self.list_push_back(ListKind::Idle, entry_idx);
    }

    /// Promotes the first waiting ticket, holding its slot until `until_ms`; returns its `seq`
    /// and issue time.
    pub(crate) fn promote_first(&mut self, until_ms: u64) -> Option<(u64, u64)> {
        let flag_idx = self.waiting_flags.first_set()?;
        let entry_idx = flag_idx.checked_sub(self.popped)?;
        debug_assert!(self.entries[entry_idx].state == EntryState::Waiting);
        self.waiting_flags.clear(flag_idx);
        self.list_unlink(ListKind::Idle, entry_idx);
        let entry = &mut self.entries[entry_idx];
        entry.state = EntryState::Admitted;
        entry.clock_ms = until_ms;
        let (seq, issued_at_ms) = (entry.seq, entry.issued_at_ms);
        self.list_push_back(ListKind::Admitted, entry_idx);
        self.n_waiting -= 1;
        self.n_admitted += 1;
        Some((seq, issued_at_ms))
    }

    /// Takes a ticket out of line (expired or redeemed); returns the state it had.
    pub(crate) fn remove(&mut self, entry_idx: usize) -> EntryState {
        let state = self.entries[entry_idx].state;
        match state {
            EntryState::Waiting => {
                self.waiting_flags.clear(self.popped + entry_idx);
                self.list_unlink(ListKind::Idle, entry_idx);
                self.n_waiting -= 1;
            }
            EntryState::Admitted => {
                self.list_unlink(ListKind::Admitted, entry_idx);
                self.n_admitted -= 1;
            }
            EntryState::Gone => return state,
        }
        self.entries[entry_idx].state = EntryState::Gone;
        while self.entries.front().is_some_and(|entry| entry.state == EntryState::Gone) {
            self.entries.pop_front();
            self.popped += 1;
        }
        state
    }

    /// The waiting ticket polled longest ago: (entry index, last poll).
    pub(crate) fn idle_head(&self) -> Option<(usize, u64)> {
        self.list_head(ListKind::Idle)
    }

    /// The admitted ticket whose hold ends first: (entry index, end of hold).
    pub(crate) fn admitted_head(&self) -> Option<(usize, u64)> {
        self.list_head(ListKind::Admitted)
    }

    fn list_head(&self, kind: ListKind) -> Option<(usize, u64)> {
        let head_seq = self.list(kind).head_seq;
        if head_seq == SEQ_NONE {
            return None;
        }
        let entry_idx = self.index_of(head_seq)?;
        Some((entry_idx, self.entries[entry_idx].clock_ms))
    }

    /// Where `seq` is. Tickets are pushed with consecutive `seq`s and leave from the front, so
    /// the line is dense but for the gaps a rebuild leaves: counting from the front (or, past a
    /// gap, from the back) finds a ticket at once, and only a ticket between two gaps needs the
    /// binary search (under overload that search, its steps cache misses, was a microsecond an
    /// order).
    fn index_of(&self, seq: u64) -> Option<usize> {
        let front_seq = self.entries.front()?.seq;
        let back_seq = self.entries.back()?.seq;
        if seq < front_seq || seq > back_seq {
            return None;
        }
        let len = self.entries.len();
        let from_front = usize::try_from(seq - front_seq).unwrap_or(usize::MAX);
        if from_front < len && self.entries[from_front].seq == seq {
            return Some(from_front);
        }
        let from_back = usize::try_from(back_seq - seq).unwrap_or(usize::MAX);
        if from_back < len && self.entries[len - 1 - from_back].seq == seq {
            return Some(len - 1 - from_back);
        }
        self.entries.binary_search_by_key(&seq, |entry| entry.seq).ok()
    }

    /// Sweeps out the tombstones and sizes the index to twice the live entries.
    fn rebuild(&mut self) {
        self.entries.retain(|entry| entry.state != EntryState::Gone);
        self.popped = 0;
        let index_len = (2 * (self.entries.len() + 1)).next_power_of_two().max(LINE_INDEX_LEN_MIN);
        if self.entries.capacity() > 4 * index_len {
            // The line was much longer once; give the memory back.
            self.entries.shrink_to(index_len);
        }
        let flags = self.entries.iter().map(|entry| entry.state == EntryState::Waiting);
        self.waiting_flags.rebuild(index_len, flags);
        debug_assert!(self.waiting_flags.count_before(index_len) == u64::from(self.n_waiting));
    }

    fn list(&self, kind: ListKind) -> &SeqList {
        match kind {
            ListKind::Idle => &self.idle,
            ListKind::Admitted => &self.admitted,
        }
    }

    fn list_mut(&mut self, kind: ListKind) -> &mut SeqList {
        match kind {
            ListKind::Idle => &mut self.idle,
            ListKind::Admitted => &mut self.admitted,
        }
    }

    fn list_push_back(&mut self, kind: ListKind, entry_idx: usize) {
        let seq = self.entries[entry_idx].seq;
        let tail_seq = self.list(kind).tail_seq;
        debug_assert!(tail_seq < seq || self.list(kind).head_seq == SEQ_NONE || kind == ListKind::Idle);
        {
            let entry = &mut self.entries[entry_idx];
            entry.list_prev_seq = tail_seq;
            entry.list_next_seq = SEQ_NONE;
        }
        if tail_seq == SEQ_NONE {
            self.list_mut(kind).head_seq = seq;
        } else if let Some(tail_idx) = self.index_of(tail_seq) {
            self.entries[tail_idx].list_next_seq = seq;
        } else {
            debug_assert!(false, "list tail {tail_seq} is not in the line");
        }
        self.list_mut(kind).tail_seq = seq;
    }

    fn list_unlink(&mut self, kind: ListKind, entry_idx: usize) {
        let TicketEntry { list_prev_seq, list_next_seq, .. } = self.entries[entry_idx];
        if list_prev_seq == SEQ_NONE {
            self.list_mut(kind).head_seq = list_next_seq;
        } else if let Some(prev_idx) = self.index_of(list_prev_seq) {
            self.entries[prev_idx].list_next_seq = list_next_seq;
        }
        if list_next_seq == SEQ_NONE {
            self.list_mut(kind).tail_seq = list_prev_seq;
        } else if let Some(next_idx) = self.index_of(list_next_seq) {
            self.entries[next_idx].list_prev_seq = list_prev_seq;
        }
        let entry = &mut self.entries[entry_idx];
        entry.list_prev_seq = SEQ_NONE;
        entry.list_next_seq = SEQ_NONE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiting_ticket_costs_well_under_100_bytes() {
        // 48 bytes of entry plus at most 4 flags of 4 bytes in the index (it is at most 4x the
        // live entries): 64 bytes, within the gateway's 100 bytes per waiter.
        assert_eq!(std::mem::size_of::<TicketEntry>(), 48);
        assert!(std::mem::size_of::<TicketEntry>() + 4 * std::mem::size_of::<u32>() <= 100);
    }

    /// Lookups count from either end of the line and fall back on a binary search between
    /// gaps: every ticket in line is found, and no ticket that left.
    #[test]
    fn lookups_find_every_ticket_in_line_and_none_that_left() {
        let mut line = Line::new();
        let mut issued: Vec<(u64, u64)> = Vec::new();
        let mut live: Vec<u64> = Vec::new();
        // A fixed pseudo-random walk: pushes, removals anywhere (gaps, then rebuilds), promotions.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for step in 0..5_000u64 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            match state % 4 {
                0 | 1 => {
                    let seq = line.push(step);
                    issued.push((seq, step));
                    live.push(seq);
                }
                2 if !live.is_empty() => {
                    let seq = live.remove(usize::try_from(state >> 32).unwrap_or(0) % live.len());
                    let issued_at =
                        issued.iter().find(|(issued_seq, _)| *issued_seq == seq).map(|(_, at)| *at);
                    let entry_idx = line.locate(seq, issued_at.unwrap_or(0)).expect("live ticket found");
                    line.remove(entry_idx);
                }
                _ => {
                    if let Some((seq, _)) = line.promote_first(u64::MAX) {
                        live.retain(|live_seq| *live_seq != seq);
                        let entry_idx = line.index_of(seq).expect("promoted ticket found");
                        line.remove(entry_idx);
                    }
                }
            }
            if step % 97 == 0 {
                for &(seq, issued_at) in &issued {
                    let found = line.locate(seq, issued_at).map(|entry_idx| line.entry(entry_idx).seq);
                    let expected = live.contains(&seq).then_some(seq);
                    assert_eq!(found, expected, "seq {seq} at step {step}");
                }
            }
        }
    }

    #[test]
    fn positions_stay_exact_through_holes_and_rebuilds() {
        let mut line = Line::new();
        let mut live: Vec<u64> = Vec::new();
        for round in 0..50u64 {
            for _ in 0..7 {
                live.push(line.push(round));
            }
            // Drop every third live ticket from the middle, then promote the first one.
            let mut live_idx = 1;
            while live_idx < live.len() {
                let entry_idx =
                    line.locate(live[live_idx], line_issued_at(&line, live[live_idx])).expect("live");
                assert_eq!(line.remove(entry_idx), EntryState::Waiting);
                live.remove(live_idx);
                live_idx += 3;
            }
            let (promoted, _) = line.promote_first(u64::MAX).expect("someone waits");
            assert_eq!(promoted, live.remove(0));
            for (rank, &seq) in live.iter().enumerate() {
                let entry_idx = line.locate(seq, line_issued_at(&line, seq)).expect("live");
                assert_eq!(line.waiting_ahead(entry_idx), rank as u64);
            }
            assert_eq!(line.n_waiting() as usize, live.len());
            assert!(line.popped + line.entries.len() <= line.waiting_flags.len());
        }
    }

    fn line_issued_at(line: &Line, seq: u64) -> u64 {
        line.entries[line.index_of(seq).expect("present")].issued_at_ms
    }
}
