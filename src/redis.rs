//! Several server processes on one Redis: closed IDs that every process sees
//! ([`RedisClosedIds`]), sends that reach the connections of every process,
//! and tabs that resume on whichever process they reconnect to
//! ([`RedisBus`]).
//!
//! ```no_run
//! # async fn run() -> Result<(), sse_session::redis::RedisError> {
//! use sse_session::live::{Hub, SessionConfig};
//! use sse_session::redis::{RedisBus, RedisClosedIds, RedisConfig};
//! use sse_session::Event;
//!
//! let config = RedisConfig::new("redis://127.0.0.1:6379").namespace("my-app");
//! // A closed ID is closed on every process: the hub asks Redis.
//! let closed = RedisClosedIds::connect(&config).await?;
//! let hub = Hub::new(SessionConfig::default().closed_ids(closed));
//! // Sends through the bus reach the hub of every process on this namespace.
//! let bus = RedisBus::connect(hub, &config).await?;
//! // Accept through the bus (`bus.accept(&parts, user)`), send through it:
//! bus.broadcast(&Event::new("to every tab on every process"));
//! # Ok(()) }
//! ```
//!
//! # What lives in Redis
//!
//! Every key starts with the namespace ([`RedisConfig::namespace`]):
//!
//! - `<ns>:position`: the last position given out. Created when missing
//!   from Redis's clock in microseconds (about 1.8 × 10^15 today), so that
//!   a counter that starts again after Redis lost its data starts above
//!   every position the old one gave out (unless that one gave out more
//!   than a million positions a second over its whole life).
//! - `<ns>:log`: a stream with one entry per send, ID `<position>-0`, field
//!   `m` (the target and the frame, encoded once by the sender). Trimmed
//!   with `XADD .. MAXLEN ~` to about [`RedisConfig::log_entries`] (20,000).
//!   Every send is **one** command: a Lua script that does the `INCR` and
//!   the `XADD` (`EVALSHA`). Every process reads the log with `XREAD
//!   BLOCK` on a connection of its own, in order, and hands each entry to
//!   its hub numbered with its position: every process delivers every
//!   event in the same order under the same position, and a tab's cursor
//!   (`id: <session>.<position>`) means the same on every process.
//! - `<ns>:session:<id>`: a hash per tracked session, `a` (the position
//!   it began at), `u` (its user key), `s` (the topic of a job channel),
//!   `t:<topic>` per subscription. Written by an accept before the stream
//!   starts, a few milliseconds after a (un)subscription made through the
//!   bus. While the session is live, its expiry is pushed back (one
//!   `PEXPIRE`) every half resume window, at most 30 s (a record Redis lost
//!   is written again then); it expires one resume window plus that after
//!   the tab left, about when the hub forgets the session. Deleted on
//!   close.
//! - `<ns>:closed:<id>`: one key per closed session ([`RedisClosedIds`]),
//!   `SET .. PX <ttl>`; nothing grows with the number of sessions ever
//!   closed.
//!
//! A tab that reconnects to a process which does not hold its session
//! (another process, or this one restarted) is resumed from its record and
//! the log: every entry after its cursor that concerns it (its session, its
//! user, its topics, broadcasts) is replayed in order, then live events
//! follow with no gap and no duplicate, because the replay is computed and
//! the connection registered under the lock the reader delivers under. The
//! newest entries come from the process's own memory (the last
//! `log_entries` entries, at most 16 MiB); older ones from one `XRANGE`.
//! When that cannot be exact, the tab gets the gap signal instead
//! ([`Resume::Gap`](crate::live::Resume)): no record (expired, never
//! here, lost) gives `expired`; a log trimmed past the cursor gives
//! `trimmed`; a cursor across a loss (below) gives `lost`.
//!
//! # Faults
//!
//! - **Redis unreachable at start**: [`RedisClosedIds::connect`] and
//!   [`RedisBus::connect`] return a [`RedisError`] within
//!   [`RedisConfig::connect_timeout`], never hang.
//! - **Redis goes away later**: a send does not wait for it (it goes into a
//!   bounded queue, [`RedisConfig::publish_queue`], that one task writes to
//!   Redis in order, pipelined). A send Redis does not take (down, too slow,
//!   queue full) is delivered to this process's live connections at once,
//!   without an `id:` and not kept for replay, and counted in
//!   [`BusStats::lost`]; the next write to Redis starts with a *lost* entry,
//!   and every process then sends its live tabs a `resync` event (reason
//!   `lost`) and treats every cursor below it as a gap. The reader
//!   reconnects by itself with backoff (100 ms doubling to 5 s) and goes on
//!   from its last position.
//! - **Redis lost its data** (flush, restart without persistence, failover
//!   to an empty replica): the counter starts again, higher; each reader
//!   sees a hole in the positions and signals it the same way. A counter
//!   that somehow starts lower is found by the reader's check of the
//!   position while the log is quiet (every [`RedisConfig::ping_interval`]);
//!   then the process forgets every session (their tabs reconnect and get
//!   the gap signal). Never a wrong replay: the records are gone too, and a
//!   position is never taken for another.
//! - **A process is killed**: its tabs reconnect (through the load
//!   balancer) to another process, which resumes them from their records
//!   and the log as above.
//! - **A half-open connection** (Redis failed over to another machine, a NAT
//!   or firewall forgot the flow: no reset, no answer) never ends by itself.
//!   The reader's `XREAD BLOCK` has a response timeout (the block time plus
//!   [`RedisConfig::command_timeout`]) and replaces its connection when it
//!   passes; a command that times out makes the writer and the closed-ID
//!   store replace theirs.
//! - The closed-ID store reads as *not closed* while Redis does not answer
//!   within [`RedisConfig::command_timeout`] (fail-open, as the
//!   [`ClosedIds`] contract asks: a false negative lets a tab reconnect into
//!   a closed session; a failed request would cost more), and counts the
//!   error ([`RedisClosedIds::errors`]); the typed result is there too
//!   ([`RedisClosedIds::check`]).
//! - No lock is held across any Redis call. The reader holds the replica's
//!   lock while it hands one entry to the hub (no I/O); an accept from
//!   another process reads Redis first, then takes that lock to finish.
//!
//! # Why redis-rs, not fred
//!
//! Both are async Redis clients for tokio with RESP3, pub/sub, Streams,
//! cluster and sentinel. Compared in December 2026:
//!
//! | | `redis` (redis-rs) | `fred` |
//! |---|---|---|
//! | maintenance | releases every 2–4 weeks all through 2026 (1.0 in Dec 2025, 1.8.2 on 2026-11-14, 2.0 in release candidates) | last release 10.1.0 (2025), none since |
//! | MSRV | 1.85 up to 1.2.2 (the resolver picks it for our `rust-version`), 1.88 after | 1.75 |
//! | Streams | `streams` feature: typed `XADD`/`XREAD`/`XRANGE` with `MAXLEN`/`MINID` options | `i-streams` feature, typed |
//! | reconnection | `ConnectionManager`: reconnects with exponential backoff, connection and response timeouts; a plain `PubSub` connection ends its stream on disconnect and the caller resubscribes (done here) | reconnect policy built in, resubscribes by itself; several reported reconnection regressions in the 10.x line (e.g. aembke/fred.rs#315) |
//! | cluster | `cluster-async` feature | built in |
//! | weight | a bare crate with tokio and `redis` (`default-features = false`, `tokio-comp`, `connection-manager`): 63 crates in `cargo tree`, half of them the `url`/`idna` stack; 54 on top of our `live` feature | the same crate with `fred` (`default-features = false`, `i-pubsub`, `i-keys`): 84 crates (`async-trait`, `futures`, `parking_lot`, `rand`, `semver`, `url`, `urlencoding`, its own macros and protocol crates) |
//!
//! redis-rs is the one that is clearly maintained today, is the de-facto
//! client (the Redis organisation's own Rust client), fits MSRV 1.85, and is
//! lighter; what fred does for us that redis-rs does not (reconnecting a
//! reader) is a short loop here that we test against a restarted Redis.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::collections::{HashMap, HashSet, VecDeque};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use ::redis::AsyncConnectionConfig;
use bytes::{BufMut, Bytes, BytesMut};
use http::request::Parts;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;

use crate::event::Event;
use crate::live::hub::{How, RemotePlan, SessionState, Target, Topic};
use crate::live::{Accepted, Delivery, GapReason, Hub, Resume, UserKey};
use crate::session::{ClosedIds, Handshake, IdSource, SessionId};

/// Default [`RedisConfig::namespace`].
const DEFAULT_NAMESPACE: &str = "sse-session";
/// Default [`RedisConfig::connect_timeout`].
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default [`RedisConfig::command_timeout`].
const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(500);
/// Default [`RedisConfig::closed_ttl`]: 24 hours, as [`ClosedIdsConfig`](crate::session::ClosedIdsConfig).
const DEFAULT_CLOSED_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Default [`RedisConfig::publish_queue`].
const DEFAULT_PUBLISH_QUEUE: usize = 4096;
/// Default [`RedisConfig::ping_interval`].
const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(1);
/// Default [`RedisConfig::log_entries`].
const DEFAULT_LOG_ENTRIES: usize = 20_000;
/// The most bytes of entries a process keeps in memory.
const DEFAULT_RING_BYTES: usize = 16 << 20;
/// The most messages one pipeline carries.
const PIPELINE: usize = 64;
/// Subscriber reconnect backoff.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Where the Redis is and how long to wait for it.
///
/// ```
/// use std::time::Duration;
/// use sse_session::redis::RedisConfig;
///
/// let config = RedisConfig::new("redis://127.0.0.1:6379")
///     .namespace("shop")
///     .connect_timeout(Duration::from_secs(1))
///     .command_timeout(Duration::from_millis(200));
/// assert_eq!(config.closed_key("tab-1"), "shop:closed:tab-1");
/// assert_eq!(config.log_key(), "shop:log");
/// assert_eq!(config.session_key("tab-1"), "shop:session:tab-1");
/// ```
#[derive(Clone)]
#[non_exhaustive]
#[must_use = "a config does nothing until passed to a connect function"]
pub struct RedisConfig {
    url: String,
    namespace: String,
    connect_timeout: Duration,
    command_timeout: Duration,
    closed_ttl: Duration,
    publish_queue: usize,
    ping_interval: Duration,
    log_entries: usize,
    ring_bytes: usize,
}

