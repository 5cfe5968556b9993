//! [`NgramModel`]: the quantized n-gram MLP baseline. The embeddings of the last `context`
//! tokens, concatenated, go through one hidden layer (ReLU or tanh) and the projection; a
//! stream keeps only those token ids, a ring with no recurrent state.

use mynah_format::{Activation, Arch, DType, Model, TensorName, Vocab};

use crate::dense::{dense, frac, tensor, Dense};
use crate::kernels::{saturate_act, tanh_q15, Reordered, XpMut, ACT_FRAC, PRE_FRAC, PRE_MAX};
use crate::model::{check_capacity, input_table};
use crate::names;
use crate::view::{ScratchView, StateView};
use crate::{forms, Footprint, RuntimeError};

/// Largest `ngram.hidden_exp`: ReLU activations up to 2^15 in real terms.
pub const MAX_HIDDEN_EXP: i32 = 15;

/// The last `context` token ids of a stream (capacity `N`), oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NgramState<const N: usize> {
    ring: [u16; N],
}

impl<const N: usize> NgramState<N> {
    /// A context of `N` copies of `fill` (the model's `<BOS>`).
    pub const fn filled(fill: u16) -> Self {
        NgramState { ring: [fill; N] }
    }

    /// The ids, oldest first (full capacity `N`; a model uses the last `context` of them).
    pub fn ids(&self) -> &[u16; N] {
        &self.ring
    }

    /// This state as a [`StateView`] (the whole ring).
    pub fn view(&mut self) -> StateView<'_> {
        StateView {
            h: &mut [],
            c: &mut [],
            ids: &mut self.ring,
            stride: 0,
        }
    }
}

/// Pushes `id` into the ring (the oldest id drops out).
fn push(ring: &mut [u16], id: u16) {
    if !ring.is_empty() {
        ring.rotate_left(1);
    }
    if let Some(last) = ring.last_mut() {
        *last = id;
    }
}

/// Working memory of an n-gram step, shareable between streams: the hidden layer's Q16
/// pre-activations and Q15 activations, the activations reordered for the matrix kernel,
/// the logits and the top-k selection buffer.
#[derive(Clone, Debug)]
pub struct NgramScratch<const H: usize, const V: usize> {
    xp: Reordered<H>,
    acc: [i32; H],
    logits: [i32; V],
    sel: [i32; V],
    hidden: [i16; H],
}

impl<const H: usize, const V: usize> NgramScratch<H, V> {
    /// Zeroed scratch.
    pub const fn new() -> Self {
        NgramScratch {
            xp: Reordered::new(),
            acc: [0; H],
            logits: [0; V],
            sel: [0; V],
            hidden: [0; H],
        }
    }

    /// The logits (first `vocab` entries) and the selection buffer, borrowed together.
    pub fn logits_and_sel(&mut self, vocab: usize) -> (&[i32], &mut [i32]) {
        let logits = self.logits.get(..vocab).unwrap_or(&self.logits);
        (logits, &mut self.sel)
    }

    /// This scratch as a [`ScratchView`].
    pub fn view(&mut self) -> ScratchView<'_> {
        ScratchView {
            xp: XpMut::of(&mut self.xp),
            work: &mut self.acc,
            act: &mut self.hidden,
            logits: &mut self.logits,
            sel: &mut self.sel,
            stride: H,
        }
    }
}

impl<const H: usize, const V: usize> Default for NgramScratch<H, V> {
    fn default() -> Self {
        Self::new()
    }
}

/// A quantized n-gram MLP checked against the capacities `H` (hidden width), `V`
/// (vocabulary) and `N` (context), reading its weights in place.
#[derive(Clone, Debug)]
pub struct NgramModel<
    'a,
    const H: usize,
    const V: usize,
    const N: usize,
    const F: u8 = { forms::ALL },
