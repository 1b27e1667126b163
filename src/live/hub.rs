//! [`Hub`]: every session of a server, reachable by session (tab), by
//! application user and by topic; each event numbered, and what a tab
//! missed while its connection was down replayed when it comes back.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{
    Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak,
};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use http::request::Parts;
use http::Request;

use super::journal::{Journal, Limits, Log, Stored};
use super::resume::{Delivery, GapReason, Resume};
use super::shared::{OnBodyDrop, Opening, Refused, Shared};
use super::{Accepted, Connection, ConnectionId, Sender, SessionConfig, Sessions};
use crate::event::Event;
use crate::session::{Handshake, IdSource, SessionId};

/// The application's name for the person (or API client) behind a
/// connection, taken from its own authentication: a user ID, an account
/// number, a tenant-qualified name.
///
/// Cheap to clone (an `Arc<str>`). The hub only compares and hashes it.
///
/// A [`SessionId`] names a *tab* and is chosen by the client, so it is not a
/// credential; the user key is what the hub trusts for
/// [`send_to_user`](Hub::send_to_user) and for deciding who may join a
/// session (see [`Hub::accept`]).
///
/// ```
/// use sse_session::live::UserKey;
///
/// let a = UserKey::from("user-42");
/// let b = UserKey::from(String::from("user-42"));
/// assert_eq!(a, b);
/// assert_eq!(a.as_str(), "user-42");
/// assert_eq!(a.to_string(), "user-42");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserKey(Arc<str>);

impl UserKey {
    /// A user key from any string the application trusts.
    ///
    /// ```
    /// use sse_session::live::UserKey;
    ///
    /// let key = UserKey::new("alice@example.com");
    /// assert_eq!(key.as_str(), "alice@example.com");
    /// ```
    #[must_use]
    pub fn new(key: impl Into<Arc<str>>) -> Self {
        Self(key.into())
    }

    /// The key as text.
    ///
    /// ```
    /// use sse_session::live::UserKey;
    ///
    /// assert_eq!(UserKey::from("bob").as_str(), "bob");
    /// ```
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for UserKey {
    fn from(key: &str) -> Self {
        Self(key.into())
    }
}

impl From<String> for UserKey {
    fn from(key: String) -> Self {
        Self(key.into())
    }
}

impl From<Arc<str>> for UserKey {
    fn from(key: Arc<str>) -> Self {
        Self(key)
    }
}

impl AsRef<str> for UserKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UserKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("UserKey").field(&&*self.0).finish()
    }
}

/// Settings of a [`Hub`] beyond the per-connection [`SessionConfig`]:
/// how long sessions outlive their connections, what their histories keep,
/// and the owner memory.
///
/// ```
/// use std::time::Duration;
/// use sse_session::live::HubConfig;
///
/// let config = HubConfig::default()
///     .resume_window(Duration::from_secs(5 * 60))
///     .mailbox_events(500)
///     .owner_ttl(Duration::from_secs(30 * 60));
/// # let _ = config;
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
#[must_use = "a config does nothing until passed to Hub::with_config"]
pub struct HubConfig {
    owner_ttl: Duration,
    owner_capacity: usize,
    resume_window: Duration,
    mailbox_events: usize,
    mailbox_bytes: usize,
    history_events: usize,
    history_bytes: usize,
    max_away_sessions: usize,
    ended_topic_ttl: Duration,
    ended_topic_capacity: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            owner_ttl: Self::DEFAULT_OWNER_TTL,
            owner_capacity: Self::DEFAULT_OWNER_CAPACITY,
            resume_window: Self::DEFAULT_RESUME_WINDOW,
            mailbox_events: Self::DEFAULT_MAILBOX_EVENTS,
            mailbox_bytes: Self::DEFAULT_MAILBOX_BYTES,
            history_events: Self::DEFAULT_HISTORY_EVENTS,
            history_bytes: Self::DEFAULT_HISTORY_BYTES,
            max_away_sessions: Self::DEFAULT_MAX_AWAY_SESSIONS,
            ended_topic_ttl: Self::DEFAULT_ENDED_TOPIC_TTL,
            ended_topic_capacity: Self::DEFAULT_ENDED_TOPIC_CAPACITY,
        }
    }
}

impl HubConfig {
    /// Default [`owner_ttl`](Self::owner_ttl): 10 minutes.
    pub const DEFAULT_OWNER_TTL: Duration = Duration::from_secs(10 * 60);
    /// Default [`owner_capacity`](Self::owner_capacity): 65,536.
    pub const DEFAULT_OWNER_CAPACITY: usize = 65_536;
    /// Default [`resume_window`](Self::resume_window): 2 minutes.
    pub const DEFAULT_RESUME_WINDOW: Duration = Duration::from_secs(2 * 60);
    /// Default [`mailbox_events`](Self::mailbox_events): 1,000.
    pub const DEFAULT_MAILBOX_EVENTS: usize = 1_000;
    /// Default [`mailbox_bytes`](Self::mailbox_bytes): 1 MiB.
    pub const DEFAULT_MAILBOX_BYTES: usize = 1 << 20;
    /// Default [`history_events`](Self::history_events): 20,000.
    pub const DEFAULT_HISTORY_EVENTS: usize = 20_000;
    /// Default [`history_bytes`](Self::history_bytes): 16 MiB.
    pub const DEFAULT_HISTORY_BYTES: usize = 16 << 20;
    /// Default [`max_away_sessions`](Self::max_away_sessions): 100,000.
    pub const DEFAULT_MAX_AWAY_SESSIONS: usize = 100_000;
    /// Default [`ended_topic_ttl`](Self::ended_topic_ttl): 10 minutes.
    pub const DEFAULT_ENDED_TOPIC_TTL: Duration = Duration::from_secs(10 * 60);
    /// Default [`ended_topic_capacity`](Self::ended_topic_capacity): 10,000.
    pub const DEFAULT_ENDED_TOPIC_CAPACITY: usize = 10_000;

    /// How long the hub remembers which user a session belonged to after
    /// the session itself was freed (its resume window passed).
    /// Default: 10 minutes.
    ///
    /// While a session exists (with live connections, or away inside its
    /// [resume window](Self::resume_window)), only its user may join it.
    /// After that the hub keeps the owner for this long, so another user
    /// cannot take the tab ID over in the gap before the tab reconnects. Ten
    /// minutes covers reloads and a browser's reconnect attempts with room
    /// to spare; after that the ID is free again (a tab ID is not a
    /// credential: use the user key for anything that must stay private).
    /// `Duration::ZERO` turns the memory off. Only sessions that had a user
    /// key are remembered.
    pub fn owner_ttl(mut self, ttl: Duration) -> Self {
        self.owner_ttl = ttl;
        self
    }

    /// At most how many freed sessions' owners are remembered.
    /// Default: 65,536 (a few MiB at most).
    ///
    /// When full, the oldest entry is forgotten first, which errs towards
    /// letting an old tab ID be taken over rather than growing without bound.
    pub fn owner_capacity(mut self, capacity: usize) -> Self {
        self.owner_capacity = capacity;
        self
    }

    /// How long a session outlives its last connection: its user binding,
    /// its topic subscriptions and its history wait this long for the tab to
    /// reconnect; events sent to it meanwhile are queued and replayed then.
    /// It is also the age bound of every history: an event older than this
    /// is not replayed. Default: 2 minutes.
    ///
    /// Two minutes is Socket.IO's default for the same job (connection
    /// state recovery): it covers a network change on a phone, a proxy that
    /// cut an idle stream, a rolling deploy and a page reload, and it bounds
    /// what the hub holds for tabs that are gone for good. After the window
    /// the session's state is freed; a later reconnect with its ID starts a
    /// new session under the same ID and gets the gap signal
    /// ([`GapReason::Expired`]). `Duration::ZERO` frees a session with its
    /// last connection (every reconnect then starts with a gap signal).
    pub fn resume_window(mut self, window: Duration) -> Self {
        self.resume_window = window;
        self
    }

    /// At most how many events addressed to one session directly
    /// ([`send_to_session`](Hub::send_to_session),
    /// [`send_to_user`](Hub::send_to_user)) its mailbox keeps for replay.
    /// Default: 1,000.
    ///
    /// Each costs one reference (8 bytes) in the mailbox; the event's bytes
    /// are stored once however many mailboxes hold it. A tab that missed
    /// more gets the gap signal ([`GapReason::Trimmed`]). A thousand is
    /// eight events a second for the whole default window.
    pub fn mailbox_events(mut self, events: usize) -> Self {
        self.mailbox_events = events.max(1);
        self
    }

    /// At most how many bytes of frames one session's mailbox keeps (the
    /// newest event is kept whatever its size). Default: 1 MiB.
    pub fn mailbox_bytes(mut self, bytes: usize) -> Self {
        self.mailbox_bytes = bytes;
        self
    }

    /// At most how many events the shared histories keep: the history of
    /// broadcasts, and that of each topic (each event stored once, for
    /// every session it reached). Default: 20,000.
    ///
    /// A hub that broadcasts 100 events a second fills 12,000 in the
    /// default window; the default leaves room for bursts. A tab that
    /// missed broadcasts (or publishes) that were dropped gets the gap
    /// signal ([`GapReason::Trimmed`]).
    pub fn history_events(mut self, events: usize) -> Self {
        self.history_events = events.max(1);
        self
    }

    /// At most how many bytes of frames each shared history keeps (the
    /// newest event is kept whatever its size). Default: 16 MiB.
    pub fn history_bytes(mut self, bytes: usize) -> Self {
        self.history_bytes = bytes;
        self
    }

    /// At most how many sessions without a live connection the hub keeps
    /// waiting for their tab. Default: 100,000 (each costs a few hundred
    /// bytes plus its mailbox).
    ///
    /// When full, the session that has been away longest is freed first (it
    /// gets the gap signal if it comes back), so a flood of connections that
    /// come and go cannot grow the hub without bound. (The bound is kept per
    /// shard of the hub, 1/16 of it each, and a shard may hold one more
    /// until its next accept.)
    pub fn max_away_sessions(mut self, sessions: usize) -> Self {
        self.max_away_sessions = sessions;
        self
    }

    /// How long the end of a topic ([`Hub::end_topic`]) is remembered, so
    /// that tabs that were away get its final event and their reconnects
    /// `204`, and so that a stream opened on it late gets the final event
    /// and ends. Default: 10 minutes (longer than the resume window, so
    /// every session scoped to the topic is gone before its end is).
    pub fn ended_topic_ttl(mut self, ttl: Duration) -> Self {
        self.ended_topic_ttl = ttl;
        self
    }

    /// At most how many ended topics are remembered (the oldest end is
    /// forgotten first). Default: 10,000.
    pub fn ended_topic_capacity(mut self, capacity: usize) -> Self {
        self.ended_topic_capacity = capacity;
        self
    }

    fn mailbox_limits(&self) -> Limits {
        Limits {
            events: self.mailbox_events,
            bytes: self.mailbox_bytes,
            age: self.resume_window,
        }
    }

    fn history_limits(&self) -> Limits {
        Limits {
            events: self.history_events,
            bytes: self.history_bytes,
            age: self.resume_window,
        }
    }
}

/// Counters of a [`Hub`] since it was created (see [`Hub::stats`]).
///
/// ```
/// use sse_session::live::{Hub, HubStats};
///
/// let stats: HubStats = Hub::default().stats();
/// assert_eq!(stats.slow_disconnects, 0);
/// assert_eq!(stats.user_mismatches, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HubStats {
    /// Connections disconnected because their queue was full when the hub
    /// sent to them (slow consumers). Each may reconnect and resume.
    pub slow_disconnects: u64,
    /// Connections that presented a session ID registered under another
    /// user key (or under a key when they had none, or the other way round),
    /// or scoped to another topic, and were given a fresh session instead.
    pub user_mismatches: u64,
    /// Events the hub refused to send because they carry their own `id:`
    /// (see [`Hub::send_to_session`]).
    pub refused_with_id: u64,
    /// Connections registered, in total.
    pub connections_accepted: u64,
    /// Reconnects that resumed with every missed event replayed.
    pub recovered: u64,
    /// Events replayed to reconnecting tabs, in total.
    pub replayed_events: u64,
    /// Reconnects that started with the gap signal.
    pub gaps: u64,
    /// Sessions freed because their resume window passed (or because too
    /// many were away).
    pub expired_sessions: u64,
    /// Connections live right now.
    pub connections: usize,
    /// Sessions with at least one live connection right now.
    pub sessions: usize,
    /// Sessions without a live connection, waiting for their tab, right now.
    pub away_sessions: usize,
}

