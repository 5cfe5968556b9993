//! Killed runs: `mynah-train train` is killed with SIGKILL at random moments (some timed at
//! random, some the instant an atomic write's temporary file appears, i.e. during the write
//! of a checkpoint, of metrics.csv or of config.json) and continued with `--resume` until it finishes. After every kill each checkpoint
//! on disk must parse and be bit-identical to the reference run's checkpoint of the same step
//! (the previous one or the new one, never a torn mix), and the finished run must equal an
//! uninterrupted one.
//!
//! `cargo test --test kill` runs 2 kill/resume cycles; `make kill-test` (the ignored test
//! `kill_and_resume_20_cycles`) runs 20 in a row. Set `MYNAH_KILL_SEED` to replay a schedule.

mod common;

use common::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const STEPS: u64 = 40;
const EVAL_EVERY: u64 = 5;
/// Kills per cycle at most; the last session then runs to the end.
const MAX_KILLS: usize = 8;
const CHECKPOINTS: [&str; 2] = ["latest.safetensors", "best.safetensors"];

/// A tiny model with large enough checkpoints (~0.4 MB with Adam's moments) that writing
/// them takes a noticeable part of the run, validated and saved every 5 steps.
fn train_args(corpus: &Path, out: &Path) -> Vec<String> {
    let (steps, eval_every) = (STEPS.to_string(), EVAL_EVERY.to_string());
    train_argv(
        corpus,
        out,
        &[
            "--embed",
            "16",
            "--hidden",
            "96",
            "--seq-len",
            "16",
            "--batch",
            "4",
            "--warmup",
            "4",
            "--steps",
            &steps,
            "--eval-every",
            &eval_every,
            "--log-every",
            "5",
            "--sample-every",
            "0",
        ],
    )
}

/// The uninterrupted run, and the bytes of the tensors of its checkpoint at every step
/// (from a run stopped and resumed at each validation).
struct Reference {
    corpus: PathBuf,
    straight: PathBuf,
    /// step → tensors of `latest` at that step.
    by_step: HashMap<u64, Tensors>,
    duration: Duration,
    work: PathBuf,
}

fn reference() -> &'static Reference {
    static R: OnceLock<Reference> = OnceLock::new();
    R.get_or_init(|| {
        let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kill-test");
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).unwrap();
        let corpus = write(&work, "corpus.txt", fixture(3000).as_bytes());
        let straight = work.join("straight");
        let t0 = Instant::now();
        ok(&strs(&train_args(&corpus, &straight)));
        let duration = t0.elapsed();
        let stepped = work.join("stepped");
        let mut by_step = HashMap::new();
        for stop in (EVAL_EVERY..=STEPS).step_by(EVAL_EVERY as usize) {
            let stop = stop.to_string();
            if stepped.exists() {
                ok(&["train", "--resume", p(&stepped), "--stop-at", &stop]);
            } else {
                let mut a = train_args(&corpus, &stepped);
                a.extend(["--stop-at".into(), stop]);
                ok(&strs(&a));
            }
            let latest = stepped.join("latest.safetensors");
            let step = ckpt_meta(&latest)["state"]["step"].as_u64().unwrap();
            by_step.insert(step, read_st(&latest).0);
        }
        assert_same_runs(&straight, &stepped);
        Reference {
            corpus,
            straight,
            by_step,
            duration,
            work,
        }
    })
}

