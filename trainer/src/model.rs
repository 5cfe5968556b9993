//! The model: embedding → GRU → linear, with PyTorch's parameter names and GRU semantics.

use crate::params::HostTensor;
use crate::rng::Rng;
use anyhow::{bail, ensure, Context, Result};
use mynah_text::{Vocab, BOS, EOS, FIRST_CHAR_ID};
use tch::{nn, Device, Kind, Tensor};

/// The model's sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    /// Ids, specials included.
    pub vocab: i64,
    /// Embedding width.
    pub embed: i64,
    /// Hidden size.
    pub hidden: i64,
    /// GRU layers.
    pub layers: i64,
}

impl Dims {
    /// Parameter names and shapes in the canonical order (PyTorch's `state_dict` order).
    pub fn params(&self) -> Vec<(String, Vec<i64>)> {
        let (v, e, h) = (self.vocab, self.embed, self.hidden);
        let mut out = vec![("embed.weight".to_owned(), vec![v, e])];
        for l in 0..self.layers {
            let input = if l == 0 { e } else { h };
            out.push((format!("rnn.weight_ih_l{l}"), vec![3 * h, input]));
            out.push((format!("rnn.weight_hh_l{l}"), vec![3 * h, h]));
            out.push((format!("rnn.bias_ih_l{l}"), vec![3 * h]));
            out.push((format!("rnn.bias_hh_l{l}"), vec![3 * h]));
        }
        out.push(("proj.weight".to_owned(), vec![v, h]));
        out.push(("proj.bias".to_owned(), vec![v]));
        out
    }

    /// Number of scalar parameters.
    pub fn param_count(&self) -> i64 {
        self.params()
            .iter()
            .map(|(_, s)| s.iter().product::<i64>())
            .sum()
    }

    /// The sizes implied by a set of named tensors (from a checkpoint or an exported file).
    pub fn infer(tensors: &[HostTensor]) -> Result<Dims> {
        let get = |name: &str| {
            tensors
                .iter()
                .find(|t| t.name == name)
                .with_context(|| format!("the model file has no tensor {name:?}"))
        };
        let embed = get("embed.weight")?;
        ensure!(embed.shape.len() == 2, "embed.weight must have rank 2");
        let hh = get("rnn.weight_hh_l0")?;
        ensure!(hh.shape.len() == 2, "rnn.weight_hh_l0 must have rank 2");
        let layers = (0..)
            .take_while(|l| {
                tensors
                    .iter()
                    .any(|t| t.name == format!("rnn.weight_hh_l{l}"))
            })
            .count();
        let dims = Dims {
            vocab: i64::try_from(embed.shape[0])?,
            embed: i64::try_from(embed.shape[1])?,
            hidden: i64::try_from(hh.shape[1])?,
            layers: i64::try_from(layers)?,
        };
        ensure!(
            (1..=4).contains(&dims.layers),
            "the model has {layers} GRU layers; 1..=4 are supported"
        );
        for (name, shape) in dims.params() {
            let t = get(&name)?;
            let want: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
            ensure!(
                t.shape == want,
                "tensor {name} has shape {:?}, expected {want:?}",
                t.shape
            );
        }
        Ok(dims)
    }
}

/// A character-level GRU language model on a libtorch device.
pub struct CharGru {
    /// Owns the parameters.
    pub vs: nn::VarStore,
    /// Sizes.
    pub dims: Dims,
    dropout: f64,
    embed: Tensor,
    /// `[w_ih, w_hh, b_ih, b_hh]` per layer, the order `Tensor::gru` expects.
    rnn: Vec<Tensor>,
    proj_w: Tensor,
    proj_b: Tensor,
}

