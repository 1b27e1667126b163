//! The hub: routing by session, user, topic and to all (with counts), duplicated tabs,
//! the user-key rule, slow consumers, deregistration on drop (10,000 cycles, maps shrink),
//! close vs drop. Bodies are polled in-process.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use http_body::Body;
use sse_session::event::Event;
use sse_session::field::EventId;
use sse_session::live::{
    Accepted, Hub, HubConfig, Resume, Sender, SessionConfig, SseBody, UserKey,
};
use sse_session::parse::{Frame, Parser};
use sse_session::session::SessionId;

fn parts(query: &str) -> http::request::Parts {
    http::Request::get(format!("/events{query}"))
        .header("accept", "text/event-stream")
        .body(())
        .expect("valid request")
        .into_parts()
        .0
}

fn user(name: &str) -> Option<UserKey> {
    Some(UserKey::from(name))
}

/// One client, polled by hand.
struct Client {
    tx: Sender,
    body: SseBody,
    parser: Parser,
    ended: bool,
    session: SessionId,
    /// The position the stream started from.
    cursor: u64,
    resume: Resume,
}

impl Client {
    async fn open(hub: &Hub, query: &str, user: Option<UserKey>) -> Client {
        let mut client = Client::connect(hub, query, user).await;
        // The first frame: `retry:` + `id: <session>.<cursor>`, no event; or, for a
        // known session presented without a cursor, the gap signal.
        let first = client.events();
        match client.resume.gap() {
            None => assert!(first.is_empty(), "{first:?}"),
            Some(reason) => assert_eq!(
                first,
                [format!("{{\"reason\":\"{reason}\",\"lost\":null}}")]
            ),
        }
        assert_eq!(
            client.parser.last_event_id(),
            format!("{}.{}", client.session, client.cursor)
        );
        client
    }

    /// `open` without looking at the stream (other tasks may be sending already).
    async fn connect(hub: &Hub, query: &str, user: Option<UserKey>) -> Client {
        match hub.accept(&parts(query), user).await {
            Accepted::Open(conn) => {
                let session = *conn.session_id();
                let cursor = conn.cursor().expect("a hub numbers its streams");
                let resume = conn.resume();
                let (tx, body) = conn.into_parts();
                Client {
                    tx,
                    body,
                    parser: Parser::new(),
                    ended: false,
                    session,
                    cursor,
                    resume,
                }
            }
            Accepted::Closed(_) => panic!("session {query} is closed"),
        }
    }

    /// Everything the body has ready now, as the data of the events in it.
    fn events(&mut self) -> Vec<String> {
        let mut cx = Context::from_waker(Waker::noop());
        while !self.ended {
            match Pin::new(&mut self.body).poll_frame(&mut cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        self.parser.feed(&data);
                    }
                }
                Poll::Ready(Some(Err(never))) => match never {},
                Poll::Ready(None) => {
                    self.ended = true;
                    self.parser.finish();
                }
                Poll::Pending => break,
            }
        }
        let mut out = Vec::new();
        while let Some(frame) = self.parser.next_frame().expect("within limits") {
            if let Frame::Event(event) = frame {
                out.push(event.into_data());
            }
        }
        out
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn routes_by_session_user_topic_and_all_with_counts() {
    let hub = Hub::default();
    let mut a1 = Client::open(&hub, "?id=tab-a", user("alice")).await;
    let mut a1dup = Client::open(&hub, "?id=tab-a", user("alice")).await; // duplicated tab
    let mut a2 = Client::open(&hub, "?id=tab-b", user("alice")).await;
    let mut b = Client::open(&hub, "?id=tab-c", user("bob")).await;
    let mut anon = Client::open(&hub, "", None).await;
    assert_eq!(a1dup.session, a1.session);
    assert_eq!(hub.connection_count(), 5);
    assert_eq!(hub.session_count(), 4);
    let mut sessions: Vec<String> = hub
        .sessions()
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    sessions.sort();
    assert_eq!(sessions.len(), 4);
    assert!(sessions.contains(&"tab-a".to_owned()));

    assert!(hub.subscribe(&a2.session, "news"));
    assert!(hub.subscribe(&b.session, "news"));
    assert!(hub.subscribe(&b.session, "news")); // idempotent

    assert_eq!(hub.broadcast(&Event::new("all")).live, 5);
    assert_eq!(
        hub.send_to_session(&a1.session, &Event::new("tab a")).live,
        2
    );
    assert_eq!(
        hub.send_to_user(&UserKey::from("alice"), &Event::new("alice"))
            .live,
        3
    );
    assert_eq!(
        hub.send_to_user(&UserKey::from("carol"), &Event::new("carol"))
            .live,
        0
    );
    assert_eq!(hub.publish("news", &Event::new("news")).live, 2);
    assert_eq!(hub.publish("sport", &Event::new("sport")).live, 0);
    let unknown = SessionId::try_from("nobody").unwrap();
    assert_eq!(hub.send_to_session(&unknown, &Event::new("x")).live, 0);

    // Multi-line unicode data arrives exactly.
    assert_eq!(
        hub.send_to_session(&anon.session, &Event::new("é\nü")).live,
        1
    );

    assert_eq!(a1.events(), strings(&["all", "tab a", "alice"]));
    assert_eq!(a1dup.events(), strings(&["all", "tab a", "alice"]));
    assert_eq!(a2.events(), strings(&["all", "alice", "news"]));
    assert_eq!(b.events(), strings(&["all", "news"]));
    assert_eq!(anon.events(), strings(&["all", "é\nü"]));

    assert!(hub.unsubscribe(&b.session, "news"));
    assert!(!hub.unsubscribe(&b.session, "news"));
    assert_eq!(hub.publish("news", &Event::new("news 2")).live, 1);
    assert_eq!(a2.events(), strings(&["news 2"]));
    assert!(b.events().is_empty());
}