/// Every session of a server, reachable by session (tab), by application
/// user and by topic, with what each tab missed kept for its reconnect.
///
/// A `Hub` does what [`Sessions`] does (the handshake, `204` for closed
/// sessions) and also registers each connection it accepts, so that events
/// can be sent to:
///
/// - one session: [`send_to_session`](Self::send_to_session): every
///   connection of that tab (a duplicated browser tab copies
///   `sessionStorage`, so two connections may share a session);
/// - one user: [`send_to_user`](Self::send_to_user): every session
///   registered under that user key;
/// - one topic: [`publish`](Self::publish), to the sessions that
///   [`subscribe`](Self::subscribe)d;
/// - everybody: [`broadcast`](Self::broadcast).
///
/// Each of these encodes the event once, and returns a [`Delivery`]: how
/// many connections took it live, and how many sessions that are away will
/// get it on reconnect. The `*_bytes` forms take a frame encoded by the
/// caller.
///
/// # Resume: every event numbered, nothing missed
///
/// Every event the hub delivers gets the next *position* of the hub (a
/// number that only grows) and goes out as
///
/// ```text
/// id: <session>.<seq>
/// event: ...
/// data: ...
/// ```
///
/// so the browser's `lastEventId`, which it sends back as `Last-Event-ID`
/// when it reconnects, names the tab *and* the last event it got. The page
/// can keep it in `sessionStorage` and pass it as `?id=` after a reload.
/// The `id:` line is the only per-connection part of a frame: the rest is
/// encoded once and shared by every connection (fields may come in any
/// order in a frame), and a connection's first frame carries its cursor
/// (`id: <session>.<cursor>`, no data, so no event fires).
///
/// A session outlives its connections for the
/// [resume window](HubConfig::resume_window) (2 minutes by default): its
/// user binding, its topics and its history wait for the tab. On
/// reconnect the hub replays every event addressed to the session after the
/// cursor (directly, through its user, a topic it is subscribed to, or a
/// broadcast), in order, then continues live, with no gap and no duplicate,
/// also while other tasks keep publishing ([`Resume::Recovered`]). When it
/// cannot (the cursor is older than what the histories still hold, unknown,
/// or the window passed) the stream's first event is the gap signal, a
/// `resync` event ([`GapReason`]), and the connection says so
/// ([`Connection::resume`]): send the tab a fresh snapshot. A cursor is only
/// honoured for its own session: nobody is replayed another session's
/// events.
///
/// What is kept, each bounded by events, bytes and the window's age
/// ([`HubConfig`]): one history of broadcasts and one per topic, shared by
/// every session (an event's bytes are stored once), and per session a
/// mailbox of references to the events sent to it or its user. A session
/// away past its window is freed; nothing grows with the number of tabs
/// that ever existed.
///
/// # Job channels
///
/// [`accept_scoped`](Self::accept_scoped) opens a stream that carries one
/// topic only (say, a report being generated).
/// [`end_topic`](Self::end_topic) delivers a final event to every stream of
/// the topic and ends them; their reconnects get `204`, so the browser's
/// `EventSource` stops without client code. A tab that was away gets the
/// final event on its reconnect, then the end.
///
/// # Lifecycle of a registration
///
/// A connection leaves the hub by itself when its body is dropped (hyper
/// drops it as soon as the client goes away): no task, no sweeper thread,
/// no leak. The hub spawns nothing: sessions past their window are freed by
/// the hub's own calls (accepts and sends), a few at a time. Its maps
/// shrink again when they become much smaller than their capacity.
///
/// # Slow consumers
///
/// Every connection has a bounded queue
/// ([`queue_frames`](SessionConfig::queue_frames),
/// [`queue_bytes`](SessionConfig::queue_bytes)). A send never waits: when a
/// connection's queue is full, that connection is
/// [disconnected](Sender::disconnect) (the browser reconnects and resumes
/// its session, missed events included) and counted in
/// [`HubStats::slow_disconnects`]; everybody else gets the event.
///
/// # Locking and order
///
/// Sessions live in shards by session ID, each behind a `std::sync::RwLock`
/// that is never held across an `.await`. An event is numbered and handed to
/// every connection it reaches under one more lock (the hub's position
/// counter), so every connection receives the hub's events in position
/// order, which is what makes a cursor exact. Sends therefore take turns: a
/// broadcast to 10,000 connections holds that lock for about a millisecond
/// (see `benches/fanout.rs`). A connection leaving takes only its shard's
/// lock.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use sse_session::event::Event;
/// use sse_session::live::{Accepted, Hub, SessionConfig, UserKey};
///
/// let hub = Hub::new(SessionConfig::default());
///
/// // In the `GET /events` handler: the user key comes from your own auth.
/// let parts = http::Request::get("/events?id=tab-1").body(()).unwrap().into_parts().0;
/// let Accepted::Open(conn) = hub.accept(&parts, Some(UserKey::from("alice"))).await else {
///     unreachable!("nothing was closed")
/// };
/// hub.subscribe(conn.session_id(), "news");
/// let response = conn.into_response(); // return this from the handler
///
/// // Anywhere else:
/// assert_eq!(hub.broadcast(&Event::new("to everyone")).live, 1);
/// assert_eq!(hub.send_to_user(&UserKey::from("alice"), &Event::new("hi alice")).live, 1);
/// assert_eq!(hub.publish("news", &Event::new("headline")).live, 1);
/// assert_eq!(hub.connection_count(), 1);
///
/// drop(response); // the client went away: its session waits for it
/// assert_eq!(hub.connection_count(), 0);
/// assert_eq!(hub.away_count(), 1);
/// assert_eq!(hub.broadcast(&Event::new("queued")).queued, 1);
/// # }
/// ```
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    sessions: Sessions,
    config: HubConfig,
    hasher: RandomState,
    /// The position counter and the shared histories. Lock order: the
    /// journal, then a shard.
    journal: Mutex<Journal>,
    shards: Box<[RwLock<Shard>]>,
    /// The shard the next send sweeps for expired sessions.
    sweep_next: AtomicUsize,
    connections: AtomicUsize,
    session_count: AtomicUsize,
    away: AtomicUsize,
    slow_disconnects: AtomicU64,
    user_mismatches: AtomicU64,
    refused_with_id: AtomicU64,
    accepted: AtomicU64,
    recovered: AtomicU64,
    replayed: AtomicU64,
    gaps: AtomicU64,
    expired: AtomicU64,
    /// Set by [`Hub::shutdown`]: the `retry:` frame every stream ends with.
    shutdown: OnceLock<Bytes>,
    /// Numbered from outside ([`Hub::feed_from`]).
    fed: AtomicBool,
}

/// Number of shards: enough that a broadcast holds each read lock for a
/// short time and that registrations on other shards proceed meanwhile.
const SHARDS: usize = 16;

/// Maps shrink when their length falls under 1/`SHRINK_RATIO` of their
/// capacity (and the capacity is above `MIN_SHRINK_CAPACITY`); they shrink
/// to twice their length, so shrinking costs amortised O(1) per removal.
const SHRINK_RATIO: usize = 4;
const MIN_SHRINK_CAPACITY: usize = 32;

/// Expired sessions a send frees at most (in one shard), so that no send
/// does unbounded work; accepts free all the expired ones of their shard.
const SWEEP_BUDGET: usize = 64;

/// A topic name, shared by the indexes that hold it.
pub(crate) type Topic = Arc<str>;

/// The hub's clock: Tokio's, so that tests with a paused runtime clock step
/// the resume window (outside a runtime it is the system's).
/// Numbers `frame` as `how` says (see [`How`]); for [`How::At`], `seq` is
/// above `j.last` (checked by the caller).
fn stamp(j: &mut Journal, how: How, frame: &Bytes, now: Instant) -> Arc<Stored> {
    match how {
        How::Next => j.stamp(frame.clone(), now),
        How::At(seq) => {
            j.last = seq - 1;
            j.stamp(frame.clone(), now)
        }
        How::Plain => Arc::new(Stored {
            seq: PLAIN,
            at: now,
            frame: frame.clone(),
        }),
    }
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

#[derive(Default)]
struct Shard {
    sessions: SessionMap,
    /// The unscoped sessions of each user (in this shard), live and away.
    users: HashMap<UserKey, Vec<SessionId>>,
    /// The sessions subscribed to each topic (in this shard), live and away,
    /// scoped streams included.
    topics: HashMap<Topic, HashSet<SessionId>>,
    /// Owners of freed sessions, until the deadline.
    owners: HashMap<SessionId, (UserKey, Instant)>,
    /// `owners` in insertion order, for expiry and eviction; an entry whose
    /// deadline differs from the map's is stale and skipped.
    owner_order: VecDeque<(SessionId, Instant)>,
    /// Sessions that lost their last connection, in that order, with the
    /// time; an entry is stale when the session came back (or left again
    /// later).
    away: VecDeque<(SessionId, Instant)>,
    /// Sessions of this shard without a live connection.
    away_count: usize,
}

/// A session's place in the hub: its shard and its 64-bit keyed hash
/// (`RandomState`, so clients cannot choose colliding IDs).
#[derive(Clone, Copy)]
struct Slot<'a> {
    shard: usize,
    hash: u64,
    session: &'a SessionId,
}

/// The live sessions of a shard, keyed by their hash rather than by the
/// 65-byte ID: every map slot, used or spare, costs 24 bytes instead of 104
/// (the ID is in the entry's connection state already). Two live sessions
/// with the same hash are told apart: the second goes to `overflow`, an
/// ordinary map that is empty in practice.
#[derive(Default)]
struct SessionMap {
    main: HashMap<u64, SessionEntry, BuildHasherDefault<PreHashed>>,
    overflow: HashMap<SessionId, SessionEntry>,
}

impl SessionMap {
    fn get(&self, at: Slot<'_>) -> Option<&SessionEntry> {
        match self.main.get(&at.hash) {
            Some(e) if e.session() == at.session => Some(e),
            _ if self.overflow.is_empty() => None,
            _ => self.overflow.get(at.session),
        }
    }

    fn get_mut(&mut self, at: Slot<'_>) -> Option<&mut SessionEntry> {
        match self.main.get_mut(&at.hash) {
            Some(e) if e.session() == at.session => Some(e),
            _ if self.overflow.is_empty() => None,
            _ => self.overflow.get_mut(at.session),
        }
    }

    /// Inserts the entry of a session that is not in the map.
    fn insert_new(&mut self, at: Slot<'_>, entry: SessionEntry) {
        match self.main.entry(at.hash) {
            Entry::Vacant(v) => {
                v.insert(entry);
            }
            Entry::Occupied(_) => {
                self.overflow.insert(*at.session, entry);
            }
        }
    }

    fn remove(&mut self, at: Slot<'_>) -> Option<SessionEntry> {
        if self
            .main
            .get(&at.hash)
            .is_some_and(|e| e.session() == at.session)
        {
            let entry = self.main.remove(&at.hash);
            shrink(&mut self.main);
            entry
        } else if self.overflow.is_empty() {
            None
        } else {
            let entry = self.overflow.remove(at.session);
            shrink(&mut self.overflow);
            entry
        }
    }

    fn values(&self) -> impl Iterator<Item = &SessionEntry> {
        self.main.values().chain(self.overflow.values())
    }

    fn ids(&self) -> impl Iterator<Item = &SessionId> {
        self.values().map(SessionEntry::session)
    }

