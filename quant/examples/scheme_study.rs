//! The measurement behind `runtime/QUANTIZATION.md`: candidate quantization schemes on a
//! float model of any architecture, scored on a corpus split against the float reference.
//!
//! ```text
//! cargo run --release -p mynah-quant --example scheme_study -- FLOAT.mynah CORPUS [--chars N] [--int4]
//! ```
//!
//! With `--int4`, the int4 candidates instead: one scale per row (`max|w| / 7`, what INT4
//! files store), per group of 32 or 16 columns, per row with the scale that minimizes the
//! squared error (clipping the largest weights), and the real integer runtime (token table
//! and factored).
//!
//! Simulated schemes (weights rounded to int8 and back, activations and the LSTM's cell
//! state rounded to a grid, the rest in f32) isolate one choice each; the last rows are the
//! real integer runtime. Prints a Markdown table: nats/char, relative gap, mean
//! KL(float ‖ scheme), top-1 agreement; for an LSTM also the largest |cell state| seen.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use mynah_format::{AlignedBytes, Cell, MappedModel};
use mynah_quant::engine::{
    compare, file_vocab, EngineError, FloatRunner, HostModel, IntRunner, LanguageModel,
};
use mynah_quant::quantize::{calibration_streams, quantize, QuantDtype, QuantizeOptions};
use mynah_quant::reference::{Body, FloatModel, FloatState, Matrix};
use mynah_text::{Corpus, Split, UnkPolicy};

/// How weights are rounded.
#[derive(Clone, Copy)]
enum Weights {
    PerRow,
    PerTensor,
    /// int4 (±7), one scale per `group` columns of a row (a whole row if larger); with
    /// `mse`, the scale in [0.5, 1] × `max / 7` with the least squared error.
    Int4 {
        group: usize,
        mse: bool,
    },
}

/// `v` rounded to `levels` steps of the scale `max / levels`, or, with `mse`, of the scale
/// (among 64 candidates down to half of it) whose rounding has the least squared error.
fn round_group(v: &mut [f32], levels: f64, mse: bool) {
    let max = v.iter().fold(0f64, |a, &x| a.max(f64::from(x).abs()));
    if max == 0.0 {
        return;
    }
    let err = |s: f64| -> f64 {
        v.iter()
            .map(|&x| {
                let x = f64::from(x);
                let q = (x / s).round().clamp(-levels, levels) * s;
                (x - q) * (x - q)
            })
            .sum()
    };
    let mut best = max / levels;
    if mse {
        let mut best_err = err(best);
        for k in 1..64 {
            let s = max / levels * (1.0 - f64::from(k) / 128.0);
            let e = err(s);
            if e < best_err {
                (best, best_err) = (s, e);
            }
        }
    }
    for x in v.iter_mut() {
        *x = ((f64::from(*x) / best).round().clamp(-levels, levels) * best) as f32;
    }
}

fn round_weights(m: &Matrix, how: Weights) -> Matrix {
    let q = |v: f32, s: f64| {
        if s == 0.0 {
            0.0
        } else {
            ((f64::from(v) / s).round().clamp(-127.0, 127.0) * s) as f32
        }
    };
    let mut out = m.clone();
    match how {
        Weights::PerTensor => {
            let s = m.data.iter().fold(0f64, |a, &v| a.max(f64::from(v).abs())) / 127.0;
            out.data.iter_mut().for_each(|v| *v = q(*v, s));
        }
        Weights::PerRow => {
            for i in 0..m.rows {
                let row = &mut out.data[i * m.cols..(i + 1) * m.cols];
                let s = row.iter().fold(0f64, |a, &v| a.max(f64::from(v).abs())) / 127.0;
                row.iter_mut().for_each(|v| *v = q(*v, s));
            }
        }
        Weights::Int4 { group, mse } => {
            for row in out.data.chunks_mut(m.cols.max(1)) {
                for g in row.chunks_mut(group.max(1)) {
                    round_group(g, 7.0, mse);
                }
            }
        }
    }
    out
}

/// A fixed-point grid: `frac` fractional bits, values clamped to `±max`.
#[derive(Clone, Copy)]
struct Grid {
    frac: i32,
    max: f32,
}

