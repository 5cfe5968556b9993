//! The zero-copy reader: [`Model::parse`] and the views it hands out.

use core::fmt;

use crate::arch::{Activation, Arch, Cell, Special, Specials};
use crate::error::{Shape, TensorName};
use crate::layout::{self, entry, header, Dim, TensorSpec};
use crate::FormatError;

/// Element type of a tensor. The discriminant is the code stored in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DType {
    /// IEEE 754 binary32.
    F32 = 1,
    /// IEEE 754 binary16 ([`half::f16`]).
    F16 = 2,
    /// Signed 8-bit integer.
    I8 = 3,
    /// Signed 16-bit integer.
    I16 = 4,
    /// Signed 32-bit integer.
    I32 = 5,
    /// Signed 4-bit integer (two's complement, -8..=7), two per byte, low nibble first;
    /// each row (the last dimension) padded to a whole byte with a zero nibble (format
    /// version 3).
    I4 = 6,
}

impl DType {
    /// All dtypes, in code order.
    pub const ALL: [DType; 6] = [
        DType::F32,
        DType::F16,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I4,
    ];

    /// The dtype with the given file code.
    pub const fn from_code(code: u8) -> Option<DType> {
        match code {
            1 => Some(DType::F32),
            2 => Some(DType::F16),
            3 => Some(DType::I8),
            4 => Some(DType::I16),
            5 => Some(DType::I32),
            6 => Some(DType::I4),
            _ => None,
        }
    }

    /// The code stored in the file.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// Bytes per element, rounded up: 1 for [`DType::I4`], which packs two elements per
    /// byte. Byte lengths of tensors come from [`DType::byte_len`].
    pub const fn size(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::I16 => 2,
            DType::I8 | DType::I4 => 1,
        }
    }

    /// The oldest format version that has this dtype (3 for [`DType::I4`], else 1).
    pub const fn since_version(self) -> u16 {
        match self {
            DType::I4 => 3,
            _ => 1,
        }
    }

    /// Bytes of a tensor of this dtype and shape (`dims`, outermost first): the element
    /// count times [`DType::size`], or for [`DType::I4`] the leading dimensions' product
    /// times `ceil(last / 2)` (every row padded to a whole byte). `None` on overflow.
    pub fn byte_len(self, dims: &[u32]) -> Option<usize> {
        let (&last, leading) = dims.split_last()?;
        let rows = leading
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(usize::try_from(d).ok()?))?;
        let last = usize::try_from(last).ok()?;
        let row_bytes = match self {
            DType::I4 => last.div_ceil(2),
            _ => last.checked_mul(self.size())?,
        };
        rows.checked_mul(row_bytes)
    }

    /// Whether this is a floating-point type.
    pub const fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F16)
    }

    /// The lowercase name (`f32`, `f16`, `i8`, `i16`, `i32`, `i4`).
    pub const fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::I8 => "i8",
            DType::I16 => "i16",
            DType::I32 => "i32",
            DType::I4 => "i4",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the weights are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WeightsKind {
    /// `f32`/`f16` tensors named as in PyTorch (code 0).
    Float,
    /// Quantized integer tensors with `i8` weights, see `runtime/QUANTIZATION.md` (code 1).
    Int8,
    /// The same quantized tensors with `i4` weights (code 2, format version 3).
    Int4,
}

impl WeightsKind {
    /// The code stored in the file.
    pub const fn code(self) -> u32 {
        match self {
            WeightsKind::Float => 0,
            WeightsKind::Int8 => 1,
            WeightsKind::Int4 => 2,
        }
    }

    /// The kind with the given file code.
    pub const fn from_code(code: u32) -> Option<WeightsKind> {
        match code {
            0 => Some(WeightsKind::Float),
            1 => Some(WeightsKind::Int8),
            2 => Some(WeightsKind::Int4),
            _ => None,
        }
    }

    /// `FLOAT`, `INT8` or `INT4`.
    pub const fn name(self) -> &'static str {
        match self {
            WeightsKind::Float => "FLOAT",
            WeightsKind::Int8 => "INT8",
            WeightsKind::Int4 => "INT4",
        }
    }

    /// Whether the tensors are the integer runtime's (INT8 or INT4).
    pub const fn is_quantized(self) -> bool {
        !matches!(self, WeightsKind::Float)
    }

    /// The dtype of the weight matrices of a quantized file (`i8` or `i4`; `None` for
    /// FLOAT, whose tensors are `f32`/`f16`).
    pub const fn weight_dtype(self) -> Option<DType> {
        match self {
            WeightsKind::Float => None,
            WeightsKind::Int8 => Some(DType::I8),
            WeightsKind::Int4 => Some(DType::I4),
        }
    }

    /// The oldest format version that has this kind (3 for INT4, else 1).
    pub const fn since_version(self) -> u16 {
        match self {
            WeightsKind::Int4 => 3,
            _ => 1,
        }
    }
}

impl fmt::Display for WeightsKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The hyperparameters stored in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Hyper {
    /// Vocabulary size: the special tokens and at least one character (at most 65535).
    pub vocab_size: u32,
    /// Embedding width (1..=4096).
    pub embed_dim: u32,
    /// Hidden width (1..=4096): of each recurrent layer, or of the n-gram's hidden layer.
    pub hidden_dim: u32,
    /// Number of stacked recurrent layers (1..=4; the n-gram MLP has 1).
    pub num_layers: u32,
    /// Trained on records: sampling stops at `<EOS>`.
    pub records: bool,
    /// How the weights are stored.
    pub weights: WeightsKind,
    /// The architecture.
    pub arch: Arch,
    /// The special tokens of the vocabulary (they take the first ids).
    pub specials: Specials,
    /// The `FACTORED` flag (quantized recurrent models only, format version 3): layer 0's
    /// input product is computed from an `i8` embedding (`rnn.embed`) and a weight matrix
    /// (`rnn.weight_ih_l0`) instead of read from the per-token table `rnn.input_table`.
    pub factored: bool,
}

