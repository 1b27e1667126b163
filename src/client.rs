//! An async `EventSource` client over reqwest (feature `client`).
//!
//! [`EventSource`] follows a stream the way a browser's `EventSource` does:
//! it reconnects when the stream ends, sends the last event ID back as
//! `Last-Event-ID`, waits the server's `retry:` time, and stops for good on
//! 204 No Content. Unlike a browser it can send any header (an
//! `Authorization` token), any method and a body (the `POST` that LLM APIs
//! need), gives up after a number of attempts if told to, reconnects a stream
//! that went silent, and retries 5xx, 408 and 429 (honouring `Retry-After`)
//! instead of failing on them. Every rule lives in the sans-IO
//! [`Reconnect`] machine (see
//! [`reconnect`](crate::reconnect) for the table); this module only moves
//! bytes and arms the timer, and the bytes go through the crate's own
//! [`Parser`](crate::Parser).
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use sse_session::client::{EventSource, Item};
//!
//! # async fn run() -> Result<(), sse_session::client::Error> {
//! let mut events = EventSource::builder("http://127.0.0.1:3000/events")
//!     .header("authorization", "Bearer secret")
//!     .build()?;
//! while let Some(item) = events.next().await {
//!     match item? {
//!         Item::Event(e) => println!("{}: {}", e.event_type(), e.data()),
//!         Item::Reconnecting { attempt, delay, .. } => eprintln!("reconnect #{attempt} in {delay:?}"),
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # Items
//!
//! [`EventSource`] is a `Stream` of `Result<Item, Error>`:
//!
//! - `Ok(Item::Open { .. })`: a response was accepted (200,
//!   `text/event-stream`); its events follow;
//! - `Ok(Item::Event(_))`, `Ok(Item::Comment(_))`, `Ok(Item::Retry(_))`: the
//!   stream's frames, in order;
//! - `Ok(Item::Skipped(_))`: an event over the parser's limits was skipped;
//!   the stream goes on;
//! - `Ok(Item::Reconnecting { .. })`: the connection ended or failed; the
//!   next attempt follows after `delay`;
//! - `Ok(Item::Stopped(_))`: a clean end (204 No Content, or
//!   [`close`](EventSource::close)); the last item;
//! - `Err(_)`: the client stopped on a failure (a status it does not retry,
//!   a wrong content type, too many attempts, a request that cannot be
//!   built); the last item. [`Error::kind`] says which.
//!
//! After the last item the stream returns `None`.
//!
//! # TLS
//!
//! The default HTTP client is reqwest 0.13 with rustls on *ring* and the
//! platform's certificate verifier (no OpenSSL, no cmake: it builds with a C
//! compiler alone). Pass your own `reqwest::Client` with
//! [`Builder::http_client`] to share its connection pool, proxies and TLS
//! settings.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures_core::Stream;
use http::header::{HeaderName, HeaderValue, ACCEPT, CACHE_CONTROL};
use http::{HeaderMap, Method, StatusCode};
use http_body::Body as _;

use crate::field::{EventId, RetryDelay};
use crate::parse::{Comment, Frame, MessageEvent, ParseError, ParserConfig};
use crate::reconnect::{Output, Reconnect, ReconnectConfig, ReconnectReason, StopReason};

const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

// ---------------------------------------------------------------------------
// items

/// One item of an [`EventSource`] stream; see the [module docs](self) for the
/// order they come in.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Item {
    /// A response was accepted: status 200, `text/event-stream`.
    #[non_exhaustive]
    Open {
        /// 0 for the first connection, then the reconnect attempt's number.
        attempt: u32,
        /// The response's headers (e.g. a session header the server sets).
        headers: HeaderMap,
    },
    /// An event.
    Event(MessageEvent),
    /// A comment line (servers send them as keep-alives).
    Comment(Comment),
    /// A valid `retry:` line: the reconnection time is now this.
    Retry(RetryDelay),
    /// An event over the parser's limits was skipped; the stream goes on.
    Skipped(ParseError),
    /// The connection ended or failed; the next request goes out after
    /// `delay`.
    #[non_exhaustive]
    Reconnecting {
        /// 1 after a good stream, counting up while attempts fail.
        attempt: u32,
        /// The wait before the next request.
        delay: Duration,
        /// Why the connection ended.
        reason: ReconnectReason,
        /// The transport error behind `reason`, if there was one.
        error: Option<Error>,
    },
    /// A clean end: the server answered 204 No Content
    /// ([`StopReason::NoContent`]) or [`EventSource::close`] was called
    /// ([`StopReason::Closed`]). The last item.
    Stopped(StopReason),
}

