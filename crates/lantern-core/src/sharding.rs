//! Which node owns a shopper: rendezvous (highest random weight) hashing of the shopper id.
//!
//! Every node computes the same owner from the id and the node count alone, so a request can be
//! sent to its owner from anywhere, and all of one shopper's claims live on one node (which is
//! what keeps per-shopper caps exact across nodes). Growing from N to N+1 nodes moves only the
//! shoppers the new node wins, about 1/(N+1) of them, not almost all as `id % N` would.

use crate::ShopperId;

/// The most nodes a cluster may have; the owner is found in O(nodes).
pub const NODES_MAX: u32 = 1_024;

/// The node (0-based) that owns `shopper` among `n_nodes`.
///
/// # Panics
/// When `n_nodes` is 0 or above [`NODES_MAX`] (configuration is checked before this is called).
pub fn node_of(shopper: ShopperId, n_nodes: u32) -> u32 {
    assert!((1..=NODES_MAX).contains(&n_nodes), "bug: {n_nodes} nodes is outside 1..={NODES_MAX}");
    let mut best = (0_u64, 0_u32);
    for node in 0..n_nodes {
        let weight = mix(shopper.get() ^ mix(u64::from(node).wrapping_add(0x9E37_79B9_7F4A_7C15)));
        if node == 0 || weight > best.0 {
            best = (weight, node);
        }
    }
    best.1
}

/// SplitMix64's finaliser: a fixed, well-spread 64-bit mix (never change it: owners would move).
const fn mix(value: u64) -> u64 {
    let mut z = value;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_stable_balanced_and_move_little_when_a_node_joins() {
        let n_shoppers = 30_000_u64;
        let mut per_node = [0_u32; 3];
        let mut n_moved = 0;
        for raw in 0..n_shoppers {
            let shopper = ShopperId::new(raw);
            let owner = node_of(shopper, 3);
            per_node[owner as usize] += 1;
            assert_eq!(node_of(shopper, 1), 0);
            let owner_of_four = node_of(shopper, 4);
            if owner_of_four != owner {
                assert_eq!(owner_of_four, 3, "a shopper only ever moves to the new node");
                n_moved += 1;
            }
        }
        for count in per_node {
            assert!((9_000..11_000).contains(&count), "unbalanced: {per_node:?}");
        }
        assert!((6_500..8_500).contains(&n_moved), "about a quarter should move, {n_moved} did");
        // Pinned, so a change of the hash (which would move every shopper) is noticed.
        assert_eq!([1, 2, 3, 42, 1_000_001].map(|raw| node_of(ShopperId::new(raw), 3)), PINNED);
    }

    const PINNED: [u32; 5] = [2, 2, 1, 1, 0];
}
