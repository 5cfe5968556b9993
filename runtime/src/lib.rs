//! mynah's integer runtime: a `no_std`, allocation-free, float-free GRU language model.
//!
//! It runs INT8 model files (see `runtime/QUANTIZATION.md`) in place: weights are read
//! from the file's bytes (a memory map, or flash on a microcontroller) without copying.
//! Capacities are const generics: `H` (widest hidden layer), `V` (largest vocabulary),
//! `L` (most layers); a model that does not fit is refused by [`IntModel::new`].
//!
//! Everything is integer arithmetic with fixed rounding rules, so a model, a seed and a
//! prompt give the same characters on every target, bit for bit.
//!
//! # Example
//!
//! ```no_run
//! use mynah_format::{Aligned, Model};
//! use mynah_runtime::{Generator, IntModel, Next, Pcg32, SampleOptions, Temperature};
//!
//! static FILE: &Aligned<[u8]> = &Aligned(*include_bytes!("../../tests/fixtures/tiny-int8.mynah"));
//!
//! let model = Model::parse(&FILE.0)?;
//! // Room for up to 128 hidden units, 96 tokens and 1 layer.
//! let gru = IntModel::<128, 96, 1>::new(&model)?;
//! let mut gen = Generator::new(&gru);
//! gen.prime("the ")?;
//! let mut rng = Pcg32::new(1);
//! let opts = SampleOptions::new(Temperature::from_milli(800), gru.records());
//! for _ in 0..40 {
//!     match gen.next(&opts, &mut rng) {
//!         Next::Char(c) => { let _ = c; /* print it */ }
//!         Next::Eos => break,
//!     }
//! }
//! # Ok::<(), mynah_runtime::RuntimeError>(())
//! ```
#![cfg_attr(not(test), no_std)]
// Two kernels allow it in their own module, each with a proof at every block: the ARMv7E-M
// assembly (`kernels::arm_dsp`, thumbv7em only) and the host's AVX2 intrinsics
// (`kernels::x86_avx2`, only when the build targets AVX2).
#![deny(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod generator;
pub mod kernels;
mod model;
pub mod names;
mod rng;
mod sample;
pub mod tables;

pub use error::RuntimeError;
pub use generator::{Generator, Next};
pub use model::{IntModel, Scratch, State};
pub use rng::{Pcg32, DEFAULT_STREAM};
pub use sample::{sample, softmax_q30, SampleOptions, Temperature};

/// RAM a stream needs beyond the model file, for exact-fit capacities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footprint {
    /// Bytes of [`State`]: `2 · hidden · layers`.
    pub state_bytes: usize,
    /// Bytes of [`Scratch`]: `26 · hidden + 8 · vocab`, rounded up to a multiple of 4
    /// (its alignment).
    pub scratch_bytes: usize,
}

impl Footprint {
    /// The footprint of a model with these dimensions (the same on every target).
    pub const fn of(hidden: usize, vocab: usize, layers: usize) -> Self {
        Footprint {
            state_bytes: 2 * hidden * layers,
            scratch_bytes: (26 * hidden + 8 * vocab).next_multiple_of(4),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footprint_is_the_size_of_the_buffers() {
        let f = Footprint::of(128, 68, 1);
        assert_eq!(f.state_bytes, core::mem::size_of::<State<128, 1>>());
        assert_eq!(f.scratch_bytes, core::mem::size_of::<Scratch<128, 68>>());
        let f = Footprint::of(32, 32, 2);
        assert_eq!(f.state_bytes, core::mem::size_of::<State<32, 2>>());
        assert_eq!(f.scratch_bytes, core::mem::size_of::<Scratch<32, 32>>());
        let f = Footprint::of(45, 67, 3);
        assert_eq!(f.state_bytes, core::mem::size_of::<State<45, 3>>());
        assert_eq!(f.scratch_bytes, core::mem::size_of::<Scratch<45, 67>>());
    }
}
