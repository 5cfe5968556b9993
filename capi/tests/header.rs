//! `include/mynah.h` is what cbindgen generates from this crate now. After changing the C
//! ABI, regenerate it: `MYNAH_WRITE_HEADER=1 cargo test -p mynah-capi --test header` (or
//! `make capi-header`).

#[test]
fn checked_in_header_is_current() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let config =
        cbindgen::Config::from_file(format!("{dir}/cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen parses the crate");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let path = format!("{dir}/../include/mynah.h");
    if std::env::var_os("MYNAH_WRITE_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write include/mynah.h");
        return;
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "include/mynah.h differs from what cbindgen generates from capi/: run \
         `make capi-header` (MYNAH_WRITE_HEADER=1 cargo test -p mynah-capi --test header)"
    );
}