impl Grid {
    fn round(self, v: &mut [f32]) {
        let l = 2f32.powi(self.frac);
        v.iter_mut()
            .for_each(|x| *x = ((*x * l).round() / l).clamp(-self.max, self.max));
    }
}

/// A float model whose weights are rounded (`Weights`), and whose stored hidden state (hence
/// the recurrent and projection inputs) and LSTM cell state are rounded to grids.
struct Simulated {
    model: FloatModel,
    hidden: Option<Grid>,
    cell: Option<Grid>,
    state: FloatState,
    logits: Vec<f32>,
    out: Vec<f64>,
}

impl Simulated {
    fn new(float: &FloatModel, w: Weights, hidden: Option<Grid>, cell: Option<Grid>) -> Self {
        let mut model = float.clone();
        match &mut model.body {
            Body::Recurrent(layers) => {
                for (k, l) in layers.iter_mut().enumerate() {
                    l.w_hh = round_weights(&l.w_hh, w);
                    // The int4 runtime keeps layer 0's input product exact (the table).
                    if k > 0 || !matches!(w, Weights::Int4 { .. }) {
                        l.w_ih = round_weights(&l.w_ih, w);
                    }
                }
            }
            Body::Ngram { w: hw, .. } => *hw = round_weights(hw, w),
        }
        model.proj_w = round_weights(&model.proj_w, w);
        let state = model.zero_state();
        let v = model.vocab_size();
        Simulated {
            model,
            hidden,
            cell,
            state,
            logits: vec![0.0; v],
            out: vec![0.0; v],
        }
    }
}

impl LanguageModel for Simulated {
    fn reset(&mut self) {
        self.state = self.model.zero_state();
    }

    fn step(&mut self, token: u32) -> Result<&[f64], EngineError> {
        self.model.step(&mut self.state, token, &mut self.logits)?;
        // The state is stored rounded, as an integer runtime would hold it.
        if let FloatState::Recurrent { h, c } = &mut self.state {
            if let Some(g) = self.hidden {
                h.iter_mut().for_each(|v| g.round(v));
                // Recompute the projection from the rounded top state.
                let top = h.last().cloned().unwrap_or_default();
                self.model
                    .proj_w
                    .matvec_into(&top, &self.model.proj_b, &mut self.logits);
            }
            if let Some(g) = self.cell {
                c.iter_mut().for_each(|v| g.round(v));
            }
        }
        for (o, &l) in self.out.iter_mut().zip(&self.logits) {
            *o = f64::from(l);
        }
        Ok(&self.out)
    }

    fn vocab_size(&self) -> usize {
        self.model.vocab_size()
    }
}

