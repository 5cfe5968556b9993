//! Adam with gradient-norm clipping, written out on tensors so that its whole state (step
//! count and both moments) can be checkpointed and restored exactly; tch's optimizer cannot
//! export its state. With a weight decay it is AdamW (decoupled, PyTorch's `AdamW`): every
//! matrix (rank ≥ 2: the weights and the embedding) shrinks by `lr · wd` of itself before
//! the update; biases never decay.

use crate::params::HostTensor;
use anyhow::{Context, Result};
use tch::Tensor;

/// Adam (Kingma & Ba), with PyTorch's update rule and bias correction.
pub struct Adam {
    params: Vec<(String, Tensor)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Updates done so far (bias correction uses it).
    pub t: u64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    /// Decoupled weight decay, and which parameters it applies to.
    weight_decay: f64,
    decays: Vec<bool>,
}

impl Adam {
    /// An optimizer for `params` with zero moments.
    pub fn new(params: Vec<(String, Tensor)>, beta1: f64, beta2: f64, eps: f64) -> Adam {
        let m = params.iter().map(|(_, p)| p.zeros_like()).collect();
        let v = params.iter().map(|(_, p)| p.zeros_like()).collect();
        let decays = params.iter().map(|(_, p)| p.dim() >= 2).collect();
        Adam {
            params,
            m,
            v,
            t: 0,
            beta1,
            beta2,
            eps,
            weight_decay: 0.0,
            decays,
        }
    }

    /// AdamW: decoupled weight decay `wd` on the matrices (0: plain Adam, as before).
    #[must_use]
    pub fn with_weight_decay(mut self, wd: f64) -> Adam {
        self.weight_decay = wd;
        self
    }

