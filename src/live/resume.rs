//! What a [`Hub`](super::Hub) tells the application about resumes and
//! deliveries: [`Resume`] on each accepted connection, [`GapReason`] when
//! events may have been missed, and [`Delivery`] for each send.

use std::fmt;

/// How an accepted connection continues its session
/// ([`Connection::resume`](super::Connection::resume)).
///
/// A [`Hub`](super::Hub) numbers every event it delivers and sends it as
/// `id: <session>.<seq>`, so a browser's `Last-Event-ID` (or a `?id=` that
/// the page kept in `sessionStorage`) says where the tab stopped. On
/// reconnect the hub either replays every event the session missed, in
/// order, before the live ones ([`Recovered`](Resume::Recovered)), or says
/// that it cannot ([`Gap`](Resume::Gap)): then the stream's first event is a
/// `resync` event (see [`GapReason`]) and the application should send the
/// tab a fresh snapshot of whatever it shows.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use sse_session::live::{Accepted, Hub, Resume};
///
/// let hub = Hub::default();
/// let parts = http::Request::get("/events").body(()).unwrap().into_parts().0;
/// let Accepted::Open(conn) = hub.accept(&parts, None).await else { unreachable!() };
/// assert_eq!(conn.resume(), Resume::New);
/// if !conn.resume().recovered() {
///     // send the tab a snapshot of the current state
/// }
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Resume {
    /// A session the hub did not have, presented without a cursor: a fresh
    /// ID, or an ID the client chose (`?id=tab-1`) and has not used here
    /// within the resume window.
    New,
    /// The session resumed where the cursor said: `replayed` events it
    /// missed come first on the stream, in order, then the live ones. No
    /// event is missing or repeated.
    Recovered {
        /// How many events are replayed.
        replayed: usize,
    },
    /// Events may have been missed: the stream begins with a `resync` event
    /// and continues with live events only.
    Gap(GapReason),
    /// A connection opened by [`Sessions`](super::Sessions) alone, outside a
    /// hub: nothing is numbered or replayed.
    Untracked,
}

impl Resume {
    /// `true` only for [`Recovered`](Resume::Recovered): the tab has every
    /// event it was sent. A new session or a gap means the application
    /// should send the tab its current state (what Socket.IO calls
    /// `recovered: false`).
    ///
    /// ```
    /// use sse_session::live::{GapReason, Resume};
    ///
    /// assert!(Resume::Recovered { replayed: 3 }.recovered());
    /// assert!(!Resume::New.recovered());
    /// assert!(!Resume::Gap(GapReason::Expired).recovered());
    /// ```
    #[must_use]
    pub fn recovered(&self) -> bool {
        matches!(self, Resume::Recovered { .. })
    }

    /// The gap, if events may have been missed.
    ///
    /// ```
    /// use sse_session::live::{GapReason, Resume};
    ///
    /// assert_eq!(Resume::Gap(GapReason::Trimmed).gap(), Some(GapReason::Trimmed));
    /// assert_eq!(Resume::New.gap(), None);
    /// ```
    #[must_use]
    pub fn gap(&self) -> Option<GapReason> {
        match self {
            Resume::Gap(reason) => Some(*reason),
            _ => None,
        }
    }
}

