//! `mynah-train import`: models trained in plain PyTorch (tests/pytorch/import_fixtures.py,
//! run once per test binary with the project's venv) become run directories that evaluate
//! exactly like PyTorch does, and everything mynah cannot run is refused with a clear message.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The PyTorch models of tests/pytorch/import_fixtures.py and the corpus they learned.
struct Fixtures {
    dir: PathBuf,
    corpus: PathBuf,
    /// PyTorch's validation loss per model (nats/char).
    losses: serde_json::Value,
}

impl Fixtures {
    fn file(&self, name: &str) -> String {
        p(&self.dir.join(name)).to_owned()
    }

    fn vocab(&self) -> String {
        self.file("vocab.json")
    }
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let python = root.join(".venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing; `make setup` creates it",
            python.display()
        );
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("import-fixtures");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let corpus = write(&dir, "corpus.txt", fixture(6000).as_bytes());
        let out = Command::new(python)
            .arg(root.join("tests/pytorch/import_fixtures.py"))
            .args([p(&corpus), p(&dir), "--steps", "150"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "import_fixtures.py failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let losses =
            serde_json::from_str(&std::fs::read_to_string(dir.join("losses.json")).unwrap())
                .unwrap();
        Fixtures {
            dir,
            corpus,
            losses,
        }
    })
}

/// `eval --json` of a run directory on the fixture corpus.
fn eval(run: &Path) -> f64 {
    let f = fixtures();
    nats_per_char(&ok(&["eval", p(run), "--corpus", p(&f.corpus), "--json"]))
}

fn assert_close(ours: f64, pytorch: f64, what: &str) {
    let gap = (ours - pytorch).abs() / pytorch;
    assert!(
        gap < 1e-5,
        "{what}: mynah-train eval {ours} vs PyTorch {pytorch}"
    );
}

#[test]
fn text_generator_imports_and_scores_exactly_like_pytorch() {
    let f = fixtures();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let stdout = ok(&[
        "import",
        &f.file("textgen.safetensors"),
        "--vocab",
        &f.vocab(),
        "--corpus",
        p(&f.corpus),
        "-o",
        p(&run),
    ]);
    assert!(stdout.contains("reordered by code point"), "{stdout}");
    assert!(stdout.contains("embed 8, hidden 32, layers 2"), "{stdout}");
    // The vocabulary was unsorted: the loss only matches if every row moved with its id.
    let pytorch = f.losses["textgen"].as_f64().unwrap();
    assert_close(eval(&run), pytorch, "textgen");

    // A normal run directory: both checkpoints at step 0, its validation loss recorded.
    for name in ["config.json", "metrics.csv", "latest.safetensors"] {
        assert!(run.join(name).is_file(), "{name}");
    }
    let meta = ckpt_meta(&run.join("best.safetensors"));
    assert_eq!(meta["state"]["step"], 0);
    assert_close(
        meta["state"]["val_loss"].as_f64().unwrap(),
        pytorch,
        "recorded",
    );
    let vocab: Vec<String> = serde_json::from_value(meta["vocab"].clone()).unwrap();
    let mut sorted = vocab.clone();
    sorted.sort();
    assert_eq!(vocab, sorted);
    let sample = ok(&["sample", p(&run), "--max-chars", "40", "--prompt", "the "]);
    assert!(sample.starts_with("the ") && sample.len() > 10, "{sample}");

    // It fine-tunes like a run of ours (with the default training options).
    ok(&[
        "train",
        "--resume",
        p(&run),
        "--steps",
        "4",
        "--eval-every",
        "2",
        "--sample-every",
        "0",
    ]);
    assert_eq!(
        ckpt_meta(&run.join("latest.safetensors"))["state"]["step"],
        4
    );
}

