//! The size budget (`train --budget-bytes N --dtype int8|int4 [--factored auto|on|off]`):
//! the shape with the most parameters whose exported file fits N bytes.
//!
//! The candidates: 1..=4 layers (the n-gram has 1), hidden sizes in steps of 8 up to 512 (the
//! integer runtime's widest), and for a factored input layer embedding widths 8..=64 (a token
//! table's size does not depend on the embedding, so a table model keeps `--embed`).
//! `--layers`, `--hidden` and `--embed` given with a budget fix that dimension. The size of
//! each candidate is `mynah_format::file_size` of its integer file — the same tensor table the
//! exporter writes, to the byte. Among the shapes that fit, the most parameters of the float
//! model wins; ties go to fewer layers, then the narrower embedding, then the token table
//! (faster on a device).

use crate::config::{Overrides, TrainConfig};
use crate::levers::{Budget, Factored};
use crate::model::param_count;
use crate::qat::QuantKind;
use anyhow::{bail, Result};
use mynah_format::{file_size, Arch, Hyper, WeightsKind};
use mynah_text::Vocab;

/// Hidden sizes are multiples of this.
pub const HIDDEN_STEP: u32 = 8;
/// The widest hidden size the integer runtime accumulates exactly.
pub const MAX_HIDDEN: u32 = 512;
/// Embedding widths tried for a factored input layer.
pub const EMBEDS: [u32; 6] = [8, 16, 24, 32, 48, 64];

/// What the budget is for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Request {
    /// At most this many bytes.
    pub bytes: u64,
    /// int8 or int4 weights.
    pub dtype: QuantKind,
    /// Token table, factored input layer, or whichever fits more.
    pub input: Factored,
    /// The float model's fixed part: vocabulary, architecture, specials, records (its sizes
    /// are ignored).
    pub base: Hyper,
    /// UTF-8 bytes of the vocabulary's characters (the file stores them).
    pub vocab_bytes: usize,
    /// `--layers` given with the budget.
    pub layers: Option<u32>,
    /// `--hidden` given with the budget.
    pub hidden: Option<u32>,
    /// `--embed` given with the budget.
    pub embed: Option<u32>,
    /// The embedding of a table model when `--embed` is not given.
    pub table_embed: u32,
}

/// The chosen shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    /// The float model (weights `Float`) to train.
    pub hyper: Hyper,
    /// Whether the export is factored.
    pub factored: bool,
    /// The exported file's exact size.
    pub file_bytes: usize,
    /// Parameters of the float model.
    pub params: i64,
}

/// The integer file of the float model `float`, as `export --dtype` writes it; `None` where
/// the model file cannot express it.
pub fn export_hyper(float: Hyper, dtype: QuantKind, factored: bool) -> Option<Hyper> {
    let weights = dtype.dtype().weights_kind();
    // The n-gram's input is always its table.
    let factored_ok = matches!(float.arch, Arch::Recurrent(_));
    (factored_ok || !factored).then_some(Hyper {
        weights,
        factored,
        ..float
    })
}

/// The exported file's size for the float model `float`, if the format can express it.
pub fn exported_size(
    float: Hyper,
    dtype: QuantKind,
    factored: bool,
    vocab_bytes: usize,
) -> Option<usize> {
    let hyper = export_hyper(float, dtype, factored)?;
    file_size(&hyper, vocab_bytes).ok()
}

/// Every candidate shape of `r`: (float model, factored).
pub fn candidates(r: &Request) -> Vec<(Hyper, bool)> {
    let recurrent = matches!(r.base.arch, Arch::Recurrent(_));
    let layers: Vec<u32> = match (r.layers, recurrent) {
        (Some(l), _) => vec![l],
        (None, true) => (1..=4).collect(),
        (None, false) => vec![1],
    };
    let hidden: Vec<u32> = match r.hidden {
        Some(h) => vec![h],
        None => (1..=MAX_HIDDEN / HIDDEN_STEP)
            .map(|k| k * HIDDEN_STEP)
            .collect(),
    };
    let inputs: &[bool] = match (r.input, recurrent) {
        (_, false) | (Factored::Off, _) => &[false],
        (Factored::On, true) => &[true],
        (Factored::Auto, true) => &[false, true],
    };
    let mut out = Vec::new();
    for &factored in inputs {
        let embeds: Vec<u32> = match (r.embed, factored) {
            (Some(e), _) => vec![e],
            (None, true) => EMBEDS.to_vec(),
            (None, false) => vec![r.table_embed],
        };
        for &num_layers in &layers {
            for &embed_dim in &embeds {
                for &hidden_dim in &hidden {
                    let hyper = Hyper {
                        num_layers,
                        embed_dim,
                        hidden_dim,
                        weights: WeightsKind::Float,
                        ..r.base
                    };
                    out.push((hyper, factored));
                }
            }
        }
    }
    out
}

