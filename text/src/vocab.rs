//! Characters ↔ token ids.

use crate::{TextError, BOS, EOS, FIRST_CHAR_ID, MAX_CHARS, PAD};
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

/// A character vocabulary: the three specials, then characters sorted by Unicode scalar value.
///
/// Ids: `PAD = 0`, `BOS = 1`, `EOS = 2`, the `i`-th character (0-based) is `3 + i`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocab {
    chars: Vec<char>,
}

impl Vocab {
    /// Every distinct character of `texts`, sorted.
    pub fn from_texts<'a>(texts: impl IntoIterator<Item = &'a str>) -> Result<Self, TextError> {
        let mut set = BTreeSet::new();
        for text in texts {
            set.extend(text.chars());
        }
        if set.len() > MAX_CHARS {
            return Err(TextError::TooManyChars { count: set.len() });
        }
        if set.is_empty() {
            return Err(TextError::BadVocab {
                reason: "no characters",
            });
        }
        Ok(Vocab {
            chars: set.into_iter().collect(),
        })
    }

    /// A vocabulary from its characters, which must be non-empty and strictly increasing
    /// (as stored in checkpoints and model files).
    pub fn from_chars(chars: Vec<char>) -> Result<Self, TextError> {
        if chars.is_empty() {
            return Err(TextError::BadVocab {
                reason: "no characters",
            });
        }
        if chars.len() > MAX_CHARS {
            return Err(TextError::TooManyChars { count: chars.len() });
        }
        if chars.windows(2).any(|w| w[0] >= w[1]) {
            return Err(TextError::BadVocab {
                reason: "characters are not strictly increasing",
            });
        }
        Ok(Vocab { chars })
    }

    /// The characters (ids 3, 4, ...).
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// Number of ids, the three specials included (the model's `vocab_size`).
    pub fn size(&self) -> usize {
        self.chars.len() + FIRST_CHAR_ID as usize
    }

    /// The id of a character, if it is in the vocabulary.
    pub fn id_of(&self, ch: char) -> Option<u32> {
        let i = self.chars.binary_search(&ch).ok()?;
        // i < MAX_CHARS, so this fits.
        u32::try_from(i).ok()?.checked_add(FIRST_CHAR_ID)
    }

    /// The character of an id; `None` for the specials and ids out of range.
    pub fn char_of(&self, id: u32) -> Option<char> {
        let i = id.checked_sub(FIRST_CHAR_ID)?;
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

    /// A printable name for any id: the character, or `<PAD>`, `<BOS>`, `<EOS>`, `<?>`.
    pub fn token_name(&self, id: u32) -> String {
        match id {
            PAD => "<PAD>".into(),
            BOS => "<BOS>".into(),
            EOS => "<EOS>".into(),
            _ => self
                .char_of(id)
                .map_or_else(|| "<?>".into(), |c| c.to_string()),
        }
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
    }

    #[test]
    fn encode_decode_round_trip_unicode() {
        let text = "héllo wörld ✓ 🐦";
        let v = Vocab::from_texts([text]).unwrap();
        let ids = v.encode(text, UnkPolicy::Error).unwrap();
        assert_eq!(ids.len(), text.chars().count());
        assert_eq!(v.decode(&ids), text);
        assert_eq!(v.decode(&[BOS, ids[0], EOS, PAD]), "h");
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
    fn policy_parses() {
        assert_eq!("skip".parse::<UnkPolicy>().unwrap(), UnkPolicy::Skip);
        assert_eq!(UnkPolicy::default().to_string(), "error");
        assert!("drop".parse::<UnkPolicy>().is_err());
    }
}
