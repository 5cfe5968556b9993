//! Parsing, range checks and the rules of `--resume` for the levers.

use super::*;
use crate::config::{Overrides, ResumeAt, TrainConfig};

fn args(pairs: &[(&str, &str)]) -> LeverArgs {
    let mut a = LeverArgs::default();
    for &(flag, v) in pairs {
        let v = Some(v.to_owned());
        match flag {
            "qat" => a.qat = v,
            "factored" => a.factored = v,
            "budget" => a.budget_bytes = v,
            "dtype" => a.dtype = v,
            "teacher" => a.teacher = v.map(PathBuf::from),
            "t" => a.distill_temperature = v,
            "a" => a.distill_weight = v,
            "once" => a.teacher_once = true,
            "embed" => a.embed_dropout = v,
            "proj" => a.proj_dropout = v,
            "wd" => a.weight_decay = v,
            _ => unreachable!("{flag}"),
        }
    }
    a
}

fn config(pairs: &[(&str, &str)]) -> Result<TrainConfig> {
    let o = Overrides {
        levers: args(pairs).parse()?,
        ..Overrides::default()
    };
    TrainConfig::from_overrides(&o, "x".into())
}

fn error(pairs: &[(&str, &str)]) -> String {
    config(pairs).unwrap_err().to_string()
}

#[test]
fn defaults_are_the_behaviour_from_before_and_old_configs_read_them() {
    let c = config(&[]).unwrap();
    assert_eq!(c.levers, Levers::default());
    assert_eq!((c.qat_spec(), c.levers.weight_decay), (None, 0.0));
    let mut json = serde_json::to_value(&c).unwrap();
    let obj = json.as_object_mut().unwrap();
    for key in [
        "qat",
        "factored",
        "embed_dropout",
        "proj_dropout",
        "weight_decay",
        "teacher",
        "budget",
        "phases",
    ] {
        assert!(obj.remove(key).is_some(), "{key}");
    }
    let old: TrainConfig = serde_json::from_value(json).unwrap();
    assert_eq!(old, c);
}

#[test]
fn values_are_parsed_and_kept() {
    let c = config(&[
        ("qat", "int4"),
        ("factored", "on"),
        ("teacher", "runs/big"),
        ("t", "3"),
        ("embed", "0.1"),
        ("proj", "0.25"),
        ("wd", "0.05"),
    ])
    .unwrap();
    let l = &c.levers;
    assert_eq!((l.qat, l.factored), (Some(QuantKind::Int4), true));
    let d = l.teacher.as_ref().unwrap();
    assert_eq!((d.temperature, d.weight), (3.0, DISTILL_WEIGHT));
    assert_eq!(
        (l.embed_dropout, l.proj_dropout, l.weight_decay),
        (0.1, 0.25, 0.05)
    );
    let b = config(&[("budget", "131072"), ("dtype", "int8")]).unwrap();
    let budget = b.levers.budget.unwrap();
    assert_eq!(
        (budget.bytes, budget.dtype, budget.input),
        (131_072, QuantKind::Int8, Factored::Auto)
    );
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(
        (&json["qat"], &json["factored"]),
        (&"int4".into(), &true.into())
    );
}

