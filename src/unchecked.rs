//! The crate's only `unsafe` code, kept in one module the httparse way: each
//! block has a `// SAFETY:` argument, and every item here has a safe API whose
//! soundness depends on this module alone (the fields that carry an invariant
//! are private to it, and only its constructors write them). The rest of the
//! crate is `#![deny(unsafe_code)]`, and CI runs this module's tests under
//! Miri.
//!
//! Why it exists: with the crate `#![forbid(unsafe_code)]`, five profiling
//! passes left the parser's usual event (W1 in `benches/`) at about 1.6x
//! sse-stream against the 2x target, and perf put the rest in three places
//! that only `unsafe` reaches (`benches/FINDINGS.md`, "Sixth pass"):
//!
//! - [`find_break`]: the line search. memchr's vector search pays a call and
//!   its setup per line, which for lines of tens of bytes is most of the
//!   search; an SSE2 loop over 16-byte blocks runs inlined in the line loop.
//!   SSE2 is part of the x86-64 baseline, but loading a block from a slice
//!   takes a raw pointer.
//! - Bytes that must become a `String`: [`concat_checked`] (the usual
//!   event's one allocation), [`push_decoded`] (IDs and types) and
//!   [`string_from_utf8_lossy`] (long gathered data). `String::from_utf8` is
//!   the only safe way, and it checks the bytes it is given, after the copy
//!   and slowly on short ASCII text (byte by byte at the ends). Here they are
//!   checked where they lie (an ASCII fold that vectorises, or `simdutf8`),
//!   then `from_utf8_unchecked`.
//! - Checks of short values (an event's data, its ID and type): ASCII, a
//!   NUL, equality with the last ID. Folds over the bytes vectorise, but end
//!   in loops of 4- and 1-byte steps that were half of the check; here
//!   16-byte blocks, the last one overlapping ([`or_blocks`]).
//! - [`put_short_lines`]: the encoder's copy of multi-line data, each line
//!   break written as `\ndata: `. Two `extend_from_slice` calls per line (a
//!   capacity check and a `memcpy` call each), behind a search that
//!   restarts after every break, ran W2's 64-byte lines at 18 % of memcpy;
//!   32-byte blocks at a fixed stride, stored into the spare capacity and
//!   overwritten after a break, need raw stores (AVX2 where the CPU has
//!   it). W2 alternated with memcpy: 10.9 → 29–31 GB/s, 18 → 52–54 % of
//!   memcpy.
//! - [`push_plain_blocks`]: the parser's copy of a long `data:` line into
//!   its spill buffer. Searched for its break (memchr), then checked
//!   (simdutf8), then copied, a 64 KiB line was read three times; ASCII
//!   blocks without a break are checked and stored in one pass, straight
//!   into the `String`'s spare capacity. W3 whole 37 → 42 GB/s, 4 KiB
//!   chunks 31 → 42.
//! - [`EventText`]: an event's three texts are read back as `&str` on every
//!   access. Without `unsafe`, every read of an inline event runs
//!   `from_utf8` again, and every read of a heap event checks its char
//!   boundaries again; both were checked once, when the event was built.
//!   And an event is one word (a pointer to a header at the end of its
//!   text's allocation, or a few bytes in place): any event over 8 bytes is
//!   moved out of the returned frame with 16-byte loads, which wait on the
//!   parser's 8-byte stores (W1 −12 %, W4 −30 %; "Seventh pass").

#![allow(unsafe_code)]

use std::mem::ManuallyDrop;
use std::mem::{align_of, size_of};
use std::ptr::NonNull;
use std::sync::Arc;

/// Over this many bytes, [`find_break`] hands the rest of a long line to
/// memchr's wider, unrolled search.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
const SHORT_LINE: usize = 128;

/// The index of the first CR or LF in `hay`.
///
/// Most lines are short: 16 bytes at a time with SSE2 (the x86-64 baseline,
/// so no run-time detection), inlined where it is called; after
/// [`SHORT_LINE`] bytes without a break, memchr's vectorised search.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
pub(crate) fn find_break(hay: &[u8]) -> Option<usize> {
    let len = hay.len();
    if len < 16 {
        return hay.iter().position(|&b| b == b'\n' || b == b'\r');
    }
    let mut at = 0;
    while let Some(block) = hay.get(at..at + 16) {
        let mask = break_mask(block);
        if mask != 0 {
            return Some(at + mask.trailing_zeros() as usize);
        }
        at += 16;
        if at >= SHORT_LINE {
            return memchr::memchr2(b'\n', b'\r', &hay[at..]).map(|i| i + at);
        }
    }
    if at == len {
        return None;
    }
    // The last 1-15 bytes: the block that ends at the end of `hay`, minus the
    // bytes already searched (no byte loop, no read past the slice).
    let last = len - 16;
    let mask = break_mask(&hay[last..]) >> (at - last);
    (mask != 0).then(|| at + mask.trailing_zeros() as usize)
}

/// One bit per byte of a 16-byte `block`, set where it holds CR or LF.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn break_mask(block: &[u8]) -> u32 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    assert_eq!(block.len(), 16);
    // SAFETY: SSE2 is enabled (this function is compiled only when it is,
    // which on x86-64 is always: it is part of the baseline). The load is unaligned (`loadu`) and reads exactly the 16
    // bytes of `block`, whose length was just asserted (the callers pass
    // 16-byte slices, so the assertion compiles away).
    let bits = unsafe {
        let v = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
        let lf = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8));
        let cr = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\r' as i8));
        _mm_movemask_epi8(_mm_or_si128(lf, cr))
    };
    // `movemask` sets only the low 16 bits.
    bits as u32
}

/// Copies `text[at..]` to the end of `buf`, writing the first `next_len`
/// bytes of `next` in place of each line break (CRLF, a lone CR or a lone
/// LF), 32 bytes at a time, while at least 64 bytes are left and `buf` has
/// room. Returns where it stopped; the rest is the caller's, which may go on
/// from there in any way: the stop is never inside a CRLF, and `text[ret]`
/// may be a break not yet handled. `buf` never grows here. `next_len` is 2
/// to 8.
///
/// The blocks are taken at a fixed stride, so their loads do not wait for
/// the previous line's break to be found (a search that restarts after each
/// break made a chain of dependent loads per line, which bounded W2's
/// 64-byte lines at about 20 cycles each). Each block is stored whole at
/// once; at a break, the separator and then the 32 input bytes after the
/// break are stored over what followed it. With AVX2 (detected at run time)
/// a block is one vector, else two SSE2 vectors.
///
/// Where SSE2 is not the baseline, nothing is done here: the caller's safe
/// path copies every line.
#[inline]
pub(crate) fn put_short_lines(
    buf: &mut bytes::BytesMut,
    text: &[u8],
    at: usize,
    next: [u8; 8],
    next_len: usize,
) -> usize {
    assert!((2..=next.len()).contains(&next_len));
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is available (just detected).
        unsafe { blocks_avx2::put_short_lines(buf, text, at, next, next_len) }
    } else {
        blocks_sse2::put_short_lines(buf, text, at, next, next_len)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        let _ = (buf, text);
        at
    }
}

