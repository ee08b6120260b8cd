//! A Fenwick (binary indexed) tree of 0/1 flags: set, clear, count the flags before an index and
//! find the first set flag, each in O(log n). The waiting room uses it to count the tickets still
//! waiting ahead of a ticket, skipping the ones that left from the middle of the line.

#[derive(Debug, Default)]
pub(crate) struct Fenwick {
    /// 1-based tree: `tree[i]` sums the flags in `(i - lowbit(i), i]`; `tree[0]` is unused.
    tree: Vec<u32>,
}

impl Fenwick {
    /// Number of flags it can hold.
    pub(crate) fn len(&self) -> usize {
        self.tree.len().saturating_sub(1)
    }

    /// Replaces the contents with `flags`, padded with clear flags up to `len`, in O(len), reusing
    /// the allocation.
    pub(crate) fn rebuild(&mut self, len: usize, flags: impl Iterator<Item = bool>) {
        self.tree.clear();
        self.tree.resize(len + 1, 0);
        for (flag_idx, flag) in flags.enumerate() {
            assert!(flag_idx < len);
            self.tree[flag_idx + 1] = u32::from(flag);
        }
        for node in 1..=len {
            let parent = node + lowbit(node);
            if parent <= len {
                self.tree[parent] += self.tree[node];
            }
        }
    }

    pub(crate) fn set(&mut self, flag_idx: usize) {
        let mut node = flag_idx + 1;
        while node < self.tree.len() {
            self.tree[node] += 1;
            node += lowbit(node);
        }
    }

    pub(crate) fn clear(&mut self, flag_idx: usize) {
        let mut node = flag_idx + 1;
        while node < self.tree.len() {
            self.tree[node] -= 1;
            node += lowbit(node);
        }
    }

    /// Set flags among the first `n_flags`.
    pub(crate) fn count_before(&self, n_flags: usize) -> u64 {
        let mut node = n_flags.min(self.len());
        let mut count = 0u64;
        while node > 0 {
            count += u64::from(self.tree[node]);
            node -= lowbit(node);
        }
        count
    }

    /// Index of the first set flag.
    pub(crate) fn first_set(&self) -> Option<usize> {
        // Binary lifting: the longest prefix that sums to zero ends just before the first flag.
        let len = self.len();
        let mut prefix_len = 0usize;
        let mut step = if len == 0 { 0 } else { 1usize << (usize::BITS - 1 - len.leading_zeros()) };
        while step > 0 {
            let node = prefix_len + step;
            if node <= len && self.tree[node] == 0 {
                prefix_len = node;
            }
            step >>= 1;
        }
        (prefix_len < len).then_some(prefix_len)
    }
}

const fn lowbit(node: usize) -> usize {
    node & node.wrapping_neg()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_finds_against_a_plain_vector() {
        let flag_count = 37;
        let mut model = vec![false; flag_count];
        let mut fenwick = Fenwick::default();
        fenwick.rebuild(flag_count, [true, false, true].into_iter());
        model[0] = true;
        model[2] = true;
        let ops =
            [(5, true), (0, false), (36, true), (2, false), (17, true), (5, false), (17, false), (36, false)];
        for (flag_idx, set) in ops {
            if set {
                fenwick.set(flag_idx)
            } else {
                fenwick.clear(flag_idx)
            }
            model[flag_idx] = set;
            for n_flags in 0..=flag_count {
                let expected = model[..n_flags].iter().filter(|&&flag| flag).count() as u64;
                assert_eq!(fenwick.count_before(n_flags), expected);
            }
            assert_eq!(fenwick.first_set(), model.iter().position(|&flag| flag));
        }
        assert_eq!(fenwick.first_set(), None);
    }
}
