//! The async client (`client` feature) against real servers on 127.0.0.1 port 0:
//! this crate's resumable hub behind axum (a client cut off again and again while
//! events keep coming gets each one once, in order), and a scripted server that
//! writes HTTP/1.1 by hand and misbehaves on purpose (drops mid-event, 204, 500,
//! 429 with Retry-After, a wrong content type, `retry:`, a one-byte drip, an
//! event over the limit, silence, no answer at all).
//!
//! Every client here runs with short delays (a few ms, no jitter) and every wait
//! is bounded by a timeout, so each test takes well under two seconds.
#![cfg(feature = "client")]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use http::StatusCode;
use sse_session::client::{Builder, ErrorKind, EventSource, Item};
use sse_session::parse::{ParseErrorKind, ParserConfig};
use sse_session::reconnect::{ReconnectConfig, ReconnectReason, StopReason};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// Each test's budget: a stuck client fails the test instead of hanging CI.
const BUDGET: Duration = Duration::from_secs(10);

/// Short delays, no jitter: reconnects are quick and their delays exact.
fn fast() -> ReconnectConfig {
    ReconnectConfig::default()
        .reconnection_time(Duration::from_millis(5))
        .min_delay(Duration::from_millis(1))
        .max_delay(Duration::from_millis(50))
        .jitter(0.0)
        .connect_timeout(Some(Duration::from_secs(2)))
        .idle_timeout(Some(Duration::from_secs(2)))
}

fn client(addr: SocketAddr, path: &str) -> Builder {
    EventSource::builder(format!("http://{addr}{path}")).reconnect(fast())
}

/// Every item up to and including the last one (a stop or an error).
async fn run(mut es: EventSource) -> Vec<Result<Item, sse_session::client::Error>> {
    let mut items = Vec::new();
    let collect = async {
        while let Some(item) = es.next().await {
            items.push(item);
        }
    };
    tokio::time::timeout(BUDGET, collect)
        .await
        .expect("the client stopped within the budget");
    items
}

/// The events' data, in order.
fn data(items: &[Result<Item, sse_session::client::Error>]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| match i {
            Ok(Item::Event(e)) => Some(e.data().to_owned()),
            _ => None,
        })
        .collect()
}

/// Each reconnect's (attempt, delay, reason).
fn reconnects(
    items: &[Result<Item, sse_session::client::Error>],
) -> Vec<(u32, Duration, ReconnectReason)> {
    items
        .iter()
        .filter_map(|i| match i {
            Ok(Item::Reconnecting {
                attempt,
                delay,
                reason,
                ..
            }) => Some((*attempt, *delay, *reason)),
            _ => None,
        })
        .collect()
}

fn stopped_no_content(items: &[Result<Item, sse_session::client::Error>]) -> bool {
    matches!(items.last(), Some(Ok(Item::Stopped(StopReason::NoContent))))
}

// ---------------------------------------------------------------------------
// the scripted server

/// What a scripted connection does after reading the request, in order; then
/// it closes the connection.
#[derive(Clone)]
enum Step {
    /// Write these bytes.
    Send(&'static [u8]),
    /// Write these bytes one at a time, this far apart.
    Drip(&'static [u8], Duration),
    /// Wait (the stream is silent).
    Sleep(Duration),
}

/// One request as the server read it.
#[derive(Clone, Debug)]
struct Seen {
    /// The request head, header names lower-cased.
    head: String,
    body: Vec<u8>,
    at: Instant,
}

impl Seen {
    /// The value of header `name` (lower case), if sent.
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            (k == name).then(|| v.trim())
        })
    }
}

const OK: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
const NO_CONTENT: &[u8] = b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n";

/// A server that answers its n-th connection with `scripts[n]`, and every
/// connection after the last script with 204 (so a client that goes on too
/// long still stops). Returns its address and the requests it saw.
async fn scripted(scripts: Vec<Vec<Step>>) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for n in 0.. {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let script = scripts
                .get(n)
                .cloned()
                .unwrap_or_else(|| vec![Step::Send(NO_CONTENT)]);
            let log = log.clone();
            tokio::spawn(serve_one(socket, script, log));
        }
    });
    (addr, seen)
}

