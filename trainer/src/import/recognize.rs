//! Recognizing the model in the file's tensors by their names and shapes: [embedding ->]
//! recurrent layers -> linear (or mynah's n-gram MLP), under mynah's names.

use crate::config::parse_named;
use crate::params::HostTensor;
use anyhow::{bail, ensure, Context, Result};
use mynah_format::{Activation, Arch, Cell};
use std::collections::{BTreeMap, HashMap};

/// Module names of embeddings (nn.Embedding).
const EMBED_NAMES: [&str; 3] = ["embed", "embedding", "encoder"];
/// Module names of the recurrent layers (nn.GRU, nn.LSTM, nn.RNN).
const RNN_NAMES: [&str; 3] = ["rnn", "gru", "lstm"];
/// Module names of the output layer (nn.Linear).
const PROJ_NAMES: [&str; 7] = ["proj", "fc", "output", "out", "decoder", "linear", "head"];

/// The tensors of a recognized model, still in the file's id order.
pub(super) struct Recognized {
    pub(super) arch: Arch,
    /// `[V, E]`; `None` for one-hot input.
    pub(super) embed: Option<HostTensor>,
    /// What sits between the embedding and the output layer, under mynah's names
    /// (`rnn.*` of every layer, or the n-gram's `hidden.*`; biases zero when the file has
    /// none).
    body: Vec<HostTensor>,
    proj_w: HostTensor,
    proj_b: HostTensor,
    /// Ids, specials included (rows of the output layer).
    pub(super) vocab: usize,
    /// The file's module names: the body's and the output layer's.
    modules: [String; 2],
}

/// The role of a tensor, from its name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Embed,
    Rnn {
        param: RnnParam,
        layer: usize,
    },
    /// The n-gram MLP's hidden layer (mynah's own exports).
    Hidden {
        bias: bool,
    },
    ProjWeight,
    ProjBias,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum RnnParam {
    WeightIh,
    WeightHh,
    BiasIh,
    BiasHh,
}

/// `name` without the wrappers' prefixes (`module.` of DataParallel, `_orig_mod.` of
/// torch.compile).
fn unwrapped(name: &str) -> &str {
    let mut n = name;
    while let Some(rest) = n
        .strip_prefix("module.")
        .or_else(|| n.strip_prefix("_orig_mod."))
    {
        n = rest;
    }
    n
}

/// The module a tensor belongs to (`rnn` of `module.rnn.weight_ih_l0`).
fn module_of(name: &str) -> &str {
    let n = unwrapped(name);
    n.split_once('.').map_or(n, |(m, _)| m)
}

/// What a tensor name stands for; an error for names of models mynah cannot run.
fn role(name: &str) -> Result<Option<Role>> {
    let Some((module, param)) = unwrapped(name).split_once('.') else {
        return Ok(None);
    };
    Ok(match (module, param) {
        (m, "weight") if EMBED_NAMES.contains(&m) => Some(Role::Embed),
        (m, "weight") if PROJ_NAMES.contains(&m) => Some(Role::ProjWeight),
        (m, "bias") if PROJ_NAMES.contains(&m) => Some(Role::ProjBias),
        ("hidden", "weight") => Some(Role::Hidden { bias: false }),
        ("hidden", "bias") => Some(Role::Hidden { bias: true }),
        (m, p) if RNN_NAMES.contains(&m) => {
            if p.contains("weight_hr_l") {
                bail!(
                    "tensor {name} is an LSTM's projection (nn.LSTM(proj_size=...)), which \
                     mynah's LSTM cell does not have: train it without proj_size"
                );
            }
            if p.ends_with("_reverse") {
                bail!(
                    "tensor {name} belongs to a bidirectional layer, which cannot generate text \
                     one character at a time; only unidirectional layers can be imported"
                );
            }
            let bad = || format!("unexpected recurrent tensor {name}");
            let (kind, layer) = p.split_once("_l").with_context(bad)?;
            let param = match kind {
                "weight_ih" => RnnParam::WeightIh,
                "weight_hh" => RnnParam::WeightHh,
                "bias_ih" => RnnParam::BiasIh,
                "bias_hh" => RnnParam::BiasHh,
                _ => bail!(bad()),
            };
            let layer = layer.parse().with_context(bad)?;
            Some(Role::Rnn { param, layer })
        }
        _ => None,
    })
}

