//! `mynah-train train`: the training loop.

use crate::adam::Adam;
use crate::checkpoint::{Checkpoint, CheckpointMeta, CorpusInfo, RunState, BEST, LATEST};
use crate::config::{Overrides, ResumeAt, TrainConfig};
use crate::data::{derive_rng, Batch, Batcher, DataPosition, RecordBatcher, TextBatcher, IGNORE};
use crate::distill::Teacher;
use crate::evaluate::{score, Score};
use crate::levers::Phase;
use crate::metrics::{Metrics, Row};
use crate::model::{param_count, CharModel, Dropouts};
use crate::params::write_atomic;
use crate::sample::{generate, options};
use crate::schedule::Schedule;
use crate::{select_device, DeviceChoice};
use anyhow::{bail, ensure, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use mynah_format::Hyper;
use mynah_runtime::{Pcg32, Temperature};
use mynah_text::{Corpus, Encoded, Split, UnkPolicy, Vocab};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tch::{Kind, Reduction, Tensor};

/// Characters per periodic sample.
const SAMPLE_CHARS: usize = 200;
/// Temperature of periodic samples.
const SAMPLE_TEMPERATURE: Temperature = Temperature::from_milli(800);

/// What `train` was asked to do, beyond the configuration.
pub struct TrainRequest {
    /// Options given on the command line.
    pub overrides: Overrides,
    /// `--out`.
    pub out: Option<PathBuf>,
    /// `--resume`.
    pub resume: Option<PathBuf>,
    /// `--device`.
    pub device: DeviceChoice,
    /// `--threads`.
    pub threads: Option<usize>,
    /// `--stop-at`.
    pub stop_at: Option<u64>,
    /// Hidden `--debug-inject-nan-at`: the loss of this step (1-based) becomes NaN.
    pub debug_inject_nan_at: Option<u64>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// A stop condition (steps, epochs, time limit, `--stop-at`) was met.
    Finished,
    /// Ctrl-C.
    Interrupted,
}

/// Runs `mynah-train train`.
pub fn run(req: TrainRequest) -> Result<Ending> {
    // Everything that can be wrong with the arguments or the data is found before the output
    // directory is touched.
    let (mut config, resumed, out) = configure(&req)?;
    let corpus_path = req
        .overrides
        .corpus
        .clone()
        .unwrap_or_else(|| config.corpus.clone());
    let corpus = Corpus::load(&corpus_path, config.text_mode())?;
    let info = CorpusInfo {
        path: std::path::absolute(&corpus_path).unwrap_or(corpus_path.clone()),
        fingerprint: format!("{:016x}", corpus.fingerprint()),
        chars: corpus.char_count(),
        records: corpus.record_count(),
    };
    let vocab = match &resumed {
        Some(ckpt) => {
            ensure!(
                ckpt.meta.corpus.fingerprint == info.fingerprint,
                "the corpus {} differs from the one the run was trained on ({} chars, \
                 fingerprint {}); resume with the same corpus",
                corpus_path.display(),
                ckpt.meta.corpus.chars,
                ckpt.meta.corpus.fingerprint
            );
            // The run's own vocabulary: older runs built it from the training part only.
            ckpt.meta.vocab()?
        }
        None => corpus.vocab()?,
    };
    let train = corpus
        .part(Split::Train)
        .encode(&vocab, UnkPolicy::Error)
        .context("in the training part (the first 90% of the corpus)")?;
    let val = corpus
        .part(Split::Val)
        .eval_sequences(&vocab, config.unk)
        .context("in the validation part (the last 10% of the corpus)")?;
    let chosen = match resumed {
        None => crate::budget::apply(&mut config, &req.overrides, &vocab)?,
        Some(_) => None,
    };
    let hyper = config.hyper(&vocab)?;
    let records = config.mode.is_records();
    let device = select_device(req.device, req.threads)?;
    let stream = match &train {
        Encoded::Stream(ids) => Some(ids.as_slice()),
        Encoded::Records(_) => None,
    };
    let teacher = load_teacher(
        &mut config,
        &req.overrides,
        resumed.as_ref(),
        device,
        (&vocab, stream),
    )?;
    let mut batcher = batcher(train, &config, &vocab)?;

    if resumed.is_none() {
        prepare_out_dir(&out)?;
    }
    // A session killed before its first checkpoint is started afresh, not resumed.
    remove_stale_temps(&out);
    write_atomic(
        &out.join("config.json"),
        format!("{}\n", serde_json::to_string_pretty(&config)?).as_bytes(),
    )?;

    let (model, mut adam) = build(&config, hyper, device)?;

    let mut state = fresh_state(&config);
    let mut metrics = match &resumed {
        Some(ckpt) => {
            model.load(&ckpt.params)?;
            adam.load_state(&ckpt.adam, ckpt.meta.state.adam_t)?;
            state = ckpt.meta.state.clone();
            restore_best(ckpt, &out)?;
            start_phase(&ckpt.meta.config, &config, &mut state, &out)?;
            Metrics::resume(&out, state.step)?
        }
        None => Metrics::create(&out)?,
    };

    let steps_per_epoch = batcher.steps_per_epoch();
    let schedule = Schedule::of(&config, steps_per_epoch);

    println!(
        "mynah-train: device {}; corpus {} ({} mode): {} chars{}, vocabulary {} (+{} specials)",
        describe_device(device),
        corpus_path.display(),
        config.mode,
        info.chars,
        if records {
            format!(" in {} records", info.records)
        } else {
            String::new()
        },
        vocab.chars().len(),
        vocab.first_char_id()
    );
    println!(
        "model: {}, embed {}, hidden {}, layers {} ({} parameters); batch {}, {}lr {:.1e}; {}",
        hyper.arch,
        config.embed,
        config.hidden,
        config.layers,
        param_count(&hyper),
        config.batch,
        if records {
            String::new()
        } else {
            format!("seq-len {}, ", config.seq_len)
        },
        schedule.peak,
        describe_stop(&config, &schedule)
    );
    if let (Some(c), Some(b)) = (chosen, &config.levers.budget) {
        println!("{}", crate::budget::report(&c, b));
    }
    if let Some(line) = crate::levers::describe(&config.levers) {
        println!("{line}");
    }
    if let Some(ckpt) = &resumed {
        println!(
            "resuming {} at step {} (best validation loss {})",
            out.display(),
            ckpt.meta.state.step,
            ckpt.meta
                .state
                .best_val_loss
                .map_or("none yet".into(), |v| format!("{v:.4}"))
        );
    }

    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        // A second Ctrl-C aborts at once; the last checkpoint stays intact (atomic writes).
        let _ = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                eprintln!("\nmynah-train: aborted");
                std::process::exit(130);
            }
            eprintln!("\nmynah-train: stopping after this step (Ctrl-C again to abort)");
        });
    }

    let pb = progress_bar();
    let meta_for =
        |state: &RunState| CheckpointMeta::new(config.clone(), &vocab, info.clone(), state.clone());
    let session_start = Instant::now();
    let prior_elapsed = state.elapsed_secs;
    let elapsed = || prior_elapsed + session_start.elapsed().as_secs_f64();
    let mut last_val_step = resumed.as_ref().map(|c| c.meta.state.step);
    let mut acc = Interval::default();

    let ending = loop {
        let progress = schedule.progress(state.step, elapsed());
        if interrupted.load(Ordering::SeqCst) {
            break Ending::Interrupted;
        }
        if progress >= 1.0 || req.stop_at.is_some_and(|s| state.step >= s) {
            break Ending::Finished;
        }
        let lr = schedule.lr(state.step, progress);
        let t0 = Instant::now();
        // Dropout masks depend only on (seed, step): a resumed run draws the same ones.
        tch::manual_seed(seed_i64(
            config.seed ^ state.step.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ));
        let batch = batcher.next(&mut state.data);
        adam.zero_grad();
        let (mut loss, ce) = step_loss(&model, teacher.as_ref(), &batch, device)?;
        if req.debug_inject_nan_at == Some(state.step + 1) {
            loss *= f64::NAN;
        }
        loss.backward();
        let norm = adam.clip_grad_norm(config.clip);
        let loss = loss.double_value(&[]);
        // Checked before the update, so a bad step never reaches the parameters.
        if !loss.is_finite() || !norm.is_finite() {
            pb.finish_and_clear();
            bail!(diverged(
                &format!("the training loss is {loss} (gradient norm {norm})"),
                state.step + 1,
                last_val_step,
                &out,
                config.lr
            ));
        }
        adam.step(lr);
        state.step += 1;
        state.lr = lr;
        state.adam_t = adam.t;
        state.chars_seen += batch.scored as u64;
        state.epoch = epoch_of(&state, steps_per_epoch, records);
        acc.add(ce, batch.scored, t0.elapsed().as_secs_f64());

        let validate_now = state.step.is_multiple_of(config.eval_every);
        if validate_now || state.step.is_multiple_of(config.log_every) {
            let val = validate_now.then(|| score(&model, &val));
            if let Some(v) = val.filter(|v| !v.nats_per_char().is_finite()) {
                pb.finish_and_clear();
                bail!(diverged(
                    &format!("the validation loss is {}", v.nats_per_char()),
                    state.step,
                    last_val_step,
                    &out,
                    config.lr
                ));
            }
            state.elapsed_secs = elapsed();
            record(&mut metrics, &mut acc, &mut state, val, &pb)?;
            if let Some(v) = val {
                save(&model, &adam, meta_for(&state), &out, v, &state)?;
                last_val_step = Some(state.step);
            }
        }
        // A vocabulary without <BOS> has nothing to start a sample from.
        let sample_now = config.sample_every > 0 && vocab.bos().is_some();
        if sample_now && state.step.is_multiple_of(config.sample_every) {
            let mut rng = Pcg32::new(config.seed ^ state.step ^ 0x5A3E_0000_0000_0000);
            let opts = options(&vocab, records, SAMPLE_TEMPERATURE, 0);
            let text = generate(&model, &vocab, "", SAMPLE_CHARS, &opts, &mut rng)?;
            pb.suspend(|| {
                println!(
                    "--- sample at step {} (temperature {}) ---\n{text}\n---",
                    state.step,
                    f64::from(SAMPLE_TEMPERATURE.milli()) / 1000.0
                )
            });
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        pb.set_position((progress * 10_000.0) as u64);
        pb.set_message(format!(
            "step {} | loss {:.4} | {:.0} chars/s | lr {:.2e}",
            state.step,
            ce,
            acc.recent_rate(),
            lr
        ));
    };

    if last_val_step != Some(state.step) {
        let v = score(&model, &val);
        if !v.nats_per_char().is_finite() {
            pb.finish_and_clear();
            bail!(diverged(
                &format!("the validation loss is {}", v.nats_per_char()),
                state.step,
                last_val_step,
                &out,
                config.lr
            ));
        }
        state.elapsed_secs = elapsed();
        record(&mut metrics, &mut acc, &mut state, Some(v), &pb)?;
        save(&model, &adam, meta_for(&state), &out, v, &state)?;
    }
    pb.finish_and_clear();
    let best = state.best_val_loss.unwrap_or(f64::NAN);
    println!(
        "{} at step {} after {:.1} min: best validation loss {best:.4} nats/char ({:.4} bits/char) at step {}; checkpoints in {}",
        match ending {
            Ending::Finished => "finished",
            Ending::Interrupted => "interrupted",
        },
        state.step,
        state.elapsed_secs / 60.0,
        best / std::f64::consts::LN_2,
        state.best_step.unwrap_or(0),
        out.display()
    );
    Ok(ending)
}

