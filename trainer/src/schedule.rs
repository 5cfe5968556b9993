//! The learning-rate schedule and the stop conditions of the current phase: linear warm-up,
//! then a cosine from the peak to a tenth of it over the phase, by steps or by time,
//! whichever is further along. A run's first phase starts at step 0 with `--lr` and
//! `--warmup`; a fine-tuning phase (a new `--qat` on `--resume`) starts where it was begun,
//! at its own peak, without warm-up (Adam's moments are warm), and its `--steps`,
//! `--epochs` and `--time-limit` count from its start.

use crate::config::{TrainConfig, MIN_LR_FRACTION};

/// The schedule of a run's current phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// The step the phase starts after.
    pub start_step: u64,
    /// The run's training seconds at its start.
    pub start_secs: f64,
    /// Steps of the phase when bounded by steps or epochs.
    pub steps: Option<u64>,
    /// Seconds of the phase when bounded by time.
    pub limit_secs: Option<f64>,
    /// Warm-up steps.
    pub warmup: u64,
    /// Peak learning rate.
    pub peak: f64,
}

impl Schedule {
    /// The current phase of `config`, with `steps_per_epoch` batches per epoch.
    pub fn of(config: &TrainConfig, steps_per_epoch: u64) -> Schedule {
        let steps = stop_steps(config, steps_per_epoch);
        let limit_secs = config.time_limit.map(|m| m * 60.0);
        match config.levers.phases.last() {
            None => Schedule {
                start_step: 0,
                start_secs: 0.0,
                steps,
                limit_secs,
                warmup: steps.map_or(config.warmup, |t| config.warmup.min(t / 10)),
                peak: config.lr,
            },
            Some(p) => Schedule {
                start_step: p.start_step,
                start_secs: p.start_secs,
                steps,
                limit_secs,
                warmup: 0,
                peak: p.lr,
            },
        }
    }

    /// Fraction of the phase done after `step` steps and `elapsed` seconds of the run.
    pub fn progress(&self, step: u64, elapsed: f64) -> f64 {
        progress(
            step.saturating_sub(self.start_step),
            self.steps,
            elapsed - self.start_secs,
            self.limit_secs,
        )
    }

    /// The learning rate of the step after `step`.
    pub fn lr(&self, step: u64, progress: f64) -> f64 {
        learning_rate(
            self.peak,
            step.saturating_sub(self.start_step),
            self.warmup,
            progress,
        )
    }

    /// The step the phase ends at, when bounded by steps or epochs.
    pub fn end_step(&self) -> Option<u64> {
        self.steps.map(|s| self.start_step + s)
    }
}

/// The step count at which the phase ends (steps or epochs, whichever comes first).
fn stop_steps(config: &TrainConfig, steps_per_epoch: u64) -> Option<u64> {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let by_epochs = config
        .epochs
        .map(|e| ((e * steps_per_epoch as f64).ceil() as u64).max(1));
    match (config.steps, by_epochs) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Fraction of the run done: the larger of steps and time when both bound it.
#[allow(clippy::cast_precision_loss)]
fn progress(step: u64, total: Option<u64>, elapsed: f64, limit: Option<f64>) -> f64 {
    let by_steps = total.map_or(0.0, |t| step as f64 / t.max(1) as f64);
    let by_time = limit.map_or(0.0, |l| elapsed / l);
    by_steps.max(by_time)
}

/// Linear warm-up, then cosine decay from `peak` to `MIN_LR_FRACTION · peak` over the run.
#[allow(clippy::cast_precision_loss)]
pub fn learning_rate(peak: f64, step: u64, warmup: u64, progress: f64) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let p = progress.clamp(0.0, 1.0);
    let min = peak * MIN_LR_FRACTION;
    min + (peak - min) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;
    use crate::levers::Phase;

    #[test]
    fn schedule_warms_up_then_decays_to_a_tenth() {
        assert!((learning_rate(1.0, 0, 10, 0.0) - 0.1).abs() < 1e-12);
        assert!((learning_rate(1.0, 9, 10, 0.0) - 1.0).abs() < 1e-12);
        assert!((learning_rate(1.0, 10, 10, 0.0) - 1.0).abs() < 1e-12);
        assert!((learning_rate(1.0, 50, 10, 0.5) - 0.55).abs() < 1e-12);
        assert!((learning_rate(1.0, 99, 10, 1.0) - 0.1).abs() < 1e-12);
        assert!((learning_rate(1.0, 99, 10, 3.0) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn progress_takes_the_larger_bound() {
        assert!((progress(50, Some(100), 10.0, Some(100.0)) - 0.5).abs() < 1e-12);
        assert!((progress(5, Some(100), 60.0, Some(100.0)) - 0.6).abs() < 1e-12);
        assert!((progress(5, None, 60.0, Some(120.0)) - 0.5).abs() < 1e-12);
    }

    /// A time budget: the cosine follows the clock, the warm-up stays in steps.
    #[test]
    fn a_time_budget_anneals_by_the_clock() {
        let o = Overrides {
            time_limit: Some(10.0),
            ..Overrides::default()
        };
        let c = TrainConfig::from_overrides(&o, "x".into()).unwrap();
        let s = Schedule::of(&c, 100);
        assert_eq!((s.steps, s.limit_secs, s.warmup), (None, Some(600.0), 100));
        assert!((s.lr(5, s.progress(5, 1.0)) - c.lr * 0.06).abs() < 1e-12);
        assert!((s.lr(500, s.progress(500, 300.0)) - c.lr * 0.55).abs() < 1e-12);
        assert!(s.progress(100_000, 599.0) < 1.0 && s.progress(3, 600.0) >= 1.0);
        assert!((s.lr(900, s.progress(900, 600.0)) - c.lr * 0.1).abs() < 1e-12);
    }

    /// A phase counts its steps, epochs and time from its start, peaks at its own rate and
    /// does not warm up.
    #[test]
    fn a_phase_has_its_own_schedule() {
        let o = Overrides {
            steps: Some(200),
            ..Overrides::default()
        };
        let mut c = TrainConfig::from_overrides(&o, "x".into()).unwrap();
        c.levers.phases.push(Phase {
            start_step: 3000,
            start_secs: 50.0,
            qat: None,
            lr: 1e-3,
        });
        let s = Schedule::of(&c, 100);
        assert_eq!((s.end_step(), s.warmup), (Some(3200), 0));
        assert!((s.lr(3000, s.progress(3000, 50.0)) - 1e-3).abs() < 1e-15);
        assert!((s.progress(3100, 60.0) - 0.5).abs() < 1e-12);
        assert!((s.lr(3200, s.progress(3200, 70.0)) - 1e-4).abs() < 1e-15);
        c.steps = None;
        c.epochs = Some(0.5);
        c.time_limit = Some(1.0);
        let s = Schedule::of(&c, 100);
        assert_eq!(s.end_step(), Some(3050));
        assert!((s.progress(3010, 80.0) - 0.5).abs() < 1e-12);
    }
}