> {
    vocab: Vocab<'a>,
    vocab_size: usize,
    hidden: usize,
    context: usize,
    records: bool,
    activation: Activation,
    bos: u16,
    /// `[context · V, H]`: row `p·V + t` is position `p`'s product for token `t`, Q16 after
    /// `table_shift`.
    table: &'a [i16],
    table_shift: u32,
    /// ReLU activations are Q15 of `value / 2^hidden_exp`.
    hidden_exp: u32,
    proj: Dense<'a>,
}

impl<'a, const H: usize, const V: usize, const N: usize, const F: u8> NgramModel<'a, H, V, N, F> {
    /// Validates `model` against the n-gram INT8 tensor table and the capacities.
    pub fn new(model: &Model<'a>) -> Result<Self, RuntimeError> {
        let hy = model.hyper();
        let Arch::Ngram {
            context,
            activation,
        } = hy.arch
        else {
            return Err(RuntimeError::WrongArch {
                expected: Arch::Ngram {
                    context: N as u32,
                    activation: Activation::Relu,
                },
                found: hy.arch,
            });
        };
        check_capacity(model, F, H, V)?;
        if context as usize > N {
            return Err(RuntimeError::ContextCapacity {
                context,
                capacity: N,
            });
        }
        let (v, h) = (hy.vocab_size, hy.hidden_dim);
        let (table, table_shift) = input_table(model, names::NGRAM_TABLE, context * v, h)?;
        // The hidden pre-activation sums one row per position: prove it fits PRE_MAX.
        let rows = |p: u32| {
            let start = (p * v * h) as usize;
            table.get(start..start + (v * h) as usize).unwrap_or(&[])
        };
        for unit in 0..h as usize {
            let bound: u64 = (0..context)
                .map(|p| {
                    let r = rows(p).iter().skip(unit).step_by(h as usize);
                    r.map(|&e| u64::from(e.unsigned_abs()) << table_shift)
                        .max()
                        .unwrap_or(0)
                })
                .sum();
            if bound > PRE_MAX {
                return Err(RuntimeError::OutOfRange {
                    name: TensorName::new(names::NGRAM_TABLE),
                    row: unit as u32,
                });
            }
        }
        let ename = TensorName::new(names::NGRAM_HIDDEN_EXP);
        let exp_t = tensor(model, ename, DType::I8, &[1])?;
        frac(&exp_t, ename, 0, 0)?;
        let exp = i32::from(exp_t.i8s()?.first().copied().unwrap_or(0));
        let max = match activation {
            Activation::Relu => MAX_HIDDEN_EXP,
            Activation::Tanh => 0,
        };
        if !(0..=max).contains(&exp) {
            return Err(RuntimeError::BadHiddenExp { exp, max });
        }
        let bos = model.vocab().bos().ok_or(RuntimeError::Format(
            mynah_format::FormatError::NgramWithoutBos,
        ))?;
        Ok(NgramModel {
            vocab: model.vocab(),
            vocab_size: v as usize,
            hidden: h as usize,
            context: context as usize,
            records: hy.records,
            activation,
            bos: bos as u16, // ids < vocab_size <= 65535
            table,
            table_shift,
            hidden_exp: exp as u32,
            proj: dense::<F>(model, names::proj(), v, h)?,
        })
    }