#[tokio::test]
async fn bytes_forms_share_one_frame() {
    let hub = Hub::default();
    let mut c = Client::open(&hub, "?id=t", None).await;
    hub.subscribe(&c.session, "x");
    let frame = Event::new("pre-encoded").to_bytes();
    assert_eq!(hub.broadcast_bytes(&frame).live, 1);
    assert_eq!(hub.send_to_session_bytes(&c.session, &frame).live, 1);
    assert_eq!(hub.publish_bytes("x", &frame).live, 1);
    assert_eq!(hub.send_to_user_bytes(&UserKey::from("u"), &frame).live, 0);
    assert_eq!(c.events().len(), 3);
}

#[tokio::test]
async fn events_with_an_id_are_refused_and_counted() {
    let hub = Hub::default();
    let mut c = Client::open(&hub, "?id=t", None).await;
    let with_id = Event::new("x").with_id(EventId::from_static("7"));
    assert_eq!(hub.broadcast(&with_id).live, 0);
    assert_eq!(hub.send_to_session(&c.session, &with_id).live, 0);
    assert_eq!(hub.stats().refused_with_id, 2);
    assert!(c.events().is_empty());
    // The session's cursor survives.
    assert_eq!(c.parser.last_event_id(), format!("t.{}", c.cursor));
}

#[tokio::test]
async fn a_session_of_one_user_cannot_be_joined_by_another() {
    let hub = Hub::default();
    let mut alice = Client::open(&hub, "?id=tab-1", user("alice")).await;

    let mut mallory = Client::open(&hub, "?id=tab-1", user("mallory")).await;
    assert_ne!(mallory.session.as_str(), "tab-1");
    assert_eq!(hub.stats().user_mismatches, 1);

    // By header too, and with no user key at all.
    let req = http::Request::get("/events")
        .header("last-event-id", "tab-1")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let Accepted::Open(anon) = hub.accept(&req, None).await else {
        panic!("not closed")
    };
    assert_ne!(anon.session_id().as_str(), "tab-1");
    assert_eq!(hub.stats().user_mismatches, 2);

    // Alice's own second tab joins.
    let alice2 = Client::open(&hub, "?id=tab-1", user("alice")).await;
    assert_eq!(alice2.session.as_str(), "tab-1");
    assert_eq!(hub.stats().user_mismatches, 2);

    // Mallory's fresh session is hers; she gets nothing of Alice's.
    assert_eq!(
        hub.send_to_session(&alice.session, &Event::new("secret"))
            .live,
        2
    );
    assert!(mallory.events().is_empty());
    assert_eq!(alice.events(), strings(&["secret"]));

    // An anonymous session cannot be joined under a user key either.
    let _anon_tab = Client::open(&hub, "?id=anon-tab", None).await;
    let other = Client::open(&hub, "?id=anon-tab", user("alice")).await;
    assert_ne!(other.session.as_str(), "anon-tab");
    assert_eq!(hub.stats().user_mismatches, 3);

    // After Alice's tabs leave, the session waits for them with its owner: no take-over
    // in the gap before her tab reconnects.
    drop((alice, alice2));
    let tab1 = SessionId::try_from("tab-1").unwrap();
    assert!(!hub.contains(&tab1));
    assert!(hub.is_away(&tab1));
    let late = Client::open(&hub, "?id=tab-1", user("mallory")).await;
    assert_ne!(late.session.as_str(), "tab-1");
    assert_eq!(hub.stats().user_mismatches, 4);
    let back = Client::connect(&hub, "?id=tab-1", user("alice")).await;
    assert_eq!(back.session.as_str(), "tab-1");
    drop(anon);
}

