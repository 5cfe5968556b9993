//! The choices of `train` spelled by name (`--arch`, `--cell`, `--activation`, `--unk`), in
//! flags and in `config.json` alike.

use anyhow::Result;
use mynah_format::{Activation, Cell};
use mynah_text::UnkPolicy;
use std::fmt::Display;

/// `--arch`: the kind of model; `--cell`, `--context` and `--activation` say the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArchKind {
    /// Embedding → recurrent layers → linear.
    #[default]
    Recurrent,
    /// The n-gram MLP.
    Ngram,
}

impl Display for ArchKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A choice spelled by name on the command line and in `config.json`.
pub trait Named: Sized + Copy {
    /// The flag, for error messages.
    const FLAG: &'static str;
    /// The accepted names, for error messages.
    const CHOICES: &'static str;
    /// Its name.
    fn name(self) -> &'static str;
    /// The value called `name`.
    fn from_name(name: &str) -> Option<Self>;
}

impl Named for ArchKind {
    const FLAG: &'static str = "--arch";
    const CHOICES: &'static str = "recurrent or ngram";
    fn name(self) -> &'static str {
        match self {
            ArchKind::Recurrent => "recurrent",
            ArchKind::Ngram => "ngram",
        }
    }
    fn from_name(name: &str) -> Option<Self> {
        [ArchKind::Recurrent, ArchKind::Ngram]
            .into_iter()
            .find(|a| a.name() == name)
    }
}

impl Named for Cell {
    const FLAG: &'static str = "--cell";
    const CHOICES: &'static str = "gru, lstm or rnn";
    fn name(self) -> &'static str {
        Cell::name(self)
    }
    fn from_name(name: &str) -> Option<Self> {
        Cell::from_name(name)
    }
}

impl Named for Activation {
    const FLAG: &'static str = "--activation";
    const CHOICES: &'static str = "relu or tanh";
    fn name(self) -> &'static str {
        Activation::name(self)
    }
    fn from_name(name: &str) -> Option<Self> {
        [Activation::Relu, Activation::Tanh]
            .into_iter()
            .find(|a| a.name() == name)
    }
}

impl Named for UnkPolicy {
    const FLAG: &'static str = "--unk";
    const CHOICES: &'static str = "error or skip";
    fn name(self) -> &'static str {
        self.as_str()
    }
    fn from_name(name: &str) -> Option<Self> {
        name.parse().ok()
    }
}

/// The value a flag names, or an error listing the choices.
pub fn parse_named<T: Named>(name: &str) -> Result<T> {
    T::from_name(name)
        .ok_or_else(|| anyhow::anyhow!("unknown {} {name:?}: expected {}", T::FLAG, T::CHOICES))
}

/// Serde by name, so `config.json` spells choices as the command line does.
pub mod named {
    use super::Named;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Named, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.name())
    }

    pub fn deserialize<'de, T: Named, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        let name = String::deserialize(d)?;
        T::from_name(&name).ok_or_else(|| {
            D::Error::custom(format!(
                "unknown {} {name:?}: expected {}",
                T::FLAG,
                T::CHOICES
            ))
        })
    }
}
