//! Line-break search shared by the encoder and the parser.

/// A CR/LF searcher built once and used for many searches: every line of a
/// multi-line text (the encoder), every line of a stream (the parser).
///
/// `memchr2` picks its implementation through a function pointer and sets up
/// its vector constants on every call; for 64-byte lines that is a large part
/// of the cost. On x86-64 with AVX2 (checked at run time) the searcher is
/// built once instead; elsewhere this is plain `memchr2`.
#[derive(Clone, Copy)]
pub(crate) enum Finder {
    #[cfg(target_arch = "x86_64")]
    Avx2(memchr::arch::x86_64::avx2::memchr::Two),
    Memchr2,
}

impl Finder {
    #[inline(always)]
    pub(crate) fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        if let Some(two) = memchr::arch::x86_64::avx2::memchr::Two::new(b'\n', b'\r') {
            return Finder::Avx2(two);
        }
        Finder::Memchr2
    }

    #[inline(always)]
    pub(crate) fn find(&self, text: &[u8]) -> Option<usize> {
        if text.len() < 16 {
            return text.iter().position(|&b| b == b'\n' || b == b'\r');
        }
        match self {
            #[cfg(target_arch = "x86_64")]
            Finder::Avx2(two) => two.find(text),
            Finder::Memchr2 => memchr::memchr2(b'\n', b'\r', text),
        }
    }
}
