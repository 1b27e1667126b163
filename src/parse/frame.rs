//! What the parser yields: [`Frame`], [`MessageEvent`], [`Comment`].

use std::fmt;
use std::hash::{Hash, Hasher};

use crate::field::RetryDelay;
pub(crate) use crate::unchecked::EventText;
pub(crate) use crate::unchecked::{EVENT_ROOM, INLINE_CAP};

/// One thing the parser found in an event stream, in stream order.
///
/// - [`Frame::Event`]: a blank line dispatched an event that had at least one
///   `data` line ([WHATWG: dispatch the event]).
/// - [`Frame::Retry`]: a valid `retry:` line (ASCII digits only) changed the
///   reconnection time. It is reported when the line is read, not at the
///   next blank line, exactly when a browser applies it.
/// - [`Frame::Comment`]: a line starting with `:` (browsers ignore these; servers
///   use them as keep-alives).
///
/// ```
/// use sse_session::{parse_all, Frame, RetryDelay};
///
/// let frames = parse_all(b": hi\nretry: 3000\ndata: x\n\n")?;
/// assert!(matches!(&frames[0], Frame::Comment(c) if c.text() == "hi"));
/// assert_eq!(frames[1], Frame::Retry(RetryDelay::from_millis(3000)));
/// assert!(matches!(&frames[2], Frame::Event(e) if e.data() == "x"));
/// # Ok::<(), sse_session::ParseError>(())
/// ```
///
/// [WHATWG: dispatch the event]: https://html.spec.whatwg.org/multipage/server-sent-events.html#dispatchMessage
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Frame {
    /// A dispatched event.
    Event(MessageEvent),
    /// A `retry:` line with a valid value.
    Retry(RetryDelay),
    /// A comment line.
    Comment(Comment),
}

/// A dispatched event, as a browser's `EventSource` delivers it in a
/// `MessageEvent`: the type, the data and the last event ID.
///
/// The parser builds each event with one heap allocation: the data, a custom
/// type and a short last event ID share one buffer (kept inside the event
/// itself, with no allocation, when they total 6 bytes or less on a 64-bit
/// target); the default type `"message"` is a static string. A long last
/// event ID (over 128 bytes) is shared between events until it changes, not
/// copied into each. The event is one pointer-sized word, and a [`Frame`] two,
/// so taking an event out of a returned frame is a single 8-byte move.
///
/// Equality compares the three values, not how they are stored.
///
/// ```
/// use sse_session::{parse_all, Frame, MessageEvent};
///
/// let frames = parse_all(b"event: add\nid: 7\ndata: 1\ndata: 2\n\n")?;
/// let Frame::Event(event) = &frames[0] else { unreachable!() };
/// assert_eq!(event.event_type(), "add");
/// assert_eq!(event.data(), "1\n2");
/// assert_eq!(event.last_event_id(), "7");
/// assert_eq!(*event, MessageEvent::new("add", "1\n2", "7"));
/// # Ok::<(), sse_session::ParseError>(())
/// ```
#[derive(Clone)]
pub struct MessageEvent {
    text: EventText,
}

const DEFAULT_TYPE: &str = "message";

impl MessageEvent {
    /// An event with the given values, e.g. to compare against parser output
    /// in tests. An empty `event_type` means `"message"`, as in the stream.
    ///
    /// ```
    /// use sse_session::MessageEvent;
    ///
    /// let e = MessageEvent::new("", "hello", "");
    /// assert_eq!(e.event_type(), "message");
    /// assert_eq!(e, MessageEvent::new("message", "hello", ""));
    /// ```
    pub fn new(event_type: &str, data: &str, last_event_id: &str) -> Self {
        let event_type = if event_type == DEFAULT_TYPE {
            ""
        } else {
            event_type
        };
        if let Some(inline) = MessageEvent::inline(data, event_type, last_event_id) {
            return inline;
        }
        let mut text =
            String::with_capacity(data.len() + event_type.len() + last_event_id.len() + EVENT_ROOM);
        text.push_str(data);
        let data_end = text.len();
        text.push_str(event_type);
        let type_end = text.len();
        text.push_str(last_event_id);
        MessageEvent::from_text(EventText::from_parts(text, data_end, type_end, None))
    }

    /// A small event stored in place, if the three texts fit. `event_type` is
    /// empty for the default type.
    #[inline]
    pub(crate) fn inline(data: &str, event_type: &str, last_event_id: &str) -> Option<Self> {
        EventText::inline(data, event_type, last_event_id).map(|text| MessageEvent { text })
    }