/// Finds [embedding →] recurrent layers → linear (or mynah's n-gram MLP) in `tensors` and
/// checks every shape. `meta` is the safetensors metadata (an n-gram export's `context` and
/// `activation`; a mynah export's `arch`).
pub(super) fn recognize(
    tensors: &[HostTensor],
    meta: &HashMap<String, String>,
) -> Result<Recognized> {
    let mut by_role: BTreeMap<Role, &HostTensor> = BTreeMap::new();
    let mut unknown = Vec::new();
    for t in tensors {
        match role(&t.name)? {
            Some(r) => {
                if let Some(prev) = by_role.insert(r, t) {
                    bail!(
                        "tensors {} and {} have the same role (two embeddings or two output \
                         layers?); mynah imports [embedding ->] recurrent layers -> one linear \
                         layer",
                        prev.name,
                        t.name
                    );
                }
            }
            None => unknown.push(t.name.as_str()),
        }
    }
    ensure!(
        unknown.is_empty(),
        "tensors {} are not part of a model mynah imports: [embedding ->] GRU, LSTM or RNN \
         layers -> linear, with the tutorials' module names (embed, rnn/gru/lstm, \
         proj/fc/output); see `mynah-train import --help`",
        unknown.join(", ")
    );
    let proj_w = by_role.get(&Role::ProjWeight).copied().with_context(|| {
        format!(
            "no output layer: expected the weight of an nn.Linear named {}",
            PROJ_NAMES.join(", ")
        )
    })?;
    let [vocab, proj_in] = matrix(proj_w)?;
    ensure!(vocab > 0 && proj_in > 0, "{} is empty", proj_w.name);
    let proj_b = match by_role.get(&Role::ProjBias) {
        Some(b) => {
            ensure!(
                b.shape == [vocab],
                "{} has shape {:?}, expected [{vocab}]",
                b.name,
                b.shape
            );
            (*b).clone()
        }
        None => zeros("proj.bias", &[vocab]),
    };
    let embed = by_role.get(&Role::Embed).copied();
    let embed_dim = match embed {
        Some(e) => {
            let [rows, cols] = matrix(e)?;
            ensure!(
                rows == vocab,
                "{} has {rows} rows but {} has {vocab}: the input and output vocabularies differ",
                e.name,
                proj_w.name
            );
            ensure!(cols > 0, "{} has no columns", e.name);
            cols
        }
        None => {
            // The identity embedding that stands for one-hot input is V x V.
            let max = mynah_format::layout::EMBED_DIM_RANGE.1 as usize;
            ensure!(
                vocab <= max,
                "the model reads one-hot vectors of {vocab} ids, but mynah's embedding (the \
                 identity that stands for them) is at most {max} wide"
            );
            vocab
        }
    };
    let has = |f: fn(&Role) -> bool| by_role.keys().any(f);
    let recurrent = has(|r| matches!(r, Role::Rnn { .. }));
    let hidden = has(|r| matches!(r, Role::Hidden { .. }));
    let shapes = Shapes {
        vocab,
        embed_dim,
        one_hot: embed.is_none(),
        proj: proj_w,
    };
    let (arch, body, body_module) = match (recurrent, hidden) {
        (true, true) => bail!(
            "the file has recurrent layers and an n-gram hidden layer (hidden.weight); mynah \
             imports one or the other"
        ),
        (true, false) => recurrent_body(&by_role, &shapes, meta)?,
        (false, true) => ngram_body(&by_role, &shapes, meta)?,
        (false, false) => bail!(
            "no recurrent layer: expected rnn.weight_hh_l0 (an nn.GRU, nn.LSTM or nn.RNN named \
             rnn, gru or lstm); see `mynah-train import --help`"
        ),
    };
    for t in by_role.values() {
        if let Some(x) = t.data.iter().find(|x| !x.is_finite()) {
            bail!("tensor {} holds {x}; the model must be finite", t.name);
        }
    }
    Ok(Recognized {
        arch,
        embed: embed.cloned(),
        body,
        proj_w: proj_w.clone(),
        proj_b,
        vocab,
        modules: [body_module, module_of(&proj_w.name).to_owned()],
    })
}

/// What the body's shapes are checked against.
struct Shapes<'t> {
    /// Rows of the output layer.
    vocab: usize,
    /// Columns of the embedding (the vocabulary for one-hot input).
    embed_dim: usize,
    one_hot: bool,
    proj: &'t HostTensor,
}