/// The configuration of the run `req` asks for, its checkpoint if resumed, and its directory.
fn configure(req: &TrainRequest) -> Result<(TrainConfig, Option<Checkpoint>, PathBuf)> {
    Ok(match &req.resume {
        Some(dir) => {
            let latest = dir.join(LATEST);
            if !latest.is_file() {
                bail!(
                    "cannot resume from {}: it holds no checkpoint ({LATEST} not found)",
                    dir.display()
                );
            }
            let ckpt = Checkpoint::load(&latest)?;
            ensure!(
                !ckpt.meta.corpus.fingerprint.is_empty(),
                "{} holds a model imported without --corpus, so there is no corpus to continue \
                 training on; import it again with --corpus PATH",
                dir.display()
            );
            if let Some(out) = &req.out {
                ensure!(
                    same_path(out, dir),
                    "--out {} differs from --resume {}; a resumed run writes to its own directory",
                    out.display(),
                    dir.display()
                );
            }
            let at = ResumeAt {
                step: ckpt.meta.state.step,
                secs: ckpt.meta.state.elapsed_secs,
            };
            let config = TrainConfig::resumed(&ckpt.meta.config, &req.overrides, at)?;
            (config, Some(ckpt), dir.clone())
        }
        None => {
            let corpus = req
                .overrides
                .corpus
                .clone()
                .context("--corpus PATH is required (or --resume DIR)")?;
            let out = req
                .out
                .clone()
                .context("--out DIR is required (or --resume DIR)")?;
            let corpus = std::path::absolute(&corpus).unwrap_or(corpus);
            (
                TrainConfig::from_overrides(&req.overrides, corpus)?,
                None,
                out,
            )
        }
    })
}

