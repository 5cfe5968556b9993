//! Helpers shared by the import, kill and fault tests (each test file is its own crate and
//! uses a part of them).
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_mynah-train");

/// A `mynah-train` command; `train`, `eval`, `sample` and `import` get one libtorch thread on
/// the CPU.
pub fn cmd(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    match args.first() {
        Some(&"train" | &"eval" | &"sample") => {
            cmd.args(["--device", "cpu", "--threads", "1"]);
        }
        Some(&"import") => {
            cmd.args(["--threads", "1"]);
        }
        _ => {}
    }
    cmd
}

pub fn run(args: &[&str]) -> Output {
    cmd(args).output().expect("run mynah-train")
}

/// Runs `mynah-train`, failing the test with its output unless it succeeds; returns stdout.
pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "mynah-train {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `mynah-train`, expecting exit status 1 without a panic; returns stderr.
pub fn fails(args: &[&str]) -> String {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert!(
        stderr.starts_with("mynah-train: error: "),
        "{args:?}: {stderr}"
    );
    stderr
}

/// The temporary files of mynah's atomic writer (`.mynah-*.tmp`) in `dir`: present while a
/// write is under way, and left behind only by a write that was cut off.
pub fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(".mynah-") && n.ends_with(".tmp"))
        })
        .collect()
}

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A deterministic pseudo-English corpus of about `n` characters.
pub fn fixture(n: usize) -> String {
    let words = [
        "the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "big", "red", "house",
    ];
    let mut s = String::new();
    let mut x: u32 = 12345;
    while s.len() < n {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        s.push_str(words[(x >> 16) as usize % words.len()]);
        s.push(if (x >> 8).is_multiple_of(7) {
            '\n'
        } else {
            ' '
        });
    }
    s
}

/// Tensors by name: (shape, raw little-endian bytes).
pub type Tensors = HashMap<String, (Vec<usize>, Vec<u8>)>;

/// The tensors and `__metadata__` of safetensors bytes; `Err` if they are not a valid file.
pub fn parse_st(bytes: &[u8]) -> Result<(Tensors, HashMap<String, String>), String> {
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
    let metadata = meta.metadata().clone().unwrap_or_default();
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    let tensors = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, (v.shape().to_vec(), v.data().to_vec())))
        .collect();
    Ok((tensors, metadata))
}

pub fn read_st(path: &Path) -> (Tensors, HashMap<String, String>) {
    parse_st(&std::fs::read(path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The checkpoint's `mynah` metadata as JSON.
pub fn ckpt_meta(path: &Path) -> serde_json::Value {
    let (_, meta) = read_st(path);
    serde_json::from_str(&meta["mynah"]).unwrap()
}

/// `nats_per_char` of `eval --json` (or of any JSON object holding it).
pub fn nats_per_char(json: &str) -> f64 {
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    v["nats_per_char"].as_f64().unwrap()
}

/// Both checkpoints of two runs hold the same tensors and the same metadata (wall-clock time
/// aside), and their metrics agree (throughput aside).
pub fn assert_same_runs(a: &Path, b: &Path) {
    for name in ["latest.safetensors", "best.safetensors"] {
        let (ta, ma) = read_st(&a.join(name));
        let (tb, mb) = read_st(&b.join(name));
        assert_eq!(ta.len(), tb.len(), "{name}");
        for (k, v) in &ta {
            assert!(tb[k] == *v, "{name}: tensor {k} differs");
        }
        let mut ja: serde_json::Value = serde_json::from_str(&ma["mynah"]).unwrap();
        let mut jb: serde_json::Value = serde_json::from_str(&mb["mynah"]).unwrap();
        for j in [&mut ja, &mut jb] {
            j["state"]["elapsed_secs"] = 0.into();
            // A fine-tuning phase records the run's training time at its start.
            if let Some(phases) = j["config"]["phases"].as_array_mut() {
                phases.iter_mut().for_each(|p| p["start_secs"] = 0.into());
            }
        }
        assert_eq!(ja, jb, "{name}: metadata differs");
    }
    let strip = |dir: &Path| -> Vec<String> {
        std::fs::read_to_string(dir.join("metrics.csv"))
            .unwrap()
            .lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_owned())
            .collect()
    };
    assert_eq!(strip(a), strip(b), "metrics.csv differs");
}

/// `train --corpus CORPUS --out OUT` followed by `flags`, as owned strings (tests push more).
pub fn train_argv(corpus: &Path, out: &Path, flags: &[&str]) -> Vec<String> {
    let head = ["train", "--corpus", p(corpus), "--out", p(out)];
    head.iter().chain(flags).map(|s| s.to_string()).collect()
}

/// Borrows an argument vector for [`run`], [`ok`] and [`fails`].
pub fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}
