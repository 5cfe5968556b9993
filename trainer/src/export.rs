//! `mynah-train export`: a checkpoint → a model file (format v2, or v3 for int4 and factored files) and/or plain safetensors.

use crate::checkpoint::{load_model, LoadedModel, Which};
use crate::model::param_specs;
use crate::params::{to_safetensors, write_atomic, HostTensor};
use anyhow::{bail, ensure, Context, Result};
use mynah_format::{tensor_name, Hyper, ModelWriter};
use mynah_quant::quantize::{
    agreement, calibration_streams, plan_weights, quantize, quantize_model_with, QuantDtype,
    QuantizeOptions, Rounding,
};
use mynah_quant::reference::FloatModel;
use mynah_text::Vocab;
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
    /// Integer-only 4-bit weights (two per byte, a scale per row), the rest as int8.
    Int4,
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
    /// `--factored`: an int8/int4 file with a factored input layer.
    pub factored: bool,
    /// `--rounding`: auto, nearest or compensated.
    pub rounding: String,
    /// `--tune-steps`: steps of tuning after rounding (0: none).
    pub tune_steps: u64,
    /// `--tune-lr`.
    pub tune_lr: f64,
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
    let hyper = model.hyper;
    let quantized = matches!(req.dtype, ExportDtype::Int8 | ExportDtype::Int4);
    ensure!(
        !req.factored || quantized,
        "--factored is a form of the integer file: give it with --dtype int8 or int4"
    );
    ensure!(
        !req.factored || matches!(hyper.arch, mynah_format::Arch::Recurrent(_)),
        "--factored needs a recurrent model: an n-gram model's input is always its table"
    );
    let rounding =
        Rounding::from_name(&req.rounding, export_dtype(req.dtype)).with_context(|| {
            format!(
                "--rounding {:?}: expected auto, nearest or compensated",
                req.rounding
            )
        })?;
    ensure!(
        req.tune_steps == 0 || quantized,
        "--tune-steps tunes an integer file: give it with --dtype int8 or int4"
    );
    ensure!(
        req.tune_lr.is_finite() && req.tune_lr > 0.0,
        "--tune-lr {}: expected a positive learning rate",
        req.tune_lr
    );
    if let Some(out) = &req.output {
        let bytes = match req.dtype {
            ExportDtype::F32 | ExportDtype::F16 => float_file(
                &model.keys.vocab,
                &hyper,
                &model.params,
                req.dtype == ExportDtype::F16,
            )?,
            ExportDtype::Int8 | ExportDtype::Int4 => {
                let float = float_file(&model.keys.vocab, &hyper, &model.params, false)?;
                quantize_int(&float, &model, req, rounding)?
            }
        };
        write_atomic(out, &bytes)?;
        println!(
            "wrote {} ({} bytes, {:?}, {}, vocabulary {}, embed {}, hidden {}, layers {}, {} mode) from {}",
            out.display(),
            bytes.len(),
            req.dtype,
            hyper.arch,
            model.keys.vocab.size(),
            hyper.embed_dim,
            hyper.hidden_dim,
            hyper.num_layers,
            model.keys.mode,
            model.path.display()
        );
    }
    if let Some(out) = &req.safetensors {
        let ordered = param_specs(&hyper)
            .iter()
            .map(|p| find(&model.params, &p.name).cloned())
            .collect::<Result<Vec<_>>>()?;
        let metadata = model.keys.to_metadata(&hyper)?;
        write_atomic(out, &to_safetensors(&ordered, metadata)?)?;
        println!(
            "wrote {} (PyTorch names, f32) from {}",
            out.display(),
            model.path.display()
        );
    }
    Ok(())
}

fn find<'t>(params: &'t [HostTensor], name: &str) -> Result<&'t HostTensor> {
    params
        .iter()
        .find(|t| t.name == name)
        .with_context(|| format!("missing tensor {name}"))
}

/// A float model file with the tensors of the format's table for `hyper`, as f32 or f16.
pub fn float_file(
    vocab: &Vocab,
    hyper: &Hyper,
    params: &[HostTensor],
    f16: bool,
) -> Result<Vec<u8>> {
    let mut w = ModelWriter::new(*hyper, vocab.chars()).map_err(|e| anyhow::anyhow!("{e}"))?;
    for spec in hyper.table().specs {
        for k in (0..hyper.num_layers).filter(|&k| spec.layers.has(k, hyper.num_layers)) {
            let name = tensor_name(spec, k);
            let t = find(params, &name)?;
            let shape = hyper.shape_of(spec, k);
            let added = if f16 {
                let halves: Vec<half::f16> =
                    t.data.iter().map(|&x| half::f16::from_f32(x)).collect();
                w.add_f16(&name, shape.dims(), &halves)
            } else {
                w.add_f32(&name, shape.dims(), &t.data)
            };
            added.map_err(|e| anyhow::anyhow!("tensor {name}: {e}"))?;
        }
    }
    w.to_bytes()
        .map_err(|e| anyhow::anyhow!("cannot build the model file: {e}"))
}

