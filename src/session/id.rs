//! Session IDs and resume tokens: validation, generation, constant-time comparison.

use std::cmp::Ordering;
use std::error::Error;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// Longest session ID, in bytes (all valid IDs are ASCII, so also in characters).
const MAX_ID: usize = 64;
/// Most digits a resume token's sequence number may have (`u64::MAX` has 20).
const MAX_SEQ_DIGITS: usize = 20;

/// `true` for the bytes a session ID may contain: `A-Z a-z 0-9 _ -`.
const fn is_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// A validated session (tab) ID: 1 to 64 characters of `A-Z a-z 0-9 _ -`.
///
/// A session ID names one browser tab across reconnects. It travels in the
/// SSE `id:` field, the [`Last-Event-ID`] request header and a query parameter,
/// so the alphabet is restricted to characters that need no escaping in any of
/// them and cannot inject SSE fields or HTTP headers.
///
/// A session ID identifies a *tab*, not a person: any client can present any
/// valid ID. Never use it as proof of identity; route per-user traffic by a key
/// from your own authentication.
///
/// # Representation
///
/// The ID is stored inline (64 bytes plus a length byte), so it is [`Copy`]:
/// passing it around never allocates and never touches a reference count.
///
/// # Comparison
///
/// [`PartialEq`] runs in constant time over the maximum length, so comparing a
/// client-supplied ID with a stored one does not leak how many leading bytes
/// matched. [`Ord`] is plain lexicographic byte order (for sorting and
/// `BTreeMap`s) and is *not* constant-time. [`Debug`](fmt::Debug) prints only a
/// short prefix so that logs do not carry whole IDs; [`Display`](fmt::Display)
/// and [`as_str`](Self::as_str) give the full value.
///
/// # Examples
///
/// ```
/// use sse_session::session::SessionId;
///
/// let id: SessionId = "tab_42-a".parse()?;
/// assert_eq!(id.as_str(), "tab_42-a");
///
/// // A space, a dot, non-ASCII, an empty or a 65-character string are rejected.
/// assert!("tab 42".parse::<SessionId>().is_err());
/// assert!("a".repeat(65).parse::<SessionId>().is_err());
///
/// // Fresh IDs are random UUID v4s.
/// let fresh = SessionId::random();
/// assert_eq!(fresh.as_str().len(), 36);
/// # Ok::<(), sse_session::session::InvalidSessionId>(())
/// ```
///
/// [`Last-Event-ID`]: https://html.spec.whatwg.org/multipage/server-sent-events.html#last-event-id
#[derive(Clone, Copy)]
pub struct SessionId {
    // Invariant: `bytes[..len]` are ID bytes, `1 <= len <= 64`, and `bytes[len..]` are zero
    // (so constant-time equality can compare the whole array).
    bytes: [u8; MAX_ID],
    len: u8,
}

impl SessionId {
    /// The longest valid session ID, in bytes: 64.
    ///
    /// ```
    /// use sse_session::session::SessionId;
    ///
    /// assert!(SessionId::try_from("x".repeat(SessionId::MAX_LEN).as_str()).is_ok());
    /// assert!(SessionId::try_from("x".repeat(SessionId::MAX_LEN + 1).as_str()).is_err());
    /// ```
    pub const MAX_LEN: usize = MAX_ID;

    /// A fresh, unguessable ID: a random UUID v4, lower-case and hyphenated
    /// (36 characters, 122 random bits from the OS generator via `uuid`/`getrandom`).
    ///
    /// ```
    /// use sse_session::session::SessionId;
    ///
    /// let a = SessionId::random();
    /// let b = SessionId::random();
    /// assert_ne!(a, b);
    /// assert_eq!(a.as_str().as_bytes()[14], b'4'); // the UUID version nibble
    /// ```
    #[must_use]
    pub fn random() -> Self {
        let mut bytes = [0u8; MAX_ID];
        let written = uuid::Uuid::new_v4()
            .hyphenated()
            .encode_lower(&mut bytes)
            .len();
        Self {
            bytes,
            // A hyphenated UUID is always 36 bytes, well under 64.
            len: written as u8,
        }
    }

