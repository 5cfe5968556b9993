//! The quantization and footprint part of `mynah inspect`.

use std::io::{self, Write};

use mynah_format::{Arch, Hyper, Model, WeightsKind};
use mynah_runtime::{names, Footprint};

/// The firmware code sizes `make size-all` measured (`docs/measurements/code-size.tsv`, one
/// line per architecture: `arch`, `target`, `code_bytes`), embedded when `mynah` is built.
const CODE_SIZES: &str = include_str!("../../docs/measurements/code-size.tsv");

/// The measured code and constants (without the model) of the Cortex-M4 firmware for a
/// model of `arch`, and the target it was measured on.
pub fn measured_code_bytes(arch: Arch) -> Option<(usize, &'static str)> {
    CODE_SIZES
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some((f.next()?, f.next()?, f.next()?.trim().parse().ok()?))
        })
        .find(|&(a, _, _)| a == arch.name())
        .map(|(_, target, bytes)| (bytes, target))
}

/// "~N bytes code and tables (measured on TARGET by make size)", or why there is no figure.
fn code_note(arch: Arch) -> String {
    match measured_code_bytes(arch) {
        Some((bytes, target)) => format!(
            "{bytes} bytes code and tables (a {} firmware on {target}, measured by `make size-all`)",
            arch.name()
        ),
        None => format!("code not measured for {} (run `make size-all`)", arch.name()),
    }
}

fn range<T: Copy + PartialOrd>(v: impl Iterator<Item = T>) -> Option<(T, T)> {
    v.fold(None, |acc, x| match acc {
        None => Some((x, x)),
        Some((lo, hi)) => Some((if x < lo { x } else { lo }, if x > hi { x } else { hi })),
    })
}

/// One int8 or int4 matrix: its row scales (from multiplier and shift) and bias range.
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

/// The exact size of the INT8 file `--dtype int8` writes for a model like `model`: the
/// writer's own layout over the INT8 tensor table.
pub fn int8_file_size(model: &Model<'_>) -> Option<usize> {
    quantized_file_size(model, WeightsKind::Int8, false)
}

/// The exact size of the file `--dtype int8|int4 [--factored]` writes for a model like
/// `model`: the writer's own layout over that tensor table.
pub fn quantized_file_size(
    model: &Model<'_>,
    weights: WeightsKind,
    factored: bool,
) -> Option<usize> {
    let hyper = Hyper {
        weights,
        factored,
        ..model.hyper()
    };
    mynah_format::file_size(&hyper, model.vocab().as_str().len()).ok()
}

/// How layer 0 gets its input product, for `mynah inspect`.
pub fn input_layer(h: &Hyper) -> &'static str {
    match (h.arch, h.weights.is_quantized(), h.factored) {
        (Arch::Ngram { .. }, false, _) => "embedding (embed.weight) -> hidden layer",
        (Arch::Ngram { .. }, true, _) => "position-and-token table (ngram.input_table)",
        (Arch::Recurrent(_), false, _) => "embedding (embed.weight) -> layer 0",
        (Arch::Recurrent(_), true, false) => "token table (rnn.input_table)",
        (Arch::Recurrent(_), true, true) => {
            "factored: i8 embedding (rnn.embed) x layer 0's input matrix (rnn.weight_ih_l0)"
        }
    }
}

/// The embedding of a factored file: its scale and range.
fn embedding(out: &mut dyn Write, model: &Model<'_>) -> io::Result<()> {
    let Some(t) = model.tensor(names::EMBED) else {
        return Ok(());
    };
    let max = t
        .i8s()
        .map(|e| e.iter().map(|&x| x.unsigned_abs()).max().unwrap_or(0))
        .unwrap_or(0);
    writeln!(
        out,
        "  {:<18} i8 embedding, frac_bits {} (step {:.2e}), |entry| <= {:.3}",
        t.name(),
        t.frac_bits(),
        2f64.powi(-t.frac_bits()),
        f64::from(max) * 2f64.powi(-t.frac_bits())
    )
}

/// Writes the quantization parameters (INT8 and INT4 files) and the estimated footprint
/// on a microcontroller running the integer runtime.
pub fn write_quantization(out: &mut dyn Write, model: &Model<'_>) -> io::Result<()> {
    let h = model.hyper();
    let fp = Footprint::of_hyper(&h);
    if h.weights.is_quantized() {
        let wd = h.weights.weight_dtype().map_or("?", |d| d.name());
        writeln!(out, "quantization (runtime/QUANTIZATION.md)")?;
        writeln!(out, "  activations Q15 in i16; pre-activations and logits Q16 in i32; weights {wd}, one scale per row")?;
        if let Some(t) = model
            .tensor(names::INPUT_TABLE)
            .or_else(|| model.tensor(names::NGRAM_TABLE))
        {
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
        if let Some(e) = model.tensor(names::NGRAM_HIDDEN_EXP) {
            let exp = e.i8s().ok().and_then(|v| v.first().copied()).unwrap_or(0);
            writeln!(
                out,
                "  {:<18} hidden activations are Q15 of value / 2^{exp}",
                e.name()
            )?;
        }
        embedding(out, model)?;
        for k in 0..h.num_layers {
            if k > 0 || h.factored {
                dense(out, model, names::ih(k))?;
            }
            if h.arch.cell().is_some() {
                dense(out, model, names::hh(k))?;
            }
        }
        dense(out, model, names::proj())?;
        writeln!(out, "footprint (integer runtime)")?;
        writeln!(
            out,
            "  flash  {} bytes model (read in place) + {}",
            model.file_size(),
            code_note(h.arch)
        )?;
    } else {
        writeln!(
            out,
            "footprint after `mynah-train export --dtype int8` (integer runtime)"
        )?;
        let size = |w, f| quantized_file_size(model, w, f).map_or("?".into(), |n| n.to_string());
        writeln!(
            out,
            "  flash  {} bytes model (the INT8 file) + {}",
            size(WeightsKind::Int8, false),
            code_note(h.arch)
        )?;
        let (int4, int4_note) = (size(WeightsKind::Int4, false), "--dtype int4");
        if h.arch.cell().is_some() {
            writeln!(
                out,
                "         other exports: {int4} bytes ({int4_note}), {} (--dtype int8 --factored), {} (--dtype int4 --factored)",
                size(WeightsKind::Int8, true),
                size(WeightsKind::Int4, true)
            )?;
        } else {
            writeln!(out, "         other exports: {int4} bytes ({int4_note})")?;
        }
    }
    writeln!(
        out,
        "  RAM    {} bytes state + {} bytes scratch = {} bytes (runtime::Footprint)",
        fp.state_bytes,
        fp.scratch_bytes,
        fp.total()
    )
}
