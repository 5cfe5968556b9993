//! A model file as the teacher (`--teacher FILE.mynah --teacher-once`): the file's own engine
//! — the integer runtime for an int8 or int4 file, the float reference for f32 or f16 —
//! predicts the training stream once, in the pieces a checkpoint teacher runs in
//! ([`crate::distill`]). The logits are those the file gives on a device, so a shipped model
//! (`models/shakespeare-desk.mynah`) teaches exactly what it says, and no checkpoint is needed.

use crate::distill::{check_fits, piece_inputs};
use anyhow::{Context, Result};
use half::f16;
use mynah_format::{layout::MAGIC, MappedModel};
use mynah_quant::engine::{file_vocab, FileEngine, LanguageModel};
use mynah_text::{ModeKind, Vocab};
use std::io::Read;
use std::path::Path;
use tch::{Device, Tensor};

/// Whether `path` starts with a mynah model file's magic bytes.
pub fn is_model_file(path: &Path) -> bool {
    let mut head = [0u8; MAGIC.len()];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| head == MAGIC)
}

/// A teacher's model file, mapped and validated.
pub struct TeacherFile {
    file: MappedModel,
}

impl TeacherFile {
    /// Maps `path` (checked by the format's reader: every byte distrusted, the CRC verified).
    pub fn open(path: &Path) -> Result<TeacherFile> {
        Ok(TeacherFile {
            file: MappedModel::open(path).context("--teacher")?,
        })
    }

    /// The file's verified CRC-32: `--resume` refuses a teacher that changed.
    pub fn fingerprint(&self) -> String {
        format!("crc32 {:08x}", self.file.model().checksum())
    }

    /// The file's logits `[N, V]` (f16, on `device`) for the training stream `ids`, row `p`
    /// predicting `ids[p]`, checked against the student's vocabulary and mode first.
    pub fn logits(
        &self,
        path: &Path,
        (vocab, mode): (&Vocab, ModeKind),
        ids: &[u32],
        pieces: usize,
        device: Device,
    ) -> Result<Tensor> {
        let name = || format!("--teacher {}", path.display());
        let model = self.file.model();
        let records = model.hyper().records;
        let their_mode = if records { "records" } else { "text" };
        let theirs = file_vocab(&model).with_context(name)?;
        check_fits(path, (&theirs, records, &their_mode), vocab, mode)?;
        let engine = FileEngine::load(&model).with_context(name)?;
        let (v, n) = (vocab.size(), ids.len());
        let (fed, per) = piece_inputs(ids, vocab.bos(), pieces);
        let skip = usize::from(vocab.bos().is_none());
        let mut rows = vec![f16::ZERO; n * v];
        let mut work: Vec<(&[u32], &mut [f16])> = fed
            .chunks(per)
            .zip(rows[skip * v..].chunks_mut(per * v))
            .collect();
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let per_thread = work.len().div_ceil(threads).max(1);
        let engine = &engine;
        std::thread::scope(|scope| {
            let runs: Vec<_> = work
                .chunks_mut(per_thread)
                .map(|share| scope.spawn(move || run_pieces(engine.stream(), share, v)))
                .collect();
            runs.into_iter()
                .try_for_each(|r| r.join().expect("a teacher thread panicked"))
        })
        .with_context(name)?;
        Ok(Tensor::from_slice(&rows)
            .view([n as i64, v as i64])
            .to_device(device))
    }
}

/// Runs each piece from a zero state, writing one row of logits per position it covers
/// (the last piece's padding is fed nothing).
fn run_pieces(
    mut lm: Box<dyn LanguageModel + '_>,
    share: &mut [(&[u32], &mut [f16])],
    v: usize,
) -> Result<()> {
    for (fed, rows) in share.iter_mut() {
        lm.reset();
        for (&token, row) in fed.iter().zip(rows.chunks_mut(v)) {
            for (r, &l) in row.iter_mut().zip(lm.step(token)?) {
                *r = f16::from_f64(l);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mynah_format::Arch;
    use mynah_quant::quantize::{quantize_model, QuantizeOptions};
    use mynah_quant::synthetic::{fixture_spec, float_file, synthetic_model};

    #[test]
    fn a_file_teaches_what_its_engine_says_piece_by_piece() {
        let mut spec = fixture_spec(Arch::GRU);
        spec.records = false;
        let float = synthetic_model(&spec);
        let opts = QuantizeOptions {
            bias_correction: false,
            ..QuantizeOptions::default()
        };
        let int8 = quantize_model(&float, &[], &opts).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in [("f32", float_file(&float).unwrap()), ("int8", int8)] {
            let path = dir.path().join(format!("{name}.mynah"));
            std::fs::write(&path, &bytes).unwrap();
            assert!(is_model_file(&path), "{name}");
            let file = TeacherFile::open(&path).unwrap();
            let model = file.file.model();
            let vocab = file_vocab(&model).unwrap();
            let ids: Vec<u32> = (0..301u32).map(|i| 3 + (i * 7 + i / 5) % 20).collect();
            let table = file
                .logits(&path, (&vocab, ModeKind::Text), &ids, 3, Device::Cpu)
                .unwrap();
            assert_eq!(table.size(), [301, vocab.size() as i64]);
            let engine = FileEngine::load(&model).unwrap();
            // 3 pieces of 101 positions, each from <BOS> and a zero state.
            for (from, p) in [(0, 0), (0, 100), (101, 101), (101, 150), (202, 300)] {
                let mut lm = engine.stream();
                lm.reset();
                let bos = vocab.bos().unwrap();
                let mut want = lm.step(bos).unwrap().to_vec();
                for &x in &ids[from..p] {
                    want = lm.step(x).unwrap().to_vec();
                }
                let got: Vec<f32> =
                    Vec::try_from(table.get(p as i64).to_kind(tch::Kind::Float)).unwrap();
                for (g, w) in got.iter().zip(&want) {
                    let tol = 1e-3 * w.abs().max(1.0);
                    assert!((f64::from(*g) - w).abs() <= tol, "{name} {p}: {g} vs {w}");
                }
            }
            // Another vocabulary is refused before any work.
            let other = Vocab::new(vocab.specials(), vec!['x', 'y']).unwrap();
            let e = file
                .logits(&path, (&other, ModeKind::Text), &[3, 4], 1, Device::Cpu)
                .unwrap_err();
            assert!(e.to_string().contains("another vocabulary"), "{e}");
        }
        let not = dir.path().join("not.mynah");
        std::fs::write(&not, b"MYNAH").unwrap();
        assert!(!is_model_file(&not) && !is_model_file(&dir.path().join("none")));
    }
}
