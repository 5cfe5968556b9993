//! One interface over the two ways the host runs a model: the float reference for FLOAT
//! files and the integer runtime for INT8 files, every architecture. Evaluation,
//! comparison and the CLI use it.

use mynah_format::{Model, WeightsKind};
use mynah_runtime::{AnyModel, RuntimeError, ScratchView, StateView, Stepper};

use crate::reference::{log_prob, softmax, FloatModel, FloatState, ReferenceError};

/// Widest hidden layer the host runs (the runtime's accumulator limit).
pub const HOST_H: usize = mynah_runtime::kernels::MAX_COLS;
/// Largest vocabulary the host runs (the file format's limit).
pub const HOST_V: usize = 65535;
/// Most layers the host runs (the file format's limit).
pub const HOST_L: usize = 4;
/// Longest n-gram context the host runs (the file format's limit).
pub const HOST_N: usize = mynah_format::MAX_CONTEXT as usize;

/// The integer runtime, any architecture, with the host's capacities.
pub type HostAny<'a> = AnyModel<'a, HOST_H, HOST_V, HOST_L, HOST_N>;

/// Any INT8 model on the host, whose streams hold exactly the model's
/// [`Footprint`](mynah_runtime::Footprint) on the heap (the runtime's views over `u32`
/// buffers) rather than the host capacities' half megabyte of scratch.
#[derive(Debug, Clone)]
pub struct HostModel<'a>(pub HostAny<'a>);

impl<'a> HostModel<'a> {
    /// Loads and validates an INT8 file of any architecture.
    pub fn new(model: &Model<'a>) -> Result<Self, RuntimeError> {
        Ok(HostModel(HostAny::new(model)?))
    }

    fn state_view<'s>(&self, s: &'s mut [u32]) -> Result<StateView<'s>, RuntimeError> {
        let m = &self.0;
        StateView::carve(bytemuck_bytes(s), m.arch(), m.hidden_dim(), m.num_layers())
    }

    fn scratch_view<'s>(&self, s: &'s mut [u32]) -> Result<ScratchView<'s>, RuntimeError> {
        let m = &self.0;
        let (arch, vocab) = (m.arch(), m.vocab_size());
        ScratchView::carve(
            bytemuck_bytes(s),
            arch,
            m.hidden_dim(),
            vocab,
            m.input_dim(),
        )
    }
}

/// `u32` words as bytes (4-byte aligned by construction).
fn bytemuck_bytes(words: &mut [u32]) -> &mut [u8] {
    bytemuck::cast_slice_mut(words)
}

impl<'a> Stepper<'a> for HostModel<'a> {
    type State = Vec<u32>;
    type Scratch = Vec<u32>;

    fn new_state(&self) -> Vec<u32> {
        let mut s = vec![0; self.0.footprint().state_bytes.div_ceil(4)];
        self.reset(&mut s);
        s
    }

    fn new_scratch(&self) -> Vec<u32> {
        vec![0; self.0.footprint().scratch_bytes.div_ceil(4)]
    }

    fn reset(&self, state: &mut Vec<u32>) {
        if let Ok(mut v) = self.state_view(state) {
            self.0.reset_view(&mut v);
        }
    }

    fn step<'s>(
        &self,
        state: &mut Vec<u32>,
        scratch: &'s mut Vec<u32>,
        token: u32,
    ) -> Result<&'s [i32], RuntimeError> {
        let mut st = self.state_view(state)?;
        let mut sc = self.scratch_view(scratch)?;
        self.0.step_view(&mut st, &mut sc, token)?;
        Ok(sc.into_logits_and_sel(self.0.vocab_size()).0)
    }

    fn logits_and_sel<'s>(&self, scratch: &'s mut Vec<u32>) -> (&'s [i32], &'s mut [i32]) {
        match self.scratch_view(scratch) {
            Ok(v) => v.into_logits_and_sel(self.0.vocab_size()),
            Err(_) => (&[], &mut []),
        }
    }

    fn vocab(&self) -> mynah_format::Vocab<'a> {
        self.0.vocab()
    }

    fn records(&self) -> bool {
        self.0.records()
    }
}

/// Something that maps a token stream to next-token logits (in nats, as f64).
pub trait LanguageModel {
    /// Back to the zero state (nothing fed).
    fn reset(&mut self);
    /// Feeds `token`; returns the next token's logits (`vocab_size` entries).
    fn step(&mut self, token: u32) -> Result<&[f64], EngineError>;
    /// `vocab_size`.
    fn vocab_size(&self) -> usize;
}

