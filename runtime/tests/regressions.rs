//! Replays the inputs kept from fuzzing (`make fuzz`, see `fuzz.mk`) and checks the fuzz
//! seeds stay loadable.
//!
//! Each file in `tests/regressions/` once crashed the `runtime` fuzz target. It is run
//! the way the target runs it, as given and with the target's fix-up (size field and CRC
//! made to match the length): parse, `IntModel::new`, steps and samples. Every stage must
//! return an error or a clean result: never a panic.

use std::path::{Path, PathBuf};

use mynah_format::layout::{self, header};
use mynah_format::{crc32, AlignedBytes, Model};
use mynah_runtime::{AnyModel, Generator, Next, Pcg32, SampleOptions, Stepper, Temperature};

/// The capacities of the `runtime` fuzz target.
const H: usize = 64;
const V: usize = 256;
const L: usize = 4;
const N: usize = 8;

/// The files of `dir` (sorted, without the README).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|x| x != "md"))
        .collect();
    out.sort();
    out
}

/// The fuzz target's fix-up: `file_size` = length and a valid CRC trailer.
fn with_valid_trailer(data: &[u8]) -> Vec<u8> {
    let mut b = data.to_vec();
    let n = b.len();
    if n >= layout::HEADER_SIZE_V1 + layout::CRC_SIZE && u32::try_from(n).is_ok() {
        b[header::FILE_SIZE..header::FILE_SIZE + 4].copy_from_slice(&(n as u32).to_le_bytes());
        let crc = crc32(&b[..n - 4]);
        b[n - 4..].copy_from_slice(&crc.to_le_bytes());
    }
    b
}

/// What the fuzz target does with one input; returns whether the model loaded.
fn run(bytes: &[u8]) -> bool {
    let a = AlignedBytes::copy_from(bytes);
    let Ok(model) = Model::parse(&a) else {
        return false;
    };
    let m = match AnyModel::<H, V, L, N>::new(&model) {
        Ok(m) => m,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return false;
        }
    };
    let vocab = m.vocab_size();
    let mut state = m.new_state();
    let mut scratch = m.new_scratch();
    let has_bos = m.start(&mut state, &mut scratch);
    assert_eq!(has_bos, m.vocab().bos().is_some());
    let seed = model.checksum();
    for i in 0..4u32 {
        let token = seed.rotate_left(8 * i) % (vocab as u32 + 2);
        match m.step(&mut state, &mut scratch, token) {
            Ok(logits) => assert_eq!(logits.len(), vocab),
            Err(e) => assert!((token as usize) >= vocab, "{e}"),
        }
    }
    for temperature in [
        Temperature::GREEDY,
        Temperature::from_milli(1 + seed % 300),
        Temperature::ONE,
        Temperature::from_milli(seed >> 8),
    ] {
        let mut opts = SampleOptions::new(temperature, &m.vocab(), m.records());
        opts.top_k = (seed >> 4) % 8;
        let mut rng = Pcg32::new(u64::from(seed));
        let mut gen = Generator::new(&m);
        let prompt: String = m.vocab().chars().take(3).collect();
        assert_eq!(gen.prime(&prompt), Ok(()));
        for _ in 0..8 {
            let t = gen.sample(&opts, &mut rng).unwrap();
            assert!(t >= opts.first_char || Some(t) == opts.stop);
            assert!((t as usize) < vocab);
            if gen.next(&opts, &mut rng).unwrap() == Next::Eos {
                assert!(opts.stop.is_some());
                gen.reset();
                gen.prime(&prompt).unwrap();
            }
        }
    }
    true
}

#[test]
fn fuzz_crashes_stay_fixed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    for path in files(&dir) {
        let data = std::fs::read(&path).unwrap();
        for (how, bytes) in [
            ("as given", data.clone()),
            ("fixed up", with_valid_trailer(&data)),
        ] {
            let r = std::panic::catch_unwind(|| run(&bytes));
            assert!(r.is_ok(), "{} ({how}) panics", path.display());
        }
    }
}

#[test]
fn fuzz_seeds_load_and_sample() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/runtime");
    let seeds = files(&dir);
    assert!(seeds.len() >= 3, "seeds missing from {}", dir.display());
    for path in seeds {
        let data = std::fs::read(&path).unwrap();
        assert!(
            run(&data),
            "{} does not load: stale? regenerate with \
             `cargo run -p mynah-tools --example fuzz_seeds -- fuzz/seeds`",
            path.display()
        );
    }
}
