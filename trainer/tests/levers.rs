//! The training levers end to end: every new flag's bad values fail cleanly; distillation,
//! the extra dropouts and weight decay resume bit-exactly; a `--qat` phase on `--resume`
//! fine-tunes a float run, resumes bit-exactly, and exports an int8 file that the integer
//! runtime scores like the trainer's validation; a size budget trains a shape whose file
//! fits.

mod common;

use common::*;
use mynah_format::AlignedBytes;
use mynah_quant::engine::{score, HostModel, IntRunner};
use mynah_text::{Corpus, ModeKind, Split, UnkPolicy};
use std::path::{Path, PathBuf};

const TINY: &[&str] = &[
    "--embed",
    "8",
    "--hidden",
    "32",
    "--seq-len",
    "24",
    "--batch",
    "8",
    "--sample-every",
    "0",
    "--warmup",
    "5",
];

fn train(corpus: &Path, out: &Path, flags: &[&str]) -> Vec<String> {
    let mut a = train_argv(corpus, out, TINY);
    a.extend(flags.iter().map(|s| s.to_string()));
    a
}

/// A teacher for the distillation tests: a slightly larger model, 30 steps.
fn teacher(dir: &Path, corpus: &Path) -> PathBuf {
    let out = dir.join("teacher");
    let mut a = train_argv(corpus, &out, &["--hidden", "48", "--seq-len", "24"]);
    a.extend(
        [
            "--batch",
            "8",
            "--steps",
            "30",
            "--eval-every",
            "30",
            "--sample-every",
            "0",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    ok(&strs(&a));
    out
}

#[test]
fn bad_lever_values_fail_cleanly_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let corpus = write(d, "c.txt", fixture(3000).as_bytes());
    let other = write(d, "o.txt", b"entirely different characters: XYZ 123");
    let out = d.join("out");
    let teacher_run = teacher(d, &corpus);
    let t = p(&teacher_run);
    let nowhere = d.join("nowhere");
    let cases: &[(&[&str], &str)] = &[
        (&["--qat", "int3"], "unknown --qat \"int3\""),
        (&["--factored", "maybe"], "unknown --factored \"maybe\""),
        (
            &["--factored", "auto"],
            "--factored auto needs --budget-bytes",
        ),
        (
            &["--budget-bytes", "lots", "--dtype", "int8"],
            "--budget-bytes \"lots\" is not a number",
        ),
        (
            &["--budget-bytes", "0", "--dtype", "int8"],
            "--budget-bytes 0 is out of range",
        ),
        (
            &["--budget-bytes", "100", "--dtype", "int8"],
            "no model fits --budget-bytes 100",
        ),
        (&["--budget-bytes", "50000"], "--budget-bytes needs --dtype"),
        (&["--dtype", "int8"], "--dtype goes with --budget-bytes"),
        (
            &["--budget-bytes", "50000", "--dtype", "f16"],
            "unknown --dtype \"f16\"",
        ),
        (
            &[
                "--budget-bytes",
                "50000",
                "--dtype",
                "int8",
                "--qat",
                "int4",
            ],
            "--qat int4 does not match --dtype int8",
        ),
        (&["--teacher", p(&nowhere)], "nowhere does not exist"),
        (&["--teacher", p(&corpus)], "--teacher"),
        (
            &["--distill-temperature", "2"],
            "--distill-temperature goes with --teacher",
        ),
        (
            &["--teacher", t, "--distill-temperature", "-1"],
            "--distill-temperature -1 is out of range",
        ),
        (&["--teacher-once"], "--teacher-once goes with --teacher"),
        (
            &["--teacher", t, "--distill-weight", "2"],
            "--distill-weight 2 is out of range",
        ),
        (
            &["--teacher", t, "--distill-weight", "half"],
            "--distill-weight \"half\" is not a number",
        ),
        (
            &["--embed-dropout", "1"],
            "--embed-dropout 1 is out of range",
        ),
        (
            &["--proj-dropout", "x"],
            "--proj-dropout \"x\" is not a number",
        ),
        (
            &["--weight-decay", "-0.1"],
            "--weight-decay -0.1 is out of range",
        ),
        (
            &["--arch", "ngram", "--factored", "on"],
            "--factored on is for recurrent models",
        ),
    ];
    for (flags, needle) in cases {
        let a = train(&corpus, &out, &[&["--steps", "1"], *flags].concat());
        let e = fails(&strs(&a));
        assert!(e.contains(needle), "{flags:?}: {e}");
        assert_eq!(e.trim_end().lines().count(), 1, "{e}");
        assert!(!out.exists(), "{flags:?} created {}", out.display());
    }
    let a = train_argv(
        &corpus,
        &out,
        &[
            "--budget-bytes",
            "9000",
            "--dtype",
            "int8",
            "--hidden",
            "1024",
        ],
    );
    let e = fails(&strs(&a));
    assert!(e.contains("--hidden 1024 is too wide"), "{e}");
    // A teacher of another vocabulary.
    let a = train_argv(&other, &out, &["--steps", "1", "--teacher", t]);
    let e = fails(&strs(&a));
    assert!(e.contains("another vocabulary"), "{e}");
    assert!(!out.exists());
    // --teacher-once needs one stream of text: records are batched by length.
    let lines_teacher = d.join("lines-teacher");
    let a = train(
        &corpus,
        &lines_teacher,
        &["--mode", "lines", "--steps", "2"],
    );
    ok(&strs(&a));
    let flags = [
        "--mode",
        "lines",
        "--steps",
        "1",
        "--teacher-once",
        "--teacher",
    ];
    let a = train(&corpus, &out, &[&flags[..], &[p(&lines_teacher)]].concat());
    let e = fails(&strs(&a));
    assert!(e.contains("--teacher-once is for text mode"), "{e}");
    assert!(!out.exists());
}

/// A run stopped at 20 and resumed equals a straight one: the checkpoints and metrics.
fn resume_equals_straight(dir: &Path, corpus: &Path, flags: &[&str]) {
    let (straight, split) = (dir.join("straight"), dir.join("split"));
    let common = [
        flags,
        &["--steps", "40", "--eval-every", "10", "--log-every", "5"],
    ]
    .concat();
    ok(&strs(&train(corpus, &straight, &common)));
    ok(&strs(&train(
        corpus,
        &split,
        &[&common[..], &["--stop-at", "20"]].concat(),
    )));
    ok(&["train", "--resume", p(&split)]);
    assert_same_runs(&straight, &split);
}

#[test]
fn distillation_dropouts_and_weight_decay_resume_bit_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write(dir.path(), "c.txt", fixture(6000).as_bytes());
    let teacher_run = teacher(dir.path(), &corpus);
    let flags = [
        "--teacher",
        p(&teacher_run),
        "--distill-temperature",
        "1.5",
        "--distill-weight",
        "0.7",
        "--embed-dropout",
        "0.1",
        "--proj-dropout",
        "0.2",
        "--weight-decay",
        "0.1",
    ];
    resume_equals_straight(dir.path(), &corpus, &flags);
    let meta = ckpt_meta(&dir.path().join("straight/latest.safetensors"));
    let c = &meta["config"];
    assert_eq!(c["teacher"]["weight"], 0.7);
    assert_eq!(c["teacher"]["fingerprint"].as_str().unwrap().len(), 16);
    assert_eq!(
        (&c["embed_dropout"], &c["weight_decay"]),
        (&0.1.into(), &0.1.into())
    );
    // A changed teacher is refused on resume: its best checkpoint becomes another model of
    // the same vocabulary.
    let split = dir.path().join("split");
    let t2 = dir.path().join("t2");
    ok(&strs(&train(
        &corpus,
        &t2,
        &["--steps", "1", "--eval-every", "1"],
    )));
    std::fs::copy(
        t2.join("best.safetensors"),
        teacher_run.join("best.safetensors"),
    )
    .unwrap();
    let e = fails(&["train", "--resume", p(&split), "--steps", "45"]);
    assert!(e.contains("has changed since this run started"), "{e}");
}

