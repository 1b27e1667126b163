//! [`Hub`]: every live connection of a server, reachable by session (tab),
//! by application user and by topic.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::request::Parts;
use http::Request;

use super::shared::{OnBodyDrop, Refused, Shared};
use super::{Accepted, Connection, ConnectionId, Sender, SessionConfig, Sessions};
use crate::event::Event;
use crate::session::SessionId;

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

/// Settings of a [`Hub`] beyond the per-connection [`SessionConfig`].
///
/// ```
/// use std::time::Duration;
/// use sse_session::live::HubConfig;
///
/// let config = HubConfig::default()
///     .owner_ttl(Duration::from_secs(30 * 60))
///     .owner_capacity(10_000);
/// # let _ = config;
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
#[must_use = "a config does nothing until passed to Hub::with_config"]
pub struct HubConfig {
    owner_ttl: Duration,
    owner_capacity: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            owner_ttl: Duration::from_secs(10 * 60),
            owner_capacity: 65_536,
        }
    }
}

impl HubConfig {
    /// How long the hub remembers which user a session belonged to after its
    /// last connection went away. Default: 10 minutes.
    ///
    /// While a session has live connections, only its user may join it. When
    /// the last one goes (a network blip, a reload, a sleeping laptop), the
    /// hub keeps the owner for this long, so another user cannot take the tab
    /// ID over in the gap before the tab reconnects. Ten minutes covers
    /// reloads and the browser's reconnect attempts with room to spare;
    /// after that the ID is free again (a tab ID is not a credential: use the
    /// user key for anything that must stay private). `Duration::ZERO` turns
    /// the memory off. Only sessions that had a user key are remembered.
    pub fn owner_ttl(mut self, ttl: Duration) -> Self {
        self.owner_ttl = ttl;
        self
    }

    /// At most how many departed sessions' owners are remembered.
    /// Default: 65,536 (a few MiB at most).
    ///
    /// When full, the oldest entry is forgotten first, which errs towards
    /// letting an old tab ID be taken over rather than growing without bound.
    pub fn owner_capacity(mut self, capacity: usize) -> Self {
        self.owner_capacity = capacity;
        self
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
    /// user key (or under a key when they had none, or the other way round)
    /// and were given a fresh session instead.
    pub user_mismatches: u64,
    /// Events the hub refused to send because they carry their own `id:`
    /// (see [`Hub::send_to_session`]).
    pub refused_with_id: u64,
    /// Connections registered, in total.
    pub connections_accepted: u64,
    /// Connections live right now.
    pub connections: usize,
    /// Sessions with at least one live connection right now.
    pub sessions: usize,
}

/// Every live connection of a server, reachable by session (tab), by
/// application user and by topic.
///
/// A `Hub` does what [`Sessions`] does (the handshake, `204` for closed
/// sessions) and also registers each connection it accepts, so that events
/// can be sent to:
///
/// - one session: [`send_to_session`](Self::send_to_session): every
///   connection of that tab (a duplicated browser tab copies
///   `sessionStorage`, so two connections may share a session);
/// - one user: [`send_to_user`](Self::send_to_user): every connection of
///   every session registered under that user key;
/// - one topic: [`publish`](Self::publish), to the sessions that
///   [`subscribe`](Self::subscribe)d;
/// - everybody: [`broadcast`](Self::broadcast).
///
/// Each of these encodes the event once and hands every connection the same
/// [`Bytes`] (a reference-count bump), and returns how many connections took
/// it. The `*_bytes` forms take a frame encoded by the caller.
///
/// # Lifecycle of a registration
///
/// A connection leaves the hub by itself when its body is dropped (hyper
/// drops it as soon as the client goes away): no task, no sweeper, no leak.
/// The hub spawns nothing. Its maps shrink again when they become much
/// smaller than their capacity. A session leaves the hub with its last
/// connection (its topic subscriptions go with it: subscribe again on
/// [`accept`](Self::accept)).
///
/// # Slow consumers
///
/// Every connection has a bounded queue
/// ([`queue_frames`](SessionConfig::queue_frames),
/// [`queue_bytes`](SessionConfig::queue_bytes)). A send never waits: when a
/// connection's queue is full, that connection is
/// [disconnected](Sender::disconnect) (the browser reconnects and resumes
/// its session) and counted in [`HubStats::slow_disconnects`]; everybody
/// else gets the event. Nothing else is dropped.
///
/// # Locking
///
/// The registry is split into shards by session ID, each behind a
/// `std::sync::RwLock` that is never held across an `.await`. Sends take
/// read locks, one shard at a time, so concurrent broadcasts do not wait for
/// each other; registering and leaving take one shard's write lock briefly.
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
/// assert_eq!(hub.broadcast(&Event::new("to everyone")), 1);
/// assert_eq!(hub.send_to_user(&UserKey::from("alice"), &Event::new("hi alice")), 1);
/// assert_eq!(hub.publish("news", &Event::new("headline")), 1);
/// assert_eq!(hub.connection_count(), 1);
///
/// drop(response); // the client went away
/// assert_eq!(hub.connection_count(), 0);
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
    shards: Box<[RwLock<Shard>]>,
    connections: AtomicUsize,
    session_count: AtomicUsize,
    slow_disconnects: AtomicU64,
    user_mismatches: AtomicU64,
    refused_with_id: AtomicU64,
    accepted: AtomicU64,
}

