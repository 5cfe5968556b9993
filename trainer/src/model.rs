//! The model: embedding → GRU, LSTM or RNN layers → linear, or the n-gram MLP, with PyTorch's
//! parameter names, initialization and semantics. Which tensors a model has comes from the
//! model file's float table ([`mynah_format::layout::table`]), so the trainer, the file and
//! the float reference never disagree.

use crate::params::HostTensor;
use crate::qat::QatSpec;
use anyhow::{ensure, Context, Result};
use mynah_format::layout::TensorSpec;
use mynah_format::{tensor_name, Activation, Arch, Cell, Hyper, Specials, WeightsKind};
use tch::{nn, Device, Kind, Tensor};

/// One parameter: its PyTorch name and shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSpec {
    /// E.g. `rnn.weight_ih_l0`.
    pub name: String,
    /// Outermost dimension first.
    pub shape: Vec<i64>,
}

/// The float tensors of `hyper` in PyTorch's `state_dict` order (module by module, each
/// module's tensors layer by layer), derived from the format's float table.
pub fn param_specs(hyper: &Hyper) -> Vec<ParamSpec> {
    let specs = hyper.table().specs;
    let mut modules: Vec<&str> = Vec::new();
    for s in specs {
        if !modules.contains(&module(s)) {
            modules.push(module(s));
        }
    }
    let mut out = Vec::new();
    for m in modules {
        for k in 0..hyper.num_layers {
            for s in specs.iter().filter(|s| module(s) == m) {
                if s.layers.has(k, hyper.num_layers) {
                    out.push(ParamSpec {
                        name: tensor_name(s, k),
                        shape: hyper
                            .shape_of(s, k)
                            .dims()
                            .iter()
                            .map(|&d| i64::from(d))
                            .collect(),
                    });
                }
            }
        }
    }
    out
}

/// `embed`, `rnn`, `hidden` or `proj`: the PyTorch module a tensor belongs to.
fn module(spec: &TensorSpec) -> &'static str {
    spec.name.split('.').next().unwrap_or(spec.name)
}

/// Number of scalar parameters.
pub fn param_count(hyper: &Hyper) -> i64 {
    param_specs(hyper)
        .iter()
        .map(|p| p.shape.iter().product::<i64>())
        .sum()
}

/// The hyperparameters of the float model `tensors` hold (a checkpoint's or an exported
/// file's), given what tensors cannot tell; every tensor of the table must be there with the
/// right shape.
pub fn infer_hyper(
    arch: Arch,
    specials: Specials,
    records: bool,
    tensors: &[HostTensor],
) -> Result<Hyper> {
    let [vocab, embed] = matrix(find(tensors, "embed.weight")?)?;
    let [_, hidden] = matrix(find(tensors, "proj.weight")?)?;
    let probe = Hyper {
        vocab_size: u32::try_from(vocab)?,
        embed_dim: u32::try_from(embed)?,
        hidden_dim: u32::try_from(hidden)?,
        num_layers: 1,
        records,
        weights: WeightsKind::Float,
        arch,
        specials,
        factored: false,
    };
    // Layer k exists when the first per-layer tensor of the table has a layer-k tensor.
    let layers = match probe.table().specs.iter().find(|s| s.layers.per_layer()) {
        Some(s) => (0..)
            .take_while(|&k| tensors.iter().any(|t| t.name == tensor_name(s, k)))
            .count(),
        None => 1,
    };
    let hyper = Hyper {
        num_layers: u32::try_from(layers)?,
        ..probe
    };
    hyper
        .validate()
        .map_err(|e| anyhow::anyhow!("the model ({arch}, {layers} layers) is not valid: {e}"))?;
    for p in param_specs(&hyper) {
        let t = find(tensors, &p.name)?;
        let want: Vec<usize> = p.shape.iter().map(|&d| d as usize).collect();
        ensure!(
            t.shape == want,
            "tensor {} has shape {:?}, expected {want:?}",
            p.name,
            t.shape
        );
    }
    Ok(hyper)
}

fn find<'t>(tensors: &'t [HostTensor], name: &str) -> Result<&'t HostTensor> {
    tensors
        .iter()
        .find(|t| t.name == name)
        .with_context(|| format!("the model file has no tensor {name:?}"))
}

fn matrix(t: &HostTensor) -> Result<[usize; 2]> {
    match t.shape[..] {
        [r, c] => Ok([r, c]),
        _ => anyhow::bail!("{} must have rank 2, it has shape {:?}", t.name, t.shape),
    }
}