impl CharGru {
    /// A freshly initialized model, initialized like PyTorch's modules: embedding N(0, 1),
    /// GRU and projection U(-1/√fan, 1/√fan).
    pub fn new(device: Device, dims: Dims, dropout: f64) -> CharGru {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let embed = (&root / "embed").var(
            "weight",
            &[dims.vocab, dims.embed],
            nn::Init::Randn {
                mean: 0.0,
                stdev: 1.0,
            },
        );
        let rnn_path = &root / "rnn";
        #[allow(clippy::cast_precision_loss)]
        let k = 1.0 / (dims.hidden as f64).sqrt();
        let u = nn::Init::Uniform { lo: -k, up: k };
        let mut rnn = Vec::new();
        for (name, shape) in dims.params() {
            if let Some(short) = name.strip_prefix("rnn.") {
                rnn.push(rnn_path.var(short, &shape, u));
            }
        }
        if device.is_cuda() && tch::Cuda::cudnn_is_available() {
            // cuDNN wants all GRU weights in one buffer; this re-seats the parameters as views
            // of one (like PyTorch's flatten_parameters), else every call copies them and warns.
            tch::no_grad(|| {
                let _ = Tensor::internal_cudnn_rnn_flatten_weight(
                    &rnn,
                    4,
                    dims.embed,
                    3, // CUDNN_GRU
                    dims.hidden,
                    0,
                    dims.layers,
                    true,
                    false,
                );
            });
        }
        let proj = &root / "proj";
        let proj_w = proj.var("weight", &[dims.vocab, dims.hidden], u);
        let proj_b = proj.var("bias", &[dims.vocab], u);
        CharGru {
            vs,
            dims,
            dropout,
            embed,
            rnn,
            proj_w,
            proj_b,
        }
    }

    /// A model holding `tensors` (all of [`Dims::params`], f32).
    pub fn from_host(device: Device, tensors: &[HostTensor], dropout: f64) -> Result<CharGru> {
        let dims = Dims::infer(tensors)?;
        let model = CharGru::new(device, dims, dropout);
        model.load(tensors)?;
        Ok(model)
    }

    /// The parameters in canonical order (shallow clones sharing storage and gradients).
    pub fn named_params(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![("embed.weight".to_owned(), self.embed.shallow_clone())];
        let names = self.dims.params();
        for (i, t) in self.rnn.iter().enumerate() {
            out.push((names[1 + i].0.clone(), t.shallow_clone()));
        }
        out.push(("proj.weight".to_owned(), self.proj_w.shallow_clone()));
        out.push(("proj.bias".to_owned(), self.proj_b.shallow_clone()));
        out
    }

    /// Copies the parameters to host memory.
    pub fn to_host(&self) -> Result<Vec<HostTensor>> {
        self.named_params()
            .iter()
            .map(|(n, t)| HostTensor::from_tch(n, t))
            .collect()
    }

    /// Overwrites the parameters with `tensors` (matched by name).
    pub fn load(&self, tensors: &[HostTensor]) -> Result<()> {
        for (name, mut t) in self.named_params() {
            let src = tensors
                .iter()
                .find(|h| h.name == name)
                .with_context(|| format!("missing tensor {name:?}"))?;
            src.copy_into(&mut t)?;
        }
        Ok(())
    }

    /// Logits `[B, T, V]` for `input` ids `[B, T]` and the final hidden state
    /// `[layers, B, H]`, from `h0` (zeros when `None`). `train` enables dropout.
    pub fn forward(&self, input: &Tensor, h0: Option<&Tensor>, train: bool) -> (Tensor, Tensor) {
        let batch = input.size()[0];
        let zeros;
        let h0 = match h0 {
            Some(h) => h,
            None => {
                zeros = Tensor::zeros(
                    [self.dims.layers, batch, self.dims.hidden],
                    (Kind::Float, self.vs.device()),
                );
                &zeros
            }
        };
        let x = Tensor::embedding(&self.embed, input, -1, false, false);
        let (out, h) = x.gru(
            h0,
            &self.rnn,
            true,
            self.dims.layers,
            self.dropout,
            train,
            false,
            true,
        );
        (out.linear(&self.proj_w, Some(&self.proj_b)), h)
    }