async fn serve_one(mut socket: TcpStream, script: Vec<Step>, log: Arc<Mutex<Vec<Seen>>>) {
    socket.set_nodelay(true).unwrap();
    let at = Instant::now();
    // The head, then a Content-Length body if any.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        assert!(buf.len() < 64 * 1024, "request head too long");
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let head: String = head
        .lines()
        .enumerate()
        .map(|(i, line)| match line.split_once(':') {
            Some((k, v)) if i > 0 => format!("{}:{v}\n", k.to_ascii_lowercase()),
            _ => format!("{line}\n"),
        })
        .collect();
    let mut body = buf[head_end..].to_vec();
    let seen = Seen {
        head,
        body: Vec::new(),
        at,
    };
    let len: usize = seen
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while body.len() < len {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    log.lock().unwrap().push(Seen { body, ..seen });
    for step in script {
        let written = match step {
            Step::Send(bytes) => socket.write_all(bytes).await,
            Step::Drip(bytes, gap) => {
                let mut result = Ok(());
                for b in bytes {
                    result = socket.write_all(std::slice::from_ref(b)).await;
                    if result.is_err() {
                        break;
                    }
                    tokio::time::sleep(gap).await;
                }
                result
            }
            Step::Sleep(d) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
        };
        if written.is_err() {
            return; // the client went away
        }
    }
    // Dropping the socket closes the connection: the end of a close-delimited body.
}

fn seen(log: &Arc<Mutex<Vec<Seen>>>) -> Vec<Seen> {
    log.lock().unwrap().clone()
}

// ---------------------------------------------------------------------------
// the scripted cases

/// A connection that drops in the middle of an event: the finished events
/// arrive, the unfinished one is never dispatched, and the reconnect carries
/// the last ID as `Last-Event-ID`; the first request has none.
#[tokio::test]
async fn drop_mid_event_discards_the_partial_event_and_resumes() {
    let (addr, log) = scripted(vec![
        vec![
            Step::Send(OK),
            Step::Send(b"id: 1\ndata: a\n\nid: 2\ndata: partial"),
        ],
        vec![Step::Send(OK), Step::Send(b"data: b\n\n")],
    ])
    .await;
    let items = run(client(addr, "/s").build().unwrap()).await;
    assert_eq!(data(&items), ["a", "b"]);
    assert!(stopped_no_content(&items), "{items:?}");
    let r = reconnects(&items);
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(r[0].2, ReconnectReason::StreamEnded);
    let seen = seen(&log);
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].header("last-event-id"), None);
    assert_eq!(
        seen[1].header("last-event-id"),
        Some("1"),
        "not the partial event's 2"
    );
    assert_eq!(
        seen[2].header("last-event-id"),
        Some("1"),
        "the cursor is kept"
    );
    assert_eq!(seen[0].header("accept"), Some("text/event-stream"));
}

/// An `id:` line with an empty value resets the last event ID: the next
/// request has no `Last-Event-ID` header at all (not an empty one).
#[tokio::test]
async fn empty_last_event_id_sends_no_header() {
    let (addr, log) = scripted(vec![vec![
        Step::Send(OK),
        Step::Send(b"id: 7\ndata: a\n\nid\ndata: b\n\n"),
    ]])
    .await;
    let items = run(client(addr, "/").build().unwrap()).await;
    assert_eq!(data(&items), ["a", "b"]);
    let seen = seen(&log);
    assert_eq!(seen.len(), 2);
    assert!(
        !seen[1].head.contains("last-event-id"),
        "no Last-Event-ID header: {}",
        seen[1].head
    );
}

/// 204 stops for good: one request, a clean stop, then the stream ends.
#[tokio::test]
async fn no_content_stops_for_good() {
    let (addr, log) = scripted(vec![vec![Step::Send(NO_CONTENT)]]).await;
    let mut es = client(addr, "/").build().unwrap();
    let first = tokio::time::timeout(BUDGET, es.next()).await.unwrap();
    assert!(
        matches!(first, Some(Ok(Item::Stopped(StopReason::NoContent)))),
        "{first:?}"
    );
    assert!(es.next().await.is_none());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(seen(&log).len(), 1, "no reconnect after 204");
}