    /// Validates a session ID given as bytes (for example a header value).
    ///
    /// # Errors
    ///
    /// [`InvalidSessionId`] with kind [`Empty`](SessionIdErrorKind::Empty),
    /// [`TooLong`](SessionIdErrorKind::TooLong) or
    /// [`InvalidChar`](SessionIdErrorKind::InvalidChar) and the byte offset of the problem.
    ///
    /// ```
    /// use sse_session::session::{SessionId, SessionIdErrorKind};
    ///
    /// assert_eq!(SessionId::from_bytes(b"abc")?.as_str(), "abc");
    /// let err = SessionId::from_bytes(b"ab\r\nc").unwrap_err();
    /// assert_eq!(err.kind(), SessionIdErrorKind::InvalidChar);
    /// assert_eq!(err.offset(), 2);
    /// # Ok::<(), sse_session::session::InvalidSessionId>(())
    /// ```
    pub fn from_bytes(input: &[u8]) -> Result<Self, InvalidSessionId> {
        validate_id(input, 0)?;
        let mut bytes = [0u8; MAX_ID];
        bytes[..input.len()].copy_from_slice(input);
        Ok(Self {
            bytes,
            len: input.len() as u8,
        })
    }

    /// A session ID from a literal, checked at compile time in `const` context.
    ///
    /// # Panics
    ///
    /// If `s` is not a valid session ID. In a `const` item that is a compile
    /// error, which is the point: use [`TryFrom`] for anything not a literal.
    ///
    /// ```
    /// use sse_session::session::SessionId;
    ///
    /// const DEMO: SessionId = SessionId::from_static("demo-tab");
    /// assert_eq!(DEMO.as_str(), "demo-tab");
    /// ```
    ///
    /// ```should_panic
    /// use sse_session::session::SessionId;
    ///
    /// let _ = SessionId::from_static("not valid");
    /// ```
    #[must_use]
    pub const fn from_static(s: &'static str) -> Self {
        let input = s.as_bytes();
        assert!(
            !input.is_empty() && input.len() <= MAX_ID,
            "session id literal must be 1 to 64 bytes"
        );
        let mut bytes = [0u8; MAX_ID];
        let mut i = 0;
        while i < input.len() {
            assert!(
                is_id_byte(input[i]),
                "session id literal contains a byte outside A-Z a-z 0-9 _ -"
            );
            bytes[i] = input[i];
            i += 1;
        }
        Self {
            bytes,
            len: input.len() as u8,
        }
    }

    /// The full ID.
    ///
    /// ```
    /// use sse_session::session::SessionId;
    ///
    /// assert_eq!(SessionId::from_static("a-1").as_str(), "a-1");
    /// ```
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Valid ID bytes are ASCII, so this never fails; fall back to "" rather than panic.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The full ID as bytes (ASCII).
    ///
    /// ```
    /// use sse_session::session::SessionId;
    ///
    /// assert_eq!(SessionId::from_static("a-1").as_bytes(), b"a-1");
    /// ```
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Checks `input` as a session ID; `base` is added to error offsets (for tokens).
fn validate_id(input: &[u8], base: usize) -> Result<(), InvalidSessionId> {
    if input.is_empty() {
        return Err(InvalidSessionId::new(SessionIdErrorKind::Empty, base));
    }
    for (i, &b) in input.iter().enumerate() {
        if i == MAX_ID {
            return Err(InvalidSessionId::new(
                SessionIdErrorKind::TooLong,
                base + MAX_ID,
            ));
        }
        if !is_id_byte(b) {
            return Err(InvalidSessionId::new(
                SessionIdErrorKind::InvalidChar,
                base + i,
            ));
        }
    }
    Ok(())
}

impl PartialEq for SessionId {
    /// Constant time over the maximum length (64 bytes), whatever the inputs.
    fn eq(&self, other: &Self) -> bool {
        let mut diff = self.len ^ other.len;
        for (a, b) in self.bytes.iter().zip(other.bytes.iter()) {
            diff |= a ^ b;
        }
        std::hint::black_box(diff) == 0
    }
}

impl Eq for SessionId {}

impl PartialEq<str> for SessionId {
    /// Constant time over the maximum length when `other` is at most 64 bytes;
    /// a longer `other` is unequal at once (its length is not secret).
    fn eq(&self, other: &str) -> bool {
        let other = other.as_bytes();
        if other.len() > MAX_ID {
            return false;
        }
        let mut padded = [0u8; MAX_ID];
        padded[..other.len()].copy_from_slice(other);
        let mut diff = self.len ^ other.len() as u8;
        for (a, b) in self.bytes.iter().zip(padded.iter()) {
            diff |= a ^ b;
        }
        std::hint::black_box(diff) == 0
    }
}

impl PartialEq<&str> for SessionId {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl Hash for SessionId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialOrd for SessionId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SessionId {
    /// Lexicographic byte order; not constant-time (use `==` to compare secrets).
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl fmt::Debug for SessionId {
    /// Prints at most the first 4 characters (and never more than half the ID),
    /// followed by `…`: enough to tell IDs apart in logs, not enough to reuse one.
    ///
    /// ```
    /// use sse_session::session::SessionId;
    ///
    /// let id = SessionId::from_static("3f2a9c1e-secret");
    /// assert_eq!(format!("{id:?}"), "SessionId(\"3f2a…\")");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = (usize::from(self.len) / 2).min(4);
        let prefix = self.as_str().get(..shown).unwrap_or_default();
        write!(f, "SessionId(\"{prefix}…\")")
    }
}

impl fmt::Display for SessionId {
    /// The full ID.
    ///
    /// ```
    /// use sse_session::session::SessionId;
    ///
    /// assert_eq!(SessionId::from_static("tab-1").to_string(), "tab-1");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsRef<str> for SessionId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl TryFrom<&str> for SessionId {
    type Error = InvalidSessionId;