impl Hyper {
    /// Checks every hyperparameter against its allowed range, and that the `FACTORED`
    /// flag is only set on a quantized recurrent model.
    pub fn validate(&self) -> Result<(), FormatError> {
        let layers = match self.arch {
            Arch::Ngram { .. } => (1, 1),
            Arch::Recurrent(_) => layout::NUM_LAYERS_RANGE,
        };
        // At least one character after the specials.
        let vocab = (self.specials.count() + 1, layout::VOCAB_SIZE_RANGE.1);
        let checks = [
            ("vocab_size", self.vocab_size, vocab),
            ("embed_dim", self.embed_dim, layout::EMBED_DIM_RANGE),
            ("hidden_dim", self.hidden_dim, layout::HIDDEN_DIM_RANGE),
            ("num_layers", self.num_layers, layers),
            ("context", self.arch.context(), context_range(self.arch)),
        ];
        for (field, value, (min, max)) in checks {
            if value < min || value > max {
                return Err(FormatError::BadHyperparameter {
                    field,
                    value,
                    min,
                    max,
                });
            }
        }
        if matches!(self.arch, Arch::Ngram { .. }) && !self.specials.contains(Special::Bos) {
            return Err(FormatError::NgramWithoutBos);
        }
        check_factored(self.factored, self.arch, self.weights)
    }

    /// The tensor table files with these hyperparameters are validated against.
    pub const fn table(&self) -> layout::TensorTable {
        layout::table(self.arch, self.weights, self.factored)
    }

    /// The header flags these hyperparameters encode.
    pub const fn flags(&self) -> u32 {
        let records = if self.records {
            layout::FLAG_RECORDS
        } else {
            0
        };
        let factored = if self.factored {
            layout::FLAG_FACTORED
        } else {
            0
        };
        records | factored
    }

    /// The lowest format version that can express a file with these hyperparameters: 3
    /// for INT4 weights or the `FACTORED` flag, else 2 (writers write it).
    pub const fn min_version(&self) -> u16 {
        if self.factored || self.weights.since_version() > 2 {
            3
        } else {
            2
        }
    }

    /// The value of `dim` for layer `layer`.
    pub fn dim(&self, dim: Dim, layer: u32) -> u32 {
        match dim {
            Dim::Vocab => self.vocab_size,
            Dim::Embed => self.embed_dim,
            Dim::Hidden => self.hidden_dim,
            Dim::Gates => self.hidden_dim.saturating_mul(self.arch.gates()),
            Dim::ContextEmbed => self.embed_dim.saturating_mul(self.arch.context()),
            Dim::ContextVocab => self.vocab_size.saturating_mul(self.arch.context()),
            Dim::LayerInput if layer == 0 => self.embed_dim,
            Dim::LayerInput => self.hidden_dim,
            Dim::Fixed(n) => n,
        }
    }

    /// The shape `spec` has for layer `layer` under these hyperparameters.
    pub fn shape_of(&self, spec: &TensorSpec, layer: u32) -> Shape {
        let mut dims = [0u32; layout::MAX_RANK];
        for (slot, &d) in dims.iter_mut().zip(spec.shape) {
            *slot = self.dim(d, layer);
        }
        Shape::new(
            dims.get(..spec.shape.len().min(layout::MAX_RANK))
                .unwrap_or(&[]),
        )
    }
}

/// The `FACTORED` flag is defined for quantized (INT8, INT4) recurrent models only.
fn check_factored(factored: bool, arch: Arch, weights: WeightsKind) -> Result<(), FormatError> {
    if factored && (!weights.is_quantized() || arch.cell().is_none()) {
        return Err(FormatError::FactoredUnsupported { arch, weights });
    }
    Ok(())
}

/// The allowed n-gram context: 1..=32 for the n-gram MLP, exactly 0 otherwise.
const fn context_range(arch: Arch) -> (u32, u32) {
    match arch {
        Arch::Ngram { .. } => layout::CONTEXT_RANGE,
        Arch::Recurrent(_) => (0, 0),
    }
}

/// The version-2 header fields after the first 64 bytes: architecture and special tokens.
/// Version-1 files are GRUs with `<PAD>`, `<BOS>`, `<EOS>`.
fn read_model_fields(bytes: &[u8], version: u16) -> Result<(Arch, Specials), FormatError> {
    if version == 1 {
        return Ok((Arch::GRU, Specials::DEFAULT));
    }
    let code = read_u32(bytes, header::ARCH)?;
    let bits = read_u32(bytes, header::SPECIALS)?;
    let context = read_u32(bytes, header::CONTEXT)?;
    let act = read_u32(bytes, header::ACTIVATION)?;
    let arch = match code {
        0..=2 => {
            if act != 0 {
                return Err(FormatError::UnknownActivation { found: act });
            }
            if context != 0 {
                return Err(FormatError::BadHyperparameter {
                    field: "context",
                    value: context,
                    min: 0,
                    max: 0,
                });
            }
            Arch::Recurrent(Cell::ALL[code as usize])
        }
        3 => Arch::Ngram {
            context,
            activation: Activation::from_code(act)
                .ok_or(FormatError::UnknownActivation { found: act })?,
        },
        _ => return Err(FormatError::UnknownArch { found: code }),
    };
    let specials = Specials::from_bits(bits).ok_or(FormatError::UnknownSpecials { bits })?;
    let reserved = bytes
        .get(header::RESERVED..layout::HEADER_SIZE)
        .unwrap_or(&[]);
    if let Some(i) = reserved.iter().position(|&b| b != 0) {
        return Err(FormatError::NonZeroHeaderReserved {
            offset: header::RESERVED + i,
        });
    }
    Ok((arch, specials))
}

