//! Incremental event-stream parser: bytes in, [`Frame`]s out.
//!
//! [`Parser`] implements WHATWG HTML's [parsing] and [interpreting] of an
//! event stream, the algorithm a browser's `EventSource` runs, for Rust
//! clients that read an SSE response (an LLM API, another server):
//!
//! - UTF-8 with replacement: invalid bytes become U+FFFD (as
//!   `String::from_utf8_lossy`); one byte order mark is stripped at the start
//!   of the stream, and only there.
//! - Lines end at `\r\n`, `\n` or a lone `\r`, also when the `\r` ends one
//!   chunk and the `\n` starts the next.
//! - `name:value` with one leading space of the value removed; a line without a
//!   colon is a field with an empty value; a line starting with `:` is a
//!   comment; field names are case-sensitive and unknown ones are ignored.
//! - `data` appends a line to the data, `event` sets the type, `id` sets the
//!   last event ID unless the value contains NUL, `retry` applies only if the
//!   value is all ASCII digits (and fits in a `u64`).
//! - A blank line dispatches the event: it sets the last event ID; with no
//!   `data` line there is no event (but the type is reset); the type defaults
//!   to `message`.
//! - At the end of the stream ([`Parser::finish`]), an unfinished event and an
//!   unterminated last line are discarded.
//!
//! The result is the same for every way the input is split into chunks.
//! The only errors are the memory limits of [`ParserConfig`].
//!
//! Choices where the spec leaves room:
//!
//! - The end of the stream discards an unterminated last line too, even a
//!   comment or a `retry:` ("any pending data must be discarded"; browsers
//!   only act on complete lines). A line ended by a lone `\r` is complete.
//! - A `retry:` value too big for a `u64` of milliseconds is ignored.
//! - Comments, which browsers drop, are reported as [`Frame::Comment`] with
//!   one leading space removed, like a field value.
//! - A valid `retry:` is reported as [`Frame::Retry`] when its line is read
//!   (when a browser applies it), not with the next event.
//! - After a limit error the parser skips to the end of the event and goes on
//!   (see [`ParseError`]).
//! - Feeding after [`Parser::finish`] parses a new stream that keeps the last
//!   event ID, as browsers do when they reconnect.
//!
//! [parsing]: https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream
//! [interpreting]: https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation

mod frame;
#[cfg(feature = "stream")]
mod stream;
mod utf8;

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};

use crate::field::RetryDelay;

pub use frame::{Comment, Frame, MessageEvent};
use frame::{EventText, EVENT_ROOM, INLINE_CAP};
#[cfg(feature = "stream")]
#[cfg_attr(docsrs, doc(cfg(feature = "stream")))]
pub use stream::{BodyData, FrameStream, FrameStreamError};
use utf8::PieceDecoder;

use crate::unchecked::{
    ascii_str, concat_checked, find_break, has_nul, is_utf8_inline, push_decoded, same_bytes,
    string_from_utf8_lossy,
};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The parser's current bytes: the adopted chunk or the owned buffer. (A
/// macro, not a method, so that it borrows only those two fields.)
macro_rules! buf {
    ($parser:ident) => {
        match &$parser.shared {
            Some(bytes) => &bytes[..],
            None => &$parser.owned[..],
        }
    };
}

/// Last event IDs up to this length are copied into each event's single
/// allocation; longer ones are shared (`Arc<str>`) until they change, so a
/// server cannot make the parser copy a huge ID into every small event.
const INLINE_ID_MAX: usize = 128;

/// Limits for [`Parser`]. Both are on by default, so a misbehaving or hostile
/// server cannot make a client buffer without bound.
///
/// | limit | default | what it bounds |
/// |---|---|---|
/// | [`max_line_len`](Self::max_line_len) | 8 MiB | one line (without its line break): the parser buffers a line until its end arrives |
/// | [`max_event_len`](Self::max_event_len) | 8 MiB | the data of one event: the `data:` values as received, plus one byte per line break between them |
///
/// Why these values: most streams (LLM token deltas, notifications, JSON
/// patches) send lines of bytes to kilobytes, but real ones also send single
/// events of several MiB on one `data:` line: LLM image APIs stream base64
/// images (a 5 MiB image is 6.7 MiB of base64), and LaunchDarkly's SSE contract
/// tests check that a client takes a 5 MiB event. The line limit is as high
/// as the event limit because such an event is one line. Anything bigger is
/// almost certainly a broken or hostile server. Per parser, memory is then
/// at most about one line plus one event, 16 MiB (decoded data can be up to
/// 3 times the received size when every byte is invalid UTF-8 and becomes
/// U+FFFD), besides the input not yet parsed. A client that expects smaller
/// events can set smaller limits; `usize::MAX` switches a limit off.
///
/// ```
/// use sse_session::{Parser, ParserConfig};
///
/// let config = ParserConfig::default()
///     .max_line_len(64 * 1024)
///     .max_event_len(1024 * 1024);
/// let parser = Parser::with_config(config);
/// # let _ = parser;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct ParserConfig {
    max_line_len: usize,
    max_event_len: usize,
}

impl Default for ParserConfig {
    fn default() -> Self {
        ParserConfig {
            max_line_len: 8 * 1024 * 1024,
            max_event_len: 8 * 1024 * 1024,
        }
    }
}

impl ParserConfig {
    /// The longest line accepted, in bytes, not counting the line break
    /// (default 8 MiB). A longer line is a [`ParseErrorKind::LineTooLong`]
    /// error, raised as soon as more than this many bytes of the line were
    /// fed.
    ///
    /// ```
    /// use sse_session::{Parser, ParserConfig, ParseErrorKind};
    ///
    /// let mut p = Parser::with_config(ParserConfig::default().max_line_len(8));
    /// p.feed(b"data: 12345678\n\n");
    /// assert_eq!(p.next_frame().unwrap_err().kind(), ParseErrorKind::LineTooLong);
    /// ```
    pub fn max_line_len(mut self, bytes: usize) -> Self {
        self.max_line_len = bytes;
        self
    }

    /// The largest event data accepted, in bytes as received: the sum of the
    /// event's `data:` values plus one per line break between them (default
    /// 8 MiB). More is a [`ParseErrorKind::EventTooLarge`] error.
    ///
    /// ```
    /// use sse_session::{Parser, ParserConfig, ParseErrorKind};
    ///
    /// let mut p = Parser::with_config(ParserConfig::default().max_event_len(3));
    /// p.feed(b"data: ab\ndata: c\n\n");
    /// let err = p.next_frame().unwrap_err();
    /// assert_eq!((err.kind(), err.limit()), (ParseErrorKind::EventTooLarge, 3));
    /// ```
    pub fn max_event_len(mut self, bytes: usize) -> Self {
        self.max_event_len = bytes;
        self
    }

    /// The configured line limit.
    ///
    /// ```
    /// assert_eq!(sse_session::ParserConfig::default().line_limit(), 8 << 20);
    /// ```
    #[must_use]
    pub fn line_limit(&self) -> usize {
        self.max_line_len
    }

    /// The configured event data limit.
    ///
    /// ```
    /// assert_eq!(sse_session::ParserConfig::default().event_limit(), 8 << 20);
    /// ```
    #[must_use]
    pub fn event_limit(&self) -> usize {
        self.max_event_len
    }
}

/// What limit a [`ParseError`] is about.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParseErrorKind {
    /// A line was longer than [`ParserConfig::max_line_len`].
    LineTooLong,
    /// An event's data was larger than [`ParserConfig::max_event_len`].
    EventTooLarge,
}

/// A memory limit of [`ParserConfig`] was exceeded: the parser's only error.
/// Everything else in an event stream has a defined meaning.
///
/// The parser recovers by itself: the rest of the offending line and of the
/// event it belongs to are skipped (up to and including the next blank line),
/// without buffering them, and parsing continues after that. The skipped
/// event is not dispatched and its `id:` does not apply. Frames before the
/// error are not affected.
///
/// ```
/// use sse_session::{Frame, Parser, ParserConfig, ParseErrorKind};
///
/// let mut p = Parser::with_config(ParserConfig::default().max_line_len(10));
/// p.feed(b"data: far too long\ndata: lost\n\ndata: ok\n\n");
/// let err = p.next_frame().unwrap_err();
/// assert_eq!(err.kind(), ParseErrorKind::LineTooLong);
/// assert_eq!(err.to_string(), "line exceeds 10-byte limit");
/// // the next event parses normally
/// assert!(matches!(p.next_frame(), Ok(Some(Frame::Event(e))) if e.data() == "ok"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParseError {
    kind: ParseErrorKind,
    /// The limit, little-endian, saturated at 2^56 - 1 bytes (a limit that
    /// could ever be exceeded is far below). Seven bytes keep the error at
    /// eight, and the `Result` that [`Parser::next_frame`] returns at two
    /// words (see `EventText`).
    limit: [u8; 7],
}

// An event is one word and what `next_frame` returns two (see `EventText`): a
// change that makes it bigger fails here, not only in the benches.
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(std::mem::size_of::<MessageEvent>() == 8);
    assert!(std::mem::size_of::<Frame>() == 16);
    assert!(std::mem::size_of::<Result<Option<Frame>, ParseError>>() == 16);
};

/// The largest limit a [`ParseError`] stores as it is (64 PiB).
const ERROR_LIMIT_MAX: u64 = (1 << 56) - 1;

impl ParseError {
    /// Which limit was exceeded.
    ///
    /// ```
    /// use sse_session::{Parser, ParserConfig, ParseErrorKind};
    ///
    /// let mut p = Parser::with_config(ParserConfig::default().max_line_len(2));
    /// p.feed(b"abc");
    /// assert_eq!(p.next_frame().unwrap_err().kind(), ParseErrorKind::LineTooLong);
    /// ```
    #[must_use]
    pub fn kind(&self) -> ParseErrorKind {
        self.kind
    }