#[test]
fn bad_values_name_their_flag() {
    for (pairs, needle) in [
        (
            vec![("qat", "int2")],
            "unknown --qat \"int2\": expected int8 or int4",
        ),
        (
            vec![("factored", "yes")],
            "unknown --factored \"yes\": expected auto, on or off",
        ),
        (
            vec![("budget", "12k"), ("dtype", "int8")],
            "--budget-bytes \"12k\" is not a number",
        ),
        (
            vec![("budget", "0"), ("dtype", "int8")],
            "--budget-bytes 0 is out of range",
        ),
        (
            vec![("budget", "-5"), ("dtype", "int8")],
            "--budget-bytes \"-5\" is not a number",
        ),
        (
            vec![("budget", "9999999999"), ("dtype", "int8")],
            "--budget-bytes 9999999999 is out of range",
        ),
        (vec![("budget", "1000")], "--budget-bytes needs --dtype"),
        (vec![("dtype", "int4")], "--dtype goes with --budget-bytes"),
        (
            vec![("budget", "1000"), ("dtype", "f32")],
            "unknown --dtype \"f32\": expected int8 or int4",
        ),
        (
            vec![("budget", "1000"), ("dtype", "int8"), ("qat", "int4")],
            "--qat int4 does not match --dtype int8",
        ),
        (
            vec![("factored", "auto")],
            "--factored auto needs --budget-bytes",
        ),
        (
            vec![("t", "2")],
            "--distill-temperature goes with --teacher",
        ),
        (vec![("a", "0.3")], "--distill-weight goes with --teacher"),
        (vec![("once", "")], "--teacher-once goes with --teacher"),
        (
            vec![("teacher", "t"), ("t", "0")],
            "--distill-temperature 0 is out of range",
        ),
        (
            vec![("teacher", "t"), ("t", "inf")],
            "--distill-temperature inf is out of range",
        ),
        (
            vec![("teacher", "t"), ("t", "x")],
            "--distill-temperature \"x\" is not a number",
        ),
        (
            vec![("teacher", "t"), ("a", "1.5")],
            "--distill-weight 1.5 is out of range",
        ),
        (
            vec![("teacher", "t"), ("a", "0")],
            "--distill-weight 0 is out of range",
        ),
        (vec![("embed", "1")], "--embed-dropout 1 is out of range"),
        (
            vec![("proj", "-0.1")],
            "--proj-dropout -0.1 is out of range",
        ),
        (vec![("proj", "NaN")], "--proj-dropout NaN is out of range"),
        (vec![("wd", "1")], "--weight-decay 1 is out of range"),
        (
            vec![("wd", "lots")],
            "--weight-decay \"lots\" is not a number",
        ),
    ] {
        let e = error(&pairs);
        assert!(e.contains(needle), "{pairs:?}: {e}");
    }
    let ngram = Overrides {
        arch: Some(crate::config::ArchKind::Ngram),
        levers: args(&[("factored", "on")]).parse().unwrap(),
        ..Overrides::default()
    };
    let e = TrainConfig::from_overrides(&ngram, "x".into()).unwrap_err();
    assert!(
        e.to_string()
            .contains("--factored on is for recurrent models"),
        "{e}"
    );
}

fn resume(
    stored: &TrainConfig,
    pairs: &[(&str, &str)],
    steps: Option<u64>,
    lr: Option<f64>,
) -> Result<TrainConfig> {
    let o = Overrides {
        levers: args(pairs).parse()?,
        steps,
        lr,
        ..Overrides::default()
    };
    TrainConfig::resumed(
        stored,
        &o,
        ResumeAt {
            step: 3000,
            secs: 600.0,
        },
    )
}

/// Why [`resume`] refuses these flags.
fn resume_error(stored: &TrainConfig, pairs: &[(&str, &str)], steps: Option<u64>) -> String {
    resume(stored, pairs, steps, None).unwrap_err().to_string()
}

