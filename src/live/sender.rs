//! [`Sender`]: the handle that feeds one connection's stream.

use std::error::Error;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use super::journal::Stored;
use super::shared::{ConnectionId, Opening, Refused, Shared};
use crate::event::Event;
use crate::session::{DynClosedIds, SessionId};

/// The sending half of one live SSE connection. Cheap to clone; every clone
/// feeds the same stream.
///
/// # Lifecycle
///
/// | what happens | the stream | the session |
/// |---|---|---|
/// | the client goes away (the [`SseBody`](super::SseBody) is dropped) | gone: [`closed()`](Self::closed) resolves, `send` fails with [`Closed`](SendErrorKind::Closed) | resumable |
/// | [`close()`](Self::close) / [`close_with(event)`](Self::close_with) | ends after the queued frames (and the last event) | closed: a reconnect gets `204 No Content` |
/// | [`disconnect()`](Self::disconnect) | ends now; queued frames are dropped | resumable: the browser reconnects into it |
/// | every `Sender` is dropped | ends after the queued frames | resumable |
///
/// After any of these, [`is_closed()`](Self::is_closed) is true and sends fail
/// with [`SendErrorKind::Closed`].
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use sse_session::event::Event;
/// use sse_session::live::{Accepted, Sessions};
///
/// let sessions = Sessions::default();
/// let parts = http::Request::get("/events").body(()).unwrap().into_parts().0;
/// let Accepted::Open(conn) = sessions.accept(&parts).await else { unreachable!() };
/// let (tx, body) = conn.into_parts();
///
/// tx.send(Event::new("hello")).unwrap();
/// assert!(!tx.is_closed());
/// drop(body); // what hyper does when the client goes away
/// tx.closed().await;
/// assert!(tx.send(Event::new("late")).is_err());
/// # }
/// ```
pub struct Sender {
    shared: Arc<Shared>,
}

