//! `mynah-train import`: a character-level GRU trained in PyTorch becomes a run directory that
//! `export`, `eval`, `sample` and `train --resume` treat exactly like one trained here.
//!
//! See [`IMPORT_AFTER_HELP`] for what is accepted; everything else is refused with a message
//! that names the tensor or the file at fault.

use crate::adam::Adam;
use crate::checkpoint::{Checkpoint, CheckpointMeta, CorpusInfo, BEST, LATEST};
use crate::config::{Overrides, TrainConfig};
use crate::evaluate::score;
use crate::metrics::Metrics;
use crate::model::{infer_hyper, CharModel};
use crate::params::{write_atomic, HostTensor};
use crate::{select_device, DeviceChoice};
use anyhow::{bail, ensure, Context, Result};
use mynah_format::{Arch, Specials};
use mynah_text::{Corpus, ModeKind, Split, UnkPolicy, Vocab};
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Import reads models with `<PAD>`, `<BOS>`, `<EOS>` at ids 0-2: the characters start here.
const FIRST_CHAR_ID: u32 = Specials::DEFAULT.count();

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

Accepted models: embedding -> GRU -> linear, PyTorch's nn.Embedding, nn.GRU (batch_first or
not, 1 to 4 layers, with or without biases) and nn.Linear, named like the seed tutorial's
TextGenerator: embed.weight, rnn.weight_ih_l{k}, rnn.weight_hh_l{k}, rnn.bias_ih_l{k},
rnn.bias_hh_l{k}, proj.weight, proj.bias. Also accepted: `embedding` for `embed`, `gru` for
`rnn`, `fc` for `proj`, and the prefixes `module.` (DataParallel) and `_orig_mod.`
(torch.compile). A model without an embedding whose GRU reads one-hot vectors (the Microsoft
tutorial's generator with nn.GRU: rnn.weight_ih_l0 is [3H, V]) gets an identity embedding
(embed = V). LSTMs, plain RNNs and bidirectional GRUs are refused: only GRUs run on the device.

Token ids: 0 = <PAD>, 1 = <BOS>, 2 = <EOS>, then the characters from id 3, as mynah trains
them. --vocab names a JSON array of the characters of ids 3, 4, ... in order, e.g.
[\"a\", \" \", \"b\"] (the `vocab` metadata of `export --safetensors`); it must have exactly
(rows of proj.weight) - 3 entries. mynah stores the characters sorted by code point: an
unsorted vocabulary is sorted and the embedding and output rows are permuted with it, which
leaves the model's predictions unchanged.

DIR becomes a run directory (config.json, metrics.csv, latest.safetensors and
best.safetensors at step 0, with fresh Adam state). With --corpus, the validation loss is
recorded and `train --resume DIR` fine-tunes the model on that corpus with the default
training options (give --steps etc. on resume) when its training part has exactly the
model's characters.";

/// `mynah-train import`.
#[derive(clap::Args)]
pub struct ImportArgs {
    /// The PyTorch weights: safetensors, a dict of tensors saved with torch.save, or TorchScript.
    input: PathBuf,
    /// The characters of ids 3, 4, ...: a JSON array of one-character strings [default: the
    /// `vocab` metadata of a safetensors file].
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

/// Runs `mynah-train import`.
pub fn run(a: ImportArgs) -> Result<()> {
    let file = read_weights(&a.input)?;
    let shown = a.input.display().to_string();
    let model = recognize(&file.tensors).with_context(|| shown.clone())?;
    let (chars, vocab_source) = match &a.vocab {
        Some(path) => (read_vocab_json(path)?, path.display().to_string()),
        None => match file.metadata.get("vocab") {
            Some(json) => (
                metadata_vocab(json).with_context(|| format!("{shown}: metadata key `vocab`"))?,
                format!("the `vocab` metadata of {shown}"),
            ),
            None => bail!(
                "{shown} does not say which character each id stands for: give --vocab \
                 vocab.json, a JSON array of the characters of ids 3, 4, ... in order"
            ),
        },
    };
    check_vocab_size(&chars, model.vocab, &vocab_source)?;
    let (vocab, perm) = sort_vocab(chars, &vocab_source)?;
    let one_hot = model.one_hot;
    let params = model.into_params(&perm)?;

    let mode: ModeKind = a
        .mode
        .as_deref()
        .or_else(|| file.metadata.get("mode").map(String::as_str))
        .unwrap_or("text")
        .parse()
        .with_context(|| format!("{shown}: metadata key `mode`"))?;
    let text_mode = mode.with(a.csv_column.unwrap_or(0), a.csv_header);
    let hyper = infer_hyper(Arch::GRU, Specials::DEFAULT, mode.is_records(), &params)?;
    let overrides = Overrides {
        mode: Some(mode),
        csv_column: a.csv_column,
        csv_header: a.csv_header,
        embed: Some(hyper.embed_dim),
        hidden: Some(hyper.hidden_dim),
        layers: Some(hyper.num_layers),
        ..Overrides::default()
    };
    // An imported run without a corpus has an empty corpus path and fingerprint; `eval`,
    // `export --dtype int8` and `train --resume` then ask for one.
    let corpus_path = match &a.corpus {
        Some(p) => std::path::absolute(p).unwrap_or_else(|_| p.clone()),
        None => PathBuf::new(),
    };
    let config = TrainConfig::from_overrides(&overrides, corpus_path.clone())
        .context("the imported model does not fit mynah's limits")?;

    let device = select_device(DeviceChoice::Cpu, a.threads)?;
    let gru = CharModel::from_host(device, hyper, &params, 0.0)?;
    let mut state = crate::train::fresh_state(&config);
    let mut info = CorpusInfo {
        path: corpus_path,
        fingerprint: String::new(),
        chars: 0,
        records: 0,
    };
    let mut notes = Vec::new();
    if let Some(path) = &a.corpus {
        let corpus = Corpus::load(path, text_mode)?;
        info.fingerprint = format!("{:016x}", corpus.fingerprint());
        info.chars = corpus.char_count();
        info.records = corpus.record_count();
        let seqs = corpus
            .part(Split::Val)
            .eval_sequences(&vocab, UnkPolicy::Error)
            .with_context(|| {
                format!(
                    "the validation part of {} (the last 10%) has a character that {vocab_source} \
                     does not list",
                    path.display()
                )
            })?;
        let val = score(&gru, &seqs).nats_per_char();
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

    let adam = Adam::new(gru.named_params(), config.beta1, config.beta2, config.eps);
    let ckpt = Checkpoint {
        meta: CheckpointMeta::new(config.clone(), &vocab, info, state),
        params: gru.to_host()?,
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
    println!(
        "imported {shown}: GRU, vocabulary {} ({} characters from {vocab_source}{}), embed {}{}, \
         hidden {}, layers {}, {mode} mode; run directory {}",
        hyper.vocab_size,
        vocab.chars().len(),
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            ""
        } else {
            ", reordered by code point"
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
        Ok(WeightsFile { tensors, metadata })
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
    })
}

/// libtorch errors carry a C++ backtrace after the first line.
fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}

/// The tensors of a recognized model, still in the file's id order.
struct Recognized {
    /// `[V, E]`; `None` for one-hot input.
    embed: Option<HostTensor>,
    /// Per layer: `[w_ih, w_hh, b_ih, b_hh]` (biases zero when the file has none).
    layers: Vec<[HostTensor; 4]>,
    proj_w: HostTensor,
    proj_b: HostTensor,
    /// Ids, specials included (rows of `proj.weight`).
    vocab: usize,
    /// The GRU reads one-hot vectors (no embedding in the file).
    one_hot: bool,
}

/// The role of a tensor, from its name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Embed,
    Rnn { param: RnnParam, layer: usize },
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

const ONLY_GRU: &str = "only GRU models run on the device (mynah's integer runtime implements \
                        the GRU): train the model with nn.GRU in place of nn.LSTM (same \
                        arguments) and import that";

/// What a tensor name stands for; an error for names of models mynah cannot run.
fn role(name: &str) -> Result<Option<Role>> {
    let mut n = name;
    while let Some(rest) = n
        .strip_prefix("module.")
        .or_else(|| n.strip_prefix("_orig_mod."))
    {
        n = rest;
    }
    let Some((module, param)) = n.split_once('.') else {
        return Ok(None);
    };
    Ok(match (module, param) {
        ("embed" | "embedding", "weight") => Some(Role::Embed),
        ("proj" | "fc", "weight") => Some(Role::ProjWeight),
        ("proj" | "fc", "bias") => Some(Role::ProjBias),
        ("lstm", _) => bail!("tensor {name} belongs to an LSTM; {ONLY_GRU}"),
        ("rnn" | "gru", p) => {
            if p.contains("weight_hr_l") {
                bail!("tensor {name} is an LSTM's projection (proj_size); {ONLY_GRU}");
            }
            if p.ends_with("_reverse") {
                bail!(
                    "tensor {name} belongs to a bidirectional GRU, which cannot generate text \
                     one character at a time; only unidirectional GRUs can be imported"
                );
            }
            let (kind, layer) = p
                .split_once("_l")
                .with_context(|| format!("unexpected GRU tensor {name}"))?;
            let param = match kind {
                "weight_ih" => RnnParam::WeightIh,
                "weight_hh" => RnnParam::WeightHh,
                "bias_ih" => RnnParam::BiasIh,
                "bias_hh" => RnnParam::BiasHh,
                _ => bail!("unexpected GRU tensor {name}"),
            };
            let layer = layer
                .parse()
                .with_context(|| format!("unexpected GRU tensor {name}"))?;
            Some(Role::Rnn { param, layer })
        }
        _ => None,
    })
}

/// Finds embedding → GRU → linear in `tensors` and checks every shape.
fn recognize(tensors: &[HostTensor]) -> Result<Recognized> {
    let mut by_role: BTreeMap<Role, &HostTensor> = BTreeMap::new();
    let mut unknown = Vec::new();
    for t in tensors {
        match role(&t.name)? {
            Some(r) => {
                if let Some(prev) = by_role.insert(r, t) {
                    bail!("tensors {} and {} have the same role", prev.name, t.name);
                }
            }
            None => unknown.push(t.name.as_str()),
        }
    }
    ensure!(
        unknown.is_empty(),
        "tensors {} are not part of an embedding -> GRU -> linear model named like the \
         tutorial's TextGenerator (embed, rnn, proj); see `mynah-train import --help`",
        unknown.join(", ")
    );
    let rnn = |param, layer| by_role.get(&Role::Rnn { param, layer }).copied();
    let hh0 = rnn(RnnParam::WeightHh, 0).context(
        "no recurrent layer: expected rnn.weight_hh_l0 (an nn.GRU named `rnn`); the tensors \
         are embed.weight, rnn.*, proj.* in the tutorial's TextGenerator",
    )?;
    let [rows, hidden] = matrix(hh0)?;
    ensure!(hidden > 0, "{} has no columns", hh0.name);
    match (rows % hidden, rows / hidden) {
        (0, 3) => {}
        (0, 4) => bail!(
            "this is an LSTM ({} has 4 x {hidden} rows: input, forget, cell and output gates); \
             {ONLY_GRU}",
            hh0.name
        ),
        (0, 1) => bail!(
            "this is a plain RNN ({} has {hidden} rows, one gate); only GRU models run on the \
             device: train it with nn.GRU in place of nn.RNN",
            hh0.name
        ),
        _ => bail!(
            "{} has shape [{rows}, {hidden}]; a GRU's is [3 x hidden, hidden]",
            hh0.name
        ),
    }
    let layer_count = (0..)
        .take_while(|&l| rnn(RnnParam::WeightHh, l).is_some())
        .count();
    for role in by_role.keys() {
        if let Role::Rnn { layer, .. } = role {
            ensure!(
                *layer < layer_count,
                "GRU layer {layer} has tensors but rnn.weight_hh_l{} is missing",
                layer_count
            );
        }
    }
    ensure!(
        (1..=4).contains(&layer_count),
        "the GRU has {layer_count} layers; mynah runs 1 to 4"
    );

    let proj_w = by_role
        .get(&Role::ProjWeight)
        .copied()
        .context("no output layer: expected proj.weight (an nn.Linear named `proj` or `fc`)")?;
    let [vocab, proj_in] = matrix(proj_w)?;
    ensure!(
        proj_in == hidden,
        "{} has shape [{vocab}, {proj_in}]; it must read the GRU's {hidden} outputs",
        proj_w.name
    );
    ensure!(
        vocab > FIRST_CHAR_ID as usize,
        "{} has {vocab} rows: the model must have ids 0-2 for <PAD>, <BOS>, <EOS> and at least \
         one character",
        proj_w.name
    );
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
    let (embed_dim, one_hot) = match embed {
        Some(e) => {
            let [rows, cols] = matrix(e)?;
            ensure!(
                rows == vocab,
                "{} has {rows} rows but {} has {vocab}: the input and output vocabularies differ",
                e.name,
                proj_w.name
            );
            (cols, false)
        }
        None => (vocab, true),
    };

    let mut layers = Vec::with_capacity(layer_count);
    for l in 0..layer_count {
        let input = if l == 0 { embed_dim } else { hidden };
        let get = |param, shape: &[usize], canonical: &str| -> Result<HostTensor> {
            match rnn(param, l) {
                Some(t) => {
                    if t.shape != shape {
                        if l == 0 && param == RnnParam::WeightIh && one_hot {
                            bail!(
                                "{} has shape {:?}, but the model has no embedding, so the GRU \
                                 must read one-hot vectors of the {vocab} ids of {} ([{}, \
                                 {vocab}])",
                                t.name,
                                t.shape,
                                proj_w.name,
                                3 * hidden
                            );
                        }
                        bail!("{} has shape {:?}, expected {shape:?}", t.name, t.shape);
                    }
                    Ok(HostTensor {
                        name: canonical.to_owned(),
                        ..t.clone()
                    })
                }
                // nn.GRU(bias=False) has no biases: zeros compute the same.
                None if matches!(param, RnnParam::BiasIh | RnnParam::BiasHh) => {
                    Ok(zeros(canonical, shape))
                }
                None => bail!("GRU layer {l} has no {canonical}"),
            }
        };
        layers.push([
            get(
                RnnParam::WeightIh,
                &[3 * hidden, input],
                &format!("rnn.weight_ih_l{l}"),
            )?,
            get(
                RnnParam::WeightHh,
                &[3 * hidden, hidden],
                &format!("rnn.weight_hh_l{l}"),
            )?,
            get(
                RnnParam::BiasIh,
                &[3 * hidden],
                &format!("rnn.bias_ih_l{l}"),
            )?,
            get(
                RnnParam::BiasHh,
                &[3 * hidden],
                &format!("rnn.bias_hh_l{l}"),
            )?,
        ]);
    }
    for t in by_role.values() {
        if let Some(x) = t.data.iter().find(|x| !x.is_finite()) {
            bail!("tensor {} holds {x}; the model must be finite", t.name);
        }
    }
    Ok(Recognized {
        embed: embed.cloned(),
        layers,
        proj_w: proj_w.clone(),
        proj_b,
        vocab,
        one_hot,
    })
}

impl Recognized {
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
        out.extend(self.layers.into_iter().flatten());
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

/// Reads `--vocab`.
fn read_vocab_json(path: &Path) -> Result<Vec<char>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the vocabulary {}", path.display()))?;
    parse_vocab(&text).with_context(|| format!("--vocab {}", path.display()))
}

/// A JSON array of one-character strings.
fn parse_vocab(json: &str) -> Result<Vec<char>> {
    let strings: Vec<String> = serde_json::from_str(json).context(
        "expected a JSON array of one-character strings, the characters of ids 3, 4, ...",
    )?;
    chars_of(&strings)
}

/// The `vocab` metadata of a safetensors file: `export --safetensors` lists every token,
/// `<PAD>`, `<BOS>`, `<EOS>` first; older exports and other files only the characters.
fn metadata_vocab(json: &str) -> Result<Vec<char>> {
    let mut strings: Vec<String> = serde_json::from_str(json).context(
        "expected a JSON array of one-character strings, the characters of ids 3, 4, ...",
    )?;
    if strings.starts_with(&["<PAD>".into(), "<BOS>".into(), "<EOS>".into()]) {
        strings.drain(..FIRST_CHAR_ID as usize);
    }
    chars_of(&strings)
}

/// One character per string, in order.
fn chars_of(strings: &[String]) -> Result<Vec<char>> {
    strings
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut it = s.chars();
            match (it.next(), it.next()) {
                (Some(c), None) => Ok(c),
                _ => bail!(
                    "entry {i} (id {}) is {s:?}, which is not one character",
                    i + FIRST_CHAR_ID as usize
                ),
            }
        })
        .collect()
}

/// The vocabulary must name every id after the specials.
fn check_vocab_size(chars: &[char], ids: usize, source: &str) -> Result<()> {
    let first = FIRST_CHAR_ID as usize;
    if chars.len() + first == ids {
        return Ok(());
    }
    let hint = if chars.len() == ids {
        " The model seems to have no ids for the specials: mynah-train import expects \
         ids 0, 1, 2 to be <PAD>, <BOS>, <EOS> and the characters to start at id 3, as in \
         the tutorial's TextGenerator."
    } else {
        ""
    };
    bail!(
        "{source} lists {} characters, which with <PAD>, <BOS>, <EOS> (ids 0-2) make {} ids, \
         but the model has {ids} (rows of its output layer).{hint}",
        chars.len(),
        chars.len() + first
    )
}

/// The sorted vocabulary, and for each new id the file's id.
fn sort_vocab(chars: Vec<char>, source: &str) -> Result<(Vocab, Vec<usize>)> {
    let first = FIRST_CHAR_ID as usize;
    let mut order: Vec<usize> = (0..chars.len()).collect();
    order.sort_by_key(|&i| chars[i]);
    for w in order.windows(2) {
        if chars[w[0]] == chars[w[1]] {
            bail!(
                "{source} lists {:?} twice (ids {} and {})",
                chars[w[0]],
                w[0] + first,
                w[1] + first
            );
        }
    }
    let sorted = order.iter().map(|&i| chars[i]).collect();
    let vocab = Vocab::from_chars(sorted).with_context(|| source.to_owned())?;
    let perm = (0..first).chain(order.iter().map(|&i| i + first)).collect();
    Ok((vocab, perm))
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

    fn gru(prefix: &str, gates: usize, input: usize, h: usize) -> Vec<HostTensor> {
        vec![
            t(&format!("{prefix}.weight_ih_l0"), &[gates * h, input]),
            t(&format!("{prefix}.weight_hh_l0"), &[gates * h, h]),
            t(&format!("{prefix}.bias_ih_l0"), &[gates * h]),
            t(&format!("{prefix}.bias_hh_l0"), &[gates * h]),
        ]
    }

    #[test]
    fn text_generator_and_one_hot_are_recognized() {
        let mut m = vec![t("embed.weight", &[6, 4])];
        m.extend(gru("rnn", 3, 4, 5));
        m.extend([t("proj.weight", &[6, 5]), t("proj.bias", &[6])]);
        let r = recognize(&m).unwrap();
        assert!(!r.one_hot);
        assert_eq!(r.vocab, 6);

        let mut m: Vec<HostTensor> = gru("module.rnn", 3, 6, 5);
        m.push(t("fc.weight", &[6, 5]));
        let r = recognize(&m).unwrap();
        assert!(r.one_hot);
        assert_eq!(r.proj_b.data, vec![0.0; 6]);
        let p = r.into_params(&[0, 1, 2, 3, 4, 5]).unwrap();
        assert_eq!(p[0].shape, [6, 6]);
        assert_eq!(&p[0].data[..8], &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        let h = infer_hyper(Arch::GRU, Specials::DEFAULT, false, &p).unwrap();
        assert_eq!(h.embed_dim, 6);
    }

    #[test]
    fn lstm_rnn_bidirectional_and_strangers_are_refused() {
        let mut lstm: Vec<HostTensor> = gru("rnn", 4, 6, 5);
        lstm.push(t("fc.weight", &[6, 5]));
        let e = recognize(&lstm).err().unwrap().to_string();
        assert!(e.contains("LSTM") && e.contains("only GRU"), "{e}");
        let e = recognize(&[t("lstm.weight_ih_l0", &[20, 6])])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("LSTM") && e.contains("only GRU"), "{e}");
        let mut rnn: Vec<HostTensor> = gru("rnn", 1, 6, 5);
        rnn.push(t("fc.weight", &[6, 5]));
        let e = recognize(&rnn).err().unwrap().to_string();
        assert!(e.contains("plain RNN"), "{e}");
        let e = recognize(&[t("rnn.weight_ih_l0_reverse", &[15, 6])])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("bidirectional"), "{e}");
        let mut extra: Vec<HostTensor> = gru("rnn", 3, 6, 5);
        extra.extend([t("fc.weight", &[6, 5]), t("norm.weight", &[5])]);
        let e = recognize(&extra).err().unwrap().to_string();
        assert!(e.contains("norm.weight"), "{e}");
    }

    #[test]
    fn vocab_is_sorted_with_its_permutation() {
        let (v, perm) = sort_vocab(vec!['b', 'a', ' '], "v").unwrap();
        assert_eq!(v.chars(), [' ', 'a', 'b']);
        assert_eq!(perm, [0, 1, 2, 5, 4, 3]);
        let e = sort_vocab(vec!['a', 'b', 'a'], "v")
            .unwrap_err()
            .to_string();
        assert!(e.contains("'a' twice (ids 3 and 5)"), "{e}");
        let row = |r: usize| HostTensor {
            name: "x".into(),
            shape: vec![6, 1],
            data: (0..6).map(|i| (i * 10 + r) as f32).collect(),
        };
        let p = permute_rows(&row(0), "y", &perm).unwrap();
        assert_eq!(p.data, [0.0, 10.0, 20.0, 50.0, 40.0, 30.0]);
    }

    #[test]
    fn vocab_size_mismatch_explains_itself() {
        let e = check_vocab_size(&['a', 'b'], 2, "vocab.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no ids for the specials"), "{e}");
        let e = check_vocab_size(&['a', 'b'], 7, "vocab.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("make 5 ids, but the model has 7"), "{e}");
        check_vocab_size(&['a', 'b'], 5, "vocab.json").unwrap();
        assert!(parse_vocab("[\"ab\"]").is_err());
        assert!(parse_vocab("{}").is_err());
    }
}
