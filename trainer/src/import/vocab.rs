//! The model's vocabulary: every id's token in the model's own id order, from `--vocab` or
//! the `vocab` metadata of a safetensors file.

use anyhow::{bail, ensure, Context, Result};
use mynah_format::Special;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// Every id's token in the model's own id order, and where it came from.
pub(super) struct Tokens {
    pub(super) list: Vec<String>,
    /// `vocab.json`, or the metadata of the file, for messages.
    pub(super) source: String,
    /// Given as the characters of ids 3.. only (mynah's former layout).
    pub(super) legacy: bool,
}

/// The specials of mynah's former layout, ids 0-2.
const LEGACY_SPECIALS: [&str; 3] = ["<PAD>", "<BOS>", "<EOS>"];

/// The model's vocabulary from `--vocab` or the `vocab` metadata, checked to name each of the
/// model's `ids` ids once.
pub(super) fn vocab_tokens(
    arg: Option<&Path>,
    meta: &HashMap<String, String>,
    shown: &str,
    ids: usize,
) -> Result<Tokens> {
    let (json, source, specials) = match arg {
        Some(path) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the vocabulary {}", path.display()))?,
            path.display().to_string(),
            None,
        ),
        None => match meta.get("vocab") {
            Some(json) => (
                json.clone(),
                format!("the `vocab` metadata of {shown}"),
                meta.get("specials"),
            ),
            None => bail!(
                "{shown} does not say which token each id stands for: give --vocab vocab.json, \
                 every id's token in the model's order (a JSON array such as [\"h\", \"e\", \
                 \"l\", \"o\"], or an itos or stoi dict; see `mynah-train import --help`)"
            ),
        },
    };
    let mut list = parse_tokens(&json).with_context(|| source.clone())?;
    let mut legacy = false;
    let single_chars = list.iter().all(|t| t.chars().count() == 1);
    if let Some(specials) = specials.filter(|_| single_chars) {
        // mynah's exports before format version 2: the characters, after `specials`.
        let specials: Vec<String> = serde_json::from_str(specials)
            .context("metadata key `specials` is not a JSON array of strings")?;
        list.splice(0..0, specials);
    } else if list.len() + LEGACY_SPECIALS.len() == ids
        && list.iter().all(|t| Special::from_name(t).is_none())
    {
        // The characters of ids 3.. (this command's former --vocab).
        list.splice(0..0, LEGACY_SPECIALS.map(String::from));
        legacy = true;
    }
    ensure!(
        list.len() == ids,
        "{source} lists {} tokens, but the model has {ids} ids (the rows of its output layer): \
         list every id's token in the model's own order, special tokens included (e.g. \
         [\"a\", \"b\", \"<BOS>\", \"<EOS>\"] or torchtext's [\"<unk>\", \"<pad>\", ...])",
        list.len()
    );
    Ok(Tokens {
        list,
        source,
        legacy,
    })
}

/// The accepted forms of a vocabulary, for messages.
const VOCAB_FORMS: &str = "expected every id's token in id order: a JSON array of strings \
                           [\"h\", \"e\"], an itos dict {\"0\": \"h\", \"1\": \"e\"} or a \
                           stoi dict {\"h\": 0, \"e\": 1}";

