//! Live delivery: the SSE response body, its sender handle, and the session
//! handshake that picks between `204 No Content` and a stream.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use sse_session::event::Event;
//! use sse_session::live::{Accepted, Sessions};
//!
//! let sessions = Sessions::default(); // keep one, clone it into handlers
//!
//! // In a handler, with the request's parts:
//! let parts = http::Request::get("/events").body(()).unwrap().into_parts().0;
//! let response = match sessions.accept(&parts).await {
//!     Accepted::Closed(_) => http::Response::new(sse_session::live::SseBody::empty()),
//!     Accepted::Open(conn) => {
//!         let tx = conn.sender();
//!         tokio::spawn(async move {
//!             // loop until tx.closed() resolves; here, one event:
//!             let _ = tx.send(Event::new("hello"));
//!         });
//!         conn.into_response()
//!     }
//! };
//! # let _ = response;
//! # }
//! ```
//!
//! # Responses
//!
//! [`Accepted::into_response`] gives either `204 No Content` with an empty
//! body (the session was closed by the server; a browser's `EventSource`
//! then stops reconnecting), or `200 OK` with
//!
//! - `content-type: text/event-stream`,
//! - `cache-control: no-cache` (no cache or proxy may store or replay the stream),
//! - `x-accel-buffering: no` (nginx would otherwise buffer the stream),
//!
//! and nothing connection-specific: `connection`, `keep-alive` and
//! `transfer-encoding` are left to the server (hyper chunks HTTP/1.1 itself
//! and must not send them on HTTP/2).
//!
//! Any request gets a stream, not only an `EventSource` one (`GET` with
//! `Accept: text/event-stream`): `curl` and other tools send `Accept: */*`,
//! and refusing them would help nobody.
//! [`Handshake::is_event_stream`] tells the two apart if an application
//! wants to.
//!
//! An invalid or missing session token is never an error: it yields a fresh
//! session. An error response would make the browser's `EventSource` stop.
//!
//! To reach connections later by session, by user or by topic, accept them
//! through a [`Hub`] instead of [`Sessions`].

// For the hub (crate-internal hooks; not part of the public docs):
//
// - `Sessions::open` (`pub(crate)`): builds the connection for an already
//   vetted `Handshake`, skipping the closed check.
// - `Connection::on_body_drop(Weak<dyn OnBodyDrop>)` (`pub(crate)`): its
//   `body_dropped` runs once (if the `Weak` still upgrades), when the body is dropped (client gone, stream
//   finished and dropped by hyper, or the response never sent). By then the
//   connection is already marked ended (`Sender::is_closed()` is true).
//   Use it to deregister; it must not block.
// - Public on `Sender`: `send_bytes`, `closed()`, `is_closed()`,
//   `disconnect()`, `connection_id()`, `session_id()`, `queued()`.
//   Holding a `Sender` keeps the stream open (the stream ends, resumably,
//   when the last sender is dropped), so a registry that holds senders
//   keeps its connections alive until the client leaves or it drops them.

mod body;
pub(crate) mod hub;
mod journal;
mod resume;
mod sender;
mod shared;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{request::Parts, Request, Response, StatusCode};

pub use body::SseBody;
pub use hub::{Hub, HubConfig, HubStats, UserKey};
pub use resume::{Delivery, GapReason, Resume};
pub use sender::{SendError, SendErrorKind, Sender};
pub use shared::ConnectionId;

use crate::field::RetryDelay;
use crate::session::{
    ClosedIds, DynClosedIds, Handshake, HandshakeConfig, IdSource, MemoryClosedIds, SessionId,
    SharedClosedIds,
};
use shared::{OnBodyDrop, Opening, Shared};

/// Settings for [`Sessions`]: the handshake, the stream's first frame,
/// keep-alive, queue bounds and the closed-ID store.
///
/// ```
/// use std::time::Duration;
/// use sse_session::field::RetryDelay;
/// use sse_session::live::{SessionConfig, Sessions};
///
/// let sessions = Sessions::new(
///     SessionConfig::default()
///         .retry(Some(RetryDelay::from_millis(1_000)))
///         .keep_alive(Some(Duration::from_secs(20)))
///         .queue_frames(64),
/// );
/// # let _ = sessions;
/// ```
#[derive(Clone)]
#[non_exhaustive]
#[must_use = "a config does nothing until passed to Sessions::new"]
pub struct SessionConfig {
    handshake: HandshakeConfig,
    retry: Option<RetryDelay>,
    keep_alive: Option<Duration>,
    queue_frames: usize,
    queue_bytes: usize,
    closed_ids: SharedClosedIds,
}