/// Where the sections of a validated file lie. Holds no borrow, so owners of the bytes
/// (like `MappedModel`) can keep it next to them and rebuild a [`Model`] for free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    hyper: Hyper,
    version: u16,
    checksum: u32,
    file_size: usize,
    vocab_start: usize,
    vocab_end: usize,
    vocab_chars: usize,
    dir_start: usize,
    tensor_count: usize,
    data_start: usize,
    data_end: usize,
}

/// A validated model file, borrowed from its bytes. Creating one never allocates.
#[derive(Clone, Copy)]
pub struct Model<'a> {
    bytes: &'a [u8],
    layout: Layout,
}

impl fmt::Debug for Model<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("version", &self.layout.version)
            .field("hyper", &self.layout.hyper)
            .field("file_size", &self.layout.file_size)
            .field("tensor_count", &self.layout.tensor_count)
            .finish()
    }
}

fn read_u16(b: &[u8], at: usize) -> Result<u16, FormatError> {
    match b.get(at..).and_then(|s| s.first_chunk::<2>()) {
        Some(a) => Ok(u16::from_le_bytes(*a)),
        None => Err(FormatError::Truncated {
            expected: at.saturating_add(2),
            actual: b.len(),
        }),
    }
}

fn read_u32(b: &[u8], at: usize) -> Result<u32, FormatError> {
    match b.get(at..).and_then(|s| s.first_chunk::<4>()) {
        Some(a) => Ok(u32::from_le_bytes(*a)),
        None => Err(FormatError::Truncated {
            expected: at.saturating_add(4),
            actual: b.len(),
        }),
    }
}

fn to_usize(v: u32, what: &'static str) -> Result<usize, FormatError> {
    usize::try_from(v).map_err(|_| FormatError::SizeOverflow { what })
}

/// Whether `n` fits the `u32` fields of the format. No offset or size inside a file can
/// exceed `u32::MAX` (`file_size` is a `u32`), and bounding every computed size by it makes
/// a hostile value the same error on 64-bit hosts as on 32-bit targets, where it would
/// overflow `usize`.
fn fits_u32(n: usize) -> bool {
    u32::try_from(n).is_ok()
}

/// `a + b` as a file offset: [`FormatError::SizeOverflow`] past `u32::MAX`.
fn add(a: usize, b: usize, what: &'static str) -> Result<usize, FormatError> {
    a.checked_add(b)
        .filter(|&n| fits_u32(n))
        .ok_or(FormatError::SizeOverflow { what })
}

/// The two `i4` elements of a byte, sign-extended: (low nibble, high nibble), the low
/// nibble being the earlier column.
pub const fn unpack_i4(byte: u8) -> (i8, i8) {
    (((byte << 4) as i8) >> 4, (byte as i8) >> 4)
}

/// CRC-32 (IEEE) of `bytes`.
///
/// With `std`, `crc32fast` (SIMD or a 16 KiB slice-by-16 table); without it, a loop over
/// half-bytes with a 64-byte table, because on a microcontroller every kilobyte of table
/// counts against a 16 KiB program and the check runs once, at load (about 12 Cortex-M
/// instructions per byte).
pub fn crc32(bytes: &[u8]) -> u32 {
    #[cfg(feature = "std")]
    {
        crc32fast::hash(bytes)
    }
    #[cfg(not(feature = "std"))]
    {
        crc32_nibbles(bytes)
    }
}

/// The half-byte CRC-32 table: entry `i` is the CRC register after shifting the 4 bits of
/// `i` out (reflected IEEE polynomial `0xEDB88320`).
#[cfg(any(test, not(feature = "std")))]
const CRC32_NIBBLE_TABLE: [u32; 16] = {
    let mut table = [0u32; 16];
    let mut i = 0;
    while i < 16 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 4 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC-32 (IEEE), two table lookups per byte (low half-byte first, as the bits go).
#[cfg(any(test, not(feature = "std")))]
fn crc32_nibbles(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        c = CRC32_NIBBLE_TABLE[(c & 0xF) as usize] ^ (c >> 4);
        c = CRC32_NIBBLE_TABLE[(c & 0xF) as usize] ^ (c >> 4);
    }
    !c
}