fn seed() -> u64 {
    match std::env::var("MYNAH_KILL_SEED") {
        Ok(s) => s.parse().expect("MYNAH_KILL_SEED must be a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    }
}

#[derive(Default, Debug)]
struct Stats {
    kills: usize,
    /// Kills that left a temporary file behind: the write was cut off.
    mid_write: usize,
    sessions: usize,
}

/// How a session is ended.
enum Kill {
    /// After this long.
    After(Duration),
    /// The instant a temporary file of the atomic writer appears for the n-th time.
    AtWrite(u32),
}

/// Temporary files in `out` that were not there `before` (the session's own).
fn new_temps(out: &Path, before: &[PathBuf]) -> usize {
    temp_files(out)
        .iter()
        .filter(|t| !before.contains(t))
        .count()
}

/// Waits for `child` to exit, or kills it as `how` says; `true` if it was killed. `before`:
/// the temporary files that earlier kills left.
fn end_session(
    child: &mut Child,
    how: &Kill,
    out: &Path,
    before: &[PathBuf],
    limit: Duration,
) -> bool {
    let start = Instant::now();
    let mut seen = 0;
    let mut present = false;
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        let fire = match how {
            Kill::After(d) => start.elapsed() >= *d,
            Kill::AtWrite(n) => {
                let now = new_temps(out, before) > 0;
                if now && !present {
                    seen += 1;
                }
                present = now;
                seen >= *n
            }
        };
        if fire || start.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            return true;
        }
        if let Kill::After(_) = how {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// Every checkpoint on disk parses and equals the reference checkpoint of its step; `latest`
/// never goes back. Returns the step of `latest`.
fn check_on_disk(r: &Reference, out: &Path, previous: Option<u64>, context: &str) -> Option<u64> {
    let mut latest_step = None;
    for name in CHECKPOINTS {
        let path = out.join(name);
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let (tensors, meta) = parse_st(&bytes)
            .unwrap_or_else(|e| panic!("{context}: torn {name} ({} bytes): {e}", bytes.len()));
        assert_eq!(meta["format"], "mynah-checkpoint", "{context}: {name}");
        let json: serde_json::Value = serde_json::from_str(&meta["mynah"])
            .unwrap_or_else(|e| panic!("{context}: {name} metadata: {e}"));
        let step = json["state"]["step"].as_u64().unwrap();
        let want = r.by_step.get(&step).unwrap_or_else(|| {
            panic!("{context}: {name} is at step {step}, not a checkpoint step")
        });
        assert!(
            &tensors == want,
            "{context}: {name} at step {step} differs from the reference"
        );
        if name == "latest.safetensors" {
            latest_step = Some(step);
        }
    }
    if let (Some(prev), Some(now)) = (previous, latest_step) {
        assert!(
            now >= prev,
            "{context}: latest went back from {prev} to {now}"
        );
    }
    assert!(
        previous.is_none() || latest_step.is_some(),
        "{context}: latest.safetensors vanished"
    );
    latest_step
}

/// One run, killed and resumed until it finishes, then compared with the uninterrupted run.
fn kill_cycle(r: &Reference, rng: &mut mynah_runtime::SplitMix64, cycle: usize) -> Stats {
    let out = r
        .work
        .join(format!("killed-{cycle}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let log = r.work.join(format!("killed-{cycle}.stderr"));
    let mut stats = Stats::default();
    let mut latest = None;
    let limit = r.duration * 4 + Duration::from_secs(30);
    loop {
        let args = if out.join("latest.safetensors").exists() {
            vec!["train".into(), "--resume".into(), p(&out).into()]
        } else {
            train_args(&r.corpus, &out)
        };
        let before = temp_files(&out);
        let mut child = cmd(&strs(&args))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        stats.sessions += 1;
        let how = if stats.kills >= MAX_KILLS {
            Kill::After(limit)
        } else if rng.below(2) == 0 {
            Kill::After(Duration::from_micros(
                rng.below(r.duration.as_micros() as u64),
            ))
        } else {
            Kill::AtWrite(1 + rng.below(3) as u32)
        };
        let killed = end_session(&mut child, &how, &out, &before, limit);
        let context = format!(
            "cycle {cycle}, session {} ({})",
            stats.sessions,
            match how {
                Kill::After(d) => format!("killed after {d:?}"),
                Kill::AtWrite(n) => format!("killed at atomic write {n}"),
            }
        );
        if !killed {
            let status = child.wait().unwrap();
            assert!(
                status.success(),
                "{context}: exited with {status}:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            break;
        }
        stats.kills += 1;
        if new_temps(&out, &before) > 0 {
            stats.mid_write += 1;
        }
        latest = check_on_disk(r, &out, latest, &context);
    }
    check_on_disk(r, &out, latest, &format!("cycle {cycle}, finished"));
    assert_same_runs(&r.straight, &out);
    // Resuming clears what killed writes left behind.
    assert_eq!(temp_files(&out), Vec::<PathBuf>::new(), "cycle {cycle}");
    let _ = std::fs::remove_dir_all(&out);
    stats
}

fn kill_cycles(n: usize) {
    let r = reference();
    let seed = seed();
    eprintln!("kill test: MYNAH_KILL_SEED={seed}");
    // The project's one seeded generator (uniform `below`, no modulo bias).
    let mut rng = mynah_runtime::SplitMix64::new(seed);
    let mut total = Stats::default();
    for cycle in 0..n {
        let s = kill_cycle(r, &mut rng, cycle);
        eprintln!("cycle {cycle}: {s:?}");
        total.kills += s.kills;
        total.mid_write += s.mid_write;
        total.sessions += s.sessions;
    }
    eprintln!(
        "kill test: {n} cycles, {} kills ({} during an atomic write), {} sessions; every \
         checkpoint intact and every run equal to the uninterrupted one",
        total.kills, total.mid_write, total.sessions
    );
}

#[test]
fn killed_and_resumed_runs_equal_the_uninterrupted_run() {
    kill_cycles(2);
}

#[test]
#[ignore = "20 cycles (a few minutes): make kill-test"]
fn kill_and_resume_20_cycles() {
    kill_cycles(20);
}

/// The window a random kill rarely hits: `latest` written, `best` not yet. Resuming must put
/// the latest checkpoint into `best` (it is the best so far), or `best` would stay stale (or,
/// at the first validation, missing).
#[test]
fn resume_restores_best_when_killed_between_the_two_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = write(tmp.path(), "c.txt", fixture(3000).as_bytes());
    let run = tmp.path().join("run");
    let mut a = train_args(&corpus, &run);
    a.extend(["--stop-at".into(), "5".into()]);
    ok(&strs(&a));
    let (best, latest) = (run.join("best.safetensors"), run.join("latest.safetensors"));
    assert_eq!(ckpt_meta(&latest)["state"]["best_step"], 5);
    let want = std::fs::read(&best).unwrap();
    std::fs::remove_file(&best).unwrap();
    ok(&["train", "--resume", p(&run), "--stop-at", "5"]);
    assert_eq!(read_st(&best).0, parse_st(&want).unwrap().0);
    assert_eq!(ckpt_meta(&best)["state"]["step"], 5);
}