#[test]
fn a_teacher_run_once_resumes_bit_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write(dir.path(), "c.txt", fixture(6000).as_bytes());
    let teacher_run = teacher(dir.path(), &corpus);
    let flags = ["--teacher", p(&teacher_run), "--teacher-once"];
    resume_equals_straight(dir.path(), &corpus, &flags);
    let meta = ckpt_meta(&dir.path().join("straight/latest.safetensors"));
    assert_eq!(meta["config"]["teacher"]["once"], true);
    // It is a lever of its own: the same run with the teacher on every batch learns
    // otherwise.
    let every = dir.path().join("every");
    let common = ["--steps", "40", "--eval-every", "10", "--log-every", "5"];
    let a = train(&corpus, &every, &[&common[..], &flags[..2]].concat());
    ok(&strs(&a));
    let val_losses = |run: &Path| -> Vec<String> {
        let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
        csv.lines()
            .map(|l| l.split(',').nth(2).unwrap().to_owned())
            .collect()
    };
    let (once, per_batch) = (val_losses(&dir.path().join("straight")), val_losses(&every));
    assert_eq!(once.len(), per_batch.len());
    assert_ne!(once, per_batch);
}

#[test]
fn a_model_file_teaches_once_and_resumes_bit_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let corpus = write(d, "c.txt", fixture(6000).as_bytes());
    let teacher_run = teacher(d, &corpus);
    let file = d.join("teacher.mynah");
    ok(&["export", p(&teacher_run), "-o", p(&file), "--dtype", "int8"]);
    // Its engine runs one stream at a time: --teacher-once is asked for, nothing written.
    let out = d.join("out");
    let e = fails(&strs(&train(
        &corpus,
        &out,
        &["--steps", "1", "--teacher", p(&file)],
    )));
    assert!(
        e.contains("is a model file") && e.contains("add --teacher-once"),
        "{e}"
    );
    assert!(!out.exists());
    resume_equals_straight(d, &corpus, &["--teacher", p(&file), "--teacher-once"]);
    let meta = ckpt_meta(&d.join("straight/latest.safetensors"));
    assert_eq!(meta["config"]["teacher"]["once"], true);
    // Another file at the same path is refused on resume.
    ok(&["export", p(&teacher_run), "-o", p(&file), "--dtype", "int4"]);
    let e = fails(&["train", "--resume", p(&d.join("split")), "--steps", "45"]);
    assert!(e.contains("has changed since this run started"), "{e}");
}