/// Checks every rule that does not depend on the tensor table; see SPEC.md for the order.
fn check_container(bytes: &[u8]) -> Result<Layout, FormatError> {
    // 1. Identity: magic, version, header size. A newer version may have any layout,
    //    so nothing else is looked at before the version is known.
    let prefix = bytes.get(..layout::MAGIC.len()).unwrap_or(bytes);
    if layout::MAGIC.get(..prefix.len()) != Some(prefix) {
        return Err(FormatError::BadMagic);
    }
    // The smallest header of any version (version 1's); the version's own header size is
    // required once the version is known.
    if bytes.len() < layout::HEADER_SIZE_V1 {
        return Err(FormatError::Truncated {
            expected: layout::HEADER_SIZE_V1,
            actual: bytes.len(),
        });
    }
    let version = read_u16(bytes, header::VERSION)?;
    if version == 0 {
        return Err(FormatError::BadVersion { found: version });
    }
    if version > layout::VERSION {
        return Err(FormatError::FutureVersion {
            found: version,
            supported: layout::VERSION,
        });
    }
    let header_len = if version == 1 {
        layout::HEADER_SIZE_V1
    } else {
        layout::HEADER_SIZE
    };
    let header_size = read_u16(bytes, header::HEADER_SIZE)?;
    if usize::from(header_size) != header_len {
        return Err(FormatError::BadHeaderSize {
            found: header_size,
            expected: header_len as u16,
        });
    }
    if bytes.len() < header_len {
        return Err(FormatError::Truncated {
            expected: header_len,
            actual: bytes.len(),
        });
    }
    let flags = read_u32(bytes, header::FLAGS)?;
    if flags & !layout::known_flags(version) != 0 {
        return Err(FormatError::UnknownFlags { flags });
    }
    let kind_code = read_u32(bytes, header::WEIGHTS_KIND)?;
    let weights = WeightsKind::from_code(kind_code)
        .filter(|w| w.since_version() <= version)
        .ok_or(FormatError::UnknownWeightsKind { found: kind_code })?;
    let (arch, specials) = read_model_fields(bytes, version)?;
    let factored = flags & layout::FLAG_FACTORED != 0;

    // 2. Size, then checksum: after this every byte is known to be as written, so a
    //    single flipped bit is always caught here rather than by luck further down.
    let declared = read_u32(bytes, header::FILE_SIZE)?;
    let file_size = to_usize(declared, "file_size")?;
    // This version's header, one directory entry and the CRC.
    let min_size = header_len + layout::DIR_ENTRY_SIZE + layout::CRC_SIZE;
    if file_size < min_size {
        return Err(FormatError::FileTooSmall { declared });
    }
    if bytes.len() < file_size {
        return Err(FormatError::Truncated {
            expected: file_size,
            actual: bytes.len(),
        });
    }
    if bytes.len() > file_size {
        return Err(FormatError::FileSizeMismatch {
            declared,
            actual: bytes.len(),
        });
    }
    let body_end = file_size - layout::CRC_SIZE; // file_size >= min_size > CRC_SIZE
    let stored = read_u32(bytes, body_end)?;
    let computed = crc32(bytes.get(..body_end).unwrap_or(&[]));
    if stored != computed {
        return Err(FormatError::ChecksumMismatch { stored, computed });
    }

    // 3. Structure. From here on the CRC matched, but a hostile file can carry a valid
    //    CRC, so every check still assumes nothing.
    let hyper = Hyper {
        vocab_size: read_u32(bytes, header::VOCAB_SIZE)?,
        embed_dim: read_u32(bytes, header::EMBED_DIM)?,
        hidden_dim: read_u32(bytes, header::HIDDEN_DIM)?,
        num_layers: read_u32(bytes, header::NUM_LAYERS)?,
        records: flags & layout::FLAG_RECORDS != 0,
        weights,
        arch,
        specials,
        factored,
    };
    hyper.validate()?;

    let addr_mod = (bytes.as_ptr() as usize) % layout::BUFFER_ALIGN;
    if addr_mod != 0 {
        return Err(FormatError::MisalignedBuffer {
            address_mod: addr_mod,
        });
    }

    // Sections: header | vocab | pad to 64 | directory | data | crc, with no other gaps.
    let vocab_offset = read_u32(bytes, header::VOCAB_OFFSET)?;
    if to_usize(vocab_offset, "vocab_offset")? != header_len {
        return Err(FormatError::BadSectionLayout {
            field: "vocab_offset",
            found: vocab_offset,
            expected: header_len as u64,
        });
    }
    let vocab_bytes = read_u32(bytes, header::VOCAB_BYTES)?;
    let vocab_start = header_len;
    let vocab_end = add(
        vocab_start,
        to_usize(vocab_bytes, "vocab_bytes")?,
        "vocab section",
    )?;
    let dir_expected =
        layout::align_up(vocab_end)
            .filter(|&n| fits_u32(n))
            .ok_or(FormatError::SizeOverflow {
                what: "vocab section",
            })?;
    let dir_offset = read_u32(bytes, header::DIR_OFFSET)?;
    if to_usize(dir_offset, "dir_offset")? != dir_expected {
        return Err(FormatError::BadSectionLayout {
            field: "dir_offset",
            found: dir_offset,
            expected: dir_expected as u64,
        });
    }
    let count_raw = read_u32(bytes, header::TENSOR_COUNT)?;
    let (min_count, max_count) = layout::TENSOR_COUNT_RANGE;
    if count_raw < min_count || count_raw > max_count {
        return Err(FormatError::BadTensorCount { found: count_raw });
    }
    let tensor_count = to_usize(count_raw, "tensor_count")?;
    let dir_len = tensor_count
        .checked_mul(layout::DIR_ENTRY_SIZE)
        .ok_or(FormatError::SizeOverflow { what: "directory" })?;
    let data_expected = add(dir_expected, dir_len, "directory")?;
    let data_offset = read_u32(bytes, header::DATA_OFFSET)?;
    if to_usize(data_offset, "data_offset")? != data_expected {
        return Err(FormatError::BadSectionLayout {
            field: "data_offset",
            found: data_offset,
            expected: data_expected as u64,
        });
    }
    let data_bytes = read_u32(bytes, header::DATA_BYTES)?;
    let data_end = add(
        data_expected,
        to_usize(data_bytes, "data_bytes")?,
        "data section",
    )?;
    if data_end != body_end {
        // Report the data size that would make the sections tile the file exactly.
        let expected = body_end.checked_sub(data_expected).map_or(0, |n| n as u64);
        return Err(FormatError::BadSectionLayout {
            field: "data_bytes",
            found: data_bytes,
            expected,
        });
    }

    // Vocabulary: UTF-8, strictly increasing, vocab_size minus the specials characters.
    let vocab_raw = bytes
        .get(vocab_start..vocab_end)
        .ok_or(FormatError::Truncated {
            expected: vocab_end,
            actual: bytes.len(),
        })?;
    let vocab_chars = check_vocab(vocab_raw, vocab_start, hyper.vocab_size, specials)?;

    let layout = Layout {
        hyper,
        version,
        checksum: stored,
        file_size,
        vocab_start,
        vocab_end,
        vocab_chars,
        dir_start: dir_expected,
        tensor_count,
        data_start: data_expected,
        data_end,
    };

    // Directory: each entry on its own, then pairwise names and overlaps (n <= 256).
    let model = Model { bytes, layout };
    for i in 0..tensor_count {
        let t = model.entry(i)?;
        for j in 0..i {
            let u = model.entry(j)?;
            if u.name == t.name {
                return Err(FormatError::DuplicateTensorName {
                    index: i as u16,
                    first: j as u16,
                });
            }
            let (a, b) = (u.range(), t.range());
            if a.0 < b.1 && b.0 < a.1 {
                return Err(FormatError::OverlappingTensors {
                    first: j as u16,
                    second: i as u16,
                });
            }
        }
    }

    // Padding: every byte that is neither a field, a character nor tensor data is zero,
    // so no byte of the file goes unchecked.
    check_zero(bytes, vocab_end, dir_expected)?;
    let mut first_start = data_end;
    for t in model.tensors() {
        let (start, end) = t.range();
        first_start = first_start.min(start);
        // The gap after a tensor runs to the next tensor start (or the end of the data).
        let next = model
            .tensors()
            .map(|u| u.range().0)
            .filter(|&s| s >= end)
            .fold(data_end, usize::min);
        check_zero(bytes, end, next)?;
    }
    check_zero(bytes, data_expected, first_start)?;
    for i in 0..tensor_count {
        check_padding_nibbles(&model.entry(i)?, i as u16)?;
    }
    Ok(layout)
}

