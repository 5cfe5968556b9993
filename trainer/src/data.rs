//! Training batches: random windows of a stream (text mode), or length-bucketed records.

use crate::rng::Rng;
use mynah_text::{BOS, EOS, PAD};
use serde::{Deserialize, Serialize};

/// One batch: `inputs` and `targets` are row-major `[batch, len]`; `PAD` targets are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Input ids.
    pub inputs: Vec<i64>,
    /// Target ids (`PAD` = not scored).
    pub targets: Vec<i64>,
    /// Rows.
    pub batch: usize,
    /// Columns.
    pub len: usize,
    /// Scored targets (non-`PAD`).
    pub scored: usize,
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
/// `c1 .. c_len` from a zero state: exactly how evaluation starts a text.
pub struct TextBatcher {
    ids: Vec<u32>,
    len: usize,
    batch: usize,
}

impl TextBatcher {
    /// Windows of `seq_len` (or the whole stream when it is shorter) of the stream `ids`.
    pub fn new(ids: Vec<u32>, seq_len: usize, batch: usize) -> TextBatcher {
        let len = seq_len.min(ids.len()).max(1);
        TextBatcher { ids, len, batch }
    }

    fn steps_per_epoch(&self) -> u64 {
        let per_step = self.len.saturating_mul(self.batch).max(1);
        (self.ids.len().div_ceil(per_step)).max(1) as u64
    }

    fn next(&mut self, pos: &mut DataPosition) -> Batch {
        let mut rng = Rng::new(pos.rng_state);
        let starts = self.ids.len().saturating_sub(self.len) as u64 + 1;
        let mut inputs = Vec::with_capacity(self.batch * self.len);
        let mut targets = Vec::with_capacity(self.batch * self.len);
        for _ in 0..self.batch {
            let o = usize::try_from(rng.below(starts)).unwrap_or(0);
            let window = &self.ids[o..o + self.len];
            inputs.push(i64::from(BOS));
            inputs.extend(window[..self.len - 1].iter().map(|&x| i64::from(x)));
            targets.extend(window.iter().map(|&x| i64::from(x)));
        }
        pos.rng_state = rng.state;
        Batch {
            inputs,
            targets,
            batch: self.batch,
            len: self.len,
            scored: self.batch * self.len,
        }
    }
}

/// Records as `<BOS> chars <EOS>`, in batches of similar lengths.
///
/// Each epoch shuffles the records, cuts the order into pools of 64 batches, sorts every pool
/// by length, cuts it into batches and shuffles the batches: little padding, still random.
/// Records longer than `max_len` characters are truncated to their first `max_len` characters
/// (and get no `<EOS>`) for training; evaluation always uses them whole.
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
    /// Batches of `batch` records from `records` (ids without specials).
    pub fn new(records: &[Vec<u32>], max_len: usize, batch: usize, seed: u64) -> RecordBatcher {
        let seqs = records
            .iter()
            .map(|r| {
                let mut s = Vec::with_capacity(r.len().min(max_len) + 2);
                s.push(BOS);
                s.extend_from_slice(&r[..r.len().min(max_len)]);
                if r.len() <= max_len {
                    s.push(EOS);
                }
                s
            })
            .collect();
        RecordBatcher {
            seqs,
            batch,
            seed,
            order: Vec::new(),
            order_epoch: None,
        }
    }

    fn steps_per_epoch(&self) -> u64 {
        let n = self.seqs.len();
        let pool = self.batch.saturating_mul(POOL_BATCHES);
        let full_pools = n / pool;
        let rest = n % pool;
        (full_pools * POOL_BATCHES + rest.div_ceil(self.batch)) as u64
    }

    fn epoch_order(&self, epoch: u64) -> Vec<Vec<usize>> {
        let mut rng = Rng::derive(self.seed, epoch);
        let mut idx: Vec<usize> = (0..self.seqs.len()).collect();
        rng.shuffle(&mut idx);
        let mut batches = Vec::new();
        for pool in idx.chunks_mut(self.batch.saturating_mul(POOL_BATCHES)) {
            pool.sort_by_key(|&i| self.seqs[i].len());
            batches.extend(pool.chunks(self.batch).map(<[usize]>::to_vec));
        }
        rng.shuffle(&mut batches);
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
        let mut inputs = vec![i64::from(PAD); rows.len() * len];
        let mut targets = vec![i64::from(PAD); rows.len() * len];
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_windows_start_with_bos_and_shift_by_one() {
        let ids: Vec<u32> = (3..103).collect();
        let mut b = Batcher::Text(TextBatcher::new(ids, 10, 4));
        let mut pos = DataPosition {
            rng_state: 5,
            ..Default::default()
        };
        let batch = b.next(&mut pos);
        assert_eq!((batch.batch, batch.len, batch.scored), (4, 10, 40));
        for r in 0..4 {
            let inp = &batch.inputs[r * 10..r * 10 + 10];
            let tgt = &batch.targets[r * 10..r * 10 + 10];
            assert_eq!(inp[0], i64::from(BOS));
            assert_eq!(&inp[1..], &tgt[..9]);
            assert!(tgt.windows(2).all(|w| w[1] == w[0] + 1));
        }
        assert_ne!(pos.rng_state, 5);
        assert_eq!(b.steps_per_epoch(), 3);
    }

    #[test]
    fn short_stream_is_one_window() {
        let mut b = TextBatcher::new(vec![3, 4, 5], 128, 2);
        let batch = b.next(&mut DataPosition::default());
        assert_eq!(batch.inputs, vec![1, 3, 4, 1, 3, 4]);
        assert_eq!(batch.targets, vec![3, 4, 5, 3, 4, 5]);
    }

    #[test]
    fn records_cover_an_epoch_with_padding_masked() {
        let records: Vec<Vec<u32>> = (0..50).map(|i| vec![3; 1 + i % 7]).collect();
        let mut b = RecordBatcher::new(&records, 5, 8, 9);
        assert_eq!(b.steps_per_epoch(), 7);
        let mut pos = DataPosition::default();
        let mut scored = 0;
        for _ in 0..7 {
            let batch = b.next(&mut pos);
            scored += batch.scored;
            let pads = batch
                .targets
                .iter()
                .filter(|&&t| t == i64::from(PAD))
                .count();
            assert_eq!(pads + batch.scored, batch.batch * batch.len);
            assert!(batch
                .inputs
                .chunks(batch.len)
                .all(|r| r[0] == i64::from(BOS)));
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
        let mut a = RecordBatcher::new(&records, 100, 4, 1);
        let mut pos = DataPosition {
            batch_in_epoch: 3,
            ..Default::default()
        };
        let x = a.next(&mut pos);
        let mut b = RecordBatcher::new(&records, 100, 4, 1);
        let mut fresh = DataPosition::default();
        for _ in 0..3 {
            b.next(&mut fresh);
        }
        assert_eq!(b.next(&mut fresh), x);
    }
}
