//! Several hubs on one Redis (feature `redis`): each test starts its own
//! `redis-server` (tests/common/redis_server.rs) and, for the bus, two axum
//! servers on 127.0.0.1 port 0 with a hub each, read by a real HTTP client.
//! Faults: Redis stopped and restarted mid-stream, Redis unreachable or mute at
//! start.

#[macro_use]
#[path = "common/client.rs"]
mod client;
#[path = "common/redis_server.rs"]
mod redis_server;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::request::Parts;
use axum::routing::get;
use axum::Router;
use client::{data_of, open, Proto, Stream};
use redis_server::{free_port, RedisServer};
use sse_session::live::{Accepted, GapReason, Hub, HubConfig, Resume, SessionConfig, UserKey};
use sse_session::redis::{RedisBus, RedisClosedIds, RedisConfig, RedisErrorKind};
use sse_session::session::ClosedIds;
use sse_session::{Event, EventName, Frame, SessionId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Starts a Redis, or returns from the test (loudly) where none is installed
/// outside CI.
macro_rules! redis_or_return {
    () => {
        match RedisServer::start().await {
            Some(server) => server,
            None => return,
        }
    };
}

/// A namespace of its own per test, so tests never see each other's keys.
fn config(server: &RedisServer, ns: &str) -> RedisConfig {
    RedisConfig::new(server.url())
        .namespace(ns)
        .connect_timeout(Duration::from_secs(2))
        .command_timeout(Duration::from_millis(300))
}

fn id(s: &str) -> SessionId {
    SessionId::try_from(s).unwrap()
}

// ------------------------------------------------------------ closed IDs

#[tokio::test]
async fn closed_on_one_store_is_closed_on_another_at_once() {
    let server = redis_or_return!();
    let cfg = config(&server, "closed-shared");
    let a = RedisClosedIds::connect(&cfg).await.unwrap();
    let b = RedisClosedIds::connect(&cfg).await.unwrap();
    let now = Instant::now();
    assert!(!b.is_closed(&id("tab-1"), now).await);
    a.mark_closed(&id("tab-1"), now).await;
    assert!(b.is_closed(&id("tab-1"), now).await);
    assert!(!b.is_closed(&id("tab-2"), now).await);
    // Another namespace does not see it.
    let other = RedisClosedIds::connect(&config(&server, "closed-other"))
        .await
        .unwrap();
    assert!(!other.is_closed(&id("tab-1"), now).await);
    // One key with an expiry, in the namespace, and no other key.
    let ttl = server
        .command(&["PTTL", "closed-shared:closed:tab-1"])
        .await;
    let ms: i64 = ttl.trim_start_matches(':').trim().parse().unwrap();
    assert!(ms > 23 * 3600 * 1000 && ms <= 24 * 3600 * 1000, "{ttl}");
    assert_eq!(server.command(&["DBSIZE"]).await.trim(), ":1");
    assert_eq!((a.errors(), b.errors()), (0, 0));
}

#[tokio::test]
async fn closed_ids_expire_after_their_ttl() {
    let server = redis_or_return!();
    let cfg = config(&server, "closed-ttl").closed_ttl(Duration::from_millis(300));
    let store = RedisClosedIds::connect(&cfg).await.unwrap();
    let t0 = Instant::now();
    store.mark_closed(&id("tab-1"), t0).await;
    assert!(store.check(&id("tab-1")).await.unwrap());
    // Marking again restarts the TTL.
    tokio::time::sleep(Duration::from_millis(200)).await;
    store.mark_closed(&id("tab-1"), Instant::now()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(store.check(&id("tab-1")).await.unwrap(), "ttl restarted");
    let deadline = Instant::now() + Duration::from_secs(3);
    while store.check(&id("tab-1")).await.unwrap() {
        assert!(Instant::now() < deadline, "the key never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.command(&["DBSIZE"]).await.trim(), ":0");
    // A zero TTL remembers nothing.
    let none = RedisClosedIds::connect(&cfg.clone().closed_ttl(Duration::ZERO))
        .await
        .unwrap();
    none.mark_closed(&id("tab-2"), t0).await;
    assert!(!none.check(&id("tab-2")).await.unwrap());
}

#[tokio::test]
async fn closed_ids_fail_open_while_redis_is_down_and_recover_after_restart() {
    let mut server = redis_or_return!();
    let cfg = config(&server, "closed-restart");
    let store = RedisClosedIds::connect(&cfg).await.unwrap();
    let now = Instant::now();
    store.mark_closed(&id("tab-1"), now).await;
    assert!(store.is_closed(&id("tab-1"), now).await);

    server.stop();
    let started = Instant::now();
    assert!(!store.is_closed(&id("tab-1"), now).await, "fail-open");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let err = store.check(&id("tab-1")).await.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            RedisErrorKind::Unreachable | RedisErrorKind::Timeout
        ),
        "{err}"
    );
    assert!(store.errors() >= 1);
    assert!(store.last_error().is_some());

    // Back, empty (nothing persisted): the store reconnects by itself, the old
    // mark is gone (a documented false negative), new marks work.
    server.restart().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.check(&id("tab-1")).await {
            Ok(closed) => {
                assert!(!closed);
                break;
            }
            Err(_) => {
                assert!(Instant::now() < deadline, "no reconnect after restart");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    store.mark_closed(&id("tab-2"), now).await;
    assert!(store.is_closed(&id("tab-2"), now).await);
}

#[tokio::test]
async fn unreachable_or_mute_redis_at_start_is_a_typed_error_within_the_timeout() {
    // Nobody listens: refused at once.
    let cfg = RedisConfig::new(format!("redis://127.0.0.1:{}", free_port()))
        .connect_timeout(Duration::from_millis(500));
    let started = Instant::now();
    let err = RedisClosedIds::connect(&cfg).await.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            RedisErrorKind::Unreachable | RedisErrorKind::Timeout
        ),
        "{err}"
    );
    let err = RedisBus::connect(Hub::default(), &cfg).await.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            RedisErrorKind::Unreachable | RedisErrorKind::Timeout
        ),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // Something accepts but never answers: a timeout, not a hang.
    let mute = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = mute.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((s, _)) = mute.accept().await {
            conns.push(s);
        }
    });
    let cfg =
        RedisConfig::new(format!("redis://{addr}")).connect_timeout(Duration::from_millis(500));
    let started = Instant::now();
    let err = RedisClosedIds::connect(&cfg).await.unwrap_err();
    assert_eq!(err.kind(), RedisErrorKind::Timeout, "{err}");
    assert_eq!(err.to_string(), "redis did not answer in time");
    let err = RedisBus::connect(Hub::default(), &cfg).await.unwrap_err();
    assert_eq!(err.kind(), RedisErrorKind::Timeout, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    held.abort();

    let err = RedisClosedIds::connect(&RedisConfig::new("not a url"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), RedisErrorKind::InvalidUrl);
}