    fn capacity(&self) -> usize {
        self.main.capacity() + self.overflow.capacity()
    }
}

/// The hasher of a map whose keys are hashes already.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used (the keys are `u64`); this is a fallback.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

struct SessionEntry {
    id: SessionId,
    /// The position this session began at: a cursor below it is not its own.
    start: u64,
    /// The first live connection, inline: most live sessions have exactly
    /// one. `None` while the session is away.
    first: Option<Conn>,
    /// The user, further connections, topics, mailbox and away time, boxed:
    /// many sessions have none of them, and every map slot (used or spare)
    /// pays for what is inline here.
    extra: Option<Box<Extra>>,
}

#[derive(Default)]
struct Extra {
    user: Option<UserKey>,
    /// Further connections of the session (duplicated tabs).
    more: Vec<Conn>,
    topics: Vec<Sub>,
    /// The topic a scoped stream carries (also in `topics`).
    scope: Option<Topic>,
    /// Events sent to the session or its user, for replay.
    mailbox: Log,
    /// When the last connection left (`Some` exactly while away).
    away_since: Option<Instant>,
}

/// A topic subscription, and the position it began after.
struct Sub {
    topic: Topic,
    since: u64,
}

impl SessionEntry {
    fn new(id: SessionId, start: u64, user: Option<UserKey>, scope: Option<Topic>) -> Self {
        let mut entry = Self {
            id,
            start,
            first: None,
            extra: None,
        };
        if user.is_some() || scope.is_some() {
            let extra = entry.extra_mut();
            extra.user = user;
            if let Some(topic) = scope {
                extra.topics.push(Sub {
                    topic: Arc::clone(&topic),
                    since: start,
                });
                extra.scope = Some(topic);
            }
        }
        entry
    }

    fn session(&self) -> &SessionId {
        &self.id
    }

    fn state(&self) -> SessionState {
        SessionState {
            id: self.id,
            start: self.start,
            user: self.user().cloned(),
            scope: self.scope().cloned(),
            topics: self
                .topics()
                .iter()
                .filter(|s| Some(&s.topic) != self.scope())
                .map(|s| Arc::clone(&s.topic))
                .collect(),
        }
    }

    fn user(&self) -> Option<&UserKey> {
        self.extra.as_deref().and_then(|e| e.user.as_ref())
    }

    fn scope(&self) -> Option<&Topic> {
        self.extra.as_deref().and_then(|e| e.scope.as_ref())
    }

    fn more(&self) -> &[Conn] {
        self.extra.as_deref().map_or(&[], |e| &e.more)
    }

    fn topics(&self) -> &[Sub] {
        self.extra.as_deref().map_or(&[], |e| &e.topics)
    }

    fn away_since(&self) -> Option<Instant> {
        self.extra.as_deref().and_then(|e| e.away_since)
    }

    fn is_away(&self) -> bool {
        self.first.is_none()
    }

    /// Away for the whole window at `now`: as good as freed.
    fn expired(&self, now: Instant, window: Duration) -> bool {
        self.away_since()
            .is_some_and(|t| now.saturating_duration_since(t) >= window)
    }

    fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// Frees `extra` once it holds nothing.
    fn tidy(&mut self) {
        let start = self.start;
        if self.extra.as_deref().is_some_and(|e| {
            e.user.is_none()
                && e.more.is_empty()
                && e.topics.is_empty()
                && e.scope.is_none()
                && e.away_since.is_none()
                && e.mailbox.is_pristine(start)
        }) {
            self.extra = None;
        }
    }

    fn conns(&self) -> impl Iterator<Item = &Conn> {
        self.first.iter().chain(self.more())
    }

    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.more().len()
    }

    /// Adds a live connection; `true` if the session was away.
    fn add(&mut self, conn: Conn) -> bool {
        if self.first.is_none() {
            self.first = Some(conn);
            let was_away = self.extra.as_mut().and_then(|e| e.away_since.take());
            self.tidy();
            was_away.is_some()
        } else {
            self.extra_mut().more.push(conn);
            false
        }
    }

    /// Takes every live connection out (the session is then away, its
    /// `away_since` still to be set by the caller).
    fn take_conns(&mut self) -> Vec<Conn> {
        let mut all = self
            .extra
            .as_mut()
            .map(|e| std::mem::take(&mut e.more))
            .unwrap_or_default();
        all.extend(self.first.take());
        all
    }

    /// Removes connection `id`: `Some(true)` if it was the last one (the
    /// session is now away), `Some(false)` if others remain, `None` if it is
    /// not here.
    fn remove(&mut self, id: ConnectionId) -> Option<bool> {
        if self.first.as_ref().is_some_and(|c| c.id() == id) {
            self.first = self.extra.as_mut().and_then(|e| e.more.pop());
            self.tidy();
            return Some(self.first.is_none());
        }
        let more = &mut self.extra.as_mut()?.more;
        let pos = more.iter().position(|c| c.id() == id)?;
        more.swap_remove(pos);
        self.tidy();
        Some(false)
    }

    /// Every event addressed to this session after `cursor`, in order, or
    /// `None` if some may have been dropped from the histories.
    fn replay(&self, journal: &Journal, cursor: u64) -> Option<Vec<Arc<Stored>>> {
        if cursor < journal.lost_to {
            return None;
        }
        let mut out = Vec::new();
        if self.scope().is_none() {
            if !journal.broadcast.complete_after(cursor) {
                return None;
            }
            out.extend(journal.broadcast.after(cursor).cloned());
        }
        for sub in self.topics() {
            let after = cursor.max(sub.since);
            // A subscribed topic has a history as long as it has subscribers.
            if let Some(history) = journal.topics.get(&sub.topic) {
                if !history.log.complete_after(after) {
                    return None;
                }
                out.extend(history.log.after(after).cloned());
            }
        }
        if let Some(extra) = self.extra.as_deref() {
            if !extra.mailbox.complete_after(cursor) {
                return None;
            }
            out.extend(extra.mailbox.after(cursor).cloned());
        }
        // Each event is in one history only; positions are unique.
        out.sort_unstable_by_key(|e| e.seq);
        Some(out)
    }
}

/// One registered connection: its sender (the connection ID and the
/// slow-consumer flag live in the connection's shared state).
struct Conn {
    sender: Sender,
}

impl Conn {
    fn id(&self) -> ConnectionId {
        self.sender.connection_id()
    }
}

fn read(lock: &RwLock<Shard>) -> RwLockReadGuard<'_, Shard> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write(lock: &RwLock<Shard>) -> RwLockWriteGuard<'_, Shard> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

fn shrink<K: std::hash::Hash + Eq, V, S: BuildHasher>(map: &mut HashMap<K, V, S>) {
    if map.capacity() > MIN_SHRINK_CAPACITY && map.len() * SHRINK_RATIO < map.capacity() {
        map.shrink_to(map.len() * 2);
    }
}

fn shrink_deque<T>(queue: &mut VecDeque<T>) {
    if queue.capacity() > MIN_SHRINK_CAPACITY && queue.len() * SHRINK_RATIO < queue.capacity() {
        queue.shrink_to(queue.len() * 2);
    }
}

/// Who a send is for.
#[derive(Clone, Copy)]
pub(crate) enum Target<'a> {
    Session(&'a SessionId),
    User(&'a UserKey),
    Topic(&'a str),
    All,
}

/// How a send is numbered.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) enum How {
    /// With the hub's next position (a hub on its own).
    Next,
    /// With a position given from outside, above every one the hub has
    /// seen (a hub fed by a shared log: the Redis bus).
    At(u64),
    /// Not numbered, not kept for replay: handed to the live connections
    /// only, without an `id:` line (the bus when Redis cannot number it).
    Plain,
}

/// The `seq` of a [`How::Plain`] event: never a position (positions start
/// above 2^32).
pub(crate) const PLAIN: u64 = 0;

/// A session's state as another process recorded it (the Redis bus), and
/// what it missed, for [`Hub::admit_remote`].
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) struct RemotePlan {
    /// Its topic subscriptions.
    pub(crate) topics: Vec<Topic>,
    /// The events after the cursor, in order, or why they cannot be known.
    pub(crate) replay: Result<Vec<(u64, Bytes)>, GapReason>,
    /// The stream's topic ended: end it after the replay.
    pub(crate) end: bool,
}

/// What the bus keeps of a live session in Redis.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) struct SessionState {
    pub(crate) id: SessionId,
    pub(crate) start: u64,
    pub(crate) user: Option<UserKey>,
    pub(crate) scope: Option<Topic>,
    pub(crate) topics: Vec<Topic>,
}

/// What an accept found.
enum Decision {
    /// The session belongs to another user (or is scoped to another topic).
    Mismatch,
    /// A scoped session whose topic ended, with a cursor at or past the
    /// final event: answer `204`.
    Finished,
    Open(Plan),
}

/// How to open an accepted connection.
struct Plan {
    /// `Some(start)`: a new session beginning at `start`.
    new_start: Option<u64>,
    opening: Opening,
    resume: Resume,
    replay: Vec<Arc<Stored>>,
    /// End the stream after the replay (a scoped stream whose topic ended).
    end: bool,
}

/// An accept's result before the closed-ID store is told of a finished job
/// channel.
enum Admit {
    Open(Connection),
    Finished(Handshake),
}

impl Default for Hub {
    /// A hub with [`SessionConfig::default()`] and [`HubConfig::default()`].
    fn default() -> Self {
        Self::new(SessionConfig::default())
    }
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("connections", &self.connection_count())
            .field("sessions", &self.session_count())
            .field("away", &self.away_count())
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// A hub whose connections use `config` (handshake, retry, keep-alive,
    /// queue bounds, closed-ID store).
    ///
    /// ```
    /// use std::time::Duration;
    /// use sse_session::live::{Hub, SessionConfig};
    ///
    /// let hub = Hub::new(SessionConfig::default().keep_alive(Some(Duration::from_secs(20))));
    /// assert_eq!(hub.connection_count(), 0);
    /// ```
    #[must_use]
    pub fn new(config: SessionConfig) -> Self {
        Self::with_config(config, HubConfig::default())
    }

