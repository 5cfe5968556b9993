//! The error type of the reader and the writer.

use core::fmt;

use crate::layout::{MAX_NAME_LEN, MAX_RANK, NAME_FIELD};
use crate::{Arch, DType, WeightsKind};

/// Why a byte buffer is not a valid mynah model (or why a model cannot be written).
///
/// Every variant holds only `Copy` data, so the type works without an allocator.
/// Offsets are byte offsets from the start of the file; `index` is the position of a
/// tensor in the directory (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// The file does not start with `MYNAHGRU`: it is not a mynah model.
    BadMagic,
    /// The file ends before the header or before its declared `file_size`.
    Truncated {
        /// Bytes needed.
        expected: usize,
        /// Bytes present.
        actual: usize,
    },
    /// `version` is 0, which was never a valid version.
    BadVersion {
        /// The stored version.
        found: u16,
    },
    /// The file was written by a newer mynah with a format this reader does not know.
    FutureVersion {
        /// The stored version.
        found: u16,
        /// The newest version this reader understands.
        supported: u16,
    },
    /// `header_size` is not the size of the version's header (64 in version 1, 128 in 2).
    BadHeaderSize {
        /// The stored header size.
        found: u16,
        /// The size the version requires.
        expected: u16,
    },
    /// `flags` has bits set that this version does not define.
    UnknownFlags {
        /// The stored flags.
        flags: u32,
    },
    /// The weights kind is not 0 (FLOAT), 1 (INT8) or, from version 3, 2 (INT4).
    UnknownWeightsKind {
        /// The stored code.
        found: u32,
    },
    /// The architecture code is not 0 (GRU), 1 (LSTM), 2 (RNN) or 3 (n-gram MLP).
    UnknownArch {
        /// The stored code.
        found: u32,
    },
    /// The special-token field has bits that no special token has.
    UnknownSpecials {
        /// The stored bits.
        bits: u32,
    },
    /// The n-gram activation code is not 1 (relu) or 2 (tanh), or a recurrent model
    /// stores one (it must store 0).
    UnknownActivation {
        /// The stored code.
        found: u32,
    },
    /// A reserved header byte (version 2: bytes 80..128) is not zero.
    NonZeroHeaderReserved {
        /// File offset of the first non-zero reserved byte.
        offset: usize,
    },
    /// An n-gram model has no `<BOS>` token, which its context starts filled with.
    NgramWithoutBos,
    /// The `FACTORED` flag is set on a model it is not defined for: it needs quantized
    /// (INT8 or INT4) weights and a recurrent architecture.
    FactoredUnsupported {
        /// The architecture.
        arch: Arch,
        /// The weights kind.
        weights: WeightsKind,
    },
    /// The declared `file_size` is below the smallest possible model file.
    FileTooSmall {
        /// The stored `file_size`.
        declared: u32,
    },
    /// The buffer is longer than the declared `file_size` (trailing bytes).
    FileSizeMismatch {
        /// The stored `file_size`.
        declared: u32,
        /// The buffer length.
        actual: usize,
    },
    /// A declared size or offset, or a section end computed from them, exceeds `u32::MAX`
    /// (no file can be that large; on 32-bit targets it would overflow `usize`).
    SizeOverflow {
        /// Which quantity overflowed.
        what: &'static str,
    },
    /// The CRC-32 trailer does not match the contents: the file is corrupt.
    ChecksumMismatch {
        /// The CRC stored in the trailer.
        stored: u32,
        /// The CRC of the contents.
        computed: u32,
    },
    /// A padding byte (between the vocabulary and the directory, or in the data section
    /// outside every tensor) is not zero.
    NonZeroPadding {
        /// File offset of the first non-zero padding byte.
        offset: usize,
    },
    /// A hyperparameter lies outside its allowed range.
    BadHyperparameter {
        /// The header field.
        field: &'static str,
        /// The stored value.
        value: u32,
        /// Smallest allowed value.
        min: u32,
        /// Largest allowed value.
        max: u32,
    },
    /// `tensor_count` is outside 1..=256.
    BadTensorCount {
        /// The stored (or requested) count.
        found: u32,
    },
    /// A section offset or size disagrees with the canonical section layout.
    BadSectionLayout {
        /// The header field.
        field: &'static str,
        /// The stored value.
        found: u32,
        /// The value the layout requires.
        expected: u64,
    },
    /// The buffer does not start at a 4-byte aligned address, so tensors cannot be
    /// viewed in place. Load the file with `MappedModel`, `read_aligned` or [`crate::Aligned`].
    MisalignedBuffer {
        /// The buffer address modulo 4.
        address_mod: usize,
    },
    /// The vocabulary is not valid UTF-8.
    BadVocabUtf8 {
        /// File offset of the first invalid byte.
        offset: usize,
    },
    /// The vocabulary characters are not sorted by Unicode scalar value.
    VocabNotSorted {
        /// File offset of the first out-of-order character.
        offset: usize,
        /// That character.
        ch: char,
    },
    /// A vocabulary character appears twice.
    DuplicateChar {
        /// File offset of the second occurrence.
        offset: usize,
        /// The character.
        ch: char,
    },
    /// The number of vocabulary characters is not `vocab_size` minus the special tokens.
    VocabCountMismatch {
        /// `vocab_size` minus the special tokens.
        expected: u32,
        /// Characters present.
        found: usize,
    },
    /// A tensor name is empty, too long, not NUL-terminated or uses a character
    /// outside `[A-Za-z0-9_.]`.
    BadTensorName {
        /// Directory index.
        index: u16,
        /// What is wrong.
        reason: &'static str,
    },
    /// Two tensors have the same name.
    DuplicateTensorName {
        /// The later entry.
        index: u16,
        /// The earlier entry with the same name.
        first: u16,
    },
    /// A tensor's dtype code is unknown.
    UnknownDType {
        /// Directory index.
        index: u16,
        /// The stored code.
        found: u8,
    },
    /// A tensor's rank is outside 1..=4.
    BadRank {
        /// Directory index.
        index: u16,
        /// The stored rank.
        rank: u8,
    },
    /// A directory entry's reserved field is not zero.
    NonZeroReserved {
        /// Directory index.
        index: u16,
    },
    /// A used dimension is 0, or an unused one is not 0.
    BadDims {
        /// Directory index.
        index: u16,
        /// Position of the offending dimension.
        dim: u8,
    },
    /// The byte size of a tensor exceeds `u32::MAX` (no file can hold it; on 32-bit
    /// targets the element count or byte size would overflow `usize`).
    TensorTooLarge {
        /// Directory index.
        index: u16,
    },
    /// A tensor's byte length is not `product(dims) * dtype size`.
    ByteLengthMismatch {
        /// Directory index.
        index: u16,
        /// `product(dims) * dtype size`.
        expected: usize,
        /// The stored (or supplied) length.
        found: usize,
    },
    /// A tensor offset is not a multiple of 64.
    MisalignedTensor {
        /// Directory index.
        index: u16,
        /// The stored offset (relative to the data section).
        offset: u32,
    },
    /// A tensor reaches past the end of the data section.
    TensorOutOfBounds {
        /// Directory index.
        index: u16,
        /// The stored offset (relative to the data section).
        offset: u32,
        /// The stored byte length.
        len: u32,
        /// Size of the data section.
        data_bytes: u32,
    },
    /// The padding nibble of a row of an `i4` tensor (the high nibble of the row's last
    /// byte when the row has an odd length) is not zero.
    NonZeroPaddingNibble {
        /// Directory index.
        index: u16,
        /// File offset of the byte holding it.
        offset: usize,
    },
    /// A value given to the writer for an `i4` tensor is outside `-8..=7`.
    I4OutOfRange {
        /// The index the tensor would have in the directory.
        index: u16,
        /// The value.
        value: i8,
    },
    /// Two tensors share bytes.
    OverlappingTensors {
        /// The earlier entry.
        first: u16,
        /// The later entry.
        second: u16,
    },
    /// `frac_bits` is not 0 for a float tensor, or outside -31..=31 for an integer one.
    BadFracBits {
        /// Directory index.
        index: u16,
        /// The tensor dtype.
        dtype: DType,
        /// The stored value.
        frac_bits: i32,
    },
    /// A tensor the hyperparameters require is absent.
    MissingTensor {
        /// The required name.
        name: TensorName,
    },
    /// A tensor that this kind of model must not contain is present.
    UnexpectedTensor {
        /// Directory index.
        index: u16,
        /// Its name.
        name: TensorName,
    },
    /// A required tensor has a dtype its role does not allow.
    WrongTensorDType {
        /// The tensor name.
        name: TensorName,
        /// The stored dtype.
        found: DType,
    },
    /// A tensor's shape disagrees with the hyperparameters.
    ShapeMismatch {
        /// The tensor name.
        name: TensorName,
        /// The shape the hyperparameters require.
        expected: Shape,
        /// The stored shape.
        found: Shape,
    },
    /// A typed view was requested for a tensor of another dtype.
    DTypeMismatch {
        /// The requested dtype.
        requested: DType,
        /// The tensor's dtype.
        found: DType,
    },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use FormatError::*;
        match *self {
            BadMagic => f.write_str("not a mynah model file (the first 8 bytes are not \"MYNAHGRU\")"),
            Truncated { expected, actual } => write!(
                f,
                "file is truncated: {actual} bytes present but {expected} needed (incomplete copy or download?)"
            ),
            BadVersion { found } => write!(f, "invalid format version {found}"),
            FutureVersion { found, supported } => write!(
                f,
                "model format version {found} is newer than this reader supports (version {supported}); upgrade mynah"
            ),
            BadHeaderSize { found, expected } => {
                write!(f, "header size is {found}, expected {expected}")
            }
            UnknownFlags { flags } => write!(
                f,
                "unknown header flags 0x{flags:08x} (bit 0 is RECORDS, bit 1 FACTORED from version 3); file from a newer writer or corrupt"
            ),
            UnknownWeightsKind { found } => {
                write!(f, "unknown weights kind {found} (0 = FLOAT, 1 = INT8, 2 = INT4 from version 3)")
            }
            UnknownArch { found } => write!(
                f,
                "unknown architecture {found} (0 = GRU, 1 = LSTM, 2 = RNN, 3 = n-gram MLP); file from a newer writer or corrupt"
            ),
            UnknownSpecials { bits } => write!(
                f,
                "unknown special-token bits 0x{bits:x} (1 <PAD>, 2 <BOS>, 4 <EOS>, 8 <UNK>)"
            ),
            UnknownActivation { found } => write!(
                f,
                "activation code {found} is not valid for this architecture (n-gram: 1 = relu, 2 = tanh; recurrent: 0)"
            ),
            NonZeroHeaderReserved { offset } => {
                write!(f, "reserved header byte at offset {offset} is not zero")
            }
            NgramWithoutBos => f.write_str(
                "the n-gram model has no <BOS> token (its context starts filled with <BOS>)",
            ),
            FactoredUnsupported { arch, weights } => write!(
                f,
                "the FACTORED flag is set on a {weights} {arch} model; it is defined for INT8 and INT4 recurrent models only"
            ),
            FileTooSmall { declared } => {
                write!(f, "declared file size {declared} is smaller than any valid model")
            }
            FileSizeMismatch { declared, actual } => write!(
                f,
                "file is {actual} bytes but its header declares {declared}: trailing bytes after the model"
            ),
            SizeOverflow { what } => write!(f, "{what} is too large for this platform or format"),
            ChecksumMismatch { stored, computed } => write!(
                f,
                "checksum mismatch: stored crc32 0x{stored:08x}, contents hash to 0x{computed:08x}; the file is corrupt"
            ),
            NonZeroPadding { offset } => write!(
                f,
                "padding byte at file offset {offset} is not zero (padding must be zero-filled)"
            ),
            BadHyperparameter { field, value, min, max } => {
                write!(f, "{field} = {value} is outside the allowed range {min}..={max}")
            }
            BadTensorCount { found } => {
                write!(f, "tensor count {found} is outside the allowed range 1..=256")
            }
            BadSectionLayout { field, found, expected } => {
                write!(f, "header field {field} is {found} but the layout requires {expected}")
            }
            MisalignedBuffer { address_mod } => write!(
                f,
                "model buffer starts at an address = {address_mod} mod 4; it must be 4-byte aligned \
                 (load it with MappedModel/read_aligned, or wrap include_bytes! in mynah_format::Aligned)"
            ),
            BadVocabUtf8 { offset } => {
                write!(f, "vocabulary is not valid UTF-8 at file offset {offset}")
            }
            VocabNotSorted { offset, ch } => write!(
                f,
                "vocabulary is not sorted: {ch:?} at file offset {offset} is smaller than the character before it"
            ),
            DuplicateChar { offset, ch } => {
                write!(f, "vocabulary contains {ch:?} twice (second at file offset {offset})")
            }
            VocabCountMismatch { expected, found } => write!(
                f,
                "vocabulary has {found} characters but vocab_size minus the special tokens is {expected}"
            ),
            BadTensorName { index, reason } => write!(f, "tensor {index}: bad name: {reason}"),
            DuplicateTensorName { index, first } => {
                write!(f, "tensor {index} has the same name as tensor {first}")
            }
            UnknownDType { index, found } => write!(
                f,
                "tensor {index}: unknown dtype code {found} (1=f32 2=f16 3=i8 4=i16 5=i32, 6=i4 from version 3)"
            ),
            BadRank { index, rank } => {
                write!(f, "tensor {index}: rank {rank} is outside 1..={MAX_RANK}")
            }
            NonZeroReserved { index } => write!(f, "tensor {index}: reserved field is not zero"),
            BadDims { index, dim } => write!(
                f,
                "tensor {index}: dimension {dim} is invalid (used dimensions must be >= 1, unused ones 0)"
            ),
            TensorTooLarge { index } => {
                write!(f, "tensor {index}: its dimensions ask for more than 4 GiB of data")
            }
            ByteLengthMismatch { index, expected, found } => write!(
                f,
                "tensor {index}: byte length is {found} but its shape and dtype need {expected}"
            ),
            MisalignedTensor { index, offset } => {
                write!(f, "tensor {index}: offset {offset} is not a multiple of 64")
            }
            TensorOutOfBounds { index, offset, len, data_bytes } => write!(
                f,
                "tensor {index}: bytes {offset}..{offset}+{len} lie outside the {data_bytes}-byte data section"
            ),
            NonZeroPaddingNibble { index, offset } => write!(
                f,
                "tensor {index}: the padding nibble of the i4 row ending at file offset {offset} is not zero"
            ),
            I4OutOfRange { index, value } => {
                write!(f, "tensor {index}: value {value} does not fit i4 (-8..=7)")
            }
            OverlappingTensors { first, second } => {
                write!(f, "tensors {first} and {second} overlap in the data section")
            }
            BadFracBits { index, dtype, frac_bits } => write!(
                f,
                "tensor {index}: frac_bits {frac_bits} not allowed for {dtype} (0 for floats, -31..=31 for integers)"
            ),
            MissingTensor { name } => write!(f, "required tensor `{name}` is missing"),
            UnexpectedTensor { index, name } => {
                write!(f, "tensor {index} `{name}` does not belong in this kind of model")
            }
            WrongTensorDType { name, found } => {
                write!(f, "tensor `{name}` has dtype {found}, which its role does not allow")
            }
            ShapeMismatch { name, expected, found } => write!(
                f,
                "tensor `{name}` has shape {found} but the hyperparameters require {expected}"
            ),
            DTypeMismatch { requested, found } => {
                write!(f, "asked for {requested} data of a {found} tensor")
            }
        }
    }
}