/// A JSON array of every id's token, an itos dict or a stoi dict, as the list of tokens.
fn parse_tokens(json: &str) -> Result<Vec<String>> {
    let value: Value =
        serde_json::from_str(json).with_context(|| format!("not JSON; {VOCAB_FORMS}"))?;
    let tokens = match value {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s),
                other => bail!("entry {i} is {other}, not a string; {VOCAB_FORMS}"),
            })
            .collect::<Result<Vec<_>>>()?,
        Value::Object(map) if map.values().all(Value::is_string) => {
            // itos: {"0": "h", "1": "e"}.
            let mut slots: Vec<Option<String>> = vec![None; map.len()];
            for (key, v) in map {
                let id: usize =
                    key.parse()
                        .ok()
                        .filter(|&i| i < slots.len())
                        .with_context(|| {
                            format!(
                                "key {key:?} of the itos dict is not an id 0..{}; {VOCAB_FORMS}",
                                slots.len()
                            )
                        })?;
                if slots[id]
                    .replace(v.as_str().unwrap_or_default().to_owned())
                    .is_some()
                {
                    bail!("the itos dict has two keys for id {id}; {VOCAB_FORMS}");
                }
            }
            // Keys are distinct and in range, so every slot is filled.
            slots.into_iter().flatten().collect()
        }
        Value::Object(map) if map.values().all(|v| v.as_u64().is_some()) => {
            // stoi: {"h": 0, "e": 1}; unambiguous only when the ids are 0..n, each once.
            let mut slots: Vec<Option<String>> = vec![None; map.len()];
            for (token, v) in map {
                let id = v.as_u64().and_then(|i| usize::try_from(i).ok());
                let Some(slot) = id.and_then(|i| slots.get_mut(i)) else {
                    bail!(
                        "the stoi dict gives {token:?} the id {v}, but it has only {} entries: \
                         its ids must be 0..{0}, each once (or give the itos list)",
                        slots.len()
                    );
                };
                if let Some(other) = slot.replace(token.clone()) {
                    bail!(
                        "the stoi dict gives {other:?} and {token:?} the same id {v}, so it \
                         cannot say which token that id stands for: give the itos list"
                    );
                }
            }
            slots.into_iter().flatten().collect()
        }
        _ => bail!("{VOCAB_FORMS}"),
    };
    ensure!(!tokens.is_empty(), "the vocabulary is empty; {VOCAB_FORMS}");
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tutorials_vocabulary_forms_parse() {
        let list = parse_tokens(r#"["h", "e", "l", "o"]"#).unwrap();
        assert_eq!(list, ["h", "e", "l", "o"]);
        assert_eq!(parse_tokens(r#"{"1": "e", "0": "h"}"#).unwrap(), ["h", "e"]);
        assert_eq!(
            parse_tokens(r#"{"<unk>": 0, "<pad>": 1, " ": 2}"#).unwrap(),
            ["<unk>", "<pad>", " "]
        );
        for (bad, needle) in [
            (r#"{"a": 0, "b": 0}"#, "the same id 0"),
            (r#"{"a": 0, "b": 2}"#, "the id 2"),
            (r#"{"0": "a", "2": "b"}"#, "key \"2\""),
            (r#"{"0": "a", "00": "b"}"#, "two keys for id 0"),
            (r#"{"x": "a"}"#, "key \"x\""),
            (r#"["a", 1]"#, "entry 1 is 1"),
            ("[]", "empty"),
            ("{}", "empty"),
            ("3", "itos dict"),
            ("[\"a\"", "not JSON"),
        ] {
            let e = format!("{:#}", parse_tokens(bad).unwrap_err());
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn legacy_layouts_and_sizes() {
        let none = HashMap::new();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.json");
        std::fs::write(&path, r#"["b", "a"]"#).unwrap();
        // Two characters for five ids: the characters of ids 3.. after <PAD>, <BOS>, <EOS>.
        let t = vocab_tokens(Some(&path), &none, "m", 5).unwrap();
        assert!(t.legacy);
        assert_eq!(t.list, ["<PAD>", "<BOS>", "<EOS>", "b", "a"]);
        let t = vocab_tokens(Some(&path), &none, "m", 2).unwrap();
        assert!(!t.legacy);
        let e = vocab_tokens(Some(&path), &none, "m", 4).err().unwrap();
        assert!(
            e.to_string()
                .contains("lists 2 tokens, but the model has 4 ids"),
            "{e}"
        );
        // Old exports: `vocab` the characters, `specials` the specials.
        let meta = HashMap::from([
            ("vocab".to_owned(), r#"["a", "b"]"#.to_owned()),
            (
                "specials".to_owned(),
                r#"["<PAD>", "<BOS>", "<EOS>"]"#.to_owned(),
            ),
        ]);
        let t = vocab_tokens(None, &meta, "m", 5).unwrap();
        assert_eq!(t.list, ["<PAD>", "<BOS>", "<EOS>", "a", "b"]);
        let e = vocab_tokens(None, &none, "m", 5).err().unwrap();
        assert!(e.to_string().contains("give --vocab"), "{e}");
    }
}
