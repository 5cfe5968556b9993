//! Checkpoints (`DIR/latest.safetensors`, `DIR/best.safetensors`) and the metadata that
//! makes a safetensors file a mynah model.
//!
//! A checkpoint is a safetensors file holding the parameters under PyTorch's names, Adam's
//! moments as `adam.m.<name>` / `adam.v.<name>`, and in `__metadata__`:
//! - `format`: `mynah-checkpoint`, `format_version`: `2`;
//! - `mynah`: JSON [`CheckpointMeta`] (configuration, vocabulary, corpus fingerprint, run state);
//! - the keys every mynah safetensors file has (see [`ModelKeys`]).

use crate::config::{parse_named, TrainConfig};
use crate::data::DataPosition;
use crate::model::{infer_hyper, CharModel};
use crate::params::{read_safetensors, to_safetensors, write_atomic, HostTensor};
use anyhow::{bail, ensure, Context, Result};
use mynah_format::{Activation, Arch, Cell, Hyper, Special, Specials};
use mynah_text::{ModeKind, Vocab};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// `__metadata__["format"]` of a checkpoint.
pub const CHECKPOINT_FORMAT: &str = "mynah-checkpoint";
/// Bumped when the layout changes incompatibly: 2 lists every token in `vocab` and has an
/// architecture; version 1 (GRUs with `<PAD>`, `<BOS>`, `<EOS>`) is still read.
pub const CHECKPOINT_VERSION: u32 = 2;
/// The oldest version read.
const MIN_CHECKPOINT_VERSION: u32 = 1;
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
    /// The characters, in id order after the specials.
    pub vocab: Vec<char>,
    /// The special tokens, in id order (absent in version 1: `<PAD>`, `<BOS>`, `<EOS>`).
    #[serde(default = "default_specials")]
    pub specials: Vec<String>,
    /// The corpus.
    pub corpus: CorpusInfo,
    /// Progress.
    pub state: RunState,
}

fn default_specials() -> Vec<String> {
    special_names(Specials::DEFAULT)
}

fn special_names(specials: Specials) -> Vec<String> {
    specials.iter().map(|s| s.name().to_owned()).collect()
}

impl CheckpointMeta {
    /// The metadata of a run over `vocab`.
    pub fn new(config: TrainConfig, vocab: &Vocab, corpus: CorpusInfo, state: RunState) -> Self {
        CheckpointMeta {
            config,
            vocab: vocab.chars().to_vec(),
            specials: special_names(vocab.specials()),
            corpus,
            state,
        }
    }

    /// The run's vocabulary.
    pub fn vocab(&self) -> Result<Vocab> {
        let mut specials = Specials::NONE;
        for name in &self.specials {
            let s = Special::from_name(name)
                .with_context(|| format!("checkpoint lists {name:?} as a special token"))?;
            specials = specials.with(s);
        }
        Vocab::new(specials, self.vocab.clone()).context("checkpoint vocabulary")
    }
}

/// What every mynah safetensors file (checkpoint or export) says about its model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelKeys {
    /// The vocabulary.
    pub vocab: Vocab,
    /// `text`, `lines` or `csv`.
    pub mode: ModeKind,
    /// The architecture.
    pub arch: Arch,
}

impl ModelKeys {
    /// Metadata entries: `vocab` (JSON array of every id's token in id order, specials
    /// included), `mode`, `arch` (`gru`, `lstm`, `rnn` or `ngram`), the sizes, and for the
    /// n-gram `context` and `activation`.
    pub fn to_metadata(&self, hyper: &Hyper) -> Result<HashMap<String, String>> {
        let mut meta = HashMap::from([
            (
                "vocab".to_owned(),
                serde_json::to_string(&self.vocab.tokens())?,
            ),
            ("mode".to_owned(), self.mode.name().to_owned()),
            ("arch".to_owned(), self.arch.name().to_owned()),
            ("embed".to_owned(), hyper.embed_dim.to_string()),
            ("hidden".to_owned(), hyper.hidden_dim.to_string()),
            ("layers".to_owned(), hyper.num_layers.to_string()),
        ]);
        if let Arch::Ngram {
            context,
            activation,
        } = self.arch
        {
            meta.insert("context".into(), context.to_string());
            meta.insert("activation".into(), activation.name().into());
        }
        Ok(meta)
    }

