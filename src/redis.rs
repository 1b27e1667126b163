//! Several server processes on one Redis: closed IDs that every process sees
//! ([`RedisClosedIds`]) and sends that reach the connections of every process
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
//! bus.broadcast(&Event::new("to every tab on every process"));
//! # Ok(()) }
//! ```
//!
//! # What lives in Redis
//!
//! - One key per closed session, `<namespace>:closed:<session id>`, value
//!   `1`, written with `SET .. PX <ttl>`: Redis expires it, so nothing grows
//!   with the number of sessions ever closed (there is no set of IDs).
//! - One pub/sub channel, `<namespace>:bus`. Every send through a
//!   [`RedisBus`] is one `PUBLISH` of one message on it, whatever the number
//!   of processes and connections; each process runs one subscriber that
//!   hands the message to its local [`Hub`].
//!
//! Session state (user binding, topics, the resume mailbox) stays in the
//! process that holds the tab's connection: a tab that reconnects to another
//! process is a new session there and gets the gap signal
//! ([`Resume::Gap`](crate::live::Resume::Gap)), never a wrong replay, because
//! each hub numbers its events from its own random base.
//!
//! # Faults
//!
//! - **Redis unreachable at start**: [`RedisClosedIds::connect`] and
//!   [`RedisBus::connect`] return a [`RedisError`] within
//!   [`RedisConfig::connect_timeout`], never hang.
//! - **Redis goes away later**: local delivery goes on untouched (the origin
//!   process delivers to its own connections itself, before and without
//!   Redis). Messages that cannot be published are **lost for the other
//!   processes** and counted in [`BusStats::lost`]; pub/sub keeps no
//!   history, so what was published while a subscriber was disconnected is
//!   lost for that process too. The subscriber reconnects by itself with
//!   backoff (100 ms doubling to 5 s) and counts it in
//!   [`BusStats::reconnects`]. The closed-ID store reads as *not closed*
//!   while Redis does not answer within [`RedisConfig::command_timeout`]
//!   (fail-open, as the [`ClosedIds`] contract asks: a false negative lets a
//!   tab reconnect into a closed session; a failed request would cost more),
//!   and counts the error ([`RedisClosedIds::errors`]); the typed result is
//!   there too ([`RedisClosedIds::check`]).
//! - **A half-open connection** (Redis failed over to another machine, a NAT
//!   or firewall forgot the flow: no reset, no answer) never ends by itself.
//!   The subscriber sends a `PING` after [`RedisConfig::ping_interval`] of
//!   silence and replaces a connection that does not answer within
//!   [`RedisConfig::command_timeout`]; a command that times out makes the
//!   publisher and the closed-ID store replace their connection too.
//! - Nothing in a send waits on Redis: the message goes into a bounded queue
//!   ([`RedisConfig::publish_queue`]) that one task writes to Redis in order,
//!   pipelined; a full queue drops the message for the other processes
//!   (counted in [`BusStats::lost`]). No lock is held across any Redis call.
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
//! lighter; the one thing fred does for us that redis-rs does not (pub/sub
//! resubscription) is a short loop here that we test against a restarted
//! Redis.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::redis::aio::ConnectionManager;
use ::redis::aio::ConnectionManagerConfig;
use bytes::{BufMut, Bytes, BytesMut};
use futures_core::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::event::Event;
use crate::field::EventName;
use crate::live::{Accepted, Delivery, Hub, UserKey};
use http::request::Parts;
use crate::parse::{parse_all, Frame};
use crate::session::{ClosedIds, SessionId};

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
const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(10);
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
/// assert_eq!(config.channel(), "shop:bus");
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
        }
    }

    /// The prefix of every key and channel (default `sse-session`), so that
    /// several applications (or test runs) can share one Redis. Processes
    /// that serve the same tabs must use the same namespace.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// How long a connect (first connection, or a subscriber's reconnect
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

    /// The most messages waiting to be published (default 4096). A send
    /// that finds the queue full is still delivered locally, but is lost for
    /// the other processes and counted in [`BusStats::lost`]. Values below 1
    /// count as 1.
    pub fn publish_queue(mut self, messages: usize) -> Self {
        self.publish_queue = messages.max(1);
        self
    }

    /// How long the bus's subscriber may hear nothing before it checks its
    /// connection with a `PING` (default 10 s). A connection that does not
    /// answer within [`command_timeout`](Self::command_timeout) is replaced.
    /// This finds a half-open connection (Redis failed over to another
    /// machine, a NAT or firewall dropped the flow), which never ends by
    /// itself. Values below 10 ms count as 10 ms.
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// The key that marks `session` closed.
    #[must_use]
    pub fn closed_key(&self, session: &str) -> String {
        format!("{}:closed:{session}", self.namespace)
    }

    /// The pub/sub channel of the bus.
    #[must_use]
    pub fn channel(&self) -> String {
        format!("{}:bus", self.namespace)
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
const VERSION: u8 = 1;
/// Header: version, origin node (8 bytes), kind, target length (2 bytes).
const HEADER: usize = 1 + 8 + 1 + 2;

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
            _ => return None,
        })
    }
}

