//! `mynah-train import`: a character-level GRU, LSTM or tanh RNN trained in PyTorch (the seed
//! tutorials' models as their users save them) becomes a run directory that `export`, `eval`,
//! `sample` and `train --resume` treat exactly like one trained here.
//!
//! See [`IMPORT_AFTER_HELP`] for what is accepted; everything else is refused with a message
//! that names the tensor or the file at fault, and nothing is written.

use crate::adam::Adam;
use crate::checkpoint::{Checkpoint, CheckpointMeta, CorpusInfo, BEST, LATEST};
use crate::config::{parse_named, ArchKind, Overrides, TrainConfig};
use crate::evaluate::score;
use crate::metrics::Metrics;
use crate::model::{infer_hyper, CharModel};
use crate::params::{write_atomic, HostTensor};
use crate::{select_device, DeviceChoice};
use anyhow::{bail, ensure, Context, Result};
use mynah_format::{Activation, Arch, Cell, Special};
use mynah_text::{Corpus, ModeKind, Reordered, Split, UnkPolicy, Vocab};
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

/// `mynah-train import --help`, after the options.
pub const IMPORT_AFTER_HELP: &str = "\
Accepted files (recognized by their content, not their name), tensors f32, f16, bf16 or f64:
  - safetensors: safetensors.torch.save_file(model.state_dict(), PATH). The output of
    `mynah-train export --safetensors` imports without --vocab and --mode.
  - torch.save(dict(model.state_dict()), PATH): a plain dict of tensors in PyTorch's zip
    format (the default since PyTorch 1.6).
  - TorchScript: torch.jit.save(torch.jit.trace(model, example), PATH) (its parameters).
Refused, with a message saying how to save instead: torch.save(model.state_dict(), PATH)
(an OrderedDict, which libtorch cannot read: wrap it in dict(...)), a pickled model
(torch.save(model, PATH)), a training checkpoint dict holding more than tensors, and
torch.save's legacy format (_use_new_zipfile_serialization=False).

Accepted models: [embedding ->] recurrent layers -> linear, as the char-level tutorials build
them from nn.Embedding (optional), one of nn.GRU, nn.LSTM or nn.RNN (1 to 4 layers,
batch_first or not, with or without biases, any dropout) and nn.Linear. The cell is told by
the shapes (weight_hh_l0 is [3H, H] for a GRU, [4H, H] for an LSTM, [H, H] for an RNN).
Module names: the embedding `embed`, `embedding` or `encoder`; the recurrent layers `rnn`,
`gru` or `lstm`; the output layer `proj`, `fc`, `output`, `out`, `decoder`, `linear` or
`head`; the prefixes `module.` (DataParallel) and `_orig_mod.` (torch.compile) are dropped.
Without an embedding the recurrent layers read one-hot vectors (weight_ih_l0 is [G x H, V],
V the output layer's rows): they get an identity embedding (embed = V). Examples: the CSC321
TextGenerator (embed, rnn = nn.GRU, proj), Microsoft's LSTMGenerator (one-hot, rnn =
nn.LSTM, fc), a ToyRNN (one-hot, rnn = nn.RNN, fc), the 20 Newsgroups lstm_char_predict
(one-hot, lstm = 2-layer nn.LSTM, output).
nn.RNN: its weights do not say whether it was built with nonlinearity='tanh' (PyTorch's
default) or 'relu'; import runs it as tanh, which is all mynah's runtime has. A TorchScript
file that shows relu is refused; a model trained with relu cannot be imported (retrain it
with tanh). Refused: bidirectional layers, LSTM projections (proj_size), other modules.
mynah's own n-gram MLP (`export --safetensors` of --arch ngram) imports from its metadata.

