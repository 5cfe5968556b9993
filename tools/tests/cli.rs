//! Runs the `mynah` binary on models written to a temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mynah_format::{layout, tensor_name, Hyper, ModelWriter, WeightsKind};

/// A temporary directory holding a small valid model.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let chars = ['\n', ' ', '"', 'a', 'é'];
        let hyper = Hyper {
            vocab_size: 3 + chars.len() as u32,
            embed_dim: 4,
            hidden_dim: 3,
            num_layers: 2,
            records: true,
            weights: WeightsKind::Float,
        };
        let mut w = ModelWriter::new(hyper, &chars).unwrap();
        for spec in layout::FLOAT_TENSORS {
            let layers = if spec.per_layer { hyper.num_layers } else { 1 };
            for k in 0..layers {
                let shape = hyper.shape_of(spec, k);
                let n = shape.dims().iter().product::<u32>() as usize;
                w.add_f32(&tensor_name(spec, k), shape.dims(), &vec![0.5; n])
                    .unwrap();
            }
        }
        w.write_atomic(&dir.path().join("m.mynah")).unwrap();
        Fixture { dir }
    }

    fn model(&self) -> PathBuf {
        self.dir.path().join("m.mynah")
    }

    /// A copy of the model with one byte changed.
    fn corrupt(&self) -> PathBuf {
        let mut bytes = std::fs::read(self.model()).unwrap();
        bytes[300] ^= 0x04;
        let path = self.dir.path().join("corrupt.mynah");
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

fn mynah(args: &[&str], file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mynah"))
        .args(args)
        .arg(file)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn inspect_describes_a_model() {
    let fx = Fixture::new();
    let out = mynah(&["inspect"], &fx.model());
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let bytes = std::fs::read(fx.model()).unwrap();
    let crc = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().unwrap());
    for want in [
        "version      1",
        "flags        0x00000001 RECORDS",
        "weights      FLOAT",
        "vocab_size   8",
        "embed_dim    4",
        "hidden_dim   3",
        "num_layers   2",
        "8 ids: PAD=0 BOS=1 EOS=2, 5 characters",
        r#""\n \"aé""#,
        "tensors      11",
        &format!("file_size    {} bytes", bytes.len()),
        &format!("checksum OK (crc32 0x{crc:08x})"),
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
    let embed = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("embed.weight"))
        .unwrap();
    let cols: Vec<&str> = embed.split_whitespace().collect();
    assert_eq!(
        cols,
        ["embed.weight", "f32", "[8,", "4]", "128", "0"],
        "{embed}"
    );
    assert!(stdout.contains("rnn.weight_ih_l1"), "{stdout}");
}

#[test]
fn inspect_rejects_a_corrupt_file_cleanly() {
    let fx = Fixture::new();
    let path = fx.corrupt();
    let out = mynah(&["inspect"], &path);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(out.stdout.is_empty());
    assert!(stderr.contains("corrupt.mynah"), "{stderr}");
    assert!(stderr.contains("checksum mismatch"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn inspect_reports_missing_and_non_model_files() {
    let fx = Fixture::new();
    let out = mynah(&["inspect"], &fx.dir.path().join("nope.mynah"));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("nope.mynah"));

    let txt = fx.dir.path().join("notes.txt");
    std::fs::write(&txt, "just some text").unwrap();
    let out = mynah(&["inspect"], &txt);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not a mynah model file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn closed_stdout_is_not_an_error() {
    let fx = Fixture::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mynah"))
        .arg("inspect")
        .arg(fx.model())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // like `mynah inspect m | head -0`
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
}

#[test]
fn usage_errors_exit_nonzero() {
    let out = Command::new(env!("CARGO_BIN_EXE_mynah"))
        .arg("inspect")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("Usage"), "{}", text(&out.stderr));
}