/// Why a reconnecting tab cannot be given every event it missed.
///
/// The stream then starts with one event named [`RESYNC`](Self::RESYNC)
/// whose data is a JSON object:
///
/// ```text
/// id: <session>.<cursor>
/// event: resync
/// data: {"reason":"expired","lost":null}
/// ```
///
/// `reason` is [`as_str`](Self::as_str); `lost` is how many events are
/// known to be lost, `null` when the count is unknown (the hub keeps no
/// record of what it dropped, only that it dropped something after the
/// cursor). The event's `id:` is the new cursor: the tab has everything the
/// server wants it to know up to there once it has loaded a fresh snapshot,
/// and live events follow. In the page:
///
/// ```js
/// es.addEventListener('resync', (e) => reloadState(JSON.parse(e.data)));
/// ```
///
/// The browser never receives events that were not its own session's: a
/// cursor is only honoured for the session it names, and only within the
/// positions this hub gave out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GapReason {
    /// The cursor names a session the hub does not have: its resume window
    /// passed with no connection (its state was freed), or it was never
    /// here (a restarted server, another server without a shared store).
    Expired,
    /// The session is known, but some events after the cursor were dropped
    /// from its history: it was away longer, or missed more events or bytes,
    /// than the history keeps (see [`HubConfig`](super::HubConfig)).
    Trimmed,
    /// The cursor is not one this hub gave out to this session: ahead of the
    /// newest position, before the session began, or from another run of
    /// the server.
    UnknownCursor,
    /// The session is known, but the request named no position (a bare
    /// session ID), so there is no telling what it missed.
    NoCursor,
    /// Events after the cursor may have been lost on the way between
    /// processes: the shared store (Redis) lost its data or was out of
    /// reach while events were sent (see [`crate::redis`]). Also sent in
    /// the middle of a stream, as an event of its own, when a live
    /// connection may have missed events that way.
    Lost,
}

impl GapReason {
    /// The event name of the gap signal: `resync`.
    pub const RESYNC: &'static str = "resync";

    /// The reason as it appears in the `resync` event's data.
    ///
    /// ```
    /// use sse_session::live::GapReason;
    ///
    /// assert_eq!(GapReason::Expired.as_str(), "expired");
    /// assert_eq!(GapReason::Trimmed.as_str(), "trimmed");
    /// assert_eq!(GapReason::UnknownCursor.as_str(), "unknown-cursor");
    /// assert_eq!(GapReason::NoCursor.as_str(), "no-cursor");
    /// assert_eq!(GapReason::Lost.as_str(), "lost");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            GapReason::Expired => "expired",
            GapReason::Trimmed => "trimmed",
            GapReason::UnknownCursor => "unknown-cursor",
            GapReason::NoCursor => "no-cursor",
            GapReason::Lost => "lost",
        }
    }

    /// The `data:` value of the `resync` event.
    pub(crate) fn data(self) -> String {
        format!("{{\"reason\":\"{}\",\"lost\":null}}", self.as_str())
    }
}

impl fmt::Display for GapReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a send through a [`Hub`](super::Hub) reached.
///
/// An event reaches a session either *live* (a connection took it now) or
/// *queued* (the session has no live connection but is inside its resume
/// window: the event waits in its history and is replayed when the tab
/// reconnects).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use sse_session::live::{Accepted, Hub};
/// use sse_session::Event;
///
/// let hub = Hub::default();
/// let parts = http::Request::get("/events?id=tab-1").body(()).unwrap().into_parts().0;
/// let Accepted::Open(conn) = hub.accept(&parts, None).await else { unreachable!() };
/// let id = *conn.session_id();
///
/// let sent = hub.send_to_session(&id, &Event::new("now"));
/// assert_eq!((sent.live, sent.queued), (1, 0));
///
/// drop(conn); // the tab's connection dropped: the session waits for it
/// let sent = hub.send_to_session(&id, &Event::new("later"));
/// assert_eq!((sent.live, sent.queued), (0, 1));
/// assert!(sent.reached());
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Delivery {
    /// Live connections that took the event.
    pub live: usize,
    /// Sessions without a live connection, inside their resume window, that
    /// will get the event when they reconnect.
    pub queued: usize,
    /// The event's position, which its `id:` line carries; `None` if it was
    /// not numbered (it reached nobody, or was refused).
    pub seq: Option<u64>,
}

impl Delivery {
    /// Whether the event reached anyone, live or queued.
    #[must_use]
    pub fn reached(&self) -> bool {
        self.live + self.queued > 0
    }
}
