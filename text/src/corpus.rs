//! Reading corpora, splitting them, and the token streams that evaluation scores.

use crate::{TextError, UnkPolicy, Vocab};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The name of a corpus mode, as `--mode` and configurations spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModeKind {
    /// One stream of characters.
    Text,
    /// One record per line.
    Lines,
    /// One record per CSV field of a column.
    Csv,
}

impl ModeKind {
    /// `text`, `lines` or `csv`.
    pub fn name(self) -> &'static str {
        match self {
            ModeKind::Text => "text",
            ModeKind::Lines => "lines",
            ModeKind::Csv => "csv",
        }
    }

    /// The mode, with the CSV options (ignored unless `csv`).
    pub fn with(self, csv_column: usize, csv_header: bool) -> Mode {
        match self {
            ModeKind::Text => Mode::Text,
            ModeKind::Lines => Mode::Lines,
            ModeKind::Csv => Mode::Csv {
                column: csv_column,
                header: csv_header,
            },
        }
    }

    /// Whether this mode yields records.
    pub fn is_records(self) -> bool {
        self != ModeKind::Text
    }
}

impl fmt::Display for ModeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModeKind {
    type Err = TextError;
    fn from_str(s: &str) -> Result<Self, TextError> {
        match s {
            "text" => Ok(ModeKind::Text),
            "lines" => Ok(ModeKind::Lines),
            "csv" => Ok(ModeKind::Csv),
            _ => Err(TextError::BadMode {
                value: s.to_owned(),
            }),
        }
    }
}

/// How a corpus file is cut into training material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The whole file is one stream of characters (trained on fixed-length windows).
    Text,
    /// Every non-empty line is a record (a trailing `\r` is removed; empty lines are skipped).
    Lines,
    /// One column of a CSV file; every non-empty field is a record (quoted fields may hold
    /// newlines). Empty fields are skipped.
    Csv {
        /// The column, counted from 0.
        column: usize,
        /// Whether the first row is a header (and skipped).
        header: bool,
    },
}

impl Mode {
    /// Whether this mode yields records (`<BOS> chars <EOS>`) rather than one stream.
    pub fn is_records(self) -> bool {
        !matches!(self, Mode::Text)
    }

    /// `text`, `lines` or `csv`.
    pub fn name(self) -> &'static str {
        self.kind().name()
    }

    /// The mode without its CSV options.
    pub fn kind(self) -> ModeKind {
        match self {
            Mode::Text => ModeKind::Text,
            Mode::Lines => ModeKind::Lines,
            Mode::Csv { .. } => ModeKind::Csv,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mode::Csv { column, header } => {
                write!(
                    f,
                    "csv (column {column}{})",
                    if *header { ", header" } else { "" }
                )
            }
            m => f.write_str(m.name()),
        }
    }
}

/// A part of a corpus, as chosen for evaluation (`--split`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The first 90% (of characters in text mode, of records in record modes).
    Train,
    /// The last 10%.
    Val,
    /// Everything.
    All,
}

impl Split {
    /// `train`, `val` or `all`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::All => "all",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Split {
    type Err = TextError;
    fn from_str(s: &str) -> Result<Self, TextError> {
        match s {
            "train" => Ok(Split::Train),
            "val" => Ok(Split::Val),
            "all" => Ok(Split::All),
            _ => Err(TextError::BadSplit {
                value: s.to_owned(),
            }),
        }
    }
}

/// Borrowed view of one [`Split`] of a corpus, with the offsets needed for error messages.
#[derive(Debug, Clone, Copy)]
pub enum Part<'a> {
    /// A piece of a text-mode stream.
    Text {
        /// The characters.
        text: &'a str,
        /// How many characters of the corpus come before it.
        first_char: usize,
    },
    /// Some consecutive records.
    Records {
        /// The records.
        records: &'a [String],
        /// Index of the first of them in the corpus.
        first_record: usize,
    },
}