impl RedisConfig {
    /// A config for the Redis at `url` (`redis://[user:password@]host:port[/db]`,
    /// or `rediss://` if redis-rs is built with TLS), with the defaults below.
    /// The URL is checked when connecting.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            namespace: DEFAULT_NAMESPACE.to_owned(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            closed_ttl: DEFAULT_CLOSED_TTL,
            publish_queue: DEFAULT_PUBLISH_QUEUE,
            ping_interval: DEFAULT_PING_INTERVAL,
            log_entries: DEFAULT_LOG_ENTRIES,
            ring_bytes: DEFAULT_RING_BYTES,
        }
    }

    /// The prefix of every key and channel (default `sse-session`), so that
    /// several applications (or test runs) can share one Redis. Processes
    /// that serve the same tabs must use the same namespace.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// How long a connect (first connection, or the reader's reconnect
    /// attempt) may take before it fails (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one command may take before it counts as failed (default
    /// 500 ms). It bounds how long a handshake waits for the closed-ID
    /// store when Redis hangs.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// How long a closed ID is remembered (default 24 hours, as
    /// [`ClosedIdsConfig::ttl`](crate::session::ClosedIdsConfig::ttl), for
    /// the same reasons). Rounded up to whole milliseconds; `Duration::ZERO`
    /// remembers nothing.
    pub fn closed_ttl(mut self, ttl: Duration) -> Self {
        self.closed_ttl = ttl;
        self
    }

    /// The most sends waiting to be written to Redis (default 4096). A send
    /// that finds the queue full is still delivered to this process's live
    /// connections (without an `id:`), but is lost for the other processes
    /// and for replay, counted in [`BusStats::lost`] and signalled as a gap
    /// once the queue drains. Values below 1 count as 1.
    pub fn publish_queue(mut self, messages: usize) -> Self {
        self.publish_queue = messages.max(1);
        self
    }

    /// How long the bus's reader waits for new entries (`XREAD BLOCK`)
    /// before it checks the log's position (default 1 s, at most 1 s is
    /// used). A connection that does not answer within this plus
    /// [`command_timeout`](Self::command_timeout) is replaced, which finds
    /// a half-open connection (Redis failed over to another machine, a NAT
    /// or firewall dropped the flow) that never ends by itself. Values
    /// below 10 ms count as 10 ms.
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// The key that marks `session` closed.
    #[must_use]
    pub fn closed_key(&self, session: &str) -> String {
        format!("{}:closed:{session}", self.namespace)
    }

    /// The bus's log: a stream of every send, entry IDs `<position>-0`.
    #[must_use]
    pub fn log_key(&self) -> String {
        format!("{}:log", self.namespace)
    }

    /// The bus's position counter (the last position given out).
    #[must_use]
    pub fn position_key(&self) -> String {
        format!("{}:position", self.namespace)
    }

    /// The record of `session` (its user, topics and start; see
    /// [`RedisBus`]).
    #[must_use]
    pub fn session_key(&self, session: &str) -> String {
        format!("{}:session:{session}", self.namespace)
    }

    /// About how many entries the log keeps (default 20,000, the hub's
    /// [`history_events`](crate::live::HubConfig::history_events)): `XADD
    /// .. MAXLEN ~ <n>`. A tab that missed more than the log keeps gets the
    /// gap signal. Each process also keeps this many of the newest entries
    /// in memory (at most 16 MiB of them), so that most tabs from another
    /// process are replayed without reading the log. Values below 1 count
    /// as 1.
    pub fn log_entries(mut self, entries: usize) -> Self {
        self.log_entries = entries.max(1);
        self
    }

    /// How long the reader's `XREAD BLOCK` waits: the ping interval, at
    /// most 1 s.
    fn block(&self) -> Duration {
        self.ping_interval.min(Duration::from_secs(1))
    }

    fn client(&self) -> Result<::redis::Client, RedisError> {
        ::redis::Client::open(self.url.as_str()).map_err(|e| RedisError {
            kind: RedisErrorKind::InvalidUrl,
            source: Some(e),
        })
    }

    /// A connection manager, connected, within the connect timeout.
    async fn manager(&self) -> Result<ConnectionManager, RedisError> {
        let client = self.client()?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.command_timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1));
        bounded(
            self.connect_timeout,
            ConnectionManager::new_with_config(client, config),
        )
        .await
    }
}

impl fmt::Debug for RedisConfig {
    /// Shows everything but the URL's password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redact(&self.url))
            .field("namespace", &self.namespace)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("closed_ttl", &self.closed_ttl)
            .field("publish_queue", &self.publish_queue)
            .field("ping_interval", &self.ping_interval)
            .field("log_entries", &self.log_entries)
            .finish()
    }
}

/// `scheme://user:***@host`: the URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let cred = &url[s + 3..at];
            match cred.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &cred[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Awaits `fut` for at most `limit`; a timeout is a [`RedisErrorKind::Timeout`].
async fn bounded<T>(
    limit: Duration,
    fut: impl Future<Output = ::redis::RedisResult<T>>,
) -> Result<T, RedisError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(RedisError::from_client(e)),
        Err(_) => Err(RedisError {
            kind: RedisErrorKind::Timeout,
            source: None,
        }),
    }
}

/// What went wrong talking to Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RedisErrorKind {
    /// The URL given to [`RedisConfig::new`] is not a Redis URL.
    InvalidUrl,
    /// No connection: refused, reset, or the server went away.
    Unreachable,
    /// Redis did not answer in time ([`RedisConfig::connect_timeout`],
    /// [`RedisConfig::command_timeout`]).
    Timeout,
    /// Redis answered with an error (authentication, a read-only replica, ...).
    Server,
}

/// An error talking to Redis; [`kind`](Self::kind) says which.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use sse_session::redis::{RedisClosedIds, RedisConfig, RedisErrorKind};
///
/// let err = RedisClosedIds::connect(&RedisConfig::new("http://not-redis")).await.unwrap_err();
/// assert_eq!(err.kind(), RedisErrorKind::InvalidUrl);
/// assert!(err.to_string().starts_with("invalid redis url"));
/// # }
/// ```
#[derive(Debug)]
pub struct RedisError {
    kind: RedisErrorKind,
    source: Option<::redis::RedisError>,
}

impl RedisError {
    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> RedisErrorKind {
        self.kind
    }

    fn from_client(e: ::redis::RedisError) -> Self {
        let kind = if e.is_timeout() {
            RedisErrorKind::Timeout
        } else if e.is_io_error()
            || e.is_connection_refusal()
            || e.is_connection_dropped()
            || e.is_unrecoverable_error()
        {
            RedisErrorKind::Unreachable
        } else {
            RedisErrorKind::Server
        };
        Self {
            kind,
            source: Some(e),
        }
    }
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            RedisErrorKind::InvalidUrl => "invalid redis url",
            RedisErrorKind::Unreachable => "redis is unreachable",
            RedisErrorKind::Timeout => "redis did not answer in time",
            RedisErrorKind::Server => "redis answered with an error",
        })?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl Error for RedisError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_ref().map(|e| e as &(dyn Error + 'static))
    }
}

/// A [`ClosedIds`] store on Redis: a session closed on one process reads as
/// closed on every process at once.
///
/// - One key per closed ID (`<namespace>:closed:<id>`, see
///   [`RedisConfig::closed_key`]) set with `SET key 1 PX <ttl>`; a lookup is
///   one `EXISTS`. Redis expires the keys, so the store is bounded by the
///   number of closes within one TTL, with no set that grows.
/// - TTL semantics as [`MemoryClosedIds`](crate::session::MemoryClosedIds):
///   marked at `t`, closed for `t .. t + ttl`; marking again restarts the
///   TTL. The clock is Redis's (the `now` arguments are not used: processes
///   on several machines have no common `Instant`).
/// - No false positives: the key is the ID itself. False negatives when
///   Redis evicts keys under memory pressure (`maxmemory-policy`), lost
///   its data, or does not answer: an unanswered or failed lookup reads as
///   *not closed* within [`RedisConfig::command_timeout`] and is counted in
///   [`errors`](Self::errors) (fail-open: the [`ClosedIds`] contract).
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), sse_session::redis::RedisError> {
/// use sse_session::live::{Hub, SessionConfig};
/// use sse_session::redis::{RedisClosedIds, RedisConfig};
///
/// let closed = RedisClosedIds::connect(&RedisConfig::new("redis://127.0.0.1:6379")).await?;
/// let hub = Hub::new(SessionConfig::default().closed_ids(closed));
/// # let _ = hub; Ok(()) }
/// ```
pub struct RedisClosedIds {
    conn: Arc<std::sync::Mutex<ConnectionManager>>,
    /// A replacement connection is being made (after a timeout).
    replacing: Arc<AtomicBool>,
    config: RedisConfig,
    errors: AtomicU64,
    last_error: std::sync::Mutex<Option<RedisErrorKind>>,
}

impl fmt::Debug for RedisClosedIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisClosedIds")
            .field("config", &self.config)
            .field("errors", &self.errors())
            .finish_non_exhaustive()
    }
}

impl RedisClosedIds {
    /// Connects to the Redis of `config`.
    ///
    /// # Errors
    ///
    /// [`InvalidUrl`](RedisErrorKind::InvalidUrl) for a bad URL;
    /// [`Unreachable`](RedisErrorKind::Unreachable) or
    /// [`Timeout`](RedisErrorKind::Timeout) if no connection is made within
    /// [`RedisConfig::connect_timeout`].
    pub async fn connect(config: &RedisConfig) -> Result<Self, RedisError> {
        Ok(Self {
            conn: Arc::new(std::sync::Mutex::new(config.manager().await?)),
            replacing: Arc::new(AtomicBool::new(false)),
            config: config.clone(),
            errors: AtomicU64::new(0),
            last_error: std::sync::Mutex::new(None),
        })
    }

    /// Whether `id` is marked closed, or why Redis could not say (within
    /// [`RedisConfig::command_timeout`]). [`ClosedIds::is_closed`] is this
    /// with an error read as `false`.
    ///
    /// # Errors
    ///
    /// [`Unreachable`](RedisErrorKind::Unreachable),
    /// [`Timeout`](RedisErrorKind::Timeout) or [`Server`](RedisErrorKind::Server).
    pub async fn check(&self, id: &SessionId) -> Result<bool, RedisError> {
        let mut conn = self.connection();
        let mut cmd = ::redis::cmd("EXISTS");
        cmd.arg(self.config.closed_key(id.as_str()));
        let n: i64 =
            self.watch(bounded(self.config.command_timeout, cmd.query_async(&mut conn)).await)?;
        Ok(n > 0)
    }

    /// Marks `id` closed for [`RedisConfig::closed_ttl`] from now.
    /// [`ClosedIds::mark_closed`] is this with the error counted.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check).
    pub async fn mark(&self, id: &SessionId) -> Result<(), RedisError> {
        let ttl = self.config.closed_ttl;
        if ttl.is_zero() {
            return Ok(());
        }
        // Whole milliseconds, rounded up, so a TTL below 1 ms still marks.
        let ms = ttl.as_millis().max(1) + u128::from(ttl.subsec_nanos() % 1_000_000 != 0);
        let ms = u64::try_from(ms).unwrap_or(u64::MAX);
        let mut conn = self.connection();
        let mut cmd = ::redis::cmd("SET");
        cmd.arg(self.config.closed_key(id.as_str()))
            .arg(1)
            .arg("PX")
            .arg(ms);
        self.watch(bounded::<()>(self.config.command_timeout, cmd.query_async(&mut conn)).await)
    }

