//! [`Event`]: one server-sent event, and its encoding to wire bytes.
//!
//! An event is built in one of two ways:
//!
//! - the typed way, which cannot fail: [`Event::new`] and the `with_*`
//!   setters take already validated [`EventName`], [`EventId`] and
//!   [`RetryDelay`] values;
//! - the string way, [`Event::builder`], which validates as it goes, keeps the
//!   first error and returns it from [`EventBuilder::build`].
//!
//! Encoding ([`Event::encode_into`], [`Event::to_bytes`]) cannot fail: every
//! field is valid by construction. The frame is written in this order, each
//! line ending in LF:
//!
//! ```text
//! : comment line           (one per line of each comment; `:` alone for an empty line)
//! event: NAME
//! id: ID                   (`id: ` with nothing after it resets Last-Event-ID)
//! retry: MS
//! data: LINE               (one per line of the data; `data: ` for empty data)
//!                          (a blank line ends the frame)
//! ```
//!
//! Data and comments may contain any text. Every line break in them — CRLF,
//! a lone CR or a lone LF, CRLF counting as one — starts a new line, and a
//! client joins the `data:` lines with LF. So line endings are normalised:
//! `"a\r\nb"` arrives as `"a\nb"`. Everything else arrives exactly as sent,
//! including a leading space (the encoder always writes `data: ` with the
//! space, and the client strips exactly one) and a trailing line break.
//!
//! See the WHATWG HTML standard,
//! [server-sent events](https://html.spec.whatwg.org/multipage/server-sent-events.html#server-sent-events),
//! and MDN's [event stream format](https://developer.mozilla.org/en-US/docs/Web/API/Server-sent_events/Using_server-sent_events#event_stream_format).

use std::fmt;

use bytes::{Bytes, BytesMut};

use crate::field::{EventId, EventName, InvalidField, RetryDelay};
use crate::unchecked::{self, find_break};

/// A keep-alive frame: an empty comment (`:\n\n`).
///
/// Clients ignore comments, but the bytes keep proxies and load balancers from
/// timing out an idle stream. It is a static frame: using it never allocates.
///
/// ```
/// use sse_session::{Event, KEEP_ALIVE};
///
/// assert_eq!(&KEEP_ALIVE[..], b":\n\n");
/// assert_eq!(KEEP_ALIVE, Event::default().with_comment("").to_bytes());
/// ```
pub const KEEP_ALIVE: Bytes = Bytes::from_static(b":\n\n");

/// One server-sent event: optional data, name, ID, retry delay, and comments.
///
/// Every part is optional. A frame without data sets the client's last event
/// ID or reconnection time (or is a comment) without firing an event; a frame
/// with data fires a `MessageEvent` on the client.
///
/// Setting a field twice overwrites it; [`with_comment`](Event::with_comment)
/// appends. An event with nothing set (`Event::default()`) encodes as a lone
/// blank line, which clients ignore.
///
/// ```
/// use sse_session::{Event, EventId, EventName};
///
/// let event = Event::new("hello\nworld")
///     .with_name(EventName::from_static("greeting"))
///     .with_id(EventId::from_static("1"));
/// assert_eq!(
///     &event.to_bytes()[..],
///     b"event: greeting\nid: 1\ndata: hello\ndata: world\n\n"
/// );
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
#[must_use = "an Event does nothing until encoded or sent"]
pub struct Event {
    data: Option<Data>,
    // Unboxed: a name or an ID of up to 38 bytes is stored inline, so an event
    // built from a name, an ID and an owned or static data allocates nothing.
    name: Option<EventName>,
    id: Option<EventId>,
    retry: Option<RetryDelay>,
    comments: Vec<String>,
}

/// The data of an [`Event`]: a `String` handed over, or shared bytes (a
/// literal, or [`Bytes`] checked as UTF-8), never copied.
#[derive(Clone)]
enum Data {
    Owned(String),
    /// Valid UTF-8 (checked by every constructor).
    Shared(Bytes),
}

impl Data {
    #[inline]
    fn as_bytes(&self) -> &[u8] {
        match self {
            Data::Owned(s) => s.as_bytes(),
            Data::Shared(b) => b,
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Data::Owned(s) => s,
            // Checked as UTF-8 when it was built.
            Data::Shared(b) => {
                simdutf8::basic::from_utf8(b).expect("event data was checked as UTF-8")
            }
        }
    }
}

impl PartialEq for Data {
    fn eq(&self, other: &Data) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Data {}

impl std::hash::Hash for Data {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("data", &self.data())
            .field("name", &self.name())
            .field("id", &self.id())
            .field("retry", &self.retry())
            .field("comments", &self.comments())
            .finish()
    }
}

impl Event {
    /// An event with `data` (any text; line breaks become several `data:`
    /// lines).
    ///
    /// ```
    /// use sse_session::Event;
    ///
    /// assert_eq!(Event::new("hi").data(), Some("hi"));
    /// assert_eq!(&Event::new("").to_bytes()[..], b"data: \n\n");
    /// ```
    pub fn new(data: impl Into<String>) -> Self {
        Event {
            data: Some(Data::Owned(data.into())),
            ..Event::default()
        }
    }

    /// An event whose data is a string literal (or any `&'static str`),
    /// without copying it.
    ///
    /// ```
    /// use sse_session::Event;
    ///
    /// assert_eq!(&Event::from_static("hi").to_bytes()[..], b"data: hi\n\n");
    /// ```
    pub fn from_static(data: &'static str) -> Self {
        Event {
            data: Some(Data::Shared(Bytes::from_static(data.as_bytes()))),
            ..Event::default()
        }
    }