impl<'a> Part<'a> {
    /// The strings of this part (one for text, one per record), e.g. to build a vocabulary.
    pub fn texts(&self) -> Vec<&'a str> {
        match *self {
            Part::Text { text, .. } => vec![text],
            Part::Records { records, .. } => records.iter().map(String::as_str).collect(),
        }
    }

    /// Token ids without specials: one stream in text mode, one list per record otherwise.
    pub fn encode(&self, vocab: &Vocab, unk: UnkPolicy) -> Result<Encoded, TextError> {
        match *self {
            Part::Text { text, first_char } => Ok(Encoded::Stream(
                vocab.encode_at(text, unk, first_char, None)?,
            )),
            Part::Records {
                records,
                first_record,
            } => records
                .iter()
                .enumerate()
                .map(|(i, r)| vocab.encode_at(r, unk, 0, Some(first_record.saturating_add(i))))
                .collect::<Result<_, _>>()
                .map(Encoded::Records),
        }
    }

    /// The token sequences that the evaluation convention scores; see [`eval_sequences`].
    pub fn eval_sequences(
        &self,
        vocab: &Vocab,
        unk: UnkPolicy,
    ) -> Result<Vec<Vec<u32>>, TextError> {
        Ok(eval_sequences(self.encode(vocab, unk)?, vocab))
    }
}

/// Token ids of a [`Part`], without specials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encoded {
    /// Text mode: one stream.
    Stream(Vec<u32>),
    /// Record modes: one list per record.
    Records(Vec<Vec<u32>>),
}

/// The sequences the evaluation convention scores.
///
/// Text mode: one sequence `[BOS, c1, ..., cn]`; record modes: one `[BOS, c1, ..., cn, EOS]`
/// per record. Each sequence starts from a zero hidden state and carries it through; every
/// token after the first is scored given all tokens before it, so a sequence of length `L`
/// scores `L - 1` symbols (see [`scored_symbols`]).
///
/// A vocabulary without `<BOS>` (an imported model's) starts each sequence at its first
/// character, which is fed but not scored; one without `<EOS>` ends records at their last
/// character.
pub fn eval_sequences(encoded: Encoded, vocab: &Vocab) -> Vec<Vec<u32>> {
    let wrap = |ids: Vec<u32>, end: Option<u32>| {
        let mut seq = Vec::with_capacity(ids.len().saturating_add(2));
        seq.extend(vocab.bos());
        seq.extend(ids);
        seq.extend(end);
        seq
    };
    match encoded {
        Encoded::Stream(ids) => vec![wrap(ids, None)],
        Encoded::Records(records) => records
            .into_iter()
            .map(|ids| wrap(ids, vocab.eos()))
            .collect(),
    }
}

/// How many symbols [`eval_sequences`] output scores: the `chars` of the convention.
pub fn scored_symbols(sequences: &[Vec<u32>]) -> usize {
    sequences.iter().map(|s| s.len().saturating_sub(1)).sum()
}

#[derive(Debug, Clone)]
enum Data {
    Text {
        text: String,
        /// Characters in `text`.
        chars: usize,
        /// Byte offset where the validation part starts.
        split_byte: usize,
        /// Characters before `split_byte`.
        split_char: usize,
    },
    Records(Vec<String>),
}

/// A loaded corpus.
///
/// ```
/// use mynah_text::{Corpus, Mode, Split, UnkPolicy, Vocab};
/// let corpus = Corpus::from_text("0123456789".into()).unwrap();
/// let train = corpus.part(Split::Train);
/// let vocab = Vocab::from_texts(train.texts()).unwrap();
/// assert_eq!(vocab.chars().len(), 9);
/// let val = corpus.part(Split::Val);
/// // "9" was never seen in training.
/// assert!(val.eval_sequences(&vocab, UnkPolicy::Error).is_err());
/// assert_eq!(val.eval_sequences(&vocab, UnkPolicy::Skip).unwrap(), vec![vec![1]]);
/// ```
#[derive(Debug, Clone)]
pub struct Corpus {
    path: PathBuf,
    mode: Mode,
    data: Data,
}