    /// Validates `s`; see [`SessionId::from_bytes`].
    ///
    /// ```
    /// use sse_session::session::SessionId;
    ///
    /// assert!(SessionId::try_from("tab-1").is_ok());
    /// assert!(SessionId::try_from("tab.1").is_err());
    /// ```
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::from_bytes(s.as_bytes())
    }
}

impl TryFrom<&String> for SessionId {
    type Error = InvalidSessionId;

    fn try_from(s: &String) -> Result<Self, Self::Error> {
        Self::from_bytes(s.as_bytes())
    }
}

impl TryFrom<String> for SessionId {
    type Error = InvalidSessionId;

    /// Validates `s` (the ID is copied inline; the `String` is dropped).
    ///
    /// ```
    /// use sse_session::session::SessionId;
    ///
    /// assert!(SessionId::try_from(String::from("tab-1")).is_ok());
    /// assert!(SessionId::try_from(String::from("")).is_err());
    /// ```
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::from_bytes(s.as_bytes())
    }
}

impl TryFrom<&[u8]> for SessionId {
    type Error = InvalidSessionId;

    fn try_from(b: &[u8]) -> Result<Self, Self::Error> {
        Self::from_bytes(b)
    }
}

impl FromStr for SessionId {
    type Err = InvalidSessionId;

    /// Validates `s`; see [`SessionId::from_bytes`].
    ///
    /// ```
    /// use sse_session::session::SessionId;
    ///
    /// assert!("tab-1".parse::<SessionId>().is_ok());
    /// assert!("tab-é".parse::<SessionId>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_bytes(s.as_bytes())
    }
}

/// The token a tab presents to resume its session: a [`SessionId`], optionally
/// followed by `.` and a decimal sequence number of 1 to 20 digits that fits a `u64`.
///
/// `tab-1` and `tab-1.42` are tokens; `tab-1.`, `tab-1.x`, `tab-1.1.2`,
/// `tab-1.99999999999999999999` (over `u64::MAX`) and a 21-digit sequence are not.
/// Leading zeros are accepted (`tab-1.007` has sequence 7), so
/// [`Display`](fmt::Display) gives the canonical form, which may differ from the input.
///
/// The crate writes this token in the `id:` field of the first frame of a
/// session stream, so the browser sends it back as `Last-Event-ID` when it reconnects.
/// The sequence number is kept for applications that replay missed events; the
/// crate itself only carries it.
///
/// ```
/// use sse_session::session::ResumeToken;
///
/// let token = ResumeToken::parse("tab-1.42")?;
/// assert_eq!(token.session().as_str(), "tab-1");
/// assert_eq!(token.seq(), Some(42));
/// assert_eq!(token.to_string(), "tab-1.42");
///
/// assert!(ResumeToken::parse("tab-1.").is_err());
/// # Ok::<(), sse_session::session::InvalidSessionId>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResumeToken {
    session: SessionId,
    seq: Option<u64>,
}

