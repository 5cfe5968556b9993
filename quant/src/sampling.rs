//! Text generation on the host for both kinds of model file: INT8 through the runtime's
//! [`Generator`], FLOAT through the reference forward with the same sampling rules and
//! the same integer-seeded [`Pcg32`]. The trainer's `sample` uses [`sample_f64`] too, so
//! one seed gives the same text from a checkpoint, its float file and (up to rounding) its
//! INT8 file.

use std::fmt;

use mynah_runtime::{Generator, Next, Pcg32, RuntimeError, SampleOptions, Temperature};

use crate::engine::{EngineError, FloatRunner, HostModel, LanguageModel};
use crate::reference::FloatModel;

/// Largest temperature accepted (in thousandths): 1000.
pub const MAX_TEMPERATURE_MILLI: u32 = 1_000_000;

/// Why a temperature was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemperatureError(pub String);

impl fmt::Display for TemperatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "temperature {:?} must be a number from 0 (greedy) to 1000",
            self.0
        )
    }
}

impl std::error::Error for TemperatureError {}

/// Parses a decimal temperature (`0.8`) into thousandths, rounding to the nearest.
///
/// Refuses negative values, NaN, infinities and values above 1000; values below 0.0005
/// round to 0, which is greedy.
pub fn parse_temperature(s: &str) -> Result<Temperature, TemperatureError> {
    let err = || TemperatureError(s.to_owned());
    let t: f64 = s.trim().parse().map_err(|_| err())?;
    if !t.is_finite() || t < 0.0 || t > f64::from(MAX_TEMPERATURE_MILLI) / 1000.0 {
        return Err(err());
    }
    Ok(Temperature::from_milli((t * 1000.0).round() as u32))
}

/// The float counterpart of [`mynah_runtime::sample`]: same eligibility, top-k and tie
/// rules, probabilities `∝ e^((l − max)/T)` in f64, drawn with 53 random bits.
pub fn sample_f64(logits: &[f64], opts: &SampleOptions, rng: &mut Pcg32) -> Option<u32> {
    let eligible =
        |id: usize| id >= opts.first_char as usize || opts.stop.is_some_and(|e| e as usize == id);
    let mut ids: Vec<usize> = (0..logits.len()).filter(|&i| eligible(i)).collect();
    if opts.top_k > 0 && (opts.top_k as usize) < ids.len() {
        // Stable sort by descending logit keeps lower ids first among ties.
        ids.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
        ids.truncate(opts.top_k as usize);
        ids.sort_unstable();
    }
    let mut best: Option<usize> = None;
    for &i in &ids {
        if best.is_none_or(|b| logits[i] > logits[b]) {
            best = Some(i);
        }
    }
    let best = best?;
    if opts.temperature.is_greedy() {
        return Some(best as u32);
    }
    let t = f64::from(opts.temperature.milli()) / 1000.0;
    let max = logits[best];
    let w: Vec<f64> = ids.iter().map(|&i| ((logits[i] - max) / t).exp()).collect();
    let total: f64 = w.iter().sum();
    let u = rng.below(1 << 53) as f64 / (1u64 << 53) as f64 * total;
    let mut acc = 0.0;
    for (&i, &wi) in ids.iter().zip(&w) {
        acc += wi;
        if acc > u {
            return Some(i as u32);
        }
    }
    Some(best as u32)
}

/// A text generator over either kind of model.
pub enum Sampler<'m, 'a> {
    /// The integer runtime.
    Int(Box<Generator<'m, 'a, HostModel<'a>>>),
    /// The float reference, with the logits of the next token (empty until some token has
    /// been fed: a model without `<BOS>` before its prime).
    Float {
        /// The model.
        runner: Box<FloatRunner>,
        /// Logits of the next token.
        logits: Vec<f64>,
    },
}

impl fmt::Debug for Sampler<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sampler::Int(_) => "Sampler::Int",
            Sampler::Float { .. } => "Sampler::Float",
        })
    }
}

