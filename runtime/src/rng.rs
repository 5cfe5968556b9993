//! A small seeded generator, identical on every target: PCG32 (XSH RR 64/32).

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
