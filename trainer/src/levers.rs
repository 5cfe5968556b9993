//! The options of a run beyond its model and schedule: quantization-aware training and the
//! fine-tuning phase it starts on `--resume`, distillation, dropout on the embedding and
//! before the projection, AdamW's weight decay, and the size budget.
//!
//! The flags arrive as strings, so that every bad value (not a number, out of range, a
//! flag without the one it belongs to) is a one-line error with exit status 1 before
//! anything is written. They are stored in `config.json` and in every checkpoint; a run
//! from before them reads their defaults, which train exactly as before.

use crate::choices::{parse_named, Named};
use crate::qat::QuantKind;
use anyhow::{bail, ensure, Context, Result};
use clap::Args;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::str::FromStr;

/// `--distill-temperature` when not given.
pub const DISTILL_TEMPERATURE: f64 = 2.0;
/// `--distill-weight` when not given.
pub const DISTILL_WEIGHT: f64 = 0.5;
/// Largest `--distill-temperature`.
const MAX_TEMPERATURE: f64 = 100.0;

/// The flags of `train` for the levers, as given on the command line.
#[derive(Args, Debug, Default)]
pub struct LeverArgs {
    /// Quantization-aware training: the forward pass sees the weights that `export --dtype
    /// int8|int4` quantizes rounded exactly as the export and the integer runtime round them
    /// (gradients pass straight through). With --resume of a run trained without it (or
    /// with the other kind) it starts a fine-tuning phase: give the phase's length with
    /// --steps, --epochs or --time-limit, counted from its first step; its learning rate
    /// is a cosine from --lr [default: the run's last, lr/10] to a tenth of it, no warm-up.
    #[arg(long, value_name = "int8|int4", verbatim_doc_comment)]
    pub qat: Option<String>,
    /// The exported file's input layer: `on` = factored (an int8 embedding and a quantized
    /// W_ih0, which --qat fake-quantizes too), `off` = the exact i16 token table; `auto`
    /// (with --budget-bytes) takes whichever fits the larger model. [default: off; auto
    /// with --budget-bytes]
    #[arg(long, value_name = "auto|on|off")]
    pub factored: Option<String>,
    /// Size budget: trains the shape with the most parameters (layers 1..=4, hidden a
    /// multiple of 8 up to 512, embed 8..=64 for a factored file) whose `export --dtype
    /// DTYPE` file is at most N bytes, and prints it. --layers, --hidden and --embed given
    /// with it are constraints.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub budget_bytes: Option<String>,
    /// The weight type of the file --budget-bytes is for: int8 or int4 (required with it).
    #[arg(long, value_name = "int8|int4")]
    pub dtype: Option<String>,
    /// Distillation: also learn the softened next-character distributions of this model
    /// (a run directory's best checkpoint, a checkpoint, an exported .safetensors, or a
    /// model file of any weights with --teacher-once; any architecture; the same vocabulary
    /// and mode). The loss is (1 − A)·CE + A·T²·KL.
    #[arg(long, value_name = "RUN")]
    pub teacher: Option<PathBuf>,
    /// Distillation temperature T, in (0, 100]. [default: 2]
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub distill_temperature: Option<String>,
    /// Distillation weight A, in (0, 1]. [default: 0.5]
    #[arg(long, value_name = "A", allow_hyphen_values = true)]
    pub distill_weight: Option<String>,
    /// Runs the teacher once, before training, over the whole training text (text mode) and
    /// keeps its logits in memory (f16: 2·V bytes per training character), instead of a
    /// teacher forward pass on every batch: a large teacher then costs a pass, not a multiple
    /// of every step. Each position is predicted from all the text before it in its stream.
    #[arg(long)]
    pub teacher_once: bool,
    /// Dropout on the embedded inputs, in [0, 1). [default: 0]
    #[arg(long, value_name = "P", allow_hyphen_values = true)]
    pub embed_dropout: Option<String>,
    /// Dropout on the top layer's outputs, before the projection, in [0, 1). [default: 0]
    #[arg(long, value_name = "P", allow_hyphen_values = true)]
    pub proj_dropout: Option<String>,
    /// AdamW's decoupled weight decay on every matrix (weights and embedding; never the
    /// biases), in [0, 1). [default: 0]
    #[arg(long, value_name = "W", allow_hyphen_values = true)]
    pub weight_decay: Option<String>,
}

/// `--factored`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Factored {
    /// The size budget decides.
    Auto,
    /// Factored input layer.
    On,
    /// Token table.
    Off,
}

