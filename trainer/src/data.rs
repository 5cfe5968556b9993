//! Training batches: random windows of a stream (text mode), or length-bucketed records.

use anyhow::{ensure, Result};
use mynah_runtime::SplitMix64;
use serde::{Deserialize, Serialize};

/// The target of a padded position: libtorch's `ignore_index` (not a token, since an imported
/// vocabulary may have no `<PAD>`).
pub const IGNORE: i64 = -100;
/// The input of a padded position: any valid id does, as every model is causal.
const PAD_INPUT: i64 = 0;

/// One batch: `inputs` and `targets` are row-major `[batch, len]`; [`IGNORE`] targets are
/// not scored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Input ids.
    pub inputs: Vec<i64>,
    /// Target ids ([`IGNORE`] = not scored).
    pub targets: Vec<i64>,
    /// Rows.
    pub batch: usize,
    /// Columns.
    pub len: usize,
    /// Scored targets.
    pub scored: usize,
    /// Text mode: where each row's first target is in the training stream (its targets
    /// follow it there); empty for records.
    pub first_target: Vec<usize>,
}

/// A generator for a sub-stream (`seed`, `stream`), independent of `SplitMix64::new(seed)`.
pub fn derive_rng(seed: u64, stream: u64) -> SplitMix64 {
    let mut r = SplitMix64::new(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
    r.next_u64();
    r
}

/// Fisher–Yates shuffle.
fn shuffle<T>(rng: &mut SplitMix64, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = usize::try_from(rng.below(i as u64 + 1)).unwrap_or(0);
        items.swap(i, j);
    }
}

/// Where the data stream is: everything needed to continue it exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DataPosition {
    /// State of the window sampler (text mode).
    pub rng_state: u64,
    /// Current epoch (record modes: passes over the records so far).
    pub epoch: u64,
    /// Batches of the current epoch already used (record modes).
    pub batch_in_epoch: u64,
}

/// Produces training batches.
pub enum Batcher {
    /// Text mode.
    Text(TextBatcher),
    /// Record modes.
    Records(RecordBatcher),
}

impl Batcher {
    /// The next batch; advances `pos`.
    pub fn next(&mut self, pos: &mut DataPosition) -> Batch {
        match self {
            Batcher::Text(t) => t.next(pos),
            Batcher::Records(r) => r.next(pos),
        }
    }

    /// Batches per epoch (text mode: windows covering the training characters once).
    pub fn steps_per_epoch(&self) -> u64 {
        match self {
            Batcher::Text(t) => t.steps_per_epoch(),
            Batcher::Records(r) => r.steps_per_epoch(),
        }
    }
}

/// Random windows of `len` characters, each fed as `<BOS> c1 .. c(len-1)` predicting
/// `c1 .. c_len` from a zero state: exactly how evaluation starts a text. Without `<BOS>`
/// (an imported vocabulary) a window is `c0 .. c(len-1)` predicting `c1 .. c_len`, as
/// evaluation feeds the first character unscored.
pub struct TextBatcher {
    ids: Vec<u32>,
    len: usize,
    batch: usize,
    bos: Option<u32>,
}

impl TextBatcher {
    /// Windows of `seq_len` (or the whole stream when it is shorter) of the stream `ids`.
    pub fn new(ids: Vec<u32>, seq_len: usize, batch: usize, bos: Option<u32>) -> Result<Self> {
        let unscored = usize::from(bos.is_none());
        ensure!(
            ids.len() > unscored,
            "the training part has {} characters: too few to train on",
            ids.len()
        );
        let len = seq_len.min(ids.len() - unscored).max(1);
        Ok(TextBatcher {
            ids,
            len,
            batch,
            bos,
        })
    }

    fn steps_per_epoch(&self) -> u64 {
        let per_step = self.len.saturating_mul(self.batch).max(1);
        (self.ids.len().div_ceil(per_step)).max(1) as u64
    }

    fn next(&mut self, pos: &mut DataPosition) -> Batch {
        let mut rng = SplitMix64::new(pos.rng_state);
        // Without <BOS> a window holds one more character: its first is only fed.
        let span = self.len + usize::from(self.bos.is_none());
        let starts = self.ids.len().saturating_sub(span) as u64 + 1;
        let mut inputs = Vec::with_capacity(self.batch * self.len);
        let mut targets = Vec::with_capacity(self.batch * self.len);
        let mut first_target = Vec::with_capacity(self.batch);
        for _ in 0..self.batch {
            let o = usize::try_from(rng.below(starts)).unwrap_or(0);
            first_target.push(o + span - self.len);
            let window = &self.ids[o..o + span];
            let fed = &window[..span - 1];
            inputs.extend(self.bos.iter().chain(fed).map(|&x| i64::from(x)));
            targets.extend(window[span - self.len..].iter().map(|&x| i64::from(x)));
        }
        pos.rng_state = rng.state;
        Batch {
            inputs,
            targets,
            batch: self.batch,
            len: self.len,
            scored: self.batch * self.len,
            first_target,
        }
    }
}