impl ResumeToken {
    /// The longest valid token in bytes: a 64-byte ID, `.`, and 20 digits (85).
    ///
    /// ```
    /// use sse_session::session::ResumeToken;
    ///
    /// let longest = format!("{}.{}", "x".repeat(64), u64::MAX);
    /// assert_eq!(longest.len(), ResumeToken::MAX_LEN);
    /// assert!(ResumeToken::parse(&longest).is_ok());
    /// ```
    pub const MAX_LEN: usize = MAX_ID + 1 + MAX_SEQ_DIGITS;

    /// A token from its parts.
    ///
    /// ```
    /// use sse_session::session::{ResumeToken, SessionId};
    ///
    /// let t = ResumeToken::new(SessionId::from_static("tab"), Some(3));
    /// assert_eq!(t.to_string(), "tab.3");
    /// ```
    #[must_use]
    pub const fn new(session: SessionId, seq: Option<u64>) -> Self {
        Self { session, seq }
    }

    /// Parses `id` or `id.seq`.
    ///
    /// # Errors
    ///
    /// [`InvalidSessionId`] for an invalid ID part (see [`SessionId`]), a `.`
    /// with no digits after it ([`MissingSeq`](SessionIdErrorKind::MissingSeq)),
    /// anything but ASCII digits after the `.` ([`InvalidSeq`](SessionIdErrorKind::InvalidSeq)),
    /// more than 20 digits ([`SeqTooLong`](SessionIdErrorKind::SeqTooLong)) or a
    /// number over `u64::MAX` ([`SeqOverflow`](SessionIdErrorKind::SeqOverflow)).
    /// The offset is relative to the start of the whole token.
    ///
    /// ```
    /// use sse_session::session::{ResumeToken, SessionIdErrorKind};
    ///
    /// assert_eq!(ResumeToken::parse("abc")?.seq(), None);
    /// let err = ResumeToken::parse("abc.1x").unwrap_err();
    /// assert_eq!(err.kind(), SessionIdErrorKind::InvalidSeq);
    /// assert_eq!(err.offset(), 5);
    /// # Ok::<(), sse_session::session::InvalidSessionId>(())
    /// ```
    pub fn parse(s: &str) -> Result<Self, InvalidSessionId> {
        Self::parse_bytes(s.as_bytes())
    }

    /// Parses `id` or `id.seq` from bytes (for example a raw header value).
    ///
    /// # Errors
    ///
    /// As [`ResumeToken::parse`].
    ///
    /// ```
    /// use sse_session::session::ResumeToken;
    ///
    /// assert_eq!(ResumeToken::parse_bytes(b"abc.7")?.seq(), Some(7));
    /// assert!(ResumeToken::parse_bytes(b"abc.\xff").is_err());
    /// # Ok::<(), sse_session::session::InvalidSessionId>(())
    /// ```
    pub fn parse_bytes(input: &[u8]) -> Result<Self, InvalidSessionId> {
        let (id_part, seq_part) = match input.iter().position(|&b| b == b'.') {
            Some(dot) => (&input[..dot], Some((dot + 1, &input[dot + 1..]))),
            None => (input, None),
        };
        let session = SessionId::from_bytes(id_part)?;
        let seq = match seq_part {
            None => None,
            Some((start, digits)) => Some(parse_seq(digits, start)?),
        };
        Ok(Self { session, seq })
    }

    /// The session ID.
    ///
    /// ```
    /// use sse_session::session::ResumeToken;
    ///
    /// assert_eq!(ResumeToken::parse("tab.1")?.session().as_str(), "tab");
    /// # Ok::<(), sse_session::session::InvalidSessionId>(())
    /// ```
    #[must_use]
    pub const fn session(&self) -> &SessionId {
        &self.session
    }

    /// The sequence number, if the token had one.
    ///
    /// ```
    /// use sse_session::session::ResumeToken;
    ///
    /// assert_eq!(ResumeToken::parse("tab.18446744073709551615")?.seq(), Some(u64::MAX));
    /// assert_eq!(ResumeToken::parse("tab")?.seq(), None);
    /// # Ok::<(), sse_session::session::InvalidSessionId>(())
    /// ```
    #[must_use]
    pub const fn seq(&self) -> Option<u64> {
        self.seq
    }

