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
//!
//! With `--teacher-once` (text mode) the teacher instead runs once, before training, over the
//! whole training stream, and each batch reads its rows of those logits: a teacher ten times
//! the student's size then costs one pass, not ten times every step. Each position is then
//! predicted from all the text before it in its piece of the stream, not from its window.
//! A model file teaches this way only ([`crate::distill_file`]).

use crate::checkpoint::{load_model, resolve, LoadedModel, Which};
use crate::data::{Batch, IGNORE};
use crate::distill_file::{is_model_file, TeacherFile};
use crate::levers::Distill;
use crate::model::CharModel;
use anyhow::{bail, ensure, Context, Result};
use mynah_text::{ModeKind, Vocab};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Pieces the training stream is cut into for `--teacher-once`, run side by side.
const ONCE_PIECES: usize = 64;
/// Characters per forward call of that pass (the state is carried across calls).
const ONCE_CHUNK: usize = 256;
/// The largest logit table `--teacher-once` keeps in memory, in MiB.
const ONCE_MAX_MIB: u64 = 8 << 10;

/// A loaded teacher and its temperature and weight.
pub struct Teacher {
    source: Source,
    temperature: f64,
    weight: f64,
}

/// Where the teacher's logits come from.
enum Source {
    /// A forward pass on every batch (boxed: the other variant is one handle).
    PerBatch(Box<CharModel>),
    /// `[N, V]` f16 logits over the training stream, row `p` predicting character `p`.
    Once(Tensor),
}

impl Teacher {
    /// Reads the teacher of `d` onto `device`, checked against the student's vocabulary and
    /// mode; returns it with `d` completed (the resolved absolute path and the fingerprint).
    /// A `d` with a fingerprint (a resumed run) must match it. `train` is the training
    /// stream (text mode), which `--teacher-once` runs the teacher over.
    pub fn load(
        d: &Distill,
        device: Device,
        vocab: &Vocab,
        mode: ModeKind,
        train: Option<&[u32]>,
    ) -> Result<(Teacher, Distill)> {
        let path = resolve(&d.path, Which::Best).context("--teacher")?;
        let path = std::path::absolute(&path).unwrap_or(path);
        let once = match (d.once, train) {
            (false, _) => None,
            (true, Some(ids)) => {
                check_once(ids, vocab)?;
                Some(ids)
            }
            (true, None) => bail!(
                "--teacher-once is for text mode (one stream of text); in {mode} mode the \
                 teacher runs on every batch: leave --teacher-once out"
            ),
        };
        let started = std::time::Instant::now();
        let (source, fingerprint) = if is_model_file(&path) {
            let file = TeacherFile::open(&path)?;
            let fingerprint = same_fingerprint(d, &path, file.fingerprint())?;
            let ids = once.with_context(|| {
                format!(
                    "--teacher {} is a model file, whose engine runs one stream at a time: \
                     add --teacher-once",
                    path.display()
                )
            })?;
            let table = file.logits(&path, (vocab, mode), ids, ONCE_PIECES, device)?;
            (Source::Once(table), fingerprint)
        } else {
            let loaded = load_model(&path, Which::Best).context("--teacher")?;
            let keys = &loaded.keys;
            let fits = (
                &keys.vocab,
                keys.mode.is_records(),
                &keys.mode as &dyn std::fmt::Display,
            );
            check_fits(&path, fits, vocab, mode)?;
            let fingerprint = same_fingerprint(d, &path, fingerprint(&loaded))?;
            let model = loaded.to_model(device).context("--teacher")?;
            let source = match once {
                None => Source::PerBatch(Box::new(model)),
                Some(ids) => {
                    let split = (ONCE_PIECES, ONCE_CHUNK);
                    Source::Once(logits_once(&model, ids, vocab.bos(), split))
                }
            };
            (source, fingerprint)
        };
        if let Source::Once(table) = &source {
            let (n, v) = (table.size()[0], table.size()[1]);
            println!(
                "teacher: its logits over the {n} training characters computed once ({} MiB, \
                 {:.0} s)",
                (n * v * 2) >> 20,
                started.elapsed().as_secs_f64()
            );
        }
        let record = Distill {
            path,
            fingerprint,
            ..d.clone()
        };
        let teacher = Teacher {
            source,
            temperature: d.temperature,
            weight: d.weight,
        };
        Ok((teacher, record))
    }

    /// The distillation loss for `batch` (its ids `input` `[B, T]` on the device), given the
    /// student's logits `[B·T, V]`, the targets `[B·T]` and the student's cross-entropy `ce`.
    pub fn loss(
        &self,
        batch: &Batch,
        input: &Tensor,
        student: &Tensor,
        target: &Tensor,
        ce: &Tensor,
    ) -> Tensor {
        let teacher = tch::no_grad(|| match &self.source {
            Source::PerBatch(model) => {
                let (logits, _) = model.forward(input, None, false);
                logits.view([-1, model.vocab_size()]).to_kind(Kind::Float)
            }
            Source::Once(table) => {
                let rows: Vec<i64> = batch
                    .first_target
                    .iter()
                    .flat_map(|&p| (p..p + batch.len).map(|r| r as i64))
                    .collect();
                let rows = Tensor::from_slice(&rows).to_device(table.device());
                table.index_select(0, &rows).to_kind(Kind::Float)
            }
        });
        let kl = soft_kl(student, &teacher, target, self.temperature);
        let (t, a) = (self.temperature, self.weight);
        ce * (1.0 - a) + kl * (a * t * t)
    }
}