/// Records as `<BOS> chars <EOS>`, in batches of similar lengths.
///
/// Each epoch shuffles the records, cuts the order into pools of 64 batches, sorts every pool
/// by length, cuts it into batches and shuffles the batches: little padding, still random.
/// Records longer than `max_len` characters are truncated to their first `max_len` characters
/// (and get no `<EOS>`) for training; evaluation always uses them whole. A vocabulary
/// without `<BOS>` starts a record at its first character (fed, not scored), one without
/// `<EOS>` ends it at its last; a record left with nothing to predict is not trained on.
pub struct RecordBatcher {
    seqs: Vec<Vec<u32>>,
    batch: usize,
    seed: u64,
    order: Vec<Vec<usize>>,
    order_epoch: Option<u64>,
}

/// Batches per sorting pool.
const POOL_BATCHES: usize = 64;

impl RecordBatcher {
    /// Batches of `batch` records from `records` (ids without specials), framed by the
    /// vocabulary's `bos` and `eos`.
    pub fn new(
        records: &[Vec<u32>],
        max_len: usize,
        batch: usize,
        seed: u64,
        (bos, eos): (Option<u32>, Option<u32>),
    ) -> Result<RecordBatcher> {
        let seqs: Vec<Vec<u32>> = records
            .iter()
            .map(|r| {
                let mut s = Vec::with_capacity(r.len().min(max_len) + 2);
                s.extend(bos);
                s.extend_from_slice(&r[..r.len().min(max_len)]);
                s.extend(eos.filter(|_| r.len() <= max_len));
                s
            })
            .filter(|s| s.len() >= 2)
            .collect();
        ensure!(
            !seqs.is_empty(),
            "no training record has a character to predict"
        );
        Ok(RecordBatcher {
            seqs,
            batch,
            seed,
            order: Vec::new(),
            order_epoch: None,
        })
    }

    fn steps_per_epoch(&self) -> u64 {
        let n = self.seqs.len();
        let pool = self.batch.saturating_mul(POOL_BATCHES);
        let full_pools = n / pool;
        let rest = n % pool;
        (full_pools * POOL_BATCHES + rest.div_ceil(self.batch)) as u64
    }

    fn epoch_order(&self, epoch: u64) -> Vec<Vec<usize>> {
        let mut rng = derive_rng(self.seed, epoch);
        let mut idx: Vec<usize> = (0..self.seqs.len()).collect();
        shuffle(&mut rng, &mut idx);
        let mut batches = Vec::new();
        for pool in idx.chunks_mut(self.batch.saturating_mul(POOL_BATCHES)) {
            pool.sort_by_key(|&i| self.seqs[i].len());
            batches.extend(pool.chunks(self.batch).map(<[usize]>::to_vec));
        }
        shuffle(&mut rng, &mut batches);
        batches
    }

