//! mynah's integer runtime: `no_std`, allocation-free, float-free character language
//! models: GRU, LSTM and tanh RNN cells ([`IntModel`]`<Cell, ..>`) and the n-gram MLP
//! ([`NgramModel`]).
//!
//! It runs INT8 model files (see `runtime/QUANTIZATION.md`) in place: weights are read
//! from the file's bytes (a memory map, or flash on a microcontroller) without copying.
//! Capacities are const generics: `H` (widest hidden layer), `V` (largest vocabulary),
//! `L` (most layers), `N` (longest n-gram context); a model that does not fit is refused
//! when it is loaded. The cell is a type parameter, so a firmware links only its model's
//! gate math; hosts that load any file use [`AnyModel`].
//!
//! Everything is integer arithmetic with fixed rounding rules, so a model, a seed and a
//! prompt give the same characters on every target, bit for bit.
//!
//! A stream's memory can also be sized at run time: [`StateView`] and [`ScratchView`] borrow
//! exactly [`Footprint`] bytes of a caller's buffer (`StateView::carve`,
//! `AnyModel::state_view`), and `step_view` runs on them. Every step runs on these views;
//! the const-generic [`State`] and [`Scratch`] are one way to own that memory (their
//! `view()`), which is what a firmware that knows its model at compile time uses. The C ABI
//! (`capi/`) and the web page use the views.
//!
//! # Example
//!
//! ```no_run
//! use mynah_format::{Aligned, Model};
//! use mynah_runtime::{Generator, Gru, IntModel, Next, Pcg32, SampleOptions, Stepper, Temperature};
//!
//! static FILE: &Aligned<[u8]> = &Aligned(*include_bytes!("../../tests/fixtures/tiny-int8.mynah"));
//!
//! let model = Model::parse(&FILE.0)?;
//! // A GRU with room for up to 128 hidden units, 96 tokens and 1 layer.
//! let gru = IntModel::<Gru, 128, 96, 1>::new(&model)?;
//! let mut gen = Generator::new(&gru);
//! gen.prime("the ")?;
//! let mut rng = Pcg32::new(1);
//! let opts = SampleOptions::new(Temperature::from_milli(800), &gru.vocab(), gru.records());
//! for _ in 0..40 {
//!     match gen.next(&opts, &mut rng)? {
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

mod cell;
mod dense;
mod error;
pub mod forms;
mod generator;
pub mod kernels;
mod model;
pub mod names;
mod ngram;
mod rng;
mod sample;
mod stepper;
pub mod tables;
mod view;

pub use cell::{lstm_unit, Cell, Gru, Lstm, NoMemory, Rnn, CELL_MAX};
pub use error::RuntimeError;
pub use generator::{Generator, Next};
pub use model::{IntModel, Scratch, State};
pub use ngram::{NgramModel, NgramScratch, NgramState, MAX_HIDDEN_EXP};
pub use rng::{Pcg32, SplitMix64, DEFAULT_STREAM};
pub use sample::{sample, softmax_q30, SampleOptions, Temperature};
pub use stepper::{AnyModel, AnyScratch, AnyState, Stepper};
pub use view::{ScratchView, StateView};

use mynah_format::{Arch, Cell as CellKind};

/// RAM a stream needs beyond the model file, for exact-fit capacities: the one formula,
/// per architecture, that `size_of` of [`State`] and [`Scratch`] (or [`NgramState`] and
/// [`NgramScratch`]) equals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footprint {
    /// Bytes of the stream's state: `2·H·L` hidden values, and for an LSTM (after rounding
    /// up to 4) `4·H·L` cell states; an n-gram's context of `2·context` bytes.
    pub state_bytes: usize,
    /// Bytes of the step's scratch: the reordered input (`2·max(H, E)` rounded up to 4,
    /// `E` the embedding width of a factored model, else 0), the cell's `4·H` work rows (6
    /// GRU, 5 LSTM, 2 RNN; the n-gram's `4·H` sums and `2·H` activations), logits and
    /// selection buffer (`8·V`), rounded up to 4.
    pub scratch_bytes: usize,
}

