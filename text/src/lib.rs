//! Characters for mynah: the vocabulary, corpora in three modes, the train/validation split
//! and the token sequences that the evaluation convention scores.
//!
//! Both the trainer (`mynah-train eval`) and the tools (`mynah eval`) score exactly what
//! [`Part::eval_sequences`] returns, so the two agree by construction.
//!
//! # Token ids
//! mynah trains with `PAD = 0`, `BOS = 1`, `EOS = 2`, then the characters of the whole
//! corpus sorted by Unicode scalar value get ids 3, 4, ... Models imported from PyTorch may
//! have other special tokens, or none (see [`Vocab`]).
//!
//! # Evaluation convention
//! A text is scored by feeding `<BOS>` then every character with the hidden state carried
//! through (starting from a zero state), scoring the log-probability of each next character;
//! in record modes each record is `<BOS> chars <EOS>`, starts from a zero state and `<EOS>`
//! is scored too. nats/char = total negative log-likelihood / scored symbols. A model without
//! `<BOS>` starts from a zero state fed the first character, and characters 2..n are
//! scored; one without `<EOS>` scores no end of record.
//!
//! ```
//! use mynah_text::{scored_symbols, Corpus, Split, UnkPolicy, Vocab};
//! let corpus = Corpus::from_records((0..10).map(|i| format!("tweet {i}")).collect()).unwrap();
//! let vocab = Vocab::from_texts(corpus.part(Split::Train).texts()).unwrap();
//! // The last 10% of the records: "tweet 9", whose "9" is not in the training part.
//! let val = corpus.part(Split::Val).eval_sequences(&vocab, UnkPolicy::Skip).unwrap();
//! assert_eq!(val.len(), 1);
//! assert_eq!(val[0].first(), vocab.bos().as_ref());
//! assert_eq!(val[0].last(), vocab.eos().as_ref());
//! assert_eq!(scored_symbols(&val), "tweet ".len() + 1);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod corpus;
mod error;
mod vocab;

pub use corpus::{eval_sequences, scored_symbols, Corpus, Encoded, Mode, ModeKind, Part, Split};
pub use error::TextError;
pub use mynah_format::{Special, Specials};
pub use vocab::{Reordered, UnkPolicy, Vocab};

/// At most this many characters: `vocab_size` with `<PAD>`, `<BOS>`, `<EOS>` must fit the
/// model file's limit of 65535.
pub const MAX_CHARS: usize = 65535 - 3;