    fn next(&mut self, pos: &mut DataPosition) -> Batch {
        if pos.batch_in_epoch >= self.steps_per_epoch() {
            pos.epoch += 1;
            pos.batch_in_epoch = 0;
        }
        if self.order_epoch != Some(pos.epoch) {
            self.order = self.epoch_order(pos.epoch);
            self.order_epoch = Some(pos.epoch);
        }
        let rows = &self.order[usize::try_from(pos.batch_in_epoch).unwrap_or(usize::MAX)];
        pos.batch_in_epoch += 1;
        let len = rows
            .iter()
            .map(|&i| self.seqs[i].len() - 1)
            .max()
            .unwrap_or(1);
        let mut inputs = vec![PAD_INPUT; rows.len() * len];
        let mut targets = vec![IGNORE; rows.len() * len];
        let mut scored = 0;
        for (r, &i) in rows.iter().enumerate() {
            let s = &self.seqs[i];
            let n = s.len() - 1;
            for (dst, &x) in inputs[r * len..r * len + n].iter_mut().zip(&s[..n]) {
                *dst = i64::from(x);
            }
            for (dst, &x) in targets[r * len..r * len + n].iter_mut().zip(&s[1..]) {
                *dst = i64::from(x);
            }
            scored += n;
        }
        Batch {
            inputs,
            targets,
            batch: rows.len(),
            len,
            scored,
            first_target: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOS: i64 = 1;
    const SPECIALS: (Option<u32>, Option<u32>) = (Some(1), Some(2));

    #[test]
    fn text_windows_start_with_bos_and_shift_by_one() {
        let ids: Vec<u32> = (3..103).collect();
        let mut b = Batcher::Text(TextBatcher::new(ids, 10, 4, Some(1)).unwrap());
        let mut pos = DataPosition {
            rng_state: 5,
            ..Default::default()
        };
        let batch = b.next(&mut pos);
        assert_eq!((batch.batch, batch.len, batch.scored), (4, 10, 40));
        for r in 0..4 {
            let inp = &batch.inputs[r * 10..r * 10 + 10];
            let tgt = &batch.targets[r * 10..r * 10 + 10];
            assert_eq!(inp[0], BOS);
            assert_eq!(&inp[1..], &tgt[..9]);
            // ids[p] = p + 3: the first target is where `first_target` says.
            assert_eq!(tgt[0], batch.first_target[r] as i64 + 3);
            assert!(tgt.windows(2).all(|w| w[1] == w[0] + 1));
        }
        assert_ne!(pos.rng_state, 5);
        assert_eq!(b.steps_per_epoch(), 3);
    }

    #[test]
    fn short_stream_is_one_window() {
        let mut b = TextBatcher::new(vec![3, 4, 5], 128, 2, Some(1)).unwrap();
        let batch = b.next(&mut DataPosition::default());
        assert_eq!(batch.inputs, vec![1, 3, 4, 1, 3, 4]);
        assert_eq!(batch.targets, vec![3, 4, 5, 3, 4, 5]);
    }

    #[test]
    fn without_bos_the_first_character_is_only_fed() {
        let mut b = TextBatcher::new(vec![0, 1, 2], 128, 1, None).unwrap();
        let batch = b.next(&mut DataPosition::default());
        assert_eq!((batch.inputs, batch.targets), (vec![0, 1], vec![1, 2]));
        let mut b = TextBatcher::new((0..50).collect(), 8, 3, None).unwrap();
        let batch = b.next(&mut DataPosition::default());
        for r in 0..3 {
            let inp = &batch.inputs[r * 8..r * 8 + 8];
            let tgt = &batch.targets[r * 8..r * 8 + 8];
            assert!(
                inp.iter().zip(tgt).all(|(i, t)| t - i == 1),
                "{inp:?} {tgt:?}"
            );
            assert_eq!(tgt[0], batch.first_target[r] as i64);
        }
        assert!(TextBatcher::new(vec![0], 8, 1, None).is_err());
        // Records: no <BOS>, no <EOS>; a one-character record has nothing to predict.
        let recs = vec![vec![0, 1, 2], vec![3]];
        let mut b = RecordBatcher::new(&recs, 10, 4, 1, (None, None)).unwrap();
        let batch = b.next(&mut DataPosition::default());
        assert_eq!((batch.inputs, batch.targets), (vec![0, 1], vec![1, 2]));
        assert!(RecordBatcher::new(&[vec![3]], 10, 4, 1, (None, None)).is_err());
    }

    #[test]
    fn records_cover_an_epoch_with_padding_masked() {
        let records: Vec<Vec<u32>> = (0..50).map(|i| vec![3; 1 + i % 7]).collect();
        let mut b = RecordBatcher::new(&records, 5, 8, 9, SPECIALS).unwrap();
        assert_eq!(b.steps_per_epoch(), 7);
        let mut pos = DataPosition::default();
        let mut scored = 0;
        for _ in 0..7 {
            let batch = b.next(&mut pos);
            scored += batch.scored;
            let pads = batch.targets.iter().filter(|&&t| t == IGNORE).count();
            assert_eq!(pads + batch.scored, batch.batch * batch.len);
            assert!(batch.inputs.chunks(batch.len).all(|r| r[0] == BOS));
        }
        // Records of 6 and 7 chars are cut to 5 without EOS: 5 targets; others len + 1.
        let want: usize = records
            .iter()
            .map(|r| if r.len() > 5 { 5 } else { r.len() + 1 })
            .sum();
        assert_eq!(scored, want);
        assert_eq!((pos.epoch, pos.batch_in_epoch), (0, 7));
        b.next(&mut pos);
        assert_eq!((pos.epoch, pos.batch_in_epoch), (1, 1));
    }

    #[test]
    fn record_order_depends_only_on_seed_and_epoch() {
        let records: Vec<Vec<u32>> = (0..30).map(|i| vec![3; 1 + i]).collect();
        let mut a = RecordBatcher::new(&records, 100, 4, 1, SPECIALS).unwrap();
        let mut pos = DataPosition {
            batch_in_epoch: 3,
            ..Default::default()
        };
        let x = a.next(&mut pos);
        let mut b = RecordBatcher::new(&records, 100, 4, 1, SPECIALS).unwrap();
        let mut fresh = DataPosition::default();
        for _ in 0..3 {
            b.next(&mut fresh);
        }
        assert_eq!(b.next(&mut fresh), x);
    }

    #[test]
    fn derived_streams_and_shuffles() {
        let mut a = derive_rng(42, 0);
        let mut b = SplitMix64 { state: a.state };
        assert_eq!(a.next_u64(), b.next_u64());
        assert_ne!(derive_rng(1, 0).next_u64(), derive_rng(1, 1).next_u64());
        let mut v: Vec<u32> = (0..100).collect();
        shuffle(&mut SplitMix64::new(3), &mut v);
        let mut s = v.clone();
        s.sort_unstable();
        assert_eq!(s, (0..100).collect::<Vec<_>>());
        assert_ne!(v, s);
    }
}