    /// The session ID, dropping the sequence number.
    ///
    /// ```
    /// use sse_session::session::ResumeToken;
    ///
    /// assert_eq!(ResumeToken::parse("tab.1")?.into_session().as_str(), "tab");
    /// # Ok::<(), sse_session::session::InvalidSessionId>(())
    /// ```
    #[must_use]
    pub const fn into_session(self) -> SessionId {
        self.session
    }
}

/// Parses 1–20 ASCII digits into a `u64`; `start` is the offset of `digits` in the token.
fn parse_seq(digits: &[u8], start: usize) -> Result<u64, InvalidSessionId> {
    if digits.is_empty() {
        return Err(InvalidSessionId::new(SessionIdErrorKind::MissingSeq, start));
    }
    let mut value: u64 = 0;
    for (i, &b) in digits.iter().enumerate() {
        if !b.is_ascii_digit() {
            return Err(InvalidSessionId::new(
                SessionIdErrorKind::InvalidSeq,
                start + i,
            ));
        }
        if i == MAX_SEQ_DIGITS {
            return Err(InvalidSessionId::new(
                SessionIdErrorKind::SeqTooLong,
                start + i,
            ));
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or(InvalidSessionId::new(
                SessionIdErrorKind::SeqOverflow,
                start,
            ))?;
    }
    Ok(value)
}

impl From<SessionId> for ResumeToken {
    /// A token without a sequence number.
    ///
    /// ```
    /// use sse_session::session::{ResumeToken, SessionId};
    ///
    /// let t = ResumeToken::from(SessionId::from_static("tab"));
    /// assert_eq!(t.seq(), None);
    /// ```
    fn from(session: SessionId) -> Self {
        Self { session, seq: None }
    }
}

impl fmt::Debug for ResumeToken {
    /// Uses [`SessionId`]'s redacting `Debug`.
    ///
    /// ```
    /// use sse_session::session::ResumeToken;
    ///
    /// let t = ResumeToken::parse("3f2a9c1e.5")?;
    /// assert_eq!(format!("{t:?}"), "ResumeToken { session: SessionId(\"3f2a…\"), seq: Some(5) }");
    /// # Ok::<(), sse_session::session::InvalidSessionId>(())
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResumeToken")
            .field("session", &self.session)
            .field("seq", &self.seq)
            .finish()
    }
}

impl fmt::Display for ResumeToken {
    /// `id` or `id.seq` (canonical decimal, no leading zeros).
    ///
    /// ```
    /// use sse_session::session::ResumeToken;
    ///
    /// assert_eq!(ResumeToken::parse("tab.007")?.to_string(), "tab.7");
    /// # Ok::<(), sse_session::session::InvalidSessionId>(())
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "{}.{seq}", self.session),
            None => f.write_str(self.session.as_str()),
        }
    }
}

impl FromStr for ResumeToken {
    type Err = InvalidSessionId;

