//! What a model is: its architecture (the recurrent cell, or the n-gram MLP) and which
//! special tokens its vocabulary has. Everything else about a model's shape (tensor tables,
//! footprints, quantizers, forwards) is derived from these two in one place each.

use core::fmt;

/// The hidden nonlinearity of the n-gram MLP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    /// `max(0, x)`.
    Relu,
    /// `tanh(x)`.
    Tanh,
}

impl Activation {
    /// The code stored in the header (0 means "none": recurrent models).
    pub const fn code(self) -> u32 {
        match self {
            Activation::Relu => 1,
            Activation::Tanh => 2,
        }
    }

    /// The activation with the given header code.
    pub const fn from_code(code: u32) -> Option<Activation> {
        match code {
            1 => Some(Activation::Relu),
            2 => Some(Activation::Tanh),
            _ => None,
        }
    }

    /// `relu` or `tanh`.
    pub const fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The recurrent cells (PyTorch's `nn.GRU`, `nn.LSTM`, `nn.RNN` with tanh).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cell {
    /// Gates r, z, n (PyTorch's order).
    Gru,
    /// Gates i, f, g, o (PyTorch's order) and a cell state.
    Lstm,
    /// `h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`, PyTorch's `nn.RNN` default.
    Rnn,
}

impl Cell {
    /// Every cell, in code order.
    pub const ALL: [Cell; 3] = [Cell::Gru, Cell::Lstm, Cell::Rnn];

    /// Rows of the stacked gate matrices per hidden unit: 3, 4 or 1.
    pub const fn gates(self) -> u32 {
        match self {
            Cell::Gru => 3,
            Cell::Lstm => 4,
            Cell::Rnn => 1,
        }
    }

    /// `gru`, `lstm` or `rnn` (the `--cell` names).
    pub const fn name(self) -> &'static str {
        match self {
            Cell::Gru => "gru",
            Cell::Lstm => "lstm",
            Cell::Rnn => "rnn",
        }
    }

    /// The cell called `name` (`gru`, `lstm`, `rnn`).
    pub fn from_name(name: &str) -> Option<Cell> {
        Cell::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A model's architecture: embedding → recurrent layers → linear, or the n-gram MLP
/// (the embeddings of the last `context` tokens, concatenated → one hidden layer →
/// linear).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    /// Stacked recurrent layers of one cell.
    Recurrent(Cell),
    /// The n-gram MLP baseline.
    Ngram {
        /// How many previous tokens it sees (1..=[`MAX_CONTEXT`]).
        context: u32,
        /// Its hidden nonlinearity.
        activation: Activation,
    },
}

/// Longest n-gram context.
pub const MAX_CONTEXT: u32 = 32;

impl Arch {
    /// The GRU of format version 1.
    pub const GRU: Arch = Arch::Recurrent(Cell::Gru);

    /// The header code: 0 GRU, 1 LSTM, 2 RNN (tanh), 3 n-gram MLP.
    pub const fn code(self) -> u32 {
        match self {
            Arch::Recurrent(Cell::Gru) => 0,
            Arch::Recurrent(Cell::Lstm) => 1,
            Arch::Recurrent(Cell::Rnn) => 2,
            Arch::Ngram { .. } => 3,
        }
    }

    /// The recurrent cell, if this is a recurrent model.
    pub const fn cell(self) -> Option<Cell> {
        match self {
            Arch::Recurrent(c) => Some(c),
            Arch::Ngram { .. } => None,
        }
    }

    /// Rows per hidden unit of the first matrix that reads the input: the cell's gates,
    /// 1 for the n-gram's hidden layer.
    pub const fn gates(self) -> u32 {
        match self {
            Arch::Recurrent(c) => c.gates(),
            Arch::Ngram { .. } => 1,
        }
    }

    /// The n-gram context (0 for recurrent models).
    pub const fn context(self) -> u32 {
        match self {
            Arch::Recurrent(_) => 0,
            Arch::Ngram { context, .. } => context,
        }
    }

    /// `gru`, `lstm`, `rnn` or `ngram`.
    pub const fn name(self) -> &'static str {
        match self {
            Arch::Recurrent(c) => c.name(),
            Arch::Ngram { .. } => "ngram",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arch::Recurrent(c) => write!(f, "{c}"),
            Arch::Ngram {
                context,
                activation,
            } => write!(f, "ngram (context {context}, {activation})"),
        }
    }
}

/// A token that is not a character.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Special {
    /// Padding: fills batches; never scored, never sampled.
    Pad,
    /// Beginning of a sequence: fed first, from a zero state.
    Bos,
    /// End of a record: scored, and sampling stops there.
    Eos,
    /// An unknown character (torchtext's `<unk>`): never sampled.
    Unk,
}

impl Special {
    /// Every special token, in id order (see [`Specials`]).
    pub const ALL: [Special; 4] = [Special::Pad, Special::Bos, Special::Eos, Special::Unk];

