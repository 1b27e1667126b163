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

use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::Notify;

use super::journal::Stored;
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

/// A sequenced frame larger than this goes out as two chunks (its `id:`
/// line, then the shared frame uncopied) rather than copied behind its line.
const COPY_MAX: usize = 1024;

/// One queued frame: sent as it is, or a hub event that goes out behind the
/// connection's own `id: <session>.<seq>` line.
#[derive(Clone, Debug)]
pub(crate) enum Item {
    Plain(Bytes),
    Seq(Arc<Stored>),
}

impl Item {
    /// The shared frame's length (what the byte bound counts).
    fn len(&self) -> usize {
        match self {
            Item::Plain(b) => b.len(),
            Item::Seq(s) => s.frame.len(),
        }
    }
}

/// The length of `id: <session>.<seq>\n`.
pub(crate) fn id_line_len(session: &SessionId, seq: u64) -> usize {
    "id: .\n".len() + session.as_str().len() + decimal_len(seq)
}

/// Decimal digits of `n` (0 has one).
pub(crate) fn decimal_len(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// Writes `id: <session>.<seq>\n`.
pub(crate) fn put_id_line(buf: &mut BytesMut, session: &SessionId, seq: u64) {
    buf.put_slice(b"id: ");
    buf.put_slice(session.as_bytes());
    buf.put_u8(b'.');
    let mut digits = [0u8; 20];
    let mut n = seq;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.put_slice(&digits[i..]);
    buf.put_u8(b'\n');
}

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
    /// What the first frame says.
    pub(crate) opening: Opening,
    pub(crate) session: SessionId,
}

/// What a stream's first frame says (see [`first_frame`](super::first_frame)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Opening {
    /// `id: <session>`: a connection outside a hub, which numbers nothing.
    Session,
    /// `id: <session>.<cursor>`.
    At(u64),
    /// A `resync` event with `id: <session>.<cursor>`: events were missed.
    Gap(u64, super::resume::GapReason),
}

#[derive(Default)]
struct State {
    /// The oldest queued frame. A connection that keeps up has at most one
    /// frame waiting, which then never needs the `VecDeque`'s buffer: an
    /// idle connection holds no queue allocation, even after traffic.
    /// Invariant: `slot` is older than everything in `queue`, and is
    /// `Some` whenever `queue` is not empty.
    slot: Option<Item>,
    /// The frames after `slot`, boxed: most connections never have two
    /// frames waiting, and an empty `VecDeque` inline would cost 32 bytes.
    /// Allocated at the first burst, freed by `trim` when the stream idles.
    #[allow(clippy::box_collection)] // the point: 8 bytes inline instead of 32
    queue: Option<Box<VecDeque<Item>>>,
    /// Events to replay before anything queued (a resumed session), given
    /// when the connection opened; not subject to the queue bounds.
    #[allow(clippy::box_collection)]
    replay: Option<Box<VecDeque<Arc<Stored>>>>,
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
        self.replay = None;
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
    pub(crate) fn new(session: SessionId, config: Arc<SessionConfig>, opening: Opening) -> Self {
        Self {
            state: Mutex::new(State::default()),
            config,
            id: ConnectionId::next(),
            senders: AtomicUsize::new(0),
            closed_notify: Notify::new(),
            ended: AtomicBool::new(false),
            kicked: AtomicBool::new(false),
            opening,
            session,
        }
    }