/// The body of [`put_short_lines`] over 32-byte blocks, given `load(p)`
/// (32 bytes at `p`), `store(p, block)` and `breaks(block)` (a bit per CR or
/// LF), all unaligned. A macro rather than a generic function, so that the
/// AVX2 instance is compiled with AVX2 enabled throughout (on Rust 1.85,
/// closures do not take on their function's target features).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
macro_rules! put_blocks {
    ($buf:ident, $text:ident, $at:ident, $next:ident, $next_len:ident) => {{
        /// Room for everything one block can write: each of up to 32
        /// breaks moves the output on by at most 7 bytes more than the
        /// input (`next_len - 1`), so the last break's writes (8 bytes of
        /// separator at its place, then 32 bytes) end before `out + 7 * 31
        /// + 31 + 8 + 32 = out + 288`.
        const ROOM: usize = 288;
        let n = $text.len();
        let spare = $buf.spare_capacity_mut();
        let room = spare.len();
        // `spare` is `buf`'s spare capacity, borrowed mutably; every write
        // below goes through `dst`, which comes from it, inside `room`.
        let dst = spare.as_mut_ptr().cast::<u8>();
        let src_ptr = $text.as_ptr();
        // `out` is where the byte `text[src]` goes, relative to `dst`.
        let (mut src, mut out) = ($at, 0);
        // Every load below reads 32 bytes starting at most 32 bytes after
        // `src`: in bounds while `src + 64 <= n`.
        'blocks: while src + 64 <= n && room - out >= ROOM {
            // SAFETY: `text[src..src + 32]` is in bounds (see above); the
            // store is inside `spare` (`out + 32 <= room`, as `ROOM >= 32`).
            let mut mask = unsafe {
                let block = load(src_ptr.add(src));
                store(dst.add(out), block);
                breaks(block)
            };
            if mask == 0 {
                src += 32;
                out += 32;
                continue;
            }
            let block_out = out;
            while mask != 0 {
                let k = mask.trailing_zeros() as usize;
                // SAFETY: `k < 32` and `src + 32 <= n`.
                let is_cr = unsafe { *src_ptr.add(src + k) } == b'\r';
                if is_cr && k == 31 {
                    // A CR that ends the block may start a CRLF: leave it
                    // to the caller, so that `src` steps by 32 bytes
                    // exactly (a step that depended on the bytes would
                    // make each block's loads wait for the last one's
                    // search).
                    src += k;
                    out += k;
                    break 'blocks;
                }
                let crlf = is_cr && $text[src + k + 1] == b'\n';
                let skip = 1 + usize::from(crlf);
                // The input after the break (to the block's end, and more)
                // goes after the separator; `from <= src + 32`.
                let from = src + k + skip;
                debug_assert!(out + k + $next_len + 32 <= block_out + ROOM);
                // SAFETY: 8 and then 32 bytes from `dst + out + k`, inside
                // `spare`: `out + k + next_len + 32 <= block_out + ROOM <=
                // room` (see `ROOM`; `next_len <= 8`); 32 bytes read at
                // `from <= src + 32`, in bounds (see above).
                unsafe {
                    dst.add(out + k).cast::<[u8; 8]>().write_unaligned($next);
                    store(dst.add(out + k + $next_len), load(src_ptr.add(from)));
                }
                // Now the input at `from` goes to `out + k + next_len`.
                out += $next_len - skip;
                // Clear the break's bit, and a CRLF's LF (the next one).
                mask &= mask - 1;
                if crlf {
                    mask &= mask.wrapping_sub(1);
                }
            }
            src += 32;
            out += 32;
        }
        // SAFETY: `out <= room`, and every byte of `spare[..out]` was
        // written: each byte of input up to `src` was stored at its place,
        // and each separator at the place of its break; later stores only
        // overwrote places after the last break with the bytes that belong
        // there. So the first `len + out` bytes of `buf` are initialised.
        unsafe { $buf.set_len($buf.len() + out) };
        src
    }};
}

/// Appends to `out` the longest prefix of `bytes` that is whole 32-byte
/// blocks of ASCII without CR or LF, at most `max` bytes; returns its
/// length (a multiple of 32). The caller goes on after it as before; this
/// only takes the common case, a long line of ASCII, in one pass (load,
/// check, store) where the parser searched it, then checked it, then copied
/// it: three passes, the first one out of cache (W3, 64 KiB lines).
///
/// Where SSE2 is not the baseline, nothing is taken here.
#[inline]
pub(crate) fn push_plain_blocks(out: &mut String, bytes: &[u8], max: usize) -> usize {
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        let _ = (out, bytes, max);
        0
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        let n = bytes.len().min(max) & !31;
        if n == 0 {
            return 0;
        }
        out.reserve(n);
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is available (just detected); `out` has room for
            // `n <= bytes.len()` more bytes (just reserved).
            unsafe { blocks_avx2::push_plain(out, bytes, n) }
        } else {
            // SAFETY: as above, without AVX2.
            unsafe { blocks_sse2::push_plain(out, bytes, n) }
        }
    }
}

/// The body of [`push_plain_blocks`], given `load`, `store` and `plain` (a
/// bit per byte that is CR, LF or not ASCII) over 32-byte blocks.
///
/// The caller guarantees `n <= bytes.len()`, `n % 32 == 0`, and room for
/// `n` more bytes in `out`.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
macro_rules! push_plain {
    ($out:ident, $bytes:ident, $n:ident) => {{
        debug_assert!($n <= $bytes.len() && $n % 32 == 0);
        // SAFETY: only ASCII bytes are added to the `String` below (each
        // block is checked before `len` covers it), so it stays UTF-8.
        let vec = unsafe { $out.as_mut_vec() };
        let spare = vec.spare_capacity_mut();
        assert!(spare.len() >= $n);
        let dst = spare.as_mut_ptr().cast::<u8>();
        let src = $bytes.as_ptr();
        let mut at = 0;
        while at < $n {
            // SAFETY: `at + 32 <= n`: the load is inside `bytes` (`n <=
            // bytes.len()`) and the store inside `spare` (`n <=
            // spare.len()`, asserted), which is `out`'s spare capacity,
            // borrowed mutably, and `dst` comes from it.
            let mask = unsafe {
                let block = load(src.add(at));
                store(dst.add(at), block);
                plain(block)
            };
            if mask != 0 {
                break;
            }
            at += 32;
        }
        // SAFETY: `at <= n <= spare.len()`, and the `at` bytes after `len`
        // were stored above, each block found ASCII.
        unsafe { vec.set_len(vec.len() + at) };
        at
    }};
}