    /// Generates up to `max_chars` characters after `<BOS>` and `prompt`.
    ///
    /// `temperature == 0` is greedy decoding. Specials other than `<EOS>` are never produced;
    /// `<EOS>` ends the sample in record mode and is never produced in text mode.
    pub fn generate(
        &self,
        vocab: &Vocab,
        prompt: &str,
        max_chars: usize,
        temperature: f64,
        records: bool,
        rng: &mut Rng,
    ) -> Result<String> {
        let mut context = vec![i64::from(BOS)];
        for ch in prompt.chars() {
            match vocab.id_of(ch) {
                Some(id) => context.push(i64::from(id)),
                None => bail!("the prompt's character {ch:?} is not in the model's vocabulary"),
            }
        }
        let device = self.vs.device();
        tch::no_grad(|| {
            let mut out = String::new();
            let input = Tensor::from_slice(&context).view([1, -1]).to_device(device);
            let (mut logits, mut h) = self.forward(&input, None, false);
            for _ in 0..max_chars {
                let last: Vec<f32> = Vec::try_from(
                    logits
                        .select(1, -1)
                        .view([-1])
                        .to_kind(Kind::Float)
                        .to_device(Device::Cpu),
                )?;
                let id = pick(&last, temperature, records, rng);
                if id == EOS {
                    break;
                }
                out.extend(vocab.char_of(id));
                let input = Tensor::from_slice(&[i64::from(id)])
                    .view([1, 1])
                    .to_device(device);
                (logits, h) = self.forward(&input, Some(&h), false);
            }
            Ok(out)
        })
    }
}

/// Chooses the next id from logits: greedy at temperature 0, else softmax sampling.
fn pick(logits: &[f32], temperature: f64, records: bool, rng: &mut Rng) -> u32 {
    let allowed = |id: usize| id >= FIRST_CHAR_ID as usize || (records && id == EOS as usize);
    let candidates = logits.iter().enumerate().filter(|(i, _)| allowed(*i));
    if temperature <= 0.0 {
        let best = candidates.fold((FIRST_CHAR_ID as usize, f32::NEG_INFINITY), |b, (i, &l)| {
            if l > b.1 {
                (i, l)
            } else {
                b
            }
        });
        return u32::try_from(best.0).unwrap_or(FIRST_CHAR_ID);
    }
    let max = candidates
        .clone()
        .map(|(_, &l)| f64::from(l))
        .fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<(usize, f64)> = candidates
        .map(|(i, &l)| (i, ((f64::from(l) - max) / temperature).exp()))
        .collect();
    let total: f64 = weights.iter().map(|w| w.1).sum();
    let mut x = rng.unit_f64() * total;
    for &(i, w) in &weights {
        x -= w;
        if x < 0.0 {
            return u32::try_from(i).unwrap_or(FIRST_CHAR_ID);
        }
    }
    weights
        .last()
        .and_then(|w| u32::try_from(w.0).ok())
        .unwrap_or(FIRST_CHAR_ID)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_shapes_match_pytorch() {
        let d = Dims {
            vocab: 10,
            embed: 4,
            hidden: 6,
            layers: 2,
        };
        let names: Vec<String> = d.params().into_iter().map(|p| p.0).collect();
        assert_eq!(
            names,
            [
                "embed.weight",
                "rnn.weight_ih_l0",
                "rnn.weight_hh_l0",
                "rnn.bias_ih_l0",
                "rnn.bias_hh_l0",
                "rnn.weight_ih_l1",
                "rnn.weight_hh_l1",
                "rnn.bias_ih_l1",
                "rnn.bias_hh_l1",
                "proj.weight",
                "proj.bias"
            ]
        );
        let m = CharGru::new(Device::Cpu, d, 0.0);
        let vars = m.vs.variables();
        assert_eq!(vars.len(), names.len());
        for (name, shape) in d.params() {
            assert_eq!(vars[&name].size(), shape, "{name}");
        }
        let (logits, h) = m.forward(&Tensor::from_slice(&[1i64, 3, 4]).view([1, 3]), None, false);
        assert_eq!(logits.size(), [1, 3, 10]);
        assert_eq!(h.size(), [2, 1, 6]);
    }

    #[test]
    fn pick_respects_specials() {
        let mut rng = Rng::new(1);
        // EOS has the highest logit, but text mode never ends.
        assert_eq!(pick(&[9.0, 9.0, 9.0, 1.0, 2.0], 0.0, false, &mut rng), 4);
        assert_eq!(pick(&[9.0, 9.0, 9.0, 1.0, 2.0], 0.0, true, &mut rng), 2);
        for _ in 0..100 {
            let id = pick(&[50.0, 50.0, 0.0, 0.0, 0.0], 1.0, false, &mut rng);
            assert!(id >= 3);
        }
    }
}
