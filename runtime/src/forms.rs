//! Which quantized forms a model type runs: the last, optional const parameter `F` of
//! [`crate::IntModel`] and [`crate::NgramModel`], a bit set of the weights (`i8`, `i4`) and
//! of layer 0's input (the token table, or factored).
//!
//! Hosts take every form ([`ALL`], the default). A firmware that knows its model at build
//! time names exactly its form (`device/common/build.rs` does, with [`of`]), so that the
//! code of the others is never linked: the kernels of the other weights and, for a table
//! model, the factored input path. A type refuses at load a file of a form it was not
//! built for ([`crate::RuntimeError::FormNotBuiltIn`]); the output is the same either way.

use mynah_format::{Hyper, WeightsKind};

/// `i8` weight matrices (INT8 files).
pub const INT8: u8 = 1;
/// `i4` weight matrices (INT4 files).
pub const INT4: u8 = 2;
/// Layer 0's input product from the token table (and every n-gram).
pub const TABLE: u8 = 4;
/// Layer 0's input product from an `i8` embedding (the `FACTORED` flag).
pub const FACTORED: u8 = 8;
/// Every form.
pub const ALL: u8 = INT8 | INT4 | TABLE | FACTORED;

/// The form of a quantized file: its weights and its input layer (0 for a float file).
pub const fn of(h: &Hyper) -> u8 {
    let weights = match h.weights {
        WeightsKind::Float => return 0,
        WeightsKind::Int8 => INT8,
        WeightsKind::Int4 => INT4,
    };
    weights | if h.factored { FACTORED } else { TABLE }
}

/// Whether a type built for the forms `f` runs `i4` weights (and, when it runs both
/// weights, the one at hand is `i4`).
#[inline(always)]
pub(crate) const fn int4(f: u8, i4: bool) -> bool {
    f & INT4 != 0 && (f & INT8 == 0 || i4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mynah_format::{Arch, Specials};

    #[test]
    fn forms_of_files() {
        let h = Hyper {
            vocab_size: 5,
            embed_dim: 2,
            hidden_dim: 3,
            num_layers: 1,
            records: false,
            weights: WeightsKind::Int8,
            arch: Arch::GRU,
            specials: Specials::DEFAULT,
            factored: false,
        };
        assert_eq!(of(&h), INT8 | TABLE);
        let f = Hyper {
            weights: WeightsKind::Int4,
            factored: true,
            ..h
        };
        assert_eq!(of(&f), INT4 | FACTORED);
        assert_eq!(
            of(&Hyper {
                weights: WeightsKind::Float,
                ..h
            }),
            0
        );
        assert!(int4(INT4 | TABLE, false) && !int4(INT8 | TABLE, true));
        assert!(int4(ALL, true) && !int4(ALL, false));
    }
}