impl Footprint {
    /// The footprint of a model with these dimensions (the same on every target). `input`
    /// is the width of the vector layer 0's input product reads besides the hidden state: a
    /// factored model's `embed_dim` (its embedding row is widened into the reordered
    /// input), 0 for a token table or an n-gram.
    ///
    /// The const-generic [`Scratch`] holds a reordered input of `H` entries, so its size is
    /// this footprint when `input <= H` ([`IntModel::new`] refuses a factored model whose
    /// embedding is wider than `H`); views ([`ScratchView::carve`]) take any.
    pub const fn of(arch: Arch, hidden: usize, vocab: usize, layers: usize, input: usize) -> Self {
        let widest = if input > hidden { input } else { hidden };
        let xp = (2 * widest).next_multiple_of(4);
        let (state, rows) = match arch {
            Arch::Recurrent(CellKind::Gru) => (2 * hidden * layers, Gru::ROWS * 4 * hidden),
            Arch::Recurrent(CellKind::Lstm) => (
                (2 * hidden * layers).next_multiple_of(4) + 4 * hidden * layers,
                Lstm::ROWS * 4 * hidden,
            ),
            Arch::Recurrent(CellKind::Rnn) => (2 * hidden * layers, Rnn::ROWS * 4 * hidden),
            Arch::Ngram { context, .. } => (2 * context as usize, 4 * hidden + 2 * hidden),
        };
        Footprint {
            state_bytes: state,
            scratch_bytes: (xp + rows + 8 * vocab).next_multiple_of(4),
        }
    }

    /// [`Footprint::of`] the dimensions in a model's header (`input`: `embed_dim` when the
    /// file is factored).
    pub const fn of_hyper(h: &mynah_format::Hyper) -> Self {
        let input = if h.factored { h.embed_dim as usize } else { 0 };
        Footprint::of(
            h.arch,
            h.hidden_dim as usize,
            h.vocab_size as usize,
            h.num_layers as usize,
            input,
        )
    }

    /// State and scratch together.
    pub const fn total(&self) -> usize {
        self.state_bytes + self.scratch_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;
    use mynah_format::Activation;

    const GRU: Arch = Arch::Recurrent(CellKind::Gru);
    const LSTM: Arch = Arch::Recurrent(CellKind::Lstm);
    const RNN: Arch = Arch::Recurrent(CellKind::Rnn);

    fn ngram(context: u32) -> Arch {
        Arch::Ngram {
            context,
            activation: Activation::Relu,
        }
    }

    #[test]
    fn footprint_is_the_size_of_the_buffers() {
        macro_rules! check {
            ($arch:expr, $cell:ty, $h:literal, $v:literal, $l:literal) => {
                let f = Footprint::of($arch, $h, $v, $l, 0);
                assert_eq!(f.state_bytes, size_of::<State<$cell, $h, $l>>());
                assert_eq!(f.scratch_bytes, size_of::<Scratch<$cell, $h, $v>>());
                // A factored model's embedding fits the reordered input of H entries.
                let f = Footprint::of($arch, $h, $v, $l, $h);
                assert_eq!(f.state_bytes, size_of::<State<$cell, $h, $l>>());
                assert_eq!(f.scratch_bytes, size_of::<Scratch<$cell, $h, $v>>());
            };
        }
        check!(GRU, Gru, 128, 68, 1);
        check!(GRU, Gru, 32, 32, 2);
        check!(GRU, Gru, 45, 67, 3);
        check!(LSTM, Lstm, 128, 68, 1);
        check!(LSTM, Lstm, 45, 67, 3);
        check!(RNN, Rnn, 128, 68, 1);
        check!(RNN, Rnn, 45, 67, 2);
        let f = Footprint::of(ngram(5), 150, 68, 1, 0);
        assert_eq!(f.state_bytes, size_of::<NgramState<5>>());
        assert_eq!(f.scratch_bytes, size_of::<NgramScratch<150, 68>>());
        let f = Footprint::of(ngram(3), 45, 67, 1, 0);
        assert_eq!(f.state_bytes, size_of::<NgramState<3>>());
        assert_eq!(f.scratch_bytes, size_of::<NgramScratch<45, 67>>());
        // An embedding wider than the hidden layer widens the reordered input.
        let (narrow, wide) = (
            Footprint::of(GRU, 16, 10, 1, 0),
            Footprint::of(GRU, 16, 10, 1, 33),
        );
        assert_eq!(wide.state_bytes, narrow.state_bytes);
        assert_eq!(wide.scratch_bytes - narrow.scratch_bytes, 2 * 34 - 2 * 16);
    }
}
