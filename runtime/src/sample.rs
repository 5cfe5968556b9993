//! Choosing the next token from Q16 logits: integer softmax with temperature, greedy,
//! top-k.

use mynah_format::Vocab;

use crate::kernels::SoftmaxScale;
use crate::rng::Pcg32;

/// A sampling temperature in thousandths: `Temperature::from_milli(800)` is 0.8.
///
/// 0 means greedy (always the most likely token). Thousandths keep the decimal values
/// people type (0.8, 0.75, 1.2) exact, which a binary fixed point would not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Temperature(u32);

impl Temperature {
    /// Greedy decoding.
    pub const GREEDY: Temperature = Temperature(0);
    /// Temperature 1: the model's own distribution.
    pub const ONE: Temperature = Temperature(1000);

    /// A temperature of `milli / 1000`.
    pub const fn from_milli(milli: u32) -> Self {
        Temperature(milli)
    }

    /// The temperature in thousandths.
    pub const fn milli(self) -> u32 {
        self.0
    }

    /// Whether this is greedy decoding.
    pub const fn is_greedy(self) -> bool {
        self.0 == 0
    }
}

/// How [`sample`] picks a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleOptions {
    /// The temperature; [`Temperature::GREEDY`] picks the most likely token.
    pub temperature: Temperature,
    /// Keep only the `top_k` most likely tokens (ties broken by lower id); 0 keeps all.
    pub top_k: u32,
    /// The id of the first character. The ids below it are special tokens (`<PAD>`,
    /// `<BOS>`, `<EOS>`, `<UNK>`), which are never sampled, except `stop`.
    pub first_char: u32,
    /// `<EOS>`'s id when sampling may stop there: models trained on records that have an
    /// `<EOS>`. `None`: the text never ends by itself.
    pub stop: Option<u32>,
}

impl SampleOptions {
    /// Sampling at `temperature` from every character of `vocab`, and its `<EOS>` if the
    /// model was trained on `records`.
    pub fn new(temperature: Temperature, vocab: &Vocab<'_>, records: bool) -> Self {
        SampleOptions {
            temperature,
            top_k: 0,
            first_char: vocab.first_char_id(),
            stop: vocab.eos().filter(|_| records),
        }
    }

    /// Whether token `id` may be sampled at all.
    #[inline]
    fn eligible(&self, id: usize) -> bool {
        id >= self.first_char as usize || self.stop.is_some_and(|e| e as usize == id)
    }
}

/// Which eligible tokens survive top-k: those above `threshold`, then the first
/// `ties` (by id) equal to it.
#[derive(Clone, Copy)]
struct Cut {
    threshold: i32,
    ties: u32,
}

/// Finds the top-k cut, or `None` when every eligible token is kept.
///
/// `sel` must hold at least `logits.len()` entries (it is overwritten).
fn top_k_cut(logits: &[i32], opts: &SampleOptions, sel: &mut [i32]) -> Option<Cut> {
    let k = opts.top_k;
    if k == 0 {
        return None;
    }
    let mut n = 0usize;
    for (id, &l) in logits.iter().enumerate() {
        if opts.eligible(id) {
            if let Some(slot) = sel.get_mut(n) {
                *slot = l;
                n += 1;
            }
        }
    }
    let k = k as usize;
    if k >= n {
        return None;
    }
    let cand = sel.get_mut(..n)?;
    // The k-th largest value is the same whatever order selection leaves the rest in,
    // so this stays deterministic.
    let (_, &mut threshold, _) = cand.select_nth_unstable_by(k - 1, |a, b| b.cmp(a));
    let above = cand.iter().filter(|&&v| v > threshold).count();
    Some(Cut {
        threshold,
        ties: (k - above) as u32,
    })
}