// ---------------------------------------------------------------------------
// errors

/// What kind of failure an [`Error`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request or the HTTP client could not be built: an invalid URL,
    /// header, or last event ID ([`Builder::build`]).
    Build,
    /// A request failed before its response (DNS, refused, TLS). Only in
    /// [`Item::Reconnecting`], or behind [`ErrorKind::AttemptsExhausted`].
    Connect,
    /// Reading a response body failed. Only in [`Item::Reconnecting`], or
    /// behind [`ErrorKind::AttemptsExhausted`].
    Read,
    /// The server answered a status that is not retried
    /// ([`StopReason::Status`]).
    Status,
    /// The server answered 200 with a content type that is not
    /// `text/event-stream` ([`StopReason::ContentType`]).
    ContentType,
    /// Too many attempts in a row failed
    /// ([`StopReason::AttemptsExhausted`]).
    AttemptsExhausted,
}

/// The error of an [`EventSource`]: a failure that stopped it (the stream's
/// last item), or the transport error behind a reconnect. Cheap to clone.
#[derive(Clone)]
pub struct Error {
    kind: ErrorKind,
    stop: Option<StopReason>,
    message: Option<String>,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    fn new(kind: ErrorKind) -> Self {
        Error {
            kind,
            stop: None,
            message: None,
            source: None,
        }
    }

    fn build(message: impl Into<String>) -> Self {
        Error {
            message: Some(message.into()),
            ..Error::new(ErrorKind::Build)
        }
    }

    fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    fn stopped(reason: StopReason, last: Option<Error>) -> Self {
        let kind = match reason {
            StopReason::ContentType(_) => ErrorKind::ContentType,
            StopReason::AttemptsExhausted { .. } => ErrorKind::AttemptsExhausted,
            _ => ErrorKind::Status,
        };
        Error {
            kind,
            stop: Some(reason),
            message: None,
            source: last.map(|e| Arc::new(e) as Arc<dyn std::error::Error + Send + Sync>),
        }
    }

    /// What kind of failure this is.
    ///
    /// ```
    /// use sse_session::client::{EventSource, ErrorKind};
    /// let err = EventSource::builder("not a url").build().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Build);
    /// ```
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Why the client stopped, for the errors that stopped it.
    ///
    /// ```
    /// use sse_session::client::EventSource;
    /// let err = EventSource::builder("not a url").build().unwrap_err();
    /// assert!(err.stop_reason().is_none());
    /// ```
    #[must_use]
    pub fn stop_reason(&self) -> Option<&StopReason> {
        self.stop.as_ref()
    }

    /// The status the server answered, for [`ErrorKind::Status`] and for
    /// [`ErrorKind::AttemptsExhausted`] after a retried status.
    ///
    /// ```
    /// use sse_session::client::EventSource;
    /// let err = EventSource::builder("not a url").build().unwrap_err();
    /// assert_eq!(err.status(), None);
    /// ```
    #[must_use]
    pub fn status(&self) -> Option<StatusCode> {
        match self.stop {
            Some(StopReason::Status(s))
            | Some(StopReason::AttemptsExhausted {
                last: ReconnectReason::Status(s),
                ..
            }) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("stop", &self.stop)
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.stop, &self.message, self.kind) {
            (Some(stop), _, _) => fmt::Display::fmt(stop, f),
            (None, Some(message), _) => f.write_str(message),
            (None, None, ErrorKind::Connect) => f.write_str("the request failed"),
            (None, None, ErrorKind::Read) => f.write_str("reading the stream failed"),
            (None, None, _) => f.write_str("event source error"),
        }?;
        // The transport error says what actually happened.
        if let (Some(source), ErrorKind::Connect | ErrorKind::Read) = (&self.source, self.kind) {
            write!(f, ": {}", error_chain(&**source))?;
        }
        Ok(())
    }
}