impl Corpus {
    /// Reads `path` in `mode`. The file must be UTF-8 and must hold at least two characters
    /// (text mode) or two records, so that training and validation parts are both non-empty.
    pub fn load(path: &Path, mode: Mode) -> Result<Corpus, TextError> {
        let bytes = std::fs::read(path).map_err(|source| TextError::Read {
            path: path.to_owned(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|e| TextError::InvalidUtf8 {
            path: path.to_owned(),
            offset: e.utf8_error().valid_up_to(),
        })?;
        Self::from_string(path.to_owned(), mode, text)
    }

    /// A text-mode corpus from memory (its "path" is `<memory>`).
    pub fn from_text(text: String) -> Result<Corpus, TextError> {
        Self::from_string(PathBuf::from("<memory>"), Mode::Text, text)
    }

    /// A record-mode (`lines`) corpus from memory; records are taken as they are.
    pub fn from_records(records: Vec<String>) -> Result<Corpus, TextError> {
        Self::with_records(PathBuf::from("<memory>"), Mode::Lines, records)
    }

    fn from_string(path: PathBuf, mode: Mode, text: String) -> Result<Corpus, TextError> {
        if text.is_empty() {
            return Err(TextError::EmptyCorpus { path });
        }
        let records = match mode {
            Mode::Text => {
                let chars = text.chars().count();
                if chars < 2 {
                    return Err(TextError::TooSmall {
                        path,
                        count: chars,
                        unit: "character(s)",
                    });
                }
                let split_char = train_count(chars);
                let split_byte = text
                    .char_indices()
                    .nth(split_char)
                    .map_or(text.len(), |(b, _)| b);
                return Ok(Corpus {
                    path,
                    mode,
                    data: Data::Text {
                        text,
                        chars,
                        split_byte,
                        split_char,
                    },
                });
            }
            Mode::Lines => text
                .split('\n')
                .map(|l| l.strip_suffix('\r').unwrap_or(l))
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            Mode::Csv { column, header } => csv_records(&path, &text, column, header)?,
        };
        Self::with_records(path, mode, records)
    }

    fn with_records(path: PathBuf, mode: Mode, records: Vec<String>) -> Result<Corpus, TextError> {
        if records.is_empty() {
            return Err(TextError::NoRecords {
                path,
                mode: mode.name(),
            });
        }
        if records.len() < 2 {
            return Err(TextError::TooSmall {
                path,
                count: records.len(),
                unit: "record(s)",
            });
        }
        Ok(Corpus {
            path,
            mode,
            data: Data::Records(records),
        })
    }

    /// The file this corpus was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The mode it was read in.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Characters in the whole corpus (record separators not counted).
    pub fn char_count(&self) -> usize {
        match &self.data {
            Data::Text { chars, .. } => *chars,
            Data::Records(r) => r.iter().map(|s| s.chars().count()).sum(),
        }
    }

    /// Number of records (1 in text mode).
    pub fn record_count(&self) -> usize {
        match &self.data {
            Data::Text { .. } => 1,
            Data::Records(r) => r.len(),
        }
    }

    /// A 64-bit FNV-1a hash of the corpus as read (mode-dependent), to notice a corpus that
    /// changed between a run and its resumption.
    pub fn fingerprint(&self) -> u64 {
        let mut h = Fnv::default();
        match &self.data {
            Data::Text { text, .. } => h.write(text.as_bytes()),
            Data::Records(records) => {
                for r in records {
                    h.write(r.as_bytes());
                    // 0xFF never occurs in UTF-8, so record boundaries are unambiguous.
                    h.write(&[0xFF]);
                }
            }
        }
        h.0
    }

    /// The vocabulary mynah trains with: `<PAD>`, `<BOS>`, `<EOS>` and every character of
    /// the whole corpus (as nanoGPT and char-rnn build it), so that no character of the
    /// validation part is unknown.
    pub fn vocab(&self) -> Result<Vocab, TextError> {
        Vocab::from_texts(self.part(Split::All).texts())
    }

    /// One split. Text mode splits at character `⌊0.9·n⌋` (nanoGPT), record modes after
    /// record `⌊0.9·n⌋`; both parts are non-empty because a corpus has at least 2 of them.
    pub fn part(&self, split: Split) -> Part<'_> {
        match &self.data {
            Data::Text {
                text,
                split_byte,
                split_char,
                ..
            } => match split {
                Split::Train => Part::Text {
                    text: &text[..*split_byte],
                    first_char: 0,
                },
                Split::Val => Part::Text {
                    text: &text[*split_byte..],
                    first_char: *split_char,
                },
                Split::All => Part::Text {
                    text,
                    first_char: 0,
                },
            },
            Data::Records(records) => {
                let n = train_count(records.len());
                match split {
                    Split::Train => Part::Records {
                        records: &records[..n],
                        first_record: 0,
                    },
                    Split::Val => Part::Records {
                        records: &records[n..],
                        first_record: n,
                    },
                    Split::All => Part::Records {
                        records,
                        first_record: 0,
                    },
                }
            }
        }
    }
}

/// `⌊0.9·n⌋`, exactly like Python's `int(n * 0.9)` for every realistic `n`, at least 1.
fn train_count(n: usize) -> usize {
    let t = u128::try_from(n).unwrap_or(u128::MAX) * 9 / 10;
    usize::try_from(t)
        .unwrap_or(usize::MAX)
        .clamp(1, n.saturating_sub(1).max(1))
}

fn csv_records(
    path: &Path,
    text: &str,
    column: usize,
    header: bool,
) -> Result<Vec<String>, TextError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(header)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut row: u64 = 0;
    loop {
        let more = reader
            .read_record(&mut record)
            .map_err(|e| TextError::Csv {
                path: path.to_owned(),
                line: e.position().map(csv::Position::line),
                message: e.to_string(),
            })?;
        if !more {
            break;
        }
        row = row.saturating_add(1);
        let field = record
            .get(column)
            .ok_or_else(|| TextError::CsvColumnMissing {
                path: path.to_owned(),
                column,
                row,
                line: record.position().map_or(0, csv::Position::line),
                fields: record.len(),
            })?;
        if !field.is_empty() {
            records.push(field.to_owned());
        }
    }
    Ok(records)
}

