//! Remembering closed sessions, so that a reconnect for one is answered `204 No Content`.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::id::SessionId;

/// A store of session IDs that the server closed for good.
///
/// A browser `EventSource` reconnects after *every* end of stream; only an
/// HTTP `204 No Content` stops it. So when the server closes a session, it
/// records the ID here, and the handshake of every later request for that ID
/// asks [`is_closed`](Self::is_closed) and answers 204.
///
/// # Contract
///
/// - After `mark_closed(id, t)`, `is_closed(id, now)` should be `true` for the
///   store's retention period after `t`.
/// - **False negatives are permissible**: a store may forget a closed ID early
///   (it is full, it restarted, its backend is unreachable). The cost is that
///   the tab reconnects into the closed session and gets a live stream, which is
///   what it would get with no store at all. Prefer this over failing requests.
/// - **False positives must be negligible**: an ID that was never closed (or
///   whose retention ran out) must read as open, because a 204 ends the tab's
///   `EventSource` for good. A store that keeps fingerprints instead of IDs
///   (as [`MemoryClosedIds`] does) or a Bloom filter (as `quinn-proto`'s
///   `BloomTokenLog`) makes them possible; size it so that their rate is
///   negligible, key its hashes with a secret so that nobody can search for
///   colliding IDs, and document the rate.
/// - Time is a parameter (`now`), never read from a clock by the store, so
///   tests step a fake clock and a shared store can use the caller's reading.
///
/// A session ID is not a credential: any client can present any valid ID.
/// Closing is about ending a tab's stream, not about security.
///
/// # Implementing it for a shared store
///
/// The methods return `Send` futures, so one store (say, Redis) can serve
/// several server processes without changing callers. They cannot fail: a
/// backend error should be logged and read as "not closed" (a false negative).
/// [`MemoryClosedIds`] is the in-process default; `Arc<T>` implements the trait
/// for every `T` that does, so a handle can be kept for inspection.
///
/// ```
/// use std::time::Instant;
/// use sse_session::session::{ClosedIds, MemoryClosedIds, SessionId};
///
/// async fn is_closed_somewhere(store: &impl ClosedIds, id: &SessionId) -> bool {
///     store.is_closed(id, Instant::now()).await
/// }
///
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let mut f = std::pin::pin!(f);
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
/// # }
/// let store = MemoryClosedIds::default();
/// let id = SessionId::from_static("tab-1");
/// block_on(async {
///     assert!(!is_closed_somewhere(&store, &id).await);
///     store.mark_closed(&id, Instant::now()).await;
///     assert!(is_closed_somewhere(&store, &id).await);
/// });
/// ```
pub trait ClosedIds: Send + Sync + 'static {
    /// `true` if `id` was closed and is still remembered at `now`.
    fn is_closed(&self, id: &SessionId, now: Instant) -> impl Future<Output = bool> + Send;

    /// Records that `id` was closed at `now`. Marking an already-closed ID again
    /// restarts its retention period.
    fn mark_closed(&self, id: &SessionId, now: Instant) -> impl Future<Output = ()> + Send;
}

impl<T: ClosedIds + ?Sized> ClosedIds for Arc<T> {
    fn is_closed(&self, id: &SessionId, now: Instant) -> impl Future<Output = bool> + Send {
        (**self).is_closed(id, now)
    }

    fn mark_closed(&self, id: &SessionId, now: Instant) -> impl Future<Output = ()> + Send {
        (**self).mark_closed(id, now)
    }
}

/// A boxed future, for the object-safe erasure of [`ClosedIds`].
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Object-safe form of [`ClosedIds`] (the RPITIT trait is not `dyn`-compatible),
/// so delivery code can hold any store without a type parameter.
#[cfg_attr(not(feature = "live"), allow(dead_code))]
pub(crate) trait DynClosedIds: Send + Sync + 'static {
    fn is_closed_dyn<'a>(&'a self, id: &'a SessionId, now: Instant) -> BoxFuture<'a, bool>;
    fn mark_closed_dyn<'a>(&'a self, id: &'a SessionId, now: Instant) -> BoxFuture<'a, ()>;
}

