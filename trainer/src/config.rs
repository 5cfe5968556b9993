//! Training configuration: defaults, range checks, and what `--resume` may change.

use anyhow::{bail, ensure, Result};
use mynah_format::{Activation, Arch, Cell, Hyper, WeightsKind, MAX_CONTEXT};
use mynah_text::{Mode, ModeKind, UnkPolicy, Vocab};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::choices::Named;
pub use crate::choices::{parse_named, ArchKind};
use crate::levers::{self, LeverFlags, Levers, Phase};
use crate::qat::QatSpec;

/// Defaults, chosen so that `mynah-train train --corpus X --out Y` trains a good model on a
/// laptop CPU in a few minutes without tuning (see the README's table).
pub mod defaults {
    /// Embedding width.
    pub const EMBED: u32 = 32;
    /// GRU hidden size.
    pub const HIDDEN: u32 = 256;
    /// GRU layers.
    pub const LAYERS: u32 = 1;
    /// Dropout between GRU layers (no effect with one layer).
    pub const DROPOUT: f64 = 0.0;
    /// Characters per training window (text mode).
    pub const SEQ_LEN: usize = 128;
    /// Windows (text) or records (record modes) per batch.
    pub const BATCH: usize = 128;
    /// Longest record used whole for training (record modes); longer ones are truncated.
    pub const MAX_LEN: usize = 512;
    /// Peak learning rate.
    pub const LR: f64 = 8e-3;
    /// Linear warm-up steps (at most a tenth of a step-bounded run).
    pub const WARMUP: u64 = 100;
    /// Gradient-norm clipping threshold.
    pub const CLIP: f64 = 1.0;
    /// Steps when no stop condition is given.
    pub const STEPS: u64 = 3000;
    /// Validation (and checkpoint) interval in steps.
    pub const EVAL_EVERY: u64 = 1000;
    /// Sample interval in steps.
    pub const SAMPLE_EVERY: u64 = 500;
    /// Metrics row interval in steps.
    pub const LOG_EVERY: u64 = 50;
    /// Random seed.
    pub const SEED: u64 = 1234;
    /// Tokens the n-gram model sees.
    pub const CONTEXT: u32 = 8;
}

/// Adam's constants (PyTorch's defaults); stored in checkpoints for the record.
pub const BETA1: f64 = 0.9;
/// Second-moment decay.
pub const BETA2: f64 = 0.999;
/// Denominator epsilon.
pub const EPS: f64 = 1e-8;
/// The cosine schedule ends at this fraction of the peak learning rate.
pub const MIN_LR_FRACTION: f64 = 0.1;
/// Largest `--embed` / `--hidden` (the model file's limit).
pub const MAX_DIM: u32 = 4096;

/// Everything that defines a training run. Stored in every checkpoint and in `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Corpus file (absolute path).
    pub corpus: PathBuf,
    /// `text`, `lines` or `csv`.
    pub mode: ModeKind,
    /// CSV column (0-based), csv mode only.
    pub csv_column: usize,
    /// Whether the CSV has a header row.
    pub csv_header: bool,
    /// Unknown-character policy for the validation part: `error` or `skip`.
    #[serde(with = "crate::choices::named")]
    pub unk: UnkPolicy,
    /// `recurrent` or `ngram` (absent in runs from before n-grams: recurrent).
    #[serde(default, with = "crate::choices::named")]
    pub arch: ArchKind,
    /// The recurrent cell (absent in runs from before LSTMs: GRU).
    #[serde(default = "default_cell", with = "crate::choices::named")]
    pub cell: Cell,
    /// Tokens the n-gram model sees.
    #[serde(default = "default_context")]
    pub context: u32,
    /// The n-gram model's hidden nonlinearity.
    #[serde(default = "default_activation", with = "crate::choices::named")]
    pub activation: Activation,
    /// Embedding width.
    pub embed: u32,
    /// Hidden size.
    pub hidden: u32,
    /// Layers.
    pub layers: u32,
    /// Dropout between layers.
    pub dropout: f64,
    /// Window length (text mode).
    pub seq_len: usize,
    /// Batch size.
    pub batch: usize,
    /// Record truncation length for training (record modes).
    pub max_len: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Warm-up steps.
    pub warmup: u64,
    /// Gradient-norm clip.
    pub clip: f64,
    /// Adam beta1.
    pub beta1: f64,
    /// Adam beta2.
    pub beta2: f64,
    /// Adam epsilon.
    pub eps: f64,
    /// Stop after this many steps.
    pub steps: Option<u64>,
    /// Stop after this many epochs.
    pub epochs: Option<f64>,
    /// Stop after this many minutes.
    pub time_limit: Option<f64>,
    /// Validation interval.
    pub eval_every: u64,
    /// Sample interval (0 = never).
    pub sample_every: u64,
    /// Metrics interval.
    pub log_every: u64,
    /// Seed.
    pub seed: u64,
    /// QAT, distillation, extra dropout, weight decay, size budget, phases.
    #[serde(flatten)]
    pub levers: Levers,
}