/// A 500 is retried (a browser would give up; a server-to-server stream must
/// survive a deploy): the second attempt's stream is read.
#[tokio::test]
async fn server_error_then_ok_reconnects() {
    let (addr, log) = scripted(vec![
        vec![Step::Send(
            b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        )],
        vec![Step::Send(OK), Step::Send(b"data: up\n\n")],
    ])
    .await;
    let items = run(client(addr, "/").build().unwrap()).await;
    let r = reconnects(&items);
    assert_eq!(
        r[0],
        (
            1,
            Duration::from_millis(5),
            ReconnectReason::Status(StatusCode::INTERNAL_SERVER_ERROR)
        )
    );
    assert!(
        matches!(&items[1], Ok(Item::Open { attempt: 1, .. })),
        "{items:?}"
    );
    assert_eq!(data(&items), ["up"]);
    assert!(stopped_no_content(&items));
    assert_eq!(seen(&log).len(), 3);
}

/// 429 with `Retry-After: 1`: the client waits the second the server asked
/// for, not its own 5 ms.
#[tokio::test]
async fn too_many_requests_honours_retry_after() {
    let (addr, log) = scripted(vec![vec![Step::Send(
        b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    )]])
    .await;
    let items = run(client(addr, "/").build().unwrap()).await;
    let r = reconnects(&items);
    assert_eq!(
        r,
        [(
            1,
            Duration::from_secs(1),
            ReconnectReason::Status(StatusCode::TOO_MANY_REQUESTS)
        )]
    );
    let seen = seen(&log);
    assert_eq!(seen.len(), 2);
    let waited = seen[1].at - seen[0].at;
    assert!(waited >= Duration::from_millis(990), "waited {waited:?}");
    assert!(stopped_no_content(&items));
}