impl<T: ClosedIds> DynClosedIds for T {
    fn is_closed_dyn<'a>(&'a self, id: &'a SessionId, now: Instant) -> BoxFuture<'a, bool> {
        Box::pin(self.is_closed(id, now))
    }

    fn mark_closed_dyn<'a>(&'a self, id: &'a SessionId, now: Instant) -> BoxFuture<'a, ()> {
        Box::pin(self.mark_closed(id, now))
    }
}

/// The erased store is itself a [`ClosedIds`], so an `Arc<dyn DynClosedIds>` is
/// used exactly like a concrete store (`store.is_closed(id, now).await`).
impl ClosedIds for dyn DynClosedIds {
    fn is_closed(&self, id: &SessionId, now: Instant) -> impl Future<Output = bool> + Send {
        let id = *id; // a copy, so the future borrows only `self`
        async move { self.is_closed_dyn(&id, now).await }
    }

    fn mark_closed(&self, id: &SessionId, now: Instant) -> impl Future<Output = ()> + Send {
        let id = *id;
        async move { self.mark_closed_dyn(&id, now).await }
    }
}

/// A shared, type-erased closed-ID store.
#[cfg_attr(not(feature = "live"), allow(dead_code))]
pub(crate) type SharedClosedIds = Arc<dyn DynClosedIds>;

/// Default [`ClosedIdsConfig::capacity`].
const DEFAULT_CAPACITY: usize = 100_000;
/// Default [`ClosedIdsConfig::ttl`]: 24 hours.
const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Expired entries removed at most per call, so no single call does unbounded work.
const SWEEP_BUDGET: usize = 8;

/// Limits of a [`MemoryClosedIds`].
///
/// ```
/// use std::time::Duration;
/// use sse_session::session::{ClosedIdsConfig, MemoryClosedIds};
///
/// let store = MemoryClosedIds::new(
///     ClosedIdsConfig::default().capacity(1_000).ttl(Duration::from_secs(3600)),
/// );
/// assert_eq!(store.capacity(), 1_000);
/// assert_eq!(store.ttl(), Duration::from_secs(3600));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct ClosedIdsConfig {
    capacity: usize,
    ttl: Duration,
}

impl Default for ClosedIdsConfig {
    /// `capacity` 100 000 IDs and `ttl` 24 hours; see the setters for the reasons.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sse_session::session::MemoryClosedIds;
    ///
    /// let store = MemoryClosedIds::default();
    /// assert_eq!(store.capacity(), 100_000);
    /// assert_eq!(store.ttl(), Duration::from_secs(24 * 3600));
    /// ```
    fn default() -> Self {
        Self {
            capacity: DEFAULT_CAPACITY,
            ttl: DEFAULT_TTL,
        }
    }
}

