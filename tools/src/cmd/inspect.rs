//! `mynah inspect MODEL`: validate a model file and describe its contents.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use mynah_format::MappedModel;

/// Arguments of `mynah inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model file (.mynah).
    pub model: PathBuf,
}

/// Validates the file fully (checksum included) and prints the report to stdout.
pub fn run(args: &Args) -> Result<()> {
    let mapped = MappedModel::open(&args.model)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    mynah_tools::inspect::write_report(
        &mut out,
        &args.model.display().to_string(),
        &mapped.model(),
    )?;
    out.flush()?;
    Ok(())
}
