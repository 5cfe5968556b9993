//! [`IntModel`]: a validated, zero-copy view of an INT8 file, and the GRU step.

use mynah_format::{DType, Model, Shape, TensorName, Vocab, WeightsKind, BOS};

#[cfg(any(test, not(mynah_dsp)))]
use crate::kernels::matvec_requant;
use crate::kernels::{
    gru_units, requantize_bound, QuantRows, Reordered, MAX_COLS, MAX_SHIFT, PRE_FRAC, PRE_MAX,
};
#[cfg(any(test, mynah_dsp))]
use crate::kernels::{matvec_acc, requantize_in_range};
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
    /// of length `cols`; `xp` holds `x` reordered ([`prepare`]) on targets whose kernel reads
    /// it. Identical results on every target.
    #[inline]
    fn matvec<const H: usize>(&self, x: &[i16], xp: &Reordered<H>, first: usize, out: &mut [i32]) {
        #[cfg(mynah_dsp)]
        {
            let _ = x;
            self.matvec_reordered(xp, first, out);
        }
        #[cfg(not(mynah_dsp))]
        {
            let _ = xp;
            self.matvec_rows(x, first, out);
        }
    }

    /// The rows `first..first + n` with their multipliers, shifts and biases.
    #[inline]
    fn rows(&self, first: usize, n: usize) -> QuantRows<'_> {
        let cols = self.cols.max(1);
        QuantRows {
            w: self.w.get(first * cols..(first + n) * cols).unwrap_or(&[]),
            cols: self.cols,
            mult: self.mult.get(first..first + n).unwrap_or(&[]),
            shift: self.shift.get(first..first + n).unwrap_or(&[]),
            bias: self.bias.get(first..first + n).unwrap_or(&[]),
        }
    }

    /// [`Dense::matvec`] with [`matvec_requant`]: row by row with
    /// [`dot_i8_i16`](crate::kernels::dot_i8_i16) (vectorized, `pmaddwd` on x86_64), eight
    /// rows at a time with AVX2.
    #[cfg(any(test, not(mynah_dsp)))]
    #[inline]
    fn matvec_rows(&self, x: &[i16], first: usize, out: &mut [i32]) {
        // In range by the load-time proof: no saturation needed.
        matvec_requant(self.rows(first, out.len()), x, out);
    }

    /// [`Dense::matvec`] with [`matvec_acc`] (rows four at a time, the `SMLAD` kernel on
    /// ARMv7E-M) against the reordered `xp`, then the requantization of every row.
    #[cfg(any(test, mynah_dsp))]
    #[inline]
    fn matvec_reordered<const H: usize>(&self, xp: &Reordered<H>, first: usize, out: &mut [i32]) {
        let QuantRows {
            w,
            mult,
            shift,
            bias,
            ..
        } = self.rows(first, out.len());
        matvec_acc(w, self.cols, xp, out);
        let rows = out.iter_mut().zip(mult).zip(shift).zip(bias);
        for (((o, &m), &s), &b) in rows {
            // In range by the load-time proof: no saturation needed.
            *o = requantize_in_range(*o, m, u32::from(s as u8)).wrapping_add(b);
        }
    }
}