/// In an `i4` tensor whose rows (last dimension) have an odd length, the high nibble of
/// each row's last byte is padding and must be zero.
fn check_padding_nibbles(t: &Tensor<'_>, index: u16) -> Result<(), FormatError> {
    let cols = t.shape().last().copied().unwrap_or(0) as usize;
    if t.dtype != DType::I4 || cols.is_multiple_of(2) {
        return Ok(());
    }
    let row_bytes = cols.div_ceil(2);
    for (r, row) in t.bytes.chunks_exact(row_bytes).enumerate() {
        if row.last().is_some_and(|&b| b & 0xF0 != 0) {
            return Err(FormatError::NonZeroPaddingNibble {
                index,
                offset: t.offset + (r + 1) * row_bytes - 1,
            });
        }
    }
    Ok(())
}

/// Checks that `bytes[from..to]` are all zero.
fn check_zero(bytes: &[u8], from: usize, to: usize) -> Result<(), FormatError> {
    let pad = bytes.get(from..to).unwrap_or(&[]);
    match pad.iter().position(|&b| b != 0) {
        Some(i) => Err(FormatError::NonZeroPadding {
            offset: from.saturating_add(i),
        }),
        None => Ok(()),
    }
}

/// Validates the vocabulary bytes found at file offset `base`; returns the char count.
pub(crate) fn check_vocab(
    raw: &[u8],
    base: usize,
    vocab_size: u32,
    specials: Specials,
) -> Result<usize, FormatError> {
    let text = core::str::from_utf8(raw).map_err(|e| FormatError::BadVocabUtf8 {
        offset: base.saturating_add(e.valid_up_to()),
    })?;
    let mut prev: Option<char> = None;
    let mut count = 0usize;
    for (at, ch) in text.char_indices() {
        if let Some(p) = prev {
            let offset = base.saturating_add(at);
            if ch == p {
                return Err(FormatError::DuplicateChar { offset, ch });
            }
            if ch < p {
                return Err(FormatError::VocabNotSorted { offset, ch });
            }
        }
        prev = Some(ch);
        count += 1;
    }
    let expected = vocab_size.saturating_sub(specials.count());
    if usize::try_from(expected).ok() != Some(count) {
        return Err(FormatError::VocabCountMismatch {
            expected,
            found: count,
        });
    }
    Ok(count)
}

/// Fixed-point fractional bits are 0 for floats and within `FRAC_BITS_RANGE` for integers
/// (shared by the reader and the writer).
pub(crate) fn check_frac_bits(index: u16, dtype: DType, frac_bits: i32) -> Result<(), FormatError> {
    let (lo, hi) = layout::FRAC_BITS_RANGE;
    let ok = if dtype.is_float() {
        frac_bits == 0
    } else {
        (lo..=hi).contains(&frac_bits)
    };
    if ok {
        Ok(())
    } else {
        Err(FormatError::BadFracBits {
            index,
            dtype,
            frac_bits,
        })
    }
}

