//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while reading a corpus or mapping characters to ids.
///
/// Every message names what the user has to look at (a path, a byte offset, a row) and, where
/// there is one, the flag that fixes it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    /// The corpus file could not be read (missing, a directory, no permission, ...).
    #[error("cannot read corpus {}: {source}", path.display())]
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The corpus is not valid UTF-8.
    #[error(
        "{}: invalid UTF-8 at byte offset {offset}; mynah reads UTF-8 text only \
         (convert the file first, e.g. `iconv -f latin1 -t utf-8`)",
        path.display()
    )]
    InvalidUtf8 {
        /// The corpus file.
        path: PathBuf,
        /// Offset of the first byte that is not part of a valid UTF-8 sequence.
        offset: usize,
    },
    /// The corpus holds no characters at all.
    #[error("{}: the corpus is empty", path.display())]
    EmptyCorpus {
        /// The corpus file.
        path: PathBuf,
    },
    /// A record mode found no (non-empty) record.
    #[error(
        "{}: no records in {mode} mode (empty lines and empty CSV fields are skipped)",
        path.display()
    )]
    NoRecords {
        /// The corpus file.
        path: PathBuf,
        /// `lines` or `csv`.
        mode: &'static str,
    },
    /// A CSV row does not have the requested column.
    #[error(
        "{}: CSV row {row} (line {line}) has {fields} field(s), so --csv-column {column} \
         (counted from 0) does not exist",
        path.display()
    )]
    CsvColumnMissing {
        /// The corpus file.
        path: PathBuf,
        /// The requested column, 0-based.
        column: usize,
        /// The data row (1-based, the header row not counted).
        row: u64,
        /// The line of the file where that row starts (1-based).
        line: u64,
        /// How many fields that row has.
        fields: usize,
    },
    /// The CSV parser rejected the file.
    #[error("{}: CSV error{}: {message}", path.display(), line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    Csv {
        /// The corpus file.
        path: PathBuf,
        /// The line where the parser stopped, when it knows it.
        line: Option<u64>,
        /// The parser's message.
        message: String,
    },
    /// Too little data to have both a training and a validation part.
    #[error(
        "{}: only {count} {unit}; at least 2 are needed so that the training part \
         (first 90%) and the validation part (last 10%) are both non-empty",
        path.display()
    )]
    TooSmall {
        /// The corpus file.
        path: PathBuf,
        /// How many characters or records there are.
        count: usize,
        /// `character(s)` or `record(s)`.
        unit: &'static str,
    },
    /// A character that is not in the vocabulary, under [`UnkPolicy::Error`](crate::UnkPolicy).
    #[error(
        "character {ch:?} (U+{code:04X}) at character offset {offset}{} is not in the \
         model's vocabulary; pass `--unk skip` to drop such characters",
        record.map(|r| format!(" of record {r}")).unwrap_or_default(),
        code = u32::from(*ch)
    )]
    UnknownChar {
        /// The character.
        ch: char,
        /// Its position in characters: from the start of the corpus in text mode, from the
        /// start of the record in record modes.
        offset: usize,
        /// The record (0-based, counted over the whole corpus) in record modes.
        record: Option<usize>,
    },
    /// More distinct characters than the model file format can hold.
    #[error(
        "the corpus has {count} distinct characters; at most {max} fit in a model",
        max = crate::MAX_CHARS
    )]
    TooManyChars {
        /// Distinct characters found.
        count: usize,
    },
    /// A vocabulary given as a list of characters is not strictly increasing or is empty.
    #[error("invalid vocabulary: {reason}")]
    BadVocab {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An entry of a vocabulary given as every id's token is neither one character nor a
    /// special token.
    #[error(
        "vocabulary entry {id} is {token:?}, which is neither one character nor a special \
         token (<PAD>, <BOS>, <EOS>, <UNK> in any letter case)"
    )]
    BadToken {
        /// Its id (its index in the list).
        id: usize,
        /// The entry.
        token: String,
    },
    /// A vocabulary given as every id's token lists one token twice.
    #[error("vocabulary entries {first} and {second} are both {token:?}")]
    DuplicateToken {
        /// The first id.
        first: usize,
        /// The second id.
        second: usize,
        /// The token.
        token: String,
    },
    /// A string that names no [`Split`](crate::Split).
    #[error("unknown split {value:?}: expected `val`, `train` or `all`")]
    BadSplit {
        /// What was given.
        value: String,
    },
    /// A string that names no corpus mode.
    #[error("unknown corpus mode {value:?}: expected `text`, `lines` or `csv`")]
    BadMode {
        /// What was given.
        value: String,
    },
    /// A string that names no [`UnkPolicy`](crate::UnkPolicy).
    #[error("unknown --unk policy {value:?}: expected `error` or `skip`")]
    BadUnkPolicy {
        /// What was given.
        value: String,
    },
}