    /// Reads the entries written by [`ModelKeys::to_metadata`], or by a mynah-train of
    /// checkpoint version 1 (GRUs; `vocab` the characters, `specials` the specials).
    pub fn from_metadata(meta: &HashMap<String, String>) -> Result<ModelKeys> {
        let mode = match meta.get("mode") {
            Some(m) => m.parse().context("metadata key `mode`")?,
            None => ModeKind::Text,
        };
        Ok(ModelKeys {
            vocab: vocab_from_metadata(meta)?,
            mode,
            arch: arch_from_metadata(meta)?,
        })
    }

    /// The float model `params` hold, checked against these keys.
    pub fn hyper(&self, params: &[HostTensor]) -> Result<Hyper> {
        let hyper = infer_hyper(
            self.arch,
            self.vocab.specials(),
            self.mode.is_records(),
            params,
        )?;
        ensure!(
            hyper.vocab_size as usize == self.vocab.size(),
            "the vocabulary has {} tokens but embed.weight has {} rows",
            self.vocab.size(),
            hyper.vocab_size
        );
        Ok(hyper)
    }
}

/// The vocabulary of a mynah safetensors file: `vocab` lists every token in id order, or (in
/// the layout of checkpoint version 1, told by its `specials` key) the characters after the
/// specials `specials` lists.
pub fn vocab_from_metadata(meta: &HashMap<String, String>) -> Result<Vocab> {
    let json = meta
        .get("vocab")
        .context("no `vocab` key in the safetensors metadata (not a mynah model file)")?;
    let mut tokens: Vec<String> = serde_json::from_str(json)
        .context("metadata key `vocab` is not a JSON array of strings")?;
    if let Some(specials) = meta.get("specials") {
        let specials: Vec<String> = serde_json::from_str(specials)
            .context("metadata key `specials` is not a JSON array of strings")?;
        tokens.splice(0..0, specials);
    }
    let reordered = Vocab::from_tokens(&tokens).context("metadata key `vocab`")?;
    // Our own files are in mynah's id order; a foreign order is for `import`.
    ensure!(
        reordered.is_identity(),
        "metadata key `vocab` is not in mynah's id order (specials first, then the characters \
         sorted); import such a model with `mynah-train import`"
    );
    Ok(reordered.vocab)
}