    /// An event whose data is `data`, without copying it.
    ///
    /// # Errors
    ///
    /// [`FieldErrorKind::InvalidUtf8`](crate::FieldErrorKind::InvalidUtf8)
    /// (field [`FieldKind::Data`](crate::FieldKind::Data)) if `data` is not
    /// valid UTF-8, with the offset of the first bad byte.
    ///
    /// # Complexity
    ///
    /// One vectorised UTF-8 check of `data`.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use sse_session::{Event, FieldErrorKind};
    ///
    /// let event = Event::from_bytes(Bytes::from("a\nb"))?;
    /// assert_eq!(&event.to_bytes()[..], b"data: a\ndata: b\n\n");
    /// let err = Event::from_bytes(Bytes::from_static(b"ok\xff")).unwrap_err();
    /// assert_eq!((err.kind(), err.offset()), (FieldErrorKind::InvalidUtf8, 2));
    /// # Ok::<(), sse_session::InvalidField>(())
    /// ```
    pub fn from_bytes(data: Bytes) -> Result<Self, InvalidField> {
        if let Err(e) = simdutf8::compat::from_utf8(&data) {
            return Err(InvalidField::new(
                crate::field::FieldKind::Data,
                crate::field::FieldErrorKind::InvalidUtf8,
                e.valid_up_to(),
            ));
        }
        Ok(Event {
            data: Some(Data::Shared(data)),
            ..Event::default()
        })
    }

    /// Starts an encode-only event that borrows its fields; see [`EventRef`].
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use sse_session::Event;
    ///
    /// let mut buf = BytesMut::new();
    /// Event::borrowed("1").name("tick")?.encode_into(&mut buf);
    /// assert_eq!(&buf[..], b"event: tick\ndata: 1\n\n");
    /// # Ok::<(), sse_session::InvalidField>(())
    /// ```
    pub fn borrowed(data: &str) -> EventRef<'_> {
        EventRef::new(data)
    }

    /// An event whose data is `value` serialised as compact JSON (one line).
    ///
    /// # Errors
    ///
    /// Whatever [`serde_json::to_string`] returns: `value`'s `Serialize`
    /// implementation failed, or a map has non-string keys.
    ///
    /// ```
    /// use sse_session::Event;
    ///
    /// let event = Event::json(&serde_json::json!({"n": 1}))?;
    /// assert_eq!(&event.to_bytes()[..], b"data: {\"n\":1}\n\n");
    ///
    /// let bad = std::collections::BTreeMap::from([((1, 2), "tuple keys")]);
    /// assert!(Event::json(&bad).is_err());
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Event, serde_json::Error> {
        Ok(Event::new(serde_json::to_string(value)?))
    }

    /// Starts building an event from strings, validating as it goes; see
    /// [`EventBuilder`].
    ///
    /// ```
    /// use sse_session::Event;
    ///
    /// let event = Event::builder().name("update").data("1").build()?;
    /// assert_eq!(&event.to_bytes()[..], b"event: update\ndata: 1\n\n");
    /// # Ok::<(), sse_session::InvalidField>(())
    /// ```
    pub fn builder() -> EventBuilder {
        EventBuilder::default()
    }

    /// Sets the [data] (any text), replacing any earlier data.
    ///
    /// ```
    /// use sse_session::Event;
    ///
    /// let event = Event::default().with_data("a\r\nb");
    /// assert_eq!(&event.to_bytes()[..], b"data: a\ndata: b\n\n");
    /// ```
    ///
    /// [data]: https://developer.mozilla.org/en-US/docs/Web/API/Server-sent_events/Using_server-sent_events#data
    pub fn with_data(mut self, data: impl Into<String>) -> Self {
        self.data = Some(Data::Owned(data.into()));
        self
    }

    /// Sets the [event name](https://developer.mozilla.org/en-US/docs/Web/API/Server-sent_events/Using_server-sent_events#event)
    /// (the client's event type), replacing any earlier name.
    ///
    /// ```
    /// use sse_session::{Event, EventName};
    ///
    /// let event = Event::new("1").with_name(EventName::from_static("tick"));
    /// assert_eq!(event.name().map(|n| n.as_str()), Some("tick"));
    /// ```
    pub fn with_name(mut self, name: EventName) -> Self {
        self.name = Some(name);
        self
    }

    /// Sets the [event ID](https://developer.mozilla.org/en-US/docs/Web/API/Server-sent_events/Using_server-sent_events#id),
    /// replacing any earlier ID. An empty ID resets the client's last event ID.
    ///
    /// ```
    /// use sse_session::{Event, EventId};
    ///
    /// let reset = Event::default().with_id(EventId::from_static(""));
    /// assert_eq!(&reset.to_bytes()[..], b"id: \n\n");
    /// ```
    pub fn with_id(mut self, id: EventId) -> Self {
        self.id = Some(id);
        self
    }

    /// Sets the client's [reconnection time](https://developer.mozilla.org/en-US/docs/Web/API/Server-sent_events/Using_server-sent_events#retry),
    /// replacing any earlier one.
    ///
    /// ```
    /// use sse_session::{Event, RetryDelay};
    ///
    /// let event = Event::default().with_retry(RetryDelay::from_millis(3000));
    /// assert_eq!(&event.to_bytes()[..], b"retry: 3000\n\n");
    /// ```
    pub fn with_retry(mut self, retry: RetryDelay) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Appends a [comment](https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation)
    /// (any text). Clients ignore comments; a comment with line breaks becomes
    /// several comment lines.
    ///
    /// ```
    /// use sse_session::Event;
    ///
    /// let event = Event::default().with_comment("hello").with_comment("two\nlines");
    /// assert_eq!(&event.to_bytes()[..], b": hello\n: two\n: lines\n\n");
    /// ```
    pub fn with_comment(mut self, comment: impl Into<String>) -> Self {
        self.comments.push(comment.into());
        self
    }

    /// The data, if any.
    ///
    /// ```
    /// use sse_session::Event;
    ///
    /// assert_eq!(Event::new("x").data(), Some("x"));
    /// assert_eq!(Event::default().data(), None);
    /// ```
    #[must_use]
    pub fn data(&self) -> Option<&str> {
        self.data.as_ref().map(Data::as_str)
    }

    /// The event name, if any.
    ///
    /// ```
    /// use sse_session::{Event, EventName};
    ///
    /// let event = Event::new("x").with_name(EventName::from_static("n"));
    /// assert_eq!(event.name(), Some(&EventName::from_static("n")));
    /// ```
    #[must_use]
    pub fn name(&self) -> Option<&EventName> {
        self.name.as_ref()
    }

    /// The event ID, if any.
    ///
    /// ```
    /// use sse_session::{Event, EventId};
    ///
    /// let event = Event::new("x").with_id(EventId::from_static("7"));
    /// assert_eq!(event.id().map(|id| id.as_str()), Some("7"));
    /// ```
    #[must_use]
    pub fn id(&self) -> Option<&EventId> {
        self.id.as_ref()
    }

    /// The retry delay, if any.
    ///
    /// ```
    /// use sse_session::{Event, RetryDelay};
    ///
    /// let event = Event::default().with_retry(RetryDelay::from_millis(5));
    /// assert_eq!(event.retry(), Some(RetryDelay::from_millis(5)));
    /// ```
    #[must_use]
    pub fn retry(&self) -> Option<RetryDelay> {
        self.retry
    }

    /// The comments, in the order they were added.
    ///
    /// ```
    /// use sse_session::Event;
    ///
    /// let event = Event::default().with_comment("a").with_comment("b");
    /// assert_eq!(event.comments(), ["a", "b"]);
    /// ```
    #[must_use]
    pub fn comments(&self) -> &[String] {
        &self.comments
    }

    /// The exact number of bytes [`encode_into`](Event::encode_into) appends.
    ///
    /// # Complexity
    ///
    /// One vectorised pass over the data and the comments (to count line
    /// breaks).
    ///
    /// ```
    /// use sse_session::Event;
    ///
    /// let event = Event::new("a\nb");
    /// assert_eq!(event.encoded_len(), event.to_bytes().len());
    /// assert_eq!(event.encoded_len(), "data: a\ndata: b\n\n".len());
    /// ```
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        self.fields().encoded_len()
    }

    /// Appends the encoded frame to `buf`.
    ///
    /// The buffer is grown at most once, up front, by the frame's length when
    /// the data has no line breaks (the usual case), so appending into a
    /// buffer with room never allocates. The data is scanned once, 16 bytes
    /// at a time; for multi-line data the up-front reservation is short by a few
    /// bytes per line and `buf` grows as needed, amortised like a `Vec`. Call
    /// `buf.reserve(event.encoded_len())` first if you need exactly one
    /// reservation for multi-line data too.
    ///
    /// # Complexity
    ///
    /// Linear in the encoded length; each byte of data is scanned and copied
    /// once.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use sse_session::{Event, KEEP_ALIVE};
    ///
    /// let mut buf = BytesMut::with_capacity(64);
    /// Event::new(" leading space").encode_into(&mut buf);
    /// buf.extend_from_slice(&KEEP_ALIVE);
    /// assert_eq!(&buf[..], b"data:  leading space\n\n:\n\n");
    /// ```
    pub fn encode_into(&self, buf: &mut BytesMut) {
        self.fields().encode_into(buf);
    }

    /// The encoded frame as [`Bytes`], to send once or share with any number of
    /// connections (cloning `Bytes` is a reference-count increment).
    ///
    /// Allocates exactly once, with the exact size. Data without line breaks
    /// is scanned once; multi-line data is scanned twice (once to size the
    /// buffer). The first clone of the result makes it shareable (one small
    /// allocation inside `bytes`); every later clone only bumps a count.
    ///
    /// ```
    /// use sse_session::{Event, EventId};
    ///
    /// let frame = Event::new("x").with_id(EventId::from_static("1")).to_bytes();
    /// let copy = frame.clone(); // shares the same allocation
    /// assert_eq!(&copy[..], b"id: 1\ndata: x\n\n");
    /// ```
    #[must_use = "the encoded frame is returned, not sent"]
    pub fn to_bytes(&self) -> Bytes {
        self.fields().to_bytes()
    }

    #[inline(always)]
    fn fields(&self) -> Fields<'_, String> {
        Fields {
            comments: &self.comments,
            name: self.name.as_ref().map(EventName::as_bytes),
            id: self.id.as_ref().map(EventId::as_bytes),
            retry: self.retry,
            data: self.data.as_ref().map(Data::as_bytes),
        }
    }
}