/// Number of shards: enough that a broadcast holds each read lock for a
/// short time and that registrations on other shards proceed meanwhile.
const SHARDS: usize = 16;

/// Maps shrink when their length falls under 1/`SHRINK_RATIO` of their
/// capacity (and the capacity is above `MIN_SHRINK_CAPACITY`); they shrink
/// to twice their length, so shrinking costs amortised O(1) per removal.
const SHRINK_RATIO: usize = 4;
const MIN_SHRINK_CAPACITY: usize = 32;

type Topic = Arc<str>;

#[derive(Default)]
struct Shard {
    sessions: SessionMap,
    /// The sessions of each user (in this shard).
    users: HashMap<UserKey, Vec<SessionId>>,
    /// The sessions subscribed to each topic (in this shard).
    topics: HashMap<Topic, HashSet<SessionId>>,
    /// Owners of sessions whose last connection left, until the deadline.
    owners: HashMap<SessionId, (UserKey, Instant)>,
    /// `owners` in insertion order, for expiry and eviction; an entry whose
    /// deadline differs from the map's is stale and skipped.
    owner_order: VecDeque<(SessionId, Instant)>,
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
    /// The first connection is stored inline: most sessions have exactly one,
    /// and a broadcast then follows one pointer less per connection.
    first: Conn,
    /// The user, further connections and topics, boxed: many sessions have
    /// none of them, and every map slot (used or spare) pays for what is
    /// inline here.
    extra: Option<Box<Extra>>,
}

#[derive(Default)]
struct Extra {
    user: Option<UserKey>,
    /// Further connections of the session (duplicated tabs).
    more: Vec<Conn>,
    topics: Vec<Topic>,
}

impl SessionEntry {
    fn new(user: Option<UserKey>, conn: Conn) -> Self {
        Self {
            first: conn,
            extra: user.map(|user| {
                Box::new(Extra {
                    user: Some(user),
                    ..Extra::default()
                })
            }),
        }
    }

    fn session(&self) -> &SessionId {
        self.first.sender.session_id()
    }

    fn user(&self) -> Option<&UserKey> {
        self.extra.as_deref().and_then(|e| e.user.as_ref())
    }

    fn more(&self) -> &[Conn] {
        self.extra.as_deref().map_or(&[], |e| &e.more)
    }

    fn topics(&self) -> &[Topic] {
        self.extra.as_deref().map_or(&[], |e| &e.topics)
    }

    fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// Frees `extra` once it holds nothing.
    fn tidy(&mut self) {
        if self
            .extra
            .as_deref()
            .is_some_and(|e| e.user.is_none() && e.more.is_empty() && e.topics.is_empty())
        {
            self.extra = None;
        }
    }

    fn conns(&self) -> impl Iterator<Item = &Conn> {
        std::iter::once(&self.first).chain(self.more())
    }

