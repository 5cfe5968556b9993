//! Stream memory sized at run time: [`StateView`] and [`ScratchView`] borrow exactly the
//! model's dimensions, either from the compile-time-sized [`crate::State`] /
//! [`crate::Scratch`] (and their n-gram forms) or carved out of a caller's byte buffer
//! ([`StateView::carve`], [`ScratchView::carve`]) of [`Footprint`] bytes. Every model's step
//! runs on these views; the const-generic types are one way to own the memory.

use mynah_format::{Arch, Cell as CellKind};

use crate::cell::{Cell, Gru, Lstm, Rnn};
use crate::kernels::XpMut;
use crate::{Footprint, RuntimeError};

/// A stream's state in borrowed memory: for a recurrent model `layers` hidden vectors
/// (`i16`, Q15) `stride` apart and, for an LSTM, as many cell-state vectors (`i32`, Q16);
/// for an n-gram MLP the ring of the last token ids (the model reads its last `context`).
#[derive(Debug)]
pub struct StateView<'s> {
    pub(crate) h: &'s mut [i16],
    pub(crate) c: &'s mut [i32],
    pub(crate) ids: &'s mut [u16],
    pub(crate) stride: usize,
}

/// A step's working memory in borrowed memory: the word-aligned reordered input of the
/// matrix kernel, the work rows (`i32`, `stride` apart: a recurrent cell's
/// [`crate::Cell::ROWS`], an n-gram's one row of sums), the n-gram's `i16` activations, the
/// logits and the sampler's selection buffer.
#[derive(Debug)]
pub struct ScratchView<'s> {
    pub(crate) xp: XpMut<'s>,
    pub(crate) work: &'s mut [i32],
    pub(crate) act: &'s mut [i16],
    pub(crate) logits: &'s mut [i32],
    pub(crate) sel: &'s mut [i32],
    pub(crate) stride: usize,
}

/// The first `n` bytes of `bytes` as `T`s, and the rest.
fn take<T: bytemuck::Pod>(
    bytes: &mut [u8],
    n: usize,
) -> Result<(&mut [T], &mut [u8]), RuntimeError> {
    let got = bytes.len();
    if n > got {
        return Err(RuntimeError::BufferTooSmall { needed: n, got });
    }
    let (head, rest) = bytes.split_at_mut(n);
    let head = bytemuck::try_cast_slice_mut(head).map_err(|_| RuntimeError::MisalignedBuffer)?;
    Ok((head, rest))
}

/// Checks that `bytes` holds `needed` bytes from a 4-byte aligned address.
fn check(bytes: &[u8], needed: usize) -> Result<(), RuntimeError> {
    if bytes.len() < needed {
        return Err(RuntimeError::BufferTooSmall {
            needed,
            got: bytes.len(),
        });
    }
    if !(bytes.as_ptr() as usize).is_multiple_of(4) {
        return Err(RuntimeError::MisalignedBuffer);
    }
    Ok(())
}

impl<'s> StateView<'s> {
    /// The state of a model of `arch` with `hidden` units and `layers` layers, carved out
    /// of the first [`Footprint::of`]`(..).state_bytes` bytes of `bytes` (which must start
    /// at a 4-byte aligned address). The bytes are used as they are, so a stream carved
    /// again from the same memory continues where it was: reset a new one with the model's
    /// `reset_view` (or carve it with [`crate::AnyModel::state_view`]) before the first step.
    pub fn carve(
        bytes: &'s mut [u8],
        arch: Arch,
        hidden: usize,
        layers: usize,
    ) -> Result<Self, RuntimeError> {
        let f = Footprint::of(arch, hidden, 0, layers, 0);
        check(bytes, f.state_bytes)?;
        let bytes = bytes.get_mut(..f.state_bytes).unwrap_or(&mut []);
        let view = match arch {
            Arch::Ngram { context, .. } => {
                let (ids, _) = take(bytes, 2 * context as usize)?;
                StateView {
                    h: &mut [],
                    c: &mut [],
                    ids,
                    stride: 0,
                }
            }
            Arch::Recurrent(cell) => {
                let hl = 2 * hidden * layers;
                let (h, rest) = take(bytes, hl)?;
                let c = if cell == Lstm::KIND {
                    let (_, rest) = take::<u8>(rest, hl.next_multiple_of(4) - hl)?;
                    take(rest, 4 * hidden * layers)?.0
                } else {
                    &mut []
                };
                StateView {
                    h,
                    c,
                    ids: &mut [],
                    stride: hidden,
                }
            }
        };
        Ok(view)
    }

