//! The mynah model file (format v1): a `no_std`, allocation-free, zero-copy reader and
//! a `std` writer.
//!
//! A file holds a 64-byte header (hyperparameters), the vocabulary as sorted UTF-8, a
//! directory of named tensors and their data, each tensor 64-byte aligned, and a CRC-32
//! trailer. `format/SPEC.md` is the normative description.
//!
//! [`Model::parse`] distrusts every byte: it checks the header, the size, the checksum,
//! the section layout, the vocabulary, every directory entry and the tensor set the
//! hyperparameters require, and returns a [`FormatError`] (never panics) on any problem.
//! Tensors are then viewed in place: [`Tensor::f32s`], [`Tensor::i8s`], ….
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "std")] {
//! use mynah_format::{layout, Hyper, Model, ModelWriter, WeightsKind};
//!
//! let hyper = Hyper {
//!     vocab_size: 5, // PAD, BOS, EOS, 'a', 'b'
//!     embed_dim: 2,
//!     hidden_dim: 1,
//!     num_layers: 1,
//!     records: false,
//!     weights: WeightsKind::Float,
//! };
//! let mut w = ModelWriter::new(hyper, &['a', 'b'])?;
//! // Every tensor of the float table, shaped from the hyperparameters, filled with 0.5.
//! for spec in layout::FLOAT_TENSORS {
//!     let shape = hyper.shape_of(spec, 0);
//!     let numel = shape.dims().iter().product::<u32>() as usize;
//!     w.add_f32(&mynah_format::tensor_name(spec, 0), shape.dims(), &vec![0.5; numel])?;
//! }
//! let file = w.to_aligned_bytes()?; // parsed once more before it is returned
//!
//! let model = Model::parse(&file)?;
//! assert_eq!(model.hyper(), hyper);
//! assert_eq!(model.vocab().id_of('b'), Some(4));
//! let embed = model.require("embed.weight")?;
//! assert_eq!(embed.shape(), &[5, 2]);
//! assert_eq!(embed.f32s()?, &[0.5; 10]);
//! # }
//! # Ok::<(), mynah_format::FormatError>(())
//! ```
//!
//! # Buffers must be 4-byte aligned
//!
//! Tensors are cast in place, so `parse` rejects a buffer that does not start at a
//! 4-byte aligned address ([`FormatError::MisalignedBuffer`]). Memory maps and
//! `AlignedBytes` always are; `include_bytes!` is not, so wrap it in [`Aligned`]:
//!
//! ```
//! use mynah_format::Aligned;
//! // In firmware: `static MODEL: &Aligned<[u8]> = &Aligned(*include_bytes!("tiny.mynah"));`
//! static MODEL: &Aligned<[u8]> = &Aligned(*b"MYNAHGRU...");
//! assert_eq!(MODEL.0.as_ptr() as usize % 64, 0);
//! assert!(mynah_format::Model::parse(&MODEL.0).is_err()); // not a whole file
//! ```
//!
//! # Features
//!
//! - `std` (default): [`ModelWriter`], [`MappedModel`], [`AlignedBytes`],
//!   [`read_aligned`]. Without it the crate is `no_std` and needs no allocator.
//!
//! Only little-endian targets are supported: tensors are viewed in place.

#![cfg_attr(not(feature = "std"), no_std)]
// `MappedModel::open` holds the crate's single `unsafe` call (memory mapping); it is
// allowed there and nowhere else.
#![deny(unsafe_code)]
#![deny(missing_docs)]

#[cfg(target_endian = "big")]
compile_error!("mynah-format views tensors in place and supports little-endian targets only");

mod error;
pub mod layout;
mod model;

#[cfg(feature = "std")]
mod mmap;
#[cfg(feature = "std")]
mod writer;

pub use error::{FormatError, Shape, TensorName};
pub use half;
pub use model::{crc32, DType, Hyper, Model, Tensor, Vocab, WeightsKind};

#[cfg(feature = "std")]
pub use mmap::{read_aligned, AlignedBytes, MappedModel, OpenError};
#[cfg(feature = "std")]
pub use writer::{tensor_name, write_atomic, ModelWriter};

/// Token id of padding.
pub const PAD: u32 = 0;
/// Token id of the beginning-of-sequence marker.
pub const BOS: u32 = 1;
/// Token id of the end-of-sequence (end-of-record) marker.
pub const EOS: u32 = 2;
/// Token id of the first vocabulary character; characters follow in sorted order.
pub const FIRST_CHAR_ID: u32 = 3;

/// Wraps bytes (typically `include_bytes!`) so that they start 64-byte aligned.
///
/// `static M: &Aligned<[u8]> = &Aligned(*include_bytes!("model.mynah"));` then
/// `Model::parse(&M.0)`.
#[repr(C, align(64))]
#[derive(Debug)]
pub struct Aligned<T: ?Sized>(pub T);