/// Options of `train` that may be given or left out (to tell defaults from choices on resume).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// --corpus
    pub corpus: Option<PathBuf>,
    /// --mode
    pub mode: Option<ModeKind>,
    /// --csv-column
    pub csv_column: Option<usize>,
    /// --csv-header
    pub csv_header: bool,
    /// --unk
    pub unk: Option<UnkPolicy>,
    /// --arch
    pub arch: Option<ArchKind>,
    /// --cell
    pub cell: Option<Cell>,
    /// --context
    pub context: Option<u32>,
    /// --activation
    pub activation: Option<Activation>,
    /// --embed
    pub embed: Option<u32>,
    /// --hidden
    pub hidden: Option<u32>,
    /// --layers
    pub layers: Option<u32>,
    /// --dropout
    pub dropout: Option<f64>,
    /// --seq-len
    pub seq_len: Option<usize>,
    /// --batch
    pub batch: Option<usize>,
    /// --max-len
    pub max_len: Option<usize>,
    /// --lr
    pub lr: Option<f64>,
    /// --warmup
    pub warmup: Option<u64>,
    /// --clip
    pub clip: Option<f64>,
    /// --steps
    pub steps: Option<u64>,
    /// --epochs
    pub epochs: Option<f64>,
    /// --time-limit
    pub time_limit: Option<f64>,
    /// --eval-every
    pub eval_every: Option<u64>,
    /// --sample-every
    pub sample_every: Option<u64>,
    /// --log-every
    pub log_every: Option<u64>,
    /// --seed
    pub seed: Option<u64>,
    /// --qat, --teacher, --budget-bytes and the other levers.
    pub levers: LeverFlags,
}

/// Where a run stands when it is resumed: a phase it starts begins here.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ResumeAt {
    /// The checkpoint's step.
    pub step: u64,
    /// Its training seconds.
    pub secs: f64,
}

impl TrainConfig {
    /// A new run's configuration: the given options over the defaults.
    pub fn from_overrides(o: &Overrides, corpus: PathBuf) -> Result<Self> {
        let mut stop = (o.steps, o.epochs, o.time_limit);
        if stop == (None, None, None) {
            stop.0 = Some(defaults::STEPS);
        }
        let arch = o.arch.unwrap_or_default();
        check_arch_options(arch, o)?;
        let c = TrainConfig {
            corpus,
            mode: o.mode.unwrap_or(ModeKind::Text),
            csv_column: o.csv_column.unwrap_or(0),
            csv_header: o.csv_header,
            unk: o.unk.unwrap_or_default(),
            arch,
            cell: o.cell.unwrap_or_else(default_cell),
            context: o.context.unwrap_or(defaults::CONTEXT),
            activation: o.activation.unwrap_or_else(default_activation),
            embed: o.embed.unwrap_or(defaults::EMBED),
            hidden: o.hidden.unwrap_or(defaults::HIDDEN),
            layers: o.layers.unwrap_or(defaults::LAYERS),
            dropout: o.dropout.unwrap_or(defaults::DROPOUT),
            seq_len: o.seq_len.unwrap_or(defaults::SEQ_LEN),
            batch: o.batch.unwrap_or(defaults::BATCH),
            max_len: o.max_len.unwrap_or(defaults::MAX_LEN),
            lr: o.lr.unwrap_or(defaults::LR),
            warmup: o.warmup.unwrap_or(defaults::WARMUP),
            clip: o.clip.unwrap_or(defaults::CLIP),
            beta1: BETA1,
            beta2: BETA2,
            eps: EPS,
            steps: stop.0,
            epochs: stop.1,
            time_limit: stop.2,
            eval_every: o.eval_every.unwrap_or(defaults::EVAL_EVERY),
            sample_every: o.sample_every.unwrap_or(defaults::SAMPLE_EVERY),
            log_every: o.log_every.unwrap_or(defaults::LOG_EVERY),
            seed: o.seed.unwrap_or(defaults::SEED),
            levers: Levers::new(&o.levers)?,
        };
        c.validate()?;
        Ok(c)
    }

