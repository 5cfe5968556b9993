//! The mynah model file (format version 3, reads versions 1 and 2 too): a `no_std`,
//! allocation-free, zero-copy reader and a `std` writer.
//!
//! A file holds a 128-byte header (architecture, special tokens, hyperparameters), the
//! vocabulary as sorted UTF-8, a directory of named tensors and their data, each tensor
//! 64-byte aligned, and a CRC-32 trailer. The architecture is a GRU, LSTM or tanh RNN
//! ([`Arch::Recurrent`]) or an n-gram MLP ([`Arch::Ngram`]); the tensors a file must hold
//! follow from it and from the weights kind ([`Hyper::table`]). `format/SPEC.md` is the
//! normative description. Version-1 files (64-byte header) still load, as GRUs with
//! `<PAD>`, `<BOS>`, `<EOS>`; writers write the lowest version that can express the file:
//! version 3 for `i4` weights ([`WeightsKind::Int4`]) or a factored input layer
//! ([`Hyper::factored`]), version 2 otherwise.
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
//! use mynah_format::{Arch, Cell, Hyper, Model, ModelWriter, Specials, WeightsKind};
//!
//! let hyper = Hyper {
//!     vocab_size: 5, // <PAD>, <BOS>, <EOS>, 'a', 'b'
//!     embed_dim: 2,
//!     hidden_dim: 1,
//!     num_layers: 1,
//!     records: false,
//!     weights: WeightsKind::Float,
//!     arch: Arch::Recurrent(Cell::Lstm),
//!     specials: Specials::DEFAULT,
//!     factored: false,
//! };
//! let mut w = ModelWriter::new(hyper, &['a', 'b'])?;
//! // Every tensor of the LSTM's float table, shaped from the hyperparameters, filled with
//! // 0.5 (one layer, so each per-layer tensor exists for layer 0 only).
//! for spec in hyper.table().specs {
//!     let shape = hyper.shape_of(spec, 0);
//!     let numel = shape.dims().iter().product::<u32>() as usize;
//!     w.add_f32(&mynah_format::tensor_name(spec, 0), shape.dims(), &vec![0.5; numel])?;
//! }
//! let file = w.to_aligned_bytes()?; // parsed once more before it is returned
//! assert_eq!(file.len(), mynah_format::file_size(&hyper, 2)?);
//!
//! let model = Model::parse(&file)?;
//! assert_eq!(model.hyper(), hyper);
//! assert_eq!(model.vocab().id_of('b'), Some(4));
//! assert_eq!(model.require("rnn.weight_ih_l0")?.shape(), &[4, 2]); // gates i, f, g, o
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

mod arch;
mod error;
pub mod layout;
mod model;

#[cfg(feature = "std")]
mod mmap;
#[cfg(feature = "std")]
mod writer;

pub use arch::{Activation, Arch, Cell, Special, Specials, MAX_CONTEXT};
pub use error::{FormatError, Shape, TensorName};
pub use half;
pub use model::{crc32, unpack_i4, DType, Hyper, Model, Tensor, Token, Vocab, WeightsKind};

#[cfg(feature = "std")]
pub use mmap::{read_aligned, AlignedBytes, MappedModel, OpenError};
#[cfg(feature = "std")]
pub use writer::{file_size, pack_i4, tensor_name, write_atomic, ModelWriter};

/// Wraps bytes (typically `include_bytes!`) so that they start 64-byte aligned.
///
/// `static M: &Aligned<[u8]> = &Aligned(*include_bytes!("model.mynah"));` then
/// `Model::parse(&M.0)`.
#[repr(C, align(64))]
#[derive(Debug)]
pub struct Aligned<T: ?Sized>(pub T);
