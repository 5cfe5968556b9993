//! The model handle: a parsed file and, when the integer runtime accepts it, the runtime's
//! view of it; and what `mynah_model_info` / `mynah_model_tensor` report.

use mynah_format::{Arch, Model};
use mynah_runtime::{AnyModel, Footprint, RuntimeError};

use crate::status::{self, mynah_status, MYNAH_OK};
use crate::MYNAH_MAX_HIDDEN;

/// Any model the C ABI runs: every architecture, up to 512 hidden units (the runtime's
/// limit), 65535 tokens, 4 layers and a context of 32 (the format's limits). The
/// capacities only bound what loads: streams are sized by the model's own dimensions.
pub type Runner<'a> =
    AnyModel<'a, MYNAH_MAX_HIDDEN, 65535, 4, { mynah_format::MAX_CONTEXT as usize }>;

/// Marks memory that holds a `ModelHandle` ("mynM").
pub(crate) const MODEL_MAGIC: u32 = 0x4d6e_796d;

/// What `mynah_model_load` writes into the caller's memory.
#[repr(C)]
pub struct ModelHandle {
    /// `MODEL_MAGIC`: first, so that it can be checked before the rest is read.
    pub magic: u32,
    /// The status the load ended with.
    pub status: mynah_status,
    /// Why the load failed, for `mynah_model_message`.
    pub error: Option<RuntimeError>,
    /// The parsed file (also when the runtime refused it, for the model card).
    pub model: Option<Model<'static>>,
    /// The runtime's model, when it accepted the file.
    pub runner: Option<Runner<'static>>,
}

impl ModelHandle {
    /// Parses `file` and loads it into the runtime.
    pub fn load(file: &'static [u8]) -> ModelHandle {
        let mut h = ModelHandle {
            magic: MODEL_MAGIC,
            status: MYNAH_OK,
            error: None,
            model: None,
            runner: None,
        };
        let model = match Model::parse(file) {
            Ok(m) => m,
            Err(e) => return h.failed(RuntimeError::Format(e)),
        };
        h.model = Some(model);
        match Runner::new(&model) {
            Ok(r) => h.runner = Some(r),
            Err(e) => return h.failed(e),
        }
        h
    }

    fn failed(mut self, e: RuntimeError) -> ModelHandle {
        self.status = status::of(&e);
        self.error = Some(e);
        self
    }

    /// The runtime's model, or the load's status.
    pub fn runner(&self) -> Result<&Runner<'static>, mynah_status> {
        self.runner.as_ref().ok_or(match self.status {
            MYNAH_OK => status::MYNAH_ERR_BAD_HANDLE,
            s => s,
        })
    }
}

/// The bytes a stream needs beyond its handle: `Footprint::of` the header's dimensions.
pub fn footprint(model: &Model<'_>) -> Footprint {
    Footprint::of_hyper(&model.hyper())
}

/// No such token (`bos`, `eos` of a vocabulary without them).
pub const MYNAH_NO_TOKEN: u32 = u32::MAX;