/// The freshly initialized model of `config` (with its dropouts and fake quantization) and
/// its optimizer.
fn build(config: &TrainConfig, hyper: Hyper, device: tch::Device) -> Result<(CharModel, Adam)> {
    tch::manual_seed(seed_i64(config.seed));
    let model = CharModel::new(device, hyper, config.dropout)?
        .with_dropouts(Dropouts {
            embed: config.levers.embed_dropout,
            proj: config.levers.proj_dropout,
        })
        .with_qat(config.qat_spec());
    let adam = Adam::new(model.named_params(), config.beta1, config.beta2, config.eps)
        .with_weight_decay(config.levers.weight_decay);
    Ok((model, adam))
}

/// The batches of the training part, framed by the vocabulary's specials.
fn batcher(train: Encoded, config: &TrainConfig, vocab: &Vocab) -> Result<Batcher> {
    Ok(match train {
        Encoded::Stream(ids) => Batcher::Text(TextBatcher::new(
            ids,
            config.seq_len,
            config.batch,
            vocab.bos(),
        )?),
        Encoded::Records(r) => Batcher::Records(RecordBatcher::new(
            &r,
            config.max_len,
            config.batch,
            config.seed,
            (vocab.bos(), vocab.eos()),
        )?),
    })
}

/// Training loss and throughput since the last metrics row.
#[derive(Default)]
struct Interval {
    loss_sum: f64,
    chars: u64,
    secs: f64,
    recent: Option<f64>,
}