/// Whether `--teacher-once` can keep a logit row per character of the training stream `ids`.
fn check_once(ids: &[u32], vocab: &Vocab) -> Result<()> {
    let (n, v) = (ids.len(), vocab.size());
    ensure!(
        n > usize::from(vocab.bos().is_none()),
        "the training part is too short to distill on"
    );
    let mib = (n as u64 * v as u64 * 2) >> 20;
    ensure!(
        mib <= ONCE_MAX_MIB,
        "--teacher-once would keep {mib} MiB of teacher logits ({n} training characters × {v} \
         tokens × 2 bytes), over its {ONCE_MAX_MIB} MiB limit: leave it out (the teacher then \
         runs on every batch)"
    );
    Ok(())
}

/// `fingerprint`, unless the run recorded another one (the teacher changed).
fn same_fingerprint(d: &Distill, path: &Path, fingerprint: String) -> Result<String> {
    ensure!(
        d.fingerprint.is_empty() || d.fingerprint == fingerprint,
        "the teacher {} has changed since this run started (its fingerprint was {}, it is \
         now {fingerprint}); resume with the same teacher",
        path.display(),
        d.fingerprint
    );
    Ok(fingerprint)
}

/// The pieces of the training stream `ids` a teacher runs once, side by side: the token
/// fed before each target position, `pieces` rows of `per` (returned), padded with 0. Row
/// `s` feeds the positions from `skip + s·per` on, `skip` being 1 without `<BOS>` (position
/// 0 is never a target); each row starts with `<BOS>`, as a training window does, or
/// without one with the character before it.
pub fn piece_inputs(ids: &[u32], bos: Option<u32>, pieces: usize) -> (Vec<u32>, usize) {
    let (n, skip) = (ids.len(), usize::from(bos.is_none()));
    let pieces = pieces.clamp(1, n.saturating_sub(skip).max(1));
    let per = n.saturating_sub(skip).div_ceil(pieces).max(1);
    let mut fed = vec![0; pieces * per];
    for (i, slot) in fed.iter_mut().enumerate() {
        let p = skip + i;
        if p < n {
            *slot = match bos {
                Some(b) if i % per == 0 => b,
                _ => ids[p - 1],
            };
        }
    }
    (fed, per)
}