impl SessionConfig {
    /// Default [`retry`](Self::retry): 3 s.
    pub const DEFAULT_RETRY: RetryDelay = RetryDelay::from_millis(3_000);
    /// Default [`keep_alive`](Self::keep_alive): 15 s.
    pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);
    /// Default [`queue_frames`](Self::queue_frames): 256.
    pub const DEFAULT_QUEUE_FRAMES: usize = 256;
    /// Default [`queue_bytes`](Self::queue_bytes): 256 KiB.
    pub const DEFAULT_QUEUE_BYTES: usize = 256 * 1024;

    /// How the session ID is read from a request (query parameter name).
    ///
    /// Default: [`HandshakeConfig::default()`].
    pub fn handshake(mut self, config: HandshakeConfig) -> Self {
        self.handshake = config;
        self
    }

    /// The reconnection delay sent in the first frame (`retry:`), or `None`
    /// to leave the browser's own default.
    ///
    /// Default: 3 s ([`DEFAULT_RETRY`](Self::DEFAULT_RETRY)). Browsers
    /// default to a few seconds but differ; sending it makes reconnects
    /// behave the same everywhere.
    /// See [MDN: `retry`](https://developer.mozilla.org/en-US/docs/Web/API/Server-sent_events/Using_server-sent_events#retry).
    pub fn retry(mut self, retry: Option<RetryDelay>) -> Self {
        self.retry = retry;
        self
    }

    /// Sends a comment frame (`:\n\n`) after the stream was idle this long;
    /// `None` turns keep-alive off.
    ///
    /// Default: 15 s ([`DEFAULT_KEEP_ALIVE`](Self::DEFAULT_KEEP_ALIVE)): well
    /// under the idle timeouts of common proxies and load balancers (nginx
    /// `proxy_read_timeout` and AWS ALB: 60 s), and it bounds how long a
    /// silently dead peer (no FIN, e.g. a laptop that went to sleep) goes
    /// unnoticed: a write to it eventually fails. A busy stream sends none.
    /// A zero interval is treated as 1 ms.
    pub fn keep_alive(mut self, interval: Option<Duration>) -> Self {
        self.keep_alive = interval.map(|d| d.max(Duration::from_millis(1)));
        self
    }

    /// The most frames one connection may have queued (written by a sender,
    /// not yet taken by the server). A send beyond it fails with
    /// [`SendErrorKind::Full`]. Values below 1 count as 1.
    ///
    /// Default: 256 ([`DEFAULT_QUEUE_FRAMES`](Self::DEFAULT_QUEUE_FRAMES)).
    /// The queue only absorbs bursts: the socket's send buffer holds more
    /// behind it, and a client that stays this far behind is better
    /// disconnected (it reconnects and resumes) than buffered without end.
    pub fn queue_frames(mut self, frames: usize) -> Self {
        self.queue_frames = frames.max(1);
        self
    }

    /// The most bytes one connection may have queued. A send beyond it fails
    /// with [`SendErrorKind::Full`], except that a frame is always accepted
    /// into an empty queue, so one event larger than this bound can still be
    /// sent. Frames shared between connections (broadcasts) count in full
    /// on each, though they are stored once.
    ///
    /// Default: 256 KiB ([`DEFAULT_QUEUE_BYTES`](Self::DEFAULT_QUEUE_BYTES)):
    /// 10 000 connections stay under 2.5 GiB even if all of them are full of
    /// distinct frames.
    pub fn queue_bytes(mut self, bytes: usize) -> Self {
        self.queue_bytes = bytes;
        self
    }

    /// Where closed session IDs are remembered (answered `204`).
    ///
    /// Default: a [`MemoryClosedIds`] with its default capacity and
    /// time-to-live. Use a shared store when several server processes serve
    /// the same sessions.
    ///
    /// ```
    /// use sse_session::live::SessionConfig;
    /// use sse_session::session::MemoryClosedIds;
    ///
    /// let config = SessionConfig::default().closed_ids(MemoryClosedIds::default());
    /// # let _ = config;
    /// ```
    pub fn closed_ids(mut self, store: impl ClosedIds) -> Self {
        self.closed_ids = Arc::new(store);
        self
    }

    /// Like [`closed_ids`](Self::closed_ids), for a store the application
    /// keeps a handle to (to inspect it, or to share it between several
    /// [`Sessions`]).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use sse_session::live::SessionConfig;
    /// use sse_session::session::MemoryClosedIds;
    ///
    /// let store = Arc::new(MemoryClosedIds::default());
    /// let config = SessionConfig::default().shared_closed_ids(Arc::clone(&store));
    /// # let _ = config;
    /// ```
    pub fn shared_closed_ids<S: ClosedIds>(mut self, store: Arc<S>) -> Self {
        self.closed_ids = store;
        self
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            handshake: HandshakeConfig::default(),
            retry: Some(Self::DEFAULT_RETRY),
            keep_alive: Some(Self::DEFAULT_KEEP_ALIVE),
            queue_frames: Self::DEFAULT_QUEUE_FRAMES,
            queue_bytes: Self::DEFAULT_QUEUE_BYTES,
            closed_ids: Arc::new(MemoryClosedIds::default()),
        }
    }
}

