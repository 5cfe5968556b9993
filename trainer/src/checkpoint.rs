//! Checkpoints (`DIR/latest.safetensors`, `DIR/best.safetensors`) and the metadata that
//! makes a safetensors file a mynah model.
//!
//! A checkpoint is a safetensors file holding the parameters under PyTorch's names, Adam's
//! moments as `adam.m.<name>` / `adam.v.<name>`, and in `__metadata__`:
//! - `format`: `mynah-checkpoint`, `format_version`: `1`;
//! - `mynah`: JSON [`CheckpointMeta`] (configuration, vocabulary, corpus fingerprint, run state);
//! - the keys every mynah safetensors file has (see [`ModelKeys`]): `vocab`, `specials`,
//!   `mode`, `embed`, `hidden`, `layers`.

use crate::config::TrainConfig;
use crate::data::DataPosition;
use crate::params::{read_safetensors, to_safetensors, write_atomic, HostTensor};
use anyhow::{bail, Context, Result};
use mynah_text::Vocab;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// `__metadata__["format"]` of a checkpoint.
pub const CHECKPOINT_FORMAT: &str = "mynah-checkpoint";
/// Bumped when the layout changes incompatibly.
pub const CHECKPOINT_VERSION: u32 = 1;
/// The latest state of a run.
pub const LATEST: &str = "latest.safetensors";
/// The state with the lowest validation loss so far.
pub const BEST: &str = "best.safetensors";

/// Where a run is, beyond its tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Optimizer steps done.
    pub step: u64,
    /// The data stream's position.
    pub data: DataPosition,
    /// Adam's step count.
    pub adam_t: u64,
    /// Validation loss (nats/char) of these parameters, if validated.
    pub val_loss: Option<f64>,
    /// Lowest validation loss of the run so far.
    pub best_val_loss: Option<f64>,
    /// Step of `best_val_loss`.
    pub best_step: Option<u64>,
    /// Learning rate of the last step.
    pub lr: f64,
    /// Wall-clock seconds of training so far (all sessions of the run).
    pub elapsed_secs: f64,
    /// Scored training characters so far.
    pub chars_seen: u64,
    /// Epochs so far (fractional in text mode).
    pub epoch: f64,
}

/// The corpus a run trains on, to notice if it changes before `--resume`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorpusInfo {
    /// Absolute path.
    pub path: PathBuf,
    /// FNV-1a 64 of the corpus as read, hex.
    pub fingerprint: String,
    /// Characters in the whole corpus.
    pub chars: usize,
    /// Records (1 in text mode).
    pub records: usize,
}

/// The JSON in `__metadata__["mynah"]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// The run's configuration.
    pub config: TrainConfig,
    /// The characters (ids 3, 4, ...).
    pub vocab: Vec<char>,
    /// The corpus.
    pub corpus: CorpusInfo,
    /// Progress.
    pub state: RunState,
}

/// What every mynah safetensors file (checkpoint or export) says about its model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelKeys {
    /// The vocabulary.
    pub vocab: Vocab,
    /// `text`, `lines` or `csv`.
    pub mode: String,
}

impl ModelKeys {
    /// Metadata entries: `vocab` (JSON array of the characters, ids 3..), `specials`
    /// (`["<PAD>","<BOS>","<EOS>"]`, ids 0..2), `mode`, and the sizes.
    pub fn to_metadata(
        &self,
        embed: u32,
        hidden: u32,
        layers: u32,
    ) -> Result<HashMap<String, String>> {
        let chars: Vec<String> = self.vocab.chars().iter().map(char::to_string).collect();
        Ok(HashMap::from([
            ("vocab".to_owned(), serde_json::to_string(&chars)?),
            (
                "specials".to_owned(),
                serde_json::to_string(&["<PAD>", "<BOS>", "<EOS>"])?,
            ),
            ("mode".to_owned(), self.mode.clone()),
            ("embed".to_owned(), embed.to_string()),
            ("hidden".to_owned(), hidden.to_string()),
            ("layers".to_owned(), layers.to_string()),
        ]))
    }

    /// Reads the entries written by [`ModelKeys::to_metadata`].
    pub fn from_metadata(meta: &HashMap<String, String>) -> Result<ModelKeys> {
        let vocab_json = meta
            .get("vocab")
            .context("no `vocab` key in the safetensors metadata (not a mynah model file)")?;
        let strings: Vec<String> = serde_json::from_str(vocab_json)
            .context("metadata key `vocab` is not a JSON array of strings")?;
        let mut chars = Vec::with_capacity(strings.len());
        for s in &strings {
            let mut it = s.chars();
            match (it.next(), it.next()) {
                (Some(c), None) => chars.push(c),
                _ => bail!("metadata key `vocab` holds {s:?}, which is not one character"),
            }
        }
        let vocab = Vocab::from_chars(chars).context("metadata key `vocab`")?;
        let mode = meta.get("mode").cloned().unwrap_or_else(|| "text".into());
        Ok(ModelKeys { vocab, mode })
    }
}

