//! One module per subcommand: each has `Args` (clap) and `run`.

pub mod bench;
pub mod eval;
pub mod inspect;
pub mod quantize;
pub mod sample;

/// The corpus mode of `--mode` (with `--csv-column`, `--csv-header`); without it, the
/// model's own: lines for records models, else text.
pub(crate) fn corpus_mode(
    mode: Option<&str>,
    csv_column: usize,
    csv_header: bool,
    records: bool,
) -> anyhow::Result<mynah_text::Mode> {
    use mynah_text::Mode;
    Ok(match mode {
        Some("text") => Mode::Text,
        Some("lines") => Mode::Lines,
        Some("csv") => Mode::Csv {
            column: csv_column,
            header: csv_header,
        },
        Some(other) => anyhow::bail!("unknown --mode {other}"),
        None if records => Mode::Lines,
        None => Mode::Text,
    })
}
