//! Shared by tests/hyper_server.rs and tests/axum_server.rs: a real HTTP
//! client (hyper's, HTTP/1.1 or h2c prior knowledge, over a TCP stream that
//! records every byte it reads), and the scenarios both servers must pass.
//!
//! Response bodies are decoded with the crate's own `Parser`. Every wait is
//! bounded by a timeout. Include with
//! `#[macro_use] #[path = "common/client.rs"] mod client;`.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::HeaderValue;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sse_session::live::{SendErrorKind, Sender, SessionConfig, Sessions};
use sse_session::{Event, Frame, IdSource, Parser, SessionId};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The bound on any single wait in these tests.
pub const STEP: Duration = Duration::from_secs(5);

pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {STEP:?} waiting for {what}"),
    }
}

/// A server under test: its address, the senders of the connections it
/// accepted (in order), and its `Sessions`.
pub struct TestServer {
    pub addr: SocketAddr,
    pub senders: mpsc::UnboundedReceiver<Sender>,
    pub sessions: Sessions,
}

impl TestServer {
    /// The sender of the next connection the server opened.
    pub async fn sender(&mut self) -> Sender {
        within("the server's sender", self.senders.recv())
            .await
            .expect("server task alive")
    }
}

/// A TCP stream that keeps a copy of every byte read from it.
struct Tap {
    inner: TcpStream,
    log: Arc<Mutex<Vec<u8>>>,
}

impl AsyncRead for Tap {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let new = &buf.filled()[before..];
            self.log.lock().unwrap().extend_from_slice(new);
        }
        polled
    }
}

impl AsyncWrite for Tap {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    H1,
    /// h2c with prior knowledge.
    H2,
}

/// One response being read.
pub struct Stream {
    pub status: StatusCode,
    pub headers: HeaderMap,
    body: Incoming,
    parser: Parser,
    pending: VecDeque<Frame>,
    /// The decoded body bytes so far.
    pub body_bytes: Vec<u8>,
    raw: Arc<Mutex<Vec<u8>>>,
    conn: JoinHandle<()>,
    ended: bool,
}

/// `GET path_and_query` with extra headers (values as raw bytes, so non-ASCII
/// header values can be sent).
pub async fn get(
    addr: SocketAddr,
    proto: Proto,
    path_and_query: &str,
    headers: &[(&str, &[u8])],
) -> Stream {
    let tcp = within("connect", TcpStream::connect(addr)).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let raw = Arc::new(Mutex::new(Vec::new()));
    let io = TokioIo::new(Tap {
        inner: tcp,
        log: Arc::clone(&raw),
    });
    let mut req = Request::get(match proto {
        Proto::H1 => path_and_query.to_owned(),
        Proto::H2 => format!("http://{addr}{path_and_query}"),
    });
    if proto == Proto::H1 {
        req = req.header("host", addr.to_string());
    }
    for (name, value) in headers {
        req = req.header(*name, HeaderValue::from_bytes(value).unwrap());
    }
    let req = req.body(Empty::<Bytes>::new()).unwrap();
    let (response, conn) = match proto {
        Proto::H1 => {
            let (mut send, conn) =
                within("h1 handshake", hyper::client::conn::http1::handshake(io))
                    .await
                    .unwrap();
            let conn = tokio::spawn(async move {
                let _ = conn.await;
            });
            (
                within("response head", send.send_request(req))
                    .await
                    .unwrap(),
                conn,
            )
        }
        Proto::H2 => {
            let (mut send, conn) = within(
                "h2 handshake",
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io),
            )
            .await
            .unwrap();
            let conn = tokio::spawn(async move {
                let _ = conn.await;
            });
            (
                within("response head", send.send_request(req))
                    .await
                    .unwrap(),
                conn,
            )
        }
    };
    let (parts, body) = response.into_parts();
    Stream {
        status: parts.status,
        headers: parts.headers,
        body,
        parser: Parser::new(),
        pending: VecDeque::new(),
        body_bytes: Vec::new(),
        raw,
        conn,
        ended: false,
    }
}

