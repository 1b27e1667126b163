//! What an `EventSource` does between connections, without the connections:
//! a sans-IO reconnect state machine ([`Reconnect`]).
//!
//! It is the client side's counterpart of the parser: HTTP responses, body
//! bytes and the time go in; frames, requests to send, timers to arm and
//! lifecycle changes come out. It never blocks, spawns, reads a clock or
//! opens a socket, so the async client (`client` feature) is a thin loop
//! around it, and every rule below is unit-tested with a fake clock.
//!
//! # The rules, and where they come from
//!
//! WHATWG HTML's [processing model] for `EventSource`, for what a browser
//! does; and where a browser gives up, what a server-to-server client needs
//! instead (marked *client*):
//!
//! | the server … | the machine … |
//! |---|---|
//! | answers 200 with `Content-Type: text/event-stream` (parameters allowed, any case) | opens the stream ([announce the connection]) and parses the body with this crate's [`Parser`] |
//! | answers 200 with another content type, or none | stops for good: [`StopReason::ContentType`] ([fail the connection]) |
//! | answers 204 No Content | stops for good: [`StopReason::NoContent`] (a server's way to say "done"; the spec fails the connection on every status but 200) |
//! | answers 408, 429 or any 5xx | *client*: reconnects with backoff, honouring `Retry-After` (delta-seconds or HTTP-date). A browser fails the connection here; a server-to-server stream would then die on every deploy. [`ReconnectConfig::stop_on_status`] / [`retry_on_status`](ReconnectConfig::retry_on_status) change the set, [`stop_on_every_error_status`](ReconnectConfig::stop_on_every_error_status) gives the browser's rule |
//! | answers any other status (other 2xx, 3xx that the HTTP client did not follow, 4xx) | stops for good: [`StopReason::Status`] ([fail the connection]; redirects are the HTTP client's job) |
//! | cannot be reached (DNS, refused, TLS), or no response head within the connect timeout | reconnects with backoff (a network error: [reestablish the connection]) |
//! | ends the stream, cleanly or not, or goes silent past the idle timeout | discards the unfinished event ([`Parser::finish`]) and reconnects ([reestablish the connection]) |
//! | sends `id:` | keeps it across reconnects (the *last event ID string*); the next request carries it as `Last-Event-ID`, and carries no such header while it is empty ([reestablish the connection], step 5.3) |
//! | sends `retry:` | keeps it across reconnects as the reconnection time |
//!
//! The delay before reconnect attempt *n* (1 after a good stream, counting
//! up while attempts fail) is
//!
//! ```text
//! base  = max(reconnection time, min_delay)          // retry: 0 never means a tight loop
//! delay = min(base × 2^(n−1), max(max_delay, base))  // exponential backoff with a cap;
//!                                                    //   a server's retry above the cap wins
//! delay = delay × (1 + jitter × u), u uniform in [0, 1)
//! delay = max(delay, min(Retry-After, max_retry_after))   // on a retried status
//! ```
//!
//! so it is never shorter than the reconnection time ("wait a delay equal to
//! the reconnection time … optionally wait some more … user agents might
//! introduce an exponential backoff delay", [reestablish the connection]). A
//! stream is *good*, and resets `n` to 1, once it delivered an event or stayed
//! open for [`ReconnectConfig::reset_after`]; a server that accepts and
//! closes at once, or answers 500 again and again, backs off. After
//! [`ReconnectConfig::max_attempts`] failed attempts in a row the machine
//! stops ([`StopReason::AttemptsExhausted`]).
//!
//! [processing model]: https://html.spec.whatwg.org/multipage/server-sent-events.html#sse-processing-model
//! [announce the connection]: https://html.spec.whatwg.org/multipage/server-sent-events.html#announce-the-connection
//! [fail the connection]: https://html.spec.whatwg.org/multipage/server-sent-events.html#fail-the-connection
//! [reestablish the connection]: https://html.spec.whatwg.org/multipage/server-sent-events.html#reestablish-the-connection

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, DATE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::field::EventId;
use crate::parse::{Frame, ParseError, Parser, ParserConfig};

// ---------------------------------------------------------------------------
// config

/// The statuses a [`Reconnect`] retries (a set of 100–999).
#[derive(Clone, Copy, PartialEq, Eq)]
struct StatusSet([u64; 15]);

impl StatusSet {
    const EMPTY: StatusSet = StatusSet([0; 15]);

    fn index(status: StatusCode) -> (usize, u64) {
        let i = usize::from(status.as_u16() - 100);
        (i / 64, 1 << (i % 64))
    }

    fn contains(&self, status: StatusCode) -> bool {
        let (word, bit) = StatusSet::index(status);
        self.0[word] & bit != 0
    }

    fn set(&mut self, status: StatusCode, on: bool) {
        let (word, bit) = StatusSet::index(status);
        if on {
            self.0[word] |= bit;
        } else {
            self.0[word] &= !bit;
        }
    }

    fn iter(&self) -> impl Iterator<Item = StatusCode> + '_ {
        (100..1000u16)
            .filter_map(|code| StatusCode::from_u16(code).ok())
            .filter(|s| self.contains(*s))
    }
}

/// How a [`Reconnect`] waits, retries and gives up. `#[non_exhaustive]`: build
/// it from [`Default`] with the chained setters.
///
/// | setting | default | why |
/// |---|---|---|
/// | [`reconnection_time`](Self::reconnection_time) | 3 s | until the server sends `retry:`; what Chromium and WebKit use |
/// | [`min_delay`](Self::min_delay) | 100 ms | the floor under every delay: `retry: 0` must not become a tight reconnect loop (LaunchDarkly's client had that bug, its PR #135); at most 10 requests a second even against a server that asks for 0 |
/// | [`max_delay`](Self::max_delay) | 30 s | the backoff's cap (before jitter): a client comes back within half a minute of a server's recovery |
/// | [`jitter`](Self::jitter) | 0.5 | each delay is lengthened by up to 50 %, so that clients cut off together do not come back together |
/// | [`max_attempts`](Self::max_attempts) | none | an `EventSource` never gives up on a reachable server; set a number for batch jobs and tools |
/// | [`reset_after`](Self::reset_after) | 60 s | a stream open this long counts as good even without events (a quiet stream of keep-alives) |
/// | [`max_retry_after`](Self::max_retry_after) | 10 min | a `Retry-After` is honoured up to this; a bogus one cannot park the client for days |
/// | [`connect_timeout`](Self::connect_timeout) | 30 s | from sending the request to the response head (DNS, TCP, TLS and the server's first answer) |
/// | [`idle_timeout`](Self::idle_timeout) | 5 min | a stream silent this long is dropped and reconnected: a dead TCP connection is otherwise noticed after hours. Servers send keep-alive comments well within it (this crate's every 15 s) |
/// | statuses retried | 408, 429, 500–599 | transient by definition (timeouts, rate limits, server errors); every other status but 200 stops |
/// | [`parser`](Self::parser) | [`ParserConfig::default`] | the parser's limits |
///
/// ```
/// use std::time::Duration;
/// use http::StatusCode;
/// use sse_session::reconnect::ReconnectConfig;
///
/// let config = ReconnectConfig::default()
///     .reconnection_time(Duration::from_secs(1))
///     .max_attempts(Some(5))
///     .stop_on_status(StatusCode::NOT_IMPLEMENTED);
/// assert!(!config.is_retried(StatusCode::NOT_IMPLEMENTED));
/// assert!(config.is_retried(StatusCode::SERVICE_UNAVAILABLE));
/// ```
#[derive(Clone, Copy, PartialEq)]
#[non_exhaustive]
#[must_use]
pub struct ReconnectConfig {
    reconnection_time: Duration,
    min_delay: Duration,
    max_delay: Duration,
    jitter: f64,
    max_attempts: Option<u32>,
    reset_after: Duration,
    max_retry_after: Duration,
    connect_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    retry: StatusSet,
    parser: ParserConfig,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        let mut retry = StatusSet::EMPTY;
        for code in [408, 429].into_iter().chain(500..600) {
            if let Ok(status) = StatusCode::from_u16(code) {
                retry.set(status, true);
            }
        }
        ReconnectConfig {
            reconnection_time: Duration::from_secs(3),
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
            jitter: 0.5,
            max_attempts: None,
            reset_after: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(600),
            connect_timeout: Some(Duration::from_secs(30)),
            idle_timeout: Some(Duration::from_secs(300)),
            retry,
            parser: ParserConfig::default(),
        }
    }
}