/// The recurrent layers: the cell from the shape of `weight_hh_l0`, every layer's tensors
/// under mynah's names.
fn recurrent_body(
    by_role: &BTreeMap<Role, &HostTensor>,
    s: &Shapes,
    meta: &HashMap<String, String>,
) -> Result<(Arch, Vec<HostTensor>, String)> {
    let rnn = |param, layer| by_role.get(&Role::Rnn { param, layer }).copied();
    let hh0 = rnn(RnnParam::WeightHh, 0).context(
        "no first recurrent layer: expected rnn.weight_hh_l0 (an nn.GRU, nn.LSTM or nn.RNN \
         named rnn, gru or lstm)",
    )?;
    let module = module_of(&hh0.name).to_owned();
    let [rows, hidden] = matrix(hh0)?;
    ensure!(hidden > 0, "{} has no columns", hh0.name);
    let cell = match (rows % hidden, rows / hidden) {
        (0, 3) => Cell::Gru,
        (0, 4) => Cell::Lstm,
        (0, 1) => Cell::Rnn,
        _ => bail!(
            "{} has shape [{rows}, {hidden}]; recurrent weights are [G x hidden, hidden] with \
             G = 3 (nn.GRU), 4 (nn.LSTM) or 1 (nn.RNN)",
            hh0.name
        ),
    };
    // mynah's exports name their architecture; other files' `arch` may mean anything.
    let named = |n: &str| Cell::from_name(n).is_some() || n == "ngram";
    if let Some(name) = meta.get("arch").filter(|n| named(n)) {
        ensure!(
            name == cell.name(),
            "the metadata says `arch` {name:?}, but the tensors are those of a {cell}"
        );
    }
    let layer_count = (0..)
        .take_while(|&l| rnn(RnnParam::WeightHh, l).is_some())
        .count();
    for role in by_role.keys() {
        if let Role::Rnn { layer, .. } = role {
            ensure!(
                *layer < layer_count,
                "recurrent layer {layer} has tensors but {module}.weight_hh_l{layer_count} is \
                 missing"
            );
        }
    }
    ensure!(
        (1..=4).contains(&layer_count),
        "the model has {layer_count} recurrent layers; mynah runs 1 to 4"
    );
    let [_, proj_in] = matrix(s.proj)?;
    ensure!(
        proj_in == hidden,
        "{} has shape [{}, {proj_in}]; it must read the recurrent layers' {hidden} outputs",
        s.proj.name,
        s.vocab
    );
    let gates = cell.gates() as usize * hidden;
    let mut body = Vec::with_capacity(4 * layer_count);
    for l in 0..layer_count {
        let input = if l == 0 { s.embed_dim } else { hidden };
        let get = |param, shape: &[usize], canonical: &str| -> Result<HostTensor> {
            match rnn(param, l) {
                Some(t) => {
                    if t.shape != shape {
                        if l == 0 && param == RnnParam::WeightIh && s.one_hot {
                            bail!(
                                "{} has shape {:?}, but the model has no embedding, so the \
                                 first layer must read one-hot vectors of the {} ids of {} \
                                 ([{gates}, {}])",
                                t.name,
                                t.shape,
                                s.vocab,
                                s.proj.name,
                                s.vocab
                            );
                        }
                        bail!("{} has shape {:?}, expected {shape:?}", t.name, t.shape);
                    }
                    Ok(HostTensor {
                        name: canonical.to_owned(),
                        ..t.clone()
                    })
                }
                // bias=False: zeros compute the same.
                None if matches!(param, RnnParam::BiasIh | RnnParam::BiasHh) => {
                    Ok(zeros(canonical, shape))
                }
                None => bail!("recurrent layer {l} has no {canonical}"),
            }
        };
        body.push(get(
            RnnParam::WeightIh,
            &[gates, input],
            &format!("rnn.weight_ih_l{l}"),
        )?);
        body.push(get(
            RnnParam::WeightHh,
            &[gates, hidden],
            &format!("rnn.weight_hh_l{l}"),
        )?);
        body.push(get(
            RnnParam::BiasIh,
            &[gates],
            &format!("rnn.bias_ih_l{l}"),
        )?);
        body.push(get(
            RnnParam::BiasHh,
            &[gates],
            &format!("rnn.bias_hh_l{l}"),
        )?);
    }
    Ok((Arch::Recurrent(cell), body, module))
}