    /// A handle on the current connection (the lock is held for a clone).
    fn connection(&self) -> ConnectionManager {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Passes `result` through; after a timeout, makes a new connection in
    /// the background. The connection manager reconnects by itself when its
    /// connection fails, but a half-open connection (no reset, no answer)
    /// only ever times out.
    fn watch<T>(&self, result: Result<T, RedisError>) -> Result<T, RedisError> {
        if matches!(&result, Err(e) if e.kind == RedisErrorKind::Timeout)
            && !self.replacing.swap(true, Ordering::AcqRel)
        {
            let (conn, replacing, config) = (
                Arc::clone(&self.conn),
                Arc::clone(&self.replacing),
                self.config.clone(),
            );
            tokio::spawn(async move {
                if let Ok(fresh) = config.manager().await {
                    *conn
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
                }
                replacing.store(false, Ordering::Release);
            });
        }
        result
    }

    /// How many lookups and marks failed (each failed lookup read as "not
    /// closed").
    #[must_use]
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The kind of the last failure, if any.
    #[must_use]
    pub fn last_error(&self) -> Option<RedisErrorKind> {
        *self
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The configured TTL of a closed ID.
    #[must_use]
    pub fn ttl(&self) -> Duration {
        self.config.closed_ttl
    }

    fn failed(&self, e: &RedisError) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e.kind());
    }
}

impl ClosedIds for RedisClosedIds {
    fn is_closed(&self, id: &SessionId, _now: Instant) -> impl Future<Output = bool> + Send {
        let id = *id;
        async move {
            match self.check(&id).await {
                Ok(closed) => closed,
                Err(e) => {
                    self.failed(&e);
                    false
                }
            }
        }
    }

    fn mark_closed(&self, id: &SessionId, _now: Instant) -> impl Future<Output = ()> + Send {
        let id = *id;
        async move {
            if let Err(e) = self.mark(&id).await {
                self.failed(&e);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The bus.

/// Message format version (first byte).
const VERSION: u8 = 2;
/// Header: version, origin node (8 bytes), ticket (8 bytes), kind, target
/// length (2 bytes).
const HEADER: usize = 1 + 8 + 8 + 1 + 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    Session = 1,
    User = 2,
    Topic = 3,
    Broadcast = 4,
    Close = 5,
    Drop = 6,
    EndTopic = 7,
    /// A process sent events Redis did not number (it was out of reach):
    /// every cursor below this entry's position is a gap.
    Lost = 8,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            1 => Kind::Session,
            2 => Kind::User,
            3 => Kind::Topic,
            4 => Kind::Broadcast,
            5 => Kind::Close,
            6 => Kind::Drop,
            7 => Kind::EndTopic,
            8 => Kind::Lost,
            _ => return None,
        })
    }
}

/// One log entry: `[version][node: u64 LE][ticket: u64 LE][kind][target len: u16 BE][target][frame]`.
/// The frame is the event as the hub sends it (`Event::to_bytes`, no `id:`),
/// encoded once by the origin; empty for `Drop`, `Lost` and a `Close`
/// without a last event. The ticket lets the origin's reader tell its own
/// sender what the send reached.
fn encode_message(
    node: u64,
    ticket: u64,
    kind: Kind,
    target: &[u8],
    frame: &[u8],
) -> Option<Bytes> {
    let len = u16::try_from(target.len()).ok()?;
    let mut buf = BytesMut::with_capacity(HEADER + target.len() + frame.len());
    buf.put_u8(VERSION);
    buf.put_u64_le(node);
    buf.put_u64_le(ticket);
    buf.put_u8(kind as u8);
    buf.put_u16(len);
    buf.put_slice(target);
    buf.put_slice(frame);
    Some(buf.freeze())
}

#[derive(Debug, PartialEq, Eq)]
struct Message {
    node: u64,
    ticket: u64,
    kind: Kind,
    target: Bytes,
    frame: Bytes,
}

fn decode_message(msg: Bytes) -> Option<Message> {
    if msg.len() < HEADER || msg[0] != VERSION {
        return None;
    }
    let node = u64::from_le_bytes(msg[1..9].try_into().ok()?);
    let ticket = u64::from_le_bytes(msg[9..17].try_into().ok()?);
    let kind = Kind::from_u8(msg[17])?;
    let len = usize::from(u16::from_be_bytes([msg[18], msg[19]]));
    if msg.len() < HEADER + len {
        return None;
    }
    Some(Message {
        node,
        ticket,
        kind,
        target: msg.slice(HEADER..HEADER + len),
        frame: msg.slice(HEADER + len..),
    })
}

/// Whether `frame` is one whole event frame as the encoder writes it, with
/// no `id:` line (the hub writes each connection's own): `\n` line ends, no
/// `\r`, one blank line, at the end. An entry from Redis is input from the
/// network: a frame that fails this is dropped and counted, never sent.
fn valid_frame(frame: &[u8]) -> bool {
    if frame.len() < 2 || !frame.ends_with(b"\n\n") || memchr::memchr(b'\r', frame).is_some() {
        return false;
    }
    let body = &frame[..frame.len() - 1]; // the lines, each ending in `\n`
    let mut rest = body;
    while let Some(end) = memchr::memchr(b'\n', rest) {
        let line = &rest[..end];
        if line.is_empty() || line == b"id" || line.starts_with(b"id:") {
            return false;
        }
        rest = &rest[end + 1..];
    }
    rest.is_empty()
}

/// The Lua script that numbers and stores one entry: the position counter
/// is created (from Redis's clock, in microseconds, so that a new counter
/// starts above every position an older one gave out) with an empty log if
/// it is missing; then `INCR` numbers the entry and `XADD` appends it with
/// the ID `<position>-0`, trimming the log to about `ARGV[2]` entries.
/// With an empty `ARGV[1]` it only returns the current position. Lua
/// numbers are doubles: exact below 2^53, which positions stay under for
/// centuries; `%.0f` prints them without an exponent.
const NUMBER_LUA: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  local t = redis.call('TIME')
  local base = tonumber(t[1]) * 1000000 + tonumber(t[2])
  redis.call('DEL', KEYS[2])
  redis.call('SET', KEYS[1], string.format('%.0f', base))
end
if ARGV[1] == '' then
  return tonumber(redis.call('GET', KEYS[1]))
end
local n = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], string.format('%.0f', n) .. '-0', 'm', ARGV[1])
return n
";

/// Counters of a [`RedisBus`] ([`RedisBus::stats`]).
///
/// ```
/// use sse_session::redis::BusStats;
///
/// let stats = BusStats::default();
/// assert_eq!((stats.published, stats.lost, stats.subscribed), (0, 0, false));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BusStats {
    /// Sends numbered and stored by Redis (one log entry each).
    pub published: u64,
    /// Sends Redis did not take (queue full, Redis down or too slow):
    /// delivered to this process's live connections without an `id:`, lost
    /// for every other process and for replay, and signalled as a gap
    /// ([`GapReason::Lost`](crate::live::GapReason)) once Redis is back.
    pub lost: u64,
    /// Log entries from other processes handed to the local hub.
    pub received: u64,
    /// Log entries that did not decode (skipped).
    pub malformed: u64,
    /// How often the reader lost its connection and made a new one.
    pub reconnects: u64,
    /// Whether the reader is connected now.
    pub subscribed: bool,
    /// How often this process found part of the log missing (entries
    /// trimmed before it read them, Redis lost its data, or another process
    /// could not publish) and signalled it to its connections.
    pub gaps: u64,
    /// Tabs that came from another process (or from before this process
    /// started) and were replayed what they missed from the log.
    pub resumed: u64,
    /// Tabs that came from another process and got the gap signal instead.
    pub resume_gaps: u64,
}

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    lost: AtomicU64,
    received: AtomicU64,
    malformed: AtomicU64,
    reconnects: AtomicU64,
    subscribed: AtomicBool,
    gaps: AtomicU64,
    resumed: AtomicU64,
    resume_gaps: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// A send through a [`RedisBus`], on its way. The send is made when the
/// method is called, whether or not this is awaited; awaiting it gives
/// what the send reached on *this* process, once Redis numbered it and
/// this process's reader handed it to the hub (or at once, with no
/// `seq`, if Redis could not take it).
///
/// ```no_run
/// # async fn run(bus: sse_session::redis::RedisBus) {
/// use sse_session::Event;
///
/// bus.broadcast(&Event::new("fire and forget"));
/// let here = bus.broadcast(&Event::new("and wait")).await;
/// println!("{} live connection(s) here, position {:?}", here.live, here.seq);
/// # }
/// ```
#[derive(Debug)]
pub struct Sending {
    ready: Option<Delivery>,
    rx: Option<oneshot::Receiver<Delivery>>,
}

impl Sending {
    fn ready(delivery: Delivery) -> Self {
        Self {
            ready: Some(delivery),
            rx: None,
        }
    }
}

impl Future for Sending {
    type Output = Delivery;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Delivery> {
        if let Some(d) = self.ready.take() {
            return std::task::Poll::Ready(d);
        }
        match self.rx.as_mut() {
            Some(rx) => Pin::new(rx).poll(cx).map(Result::unwrap_or_default),
            None => std::task::Poll::Ready(Delivery::default()),
        }
    }
}

/// What one process keeps of the log: where its reader is, and the newest
/// entries (for tabs that come from another process).
struct Replica {
    state: std::sync::Mutex<ReplicaState>,
    /// Sends of this process waiting for their entry to come back.
    pending: std::sync::Mutex<HashMap<u64, (Instant, oneshot::Sender<Delivery>)>>,
    next_ticket: AtomicU64,
    /// Sends went out unnumbered: the next write to Redis starts with a
    /// `Lost` entry.
    owes_gap: AtomicBool,
    /// Sessions whose record in Redis must be written (or deleted).
    dirty: std::sync::Mutex<HashSet<SessionId>>,
    dirty_wake: Notify,
}