/// The integer runtime's nats/char on the validation part for an int8 file.
fn int8_val(file: &Path, corpus: &Path) -> f64 {
    let bytes = AlignedBytes::copy_from(&std::fs::read(file).unwrap());
    let model = bytes.model().unwrap();
    let host = HostModel::new(&model).unwrap();
    let vocab = mynah_quant::engine::file_vocab(&model).unwrap();
    let seqs = Corpus::load(corpus, ModeKind::Text.with(0, false))
        .unwrap()
        .part(Split::Val)
        .eval_sequences(&vocab, UnkPolicy::Error)
        .unwrap();
    score(&mut IntRunner::new(&host), &seqs)
        .unwrap()
        .nats_per_char()
}

#[test]
fn a_qat_phase_fine_tunes_a_float_run_resumes_and_exports() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let corpus = write(d, "c.txt", fixture(6000).as_bytes());
    let (a, b) = (d.join("a"), d.join("b"));
    let float = ["--steps", "20", "--eval-every", "10", "--log-every", "5"];
    ok(&strs(&train(&corpus, &a, &float)));
    ok(&strs(&train(&corpus, &b, &float)));
    let float_best = ckpt_meta(&a.join("best.safetensors"));
    let e = fails(&["train", "--resume", p(&a), "--qat", "int8"]);
    assert!(
        e.contains("starts a fine-tuning phase after step 20"),
        "{e}"
    );
    let phase = ["--qat", "int8", "--steps", "20", "--lr", "0.004"];
    let stdout = ok(&[&["train", "--resume", p(&a)][..], &phase].concat());
    assert!(stdout.contains("best-float.safetensors"), "{stdout}");
    assert!(
        stdout.contains("qat-int8 phase that started at step 20 (at step 40)"),
        "{stdout}"
    );
    ok(&[
        &["train", "--resume", p(&b)][..],
        &phase,
        &["--stop-at", "30"],
    ]
    .concat());
    ok(&["train", "--resume", p(&b)]);
    assert_same_runs(&a, &b);

    let meta = ckpt_meta(&a.join("latest.safetensors"));
    assert_eq!(meta["state"]["step"], 40);
    let phases = &meta["config"]["phases"];
    assert_eq!(
        (&phases[0]["start_step"], &phases[0]["lr"]),
        (&20.into(), &0.004.into())
    );
    assert_eq!(meta["config"]["qat"], "int8");
    // The float phase's best is kept; the run's best is the QAT phase's.
    assert_eq!(ckpt_meta(&a.join("best-float.safetensors")), float_best);
    assert!(ckpt_meta(&a.join("best.safetensors"))["state"]["best_step"].as_u64() > Some(20));

    // The QAT validation is what the integer runtime scores for the exported file
    // (without bias correction: the QAT model's biases are already its own).
    let ours = nats_per_char(&ok(&["eval", p(&a), "--json"]));
    let int8 = d.join("q.mynah");
    ok(&[
        "export",
        p(&a),
        "-o",
        p(&int8),
        "--dtype",
        "int8",
        "--calib-chars",
        "0",
    ]);
    let theirs = int8_val(&int8, &corpus);
    assert!(
        (ours - theirs).abs() <= 0.002 * ours,
        "QAT validation {ours} vs the int8 runtime {theirs}"
    );
}

