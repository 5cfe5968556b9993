//! Runs the `mynah` binary on models written to a temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mynah_format::{
    tensor_name, Activation, Arch, Cell, Hyper, ModelWriter, Specials, WeightsKind,
};

/// A temporary directory holding a small valid model.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Self::of(Arch::GRU, Specials::DEFAULT, 2)
    }

    /// A float model of `arch` with every weight 0.5.
    fn of(arch: Arch, specials: Specials, layers: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let chars = ['\n', ' ', '"', 'a', 'é'];
        let hyper = Hyper {
            vocab_size: specials.count() + chars.len() as u32,
            embed_dim: 4,
            hidden_dim: 3,
            num_layers: layers,
            records: true,
            weights: WeightsKind::Float,
            arch,
            specials,
            factored: false,
        };
        let mut w = ModelWriter::new(hyper, &chars).unwrap();
        for spec in hyper.table().specs {
            for k in (0..layers).filter(|&k| spec.layers.has(k, layers)) {
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
        "version      2",
        "flags        0x00000001 RECORDS",
        "weights      FLOAT",
        "vocab_size   8",
        "embed_dim    4",
        "hidden_dim   3",
        "num_layers   2",
        "arch         gru (embedding -> gru -> linear)",
        "8 ids: specials <PAD>=0 <BOS>=1 <EOS>=2, 5 characters from id 3",
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
fn inspect_describes_every_architecture_and_vocabulary() {
    let lstm = Fixture::of(Arch::Recurrent(Cell::Lstm), Specials::NONE, 1);
    let out = text(&mynah(&["inspect"], &lstm.model()).stdout);
    for want in [
        "arch         lstm (embedding -> lstm -> linear)",
        "5 ids: specials none, 5 characters from id 0",
        // Four gates of 3 units.
        "rnn.weight_hh_l0  f32    [12, 3]",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    let ngram = Arch::Ngram {
        context: 3,
        activation: Activation::Tanh,
    };
    let torchtext = Specials::NONE
        .with(mynah_format::Special::Unk)
        .with(mynah_format::Special::Pad)
        .with(mynah_format::Special::Bos);
    let fx = Fixture::of(ngram, torchtext, 1);
    let out = text(&mynah(&["inspect"], &fx.model()).stdout);
    for want in [
        "arch         ngram (context 3, tanh): embeddings of the last tokens -> hidden -> linear",
        "specials <PAD>=0 <BOS>=1 <UNK>=2, 5 characters from id 3",
        "hidden.weight",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}

#[test]
fn inspect_states_the_exact_int8_size_and_the_measured_code() {
    let fx = Fixture::of(Arch::Recurrent(Cell::Rnn), Specials::DEFAULT, 2);
    let out = text(&mynah(&["inspect"], &fx.model()).stdout);
    let int8 = fx.dir.path().join("int8.mynah");
    let q = Command::new(env!("CARGO_BIN_EXE_mynah"))
        .arg("quantize")
        .arg(fx.model())
        .arg("-o")
        .arg(&int8)
        .arg("--calib")
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/shakespeare-heldout.txt"),
        )
        .output()
        .unwrap();
    assert!(q.status.success(), "{}", text(&q.stderr));
    let size = std::fs::metadata(&int8).unwrap().len();
    assert!(
        out.contains(&format!("flash  {size} bytes model (the INT8 file)")),
        "{out}"
    );
    // The code figure is the measurement `make size` wrote, or says it is missing.
    let code = mynah_tools::quant_info::measured_code_bytes(Arch::Recurrent(Cell::Rnn));
    match code {
        Some((bytes, target)) => assert!(
            out.contains(&format!(
                "{bytes} bytes code and tables (a rnn firmware on {target}"
            )),
            "{out}"
        ),
        None => assert!(out.contains("code not measured for rnn"), "{out}"),
    }
    let int8_out = text(&mynah(&["inspect"], &int8).stdout);
    assert!(int8_out.contains("rnn.input_table"), "{int8_out}");
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