/// Makes `xp` hold `x` in the order [`Dense::matvec`]'s kernel reads, once per matrix
/// product: reordered ([`Reordered::set`]) on ARMv7E-M, nothing elsewhere (the portable
/// kernel reads `x` itself).
#[inline]
fn prepare<const H: usize>(x: &[i16], xp: &mut Reordered<H>) {
    #[cfg(mynah_dsp)]
    xp.set(x);
    #[cfg(not(mynah_dsp))]
    let _ = (x, xp);
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

/// Working memory of a step, shareable between streams: a layer input reordered for the
/// matrix kernel, the Q16 gate products, the logits and the top-k selection buffer
/// (`26·H + 8·V` bytes, rounded up to a multiple of 4).
#[derive(Clone, Debug)]
pub struct Scratch<const H: usize, const V: usize> {
    /// The input of the current matrix product in the order of the ARMv7E-M `SMLAD`
    /// kernel. Other targets' kernel reads the input in place and leaves it unused: it is
    /// there on every target so that the footprint is the same everywhere.
    xp: Reordered<H>,
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
            xp: Reordered::new(),
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
    let (matrix, vector, q16) = ([rows, cols], [rows], PRE_FRAC as i32);
    // The four tensors checked in one loop: one copy of the error paths (flash is scarce
    // on the devices), and only slices kept (so is the stack during loading).
    let specs: [(&TensorName, DType, &[u32], i32); 4] = [
        (&n.weight, DType::I8, &matrix, 0),
        (&n.mult, DType::I32, &vector, 0),
        (&n.shift, DType::I8, &vector, 0),
        (&n.bias, DType::I32, &vector, q16),
    ];
    let (mut ws, mut shifts): (&[i8], &[i8]) = (&[], &[]);
    let (mut mults, mut biases): (&[i32], &[i32]) = (&[], &[]);
    for (i, &(&name, dtype, shape, fb)) in specs.iter().enumerate() {
        let t = tensor(model, name, dtype, shape)?;
        frac(&t, name, fb, fb)?;
        match i {
            0 => ws = t.i8s()?,
            1 => mults = t.i32s()?,
            2 => shifts = t.i8s()?,
            _ => biases = t.i32s()?,
        }
    }
    for (row, &s) in shifts.iter().enumerate() {
        if s < 0 || s as u32 > MAX_SHIFT {
            return Err(RuntimeError::BadShift {
                name: n.shift,
                row: row as u32,
                shift: s,
            });
        }
    }
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
            xp, gi, gh, logits, ..
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
                    prepare(&x[..hd], xp);
                    for (gate, out) in gi.iter_mut().enumerate() {
                        layer.ih.matvec(&x[..hd], xp, gate * hd, &mut out[..hd]);
                    }
                }
            }
            prepare(&h[..hd], xp);
            for (gate, out) in gh.iter_mut().enumerate() {
                layer.hh.matvec(&h[..hd], xp, gate * hd, &mut out[..hd]);
            }
            // In place: unit i reads only its own h[i], and the products above are done.
            gru_units(&mut h[..hd], gi, gh);
        }
        let top = state
            .h
            .get(self.layers.wrapping_sub(1))
            .map_or(&[][..], |h| &h[..hd]);
        let logits = &mut logits[..self.vocab_size];
        prepare(top, xp);
        self.proj.matvec(top, xp, 0, logits);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A `rows × cols` matrix with multipliers, shifts and biases from a seeded generator
    /// (values anywhere in their types' ranges; the products wrap alike on both paths).
    fn dense(rows: usize, cols: usize, seed: u64) -> (Vec<i8>, Vec<i32>, Vec<i8>, Vec<i32>) {
        let mut s = seed | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let w = (0..rows * cols).map(|_| next() as i8).collect();
        let m = (0..rows).map(|_| next() as i32).collect();
        let sh = (0..rows).map(|_| (next() % 63) as i8).collect();
        let b = (0..rows).map(|_| next() as i32).collect();
        (w, m, sh, b)
    }

    proptest::proptest! {
        /// Rows four at a time against the reordered vector (what ARMv7E-M runs; here with
        /// the kernel's portable model) give exactly what rows one at a time give: any row
        /// count, column tails, every starting row.
        #[test]
        fn matvec_reordered_matches_rows(
            rows in 1usize..40,
            cols in 1usize..=80,
            first_frac in 0usize..100,
            seed in proptest::num::u64::ANY,
        ) {
            const H: usize = 80;
            let (w, mult, shift, bias) = dense(rows, cols, seed);
            let d = Dense { w: &w, mult: &mult, shift: &shift, bias: &bias, cols };
            let x: Vec<i16> = (0..cols).map(|j| (seed.rotate_left(j as u32) as i16) | 1).collect();
            let mut xp = Reordered::<H>::new();
            xp.set(&x);
            let first = first_frac * rows / 100;
            let n = rows - first;
            let (mut want, mut got) = (vec![0; n], vec![0; n]);
            d.matvec_rows(&x, first, &mut want);
            d.matvec_reordered(&xp, first, &mut got);
            proptest::prop_assert_eq!(&got, &want);
            let mut via = vec![0; n];
            prepare(&x, &mut xp);
            d.matvec(&x, &xp, first, &mut via);
            proptest::prop_assert_eq!(via, want);
        }
    }
}