// ------------------------------------------------------------ the bus

#[derive(Clone)]
struct App {
    bus: RedisBus,
    resumes: mpsc::UnboundedSender<Resume>,
}

async fn events(State(app): State<App>, parts: Parts) -> Accepted {
    let user = parts
        .headers
        .get("x-user")
        .and_then(|v| v.to_str().ok())
        .map(UserKey::from);
    let accepted = app.bus.accept(&parts, user).await;
    if let Accepted::Open(conn) = &accepted {
        let _ = app.resumes.send(conn.resume());
    }
    accepted
}

async fn job_events(
    State(app): State<App>,
    axum::extract::Path(topic): axum::extract::Path<String>,
    parts: Parts,
) -> Accepted {
    let accepted = app.bus.accept_scoped(&parts, None, &topic).await;
    if let Accepted::Open(conn) = &accepted {
        let _ = app.resumes.send(conn.resume());
    }
    accepted
}

/// One process: a hub with the Redis closed-ID store, its bus, and an axum
/// server on 127.0.0.1 port 0 that accepts through the bus.
struct Node {
    bus: RedisBus,
    addr: SocketAddr,
    resumes: mpsc::UnboundedReceiver<Resume>,
}

impl Node {
    /// The resume of the next accepted connection.
    async fn resume(&mut self) -> Resume {
        client::within("an accept", self.resumes.recv())
            .await
            .unwrap()
    }
}

async fn node(cfg: &RedisConfig) -> Node {
    node_with(cfg, HubConfig::default()).await
}

async fn node_with(cfg: &RedisConfig, hub_config: HubConfig) -> Node {
    let closed = RedisClosedIds::connect(cfg).await.unwrap();
    let hub = Hub::with_config(SessionConfig::default().closed_ids(closed), hub_config);
    let bus = RedisBus::connect(hub, cfg).await.unwrap();
    let (tx, resumes) = mpsc::unbounded_channel();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/events", get(events))
        .route("/jobs/{topic}", get(job_events))
        .with_state(App {
            bus: bus.clone(),
            resumes: tx,
        });
    tokio::spawn(async move { axum::serve(listener, app).await });
    Node { bus, addr, resumes }
}

/// The next event as (name, data, last event ID), skipping other frames.
async fn next_event(s: &mut Stream) -> Option<(String, String, String)> {
    loop {
        match s.next_frame().await? {
            Frame::Event(e) => {
                return Some((
                    e.event_type().to_owned(),
                    e.data().to_owned(),
                    e.last_event_id().to_owned(),
                ))
            }
            _ => continue,
        }
    }
}

/// Waits (bounded) until `cond` holds.
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// [`eventually`] for a condition that needs to ask something.
async fn eventually_async<F: std::future::Future<Output = bool>>(what: &str, cond: impl Fn() -> F) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The next event within `wait`, if any.
async fn event_within(s: &mut Stream, wait: Duration) -> Option<(String, String, String)> {
    tokio::time::timeout(wait, next_event(s))
        .await
        .ok()
        .flatten()
}

/// `GET path` as an `EventSource` sends it.
async fn open_path(addr: SocketAddr, path: &str, extra: &[(&str, &[u8])]) -> Stream {
    let mut headers: Vec<(&str, &[u8])> = vec![("accept", b"text/event-stream")];
    headers.extend_from_slice(extra);
    client::get(addr, Proto::H1, path, &headers).await
}