// ---------------------------------------------------------------------------
// EventRef

/// An encode-only event that borrows its fields: build it from `&str`s, encode
/// it into a buffer you reuse, and nothing is allocated or copied but the wire
/// bytes.
///
/// The name and the ID are validated as they are set, by the same rules as
/// [`EventName`] and [`EventId`] (no CR or LF; no NUL in an ID), and a
/// rejected value is an [`InvalidField`]. Data and the comment may be any
/// text; their line breaks are encoded as for [`Event`], and so is the whole
/// frame, byte for byte. To keep or send an event, make an [`Event`] of it
/// ([`to_event`](EventRef::to_event)) or encode it ([`to_bytes`](EventRef::to_bytes)).
///
/// ```
/// use bytes::BytesMut;
/// use sse_session::{EventRef, FieldKind};
///
/// let mut buf = BytesMut::with_capacity(4096);
/// for (id, data) in [("1", "one"), ("2", "two")] {
///     EventRef::new(data).name("update")?.id(id)?.encode_into(&mut buf);
/// }
/// assert_eq!(
///     &buf[..],
///     b"event: update\nid: 1\ndata: one\n\nevent: update\nid: 2\ndata: two\n\n"
/// );
///
/// let err = EventRef::new("x").id("1\nretry: 0").unwrap_err();
/// assert_eq!(err.field(), FieldKind::Id);
/// # Ok::<(), sse_session::InvalidField>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[must_use = "an EventRef does nothing until encoded"]
pub struct EventRef<'a> {
    data: Option<&'a str>,
    name: Option<&'a str>,
    id: Option<&'a str>,
    retry: Option<RetryDelay>,
    comment: Option<&'a str>,
}

