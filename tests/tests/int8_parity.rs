//! The int8 runtime against libtorch's float model, on held-out Shakespeare the reference model
//! never trained on (`tests/fixtures/shakespeare-heldout.txt`: the last 20,000 bytes of tiny
//! shakespeare, inside its validation split).
//!
//! Bounds: the int8 validation loss within 1% of libtorch's (measured: −0.01%); mean
//! KL(float ‖ int8) of the next-character distributions below 0.002 nats and top-1
//! agreement above 0.97 (measured: 0.00023 nats and 0.99).

use mynah_tests::{bin, run_ok, workspace_root};
use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    workspace_root().join("tests/fixtures").join(name)
}

fn json_number(text: &str, key: &str) -> f64 {
    let key = format!("\"{key}\":");
    let start = text.find(&key).unwrap_or_else(|| panic!("{key} in {text}")) + key.len();
    let rest = text[start..].trim_start();
    let end = rest.find([',', '}']).expect("end of value");
    rest[..end].trim().parse().expect("a number")
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(run_ok(cmd).stdout).expect("UTF-8 output")
}

#[test]
fn int8_loss_is_within_one_percent_of_libtorch() {
    let heldout = fixture("shakespeare-heldout.txt");
    let float = stdout(
        Command::new(bin("mynah-train"))
            .arg("eval")
            .arg(fixture("shakespeare-1x128.safetensors"))
            .arg("--corpus")
            .arg(&heldout)
            .args([
                "--mode", "text", "--split", "all", "--json", "--device", "cpu",
            ]),
    );
    let int8 = stdout(
        Command::new(bin("mynah"))
            .arg("eval")
            .arg(fixture("shakespeare-1x128.int8.mynah"))
            .arg("--corpus")
            .arg(&heldout)
            .args(["--mode", "text", "--split", "all", "--json"]),
    );
    let (float, int8) = (
        json_number(&float, "nats_per_char"),
        json_number(&int8, "nats_per_char"),
    );
    let gap = (int8 - float).abs() / float;
    assert!(
        gap < 0.01,
        "int8 {int8} vs libtorch {float} nats/char: {:.3}% apart",
        gap * 100.0
    );
}

#[test]
fn int8_distributions_stay_close_to_the_float_model() {
    let dir = tempfile::tempdir().unwrap();
    let float = dir.path().join("float.mynah");
    run_ok(
        Command::new(bin("mynah-train"))
            .arg("export")
            .arg(fixture("shakespeare-1x128.safetensors"))
            .arg("-o")
            .arg(&float)
            .args(["--dtype", "f32"]),
    );
    // Calibrates on the first 90% of the held-out text and compares on the last 10%.
    let report = run_ok(
        Command::new(bin("mynah"))
            .arg("quantize")
            .arg(&float)
            .arg("-o")
            .arg(dir.path().join("int8.mynah"))
            .arg("--calib")
            .arg(fixture("shakespeare-heldout.txt"))
            .args(["--compare", "val"]),
    );
    let text = String::from_utf8_lossy(&report.stdout).into_owned()
        + &String::from_utf8_lossy(&report.stderr);
    let kl: f64 = after(&text, "mean KL ");
    let top1: f64 = after(&text, "top-1 agreement ");
    assert!(kl < 0.002, "mean KL {kl} nats:\n{text}");
    assert!(top1 > 0.97, "top-1 agreement {top1}:\n{text}");
}

fn after(text: &str, key: &str) -> f64 {
    let start = text
        .find(key)
        .unwrap_or_else(|| panic!("{key:?} in {text}"))
        + key.len();
    let rest = &text[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '-'))
        .unwrap_or(rest.len());
    rest[..end].parse().expect("a number")
}