impl fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionConfig")
            .field("handshake", &self.handshake)
            .field("retry", &self.retry)
            .field("keep_alive", &self.keep_alive)
            .field("queue_frames", &self.queue_frames)
            .field("queue_bytes", &self.queue_bytes)
            .finish_non_exhaustive()
    }
}

/// Accepts SSE requests: reads the session from each request, answers `204`
/// for closed sessions and opens a [`Connection`] for the others.
///
/// Cheap to clone (an `Arc`); keep one per endpoint and share it between
/// handlers.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use sse_session::live::{Accepted, Sessions};
///
/// let sessions = Sessions::default();
/// let req = http::Request::get("/events")
///     .header("last-event-id", "tab-3")
///     .body(())
///     .unwrap();
/// match sessions.accept_request(&req).await {
///     Accepted::Open(conn) => assert_eq!(conn.session_id().as_str(), "tab-3"),
///     Accepted::Closed(_) => unreachable!("nothing was closed"),
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct Sessions {
    config: Arc<SessionConfig>,
}

impl Sessions {
    /// Sessions with this config.
    pub fn new(config: SessionConfig) -> Self {
        Self {
            config: Arc::new(config),
        }
    }

    /// The handshake for a request: which session it belongs to, and how
    /// that was decided. Does not look at the closed-ID store.
    ///
    /// ```
    /// use sse_session::live::Sessions;
    /// use sse_session::session::IdSource;
    ///
    /// let parts = http::Request::get("/events?id=tab-9").body(()).unwrap().into_parts().0;
    /// let handshake = Sessions::default().handshake(&parts);
    /// assert_eq!(handshake.session_id().as_str(), "tab-9");
    /// assert!(matches!(handshake.source(), IdSource::Query));
    /// ```
    #[must_use]
    pub fn handshake(&self, parts: &Parts) -> Handshake {
        Handshake::from_parts(parts, &self.config.handshake)
    }

    /// Accepts a request: the handshake, then the closed check (skipped for
    /// a fresh ID, which cannot be closed).
    ///
    /// Returns [`Accepted::Closed`] if the session was closed (answer `204`),
    /// else [`Accepted::Open`] with a new connection. Never fails: a missing
    /// or invalid session token gives a fresh session.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use sse_session::live::{Accepted, Sessions};
    ///
    /// let sessions = Sessions::default();
    /// let parts = http::Request::get("/events?id=bad%20id").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = sessions.accept(&parts).await else { unreachable!() };
    /// assert_ne!(conn.session_id().as_str(), "bad id"); // a fresh one
    /// # }
    /// ```
    pub async fn accept(&self, parts: &Parts) -> Accepted {
        self.accept_handshake(self.handshake(parts)).await
    }

