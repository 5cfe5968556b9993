//! `DIR/metrics.csv` and `DIR/loss.png`.
//!
//! `metrics.csv` has the header `step,train_loss,val_loss,lr,chars_per_sec` and one row every
//! `--log-every` steps plus one at every validation. `train_loss` is the mean training loss
//! (nats/char) of the steps since the previous row, `val_loss` is empty except on rows of a
//! validation, `lr` is the learning rate of the row's last step and `chars_per_sec` the
//! training throughput since the previous row (validation time excluded).

use crate::params::write_atomic;
use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Once;

/// The CSV header.
pub const HEADER: &str = "step,train_loss,val_loss,lr,chars_per_sec";

/// One row of `metrics.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Step count after the row's last step.
    pub step: u64,
    /// Mean training loss since the previous row.
    pub train_loss: Option<f64>,
    /// Validation loss at this step.
    pub val_loss: Option<f64>,
    /// Learning rate of the last step.
    pub lr: f64,
    /// Training characters per second since the previous row.
    pub chars_per_sec: f64,
}

impl Row {
    fn to_csv(&self) -> String {
        let opt = |x: Option<f64>| x.map(|v| format!("{v:.6}")).unwrap_or_default();
        format!(
            "{},{},{},{:.6e},{:.0}",
            self.step,
            opt(self.train_loss),
            opt(self.val_loss),
            self.lr,
            self.chars_per_sec
        )
    }

    fn parse(line: &str) -> Option<Row> {
        let f: Vec<&str> = line.split(',').collect();
        let opt = |s: &str| {
            if s.is_empty() {
                Some(None)
            } else {
                s.parse().ok().map(Some)
            }
        };
        match f.as_slice() {
            [step, train, val, lr, cps] => Some(Row {
                step: step.parse().ok()?,
                train_loss: opt(train)?,
                val_loss: opt(val)?,
                lr: lr.parse().ok()?,
                chars_per_sec: cps.parse().ok()?,
            }),
            _ => None,
        }
    }
}

/// The metrics of a run directory.
pub struct Metrics {
    csv: PathBuf,
    png: PathBuf,
    rows: Vec<Row>,
}

impl Metrics {
    /// Starts `DIR/metrics.csv` afresh.
    pub fn create(dir: &Path) -> Result<Metrics> {
        let m = Metrics {
            csv: dir.join("metrics.csv"),
            png: dir.join("loss.png"),
            rows: Vec::new(),
        };
        m.rewrite()?;
        Ok(m)
    }

    /// Continues `DIR/metrics.csv` of a resumed run, dropping rows after `step` (written by
    /// the interrupted session after its last checkpoint).
    pub fn resume(dir: &Path, step: u64) -> Result<Metrics> {
        let csv = dir.join("metrics.csv");
        let text = std::fs::read_to_string(&csv).unwrap_or_default();
        let rows = text
            .lines()
            .skip(1)
            .filter_map(Row::parse)
            .filter(|r| r.step <= step)
            .collect();
        let m = Metrics {
            csv,
            png: dir.join("loss.png"),
            rows,
        };
        m.rewrite()?;
        Ok(m)
    }

    fn rewrite(&self) -> Result<()> {
        let mut text = format!("{HEADER}\n");
        for r in &self.rows {
            text.push_str(&r.to_csv());
            text.push('\n');
        }
        write_atomic(&self.csv, text.as_bytes())
    }

    /// Appends a row to the file, or completes the last row when it has the same step (a
    /// final validation right after a logging step); returns the row as written.
    pub fn push(&mut self, row: Row) -> Result<Row> {
        if let Some(last) = self.rows.last_mut().filter(|r| r.step == row.step) {
            last.val_loss = row.val_loss.or(last.val_loss);
            if row.train_loss.is_some() {
                last.train_loss = row.train_loss;
                last.chars_per_sec = row.chars_per_sec;
            }
            let merged = last.clone();
            self.rewrite()?;
            return Ok(merged);
        }
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.csv)
            .with_context(|| format!("cannot append to {}", self.csv.display()))?;
        writeln!(f, "{}", row.to_csv())
            .with_context(|| format!("cannot append to {}", self.csv.display()))?;
        self.rows.push(row.clone());
        Ok(row)
    }

    /// Redraws `loss.png` from all rows (atomically, through the one atomic writer:
    /// plotters encodes PNGs only into files, so it draws into a scratch file first).
    pub fn plot(&self) -> Result<()> {
        let scratch = tempfile::Builder::new()
            .suffix(".png")
            .tempfile()
            .context("cannot create a scratch file to draw loss.png")?;
        draw(&self.rows, scratch.path())
            .with_context(|| format!("cannot draw {}", self.png.display()))?;
        let png = std::fs::read(scratch.path())
            .with_context(|| format!("cannot draw {}", self.png.display()))?;
        write_atomic(&self.png, &png)
    }
}

static FONT: Once = Once::new();

/// Plotters' `ab_glyph` backend draws text only with fonts registered by the program; the
/// font comes from a crate, so no system font is needed.
fn register_font() {
    FONT.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            plotters::style::FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

fn draw(rows: &[Row], path: &Path) -> Result<()> {
    use plotters::prelude::*;
    register_font();
    #[allow(clippy::cast_precision_loss)]
    let train: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| Some((r.step as f64, r.train_loss?)))
        .collect();
    #[allow(clippy::cast_precision_loss)]
    let val: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| Some((r.step as f64, r.val_loss?)))
        .collect();
    let all = train.iter().chain(&val);
    let x_max = all.clone().map(|p| p.0).fold(1.0, f64::max);
    let y_max = all.clone().map(|p| p.1).fold(0.0, f64::max).max(1e-3);
    let y_min = all.map(|p| p.1).fold(y_max, f64::min);
    let pad = ((y_max - y_min) * 0.05).max(1e-3);

    let root = BitMapBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("mynah-train: loss", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, (y_min - pad).max(0.0)..y_max + pad)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc("nats/char")
        .label_style(("sans-serif", 14))
        .draw()?;
    chart
        .draw_series(LineSeries::new(train, BLUE.stroke_width(2)))?
        .label("train")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(val.clone(), RED.stroke_width(2)))?
        .label("validation")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
    chart.draw_series(val.into_iter().map(|p| Circle::new(p, 3, RED.filled())))?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trip_resume_and_plot() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Metrics::create(dir.path()).unwrap();
        for step in 1..=4u64 {
            m.push(Row {
                step: step * 10,
                train_loss: Some(3.0 / step as f64),
                val_loss: (step % 2 == 0).then_some(2.0 / step as f64),
                lr: 1e-3,
                chars_per_sec: 1234.0,
            })
            .unwrap();
        }
        m.plot().unwrap();
        let png = std::fs::read(dir.path().join("loss.png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        let text = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
        assert!(text.starts_with("step,train_loss,val_loss,lr,chars_per_sec\n10,3.000000,,"));
        let merged = m
            .push(Row {
                step: 40,
                train_loss: None,
                val_loss: Some(0.5),
                lr: 1e-3,
                chars_per_sec: 0.0,
            })
            .unwrap();
        assert_eq!(merged.train_loss, Some(0.75));
        assert_eq!(merged.val_loss, Some(0.5));
        let text = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
        assert_eq!(text.lines().count(), 5);
        assert!(
            text.ends_with("40,0.750000,0.500000,1.000000e-3,1234\n"),
            "{text}"
        );
        let m = Metrics::resume(dir.path(), 25).unwrap();
        assert_eq!(m.rows.len(), 2);
        let text = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
        assert_eq!(text.lines().count(), 3);
    }
}
