//! Every architecture end to end: GRU, LSTM and RNN cells and the n-gram MLP train (the loss
//! falls), resume bit-exactly, export to f32 files that the float reference (mynah-quant)
//! scores like `mynah-train eval`, export to int8, and sample the same text as the float
//! reference with the same seed.

mod common;

use common::*;
use mynah_format::{AlignedBytes, WeightsKind};
use mynah_quant::engine::{score, FloatRunner};
use mynah_quant::reference::FloatModel;
use mynah_quant::sampling::{parse_temperature, Sampler};
use mynah_runtime::{Next, Pcg32, SampleOptions};
use mynah_text::{Corpus, ModeKind, Split, UnkPolicy};
use std::path::Path;

/// One architecture and how it is trained.
struct Case {
    /// The `arch` metadata key it must get.
    arch: &'static str,
    mode: &'static str,
    flags: &'static [&'static str],
}

fn corpus_text(mode: &str) -> String {
    match mode {
        "lines" => fixture(6000).lines().map(|l| format!("{l}\n")).collect(),
        _ => fixture(6000),
    }
}

/// `train` of `case` for `steps` steps, validating every 10.
fn train_args(case: &Case, corpus: &Path, out: &Path) -> Vec<String> {
    let mut flags = vec![
        "--mode",
        case.mode,
        "--embed",
        "8",
        "--hidden",
        "32",
        "--seq-len",
        "24",
        "--batch",
        "8",
        "--lr",
        "0.01",
        "--warmup",
        "4",
        "--steps",
        "40",
        "--eval-every",
        "10",
        "--log-every",
        "5",
        "--sample-every",
        "20",
    ];
    flags.extend(case.flags);
    train_argv(corpus, out, &flags)
}

/// Mean training losses of the metrics rows.
fn train_losses(run: &Path) -> Vec<f64> {
    std::fs::read_to_string(run.join("metrics.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(1)?.parse().ok())
        .collect()
}

fn check(case: &Case) {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let corpus = write(d, "c.txt", corpus_text(case.mode).as_bytes());
    let straight = d.join("straight");
    let stdout = ok(&strs(&train_args(case, &corpus, &straight)));
    assert!(stdout.contains("--- sample at step 20"), "{stdout}");
    let losses = train_losses(&straight);
    assert!(
        losses[losses.len() - 1] < losses[0] - 0.4,
        "{}: the loss does not fall: {losses:?}",
        case.arch
    );

    // Stopped and resumed: bit-identical checkpoints and metrics.
    let split = d.join("split");
    let mut a = train_args(case, &corpus, &split);
    a.extend(["--stop-at".into(), "20".into()]);
    ok(&strs(&a));
    ok(&["train", "--resume", p(&split)]);
    assert_same_runs(&straight, &split);

    check_exports(case, d, &straight, &corpus);
}

/// f32 (scored by the float reference), safetensors, int8, and sampling.
fn check_exports(case: &Case, d: &Path, run: &Path, corpus: &Path) {
    let ours = nats_per_char(&ok(&["eval", p(run), "--json"]));
    let (f32_file, st, int8) = (
        d.join("m.mynah"),
        d.join("m.safetensors"),
        d.join("q.mynah"),
    );
    ok(&[
        "export",
        p(run),
        "-o",
        p(&f32_file),
        "--safetensors",
        p(&st),
    ]);

    let bytes = AlignedBytes::copy_from(&std::fs::read(&f32_file).unwrap());
    let file = bytes.model().unwrap();
    assert_eq!(file.hyper().arch.name(), case.arch);
    let reference = FloatModel::from_model(&file).unwrap();
    let mode: ModeKind = case.mode.parse().unwrap();
    let seqs = Corpus::load(corpus, mode.with(0, false))
        .unwrap()
        .part(Split::Val)
        .eval_sequences(&reference.vocab, UnkPolicy::Error)
        .unwrap();
    let theirs = score(&mut FloatRunner::new(reference.clone()), &seqs)
        .unwrap()
        .nats_per_char();
    assert!(
        (ours - theirs).abs() <= 1e-4 * ours,
        "{}: mynah-train eval {ours} vs the float reference {theirs}",
        case.arch
    );

    // The safetensors export reads back with its architecture and scores the same.
    let (tensors, meta) = read_st(&st);
    assert_eq!(meta["arch"], case.arch);
    let tokens: Vec<String> = serde_json::from_str(&meta["vocab"]).unwrap();
    assert_eq!(tokens.len(), tensors["embed.weight"].0[0]);
    let again = nats_per_char(&ok(&["eval", p(&st), "--corpus", p(corpus), "--json"]));
    assert_eq!(again, ours);

    let stdout = ok(&["export", p(run), "-o", p(&int8), "--dtype", "int8"]);
    assert!(stdout.contains("int8 vs float"), "{stdout}");
    let bytes = AlignedBytes::copy_from(&std::fs::read(&int8).unwrap());
    let h = bytes.model().unwrap().hyper();
    assert_eq!((h.weights, h.arch), (WeightsKind::Int8, file.hyper().arch));

    for (seed, temperature, top_k) in [(7u64, "0.8", 0u32), (11, "1.5", 3), (3, "0", 0)] {
        let got = ok(&[
            "sample",
            p(run),
            "--seed",
            &seed.to_string(),
            "--temperature",
            temperature,
            "--top-k",
            &top_k.to_string(),
            "--prompt",
            "the ",
            "--max-chars",
            "80",
        ]);
        let mut opts = SampleOptions::new(
            parse_temperature(temperature).unwrap(),
            &file.vocab(),
            file.hyper().records,
        );
        opts.top_k = top_k;
        let want = float_sample(&reference, &opts, seed, "the ", 80);
        assert_eq!(got, format!("{want}\n"), "{}: seed {seed}", case.arch);
    }
}

/// What the float reference samples from the exported file.
fn float_sample(
    model: &FloatModel,
    opts: &SampleOptions,
    seed: u64,
    prompt: &str,
    n: usize,
) -> String {
    let mut sampler = Sampler::float(model.clone());
    sampler.prime(prompt).unwrap();
    let mut rng = Pcg32::new(seed);
    let mut text = prompt.to_owned();
    for _ in 0..n {
        match sampler.next(opts, &mut rng).unwrap() {
            Next::Char(c) => text.push(c),
            Next::Eos => break,
        }
    }
    text
}

#[test]
fn gru_trains_resumes_exports_and_samples() {
    check(&Case {
        arch: "gru",
        mode: "text",
        flags: &["--cell", "gru"],
    });
}

#[test]
fn lstm_with_two_layers_and_dropout_trains_resumes_exports_and_samples() {
    check(&Case {
        arch: "lstm",
        mode: "text",
        flags: &["--cell", "lstm", "--layers", "2", "--dropout", "0.1"],
    });
}

#[test]
fn rnn_on_records_trains_resumes_exports_and_samples() {
    check(&Case {
        arch: "rnn",
        mode: "lines",
        flags: &["--cell", "rnn"],
    });
}

#[test]
fn ngram_trains_resumes_exports_and_samples() {
    check(&Case {
        arch: "ngram",
        mode: "text",
        flags: &["--arch", "ngram", "--context", "4"],
    });
}

#[test]
fn tanh_ngram_on_records_trains_resumes_exports_and_samples() {
    check(&Case {
        arch: "ngram",
        mode: "lines",
        flags: &["--arch", "ngram", "--context", "3", "--activation", "tanh"],
    });
}