/// An error and its sources, `: `-separated (reqwest's own Display stops
/// at "error sending request").
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = e.source();
    }
    out
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

// ---------------------------------------------------------------------------
// builder

/// The request an [`EventSource`] sends, and how it reconnects. Made by
/// [`EventSource::builder`]; every setter can be chained, and the first
/// invalid value is reported by [`build`](Self::build).
///
/// | setting | default |
/// |---|---|
/// | [`method`](Self::method) | `GET` |
/// | headers | `Accept: text/event-stream` and `Cache-Control: no-cache` (as browsers send), unless set |
/// | [`body`](Self::body) | none |
/// | [`last_event_id`](Self::last_event_id) | none: the first request has no `Last-Event-ID` |
/// | [`http_client`](Self::http_client) | one shared reqwest client (rustls on ring, the platform's verifier) |
/// | timeouts, backoff, attempts, limits | [`ReconnectConfig::default`] (connect 30 s, idle 5 min, no attempt cap, 8 MiB events) |
///
/// ```
/// use std::time::Duration;
/// use sse_session::client::EventSource;
///
/// let events = EventSource::builder("https://api.example.com/v1/stream")
///     .method(http::Method::POST)
///     .header("authorization", "Bearer secret")
///     .header("content-type", "application/json")
///     .body(r#"{"stream":true}"#)
///     .idle_timeout(Some(Duration::from_secs(60)))
///     .max_attempts(Some(5))
///     .build()?;
/// # drop(events);
/// # Ok::<(), sse_session::client::Error>(())
/// ```
#[must_use = "a builder does nothing until built"]
pub struct Builder {
    inner: Result<Template, Error>,
    config: ReconnectConfig,
    client: Option<reqwest::Client>,
    last_event_id: Option<EventId>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("request", &self.inner)
            .field("config", &self.config)
            .field("last_event_id", &self.last_event_id)
            .finish_non_exhaustive()
    }
}

/// What every attempt sends.
#[derive(Clone, Debug)]
struct Template {
    method: Method,
    url: reqwest::Url,
    headers: HeaderMap,
    body: Option<Bytes>,
}

impl Builder {
    fn with<F: FnOnce(&mut Template) -> Result<(), Error>>(mut self, f: F) -> Self {
        if let Ok(template) = &mut self.inner {
            if let Err(e) = f(template) {
                self.inner = Err(e);
            }
        }
        self
    }

    /// The request method (default `GET`).
    pub fn method(self, method: Method) -> Self {
        self.with(|t| {
            t.method = method;
            Ok(())
        })
    }