impl ClosedIdsConfig {
    /// The most IDs the store holds (default 100 000).
    ///
    /// This bounds memory. The store keeps a 16-byte fingerprint per ID, never
    /// the ID: an entry is 40 bytes in the hash table and 24 in the
    /// insertion-order queue. With the tables' power-of-two growth, tombstones
    /// and a quarter of stale queue entries, the default holds about 13 MiB when
    /// full and peaks at about 19 MiB while a table grows (measured in
    /// `tests/closed_model.rs`, which fails above 20 MiB): about 200 bytes per
    /// entry of capacity at worst. 100 000 closes within the 24-hour TTL is
    /// more than one close per second, sustained, all day.
    ///
    /// When the store is full, marking a new ID evicts the **oldest** entry
    /// first. That errs on the side of availability: an evicted ID reads as
    /// open (a false negative), so its tab can reconnect into the closed
    /// session; an open session is never reported closed. `0` remembers nothing.
    ///
    /// ```
    /// use sse_session::session::{ClosedIdsConfig, MemoryClosedIds, SessionId};
    /// use std::time::Instant;
    ///
    /// let store = MemoryClosedIds::new(ClosedIdsConfig::default().capacity(1));
    /// let now = Instant::now();
    /// store.insert(&SessionId::from_static("a"), now);
    /// store.insert(&SessionId::from_static("b"), now);
    /// assert!(!store.contains(&SessionId::from_static("a"), now)); // evicted
    /// assert!(store.contains(&SessionId::from_static("b"), now));
    /// ```
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// How long a closed ID is remembered after it was marked (default 24 hours).
    ///
    /// It should cover the longest time a tab may keep trying to reconnect
    /// after the close: a browser `EventSource` retries indefinitely while the
    /// page is open, so a laptop that slept through the close (overnight) comes
    /// back hours later with the old `Last-Event-ID`. A day covers a night and a
    /// working day. Tabs that were connected at the close reconnect within
    /// seconds and get their 204 long before. `Duration::ZERO` remembers nothing.
    ///
    /// An entry marked at `t` reads as closed for `now` in `t .. t + ttl`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use sse_session::session::{ClosedIdsConfig, MemoryClosedIds, SessionId};
    ///
    /// let store = MemoryClosedIds::new(ClosedIdsConfig::default().ttl(Duration::from_secs(60)));
    /// let (id, t0) = (SessionId::from_static("a"), Instant::now());
    /// store.insert(&id, t0);
    /// assert!(store.contains(&id, t0 + Duration::from_secs(59)));
    /// assert!(!store.contains(&id, t0 + Duration::from_secs(60)));
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }
}

/// The in-memory [`ClosedIds`] store: bounded by capacity and time-to-live.
///
/// - **False positives: negligible.** The store keeps a 128-bit fingerprint of
///   each ID (two SipHash-1-3 outputs under a random key chosen per store), not
///   the ID itself. An ID that was never closed reads as closed only if its
///   fingerprint collides with a stored one: probability at most `len / 2^128`
///   per lookup (below 10^-33 when full at the default capacity). The key is
///   secret, so collisions cannot be searched for offline. Nothing else causes
///   a false positive.
/// - **False negatives** only by design: an entry older than the TTL, or one
///   evicted because the store was full. Eviction removes the entry marked
///   longest ago, so an ID is evicted only after `capacity` other IDs were
///   marked since it was, all within its TTL.
/// - **Bounded**: never more than [`capacity`](ClosedIdsConfig::capacity) entries.
/// - **Complexity**: insert and lookup are O(1) amortised. Expired entries are
///   removed lazily: a lookup of an expired entry removes it, and each call
///   removes at most 8 expired entries from the oldest end, so no call does
///   unbounded work. [`remove_expired`](Self::remove_expired) sweeps everything.
/// - Thread-safe: one `std::sync::Mutex`, held for a few hash operations and
///   never across an `.await`. Per-process: several server processes need a
///   shared implementation of [`ClosedIds`].
///
/// The `now` arguments should not go backwards; if they do, nothing breaks, but
/// expiry and eviction order follow the order of the calls rather than `now`.
///
/// ```
/// use std::time::{Duration, Instant};
/// use sse_session::session::{MemoryClosedIds, SessionId};
///
/// let store = MemoryClosedIds::default();
/// let id = SessionId::from_static("tab-1");
/// let t0 = Instant::now();
/// assert!(!store.contains(&id, t0));
/// store.insert(&id, t0);
/// assert!(store.contains(&id, t0 + Duration::from_secs(3600)));
/// assert!(!store.contains(&id, t0 + Duration::from_secs(25 * 3600)));
/// ```
pub struct MemoryClosedIds {
    config: ClosedIdsConfig,
    /// Secret key of the fingerprints.
    key: RandomState,
    state: Mutex<State>,
}

/// A keyed 128-bit fingerprint of a session ID.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Fingerprint(u64, u64);

impl Hash for Fingerprint {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Already a keyed hash: the table may use it as is.
        state.write_u64(self.0);
    }
}