/// What a stream carries from one call of [`CharModel::forward`] to the next.
pub enum State {
    /// GRU and RNN: the hidden vectors `[layers, B, H]`.
    Hidden(Tensor),
    /// LSTM: hidden vectors and cell states, both `[layers, B, H]`.
    Lstm {
        /// Hidden vectors.
        h: Tensor,
        /// Cell states.
        c: Tensor,
    },
    /// N-gram: the last `context - 1` token ids `[B, context - 1]`, oldest first.
    Context(Tensor),
}

/// What sits between the embedding and the projection.
enum Body {
    /// `[w_ih, w_hh, b_ih, b_hh]` per layer, the order `Tensor::gru` and friends expect,
    /// and their names.
    Recurrent {
        cell: Cell,
        weights: Vec<Tensor>,
        names: Vec<String>,
    },
    /// The hidden layer over the concatenated context embeddings.
    Ngram {
        w: Tensor,
        b: Tensor,
        context: i64,
        activation: Activation,
        /// `<BOS>` pads the context at the start of a sequence.
        bos: i64,
    },
}

/// A character-level language model of any architecture on a libtorch device.
pub struct CharModel {
    /// Owns the parameters.
    pub vs: nn::VarStore,
    /// Sizes, architecture and specials.
    pub hyper: Hyper,
    dropout: f64,
    /// Dropout on the embedded inputs and before the projection (training only).
    extra_dropout: Dropouts,
    /// Fake quantization of the weights the export quantizes.
    qat: Option<QatSpec>,
    /// Matrices replaced by fixed codes times tunable scales ([`crate::tune`]).
    planned: Option<crate::tune::Planned>,
    /// In [`param_specs`] order.
    params: Vec<(String, Tensor)>,
    embed: Tensor,
    body: Body,
    proj_w: Tensor,
    proj_b: Tensor,
}

