//! The int8 runtime against the float model, on held-out text the models never trained on.
//!
//! The 1x128 GRU reference model on held-out Shakespeare (`tests/fixtures/shakespeare-heldout.txt`:
//! the last 20,000 bytes of tiny shakespeare, inside its validation split). Bounds: the int8
//! validation loss within 1% of libtorch's (measured: −0.01%); mean KL(float ‖ int8) of the
//! next-character distributions below 0.002 nats and top-1 agreement above 0.97 (measured:
//! 0.00023 nats and 0.99).
//!
//! Every other cell (LSTM of 1 and 2 layers, tanh RNN) and the n-gram MLP, trained here for
//! 300 steps on the synthetic corpus and exported to int8, held to the same bounds on a
//! synthetic corpus of another seed (measured: loss gaps of 0.04% or less, mean KL below
//! 3e-5 nats, top-1 agreement 0.996 or more).

use mynah_tests::{
    bin, json_number, number_after, relative_gap, run_ok, stdout_of, synthetic_corpus, train,
    workspace_root,
};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    workspace_root().join("tests/fixtures").join(name)
}

#[test]
fn int8_loss_is_within_one_percent_of_libtorch() {
    let heldout = fixture("shakespeare-heldout.txt");
    let float = stdout_of(
        Command::new(bin("mynah-train"))
            .arg("eval")
            .arg(fixture("shakespeare-1x128.safetensors"))
            .arg("--corpus")
            .arg(&heldout)
            .args([
                "--mode", "text", "--split", "all", "--json", "--device", "cpu",
            ]),
    );
    let int8 = stdout_of(
        Command::new(bin("mynah"))
            .arg("eval")
            .arg(fixture("shakespeare-1x128.int8.mynah"))
            .arg("--corpus")
            .arg(&heldout)
            .args(["--mode", "text", "--split", "all", "--json"]),
    );
    let (float, int8) = (
        json_number(&float, "nats_per_char"),
        json_number(&int8, "nats_per_char"),
    );
    let gap = (int8 - float).abs() / float;
    assert!(
        gap < 0.01,
        "int8 {int8} vs libtorch {float} nats/char: {:.3}% apart",
        gap * 100.0
    );
}

#[test]
fn int8_distributions_stay_close_to_the_float_model() {
    let dir = tempfile::tempdir().unwrap();
    let float = dir.path().join("float.mynah");
    run_ok(
        Command::new(bin("mynah-train"))
            .arg("export")
            .arg(fixture("shakespeare-1x128.safetensors"))
            .arg("-o")
            .arg(&float)
            .args(["--dtype", "f32"]),
    );
    // Calibrates on the first 90% of the held-out text and compares on the last 10%.
    let (kl, top1) = agreement(
        &float,
        &fixture("shakespeare-heldout.txt"),
        &dir.path().join("int8.mynah"),
        &[],
    );
    assert!(kl < 0.002, "mean KL {kl} nats");
    assert!(top1 > 0.97, "top-1 agreement {top1}");
}

/// `mynah quantize FLOAT --calib CORPUS --compare val`: (mean KL, top-1 agreement) of the
/// int8 model against the float one on the last 10% of `corpus`, calibrated on the rest.
fn agreement(float: &Path, corpus: &Path, out: &Path, extra: &[&str]) -> (f64, f64) {
    let report = run_ok(
        Command::new(bin("mynah"))
            .arg("quantize")
            .arg(float)
            .arg("-o")
            .arg(out)
            .arg("--calib")
            .arg(corpus)
            .args(["--compare", "val"])
            .args(extra),
    );
    let text = String::from_utf8_lossy(&report.stdout).into_owned()
        + &String::from_utf8_lossy(&report.stderr);
    (
        number_after(&text, "mean KL "),
        number_after(&text, "top-1 agreement "),
    )
}

/// A model of `flags` trained for 300 steps on one synthetic corpus and exported to int8
/// (calibrated on its training corpus) follows libtorch's float model on a synthetic
/// corpus of another seed within the GRU's bounds.
fn cell(name: &str, flags: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (corpus, heldout) = (d.join("corpus.txt"), d.join("heldout.txt"));
    std::fs::write(&corpus, synthetic_corpus(20_000, 5)).unwrap();
    std::fs::write(&heldout, synthetic_corpus(8_000, 99)).unwrap();
    let run = d.join("run");
    let mut all = vec![
        "--embed",
        "16",
        "--hidden",
        "64",
        "--steps",
        "300",
        "--seq-len",
        "64",
        "--batch",
        "32",
        "--lr",
        "0.01",
        "--warmup",
        "20",
        "--eval-every",
        "300",
    ];
    all.extend(flags);
    train(&corpus, &run, &all);
    let (float, int8) = (d.join("model.mynah"), d.join("model.int8.mynah"));
    run_ok(
        Command::new(bin("mynah-train"))
            .arg("export")
            .arg(&run)
            .arg("-o")
            .arg(&float),
    );
    run_ok(
        Command::new(bin("mynah-train"))
            .arg("export")
            .arg(&run)
            .arg("-o")
            .arg(&int8)
            // A debug build quantizes slowly; 4,000 characters calibrate these small models
            // as well as the default 100,000.
            .args(["--dtype", "int8", "--calib-chars", "4000"]),
    );
    let heldout_args = ["--mode", "text", "--split", "all", "--json"];
    let libtorch = json_number(
        &stdout_of(
            Command::new(bin("mynah-train"))
                .arg("eval")
                .arg(&run)
                .arg("--corpus")
                .arg(&heldout)
                .args(heldout_args)
                .args(["--device", "cpu", "--threads", "1"]),
        ),
        "nats_per_char",
    );
    let quantized = json_number(
        &stdout_of(
            Command::new(bin("mynah"))
                .arg("eval")
                .arg(&int8)
                .arg("--corpus")
                .arg(&heldout)
                .args(heldout_args),
        ),
        "nats_per_char",
    );
    let (kl, top1) = agreement(
        &float,
        &heldout,
        &d.join("requantized.mynah"),
        &["--calib-chars", "4000"],
    );
    eprintln!(
        "{name}: held-out nats/char libtorch {libtorch:.5}, int8 {quantized:.5} ({:+.3}%), \
         mean KL {kl:.2e}, top-1 agreement {top1:.4}",
        100.0 * (quantized - libtorch) / libtorch
    );
    let gap = relative_gap(quantized, libtorch);
    assert!(
        gap < 0.01,
        "{name}: int8 {quantized} vs libtorch {libtorch} nats/char: {:.3}% apart",
        gap * 100.0
    );
    assert!(kl < 0.002, "{name}: mean KL {kl} nats");
    assert!(top1 > 0.97, "{name}: top-1 agreement {top1}");
}

#[test]
fn lstm_1_layer_int8_follows_float() {
    cell("LSTM 1x64", &["--cell", "lstm"]);
}

#[test]
fn lstm_2_layers_int8_follows_float() {
    cell("LSTM 2x64", &["--cell", "lstm", "--layers", "2"]);
}

#[test]
fn rnn_int8_follows_float() {
    cell("RNN 1x64", &["--cell", "rnn"]);
}

#[test]
fn ngram_int8_follows_float() {
    cell("n-gram c6x64", &["--arch", "ngram", "--context", "6"]);
}