    /// The configured limit, in bytes.
    ///
    /// ```
    /// use sse_session::{Parser, ParserConfig};
    ///
    /// let mut p = Parser::with_config(ParserConfig::default().max_line_len(2));
    /// p.feed(b"abc");
    /// assert_eq!(p.next_frame().unwrap_err().limit(), 2);
    /// ```
    #[must_use]
    pub fn limit(&self) -> usize {
        let mut le = [0; 8];
        le[..7].copy_from_slice(&self.limit);
        usize::try_from(u64::from_le_bytes(le)).unwrap_or(usize::MAX)
    }

    fn new(kind: ParseErrorKind, limit: usize) -> Self {
        let limit = u64::try_from(limit).map_or(ERROR_LIMIT_MAX, |l| l.min(ERROR_LIMIT_MAX));
        let le = limit.to_le_bytes();
        ParseError {
            kind,
            limit: [le[0], le[1], le[2], le[3], le[4], le[5], le[6]],
        }
    }
}

impl fmt::Debug for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParseError")
            .field("kind", &self.kind)
            .field("limit", &self.limit())
            .finish()
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ParseErrorKind::LineTooLong => write!(f, "line exceeds {}-byte limit", self.limit()),
            ParseErrorKind::EventTooLarge => {
                write!(f, "event data exceeds {}-byte limit", self.limit())
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// Where the current event's data is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Data {
    /// No `data` line yet: a blank line dispatches nothing.
    None,
    /// Exactly one `data` line so far; its value is `buf[start..end]`, not yet
    /// decoded or copied (the common case: copied once, at dispatch, straight
    /// into the event's own allocation).
    Line { start: usize, end: usize },
    /// In `Parser::acc` as raw bytes, lines joined with `\n`: two or more
    /// lines, a line whose buffer `feed_bytes` moved on from, or a long
    /// line received through `Parser::spill` after another line. Decoded
    /// once, at dispatch (LF is ASCII and never inside a multi-byte
    /// sequence, so decoding the joined bytes equals joining the decoded
    /// lines; a spilled line's value is already decoded, and decoding it
    /// again changes nothing).
    Acc,
    /// In `Parser::text`, decoded: the event's data so far is one or more
    /// long lines received through `Parser::spill`, each decoded as it
    /// arrived. A later short line moves it to `acc` (as `Acc`).
    Text,
}

/// A long `data` line skips the line buffer: once its unterminated part is
/// `SPILL_MIN` bytes, its value moves to `Parser::spill` and later chunks are
/// decoded and appended there directly; at its end the value becomes the
/// event's data (`Data::Text`) or joins it (see `COPY_MAX` for what
/// dispatch does with it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Spill {
    /// Not in use.
    None,
    /// The line has not ended yet: `feed` appends to `spill`.
    Open,
    /// `feed` found the line break; it is at `buf[pos]`.
    Closed,
    /// `feed` found the line over the limit; `next_frame` reports it.
    Overflow,
}

const SPILL_MIN: usize = 2048;
/// Lines longer than this leave the fast line loop; a long `data:` line is
/// then searched and decoded piece by piece (`long_data_line`). As long as
/// `COPY_MAX`: shorter data is copied once more at dispatch anyway (from
/// the spill buffer), so only longer lines gain from the piecewise pass.
const LONG_SCAN: usize = COPY_MAX;
/// Single-line data longer than this skips `heap_line_event` (see there).
const LONG_DATA: usize = 1024;
/// Gathered data up to this size is copied into the event (after a SIMD
/// check for `acc`) and the buffer kept; longer data hands the buffer
/// itself to the event.
const COPY_MAX: usize = 16 * 1024;
/// Buffers for multi-line and long events are pre-sized from the previous
/// one, up to this size.
const MAX_SIZE_HINT: usize = 256 * 1024;

/// Incremental, sans-IO event-stream parser.
///
/// # Calling contract
///
/// Inputs: [`feed`](Self::feed) / [`feed_bytes`](Self::feed_bytes) with the
/// bytes as they arrive, in any chunking, and [`finish`](Self::finish) at the
/// end of the stream. Output: [`next_frame`](Self::next_frame), which returns
///
/// - `Ok(Some(frame))`: the next frame; call again;
/// - `Ok(None)`: everything fed so far is parsed; feed more (or, after
///   `finish`, the stream is done);
/// - `Err(ParseError)`: a limit was exceeded; the parser has already
///   recovered (see [`ParseError`]), call again.
///
/// Call `next_frame` until it returns `Ok(None)` after each `feed`: the
/// parser keeps the fed bytes until they are parsed, so feeding without
/// draining grows its buffer.
///
/// After `finish`, feeding more starts a new stream, as an `EventSource`
/// does when it reconnects: a byte order mark is allowed again, the last
/// event ID and the reconnection time are kept.
///
/// ```
/// use sse_session::{Frame, Parser};
///
/// let mut parser = Parser::new();
/// let mut events = Vec::new();
/// for chunk in [&b"id: 1\ndata: hel"[..], b"lo\r", b"\n\r\n: bye\n"] {
///     parser.feed(chunk);
///     while let Some(frame) = parser.next_frame()? {
///         if let Frame::Event(e) = frame {
///             events.push(e.into_data());
///         }
///     }
/// }
/// parser.finish();
/// assert_eq!(parser.next_frame()?, None);
/// assert_eq!(events, ["hello"]);
/// assert_eq!(parser.last_event_id(), "1");
/// # Ok::<(), sse_session::ParseError>(())
/// ```
///
/// # Complexity
///
/// Linear in the input: each byte is scanned for line breaks once (`memchr`
/// for long lines), however the input is chunked, and copied at most once
/// into the parser's buffer (not at all for a `feed_bytes` chunk that starts
/// a line, or for the continuation of a long `data:` line, which goes
/// straight to a data buffer, checked for UTF-8 piece by piece as it
/// arrives). Data of several lines, or of a long line, gathers in that data
/// buffer: over 16 KiB it becomes the event's text as it is; up to 16 KiB
/// it is copied into the event and the buffer kept for the next one (a
/// SIMD UTF-8 check and a short copy are faster than checking in place).
/// Parsed bytes are released on the next feed; the unparsed rest moves
/// amortised O(1) times. Each dispatched event costs one heap allocation
/// (data, type and a short last event ID together; none for up to 6 bytes
/// on 64-bit targets; a last event ID over 128 bytes is shared instead of
/// copied, one allocation each time it changes); a comment costs two if
/// non-empty (its text, and a box that keeps [`Frame`] small); a retry none.
pub struct Parser {
    config: ParserConfig,
    /// Fed, not yet released bytes, when they were copied. Lines are parsed
    /// in place, in `shared` if that is set, else here.
    owned: BytesMut,
    /// A chunk given to `feed_bytes` when nothing else was pending: parsed
    /// where it is, without a copy.
    shared: Option<Bytes>,
    /// The rest of a `feed_bytes` chunk whose start completed a pending line
    /// (copied to `owned`): parsed in place once `owned` is done.
    queued: Option<Bytes>,
    /// Start of the next line in `buf`.
    pos: usize,
    /// `buf[pos..scan]` is known to hold no CR or LF.
    scan: usize,
    /// Stream ends marked by `finish`, as offsets into `buf`, in order.
    ends: VecDeque<usize>,
    /// At the start of a stream: a BOM may still come.
    bom_pending: bool,
    /// The previous line ended with CR: skip one LF.
    skip_lf: bool,
    /// The current line was too long: drop bytes up to its end.
    discard_line: bool,
    /// After a limit error: ignore lines up to and including a blank one.
    skip_event: bool,
    /// A long `data` line being received straight into `spill`.
    spill_state: Spill,
    /// The value of a long `data` line (see `Spill`), decoded as it arrives.
    spill: String,
    /// Decodes the pieces of the spilled line (holds a character split
    /// between two of them).
    spill_utf8: PieceDecoder,
    /// Bytes of the spilled value as received (for the limits).
    spill_len: usize,
    /// Bytes of the spilled line before its value (`data:` or `data: `).
    spill_prefix: usize,
    /// Capacity of the last `acc`/`spill` buffer handed to an event, to size
    /// the next one in one allocation.
    capacity_hint: usize,

    // --- the event being built ---
    data: Data,
    /// Raw data when `data == Data::Acc`; copied into the event at dispatch,
    /// or handed to it when over `COPY_MAX`.
    acc: Vec<u8>,
    /// Decoded data when `data == Data::Text`; the same.
    text: String,
    /// Received size of the data so far (for `max_event_len`).
    data_len: usize,
    /// The latest decoded `event:` value, kept across events so that a
    /// repeated type is compared, not decoded again. It is the current
    /// event's type only while `type_set` (else the type is "message").
    event_type: String,
    /// An `event:` line set `event_type` since the last dispatch.
    type_set: bool,
    /// The pending last event ID, decoded, while `id_dirty`; when not, the
    /// buffer is `last_id` and this holds nothing meaningful. At dispatch
    /// the two swap (no copy).
    id_buf: String,
    /// An `id:` line set `id_buf` since the last dispatch.
    id_dirty: bool,

    // --- state that outlives events ---
    /// The last event ID string.
    last_id: String,
    /// `last_id` as a shared string, made on first need for a long ID.
    last_id_shared: Option<Arc<str>>,
    retry: Option<RetryDelay>,
}

impl Default for Parser {
    fn default() -> Self {
        Parser::new()
    }
}