/// 64-bit FNV-1a.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    #[test]
    fn train_count_matches_python_int_of_point_nine() {
        for n in 2..2000usize {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let py = (n as f64 * 0.9) as usize;
            assert_eq!(train_count(n), py.max(1), "n = {n}");
        }
    }

    #[test]
    fn text_split_is_by_characters() {
        let c = Corpus::from_text("ééééééééé✓".into()).unwrap();
        assert_eq!(c.char_count(), 10);
        let Part::Text { text, first_char } = c.part(Split::Val) else {
            panic!()
        };
        assert_eq!((text, first_char), ("✓", 9));
        let Part::Text { text, .. } = c.part(Split::Train) else {
            panic!()
        };
        assert_eq!(text.chars().count(), 9);
    }

    #[test]
    fn eval_sequences_follow_the_convention() {
        let c = Corpus::from_text("abcabcabca".into()).unwrap();
        let v = Vocab::from_texts(c.part(Split::Train).texts()).unwrap();
        let s = c
            .part(Split::All)
            .eval_sequences(&v, UnkPolicy::Error)
            .unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].len(), 11);
        assert_eq!(s[0][0], 1);
        assert_eq!(scored_symbols(&s), 10);

        let r = Corpus::from_records((0..10).map(|i| "ab".repeat(i + 1)).collect()).unwrap();
        let v = Vocab::from_texts(r.part(Split::Train).texts()).unwrap();
        let s = r
            .part(Split::Val)
            .eval_sequences(&v, UnkPolicy::Error)
            .unwrap();
        assert_eq!(s, vec![[vec![1], [3, 4].repeat(10), vec![2]].concat()]);
        assert_eq!(scored_symbols(&s), 21);
        let all = r
            .part(Split::All)
            .eval_sequences(&v, UnkPolicy::Error)
            .unwrap();
        assert_eq!(all.len(), 10);
    }

    #[test]
    fn without_bos_the_first_character_is_fed_not_scored() {
        use mynah_format::{Special, Specials};
        let r = Corpus::from_records(vec!["ab".into(), "ba".into(), "abab".into()]).unwrap();
        let none = Vocab::new(Specials::NONE, vec!['a', 'b']).unwrap();
        let s = r
            .part(Split::All)
            .eval_sequences(&none, UnkPolicy::Error)
            .unwrap();
        assert_eq!(s, vec![vec![0, 1], vec![1, 0], vec![0, 1, 0, 1]]);
        assert_eq!(scored_symbols(&s), 1 + 1 + 3);
        let eos_only = Vocab::new(Specials::NONE.with(Special::Eos), vec!['a', 'b']).unwrap();
        let s = r
            .part(Split::Val)
            .eval_sequences(&eos_only, UnkPolicy::Error)
            .unwrap();
        assert_eq!(s, vec![vec![1, 2, 1, 2, 0]]);
    }

    #[test]
    fn the_vocabulary_comes_from_the_whole_corpus() {
        // A 'ü' only in the validation part (a quote at the end of a CSV) is still known.
        let c = Corpus::from_text("aaaaaaaaaü".into()).unwrap();
        let v = c.vocab().unwrap();
        assert_eq!(v.chars(), ['a', 'ü']);
        assert!(c
            .part(Split::Val)
            .eval_sequences(&v, UnkPolicy::Error)
            .is_ok());
    }

    #[test]
    fn splits_and_modes_parse_strictly() {
        assert_eq!("val".parse::<Split>().unwrap(), Split::Val);
        assert_eq!("all".parse::<Split>().unwrap(), Split::All);
        let e = "validation".parse::<Split>().unwrap_err().to_string();
        assert!(e.contains("\"validation\"") && e.contains("`val`"), "{e}");
        assert_eq!(
            "csv".parse::<ModeKind>().unwrap().with(2, true),
            Mode::Csv {
                column: 2,
                header: true
            }
        );
        assert!("records".parse::<ModeKind>().is_err());
        assert_eq!(Mode::Lines.kind(), ModeKind::Lines);
    }

    #[test]
    fn unknown_char_offsets_are_global() {
        let c = Corpus::from_text("aaaaaaaaab".into()).unwrap();
        let v = Vocab::from_texts(c.part(Split::Train).texts()).unwrap();
        let e = c
            .part(Split::Val)
            .eval_sequences(&v, UnkPolicy::Error)
            .unwrap_err();
        assert!(matches!(
            e,
            TextError::UnknownChar {
                ch: 'b',
                offset: 9,
                record: None
            }
        ));
        let r = Corpus::from_records(vec!["ab".into(), "ab".into(), "abc".into()]).unwrap();
        let v = Vocab::from_texts(["ab"]).unwrap();
        let e = r
            .part(Split::Val)
            .eval_sequences(&v, UnkPolicy::Error)
            .unwrap_err();
        assert!(matches!(
            e,
            TextError::UnknownChar {
                ch: 'c',
                offset: 2,
                record: Some(2)
            }
        ));
    }

    #[test]
    fn lines_skip_empty_and_strip_cr() {
        let f = file(b"one\r\n\ntwo\n\nthree");
        let c = Corpus::load(f.path(), Mode::Lines).unwrap();
        assert_eq!(c.record_count(), 3);
        assert_eq!(c.part(Split::All).texts(), vec!["one", "two", "three"]);
        assert_eq!(c.part(Split::Val).texts(), vec!["three"]);
    }

    #[test]
    fn csv_quoted_newlines_header_and_missing_column() {
        let f = file(b"id,text\n1,\"hello,\nworld\"\n2,plain\n3,\n4,\"say \"\"hi\"\"\"\n");
        let c = Corpus::load(
            f.path(),
            Mode::Csv {
                column: 1,
                header: true,
            },
        )
        .unwrap();
        assert_eq!(
            c.part(Split::All).texts(),
            vec!["hello,\nworld", "plain", "say \"hi\""]
        );
        let c = Corpus::load(
            f.path(),
            Mode::Csv {
                column: 0,
                header: false,
            },
        )
        .unwrap();
        assert_eq!(c.record_count(), 5);

        let f = file(b"a,b\nc,d\ne\n");
        let e = Corpus::load(
            f.path(),
            Mode::Csv {
                column: 1,
                header: false,
            },
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                TextError::CsvColumnMissing {
                    column: 1,
                    row: 3,
                    line: 3,
                    fields: 1,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("--csv-column 1"), "{e}");
        let e = Corpus::load(
            f.path(),
            Mode::Csv {
                column: 7,
                header: true,
            },
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                TextError::CsvColumnMissing {
                    row: 1,
                    line: 2,
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn bad_files_give_clear_errors() {
        let e = Corpus::load(Path::new("/nonexistent/corpus.txt"), Mode::Text).unwrap_err();
        assert!(matches!(e, TextError::Read { .. }));
        assert!(e.to_string().contains("/nonexistent/corpus.txt"), "{e}");

        let f = file(b"");
        let e = Corpus::load(f.path(), Mode::Text).unwrap_err();
        assert!(matches!(e, TextError::EmptyCorpus { .. }));
        assert!(e.to_string().contains("empty"));

        let f = file(b"abc\xffdef");
        let e = Corpus::load(f.path(), Mode::Text).unwrap_err();
        assert!(matches!(e, TextError::InvalidUtf8 { offset: 3, .. }));
        assert!(e.to_string().contains("byte offset 3"), "{e}");

        let f = file(b"\n\r\n\n");
        let e = Corpus::load(f.path(), Mode::Lines).unwrap_err();
        assert!(matches!(e, TextError::NoRecords { mode: "lines", .. }));

        let f = file(b"just one line\n");
        let e = Corpus::load(f.path(), Mode::Lines).unwrap_err();
        assert!(matches!(e, TextError::TooSmall { count: 1, .. }));

        let f = file(b"x");
        let e = Corpus::load(f.path(), Mode::Text).unwrap_err();
        assert!(matches!(e, TextError::TooSmall { count: 1, .. }));
    }

    #[test]
    fn fingerprint_sees_record_boundaries() {
        let a = Corpus::from_records(vec!["ab".into(), "c".into()]).unwrap();
        let b = Corpus::from_records(vec!["a".into(), "bc".into()]).unwrap();
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
    }
}