impl Sender {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        shared.senders.fetch_add(1, Ordering::Relaxed);
        Self { shared }
    }

    /// Queues an event for this connection.
    ///
    /// The event is encoded once here; the body writes the bytes when the
    /// client is ready for them. Returns at once, never waits.
    ///
    /// # Errors
    ///
    /// The event comes back inside the error ([`SendError::into_inner`]):
    ///
    /// - [`SendErrorKind::HasId`]: the event carries its own `id:`. On a
    ///   session stream the crate owns that field: the browser would store the
    ///   event's ID as its `lastEventId` and send it back as `Last-Event-ID` on
    ///   the next reconnect, and the session would be lost. Send the event
    ///   without the ID (put application IDs in the data).
    /// - [`SendErrorKind::Full`]: the connection's queue holds
    ///   [`queue_frames`](super::SessionConfig::queue_frames) frames or
    ///   [`queue_bytes`](super::SessionConfig::queue_bytes) bytes already: the
    ///   client reads slower than events are produced. Drop the event, retry
    ///   later, or [`disconnect()`](Self::disconnect) the slow client.
    /// - [`SendErrorKind::Closed`]: the stream has ended (see the lifecycle
    ///   table on [`Sender`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use sse_session::event::Event;
    /// use sse_session::field::EventId;
    /// use sse_session::live::{Accepted, SendErrorKind, Sessions};
    ///
    /// # let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = Sessions::default().accept(&parts).await else { unreachable!() };
    /// let tx = conn.sender();
    /// assert!(tx.send(Event::new("ok")).is_ok());
    ///
    /// let with_id = Event::new("no").with_id(EventId::from_static("42"));
    /// let err = tx.send(with_id).unwrap_err();
    /// assert_eq!(err.kind(), SendErrorKind::HasId);
    /// assert_eq!(err.into_inner().data(), Some("no"));
    /// # }
    /// ```
    pub fn send(&self, event: Event) -> Result<(), SendError<Event>> {
        if event.id().is_some() {
            return Err(self.error(SendErrorKind::HasId, event));
        }
        if self.shared.is_ended() {
            return Err(self.error(SendErrorKind::Closed, event));
        }
        let frame = event.to_bytes();
        self.shared
            .push(&frame, false)
            .map_err(|refused| self.error(refused.into(), event))
    }

    /// Queues a pre-encoded frame, such as one [`Event::to_bytes`] result
    /// shared by many connections: a broadcast encodes once, and each
    /// connection only bumps a reference count.
    ///
    /// The bytes are written as they are. They must be whole frames (ending
    /// in a blank line) and must not carry an `id:` field (see
    /// [`send`](Self::send)); unlike `send`, this is not checked, because
    /// checking would mean scanning every frame once per connection. An empty
    /// `Bytes` is accepted and ignored.
    ///
    /// # Errors
    ///
    /// [`SendErrorKind::Full`] or [`SendErrorKind::Closed`], with the bytes
    /// given back.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use sse_session::event::Event;
    /// use sse_session::live::{Accepted, Sessions};
    ///
    /// let sessions = Sessions::default();
    /// # let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// let frame = Event::new("to everyone").to_bytes(); // encoded once
    /// for _ in 0..3 {
    ///     let Accepted::Open(conn) = sessions.accept(&parts).await else { unreachable!() };
    ///     conn.sender().send_bytes(frame.clone()).unwrap(); // shared, not copied
    /// }
    /// # }
    /// ```
    pub fn send_bytes(&self, frame: Bytes) -> Result<(), SendError<Bytes>> {
        if self.shared.is_ended() {
            return Err(self.error(SendErrorKind::Closed, frame));
        }
        if frame.is_empty() {
            return Ok(());
        }
        // `push` clones the frame (a reference-count bump) only if it is
        // queued; on failure this one goes back.
        self.shared
            .push(&frame, false)
            .map_err(|refused| self.error(refused.into(), frame))
    }

    #[cfg(test)]
    pub(crate) fn has_queue_buffer(&self) -> bool {
        self.shared.has_queue_buffer()
    }

    /// For the hub: queues a numbered event (it goes out behind this
    /// connection's `id: <session>.<seq>` line).
    pub(crate) fn push_seq(&self, event: &Arc<Stored>) -> Result<(), Refused> {
        self.shared.push_seq(event, false)
    }

    /// For the hub: queues a numbered event past the queue bounds (a job
    /// channel's final event).
    pub(crate) fn push_seq_forced(&self, event: &Arc<Stored>) -> Result<(), Refused> {
        self.shared.push_seq(event, true)
    }

    /// For the hub: queues a plain frame (no `id:` line), within the queue
    /// bounds.
    pub(crate) fn push_plain(&self, frame: &Bytes) -> Result<(), Refused> {
        self.shared.push(frame, false)
    }

    /// For the hub: queues a plain frame past the queue bounds (ignored if
    /// the stream has ended).
    pub(crate) fn push_forced(&self, frame: &Bytes) {
        let _ = self.shared.push(frame, true);
    }

    /// For the hub: ends the stream after what is queued (the session stays
    /// as it is).
    pub(crate) fn finish_stream(&self) {
        self.shared.finish(true);
    }

    /// For the hub: replays `events` first; with `end`, ends the stream
    /// after them.
    pub(crate) fn start_with(&self, events: Vec<Arc<Stored>>, end: bool) {
        self.shared.start_with(events, end);
    }

    /// The stream's starting position (see [`Connection::cursor`](super::Connection::cursor)).
    pub(crate) fn cursor(&self) -> Option<u64> {
        match self.shared.opening {
            Opening::Session => None,
            Opening::At(c) | Opening::Gap(c, _) => Some(c),
        }
    }

    /// For the hub: marks this connection as disconnected for being slow;
    /// `true` the first time only.
    pub(crate) fn mark_kicked(&self) -> bool {
        !self.shared.kicked.swap(true, Ordering::Relaxed)
    }

    /// Resolves once the stream can take no more events: the client went
    /// away (hyper drops the body within milliseconds of the TCP connection
    /// closing, no write needed to notice), or the stream was ended by
    /// [`close`](Self::close), [`disconnect`](Self::disconnect) or by dropping
    /// every sender. Resolves at once if that already happened.
    ///
    /// This is how a per-connection task knows when to stop:
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// use sse_session::event::Event;
    /// use sse_session::field::EventName;
    /// use sse_session::live::{Accepted, Sessions};
    ///
    /// # let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = Sessions::default().accept(&parts).await else { unreachable!() };
    /// let tx = conn.sender();
    /// let task = tokio::spawn(async move {
    ///     let mut tick = tokio::time::interval(Duration::from_millis(10));
    ///     loop {
    ///         tokio::select! {
    ///             _ = tx.closed() => break,
    ///             _ = tick.tick() => {
    ///                 let _ = tx.send(Event::new("tick").with_name(EventName::from_static("tick")));
    ///             }
    ///         }
    ///     }
    /// });
    /// drop(conn); // the client went away
    /// task.await.unwrap();
    /// # }
    /// ```
    pub async fn closed(&self) {
        self.shared.closed().await;
    }

    /// Whether the stream can take no more events (see [`closed`](Self::closed)).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use sse_session::live::{Accepted, Sessions};
    /// # let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = Sessions::default().accept(&parts).await else { unreachable!() };
    /// let tx = conn.sender();
    /// assert!(!tx.is_closed());
    /// tx.disconnect();
    /// assert!(tx.is_closed());
    /// # }
    /// ```
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.shared.is_ended()
    }

    /// Closes the session for good: marks its ID closed in the
    /// [`ClosedIds`](crate::session::ClosedIds) store, then ends the stream
    /// once the queued frames are written.
    ///
    /// The store is written first, so a browser that reconnects the moment
    /// the stream ends already gets `204 No Content` and its `EventSource`
    /// stops. Only this connection's stream ends; other connections of the
    /// same session (duplicated tabs) get `204` on their next reconnect (the
    /// hub ends them all at once). The ID is marked closed even when the
    /// client has already gone.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use sse_session::live::{Accepted, Sessions};
    ///
    /// let sessions = Sessions::default();
    /// let parts = http::Request::get("/events").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = sessions.accept(&parts).await else { unreachable!() };
    /// let id = conn.session_id().clone();
    /// conn.sender().close().await;
    ///
    /// let again = http::Request::get(format!("/events?id={id}")).body(()).unwrap();
    /// let accepted = sessions.accept(&again.into_parts().0).await;
    /// assert!(matches!(accepted, Accepted::Closed(_)));
    /// assert_eq!(accepted.into_response().status(), http::StatusCode::NO_CONTENT);
    /// # }
    /// ```
    pub async fn close(&self) {
        self.mark_closed().await;
        self.shared.finish(true);
    }

    /// Like [`close`](Self::close), with a last event written after the
    /// queued ones. The last event is not subject to the queue bounds.
    ///
    /// # Errors
    ///
    /// - [`SendErrorKind::HasId`]: the event carries an `id:` (see
    ///   [`send`](Self::send)); nothing was done, the session is still open.
    /// - [`SendErrorKind::Closed`]: the stream had already ended; the session
    ///   is marked closed all the same, the event was not delivered.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use sse_session::event::Event;
    /// # use sse_session::live::{Accepted, Sessions};
    /// # let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = Sessions::default().accept(&parts).await else { unreachable!() };
    /// conn.sender().close_with(Event::new("bye")).await.unwrap();
    /// # }
    /// ```
    pub async fn close_with(&self, event: Event) -> Result<(), SendError<Event>> {
        if event.id().is_some() {
            return Err(self.error(SendErrorKind::HasId, event));
        }
        let frame = event.to_bytes();
        self.mark_closed().await;
        let pushed = self.shared.push(&frame, true);
        self.shared.finish(true);
        pushed.map_err(|refused| self.error(refused.into(), event))
    }

    async fn mark_closed(&self) {
        let now = std::time::Instant::now();
        self.shared
            .config
            .closed_ids
            .mark_closed_dyn(&self.shared.session, now)
            .await;
    }

    /// Ends this connection's stream now, dropping queued frames, without
    /// closing the session: the browser reconnects after its retry delay and
    /// resumes the same session. Used to shed a slow client or to move a
    /// client to another server.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use sse_session::live::{Accepted, Sessions};
    /// # let sessions = Sessions::default();
    /// # let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = sessions.accept(&parts).await else { unreachable!() };
    /// let tx = conn.sender();
    /// tx.disconnect();
    /// assert!(tx.is_closed());
    /// assert!(!sessions.is_closed(tx.session_id()).await); // still resumable
    /// # }
    /// ```
    pub fn disconnect(&self) {
        self.shared.finish(false);
    }

    /// The session this connection belongs to.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use sse_session::live::{Accepted, Sessions};
    /// let parts = http::Request::get("/events?id=tab-7").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = Sessions::default().accept(&parts).await else { unreachable!() };
    /// assert_eq!(conn.sender().session_id().as_str(), "tab-7");
    /// # }
    /// ```
    #[must_use]
    pub fn session_id(&self) -> &SessionId {
        &self.shared.session
    }

    /// This connection's process-unique ID.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use sse_session::live::{Accepted, Sessions};
    /// # let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = Sessions::default().accept(&parts).await else { unreachable!() };
    /// assert_eq!(conn.sender().connection_id(), conn.connection_id());
    /// # }
    /// ```
    #[must_use]
    pub fn connection_id(&self) -> ConnectionId {
        self.shared.id
    }

    /// Frames and bytes queued and not yet taken by the body.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use sse_session::event::Event;
    /// # use sse_session::live::{Accepted, Sessions};
    /// # let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = Sessions::default().accept(&parts).await else { unreachable!() };
    /// let tx = conn.sender();
    /// tx.send(Event::new("x")).unwrap();
    /// assert_eq!(tx.queued(), (1, "data: x\n\n".len()));
    /// # }
    /// ```
    #[must_use]
    pub fn queued(&self) -> (usize, usize) {
        self.shared.queued()
    }

    fn error<T>(&self, kind: SendErrorKind, value: T) -> SendError<T> {
        SendError {
            kind,
            value: Box::new(value),
            max_frames: self.shared.config.queue_frames,
            max_bytes: self.shared.config.queue_bytes,
        }
    }
}