struct ReplicaState {
    /// The position of the last entry handed to the hub.
    last: u64,
    /// Cursors below this are gaps (this process missed entries up to it).
    lost_to: u64,
    /// The newest entries, dense in position up to `last` (from `lost_to`
    /// on, or from where this process started reading).
    ring: VecDeque<(u64, Bytes)>,
    ring_bytes: usize,
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Replica {
    fn complete(&self, ticket: u64, delivery: Delivery) {
        if let Some((_, tx)) = lock(&self.pending).remove(&ticket) {
            let _ = tx.send(delivery);
        }
    }

    /// Gives up on sends whose entry did not come back within `age` (their
    /// entry was in a part of the log this process lost).
    fn expire_pending(&self, age: Duration) {
        let now = Instant::now();
        lock(&self.pending).retain(|_, (at, _)| now.duration_since(*at) < age);
    }

    fn mark_dirty(&self, session: SessionId) {
        lock(&self.dirty).insert(session);
        self.dirty_wake.notify_one();
    }
}

/// A [`Hub`] on a Redis log that every process on the same namespace
/// shares: a send made on any process reaches the tab on whichever process
/// holds its connection, and a tab that reconnects to another process is
/// replayed what it missed.
///
/// Each send is **one** Redis command (a Lua script: `INCR` of the
/// namespace's position counter, `XADD` to its log stream), whatever the
/// number of processes and connections. Redis numbers it: positions are
/// global, so the cursor a tab holds (`id: <session>.<position>`) means the
/// same on every process. Every process (the sender too) reads the log in
/// order (`XREAD BLOCK` on a connection of its own) and hands each entry to
/// its hub, which encodes nothing again: the entry carries the frame the
/// sender encoded once, and the hub shares it between its connections.
/// So every process delivers every event in the same order, and resume
/// works as with one process (see the [module docs](self)).
///
/// Accept every `EventSource` request through the bus
/// ([`accept`](Self::accept), [`accept_scoped`](Self::accept_scoped)),
/// and make every send through it. A send made directly on the
/// [`hub`](Self::hub) of a bus reaches this process's live connections only,
/// without an `id:` and without being kept for replay.
///
/// Use a [`RedisClosedIds`] as the hub's closed-ID store, so that
/// [`close_session`](Self::close_session) answers `204` on every process.
///
/// Dropping the last clone of the bus stops its tasks.
///
/// ```no_run
/// # #[tokio::main] async fn main() -> Result<(), sse_session::redis::RedisError> {
/// use sse_session::live::{Accepted, Hub, SessionConfig};
/// use sse_session::redis::{RedisBus, RedisClosedIds, RedisConfig};
/// use sse_session::{Event, SessionId};
///
/// let config = RedisConfig::new("redis://127.0.0.1:6379");
/// let hub = Hub::new(SessionConfig::default().closed_ids(RedisClosedIds::connect(&config).await?));
/// let bus = RedisBus::connect(hub, &config).await?;
///
/// // Accept through the bus: a tab from another process is replayed what it missed.
/// # let parts = http::Request::get("/events").body(()).unwrap().into_parts().0;
/// let accepted = bus.accept(&parts, None).await;
/// // Send through the bus: this reaches the tab on whichever process it is.
/// let tab = SessionId::try_from("tab-1").unwrap();
/// let here = bus.send_to_session(&tab, &Event::new("hello")).await;
/// println!("{} connection(s) on this process; {:?}", here.live, bus.stats());
/// bus.close_session(&tab, Some(Event::new("bye"))).await; // 204 on every process
/// # let _ = accepted; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisBus {
    inner: Arc<BusInner>,
}

struct BusInner {
    hub: Hub,
    node: u64,
    config: RedisConfig,
    tx: mpsc::Sender<Bytes>,
    /// For the reads of an accept (the session's record, the log).
    conn: ConnectionManager,
    replica: Arc<Replica>,
    counters: Arc<Counters>,
    tasks: [JoinHandle<()>; 3],
}

impl Drop for BusInner {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBus")
            .field("hub", &self.inner.hub)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// A connection for the reader: `XREAD BLOCK` waits up to the block time,
/// so its response timeout is that plus the command timeout.
async fn reader_connection(
    client: &::redis::Client,
    config: &RedisConfig,
) -> Result<MultiplexedConnection, RedisError> {
    let c = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(config.connect_timeout))
        .set_response_timeout(Some(config.block() + config.command_timeout));
    bounded(
        config.connect_timeout,
        client.get_multiplexed_async_connection_with_config(&c),
    )
    .await
}

/// Loads the numbering script; returns its SHA1.
async fn load_script(
    conn: &mut impl ::redis::aio::ConnectionLike,
    limit: Duration,
) -> Result<String, RedisError> {
    let mut cmd = ::redis::cmd("SCRIPT");
    cmd.arg("LOAD").arg(NUMBER_LUA);
    bounded(limit, cmd.query_async(conn)).await
}

/// One numbering command for `msg` (an empty `msg` only reads the position).
fn number_cmd(sha: &str, config: &RedisConfig, msg: &[u8]) -> ::redis::Cmd {
    let mut cmd = ::redis::cmd("EVALSHA");
    cmd.arg(sha)
        .arg(2)
        .arg(config.position_key())
        .arg(config.log_key())
        .arg(msg)
        .arg(config.log_entries);
    cmd
}

fn is_noscript(e: &RedisError) -> bool {
    e.source.as_ref().and_then(|s| s.code()) == Some("NOSCRIPT")
}

impl RedisBus {
    /// Connects `hub` to the Redis of `config`: a command connection for
    /// sends, one for the reader of the log, and one for the reads of
    /// accepts, all made before this returns; the reader starts at the
    /// log's current position (a send made on another process after this
    /// returned reaches this hub). Spawns three tokio tasks.
    ///
    /// The hub should be fresh: from here on it numbers its events with
    /// the log's positions (a hub that already has sessions gives them the
    /// gap signal).
    ///
    /// # Errors
    ///
    /// [`InvalidUrl`](RedisErrorKind::InvalidUrl) for a bad URL;
    /// [`Unreachable`](RedisErrorKind::Unreachable) or
    /// [`Timeout`](RedisErrorKind::Timeout) if a connection is not made
    /// within [`RedisConfig::connect_timeout`] (each of them);
    /// [`Server`](RedisErrorKind::Server) if Redis refuses the numbering
    /// script (a Redis without Lua scripting).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub async fn connect(hub: Hub, config: &RedisConfig) -> Result<Self, RedisError> {
        let client = config.client()?;
        let mut writer_conn = config.manager().await?;
        let conn = config.manager().await?;
        let mut reader = reader_connection(&client, config).await?;
        let sha = load_script(&mut writer_conn, config.command_timeout).await?;
        let position: u64 = bounded(
            config.command_timeout,
            number_cmd(&sha, config, b"").query_async(&mut reader),
        )
        .await?;
        hub.feed_from(position);
        let replica = Arc::new(Replica {
            state: std::sync::Mutex::new(ReplicaState {
                last: position,
                lost_to: 0,
                ring: VecDeque::new(),
                ring_bytes: 0,
            }),
            pending: std::sync::Mutex::new(HashMap::new()),
            next_ticket: AtomicU64::new(1),
            owes_gap: AtomicBool::new(false),
            dirty: std::sync::Mutex::new(HashSet::new()),
            dirty_wake: Notify::new(),
        });
        let node = node_id();
        let counters = Arc::new(Counters::default());
        counters.subscribed.store(true, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(config.publish_queue);
        let ctx = Ctx {
            hub: hub.clone(),
            config: config.clone(),
            replica: Arc::clone(&replica),
            counters: Arc::clone(&counters),
            node,
        };
        let writer = tokio::spawn(write_loop(writer_conn, sha, rx, ctx.clone()));
        let reading = tokio::spawn(read_loop(client, reader, ctx.clone()));
        let records = tokio::spawn(record_loop(conn.clone(), ctx));
        Ok(Self {
            inner: Arc::new(BusInner {
                hub,
                node,
                config: config.clone(),
                tx,
                conn,
                replica,
                counters,
                tasks: [writer, reading, records],
            }),
        })
    }

    /// The local hub. Its own send methods reach this process's live
    /// connections only, without an `id:` (see the type's docs); use it for
    /// stats and lookups.
    #[must_use]
    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    /// [`Hub::accept`] for a tab that may come from another process: accept
    /// every `EventSource` request of a bus through here. A request with a
    /// cursor (`Last-Event-ID: <session>.<position>`) for a session this
    /// process does not hold reads the session's record in Redis (its user,
    /// topics and start) and is replayed every event of the log after its
    /// cursor that concerns it, in order, then live events; or it gets the
    /// gap signal ([`Resume::Gap`](crate::live::Resume)) when that
    /// cannot be known (the record expired, the log was trimmed past the
    /// cursor, Redis lost data). A record of another user gets a fresh
    /// session, as [`Hub::accept`] does.
    pub async fn accept(&self, parts: &Parts, user: Option<UserKey>) -> Accepted {
        let handshake = self.inner.hub.as_sessions().handshake(parts);
        self.accept_in(handshake, user, None).await
    }

    /// [`Hub::accept_scoped`] through the bus (see [`accept`](Self::accept)).
    pub async fn accept_scoped(
        &self,
        parts: &Parts,
        user: Option<UserKey>,
        topic: &str,
    ) -> Accepted {
        let handshake = self.inner.hub.as_sessions().handshake(parts);
        self.accept_in(handshake, user, Some(Topic::from(topic)))
            .await
    }

    async fn accept_in(
        &self,
        handshake: Handshake,
        user: Option<UserKey>,
        scope: Option<Topic>,
    ) -> Accepted {
        let hub = &self.inner.hub;
        let id = *handshake.session_id();
        let fresh = matches!(handshake.source(), IdSource::Fresh);
        let from_elsewhere = !fresh && hub.session_state(&id).is_none();
        let accepted = if from_elsewhere {
            self.accept_remote(handshake, user, scope).await
        } else {
            hub.accept_in(handshake, user, scope).await
        };
        if let Accepted::Open(conn) = &accepted {
            if conn.resume() != Resume::Untracked {
                // Written before the stream starts: once a tab has events,
                // any process can resume it (its process may die next).
                let id = *conn.session_id();
                let replace = !(fresh && conn.resume() == Resume::New);
                if self.write_record(&id, replace).await.is_err() {
                    self.inner.replica.mark_dirty(id);
                }
            }
        }
        accepted
    }

    /// Writes the record of `session` now (as the hub has it).
    async fn write_record(&self, session: &SessionId, replace: bool) -> Result<(), RedisError> {
        let Some(state) = self.inner.hub.session_state(session) else {
            return Ok(());
        };
        let mut pipe = ::redis::pipe();
        Record::write(
            &self.inner.config,
            record_ttl_ms(self.inner.hub.resume_window()),
            &state,
            replace,
            &mut pipe,
        );
        let mut conn = self.inner.conn.clone();
        bounded(
            self.inner.config.command_timeout,
            pipe.query_async(&mut conn),
        )
        .await
    }