impl Named for Factored {
    const FLAG: &'static str = "--factored";
    const CHOICES: &'static str = "auto, on or off";
    fn name(self) -> &'static str {
        match self {
            Factored::Auto => "auto",
            Factored::On => "on",
            Factored::Off => "off",
        }
    }
    fn from_name(name: &str) -> Option<Self> {
        [Factored::Auto, Factored::On, Factored::Off]
            .into_iter()
            .find(|f| f.name() == name)
    }
}

/// The lever flags, parsed (ranges are checked by [`Levers::validate`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeverFlags {
    /// --qat
    pub qat: Option<QuantKind>,
    /// --factored
    pub factored: Option<Factored>,
    /// --budget-bytes
    pub budget_bytes: Option<u64>,
    /// --dtype
    pub dtype: Option<QuantKind>,
    /// --teacher
    pub teacher: Option<PathBuf>,
    /// --distill-temperature
    pub distill_temperature: Option<f64>,
    /// --distill-weight
    pub distill_weight: Option<f64>,
    /// --teacher-once
    pub teacher_once: bool,
    /// --embed-dropout
    pub embed_dropout: Option<f64>,
    /// --proj-dropout
    pub proj_dropout: Option<f64>,
    /// --weight-decay
    pub weight_decay: Option<f64>,
}

/// `flag`'s value as a `T`, or an error naming the flag.
fn number<T: FromStr>(flag: &str, value: Option<&String>) -> Result<Option<T>> {
    value
        .map(|s| {
            s.trim()
                .parse::<T>()
                .ok()
                .with_context(|| format!("{flag} {s:?} is not a number"))
        })
        .transpose()
}

impl LeverArgs {
    /// The flags, parsed.
    pub fn parse(&self) -> Result<LeverFlags> {
        let dtype = self
            .dtype
            .as_deref()
            .map(|s| {
                QuantKind::from_name(s)
                    .with_context(|| format!("unknown --dtype {s:?}: expected int8 or int4"))
            })
            .transpose()?;
        Ok(LeverFlags {
            qat: self.qat.as_deref().map(parse_named).transpose()?,
            factored: self.factored.as_deref().map(parse_named).transpose()?,
            budget_bytes: number("--budget-bytes", self.budget_bytes.as_ref())?,
            dtype,
            teacher: self.teacher.clone(),
            distill_temperature: number(
                "--distill-temperature",
                self.distill_temperature.as_ref(),
            )?,
            distill_weight: number("--distill-weight", self.distill_weight.as_ref())?,
            teacher_once: self.teacher_once,
            embed_dropout: number("--embed-dropout", self.embed_dropout.as_ref())?,
            proj_dropout: number("--proj-dropout", self.proj_dropout.as_ref())?,
            weight_decay: number("--weight-decay", self.weight_decay.as_ref())?,
        })
    }
}

/// A run's distillation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distill {
    /// The teacher's file (absolute; a run directory resolves to its best checkpoint).
    pub path: PathBuf,
    /// FNV-1a 64 of the teacher's parameters, hex: `--resume` refuses a changed teacher.
    pub fingerprint: String,
    /// T.
    pub temperature: f64,
    /// A.
    pub weight: f64,
    /// `--teacher-once`: the teacher's logits computed once over the training text.
    #[serde(default)]
    pub once: bool,
}

/// A run's size budget, as asked and as met.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// `--budget-bytes`.
    pub bytes: u64,
    /// `--dtype`.
    pub dtype: QuantKind,
    /// `--factored` as given (the choice is [`Levers::factored`]).
    pub input: Factored,
    /// The exact size of the chosen shape's exported file.
    pub file_bytes: u64,
}

/// A fine-tuning phase started on `--resume` by a new `--qat`: the run's stop conditions
/// and learning rate then count from its start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    /// The step the phase started after.
    pub start_step: u64,
    /// The run's training seconds at its start.
    pub start_secs: f64,
    /// Its quantization-aware training.
    pub qat: Option<QuantKind>,
    /// Its peak learning rate.
    pub lr: f64,
}

impl Phase {
    /// `float`, `qat-int8` or `qat-int4`: what a phase trains.
    pub fn label(qat: Option<QuantKind>) -> String {
        qat.map_or("float".into(), |k| format!("qat-{k}"))
    }
}

/// What a run records of its levers (every field absent in runs from before them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Levers {
    /// `--qat`: the current phase's fake quantization.
    pub qat: Option<QuantKind>,
    /// The export's input layer is factored (`--factored on`, or the budget's choice).
    pub factored: bool,
    /// `--embed-dropout`.
    pub embed_dropout: f64,
    /// `--proj-dropout`.
    pub proj_dropout: f64,
    /// `--weight-decay`.
    pub weight_decay: f64,
    /// `--teacher` and its temperature and weight.
    pub teacher: Option<Distill>,
    /// `--budget-bytes`.
    pub budget: Option<Budget>,
    /// The phases after the first, in order.
    pub phases: Vec<Phase>,
}

