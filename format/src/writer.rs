//! The writer (`std` only): builds canonical files and writes them atomically.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::string::String;
use std::vec::Vec;

use crate::error::TensorName;
use crate::layout::{self, entry, header};
use crate::mmap::AlignedBytes;
use crate::model::{check_frac_bits, check_name, check_vocab, crc32};
use crate::{Arch, DType, FormatError, Hyper, Model};

struct Entry {
    name: String,
    dtype: DType,
    shape: [u32; layout::MAX_RANK],
    rank: u8,
    frac_bits: i32,
    data: Vec<u8>,
}

/// Builds a model file in the canonical layout: tensors in insertion order, each at the
/// next 64-byte boundary, zero padding everywhere.
///
/// Every `add*` call checks its tensor on its own; [`ModelWriter::to_bytes`] then parses
/// the finished file, so a writer can never produce a file the reader rejects.
pub struct ModelWriter {
    hyper: Hyper,
    vocab: String,
    entries: Vec<Entry>,
}

impl core::fmt::Debug for ModelWriter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ModelWriter")
            .field("hyper", &self.hyper)
            .field("vocab", &self.vocab)
            .field(
                "tensors",
                &self
                    .entries
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl ModelWriter {
    /// Starts a model with these hyperparameters and vocabulary characters.
    ///
    /// `chars` must be sorted strictly increasing and hold `vocab_size` minus the specials
    /// characters (the writer does not sort them: ids follow their order, and the tensors
    /// must agree).
    pub fn new(hyper: Hyper, chars: &[char]) -> Result<Self, FormatError> {
        hyper.validate()?;
        let vocab: String = chars.iter().collect();
        check_vocab(
            vocab.as_bytes(),
            layout::HEADER_SIZE,
            hyper.vocab_size,
            hyper.specials,
        )?;
        u32::try_from(vocab.len()).map_err(|_| FormatError::SizeOverflow {
            what: "vocab_bytes",
        })?;
        Ok(ModelWriter {
            hyper,
            vocab,
            entries: Vec::new(),
        })
    }

    /// The hyperparameters.
    pub fn hyper(&self) -> Hyper {
        self.hyper
    }

    /// Adds a tensor from raw little-endian bytes.
    pub fn add(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u32],
        data: &[u8],
        frac_bits: i32,
    ) -> Result<(), FormatError> {
        let count = self.entries.len();
        let index = u16::try_from(count).unwrap_or(u16::MAX);
        if count >= layout::TENSOR_COUNT_RANGE.1 as usize {
            return Err(FormatError::BadTensorCount {
                found: (count + 1) as u32,
            });
        }
        let mut field = [0u8; layout::NAME_FIELD];
        if name.len() > layout::MAX_NAME_LEN {
            return Err(FormatError::BadTensorName {
                index,
                reason: "longer than 31 bytes",
            });
        }
        if name.as_bytes().contains(&0) {
            return Err(FormatError::BadTensorName {
                index,
                reason: "contains NUL",
            });
        }
        field[..name.len()].copy_from_slice(name.as_bytes());
        check_name(&field, index)?;
        if let Some(first) = self.entries.iter().position(|e| e.name == name) {
            return Err(FormatError::DuplicateTensorName {
                index,
                first: first as u16,
            });
        }
        if shape.is_empty() || shape.len() > layout::MAX_RANK {
            return Err(FormatError::BadRank {
                index,
                rank: shape.len().min(255) as u8,
            });
        }
        let mut dims = [0u32; layout::MAX_RANK];
        for (d, (&v, slot)) in shape.iter().zip(dims.iter_mut()).enumerate() {
            if v == 0 {
                return Err(FormatError::BadDims {
                    index,
                    dim: d as u8,
                });
            }
            *slot = v;
        }
        let numel = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d as usize))
            .filter(|&n| n <= u32::MAX as usize);
        let expected = numel
            .and(dtype.byte_len(shape))
            .filter(|&n| n <= u32::MAX as usize)
            .ok_or(FormatError::TensorTooLarge { index })?;
        if data.len() != expected {
            return Err(FormatError::ByteLengthMismatch {
                index,
                expected,
                found: data.len(),
            });
        }
        check_frac_bits(index, dtype, frac_bits)?;
        self.entries.push(Entry {
            name: name.into(),
            dtype,
            shape: dims,
            rank: shape.len() as u8,
            frac_bits,
            data: data.to_vec(),
        });
        Ok(())
    }

    /// Adds an `f32` tensor.
    pub fn add_f32(&mut self, name: &str, shape: &[u32], data: &[f32]) -> Result<(), FormatError> {
        self.add(name, DType::F32, shape, bytemuck::cast_slice(data), 0)
    }

    /// Adds an `f16` tensor.
    pub fn add_f16(
        &mut self,
        name: &str,
        shape: &[u32],
        data: &[half::f16],
    ) -> Result<(), FormatError> {
        self.add(name, DType::F16, shape, bytemuck::cast_slice(data), 0)
    }

    /// Adds an `i8` tensor with `frac_bits` fractional bits.
    pub fn add_i8(
        &mut self,
        name: &str,
        shape: &[u32],
        data: &[i8],
        frac_bits: i32,
    ) -> Result<(), FormatError> {
        self.add(
            name,
            DType::I8,
            shape,
            bytemuck::cast_slice(data),
            frac_bits,
        )
    }

    /// Adds an `i4` tensor with `frac_bits` fractional bits from one `i8` per element, each
    /// in `-8..=7` ([`FormatError::I4OutOfRange`] otherwise), packed two per byte, low
    /// nibble first, each row (the last dimension of `shape`) padded to a whole byte with a
    /// zero nibble.
    pub fn add_i4(
        &mut self,
        name: &str,
        shape: &[u32],
        data: &[i8],
        frac_bits: i32,
    ) -> Result<(), FormatError> {
        let index = u16::try_from(self.entries.len()).unwrap_or(u16::MAX);
        if let Some(&value) = data.iter().find(|v| !(-8..=7).contains(*v)) {
            return Err(FormatError::I4OutOfRange { index, value });
        }
        let cols = shape.last().map_or(1, |&c| (c as usize).max(1));
        let packed = pack_i4(data, cols);
        let numel: usize = shape.iter().map(|&d| d as usize).product();
        if data.len() != numel {
            return Err(FormatError::ByteLengthMismatch {
                index,
                expected: DType::I4.byte_len(shape).unwrap_or(usize::MAX),
                found: packed.len(),
            });
        }
        self.add(name, DType::I4, shape, &packed, frac_bits)
    }

    /// Adds an `i16` tensor with `frac_bits` fractional bits.
    pub fn add_i16(
        &mut self,
        name: &str,
        shape: &[u32],
        data: &[i16],
        frac_bits: i32,
    ) -> Result<(), FormatError> {
        self.add(
            name,
            DType::I16,
            shape,
            bytemuck::cast_slice(data),
            frac_bits,
        )
    }

    /// Adds an `i32` tensor with `frac_bits` fractional bits.
    pub fn add_i32(
        &mut self,
        name: &str,
        shape: &[u32],
        data: &[i32],
        frac_bits: i32,
    ) -> Result<(), FormatError> {
        self.add(
            name,
            DType::I32,
            shape,
            bytemuck::cast_slice(data),
            frac_bits,
        )
    }

    /// Lays out the file and computes its checksum, without validating the result.
    fn build(&self) -> Result<AlignedBytes, FormatError> {
        let overflow = |what| FormatError::SizeOverflow { what };
        let count = self.entries.len();
        let (min_count, max_count) = layout::TENSOR_COUNT_RANGE;
        if count < min_count as usize || count > max_count as usize {
            return Err(FormatError::BadTensorCount {
                found: count as u32,
            });
        }
        let sections = Sections::of(self.vocab.len(), self.entries.iter().map(|e| e.data.len()))?;
        let Sections {
            dir_offset,
            data_offset,
            data_len,
            file_size,
            ..
        } = sections;
        let offsets = &sections.offsets;
        let u32_of = |n: usize, what| u32::try_from(n).map_err(|_| overflow(what));
        let file_size32 = u32_of(file_size, "file")?;

        let mut out = AlignedBytes::zeroed(file_size);
        let buf = out.as_mut_bytes();
        let mut put = |at: usize, bytes: &[u8]| buf[at..at + bytes.len()].copy_from_slice(bytes);
        put(header::MAGIC, &layout::MAGIC);
        put(header::VERSION, &self.version().to_le_bytes());
        put(
            header::HEADER_SIZE,
            &(layout::HEADER_SIZE as u16).to_le_bytes(),
        );
        let h = self.hyper;
        let (context, activation) = match h.arch {
            Arch::Recurrent(_) => (0, 0),
            Arch::Ngram {
                context,
                activation,
            } => (context, activation.code()),
        };
        let fields = [
            (header::FLAGS, h.flags()),
            (header::WEIGHTS_KIND, h.weights.code()),
            (header::VOCAB_SIZE, h.vocab_size),
            (header::EMBED_DIM, h.embed_dim),
            (header::HIDDEN_DIM, h.hidden_dim),
            (header::NUM_LAYERS, h.num_layers),
            (header::VOCAB_OFFSET, layout::HEADER_SIZE as u32),
            (
                header::VOCAB_BYTES,
                u32_of(self.vocab.len(), "vocab_bytes")?,
            ),
            (header::DIR_OFFSET, u32_of(dir_offset, "dir_offset")?),
            (header::TENSOR_COUNT, count as u32),
            (header::DATA_OFFSET, u32_of(data_offset, "data_offset")?),
            (header::DATA_BYTES, u32_of(data_len, "data_bytes")?),
            (header::FILE_SIZE, file_size32),
            (header::ARCH, h.arch.code()),
            (header::SPECIALS, h.specials.bits()),
            (header::CONTEXT, context),
            (header::ACTIVATION, activation),
        ];
        for (at, v) in fields {
            put(at, &v.to_le_bytes());
        }
        put(layout::HEADER_SIZE, self.vocab.as_bytes());
        for (i, (e, &off)) in self.entries.iter().zip(offsets).enumerate() {
            let base = dir_offset + i * layout::DIR_ENTRY_SIZE;
            put(base + entry::NAME, e.name.as_bytes());
            put(base + entry::DTYPE, &[e.dtype.code(), e.rank]);
            for (d, v) in e.shape.iter().enumerate() {
                put(base + entry::DIMS + 4 * d, &v.to_le_bytes());
            }
            put(
                base + entry::OFFSET,
                &u32_of(off, "tensor offset")?.to_le_bytes(),
            );
            put(
                base + entry::BYTE_LEN,
                &u32_of(e.data.len(), "tensor length")?.to_le_bytes(),
            );
            put(base + entry::FRAC_BITS, &e.frac_bits.to_le_bytes());
            put(data_offset + off, &e.data);
        }
        let body_end = file_size - layout::CRC_SIZE;
        let crc = crc32(&out.as_bytes()[..body_end]);
        out.as_mut_bytes()[body_end..].copy_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    /// The format version the file is written in: the lowest that can express it (3 for
    /// INT4 weights, the `FACTORED` flag or any `i4` tensor, else 2).
    pub fn version(&self) -> u16 {
        self.entries
            .iter()
            .map(|e| e.dtype.since_version())
            .fold(self.hyper.min_version(), u16::max)
    }

    /// The finished file in a 64-byte aligned buffer, checked by [`Model::parse`].
    pub fn to_aligned_bytes(&self) -> Result<AlignedBytes, FormatError> {
        let out = self.build()?;
        Model::parse(out.as_bytes())?;
        Ok(out)
    }

    /// The finished file, checked by [`Model::parse`].
    pub fn to_bytes(&self) -> Result<Vec<u8>, FormatError> {
        Ok(self.to_aligned_bytes()?.as_bytes().to_vec())
    }

    /// The finished file, checked only by [`Model::parse_container`]: its tensors need
    /// not be the ones the hyperparameters require. For tests and generic tooling.
    pub fn to_container_bytes(&self) -> Result<Vec<u8>, FormatError> {
        let out = self.build()?;
        Model::parse_container(out.as_bytes())?;
        Ok(out.as_bytes().to_vec())
    }

    /// Writes the file to `path` atomically: a temporary file in the same directory is
    /// written, flushed to disk and renamed over `path`. On any error `path` is untouched
    /// and the temporary file is removed.
    pub fn write_atomic(&self, path: &Path) -> io::Result<()> {
        let bytes = self
            .to_aligned_bytes()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        write_atomic(path, bytes.as_bytes())
    }
}

