//! The stream handle: one sequence of text over a model, its sampling settings and its
//! memory (state and scratch carved out of the caller's buffer, right after the handle).

use mynah_runtime::{
    sample, Footprint, Pcg32, RuntimeError, SampleOptions, ScratchView, StateView, Stepper,
    Temperature,
};

use crate::model::{ModelHandle, Runner};
use crate::status::{mynah_status, MYNAH_EOS, MYNAH_ERR_BAD_TEMPERATURE, MYNAH_OK};
use crate::{MYNAH_ALIGN, MYNAH_MAX_TEMPERATURE_MILLI};

/// Marks memory that holds a [`StreamHandle`] ("mynS").
pub(crate) const STREAM_MAGIC: u32 = 0x536e_796d;

/// What `mynah_stream_init` writes at the start of the caller's memory; the state and the
/// scratch follow it.
#[repr(C)]
pub struct StreamHandle {
    /// [`STREAM_MAGIC`]: first, so that it can be checked before the rest is read.
    pub magic: u32,
    /// The status of the last call.
    pub status: mynah_status,
    /// The model (the caller keeps it alive and in place while the stream is used).
    pub model: *const ModelHandle,
    /// Why the last call failed, for `mynah_stream_message`.
    pub error: Option<RuntimeError>,
    /// The sampler's generator.
    pub rng: Pcg32,
    /// Temperature, top-k, which tokens may be sampled.
    pub opts: SampleOptions,
    /// Whether the logits of the next token are ready (after `<BOS>` or a primed character).
    pub ready: bool,
    /// Bytes of the caller's memory after the handle (state and scratch).
    pub mem_len: usize,
}

/// Bytes of the handle at the start of a stream's memory (a multiple of [`MYNAH_ALIGN`]).
pub(crate) const HEADER: usize = core::mem::size_of::<StreamHandle>().next_multiple_of(MYNAH_ALIGN);

/// Bytes of a whole stream: the handle, the state (rounded up to 4) and the scratch.
pub const fn stream_bytes(f: &Footprint) -> usize {
    HEADER + f.state_bytes.next_multiple_of(4) + f.scratch_bytes
}

/// The state and scratch of `model` in `mem` (the memory after the handle).
fn views<'s>(
    model: &Runner<'_>,
    mem: &'s mut [u8],
) -> Result<(StateView<'s>, ScratchView<'s>), RuntimeError> {
    let f = model.footprint();
    let (state, scratch) = mem.split_at_mut(f.state_bytes.next_multiple_of(4).min(mem.len()));
    let state = StateView::carve(state, model.arch(), model.hidden_dim(), model.num_layers())?;
    let scratch = ScratchView::carve(
        scratch,
        model.arch(),
        model.hidden_dim(),
        model.vocab_size(),
        model.input_dim(),
    )?;
    Ok((state, scratch))
}

/// A stream and everything a call works on.
pub struct Stream<'s> {
    /// The handle.
    pub h: &'s mut StreamHandle,
    /// The model.
    pub model: &'s Runner<'static>,
    state: StateView<'s>,
    scratch: ScratchView<'s>,
}

/// What [`Stream::generate`] produced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Generated {
    /// Bytes of UTF-8 written.
    pub bytes: usize,
    /// Characters written.
    pub chars: u32,
}

