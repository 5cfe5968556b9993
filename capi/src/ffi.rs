//! The `extern "C"` functions: every pointer C hands in is checked (NULL, alignment, the
//! handle's magic number) and turned into a reference or a slice here, and only here; the
//! work is done by the safe code of `model` and `stream`.
#![allow(unsafe_code)]

use core::ffi::{c_char, c_void};
use core::mem::{align_of, size_of};
use core::ptr;

use crate::model::{self, mynah_info, mynah_tensor, ModelHandle, MODEL_MAGIC};
use crate::status::{self, *};
use crate::stream::{self, Stream, StreamHandle, HEADER, STREAM_MAGIC};
use crate::text;
use crate::MYNAH_ALIGN;
use mynah_runtime::Stepper;

/// A loaded model: opaque, in memory the caller provides (`mynah_model_bytes` bytes,
/// `MYNAH_ALIGN`-aligned).
#[allow(non_camel_case_types)]
pub struct mynah_model {
    _opaque: [u8; 0],
}

/// One stream of text over a model: opaque, in memory the caller provides
/// (`mynah_stream_bytes` bytes, `MYNAH_ALIGN`-aligned).
#[allow(non_camel_case_types)]
pub struct mynah_stream {
    _opaque: [u8; 0],
}

/// The handle at `m`, if it is one: not NULL, aligned, and marked by `mynah_model_load`.
///
/// # Safety
/// `m` is NULL or points to at least 4 readable bytes; if those hold `MODEL_MAGIC`, to a
/// `ModelHandle` written by `mynah_model_load` and not moved since.
unsafe fn model_at<'a>(m: *const mynah_model) -> Result<&'a ModelHandle, mynah_status> {
    if m.is_null() {
        return Err(MYNAH_ERR_NULL);
    }
    if !(m as usize).is_multiple_of(MYNAH_ALIGN) {
        return Err(MYNAH_ERR_BAD_HANDLE);
    }
    // SAFETY: aligned, readable (the caller's promise); the magic is the first field.
    if unsafe { m.cast::<u32>().read() } != MODEL_MAGIC {
        return Err(MYNAH_ERR_BAD_HANDLE);
    }
    // SAFETY: a handle written by `mynah_model_load` (the caller's promise, and the magic).
    Ok(unsafe { &*m.cast::<ModelHandle>() })
}

/// The stream at `s` with its model and its memory.
///
/// # Safety
/// `s` is NULL or points to at least 4 readable bytes; if those hold `STREAM_MAGIC`, to a
/// stream made by `mynah_stream_init` (its memory still all there, not moved) whose model
/// handle is still loaded and in place, and nothing else refers to that memory.
unsafe fn stream_at<'a>(s: *mut mynah_stream) -> Result<Stream<'a>, mynah_status> {
    if s.is_null() {
        return Err(MYNAH_ERR_NULL);
    }
    if !(s as usize).is_multiple_of(MYNAH_ALIGN) {
        return Err(MYNAH_ERR_BAD_HANDLE);
    }
    // SAFETY: aligned, readable (the caller's promise); the magic is the first field.
    if unsafe { s.cast::<u32>().read() } != STREAM_MAGIC {
        return Err(MYNAH_ERR_BAD_HANDLE);
    }
    // SAFETY: a handle written by `mynah_stream_init`, exclusively ours for this call.
    let h = unsafe { &mut *s.cast::<StreamHandle>() };
    // SAFETY: the model handle outlives the stream (the caller's promise).
    let m = unsafe { model_at(h.model.cast())? };
    let runner = m.runner()?;
    // SAFETY: `mynah_stream_init` checked that `HEADER + mem_len` bytes are there; the
    // handle ends before `HEADER`, so the two borrows do not overlap.
    let mem = unsafe { core::slice::from_raw_parts_mut(s.cast::<u8>().add(HEADER), h.mem_len) };
    Stream::open(h, runner, mem).map_err(|e| status::of(&e))
}