impl Interval {
    fn add(&mut self, loss: f64, chars: usize, secs: f64) {
        #[allow(clippy::cast_precision_loss)]
        let c = chars as f64;
        self.loss_sum += loss * c;
        self.chars += chars as u64;
        self.secs += secs;
        let rate = c / secs.max(1e-9);
        // Smoothed rate for the progress bar.
        self.recent = Some(self.recent.map_or(rate, |r| 0.9 * r + 0.1 * rate));
    }

    fn recent_rate(&self) -> f64 {
        self.recent.unwrap_or(0.0)
    }

    #[allow(clippy::cast_precision_loss)]
    fn take(&mut self) -> (Option<f64>, f64) {
        let loss = (self.chars > 0).then(|| self.loss_sum / self.chars as f64);
        let rate = self.chars as f64 / self.secs.max(1e-9);
        self.loss_sum = 0.0;
        self.chars = 0;
        self.secs = 0.0;
        (loss, rate)
    }
}

/// Writes a metrics row; with a validation score, updates the best loss and prints a line.
fn record(
    metrics: &mut Metrics,
    acc: &mut Interval,
    state: &mut RunState,
    val: Option<Score>,
    pb: &ProgressBar,
) -> Result<()> {
    let (train_loss, rate) = acc.take();
    let row = metrics.push(Row {
        step: state.step,
        train_loss,
        val_loss: val.map(|v| v.nats_per_char()),
        lr: state.lr,
        chars_per_sec: rate,
    })?;
    let (train_loss, rate) = (row.train_loss, row.chars_per_sec);
    if let Some(v) = val {
        let vl = v.nats_per_char();
        state.val_loss = Some(vl);
        let improved = state.best_val_loss.is_none_or(|b| vl < b);
        if improved {
            state.best_val_loss = Some(vl);
            state.best_step = Some(state.step);
        }
        metrics.plot()?;
        pb.suspend(|| {
            println!(
                "step {:>7} | val {vl:.4} nats/char ({:.4} bits/char){} | train {} | lr {:.2e} | {rate:.0} chars/s",
                state.step,
                v.bits_per_char(),
                if improved { " *" } else { "" },
                train_loss.map_or("-".into(), |t| format!("{t:.4}")),
                state.lr,
            );
        });
    }
    Ok(())
}

