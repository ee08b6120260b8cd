//! A bounded record of the latest items of a sequence that only grows, read by cursors.
//!
//! Readers outside the ledger (the gateway's order index, its order webhooks) follow what the
//! ledger did without being called from inside `apply`: each keeps a cursor, a count of items
//! ever pushed, and asks for what came after it. The ledger keeps only the newest `kept_max`
//! items, so a reader that falls further behind is told how many it missed instead of making the
//! ledger remember everything. Replay pushes the same items in the same order, so a cursor saved
//! before a restart means the same items after it.

use std::collections::VecDeque;

/// The newest items and how many were ever pushed.
#[derive(Debug)]
pub(crate) struct Feed<T> {
    kept: VecDeque<T>,
    n_pushed: u64,
}

impl<T> Default for Feed<T> {
    fn default() -> Feed<T> {
        Feed { kept: VecDeque::new(), n_pushed: 0 }
    }
}

/// What a `Feed` answers a cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedSince<T> {
    /// The items after the cursor that are still kept, oldest first, each with its number (the
    /// cursor that covers it: the first item ever pushed is number 1).
    pub items: Vec<(u64, T)>,
    /// The cursor to ask from next time.
    pub next: u64,
    /// Items after the cursor that are no longer kept, skipped.
    pub n_missed: u64,
}

impl<T: Copy> Feed<T> {
    /// Appends `item`, forgetting the oldest when `kept_max` are kept.
    pub(crate) fn push(&mut self, item: T, kept_max: usize) {
        if self.kept.len() >= kept_max {
            self.kept.pop_front();
        }
        self.kept.push_back(item);
        self.n_pushed += 1;
    }

    /// How many items were ever pushed: the cursor of a reader that has seen them all.
    pub(crate) const fn n_pushed(&self) -> u64 {
        self.n_pushed
    }

    /// At most `max` items after `cursor`, oldest first. A cursor past the end reads as the end.
    pub(crate) fn since(&self, cursor: u64, max: usize) -> FeedSince<T> {
        let first_kept = self.n_pushed - self.kept.len() as u64;
        let from = cursor.clamp(first_kept, self.n_pushed);
        let skip = usize::try_from(from - first_kept).unwrap_or(usize::MAX);
        let items: Vec<(u64, T)> = self
            .kept
            .iter()
            .skip(skip)
            .take(max)
            .zip(from + 1..)
            .map(|(item, number)| (number, *item))
            .collect();
        FeedSince { next: from + items.len() as u64, items, n_missed: first_kept.saturating_sub(cursor) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_gets_what_came_after_its_cursor_and_hears_what_it_missed() {
        let mut feed = Feed::default();
        assert_eq!(feed.since(0, 10), FeedSince { items: vec![], next: 0, n_missed: 0 });
        for item in ['a', 'b', 'c', 'd'] {
            feed.push(item, 3);
        }
        assert_eq!(feed.n_pushed(), 4);
        // 'a' was forgotten: a reader at 0 misses it and gets the rest.
        assert_eq!(
            feed.since(0, 10),
            FeedSince { items: vec![(2, 'b'), (3, 'c'), (4, 'd')], next: 4, n_missed: 1 }
        );
        assert_eq!(feed.since(2, 1), FeedSince { items: vec![(3, 'c')], next: 3, n_missed: 0 });
        assert_eq!(feed.since(4, 10), FeedSince { items: vec![], next: 4, n_missed: 0 });
        // A cursor from the future (a damaged mark) reads as the end, not as a panic.
        assert_eq!(feed.since(99, 10), FeedSince { items: vec![], next: 4, n_missed: 0 });
    }
}