/// `--dtype int8|int4`: quantizes the float model file with `mynah_quant` (the scheme is
/// runtime/QUANTIZATION.md), calibrated on the first `--calib-chars` characters of the
/// training part of the corpus, and prints how closely the integer model follows the float
/// one on that text.
fn quantize_int(
    float_file: &[u8],
    model: &LoadedModel,
    req: &ExportRequest,
    rounding: Rounding,
) -> Result<Vec<u8>> {
    let (path, mode) = match (&req.calib_corpus, &model.meta) {
        (Some(p), Some(meta)) => (p.clone(), meta.config.text_mode()),
        (Some(p), None) => (p.clone(), model.keys.mode.with(0, false)),
        // An imported run may have no corpus (an empty path).
        (None, Some(meta)) if !meta.config.corpus.as_os_str().is_empty() => {
            (meta.config.corpus.clone(), meta.config.text_mode())
        }
        (None, _) => bail!(
            "--dtype int8|int4 needs calibration text: give --calib-corpus PATH (the training corpus)"
        ),
    };
    let corpus = mynah_text::Corpus::load(&path, mode)?;
    let calib = calibration_streams(&corpus, &model.keys.vocab, req.calib_chars)?;
    let aligned = mynah_format::AlignedBytes::copy_from(float_file);
    let float = aligned.model()?;
    let options = QuantizeOptions {
        dtype: export_dtype(req.dtype),
        factored: req.factored,
        rounding,
        ..QuantizeOptions::default()
    };
    let bytes = if req.tune_steps > 0 {
        tuned_file(&float, model, req, &corpus, &calib, &options)?
    } else {
        quantize(&float, &calib, &options)?
    };
    if calib.is_empty() {
        println!(
            "{}: no calibration text (--calib-chars 0), biases not corrected",
            options.dtype.name()
        );
        return Ok(bytes);
    }
    let reference = FloatModel::from_model(&float)?;
    let a = agreement(&reference, &bytes, &calib)?;
    println!(
        "{} vs float on {} calibration chars of {}: {:.4} vs {:.4} nats/char ({:+.2}%), mean KL {:.2e}, top-1 agreement {:.4}",
        options.dtype.name(),
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

/// The integer weights of `dtype` (int8 for the float dtypes, which `--rounding` ignores).
fn export_dtype(dtype: ExportDtype) -> QuantDtype {
    match dtype {
        ExportDtype::Int4 => QuantDtype::Int4,
        _ => QuantDtype::Int8,
    }
}

/// `--tune-steps N`: rounds, tunes the scales, biases and embedding ([`crate::tune`]) on
/// the training part of `corpus`, and writes the file with the tuned values.
fn tuned_file(
    float: &mynah_format::Model<'_>,
    model: &LoadedModel,
    req: &ExportRequest,
    corpus: &mynah_text::Corpus,
    calib: &[Vec<u32>],
    options: &QuantizeOptions,
) -> Result<Vec<u8>> {
    ensure!(
        !calib.is_empty(),
        "--tune-steps needs calibration text: --calib-chars 0 leaves none"
    );
    let reference = FloatModel::from_model(float)?;
    let mut plan = plan_weights(&reference, calib, options)?;
    let vocab = &model.keys.vocab;
    let bos = vocab.bos();
    // One stream of the whole training part; every window starts with <BOS> again.
    let stream: Vec<u32> = calibration_streams(corpus, vocab, usize::MAX)?
        .into_iter()
        .flat_map(|s| s.into_iter().skip(usize::from(bos.is_some())))
        .collect();
    let opts = crate::tune::TuneOptions {
        steps: req.tune_steps,
        lr: req.tune_lr,
        batch: 32,
        seq_len: 128,
        seed: 1,
    };
    let device = tch::Device::cuda_if_available();
    let started = std::time::Instant::now();
    let (params, tuned) = crate::tune::tune(
        &model.hyper,
        &model.params,
        &mut plan,
        stream,
        bos,
        &opts,
        device,
    )?;
    println!(
        "tuned scales, biases and embedding for {} steps in {:.0} s: KL to float {:.4} -> {:.4} nats/char",
        req.tune_steps,
        started.elapsed().as_secs_f64(),
        tuned.kl_start,
        tuned.kl_end
    );
    let file = float_file(vocab, &model.hyper, &params, false)?;
    let aligned = mynah_format::AlignedBytes::copy_from(&file);
    let tuned_model = FloatModel::from_model(&aligned.model()?)?;
    Ok(quantize_model_with(
        &tuned_model,
        calib,
        options,
        Some(&plan),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CharModel;
    use mynah_format::{Activation, Arch, Cell, WeightsKind};
    use mynah_quant::reference::FloatModel;
    use tch::{Device, Kind, Tensor};

    /// The exported float file, run by the float reference one token at a time, gives the
    /// logits libtorch gives for the whole sequence: same tensors, same semantics.
    #[test]
    fn the_float_reference_runs_the_exported_file_like_libtorch() {
        let vocab = Vocab::from_texts(["abcde"]).unwrap();
        for (arch, layers) in [
            (Arch::GRU, 2),
            (Arch::Recurrent(Cell::Lstm), 2),
            (Arch::Recurrent(Cell::Rnn), 1),
            (
                Arch::Ngram {
                    context: 3,
                    activation: Activation::Relu,
                },
                1,
            ),
            (
                Arch::Ngram {
                    context: 2,
                    activation: Activation::Tanh,
                },
                1,
            ),
        ] {
            let hyper = Hyper {
                vocab_size: 8,
                embed_dim: 4,
                hidden_dim: 6,
                num_layers: layers,
                records: false,
                weights: WeightsKind::Float,
                arch,
                specials: vocab.specials(),
                factored: false,
            };
            tch::manual_seed(7);
            let model = CharModel::new(Device::Cpu, hyper, 0.0).unwrap();
            let bytes = float_file(&vocab, &hyper, &model.to_host().unwrap(), false).unwrap();
            let aligned = mynah_format::AlignedBytes::copy_from(&bytes);
            let reference = FloatModel::from_model(&aligned.model().unwrap()).unwrap();
            let ids = [1i64, 3, 4, 7, 5, 3, 6, 6, 4];
            let (logits, _) = model.forward(&Tensor::from_slice(&ids).view([1, -1]), None, false);
            let want = Vec::<f32>::try_from(logits.to_kind(Kind::Float).reshape([-1])).unwrap();
            let mut state = reference.zero_state();
            let mut got = Vec::new();
            let mut step = vec![0f32; 8];
            for &id in &ids {
                reference
                    .step(&mut state, u32::try_from(id).unwrap(), &mut step)
                    .unwrap();
                got.extend_from_slice(&step);
            }
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!((g - w).abs() < 1e-5, "{arch}: logit {i}: {g} vs {w}");
            }
        }
    }

    /// Tuning keeps every code, changes the scales, and brings the integer model's
    /// predictions closer to the float model's.
    #[test]
    fn tuning_keeps_the_codes_and_lowers_the_divergence() {
        tch::manual_seed(3);
        let vocab = Vocab::from_texts(["abcdefgh ."]).unwrap();
        let hyper = Hyper {
            vocab_size: vocab.size() as u32,
            embed_dim: 8,
            hidden_dim: 24,
            num_layers: 1,
            records: false,
            weights: WeightsKind::Float,
            arch: Arch::GRU,
            specials: mynah_format::Specials::DEFAULT,
            factored: false,
        };
        let model = CharModel::new(Device::Cpu, hyper, 0.0).unwrap();
        let params = model.to_host().unwrap();
        let file = float_file(&vocab, &hyper, &params, false).unwrap();
        let aligned = mynah_format::AlignedBytes::copy_from(&file);
        let float = FloatModel::from_model(&aligned.model().unwrap()).unwrap();
        let stream: Vec<u32> = (0..4000u32).map(|i| 3 + (i * 7 + i / 5) % 10).collect();
        let calib = vec![stream[..600].to_vec()];
        let opts = QuantizeOptions {
            dtype: QuantDtype::Int4,
            factored: true,
            rounding: Rounding::Compensated,
            ..QuantizeOptions::default()
        };
        let mut plan = plan_weights(&float, &calib, &opts).unwrap();
        let before = plan.clone();
        let tune = crate::tune::TuneOptions {
            steps: 40,
            lr: 1e-2,
            batch: 8,
            seq_len: 32,
            seed: 1,
        };
        let (tuned, t) = crate::tune::tune(
            &hyper,
            &params,
            &mut plan,
            stream,
            vocab.bos(),
            &tune,
            Device::Cpu,
        )
        .unwrap();
        assert!(t.kl_end < t.kl_start, "{t:?}");
        for name in before.names() {
            let (a, b) = (before.get(name).unwrap(), plan.get(name).unwrap());
            assert_eq!(a.codes, b.codes, "{name}");
            assert_ne!(a.scales, b.scales, "{name}");
        }
        let file = float_file(&vocab, &hyper, &tuned, false).unwrap();
        let aligned = mynah_format::AlignedBytes::copy_from(&file);
        let tuned = FloatModel::from_model(&aligned.model().unwrap()).unwrap();
        quantize_model_with(&tuned, &calib, &opts, Some(&plan)).unwrap();
    }
}