/// Where the sections of a canonical file lie: the one place the writer's layout is
/// computed, also for size estimates ([`file_size`]).
struct Sections {
    dir_offset: usize,
    data_offset: usize,
    data_len: usize,
    file_size: usize,
    /// Each tensor's offset inside the data section.
    offsets: Vec<usize>,
}

impl Sections {
    fn of(
        vocab_bytes: usize,
        tensor_bytes: impl Iterator<Item = usize>,
    ) -> Result<Self, FormatError> {
        let overflow = |what| FormatError::SizeOverflow { what };
        let vocab_end = layout::HEADER_SIZE
            .checked_add(vocab_bytes)
            .ok_or(overflow("vocab section"))?;
        let dir_offset = layout::align_up(vocab_end).ok_or(overflow("vocab section"))?;
        let mut offsets = Vec::new();
        let mut data_len = 0usize;
        for len in tensor_bytes {
            let at = layout::align_up(data_len).ok_or(overflow("data section"))?;
            offsets.push(at);
            data_len = at.checked_add(len).ok_or(overflow("data section"))?;
        }
        let data_offset = offsets
            .len()
            .checked_mul(layout::DIR_ENTRY_SIZE)
            .and_then(|n| n.checked_add(dir_offset))
            .ok_or(overflow("directory"))?;
        let file_size = data_offset
            .checked_add(data_len)
            .and_then(|n| n.checked_add(layout::CRC_SIZE))
            .ok_or(overflow("file"))?;
        Ok(Sections {
            dir_offset,
            data_offset,
            data_len,
            file_size,
            offsets,
        })
    }
}