    /// The configuration of a resumed run: the checkpoint's, where the options given now may
    /// only change the stop conditions and the reporting intervals, unless a new `--qat`
    /// starts a phase (at `at`): then `--lr` is the phase's, and the dropouts, the weight
    /// decay, the input layer and the distillation may change too.
    pub fn resumed(stored: &TrainConfig, o: &Overrides, at: ResumeAt) -> Result<Self> {
        check_arch_options(o.arch.unwrap_or(stored.arch), o)?;
        let phase = levers::starts_phase(&stored.levers, &o.levers).then(|| Phase {
            start_step: at.step,
            start_secs: at.secs,
            qat: o.levers.qat,
            lr: o.lr.unwrap_or_else(|| stored.final_lr()),
        });
        let mut conflicts = Vec::new();
        macro_rules! same {
            ($field:ident, $flag:literal) => {
                if let Some(v) = &o.$field {
                    if *v != stored.$field {
                        conflicts.push(format!("{} {} (the run has {})", $flag, v, stored.$field));
                    }
                }
            };
        }
        same!(mode, "--mode");
        same!(csv_column, "--csv-column");
        same!(unk, "--unk");
        same!(arch, "--arch");
        same!(cell, "--cell");
        same!(context, "--context");
        same!(activation, "--activation");
        same!(embed, "--embed");
        same!(hidden, "--hidden");
        same!(layers, "--layers");
        if phase.is_none() {
            same!(dropout, "--dropout");
            same!(lr, "--lr");
        }
        same!(seq_len, "--seq-len");
        same!(batch, "--batch");
        same!(max_len, "--max-len");
        same!(warmup, "--warmup");
        same!(clip, "--clip");
        same!(seed, "--seed");
        if o.csv_header && !stored.csv_header {
            conflicts.push("--csv-header (the run has no header row)".into());
        }
        let new_stop = o.steps.is_some() || o.epochs.is_some() || o.time_limit.is_some();
        if let Some(p) = phase.as_ref().filter(|_| !new_stop) {
            bail!(
                "--qat {} on --resume starts a fine-tuning phase after step {}: give its length \
                 with --steps, --epochs or --time-limit (counted from its start)",
                o.levers.qat.map_or("", |k| k.name()),
                p.start_step
            );
        }
        let new_phase = phase.is_some();
        let levers = levers::resumed(&stored.levers, &o.levers, phase, &mut conflicts);
        if !conflicts.is_empty() {
            bail!(
                "--resume continues a run with its own configuration; these options conflict \
                 with it: {}. Leave them out, or start a new run with another --out",
                conflicts.join(", ")
            );
        }
        let mut c = stored.clone();
        c.levers = levers;
        if new_phase {
            c.dropout = o.dropout.unwrap_or(c.dropout);
        }
        if new_stop {
            // A new stop condition replaces the old one (and reshapes the rest of the schedule).
            c.steps = o.steps;
            c.epochs = o.epochs;
            c.time_limit = o.time_limit;
        }
        if let Some(v) = o.eval_every {
            c.eval_every = v;
        }
        if let Some(v) = o.sample_every {
            c.sample_every = v;
        }
        if let Some(v) = o.log_every {
            c.log_every = v;
        }
        c.validate()?;
        Ok(c)
    }