/// [`put_short_lines`] with a block as two SSE2 vectors.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod blocks_sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        _mm_storeu_si128,
    };

    type Block = [__m128i; 2];

    /// # Safety
    /// `p..p + 32` is readable.
    #[inline(always)]
    unsafe fn load(p: *const u8) -> Block {
        // SAFETY: SSE2 is the x86-64 baseline; unaligned loads of `p..p +
        // 32`, readable by the caller's contract.
        unsafe {
            [
                _mm_loadu_si128(p.cast::<__m128i>()),
                _mm_loadu_si128(p.add(16).cast::<__m128i>()),
            ]
        }
    }

    /// # Safety
    /// `p..p + 32` is writable.
    #[inline(always)]
    unsafe fn store(p: *mut u8, v: Block) {
        // SAFETY: SSE2; unaligned stores to `p..p + 32`, writable by the
        // caller's contract.
        unsafe {
            _mm_storeu_si128(p.cast::<__m128i>(), v[0]);
            _mm_storeu_si128(p.add(16).cast::<__m128i>(), v[1]);
        }
    }

    /// A bit per byte that is CR or LF, or (with `non_ascii`) has its top
    /// bit set.
    #[inline(always)]
    fn marked(v: Block, non_ascii: bool) -> u32 {
        let half = |v: __m128i| {
            // SAFETY: SSE2; no memory is touched.
            unsafe {
                let lf = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8));
                let cr = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\r' as i8));
                let mut marks = _mm_or_si128(lf, cr);
                if non_ascii {
                    marks = _mm_or_si128(marks, v);
                }
                _mm_movemask_epi8(marks) as u32
            }
        };
        half(v[0]) | (half(v[1]) << 16)
    }

    #[inline(always)]
    fn breaks(v: Block) -> u32 {
        marked(v, false)
    }

    /// A bit per byte that is CR, LF or not ASCII.
    #[inline(always)]
    fn plain(v: Block) -> u32 {
        marked(v, true)
    }

    /// # Safety
    /// See [`push_plain!`].
    #[inline(always)]
    pub(super) unsafe fn push_plain(out: &mut String, bytes: &[u8], n: usize) -> usize {
        push_plain!(out, bytes, n)
    }

    #[inline(always)]
    pub(super) fn put_short_lines(
        buf: &mut bytes::BytesMut,
        text: &[u8],
        at: usize,
        next: [u8; 8],
        next_len: usize,
    ) -> usize {
        put_blocks!(buf, text, at, next, next_len)
    }
}

/// [`put_short_lines`] with a block as one AVX2 vector.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod blocks_avx2 {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_or_si256,
        _mm256_set1_epi8, _mm256_storeu_si256,
    };

    /// # Safety
    /// AVX2 is available; `p..p + 32` is readable.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn load(p: *const u8) -> __m256i {
        // SAFETY: by the caller's contract.
        unsafe { _mm256_loadu_si256(p.cast::<__m256i>()) }
    }

    /// # Safety
    /// AVX2 is available; `p..p + 32` is writable.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn store(p: *mut u8, v: __m256i) {
        // SAFETY: by the caller's contract.
        unsafe { _mm256_storeu_si256(p.cast::<__m256i>(), v) }
    }

    /// A bit per byte that is CR or LF, or (with `non_ascii`) has its top
    /// bit set.
    ///
    /// # Safety
    /// AVX2 is available.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn marked(v: __m256i, non_ascii: bool) -> u32 {
        // SAFETY: by the caller's contract; no memory is touched. (The
        // block is needed on Rust 1.85, where these intrinsics are `unsafe`
        // functions; later ones declare them safe inside AVX2 code.)
        #[allow(unused_unsafe)]
        unsafe {
            let lf = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'\n' as i8));
            let cr = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'\r' as i8));
            let mut marks = _mm256_or_si256(lf, cr);
            if non_ascii {
                marks = _mm256_or_si256(marks, v);
            }
            _mm256_movemask_epi8(marks) as u32
        }
    }

    /// # Safety
    /// AVX2 is available.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn breaks(v: __m256i) -> u32 {
        // SAFETY: by the caller's contract.
        unsafe { marked(v, false) }
    }

    /// # Safety
    /// AVX2 is available.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn plain(v: __m256i) -> u32 {
        // SAFETY: by the caller's contract.
        unsafe { marked(v, true) }
    }

    /// # Safety
    /// AVX2 is available, and see [`push_plain!`].
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn push_plain(out: &mut String, bytes: &[u8], n: usize) -> usize {
        push_plain!(out, bytes, n)
    }

    /// # Safety
    /// AVX2 is available.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn put_short_lines(
        buf: &mut bytes::BytesMut,
        text: &[u8],
        at: usize,
        next: [u8; 8],
        next_len: usize,
    ) -> usize {
        put_blocks!(buf, text, at, next, next_len)
    }
}

/// The index of the first CR or LF in `hay`: eight bytes at a time for the
/// first bytes (most lines are short), then a vectorised search. (Safe code:
/// the fallback where SSE2 is not the baseline.)
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline]
pub(crate) fn find_break(hay: &[u8]) -> Option<usize> {
    const LO: u64 = u64::from_ne_bytes([0x01; 8]);
    const HI: u64 = u64::from_ne_bytes([0x80; 8]);
    const LF: u64 = u64::from_ne_bytes([b'\n'; 8]);
    const CR: u64 = u64::from_ne_bytes([b'\r'; 8]);
    const SHORT: usize = 16;
    let mut words = hay.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let w = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
        let (a, b) = (w ^ LF, w ^ CR);
        // A zero byte in `a` or `b` sets its high bit here; only bits above
        // the first zero byte can be false positives.
        let hit = (a.wrapping_sub(LO) & !a | b.wrapping_sub(LO) & !b) & HI;
        if hit != 0 {
            return Some(at + (hit.trailing_zeros() / 8) as usize);
        }
        at += 8;
        if at == SHORT {
            return memchr::memchr2(b'\n', b'\r', &hay[at..]).map(|i| i + at);
        }
    }
    let tail = words.remainder();
    tail.iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map(|i| i + at)
}

/// `String::from_utf8_lossy(&raw).into_owned()`, in `raw`'s own allocation
/// when it is valid (the usual case), checked by `simdutf8` (long data: the
/// parser hands over gathered data of more than 16 KiB).
pub(crate) fn string_from_utf8_lossy(raw: Vec<u8>) -> String {
    if simdutf8::basic::from_utf8(&raw).is_err() {
        return String::from_utf8_lossy(&raw).into_owned();
    }
    // SAFETY: `raw` was just checked to be UTF-8.
    unsafe { String::from_utf8_unchecked(raw) }
}

/// `data ++ event_type ++ id` as one `String` in one allocation, if `data`
/// is UTF-8 (by itself: a character cut at its end is not completed by what
/// follows). Checked where it lies, before the copy: reading back bytes just
/// copied waits on the copy's stores.
#[inline]
pub(crate) fn concat_checked(data: &[u8], event_type: &str, id: &str) -> Option<String> {
    if !(is_ascii(data) || std::str::from_utf8(data).is_ok()) {
        return None;
    }
    let mut raw = Vec::with_capacity(data.len() + event_type.len() + id.len() + EVENT_ROOM);
    raw.extend_from_slice(data);
    raw.extend_from_slice(event_type.as_bytes());
    raw.extend_from_slice(id.as_bytes());
    // SAFETY: `raw` is three UTF-8 texts one after the other (`data` was
    // just checked, the other two are `str`s), which is UTF-8.
    Some(unsafe { String::from_utf8_unchecked(raw) })
}

/// `bytes` as a `str` if it is ASCII (checked with [`is_ascii`], inlined).
#[inline(always)]
pub(crate) fn ascii_str(bytes: &[u8]) -> Option<&str> {
    if !is_ascii(bytes) {
        return None;
    }
    // SAFETY: ASCII is UTF-8.
    Some(unsafe { std::str::from_utf8_unchecked(bytes) })
}

/// Appends `bytes` decoded as UTF-8, with U+FFFD for each maximal invalid
/// subpart (as `String::from_utf8_lossy` and the WHATWG decoder do). ASCII
/// (the usual ID or type) is appended after a check that vectorises, with
/// no call.
#[inline]
pub(crate) fn push_decoded(out: &mut String, bytes: &[u8]) {
    match ascii_str(bytes) {
        Some(ascii) => out.push_str(ascii),
        None => push_lossy(out, bytes),
    }
}

