//! [`IntModel`]: a validated, zero-copy view of an INT8 file, and the GRU step.

use mynah_format::{DType, Model, Shape, TensorName, Vocab, WeightsKind, BOS};

use crate::kernels::{
    dot_i8_i16, gru_blend, mul_q15, requantize_bound, requantize_in_range, sigmoid_q15, tanh_q15,
    MAX_COLS, MAX_SHIFT, PRE_FRAC, PRE_MAX,
};
use crate::names;
use crate::RuntimeError;

/// One int8 matrix with its per-row requantization and Q16 bias, borrowed from the file.
#[derive(Clone, Copy, Debug)]
struct Dense<'a> {
    /// Row-major `[rows, cols]`, `i8` in `[-127, 127]`.
    w: &'a [i8],
    /// Per-row multiplier: the real factor is `mult * 2^-shift`.
    mult: &'a [i32],
    /// Per-row shift, validated to `0..=62`.
    shift: &'a [i8],
    /// Per-row Q16 bias.
    bias: &'a [i32],
    cols: usize,
}

impl Dense<'_> {
    const EMPTY: Dense<'static> = Dense {
        w: &[],
        mult: &[],
        shift: &[],
        bias: &[],
        cols: 0,
    };

    /// `out[i] = (W x)[first + i]` in Q16 (bias included) for `out.len()` rows, for a Q15 `x`
    /// of length `cols`. One tight loop over the rows: the dot products stay vectorized and
    /// the requantization is a short tail per row.
    #[inline]
    fn matvec(&self, x: &[i16], first: usize, out: &mut [i32]) {
        let n = out.len();
        let cols = self.cols.max(1);
        let w = self.w.get(first * cols..(first + n) * cols).unwrap_or(&[]);
        let mult = self.mult.get(first..first + n).unwrap_or(&[]);
        let shift = self.shift.get(first..first + n).unwrap_or(&[]);
        let bias = self.bias.get(first..first + n).unwrap_or(&[]);
        let rows = w.chunks_exact(cols).zip(mult).zip(shift).zip(bias);
        for (o, (((w, &m), &s), &b)) in out.iter_mut().zip(rows) {
            // In range by the load-time proof: no saturation needed.
            *o = requantize_in_range(dot_i8_i16(w, x), m, s as u32).wrapping_add(b);
        }
    }
}

/// One GRU layer: the input product (absent for layer 0, which uses the token table) and
/// the recurrent product.
#[derive(Clone, Copy, Debug)]
struct Layer<'a> {
    ih: Dense<'a>,
    hh: Dense<'a>,
}

/// The hidden vectors of one stream: `L` layers of `H` Q15 values (`2·H·L` bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State<const H: usize, const L: usize> {
    h: [[i16; H]; L],
}

impl<const H: usize, const L: usize> State<H, L> {
    /// The zero state every sequence starts from.
    pub const fn new() -> Self {
        State { h: [[0; H]; L] }
    }

    /// Back to the zero state.
    pub fn reset(&mut self) {
        self.h = [[0; H]; L];
    }

    /// Layer `k`'s hidden vector (Q15, full capacity `H`; only `hidden_dim` entries are used).
    pub fn hidden(&self, k: usize) -> Option<&[i16; H]> {
        self.h.get(k)
    }
}

impl<const H: usize, const L: usize> Default for State<H, L> {
    fn default() -> Self {
        Self::new()
    }
}

/// Working memory of a step, shareable between streams: the new hidden vector, the Q16
/// gate products, the logits and the top-k selection buffer (`26·H + 8·V` bytes).
#[derive(Clone, Debug)]
pub struct Scratch<const H: usize, const V: usize> {
    h_new: [i16; H],
    /// Input products (r, z, n rows), Q16.
    gi: [[i32; H]; 3],
    /// Recurrent products (r, z, n rows), Q16.
    gh: [[i32; H]; 3],
    logits: [i32; V],
    sel: [i32; V],
}

impl<const H: usize, const V: usize> Scratch<H, V> {
    /// Zeroed scratch.
    pub const fn new() -> Self {
        Scratch {
            h_new: [0; H],
            gi: [[0; H]; 3],
            gh: [[0; H]; 3],
            logits: [0; V],
            sel: [0; V],
        }
    }

    /// The logits of the last step (full capacity `V`).
    pub fn logits(&self) -> &[i32; V] {
        &self.logits
    }

    /// The logits (first `vocab` entries) and the selection buffer, borrowed together.
    pub(crate) fn logits_and_sel(&mut self, vocab: usize) -> (&[i32], &mut [i32]) {
        let logits = self.logits.get(..vocab).unwrap_or(&self.logits);
        (logits, &mut self.sel)
    }
}

impl<const H: usize, const V: usize> Default for Scratch<H, V> {
    fn default() -> Self {
        Self::new()
    }
}

