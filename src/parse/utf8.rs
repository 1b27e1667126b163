//! Lossy UTF-8 decoding of a line that arrives in pieces.
//!
//! A long `data:` line is received chunk by chunk (see `Spill` in the
//! parser). Decoding each piece as it arrives, while it is still in cache,
//! lets the parser build the event's `String` directly: there is no check
//! of the whole value at dispatch, which for a 64 KiB line in 4 KiB chunks
//! was as slow as the search for its line break (`std`'s `from_utf8` over a
//! buffer that had left L1). Each piece is checked while it is in L1 and
//! copied with `push_str`, which needs no `unsafe`.

use crate::unchecked::push_plain_blocks;

/// Decodes pieces of one line into a `String` with exactly the result of
/// `String::from_utf8_lossy` over the whole line: a character split between
/// two pieces is held back until its last byte arrives.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct PieceDecoder {
    /// The unfinished character at the end of the last piece: a valid
    /// prefix of a UTF-8 sequence, `pending[..pending_len]`, 0 to 3 bytes.
    pending: [u8; 4],
    pending_len: u8,
}

impl PieceDecoder {
    /// Appends the decoding of `bytes`, the next piece of the line, to `out`.
    pub(super) fn push(&mut self, out: &mut String, mut bytes: &[u8]) {
        // First finish (or give up on) the character the last piece left
        // open: at most three bytes, one at a time.
        while self.pending_len > 0 {
            let Some((&byte, rest)) = bytes.split_first() else {
                return;
            };
            let n = usize::from(self.pending_len);
            self.pending[n] = byte;
            match std::str::from_utf8(&self.pending[..=n]) {
                Ok(done) => {
                    out.push_str(done);
                    self.pending_len = 0;
                    bytes = rest;
                }
                Err(e) if e.error_len().is_none() => {
                    self.pending_len += 1;
                    bytes = rest;
                }
                Err(_) => {
                    // `byte` cannot continue the sequence: the sequence is one
                    // maximal invalid subpart, and `byte` starts afresh.
                    out.push(char::REPLACEMENT_CHARACTER);
                    self.pending_len = 0;
                }
            }
        }
        let (body, tail) = bytes.split_at(unfinished_tail(bytes));
        // `tail` starts with a lead byte, which ends whatever came before,
        // so the two parts decode independently.
        out.push_str(&super::decode_cow(body));
        if tail.is_empty() {
            // The usual case: the piece ends on a character boundary.
            return;
        }
        match std::str::from_utf8(tail) {
            Err(e) if e.error_len().is_none() => {
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = u8::try_from(tail.len()).unwrap_or(0);
            }
            // Empty, or not the start of any character: nothing to wait for.
            _ => out.push_str(&String::from_utf8_lossy(tail)),
        }
    }

    /// The line has ended: a character still unfinished is one U+FFFD.
    pub(super) fn finish(&mut self, out: &mut String) {
        if self.pending_len > 0 {
            out.push(char::REPLACEMENT_CHARACTER);
            self.pending_len = 0;
        }
    }

    /// Appends the longest prefix of `bytes`, in whole 32-byte blocks and
    /// at most `max` bytes, that is ASCII without CR or LF (searched,
    /// checked and copied in one pass, see `push_plain_blocks`); returns
    /// its length. Nothing while a character is unfinished: its bytes must
    /// go through [`push`](Self::push). The caller goes on with the rest.
    pub(super) fn push_plain(&self, out: &mut String, bytes: &[u8], max: usize) -> usize {
        if self.pending_len == 0 {
            push_plain_blocks(out, bytes, max)
        } else {
            0
        }
    }

    /// Forgets an unfinished character (the line was dropped).
    pub(super) fn reset(&mut self) {
        self.pending_len = 0;
    }
}

/// Where a character that `bytes` may end in the middle of starts: the
/// index of a lead byte among the last three bytes whose sequence needs more
/// bytes than are left; `bytes.len()` if there is none.
fn unfinished_tail(bytes: &[u8]) -> usize {
    let len = bytes.len();
    for back in 1..=len.min(3) {
        let byte = bytes[len - back];
        if byte & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back
        }
        let needs = match byte {
            0xF0..=0xFF => 4,
            0xE0..=0xEF => 3,
            0xC0..=0xDF => 2,
            _ => 1,
        };
        return if needs > back { len - back } else { len };
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(whole: &[u8], cuts: &[usize]) -> String {
        let mut out = String::new();
        let mut decoder = PieceDecoder::default();
        let mut at = 0;
        for &cut in cuts {
            decoder.push(&mut out, &whole[at..cut]);
            at = cut;
        }
        decoder.push(&mut out, &whole[at..]);
        decoder.finish(&mut out);
        out
    }

    /// Every split into two and three pieces of byte strings rich in lead,
    /// continuation and invalid bytes decodes like the whole.
    #[test]
    fn pieces_decode_like_the_whole() {
        const BYTES: [u8; 14] = [
            b'a', 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80, 0x80, 0xE0, 0xED, 0xFF,
        ];
        let mut seed = 0x2545_F491_4F6C_DD1D_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..4000 {
            let len = (round % 13) + 1;
            let whole: Vec<u8> = (0..len)
                .map(|_| BYTES[(next() % BYTES.len() as u64) as usize])
                .collect();
            let want = String::from_utf8_lossy(&whole);
            for a in 0..=len {
                assert_eq!(pieces(&whole, &[a]), want, "{whole:x?} cut at {a}");
                for b in a..=len {
                    assert_eq!(pieces(&whole, &[a, b]), want, "{whole:x?} cut {a},{b}");
                }
            }
        }
    }

    #[test]
    fn one_byte_at_a_time() {
        let whole = "é€😀x".as_bytes();
        let cuts: Vec<usize> = (1..whole.len()).collect();
        assert_eq!(pieces(whole, &cuts), "é€😀x");
        let broken = b"\xF0\x9F\x98 \xE2\x82";
        let cuts: Vec<usize> = (1..broken.len()).collect();
        assert_eq!(pieces(broken, &cuts), "\u{FFFD} \u{FFFD}");
    }

    #[test]
    fn tail_start() {
        assert_eq!(unfinished_tail(b""), 0);
        assert_eq!(unfinished_tail(b"ab"), 2);
        assert_eq!(unfinished_tail("é".as_bytes()), 2);
        assert_eq!(unfinished_tail(b"a\xC3"), 1);
        assert_eq!(unfinished_tail(b"a\xE2\x82"), 1);
        assert_eq!(unfinished_tail(b"\xF0\x9F\x98"), 0);
        assert_eq!(unfinished_tail(b"\x80\x80\x80"), 3);
        assert_eq!(unfinished_tail(b"\xFF"), 0);
    }
}