    /// As [`ResumeToken::parse`].
    ///
    /// ```
    /// use sse_session::session::ResumeToken;
    ///
    /// assert!("tab.1".parse::<ResumeToken>().is_ok());
    /// assert!("tab..1".parse::<ResumeToken>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for ResumeToken {
    type Error = InvalidSessionId;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl From<SessionId> for crate::field::EventId {
    /// The SSE `id:` field for a session ID. Infallible: the session-ID alphabet
    /// has no CR, LF or NUL.
    ///
    /// ```
    /// use sse_session::field::EventId;
    /// use sse_session::session::SessionId;
    ///
    /// let id = EventId::from(SessionId::from_static("tab-1"));
    /// assert_eq!(id.as_str(), "tab-1");
    /// ```
    fn from(id: SessionId) -> Self {
        Self::from_bytes_unchecked(bytes::Bytes::copy_from_slice(id.as_bytes()))
    }
}

impl From<ResumeToken> for crate::field::EventId {
    /// The SSE `id:` field for a resume token (`id` or `id.seq`). Infallible:
    /// tokens are ASCII letters, digits, `_`, `-` and `.`.
    ///
    /// ```
    /// use sse_session::field::EventId;
    /// use sse_session::session::ResumeToken;
    ///
    /// let id = EventId::from(ResumeToken::parse("tab-1.9")?);
    /// assert_eq!(id.as_str(), "tab-1.9");
    /// # Ok::<(), sse_session::session::InvalidSessionId>(())
    /// ```
    fn from(token: ResumeToken) -> Self {
        Self::from_bytes_unchecked(bytes::Bytes::from(token.to_string()))
    }
}

/// What was wrong with a session ID or resume token.
///
/// ```
/// use sse_session::session::{ResumeToken, SessionIdErrorKind};
///
/// let kind = |s: &str| ResumeToken::parse(s).unwrap_err().kind();
/// assert_eq!(kind(""), SessionIdErrorKind::Empty);
/// assert_eq!(kind(&"a".repeat(65)), SessionIdErrorKind::TooLong);
/// assert_eq!(kind("a b"), SessionIdErrorKind::InvalidChar);
/// assert_eq!(kind("a."), SessionIdErrorKind::MissingSeq);
/// assert_eq!(kind("a.-1"), SessionIdErrorKind::InvalidSeq);
/// assert_eq!(kind("a.000000000000000000001"), SessionIdErrorKind::SeqTooLong);
/// assert_eq!(kind("a.18446744073709551616"), SessionIdErrorKind::SeqOverflow);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionIdErrorKind {
    /// The ID is empty (also the ID part of a token such as `.5`).
    Empty,
    /// The ID is longer than 64 bytes; the offset is 64.
    TooLong,
    /// A byte outside `A-Z a-z 0-9 _ -` in the ID (including `.` in a bare ID,
    /// and any byte of a non-ASCII character).
    InvalidChar,
    /// A `.` with no digits after it.
    MissingSeq,
    /// A byte other than an ASCII digit in the sequence number.
    InvalidSeq,
    /// A sequence number of more than 20 digits; the offset is that of the 21st.
    SeqTooLong,
    /// A sequence number larger than `u64::MAX`; the offset is that of its first digit.
    SeqOverflow,
}

/// A string that is not a valid [`SessionId`] or [`ResumeToken`].
///
/// It records *what* was wrong ([`kind`](Self::kind)) and *where*
/// ([`offset`](Self::offset), in bytes), never the rejected input itself: the
/// input usually comes from a client, and an error that carried it would
/// invite echoing attacker-controlled bytes into logs or responses.
///
/// ```
/// use sse_session::session::{SessionId, SessionIdErrorKind};
///
/// let err = "tab\n1".parse::<SessionId>().unwrap_err();
/// assert_eq!(err.kind(), SessionIdErrorKind::InvalidChar);
/// assert_eq!(err.offset(), 3);
/// assert_eq!(
///     err.to_string(),
///     "session id contains a byte outside A-Z a-z 0-9 _ - at byte 3",
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InvalidSessionId {
    kind: SessionIdErrorKind,
    offset: usize,
}

impl InvalidSessionId {
    const fn new(kind: SessionIdErrorKind, offset: usize) -> Self {
        Self { kind, offset }
    }

    /// What was wrong.
    ///
    /// ```
    /// use sse_session::session::{SessionId, SessionIdErrorKind};
    ///
    /// let err = "".parse::<SessionId>().unwrap_err();
    /// assert_eq!(err.kind(), SessionIdErrorKind::Empty);
    /// ```
    #[must_use]
    pub const fn kind(&self) -> SessionIdErrorKind {
        self.kind
    }

    /// Byte offset of the problem in the input.
    ///
    /// ```
    /// use sse_session::session::SessionId;
    ///
    /// assert_eq!("ab!".parse::<SessionId>().unwrap_err().offset(), 2);
    /// ```
    #[must_use]
    pub const fn offset(&self) -> usize {
        self.offset
    }
}