impl fmt::Debug for ReconnectConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let retried: Vec<u16> = self.retry.iter().map(|s| s.as_u16()).collect();
        f.debug_struct("ReconnectConfig")
            .field("reconnection_time", &self.reconnection_time)
            .field("min_delay", &self.min_delay)
            .field("max_delay", &self.max_delay)
            .field("jitter", &self.jitter)
            .field("max_attempts", &self.max_attempts)
            .field("reset_after", &self.reset_after)
            .field("max_retry_after", &self.max_retry_after)
            .field("connect_timeout", &self.connect_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("retried_statuses", &retried)
            .field("parser", &self.parser)
            .finish()
    }
}

impl ReconnectConfig {
    /// The reconnection time until the server sends `retry:` (default 3 s).
    /// A `retry:` line replaces it for the rest of the machine's life.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let c = sse_session::reconnect::ReconnectConfig::default().reconnection_time(Duration::from_secs(1));
    /// assert_eq!(c.get_reconnection_time(), Duration::from_secs(1));
    /// ```
    pub fn reconnection_time(mut self, time: Duration) -> Self {
        self.reconnection_time = time;
        self
    }

    /// The shortest delay before any reconnect (default 100 ms), whatever the
    /// server's `retry:` says.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let c = sse_session::reconnect::ReconnectConfig::default().min_delay(Duration::from_millis(10));
    /// # let _ = c;
    /// ```
    pub fn min_delay(mut self, delay: Duration) -> Self {
        self.min_delay = delay;
        self
    }

    /// The longest backoff, before jitter (default 30 s). A reconnection time
    /// above it (a server's `retry:`) is used as it is, and so is a longer
    /// `Retry-After`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let c = sse_session::reconnect::ReconnectConfig::default().max_delay(Duration::from_secs(10));
    /// # let _ = c;
    /// ```
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// How much longer, at most, each delay is made at random: `0.5` (the
    /// default) lengthens it by 0 to 50 %, `0.0` turns jitter off. Values
    /// are clamped into `0.0..=1.0` (NaN counts as 0).
    ///
    /// ```
    /// let c = sse_session::reconnect::ReconnectConfig::default().jitter(0.0);
    /// assert_eq!(c.get_jitter(), 0.0);
    /// assert_eq!(c.jitter(7.0).get_jitter(), 1.0);
    /// ```
    pub fn jitter(mut self, ratio: f64) -> Self {
        self.jitter = if ratio.is_nan() {
            0.0
        } else {
            ratio.clamp(0.0, 1.0)
        };
        self
    }

    /// Stop after this many failed reconnect attempts in a row (default
    /// `None`: never). A good stream (see [`reset_after`](Self::reset_after))
    /// starts the count again. `Some(0)`: never reconnect.
    ///
    /// ```
    /// let c = sse_session::reconnect::ReconnectConfig::default().max_attempts(Some(3));
    /// # let _ = c;
    /// ```
    pub fn max_attempts(mut self, attempts: Option<u32>) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// A stream that stays open this long counts as good even if it delivered
    /// no event (default 60 s): the next reconnect is attempt 1 again. A
    /// stream that delivers an event is good at once.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let c = sse_session::reconnect::ReconnectConfig::default().reset_after(Duration::from_secs(10));
    /// # let _ = c;
    /// ```
    pub fn reset_after(mut self, after: Duration) -> Self {
        self.reset_after = after;
        self
    }

    /// The longest `Retry-After` honoured (default 10 minutes); a longer one
    /// counts as this long.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let c = sse_session::reconnect::ReconnectConfig::default().max_retry_after(Duration::from_secs(60));
    /// # let _ = c;
    /// ```
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// How long to wait from sending a request to its response head (default
    /// 30 s); past it the attempt has failed. `None`: wait for ever.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let c = sse_session::reconnect::ReconnectConfig::default().connect_timeout(Some(Duration::from_secs(5)));
    /// # let _ = c;
    /// ```
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long an open stream may stay silent (no byte at all, not even a
    /// keep-alive comment) before it is dropped and reconnected (default
    /// 5 minutes). `None`: never.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let c = sse_session::reconnect::ReconnectConfig::default().idle_timeout(Some(Duration::from_secs(45)));
    /// # let _ = c;
    /// ```
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Reconnect (with backoff) when the server answers `status`. 200 and
    /// 204 keep their meaning whatever is set here.
    ///
    /// ```
    /// use http::StatusCode;
    /// let c = sse_session::reconnect::ReconnectConfig::default().retry_on_status(StatusCode::NOT_FOUND);
    /// assert!(c.is_retried(StatusCode::NOT_FOUND));
    /// ```
    pub fn retry_on_status(mut self, status: StatusCode) -> Self {
        self.retry.set(status, true);
        self
    }

    /// Stop for good when the server answers `status`
    /// ([`StopReason::Status`]).
    ///
    /// ```
    /// use http::StatusCode;
    /// let c = sse_session::reconnect::ReconnectConfig::default().stop_on_status(StatusCode::BAD_GATEWAY);
    /// assert!(!c.is_retried(StatusCode::BAD_GATEWAY));
    /// ```
    pub fn stop_on_status(mut self, status: StatusCode) -> Self {
        self.retry.set(status, false);
        self
    }

    /// Stop on every status other than 200, as a browser's `EventSource`
    /// does ([fail the connection]); network errors and ended streams are
    /// still reconnected.
    ///
    /// ```
    /// use http::StatusCode;
    /// let c = sse_session::reconnect::ReconnectConfig::default().stop_on_every_error_status();
    /// assert!(!c.is_retried(StatusCode::SERVICE_UNAVAILABLE));
    /// ```
    ///
    /// [fail the connection]: https://html.spec.whatwg.org/multipage/server-sent-events.html#fail-the-connection
    pub fn stop_on_every_error_status(mut self) -> Self {
        self.retry = StatusSet::EMPTY;
        self
    }

    /// The parser's limits (default [`ParserConfig::default`]).
    ///
    /// ```
    /// use sse_session::{reconnect::ReconnectConfig, ParserConfig};
    /// let c = ReconnectConfig::default().parser(ParserConfig::default().max_event_len(1 << 20));
    /// assert_eq!(c.get_parser().event_limit(), 1 << 20);
    /// ```
    pub fn parser(mut self, config: ParserConfig) -> Self {
        self.parser = config;
        self
    }

    /// Whether a response with `status` is retried (200 and 204 never are).
    ///
    /// ```
    /// use http::StatusCode;
    /// let c = sse_session::reconnect::ReconnectConfig::default();
    /// assert!(c.is_retried(StatusCode::TOO_MANY_REQUESTS));
    /// assert!(!c.is_retried(StatusCode::NOT_FOUND));
    /// ```
    #[must_use]
    pub fn is_retried(&self, status: StatusCode) -> bool {
        status != StatusCode::OK && status != StatusCode::NO_CONTENT && self.retry.contains(status)
    }

    /// The configured initial reconnection time.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let c = sse_session::reconnect::ReconnectConfig::default();
    /// assert_eq!(c.get_reconnection_time(), Duration::from_secs(3));
    /// ```
    #[must_use]
    pub fn get_reconnection_time(&self) -> Duration {
        self.reconnection_time
    }

    /// The configured jitter ratio.
    ///
    /// ```
    /// assert_eq!(sse_session::reconnect::ReconnectConfig::default().get_jitter(), 0.5);
    /// ```
    #[must_use]
    pub fn get_jitter(&self) -> f64 {
        self.jitter
    }

    /// The configured parser limits.
    ///
    /// ```
    /// use sse_session::{reconnect::ReconnectConfig, ParserConfig};
    /// assert_eq!(ReconnectConfig::default().get_parser(), ParserConfig::default());
    /// ```
    pub fn get_parser(&self) -> ParserConfig {
        self.parser
    }
}

// ---------------------------------------------------------------------------
// outputs

/// Why a [`Reconnect`] reconnects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReconnectReason {
    /// The server ended the stream (end of body).
    StreamEnded,
    /// Reading the body failed (connection reset, broken chunking, …).
    ReadFailed,
    /// The stream was silent for longer than the idle timeout.
    IdleTimeout,
    /// The request failed before a response: DNS, connection refused, TLS, ….
    ConnectFailed,
    /// No response head within the connect timeout.
    ConnectTimeout,
    /// The server answered a status that is retried (408, 429, 5xx by default).
    Status(StatusCode),
}