impl<'s> Stream<'s> {
    /// A new stream of `model` in `mem` (the memory after `h`): default sampling (seed 1,
    /// temperature 0.8, all tokens), zero state, `<BOS>` fed.
    pub fn init(
        h: &'s mut StreamHandle,
        model: &'s ModelHandle,
        runner: &'s Runner<'static>,
        mem: &'s mut [u8],
    ) -> Result<Stream<'s>, RuntimeError> {
        let vocab = runner.vocab();
        *h = StreamHandle {
            magic: STREAM_MAGIC,
            status: MYNAH_OK,
            model,
            error: None,
            rng: Pcg32::new(1),
            opts: SampleOptions::new(
                Temperature::from_milli(crate::MYNAH_DEFAULT_TEMPERATURE_MILLI),
                &vocab,
                runner.records(),
            ),
            ready: false,
            mem_len: mem.len(),
        };
        let mut s = Stream::open(h, runner, mem)?;
        s.reset()?;
        Ok(s)
    }

    /// The stream of an initialized handle.
    pub fn open(
        h: &'s mut StreamHandle,
        model: &'s Runner<'static>,
        mem: &'s mut [u8],
    ) -> Result<Stream<'s>, RuntimeError> {
        let (state, scratch) = views(model, mem)?;
        Ok(Stream {
            h,
            model,
            state,
            scratch,
        })
    }

    /// Back to the start of a sequence: zero state, `<BOS>` fed if the model has one.
    pub fn reset(&mut self) -> Result<(), RuntimeError> {
        self.h.ready = self.model.start_view(&mut self.state, &mut self.scratch)?;
        Ok(())
    }

    /// Re-seeds the sampler.
    pub fn seed(&mut self, seed: u64) {
        self.h.rng = Pcg32::new(seed);
    }

    /// Sets the temperature (thousandths; 0 is greedy) and top-k (0: all tokens).
    pub fn sampling(&mut self, temperature_milli: u32, top_k: u32) -> mynah_status {
        if temperature_milli > MYNAH_MAX_TEMPERATURE_MILLI {
            return MYNAH_ERR_BAD_TEMPERATURE;
        }
        let vocab = self.model.vocab();
        let mut opts = SampleOptions::new(
            Temperature::from_milli(temperature_milli),
            &vocab,
            self.model.records(),
        );
        opts.top_k = top_k;
        self.h.opts = opts;
        MYNAH_OK
    }

    /// Feeds one token.
    pub fn feed(&mut self, token: u32) -> Result<(), RuntimeError> {
        self.model
            .step_view(&mut self.state, &mut self.scratch, token)?;
        self.h.ready = true;
        Ok(())
    }

    /// Feeds every character of `text`, after checking them all (on an unknown character
    /// nothing is fed).
    pub fn prime(&mut self, text: &str) -> Result<(), RuntimeError> {
        let vocab = self.model.vocab();
        for (index, ch) in text.chars().enumerate() {
            if vocab.id_of(ch).is_none() {
                return Err(RuntimeError::UnknownChar { ch, index });
            }
        }
        for ch in text.chars() {
            if let Some(id) = vocab.id_of(ch) {
                self.feed(id)?;
            }
        }
        Ok(())
    }

    /// Samples a token; a character is fed back ([`MYNAH_OK`]), `<EOS>` is not
    /// ([`MYNAH_EOS`]).
    pub fn next(&mut self) -> Result<(mynah_status, u32), RuntimeError> {
        if !self.h.ready {
            return Err(RuntimeError::NeedsPrime);
        }
        let opts = self.h.opts;
        let v = self.model.vocab_size();
        let (logits, sel) = self.scratch.logits_and_sel(v);
        // A vocabulary has at least one character, so some token is always eligible.
        let token = sample(logits, &opts, &mut self.h.rng, sel).unwrap_or(opts.first_char);
        if Some(token) == opts.stop {
            return Ok((MYNAH_EOS, token));
        }
        self.feed(token)?;
        Ok((MYNAH_OK, token))
    }

    /// Samples up to `max_chars` characters into `out` as UTF-8, stopping early at `<EOS>`
    /// ([`MYNAH_EOS`]) or when `out` has no room for another character (4 bytes).
    pub fn generate(
        &mut self,
        max_chars: u32,
        out: &mut [u8],
    ) -> Result<(mynah_status, Generated), RuntimeError> {
        let vocab = self.model.vocab();
        let mut g = Generated::default();
        while g.chars < max_chars && out.len() - g.bytes >= 4 {
            let (st, token) = self.next()?;
            if st == MYNAH_EOS {
                return Ok((MYNAH_EOS, g));
            }
            let ch = vocab.char_of(token).unwrap_or('\u{FFFD}');
            let rest = out.get_mut(g.bytes..).unwrap_or(&mut []);
            g.bytes += ch.encode_utf8(rest).len();
            g.chars += 1;
        }
        Ok((MYNAH_OK, g))
    }
}
