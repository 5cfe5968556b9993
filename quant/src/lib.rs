//! The float side of mynah models, every architecture, shared by `mynah-train` and `mynah`:
//! the `f32` reference forward ([`mod@reference`]), the INT8 quantizer ([`quantize`],
//! `runtime/QUANTIZATION.md`), scoring and comparison on one interface over float and
//! integer models ([`engine`]), and sampling with the runtime's rules ([`sampling`]).
//! No libtorch inside.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod engine;
pub mod quantize;
pub mod reference;
pub mod sampling;
pub mod synthetic;