/// Validates a 32-byte name field; returns the name.
pub(crate) fn check_name(field: &[u8], index: u16) -> Result<&str, FormatError> {
    let bad = |reason| FormatError::BadTensorName { index, reason };
    let len = field
        .iter()
        .position(|&b| b == 0)
        .ok_or(bad("not NUL-terminated within 32 bytes"))?;
    let (name, pad) = field.split_at(len);
    if name.is_empty() {
        return Err(bad("empty"));
    }
    if !pad.iter().all(|&b| b == 0) {
        return Err(bad("bytes after the terminating NUL are not zero"));
    }
    if !name
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        return Err(bad("characters outside [A-Za-z0-9_.]"));
    }
    core::str::from_utf8(name).map_err(|_| bad("characters outside [A-Za-z0-9_.]"))
}

impl<'a> Model<'a> {
    /// Parses and fully validates a model file: header, checksum, sections, vocabulary,
    /// directory and the tensor set the hyperparameters require.
    ///
    /// Never panics and never allocates. The buffer must start at a 4-byte aligned
    /// address (so that every tensor can be viewed in place).
    pub fn parse(bytes: &'a [u8]) -> Result<Model<'a>, FormatError> {
        let model = Self::parse_container(bytes)?;
        model.check_tensors()?;
        Ok(model)
    }

    /// Like [`Model::parse`] but skips [`Model::check_tensors`]: the file is a valid
    /// container whose tensors need not match what the hyperparameters require.
    ///
    /// For generic tools and tests; inference code should use [`Model::parse`].
    pub fn parse_container(bytes: &'a [u8]) -> Result<Model<'a>, FormatError> {
        let layout = check_container(bytes)?;
        Ok(Model { bytes, layout })
    }

    /// Rebuilds a model from a layout that was validated for these very bytes.
    #[cfg(feature = "std")]
    pub(crate) fn from_layout(bytes: &'a [u8], layout: Layout) -> Model<'a> {
        Model { bytes, layout }
    }

    #[cfg(feature = "std")]
    pub(crate) fn layout(&self) -> Layout {
        self.layout
    }

    /// Checks that the tensors are exactly those the architecture, the weights kind and the
    /// hyperparameters require (see [`layout::table`]).
    pub fn check_tensors(&self) -> Result<(), FormatError> {
        let hyper = self.layout.hyper;
        let table = hyper.table();
        check_table(self, table.specs)?;
        for (i, t) in self.tensors().enumerate() {
            if !table_names(table.specs, t.name, hyper.num_layers) {
                return Err(FormatError::UnexpectedTensor {
                    index: i as u16,
                    name: TensorName::new(t.name),
                });
            }
        }
        Ok(())
    }

    /// The hyperparameters.
    pub fn hyper(&self) -> Hyper {
        self.layout.hyper
    }

    /// The format version of the file.
    pub fn version(&self) -> u16 {
        self.layout.version
    }

    /// Total size of the file in bytes, including the CRC trailer.
    pub fn file_size(&self) -> usize {
        self.layout.file_size
    }

    /// The (verified) CRC-32 stored in the trailer.
    pub fn checksum(&self) -> u32 {
        self.layout.checksum
    }

    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The vocabulary.
    pub fn vocab(&self) -> Vocab<'a> {
        let raw = self
            .bytes
            .get(self.layout.vocab_start..self.layout.vocab_end)
            .unwrap_or(&[]);
        // Validated in `check_container`; the fallback is never taken.
        let text = core::str::from_utf8(raw).unwrap_or("");
        Vocab::new(text, self.layout.vocab_chars, self.layout.hyper.specials)
    }

    /// Number of tensors.
    pub fn tensor_count(&self) -> usize {
        self.layout.tensor_count
    }

    /// The tensors in directory order.
    pub fn tensors(&self) -> impl Iterator<Item = Tensor<'a>> + 'a {
        let model = *self;
        (0..self.layout.tensor_count).filter_map(move |i| model.entry(i).ok())
    }

    /// The tensor called `name`, if any.
    pub fn tensor(&self, name: &str) -> Option<Tensor<'a>> {
        self.tensors().find(|t| t.name == name)
    }

    /// The tensor called `name`, or [`FormatError::MissingTensor`].
    pub fn require(&self, name: &'static str) -> Result<Tensor<'a>, FormatError> {
        self.tensor(name).ok_or(FormatError::MissingTensor {
            name: TensorName::new(name),
        })
    }

    /// Decodes and validates directory entry `i`.
    fn entry(&self, i: usize) -> Result<Tensor<'a>, FormatError> {
        let index = i as u16; // i < tensor_count <= 256
        let start = i
            .checked_mul(layout::DIR_ENTRY_SIZE)
            .and_then(|o| o.checked_add(self.layout.dir_start))
            .ok_or(FormatError::SizeOverflow { what: "directory" })?;
        let raw = self
            .bytes
            .get(start..)
            .and_then(|s| s.first_chunk::<{ layout::DIR_ENTRY_SIZE }>())
            .ok_or(FormatError::Truncated {
                expected: start.saturating_add(layout::DIR_ENTRY_SIZE),
                actual: self.bytes.len(),
            })?;
        let name = check_name(raw.get(..layout::NAME_FIELD).unwrap_or(&[]), index)?;
        let code = raw[entry::DTYPE];
        let dtype = DType::from_code(code)
            .filter(|d| d.since_version() <= self.layout.version)
            .ok_or(FormatError::UnknownDType { index, found: code })?;
        let rank = raw[entry::RANK];
        if rank == 0 || usize::from(rank) > layout::MAX_RANK {
            return Err(FormatError::BadRank { index, rank });
        }
        if read_u16(raw, entry::RESERVED)? != 0 {
            return Err(FormatError::NonZeroReserved { index });
        }
        let mut dims = [0u32; layout::MAX_RANK];
        for (d, slot) in dims.iter_mut().enumerate() {
            let v = read_u32(raw, entry::DIMS + 4 * d)?;
            let used = d < usize::from(rank);
            if used == (v == 0) {
                return Err(FormatError::BadDims {
                    index,
                    dim: d as u8,
                });
            }
            *slot = v;
        }
        // The element count and the byte size, both bounded by u32::MAX on every target
        // (the element count of an i4 tensor is up to twice its bytes).
        let used = dims.get(..usize::from(rank)).unwrap_or(&[]);
        let numel = used
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(to_usize(d, "dim").ok()?))
            .filter(|&n| fits_u32(n));
        // `DType::byte_len`, from the element count (every dimension is at least 1).
        let last = used.last().map_or(1, |&d| d as usize);
        let expected = numel
            .and_then(|n| match dtype {
                DType::I4 => Some(n.checked_div(last)? * last.div_ceil(2)),
                _ => n.checked_mul(dtype.size()),
            })
            .filter(|&n| fits_u32(n))
            .ok_or(FormatError::TensorTooLarge { index })?;
        let offset = read_u32(raw, entry::OFFSET)?;
        let len = read_u32(raw, entry::BYTE_LEN)?;
        if to_usize(len, "tensor length")? != expected {
            return Err(FormatError::ByteLengthMismatch {
                index,
                expected,
                found: len as usize,
            });
        }
        let frac_bits = i32::from_le_bytes(read_u32(raw, entry::FRAC_BITS)?.to_le_bytes());
        check_frac_bits(index, dtype, frac_bits)?;
        let off = to_usize(offset, "tensor offset")?;
        if off % layout::ALIGN != 0 {
            return Err(FormatError::MisalignedTensor { index, offset });
        }
        let data = self
            .bytes
            .get(self.layout.data_start..self.layout.data_end)
            .unwrap_or(&[]);
        let out_of_bounds = FormatError::TensorOutOfBounds {
            index,
            offset,
            len,
            data_bytes: data.len() as u32,
        };
        let end = off.checked_add(expected).ok_or(out_of_bounds)?;
        let bytes = data.get(off..end).ok_or(out_of_bounds)?;
        Ok(Tensor {
            name,
            dtype,
            dims,
            rank,
            frac_bits,
            bytes,
            offset: self.layout.data_start + off,
        })
    }
}