    /// A hub with hub-level settings too (see [`HubConfig`]).
    ///
    /// ```
    /// use sse_session::live::{Hub, HubConfig, SessionConfig};
    ///
    /// let hub = Hub::with_config(SessionConfig::default(), HubConfig::default().owner_capacity(100));
    /// # let _ = hub;
    /// ```
    #[must_use]
    pub fn with_config(config: SessionConfig, hub: HubConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                sessions: Sessions::new(config),
                config: hub,
                hasher: RandomState::new(),
                journal: Mutex::new(Journal::new()),
                shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
                sweep_next: AtomicUsize::new(0),
                connections: AtomicUsize::new(0),
                session_count: AtomicUsize::new(0),
                away: AtomicUsize::new(0),
                slow_disconnects: AtomicU64::new(0),
                user_mismatches: AtomicU64::new(0),
                refused_with_id: AtomicU64::new(0),
                accepted: AtomicU64::new(0),
                recovered: AtomicU64::new(0),
                replayed: AtomicU64::new(0),
                gaps: AtomicU64::new(0),
                expired: AtomicU64::new(0),
                shutdown: OnceLock::new(),
                fed: AtomicBool::new(false),
            }),
        }
    }

    /// The [`Sessions`] behind this hub (handshake and closed-ID store).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use sse_session::live::Hub;
    /// use sse_session::session::SessionId;
    ///
    /// let hub = Hub::default();
    /// let id = SessionId::try_from("tab-1").unwrap();
    /// assert!(!hub.as_sessions().is_closed(&id).await);
    /// # }
    /// ```
    #[must_use]
    pub fn as_sessions(&self) -> &Sessions {
        &self.inner.sessions
    }

    /// Answers an `EventSource` request and registers the connection.
    ///
    /// Does the handshake of [`Sessions::accept`] (`Last-Event-ID`, then
    /// `?id=`, else a fresh ID; a closed ID gives [`Accepted::Closed`], to be
    /// answered `204 No Content`), then registers the connection under its
    /// session and under `user`, the key your own authentication gives for
    /// this request (`None` for anonymous clients).
    ///
    /// If the request carries a cursor (`Last-Event-ID: <session>.<seq>`,
    /// or `?id=<session>.<seq>`), the events the session missed since are
    /// replayed first; see [`Connection::resume`] for what happened.
    ///
    /// # Who may join a session
    ///
    /// A session ID is chosen by the client, so it is not a credential. A
    /// connection joins an existing session (live, or away inside its resume
    /// window) only when its user key equals the session's (both `None`, or
    /// the same key). Otherwise it gets a fresh session ID, as if it had sent
    /// none, and the attempt is counted in [`HubStats::user_mismatches`]; it
    /// is never replayed the other session's events. The same holds for a
    /// while after the session was freed (see [`HubConfig::owner_ttl`]).
    ///
    /// The connection leaves the hub when the body of the returned
    /// connection is dropped; its session then waits for the
    /// [resume window](HubConfig::resume_window).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use sse_session::live::{Accepted, Hub, UserKey};
    ///
    /// let hub = Hub::default();
    /// let req = |q: &str| http::Request::get(format!("/events{q}")).body(()).unwrap().into_parts().0;
    ///
    /// let Accepted::Open(alice) = hub.accept(&req("?id=tab-1"), Some(UserKey::from("alice"))).await
    /// else { unreachable!() };
    /// assert_eq!(alice.session_id().as_str(), "tab-1");
    ///
    /// // Mallory presents Alice's tab ID: she gets a session of her own.
    /// let Accepted::Open(mallory) = hub.accept(&req("?id=tab-1"), Some(UserKey::from("mallory"))).await
    /// else { unreachable!() };
    /// assert_ne!(mallory.session_id().as_str(), "tab-1");
    /// assert_eq!(hub.stats().user_mismatches, 1);
    /// # }
    /// ```
    pub async fn accept(&self, parts: &Parts, user: Option<UserKey>) -> Accepted {
        self.accept_in(self.inner.sessions.handshake(parts), user, None)
            .await
    }

    /// [`accept`](Self::accept) for a whole request (only its method, URI and
    /// headers are read).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use sse_session::live::{Accepted, Hub};
    ///
    /// let hub = Hub::default();
    /// let req = http::Request::get("/events?id=tab-2").body(()).unwrap();
    /// let Accepted::Open(conn) = hub.accept_request(&req, None).await else { unreachable!() };
    /// assert_eq!(conn.session_id().as_str(), "tab-2");
    /// assert_eq!(hub.connection_count(), 1);
    /// # }
    /// ```
    pub async fn accept_request<B>(&self, req: &Request<B>, user: Option<UserKey>) -> Accepted {
        let handshake = Handshake::from_request(req, self.inner.sessions.handshake_config());
        self.accept_in(handshake, user, None).await
    }

    /// Opens a stream scoped to one `topic` (a job channel): it carries only
    /// the events [`publish`](Self::publish)ed to that topic (and those sent
    /// to its own session with [`send_to_session`](Self::send_to_session));
    /// broadcasts and [`send_to_user`](Self::send_to_user) do not reach it.
    ///
    /// When the topic ends ([`end_topic`](Self::end_topic)), the stream gets
    /// the final event and ends, and its reconnect is answered `204`, so the
    /// browser's `EventSource` stops for good without client code. A tab that
    /// was away gets the final event when it reconnects, then the end; a
    /// stream opened on a topic that already ended gets the final event at
    /// once, then the end. Resume works as for [`accept`](Self::accept); a
    /// session scoped to another topic is not joined (a fresh session is
    /// opened instead).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use sse_session::live::{Accepted, Hub};
    /// use sse_session::Event;
    ///
    /// let hub = Hub::default();
    /// let parts = http::Request::get("/jobs/42/events").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(job) = hub.accept_scoped(&parts, None, "job-42").await else { unreachable!() };
    /// assert_eq!(hub.publish("job-42", &Event::new("50 %")).live, 1);
    /// assert_eq!(hub.broadcast(&Event::new("not for job streams")).live, 0);
    /// assert_eq!(hub.end_topic("job-42", &Event::new("done")).live, 1);
    /// assert!(job.sender().is_closed()); // the stream ends after the final event
    /// # }
    /// ```
    pub async fn accept_scoped(
        &self,
        parts: &Parts,
        user: Option<UserKey>,
        topic: &str,
    ) -> Accepted {
        let handshake = self.inner.sessions.handshake(parts);
        self.accept_in(handshake, user, Some(Topic::from(topic)))
            .await
    }

    pub(crate) async fn accept_in(
        &self,
        handshake: Handshake,
        user: Option<UserKey>,
        scope: Option<Topic>,
    ) -> Accepted {
        let fresh = matches!(handshake.source(), IdSource::Fresh);
        if !fresh && self.inner.sessions.is_closed(handshake.session_id()).await {
            return Accepted::Closed(handshake);
        }
        match self.inner.admit(handshake, user, scope, None) {
            Admit::Open(conn) => Accepted::Open(self.opened(conn)),
            Admit::Finished(handshake) => {
                self.inner
                    .sessions
                    .mark_closed(handshake.session_id())
                    .await;
                Accepted::Closed(handshake)
            }
        }
    }

    fn opened(&self, conn: Connection) -> Connection {
        if let Some(frame) = self.inner.shutdown.get() {
            // Shutting down: the tab is told to come back (to another
            // process, or to this one restarted) after the retry delay.
            conn.sender().push_forced(frame);
            conn.sender().finish_stream();
        }
        conn
    }

    /// Sends `event` to every connection of one session (tab), and to its
    /// mailbox: a session that is away (inside its resume window) gets it
    /// when it reconnects, and counts as [`queued`](Delivery::queued).
    ///
    /// An event that carries its own `id:` is refused (nothing reached,
    /// counted in [`HubStats::refused_with_id`]): the hub owns the `id:`
    /// field, which carries the session and the event's position.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use sse_session::event::Event;
    /// use sse_session::live::{Accepted, Hub};
    ///
    /// let hub = Hub::default();
    /// let parts = http::Request::get("/events?id=tab-1").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(first) = hub.accept(&parts, None).await else { unreachable!() };
    /// let Accepted::Open(dup) = hub.accept(&parts, None).await else { unreachable!() }; // duplicated tab
    ///
    /// assert_eq!(hub.send_to_session(first.session_id(), &Event::new("to both")).live, 2);
    /// # drop(dup);
    /// # }
    /// ```
    pub fn send_to_session(&self, session: &SessionId, event: &Event) -> Delivery {
        match self.encode(event) {
            Some(frame) => self.send_to_session_bytes(session, &frame),
            None => Delivery::default(),
        }
    }

    /// [`send_to_session`](Self::send_to_session) with a frame encoded by the
    /// caller (for example once for many sessions). The frame is sent as it
    /// is: it must be whole (ending in a blank line) and carry no `id:`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use sse_session::event::Event;
    /// # use sse_session::live::{Accepted, Hub};
    /// # let hub = Hub::default();
    /// # let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = hub.accept(&parts, None).await else { unreachable!() };
    /// let frame = Event::new("hello").to_bytes();
    /// assert_eq!(hub.send_to_session_bytes(conn.session_id(), &frame).live, 1);
    /// # }
    /// ```
    pub fn send_to_session_bytes(&self, session: &SessionId, frame: &Bytes) -> Delivery {
        self.inner.send(Target::Session(session), frame, How::Next)
    }

    /// Sends `event` to every session registered under `user` (live
    /// connections now, away sessions on reconnect). Streams opened with
    /// [`accept_scoped`](Self::accept_scoped) are not reached. Refuses
    /// events with an `id:` like [`send_to_session`](Self::send_to_session).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use sse_session::event::Event;
    /// use sse_session::live::{Accepted, Hub, UserKey};
    ///
    /// let hub = Hub::default();
    /// let req = |q: &str| http::Request::get(format!("/events{q}")).body(()).unwrap().into_parts().0;
    /// let bob = || Some(UserKey::from("bob"));
    /// let Accepted::Open(tab1) = hub.accept(&req("?id=t1"), bob()).await else { unreachable!() };
    /// let Accepted::Open(tab2) = hub.accept(&req("?id=t2"), bob()).await else { unreachable!() };
    /// let Accepted::Open(other) = hub.accept(&req("?id=t3"), None).await else { unreachable!() };
    ///
    /// assert_eq!(hub.send_to_user(&UserKey::from("bob"), &Event::new("hi bob")).live, 2);
    /// # drop((tab1, tab2, other));
    /// # }
    /// ```
    pub fn send_to_user(&self, user: &UserKey, event: &Event) -> Delivery {
        match self.encode(event) {
            Some(frame) => self.send_to_user_bytes(user, &frame),
            None => Delivery::default(),
        }
    }

    /// [`send_to_user`](Self::send_to_user) with a frame encoded by the
    /// caller.
    ///
    /// ```
    /// # use sse_session::live::{Hub, UserKey};
    /// # use sse_session::event::Event;
    /// let hub = Hub::default();
    /// let frame = Event::new("hi").to_bytes();
    /// assert!(!hub.send_to_user_bytes(&UserKey::from("nobody"), &frame).reached());
    /// ```
    pub fn send_to_user_bytes(&self, user: &UserKey, frame: &Bytes) -> Delivery {
        self.inner.send(Target::User(user), frame, How::Next)
    }

    /// Sends `event` to every session subscribed to `topic` (live
    /// connections now, away sessions on reconnect), scoped streams of the
    /// topic included. Refuses events with an `id:` like
    /// [`send_to_session`](Self::send_to_session); reaches nobody once the
    /// topic [ended](Self::end_topic).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use sse_session::event::Event;
    /// use sse_session::live::{Accepted, Hub};
    ///
    /// let hub = Hub::default();
    /// # let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = hub.accept(&parts, None).await else { unreachable!() };
    /// assert!(!hub.publish("prices", &Event::new("1.25")).reached());
    /// hub.subscribe(conn.session_id(), "prices");
    /// assert_eq!(hub.publish("prices", &Event::new("1.26")).live, 1);
    /// # }
    /// ```
    pub fn publish(&self, topic: &str, event: &Event) -> Delivery {
        match self.encode(event) {
            Some(frame) => self.publish_bytes(topic, &frame),
            None => Delivery::default(),
        }
    }

    /// [`publish`](Self::publish) with a frame encoded by the caller.
    ///
    /// ```
    /// # use sse_session::live::Hub;
    /// # use sse_session::event::Event;
    /// let hub = Hub::default();
    /// assert!(!hub.publish_bytes("prices", &Event::new("1.25").to_bytes()).reached());
    /// ```
    pub fn publish_bytes(&self, topic: &str, frame: &Bytes) -> Delivery {
        self.inner.send(Target::Topic(topic), frame, How::Next)
    }

    /// Sends `event` to every session (live connections now, away sessions
    /// on reconnect), except streams opened with
    /// [`accept_scoped`](Self::accept_scoped). Refuses events with an `id:`
    /// like [`send_to_session`](Self::send_to_session).
    ///
    /// # Complexity
    ///
    /// One encoding and one stored copy, then per live connection one
    /// reference-count bump and one short lock of that connection's queue;
    /// each connection writes its own `id:` line when its body is polled.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use sse_session::event::Event;
    /// use sse_session::live::{Accepted, Hub};
    ///
    /// let hub = Hub::default();
    /// # let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// let mut conns = Vec::new();
    /// for _ in 0..3 {
    ///     let Accepted::Open(conn) = hub.accept(&parts, None).await else { unreachable!() };
    ///     conns.push(conn);
    /// }
    /// assert_eq!(hub.broadcast(&Event::new("to everyone")).live, 3);
    /// # }
    /// ```
    pub fn broadcast(&self, event: &Event) -> Delivery {
        match self.encode(event) {
            Some(frame) => self.broadcast_bytes(&frame),
            None => Delivery::default(),
        }
    }

    /// [`broadcast`](Self::broadcast) with a frame encoded by the caller.
    ///
    /// ```
    /// # use sse_session::live::Hub;
    /// # use sse_session::event::Event;
    /// let hub = Hub::default();
    /// assert!(!hub.broadcast_bytes(&Event::new("x").to_bytes()).reached());
    /// ```
    pub fn broadcast_bytes(&self, frame: &Bytes) -> Delivery {
        self.inner.send(Target::All, frame, How::Next)
    }

    /// Ends `topic`: delivers `last` to every session subscribed to it,
    /// then ends every stream scoped to it
    /// ([`accept_scoped`](Self::accept_scoped)) after that final event. A
    /// scoped stream's reconnect is then answered `204 No Content` (the
    /// browser's `EventSource` stops for good); a scoped session that was
    /// away gets the final event on its reconnect, then the end. Sessions
    /// subscribed with [`subscribe`](Self::subscribe) get the final event as
    /// any other and stay open. Later publishes to the topic reach nobody,
    /// for as long as the end is remembered
    /// ([`HubConfig::ended_topic_ttl`]).
    ///
    /// Ending a topic that already ended does nothing. `last` is refused
    /// (nothing is done) if it carries an `id:`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use sse_session::live::{Accepted, Hub};
    /// use sse_session::Event;
    ///
    /// let hub = Hub::default();
    /// let parts = http::Request::get("/jobs/7/events").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(job) = hub.accept_scoped(&parts, None, "job-7").await else { unreachable!() };
    /// let cursor_after_end = hub.end_topic("job-7", &Event::new("report ready")).seq.unwrap();
    ///
    /// // The browser reconnects with the final event's ID: 204.
    /// let again = http::Request::get("/jobs/7/events")
    ///     .header("last-event-id", format!("{}.{cursor_after_end}", job.session_id()))
    ///     .body(()).unwrap().into_parts().0;
    /// let accepted = hub.accept_scoped(&again, None, "job-7").await;
    /// assert!(matches!(accepted, Accepted::Closed(_)));
    /// # }
    /// ```
    pub fn end_topic(&self, topic: &str, last: &Event) -> Delivery {
        match self.encode(last) {
            Some(frame) => self.inner.end_topic(topic, frame, How::Next),
            None => Delivery::default(),
        }
    }

    fn encode(&self, event: &Event) -> Option<Bytes> {
        if event.id().is_some() {
            self.inner.refused_with_id.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(event.to_bytes())
    }

    /// Subscribes `session` (live, or away inside its resume window) to
    /// `topic`: every event published to it from now on reaches the session,
    /// and is replayed if the tab was away. Returns `false` if the hub has
    /// no such session (nothing is stored).
    ///
    /// The subscription lasts as long as the session (it outlives a dropped
    /// connection; subscribing again is a no-op that returns `true`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use sse_session::live::{Accepted, Hub};
    /// use sse_session::session::SessionId;
    ///
    /// let hub = Hub::default();
    /// # let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = hub.accept(&parts, None).await else { unreachable!() };
    /// assert!(hub.subscribe(conn.session_id(), "news"));
    /// assert!(!hub.subscribe(&SessionId::try_from("gone").unwrap(), "news"));
    /// # }
    /// ```
    pub fn subscribe(&self, session: &SessionId, topic: &str) -> bool {
        self.inner.subscribe(session, topic)
    }

    /// Undoes [`subscribe`](Self::subscribe). Returns whether the session was
    /// subscribed. Events published before the call are still replayed to
    /// the session if it missed them; later ones do not reach it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use sse_session::live::{Accepted, Hub};
    /// # use sse_session::event::Event;
    /// # let hub = Hub::default();
    /// # let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = hub.accept(&parts, None).await else { unreachable!() };
    /// hub.subscribe(conn.session_id(), "news");
    /// assert!(hub.unsubscribe(conn.session_id(), "news"));
    /// assert!(!hub.unsubscribe(conn.session_id(), "news"));
    /// assert!(!hub.publish("news", &Event::new("x")).reached());
    /// # }
    /// ```
    pub fn unsubscribe(&self, session: &SessionId, topic: &str) -> bool {
        self.inner.unsubscribe(session, topic)
    }

    /// The sessions with at least one live connection, in no particular
    /// order.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use sse_session::live::{Accepted, Hub};
    /// let hub = Hub::default();
    /// let parts = http::Request::get("/events?id=tab-9").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = hub.accept(&parts, None).await else { unreachable!() };
    /// assert_eq!(hub.sessions().len(), 1);
    /// assert_eq!(hub.sessions()[0].as_str(), "tab-9");
    /// # drop(conn);
    /// # }
    /// ```
    #[must_use]
    pub fn sessions(&self) -> Vec<SessionId> {
        let mut out = Vec::with_capacity(self.session_count());
        for shard in &*self.inner.shards {
            out.extend(
                read(shard)
                    .sessions
                    .values()
                    .filter(|e| !e.is_away())
                    .map(|e| *e.session()),
            );
        }
        out
    }

    /// Whether `session` has a live connection.
    ///
    /// ```
    /// # use sse_session::live::Hub;
    /// # use sse_session::session::SessionId;
    /// let hub = Hub::default();
    /// assert!(!hub.contains(&SessionId::try_from("tab-1").unwrap()));
    /// ```
    #[must_use]
    pub fn contains(&self, session: &SessionId) -> bool {
        let at = self.inner.slot(session);
        read(&self.inner.shards[at.shard])
            .sessions
            .get(at)
            .is_some_and(|e| !e.is_away())
    }

    /// Whether `session` has no live connection but is waiting for its tab
    /// inside its resume window.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use sse_session::live::{Accepted, Hub};
    /// let hub = Hub::default();
    /// let parts = http::Request::get("/events?id=tab-1").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = hub.accept(&parts, None).await else { unreachable!() };
    /// let id = *conn.session_id();
    /// assert!(!hub.is_away(&id));
    /// drop(conn);
    /// assert!(hub.is_away(&id));
    /// # }
    /// ```
    #[must_use]
    pub fn is_away(&self, session: &SessionId) -> bool {
        let at = self.inner.slot(session);
        let window = self.inner.config.resume_window;
        read(&self.inner.shards[at.shard])
            .sessions
            .get(at)
            .is_some_and(|e| e.is_away() && !e.expired(now(), window))
    }

    /// The number of live connections.
    ///
    /// ```
    /// # use sse_session::live::Hub;
    /// assert_eq!(Hub::default().connection_count(), 0);
    /// ```
    #[must_use]
    pub fn connection_count(&self) -> usize {
        self.inner.connections.load(Ordering::Relaxed)
    }

    /// The number of sessions with at least one live connection.
    ///
    /// ```
    /// # use sse_session::live::Hub;
    /// assert_eq!(Hub::default().session_count(), 0);
    /// ```
    #[must_use]
    pub fn session_count(&self) -> usize {
        self.inner.session_count.load(Ordering::Relaxed)
    }

    /// The number of sessions without a live connection that the hub still
    /// keeps (waiting for their tab, or past their window and not yet
    /// freed: the hub frees those during its next accepts and sends).
    ///
    /// ```
    /// # use sse_session::live::Hub;
    /// assert_eq!(Hub::default().away_count(), 0);
    /// ```
    #[must_use]
    pub fn away_count(&self) -> usize {
        self.inner.away.load(Ordering::Relaxed)
    }

    /// The hub's newest position: the `seq` of the last event it numbered
    /// (a random base before the first event).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use sse_session::live::{Accepted, Hub};
    /// # use sse_session::Event;
    /// let hub = Hub::default();
    /// # let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = hub.accept(&parts, None).await else { unreachable!() };
    /// let before = hub.position();
    /// assert_eq!(conn.cursor(), Some(before));
    /// assert_eq!(hub.broadcast(&Event::new("x")).seq, Some(before + 1));
    /// assert_eq!(hub.position(), before + 1);
    /// # }
    /// ```
    #[must_use]
    pub fn position(&self) -> u64 {
        self.inner.journal().last
    }

    /// Counters since the hub was created.
    ///
    /// ```
    /// # use sse_session::live::Hub;
    /// let stats = Hub::default().stats();
    /// assert_eq!((stats.connections, stats.sessions, stats.slow_disconnects), (0, 0, 0));
    /// ```
    #[must_use]
    pub fn stats(&self) -> HubStats {
        let i = &*self.inner;
        HubStats {
            slow_disconnects: i.slow_disconnects.load(Ordering::Relaxed),
            user_mismatches: i.user_mismatches.load(Ordering::Relaxed),
            refused_with_id: i.refused_with_id.load(Ordering::Relaxed),
            connections_accepted: i.accepted.load(Ordering::Relaxed),
            recovered: i.recovered.load(Ordering::Relaxed),
            replayed_events: i.replayed.load(Ordering::Relaxed),
            gaps: i.gaps.load(Ordering::Relaxed),
            expired_sessions: i.expired.load(Ordering::Relaxed),
            connections: self.connection_count(),
            sessions: self.session_count(),
            away_sessions: self.away_count(),
        }
    }

    /// Closes a session for good: marks its ID closed in the
    /// [`ClosedIds`](crate::session::ClosedIds) store (even if it has no live
    /// connection), forgets its state (history, topics), then ends every
    /// connection of it after its queued frames and `last`, if given. Each
    /// browser's reconnect then gets `204 No Content` and its `EventSource`
    /// stops. Returns how many connections were ended.
    ///
    /// `last` is refused (not sent) if it carries an `id:`, like
    /// [`send_to_session`](Self::send_to_session); the session is closed all
    /// the same.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use sse_session::event::Event;
    /// use sse_session::live::{Accepted, Hub};
    ///
    /// let hub = Hub::default();
    /// let parts = http::Request::get("/events?id=tab-1").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = hub.accept(&parts, None).await else { unreachable!() };
    /// let id = *conn.session_id();
    ///
    /// assert_eq!(hub.close_session(&id, Some(Event::new("bye"))).await, 1);
    /// assert!(matches!(hub.accept(&parts, None).await, Accepted::Closed(_)));
    /// # drop(conn);
    /// # }
    /// ```
    pub async fn close_session(&self, session: &SessionId, last: Option<Event>) -> usize {
        let last = last.filter(|e| {
            let ok = e.id().is_none();
            if !ok {
                self.inner.refused_with_id.fetch_add(1, Ordering::Relaxed);
            }
            ok
        });
        // Marked first: from here on a reconnect gets `204`, so no new
        // connection joins the session while its connections are ended.
        self.inner.sessions.mark_closed(session).await;
        let conns = self.inner.forget_session(session);
        // `close`/`close_with` end each stream after its queued frames (the last
        // event is not subject to the queue bounds). They mark the ID again,
        // which a store treats as a no-op. No lock is held here.
        for conn in &conns {
            match &last {
                // Cannot fail with `HasId` (filtered above); `Closed` means
                // that client is gone already, and the ID is marked all the same.
                Some(event) => drop(conn.sender.close_with(event.clone()).await),
                None => conn.sender.close().await,
            }
        }
        conns.len()
    }

    /// Ends every connection of `session` now, without closing it: each
    /// browser reconnects after its retry delay and resumes the session
    /// (events sent meanwhile, and those still queued, are replayed). The
    /// session waits for it like any session whose connection dropped.
    /// Returns how many connections were ended.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use sse_session::live::{Accepted, Hub};
    ///
    /// let hub = Hub::default();
    /// let parts = http::Request::get("/events?id=tab-1").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = hub.accept(&parts, None).await else { unreachable!() };
    /// let id = *conn.session_id();
    ///
    /// assert_eq!(hub.drop_session(&id), 1);
    /// assert!(conn.sender().is_closed());
    /// assert!(hub.is_away(&id));
    /// let Accepted::Open(again) = hub.accept(&parts, None).await else { unreachable!() };
    /// assert_eq!(again.session_id(), &id); // resumed
    /// # }
    /// ```
    pub fn drop_session(&self, session: &SessionId) -> usize {
        let conns = self.inner.take_conns(session);
        for conn in &conns {
            conn.sender.disconnect();
        }
        conns.len()
    }

    /// Ends every stream for a graceful shutdown (a rolling deploy): each
    /// connection gets a `retry: <delay>` frame after what is queued for it,
    /// then its stream ends, so the browser's `EventSource` reconnects after
    /// `retry` (to another process behind the load balancer, or to this one
    /// restarted) and resumes with its cursor. Streams accepted after this
    /// call get the same at once. Returns how many connections were ended.
    ///
    /// Wire it to your server's graceful shutdown: open SSE streams are what
    /// keeps `axum::serve(..).with_graceful_shutdown(..)` or hyper's
    /// `GracefulShutdown` from finishing; once they end, it can.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// use sse_session::live::{Accepted, Hub};
    ///
    /// let hub = Hub::default();
    /// # let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = hub.accept(&parts, None).await else { unreachable!() };
    /// assert_eq!(hub.shutdown(Duration::from_millis(500)), 1);
    /// assert!(conn.sender().is_closed()); // after `retry: 500`, the stream ends
    /// # }
    /// ```
    pub fn shutdown(&self, retry: Duration) -> usize {
        let millis = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX);
        let frame = self
            .inner
            .shutdown
            .get_or_init(|| Bytes::from(format!("retry: {millis}\n\n")));
        let mut ended = 0;
        for session in self.sessions() {
            for conn in self.inner.take_conns(&session) {
                conn.sender.push_forced(frame);
                conn.sender.finish_stream();
                ended += 1;
            }
        }
        ended
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    #[must_use]
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutdown.get().is_some()
    }

    /// Frees every session whose resume window has passed, now; returns how
    /// many. The hub does this by itself, a few sessions at a time, during
    /// its accepts and sends; call this from a timer if a hub can sit idle
    /// for long after many tabs left.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// use sse_session::live::{Accepted, Hub, HubConfig, SessionConfig};
    ///
    /// let config = HubConfig::default().resume_window(Duration::ZERO);
    /// let hub = Hub::with_config(SessionConfig::default(), config);
    /// # let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = hub.accept(&parts, None).await else { unreachable!() };
    /// drop(conn);
    /// assert_eq!(hub.away_count(), 1);
    /// assert_eq!(hub.sweep(), 1);
    /// assert_eq!(hub.away_count(), 0);
    /// # }
    /// ```
    pub fn sweep(&self) -> usize {
        let now = now();
        let mut journal = self.inner.journal();
        let before = self.inner.expired.load(Ordering::Relaxed);
        for shard in &*self.inner.shards {
            self.inner
                .sweep(&mut journal, &mut write(shard), now, usize::MAX);
        }
        (self.inner.expired.load(Ordering::Relaxed) - before) as usize
    }

    /// Total capacity of the hub's maps (for tests: it shrinks when
    /// connections leave and sessions are freed).
    #[doc(hidden)]
    #[must_use]
    pub fn debug_capacity(&self) -> usize {
        self.inner
            .shards
            .iter()
            .map(|s| {
                let s = read(s);
                s.sessions.capacity()
                    + s.users.capacity()
                    + s.topics.capacity()
                    + s.owners.capacity()
                    + s.away.capacity()
            })
            .sum()
    }
}

