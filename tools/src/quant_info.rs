//! The quantization and footprint part of `mynah inspect`.

use std::io::{self, Write};

use mynah_format::{Model, WeightsKind};
use mynah_runtime::{names, Footprint};

/// Code and tables of the runtime on a Cortex-M0 (thumbv6m, opt-level "s", LTO), measured
/// by `scripts/check-no-float.sh` (image minus the model it embeds).
pub const CODE_BYTES_THUMBV6M: usize = 21_500;

fn range<T: Copy + PartialOrd>(v: impl Iterator<Item = T>) -> Option<(T, T)> {
    v.fold(None, |acc, x| match acc {
        None => Some((x, x)),
        Some((lo, hi)) => Some((if x < lo { x } else { lo }, if x > hi { x } else { hi })),
    })
}

/// One int8 matrix: its row scales (from multiplier and shift) and bias range.
fn dense(out: &mut dyn Write, model: &Model<'_>, n: names::DenseNames) -> io::Result<()> {
    let (Some(w), Some(m), Some(s), Some(b)) = (
        model.tensor(n.weight.as_str()),
        model.tensor(n.mult.as_str()),
        model.tensor(n.shift.as_str()),
        model.tensor(n.bias.as_str()),
    ) else {
        return writeln!(out, "  {:<18} (incomplete)", n.weight.as_str());
    };
    let (Ok(m), Ok(s), Ok(b)) = (m.i32s(), s.i8s(), b.i32s()) else {
        return writeln!(out, "  {:<18} (unexpected dtypes)", n.weight.as_str());
    };
    // The real row scale: acc · mult · 2^-shift is Q16 for Q15 inputs, so scale = M / 2.
    let scales = m
        .iter()
        .zip(s)
        .map(|(&m, &s)| f64::from(m) * 2f64.powi(-i32::from(s)) / 2.0);
    let (lo, hi) = range(scales).unwrap_or((0.0, 0.0));
    let (slo, shi) = range(s.iter().copied()).unwrap_or((0, 0));
    let bmax = b.iter().map(|&v| f64::from(v).abs()).fold(0.0, f64::max) / 65536.0;
    writeln!(
        out,
        "  {:<18} {:>4} rows  scale {lo:.3e}..{hi:.3e}  shift {slo}..{shi}  |bias| <= {bmax:.3}",
        w.name(),
        w.shape().first().copied().unwrap_or(0),
    )
}

/// Rough INT8 file size of a model with these dimensions (what `--dtype int8` writes).
pub fn int8_file_estimate(v: usize, h: usize, layers: usize) -> usize {
    let g = 3 * h;
    let dense = |rows: usize, cols: usize| rows * cols + rows * 9 + 4 * 64;
    let mut n = 64 + 128 + v * 4 + v * g * 2 + 64;
    for k in 0..layers {
        n += dense(g, h) * if k == 0 { 1 } else { 2 };
    }
    n + dense(v, h) + 64 * (1 + 8 * layers + 4)
}

/// Writes the quantization parameters (INT8 files) and the estimated footprint on a
/// microcontroller running the integer runtime.
pub fn write_quantization(out: &mut dyn Write, model: &Model<'_>) -> io::Result<()> {
    let h = model.hyper();
    let (v, hd, l) = (
        h.vocab_size as usize,
        h.hidden_dim as usize,
        h.num_layers as usize,
    );
    let fp = Footprint::of(hd, v, l);
    if h.weights == WeightsKind::Int8 {
        writeln!(out, "quantization (runtime/QUANTIZATION.md)")?;
        writeln!(out, "  activations Q15 in i16; pre-activations and logits Q16 in i32; weights i8, one scale per row")?;
        if let Some(t) = model.tensor(names::INPUT_TABLE) {
            let max = t
                .i16s()
                .map(|e| e.iter().map(|&x| x.unsigned_abs()).max().unwrap_or(0))
                .unwrap_or(0);
            writeln!(
                out,
                "  {:<18} token table, frac_bits {} (step {:.2e}), |entry| <= {:.3}",
                t.name(),
                t.frac_bits(),
                2f64.powi(-t.frac_bits()),
                f64::from(max) * 2f64.powi(-t.frac_bits())
            )?;
        }
        for k in 0..h.num_layers {
            if k > 0 {
                dense(out, model, names::ih(k))?;
            }
            dense(out, model, names::hh(k))?;
        }
        dense(out, model, names::proj())?;
        writeln!(out, "footprint (integer runtime)")?;
        writeln!(
            out,
            "  flash  {} bytes model (read in place) + ~{} bytes code and tables (thumbv6m)",
            model.file_size(),
            CODE_BYTES_THUMBV6M
        )?;
    } else {
        writeln!(
            out,
            "footprint after `mynah-train export --dtype int8` (integer runtime)"
        )?;
        writeln!(
            out,
            "  flash  ~{} bytes model + ~{} bytes code and tables (thumbv6m)",
            int8_file_estimate(v, hd, l),
            CODE_BYTES_THUMBV6M
        )?;
    }
    writeln!(
        out,
        "  RAM    {} bytes state (2·H·L) + {} bytes scratch (26·H + 8·V) = {} bytes",
        fp.state_bytes,
        fp.scratch_bytes,
        fp.state_bytes + fp.scratch_bytes
    )
}
