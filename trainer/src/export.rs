//! `mynah-train export`: a checkpoint → a model file (format v1) and/or plain safetensors.

use crate::checkpoint::{load_model, LoadedModel, ModelKeys, Which};
use crate::model::Dims;
use crate::params::{to_safetensors, write_atomic, HostTensor};
use anyhow::{bail, ensure, Context, Result};
use mynah_format::{Hyper, ModelWriter, WeightsKind};
use std::path::PathBuf;

/// Weight types of `--dtype`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportDtype {
    /// 32-bit floats, as trained.
    F32,
    /// 16-bit floats (IEEE half): half the size, ~3 significant digits.
    F16,
    /// Integer-only weights for the fixed-point runtime (quantized with calibration data).
    Int8,
}

/// What `export` was asked to do.
pub struct ExportRequest {
    /// Run directory or checkpoint file.
    pub input: PathBuf,
    /// Which checkpoint of a directory.
    pub which: Which,
    /// `-o`: the model file.
    pub output: Option<PathBuf>,
    /// `--dtype`.
    pub dtype: ExportDtype,
    /// `--safetensors`.
    pub safetensors: Option<PathBuf>,
    /// `--calib-chars`: calibration characters for `--dtype int8`.
    pub calib_chars: usize,
    /// `--calib-corpus`: calibration corpus for `--dtype int8` (default: the run's corpus).
    pub calib_corpus: Option<PathBuf>,
}

/// Runs `mynah-train export`.
pub fn run(req: &ExportRequest) -> Result<()> {
    ensure!(
        req.output.is_some() || req.safetensors.is_some(),
        "nothing to export: give -o model.mynah and/or --safetensors out.safetensors"
    );
    let model = load_model(&req.input, req.which)?;
    let dims = Dims::infer(&model.params).with_context(|| model.path.display().to_string())?;
    let ordered = canonical(&model.params, &dims)?;
    let layers = u32::try_from(dims.layers)?;
    let embed = u32::try_from(dims.embed)?;
    let hidden = u32::try_from(dims.hidden)?;
    if let Some(out) = &req.output {
        let bytes = match req.dtype {
            ExportDtype::F32 | ExportDtype::F16 => {
                float_model(&model.keys, &dims, &ordered, req.dtype == ExportDtype::F16)?
            }
            ExportDtype::Int8 => {
                let float = float_model(&model.keys, &dims, &ordered, false)?;
                quantize_int8(&float, &model, req)?
            }
        };
        write_atomic(out, &bytes)?;
        println!(
            "wrote {} ({} bytes, {:?}, vocabulary {}, embed {embed}, hidden {hidden}, layers {layers}, {} mode) from {}",
            out.display(),
            bytes.len(),
            req.dtype,
            model.keys.vocab.size(),
            model.keys.mode,
            model.path.display()
        );
    }
    if let Some(out) = &req.safetensors {
        let metadata = model.keys.to_metadata(embed, hidden, layers)?;
        write_atomic(out, &to_safetensors(&ordered, metadata)?)?;
        println!(
            "wrote {} (PyTorch names, f32) from {}",
            out.display(),
            model.path.display()
        );
    }
    Ok(())
}

/// The parameters in canonical order, checked against `dims`.
fn canonical(params: &[HostTensor], dims: &Dims) -> Result<Vec<HostTensor>> {
    dims.params()
        .iter()
        .map(|(name, _)| {
            params
                .iter()
                .find(|t| &t.name == name)
                .cloned()
                .with_context(|| format!("missing tensor {name}"))
        })
        .collect()
}

/// A float model file (format v1) with the tensors as f32 or f16.
pub fn float_model(
    keys: &ModelKeys,
    dims: &Dims,
    tensors: &[HostTensor],
    f16: bool,
) -> Result<Vec<u8>> {
    let hyper = Hyper {
        vocab_size: u32::try_from(dims.vocab)?,
        embed_dim: u32::try_from(dims.embed)?,
        hidden_dim: u32::try_from(dims.hidden)?,
        num_layers: u32::try_from(dims.layers)?,
        records: keys.mode != "text",
        weights: WeightsKind::Float,
    };
    let mut w = ModelWriter::new(hyper, keys.vocab.chars()).map_err(|e| anyhow::anyhow!("{e}"))?;
    for t in tensors {
        let shape = t
            .shape
            .iter()
            .map(|&d| u32::try_from(d))
            .collect::<Result<Vec<_>, _>>()?;
        let added = if f16 {
            let halves: Vec<half::f16> = t.data.iter().map(|&x| half::f16::from_f32(x)).collect();
            w.add_f16(&t.name, &shape, &halves)
        } else {
            w.add_f32(&t.name, &shape, &t.data)
        };
        added.map_err(|e| anyhow::anyhow!("tensor {}: {e}", t.name))?;
    }
    w.to_bytes()
        .map_err(|e| anyhow::anyhow!("cannot build the model file: {e}"))
}

/// `--dtype int8`: quantizes the float model file with `mynah_tools::quantize` (the scheme is
/// runtime/QUANTIZATION.md), calibrated on the first `--calib-chars` characters of the
/// training part of the corpus, and prints how closely the int8 model follows the float one
/// on that text.
fn quantize_int8(float_model: &[u8], model: &LoadedModel, req: &ExportRequest) -> Result<Vec<u8>> {
    use mynah_tools::quantize::{agreement, calibration_streams, quantize, QuantizeOptions};
    let (path, mode) = match (&req.calib_corpus, &model.meta) {
        (Some(p), Some(meta)) => (p.clone(), meta.config.text_mode()?),
        (Some(p), None) => (
            p.clone(),
            crate::config::parse_mode(&model.keys.mode, 0, false)?,
        ),
        // An imported run may have no corpus (an empty path).
        (None, Some(meta)) if !meta.config.corpus.as_os_str().is_empty() => {
            (meta.config.corpus.clone(), meta.config.text_mode()?)
        }
        (None, _) => bail!(
            "--dtype int8 needs calibration text: give --calib-corpus PATH (the training corpus)"
        ),
    };
    let corpus = mynah_text::Corpus::load(&path, mode)?;
    let calib = calibration_streams(&corpus, &model.keys.vocab, req.calib_chars)?;
    let aligned = mynah_format::AlignedBytes::copy_from(float_model);
    let float = aligned.model()?;
    let bytes = quantize(&float, &calib, &QuantizeOptions::default())?;
    let gru = mynah_tools::reference::FloatGru::from_model(&float)?;
    let a = agreement(&gru, &bytes, &calib)?;
    println!(
        "int8 vs float on {} calibration chars of {}: {:.4} vs {:.4} nats/char ({:+.2}%), mean KL {:.2e}, top-1 agreement {:.4}",
        a.positions,
        path.display(),
        a.b.nats_per_char(),
        a.a.nats_per_char(),
        100.0 * a.loss_gap(),
        a.mean_kl,
        a.top1
    );
    Ok(bytes)
}