impl CharModel {
    /// A freshly initialized model, initialized like PyTorch's modules: `nn.Embedding`
    /// N(0, 1), `nn.GRU`/`nn.LSTM`/`nn.RNN` U(-1/√H, 1/√H), `nn.Linear` weight and bias
    /// U(-1/√fan_in, 1/√fan_in). `hyper` must be valid (e.g. from [`infer_hyper`]).
    pub fn new(device: Device, hyper: Hyper, dropout: f64) -> Result<CharModel> {
        let vs = nn::VarStore::new(device);
        let specs = param_specs(&hyper);
        let mut params = Vec::with_capacity(specs.len());
        // Created in state_dict order, so one seed gives the same initial weights every time.
        for p in &specs {
            let (module, var) = p.name.split_once('.').unwrap_or(("", &p.name));
            let t = (vs.root() / module).var(var, &p.shape, init_of(&hyper, &specs, p));
            params.push((p.name.clone(), t));
        }
        let get = |name: &str| -> Result<Tensor> {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.shallow_clone())
                .with_context(|| format!("the {} model has no tensor {name}", hyper.arch))
        };
        let body = match hyper.arch {
            Arch::Recurrent(cell) => {
                let rnn = params.iter().filter(|(n, _)| n.starts_with("rnn."));
                let weights: Vec<Tensor> = rnn.clone().map(|(_, t)| t.shallow_clone()).collect();
                let names = rnn.map(|(n, _)| n.clone()).collect();
                flatten_for_cudnn(device, &hyper, cell, &weights);
                Body::Recurrent {
                    cell,
                    weights,
                    names,
                }
            }
            Arch::Ngram {
                context,
                activation,
            } => Body::Ngram {
                w: get("hidden.weight")?,
                b: get("hidden.bias")?,
                context: i64::from(context),
                activation,
                bos: i64::from(
                    hyper
                        .specials
                        .bos()
                        .context("an n-gram model needs <BOS>")?,
                ),
            },
        };
        Ok(CharModel {
            embed: get("embed.weight")?,
            proj_w: get("proj.weight")?,
            proj_b: get("proj.bias")?,
            vs,
            hyper,
            dropout,
            extra_dropout: Dropouts::default(),
            qat: None,
            planned: None,
            params,
            body,
        })
    }

    /// The same model with dropout on the embedded inputs and before the projection.
    #[must_use]
    pub fn with_dropouts(mut self, dropouts: Dropouts) -> CharModel {
        self.extra_dropout = dropouts;
        self
    }

    /// The same model, its forward pass fake-quantized as `qat` says ([`crate::qat`]).
    #[must_use]
    pub fn with_qat(mut self, qat: Option<QatSpec>) -> CharModel {
        self.qat = qat;
        self
    }

    /// The same model with the matrices of `planned` as its codes times its scales.
    #[must_use]
    pub fn with_planned(mut self, planned: crate::tune::Planned) -> CharModel {
        self.planned = Some(planned);
        self
    }

    /// The planned matrices, if any.
    pub fn planned_ref(&self) -> Option<&crate::tune::Planned> {
        self.planned.as_ref()
    }

    /// Parameter `name` as the forward pass uses it: planned, or fake-quantized under QAT.
    fn effective(&self, name: &str, t: &Tensor) -> Tensor {
        if let Some(w) = self.planned.as_ref().and_then(|p| p.apply(name, t)) {
            return w;
        }
        match &self.qat {
            Some(q) => q.apply(name, t),
            None => t.shallow_clone(),
        }
    }

    /// The embedded inputs `[B, T, E]` (with their dropout in training).
    fn embedded(&self, ids: &Tensor, train: bool) -> Tensor {
        let embed = self.effective("embed.weight", &self.embed);
        let x = Tensor::embedding(&embed, ids, -1, false, false);
        dropout(x, self.extra_dropout.embed, train)
    }

    /// A model of `hyper` holding `tensors` (all of [`param_specs`], f32).
    pub fn from_host(
        device: Device,
        hyper: Hyper,
        tensors: &[HostTensor],
        dropout: f64,
    ) -> Result<CharModel> {
        let model = CharModel::new(device, hyper, dropout)?;
        model.load(tensors)?;
        Ok(model)
    }

    /// `vocab_size`, as libtorch counts.
    pub fn vocab_size(&self) -> i64 {
        i64::from(self.hyper.vocab_size)
    }

    /// The parameters in [`param_specs`] order (shallow clones sharing storage and gradients).
    pub fn named_params(&self) -> Vec<(String, Tensor)> {
        self.params
            .iter()
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect()
    }

    /// Copies the parameters to host memory.
    pub fn to_host(&self) -> Result<Vec<HostTensor>> {
        self.params
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

    /// Logits `[B, T, V]` for `input` ids `[B, T]` and the state after them, from `state`
    /// (the start of a sequence when `None`). `train` enables dropout between layers.
    pub fn forward(&self, input: &Tensor, state: Option<&State>, train: bool) -> (Tensor, State) {
        let (top, state) = match &self.body {
            Body::Recurrent {
                cell,
                weights,
                names,
            } => {
                let weights: Vec<Tensor> = names
                    .iter()
                    .zip(weights)
                    .map(|(n, w)| self.effective(n, w))
                    .collect();
                self.recurrent(*cell, &weights, input, state, train)
            }
            Body::Ngram {
                w,
                b,
                context,
                activation,
                bos,
            } => {
                let (windows, next) = ngram_windows(input, state, *context, *bos);
                let size = windows.size();
                let x = self
                    .embedded(&windows, train)
                    .reshape([size[0], size[1], -1]);
                let h = x.linear(w, Some(b));
                let h = match activation {
                    Activation::Relu => h.relu(),
                    Activation::Tanh => h.tanh(),
                };
                (h, State::Context(next))
            }
        };
        let top = dropout(top, self.extra_dropout.proj, train);
        let proj_w = self.effective("proj.weight", &self.proj_w);
        (top.linear(&proj_w, Some(&self.proj_b)), state)
    }

    /// The top layer's outputs `[B, T, H]` of a recurrent model, and its state.
    fn recurrent(
        &self,
        cell: Cell,
        weights: &[Tensor],
        input: &Tensor,
        state: Option<&State>,
        train: bool,
    ) -> (Tensor, State) {
        let layers = i64::from(self.hyper.num_layers);
        let zeros = || {
            Tensor::zeros(
                [layers, input.size()[0], i64::from(self.hyper.hidden_dim)],
                (Kind::Float, self.vs.device()),
            )
        };
        let x = self.embedded(input, train);
        let p = self.dropout;
        match (cell, state) {
            (Cell::Lstm, state) => {
                let (h0, c0) = match state {
                    Some(State::Lstm { h, c }) => (h.shallow_clone(), c.shallow_clone()),
                    // Anything else is the start of a sequence.
                    _ => (zeros(), zeros()),
                };
                let (out, h, c) = x.lstm(&[h0, c0], weights, true, layers, p, train, false, true);
                (out, State::Lstm { h, c })
            }
            (cell, state) => {
                let h0 = match state {
                    Some(State::Hidden(h)) => h.shallow_clone(),
                    _ => zeros(),
                };
                let (out, h) = if cell == Cell::Gru {
                    x.gru(&h0, weights, true, layers, p, train, false, true)
                } else {
                    x.rnn_tanh(&h0, weights, true, layers, p, train, false, true)
                };
                (out, State::Hidden(h))
            }
        }
    }
}