impl fmt::Debug for Parser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parser")
            .field("config", &self.config)
            .field(
                "unparsed",
                &(buf!(self).len() - self.pos + self.queued.as_ref().map_or(0, Bytes::len)),
            )
            .field("last_event_id", &self.last_id)
            .field("reconnection_time", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Parser {
    /// A parser with the default limits ([`ParserConfig::default`]).
    ///
    /// ```
    /// let parser = sse_session::Parser::new();
    /// assert_eq!(parser.last_event_id(), "");
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Parser::with_config(ParserConfig::default())
    }

    /// A parser with the given limits.
    ///
    /// ```
    /// use sse_session::{Parser, ParserConfig};
    ///
    /// let parser = Parser::with_config(ParserConfig::default().max_line_len(4096));
    /// # let _ = parser;
    /// ```
    #[must_use]
    pub fn with_config(config: ParserConfig) -> Self {
        Parser {
            config,
            owned: BytesMut::new(),
            shared: None,
            queued: None,
            pos: 0,
            scan: 0,
            ends: VecDeque::new(),
            bom_pending: true,
            skip_lf: false,
            discard_line: false,
            skip_event: false,
            spill_state: Spill::None,
            spill: String::new(),
            spill_utf8: PieceDecoder::default(),
            spill_len: 0,
            spill_prefix: 0,
            capacity_hint: 0,
            data: Data::None,
            acc: Vec::new(),
            text: String::new(),
            data_len: 0,
            event_type: String::new(),
            type_set: false,
            id_buf: String::new(),
            id_dirty: false,
            last_id: String::new(),
            last_id_shared: None,
            retry: None,
        }
    }

    /// Appends bytes of the stream. Nothing is parsed until
    /// [`next_frame`](Self::next_frame).
    ///
    /// ```
    /// use sse_session::Parser;
    ///
    /// let mut p = Parser::new();
    /// p.feed(b"data: x\n");
    /// assert_eq!(p.next_frame()?, None); // the event is not finished yet
    /// p.feed(b"\n");
    /// assert!(p.next_frame()?.is_some());
    /// # Ok::<(), sse_session::ParseError>(())
    /// ```
    pub fn feed(&mut self, chunk: &[u8]) {
        if chunk.is_empty() {
            return;
        }
        self.unqueue();
        let chunk = match self.spill_state {
            Spill::Open => self.feed_spill(chunk),
            _ => chunk,
        };
        if !chunk.is_empty() {
            self.append_owned(chunk);
        }
    }

    /// Appends to the owned buffer, first moving what is left of an adopted
    /// chunk there.
    fn append_owned(&mut self, bytes: &[u8]) {
        self.release();
        if let Some(shared) = self.shared.take() {
            // Offsets stay valid: `release` made them relative to its start.
            self.owned.clear();
            self.owned.extend_from_slice(&shared);
        }
        self.owned.extend_from_slice(bytes);
    }

    /// Appends a queued chunk (see `feed_bytes`) to the owned buffer.
    fn unqueue(&mut self) {
        if let Some(queued) = self.queued.take() {
            self.append_owned(&queued);
        }
    }

    /// The buffer is parsed up to the end of the line that `feed_bytes`
    /// completed: go on in the queued chunk, where it is.
    fn switch_to_queued(&mut self) {
        if let Data::Line { start, end } = self.data {
            // The pending data line lives in the buffer being dropped.
            self.start_acc();
            self.acc.extend_from_slice(&buf!(self)[start..end]);
            self.data = Data::Acc;
        }
        self.owned.clear();
        self.shared = self.queued.take();
        self.pos = 0;
        self.scan = 0;
        if self.data == Data::Acc && !self.skip_lf {
            self.data_run();
        }
    }

    /// The long data line in `spill` continues in `chunk`: append up to its
    /// line break; return the rest (from the line break on) for the buffer.
    #[inline(never)]
    fn feed_spill<'a>(&mut self, mut chunk: &'a [u8]) -> &'a [u8] {
        // Plain ASCII in one pass; what this leaves goes the general way.
        let room = (self.config.max_line_len).saturating_sub(self.spill_prefix + self.spill_len);
        let plain = self.spill_utf8.push_plain(&mut self.spill, chunk, room);
        self.spill_len += plain;
        chunk = &chunk[plain..];
        let line_break = memchr::memchr2(b'\n', b'\r', chunk);
        let take = line_break.unwrap_or(chunk.len());
        if self.spill_prefix + self.spill_len + take > self.config.max_line_len {
            // `next_frame` reports the error, then drops the rest of the line.
            self.spill_state = Spill::Overflow;
            self.clear_spill();
            return chunk;
        }
        self.spill_utf8.push(&mut self.spill, &chunk[..take]);
        self.spill_len += take;
        match line_break {
            Some(_) => {
                self.spill_utf8.finish(&mut self.spill);
                self.spill_state = Spill::Closed;
                &chunk[take..]
            }
            None => &[],
        }
    }

    /// Like [`feed`](Self::feed), for a chunk that is already `Bytes` (what an
    /// HTTP body yields). When no unparsed bytes are pending (the previous
    /// chunk ended at a line break, or this is the first), the chunk is parsed
    /// where it is, without copying it; it is released on the next feed.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use sse_session::Parser;
    ///
    /// let mut p = Parser::new();
    /// p.feed_bytes(Bytes::from_static(b"data: x\n\n"));
    /// assert!(p.next_frame()?.is_some());
    /// # Ok::<(), sse_session::ParseError>(())
    /// ```
    pub fn feed_bytes(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        self.unqueue();
        if self.spill_state == Spill::None {
            self.release();
            let pending = buf!(self).len();
            if pending == 0 {
                // Nothing pending: parse the chunk where it is (no copy).
                self.owned.clear();
                self.shared = Some(chunk);
                return;
            }
            if self.scan == pending && self.ends.is_empty() && !self.bom_pending {
                // A partial line is pending (and everything before it was
                // parsed): copy only the rest of that line, and parse the
                // remainder of the chunk where it is once the line is done.
                if let Some(i) = find_break(&chunk) {
                    if chunk[i] == b'\n' && self.straddling_data_line(&chunk[..i]) {
                        // Done without a copy into the buffer: parse the
                        // rest of the chunk where it is.
                        self.owned.clear();
                        let mut rest = chunk;
                        rest.advance(i + 1);
                        self.shared = Some(rest);
                        // Take the `data:` lines that follow at once.
                        self.data_run();
                        return;
                    }
                    let mut cut = i + 1;
                    if chunk[i] == b'\r' && chunk.get(cut) == Some(&b'\n') {
                        cut += 1;
                    }
                    if cut < chunk.len() {
                        self.append_owned(&chunk[..cut]);
                        let mut rest = chunk;
                        rest.advance(cut);
                        self.queued = Some(rest);
                        return;
                    }
                }
            }
        }
        self.feed(&chunk);
    }

    /// The pending partial line `buf[pos..]` ends with `rest` (a new chunk's
    /// bytes up to an LF): if it is a `data:` line that goes to `acc`
    /// anyway, append its value there straight from the two pieces and
    /// return `true`. Anything else (or a limit to report) is left to the
    /// general path, which copies the line into the buffer first.
    fn straddling_data_line(&mut self, rest: &[u8]) -> bool {
        if self.pos != 0
            || self.skip_lf
            || self.discard_line
            || self.skip_event
            || !matches!(self.data, Data::None | Data::Acc)
        {
            return false;
        }
        let partial = buf!(self);
        // Six bytes decide the value's start (`data:` and maybe a space).
        let Some(after) = partial.strip_prefix(b"data:") else {
            return false;
        };
        let Some(&next) = after.first() else {
            return false;
        };
        let value = &after[usize::from(next == b' ')..];
        let separator = usize::from(self.data != Data::None);
        let len = self.data_len + separator + value.len() + rest.len();
        if partial.len() + rest.len() > self.config.max_line_len || len > self.config.max_event_len
        {
            return false;
        }
        if self.data == Data::None {
            self.acc.clear();
            self.acc
                .reserve(self.capacity_hint.min(MAX_SIZE_HINT).max(len));
        } else {
            self.acc.push(b'\n');
        }
        self.acc.extend_from_slice(value);
        self.acc.extend_from_slice(rest);
        self.data = Data::Acc;
        self.data_len = len;
        self.pos = 0;
        self.scan = 0;
        true
    }

    /// Marks the end of the stream. Lines fed before are still returned by
    /// [`next_frame`](Self::next_frame); then an unterminated last line and an
    /// unfinished event (no blank line after it) are discarded, as the spec
    /// says: "If the file ends in the middle of an event, before the final
    /// empty line, the incomplete event is not dispatched."
    ///
    /// Feeding after `finish` starts a new stream (see [`Parser`]).
    ///
    /// ```
    /// use sse_session::{Frame, Parser};
    ///
    /// let mut p = Parser::new();
    /// p.feed(b"data: complete\n\ndata: cut off\n");
    /// p.finish();
    /// assert!(matches!(p.next_frame()?, Some(Frame::Event(e)) if e.data() == "complete"));
    /// assert_eq!(p.next_frame()?, None);
    /// # Ok::<(), sse_session::ParseError>(())
    /// ```
    pub fn finish(&mut self) {
        self.unqueue();
        if self.spill_state == Spill::Open {
            // An unterminated last line is discarded.
            self.spill_state = Spill::None;
            self.clear_spill();
        }
        let len = buf!(self).len();
        if self.ends.back() != Some(&len) {
            self.ends.push_back(len);
        }
    }

    /// The last event ID string: the ID of the latest dispatched event (or of
    /// an `id:` followed by a blank line without data), `""` before any.
    /// This is the value for a `Last-Event-ID` header when reconnecting.
    ///
    /// ```
    /// use sse_session::Parser;
    ///
    /// let mut p = Parser::new();
    /// p.feed(b"id: abc\n\n");
    /// assert_eq!(p.next_frame()?, None); // no data: no event, but the ID is set
    /// assert_eq!(p.last_event_id(), "abc");
    /// # Ok::<(), sse_session::ParseError>(())
    /// ```
    #[must_use]
    pub fn last_event_id(&self) -> &str {
        &self.last_id
    }

    /// The reconnection time from the latest valid `retry:` line, if any.
    ///
    /// ```
    /// use sse_session::{Parser, RetryDelay};
    ///
    /// let mut p = Parser::new();
    /// p.feed(b"retry: 1500\nretry: 2s\n");
    /// while p.next_frame()?.is_some() {}
    /// assert_eq!(p.reconnection_time(), Some(RetryDelay::from_millis(1500)));
    /// # Ok::<(), sse_session::ParseError>(())
    /// ```
    #[must_use]
    pub fn reconnection_time(&self) -> Option<RetryDelay> {
        self.retry
    }

    /// Parses up to the next frame. See the calling contract on [`Parser`].
    ///
    /// # Errors
    ///
    /// A [`ParseError`] when a line or an event exceeds the configured limit.
    /// The parser has then skipped the offending event and can be called again.
    ///
    /// ```
    /// use sse_session::{Frame, Parser};
    ///
    /// let mut p = Parser::new();
    /// p.feed(b"data: 1\n\ndata: 2\n\n");
    /// let mut n = 0;
    /// while let Some(Frame::Event(_)) = p.next_frame()? {
    ///     n += 1;
    /// }
    /// assert_eq!(n, 2);
    /// # Ok::<(), sse_session::ParseError>(())
    /// ```
    #[must_use = "frames are only produced by calling next_frame until it returns Ok(None)"]
    #[inline]
    pub fn next_frame(&mut self) -> Result<Option<Frame>, ParseError> {
        // The common cases (plain lines, no special state; or only a short
        // partial line left) run inlined in the caller, so a small event is
        // built where the caller uses it, and the call per chunk that only
        // finds the chunk's end is cheap.
        if self.plain_state() && self.ends.is_empty() {
            let limit = buf!(self).len();
            if self.scan == self.pos {
                if let Some(frame) = self.fast_lines(limit) {
                    return Ok(Some(frame));
                }
            }
            // Everything fed is scanned and the rest is a partial line that
            // is neither over the limit nor long enough to spill: the slow
            // path would only return `Ok(None)`.
            let partial = limit - self.pos;
            if self.scan == limit
                && self.queued.is_none()
                && partial < SPILL_MIN
                && partial <= self.config.max_line_len
            {
                return Ok(None);
            }
        }
        self.next_frame_slow()
    }

    /// No special state is pending (long line, CR, BOM, skipping): plain
    /// lines can be taken by `fast_lines`.
    #[inline(always)]
    fn plain_state(&self) -> bool {
        self.spill_state == Spill::None
            && !(self.skip_lf | self.bom_pending | self.discard_line | self.skip_event)
    }

    /// [`next_frame`](Self::next_frame) beyond the inlined fast path.
    #[inline(never)]
    fn next_frame_slow(&mut self) -> Result<Option<Frame>, ParseError> {
        match self.spill_state {
            // Still inside a long data line: everything fed is in `spill`.
            Spill::Open => return Ok(None),
            Spill::Overflow => {
                self.spill_state = Spill::None;
                self.discard_line = true;
                return Err(self.limit_error(ParseErrorKind::LineTooLong));
            }
            Spill::None | Spill::Closed => {}
        }
        loop {
            let limit = match self.ends.front() {
                Some(&end) => end,
                None => buf!(self).len(),
            };
            if self.plain_state() && self.scan == self.pos {
                if let Some(frame) = self.fast_lines(limit) {
                    return Ok(Some(frame));
                }
            }
            if self.skip_lf && self.pos < limit {
                if buf!(self)[self.pos] == b'\n' {
                    self.pos += 1;
                    self.scan = self.scan.max(self.pos);
                }
                self.skip_lf = false;
            }
            if self.bom_pending {
                let avail = &buf!(self)[self.pos..limit];
                if avail.len() >= BOM.len() {
                    if avail.starts_with(BOM) {
                        self.pos += BOM.len();
                        self.scan = self.scan.max(self.pos);
                    }
                    self.bom_pending = false;
                } else if !BOM.starts_with(avail) {
                    self.bom_pending = false;
                } else if self.ends.is_empty() {
                    return Ok(None);
                } else {
                    self.end_stream();
                    continue;
                }
            }
            if self.scan - self.pos >= LONG_SCAN
                && self.plain_state()
                && self.ends.is_empty()
                && self.queued.is_none()
                && self.long_data_line(limit)
            {
                continue;
            }
            match find_line_break(&buf!(self)[self.scan..limit]) {
                Some(i) => {
                    let eol = self.scan + i;
                    let start = self.pos;
                    let next = if buf!(self)[eol] == b'\n' {
                        eol + 1
                    } else if eol + 1 < limit {
                        eol + 1 + usize::from(buf!(self)[eol + 1] == b'\n')
                    } else {
                        self.skip_lf = true;
                        eol + 1
                    };
                    self.pos = next;
                    self.scan = next;
                    if self.spill_state == Spill::Closed {
                        self.spill_state = Spill::None;
                        match self.spilled_data_line() {
                            Ok(None) => continue,
                            other => return other,
                        }
                    }
                    if self.discard_line {
                        self.discard_line = false;
                        continue;
                    }
                    if self.skip_event {
                        if eol == start {
                            self.skip_event = false;
                        }
                        continue;
                    }
                    if eol - start > self.config.max_line_len {
                        return Err(self.limit_error(ParseErrorKind::LineTooLong));
                    }
                    match self.line(start, eol) {
                        Ok(None) => continue,
                        other => return other,
                    }
                }
                None => {
                    self.scan = limit;
                    if self.discard_line || (self.skip_event && limit > self.pos) {
                        // Not a blank line, and skipped: don't keep it.
                        self.discard_line = true;
                        self.pos = limit;
                    } else if limit - self.pos > self.config.max_line_len {
                        self.discard_line = true;
                        self.pos = limit;
                        return Err(self.limit_error(ParseErrorKind::LineTooLong));
                    }
                    if self.ends.is_empty() {
                        if self.queued.is_some() {
                            if self.pos == limit {
                                self.switch_to_queued();
                            } else {
                                self.unqueue();
                            }
                            continue;
                        }
                        self.maybe_spill();
                        return Ok(None);
                    }
                    self.end_stream();
                }
            }
        }
    }

    /// The common lines, in a tight loop: LF-terminated `data:` (the first
    /// of an event), `event:`, `id:` and blank lines, within the limits,
    /// when no special state is pending. Returns a dispatched event, or
    /// `None` at the first line it leaves to the general loop (with `scan`
    /// at that line's break, or at `limit` if there is none).
    #[inline(always)]
    fn fast_lines(&mut self, limit: usize) -> Option<Frame> {
        let (max_line, max_event) = (self.config.max_line_len, self.config.max_event_len);
        loop {
            let start = self.pos;
            let rest = &buf!(self)[start..limit];
            if rest.first() == Some(&b'\n') {
                // A blank line (the end of every event): no search.
                self.pos = start + 1;
                self.scan = start + 1;
                if let Some(frame) = self.dispatch() {
                    return Some(frame);
                }
                continue;
            }
            // A line longer than `LONG_SCAN` leaves here: the general loop
            // searches the rest of it piece by piece (`long_data_line`).
            let window = &rest[..rest.len().min(LONG_SCAN)];
            let Some(i) = find_break(window) else {
                self.scan = start + window.len();
                return None;
            };
            let end = start + i;
            if rest[i] != b'\n' || i > max_line {
                self.scan = end;
                return None;
            }
            let line = &rest[..i];
            match line.first() {
                // Blank lines were taken above; this arm is not reached.
                // Without it the loop compiles 3-4 % slower on W4 (folding
                // the shortcut into this arm was 4 % slower too).
                None => {
                    self.pos = end + 1;
                    self.scan = end + 1;
                    if let Some(frame) = self.dispatch() {
                        return Some(frame);
                    }
                    continue;
                }
                Some(b'd') if self.data == Data::None => {
                    let Some(v) = value_offset(line, b"data") else {
                        self.scan = end;
                        return None;
                    };
                    if i - v > max_event {
                        self.scan = end;
                        return None;
                    }
                    self.data = Data::Line {
                        start: start + v,
                        end,
                    };
                    self.data_len = i - v;
                }
                Some(b'e') => {
                    let Some(v) = value_offset(line, b"event") else {
                        self.scan = end;
                        return None;
                    };
                    set_type(&mut self.event_type, &line[v..]);
                    self.type_set = true;
                }
                Some(b'i') => {
                    let Some(v) = value_offset(line, b"id") else {
                        self.scan = end;
                        return None;
                    };
                    set_id(
                        &line[v..],
                        &self.last_id,
                        &mut self.id_buf,
                        &mut self.id_dirty,
                    );
                }
                _ => {
                    self.scan = end;
                    return None;
                }
            }
            self.pos = end + 1;
            self.scan = end + 1;
        }
    }

    /// The unterminated line `buf[pos..]` is a long `data` line: move its
    /// value to `spill`, and let `feed` append the rest there.
    fn maybe_spill(&mut self) {
        let partial = &buf!(self)[self.pos..];
        if partial.len() < SPILL_MIN || self.discard_line || self.skip_event {
            return;
        }
        let Some(offset) = value_offset(partial, b"data") else {
            return;
        };
        let len = partial.len();
        self.clear_spill();
        self.spill
            .reserve(self.capacity_hint.min(MAX_SIZE_HINT).max(len));
        let value = &buf!(self)[self.pos + offset..];
        self.spill_utf8.push(&mut self.spill, value);
        self.spill_len = value.len();
        self.spill_prefix = offset;
        self.spill_state = Spill::Open;
        self.pos = buf!(self).len();
        self.scan = self.pos;
    }

    /// Starts collecting a multi-line event's data in `acc`, sized like the
    /// previous one so that it is allocated once.
    fn start_acc(&mut self) {
        self.acc.clear();
        self.acc.reserve(self.capacity_hint.min(MAX_SIZE_HINT));
    }

    /// The long data line in `spill` has ended.
    fn spilled_data_line(&mut self) -> Result<Option<Frame>, ParseError> {
        let separator = usize::from(self.data != Data::None);
        let len = self.data_len + separator + self.spill_len;
        if len > self.config.max_event_len {
            self.clear_spill();
            return Err(self.limit_error(ParseErrorKind::EventTooLarge));
        }
        self.data_len = len;
        match self.data {
            Data::None => {
                // The decoded value becomes the data as it is (no copy).
                std::mem::swap(&mut self.text, &mut self.spill);
                self.data = Data::Text;
            }
            Data::Text => {
                self.text.push('\n');
                self.text.push_str(&self.spill);
            }
            Data::Line { start, end } => {
                self.start_acc();
                self.acc.extend_from_slice(&buf!(self)[start..end]);
                self.acc.push(b'\n');
                self.acc.extend_from_slice(self.spill.as_bytes());
                self.data = Data::Acc;
            }
            Data::Acc => {
                self.acc.push(b'\n');
                self.acc.extend_from_slice(self.spill.as_bytes());
            }
        }
        self.clear_spill();
        Ok(None)
    }

    /// A long `data:` line in the buffer (at `pos`, no break in the first
    /// `LONG_SCAN` bytes): searched, checked and copied into `spill` one
    /// piece at a time, each piece while it is in L1, as a line arriving in
    /// chunks is (`feed_spill`). Searching the whole line first and then
    /// decoding it read it twice from L2: W3 in one buffer ran a third
    /// slower than in 4 KiB chunks. Ends as the spill path does: `Closed`
    /// with `pos` at the line break (the general loop then takes the break
    /// and `spilled_data_line` the value), or `Open` at the buffer's end.
    /// `false` (nothing changed) if the line is not a `data:` line, or
    /// exceeds the line limit (the general loop reports it).
    #[inline(never)]
    fn long_data_line(&mut self, limit: usize) -> bool {
        let pos = self.pos;
        let Some(offset) = value_offset(&buf!(self)[pos..self.scan], b"data") else {
            return false;
        };
        let max_line = self.config.max_line_len;
        self.clear_spill();
        self.spill
            .reserve(self.capacity_hint.clamp(LONG_SCAN, MAX_SIZE_HINT));
        let value_start = pos + offset;
        // The fast loop searched up to `scan` already.
        let searched = self.scan;
        let mut at = value_start;
        loop {
            let end = (at + PIECE).min(limit);
            // Plain ASCII in one pass (searched, checked and copied); what
            // this leaves goes the general way.
            let room = (max_line + pos).saturating_sub(at);
            at += self
                .spill_utf8
                .push_plain(&mut self.spill, &buf!(self)[at..end], room);
            let piece = &buf!(self)[at..end];
            let skip = searched.saturating_sub(at).min(piece.len());
            let line_break = memchr::memchr2(b'\n', b'\r', &piece[skip..]).map(|i| i + skip);
            let take = line_break.unwrap_or(piece.len());
            if at + take - pos > max_line {
                self.clear_spill();
                return false;
            }
            self.spill_utf8.push(&mut self.spill, &piece[..take]);
            at += take;
            if line_break.is_some() || at == limit {
                self.spill_len = at - value_start;
                self.spill_prefix = offset;
                self.spill_state = if line_break.is_some() {
                    self.spill_utf8.finish(&mut self.spill);
                    Spill::Closed
                } else {
                    Spill::Open
                };
                self.pos = at;
                self.scan = at;
                return true;
            }
        }
    }

    /// Empties the spill buffer (keeping its allocation).
    fn clear_spill(&mut self) {
        self.spill.clear();
        self.spill_utf8.reset();
        self.spill_len = 0;
    }

    /// Drops bytes that were parsed (keeping a pending single data line) so
    /// the buffer holds only what is still needed.
    fn release(&mut self) {
        let keep_from = match self.data {
            Data::Line { start, .. } => start.min(self.pos),
            _ => self.pos,
        };
        if keep_from == 0 {
            return;
        }
        match &mut self.shared {
            Some(bytes) => bytes.advance(keep_from),
            None if keep_from == self.owned.len() => self.owned.clear(),
            None => self.owned.advance(keep_from),
        }
        self.pos -= keep_from;
        self.scan -= keep_from;
        if let Data::Line { start, end } = &mut self.data {
            *start -= keep_from;
            *end -= keep_from;
        }
        for end in &mut self.ends {
            *end -= keep_from;
        }
    }

    /// The stream ended at `ends[0]`: drop the unterminated line and the
    /// unfinished event; be ready for a new stream.
    fn end_stream(&mut self) {
        if let Some(end) = self.ends.pop_front() {
            self.pos = end;
            self.scan = end;
        }
        self.bom_pending = true;
        self.skip_lf = false;
        self.discard_line = false;
        self.skip_event = false;
        self.reset_event();
    }

    fn limit_error(&mut self, kind: ParseErrorKind) -> ParseError {
        self.skip_event = true;
        self.reset_event();
        let limit = match kind {
            ParseErrorKind::LineTooLong => self.config.max_line_len,
            ParseErrorKind::EventTooLarge => self.config.max_event_len,
        };
        ParseError::new(kind, limit)
    }

    /// Forgets the event being built (not the last event ID string).
    fn reset_event(&mut self) {
        if self.spill_state != Spill::Overflow {
            self.spill_state = Spill::None;
        }
        self.clear_spill();
        self.data = Data::None;
        self.acc.clear();
        self.text.clear();
        self.data_len = 0;
        self.type_set = false;
        // The pending `id:` (if any) is dropped: the buffer is `last_id`
        // again (see `dispatch`).
        self.id_dirty = false;
    }

    /// Interprets the line `buf[start..end]` (without its line break).
    fn line(&mut self, start: usize, end: usize) -> Result<Option<Frame>, ParseError> {
        if start == end {
            return Ok(self.dispatch());
        }
        let line = &buf!(self)[start..end];
        // The field name is everything before the first colon, and only four
        // names mean anything, so a line is a known field exactly when it is
        // `NAME` or starts with `NAME:`. No search for the colon is needed.
        let field = match line[0] {
            b':' => {
                let text = strip_space(&line[1..]);
                return Ok(Some(Frame::Comment(Comment::new(decode(text)))));
            }
            b'd' => value_offset(line, b"data").map(|v| (Field::Data, v)),
            b'e' => value_offset(line, b"event").map(|v| (Field::Event, v)),
            b'i' => value_offset(line, b"id").map(|v| (Field::Id, v)),
            b'r' => value_offset(line, b"retry").map(|v| (Field::Retry, v)),
            _ => None,
        };
        let Some((field, offset)) = field else {
            return Ok(None); // unknown field: ignored
        };
        let value_start = start + offset;
        match field {
            Field::Data => self.data_line(value_start, end),
            Field::Event => {
                set_type(&mut self.event_type, &buf!(self)[value_start..end]);
                self.type_set = true;
                Ok(None)
            }
            Field::Id => {
                set_id(
                    &buf!(self)[value_start..end],
                    &self.last_id,
                    &mut self.id_buf,
                    &mut self.id_dirty,
                );
                Ok(None)
            }
            Field::Retry => Ok(parse_retry(&buf!(self)[value_start..end]).map(|ms| {
                let delay = RetryDelay::from_millis(ms);
                self.retry = Some(delay);
                Frame::Retry(delay)
            })),
        }
    }

    fn data_line(&mut self, start: usize, end: usize) -> Result<Option<Frame>, ParseError> {
        let separator = usize::from(self.data != Data::None);
        let len = self.data_len + separator + (end - start);
        if len > self.config.max_event_len {
            return Err(self.limit_error(ParseErrorKind::EventTooLarge));
        }
        self.data_len = len;
        match self.data {
            Data::None => self.data = Data::Line { start, end },
            Data::Line {
                start: first_start,
                end: first_end,
            } => {
                self.start_acc();
                self.acc
                    .extend_from_slice(&buf!(self)[first_start..first_end]);
                self.acc.push(b'\n');
                self.acc.extend_from_slice(&buf!(self)[start..end]);
                self.data = Data::Acc;
                self.data_run();
            }
            Data::Text => {
                // Decoded long lines, then a short one: go on as raw bytes
                // (the decoded part decodes to itself).
                self.acc = std::mem::take(&mut self.text).into_bytes();
                self.acc.push(b'\n');
                self.acc.extend_from_slice(&buf!(self)[start..end]);
                self.data = Data::Acc;
                self.data_run();
            }
            Data::Acc => {
                self.acc.push(b'\n');
                self.acc.extend_from_slice(&buf!(self)[start..end]);
                self.data_run();
            }
        }
        Ok(None)
    }

    /// Fast path for an event of many data lines: takes the `data:` lines
    /// that follow in the buffer (LF-terminated, within the limits) in one
    /// tight loop. Anything else is left to `next_frame`.
    fn data_run(&mut self) {
        if self.skip_lf || !self.ends.is_empty() {
            return;
        }
        let (max_line, max_event) = (self.config.max_line_len, self.config.max_event_len);
        let (mut pos, mut data_len) = (self.pos, self.data_len);
        let buf = buf!(self);
        // One searcher for the whole run: it yields each line's break in
        // turn (a line start is always just after the previous break).
        // (`memchr2_iter` would redo the CPU dispatch and searcher setup
        // at every step: build the searcher here.)
        let base = pos;
        let hay = &buf[base..];
        #[cfg(target_arch = "x86_64")]
        let avx2 = memchr::arch::x86_64::avx2::memchr::Two::new(b'\n', b'\r');
        #[cfg(target_arch = "x86_64")]
        let mut avx2_breaks = avx2.as_ref().map(|searcher| searcher.iter(hay));
        let generic = memchr::arch::all::memchr::Two::new(b'\n', b'\r');
        let mut generic_breaks = generic.iter(hay);
        let mut next_break = || {
            #[cfg(target_arch = "x86_64")]
            if let Some(breaks) = &mut avx2_breaks {
                return breaks.next();
            }
            generic_breaks.next()
        };
        while let Some(after) = buf[pos..].strip_prefix(b"data:") {
            let value_start = pos + 5 + usize::from(after.first() == Some(&b' '));
            let Some(i) = next_break() else {
                // No line break in the rest: the general loop need not
                // scan it again.
                self.pos = pos;
                self.scan = buf.len();
                self.data_len = data_len;
                return;
            };
            let eol = base + i;
            let len = data_len + 1 + (eol - value_start);
            if buf[eol] != b'\n' || eol - pos > max_line || len > max_event {
                break;
            }
            self.acc.push(b'\n');
            self.acc.extend_from_slice(&buf[value_start..eol]);
            data_len = len;
            pos = eol + 1;
        }
        self.pos = pos;
        self.scan = pos;
        self.data_len = data_len;
    }

    /// A blank line: dispatch the event.
    #[inline(always)]
    fn dispatch(&mut self) -> Option<Frame> {
        let type_set = std::mem::replace(&mut self.type_set, false);
        if let Data::Line { start, end } = self.data {
            // (Small events are left to the inline path below.)
            let id_len = if self.id_dirty {
                self.id_buf.len()
            } else {
                self.last_id.len()
            };
            if end - start + id_len + usize::from(type_set) * self.event_type.len() > INLINE_CAP {
                if let Some(event) = self.heap_line_event(start, end, type_set) {
                    return Some(Frame::Event(event));
                }
            }
        }
        self.commit_id();
        let inline_id = self.last_id.len() <= INLINE_ID_MAX;
        let ty = event_type(&self.event_type, type_set);
        let extra = ty.len() + if inline_id { self.last_id.len() } else { 0 };
        let mut text;
        match self.data {
            Data::None => return None,
            Data::Line { start, end } => {
                self.data = Data::None;
                self.data_len = 0;
                let buf = buf!(self);
                if extra == 0 && inline_id && end - start <= INLINE_CAP {
                    // Small data-only event: copy a fixed-size window (a few
                    // wide moves, which the moves of the returned frame can
                    // read back at once; a variable-length copy stalls them).
                    if let Some(window) = buf.get(start..start + INLINE_CAP) {
                        if is_utf8_inline(&window[..end - start]) {
                            return Some(Frame::Event(MessageEvent::inline_data(
                                window,
                                end - start,
                            )));
                        }
                    }
                }
                let data = &buf[start..end];
                if inline_id && data.len() <= INLINE_CAP {
                    let decoded = decode_cow(data);
                    if let Some(event) = MessageEvent::inline(&decoded, ty, &self.last_id) {
                        return Some(Frame::Event(event));
                    }
                }
                text = decode_line(data, extra + EVENT_ROOM);
            }
            Data::Acc => {
                self.data = Data::None;
                self.data_len = 0;
                let need = self.acc.len() + extra + EVENT_ROOM;
                if self.acc.len() > COPY_MAX && self.acc.capacity() >= need {
                    // Long data: the buffer becomes the event's text (no
                    // copy); the next one is allocated when needed, at this
                    // capacity.
                    let mut raw = std::mem::take(&mut self.acc);
                    raw.reserve_exact(extra + EVENT_ROOM);
                    self.capacity_hint = raw.capacity();
                    text = string_from_utf8_lossy(raw);
                } else {
                    // Up to `COPY_MAX` (or a buffer too small to hold type
                    // and ID too): checked with SIMD and copied into the
                    // event's one allocation, and `acc` kept for the next
                    // event. For data of a few lines this beats
                    // `String::from_utf8`'s check in place (W2 +5-14 %).
                    text = decode_line(&self.acc, extra + EVENT_ROOM);
                    self.acc.clear();
                }
                text.reserve(extra + EVENT_ROOM);
            }
            Data::Text => {
                self.data = Data::None;
                self.data_len = 0;
                text = take_text(&mut self.text, &mut self.capacity_hint, extra + EVENT_ROOM);
            }
        }
        let data_end = text.len();
        text.push_str(ty);
        let type_end = text.len();
        let shared_id = if inline_id {
            text.push_str(&self.last_id);
            None
        } else {
            let last_id = &self.last_id;
            Some(
                self.last_id_shared
                    .get_or_insert_with(|| Arc::from(last_id.as_str()))
                    .clone(),
            )
        };
        Some(Frame::Event(MessageEvent::from_text(
            EventText::from_parts(text, data_end, type_end, shared_id),
        )))
    }
}