    /// Its bit in the header's `specials` field.
    pub const fn bit(self) -> u32 {
        match self {
            Special::Pad => 1,
            Special::Bos => 2,
            Special::Eos => 4,
            Special::Unk => 8,
        }
    }

    /// `<PAD>`, `<BOS>`, `<EOS>` or `<UNK>`.
    pub const fn name(self) -> &'static str {
        match self {
            Special::Pad => "<PAD>",
            Special::Bos => "<BOS>",
            Special::Eos => "<EOS>",
            Special::Unk => "<UNK>",
        }
    }

    /// The special token a vocabulary entry names, in any letter case: `<pad>`, `<bos>`,
    /// `<eos>`, `<unk>` (so torchtext's `<unk>`/`<pad>` and mynah's `<PAD>` alike).
    pub fn from_name(name: &str) -> Option<Special> {
        Special::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Special {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The special tokens a vocabulary has. Present ones take the first ids in the order
/// `<PAD>`, `<BOS>`, `<EOS>`, `<UNK>`; the characters follow, sorted by code point.
///
/// mynah trains with `<PAD>` = 0, `<BOS>` = 1, `<EOS>` = 2 ([`Specials::DEFAULT`], the only
/// layout of format version 1); imported models keep whichever they have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Specials(u32);

impl Specials {
    /// No special tokens: ids are characters from 0.
    pub const NONE: Specials = Specials(0);
    /// `<PAD>`, `<BOS>`, `<EOS>`: what mynah trains with, and every version-1 file.
    pub const DEFAULT: Specials = Specials(1 | 2 | 4);
    /// Every bit a reader understands.
    pub const KNOWN_BITS: u32 = 15;

    /// From the header's bit field; `None` with an unknown bit.
    pub const fn from_bits(bits: u32) -> Option<Specials> {
        if bits & !Self::KNOWN_BITS == 0 {
            Some(Specials(bits))
        } else {
            None
        }
    }

    /// The header's bit field.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// These specials and `s`.
    #[must_use]
    pub const fn with(self, s: Special) -> Specials {
        Specials(self.0 | s.bit())
    }

    /// Whether `s` is present.
    pub const fn contains(self, s: Special) -> bool {
        self.0 & s.bit() != 0
    }

    /// How many there are: the id of the first character.
    pub const fn count(self) -> u32 {
        self.0.count_ones()
    }

    /// The id of `s`, if present.
    pub const fn id(self, s: Special) -> Option<u32> {
        if self.contains(s) {
            Some((self.0 & (s.bit() - 1)).count_ones())
        } else {
            None
        }
    }

    /// The special token with id `id`, if `id` is one.
    pub fn special(self, id: u32) -> Option<Special> {
        Special::ALL.into_iter().find(|&s| self.id(s) == Some(id))
    }

    /// The present specials in id order.
    pub fn iter(self) -> impl Iterator<Item = Special> {
        Special::ALL.into_iter().filter(move |&s| self.contains(s))
    }

    /// `<BOS>`'s id.
    pub const fn bos(self) -> Option<u32> {
        self.id(Special::Bos)
    }

    /// `<EOS>`'s id.
    pub const fn eos(self) -> Option<u32> {
        self.id(Special::Eos)
    }
}

impl fmt::Display for Specials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("none");
        }
        for (i, s) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{s}={i}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specials_take_the_first_ids_in_canonical_order() {
        let d = Specials::DEFAULT;
        assert_eq!(
            (d.id(Special::Pad), d.bos(), d.eos(), d.id(Special::Unk)),
            (Some(0), Some(1), Some(2), None)
        );
        assert_eq!(d.count(), 3);
        let t = Specials::NONE.with(Special::Unk).with(Special::Pad);
        assert_eq!((t.id(Special::Pad), t.id(Special::Unk)), (Some(0), Some(1)));
        assert_eq!(t.special(1), Some(Special::Unk));
        assert_eq!(t.special(2), None);
        assert_eq!(t.to_string(), "<PAD>=0 <UNK>=1");
        assert_eq!(Specials::from_bits(16), None);
        assert_eq!(Special::from_name("<unk>"), Some(Special::Unk));
        assert_eq!(Special::from_name("<Bos>"), Some(Special::Bos));
        assert_eq!(Special::from_name("<s>"), None);
    }

    #[test]
    fn arch_codes_and_gates() {
        for (code, arch) in [
            (0, Arch::GRU),
            (1, Arch::Recurrent(Cell::Lstm)),
            (2, Arch::Recurrent(Cell::Rnn)),
        ] {
            assert_eq!(arch.code(), code);
        }
        assert_eq!(Cell::Lstm.gates(), 4);
        assert_eq!(Cell::from_name("rnn"), Some(Cell::Rnn));
        let n = Arch::Ngram {
            context: 3,
            activation: Activation::Tanh,
        };
        assert_eq!((n.code(), n.gates(), n.context()), (3, 1, 3));
        assert_eq!(n.to_string(), "ngram (context 3, tanh)");
    }
}
