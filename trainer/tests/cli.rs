//! End-to-end tests of `mynah-train`: tiny models on generated corpora, one libtorch thread
//! each, so that every test takes a few seconds on a busy 2-core machine.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

mod common;

use common::{fixture, ok, p, run, write, Tensors, BIN};

/// The tensors and `__metadata__` of a safetensors file.
fn read_st(path: &Path) -> (Tensors, HashMap<String, String>) {
    let bytes = std::fs::read(path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let metadata = meta.metadata().clone().unwrap_or_default();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, (v.shape().to_vec(), v.data().to_vec())))
        .collect();
    (tensors, metadata)
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// The checkpoint's `mynah` metadata as JSON.
fn ckpt_meta(path: &Path) -> serde_json::Value {
    let (_, meta) = read_st(path);
    serde_json::from_str(&meta["mynah"]).unwrap()
}

const TINY: &[&str] = &["--embed", "8", "--hidden", "32", "--sample-every", "0"];

#[test]
fn overfits_hello_in_text_mode() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write(dir.path(), "hello.txt", "hello".repeat(4).as_bytes());
    let out = dir.path().join("run");
    let mut args = vec!["train", "--corpus", p(&corpus), "--out", p(&out)];
    args.extend(TINY);
    args.extend([
        "--batch",
        "4",
        "--lr",
        "0.01",
        "--steps",
        "150",
        "--eval-every",
        "150",
    ]);
    ok(&args);
    let sample = ok(&["sample", p(&out), "--temperature", "0", "--max-chars", "10"]);
    assert_eq!(sample.trim_end_matches('\n'), "hellohello");
}

#[test]
fn overfits_a_tweet_in_lines_mode() {
    let dir = tempfile::tempdir().unwrap();
    let tweet = "just setting up my mynah 🐦 #first";
    let corpus = write(
        dir.path(),
        "tweets.txt",
        format!("{tweet}\n").repeat(10).as_bytes(),
    );
    let out = dir.path().join("run");
    let mut args = vec![
        "train",
        "--corpus",
        p(&corpus),
        "--out",
        p(&out),
        "--mode",
        "lines",
    ];
    args.extend(TINY);
    args.extend([
        "--batch",
        "9",
        "--lr",
        "0.01",
        "--steps",
        "200",
        "--eval-every",
        "200",
    ]);
    ok(&args);
    // Greedy decoding from <BOS> must end at <EOS> right after the tweet.
    let sample = ok(&[
        "sample",
        p(&out),
        "--temperature",
        "0",
        "--max-chars",
        "100",
    ]);
    assert_eq!(sample, format!("{tweet}\n"));
}

#[test]
fn loss_decreases_and_validation_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write(dir.path(), "c.txt", fixture(20_000).as_bytes());
    let out = dir.path().join("run");
    let mut args = vec!["train", "--corpus", p(&corpus), "--out", p(&out)];
    args.extend(TINY);
    args.extend([
        "--seq-len",
        "32",
        "--batch",
        "16",
        "--steps",
        "200",
        "--eval-every",
        "100",
        "--log-every",
        "20",
    ]);
    let stdout = ok(&args);
    assert!(
        stdout.contains("nats/char") && stdout.contains("bits/char"),
        "{stdout}"
    );

    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("step,train_loss,val_loss,lr,chars_per_sec")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 10);
    let train: Vec<f64> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    let val: Vec<(u64, f64)> = rows
        .iter()
        .filter(|r| !r[2].is_empty())
        .map(|r| (r[0].parse().unwrap(), r[2].parse().unwrap()))
        .collect();
    assert_eq!(val.iter().map(|v| v.0).collect::<Vec<_>>(), [100, 200]);
    // Uniform guessing over 15 characters + 3 specials costs ln 18 ≈ 2.89 nats.
    assert!(train[0] > 2.0, "{train:?}");
    assert!(train[9] < train[0] - 0.8, "{train:?}");
    assert!(val[1].1 < 2.0 && val[1].1 <= val[0].1, "{val:?}");
    assert!(out.join("loss.png").is_file());
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["hidden"], 32);
}