/// `len` bytes at `p` (none when `len` is 0, whatever `p` is).
///
/// # Safety
/// When `len > 0`, `p` is not NULL and points to `len` readable bytes that outlive `'a`.
unsafe fn bytes<'a>(p: *const u8, len: usize) -> Result<&'a [u8], mynah_status> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(MYNAH_ERR_NULL);
    }
    // SAFETY: the caller's promise.
    Ok(unsafe { core::slice::from_raw_parts(p, len) })
}

/// `len` writable bytes at `p` (none when `len` is 0).
///
/// # Safety
/// When `len > 0`, `p` is not NULL and points to `len` writable bytes no one else uses.
unsafe fn bytes_mut<'a>(p: *mut u8, len: usize) -> Result<&'a mut [u8], mynah_status> {
    if len == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(MYNAH_ERR_NULL);
    }
    // SAFETY: the caller's promise.
    Ok(unsafe { core::slice::from_raw_parts_mut(p, len) })
}

/// Stores `v` at `p` when `p` is not NULL.
///
/// # Safety
/// `p` is NULL or valid for a write of a `T`.
unsafe fn put<T>(p: *mut T, v: T) {
    if !p.is_null() {
        // SAFETY: the caller's promise.
        unsafe { p.write(v) };
    }
}

/// The message of a status code: a static, NUL-terminated English sentence ("unknown
/// status code" for a value that is none).
#[no_mangle]
pub extern "C" fn mynah_status_message(status: mynah_status) -> *const c_char {
    message(status).as_ptr().cast()
}

/// Bytes of a model handle on this target (at most `MYNAH_MODEL_BYTES`).
#[no_mangle]
pub extern "C" fn mynah_model_bytes() -> usize {
    size_of::<ModelHandle>()
}

/// Loads the model file `file` (`file_len` bytes, 4-byte aligned; 64 is best) into a handle
/// in `mem` (`mem_len >= mynah_model_bytes()` bytes, `MYNAH_ALIGN`-aligned), and stores
/// the handle's address in `*out`.
///
/// The file is validated in full (checksum included) and read in place from then on: it
/// must stay there, unchanged, while the handle is used. Returns `MYNAH_OK`, or
/// `MYNAH_ERR_CORRUPT_FILE`, `MYNAH_ERR_NOT_QUANTIZED`, `MYNAH_ERR_UNSUPPORTED_MODEL`,
/// `MYNAH_ERR_ALIGNMENT` (a misaligned `mem` or file); after a refused file `*out` is still
/// set, so that `mynah_model_message` says why (and `mynah_model_info` describes a file that
/// parsed, e.g. a float one). NULL arguments and a short `mem` leave `*out` alone.
///
/// # Safety
/// `mem` points to `mem_len` writable bytes and `file` to `file_len` readable bytes, both
/// kept (and the file unchanged) while the handle or a stream of it is used; `out` is NULL
/// or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn mynah_model_load(
    mem: *mut c_void,
    mem_len: usize,
    file: *const u8,
    file_len: usize,
    out: *mut *mut mynah_model,
) -> mynah_status {
    if mem.is_null() || file.is_null() {
        return MYNAH_ERR_NULL;
    }
    if !(mem as usize).is_multiple_of(MYNAH_ALIGN) {
        return MYNAH_ERR_ALIGNMENT;
    }
    if mem_len < size_of::<ModelHandle>() {
        return MYNAH_ERR_BUFFER_TOO_SMALL;
    }
    // SAFETY: `file_len` readable bytes kept unchanged while the handle is used (the
    // caller's promise, which is what `'static` stands for here).
    let file: &'static [u8] = unsafe { core::slice::from_raw_parts(file, file_len) };
    let handle = ModelHandle::load(file);
    let status = handle.status;
    const { assert!(align_of::<ModelHandle>() <= MYNAH_ALIGN) };
    // SAFETY: `mem` is aligned for a ModelHandle and holds at least its size, writable.
    unsafe { mem.cast::<ModelHandle>().write(handle) };
    // SAFETY: the caller's promise.
    unsafe { put(out, mem.cast()) };
    status
}

