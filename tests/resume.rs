//! Resume over real connections: an axum server with a `Hub` on 127.0.0.1 port 0
//! and hyper's client. Tabs whose connections drop mid-stream, while other tasks keep
//! publishing, come back with their cursor and get every event once, in order; a
//! duplicated tab gets each event on each connection; job channels end with a final
//! event and `204`; the gap signal for each reason; expiry frees the session; forged
//! cursors leave nothing behind.

#[macro_use]
#[path = "common/client.rs"]
mod client;

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::routing::get;
use axum::Router;
use client::{open, Proto, Stream};
use sse_session::live::{Accepted, GapReason, Hub, HubConfig, Resume, SessionConfig};
use sse_session::{Event, EventName, Frame, SessionId};
use tokio::net::TcpListener;

async fn events(State(hub): State<Hub>, parts: Parts) -> Accepted {
    hub.accept(&parts, None).await
}

async fn job(State(hub): State<Hub>, Path(id): Path<String>, parts: Parts) -> Accepted {
    hub.accept_scoped(&parts, None, &id).await
}

/// An axum server around `hub`; its address.
async fn serve(hub: Hub) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/events", get(events))
        .route("/jobs/{id}", get(job))
        .with_state(hub);
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// The next event (skipping retry and comment frames), `None` at the end.
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

/// `S.n` split.
fn cursor(last_event_id: &str) -> (SessionId, u64) {
    let (s, n) = last_event_id.split_once('.').expect("<session>.<seq>");
    (SessionId::try_from(s).unwrap(), n.parse().unwrap())
}

/// Reconnects with `last_event_id`, by header (as the browser does) or by query
/// (as a reloaded page does).
async fn reconnect(addr: std::net::SocketAddr, last_event_id: &str, header: bool) -> Stream {
    if header {
        open(
            addr,
            Proto::H1,
            "",
            &[("last-event-id", last_event_id.as_bytes())],
        )
        .await
    } else {
        open(addr, Proto::H1, &format!("?id={last_event_id}"), &[]).await
    }
}

/// Two tabs of one session (a duplicated tab) follow a stream of 1,500 broadcasts
/// while their connections keep dropping (every 37th / 53rd event, alternately
/// reconnecting by header and by query) and a second task publishes to a topic
/// they are subscribed to: each tab ends with every event exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tabs_that_keep_dropping_get_every_event_once_in_order() {
    const N: usize = 1_500;
    let hub = Hub::new(SessionConfig::default().keep_alive(None));
    let addr = serve(hub.clone()).await;

    let mut first = open(addr, Proto::H1, "?id=tab-1", &[]).await;
    let start = first.first_id().await;
    assert!(start.starts_with("tab-1."), "{start}");
    let mut dup = reconnect(addr, &start, true).await; // the duplicated tab's copy
    assert_eq!(dup.first_id().await, start);
    assert!(hub.subscribe(&SessionId::from_static("tab-1"), "prices"));

    let publisher = {
        let hub = hub.clone();
        tokio::spawn(async move {
            for i in 0..N {
                let event = Event::new(format!("{i}"));
                if i % 3 == 0 {
                    hub.publish("prices", &event);
                } else {
                    hub.broadcast(&event);
                }
                if i % 50 == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        })
    };

    let follow = |mut stream: Stream, every: usize| async move {
        let mut got: Vec<usize> = Vec::with_capacity(N);
        let mut header = true;
        let mut reconnects = 0;
        while got.len() < N {
            match next_event(&mut stream).await {
                Some((_, data, last)) => {
                    got.push(data.parse().unwrap());
                    if got.len() % every == 0 {
                        // The connection drops with events in flight.
                        stream.drop_connection();
                        stream = reconnect(addr, &last, header).await;
                        header = !header;
                        reconnects += 1;
                    }
                }
                None => panic!("the stream ended after {} events", got.len()),
            }
        }
        (got, reconnects)
    };
    let (a, b) = tokio::join!(follow(first, 37), follow(dup, 53));
    publisher.await.unwrap();
    let want: Vec<usize> = (0..N).collect();
    assert_eq!(a.0, want, "tab 1: every event once, in order");
    assert_eq!(b.0, want, "its duplicate too");
    assert!(a.1 >= 40 && b.1 >= 28, "reconnects: {} and {}", a.1, b.1);
    let stats = hub.stats();
    assert_eq!(stats.recovered, (a.1 + b.1) as u64 + 1);
    assert_eq!(stats.gaps, 0);
}

