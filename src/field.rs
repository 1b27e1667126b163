//! Validated event fields: [`EventName`], [`EventId`] and [`RetryDelay`].
//!
//! The `event:` and `id:` lines of an event stream end at the first CR or LF, so a
//! value that contains one would let whoever chose it inject fields (or whole
//! events) into the stream. These newtypes check their value once, at
//! construction, and an [`Event`](crate::Event) holding them can therefore always
//! be encoded: encoding never fails and never alters a value.
//!
//! | type | wire line | rejected bytes | notes |
//! |---|---|---|---|
//! | [`EventName`] | `event: NAME` | CR, LF | sets the client's event type |
//! | [`EventId`] | `id: ID` | CR, LF, NUL | the empty ID is valid: it resets the client's last event ID |
//! | [`RetryDelay`] | `retry: MS` | — | whole milliseconds, `u64` |
//!
//! Values built from [`Bytes`] must also be valid UTF-8. Every failure is an
//! [`InvalidField`] that names the field, what is wrong ([`FieldErrorKind`]) and
//! the byte offset of the first offending byte.
//!
//! See the WHATWG HTML standard,
//! [interpreting an event stream](https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;

// ---------------------------------------------------------------------------
// errors

/// Which field an [`InvalidField`] error is about.
///
/// ```
/// use sse_session::{EventId, FieldKind};
///
/// let err = EventId::try_from("a\nb").unwrap_err();
/// assert_eq!(err.field(), FieldKind::Id);
/// assert_eq!(FieldKind::Id.to_string(), "event id");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldKind {
    /// The event name ([`EventName`], the `event:` field).
    Event,
    /// The event ID ([`EventId`], the `id:` field).
    Id,
    /// The reconnection delay ([`RetryDelay`], the `retry:` field).
    Retry,
    /// The data of an event given as bytes ([`Event::from_bytes`](crate::Event::from_bytes)),
    /// which must be UTF-8.
    Data,
}

impl FieldKind {
    fn as_str(self) -> &'static str {
        match self {
            FieldKind::Event => "event name",
            FieldKind::Id => "event id",
            FieldKind::Retry => "retry delay",
            FieldKind::Data => "event data",
        }
    }
}

impl fmt::Display for FieldKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is wrong with a field value; see [`InvalidField::kind`].
///
/// ```
/// use sse_session::{EventName, FieldErrorKind};
///
/// let err = EventName::try_from("a\rb").unwrap_err();
/// assert_eq!(err.kind(), FieldErrorKind::CarriageReturn);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldErrorKind {
    /// The value contains a carriage return (`\r`), which would end the line.
    CarriageReturn,
    /// The value contains a line feed (`\n`), which would end the line.
    LineFeed,
    /// An event ID contains a NUL byte; clients ignore such an `id:` line.
    Nul,
    /// The value, given as bytes, is not valid UTF-8.
    InvalidUtf8,
    /// A retry delay given as text contains something other than ASCII digits.
    NotDigits,
    /// A retry delay given as text is empty.
    Empty,
    /// A retry delay does not fit in a `u64` number of milliseconds.
    TooLarge,
    /// A retry delay given as a [`Duration`] is not a whole number of milliseconds.
    NotWholeMillis,
}

/// A field value was rejected: which field, what is wrong, and where.
///
/// Returned by the constructors of [`EventName`], [`EventId`] and
/// [`RetryDelay`] and by [`EventBuilder::build`](crate::EventBuilder::build).
/// The error never contains the rejected value itself.
///
/// ```
/// use sse_session::{EventName, FieldErrorKind, FieldKind};
///
/// let err = EventName::try_from("x\ndata: injected").unwrap_err();
/// assert_eq!(err.field(), FieldKind::Event);
/// assert_eq!(err.kind(), FieldErrorKind::LineFeed);
/// assert_eq!(err.offset(), 1);
/// assert_eq!(err.to_string(), "event name contains a line feed at byte 1");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InvalidField {
    field: FieldKind,
    kind: FieldErrorKind,
    offset: usize,
}