    /// Adds a header to every request (several values of one name add up).
    /// A `Last-Event-ID` header is taken as [`last_event_id`](Self::last_event_id).
    /// An invalid name or value is reported by [`build`](Self::build).
    ///
    /// ```
    /// let err = sse_session::client::EventSource::builder("http://127.0.0.1/")
    ///     .header("x-bad", "line\nbreak")
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.to_string(), "invalid value for header x-bad");
    /// ```
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        HeaderValue: TryFrom<V>,
    {
        let name = match HeaderName::try_from(name) {
            Ok(name) => name,
            Err(_) => {
                self.inner = self.inner.and(Err(Error::build("invalid header name")));
                return self;
            }
        };
        let Ok(value) = HeaderValue::try_from(value) else {
            let e = Error::build(format!("invalid value for header {name}"));
            self.inner = self.inner.and(Err(e));
            return self;
        };
        if name == LAST_EVENT_ID {
            return match value.to_str().ok().and_then(|v| EventId::try_from(v).ok()) {
                Some(id) => {
                    self.last_event_id = Some(id);
                    self
                }
                None => {
                    let e = Error::build("invalid last event id");
                    self.inner = self.inner.and(Err(e));
                    self
                }
            };
        }
        self.with(|t| {
            t.headers.append(name, value);
            Ok(())
        })
    }

    /// Adds these headers to every request (as [`header`](Self::header)).
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        let mut last_name = None;
        for (name, value) in headers {
            let name = match name {
                Some(name) => {
                    last_name = Some(name.clone());
                    name
                }
                None => match &last_name {
                    Some(name) => name.clone(),
                    None => continue,
                },
            };
            self = self.header(name, value);
        }
        self
    }

    /// The request body, sent again with every reconnect (default none).
    /// Set `content-type` with [`header`](Self::header).
    pub fn body(self, body: impl Into<Bytes>) -> Self {
        let body = body.into();
        self.with(|t| {
            t.body = Some(body);
            Ok(())
        })
    }

    /// The last event ID to start from, e.g. one kept from an earlier run:
    /// the first request sends it as `Last-Event-ID` (unless empty). An ID
    /// with CR, LF or NUL is reported by [`build`](Self::build).
    ///
    /// ```
    /// let err = sse_session::client::EventSource::builder("http://127.0.0.1/")
    ///     .last_event_id("a\nb")
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.to_string(), "invalid last event id: event id contains a line feed at byte 1");
    /// ```
    pub fn last_event_id(mut self, id: &str) -> Self {
        match EventId::try_from(id) {
            Ok(id) => self.last_event_id = Some(id),
            Err(e) => {
                let e = Error::build(format!("invalid last event id: {e}"));
                self.inner = self.inner.and(Err(e));
            }
        }
        self
    }

    /// The reqwest client to send with (its pool, proxies, TLS settings);
    /// default: one shared client with rustls.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Every reconnect setting at once (replaces those set before).
    pub fn reconnect(mut self, config: ReconnectConfig) -> Self {
        self.config = config;
        self
    }

    /// See [`ReconnectConfig::connect_timeout`] (default 30 s).
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config = self.config.connect_timeout(timeout);
        self
    }

    /// See [`ReconnectConfig::idle_timeout`] (default 5 minutes).
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config = self.config.idle_timeout(timeout);
        self
    }

    /// See [`ReconnectConfig::max_attempts`] (default none).
    pub fn max_attempts(mut self, attempts: Option<u32>) -> Self {
        self.config = self.config.max_attempts(attempts);
        self
    }

    /// See [`ReconnectConfig::parser`] (default [`ParserConfig::default`]).
    pub fn parser(mut self, config: ParserConfig) -> Self {
        self.config = self.config.parser(config);
        self
    }

    /// The event source. Nothing is sent until it is first polled.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Build`]: the first invalid URL (not `http` or `https`),
    /// header or last event ID given to the builder, or a default HTTP
    /// client that could not be made.
    pub fn build(self) -> Result<EventSource, Error> {
        let mut template = self.inner?;
        if !template.headers.contains_key(ACCEPT) {
            template
                .headers
                .insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        }
        if !template.headers.contains_key(CACHE_CONTROL) {
            template
                .headers
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        }
        let client = match self.client {
            Some(client) => client,
            None => default_client()?,
        };
        let mut machine = Reconnect::new(self.config);
        if let Some(id) = &self.last_event_id {
            machine = machine.with_last_event_id(id);
        }
        Ok(EventSource {
            machine,
            client,
            template,
            request: None,
            attempt: 0,
            response_headers: None,
            body: None,
            timer: None,
            armed: None,
            last_error: None,
            fatal: None,
            done: false,
        })
    }
}

/// The shared default client: reqwest with rustls on ring and the platform
/// verifier, built once.
fn default_client() -> Result<reqwest::Client, Error> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client.clone());
    }
    use rustls_platform_verifier::BuilderVerifierExt;
    // rustls 0.23.48 deprecates ring's provider for lacking post-quantum key
    // exchange; it is kept because aws-lc-rs needs cmake (and NASM on
    // Windows) to build. A caller who wants post-quantum key exchange passes
    // a reqwest client built on aws-lc-rs through `Builder::http_client`.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_platform_verifier())
        .map_err(|e| Error::build("cannot set up TLS").with_source(e))?
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .map_err(|e| Error::build("cannot build the http client").with_source(e))?;
    Ok(CLIENT.get_or_init(|| client).clone())
}

// ---------------------------------------------------------------------------
// the stream

