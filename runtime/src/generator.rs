//! [`Generator`]: one stream of text from an [`IntModel`], for callers that want
//! characters rather than logits.

use mynah_format::{EOS, FIRST_CHAR_ID};

use crate::model::{IntModel, Scratch, State};
use crate::rng::Pcg32;
use crate::sample::{sample, SampleOptions};
use crate::RuntimeError;

/// What [`Generator::next`] produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// A character (already fed back into the model).
    Char(char),
    /// `<EOS>`: the record is finished (only when `allow_eos` is set).
    Eos,
}

/// A model, a [`State`] and a [`Scratch`] with the logits of the next token always ready.
///
/// Memory: `2·H·L` bytes of state plus `26·H + 8·V` bytes of scratch, no allocation.
#[derive(Clone, Debug)]
pub struct Generator<'m, 'a, const H: usize, const V: usize, const L: usize> {
    model: &'m IntModel<'a, H, V, L>,
    state: State<H, L>,
    scratch: Scratch<H, V>,
}

impl<'m, 'a, const H: usize, const V: usize, const L: usize> Generator<'m, 'a, H, V, L> {
    /// A stream at the start of a sequence (zero state, `<BOS>` fed).
    pub fn new(model: &'m IntModel<'a, H, V, L>) -> Self {
        let mut g = Generator {
            model,
            state: State::new(),
            scratch: Scratch::new(),
        };
        g.reset();
        g
    }

    /// Back to the start of a sequence: zero state, `<BOS>` fed.
    pub fn reset(&mut self) {
        self.model.start(&mut self.state, &mut self.scratch);
    }

    /// Feeds every character of `text`. Checks them all first: on an unknown character
    /// nothing is fed and the error names it.
    pub fn prime(&mut self, text: &str) -> Result<(), RuntimeError> {
        let vocab = self.model.vocab();
        for (index, ch) in text.chars().enumerate() {
            if vocab.id_of(ch).is_none() {
                return Err(RuntimeError::UnknownChar { ch, index });
            }
        }
        for ch in text.chars() {
            if let Some(id) = vocab.id_of(ch) {
                self.step(id)?;
            }
        }
        Ok(())
    }

    /// Feeds one token and returns the Q16 logits of the next one.
    pub fn step(&mut self, token: u32) -> Result<&[i32], RuntimeError> {
        self.model.step(&mut self.state, &mut self.scratch, token)
    }

    /// The Q16 logits of the next token (`vocab_size` entries).
    pub fn logits(&self) -> &[i32] {
        self.scratch
            .logits()
            .get(..self.model.vocab_size())
            .unwrap_or(&[])
    }

    /// Picks the next token from the current logits without feeding it.
    pub fn sample(&mut self, opts: &SampleOptions, rng: &mut Pcg32) -> u32 {
        let (logits, sel) = self.scratch.logits_and_sel(self.model.vocab_size());
        // vocab_size >= 4, so a character is always eligible.
        sample(logits, opts, rng, sel).unwrap_or(FIRST_CHAR_ID)
    }

    /// Samples a token; a character is fed back and returned, `<EOS>` is returned as is.
    pub fn next(&mut self, opts: &SampleOptions, rng: &mut Pcg32) -> Next {
        let token = self.sample(opts, rng);
        if token == EOS {
            return Next::Eos;
        }
        let ch = self.model.vocab().char_of(token).unwrap_or('\u{FFFD}');
        // `token` came from the logits, so it is below vocab_size.
        let _ = self.step(token);
        Next::Char(ch)
    }

    /// The hidden state.
    pub fn state(&self) -> &State<H, L> {
        &self.state
    }

    /// The model.
    pub fn model(&self) -> &'m IntModel<'a, H, V, L> {
        self.model
    }
}