#[test]
fn a_new_qat_starts_a_phase_that_may_change_the_training() {
    let float = config(&[("embed", "0.1")]).unwrap();
    let e = resume_error(&float, &[("qat", "int8")], None);
    assert!(
        e.contains("--qat int8 on --resume starts a fine-tuning phase after step 3000"),
        "{e}"
    );
    let q = resume(
        &float,
        &[
            ("qat", "int8"),
            ("embed", "0"),
            ("wd", "0.01"),
            ("factored", "on"),
        ],
        Some(500),
        None,
    )
    .unwrap();
    assert_eq!(
        q.levers.phases,
        [Phase {
            start_step: 3000,
            start_secs: 600.0,
            qat: Some(QuantKind::Int8),
            lr: float.lr / 10.0
        }]
    );
    assert_eq!(
        (q.levers.qat, q.levers.factored),
        (Some(QuantKind::Int8), true)
    );
    assert_eq!(
        (q.levers.embed_dropout, q.levers.weight_decay, q.steps),
        (0.0, 0.01, Some(500))
    );
    // The same --qat again continues the phase; a second kind starts another at its own lr.
    let again = resume(&q, &[("qat", "int8")], None, None).unwrap();
    assert_eq!(again, q);
    let int4 = resume(
        &q,
        &[("qat", "int4"), ("teacher", "runs/t"), ("a", "0.9")],
        Some(100),
        Some(3e-4),
    )
    .unwrap();
    assert_eq!(int4.levers.phases.len(), 2);
    assert_eq!(int4.levers.phases[1].lr, 3e-4);
    assert!((int4.final_lr() - 3e-5).abs() < 1e-18);
    let d = int4.levers.teacher.unwrap();
    assert_eq!(
        (d.path, d.temperature, d.weight),
        (PathBuf::from("runs/t"), 2.0, 0.9)
    );
}

#[test]
fn without_a_new_phase_the_levers_are_the_runs() {
    let run = config(&[("teacher", "t"), ("wd", "0.1")]).unwrap();
    assert!(resume(&run, &[("wd", "0.1"), ("a", "0.5")], None, None).is_ok());
    for (pairs, needle) in [
        (vec![("wd", "0.2")], "--weight-decay 0.2 (the run has 0.1)"),
        (
            vec![("embed", "0.3")],
            "--embed-dropout 0.3 (the run has 0)",
        ),
        (vec![("t", "4")], "--distill-temperature 4 (the run has 2)"),
        (vec![("factored", "on")], "--factored on (the run has off"),
        (
            vec![("factored", "auto")],
            "--factored auto (it goes with --budget-bytes)",
        ),
        (
            vec![("budget", "100"), ("dtype", "int8")],
            "--budget-bytes/--dtype",
        ),
    ] {
        let e = resume(&run, &pairs, None, None).unwrap_err().to_string();
        assert!(e.contains(needle), "{pairs:?}: {e}");
    }
    let e = resume(&run, &[], None, Some(1e-3)).unwrap_err().to_string();
    assert!(e.contains("--lr 0.001 (the run has 0.008)"), "{e}");
    // --teacher-once: repeated on a run that has it, refused on one that has not.
    let e = resume_error(&run, &[("once", "")], None);
    assert!(
        e.contains("--teacher-once (the run's teacher runs on every batch"),
        "{e}"
    );
    let once = config(&[("teacher", "t"), ("once", "")]).unwrap();
    assert!(once.levers.teacher.as_ref().unwrap().once);
    assert!(resume(&once, &[("once", "")], None, None).is_ok());
    // A new phase may turn it on; a run without a teacher refuses it.
    let phase = resume(&run, &[("qat", "int8"), ("once", "")], Some(100), None).unwrap();
    assert!(phase.levers.teacher.unwrap().once);
    let plain = config(&[]).unwrap();
    let e = resume_error(&plain, &[("qat", "int8"), ("once", "")], Some(100));
    assert!(
        e.contains("--teacher-once (the run has no --teacher)"),
        "{e}"
    );
    // A config from before --teacher-once reads as a teacher run on every batch.
    let mut json = serde_json::to_value(&once).unwrap();
    json["teacher"].as_object_mut().unwrap().remove("once");
    let old: TrainConfig = serde_json::from_value(json).unwrap();
    assert!(!old.levers.teacher.unwrap().once);
    let e = resume_error(&plain, &[("teacher", "t")], None);
    assert!(e.contains("the run has no teacher"), "{e}");
}

#[test]
fn describe_names_what_is_on() {
    assert_eq!(describe(&Levers::default()), None);
    let c = config(&[("qat", "int4"), ("proj", "0.2")]).unwrap();
    assert_eq!(
        describe(&c.levers).unwrap(),
        "quantization-aware training int4 (token table); projection dropout 0.2"
    );
}
