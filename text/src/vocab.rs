//! Characters ↔ token ids.

use crate::{TextError, MAX_CHARS};
use mynah_format::{Special, Specials};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// What to do with a character that is not in the vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnkPolicy {
    /// Fail with [`TextError::UnknownChar`] naming the character and where it is (default).
    #[default]
    Error,
    /// Drop the character: it is neither fed to the model nor scored.
    Skip,
}

impl UnkPolicy {
    /// The name used on the command line and in metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            UnkPolicy::Error => "error",
            UnkPolicy::Skip => "skip",
        }
    }
}

impl fmt::Display for UnkPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UnkPolicy {
    type Err = TextError;
    fn from_str(s: &str) -> Result<Self, TextError> {
        match s {
            "error" => Ok(UnkPolicy::Error),
            "skip" => Ok(UnkPolicy::Skip),
            _ => Err(TextError::BadUnkPolicy {
                value: s.to_owned(),
            }),
        }
    }
}

/// A character vocabulary: its special tokens, then characters sorted by Unicode scalar
/// value.
///
/// The specials present take the first ids in the order `<PAD>`, `<BOS>`, `<EOS>`, `<UNK>`
/// ([`Specials`], the model file's rule); the `i`-th character (0-based) has id
/// `specials + i`. mynah trains with `<PAD>` = 0, `<BOS>` = 1, `<EOS>` = 2; imported models
/// keep the specials they have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocab {
    specials: Specials,
    chars: Vec<char>,
}

/// A vocabulary given in a model's own id order, and how its ids map to mynah's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reordered {
    /// The vocabulary in mynah's order.
    pub vocab: Vocab,
    /// For each of mynah's ids `j`, the model's id `perm[j]`.
    pub perm: Vec<usize>,
}

impl Reordered {
    /// Whether mynah's ids are the model's own.
    pub fn is_identity(&self) -> bool {
        self.perm.iter().enumerate().all(|(i, &p)| i == p)
    }
}