    /// A small event with the default type and an empty ID: its data is
    /// `window[..len]`, which the caller checked with `is_utf8_inline` (the
    /// rest of the window is never read).
    #[inline(always)]
    pub(crate) fn inline_data(window: &[u8], len: usize) -> Self {
        MessageEvent {
            text: EventText::inline_data(window, len),
        }
    }

    /// An event over texts the parser built (see `EventText::from_parts`).
    #[inline(always)]
    pub(crate) fn from_text(text: EventText) -> Self {
        MessageEvent { text }
    }

    /// The event type: the last `event:` value of the event, or `"message"`
    /// if there was none or it was empty ([WHATWG][spec]). A browser delivers
    /// the event to `addEventListener(type, ..)` listeners of this type.
    ///
    /// ```
    /// use sse_session::{parse_all, Frame};
    ///
    /// let frames = parse_all(b"data: a\n\nevent: ping\ndata: b\n\n")?;
    /// let types: Vec<&str> = frames
    ///     .iter()
    ///     .map(|f| match f { Frame::Event(e) => e.event_type(), _ => "" })
    ///     .collect();
    /// assert_eq!(types, ["message", "ping"]);
    /// # Ok::<(), sse_session::ParseError>(())
    /// ```
    ///
    /// [spec]: https://html.spec.whatwg.org/multipage/server-sent-events.html#dispatchMessage
    #[must_use]
    #[inline]
    pub fn event_type(&self) -> &str {
        let t = self.text.event_type();
        match t {
            "" => DEFAULT_TYPE,
            t => t,
        }
    }

    /// The data: the values of the event's `data:` lines joined with `\n`
    /// (so a line break inside the data always reads as `\n`, whatever the
    /// server sent). Invalid UTF-8 was replaced by U+FFFD.
    ///
    /// ```
    /// use sse_session::{parse_all, Frame};
    ///
    /// let frames = parse_all(b"data: a\r\ndata:  b\rdata\n\n")?;
    /// let Frame::Event(e) = &frames[0] else { unreachable!() };
    /// assert_eq!(e.data(), "a\n b\n");
    /// # Ok::<(), sse_session::ParseError>(())
    /// ```
    #[must_use]
    #[inline]
    pub fn data(&self) -> &str {
        self.text.data()
    }

    /// The last event ID when this event was dispatched: the value of the
    /// latest `id:` line of the stream so far (it persists across events until
    /// changed, and an empty `id:` resets it to `""`). This is what a browser
    /// sends back in `Last-Event-ID` when it reconnects.
    ///
    /// ```
    /// use sse_session::{parse_all, Frame};
    ///
    /// let frames = parse_all(b"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n")?;
    /// let ids: Vec<&str> = frames
    ///     .iter()
    ///     .map(|f| match f { Frame::Event(e) => e.last_event_id(), _ => "?" })
    ///     .collect();
    /// assert_eq!(ids, ["1", "1", ""]);
    /// # Ok::<(), sse_session::ParseError>(())
    /// ```
    #[must_use]
    #[inline]
    pub fn last_event_id(&self) -> &str {
        self.text.last_event_id()
    }

    /// The data as an owned `String`, reusing the event's allocation when it
    /// has one (no copy).
    ///
    /// ```
    /// use sse_session::MessageEvent;
    ///
    /// let e = MessageEvent::new("update", "{\"n\":1}", "42");
    /// assert_eq!(e.into_data(), "{\"n\":1}");
    /// ```
    #[must_use]
    pub fn into_data(self) -> String {
        self.text.into_data()
    }
}

impl PartialEq for MessageEvent {
    fn eq(&self, other: &Self) -> bool {
        self.data() == other.data()
            && self.event_type() == other.event_type()
            && self.last_event_id() == other.last_event_id()
    }
}

impl Eq for MessageEvent {}

impl Hash for MessageEvent {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.event_type().hash(state);
        self.data().hash(state);
        self.last_event_id().hash(state);
    }
}

impl fmt::Debug for MessageEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageEvent")
            .field("event_type", &self.event_type())
            .field("data", &self.data())
            .field("last_event_id", &self.last_event_id())
            .finish()
    }
}