/// The shape with the most parameters whose file fits the budget.
pub fn choose(r: &Request) -> Result<Choice> {
    if let Some(h) = r.hidden.filter(|&h| h > MAX_HIDDEN) {
        bail!("--hidden {h} is too wide for an integer file: at most {MAX_HIDDEN}");
    }
    let all = candidates(r);
    let mut best: Option<Choice> = None;
    let mut smallest: Option<(usize, Hyper, bool)> = None;
    let mut unsupported = None;
    for &(hyper, factored) in &all {
        let Some(size) = exported_size(hyper, r.dtype, factored, r.vocab_bytes) else {
            unsupported = Some(factored);
            continue;
        };
        if smallest.is_none_or(|s| size < s.0) {
            smallest = Some((size, hyper, factored));
        }
        if size as u64 > r.bytes {
            continue;
        }
        let c = Choice {
            hyper,
            factored,
            file_bytes: size,
            params: param_count(&hyper),
        };
        if best.is_none_or(|b| better(&c, &b)) {
            best = Some(c);
        }
    }
    match (best, smallest, unsupported) {
        (Some(c), _, _) => Ok(c),
        (None, Some((size, h, f)), _) => bail!(
            "no model fits --budget-bytes {}: the smallest candidate ({}) is {size} bytes as \
             {}",
            r.bytes,
            describe(&h, f),
            r.dtype
        ),
        (None, None, Some(f)) => bail!(
            "the model file cannot hold {} weights with {} yet",
            r.dtype,
            if f {
                "a factored input layer"
            } else {
                "a token table"
            }
        ),
        (None, None, None) => bail!("no candidate shape for --budget-bytes {}", r.bytes),
    }
}

/// More parameters; then fewer layers, the narrower embedding, the token table.
fn better(a: &Choice, b: &Choice) -> bool {
    let key = |c: &Choice| {
        (
            c.params,
            std::cmp::Reverse(c.hyper.num_layers),
            std::cmp::Reverse(c.hyper.embed_dim),
            !c.factored,
        )
    };
    key(a) > key(b)
}

/// `gru 1×232, embed 32, token table`.
pub fn describe(h: &Hyper, factored: bool) -> String {
    format!(
        "{} {}×{}, embed {}, {}",
        h.arch,
        h.num_layers,
        h.hidden_dim,
        h.embed_dim,
        if factored {
            "factored input layer"
        } else {
            "token table"
        }
    )
}

/// The line that reports a choice: `size budget 131072 bytes as int8: gru 3×72, embed 32,
/// token table (… parameters), its file 124884 bytes`.
pub fn report(c: &Choice, b: &Budget) -> String {
    format!(
        "size budget {} bytes as {}: {} ({} parameters), its file {} bytes",
        b.bytes,
        b.dtype,
        describe(&c.hyper, c.factored),
        c.params,
        c.file_bytes
    )
}

/// A new run with `--budget-bytes`: chooses its shape over `vocab` (the flags `o` gave
/// are constraints) and writes it into `config`; returns the choice, to be reported.
pub fn apply(config: &mut TrainConfig, o: &Overrides, vocab: &Vocab) -> Result<Option<Choice>> {
    let Some(budget) = config.levers.budget.clone() else {
        return Ok(None);
    };
    let base = config.hyper(vocab)?;
    let r = Request {
        bytes: budget.bytes,
        dtype: budget.dtype,
        input: budget.input,
        base,
        vocab_bytes: vocab.chars().iter().map(|c| c.len_utf8()).sum(),
        layers: o.layers,
        hidden: o.hidden,
        embed: o.embed,
        table_embed: config.embed,
    };
    let c = choose(&r)?;
    config.layers = c.hyper.num_layers;
    config.hidden = c.hyper.hidden_dim;
    config.embed = c.hyper.embed_dim;
    config.levers.factored = c.factored;
    config.levers.budget = Some(Budget {
        file_bytes: c.file_bytes as u64,
        ..budget
    });
    config.validate()?;
    Ok(Some(c))
}

#[cfg(test)]
#[path = "budget_tests.rs"]
mod tests;