    /// The vocabulary.
    pub fn vocab(&self) -> Vocab<'a> {
        self.vocab
    }

    /// `vocab_size`, the special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The width of the hidden layer.
    pub fn hidden_dim(&self) -> usize {
        self.hidden
    }

    /// How many previous tokens the model sees.
    pub fn context(&self) -> usize {
        self.context
    }

    /// Whether the model was trained on records (sampling may stop at `<EOS>`).
    pub fn records(&self) -> bool {
        self.records
    }

    /// The hidden layer's activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// The zero state: a context of `<BOS>` only (what a sequence starts from).
    pub fn new_state(&self) -> NgramState<N> {
        NgramState::filled(self.bos)
    }

    /// Back to a context of `<BOS>` only.
    pub fn reset(&self, state: &mut NgramState<N>) {
        *state = self.new_state();
    }

    /// What a stream of this model needs: [`Footprint::of`] its architecture and sizes.
    pub fn footprint(&self) -> Footprint {
        Footprint::of(
            Arch::Ngram {
                context: self.context as u32,
                activation: self.activation,
            },
            self.hidden,
            self.vocab_size,
            1,
            0,
        )
    }

    /// Back to a context of `<BOS>` only.
    pub fn reset_view(&self, state: &mut StateView<'_>) {
        state.ids.fill(self.bos);
    }

    /// Feeds `token` (pushes it into the context) and returns the Q16 logits of the next
    /// token: `proj(act(Σ_p table[p][ctx_p]))` over the last `context` ids.
    #[inline]
    pub fn step<'s>(
        &self,
        state: &mut NgramState<N>,
        scratch: &'s mut NgramScratch<H, V>,
        token: u32,
    ) -> Result<&'s [i32], RuntimeError> {
        // The capacities were checked at load: the views fit.
        self.step_in(&mut state.view(), &mut scratch.view(), token)?;
        Ok(scratch
            .logits
            .get(..self.vocab_size)
            .unwrap_or(&scratch.logits))
    }

    /// [`NgramModel::step`] on views of any size; [`RuntimeError::StateMismatch`] if they
    /// are too small for this model (a view carved for another one).
    pub fn step_view<'s>(
        &self,
        state: &mut StateView<'_>,
        scratch: &'s mut ScratchView<'_>,
        token: u32,
    ) -> Result<&'s [i32], RuntimeError> {
        if state.ids.len() < self.context || !scratch.fits(self.hidden, self.vocab_size, 1, true) {
            return Err(RuntimeError::StateMismatch);
        }
        self.step_in(state, scratch, token)?;
        Ok(scratch
            .logits
            .get(..self.vocab_size)
            .unwrap_or(&*scratch.logits))
    }

    /// The step on views that fit (else it computes on what there is, never panicking).
    #[inline]
    fn step_in(
        &self,
        state: &mut StateView<'_>,
        scratch: &mut ScratchView<'_>,
        token: u32,
    ) -> Result<(), RuntimeError> {
        if token as usize >= self.vocab_size {
            return Err(RuntimeError::TokenOutOfRange {
                token,
                vocab: self.vocab_size as u32,
            });
        }
        push(state.ids, token as u16);
        let (hd, v) = (self.hidden, self.vocab_size);
        let ScratchView {
            xp,
            work,
            logits,
            act,
            ..
        } = scratch;
        let acc = work.get_mut(..hd).unwrap_or(&mut []);
        acc.fill(0);
        let ring = &*state.ids;
        let ctx = ring
            .get(ring.len().saturating_sub(self.context)..)
            .unwrap_or(&[]);
        for (p, &id) in ctx.iter().enumerate() {
            let start = (p * v + usize::from(id)) * hd;
            let row = self.table.get(start..start + hd).unwrap_or(&[]);
            // At most `context` terms, their sum proven within PRE_MAX at load.
            for (a, &e) in acc.iter_mut().zip(row) {
                *a = a.wrapping_add(i32::from(e) << self.table_shift);
            }
        }
        let hidden = act.get_mut(..hd).unwrap_or(&mut []);
        match self.activation {
            Activation::Tanh => {
                for (o, &a) in hidden.iter_mut().zip(acc.iter()) {
                    *o = tanh_q15(a, PRE_FRAC);
                }
            }
            Activation::Relu => {
                // Q16 → Q15 of value / 2^exp, half away from zero (here: half up).
                let shift = PRE_FRAC - ACT_FRAC + self.hidden_exp;
                for (o, &a) in hidden.iter_mut().zip(acc.iter()) {
                    let r = (i64::from(a.max(0)) + (1 << (shift - 1))) >> shift;
                    *o = saturate_act(r as i32);
                }
            }
        }
        let logits = logits.get_mut(..v).unwrap_or(&mut []);
        self.proj.prepare::<F>(hidden, xp);
        self.proj.matvec::<F>(hidden, xp.get(), 0, logits);
        Ok(())
    }
}
