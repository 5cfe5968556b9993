//! Byte layout constants and the tables of tensors a model must contain.
//!
//! Everything here is normative: `format/SPEC.md` describes the same numbers in prose.

use crate::arch::Arch;
use crate::{DType, WeightsKind};

/// The eight magic bytes every model file starts with (from version 1, when every model
/// was a GRU; they stay, so that every version is recognized the same way).
pub const MAGIC: [u8; 8] = *b"MYNAHGRU";
/// The newest format version this crate reads and writes. Readers reject newer versions;
/// writers write the lowest version that can express a file ([`crate::Hyper::min_version`]:
/// 3 for INT4 weights or the `FACTORED` flag, else 2).
pub const VERSION: u16 = 3;
/// The oldest version this crate reads: version-1 files load as GRUs with `<PAD>`, `<BOS>`,
/// `<EOS>`.
pub const MIN_VERSION: u16 = 1;
/// Size of the fixed header of a version-2 file in bytes.
pub const HEADER_SIZE: usize = 128;
/// Size of the fixed header of a version-1 file in bytes (the first 64 of version 2).
pub const HEADER_SIZE_V1: usize = 64;
/// Size of one tensor directory entry in bytes.
pub const DIR_ENTRY_SIZE: usize = 64;
/// Alignment of the directory, the data section and every tensor inside the file.
///
/// 64 bytes is a cache line and the widest SIMD load (AVX-512); Cortex-M needs only 4.
pub const ALIGN: usize = 64;
/// Alignment the start of a byte buffer must have for zero-copy casts of every dtype.
pub const BUFFER_ALIGN: usize = 4;
/// Size of the CRC-32 trailer in bytes.
pub const CRC_SIZE: usize = 4;
/// Lower bound on the size of a valid file of any version: a version-1 header, one
/// directory entry and the CRC. Readers require the header of the file's own version
/// (`FileTooSmall` below 196 bytes in version 2).
pub const MIN_FILE_SIZE: usize = HEADER_SIZE_V1 + DIR_ENTRY_SIZE + CRC_SIZE;
/// Length of the NUL-padded name field of a directory entry.
pub const NAME_FIELD: usize = 32;
/// Longest tensor name: the name field always ends in at least one NUL.
pub const MAX_NAME_LEN: usize = NAME_FIELD - 1;
/// Largest tensor rank.
pub const MAX_RANK: usize = 4;

/// `flags` bit 0: the model was trained on records; sampling stops at `<EOS>`.
pub const FLAG_RECORDS: u32 = 1;
/// `flags` bit 1 (version 3): a quantized recurrent model whose layer 0 computes its input
/// product from an `i8` embedding and a weight matrix instead of a per-token table.
pub const FLAG_FACTORED: u32 = 2;
/// All flag bits a reader understands; any other set bit is an error.
pub const KNOWN_FLAGS: u32 = FLAG_RECORDS | FLAG_FACTORED;

/// The flag bits a file of `version` may set: `RECORDS` in versions 1 and 2, `RECORDS`
/// and `FACTORED` from version 3.
pub const fn known_flags(version: u16) -> u32 {
    if version >= 3 {
        KNOWN_FLAGS
    } else {
        FLAG_RECORDS
    }
}

/// Inclusive range of `vocab_size` (the specials included) in version 2. A vocabulary
/// also needs at least one character (checked with the vocabulary).
pub const VOCAB_SIZE_RANGE: (u32, u32) = (1, 65535);
/// Inclusive range of `embed_dim`.
pub const EMBED_DIM_RANGE: (u32, u32) = (1, 4096);
/// Inclusive range of `hidden_dim`.
pub const HIDDEN_DIM_RANGE: (u32, u32) = (1, 4096);
/// Inclusive range of `num_layers` (the n-gram MLP has exactly 1).
pub const NUM_LAYERS_RANGE: (u32, u32) = (1, 4);
/// Inclusive range of the n-gram `context`.
pub const CONTEXT_RANGE: (u32, u32) = (1, crate::arch::MAX_CONTEXT);
/// Inclusive range of `tensor_count`.
pub const TENSOR_COUNT_RANGE: (u32, u32) = (1, 256);
/// Inclusive range of `frac_bits` for integer tensors (float tensors must store 0).
///
/// 31 keeps every shift of an `i32` (and of a widened product) well defined.
pub const FRAC_BITS_RANGE: (i32, i32) = (-31, 31);