/// Whether `name` is one of the tensors `specs` defines for `num_layers` layers.
fn table_names(specs: &[TensorSpec], name: &str, num_layers: u32) -> bool {
    specs.iter().any(|s| {
        if !s.layers.per_layer() {
            return name == s.name;
        }
        (0..num_layers)
            .filter(|&k| s.layers.has(k, num_layers))
            .any(|k| TensorName::with_layer(s.name, k).as_str() == name)
    })
}

/// Checks that every tensor of `specs` (expanded over layers) is present in `model` with an
/// allowed dtype and the exact shape.
fn check_table(model: &Model<'_>, specs: &[TensorSpec]) -> Result<(), FormatError> {
    let hyper = model.layout.hyper;
    for spec in specs {
        for k in 0..hyper.num_layers {
            if !spec.layers.has(k, hyper.num_layers) {
                continue;
            }
            let name = if spec.layers.per_layer() {
                TensorName::with_layer(spec.name, k)
            } else {
                TensorName::new(spec.name)
            };
            let Some(t) = model.tensor(name.as_str()) else {
                return Err(FormatError::MissingTensor { name });
            };
            if !spec.dtypes.contains(&t.dtype) {
                return Err(FormatError::WrongTensorDType {
                    name,
                    found: t.dtype,
                });
            }
            let expected = hyper.shape_of(spec, k);
            let found = Shape::new(t.shape());
            if expected != found {
                return Err(FormatError::ShapeMismatch {
                    name,
                    expected,
                    found,
                });
            }
        }
    }
    Ok(())
}

/// The vocabulary of a model: its special tokens, then its characters as one sorted
/// UTF-8 string.
///
/// Ids: the specials present, in the order `<PAD>`, `<BOS>`, `<EOS>`, `<UNK>` (see
/// [`Specials`]), then the characters in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vocab<'a> {
    text: &'a str,
    chars: usize,
    ascii: bool,
    specials: Specials,
}

/// What one token id stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token {
    /// A character.
    Char(char),
    /// A special token.
    Special(Special),
}

impl<'a> Vocab<'a> {
    /// A vocabulary of `specials` and the characters of `text`, which the caller has
    /// validated (sorted, strictly increasing).
    pub(crate) fn new(text: &'a str, chars: usize, specials: Specials) -> Self {
        Vocab {
            text,
            chars,
            ascii: text.len() == chars,
            specials,
        }
    }

    /// Number of token ids, the specials included (= `vocab_size`).
    pub fn len(&self) -> usize {
        self.chars + self.specials.count() as usize
    }

    /// Always false: a vocabulary has at least one character.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Number of characters.
    pub fn char_count(&self) -> usize {
        self.chars
    }

    /// The special tokens.
    pub fn specials(&self) -> Specials {
        self.specials
    }

    /// The id of the first character (= the number of specials).
    pub fn first_char_id(&self) -> u32 {
        self.specials.count()
    }