    async fn accept_remote(
        &self,
        handshake: Handshake,
        user: Option<UserKey>,
        scope: Option<Topic>,
    ) -> Accepted {
        let hub = &self.inner.hub;
        let id = *handshake.session_id();
        if hub.as_sessions().is_closed(&id).await {
            return Accepted::Closed(handshake);
        }
        let record = match self.read_record(&id).await {
            Ok(Some(r)) => r,
            // No record (never here, expired, or Redis lost it) or Redis
            // did not answer: a new session under this ID; with a cursor,
            // with the gap signal (the hub's answer to a cursor it does not
            // know).
            Ok(None) | Err(_) => {
                if handshake.seq().is_some() {
                    add(&self.inner.counters.resume_gaps, 1);
                }
                return hub.accept_in(handshake, user, scope).await;
            }
        };
        if record.user != user || record.scope != scope {
            // Someone else's tab ID: a session of one's own, never its events.
            return hub.accept_in(handshake.into_fresh(), user, scope).await;
        }
        let (order, missed) = match handshake.seq() {
            // A bare ID of a session that lives elsewhere: joined, but there
            // is no telling what it missed (as on one process).
            None => (lock(&self.inner.replica.state), gap(GapReason::NoCursor)),
            Some(cursor) => {
                if let Some(end) = scope.as_deref().and_then(|t| hub.topic_end(t)) {
                    if cursor >= end {
                        hub.as_sessions().mark_closed(&id).await;
                        return Accepted::Closed(handshake);
                    }
                }
                self.missed(cursor, &id, &record).await
            }
        };
        let picked = match missed {
            Selected::Plan(p) => p,
            Selected::Closed | Selected::Retry => {
                drop(order);
                hub.as_sessions().mark_closed(&id).await;
                return Accepted::Closed(handshake);
            }
        };
        let recovered = picked.replay.is_ok();
        let remote = RemotePlan {
            topics: record.topics,
            replay: picked.replay,
            end: picked.end,
        };
        // Registered under the replica's lock: no entry is handed to the hub
        // between the replay's end and the connection's first live event.
        let opened = hub.admit_remote(handshake, user, scope, remote);
        drop(order);
        let counter = if recovered {
            &self.inner.counters.resumed
        } else {
            &self.inner.counters.resume_gaps
        };
        add(counter, 1);
        match opened {
            Ok(conn) => Accepted::Open(conn),
            Err(handshake) => {
                hub.as_sessions().mark_closed(&id).await;
                Accepted::Closed(handshake)
            }
        }
    }

    /// What the session of `record` missed after `cursor`, with the
    /// replica's lock, which the caller holds until the connection is
    /// registered. Never [`Selected::Retry`].
    async fn missed(
        &self,
        cursor: u64,
        id: &SessionId,
        record: &Record,
    ) -> (std::sync::MutexGuard<'_, ReplicaState>, Selected) {
        let state = &self.inner.replica.state;
        let mut reason = GapReason::UnknownCursor;
        for attempt in 0..ACCEPT_ATTEMPTS {
            let (ring_from, last, lost_to) = {
                let st = lock(state);
                let from = st.ring.front().map_or(st.last + 1, |(s, _)| *s);
                (from, st.last, st.lost_to)
            };
            if cursor < lost_to {
                return (lock(state), gap(GapReason::Lost));
            }
            if cursor < record.start {
                return (lock(state), gap(GapReason::UnknownCursor));
            }
            if cursor > last {
                // The tab saw an entry this reader has not read yet: wait a
                // little for it, then give up (a cursor from nowhere).
                tokio::time::sleep(AHEAD_WAIT).await;
                continue;
            }
            let fetched = if cursor + 1 < ring_from {
                match self.read_log(cursor + 1, ring_from - 1).await {
                    Ok(entries) => entries,
                    // The log cannot be read: what it held is lost to us.
                    Err(_) => return (lock(state), gap(GapReason::Lost)),
                }
            } else {
                Vec::new()
            };
            let st = lock(state);
            match select(
                &st,
                cursor,
                id,
                record,
                fetched,
                self.inner.config.log_entries,
            ) {
                Selected::Retry => {
                    // The ring moved past what was read: read again.
                    reason = GapReason::Trimmed;
                    if attempt + 1 < ACCEPT_ATTEMPTS {
                        continue;
                    }
                }
                done => return (st, done),
            }
        }
        (lock(state), gap(reason))
    }

    /// The record of `session` in Redis, if there is one (and it reads).
    async fn read_record(&self, session: &SessionId) -> Result<Option<Record>, RedisError> {
        let mut conn = self.inner.conn.clone();
        let mut cmd = ::redis::cmd("HGETALL");
        cmd.arg(self.inner.config.session_key(session.as_str()));
        let fields: Vec<(Vec<u8>, Vec<u8>)> = bounded(
            self.inner.config.command_timeout,
            cmd.query_async(&mut conn),
        )
        .await?;
        Ok(Record::parse(&fields))
    }

    /// The log's entries from `from` to `to` (positions, both included).
    async fn read_log(&self, from: u64, to: u64) -> Result<Vec<(u64, Bytes)>, RedisError> {
        let mut conn = self.inner.conn.clone();
        let mut cmd = ::redis::cmd("XRANGE");
        cmd.arg(self.inner.config.log_key())
            .arg(format!("{from}-0"))
            .arg(format!("{to}-0"))
            .arg("COUNT")
            .arg(self.inner.config.log_entries.saturating_add(1));
        let v: ::redis::Value = bounded(
            self.inner.config.command_timeout,
            cmd.query_async(&mut conn),
        )
        .await?;
        Ok(parse_entries(v))
    }

    /// Counters since the bus was made.
    #[must_use]
    pub fn stats(&self) -> BusStats {
        let c = &*self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        BusStats {
            published: get(&c.published),
            lost: get(&c.lost),
            received: get(&c.received),
            malformed: get(&c.malformed),
            reconnects: get(&c.reconnects),
            subscribed: c.subscribed.load(Ordering::Relaxed),
            gaps: get(&c.gaps),
            resumed: get(&c.resumed),
            resume_gaps: get(&c.resume_gaps),
        }
    }

    /// Queues one entry for Redis; never waits.
    fn forward(&self, kind: Kind, target: &[u8], frame: &[u8]) -> Sending {
        let r = &self.inner.replica;
        let ticket = r.next_ticket.fetch_add(1, Ordering::Relaxed);
        let Some(msg) = encode_message(self.inner.node, ticket, kind, target, frame) else {
            // A target over 64 KiB (a user key or topic): cannot be framed.
            add(&self.inner.counters.lost, 1);
            return Sending::ready(Delivery::default());
        };
        let (tx, rx) = oneshot::channel();
        lock(&r.pending).insert(ticket, (Instant::now(), tx));
        match self.inner.tx.try_send(msg) {
            Ok(()) => Sending {
                ready: None,
                rx: Some(rx),
            },
            Err(e) => {
                lock(&r.pending).remove(&ticket);
                add(&self.inner.counters.lost, 1);
                r.owes_gap.store(true, Ordering::Release);
                let msg = e.into_inner();
                Sending::ready(deliver_plain(&self.inner.hub, msg))
            }
        }
    }

    /// [`Hub::send_to_session`] on every process. An event with an `id:` is
    /// refused (by the local hub, and not forwarded).
    pub fn send_to_session(&self, session: &SessionId, event: &Event) -> Sending {
        if event.id().is_some() {
            return Sending::ready(self.inner.hub.send_to_session(session, event));
        }
        self.forward(Kind::Session, session.as_bytes(), &event.to_bytes())
    }

    /// [`Hub::send_to_user`] on every process.
    pub fn send_to_user(&self, user: &UserKey, event: &Event) -> Sending {
        if event.id().is_some() {
            return Sending::ready(self.inner.hub.send_to_user(user, event));
        }
        self.forward(Kind::User, user.as_str().as_bytes(), &event.to_bytes())
    }

    /// [`Hub::publish`] on every process.
    pub fn publish(&self, topic: &str, event: &Event) -> Sending {
        if event.id().is_some() {
            return Sending::ready(self.inner.hub.publish(topic, event));
        }
        self.forward(Kind::Topic, topic.as_bytes(), &event.to_bytes())
    }

    /// [`Hub::broadcast`] on every process.
    pub fn broadcast(&self, event: &Event) -> Sending {
        if event.id().is_some() {
            return Sending::ready(self.inner.hub.broadcast(event));
        }
        self.forward(Kind::Broadcast, &[], &event.to_bytes())
    }

    /// [`Hub::end_topic`] on every process.
    pub fn end_topic(&self, topic: &str, last: &Event) -> Sending {
        if last.id().is_some() {
            return Sending::ready(self.inner.hub.end_topic(topic, last));
        }
        self.forward(Kind::EndTopic, topic.as_bytes(), &last.to_bytes())
    }

    /// [`Hub::close_session`] on every process: the ID is marked closed in
    /// the hub's closed-ID store first (a [`RedisClosedIds`] makes the
    /// `204` seen everywhere at once), then every process ends the
    /// session's connections after `last`, in the log's order (after the
    /// sends made before). Returns the connections ended on this process.
    /// The session's record in Redis is deleted.
    pub async fn close_session(&self, session: &SessionId, last: Option<Event>) -> usize {
        let frame = last
            .as_ref()
            .filter(|e| e.id().is_none())
            .map(Event::to_bytes);
        self.inner.hub.as_sessions().mark_closed(session).await;
        let sent = self.forward(
            Kind::Close,
            session.as_bytes(),
            frame.as_deref().unwrap_or(&[]),
        );
        let n = sent.await.live;
        self.inner.replica.mark_dirty(*session);
        n
    }

    /// [`Hub::drop_session`] on every process: the session's connections end
    /// without closing it, and its tab reconnects (to whichever process).
    pub fn drop_session(&self, session: &SessionId) -> Sending {
        self.forward(Kind::Drop, session.as_bytes(), &[])
    }

    /// [`Hub::subscribe`], kept in the session's record so that another
    /// process replays the topic's events too after the tab moved there.
    pub fn subscribe(&self, session: &SessionId, topic: &str) -> bool {
        let ok = self.inner.hub.subscribe(session, topic);
        if ok {
            self.inner.replica.mark_dirty(*session);
        }
        ok
    }

    /// [`Hub::unsubscribe`], kept in the session's record (see
    /// [`subscribe`](Self::subscribe)).
    pub fn unsubscribe(&self, session: &SessionId, topic: &str) -> bool {
        let ok = self.inner.hub.unsubscribe(session, topic);
        if ok {
            self.inner.replica.mark_dirty(*session);
        }
        ok
    }
}

/// How long an accept waits for the reader when the tab's cursor is ahead
/// of it, per attempt.
const AHEAD_WAIT: Duration = Duration::from_millis(20);
/// Attempts of an accept from another process (the reader may move on
/// between reading the log and taking the lock).
const ACCEPT_ATTEMPTS: usize = 8;