impl fmt::Display for ReconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReconnectReason::StreamEnded => f.write_str("the stream ended"),
            ReconnectReason::ReadFailed => f.write_str("reading the stream failed"),
            ReconnectReason::IdleTimeout => f.write_str("the stream went silent"),
            ReconnectReason::ConnectFailed => f.write_str("the request failed"),
            ReconnectReason::ConnectTimeout => {
                f.write_str("no response within the connect timeout")
            }
            ReconnectReason::Status(s) => write!(f, "the server answered {}", s.as_u16()),
        }
    }
}

/// Why a [`Reconnect`] stopped for good.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The server answered 204 No Content: the stream is over and must not be
    /// reconnected. The one clean end.
    NoContent,
    /// The server answered a status that is not retried ([fail the connection]).
    ///
    /// [fail the connection]: https://html.spec.whatwg.org/multipage/server-sent-events.html#fail-the-connection
    Status(StatusCode),
    /// The server answered 200 with a content type that is not
    /// `text/event-stream` (the header's value, if there was one).
    ContentType(Option<HeaderValue>),
    /// [`ReconnectConfig::max_attempts`] attempts in a row failed; the last
    /// one failed for this reason.
    AttemptsExhausted {
        /// How many reconnect attempts were made.
        attempts: u32,
        /// Why the last one failed.
        last: ReconnectReason,
    },
    /// [`Reconnect::close`] was called.
    Closed,
}

impl StopReason {
    /// Whether this is an end the server asked for (204) or the caller
    /// (close), rather than a failure.
    ///
    /// ```
    /// use sse_session::reconnect::StopReason;
    /// assert!(StopReason::NoContent.is_clean());
    /// assert!(!StopReason::Status(http::StatusCode::NOT_FOUND).is_clean());
    /// ```
    #[must_use]
    pub fn is_clean(&self) -> bool {
        matches!(self, StopReason::NoContent | StopReason::Closed)
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::NoContent => f.write_str("the server answered 204 no content"),
            StopReason::Status(s) => write!(f, "the server answered {}", s.as_u16()),
            StopReason::ContentType(None) => {
                f.write_str("the response has no content type, not text/event-stream")
            }
            StopReason::ContentType(Some(v)) => match v.to_str() {
                Ok(v) => write!(f, "the response is {v:?}, not text/event-stream"),
                Err(_) => f.write_str("the response's content type is not text/event-stream"),
            },
            StopReason::AttemptsExhausted { attempts, last } => {
                write!(f, "gave up after {attempts} reconnect attempts ({last})")
            }
            StopReason::Closed => f.write_str("closed"),
        }
    }
}

/// A reconnect the machine scheduled: see [`Output::Reconnecting`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reconnecting {
    /// 1 for the first reconnect after a good stream, counting up while
    /// attempts fail.
    pub attempt: u32,
    /// How long the machine waits before the request.
    pub delay: Duration,
    /// Why the previous connection ended or failed.
    pub reason: ReconnectReason,
}

/// What [`Reconnect::poll_output`] yields, in stream order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// A response was accepted: the stream is open (a browser's `open`
    /// event). Frames of this connection follow.
    Open,
    /// A frame of the open stream.
    Frame(Frame),
    /// An event was over the parser's limits and skipped (see
    /// [`ParseError`]); the stream goes on.
    Skipped(ParseError),
    /// The connection ended or failed and a reconnect is scheduled (a
    /// browser's `error` event while it reconnects).
    Reconnecting(Reconnecting),
    /// The machine stopped for good; nothing follows.
    Stopped(StopReason),
}

/// A request the driver should send now: see [`Reconnect::poll_connect`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Connect {
    /// 0 for the first connection, then the number of the reconnect attempt.
    pub attempt: u32,
    /// The `Last-Event-ID` header to send, if any: `None` while the last
    /// event ID is empty, and for an ID that is not a valid header value (a
    /// control character other than tab; the ID travels as UTF-8).
    pub last_event_id: Option<HeaderValue>,
}

// ---------------------------------------------------------------------------
// the machine

#[derive(Clone, Debug, PartialEq)]
enum State {
    /// A request is due (`poll_connect`).
    Connect,
    /// A request is out.
    AwaitingResponse {
        deadline: Option<Instant>,
    },
    /// Reading the body.
    Open {
        opened_at: Instant,
        idle_deadline: Option<Instant>,
        good: bool,
    },
    /// Waiting before the next request.
    Waiting {
        until: Instant,
    },
    Stopped,
}

/// The sans-IO reconnect state machine of an `EventSource` (see the
/// [module docs](self) for the rules).
///
/// # Calling contract
///
/// quinn-style: inputs are `handle_*` calls, outputs come from `poll_*`
/// calls, and the driver owns the sockets and the timer. After any input,
/// drain the outputs in this order:
///
/// 1. [`poll_output`](Self::poll_output) until `None`: frames and
///    lifecycle changes, in stream order.
/// 2. [`poll_connect`](Self::poll_connect): `Some` means "send the request
///    now" (drop any connection still held); then report its outcome with
///    [`handle_response`](Self::handle_response) (status and headers;
///    afterwards read the body if [`is_open`](Self::is_open), else drop it)
///    or [`handle_connect_error`](Self::handle_connect_error).
/// 3. [`poll_timeout`](Self::poll_timeout): arm a timer for the instant it
///    returns (replacing the previous one) and call
///    [`handle_timeout`](Self::handle_timeout) when it fires. `None`: no timer.
///
/// While [`is_open`](Self::is_open), feed the body with
/// [`handle_chunk`](Self::handle_chunk) and report its end with
/// [`handle_end`](Self::handle_end) or
/// [`handle_read_error`](Self::handle_read_error). When a call makes the
/// machine leave the open state (an idle timeout, [`close`](Self::close)),
/// drop the body. Inputs that do not fit the state (a chunk while no stream
/// is open, a response while none is awaited) are ignored. The machine is
/// done when `poll_output` has yielded [`Output::Stopped`];
/// [`is_stopped`](Self::is_stopped) is then true and every poll returns
/// `None`.
///
/// Every `now` is the driver's monotonic clock; `system_now` (for a
/// `Retry-After` date when the response has no `Date` header) its wall
/// clock.
///
/// ```
/// use std::time::{Duration, Instant, SystemTime};
/// use bytes::Bytes;
/// use http::{header, HeaderMap, StatusCode};
/// use sse_session::reconnect::{Output, Reconnect, ReconnectConfig, ReconnectReason};
/// use sse_session::Frame;
///
/// let config = ReconnectConfig::default().jitter(0.0);
/// let mut es = Reconnect::new(config);
/// let mut now = Instant::now();
///
/// // The first request goes out at once, without Last-Event-ID.
/// let req = es.poll_connect(now).expect("a request is due");
/// assert_eq!((req.attempt, req.last_event_id), (0, None));
///
/// let mut headers = HeaderMap::new();
/// headers.insert(header::CONTENT_TYPE, "text/event-stream".parse().unwrap());
/// es.handle_response(now, SystemTime::now(), StatusCode::OK, &headers);
/// assert_eq!(es.poll_output(), Some(Output::Open));
///
/// es.handle_chunk(now, Bytes::from_static(b"retry: 500\nid: 7\ndata: hi\n\ndata: unfin"));
/// es.handle_end(now); // the connection drops mid-event
/// let outputs: Vec<Output> = std::iter::from_fn(|| es.poll_output()).collect();
/// assert!(matches!(&outputs[1], Output::Frame(Frame::Event(e)) if e.data() == "hi"));
/// let Output::Reconnecting(r) = &outputs[2] else { panic!("{outputs:?}") };
/// assert_eq!((r.attempt, r.delay, r.reason), (1, Duration::from_millis(500), ReconnectReason::StreamEnded));
/// assert_eq!(outputs.len(), 3); // the unfinished event is gone
///
/// // Nothing to send until the delay is over.
/// assert!(es.poll_connect(now).is_none());
/// now = es.poll_timeout().expect("a timer");
/// es.handle_timeout(now);
/// let req = es.poll_connect(now).expect("the reconnect");
/// assert_eq!(req.attempt, 1);
/// assert_eq!(req.last_event_id.unwrap(), "7");
/// ```
pub struct Reconnect {
    config: ReconnectConfig,
    parser: Parser,
    state: State,
    /// The number of the pending or current attempt (0 for the first
    /// connection).
    attempt: u32,
    outputs: VecDeque<Output>,
    rng: u64,
}