/// Passes a [`Fingerprint`]'s first word through as the table hash (as
/// `quinn-proto`'s `IdentityHasher`); any other input is folded in.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

struct State {
    /// Fingerprint -> (time marked, insertion number of its live queue entry).
    map: HashMap<Fingerprint, (Instant, u32), BuildHasherDefault<IdentityHasher>>,
    /// Insertion order: (insertion number, fingerprint). An entry whose number
    /// differs from the map's is stale (the ID was marked again or removed) and
    /// skipped. Numbers wrap; they are only compared for equality, and a stale
    /// entry is compacted away long before 2^32 further marks could reuse its number.
    order: VecDeque<(u32, Fingerprint)>,
    next: u32,
    evictions: u64,
}

impl MemoryClosedIds {
    /// An empty store with the given limits.
    ///
    /// ```
    /// use sse_session::session::{ClosedIdsConfig, MemoryClosedIds};
    ///
    /// let store = MemoryClosedIds::new(ClosedIdsConfig::default());
    /// assert!(store.is_empty());
    /// ```
    #[must_use]
    pub fn new(config: ClosedIdsConfig) -> Self {
        Self {
            config,
            key: RandomState::new(),
            state: Mutex::new(State {
                map: HashMap::default(),
                order: VecDeque::new(),
                next: 0,
                evictions: 0,
            }),
        }
    }

