//! Byte layout constants and the tables of tensors a model must contain.
//!
//! Everything here is normative: `format/SPEC.md` describes the same numbers in prose.

use crate::DType;

/// The eight magic bytes every model file starts with.
pub const MAGIC: [u8; 8] = *b"MYNAHGRU";
/// The format version this crate reads and writes. Readers reject newer versions.
pub const VERSION: u16 = 1;
/// Size of the fixed header in bytes.
pub const HEADER_SIZE: usize = 64;
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
/// Lower bound on the size of any valid file: header, one directory entry and the CRC.
pub const MIN_FILE_SIZE: usize = HEADER_SIZE + DIR_ENTRY_SIZE + CRC_SIZE;
/// Length of the NUL-padded name field of a directory entry.
pub const NAME_FIELD: usize = 32;
/// Longest tensor name: the name field always ends in at least one NUL.
pub const MAX_NAME_LEN: usize = NAME_FIELD - 1;
/// Largest tensor rank.
pub const MAX_RANK: usize = 4;

/// `flags` bit 0: the model was trained on records; sampling stops at `<EOS>`.
pub const FLAG_RECORDS: u32 = 1;
/// All flag bits a version-1 reader understands; any other set bit is an error.
pub const KNOWN_FLAGS: u32 = FLAG_RECORDS;

/// Inclusive range of `vocab_size` (including the three special tokens).
pub const VOCAB_SIZE_RANGE: (u32, u32) = (4, 65535);
/// Inclusive range of `embed_dim`.
pub const EMBED_DIM_RANGE: (u32, u32) = (1, 4096);
/// Inclusive range of `hidden_dim`.
pub const HIDDEN_DIM_RANGE: (u32, u32) = (1, 4096);
/// Inclusive range of `num_layers`.
pub const NUM_LAYERS_RANGE: (u32, u32) = (1, 4);
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
    /// `u32` number of GRU layers.
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
    /// `3 * hidden_dim` (the r, z, n gates stacked).
    Gates,
    /// Width of the input of layer k: `embed_dim` for layer 0, else `hidden_dim`.
    LayerInput,
    /// A fixed number.
    Fixed(u32),
}

/// A tensor a model must contain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    /// The name, or for a per-layer tensor the prefix that the layer number is appended to.
    pub name: &'static str,
    /// Whether there is one tensor per layer, named `name` followed by the layer number.
    pub per_layer: bool,
    /// The shape, outermost dimension first.
    pub shape: &'static [Dim],
    /// The dtypes allowed for it.
    pub dtypes: &'static [DType],
}

/// The set of tensors a file of one weights kind must contain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorTable {
    /// The required tensors.
    pub specs: &'static [TensorSpec],
    /// Whether tensors not named in `specs` are allowed (and ignored by readers).
    pub allow_extra: bool,
}

const FLOATS: &[DType] = &[DType::F32, DType::F16];

/// The tensors of a FLOAT model: exactly PyTorch's `TextGenerator` state dict.
pub const FLOAT_TENSORS: &[TensorSpec] = &[
    TensorSpec {
        name: "embed.weight",
        per_layer: false,
        shape: &[Dim::Vocab, Dim::Embed],
        dtypes: FLOATS,
    },
    TensorSpec {
        name: "rnn.weight_ih_l",
        per_layer: true,
        shape: &[Dim::Gates, Dim::LayerInput],
        dtypes: FLOATS,
    },
    TensorSpec {
        name: "rnn.weight_hh_l",
        per_layer: true,
        shape: &[Dim::Gates, Dim::Hidden],
        dtypes: FLOATS,
    },
    TensorSpec {
        name: "rnn.bias_ih_l",
        per_layer: true,
        shape: &[Dim::Gates],
        dtypes: FLOATS,
    },
    TensorSpec {
        name: "rnn.bias_hh_l",
        per_layer: true,
        shape: &[Dim::Gates],
        dtypes: FLOATS,
    },
    TensorSpec {
        name: "proj.weight",
        per_layer: false,
        shape: &[Dim::Vocab, Dim::Hidden],
        dtypes: FLOATS,
    },
    TensorSpec {
        name: "proj.bias",
        per_layer: false,
        shape: &[Dim::Vocab],
        dtypes: FLOATS,
    },
];

/// FLOAT files contain exactly [`FLOAT_TENSORS`], nothing else.
pub const FLOAT_TABLE: TensorTable = TensorTable {
    specs: FLOAT_TENSORS,
    allow_extra: false,
};

// ===================================================================================
// INT8 TENSOR TABLE — OWNED BY THE RUNTIME (see runtime/QUANTIZATION.md).
// The runtime's `names` module spells the same names; its loader also requires, for
// layers 1 and up, `rnn.{weight,mult,shift,bias}_ih_l{k}` (same dtypes and shapes as
// their `_hh_` twins). `TensorSpec` cannot say "layers 1.." yet, so those are not in the
// table and `allow_extra` stays true; the FLOAT-name shape check still covers
// `rnn.weight_ih_l{k}` and `rnn.bias_ih_l{k}`.
// ===================================================================================

const I8: &[DType] = &[DType::I8];
const I16: &[DType] = &[DType::I16];
const I32: &[DType] = &[DType::I32];

/// The tensors of an INT8 (quantized) model. Defined by `runtime/QUANTIZATION.md`:
/// `i8` weights with per-row `i32` multipliers and `i8` shifts, `i32` Q16 biases, and
/// layer 0's input product as a per-token `i16` table.
pub const INT8_TENSORS: &[TensorSpec] = &[
    TensorSpec {
        name: "rnn.input_table",
        per_layer: false,
        shape: &[Dim::Vocab, Dim::Gates],
        dtypes: I16,
    },
    TensorSpec {
        name: "rnn.weight_hh_l",
        per_layer: true,
        shape: &[Dim::Gates, Dim::Hidden],
        dtypes: I8,
    },
    TensorSpec {
        name: "rnn.mult_hh_l",
        per_layer: true,
        shape: &[Dim::Gates],
        dtypes: I32,
    },
    TensorSpec {
        name: "rnn.shift_hh_l",
        per_layer: true,
        shape: &[Dim::Gates],
        dtypes: I8,
    },
    TensorSpec {
        name: "rnn.bias_hh_l",
        per_layer: true,
        shape: &[Dim::Gates],
        dtypes: I32,
    },
    TensorSpec {
        name: "proj.weight",
        per_layer: false,
        shape: &[Dim::Vocab, Dim::Hidden],
        dtypes: I8,
    },
    TensorSpec {
        name: "proj.mult",
        per_layer: false,
        shape: &[Dim::Vocab],
        dtypes: I32,
    },
    TensorSpec {
        name: "proj.shift",
        per_layer: false,
        shape: &[Dim::Vocab],
        dtypes: I8,
    },
    TensorSpec {
        name: "proj.bias",
        per_layer: false,
        shape: &[Dim::Vocab],
        dtypes: I32,
    },
];

/// The table INT8 files are validated against (other tensors allowed: the input
/// products of layers 1 and up, see above).
pub const INT8_TABLE: TensorTable = TensorTable {
    specs: INT8_TENSORS,
    allow_extra: true,
};

/// Rounds `n` up to the next multiple of [`ALIGN`]; `None` on overflow.
pub const fn align_up(n: usize) -> Option<usize> {
    match n.checked_add(ALIGN - 1) {
        Some(m) => Some(m / ALIGN * ALIGN),
        None => None,
    }
}