impl<'a> EventRef<'a> {
    /// An event with `data` (any text).
    ///
    /// ```
    /// use sse_session::EventRef;
    ///
    /// assert_eq!(&EventRef::new("a\nb").to_bytes()[..], b"data: a\ndata: b\n\n");
    /// ```
    #[inline]
    pub fn new(data: &'a str) -> Self {
        EventRef {
            data: Some(data),
            ..EventRef::default()
        }
    }

    /// Sets the event name.
    ///
    /// # Errors
    ///
    /// [`InvalidField`] (field [`FieldKind::Event`](crate::FieldKind::Event))
    /// if `name` contains CR or LF, with the offset of the first one.
    ///
    /// ```
    /// use sse_session::EventRef;
    ///
    /// assert!(EventRef::new("x").name("update").is_ok());
    /// assert_eq!(EventRef::new("x").name("a\rb").unwrap_err().offset(), 1);
    /// ```
    #[inline]
    pub fn name(mut self, name: &'a str) -> Result<Self, InvalidField> {
        crate::field::check_name(name.as_bytes())?;
        self.name = Some(name);
        Ok(self)
    }

    /// Sets the event ID (the empty ID resets the client's last event ID).
    ///
    /// # Errors
    ///
    /// [`InvalidField`] (field [`FieldKind::Id`](crate::FieldKind::Id)) if
    /// `id` contains CR, LF or NUL, with the offset of the first one.
    ///
    /// ```
    /// use sse_session::{EventRef, FieldErrorKind};
    ///
    /// assert!(EventRef::new("x").id("").is_ok());
    /// assert_eq!(EventRef::new("x").id("a\0").unwrap_err().kind(), FieldErrorKind::Nul);
    /// ```
    #[inline]
    pub fn id(mut self, id: &'a str) -> Result<Self, InvalidField> {
        crate::field::check_id(id.as_bytes())?;
        self.id = Some(id);
        Ok(self)
    }

    /// Sets the client's reconnection time.
    ///
    /// ```
    /// use sse_session::{EventRef, RetryDelay};
    ///
    /// let event = EventRef::default().retry(RetryDelay::from_millis(500));
    /// assert_eq!(&event.to_bytes()[..], b"retry: 500\n\n");
    /// ```
    #[inline]
    pub fn retry(mut self, retry: RetryDelay) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Sets the comment (any text; one per `EventRef`, written first).
    ///
    /// ```
    /// use sse_session::EventRef;
    ///
    /// assert_eq!(&EventRef::new("x").comment("hi").to_bytes()[..], b": hi\ndata: x\n\n");
    /// ```
    #[inline]
    pub fn comment(mut self, comment: &'a str) -> Self {
        self.comment = Some(comment);
        self
    }

    /// The exact number of bytes [`encode_into`](EventRef::encode_into) appends.
    ///
    /// ```
    /// use sse_session::EventRef;
    ///
    /// let event = EventRef::new("a\nb").name("n")?;
    /// assert_eq!(event.encoded_len(), event.to_bytes().len());
    /// # Ok::<(), sse_session::InvalidField>(())
    /// ```
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        self.fields().encoded_len()
    }

    /// Appends the encoded frame to `buf`, exactly as [`Event::encode_into`]
    /// would for the same fields.
    ///
    /// # Complexity
    ///
    /// Linear in the encoded length; each byte of data is scanned and copied
    /// once.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use sse_session::{Event, EventRef};
    ///
    /// let mut buf = BytesMut::new();
    /// EventRef::new("x").id("7")?.encode_into(&mut buf);
    /// assert_eq!(buf.freeze(), Event::builder().id("7").data("x").build()?.to_bytes());
    /// # Ok::<(), sse_session::InvalidField>(())
    /// ```
    #[inline]
    pub fn encode_into(&self, buf: &mut BytesMut) {
        self.fields().encode_into(buf);
    }

    /// The encoded frame as [`Bytes`] (one allocation, of the exact size).
    ///
    /// ```
    /// use sse_session::EventRef;
    ///
    /// assert_eq!(&EventRef::new("x").to_bytes()[..], b"data: x\n\n");
    /// ```
    #[must_use = "the encoded frame is returned, not sent"]
    pub fn to_bytes(&self) -> Bytes {
        self.fields().to_bytes()
    }

    /// An owned [`Event`] with the same fields (copies them).
    ///
    /// ```
    /// use sse_session::EventRef;
    ///
    /// let event = EventRef::new("x").name("n")?.to_event();
    /// assert_eq!(event.name().map(|n| n.as_str()), Some("n"));
    /// # Ok::<(), sse_session::InvalidField>(())
    /// ```
    pub fn to_event(&self) -> Event {
        Event {
            data: self.data.map(|d| Data::Owned(d.to_owned())),
            // Validated when they were set.
            name: self.name.map(EventName::copy_unchecked),
            id: self.id.map(EventId::copy_unchecked),
            retry: self.retry,
            comments: self.comment.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    #[inline(always)]
    fn fields(&self) -> Fields<'_, &'a str> {
        Fields {
            comments: self.comment.as_slice(),
            name: self.name.map(str::as_bytes),
            id: self.id.map(str::as_bytes),
            retry: self.retry,
            data: self.data.map(str::as_bytes),
        }
    }
}

impl<'a> From<&'a Event> for EventRef<'a> {
    /// Borrows an event's fields (all but its comments after the first).
    fn from(e: &'a Event) -> Self {
        EventRef {
            data: e.data(),
            name: e.name().map(EventName::as_str),
            id: e.id().map(EventId::as_str),
            retry: e.retry(),
            comment: e.comments().first().map(String::as_str),
        }
    }
}