/// One bus message: `[version][node: u64 LE][kind][target len: u16 BE][target][frame]`.
/// The frame is the event as the hub sends it (`Event::to_bytes`), encoded
/// once by the origin; empty for `Drop` and for a `Close` without a last event.
fn encode_message(node: u64, kind: Kind, target: &[u8], frame: &[u8]) -> Option<Bytes> {
    let len = u16::try_from(target.len()).ok()?;
    let mut buf = BytesMut::with_capacity(HEADER + target.len() + frame.len());
    buf.put_u8(VERSION);
    buf.put_u64_le(node);
    buf.put_u8(kind as u8);
    buf.put_u16(len);
    buf.put_slice(target);
    buf.put_slice(frame);
    Some(buf.freeze())
}

#[derive(Debug, PartialEq, Eq)]
struct Message {
    node: u64,
    kind: Kind,
    target: Bytes,
    frame: Bytes,
}

fn decode_message(msg: Bytes) -> Option<Message> {
    if msg.len() < HEADER || msg[0] != VERSION {
        return None;
    }
    let node = u64::from_le_bytes(msg[1..9].try_into().ok()?);
    let kind = Kind::from_u8(msg[9])?;
    let len = usize::from(u16::from_be_bytes([msg[10], msg[11]]));
    if msg.len() < HEADER + len {
        return None;
    }
    Some(Message {
        node,
        kind,
        target: msg.slice(HEADER..HEADER + len),
        frame: msg.slice(HEADER + len..),
    })
}

/// Whether `frame` is one whole event frame as the encoder writes it, with
/// no `id:` line (the hub writes each connection's own): `\n` line ends, no
/// `\r`, one blank line, at the end. A message from Redis is input from the
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

/// The event of a valid frame, rebuilt for [`Hub::close_session`] (which
/// takes an `Event`): name, data and retry (comments are not kept).
fn frame_event(frame: &[u8]) -> Option<Event> {
    let mut event: Option<Event> = None;
    let mut retry = None;
    for f in parse_all(frame).ok()? {
        match f {
            Frame::Event(e) if event.is_none() => {
                let mut ev = Event::new(e.data());
                if e.event_type() != "message" {
                    ev = ev.with_name(EventName::try_from(e.event_type()).ok()?);
                }
                event = Some(ev);
            }
            Frame::Retry(r) => retry = Some(r),
            _ => {}
        }
    }
    let mut event = event?;
    if let Some(r) = retry {
        event = event.with_retry(r);
    }
    Some(event)
}