impl<'m, 'a> Sampler<'m, 'a> {
    /// A generator over the integer runtime, at the start of a sequence.
    pub fn int(model: &'m HostModel<'a>) -> Self {
        Sampler::Int(Box::new(Generator::new(model)))
    }

    /// A generator over the float reference, at the start of a sequence.
    pub fn float(model: FloatModel) -> Self {
        let mut s = Sampler::Float {
            runner: Box::new(FloatRunner::new(model)),
            logits: Vec::new(),
        };
        s.reset();
        s
    }

    /// Back to the start of a sequence (zero state, `<BOS>` fed if the model has one).
    pub fn reset(&mut self) {
        match self {
            Sampler::Int(g) => g.reset(),
            Sampler::Float { runner, logits } => {
                runner.reset();
                let bos = runner.model().vocab.bos();
                // <BOS> is below every vocab_size.
                *logits = match bos {
                    Some(b) => runner.step(b).map(<[f64]>::to_vec).unwrap_or_default(),
                    None => Vec::new(),
                };
            }
        }
    }

    /// Feeds every character of `text`; an unknown character is an error naming it, and
    /// then nothing is fed.
    pub fn prime(&mut self, text: &str) -> Result<(), EngineError> {
        match self {
            Sampler::Int(g) => Ok(g.prime(text)?),
            Sampler::Float { runner, logits } => {
                let vocab = &runner.model().vocab;
                let mut ids = Vec::new();
                for (index, ch) in text.chars().enumerate() {
                    match vocab.id_of(ch) {
                        Some(id) => ids.push(id),
                        None => return Err(RuntimeError::UnknownChar { ch, index }.into()),
                    }
                }
                for id in ids {
                    *logits = runner.step(id)?.to_vec();
                }
                Ok(())
            }
        }
    }

    /// Samples the next token; a character is fed back and returned.
    pub fn next(&mut self, opts: &SampleOptions, rng: &mut Pcg32) -> Result<Next, EngineError> {
        match self {
            Sampler::Int(g) => Ok(g.next(opts, rng)?),
            Sampler::Float { runner, logits } => {
                if logits.is_empty() {
                    return Err(RuntimeError::NeedsPrime.into());
                }
                let token = sample_f64(logits, opts, rng).unwrap_or(opts.first_char);
                if Some(token) == opts.stop {
                    return Ok(Next::Eos);
                }
                let ch = runner.model().vocab.char_of(token).unwrap_or('\u{FFFD}');
                *logits = runner.step(token)?.to_vec();
                Ok(Next::Char(ch))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperatures() {
        assert_eq!(parse_temperature("0.8").unwrap().milli(), 800);
        assert_eq!(parse_temperature("0").unwrap(), Temperature::GREEDY);
        assert_eq!(parse_temperature("1e-4").unwrap(), Temperature::GREEDY);
        assert_eq!(parse_temperature(" 1.25 ").unwrap().milli(), 1250);
        for bad in ["-0.1", "NaN", "nan", "inf", "-inf", "", "x", "1001"] {
            assert!(parse_temperature(bad).is_err(), "{bad}");
        }
        assert!(parse_temperature("-0.5")
            .unwrap_err()
            .to_string()
            .contains("-0.5"));
    }

    #[test]
    fn float_sampler_rules_match_the_integer_sampler() {
        let logits = [9.0, 9.0, 9.0, 1.0, 5.0, 5.0, 5.0, 0.5];
        let mut rng = Pcg32::new(5);
        let trained = |temperature| SampleOptions {
            temperature,
            top_k: 0,
            first_char: 3,
            stop: None,
        };
        let opts = trained(Temperature::GREEDY);
        assert_eq!(sample_f64(&logits, &opts, &mut rng), Some(4));
        let mut opts = trained(Temperature::ONE);
        opts.top_k = 2;
        for _ in 0..100 {
            let t = sample_f64(&logits, &opts, &mut rng).unwrap();
            assert!(t == 4 || t == 5);
        }
    }
}