/// [`push_decoded`] for text that is not ASCII.
#[inline(never)]
fn push_lossy(out: &mut String, bytes: &[u8]) {
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
}

/// `bytes.is_ascii()` without an early exit (`<[u8]>::is_ascii` exits
/// early, word by word) and without a byte loop at the end: from 16 bytes,
/// SSE2 blocks ([`or_blocks`]); below that (and off x86-64), whole 8- or
/// 4-byte words and the word that ends at the end of `bytes`, overlapping,
/// all ORed together; a fold under 4 bytes. (A fold over all the bytes
/// vectorises, but its epilogue of 4-byte and 1-byte steps was half of the
/// check of a 100-byte event.)
#[inline(always)]
fn is_ascii(bytes: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let n = bytes.len();
    if n < 8 {
        if n < 4 {
            return bytes.iter().fold(0, |acc, &b| acc | b) < 0x80;
        }
        let w = u32_at(bytes, 0) | u32_at(bytes, n - 4);
        return w & 0x8080_8080 == 0;
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    if n >= 16 {
        // SAFETY: SSE2 is enabled (see `break_mask`); no memory is read.
        return unsafe { std::arch::x86_64::_mm_movemask_epi8(or_blocks(bytes, bytes, |v, _| v)) }
            == 0;
    }
    let mut acc = u64_at(bytes, n - 8);
    for c in bytes.chunks_exact(8) {
        acc |= u64_at(c, 0);
    }
    acc & HIGH == 0
}

/// `f` of each pair of 16-byte blocks of `a` and `b` (the whole blocks,
/// then the pair that ends at their end, overlapping), ORed together. The
/// slices have the same length, at least 16 bytes. (Single-slice callers
/// pass it twice; the compiler loads each block once.)
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn or_blocks(
    a: &[u8],
    b: &[u8],
    f: impl Fn(std::arch::x86_64::__m128i, std::arch::x86_64::__m128i) -> std::arch::x86_64::__m128i,
) -> std::arch::x86_64::__m128i {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_or_si128};
    let n = a.len();
    assert!(n >= 16 && b.len() == n);
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    // SAFETY: SSE2 is enabled (see `break_mask`). Every load is unaligned
    // and reads the 16 bytes at `at` of a slice of `n` bytes with `at + 16
    // <= n`: the last pair starts at `n - 16 >= 0` (asserted), and the
    // loop's at `at` only while `at + 16 <= n`.
    unsafe {
        let load = |p: *const u8, at: usize| _mm_loadu_si128(p.add(at).cast::<__m128i>());
        let mut acc = f(load(pa, n - 16), load(pb, n - 16));
        let mut at = 0;
        while at + 16 <= n {
            acc = _mm_or_si128(acc, f(load(pa, at), load(pb, at)));
            at += 16;
        }
        acc
    }
}

/// Whether `bytes` has a NUL (no early exit: ID-sized values).
#[inline(always)]
pub(crate) fn has_nul(bytes: &[u8]) -> bool {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    if bytes.len() >= 16 {
        use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_movemask_epi8, _mm_setzero_si128};
        // SAFETY: SSE2 is enabled (see `break_mask`); no memory is read.
        return unsafe {
            let zero = _mm_setzero_si128();
            _mm_movemask_epi8(or_blocks(bytes, bytes, |v, _| _mm_cmpeq_epi8(v, zero))) != 0
        };
    }
    bytes.iter().fold(false, |nul, &b| nul | (b == 0))
}

/// Slice equality for short values (type, ID) without a `memcmp` call.
#[inline]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a.len() > 64 {
        return a == b;
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    if a.len() >= 16 {
        use std::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_movemask_epi8, _mm_setzero_si128, _mm_xor_si128,
        };
        // SAFETY: SSE2 is enabled (see `break_mask`); no memory is read.
        return unsafe {
            let diff = or_blocks(a, b, |x, y| _mm_xor_si128(x, y));
            _mm_movemask_epi8(_mm_cmpeq_epi8(diff, _mm_setzero_si128())) == 0xffff
        };
    }
    a.iter().zip(b).fold(0, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// The 8 bytes at `at` as a word (callers pass `at + 8 <= bytes.len()`).
#[inline(always)]
fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0; 8];
    w.copy_from_slice(&bytes[at..at + 8]);
    u64::from_ne_bytes(w)
}

/// The 4 bytes at `at` as a word (callers pass `at + 4 <= bytes.len()`).
#[inline(always)]
fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut w = [0; 4];
    w.copy_from_slice(&bytes[at..at + 4]);
    u32::from_ne_bytes(w)
}

/// Whether a small event's data is UTF-8 (`is_ascii` is inlined: no call
/// for the common case).
#[inline(always)]
pub(crate) fn is_utf8_inline(data: &[u8]) -> bool {
    data.is_ascii() || std::str::from_utf8(data).is_ok()
}

/// A parsed event's three texts: data, type (empty for the default
/// `"message"`) and last event ID, stored so that reading one back checks
/// nothing. The field is private: only the constructors here, which check
/// what they store, build one.
///
/// It is one pointer-sized word, so that `Frame` and the `Result` that
/// `Parser::next_frame` returns are 16 bytes, with the event in one word
/// that the caller moves with one 8-byte load. A 32-byte frame was written
/// by the parser with 8-byte stores and moved by the caller with 16-byte
/// loads (any frame over 8 bytes is), and each such load waited for the
/// stores to reach the cache (store forwarding fails when a load spans two
/// stores): 12 % of W1's time and 20 % of W4's.
///
/// The word is one of:
/// - **inline** (its lowest bit set): up to [`INLINE_CAP`] bytes of text in
///   the word itself, with their lengths. It has no provenance and is never
///   dereferenced; only its bytes are read.
/// - **heap**: a pointer to a [`Header`] at the end of the text's own
///   allocation (a `String`'s buffer, in its spare capacity), so that the
///   event is one allocation, and a buffer the parser hands over (long
///   data) needs no second one.
pub(crate) struct EventText(NonNull<u8>);

/// Spare capacity a `String` needs to become an [`EventText`] without
/// growing: the [`Header`] and its alignment.
pub(crate) const EVENT_ROOM: usize = size_of::<Header>() + align_of::<Header>() - 1;

/// Up to this many bytes of an event's texts are stored in the event itself
/// (see [`EventText`]): the word less a flag byte and a length byte.
pub(crate) const INLINE_CAP: usize = size_of::<usize>() - 2;

/// Where the inline form's bytes are in the word: the flag byte is the
/// least significant (bit 0 set; a header's address never has it), then a
/// byte of offsets, then the text.
#[cfg(target_endian = "little")]
const FLAG_AT: usize = 0;
#[cfg(target_endian = "little")]
const META_AT: usize = 1;
#[cfg(target_endian = "little")]
const TEXT_AT: usize = 2;
#[cfg(target_endian = "big")]
const FLAG_AT: usize = size_of::<usize>() - 1;
#[cfg(target_endian = "big")]
const META_AT: usize = size_of::<usize>() - 2;
#[cfg(target_endian = "big")]
const TEXT_AT: usize = 0;