Vocabulary (--vocab, else the `vocab` metadata of a safetensors file): the model's own id
order, as a JSON array of every id's token, e.g. [\"h\", \"e\", \"l\", \"o\"] or torchtext's
vocab.get_itos(); or an itos dict {\"0\": \"h\", \"1\": \"e\"} (json.dump of
dict(enumerate(chars))); or a stoi dict {\"h\": 0, \"e\": 1} (vocab.get_stoi()) when every id
has exactly one token. Every entry is one character, or a special token recognized by its
name wherever it stands: <BOS>, <EOS>, <PAD>, <UNK> in any letter case (torchtext's <pad>,
<unk>); any of them may be absent. An array of only the characters of ids 3, 4, ... (the
layout of mynah's older exports and of this command before) means <PAD>, <BOS>, <EOS> at ids
0-2. mynah stores the specials first (<PAD>, <BOS>, <EOS>, <UNK>) and then the characters
by code point: the embedding and output rows (a one-hot model's identity embedding too) are
permuted with the ids, which leaves every prediction unchanged.
A model without <BOS> starts from a zero state: `sample` needs a prompt (mynah sample
--prime), and evaluation feeds the first character of each text or record and scores the
rest. Without <EOS> a records model never stops by itself. <PAD> and <UNK> are never sampled.

DIR becomes a run directory (config.json, metrics.csv, latest.safetensors and
best.safetensors at step 0, with fresh Adam state). With --corpus, the validation loss is
recorded and `train --resume DIR` fine-tunes the model on that corpus with the default
training options (give --steps etc. on resume) when its training part has only characters
the model knows.";

/// `mynah-train import`.
#[derive(clap::Args)]
pub struct ImportArgs {
    /// The PyTorch weights: safetensors, a dict of tensors saved with torch.save, or TorchScript.
    input: PathBuf,
    /// Every id's token in the model's own order: a JSON array, or an itos or stoi dict
    /// (see below) [default: the `vocab` metadata of a safetensors file].
    #[arg(long, value_name = "JSON")]
    vocab: Option<PathBuf>,
    /// The run directory to create.
    #[arg(short, long, value_name = "DIR")]
    out: PathBuf,
    /// The corpus the model was trained on: recorded as the run's corpus (eval, int8
    /// calibration, resume), and its validation part is scored.
    #[arg(long, value_name = "PATH")]
    corpus: Option<PathBuf>,
    /// How the model reads text: text, or records (lines, csv; sampling stops at `<EOS>`)
    /// [default: the `mode` metadata of a safetensors file, else text].
    #[arg(long, value_parser = ["text", "lines", "csv"])]
    mode: Option<String>,
    /// Characters of the corpus the model does not know: `error` stops with their position,
    /// `skip` leaves them out of validation (recorded for the run, as `train --unk`).
    /// [default: error]
    #[arg(long, value_parser = crate::unk_parser())]
    unk: Option<UnkPolicy>,
    /// CSV column holding the text, counted from 0 (csv mode).
    #[arg(long, value_name = "N")]
    csv_column: Option<usize>,
    /// The CSV file starts with a header row (csv mode).
    #[arg(long)]
    csv_header: bool,
    /// CPU threads for libtorch [default: all cores].
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

/// Runs `mynah-train import`. Everything is read and checked before DIR is created.
pub fn run(a: ImportArgs) -> Result<()> {
    let file = read_weights(&a.input)?;
    let shown = a.input.display().to_string();
    let model = recognize(&file.tensors, &file.metadata).with_context(|| shown.clone())?;
    if model.arch == Arch::Recurrent(Cell::Rnn) && file.relu_rnn {
        bail!(
            "{shown}: its TorchScript code runs the nn.RNN with nonlinearity='relu' \
             (torch.rnn_relu); mynah's RNN cell is tanh (nn.RNN's default), so this model \
             cannot be imported: train it with nn.RNN(..., nonlinearity='tanh')"
        );
    }
    let tokens = vocab_tokens(a.vocab.as_deref(), &file.metadata, &shown, model.vocab)?;
    let Reordered { vocab, perm } =
        Vocab::from_tokens(&tokens.list).with_context(|| tokens.source.clone())?;
    let reordered = perm.iter().enumerate().any(|(i, &p)| i != p);
    let summary = model.summary();
    let (arch, one_hot) = (model.arch, model.embed.is_none());
    let params = model.into_params(&perm)?;

    let mode: ModeKind = a
        .mode
        .as_deref()
        .or_else(|| file.metadata.get("mode").map(String::as_str))
        .unwrap_or("text")
        .parse()
        .with_context(|| format!("{shown}: metadata key `mode`"))?;
    let text_mode = mode.with(a.csv_column.unwrap_or(0), a.csv_header);
    let hyper = infer_hyper(arch, vocab.specials(), mode.is_records(), &params)?;
    let unk = a.unk.unwrap_or_default();
    let mut overrides = Overrides {
        mode: Some(mode),
        unk: Some(unk),
        csv_column: a.csv_column,
        csv_header: a.csv_header,
        embed: Some(hyper.embed_dim),
        hidden: Some(hyper.hidden_dim),
        layers: Some(hyper.num_layers),
        ..Overrides::default()
    };
    match arch {
        Arch::Recurrent(cell) => overrides.cell = Some(cell),
        Arch::Ngram {
            context,
            activation,
        } => {
            overrides.arch = Some(ArchKind::Ngram);
            overrides.context = Some(context);
            overrides.activation = Some(activation);
        }
    }
    // An imported run without a corpus has an empty corpus path and fingerprint; `eval`,
    // `export --dtype int8` and `train --resume` then ask for one.
    let corpus_path = match &a.corpus {
        Some(p) => std::path::absolute(p).unwrap_or_else(|_| p.clone()),
        None => PathBuf::new(),
    };
    let config = TrainConfig::from_overrides(&overrides, corpus_path.clone())
        .context("the imported model does not fit mynah's limits")?;

    let device = select_device(DeviceChoice::Cpu, a.threads)?;
    let net = CharModel::from_host(device, hyper, &params, 0.0)?;
    let mut state = crate::train::fresh_state(&config);
    let mut info = CorpusInfo {
        path: corpus_path,
        fingerprint: String::new(),
        chars: 0,
        records: 0,
    };
    let mut notes = Vec::new();
    if arch == Arch::Recurrent(Cell::Rnn) {
        notes.push(
            "note: nn.RNN's weights do not record its nonlinearity; imported as tanh \
             (PyTorch's default). A model trained with nonlinearity='relu' predicts \
             differently here: check the validation loss against PyTorch's"
                .to_owned(),
        );
    }
    if vocab.bos().is_none() {
        notes.push(
            "no <BOS>: the model starts from a zero state fed the first character, so \
             sampling needs a prompt (mynah sample --prime, mynah-train sample --prompt) and \
             evaluation scores characters 2..n of each text or record"
                .to_owned(),
        );
    }
    if mode.is_records() && vocab.eos().is_none() {
        notes.push("no <EOS>: sampling never stops before its length limit".to_owned());
    }
    if let Some(path) = &a.corpus {
        let corpus = Corpus::load(path, text_mode)?;
        info.fingerprint = format!("{:016x}", corpus.fingerprint());
        info.chars = corpus.char_count();
        info.records = corpus.record_count();
        let seqs = corpus
            .part(Split::Val)
            .eval_sequences(&vocab, unk)
            .with_context(|| {
                format!(
                    "the validation part of {} (the last 10%) has a character that {} does \
                     not list",
                    path.display(),
                    tokens.source
                )
            })?;
        let val = score(&net, &seqs).nats_per_char();
        ensure!(
            val.is_finite(),
            "the validation part of {} scores no character (each record needs at least two \
             characters when the model has no <BOS>)",
            path.display()
        );
        state.val_loss = Some(val);
        state.best_val_loss = Some(val);
        state.best_step = Some(0);
        notes.push(format!(
            "validation loss {val:.4} nats/char ({:.4} bits/char) on {}",
            val / std::f64::consts::LN_2,
            path.display()
        ));
        let train = corpus.part(Split::Train);
        if train.encode(&vocab, UnkPolicy::Error).is_err() {
            notes.push(format!(
                "note: the training part of {} (the first 90%) has characters the model does \
                 not know, so `train --resume` cannot fine-tune on it",
                path.display()
            ));
        }
    }

    let adam = Adam::new(net.named_params(), config.beta1, config.beta2, config.eps);
    let ckpt = Checkpoint {
        meta: CheckpointMeta::new(config.clone(), &vocab, info, state),
        params: net.to_host()?,
        adam: adam.state()?,
    };
    crate::train::prepare_out_dir(&a.out)?;
    write_atomic(
        &a.out.join("config.json"),
        format!("{}\n", serde_json::to_string_pretty(&config)?).as_bytes(),
    )?;
    Metrics::create(&a.out)?;
    ckpt.save(&a.out.join(LATEST))?;
    ckpt.save(&a.out.join(BEST))?;
    let specials: Vec<&str> = vocab.specials().iter().map(Special::name).collect();
    println!(
        "imported {shown}: {summary}, vocabulary {} ({}{} characters from {}{}{}), embed {}{}, \
         hidden {}, layers {}, {mode} mode; run directory {}",
        hyper.vocab_size,
        if specials.is_empty() {
            "no special tokens, ".to_owned()
        } else {
            format!("{} and ", specials.join(", "))
        },
        vocab.chars().len(),
        tokens.source,
        if tokens.legacy {
            ", the characters of ids 3.. after <PAD>, <BOS>, <EOS>"
        } else {
            ""
        },
        if reordered {
            ", reordered by code point"
        } else {
            ""
        },
        hyper.embed_dim,
        if one_hot {
            " (one-hot input: identity embedding)"
        } else {
            ""
        },
        hyper.hidden_dim,
        hyper.num_layers,
        a.out.display()
    );
    for n in notes {
        println!("{n}");
    }
    Ok(())
}

/// Tensors (as f32) and safetensors metadata (empty for torch.save files).
struct WeightsFile {
    tensors: Vec<HostTensor>,
    metadata: HashMap<String, String>,
    /// A TorchScript file whose code runs an RNN with ReLU (`torch.rnn_relu`).
    relu_rnn: bool,
}
/// Reads a safetensors file or a torch.save zip archive, recognized by its first bytes.
fn read_weights(path: &Path) -> Result<WeightsFile> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let shown = path.display();
    if bytes.starts_with(b"PK\x03\x04") {
        return read_torch_zip(path, &bytes);
    }
    // Legacy torch.save files are a bare pickle stream: protocol 2 starts with 0x80 0x02.
    if bytes.first() == Some(&0x80) {
        bail!(
            "{shown} is in torch.save's legacy format (_use_new_zipfile_serialization=False), \
             which libtorch cannot read; {SAVE_HINT}"
        );
    }
    let looks_like_safetensors = bytes.len() > 8 && bytes[8] == b'{';
    if !looks_like_safetensors {
        bail!(
            "{shown} is neither a safetensors file nor a torch.save zip archive (see \
             `mynah-train import --help` for what is accepted)"
        );
    }
    let parse = || -> Result<WeightsFile> {
        let (_, meta) = SafeTensors::read_metadata(&bytes)?;
        let metadata = meta.metadata().clone().unwrap_or_default();
        let st = SafeTensors::deserialize(&bytes)?;
        let mut tensors = Vec::new();
        for (name, view) in st.tensors() {
            let data =
                floats(view.dtype(), view.data()).with_context(|| format!("tensor {name}"))?;
            tensors.push(HostTensor {
                name,
                shape: view.shape().to_vec(),
                data,
            });
        }
        Ok(WeightsFile {
            tensors,
            metadata,
            relu_rnn: false,
        })
    };
    parse().with_context(|| format!("{shown} is not a valid safetensors file"))
}

/// Little-endian floating-point tensor data as f32.
fn floats(dtype: Dtype, data: &[u8]) -> Result<Vec<f32>> {
    Ok(match dtype {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        #[allow(clippy::cast_possible_truncation)]
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect(),
        other => bail!("is {other:?}; import reads floating-point tensors (f32, f16, bf16, f64)"),
    })
}

/// How to save what import reads, for error messages.
const SAVE_HINT: &str = "save the weights as a plain dict, torch.save(dict(model.state_dict()), \
                         PATH), or as safetensors, safetensors.torch.save_file(model.state_dict(), PATH)";

/// A torch.save zip archive of a plain dict of tensors, or a TorchScript archive, read by
/// libtorch. `bytes` is the file (torch.save stores its pickles uncompressed, so markers in
/// them can be found for the error messages).
fn read_torch_zip(path: &Path, bytes: &[u8]) -> Result<WeightsFile> {
    let shown = path.display();
    let has = |marker: &[u8]| bytes.windows(marker.len()).any(|w| w == marker);
    let torchscript = has(b"/constants.pkl");
    let loaded = if torchscript {
        tch::Tensor::load_multi(path)
    } else {
        tch::Tensor::loadz_multi(path)
    };
    let named = loaded.map_err(|e| {
        let why = first_line(&e.to_string()).to_owned();
        if has(b"_parameters") {
            anyhow::anyhow!(
                "{shown} holds a pickled model object (torch.save(model, PATH)), which libtorch \
                 cannot read; {SAVE_HINT}"
            )
        } else if has(b"\x80\x02ccollections\nOrderedDict\n") {
            // The pickle starts with the OrderedDict class: the whole file is a state_dict.
            anyhow::anyhow!(
                "{shown} holds an OrderedDict (what torch.save(model.state_dict(), PATH) writes), \
                 which libtorch cannot read; {SAVE_HINT}"
            )
        } else {
            anyhow::anyhow!(
                "{shown} is a zip archive that libtorch cannot read as a flat dict of tensors \
                 (a training checkpoint with other entries? libtorch says: {why}); {SAVE_HINT}"
            )
        }
    })?;
    let mut tensors = Vec::with_capacity(named.len());
    for (name, t) in named {
        ensure!(
            t.is_floating_point(),
            "{shown}: tensor {name} is {:?}; import reads floating-point tensors",
            t.kind()
        );
        tensors.push(HostTensor::from_tch(&name, &t).with_context(|| format!("{shown}: {name}"))?);
    }
    ensure!(!tensors.is_empty(), "{shown} holds no tensors");
    Ok(WeightsFile {
        tensors,
        metadata: HashMap::new(),
        relu_rnn: torchscript && runs_relu_rnn(bytes),
    })
}

/// Whether the code of a TorchScript archive calls `torch.rnn_relu` (an nn.RNN built with
/// nonlinearity='relu', traced or scripted). The code files are deflated, unlike the tensors;
/// the `.debug_pkl` files are left out, as they hold the source of nn.RNN with both branches.
fn runs_relu_rnn(bytes: &[u8]) -> bool {
    let Ok(mut archive) = zip::ZipArchive::new(std::io::Cursor::new(bytes)) else {
        return false;
    };
    for i in 0..archive.len() {
        let Ok(mut entry) = archive.by_index(i) else {
            continue;
        };
        if !(entry.name().contains("/code/") && entry.name().ends_with(".py")) {
            continue;
        }
        let mut code = String::new();
        if entry.read_to_string(&mut code).is_ok() && code.contains("rnn_relu(") {
            return true;
        }
    }
    false
}

/// libtorch errors carry a C++ backtrace after the first line.
fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}

/// Module names of embeddings (nn.Embedding).
const EMBED_NAMES: [&str; 3] = ["embed", "embedding", "encoder"];
/// Module names of the recurrent layers (nn.GRU, nn.LSTM, nn.RNN).
const RNN_NAMES: [&str; 3] = ["rnn", "gru", "lstm"];
/// Module names of the output layer (nn.Linear).
const PROJ_NAMES: [&str; 7] = ["proj", "fc", "output", "out", "decoder", "linear", "head"];

/// The tensors of a recognized model, still in the file's id order.
struct Recognized {
    arch: Arch,
    /// `[V, E]`; `None` for one-hot input.
    embed: Option<HostTensor>,
    /// What sits between the embedding and the output layer, under mynah's names
    /// (`rnn.*` of every layer, or the n-gram's `hidden.*`; biases zero when the file has
    /// none).
    body: Vec<HostTensor>,
    proj_w: HostTensor,
    proj_b: HostTensor,
    /// Ids, specials included (rows of the output layer).
    vocab: usize,
    /// The file's module names: the body's and the output layer's.
    modules: [String; 2],
}

/// The role of a tensor, from its name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Embed,
    Rnn {
        param: RnnParam,
        layer: usize,
    },
    /// The n-gram MLP's hidden layer (mynah's own exports).
    Hidden {
        bias: bool,
    },
    ProjWeight,
    ProjBias,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum RnnParam {
    WeightIh,
    WeightHh,
    BiasIh,
    BiasHh,
}

/// `name` without the wrappers' prefixes (`module.` of DataParallel, `_orig_mod.` of
/// torch.compile).
fn unwrapped(name: &str) -> &str {
    let mut n = name;
    while let Some(rest) = n
        .strip_prefix("module.")
        .or_else(|| n.strip_prefix("_orig_mod."))
    {
        n = rest;
    }
    n
}

/// The module a tensor belongs to (`rnn` of `module.rnn.weight_ih_l0`).
fn module_of(name: &str) -> &str {
    let n = unwrapped(name);
    n.split_once('.').map_or(n, |(m, _)| m)
}

/// What a tensor name stands for; an error for names of models mynah cannot run.
fn role(name: &str) -> Result<Option<Role>> {
    let Some((module, param)) = unwrapped(name).split_once('.') else {
        return Ok(None);
    };
    Ok(match (module, param) {
        (m, "weight") if EMBED_NAMES.contains(&m) => Some(Role::Embed),
        (m, "weight") if PROJ_NAMES.contains(&m) => Some(Role::ProjWeight),
        (m, "bias") if PROJ_NAMES.contains(&m) => Some(Role::ProjBias),
        ("hidden", "weight") => Some(Role::Hidden { bias: false }),
        ("hidden", "bias") => Some(Role::Hidden { bias: true }),
        (m, p) if RNN_NAMES.contains(&m) => {
            if p.contains("weight_hr_l") {
                bail!(
                    "tensor {name} is an LSTM's projection (nn.LSTM(proj_size=...)), which \
                     mynah's LSTM cell does not have: train it without proj_size"
                );
            }
            if p.ends_with("_reverse") {
                bail!(
                    "tensor {name} belongs to a bidirectional layer, which cannot generate text \
                     one character at a time; only unidirectional layers can be imported"
                );
            }
            let bad = || format!("unexpected recurrent tensor {name}");
            let (kind, layer) = p.split_once("_l").with_context(bad)?;
            let param = match kind {
                "weight_ih" => RnnParam::WeightIh,
                "weight_hh" => RnnParam::WeightHh,
                "bias_ih" => RnnParam::BiasIh,
                "bias_hh" => RnnParam::BiasHh,
                _ => bail!(bad()),
            };
            let layer = layer.parse().with_context(bad)?;
            Some(Role::Rnn { param, layer })
        }
        _ => None,
    })
}

/// Finds [embedding →] recurrent layers → linear (or mynah's n-gram MLP) in `tensors` and
/// checks every shape. `meta` is the safetensors metadata (an n-gram export's `context` and
/// `activation`; a mynah export's `arch`).
fn recognize(tensors: &[HostTensor], meta: &HashMap<String, String>) -> Result<Recognized> {
    let mut by_role: BTreeMap<Role, &HostTensor> = BTreeMap::new();
    let mut unknown = Vec::new();
    for t in tensors {
        match role(&t.name)? {
            Some(r) => {
                if let Some(prev) = by_role.insert(r, t) {
                    bail!(
                        "tensors {} and {} have the same role (two embeddings or two output \
                         layers?); mynah imports [embedding ->] recurrent layers -> one linear \
                         layer",
                        prev.name,
                        t.name
                    );
                }
            }
            None => unknown.push(t.name.as_str()),
        }
    }
    ensure!(
        unknown.is_empty(),
        "tensors {} are not part of a model mynah imports: [embedding ->] GRU, LSTM or RNN \
         layers -> linear, with the tutorials' module names (embed, rnn/gru/lstm, \
         proj/fc/output); see `mynah-train import --help`",
        unknown.join(", ")
    );
    let proj_w = by_role.get(&Role::ProjWeight).copied().with_context(|| {
        format!(
            "no output layer: expected the weight of an nn.Linear named {}",
            PROJ_NAMES.join(", ")
        )
    })?;
    let [vocab, proj_in] = matrix(proj_w)?;
    ensure!(vocab > 0 && proj_in > 0, "{} is empty", proj_w.name);
    let proj_b = match by_role.get(&Role::ProjBias) {
        Some(b) => {
            ensure!(
                b.shape == [vocab],
                "{} has shape {:?}, expected [{vocab}]",
                b.name,
                b.shape
            );
            (*b).clone()
        }
        None => zeros("proj.bias", &[vocab]),
    };
    let embed = by_role.get(&Role::Embed).copied();
    let embed_dim = match embed {
        Some(e) => {
            let [rows, cols] = matrix(e)?;
            ensure!(
                rows == vocab,
                "{} has {rows} rows but {} has {vocab}: the input and output vocabularies differ",
                e.name,
                proj_w.name
            );
            ensure!(cols > 0, "{} has no columns", e.name);
            cols
        }
        None => {
            // The identity embedding that stands for one-hot input is V x V.
            let max = mynah_format::layout::EMBED_DIM_RANGE.1 as usize;
            ensure!(
                vocab <= max,
                "the model reads one-hot vectors of {vocab} ids, but mynah's embedding (the \
                 identity that stands for them) is at most {max} wide"
            );
            vocab
        }
    };
    let has = |f: fn(&Role) -> bool| by_role.keys().any(f);
    let recurrent = has(|r| matches!(r, Role::Rnn { .. }));
    let hidden = has(|r| matches!(r, Role::Hidden { .. }));
    let shapes = Shapes {
        vocab,
        embed_dim,
        one_hot: embed.is_none(),
        proj: proj_w,
    };
    let (arch, body, body_module) = match (recurrent, hidden) {
        (true, true) => bail!(
            "the file has recurrent layers and an n-gram hidden layer (hidden.weight); mynah \
             imports one or the other"
        ),
        (true, false) => recurrent_body(&by_role, &shapes, meta)?,
        (false, true) => ngram_body(&by_role, &shapes, meta)?,
        (false, false) => bail!(
            "no recurrent layer: expected rnn.weight_hh_l0 (an nn.GRU, nn.LSTM or nn.RNN named \
             rnn, gru or lstm); see `mynah-train import --help`"
        ),
    };
    for t in by_role.values() {
        if let Some(x) = t.data.iter().find(|x| !x.is_finite()) {
            bail!("tensor {} holds {x}; the model must be finite", t.name);
        }
    }
    Ok(Recognized {
        arch,
        embed: embed.cloned(),
        body,
        proj_w: proj_w.clone(),
        proj_b,
        vocab,
        modules: [body_module, module_of(&proj_w.name).to_owned()],
    })
}

/// What the body's shapes are checked against.
struct Shapes<'t> {
    /// Rows of the output layer.
    vocab: usize,
    /// Columns of the embedding (the vocabulary for one-hot input).
    embed_dim: usize,
    one_hot: bool,
    proj: &'t HostTensor,
}

/// The recurrent layers: the cell from the shape of `weight_hh_l0`, every layer's tensors
/// under mynah's names.
fn recurrent_body(
    by_role: &BTreeMap<Role, &HostTensor>,
    s: &Shapes,
    meta: &HashMap<String, String>,
) -> Result<(Arch, Vec<HostTensor>, String)> {
    let rnn = |param, layer| by_role.get(&Role::Rnn { param, layer }).copied();
    let hh0 = rnn(RnnParam::WeightHh, 0).context(
        "no first recurrent layer: expected rnn.weight_hh_l0 (an nn.GRU, nn.LSTM or nn.RNN \
         named rnn, gru or lstm)",
    )?;
    let module = module_of(&hh0.name).to_owned();
    let [rows, hidden] = matrix(hh0)?;
    ensure!(hidden > 0, "{} has no columns", hh0.name);
    let cell = match (rows % hidden, rows / hidden) {
        (0, 3) => Cell::Gru,
        (0, 4) => Cell::Lstm,
        (0, 1) => Cell::Rnn,
        _ => bail!(
            "{} has shape [{rows}, {hidden}]; recurrent weights are [G x hidden, hidden] with \
             G = 3 (nn.GRU), 4 (nn.LSTM) or 1 (nn.RNN)",
            hh0.name
        ),
    };
    // mynah's exports name their architecture; other files' `arch` may mean anything.
    let named = |n: &str| Cell::from_name(n).is_some() || n == "ngram";
    if let Some(name) = meta.get("arch").filter(|n| named(n)) {
        ensure!(
            name == cell.name(),
            "the metadata says `arch` {name:?}, but the tensors are those of a {cell}"
        );
    }
    let layer_count = (0..)
        .take_while(|&l| rnn(RnnParam::WeightHh, l).is_some())
        .count();
    for role in by_role.keys() {
        if let Role::Rnn { layer, .. } = role {
            ensure!(
                *layer < layer_count,
                "recurrent layer {layer} has tensors but {module}.weight_hh_l{layer_count} is \
                 missing"
            );
        }
    }
    ensure!(
        (1..=4).contains(&layer_count),
        "the model has {layer_count} recurrent layers; mynah runs 1 to 4"
    );
    let [_, proj_in] = matrix(s.proj)?;
    ensure!(
        proj_in == hidden,
        "{} has shape [{}, {proj_in}]; it must read the recurrent layers' {hidden} outputs",
        s.proj.name,
        s.vocab
    );
    let gates = cell.gates() as usize * hidden;
    let mut body = Vec::with_capacity(4 * layer_count);
    for l in 0..layer_count {
        let input = if l == 0 { s.embed_dim } else { hidden };
        let get = |param, shape: &[usize], canonical: &str| -> Result<HostTensor> {
            match rnn(param, l) {
                Some(t) => {
                    if t.shape != shape {
                        if l == 0 && param == RnnParam::WeightIh && s.one_hot {
                            bail!(
                                "{} has shape {:?}, but the model has no embedding, so the \
                                 first layer must read one-hot vectors of the {} ids of {} \
                                 ([{gates}, {}])",
                                t.name,
                                t.shape,
                                s.vocab,
                                s.proj.name,
                                s.vocab
                            );
                        }
                        bail!("{} has shape {:?}, expected {shape:?}", t.name, t.shape);
                    }
                    Ok(HostTensor {
                        name: canonical.to_owned(),
                        ..t.clone()
                    })
                }
                // bias=False: zeros compute the same.
                None if matches!(param, RnnParam::BiasIh | RnnParam::BiasHh) => {
                    Ok(zeros(canonical, shape))
                }
                None => bail!("recurrent layer {l} has no {canonical}"),
            }
        };
        body.push(get(
            RnnParam::WeightIh,
            &[gates, input],
            &format!("rnn.weight_ih_l{l}"),
        )?);
        body.push(get(
            RnnParam::WeightHh,
            &[gates, hidden],
            &format!("rnn.weight_hh_l{l}"),
        )?);
        body.push(get(
            RnnParam::BiasIh,
            &[gates],
            &format!("rnn.bias_ih_l{l}"),
        )?);
        body.push(get(
            RnnParam::BiasHh,
            &[gates],
            &format!("rnn.bias_hh_l{l}"),
        )?);
    }
    Ok((Arch::Recurrent(cell), body, module))
}

/// mynah's n-gram MLP (`export --safetensors` of `--arch ngram`): its metadata gives the
/// context and the activation.
fn ngram_body(
    by_role: &BTreeMap<Role, &HostTensor>,
    s: &Shapes,
    meta: &HashMap<String, String>,
) -> Result<(Arch, Vec<HostTensor>, String)> {
    let w = by_role
        .get(&Role::Hidden { bias: false })
        .copied()
        .context("an n-gram hidden layer needs hidden.weight")?;
    let from_meta = |key: &str| {
        meta.get(key).with_context(|| {
            format!(
                "{} is the hidden layer of an n-gram MLP, and only mynah's own n-gram exports \
                 import (their metadata gives `context` and `activation`; this file has no \
                 `{key}`)",
                w.name
            )
        })
    };
    ensure!(
        meta.get("arch").map(String::as_str) == Some("ngram"),
        "{} is the hidden layer of an n-gram MLP, but the metadata's `arch` is not \"ngram\"; \
         only mynah's own n-gram exports import",
        w.name
    );
    let context: u32 = from_meta("context")?
        .parse()
        .context("metadata key `context` is not a number")?;
    let activation: Activation =
        parse_named(from_meta("activation")?).context("metadata key `activation`")?;
    ensure!(
        !s.one_hot,
        "an n-gram MLP needs its embedding (embed.weight)"
    );
    let [hidden, cols] = matrix(w)?;
    ensure!(
        cols == context as usize * s.embed_dim,
        "{} has shape [{hidden}, {cols}]; with context {context} and embed {} it must read \
         {} inputs",
        w.name,
        s.embed_dim,
        context as usize * s.embed_dim
    );
    let [_, proj_in] = matrix(s.proj)?;
    ensure!(
        proj_in == hidden,
        "{} reads {proj_in} inputs; the hidden layer has {hidden}",
        s.proj.name
    );
    let b = match by_role.get(&Role::Hidden { bias: true }) {
        Some(b) => {
            ensure!(
                b.shape == [hidden],
                "{} has shape {:?}, expected [{hidden}]",
                b.name,
                b.shape
            );
            HostTensor {
                name: "hidden.bias".into(),
                ..(*b).clone()
            }
        }
        None => zeros("hidden.bias", &[hidden]),
    };
    let w = HostTensor {
        name: "hidden.weight".into(),
        ..w.clone()
    };
    let arch = Arch::Ngram {
        context,
        activation,
    };
    Ok((arch, vec![w, b], "hidden".into()))
}

impl Recognized {
    /// How the summary names the model, e.g. `LSTM (one-hot -> lstm -> output)`.
    fn summary(&self) -> String {
        let kind = match self.arch {
            Arch::Recurrent(Cell::Gru) => "GRU".to_owned(),
            Arch::Recurrent(Cell::Lstm) => "LSTM".to_owned(),
            Arch::Recurrent(Cell::Rnn) => "RNN (tanh)".to_owned(),
            ngram => format!("{ngram}"),
        };
        let input = self
            .embed
            .as_ref()
            .map_or("one-hot", |e| module_of(&e.name));
        format!(
            "{kind} ({input} -> {} -> {})",
            self.modules[0], self.modules[1]
        )
    }

    /// The parameters under mynah's names, with rows in the new id order: new id `j` is the
    /// file's id `perm[j]`.
    fn into_params(self, perm: &[usize]) -> Result<Vec<HostTensor>> {
        let v = self.vocab;
        let embed = match self.embed {
            Some(e) => e,
            None => {
                let mut data = vec![0.0; v * v];
                for i in 0..v {
                    data[i * v + i] = 1.0;
                }
                HostTensor {
                    name: String::new(),
                    shape: vec![v, v],
                    data,
                }
            }
        };
        let mut out = vec![permute_rows(&embed, "embed.weight", perm)?];
        out.extend(self.body);
        out.push(permute_rows(&self.proj_w, "proj.weight", perm)?);
        out.push(permute_rows(&self.proj_b, "proj.bias", perm)?);
        Ok(out)
    }
}

/// `[rows, cols]` of a rank-2 tensor.
fn matrix(t: &HostTensor) -> Result<[usize; 2]> {
    match t.shape[..] {
        [r, c] => Ok([r, c]),
        _ => bail!("{} has shape {:?}; expected a matrix", t.name, t.shape),
    }
}

fn zeros(name: &str, shape: &[usize]) -> HostTensor {
    HostTensor {
        name: name.to_owned(),
        shape: shape.to_vec(),
        data: vec![0.0; shape.iter().product()],
    }
}

/// Row `j` of the result is row `perm[j]` of `t` (a vector counts as a column).
fn permute_rows(t: &HostTensor, name: &str, perm: &[usize]) -> Result<HostTensor> {
    let rows = t.shape.first().copied().unwrap_or(0);
    ensure!(
        rows == perm.len(),
        "{} has {rows} rows, the vocabulary has {} ids",
        t.name,
        perm.len()
    );
    let width = t.data.len() / rows.max(1);
    let mut data = Vec::with_capacity(t.data.len());
    for &p in perm {
        data.extend_from_slice(&t.data[p * width..(p + 1) * width]);
    }
    Ok(HostTensor {
        name: name.to_owned(),
        shape: t.shape.clone(),
        data,
    })
}

/// Every id's token in the model's own id order, and where it came from.
struct Tokens {
    list: Vec<String>,
    /// `vocab.json`, or the metadata of the file, for messages.
    source: String,
    /// Given as the characters of ids 3.. only (mynah's former layout).
    legacy: bool,
}

/// The specials of mynah's former layout, ids 0-2.
const LEGACY_SPECIALS: [&str; 3] = ["<PAD>", "<BOS>", "<EOS>"];

/// The model's vocabulary from `--vocab` or the `vocab` metadata, checked to name each of the
/// model's `ids` ids once.
fn vocab_tokens(
    arg: Option<&Path>,
    meta: &HashMap<String, String>,
    shown: &str,
    ids: usize,
) -> Result<Tokens> {
    let (json, source, specials) = match arg {
        Some(path) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the vocabulary {}", path.display()))?,
            path.display().to_string(),
            None,
        ),
        None => match meta.get("vocab") {
            Some(json) => (
                json.clone(),
                format!("the `vocab` metadata of {shown}"),
                meta.get("specials"),
            ),
            None => bail!(
                "{shown} does not say which token each id stands for: give --vocab vocab.json, \
                 every id's token in the model's order (a JSON array such as [\"h\", \"e\", \
                 \"l\", \"o\"], or an itos or stoi dict; see `mynah-train import --help`)"
            ),
        },
    };
    let mut list = parse_tokens(&json).with_context(|| source.clone())?;
    let mut legacy = false;
    let single_chars = list.iter().all(|t| t.chars().count() == 1);
    if let Some(specials) = specials.filter(|_| single_chars) {
        // mynah's exports before format version 2: the characters, after `specials`.
        let specials: Vec<String> = serde_json::from_str(specials)
            .context("metadata key `specials` is not a JSON array of strings")?;
        list.splice(0..0, specials);
    } else if list.len() + LEGACY_SPECIALS.len() == ids
        && list.iter().all(|t| Special::from_name(t).is_none())
    {
        // The characters of ids 3.. (this command's former --vocab).
        list.splice(0..0, LEGACY_SPECIALS.map(String::from));
        legacy = true;
    }
    ensure!(
        list.len() == ids,
        "{source} lists {} tokens, but the model has {ids} ids (the rows of its output layer): \
         list every id's token in the model's own order, special tokens included (e.g. \
         [\"a\", \"b\", \"<BOS>\", \"<EOS>\"] or torchtext's [\"<unk>\", \"<pad>\", ...])",
        list.len()
    );
    Ok(Tokens {
        list,
        source,
        legacy,
    })
}