impl Levers {
    /// A new run's levers (its teacher's fingerprint and its budget's file size are filled
    /// in once the teacher is read and the shape chosen).
    pub fn new(f: &LeverFlags) -> Result<Levers> {
        check_pairs(f)?;
        let budget = f.budget_bytes.map(|bytes| Budget {
            bytes,
            dtype: f.dtype.unwrap_or(QuantKind::Int8),
            input: f.factored.unwrap_or(Factored::Auto),
            file_bytes: 0,
        });
        Ok(Levers {
            qat: f.qat,
            factored: f.factored == Some(Factored::On),
            embed_dropout: f.embed_dropout.unwrap_or(0.0),
            proj_dropout: f.proj_dropout.unwrap_or(0.0),
            weight_decay: f.weight_decay.unwrap_or(0.0),
            teacher: f.teacher.as_ref().map(|path| Distill {
                path: path.clone(),
                fingerprint: String::new(),
                temperature: f.distill_temperature.unwrap_or(DISTILL_TEMPERATURE),
                weight: f.distill_weight.unwrap_or(DISTILL_WEIGHT),
                once: f.teacher_once,
            }),
            budget,
            phases: Vec::new(),
        })
    }

    /// Range checks, with the flag to fix in each message.
    pub fn validate(&self) -> Result<()> {
        for (flag, p) in [
            ("--embed-dropout", self.embed_dropout),
            ("--proj-dropout", self.proj_dropout),
            ("--weight-decay", self.weight_decay),
        ] {
            ensure!(
                p.is_finite() && (0.0..1.0).contains(&p),
                "{flag} {p} is out of range: it must be in [0, 1)"
            );
        }
        if let Some(d) = &self.teacher {
            let t = d.temperature;
            ensure!(
                t.is_finite() && t > 0.0 && t <= MAX_TEMPERATURE,
                "--distill-temperature {t} is out of range: it must be in (0, {MAX_TEMPERATURE}]"
            );
            let a = d.weight;
            ensure!(
                a.is_finite() && a > 0.0 && a <= 1.0,
                "--distill-weight {a} is out of range: it must be in (0, 1]"
            );
        }
        if let Some(b) = &self.budget {
            ensure!(
                (1..=u64::from(u32::MAX)).contains(&b.bytes),
                "--budget-bytes {} is out of range: it must be 1..={}",
                b.bytes,
                u32::MAX
            );
        }
        for p in &self.phases {
            ensure!(
                p.lr.is_finite() && p.lr > 0.0 && p.lr <= 1.0,
                "--lr {} is out of range: it must be in (0, 1]",
                p.lr
            );
        }
        Ok(())
    }

    /// The peak learning rate of the current phase, given the run's `--lr`.
    pub fn peak_lr(&self, run_lr: f64) -> f64 {
        self.phases.last().map_or(run_lr, |p| p.lr)
    }
}