impl InvalidField {
    pub(crate) const fn new(field: FieldKind, kind: FieldErrorKind, offset: usize) -> Self {
        InvalidField {
            field,
            kind,
            offset,
        }
    }

    /// The field whose value was rejected.
    ///
    /// ```
    /// use sse_session::{FieldKind, RetryDelay};
    ///
    /// let err = "12a".parse::<RetryDelay>().unwrap_err();
    /// assert_eq!(err.field(), FieldKind::Retry);
    /// ```
    #[must_use]
    pub fn field(&self) -> FieldKind {
        self.field
    }

    /// What is wrong with the value.
    ///
    /// ```
    /// use sse_session::{EventId, FieldErrorKind};
    ///
    /// let err = EventId::try_from("a\0b").unwrap_err();
    /// assert_eq!(err.kind(), FieldErrorKind::Nul);
    /// ```
    #[must_use]
    pub fn kind(&self) -> FieldErrorKind {
        self.kind
    }

    /// The byte offset of the first offending byte in the value.
    ///
    /// For [`FieldErrorKind::InvalidUtf8`] it is the end of the valid UTF-8
    /// prefix; for [`FieldErrorKind::TooLarge`] from text it is the digit at
    /// which the value overflowed. Errors about a [`Duration`] (which has no
    /// bytes) and [`FieldErrorKind::Empty`] report offset 0.
    ///
    /// ```
    /// use sse_session::EventId;
    ///
    /// let err = EventId::try_from("abc\rdef").unwrap_err();
    /// assert_eq!(err.offset(), 3);
    /// ```
    #[must_use]
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl fmt::Display for InvalidField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = self.field.as_str();
        let at = self.offset;
        match self.kind {
            FieldErrorKind::CarriageReturn => {
                write!(f, "{field} contains a carriage return at byte {at}")
            }
            FieldErrorKind::LineFeed => write!(f, "{field} contains a line feed at byte {at}"),
            FieldErrorKind::Nul => write!(f, "{field} contains a NUL byte at byte {at}"),
            FieldErrorKind::InvalidUtf8 => write!(f, "{field} is not valid UTF-8 at byte {at}"),
            FieldErrorKind::NotDigits => write!(f, "{field} contains a non-digit at byte {at}"),
            FieldErrorKind::Empty => write!(f, "{field} is empty"),
            FieldErrorKind::TooLarge => {
                write!(f, "{field} exceeds {} milliseconds", u64::MAX)
            }
            FieldErrorKind::NotWholeMillis => {
                write!(f, "{field} is not a whole number of milliseconds")
            }
        }
    }
}

impl std::error::Error for InvalidField {}

// ---------------------------------------------------------------------------
// validation

/// Checks an event name: the first CR or LF, if any, is an error.
#[inline]
pub(crate) fn check_name(bytes: &[u8]) -> Result<(), InvalidField> {
    match crate::unchecked::find_break(bytes) {
        None => Ok(()),
        Some(at) => Err(line_break(FieldKind::Event, bytes[at], at)),
    }
}

/// Checks an event ID: the first CR, LF or NUL, if any, is an error.
#[inline]
pub(crate) fn check_id(bytes: &[u8]) -> Result<(), InvalidField> {
    let brk = crate::unchecked::find_break(bytes);
    let before = &bytes[..brk.unwrap_or(bytes.len())];
    if crate::unchecked::has_nul(before) {
        if let Some(at) = memchr::memchr(0, before) {
            return Err(line_break(FieldKind::Id, 0, at));
        }
    }
    match brk {
        None => Ok(()),
        Some(at) => Err(line_break(FieldKind::Id, bytes[at], at)),
    }
}

/// The error for a forbidden `byte` (CR, LF or NUL) found at `at`.
const fn line_break(field: FieldKind, byte: u8, at: usize) -> InvalidField {
    let kind = match byte {
        b'\r' => FieldErrorKind::CarriageReturn,
        b'\n' => FieldErrorKind::LineFeed,
        _ => FieldErrorKind::Nul,
    };
    InvalidField::new(field, kind, at)
}