/// Byte offsets of the header fields.
pub mod header {
    /// `[u8; 8]` magic.
    pub const MAGIC: usize = 0;
    /// `u16` version.
    pub const VERSION: usize = 8;
    /// `u16` header size.
    pub const HEADER_SIZE: usize = 10;
    /// `u32` flags.
    pub const FLAGS: usize = 12;
    /// `u32` weights kind.
    pub const WEIGHTS_KIND: usize = 16;
    /// `u32` vocabulary size including specials.
    pub const VOCAB_SIZE: usize = 20;
    /// `u32` embedding width.
    pub const EMBED_DIM: usize = 24;
    /// `u32` hidden width.
    pub const HIDDEN_DIM: usize = 28;
    /// `u32` number of recurrent layers.
    pub const NUM_LAYERS: usize = 32;
    /// `u32` offset of the vocabulary bytes.
    pub const VOCAB_OFFSET: usize = 36;
    /// `u32` length of the vocabulary bytes.
    pub const VOCAB_BYTES: usize = 40;
    /// `u32` offset of the tensor directory.
    pub const DIR_OFFSET: usize = 44;
    /// `u32` number of directory entries.
    pub const TENSOR_COUNT: usize = 48;
    /// `u32` offset of the data section.
    pub const DATA_OFFSET: usize = 52;
    /// `u32` length of the data section.
    pub const DATA_BYTES: usize = 56;
    /// `u32` total file size including the CRC trailer.
    pub const FILE_SIZE: usize = 60;
    /// `u32` architecture code (version 2): 0 GRU, 1 LSTM, 2 RNN (tanh), 3 n-gram MLP.
    pub const ARCH: usize = 64;
    /// `u32` special tokens bit field (version 2): 1 `<PAD>`, 2 `<BOS>`, 4 `<EOS>`, 8 `<UNK>`.
    pub const SPECIALS: usize = 68;
    /// `u32` n-gram context (version 2; 0 for recurrent models).
    pub const CONTEXT: usize = 72;
    /// `u32` n-gram activation (version 2): 1 relu, 2 tanh; 0 for recurrent models.
    pub const ACTIVATION: usize = 76;
    /// First reserved byte of the version-2 header; up to `HEADER_SIZE` all must be 0.
    pub const RESERVED: usize = 80;
}

/// Byte offsets of the fields of a directory entry.
pub mod entry {
    /// `[u8; 32]` NUL-padded ASCII name.
    pub const NAME: usize = 0;
    /// `u8` dtype code.
    pub const DTYPE: usize = 32;
    /// `u8` rank.
    pub const RANK: usize = 33;
    /// `u16` reserved, must be 0.
    pub const RESERVED: usize = 34;
    /// `[u32; 4]` dims, unused dims 0.
    pub const DIMS: usize = 36;
    /// `u32` offset relative to the data section.
    pub const OFFSET: usize = 52;
    /// `u32` byte length.
    pub const BYTE_LEN: usize = 56;
    /// `i32` fixed-point fractional bits.
    pub const FRAC_BITS: usize = 60;
}

/// One dimension of a required tensor shape, expressed through the hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dim {
    /// `vocab_size` (V).
    Vocab,
    /// `embed_dim` (E).
    Embed,
    /// `hidden_dim` (H).
    Hidden,
    /// `gates · hidden_dim`: the gate rows of a cell stacked (3H GRU, 4H LSTM, H RNN).
    Gates,
    /// Width of the input of layer k: `embed_dim` for layer 0, else `hidden_dim`.
    LayerInput,
    /// `context · embed_dim`: the n-gram MLP's concatenated input.
    ContextEmbed,
    /// `context · vocab_size`: one row per (position, token) of the n-gram input table.
    ContextVocab,
    /// A fixed number.
    Fixed(u32),
}