// ---------------------------------------------------------------------------
// encoding

/// The fields of an [`Event`] or an [`EventRef`], as bytes: what both encode.
struct Fields<'a, C> {
    comments: &'a [C],
    name: Option<&'a [u8]>,
    id: Option<&'a [u8]>,
    retry: Option<RetryDelay>,
    data: Option<&'a [u8]>,
}

impl<C: AsRef<str>> Fields<'_, C> {
    fn encoded_len(&self) -> usize {
        self.head_len()
            + match self.data {
                Some(data) => data_len(data) + 1,
                None => 1,
            }
    }

    #[inline(always)]
    fn encode_into(&self, buf: &mut BytesMut) {
        let data_estimate = match self.data {
            Some(data) => DATA.len() + data.len() + 2,
            None => 1,
        };
        buf.reserve(self.head_len() + data_estimate);
        self.write(buf);
    }

    fn to_bytes(&self) -> Bytes {
        let head = self.head_len();
        let len = match self.data {
            None => head + 1,
            Some(data) => match find_break(data) {
                // Single line: the size is known without another scan.
                None => head + DATA.len() + data.len() + 2,
                Some(i) => {
                    let rest = &data[skip_break_at(data, i)..];
                    head + DATA.len() + i + 1 + data_len(rest) + 1
                }
            },
        };
        let mut buf = BytesMut::with_capacity(len);
        self.write(&mut buf);
        debug_assert_eq!(buf.len(), self.encoded_len());
        buf.freeze()
    }

    /// The exact encoded length of the comment, name, id and retry lines.
    #[inline(always)]
    fn head_len(&self) -> usize {
        let mut len = 0;
        for c in self.comments {
            len += comment_len(c.as_ref().as_bytes());
        }
        if let Some(name) = self.name {
            len += EVENT.len() + name.len() + 1;
        }
        if let Some(id) = self.id {
            len += ID.len() + id.len() + 1;
        }
        if let Some(retry) = self.retry {
            len += RETRY.len() + digits(retry.as_millis()) + 1;
        }
        len
    }

    /// Writes the whole frame, the data (if any) with `put_data`.
    #[inline(always)]
    fn write(&self, buf: &mut BytesMut) {
        let open = self.write_head(buf);
        match self.data {
            Some(data) => put_data(buf, data, open),
            None => buf.extend_from_slice(after_line(b"\n\n", open)),
        }
    }

    /// Writes the comment, name, id and retry lines, except the `\n` ending
    /// the last field line: returns whether one is owed, so that the caller
    /// writes it together with what comes next (fewer, larger copies).
    #[inline(always)]
    fn write_head(&self, buf: &mut BytesMut) -> bool {
        for comment in self.comments {
            put_comment(buf, comment.as_ref().as_bytes());
        }
        let mut open = false;
        if let Some(name) = self.name {
            buf.extend_from_slice(after_line(b"\nevent: ", open));
            buf.extend_from_slice(name);
            open = true;
        }
        if let Some(id) = self.id {
            buf.extend_from_slice(after_line(b"\nid: ", open));
            buf.extend_from_slice(id);
            open = true;
        }
        if let Some(retry) = self.retry {
            let mut digits = [0u8; 20];
            let n = write_u64(retry.as_millis(), &mut digits);
            buf.extend_from_slice(after_line(b"\nretry: ", open));
            buf.extend_from_slice(&digits[digits.len() - n..]);
            open = true;
        }
        open
    }
}