/// Hooks for a hub fed by a shared log that numbers its events (the Redis
/// bus, [`crate::redis::RedisBus`]). The caller delivers the log's entries
/// in position order, one at a time, and holds its own lock across an
/// [`admit_remote`](Self::admit_remote) and the deliveries it must not
/// interleave with.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
impl Hub {
    /// A send numbered or not as `how` says.
    pub(crate) fn send_as(&self, target: Target<'_>, frame: &Bytes, how: How) -> Delivery {
        self.inner.send(target, frame, how)
    }

    /// [`end_topic`](Self::end_topic) numbered as `how` says.
    pub(crate) fn end_topic_as(&self, topic: &str, frame: Bytes, how: How) -> Delivery {
        self.inner.end_topic(topic, frame, how)
    }

    /// Takes `seq` as the last position (a log entry that carries no event
    /// for this hub); never goes back.
    pub(crate) fn advance_to(&self, seq: u64) {
        let mut j = self.inner.journal();
        j.last = j.last.max(seq);
    }

    /// The log lost the entries up to `at` for this hub (it could not read
    /// them, or they were lost from the store). Every cursor below `at`
    /// is a gap from now on, and every live connection gets a `resync`
    /// event numbered `at` ([`GapReason::Lost`]). If `at` is not above the
    /// hub's position (the log started again lower down), nothing the hub
    /// keeps can be told apart from what comes: every session is
    /// forgotten and its connections are ended (their tabs reconnect and
    /// get the gap signal). Returns the connections told or ended.
    pub(crate) fn lost(&self, at: u64) -> usize {
        let now = now();
        let mut journal = self.inner.journal();
        let j = &mut *journal;
        if at <= j.last {
            let mut ended = 0;
            for shard in &*self.inner.shards {
                let ids: Vec<SessionId> = read(shard).sessions.ids().copied().collect();
                for id in ids {
                    let at = self.inner.slot(&id);
                    let mut sh = write(&self.inner.shards[at.shard]);
                    if let Some(mut entry) = self.inner.remove_entry(j, &mut sh, at) {
                        for conn in entry.take_conns() {
                            conn.sender.disconnect();
                            ended += 1;
                        }
                    }
                }
            }
            j.broadcast = Log::default();
            for h in j.topics.values_mut() {
                h.log = Log::default();
                h.end = None;
            }
            j.base = at;
            j.last = at;
            j.lost_to = at;
            return ended;
        }
        j.last = at;
        j.lost_to = at;
        let mut frame = BytesMut::new();
        super::put_resync(&mut frame, GapReason::Lost);
        frame.put_u8(b'\n');
        let event = Arc::new(Stored {
            seq: at,
            at: now,
            frame: frame.freeze(),
        });
        let mut told = 0;
        for shard in &*self.inner.shards {
            let sh = read(shard);
            for entry in sh.sessions.values() {
                for conn in entry.conns() {
                    if conn.sender.push_seq_forced(&event).is_ok() {
                        told += 1;
                    }
                }
            }
        }
        told
    }

