//! Loading files (`std` only): memory-mapped or read into an aligned buffer.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::vec::Vec;

use crate::model::Layout;
use crate::{FormatError, Model};

/// A model file mapped into memory and validated once.
///
/// The file is opened read-only. If another process truncates or rewrites it while it
/// is mapped, reads may fault or see the new bytes: that hazard is the caller's, as for
/// every memory-mapped file. [`crate::ModelWriter::write_atomic`] replaces files by
/// rename, which leaves existing mappings intact.
pub struct MappedModel {
    map: memmap2::Mmap,
    layout: Layout,
}

impl fmt::Debug for MappedModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.model(), f)
    }
}

impl MappedModel {
    /// Maps `path` and validates it with [`Model::parse`].
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let io_err = |source| OpenError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        // The one unsafe call of the crate. memmap2 cannot prove that nobody modifies the
        // file while it is mapped; we open it read-only, and a concurrent truncation or
        // rewrite is documented above as the caller's hazard (as with every mmap reader).
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_err)?;
        let layout = Model::parse(&map)
            .map_err(|source| OpenError::Format {
                path: path.to_path_buf(),
                source,
            })?
            .layout();
        Ok(MappedModel { map, layout })
    }

    /// The validated model (free: nothing is parsed again).
    pub fn model(&self) -> Model<'_> {
        Model::from_layout(&self.map, self.layout)
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }
}

/// Why a model file could not be opened.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    /// The file could not be read or mapped.
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file is not a valid model.
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: FormatError,
    },
}

impl OpenError {
    /// The file that failed to open.
    pub fn path(&self) -> &Path {
        match self {
            OpenError::Io { path, .. } | OpenError::Format { path, .. } => path,
        }
    }

    /// The format error, if the file was read but is invalid.
    pub fn format_error(&self) -> Option<FormatError> {
        match self {
            OpenError::Format { source, .. } => Some(*source),
            OpenError::Io { .. } => None,
        }
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Io { path, source } => {
                write!(f, "cannot read model {}: {source}", path.display())
            }
            OpenError::Format { path, source } => {
                write!(f, "invalid model {}: {source}", path.display())
            }
        }
    }
}

// `Display` already includes the underlying error, so `source` stays `None` to keep
// chains (`anyhow`'s `{:#}`) from printing it twice; match on the variants instead.
impl std::error::Error for OpenError {}

/// One 64-byte block: the unit of [`AlignedBytes`] storage.
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(64))]
struct Block([u8; 64]);

/// An owned byte buffer whose start is 64-byte aligned, so [`Model::parse`] accepts it.
#[derive(Clone)]
pub struct AlignedBytes {
    blocks: Vec<Block>,
    len: usize,
}

impl fmt::Debug for AlignedBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlignedBytes")
            .field("len", &self.len)
            .finish()
    }
}

impl AlignedBytes {
    /// `len` zero bytes.
    pub fn zeroed(len: usize) -> Self {
        let blocks = vec![Block([0; 64]); len.div_ceil(64)];
        AlignedBytes { blocks, len }
    }

    /// A copy of `bytes`.
    pub fn copy_from(bytes: &[u8]) -> Self {
        let mut out = Self::zeroed(bytes.len());
        out.as_mut_bytes().copy_from_slice(bytes);
        out
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        let all: &[u8] = bytemuck::cast_slice(&self.blocks);
        &all[..self.len]
    }

    /// The bytes, mutably.
    pub fn as_mut_bytes(&mut self) -> &mut [u8] {
        let all: &mut [u8] = bytemuck::cast_slice_mut(&mut self.blocks);
        &mut all[..self.len]
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Parses the buffer with [`Model::parse`].
    pub fn model(&self) -> Result<Model<'_>, FormatError> {
        Model::parse(self.as_bytes())
    }
}

impl core::ops::Deref for AlignedBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// Reads a whole file into a 64-byte aligned buffer (when memory mapping is unwanted).
pub fn read_aligned(path: &Path) -> io::Result<AlignedBytes> {
    let mut file = File::open(path)?;
    let len = usize::try_from(file.metadata()?.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "file too large for memory"))?;
    let mut out = AlignedBytes::zeroed(len);
    file.read_exact(out.as_mut_bytes())?;
    // The file may have grown since `metadata`; keep whatever follows too.
    let mut rest = Vec::new();
    file.read_to_end(&mut rest)?;
    if !rest.is_empty() {
        let mut all = out.as_bytes().to_vec();
        all.extend_from_slice(&rest);
        out = AlignedBytes::copy_from(&all);
    }
    Ok(out)
}