/// Why a model could not be run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineError {
    /// From the float reference.
    Reference(ReferenceError),
    /// From the integer runtime.
    Runtime(RuntimeError),
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::Reference(e) => write!(f, "{e}"),
            EngineError::Runtime(e) => write!(f, "{e}"),
        }
    }
}

// Transparent: Display is the inner error's, so the inner error is not also a `source`.
impl std::error::Error for EngineError {}

impl From<ReferenceError> for EngineError {
    fn from(e: ReferenceError) -> Self {
        EngineError::Reference(e)
    }
}

impl From<RuntimeError> for EngineError {
    fn from(e: RuntimeError) -> Self {
        EngineError::Runtime(e)
    }
}

/// The float reference as a [`LanguageModel`].
#[derive(Debug, Clone)]
pub struct FloatRunner {
    model: FloatModel,
    state: FloatState,
    logits: Vec<f32>,
    out: Vec<f64>,
}

impl FloatRunner {
    /// Wraps a float model.
    pub fn new(model: FloatModel) -> Self {
        let state = model.zero_state();
        let v = model.vocab_size();
        FloatRunner {
            model,
            state,
            logits: vec![0.0; v],
            out: vec![0.0; v],
        }
    }

    /// The model.
    pub fn model(&self) -> &FloatModel {
        &self.model
    }
}

impl LanguageModel for FloatRunner {
    fn reset(&mut self) {
        self.state = self.model.zero_state();
    }

    fn step(&mut self, token: u32) -> Result<&[f64], EngineError> {
        self.model.step(&mut self.state, token, &mut self.logits)?;
        for (o, &l) in self.out.iter_mut().zip(&self.logits) {
            *o = f64::from(l);
        }
        Ok(&self.out)
    }

    fn vocab_size(&self) -> usize {
        self.model.vocab_size()
    }
}

/// The integer runtime as a [`LanguageModel`]: Q16 logits divided by 65536.
pub struct IntRunner<'m, 'a> {
    model: &'m HostModel<'a>,
    state: Vec<u32>,
    scratch: Vec<u32>,
    out: Vec<f64>,
}

impl<'m, 'a> IntRunner<'m, 'a> {
    /// Wraps a loaded integer model.
    pub fn new(model: &'m HostModel<'a>) -> Self {
        IntRunner {
            model,
            state: model.new_state(),
            scratch: model.new_scratch(),
            out: vec![0.0; model.vocab_size()],
        }
    }

    /// Feeds `token` and returns the raw Q16 logits.
    pub fn step_q16(&mut self, token: u32) -> Result<&[i32], RuntimeError> {
        self.model.step(&mut self.state, &mut self.scratch, token)
    }
}

impl LanguageModel for IntRunner<'_, '_> {
    fn reset(&mut self) {
        self.model.reset(&mut self.state);
    }

    fn step(&mut self, token: u32) -> Result<&[f64], EngineError> {
        let logits = self.model.step(&mut self.state, &mut self.scratch, token)?;
        for (o, &l) in self.out.iter_mut().zip(logits) {
            *o = f64::from(l) / 65536.0;
        }
        Ok(&self.out)
    }

    fn vocab_size(&self) -> usize {
        self.model.vocab_size()
    }
}

/// Loads the integer runtime for an INT8 file.
pub fn load_int<'a>(model: &Model<'a>) -> Result<Box<HostModel<'a>>, RuntimeError> {
    Ok(Box::new(HostModel::new(model)?))
}

/// A file's engine, loaded once: the integer runtime for INT8 and INT4 files, the float
/// reference for FLOAT ones. Each [`FileEngine::stream`] runs from a zero state.
pub enum FileEngine<'a> {
    /// INT8 and INT4 files.
    Int(Box<HostModel<'a>>),
    /// FLOAT files.
    Float(Box<FloatModel>),
}

impl<'a> FileEngine<'a> {
    /// Loads the engine that runs `model`.
    pub fn load(model: &Model<'a>) -> Result<Self, EngineError> {
        Ok(if is_quantized(model) {
            FileEngine::Int(load_int(model)?)
        } else {
            FileEngine::Float(Box::new(FloatModel::from_model(model)?))
        })
    }

