//! The codes of every matrix a file stores, chosen before it is written: rounded to nearest
//! or error-compensating ([`super::gptq`], which needs the calibration inputs' second
//! moments), and given to the writer as they are or after the trainer tuned their scales.

use super::gptq::{Compensator, SecondMoment};
use super::{QuantizeError, QuantizeOptions, RoundedRows, Rounding};
use crate::reference::{softmax, Body, FloatModel, Matrix, Site};

/// A step adds to projection row `i`'s moment only where `p_i (1 − p_i)` reaches this: the
/// rows of unlikely characters (most rows at most steps) would add almost nothing at the full
/// cost of an `H × H` outer product. Every step counts (1 in 8 measured +0.004 nats/char).
const PROJ_MIN_WEIGHT: f64 = 1e-3;

/// Codes and scales per float tensor name (`rnn.weight_hh_l0`, `proj.weight`, …).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WeightPlan {
    matrices: Vec<(String, RoundedRows)>,
}

impl WeightPlan {
    /// The codes and scales of `name`, if planned.
    pub fn get(&self, name: &str) -> Option<&RoundedRows> {
        self.matrices
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r)
    }

    /// Mutable access to `name`'s codes and scales (the trainer tunes the scales).
    pub fn get_mut(&mut self, name: &str) -> Option<&mut RoundedRows> {
        self.matrices
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r)
    }

    /// The planned tensor names, in the order they were planned.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.matrices.iter().map(|(n, _)| n.as_str())
    }

    fn insert(&mut self, name: String, rows: RoundedRows) {
        self.matrices.push((name, rows));
    }
}

/// The second moments of the recurrent matrices' inputs on the calibration streams.
struct LayerMoments {
    /// Per layer: `h_prev` (for `W_hh`) and the layer's input (for `W_ih`, k ≥ 1).
    h: Vec<SecondMoment>,
    x: Vec<SecondMoment>,
    /// How often each token was fed.
    tokens: Vec<f64>,
}

fn check_token(tok: u32, v: usize) -> Result<(), QuantizeError> {
    if (tok as usize) < v {
        Ok(())
    } else {
        Err(QuantizeError::CalibToken {
            token: tok,
            vocab: v,
        })
    }
}

fn layer_moments(m: &FloatModel, calib: &[Vec<u32>]) -> Result<LayerMoments, QuantizeError> {
    let (layers, hidden, v) = (m.hyper.num_layers as usize, m.hidden(), m.vocab_size());
    let mut mo = LayerMoments {
        h: (0..layers).map(|_| SecondMoment::new(hidden)).collect(),
        x: (0..layers).map(|_| SecondMoment::new(hidden)).collect(),
        tokens: vec![0.0; v],
    };
    let mut logits = vec![0f32; v];
    for seq in calib {
        let mut state = m.zero_state();
        for &tok in seq {
            check_token(tok, v)?;
            m.step_observed(&mut state, tok, &mut logits, &mut |site, x, h| {
                if let Site::Layer(k) = site {
                    mo.h[k].add(h, 1.0);
                    if k > 0 {
                        mo.x[k].add(x, 1.0);
                    }
                }
            })?;
            mo.tokens[tok as usize] += 1.0;
        }
    }
    Ok(mo)
}

/// Per projection row `i`: the top state weighted by `p_i (1 − p_i)`, the curvature of the
/// loss in logit `i`, so that rows of likely characters count more. The float model's own
/// states: those of the model with its recurrent matrices already rounded measured worse on
/// the shipped model (1.5109 against 1.5075 nats/char).
fn proj_moments(m: &FloatModel, calib: &[Vec<u32>]) -> Result<Vec<SecondMoment>, QuantizeError> {
    let v = m.vocab_size();
    let mut proj: Vec<SecondMoment> = (0..v).map(|_| SecondMoment::new(m.proj_w.cols)).collect();
    let mut logits = vec![0f32; v];
    let mut top = Vec::new();
    for seq in calib {
        let mut state = m.zero_state();
        for &tok in seq {
            check_token(tok, v)?;
            m.step_observed(&mut state, tok, &mut logits, &mut |site, x, _| {
                if site == Site::Proj {
                    top.clear();
                    top.extend_from_slice(x);
                }
            })?;
            let p = softmax(&logits.iter().map(|&l| f64::from(l)).collect::<Vec<_>>());
            for (row, &pi) in proj.iter_mut().zip(&p) {
                let weight = pi * (1.0 - pi);
                if weight >= PROJ_MIN_WEIGHT {
                    row.add(&top, weight);
                }
            }
        }
    }
    Ok(proj)
}