/// A session's record in Redis: `<namespace>:session:<id>`, a hash with `a`
/// (the position it began at), `u` (its user key, if any), `s` (the topic
/// of a scoped stream, if any) and one `t:<topic>` field per subscription.
#[derive(Debug, PartialEq, Eq)]
struct Record {
    start: u64,
    user: Option<UserKey>,
    scope: Option<Topic>,
    topics: Vec<Topic>,
}

impl Record {
    /// A record from `HGETALL`'s fields; `None` if there is none or it does
    /// not parse (input from the network: never trusted further).
    fn parse(fields: &[(Vec<u8>, Vec<u8>)]) -> Option<Self> {
        let mut start = None;
        let mut user = None;
        let mut scope = None;
        let mut topics = Vec::new();
        for (k, v) in fields {
            let v = std::str::from_utf8(v).ok()?;
            match k.as_slice() {
                b"a" => start = Some(v.parse().ok()?),
                b"u" => user = Some(UserKey::from(v)),
                b"s" => scope = Some(Topic::from(v)),
                k if k.starts_with(b"t:") => {
                    topics.push(Topic::from(std::str::from_utf8(&k[2..]).ok()?));
                }
                _ => {}
            }
        }
        Some(Self {
            start: start?,
            user,
            scope,
            topics,
        })
    }

    /// The commands that write `state` as the record of its session.
    /// With `replace`, an older record under the same key goes first (a
    /// record of a fresh random ID has none).
    fn write(
        config: &RedisConfig,
        ttl_ms: u64,
        state: &SessionState,
        replace: bool,
        pipe: &mut ::redis::Pipeline,
    ) {
        let key = config.session_key(state.id.as_str());
        if replace {
            pipe.cmd("DEL").arg(&key).ignore();
        }
        let mut hset = ::redis::cmd("HSET");
        hset.arg(&key).arg("a").arg(state.start);
        if let Some(u) = &state.user {
            hset.arg("u").arg(u.as_str());
        }
        if let Some(s) = &state.scope {
            hset.arg("s").arg(&**s);
        }
        for t in &state.topics {
            hset.arg(format!("t:{t}")).arg(1);
        }
        pipe.add_command(hset).ignore();
        pipe.cmd("PEXPIRE").arg(&key).arg(ttl_ms).ignore();
    }
}

/// What an accept from another process gets from the log.
enum Selected {
    /// The reader's ring moved past what was read from Redis: read again.
    Retry,
    /// The session was closed after the cursor.
    Closed,
    Plan(Picked),
}

struct Picked {
    replay: Result<Vec<(u64, Bytes)>, GapReason>,
    end: bool,
}

/// The events after `cursor` that concern the session of `record`: from
/// `fetched` (read from Redis, below the ring) then the ring, which must
/// together cover every position from `cursor + 1` to the reader's `last`.
fn select(
    st: &ReplicaState,
    cursor: u64,
    id: &SessionId,
    record: &Record,
    fetched: Vec<(u64, Bytes)>,
    limit: usize,
) -> Selected {
    if cursor < st.lost_to {
        return gap(GapReason::Lost);
    }
    let mut next = cursor + 1;
    let mut out = Vec::new();
    let mut end = false;
    let from = st.ring.partition_point(|(s, _)| *s <= cursor);
    let ring = st.ring.range(from..).map(|(s, m)| (*s, m.clone()));
    for (seq, msg) in fetched.into_iter().chain(ring) {
        if seq < next {
            continue; // read from Redis and in the ring too
        }
        if seq > next {
            // A hole: the log was trimmed past the cursor (first entry
            // read from Redis), or the ring moved on since it was read.
            return if st.ring.front().is_some_and(|(s, _)| *s == seq) {
                Selected::Retry
            } else {
                gap(GapReason::Trimmed)
            };
        }
        next = seq + 1;
        if end {
            continue;
        }
        let Some(m) = decode_message(msg) else {
            continue;
        };
        let text = std::str::from_utf8(&m.target).ok();
        let mine = match m.kind {
            Kind::Session => m.target == id.as_bytes(),
            Kind::User => {
                record.scope.is_none()
                    && text.is_some()
                    && text == record.user.as_ref().map(UserKey::as_str)
            }
            Kind::Topic => text.is_some_and(|t| is_topic_of(record, t)),
            Kind::Broadcast => record.scope.is_none(),
            Kind::EndTopic => {
                let t = text.unwrap_or_default();
                if record.scope.as_deref() == Some(t) {
                    end = true;
                    true
                } else {
                    is_topic_of(record, t)
                }
            }
            Kind::Close => {
                if m.target == id.as_bytes() {
                    return Selected::Closed;
                }
                false
            }
            Kind::Drop => false,
            Kind::Lost => return gap(GapReason::Lost),
        };
        if mine && valid_frame(&m.frame) {
            out.push((seq, m.frame));
            if out.len() > limit {
                return gap(GapReason::Trimmed);
            }
        }
    }
    if next != st.last + 1 {
        // Redis had fewer entries than asked for (trimmed meanwhile).
        return gap(GapReason::Trimmed);
    }
    Selected::Plan(Picked {
        replay: Ok(out),
        end,
    })
}

/// The gap signal for `reason`.
fn gap(reason: GapReason) -> Selected {
    Selected::Plan(Picked {
        replay: Err(reason),
        end: false,
    })
}

fn is_topic_of(record: &Record, topic: &str) -> bool {
    record.scope.as_deref() == Some(topic) || record.topics.iter().any(|t| &**t == topic)
}

/// `(position, message)` of each entry in an `XRANGE` reply (or of the one
/// stream of an `XREAD` reply); entries that do not parse are skipped.
fn parse_entries(v: ::redis::Value) -> Vec<(u64, Bytes)> {
    use ::redis::Value;
    let Value::Array(items) = v else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Array(pair) = item else { continue };
        let mut pair = pair.into_iter();
        let (Some(id), Some(Value::Array(fields))) = (pair.next(), pair.next()) else {
            continue;
        };
        let id = match id {
            Value::BulkString(b) => b,
            Value::SimpleString(s) => s.into_bytes(),
            _ => continue,
        };
        let Some(seq) = std::str::from_utf8(&id)
            .ok()
            .and_then(|s| s.strip_suffix("-0"))
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        let mut fields = fields.into_iter();
        while let (Some(k), Some(v)) = (fields.next(), fields.next()) {
            if let (Value::BulkString(k), Value::BulkString(v)) = (k, v) {
                if k == b"m" {
                    out.push((seq, Bytes::from(v)));
                    break;
                }
            }
        }
    }
    out
}

/// The entries of an `XREAD` reply on one stream (`Nil` when it timed out).
fn parse_read(v: ::redis::Value) -> Vec<(u64, Bytes)> {
    use ::redis::Value;
    match v {
        Value::Array(streams) => streams
            .into_iter()
            .flat_map(|s| match s {
                Value::Array(kv) => kv.into_iter().nth(1).map(parse_entries).unwrap_or_default(),
                _ => Vec::new(),
            })
            .collect(),
        Value::Map(streams) => streams
            .into_iter()
            .flat_map(|(_, entries)| parse_entries(entries))
            .collect(),
        _ => Vec::new(),
    }
}

/// A random ID for this bus, so its reader can tell its own entries.
fn node_id() -> u64 {
    let (a, _) = uuid::Uuid::new_v4().as_u64_pair();
    a
}

/// What the bus's tasks share.
#[derive(Clone)]
struct Ctx {
    hub: Hub,
    config: RedisConfig,
    replica: Arc<Replica>,
    counters: Arc<Counters>,
    node: u64,
}

async fn write_loop(
    mut conn: ConnectionManager,
    mut sha: String,
    mut rx: mpsc::Receiver<Bytes>,
    ctx: Ctx,
) {
    let mut batch = Vec::with_capacity(PIPELINE);
    let lost = encode_message(ctx.node, 0, Kind::Lost, &[], &[]).unwrap_or_default();
    while rx.recv_many(&mut batch, PIPELINE).await > 0 {
        let owed = ctx.replica.owes_gap.swap(false, Ordering::AcqRel);
        let mut done = false;
        for attempt in 0..2 {
            let mut pipe = ::redis::pipe();
            if owed {
                pipe.add_command(number_cmd(&sha, &ctx.config, &lost))
                    .ignore();
            }
            for msg in &batch {
                pipe.add_command(number_cmd(&sha, &ctx.config, msg))
                    .ignore();
            }
            match bounded::<()>(ctx.config.command_timeout, pipe.query_async(&mut conn)).await {
                Ok(()) => {
                    done = true;
                    break;
                }
                // Redis restarted and forgot the script: load it, try again.
                Err(e) if attempt == 0 && is_noscript(&e) => {
                    match load_script(&mut conn, ctx.config.command_timeout).await {
                        Ok(s) => sha = s,
                        Err(_) => break,
                    }
                }
                Err(e) => {
                    // A half-open connection only ever times out: replace it
                    // (the queue takes the sends meanwhile). Other failures
                    // are the connection manager's to repair.
                    if e.kind == RedisErrorKind::Timeout {
                        if let Ok(fresh) = ctx.config.manager().await {
                            conn = fresh;
                        }
                    }
                    break;
                }
            }
        }
        let n = batch.len() as u64;
        if done {
            add(&ctx.counters.published, n);
        } else {
            // Not numbered: this process's live connections get them now,
            // without an `id:`; the other processes and the replays miss
            // them, which the `Lost` entry tells everyone once Redis is back.
            add(&ctx.counters.lost, n);
            ctx.replica.owes_gap.store(true, Ordering::Release);
            for msg in batch.drain(..) {
                let ticket = decode_message(msg.clone()).map(|m| m.ticket);
                let d = deliver_plain(&ctx.hub, msg);
                if let Some(t) = ticket {
                    ctx.replica.complete(t, d);
                }
            }
        }
        batch.clear();
    }
}

/// Delivers one of this process's entries to its live connections without
/// a position (Redis did not number it).
fn deliver_plain(hub: &Hub, msg: Bytes) -> Delivery {
    match decode_message(msg) {
        Some(m) => apply(hub, &m, How::Plain, true).unwrap_or_default(),
        None => Delivery::default(),
    }
}

