//! `mynah sample`, `eval`, `bench` and the quantization part of `inspect`, run as a user
//! runs them, on the golden fixture and on a synthetic float model.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mynah_format::{Arch, Specials};
use mynah_quant::synthetic::{fixture_archs, fixture_spec, float_file, synthetic_model};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tiny-int8.mynah")
}

fn mynah(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mynah"))
        .args(args)
        .output()
        .expect("run mynah")
}

fn ok(args: &[&str]) -> String {
    let out = mynah(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Fails with the stderr text; checks it is a clean error, not a panic.
fn fails(args: &[&str]) -> String {
    let out = mynah(args);
    assert!(!out.status.success(), "{args:?} should fail");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert!(err.starts_with("error: "), "{err}");
    err
}

#[test]
fn sample_is_deterministic_and_stops_records_at_eos() {
    let f = fixture();
    let f = f.to_str().unwrap();
    let args = [
        "sample",
        f,
        "--temperature",
        "0.8",
        "--prime",
        "the ",
        "--max-len",
        "60",
        "--count",
        "4",
        "--seed",
        "1",
    ];
    let a = ok(&args);
    assert_eq!(a, ok(&args), "same seed, same text");
    // Records model: one record per line, each starting with the prime.
    let lines: Vec<&str> = a.lines().collect();
    assert_eq!(lines.len(), 4, "{a}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("the ") && l.chars().count() <= 64),
        "{a}"
    );
    // The golden streams of the runtime (seed 1, T 0.8, "the "): the CLI prints the same.
    let golden = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tiny-int8.golden"),
    )
    .unwrap();
    let case = golden
        .lines()
        .find(|l| l.starts_with("1\t800\t0\tthe \t"))
        .unwrap();
    let records: Vec<&str> = case
        .rsplit('\t')
        .next()
        .unwrap()
        .split(['|', '~'])
        .filter(|r| !r.is_empty())
        .collect();
    assert_eq!(lines, records);
    let b = ok(&[
        "sample",
        f,
        "--seed",
        "2",
        "--max-len",
        "60",
        "--count",
        "4",
        "--prime",
        "the ",
    ]);
    assert_ne!(a, b, "another seed, another text");
    let greedy = ok(&[
        "sample",
        f,
        "--temperature",
        "0",
        "--max-len",
        "20",
        "--top-k",
        "3",
    ]);
    assert_eq!(
        greedy,
        ok(&[
            "sample",
            f,
            "--temperature",
            "0",
            "--max-len",
            "20",
            "--seed",
            "9"
        ])
    );
}

#[test]
fn bad_inputs_are_clear_errors() {
    let f = fixture();
    let f = f.to_str().unwrap();
    let e = fails(&["sample", f, "--prime", "hello Ωmega"]);
    assert!(e.contains("'Ω'") && e.contains("position 6"), "{e}");
    assert!(fails(&["sample", f, "--temperature", "-0.5"]).contains("-0.5"));
    assert!(fails(&["sample", f, "--temperature", "NaN"]).contains("NaN"));
    assert!(fails(&["sample", f, "--temperature", "abc"]).contains("abc"));
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture()).unwrap();
    let trunc = dir.path().join("trunc.mynah");
    std::fs::write(&trunc, &bytes[..bytes.len() / 2]).unwrap();
    let e = fails(&["sample", trunc.to_str().unwrap()]);
    assert!(e.contains("truncated") && e.contains("trunc.mynah"), "{e}");
    let mut flipped = bytes.clone();
    flipped[5000] ^= 0x10;
    let bad = dir.path().join("flipped.mynah");
    std::fs::write(&bad, &flipped).unwrap();
    let e = fails(&[
        "eval",
        bad.to_str().unwrap(),
        "--corpus",
        bad.to_str().unwrap(),
    ]);
    assert!(
        e.to_lowercase().contains("checksum") || e.contains("crc"),
        "{e}"
    );
    assert!(
        fails(&["bench", dir.path().join("missing.mynah").to_str().unwrap()])
            .contains("missing.mynah")
    );
    let f = fixture();
    assert!(fails(&["bench", f.to_str().unwrap(), "--repeat", "0"]).contains("--repeat"));
}

/// `{"nats_per_char": x, "bits_per_char": y, "chars": n}` of `mynah eval --json`.
fn parse_json(s: &str) -> (f64, f64, u64) {
    let s = s.trim();
    assert!(
        s.starts_with('{') && s.ends_with('}') && s.lines().count() == 1,
        "{s}"
    );
    let get = |k: &str| {
        s.split(&format!("\"{k}\": "))
            .nth(1)
            .unwrap()
            .split([',', '}'])
            .next()
            .unwrap()
            .to_owned()
    };
    (
        get("nats_per_char").parse().unwrap(),
        get("bits_per_char").parse().unwrap(),
        get("chars").parse().unwrap(),
    )
}

/// 40 records of 27 characters.
fn corpus(dir: &Path) -> PathBuf {
    let corpus = dir.join("corpus.txt");
    let lines: Vec<String> = (0..40)
        .map(|i| format!("the mynah sings, {} times.", ["one", "two", "six"][i % 3]))
        .collect();
    std::fs::write(&corpus, lines.join("\n")).unwrap();
    corpus
}