/// The largest |cell state| of an LSTM over the sequences (0 for other models).
fn max_cell(float: &FloatModel, seqs: &[Vec<u32>]) -> Result<f32> {
    let mut max = 0f32;
    let mut logits = vec![0f32; float.vocab_size()];
    for seq in seqs {
        let mut st = float.zero_state();
        for &t in seq {
            float.step(&mut st, t, &mut logits)?;
            if let FloatState::Recurrent { c, .. } = &st {
                max = c.iter().flatten().fold(max, |m, v| m.max(v.abs()));
            }
        }
    }
    Ok(max)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        bail!("usage: scheme_study FLOAT.mynah CORPUS [--chars N]");
    }
    let chars: usize = match args.iter().position(|a| a == "--chars") {
        Some(i) => args.get(i + 1).context("--chars N")?.parse()?,
        None => usize::MAX,
    };
    let mapped = MappedModel::open(&PathBuf::from(&args[0]))?;
    let model = mapped.model();
    let float = FloatModel::from_model(&model)?;
    let mode = if model.hyper().records {
        mynah_text::Mode::Lines
    } else {
        mynah_text::Mode::Text
    };
    let corpus = Corpus::load(&PathBuf::from(&args[1]), mode)?;
    let vocab = file_vocab(&model)?;
    let mut seqs = corpus
        .part(Split::Val)
        .eval_sequences(&vocab, UnkPolicy::Skip)?;
    let mut left = chars;
    seqs.retain_mut(|s| {
        let keep = left > 0;
        s.truncate(left.saturating_add(1));
        left = left.saturating_sub(s.len().saturating_sub(1));
        keep
    });
    let calib = calibration_streams(&corpus, &vocab, 100_000)?;

    println!("| scheme | nats/char | gap | mean KL | top-1 |");
    println!("|---|---:|---:|---:|---:|");
    let report = |name: &str, lm: &mut dyn LanguageModel| -> Result<()> {
        let mut reference = FloatRunner::new(float.clone());
        let a = compare(&mut reference, lm, &seqs)?;
        println!(
            "| {name} | {:.4} | {:+.3}% | {:.2e} | {:.4} |",
            a.b.nats_per_char(),
            100.0 * a.loss_gap(),
            a.mean_kl,
            a.top1
        );
        Ok(())
    };
    report("f32 reference", &mut FloatRunner::new(float.clone()))?;
    let q = |frac, max| Some(Grid { frac, max });
    if args.iter().any(|a| a == "--int4") {
        for (name, group, mse) in [
            ("int4 per-row (max/7), Q15 activations", usize::MAX, false),
            ("int4 per group of 32, Q15 activations", 32, false),
            ("int4 per group of 16, Q15 activations", 16, false),
            (
                "int4 per-row, least-squares scale, Q15 activations",
                usize::MAX,
                true,
            ),
        ] {
            let w = Weights::Int4 { group, mse };
            report(name, &mut Simulated::new(&float, w, q(15, 1.0), None))?;
        }
        for (name, factored) in [
            ("integer runtime, int4, token table", false),
            ("integer runtime, int4, factored", true),
        ] {
            let opts = QuantizeOptions {
                dtype: QuantDtype::Int4,
                factored,
                ..QuantizeOptions::default()
            };
            let bytes = quantize(&model, &calib, &opts)?;
            let aligned = AlignedBytes::copy_from(&bytes);
            let m = aligned.model()?;
            let int = HostModel::new(&m)?;
            report(name, &mut IntRunner::new(&int))?;
        }
        return Ok(());
    }
    report(
        "int8 per-tensor weights, f32 activations",
        &mut Simulated::new(&float, Weights::PerTensor, None, None),
    )?;
    report(
        "int8 per-row weights, f32 activations",
        &mut Simulated::new(&float, Weights::PerRow, None, None),
    )?;
    report(
        "int8 per-row weights, int8 activations (Q7)",
        &mut Simulated::new(&float, Weights::PerRow, q(7, 1.0), None),
    )?;
    report(
        "int8 per-row weights, int16 activations (Q15)",
        &mut Simulated::new(&float, Weights::PerRow, q(15, 1.0), None),
    )?;
    if model.hyper().arch.cell() == Some(Cell::Lstm) {
        println!(
            "\nlargest |cell state| on this text: {:.3}\n",
            max_cell(&float, &seqs)?
        );
        // int16 cell states at the scales TFLite Micro picks from a calibrated range (Q3.12
        // holds ±8, Q4.11 ±16), against mynah's int32 Q16.
        for (name, frac, max) in [
            ("Q15 activations, int16 cell state Q2.13 (±4)", 13, 4.0),
            ("Q15 activations, int16 cell state Q3.12 (±8)", 12, 8.0),
            ("Q15 activations, int16 cell state Q4.11 (±16)", 11, 16.0),
            (
                "Q15 activations, int32 cell state Q16 (±32768)",
                16,
                32768.0,
            ),
        ] {
            report(
                name,
                &mut Simulated::new(&float, Weights::PerRow, q(15, 1.0), q(frac, max)),
            )?;
        }
    }
    for (name, bc) in [
        ("integer runtime, no bias correction", false),
        ("integer runtime (mynah's scheme)", true),
    ] {
        let bytes = quantize(
            &model,
            &calib,
            &QuantizeOptions {
                bias_correction: bc,
                ..QuantizeOptions::default()
            },
        )?;
        let aligned = AlignedBytes::copy_from(&bytes);
        let m = aligned.model()?;
        let int = HostModel::new(&m)?;
        report(name, &mut IntRunner::new(&int))?;
    }
    Ok(())
}