type ResponseFuture = Pin<Box<dyn Future<Output = reqwest::Result<reqwest::Response>> + Send>>;

/// An `EventSource`: a `Stream` of [`Item`]s that reconnects by itself (see
/// the [module docs](self)). Made by [`EventSource::builder`] or
/// [`EventSource::new`]; dropping it closes the connection.
///
/// # Panics
///
/// Polling it outside a tokio runtime with the time driver enabled panics
/// (tokio's timers and reqwest need one), as any reqwest future does.
#[must_use = "an event source does nothing unless polled"]
pub struct EventSource {
    machine: Reconnect,
    client: reqwest::Client,
    template: Template,
    request: Option<ResponseFuture>,
    /// The attempt number of `request`.
    attempt: u32,
    /// The accepted response's headers, until `Item::Open` takes them.
    response_headers: Option<HeaderMap>,
    body: Option<reqwest::Body>,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The deadline the timer is set to (it may be earlier than the
    /// machine's: moving an idle deadline later does not reset the timer,
    /// the timer re-arms when it fires early).
    armed: Option<Instant>,
    /// The transport error of the connection that just failed.
    last_error: Option<Error>,
    /// A failure that is not the machine's to decide (a request reqwest
    /// cannot build): reported instead of `Stopped(Closed)`.
    fatal: Option<Error>,
    done: bool,
}

impl fmt::Debug for EventSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSource")
            .field("url", &self.template.url.as_str())
            .field("method", &self.template.method)
            .field("machine", &self.machine)
            .field("request_pending", &self.request.is_some())
            .field("reading", &self.body.is_some())
            .finish_non_exhaustive()
    }
}

impl EventSource {
    /// A builder for a stream from `url` (`http` or `https`; an invalid one
    /// is reported by [`Builder::build`]).
    ///
    /// ```
    /// let builder = sse_session::client::EventSource::builder("http://127.0.0.1:3000/events");
    /// # let _ = builder;
    /// ```
    pub fn builder(url: impl AsRef<str>) -> Builder {
        let inner = reqwest::Url::parse(url.as_ref())
            .map_err(|e| Error::build(format!("invalid url: {e}")))
            .and_then(|url| match url.scheme() {
                "http" | "https" => Ok(url),
                other => Err(Error::build(format!("unsupported url scheme {other:?}"))),
            })
            .map(|url| Template {
                method: Method::GET,
                url,
                headers: HeaderMap::new(),
                body: None,
            });
        Builder {
            inner,
            config: ReconnectConfig::default(),
            client: None,
            last_event_id: None,
        }
    }

    /// A `GET` stream from `url` with the defaults.
    ///
    /// # Errors
    ///
    /// As [`Builder::build`].
    ///
    /// ```
    /// let events = sse_session::client::EventSource::new("http://127.0.0.1:3000/events")?;
    /// # drop(events);
    /// # Ok::<(), sse_session::client::Error>(())
    /// ```
    pub fn new(url: impl AsRef<str>) -> Result<Self, Error> {
        EventSource::builder(url).build()
    }

    /// Stops for good: the connection is dropped, the stream yields
    /// `Item::Stopped(StopReason::Closed)` and ends.
    pub fn close(&mut self) {
        self.machine.close();
        self.request = None;
        self.body = None;
    }

    /// The last event ID: what the next request sends as `Last-Event-ID`.
    #[must_use]
    pub fn last_event_id(&self) -> &str {
        self.machine.last_event_id()
    }

    /// The reconnection time: the server's last `retry:`, else the
    /// configured one.
    #[must_use]
    pub fn reconnection_time(&self) -> Duration {
        self.machine.reconnection_time()
    }

    /// The URL the requests go to.
    #[must_use]
    pub fn url(&self) -> &str {
        self.template.url.as_str()
    }

    fn send(&self, last_event_id: Option<HeaderValue>) -> ResponseFuture {
        let t = &self.template;
        let mut request = self
            .client
            .request(t.method.clone(), t.url.clone())
            .headers(t.headers.clone());
        if let Some(id) = last_event_id {
            request = request.header(LAST_EVENT_ID, id);
        }
        if let Some(body) = &t.body {
            request = request.body(body.clone());
        }
        Box::pin(request.send())
    }