/// The heap form's description of its allocation, stored in the
/// allocation's spare capacity after the text.
///
/// `start[..len]` is UTF-8 = data ++ event type ++ (the last event ID,
/// unless `shared_id` holds it), with `data_end <= type_end <= len` char
/// boundaries (checked when stored). `start` and `cap` are the `Vec<u8>`
/// that owns the allocation. Nothing changes after it is written; the
/// event frees it in `Drop`.
struct Header {
    start: NonNull<u8>,
    cap: usize,
    len: usize,
    data_end: usize,
    type_end: usize,
    /// A long last event ID, shared between events until it changes.
    shared_id: Option<Arc<str>>,
}

// SAFETY: an `EventText` owns its allocation as a `String` does (no other
// pointer to it exists; `Clone` copies it) and never changes it, so sending
// or sharing one is as safe as sending or sharing a `String` and an
// `Arc<str>`. The inline form is plain bytes.
unsafe impl Send for EventText {}
// SAFETY: as for `Send`: shared access only reads.
unsafe impl Sync for EventText {}

impl EventText {
    /// The three texts in place, if they fit in [`INLINE_CAP`] bytes.
    #[inline]
    pub(crate) fn inline(data: &str, event_type: &str, last_event_id: &str) -> Option<Self> {
        let len = data.len() + event_type.len() + last_event_id.len();
        if len > INLINE_CAP {
            return None;
        }
        let mut text = [0; INLINE_CAP];
        let (d, rest) = text.split_at_mut(data.len());
        d.copy_from_slice(data.as_bytes());
        let (t, rest) = rest.split_at_mut(event_type.len());
        t.copy_from_slice(event_type.as_bytes());
        rest[..last_event_id.len()].copy_from_slice(last_event_id.as_bytes());
        Some(Self::inline_word(
            text,
            data.len(),
            data.len() + event_type.len(),
            len,
        ))
    }

    /// The inline word: `text[..len]` UTF-8 and `data_end <= type_end <=
    /// len <= INLINE_CAP` char boundaries of it (the callers check or copy
    /// from `str`s). Each offset takes four bits.
    #[inline(always)]
    fn inline_word(text: [u8; INLINE_CAP], data_end: usize, type_end: usize, len: usize) -> Self {
        debug_assert!(data_end <= type_end && type_end <= len && len <= INLINE_CAP);
        let mut word = [0; size_of::<usize>()];
        word[TEXT_AT..TEXT_AT + INLINE_CAP].copy_from_slice(&text);
        // INLINE_CAP < 16: each offset fits in four bits.
        word[FLAG_AT] = 1 | ((len as u8) << 4);
        word[META_AT] = (data_end as u8) | ((type_end as u8) << 4);
        let addr = usize::from_ne_bytes(word);
        // Bit 0 is set: the pointer is never null (and never dereferenced).
        let ptr = std::ptr::without_provenance_mut::<u8>(addr);
        EventText(NonNull::new(ptr).unwrap_or(NonNull::dangling()))
    }

    /// Data only (default type, empty ID): `window[..len]`, where `window`
    /// is [`INLINE_CAP`] bytes. The whole window is copied (one move); the
    /// rest of it is never read.
    ///
    /// Infallible, so that the parser builds the event in place. The caller
    /// checks the data with [`is_utf8_inline`] first; it is checked again
    /// here, so that soundness does not depend on the caller: data that is
    /// not UTF-8 gives an empty text, never an unchecked one.
    #[inline(always)]
    pub(crate) fn inline_data(window: &[u8], len: usize) -> Self {
        let valid = len <= INLINE_CAP && window.get(..len).is_some_and(is_utf8_inline);
        debug_assert!(valid, "callers check the data first");
        // Zeros (UTF-8 too) if `window` is not INLINE_CAP bytes long.
        let text: [u8; INLINE_CAP] = window.try_into().unwrap_or([0; INLINE_CAP]);
        let len = if valid { len } else { 0 };
        Self::inline_word(text, len, len, len)
    }

    /// `text` = data ++ type ++ (the ID, unless `shared_id` holds it), in
    /// its own allocation: the header goes into its spare capacity (grown
    /// by [`EVENT_ROOM`] if it has less; the parser reserves it). Ends that
    /// are not char boundaries in order are a bug in the caller (debug
    /// builds assert); such text is stored whole as the data.
    #[inline]
    pub(crate) fn from_parts(
        text: String,
        data_end: usize,
        type_end: usize,
        shared_id: Option<Arc<str>>,
    ) -> Self {
        let valid = data_end <= type_end
            && type_end <= text.len()
            && text.is_char_boundary(data_end)
            && text.is_char_boundary(type_end);
        debug_assert!(valid, "ends of an event's texts must be char boundaries");
        let (data_end, type_end) = if valid {
            (data_end, type_end)
        } else {
            (text.len(), text.len())
        };
        let mut raw = ManuallyDrop::new(text.into_bytes());
        if raw.capacity() - raw.len() < EVENT_ROOM {
            raw.reserve_exact(EVENT_ROOM);
        }
        let len = raw.len();
        let start = raw.as_mut_ptr();
        // Padding to the header's alignment (a power of two).
        let at = len + (start.addr().wrapping_add(len).wrapping_neg() & (align_of::<Header>() - 1));
        debug_assert!(at + size_of::<Header>() <= raw.capacity());
        // SAFETY: `start + at` is aligned for a `Header` and `at +
        // size_of::<Header>() <= len + EVENT_ROOM <= capacity`: the header
        // is written into spare capacity of the allocation that `start`
        // points to, which `raw` (never dropped) no longer manages. The
        // allocation now belongs to this text (see `Drop`). Neither pointer
        // is null: the capacity is not zero, so `start` is an allocation.
        unsafe {
            let header = start.add(at).cast::<Header>();
            header.write(Header {
                start: NonNull::new_unchecked(start),
                cap: raw.capacity(),
                len,
                data_end,
                type_end,
                shared_id,
            });
            EventText(NonNull::new_unchecked(header.cast::<u8>()))
        }
    }

    /// The header, for the heap form.
    #[inline(always)]
    fn header(&self) -> Option<&Header> {
        if self.0.as_ptr().addr() & 1 == 1 {
            return None;
        }
        // SAFETY: without bit 0, the word is the pointer to the header that
        // `from_parts` wrote into the allocation this text owns; it lives
        // (unchanged) until `Drop`, and the borrow ends before.
        Some(unsafe { self.0.cast::<Header>().as_ref() })
    }

    /// `[from, to)` of the texts.
    #[inline(always)]
    fn part(&self, which: Part) -> &str {
        match self.header() {
            Some(h) => {
                let (from, to) = match which {
                    Part::Data => (0, h.data_end),
                    Part::Type => (h.data_end, h.type_end),
                    Part::Id => (h.type_end, h.len),
                };
                debug_assert!(from <= to && to <= h.len);
                // SAFETY: `start[..len]` is the UTF-8 text of the header
                // (see `Header`), alive while `self` is, and `from <= to`
                // are two of its char boundaries `0 <= data_end <= type_end
                // <= len`, checked by `from_parts`.
                unsafe {
                    let text = std::slice::from_raw_parts(h.start.as_ptr(), h.len);
                    std::str::from_utf8_unchecked(text.get_unchecked(from..to))
                }
            }
            None => {
                let bytes = self.inline_bytes();
                let len = usize::from(bytes[FLAG_AT] >> 4);
                let data_end = usize::from(bytes[META_AT] & 0xf);
                let type_end = usize::from(bytes[META_AT] >> 4);
                let (from, to) = match which {
                    Part::Data => (0, data_end),
                    Part::Type => (data_end, type_end),
                    Part::Id => (type_end, len),
                };
                debug_assert!(from <= to && to <= INLINE_CAP);
                // SAFETY: `inline_word` stored `len <= INLINE_CAP` UTF-8
                // bytes at `TEXT_AT` and the char boundaries `data_end <=
                // type_end <= len` (each four bits, under 16, so read back
                // as stored), and nothing changes the word.
                unsafe {
                    let text = bytes.get_unchecked(TEXT_AT + from..TEXT_AT + to);
                    std::str::from_utf8_unchecked(text)
                }
            }
        }
    }