impl Vocab {
    /// Every distinct character of `texts`, sorted, after `<PAD>`, `<BOS>`, `<EOS>`.
    pub fn from_texts<'a>(texts: impl IntoIterator<Item = &'a str>) -> Result<Self, TextError> {
        let mut set = BTreeSet::new();
        for text in texts {
            set.extend(text.chars());
        }
        Self::new(Specials::DEFAULT, set.into_iter().collect())
    }

    /// `<PAD>`, `<BOS>`, `<EOS>` and `chars`, which must be non-empty and strictly
    /// increasing (as stored in checkpoints and model files).
    pub fn from_chars(chars: Vec<char>) -> Result<Self, TextError> {
        Self::new(Specials::DEFAULT, chars)
    }

    /// `specials` and `chars`, which must be non-empty and strictly increasing.
    pub fn new(specials: Specials, chars: Vec<char>) -> Result<Self, TextError> {
        if chars.is_empty() {
            return Err(TextError::BadVocab {
                reason: "no characters",
            });
        }
        if chars.len() + specials.count() as usize > MAX_CHARS + 3 {
            return Err(TextError::TooManyChars { count: chars.len() });
        }
        if chars.windows(2).any(|w| w[0] >= w[1]) {
            return Err(TextError::BadVocab {
                reason: "characters are not strictly increasing",
            });
        }
        Ok(Vocab { specials, chars })
    }

    /// A vocabulary given as every id's token in the model's own order (a JSON array such
    /// as `["h", "e", "l", "o"]`, `["<unk>", "<pad>", " ", "e", ...]` or
    /// `[..., "<BOS>", "<EOS>"]`): one-character strings are characters, `<PAD>`, `<BOS>`,
    /// `<EOS>`, `<UNK>` (any letter case) are special tokens wherever they stand.
    pub fn from_tokens<S: AsRef<str>>(tokens: &[S]) -> Result<Reordered, TextError> {
        let mut specials = Specials::NONE;
        let mut special_ids = [None; 4];
        let mut chars: Vec<(char, usize)> = Vec::with_capacity(tokens.len());
        for (id, token) in tokens.iter().enumerate() {
            let token = token.as_ref();
            let mut it = token.chars();
            if let (Some(c), None) = (it.next(), it.next()) {
                chars.push((c, id));
                continue;
            }
            let s = Special::from_name(token).ok_or_else(|| TextError::BadToken {
                id,
                token: token.to_owned(),
            })?;
            let slot = &mut special_ids[Special::ALL.iter().position(|&x| x == s).unwrap_or(0)];
            if let Some(first) = *slot {
                return Err(TextError::DuplicateToken {
                    first,
                    second: id,
                    token: token.to_owned(),
                });
            }
            *slot = Some(id);
            specials = specials.with(s);
        }
        chars.sort_unstable();
        for w in chars.windows(2) {
            if w[0].0 == w[1].0 {
                return Err(TextError::DuplicateToken {
                    first: w[0].1.min(w[1].1),
                    second: w[0].1.max(w[1].1),
                    token: w[0].0.to_string(),
                });
            }
        }
        let perm = special_ids
            .iter()
            .flatten()
            .copied()
            .chain(chars.iter().map(|&(_, id)| id))
            .collect();
        let vocab = Vocab::new(specials, chars.into_iter().map(|(c, _)| c).collect())?;
        Ok(Reordered { vocab, perm })
    }

    /// The special tokens.
    pub fn specials(&self) -> Specials {
        self.specials
    }

    /// The id of the first character (the number of specials).
    pub fn first_char_id(&self) -> u32 {
        self.specials.count()
    }

    /// `<BOS>`'s id, if there is one.
    pub fn bos(&self) -> Option<u32> {
        self.specials.bos()
    }

    /// `<EOS>`'s id, if there is one.
    pub fn eos(&self) -> Option<u32> {
        self.specials.eos()
    }

    /// `<PAD>`'s id, if there is one.
    pub fn pad(&self) -> Option<u32> {
        self.specials.id(Special::Pad)
    }

    /// The characters, in id order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// Number of ids, the specials included (the model's `vocab_size`).
    pub fn size(&self) -> usize {
        self.chars.len() + self.specials.count() as usize
    }

    /// The id of a character, if it is in the vocabulary.
    pub fn id_of(&self, ch: char) -> Option<u32> {
        let i = self.chars.binary_search(&ch).ok()?;
        u32::try_from(i).ok()?.checked_add(self.first_char_id())
    }

    /// The character of an id; `None` for the specials and ids out of range.
    pub fn char_of(&self, id: u32) -> Option<char> {
        let i = id.checked_sub(self.first_char_id())?;
        self.chars.get(usize::try_from(i).ok()?).copied()
    }

    /// Token ids of `text` (no specials added). `offset` of an unknown character counts
    /// characters from the start of `text`.
    pub fn encode(&self, text: &str, unk: UnkPolicy) -> Result<Vec<u32>, TextError> {
        self.encode_at(text, unk, 0, None)
    }

    /// [`Vocab::encode`] with offsets reported relative to `base` and a record index.
    pub(crate) fn encode_at(
        &self,
        text: &str,
        unk: UnkPolicy,
        base: usize,
        record: Option<usize>,
    ) -> Result<Vec<u32>, TextError> {
        let mut ids = Vec::with_capacity(text.len());
        for (i, ch) in text.chars().enumerate() {
            match (self.id_of(ch), unk) {
                (Some(id), _) => ids.push(id),
                (None, UnkPolicy::Skip) => {}
                (None, UnkPolicy::Error) => {
                    return Err(TextError::UnknownChar {
                        ch,
                        offset: base.saturating_add(i),
                        record,
                    })
                }
            }
        }
        Ok(ids)
    }

    /// The text of `ids`; specials and out-of-range ids are left out.
    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter().filter_map(|&id| self.char_of(id)).collect()
    }

    /// A printable name for any id: the character, `<PAD>`, `<BOS>`, `<EOS>`, `<UNK>`, or
    /// `<?>` out of range.
    pub fn token_name(&self, id: u32) -> String {
        match self.specials.special(id) {
            Some(s) => s.name().into(),
            None => self
                .char_of(id)
                .map_or_else(|| "<?>".into(), |c| c.to_string()),
        }
    }

    /// Every id's token in id order, specials included (`len() == size()`): what
    /// [`Vocab::from_tokens`] reads back.
    pub fn tokens(&self) -> Vec<String> {
        (0..self.size() as u32)
            .map(|id| self.token_name(id))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_convention() {
        let v = Vocab::from_texts(["hello", "world"]).unwrap();
        assert_eq!(v.chars(), &['d', 'e', 'h', 'l', 'o', 'r', 'w']);
        assert_eq!(v.size(), 10);
        assert_eq!(v.id_of('d'), Some(3));
        assert_eq!(v.id_of('w'), Some(9));
        assert_eq!(v.id_of('x'), None);
        assert_eq!(v.char_of(0), None);
        assert_eq!(v.char_of(2), None);
        assert_eq!(v.char_of(3), Some('d'));
        assert_eq!(v.char_of(10), None);
        assert_eq!(v.token_name(1), "<BOS>");
        assert_eq!((v.bos(), v.eos(), v.pad()), (Some(1), Some(2), Some(0)));
        assert_eq!(v.tokens()[..4], ["<PAD>", "<BOS>", "<EOS>", "d"]);
    }

    #[test]
    fn encode_decode_round_trip_unicode() {
        let text = "héllo wörld ✓ 🐦";
        let v = Vocab::from_texts([text]).unwrap();
        let ids = v.encode(text, UnkPolicy::Error).unwrap();
        assert_eq!(ids.len(), text.chars().count());
        assert_eq!(v.decode(&ids), text);
        assert_eq!(v.decode(&[1, ids[0], 2, 0]), "h");
    }

    #[test]
    fn unknown_chars_error_or_skip() {
        let v = Vocab::from_texts(["abc"]).unwrap();
        let err = v.encode("abxc", UnkPolicy::Error).unwrap_err();
        assert!(matches!(
            err,
            TextError::UnknownChar {
                ch: 'x',
                offset: 2,
                record: None
            }
        ));
        let msg = err.to_string();
        assert!(msg.contains("'x'") && msg.contains("U+0078") && msg.contains("--unk skip"));
        assert_eq!(v.encode("abxc", UnkPolicy::Skip).unwrap(), vec![3, 4, 5]);
    }

    #[test]
    fn from_chars_validates() {
        assert!(Vocab::from_chars(vec!['a', 'b']).is_ok());
        assert!(Vocab::from_chars(vec!['b', 'a']).is_err());
        assert!(Vocab::from_chars(vec!['a', 'a']).is_err());
        assert!(Vocab::from_chars(vec![]).is_err());
    }

    #[test]
    fn the_tutorials_vocabularies() {
        // ToyRNN: no specials, unsorted.
        let r = Vocab::from_tokens(&["h", "e", "l", "o"]).unwrap();
        assert_eq!(r.vocab.chars(), ['e', 'h', 'l', 'o']);
        assert_eq!(r.vocab.specials(), Specials::NONE);
        assert_eq!(r.perm, [1, 0, 2, 3]);
        assert_eq!((r.vocab.bos(), r.vocab.eos()), (None, None));
        // CSC321: list(set(text)) + ["<BOS>", "<EOS>"].
        let r = Vocab::from_tokens(&["b", "a", "<BOS>", "<EOS>"]).unwrap();
        assert_eq!(r.vocab.tokens(), ["<BOS>", "<EOS>", "a", "b"]);
        assert_eq!(r.perm, [2, 3, 1, 0]);
        // torchtext: <unk> = 0, <pad> = 1, then by frequency.
        let r = Vocab::from_tokens(&["<unk>", "<pad>", " ", "e", "a"]).unwrap();
        assert_eq!(r.vocab.tokens(), ["<PAD>", "<UNK>", " ", "a", "e"]);
        assert_eq!(r.perm, [1, 0, 2, 4, 3]);
        assert!(!r.is_identity());
        // mynah's own order round-trips.
        let v = Vocab::from_texts(["ab"]).unwrap();
        let r = Vocab::from_tokens(&v.tokens()).unwrap();
        assert_eq!(r.vocab, v);
        assert!(r.is_identity());
    }

    #[test]
    fn bad_token_lists_explain_themselves() {
        let e = Vocab::from_tokens(&["a", "ab"]).unwrap_err().to_string();
        assert!(e.contains("entry 1") && e.contains("\"ab\""), "{e}");
        let e = Vocab::from_tokens(&["a", "b", "a"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("entries 0 and 2"), "{e}");
        let e = Vocab::from_tokens(&["<pad>", "a", "<PAD>"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("entries 0 and 2"), "{e}");
        assert!(Vocab::from_tokens(&["<BOS>"]).is_err());
    }

    #[test]
    fn policy_parses() {
        assert_eq!("skip".parse::<UnkPolicy>().unwrap(), UnkPolicy::Skip);
        assert_eq!(UnkPolicy::default().to_string(), "error");
        assert!("drop".parse::<UnkPolicy>().is_err());
    }
}