    fn len(&self) -> usize {
        1 + self.more().len()
    }

    fn into_conns(self) -> Vec<Conn> {
        let mut all = self.extra.map(|e| e.more).unwrap_or_default();
        all.push(self.first);
        all
    }

    /// Removes connection `id`: `Some(true)` if it was the last one (the
    /// entry is left holding it as `first`, for the caller to remove),
    /// `Some(false)` if others remain, `None` if it is not here.
    fn remove(&mut self, id: ConnectionId) -> Option<bool> {
        let removed = if self.first.id() == id {
            match self.extra.as_mut().and_then(|e| e.more.pop()) {
                Some(next) => {
                    self.first = next;
                    Some(false)
                }
                None => return Some(true),
            }
        } else {
            let more = &mut self.extra.as_mut()?.more;
            let pos = more.iter().position(|c| c.id() == id)?;
            more.swap_remove(pos);
            Some(false)
        };
        self.tidy();
        removed
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
                shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
                connections: AtomicUsize::new(0),
                session_count: AtomicUsize::new(0),
                slow_disconnects: AtomicU64::new(0),
                user_mismatches: AtomicU64::new(0),
                refused_with_id: AtomicU64::new(0),
                accepted: AtomicU64::new(0),
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
    /// # Who may join a session
    ///
    /// A session ID is chosen by the client, so it is not a credential. A
    /// connection joins an existing session only when its user key equals the
    /// session's (both `None`, or the same key). Otherwise it gets a fresh
    /// session ID, as if it had sent none, and the attempt is counted in
    /// [`HubStats::user_mismatches`]. The same holds for a while after the
    /// session's last connection left (see [`HubConfig::owner_ttl`]).
    ///
    /// The connection leaves the hub when the body of the returned
    /// connection is dropped.
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
        let accepted = self.inner.sessions.accept(parts).await;
        self.admit(accepted, user)
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
        let accepted = self.inner.sessions.accept_request(req).await;
        self.admit(accepted, user)
    }

    /// The user-key check and the registration of an accepted connection.
    fn admit(&self, accepted: Accepted, user: Option<UserKey>) -> Accepted {
        let Accepted::Open(mut conn) = accepted else {
            return accepted;
        };
        if self.register(&mut conn, user.as_ref()) {
            return Accepted::Open(conn);
        }
        self.inner.user_mismatches.fetch_add(1, Ordering::Relaxed);
        // A fresh random ID (122 random bits) is never registered already;
        // the loop only keeps that an invariant rather than an assumption.
        loop {
            let Connection { handshake, .. } = conn;
            conn = self.inner.sessions.open(handshake.into_fresh());
            if self.register(&mut conn, user.as_ref()) {
                return Accepted::Open(conn);
            }
        }
    }