/// mynah's n-gram MLP (`export --safetensors` of `--arch ngram`): its metadata gives the
/// context and the activation.
fn ngram_body(
    by_role: &BTreeMap<Role, &HostTensor>,
    s: &Shapes,
    meta: &HashMap<String, String>,
) -> Result<(Arch, Vec<HostTensor>, String)> {
    let w = by_role
        .get(&Role::Hidden { bias: false })
        .copied()
        .context("an n-gram hidden layer needs hidden.weight")?;
    let from_meta = |key: &str| {
        meta.get(key).with_context(|| {
            format!(
                "{} is the hidden layer of an n-gram MLP, and only mynah's own n-gram exports \
                 import (their metadata gives `context` and `activation`; this file has no \
                 `{key}`)",
                w.name
            )
        })
    };
    ensure!(
        meta.get("arch").map(String::as_str) == Some("ngram"),
        "{} is the hidden layer of an n-gram MLP, but the metadata's `arch` is not \"ngram\"; \
         only mynah's own n-gram exports import",
        w.name
    );
    let context: u32 = from_meta("context")?
        .parse()
        .context("metadata key `context` is not a number")?;
    let activation: Activation =
        parse_named(from_meta("activation")?).context("metadata key `activation`")?;
    ensure!(
        !s.one_hot,
        "an n-gram MLP needs its embedding (embed.weight)"
    );
    let [hidden, cols] = matrix(w)?;
    ensure!(
        cols == context as usize * s.embed_dim,
        "{} has shape [{hidden}, {cols}]; with context {context} and embed {} it must read \
         {} inputs",
        w.name,
        s.embed_dim,
        context as usize * s.embed_dim
    );
    let [_, proj_in] = matrix(s.proj)?;
    ensure!(
        proj_in == hidden,
        "{} reads {proj_in} inputs; the hidden layer has {hidden}",
        s.proj.name
    );
    let b = match by_role.get(&Role::Hidden { bias: true }) {
        Some(b) => {
            ensure!(
                b.shape == [hidden],
                "{} has shape {:?}, expected [{hidden}]",
                b.name,
                b.shape
            );
            HostTensor {
                name: "hidden.bias".into(),
                ..(*b).clone()
            }
        }
        None => zeros("hidden.bias", &[hidden]),
    };
    let w = HostTensor {
        name: "hidden.weight".into(),
        ..w.clone()
    };
    let arch = Arch::Ngram {
        context,
        activation,
    };
    Ok((arch, vec![w, b], "hidden".into()))
}

impl Recognized {
    /// How the summary names the model, e.g. `LSTM (one-hot -> lstm -> output)`.
    pub(super) fn summary(&self) -> String {
        let kind = match self.arch {
            Arch::Recurrent(Cell::Gru) => "GRU".to_owned(),
            Arch::Recurrent(Cell::Lstm) => "LSTM".to_owned(),
            Arch::Recurrent(Cell::Rnn) => "RNN (tanh)".to_owned(),
            ngram => format!("{ngram}"),
        };
        let input = self
            .embed
            .as_ref()
            .map_or("one-hot", |e| module_of(&e.name));
        format!(
            "{kind} ({input} -> {} -> {})",
            self.modules[0], self.modules[1]
        )
    }

    /// The parameters under mynah's names, with rows in the new id order: new id `j` is the
    /// file's id `perm[j]`.
    pub(super) fn into_params(self, perm: &[usize]) -> Result<Vec<HostTensor>> {
        let v = self.vocab;
        let embed = match self.embed {
            Some(e) => e,
            None => {
                let mut data = vec![0.0; v * v];
                for i in 0..v {
                    data[i * v + i] = 1.0;
                }
                HostTensor {
                    name: String::new(),
                    shape: vec![v, v],
                    data,
                }
            }
        };
        let mut out = vec![permute_rows(&embed, "embed.weight", perm)?];
        out.extend(self.body);
        out.push(permute_rows(&self.proj_w, "proj.weight", perm)?);
        out.push(permute_rows(&self.proj_b, "proj.bias", perm)?);
        Ok(out)
    }
}

/// `[rows, cols]` of a rank-2 tensor.
fn matrix(t: &HostTensor) -> Result<[usize; 2]> {
    match t.shape[..] {
        [r, c] => Ok([r, c]),
        _ => bail!("{} has shape {:?}; expected a matrix", t.name, t.shape),
    }
}