impl core::error::Error for FormatError {}

/// A tensor name held by value (for errors): up to 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TensorName {
    bytes: [u8; NAME_FIELD],
    len: u8,
}

impl TensorName {
    /// Copies `name`, truncated at a character boundary to 32 bytes.
    pub fn new(name: &str) -> Self {
        let mut end = name.len().min(NAME_FIELD);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0; NAME_FIELD];
        let src = name.as_bytes().get(..end).unwrap_or(&[]);
        if let Some(dst) = bytes.get_mut(..src.len()) {
            dst.copy_from_slice(src);
        }
        TensorName {
            bytes,
            len: src.len() as u8,
        }
    }

    /// `prefix` followed by the decimal `layer` (e.g. `rnn.weight_ih_l` + 1).
    pub fn with_layer(prefix: &str, layer: u32) -> Self {
        let mut name = Self::new(prefix);
        let mut digits = [0u8; 10];
        let mut n = layer;
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for &d in &digits[i..] {
            if let Some(slot) = name.bytes.get_mut(usize::from(name.len)) {
                *slot = d;
                name.len += 1;
            }
        }
        name
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        let bytes = self.bytes.get(..usize::from(self.len)).unwrap_or(&[]);
        // Built only from whole `&str` prefixes and ASCII digits, so this never fails.
        core::str::from_utf8(bytes).unwrap_or("")
    }
}

impl fmt::Display for TensorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TensorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A tensor shape held by value: rank 0..=4.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Shape {
    dims: [u32; MAX_RANK],
    rank: u8,
}

impl Shape {
    /// The shape made of the first (at most 4) entries of `dims`.
    pub fn new(dims: &[u32]) -> Self {
        let mut s = Shape::default();
        for (slot, &d) in s.dims.iter_mut().zip(dims) {
            *slot = d;
            s.rank += 1;
        }
        s
    }

    /// The dimensions, outermost first.
    pub fn dims(&self) -> &[u32] {
        self.dims.get(..usize::from(self.rank)).unwrap_or(&[])
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.dims().iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `MAX_NAME_LEN` is referenced in docs and checks; keep it in sync with the field size.
const _: () = assert!(MAX_NAME_LEN + 1 == NAME_FIELD);