/// The size of the canonical file [`ModelWriter`] writes for `hyper` and a vocabulary of
/// `vocab_bytes` UTF-8 bytes: the tensor table of the architecture, the weights kind and
/// the input layer ([`Hyper::table`]), each tensor of its first allowed dtype (so exact for
/// INT8 and INT4 files, factored or not, and for f32 ones).
///
/// `hyper` must be valid ([`Hyper::validate`]'s error otherwise).
pub fn file_size(hyper: &Hyper, vocab_bytes: usize) -> Result<usize, FormatError> {
    // Valid hyperparameters bound the loops and the sizes below.
    hyper.validate()?;
    let mut sizes = Vec::new();
    for spec in hyper.table().specs {
        for k in 0..hyper.num_layers {
            if !spec.layers.has(k, hyper.num_layers) {
                continue;
            }
            let dtype = spec.dtypes.first().copied().unwrap_or(DType::F32);
            let bytes = dtype
                .byte_len(hyper.shape_of(spec, k).dims())
                .ok_or(FormatError::SizeOverflow { what: "tensor" })?;
            sizes.push(bytes);
        }
    }
    Ok(Sections::of(vocab_bytes, sizes.into_iter())?.file_size)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory
/// (`tempfile`), flushed to disk, renamed over `path` (`persist`), then the directory
/// flushed so that the rename itself survives a crash. On any error `path` is untouched
/// and the temporary file is gone. The one atomic writer of mynah: model files,
/// checkpoints, metrics and configurations all go through it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let with_path = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    if path.file_name().is_none() {
        return Err(with_path(io::Error::new(
            io::ErrorKind::InvalidInput,
            "path has no file name",
        )));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".mynah-").suffix(".tmp");
    // tempfile creates files readable by their owner only; a model or a checkpoint is an
    // ordinary file: keep the permissions of the file it replaces, else rw-r--r--.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777);
        builder.permissions(fs::Permissions::from_mode(mode));
    }
    let mut tmp = builder.tempfile_in(&dir).map_err(with_path)?;
    tmp.write_all(bytes).map_err(with_path)?;
    tmp.as_file().sync_all().map_err(with_path)?;
    tmp.persist(path).map_err(|e| with_path(e.error))?;
    sync_dir(&dir).map_err(with_path)
}

