//! Deterministic randomness: a hash of an index (splitmix64) and Zipf draws over ranks.

/// A fast, deterministic mix of an index (splitmix64), for reproducible workloads: the same
/// index always gives the same 64 random bits.
pub fn mix(index: u64) -> u64 {
    let mut z = index.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Mixes a seed, a stream (what the bits are for) and an index into 64 random bits.
pub fn draw(seed: u64, stream: u64, index: u64) -> u64 {
    mix(mix(seed ^ stream.rotate_left(32)) ^ index)
}

/// Zipf (s = 1) sampling over `n` ranks by inverse lookup in the cumulative weights, with a
/// guide table on the top 16 bits so a draw touches a few cache lines instead of a binary search
/// over 300,000 entries.
#[derive(Debug, Clone)]
pub struct Zipf {
    cumulative: Vec<u64>,
    guide: Vec<u32>,
}

impl Zipf {
    const GUIDE_BITS: u32 = 16;

    /// Weights 1/rank for ranks 1..=n (n at least 1).
    // The weights are probabilities; they become integer thresholds before any draw.
    #[allow(clippy::float_arithmetic)]
    pub fn new(n: u64) -> Zipf {
        let n = n.max(1);
        let harmonic: f64 = (1..=n).map(|rank| 1.0 / rank as f64).sum();
        let mut sum = 0.0;
        let cumulative: Vec<u64> = (1..=n)
            .map(|rank| {
                sum += 1.0 / rank as f64 / harmonic;
                (sum.min(1.0) * u64::MAX as f64) as u64
            })
            .collect();
        let guide = (0..=1u64 << Zipf::GUIDE_BITS)
            .map(|bucket| {
                let floor = bucket.checked_shl(64 - Zipf::GUIDE_BITS).unwrap_or(u64::MAX);
                let floor = if bucket == 1 << Zipf::GUIDE_BITS { u64::MAX } else { floor };
                cumulative.partition_point(|c| *c < floor) as u32
            })
            .collect();
        Zipf { cumulative, guide }
    }

    /// Ranks drawn from.
    pub fn len(&self) -> u64 {
        self.cumulative.len() as u64
    }

    /// Always false: there is at least one rank.
    pub fn is_empty(&self) -> bool {
        self.cumulative.is_empty()
    }

    /// The 0-based rank drawn by `random`.
    pub fn sample(&self, random: u64) -> u64 {
        let bucket = (random >> (64 - Zipf::GUIDE_BITS)) as usize;
        let low = self.guide[bucket] as usize;
        let high = (self.guide[bucket + 1] as usize + 1).min(self.cumulative.len());
        let rank = (low + self.cumulative[low..high].partition_point(|c| *c < random)) as u64;
        rank.min(self.len() - 1)
    }

    /// The rank a full binary search finds (what the guide table must agree with).
    pub fn sample_by_search(&self, random: u64) -> u64 {
        (self.cumulative.partition_point(|c| *c < random) as u64).min(self.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_guide_table_draws_what_a_full_search_draws() {
        for n in [1, 2, 7, 1_000, 300_000] {
            let zipf = Zipf::new(n);
            for index in 0..20_000u64 {
                let random = mix(index);
                assert_eq!(zipf.sample(random), zipf.sample_by_search(random), "n {n} random {random}");
            }
            assert_eq!(zipf.sample(u64::MAX), zipf.sample_by_search(u64::MAX));
            assert_eq!(zipf.sample(0), 0);
        }
        // Rank 1 of 300,000 draws about 1/H(300,000) = 7.6 % of the orders.
        let zipf = Zipf::new(300_000);
        let top = (0..100_000u64).filter(|index| zipf.sample(mix(*index)) == 0).count();
        assert!((6_600..8_600).contains(&top), "top merchant drew {top} of 100,000");
    }

    #[test]
    fn draws_differ_by_seed_and_stream() {
        assert_ne!(draw(1, 0, 5), draw(2, 0, 5));
        assert_ne!(draw(1, 0, 5), draw(1, 1, 5));
        assert_eq!(draw(1, 0, 5), draw(1, 0, 5));
    }
}