    /// [`accept`](Self::accept) for a whole request (only its method, URI
    /// and headers are read).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use sse_session::live::{Accepted, Sessions};
    /// let req = http::Request::get("/events").body(()).unwrap();
    /// assert!(matches!(Sessions::default().accept_request(&req).await, Accepted::Open(_)));
    /// # }
    /// ```
    pub async fn accept_request<B>(&self, req: &Request<B>) -> Accepted {
        let handshake = Handshake::from_request(req, &self.config.handshake);
        self.accept_handshake(handshake).await
    }

    async fn accept_handshake(&self, handshake: Handshake) -> Accepted {
        let fresh = matches!(handshake.source(), IdSource::Fresh);
        if !fresh && self.is_closed(handshake.session_id()).await {
            Accepted::Closed(handshake)
        } else {
            Accepted::Open(self.open(handshake))
        }
    }

    /// The handshake settings (for the hub).
    pub(crate) fn handshake_config(&self) -> &HandshakeConfig {
        &self.config.handshake
    }

    /// Whether the session was closed (its ID is in the closed-ID store).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use sse_session::live::Sessions;
    /// use sse_session::session::SessionId;
    ///
    /// let sessions = Sessions::default();
    /// let id = SessionId::try_from("tab-1").unwrap();
    /// assert!(!sessions.is_closed(&id).await);
    /// sessions.mark_closed(&id).await;
    /// assert!(sessions.is_closed(&id).await);
    /// # }
    /// ```
    pub async fn is_closed(&self, id: &SessionId) -> bool {
        self.config
            .closed_ids
            .is_closed_dyn(id, std::time::Instant::now())
            .await
    }

    /// Marks a session closed without touching its live connections (if a
    /// connection is open, use [`Sender::close`], which also ends its
    /// stream). Its next request is answered `204`.
    pub async fn mark_closed(&self, id: &SessionId) {
        self.config
            .closed_ids
            .mark_closed_dyn(id, std::time::Instant::now())
            .await;
    }

    /// Opens a connection for a vetted handshake, without the closed check.
    pub(crate) fn open(&self, handshake: Handshake) -> Connection {
        self.open_at(handshake, Opening::Session, Resume::Untracked)
    }

    /// [`open`](Self::open) with the first frame and the resume outcome a
    /// hub decided.
    pub(crate) fn open_at(
        &self,
        handshake: Handshake,
        opening: Opening,
        resume: Resume,
    ) -> Connection {
        let session = *handshake.session_id();
        let shared = Arc::new(Shared::new(session, Arc::clone(&self.config), opening));
        let sender = Sender::new(Arc::clone(&shared));
        let body = SseBody::new(shared);
        Connection {
            handshake,
            sender,
            body,
            resume,
        }
    }
}

impl Default for Sessions {
    /// `Sessions::new(SessionConfig::default())`.
    fn default() -> Self {
        Self::new(SessionConfig::default())
    }
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions")
            .field("config", &self.config)
            .finish()
    }
}

/// The first frame of a stream: `retry: <ms>` (if configured), then
///
/// - outside a hub, `id: <session id>`;
/// - from a hub, `id: <session id>.<cursor>`, the position the stream
///   continues from;
/// - from a hub that cannot replay what the tab missed, the same `id:` in a
///   `resync` event (see [`GapReason`]).
///
/// Without data the frame fires no event but still sets the browser's
/// `lastEventId`. A session ID is 1-64 characters of `A-Za-z0-9_-`, so it
/// is always a valid `id:` value.
fn first_frame(retry: Option<RetryDelay>, session: &SessionId, opening: Opening) -> Bytes {
    let mut buf = BytesMut::with_capacity(first_frame_len(retry, session, opening));
    if let Some(retry) = retry {
        buf.put_slice(b"retry: ");
        buf.put_slice(retry.as_millis().to_string().as_bytes());
        buf.put_u8(b'\n');
    }
    match opening {
        Opening::Session => {
            buf.put_slice(b"id: ");
            buf.put_slice(session.as_bytes());
            buf.put_u8(b'\n');
        }
        Opening::At(cursor) => shared::put_id_line(&mut buf, session, cursor),
        Opening::Gap(cursor, reason) => {
            shared::put_id_line(&mut buf, session, cursor);
            put_resync(&mut buf, reason);
        }
    }
    buf.put_u8(b'\n');
    buf.freeze()
}