/// One line naming the levers a run uses, if any.
pub fn describe(l: &Levers) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(k) = l.qat {
        let input = if l.factored {
            "factored input layer"
        } else {
            "token table"
        };
        parts.push(format!("quantization-aware training {k} ({input})"));
    } else if l.factored {
        parts.push("factored input layer".into());
    }
    if let Some(d) = &l.teacher {
        parts.push(format!(
            "distilling {} (T {}, A {}{})",
            d.path.display(),
            d.temperature,
            d.weight,
            if d.once {
                ", its logits computed once"
            } else {
                ""
            }
        ));
    }
    for (what, p) in [
        ("embedding dropout", l.embed_dropout),
        ("projection dropout", l.proj_dropout),
        ("AdamW weight decay", l.weight_decay),
    ] {
        if p > 0.0 {
            parts.push(format!("{what} {p}"));
        }
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Flags that only mean something with another one.
fn check_pairs(f: &LeverFlags) -> Result<()> {
    if f.teacher.is_none() {
        for (flag, given) in [
            ("--distill-temperature", f.distill_temperature.is_some()),
            ("--distill-weight", f.distill_weight.is_some()),
            ("--teacher-once", f.teacher_once),
        ] {
            ensure!(
                !given,
                "{flag} goes with --teacher RUN (the model to distill)"
            );
        }
    }
    match (f.budget_bytes, f.dtype) {
        (Some(_), None) => {
            bail!("--budget-bytes needs --dtype int8|int4: the budget is for that file")
        }
        (None, Some(_)) => bail!("--dtype goes with --budget-bytes N (the file the budget is for)"),
        (Some(_), Some(d)) => {
            if let Some(q) = f.qat.filter(|&q| q != d) {
                bail!("--qat {q} does not match --dtype {d}: train for the file you will export");
            }
        }
        (None, None) => ensure!(
            f.factored != Some(Factored::Auto),
            "--factored auto needs --budget-bytes N (give on or off without a budget)"
        ),
    }
    Ok(())
}

/// Whether `--resume` with these flags starts a new phase: a `--qat` the run does not have.
pub fn starts_phase(stored: &Levers, f: &LeverFlags) -> bool {
    f.qat.is_some_and(|q| stored.qat != Some(q))
}

/// The levers of a resumed run: the stored ones, changed only by a new `phase` (which may
/// set the dropouts, the weight decay, the input layer and the distillation afresh);
/// anything else that differs is pushed to `conflicts`.
pub fn resumed(
    stored: &Levers,
    f: &LeverFlags,
    phase: Option<Phase>,
    conflicts: &mut Vec<String>,
) -> Levers {
    if f.budget_bytes.is_some() || f.dtype.is_some() {
        conflicts.push("--budget-bytes/--dtype (a budget chooses the shape of a new run)".into());
    }
    if f.factored == Some(Factored::Auto) {
        conflicts.push("--factored auto (it goes with --budget-bytes)".into());
    }
    let mut l = stored.clone();
    match phase {
        Some(p) => {
            l.qat = p.qat;
            l.phases.push(p);
            l.embed_dropout = f.embed_dropout.unwrap_or(l.embed_dropout);
            l.proj_dropout = f.proj_dropout.unwrap_or(l.proj_dropout);
            l.weight_decay = f.weight_decay.unwrap_or(l.weight_decay);
            if let Some(on) = f.factored {
                l.factored = on == Factored::On;
            }
            new_teacher(&mut l, f, conflicts);
        }
        None => same_levers(stored, f, conflicts),
    }
    l
}

/// A phase's distillation: a new `--teacher`, or new T and A for the run's teacher.
fn new_teacher(l: &mut Levers, f: &LeverFlags, conflicts: &mut Vec<String>) {
    if let Some(path) = &f.teacher {
        l.teacher = Some(Distill {
            path: path.clone(),
            fingerprint: String::new(),
            temperature: DISTILL_TEMPERATURE,
            weight: DISTILL_WEIGHT,
            once: false,
        });
    }
    match &mut l.teacher {
        Some(d) => {
            d.temperature = f.distill_temperature.unwrap_or(d.temperature);
            d.weight = f.distill_weight.unwrap_or(d.weight);
            d.once |= f.teacher_once;
        }
        None if f.distill_temperature.is_some() || f.distill_weight.is_some() || f.teacher_once => {
            conflicts.push(
                "--distill-temperature/--distill-weight/--teacher-once (the run has no --teacher)"
                    .into(),
            );
        }
        None => {}
    }
}

/// Without a new phase every lever flag must repeat the run's value.
fn same_levers(s: &Levers, f: &LeverFlags, conflicts: &mut Vec<String>) {
    let mut differs = |flag: &str, given: Option<f64>, has: f64| {
        if let Some(v) = given.filter(|&v| v != has) {
            conflicts.push(format!("{flag} {v} (the run has {has})"));
        }
    };
    differs("--embed-dropout", f.embed_dropout, s.embed_dropout);
    differs("--proj-dropout", f.proj_dropout, s.proj_dropout);
    differs("--weight-decay", f.weight_decay, s.weight_decay);
    match &s.teacher {
        Some(d) => {
            differs(
                "--distill-temperature",
                f.distill_temperature,
                d.temperature,
            );
            differs("--distill-weight", f.distill_weight, d.weight);
            if f.teacher_once && !d.once {
                conflicts.push(
                    "--teacher-once (the run's teacher runs on every batch; it may change with \
                     a new --qat phase)"
                        .into(),
                );
            }
        }
        None if f.teacher.is_some()
            || f.distill_temperature.is_some()
            || f.distill_weight.is_some()
            || f.teacher_once =>
        {
            conflicts.push(
                "--teacher/--distill-* (the run has no teacher; one may start with a new --qat \
                 phase)"
                    .into(),
            );
        }
        None => {}
    }
    if let Some(on) = f.factored.filter(|&on| (on == Factored::On) != s.factored) {
        conflicts.push(format!(
            "--factored {} (the run has {}; it may change with a new --qat phase)",
            on.name(),
            if s.factored { "on" } else { "off" }
        ));
    }
}

#[cfg(test)]
#[path = "levers_tests.rs"]
mod tests;