async fn read_loop(client: ::redis::Client, first: MultiplexedConnection, ctx: Ctx) {
    let mut conn = first;
    let block = ctx.config.block();
    let block_ms = u64::try_from(block.as_millis()).unwrap_or(1000).max(1);
    loop {
        let last = lock(&ctx.replica.state).last;
        let mut cmd = ::redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(READ_BATCH)
            .arg("BLOCK")
            .arg(block_ms)
            .arg("STREAMS")
            .arg(ctx.config.log_key())
            .arg(format!("{last}-0"));
        let read: Result<::redis::Value, RedisError> = bounded(
            block + ctx.config.command_timeout,
            cmd.query_async(&mut conn),
        )
        .await;
        match read {
            Ok(v) => {
                let entries = parse_read(v);
                if entries.is_empty() {
                    // Quiet for a while: did the log start again below us
                    // (Redis lost its data and a new counter began)?
                    if check_position(&mut conn, &ctx, last).await.is_err() {
                        conn = reconnect(&client, &ctx).await;
                    }
                    ctx.replica.expire_pending(PENDING_AGE);
                    continue;
                }
                for (seq, msg) in entries {
                    take(&ctx, seq, msg);
                }
            }
            Err(_) => conn = reconnect(&client, &ctx).await,
        }
    }
}

/// Compares the log's position with the reader's; a position below it
/// means the log started again: every process signals the loss.
async fn check_position(
    conn: &mut MultiplexedConnection,
    ctx: &Ctx,
    last: u64,
) -> Result<(), RedisError> {
    let mut cmd = ::redis::cmd("GET");
    cmd.arg(ctx.config.position_key());
    let now: Option<u64> = bounded(ctx.config.command_timeout, cmd.query_async(conn)).await?;
    if let Some(now) = now.filter(|&n| n < last) {
        let mut st = lock(&ctx.replica.state);
        lose(ctx, &mut st, now);
        st.last = now;
        st.ring.clear();
        st.ring_bytes = 0;
    }
    Ok(())
}

/// A new reader connection, with backoff; counts the reconnect.
async fn reconnect(client: &::redis::Client, ctx: &Ctx) -> MultiplexedConnection {
    ctx.counters.subscribed.store(false, Ordering::Relaxed);
    let mut delay = BACKOFF_MIN;
    let conn = loop {
        tokio::time::sleep(delay).await;
        match reader_connection(client, &ctx.config).await {
            Ok(c) => break c,
            Err(_) => delay = (delay * 2).min(BACKOFF_MAX),
        }
    };
    add(&ctx.counters.reconnects, 1);
    ctx.counters.subscribed.store(true, Ordering::Relaxed);
    conn
}

/// The log's entries up to `at` are lost for this process: the hub tells
/// its tabs, and cursors below `at` are gaps here from now on.
fn lose(ctx: &Ctx, st: &mut ReplicaState, at: u64) {
    ctx.hub.lost(at);
    st.lost_to = at;
    add(&ctx.counters.gaps, 1);
}

/// Hands the entry at `seq` to the hub, in order, under the replica's lock.
fn take(ctx: &Ctx, seq: u64, msg: Bytes) {
    let mut st = lock(&ctx.replica.state);
    if seq <= st.last {
        return; // read already
    }
    if seq > st.last + 1 {
        // Entries this reader never saw (trimmed before it read them, or a
        // new counter began above it): everyone here is told.
        lose(ctx, &mut st, seq - 1);
    }
    st.last = seq;
    let Some(m) = decode_message(msg.clone()) else {
        ctx.hub.advance_to(seq);
        add(&ctx.counters.malformed, 1);
        return;
    };
    if m.kind == Kind::Lost {
        lose(ctx, &mut st, seq);
    }
    let ours = m.node == ctx.node;
    let delivery = apply(&ctx.hub, &m, How::At(seq), ours);
    let well_formed = delivery.is_some();
    if !well_formed {
        add(&ctx.counters.malformed, 1);
    }
    let mut delivery = delivery.unwrap_or_default();
    // Numbered by Redis, whether or not it reached anyone here.
    delivery.seq = Some(seq);
    st.ring_bytes += msg.len();
    st.ring.push_back((seq, msg));
    while st.ring.len() > ctx.config.log_entries || st.ring_bytes > ctx.config.ring_bytes {
        match st.ring.pop_front() {
            Some((_, m)) => st.ring_bytes -= m.len(),
            None => break,
        }
    }
    drop(st);
    if ours {
        ctx.replica.complete(m.ticket, delivery);
    } else if well_formed && m.kind != Kind::Lost {
        add(&ctx.counters.received, 1);
    }
}

/// Applies one entry to the hub, numbered as `how` says; what it reached,
/// or `None` if the entry is malformed (its position is used up all the
/// same). `ours`: sent by this process (its closed-ID store was told).
fn apply(hub: &Hub, m: &Message, how: How, ours: bool) -> Option<Delivery> {
    let text = std::str::from_utf8(&m.target).ok();
    let session = text.and_then(|s| SessionId::try_from(s).ok());
    let frame_ok = valid_frame(&m.frame);
    let event_ok = frame_ok || (m.frame.is_empty() && matches!(m.kind, Kind::Close));
    let well_formed = match m.kind {
        Kind::Session | Kind::Close | Kind::Drop => session.is_some(),
        Kind::User | Kind::Topic | Kind::EndTopic => text.is_some(),
        Kind::Broadcast | Kind::Lost => m.target.is_empty(),
    } && match m.kind {
        Kind::Drop | Kind::Lost => m.frame.is_empty(),
        _ => event_ok,
    };
    if !well_formed {
        if let How::At(seq) = how {
            hub.advance_to(seq);
        }
        return None;
    }
    let advance = || {
        if let How::At(seq) = how {
            hub.advance_to(seq);
        }
    };
    let ended = |live| Delivery {
        live,
        ..Delivery::default()
    };
    Some(match (m.kind, text, session) {
        (Kind::Session, _, Some(id)) => hub.send_as(Target::Session(&id), &m.frame, how),
        (Kind::User, Some(user), _) => {
            hub.send_as(Target::User(&UserKey::from(user)), &m.frame, how)
        }
        (Kind::Topic, Some(topic), _) => hub.send_as(Target::Topic(topic), &m.frame, how),
        (Kind::Broadcast, _, _) => hub.send_as(Target::All, &m.frame, how),
        (Kind::EndTopic, Some(topic), _) => hub.end_topic_as(topic, m.frame.clone(), how),
        (Kind::Close, _, Some(id)) => {
            advance();
            let last = (!m.frame.is_empty()).then_some(&m.frame);
            let live = hub.end_session_now(&id, last);
            if !ours {
                // A store that is not shared learns of it here (a Redis
                // round trip: off the reader's path).
                let hub = hub.clone();
                tokio::spawn(async move { hub.as_sessions().mark_closed(&id).await });
            }
            ended(live)
        }
        (Kind::Drop, _, Some(id)) => {
            advance();
            ended(hub.drop_session(&id))
        }
        _ => {
            advance();
            Delivery::default()
        }
    })
}

/// Writes the records of the sessions marked dirty (at most every
/// [`RECORD_DELAY`]), and of every live session every
/// [`RedisConfig::record_refresh`], so that a live session's record never
/// expires and an away one's expires one resume window (plus one refresh)
/// after its tab left.
async fn record_loop(mut conn: ConnectionManager, ctx: Ctx) {
    let window = ctx.hub.resume_window();
    let refresh = record_refresh(window);
    let ttl_ms = record_ttl_ms(window);
    let mut next_refresh = Instant::now() + refresh;
    loop {
        let wait = next_refresh.saturating_duration_since(Instant::now());
        let _ = tokio::time::timeout(wait, ctx.replica.dirty_wake.notified()).await;
        tokio::time::sleep(RECORD_DELAY).await;
        if Instant::now() >= next_refresh {
            next_refresh = Instant::now() + refresh;
            // One `PEXPIRE` per live session; a record that is gone (Redis
            // lost it) is written again in full.
            let live = ctx.hub.live_states();
            for chunk in live.chunks(RECORD_PIPELINE) {
                let mut pipe = ::redis::pipe();
                for state in chunk {
                    pipe.cmd("PEXPIRE")
                        .arg(ctx.config.session_key(state.id.as_str()))
                        .arg(ttl_ms);
                }
                let Ok(found) =
                    bounded::<Vec<i64>>(ctx.config.command_timeout, pipe.query_async(&mut conn))
                        .await
                else {
                    continue; // left to the next refresh
                };
                let mut pipe = ::redis::pipe();
                let mut missing = 0;
                for (state, found) in chunk.iter().zip(found) {
                    if found == 0 {
                        Record::write(&ctx.config, ttl_ms, state, true, &mut pipe);
                        missing += 1;
                    }
                }
                if missing > 0 {
                    let _ = bounded::<()>(ctx.config.command_timeout, pipe.query_async(&mut conn))
                        .await;
                }
            }
        }
        let ids: Vec<SessionId> = lock(&ctx.replica.dirty).drain().collect();
        for chunk in ids.chunks(RECORD_PIPELINE) {
            let mut pipe = ::redis::pipe();
            for id in chunk {
                match ctx.hub.session_state(id) {
                    Some(state) => Record::write(&ctx.config, ttl_ms, &state, true, &mut pipe),
                    None => {
                        pipe.cmd("DEL")
                            .arg(ctx.config.session_key(id.as_str()))
                            .ignore();
                    }
                }
            }
            // A failure leaves the records to the next refresh.
            let _ = bounded::<()>(ctx.config.command_timeout, pipe.query_async(&mut conn)).await;
        }
    }
}

/// How often the records of live sessions are written again: half the
/// resume window, between 100 ms and 30 s.
fn record_refresh(window: Duration) -> Duration {
    (window / 2).clamp(Duration::from_millis(100), Duration::from_secs(30))
}