/// Writes the lines of the `resync` event for `reason` (without the blank
/// line that ends it).
pub(crate) fn put_resync(buf: &mut BytesMut, reason: GapReason) {
    buf.put_slice(b"event: ");
    buf.put_slice(GapReason::RESYNC.as_bytes());
    buf.put_slice(b"\ndata: ");
    buf.put_slice(reason.data().as_bytes());
    buf.put_u8(b'\n');
}

/// The exact length of [`first_frame`], without building it.
fn first_frame_len(retry: Option<RetryDelay>, session: &SessionId, opening: Opening) -> usize {
    let retry = retry.map_or(0, |r| {
        "retry: \n".len() + shared::decimal_len(r.as_millis())
    });
    let id = match opening {
        Opening::Session => "id: \n".len() + session.as_str().len(),
        Opening::At(cursor) => shared::id_line_len(session, cursor),
        Opening::Gap(cursor, reason) => {
            shared::id_line_len(session, cursor)
                + "event: \ndata: \n".len()
                + GapReason::RESYNC.len()
                + reason.data().len()
        }
    };
    retry + id + 1
}

/// The outcome of [`Sessions::accept`].
#[derive(Debug)]
#[must_use = "an accepted request needs a response"]
pub enum Accepted {
    /// The session was closed by the server: answer `204 No Content`, so the
    /// browser's `EventSource` stops reconnecting.
    Closed(Handshake),
    /// A live connection: keep a [`Sender`] and respond with its body.
    Open(Connection),
}

impl Accepted {
    /// The handshake either way.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use sse_session::live::Sessions;
    /// let parts = http::Request::get("/events?id=abc").body(()).unwrap().into_parts().0;
    /// let accepted = Sessions::default().accept(&parts).await;
    /// assert_eq!(accepted.handshake().session_id().as_str(), "abc");
    /// # }
    /// ```
    #[must_use]
    pub fn handshake(&self) -> &Handshake {
        match self {
            Accepted::Closed(h) => h,
            Accepted::Open(c) => c.handshake(),
        }
    }

    /// A sender for the open connection, `None` for a closed session.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use sse_session::live::Sessions;
    /// # let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// let accepted = Sessions::default().accept(&parts).await;
    /// assert!(accepted.sender().is_some());
    /// # }
    /// ```
    #[must_use]
    pub fn sender(&self) -> Option<Sender> {
        match self {
            Accepted::Closed(_) => None,
            Accepted::Open(c) => Some(c.sender()),
        }
    }

    /// `204 No Content` with an empty body for a closed session, else the
    /// stream (see [`Connection::into_response`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use sse_session::live::{Accepted, Sessions};
    ///
    /// let sessions = Sessions::default();
    /// let parts = http::Request::get("/events?id=done").body(()).unwrap().into_parts().0;
    /// sessions.mark_closed(sessions.handshake(&parts).session_id()).await;
    /// let response = sessions.accept(&parts).await.into_response();
    /// assert_eq!(response.status(), http::StatusCode::NO_CONTENT);
    /// assert!(response.headers().is_empty());
    /// # }
    /// ```
    pub fn into_response(self) -> Response<SseBody> {
        match self {
            Accepted::Closed(_) => {
                let mut response = Response::new(SseBody::empty());
                *response.status_mut() = StatusCode::NO_CONTENT;
                response
            }
            Accepted::Open(c) => c.into_response(),
        }
    }
}

/// A new live connection: its handshake, a [`Sender`] and the
/// [`SseBody`] to respond with.
///
/// The stream stays open while at least one [`Sender`] exists. Take one with
/// [`sender()`](Self::sender) (or [`into_parts`](Self::into_parts)) before
/// turning the connection into a response: a connection whose senders are
/// all gone sends its first frame and ends (the browser then reconnects).
pub struct Connection {
    handshake: Handshake,
    sender: Sender,
    body: SseBody,
    resume: Resume,
}