    /// Opens a connection for a session that another process recorded
    /// (`plan`), unless the session is known here by now (then as
    /// [`accept`](Self::accept) would). `Err` gives back the handshake of
    /// a scoped stream whose topic ended (answer `204`).
    pub(crate) fn admit_remote(
        &self,
        handshake: Handshake,
        user: Option<UserKey>,
        scope: Option<Topic>,
        plan: RemotePlan,
    ) -> Result<Connection, Handshake> {
        match self.inner.admit(handshake, user, scope, Some(plan)) {
            Admit::Open(conn) => Ok(self.opened(conn)),
            Admit::Finished(handshake) => Err(handshake),
        }
    }

    /// What the bus records of `session`, if the hub has it.
    pub(crate) fn session_state(&self, session: &SessionId) -> Option<SessionState> {
        let at = self.inner.slot(session);
        let sh = read(&self.inner.shards[at.shard]);
        sh.sessions.get(at).map(SessionEntry::state)
    }

    /// The states of the sessions that have a live connection here.
    pub(crate) fn live_states(&self) -> Vec<SessionState> {
        let mut out = Vec::new();
        for shard in &*self.inner.shards {
            let sh = read(shard);
            out.extend(
                sh.sessions
                    .values()
                    .filter(|e| !e.is_away())
                    .map(SessionEntry::state),
            );
        }
        out
    }

    /// From now on the hub's events are numbered from outside, from `at`
    /// on ([`How::At`]); its own sends ([`How::Next`]) go out unnumbered.
    /// A hub that already has sessions gives them the gap signal.
    pub(crate) fn feed_from(&self, at: u64) {
        self.inner.fed.store(true, Ordering::Release);
        if self.session_count() + self.away_count() > 0 {
            let _ = self.lost(at);
        }
        let mut j = self.inner.journal();
        // Any position up to `last` may be a cursor handed out elsewhere;
        // each session's start and the histories' bounds tell the rest.
        j.base = 0;
        j.last = j.last.max(at);
    }

    /// The resume window of this hub.
    pub(crate) fn resume_window(&self) -> Duration {
        self.inner.config.resume_window
    }

    /// The position of `topic`'s final event, if it ended (and the end is
    /// still remembered).
    pub(crate) fn topic_end(&self, topic: &str) -> Option<u64> {
        self.inner.journal().end_of(topic).map(|e| e.last.seq)
    }

    /// The part of [`close_session`](Self::close_session) after the store
    /// was told: forgets the session and ends its connections after `last`
    /// (a frame without `id:`). Returns how many were ended.
    pub(crate) fn end_session_now(&self, session: &SessionId, last: Option<&Bytes>) -> usize {
        let conns = self.inner.forget_session(session);
        for conn in &conns {
            if let Some(frame) = last {
                conn.sender.push_forced(frame);
            }
            conn.sender.finish_stream();
        }
        conns.len()
    }
}

fn unindex_topic(
    topics: &mut HashMap<Topic, HashSet<SessionId>>,
    topic: &str,
    session: &SessionId,
) {
    if let Some(set) = topics.get_mut(topic) {
        set.remove(session);
        if set.is_empty() {
            topics.remove(topic);
            shrink(topics);
        } else if set.capacity() > MIN_SHRINK_CAPACITY && set.len() * SHRINK_RATIO < set.capacity()
        {
            set.shrink_to(set.len() * 2);
        }
    }
}

/// Called when a connection's body is dropped.
impl OnBodyDrop for Inner {
    fn body_dropped(&self, shared: &Shared) {
        self.leave(&shared.session, shared.id);
    }
}