/// Calls `f(id, logit)` for every token that survives eligibility and the top-k cut, in
/// id order, until `f` returns `false`.
#[inline]
fn for_kept(
    logits: &[i32],
    opts: &SampleOptions,
    cut: Option<Cut>,
    mut f: impl FnMut(usize, i32) -> bool,
) {
    let mut ties_left = cut.map_or(0, |c| c.ties);
    for (id, &l) in logits.iter().enumerate() {
        if !opts.eligible(id) {
            continue;
        }
        if let Some(c) = cut {
            if l < c.threshold {
                continue;
            }
            if l == c.threshold {
                if ties_left == 0 {
                    continue;
                }
                ties_left -= 1;
            }
        }
        if !f(id, l) {
            return;
        }
    }
}

/// Picks the next token from Q16 `logits` (index = token id).
///
/// Probabilities are `p_i ∝ e^((l_i - max) / T)` over the eligible, top-k-kept tokens,
/// computed as Q30 integer weights ([`SoftmaxScale`]); a uniform draw in `[0, Σw)` from
/// `rng` selects the token by cumulative sum. Greedy (`T = 0`) takes the largest logit,
/// the lowest id on ties, and draws nothing from `rng`. `sel` is scratch space of
/// `logits.len()` entries (top-k selection, then the weights; a shorter one only costs
/// time). Returns `None` only when no token is eligible (fewer than 4 logits and no
/// `<EOS>`).
pub fn sample(
    logits: &[i32],
    opts: &SampleOptions,
    rng: &mut Pcg32,
    sel: &mut [i32],
) -> Option<u32> {
    let cut = top_k_cut(logits, opts, sel);
    // On the host, with every character kept (no top-k), passes over the characters alone,
    // the weights eight at a time with AVX2; devices keep the one path below (their flash
    // is full). Both give the same token and draw the same numbers.
    #[cfg(all(target_arch = "x86_64", feature = "avx2"))]
    if cut.is_none() && sel.len() >= logits.len() {
        return sample_every_char(logits, opts, rng, sel);
    }
    sample_kept(logits, opts, cut, rng, sel)
}

/// [`sample`] over the tokens that eligibility and the top-k `cut` keep.
fn sample_kept(
    logits: &[i32],
    opts: &SampleOptions,
    cut: Option<Cut>,
    rng: &mut Pcg32,
    sel: &mut [i32],
) -> Option<u32> {
    let mut best: Option<(usize, i32)> = None;
    for_kept(logits, opts, cut, |id, l| {
        if best.is_none_or(|(_, b)| l > b) {
            best = Some((id, l));
        }
        true
    });
    let (best_id, max) = best?;
    if opts.temperature.is_greedy() {
        return Some(best_id as u32);
    }
    let scale = SoftmaxScale::new(opts.temperature.milli());
    let mut total: u64 = 0; // <= 65535 * 2^30 < 2^46
    for_kept(logits, opts, cut, |id, l| {
        let w = scale.weight(max, l);
        total += u64::from(w);
        if let Some(slot) = sel.get_mut(id) {
            *slot = w as i32; // w <= 2^30 fits
        }
        true
    });
    let target = rng.below(total);
    let mut acc: u64 = 0;
    let mut chosen = best_id;
    // The first token whose cumulative weight exceeds the draw; the rest are not visited.
    for_kept(logits, opts, cut, |id, l| {
        let w = match sel.get(id) {
            Some(&w) => w as u32,
            None => scale.weight(max, l),
        };
        acc += u64::from(w);
        if acc > target {
            chosen = id;
            return false;
        }
        true
    });
    Some(chosen as u32)
}

