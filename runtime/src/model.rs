//! [`IntModel`]: a validated, zero-copy view of a quantized recurrent model (GRU, LSTM or
//! tanh RNN), and its step.

use core::marker::PhantomData;

use mynah_format::{Arch, DType, Model, TensorName, Vocab};

use crate::cell::Cell;
use crate::dense::{dense, frac, tensor, Dense};
use crate::kernels::{Reordered, XpMut, MAX_COLS, PRE_FRAC, PRE_MAX};
use crate::names;
use crate::view::{ScratchView, StateView};
use crate::{forms, Footprint, RuntimeError};

/// One recurrent layer: the input product (absent for layer 0 of a table model, which uses
/// the token table) and the recurrent product.
#[derive(Clone, Copy, Debug)]
struct Layer<'a> {
    ih: Dense<'a>,
    hh: Dense<'a>,
}

/// The memory of one stream: `L` layers of `H` Q15 hidden values (`2·H·L` bytes), and for an
/// LSTM its Q16 cell states (`4·H·L` bytes more).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State<C: Cell, const H: usize, const L: usize> {
    h: [[i16; H]; L],
    c: C::Memory<H, L>,
}

impl<C: Cell, const H: usize, const L: usize> State<C, H, L> {
    /// The zero state every sequence starts from.
    pub fn new() -> Self {
        State {
            h: const { [[0; H]; L] },
            c: C::zero_memory(),
        }
    }

    /// Back to the zero state.
    pub fn reset(&mut self) {
        self.h = [[0; H]; L];
        for c in self.c.as_mut() {
            *c = [0; H];
        }
    }

    /// Layer `k`'s hidden vector (Q15, full capacity `H`; only `hidden_dim` entries are used).
    pub fn hidden(&self, k: usize) -> Option<&[i16; H]> {
        self.h.get(k)
    }

    /// Layer `k`'s LSTM cell state (Q16); `None` for other cells.
    pub fn cell(&self, k: usize) -> Option<&[i32; H]> {
        self.c.as_ref().get(k)
    }

    /// This state as a [`StateView`] (layers `H` apart).
    pub fn view(&mut self) -> StateView<'_> {
        StateView {
            h: self.h.as_flattened_mut(),
            c: self.c.as_mut().as_flattened_mut(),
            ids: &mut [],
            stride: H,
        }
    }
}

impl<C: Cell, const H: usize, const L: usize> Default for State<C, H, L> {
    fn default() -> Self {
        Self::new()
    }
}

/// Working memory of a step, shareable between streams: a layer input reordered for the
/// matrix kernel, the cell's Q16 work rows ([`Cell::Rows`]), the logits and the top-k
/// selection buffer. See [`crate::Footprint`] for its size.
#[derive(Clone, Debug)]
pub struct Scratch<C: Cell, const H: usize, const V: usize> {
    /// The input of the current matrix product in the order of the ARMv7E-M `SMLAD`
    /// kernel. Other targets' kernel reads the input in place and leaves it unused: it is
    /// there on every target so that the footprint is the same everywhere.
    xp: Reordered<H>,
    rows: C::Rows<H>,
    logits: [i32; V],
    sel: [i32; V],
}

impl<C: Cell, const H: usize, const V: usize> Scratch<C, H, V> {
    /// Zeroed scratch.
    pub fn new() -> Self {
        Scratch {
            xp: Reordered::new(),
            rows: C::zero_rows(),
            logits: [0; V],
            sel: [0; V],
        }
    }

    /// The logits of the last step (full capacity `V`).
    pub fn logits(&self) -> &[i32; V] {
        &self.logits
    }

    /// The logits (first `vocab` entries) and the selection buffer, borrowed together.
    pub fn logits_and_sel(&mut self, vocab: usize) -> (&[i32], &mut [i32]) {
        let logits = self.logits.get(..vocab).unwrap_or(&self.logits);
        (logits, &mut self.sel)
    }