    fn map_output(&mut self, output: Output) -> Result<Item, Error> {
        Ok(match output {
            Output::Open => Item::Open {
                attempt: self.attempt,
                headers: self.response_headers.take().unwrap_or_default(),
            },
            Output::Frame(Frame::Event(e)) => Item::Event(e),
            Output::Frame(Frame::Comment(c)) => Item::Comment(c),
            Output::Frame(Frame::Retry(r)) => Item::Retry(r),
            Output::Skipped(e) => Item::Skipped(e),
            Output::Reconnecting(r) => Item::Reconnecting {
                attempt: r.attempt,
                delay: r.delay,
                reason: r.reason,
                error: self.last_error.take(),
            },
            Output::Stopped(reason) => {
                self.done = true;
                self.request = None;
                self.body = None;
                if let Some(fatal) = self.fatal.take() {
                    return Err(fatal);
                }
                if reason.is_clean() {
                    Item::Stopped(reason)
                } else {
                    return Err(Error::stopped(reason, self.last_error.take()));
                }
            }
        })
    }
}

/// The clock the machine runs on: tokio's, so that a paused test clock
/// applies to it too.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl Stream for EventSource {
    type Item = Result<Item, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            // 1. Outputs, in order.
            if let Some(output) = this.machine.poll_output() {
                return Poll::Ready(Some(this.map_output(output)));
            }
            if this.done {
                return Poll::Ready(None);
            }
            // 2. A request that is due; drop what the machine left behind.
            if !this.machine.is_awaiting_response() {
                this.request = None;
            }
            if !this.machine.is_open() {
                this.body = None;
            }
            if let Some(connect) = this.machine.poll_connect(now()) {
                this.attempt = connect.attempt;
                this.request = Some(this.send(connect.last_event_id));
            }
            // 3. The response head.
            if let Some(request) = &mut this.request {
                if let Poll::Ready(result) = request.as_mut().poll(cx) {
                    this.request = None;
                    match result {
                        Ok(response) => {
                            this.machine.handle_response(
                                now(),
                                SystemTime::now(),
                                response.status(),
                                response.headers(),
                            );
                            if this.machine.is_open() {
                                this.response_headers = Some(response.headers().clone());
                                this.body = Some(reqwest::Body::from(response));
                            }
                        }
                        Err(e) if e.is_builder() => {
                            // The same request would fail the same way.
                            this.fatal =
                                Some(Error::build("cannot build the request").with_source(e));
                            this.machine.close();
                        }
                        Err(e) => {
                            this.last_error = Some(Error::new(ErrorKind::Connect).with_source(e));
                            this.machine.handle_connect_error(now());
                        }
                    }
                    continue;
                }
            }
            // 4. The body.
            if let Some(body) = &mut this.body {
                if let Poll::Ready(frame) = Pin::new(body).poll_frame(cx) {
                    match frame {
                        Some(Ok(frame)) => {
                            if let Ok(data) = frame.into_data() {
                                this.machine.handle_chunk(now(), data);
                            }
                        }
                        Some(Err(e)) => {
                            this.body = None;
                            this.last_error = Some(Error::new(ErrorKind::Read).with_source(e));
                            this.machine.handle_read_error(now());
                        }
                        None => {
                            this.body = None;
                            this.machine.handle_end(now());
                        }
                    }
                    continue;
                }
            }
            // 5. The timer.
            let Some(deadline) = this.machine.poll_timeout() else {
                return Poll::Pending;
            };
            if this.armed.is_none_or(|armed| deadline < armed) {
                let at = tokio::time::Instant::from_std(deadline);
                match &mut this.timer {
                    Some(timer) => timer.as_mut().reset(at),
                    None => this.timer = Some(Box::pin(tokio::time::sleep_until(at))),
                }
                this.armed = Some(deadline);
            }
            let timer = this.timer.as_mut().expect("armed above");
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let fired = this.armed.take().expect("armed above");
            // The timer's instant has come (tokio rounds up to the
            // millisecond); an early call for a deadline that moved later
            // does nothing, and the loop re-arms.
            this.machine.handle_timeout(now().max(fired));
        }
    }
}
