//! Small seeded generators, identical on every target: PCG32 (XSH RR 64/32), which
//! sampling draws from, and SplitMix64, mynah's one generator for everything else that
//! must be reproducible anywhere (training data order, synthetic models, test corpora).

/// PCG32 (`pcg32_random_r` of the PCG reference): 64-bit LCG state, 32-bit output by an
/// xorshift and a random rotation. Integer-only, so one seed gives one stream everywhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pcg32 {
    state: u64,
    inc: u64,
}

/// The LCG multiplier of the PCG reference.
const MULT: u64 = 6_364_136_223_846_793_005;

/// The stream `Pcg32::new` uses (the PCG reference's default increment, halved).
pub const DEFAULT_STREAM: u64 = 0xda3e_39cb_94b9_5bdb;

impl Pcg32 {
    /// A generator seeded with `seed` on the default stream.
    pub const fn new(seed: u64) -> Self {
        Self::with_stream(seed, DEFAULT_STREAM)
    }

    /// A generator seeded as the reference `pcg32_srandom_r(seed, stream)` does.
    pub const fn with_stream(seed: u64, stream: u64) -> Self {
        let mut rng = Pcg32 {
            state: 0,
            inc: (stream << 1) | 1,
        };
        rng.state = rng.state.wrapping_mul(MULT).wrapping_add(rng.inc);
        rng.state = rng.state.wrapping_add(seed);
        rng.state = rng.state.wrapping_mul(MULT).wrapping_add(rng.inc);
        rng
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.state = old.wrapping_mul(MULT).wrapping_add(self.inc);
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        let rot = (old >> 59) as u32;
        xorshifted.rotate_right(rot)
    }

    /// The next 64 random bits: two outputs, the first in the high half.
    pub fn next_u64(&mut self) -> u64 {
        let hi = u64::from(self.next_u32());
        let lo = u64::from(self.next_u32());
        (hi << 32) | lo
    }

    /// A uniform integer in `[0, bound)` (0 when `bound` is 0): the high half of
    /// `next_u64() * bound`, so the bias is below `bound / 2^64`.
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }
}

/// SplitMix64 (Steele, Lea & Flood 2014): statistically fine for shuffling, sampling and
/// synthetic data, and its whole state is one `u64`, so checkpoints store it exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitMix64 {
    /// The whole state.
    pub state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub const fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`; 0 for `n == 0`), without modulo bias (Lemire's method
    /// with rejection).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            // The low half decides whether this draw is in the biased tail.
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_pcg_reference_demo() {
        // pcg32-demo from the PCG C reference: pcg32_srandom_r(&rng, 42u, 54u).
        let mut rng = Pcg32::with_stream(42, 54);
        let got: [u32; 6] = core::array::from_fn(|_| rng.next_u32());
        assert_eq!(
            got,
            [0xa15c02b7, 0x7b47f409, 0xba1d3330, 0x83d2f293, 0xbfa4784b, 0xcbed606e]
        );
    }

    #[test]
    fn splitmix64_matches_the_reference() {
        // splitmix64.c (Vigna) seeded with 0: its first outputs.
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(r.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        let mut r = SplitMix64::new(9);
        for n in [1u64, 2, 3, 1000, u64::MAX] {
            assert!(r.below(n) < n);
        }
        assert_eq!(r.below(0), 0);
    }

    #[test]
    fn below_stays_in_range() {
        let mut rng = Pcg32::new(7);
        for bound in [1u64, 2, 3, 1000, 1 << 46] {
            for _ in 0..100 {
                assert!(rng.below(bound) < bound);
            }
        }
        assert_eq!(rng.below(0), 0);
    }
}