#[test]
fn torch_save_dict_and_torchscript_import_like_safetensors() {
    let f = fixtures();
    let tmp = tempfile::tempdir().unwrap();
    let import = |file: &str| {
        let run = tmp.path().join(file);
        ok(&[
            "import",
            &f.file(file),
            "--vocab",
            &f.vocab(),
            "-o",
            p(&run),
        ]);
        read_st(&run.join("latest.safetensors")).0
    };
    let reference = import("textgen.safetensors");
    assert_eq!(import("textgen.pt"), reference);
    assert_eq!(import("textgen_traced.pt"), reference);

    // torch.save(model.state_dict()) pickles an OrderedDict, which libtorch cannot read.
    let out = tmp.path().join("ordered");
    let e = fails(&[
        "import",
        &f.file("textgen_ordered.pt"),
        "--vocab",
        &f.vocab(),
        "-o",
        p(&out),
    ]);
    assert!(
        e.contains("OrderedDict") && e.contains("torch.save(dict(model.state_dict()), PATH)"),
        "{e}"
    );
    assert!(!out.exists());
    // A torch.save file has no metadata: the vocabulary must be given.
    let e = fails(&["import", &f.file("textgen.pt"), "-o", p(&out)]);
    assert!(e.contains("give --vocab vocab.json"), "{e}");
}

#[test]
fn one_hot_gru_imports_with_an_identity_embedding() {
    let f = fixtures();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let stdout = ok(&[
        "import",
        &f.file("onehot_gru.safetensors"),
        "--vocab",
        &f.vocab(),
        "-o",
        p(&run),
    ]);
    assert!(
        stdout.contains("one-hot input: identity embedding"),
        "{stdout}"
    );
    assert_close(
        eval(&run),
        f.losses["onehot_gru"].as_f64().unwrap(),
        "onehot_gru",
    );
    // The embedding is the identity with its rows permuted like the vocabulary.
    let (tensors, _) = read_st(&run.join("latest.safetensors"));
    let (shape, bytes) = &tensors["embed.weight"];
    let v = shape[0];
    assert_eq!(shape, &[v, v]);
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    for row in values.chunks(v) {
        assert_eq!(row.iter().filter(|&&x| x == 1.0).count(), 1);
        assert_eq!(row.iter().filter(|&&x| x == 0.0).count(), v - 1);
    }
    assert!(
        (0..v).any(|i| values[i * v + i] != 1.0),
        "the unsorted vocabulary must permute the rows"
    );
}

#[test]
fn one_hot_lstm_imports_and_scores_like_pytorch() {
    let f = fixtures();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let stdout = ok(&[
        "import",
        &f.file("lstm.safetensors"),
        "--vocab",
        &f.vocab(),
        "-o",
        p(&run),
    ]);
    assert!(
        stdout.contains("LSTM (one-hot -> rnn -> fc)") && stdout.contains("hidden 16, layers 1"),
        "{stdout}"
    );
    assert_close(eval(&run), f.losses["lstm"].as_f64().unwrap(), "lstm");
    assert_eq!(
        ckpt_meta(&run.join("best.safetensors"))["config"]["cell"],
        "lstm"
    );
}

#[test]
fn bidirectional_layers_are_refused_and_nothing_is_written() {
    let f = fixtures();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let e = fails(&[
        "import",
        &f.file("bidirectional.safetensors"),
        "--vocab",
        &f.vocab(),
        "-o",
        p(&out),
    ]);
    assert!(
        e.contains("bidirectional") && e.contains("one character at a time"),
        "{e}"
    );
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    assert!(!out.exists());
}

