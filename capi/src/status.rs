//! Status codes: what every function of the C ABI returns, and their messages.

use mynah_format::FormatError;
use mynah_runtime::RuntimeError;

/// What every `mynah_*` function returns: `MYNAH_OK`, `MYNAH_EOS` (not an error), or one
/// of the negative `MYNAH_ERR_*` codes; `mynah_status_message` says what each means.
#[allow(non_camel_case_types)]
pub type mynah_status = i32;

/// Success.
pub const MYNAH_OK: mynah_status = 0;
/// The model sampled `<EOS>`: the record is finished (records models only; nothing fed).
pub const MYNAH_EOS: mynah_status = 1;
/// A pointer argument is NULL.
pub const MYNAH_ERR_NULL: mynah_status = -1;
/// A buffer (or the model file) does not start at the alignment the function needs:
/// `MYNAH_ALIGN` for handle memory, 4 for a model file.
pub const MYNAH_ERR_ALIGNMENT: mynah_status = -2;
/// A buffer is too small: ask `mynah_model_bytes` / `mynah_stream_bytes` for the size.
pub const MYNAH_ERR_BUFFER_TOO_SMALL: mynah_status = -3;
/// The bytes are not a valid mynah model file (truncated, wrong magic, bad checksum, ...).
pub const MYNAH_ERR_CORRUPT_FILE: mynah_status = -4;
/// The file holds float weights; the integer runtime needs an INT8 or INT4 file.
pub const MYNAH_ERR_NOT_QUANTIZED: mynah_status = -5;
/// A valid file the integer runtime refuses (tensors outside its quantization scheme, a
/// hidden layer wider than 512).
pub const MYNAH_ERR_UNSUPPORTED_MODEL: mynah_status = -6;
/// A character of the prime is not in the model's vocabulary.
pub const MYNAH_ERR_UNKNOWN_CHAR: mynah_status = -7;
/// The prime is not valid UTF-8.
pub const MYNAH_ERR_BAD_UTF8: mynah_status = -8;
/// The temperature is above `MYNAH_MAX_TEMPERATURE_MILLI`.
pub const MYNAH_ERR_BAD_TEMPERATURE: mynah_status = -9;
/// The model has no `<BOS>`: prime it with at least one character before sampling.
pub const MYNAH_ERR_NEEDS_PRIME: mynah_status = -10;
/// A token id is not below the vocabulary size.
pub const MYNAH_ERR_BAD_TOKEN: mynah_status = -11;
/// A handle was not made by `mynah_model_load` / `mynah_stream_init`, or its model was not
/// loaded successfully.
pub const MYNAH_ERR_BAD_HANDLE: mynah_status = -12;
/// An index (of a tensor) is out of range.
pub const MYNAH_ERR_BAD_INDEX: mynah_status = -13;

/// The status code of a runtime error.
pub fn of(e: &RuntimeError) -> mynah_status {
    match e {
        RuntimeError::Format(FormatError::MisalignedBuffer { .. })
        | RuntimeError::MisalignedBuffer => MYNAH_ERR_ALIGNMENT,
        RuntimeError::Format(_) => MYNAH_ERR_CORRUPT_FILE,
        RuntimeError::NotQuantized => MYNAH_ERR_NOT_QUANTIZED,
        RuntimeError::UnknownChar { .. } => MYNAH_ERR_UNKNOWN_CHAR,
        RuntimeError::TokenOutOfRange { .. } => MYNAH_ERR_BAD_TOKEN,
        RuntimeError::NeedsPrime => MYNAH_ERR_NEEDS_PRIME,
        RuntimeError::BufferTooSmall { .. } => MYNAH_ERR_BUFFER_TOO_SMALL,
        RuntimeError::StateMismatch => MYNAH_ERR_BAD_HANDLE,
        _ => MYNAH_ERR_UNSUPPORTED_MODEL,
    }
}

/// The message of a status code, NUL-terminated.
pub fn message(status: mynah_status) -> &'static str {
    match status {
        MYNAH_OK => "ok\0",
        MYNAH_EOS => "the model ended the record (<EOS>)\0",
        MYNAH_ERR_NULL => "a pointer argument is NULL\0",
        MYNAH_ERR_ALIGNMENT => {
            "a buffer is misaligned: handle memory must be 8-byte aligned, a model file 4-byte aligned\0"
        }
        MYNAH_ERR_BUFFER_TOO_SMALL => {
            "a buffer is too small (mynah_model_bytes and mynah_stream_bytes give the sizes)\0"
        }
        MYNAH_ERR_CORRUPT_FILE => "the file is not a valid mynah model (corrupt or truncated)\0",
        MYNAH_ERR_NOT_QUANTIZED => {
            "the model has float weights; the integer runtime needs an INT8 or INT4 file \
             (mynah quantize, or mynah-train export --dtype int8 or int4)\0"
        }
        MYNAH_ERR_UNSUPPORTED_MODEL => {
            "the integer runtime cannot run this model (tensors outside its quantization scheme)\0"
        }
        MYNAH_ERR_UNKNOWN_CHAR => "a character of the prime is not in the model's vocabulary\0",
        MYNAH_ERR_BAD_UTF8 => "the prime is not valid UTF-8\0",
        MYNAH_ERR_BAD_TEMPERATURE => "the temperature must be 0 (greedy) to 1000000 thousandths\0",
        MYNAH_ERR_NEEDS_PRIME => {
            "the model has no <BOS> token, so it starts from text: prime it with at least one character\0"
        }
        MYNAH_ERR_BAD_TOKEN => "the token id is not below the vocabulary size\0",
        MYNAH_ERR_BAD_HANDLE => {
            "the handle was not made by mynah_model_load/mynah_stream_init, or its model failed to load\0"
        }
        MYNAH_ERR_BAD_INDEX => "the index is out of range\0",
        _ => "unknown status code\0",
    }
}