/// Writes `best` (when this validation is the best so far) and then `latest`.
fn save(
    model: &CharModel,
    adam: &Adam,
    meta: CheckpointMeta,
    out: &Path,
    val: Score,
    state: &RunState,
) -> Result<()> {
    let ckpt = Checkpoint {
        meta,
        params: model.to_host()?,
        adam: adam.state()?,
    };
    // `latest` first: a run killed in between resumes from it and rewrites `best`
    // (restore_best); the other order could leave a new run with `best` but no `latest`.
    ckpt.save(&out.join(LATEST))?;
    if state.best_step == Some(state.step) && state.best_val_loss == Some(val.nats_per_char()) {
        ckpt.save(&out.join(BEST))?;
    }
    Ok(())
}

/// A resumed run whose latest checkpoint is its best makes sure `best` holds it: the previous
/// session may have been killed between writing the two.
fn restore_best(latest: &Checkpoint, out: &Path) -> Result<()> {
    let state = &latest.meta.state;
    if state.best_step != Some(state.step) {
        return Ok(());
    }
    let best = out.join(BEST);
    let best_step = Checkpoint::load(&best).ok().map(|c| c.meta.state.step);
    if best_step != Some(state.step) {
        latest.save(&best)?;
    }
    Ok(())
}

/// The loss of one batch to descend (with distillation, the mixed loss) and the plain
/// cross-entropy (nats/char) that metrics.csv reports.
fn step_loss(
    model: &CharModel,
    teacher: Option<&Teacher>,
    batch: &Batch,
    device: tch::Device,
) -> Result<(Tensor, f64)> {
    let (b, len) = (i64::try_from(batch.batch)?, i64::try_from(batch.len)?);
    let input = Tensor::from_slice(&batch.inputs)
        .view([b, len])
        .to_device(device);
    let target = Tensor::from_slice(&batch.targets).to_device(device);
    let (logits, _) = model.forward(&input, None, true);
    let logits = logits.view([-1, model.vocab_size()]).to_kind(Kind::Float);
    let ce = logits.cross_entropy_loss::<Tensor>(&target, None, Reduction::Mean, IGNORE, 0.0);
    let ce_value = ce.double_value(&[]);
    let loss = match teacher {
        Some(t) => t.loss(batch, &input, &logits, &target, &ce),
        None => ce,
    };
    Ok((loss, ce_value))
}

/// The run's teacher, read (and for a new run or phase, fingerprinted into `config`).
fn load_teacher(
    config: &mut TrainConfig,
    o: &Overrides,
    resumed: Option<&Checkpoint>,
    device: tch::Device,
    (vocab, stream): (&Vocab, Option<&[u32]>),
) -> Result<Option<Teacher>> {
    let Some(d) = config.levers.teacher.clone() else {
        return Ok(None);
    };
    let same_phase = resumed.is_some_and(|c| c.meta.config.levers.phases == config.levers.phases);
    if let (Some(given), true) = (&o.levers.teacher, same_phase) {
        crate::distill::same_teacher(given, &d)?;
    }
    let (teacher, record) = Teacher::load(&d, device, vocab, config.mode, stream)?;
    config.levers.teacher = Some(record);
    Ok(Some(teacher))
}