    /// Range checks, with the flag to fix in each message.
    pub fn validate(&self) -> Result<()> {
        ensure!(
            (1..=MAX_DIM).contains(&self.embed),
            "--embed {} is out of range: it must be 1..={MAX_DIM}",
            self.embed
        );
        ensure!(
            (1..=MAX_DIM).contains(&self.hidden),
            "--hidden {} is out of range: it must be 1..={MAX_DIM}",
            self.hidden
        );
        ensure!(
            (1..=4).contains(&self.layers),
            "--layers {} is out of range: it must be 1..=4",
            self.layers
        );
        ensure!(
            self.arch == ArchKind::Recurrent || self.layers == 1,
            "--layers {} does not fit --arch ngram: the n-gram model has exactly 1 hidden layer \
             (--hidden sets its width)",
            self.layers
        );
        ensure!(
            (1..=MAX_CONTEXT).contains(&self.context),
            "--context {} is out of range: it must be 1..={MAX_CONTEXT}",
            self.context
        );
        ensure!(
            self.dropout.is_finite() && (0.0..1.0).contains(&self.dropout),
            "--dropout {} is out of range: it must be in [0, 1)",
            self.dropout
        );
        ensure!(
            (1..=1 << 20).contains(&self.seq_len),
            "--seq-len {} is out of range: it must be 1..=1048576",
            self.seq_len
        );
        ensure!(
            (1..=1 << 20).contains(&self.batch),
            "--batch {} is out of range: it must be 1..=1048576",
            self.batch
        );
        ensure!(
            (1..=1 << 20).contains(&self.max_len),
            "--max-len {} is out of range: it must be 1..=1048576",
            self.max_len
        );
        ensure!(
            self.lr.is_finite() && self.lr > 0.0 && self.lr <= 1.0,
            "--lr {} is out of range: it must be in (0, 1]",
            self.lr
        );
        ensure!(
            self.clip.is_finite() && self.clip > 0.0,
            "--clip {} is out of range: it must be a positive number",
            self.clip
        );
        if let Some(s) = self.steps {
            ensure!(s >= 1, "--steps must be at least 1");
        }
        if let Some(e) = self.epochs {
            ensure!(
                e.is_finite() && e > 0.0,
                "--epochs {e} is out of range: it must be a positive number"
            );
        }
        if let Some(t) = self.time_limit {
            ensure!(
                t.is_finite() && t > 0.0,
                "--time-limit {t} is out of range: it must be a positive number of minutes"
            );
        }
        ensure!(self.eval_every >= 1, "--eval-every must be at least 1");
        ensure!(self.log_every >= 1, "--log-every must be at least 1");
        ensure!(
            self.arch == ArchKind::Recurrent || !self.levers.factored,
            "--factored on is for recurrent models: the n-gram's input is always its table"
        );
        self.levers.validate()
    }

    /// The learning rate the current phase ends at: where a new phase starts by default.
    pub fn final_lr(&self) -> f64 {
        self.levers.peak_lr(self.lr) * MIN_LR_FRACTION
    }

    /// The fake quantization of the current phase.
    pub fn qat_spec(&self) -> Option<QatSpec> {
        self.levers.qat.map(|kind| QatSpec {
            kind,
            factored: self.levers.factored,
        })
    }

    /// The corpus mode.
    pub fn text_mode(&self) -> Mode {
        self.mode.with(self.csv_column, self.csv_header)
    }

    /// The model's architecture.
    pub fn arch(&self) -> Arch {
        match self.arch {
            ArchKind::Recurrent => Arch::Recurrent(self.cell),
            ArchKind::Ngram => Arch::Ngram {
                context: self.context,
                activation: self.activation,
            },
        }
    }

    /// The float model this configuration trains over `vocab`.
    pub fn hyper(&self, vocab: &Vocab) -> Result<Hyper> {
        let hyper = Hyper {
            vocab_size: u32::try_from(vocab.size())?,
            embed_dim: self.embed,
            hidden_dim: self.hidden,
            num_layers: self.layers,
            records: self.mode.is_records(),
            weights: WeightsKind::Float,
            arch: self.arch(),
            specials: vocab.specials(),
            factored: false,
        };
        hyper
            .validate()
            .map_err(|e| anyhow::anyhow!("the model does not fit the model file: {e}"))?;
        Ok(hyper)
    }
}

/// `--cell` belongs to recurrent models, `--context` and `--activation` to the n-gram: a flag
/// that the architecture ignores is a mistake worth reporting.
fn check_arch_options(arch: ArchKind, o: &Overrides) -> Result<()> {
    match arch {
        ArchKind::Recurrent => {
            let given = [
                ("--context", o.context.is_some()),
                ("--activation", o.activation.is_some()),
            ];
            if let Some((flag, _)) = given.iter().find(|g| g.1) {
                bail!("{flag} is an option of the n-gram model: add --arch ngram");
            }
        }
        ArchKind::Ngram => ensure!(
            o.cell.is_none(),
            "--cell is an option of recurrent models; --arch ngram has no recurrent cell"
        ),
    }
    Ok(())
}

fn default_cell() -> Cell {
    Cell::Gru
}

fn default_context() -> u32 {
    defaults::CONTEXT
}