/// Dropout probabilities beyond the one between recurrent layers.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Dropouts {
    /// On the embedded inputs (`--embed-dropout`).
    pub embed: f64,
    /// On the top layer's outputs, before the projection (`--proj-dropout`).
    pub proj: f64,
}

/// `F.dropout(x, p, train)`; nothing at all (no random draw) when `p` is 0 or not training.
fn dropout(x: Tensor, p: f64, train: bool) -> Tensor {
    if train && p > 0.0 {
        x.dropout(p, true)
    } else {
        x
    }
}

/// PyTorch's initialization of parameter `p`.
fn init_of(hyper: &Hyper, specs: &[ParamSpec], p: &ParamSpec) -> nn::Init {
    let uniform = |fan_in: i64| {
        #[allow(clippy::cast_precision_loss)]
        let k = 1.0 / (fan_in.max(1) as f64).sqrt();
        nn::Init::Uniform { lo: -k, up: k }
    };
    let module = p.name.split('.').next().unwrap_or("");
    match module {
        "embed" => nn::Init::Randn {
            mean: 0.0,
            stdev: 1.0,
        },
        "rnn" => uniform(i64::from(hyper.hidden_dim)),
        // nn.Linear: weight and bias by the weight's fan-in (its columns).
        _ => {
            let weight = format!("{module}.weight");
            let fan_in = specs
                .iter()
                .find(|s| s.name == weight)
                .and_then(|s| s.shape.get(1).copied())
                .unwrap_or(1);
            uniform(fan_in)
        }
    }
}

/// cuDNN wants all recurrent weights in one buffer; this re-seats the parameters as views of
/// one (like PyTorch's flatten_parameters), else every call copies them and warns.
fn flatten_for_cudnn(device: Device, hyper: &Hyper, cell: Cell, weights: &[Tensor]) {
    if !(device.is_cuda() && tch::Cuda::cudnn_is_available()) {
        return;
    }
    // cuDNN's rnnMode.
    let mode = match cell {
        Cell::Rnn => 1,
        Cell::Lstm => 2,
        Cell::Gru => 3,
    };
    tch::no_grad(|| {
        let _ = Tensor::internal_cudnn_rnn_flatten_weight(
            weights,
            4,
            i64::from(hyper.embed_dim),
            mode,
            i64::from(hyper.hidden_dim),
            0,
            i64::from(hyper.num_layers),
            true,
            false,
        );
    });
}