/// An INT8 model checked against the capacities `H` (hidden width), `V` (vocabulary) and
/// `L` (layers), reading its weights in place.
///
/// Creating it validates every tensor the step uses (dtype, shape, `frac_bits`, shifts),
/// so [`IntModel::step`] cannot fail except on a token outside the vocabulary.
#[derive(Clone, Debug)]
pub struct IntModel<'a, const H: usize, const V: usize, const L: usize> {
    vocab: Vocab<'a>,
    vocab_size: usize,
    hidden: usize,
    layers: usize,
    records: bool,
    /// `[V, 3H]` rows `W_ih0 · embed[tok] + b_ih0`.
    table: &'a [i16],
    /// Left shift taking table entries to Q16.
    table_shift: u32,
    layer: [Layer<'a>; L],
    proj: Dense<'a>,
}

/// Looks `name` up and checks its dtype and exact shape.
fn tensor<'a>(
    model: &Model<'a>,
    name: TensorName,
    dtype: DType,
    shape: &[u32],
) -> Result<mynah_format::Tensor<'a>, RuntimeError> {
    let t = model.tensor(name.as_str()).ok_or(RuntimeError::Format(
        mynah_format::FormatError::MissingTensor { name },
    ))?;
    if t.dtype() != dtype {
        return Err(RuntimeError::WrongDType {
            name,
            expected: dtype,
            found: t.dtype(),
        });
    }
    if t.shape() != shape {
        return Err(RuntimeError::WrongShape {
            name,
            expected: Shape::new(shape),
            found: Shape::new(t.shape()),
        });
    }
    Ok(t)
}

/// Checks `frac_bits` of `t` is within `min..=max`.
fn frac(
    t: &mynah_format::Tensor<'_>,
    name: TensorName,
    min: i32,
    max: i32,
) -> Result<i32, RuntimeError> {
    let found = t.frac_bits();
    if found < min || found > max {
        return Err(RuntimeError::WrongFracBits {
            name,
            min,
            max,
            found,
        });
    }
    Ok(found)
}

/// Loads one `[rows, cols]` int8 matrix with its multipliers, shifts and bias.
fn dense<'a>(
    model: &Model<'a>,
    n: names::DenseNames,
    rows: u32,
    cols: u32,
) -> Result<Dense<'a>, RuntimeError> {
    let w = tensor(model, n.weight, DType::I8, &[rows, cols])?;
    frac(&w, n.weight, 0, 0)?;
    let mult = tensor(model, n.mult, DType::I32, &[rows])?;
    frac(&mult, n.mult, 0, 0)?;
    let shift = tensor(model, n.shift, DType::I8, &[rows])?;
    frac(&shift, n.shift, 0, 0)?;
    let bias = tensor(model, n.bias, DType::I32, &[rows])?;
    frac(&bias, n.bias, PRE_FRAC as i32, PRE_FRAC as i32)?;
    let shifts = shift.i8s()?;
    for (row, &s) in shifts.iter().enumerate() {
        if s < 0 || s as u32 > MAX_SHIFT {
            return Err(RuntimeError::BadShift {
                name: n.shift,
                row: row as u32,
                shift: s,
            });
        }
    }
    let (ws, mults, biases) = (w.i8s()?, mult.i32s()?, bias.i32s()?);
    // Prove every row's result fits PRE_MAX, so the step can add without saturating.
    let rows_iter = ws
        .chunks_exact((cols as usize).max(1))
        .zip(mults)
        .zip(shifts)
        .zip(biases);
    for (row, (((wr, &m), &s), &b)) in rows_iter.enumerate() {
        let l1: u64 = wr.iter().map(|&q| u64::from(q.unsigned_abs())).sum();
        if requantize_bound(l1, m, s as u32) + u64::from(b.unsigned_abs()) > PRE_MAX {
            return Err(RuntimeError::OutOfRange {
                name: n.weight,
                row: row as u32,
            });
        }
    }
    Ok(Dense {
        w: ws,
        mult: mults,
        shift: shifts,
        bias: biases,
        cols: cols as usize,
    })
}

impl<'a, const H: usize, const V: usize, const L: usize> IntModel<'a, H, V, L> {
    /// Validates `model` against the INT8 tensor table and the capacities.
    pub fn new(model: &Model<'a>) -> Result<Self, RuntimeError> {
        let hy = model.hyper();
        if hy.weights != WeightsKind::Int8 {
            return Err(RuntimeError::NotQuantized);
        }
        if hy.hidden_dim as usize > H {
            return Err(RuntimeError::HiddenCapacity {
                hidden: hy.hidden_dim,
                capacity: H,
            });
        }
        if hy.hidden_dim as usize > MAX_COLS {
            return Err(RuntimeError::HiddenTooWide {
                hidden: hy.hidden_dim,
            });
        }
        if hy.vocab_size as usize > V {
            return Err(RuntimeError::VocabCapacity {
                vocab: hy.vocab_size,
                capacity: V,
            });
        }
        if hy.num_layers as usize > L {
            return Err(RuntimeError::LayerCapacity {
                layers: hy.num_layers,
                capacity: L,
            });
        }
        let (v, h) = (hy.vocab_size, hy.hidden_dim);
        let g = 3 * h; // h <= 512
        let tname = TensorName::new(names::INPUT_TABLE);
        let table = tensor(model, tname, DType::I16, &[v, g])?;
        let tf = frac(&table, tname, 0, PRE_FRAC as i32)?;
        let table_shift = PRE_FRAC - tf as u32;
        let entries = table.i16s()?;
        for (i, &e) in entries.iter().enumerate() {
            if u64::from(e.unsigned_abs()) << table_shift > PRE_MAX {
                return Err(RuntimeError::OutOfRange {
                    name: tname,
                    row: i as u32,
                });
            }
        }
        let mut layer = [Layer {
            ih: Dense::EMPTY,
            hh: Dense::EMPTY,
        }; L];
        for (k, slot) in layer.iter_mut().enumerate().take(hy.num_layers as usize) {
            let k = k as u32;
            if k > 0 {
                slot.ih = dense(model, names::ih(k), g, h)?;
            }
            slot.hh = dense(model, names::hh(k), g, h)?;
        }
        let proj = dense(model, names::proj(), v, h)?;
        Ok(IntModel {
            vocab: model.vocab(),
            vocab_size: v as usize,
            hidden: h as usize,
            layers: hy.num_layers as usize,
            records: hy.records,
            table: entries,
            table_shift,
            layer,
            proj,
        })
    }

