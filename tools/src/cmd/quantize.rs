//! `mynah quantize FLOAT -o OUT --calib PATH [--dtype int8|int4] [--factored]`: quantize a
//! float model file and report how closely the integer runtime follows it.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use mynah_format::MappedModel;
use mynah_quant::engine::file_vocab;
use mynah_quant::quantize::{
    agreement, calibration_streams, quantize, QuantDtype, QuantizeOptions, Rounding,
};
use mynah_quant::reference::FloatModel;
use mynah_text::{Corpus, ModeKind, Split, UnkPolicy};

/// Arguments of `mynah quantize`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The FLOAT model file.
    pub model: PathBuf,
    /// Where to write the quantized model file.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Weights of the file: int8 (i8, the INT8 file) or int4 (i4, two per byte; format
    /// version 3).
    #[arg(long, value_name = "int8|int4", default_value = "int8")]
    pub dtype: String,
    /// Factored input layer (recurrent models): an int8 embedding and layer 0's input
    /// matrix instead of the per-token table, smaller for large vocabularies or hidden
    /// sizes, one more matrix product per character (format version 3).
    #[arg(long)]
    pub factored: bool,
    /// How weights become codes: nearest, compensated (each row's rounding errors spread
    /// over its later columns so that its output on the calibration text moves least;
    /// slower), or auto (compensated for int4, nearest for int8).
    #[arg(long, value_name = "auto|nearest|compensated", default_value = "auto")]
    pub rounding: String,
    /// Calibration corpus (its training part is used); usually the training corpus.
    #[arg(long, value_name = "PATH")]
    pub calib: PathBuf,
    /// Corpus mode: text, lines or csv [default: lines for records models, else text].
    #[arg(long)]
    pub mode: Option<ModeKind>,
    /// CSV column, counted from 0.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub csv_column: usize,
    /// The CSV file starts with a header row.
    #[arg(long)]
    pub csv_header: bool,
    /// Characters of calibration text.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub calib_chars: usize,
    /// Skip the calibration-based bias correction.
    #[arg(long)]
    pub no_bias_correction: bool,
    /// Also compare float and the quantized model on this split of the corpus (val, train,
    /// all).
    #[arg(long)]
    pub compare: Option<Split>,
}

/// Quantizes, writes the file atomically, optionally prints the agreement.
pub fn run(args: &Args) -> Result<()> {
    let Some(dtype) = QuantDtype::from_name(&args.dtype) else {
        bail!("--dtype {:?}: expected int8 or int4", args.dtype);
    };
    let Some(rounding) = Rounding::from_name(&args.rounding, dtype) else {
        bail!(
            "--rounding {:?}: expected auto, nearest or compensated",
            args.rounding
        );
    };
    let mapped = MappedModel::open(&args.model)?;
    let model = mapped.model();
    let name = args.model.display().to_string();
    let mode = super::corpus_mode(
        args.mode,
        args.csv_column,
        args.csv_header,
        model.hyper().records,
    );
    let corpus = Corpus::load(&args.calib, mode)?;
    let vocab = file_vocab(&model).with_context(|| name.clone())?;
    let calib = calibration_streams(&corpus, &vocab, args.calib_chars)?;
    let opts = QuantizeOptions {
        bias_correction: !args.no_bias_correction,
        dtype,
        factored: args.factored,
        rounding,
    };
    let bytes = quantize(&model, &calib, &opts).with_context(|| name.clone())?;
    mynah_format::write_atomic(&args.output, &bytes)
        .with_context(|| args.output.display().to_string())?;
    println!("wrote {} ({} bytes)", args.output.display(), bytes.len());
    if let Some(split) = args.compare {
        let seqs = corpus.part(split).eval_sequences(&vocab, UnkPolicy::Skip)?;
        let float = FloatModel::from_model(&model)?;
        let a = agreement(&float, &bytes, &seqs)?;
        println!(
            "compared on {} chars of the {} split",
            a.positions,
            split.name()
        );
        println!("float nats/char {:.5}", a.a.nats_per_char());
        println!(
            "{dtype}  nats/char {:.5} ({:+.3}%)",
            a.b.nats_per_char(),
            100.0 * a.loss_gap()
        );
        println!(
            "mean KL {:.6} nats (max {:.4}), top-1 agreement {:.4}",
            a.mean_kl, a.max_kl, a.top1
        );
    }
    Ok(())
}