/// Flushes a directory's entries. A directory that cannot be opened, or a filesystem that
/// cannot flush directories (`EINVAL`), leaves that to the OS; other failures are errors.
fn sync_dir(dir: &Path) -> io::Result<()> {
    let Ok(d) = fs::File::open(dir) else {
        return Ok(());
    };
    match d.sync_all() {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
            ) =>
        {
            Ok(())
        }
        other => other,
    }
}

/// Name of tensor `spec` for layer `layer` (e.g. `rnn.weight_ih_l0`), as a `String`.
pub fn tensor_name(spec: &layout::TensorSpec, layer: u32) -> String {
    if spec.layers.per_layer() {
        TensorName::with_layer(spec.name, layer).as_str().into()
    } else {
        spec.name.into()
    }
}

/// `data` (one `i8` per element, each in `-8..=7`) packed two per byte, low nibble first,
/// in rows of `cols` elements, each row padded to a whole byte with a zero nibble.
pub fn pack_i4(data: &[i8], cols: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len().div_ceil(2));
    for row in data.chunks(cols.max(1)) {
        for pair in row.chunks(2) {
            let lo = pair.first().map_or(0, |&v| v as u8 & 0x0F);
            let hi = pair.get(1).map_or(0, |&v| v as u8 & 0x0F);
            out.push(lo | hi << 4);
        }
    }
    out
}