    /// The vocabulary (ids to characters and back).
    pub fn vocab(&self) -> Vocab<'a> {
        self.vocab
    }

    /// `vocab_size`, including the three special tokens.
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

    /// Feeds `token` and returns the Q16 logits of the next token (`vocab_size` entries).
    ///
    /// PyTorch's GRU exactly, per layer: `r = σ(W_ir x + b_ir + W_hr h + b_hr)`,
    /// `z = σ(W_iz x + b_iz + W_hz h + b_hz)`, `n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))`,
    /// `h' = (1 − z) ⊙ n + z ⊙ h`; layer 0's `W_i· x + b_i·` is a row of the token table.
    pub fn step<'s>(
        &self,
        state: &mut State<H, L>,
        scratch: &'s mut Scratch<H, V>,
        token: u32,
    ) -> Result<&'s [i32], RuntimeError> {
        let t = token as usize;
        if t >= self.vocab_size {
            return Err(RuntimeError::TokenOutOfRange {
                token,
                vocab: self.vocab_size as u32,
            });
        }
        let hd = self.hidden;
        let g = 3 * hd;
        let row = self.table.get(t * g..(t + 1) * g).unwrap_or(&[]);
        let sh = self.table_shift;
        let Scratch {
            h_new,
            gi,
            gh,
            logits,
            ..
        } = scratch;
        for k in 0..self.layers {
            let (below, rest) = state.h.split_at_mut(k);
            let Some(h) = rest.first_mut() else { break };
            let Some(layer) = self.layer.get(k) else {
                break;
            };
            // Input products: a table row for layer 0, a matrix product above.
            match below.last() {
                None => {
                    for (gate, out) in gi.iter_mut().enumerate() {
                        let src = row.get(gate * hd..(gate + 1) * hd).unwrap_or(&[]);
                        for (o, &v) in out[..hd].iter_mut().zip(src) {
                            *o = i32::from(v) << sh;
                        }
                    }
                }
                Some(x) => {
                    for (gate, out) in gi.iter_mut().enumerate() {
                        layer.ih.matvec(&x[..hd], gate * hd, &mut out[..hd]);
                    }
                }
            }
            for (gate, out) in gh.iter_mut().enumerate() {
                layer.hh.matvec(&h[..hd], gate * hd, &mut out[..hd]);
            }
            let [gi_r, gi_z, gi_n] = &*gi;
            let [gh_r, gh_z, gh_n] = &*gh;
            let units = h_new[..hd]
                .iter_mut()
                .zip(&h[..hd])
                .zip(gi_r.iter().zip(gh_r))
                .zip(gi_z.iter().zip(gh_z))
                .zip(gi_n.iter().zip(gh_n));
            for ((((out, &hp), (&ir, &hr)), (&iz, &hz)), (&inn, &hn)) in units {
                // Each term is at most PRE_MAX = 2^29 (proven at load): the sums fit.
                let r = sigmoid_q15(ir.wrapping_add(hr));
                let z = sigmoid_q15(iz.wrapping_add(hz));
                let n = tanh_q15(inn.wrapping_add(mul_q15(r, hn)), PRE_FRAC);
                *out = gru_blend(z, hp, n);
            }
            h[..hd].copy_from_slice(&h_new[..hd]);
        }
        let top = state
            .h
            .get(self.layers.wrapping_sub(1))
            .map_or(&[][..], |h| &h[..hd]);
        let logits = &mut logits[..self.vocab_size];
        self.proj.matvec(top, 0, logits);
        Ok(logits)
    }

    /// Resets `state` and feeds `<BOS>`, leaving the logits of a sequence's first character
    /// in `scratch`.
    pub fn start<'s>(&self, state: &mut State<H, L>, scratch: &'s mut Scratch<H, V>) -> &'s [i32] {
        state.reset();
        // BOS = 1 < vocab_size (>= 4): this step cannot fail.
        match self.step(state, scratch, BOS) {
            Ok(l) => l,
            Err(_) => &[],
        }
    }
}