    /// The inline form's word, as bytes in place (the texts borrow them).
    #[inline(always)]
    fn inline_bytes(&self) -> &[u8; size_of::<usize>()] {
        // SAFETY: the word is `size_of::<usize>()` initialised bytes, here
        // a plain integer without provenance (`inline_word`); reading them
        // as bytes for as long as `self` is borrowed is a plain read.
        unsafe { &*std::ptr::from_ref(&self.0).cast::<[u8; size_of::<usize>()]>() }
    }

    /// The data.
    #[inline]
    pub(crate) fn data(&self) -> &str {
        self.part(Part::Data)
    }

    /// The event type, empty for the default.
    #[inline]
    pub(crate) fn event_type(&self) -> &str {
        self.part(Part::Type)
    }

    /// The last event ID.
    #[inline]
    pub(crate) fn last_event_id(&self) -> &str {
        match self.header() {
            Some(Header {
                shared_id: Some(id),
                ..
            }) => id,
            _ => self.part(Part::Id),
        }
    }

    /// The data as an owned `String`, in the event's allocation if it has
    /// one (no copy).
    #[inline]
    pub(crate) fn into_data(self) -> String {
        if self.header().is_none() {
            return self.data().to_owned();
        }
        let this = ManuallyDrop::new(self);
        // SAFETY: a heap-form text, never used again (not even dropped).
        let (mut raw, data_end) = unsafe { take_allocation(&this) };
        raw.truncate(data_end);
        // SAFETY: `raw[..data_end]` is the data: UTF-8, ending at a char
        // boundary (see `Header`).
        unsafe { String::from_utf8_unchecked(raw) }
    }

    /// Which form holds the texts (for tests): `"inline"` or `"heap"`.
    #[cfg(test)]
    pub(crate) fn form(&self) -> &'static str {
        match self.header() {
            Some(_) => "heap",
            None => "inline",
        }
    }
}

/// One of an event's three texts.
#[derive(Clone, Copy)]
enum Part {
    Data,
    Type,
    Id,
}

/// The heap form's allocation, as the `Vec` that owns it (its length the
/// text's), and the data's end. The header is read out of it (and its
/// shared ID dropped).
///
/// # Safety
///
/// `text` must be in the heap form, and neither it nor a copy of its word
/// may be used afterwards (not even dropped): the allocation now belongs to
/// the returned `Vec`.
#[inline]
unsafe fn take_allocation(text: &EventText) -> (Vec<u8>, usize) {
    // SAFETY: the caller passes a heap-form text, whose word points to the
    // header `from_parts` wrote; it is read out once (the caller does not
    // use the text again).
    let header = unsafe { text.0.cast::<Header>().read() };
    // SAFETY: `start` and `cap` are the `Vec<u8>` that `from_parts` took
    // apart, and `len <= cap` bytes of it are initialised.
    let raw = unsafe { Vec::from_raw_parts(header.start.as_ptr(), header.len, header.cap) };
    (raw, header.data_end)
}

impl Clone for EventText {
    fn clone(&self) -> Self {
        match self.header() {
            None => EventText(self.0),
            Some(h) => {
                let mut text = String::with_capacity(h.len + EVENT_ROOM);
                text.push_str(self.data());
                text.push_str(self.event_type());
                if h.shared_id.is_none() {
                    text.push_str(self.last_event_id());
                }
                EventText::from_parts(text, h.data_end, h.type_end, h.shared_id.clone())
            }
        }
    }
}