/// Each position's context `[B, T, context]` (oldest first) for `input` `[B, T]`: the ids
/// before it in this call, after the carried ones (`context - 1` `<BOS>` at the start of a
/// sequence, as the runtime's ring starts), and the ids to carry into the next call.
fn ngram_windows(
    input: &Tensor,
    state: Option<&State>,
    context: i64,
    bos: i64,
) -> (Tensor, Tensor) {
    let carried = match state {
        Some(State::Context(ids)) => ids.shallow_clone(),
        _ => Tensor::full(
            [input.size()[0], context - 1],
            bos,
            (Kind::Int64, input.device()),
        ),
    };
    let all = Tensor::cat(&[carried, input.shallow_clone()], 1);
    let len = all.size()[1];
    let next = all.narrow(1, len - (context - 1), context - 1);
    (all.unfold(1, context, 1), next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mynah_format::Specials;

    pub fn hyper(arch: Arch, layers: u32) -> Hyper {
        Hyper {
            vocab_size: 10,
            embed_dim: 4,
            hidden_dim: 6,
            num_layers: layers,
            records: false,
            weights: WeightsKind::Float,
            arch,
            specials: Specials::DEFAULT,
            factored: false,
        }
    }

    #[test]
    fn names_and_shapes_follow_pytorch_for_every_arch() {
        for cell in Cell::ALL {
            let h = hyper(Arch::Recurrent(cell), 2);
            let g = i64::from(cell.gates()) * 6;
            let specs = param_specs(&h);
            let got: Vec<(String, Vec<i64>)> =
                specs.into_iter().map(|p| (p.name, p.shape)).collect();
            let want: Vec<(String, Vec<i64>)> = [
                ("embed.weight", vec![10, 4]),
                ("rnn.weight_ih_l0", vec![g, 4]),
                ("rnn.weight_hh_l0", vec![g, 6]),
                ("rnn.bias_ih_l0", vec![g]),
                ("rnn.bias_hh_l0", vec![g]),
                ("rnn.weight_ih_l1", vec![g, 6]),
                ("rnn.weight_hh_l1", vec![g, 6]),
                ("rnn.bias_ih_l1", vec![g]),
                ("rnn.bias_hh_l1", vec![g]),
                ("proj.weight", vec![10, 6]),
                ("proj.bias", vec![10]),
            ]
            .into_iter()
            .map(|(n, s)| (n.to_owned(), s))
            .collect();
            assert_eq!(got, want, "{cell}");
        }
        let ngram = Arch::Ngram {
            context: 3,
            activation: Activation::Tanh,
        };
        let names: Vec<(String, Vec<i64>)> = param_specs(&hyper(ngram, 1))
            .into_iter()
            .map(|p| (p.name, p.shape))
            .collect();
        assert_eq!(
            names,
            [
                ("embed.weight".to_owned(), vec![10, 4]),
                ("hidden.weight".to_owned(), vec![6, 12]),
                ("hidden.bias".to_owned(), vec![6]),
                ("proj.weight".to_owned(), vec![10, 6]),
                ("proj.bias".to_owned(), vec![10]),
            ]
        );
    }

    #[test]
    fn every_arch_runs_and_infers_back() {
        let archs = [
            (Arch::Recurrent(Cell::Gru), 2),
            (Arch::Recurrent(Cell::Lstm), 2),
            (Arch::Recurrent(Cell::Rnn), 1),
            (
                Arch::Ngram {
                    context: 3,
                    activation: Activation::Relu,
                },
                1,
            ),
        ];
        for (arch, layers) in archs {
            let h = hyper(arch, layers);
            let m = CharModel::new(Device::Cpu, h, 0.0).unwrap();
            let vars = m.vs.variables();
            assert_eq!(vars.len(), param_specs(&h).len(), "{arch}");
            let input = Tensor::from_slice(&[1i64, 3, 4, 5, 1, 3, 4, 5]).view([2, 4]);
            let (logits, _) = m.forward(&input, None, true);
            assert_eq!(logits.size(), [2, 4, 10], "{arch}");
            let host = m.to_host().unwrap();
            assert_eq!(
                infer_hyper(arch, Specials::DEFAULT, false, &host).unwrap(),
                h
            );
        }
        let gru = CharModel::new(Device::Cpu, hyper(Arch::GRU, 1), 0.0).unwrap();
        let mut host = gru.to_host().unwrap();
        host.retain(|t| t.name != "proj.bias");
        let e = infer_hyper(Arch::GRU, Specials::DEFAULT, false, &host).unwrap_err();
        assert!(e.to_string().contains("proj.bias"), "{e}");
    }

    #[test]
    fn ngram_contexts_start_with_bos_and_carry_across_calls() {
        let input = Tensor::from_slice(&[1i64, 5, 6, 7]).view([1, 4]);
        let (w, next) = ngram_windows(&input, None, 3, 1);
        let w: Vec<i64> = Vec::try_from(w.reshape([-1])).unwrap();
        assert_eq!(w, [1, 1, 1, 1, 1, 5, 1, 5, 6, 5, 6, 7]);
        let more = Tensor::from_slice(&[8i64]).view([1, 1]);
        let (w, _) = ngram_windows(&more, Some(&State::Context(next)), 3, 1);
        assert_eq!(Vec::<i64>::try_from(w.reshape([-1])).unwrap(), [6, 7, 8]);
        let (w, next) = ngram_windows(&input, None, 1, 1);
        assert_eq!(Vec::<i64>::try_from(w.reshape([-1])).unwrap(), [1, 5, 6, 7]);
        assert_eq!(next.size(), [1, 0]);
    }
}