    /// This scratch as a [`ScratchView`] (work rows `H` apart).
    pub fn view(&mut self) -> ScratchView<'_> {
        ScratchView {
            xp: XpMut::of(&mut self.xp),
            work: self.rows.as_mut().as_flattened_mut(),
            act: &mut [],
            logits: &mut self.logits,
            sel: &mut self.sel,
            stride: H,
        }
    }
}

impl<C: Cell, const H: usize, const V: usize> Default for Scratch<C, H, V> {
    fn default() -> Self {
        Self::new()
    }
}

/// A quantized recurrent model of cell `C`, checked against the capacities `H` (hidden
/// width), `V` (vocabulary) and `L` (layers), reading its weights in place.
///
/// Creating it validates every tensor the step uses (dtype, shape, `frac_bits`, shifts, and
/// that no input can push a pre-activation out of range), so [`IntModel::step`] cannot
/// fail except on a token outside the vocabulary.
#[derive(Clone, Debug)]
pub struct IntModel<
    'a,
    C: Cell,
    const H: usize,
    const V: usize,
    const L: usize,
    const F: u8 = { forms::ALL },
> {
    vocab: Vocab<'a>,
    vocab_size: usize,
    hidden: usize,
    layers: usize,
    records: bool,
    /// Where layer 0's input product comes from.
    input: Input<'a>,
    layer: [Layer<'a>; L],
    proj: Dense<'a>,
    cell: PhantomData<C>,
}

/// Layer 0's input product: a row of the token table, or (a factored model) layer 0's
/// input matrix (`Layer::ih`) times the token's embedding row.
#[derive(Clone, Copy, Debug)]
enum Input<'a> {
    /// `[V, G·H]` rows `W_ih0 · embed[tok] + b_ih0`, and the left shift taking them to Q16.
    Table { table: &'a [i16], shift: u32 },
    /// `[V, E]` `i8` embedding rows, `E` = `dim`.
    Factored { embed: &'a [i8], dim: u32 },
}

/// Checks what every quantized model needs: INT8 or INT4 weights, a form the type runs
/// (`f`, [`crate::forms`]) and capacities that fit.
pub(crate) fn check_capacity(
    model: &Model<'_>,
    f: u8,
    hidden_capacity: usize,
    vocab_capacity: usize,
) -> Result<(), RuntimeError> {
    let hy = model.hyper();
    if !hy.weights.is_quantized() {
        return Err(RuntimeError::NotQuantized);
    }
    let form = forms::of(&hy);
    if form & f != form {
        return Err(RuntimeError::FormNotBuiltIn {
            weights: hy.weights,
            factored: hy.factored,
        });
    }
    if hy.hidden_dim as usize > hidden_capacity {
        return Err(RuntimeError::HiddenCapacity {
            hidden: hy.hidden_dim,
            capacity: hidden_capacity,
        });
    }
    if hy.hidden_dim as usize > MAX_COLS {
        return Err(RuntimeError::HiddenTooWide {
            hidden: hy.hidden_dim,
        });
    }
    if hy.vocab_size as usize > vocab_capacity {
        return Err(RuntimeError::VocabCapacity {
            vocab: hy.vocab_size,
            capacity: vocab_capacity,
        });
    }
    Ok(())
}

/// Loads a per-token (or per position and token) `i16` input table of `rows × cols` and
/// returns it with the left shift that takes its entries to Q16, after checking that
/// every entry, shifted, is within [`PRE_MAX`].
pub(crate) fn input_table<'a>(
    model: &Model<'a>,
    name: &'static str,
    rows: u32,
    cols: u32,
) -> Result<(&'a [i16], u32), RuntimeError> {
    let tname = TensorName::new(name);
    let table = tensor(model, tname, DType::I16, &[rows, cols])?;
    let tf = frac(&table, tname, 0, PRE_FRAC as i32)?;
    let shift = PRE_FRAC - tf as u32;
    let entries = table.i16s()?;
    let width = (cols as usize).max(1);
    for (i, &e) in entries.iter().enumerate() {
        if u64::from(e.unsigned_abs()) << shift > PRE_MAX {
            return Err(RuntimeError::OutOfRange {
                name: tname,
                row: (i / width) as u32,
            });
        }
    }
    Ok((entries, shift))
}

/// Loads a factored model's `[V, E]` embedding, after checking that `E` fits the kernels
/// (at most [`MAX_COLS`]) and the capacity `H` of the reordered input, and that no entry is
/// -128 (widened, every entry must be an activation within `±ACT_MAX`).
fn embedding<'a>(model: &Model<'a>, hidden_capacity: usize) -> Result<&'a [i8], RuntimeError> {
    let hy = model.hyper();
    let (v, e) = (hy.vocab_size, hy.embed_dim);
    if e as usize > MAX_COLS {
        return Err(RuntimeError::EmbedTooWide { embed: e });
    }
    if e as usize > hidden_capacity {
        return Err(RuntimeError::EmbedCapacity {
            embed: e,
            capacity: hidden_capacity,
        });
    }
    let name = TensorName::new(names::EMBED);
    let t = tensor(model, name, DType::I8, &[v, e])?;
    let entries = t.i8s()?;
    if let Some(i) = entries.iter().position(|&q| q == i8::MIN) {
        return Err(RuntimeError::OutOfRange {
            name,
            row: (i / (e as usize).max(1)) as u32,
        });
    }
    Ok(entries)
}