/// The teacher's logits `[N, V]` (f16) for the training stream `ids`, row `p` predicting
/// `ids[p]`, on the model's device. The stream is cut into `pieces` contiguous pieces run side
/// by side, `chunk` characters per forward call, each from a zero state and fed `<BOS>`
/// first, as a training window is; without `<BOS>` a piece is fed the character before it,
/// unscored, and row 0 (never a target) stays zero.
fn logits_once(
    model: &CharModel,
    ids: &[u32],
    bos: Option<u32>,
    (pieces, chunk): (usize, usize),
) -> Tensor {
    let device = model.vs.device();
    let v = model.vocab_size();
    let (n, skip) = (ids.len(), usize::from(bos.is_none()));
    let (fed, per) = piece_inputs(ids, bos, pieces);
    let fed: Vec<i64> = fed.into_iter().map(i64::from).collect();
    let fed = Tensor::from_slice(&fed)
        .view([-1, per as i64])
        .to_device(device);
    let mut state = None;
    let mut parts = Vec::new();
    for start in (0..per).step_by(chunk.max(1)) {
        let len = chunk.max(1).min(per - start) as i64;
        let (logits, next) = tch::no_grad(|| {
            model.forward(&fed.narrow(1, start as i64, len), state.as_ref(), false)
        });
        parts.push(logits.to_kind(Kind::Half));
        state = Some(next);
    }
    let rows = Tensor::cat(&parts, 1)
        .reshape([-1, v])
        .narrow(0, 0, (n - skip) as i64);
    let head = Tensor::zeros([skip as i64, v], (Kind::Half, device));
    Tensor::cat(&[head, rows], 0)
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

/// A teacher (at `path`, with its vocabulary, whether it models records, and its mode's
/// name) must predict the student's tokens in the student's framing.
pub fn check_fits(
    path: &Path,
    (their_vocab, records, their_mode): (&Vocab, bool, &dyn std::fmt::Display),
    vocab: &Vocab,
    mode: ModeKind,
) -> Result<()> {
    let (theirs, ours) = (their_vocab.tokens(), vocab.tokens());
    let only = |a: &[String], b: &[String]| -> String {
        let only: Vec<&str> = a
            .iter()
            .filter(|t| !b.contains(t))
            .map(String::as_str)
            .collect();
        format!("{:?}", &only[..only.len().min(12)])
    };
    ensure!(
        their_vocab == vocab,
        "the teacher {} has another vocabulary than this corpus ({} tokens against {}; only \
         the teacher's: {}, only the corpus's: {}): a teacher must have been trained on the \
         same characters",
        path.display(),
        theirs.len(),
        ours.len(),
        only(&theirs, &ours),
        only(&ours, &theirs)
    );
    ensure!(
        records == mode.is_records(),
        "the teacher {} was trained in {} mode, this run is in {} mode: <EOS> would mean \
         another thing to each",
        path.display(),
        their_mode,
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
    use mynah_format::{Activation, Arch, Cell, Hyper, Specials, WeightsKind};

    fn gru() -> CharModel {
        model(Arch::GRU)
    }

    fn model(arch: Arch) -> CharModel {
        let hyper = Hyper {
            vocab_size: 9,
            embed_dim: 4,
            hidden_dim: 12,
            num_layers: 2,
            records: false,
            weights: WeightsKind::Float,
            arch,
            specials: Specials::DEFAULT,
            factored: false,
        };
        tch::manual_seed(3);
        CharModel::new(Device::Cpu, hyper, 0.0).unwrap()
    }

    /// The teacher's logits after `fed`, from a zero state.
    fn last_logits(model: &CharModel, fed: &[i64]) -> Tensor {
        let input = Tensor::from_slice(fed).view([1, -1]);
        let (logits, _) = model.forward(&input, None, false);
        logits.select(1, fed.len() as i64 - 1).view([-1])
    }

    #[test]
    fn the_teacher_pass_predicts_each_position_from_its_piece() {
        for arch in [
            Arch::GRU,
            Arch::Recurrent(Cell::Lstm),
            Arch::Recurrent(Cell::Rnn),
            Arch::Ngram {
                context: 4,
                activation: Activation::Tanh,
            },
        ] {
            one_pass_matches_windows(&model(arch));
        }
    }

    fn one_pass_matches_windows(model: &CharModel) {
        let ids: Vec<u32> = (0..601u32).map(|i| 3 + (i * 7 + i / 5) % 6).collect();
        // With <BOS> (1): 601 targets in 2 pieces of 301, 128 per call (the state carried).
        let once = logits_once(model, &ids, Some(1), (2, 128));
        assert_eq!((once.size(), once.kind()), (vec![601, 9], Kind::Half));
        let fed = |from: usize, p: usize| -> Vec<i64> {
            std::iter::once(1)
                .chain(ids[from..p].iter().map(|&x| i64::from(x)))
                .collect()
        };
        for (from, p) in [(0, 0), (0, 1), (0, 200), (0, 300), (301, 301), (301, 600)] {
            let want = last_logits(model, &fed(from, p));
            let got = once.get(p as i64).to_kind(Kind::Float);
            let err = (got - want).abs().max().double_value(&[]);
            assert!(err < 1e-2, "position {p}: {err}");
        }
        // Without <BOS>: row 0 is never a target; a piece is fed the character before it.
        let once = logits_once(model, &ids, None, (3, 64));
        assert_eq!(once.get(0).abs().sum(Kind::Float).double_value(&[]), 0.0);
        for (from, p) in [(1, 1), (1, 150), (201, 201), (401, 600)] {
            let fed: Vec<i64> = ids[from - 1..p].iter().map(|&x| i64::from(x)).collect();
            let want = last_logits(model, &fed);
            let got = once.get(p as i64).to_kind(Kind::Float);
            let err = (got - want).abs().max().double_value(&[]);
            assert!(err < 1e-2, "position {p}: {err}");
        }
    }

    #[test]
    fn a_batch_reads_the_rows_of_its_targets() {
        let model = gru();
        let ids: Vec<u32> = (0..500u32).map(|i| 3 + (i * 5 + i / 3) % 6).collect();
        let table = logits_once(&model, &ids, Some(1), (4, 50));
        let teacher = Teacher {
            source: Source::Once(table.copy()),
            temperature: 1.0,
            weight: 1.0,
        };
        let batcher = crate::data::TextBatcher::new(ids.clone(), 16, 3, Some(1)).unwrap();
        let batch = crate::data::Batcher::Text(batcher).next(&mut Default::default());
        for (r, &p) in batch.first_target.iter().enumerate() {
            let want: Vec<i64> = ids[p..p + 16].iter().map(|&x| i64::from(x)).collect();
            assert_eq!(batch.targets[r * 16..r * 16 + 16], want[..]);
        }
        let target = Tensor::from_slice(&batch.targets);
        let input = Tensor::from_slice(&batch.inputs).view([3, 16]);
        // A student equal to the table's rows has nothing to learn from them.
        let rows: Vec<i64> = batch
            .first_target
            .iter()
            .flat_map(|&p| (p..p + 16).map(|r| r as i64))
            .collect();
        let student = table
            .index_select(0, &Tensor::from_slice(&rows))
            .to_kind(Kind::Float);
        let zero = Tensor::from(0.0f32);
        let loss = teacher.loss(&batch, &input, &student, &target, &zero);
        assert!(loss.double_value(&[]).abs() < 1e-6);
        let other = teacher.loss(&batch, &input, &(&student * 0.5), &target, &zero);
        assert!(other.double_value(&[]) > 1e-4);
    }

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
