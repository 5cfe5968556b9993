//! Every architecture exported with `--safetensors` loads into PyTorch's own modules
//! (tests/pytorch/textgen.py: the tutorial's `TextGenerator` with nn.GRU, nn.LSTM or nn.RNN,
//! and the n-gram MLP) and scores the validation split as `mynah eval` scores the exported f32
//! model file and `mynah-train eval` the safetensors: within 0.5% (the bound;
//! measured: below 1e-7), in text and in records mode.

use mynah_tests::{
    bin, json_number, relative_gap, stdout_of, synthetic_corpus, train, venv_python, workspace_root,
};
use std::process::Command;

/// Trains `flags` for 60 steps, exports, and compares the three scores.
fn parity(name: &str, mode: &str, flags: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let corpus = d.join("corpus.txt");
    std::fs::write(&corpus, synthetic_corpus(20_000, 7)).unwrap();
    let run = d.join("run");
    let mut all = vec![
        "--mode",
        mode,
        "--embed",
        "16",
        "--hidden",
        "32",
        "--steps",
        "60",
        "--seq-len",
        "64",
        "--batch",
        "16",
    ];
    all.extend(flags);
    train(&corpus, &run, &all);
    let (st, file) = (d.join("model.safetensors"), d.join("model.mynah"));
    stdout_of(
        Command::new(bin("mynah-train"))
            .arg("export")
            .arg(&run)
            .arg("-o")
            .arg(&file)
            .args(["--dtype", "f32", "--safetensors"])
            .arg(&st),
    );
    let score = |cmd: &mut Command| {
        let out = stdout_of(
            cmd.arg("--corpus")
                .arg(&corpus)
                .args(["--mode", mode])
                .args(["--split", "val", "--json"]),
        );
        json_number(&out, "nats_per_char")
    };
    let trainer = score(Command::new(bin("mynah-train")).arg("eval").arg(&st).args([
        "--device",
        "cpu",
        "--threads",
        "1",
    ]));
    let reference = score(Command::new(bin("mynah")).arg("eval").arg(&file));
    let pytorch = json_number(
        &stdout_of(
            Command::new(venv_python())
                .arg(workspace_root().join("tests/pytorch/textgen.py"))
                .arg(&st)
                .arg(&corpus)
                .args(["--mode", mode, "--split", "val"]),
        ),
        "nats_per_char",
    );
    eprintln!(
        "{name}: PyTorch {pytorch}, mynah eval (f32 file) {reference}, mynah-train eval {trainer}"
    );
    for (what, ours) in [
        ("mynah eval of the f32 file", reference),
        ("mynah-train eval", trainer),
    ] {
        let gap = relative_gap(ours, pytorch);
        assert!(
            gap < 0.005,
            "{name}: {what} {ours} vs PyTorch {pytorch}: {:.3}% apart",
            gap * 100.0
        );
    }
}

#[test]
fn gru_2_layers() {
    parity("GRU 2x32", "text", &["--cell", "gru", "--layers", "2"]);
}

#[test]
fn lstm_1_layer() {
    parity("LSTM 1x32", "text", &["--cell", "lstm"]);
}

#[test]
fn lstm_2_layers_records() {
    parity(
        "LSTM 2x32 lines",
        "lines",
        &["--cell", "lstm", "--layers", "2"],
    );
}

#[test]
fn rnn_1_layer() {
    parity("RNN 1x32", "text", &["--cell", "rnn"]);
}

#[test]
fn rnn_2_layers_records() {
    parity(
        "RNN 2x32 lines",
        "lines",
        &["--cell", "rnn", "--layers", "2"],
    );
}

#[test]
fn ngram_relu() {
    parity(
        "n-gram c4 relu",
        "text",
        &["--arch", "ngram", "--context", "4"],
    );
}

#[test]
fn ngram_tanh_records() {
    parity(
        "n-gram c3 tanh lines",
        "lines",
        &["--arch", "ngram", "--context", "3", "--activation", "tanh"],
    );
}