    /// `<BOS>`'s id, if the model has one.
    pub fn bos(&self) -> Option<u32> {
        self.specials.bos()
    }

    /// `<EOS>`'s id, if the model has one.
    pub fn eos(&self) -> Option<u32> {
        self.specials.eos()
    }

    /// The id of `c`, if it is in the vocabulary.
    pub fn id_of(&self, c: char) -> Option<u32> {
        let index = if self.ascii {
            // One byte per char: binary search the bytes directly.
            let b = u8::try_from(c).ok().filter(u8::is_ascii)?;
            self.text.as_bytes().binary_search(&b).ok()?
        } else {
            self.text
                .chars()
                .take_while(|&x| x <= c)
                .position(|x| x == c)?
        };
        u32::try_from(index)
            .ok()?
            .checked_add(self.specials.count())
    }

    /// The character with id `id`; `None` for the specials and ids out of range.
    pub fn char_of(&self, id: u32) -> Option<char> {
        let index = usize::try_from(id.checked_sub(self.specials.count())?).ok()?;
        if self.ascii {
            self.text.as_bytes().get(index).map(|&b| char::from(b))
        } else {
            self.text.chars().nth(index)
        }
    }

    /// What id `id` stands for; `None` out of range.
    pub fn token(&self, id: u32) -> Option<Token> {
        match self.specials.special(id) {
            Some(s) => Some(Token::Special(s)),
            None => self.char_of(id).map(Token::Char),
        }
    }

    /// The characters in id order.
    pub fn chars(&self) -> impl Iterator<Item = char> + 'a {
        self.text.chars()
    }

    /// The characters as one string, in id order.
    pub fn as_str(&self) -> &'a str {
        self.text
    }
}

/// One tensor of a model, borrowed from the file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Tensor<'a> {
    name: &'a str,
    dtype: DType,
    dims: [u32; layout::MAX_RANK],
    rank: u8,
    frac_bits: i32,
    bytes: &'a [u8],
    offset: usize,
}

impl fmt::Debug for Tensor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tensor")
            .field("name", &self.name)
            .field("dtype", &self.dtype)
            .field("shape", &self.shape())
            .field("frac_bits", &self.frac_bits)
            .field("offset", &self.offset)
            .finish()
    }
}

impl<'a> Tensor<'a> {
    /// The name (ASCII `[A-Za-z0-9_.]`, 1..=31 chars).
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The dimensions, outermost first (1..=4 of them, each >= 1).
    pub fn shape(&self) -> &[u32] {
        self.dims.get(..usize::from(self.rank)).unwrap_or(&[])
    }

    /// Number of elements (the product of the dimensions; an `i4` tensor holds two per
    /// byte, and a padding nibble per row of odd length).
    pub fn numel(&self) -> usize {
        self.shape().iter().map(|&d| d as usize).product()
    }

    /// Fixed-point fractional bits of integer data (0 for floats).
    pub fn frac_bits(&self) -> i32 {
        self.frac_bits
    }

    /// The raw little-endian bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Offset of the first byte from the start of the file (a multiple of 64).
    pub fn file_offset(&self) -> usize {
        self.offset
    }

    fn view<T: bytemuck::Pod>(&self, want: DType) -> Result<&'a [T], FormatError> {
        if self.dtype != want {
            return Err(FormatError::DTypeMismatch {
                requested: want,
                found: self.dtype,
            });
        }
        // `parse` checked the buffer alignment and the 64-byte tensor offsets, and the
        // length is a multiple of the element size, so this cast cannot fail.
        bytemuck::try_cast_slice(self.bytes).map_err(|_| FormatError::MisalignedBuffer {
            address_mod: (self.bytes.as_ptr() as usize) % layout::BUFFER_ALIGN,
        })
    }

    /// The data as `f32`s.
    pub fn f32s(&self) -> Result<&'a [f32], FormatError> {
        self.view(DType::F32)
    }

    /// The data as [`half::f16`]s.
    pub fn f16s(&self) -> Result<&'a [half::f16], FormatError> {
        self.view(DType::F16)
    }

    /// The data as `i8`s.
    pub fn i8s(&self) -> Result<&'a [i8], FormatError> {
        self.view(DType::I8)
    }

    /// The data as `i16`s.
    pub fn i16s(&self) -> Result<&'a [i16], FormatError> {
        self.view(DType::I16)
    }

    /// The data as `i32`s.
    pub fn i32s(&self) -> Result<&'a [i32], FormatError> {
        self.view(DType::I32)
    }

    /// The packed bytes of an `i4` tensor: two elements per byte, low nibble first, each
    /// row (the last dimension) starting on a new byte ([`unpack_i4`] splits a byte).
    pub fn packed_i4s(&self) -> Result<&'a [u8], FormatError> {
        self.view(DType::I4)
    }

    /// Half-open byte range inside the file.
    fn range(&self) -> (usize, usize) {
        (self.offset, self.offset + self.bytes.len())
    }
}

#[cfg(test)]
mod crc_tests {
    use super::*;
    #[cfg(feature = "std")]
    use proptest::prelude::*;

    #[test]
    fn nibble_crc_check_value() {
        // The CRC-32 catalogue's check value for "123456789".
        assert_eq!(crc32_nibbles(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32_nibbles(b""), 0);
    }

    // `crc32fast` is a dependency only with `std`.
    #[cfg(feature = "std")]
    proptest! {
        #[test]
        fn nibble_crc_matches_crc32fast(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            prop_assert_eq!(crc32_nibbles(&bytes), crc32fast::hash(&bytes));
        }
    }
}