/// The architecture named by the metadata (`gru` when absent, as in version 1).
fn arch_from_metadata(meta: &HashMap<String, String>) -> Result<Arch> {
    let get = |key: &str| {
        meta.get(key)
            .with_context(|| format!("an n-gram model file needs the metadata key `{key}`"))
    };
    match meta.get("arch").map_or("gru", String::as_str) {
        "ngram" => Ok(Arch::Ngram {
            context: get("context")?
                .parse()
                .context("metadata key `context` is not a number")?,
            activation: parse_named::<Activation>(get("activation")?)
                .context("metadata key `activation`")?,
        }),
        name => Cell::from_name(name).map(Arch::Recurrent).with_context(|| {
            format!("metadata key `arch` is {name:?}: expected gru, lstm, rnn or ngram")
        }),
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
        let vocab = self.meta.vocab()?;
        let keys = ModelKeys {
            mode: c.mode,
            arch: c.arch(),
            vocab,
        };
        let mut metadata = keys.to_metadata(&c.hyper(&keys.vocab)?)?;
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
        let version = file.metadata.get("format_version");
        let known = (MIN_CHECKPOINT_VERSION..=CHECKPOINT_VERSION)
            .any(|v| version.is_some_and(|s| *s == v.to_string()));
        if !known {
            bail!(
                "{} is a checkpoint of format version {}, this mynah-train reads versions \
                 {MIN_CHECKPOINT_VERSION} to {CHECKPOINT_VERSION}",
                path.display(),
                version.map_or("?", String::as_str)
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
    /// Vocabulary, mode and architecture.
    pub keys: ModelKeys,
    /// The float model the parameters make.
    pub hyper: Hyper,
    /// Parameters.
    pub params: Vec<HostTensor>,
    /// Present when the file is a checkpoint.
    pub meta: Option<CheckpointMeta>,
    /// The file read.
    pub path: PathBuf,
}

impl LoadedModel {
    /// The model on `device`, as its run trained it: fake-quantized if the run was in a
    /// quantization-aware phase (so `eval` and `sample` see what validation saw).
    pub fn to_model(&self, device: tch::Device) -> Result<CharModel> {
        let qat = self.meta.as_ref().and_then(|m| m.config.qat_spec());
        let model = CharModel::from_host(device, self.hyper, &self.params, 0.0)
            .with_context(|| self.path.display().to_string())?;
        Ok(model.with_qat(qat))
    }
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
    let params: Vec<HostTensor> = file
        .tensors
        .into_iter()
        .filter(|t| !t.name.starts_with("adam."))
        .collect();
    let hyper = keys
        .hyper(&params)
        .with_context(|| format!("{}", file_path.display()))?;
    Ok(LoadedModel {
        keys,
        hyper,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn both_vocabulary_layouts_read() {
        let old = meta(&[
            ("vocab", r#"["a","b"]"#),
            ("specials", r#"["<PAD>","<BOS>","<EOS>"]"#),
        ]);
        let new = meta(&[("vocab", r#"["<PAD>","<BOS>","<EOS>","a","b"]"#)]);
        let v = vocab_from_metadata(&old).unwrap();
        assert_eq!(v, vocab_from_metadata(&new).unwrap());
        assert_eq!(v.tokens(), ["<PAD>", "<BOS>", "<EOS>", "a", "b"]);
        let bare = vocab_from_metadata(&meta(&[("vocab", r#"["a","b"]"#)])).unwrap();
        assert_eq!(bare.specials(), Specials::NONE);
        let e = vocab_from_metadata(&meta(&[("vocab", r#"["b","a"]"#)])).unwrap_err();
        assert!(e.to_string().contains("mynah-train import"), "{e}");
    }

    #[test]
    fn keys_round_trip_every_arch() {
        let vocab = Vocab::from_texts(["ab"]).unwrap();
        for arch in [
            Arch::GRU,
            Arch::Recurrent(Cell::Lstm),
            Arch::Ngram {
                context: 5,
                activation: Activation::Tanh,
            },
        ] {
            let keys = ModelKeys {
                vocab: vocab.clone(),
                mode: ModeKind::Lines,
                arch,
            };
            let hyper = Hyper {
                vocab_size: 5,
                embed_dim: 2,
                hidden_dim: 3,
                num_layers: 1,
                records: true,
                weights: mynah_format::WeightsKind::Float,
                arch,
                specials: vocab.specials(),
                factored: false,
            };
            let m = keys.to_metadata(&hyper).unwrap();
            assert_eq!(m["arch"], arch.name());
            assert_eq!(ModelKeys::from_metadata(&m).unwrap(), keys);
        }
        // Version 1 files have no `arch` and no `mode` key may be missing.
        let v1 = meta(&[("vocab", r#"["<PAD>","<BOS>","<EOS>","a"]"#)]);
        let keys = ModelKeys::from_metadata(&v1).unwrap();
        assert_eq!((keys.arch, keys.mode), (Arch::GRU, ModeKind::Text));
        let bad = meta(&[("vocab", r#"["a"]"#), ("arch", "ngram"), ("context", "3")]);
        let e = ModelKeys::from_metadata(&bad).unwrap_err().to_string();
        assert!(e.contains("`activation`"), "{e}");
    }
}