impl fmt::Debug for Reconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reconnect")
            .field("state", &self.state)
            .field("attempt", &self.attempt)
            .field("last_event_id", &self.parser.last_event_id())
            .field("reconnection_time", &self.reconnection_time())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Reconnect {
    /// A machine with a random jitter seed; its first request is due at once.
    ///
    /// ```
    /// use sse_session::reconnect::{Reconnect, ReconnectConfig};
    /// let mut es = Reconnect::new(ReconnectConfig::default());
    /// assert!(es.poll_connect(std::time::Instant::now()).is_some());
    /// ```
    #[must_use]
    pub fn new(config: ReconnectConfig) -> Self {
        use std::hash::{BuildHasher, Hasher};
        // std's per-process random keys, without a dependency.
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Reconnect::with_seed(config, seed)
    }

    /// A machine whose jitter comes from `seed`: the same seed and inputs
    /// give the same delays (for tests).
    ///
    /// ```
    /// use sse_session::reconnect::{Reconnect, ReconnectConfig};
    /// let es = Reconnect::with_seed(ReconnectConfig::default(), 42);
    /// # let _ = es;
    /// ```
    #[must_use]
    pub fn with_seed(config: ReconnectConfig, seed: u64) -> Self {
        Reconnect {
            parser: Parser::with_config(config.parser),
            config,
            state: State::Connect,
            attempt: 0,
            outputs: VecDeque::new(),
            rng: seed,
        }
    }

    /// Starts with a last event ID, as if a stream had sent `id:` with it:
    /// the first request carries it as `Last-Event-ID` (unless empty), and
    /// events carry it until the server sends another. (An ID that a caller
    /// kept from an earlier run; [`EventId`] has no CR, LF or NUL.)
    ///
    /// ```
    /// use sse_session::{reconnect::{Reconnect, ReconnectConfig}, EventId};
    /// let mut es = Reconnect::new(ReconnectConfig::default())
    ///     .with_last_event_id(&EventId::from_static("tab-7.41"));
    /// let req = es.poll_connect(std::time::Instant::now()).unwrap();
    /// assert_eq!(req.last_event_id.unwrap(), "tab-7.41");
    /// ```
    #[must_use]
    pub fn with_last_event_id(mut self, id: &EventId) -> Self {
        // The parser is the one owner of the last event ID: give it the ID
        // the way a stream would, then start a new stream (which keeps it).
        let mut line = Vec::with_capacity(id.len() + 6);
        line.extend_from_slice(b"id: ");
        line.extend_from_slice(id.as_bytes());
        line.extend_from_slice(b"\n\n");
        self.parser.feed(&line);
        while let Ok(Some(_)) = self.parser.next_frame() {}
        self.parser.finish();
        while let Ok(Some(_)) = self.parser.next_frame() {}
        self
    }

    // ----------------------------------------------------------- getters

    /// The last event ID string: what the next request sends as
    /// `Last-Event-ID` (none while empty).
    ///
    /// ```
    /// use sse_session::reconnect::{Reconnect, ReconnectConfig};
    /// assert_eq!(Reconnect::new(ReconnectConfig::default()).last_event_id(), "");
    /// ```
    #[must_use]
    pub fn last_event_id(&self) -> &str {
        self.parser.last_event_id()
    }

    /// The reconnection time: the server's last `retry:`, else the
    /// configured one.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use sse_session::reconnect::{Reconnect, ReconnectConfig};
    /// let es = Reconnect::new(ReconnectConfig::default());
    /// assert_eq!(es.reconnection_time(), Duration::from_secs(3));
    /// ```
    #[must_use]
    pub fn reconnection_time(&self) -> Duration {
        self.parser
            .reconnection_time()
            .map_or(self.config.reconnection_time, |r| r.as_duration())
    }

    /// Whether a stream is open: feed its body to
    /// [`handle_chunk`](Self::handle_chunk).
    ///
    /// ```
    /// use sse_session::reconnect::{Reconnect, ReconnectConfig};
    /// assert!(!Reconnect::new(ReconnectConfig::default()).is_open());
    /// ```
    #[must_use]
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open { .. })
    }

    /// Whether a request is out: the driver awaits its response (and drops
    /// it when this turns false, e.g. after a connect timeout).
    ///
    /// ```
    /// use std::time::Instant;
    /// use sse_session::reconnect::{Reconnect, ReconnectConfig};
    /// let mut es = Reconnect::new(ReconnectConfig::default());
    /// assert!(!es.is_awaiting_response());
    /// let _request = es.poll_connect(Instant::now()).unwrap();
    /// assert!(es.is_awaiting_response());
    /// ```
    #[must_use]
    pub fn is_awaiting_response(&self) -> bool {
        matches!(self.state, State::AwaitingResponse { .. })
    }

    /// Whether the machine stopped for good.
    ///
    /// ```
    /// use sse_session::reconnect::{Reconnect, ReconnectConfig};
    /// let mut es = Reconnect::new(ReconnectConfig::default());
    /// es.close();
    /// assert!(es.is_stopped());
    /// ```
    #[must_use]
    pub fn is_stopped(&self) -> bool {
        self.state == State::Stopped
    }

    /// The configuration.
    ///
    /// ```
    /// use sse_session::reconnect::{Reconnect, ReconnectConfig};
    /// let es = Reconnect::new(ReconnectConfig::default().jitter(0.0));
    /// assert_eq!(es.config().get_jitter(), 0.0);
    /// ```
    pub fn config(&self) -> &ReconnectConfig {
        &self.config
    }

    // ----------------------------------------------------------- outputs

    /// The next output, in stream order:
    ///
    /// - `Some(Output::Open)`: a response was accepted; its frames follow;
    /// - `Some(Output::Frame(_))`: a frame of the open stream;
    /// - `Some(Output::Skipped(_))`: an event over the parser's limits was
    ///   skipped; the stream goes on;
    /// - `Some(Output::Reconnecting(_))`: the connection is over and a
    ///   reconnect is scheduled ([`poll_timeout`](Self::poll_timeout) says
    ///   when);
    /// - `Some(Output::Stopped(_))`: the machine stopped for good; the last
    ///   output;
    /// - `None`: nothing until the next input.
    #[must_use = "outputs carry the stream's frames"]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The request to send now, if one is due:
    ///
    /// - `Some(connect)`: send the request (with `connect.last_event_id` as
    ///   `Last-Event-ID`, if any) and report its outcome with
    ///   [`handle_response`](Self::handle_response) or
    ///   [`handle_connect_error`](Self::handle_connect_error); the connect
    ///   timeout runs from `now`;
    /// - `None`: no request is due (one is out, a stream is open, the
    ///   machine is waiting or stopped).
    #[must_use = "a due request must be sent"]
    pub fn poll_connect(&mut self, now: Instant) -> Option<Connect> {
        if self.state != State::Connect {
            return None;
        }
        self.state = State::AwaitingResponse {
            deadline: self.config.connect_timeout.and_then(|t| now.checked_add(t)),
        };
        let id = self.parser.last_event_id();
        let last_event_id = if id.is_empty() {
            None
        } else {
            HeaderValue::from_str(id)
                .or_else(|_| HeaderValue::from_bytes(id.as_bytes()))
                .ok()
        };
        Some(Connect {
            attempt: self.attempt,
            last_event_id,
        })
    }

    /// When to call [`handle_timeout`](Self::handle_timeout):
    ///
    /// - `Some(instant)` while a request is out (its connect timeout), a
    ///   stream is open (its idle timeout, moved on by every chunk) or a
    ///   reconnect is scheduled (its delay);
    /// - `None` otherwise (or with that timeout switched off).
    #[must_use = "a timer must be armed for the machine to go on"]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::AwaitingResponse { deadline } => deadline,
            State::Open { idle_deadline, .. } => idle_deadline,
            State::Waiting { until } => Some(until),
            State::Connect | State::Stopped => None,
        }
    }

    // ----------------------------------------------------------- inputs

    /// The response head of the request from [`poll_connect`](Self::poll_connect)
    /// (after the HTTP client followed redirects). Afterwards the stream is
    /// open ([`is_open`](Self::is_open)), a reconnect is scheduled or the
    /// machine stopped; see the [module docs](self) for which.
    pub fn handle_response(
        &mut self,
        now: Instant,
        system_now: SystemTime,
        status: StatusCode,
        headers: &HeaderMap,
    ) {
        if !matches!(self.state, State::AwaitingResponse { .. }) {
            return;
        }
        if status == StatusCode::OK {
            let content_type = headers.get_all(CONTENT_TYPE).iter().next_back();
            if content_type.is_some_and(is_event_stream) {
                self.state = State::Open {
                    opened_at: now,
                    idle_deadline: self.idle_deadline(now),
                    good: false,
                };
                self.outputs.push_back(Output::Open);
            } else {
                self.stop(StopReason::ContentType(content_type.cloned()));
            }
        } else if status == StatusCode::NO_CONTENT {
            self.stop(StopReason::NoContent);
        } else if self.config.is_retried(status) {
            let retry_after =
                retry_after(headers, system_now).map(|d| d.min(self.config.max_retry_after));
            self.schedule(now, false, ReconnectReason::Status(status), retry_after);
        } else {
            self.stop(StopReason::Status(status));
        }
    }

    /// The request failed before a response head (DNS, refused, TLS, a reset
    /// before the head): a reconnect is scheduled.
    pub fn handle_connect_error(&mut self, now: Instant) {
        if matches!(self.state, State::AwaitingResponse { .. }) {
            self.schedule(now, false, ReconnectReason::ConnectFailed, None);
        }
    }

    /// Bytes of the open stream's body, in any chunking. Their frames are
    /// ready at [`poll_output`](Self::poll_output) at once; the idle timeout
    /// starts again.
    pub fn handle_chunk(&mut self, now: Instant, chunk: Bytes) {
        if !self.is_open() {
            return;
        }
        self.parser.feed_bytes(chunk);
        self.drain_parser();
        let deadline = self.idle_deadline(now);
        if let State::Open { idle_deadline, .. } = &mut self.state {
            *idle_deadline = deadline;
        }
    }

    /// The open stream's body ended: the unfinished event is discarded and a
    /// reconnect scheduled.
    pub fn handle_end(&mut self, now: Instant) {
        self.end_stream(now, ReconnectReason::StreamEnded);
    }

    /// Reading the open stream's body failed: as
    /// [`handle_end`](Self::handle_end), with another reason.
    pub fn handle_read_error(&mut self, now: Instant) {
        self.end_stream(now, ReconnectReason::ReadFailed);
    }

    /// The instant from [`poll_timeout`](Self::poll_timeout) has come (an
    /// early call does nothing): a request without an answer has failed, a
    /// silent stream is dropped (drop its body; a reconnect is scheduled), or
    /// a scheduled reconnect is due ([`poll_connect`](Self::poll_connect)).
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::AwaitingResponse {
                deadline: Some(deadline),
            } if now >= deadline => {
                self.schedule(now, false, ReconnectReason::ConnectTimeout, None);
            }
            State::Open {
                idle_deadline: Some(deadline),
                ..
            } if now >= deadline => self.end_stream(now, ReconnectReason::IdleTimeout),
            State::Waiting { until } if now >= until => self.state = State::Connect,
            _ => {}
        }
    }

    /// Stops for good ([`StopReason::Closed`]), as `EventSource.close()`:
    /// drop any request or body. Does nothing once stopped.
    pub fn close(&mut self) {
        if !self.is_stopped() {
            self.stop(StopReason::Closed);
        }
    }

    // ----------------------------------------------------------- internals

    fn idle_deadline(&self, now: Instant) -> Option<Instant> {
        self.config.idle_timeout.and_then(|t| now.checked_add(t))
    }

    fn drain_parser(&mut self) {
        loop {
            match self.parser.next_frame() {
                Ok(Some(frame)) => {
                    if let (Frame::Event(_), State::Open { good, .. }) = (&frame, &mut self.state) {
                        *good = true;
                    }
                    self.outputs.push_back(Output::Frame(frame));
                }
                Ok(None) => return,
                Err(e) => self.outputs.push_back(Output::Skipped(e)),
            }
        }
    }

    fn end_stream(&mut self, now: Instant, reason: ReconnectReason) {
        let State::Open {
            opened_at, good, ..
        } = self.state
        else {
            return;
        };
        // Discard the unfinished event; a line that a lone CR ended still
        // counts (it may be a `retry:` that sets the delay below).
        self.parser.finish();
        self.drain_parser();
        let good = good
            || matches!(self.state, State::Open { good: true, .. })
            || now.saturating_duration_since(opened_at) >= self.config.reset_after;
        self.schedule(now, good, reason, None);
    }

    fn stop(&mut self, reason: StopReason) {
        self.state = State::Stopped;
        self.outputs.push_back(Output::Stopped(reason));
    }

    /// The connection is over: schedule attempt `n` (1 after a good stream,
    /// else one more than the attempt that just failed), or stop.
    fn schedule(
        &mut self,
        now: Instant,
        good: bool,
        reason: ReconnectReason,
        retry_after: Option<Duration>,
    ) {
        let attempt = if good {
            1
        } else {
            self.attempt.saturating_add(1)
        };
        if let Some(max) = self.config.max_attempts {
            if attempt > max {
                self.stop(StopReason::AttemptsExhausted {
                    attempts: max,
                    last: reason,
                });
                return;
            }
        }
        self.attempt = attempt;
        let delay = self.delay(attempt, retry_after);
        self.state = match now.checked_add(delay) {
            Some(until) => State::Waiting { until },
            // Beyond the clock's range: as good as never.
            None => State::Waiting {
                until: now + Duration::from_secs(86_400 * 365),
            },
        };
        self.outputs.push_back(Output::Reconnecting(Reconnecting {
            attempt,
            delay,
            reason,
        }));
    }

    fn delay(&mut self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let base = self.reconnection_time().max(self.config.min_delay);
        let cap = self.config.max_delay.max(base);
        let doublings = attempt.saturating_sub(1).min(31);
        let backoff = base.saturating_mul(1 << doublings).min(cap);
        let jittered = if self.config.jitter > 0.0 {
            let factor = 1.0 + self.config.jitter * self.next_unit();
            Duration::try_from_secs_f64(backoff.as_secs_f64() * factor).unwrap_or(backoff)
        } else {
            backoff
        };
        retry_after.map_or(jittered, |r| jittered.max(r))
    }

    /// A uniform value in `[0, 1)` (SplitMix64).
    fn next_unit(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Whether a `Content-Type` value is `text/event-stream` (the MIME type's
/// essence: any parameters, any case, spaces around it).
fn is_event_stream(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    let essence = bytes.split(|&b| b == b';').next().unwrap_or(bytes);
    essence
        .trim_ascii()
        .eq_ignore_ascii_case(b"text/event-stream")
}

/// The delay a `Retry-After` header asks for: delta-seconds, or an HTTP-date
/// measured from the response's `Date` (the server's clock, so a skewed local
/// clock does not matter), else from `system_now`. A date in the past is 0;
/// an unreadable value is none.
fn retry_after(headers: &HeaderMap, system_now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64: as long as can be (capped by the caller).
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let reference = headers
        .get(DATE)
        .and_then(|d| d.to_str().ok())
        .and_then(|d| httpdate::parse_http_date(d.trim()).ok())
        .unwrap_or(system_now);
    Some(at.duration_since(reference).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MessageEvent;

    const MS: Duration = Duration::from_millis(1);

    fn config() -> ReconnectConfig {
        ReconnectConfig::default()
            .jitter(0.0)
            .reconnection_time(100 * MS)
            .min_delay(10 * MS)
            .max_delay(1000 * MS)
    }

    fn sse_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        h
    }

    /// A machine with a clock.
    struct Harness {
        es: Reconnect,
        now: Instant,
        wall: SystemTime,
    }

    impl Harness {
        fn new(config: ReconnectConfig) -> Self {
            Harness {
                es: Reconnect::with_seed(config, 1),
                now: Instant::now(),
                wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            }
        }

        fn connect(&mut self) -> Connect {
            self.es.poll_connect(self.now).expect("a request is due")
        }

        fn respond(&mut self, status: u16, headers: &HeaderMap) {
            let status = StatusCode::from_u16(status).unwrap();
            self.es
                .handle_response(self.now, self.wall, status, headers);
        }

        fn open(&mut self) -> Connect {
            let req = self.connect();
            self.respond(200, &sse_headers());
            assert_eq!(self.es.poll_output(), Some(Output::Open));
            req
        }

        fn chunk(&mut self, bytes: &'static [u8]) {
            self.es.handle_chunk(self.now, Bytes::from_static(bytes));
        }

        fn outputs(&mut self) -> Vec<Output> {
            std::iter::from_fn(|| self.es.poll_output()).collect()
        }

        /// The one output expected now: a reconnect.
        fn reconnecting(&mut self) -> Reconnecting {
            match self.outputs().as_slice() {
                [Output::Reconnecting(r)] => *r,
                other => panic!("expected one Reconnecting, got {other:?}"),
            }
        }

        fn stopped(&mut self) -> StopReason {
            match self.outputs().as_slice() {
                [Output::Stopped(r)] => r.clone(),
                other => panic!("expected one Stopped, got {other:?}"),
            }
        }

        /// Waits out the scheduled delay (checking that nothing happens
        /// early) and returns it.
        fn wait(&mut self) -> Duration {
            let until = self.es.poll_timeout().expect("a timer");
            let delay = until - self.now;
            self.es.handle_timeout(until - Duration::from_nanos(1));
            assert!(self.es.poll_connect(self.now).is_none(), "not yet due");
            self.now = until;
            self.es.handle_timeout(self.now);
            delay
        }
    }

    fn ev(data: &str, id: &str) -> Output {
        Output::Frame(Frame::Event(MessageEvent::new("", data, id)))
    }

    // ------------------------------------------------------------ responses

    #[test]
    fn first_request_is_due_at_once_without_last_event_id() {
        let mut h = Harness::new(config());
        assert_eq!(h.es.poll_timeout(), None);
        let req = h.connect();
        assert_eq!((req.attempt, req.last_event_id), (0, None));
        assert!(h.es.poll_connect(h.now).is_none(), "only one request");
    }

    #[test]
    fn ok_with_event_stream_opens_with_parameters_and_any_case() {
        for ct in [
            "text/event-stream",
            "text/event-stream; charset=utf-8",
            "Text/Event-Stream",
            " text/event-stream ;x=y",
        ] {
            let mut h = Harness::new(config());
            h.connect();
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
            h.respond(200, &headers);
            assert!(h.es.is_open(), "{ct}");
            assert_eq!(h.outputs(), [Output::Open], "{ct}");
        }
    }

    #[test]
    fn ok_with_another_content_type_fails_the_connection() {
        for ct in [
            Some("text/plain"),
            Some("text/event-streams"),
            Some("application/json"),
            None,
        ] {
            let mut h = Harness::new(config());
            h.connect();
            let mut headers = HeaderMap::new();
            if let Some(ct) = ct {
                headers.insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
            }
            h.respond(200, &headers);
            let expected = StopReason::ContentType(ct.map(|c| HeaderValue::from_str(c).unwrap()));
            assert_eq!(h.stopped(), expected);
            assert!(h.es.is_stopped());
            assert!(h.es.poll_connect(h.now).is_none());
            assert_eq!(h.es.poll_timeout(), None);
        }
        assert_eq!(
            StopReason::ContentType(Some(HeaderValue::from_static("text/plain"))).to_string(),
            "the response is \"text/plain\", not text/event-stream"
        );
    }

    #[test]
    fn no_content_stops_for_good_even_with_an_event_stream_type() {
        let mut h = Harness::new(config());
        h.connect();
        h.respond(204, &sse_headers());
        assert_eq!(h.stopped(), StopReason::NoContent);
        assert!(StopReason::NoContent.is_clean());
        assert!(h
            .es
            .poll_connect(h.now + Duration::from_secs(3600))
            .is_none());
        // Later inputs are ignored.
        h.es.handle_timeout(h.now + Duration::from_secs(3600));
        h.respond(200, &sse_headers());
        assert_eq!(h.outputs(), []);
    }

    #[test]
    fn other_statuses_fail_the_connection() {
        for code in [201, 202, 205, 206, 299, 301, 304, 400, 401, 403, 404, 410] {
            let mut h = Harness::new(config());
            h.connect();
            h.respond(code, &sse_headers());
            assert_eq!(
                h.stopped(),
                StopReason::Status(StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
    }

    #[test]
    fn server_errors_timeouts_and_rate_limits_are_retried_with_backoff() {
        let mut h = Harness::new(config());
        let mut delays = Vec::new();
        for code in [500, 502, 503, 504, 408, 429, 599] {
            let req = h.connect();
            assert_eq!(req.attempt, delays.len() as u32);
            h.respond(code, &HeaderMap::new());
            let r = h.reconnecting();
            assert_eq!(
                r.reason,
                ReconnectReason::Status(StatusCode::from_u16(code).unwrap())
            );
            assert_eq!(r.attempt, delays.len() as u32 + 1);
            delays.push(h.wait());
        }
        // 100, 200, 400, 800 ms, then the 1 s cap.
        let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1000, 1000, 1000]);
        // 500 then 200: the stream opens, and its first event resets the count.
        h.open();
        h.chunk(b"data: x\n\n");
        h.es.handle_end(h.now);
        let out = h.outputs();
        assert_eq!(out[0], ev("x", ""));
        assert!(matches!(out[1], Output::Reconnecting(r) if r.attempt == 1 && r.delay == 100 * MS));
    }

    #[test]
    fn the_retried_set_is_configurable() {
        let c = config()
            .stop_on_status(StatusCode::SERVICE_UNAVAILABLE)
            .retry_on_status(StatusCode::NOT_FOUND);
        let mut h = Harness::new(c);
        h.connect();
        h.respond(404, &HeaderMap::new());
        assert_eq!(
            h.reconnecting().reason,
            ReconnectReason::Status(StatusCode::NOT_FOUND)
        );
        h.wait();
        h.connect();
        h.respond(503, &HeaderMap::new());
        assert_eq!(
            h.stopped(),
            StopReason::Status(StatusCode::SERVICE_UNAVAILABLE)
        );

        // The browser's rule: every status but 200 fails.
        let mut h = Harness::new(config().stop_on_every_error_status());
        h.connect();
        h.respond(500, &HeaderMap::new());
        assert_eq!(
            h.stopped(),
            StopReason::Status(StatusCode::INTERNAL_SERVER_ERROR)
        );

        // 200 and 204 keep their meaning.
        let c = config()
            .retry_on_status(StatusCode::NO_CONTENT)
            .retry_on_status(StatusCode::OK);
        assert!(!c.is_retried(StatusCode::NO_CONTENT) && !c.is_retried(StatusCode::OK));
        let mut h = Harness::new(c);
        h.connect();
        h.respond(204, &HeaderMap::new());
        assert_eq!(h.stopped(), StopReason::NoContent);
    }

    // ------------------------------------------------------------ Retry-After

    fn with_retry_after(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn retry_after_delta_seconds_is_honoured_on_429_and_503() {
        for code in [429, 503] {
            let mut h = Harness::new(config());
            h.connect();
            h.respond(code, &with_retry_after("2"));
            assert_eq!(h.reconnecting().delay, Duration::from_secs(2));
            assert_eq!(h.wait(), Duration::from_secs(2));
        }
    }

    #[test]
    fn retry_after_http_date_counts_from_the_servers_date_header() {
        let mut h = Harness::new(config());
        h.connect();
        let mut headers = with_retry_after("Wed, 21 Oct 2015 07:28:05 GMT");
        headers.insert(
            DATE,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        h.respond(503, &headers);
        // 5 s by the server's clock, although the local clock is years off.
        assert_eq!(h.reconnecting().delay, Duration::from_secs(5));

        // Without a Date header, from the local wall clock; RFC 850 and
        // asctime forms too.
        for date in [
            "Tue, 14 Nov 2023 22:13:30 GMT",
            "Tuesday, 14-Nov-23 22:13:30 GMT",
            "Tue Nov 14 22:13:30 2023",
        ] {
            let mut h = Harness::new(config());
            h.connect();
            h.respond(429, &with_retry_after(date));
            // wall = 1_700_000_000 s = Tue, 14 Nov 2023 22:13:20 GMT
            assert_eq!(h.reconnecting().delay, Duration::from_secs(10), "{date}");
        }
    }

    #[test]
    fn retry_after_never_shortens_the_backoff_and_is_capped() {
        // A date in the past, 0 and garbage leave the backoff as it is.
        for value in ["Thu, 01 Jan 1970 00:00:00 GMT", "0", "soon", "-5", "1.5"] {
            let mut h = Harness::new(config());
            h.connect();
            h.respond(503, &with_retry_after(value));
            assert_eq!(h.reconnecting().delay, 100 * MS, "{value}");
        }
        let mut h = Harness::new(config().max_retry_after(Duration::from_secs(60)));
        h.connect();
        h.respond(429, &with_retry_after("99999999999999999999999"));
        assert_eq!(h.reconnecting().delay, Duration::from_secs(60));
    }

    // ------------------------------------------------------------ streams

    #[test]
    fn a_drop_mid_event_discards_it_and_resumes_with_the_last_event_id() {
        let mut h = Harness::new(config());
        h.open();
        h.chunk(b"id: 1\ndata: one\n\nid: 2\ndata: unfin");
        h.es.handle_read_error(h.now);
        let out = h.outputs();
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0], ev("one", "1"));
        assert!(
            matches!(out[1], Output::Reconnecting(r) if r.reason == ReconnectReason::ReadFailed)
        );
        // The unfinished event's id did not apply either.
        assert_eq!(h.es.last_event_id(), "1");
        h.wait();
        let req = h.open();
        assert_eq!(req.last_event_id, Some(HeaderValue::from_static("1")));
        // The new stream may start with a BOM, and the ID persists into it.
        h.chunk(b"\xEF\xBB\xBFdata: two\n\n");
        assert_eq!(h.outputs(), [ev("two", "1")]);
    }

    #[test]
    fn an_id_without_data_sets_the_cursor_and_an_empty_id_clears_the_header() {
        let mut h = Harness::new(config());
        h.open();
        // An `id:` in a frame without data: no event, but the cursor moves.
        h.chunk(b"id: tab-7\n\n");
        assert_eq!(h.outputs(), []);
        h.es.handle_end(h.now);
        h.reconnecting();
        h.wait();
        assert_eq!(
            h.open().last_event_id,
            Some(HeaderValue::from_static("tab-7"))
        );
        h.chunk(b"id\ndata: reset\n\n");
        assert_eq!(h.outputs(), [ev("reset", "")]);
        h.es.handle_end(h.now);
        h.reconnecting();
        h.wait();
        assert_eq!(
            h.open().last_event_id,
            None,
            "no header while the ID is empty"
        );
    }

    #[test]
    fn a_preset_last_event_id_goes_out_first_and_stays_until_replaced() {
        let es = Reconnect::with_seed(config(), 1).with_last_event_id(&EventId::from_static("41"));
        let mut h = Harness {
            es,
            ..Harness::new(config())
        };
        assert_eq!(h.open().last_event_id, Some(HeaderValue::from_static("41")));
        // A BOM is still allowed at the real stream's start.
        h.chunk(b"\xEF\xBB\xBFdata: a\n\nid: 42\ndata: b\n\n");
        assert_eq!(h.outputs(), [ev("a", "41"), ev("b", "42")]);
        // The empty preset is no preset.
        let mut es = Reconnect::new(config()).with_last_event_id(&EventId::from_static(""));
        assert_eq!(es.poll_connect(Instant::now()).unwrap().last_event_id, None);
    }

    #[test]
    fn a_non_ascii_id_travels_as_utf8_and_a_control_character_drops_the_header() {
        let mut h = Harness::new(config());
        h.open();
        h.chunk("id: é1\ndata: x\n\n".as_bytes());
        h.es.handle_end(h.now);
        h.outputs();
        h.wait();
        let req = h.open();
        assert_eq!(req.last_event_id.unwrap().as_bytes(), "é1".as_bytes());
        h.chunk(b"id: a\x01b\ndata: x\n\n");
        h.es.handle_end(h.now);
        h.outputs();
        h.wait();
        assert_eq!(h.es.last_event_id(), "a\u{1}b");
        assert_eq!(h.open().last_event_id, None);
    }

    #[test]
    fn retry_sets_the_next_delay_and_is_kept_across_reconnects() {
        let mut h = Harness::new(config());
        h.open();
        h.chunk(b"retry: 250\ndata: x\n\n");
        assert_eq!(
            h.outputs()[0],
            Output::Frame(Frame::Retry(crate::RetryDelay::from_millis(250)))
        );
        h.es.handle_end(h.now);
        assert_eq!(h.reconnecting().delay, 250 * MS);
        assert_eq!(h.wait(), 250 * MS);
        // The next connection fails twice: the backoff doubles from 250 ms.
        for expected in [500, 1000] {
            h.connect();
            h.es.handle_connect_error(h.now);
            assert_eq!(h.reconnecting().delay, expected * MS);
            h.wait();
        }
        assert_eq!(h.es.reconnection_time(), 250 * MS);
    }

    #[test]
    fn a_retry_line_ended_by_a_lone_cr_at_the_end_sets_the_delay() {
        let mut h = Harness::new(config());
        h.open();
        h.chunk(b"data: x\n\nretry: 300\r");
        h.es.handle_end(h.now);
        let out = h.outputs();
        assert_eq!(
            out[1],
            Output::Frame(Frame::Retry(crate::RetryDelay::from_millis(300)))
        );
        assert!(
            matches!(out[2], Output::Reconnecting(r) if r.delay == 300 * MS),
            "{out:?}"
        );
        // Without its line break, the line is discarded with the stream.
        h.wait();
        h.open();
        h.chunk(b"data: y\n\nretry: 20");
        h.es.handle_end(h.now);
        assert!(matches!(h.outputs()[1], Output::Reconnecting(r) if r.delay == 300 * MS));
    }

    #[test]
    fn retry_zero_is_never_a_tight_loop() {
        let mut h = Harness::new(config());
        h.open();
        h.chunk(b"retry: 0\n");
        assert_eq!(
            h.outputs(),
            [Output::Frame(Frame::Retry(crate::RetryDelay::from_millis(
                0
            )))]
        );
        h.es.handle_end(h.now); // no event: a failed attempt
        let mut delays = vec![h.reconnecting().delay];
        for _ in 0..5 {
            h.wait();
            h.open();
            h.es.handle_end(h.now); // accepted and closed at once
            delays.push(h.reconnecting().delay);
        }
        let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [10, 20, 40, 80, 160, 320], "floor, then doubling");
        // Even a server that sends an event each time gets the floor, not 0.
        h.wait();
        h.open();
        h.chunk(b"data: x\n\n");
        h.es.handle_end(h.now);
        assert_eq!(
            h.outputs()[1],
            Output::Reconnecting(Reconnecting {
                attempt: 1,
                delay: 10 * MS,
                reason: ReconnectReason::StreamEnded,
            })
        );
    }

    #[test]
    fn a_server_retry_above_the_cap_is_used_as_it_is() {
        let mut h = Harness::new(config());
        h.open();
        h.chunk(b"retry: 5000\ndata: x\n\n");
        h.es.handle_end(h.now);
        h.outputs();
        assert_eq!(h.wait(), 5000 * MS);
        h.connect();
        h.es.handle_connect_error(h.now);
        assert_eq!(
            h.reconnecting().delay,
            5000 * MS,
            "no doubling above the cap"
        );
    }

    #[test]
    fn a_stream_open_long_enough_counts_as_good_without_events() {
        let mut h = Harness::new(config().reset_after(Duration::from_secs(10)));
        for _ in 0..3 {
            h.connect();
            h.es.handle_connect_error(h.now);
            h.reconnecting();
            h.wait();
        }
        h.open();
        h.chunk(b": keep-alive\n");
        h.now += Duration::from_secs(10);
        h.es.handle_end(h.now);
        let out = h.outputs();
        assert!(
            matches!(out[1], Output::Reconnecting(r) if r.attempt == 1 && r.delay == 100 * MS),
            "{out:?}"
        );
    }

    #[test]
    fn the_idle_timeout_is_moved_on_by_every_chunk_and_reconnects_a_silent_stream() {
        let mut h = Harness::new(config().idle_timeout(Some(Duration::from_secs(1))));
        h.open();
        assert_eq!(h.es.poll_timeout(), Some(h.now + Duration::from_secs(1)));
        // A slow drip keeps it alive, one byte at a time.
        for byte in b"data: slow\n\n".chunks(1) {
            h.now += 900 * MS;
            h.es.handle_timeout(h.now);
            assert!(h.es.is_open());
            h.es.handle_chunk(h.now, Bytes::copy_from_slice(byte));
        }
        assert_eq!(h.outputs(), [ev("slow", "")]);
        h.chunk(b"data: unfinished");
        h.now = h.es.poll_timeout().unwrap();
        h.es.handle_timeout(h.now);
        assert!(!h.es.is_open());
        assert_eq!(
            h.outputs(),
            [Output::Reconnecting(Reconnecting {
                attempt: 1,
                delay: 100 * MS,
                reason: ReconnectReason::IdleTimeout,
            })]
        );
        // Chunks of the dropped stream are ignored.
        h.chunk(b"\n\n");
        assert_eq!(h.outputs(), []);
    }

    #[test]
    fn the_connect_timeout_fails_the_attempt() {
        let mut h = Harness::new(config().connect_timeout(Some(Duration::from_secs(2))));
        h.connect();
        assert_eq!(h.es.poll_timeout(), Some(h.now + Duration::from_secs(2)));
        h.now += Duration::from_secs(2);
        h.es.handle_timeout(h.now);
        assert_eq!(h.reconnecting().reason, ReconnectReason::ConnectTimeout);
        // A late response is ignored.
        h.respond(200, &sse_headers());
        assert_eq!(h.outputs(), []);
        // No timeouts: no timer while waiting for a response or reading.
        let mut h = Harness::new(config().connect_timeout(None).idle_timeout(None));
        h.connect();
        assert_eq!(h.es.poll_timeout(), None);
        h.respond(200, &sse_headers());
        assert_eq!(h.es.poll_timeout(), None);
    }

    #[test]
    fn max_attempts_stops_after_that_many_failures_in_a_row() {
        let mut h = Harness::new(config().max_attempts(Some(2)));
        h.connect();
        h.es.handle_connect_error(h.now);
        assert_eq!(h.reconnecting().attempt, 1);
        h.wait();
        h.connect();
        h.respond(500, &HeaderMap::new());
        assert_eq!(h.reconnecting().attempt, 2);
        h.wait();
        h.connect();
        h.respond(503, &HeaderMap::new());
        let reason = h.stopped();
        assert_eq!(
            reason,
            StopReason::AttemptsExhausted {
                attempts: 2,
                last: ReconnectReason::Status(StatusCode::SERVICE_UNAVAILABLE),
            }
        );
        assert_eq!(
            reason.to_string(),
            "gave up after 2 reconnect attempts (the server answered 503)"
        );

        // A good stream starts the count again.
        let mut h = Harness::new(config().max_attempts(Some(1)));
        for _ in 0..5 {
            h.open();
            h.chunk(b"data: x\n\n");
            h.es.handle_end(h.now);
            assert!(matches!(h.outputs()[1], Output::Reconnecting(r) if r.attempt == 1));
            h.wait();
        }
        // Some(0): never reconnect.
        let mut h = Harness::new(config().max_attempts(Some(0)));
        h.open();
        h.es.handle_end(h.now);
        assert!(matches!(
            h.stopped(),
            StopReason::AttemptsExhausted { attempts: 0, .. }
        ));
    }

    #[test]
    fn jitter_only_lengthens_is_bounded_and_follows_the_seed() {
        let delays = |seed: u64| -> Vec<Duration> {
            let mut es = Reconnect::with_seed(config().jitter(0.5), seed);
            let mut now = Instant::now();
            let mut out = Vec::new();
            for _ in 0..6 {
                es.poll_connect(now).unwrap();
                es.handle_connect_error(now);
                let Some(Output::Reconnecting(r)) = es.poll_output() else {
                    panic!()
                };
                out.push(r.delay);
                now = es.poll_timeout().unwrap();
                es.handle_timeout(now);
            }
            out
        };
        let a = delays(7);
        assert_eq!(a, delays(7), "the same seed gives the same delays");
        assert_ne!(a, delays(8));
        for (d, base) in a.iter().zip([100, 200, 400, 800, 1000, 1000]) {
            let base = base * MS;
            assert!(*d >= base && *d < base * 3 / 2, "{d:?} vs {base:?}");
        }
    }

    #[test]
    fn limit_errors_skip_the_event_and_the_stream_goes_on() {
        let c = config().parser(ParserConfig::default().max_event_len(4));
        let mut h = Harness::new(c);
        h.open();
        h.chunk(b"data: ok\n\ndata: too long\n\ndata: ok2\n\n");
        let out = h.outputs();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0], ev("ok", ""));
        assert!(matches!(&out[1], Output::Skipped(e) if e.limit() == 4));
        assert_eq!(out[2], ev("ok2", ""));
        assert!(h.es.is_open());
    }

    #[test]
    fn close_stops_in_every_state() {
        let mut h = Harness::new(config());
        h.close_and_check();
        let mut h = Harness::new(config());
        h.connect();
        h.close_and_check();
        let mut h = Harness::new(config());
        h.open();
        h.close_and_check();
        let mut h = Harness::new(config());
        h.connect();
        h.es.handle_connect_error(h.now);
        h.reconnecting();
        h.close_and_check();
    }

    impl Harness {
        fn close_and_check(&mut self) {
            self.es.close();
            self.es.close();
            assert_eq!(self.stopped(), StopReason::Closed);
            assert!(self.es.is_stopped() && !self.es.is_open());
            assert_eq!(self.es.poll_timeout(), None);
            assert!(self.es.poll_connect(self.now).is_none());
        }
    }

    #[test]
    fn huge_attempt_counts_and_delays_do_not_overflow() {
        let c = config()
            .reconnection_time(Duration::MAX)
            .max_delay(Duration::MAX)
            .jitter(1.0);
        let mut es = Reconnect::with_seed(c, 3);
        es.attempt = u32::MAX - 1;
        let now = Instant::now();
        es.poll_connect(now).unwrap();
        es.handle_connect_error(now);
        let Some(Output::Reconnecting(r)) = es.poll_output() else {
            panic!()
        };
        assert_eq!(r.attempt, u32::MAX);
        assert_eq!(r.delay, Duration::MAX);
        assert!(es.poll_timeout().unwrap() > now);
    }
}