impl Inner {
    /// Where `session` lives: the shard comes from bits 32-35 of the hash,
    /// away from the low bits that pick a slot within the shard's map and
    /// the high bits that `HashMap` keeps as a tag.
    fn slot<'a>(&self, session: &'a SessionId) -> Slot<'a> {
        let hash = self.hasher.hash_one(session);
        Slot {
            shard: (hash >> 32) as usize % SHARDS,
            hash,
            session,
        }
    }

    fn journal(&self) -> MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The decision and registration of an accept (after the closed check).
    fn admit(
        self: &Arc<Self>,
        mut handshake: Handshake,
        user: Option<UserKey>,
        scope: Option<Topic>,
        mut remote: Option<RemotePlan>,
    ) -> Admit {
        let now = now();
        let mut journal = self.journal();
        let j = &mut *journal;
        j.forget_ends(now, self.config.ended_topic_capacity, SWEEP_BUDGET);
        loop {
            let session = *handshake.session_id();
            let at = self.slot(&session);
            let mut guard = write(&self.shards[at.shard]);
            let sh = &mut *guard;
            self.sweep(j, sh, now, usize::MAX);
            // A session recorded by another process opens from that record,
            // unless a connection of it reached this hub meanwhile.
            let from_remote = remote
                .take()
                .filter(|_| sh.sessions.get(at).is_none())
                .map(|r| Self::remote_plan(j, &handshake, r, now));
            let topics = from_remote.as_ref().map(|(_, t)| t.clone());
            if let (Some((plan, _)), Some(topic)) = (&from_remote, &scope) {
                // The job ended elsewhere: this hub remembers it too, so that
                // the next reconnect here is answered `204`.
                if let Some(last) = plan.replay.last().filter(|_| plan.end) {
                    if j.end_of(topic).is_none()
                        && last.seq > j.topics.get(topic).map_or(0, |h| h.log.last_seq())
                    {
                        j.end(
                            topic,
                            Arc::clone(last),
                            now + self.config.ended_topic_ttl,
                            self.config.history_limits(),
                        );
                    }
                }
            }
            let decision = match from_remote {
                Some((plan, _)) => Decision::Open(plan),
                None => self.decide(j, sh, at, &handshake, user.as_ref(), scope.as_ref(), now),
            };
            let plan = match decision {
                Decision::Open(plan) => plan,
                Decision::Mismatch => {
                    self.user_mismatches.fetch_add(1, Ordering::Relaxed);
                    // A fresh random ID (122 random bits) is never taken;
                    // the loop only keeps that an invariant, not an assumption.
                    handshake = handshake.into_fresh();
                    continue;
                }
                Decision::Finished => {
                    self.remove_entry(j, sh, at);
                    return Admit::Finished(handshake);
                }
            };
            match plan.resume {
                Resume::Recovered { replayed } => {
                    self.recovered.fetch_add(1, Ordering::Relaxed);
                    self.replayed.fetch_add(replayed as u64, Ordering::Relaxed);
                }
                Resume::Gap(_) => {
                    self.gaps.fetch_add(1, Ordering::Relaxed);
                }
                Resume::New | Resume::Untracked => {}
            }
            let mut conn = self.sessions.open_at(handshake, plan.opening, plan.resume);
            let sender = conn.sender();
            sender.start_with(plan.replay, plan.end);
            if let Some(start) = plan.new_start {
                let mut entry = SessionEntry::new(session, start, user.clone(), scope.clone());
                entry.add(Conn { sender });
                sh.owners.remove(&session);
                if scope.is_none() {
                    if let Some(user) = &user {
                        sh.users.entry(user.clone()).or_default().push(session);
                    }
                }
                if let Some(topic) = &scope {
                    sh.topics
                        .entry(Arc::clone(topic))
                        .or_default()
                        .insert(session);
                    j.subscribed(topic);
                }
                for topic in topics.into_iter().flatten() {
                    if entry.topics().iter().any(|s| s.topic == topic) {
                        continue;
                    }
                    entry.extra_mut().topics.push(Sub {
                        topic: Arc::clone(&topic),
                        since: start,
                    });
                    j.subscribed(&topic);
                    sh.topics.entry(topic).or_default().insert(session);
                }
                sh.sessions.insert_new(at, entry);
                self.session_count.fetch_add(1, Ordering::Relaxed);
            } else {
                let entry = sh
                    .sessions
                    .get_mut(at)
                    .expect("decide found the session under the same locks");
                if entry.add(Conn { sender }) {
                    sh.away_count -= 1;
                    self.away.fetch_sub(1, Ordering::Relaxed);
                    self.session_count.fetch_add(1, Ordering::Relaxed);
                }
            }
            self.connections.fetch_add(1, Ordering::Relaxed);
            self.accepted.fetch_add(1, Ordering::Relaxed);
            let hub: Weak<Inner> = Arc::downgrade(self);
            conn.on_body_drop(hub);
            return Admit::Open(conn);
        }
    }

    /// What an accept of `handshake` gets, given the journal and the
    /// session's shard (both locked, expired sessions swept).
    #[allow(clippy::too_many_arguments)]
    fn decide(
        &self,
        j: &Journal,
        sh: &Shard,
        at: Slot<'_>,
        handshake: &Handshake,
        user: Option<&UserKey>,
        scope: Option<&Topic>,
        now: Instant,
    ) -> Decision {
        let end = scope.and_then(|t| j.end_of(t));
        let cursor = handshake.seq();
        let Some(entry) = sh.sessions.get(at) else {
            if let Some((owner, until)) = sh.owners.get(at.session) {
                if *until > now && Some(owner) != user {
                    return Decision::Mismatch;
                }
            }
            // A new session (or a new one under a freed ID). On an ended
            // topic it begins just before the final event, which it gets.
            let start = end.map_or(j.last, |e| e.last.seq - 1);
            let gap = cursor.map(|_| GapReason::Expired);
            return Decision::Open(Plan {
                new_start: Some(start),
                opening: gap.map_or(Opening::At(start), |r| Opening::Gap(start, r)),
                resume: gap.map_or(Resume::New, Resume::Gap),
                replay: end.map(|e| vec![Arc::clone(&e.last)]).unwrap_or_default(),
                end: end.is_some(),
            });
        };
        if entry.user() != user || entry.scope() != scope {
            return Decision::Mismatch;
        }
        let gap = |reason| {
            let cursor = end.map_or(j.last, |e| e.last.seq - 1);
            Decision::Open(Plan {
                new_start: None,
                opening: Opening::Gap(cursor, reason),
                resume: Resume::Gap(reason),
                replay: end.map(|e| vec![Arc::clone(&e.last)]).unwrap_or_default(),
                end: end.is_some(),
            })
        };
        let Some(n) = cursor else {
            return gap(GapReason::NoCursor);
        };
        if n < entry.start || !j.gave_out(n) {
            return gap(GapReason::UnknownCursor);
        }
        if n < j.lost_to {
            return gap(GapReason::Lost);
        }
        if end.is_some_and(|e| n >= e.last.seq) {
            return Decision::Finished;
        }
        match entry.replay(j, n) {
            Some(replay) => Decision::Open(Plan {
                new_start: None,
                opening: Opening::At(n),
                resume: Resume::Recovered {
                    replayed: replay.len(),
                },
                replay,
                end: end.is_some(),
            }),
            None => gap(GapReason::Trimmed),
        }
    }

    /// A hub numbered from outside does not number its own sends.
    fn numbering(&self, how: How) -> How {
        if how == How::Next && self.fed.load(Ordering::Acquire) {
            How::Plain
        } else {
            how
        }
    }

    /// The plan of a session that opens from another process's record,
    /// and the topics it subscribes to.
    fn remote_plan(
        j: &Journal,
        handshake: &Handshake,
        remote: RemotePlan,
        now: Instant,
    ) -> (Plan, Vec<Topic>) {
        let replay = match handshake.seq() {
            None => Err(GapReason::NoCursor),
            Some(n) => remote.replay.map(|events| (n, events)),
        };
        let plan = match replay {
            Ok((n, events)) => {
                let replay: Vec<Arc<Stored>> = events
                    .into_iter()
                    .map(|(seq, frame)| {
                        Arc::new(Stored {
                            seq,
                            at: now,
                            frame,
                        })
                    })
                    .collect();
                Plan {
                    // This hub's histories hold the session's events from
                    // here on (the replay covers the rest).
                    new_start: Some(j.last.max(n)),
                    opening: Opening::At(n),
                    resume: Resume::Recovered {
                        replayed: replay.len(),
                    },
                    replay,
                    end: remote.end,
                }
            }
            Err(reason) => Plan {
                new_start: Some(j.last),
                opening: Opening::Gap(j.last, reason),
                resume: Resume::Gap(reason),
                replay: Vec::new(),
                end: false,
            },
        };
        (plan, remote.topics)
    }

    /// Numbers `frame`, stores it and hands it to every connection of
    /// `target`, under the journal lock (so that every connection sees
    /// events in position order).
    pub(crate) fn send(&self, target: Target<'_>, frame: &Bytes, how: How) -> Delivery {
        let how = self.numbering(how);
        let now = now();
        let mut journal = self.journal();
        let j = &mut *journal;
        if let How::At(seq) = how {
            if seq <= j.last {
                return Delivery::default(); // not above what this hub has: not ours to number
            }
        }
        let kept = how != How::Plain;
        let window = self.config.resume_window;
        let mut sent = Delivery::default();
        match target {
            Target::Session(session) => {
                let at = self.slot(session);
                let mut sh = write(&self.shards[at.shard]);
                if let Some(entry) = sh.sessions.get_mut(at).filter(|e| !e.expired(now, window)) {
                    let event = stamp(j, how, frame, now);
                    if kept {
                        entry
                            .extra_mut()
                            .mailbox
                            .push(Arc::clone(&event), self.config.mailbox_limits());
                    }
                    self.reach(entry, &event, &mut sent);
                    sent.seq = Some(event.seq);
                }
            }
            Target::User(user) => {
                let mut event = None;
                for shard in &*self.shards {
                    if !read(shard).users.contains_key(user) {
                        continue;
                    }
                    let mut guard = write(shard);
                    let sh = &mut *guard;
                    let Some(sessions) = sh.users.get(user) else {
                        continue;
                    };
                    for session in sessions {
                        let at = self.slot(session);
                        let Some(entry) =
                            sh.sessions.get_mut(at).filter(|e| !e.expired(now, window))
                        else {
                            continue;
                        };
                        let event = event.get_or_insert_with(|| stamp(j, how, frame, now));
                        if kept {
                            entry
                                .extra_mut()
                                .mailbox
                                .push(Arc::clone(event), self.config.mailbox_limits());
                        }
                        self.reach(entry, event, &mut sent);
                    }
                }
                sent.seq = event.map(|e| e.seq);
            }
            Target::Topic(topic) => {
                let open = j
                    .topics
                    .get(topic)
                    .is_some_and(|h| h.subscribers > 0 && h.end.is_none());
                if open {
                    let event = stamp(j, how, frame, now);
                    if let Some(history) = j.topics.get_mut(topic).filter(|_| kept) {
                        history
                            .log
                            .push(Arc::clone(&event), self.config.history_limits());
                    }
                    self.reach_topic(topic, &event, now, &mut sent, false);
                    sent.seq = Some(event.seq);
                }
            }
            Target::All => {
                let anyone = self.session_count.load(Ordering::Relaxed)
                    + self.away.load(Ordering::Relaxed)
                    > 0;
                if anyone {
                    let event = stamp(j, how, frame, now);
                    if kept {
                        j.broadcast
                            .push(Arc::clone(&event), self.config.history_limits());
                    }
                    for shard in &*self.shards {
                        let sh = read(shard);
                        for entry in sh.sessions.values() {
                            if entry.scope().is_none() && !entry.expired(now, window) {
                                self.reach(entry, &event, &mut sent);
                            }
                        }
                    }
                    sent.seq = Some(event.seq);
                }
            }
        }
        if let How::At(seq) = how {
            j.last = j.last.max(seq);
        }
        if !kept {
            sent.seq = None;
        }
        self.sweep_some(j, now);
        sent
    }

    /// Hands `event` to the live connections of `entry`, or counts the
    /// session as queued if it has none.
    fn reach(&self, entry: &SessionEntry, event: &Arc<Stored>, sent: &mut Delivery) {
        if entry.is_away() {
            sent.queued += 1;
        } else {
            sent.live += entry.conns().filter(|c| self.deliver(c, event)).count();
        }
    }

    /// [`reach`](Self::reach) for every session subscribed to `topic`. With
    /// `ending`, the streams scoped to the topic get the event past their
    /// queue bounds (like `close_with`'s last event), then end.
    fn reach_topic(
        &self,
        topic: &str,
        event: &Arc<Stored>,
        now: Instant,
        sent: &mut Delivery,
        ending: bool,
    ) {
        let window = self.config.resume_window;
        for shard in &*self.shards {
            let sh = read(shard);
            let Some(sessions) = sh.topics.get(topic) else {
                continue;
            };
            for session in sessions {
                let Some(entry) = sh
                    .sessions
                    .get(self.slot(session))
                    .filter(|e| !e.expired(now, window))
                else {
                    continue;
                };
                if ending && !entry.is_away() && entry.scope().is_some_and(|t| &**t == topic) {
                    for conn in entry.conns() {
                        let pushed = if event.seq == PLAIN {
                            conn.sender.push_forced(&event.frame);
                            Ok(())
                        } else {
                            conn.sender.push_seq_forced(event)
                        };
                        if pushed.is_ok() {
                            sent.live += 1;
                        }
                        conn.sender.finish_stream();
                    }
                } else {
                    self.reach(entry, event, sent);
                }
            }
        }
    }

    fn deliver(&self, conn: &Conn, event: &Arc<Stored>) -> bool {
        let pushed = if event.seq == PLAIN {
            conn.sender.push_plain(&event.frame)
        } else {
            conn.sender.push_seq(event)
        };
        match pushed {
            Ok(()) => true,
            Err(refused) => {
                if refused == Refused::Full && conn.sender.mark_kicked() {
                    conn.sender.disconnect();
                    self.slow_disconnects.fetch_add(1, Ordering::Relaxed);
                }
                // `Closed`: the connection is on its way out; its body's drop
                // removes it from the hub. Its session keeps the event.
                false
            }
        }
    }

    pub(crate) fn end_topic(&self, topic: &str, frame: Bytes, how: How) -> Delivery {
        let how = self.numbering(how);
        let now = now();
        let mut journal = self.journal();
        let j = &mut *journal;
        let mut sent = Delivery::default();
        if let How::At(seq) = how {
            if seq <= j.last {
                return sent;
            }
            if j.end_of(topic).is_some() {
                j.last = seq;
                return sent;
            }
        } else if j.end_of(topic).is_some() {
            return sent;
        }
        let event = stamp(j, how, &frame, now);
        let topic = Topic::from(topic);
        if how == How::Plain {
            // Not numbered: the streams get it and end, but the end is not
            // remembered (a reconnect cannot be told apart from a new one).
            self.reach_topic(&topic, &event, now, &mut sent, true);
            sent.seq = None;
            return sent;
        }
        j.end(
            &topic,
            Arc::clone(&event),
            now + self.config.ended_topic_ttl,
            self.config.history_limits(),
        );
        self.reach_topic(&topic, &event, now, &mut sent, true);
        sent.seq = Some(event.seq);
        self.sweep_some(j, now);
        sent
    }

    fn subscribe(&self, session: &SessionId, topic: &str) -> bool {
        let now = now();
        let mut journal = self.journal();
        let j = &mut *journal;
        let at = self.slot(session);
        let mut guard = write(&self.shards[at.shard]);
        let sh = &mut *guard;
        let Some(entry) = sh
            .sessions
            .get_mut(at)
            .filter(|e| !e.expired(now, self.config.resume_window))
        else {
            return false;
        };
        if entry.topics().iter().any(|s| &*s.topic == topic) {
            return true;
        }
        let key = match sh.topics.get_key_value(topic) {
            Some((key, _)) => Arc::clone(key),
            None => Topic::from(topic),
        };
        entry.extra_mut().topics.push(Sub {
            topic: Arc::clone(&key),
            since: j.last,
        });
        j.subscribed(&key);
        sh.topics.entry(key).or_default().insert(*session);
        true
    }

    fn unsubscribe(&self, session: &SessionId, topic: &str) -> bool {
        let now = now();
        let mut journal = self.journal();
        let j = &mut *journal;
        let at = self.slot(session);
        let mut guard = write(&self.shards[at.shard]);
        let sh = &mut *guard;
        let Some(entry) = sh.sessions.get_mut(at) else {
            return false;
        };
        let Some(pos) = entry.topics().iter().position(|s| &*s.topic == topic) else {
            return false;
        };
        let start = entry.start;
        let extra = entry.extra_mut();
        let sub = extra.topics.swap_remove(pos);
        if extra.scope.as_deref() == Some(topic) {
            extra.scope = None;
        }
        // The topic's events the tab may not have received yet stay
        // replayable: they move into the session's mailbox.
        if let Some(history) = j.topics.get(topic) {
            let after = sub.since.max(start);
            let pending: Vec<_> = history.log.after(after).cloned().collect();
            if !history.log.complete_after(after) {
                extra.mailbox.mark_dropped(history.log.dropped_to());
            }
            extra
                .mailbox
                .merge(pending, self.config.mailbox_limits(), now);
        }
        entry.tidy();
        unindex_topic(&mut sh.topics, topic, session);
        j.unsubscribed(topic);
        true
    }

    fn leave(&self, session: &SessionId, id: ConnectionId) {
        let at = self.slot(session);
        let mut guard = write(&self.shards[at.shard]);
        let sh = &mut *guard;
        let Some(entry) = sh.sessions.get_mut(at) else {
            return; // freed or closed already
        };
        let Some(last) = entry.remove(id) else {
            return; // a connection taken by drop_session, or of an earlier session
        };
        self.connections.fetch_sub(1, Ordering::Relaxed);
        if last {
            Self::went_away(sh, at, &self.away, &self.session_count);
        }
    }

    /// Marks the session at `at` (which just lost its last connection) away.
    fn went_away(sh: &mut Shard, at: Slot<'_>, away: &AtomicUsize, live: &AtomicUsize) {
        let since = now();
        if let Some(entry) = sh.sessions.get_mut(at) {
            entry.extra_mut().away_since = Some(since);
            sh.away.push_back((*at.session, since));
            sh.away_count += 1;
            away.fetch_add(1, Ordering::Relaxed);
            live.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Takes every live connection of `session` out (it is then away).
    fn take_conns(&self, session: &SessionId) -> Vec<Conn> {
        let at = self.slot(session);
        let mut guard = write(&self.shards[at.shard]);
        let sh = &mut *guard;
        let Some(entry) = sh.sessions.get_mut(at) else {
            return Vec::new();
        };
        let conns = entry.take_conns();
        if !conns.is_empty() {
            self.connections.fetch_sub(conns.len(), Ordering::Relaxed);
            Self::went_away(sh, at, &self.away, &self.session_count);
        }
        conns
    }

    /// Removes a session and everything of it; returns its live connections.
    fn forget_session(&self, session: &SessionId) -> Vec<Conn> {
        let mut journal = self.journal();
        let at = self.slot(session);
        let mut guard = write(&self.shards[at.shard]);
        self.remove_entry(&mut journal, &mut guard, at)
            .map(|mut e| e.take_conns())
            .unwrap_or_default()
    }

    /// Removes a session and its index entries from its shard; remembers its
    /// owner; shrinks what became too sparse.
    fn remove_entry(&self, j: &mut Journal, sh: &mut Shard, at: Slot<'_>) -> Option<SessionEntry> {
        let session = at.session;
        let entry = sh.sessions.remove(at)?;
        if entry.is_away() {
            sh.away_count -= 1;
            self.away.fetch_sub(1, Ordering::Relaxed);
        } else {
            self.session_count.fetch_sub(1, Ordering::Relaxed);
            self.connections.fetch_sub(entry.len(), Ordering::Relaxed);
        }
        for sub in entry.topics() {
            unindex_topic(&mut sh.topics, &sub.topic, session);
            j.unsubscribed(&sub.topic);
        }
        if let Some(user) = entry.user() {
            if entry.scope().is_none() {
                if let Some(list) = sh.users.get_mut(user) {
                    list.retain(|s| s != session);
                    if list.is_empty() {
                        sh.users.remove(user);
                        shrink(&mut sh.users);
                    }
                }
            }
            self.remember_owner(sh, *session, user.clone());
        }
        Some(entry)
    }

    /// Frees the sessions of `sh` whose window passed (and the oldest away
    /// ones beyond the cap), at most `budget` of them.
    fn sweep(&self, j: &mut Journal, sh: &mut Shard, now: Instant, budget: usize) {
        let window = self.config.resume_window;
        let cap = self.config.max_away_sessions.div_ceil(SHARDS);
        let mut freed = 0;
        while freed < budget {
            let Some(&(session, since)) = sh.away.front() else {
                break;
            };
            let due = now.saturating_duration_since(since) >= window;
            if !due && sh.away_count <= cap {
                break;
            }
            sh.away.pop_front();
            let at = self.slot(&session);
            // Stale entries (the session came back, or left again later) are
            // skipped.
            let current = sh
                .sessions
                .get(at)
                .is_some_and(|e| e.away_since() == Some(since));
            if current {
                self.remove_entry(j, sh, at);
                self.expired.fetch_add(1, Ordering::Relaxed);
                freed += 1;
            }
        }
        if sh.away.len() > 2 * sh.away_count + MIN_SHRINK_CAPACITY {
            let sessions = &sh.sessions;
            let hasher = &self.hasher;
            sh.away.retain(|(s, t)| {
                let at = Slot {
                    shard: 0,
                    hash: hasher.hash_one(s),
                    session: s,
                };
                sessions.get(at).is_some_and(|e| e.away_since() == Some(*t))
            });
        }
        shrink_deque(&mut sh.away);
    }

    /// A send's share of the expiry work: one shard, round robin, if its
    /// lock is free.
    fn sweep_some(&self, j: &mut Journal, now: Instant) {
        let k = self.sweep_next.fetch_add(1, Ordering::Relaxed) % SHARDS;
        let shard = &self.shards[k];
        let due = read(shard).away.front().is_some_and(|&(_, since)| {
            now.saturating_duration_since(since) >= self.config.resume_window
        });
        if due {
            if let Ok(mut sh) = shard.try_write() {
                self.sweep(j, &mut sh, now, SWEEP_BUDGET);
            }
        }
        j.forget_ends(now, self.config.ended_topic_capacity, 2);
    }

    fn remember_owner(&self, sh: &mut Shard, session: SessionId, user: UserKey) {
        let ttl = self.config.owner_ttl;
        let cap = self.config.owner_capacity.div_ceil(SHARDS);
        if ttl.is_zero() || cap == 0 {
            return;
        }
        let now = now();
        let until = now + ttl;
        // Forget expired owners, and the oldest ones beyond the capacity.
        while let Some(&(s, t)) = sh.owner_order.front() {
            let live = sh.owners.get(&s).is_some_and(|(_, u)| *u == t);
            if live && t > now && sh.owners.len() < cap {
                break;
            }
            sh.owner_order.pop_front();
            if live {
                sh.owners.remove(&s);
            }
        }
        sh.owners.insert(session, (user, until));
        sh.owner_order.push_back((session, until));
        // Entries of owners that came back are stale; drop them before they
        // outnumber the live ones.
        if sh.owner_order.len() > 2 * sh.owners.len() + MIN_SHRINK_CAPACITY {
            let owners = &sh.owners;
            sh.owner_order
                .retain(|(s, t)| owners.get(s).is_some_and(|(_, u)| u == t));
        }
        shrink(&mut sh.owners);
        shrink_deque(&mut sh.owner_order);
    }
}

#[cfg(test)]
mod tests {
    use super::{Conn, SessionEntry, SessionMap, Slot};
    use crate::live::{Accepted, Sender, Sessions};
    use crate::session::SessionId;

    async fn sender(id: &str) -> Sender {
        let parts = http::Request::get(format!("/events?id={id}"))
            .body(())
            .unwrap()
            .into_parts()
            .0;
        match Sessions::default().accept(&parts).await {
            Accepted::Open(conn) => conn.sender(),
            Accepted::Closed(_) => unreachable!("nothing is closed"),
        }
    }

    fn entry(id: &SessionId, sender: Sender) -> SessionEntry {
        let mut e = SessionEntry::new(*id, 0, None, None);
        e.add(Conn { sender });
        e
    }

    /// Two sessions whose hashes collide (forced here; with keyed 64-bit
    /// hashes this practically never happens) are both found, and removing
    /// either leaves the other reachable.
    #[tokio::test]
    async fn colliding_hashes_are_told_apart() {
        let (a, b) = (
            SessionId::try_from("a").unwrap(),
            SessionId::try_from("b").unwrap(),
        );
        let at = |session| Slot {
            shard: 0,
            hash: 7,
            session,
        };
        let mut map = SessionMap::default();
        let (sa, sb) = (sender("a").await, sender("b").await);
        let (ida, idb) = (sa.connection_id(), sb.connection_id());
        map.insert_new(at(&a), entry(&a, sa));
        assert!(map.get(at(&b)).is_none());
        map.insert_new(at(&b), entry(&b, sb));
        assert_eq!(map.overflow.len(), 1);
        let first = |e: &SessionEntry| e.first.as_ref().unwrap().id();
        assert_eq!(first(map.get(at(&a)).unwrap()), ida);
        assert_eq!(first(map.get_mut(at(&b)).unwrap()), idb);
        assert_eq!(map.values().count(), 2);

        // Remove the one in the main map: the other is still found.
        assert_eq!(first(&map.remove(at(&a)).unwrap()), ida);
        assert!(map.get(at(&a)).is_none());
        assert_eq!(first(map.get(at(&b)).unwrap()), idb);
        assert!(map.remove(at(&a)).is_none());
        assert_eq!(first(&map.remove(at(&b)).unwrap()), idb);
        assert_eq!(map.values().count(), 0);
    }
}