    /// Registers `conn` under its session; `false` (and nothing registered)
    /// if the session belongs to another user.
    fn register(&self, conn: &mut Connection, user: Option<&UserKey>) -> bool {
        let session = *conn.session_id();
        let sender = conn.sender();
        let at = self.inner.slot(&session);
        {
            let mut guard = write(&self.inner.shards[at.shard]);
            let sh = &mut *guard;
            match sh.sessions.get_mut(at) {
                Some(entry) => {
                    if entry.user() != user {
                        return false;
                    }
                    entry.extra_mut().more.push(Conn { sender });
                }
                None => {
                    let now = Instant::now();
                    if let Some((owner, until)) = sh.owners.get(&session) {
                        if *until > now && Some(owner) != user {
                            return false;
                        }
                    }
                    sh.owners.remove(&session);
                    sh.sessions
                        .insert_new(at, SessionEntry::new(user.cloned(), Conn { sender }));
                    if let Some(user) = user {
                        sh.users.entry(user.clone()).or_default().push(session);
                    }
                    self.inner.session_count.fetch_add(1, Ordering::Relaxed);
                }
            }
            self.inner.connections.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.accepted.fetch_add(1, Ordering::Relaxed);
        let hub: Weak<Inner> = Arc::downgrade(&self.inner);
        conn.on_body_drop(hub);
        true
    }

    /// Sends `event` to every connection of one session (tab). Returns how
    /// many connections took it (0 if the session has no live connection).
    ///
    /// An event that carries its own `id:` is refused (0, counted in
    /// [`HubStats::refused_with_id`]): on a session stream the crate owns the
    /// `id:` field, and the browser would lose its session on the next
    /// reconnect (see [`Sender::send`]).
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
    /// assert_eq!(hub.send_to_session(first.session_id(), &Event::new("to both")), 2);
    /// # drop(dup);
    /// # }
    /// ```
    pub fn send_to_session(&self, session: &SessionId, event: &Event) -> usize {
        match self.encode(event) {
            Some(frame) => self.send_to_session_bytes(session, &frame),
            None => 0,
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
    /// assert_eq!(hub.send_to_session_bytes(conn.session_id(), &frame), 1);
    /// # }
    /// ```
    pub fn send_to_session_bytes(&self, session: &SessionId, frame: &Bytes) -> usize {
        let at = self.inner.slot(session);
        let shard = read(&self.inner.shards[at.shard]);
        shard
            .sessions
            .get(at)
            .map_or(0, |entry| self.deliver_all(entry, frame))
    }

    /// Sends `event` to every connection of every session registered under
    /// `user`. Returns how many connections took it. Refuses events with an
    /// `id:` like [`send_to_session`](Self::send_to_session).
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
    /// assert_eq!(hub.send_to_user(&UserKey::from("bob"), &Event::new("hi bob")), 2);
    /// # drop((tab1, tab2, other));
    /// # }
    /// ```
    pub fn send_to_user(&self, user: &UserKey, event: &Event) -> usize {
        match self.encode(event) {
            Some(frame) => self.send_to_user_bytes(user, &frame),
            None => 0,
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
    /// assert_eq!(hub.send_to_user_bytes(&UserKey::from("nobody"), &frame), 0);
    /// ```
    pub fn send_to_user_bytes(&self, user: &UserKey, frame: &Bytes) -> usize {
        let mut sent = 0;
        for shard in &*self.inner.shards {
            let shard = read(shard);
            if let Some(sessions) = shard.users.get(user) {
                for session in sessions {
                    if let Some(entry) = shard.sessions.get(self.inner.slot(session)) {
                        sent += self.deliver_all(entry, frame);
                    }
                }
            }
        }
        sent
    }

    /// Sends `event` to every connection of every session subscribed to
    /// `topic`. Returns how many connections took it. Refuses events with an
    /// `id:` like [`send_to_session`](Self::send_to_session).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use sse_session::event::Event;
    /// use sse_session::live::{Accepted, Hub};
    ///
    /// let hub = Hub::default();
    /// # let parts = http::Request::get("/").body(()).unwrap().into_parts().0;
    /// let Accepted::Open(conn) = hub.accept(&parts, None).await else { unreachable!() };
    /// assert_eq!(hub.publish("prices", &Event::new("1.25")), 0);
    /// hub.subscribe(conn.session_id(), "prices");
    /// assert_eq!(hub.publish("prices", &Event::new("1.26")), 1);
    /// # }
    /// ```
    pub fn publish(&self, topic: &str, event: &Event) -> usize {
        match self.encode(event) {
            Some(frame) => self.publish_bytes(topic, &frame),
            None => 0,
        }
    }

    /// [`publish`](Self::publish) with a frame encoded by the caller.
    ///
    /// ```
    /// # use sse_session::live::Hub;
    /// # use sse_session::event::Event;
    /// let hub = Hub::default();
    /// assert_eq!(hub.publish_bytes("prices", &Event::new("1.25").to_bytes()), 0);
    /// ```
    pub fn publish_bytes(&self, topic: &str, frame: &Bytes) -> usize {
        let mut sent = 0;
        for shard in &*self.inner.shards {
            let shard = read(shard);
            if let Some(sessions) = shard.topics.get(topic) {
                for session in sessions {
                    if let Some(entry) = shard.sessions.get(self.inner.slot(session)) {
                        sent += self.deliver_all(entry, frame);
                    }
                }
            }
        }
        sent
    }

    /// Sends `event` to every live connection. Returns how many took it.
    /// Refuses events with an `id:` like
    /// [`send_to_session`](Self::send_to_session).
    ///
    /// # Complexity
    ///
    /// One encoding, then per connection one reference-count bump and one
    /// short lock of that connection's queue.
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
    /// assert_eq!(hub.broadcast(&Event::new("to everyone")), 3);
    /// # }
    /// ```
    pub fn broadcast(&self, event: &Event) -> usize {
        match self.encode(event) {
            Some(frame) => self.broadcast_bytes(&frame),
            None => 0,
        }
    }

    /// [`broadcast`](Self::broadcast) with a frame encoded by the caller.
    ///
    /// ```
    /// # use sse_session::live::Hub;
    /// # use sse_session::event::Event;
    /// let hub = Hub::default();
    /// assert_eq!(hub.broadcast_bytes(&Event::new("x").to_bytes()), 0);
    /// ```
    pub fn broadcast_bytes(&self, frame: &Bytes) -> usize {
        let mut sent = 0;
        for shard in &*self.inner.shards {
            let shard = read(shard);
            for entry in shard.sessions.values() {
                sent += self.deliver_all(entry, frame);
            }
        }
        sent
    }

    fn encode(&self, event: &Event) -> Option<Bytes> {
        if event.id().is_some() {
            self.inner.refused_with_id.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(event.to_bytes())
    }

    fn deliver_all(&self, entry: &SessionEntry, frame: &Bytes) -> usize {
        entry.conns().filter(|c| self.deliver(c, frame)).count()
    }

    fn deliver(&self, conn: &Conn, frame: &Bytes) -> bool {
        match conn.sender.push_shared(frame) {
            Ok(()) => true,
            Err(refused) => {
                if refused == Refused::Full && conn.sender.mark_kicked() {
                    conn.sender.disconnect();
                    self.inner.slow_disconnects.fetch_add(1, Ordering::Relaxed);
                }
                // `Closed`: the connection is on its way out; its body's drop
                // removes it from the hub.
                false
            }
        }
    }

    /// Subscribes every connection of `session` (present and future, for as
    /// long as the session has a live connection) to `topic`. Returns
    /// `false` if the session has no live connection (nothing is stored).
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
        let at = self.inner.slot(session);
        let mut guard = write(&self.inner.shards[at.shard]);
        let sh = &mut *guard;
        let Some(entry) = sh.sessions.get_mut(at) else {
            return false;
        };
        if entry.topics().iter().any(|t| &**t == topic) {
            return true;
        }
        let key = match sh.topics.get_key_value(topic) {
            Some((key, _)) => Arc::clone(key),
            None => Topic::from(topic),
        };
        entry.extra_mut().topics.push(Arc::clone(&key));
        sh.topics.entry(key).or_default().insert(*session);
        true
    }

    /// Undoes [`subscribe`](Self::subscribe). Returns whether the session was
    /// subscribed.
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
    /// assert_eq!(hub.publish("news", &Event::new("x")), 0);
    /// # }
    /// ```
    pub fn unsubscribe(&self, session: &SessionId, topic: &str) -> bool {
        let at = self.inner.slot(session);
        let mut guard = write(&self.inner.shards[at.shard]);
        let sh = &mut *guard;
        let Some(entry) = sh.sessions.get_mut(at) else {
            return false;
        };
        let Some(pos) = entry.topics().iter().position(|t| &**t == topic) else {
            return false;
        };
        entry.extra_mut().topics.swap_remove(pos);
        entry.tidy();
        unindex_topic(&mut sh.topics, topic, session);
        true
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
            out.extend(read(shard).sessions.values().map(|e| *e.session()));
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
            .is_some()
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
            connections: self.connection_count(),
            sessions: self.session_count(),
        }
    }

    /// Closes a session for good: marks its ID closed in the
    /// [`ClosedIds`](crate::session::ClosedIds) store (even if it has no live
    /// connection), then ends every connection of it after its queued frames
    /// and `last`, if given. Each browser's reconnect then gets
    /// `204 No Content` and its `EventSource` stops. Returns how many
    /// connections were ended.
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
        let conns = self.take_session(session);
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
    /// browser reconnects after its retry delay and resumes the session.
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
    /// let Accepted::Open(again) = hub.accept(&parts, None).await else { unreachable!() };
    /// assert_eq!(again.session_id(), &id); // resumed
    /// # }
    /// ```
    pub fn drop_session(&self, session: &SessionId) -> usize {
        let conns = self.take_session(session);
        for conn in &conns {
            conn.sender.disconnect();
        }
        conns.len()
    }

    /// Removes a session from the hub at once and returns its connections.
    fn take_session(&self, session: &SessionId) -> Vec<Conn> {
        let at = self.inner.slot(session);
        let mut guard = write(&self.inner.shards[at.shard]);
        self.inner
            .remove_session(&mut guard, at)
            .map(SessionEntry::into_conns)
            .unwrap_or_default()
    }

    /// Total capacity of the hub's maps (for tests: it shrinks when
    /// connections leave).
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
            })
            .sum()
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

    fn leave(&self, session: &SessionId, id: ConnectionId) {
        let at = self.slot(session);
        let mut guard = write(&self.shards[at.shard]);
        let sh = &mut *guard;
        let Some(entry) = sh.sessions.get_mut(at) else {
            return; // taken by drop_session / close_session already
        };
        let Some(last) = entry.remove(id) else {
            return; // a connection of an earlier session under the same ID
        };
        if last {
            // The entry still holds the leaving connection as `first`, so
            // `remove_session` counts it out.
            self.remove_session(sh, at);
        } else {
            self.connections.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Removes a session and its index entries from its shard; remembers its
    /// owner; shrinks what became too sparse.
    fn remove_session(&self, sh: &mut Shard, at: Slot<'_>) -> Option<SessionEntry> {
        let session = at.session;
        let entry = sh.sessions.remove(at)?;
        self.session_count.fetch_sub(1, Ordering::Relaxed);
        self.connections.fetch_sub(entry.len(), Ordering::Relaxed);
        for topic in entry.topics() {
            unindex_topic(&mut sh.topics, topic, session);
        }
        if let Some(user) = entry.user() {
            if let Some(list) = sh.users.get_mut(user) {
                list.retain(|s| s != session);
                if list.is_empty() {
                    sh.users.remove(user);
                    shrink(&mut sh.users);
                }
            }
            self.remember_owner(sh, *session, user.clone());
        }
        Some(entry)
    }

    fn remember_owner(&self, sh: &mut Shard, session: SessionId, user: UserKey) {
        let ttl = self.config.owner_ttl;
        let cap = self.config.owner_capacity.div_ceil(SHARDS);
        if ttl.is_zero() || cap == 0 {
            return;
        }
        let now = Instant::now();
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
        if sh.owner_order.capacity() > MIN_SHRINK_CAPACITY
            && sh.owner_order.len() * SHRINK_RATIO < sh.owner_order.capacity()
        {
            sh.owner_order.shrink_to(sh.owner_order.len() * 2);
        }
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

    /// Two live sessions whose hashes collide (forced here; with keyed
    /// 64-bit hashes this practically never happens) are both found, and
    /// removing either leaves the other reachable.
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
        map.insert_new(at(&a), SessionEntry::new(None, Conn { sender: sa }));
        assert!(map.get(at(&b)).is_none());
        map.insert_new(at(&b), SessionEntry::new(None, Conn { sender: sb }));
        assert_eq!(map.overflow.len(), 1);
        assert_eq!(map.get(at(&a)).unwrap().first.id(), ida);
        assert_eq!(map.get_mut(at(&b)).unwrap().first.id(), idb);
        assert_eq!(map.values().count(), 2);

        // Remove the one in the main map: the other is still found.
        assert_eq!(map.remove(at(&a)).unwrap().first.id(), ida);
        assert!(map.get(at(&a)).is_none());
        assert_eq!(map.get(at(&b)).unwrap().first.id(), idb);
        assert!(map.remove(at(&a)).is_none());
        assert_eq!(map.remove(at(&b)).unwrap().first.id(), idb);
        assert_eq!(map.values().count(), 0);
    }
}