impl fmt::Display for InvalidSessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.offset;
        match self.kind {
            SessionIdErrorKind::Empty => write!(f, "session id is empty at byte {at}"),
            SessionIdErrorKind::TooLong => write!(f, "session id exceeds {MAX_ID}-byte limit"),
            SessionIdErrorKind::InvalidChar => {
                write!(
                    f,
                    "session id contains a byte outside A-Z a-z 0-9 _ - at byte {at}"
                )
            }
            SessionIdErrorKind::MissingSeq => {
                write!(
                    f,
                    "resume token has no sequence digits after the dot at byte {at}"
                )
            }
            SessionIdErrorKind::InvalidSeq => {
                write!(f, "resume token sequence contains a non-digit at byte {at}")
            }
            SessionIdErrorKind::SeqTooLong => {
                write!(f, "resume token sequence exceeds {MAX_SEQ_DIGITS} digits")
            }
            SessionIdErrorKind::SeqOverflow => {
                write!(f, "resume token sequence at byte {at} exceeds {}", u64::MAX)
            }
        }
    }
}

impl Error for InvalidSessionId {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn kind_id(s: &str) -> SessionIdErrorKind {
        SessionId::try_from(s).unwrap_err().kind()
    }

    fn err_tok(s: &str) -> (SessionIdErrorKind, usize) {
        let e = ResumeToken::parse(s).unwrap_err();
        (e.kind(), e.offset())
    }

    #[test]
    fn accepts_full_alphabet() {
        let all = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
        assert_eq!(all.len(), 64);
        assert_eq!(SessionId::try_from(all).unwrap().as_str(), all);
        for b in 0..=255u8 {
            let ok = SessionId::from_bytes(&[b]).is_ok();
            assert_eq!(ok, all.as_bytes().contains(&b), "byte {b}");
        }
    }

    #[test]
    fn length_limits() {
        assert_eq!(kind_id(""), SessionIdErrorKind::Empty);
        assert!(SessionId::try_from("a").is_ok());
        assert!(SessionId::try_from("a".repeat(64).as_str()).is_ok());
        let e = SessionId::try_from("a".repeat(65).as_str()).unwrap_err();
        assert_eq!((e.kind(), e.offset()), (SessionIdErrorKind::TooLong, 64));
        // A bad byte before the limit is reported first.
        let e = SessionId::try_from(format!("ab {}", "a".repeat(70)).as_str()).unwrap_err();
        assert_eq!((e.kind(), e.offset()), (SessionIdErrorKind::InvalidChar, 2));
    }

    #[test]
    fn rejects_injection_and_non_ascii() {
        for s in [
            "a\rb", "a\nb", "a\0b", "a b", "a.b", "a%2Db", "a+b", "tåb", "a,b", "a\tb",
        ] {
            assert_eq!(kind_id(s), SessionIdErrorKind::InvalidChar, "{s:?}");
        }
    }

    #[test]
    fn random_is_uuid_v4() {
        let mut seen = HashSet::new();
        for _ in 0..100 {
            let id = SessionId::random();
            let s = id.as_str();
            assert_eq!(s.len(), 36);
            let u = uuid::Uuid::parse_str(s).unwrap();
            assert_eq!(u.get_version_num(), 4);
            assert_eq!(s, s.to_ascii_lowercase());
            assert!(SessionId::try_from(s).is_ok());
            assert!(seen.insert(id));
        }
    }