impl Parser {
    /// Makes a pending `id:` value the last event ID (a swap, no copy).
    #[inline(always)]
    fn commit_id(&mut self) {
        if self.id_dirty {
            std::mem::swap(&mut self.last_id, &mut self.id_buf);
            self.last_id_shared = None;
            self.id_dirty = false;
        }
    }

    /// The usual event: one data line, a short last event ID, too big to be
    /// stored inline. The data is checked for UTF-8 where it lies (type and
    /// ID are already decoded), then data, type and ID are copied into the
    /// event's one buffer (`concat_checked`). `None` if the event is not of
    /// this kind or its data is not valid UTF-8 (the general path then
    /// decodes with replacement).
    #[inline(never)]
    fn heap_line_event(
        &mut self,
        start: usize,
        end: usize,
        type_set: bool,
    ) -> Option<MessageEvent> {
        let ty = event_type(&self.event_type, type_set);
        let id = if self.id_dirty {
            &self.id_buf
        } else {
            &self.last_id
        };
        let data = &buf!(self)[start..end];
        let len = data.len() + ty.len() + id.len();
        // Long data is left to the general path, which checks it with SIMD
        // (`decode_cow`) where it is and copies it once, over 16 KiB piece
        // by piece (`decode_long`): W3 on whole input +10-20 %, then
        // +11-17 % more, over `from_utf8` here.
        if len <= INLINE_CAP || id.len() > INLINE_ID_MAX || data.len() > LONG_DATA {
            return None;
        }
        // The data is checked by itself (type and ID are decoded `str`s):
        // if it is not UTF-8, the general path decodes it with U+FFFD.
        let text = concat_checked(data, ty, id)?;
        let data_end = data.len();
        let type_end = data_end + ty.len();
        self.commit_id();
        self.data = Data::None;
        self.data_len = 0;
        Some(MessageEvent::from_text(EventText::from_parts(
            text, data_end, type_end, None,
        )))
    }
}