#[tokio::test]
async fn owner_memory_can_be_turned_off_and_is_bounded() {
    // Sessions freed with their last connection (no resume window), so only the owner
    // memory could keep Bob out.
    let hub = Hub::with_config(
        SessionConfig::default(),
        HubConfig::default()
            .owner_ttl(Duration::ZERO)
            .resume_window(Duration::ZERO),
    );
    drop(Client::open(&hub, "?id=tab-1", user("alice")).await);
    let bob = Client::open(&hub, "?id=tab-1", user("bob")).await;
    assert_eq!(bob.session.as_str(), "tab-1");
    assert_eq!(hub.stats().user_mismatches, 0);
    drop(bob);

    let hub = Hub::with_config(
        SessionConfig::default(),
        HubConfig::default()
            .owner_capacity(160)
            .resume_window(Duration::ZERO),
    );
    for i in 0..5_000 {
        drop(Client::open(&hub, &format!("?id=t{i}"), user("u")).await);
    }
    assert_eq!(hub.connection_count(), 0);
    assert!(hub.away_count() <= 16, "freed as accepts pass their shards");
    // 16 shards of at most 10 owners each, plus slack for the shrink policy.
    assert!(hub.debug_capacity() < 1_000, "{}", hub.debug_capacity());
}

#[tokio::test]
async fn a_slow_consumer_is_disconnected_and_counted_while_others_receive() {
    let hub = Hub::new(SessionConfig::default().queue_frames(4));
    let mut fast = Client::open(&hub, "?id=fast", None).await;
    let mut slow = Client::open(&hub, "?id=slow", None).await;
    // `slow` never reads; its first frame was read in `open`.

    let mut got = Vec::new();
    for i in 0..10 {
        got.push(hub.broadcast(&Event::new(format!("e{i}"))).live);
        assert_eq!(fast.events(), vec![format!("e{i}")]);
    }
    // 4 queued for the slow one, the 5th found its queue full: disconnected then.
    assert_eq!(got, [2, 2, 2, 2, 1, 1, 1, 1, 1, 1]);
    let stats = hub.stats();
    assert_eq!(stats.slow_disconnects, 1);
    assert!(slow.tx.is_closed());
    // Its stream ends (queued frames are dropped: it will resume by reconnecting).
    let _ = slow.events();
    assert!(slow.ended);
    let cursor = slow.cursor;
    drop(slow);
    assert_eq!(hub.connection_count(), 1);

    // It reconnects into its session from where it stopped, and gets all ten.
    let mut again = Client::connect(&hub, &format!("?id=slow.{cursor}"), None).await;
    assert_eq!(again.session.as_str(), "slow");
    let all: Vec<String> = (0..10).map(|i| format!("e{i}")).collect();
    assert_eq!(again.events(), all);
    assert_eq!(hub.broadcast(&Event::new("after")).live, 2);
    assert_eq!(again.events(), strings(&["after"]));
    assert_eq!(hub.stats().slow_disconnects, 1);
}