#[test]
fn eval_json_and_float_against_int8() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path());
    let c = corpus.to_str().unwrap();
    for (name, arch) in fixture_archs() {
        eval_float_against_int8(dir.path(), name, arch, c);
    }
}

fn eval_float_against_int8(dir: &Path, name: &str, arch: Arch, c: &str) {
    let m = synthetic_model(&fixture_spec(arch));
    let float = dir.join(format!("{name}-f32.mynah"));
    std::fs::write(&float, float_file(&m).unwrap()).unwrap();
    let parse = parse_json;
    let (fn_, fb, fc) = parse(&ok(&[
        "eval",
        float.to_str().unwrap(),
        "--corpus",
        c,
        "--mode",
        "lines",
        "--split",
        "all",
        "--json",
    ]));
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../tests/fixtures/{name}.mynah"));
    let (qn, qb, qc) = parse(&ok(&[
        "eval",
        f.to_str().unwrap(),
        "--corpus",
        c,
        "--mode",
        "lines",
        "--split",
        "all",
        "--json",
    ]));
    assert_eq!(fc, qc);
    // 40 records of 27 characters, each scored with its <EOS>.
    assert_eq!(fc, 40 * 28);
    assert!((fb - fn_ / std::f64::consts::LN_2).abs() < 1e-9);
    assert!((qb - qn / std::f64::consts::LN_2).abs() < 1e-9);
    assert!(
        ((qn - fn_) / fn_).abs() < 0.01,
        "{name}: float {fn_} int8 {qn}"
    );
    // Float files sample too (reference forward, same PRNG).
    let s = ok(&[
        "sample",
        float.to_str().unwrap(),
        "--prime",
        "a",
        "--max-len",
        "30",
        "--count",
        "2",
    ]);
    assert_eq!(s.lines().count(), 2);
    let text = ok(&[
        "eval",
        f.to_str().unwrap(),
        "--corpus",
        c,
        "--mode",
        "lines",
    ]);
    assert!(
        text.contains("nats/char") && text.contains("int8 runtime"),
        "{text}"
    );
    let out = ok(&[
        "bench",
        f.to_str().unwrap(),
        "--chars",
        "500",
        "--repeat",
        "1",
    ]);
    assert!(out.contains(&format!("int8 runtime, {arch}")), "{out}");
}

/// A model without <BOS> and <EOS> (a tutorial's plain vocabulary): it starts from a prime,
/// is scored from its second character and never stops by itself.
#[test]
fn a_model_without_specials_starts_from_its_prime() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path());
    let c = corpus.to_str().unwrap();
    let mut spec = fixture_spec(Arch::Recurrent(mynah_format::Cell::Lstm));
    spec.specials = Specials::NONE;
    spec.chars = "the mynahsigwoxt,.".chars().collect();
    spec.chars.sort_unstable();
    spec.chars.dedup();
    let float = dir.path().join("plain-f32.mynah");
    std::fs::write(&float, float_file(&synthetic_model(&spec)).unwrap()).unwrap();
    let int8 = dir.path().join("plain-int8.mynah");
    let (f, q) = (float.to_str().unwrap(), int8.to_str().unwrap());
    ok(&["quantize", f, "-o", q, "--calib", c, "--mode", "lines"]);
    let inspect = ok(&["inspect", q]);
    assert!(inspect.contains("specials none"), "{inspect}");
    for m in [f, q] {
        let e = fails(&["sample", m, "--max-len", "10"]);
        assert!(e.contains("no <BOS>") && e.contains("--prime"), "{e}");
        let s = ok(&[
            "sample",
            m,
            "--prime",
            "the",
            "--max-len",
            "40",
            "--count",
            "2",
        ]);
        // No <EOS>: every sample runs to its full length.
        assert!(s.lines().all(|l| l.chars().count() == 43), "{s}");
        let (_, _, chars) =
            parse_json(&ok(&["eval", m, "--corpus", c, "--split", "all", "--json"]));
        // Every record from its second character, no <EOS>.
        assert_eq!(chars, 40 * 26);
    }
}

#[test]
fn an_unknown_split_or_mode_is_an_error() {
    let f = fixture();
    let f = f.to_str().unwrap();
    let out = mynah(&["eval", f, "--corpus", f, "--split", "validation"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("validation") && err.contains("`val`"), "{err}");
    let out = mynah(&["eval", f, "--corpus", f, "--mode", "records"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn bench_and_inspect() {
    let f = fixture();
    let out = ok(&["bench", f.to_str().unwrap(), "--chars", "3000"]);
    let last = out.lines().last().unwrap();
    let us: f64 = last
        .strip_prefix("mynah_us_per_char=")
        .unwrap()
        .parse()
        .unwrap();
    assert!(us > 0.0 && us < 10_000.0, "{out}");
    let out = ok(&["inspect", f.to_str().unwrap()]);
    assert!(
        out.contains("quantization (runtime/QUANTIZATION.md)"),
        "{out}"
    );
    assert!(
        out.contains("rnn.weight_ih_l1") && out.contains("RAM    128 bytes state"),
        "{out}"
    );
    let v1 = fixture().with_file_name("tiny-int8-v1.mynah");
    let out = ok(&["inspect", v1.to_str().unwrap()]);
    assert!(
        out.contains("version      1") && out.contains("arch         gru"),
        "{out}"
    );
}
