//! The measurement behind `runtime/QUANTIZATION.md`: candidate quantization schemes on a
//! float model, scored on a corpus split against the float reference.
//!
//! ```text
//! cargo run --release -p mynah-tools --example scheme_study -- FLOAT.mynah CORPUS [--chars N]
//! ```
//!
//! Simulated schemes (weights rounded to int8 and back, activations rounded to a grid, the
//! rest in f32) isolate one choice each; the last rows are the real integer runtime.
//! Prints a Markdown table: nats/char, relative gap, mean KL(float ‖ scheme), top-1
//! agreement.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use mynah_format::{AlignedBytes, MappedModel};
use mynah_text::{Corpus, Mode, Split, UnkPolicy, Vocab};
use mynah_tools::engine::{
    compare, EngineError, FloatRunner, HostIntModel, IntRunner, LanguageModel,
};
use mynah_tools::quantize::{calibration_streams, quantize, QuantizeOptions};
use mynah_tools::reference::{FloatGru, FloatState, Matrix};

/// How weights are rounded.
#[derive(Clone, Copy)]
enum Weights {
    PerRow,
    PerTensor,
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
    }
    out
}

/// A float GRU whose stored hidden state (hence the recurrent and projection inputs) is rounded to
/// `levels` steps per unit (0: not rounded).
struct Simulated {
    gru: FloatGru,
    levels: f32,
    state: FloatState,
    logits: Vec<f32>,
    out: Vec<f64>,
}

impl Simulated {
    fn new(float: &FloatGru, w: Weights, levels: f32) -> Self {
        let mut gru = float.clone();
        for l in &mut gru.layers {
            l.w_hh = round_weights(&l.w_hh, w);
            l.w_ih = round_weights(&l.w_ih, w);
        }
        gru.proj_w = round_weights(&gru.proj_w, w);
        let state = gru.zero_state();
        let v = gru.vocab_size;
        Simulated {
            gru,
            levels,
            state,
            logits: vec![0.0; v],
            out: vec![0.0; v],
        }
    }

    fn q(&self, v: &mut [f32]) {
        if self.levels > 0.0 {
            let l = self.levels;
            v.iter_mut()
                .for_each(|x| *x = ((*x * l).round() / l).clamp(-1.0, 1.0));
        }
    }
}

impl LanguageModel for Simulated {
    fn reset(&mut self) {
        self.state = self.gru.zero_state();
    }

    fn step(&mut self, token: u32) -> Result<&[f64], EngineError> {
        // The state is stored rounded, as an integer runtime would hold it.
        let mut st = std::mem::take(&mut self.state);
        self.gru.step(&mut st, token, &mut self.logits)?;
        for h in &mut st {
            self.q(h);
        }
        if self.levels > 0.0 {
            // Recompute the projection from the rounded top state.
            let top = st.last().cloned().unwrap_or_default();
            self.gru
                .proj_w
                .matvec_into(&top, &self.gru.proj_b, &mut self.logits);
        }
        self.state = st;
        for (o, &l) in self.out.iter_mut().zip(&self.logits) {
            *o = f64::from(l);
        }
        Ok(&self.out)
    }

    fn vocab_size(&self) -> usize {
        self.gru.vocab_size
    }
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
    let float = FloatGru::from_model(&model)?;
    let mode = if model.hyper().records {
        Mode::Lines
    } else {
        Mode::Text
    };
    let corpus = Corpus::load(&PathBuf::from(&args[1]), mode)?;
    let vocab = Vocab::from_chars(model.vocab().chars().collect())?;
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
    report(
        "int8 per-tensor weights, f32 activations",
        &mut Simulated::new(&float, Weights::PerTensor, 0.0),
    )?;
    report(
        "int8 per-row weights, f32 activations",
        &mut Simulated::new(&float, Weights::PerRow, 0.0),
    )?;
    report(
        "int8 per-row weights, int8 activations (Q7)",
        &mut Simulated::new(&float, Weights::PerRow, 127.0),
    )?;
    report(
        "int8 per-row weights, int16 activations (Q15)",
        &mut Simulated::new(&float, Weights::PerRow, 32768.0),
    )?;
    for (name, bc) in [
        ("integer runtime, no bias correction", false),
        ("integer runtime (mynah's scheme)", true),
    ] {
        let bytes = quantize(
            &model,
            &calib,
            &QuantizeOptions {
                bias_correction: bc,
            },
        )?;
        let aligned = AlignedBytes::copy_from(&bytes);
        let m = aligned.model()?;
        let int = HostIntModel::new(&m)?;
        report(name, &mut IntRunner::new(&int))?;
    }
    Ok(())
}