fn zeros(name: &str, shape: &[usize]) -> HostTensor {
    HostTensor {
        name: name.to_owned(),
        shape: shape.to_vec(),
        data: vec![0.0; shape.iter().product()],
    }
}

/// Row `j` of the result is row `perm[j]` of `t` (a vector counts as a column).
fn permute_rows(t: &HostTensor, name: &str, perm: &[usize]) -> Result<HostTensor> {
    let rows = t.shape.first().copied().unwrap_or(0);
    ensure!(
        rows == perm.len(),
        "{} has {rows} rows, the vocabulary has {} ids",
        t.name,
        perm.len()
    );
    let width = t.data.len() / rows.max(1);
    let mut data = Vec::with_capacity(t.data.len());
    for &p in perm {
        data.extend_from_slice(&t.data[p * width..(p + 1) * width]);
    }
    Ok(HostTensor {
        name: name.to_owned(),
        shape: t.shape.clone(),
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::infer_hyper;
    use mynah_text::{Reordered, Vocab};

    fn t(name: &str, shape: &[usize]) -> HostTensor {
        let n: usize = shape.iter().product();
        #[allow(clippy::cast_precision_loss)]
        HostTensor {
            name: name.into(),
            shape: shape.to_vec(),
            data: (0..n).map(|i| i as f32 * 0.01).collect(),
        }
    }

    fn layer(prefix: &str, l: usize, gates: usize, input: usize, h: usize) -> Vec<HostTensor> {
        vec![
            t(&format!("{prefix}.weight_ih_l{l}"), &[gates * h, input]),
            t(&format!("{prefix}.weight_hh_l{l}"), &[gates * h, h]),
            t(&format!("{prefix}.bias_ih_l{l}"), &[gates * h]),
            t(&format!("{prefix}.bias_hh_l{l}"), &[gates * h]),
        ]
    }

    fn none() -> HashMap<String, String> {
        HashMap::new()
    }

    #[test]
    fn text_generator_and_one_hot_are_recognized() {
        let mut m = vec![t("embed.weight", &[6, 4])];
        m.extend(layer("rnn", 0, 3, 4, 5));
        m.extend([t("proj.weight", &[6, 5]), t("proj.bias", &[6])]);
        let r = recognize(&m, &none()).unwrap();
        assert!(r.embed.is_some());
        assert_eq!((r.arch, r.vocab), (Arch::GRU, 6));
        assert_eq!(r.summary(), "GRU (embed -> rnn -> proj)");

        let mut m: Vec<HostTensor> = layer("module.rnn", 0, 3, 6, 5);
        m.push(t("fc.weight", &[6, 5]));
        let r = recognize(&m, &none()).unwrap();
        assert!(r.embed.is_none());
        assert_eq!(r.proj_b.data, vec![0.0; 6]);
        let p = r.into_params(&[0, 1, 2, 3, 4, 5]).unwrap();
        assert_eq!(p[0].shape, [6, 6]);
        assert_eq!(&p[0].data[..8], &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        let h = infer_hyper(Arch::GRU, mynah_format::Specials::DEFAULT, false, &p).unwrap();
        assert_eq!(h.embed_dim, 6);
    }

    #[test]
    fn every_cell_is_told_by_its_shapes() {
        // The 20 Newsgroups lstm_char_predict: one-hot, 2-layer `lstm`, `output`, no biases
        // on the second layer.
        let mut m: Vec<HostTensor> = layer("lstm", 0, 4, 7, 3);
        m.extend(layer("lstm", 1, 4, 3, 3).into_iter().take(2));
        m.extend([t("output.weight", &[7, 3]), t("output.bias", &[7])]);
        let r = recognize(&m, &none()).unwrap();
        assert_eq!(r.arch, Arch::Recurrent(Cell::Lstm));
        assert_eq!(r.summary(), "LSTM (one-hot -> lstm -> output)");
        let p = r.into_params(&(0..7).collect::<Vec<_>>()).unwrap();
        let h = infer_hyper(
            Arch::Recurrent(Cell::Lstm),
            mynah_format::Specials::NONE,
            false,
            &p,
        )
        .unwrap();
        assert_eq!((h.num_layers, h.hidden_dim, h.embed_dim), (2, 3, 7));
        let b = p.iter().find(|t| t.name == "rnn.bias_hh_l1").unwrap();
        assert_eq!(b.data, vec![0.0; 12]);

        // The ToyRNN: one-hot nn.RNN, `fc`.
        let mut m: Vec<HostTensor> = layer("rnn", 0, 1, 4, 8);
        m.extend([t("fc.weight", &[4, 8]), t("fc.bias", &[4])]);
        let r = recognize(&m, &none()).unwrap();
        assert_eq!(r.summary(), "RNN (tanh) (one-hot -> rnn -> fc)");

        // A mynah export says what it is; a contradiction is refused.
        let arch = HashMap::from([("arch".to_owned(), "lstm".to_owned())]);
        let e = recognize(&m, &arch).err().unwrap().to_string();
        assert!(e.contains("\"lstm\"") && e.contains("rnn"), "{e}");
    }

    #[test]
    fn what_cannot_run_is_refused() {
        let mut odd: Vec<HostTensor> = layer("rnn", 0, 2, 6, 5);
        odd.push(t("fc.weight", &[6, 5]));
        let e = recognize(&odd, &none()).err().unwrap().to_string();
        assert!(
            e.contains("G = 3 (nn.GRU), 4 (nn.LSTM) or 1 (nn.RNN)"),
            "{e}"
        );
        let e = recognize(&[t("rnn.weight_ih_l0_reverse", &[15, 6])], &none())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("bidirectional"), "{e}");
        let e = recognize(&[t("lstm.weight_hr_l0", &[4, 8])], &none())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("proj_size"), "{e}");
        let mut extra: Vec<HostTensor> = layer("rnn", 0, 3, 6, 5);
        extra.extend([t("fc.weight", &[6, 5]), t("norm.weight", &[5])]);
        let e = recognize(&extra, &none()).err().unwrap().to_string();
        assert!(e.contains("norm.weight"), "{e}");
        let mut two: Vec<HostTensor> = layer("rnn", 0, 3, 6, 5);
        two.extend([t("fc.weight", &[6, 5]), t("output.weight", &[6, 5])]);
        let e = recognize(&two, &none()).err().unwrap().to_string();
        assert!(e.contains("same role"), "{e}");
        let mut five: Vec<HostTensor> = (0..5)
            .flat_map(|l| layer("gru", l, 3, if l == 0 { 6 } else { 5 }, 5))
            .collect();
        five.push(t("fc.weight", &[6, 5]));
        let e = recognize(&five, &none()).err().unwrap().to_string();
        assert!(e.contains("5 recurrent layers; mynah runs 1 to 4"), "{e}");
        let mut one_hot: Vec<HostTensor> = layer("rnn", 0, 3, 9, 5);
        one_hot.push(t("fc.weight", &[6, 5]));
        let e = recognize(&one_hot, &none()).err().unwrap().to_string();
        assert!(e.contains("one-hot vectors of the 6 ids"), "{e}");
        let ngram = vec![
            t("embed.weight", &[6, 2]),
            t("hidden.weight", &[5, 6]),
            t("proj.weight", &[6, 5]),
        ];
        let e = recognize(&ngram, &none()).err().unwrap().to_string();
        assert!(e.contains("only mynah's own n-gram exports"), "{e}");
        let meta = HashMap::from([
            ("arch".to_owned(), "ngram".to_owned()),
            ("context".to_owned(), "3".to_owned()),
            ("activation".to_owned(), "tanh".to_owned()),
        ]);
        let r = recognize(&ngram, &meta).unwrap();
        assert_eq!(
            r.arch,
            Arch::Ngram {
                context: 3,
                activation: Activation::Tanh
            }
        );
    }

    #[test]
    fn rows_follow_their_ids() {
        let Reordered { vocab, perm } = Vocab::from_tokens(&["b", "a", " ", "<BOS>"]).unwrap();
        assert_eq!(vocab.tokens(), ["<BOS>", " ", "a", "b"]);
        assert_eq!(perm, [3, 2, 1, 0]);
        let col = HostTensor {
            name: "x".into(),
            shape: vec![4, 1],
            data: vec![0.0, 10.0, 20.0, 30.0],
        };
        let p = permute_rows(&col, "y", &perm).unwrap();
        assert_eq!(p.data, [30.0, 20.0, 10.0, 0.0]);
        assert!(permute_rows(&col, "y", &[0, 1]).is_err());
    }
}