impl<'a, C: Cell, const H: usize, const V: usize, const L: usize, const F: u8>
    IntModel<'a, C, H, V, L, F>
{
    /// Validates `model` against its quantized tensor table (INT8 or INT4, token table or
    /// factored) and the capacities. A factored model's `embed_dim` must fit the capacity
    /// `H` too (the reordered input holds its embedding row).
    pub fn new(model: &Model<'a>) -> Result<Self, RuntimeError> {
        let hy = model.hyper();
        let want = Arch::Recurrent(C::KIND);
        if hy.arch != want {
            return Err(RuntimeError::WrongArch {
                expected: want,
                found: hy.arch,
            });
        }
        check_capacity(model, F, H, V)?;
        if hy.num_layers as usize > L {
            return Err(RuntimeError::LayerCapacity {
                layers: hy.num_layers,
                capacity: L,
            });
        }
        let (v, h) = (hy.vocab_size, hy.hidden_dim);
        let g = C::GATES as u32 * h; // h <= 512
                                     // `F & FACTORED`: a type built for token tables only never links the factored path.
        let factored = F & forms::FACTORED != 0 && hy.factored;
        let input = if factored {
            let embed = embedding(model, H)?;
            Input::Factored {
                embed,
                dim: hy.embed_dim,
            }
        } else {
            let (table, shift) = input_table(model, names::INPUT_TABLE, v, g)?;
            Input::Table { table, shift }
        };
        let mut layer = [Layer {
            ih: Dense::EMPTY,
            hh: Dense::EMPTY,
        }; L];
        for (k, slot) in layer.iter_mut().enumerate().take(hy.num_layers as usize) {
            let k = k as u32;
            if k > 0 || factored {
                let cols = if k == 0 { hy.embed_dim } else { h };
                slot.ih = dense::<F>(model, names::ih(k), g, cols)?;
            }
            slot.hh = dense::<F>(model, names::hh(k), g, h)?;
        }
        let proj = dense::<F>(model, names::proj(), v, h)?;
        Ok(IntModel {
            vocab: model.vocab(),
            vocab_size: v as usize,
            hidden: h as usize,
            layers: hy.num_layers as usize,
            records: hy.records,
            input,
            layer,
            proj,
            cell: PhantomData,
        })
    }

    /// The vocabulary (ids to characters and back, the special tokens).
    pub fn vocab(&self) -> Vocab<'a> {
        self.vocab
    }

    /// `vocab_size`, the special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// `hidden_dim`.
    pub fn hidden_dim(&self) -> usize {
        self.hidden
    }

    /// `num_layers`.
    pub fn num_layers(&self) -> usize {
        self.layers
    }

    /// Whether the model was trained on records (sampling may stop at `<EOS>`).
    pub fn records(&self) -> bool {
        self.records
    }

    /// Whether layer 0 computes its input product from an embedding (a factored file)
    /// rather than reading the token table.
    pub fn factored(&self) -> bool {
        matches!(self.input, Input::Factored { .. })
    }

    /// The width of the vector layer 0's input product reads besides the hidden state:
    /// `embed_dim` for a factored model, 0 for a token table.
    pub fn input_dim(&self) -> usize {
        match self.input {
            Input::Factored { dim, .. } => dim as usize,
            Input::Table { .. } => 0,
        }
    }

    /// What a stream of this model needs: [`Footprint::of`] its architecture and sizes.
    pub fn footprint(&self) -> Footprint {
        Footprint::of(
            Arch::Recurrent(C::KIND),
            self.hidden,
            self.vocab_size,
            self.layers,
            self.input_dim(),
        )
    }

    /// Feeds `token` and returns the Q16 logits of the next token (`vocab_size` entries).
    ///
    /// Per layer: the input products (layer 0: a row of the token table, or its input
    /// matrix times the token's embedding row), the recurrent products, then the cell's
    /// gate math ([`Cell::units`]) in place; the projection of the top layer's new hidden
    /// vector gives the logits.
    #[inline]
    pub fn step<'s>(
        &self,
        state: &mut State<C, H, L>,
        scratch: &'s mut Scratch<C, H, V>,
        token: u32,
    ) -> Result<&'s [i32], RuntimeError> {
        // The capacities were checked at load: the views fit.
        self.step_in(&mut state.view(), &mut scratch.view(), token)?;
        Ok(scratch
            .logits
            .get(..self.vocab_size)
            .unwrap_or(&scratch.logits))
    }

    /// [`IntModel::step`] on views of any size; [`RuntimeError::StateMismatch`] if they are
    /// too small for this model (a view carved for another one).
    pub fn step_view<'s>(
        &self,
        state: &mut StateView<'_>,
        scratch: &'s mut ScratchView<'_>,
        token: u32,
    ) -> Result<&'s [i32], RuntimeError> {
        if !state.fits_recurrent(self.hidden, self.layers, C::MEMORY)
            || !scratch.fits(self.hidden, self.vocab_size, C::ROWS, false)
            || scratch.xp.len() < self.input_dim()
        {
            return Err(RuntimeError::StateMismatch);
        }
        self.step_in(state, scratch, token)?;
        Ok(scratch
            .logits
            .get(..self.vocab_size)
            .unwrap_or(&*scratch.logits))
    }

    /// Back to the zero state.
    pub fn reset_view(&self, state: &mut StateView<'_>) {
        state.h.fill(0);
        state.c.fill(0);
    }

    /// The step on views that fit this model: [`IntModel::step`]'s capacities were checked
    /// at load, [`IntModel::step_view`]'s views just before, so the slicing below stays in
    /// bounds. Always inlined: into [`IntModel::step`], where the strides are the constant
    /// `H` (a firmware's only caller), and into [`IntModel::step_view`].
    #[inline(always)]
    fn step_in(
        &self,
        state: &mut StateView<'_>,
        scratch: &mut ScratchView<'_>,
        token: u32,
    ) -> Result<(), RuntimeError> {
        let t = token as usize;
        if t >= self.vocab_size {
            return Err(RuntimeError::TokenOutOfRange {
                token,
                vocab: self.vocab_size as u32,
            });
        }
        let hd = self.hidden;
        let ScratchView {
            xp,
            work,
            logits,
            stride: rs,
            ..
        } = scratch;
        let rs = *rs;
        let hs = state.stride;
        for k in 0..self.layers {
            let (below, rest) = state.h.split_at_mut(k * hs);
            let h = &mut rest[..hd];
            let Some(layer) = self.layer.get(k) else {
                break;
            };
            // Input products: layer 0's from the token (a table row, or its embedding row
            // times the input matrix), a matrix product above.
            if k == 0 {
                self.input_product(layer, t, xp, work, rs);
            } else {
                let x = &below[(k - 1) * hs..][..hd];
                layer.ih.prepare::<F>(x, xp);
                for gate in 0..C::GATES {
                    let out = &mut work[gate * rs..][..hd];
                    layer.ih.matvec::<F>(x, xp.get(), gate * hd, out);
                }
            }
            layer.hh.prepare::<F>(h, xp);
            for gate in 0..C::GATES {
                let (gi, tmp) = work.split_at_mut(C::GATES * rs);
                let tmp = &mut tmp[..hd];
                layer.hh.matvec::<F>(h, xp.get(), gate * hd, tmp);
                if C::SEPARATE_RECURRENT && gate + 1 == C::GATES {
                    // The GRU's W_hn h + b_hn stays in its row, for r ⊙ (…).
                    break;
                }
                // Each term is within PRE_MAX (proven at load): the sum fits.
                for (o, &r) in gi[gate * rs..][..hd].iter_mut().zip(&*tmp) {
                    *o = o.wrapping_add(r);
                }
            }
            // In place: unit i reads only its own h[i] (and c[i]), the products are done.
            let c = state.c.get_mut(k * hs..k * hs + hd).unwrap_or(&mut []);
            C::units(h, c, work, rs);
        }
        let top = &state.h[(self.layers - 1) * hs..][..hd];
        let logits = &mut logits[..self.vocab_size];
        self.proj.prepare::<F>(top, xp);
        self.proj.matvec::<F>(top, xp.get(), 0, logits);
        Ok(())
    }

    /// Layer 0's input products of token `t` (below `vocab_size`) into the first
    /// `C::GATES` work rows (`rs` apart): the token table's row shifted to Q16, or the input
    /// matrix times the token's embedding row widened to Q15 (`q << 8`; the matrix's row
    /// multipliers hold the embedding's scale, runtime/QUANTIZATION.md).
    #[inline(always)]
    fn input_product(
        &self,
        layer: &Layer<'_>,
        t: usize,
        xp: &mut XpMut<'_>,
        work: &mut [i32],
        rs: usize,
    ) {
        let hd = self.hidden;
        match self.input {
            Input::Table { table, shift } if F & forms::TABLE != 0 => {
                let g = C::GATES * hd;
                let row = table.get(t * g..(t + 1) * g).unwrap_or(&[]);
                for gate in 0..C::GATES {
                    let src = row.get(gate * hd..(gate + 1) * hd).unwrap_or(&[]);
                    let dst = work.get_mut(gate * rs..gate * rs + hd).unwrap_or(&mut []);
                    for (o, &v) in dst.iter_mut().zip(src) {
                        *o = i32::from(v) << shift;
                    }
                }
            }
            Input::Factored { embed, dim } if F & forms::FACTORED != 0 => {
                let dim = dim as usize;
                let e = embed.get(t * dim..(t + 1) * dim).unwrap_or(&[]);
                let xv = layer.ih.prepare_embedding::<F>(e, xp);
                let x = xv.as_slice().get(..dim).unwrap_or(&[]);
                for gate in 0..C::GATES {
                    let dst = work.get_mut(gate * rs..gate * rs + hd).unwrap_or(&mut []);
                    layer.ih.matvec::<F>(x, xv, gate * hd, dst);
                }
            }
            // A form outside `F` is refused at load.
            _ => {}
        }
    }
}