/// Counters of a [`RedisBus`] ([`RedisBus::stats`]).
///
/// `published + lost` is the number of sends made through the bus (once each
/// has left the queue); `lost` is what the other processes missed for sure.
/// A message published while another process's subscriber was reconnecting
/// is lost for that process without being counted anywhere (pub/sub keeps
/// no history); its [`reconnects`](Self::reconnects) tells that it may have
/// happened.
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
    /// Messages written to Redis (one per send).
    pub published: u64,
    /// Sends delivered locally but not written to Redis (queue full, Redis
    /// down or too slow): lost for the other processes.
    pub lost: u64,
    /// Messages from other processes handed to the local hub.
    pub received: u64,
    /// Messages from Redis that did not decode (dropped).
    pub malformed: u64,
    /// How often the subscriber lost its connection and made a new one.
    pub reconnects: u64,
    /// Whether the subscriber is connected now.
    pub subscribed: bool,
}

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    lost: AtomicU64,
    received: AtomicU64,
    malformed: AtomicU64,
    reconnects: AtomicU64,
    subscribed: AtomicBool,
}

/// A [`Hub`] whose sends reach the connections of every process on the same
/// Redis namespace.
///
/// Each send method delivers to this process's connections at once, as the
/// hub's own method does (it returns the hub's [`Delivery`], which counts
/// this process only), and queues **one** message for Redis: one `PUBLISH`
/// on the namespace's channel, whatever the number of processes and
/// connections. Every process (this one included) runs one subscriber task
/// on that channel; it skips its own messages (already delivered) and hands
/// the others to its hub, which encodes nothing again: the message carries
/// the frame the origin encoded once, and the hub shares it between its
/// connections.
///
/// Sends from one process reach another in the order they were made; sends
/// from several processes interleave in the order Redis received them.
/// Events that a process's tabs get from another process are numbered by
/// that process's hub and are in its resume mailboxes like local ones.
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
/// // Accept through the local hub, as without Redis ...
/// # let parts = http::Request::get("/events").body(()).unwrap().into_parts().0;
/// let accepted = bus.hub().accept(&parts, None).await;
/// // ... and send through the bus: this reaches the tab on whichever process it is.
/// let tab = SessionId::try_from("tab-1").unwrap();
/// let here = bus.send_to_session(&tab, &Event::new("hello"));
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
    tx: mpsc::Sender<Bytes>,
    counters: Arc<Counters>,
    tasks: [JoinHandle<()>; 2],
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

/// A pub/sub connection subscribed to `channel`, within the connect timeout.
async fn subscribe(
    client: &::redis::Client,
    channel: &str,
    limit: Duration,
) -> Result<::redis::aio::PubSub, RedisError> {
    bounded(limit, async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok(pubsub)
    })
    .await
}

impl RedisBus {
    /// Connects `hub` to the Redis of `config`: a command connection for
    /// publishing and a subscriber on the namespace's channel, both made
    /// before this returns (so a send made on another process after it
    /// returned reaches this hub). Spawns two tokio tasks.
    ///
    /// # Errors
    ///
    /// [`InvalidUrl`](RedisErrorKind::InvalidUrl) for a bad URL;
    /// [`Unreachable`](RedisErrorKind::Unreachable) or
    /// [`Timeout`](RedisErrorKind::Timeout) if a connection is not made
    /// within [`RedisConfig::connect_timeout`] (each of the two).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub async fn connect(hub: Hub, config: &RedisConfig) -> Result<Self, RedisError> {
        let client = config.client()?;
        let conn = config.manager().await?;
        let channel = config.channel();
        let pubsub = subscribe(&client, &channel, config.connect_timeout).await?;
        let node = node_id();
        let counters = Arc::new(Counters::default());
        counters.subscribed.store(true, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(config.publish_queue);
        let writer = tokio::spawn(write_loop(conn, config.clone(), rx, Arc::clone(&counters)));
        let reader = tokio::spawn(read_loop(
            client,
            config.clone(),
            pubsub,
            hub.clone(),
            node,
            Arc::clone(&counters),
        ));
        Ok(Self {
            inner: Arc::new(BusInner {
                hub,
                node,
                tx,
                counters,
                tasks: [writer, reader],
            }),
        })
    }