/// The position in a cursor `<session>.<position>`.
fn position(cursor: &str) -> u64 {
    cursor.rsplit_once('.').unwrap().1.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_send_on_b_reaches_a_tab_on_a_once_with_one_redis_write_each() {
    let server = redis_or_return!();
    let cfg = config(&server, "bus-sends");
    let (a, b) = (node(&cfg).await, node(&cfg).await);

    let mut tab = open(a.addr, Proto::H1, "?id=tab-a", &[("x-user", b"alice")]).await;
    let first = tab.first_id().await;
    assert!(first.starts_with("tab-a."), "{first}");
    let mut on_b = open(b.addr, Proto::H1, "?id=tab-b", &[]).await;
    on_b.first_id().await;
    assert!(a.bus.subscribe(&id("tab-a"), "news"));
    let writes_before = server.calls("evalsha").await;

    let d = b
        .bus
        .send_to_session(&id("tab-a"), &Event::new("to the session"))
        .await;
    assert_eq!(d.live, 0, "B has no connection of tab-a");
    assert!(d.seq.is_some(), "numbered by Redis");
    assert_eq!(data_of(tab.next_frame().await), "to the session");

    b.bus.send_to_user(
        &UserKey::from("alice"),
        &Event::new("to alice").with_name(EventName::try_from("u").unwrap()),
    );
    let (name, data, last_id) = next_event(&mut tab).await.unwrap();
    assert_eq!((name.as_str(), data.as_str()), ("u", "to alice"));
    assert!(last_id.starts_with("tab-a."), "{last_id}");

    b.bus.publish("news", &Event::new("to the topic"));
    assert_eq!(data_of(tab.next_frame().await), "to the topic");

    // A broadcast on B: once on A's tab, and once (not twice) on B's own tab,
    // with the same position on both processes.
    let d = b.bus.broadcast(&Event::new("to everyone")).await;
    assert_eq!(d.live, 1, "B's own tab");
    let on_a = next_event(&mut tab).await.unwrap();
    let here = next_event(&mut on_b).await.unwrap();
    assert_eq!(
        (on_a.1.as_str(), here.1.as_str()),
        ("to everyone", "to everyone")
    );
    assert_eq!(
        position(&on_a.2),
        position(&here.2),
        "one numbering for all processes"
    );
    assert_eq!(Some(position(&here.2)), d.seq);
    assert!(
        event_within(&mut on_b, Duration::from_millis(300))
            .await
            .is_none(),
        "the origin delivered its own broadcast twice"
    );

    // A sends to B as well.
    a.bus.send_to_session(&id("tab-b"), &Event::new("from a"));
    assert_eq!(data_of(on_b.next_frame().await), "from a");

    // One Redis write per send (the numbering script), whatever the number
    // of processes and connections, and one log entry each.
    assert_eq!(server.calls("evalsha").await - writes_before, 5);
    assert_eq!(server.calls("publish").await, 0);
    assert_eq!(
        server.command(&["XLEN", "bus-sends:log"]).await.trim(),
        ":5"
    );
    eventually("the counters", || {
        (b.bus.stats().published, a.bus.stats().published) == (4, 1)
            && (a.bus.stats().received, b.bus.stats().received) == (4, 1)
    })
    .await;
    let (sa, sb) = (a.bus.stats(), b.bus.stats());
    assert_eq!((sa.lost, sb.lost, sa.malformed, sb.malformed), (0, 0, 0, 0));
    assert!(sa.subscribed && sb.subscribed);
    assert_eq!((sa.gaps, sb.gaps), (0, 0));

    // An event with an id is refused, and not forwarded.
    let with_id = Event::builder().id("x").data("no").build().unwrap();
    assert!(!b.bus.broadcast(&with_id).await.reached());
    assert!(event_within(&mut tab, Duration::from_millis(300))
        .await
        .is_none());
    assert_eq!(server.calls("evalsha").await - writes_before, 5);
}

/// What is in the log is input from the network: an entry that does not
/// decode, names an invalid session, or carries a frame with an `id:` line
/// (which would let a writer to Redis move a tab's cursor) is skipped and
/// counted, never sent to a tab. `end_topic` crosses processes too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_entries_are_skipped_and_end_topic_crosses_processes() {
    let server = redis_or_return!();
    let cfg = config(&server, "bus-forged");
    let (a, b) = (node(&cfg).await, node(&cfg).await);
    let mut tab = open(a.addr, Proto::H1, "?id=tab-m", &[]).await;
    tab.first_id().await;

    // [version 2][node: 8 bytes][ticket: 8 bytes][kind][target length: u16 BE][target][frame]
    let forged = |kind: u8, target: &str, frame: &str| {
        format!(
            "\x02AAAAAAAABBBBBBBB{}\x00{}{target}{frame}",
            kind as char,
            target.len() as u8 as char
        )
    };
    for payload in [
        "garbage".to_owned(),
        forged(1, "tab-m", "id: tab-m.1\ndata: evil\n\n"),
        forged(1, "tab-m", "data: one\n\ndata: two\n\n"),
        forged(1, "bad id!", "data: x\n\n"),
        forged(9, "tab-m", "data: x\n\n"),
        forged(1, "tab-m", "data: fine\n\n"),
    ] {
        // Numbered as the script does: the next position, then the entry.
        let n = server.command(&["INCR", "bus-forged:position"]).await;
        let n = n.trim().trim_start_matches(':');
        let reply = server
            .command(&["XADD", "bus-forged:log", &format!("{n}-0"), "m", &payload])
            .await;
        assert!(reply.contains(&format!("{n}-0")), "{reply}");
    }
    assert_eq!(data_of(tab.next_frame().await), "fine");
    assert!(event_within(&mut tab, Duration::from_millis(300))
        .await
        .is_none());
    eventually("the receive counters", || a.bus.stats().received == 1).await;
    let sa = a.bus.stats();
    assert_eq!((sa.malformed, sa.received, sa.gaps), (5, 1, 0), "{sa:?}");

    // end_topic on B: the final event reaches A's subscriber; the topic has
    // ended on A too.
    assert!(a.bus.subscribe(&id("tab-m"), "job-1"));
    b.bus.end_topic("job-1", &Event::new("done"));
    assert_eq!(data_of(tab.next_frame().await), "done");
    let deadline = Instant::now() + Duration::from_secs(5);
    while a.bus.publish("job-1", &Event::new("late")).await.reached() {
        assert!(Instant::now() < deadline, "the topic never ended on A");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_on_b_ends_the_tab_on_a_and_its_reconnect_on_b_gets_204() {
    let server = redis_or_return!();
    let cfg = config(&server, "bus-close");
    let (a, b) = (node(&cfg).await, node(&cfg).await);

    let mut tab = open(a.addr, Proto::H1, "?id=tab-c", &[]).await;
    let cursor = tab.first_id().await;
    let (writes, sets) = (server.calls("evalsha").await, server.calls("set").await);
    assert_eq!(
        b.bus
            .close_session(
                &id("tab-c"),
                Some(Event::new("bye").with_name(EventName::try_from("end").unwrap()))
            )
            .await,
        0
    );
    let frames = tab.expect_end().await;
    let last: Vec<_> = frames
        .iter()
        .filter_map(|f| match f {
            Frame::Event(e) => Some((e.event_type().to_owned(), e.data().to_owned())),
            _ => None,
        })
        .collect();
    assert_eq!(last, [("end".to_owned(), "bye".to_owned())]);
    // Redis writes for one close: one log entry; two `SET .. PX` of the same
    // key: the origin's store, and A's hub marking its own store (which is
    // the same Redis here).
    assert_eq!(server.calls("evalsha").await - writes, 1);
    eventually_async("the SETs of the close", || async {
        server.calls("set").await - sets == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.calls("set").await - sets, 2, "no more writes after");

    // The browser reconnects with its Last-Event-ID to either process: 204.
    for addr in [b.addr, a.addr] {
        let again = open(addr, Proto::H1, "", &[("last-event-id", cursor.as_bytes())]).await;
        assert_eq!(again.status, http::StatusCode::NO_CONTENT);
    }
    // Its record in Redis is gone.
    eventually_async("the record's deletion", || async {
        server
            .command(&["EXISTS", "bus-close:session:tab-c"])
            .await
            .trim()
            == ":0"
    })
    .await;

    // drop_session on B ends A's connection without closing: it reconnects.
    let mut tab = open(a.addr, Proto::H1, "?id=tab-d", &[]).await;
    tab.first_id().await;
    b.bus.drop_session(&id("tab-d"));
    assert!(tab
        .expect_end()
        .await
        .iter()
        .all(|f| !matches!(f, Frame::Event(_))));
    let mut again = open(a.addr, Proto::H1, "?id=tab-d", &[]).await;
    assert_eq!(again.status, http::StatusCode::OK);
    // The same session, resumed (a bare ID: no cursor, so a resync first).
    let (name, _, last_id) = next_event(&mut again).await.unwrap();
    assert_eq!(name, GapReason::RESYNC);
    assert!(last_id.starts_with("tab-d."), "{last_id}");
}

/// Sends everything a tab may miss, from both processes: to its session, to
/// its user, to its topic, to another topic (not its), broadcasts. Returns
/// the data it should be replayed, in order.
async fn miss_everything(
    a: &RedisBus,
    b: &RedisBus,
    tab: &SessionId,
    user: &str,
    n: usize,
) -> Vec<String> {
    let mut expected = Vec::new();
    for i in 0..n {
        let (x, y) = if i % 2 == 0 { (a, b) } else { (b, a) };
        let e = |what: &str| Event::new(format!("{what} {i}"));
        assert!(x.send_to_session(tab, &e("session")).await.seq.is_some());
        expected.push(format!("session {i}"));
        assert!(y
            .send_to_user(&UserKey::from(user), &e("user"))
            .await
            .seq
            .is_some());
        expected.push(format!("user {i}"));
        x.publish("news", &e("news")).await;
        expected.push(format!("news {i}"));
        y.publish("other", &e("other")).await;
        x.broadcast(&e("all")).await;
        expected.push(format!("all {i}"));
        y.send_to_session(&id("someone-else"), &e("not mine")).await;
    }
    expected
}

/// The heart of several processes: a tab cut on A reconnects to B (which
/// never held it) with its cursor and is replayed every event it missed,
/// sent on A and on B, exactly once and in order; then live events follow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_cut_on_a_resumes_on_b_with_every_missed_event_once_in_order() {
    let server = redis_or_return!();
    let cfg = config(&server, "bus-resume");
    let (mut a, mut b) = (node(&cfg).await, node(&cfg).await);

    let mut tab = open(a.addr, Proto::H1, "?id=tab-x", &[("x-user", b"alice")]).await;
    tab.first_id().await;
    assert_eq!(a.resume().await, Resume::New);
    assert!(a.bus.subscribe(&id("tab-x"), "news"));
    b.bus.broadcast(&Event::new("seen")).await;
    let (_, data, cursor) = next_event(&mut tab).await.unwrap();
    assert_eq!(data, "seen");
    tab.drop_connection();
    // The record reaches Redis (written a few ms after the accept and the
    // subscription).
    eventually_async("the session's record", || async {
        server
            .command(&["HGET", "bus-resume:session:tab-x", "t:news"])
            .await
            .contains('1')
    })
    .await;

    let expected = miss_everything(&a.bus, &b.bus, &id("tab-x"), "alice", 5).await;

    let mut on_b = open(
        b.addr,
        Proto::H1,
        "",
        &[("last-event-id", cursor.as_bytes()), ("x-user", b"alice")],
    )
    .await;
    assert_eq!(on_b.status, http::StatusCode::OK);
    assert_eq!(
        b.resume().await,
        Resume::Recovered {
            replayed: expected.len()
        }
    );
    let mut got = Vec::new();
    let mut last = position(&cursor);
    for _ in 0..expected.len() {
        let (name, data, id) = next_event(&mut on_b).await.unwrap();
        assert_eq!(name, "message", "{data}");
        assert!(id.starts_with("tab-x."), "{id}");
        assert!(position(&id) > last, "positions increase");
        last = position(&id);
        got.push(data);
    }
    assert_eq!(got, expected);
    // Live from both processes now, and nothing twice.
    a.bus
        .send_to_session(&id("tab-x"), &Event::new("live from a"));
    assert_eq!(next_event(&mut on_b).await.unwrap().1, "live from a");
    b.bus.publish("news", &Event::new("live news"));
    assert_eq!(next_event(&mut on_b).await.unwrap().1, "live news");
    assert!(event_within(&mut on_b, Duration::from_millis(300))
        .await
        .is_none());
    assert_eq!(b.bus.stats().resumed, 1);

    // The cursor B gave is good on A too (A still holds the session as
    // away; it has every event since).
    let cursor = on_b.last_event_id().to_owned();
    drop(on_b);
    a.bus.broadcast(&Event::new("back on a")).await;
    let mut on_a = open(
        a.addr,
        Proto::H1,
        "",
        &[("last-event-id", cursor.as_bytes()), ("x-user", b"alice")],
    )
    .await;
    assert_eq!(next_event(&mut on_a).await.unwrap().1, "back on a");
    assert!(matches!(
        a.resume().await,
        Resume::Recovered { replayed: 1 }
    ));

    // Another user presenting the cursor gets a session of their own.
    let mut mallory = open(
        b.addr,
        Proto::H1,
        "",
        &[("last-event-id", cursor.as_bytes()), ("x-user", b"mallory")],
    )
    .await;
    let first = mallory.first_id().await;
    assert!(!first.starts_with("tab-x."), "{first}");
    assert_eq!(b.resume().await, Resume::New);
}

/// A process started after the tab left has none of the log in memory: it
/// reads what the tab missed from Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_started_later_replays_from_the_log_in_redis() {
    let server = redis_or_return!();
    let cfg = config(&server, "bus-later");
    let (mut a, b) = (node(&cfg).await, node(&cfg).await);
    let mut tab = open(a.addr, Proto::H1, "?id=tab-l", &[("x-user", b"bob")]).await;
    let cursor = tab.first_id().await;
    assert_eq!(a.resume().await, Resume::New);
    assert!(a.bus.subscribe(&id("tab-l"), "news"));
    tab.drop_connection();
    eventually_async("the session's record", || async {
        server
            .command(&["HGET", "bus-later:session:tab-l", "t:news"])
            .await
            .contains('1')
    })
    .await;
    let expected = miss_everything(&a.bus, &b.bus, &id("tab-l"), "bob", 4).await;

    let mut c = node(&cfg).await;
    let ranges = server.calls("xrange").await;
    let mut on_c = open(
        c.addr,
        Proto::H1,
        "",
        &[("last-event-id", cursor.as_bytes()), ("x-user", b"bob")],
    )
    .await;
    assert_eq!(
        c.resume().await,
        Resume::Recovered {
            replayed: expected.len()
        }
    );
    let mut got = Vec::new();
    for _ in 0..expected.len() {
        got.push(next_event(&mut on_c).await.unwrap().1);
    }
    assert_eq!(got, expected);
    assert_eq!(
        server.calls("xrange").await - ranges,
        1,
        "one read of the log"
    );
    c.bus.broadcast(&Event::new("live")).await;
    assert_eq!(next_event(&mut on_c).await.unwrap().1, "live");
}

/// The log keeps about `log_entries`: a tab that missed more gets the gap
/// signal, never a partial replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_that_missed_more_than_the_log_keeps_gets_the_gap_signal() {
    let server = redis_or_return!();
    let cfg = config(&server, "bus-trim").log_entries(100);
    let mut a = node(&cfg).await;
    let mut tab = open(a.addr, Proto::H1, "?id=tab-t", &[]).await;
    let cursor = tab.first_id().await;
    assert_eq!(a.resume().await, Resume::New);
    tab.drop_connection();
    eventually_async("the session's record", || async {
        server
            .command(&["EXISTS", "bus-trim:session:tab-t"])
            .await
            .trim()
            == ":1"
    })
    .await;
    for i in 0..600 {
        a.bus.broadcast(&Event::new(format!("e{i}")));
    }
    a.bus.broadcast(&Event::new("last")).await;
    let len: u64 = server
        .command(&["XLEN", "bus-trim:log"])
        .await
        .trim()
        .trim_start_matches(':')
        .parse()
        .unwrap();
    assert!(len < 601, "trimmed: {len}");

    let mut c = node(&cfg).await;
    let mut on_c = open(
        c.addr,
        Proto::H1,
        "",
        &[("last-event-id", cursor.as_bytes())],
    )
    .await;
    assert_eq!(c.resume().await, Resume::Gap(GapReason::Trimmed));
    let (name, data, id) = next_event(&mut on_c).await.unwrap();
    assert_eq!(name, GapReason::RESYNC);
    assert_eq!(data, r#"{"reason":"trimmed","lost":null}"#);
    assert!(id.starts_with("tab-t."), "{id}");
    assert!(
        event_within(&mut on_c, Duration::from_millis(300))
            .await
            .is_none(),
        "nothing replayed"
    );
}

/// Redis loses its data (a flush, a failover to an empty replica): a live
/// tab is told with a `resync` (reason `lost`) as soon as the log goes on,
/// and a tab that was away gets the gap signal; never a wrong replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_losing_its_data_is_a_gap_signal_never_a_wrong_replay() {
    let server = redis_or_return!();
    let cfg = config(&server, "bus-flush");
    let (mut a, mut b) = (node(&cfg).await, node(&cfg).await);
    let mut live = open(a.addr, Proto::H1, "?id=tab-live", &[]).await;
    live.first_id().await;
    let mut away = open(a.addr, Proto::H1, "?id=tab-away", &[]).await;
    away.first_id().await;
    let _ = (a.resume().await, a.resume().await);
    b.bus.broadcast(&Event::new("before")).await;
    assert_eq!(next_event(&mut live).await.unwrap().1, "before");
    let (_, _, cursor) = next_event(&mut away).await.unwrap();
    away.drop_connection();
    tokio::time::sleep(Duration::from_millis(100)).await;

    assert_eq!(server.command(&["FLUSHALL"]).await.trim(), "+OK");
    b.bus.broadcast(&Event::new("after")).await;
    // The new counter starts above the old one (Redis's clock): A's reader
    // sees a hole, and tells its live tab before the next event.
    let (name, data, _) = next_event(&mut live).await.unwrap();
    assert_eq!(name, GapReason::RESYNC);
    assert_eq!(data, r#"{"reason":"lost","lost":null}"#);
    assert_eq!(next_event(&mut live).await.unwrap().1, "after");
    assert!(a.bus.stats().gaps >= 1);

    // B has no record (Redis lost it); A held the away session and knows
    // of the loss.
    for (node, reason) in [(&mut b, GapReason::Expired), (&mut a, GapReason::Lost)] {
        let mut again = open(
            node.addr,
            Proto::H1,
            "",
            &[("last-event-id", cursor.as_bytes())],
        )
        .await;
        assert_eq!(node.resume().await, Resume::Gap(reason));
        let (name, _, _) = next_event(&mut again).await.unwrap();
        assert_eq!(name, GapReason::RESYNC);
        assert!(
            event_within(&mut again, Duration::from_millis(200))
                .await
                .is_none(),
            "nothing replayed"
        );
    }
}

/// A live session's record outlives its TTL (its expiry is pushed back),
/// is written again if Redis lost it, and expires about one resume window
/// after its tab left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_live_while_the_tab_does_come_back_if_lost_and_expire_after_it_left() {
    let server = redis_or_return!();
    let cfg = config(&server, "bus-records");
    // Window 1 s: the record's TTL is 1.5 s, pushed back every 0.5 s.
    let window = Duration::from_secs(1);
    let mut a = node_with(&cfg, HubConfig::default().resume_window(window)).await;
    let mut tab = open(a.addr, Proto::H1, "?id=tab-rec", &[]).await;
    tab.first_id().await;
    assert_eq!(a.resume().await, Resume::New);
    let key = "bus-records:session:tab-rec";
    let ttl = |s: String| -> i64 { s.trim().trim_start_matches(':').parse().unwrap() };
    let first = ttl(server.command(&["PTTL", key]).await);
    assert!(first > 1000 && first <= 1500, "{first}");
    // Past its first TTL, still there.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert!(
        ttl(server.command(&["PTTL", key]).await) > 0,
        "the live record expired"
    );
    // Lost (deleted behind the bus's back): written again within a refresh.
    assert_eq!(server.command(&["DEL", key]).await.trim(), ":1");
    eventually_async("the record written again", || async {
        server.command(&["HGET", key, "a"]).await.starts_with('$')
            && !server.command(&["HGET", key, "a"]).await.starts_with("$-1")
    })
    .await;
    // The tab leaves: the record goes within window + refresh (bounded wait).
    tab.drop_connection();
    let left = Instant::now();
    let deadline = left + Duration::from_secs(4);
    while server.command(&["EXISTS", key]).await.trim() == ":1" {
        assert!(
            Instant::now() < deadline,
            "the record outlived its tab by {:?}",
            left.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        left.elapsed() >= Duration::from_millis(400),
        "gone too early: {:?}",
        left.elapsed()
    );
}

