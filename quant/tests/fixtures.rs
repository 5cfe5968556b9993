//! The golden fixture `tests/fixtures/tiny-int8.mynah` is exactly what the quantizer makes
//! of the synthetic model `mynah_tools::synthetic::fixture_spec()`.
//!
//! Regenerate (after a deliberate change to the scheme) with
//! `MYNAH_WRITE_FIXTURES=1 cargo test -p mynah-tools --test fixtures`, then
//! `MYNAH_WRITE_GOLDEN=1 cargo test -p mynah-runtime --test golden`.

use mynah_format::Model;
use mynah_tools::quantize::{quantize, QuantizeOptions};
use mynah_tools::synthetic::{fixture_spec, float_file, synthetic_gru};

#[test]
fn fixture_is_the_quantized_synthetic_model() {
    let gru = synthetic_gru(&fixture_spec());
    let float = mynah_format::AlignedBytes::copy_from(&float_file(&gru).unwrap());
    let model = Model::parse(&float).unwrap();
    // No calibration: the file then depends on nothing but IEEE arithmetic, so every
    // machine regenerates the same bytes.
    let bytes = quantize(&model, &[], &QuantizeOptions::default()).unwrap();
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tiny-int8.mynah");
    if std::env::var_os("MYNAH_WRITE_FIXTURES").is_some() {
        std::fs::write(&path, &bytes).unwrap();
        return;
    }
    let checked_in = std::fs::read(&path).expect("tests/fixtures/tiny-int8.mynah");
    assert!(
        checked_in == bytes,
        "fixture differs from the quantizer's output; see this file's header"
    );
}