/// Long single-line data is decoded in pieces of this size (see
/// `decode_long`).
const PIECE: usize = 8192;
/// Over this size, single-line data is decoded with `decode_long`.
const PIECEWISE_MIN: usize = 16 * 1024;

/// Data (one line's, or the gathered `acc`), decoded into a new `String`
/// with room for `extra` more bytes. (Out of line: `dispatch` is inlined
/// into the loops for small events, which this is not.)
#[inline(never)]
fn decode_line(data: &[u8], extra: usize) -> String {
    if data.len() > PIECEWISE_MIN {
        return decode_long(data, extra);
    }
    // Short data (a few lines, or a line cut by a chunk's end): an inlined
    // ASCII check is faster than simdutf8's call and setup.
    let short = if data.len() <= LONG_DATA {
        ascii_str(data)
    } else {
        None
    };
    let decoded = match short {
        Some(ascii) => std::borrow::Cow::Borrowed(ascii),
        None => decode_cow(data),
    };
    let mut text = String::with_capacity(decoded.len() + extra);
    text.push_str(&decoded);
    text
}

/// Long data, decoded into a new `String` with room for `extra` more bytes,
/// piece by piece: each piece is checked and then copied while it is still
/// in L1 (one check of the whole, then one copy, read it twice from L2).
fn decode_long(data: &[u8], extra: usize) -> String {
    let mut text = String::with_capacity(data.len() + extra);
    let mut decoder = PieceDecoder::default();
    for piece in data.chunks(PIECE) {
        decoder.push(&mut text, piece);
    }
    decoder.finish(&mut text);
    text
}