/// [`sample`] when every character is kept (no top-k) and `sel` covers the logits: the
/// same maximum, weights, draw and cumulative choice as [`sample_kept`], with `<EOS>` (a
/// special token, so before every character) taken on its own.
#[cfg(all(target_arch = "x86_64", feature = "avx2"))]
fn sample_every_char(
    logits: &[i32],
    opts: &SampleOptions,
    rng: &mut Pcg32,
    sel: &mut [i32],
) -> Option<u32> {
    let first = opts.first_char as usize;
    let eos = opts.stop.map_or(usize::MAX, |e| e as usize);
    let chars = logits.get(first..).unwrap_or(&[]);
    // A stop id among the characters (no file has one) takes the general path.
    if opts.stop.is_some() && eos >= first {
        return sample_kept(logits, opts, None, rng, sel);
    }
    let eos_logit = logits.get(eos).copied();
    // The largest logit, the lowest id on ties: <EOS> wins a tie with a character.
    let char_max = chars.iter().copied().max();
    let (best_id, max) = match (eos_logit, char_max) {
        (Some(e), Some(c)) if e >= c => (eos, e),
        (_, Some(c)) => (first + chars.iter().position(|&l| l == c).unwrap_or(0), c),
        (Some(e), None) => (eos, e),
        (None, None) => return None,
    };
    if opts.temperature.is_greedy() {
        return Some(best_id as u32);
    }
    let scale = SoftmaxScale::new(opts.temperature.milli());
    let weights = sel.get_mut(first..logits.len()).unwrap_or(&mut []);
    let mut total = crate::kernels::softmax_weights(&scale, max, chars, weights);
    let eos_weight = eos_logit.map_or(0, |l| scale.weight(max, l));
    total += u64::from(eos_weight);
    let target = rng.below(total);
    // The first token whose cumulative weight exceeds the draw.
    let mut acc = u64::from(eos_weight);
    if eos_logit.is_some() && acc > target {
        return Some(eos as u32);
    }
    for (i, &w) in weights.iter().enumerate() {
        acc += u64::from(w as u32);
        if acc > target {
            return Some((first + i) as u32);
        }
    }
    Some(best_id as u32)
}

