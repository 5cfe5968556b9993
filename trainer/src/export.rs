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
                quantize_int8(&float, &model)?
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

/// The int8 export hook: quantizes a float model file with calibration text.
///
/// The quantizer is part of the fixed-point runtime's work (`runtime/QUANTIZATION.md`); until
/// it is wired in here, `--dtype int8` says so instead of writing anything.
fn quantize_int8(_float_model: &[u8], _model: &LoadedModel) -> Result<Vec<u8>> {
    bail!(
        "--dtype int8 is not available yet: the int8 quantizer comes with the fixed-point \
         runtime; export --dtype f32 or f16 for now"
    )
}