impl Connection {
    /// How the session was found.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use sse_session::live::{Accepted, Sessions};
    /// use sse_session::session::IdSource;
    /// # let parts = http::Request::get("/events").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = Sessions::default().accept(&parts).await else { unreachable!() };
    /// assert!(matches!(conn.handshake().source(), IdSource::Fresh));
    /// # }
    /// ```
    #[must_use]
    pub fn handshake(&self) -> &Handshake {
        &self.handshake
    }

    /// The session ID (also sent to the client in the first frame).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use sse_session::live::{Accepted, Sessions};
    /// let parts = http::Request::get("/events?id=t1").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = Sessions::default().accept(&parts).await else { unreachable!() };
    /// assert_eq!(conn.session_id().as_str(), "t1");
    /// # }
    /// ```
    #[must_use]
    pub fn session_id(&self) -> &SessionId {
        self.handshake.session_id()
    }

    /// How this connection continues its session: a new session, recovered
    /// with every missed event replayed, or a gap (see [`Resume`]). Always
    /// [`Resume::Untracked`] for a connection opened by [`Sessions`] alone.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use sse_session::live::{Accepted, Hub, Resume};
    /// use sse_session::Event;
    ///
    /// let hub = Hub::default();
    /// let req = |q: &str| http::Request::get(format!("/events{q}")).body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = hub.accept(&req("?id=tab-1"), None).await else { unreachable!() };
    /// let (id, cursor) = (*conn.session_id(), conn.cursor().unwrap());
    /// drop(conn); // the connection drops; the session waits for the tab
    /// hub.send_to_session(&id, &Event::new("missed"));
    ///
    /// // The tab comes back with the cursor its first frame gave it.
    /// let Accepted::Open(back) = hub.accept(&req(&format!("?id=tab-1.{cursor}")), None).await
    /// else { unreachable!() };
    /// assert_eq!(back.resume(), Resume::Recovered { replayed: 1 });
    /// # }
    /// ```
    #[must_use]
    pub fn resume(&self) -> Resume {
        self.resume
    }

    /// The position the stream starts from, which its first frame sends as
    /// `id: <session>.<cursor>`: the presented cursor for a recovered
    /// session, the hub's newest position otherwise. `None` outside a hub.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use sse_session::live::{Accepted, Hub, Sessions};
    /// # let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = Hub::default().accept(&parts, None).await else { unreachable!() };
    /// assert!(conn.cursor().is_some());
    /// let Accepted::Open(conn) = Sessions::default().accept(&parts).await else { unreachable!() };
    /// assert_eq!(conn.cursor(), None);
    /// # }
    /// ```
    #[must_use]
    pub fn cursor(&self) -> Option<u64> {
        self.sender.cursor()
    }

    /// This connection's process-unique ID.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use sse_session::live::{Accepted, Sessions};
    /// # let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = Sessions::default().accept(&parts).await else { unreachable!() };
    /// println!("connection {}", conn.connection_id());
    /// # }
    /// ```
    #[must_use]
    pub fn connection_id(&self) -> ConnectionId {
        self.sender.connection_id()
    }

    /// A new sender for this connection (one more handle; the stream stays
    /// open while any exists).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use sse_session::live::{Accepted, Sessions};
    /// # let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = Sessions::default().accept(&parts).await else { unreachable!() };
    /// let tx = conn.sender();
    /// let response = conn.into_response(); // tx keeps the stream open
    /// # let _ = (tx, response);
    /// # }
    /// ```
    #[must_use]
    pub fn sender(&self) -> Sender {
        self.sender.clone()
    }

    /// The sender and the body, for a framework this crate has no adapter
    /// for (build the response with [`stream_headers`]-like headers
    /// yourself, or use [`into_response`](Self::into_response)).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use sse_session::live::{Accepted, Sessions};
    /// # let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = Sessions::default().accept(&parts).await else { unreachable!() };
    /// let (tx, body) = conn.into_parts();
    /// # let _ = (tx, body);
    /// # }
    /// ```
    #[must_use]
    pub fn into_parts(self) -> (Sender, SseBody) {
        (self.sender, self.body)
    }