/// A job channel: a scoped stream gets the topic's events only; `end_topic` sends
/// the final event and ends it; its reconnect gets 204. A tab that was away when
/// the job ended gets what it missed and the final event on reconnect, then the
/// end, then 204.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_channel_ends_with_its_final_event_then_204() {
    let hub = Hub::default();
    let addr = serve(hub.clone()).await;
    let mut watcher = open(addr, Proto::H1, "", &[]).await;
    let _ = watcher.first_id().await;
    let mut live = client::get(addr, Proto::H1, "/jobs/report-7", &[]).await;
    let live_start = live.first_id().await;
    let mut away = client::get(addr, Proto::H1, "/jobs/report-7", &[]).await;
    let away_start = away.first_id().await;

    let progress = EventName::from_static("progress");
    assert_eq!(
        hub.publish("report-7", &Event::new("10%").with_name(progress.clone()))
            .live,
        2
    );
    let sent = hub.broadcast(&Event::new("not for jobs"));
    assert_eq!((sent.live, sent.queued), (1, 0), "only the unscoped stream");
    assert_eq!(next_event(&mut live).await.unwrap().1, "10%");
    let (_, data, away_last) = next_event(&mut away).await.unwrap();
    assert_eq!(data, "10%");
    assert_eq!(next_event(&mut watcher).await.unwrap().1, "not for jobs");

    // One tab goes away; the job goes on and ends.
    away.drop_connection();
    assert_ne!(away_last, away_start);
    tokio::time::sleep(Duration::from_millis(50)).await; // the server notices
    let sent = hub.publish("report-7", &Event::new("90%").with_name(progress));
    assert_eq!((sent.live, sent.queued), (1, 1));
    let done = Event::new("report ready").with_name(EventName::from_static("done"));
    let sent = hub.end_topic("report-7", &done);
    assert_eq!((sent.live, sent.queued), (1, 1));
    assert!(!hub.end_topic("report-7", &done).reached(), "ends once");
    assert!(!hub.publish("report-7", &Event::new("late")).reached());

    // The live stream: 90%, done, end. Its reconnect: 204.
    let frames = live.expect_end().await;
    let events: Vec<(String, String)> = frames
        .iter()
        .filter_map(|f| match f {
            Frame::Event(e) => Some((e.event_type().to_owned(), e.data().to_owned())),
            _ => None,
        })
        .collect();
    assert_eq!(
        events,
        [
            ("progress".to_owned(), "90%".to_owned()),
            ("done".to_owned(), "report ready".to_owned())
        ]
    );
    let final_id = match frames.last() {
        Some(Frame::Event(e)) => e.last_event_id().to_owned(),
        other => panic!("{other:?}"),
    };
    assert_eq!(cursor(&final_id).0, cursor(&live_start).0);
    let again = client::get(
        addr,
        Proto::H1,
        "/jobs/report-7",
        &[("last-event-id", final_id.as_bytes())],
    )
    .await;
    assert_eq!(again.status, 204);

    // The away tab: what it missed, the final event, the end; then 204.
    let mut back = client::get(
        addr,
        Proto::H1,
        "/jobs/report-7",
        &[("last-event-id", away_last.as_bytes())],
    )
    .await;
    assert_eq!(back.status, 200);
    let frames = back.expect_end().await;
    let data: Vec<String> = frames
        .iter()
        .filter_map(|f| match f {
            Frame::Event(e) => Some(e.data().to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(data, ["90%", "report ready"]);
    let back_final = match frames.last() {
        Some(Frame::Event(e)) => e.last_event_id().to_owned(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        cursor(&back_final).1,
        cursor(&final_id).1,
        "the same final event"
    );
    let again = client::get(
        addr,
        Proto::H1,
        "/jobs/report-7",
        &[("last-event-id", back_final.as_bytes())],
    )
    .await;
    assert_eq!(again.status, 204);
    // ... and for good: the session is closed now.
    let again = client::get(
        addr,
        Proto::H1,
        "/jobs/report-7",
        &[("last-event-id", away_last.as_bytes())],
    )
    .await;
    assert_eq!(again.status, 204);

    // A stream opened on the ended job: the final event at once, then the end.
    let mut late = client::get(addr, Proto::H1, "/jobs/report-7", &[]).await;
    let frames = late.expect_end().await;
    assert!(
        matches!(frames.last(), Some(Frame::Event(e)) if e.data() == "report ready"),
        "{frames:?}"
    );
}

fn parts(headers: &[(&str, &str)], query: &str) -> http::request::Parts {
    let mut req = http::Request::get(format!("/events{query}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(()).unwrap().into_parts().0
}

/// Each gap reason, with its `resync` event first on the stream and the new cursor
/// in its `id:`.
#[tokio::test(start_paused = true)]
async fn every_gap_reason_opens_with_resync() {
    let hub = Hub::with_config(
        SessionConfig::default().keep_alive(None),
        HubConfig::default()
            .resume_window(Duration::from_secs(60))
            .mailbox_events(2),
    );
    let resync_of = |conn: sse_session::live::Connection| {
        let start = conn.cursor().unwrap();
        let (_tx, body) = conn.into_parts();
        let bytes =
            futures_util::FutureExt::now_or_never(http_body_util::BodyExt::frame(&mut { body }));
        let data = bytes
            .flatten()
            .and_then(|f| f.ok())
            .and_then(|f| f.into_data().ok())
            .expect("the first frame at once");
        let frames = sse_session::parse_all(&data).unwrap();
        match &frames[..] {
            [Frame::Retry(_), Frame::Event(e)] => {
                assert_eq!(e.event_type(), "resync");
                assert!(e.last_event_id().ends_with(&format!(".{start}")));
                e.data().to_owned()
            }
            other => panic!("{other:?}"),
        }
    };
    let open = |h: &[(&str, &str)], q: &str| {
        let hub = hub.clone();
        let p = parts(h, q);
        async move {
            match hub.accept(&p, None).await {
                Accepted::Open(c) => c,
                Accepted::Closed(_) => panic!("closed"),
            }
        }
    };

    let first = open(&[], "?id=tab").await;
    let start = first.cursor().unwrap();
    drop(first);
    let id = SessionId::from_static("tab");

    // NoCursor: a known session, a bare ID.
    let conn = open(&[], "?id=tab").await;
    assert_eq!(conn.resume(), Resume::Gap(GapReason::NoCursor));
    assert_eq!(resync_of(conn), r#"{"reason":"no-cursor","lost":null}"#);

    // UnknownCursor: ahead of the newest position, or before the session began.
    let ahead = format!("tab.{}", hub.position() + 1);
    let conn = open(&[("last-event-id", &ahead)], "").await;
    assert_eq!(conn.resume(), Resume::Gap(GapReason::UnknownCursor));
    assert_eq!(
        resync_of(conn),
        r#"{"reason":"unknown-cursor","lost":null}"#
    );
    let before = format!("tab.{}", start - 1);
    let conn = open(&[("last-event-id", &before)], "").await;
    assert_eq!(conn.resume(), Resume::Gap(GapReason::UnknownCursor));
    drop(conn);

    // Trimmed: three events to an away session whose mailbox keeps two.
    for i in 0..3 {
        let sent = hub.send_to_session(&id, &Event::new(format!("{i}")));
        assert_eq!((sent.live, sent.queued), (0, 1));
    }
    let conn = open(&[("last-event-id", &format!("tab.{start}"))], "").await;
    assert_eq!(conn.resume(), Resume::Gap(GapReason::Trimmed));
    assert_eq!(resync_of(conn), r#"{"reason":"trimmed","lost":null}"#);

    // Expired: the window passed with no connection.
    tokio::time::advance(Duration::from_secs(61)).await;
    assert!(!hub.is_away(&id));
    assert!(!hub.send_to_session(&id, &Event::new("nobody")).reached());
    let conn = open(&[("last-event-id", &format!("tab.{start}"))], "").await;
    assert_eq!(conn.resume(), Resume::Gap(GapReason::Expired));
    assert_eq!(conn.session_id(), &id, "a new session under the same ID");
    assert_eq!(resync_of(conn), r#"{"reason":"expired","lost":null}"#);
    assert_eq!(hub.stats().gaps, 5);
}

/// Sessions away past the window are freed by the hub's own calls, and their
/// topics and user go with them; nothing of them is left.
#[tokio::test(start_paused = true)]
async fn expiry_frees_sessions_topics_and_users() {
    let hub = Hub::with_config(
        SessionConfig::default().keep_alive(None),
        HubConfig::default()
            .resume_window(Duration::from_secs(30))
            .owner_ttl(Duration::ZERO),
    );
    let empty = hub.debug_capacity();
    let user = Some(sse_session::live::UserKey::from("u"));
    for i in 0..2_000 {
        let p = parts(&[], &format!("?id=t{i}"));
        let Accepted::Open(conn) = hub.accept(&p, user.clone()).await else {
            panic!("closed")
        };
        hub.subscribe(conn.session_id(), &format!("topic{}", i % 7));
        hub.send_to_session(conn.session_id(), &Event::new("kept for replay"));
    }
    assert_eq!(hub.away_count(), 2_000);
    let sent = hub.send_to_user(&sse_session::live::UserKey::from("u"), &Event::new("x"));
    assert_eq!((sent.live, sent.queued), (0, 2_000));
    assert_eq!(hub.publish("topic3", &Event::new("x")).queued, 286);

    tokio::time::advance(Duration::from_secs(31)).await;
    assert!(!hub
        .send_to_user(&sse_session::live::UserKey::from("u"), &Event::new("x"))
        .reached());
    assert!(!hub.publish("topic3", &Event::new("x")).reached());
    assert!(!hub.broadcast(&Event::new("x")).reached());
    // Each send frees a few; a sweep frees the rest at once.
    hub.sweep();
    assert_eq!(hub.away_count(), 0);
    assert_eq!(hub.stats().expired_sessions, 2_000);
    assert!(
        hub.debug_capacity() <= empty + 16 * 4 * 64,
        "{empty} -> {}",
        hub.debug_capacity()
    );
}

/// A flood of reconnects with forged cursors (random, giant, another session's)
/// into a live session leaves nothing behind; one with unknown session IDs is
/// bounded by `max_away_sessions`. Another session's cursor number never yields
/// another session's events.
#[tokio::test]
async fn forged_cursors_allocate_nothing_that_outlives_the_request() {
    let hub = Hub::with_config(
        SessionConfig::default().keep_alive(None),
        HubConfig::default().max_away_sessions(1_000),
    );
    let owner = parts(&[], "?id=victim");
    let Accepted::Open(victim) = hub.accept(&owner, None).await else {
        panic!("closed")
    };
    let Accepted::Open(other) = hub.accept(&parts(&[], "?id=other"), None).await else {
        panic!("closed")
    };
    let other_id = *other.session_id();
    hub.send_to_session(&other_id, &Event::new("secret of other"));
    let other_pos = hub.position();
    let baseline = hub.debug_capacity();

    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..20_000u64 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let n = match i % 3 {
            0 => rng,
            1 => u64::MAX,
            _ => other_pos,
        };
        let p = parts(&[("last-event-id", &format!("victim.{n}"))], "");
        let Accepted::Open(conn) = hub.accept(&p, None).await else {
            panic!("closed")
        };
        assert_eq!(conn.session_id().as_str(), "victim");
        if n == other_pos {
            // A valid position: the victim's own events after it (none), never
            // the other session's.
            assert_eq!(conn.resume(), Resume::Recovered { replayed: 0 });
        } else {
            assert_eq!(conn.resume(), Resume::Gap(GapReason::UnknownCursor));
        }
        drop(conn);
    }
    assert_eq!(hub.away_count(), 0, "the victim stays live");
    assert_eq!(hub.connection_count(), 2);
    assert!(hub.debug_capacity() <= baseline, "nothing grew");

    // Unknown sessions: each is a new (empty) session; at most the cap wait.
    for i in 0..20_000u64 {
        let p = parts(&[("last-event-id", &format!("s{i}.{}", u64::MAX - i))], "");
        drop(hub.accept(&p, None).await);
    }
    // 16 shards of at most ceil(1000 / 16) each, plus the one that left last in each.
    assert!(hub.away_count() <= 16 * 63 + 16, "{}", hub.away_count());
    assert!(hub.debug_capacity() < 8_000, "{}", hub.debug_capacity());
    drop((victim, other));
}

/// A broadcast to sessions that are all away reaches each of them on reconnect
/// (memory per away session and per stored event: `benches/benches/resume.rs`).
#[tokio::test]
async fn a_broadcast_reaches_every_away_session_on_reconnect() {
    let hub = Hub::new(SessionConfig::default().keep_alive(None));
    let mut cursors = Vec::new();
    for i in 0..100 {
        let Accepted::Open(conn) = hub.accept(&parts(&[], &format!("?id=a{i}")), None).await else {
            panic!("closed")
        };
        cursors.push((*conn.session_id(), conn.cursor().unwrap()));
    }
    let frame = Event::new("shared").to_bytes();
    let sent = hub.broadcast_bytes(&frame);
    assert_eq!((sent.live, sent.queued), (0, 100));
    for (id, start) in cursors {
        let p = parts(&[("last-event-id", &format!("{id}.{start}"))], "");
        let Accepted::Open(conn) = hub.accept(&p, None).await else {
            panic!("closed")
        };
        assert_eq!(conn.resume(), Resume::Recovered { replayed: 1 });
        let (_tx, body) = conn.into_parts();
        let mut body = body;
        let first = http_body_util::BodyExt::frame(&mut body)
            .await
            .unwrap()
            .unwrap();
        assert!(first
            .into_data()
            .unwrap()
            .ends_with(format!("id: {id}.{start}\n\n").as_bytes()));
        let replayed = http_body_util::BodyExt::frame(&mut body)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            replayed.into_data().unwrap(),
            format!("id: {id}.{}\ndata: shared\n\n", start + 1).as_bytes()
        );
    }
}