/// The data of `Data::Text` (long lines, already decoded) as the start of
/// the event's text, with room for `extra` more bytes. (Out of line:
/// `dispatch` is inlined into the loops for small events.)
#[inline(never)]
fn take_text(data: &mut String, capacity_hint: &mut usize, extra: usize) -> String {
    let need = data.len() + extra;
    if data.len() > COPY_MAX && data.capacity() <= 2 * need {
        // The buffer becomes the event's text (no check, no copy). The next
        // one is sized like it, with room for type, ID and the event's
        // header (the hint taken before growing it made every event grow
        // its buffer once more).
        let mut text = std::mem::take(data);
        text.reserve_exact(extra);
        *capacity_hint = text.capacity();
        text
    } else {
        // Copied, so that an event keeps no buffer much larger than itself
        // (the spill buffer is sized from earlier events).
        let mut text = String::with_capacity(need);
        text.push_str(data);
        data.clear();
        text
    }
}

/// The type of the event being dispatched, `""` for the default.
#[inline(always)]
fn event_type(latest: &str, type_set: bool) -> &str {
    match latest {
        t if !type_set || t == "message" => "",
        t => t,
    }
}

/// Parses a whole event stream at once: [`Parser::feed`], [`Parser::finish`],
/// and every frame. An unfinished last event is discarded.
///
/// # Errors
///
/// The first [`ParseError`] (with the default limits).
///
/// ```
/// use sse_session::{parse_all, Frame, MessageEvent};
///
/// let frames = parse_all(b"\xEF\xBB\xBFdata: caf\xC3\xA9\r\n\r\ndata: lost")?;
/// assert_eq!(frames, [Frame::Event(MessageEvent::new("message", "café", ""))]);
/// # Ok::<(), sse_session::ParseError>(())
/// ```
pub fn parse_all(input: &[u8]) -> Result<Vec<Frame>, ParseError> {
    let mut parser = Parser::new();
    parser.feed(input);
    parser.finish();
    let mut frames = Vec::new();
    while let Some(frame) = parser.next_frame()? {
        frames.push(frame);
    }
    Ok(frames)
}

/// The first CR or LF. Most lines are short: a plain loop over the first
/// bytes is cheaper than setting up a vectorised search, which takes over
/// for long lines.
#[inline]
fn find_line_break(hay: &[u8]) -> Option<usize> {
    const SHORT: usize = 8;
    let head = hay.len().min(SHORT);
    if let Some(i) = hay[..head].iter().position(|&b| b == b'\n' || b == b'\r') {
        return Some(i);
    }
    memchr::memchr2(b'\n', b'\r', &hay[head..]).map(|i| i + head)
}

/// An `event:` value: streams repeat their types, so compare before decoding.
#[inline]
fn set_type(event_type: &mut String, value: &[u8]) {
    if !same_bytes(event_type.as_bytes(), value) {
        event_type.clear();
        push_decoded(event_type, value);
    }
}

/// An `id:` value (ignored if it has a NUL): sets the last event ID buffer.
/// The buffer is `last_id` itself while `!id_dirty`; else `id_buf`, which
/// then holds the new ID, decoded, different from `last_id`.
#[inline]
fn set_id(value: &[u8], last_id: &str, id_buf: &mut String, id_dirty: &mut bool) {
    if has_nul(value) {
        return;
    }
    if same_bytes(last_id.as_bytes(), value) {
        *id_dirty = false;
    } else {
        id_buf.clear();
        push_decoded(id_buf, value);
        *id_dirty = true;
    }
}

