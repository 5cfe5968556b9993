//! Helpers for mynah's cross-crate tests (the tests themselves live in `tests/tests/`).
//!
//! These tests drive the real binaries (`mynah-train`, `mynah`) the way a user does, so they
//! find them next to the test executable rather than linking the crates.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root (where `Cargo.toml`, `Makefile` and `.venv` live).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives inside the workspace")
        .to_path_buf()
}

/// Path of a workspace binary built by the same `cargo test` invocation.
pub fn bin(name: &str) -> PathBuf {
    // The test runs from target/<profile>/deps/; binaries live in target/<profile>/.
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary inside target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo test --workspace` (or `make test`)",
        path.display()
    );
    path
}

/// The project's Python (from `.venv`, made by `make setup`), which has torch.
pub fn venv_python() -> PathBuf {
    let py = workspace_root().join(".venv/bin/python");
    assert!(
        py.exists(),
        "{} is missing; run `make test`, which creates it",
        py.display()
    );
    py
}

/// Runs a command and returns its output, failing the test with both streams when it fails.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A deterministic English-like corpus: small enough for seconds of training, varied enough
/// that the validation split has something to predict.
pub fn synthetic_corpus(chars: usize, seed: u64) -> String {
    const WORDS: &[&str] = &[
        "the", "mynah", "bird", "sings", "a", "song", "of", "rain", "and", "light", "over",
        "green", "hills", "while", "small", "models", "learn", "to", "speak", "softly",
    ];
    // SplitMix64, the project's one seeded generator: fixtures never change.
    let mut rng = mynah_runtime::SplitMix64::new(
        seed.wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407),
    );
    let mut out = String::with_capacity(chars + 16);
    while out.len() < chars {
        let mut words = 4 + (rng.next_u64() % 6) as usize;
        while words > 0 {
            out.push_str(WORDS[(rng.next_u64() % WORDS.len() as u64) as usize]);
            words -= 1;
            out.push(if words == 0 { '.' } else { ' ' });
        }
        out.push('\n');
    }
    out
}

/// Runs a command that must succeed and returns its stdout as text.
pub fn stdout_of(cmd: &mut Command) -> String {
    String::from_utf8(run_ok(cmd).stdout).expect("UTF-8 output")
}

/// The number after `"key":` in JSON text (one flat object, e.g. what `eval --json` prints).
pub fn json_number(text: &str, key: &str) -> f64 {
    let key = format!("\"{key}\":");
    let start = text.find(&key).unwrap_or_else(|| panic!("{key} in {text}")) + key.len();
    let rest = text[start..].trim_start();
    let end = rest.find([',', '}']).expect("end of value");
    rest[..end].trim().parse().expect("a number")
}

/// The number after `key` in a report line such as `mean KL 1.2e-5` (what `mynah quantize
/// --compare` prints).
pub fn number_after(text: &str, key: &str) -> f64 {
    let start = text
        .find(key)
        .unwrap_or_else(|| panic!("{key:?} in {text}"))
        + key.len();
    let rest = &text[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '-' || c == '+'))
        .unwrap_or(rest.len());
    rest[..end].parse().expect("a number")
}

/// `|a - b| / |b|`.
pub fn relative_gap(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

/// `mynah-train train` on the CPU with one thread, a fixed seed and no samples, for `flags`
/// (architecture, sizes, steps) on `corpus`, into `out`.
pub fn train(corpus: &Path, out: &Path, flags: &[&str]) {
    run_ok(
        Command::new(bin("mynah-train"))
            .args(["train", "--device", "cpu", "--threads", "1", "--seed", "3"])
            .args(["--sample-every", "0"])
            .arg("--corpus")
            .arg(corpus)
            .arg("--out")
            .arg(out)
            .args(flags),
    );
}