#[tokio::test]
async fn ten_thousand_connect_disconnect_cycles_leave_nothing() {
    // Owner memory off, so that every map must come back down (it is bounded on its own,
    // see `owner_memory_can_be_turned_off_and_is_bounded`); no resume window, so that
    // sessions are freed as soon as the hub's next calls pass them (tests/resume.rs
    // covers the window).
    let hub = Hub::with_config(
        SessionConfig::default(),
        HubConfig::default()
            .owner_ttl(Duration::ZERO)
            .resume_window(Duration::ZERO),
    );
    let empty = hub.debug_capacity();
    for i in 0..10_000 {
        let c = Client::open(&hub, &format!("?id=c{i}"), user("u")).await;
        hub.subscribe(&c.session, "t");
        drop(c);
    }
    assert_eq!(hub.connection_count(), 0);
    assert_eq!(hub.session_count(), 0);
    assert!(hub.sessions().is_empty());
    assert!(!hub.publish("t", &Event::new("x")).reached());
    hub.sweep();
    assert_eq!(hub.away_count(), 0);

    // 10,000 held at once, then all gone: the maps grow, then shrink back.
    let mut held = Vec::new();
    for i in 0..10_000 {
        let c = Client::open(&hub, &format!("?id=h{i}"), user(&format!("u{}", i % 100))).await;
        hub.subscribe(&c.session, &format!("topic{}", i % 10));
        held.push(c);
    }
    assert_eq!(hub.connection_count(), 10_000);
    assert_eq!(hub.broadcast(&Event::new("x")).live, 10_000);
    assert_eq!(hub.publish("topic3", &Event::new("x")).live, 1_000);
    assert_eq!(
        hub.send_to_user(&UserKey::from("u7"), &Event::new("x"))
            .live,
        100
    );
    let full = hub.debug_capacity();
    assert!(full >= 10_000, "{full}");
    drop(held);
    assert_eq!(hub.connection_count(), 0);
    assert_eq!(hub.session_count(), 0);
    assert_eq!(
        hub.away_count(),
        10_000,
        "freed by the hub's next calls, or a sweep"
    );
    assert_eq!(hub.sweep(), 10_000);
    assert_eq!(hub.away_count(), 0);
    assert_eq!(hub.stats().connections_accepted, 20_000);
    let after = hub.debug_capacity();
    // Each of the 16 shards keeps at most small maps (shrinking stops at 32 slots).
    assert!(after <= empty + 16 * 4 * 64, "{empty} -> {full} -> {after}");
    eprintln!("map capacity: {empty} empty, {full} with 10,000 connections, {after} after");
    assert!(after * 8 < full, "{full} -> {after}");
}

#[tokio::test]
async fn close_session_marks_it_closed_and_ends_every_connection() {
    let hub = Hub::default();
    let mut one = Client::open(&hub, "?id=tab-x", None).await;
    let mut two = Client::open(&hub, "?id=tab-x", None).await;
    let id = one.session;
    assert_eq!(hub.close_session(&id, Some(Event::new("bye"))).await, 2);
    assert!(hub.as_sessions().is_closed(&id).await);
    assert_eq!(one.events(), strings(&["bye"]));
    assert_eq!(two.events(), strings(&["bye"]));
    assert!(one.ended && two.ended);
    assert_eq!(hub.connection_count(), 0); // removed at once, before the bodies go
    assert_eq!(hub.send_to_session(&id, &Event::new("late")).live, 0);
    assert!(matches!(
        hub.accept(&parts("?id=tab-x"), None).await,
        Accepted::Closed(_)
    ));

    // A session with no live connection is marked closed too.
    let idle = SessionId::try_from("idle").unwrap();
    assert_eq!(hub.close_session(&idle, None).await, 0);
    assert!(hub.as_sessions().is_closed(&idle).await);
}

#[tokio::test]
async fn drop_session_ends_connections_but_leaves_it_resumable() {
    let hub = Hub::default();
    let mut one = Client::open(&hub, "?id=tab-y", user("u")).await;
    let id = one.session;
    assert_eq!(hub.drop_session(&id), 1);
    assert!(one.events().is_empty());
    assert!(one.ended);
    assert!(!hub.as_sessions().is_closed(&id).await);
    assert_eq!(hub.connection_count(), 0);
    let again = Client::open(&hub, "?id=tab-y", user("u")).await;
    assert_eq!(again.session, id);
    assert_eq!(hub.drop_session(&SessionId::try_from("none").unwrap()), 0);
}