    /// Clears the gradients.
    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            p.zero_grad();
        }
    }

    /// Scales the gradients so that their global L2 norm is at most `max_norm`; returns the
    /// norm before clipping.
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> f64 {
        tch::no_grad(|| {
            let norms: Vec<Tensor> = self
                .params
                .iter()
                .map(|(_, p)| p.grad())
                .filter(Tensor::defined)
                .map(|g| g.norm())
                .collect();
            if norms.is_empty() {
                return 0.0;
            }
            let total = Tensor::stack(&norms, 0).norm().double_value(&[]);
            // PyTorch's clip_grad_norm_: the same coefficient and epsilon.
            let coef = max_norm / (total + 1e-6);
            if coef < 1.0 {
                for (_, p) in &self.params {
                    let mut g = p.grad();
                    if g.defined() {
                        let _ = g.g_mul_scalar_(coef);
                    }
                }
            }
            total
        })
    }

    /// One update with learning rate `lr`.
    pub fn step(&mut self, lr: f64) {
        self.t += 1;
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        let t = self.t.min(i32::MAX as u64) as i32;
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2 = 1.0 - self.beta2.powi(t);
        let step_size = lr / bc1;
        let bc2_sqrt = bc2.sqrt();
        let shrink = 1.0 - lr * self.weight_decay;
        tch::no_grad(|| {
            let params = self.params.iter_mut().zip(&self.decays);
            for ((((_, p), &decays), m), v) in params.zip(&mut self.m).zip(&mut self.v) {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                if decays && self.weight_decay > 0.0 {
                    let _ = p.g_mul_scalar_(shrink);
                }
                // m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g²
                let _ = m.g_mul_scalar_(self.beta1);
                let _ = m.g_add_(&(&g * (1.0 - self.beta1)));
                let _ = v.g_mul_scalar_(self.beta2);
                let _ = v.addcmul_(&(&g * (1.0 - self.beta2)), &g);
                // p -= lr/bc1 · m / (√v/√bc2 + eps)
                let denom = v.sqrt() / bc2_sqrt + self.eps;
                let _ = p.g_sub_(&(&*m / denom * step_size));
            }
        });
    }

    /// The moments, named `adam.m.<param>` and `adam.v.<param>`.
    pub fn state(&self) -> Result<Vec<HostTensor>> {
        let mut out = Vec::new();
        for (((name, _), m), v) in self.params.iter().zip(&self.m).zip(&self.v) {
            out.push(HostTensor::from_tch(&format!("adam.m.{name}"), m)?);
            out.push(HostTensor::from_tch(&format!("adam.v.{name}"), v)?);
        }
        Ok(out)
    }

    /// Restores the moments saved by [`Adam::state`] and the step count.
    pub fn load_state(&mut self, tensors: &[HostTensor], t: u64) -> Result<()> {
        for (((name, _), m), v) in self.params.iter().zip(&mut self.m).zip(&mut self.v) {
            for (prefix, dst) in [("adam.m.", m), ("adam.v.", v)] {
                let key = format!("{prefix}{name}");
                tensors
                    .iter()
                    .find(|h| h.name == key)
                    .with_context(|| format!("the checkpoint has no optimizer tensor {key}"))?
                    .copy_into(dst)?;
            }
        }
        self.t = t;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn matches_the_textbook_update() {
        let w = Tensor::from_slice(&[1.0f32, -2.0]).set_requires_grad(true);
        let mut adam = Adam::new(vec![("w".into(), w.shallow_clone())], 0.9, 0.999, 1e-8);
        let mut ref_m = [0.0f64; 2];
        let mut ref_v = [0.0f64; 2];
        let mut ref_w = [1.0f64, -2.0];
        for step in 1..=3 {
            adam.zero_grad();
            // loss = sum(w²) → grad 2w
            (&w * &w).sum(Kind::Float).backward();
            adam.step(0.1);
            for i in 0..2 {
                let g = 2.0 * ref_w[i];
                ref_m[i] = 0.9 * ref_m[i] + 0.1 * g;
                ref_v[i] = 0.999 * ref_v[i] + 0.001 * g * g;
                let mh = ref_m[i] / (1.0 - 0.9f64.powi(step));
                let vh = ref_v[i] / (1.0 - 0.999f64.powi(step));
                ref_w[i] -= 0.1 * mh / (vh.sqrt() + 1e-8);
            }
        }
        let got: Vec<f32> = Vec::try_from(&w.detach().to_device(Device::Cpu)).unwrap();
        for i in 0..2 {
            assert!(
                (f64::from(got[i]) - ref_w[i]).abs() < 1e-5,
                "{got:?} {ref_w:?}"
            );
        }
    }

    #[test]
    fn weight_decay_is_decoupled_and_spares_biases() {
        let w = Tensor::from_slice(&[1.0f32, -2.0, 0.5, 4.0])
            .view([2, 2])
            .set_requires_grad(true);
        let b = Tensor::from_slice(&[1.0f32, -2.0]).set_requires_grad(true);
        let named = vec![
            ("w".into(), w.shallow_clone()),
            ("b".into(), b.shallow_clone()),
        ];
        let mut adamw = Adam::new(named, 0.9, 0.999, 1e-8).with_weight_decay(0.1);
        adamw.zero_grad();
        // Zero gradients: Adam moves nothing, so only the decay acts.
        ((&w * 0.0).sum(Kind::Float) + (&b * 0.0).sum(Kind::Float)).backward();
        adamw.step(0.5);
        let got = |t: &Tensor| Vec::<f32>::try_from(t.detach().view([-1])).unwrap();
        for (g, want) in got(&w).iter().zip([0.95, -1.9, 0.475, 3.8]) {
            assert!((g - want).abs() < 1e-6, "{g} vs {want}");
        }
        assert_eq!(got(&b), [1.0, -2.0]);
    }

    #[test]
    fn clipping_bounds_the_norm() {
        let w = Tensor::from_slice(&[3.0f32, 4.0]).set_requires_grad(true);
        let mut adam = Adam::new(vec![("w".into(), w.shallow_clone())], 0.9, 0.999, 1e-8);
        adam.zero_grad();
        (&w * &w).sum(Kind::Float).backward(); // grad (6, 8), norm 10
        let n = adam.clip_grad_norm(1.0);
        assert!((n - 10.0).abs() < 1e-5);
        let g = w.grad();
        assert!((g.norm().double_value(&[]) - 1.0).abs() < 1e-5);
    }
}
