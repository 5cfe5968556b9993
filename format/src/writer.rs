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
use crate::{DType, FormatError, Hyper, Model};

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
    /// `chars` must be sorted strictly increasing and hold `vocab_size - 3` characters
    /// (the writer does not sort them: ids follow their order, and the tensors must agree).
    pub fn new(hyper: Hyper, chars: &[char]) -> Result<Self, FormatError> {
        hyper.validate()?;
        let vocab: String = chars.iter().collect();
        check_vocab(vocab.as_bytes(), layout::HEADER_SIZE, hyper.vocab_size)?;
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
        let mut numel: usize = 1;
        for (d, (&v, slot)) in shape.iter().zip(dims.iter_mut()).enumerate() {
            if v == 0 {
                return Err(FormatError::BadDims {
                    index,
                    dim: d as u8,
                });
            }
            numel = numel
                .checked_mul(v as usize)
                .ok_or(FormatError::TensorTooLarge { index })?;
            *slot = v;
        }
        let expected = numel
            .checked_mul(dtype.size())
            .ok_or(FormatError::TensorTooLarge { index })?;
        if expected > u32::MAX as usize {
            return Err(FormatError::TensorTooLarge { index });
        }
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
        let vocab_end = layout::HEADER_SIZE + self.vocab.len();
        let dir_offset = layout::align_up(vocab_end).ok_or(overflow("vocab section"))?;
        let data_offset = dir_offset + count * layout::DIR_ENTRY_SIZE;
        let mut offsets = Vec::with_capacity(count);
        let mut data_len = 0usize;
        for e in &self.entries {
            let at = layout::align_up(data_len).ok_or(overflow("data section"))?;
            offsets.push(at);
            data_len = at
                .checked_add(e.data.len())
                .ok_or(overflow("data section"))?;
        }
        let file_size = data_offset
            .checked_add(data_len)
            .and_then(|n| n.checked_add(layout::CRC_SIZE))
            .ok_or(overflow("file"))?;
        let u32_of = |n: usize, what| u32::try_from(n).map_err(|_| overflow(what));
        let file_size32 = u32_of(file_size, "file")?;

        let mut out = AlignedBytes::zeroed(file_size);
        let buf = out.as_mut_bytes();
        let mut put = |at: usize, bytes: &[u8]| buf[at..at + bytes.len()].copy_from_slice(bytes);
        put(header::MAGIC, &layout::MAGIC);
        put(header::VERSION, &layout::VERSION.to_le_bytes());
        put(
            header::HEADER_SIZE,
            &(layout::HEADER_SIZE as u16).to_le_bytes(),
        );
        let h = self.hyper;
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
        ];
        for (at, v) in fields {
            put(at, &v.to_le_bytes());
        }
        put(layout::HEADER_SIZE, self.vocab.as_bytes());
        for (i, (e, &off)) in self.entries.iter().zip(&offsets).enumerate() {
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

/// Writes `bytes` to `path` via a temporary file in the same directory, fsync and rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut attempt = 0u32;
    let (tmp, mut file) = loop {
        let mut name = std::ffi::OsString::from(".");
        name.push(file_name);
        name.push(format!(".tmp{}.{attempt}", std::process::id()));
        let tmp = dir.join(name);
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            Err(e) => return Err(e),
        }
    };
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    drop(file);
    let result = written.and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // Persist the rename itself; not every platform can open a directory, so best effort.
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Name of tensor `spec` for layer `layer` (e.g. `rnn.weight_ih_l0`), as a `String`.
pub fn tensor_name(spec: &layout::TensorSpec, layer: u32) -> String {
    if spec.per_layer {
        TensorName::with_layer(spec.name, layer).as_str().into()
    } else {
        spec.name.into()
    }
}