/// What `mynah_model_info` reports: the header, the vocabulary's shape and the memory a
/// stream needs (`mynah inspect` prints the same).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct mynah_info {
    /// Format version of the file (1, 2 or 3).
    pub version: u32,
    /// 0 GRU, 1 LSTM, 2 tanh RNN, 3 n-gram MLP.
    pub arch: u32,
    /// 0 FLOAT (f32/f16 weights), 1 INT8, 2 INT4.
    pub weights: u32,
    /// 1 if the model was trained on records (sampling stops at `<EOS>`), else 0.
    pub records: u32,
    /// Tokens, special tokens included.
    pub vocab_size: u32,
    /// Embedding width of the float model.
    pub embed_dim: u32,
    /// Hidden units per layer.
    pub hidden_dim: u32,
    /// Recurrent layers (1 for an n-gram MLP).
    pub num_layers: u32,
    /// n-gram context (0 for recurrent models).
    pub context: u32,
    /// n-gram activation: 1 ReLU, 2 tanh (0 for recurrent models).
    pub activation: u32,
    /// Bit field of the special tokens: 1 `<PAD>`, 2 `<BOS>`, 4 `<EOS>`, 8 `<UNK>`.
    pub specials: u32,
    /// Id of the first character (the special tokens come first).
    pub first_char_id: u32,
    /// `<BOS>`'s id, or `MYNAH_NO_TOKEN`.
    pub bos: u32,
    /// `<EOS>`'s id, or `MYNAH_NO_TOKEN`.
    pub eos: u32,
    /// Tensors in the file.
    pub tensor_count: u32,
    /// Bytes of the file.
    pub file_size: u32,
    /// CRC-32 of the file (the trailer, checked at load).
    pub checksum: u32,
    /// Bytes of a stream's state (`runtime::Footprint`).
    pub state_bytes: u32,
    /// Bytes of a stream's scratch (`runtime::Footprint`).
    pub scratch_bytes: u32,
    /// Bytes of a whole stream (`mynah_stream_bytes`: handle, state and scratch).
    pub stream_bytes: u32,
    /// 1 if the integer runtime runs this model (`mynah_stream_init` can be used), else 0.
    pub runnable: u32,
    /// 1 if layer 0 computes its input product from an int8 embedding (a factored file),
    /// 0 if it reads the token table (and for float and n-gram files).
    pub factored: u32,
}

/// The model card of a parsed file.
pub fn info(model: &Model<'_>, runnable: bool) -> mynah_info {
    let h = model.hyper();
    let v = model.vocab();
    let f = footprint(model);
    let (context, activation) = match h.arch {
        Arch::Ngram {
            context,
            activation,
        } => (context, activation.code()),
        Arch::Recurrent(_) => (0, 0),
    };
    mynah_info {
        version: u32::from(model.version()),
        arch: h.arch.code(),
        weights: h.weights.code(),
        records: u32::from(h.records),
        vocab_size: h.vocab_size,
        embed_dim: h.embed_dim,
        hidden_dim: h.hidden_dim,
        num_layers: h.num_layers,
        context,
        activation,
        specials: h.specials.bits(),
        first_char_id: v.first_char_id(),
        bos: v.bos().unwrap_or(MYNAH_NO_TOKEN),
        eos: v.eos().unwrap_or(MYNAH_NO_TOKEN),
        tensor_count: model.tensor_count() as u32,
        file_size: model.file_size() as u32,
        checksum: model.checksum(),
        state_bytes: f.state_bytes as u32,
        scratch_bytes: f.scratch_bytes as u32,
        stream_bytes: crate::stream::stream_bytes(&f) as u32,
        runnable: u32::from(runnable),
        factored: u32::from(h.factored),
    }
}

/// One tensor of the file, as `mynah inspect` lists it.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct mynah_tensor {
    /// The name, NUL-terminated (at most 31 characters).
    pub name: [u8; 32],
    /// The dtype's name, NUL-terminated: `f32`, `f16`, `i8`, `i16`, `i32` or `i4`.
    pub dtype: [u8; 8],
    /// Number of dimensions (1..=4).
    pub rank: u32,
    /// The dimensions, outermost first (0 past `rank`).
    pub dims: [u32; 4],
    /// Bytes of data.
    pub bytes: u32,
    /// Fixed-point fractional bits (0 for floats).
    pub frac_bits: i32,
}

/// The `index`-th tensor of `model`, or `None` past the last.
pub fn tensor(model: &Model<'_>, index: usize) -> Option<mynah_tensor> {
    let t = model.tensors().nth(index)?;
    let mut out = mynah_tensor::default();
    copy_name(&mut out.name, t.name());
    copy_name(&mut out.dtype, t.dtype().name());
    out.rank = t.shape().len() as u32;
    for (d, &s) in out.dims.iter_mut().zip(t.shape()) {
        *d = s;
    }
    out.bytes = t.bytes().len() as u32;
    out.frac_bits = t.frac_bits();
    Some(out)
}

/// `s` into `dst`, NUL-terminated (cut if longer than `dst` allows).
fn copy_name(dst: &mut [u8], s: &str) {
    let n = s.len().min(dst.len().saturating_sub(1));
    for (d, &b) in dst.iter_mut().zip(s.as_bytes().get(..n).unwrap_or(&[])) {
        *d = b;
    }
}