/// The accepted forms of a vocabulary, for messages.
const VOCAB_FORMS: &str = "expected every id's token in id order: a JSON array of strings \
                           [\"h\", \"e\"], an itos dict {\"0\": \"h\", \"1\": \"e\"} or a \
                           stoi dict {\"h\": 0, \"e\": 1}";

/// A JSON array of every id's token, an itos dict or a stoi dict, as the list of tokens.
fn parse_tokens(json: &str) -> Result<Vec<String>> {
    let value: Value =
        serde_json::from_str(json).with_context(|| format!("not JSON; {VOCAB_FORMS}"))?;
    let tokens = match value {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s),
                other => bail!("entry {i} is {other}, not a string; {VOCAB_FORMS}"),
            })
            .collect::<Result<Vec<_>>>()?,
        Value::Object(map) if map.values().all(Value::is_string) => {
            // itos: {"0": "h", "1": "e"}.
            let mut slots: Vec<Option<String>> = vec![None; map.len()];
            for (key, v) in map {
                let id: usize =
                    key.parse()
                        .ok()
                        .filter(|&i| i < slots.len())
                        .with_context(|| {
                            format!(
                                "key {key:?} of the itos dict is not an id 0..{}; {VOCAB_FORMS}",
                                slots.len()
                            )
                        })?;
                if slots[id]
                    .replace(v.as_str().unwrap_or_default().to_owned())
                    .is_some()
                {
                    bail!("the itos dict has two keys for id {id}; {VOCAB_FORMS}");
                }
            }
            // Keys are distinct and in range, so every slot is filled.
            slots.into_iter().flatten().collect()
        }
        Value::Object(map) if map.values().all(|v| v.as_u64().is_some()) => {
            // stoi: {"h": 0, "e": 1}; unambiguous only when the ids are 0..n, each once.
            let mut slots: Vec<Option<String>> = vec![None; map.len()];
            for (token, v) in map {
                let id = v.as_u64().and_then(|i| usize::try_from(i).ok());
                let Some(slot) = id.and_then(|i| slots.get_mut(i)) else {
                    bail!(
                        "the stoi dict gives {token:?} the id {v}, but it has only {} entries: \
                         its ids must be 0..{0}, each once (or give the itos list)",
                        slots.len()
                    );
                };
                if let Some(other) = slot.replace(token.clone()) {
                    bail!(
                        "the stoi dict gives {other:?} and {token:?} the same id {v}, so it \
                         cannot say which token that id stands for: give the itos list"
                    );
                }
            }
            slots.into_iter().flatten().collect()
        }
        _ => bail!("{VOCAB_FORMS}"),
    };
    ensure!(!tokens.is_empty(), "the vocabulary is empty; {VOCAB_FORMS}");
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, shape: &[usize]) -> HostTensor {
        let n: usize = shape.iter().product();
        #[allow(clippy::cast_precision_loss)]
        HostTensor {
            name: name.into(),
            shape: shape.to_vec(),
            data: (0..n).map(|i| i as f32 * 0.01).collect(),
        }
    }

    fn layer(prefix: &str, l: usize, gates: usize, input: usize, h: usize) -> Vec<HostTensor> {
        vec![
            t(&format!("{prefix}.weight_ih_l{l}"), &[gates * h, input]),
            t(&format!("{prefix}.weight_hh_l{l}"), &[gates * h, h]),
            t(&format!("{prefix}.bias_ih_l{l}"), &[gates * h]),
            t(&format!("{prefix}.bias_hh_l{l}"), &[gates * h]),
        ]
    }

    fn none() -> HashMap<String, String> {
        HashMap::new()
    }

    #[test]
    fn text_generator_and_one_hot_are_recognized() {
        let mut m = vec![t("embed.weight", &[6, 4])];
        m.extend(layer("rnn", 0, 3, 4, 5));
        m.extend([t("proj.weight", &[6, 5]), t("proj.bias", &[6])]);
        let r = recognize(&m, &none()).unwrap();
        assert!(r.embed.is_some());
        assert_eq!((r.arch, r.vocab), (Arch::GRU, 6));
        assert_eq!(r.summary(), "GRU (embed -> rnn -> proj)");

        let mut m: Vec<HostTensor> = layer("module.rnn", 0, 3, 6, 5);
        m.push(t("fc.weight", &[6, 5]));
        let r = recognize(&m, &none()).unwrap();
        assert!(r.embed.is_none());
        assert_eq!(r.proj_b.data, vec![0.0; 6]);
        let p = r.into_params(&[0, 1, 2, 3, 4, 5]).unwrap();
        assert_eq!(p[0].shape, [6, 6]);
        assert_eq!(&p[0].data[..8], &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        let h = infer_hyper(Arch::GRU, mynah_format::Specials::DEFAULT, false, &p).unwrap();
        assert_eq!(h.embed_dim, 6);
    }

    #[test]
    fn every_cell_is_told_by_its_shapes() {
        // The 20 Newsgroups lstm_char_predict: one-hot, 2-layer `lstm`, `output`, no biases
        // on the second layer.
        let mut m: Vec<HostTensor> = layer("lstm", 0, 4, 7, 3);
        m.extend(layer("lstm", 1, 4, 3, 3).into_iter().take(2));
        m.extend([t("output.weight", &[7, 3]), t("output.bias", &[7])]);
        let r = recognize(&m, &none()).unwrap();
        assert_eq!(r.arch, Arch::Recurrent(Cell::Lstm));
        assert_eq!(r.summary(), "LSTM (one-hot -> lstm -> output)");
        let p = r.into_params(&(0..7).collect::<Vec<_>>()).unwrap();
        let h = infer_hyper(
            Arch::Recurrent(Cell::Lstm),
            mynah_format::Specials::NONE,
            false,
            &p,
        )
        .unwrap();
        assert_eq!((h.num_layers, h.hidden_dim, h.embed_dim), (2, 3, 7));
        let b = p.iter().find(|t| t.name == "rnn.bias_hh_l1").unwrap();
        assert_eq!(b.data, vec![0.0; 12]);

        // The ToyRNN: one-hot nn.RNN, `fc`.
        let mut m: Vec<HostTensor> = layer("rnn", 0, 1, 4, 8);
        m.extend([t("fc.weight", &[4, 8]), t("fc.bias", &[4])]);
        let r = recognize(&m, &none()).unwrap();
        assert_eq!(r.summary(), "RNN (tanh) (one-hot -> rnn -> fc)");

        // A mynah export says what it is; a contradiction is refused.
        let arch = HashMap::from([("arch".to_owned(), "lstm".to_owned())]);
        let e = recognize(&m, &arch).err().unwrap().to_string();
        assert!(e.contains("\"lstm\"") && e.contains("rnn"), "{e}");
    }

    #[test]
    fn what_cannot_run_is_refused() {
        let mut odd: Vec<HostTensor> = layer("rnn", 0, 2, 6, 5);
        odd.push(t("fc.weight", &[6, 5]));
        let e = recognize(&odd, &none()).err().unwrap().to_string();
        assert!(
            e.contains("G = 3 (nn.GRU), 4 (nn.LSTM) or 1 (nn.RNN)"),
            "{e}"
        );
        let e = recognize(&[t("rnn.weight_ih_l0_reverse", &[15, 6])], &none())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("bidirectional"), "{e}");
        let e = recognize(&[t("lstm.weight_hr_l0", &[4, 8])], &none())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("proj_size"), "{e}");
        let mut extra: Vec<HostTensor> = layer("rnn", 0, 3, 6, 5);
        extra.extend([t("fc.weight", &[6, 5]), t("norm.weight", &[5])]);
        let e = recognize(&extra, &none()).err().unwrap().to_string();
        assert!(e.contains("norm.weight"), "{e}");
        let mut two: Vec<HostTensor> = layer("rnn", 0, 3, 6, 5);
        two.extend([t("fc.weight", &[6, 5]), t("output.weight", &[6, 5])]);
        let e = recognize(&two, &none()).err().unwrap().to_string();
        assert!(e.contains("same role"), "{e}");
        let mut five: Vec<HostTensor> = (0..5)
            .flat_map(|l| layer("gru", l, 3, if l == 0 { 6 } else { 5 }, 5))
            .collect();
        five.push(t("fc.weight", &[6, 5]));
        let e = recognize(&five, &none()).err().unwrap().to_string();
        assert!(e.contains("5 recurrent layers; mynah runs 1 to 4"), "{e}");
        let mut one_hot: Vec<HostTensor> = layer("rnn", 0, 3, 9, 5);
        one_hot.push(t("fc.weight", &[6, 5]));
        let e = recognize(&one_hot, &none()).err().unwrap().to_string();
        assert!(e.contains("one-hot vectors of the 6 ids"), "{e}");
        let ngram = vec![
            t("embed.weight", &[6, 2]),
            t("hidden.weight", &[5, 6]),
            t("proj.weight", &[6, 5]),
        ];
        let e = recognize(&ngram, &none()).err().unwrap().to_string();
        assert!(e.contains("only mynah's own n-gram exports"), "{e}");
        let meta = HashMap::from([
            ("arch".to_owned(), "ngram".to_owned()),
            ("context".to_owned(), "3".to_owned()),
            ("activation".to_owned(), "tanh".to_owned()),
        ]);
        let r = recognize(&ngram, &meta).unwrap();
        assert_eq!(
            r.arch,
            Arch::Ngram {
                context: 3,
                activation: Activation::Tanh
            }
        );
    }

    #[test]
    fn the_tutorials_vocabulary_forms_parse() {
        let list = parse_tokens(r#"["h", "e", "l", "o"]"#).unwrap();
        assert_eq!(list, ["h", "e", "l", "o"]);
        assert_eq!(parse_tokens(r#"{"1": "e", "0": "h"}"#).unwrap(), ["h", "e"]);
        assert_eq!(
            parse_tokens(r#"{"<unk>": 0, "<pad>": 1, " ": 2}"#).unwrap(),
            ["<unk>", "<pad>", " "]
        );
        for (bad, needle) in [
            (r#"{"a": 0, "b": 0}"#, "the same id 0"),
            (r#"{"a": 0, "b": 2}"#, "the id 2"),
            (r#"{"0": "a", "2": "b"}"#, "key \"2\""),
            (r#"{"0": "a", "00": "b"}"#, "two keys for id 0"),
            (r#"{"x": "a"}"#, "key \"x\""),
            (r#"["a", 1]"#, "entry 1 is 1"),
            ("[]", "empty"),
            ("{}", "empty"),
            ("3", "itos dict"),
            ("[\"a\"", "not JSON"),
        ] {
            let e = format!("{:#}", parse_tokens(bad).unwrap_err());
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn legacy_layouts_and_sizes() {
        let none = HashMap::new();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.json");
        std::fs::write(&path, r#"["b", "a"]"#).unwrap();
        // Two characters for five ids: the characters of ids 3.. after <PAD>, <BOS>, <EOS>.
        let t = vocab_tokens(Some(&path), &none, "m", 5).unwrap();
        assert!(t.legacy);
        assert_eq!(t.list, ["<PAD>", "<BOS>", "<EOS>", "b", "a"]);
        let t = vocab_tokens(Some(&path), &none, "m", 2).unwrap();
        assert!(!t.legacy);
        let e = vocab_tokens(Some(&path), &none, "m", 4).err().unwrap();
        assert!(
            e.to_string()
                .contains("lists 2 tokens, but the model has 4 ids"),
            "{e}"
        );
        // Old exports: `vocab` the characters, `specials` the specials.
        let meta = HashMap::from([
            ("vocab".to_owned(), r#"["a", "b"]"#.to_owned()),
            (
                "specials".to_owned(),
                r#"["<PAD>", "<BOS>", "<EOS>"]"#.to_owned(),
            ),
        ]);
        let t = vocab_tokens(None, &meta, "m", 5).unwrap();
        assert_eq!(t.list, ["<PAD>", "<BOS>", "<EOS>", "a", "b"]);
        let e = vocab_tokens(None, &none, "m", 5).err().unwrap();
        assert!(e.to_string().contains("give --vocab"), "{e}");
    }

    #[test]
    fn rows_follow_their_ids() {
        let Reordered { vocab, perm } = Vocab::from_tokens(&["b", "a", " ", "<BOS>"]).unwrap();
        assert_eq!(vocab.tokens(), ["<BOS>", " ", "a", "b"]);
        assert_eq!(perm, [3, 2, 1, 0]);
        let col = HostTensor {
            name: "x".into(),
            shape: vec![4, 1],
            data: vec![0.0, 10.0, 20.0, 30.0],
        };
        let p = permute_rows(&col, "y", &perm).unwrap();
        assert_eq!(p.data, [30.0, 20.0, 10.0, 0.0]);
        assert!(permute_rows(&col, "y", &[0, 1]).is_err());
    }
}
