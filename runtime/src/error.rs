//! The runtime's one error type.

use core::fmt;

use mynah_format::{Arch, DType, FormatError, Shape, TensorName};

/// Everything that can go wrong loading or running an INT8 model. Never a panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The file holds float weights; quantize it first (`mynah-train export --dtype int8`
    /// or `int4`).
    NotQuantized,
    /// `hidden_dim` exceeds the `H` capacity the runtime was built with.
    HiddenCapacity {
        /// The model's `hidden_dim`.
        hidden: u32,
        /// The capacity `H`.
        capacity: usize,
    },
    /// `vocab_size` exceeds the `V` capacity the runtime was built with.
    VocabCapacity {
        /// The model's `vocab_size`.
        vocab: u32,
        /// The capacity `V`.
        capacity: usize,
    },
    /// `num_layers` exceeds the `L` capacity the runtime was built with.
    LayerCapacity {
        /// The model's `num_layers`.
        layers: u32,
        /// The capacity `L`.
        capacity: usize,
    },
    /// `hidden_dim` is wider than the 512 columns the `i32` accumulator is proven for.
    HiddenTooWide {
        /// The model's `hidden_dim`.
        hidden: u32,
    },
    /// A factored model's `embed_dim` is wider than the 512 columns the `i32` accumulator is
    /// proven for.
    EmbedTooWide {
        /// The model's `embed_dim`.
        embed: u32,
    },
    /// A factored model's `embed_dim` exceeds the capacity `H` the runtime was built with
    /// (the reordered input of the matrix kernels holds the embedding row).
    EmbedCapacity {
        /// The model's `embed_dim`.
        embed: u32,
        /// The capacity `H`.
        capacity: usize,
    },
    /// The file's form (weights, input layer) is not one the model type was built for (its
    /// parameter `F`, [`crate::forms`]; firmware names only its model's form).
    FormNotBuiltIn {
        /// The file's weights.
        weights: mynah_format::WeightsKind,
        /// Whether the file is factored.
        factored: bool,
    },
    /// A tensor the runtime needs is missing, or the file is otherwise malformed.
    Format(FormatError),
    /// A tensor has a dtype other than the one the quantization scheme defines.
    WrongDType {
        /// The tensor.
        name: TensorName,
        /// The dtype it must have.
        expected: DType,
        /// The dtype it has.
        found: DType,
    },
    /// A tensor has a shape other than the one the hyperparameters imply.
    WrongShape {
        /// The tensor.
        name: TensorName,
        /// The shape it must have.
        expected: Shape,
        /// The shape it has.
        found: Shape,
    },
    /// A tensor's `frac_bits` is outside what the scheme allows.
    WrongFracBits {
        /// The tensor.
        name: TensorName,
        /// Smallest allowed value.
        min: i32,
        /// Largest allowed value.
        max: i32,
        /// The value in the file.
        found: i32,
    },
    /// A requantization shift is outside `0..=62`.
    BadShift {
        /// The shift tensor.
        name: TensorName,
        /// The row.
        row: u32,
        /// The stored shift.
        shift: i8,
    },
    /// A row's weights, multiplier and bias (or a token table entry) could push a
    /// pre-activation beyond ±8192 for some input; mynah's quantizer never writes such a
    /// file, and refusing it keeps every sum in the step inside `i32`.
    OutOfRange {
        /// The weights (or token table) tensor.
        name: TensorName,
        /// The row (the table's flat index for the token table).
        row: u32,
    },
    /// A token id is not below `vocab_size`.
    TokenOutOfRange {
        /// The token.
        token: u32,
        /// The model's `vocab_size`.
        vocab: u32,
    },
    /// A character of a prompt is not in the model's vocabulary.
    UnknownChar {
        /// The character.
        ch: char,
        /// Its position in the prompt, in characters.
        index: usize,
    },
    /// The file holds another architecture than the runtime type it was loaded into.
    WrongArch {
        /// What the type runs.
        expected: Arch,
        /// What the file holds.
        found: Arch,
    },
    /// The n-gram context is longer than the runtime's capacity.
    ContextCapacity {
        /// The model's context.
        context: u32,
        /// The capacity `N`.
        capacity: usize,
    },
    /// `ngram.hidden_exp` is outside `0..=max` (0 for tanh, 15 for ReLU).
    BadHiddenExp {
        /// The stored exponent.
        exp: i32,
        /// The largest allowed.
        max: i32,
    },
    /// The model has no `<BOS>`, so nothing can be sampled before a prime has been fed.
    NeedsPrime,
    /// A state or scratch made for another model was passed to [`crate::AnyModel`], or a
    /// [`crate::StateView`] / [`crate::ScratchView`] too small for the model.
    StateMismatch,
    /// A buffer is smaller than the memory carved out of it ([`crate::Footprint`]).
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        got: usize,
    },
    /// A buffer that stream memory is carved out of does not start at a 4-byte aligned
    /// address.
    MisalignedBuffer,
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeError::NotQuantized => f.write_str(
                "the model has float weights; the integer runtime needs an INT8 or INT4 file \
                 (mynah-train export --dtype int8 or int4)",
            ),
            RuntimeError::HiddenCapacity { hidden, capacity } => {
                write!(f, "hidden_dim {hidden} exceeds this runtime's capacity of {capacity}")
            }
            RuntimeError::VocabCapacity { vocab, capacity } => {
                write!(f, "vocab_size {vocab} exceeds this runtime's capacity of {capacity}")
            }
            RuntimeError::LayerCapacity { layers, capacity } => {
                write!(f, "num_layers {layers} exceeds this runtime's capacity of {capacity}")
            }
            RuntimeError::HiddenTooWide { hidden } => write!(
                f,
                "hidden_dim {hidden} is wider than 512, the widest the int8 kernels accumulate exactly"
            ),
            RuntimeError::EmbedTooWide { embed } => write!(
                f,
                "embed_dim {embed} is wider than 512, the widest the integer kernels accumulate exactly"
            ),
            RuntimeError::EmbedCapacity { embed, capacity } => write!(
                f,
                "embed_dim {embed} of the factored model exceeds this runtime's hidden capacity of {capacity}"
            ),
            RuntimeError::FormNotBuiltIn { weights, factored } => write!(
                f,
                "this runtime type was built without {weights} weights{} (see runtime::forms)",
                if *factored { " with a factored input layer" } else { " with a token table" }
            ),
            RuntimeError::Format(e) => write!(f, "{e}"),
            RuntimeError::WrongDType { name, expected, found } => {
                write!(f, "tensor {name} is {found}, expected {expected}")
            }
            RuntimeError::WrongShape { name, expected, found } => {
                write!(f, "tensor {name} has shape {found}, expected {expected}")
            }
            RuntimeError::WrongFracBits { name, min, max, found } => {
                write!(f, "tensor {name} has frac_bits {found}, expected {min}..={max}")
            }
            RuntimeError::BadShift { name, row, shift } => {
                write!(f, "tensor {name} row {row}: shift {shift} outside 0..=62")
            }
            RuntimeError::OutOfRange { name, row } => write!(
                f,
                "tensor {name} row {row}: values could exceed the fixed-point range (|pre-activation| > 8192); \
                 the file was not written by mynah's quantizer"
            ),
            RuntimeError::TokenOutOfRange { token, vocab } => {
                write!(f, "token {token} is not below vocab_size {vocab}")
            }
            RuntimeError::UnknownChar { ch, index } => {
                write!(f, "character {ch:?} (at position {index}) is not in the model's vocabulary")
            }
            RuntimeError::WrongArch { expected, found } => {
                write!(f, "the model is a {found}, this runtime type runs a {expected}")
            }
            RuntimeError::ContextCapacity { context, capacity } => {
                write!(f, "n-gram context {context} exceeds this runtime's capacity of {capacity}")
            }
            RuntimeError::BadHiddenExp { exp, max } => {
                write!(f, "ngram.hidden_exp is {exp}, expected 0..={max}")
            }
            RuntimeError::NeedsPrime => f.write_str(
                "the model has no <BOS> token, so it starts from text: give a prime of at least one character",
            ),
            RuntimeError::StateMismatch => {
                f.write_str("the state or scratch was made for another model")
            }
            RuntimeError::BufferTooSmall { needed, got } => {
                write!(f, "the buffer holds {got} bytes, the model needs {needed}")
            }
            RuntimeError::MisalignedBuffer => {
                f.write_str("the buffer does not start at a 4-byte aligned address")
            }
        }
    }
}

// `Format` is transparent: its Display is the inner error's, so `source` is not repeated.
impl core::error::Error for RuntimeError {}

impl From<FormatError> for RuntimeError {
    fn from(e: FormatError) -> Self {
        RuntimeError::Format(e)
    }
}