/// A bare session ID (no cursor) of a session another process holds joins
/// it with the gap signal, as on one process; sends made directly on a
/// bus's hub reach its live tabs only, unnumbered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_id_from_elsewhere_joins_with_no_cursor_and_direct_hub_sends_stay_local() {
    let server = redis_or_return!();
    let cfg = config(&server, "bus-bare");
    let (mut a, mut b) = (node(&cfg).await, node(&cfg).await);
    let mut tab = open(a.addr, Proto::H1, "?id=tab-n", &[]).await;
    tab.first_id().await;
    assert_eq!(a.resume().await, Resume::New);
    eventually_async("the session's record", || async {
        server
            .command(&["EXISTS", "bus-bare:session:tab-n"])
            .await
            .trim()
            == ":1"
    })
    .await;
    let mut dup = open(b.addr, Proto::H1, "?id=tab-n", &[]).await;
    assert_eq!(b.resume().await, Resume::Gap(GapReason::NoCursor));
    let (name, data, first) = next_event(&mut dup).await.unwrap();
    assert_eq!(
        (name.as_str(), data.as_str()),
        ("resync", r#"{"reason":"no-cursor","lost":null}"#)
    );
    assert!(first.starts_with("tab-n."), "the same session: {first}");
    // Both connections of the session get a send, each on its process.
    b.bus
        .send_to_session(&id("tab-n"), &Event::new("to both"))
        .await;
    assert_eq!(next_event(&mut tab).await.unwrap().1, "to both");
    let (_, data, cursor) = next_event(&mut dup).await.unwrap();
    assert_eq!(data, "to both");

    // A send on the hub itself: B's live tab only, without an id, not kept.
    let writes = server.calls("evalsha").await;
    let d = b.bus.hub().broadcast(&Event::new("local only"));
    assert_eq!((d.live, d.seq), (1, None));
    let frame = dup.next_frame().await.unwrap();
    let Frame::Event(e) = frame else {
        panic!("{frame:?}")
    };
    assert_eq!(e.data(), "local only");
    assert_eq!(dup.last_event_id(), cursor, "the cursor did not move");
    assert!(event_within(&mut tab, Duration::from_millis(300))
        .await
        .is_none());
    assert_eq!(server.calls("evalsha").await, writes);
}