/// Checks UTF-8 and then `check`, reporting whichever problem comes first.
fn check_bytes(
    bytes: &[u8],
    field: FieldKind,
    check: fn(&[u8]) -> Result<(), InvalidField>,
) -> Result<(), InvalidField> {
    let control = check(bytes);
    // Only the prefix before a control byte needs to be UTF-8 checked: if it is
    // valid, the control byte is the first problem.
    let prefix = match control {
        Ok(()) => bytes,
        Err(e) => &bytes[..e.offset],
    };
    match std::str::from_utf8(prefix) {
        Ok(_) => control,
        Err(e) => Err(InvalidField::new(
            field,
            FieldErrorKind::InvalidUtf8,
            e.valid_up_to(),
        )),
    }
}

/// Const check for `from_static`: the first forbidden byte, if any.
const fn first_forbidden(bytes: &[u8], forbid_nul: bool) -> Option<usize> {
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\r' || b == b'\n' || (forbid_nul && b == 0) {
            return Some(i);
        }
        i += 1;
    }
    None
}

// ---------------------------------------------------------------------------
// EventName / EventId

/// Longest value stored inline (so that [`Text`] is 40 bytes).
const INLINE: usize = 38;

/// The bytes of an [`EventName`] or [`EventId`]: short values in place (no
/// allocation to build, a plain copy to clone), others as [`Bytes`] (literals
/// and values handed over without a copy).
#[derive(Clone)]
enum Text {
    Inline { len: u8, buf: [u8; INLINE] },
    Shared(Bytes),
}

impl Text {
    /// A copy of `s`: inline if it fits, else on the heap.
    fn copy(s: &[u8]) -> Text {
        if s.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..s.len()].copy_from_slice(s);
            Text::Inline {
                len: s.len() as u8,
                buf,
            }
        } else {
            Text::Shared(Bytes::copy_from_slice(s))
        }
    }

    /// Inline if it fits (the string is dropped), else the string's own buffer.
    fn from_string(s: String) -> Text {
        if s.len() <= INLINE {
            Text::copy(s.as_bytes())
        } else {
            Text::Shared(Bytes::from(s))
        }
    }

    /// `bytes` as they are, without a copy (the parser hands over slices of
    /// its input).
    fn from_bytes(bytes: Bytes) -> Text {
        Text::Shared(bytes)
    }

    #[inline]
    fn as_bytes(&self) -> &[u8] {
        match self {
            Text::Inline { len, buf } => &buf[..usize::from(*len)],
            Text::Shared(bytes) => bytes,
        }
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Text::Inline { .. } => Bytes::copy_from_slice(self.as_bytes()),
            Text::Shared(bytes) => bytes,
        }
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Text {}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Text) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Text) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