/// Writes why the model's load failed (or "ok") into `buf` (`cap` bytes), NUL-terminated
/// and cut to fit; returns the length of the whole message (without the NUL). Names the
/// problem: e.g. the checksum mismatch of a corrupt file, the tensor a model is refused for.
///
/// # Safety
/// `m` is NULL or a handle from `mynah_model_load`; `buf` is NULL (with `cap` 0) or holds
/// `cap` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn mynah_model_message(
    m: *const mynah_model,
    buf: *mut c_char,
    cap: usize,
) -> usize {
    // SAFETY: the caller's promises.
    let (m, buf) = unsafe { (model_at(m), bytes_mut(buf.cast(), cap)) };
    let buf = buf.unwrap_or(&mut []);
    match m {
        Ok(ModelHandle { error: Some(e), .. }) => text::write(buf, format_args!("{e}")),
        Ok(_) => text::write(buf, format_args!("ok")),
        Err(s) => text::write(buf, format_args!("{}", plain(s))),
    }
}

/// The model card of a loaded file (also of a parsed file the runtime refused, e.g. a
/// float one: then `runnable` is 0).
///
/// # Safety
/// `m` is NULL or a handle from `mynah_model_load`; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn mynah_model_info(
    m: *const mynah_model,
    out: *mut mynah_info,
) -> mynah_status {
    // SAFETY: the caller's promise.
    let m = match unsafe { model_at(m) } {
        Ok(m) => m,
        Err(e) => return e,
    };
    let Some(file) = m.model.as_ref() else {
        return m.status;
    };
    if out.is_null() {
        return MYNAH_ERR_NULL;
    }
    // SAFETY: not NULL, the caller's promise.
    unsafe { out.write(model::info(file, m.runner.is_some())) };
    MYNAH_OK
}

/// The vocabulary's characters as UTF-8 (`*len` bytes at `*utf8`, in the file, not
/// NUL-terminated), in id order from `mynah_info.first_char_id`.
///
/// # Safety
/// `m` is NULL or a handle from `mynah_model_load`; `utf8` and `len` are NULL or valid
/// for a write.
#[no_mangle]
pub unsafe extern "C" fn mynah_model_vocab(
    m: *const mynah_model,
    utf8: *mut *const u8,
    len: *mut usize,
) -> mynah_status {
    // SAFETY: the caller's promise.
    let m = match unsafe { model_at(m) } {
        Ok(m) => m,
        Err(e) => return e,
    };
    let Some(file) = m.model.as_ref() else {
        return m.status;
    };
    if utf8.is_null() || len.is_null() {
        return MYNAH_ERR_NULL;
    }
    let s = file.vocab().as_str();
    // SAFETY: not NULL, the caller's promise.
    unsafe {
        utf8.write(s.as_ptr());
        len.write(s.len());
    }
    MYNAH_OK
}

/// The `index`-th tensor of the file (`MYNAH_ERR_BAD_INDEX` past the last).
///
/// # Safety
/// `m` is NULL or a handle from `mynah_model_load`; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn mynah_model_tensor(
    m: *const mynah_model,
    index: u32,
    out: *mut mynah_tensor,
) -> mynah_status {
    // SAFETY: the caller's promise.
    let m = match unsafe { model_at(m) } {
        Ok(m) => m,
        Err(e) => return e,
    };
    let Some(file) = m.model.as_ref() else {
        return m.status;
    };
    if out.is_null() {
        return MYNAH_ERR_NULL;
    }
    match model::tensor(file, index as usize) {
        Some(t) => {
            // SAFETY: not NULL, the caller's promise.
            unsafe { out.write(t) };
            MYNAH_OK
        }
        None => MYNAH_ERR_BAD_INDEX,
    }
}