/// `piece` (which starts with the `\n` ending the previous line) if a line is
/// open, else `piece` without its `\n`.
#[inline(always)]
fn after_line(piece: &'static [u8], open: bool) -> &'static [u8] {
    &piece[usize::from(!open)..]
}

const EVENT: &[u8] = b"event: ";
const ID: &[u8] = b"id: ";
const RETRY: &[u8] = b"retry: ";
const DATA: &[u8] = b"data: ";
/// The end of a data line and the start of the next.
const NEXT_DATA: &[u8] = b"\ndata: ";

/// Writes `data: LINE\n` per line of `data`, then the blank line ending the
/// frame; `open` says a field line before it still needs its `\n`. Each byte
/// is scanned once; whole lines are copied with one call each.
#[inline(always)]
fn put_data(buf: &mut BytesMut, data: &[u8], open: bool) {
    buf.extend_from_slice(after_line(NEXT_DATA, open));
    // Short data: the first line as one search and one copy (most data is
    // one line); the lines after it, if any, mostly in blocks. Long data
    // all in blocks: searched and copied in one pass, where a search and
    // then a copy read it twice (W3 at 62 % of memcpy, now 90 %).
    let mut at = if data.len() >= BLOCKS_FROM {
        0
    } else {
        put_line_rest(buf, data, 0)
    };
    while at < data.len() {
        at = unchecked::put_short_lines(buf, data, at, NEXT_DATA_WORD, NEXT_DATA.len());
        at = put_line_rest(buf, data, at);
    }
    buf.extend_from_slice(b"\n\n");
}

/// Data this long goes to the block copy from its first byte.
const BLOCKS_FROM: usize = 1024;

/// [`NEXT_DATA`] padded to a word, for [`unchecked::put_short_lines`].
const NEXT_DATA_WORD: [u8; 8] = *b"\ndata:  ";

/// Writes the rest of the line that starts at `data[at..]` (if any), and the
/// `\ndata: ` that ends it if a break ends it; returns the index after that
/// break, or `data.len()`. (Short data's first line, and what the block copy
/// leaves: the last bytes, a CR that may start a CRLF, or a line once the
/// buffer's room ran short.)
#[inline(always)]
fn put_line_rest(buf: &mut BytesMut, data: &[u8], at: usize) -> usize {
    let rest = &data[at..];
    match find_break(rest) {
        Some(i) => {
            buf.extend_from_slice(&rest[..i]);
            buf.extend_from_slice(NEXT_DATA);
            skip_break_at(data, at + i)
        }
        None => {
            buf.extend_from_slice(rest);
            data.len()
        }
    }
}

/// Calls `f` with each line of `text` but the last, and returns the last line
/// (empty if `text` ends with a line break). CRLF, a lone CR and a lone LF each
/// end a line.
///
/// One pass: each search starts where the last line ended, so text without a
/// break (the common case) is a single search. The search (`find_break`) is
/// inlined here and takes 16 bytes at a time: for many short lines that beats
/// memchr's call and setup per line, which it hands long lines to.
#[inline(always)]
fn for_each_line<'a>(text: &'a [u8], mut f: impl FnMut(&'a [u8])) -> &'a [u8] {
    let mut start = 0;
    while let Some(i) = find_break(&text[start..]) {
        let end = start + i;
        f(&text[start..end]);
        start = skip_break_at(text, end);
    }
    &text[start..]
}

/// The index after the line break at `text[i]` (a CR followed by LF is one break).
#[inline(always)]
fn skip_break_at(text: &[u8], i: usize) -> usize {
    if text[i] == b'\r' && text.get(i + 1) == Some(&b'\n') {
        i + 2
    } else {
        i + 1
    }
}

/// Writes one comment line (`: LINE`, or `:` for an empty line) per line of
/// `text`.
fn put_comment(buf: &mut BytesMut, text: &[u8]) {
    let mut put_line = |line: &[u8]| {
        if line.is_empty() {
            buf.extend_from_slice(b":\n");
        } else {
            buf.extend_from_slice(b": ");
            buf.extend_from_slice(line);
            buf.extend_from_slice(b"\n");
        }
    };
    let last = for_each_line(text, &mut put_line);
    put_line(last);
}

/// Encoded length of the `data: LINE\n` lines for `data` (without the blank
/// line that ends the frame).
fn data_len(data: &[u8]) -> usize {
    let mut len = 0;
    let last = for_each_line(data, |line| len += DATA.len() + line.len() + 1);
    len + DATA.len() + last.len() + 1
}

/// Encoded length of the comment lines for `text`.
fn comment_len(text: &[u8]) -> usize {
    let line_len = |line: &[u8]| if line.is_empty() { 2 } else { 3 + line.len() };
    let mut len = 0;
    let last = for_each_line(text, |line| len += line_len(line));
    len + line_len(last)
}

/// Number of decimal digits in `n`.
fn digits(mut n: u64) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

/// Writes `n` in decimal at the end of `out`; returns the number of digits.
fn write_u64(mut n: u64, out: &mut [u8; 20]) -> usize {
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return out.len() - i;
        }
    }
}

// ---------------------------------------------------------------------------
// EventBuilder

/// Builds an [`Event`] from strings, validating each field as it is set.
///
/// Like [`http::request::Builder`], the builder never panics and keeps the
/// *first* error: later calls are ignored once a field was rejected, and
/// [`build`](EventBuilder::build) returns that error. Setting a field twice
/// overwrites it; comments append.
///
/// ```
/// use sse_session::{Event, FieldErrorKind, FieldKind};
///
/// let event = Event::builder().name("update").id("42").retry_ms(3000).data("{}").build()?;
/// assert_eq!(&event.to_bytes()[..], b"event: update\nid: 42\nretry: 3000\ndata: {}\n\n");
///
/// let err = Event::builder().id("1\n").name("a\rb").build().unwrap_err();
/// assert_eq!((err.field(), err.kind()), (FieldKind::Id, FieldErrorKind::LineFeed));
/// # Ok::<(), sse_session::InvalidField>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until build() is called"]
pub struct EventBuilder {
    inner: Result<Event, InvalidField>,
}

impl Default for EventBuilder {
    fn default() -> Self {
        EventBuilder {
            inner: Ok(Event::default()),
        }
    }
}

impl EventBuilder {
    /// A builder for an event with no fields; same as [`Event::builder`].
    ///
    /// ```
    /// use sse_session::EventBuilder;
    ///
    /// let event = EventBuilder::new().comment("hi").build()?;
    /// assert_eq!(event.comments(), ["hi"]);
    /// # Ok::<(), sse_session::InvalidField>(())
    /// ```
    pub fn new() -> Self {
        EventBuilder::default()
    }

    fn and_then(self, f: impl FnOnce(Event) -> Result<Event, InvalidField>) -> Self {
        EventBuilder {
            inner: self.inner.and_then(f),
        }
    }

    /// Sets the event name; an error if it contains CR or LF (see [`EventName`]).
    ///
    /// ```
    /// use sse_session::Event;
    ///
    /// assert!(Event::builder().name("update").build().is_ok());
    /// assert!(Event::builder().name("x\ndata: injected").build().is_err());
    /// ```
    pub fn name(self, name: impl AsRef<str>) -> Self {
        self.and_then(|e| Ok(e.with_name(EventName::try_from(name.as_ref())?)))
    }

    /// Sets the event ID; an error if it contains CR, LF or NUL (see
    /// [`EventId`]). The empty ID is valid.
    ///
    /// ```
    /// use sse_session::Event;
    ///
    /// assert!(Event::builder().id("").build().is_ok());
    /// assert!(Event::builder().id("a\0b").build().is_err());
    /// ```
    pub fn id(self, id: impl AsRef<str>) -> Self {
        self.and_then(|e| Ok(e.with_id(EventId::try_from(id.as_ref())?)))
    }

    /// Sets the retry delay in milliseconds (cannot fail).
    ///
    /// ```
    /// use sse_session::{Event, RetryDelay};
    ///
    /// let event = Event::builder().retry_ms(10).build()?;
    /// assert_eq!(event.retry(), Some(RetryDelay::from_millis(10)));
    /// # Ok::<(), sse_session::InvalidField>(())
    /// ```
    pub fn retry_ms(self, ms: u64) -> Self {
        self.and_then(|e| Ok(e.with_retry(RetryDelay::from_millis(ms))))
    }