/// A resumed run that starts a phase keeps the previous phase's best checkpoint as
/// `best-<phase>.safetensors` (`best-float`, `best-qat-int8`) and starts its own best afresh:
/// the best of a QAT phase is the best quantized model, whatever the float one scored.
fn start_phase(
    stored: &TrainConfig,
    config: &TrainConfig,
    state: &mut RunState,
    out: &Path,
) -> Result<()> {
    if config.levers.phases.len() == stored.levers.phases.len() {
        return Ok(());
    }
    let best = out.join(BEST);
    if best.is_file() {
        let kept = out.join(format!(
            "best-{}.safetensors",
            Phase::label(stored.levers.qat)
        ));
        let bytes = std::fs::read(&best).with_context(|| best.display().to_string())?;
        write_atomic(&kept, &bytes)?;
        println!(
            "starting a {} phase at step {}; the {} phase's best checkpoint is kept as {}",
            Phase::label(config.levers.qat),
            state.step,
            Phase::label(stored.levers.qat),
            kept.display()
        );
    }
    state.best_val_loss = None;
    state.best_step = None;
    Ok(())
}

/// The state of a run before its first step.
pub fn fresh_state(config: &TrainConfig) -> RunState {
    RunState {
        step: 0,
        data: DataPosition {
            rng_state: derive_rng(config.seed, 0x7E47).state,
            epoch: 0,
            batch_in_epoch: 0,
        },
        adam_t: 0,
        val_loss: None,
        best_val_loss: None,
        best_step: None,
        lr: 0.0,
        elapsed_secs: 0.0,
        chars_seen: 0,
        epoch: 0.0,
    }
}

/// The message of a run stopped by a non-finite loss; nothing of the bad step is saved.
fn diverged(what: &str, step: u64, last_checkpoint: Option<u64>, out: &Path, lr: f64) -> String {
    let kept = match last_checkpoint {
        Some(s) => format!(
            "the last good checkpoint (step {s}) is kept in {}",
            out.display()
        ),
        None => "no checkpoint had been written yet".to_owned(),
    };
    format!(
        "training diverged at step {step}: {what}. Training stopped; {kept}. Start a new run \
         with a lower --lr (this one has {lr}) or a smaller --clip"
    )
}

/// Creates the output directory of a new run; refuses one that already holds a run.
pub fn prepare_out_dir(out: &Path) -> Result<()> {
    if out.exists() {
        ensure!(
            out.is_dir(),
            "--out {} exists and is not a directory",
            out.display()
        );
        ensure!(
            !out.join(LATEST).exists() && !out.join(BEST).exists(),
            "--out {} already holds a run; continue it with --resume {0}, or choose another --out",
            out.display()
        );
    }
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create the output directory {}", out.display()))
}

/// A killed session may leave temporary files of the atomic writer (`.mynah-*.tmp`) behind;
/// nothing reads them. Best effort: a directory we cannot clean fails at its next write.
fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".mynah-") && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[allow(clippy::cast_precision_loss)]
fn epoch_of(state: &RunState, steps_per_epoch: u64, records: bool) -> f64 {
    if records {
        state.data.epoch as f64 + state.data.batch_in_epoch as f64 / steps_per_epoch.max(1) as f64
    } else {
        state.step as f64 / steps_per_epoch.max(1) as f64
    }
}

fn describe_stop(config: &TrainConfig, schedule: &Schedule) -> String {
    let mut parts = Vec::new();
    if let Some(t) = schedule.steps {
        parts.push(format!("{t} steps"));
    }
    if let Some(m) = config.time_limit {
        parts.push(format!("{m} min"));
    }
    let phase = match config.levers.phases.last() {
        Some(p) => format!(
            " of the {} phase that started at step {}{}",
            Phase::label(p.qat),
            p.start_step,
            schedule
                .end_step()
                .map_or(String::new(), |e| format!(" (at step {e})"))
        ),
        None => String::new(),
    };
    format!("stops after {}{phase}", parts.join(" or "))
}

fn describe_device(device: tch::Device) -> String {
    match device {
        tch::Device::Cuda(i) => format!("cuda:{i}"),
        _ => format!("cpu ({} threads)", tch::get_num_threads()),
    }
}

fn progress_bar() -> ProgressBar {
    let pb = ProgressBar::new(10_000);
    pb.set_style(
        ProgressStyle::with_template(
            "{bar:30.cyan/blue} {percent:>3}% [{elapsed_precise} ETA {eta_precise}] {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb
}

/// libtorch seeds are `i64`; any bit pattern is fine.
fn seed_i64(seed: u64) -> i64 {
    i64::from_ne_bytes(seed.to_ne_bytes())
}

fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}
