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
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Waker};

use bytes::{Bytes, BytesMut};
use tokio::sync::Notify;

use super::SessionConfig;
use crate::session::SessionId;

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

/// Why a frame was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    Full,
    Closed,
}

/// Told when a connection's body is dropped (the hub deregisters it). Held as
/// a `Weak<dyn ..>` in the body, so hooking a connection allocates nothing.
pub(crate) trait OnBodyDrop: Send + Sync {
    fn body_dropped(&self, shared: &Shared);
}

// `repr(C)` to keep what a push touches (the lock and the queue state, then
// the config for the bounds) together at the front, in as few cache lines as
// possible: a broadcast touches every connection's, last written by the
// thread that polled its body. The session ID goes last (65 bytes, align 1).
#[repr(C)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Queue bounds, keep-alive, retry and the closed-ID store: one pointer
    /// to the config every connection of a `Sessions` shares.
    pub(crate) config: Arc<SessionConfig>,
    pub(crate) id: ConnectionId,
    /// Live `Sender` handles; the stream ends (resumably) when it drops to 0.
    pub(crate) senders: AtomicUsize,
    closed_notify: Notify,
    /// Set (once, never cleared) when no more frames will be accepted: the
    /// stream is ending or the body is gone. Read without the lock by
    /// `is_closed` and `closed()`.
    ended: AtomicBool,
    /// The hub disconnected this connection as a slow consumer (counted once).
    pub(crate) kicked: AtomicBool,
    pub(crate) session: SessionId,
}

#[derive(Default)]
struct State {
    /// The oldest queued frame. A connection that keeps up has at most one
    /// frame waiting, which then never needs the `VecDeque`'s buffer: an
    /// idle connection holds no queue allocation, even after traffic.
    /// Invariant: `slot` is older than everything in `queue`, and is
    /// `Some` whenever `queue` is not empty.
    slot: Option<Bytes>,
    /// The frames after `slot`, boxed: most connections never have two
    /// frames waiting, and an empty `VecDeque` inline would cost 32 bytes.
    /// Allocated at the first burst, freed by `trim` when the stream idles.
    #[allow(clippy::box_collection)] // the point: 8 bytes inline instead of 32
    queue: Option<Box<VecDeque<Bytes>>>,
    queued_bytes: usize,
    /// No more frames accepted; the body ends once the queue is drained.
    end: bool,
    /// The body's task was woken and has not polled since: a second push
    /// need not wake it again.
    notified: bool,
    waker: Option<Waker>,
}

impl State {
    fn len(&self) -> usize {
        usize::from(self.slot.is_some()) + self.queue.as_ref().map_or(0, |q| q.len())
    }

    fn clear(&mut self) {
        self.slot = None;
        self.queue = None;
        self.queued_bytes = 0;
    }

    /// The waker to wake after unlocking, unless the task was woken already.
    fn wake(&mut self) -> Option<Waker> {
        if self.notified {
            return None;
        }
        let waker = self.waker.as_ref()?;
        self.notified = true;
        Some(waker.clone())
    }
}

impl Shared {
    pub(crate) fn new(session: SessionId, config: Arc<SessionConfig>) -> Self {
        Self {
            state: Mutex::new(State::default()),
            config,
            id: ConnectionId::next(),
            senders: AtomicUsize::new(0),
            closed_notify: Notify::new(),
            ended: AtomicBool::new(false),
            kicked: AtomicBool::new(false),
            session,
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
    /// one event larger than the byte bound can still be delivered.
    ///
    /// The frame is cloned (a reference-count bump) only if it is queued, so
    /// a broadcast touches each shared frame's count once per connection.
    pub(crate) fn push(&self, frame: &Bytes, force: bool) -> Result<(), Refused> {
        let waker = {
            let mut st = self.lock();
            if st.end {
                return Err(Refused::Closed);
            }
            if st.slot.is_none() {
                st.slot = Some(frame.clone());
            } else {
                if !force
                    && (st.len() >= self.config.queue_frames
                        || st.queued_bytes.saturating_add(frame.len()) > self.config.queue_bytes)
                {
                    return Err(Refused::Full);
                }
                st.queue.get_or_insert_default().push_back(frame.clone());
            }
            st.queued_bytes += frame.len();
            st.wake()
        };
        // Woken outside the lock: the body's task may run at once on another
        // thread and would only wait for it.
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
                st.clear();
            }
            st.notified = true;
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
            st.clear();
            st.waker = None;
        }
        self.mark_ended();
    }

    /// The body's side: the next queued frame (or several small ones as one
    /// chunk), `None` at the end, or `Pending` with the waker stored. With
    /// `Pending`, also whether the stored waker was already this one (so a
    /// timer polled with it at the last `Pending` still holds it).
    pub(crate) fn poll_next(&self, cx: &mut Context<'_>) -> Result<Option<Bytes>, bool> {
        let mut st = self.lock();
        let Some(frame) = st.slot.take() else {
            if st.end {
                return Ok(None);
            }
            st.notified = false;
            let same = match &mut st.waker {
                Some(w) if w.will_wake(cx.waker()) => true,
                slot => {
                    *slot = Some(cx.waker().clone());
                    false
                }
            };
            return Err(same);
        };
        st.queued_bytes -= frame.len();
        // More frames waiting: hand them out as one chunk of at most
        // `COALESCE_MAX` bytes. A lone frame (the usual case, and every
        // broadcast frame on a client that keeps up) goes out as it is,
        // uncopied.
        let State {
            slot,
            queue,
            queued_bytes,
            ..
        } = &mut *st;
        let Some(rest) = queue.as_deref_mut() else {
            return Ok(Some(frame));
        };
        let mut len = frame.len();
        let mut count = 0;
        for next in rest.iter() {
            if len + next.len() > COALESCE_MAX {
                break;
            }
            len += next.len();
            count += 1;
        }
        let out = if count == 0 {
            frame
        } else {
            let mut chunk = BytesMut::with_capacity(len);
            chunk.extend_from_slice(&frame);
            for next in rest.drain(..count) {
                chunk.extend_from_slice(&next);
            }
            *queued_bytes -= len - frame.len();
            chunk.freeze()
        };
        // Keep the invariant: the oldest waiting frame sits in the slot.
        *slot = rest.pop_front();
        // A drained queue keeps its buffer while the connection is busy (a
        // client that falls behind now and then would otherwise allocate and
        // free it over and over); `trim` frees it once the stream is idle.
        Ok(Some(out))
    }

    /// Frees the overflow queue's buffer if it is empty: called when the
    /// stream has been idle for the keep-alive interval, so an idle
    /// connection holds no queue buffer, even after a burst.
    pub(crate) fn trim(&self) {
        let mut st = self.lock();
        if st.queue.as_ref().is_some_and(|q| q.is_empty()) {
            st.queue = None;
        }
    }

    #[cfg(test)]
    pub(crate) fn has_queue_buffer(&self) -> bool {
        self.lock().queue.is_some()
    }

    /// Frames and bytes waiting in the queue.
    pub(crate) fn queued(&self) -> (usize, usize) {
        let st = self.lock();
        (st.len(), st.queued_bytes)
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