/// The character (Unicode scalar value) of token `token`; `MYNAH_ERR_BAD_TOKEN` for a
/// special token or an id past the vocabulary.
///
/// # Safety
/// `m` is NULL or a handle from `mynah_model_load`; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn mynah_model_char(
    m: *const mynah_model,
    token: u32,
    out: *mut u32,
) -> mynah_status {
    // SAFETY: the caller's promise.
    let m = match unsafe { model_at(m) } {
        Ok(m) => m,
        Err(e) => return e,
    };
    let Some(file) = m.model.as_ref() else {
        return m.status;
    };
    match file.vocab().char_of(token) {
        Some(c) => {
            // SAFETY: the caller's promise.
            unsafe { put(out, u32::from(c)) };
            MYNAH_OK
        }
        None => MYNAH_ERR_BAD_TOKEN,
    }
}

/// Bytes of a stream of model `m` (the handle, then exactly `runtime::Footprint`'s state
/// and scratch): 4 128 + the handle for the 1×128 GRU over 68 tokens.
///
/// # Safety
/// `m` is NULL or a handle from `mynah_model_load`; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn mynah_stream_bytes(
    m: *const mynah_model,
    out: *mut usize,
) -> mynah_status {
    // SAFETY: the caller's promise.
    let m = match unsafe { model_at(m) } {
        Ok(m) => m,
        Err(e) => return e,
    };
    let runner = match m.runner() {
        Ok(r) => r,
        Err(e) => return e,
    };
    if out.is_null() {
        return MYNAH_ERR_NULL;
    }
    // SAFETY: not NULL, the caller's promise.
    unsafe { out.write(stream::stream_bytes(&runner.footprint())) };
    MYNAH_OK
}

/// Starts a stream of model `m` in `mem` (`mem_len >= mynah_stream_bytes` bytes,
/// `MYNAH_ALIGN`-aligned) and stores its address in `*out`: seed 1, temperature 0.8
/// (`mynah sample`'s defaults), all tokens, zero state with `<BOS>` fed.
///
/// # Safety
/// `mem` points to `mem_len` writable bytes used by nothing else while the stream is; `m`
/// is NULL or a handle from `mynah_model_load`, kept in place while the stream is used;
/// `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn mynah_stream_init(
    mem: *mut c_void,
    mem_len: usize,
    m: *const mynah_model,
    out: *mut *mut mynah_stream,
) -> mynah_status {
    // SAFETY: the caller's promise.
    let model = match unsafe { model_at(m) } {
        Ok(m) => m,
        Err(e) => return e,
    };
    let runner = match model.runner() {
        Ok(r) => r,
        Err(e) => return e,
    };
    if mem.is_null() {
        return MYNAH_ERR_NULL;
    }
    if !(mem as usize).is_multiple_of(MYNAH_ALIGN) {
        return MYNAH_ERR_ALIGNMENT;
    }
    if mem_len < stream::stream_bytes(&runner.footprint()) {
        return MYNAH_ERR_BUFFER_TOO_SMALL;
    }
    let h = mem.cast::<StreamHandle>();
    // SAFETY: aligned, `HEADER` ≥ its size bytes writable: a plain value written in place
    // (the memory may hold anything, so no reference to it is formed before).
    unsafe {
        h.write(StreamHandle {
            magic: 0,
            status: MYNAH_OK,
            model: ptr::null(),
            error: None,
            rng: mynah_runtime::Pcg32::new(1),
            opts: mynah_runtime::SampleOptions::new(
                mynah_runtime::Temperature::from_milli(crate::MYNAH_DEFAULT_TEMPERATURE_MILLI),
                &runner.vocab(),
                runner.records(),
            ),
            ready: false,
            mem_len: 0,
        })
    };
    // SAFETY: initialized just above; the rest of `mem` follows the handle.
    let (h, rest) = unsafe {
        (
            &mut *h,
            core::slice::from_raw_parts_mut(mem.cast::<u8>().add(HEADER), mem_len - HEADER),
        )
    };
    // `Stream::init` needs the handle and the memory; on failure the handle keeps the error.
    let status = match Stream::init(h, model, runner, rest) {
        Ok(_) => MYNAH_OK,
        Err(e) => status::of(&e),
    };
    // SAFETY: the caller's promise.
    unsafe { put(out, mem.cast()) };
    status
}