/// A checkpoint in memory.
pub struct Checkpoint {
    /// Metadata.
    pub meta: CheckpointMeta,
    /// Parameters (PyTorch names).
    pub params: Vec<HostTensor>,
    /// Adam moments (`adam.m.*`, `adam.v.*`).
    pub adam: Vec<HostTensor>,
}

impl Checkpoint {
    /// Writes the checkpoint to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let c = &self.meta.config;
        let keys = ModelKeys {
            vocab: Vocab::from_chars(self.meta.vocab.clone())?,
            mode: c.mode.clone(),
        };
        let mut metadata = keys.to_metadata(c.embed, c.hidden, c.layers)?;
        metadata.insert("format".into(), CHECKPOINT_FORMAT.into());
        metadata.insert("format_version".into(), CHECKPOINT_VERSION.to_string());
        metadata.insert("mynah".into(), serde_json::to_string(&self.meta)?);
        let tensors: Vec<HostTensor> = self.params.iter().chain(&self.adam).cloned().collect();
        write_atomic(path, &to_safetensors(&tensors, metadata)?)
    }

    /// Reads a checkpoint written by [`Checkpoint::save`].
    pub fn load(path: &Path) -> Result<Checkpoint> {
        let file = read_safetensors(path)?;
        if file.metadata.get("format").map(String::as_str) != Some(CHECKPOINT_FORMAT) {
            bail!(
                "{} is not a mynah-train checkpoint (an exported model has no training state)",
                path.display()
            );
        }
        let version = file.metadata.get("format_version").map(String::as_str);
        if version != Some(&CHECKPOINT_VERSION.to_string()) {
            bail!(
                "{} is a checkpoint of format version {}, this mynah-train reads version {CHECKPOINT_VERSION}",
                path.display(),
                version.unwrap_or("?")
            );
        }
        let meta: CheckpointMeta = serde_json::from_str(
            file.metadata
                .get("mynah")
                .context("checkpoint metadata has no `mynah` key")?,
        )
        .with_context(|| format!("{}: unreadable checkpoint metadata", path.display()))?;
        let (adam, params) = file
            .tensors
            .into_iter()
            .partition(|t| t.name.starts_with("adam."));
        Ok(Checkpoint { meta, params, adam })
    }
}

/// A model read from any mynah safetensors file: a checkpoint, or the output of
/// `mynah-train export --safetensors`.
pub struct LoadedModel {
    /// Vocabulary and mode.
    pub keys: ModelKeys,
    /// Parameters.
    pub params: Vec<HostTensor>,
    /// Present when the file is a checkpoint.
    pub meta: Option<CheckpointMeta>,
    /// The file read.
    pub path: PathBuf,
}

/// Resolves `DIR` (→ `DIR/<which>`) or a file path, and reads the model in it.
pub fn load_model(path: &Path, which: Which) -> Result<LoadedModel> {
    let file_path = resolve(path, which)?;
    let file = read_safetensors(&file_path)?;
    let keys = ModelKeys::from_metadata(&file.metadata)
        .with_context(|| format!("{}", file_path.display()))?;
    let meta = if file.metadata.get("format").map(String::as_str) == Some(CHECKPOINT_FORMAT) {
        Some(Checkpoint::load(&file_path)?.meta)
    } else {
        None
    };
    let params = file
        .tensors
        .into_iter()
        .filter(|t| !t.name.starts_with("adam."))
        .collect();
    Ok(LoadedModel {
        keys,
        params,
        meta,
        path: file_path,
    })
}

/// Which checkpoint of a run directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// The lowest validation loss.
    Best,
    /// The most recent.
    Latest,
}

/// `DIR` → `DIR/best.safetensors` (or latest); a file stays as it is.
pub fn resolve(path: &Path, which: Which) -> Result<PathBuf> {
    if path.is_dir() {
        let name = match which {
            Which::Best => BEST,
            Which::Latest => LATEST,
        };
        let p = path.join(name);
        if !p.is_file() {
            bail!(
                "{} holds no checkpoint ({name} not found); is it the --out directory of a \
                 mynah-train run that has validated at least once?",
                path.display()
            );
        }
        Ok(p)
    } else if path.is_file() {
        Ok(path.to_owned())
    } else {
        bail!("{} does not exist", path.display())
    }
}