    /// Gives a new connection the events to replay before anything queued;
    /// with `end`, the stream ends after them (a job channel that ended).
    pub(crate) fn start_with(&self, replay: Vec<Arc<Stored>>, end: bool) {
        let mut st = self.lock();
        if !replay.is_empty() {
            st.replay = Some(Box::new(replay.into()));
        }
        if end {
            st.end = true;
            drop(st);
            self.mark_ended();
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
    pub(crate) fn push(&self, frame: &Bytes, force: bool) -> Result<(), Refused> {
        self.push_item(frame.len(), || Item::Plain(frame.clone()), force)
    }

    /// Queues a hub event (it goes out behind this connection's `id:` line).
    pub(crate) fn push_seq(&self, event: &Arc<Stored>, force: bool) -> Result<(), Refused> {
        self.push_item(event.frame.len(), || Item::Seq(Arc::clone(event)), force)
    }

    /// The item is made (a reference-count bump) only if it is queued, so a
    /// broadcast touches each shared frame's count once per connection.
    fn push_item(
        &self,
        len: usize,
        item: impl FnOnce() -> Item,
        force: bool,
    ) -> Result<(), Refused> {
        let waker = {
            let mut st = self.lock();
            if st.end {
                return Err(Refused::Closed);
            }
            if st.slot.is_none() {
                st.slot = Some(item());
            } else {
                if !force
                    && (st.len() >= self.config.queue_frames
                        || st.queued_bytes.saturating_add(len) > self.config.queue_bytes)
                {
                    return Err(Refused::Full);
                }
                st.queue.get_or_insert_default().push_back(item());
            }
            st.queued_bytes += len;
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

    /// The body's side: the next chunk (replayed events first, then queued
    /// frames; several small ones as one chunk), `None` at the end, or
    /// `Pending` with the waker stored. With `Pending`, also whether the
    /// stored waker was already this one (so a timer polled with it at the
    /// last `Pending` still holds it).
    pub(crate) fn poll_next(&self, cx: &mut Context<'_>) -> Result<Option<Bytes>, bool> {
        let mut st = self.lock();
        if let Some(replay) = st.replay.as_deref_mut() {
            let chunk = replay_chunk(replay, &self.session);
            if replay.is_empty() {
                st.replay = None;
            }
            return Ok(Some(chunk));
        }
        let Some(first) = st.slot.take() else {
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
        let State {
            slot,
            queue,
            queued_bytes,
            ..
        } = &mut *st;
        *queued_bytes -= first.len();
        let session = &self.session;
        // A lone plain frame (every broadcast of a connection outside a hub
        // that keeps up) goes out as it is, uncopied; so does a large
        // sequenced one, behind its `id:` line sent first.
        let rest = queue.as_deref_mut();
        let waiting = rest.as_ref().is_some_and(|q| !q.is_empty());
        let out = match first {
            Item::Plain(frame) if !waiting => frame,
            Item::Seq(event) if event.frame.len() > COPY_MAX => {
                let mut line = BytesMut::with_capacity(id_line_len(session, event.seq));
                put_id_line(&mut line, session, event.seq);
                // The frame itself goes next, ahead of everything queued.
                *queued_bytes += event.frame.len();
                let frame = Item::Plain(event.frame.clone());
                match rest {
                    Some(q) => q.push_front(frame),
                    None => *queue = Some(Box::new(VecDeque::from([frame]))),
                }
                *slot = queue.as_deref_mut().and_then(VecDeque::pop_front);
                return Ok(Some(line.freeze()));
            }
            first => {
                // Several frames waiting, or a small sequenced one: one
                // chunk of at most `COALESCE_MAX` bytes.
                let wire = |item: &Item| match item {
                    Item::Plain(b) => b.len(),
                    Item::Seq(e) => id_line_len(session, e.seq) + e.frame.len(),
                };
                let mut len = wire(&first);
                let mut count = 0;
                if let Some(rest) = rest.as_deref() {
                    for next in rest.iter() {
                        let more = wire(next);
                        if len + more > COALESCE_MAX {
                            break;
                        }
                        len += more;
                        count += 1;
                    }
                }
                if count == 0 {
                    if let Item::Plain(frame) = first {
                        // Alone in its chunk anyway: uncopied.
                        *slot = queue.as_deref_mut().and_then(VecDeque::pop_front);
                        return Ok(Some(frame));
                    }
                }
                let mut chunk = BytesMut::with_capacity(len);
                put_item(&mut chunk, &first, session);
                if let Some(rest) = queue.as_deref_mut() {
                    for next in rest.drain(..count) {
                        *queued_bytes -= next.len();
                        put_item(&mut chunk, &next, session);
                    }
                }
                chunk.freeze()
            }
        };
        // Keep the invariant: the oldest waiting frame sits in the slot.
        *slot = queue.as_deref_mut().and_then(VecDeque::pop_front);
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

/// Writes one item: a plain frame as it is, a sequenced one behind its
/// `id:` line.
fn put_item(buf: &mut BytesMut, item: &Item, session: &SessionId) {
    match item {
        Item::Plain(frame) => buf.extend_from_slice(frame),
        Item::Seq(event) => {
            put_id_line(buf, session, event.seq);
            buf.extend_from_slice(&event.frame);
        }
    }
}

/// Takes replayed events from the front of `replay` into one chunk of at
/// most `COALESCE_MAX` bytes (always at least one event).
fn replay_chunk(replay: &mut VecDeque<Arc<Stored>>, session: &SessionId) -> Bytes {
    let wire = |e: &Stored| id_line_len(session, e.seq) + e.frame.len();
    let mut len = 0;
    let mut count = 0;
    for event in replay.iter() {
        let more = wire(event);
        if count > 0 && len + more > COALESCE_MAX {
            break;
        }
        len += more;
        count += 1;
    }
    let mut chunk = BytesMut::with_capacity(len);
    for event in replay.drain(..count) {
        put_id_line(&mut chunk, session, event.seq);
        chunk.extend_from_slice(&event.frame);
    }
    chunk.freeze()
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