/// `GET /events` as a browser's `EventSource` sends it, plus `extra` headers.
pub async fn open(addr: SocketAddr, proto: Proto, query: &str, extra: &[(&str, &[u8])]) -> Stream {
    let mut headers: Vec<(&str, &[u8])> = vec![("accept", b"text/event-stream")];
    headers.extend_from_slice(extra);
    get(addr, proto, &format!("/events{query}"), &headers).await
}

impl Stream {
    /// Reads one more body chunk into the parser. False at the end.
    async fn pull(&mut self) -> bool {
        if self.ended {
            return false;
        }
        match within("a body chunk", self.body.frame()).await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    self.body_bytes.extend_from_slice(&data);
                    self.parser.feed(&data);
                }
            }
            Some(Err(_)) | None => {
                self.parser.finish();
                self.ended = true;
            }
        }
        while let Some(frame) = self.parser.next_frame().expect("a well-formed stream") {
            self.pending.push_back(frame);
        }
        true
    }

    /// The next parsed frame (event, retry or comment), `None` at the end.
    pub async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.pending.pop_front() {
                return Some(frame);
            }
            if !self.pull().await {
                return None;
            }
        }
    }

    /// The next frame if one arrives within `wait`.
    pub async fn frame_within(&mut self, wait: Duration) -> Option<Frame> {
        tokio::time::timeout(wait, self.next_frame())
            .await
            .ok()
            .flatten()
    }

    /// Reads the first frame (`retry:` + `id:`, no data) and returns the ID
    /// the parser took from it.
    pub async fn first_id(&mut self) -> String {
        while !self.body_bytes.windows(2).any(|w| w == b"\n\n") {
            assert!(self.pull().await, "stream ended before its first frame");
        }
        // The first frame dispatches no event; it only sets the retry time
        // and the last event ID.
        let retries: Vec<_> = self.pending.drain(..).collect();
        assert!(
            retries.iter().all(|f| matches!(f, Frame::Retry(_))),
            "unexpected frames in the first frame: {retries:?}"
        );
        self.parser.last_event_id().to_owned()
    }

    /// The parser's last event ID (what a browser would send back).
    pub fn last_event_id(&self) -> &str {
        self.parser.last_event_id()
    }

    /// Reads to the end of the body and returns the frames before it.
    pub async fn expect_end(&mut self) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some(frame) = self.next_frame().await {
            frames.push(frame);
        }
        frames
    }

    /// Every byte received on the connection so far (head and body).
    pub fn raw(&self) -> Vec<u8> {
        self.raw.lock().unwrap().clone()
    }

    /// Drops the client side: the TCP connection closes.
    pub fn drop_connection(self) {
        self.conn.abort();
        drop(self.body);
    }
}

