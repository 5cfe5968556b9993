//! `mynah eval MODEL --corpus PATH`: nats/char and bits/char by the evaluation convention.

use std::path::PathBuf;

use anyhow::{Context, Result};
use mynah_format::MappedModel;
use mynah_quant::engine::{file_vocab, score, FileEngine};
use mynah_text::{Corpus, ModeKind, Split, UnkPolicy};

/// Arguments of `mynah eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model file (.mynah): INT8 and INT4 run on the integer runtime, FLOAT on the f32
    /// reference.
    pub model: PathBuf,
    /// The corpus to score.
    #[arg(long, value_name = "PATH")]
    pub corpus: PathBuf,
    /// Corpus mode: text, lines or csv [default: lines for records models, else text].
    #[arg(long)]
    pub mode: Option<ModeKind>,
    /// CSV column, counted from 0.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub csv_column: usize,
    /// The CSV file starts with a header row.
    #[arg(long)]
    pub csv_header: bool,
    /// Which part of the corpus: the last 10% (val), the first 90% (train), or all.
    #[arg(long, default_value = "val")]
    pub split: Split,
    /// Characters the model does not know: error, or skip them.
    #[arg(long, default_value = "error")]
    pub unk: UnkPolicy,
    /// Print one JSON object {"nats_per_char", "bits_per_char", "chars"}.
    #[arg(long)]
    pub json: bool,
}

/// Scores the corpus part and prints the result.
pub fn run(args: &Args) -> Result<()> {
    let mapped = MappedModel::open(&args.model)?;
    let model = mapped.model();
    let name = args.model.display().to_string();
    let mode = super::corpus_mode(
        args.mode,
        args.csv_column,
        args.csv_header,
        model.hyper().records,
    );
    let split = args.split;
    let corpus = Corpus::load(&args.corpus, mode)?;
    let vocab = file_vocab(&model).with_context(|| name.clone())?;
    let seqs = corpus.part(split).eval_sequences(&vocab, args.unk)?;
    let engine = FileEngine::load(&model).with_context(|| name.clone())?;
    let mut lm = engine.stream();
    let s = score(lm.as_mut(), &seqs)?;
    if args.json {
        println!(
            "{{\"nats_per_char\": {}, \"bits_per_char\": {}, \"chars\": {}}}",
            s.nats_per_char(),
            s.bits_per_char(),
            s.symbols
        );
    } else {
        println!(
            "{name}: {:.4} nats/char, {:.4} bits/char over {} chars ({} split of {}, {} mode, {})",
            s.nats_per_char(),
            s.bits_per_char(),
            s.symbols,
            split.name(),
            args.corpus.display(),
            mode.name(),
            super::engine_name(&model)
        );
    }
    Ok(())
}