/// Runs `f` on the stream at `s`, recording its result in the handle.
///
/// # Safety
/// As `stream_at`.
unsafe fn with_stream(
    s: *mut mynah_stream,
    f: impl FnOnce(&mut Stream<'_>) -> Result<mynah_status, mynah_runtime::RuntimeError>,
) -> mynah_status {
    // SAFETY: the caller's promise.
    let mut st = match unsafe { stream_at(s) } {
        Ok(st) => st,
        Err(e) => return e,
    };
    let r = f(&mut st);
    let h = st.h;
    match r {
        Ok(status) => {
            h.status = status;
            h.error = None;
        }
        Err(e) => {
            h.status = status::of(&e);
            h.error = Some(e);
        }
    }
    h.status
}

/// Re-seeds the stream's sampler (PCG32; `mynah sample --seed`).
///
/// # Safety
/// `s` is NULL or a stream from `mynah_stream_init` (see there).
#[no_mangle]
pub unsafe extern "C" fn mynah_stream_seed(s: *mut mynah_stream, seed: u64) -> mynah_status {
    // SAFETY: the caller's promise.
    unsafe {
        with_stream(s, |st| {
            st.seed(seed);
            Ok(MYNAH_OK)
        })
    }
}

/// Sets the temperature in thousandths (0 greedy, 1000 the model's own distribution, at
/// most `MYNAH_MAX_TEMPERATURE_MILLI`: else `MYNAH_ERR_BAD_TEMPERATURE` and nothing
/// changes) and top-k (0: every token).
///
/// # Safety
/// `s` is NULL or a stream from `mynah_stream_init` (see there).
#[no_mangle]
pub unsafe extern "C" fn mynah_stream_sampling(
    s: *mut mynah_stream,
    temperature_milli: u32,
    top_k: u32,
) -> mynah_status {
    // SAFETY: the caller's promise.
    unsafe { with_stream(s, |st| Ok(st.sampling(temperature_milli, top_k))) }
}

/// Back to the start of a sequence: zero state, `<BOS>` fed if the model has one (the
/// sampler's generator goes on).
///
/// # Safety
/// `s` is NULL or a stream from `mynah_stream_init` (see there).
#[no_mangle]
pub unsafe extern "C" fn mynah_stream_reset(s: *mut mynah_stream) -> mynah_status {
    // SAFETY: the caller's promise.
    unsafe { with_stream(s, |st| st.reset().map(|()| MYNAH_OK)) }
}

/// Feeds the `len` bytes of UTF-8 text at `text` (NULL allowed when `len` is 0). Every
/// character is checked first: `MYNAH_ERR_UNKNOWN_CHAR` (the message names it and its
/// position) or `MYNAH_ERR_BAD_UTF8` feed nothing.
///
/// # Safety
/// `s` is NULL or a stream from `mynah_stream_init` (see there); `text` holds `len`
/// readable bytes.
#[no_mangle]
pub unsafe extern "C" fn mynah_stream_prime(
    s: *mut mynah_stream,
    text: *const c_char,
    len: usize,
) -> mynah_status {
    // SAFETY: the caller's promise.
    let text = match unsafe { bytes(text.cast(), len) } {
        Ok(t) => t,
        Err(e) => return e,
    };
    // SAFETY: the caller's promise.
    unsafe {
        with_stream(s, |st| match core::str::from_utf8(text) {
            Ok(t) => st.prime(t).map(|()| MYNAH_OK),
            Err(_) => Ok(MYNAH_ERR_BAD_UTF8),
        })
    }
}

/// Feeds one token id (`MYNAH_ERR_BAD_TOKEN` if it is not below the vocabulary size).
///
/// # Safety
/// `s` is NULL or a stream from `mynah_stream_init` (see there).
#[no_mangle]
pub unsafe extern "C" fn mynah_stream_feed(s: *mut mynah_stream, token: u32) -> mynah_status {
    // SAFETY: the caller's promise.
    unsafe { with_stream(s, |st| st.feed(token).map(|()| MYNAH_OK)) }
}

/// Samples one token into `*token`: a character is fed back (`MYNAH_OK`;
/// `mynah_model_char` gives it), `<EOS>` of a records model is not (`MYNAH_EOS`).
///
/// # Safety
/// `s` is NULL or a stream from `mynah_stream_init` (see there); `token` is NULL or valid
/// for a write.
#[no_mangle]
pub unsafe extern "C" fn mynah_stream_next(s: *mut mynah_stream, token: *mut u32) -> mynah_status {
    // SAFETY: the caller's promise.
    unsafe {
        with_stream(s, |st| {
            let (status, t) = st.next()?;
            put(token, t);
            Ok(status)
        })
    }
}

/// Samples up to `max_chars` characters into `out` (`cap` bytes) as UTF-8, not
/// NUL-terminated: `*written` bytes, `*chars` characters. Stops early at `<EOS>`
/// (`MYNAH_EOS`, records models) or when fewer than 4 bytes of room are left
/// (`MYNAH_OK` with `*chars < max_chars`: call again).
///
/// # Safety
/// `s` is NULL or a stream from `mynah_stream_init` (see there); `out` holds `cap`
/// writable bytes; `written` and `chars` are NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn mynah_stream_generate(
    s: *mut mynah_stream,
    max_chars: u32,
    out: *mut c_char,
    cap: usize,
    written: *mut usize,
    chars: *mut u32,
) -> mynah_status {
    // SAFETY: the caller's promises.
    unsafe {
        put(written, 0);
        put(chars, 0);
    }
    // SAFETY: the caller's promise.
    let out = match unsafe { bytes_mut(out.cast(), cap) } {
        Ok(o) => o,
        Err(e) => return e,
    };
    // SAFETY: the caller's promise.
    unsafe {
        with_stream(s, |st| {
            let (status, g) = st.generate(max_chars, out)?;
            put(written, g.bytes);
            put(chars, g.chars);
            Ok(status)
        })
    }
}

