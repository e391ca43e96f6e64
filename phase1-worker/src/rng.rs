//! A tiny deterministic generator (splitmix64). Every "random" choice of the
//! simulation is a pure function of a seed and the inputs that identify the
//! choice, so a run repeats exactly and does not depend on scheduling.

/// One splitmix64 step: a well-mixed 64-bit value from any 64-bit input.
pub const fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Mixes several parts into one value; order matters.
pub fn mix_all(parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(0x51_7CC1_B727_220A, |acc, part| mix(acc ^ part))
}

/// A stable 64-bit hash of a string (FNV-1a, then mixed).
pub fn hash_str(text: &str) -> u64 {
    let fnv = text.bytes().fold(0xCBF2_9CE4_8422_2325_u64, |acc, byte| {
        (acc ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01B3)
    });
    mix(fnv)
}

/// A value in `[0, 1)` from the top 53 bits.
pub fn unit(value: u64) -> f64 {
    (value >> 11) as f64 / (1u64 << 53) as f64
}

/// A sequential generator for building workloads.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub const fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.state.wrapping_sub(0x9E37_79B9_7F4A_7C15))
    }

    /// A value in `0..bound` (`bound` > 0); the tiny modulo bias is irrelevant here.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    pub fn next_unit(&mut self) -> f64 {
        unit(self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_units_in_range() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let mut c = SplitMix64::new(8);
        let xs: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..100).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        for x in xs {
            let u = unit(x);
            assert!((0.0..1.0).contains(&u));
        }
    }

    #[test]
    fn unit_is_roughly_uniform() {
        let mut g = SplitMix64::new(42);
        let below_half = (0..10_000).filter(|_| g.next_unit() < 0.5).count();
        assert!((4_700..5_300).contains(&below_half), "{below_half}");
    }

    #[test]
    fn mix_all_depends_on_every_part() {
        assert_ne!(mix_all(&[1, 2]), mix_all(&[2, 1]));
        assert_ne!(mix_all(&[1, 2]), mix_all(&[1, 3]));
        assert_eq!(hash_str("abc"), hash_str("abc"));
        assert_ne!(hash_str("abc"), hash_str("abd"));
    }
}