/// Trains `extra` straight to 40 steps, and in two sessions (stop at 20, then --resume): the
/// checkpoints and metrics must be identical.
fn resume_equals_straight(mode: &str, corpus_text: &str, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write(dir.path(), "c.txt", corpus_text.as_bytes());
    let straight = dir.path().join("straight");
    let split = dir.path().join("split");
    let base = |out: &Path| {
        let mut a: Vec<String> = [
            "train",
            "--corpus",
            p(&corpus),
            "--out",
            p(out),
            "--mode",
            mode,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(TINY.iter().chain(extra).map(|s| s.to_string()));
        a.extend(
            [
                "--steps",
                "40",
                "--eval-every",
                "10",
                "--log-every",
                "5",
                "--warmup",
                "10",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        a
    };
    let a = base(&straight);
    ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let mut b = base(&split);
    b.extend(["--stop-at".into(), "20".into()]);
    ok(&b.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        ckpt_meta(&split.join("latest.safetensors"))["state"]["step"],
        20
    );
    ok(&["train", "--resume", p(&split)]);

    for name in ["latest.safetensors", "best.safetensors"] {
        let (ta, ma) = read_st(&straight.join(name));
        let (tb, mb) = read_st(&split.join(name));
        assert_eq!(ta.len(), tb.len());
        for (k, v) in &ta {
            assert!(tb[k] == *v, "{name}: tensor {k} differs after resume");
        }
        let mut ja: serde_json::Value = serde_json::from_str(&ma["mynah"]).unwrap();
        let mut jb: serde_json::Value = serde_json::from_str(&mb["mynah"]).unwrap();
        for j in [&mut ja, &mut jb] {
            j["state"]["elapsed_secs"] = 0.into();
            j["corpus"]["path"] = "".into();
        }
        assert_eq!(ja, jb, "{name}: metadata differs");
        let step = if name == "latest.safetensors" {
            40.into()
        } else {
            ja["state"]["best_step"].clone()
        };
        assert_eq!(ja["state"]["step"], step);
    }
    let strip = |dir: &Path| -> Vec<String> {
        std::fs::read_to_string(dir.join("metrics.csv"))
            .unwrap()
            .lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_owned())
            .collect()
    };
    assert_eq!(strip(&straight), strip(&split));
    assert_eq!(strip(&straight).len(), 9);
}

#[test]
fn resumed_text_run_equals_uninterrupted_run() {
    resume_equals_straight("text", &fixture(6000), &["--seq-len", "24", "--batch", "8"]);
}

#[test]
fn resumed_record_run_with_dropout_equals_uninterrupted_run() {
    let records: String = fixture(6000).lines().map(|l| format!("{l}\n")).collect();
    resume_equals_straight(
        "lines",
        &records,
        &[
            "--batch",
            "8",
            "--layers",
            "2",
            "--dropout",
            "0.2",
            "--max-len",
            "20",
        ],
    );
}

#[test]
fn eval_json_matches_the_best_checkpoint_and_export_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let text = fixture(5000);
    let corpus = write(dir.path(), "c.txt", text.as_bytes());
    let out = dir.path().join("run");
    let mut args = vec!["train", "--corpus", p(&corpus), "--out", p(&out)];
    args.extend(TINY);
    args.extend([
        "--seq-len",
        "24",
        "--batch",
        "8",
        "--steps",
        "30",
        "--eval-every",
        "10",
    ]);
    args.extend(["--layers", "2"]);
    ok(&args);

    // eval --json: one object with exactly the three keys, equal to the recorded val loss.
    let json = ok(&[
        "eval",
        p(&out),
        "--corpus",
        p(&corpus),
        "--mode",
        "text",
        "--split",
        "val",
        "--json",
    ]);
    assert_eq!(json.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), 3, "{json}");
    let nats = obj["nats_per_char"].as_f64().unwrap();
    let bits = obj["bits_per_char"].as_f64().unwrap();
    assert!((bits - nats / std::f64::consts::LN_2).abs() < 1e-12);
    let n_chars = text.chars().count();
    assert_eq!(
        obj["chars"].as_u64().unwrap() as usize,
        n_chars - n_chars * 9 / 10
    );
    let meta = ckpt_meta(&out.join("best.safetensors"));
    let recorded = meta["state"]["val_loss"].as_f64().unwrap();
    assert_eq!(meta["state"]["best_val_loss"].as_f64().unwrap(), recorded);
    assert!(
        (nats - recorded).abs() <= 1e-9 * recorded,
        "eval {nats} vs recorded {recorded}"
    );
    let all = ok(&["eval", p(&out), "--split", "all", "--json"]);
    let all: serde_json::Value = serde_json::from_str(&all).unwrap();
    assert_eq!(all["chars"].as_u64().unwrap() as usize, n_chars);

    // export: the model file holds exactly the checkpoint's tensors.
    let model = dir.path().join("m.mynah");
    let st = dir.path().join("m.safetensors");
    ok(&["export", p(&out), "-o", p(&model), "--safetensors", p(&st)]);
    let (ckpt, _) = read_st(&out.join("best.safetensors"));
    let mapped = mynah_format::MappedModel::open(&model).unwrap();
    let m = mapped.model();
    let h = m.hyper();
    assert_eq!(
        (h.embed_dim, h.hidden_dim, h.num_layers, h.records),
        (8, 32, 2, false)
    );
    // The vocabulary is the whole corpus's (its validation part included).
    let vocab: String = {
        let mut c: Vec<char> = text.chars().collect();
        c.sort_unstable();
        c.dedup();
        c.into_iter().collect()
    };
    assert_eq!(m.vocab().as_str(), vocab);
    assert_eq!(m.tensor_count(), 2 + 2 * 4 + 1);
    for t in m.tensors() {
        let (shape, bytes) = &ckpt[t.name()];
        assert_eq!(
            t.shape().iter().map(|&d| d as usize).collect::<Vec<_>>(),
            *shape
        );
        assert_eq!(t.f32s().unwrap(), f32s(bytes).as_slice(), "{}", t.name());
    }
    // The safetensors export: PyTorch names only, vocabulary in the metadata.
    let (tensors, meta) = read_st(&st);
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    assert_eq!(names.len(), 11);
    assert!(names
        .iter()
        .all(|n| n.starts_with("embed.") || n.starts_with("rnn.") || n.starts_with("proj.")));
    // Every id's token in id order, specials included: as many as embed.weight has rows.
    let tokens: Vec<String> = serde_json::from_str(&meta["vocab"]).unwrap();
    assert_eq!(tokens[..3], ["<PAD>", "<BOS>", "<EOS>"]);
    assert_eq!(tokens[3..].concat(), vocab);
    assert_eq!(tokens.len(), tensors["embed.weight"].0[0]);
    assert!(!meta.contains_key("specials"));
    assert_eq!(
        (
            meta["mode"].as_str(),
            meta["layers"].as_str(),
            meta["arch"].as_str()
        ),
        ("text", "2", "gru")
    );
    for (k, v) in &tensors {
        assert_eq!(ckpt[k], *v, "{k}");
    }
    // Scoring the exported safetensors gives the same loss.
    let again = ok(&["eval", p(&st), "--corpus", p(&corpus), "--json"]);
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["nats_per_char"].as_f64().unwrap(), nats);

    // f16: same tensors within half precision.
    let half_model = dir.path().join("h.mynah");
    ok(&["export", p(&out), "-o", p(&half_model), "--dtype", "f16"]);
    let mapped = mynah_format::MappedModel::open(&half_model).unwrap();
    for t in mapped.model().tensors() {
        let want = f32s(&ckpt[t.name()].1);
        let got = t.f16s().unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g.to_f32() - w).abs() <= w.abs() * 1e-3 + 1e-4,
                "{}",
                t.name()
            );
        }
    }
    // int8: calibrated on the run's corpus; the file parses as an INT8 model.
    let int8 = dir.path().join("q.mynah");
    ok(&["export", p(&out), "-o", p(&int8), "--dtype", "int8"]);
    let mapped = mynah_format::MappedModel::open(&int8).unwrap();
    let h = mapped.model().hyper();
    assert_eq!(h.weights, mynah_format::WeightsKind::Int8);
    assert_eq!((h.embed_dim, h.hidden_dim, h.num_layers), (8, 32, 2));
}