#[test]
fn every_vocabulary_form_gives_the_same_run() {
    let f = fixtures();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let chars: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(f.vocab()).unwrap()).unwrap();
    // Every id's token in the model's order, as a list, an itos dict and a stoi dict.
    let mut tokens: Vec<String> = ["<PAD>", "<BOS>", "<EOS>"].map(String::from).to_vec();
    tokens.extend(chars.iter().cloned());
    let itos: serde_json::Map<String, serde_json::Value> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (i.to_string(), t.as_str().into()))
        .collect();
    let stoi: serde_json::Map<String, serde_json::Value> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i.into()))
        .collect();
    let forms = [
        ("list", serde_json::to_string(&tokens).unwrap()),
        ("itos", serde_json::to_string(&itos).unwrap()),
        ("stoi", serde_json::to_string(&stoi).unwrap()),
        // torchtext spells them in lower case.
        (
            "lower",
            serde_json::to_string(&tokens).unwrap().to_lowercase(),
        ),
    ];
    let import = |name: &str, json: Option<&str>| {
        let run = d.join(name);
        let mut args = vec!["import".to_owned(), f.file("textgen.safetensors")];
        if let Some(json) = json {
            let path = write(d, &format!("{name}.json"), json.as_bytes());
            args.extend(["--vocab".to_owned(), p(&path).to_owned()]);
        }
        args.extend(["-o".to_owned(), p(&run).to_owned()]);
        let stdout = ok(&strs(&args));
        (stdout, read_st(&run.join("best.safetensors")).0)
    };
    let (legacy_out, reference) = import("legacy", Some(&serde_json::to_string(&chars).unwrap()));
    assert!(
        legacy_out.contains("the characters of ids 3.."),
        "{legacy_out}"
    );
    for (name, json) in &forms {
        if *name == "lower" && chars.iter().any(|c| c.to_lowercase() != *c) {
            continue;
        }
        let (stdout, tensors) = import(name, Some(json));
        assert!(
            !stdout.contains("the characters of ids 3.."),
            "{name}: {stdout}"
        );
        assert!(tensors == reference, "{name}: the tensors differ");
    }
    // A stoi dict that gives two tokens one id cannot be read.
    let path = write(d, "two.json", br#"{"<unk>": 0, "a": 0, "b": 1}"#);
    let e = fails(&[
        "import",
        &f.file("textgen.safetensors"),
        "--vocab",
        p(&path),
        "-o",
        p(&d.join("two")),
    ]);
    assert!(e.contains("the same id 0") && e.contains("itos"), "{e}");
}

#[test]
fn bad_vocabularies_and_files_are_reported() {
    let f = fixtures();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let out = d.join("run");
    let chars: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(f.vocab()).unwrap()).unwrap();
    let model = f.file("textgen.safetensors");
    let import_with = |vocab: &[String]| {
        let path = write(
            d,
            "v.json",
            serde_json::to_string(vocab).unwrap().as_bytes(),
        );
        fails(&["import", &model, "--vocab", p(&path), "-o", p(&out)])
    };
    let n = chars.len();
    let e = import_with(&chars[1..]);
    assert!(
        e.contains(&format!(
            "lists {} tokens, but the model has {} ids (the rows of its output layer)",
            n - 1,
            n + 3
        )),
        "{e}"
    );
    // The characters of ids 3..: ids count from the first special.
    let mut dup = chars.clone();
    dup[1] = dup[0].clone();
    let e = import_with(&dup);
    assert!(
        e.contains(&format!(
            "vocabulary entries 3 and 4 are both {:?}",
            chars[0]
        )),
        "{e}"
    );
    let mut long = chars.clone();
    long[0] = "ab".into();
    let e = import_with(&long);
    assert!(
        e.contains(
            "vocabulary entry 3 is \"ab\", which is neither one character nor a special token"
        ),
        "{e}"
    );
    let e = import_with(&[]);
    assert!(e.contains("the vocabulary is empty"), "{e}");

    let text = write(d, "notes.txt", b"just some text, not weights\n");
    let e = fails(&["import", p(&text), "-o", p(&out)]);
    assert!(e.contains("neither a safetensors file nor"), "{e}");
    let legacy = write(
        d,
        "legacy.pt",
        b"\x80\x02\x8a\x0alz\xfc\x9cF\xf9 j\xa8P\x19.",
    );
    let e = fails(&["import", p(&legacy), "-o", p(&out)]);
    assert!(e.contains("legacy format"), "{e}");
    let missing = d.join("missing.safetensors");
    let e = fails(&["import", p(&missing), "-o", p(&out)]);
    assert!(e.contains("cannot read"), "{e}");
    assert!(!out.exists());

    // A directory that already holds a run is not overwritten.
    ok(&["import", &model, "--vocab", &f.vocab(), "-o", p(&out)]);
    let e = fails(&["import", &model, "--vocab", &f.vocab(), "-o", p(&out)]);
    assert!(e.contains("already holds a run"), "{e}");
}