    /// `200 OK` with the SSE headers (see the [module docs](self#responses))
    /// and the streaming body.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use sse_session::live::{Accepted, Sessions};
    /// # let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = Sessions::default().accept(&parts).await else { unreachable!() };
    /// let tx = conn.sender();
    /// let response = conn.into_response();
    /// assert_eq!(response.status(), http::StatusCode::OK);
    /// assert_eq!(response.headers()["content-type"], "text/event-stream");
    /// assert_eq!(response.headers()["cache-control"], "no-cache");
    /// assert_eq!(response.headers()["x-accel-buffering"], "no");
    /// assert!(response.headers().get("connection").is_none());
    /// # drop(tx);
    /// # }
    /// ```
    pub fn into_response(self) -> Response<SseBody> {
        let mut response = Response::new(self.body);
        // Sized for the three stream headers: hyper keeps a response's
        // header map for the life of the connection (emptied, to reuse for
        // the next request), and the default growth would hold room for six
        // (about 650 bytes instead of 330 per connection).
        *response.headers_mut() = http::HeaderMap::with_capacity(STREAM_HEADERS);
        stream_headers(response.headers_mut());
        response
    }

    /// Runs `hook` once when the body is dropped (see the module docs).
    pub(crate) fn on_body_drop(&mut self, hook: std::sync::Weak<dyn OnBodyDrop>) {
        self.body.set_on_drop(hook);
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("handshake", &self.handshake)
            .field("connection_id", &self.connection_id())
            .field("resume", &self.resume)
            .finish_non_exhaustive()
    }
}

/// How many headers [`stream_headers`] sets.
const STREAM_HEADERS: usize = 3;

/// Inserts the headers of an SSE stream response: `content-type:
/// text/event-stream`, `cache-control: no-cache`, `x-accel-buffering: no`.
/// Nothing connection-specific.
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// sse_session::live::stream_headers(&mut headers);
/// assert_eq!(headers.len(), 3);
/// ```
pub fn stream_headers(headers: &mut http::HeaderMap) {
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
}

#[cfg(test)]
mod tests {
    use super::{first_frame, first_frame_len, GapReason, Opening};
    use crate::field::RetryDelay;
    use crate::parse::{parse_all, Frame};
    use crate::session::SessionId;

    #[test]
    fn first_frame_len_is_the_built_length() {
        let session = SessionId::try_from("tab-1").unwrap();
        let openings = [
            Opening::Session,
            Opening::At(0),
            Opening::At(u64::MAX),
            Opening::Gap(4_294_967_296, GapReason::Expired),
            Opening::Gap(9, GapReason::NoCursor),
        ];
        for opening in openings {
            for ms in [0, 9, 10, 99, 100, 3000, 1_000_000, u64::MAX] {
                let retry = Some(RetryDelay::from_millis(ms));
                assert_eq!(
                    first_frame_len(retry, &session, opening),
                    first_frame(retry, &session, opening).len(),
                    "{ms} ms, {opening:?}"
                );
            }
            assert_eq!(
                first_frame_len(None, &session, opening),
                first_frame(None, &session, opening).len()
            );
        }
    }

    #[test]
    fn first_frames_set_the_cursor_and_a_gap_fires_resync() {
        let session = SessionId::try_from("tab-1").unwrap();
        let retry = Some(RetryDelay::from_millis(1000));
        assert_eq!(
            &first_frame(retry, &session, Opening::At(42))[..],
            b"retry: 1000\nid: tab-1.42\n\n"
        );
        assert_eq!(
            &first_frame(None, &session, Opening::Session)[..],
            b"id: tab-1\n\n"
        );
        let gap = first_frame(None, &session, Opening::Gap(7, GapReason::Trimmed));
        let frames = parse_all(&gap).unwrap();
        let [Frame::Event(e)] = &frames[..] else {
            panic!("one event: {frames:?}")
        };
        assert_eq!(e.event_type(), "resync");
        assert_eq!(e.last_event_id(), "tab-1.7");
        assert_eq!(e.data(), r#"{"reason":"trimmed","lost":null}"#);
    }
}