    /// Sets the data (any text; cannot fail).
    ///
    /// ```
    /// use sse_session::Event;
    ///
    /// let event = Event::builder().data("one").data("two").build()?;
    /// assert_eq!(event.data(), Some("two")); // the last call wins
    /// # Ok::<(), sse_session::InvalidField>(())
    /// ```
    pub fn data(self, data: impl Into<String>) -> Self {
        self.and_then(|e| Ok(e.with_data(data)))
    }

    /// Appends a comment (any text; cannot fail).
    ///
    /// ```
    /// use sse_session::Event;
    ///
    /// let event = Event::builder().comment("a").comment("b").build()?;
    /// assert_eq!(event.comments(), ["a", "b"]);
    /// # Ok::<(), sse_session::InvalidField>(())
    /// ```
    pub fn comment(self, comment: impl Into<String>) -> Self {
        self.and_then(|e| Ok(e.with_comment(comment)))
    }

    /// The event, or the first error.
    ///
    /// # Errors
    ///
    /// The [`InvalidField`] of the first rejected value.
    ///
    /// ```
    /// use sse_session::{Event, FieldKind};
    ///
    /// assert!(Event::builder().data("ok").build().is_ok());
    /// let err = Event::builder().name("a\nb").id("c\nd").build().unwrap_err();
    /// assert_eq!(err.field(), FieldKind::Event);
    /// ```
    pub fn build(self) -> Result<Event, InvalidField> {
        self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(e: &Event) -> Vec<u8> {
        let bytes = e.to_bytes();
        assert_eq!(bytes.len(), e.encoded_len(), "encoded_len of {e:?}");
        let mut buf = BytesMut::from(&b"prefix"[..]);
        e.encode_into(&mut buf);
        assert_eq!(&buf[6..], &bytes[..], "encode_into == to_bytes");
        bytes.to_vec()
    }

    fn data(s: &str) -> Vec<u8> {
        enc(&Event::new(s))
    }

    #[test]
    fn single_line_data() {
        assert_eq!(data("x"), b"data: x\n\n");
    }

    #[test]
    fn empty_data_still_encodes() {
        assert_eq!(data(""), b"data: \n\n");
    }

    #[test]
    fn leading_space_survives() {
        assert_eq!(data(" x"), b"data:  x\n\n");
    }

    #[test]
    fn lf_splits() {
        assert_eq!(data("a\nb"), b"data: a\ndata: b\n\n");
    }

    #[test]
    fn lone_cr_splits() {
        assert_eq!(data("a\rb"), b"data: a\ndata: b\n\n");
    }

    #[test]
    fn crlf_is_one_break() {
        assert_eq!(data("a\r\nb"), b"data: a\ndata: b\n\n");
    }

    #[test]
    fn lfcr_is_two_breaks() {
        assert_eq!(data("a\n\rb"), b"data: a\ndata: \ndata: b\n\n");
    }

    #[test]
    fn cr_cr_lf() {
        assert_eq!(data("a\r\r\nb"), b"data: a\ndata: \ndata: b\n\n");
    }

    #[test]
    fn trailing_break_gives_empty_last_line() {
        assert_eq!(data("a\n"), b"data: a\ndata: \n\n");
        assert_eq!(data("a\r\n"), b"data: a\ndata: \n\n");
        assert_eq!(data("\r"), b"data: \ndata: \n\n");
    }

    #[test]
    fn leading_and_blank_lines() {
        assert_eq!(data("\n\nx"), b"data: \ndata: \ndata: x\n\n");
    }

    #[test]
    fn non_ascii_data() {
        assert_eq!(
            data("héllo\u{2028}wörld"),
            "data: héllo\u{2028}wörld\n\n".as_bytes()
        );
    }

    #[test]
    fn comments() {
        assert_eq!(
            enc(&Event::default().with_comment("hi")),
            b": hi\n\n".to_vec()
        );
        assert_eq!(enc(&Event::default().with_comment("")), b":\n\n".to_vec());
        assert_eq!(
            enc(&Event::default().with_comment("a\r\nb\rc\n\nd")),
            b": a\n: b\n: c\n:\n: d\n\n".to_vec()
        );
        assert_eq!(
            enc(&Event::default().with_comment(" x")),
            b":  x\n\n".to_vec()
        );
        assert_eq!(
            enc(&Event::default().with_comment("a\n")),
            b": a\n:\n\n".to_vec()
        );
    }

    #[test]
    fn keep_alive_is_empty_comment() {
        assert_eq!(enc(&Event::default().with_comment("")), KEEP_ALIVE.to_vec());
    }

    #[test]
    fn field_order() {
        let e = Event::new("d")
            .with_retry(RetryDelay::from_millis(3000))
            .with_id(EventId::from_static("7"))
            .with_name(EventName::from_static("n"))
            .with_comment("c");
        assert_eq!(
            enc(&e),
            b": c\nevent: n\nid: 7\nretry: 3000\ndata: d\n\n".to_vec()
        );
    }

    #[test]
    fn empty_id_resets() {
        let e = Event::default().with_id(EventId::from_static(""));
        assert_eq!(enc(&e), b"id: \n\n".to_vec());
    }

    #[test]
    fn empty_name() {
        let e = Event::new("x").with_name(EventName::from_static(""));
        assert_eq!(enc(&e), b"event: \ndata: x\n\n".to_vec());
    }

    #[test]
    fn retry_digits() {
        for (ms, s) in [
            (0, "0"),
            (9, "9"),
            (10, "10"),
            (1000, "1000"),
            (u64::MAX, "18446744073709551615"),
        ] {
            let e = Event::default().with_retry(RetryDelay::from_millis(ms));
            assert_eq!(enc(&e), format!("retry: {s}\n\n").into_bytes());
        }
    }

    #[test]
    fn empty_event_is_blank_line() {
        assert_eq!(enc(&Event::default()), b"\n".to_vec());
    }

    #[test]
    fn setters_overwrite_comments_append() {
        let e = Event::new("a")
            .with_data("b")
            .with_id(EventId::from_static("1"))
            .with_id(EventId::from_static("2"))
            .with_comment("x")
            .with_comment("y");
        assert_eq!(enc(&e), b": x\n: y\nid: 2\ndata: b\n\n".to_vec());
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn event_sizes() {
        // Name and ID inline (up to 38 bytes each), so that building an event
        // allocates nothing for them; the price is a larger value to move.
        assert_eq!(std::mem::size_of::<EventName>(), 40);
        assert_eq!(std::mem::size_of::<Event>(), 160);
        assert_eq!(std::mem::size_of::<EventRef<'_>>(), 80);
    }

    #[test]
    fn event_ref_encodes_as_event() {
        let long = "z".repeat(2000);
        let lines = "line\n".repeat(300);
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            Option<u64>,
            Option<&'a str>,
        );
        let cases: [Case<'_>; 6] = [
            ("x", None, None, None, None),
            ("a\r\nb\rc\n", Some("update"), Some(""), None, None),
            (
                "",
                None,
                Some("0123456789012345678901234567890123456789"),
                Some(7),
                None,
            ),
            ("é\n\n", Some(""), None, None, Some("c\nd")),
            (&long, Some("n"), Some("1"), Some(0), Some("")),
            (&lines, None, None, None, None),
        ];
        for (data, name, id, retry, comment) in cases {
            let mut r = EventRef::new(data);
            let mut b = Event::builder().data(data);
            if let Some(n) = name {
                r = r.name(n).unwrap();
                b = b.name(n);
            }
            if let Some(i) = id {
                r = r.id(i).unwrap();
                b = b.id(i);
            }
            if let Some(ms) = retry {
                r = r.retry(RetryDelay::from_millis(ms));
                b = b.retry_ms(ms);
            }
            if let Some(c) = comment {
                r = r.comment(c);
                b = b.comment(c);
            }
            let e = b.build().unwrap();
            let want = enc(&e);
            assert_eq!(&r.to_bytes()[..], &want[..], "{data:?}");
            assert_eq!(r.encoded_len(), want.len());
            let mut buf = BytesMut::from(&b"pre"[..]);
            r.encode_into(&mut buf);
            assert_eq!(&buf[3..], &want[..]);
            assert_eq!(r.to_event(), e);
            assert_eq!(EventRef::from(&e), r);
        }
    }

    #[test]
    fn event_ref_rejects_like_the_newtypes() {
        use crate::field::{FieldErrorKind as K, FieldKind as F};
        let e = EventRef::new("x").name("ab\ncd").unwrap_err();
        assert_eq!(
            (e.field(), e.kind(), e.offset()),
            (F::Event, K::LineFeed, 2)
        );
        let e = EventRef::new("x").id("a\0\n").unwrap_err();
        assert_eq!((e.field(), e.kind(), e.offset()), (F::Id, K::Nul, 1));
        let e = EventRef::new("x").id("a\r\0").unwrap_err();
        assert_eq!(
            (e.field(), e.kind(), e.offset()),
            (F::Id, K::CarriageReturn, 1)
        );
        let long = format!("{}\0", "a".repeat(40));
        let e = EventRef::new("x").id(&long).unwrap_err();
        assert_eq!((e.kind(), e.offset()), (K::Nul, 40));
        assert_eq!(EventId::try_from(long.as_str()).unwrap_err(), e);
        assert!(EventRef::new("x").name("").is_ok());
    }

    #[test]
    fn data_without_copy() {
        let e = Event::from_static("a\nb");
        assert_eq!(e.data(), Some("a\nb"));
        assert_eq!(enc(&e), b"data: a\ndata: b\n\n".to_vec());
        let shared = Bytes::from(String::from("héllo"));
        let e = Event::from_bytes(shared.clone()).unwrap();
        assert_eq!(e, Event::new("héllo"));
        let err = Event::from_bytes(Bytes::from_static(b"h\xc3")).unwrap_err();
        assert_eq!(
            (err.field(), err.kind(), err.offset()),
            (
                crate::field::FieldKind::Data,
                crate::field::FieldErrorKind::InvalidUtf8,
                1
            )
        );
    }

    #[test]
    fn to_bytes_allocates_exactly() {
        let e = Event::new("a\r\nbb\rccc\n").with_comment("x\ny");
        let mut buf = BytesMut::with_capacity(e.encoded_len());
        e.encode_into(&mut buf);
        assert_eq!(buf.len(), buf.capacity());
        assert_eq!(e.to_bytes().len(), e.encoded_len());
    }

    #[test]
    fn encode_into_appends_without_growing_when_roomy() {
        let e = Event::new("0123456789").with_name(EventName::from_static("update"));
        let mut buf = BytesMut::with_capacity(1024);
        let cap = buf.capacity();
        for _ in 0..10 {
            e.encode_into(&mut buf);
        }
        assert_eq!(buf.capacity(), cap);
        assert_eq!(buf.len(), 10 * e.encoded_len());
    }

    #[test]
    fn builder_keeps_first_error() {
        let err = Event::builder()
            .data("ok")
            .id("a\0")
            .name("b\n")
            .build()
            .unwrap_err();
        assert_eq!(err.field(), crate::field::FieldKind::Id);
        assert_eq!(err.offset(), 1);
    }

    #[cfg(feature = "json")]
    #[test]
    fn json_is_one_line() {
        let e = Event::json(&serde_json::json!({"a": "x\ny", "b": [1, 2]})).unwrap();
        assert_eq!(enc(&e), b"data: {\"a\":\"x\\ny\",\"b\":[1,2]}\n\n".to_vec());
    }
}