/// How long a record lives after its last write: the resume window plus
/// one refresh.
fn record_ttl_ms(window: Duration) -> u64 {
    let ttl = window + record_refresh(window);
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Records written per pipeline.
const RECORD_PIPELINE: usize = 256;
/// Records marked dirty are written after this (several accepts share a
/// pipeline).
const RECORD_DELAY: Duration = Duration::from_millis(5);
/// Entries one `XREAD` returns at most.
const READ_BATCH: usize = 1024;
/// A send whose entry did not come back within this is given up on (its
/// future resolves with an empty [`Delivery`]).
const PENDING_AGE: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_round_trip() {
        let frame = Event::new("a\nb").to_bytes();
        let msg = encode_message(7, 9, Kind::Topic, b"news", &frame).unwrap();
        let m = decode_message(msg).unwrap();
        assert_eq!((m.node, m.ticket), (7, 9));
        assert_eq!(m.kind, Kind::Topic);
        assert_eq!(&m.target[..], b"news");
        assert_eq!(m.frame, frame);
        assert!(valid_frame(&m.frame));
    }

    #[test]
    fn truncated_or_foreign_messages_do_not_decode() {
        let msg = encode_message(1, 2, Kind::Session, b"tab-1", b"data: x\n\n").unwrap();
        for cut in 0..HEADER + 5 {
            assert!(decode_message(msg.slice(..cut)).is_none(), "cut at {cut}");
        }
        let mut bad = msg.to_vec();
        bad[0] = 1; // the pub/sub format before the log
        assert!(decode_message(Bytes::from(bad)).is_none());
        let mut bad = msg.to_vec();
        bad[17] = 99;
        assert!(decode_message(Bytes::from(bad)).is_none());
    }

    fn entry(seq: u64, kind: Kind, target: &str, data: &str) -> (u64, Bytes) {
        let frame = if data.is_empty() {
            Vec::new()
        } else {
            Event::new(data).to_bytes().to_vec()
        };
        (
            seq,
            encode_message(5, seq, kind, target.as_bytes(), &frame).unwrap(),
        )
    }

    fn state(ring: Entries, last: u64) -> ReplicaState {
        let ring_bytes = ring.iter().map(|(_, m)| m.len()).sum();
        ReplicaState {
            last,
            lost_to: 0,
            ring: ring.into(),
            ring_bytes,
        }
    }

    fn record(user: Option<&str>, scope: Option<&str>, topics: &[&str]) -> Record {
        Record {
            start: 100,
            user: user.map(UserKey::from),
            scope: scope.map(Topic::from),
            topics: topics.iter().map(|t| Topic::from(*t)).collect(),
        }
    }

    fn replayed(s: Selected) -> Result<Vec<u64>, GapReason> {
        match s {
            Selected::Plan(p) => p
                .replay
                .map(|v| v.into_iter().map(|(seq, _)| seq).collect()),
            Selected::Retry => panic!("retry"),
            Selected::Closed => panic!("closed"),
        }
    }

    /// The log around a cursor of 100: fetched 101-103, ring 104-107.
    type Entries = Vec<(u64, Bytes)>;

    fn log() -> (Entries, Entries) {
        let fetched = vec![
            entry(101, Kind::Session, "tab-1", "mine"),
            entry(102, Kind::Session, "tab-2", "not mine"),
            entry(103, Kind::User, "alice", "alice's"),
        ];
        let ring = vec![
            entry(103, Kind::User, "alice", "alice's"), // in both: once
            entry(104, Kind::Topic, "news", "news"),
            entry(105, Kind::Topic, "other", "other"),
            entry(106, Kind::Broadcast, "", "all"),
            entry(107, Kind::Drop, "tab-1", ""),
        ];
        (fetched, ring)
    }

    #[test]
    fn select_takes_what_concerns_the_session_once_in_order() {
        let (fetched, ring) = log();
        let st = state(ring, 107);
        let tab = SessionId::try_from("tab-1").unwrap();
        let rec = record(Some("alice"), None, &["news"]);
        let got = replayed(select(&st, 100, &tab, &rec, fetched.clone(), 100));
        assert_eq!(got, Ok(vec![101, 103, 104, 106]));
        // Another user: not alice's events.
        let rec = record(Some("bob"), None, &[]);
        assert_eq!(
            replayed(select(&st, 100, &tab, &rec, fetched.clone(), 100)),
            Ok(vec![101, 106])
        );
        // A job channel: no broadcasts, no user sends; its topic only.
        let rec = record(Some("alice"), Some("other"), &[]);
        assert_eq!(
            replayed(select(&st, 100, &tab, &rec, fetched.clone(), 100)),
            Ok(vec![101, 105])
        );
        // A cursor inside the ring needs nothing fetched.
        let rec = record(Some("alice"), None, &["news"]);
        assert_eq!(
            replayed(select(&st, 104, &tab, &rec, Vec::new(), 100)),
            Ok(vec![106])
        );
        assert_eq!(
            replayed(select(&st, 107, &tab, &rec, Vec::new(), 100)),
            Ok(vec![])
        );
        // More than the limit: a gap, never a partial replay.
        assert_eq!(
            replayed(select(&st, 100, &tab, &rec, fetched, 3)),
            Err(GapReason::Trimmed)
        );
    }

    #[test]
    fn select_never_replays_across_a_hole() {
        let (mut fetched, ring) = log();
        let tab = SessionId::try_from("tab-1").unwrap();
        let rec = record(None, None, &[]);
        // Redis trimmed 101: the first entry read is 102.
        fetched.remove(0);
        let st = state(ring.clone(), 107);
        assert_eq!(
            replayed(select(&st, 100, &tab, &rec, fetched, 100)),
            Err(GapReason::Trimmed)
        );
        // The ring moved on between the read and the lock: read again.
        let (fetched, _) = log();
        let st = state(ring[2..].to_vec(), 107); // starts at 105
        assert!(matches!(
            select(&st, 100, &tab, &rec, fetched, 100),
            Selected::Retry
        ));
        // The ring does not reach the reader's position (it cannot happen,
        // but if it did): a gap.
        let (fetched, ring) = log();
        let st = state(ring, 108);
        assert_eq!(
            replayed(select(&st, 100, &tab, &rec, fetched, 100)),
            Err(GapReason::Trimmed)
        );
        // A cursor below what this process lost.
        let (fetched, ring) = log();
        let mut st = state(ring, 107);
        st.lost_to = 102;
        assert_eq!(
            replayed(select(&st, 100, &tab, &rec, fetched, 100)),
            Err(GapReason::Lost)
        );
    }

    #[test]
    fn select_stops_at_a_loss_a_close_or_the_end_of_a_job() {
        let tab = SessionId::try_from("tab-1").unwrap();
        let rec = record(None, None, &[]);
        let lost = state(
            vec![
                entry(101, Kind::Broadcast, "", "a"),
                entry(102, Kind::Lost, "", ""),
            ],
            102,
        );
        assert_eq!(
            replayed(select(&lost, 100, &tab, &rec, Vec::new(), 100)),
            Err(GapReason::Lost)
        );
        assert_eq!(
            replayed(select(&lost, 102, &tab, &rec, Vec::new(), 100)),
            Ok(vec![])
        );
        let closed = state(
            vec![
                entry(101, Kind::Broadcast, "", "a"),
                entry(102, Kind::Close, "tab-1", ""),
            ],
            102,
        );
        assert!(matches!(
            select(&closed, 100, &tab, &rec, Vec::new(), 100),
            Selected::Closed
        ));
        let job = state(
            vec![
                entry(101, Kind::Topic, "job", "50 %"),
                entry(102, Kind::EndTopic, "job", "done"),
                entry(103, Kind::Topic, "job", "after the end"),
            ],
            103,
        );
        let rec = record(None, Some("job"), &[]);
        match select(&job, 100, &tab, &rec, Vec::new(), 100) {
            Selected::Plan(p) => {
                assert!(p.end);
                let seqs: Vec<u64> = p.replay.unwrap().into_iter().map(|(s, _)| s).collect();
                assert_eq!(seqs, [101, 102]);
            }
            _ => panic!("a plan"),
        }
        // Forged entries (an `id:` line in the frame) are not replayed.
        let forged = (
            101,
            encode_message(5, 1, Kind::Broadcast, b"", b"id: x\ndata: y\n\n").unwrap(),
        );
        let st = state(vec![forged], 101);
        let rec = record(None, None, &[]);
        assert_eq!(
            replayed(select(&st, 100, &tab, &rec, Vec::new(), 100)),
            Ok(vec![])
        );
    }

    #[test]
    fn records_parse_or_are_refused() {
        let f = |k: &str, v: &str| (k.as_bytes().to_vec(), v.as_bytes().to_vec());
        let r = Record::parse(&[
            f("a", "123"),
            f("u", "alice"),
            f("t:news", "1"),
            f("t:jobs/1", "1"),
            f("x", "?"),
        ])
        .unwrap();
        assert_eq!(
            r,
            record_with(123, Some("alice"), None, &["news", "jobs/1"])
        );
        assert_eq!(Record::parse(&[]), None, "no record");
        assert_eq!(Record::parse(&[f("u", "alice")]), None, "no start");
        assert_eq!(Record::parse(&[f("a", "not a number")]), None);
        assert_eq!(
            Record::parse(&[(b"a".to_vec(), vec![0xff])]),
            None,
            "not UTF-8"
        );
        let r = Record::parse(&[f("a", "7"), f("s", "job-1")]).unwrap();
        assert_eq!(r, record_with(7, None, Some("job-1"), &[]));
    }

    fn record_with(start: u64, user: Option<&str>, scope: Option<&str>, topics: &[&str]) -> Record {
        Record {
            start,
            ..record(user, scope, topics)
        }
    }

    #[test]
    fn entries_parse_from_xrange_and_xread_replies() {
        use ::redis::Value;
        let e = |id: &str, m: &[u8]| {
            Value::Array(vec![
                Value::BulkString(id.as_bytes().to_vec()),
                Value::Array(vec![
                    Value::BulkString(b"m".to_vec()),
                    Value::BulkString(m.to_vec()),
                ]),
            ])
        };
        let range = Value::Array(vec![
            e("5-0", b"x"),
            e("6-1", b"odd id"),
            e("junk", b"y"),
            e("7-0", b"z"),
        ]);
        let got = parse_entries(range.clone());
        assert_eq!(
            got,
            vec![(5, Bytes::from_static(b"x")), (7, Bytes::from_static(b"z"))]
        );
        let read = Value::Array(vec![Value::Array(vec![
            Value::BulkString(b"ns:log".to_vec()),
            range.clone(),
        ])]);
        assert_eq!(parse_read(read), got);
        let read3 = Value::Map(vec![(Value::BulkString(b"ns:log".to_vec()), range)]);
        assert_eq!(parse_read(read3), got);
        assert!(parse_read(Value::Nil).is_empty());
    }

    #[test]
    fn frames_with_ids_or_several_events_are_refused() {
        assert!(valid_frame(b"data: x\n\n"));
        assert!(valid_frame(b"event: a\ndata: x\ndata: y\n\n"));
        assert!(valid_frame(b": comment\ndata: x\n\n"));
        assert!(!valid_frame(b"id: S.9\ndata: x\n\n"));
        assert!(!valid_frame(b"data: x\nid\n\n"));
        assert!(!valid_frame(b"data: x\n\ndata: y\n\n"));
        assert!(!valid_frame(b"data: x\r\n\r\n"));
        assert!(!valid_frame(b"data: x\n"));
        assert!(!valid_frame(b"\n"));
        assert!(!valid_frame(b""));
        // A line starting with "id" that is another field is fine.
        assert!(valid_frame(b"idle: x\ndata: y\n\n"));
    }

    #[test]
    fn every_event_frame_is_valid() {
        let e = Event::builder()
            .name("price")
            .data("1\n2")
            .retry_ms(1500)
            .comment("c")
            .build()
            .unwrap();
        assert!(valid_frame(&e.to_bytes()));
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("redis://user:secret@host:6379/0"),
            "redis://user:***@host:6379/0"
        );
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
        let d = format!("{:?}", RedisConfig::new("redis://:pw@h"));
        assert!(!d.contains("pw"), "{d}");
    }
}
