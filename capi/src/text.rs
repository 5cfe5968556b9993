//! Messages into caller buffers: NUL-terminated, cut at a character boundary when the
//! buffer is short, and the full length reported (as `snprintf` does).

use core::fmt::{self, Write};

/// Writes into `buf`, keeping room for the NUL, counting every byte it was given.
struct Cut<'b> {
    buf: &'b mut [u8],
    used: usize,
    total: usize,
    full: bool,
}

impl Write for Cut<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.total += s.len();
        for ch in s.chars() {
            let mut enc = [0u8; 4];
            let bytes = ch.encode_utf8(&mut enc).as_bytes();
            let end = self.used + bytes.len();
            // One byte stays for the NUL; a character that does not fit ends the text.
            if self.full || end >= self.buf.len() {
                self.full = true;
                return Ok(());
            }
            if let Some(dst) = self.buf.get_mut(self.used..end) {
                dst.copy_from_slice(bytes);
            }
            self.used = end;
        }
        Ok(())
    }
}

/// Writes `args` into `buf` as NUL-terminated UTF-8 (cut at a character boundary if `buf`
/// is short; nothing if it is empty) and returns the length of the whole text, without
/// the NUL.
pub fn write(buf: &mut [u8], args: fmt::Arguments<'_>) -> usize {
    let mut w = Cut {
        buf,
        used: 0,
        total: 0,
        full: false,
    };
    // `Cut` never fails; a Display impl that does just ends the text.
    let _ = w.write_fmt(args);
    let (used, total) = (w.used, w.total);
    if let Some(nul) = w.buf.get_mut(used) {
        *nul = 0;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_at_characters_and_counts_everything() {
        let mut buf = [0xffu8; 6];
        assert_eq!(write(&mut buf, format_args!("ab{}", "çd")), 5);
        assert_eq!(&buf[..6], b"ab\xc3\xa7d\0");
        let mut buf = [0xffu8; 4];
        assert_eq!(write(&mut buf, format_args!("abçd")), 5);
        assert_eq!(&buf[..3], b"ab\0");
        assert_eq!(write(&mut [], format_args!("abc")), 3);
    }
}