/// A comment line (`:text`). Browsers ignore comments; servers send them as
/// keep-alives, and they can carry diagnostics.
///
/// ```
/// use sse_session::{parse_all, Comment, Frame};
///
/// let frames = parse_all(b":\n:  two spaces\n")?;
/// assert_eq!(frames, [
///     Frame::Comment(Comment::new("")),
///     Frame::Comment(Comment::new(" two spaces")),
/// ]);
/// # Ok::<(), sse_session::ParseError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Comment {
    /// `None` for the empty comment (a keep-alive: no allocation). Boxed to
    /// one pointer so that a [`Frame`] stays two words (see
    /// [`MessageEvent`]); comments are rare, and a second allocation for a
    /// non-empty one costs little.
    #[allow(
        clippy::box_collection,
        reason = "a thin pointer: a `String` is three words, a `Box<str>` two"
    )]
    text: Option<Box<String>>,
}

impl Comment {
    /// A comment with this text (as [`Comment::text`] returns it).
    ///
    /// ```
    /// use sse_session::Comment;
    ///
    /// assert_eq!(Comment::new("keep-alive").text(), "keep-alive");
    /// ```
    pub fn new(text: impl Into<String>) -> Self {
        let text: String = text.into();
        Comment {
            text: (!text.is_empty()).then(|| Box::new(text)),
        }
    }

    /// The text after the colon, without one leading space if there was one
    /// (the same rule as field values). Invalid UTF-8 was replaced by U+FFFD.
    ///
    /// ```
    /// use sse_session::{parse_all, Frame};
    ///
    /// let frames = parse_all(b": ping\n")?;
    /// let Frame::Comment(c) = &frames[0] else { unreachable!() };
    /// assert_eq!(c.text(), "ping");
    /// # Ok::<(), sse_session::ParseError>(())
    /// ```
    #[must_use]
    pub fn text(&self) -> &str {
        self.text.as_deref().map_or("", String::as_str)
    }

    /// The text as an owned `String` (no copy).
    ///
    /// ```
    /// use sse_session::Comment;
    ///
    /// assert_eq!(Comment::new("x").into_text(), "x");
    /// ```
    #[must_use]
    pub fn into_text(self) -> String {
        self.text.map_or_else(String::new, |text| *text)
    }
}

impl fmt::Debug for Comment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Comment")
            .field("text", &self.text())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_heap_events_compare_by_value() {
        let small = MessageEvent::new("t", "dat", "id");
        assert!(small.text.form() == "inline");
        let big = MessageEvent::from_text(EventText::from_parts("dattid".to_owned(), 3, 4, None));
        assert!(big.text.form() == "heap");
        assert_eq!(small.data(), "dat");
        assert_eq!(small.event_type(), "t");
        assert_eq!(small.last_event_id(), "id");
        assert_eq!(small, big);
        let long = "x".repeat(INLINE_CAP + 1);
        let heap = MessageEvent::new("", &long, "");
        assert!(heap.text.form() == "heap");
        assert_eq!(heap.into_data(), long);
        let exact = "é".repeat(INLINE_CAP / 2);
        let inline = MessageEvent::new("message", &exact, "");
        assert!(inline.text.form() == "inline");
        assert_eq!(inline.event_type(), "message");
        assert_eq!(inline.clone().into_data(), exact);
    }

    #[test]
    fn a_shared_id_is_kept_in_the_header() {
        let id: std::sync::Arc<str> = std::sync::Arc::from("i".repeat(200));
        let shared = MessageEvent::from_text(EventText::from_parts(
            "dataty".to_owned(),
            4,
            6,
            Some(id.clone()),
        ));
        assert!(shared.text.form() == "heap");
        assert_eq!(
            (shared.data(), shared.event_type(), shared.last_event_id()),
            ("data", "ty", &*id)
        );
        assert_eq!(shared, MessageEvent::new("ty", "data", &id));
        let copy = shared.clone();
        assert_eq!(std::sync::Arc::strong_count(&id), 3);
        assert_eq!(shared.into_data(), "data");
        assert_eq!(copy.last_event_id(), &*id);
        drop(copy);
        assert_eq!(std::sync::Arc::strong_count(&id), 1);
    }

    /// What `next_frame` returns is two words, and the event one: the
    /// caller moves it with one load (see `EventText`).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn an_event_is_one_word() {
        assert_eq!(std::mem::size_of::<MessageEvent>(), 8);
        assert_eq!(std::mem::size_of::<Option<MessageEvent>>(), 8);
        assert_eq!(std::mem::size_of::<Frame>(), 16);
    }
}