impl Clone for Sender {
    fn clone(&self) -> Self {
        Self::new(Arc::clone(&self.shared))
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last sender: nobody can add frames any more. End the stream
            // after what is queued; the session stays resumable.
            self.shared.finish(true);
        }
    }
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("connection_id", &self.shared.id)
            .field("session_id", &self.shared.session)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Why [`Sender::send`], [`Sender::send_bytes`] or [`Sender::close_with`]
/// failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SendErrorKind {
    /// The connection's queue is at its frame or byte bound.
    Full,
    /// The stream has ended: the client went away, or it was closed,
    /// disconnected, or every sender was dropped.
    Closed,
    /// The event carries its own `id:`, which would replace the session
    /// token in the browser's `lastEventId`.
    HasId,
}

/// A failed send; gives back what was not sent (an [`Event`] or the
/// [`Bytes`] of a pre-encoded frame).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use sse_session::event::Event;
/// use sse_session::live::{Accepted, SendErrorKind, SessionConfig, Sessions};
///
/// let sessions = Sessions::new(SessionConfig::default().queue_frames(1));
/// # let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
/// let Accepted::Open(conn) = sessions.accept(&parts).await else { unreachable!() };
/// let tx = conn.sender();
/// tx.send(Event::new("first")).unwrap();
/// let err = tx.send(Event::new("second")).unwrap_err();
/// assert_eq!(err.kind(), SendErrorKind::Full);
/// assert_eq!(err.to_string(), "send queue is full (limit 1 frames, 262144 bytes)");
/// assert_eq!(err.into_inner().data(), Some("second"));
/// # }
/// ```
pub struct SendError<T> {
    kind: SendErrorKind,
    // Boxed: the error path is cold, and it keeps `Result<(), SendError<Event>>`
    // small on the hot path.
    value: Box<T>,
    max_frames: usize,
    max_bytes: usize,
}