#[tokio::test]
async fn a_client_going_away_leaves_the_hub() {
    let hub = Hub::default();
    let c = Client::open(&hub, "?id=t", user("u")).await;
    hub.subscribe(&c.session, "news");
    let tx = c.tx.clone();
    drop(c.body); // what hyper does when the TCP connection closes
    assert!(tx.is_closed());
    assert_eq!(hub.connection_count(), 0);
    assert_eq!(hub.publish("news", &Event::new("x")).live, 0);
    assert_eq!(
        hub.send_to_user(&UserKey::from("u"), &Event::new("x")).live,
        0
    );
    drop(tx);
    // A hub dropped before its connections: their bodies still drop cleanly.
    let hub = Hub::default();
    let c = Client::open(&hub, "", None).await;
    drop(hub);
    drop(c);
}

#[test]
fn broadcast_races_with_connects_and_disconnects() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let hub = Hub::new(SessionConfig::default().keep_alive(None));
    let frame = Bytes::from_static(b"data: x\n\n");
    rt.block_on(async {
        let churn = {
            let hub = hub.clone();
            tokio::spawn(async move {
                for i in 0..2_000 {
                    let mut c = Client::connect(&hub, &format!("?id=c{}", i % 50), None).await;
                    let _ = c.events();
                    hub.subscribe(&c.session, "t");
                    if i % 3 == 0 {
                        hub.drop_session(&c.session);
                    }
                    drop(c);
                    tokio::task::yield_now().await;
                }
            })
        };
        let sender = {
            let hub = hub.clone();
            let frame = frame.clone();
            tokio::spawn(async move {
                for _ in 0..2_000 {
                    let _ = hub.broadcast_bytes(&frame);
                    let _ = hub.publish_bytes("t", &frame);
                    tokio::task::yield_now().await;
                }
            })
        };
        churn.await.unwrap();
        sender.await.unwrap();
    });
    assert_eq!(hub.connection_count(), 0);
    assert_eq!(hub.session_count(), 0);
}

#[test]
fn hub_is_send_sync_and_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Hub>();
    check::<UserKey>();
}

#[tokio::test]
async fn the_owner_is_forgotten_after_its_ttl() {
    let hub = Hub::with_config(
        SessionConfig::default(),
        HubConfig::default()
            .owner_ttl(Duration::from_millis(50))
            .resume_window(Duration::ZERO),
    );
    drop(Client::open(&hub, "?id=tab-1", user("alice")).await);
    let early = Client::open(&hub, "?id=tab-1", user("bob")).await;
    assert_ne!(early.session.as_str(), "tab-1");
    tokio::time::sleep(Duration::from_millis(120)).await;
    let late = Client::open(&hub, "?id=tab-1", user("bob")).await;
    assert_eq!(late.session.as_str(), "tab-1");
    assert_eq!(hub.stats().user_mismatches, 1);
}

/// Over a real socket: hyper drops the body when the client goes away, and the
/// connection leaves the hub by itself.
#[tokio::test]
async fn a_real_client_disconnect_deregisters_within_a_second() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let hub = Hub::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server_hub = hub.clone();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
            let hub = server_hub.clone();
            async move {
                let (parts, _) = req.into_parts();
                Ok::<_, std::convert::Infallible>(
                    hub.accept(&parts, user("u")).await.into_response(),
                )
            }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
            .await;
    });

    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        b"GET /events?id=tab-net HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n",
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !seen.windows(12).any(|w| w == b"id: tab-net.") {
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
            .await
            .expect("first frame in time")
            .unwrap();
        assert!(n > 0, "stream ended early");
        seen.extend_from_slice(&buf[..n]);
    }
    assert_eq!(hub.connection_count(), 1);
    assert_eq!(
        hub.send_to_user(&UserKey::from("u"), &Event::new("x")).live,
        1
    );

    drop(tcp);
    let gone = async {
        while hub.connection_count() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(1), gone)
        .await
        .expect("deregistered within 1 s of the client closing");
    assert_eq!(hub.session_count(), 0);
    let sent = hub.send_to_user(&UserKey::from("u"), &Event::new("x"));
    assert_eq!(
        (sent.live, sent.queued),
        (0, 1),
        "the session waits for its tab"
    );
    server.await.unwrap();
}