    fn fingerprint(&self, id: &SessionId) -> Fingerprint {
        // Two domain-separated inputs under one secret key: two independent words.
        Fingerprint(
            self.key.hash_one((0u8, id.as_bytes())),
            self.key.hash_one((1u8, id.as_bytes())),
        )
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code panics while holding the lock, but never propagate a poison.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn expired(&self, marked: Instant, now: Instant) -> bool {
        now.saturating_duration_since(marked) >= self.config.ttl
    }

    /// `true` if `id` was marked closed less than the TTL before `now` and has
    /// not been evicted. The sync form of [`ClosedIds::is_closed`].
    ///
    /// ```
    /// use std::time::Instant;
    /// use sse_session::session::{MemoryClosedIds, SessionId};
    ///
    /// let store = MemoryClosedIds::default();
    /// let now = Instant::now();
    /// store.insert(&SessionId::from_static("a"), now);
    /// assert!(store.contains(&SessionId::from_static("a"), now));
    /// assert!(!store.contains(&SessionId::from_static("b"), now));
    /// ```
    #[must_use]
    pub fn contains(&self, id: &SessionId, now: Instant) -> bool {
        let fp = self.fingerprint(id);
        let mut state = self.lock();
        self.sweep(&mut state, now, SWEEP_BUDGET);
        match state.map.get(&fp) {
            Some(&(marked, _)) if !self.expired(marked, now) => true,
            Some(_) => {
                // Expired but not yet swept: drop it now (its queue entry goes stale).
                state.map.remove(&fp);
                false
            }
            None => false,
        }
    }

    /// Marks `id` closed at `now`; marking it again restarts its TTL. If the
    /// store is full, the oldest entry is evicted first (see
    /// [`ClosedIdsConfig::capacity`]). The sync form of [`ClosedIds::mark_closed`].
    ///
    /// ```
    /// use std::time::Instant;
    /// use sse_session::session::{MemoryClosedIds, SessionId};
    ///
    /// let store = MemoryClosedIds::default();
    /// store.insert(&SessionId::from_static("a"), Instant::now());
    /// store.insert(&SessionId::from_static("a"), Instant::now());
    /// assert_eq!(store.len(), 1);
    /// ```
    pub fn insert(&self, id: &SessionId, now: Instant) {
        if self.config.capacity == 0 || self.config.ttl.is_zero() {
            return;
        }
        let fp = self.fingerprint(id);
        let mut guard = self.lock();
        let state = &mut *guard;
        self.sweep(state, now, SWEEP_BUDGET);
        let number = state.next;
        state.next = state.next.wrapping_add(1);
        if let Some(entry) = state.map.get_mut(&fp) {
            *entry = (now, number);
        } else {
            while state.map.len() >= self.config.capacity {
                let Some((n, old)) = state.order.pop_front() else {
                    break; // unreachable: every map entry has a live queue entry
                };
                if let Some(&(marked, live)) = state.map.get(&old) {
                    if live == n {
                        state.map.remove(&old);
                        if !self.expired(marked, now) {
                            state.evictions += 1;
                        }
                    }
                }
            }
            state.map.insert(fp, (now, number));
        }
        state.order.push_back((number, fp));
        // Drop stale queue entries once they are a quarter of the live ones: O(n)
        // work after at least n/4 + 32 pushes, so O(1) amortised, and the queue
        // never exceeds 1.25 * capacity + 32 entries.
        if state.order.len() > state.map.len() + state.map.len() / 4 + 32 {
            let map = &state.map;
            state
                .order
                .retain(|(n, id)| map.get(id).is_some_and(|&(_, live)| live == *n));
        }
    }

    /// Removes up to `budget` dead entries (stale or expired) from the oldest end.
    fn sweep(&self, state: &mut State, now: Instant, budget: usize) -> usize {
        let mut removed = 0;
        for _ in 0..budget {
            let Some(&(n, id)) = state.order.front() else {
                break;
            };
            match state.map.get(&id) {
                Some(&(marked, live)) if live == n => {
                    if !self.expired(marked, now) {
                        break;
                    }
                    state.map.remove(&id);
                    removed += 1;
                }
                _ => {} // stale
            }
            state.order.pop_front();
        }
        removed
    }

    /// Removes `id` (re-opens the session); `true` if it was held.
    ///
    /// ```
    /// use std::time::Instant;
    /// use sse_session::session::{MemoryClosedIds, SessionId};
    ///
    /// let store = MemoryClosedIds::default();
    /// let (id, now) = (SessionId::from_static("a"), Instant::now());
    /// store.insert(&id, now);
    /// assert!(store.remove(&id));
    /// assert!(!store.contains(&id, now));
    /// assert!(!store.remove(&id));
    /// ```
    pub fn remove(&self, id: &SessionId) -> bool {
        let fp = self.fingerprint(id);
        self.lock().map.remove(&fp).is_some()
    }

    /// Removes every entry expired at `now`; returns how many. Optional: expiry
    /// is also lazy. O(n) in the number of entries.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use sse_session::session::{MemoryClosedIds, SessionId};
    ///
    /// let store = MemoryClosedIds::default();
    /// let t0 = Instant::now();
    /// store.insert(&SessionId::from_static("a"), t0);
    /// assert_eq!(store.remove_expired(t0 + Duration::from_secs(24 * 3600)), 1);
    /// assert!(store.is_empty());
    /// ```
    pub fn remove_expired(&self, now: Instant) -> usize {
        let mut guard = self.lock();
        let state = &mut *guard;
        let before = state.map.len();
        let ttl = self.config.ttl;
        state
            .map
            .retain(|_, &mut (marked, _)| now.saturating_duration_since(marked) < ttl);
        let map = &state.map;
        state
            .order
            .retain(|(n, id)| map.get(id).is_some_and(|&(_, live)| live == *n));
        before - state.map.len()
    }

    /// Number of entries held, including expired ones not yet removed. Never
    /// more than the capacity.
    ///
    /// ```
    /// use std::time::Instant;
    /// use sse_session::session::{MemoryClosedIds, SessionId};
    ///
    /// let store = MemoryClosedIds::default();
    /// store.insert(&SessionId::from_static("a"), Instant::now());
    /// assert_eq!(store.len(), 1);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// `true` if no entry is held.
    ///
    /// ```
    /// use sse_session::session::MemoryClosedIds;
    ///
    /// assert!(MemoryClosedIds::default().is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.lock().map.is_empty()
    }