/// Shared impls for the two Bytes-backed text fields.
macro_rules! text_field {
    ($ty:ident, $field:expr, $check:ident, $example:literal) => {
        impl $ty {
            /// The value as a string slice.
            ///
            /// ```
            #[doc = concat!("use sse_session::", stringify!($ty), ";")]
            ///
            #[doc = concat!("let v = ", stringify!($ty), "::from_static(\"", $example, "\");")]
            #[doc = concat!("assert_eq!(v.as_str(), \"", $example, "\");")]
            /// ```
            #[must_use]
            pub fn as_str(&self) -> &str {
                // Every constructor checked UTF-8 (or, for `from_bytes_unchecked`,
                // the crate-internal caller guarantees it).
                std::str::from_utf8(self.0.as_bytes()).expect("field value was validated as UTF-8")
            }

            /// The value as bytes, exactly as it is written on the wire.
            ///
            /// ```
            #[doc = concat!("use sse_session::", stringify!($ty), ";")]
            ///
            #[doc = concat!("let v = ", stringify!($ty), "::from_static(\"", $example, "\");")]
            #[doc = concat!("assert_eq!(v.as_bytes(), b\"", $example, "\");")]
            /// ```
            #[must_use]
            pub fn as_bytes(&self) -> &[u8] {
                self.0.as_bytes()
            }

            /// The length of the value in bytes.
            ///
            /// ```
            #[doc = concat!("use sse_session::", stringify!($ty), ";")]
            ///
            #[doc = concat!("assert_eq!(", stringify!($ty), "::from_static(\"", $example, "\").len(), ", stringify!($example), ".len());")]
            /// ```
            #[must_use]
            pub fn len(&self) -> usize {
                self.0.as_bytes().len()
            }

            /// Whether the value is empty.
            ///
            /// ```
            #[doc = concat!("use sse_session::", stringify!($ty), ";")]
            ///
            #[doc = concat!("assert!(", stringify!($ty), "::from_static(\"\").is_empty());")]
            /// ```
            #[must_use]
            pub fn is_empty(&self) -> bool {
                self.0.as_bytes().is_empty()
            }

            /// Wraps bytes the caller has already validated (UTF-8, and no
            /// forbidden byte), without copying.
            #[allow(dead_code)] // used by the parser
            pub(crate) fn from_bytes_unchecked(bytes: Bytes) -> Self {
                debug_assert!($check(&bytes).is_ok() && std::str::from_utf8(&bytes).is_ok());
                $ty(Text::from_bytes(bytes))
            }

            /// A copy of a value the caller has already validated.
            pub(crate) fn copy_unchecked(s: &str) -> Self {
                debug_assert!($check(s.as_bytes()).is_ok());
                $ty(Text::copy(s.as_bytes()))
            }

            fn from_checked_bytes(bytes: Bytes) -> Result<Self, InvalidField> {
                check_bytes(&bytes, $field, $check)?;
                Ok($ty(Text::from_bytes(bytes)))
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = InvalidField;

            /// Up to 38 bytes are stored inline (no allocation); a longer
            /// value is copied to the heap.
            fn try_from(s: &str) -> Result<Self, InvalidField> {
                $check(s.as_bytes())?;
                Ok($ty(Text::copy(s.as_bytes())))
            }
        }

        impl TryFrom<String> for $ty {
            type Error = InvalidField;

            /// Takes over the string's buffer without copying (up to 38 bytes
            /// are stored inline instead).
            fn try_from(s: String) -> Result<Self, InvalidField> {
                $check(s.as_bytes())?;
                Ok($ty(Text::from_string(s)))
            }
        }

        impl TryFrom<&String> for $ty {
            type Error = InvalidField;

            fn try_from(s: &String) -> Result<Self, InvalidField> {
                $ty::try_from(s.as_str())
            }
        }

        impl TryFrom<Bytes> for $ty {
            type Error = InvalidField;

            /// Checks UTF-8 as well; the error is the first problem in the value.
            fn try_from(bytes: Bytes) -> Result<Self, InvalidField> {
                $ty::from_checked_bytes(bytes)
            }
        }

        impl FromStr for $ty {
            type Err = InvalidField;

            fn from_str(s: &str) -> Result<Self, InvalidField> {
                $ty::try_from(s)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl AsRef<[u8]> for $ty {
            fn as_ref(&self) -> &[u8] {
                self.0.as_bytes()
            }
        }

        impl From<$ty> for Bytes {
            /// Without copying, except for a value stored inline (38 bytes at
            /// most), which is copied once.
            fn from(v: $ty) -> Bytes {
                v.0.into_bytes()
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($ty)).field(&self.as_str()).finish()
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.0.as_bytes() == other.as_bytes()
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.0.as_bytes() == other.as_bytes()
            }
        }

        impl PartialEq<$ty> for str {
            fn eq(&self, other: &$ty) -> bool {
                other == self
            }
        }

        impl PartialEq<$ty> for &str {
            fn eq(&self, other: &$ty) -> bool {
                other == *self
            }
        }
    };
}

/// The name of an event: the value of an [`event:`] line, which sets the
/// event's type on the client (`addEventListener(name, ..)`; without a name the
/// type is `message`).
///
/// A name never contains CR or LF, so it cannot end its line early and inject
/// other fields. Any other text, including the empty string, is accepted.
/// A name of up to 38 bytes is stored inline (building one from a `&str`
/// does not allocate); a longer one, a literal ([`from_static`](EventName::from_static))
/// or [`Bytes`] is shared, so cloning is cheap either way.
///
/// See also the WHATWG [event stream interpretation](https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
///
/// ```
/// use sse_session::{EventName, FieldErrorKind};
///
/// let name = EventName::try_from("update")?;
/// assert_eq!(name, "update");
///
/// let err = EventName::try_from("x\ndata: injected").unwrap_err();
/// assert_eq!(err.kind(), FieldErrorKind::LineFeed);
/// assert_eq!(err.offset(), 1);
/// # Ok::<(), sse_session::InvalidField>(())
/// ```
///
/// [`event:`]: https://developer.mozilla.org/en-US/docs/Web/API/Server-sent_events/Using_server-sent_events#event
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventName(Text);

impl EventName {
    /// A name from a string literal, without copying.
    ///
    /// # Panics
    ///
    /// If `name` contains CR or LF. In a `const` context this is a compile
    /// error, so a bad literal never reaches a running program; use
    /// [`TryFrom`] for values that are not literals.
    ///
    /// ```
    /// use sse_session::EventName;
    ///
    /// const UPDATE: EventName = EventName::from_static("update");
    /// assert_eq!(UPDATE.as_str(), "update");
    /// ```
    ///
    /// ```should_panic
    /// use sse_session::EventName;
    ///
    /// let _ = EventName::from_static("two\nlines"); // panics
    /// ```
    pub const fn from_static(name: &'static str) -> Self {
        if first_forbidden(name.as_bytes(), false).is_some() {
            panic!("EventName::from_static: the name contains CR or LF");
        }
        EventName(Text::Shared(Bytes::from_static(name.as_bytes())))
    }
}

text_field!(EventName, FieldKind::Event, check_name, "update");

/// The ID of an event: the value of an [`id:`] line. The client stores it as
/// its last event ID, shows it as `MessageEvent.lastEventId` and sends it back
/// in the `Last-Event-ID` header when it reconnects.
///
/// An ID never contains CR or LF (which would end the line early) or NUL (the
/// client ignores an `id:` line containing NUL). The empty ID is valid and
/// meaningful: `id: ` with nothing after it resets the client's last event ID.
/// An ID of up to 38 bytes (a UUID is 36) is stored inline, so building one
/// from a `&str` does not allocate; a longer one, a literal or [`Bytes`] is
/// shared, so cloning is cheap either way.
///
/// See also the WHATWG [event stream interpretation](https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
///
/// ```
/// use sse_session::{EventId, FieldErrorKind};
///
/// let id = EventId::try_from("a1b2c3")?;
/// assert_eq!(id.as_str(), "a1b2c3");
/// assert!(EventId::try_from("")?.is_empty()); // resets Last-Event-ID
///
/// let err = EventId::try_from("7\r\nretry: 1").unwrap_err();
/// assert_eq!(err.kind(), FieldErrorKind::CarriageReturn);
/// assert_eq!(err.offset(), 1);
/// # Ok::<(), sse_session::InvalidField>(())
/// ```
///
/// [`id:`]: https://developer.mozilla.org/en-US/docs/Web/API/Server-sent_events/Using_server-sent_events#id
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(Text);

impl EventId {
    /// An ID from a string literal, without copying.
    ///
    /// # Panics
    ///
    /// If `id` contains CR, LF or NUL. In a `const` context this is a compile
    /// error, so a bad literal never reaches a running program; use
    /// [`TryFrom`] for values that are not literals.
    ///
    /// ```
    /// use sse_session::EventId;
    ///
    /// const RESET: EventId = EventId::from_static("");
    /// assert!(RESET.is_empty());
    /// ```
    ///
    /// ```should_panic
    /// use sse_session::EventId;
    ///
    /// let _ = EventId::from_static("nul\0byte"); // panics
    /// ```
    pub const fn from_static(id: &'static str) -> Self {
        if first_forbidden(id.as_bytes(), true).is_some() {
            panic!("EventId::from_static: the id contains CR, LF or NUL");
        }
        EventId(Text::Shared(Bytes::from_static(id.as_bytes())))
    }
}

text_field!(EventId, FieldKind::Id, check_id, "42");

// ---------------------------------------------------------------------------
// RetryDelay

/// The client's reconnection time, in whole milliseconds: the value of a
/// [`retry:`] line.
///
/// After the stream ends, a browser's `EventSource` waits this long before it
/// reconnects. The wire value is a decimal number of milliseconds, so the delay
/// is kept as a `u64` of milliseconds; a [`Duration`] with a sub-millisecond
/// part is rejected instead of being silently truncated.
///
/// ```
/// use std::time::Duration;
/// use sse_session::{FieldErrorKind, RetryDelay};
///
/// let d = RetryDelay::try_from(Duration::from_secs(3))?;
/// assert_eq!(d.as_millis(), 3000);
///
/// let err = RetryDelay::try_from(Duration::from_micros(1500)).unwrap_err();
/// assert_eq!(err.kind(), FieldErrorKind::NotWholeMillis);
/// # Ok::<(), sse_session::InvalidField>(())
/// ```
///
/// [`retry:`]: https://developer.mozilla.org/en-US/docs/Web/API/Server-sent_events/Using_server-sent_events#retry
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RetryDelay(u64);

impl RetryDelay {
    /// A delay of `ms` milliseconds. Every `u64` is valid.
    ///
    /// ```
    /// use sse_session::RetryDelay;
    ///
    /// const RETRY: RetryDelay = RetryDelay::from_millis(3000);
    /// assert_eq!(RETRY.as_millis(), 3000);
    /// ```
    #[must_use]
    pub const fn from_millis(ms: u64) -> Self {
        RetryDelay(ms)
    }

    /// The delay in milliseconds.
    ///
    /// ```
    /// use sse_session::RetryDelay;
    ///
    /// assert_eq!(RetryDelay::from_millis(250).as_millis(), 250);
    /// ```
    #[must_use]
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// The delay as a [`Duration`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use sse_session::RetryDelay;
    ///
    /// assert_eq!(RetryDelay::from_millis(1500).as_duration(), Duration::from_millis(1500));
    /// ```
    #[must_use]
    pub const fn as_duration(self) -> Duration {
        Duration::from_millis(self.0)
    }
}

impl From<RetryDelay> for Duration {
    fn from(d: RetryDelay) -> Duration {
        d.as_duration()
    }
}

impl TryFrom<Duration> for RetryDelay {
    type Error = InvalidField;

    /// Fails with [`FieldErrorKind::NotWholeMillis`] if `d` has a
    /// sub-millisecond part and with [`FieldErrorKind::TooLarge`] if it is more
    /// than `u64::MAX` milliseconds.
    fn try_from(d: Duration) -> Result<Self, InvalidField> {
        if d.subsec_nanos() % 1_000_000 != 0 {
            return Err(InvalidField::new(
                FieldKind::Retry,
                FieldErrorKind::NotWholeMillis,
                0,
            ));
        }
        match u64::try_from(d.as_millis()) {
            Ok(ms) => Ok(RetryDelay(ms)),
            Err(_) => Err(InvalidField::new(
                FieldKind::Retry,
                FieldErrorKind::TooLarge,
                0,
            )),
        }
    }
}

impl FromStr for RetryDelay {
    type Err = InvalidField;

    /// Parses ASCII digits only, like a client reading a `retry:` line: no
    /// sign, no spaces, no unit. Leading zeros are fine.
    ///
    /// ```
    /// use sse_session::{FieldErrorKind, RetryDelay};
    ///
    /// assert_eq!("3000".parse::<RetryDelay>()?.as_millis(), 3000);
    /// let err = " 3000".parse::<RetryDelay>().unwrap_err();
    /// assert_eq!((err.kind(), err.offset()), (FieldErrorKind::NotDigits, 0));
    /// # Ok::<(), sse_session::InvalidField>(())
    /// ```
    fn from_str(s: &str) -> Result<Self, InvalidField> {
        if s.is_empty() {
            return Err(InvalidField::new(
                FieldKind::Retry,
                FieldErrorKind::Empty,
                0,
            ));
        }
        let mut ms: u64 = 0;
        for (i, b) in s.bytes().enumerate() {
            if !b.is_ascii_digit() {
                return Err(InvalidField::new(
                    FieldKind::Retry,
                    FieldErrorKind::NotDigits,
                    i,
                ));
            }
            ms = match ms
                .checked_mul(10)
                .and_then(|m| m.checked_add(u64::from(b - b'0')))
            {
                Some(m) => m,
                None => {
                    // Report a later non-digit first: the value is not a number at all.
                    if let Some(j) = s.bytes().skip(i).position(|b| !b.is_ascii_digit()) {
                        return Err(InvalidField::new(
                            FieldKind::Retry,
                            FieldErrorKind::NotDigits,
                            i + j,
                        ));
                    }
                    return Err(InvalidField::new(
                        FieldKind::Retry,
                        FieldErrorKind::TooLarge,
                        i,
                    ));
                }
            };
        }
        Ok(RetryDelay(ms))
    }
}

impl fmt::Display for RetryDelay {
    /// The number of milliseconds, as on the wire (`3000`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_accepts_text_and_rejects_line_breaks() {
        assert_eq!(EventName::try_from("update").unwrap(), "update");
        assert_eq!(EventName::try_from("").unwrap(), "");
        assert_eq!(EventName::try_from("nul\0ok").unwrap().len(), 6);
        let e = EventName::try_from("ab\rc").unwrap_err();
        assert_eq!(
            (e.field(), e.kind(), e.offset()),
            (FieldKind::Event, FieldErrorKind::CarriageReturn, 2)
        );
        let e = EventName::try_from(String::from("x\ndata: injected")).unwrap_err();
        assert_eq!((e.kind(), e.offset()), (FieldErrorKind::LineFeed, 1));
        assert_eq!(e.to_string(), "event name contains a line feed at byte 1");
    }

    #[test]
    fn id_rejects_cr_lf_nul_at_first_offset() {
        assert_eq!(EventId::try_from("abc").unwrap().as_str(), "abc");
        assert!(EventId::try_from("").unwrap().is_empty());
        let e = EventId::try_from("a\0b\n").unwrap_err();
        assert_eq!(
            (e.field(), e.kind(), e.offset()),
            (FieldKind::Id, FieldErrorKind::Nul, 1)
        );
        assert_eq!(e.to_string(), "event id contains a NUL byte at byte 1");
        let e = EventId::try_from("abc\n").unwrap_err();
        assert_eq!(e.to_string(), "event id contains a line feed at byte 3");
        let e = EventId::try_from("\r").unwrap_err();
        assert_eq!(
            e.to_string(),
            "event id contains a carriage return at byte 0"
        );
    }

    #[test]
    fn bytes_are_checked_for_utf8_first_problem_wins() {
        assert_eq!(
            EventName::try_from(Bytes::from_static("héllo".as_bytes())).unwrap(),
            "héllo"
        );
        let e = EventId::try_from(Bytes::from_static(b"ab\xffc")).unwrap_err();
        assert_eq!((e.kind(), e.offset()), (FieldErrorKind::InvalidUtf8, 2));
        assert_eq!(e.to_string(), "event id is not valid UTF-8 at byte 2");
        // A line break before the bad byte is reported first, and vice versa.
        let e = EventId::try_from(Bytes::from_static(b"a\n\xff")).unwrap_err();
        assert_eq!((e.kind(), e.offset()), (FieldErrorKind::LineFeed, 1));
        let e = EventName::try_from(Bytes::from_static(b"\xff\n")).unwrap_err();
        assert_eq!((e.kind(), e.offset()), (FieldErrorKind::InvalidUtf8, 0));
        // A truncated multi-byte sequence right before a line break.
        let e = EventName::try_from(Bytes::from_static(b"a\xc3\n")).unwrap_err();
        assert_eq!((e.kind(), e.offset()), (FieldErrorKind::InvalidUtf8, 1));
    }

    #[test]
    fn from_static_is_const() {
        const N: EventName = EventName::from_static("tick");
        const I: EventId = EventId::from_static("");
        assert_eq!(N, "tick");
        assert!(I.is_empty());
    }

    #[test]
    #[should_panic(expected = "CR or LF")]
    fn from_static_panics_on_bad_literal() {
        let _ = EventName::from_static("a\rb");
    }

    #[test]
    fn eq_hash_debug_display() {
        let a = EventName::from_static("x");
        let b = EventName::try_from(String::from("x")).unwrap();
        assert_eq!(a, b);
        assert!("x" == a);
        assert!(a == *"x");
        assert_eq!(format!("{a:?}"), "EventName(\"x\")");
        assert_eq!(format!("{}", EventId::from_static("7")), "7");
        assert_eq!("9".parse::<EventId>().unwrap(), "9");
        assert_eq!(Bytes::from(a), Bytes::from_static(b"x"));
    }

    #[test]
    fn retry_from_str() {
        assert_eq!("0".parse::<RetryDelay>().unwrap().as_millis(), 0);
        assert_eq!("007".parse::<RetryDelay>().unwrap().as_millis(), 7);
        assert_eq!(
            "18446744073709551615".parse::<RetryDelay>().unwrap(),
            RetryDelay::from_millis(u64::MAX)
        );
        let e = "18446744073709551616".parse::<RetryDelay>().unwrap_err();
        assert_eq!((e.kind(), e.offset()), (FieldErrorKind::TooLarge, 19));
        assert_eq!(
            e.to_string(),
            "retry delay exceeds 18446744073709551615 milliseconds"
        );
        let e = "99999999999999999999x".parse::<RetryDelay>().unwrap_err();
        assert_eq!((e.kind(), e.offset()), (FieldErrorKind::NotDigits, 20));
        let e = "12a".parse::<RetryDelay>().unwrap_err();
        assert_eq!(
            (e.field(), e.kind(), e.offset()),
            (FieldKind::Retry, FieldErrorKind::NotDigits, 2)
        );
        assert_eq!(e.to_string(), "retry delay contains a non-digit at byte 2");
        let e = "".parse::<RetryDelay>().unwrap_err();
        assert_eq!(e.kind(), FieldErrorKind::Empty);
        assert_eq!(e.to_string(), "retry delay is empty");
        assert_eq!(
            "+1".parse::<RetryDelay>().unwrap_err().kind(),
            FieldErrorKind::NotDigits
        );
        assert_eq!(
            "١".parse::<RetryDelay>().unwrap_err().kind(),
            FieldErrorKind::NotDigits
        );
    }

    #[test]
    fn retry_from_duration() {
        assert_eq!(
            RetryDelay::try_from(Duration::from_millis(1500)).unwrap(),
            RetryDelay::from_millis(1500)
        );
        let e = RetryDelay::try_from(Duration::from_nanos(1)).unwrap_err();
        assert_eq!(e.kind(), FieldErrorKind::NotWholeMillis);
        assert_eq!(
            e.to_string(),
            "retry delay is not a whole number of milliseconds"
        );
        let e = RetryDelay::try_from(Duration::MAX - Duration::from_nanos(999_999)).unwrap_err();
        assert_eq!(e.kind(), FieldErrorKind::TooLarge);
        assert_eq!(
            RetryDelay::from_millis(20).as_duration(),
            Duration::from_millis(20)
        );
        assert_eq!(RetryDelay::from_millis(20).to_string(), "20");
    }
}