    /// The local hub (accept connections through it; its own send methods
    /// reach this process only).
    #[must_use]
    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    /// [`Hub::accept`] for a tab that may come from another process: accept
    /// every `EventSource` request of a bus's hub through here, so that a
    /// tab whose previous connection was on another process is replayed
    /// what it missed (see the [module docs](self)).
    pub async fn accept(&self, parts: &Parts, user: Option<UserKey>) -> Accepted {
        self.inner.hub.accept(parts, user).await
    }

    /// [`Hub::accept_scoped`] through the bus (see [`accept`](Self::accept)).
    pub async fn accept_scoped(
        &self,
        parts: &Parts,
        user: Option<UserKey>,
        topic: &str,
    ) -> Accepted {
        self.inner.hub.accept_scoped(parts, user, topic).await
    }

    /// [`Hub::subscribe`] on the session's own process, kept with the
    /// session's state so that another process replays the topic's events
    /// too after the tab moved there.
    pub fn subscribe(&self, session: &SessionId, topic: &str) -> bool {
        self.inner.hub.subscribe(session, topic)
    }

    /// [`Hub::unsubscribe`], kept with the session's state (see
    /// [`subscribe`](Self::subscribe)).
    pub fn unsubscribe(&self, session: &SessionId, topic: &str) -> bool {
        self.inner.hub.unsubscribe(session, topic)
    }

    /// Counters since the bus was made.
    #[must_use]
    pub fn stats(&self) -> BusStats {
        let c = &*self.inner.counters;
        BusStats {
            published: c.published.load(Ordering::Relaxed),
            lost: c.lost.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            malformed: c.malformed.load(Ordering::Relaxed),
            reconnects: c.reconnects.load(Ordering::Relaxed),
            subscribed: c.subscribed.load(Ordering::Relaxed),
        }
    }

