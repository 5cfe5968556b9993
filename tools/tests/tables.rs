//! The runtime's checked-in tables are exactly what the generator computes.

use mynah_runtime::tables::{EXP2_NEG_Q30, TANH_Q15};

#[test]
fn runtime_tables_match_the_generator() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/src/tables.rs");
    if std::env::var_os("MYNAH_WRITE_TABLES").is_some() {
        std::fs::write(&path, mynah_tools::tables::render()).expect("write tables.rs");
        return;
    }
    assert_eq!(
        TANH_Q15.to_vec(),
        mynah_tools::tables::tanh_q15(),
        "rerun with MYNAH_WRITE_TABLES=1"
    );
    assert_eq!(
        EXP2_NEG_Q30.to_vec(),
        mynah_tools::tables::exp2_neg_q30(),
        "rerun with MYNAH_WRITE_TABLES=1"
    );
}
