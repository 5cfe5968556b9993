//! [`Stepper`]: what every quantized model offers (feed a token, get Q16 logits), so that
//! sampling, generation and the device loop are written once for every architecture, and
//! [`AnyModel`]: any model file on a host that does not know the architecture in advance.

use mynah_format::{Arch, Cell as CellKind, Model, Vocab};

use crate::cell::{Cell, Gru, Lstm, Rnn};
use crate::model::{IntModel, Scratch, State};
use crate::ngram::{NgramModel, NgramScratch, NgramState};
use crate::view::{ScratchView, StateView};
use crate::{Footprint, RuntimeError};

/// A quantized language model: a stream's state, a step's scratch, and the step.
pub trait Stepper<'a> {
    /// What one stream keeps between steps.
    type State: Clone;
    /// Working memory of a step (shareable between streams).
    type Scratch;

    /// The zero state (nothing fed).
    fn new_state(&self) -> Self::State;
    /// Zeroed scratch.
    fn new_scratch(&self) -> Self::Scratch;
    /// Back to the zero state.
    fn reset(&self, state: &mut Self::State);
    /// Feeds `token`; returns the Q16 logits of the next one (`vocab_size` entries).
    fn step<'s>(
        &self,
        state: &mut Self::State,
        scratch: &'s mut Self::Scratch,
        token: u32,
    ) -> Result<&'s [i32], RuntimeError>;
    /// The last step's logits and the sampler's selection buffer.
    fn logits_and_sel<'s>(&self, scratch: &'s mut Self::Scratch) -> (&'s [i32], &'s mut [i32]);
    /// The vocabulary.
    fn vocab(&self) -> Vocab<'a>;
    /// Whether the model was trained on records (sampling may stop at `<EOS>`).
    fn records(&self) -> bool;

    /// `vocab_size`.
    fn vocab_size(&self) -> usize {
        self.vocab().len()
    }

    /// Resets `state` and feeds `<BOS>`, leaving the logits of a sequence's first character
    /// in `scratch`; `false` (and nothing fed) for a model without `<BOS>`, which must be
    /// primed with text first.
    fn start(&self, state: &mut Self::State, scratch: &mut Self::Scratch) -> bool {
        self.reset(state);
        match self.vocab().bos() {
            // <BOS> is below vocab_size: this step cannot fail.
            Some(bos) => self.step(state, scratch, bos).is_ok(),
            None => false,
        }
    }
}

impl<'a, C: Cell, const H: usize, const V: usize, const L: usize, const F: u8> Stepper<'a>
    for IntModel<'a, C, H, V, L, F>
{
    type State = State<C, H, L>;
    type Scratch = Scratch<C, H, V>;

    fn new_state(&self) -> Self::State {
        State::new()
    }

    fn new_scratch(&self) -> Self::Scratch {
        Scratch::new()
    }

    fn reset(&self, state: &mut Self::State) {
        state.reset();
    }

    #[inline]
    fn step<'s>(
        &self,
        state: &mut Self::State,
        scratch: &'s mut Self::Scratch,
        token: u32,
    ) -> Result<&'s [i32], RuntimeError> {
        IntModel::step(self, state, scratch, token)
    }

    fn logits_and_sel<'s>(&self, scratch: &'s mut Self::Scratch) -> (&'s [i32], &'s mut [i32]) {
        scratch.logits_and_sel(self.vocab_size())
    }

    fn vocab(&self) -> Vocab<'a> {
        IntModel::vocab(self)
    }

    fn records(&self) -> bool {
        IntModel::records(self)
    }

    fn vocab_size(&self) -> usize {
        IntModel::vocab_size(self)
    }
}

impl<'a, const H: usize, const V: usize, const N: usize, const F: u8> Stepper<'a>
    for NgramModel<'a, H, V, N, F>
{
    type State = NgramState<N>;
    type Scratch = NgramScratch<H, V>;

    fn new_state(&self) -> Self::State {
        NgramModel::new_state(self)
    }

    fn new_scratch(&self) -> Self::Scratch {
        NgramScratch::new()
    }

    fn reset(&self, state: &mut Self::State) {
        NgramModel::reset(self, state);
    }

    #[inline]
    fn step<'s>(
        &self,
        state: &mut Self::State,
        scratch: &'s mut Self::Scratch,
        token: u32,
    ) -> Result<&'s [i32], RuntimeError> {
        NgramModel::step(self, state, scratch, token)
    }

    fn logits_and_sel<'s>(&self, scratch: &'s mut Self::Scratch) -> (&'s [i32], &'s mut [i32]) {
        scratch.logits_and_sel(self.vocab_size())
    }

    fn vocab(&self) -> Vocab<'a> {
        NgramModel::vocab(self)
    }

    fn records(&self) -> bool {
        NgramModel::records(self)
    }

    fn vocab_size(&self) -> usize {
        NgramModel::vocab_size(self)
    }
}