/// The data of an event frame, or panic.
pub fn data_of(frame: Option<Frame>) -> String {
    match frame {
        Some(Frame::Event(e)) => e.data().to_owned(),
        other => panic!("expected an event, got {other:?}"),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn assert_valid_fresh(id: &str, not: &str) {
    assert!(SessionId::try_from(id).is_ok(), "not a session id: {id:?}");
    assert_eq!(id.len(), 36, "a fresh id is a hyphenated UUID: {id:?}");
    assert_ne!(id, not);
}

// ---------------------------------------------------------------- scenarios

/// A new connection gets a fresh ID in `id:` and the SSE headers.
pub async fn fresh_id<F, Fut>(start: F)
where
    F: Fn(SessionConfig) -> Fut,
    Fut: Future<Output = TestServer>,
{
    let mut server = start(SessionConfig::default()).await;
    let mut stream = open(server.addr, Proto::H1, "", &[]).await;
    assert_eq!(stream.status, StatusCode::OK);
    let h = &stream.headers;
    assert_eq!(h["content-type"], "text/event-stream");
    assert_eq!(h["cache-control"], "no-cache");
    assert_eq!(h["x-accel-buffering"], "no");
    assert!(h.get("connection").is_none());
    assert!(h.get("keep-alive").is_none());
    assert!(h.get("content-length").is_none());

    let id = stream.first_id().await;
    assert_valid_fresh(&id, "");
    assert_eq!(
        stream.body_bytes,
        format!("retry: 3000\nid: {id}\n\n").as_bytes()
    );
    let tx = server.sender().await;
    assert_eq!(tx.session_id().as_str(), id);

    tx.send(Event::new("hello")).unwrap();
    match stream.next_frame().await {
        Some(Frame::Event(e)) => {
            assert_eq!(e.data(), "hello");
            assert_eq!(e.event_type(), "message");
            assert_eq!(e.last_event_id(), id, "events keep the session id");
        }
        other => panic!("expected the event, got {other:?}"),
    }

    // Not an EventSource request (curl sends `Accept: */*`): served all the same.
    let mut curl = get(server.addr, Proto::H1, "/events", &[("accept", b"*/*")]).await;
    assert_eq!(curl.status, StatusCode::OK);
    assert_valid_fresh(&curl.first_id().await, &id);
}

/// `Last-Event-ID` and `?id=` keep the session; a client-chosen ID is kept;
/// a resume token with a sequence number resumes its session.
pub async fn reconnect_keeps_id<F, Fut>(start: F)
where
    F: Fn(SessionConfig) -> Fut,
    Fut: Future<Output = TestServer>,
{
    let mut server = start(SessionConfig::default()).await;
    let mut first = open(server.addr, Proto::H1, "", &[]).await;
    let id = first.first_id().await;
    let tx = server.sender().await;
    assert_eq!(tx.session_id().as_str(), id);
    first.drop_connection();

    let mut by_header = open(
        server.addr,
        Proto::H1,
        "",
        &[("last-event-id", id.as_bytes())],
    )
    .await;
    assert_eq!(by_header.first_id().await, id);
    let _ = server.sender().await;

    let mut by_query = open(server.addr, Proto::H1, &format!("?id={id}"), &[]).await;
    assert_eq!(by_query.first_id().await, id);
    let _ = server.sender().await;

    let token = format!("{id}.42");
    let mut with_seq = open(
        server.addr,
        Proto::H1,
        "",
        &[("last-event-id", token.as_bytes())],
    )
    .await;
    assert_eq!(
        with_seq.first_id().await,
        id,
        "the id: line carries the session id"
    );
    let _ = server.sender().await;

    let mut chosen = open(server.addr, Proto::H1, "?id=tab_A-1", &[]).await;
    assert_eq!(chosen.first_id().await, "tab_A-1");
    let _ = server.sender().await;
    let handshake = server.sessions.handshake(
        &Request::get("/events?id=tab_A-1")
            .body(())
            .unwrap()
            .into_parts()
            .0,
    );
    assert_eq!(handshake.source(), IdSource::Query);
}

/// A valid header wins over the query; an invalid header falls back to a
/// valid query.
pub async fn header_query_precedence<F, Fut>(start: F)
where
    F: Fn(SessionConfig) -> Fut,
    Fut: Future<Output = TestServer>,
{
    let server = start(SessionConfig::default()).await;
    let mut both = open(
        server.addr,
        Proto::H1,
        "?id=from-query",
        &[("last-event-id", b"from-header")],
    )
    .await;
    assert_eq!(both.first_id().await, "from-header");

    let mut bad_header = open(
        server.addr,
        Proto::H1,
        "?id=from-query",
        &[("last-event-id", b"not valid")],
    )
    .await;
    assert_eq!(bad_header.first_id().await, "from-query");

    let mut bad_query = open(
        server.addr,
        Proto::H1,
        "?id=not%20valid",
        &[("last-event-id", b"from-header")],
    )
    .await;
    assert_eq!(bad_query.first_id().await, "from-header");
}

/// (query value as sent, header value if one can be sent, needles that must
/// not appear anywhere in the response)
type InvalidCase = (String, Option<Vec<u8>>, Vec<Vec<u8>>);

/// Invalid tokens get a fresh ID and never appear in the response bytes.
pub async fn invalid_tokens_ignored<F, Fut>(start: F)
where
    F: Fn(SessionConfig) -> Fut,
    Fut: Future<Output = TestServer>,
{
    let server = start(SessionConfig::default()).await;
    let long = "q".repeat(65);
    let cases: Vec<InvalidCase> = vec![
        (
            "my%20tab".into(),
            Some(b"my tab".to_vec()),
            vec![b"my tab".to_vec(), b"my%20tab".to_vec(), b"my+tab".to_vec()],
        ),
        (
            "my+tab".into(),
            None,
            vec![b"my tab".to_vec(), b"my+tab".to_vec()],
        ),
        (
            long.clone(),
            Some(long.clone().into_bytes()),
            vec![b"qqqq".to_vec()],
        ),
        (
            "evil%0D%0Adata:%20pwn".into(),
            None,
            vec![b"evil".to_vec(), b"pwn".to_vec()],
        ),
        (
            "evil%0Aid:%20pwn".into(),
            None,
            vec![b"evil".to_vec(), b"pwn".to_vec()],
        ),
        ("evil%0D".into(), None, vec![b"evil".to_vec()]),
        ("tok.".into(), Some(b"tok.".to_vec()), vec![b"tok".to_vec()]),
        (
            "tok.x7".into(),
            Some(b"tok.x7".to_vec()),
            vec![b"tok".to_vec()],
        ),
        (
            "w%C3%B6rld".into(),
            Some("wörld".as_bytes().to_vec()),
            vec![
                "wörld".as_bytes().to_vec(),
                b"w%C3%B6rld".to_vec(),
                b"rld".to_vec(),
            ],
        ),
        ("".into(), Some(Vec::new()), vec![]),
    ];
    for (query, header, needles) in cases {
        let mut by_query = open(server.addr, Proto::H1, &format!("?id={query}"), &[]).await;
        let id = by_query.first_id().await;
        assert_valid_fresh(&id, &query);
        let raw = by_query.raw();
        for needle in &needles {
            assert!(
                !contains(&raw, needle),
                "query {query:?}: {needle:?} echoed in {:?}",
                String::from_utf8_lossy(&raw)
            );
        }
        if let Some(header) = header {
            let mut by_header =
                open(server.addr, Proto::H1, "", &[("last-event-id", &header)]).await;
            let id = by_header.first_id().await;
            assert_valid_fresh(&id, &query);
            let raw = by_header.raw();
            for needle in &needles {
                assert!(
                    !contains(&raw, needle),
                    "header {header:?}: {needle:?} echoed"
                );
            }
        }
    }
}

/// After `close()`, the stream ends and the ID gets 204 by header and by
/// query; `close_with` delivers its last event first.
pub async fn close_then_204<F, Fut>(start: F)
where
    F: Fn(SessionConfig) -> Fut,
    Fut: Future<Output = TestServer>,
{
    let mut server = start(SessionConfig::default()).await;
    let mut stream = open(server.addr, Proto::H1, "", &[]).await;
    let id = stream.first_id().await;
    let tx = server.sender().await;
    tx.send(Event::new("queued")).unwrap();
    within("close_with", tx.close_with(Event::new("bye")))
        .await
        .unwrap();
    let rest = within("end of stream", stream.expect_end()).await;
    let data: Vec<_> = rest
        .into_iter()
        .map(|f| match f {
            Frame::Event(e) => e.into_data(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(data, ["queued", "bye"]);
    assert_eq!(
        tx.send(Event::new("late")).unwrap_err().kind(),
        SendErrorKind::Closed
    );

    for (query, header) in [
        ("".to_owned(), Some(id.as_bytes())),
        (format!("?id={id}"), None),
    ] {
        let extra: Vec<(&str, &[u8])> = header.map(|h| ("last-event-id", h)).into_iter().collect();
        let mut again = open(server.addr, Proto::H1, &query, &extra).await;
        assert_eq!(again.status, StatusCode::NO_CONTENT, "query {query:?}");
        assert!(again.headers.get("content-type").is_none());
        assert!(again.expect_end().await.is_empty());
        assert!(again.body_bytes.is_empty());
        let raw = again.raw();
        assert!(
            raw.ends_with(b"\r\n\r\n"),
            "nothing after the 204 head: {:?}",
            String::from_utf8_lossy(&raw)
        );
    }
    // With a sequence number too.
    let token = format!("{id}.7");
    let again = open(
        server.addr,
        Proto::H1,
        "",
        &[("last-event-id", token.as_bytes())],
    )
    .await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);

    // close() without a last event, on another session.
    let mut other = open(server.addr, Proto::H1, "?id=other-tab", &[]).await;
    assert_eq!(other.first_id().await, "other-tab");
    let tx = server.sender().await;
    within("close", tx.close()).await;
    assert!(within("end of stream", other.expect_end()).await.is_empty());
    let again = open(server.addr, Proto::H1, "?id=other-tab", &[]).await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
}

/// `disconnect()` and dropping every sender end the stream but keep the
/// session resumable.
pub async fn disconnect_and_drop_are_resumable<F, Fut>(start: F)
where
    F: Fn(SessionConfig) -> Fut,
    Fut: Future<Output = TestServer>,
{
    let mut server = start(SessionConfig::default()).await;
    let mut stream = open(server.addr, Proto::H1, "?id=tab-9", &[]).await;
    stream.first_id().await;
    let tx = server.sender().await;
    tx.disconnect();
    assert!(within("end of stream", stream.expect_end())
        .await
        .is_empty());
    assert!(tx.is_closed());

    let mut again = open(server.addr, Proto::H1, "", &[("last-event-id", b"tab-9")]).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.first_id().await, "tab-9");
    let tx = server.sender().await;
    tx.send(Event::new("last")).unwrap();
    drop(tx); // the only sender: the stream ends after what is queued
    let rest = within("end of stream", again.expect_end()).await;
    assert_eq!(rest.len(), 1);

    let mut third = open(server.addr, Proto::H1, "?id=tab-9", &[]).await;
    assert_eq!(third.status, StatusCode::OK);
    assert_eq!(third.first_id().await, "tab-9");
}

/// The client drops the TCP connection: `closed()` resolves within 1 s with
/// no event being sent, and `send` then fails with `Closed`. Returns the
/// measured latency.
pub async fn disconnect_detected<F, Fut>(start: F, proto: Proto) -> Duration
where
    F: Fn(SessionConfig) -> Fut,
    Fut: Future<Output = TestServer>,
{
    // No keep-alive: nothing is written, so only the read side can notice.
    let mut server = start(SessionConfig::default().keep_alive(None)).await;
    let mut stream = open(server.addr, proto, "", &[]).await;
    stream.first_id().await;
    let tx = server.sender().await;
    assert!(!tx.is_closed());
    // Let the server settle into waiting for events.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!tx.is_closed());

    let t0 = Instant::now();
    stream.drop_connection();
    tokio::time::timeout(Duration::from_secs(1), tx.closed())
        .await
        .expect("closed() resolves within 1 s of the client going away");
    let latency = t0.elapsed();
    println!("disconnect detected ({proto:?}) after {latency:?}");
    assert!(tx.is_closed());
    let err = tx.send(Event::new("too late")).unwrap_err();
    assert_eq!(err.kind(), SendErrorKind::Closed);
    assert_eq!(err.into_inner().data(), Some("too late"));
    let err = tx
        .send_bytes(Bytes::from_static(b"data: x\n\n"))
        .unwrap_err();
    assert_eq!(err.kind(), SendErrorKind::Closed);
    // The session was not closed: the client may come back.
    assert!(!server.sessions.is_closed(tx.session_id()).await);
    latency
}

/// An idle stream gets a keep-alive comment within interval + 500 ms; a
/// busy one gets none. Returns the measured idle-to-comment times.
pub async fn keep_alive<F, Fut>(start: F) -> Vec<Duration>
where
    F: Fn(SessionConfig) -> Fut,
    Fut: Future<Output = TestServer>,
{
    let interval = Duration::from_millis(300);
    let mut server = start(SessionConfig::default().keep_alive(Some(interval))).await;

    // Idle.
    let mut idle = open(server.addr, Proto::H1, "", &[]).await;
    idle.first_id().await;
    let _tx_idle = server.sender().await;
    let mut gaps = Vec::new();
    let mut t0 = Instant::now();
    for _ in 0..3 {
        match idle
            .frame_within(interval + Duration::from_millis(500))
            .await
        {
            Some(Frame::Comment(c)) => assert_eq!(c.text(), ""),
            other => panic!("expected a keep-alive comment, got {other:?}"),
        }
        gaps.push(t0.elapsed());
        t0 = Instant::now();
    }
    assert!(
        idle.raw().ends_with(b":\n\n\r\n"),
        "the comment is `:\\n\\n`"
    );
    println!("keep-alive (interval {interval:?}) arrived after {gaps:?}");
    for gap in &gaps {
        // Measured from when the client saw the previous frame, so it can
        // be a little short of the interval; half of it is the sanity bound.
        assert!(*gap >= interval / 2, "too early: {gap:?}");
        assert!(
            *gap <= interval + Duration::from_millis(500),
            "too late: {gap:?}"
        );
    }

    // Busy: an event every 50 ms for 1.5 s (a sixth of the interval, so a
    // loaded machine has slack); no comment in between.
    let mut busy = open(server.addr, Proto::H1, "", &[]).await;
    busy.first_id().await;
    let tx = server.sender().await;
    let producer = tokio::spawn(async move {
        for i in 0..30 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            tx.send(Event::new(i.to_string())).unwrap();
        }
        tx // keep the stream open until the reader is done
    });
    let mut events = 0;
    while events < 30 {
        match busy.frame_within(Duration::from_secs(2)).await {
            Some(Frame::Event(_)) => events += 1,
            other => panic!("busy stream: expected only events, got {other:?}"),
        }
    }
    let _tx = within("producer", producer).await.unwrap();
    gaps
}

/// HTTP/2 with prior knowledge: the stream works, no connection-specific
/// headers.
pub async fn http2_stream<F, Fut>(start: F)
where
    F: Fn(SessionConfig) -> Fut,
    Fut: Future<Output = TestServer>,
{
    let mut server = start(SessionConfig::default()).await;
    let mut stream = open(server.addr, Proto::H2, "?id=h2-tab", &[]).await;
    assert_eq!(stream.status, StatusCode::OK);
    for name in [
        "connection",
        "keep-alive",
        "transfer-encoding",
        "proxy-connection",
        "upgrade",
    ] {
        assert!(stream.headers.get(name).is_none(), "{name} sent on HTTP/2");
    }
    assert_eq!(stream.headers["content-type"], "text/event-stream");
    assert_eq!(stream.headers["cache-control"], "no-cache");
    assert_eq!(stream.headers["x-accel-buffering"], "no");
    assert_eq!(stream.first_id().await, "h2-tab");
    let tx = server.sender().await;
    tx.send(Event::new("over h2")).unwrap();
    assert_eq!(data_of(stream.next_frame().await), "over h2");
    within("close", tx.close()).await;
    assert!(within("end of stream", stream.expect_end())
        .await
        .is_empty());
    let again = open(server.addr, Proto::H2, "?id=h2-tab", &[]).await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
}

/// Defines one `#[tokio::test]` per scenario, for a `start` function.
#[macro_export]
macro_rules! scenarios {
    ($start:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn fresh_id_in_first_frame() {
            client::fresh_id($start).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn reconnect_keeps_id() {
            client::reconnect_keeps_id($start).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn header_query_precedence() {
            client::header_query_precedence($start).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn invalid_tokens_get_fresh_ids() {
            client::invalid_tokens_ignored($start).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn close_then_204() {
            client::close_then_204($start).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn disconnect_and_drop_are_resumable() {
            client::disconnect_and_drop_are_resumable($start).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn client_disconnect_detected_h1() {
            client::disconnect_detected($start, client::Proto::H1).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn client_disconnect_detected_h2() {
            client::disconnect_detected($start, client::Proto::H2).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn keep_alive_idle_and_busy() {
            client::keep_alive($start).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn http2_prior_knowledge() {
            client::http2_stream($start).await;
        }
    };
}