/// A 200 that is not `text/event-stream` is fatal: a typed error, no retry.
#[tokio::test]
async fn wrong_content_type_is_fatal() {
    let (addr, log) = scripted(vec![vec![Step::Send(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
    )]])
    .await;
    let items = run(client(addr, "/").build().unwrap()).await;
    assert_eq!(items.len(), 1, "{items:?}");
    let Err(e) = &items[0] else {
        panic!("{items:?}")
    };
    assert_eq!(e.kind(), ErrorKind::ContentType);
    assert_eq!(
        e.to_string(),
        "the response is \"application/json\", not text/event-stream"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(seen(&log).len(), 1, "no reconnect");
}

/// A status that is not retried (404) stops with a typed error carrying it.
#[tokio::test]
async fn not_found_is_fatal() {
    let (addr, log) = scripted(vec![vec![Step::Send(
        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    )]])
    .await;
    let items = run(client(addr, "/").build().unwrap()).await;
    let Some(Err(e)) = items.last() else {
        panic!("{items:?}")
    };
    assert_eq!(e.kind(), ErrorKind::Status);
    assert_eq!(e.status(), Some(StatusCode::NOT_FOUND));
    assert_eq!(seen(&log).len(), 1);
}

/// `retry: 300` changes the reconnection time, and it is kept for the next
/// reconnect too; `retry: 0` later is floored at `min_delay`, not a tight loop.
#[tokio::test]
async fn retry_field_is_honoured_and_kept() {
    let (addr, log) = scripted(vec![
        vec![Step::Send(OK), Step::Send(b"retry: 300\ndata: a\n\n")],
        vec![Step::Send(OK), Step::Send(b"data: b\n\n")],
        vec![Step::Send(OK), Step::Send(b"retry: 0\ndata: c\n\n")],
    ])
    .await;
    let config = fast().min_delay(Duration::from_millis(20));
    let es = client(addr, "/").reconnect(config).build().unwrap();
    let items = run(es).await;
    assert_eq!(data(&items), ["a", "b", "c"]);
    let delays: Vec<Duration> = reconnects(&items).iter().map(|r| r.1).collect();
    assert_eq!(
        delays,
        [
            Duration::from_millis(300),
            Duration::from_millis(300),
            Duration::from_millis(20)
        ]
    );
    assert!(items
        .iter()
        .any(|i| matches!(i, Ok(Item::Retry(r)) if r.as_millis() == 300)));
    let seen = seen(&log);
    assert!(seen[1].at - seen[0].at >= Duration::from_millis(295));
    assert!(seen[2].at - seen[1].at >= Duration::from_millis(295));
    assert!(seen[3].at - seen[2].at >= Duration::from_millis(15));
}

/// One byte at a time, 2 ms apart (every line break split from its line, CR
/// LF split): the same events as in one piece, and the drip keeps the idle
/// timer from firing.
#[tokio::test]
async fn slow_drip_of_single_bytes() {
    let stream: &[u8] = b": hi\r\nid: 5\r\ndata: hello\r\ndata: world\r\n\r\nevent: x\rdata: y\r\r";
    let (addr, _log) = scripted(vec![vec![
        Step::Send(OK),
        Step::Drip(stream, Duration::from_millis(2)),
    ]])
    .await;
    let config = fast().idle_timeout(Some(Duration::from_millis(300)));
    let items = run(client(addr, "/").reconnect(config).build().unwrap()).await;
    let events: Vec<(String, String, String)> = items
        .iter()
        .filter_map(|i| match i {
            Ok(Item::Event(e)) => Some((
                e.event_type().to_owned(),
                e.data().to_owned(),
                e.last_event_id().to_owned(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        events,
        [
            ("message".into(), "hello\nworld".into(), "5".into()),
            ("x".into(), "y".into(), "5".into()),
        ]
    );
    assert!(items
        .iter()
        .any(|i| matches!(i, Ok(Item::Comment(c)) if c.text() == "hi")));
    assert_eq!(reconnects(&items)[0].2, ReconnectReason::StreamEnded);
}

/// An event over the parser's event limit is a typed error item, the event is
/// skipped, and the stream goes on with the next one.
#[tokio::test]
async fn event_over_the_limit_is_a_typed_error() {
    const BIG: &[u8] = b"data: 0123456789012345678901234567890123456789\ndata: 0123456789012345678901234567890123456789\n\ndata: ok\n\n";
    let (addr, _log) = scripted(vec![vec![Step::Send(OK), Step::Send(BIG)]]).await;
    let parser = ParserConfig::default().max_event_len(64);
    let items = run(client(addr, "/").parser(parser).build().unwrap()).await;
    let skipped: Vec<_> = items
        .iter()
        .filter_map(|i| match i {
            Ok(Item::Skipped(e)) => Some(*e),
            _ => None,
        })
        .collect();
    assert_eq!(skipped.len(), 1, "{items:?}");
    assert_eq!(skipped[0].kind(), ParseErrorKind::EventTooLarge);
    assert_eq!(data(&items), ["ok"]);
}

/// A stream that goes silent past the idle timeout is dropped and reconnected
/// with its cursor.
#[tokio::test]
async fn silent_stream_is_reconnected_after_the_idle_timeout() {
    let (addr, log) = scripted(vec![vec![
        Step::Send(OK),
        Step::Send(b"id: 9\ndata: a\n\n"),
        Step::Sleep(Duration::from_secs(5)),
    ]])
    .await;
    let config = fast().idle_timeout(Some(Duration::from_millis(200)));
    let start = Instant::now();
    let items = run(client(addr, "/").reconnect(config).build().unwrap()).await;
    assert_eq!(data(&items), ["a"]);
    assert_eq!(reconnects(&items)[0].2, ReconnectReason::IdleTimeout);
    let seen = seen(&log);
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at - seen[0].at;
    assert!(
        gap >= Duration::from_millis(195) && gap < Duration::from_secs(2),
        "reconnected after {gap:?}"
    );
    assert_eq!(seen[1].header("last-event-id"), Some("9"));
    assert!(start.elapsed() < Duration::from_secs(3));
}

/// A server that accepts and never answers: the connect timeout fires and the
/// client tries again.
#[tokio::test]
async fn no_answer_hits_the_connect_timeout() {
    let (addr, log) = scripted(vec![vec![Step::Sleep(Duration::from_secs(5))]]).await;
    let config = fast().connect_timeout(Some(Duration::from_millis(150)));
    let items = run(client(addr, "/").reconnect(config).build().unwrap()).await;
    assert_eq!(reconnects(&items)[0].2, ReconnectReason::ConnectTimeout);
    let seen = seen(&log);
    assert_eq!(seen.len(), 2);
    assert!(seen[1].at - seen[0].at >= Duration::from_millis(145));
    assert!(stopped_no_content(&items));
}

/// With a cap on attempts, a server that keeps failing ends the client with
/// a typed error that says how many attempts and why the last one failed.
#[tokio::test]
async fn attempts_are_capped() {
    const UNAVAILABLE: &[u8] =
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    let fails = vec![vec![Step::Send(UNAVAILABLE)]; 5];
    let (addr, log) = scripted(fails).await;
    let es = client(addr, "/").max_attempts(Some(2)).build().unwrap();
    let items = run(es).await;
    assert_eq!(
        reconnects(&items).iter().map(|r| r.0).collect::<Vec<_>>(),
        [1, 2]
    );
    let Some(Err(e)) = items.last() else {
        panic!("{items:?}")
    };
    assert_eq!(e.kind(), ErrorKind::AttemptsExhausted);
    assert_eq!(e.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(
        e.to_string(),
        "gave up after 2 reconnect attempts (the server answered 503)"
    );
    assert_eq!(seen(&log).len(), 3);
}

/// Method, body and custom headers go out on every attempt, the reconnect
/// too; a `Last-Event-ID` given up front goes out on the first request.
#[tokio::test]
async fn post_with_headers_and_body_on_every_attempt() {
    let (addr, log) = scripted(vec![vec![Step::Send(OK), Step::Send(b"data: a\n\n")]]).await;
    let es = client(addr, "/v1/chat")
        .method(http::Method::POST)
        .header("authorization", "Bearer s3cret")
        .header("content-type", "application/json")
        .body(r#"{"stream":true}"#)
        .last_event_id("tab-1.41")
        .build()
        .unwrap();
    let items = run(es).await;
    assert_eq!(data(&items), ["a"]);
    let seen = seen(&log);
    assert_eq!(seen.len(), 2);
    for s in &seen {
        assert!(s.head.starts_with("POST /v1/chat HTTP/1.1\n"), "{}", s.head);
        assert_eq!(s.header("authorization"), Some("Bearer s3cret"));
        assert_eq!(s.header("content-type"), Some("application/json"));
        assert_eq!(s.body, br#"{"stream":true}"#);
        assert_eq!(s.header("last-event-id"), Some("tab-1.41"));
    }
}

/// Connection refused (nothing listens): a connect error with its cause, then
/// attempts run out.
#[tokio::test]
async fn refused_connection_is_retried_then_gives_up() {
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    }; // dropped: nothing listens there now
    let es = client(addr, "/").max_attempts(Some(1)).build().unwrap();
    let items = run(es).await;
    let Some(Ok(Item::Reconnecting {
        reason,
        error: Some(error),
        ..
    })) = items.first()
    else {
        panic!("{items:?}")
    };
    assert_eq!(*reason, ReconnectReason::ConnectFailed);
    assert_eq!(error.kind(), ErrorKind::Connect);
    let Some(Err(e)) = items.last() else {
        panic!("{items:?}")
    };
    assert_eq!(e.kind(), ErrorKind::AttemptsExhausted);
}

// ---------------------------------------------------------------------------
// the hub

mod hub {
    use super::*;
    use axum::extract::State;
    use axum::http::request::Parts;
    use axum::routing::get;
    use axum::Router;
    use sse_session::field::RetryDelay;
    use sse_session::live::{Accepted, Hub, SessionConfig};
    use sse_session::{Event, SessionId};

    async fn events(State(hub): State<Hub>, parts: Parts) -> Accepted {
        hub.accept(&parts, None).await
    }

    async fn serve(hub: Hub) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/events", get(events)).with_state(hub);
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    /// The client follows this crate's hub while the server cuts its connection
    /// every 20 ms and another task keeps broadcasting: it reconnects by itself
    /// with `Last-Event-ID: <session>.<seq>`, the hub replays what it missed, and
    /// the client ends with every event exactly once, in order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cut_off_client_resumes_without_loss_or_repeat() {
        const N: usize = 600;
        let config = SessionConfig::default()
            .keep_alive(None)
            .retry(Some(RetryDelay::from_millis(5)));
        let hub = Hub::new(config);
        let addr = serve(hub.clone()).await;
        let tab = SessionId::from_static("tab-1");
        let mut es = client(addr, "/events?id=tab-1").build().unwrap();

        // The first item is the open; wait for the hub to see the connection.
        let first = tokio::time::timeout(BUDGET, es.next()).await.unwrap();
        assert!(matches!(first, Some(Ok(Item::Open { .. }))), "{first:?}");
        let deadline = Instant::now() + BUDGET;
        while hub.connection_count() == 0 {
            assert!(Instant::now() < deadline, "the hub never saw the client");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }

        let publisher = {
            let hub = hub.clone();
            tokio::spawn(async move {
                for i in 0..N {
                    hub.broadcast(&Event::new(i.to_string()));
                    if i % 2 == 0 {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            })
        };
        let cutter = {
            let hub = hub.clone();
            tokio::spawn(async move {
                let mut cuts = 0;
                for _ in 0..25 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    cuts += hub.drop_session(&tab);
                }
                cuts
            })
        };

        let mut got: Vec<usize> = Vec::with_capacity(N);
        let mut reconnects = 0;
        let mut cursors = Vec::new();
        let follow = async {
            while got.len() < N {
                match es.next().await {
                    Some(Ok(Item::Event(e))) => {
                        got.push(e.data().parse().expect("a number"));
                        cursors.push(e.last_event_id().to_owned());
                    }
                    Some(Ok(Item::Reconnecting { reason, .. })) => {
                        assert_eq!(reason, ReconnectReason::StreamEnded);
                        reconnects += 1;
                    }
                    Some(Ok(_)) => {}
                    other => panic!("the stream ended after {} events: {other:?}", got.len()),
                }
            }
        };
        tokio::time::timeout(BUDGET, follow)
            .await
            .expect("every event within the budget");
        publisher.await.unwrap();
        let cuts = cutter.await.unwrap();
        assert_eq!(
            got,
            (0..N).collect::<Vec<_>>(),
            "every event once, in order"
        );
        assert!(
            cuts >= 1 && reconnects >= 1,
            "cuts {cuts}, reconnects {reconnects}"
        );
        assert!(
            cursors.iter().all(|c| c.starts_with("tab-1.")),
            "every event carries the session's cursor"
        );
        es.close();
        assert!(matches!(
            es.next().await,
            Some(Ok(Item::Stopped(StopReason::Closed)))
        ));
        assert!(es.next().await.is_none());
    }
}

// ---------------------------------------------------------------------------
// `sse get` (examples/sse.rs), the built binary against the scripted server

#[path = "common/tool.rs"]
mod tool;

mod sse_get {
    use super::*;
    use serde_json::Value;

    /// Runs `sse get` with `args`; its exit code, stdout lines as JSON, stderr.
    async fn sse_get(args: &[String]) -> (Option<i32>, Vec<Value>, String) {
        let child = tokio::process::Command::new(tool::tool())
            .arg("get")
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn sse");
        let out = tokio::time::timeout(BUDGET, child.wait_with_output())
            .await
            .expect("sse get ended within the budget")
            .expect("wait for sse");
        let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
        let lines = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
            .collect();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), lines, stderr)
    }

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// Headers, method, body and a starting ID go out; one JSON line per frame
    /// and per lifecycle change comes out, in order; exit 0 after the 204.
    #[tokio::test]
    async fn follows_a_stream_and_exits_0_after_204() {
        let (addr, log) = scripted(vec![vec![
            Step::Send(OK),
            Step::Send(b": hi\nretry: 1\nid: 1\ndata: a\n\ndata: part"),
        ]])
        .await;
        let url = format!("http://{addr}/s");
        let (code, lines, stderr) = sse_get(&args(&[
            &url,
            "-H",
            "Authorization: Bearer t0k",
            "--header",
            "x-two: 2",
            "-X",
            "POST",
            "--data",
            "{}",
            "--last-event-id",
            "start.0",
        ]))
        .await;
        assert_eq!(code, Some(0), "{stderr}");
        let mut lines = lines;
        // The delay has jitter: check its bounds, then compare the rest exactly.
        let delay = lines[4]["delay_ms"].take().as_u64().expect("delay_ms");
        assert!(
            (100..=150).contains(&delay),
            "min delay 100 ms + 50 % jitter: {delay}"
        );
        let want: Vec<Value> = [
            r#"{"kind":"open","attempt":0}"#,
            r#"{"kind":"comment","text":"hi"}"#,
            r#"{"kind":"retry","ms":1}"#,
            r#"{"kind":"event","event":"message","data":"a","id":"1"}"#,
            r#"{"kind":"reconnecting","attempt":1,"delay_ms":null,"reason":"the stream ended"}"#,
            r#"{"kind":"stopped","why":"the server answered 204 no content"}"#,
        ]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
        assert_eq!(lines, want);
        let seen = seen(&log);
        assert_eq!(seen.len(), 2);
        for s in &seen {
            assert!(s.head.starts_with("POST /s HTTP/1.1\n"), "{}", s.head);
            assert_eq!(s.header("authorization"), Some("Bearer t0k"));
            assert_eq!(s.header("x-two"), Some("2"));
            assert_eq!(s.body, b"{}");
        }
        assert_eq!(seen[0].header("last-event-id"), Some("start.0"));
        assert_eq!(seen[1].header("last-event-id"), Some("1"));
    }

    /// A fatal error (a content type that is not an event stream) is one JSON
    /// line with its kind, a message on stderr, and exit status 1.
    #[tokio::test]
    async fn fatal_error_exits_1() {
        let (addr, _log) = scripted(vec![vec![Step::Send(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        )]])
        .await;
        let (code, lines, stderr) = sse_get(&args(&[&format!("http://{addr}/")])).await;
        assert_eq!(code, Some(1));
        let want: Value = serde_json::from_str(
            r#"{"kind":"error","error":"content_type","message":"the response is \"text/html\", not text/event-stream"}"#,
        )
        .unwrap();
        assert_eq!(lines, [want]);
        assert!(stderr.contains("not text/event-stream"), "{stderr}");
    }

    /// The parser limits are flags: an event over `--max-event-len` is a
    /// `skipped` line and the stream goes on.
    #[tokio::test]
    async fn limit_flags_reach_the_parser() {
        for (flag, message) in [
            ("--max-event-len", "event data exceeds 8-byte limit"),
            ("--max-line-len", "line exceeds 8-byte limit"),
        ] {
            let (addr, _log) = scripted(vec![vec![
                Step::Send(OK),
                Step::Send(b"data: 0123456789abcdef\n\ndata: ok\n\n"),
            ]])
            .await;
            let url = format!("http://{addr}/");
            let (code, lines, stderr) = sse_get(&args(&[&url, flag, "8"])).await;
            assert_eq!(code, Some(0), "{stderr}");
            assert_eq!(lines[1]["kind"], "skipped", "{lines:?}");
            assert_eq!(lines[1]["error"], message, "{lines:?}");
            assert_eq!(lines[2]["data"], "ok", "{lines:?}");
        }
    }

    /// Help on stdout with exit 0; a bad option or a missing URL is exit 2 with
    /// the usage on stderr.
    #[tokio::test]
    async fn help_and_usage_errors() {
        let out = std::process::Command::new(tool::tool())
            .args(["get", "--help"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let help = String::from_utf8(out.stdout).unwrap();
        for flag in [
            "--header",
            "--method",
            "--data",
            "--last-event-id",
            "--max-line-len",
            "--max-event-len",
            "exit status",
        ] {
            assert!(help.contains(flag), "{flag} in {help}");
        }
        for bad in [
            &["--bogus", "1"][..],
            &[],
            &["http://127.0.0.1:1/", "-H", "no colon"],
            &["http://127.0.0.1:1/", "--max-event-len", "0"],
            &["http://127.0.0.1:1/", "--idle-timeout", "-1"],
        ] {
            let (code, lines, stderr) = sse_get(&args(bad)).await;
            assert_eq!(code, Some(2), "{bad:?}: {stderr}");
            assert!(lines.is_empty());
            assert!(stderr.contains("usage: sse"), "{bad:?}: {stderr}");
        }
    }
}
