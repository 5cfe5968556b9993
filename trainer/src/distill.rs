//! Distillation (`train --teacher RUN`): the student also learns the teacher's softened
//! next-character distributions,
//!
//! ```text
//! loss = (1 − A) · CE(student, targets) + A · T² · KL(softmax(teacher/T) ‖ softmax(student/T))
//! ```
//!
//! (Hinton et al.; T² keeps the soft term's gradients on the scale of the hard one's). The
//! KL is averaged over the scored positions, as the cross-entropy is. The teacher runs
//! under `no_grad`, in evaluation mode, on the same batch: a text window from a zero state,
//! like the student. It may be any architecture, trained anywhere, but must have the
//! student's vocabulary and mode; it is identified by a fingerprint of its parameters, so
//! `--resume` can refuse a teacher that changed and stay bit-exact.

use crate::checkpoint::{load_model, resolve, LoadedModel, Which};
use crate::data::IGNORE;
use crate::levers::Distill;
use crate::model::CharModel;
use anyhow::{ensure, Context, Result};
use mynah_text::{ModeKind, Vocab};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// A loaded teacher and its temperature and weight.
pub struct Teacher {
    model: CharModel,
    temperature: f64,
    weight: f64,
}

impl Teacher {
    /// Reads the teacher of `d` onto `device`, checked against the student's vocabulary and
    /// mode; returns it with `d` completed (the resolved absolute path and the fingerprint).
    /// A `d` with a fingerprint (a resumed run) must match it.
    pub fn load(
        d: &Distill,
        device: Device,
        vocab: &Vocab,
        mode: ModeKind,
    ) -> Result<(Teacher, Distill)> {
        let path = resolve(&d.path, Which::Best).context("--teacher")?;
        let path = std::path::absolute(&path).unwrap_or(path);
        let loaded = load_model(&path, Which::Best).context("--teacher")?;
        check_fits(&loaded, vocab, mode)?;
        let fingerprint = fingerprint(&loaded);
        ensure!(
            d.fingerprint.is_empty() || d.fingerprint == fingerprint,
            "the teacher {} has changed since this run started (its parameters' fingerprint \
             was {}, it is now {fingerprint}); resume with the same teacher",
            path.display(),
            d.fingerprint
        );
        let model = loaded.to_model(device).context("--teacher")?;
        let record = Distill {
            path,
            fingerprint,
            ..d.clone()
        };
        let teacher = Teacher {
            model,
            temperature: d.temperature,
            weight: d.weight,
        };
        Ok((teacher, record))
    }

    /// The distillation loss for `input` `[B, T]`, given the student's logits `[B·T, V]`,
    /// the targets `[B·T]` and the student's cross-entropy `ce`.
    pub fn loss(&self, input: &Tensor, student: &Tensor, target: &Tensor, ce: &Tensor) -> Tensor {
        let v = self.model.vocab_size();
        let teacher = tch::no_grad(|| {
            let (logits, _) = self.model.forward(input, None, false);
            logits.view([-1, v]).to_kind(Kind::Float)
        });
        let kl = soft_kl(student, &teacher, target, self.temperature);
        let (t, a) = (self.temperature, self.weight);
        ce * (1.0 - a) + kl * (a * t * t)
    }
}

/// `KL(softmax(teacher/t) ‖ softmax(student/t))` per position, averaged over the positions
/// whose target is scored (not [`IGNORE`]).
pub fn soft_kl(student: &Tensor, teacher: &Tensor, target: &Tensor, t: f64) -> Tensor {
    let log_s = (student / t).log_softmax(-1, Kind::Float);
    let log_t = (teacher / t).log_softmax(-1, Kind::Float);
    let per_row =
        (log_t.exp() * (&log_t - log_s)).sum_dim_intlist([-1i64].as_slice(), false, Kind::Float);
    let scored = target.ne(IGNORE).to_kind(Kind::Float);
    (per_row * &scored).sum(Kind::Float) / scored.sum(Kind::Float).clamp_min(1.0)
}

/// A teacher must predict the student's tokens in the student's framing.
fn check_fits(teacher: &LoadedModel, vocab: &Vocab, mode: ModeKind) -> Result<()> {
    let (theirs, ours) = (teacher.keys.vocab.tokens(), vocab.tokens());
    let only = |a: &[String], b: &[String]| -> String {
        let only: Vec<&str> = a
            .iter()
            .filter(|t| !b.contains(t))
            .map(String::as_str)
            .collect();
        format!("{:?}", &only[..only.len().min(12)])
    };
    ensure!(
        teacher.keys.vocab == *vocab,
        "the teacher {} has another vocabulary than this corpus ({} tokens against {}; only \
         the teacher's: {}, only the corpus's: {}): a teacher must have been trained on the \
         same characters",
        teacher.path.display(),
        theirs.len(),
        ours.len(),
        only(&theirs, &ours),
        only(&ours, &theirs)
    );
    ensure!(
        teacher.keys.mode.is_records() == mode.is_records(),
        "the teacher {} was trained in {} mode, this run is in {} mode: <EOS> would mean \
         another thing to each",
        teacher.path.display(),
        teacher.keys.mode,
        mode
    );
    Ok(())
}

/// FNV-1a 64 over the parameters (by name: name, shape, f32 bytes), hex.
pub fn fingerprint(model: &LoadedModel) -> String {
    let mut params: Vec<_> = model.params.iter().collect();
    params.sort_by(|a, b| a.name.cmp(&b.name));
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for p in params {
        eat(p.name.as_bytes());
        for &d in &p.shape {
            eat(&(d as u64).to_le_bytes());
        }
        eat(&p.le_bytes());
    }
    format!("{h:016x}")
}

/// `--teacher` given again on `--resume` without a new phase must be the run's teacher.
pub fn same_teacher(given: &Path, stored: &Distill) -> Result<()> {
    let path = resolve(given, Which::Best).context("--teacher")?;
    let path = std::path::absolute(&path).unwrap_or(path);
    ensure!(
        path == stored.path,
        "--resume continues a run with its own configuration; --teacher {} conflicts with \
         it (the run's teacher is {}). Leave it out, or change it with a new --qat phase",
        path.display(),
        stored.path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_term_vanishes_for_the_teacher_itself_and_skips_padding() {
        let s = Tensor::from_slice(&[1.0f32, 2.0, 0.5, -1.0, 0.0, 3.0]).view([2, 3]);
        let target = Tensor::from_slice(&[1i64, 2]);
        let zero = soft_kl(&s, &s, &target, 2.0).double_value(&[]);
        assert!(zero.abs() < 1e-7, "{zero}");
        // Row 0 against a uniform teacher, row 1 not scored.
        let t = Tensor::from_slice(&[0.0f32, 0.0, 0.0, 9.0, 9.0, -9.0]).view([2, 3]);
        let masked = Tensor::from_slice(&[1i64, IGNORE]);
        let got = soft_kl(&s, &t, &masked, 2.0).double_value(&[]);
        let z: Vec<f64> = [1.0f64, 2.0, 0.5].iter().map(|x| x / 2.0).collect();
        let lse = z.iter().map(|x| x.exp()).sum::<f64>().ln();
        let want: f64 = z
            .iter()
            .map(|x| (1.0 / 3.0) * ((1.0f64 / 3.0).ln() - (x - lse)))
            .sum();
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
}