    /// How many unexpired entries were evicted because the store was full.
    /// Each one is a possible false negative; if this grows, raise the capacity.
    ///
    /// ```
    /// use std::time::Instant;
    /// use sse_session::session::{ClosedIdsConfig, MemoryClosedIds, SessionId};
    ///
    /// let store = MemoryClosedIds::new(ClosedIdsConfig::default().capacity(1));
    /// let now = Instant::now();
    /// store.insert(&SessionId::from_static("a"), now);
    /// store.insert(&SessionId::from_static("b"), now);
    /// assert_eq!(store.evictions(), 1);
    /// ```
    #[must_use]
    pub fn evictions(&self) -> u64 {
        self.lock().evictions
    }

    /// The configured capacity.
    ///
    /// ```
    /// use sse_session::session::MemoryClosedIds;
    ///
    /// assert_eq!(MemoryClosedIds::default().capacity(), 100_000);
    /// ```
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.config.capacity
    }

    /// The configured time-to-live.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sse_session::session::MemoryClosedIds;
    ///
    /// assert_eq!(MemoryClosedIds::default().ttl(), Duration::from_secs(86_400));
    /// ```
    #[must_use]
    pub fn ttl(&self) -> Duration {
        self.config.ttl
    }
}

impl Default for MemoryClosedIds {
    /// A store with [`ClosedIdsConfig::default`].
    ///
    /// ```
    /// use sse_session::session::MemoryClosedIds;
    ///
    /// assert!(MemoryClosedIds::default().is_empty());
    /// ```
    fn default() -> Self {
        Self::new(ClosedIdsConfig::default())
    }
}

impl fmt::Debug for MemoryClosedIds {
    /// Shows the limits and the number of entries (the store holds no IDs, only
    /// keyed fingerprints).
    ///
    /// ```
    /// use sse_session::session::MemoryClosedIds;
    ///
    /// let s = format!("{:?}", MemoryClosedIds::default());
    /// assert!(s.starts_with("MemoryClosedIds"));
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryClosedIds")
            .field("capacity", &self.config.capacity)
            .field("ttl", &self.config.ttl)
            .field("len", &state.map.len())
            .field("evictions", &state.evictions)
            .finish()
    }
}

impl ClosedIds for MemoryClosedIds {
    fn is_closed(&self, id: &SessionId, now: Instant) -> impl Future<Output = bool> + Send {
        std::future::ready(self.contains(id, now))
    }