/// Any quantized model, for hosts that load whatever file they are given (the tools, a C
/// library, a web page): capacities `H` (hidden), `V` (vocabulary), `L` (layers), `N`
/// (n-gram context) for every architecture at once. A firmware that knows its model uses
/// the model's own type instead, and links only that cell.
#[derive(Clone, Debug)]
pub enum AnyModel<'a, const H: usize, const V: usize, const L: usize, const N: usize> {
    /// A GRU.
    Gru(IntModel<'a, Gru, H, V, L>),
    /// An LSTM.
    Lstm(IntModel<'a, Lstm, H, V, L>),
    /// A tanh RNN.
    Rnn(IntModel<'a, Rnn, H, V, L>),
    /// An n-gram MLP.
    Ngram(NgramModel<'a, H, V, N>),
}

/// The state of a stream of an [`AnyModel`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnyState<const H: usize, const L: usize, const N: usize> {
    /// A GRU's.
    Gru(State<Gru, H, L>),
    /// An LSTM's.
    Lstm(State<Lstm, H, L>),
    /// A tanh RNN's.
    Rnn(State<Rnn, H, L>),
    /// An n-gram MLP's.
    Ngram(NgramState<N>),
}

/// The scratch of an [`AnyModel`].
#[derive(Clone, Debug)]
pub enum AnyScratch<const H: usize, const V: usize> {
    /// A GRU's.
    Gru(Scratch<Gru, H, V>),
    /// An LSTM's.
    Lstm(Scratch<Lstm, H, V>),
    /// A tanh RNN's.
    Rnn(Scratch<Rnn, H, V>),
    /// An n-gram MLP's.
    Ngram(NgramScratch<H, V>),
}

impl<'a, const H: usize, const V: usize, const L: usize, const N: usize> AnyModel<'a, H, V, L, N> {
    /// Validates `model` for its own architecture (see [`IntModel::new`],
    /// [`NgramModel::new`]).
    pub fn new(model: &Model<'a>) -> Result<Self, RuntimeError> {
        Ok(match model.hyper().arch {
            Arch::Recurrent(CellKind::Gru) => AnyModel::Gru(IntModel::new(model)?),
            Arch::Recurrent(CellKind::Lstm) => AnyModel::Lstm(IntModel::new(model)?),
            Arch::Recurrent(CellKind::Rnn) => AnyModel::Rnn(IntModel::new(model)?),
            Arch::Ngram { .. } => AnyModel::Ngram(NgramModel::new(model)?),
        })
    }

    /// What a stream of this model needs ([`Footprint::of`] its architecture and sizes).
    pub fn footprint(&self) -> Footprint {
        match self {
            AnyModel::Gru(m) => m.footprint(),
            AnyModel::Lstm(m) => m.footprint(),
            AnyModel::Rnn(m) => m.footprint(),
            AnyModel::Ngram(m) => m.footprint(),
        }
    }

    /// The architecture.
    pub fn arch(&self) -> Arch {
        match self {
            AnyModel::Gru(_) => Arch::Recurrent(CellKind::Gru),
            AnyModel::Lstm(_) => Arch::Recurrent(CellKind::Lstm),
            AnyModel::Rnn(_) => Arch::Recurrent(CellKind::Rnn),
            AnyModel::Ngram(m) => Arch::Ngram {
                context: m.context() as u32,
                activation: m.activation(),
            },
        }
    }

    /// `hidden_dim`.
    pub fn hidden_dim(&self) -> usize {
        match self {
            AnyModel::Gru(m) => m.hidden_dim(),
            AnyModel::Lstm(m) => m.hidden_dim(),
            AnyModel::Rnn(m) => m.hidden_dim(),
            AnyModel::Ngram(m) => m.hidden_dim(),
        }
    }

    /// The width of the vector layer 0's input product reads besides the hidden state: a
    /// factored model's `embed_dim`, else 0 (see [`Footprint::of`]).
    pub fn input_dim(&self) -> usize {
        match self {
            AnyModel::Gru(m) => m.input_dim(),
            AnyModel::Lstm(m) => m.input_dim(),
            AnyModel::Rnn(m) => m.input_dim(),
            AnyModel::Ngram(_) => 0,
        }
    }

    /// `num_layers` (1 for an n-gram).
    pub fn num_layers(&self) -> usize {
        match self {
            AnyModel::Gru(m) => m.num_layers(),
            AnyModel::Lstm(m) => m.num_layers(),
            AnyModel::Rnn(m) => m.num_layers(),
            AnyModel::Ngram(_) => 1,
        }
    }

    /// The state of a stream of this model, carved out of `bytes` ([`StateView::carve`])
    /// and reset (zero, or an n-gram's context of `<BOS>`).
    pub fn state_view<'s>(&self, bytes: &'s mut [u8]) -> Result<StateView<'s>, RuntimeError> {
        let mut v = StateView::carve(bytes, self.arch(), self.hidden_dim(), self.num_layers())?;
        self.reset_view(&mut v);
        Ok(v)
    }

    /// The scratch of this model, carved out of `bytes` ([`ScratchView::carve`]).
    pub fn scratch_view<'s>(&self, bytes: &'s mut [u8]) -> Result<ScratchView<'s>, RuntimeError> {
        ScratchView::carve(
            bytes,
            self.arch(),
            self.hidden_dim(),
            self.vocab_size(),
            self.input_dim(),
        )
    }

    /// Back to the zero state (an n-gram's: a context of `<BOS>`).
    pub fn reset_view(&self, state: &mut StateView<'_>) {
        match self {
            AnyModel::Gru(m) => m.reset_view(state),
            AnyModel::Lstm(m) => m.reset_view(state),
            AnyModel::Rnn(m) => m.reset_view(state),
            AnyModel::Ngram(m) => m.reset_view(state),
        }
    }

    /// Feeds `token` to a stream in views ([`IntModel::step_view`],
    /// [`NgramModel::step_view`]); returns the Q16 logits of the next token.
    pub fn step_view<'s>(
        &self,
        state: &mut StateView<'_>,
        scratch: &'s mut ScratchView<'_>,
        token: u32,
    ) -> Result<&'s [i32], RuntimeError> {
        match self {
            AnyModel::Gru(m) => m.step_view(state, scratch, token),
            AnyModel::Lstm(m) => m.step_view(state, scratch, token),
            AnyModel::Rnn(m) => m.step_view(state, scratch, token),
            AnyModel::Ngram(m) => m.step_view(state, scratch, token),
        }
    }

    /// [`Stepper::start`] on views: resets `state` and feeds `<BOS>`; `Ok(false)` (nothing
    /// fed) for a model without `<BOS>`.
    pub fn start_view(
        &self,
        state: &mut StateView<'_>,
        scratch: &mut ScratchView<'_>,
    ) -> Result<bool, RuntimeError> {
        self.reset_view(state);
        match self.vocab().bos() {
            Some(bos) => self.step_view(state, scratch, bos).map(|_| true),
            None => Ok(false),
        }
    }
}