/// Compensated codes of `w` for the moments `h` (one for every row, or one per row).
fn compensated(
    w: &Matrix,
    opts: &QuantizeOptions,
    h: &[&SecondMoment],
) -> Result<RoundedRows, QuantizeError> {
    let shared = match h {
        [one] => Some(Compensator::new(&one.matrix())),
        _ => None,
    };
    Ok(RoundedRows::with(w, opts.dtype, |i, row, s, levels| {
        let own;
        let comp = match &shared {
            Some(c) => c.as_ref(),
            None => {
                own = Compensator::new(&h[i].matrix());
                own.as_ref()
            }
        };
        match comp {
            Some(c) => c.round_row(row, s, levels),
            // Moments that cannot be factored (non-finite inputs): nearest codes.
            None => super::dense::nearest_codes(row, s, levels),
        }
    }))
}

/// Codes and scales for every matrix a file of `opts` stores as integers: rounded as
/// `opts.rounding` says ([`Rounding::Compensated`] rounds to nearest without calibration
/// streams). The input table and the n-gram's hidden layer are not matrices of the file.
pub fn plan_weights(
    m: &FloatModel,
    calib: &[Vec<u32>],
    opts: &QuantizeOptions,
) -> Result<WeightPlan, QuantizeError> {
    let compensate = opts.rounding == Rounding::Compensated && !calib.is_empty();
    let round = |name: &str, w: &Matrix, h: Vec<&SecondMoment>| {
        super::check_finite(name, &w.data)?;
        if compensate {
            compensated(w, opts, &h)
        } else {
            Ok(RoundedRows::nearest(w, opts.dtype))
        }
    };
    let mut plan = WeightPlan::default();
    if let Body::Recurrent(layers) = &m.body {
        let mo = if compensate {
            Some(layer_moments(m, calib)?)
        } else {
            None
        };
        for (k, layer) in layers.iter().enumerate() {
            let (hh, ih) = (format!("rnn.weight_hh_l{k}"), format!("rnn.weight_ih_l{k}"));
            let hk = mo.as_ref().map(|mo| &mo.h[k]).into_iter().collect();
            let rows = round(&hh, &layer.w_hh, hk)?;
            plan.insert(hh, rows);
            if k > 0 {
                let xk = mo.as_ref().map(|mo| &mo.x[k]).into_iter().collect();
                let rows = round(&ih, &layer.w_ih, xk)?;
                plan.insert(ih, rows);
            } else if opts.factored {
                let seen = mo
                    .as_ref()
                    .map(|mo| embedding_moment(m, &mo.tokens))
                    .transpose()?;
                let rows = round(&ih, &layer.w_ih, seen.iter().collect())?;
                plan.insert(ih, rows);
            }
        }
    }
    let proj = if compensate {
        proj_moments(m, calib)?
    } else {
        Vec::new()
    };
    plan.insert(
        "proj.weight".into(),
        round("proj.weight", &m.proj_w, proj.iter().collect())?,
    );
    Ok(plan)
}

/// The second moment of the rounded embedding rows a factored layer 0 sees, each token
/// weighted by how often it was fed.
fn embedding_moment(m: &FloatModel, tokens: &[f64]) -> Result<SecondMoment, QuantizeError> {
    let emb = super::quantize_embedding(mynah_runtime::names::EMBED, &m.embed)?;
    let e = m.embed.cols;
    let mut mo = SecondMoment::new(e);
    for (t, &n) in tokens.iter().enumerate() {
        let row: Vec<f64> = emb.q[t * e..(t + 1) * e]
            .iter()
            .map(|&q| emb.value(q))
            .collect();
        if n > 0.0 {
            mo.add_f64(&row, n);
        }
    }
    Ok(mo)
}