    fn mark_closed(&self, id: &SessionId, now: Instant) -> impl Future<Output = ()> + Send {
        self.insert(id, now);
        std::future::ready(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::{Context, Poll, Waker};

    fn id(n: usize) -> SessionId {
        SessionId::try_from(format!("id-{n}").as_str()).unwrap()
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    fn store(capacity: usize, ttl_secs: u64) -> MemoryClosedIds {
        MemoryClosedIds::new(
            ClosedIdsConfig::default()
                .capacity(capacity)
                .ttl(Duration::from_secs(ttl_secs)),
        )
    }

    #[test]
    fn ttl_boundary() {
        let s = store(10, 10);
        let t0 = Instant::now();
        s.insert(&id(1), t0);
        assert!(s.contains(&id(1), t0));
        assert!(s.contains(&id(1), t0 + Duration::from_millis(9_999)));
        assert!(!s.contains(&id(1), t0 + Duration::from_secs(10)));
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn reinsert_restarts_ttl_and_moves_to_newest() {
        let s = store(2, 10);
        let t0 = Instant::now();
        s.insert(&id(1), t0);
        s.insert(&id(2), t0 + Duration::from_secs(1));
        s.insert(&id(1), t0 + Duration::from_secs(5)); // 1 is now the newest
        s.insert(&id(3), t0 + Duration::from_secs(6)); // evicts 2, not 1
        let now = t0 + Duration::from_secs(12);
        assert!(s.contains(&id(1), now));
        assert!(!s.contains(&id(2), now));
        assert!(s.contains(&id(3), now));
        assert_eq!(s.evictions(), 1);
    }

    #[test]
    fn capacity_is_a_hard_bound() {
        let s = store(100, 1_000);
        let t0 = Instant::now();
        for i in 0..1_000 {
            s.insert(&id(i), t0);
            assert!(s.len() <= 100);
        }
        assert_eq!(s.len(), 100);
        assert!(s.contains(&id(999), t0));
        assert!(s.contains(&id(900), t0));
        assert!(!s.contains(&id(899), t0));
        assert_eq!(s.evictions(), 900);
    }

    #[test]
    fn expired_entries_make_room_without_counting_as_evictions() {
        let s = store(2, 10);
        let t0 = Instant::now();
        s.insert(&id(1), t0);
        s.insert(&id(2), t0);
        s.insert(&id(3), t0 + Duration::from_secs(20));
        assert_eq!(s.evictions(), 0);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn queue_stays_bounded_under_repeated_marks() {
        let s = store(4, 1_000);
        let t0 = Instant::now();
        for i in 0..10_000u64 {
            s.insert(&id((i % 3) as usize), t0 + Duration::from_millis(i));
            let state = s.lock();
            assert!(state.order.len() <= 4 + 1 + 32 + 1, "{}", state.order.len());
        }
        assert_eq!(s.len(), 3);
        assert_eq!(s.evictions(), 0);
    }

    #[test]
    fn zero_capacity_or_ttl_remembers_nothing() {
        let now = Instant::now();
        for s in [store(0, 10), store(10, 0)] {
            s.insert(&id(1), now);
            assert!(!s.contains(&id(1), now));
            assert!(s.is_empty());
        }
    }

    #[test]
    fn clock_going_backwards_does_not_panic() {
        let s = store(3, 10);
        let t0 = Instant::now() + Duration::from_secs(100);
        s.insert(&id(1), t0);
        s.insert(&id(2), t0 - Duration::from_secs(50));
        assert!(s.contains(&id(1), t0 - Duration::from_secs(60)));
        assert!(s.contains(&id(2), t0 - Duration::from_secs(50)));
        assert_eq!(s.remove_expired(t0 + Duration::from_secs(5)), 1);
    }

    #[test]
    fn remove_expired_sweeps_all() {
        let s = store(100, 10);
        let t0 = Instant::now();
        // Times 0..=9 s: no entry expires while inserting.
        for i in 0..50 {
            s.insert(&id(i), t0 + Duration::from_secs(i as u64 % 10));
        }
        // At 15 s, the entries marked at 0..=5 s are expired: 6 of every 10.
        let n = s.remove_expired(t0 + Duration::from_secs(15));
        assert_eq!(n, 30);
        assert_eq!(s.len(), 20);
        let queued = s.lock().order.len();
        assert_eq!(queued, s.len());
    }

    #[test]
    fn trait_and_dyn_erasure_agree() {
        let shared: SharedClosedIds = Arc::new(store(10, 10));
        let now = Instant::now();
        assert!(!block_on(shared.is_closed_dyn(&id(1), now)));
        block_on(shared.mark_closed_dyn(&id(1), now));
        assert!(block_on(shared.is_closed_dyn(&id(1), now)));
        // The erased Arc is a ClosedIds itself.
        assert!(block_on(shared.is_closed(&id(1), now)));
        block_on(shared.mark_closed(&id(3), now));
        assert!(block_on(shared.is_closed(&id(3), now)));

        let arc = Arc::new(store(10, 10));
        block_on(ClosedIds::mark_closed(&arc, &id(2), now));
        assert!(arc.contains(&id(2), now));
        let erased: SharedClosedIds = Arc::new(Arc::clone(&arc));
        assert!(block_on(erased.is_closed_dyn(&id(2), now)));
    }

    #[test]
    fn debug_does_not_print_ids() {
        let s = store(10, 10);
        s.insert(&id(12345), Instant::now());
        let d = format!("{s:?}");
        assert!(!d.contains("12345"), "{d}");
    }
}