/// A bad invocation: non-zero exit, one clear line on stderr naming `needle`, no panic, and
/// `out` not created.
fn fails(args: &[&str], needle: &str, out: &Path) {
    let o = run(args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{args:?} succeeded");
    assert_eq!(o.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(
        stderr.contains(needle),
        "{args:?}: expected {needle:?} in {stderr:?}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(!out.exists(), "{args:?} created {}", out.display());
}

#[test]
fn bad_inputs_fail_cleanly_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("out");
    let good = write(d, "good.txt", fixture(2000).as_bytes());
    let empty = write(d, "empty.txt", b"");
    let latin1 = write(d, "latin1.txt", b"caf\xe9 au lait");
    let csv = write(d, "t.csv", b"id,text\n1,hello\n2,world\n3\n");
    let file = write(d, "plain-file", b"x");
    let train = |corpus: &Path, extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "train",
            "--corpus",
            p(corpus),
            "--out",
            p(&out),
            "--steps",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    fn s(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    let missing = d.join("missing.txt");
    fails(&s(&train(&missing, &[])), "missing.txt", &out);
    fails(&s(&train(&empty, &[])), "empty", &out);
    fails(
        &s(&train(&latin1, &[])),
        "invalid UTF-8 at byte offset 3",
        &out,
    );
    fails(
        &s(&train(
            &csv,
            &["--mode", "csv", "--csv-header", "--csv-column", "1"],
        )),
        "CSV row 3 (line 4) has 1 field(s), so --csv-column 1",
        &out,
    );
    fails(
        &s(&train(&csv, &["--mode", "csv", "--csv-column", "5"])),
        "--csv-column 5",
        &out,
    );
    fails(&s(&train(&good, &["--hidden", "0"])), "--hidden 0", &out);
    fails(&s(&train(&good, &["--layers", "5"])), "--layers 5", &out);
    fails(&s(&train(&good, &["--dropout", "1.5"])), "--dropout", &out);
    fails(
        &s(&train(&good, &["--cell", "foo"])),
        "unknown --cell \"foo\": expected gru, lstm or rnn",
        &out,
    );
    fails(
        &s(&train(&good, &["--arch", "transformer"])),
        "unknown --arch \"transformer\": expected recurrent or ngram",
        &out,
    );
    fails(
        &s(&train(&good, &["--arch", "ngram", "--layers", "2"])),
        "--layers 2 does not fit --arch ngram",
        &out,
    );
    for context in ["0", "99"] {
        fails(
            &s(&train(&good, &["--arch", "ngram", "--context", context])),
            &format!("--context {context} is out of range: it must be 1..=32"),
            &out,
        );
    }
    fails(
        &s(&train(&good, &["--arch", "ngram", "--activation", "x"])),
        "unknown --activation \"x\": expected relu or tanh",
        &out,
    );
    fails(
        &s(&train(&good, &["--context", "4"])),
        "--context is an option of the n-gram model: add --arch ngram",
        &out,
    );
    fails(
        &s(&train(&good, &["--arch", "ngram", "--cell", "lstm"])),
        "--cell is an option of recurrent models",
        &out,
    );
    // An output directory that cannot be created (its parent is a file).
    let under_file = file.join("run");
    fails(
        &[
            "train",
            "--corpus",
            p(&good),
            "--out",
            p(&under_file),
            "--steps",
            "1",
        ],
        "cannot create the output directory",
        &under_file,
    );
    // --resume from a directory without a checkpoint.
    let not_run = d.join("not-a-run");
    std::fs::create_dir(&not_run).unwrap();
    fails(
        &["train", "--resume", p(&not_run)],
        "holds no checkpoint",
        &out,
    );
    fails(
        &["eval", p(&not_run), "--corpus", p(&good)],
        "holds no checkpoint",
        &out,
    );
    fails(
        &["export", p(&file), "-o", p(&out)],
        "not a valid safetensors file",
        &out,
    );
    fails(
        &["export", p(&missing), "-o", p(&out)],
        "does not exist",
        &out,
    );
}

#[test]
fn resume_refuses_a_conflicting_configuration_and_an_existing_run() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write(dir.path(), "c.txt", fixture(3000).as_bytes());
    let out = dir.path().join("run");
    let mut args = vec!["train", "--corpus", p(&corpus), "--out", p(&out)];
    args.extend(TINY);
    args.extend([
        "--seq-len",
        "16",
        "--batch",
        "4",
        "--steps",
        "4",
        "--eval-every",
        "2",
    ]);
    ok(&args);
    let before = std::fs::read(out.join("latest.safetensors")).unwrap();
    let o = run(&["train", "--resume", p(&out), "--hidden", "64"]);
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("--hidden 64 (the run has 32)"), "{stderr}");
    let o = run(&args);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already holds a run"));
    assert_eq!(
        std::fs::read(out.join("latest.safetensors")).unwrap(),
        before
    );
    // A finished run resumed with a longer budget continues from where it stopped.
    let stdout = ok(&["train", "--resume", p(&out), "--steps", "6"]);
    assert!(stdout.contains("resuming"), "{stdout}");
    assert_eq!(
        ckpt_meta(&out.join("latest.safetensors"))["state"]["step"],
        6
    );
}

#[test]
fn ctrl_c_stops_validates_and_saves() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let corpus = write(dir.path(), "c.txt", fixture(3000).as_bytes());
    let out = dir.path().join("run");
    let mut child = Command::new(BIN)
        .args([
            "train",
            "--corpus",
            p(&corpus),
            "--out",
            p(&out),
            "--device",
            "cpu",
            "--threads",
            "1",
        ])
        .args(TINY)
        .args([
            "--seq-len",
            "16",
            "--batch",
            "4",
            "--steps",
            "100000000",
            "--eval-every",
            "5",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Wait for the first validation, then interrupt.
    for line in lines.by_ref() {
        if line.unwrap().contains("val ") {
            break;
        }
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        rest.last().unwrap().starts_with("interrupted at step"),
        "{rest:?}"
    );
    let meta = ckpt_meta(&out.join("latest.safetensors"));
    let step = meta["state"]["step"].as_u64().unwrap();
    assert!((5..100_000_000).contains(&step));
    assert!(meta["state"]["val_loss"].as_f64().is_some());
}

#[test]
fn time_limited_csv_run_anneals_and_saves() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("id,text\n");
    for (i, line) in fixture(4000).lines().enumerate() {
        // Quoted fields with commas and newlines are one record each.
        csv.push_str(&format!("{i},\"{line},\n{line}\"\n"));
    }
    let corpus = write(dir.path(), "t.csv", csv.as_bytes());
    let out = dir.path().join("run");
    let mut args = vec!["train", "--corpus", p(&corpus), "--out", p(&out)];
    args.extend(TINY);
    args.extend(["--mode", "csv", "--csv-column", "1", "--csv-header"]);
    args.extend([
        "--batch",
        "8",
        "--time-limit",
        "0.05",
        "--eval-every",
        "1000000",
    ]);
    args.extend(["--warmup", "2", "--log-every", "1"]);
    let stdout = ok(&args);
    assert!(stdout.contains("finished at step"), "{stdout}");
    let meta = ckpt_meta(&out.join("latest.safetensors"));
    assert!(meta["state"]["step"].as_u64().unwrap() >= 3);
    assert!(meta["state"]["elapsed_secs"].as_f64().unwrap() >= 3.0);
    // The schedule reached its floor (a tenth of the peak) by the end of the time budget.
    let lr = meta["state"]["lr"].as_f64().unwrap();
    assert!(lr < 0.15 * 8e-3, "final lr {lr}");
    assert_eq!(meta["config"]["mode"], "csv");
    // eval takes the mode and the CSV options from the checkpoint.
    let json = ok(&["eval", p(&out), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["nats_per_char"].as_f64().unwrap() > 0.0);
}

#[test]
fn csv_whose_validation_part_has_a_new_character_trains() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("id,text\n");
    for (i, line) in fixture(2000).lines().enumerate() {
        csv.push_str(&format!("{i},{line}\n"));
    }
    // The last record, in the validation part, holds the only 'Z'.
    csv.push_str("999,the Zebra\n");
    let corpus = write(dir.path(), "t.csv", csv.as_bytes());
    let out = dir.path().join("run");
    let mut args = vec!["train", "--corpus", p(&corpus), "--out", p(&out)];
    args.extend(TINY);
    args.extend(["--mode", "csv", "--csv-column", "1", "--csv-header"]);
    args.extend(["--batch", "8", "--steps", "4", "--eval-every", "2"]);
    ok(&args);
    let meta = ckpt_meta(&out.join("latest.safetensors"));
    let vocab: Vec<String> = serde_json::from_value(meta["vocab"].clone()).unwrap();
    assert!(vocab.contains(&"Z".to_owned()), "{vocab:?}");
    assert!(meta["state"]["val_loss"].as_f64().unwrap().is_finite());
    let json = ok(&["eval", p(&out), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["nats_per_char"].as_f64().unwrap().is_finite());
}

/// tests/fixtures/shakespeare-1x128.safetensors was exported before the vocabulary listed the
/// specials (`vocab` = the characters, `specials` = the specials): it still evaluates, samples
/// and exports, and re-exporting writes the new layout.
#[test]
fn the_old_safetensors_layout_still_reads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let fixtures = root.join("tests/fixtures");
    let model = fixtures.join("shakespeare-1x128.safetensors");
    let heldout = fixtures.join("shakespeare-heldout.txt");
    let (_, meta) = read_st(&model);
    assert!(meta.contains_key("specials"), "the fixture changed layout");
    let json = ok(&[
        "eval",
        p(&model),
        "--corpus",
        p(&heldout),
        "--split",
        "all",
        "--json",
    ]);
    let nats = common::nats_per_char(&json);
    assert!((1.0..2.0).contains(&nats), "{nats}");
    let sample = ok(&[
        "sample",
        p(&model),
        "--prompt",
        "ROMEO:",
        "--max-chars",
        "40",
    ]);
    assert!(sample.starts_with("ROMEO:"), "{sample}");
    let dir = tempfile::tempdir().unwrap();
    let again = dir.path().join("again.safetensors");
    ok(&["export", p(&model), "--safetensors", p(&again)]);
    let (tensors, new_meta) = read_st(&again);
    let tokens: Vec<String> = serde_json::from_str(&new_meta["vocab"]).unwrap();
    assert_eq!(tokens.len(), tensors["embed.weight"].0[0]);
    let json = ok(&[
        "eval",
        p(&again),
        "--corpus",
        p(&heldout),
        "--split",
        "all",
        "--json",
    ]);
    assert_eq!(common::nats_per_char(&json), nats);
}

/// Rewrites a checkpoint as mynah-train wrote it before architectures and specials were
/// recorded (checkpoint version 1): no `arch`/`cell`/`context`/`activation` in the
/// configuration, no `specials` in the run metadata, `vocab` the characters only.
fn downgrade_to_version_1(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap();
    let mut run: serde_json::Value = serde_json::from_str(&meta["mynah"]).unwrap();
    for key in ["arch", "cell", "context", "activation"] {
        run["config"].as_object_mut().unwrap().remove(key).unwrap();
    }
    run.as_object_mut().unwrap().remove("specials").unwrap();
    let tokens: Vec<String> = serde_json::from_str(&meta["vocab"]).unwrap();
    meta.insert("vocab".into(), serde_json::to_string(&tokens[3..]).unwrap());
    meta.insert("specials".into(), r#"["<PAD>","<BOS>","<EOS>"]"#.into());
    meta.remove("arch").unwrap();
    meta.insert("format_version".into(), "1".into());
    meta.insert("mynah".into(), run.to_string());
    let views: Vec<(String, safetensors::tensor::TensorView)> = st.tensors();
    let out = safetensors::serialize(views, &Some(meta)).unwrap();
    std::fs::write(path, out).unwrap();
}

#[test]
fn a_version_1_checkpoint_resumes_as_a_gru() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write(dir.path(), "c.txt", fixture(3000).as_bytes());
    let flags = [
        TINY,
        &["--seq-len", "16", "--batch", "4", "--steps", "8"],
        &["--eval-every", "4", "--log-every", "2", "--warmup", "2"],
    ]
    .concat();
    let straight = dir.path().join("straight");
    ok(&common::strs(&common::train_argv(
        &corpus, &straight, &flags,
    )));
    let old = dir.path().join("old");
    let mut a = common::train_argv(&corpus, &old, &flags);
    a.extend(["--stop-at".into(), "4".into()]);
    ok(&common::strs(&a));
    for name in ["latest.safetensors", "best.safetensors"] {
        downgrade_to_version_1(&old.join(name));
    }
    let json = ok(&["eval", p(&old), "--json"]);
    assert!(common::nats_per_char(&json).is_finite());
    ok(&["train", "--resume", p(&old)]);
    common::assert_same_runs(&straight, &old);
}
