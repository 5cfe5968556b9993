//! [`Generator`]: one stream of text from any [`Stepper`], for callers that want characters
//! rather than logits.

use crate::rng::Pcg32;
use crate::sample::{sample, SampleOptions};
use crate::stepper::Stepper;
use crate::RuntimeError;

/// What [`Generator::next`] produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// A character (already fed back into the model).
    Char(char),
    /// `<EOS>`: the record is finished (only when the options allow stopping).
    Eos,
}

/// A model with a stream's state and a step's scratch, and whether the logits of the next
/// token are ready (always after [`Generator::reset`] for a model with `<BOS>`; after the
/// first primed character for one without).
pub struct Generator<'m, 'a, M: Stepper<'a>> {
    model: &'m M,
    state: M::State,
    scratch: M::Scratch,
    ready: bool,
    vocab: mynah_format::Vocab<'a>,
}

impl<'m, 'a, M: Stepper<'a>> Generator<'m, 'a, M> {
    /// A stream at the start of a sequence (zero state, `<BOS>` fed if the model has one).
    pub fn new(model: &'m M) -> Self {
        let mut g = Generator {
            model,
            state: model.new_state(),
            scratch: model.new_scratch(),
            ready: false,
            vocab: model.vocab(),
        };
        g.reset();
        g
    }

    /// Back to the start of a sequence: zero state, `<BOS>` fed if the model has one.
    pub fn reset(&mut self) {
        self.ready = self.model.start(&mut self.state, &mut self.scratch);
    }

    /// Feeds every character of `text`. Checks them all first: on an unknown character
    /// nothing is fed and the error names it.
    pub fn prime(&mut self, text: &str) -> Result<(), RuntimeError> {
        for (index, ch) in text.chars().enumerate() {
            if self.vocab.id_of(ch).is_none() {
                return Err(RuntimeError::UnknownChar { ch, index });
            }
        }
        for ch in text.chars() {
            if let Some(id) = self.vocab.id_of(ch) {
                self.step(id)?;
            }
        }
        Ok(())
    }

    /// Feeds one token and returns the Q16 logits of the next one.
    pub fn step(&mut self, token: u32) -> Result<&[i32], RuntimeError> {
        let logits = self.model.step(&mut self.state, &mut self.scratch, token)?;
        self.ready = true;
        Ok(logits)
    }

    /// Whether the logits of the next token are ready (see [`RuntimeError::NeedsPrime`]).
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// The Q16 logits of the next token (`vocab_size` entries; meaningless until
    /// [`Generator::is_ready`]).
    pub fn logits(&mut self) -> &[i32] {
        self.model.logits_and_sel(&mut self.scratch).0
    }

    /// Picks the next token from the current logits without feeding it.
    pub fn sample(&mut self, opts: &SampleOptions, rng: &mut Pcg32) -> Result<u32, RuntimeError> {
        if !self.ready {
            return Err(RuntimeError::NeedsPrime);
        }
        let (logits, sel) = self.model.logits_and_sel(&mut self.scratch);
        // A vocabulary has at least one character, so some token is always eligible.
        Ok(sample(logits, opts, rng, sel).unwrap_or(opts.first_char))
    }

    /// Samples a token; a character is fed back and returned, `<EOS>` is returned as is.
    pub fn next(&mut self, opts: &SampleOptions, rng: &mut Pcg32) -> Result<Next, RuntimeError> {
        let token = self.sample(opts, rng)?;
        if Some(token) == opts.stop {
            return Ok(Next::Eos);
        }
        let ch = self.vocab.char_of(token).unwrap_or('\u{FFFD}');
        self.step(token)?;
        Ok(Next::Char(ch))
    }

    /// The stream's state.
    pub fn state(&self) -> &M::State {
        &self.state
    }

    /// The model.
    pub fn model(&self) -> &'m M {
        self.model
    }
}