#[derive(Clone, Copy)]
enum Field {
    Data,
    Event,
    Id,
    Retry,
}

/// If `line` is the field `name` (`name` alone, or `name:` and a value),
/// the offset of its value, after the one optional leading space.
#[inline]
fn value_offset(line: &[u8], name: &[u8]) -> Option<usize> {
    match line.strip_prefix(name)? {
        [] => Some(name.len()),
        [b':', b' ', ..] => Some(name.len() + 2),
        [b':', ..] => Some(name.len() + 1),
        _ => None,
    }
}

fn strip_space(value: &[u8]) -> &[u8] {
    match value {
        [b' ', rest @ ..] => rest,
        _ => value,
    }
}

/// `String::from_utf8_lossy`, with a faster check for the (usual) valid
/// case: `simdutf8`'s SIMD check from 64 bytes on (several times
/// `std::str::from_utf8`'s speed on long text), `std`'s below.
#[inline(never)]
fn decode_cow(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

fn decode(bytes: &[u8]) -> String {
    decode_cow(bytes).into_owned()
}

/// `Some(n)` if `value` is one or more ASCII digits and fits in a `u64`.
fn parse_retry(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in value {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(input: &[u8]) -> Vec<(String, String, String)> {
        parse_all(input)
            .unwrap()
            .into_iter()
            .filter_map(|f| match f {
                Frame::Event(e) => Some((
                    e.event_type().to_owned(),
                    e.data().to_owned(),
                    e.last_event_id().to_owned(),
                )),
                _ => None,
            })
            .collect()
    }

    fn ev(t: &str, d: &str, i: &str) -> (String, String, String) {
        (t.into(), d.into(), i.into())
    }

    /// The events of `input` fed in chunks of `size` bytes (as `Bytes`, or
    /// through `feed`), drained after each.
    fn events_chunked(input: &[u8], size: usize, as_bytes: bool) -> Vec<(String, String, String)> {
        let mut p = Parser::new();
        let mut got = Vec::new();
        for piece in input.chunks(size) {
            if as_bytes {
                p.feed_bytes(Bytes::copy_from_slice(piece));
            } else {
                p.feed(piece);
            }
            while let Some(f) = p.next_frame().unwrap() {
                if let Frame::Event(e) = f {
                    got.push(ev(e.event_type(), e.data(), e.last_event_id()));
                }
            }
        }
        got
    }

    /// `head`, a `data:` line per entry of `lines`, then `tail`; and the
    /// event data those lines must give (each line decoded by itself).
    fn data_lines(head: &[u8], lines: &[&[u8]], tail: &[u8]) -> (Vec<u8>, String) {
        let mut wire = head.to_vec();
        for line in lines {
            wire.extend_from_slice(b"data: ");
            wire.extend_from_slice(line);
            wire.push(b'\n');
        }
        wire.extend_from_slice(tail);
        let joined = lines
            .iter()
            .map(|l| String::from_utf8_lossy(l))
            .collect::<Vec<_>>()
            .join("\n");
        (wire, joined)
    }

    #[test]
    fn cr_at_chunk_end_then_lf() {
        let mut p = Parser::new();
        p.feed(b"data: a\r");
        assert_eq!(p.next_frame(), Ok(None));
        p.feed(b"\ndata: b\r\n\r\n");
        let Ok(Some(Frame::Event(e))) = p.next_frame() else {
            panic!("expected an event")
        };
        assert_eq!(e.data(), "a\nb");
        assert_eq!(p.next_frame(), Ok(None));
    }

    #[test]
    fn long_id_is_shared() {
        let id = "x".repeat(INLINE_ID_MAX + 1);
        let input = format!("id: {id}\ndata: 1\n\ndata: 2\n\n");
        assert_eq!(
            events(input.as_bytes()),
            [ev("message", "1", &id), ev("message", "2", &id)]
        );
    }

    #[test]
    fn pending_data_line_survives_release() {
        let mut p = Parser::new();
        p.feed(b"xx\ndata: one\n");
        assert_eq!(p.next_frame(), Ok(None));
        p.feed(b"\n");
        assert!(matches!(p.next_frame(), Ok(Some(Frame::Event(e))) if e.data() == "one"));
    }

    #[test]
    fn feed_after_finish_is_a_new_stream() {
        let mut p = Parser::new();
        p.feed(b"id: 1\ndata: a\n\ndata: cut");
        p.finish();
        p.feed(b"\xEF\xBB\xBFdata: b\n\n");
        let mut got = Vec::new();
        while let Some(f) = p.next_frame().unwrap() {
            got.push(f);
        }
        assert_eq!(
            got,
            [
                Frame::Event(MessageEvent::new("", "a", "1")),
                Frame::Event(MessageEvent::new("", "b", "1")),
            ]
        );
    }

    #[test]
    fn long_data_line_is_spilled_and_its_buffer_kept() {
        let mut p = Parser::new();
        p.feed(b"id: 5\ndata: ");
        p.feed(&[b'a'; 3000]);
        assert_eq!(p.next_frame(), Ok(None));
        assert_eq!(p.spill_state, Spill::Open);
        p.feed(&[b'b'; 3000]);
        assert_eq!(p.spill_state, Spill::Open);
        assert_eq!(buf!(p).len() - p.pos, 0, "spilled bytes are not buffered");
        p.feed(b"c\r");
        assert_eq!(p.spill_state, Spill::Closed);
        p.feed(b"\n\r\n");
        let Ok(Some(Frame::Event(e))) = p.next_frame() else {
            panic!("expected an event")
        };
        assert_eq!(e.data().len(), 6001);
        assert!(e.data().ends_with("bc"));
        assert_eq!(e.last_event_id(), "5");
        assert_eq!(p.next_frame(), Ok(None));
        assert!(
            p.text.capacity() >= 6001,
            "a buffer this size is kept for the next long line"
        );
    }

    #[test]
    fn huge_data_becomes_the_text_and_sizes_the_next() {
        let mut p = Parser::new();
        let big = COPY_MAX + 1000;
        for round in 0..2 {
            p.feed(b"data: ");
            p.feed(&[b'x'; SPILL_MIN]);
            assert_eq!(p.next_frame(), Ok(None));
            assert_eq!(p.spill_state, Spill::Open, "round {round}");
            p.feed(&vec![b'x'; big - SPILL_MIN]);
            p.feed(b"\n\n");
            let Ok(Some(Frame::Event(e))) = p.next_frame() else {
                panic!("expected an event in round {round}")
            };
            assert_eq!(e.data().len(), big);
            assert_eq!(p.next_frame(), Ok(None));
            assert_eq!(p.text.capacity(), 0, "the buffer went to the event");
            assert!(
                p.capacity_hint >= big + EVENT_ROOM,
                "the next one is sized like it, with room for the event's header"
            );
            // The hint is the buffer as handed over (after room was made for
            // the header), so the next one does not grow again.
            assert_eq!(e.into_data().capacity(), p.capacity_hint, "round {round}");
        }
    }

    /// A long line after a much longer one: its spill buffer was sized for
    /// the first, so the event gets a copy and the parser keeps the buffer.
    #[test]
    fn oversized_buffer_is_kept_not_handed_over() {
        let mut p = Parser::new();
        for (round, len) in [(0, 200 * 1024), (1, COPY_MAX + 100)] {
            p.feed(b"data: ");
            for piece in vec![b'y'; len].chunks(4096) {
                p.feed(piece);
                assert_eq!(p.next_frame(), Ok(None));
            }
            p.feed(b"\n\n");
            let Ok(Some(Frame::Event(e))) = p.next_frame() else {
                panic!("expected an event in round {round}")
            };
            assert_eq!(e.data().len(), len);
        }
        assert!(
            p.text.capacity() >= 200 * 1024,
            "the big buffer stays with the parser"
        );
    }

    /// Data around the sizes where the parser changes its UTF-8 check (SIMD
    /// from 64 bytes, `LONG_DATA`, `COPY_MAX`), valid and broken at its
    /// start, middle and end, in one line and in two, whole and in chunks:
    /// always the lossy decoding of the data, with type and ID intact.
    #[test]
    fn long_data_is_decoded_the_same_at_every_size() {
        for len in [
            63,
            64,
            65,
            LONG_DATA,
            LONG_DATA + 1,
            COPY_MAX,
            COPY_MAX + 1,
            40_000,
        ] {
            for broken in [None, Some(0), Some(len / 2), Some(len - 1)] {
                let mut data: Vec<u8> = "é".repeat(len / 2).into_bytes();
                data.resize(len, b'x');
                if let Some(at) = broken {
                    data[at] = 0xFF;
                }
                let half = len / 2;
                for lines in [vec![&data[..]], vec![&data[..half], &data[half..]]] {
                    let (wire, joined) = data_lines(b"event: t\nid: \xC3\xA9\n", &lines, b"\n");
                    let want = vec![ev("t", &joined, "é")];
                    assert_eq!(events(&wire), want, "len {len}, broken {broken:?}");
                    for chunk in [1000, 4096] {
                        let got = events_chunked(&wire, chunk, true);
                        assert_eq!(got, want, "len {len}, broken {broken:?}, chunk {chunk}");
                    }
                }
            }
        }
    }

    /// Long lines take the spill path when chunked, where each piece is
    /// decoded as it arrives: characters split at every offset by the chunk
    /// boundaries, broken sequences, and a spilled line before, after and
    /// between short lines all decode as the lines would by themselves.
    #[test]
    fn spilled_lines_decode_like_the_whole() {
        let mut long = Vec::new();
        while long.len() < 3 * SPILL_MIN {
            long.extend_from_slice("aé€😀".as_bytes());
            if long.len() % 7 == 0 {
                long.extend_from_slice(b"\xFF\xE2\x82");
            }
        }
        let short: &[u8] = b"s\xC3\xA9";
        let shapes: [&[&[u8]]; 6] = [
            &[&long],
            &[&long, &long],
            &[&long, short],
            &[short, &long],
            &[&long, short, &long],
            &[&long[..SPILL_MIN + 1], &long[1..]],
        ];
        for lines in shapes {
            let (wire, joined) = data_lines(b"id: 1\n", lines, b"\ndata: after\n\n");
            let want = vec![ev("message", &joined, "1"), ev("message", "after", "1")];
            assert_eq!(events(&wire), want);
            for chunk in (1000..1010).chain([4096]) {
                let got = events_chunked(&wire, chunk, false);
                assert_eq!(got, want, "{} lines, chunk {chunk}", lines.len());
            }
        }
    }

    /// Long data in one buffer is decoded in pieces (`decode_long`):
    /// characters of every width cut at every offset by the piece ends,
    /// and broken bytes around them, decode as the whole does.
    #[test]
    fn long_data_decoded_in_pieces_equals_the_whole() {
        for ch in ["é", "€", "😀"] {
            for shift in 0..4 {
                let mut data = "a".repeat(shift).into_bytes();
                while data.len() < PIECEWISE_MIN + 2 * PIECE {
                    data.extend_from_slice(ch.as_bytes());
                }
                for broken in [None, Some(PIECE - 1), Some(PIECE), Some(2 * PIECE + 1)] {
                    let mut data = data.clone();
                    if let Some(at) = broken {
                        data[at] = 0xFF;
                    }
                    let want = String::from_utf8_lossy(&data);
                    assert_eq!(decode_long(&data, 0), want, "{ch} {shift} {broken:?}");
                    let mut wire = b"data: ".to_vec();
                    wire.extend_from_slice(&data);
                    wire.extend_from_slice(b"\n\n");
                    assert_eq!(events(&wire), [ev("message", &want, "")]);
                }
            }
        }
    }

    /// The limits count a spilled line as received, not as decoded (an
    /// invalid byte decodes to three).
    #[test]
    fn spilled_line_limits_count_received_bytes() {
        let len = 3 * SPILL_MIN;
        let config = ParserConfig::default()
            .max_line_len(len + 6)
            .max_event_len(len);
        let mut p = Parser::with_config(config);
        p.feed(b"data: ");
        for piece in vec![0xFF; len].chunks(1000) {
            p.feed(piece);
            assert_eq!(p.next_frame(), Ok(None));
        }
        assert_eq!(p.spill_state, Spill::Open);
        p.feed(b"\n\n");
        let Ok(Some(Frame::Event(e))) = p.next_frame() else {
            panic!("expected an event")
        };
        assert_eq!(e.data(), "\u{FFFD}".repeat(len));
    }

    #[test]
    fn spilled_line_over_the_limit() {
        let mut p = Parser::with_config(ParserConfig::default().max_line_len(4000));
        p.feed(b"data: ");
        p.feed(&[b'a'; 3000]);
        assert_eq!(p.next_frame(), Ok(None));
        p.feed(&[b'a'; 3000]);
        assert_eq!(p.spill_state, Spill::Overflow);
        assert_eq!(
            p.next_frame().map_err(|e| e.kind()),
            Err(ParseErrorKind::LineTooLong)
        );
        p.feed(b"a\n\ndata: ok\n\n");
        assert!(matches!(p.next_frame(), Ok(Some(Frame::Event(e))) if e.data() == "ok"));
    }

    #[test]
    fn types_are_send_sync_and_errors_are_static() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<Parser>();
        send_sync::<Frame>();
        send_sync::<MessageEvent>();
        send_sync::<ParseError>();
        fn error<T: std::error::Error + Send + Sync + 'static>() {}
        error::<ParseError>();
    }

    #[test]
    fn small_data_events_keep_type_and_id() {
        assert_eq!(
            events(b"data: a\n\nid: 1\ndata: b\n\nid\nevent: t\ndata: c\n\nevent\ndata: d\n\n"),
            [
                ev("message", "a", ""),
                ev("message", "b", "1"),
                ev("t", "c", ""),
                ev("message", "d", "")
            ]
        );
    }

    #[test]
    fn one_pass_dispatch_falls_back_on_invalid_utf8() {
        // Events too big to be inline take the one-pass path; invalid UTF-8
        // in the data or in a pending ID must still be replaced, and the ID
        // must still become the last event ID.
        let data = "d".repeat(30);
        let mut input = Vec::new();
        input.extend_from_slice(b"event: up\nid: ok\xFF\ndata: ");
        input.extend_from_slice(data.as_bytes());
        input.extend_from_slice(b"\n\ndata: \xC3");
        input.extend_from_slice(data.as_bytes());
        input.extend_from_slice(b"\n\nid: \xE2\x82\xAC2\ndata: ");
        input.extend_from_slice(data.as_bytes());
        input.extend_from_slice(b"\n\n");
        assert_eq!(
            events(&input),
            [
                ev("up", &data, "ok\u{FFFD}"),
                ev("message", &format!("\u{FFFD}{data}"), "ok\u{FFFD}"),
                ev("message", &data, "\u{20AC}2"),
            ]
        );
    }

    #[test]
    fn data_and_id_are_decoded_apart_even_when_their_bytes_join() {
        // Data ending with the first bytes of a euro sign, an ID of its last:
        // the bytes joined are valid UTF-8, but each field is decoded by
        // itself, so both broken ends become U+FFFD (the fuzzer found this).
        let data = "d".repeat(30);
        for (tail, id) in [(&b"\xE2\x82"[..], &b"\xAC"[..]), (b"\xE2", b"\x82\xAC")] {
            let mut input = b"id: ".to_vec();
            input.extend_from_slice(id);
            input.extend_from_slice(b"\ndata: ");
            input.extend_from_slice(data.as_bytes());
            input.extend_from_slice(tail);
            input.extend_from_slice(b"\n\n");
            let ids = "\u{FFFD}".repeat(id.len());
            assert_eq!(
                events(&input),
                [ev("message", &format!("{data}\u{FFFD}"), &ids)],
                "{input:?}"
            );
        }
    }

    /// Every frame and error of `input` under `config`, fed whole or in
    /// chunks of `size` bytes through `feed_bytes`, then finished.
    fn outcomes(input: &[u8], size: usize, config: ParserConfig) -> Vec<String> {
        let mut p = Parser::with_config(config);
        let mut out = Vec::new();
        let mut drain = |p: &mut Parser| loop {
            match p.next_frame() {
                Ok(Some(f)) => out.push(format!("{f:?}")),
                Ok(None) => break,
                Err(e) => out.push(format!("error: {e}")),
            }
        };
        for piece in input.chunks(size.max(1)) {
            p.feed_bytes(Bytes::copy_from_slice(piece));
            drain(&mut p);
        }
        p.finish();
        drain(&mut p);
        out
    }

    /// Long lines in one buffer are searched and decoded piece by piece
    /// (`long_data_line`); in chunks they are spilled. Both give the same
    /// frames and errors, with characters, invalid bytes and line ends at
    /// and around the piece boundaries.
    #[test]
    fn long_lines_whole_and_chunked_agree() {
        let long = |len: usize, at: usize, insert: &[u8]| {
            let mut v: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            v.splice(at..at, insert.iter().copied());
            v
        };
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        for at in [
            PIECE - 8,
            PIECE - 2,
            PIECE - 1,
            PIECE,
            PIECE + 1,
            2 * PIECE - 3,
        ] {
            for insert in [
                &b""[..],
                "\u{e9}".as_bytes(),
                "\u{1F600}".as_bytes(),
                b"\xff",
                b"\xe2\x82",
            ] {
                let line = long(3 * PIECE, at - 6, insert);
                for end in [&b"\n\n"[..], b"\r\n\r\n", b"\r\r", b"\n"] {
                    let mut wire = b"id: 1\ndata: ".to_vec();
                    wire.extend_from_slice(&line);
                    wire.extend_from_slice(end);
                    wire.extend_from_slice(b"data: after\n\n");
                    inputs.push(wire);
                }
            }
        }
        // A long line as the second data line, after a short and a long one;
        // long lines that are not data; a long line at the very end.
        let big = long(LONG_SCAN + 5, 0, b"");
        for (head, tail) in [
            (&b"data: x\ndata: "[..], &b"\ndata: y\n\n"[..]),
            (b"data: ", b"\ndata: "),
            (b": ", b"\ndata: z\n\n"),
            (b"id: ", b"\ndata: z\n\n"),
            (b"event: ", b"\ndata: z\n\n"),
            (b"dat", b"\ndata: z\n\n"),
            (b"data:", b""),
        ] {
            let mut wire = head.to_vec();
            wire.extend_from_slice(&big);
            wire.extend_from_slice(tail);
            if head == b"data: " {
                wire.extend_from_slice(&big);
                wire.extend_from_slice(b"\n\n");
            }
            inputs.push(wire);
        }
        let configs = [
            ParserConfig::default(),
            ParserConfig::default().max_line_len(LONG_SCAN + 100),
            ParserConfig::default().max_event_len(LONG_SCAN + 100),
        ];
        for wire in &inputs {
            for config in &configs {
                let whole = outcomes(wire, wire.len(), *config);
                if *config == ParserConfig::default() && wire.ends_with(b"data: after\n\n") {
                    assert!(whole.last().is_some_and(|f| f.contains("after\"")));
                }
                for size in [1000, 4096, 8191] {
                    let chunked = outcomes(wire, size, *config);
                    // (No `assert_eq!`: the frames are tens of KiB.)
                    let first_diff = whole.iter().zip(&chunked).position(|(a, b)| a != b);
                    assert!(
                        whole.len() == chunked.len() && first_diff.is_none(),
                        "{size} {config:?}: {} vs {} frames, first difference {first_diff:?}",
                        whole.len(),
                        chunked.len()
                    );
                }
            }
        }
        // And the value itself, checked against a plain decode.
        let line = long(3 * PIECE, PIECE - 7, "\u{1F600}".as_bytes());
        let mut wire = b"data: ".to_vec();
        wire.extend_from_slice(&line);
        wire.extend_from_slice(b"\n\n");
        assert_eq!(
            events(&wire),
            [ev("message", &String::from_utf8_lossy(&line), "")]
        );
    }

    #[test]
    fn retry_overflow_ignored() {
        assert_eq!(parse_retry(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_retry(b"18446744073709551616"), None);
        assert_eq!(parse_retry(b""), None);
        assert_eq!(parse_retry(b"+1"), None);
    }
}