/// Trains 2 steps under a size budget (`flags` after the corpus and output) and returns the
/// line `size budget …` it printed and the file size that line promises.
fn budget_run(corpus: &Path, out: &Path, flags: &[&str], line_start: &str) -> (String, usize) {
    let mut a = train_argv(corpus, out, flags);
    a.extend(["--steps", "2", "--eval-every", "2", "--sample-every", "0"].map(String::from));
    let stdout = ok(&strs(&a));
    let line = stdout
        .lines()
        .find(|l| l.starts_with(line_start))
        .unwrap_or_else(|| panic!("{stdout}"))
        .to_string();
    let size = line
        .rsplit_once("its file ")
        .and_then(|(_, s)| s.strip_suffix(" bytes"))
        .unwrap()
        .parse()
        .unwrap();
    (line, size)
}

#[test]
fn a_size_budget_trains_a_shape_whose_file_fits() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let corpus = write(d, "c.txt", fixture(3000).as_bytes());
    let out = d.join("run");
    let flags = [
        "--budget-bytes",
        "20000",
        "--dtype",
        "int8",
        "--factored",
        "off",
        "--layers",
        "1",
    ];
    let (_, size) = budget_run(
        &corpus,
        &out,
        &flags,
        "size budget 20000 bytes as int8: gru 1×",
    );
    let int8 = d.join("q.mynah");
    ok(&["export", p(&out), "-o", p(&int8), "--dtype", "int8"]);
    let len = std::fs::metadata(&int8).unwrap().len() as usize;
    assert_eq!(len, size);
    assert!(len <= 20_000);
    let config = ckpt_meta(&out.join("latest.safetensors"))["config"].clone();
    assert_eq!(config["budget"]["file_bytes"], size);
    assert_eq!(config["layers"], 1);
    // A budget does not apply to a resumed run.
    let e = fails(&[
        "train",
        "--resume",
        p(&out),
        "--budget-bytes",
        "20000",
        "--dtype",
        "int8",
    ]);
    assert!(e.contains("--budget-bytes/--dtype"), "{e}");
}

