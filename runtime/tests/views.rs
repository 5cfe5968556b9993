//! Stream memory carved at run time ([`StateView`], [`ScratchView`]) of exactly
//! [`Footprint`] bytes gives the same logits, step for step, as the compile-time-sized
//! state and scratch, for every architecture; and the carving refuses what it must.

use mynah_format::{AlignedBytes, Arch, Cell, Model};
use mynah_runtime::{
    sample, AnyModel, Footprint, Generator, Next, Pcg32, RuntimeError, SampleOptions, ScratchView,
    StateView, Stepper, Temperature,
};

const FIXTURES: &[&str] = &[
    "tiny-int8",
    "tiny-int8-v1",
    "tiny-lstm-int8",
    "tiny-rnn-int8",
    "tiny-ngram-int8",
    "shakespeare-1x128.int8",
    "tiny-int4",
    "tiny-lstm-factored-int4",
];

type Host<'a> = AnyModel<'a, 128, 96, 2, 8>;

fn fixture(name: &str) -> AlignedBytes {
    let path = format!(
        "{}/../tests/fixtures/{name}.mynah",
        env!("CARGO_MANIFEST_DIR")
    );
    AlignedBytes::copy_from(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

/// A 4-byte aligned buffer of `n` bytes (plus `extra` in front, to misalign on purpose).
fn buffer(n: usize) -> Vec<u32> {
    vec![0xdead_beef; n.div_ceil(4) + 1]
}

#[test]
fn views_of_exact_footprint_match_the_generator() {
    for name in FIXTURES {
        let bytes = fixture(name);
        let model = Model::parse(&bytes).unwrap();
        let m = Host::new(&model).unwrap();
        let f = m.footprint();
        let h = model.hyper();
        let input = if h.factored { h.embed_dim as usize } else { 0 };
        assert_eq!(
            f,
            Footprint::of(
                h.arch,
                h.hidden_dim as usize,
                h.vocab_size as usize,
                h.num_layers as usize,
                input
            )
        );
        assert_eq!(f, Footprint::of_hyper(&h));
        let mut sb = buffer(f.state_bytes);
        let mut cb = buffer(f.scratch_bytes);
        let sbytes = &mut bytemuck::cast_slice_mut::<u32, u8>(&mut sb)[..f.state_bytes];
        let cbytes = &mut bytemuck::cast_slice_mut::<u32, u8>(&mut cb)[..f.scratch_bytes];
        let mut state = m.state_view(sbytes).unwrap();
        let mut scratch = m.scratch_view(cbytes).unwrap();

        let mut gen = Generator::new(&m);
        let mut ready = m.start_view(&mut state, &mut scratch).unwrap();
        let prime = if m.vocab().bos().is_none() { "a" } else { "" };
        gen.prime(prime).unwrap();
        for ch in prime.chars() {
            let id = m.vocab().id_of(ch).unwrap();
            m.step_view(&mut state, &mut scratch, id).unwrap();
            ready = true;
        }
        assert!(ready);
        let opts = SampleOptions::new(Temperature::from_milli(900), &m.vocab(), false);
        let (mut r1, mut r2) = (Pcg32::new(7), Pcg32::new(7));
        for step in 0..300 {
            let v = m.vocab_size();
            assert_eq!(gen.logits(), &scratch.logits()[..v], "{name} step {step}");
            let (logits, sel) = scratch.logits_and_sel(v);
            let token = sample(logits, &opts, &mut r2, sel).unwrap();
            let Next::Char(c) = gen.next(&opts, &mut r1).unwrap() else {
                panic!("no stop without records")
            };
            assert_eq!(m.vocab().char_of(token), Some(c), "{name} step {step}");
            m.step_view(&mut state, &mut scratch, token).unwrap();
        }
    }
}

#[test]
fn typed_state_and_scratch_views_step_like_the_typed_step() {
    let bytes = fixture("tiny-lstm-int8");
    let model = Model::parse(&bytes).unwrap();
    let m = Host::new(&model).unwrap();
    let (mut s1, mut c1) = (m.new_state(), m.new_scratch());
    let (mut s2, mut c2) = (m.new_state(), m.new_scratch());
    let mynah_runtime::AnyModel::Lstm(lstm) = &m else {
        panic!("an LSTM fixture")
    };
    let (mynah_runtime::AnyState::Lstm(st), mynah_runtime::AnyScratch::Lstm(sc)) =
        (&mut s2, &mut c2)
    else {
        panic!("LSTM memory")
    };
    for t in [1u32, 5, 9, 4, 3, 7] {
        let want = m.step(&mut s1, &mut c1, t).unwrap().to_vec();
        let mut scratch = sc.view();
        let got = lstm.step_view(&mut st.view(), &mut scratch, t).unwrap();
        assert_eq!(got, &want[..]);
    }
    assert_eq!(s1, s2);
}

#[test]
fn carving_refuses_short_and_misaligned_buffers() {
    let gru = Arch::Recurrent(Cell::Gru);
    let f = Footprint::of(gru, 45, 67, 2, 0);
    let mut b = buffer(f.state_bytes + 8);
    let bytes = bytemuck::cast_slice_mut::<u32, u8>(&mut b);
    assert_eq!(
        StateView::carve(&mut bytes[..f.state_bytes - 1], gru, 45, 2).unwrap_err(),
        RuntimeError::BufferTooSmall {
            needed: f.state_bytes,
            got: f.state_bytes - 1
        }
    );
    assert_eq!(
        StateView::carve(&mut bytes[2..], gru, 45, 2).unwrap_err(),
        RuntimeError::MisalignedBuffer
    );
    assert!(StateView::carve(&mut bytes[..f.state_bytes], gru, 45, 2).is_ok());

    let mut b = buffer(f.scratch_bytes + 8);
    let bytes = bytemuck::cast_slice_mut::<u32, u8>(&mut b);
    assert!(matches!(
        ScratchView::carve(&mut bytes[..f.scratch_bytes - 4], gru, 45, 67, 0),
        Err(RuntimeError::BufferTooSmall { .. })
    ));
    assert_eq!(
        ScratchView::carve(&mut bytes[1..], gru, 45, 67, 0).unwrap_err(),
        RuntimeError::MisalignedBuffer
    );
    assert!(ScratchView::carve(&mut bytes[..f.scratch_bytes], gru, 45, 67, 0).is_ok());
}

#[test]
fn a_view_for_a_smaller_model_is_refused() {
    let bytes = fixture("shakespeare-1x128.int8");
    let model = Model::parse(&bytes).unwrap();
    let m = Host::new(&model).unwrap();
    let small = fixture("tiny-int8");
    let small = Model::parse(&small).unwrap();
    let s = Host::new(&small).unwrap();
    let f = s.footprint();
    let (mut sb, mut cb) = (buffer(f.state_bytes), buffer(f.scratch_bytes));
    let mut state = s
        .state_view(&mut bytemuck::cast_slice_mut::<u32, u8>(&mut sb)[..f.state_bytes])
        .unwrap();
    let mut scratch = s
        .scratch_view(&mut bytemuck::cast_slice_mut::<u32, u8>(&mut cb)[..f.scratch_bytes])
        .unwrap();
    assert_eq!(
        m.step_view(&mut state, &mut scratch, 1).unwrap_err(),
        RuntimeError::StateMismatch
    );
    assert!(s.step_view(&mut state, &mut scratch, 1).is_ok());
}
