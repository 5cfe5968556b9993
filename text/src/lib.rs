//! Characters for mynah: the vocabulary, corpora in three modes, the train/validation split
//! and the token sequences that the evaluation convention scores.
//!
//! Both the trainer (`mynah-train eval`) and the tools (`mynah eval`) score exactly what
//! [`Part::eval_sequences`] returns, so the two agree by construction.
//!
//! # Token ids
//! `PAD = 0`, `BOS = 1`, `EOS = 2`, then the characters of the training part sorted by
//! Unicode scalar value get ids 3, 4, ...
//!
//! # Evaluation convention
//! A text is scored by feeding `<BOS>` then every character with the hidden state carried
//! through (starting from a zero state), scoring the log-probability of each next character;
//! in record modes each record is `<BOS> chars <EOS>`, starts from a zero state and `<EOS>`
//! is scored too. nats/char = total negative log-likelihood / scored symbols.
//!
//! ```
//! use mynah_text::{scored_symbols, Corpus, Split, UnkPolicy, Vocab, BOS, EOS};
//! let corpus = Corpus::from_records((0..10).map(|i| format!("tweet {i}")).collect()).unwrap();
//! let vocab = Vocab::from_texts(corpus.part(Split::Train).texts()).unwrap();
//! // The last 10% of the records: "tweet 9", whose "9" is not in the training part.
//! let val = corpus.part(Split::Val).eval_sequences(&vocab, UnkPolicy::Skip).unwrap();
//! assert_eq!(val.len(), 1);
//! assert_eq!(val[0].first(), Some(&BOS));
//! assert_eq!(val[0].last(), Some(&EOS));
//! assert_eq!(scored_symbols(&val), "tweet ".len() + 1);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod corpus;
mod error;
mod vocab;

pub use corpus::{eval_sequences, scored_symbols, Corpus, Encoded, Mode, Part, Split};
pub use error::TextError;
pub use vocab::{UnkPolicy, Vocab};

/// Padding: fills batches of records of different lengths; never scored.
pub const PAD: u32 = 0;
/// Beginning of a sequence: fed first, from a zero state.
pub const BOS: u32 = 1;
/// End of a record (record modes): scored, and sampling stops there.
pub const EOS: u32 = 2;
/// The id of the first (smallest) character.
pub const FIRST_CHAR_ID: u32 = 3;
/// At most this many characters: `vocab_size` (specials included) must fit the model
/// file's limit of 65535.
pub const MAX_CHARS: usize = 65535 - FIRST_CHAR_ID as usize;
