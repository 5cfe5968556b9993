//! A model trained in plain PyTorch with the tutorial's `TextGenerator`
//! (tests/pytorch/import_fixtures.py) imports with `mynah-train import`, exports to int8 and
//! samples on the integer runtime, and `mynah eval` scores its validation split within 1% of
//! PyTorch's own loss (the f32 export within 0.01%).

use mynah_tests::{bin, json_number, run_ok, synthetic_corpus, venv_python, workspace_root};
use std::path::Path;
use std::process::Command;

fn mynah_eval(model: &Path, corpus: &Path) -> f64 {
    let out = run_ok(
        Command::new(bin("mynah"))
            .arg("eval")
            .arg(model)
            .arg("--corpus")
            .arg(corpus)
            .args(["--mode", "text", "--split", "val", "--json"]),
    );
    json_number(&String::from_utf8_lossy(&out.stdout), "nats_per_char")
}

#[test]
fn pytorch_text_generator_imports_exports_to_int8_and_matches_pytorch() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let corpus = d.join("corpus.txt");
    std::fs::write(&corpus, synthetic_corpus(20_000, 11)).unwrap();
    let fixtures = d.join("pytorch");
    let out = run_ok(
        Command::new(venv_python())
            .arg(workspace_root().join("tests/pytorch/import_fixtures.py"))
            .arg(&corpus)
            .arg(&fixtures)
            .args(["--steps", "300"]),
    );
    // The validation loss PyTorch computes for its own model, by the evaluation convention.
    let pytorch = json_number(&String::from_utf8_lossy(&out.stdout), "textgen");

    let run = d.join("run");
    run_ok(
        Command::new(bin("mynah-train"))
            .arg("import")
            .arg(fixtures.join("textgen.safetensors"))
            .arg("--vocab")
            .arg(fixtures.join("vocab.json"))
            .arg("--corpus")
            .arg(&corpus)
            .arg("-o")
            .arg(&run)
            .args(["--threads", "1"]),
    );
    let (f32_model, int8_model) = (d.join("model.mynah"), d.join("model.int8.mynah"));
    run_ok(
        Command::new(bin("mynah-train"))
            .arg("export")
            .arg(&run)
            .arg("-o")
            .arg(&f32_model),
    );
    run_ok(
        Command::new(bin("mynah-train"))
            .arg("export")
            .arg(&run)
            .arg("-o")
            .arg(&int8_model)
            .args(["--dtype", "int8"]),
    );

    let float = mynah_eval(&f32_model, &corpus);
    assert!(
        (float - pytorch).abs() / pytorch < 1e-4,
        "mynah eval (f32) {float} vs PyTorch {pytorch}"
    );
    let int8 = mynah_eval(&int8_model, &corpus);
    eprintln!("validation nats/char: PyTorch {pytorch}, mynah f32 {float}, mynah int8 {int8}");
    let gap = (int8 - pytorch).abs() / pytorch;
    assert!(
        gap < 0.01,
        "mynah eval (int8) {int8} vs PyTorch {pytorch}: {:.3}% apart",
        gap * 100.0
    );

    let sample = run_ok(
        Command::new(bin("mynah"))
            .arg("sample")
            .arg(&int8_model)
            .args(["--prime", "the ", "--max-len", "80", "--seed", "3"]),
    );
    let text = String::from_utf8(sample.stdout).unwrap();
    assert!(text.starts_with("the ") && text.len() > 40, "{text:?}");
}