/// Writes the Q30 softmax weights of `logits` at `temperature` into `out` (0 for tokens
/// that are not eligible) and returns their sum; probabilities are `out[i] / sum`.
///
/// For greedy temperature the most likely token gets `2^30` and all others 0.
pub fn softmax_q30(logits: &[i32], opts: &SampleOptions, out: &mut [u32]) -> u64 {
    let temperature = opts.temperature;
    for o in out.iter_mut() {
        *o = 0;
    }
    let mut best: Option<(usize, i32)> = None;
    for_kept(logits, opts, None, |id, l| {
        if best.is_none_or(|(_, b)| l > b) {
            best = Some((id, l));
        }
        true
    });
    let Some((best_id, max)) = best else { return 0 };
    if temperature.is_greedy() {
        if let Some(o) = out.get_mut(best_id) {
            *o = 1 << 30;
        }
        return 1 << 30;
    }
    let scale = SoftmaxScale::new(temperature.milli());
    let mut total = 0u64;
    for_kept(logits, opts, None, |id, l| {
        let w = scale.weight(max, l);
        if let Some(o) = out.get_mut(id) {
            *o = w;
            total += u64::from(w);
        }
        true
    });
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `<PAD>`, `<BOS>`, `<EOS>` then characters, as mynah trains.
    fn trained(temperature: Temperature, allow_eos: bool) -> SampleOptions {
        SampleOptions {
            temperature,
            top_k: 0,
            first_char: 3,
            stop: allow_eos.then_some(2),
        }
    }

    #[test]
    fn no_specials_and_unk_are_never_sampled() {
        // torchtext: <PAD>=0, <UNK>=1 (never sampled), characters from 2, no <EOS>.
        let logits = [900, 1000, 5, 7, 6];
        let mut sel = [0; 5];
        let mut rng = Pcg32::new(1);
        let o = SampleOptions {
            temperature: Temperature::GREEDY,
            top_k: 0,
            first_char: 2,
            stop: None,
        };
        assert_eq!(sample(&logits, &o, &mut rng, &mut sel), Some(3));
        // ToyRNN: no specials at all, every id is a character.
        let o = SampleOptions { first_char: 0, ..o };
        assert_eq!(sample(&logits, &o, &mut rng, &mut sel), Some(1));
        // CSC321: <BOS>=0, <EOS>=1 (a records model stops there).
        let o = SampleOptions {
            first_char: 2,
            stop: Some(1),
            ..o
        };
        assert_eq!(sample(&logits, &o, &mut rng, &mut sel), Some(1));
        let o = SampleOptions {
            temperature: Temperature::ONE,
            ..o
        };
        for _ in 0..100 {
            let t = sample(&logits, &o, &mut rng, &mut sel).unwrap();
            assert!(t >= 1, "{t}");
        }
    }

    #[cfg(all(target_arch = "x86_64", feature = "avx2"))]
    proptest::proptest! {
        /// The host's path over every character picks the same token and draws the same
        /// numbers as the general one, whatever the logits, temperature and `<EOS>` rule.
        #[test]
        fn every_char_path_equals_the_general_one(
            len in 0usize..90,
            spread in 0u32..32,
            milli in proptest::sample::select(vec![0u32, 1, 7, 250, 800, 1000, 1700, 5000, 1_500_000, u32::MAX]),
            first_char in 0u32..5,
            stop_at in proptest::option::of(0u32..5),
            seed in proptest::num::u64::ANY,
        ) {
            let mut s = seed | 1;
            let mut next = move || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s };
            // Logits from a narrow to the full i32 range, with ties now and then.
            let logits: Vec<i32> = (0..len)
                .map(|_| if next() % 5 == 0 { 1234 } else { (next() as i32) >> spread })
                .collect();
            // Any layout of specials: none, <EOS> somewhere among them or absent.
            let opts = SampleOptions {
                temperature: Temperature::from_milli(milli),
                top_k: 0,
                first_char,
                stop: stop_at.filter(|&s| s < first_char),
            };
            let (mut a, mut b) = (Pcg32::new(seed), Pcg32::new(seed));
            let (mut sa, mut sb) = (vec![0; len], vec![0; len]);
            let fast = sample_every_char(&logits, &opts, &mut a, &mut sa);
            let general = sample_kept(&logits, &opts, None, &mut b, &mut sb);
            proptest::prop_assert_eq!(fast, general);
            proptest::prop_assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn greedy_takes_lowest_id_of_the_max_and_skips_specials() {
        let logits = [1000, 1000, 900, 5, 7, 7, 2];
        let mut sel = [0; 7];
        let mut rng = Pcg32::new(1);
        let opts = trained(Temperature::GREEDY, false);
        assert_eq!(sample(&logits, &opts, &mut rng, &mut sel), Some(4));
        let opts = trained(Temperature::GREEDY, true);
        assert_eq!(sample(&logits, &opts, &mut rng, &mut sel), Some(2));
        assert_eq!(rng, Pcg32::new(1), "greedy draws nothing");
    }

    #[test]
    fn top_k_one_is_greedy_and_ties_keep_lowest_ids() {
        let logits = [0, 0, 0, 10, 50, 50, 50, 3];
        let mut sel = [0; 8];
        let mut rng = Pcg32::new(3);
        let mut opts = trained(Temperature::ONE, false);
        opts.top_k = 2;
        for _ in 0..200 {
            let t = sample(&logits, &opts, &mut rng, &mut sel).unwrap();
            assert!(t == 4 || t == 5, "got {t}");
        }
        opts.top_k = 1;
        for _ in 0..50 {
            assert_eq!(sample(&logits, &opts, &mut rng, &mut sel), Some(4));
        }
    }

    #[test]
    fn sampling_follows_the_weights() {
        // Two chars, logits differ by ln 3 (Q16): p = 3/4 and 1/4 at T = 1.
        let ln3 = 71_999; // round(ln(3) * 65536)
        let logits = [0, 0, -1_000_000, ln3, 0];
        let mut sel = [0; 5];
        let mut rng = Pcg32::new(11);
        let opts = trained(Temperature::ONE, false);
        let mut hits = 0;
        for _ in 0..20_000 {
            if sample(&logits, &opts, &mut rng, &mut sel) == Some(3) {
                hits += 1;
            }
        }
        assert!((14_700..15_300).contains(&hits), "{hits}");
    }

    #[test]
    fn no_eligible_token() {
        let mut rng = Pcg32::new(1);
        let opts = trained(Temperature::ONE, false);
        assert_eq!(sample(&[1, 2, 3], &opts, &mut rng, &mut [0; 3]), None);
    }
}