impl<'a, const H: usize, const V: usize, const L: usize, const N: usize> Stepper<'a>
    for AnyModel<'a, H, V, L, N>
{
    type State = AnyState<H, L, N>;
    type Scratch = AnyScratch<H, V>;

    fn new_state(&self) -> Self::State {
        match self {
            AnyModel::Gru(m) => AnyState::Gru(m.new_state()),
            AnyModel::Lstm(m) => AnyState::Lstm(m.new_state()),
            AnyModel::Rnn(m) => AnyState::Rnn(m.new_state()),
            AnyModel::Ngram(m) => AnyState::Ngram(m.new_state()),
        }
    }

    fn new_scratch(&self) -> Self::Scratch {
        match self {
            AnyModel::Gru(m) => AnyScratch::Gru(m.new_scratch()),
            AnyModel::Lstm(m) => AnyScratch::Lstm(m.new_scratch()),
            AnyModel::Rnn(m) => AnyScratch::Rnn(m.new_scratch()),
            AnyModel::Ngram(m) => AnyScratch::Ngram(Stepper::new_scratch(m)),
        }
    }

    fn reset(&self, state: &mut Self::State) {
        *state = self.new_state();
    }

    fn step<'s>(
        &self,
        state: &mut Self::State,
        scratch: &'s mut Self::Scratch,
        token: u32,
    ) -> Result<&'s [i32], RuntimeError> {
        match (self, state, scratch) {
            (AnyModel::Gru(m), AnyState::Gru(st), AnyScratch::Gru(sc)) => m.step(st, sc, token),
            (AnyModel::Lstm(m), AnyState::Lstm(st), AnyScratch::Lstm(sc)) => m.step(st, sc, token),
            (AnyModel::Rnn(m), AnyState::Rnn(st), AnyScratch::Rnn(sc)) => m.step(st, sc, token),
            (AnyModel::Ngram(m), AnyState::Ngram(st), AnyScratch::Ngram(sc)) => {
                m.step(st, sc, token)
            }
            _ => Err(RuntimeError::StateMismatch),
        }
    }

    fn logits_and_sel<'s>(&self, scratch: &'s mut Self::Scratch) -> (&'s [i32], &'s mut [i32]) {
        let v = self.vocab_size();
        match scratch {
            AnyScratch::Gru(s) => s.logits_and_sel(v),
            AnyScratch::Lstm(s) => s.logits_and_sel(v),
            AnyScratch::Rnn(s) => s.logits_and_sel(v),
            AnyScratch::Ngram(s) => s.logits_and_sel(v),
        }
    }

    fn vocab(&self) -> Vocab<'a> {
        match self {
            AnyModel::Gru(m) => m.vocab(),
            AnyModel::Lstm(m) => m.vocab(),
            AnyModel::Rnn(m) => m.vocab(),
            AnyModel::Ngram(m) => m.vocab(),
        }
    }

    fn records(&self) -> bool {
        match self {
            AnyModel::Gru(m) => m.records(),
            AnyModel::Lstm(m) => m.records(),
            AnyModel::Rnn(m) => m.records(),
            AnyModel::Ngram(m) => m.records(),
        }
    }
}