/// A job channel (a stream scoped to one topic) across processes: cut on A,
/// its topic ended on B, reconnected to C: the final event, then the end;
/// the next reconnect gets 204 anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_channel_ended_elsewhere_replays_its_final_event_then_204() {
    let server = redis_or_return!();
    let cfg = config(&server, "bus-job");
    let (mut a, b) = (node(&cfg).await, node(&cfg).await);
    let mut job = open_path(a.addr, "/jobs/job-7?id=job-tab", &[]).await;
    job.first_id().await;
    assert_eq!(a.resume().await, Resume::New);
    b.bus.publish("job-7", &Event::new("10 %")).await;
    let (_, data, cursor) = next_event(&mut job).await.unwrap();
    assert_eq!(data, "10 %");
    job.drop_connection();
    eventually_async("the job's record", || async {
        server
            .command(&["HGET", "bus-job:session:job-tab", "s"])
            .await
            .contains("job-7")
    })
    .await;
    b.bus.publish("job-7", &Event::new("50 %")).await;
    b.bus.broadcast(&Event::new("not for jobs")).await;
    b.bus.end_topic("job-7", &Event::new("done")).await;

    let mut c = node(&cfg).await;
    let mut again = open_path(
        c.addr,
        "/jobs/job-7",
        &[("last-event-id", cursor.as_bytes())],
    )
    .await;
    assert_eq!(again.status, http::StatusCode::OK);
    assert_eq!(c.resume().await, Resume::Recovered { replayed: 2 });
    let frames = again.expect_end().await;
    let data: Vec<_> = frames
        .iter()
        .filter_map(|f| match f {
            Frame::Event(e) => Some(e.data().to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(data, ["50 %", "done"]);
    let last = again.last_event_id().to_owned();
    for addr in [c.addr, a.addr] {
        let end = open_path(addr, "/jobs/job-7", &[("last-event-id", last.as_bytes())]).await;
        assert_eq!(
            end.status,
            http::StatusCode::NO_CONTENT,
            "after the final event"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_mid_stream_local_delivery_goes_on_and_the_loss_is_signalled() {
    let mut server = redis_or_return!();
    let cfg = config(&server, "bus-restart");
    let (a, b) = (node(&cfg).await, node(&cfg).await);
    let mut tab = open(a.addr, Proto::H1, "?id=tab-r", &[]).await;
    tab.first_id().await;
    b.bus.broadcast(&Event::new("before")).await;
    assert_eq!(data_of(tab.next_frame().await), "before");

    server.stop();
    // Sends on A do not wait for Redis; A's own tab gets them (unnumbered)
    // once Redis failed to take them.
    let started = Instant::now();
    let sends: Vec<_> = (0..5)
        .map(|i| a.bus.broadcast(&Event::new(format!("local {i}"))))
        .collect();
    assert!(started.elapsed() < Duration::from_millis(100));
    for s in sends {
        let d = client::within("a local delivery", s).await;
        assert_eq!((d.live, d.seq), (1, None));
    }
    for i in 0..5 {
        let (_, data, _) = next_event(&mut tab).await.unwrap();
        assert_eq!(data, format!("local {i}"));
    }
    // B's sends while Redis is down are lost for A, and counted.
    b.bus.broadcast(&Event::new("lost")).await;
    assert!(b.bus.stats().lost >= 1);
    eventually("the reader noticing", || !a.bus.stats().subscribed).await;
    assert!(event_within(&mut tab, Duration::from_millis(200))
        .await
        .is_none());

    server.restart().await;
    // Cross-process delivery comes back by itself; the loss is signalled
    // first (a `resync` with reason `lost`), then events flow, in order.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut n = 0;
    let mut signalled = false;
    let got = loop {
        assert!(
            Instant::now() < deadline,
            "cross-process delivery did not resume"
        );
        b.bus.broadcast(&Event::new(format!("after {n}")));
        n += 1;
        if let Some((name, data, _)) = event_within(&mut tab, Duration::from_millis(200)).await {
            if name == GapReason::RESYNC {
                assert_eq!(data, r#"{"reason":"lost","lost":null}"#);
                signalled = true;
                continue;
            }
            break data;
        }
    };
    assert!(signalled, "the loss was not signalled");
    let later: usize = got.strip_prefix("after ").unwrap().parse().unwrap();
    for i in 0..5 {
        b.bus.broadcast(&Event::new(format!("again {i}")));
    }
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let (name, data, _) = next_event(&mut tab).await.unwrap();
        if name == GapReason::RESYNC {
            continue;
        }
        if let Some(k) = data.strip_prefix("after ") {
            let k: usize = k.parse().unwrap();
            assert!(k > later, "out of order: {data}");
            continue;
        }
        seen.push(data);
    }
    assert_eq!(
        seen,
        (0..5).map(|i| format!("again {i}")).collect::<Vec<_>>()
    );
    let sa = a.bus.stats();
    assert!(
        sa.reconnects >= 1 && sa.subscribed && sa.gaps >= 1,
        "{sa:?}"
    );
}

/// A TCP proxy to Redis whose connections can be frozen: bytes stop flowing
/// both ways but nothing is closed (a half-open connection, as after a
/// failover to another machine or a NAT that forgot the flow). Connections made
/// after the freeze flow normally.
struct Proxy {
    addr: SocketAddr,
    made: Arc<AtomicU64>,
    frozen_below: Arc<AtomicU64>,
}

impl Proxy {
    async fn start(to: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let made = Arc::new(AtomicU64::new(0));
        let frozen_below = Arc::new(AtomicU64::new(0));
        let (m, f) = (Arc::clone(&made), Arc::clone(&frozen_below));
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(to).await else {
                    continue;
                };
                let generation = m.fetch_add(1, Ordering::SeqCst);
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, generation, Arc::clone(&f)));
                tokio::spawn(pump(sr, cw, generation, Arc::clone(&f)));
            }
        });
        Self {
            addr,
            made,
            frozen_below,
        }
    }

    fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Freezes every connection made so far.
    fn freeze(&self) {
        self.frozen_below
            .store(self.made.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    generation: u64,
    frozen_below: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let Ok(n) = from.read(&mut buf).await else {
            return;
        };
        if n == 0 {
            return;
        }
        // Frozen: hold both sockets open and pass nothing, for the test's life.
        while generation < frozen_below.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// A connection that goes silent without closing (no reset, no answer) is
/// found by the subscriber's ping and the commands' timeout, and replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_are_found_and_replaced() {
    let server = redis_or_return!();
    let proxy = Proxy::start(server.addr()).await;
    let cfg = RedisConfig::new(proxy.url())
        .namespace("bus-half-open")
        .connect_timeout(Duration::from_secs(2))
        .command_timeout(Duration::from_millis(300))
        .ping_interval(Duration::from_millis(300));
    let (a, b) = (node(&cfg).await, node(&cfg).await);
    let store = RedisClosedIds::connect(&cfg).await.unwrap();
    let mut tab = open(a.addr, Proto::H1, "?id=tab-h", &[]).await;
    tab.first_id().await;
    b.bus.broadcast(&Event::new("before")).await;
    assert_eq!(data_of(tab.next_frame().await), "before");
    assert!(store.check(&id("tab-h")).await.is_ok());

    proxy.freeze();
    let started = Instant::now();
    let err = store.check(&id("tab-h")).await.unwrap_err();
    assert_eq!(err.kind(), RedisErrorKind::Timeout);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    let deadline = Instant::now() + Duration::from_secs(15);
    let mut n = 0;
    loop {
        assert!(
            Instant::now() < deadline,
            "delivery never came back after the freeze"
        );
        b.bus.broadcast(&Event::new(format!("after {n}")));
        n += 1;
        if event_within(&mut tab, Duration::from_millis(200))
            .await
            .is_some()
        {
            break;
        }
    }
    assert!(a.bus.stats().reconnects >= 1, "{:?}", a.bus.stats());
    assert!(b.bus.stats().lost >= 1, "{:?}", b.bus.stats());
    // The closed-ID store got a new connection too.
    loop {
        assert!(
            Instant::now() < deadline,
            "the store never got a new connection"
        );
        if store.check(&id("tab-h")).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