/// Which layers a tensor exists for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layers {
    /// One tensor for the whole model, named `name`.
    Model,
    /// One per layer `k`, named `name` followed by `k`.
    All,
    /// One per layer from layer 1 on (layer 0's is folded into the token table).
    Upper,
}

impl Layers {
    /// Whether a tensor of this kind exists for layer `k` of a model with `num_layers`.
    pub const fn has(self, k: u32, num_layers: u32) -> bool {
        match self {
            Layers::Model => k == 0,
            Layers::All => k < num_layers,
            Layers::Upper => k >= 1 && k < num_layers,
        }
    }

    /// Whether the name carries a layer number.
    pub const fn per_layer(self) -> bool {
        !matches!(self, Layers::Model)
    }
}

/// A tensor a model must contain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    /// The name, or for a per-layer tensor the prefix that the layer number is appended to.
    pub name: &'static str,
    /// Which layers it exists for.
    pub layers: Layers,
    /// The shape, outermost dimension first.
    pub shape: &'static [Dim],
    /// The dtypes allowed for it.
    pub dtypes: &'static [DType],
}

/// The set of tensors a file of one architecture and weights kind must contain: exactly
/// these, no others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorTable {
    /// The required tensors.
    pub specs: &'static [TensorSpec],
}

const FLOATS: &[DType] = &[DType::F32, DType::F16];
const I8: &[DType] = &[DType::I8];
const I4: &[DType] = &[DType::I4];
const I16: &[DType] = &[DType::I16];
const I32: &[DType] = &[DType::I32];

const fn spec(
    name: &'static str,
    layers: Layers,
    shape: &'static [Dim],
    dtypes: &'static [DType],
) -> TensorSpec {
    TensorSpec {
        name,
        layers,
        shape,
        dtypes,
    }
}

/// The float tensors of a recurrent model: exactly PyTorch's state dict of embedding →
/// `nn.GRU` / `nn.LSTM` / `nn.RNN` → linear (the seed tutorial's `TextGenerator` names).
pub const RECURRENT_FLOAT: &[TensorSpec] = &[
    spec(
        "embed.weight",
        Layers::Model,
        &[Dim::Vocab, Dim::Embed],
        FLOATS,
    ),
    spec(
        "rnn.weight_ih_l",
        Layers::All,
        &[Dim::Gates, Dim::LayerInput],
        FLOATS,
    ),
    spec(
        "rnn.weight_hh_l",
        Layers::All,
        &[Dim::Gates, Dim::Hidden],
        FLOATS,
    ),
    spec("rnn.bias_ih_l", Layers::All, &[Dim::Gates], FLOATS),
    spec("rnn.bias_hh_l", Layers::All, &[Dim::Gates], FLOATS),
    spec(
        "proj.weight",
        Layers::Model,
        &[Dim::Vocab, Dim::Hidden],
        FLOATS,
    ),
    spec("proj.bias", Layers::Model, &[Dim::Vocab], FLOATS),
];

/// The float tensors of the n-gram MLP: embedding, the hidden `nn.Linear` over the
/// concatenated embeddings of the context (oldest first), the output `nn.Linear`.
pub const NGRAM_FLOAT: &[TensorSpec] = &[
    spec(
        "embed.weight",
        Layers::Model,
        &[Dim::Vocab, Dim::Embed],
        FLOATS,
    ),
    spec(
        "hidden.weight",
        Layers::Model,
        &[Dim::Hidden, Dim::ContextEmbed],
        FLOATS,
    ),
    spec("hidden.bias", Layers::Model, &[Dim::Hidden], FLOATS),
    spec(
        "proj.weight",
        Layers::Model,
        &[Dim::Vocab, Dim::Hidden],
        FLOATS,
    ),
    spec("proj.bias", Layers::Model, &[Dim::Vocab], FLOATS),
];

// ===================================================================================
// INT8 TENSOR TABLES — DEFINED BY THE RUNTIME'S SCHEME (runtime/QUANTIZATION.md).
// The runtime's `names` module spells the same names.
// ===================================================================================