    /// A shorter-lived borrow of the same memory.
    pub fn reborrow(&mut self) -> StateView<'_> {
        StateView {
            h: self.h,
            c: self.c,
            ids: self.ids,
            stride: self.stride,
        }
    }

    /// Layer `k`'s hidden vector (Q15, `stride` entries; a model uses its first
    /// `hidden_dim`), `None` past the last layer or for an n-gram.
    pub fn hidden(&self, k: usize) -> Option<&[i16]> {
        let start = k.checked_mul(self.stride)?;
        self.h.get(start..start.checked_add(self.stride)?)
    }

    /// The n-gram context ring, oldest first (empty for a recurrent model).
    pub fn ids(&self) -> &[u16] {
        self.ids
    }
}

impl<'s> ScratchView<'s> {
    /// The scratch of a model of `arch` with `hidden` units and `vocab` tokens (and, for a
    /// factored model, an embedding of `input` entries; 0 otherwise), carved out of the
    /// first [`Footprint::of`]`(..).scratch_bytes` bytes of `bytes` (which must start at a
    /// 4-byte aligned address), used as they are (the logits of the last step stay readable
    /// when the same memory is carved again).
    pub fn carve(
        bytes: &'s mut [u8],
        arch: Arch,
        hidden: usize,
        vocab: usize,
        input: usize,
    ) -> Result<Self, RuntimeError> {
        let f = Footprint::of(arch, hidden, vocab, 1, input);
        check(bytes, f.scratch_bytes)?;
        let bytes = bytes.get_mut(..f.scratch_bytes).unwrap_or(&mut []);
        let (xp, rest) = take::<u32>(bytes, (2 * hidden.max(input)).next_multiple_of(4))?;
        let rows = match arch {
            Arch::Recurrent(CellKind::Gru) => Gru::ROWS,
            Arch::Recurrent(CellKind::Lstm) => Lstm::ROWS,
            Arch::Recurrent(CellKind::Rnn) => Rnn::ROWS,
            Arch::Ngram { .. } => 1,
        };
        let (work, rest) = take(rest, 4 * rows * hidden)?;
        let (logits, rest) = take(rest, 4 * vocab)?;
        let (sel, rest) = take(rest, 4 * vocab)?;
        let act = match arch {
            Arch::Ngram { .. } => take(rest, 2 * hidden)?.0,
            Arch::Recurrent(_) => &mut [],
        };
        Ok(ScratchView {
            xp: XpMut::from_words(xp),
            work,
            act,
            logits,
            sel,
            stride: hidden,
        })
    }

    /// A shorter-lived borrow of the same memory.
    pub fn reborrow(&mut self) -> ScratchView<'_> {
        ScratchView {
            xp: self.xp.reborrow(),
            work: self.work,
            act: self.act,
            logits: self.logits,
            sel: self.sel,
            stride: self.stride,
        }
    }

    /// The logits (first `vocab` entries) and the selection buffer, borrowed together.
    pub fn logits_and_sel(&mut self, vocab: usize) -> (&[i32], &mut [i32]) {
        let logits = self.logits.get(..vocab).unwrap_or(self.logits);
        (logits, self.sel)
    }

    /// The logits (first `vocab` entries) and the selection buffer, for as long as the
    /// memory the view was carved from.
    pub fn into_logits_and_sel(self, vocab: usize) -> (&'s [i32], &'s mut [i32]) {
        let logits: &'s [i32] = self.logits;
        (logits.get(..vocab).unwrap_or(logits), self.sel)
    }

    /// The logits, every entry of the view (a model writes its first `vocab_size`).
    pub fn logits(&self) -> &[i32] {
        self.logits
    }

    /// Whether this scratch can serve a model of these dimensions (`rows` work rows).
    pub(crate) fn fits(&self, hidden: usize, vocab: usize, rows: usize, act: bool) -> bool {
        let need_rows = rows.saturating_sub(1).saturating_mul(self.stride) + hidden;
        self.stride >= hidden
            && self.xp.len() >= hidden
            && self.work.len() >= need_rows
            && (!act || self.act.len() >= hidden)
            && self.logits.len() >= vocab
            && self.sel.len() >= vocab
    }
}

impl StateView<'_> {
    /// Whether this state can serve a recurrent model of these dimensions.
    pub(crate) fn fits_recurrent(&self, hidden: usize, layers: usize, memory: bool) -> bool {
        let need = layers.saturating_sub(1).saturating_mul(self.stride) + hidden;
        self.stride >= hidden && self.h.len() >= need && (!memory || self.c.len() >= need)
    }
}