    #[test]
    fn equality_hash_and_order() {
        let a = SessionId::from_static("abc");
        let b = SessionId::try_from("abc").unwrap();
        let c = SessionId::try_from("abcd").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a == "abc");
        assert!(a != "abcd");
        assert!(a != "ab");
        assert!(a != "a".repeat(100).as_str());
        let set: HashSet<_> = [a, b, c].into_iter().collect();
        assert_eq!(set.len(), 2);
        assert!(a < c);
        assert_eq!(a.cmp(&b), Ordering::Equal);
    }

    #[test]
    fn debug_redacts() {
        let id = SessionId::from_static("abcdefghijkl");
        assert_eq!(format!("{id:?}"), "SessionId(\"abcd…\")");
        assert_eq!(
            format!("{:?}", SessionId::from_static("ab")),
            "SessionId(\"a…\")"
        );
        assert_eq!(
            format!("{:?}", SessionId::from_static("a")),
            "SessionId(\"…\")"
        );
        assert_eq!(id.to_string(), "abcdefghijkl");
    }

    #[test]
    fn token_forms() {
        let t = ResumeToken::parse("tab").unwrap();
        assert_eq!((t.session().as_str(), t.seq()), ("tab", None));
        let t = ResumeToken::parse("tab.0").unwrap();
        assert_eq!(t.seq(), Some(0));
        let t = ResumeToken::parse("tab.18446744073709551615").unwrap();
        assert_eq!(t.seq(), Some(u64::MAX));
        assert_eq!(t.to_string(), "tab.18446744073709551615");
        let twenty = format!("tab.{}9", "0".repeat(19));
        assert_eq!(ResumeToken::parse(&twenty).unwrap().seq(), Some(9));
        let twenty_one = format!("tab.{}9", "0".repeat(20));
        let e = ResumeToken::parse(&twenty_one).unwrap_err();
        assert_eq!((e.kind(), e.offset()), (SessionIdErrorKind::SeqTooLong, 24));
    }

    #[test]
    fn token_errors() {
        assert_eq!(err_tok(""), (SessionIdErrorKind::Empty, 0));
        assert_eq!(err_tok(".5"), (SessionIdErrorKind::Empty, 0));
        assert_eq!(err_tok("a."), (SessionIdErrorKind::MissingSeq, 2));
        assert_eq!(err_tok("a.1.2"), (SessionIdErrorKind::InvalidSeq, 3));
        assert_eq!(err_tok("a..1"), (SessionIdErrorKind::InvalidSeq, 2));
        assert_eq!(err_tok("a.+1"), (SessionIdErrorKind::InvalidSeq, 2));
        assert_eq!(err_tok("a. 1"), (SessionIdErrorKind::InvalidSeq, 2));
        assert_eq!(err_tok("a.1 "), (SessionIdErrorKind::InvalidSeq, 3));
        assert_eq!(err_tok("a.١"), (SessionIdErrorKind::InvalidSeq, 2));
        assert_eq!(
            err_tok("a.123456789012345678901"),
            (SessionIdErrorKind::SeqTooLong, 22)
        );
        assert_eq!(
            err_tok("a.18446744073709551616"),
            (SessionIdErrorKind::SeqOverflow, 2)
        );
        assert_eq!(
            err_tok("a.99999999999999999999"),
            (SessionIdErrorKind::SeqOverflow, 2)
        );
        let long = format!("{}.1", "a".repeat(65));
        assert_eq!(err_tok(&long), (SessionIdErrorKind::TooLong, 64));
        assert_eq!(err_tok("a b.1"), (SessionIdErrorKind::InvalidChar, 1));
    }

    #[test]
    fn error_messages_do_not_echo_input() {
        let secret = "SECRET\r\nset-cookie: x";
        let e = ResumeToken::parse(secret).unwrap_err();
        let msg = e.to_string();
        assert!(!msg.contains("SECRET"), "{msg}");
        assert_eq!(
            msg,
            "session id contains a byte outside A-Z a-z 0-9 _ - at byte 6"
        );
        assert!(!format!("{e:?}").contains("SECRET"));
    }

    #[test]
    fn display_messages() {
        let msg = |s: &str| ResumeToken::parse(s).unwrap_err().to_string();
        assert_eq!(msg(""), "session id is empty at byte 0");
        assert_eq!(msg(&"a".repeat(65)), "session id exceeds 64-byte limit");
        assert_eq!(
            msg("a."),
            "resume token has no sequence digits after the dot at byte 2"
        );
        assert_eq!(
            msg("a.x"),
            "resume token sequence contains a non-digit at byte 2"
        );
        assert_eq!(
            msg("a.123456789012345678901"),
            "resume token sequence exceeds 20 digits"
        );
        assert_eq!(
            msg("a.18446744073709551616"),
            "resume token sequence at byte 2 exceeds 18446744073709551615"
        );
    }

    #[test]
    fn token_display_round_trips() {
        for s in ["a", "a.1", "x-y_z.18446744073709551615", "Z.0"] {
            assert_eq!(ResumeToken::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn event_id_conversion_matches_validation() {
        use crate::field::EventId;
        let t = ResumeToken::parse("x_Y-9.18446744073709551615").unwrap();
        let checked = EventId::try_from(t.to_string().as_str()).unwrap();
        assert_eq!(EventId::from(t), checked);
        let id = SessionId::random();
        assert_eq!(EventId::from(id).as_str(), id.as_str());
    }

    #[test]
    fn copy_is_small() {
        assert_eq!(std::mem::size_of::<SessionId>(), 65);
    }
}