const fn dense_specs(
    names: [&'static str; 4],
    layers: Layers,
    shape: &'static [Dim; 2],
    rows: &'static [Dim; 1],
    weights: &'static [DType],
) -> [TensorSpec; 4] {
    [
        spec(names[0], layers, shape, weights),
        spec(names[1], layers, rows, I32),
        spec(names[2], layers, rows, I8),
        spec(names[3], layers, rows, I32),
    ]
}

const IH_NAMES: [&str; 4] = [
    "rnn.weight_ih_l",
    "rnn.mult_ih_l",
    "rnn.shift_ih_l",
    "rnn.bias_ih_l",
];
const HH_NAMES: [&str; 4] = [
    "rnn.weight_hh_l",
    "rnn.mult_hh_l",
    "rnn.shift_hh_l",
    "rnn.bias_hh_l",
];
const PROJ_NAMES: [&str; 4] = ["proj.weight", "proj.mult", "proj.shift", "proj.bias"];
const GATES_BY_HIDDEN: &[Dim; 2] = &[Dim::Gates, Dim::Hidden];
const GATES_BY_INPUT: &[Dim; 2] = &[Dim::Gates, Dim::LayerInput];
const GATE_ROWS: &[Dim; 1] = &[Dim::Gates];
const VOCAB_BY_HIDDEN: &[Dim; 2] = &[Dim::Vocab, Dim::Hidden];
const VOCAB_ROWS: &[Dim; 1] = &[Dim::Vocab];

/// Input products of the upper layers (a table model's layer 0 has none).
const IH: [TensorSpec; 4] = dense_specs(IH_NAMES, Layers::Upper, GATES_BY_HIDDEN, GATE_ROWS, I8);
const HH: [TensorSpec; 4] = dense_specs(HH_NAMES, Layers::All, GATES_BY_HIDDEN, GATE_ROWS, I8);
const PROJ: [TensorSpec; 4] =
    dense_specs(PROJ_NAMES, Layers::Model, VOCAB_BY_HIDDEN, VOCAB_ROWS, I8);
const IH4: [TensorSpec; 4] = dense_specs(IH_NAMES, Layers::Upper, GATES_BY_HIDDEN, GATE_ROWS, I4);
const HH4: [TensorSpec; 4] = dense_specs(HH_NAMES, Layers::All, GATES_BY_HIDDEN, GATE_ROWS, I4);
const PROJ4: [TensorSpec; 4] =
    dense_specs(PROJ_NAMES, Layers::Model, VOCAB_BY_HIDDEN, VOCAB_ROWS, I4);
/// Input products of every layer, layer 0's over the embedding (factored models).
const IH_ALL: [TensorSpec; 4] = dense_specs(IH_NAMES, Layers::All, GATES_BY_INPUT, GATE_ROWS, I8);
const IH4_ALL: [TensorSpec; 4] = dense_specs(IH_NAMES, Layers::All, GATES_BY_INPUT, GATE_ROWS, I4);

const INPUT_TABLE: TensorSpec = spec(
    "rnn.input_table",
    Layers::Model,
    &[Dim::Vocab, Dim::Gates],
    I16,
);
const EMBED: TensorSpec = spec("rnn.embed", Layers::Model, &[Dim::Vocab, Dim::Embed], I8);

/// The tensors of a quantized recurrent model: layer 0's input product as a per-token
/// `i16` table, `i8` weights with per-row `i32` multipliers and `i8` shifts and `i32` Q16
/// biases for the other matrix products (the input products of layers 1 and up, the
/// recurrent products, the projection).
pub const RECURRENT_INT8: &[TensorSpec] = &[
    INPUT_TABLE,
    HH[0],
    HH[1],
    HH[2],
    HH[3],
    IH[0],
    IH[1],
    IH[2],
    IH[3],
    PROJ[0],
    PROJ[1],
    PROJ[2],
    PROJ[3],
];

/// [`RECURRENT_INT8`] with `i4` weight matrices (format version 3).
pub const RECURRENT_INT4: &[TensorSpec] = &[
    INPUT_TABLE,
    HH4[0],
    HH4[1],
    HH4[2],
    HH4[3],
    IH4[0],
    IH4[1],
    IH4[2],
    IH4[3],
    PROJ4[0],
    PROJ4[1],
    PROJ4[2],
    PROJ4[3],
];

/// A factored quantized recurrent model (the `FACTORED` flag, format version 3): instead
/// of the token table, the `i8` embedding `rnn.embed` and layer 0's input product as a
/// matrix over it (`rnn.weight_ih_l0`, `[G·H, E]`, with its multipliers, shifts and bias),
/// the other tensors as in [`RECURRENT_INT8`].
pub const RECURRENT_INT8_FACTORED: &[TensorSpec] = &[
    EMBED, HH[0], HH[1], HH[2], HH[3], IH_ALL[0], IH_ALL[1], IH_ALL[2], IH_ALL[3], PROJ[0],
    PROJ[1], PROJ[2], PROJ[3],
];

/// [`RECURRENT_INT8_FACTORED`] with `i4` weight matrices (the embedding stays `i8`).
pub const RECURRENT_INT4_FACTORED: &[TensorSpec] = &[
    EMBED, HH4[0], HH4[1], HH4[2], HH4[3], IH4_ALL[0], IH4_ALL[1], IH4_ALL[2], IH4_ALL[3],
    PROJ4[0], PROJ4[1], PROJ4[2], PROJ4[3],
];

const NGRAM_TABLE: TensorSpec = spec(
    "ngram.input_table",
    Layers::Model,
    &[Dim::ContextVocab, Dim::Hidden],
    I16,
);
const NGRAM_EXP: TensorSpec = spec("ngram.hidden_exp", Layers::Model, &[Dim::Fixed(1)], I8);

/// The tensors of a quantized n-gram MLP: the hidden layer's product per (context
/// position, token) as an `i16` table with the bias folded into the newest position, the
/// power-of-two scale of the ReLU hidden activations (`hidden_exp`), and the output product.
pub const NGRAM_INT8: &[TensorSpec] = &[NGRAM_TABLE, NGRAM_EXP, PROJ[0], PROJ[1], PROJ[2], PROJ[3]];

/// [`NGRAM_INT8`] with an `i4` projection (format version 3).
pub const NGRAM_INT4: &[TensorSpec] = &[
    NGRAM_TABLE,
    NGRAM_EXP,
    PROJ4[0],
    PROJ4[1],
    PROJ4[2],
    PROJ4[3],
];

/// The table files of `arch` with `weights` (and, for a quantized recurrent model, the
/// `FACTORED` flag) are validated against. `factored` is ignored where it is not allowed
/// (float weights, the n-gram MLP), which `Hyper::validate` refuses.
pub const fn table(arch: Arch, weights: WeightsKind, factored: bool) -> TensorTable {
    let specs = match (arch, weights, factored) {
        (Arch::Recurrent(_), WeightsKind::Float, _) => RECURRENT_FLOAT,
        (Arch::Recurrent(_), WeightsKind::Int8, false) => RECURRENT_INT8,
        (Arch::Recurrent(_), WeightsKind::Int8, true) => RECURRENT_INT8_FACTORED,
        (Arch::Recurrent(_), WeightsKind::Int4, false) => RECURRENT_INT4,
        (Arch::Recurrent(_), WeightsKind::Int4, true) => RECURRENT_INT4_FACTORED,
        (Arch::Ngram { .. }, WeightsKind::Float, _) => NGRAM_FLOAT,
        (Arch::Ngram { .. }, WeightsKind::Int8, _) => NGRAM_INT8,
        (Arch::Ngram { .. }, WeightsKind::Int4, _) => NGRAM_INT4,
    };
    TensorTable { specs }
}

/// Rounds `n` up to the next multiple of [`ALIGN`]; `None` on overflow.
pub const fn align_up(n: usize) -> Option<usize> {
    match n.checked_add(ALIGN - 1) {
        Some(m) => Some(m / ALIGN * ALIGN),
        None => None,
    }
}