    /// Queues one message for Redis; never waits.
    fn forward(&self, kind: Kind, target: &[u8], frame: &[u8]) {
        let Some(msg) = encode_message(self.inner.node, kind, target, frame) else {
            // A target over 64 KiB (a user key or topic): cannot be framed.
            self.inner.counters.lost.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if self.inner.tx.try_send(msg).is_err() {
            self.inner.counters.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// [`Hub::send_to_session`] on every process. An event with an `id:` is
    /// refused (by the local hub, and not forwarded).
    pub fn send_to_session(&self, session: &SessionId, event: &Event) -> Delivery {
        if event.id().is_some() {
            return self.inner.hub.send_to_session(session, event);
        }
        let frame = event.to_bytes();
        let d = self.inner.hub.send_to_session_bytes(session, &frame);
        self.forward(Kind::Session, session.as_bytes(), &frame);
        d
    }

    /// [`Hub::send_to_user`] on every process.
    pub fn send_to_user(&self, user: &UserKey, event: &Event) -> Delivery {
        if event.id().is_some() {
            return self.inner.hub.send_to_user(user, event);
        }
        let frame = event.to_bytes();
        let d = self.inner.hub.send_to_user_bytes(user, &frame);
        self.forward(Kind::User, user.as_str().as_bytes(), &frame);
        d
    }

    /// [`Hub::publish`] on every process.
    pub fn publish(&self, topic: &str, event: &Event) -> Delivery {
        if event.id().is_some() {
            return self.inner.hub.publish(topic, event);
        }
        let frame = event.to_bytes();
        let d = self.inner.hub.publish_bytes(topic, &frame);
        self.forward(Kind::Topic, topic.as_bytes(), &frame);
        d
    }

    /// [`Hub::broadcast`] on every process.
    pub fn broadcast(&self, event: &Event) -> Delivery {
        if event.id().is_some() {
            return self.inner.hub.broadcast(event);
        }
        let frame = event.to_bytes();
        let d = self.inner.hub.broadcast_bytes(&frame);
        self.forward(Kind::Broadcast, &[], &frame);
        d
    }

    /// [`Hub::end_topic`] on every process. The final event reaches other
    /// processes with its name, data and retry (not its comments).
    pub fn end_topic(&self, topic: &str, last: &Event) -> Delivery {
        if last.id().is_some() {
            return self.inner.hub.end_topic(topic, last);
        }
        let d = self.inner.hub.end_topic(topic, last);
        self.forward(Kind::EndTopic, topic.as_bytes(), &last.to_bytes());
        d
    }

    /// [`Hub::close_session`] on every process: the ID is marked closed in
    /// the hub's closed-ID store (a [`RedisClosedIds`] makes the `204` seen
    /// everywhere), and every process ends the session's connections after
    /// `last`. Returns the connections ended on this process. Each process
    /// marks the ID again (a no-op for the store beyond restarting the TTL).
    /// A `last` event reaches other processes with its name, data and
    /// retry (not its comments).
    pub async fn close_session(&self, session: &SessionId, last: Option<Event>) -> usize {
        let frame = last
            .as_ref()
            .filter(|e| e.id().is_none())
            .map(Event::to_bytes);
        let n = self.inner.hub.close_session(session, last).await;
        self.forward(
            Kind::Close,
            session.as_bytes(),
            frame.as_deref().unwrap_or(&[]),
        );
        n
    }

    /// [`Hub::drop_session`] on every process: the session's connections end
    /// without closing it, and its tab reconnects (to whichever process).
    /// Returns the connections ended on this process.
    pub fn drop_session(&self, session: &SessionId) -> usize {
        let n = self.inner.hub.drop_session(session);
        self.forward(Kind::Drop, session.as_bytes(), &[]);
        n
    }
}

/// A random ID for this bus, so its subscriber can skip its own messages.
fn node_id() -> u64 {
    let (a, _) = uuid::Uuid::new_v4().as_u64_pair();
    a
}

async fn write_loop(
    mut conn: ConnectionManager,
    config: RedisConfig,
    mut rx: mpsc::Receiver<Bytes>,
    counters: Arc<Counters>,
) {
    let channel = config.channel();
    let mut batch = Vec::with_capacity(PIPELINE);
    while rx.recv_many(&mut batch, PIPELINE).await > 0 {
        let mut pipe = ::redis::pipe();
        for msg in &batch {
            pipe.cmd("PUBLISH").arg(&channel).arg(msg.as_ref()).ignore();
        }
        let n = batch.len() as u64;
        match bounded::<()>(config.command_timeout, pipe.query_async(&mut conn)).await {
            Ok(()) => {
                counters.published.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                counters.lost.fetch_add(n, Ordering::Relaxed);
                // A half-open connection only ever times out: replace it (the
                // queue takes the sends meanwhile). Other failures are the
                // connection manager's to repair.
                if e.kind == RedisErrorKind::Timeout {
                    if let Ok(fresh) = config.manager().await {
                        conn = fresh;
                    }
                }
            }
        }
        batch.clear();
    }
}

async fn read_loop(
    client: ::redis::Client,
    config: RedisConfig,
    first: ::redis::aio::PubSub,
    hub: Hub,
    node: u64,
    counters: Arc<Counters>,
) {
    let channel = config.channel();
    let mut pubsub = first;
    loop {
        let (mut sink, mut stream) = pubsub.split();
        loop {
            let next = std::future::poll_fn(|cx| Stream::poll_next(Pin::new(&mut stream), cx));
            match tokio::time::timeout(config.ping_interval, next).await {
                Ok(Some(msg)) => {
                    let payload = Bytes::copy_from_slice(msg.get_payload_bytes());
                    dispatch(&hub, node, &counters, payload);
                }
                Ok(None) => break, // the connection ended
                Err(_) => {
                    // Quiet for a while: is anyone there?
                    let ping = sink.ping::<::redis::Value>();
                    if bounded(config.command_timeout, ping).await.is_err() {
                        break;
                    }
                }
            }
        }
        drop((sink, stream));
        counters.subscribed.store(false, Ordering::Relaxed);
        let mut delay = BACKOFF_MIN;
        pubsub = loop {
            tokio::time::sleep(delay).await;
            match subscribe(&client, &channel, config.connect_timeout).await {
                Ok(p) => break p,
                Err(_) => delay = (delay * 2).min(BACKOFF_MAX),
            }
        };
        counters.reconnects.fetch_add(1, Ordering::Relaxed);
        counters.subscribed.store(true, Ordering::Relaxed);
    }
}

/// Hands one message from Redis to the local hub.
fn dispatch(hub: &Hub, node: u64, counters: &Counters, payload: Bytes) {
    let Some(m) = decode_message(payload) else {
        counters.malformed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    if m.node == node {
        return; // ours: delivered locally when it was sent
    }
    if apply(hub, &m) {
        counters.received.fetch_add(1, Ordering::Relaxed);
    } else {
        counters.malformed.fetch_add(1, Ordering::Relaxed);
    }
}

/// Applies a decoded message; `false` if it is malformed.
fn apply(hub: &Hub, m: &Message) -> bool {
    let text = || std::str::from_utf8(&m.target).ok();
    let session = || text().and_then(|s| SessionId::try_from(s).ok());
    let frame_ok = valid_frame(&m.frame);
    match m.kind {
        Kind::Session => match session() {
            Some(id) if frame_ok => {
                let _ = hub.send_to_session_bytes(&id, &m.frame);
            }
            _ => return false,
        },
        Kind::User => match text() {
            Some(user) if frame_ok => {
                let _ = hub.send_to_user_bytes(&UserKey::from(user), &m.frame);
            }
            _ => return false,
        },
        Kind::Topic => match text() {
            Some(topic) if frame_ok => {
                let _ = hub.publish_bytes(topic, &m.frame);
            }
            _ => return false,
        },
        Kind::Broadcast => {
            if !frame_ok || !m.target.is_empty() {
                return false;
            }
            let _ = hub.broadcast_bytes(&m.frame);
        }
        Kind::EndTopic => match (text(), frame_event(&m.frame)) {
            (Some(topic), Some(last)) if frame_ok => {
                let _ = hub.end_topic(topic, &last);
            }
            _ => return false,
        },
        Kind::Close => {
            let Some(id) = session() else { return false };
            let last = if m.frame.is_empty() {
                None
            } else if frame_ok {
                match frame_event(&m.frame) {
                    Some(e) => Some(e),
                    None => return false,
                }
            } else {
                return false;
            };
            // Marks the store (a Redis round trip): off the subscriber's path.
            let hub = hub.clone();
            tokio::spawn(async move { hub.close_session(&id, last).await });
        }
        Kind::Drop => match session() {
            Some(id) if m.frame.is_empty() => {
                let _ = hub.drop_session(&id);
            }
            _ => return false,
        },
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_round_trip() {
        let frame = Event::new("a\nb").to_bytes();
        let msg = encode_message(7, Kind::Topic, b"news", &frame).unwrap();
        let m = decode_message(msg).unwrap();
        assert_eq!(m.node, 7);
        assert_eq!(m.kind, Kind::Topic);
        assert_eq!(&m.target[..], b"news");
        assert_eq!(m.frame, frame);
        assert!(valid_frame(&m.frame));
    }

    #[test]
    fn truncated_or_foreign_messages_do_not_decode() {
        let msg = encode_message(1, Kind::Session, b"tab-1", b"data: x\n\n").unwrap();
        for cut in 0..HEADER + 5 {
            assert!(decode_message(msg.slice(..cut)).is_none(), "cut at {cut}");
        }
        let mut bad = msg.to_vec();
        bad[0] = 2;
        assert!(decode_message(Bytes::from(bad)).is_none());
        let mut bad = msg.to_vec();
        bad[9] = 99;
        assert!(decode_message(Bytes::from(bad)).is_none());
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
    fn every_event_frame_is_valid_and_rebuilds() {
        let e = Event::builder()
            .name("price")
            .data("1\n2")
            .retry_ms(1500)
            .comment("c")
            .build()
            .unwrap();
        let frame = e.to_bytes();
        assert!(valid_frame(&frame));
        let back = frame_event(&frame).unwrap();
        assert_eq!(back.name().map(|n| n.as_str()), Some("price"));
        assert_eq!(back.data(), Some("1\n2"));
        assert_eq!(back.retry().map(|r| r.as_millis()), Some(1500));
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