#[test]
fn old_exports_import_from_their_metadata() {
    // The reference fixture is an export of checkpoint version 1: `vocab` the characters,
    // `specials` the specials before them.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/shakespeare-1x128.safetensors");
    let (tensors, meta) = read_st(&fixture);
    assert!(meta.contains_key("specials"), "{meta:?}");
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let stdout = ok(&["import", p(&fixture), "-o", p(&run)]);
    assert!(
        stdout.contains(
            "GRU (embed -> rnn -> proj), vocabulary 68 (<PAD>, <BOS>, <EOS> and 65 characters"
        ) && !stdout.contains("reordered"),
        "{stdout}"
    );
    let st = tmp.path().join("again.safetensors");
    ok(&["export", p(&run), "--safetensors", p(&st)]);
    let (again, meta) = read_st(&st);
    assert!(again == tensors, "the weights changed");
    let vocab: Vec<String> = serde_json::from_str(&meta["vocab"]).unwrap();
    assert_eq!(vocab[..4], ["<PAD>", "<BOS>", "<EOS>", "\n"]);
}

#[test]
fn unknown_validation_characters_stop_or_are_skipped_with_unk() {
    let f = fixtures();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let text = std::fs::read_to_string(&f.corpus).unwrap() + "the cat \u{e9}\n";
    let corpus = write(d, "c.txt", text.as_bytes());
    let (model, vocab) = (f.file("textgen.safetensors"), f.vocab());
    let import = |out: &str, extra: &[&str]| {
        let out = d.join(out);
        let mut args = vec![
            "import",
            &model,
            "--vocab",
            &vocab,
            "--corpus",
            p(&corpus),
            "-o",
            p(&out),
        ];
        args.extend(extra);
        (run(&args), out.clone())
    };
    let (refused, out) = import("strict", &[]);
    let e = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{e}");
    assert!(e.contains("'é'") && e.contains("--unk skip"), "{e}");
    assert!(!out.exists());
    let (skipped, out) = import("skip", &["--unk", "skip"]);
    assert!(skipped.status.success(), "{skipped:?}");
    assert_eq!(
        ckpt_meta(&out.join("best.safetensors"))["config"]["unk"],
        "skip"
    );
}

#[test]
fn export_import_export_gives_identical_bytes() {
    round_trip(&[]);
}

#[test]
fn every_architecture_round_trips_through_import() {
    round_trip(&["--cell", "lstm", "--layers", "2"]);
    round_trip(&["--cell", "rnn"]);
    round_trip(&["--arch", "ngram", "--context", "3", "--activation", "tanh"]);
}

/// A records-mode model of `flags`, exported, imported (its metadata gives the vocabulary,
/// the mode and the architecture) and exported again gives the same files.
fn round_trip(flags: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let records: String = fixture(4000).lines().map(|l| format!("{l}\n")).collect();
    let corpus = write(d, "c.txt", records.as_bytes());
    let run = d.join("run");
    let mut train = vec![
        "train",
        "--corpus",
        p(&corpus),
        "--out",
        p(&run),
        "--mode",
        "lines",
        "--embed",
        "8",
        "--hidden",
        "24",
        "--batch",
        "8",
        "--steps",
        "8",
        "--sample-every",
        "0",
    ];
    train.extend(flags);
    ok(&train);
    let export = |from: &Path, tag: &str| -> [Vec<u8>; 3] {
        let (model, st, int8) = (
            d.join(format!("{tag}.mynah")),
            d.join(format!("{tag}.safetensors")),
            d.join(format!("{tag}.int8.mynah")),
        );
        ok(&["export", p(from), "-o", p(&model), "--safetensors", p(&st)]);
        ok(&[
            "export",
            p(from),
            "-o",
            p(&int8),
            "--dtype",
            "int8",
            "--calib-chars",
            "2000",
        ]);
        [model, st, int8].map(|f| std::fs::read(f).unwrap())
    };
    let first = export(&run, "first");
    let imported = d.join("imported");
    // The export's metadata carries the vocabulary and the mode: no --vocab, no --mode.
    ok(&[
        "import",
        p(&d.join("first.safetensors")),
        "--corpus",
        p(&corpus),
        "-o",
        p(&imported),
    ]);
    assert_eq!(
        ckpt_meta(&imported.join("best.safetensors"))["config"]["mode"],
        "lines"
    );
    let second = export(&imported, "second");
    for (i, what) in ["f32 model file", "safetensors", "int8 model file"]
        .iter()
        .enumerate()
    {
        assert!(first[i] == second[i], "{what} differs after the round trip");
    }
    let score = |dir: &Path| ok(&["eval", p(dir), "--json"]);
    assert_eq!(score(&run), score(&imported));
}