impl<T> SendError<T> {
    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> SendErrorKind {
        self.kind
    }

    /// The event or frame that was not sent.
    #[must_use]
    pub fn into_inner(self) -> T {
        *self.value
    }

    /// A reference to the event or frame that was not sent.
    #[must_use]
    pub fn get_ref(&self) -> &T {
        &self.value
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            SendErrorKind::Full => write!(
                f,
                "send queue is full (limit {} frames, {} bytes)",
                self.max_frames, self.max_bytes
            ),
            SendErrorKind::Closed => f.write_str("the event stream has ended"),
            SendErrorKind::HasId => {
                f.write_str("event carries an id; the session stream owns the id field")
            }
        }
    }
}

impl<T> Error for SendError<T> {}

impl From<Refused> for SendErrorKind {
    fn from(r: Refused) -> Self {
        match r {
            Refused::Full => SendErrorKind::Full,
            Refused::Closed => SendErrorKind::Closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use bytes::Bytes;
    use futures_util::FutureExt;
    use http_body_util::BodyExt;
    use tokio::sync::Semaphore;

    use crate::event::Event;
    use crate::field::EventId;
    use crate::live::{Accepted, SendErrorKind, Sender, SessionConfig, Sessions, SseBody};
    use crate::session::{ClosedIds, MemoryClosedIds, SessionId};

    async fn open(config: SessionConfig, query: &str) -> (Sender, SseBody) {
        let parts = http::Request::get(format!("/events{query}"))
            .body(())
            .unwrap()
            .into_parts()
            .0;
        match Sessions::new(config).accept(&parts).await {
            Accepted::Open(conn) => conn.into_parts(),
            Accepted::Closed(_) => panic!("closed"),
        }
    }

    async fn next_data(body: &mut SseBody) -> Option<Bytes> {
        body.frame().await.map(|f| f.unwrap().into_data().unwrap())
    }

    #[tokio::test]
    async fn frame_bound() {
        let (tx, _body) = open(SessionConfig::default().queue_frames(2), "").await;
        tx.send(Event::new("1")).unwrap();
        tx.send(Event::new("2")).unwrap();
        let err = tx.send(Event::new("3")).unwrap_err();
        assert_eq!(err.kind(), SendErrorKind::Full);
        assert_eq!(err.get_ref().data(), Some("3"));
        assert_eq!(tx.queued(), (2, 18));
    }

    #[tokio::test]
    async fn byte_bound_but_one_big_frame_fits_an_empty_queue() {
        let (tx, mut body) = open(SessionConfig::default().queue_bytes(16), "").await;
        let big = Bytes::from(format!("data: {}\n\n", "x".repeat(100)));
        tx.send_bytes(big.clone()).unwrap(); // empty queue: accepted
        let err = tx
            .send_bytes(Bytes::from_static(b"data: y\n\n"))
            .unwrap_err();
        assert_eq!(err.kind(), SendErrorKind::Full);
        assert_eq!(err.into_inner(), Bytes::from_static(b"data: y\n\n"));
        assert!(next_data(&mut body).await.unwrap().starts_with(b"retry:"));
        assert_eq!(next_data(&mut body).await.unwrap(), big);
        // Drained: room again.
        tx.send_bytes(Bytes::from_static(b"data: y\n\n")).unwrap();
        assert_eq!(tx.queued(), (1, 9));
    }

    #[tokio::test]
    async fn shared_frames_are_not_copied() {
        let (tx, mut body) = open(SessionConfig::default(), "").await;
        let frame = Event::new("all").to_bytes();
        tx.send_bytes(frame.clone()).unwrap();
        let _first = next_data(&mut body).await.unwrap();
        let got = next_data(&mut body).await.unwrap();
        assert_eq!(got.as_ptr(), frame.as_ptr());
    }

    #[tokio::test]
    async fn empty_bytes_are_ignored() {
        let (tx, _body) = open(SessionConfig::default(), "").await;
        tx.send_bytes(Bytes::new()).unwrap();
        assert_eq!(tx.queued(), (0, 0));
    }

    #[tokio::test]
    async fn has_id_is_refused_even_with_the_session_id() {
        let (tx, _body) = open(SessionConfig::default(), "?id=tab").await;
        let err = tx
            .send(Event::new("x").with_id(EventId::from_static("tab")))
            .unwrap_err();
        assert_eq!(err.kind(), SendErrorKind::HasId);
        assert_eq!(
            err.to_string(),
            "event carries an id; the session stream owns the id field"
        );
        // Also for an empty id (which would reset lastEventId).
        let err = tx
            .send(Event::new("x").with_id(EventId::from_static("")))
            .unwrap_err();
        assert_eq!(err.kind(), SendErrorKind::HasId);
        assert!(!tx.is_closed());
    }

    #[tokio::test]
    async fn body_drop_closes_and_drops_the_queue() {
        let (tx, body) = open(SessionConfig::default(), "").await;
        tx.send(Event::new("queued")).unwrap();
        assert!(tx.closed().now_or_never().is_none());
        drop(body);
        assert!(tx.closed().now_or_never().is_some());
        assert!(tx.is_closed());
        assert_eq!(tx.queued(), (0, 0));
        let err = tx.send(Event::new("x")).unwrap_err();
        assert_eq!(err.kind(), SendErrorKind::Closed);
        assert_eq!(err.to_string(), "the event stream has ended");
    }

    #[tokio::test]
    async fn closed_wakes_a_waiting_task() {
        let (tx, body) = open(SessionConfig::default(), "").await;
        let waiter = tokio::spawn({
            let tx = tx.clone();
            async move { tx.closed().await }
        });
        tokio::task::yield_now().await;
        drop(body);
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn disconnect_ends_now_without_the_queue() {
        let (tx, mut body) = open(SessionConfig::default(), "?id=tab").await;
        let _first = next_data(&mut body).await.unwrap();
        tx.send(Event::new("dropped")).unwrap();
        tx.disconnect();
        assert!(next_data(&mut body).await.is_none());
        use http_body::Body as _;
        assert!(body.is_end_stream());
    }

    #[tokio::test]
    async fn last_sender_drop_flushes_then_ends() {
        let (tx, body) = open(SessionConfig::default(), "?id=tab").await;
        let tx2 = tx.clone();
        tx.send(Event::new("a")).unwrap();
        drop(tx);
        assert!(!tx2.is_closed(), "one sender left");
        tx2.send(Event::new("b")).unwrap();
        drop(tx2);
        let all = body.collect().await.unwrap().to_bytes();
        assert_eq!(&all[..], b"retry: 3000\nid: tab\n\ndata: a\n\ndata: b\n\n");
    }

    #[tokio::test]
    async fn close_with_delivers_queue_then_last_event_beyond_the_bound() {
        let store = Arc::new(MemoryClosedIds::default());
        let config = SessionConfig::default()
            .queue_frames(1)
            .retry(None)
            .shared_closed_ids(Arc::clone(&store));
        let (tx, body) = open(config, "?id=tab").await;
        tx.send(Event::new("a")).unwrap();
        tx.close_with(Event::new("bye")).await.unwrap();
        let id = SessionId::try_from("tab").unwrap();
        assert!(store.is_closed(&id, Instant::now()).await);
        let all = body.collect().await.unwrap().to_bytes();
        assert_eq!(&all[..], b"id: tab\n\ndata: a\n\ndata: bye\n\n");
    }

    #[tokio::test]
    async fn close_with_an_id_does_nothing() {
        let store = Arc::new(MemoryClosedIds::default());
        let config = SessionConfig::default().shared_closed_ids(Arc::clone(&store));
        let (tx, _body) = open(config, "?id=tab").await;
        let err = tx
            .close_with(Event::new("x").with_id(EventId::from_static("1")))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), SendErrorKind::HasId);
        assert!(!tx.is_closed());
        let id = SessionId::try_from("tab").unwrap();
        assert!(!store.is_closed(&id, Instant::now()).await);
    }

    #[tokio::test]
    async fn close_after_the_client_left_still_marks_closed() {
        let store = Arc::new(MemoryClosedIds::default());
        let config = SessionConfig::default().shared_closed_ids(Arc::clone(&store));
        let (tx, body) = open(config, "?id=tab").await;
        drop(body);
        let err = tx.close_with(Event::new("bye")).await.unwrap_err();
        assert_eq!(err.kind(), SendErrorKind::Closed);
        let id = SessionId::try_from("tab").unwrap();
        assert!(store.is_closed(&id, Instant::now()).await);
    }

    /// A store whose writes wait for a permit: shows the ID is marked closed
    /// before the stream ends.
    struct Gated {
        gate: Semaphore,
        inner: MemoryClosedIds,
    }

    impl ClosedIds for Gated {
        async fn is_closed(&self, id: &SessionId, now: Instant) -> bool {
            self.inner.is_closed(id, now).await
        }
        async fn mark_closed(&self, id: &SessionId, now: Instant) {
            let _permit = self.gate.acquire().await.unwrap();
            self.inner.mark_closed(id, now).await;
        }
    }

    #[tokio::test]
    async fn close_marks_the_store_before_ending_the_stream() {
        let store = Arc::new(Gated {
            gate: Semaphore::new(0),
            inner: MemoryClosedIds::default(),
        });
        let config = SessionConfig::default().shared_closed_ids(Arc::clone(&store));
        let (tx, _body) = open(config, "?id=tab").await;
        let closing = tokio::spawn({
            let tx = tx.clone();
            async move { tx.close().await }
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(
            !tx.is_closed(),
            "the stream must not end before the store knows"
        );
        store.gate.add_permits(1);
        closing.await.unwrap();
        assert!(tx.is_closed());
        let id = SessionId::try_from("tab").unwrap();
        assert!(store.inner.is_closed(&id, Instant::now()).await);
    }
}