/// Writes the message of the stream's last failure (or "ok") into `buf` (`cap` bytes),
/// NUL-terminated and cut to fit; returns the length of the whole message. An unknown
/// prime character is named with its position.
///
/// # Safety
/// `s` is NULL or a stream from `mynah_stream_init` (see there); `buf` is NULL (with `cap`
/// 0) or holds `cap` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn mynah_stream_message(
    s: *const mynah_stream,
    buf: *mut c_char,
    cap: usize,
) -> usize {
    // SAFETY: the caller's promise.
    let buf = unsafe { bytes_mut(buf.cast(), cap) }.unwrap_or(&mut []);
    let s = s as *mut mynah_stream;
    if s.is_null() || !(s as usize).is_multiple_of(MYNAH_ALIGN) {
        return text::write(buf, format_args!("{}", plain(MYNAH_ERR_NULL)));
    }
    // SAFETY: aligned and readable (the caller's promise); the magic is the first field.
    if unsafe { s.cast::<u32>().read() } != STREAM_MAGIC {
        return text::write(buf, format_args!("{}", plain(MYNAH_ERR_BAD_HANDLE)));
    }
    // SAFETY: a handle written by `mynah_stream_init`.
    let h = unsafe { &*s.cast::<StreamHandle>() };
    match h.error {
        Some(e) => text::write(buf, format_args!("{e}")),
        None => text::write(buf, format_args!("{}", plain(h.status))),
    }
}

/// A status message without its NUL.
fn plain(status: mynah_status) -> &'static str {
    message(status).trim_end_matches('\0')
}
