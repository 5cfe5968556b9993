//! Faulty runs: a non-finite loss stops training with a message and keeps the last good
//! checkpoint; an output directory that cannot be written (read-only, or a full disk) gives a
//! clear error without a panic and leaves the previous checkpoint intact.
//!
//! The read-only and full-disk cases mount a filesystem when run as root (a read-only bind
//! mount, a small tmpfs); without root the read-only case uses file permissions and the
//! full-disk case is skipped with a message.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tiny(corpus: &Path, out: &Path, steps: u64) -> Vec<String> {
    let steps = steps.to_string();
    train_argv(
        corpus,
        out,
        &[
            "--embed",
            "8",
            "--hidden",
            "64",
            "--seq-len",
            "16",
            "--batch",
            "4",
            "--warmup",
            "2",
            "--eval-every",
            "5",
            "--log-every",
            "5",
            "--sample-every",
            "0",
            "--steps",
            &steps,
        ],
    )
}

fn with(mut a: Vec<String>, extra: &[&str]) -> Vec<String> {
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

#[test]
fn nan_loss_stops_training_and_keeps_the_last_good_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let corpus = write(d, "c.txt", fixture(3000).as_bytes());
    let straight = d.join("straight");
    ok(&strs(&tiny(&corpus, &straight, 20)));

    let run = d.join("nan");
    let e = fails(&strs(&with(
        tiny(&corpus, &run, 20),
        &["--debug-inject-nan-at", "13"],
    )));
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    assert!(
        e.contains("training diverged at step 13: the training loss is NaN"),
        "{e}"
    );
    assert!(
        e.contains(&format!(
            "the last good checkpoint (step 10) is kept in {}",
            run.display()
        )),
        "{e}"
    );
    assert!(e.contains("lower --lr"), "{e}");
    for name in ["latest.safetensors", "best.safetensors"] {
        let meta = ckpt_meta(&run.join(name));
        assert_eq!(meta["state"]["step"], 10, "{name}");
    }
    // The kept checkpoint is the good one: resuming it (without the fault) ends exactly like
    // the run that never saw a NaN.
    ok(&["train", "--resume", p(&run)]);
    assert_same_runs(&straight, &run);

    // A NaN before the first validation leaves no checkpoint, and says so.
    let early = d.join("early");
    let e = fails(&strs(&with(
        tiny(&corpus, &early, 20),
        &["--debug-inject-nan-at", "2"],
    )));
    assert!(
        e.contains("step 2: the training loss is NaN")
            && e.contains("no checkpoint had been written yet"),
        "{e}"
    );
    assert!(!early.join("latest.safetensors").exists());
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn sh(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

/// A mount (or a permission change) undone when dropped, also when the test fails.
struct Undo {
    path: PathBuf,
    unmount: bool,
}

impl Drop for Undo {
    fn drop(&mut self) {
        if self.unmount {
            sh("umount", &[p(&self.path)]);
        } else {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o755));
        }
    }
}

/// Makes `dir` read-only: a read-only bind mount for root (who ignores permissions), else
/// mode 0555. `None` if that did not make it read-only.
fn make_read_only(dir: &Path) -> Option<Undo> {
    let undo = if is_root() {
        if !sh("mount", &["--bind", p(dir), p(dir)]) {
            return None;
        }
        let undo = Undo {
            path: dir.to_owned(),
            unmount: true,
        };
        if !sh("mount", &["-o", "remount,bind,ro", p(dir)]) {
            return None;
        }
        undo
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).ok()?;
        Undo {
            path: dir.to_owned(),
            unmount: false,
        }
    };
    let probe = dir.join(".probe");
    if std::fs::write(&probe, b"x").is_ok() {
        let _ = std::fs::remove_file(probe);
        return None;
    }
    Some(undo)
}

#[test]
fn read_only_output_directory_gives_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let corpus = write(d, "c.txt", fixture(3000).as_bytes());
    let run = d.join("run");
    ok(&strs(&with(tiny(&corpus, &run, 20), &["--stop-at", "5"])));
    let latest = run.join("latest.safetensors");
    let before = std::fs::read(&latest).unwrap();
    {
        let Some(_undo) = make_read_only(&run) else {
            eprintln!("SKIPPED: cannot make a directory read-only here");
            return;
        };
        let e = fails(&["train", "--resume", p(&run)]);
        assert!(
            e.contains("cannot write")
                && (e.contains("Read-only file system") || e.contains("Permission denied")),
            "{e}"
        );
        assert_eq!(std::fs::read(&latest).unwrap(), before);
    }
    // Writable again, the run continues from its checkpoint.
    ok(&["train", "--resume", p(&run)]);
    assert_eq!(ckpt_meta(&latest)["state"]["step"], 20);
}

/// Bytes a file takes on tmpfs (whole pages).
fn pages(len: u64) -> u64 {
    len.div_ceil(4096) * 4096
}

#[test]
fn full_disk_gives_a_clear_error_and_keeps_the_checkpoint() {
    if !is_root() {
        eprintln!("SKIPPED: mounting a small tmpfs needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let corpus = write(d, "c.txt", fixture(3000).as_bytes());
    let straight = d.join("straight");
    ok(&strs(&tiny(&corpus, &straight, 20)));
    let first = d.join("first");
    ok(&strs(&with(
        tiny(&corpus, &first, 20),
        &["--stop-at", "10"],
    )));

    // A tmpfs holding the run with room for a new loss.png but not for another checkpoint.
    let mut used = 0;
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&first).unwrap() {
        let entry = entry.unwrap();
        used += pages(entry.metadata().unwrap().len());
        files.push(entry.path());
    }
    let ckpt = std::fs::metadata(first.join("latest.safetensors"))
        .unwrap()
        .len();
    let png = std::fs::metadata(first.join("loss.png")).unwrap().len();
    let free = pages(png) + 3 * 4096;
    assert!(free < ckpt, "loss.png {png} bytes, checkpoint {ckpt} bytes");
    let run = d.join("full");
    std::fs::create_dir(&run).unwrap();
    let size = format!("size={}", used + free);
    if !sh("mount", &["-t", "tmpfs", "-o", &size, "tmpfs", p(&run)]) {
        eprintln!("SKIPPED: cannot mount a tmpfs here");
        return;
    }
    let _undo = Undo {
        path: run.clone(),
        unmount: true,
    };
    for f in &files {
        std::fs::copy(f, run.join(f.file_name().unwrap())).unwrap();
    }
    let latest = run.join("latest.safetensors");
    let before = std::fs::read(&latest).unwrap();

    let e = fails(&["train", "--resume", p(&run)]);
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    assert!(
        e.contains(&format!("cannot write {}", latest.display()))
            && e.contains("No space left on device"),
        "{e}"
    );
    assert_eq!(std::fs::read(&latest).unwrap(), before);
    assert_eq!(
        temp_files(&run),
        Vec::<PathBuf>::new(),
        "a temporary file remains"
    );

    // With room again the run continues from the kept checkpoint and ends like the
    // uninterrupted one.
    assert!(sh("mount", &["-o", "remount,size=64m", p(&run)]));
    ok(&["train", "--resume", p(&run)]);
    assert_same_runs(&straight, &run);
}