fn default_activation() -> Activation {
    Activation::Relu
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_stop_by_steps() {
        let c = TrainConfig::from_overrides(&Overrides::default(), "x".into()).unwrap();
        assert_eq!(c.steps, Some(defaults::STEPS));
        assert_eq!(c.hidden, defaults::HIDDEN);
    }

    #[test]
    fn ranges_are_checked() {
        for (o, flag) in [
            (
                Overrides {
                    hidden: Some(0),
                    ..Default::default()
                },
                "--hidden 0",
            ),
            (
                Overrides {
                    layers: Some(5),
                    ..Default::default()
                },
                "--layers 5",
            ),
            (
                Overrides {
                    lr: Some(f64::NAN),
                    ..Default::default()
                },
                "--lr NaN",
            ),
        ] {
            let e = TrainConfig::from_overrides(&o, "x".into()).unwrap_err();
            assert!(e.to_string().contains(flag), "{e}");
        }
    }

    #[test]
    fn resume_refuses_conflicts_and_takes_new_stops() {
        let c = TrainConfig::from_overrides(&Overrides::default(), "x".into()).unwrap();
        let same = Overrides {
            hidden: Some(c.hidden),
            time_limit: Some(2.0),
            ..Default::default()
        };
        let r = TrainConfig::resumed(&c, &same, ResumeAt::default()).unwrap();
        assert_eq!((r.steps, r.time_limit), (None, Some(2.0)));
        let other = Overrides {
            hidden: Some(7),
            ..Default::default()
        };
        let e = TrainConfig::resumed(&c, &other, ResumeAt::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--hidden 7 (the run has 256)"), "{e}");
        let lstm = Overrides {
            cell: Some(Cell::Lstm),
            ..Default::default()
        };
        let e = TrainConfig::resumed(&c, &lstm, ResumeAt::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--cell lstm (the run has gru)"), "{e}");
        let ngram = Overrides {
            arch: Some(ArchKind::Ngram),
            ..Default::default()
        };
        let e = TrainConfig::resumed(&c, &ngram, ResumeAt::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--arch ngram (the run has recurrent)"), "{e}");
        let n = TrainConfig::from_overrides(&ngram, "x".into()).unwrap();
        let wider = Overrides {
            context: Some(9),
            activation: Some(Activation::Tanh),
            ..Default::default()
        };
        let e = TrainConfig::resumed(&n, &wider, ResumeAt::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--context 9 (the run has 8), --activation tanh (the run has relu)"),
            "{e}"
        );
    }

    #[test]
    fn ngram_options_are_checked() {
        let ngram = |o: Overrides| {
            TrainConfig::from_overrides(
                &Overrides {
                    arch: Some(ArchKind::Ngram),
                    ..o
                },
                "x".into(),
            )
        };
        let c = ngram(Overrides::default()).unwrap();
        assert_eq!(
            c.arch(),
            Arch::Ngram {
                context: defaults::CONTEXT,
                activation: Activation::Relu
            }
        );
        for (o, needle) in [
            (
                Overrides {
                    layers: Some(2),
                    ..Default::default()
                },
                "--layers 2 does not fit --arch ngram",
            ),
            (
                Overrides {
                    context: Some(0),
                    ..Default::default()
                },
                "--context 0 is out of range: it must be 1..=32",
            ),
            (
                Overrides {
                    context: Some(99),
                    ..Default::default()
                },
                "--context 99 is out of range",
            ),
            (
                Overrides {
                    cell: Some(Cell::Lstm),
                    ..Default::default()
                },
                "--cell is an option of recurrent models",
            ),
        ] {
            let e = ngram(o).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
        let recurrent_with_context = Overrides {
            context: Some(4),
            ..Default::default()
        };
        let e = TrainConfig::from_overrides(&recurrent_with_context, "x".into())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--context is an option of the n-gram model"),
            "{e}"
        );
        let e = parse_named::<Cell>("foo").unwrap_err().to_string();
        assert_eq!(e, "unknown --cell \"foo\": expected gru, lstm or rnn");
        assert!(parse_named::<Activation>("x").is_err());
        assert_eq!(parse_named::<ArchKind>("ngram").unwrap(), ArchKind::Ngram);
    }

    #[test]
    fn json_spells_choices_by_name_and_old_configs_load_as_gru() {
        let c = TrainConfig::from_overrides(&Overrides::default(), "x".into()).unwrap();
        let mut json: serde_json::Value = serde_json::to_value(&c).unwrap();
        assert_eq!(
            (&json["mode"], &json["unk"], &json["arch"], &json["cell"]),
            (
                &"text".into(),
                &"error".into(),
                &"recurrent".into(),
                &"gru".into()
            )
        );
        assert_eq!(json["activation"], "relu");
        let obj = json.as_object_mut().unwrap();
        for key in ["arch", "cell", "context", "activation"] {
            obj.remove(key);
        }
        let old: TrainConfig = serde_json::from_value(json).unwrap();
        assert_eq!(old, c);
        assert_eq!(old.arch(), Arch::GRU);
    }
}