#[test]
fn an_int4_factored_budget_exports_to_its_exact_size_and_bad_export_flags_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let corpus = write(d, "c.txt", fixture(3000).as_bytes());
    let out = d.join("run");
    let flags = [
        "--budget-bytes",
        "12000",
        "--dtype",
        "int4",
        "--factored",
        "on",
    ];
    let (line, size) = budget_run(&corpus, &out, &flags, "size budget 12000 bytes as int4:");
    assert!(line.contains("factored input layer"), "{line}");
    let int4 = d.join("q4.mynah");
    let args = ["export", p(&out), "-o", p(&int4), "--dtype", "int4"];
    ok(&[&args[..], &["--factored", "--calib-chars", "0"]].concat());
    assert_eq!(std::fs::metadata(&int4).unwrap().len() as usize, size);
    assert!(size <= 12_000);
    // The file is what the integer runtime loads: `mynah inspect` is the tools' job, so
    // here its header: version 3, FACTORED, weights kind INT4.
    let bytes = std::fs::read(&int4).unwrap();
    assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 3);
    assert_eq!(u32::from_le_bytes(bytes[12..16].try_into().unwrap()) & 2, 2);
    assert_eq!(u32::from_le_bytes(bytes[16..20].try_into().unwrap()), 2);

    // --factored is a form of the integer file: a float export with it fails, writing nothing.
    let f32_out = d.join("f.mynah");
    let e = fails(&[
        "export",
        p(&out),
        "-o",
        p(&f32_out),
        "--dtype",
        "f32",
        "--factored",
    ]);
    assert!(
        e.contains("--factored is a form of the integer file"),
        "{e}"
    );
    assert!(!f32_out.exists());
    let e = fails(&["export", p(&out), "-o", p(&f32_out), "--dtype", "int2"]);
    assert!(e.contains("int2"), "{e}");
    assert!(!f32_out.exists());
    assert_eq!(temp_files(d), Vec::<PathBuf>::new());

    // Compensated rounding and tuning keep the file's size and form.
    let tuned = d.join("tuned.mynah");
    let args = [
        "export",
        p(&out),
        "-o",
        p(&tuned),
        "--dtype",
        "int4",
        "--factored",
    ];
    let more = [
        "--rounding",
        "compensated",
        "--tune-steps",
        "3",
        "--calib-chars",
        "500",
    ];
    let said = ok(&[&args[..], &more[..]].concat());
    assert!(
        said.contains("tuned scales, biases and embedding for 3 steps"),
        "{said}"
    );
    assert_eq!(std::fs::metadata(&tuned).unwrap().len() as usize, size);
    // Their bad values fail before anything is written.
    for (bad, says) in [
        (
            &["--dtype", "int4", "--rounding", "stochastic"][..],
            "--rounding \"stochastic\"",
        ),
        (
            &["--dtype", "f32", "--tune-steps", "5"][..],
            "--tune-steps tunes an integer file",
        ),
        (&["--dtype", "int8", "--tune-lr", "0"][..], "--tune-lr 0"),
        (
            &["--dtype", "int8", "--tune-steps", "5", "--calib-chars", "0"][..],
            "--calib-chars 0",
        ),
    ] {
        let e = fails(&[&["export", p(&out), "-o", p(&f32_out)][..], bad].concat());
        assert!(e.contains(says), "{bad:?}: {e}");
        assert!(!f32_out.exists(), "{bad:?}");
    }
    assert_eq!(temp_files(d), Vec::<PathBuf>::new());
}