    /// A stream from a zero state (a float stream holds its own copy of the weights).
    pub fn stream(&self) -> Box<dyn LanguageModel + '_> {
        match self {
            FileEngine::Int(m) => Box::new(IntRunner::new(m)),
            FileEngine::Float(m) => Box::new(FloatRunner::new(FloatModel::clone(m))),
        }
    }
}

/// The vocabulary of a model file as mynah-text's [`Vocab`](mynah_text::Vocab) (to encode
/// corpora for it).
pub fn file_vocab(model: &Model<'_>) -> Result<mynah_text::Vocab, mynah_text::TextError> {
    let v = model.vocab();
    mynah_text::Vocab::new(v.specials(), v.chars().collect())
}

/// Whether the file holds INT8 weights.
pub fn is_int8(model: &Model<'_>) -> bool {
    model.hyper().weights == WeightsKind::Int8
}

/// Whether the file holds quantized weights (INT8 or INT4): the integer runtime runs it.
pub fn is_quantized(model: &Model<'_>) -> bool {
    model.hyper().weights.is_quantized()
}

/// Total negative log-likelihood and the number of scored symbols.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Sum of `-ln p(next)` over scored symbols.
    pub nats: f64,
    /// Scored symbols (the `chars` of the evaluation convention).
    pub symbols: usize,
}

impl Score {
    /// nats per scored symbol (0 when nothing was scored).
    pub fn nats_per_char(&self) -> f64 {
        if self.symbols == 0 {
            0.0
        } else {
            self.nats / self.symbols as f64
        }
    }

    /// bits per scored symbol.
    pub fn bits_per_char(&self) -> f64 {
        self.nats_per_char() / std::f64::consts::LN_2
    }
}

/// Scores sequences by the evaluation convention: each sequence from a zero state, every
/// token after the first scored given those before it.
pub fn score(lm: &mut dyn LanguageModel, sequences: &[Vec<u32>]) -> Result<Score, EngineError> {
    let mut nats = 0.0;
    let mut symbols = 0;
    for seq in sequences {
        lm.reset();
        for pair in seq.windows(2) {
            let logits = lm.step(pair[0])?;
            nats -= log_prob(logits, pair[1] as usize);
            symbols += 1;
        }
    }
    Ok(Score { nats, symbols })
}

/// How closely two models agree along the same token sequences.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Agreement {
    /// Positions compared.
    pub positions: usize,
    /// Mean `KL(p_a ‖ p_b)` of the next-token distributions, in nats.
    pub mean_kl: f64,
    /// Largest KL at one position, in nats.
    pub max_kl: f64,
    /// Fraction of positions where both put the same token first.
    pub top1: f64,
    /// Model a's score on the sequences.
    pub a: Score,
    /// Model b's score on the sequences.
    pub b: Score,
}

impl Agreement {
    /// `(b − a) / a` of nats per char: the relative loss gap.
    pub fn loss_gap(&self) -> f64 {
        (self.b.nats_per_char() - self.a.nats_per_char()) / self.a.nats_per_char()
    }
}

fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Runs `a` (reference) and `b` side by side over `sequences` (evaluation convention).
pub fn compare(
    a: &mut dyn LanguageModel,
    b: &mut dyn LanguageModel,
    sequences: &[Vec<u32>],
) -> Result<Agreement, EngineError> {
    let (mut kl_sum, mut max_kl, mut same, mut n) = (0.0, 0.0f64, 0usize, 0usize);
    let (mut na, mut nb) = (0.0, 0.0);
    for seq in sequences {
        a.reset();
        b.reset();
        for pair in seq.windows(2) {
            let la = a.step(pair[0])?.to_vec();
            let lb = b.step(pair[0])?;
            let (pa, pb) = (softmax(&la), softmax(lb));
            let kl: f64 = pa
                .iter()
                .zip(&pb)
                .filter(|(&p, _)| p > 0.0)
                .map(|(&p, &q)| p * (p.ln() - q.max(1e-300).ln()))
                .sum();
            kl_sum += kl;
            max_kl = max_kl.max(kl);
            same += usize::from(argmax(&la) == argmax(lb));
            na -= log_prob(&la, pair[1] as usize);
            nb -= log_prob(lb, pair[1] as usize);
            n += 1;
        }
    }
    let d = n.max(1) as f64;
    Ok(Agreement {
        positions: n,
        mean_kl: kl_sum / d,
        max_kl,
        top1: same as f64 / d,
        a: Score {
            nats: na,
            symbols: n,
        },
        b: Score {
            nats: nb,
            symbols: n,
        },
    })
}
