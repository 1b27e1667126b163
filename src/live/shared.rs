//! The state one connection's [`Sender`](super::Sender)s and its
//! [`SseBody`](super::SseBody) share: a bounded queue of encoded frames, the
//! end-of-stream flag and the body's waker.
//!
//! Everything sits behind one `std::sync::Mutex` that is held for a few
//! instructions at a time and never across an `.await`; wakers are woken after
//! the lock is released.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use tokio::sync::Notify;

use crate::session::{SessionId, SharedClosedIds};

/// Identifies one live connection (one response stream), unique within the
/// process.
///
/// A session can have several connections at once (a duplicated browser tab
/// copies `sessionStorage`, so two tabs may carry the same session ID), and a
/// reconnect opens a new connection in the same session; the connection ID
/// tells them apart.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use sse_session::live::{Accepted, Sessions};
///
/// let sessions = Sessions::default();
/// let parts = http::Request::get("/events").body(()).unwrap().into_parts().0;
/// let (Accepted::Open(a), Accepted::Open(b)) =
///     (sessions.accept(&parts).await, sessions.accept(&parts).await)
/// else { unreachable!("nothing is closed yet") };
/// assert_ne!(a.connection_id(), b.connection_id());
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(u64);

impl ConnectionId {
    pub(crate) fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The number behind this ID (never 0).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use sse_session::live::{Accepted, Sessions};
    /// # let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// # let Accepted::Open(conn) = Sessions::default().accept(&parts).await else { return };
    /// assert!(conn.connection_id().as_u64() > 0);
    /// # }
    /// ```
    #[must_use]
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnectionId({})", self.0)
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The largest chunk the body builds from several small queued frames.
/// 16 KiB: the default HTTP/2 frame size and the largest TLS record, so a
/// chunk is never split by the layers below for being too large.
pub(crate) const COALESCE_MAX: usize = 16 * 1024;

/// Queue bounds of one connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) frames: usize,
    pub(crate) bytes: usize,
}

/// Why a frame was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    Full,
    Closed,
}

pub(crate) struct Shared {
    pub(crate) id: ConnectionId,
    pub(crate) session: SessionId,
    pub(crate) store: SharedClosedIds,
    pub(crate) limits: Limits,
    /// Set (once, never cleared) when no more frames will be accepted: the
    /// stream is ending or the body is gone. Read without the lock by
    /// `is_closed` and `closed()`.
    ended: AtomicBool,
    /// Live `Sender` handles; the stream ends (resumably) when it drops to 0.
    pub(crate) senders: AtomicUsize,
    closed_notify: Notify,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Bytes>,
    queued_bytes: usize,
    /// No more frames accepted; the body ends once `queue` is drained.
    end: bool,
    waker: Option<Waker>,
}

impl Shared {
    pub(crate) fn new(session: SessionId, store: SharedClosedIds, limits: Limits) -> Self {
        Self {
            id: ConnectionId::next(),
            session,
            store,
            limits,
            ended: AtomicBool::new(false),
            senders: AtomicUsize::new(0),
            closed_notify: Notify::new(),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock, but never turn a poisoned
        // lock into a panic of our own.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Queues a frame. With `force`, the bounds are ignored (used for the
    /// last event of `close_with`, which must not be lost to a full queue).
    /// A frame is always accepted into an empty queue, whatever its size, so
    /// one event larger than `limits.bytes` can still be delivered.
    pub(crate) fn push(&self, frame: Bytes, force: bool) -> Result<(), Refused> {
        let waker = {
            let mut st = self.lock();
            if st.end {
                return Err(Refused::Closed);
            }
            if !force
                && !st.queue.is_empty()
                && (st.queue.len() >= self.limits.frames
                    || st.queued_bytes.saturating_add(frame.len()) > self.limits.bytes)
            {
                return Err(Refused::Full);
            }
            st.queued_bytes += frame.len();
            st.queue.push_back(frame);
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Stops accepting frames. With `flush`, the body still delivers what is
    /// queued and then ends; without, the queue is dropped and the body ends
    /// at its next poll.
    pub(crate) fn finish(&self, flush: bool) {
        let waker = {
            let mut st = self.lock();
            st.end = true;
            if !flush {
                st.queue = VecDeque::new();
                st.queued_bytes = 0;
            }
            st.waker.take()
        };
        self.mark_ended();
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn mark_ended(&self) {
        if !self.ended.swap(true, Ordering::AcqRel) {
            self.closed_notify.notify_waiters();
        }
    }

    /// The body is gone (the client went away, or the response was dropped).
    pub(crate) fn body_dropped(&self) {
        {
            let mut st = self.lock();
            st.end = true;
            st.queue = VecDeque::new();
            st.queued_bytes = 0;
            st.waker = None;
        }
        self.mark_ended();
    }

    /// The body's side: the next queued frame (or several small ones as one
    /// chunk), `None` at the end, or `Pending` with the waker stored.
    pub(crate) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let mut st = self.lock();
        let Some(frame) = st.queue.pop_front() else {
            if st.end {
                return Poll::Ready(None);
            }
            match &mut st.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        };
        st.queued_bytes -= frame.len();
        // More frames waiting: hand them out as one chunk of at most
        // `COALESCE_MAX` bytes. A lone frame (the usual case, and every
        // broadcast frame on a client that keeps up) goes out as it is,
        // uncopied.
        let mut len = frame.len();
        let mut count = 0;
        for next in &st.queue {
            if len + next.len() > COALESCE_MAX {
                break;
            }
            len += next.len();
            count += 1;
        }
        if count == 0 {
            return Poll::Ready(Some(frame));
        }
        let mut chunk = BytesMut::with_capacity(len);
        chunk.extend_from_slice(&frame);
        for next in st.queue.drain(..count) {
            chunk.extend_from_slice(&next);
        }
        st.queued_bytes -= len - frame.len();
        Poll::Ready(Some(chunk.freeze()))
    }

    /// Frames and bytes waiting in the queue.
    pub(crate) fn queued(&self) -> (usize, usize) {
        let st = self.lock();
        (st.queue.len(), st.queued_bytes)
    }

    pub(crate) async fn closed(&self) {
        let notified = self.closed_notify.notified();
        let mut notified = std::pin::pin!(notified);
        // Register before checking the flag, so a `mark_ended` between the
        // check and the await is not missed.
        notified.as_mut().enable();
        if self.is_ended() {
            return;
        }
        notified.await;
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("id", &self.id)
            .field("session", &self.session)
            .field("ended", &self.is_ended())
            .finish_non_exhaustive()
    }
}
