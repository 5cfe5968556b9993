//! Tuning after rounding (`export --tune-steps N`): the codes of every rounded matrix stay
//! as they are; each row's scale, every bias and the embedding learn to make the integer
//! model's next-character distributions match the float model's own (KL divergence on
//! training text, the float model as its own teacher).
//!
//! The float model rather than the text is the target: the labels would pull these
//! parameters toward the training text, which the model already fits far better than the
//! validation text (measured on the shipped model: tuning on labels made val worse, +0.002,
//! tuning on the float model made it better, −0.007 nats/char).

use crate::data::{derive_rng, Batcher, DataPosition, TextBatcher};
use crate::distill::soft_kl;
use crate::model::CharModel;
use crate::params::HostTensor;
use crate::qat::quantize_pow2;
use anyhow::{ensure, Result};
use mynah_format::Hyper;
use mynah_quant::quantize::WeightPlan;
use tch::{Device, Kind, Tensor};

/// The matrices of a [`WeightPlan`] as a forward pass sees them during tuning:
/// `codes · scale · exp(log_factor)`, with only the per-row `log_factor` trained.
pub struct Planned {
    matrices: Vec<(String, Tensor, Tensor)>,
    /// The embedding is stored as `i8` with a power-of-two scale (a factored file).
    embed_pow2: bool,
}

impl Planned {
    /// Every matrix of `plan` on `device`, each with a zero log-factor per row.
    pub fn new(plan: &WeightPlan, device: Device) -> Result<Planned> {
        let mut matrices = Vec::new();
        for name in plan.names() {
            let rows = plan.get(name).expect("a planned name");
            let n = rows.scales.len();
            ensure!(
                n > 0 && rows.codes.len().is_multiple_of(n),
                "the plan of {name} has {} codes for {n} rows",
                rows.codes.len()
            );
            let cols = rows.codes.len() / n;
            let base: Vec<f32> = rows
                .codes
                .chunks(cols)
                .zip(&rows.scales)
                .flat_map(|(c, &s)| c.iter().map(move |&q| (f64::from(q) * s) as f32))
                .collect();
            let base = Tensor::from_slice(&base)
                .reshape([n as i64, cols as i64])
                .to_device(device);
            let log_factor =
                Tensor::zeros([n as i64, 1], (Kind::Float, device)).set_requires_grad(true);
            matrices.push((name.to_owned(), base, log_factor));
        }
        Ok(Planned {
            matrices,
            // Only a factored file plans layer 0's input matrix.
            embed_pow2: plan.get("rnn.weight_ih_l0").is_some(),
        })
    }

    /// `name` as the tuned forward pass uses it, if this plan decides it.
    pub fn apply(&self, name: &str, t: &Tensor) -> Option<Tensor> {
        if name == "embed.weight" && self.embed_pow2 {
            // The file rounds the embedding: the forward sees the rounded one, the gradient
            // goes straight through to the float one.
            return Some(quantize_pow2(t) + (t - t.detach()));
        }
        self.matrices
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, base, f)| base * f.exp())
    }

    /// The trained log-factors.
    fn factors(&self) -> Vec<(String, Tensor)> {
        self.matrices
            .iter()
            .map(|(n, _, f)| (format!("{n}.log_scale"), f.shallow_clone()))
            .collect()
    }

    /// Multiplies `plan`'s scales by the trained factors.
    fn write_back(&self, plan: &mut WeightPlan) -> Result<()> {
        for (name, _, f) in &self.matrices {
            let factors = Vec::<f64>::try_from(f.to_kind(Kind::Double).flatten(0, -1))?;
            if let Some(rows) = plan.get_mut(name) {
                for (s, k) in rows.scales.iter_mut().zip(factors) {
                    *s *= k.exp();
                }
            }
        }
        Ok(())
    }
}

/// How long and how fast tuning runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TuneOptions {
    /// Optimizer steps (`--tune-steps`).
    pub steps: u64,
    /// Adam's first learning rate (`--tune-lr`), decayed linearly to zero.
    pub lr: f64,
    /// Windows per step.
    pub batch: usize,
    /// Characters per window.
    pub seq_len: usize,
    /// The windows' random seed.
    pub seed: u64,
}

/// What tuning did: the mean KL to the float model over the first and last 10% of steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tuned {
    /// KL (nats/char) at the start.
    pub kl_start: f64,
    /// KL at the end.
    pub kl_end: f64,
}

/// Tunes `plan`'s scales and `params`' biases and embedding on windows of `stream` (training
/// token ids, no `<BOS>`); returns the tuned parameters (the planned matrices as they were).
pub fn tune(
    hyper: &Hyper,
    params: &[HostTensor],
    plan: &mut WeightPlan,
    stream: Vec<u32>,
    bos: Option<u32>,
    opts: &TuneOptions,
    device: Device,
) -> Result<(Vec<HostTensor>, Tuned)> {
    let teacher = CharModel::from_host(device, *hyper, params, 0.0)?;
    let planned = Planned::new(plan, device)?;
    let mut trained = planned.factors();
    let student = CharModel::from_host(device, *hyper, params, 0.0)?.with_planned(planned);
    for (name, t) in student.named_params() {
        if name.contains("bias") || name == "embed.weight" {
            trained.push((name, t));
        } else {
            let _ = t.set_requires_grad(false);
        }
    }
    let mut adam = crate::adam::Adam::new(trained, 0.9, 0.999, 1e-8);
    let mut batcher = Batcher::Text(TextBatcher::new(stream, opts.seq_len, opts.batch, bos)?);
    let mut pos = DataPosition {
        rng_state: derive_rng(opts.seed, 0x7E5E).state,
        epoch: 0,
        batch_in_epoch: 0,
    };
    let v = student.vocab_size();
    let window = (opts.steps / 10).max(1);
    let (mut first, mut last) = (Vec::new(), Vec::new());
    for step in 0..opts.steps {
        let b = batcher.next(&mut pos);
        let shape = [b.batch as i64, -1];
        let input = Tensor::from_slice(&b.inputs)
            .reshape(shape)
            .to_device(device);
        let target = Tensor::from_slice(&b.targets).to_device(device);
        let want = tch::no_grad(|| teacher.forward(&input, None, false).0.reshape([-1, v]));
        let (got, _) = student.forward(&input, None, false);
        let kl = soft_kl(&got.reshape([-1, v]), &want, &target, 1.0);
        adam.zero_grad();
        kl.backward();
        // Linear decay to zero: the last steps settle instead of jittering at full rate.
        adam.step(opts.lr * (1.0 - step as f64 / opts.steps as f64));
        let value = kl.double_value(&[]);
        if step < window {
            first.push(value);
        }
        if step + window >= opts.steps {
            last.push(value);
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    student
        .planned_ref()
        .expect("the student is planned")
        .write_back(plan)?;
    let tuned = Tuned {
        kl_start: mean(&first),
        kl_end: mean(&last),
    };
    Ok((student.to_host()?, tuned))
}