impl Drop for EventText {
    #[inline]
    fn drop(&mut self) {
        if self.header().is_some() {
            // SAFETY: a heap-form text, dropped now and never used again.
            drop(unsafe { take_allocation(self) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under Miri, fewer and shorter cases (it runs each one slowly).
    const SIZES: usize = if cfg!(miri) { 40 } else { 300 };

    fn plain_find(hay: &[u8]) -> Option<usize> {
        hay.iter().position(|&b| b == b'\n' || b == b'\r')
    }

    #[test]
    fn find_break_matches_a_plain_search() {
        // Every length up to past the memchr hand-over, every break
        // position in it (and none), both break bytes, at every offset into
        // a buffer (so the loads are unaligned and end exactly at the end).
        let step = if cfg!(miri) { 7 } else { 1 };
        let mut buf = vec![b'a'; SIZES + 20];
        for len in (0..SIZES).step_by(step) {
            for offset in 0..3 {
                let hay = &mut buf[offset..offset + len];
                assert_eq!(find_break(hay), None, "len {len}");
                for at in (0..len).step_by(step) {
                    for b in [b'\n', b'\r'] {
                        hay[at] = b;
                        // A second break after the first must not win.
                        if at + 3 < len {
                            hay[at + 3] = b'\n';
                        }
                        assert_eq!(find_break(hay), plain_find(hay), "len {len} at {at}");
                        assert_eq!(find_break(hay), Some(at));
                        hay[at] = b'a';
                        if at + 3 < len {
                            hay[at + 3] = b'a';
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn find_break_matches_a_plain_search_on_random_bytes() {
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        for len in 0..200 {
            for _ in 0..(if cfg!(miri) { 1 } else { 20 }) {
                let hay: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        // mostly bytes near CR/LF and 0x80, sometimes a break
                        [b'\n', b'\r', 0x0b, 0x0c, 0x8a, 0x8d, 0x09, b'a', 0xff, 0x00]
                            [(seed % 10) as usize]
                    })
                    .collect();
                for from in 0..len.min(10) {
                    assert_eq!(
                        find_break(&hay[from..]),
                        plain_find(&hay[from..]),
                        "{hay:?}"
                    );
                }
            }
        }
    }

    /// Plain `put_short_lines` over everything: each break (CRLF, CR, LF)
    /// of `text` replaced by `next`.
    fn plain_lines(text: &[u8], next: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < text.len() {
            match text[i] {
                b'\r' if text.get(i + 1) == Some(&b'\n') => {
                    out.extend_from_slice(next);
                    i += 2;
                }
                b'\r' | b'\n' => {
                    out.extend_from_slice(next);
                    i += 1;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        out
    }

    /// Both block copies (SSE2, and AVX2 where the CPU has it), from every
    /// start, into buffers of every spare capacity around their limits,
    /// then the rest plainly: the bytes are those of a plain copy, the stop
    /// is never inside a CRLF, and nothing is written past the capacity
    /// (Miri checks the last).
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[test]
    fn block_line_copies_match_a_plain_copy() {
        type Copy = fn(&mut bytes::BytesMut, &[u8], usize, [u8; 8], usize) -> usize;
        let mut copies: Vec<(&str, Copy)> = vec![("sse2", blocks_sse2::put_short_lines)];
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 was just detected.
            copies.push(("avx2", |b, t, a, n, l| unsafe {
                blocks_avx2::put_short_lines(b, t, a, n, l)
            }));
        }
        let next = *b"\ndata:  ";
        let mut seed = 0x2545_F491_4F6C_DD1D_u64;
        let rounds = if cfg!(miri) { 6 } else { 300 };
        for round in 0..rounds {
            let len = 60 + (round * 7) % 260;
            let text: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    // Sparse breaks in some rounds, dense in others.
                    let pick = seed % if round % 3 == 0 { 40 } else { 8 };
                    match pick {
                        0 => b'\n',
                        1 => b'\r',
                        2 => 0x8d,
                        _ => b'a' + (pick % 26) as u8,
                    }
                })
                .collect();
            for next_len in [2, 7, 8] {
                // Around the block's room (`ROOM`, 288) and well past it.
                let spares = [0, 31, 32, 287, 288, 289, 300, 400, 2000];
                let starts = if cfg!(miri) { 0..2 } else { 0..8 };
                for (name, copy) in &copies {
                    for from in starts.clone() {
                        for &spare in &spares {
                            let mut buf = bytes::BytesMut::with_capacity(3 + spare);
                            buf.extend_from_slice(b"pre");
                            let cap = buf.capacity();
                            let stop = copy(&mut buf, &text, from, next, next_len);
                            assert!(buf.capacity() == cap && stop >= from && stop <= len);
                            assert!(
                                !(stop > from
                                    && text[stop - 1] == b'\r'
                                    && text.get(stop) == Some(&b'\n')),
                                "{name}: stopped inside a CRLF"
                            );
                            buf.extend_from_slice(&plain_lines(&text[stop..], &next[..next_len]));
                            let mut expect = b"pre".to_vec();
                            expect
                                .extend_from_slice(&plain_lines(&text[from..], &next[..next_len]));
                            assert_eq!(
                                &buf[..],
                                &expect[..],
                                "{name}: from {from}, spare {spare}, next_len {next_len}, {text:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// Both instances of the plain-block copy take exactly the whole
    /// 32-byte blocks of ASCII without CR or LF that start the input, up to
    /// `max`, with the odd byte at every position.
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[test]
    fn plain_blocks_stop_at_the_first_odd_block() {
        type Push = unsafe fn(&mut String, &[u8], usize) -> usize;
        let mut pushes: Vec<(&str, Push)> = vec![("sse2", blocks_sse2::push_plain)];
        if std::is_x86_feature_detected!("avx2") {
            pushes.push(("avx2", blocks_avx2::push_plain));
        }
        let len = 130;
        let step = if cfg!(miri) { 7 } else { 1 };
        for odd in [b'\n', b'\r', 0x80, 0xC3, 0xFF] {
            for at in (0..=len).step_by(step) {
                let mut bytes = vec![b'a'; len];
                if let Some(b) = bytes.get_mut(at) {
                    *b = odd;
                }
                for max in [0, 31, 32, 64, 100, 128, 200] {
                    let want = at.min(len).min(max) / 32 * 32;
                    // The public entry point (which picks an instance).
                    let mut out = String::from("x");
                    assert_eq!(push_plain_blocks(&mut out, &bytes, max), want);
                    assert_eq!(out.as_bytes(), [b"x", &bytes[..want]].concat());
                    for (name, push) in &pushes {
                        let n = bytes.len().min(max) & !31;
                        let mut out = String::from("y");
                        out.reserve(n);
                        // SAFETY: room for `n` reserved; AVX2 detected for
                        // that instance.
                        let got = unsafe { push(&mut out, &bytes, n) };
                        assert_eq!(got, want, "{name}: odd {odd:#x} at {at}, max {max}");
                        assert_eq!(out.as_bytes(), [b"y", &bytes[..want]].concat());
                    }
                }
            }
        }
    }

    /// The block checks at every length (small words, whole blocks, the
    /// overlapping last block) and with the odd byte at every position.
    #[test]
    fn block_checks_match_plain_versions() {
        let step = if cfg!(miri) { 5 } else { 1 };
        for len in (0..90).step_by(step) {
            let mut a: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let b = a.clone();
            assert!(is_ascii(&a) && !has_nul(&a) && same_bytes(&a, &b), "{len}");
            for at in (0..len).step_by(step) {
                for odd in [0, 0x80, 0xff, b'A'] {
                    let keep = a[at];
                    a[at] = odd;
                    assert_eq!(is_ascii(&a), a.is_ascii(), "{len} {at} {odd}");
                    assert_eq!(has_nul(&a), a.contains(&0), "{len} {at} {odd}");
                    assert_eq!(same_bytes(&a, &b), a == b, "{len} {at} {odd}");
                    a[at] = keep;
                }
            }
            assert!(!same_bytes(&a, &b[..len.saturating_sub(1)]) || len == 0);
        }
    }

    #[test]
    fn string_from_utf8_lossy_agrees_with_std() {
        let samples: [&[u8]; 8] = [
            b"",
            b"plain ascii",
            "caf\u{e9} \u{1F600}".as_bytes(),
            b"\xff",
            b"abc\xe2\x82",
            b"\xc3\x28",
            &[b'x'; 1500],
            &[0x7f; 64],
        ];
        for s in samples {
            let mut long = s.repeat(3);
            long.extend_from_slice("\u{20AC}".repeat(400).as_bytes());
            for raw in [s.to_vec(), long] {
                let std = String::from_utf8_lossy(&raw).into_owned();
                assert_eq!(string_from_utf8_lossy(raw.clone()), std, "{raw:?}");
            }
        }
    }

    /// The parser end to end on a stream with every form of event (inline,
    /// heap, large; valid and invalid UTF-8; lines ending at and past the
    /// end of a chunk), in every chunk size up to 40: the unchecked code as
    /// the parser drives it, small enough for Miri.
    #[test]
    fn parser_builds_checked_events() {
        let long_id = "i".repeat(130);
        let mut input = Vec::new();
        for piece in [
            "data: x\n\ndata: \u{e9}\u{e9}\n\nevent: t\nid: 1\ndata: abc\n\n".as_bytes(),
            format!("data: {}\n\nid: {long_id}\ndata: d\n\n", "y".repeat(24)).as_bytes(),
            b"id\ndata: \xff\n\n",
            b"data: 0123456789012345678901234567890123456789\r\n\r\n: c\n",
        ] {
            input.extend_from_slice(piece);
        }
        let expect = [
            ("message", "x".to_owned(), "".to_owned()),
            ("message", "\u{e9}\u{e9}".to_owned(), "".to_owned()),
            ("t", "abc".to_owned(), "1".to_owned()),
            ("message", "y".repeat(24), "1".to_owned()),
            ("message", "d".to_owned(), long_id.clone()),
            ("message", "\u{fffd}".to_owned(), "".to_owned()),
            (
                "message",
                "0123456789012345678901234567890123456789".to_owned(),
                "".to_owned(),
            ),
        ];
        let max = if cfg!(miri) { 12 } else { 40 };
        for size in 1..=max {
            let mut parser = crate::Parser::new();
            let mut got = Vec::new();
            for chunk in input.chunks(size) {
                parser.feed(chunk);
                while let Ok(Some(frame)) = parser.next_frame() {
                    if let crate::Frame::Event(e) = frame {
                        got.push((
                            e.event_type().to_owned(),
                            e.data().to_owned(),
                            e.last_event_id().to_owned(),
                        ));
                    }
                }
            }
            let want: Vec<_> = expect
                .iter()
                .map(|(t, d, i)| ((*t).to_owned(), d.clone(), i.clone()))
                .collect();
            assert_eq!(got, want, "chunks of {size}");
        }
    }

    #[test]
    fn concat_checked_checks_the_data() {
        let text = concat_checked(b"data", "type", "id");
        assert_eq!(text.as_deref(), Some("datatypeid"));
        let e = "\u{e9}";
        let text = concat_checked(e.as_bytes(), "", e);
        assert_eq!(text.as_deref(), Some("\u{e9}\u{e9}"));
        assert_eq!(concat_checked(&e.as_bytes()[..1], "", ""), None);
        assert_eq!(concat_checked(b"\xff", "t", ""), None);
        assert_eq!(concat_checked(b"", "", "").as_deref(), Some(""));
    }

    #[test]
    fn push_decoded_is_from_utf8_lossy() {
        let samples: [&[u8]; 7] = [
            b"",
            b"0f8fad5b-d9cb-469f-a165-70867728950e",
            "caf\u{e9} \u{1F600}".as_bytes(),
            b"\xff",
            b"abc\xe2\x82",
            b"\xc3\x28 \xf0\x9f\x98",
            b"\xed\xa0\x80",
        ];
        for s in samples {
            let mut out = String::from("x");
            push_decoded(&mut out, s);
            assert_eq!(out, format!("x{}", String::from_utf8_lossy(s)), "{s:?}");
        }
    }

    fn parts(t: &EventText) -> (&str, &str, &str) {
        (t.data(), t.event_type(), t.last_event_id())
    }

    #[test]
    fn inline_texts() {
        let t = EventText::inline("\u{e9}", "t", "ab").expect("fits");
        assert_eq!(t.form(), "inline");
        assert_eq!(parts(&t), ("\u{e9}", "t", "ab"));
        assert_eq!(t.clone().into_data(), "\u{e9}");
        assert_eq!(parts(&t.clone()), ("\u{e9}", "t", "ab"));
        assert!(EventText::inline(&"x".repeat(INLINE_CAP), "", "").is_some());
        assert!(EventText::inline(&"x".repeat(INLINE_CAP), "t", "").is_none());
        let t = EventText::inline("", "", "").expect("fits");
        assert_eq!(parts(&t), ("", "", ""));
        // Every split of a full inline text reads back.
        let full = "abcdefgh";
        let full = &full[..INLINE_CAP];
        for d in 0..=INLINE_CAP {
            for t in d..=INLINE_CAP {
                let e = EventText::inline(&full[..d], &full[d..t], &full[t..]).expect("fits");
                assert_eq!(parts(&e), (&full[..d], &full[d..t], &full[t..]));
            }
        }

        let mut window = [b'z'; INLINE_CAP];
        window[..3].copy_from_slice(b"abc");
        let t = EventText::inline_data(&window, 3);
        assert_eq!(parts(&t), ("abc", "", ""));
        // Only the data must be UTF-8; the rest of the window is never read.
        window[INLINE_CAP - 1] = 0xff;
        assert!(is_utf8_inline(&window[..INLINE_CAP - 1]));
        let t = EventText::inline_data(&window, INLINE_CAP - 1);
        assert_eq!(t.data().len(), INLINE_CAP - 1);
        assert!(!is_utf8_inline(&window));
        // A character cut by the data's end is not UTF-8.
        window[..2].copy_from_slice("\u{e9}".as_bytes());
        assert!(!is_utf8_inline(&window[..1]));
        assert_eq!(EventText::inline_data(&window, 2).data(), "\u{e9}");
    }

    /// Callers check the data first; if one did not, the text is empty
    /// rather than unchecked (release builds; debug builds assert).
    #[test]
    #[cfg(not(debug_assertions))]
    fn unchecked_inline_data_gives_an_empty_text() {
        let mut window = [b'z'; INLINE_CAP];
        window[0] = 0xff;
        assert_eq!(EventText::inline_data(&window, 1).data(), "");
        assert_eq!(EventText::inline_data(&window, INLINE_CAP + 1).data(), "");
        // A window of the wrong size is not read either.
        assert_eq!(EventText::inline_data(b"abcd", 3).data(), "\0\0\0");
    }

    #[test]
    fn heap_texts() {
        let t = EventText::from_parts("d\u{e9}typeid".to_owned(), 3, 7, None);
        assert_eq!(t.form(), "heap");
        assert_eq!(parts(&t), ("d\u{e9}", "type", "id"));
        assert_eq!(parts(&t.clone()), ("d\u{e9}", "type", "id"));
        assert_eq!(t.clone().into_data(), "d\u{e9}");
        let t = EventText::from_parts("abc".to_owned(), 3, 3, None);
        assert_eq!(parts(&t), ("abc", "", ""));
        let id: Arc<str> = Arc::from("shared");
        let t = EventText::from_parts("dt".to_owned(), 1, 2, Some(id.clone()));
        assert_eq!(t.form(), "heap");
        assert_eq!(parts(&t), ("d", "t", "shared"));
        assert_eq!(t.into_data(), "d");
        assert_eq!(Arc::strong_count(&id), 1);
    }

    /// The header lands at every alignment after the text, in spare
    /// capacity or in capacity reserved for it; the data is handed back in
    /// the same allocation.
    #[test]
    fn headers_at_every_offset() {
        let step = if cfg!(miri) { 3 } else { 1 };
        for len in (0..40).step_by(step) {
            for room in [0, 1, EVENT_ROOM - 1, EVENT_ROOM, EVENT_ROOM + 9] {
                let mut text = String::with_capacity(len + room);
                text.extend((0..len).map(|i| char::from(b'a' + (i % 26) as u8)));
                let copy = text.clone();
                let start = text.as_ptr();
                let (d, t) = (len / 2, len - len / 4);
                let e = EventText::from_parts(text, d, t, None);
                assert_eq!(e.form(), "heap");
                assert_eq!(
                    parts(&e),
                    (&copy[..d], &copy[d..t], &copy[t..]),
                    "{len} {room}"
                );
                let c = e.clone();
                let data = e.into_data();
                assert_eq!(data, copy[..d]);
                if room >= EVENT_ROOM {
                    assert_eq!(data.as_ptr(), start, "no reallocation with room");
                }
                assert_eq!(parts(&c), (&copy[..d], &copy[d..t], &copy[t..]));
            }
        }
    }

    #[test]
    fn texts_move_between_threads() {
        let heap = EventText::from_parts("data".repeat(9), 4, 8, Some(Arc::from("id")));
        let inline = EventText::inline("d", "t", "i").expect("fits");
        let back = std::thread::spawn(move || {
            assert_eq!(parts(&heap), ("data", "data", "id"));
            (heap, inline)
        })
        .join()
        .expect("thread");
        assert_eq!(parts(&back.1), ("d", "t", "i"));
        assert_eq!(back.0.into_data(), "data");
    }

    /// Ends that are not char boundaries never reach the unchecked reads:
    /// the text is kept whole as the data (release builds; debug builds
    /// assert).
    #[test]
    #[cfg(not(debug_assertions))]
    fn bad_ends_keep_the_text_as_data() {
        let t = EventText::from_parts("d\u{e9}x".to_owned(), 2, 3, None);
        assert_eq!(parts(&t), ("d\u{e9}x", "", ""));
        let t = EventText::from_parts("abc".to_owned(), 2, 1, None);
        assert_eq!(parts(&t), ("abc", "", ""));
    }
}
