//! `mynah-train import`: a character-level GRU, LSTM or tanh RNN trained in PyTorch (the seed
//! tutorials' models as their users save them) becomes a run directory that `export`, `eval`,
//! `sample` and `train --resume` treat exactly like one trained here.
//!
//! See [`IMPORT_AFTER_HELP`] for what is accepted; everything else is refused with a message
//! that names the tensor or the file at fault, and nothing is written.

mod read;
mod recognize;
mod vocab;

use crate::adam::Adam;
use crate::checkpoint::{Checkpoint, CheckpointMeta, CorpusInfo, BEST, LATEST};
use crate::config::{ArchKind, Overrides, TrainConfig};
use crate::evaluate::score;
use crate::metrics::Metrics;
use crate::model::{infer_hyper, CharModel};
use crate::params::write_atomic;
use crate::{select_device, DeviceChoice};
use anyhow::{bail, ensure, Context, Result};
use mynah_format::{Arch, Cell, Special};
use mynah_text::{Corpus, ModeKind, Reordered, Split, UnkPolicy, Vocab};
use read::read_weights;
use recognize::recognize;
use std::path::PathBuf;
use vocab::vocab_tokens;

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
