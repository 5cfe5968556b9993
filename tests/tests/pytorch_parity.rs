//! A model exported with `--safetensors` loads into PyTorch's `nn.GRU`-based `TextGenerator`
//! (tests/pytorch/textgen.py) and scores the validation split exactly as `mynah-train eval` does.

use mynah_tests::{bin, run_ok, synthetic_corpus, venv_python, workspace_root};
use std::process::Command;

fn nats_per_char(json: &[u8]) -> f64 {
    let text = String::from_utf8_lossy(json);
    let key = "\"nats_per_char\":";
    let start = text.find(key).expect("nats_per_char in JSON") + key.len();
    let rest = text[start..].trim_start();
    let end = rest.find([',', '}']).expect("end of value");
    rest[..end].trim().parse().expect("a number")
}

#[test]
fn safetensors_export_matches_pytorch_text_generator() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.txt");
    std::fs::write(&corpus, synthetic_corpus(20_000, 7)).unwrap();
    let run = dir.path().join("run");
    let model = dir.path().join("model.safetensors");
    let mynah_file = dir.path().join("model.mynah");

    run_ok(
        Command::new(bin("mynah-train"))
            .args(["train", "--device", "cpu", "--mode", "text"])
            .args([
                "--layers",
                "2",
                "--hidden",
                "32",
                "--embed",
                "16",
                "--steps",
                "60",
                "--seq-len",
                "64",
                "--batch",
                "16",
                "--seed",
                "3",
                "--threads",
                "1",
            ])
            .arg("--corpus")
            .arg(&corpus)
            .arg("--out")
            .arg(&run),
    );
    run_ok(
        Command::new(bin("mynah-train"))
            .arg("export")
            .arg(&run)
            .arg("-o")
            .arg(&mynah_file)
            .args(["--dtype", "f32", "--safetensors"])
            .arg(&model),
    );

    let ours = run_ok(
        Command::new(bin("mynah-train"))
            .arg("eval")
            .arg(&model)
            .arg("--corpus")
            .arg(&corpus)
            .args(["--mode", "text", "--split", "val", "--json"]),
    );
    let theirs = run_ok(
        Command::new(venv_python())
            .arg(workspace_root().join("tests/pytorch/textgen.py"))
            .arg(&model)
            .arg(&corpus)
            .args(["--mode", "text", "--split", "val"]),
    );
    let (ours, theirs) = (nats_per_char(&ours.stdout), nats_per_char(&theirs.stdout));
    let gap = (ours - theirs).abs() / theirs;
    assert!(
        gap < 0.005,
        "mynah-train eval {ours} vs PyTorch TextGenerator {theirs}: {:.3}% apart",
        gap * 100.0
    );
}
