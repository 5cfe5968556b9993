//! The golden fixtures `tests/fixtures/tiny-*.mynah` (one INT8 file per architecture, an
//! INT4 GRU and a factored INT4 LSTM) are exactly what the quantizer makes of the synthetic
//! models `mynah_quant::synthetic::fixture_spec`.
//!
//! Regenerate (after a deliberate change to the scheme or the format) with
//! `MYNAH_WRITE_FIXTURES=1 cargo test -p mynah-quant --test fixtures`, then
//! `MYNAH_WRITE_GOLDEN=1 cargo test -p mynah-runtime --test golden`.

use mynah_format::Model;
use mynah_quant::quantize::{quantize, QuantizeOptions};
use mynah_quant::synthetic::{
    fixture_archs, fixture_spec, fixture_variants, float_file, synthetic_model,
};

#[test]
fn fixtures_are_the_quantized_synthetic_models() {
    let int8 = fixture_archs().map(|(name, arch)| (name, arch, QuantizeOptions::default()));
    for (name, arch, opts) in int8.into_iter().chain(fixture_variants()) {
        let m = synthetic_model(&fixture_spec(arch));
        let float = mynah_format::AlignedBytes::copy_from(&float_file(&m).unwrap());
        let model = Model::parse(&float).unwrap();
        // No calibration: the file then depends on nothing but IEEE arithmetic, so every
        // machine regenerates the same bytes.
        let bytes = quantize(&model, &[], &opts).unwrap();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../tests/fixtures/{name}.mynah"));
        if std::env::var_os("MYNAH_WRITE_FIXTURES").is_some() {
            std::fs::write(&path, &bytes).unwrap();
            continue;
        }
        let checked_in = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            checked_in == bytes,
            "{name}: fixture differs from the quantizer's output; see this file's header"
        );
    }
}
