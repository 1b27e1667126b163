//! Several real demo processes (examples/demo.rs with `--redis`) on one real
//! `redis-server` (tests/common/redis_server.rs: 127.0.0.1, a free port, a
//! temporary directory), read by a real HTTP client on 127.0.0.1: what a tab
//! sees behind a load balancer that sends each of its requests to any
//! process.
//!
//! - a tab on A gets sends made on B and C, once each, in order; a drop made
//!   on C ends its stream and it resumes on A;
//! - a session closed on A gets `204` on B and C (and a tab on B is ended by a
//!   close made on A);
//! - a job started on A streams to a tab on B and ends there: its reconnect
//!   gets `204` on B, and on C, where the stream never was;
//! - a tab whose connection is cut on A reconnects with its `Last-Event-ID`
//!   to B and is replayed every event sent on A, B and C while it was away,
//!   once each, in order;
//! - a demo killed with SIGKILL: its tab reconnects to another process with
//!   its cursor and is replayed what was sent meanwhile, while the other
//!   processes go on serving;
//! - Redis restarted under running demos: local delivery goes on without
//!   waiting, new tabs are let in, and the bus comes back by itself;
//! - Redis unreachable (refused, or accepting and mute) or a bad URL at
//!   start: the demo exits with status 1 and a clear message, within the
//!   connect timeout, without listening.
//!
//! Every wait is bounded (5 s per read, 10 s per start or request).

#[macro_use]
#[path = "common/client.rs"]
mod client;
#[path = "common/demo.rs"]
mod demo;
#[path = "common/redis_server.rs"]
mod redis_server;
#[path = "common/tool.rs"]
mod tool;

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use client::{get, open, Proto, Stream};
use demo::DemoProcess;
use redis_server::{free_port, RedisServer};
use sse_session::Frame;

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

/// Demo processes named `names` on `redis`, in namespace `ns`.
fn demos<const N: usize>(
    redis: &RedisServer,
    ns: &str,
    names: [&'static str; N],
) -> [DemoProcess; N] {
    let url = redis.url();
    names.map(|name| DemoProcess::start(name, &["--redis", &url, "--namespace", ns]))
}

/// One received event: name, data, last event ID.
#[derive(Debug, Clone, PartialEq)]
struct Ev {
    name: String,
    data: String,
    id: String,
}

/// The next event, skipping other frames (retry, comments); `None` at the
/// end of the stream. Each read is bounded (5 s).
async fn next_event(s: &mut Stream) -> Option<Ev> {
    loop {
        if let Frame::Event(e) = s.next_frame().await? {
            return Some(Ev {
                name: e.event_type().to_owned(),
                data: e.data().to_owned(),
                id: e.last_event_id().to_owned(),
            });
        }
    }
}

async fn event(s: &mut Stream, what: &str) -> Ev {
    next_event(s)
        .await
        .unwrap_or_else(|| panic!("the stream ended before {what}"))
}

/// Whether another event arrives within `wait`.
async fn quiet_for(s: &mut Stream, wait: Duration) -> Option<Ev> {
    tokio::time::timeout(wait, next_event(s))
        .await
        .ok()
        .flatten()
}

/// A stream opened on `demo`, after its first frame: the events before the
/// demo's `connect` event (replayed ones, or a `resync` gap signal), and the
/// `connect` event's JSON (`resume`: new, recovered or gap; `replayed`).
struct Opened {
    stream: Stream,
    before: Vec<Ev>,
    info: serde_json::Value,
    /// The cursor after the `connect` event (the tab's place).
    cursor: String,
}

async fn open_on(demo: &DemoProcess, query: &str, last_event_id: Option<&str>) -> Opened {
    let headers: Vec<(&str, &[u8])> = last_event_id
        .map(|id| vec![("last-event-id", id.as_bytes())])
        .unwrap_or_default();
    let mut stream = open(demo.addr, Proto::H1, query, &headers).await;
    assert_eq!(stream.status, 200, "GET /events{query} on {}", demo.name);
    // The first frame (`retry:` and `id:`, no data) dispatches no event.
    let mut before = Vec::new();
    loop {
        let ev = event(&mut stream, "the connect event").await;
        if ev.name == "connect" {
            let info = serde_json::from_str(&ev.data).expect("connect data is JSON");
            return Opened {
                stream,
                before,
                info,
                cursor: ev.id,
            };
        }
        before.push(ev);
        assert!(before.len() <= 1_000, "no connect event in 1,000 events");
    }
}

/// The status of `GET /events` with `last_event_id` on `demo` (the stream,
/// if any, is dropped).
async fn status_of(demo: &DemoProcess, path: &str, last_event_id: &str) -> u16 {
    let headers: [(&str, &[u8]); 2] = [
        ("accept", b"text/event-stream"),
        ("last-event-id", last_event_id.as_bytes()),
    ];
    let s = get(demo.addr, Proto::H1, path, &headers).await;
    let status = s.status.as_u16();
    s.drop_connection();
    status
}

/// The seq of a cursor `<session>.<seq>`, checking the session.
fn seq(cursor: &str, session: &str) -> u64 {
    let (s, n) = cursor
        .split_once('.')
        .unwrap_or_else(|| panic!("`{cursor}` is not <session>.<seq>"));
    assert_eq!(s, session, "the cursor names the tab: {cursor}");
    n.parse()
        .unwrap_or_else(|_| panic!("`{cursor}`: the seq is a number"))
}

/// `POST path body` on `demo`, then waits until its bus has written the
/// message to Redis (`bus.published` grew), so that sends made one after the
/// other on different processes reach Redis in that order. The status.
async fn send_settled(demo: &DemoProcess, path: &str, body: &str) -> u16 {
    let before = published(demo).await;
    let (status, text) = demo.post(path, body).await;
    assert!(
        matches!(status, 200 | 202),
        "POST {path} on {}: {status} {text}",
        demo.name
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while published(demo).await <= before {
        assert!(
            Instant::now() < deadline,
            "demo {}: its bus did not publish `POST {path}` within 5 s: {}",
            demo.name,
            demo.stats().await
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    status
}

async fn published(demo: &DemoProcess) -> u64 {
    demo.stats().await["bus"]["published"]
        .as_u64()
        .expect("bus.published in GET /stats (is --redis on?)")
}

// ------------------------------------------------------------ live delivery

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_on_a_gets_sends_made_on_b_and_c_once_each_in_order() {
    let redis = redis_or_return!();
    let [a, b, c] = demos(&redis, "sends", ["A", "B", "C"]);

    let mut tab = open_on(&a, "?id=tab-send", None).await;
    assert_eq!(tab.info["resume"], "new");
    assert!(tab.before.is_empty(), "{:?}", tab.before);

    // C has no connection of the session: 202 (its bus takes it to A).
    let (status, text) = c.post("/sessions/tab-send/send", "from C").await;
    assert_eq!((status, text.trim()), (202, "0 connection(s), 0 queued"));
    let got = event(&mut tab.stream, "the send from C").await;
    assert_eq!(
        (got.name.as_str(), got.data.as_str()),
        ("message", "from C")
    );

    let (status, text) = b.post("/broadcast", "to every tab, from B").await;
    assert_eq!((status, text.trim()), (200, "0 connection(s), 0 queued"));
    let got2 = event(&mut tab.stream, "the broadcast from B").await;
    assert_eq!(got2.data, "to every tab, from B");

    let (status, text) = a.post("/sessions/tab-send/send", "from A").await;
    assert_eq!((status, text.trim()), (200, "1 connection(s), 0 queued"));
    let got3 = event(&mut tab.stream, "the send from A").await;
    assert_eq!(got3.data, "from A");

    let seqs: Vec<u64> = [&tab.cursor, &got.id, &got2.id, &got3.id]
        .iter()
        .map(|c| seq(c, "tab-send"))
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let more = quiet_for(&mut tab.stream, Duration::from_millis(300)).await;
    assert_eq!(more, None, "each send arrives once");
    assert_eq!(
        c.stats().await["bus"]["published"],
        1,
        "C wrote its send once"
    );
    a.wait_stat("/bus/received", 2).await; // from C and from B

    // A drop made on C ends the tab's stream on A (resumable): it resumes on
    // A with its cursor.
    let (status, _) = c.post("/sessions/tab-send/drop", "").await;
    assert_eq!(status, 202, "C has no connection of the session");
    let rest = client::within("the end of the dropped stream", tab.stream.expect_end()).await;
    assert!(
        rest.iter().all(|f| !matches!(f, Frame::Event(_))),
        "{rest:?}"
    );
    let again = open_on(&a, "", Some(&got3.id)).await;
    assert_eq!(again.info["resume"], "recovered", "{}", again.info);
    assert_eq!(again.info["replayed"], 0);
    a.wait_line("events tab-send Header -> open recovered 0")
        .await;
    assert_eq!(a.lines("events tab-send Header -> open recovered 0"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_closed_on_a_gets_204_on_b_and_c() {
    let redis = redis_or_return!();
    let [a, b, c] = demos(&redis, "close", ["A", "B", "C"]);

    // A tab on A, closed on A: its reconnect to B (cursor) and to C (?id=)
    // gets 204.
    let mut tab = open_on(&a, "?id=tab-here", None).await;
    let (status, text) = a.post("/sessions/tab-here/close", "").await;
    assert_eq!((status, text.trim()), (200, "1 connection(s)"));
    let last = event(&mut tab.stream, "the last event").await;
    assert_eq!(
        (last.name.as_str(), last.data.as_str()),
        ("closed", "session closed by the server")
    );
    let rest = client::within("the end of the closed stream", tab.stream.expect_end()).await;
    assert!(rest.iter().all(|f| !matches!(f, Frame::Event(_))));
    assert_eq!(status_of(&b, "/events", &last.id).await, 204, "on B");
    b.wait_line("events tab-here Header -> 204").await;
    assert_eq!(b.lines("events tab-here Header -> 204"), 1);
    let on_c = open(c.addr, Proto::H1, "?id=tab-here", &[]).await;
    assert_eq!(on_c.status, 204, "on C, by ?id=");

    // A tab on B, closed on A: the close crosses to B and ends it there.
    let mut there = open_on(&b, "?id=tab-there", None).await;
    let (status, text) = a.post("/sessions/tab-there/close", "").await;
    assert_eq!((status, text.trim()), (200, "0 connection(s)"), "none on A");
    let last = event(&mut there.stream, "the last event, from A").await;
    assert_eq!(
        (last.name.as_str(), last.data.as_str()),
        ("closed", "session closed by the server")
    );
    client::within("the end of the stream on B", there.stream.expect_end()).await;
    for demo in [&a, &b, &c] {
        assert_eq!(
            status_of(demo, "/events", &last.id).await,
            204,
            "on {}",
            demo.name
        );
    }
    // Nobody else was closed.
    let other = open_on(&c, "?id=tab-other", None).await;
    assert_eq!(other.info["resume"], "new");
}

/// Starts a job on `on` and reads its whole stream on `from`: the events
/// (ten `progress`, then `done`), checked, and the job's ID and path.
async fn job_streamed(on: &DemoProcess, from: &DemoProcess) -> (u64, String, Ev) {
    let (status, body) = on.post("/jobs", "").await;
    assert_eq!(status, 200, "{body}");
    let job: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let n = job["id"].as_u64().expect("a job ID");
    let path = format!("/jobs/{n}/events");
    let headers: [(&str, &[u8]); 1] = [("accept", b"text/event-stream")];
    // The job publishes its first event 300 ms after it starts.
    let mut stream = get(from.addr, Proto::H1, &path, &headers).await;
    assert_eq!(stream.status, 200);
    let mut events = Vec::new();
    while let Some(ev) = next_event(&mut stream).await {
        events.push(ev);
        assert!(events.len() <= 20, "{events:?}");
    }
    let names: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.name.as_str(), e.data.as_str()))
        .collect();
    let done = format!("job-{n}: report ready");
    let mut want: Vec<String> = (1..=10).map(|i| format!("{}%", i * 10)).collect();
    want.push(done);
    let want: Vec<(&str, &str)> = want
        .iter()
        .enumerate()
        .map(|(i, d)| (if i < 10 { "progress" } else { "done" }, d.as_str()))
        .collect();
    // The stream opened before the first progress event, so it has them all.
    assert_eq!(names, want, "the job's events, then the end of the stream");
    (n, path, events.pop().expect("done"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_started_on_a_streams_to_b_and_ends_there_for_good() {
    let redis = redis_or_return!();
    let [a, b] = demos(&redis, "jobs", ["A", "B"]);
    let (n, path, done) = job_streamed(&a, &b).await;
    assert_eq!(status_of(&b, &path, &done.id).await, 204, "the end, on B");
    // (The demo logs a request before it answers; the log is read apart.)
    let logged = format!("job {n} {} -> 204", done.id.split('.').next().unwrap());
    b.wait_line(&logged).await;
    let on_b: Vec<String> = b
        .log()
        .into_iter()
        .filter(|l| l.starts_with(&format!("job {n} ")))
        .collect();
    assert!(
        on_b.len() == 2 && on_b[0].ends_with(" -> open") && on_b[1].ends_with(" -> 204"),
        "B's log: {on_b:?}"
    );
}

/// Session state on Redis: the end of a job seen by a process where the
/// job's stream never was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_job_s_reconnect_to_another_process_gets_204() {
    let redis = redis_or_return!();
    let [a, b, c] = demos(&redis, "jobs-moved", ["A", "B", "C"]);
    let (n, path, done) = job_streamed(&a, &b).await;
    assert_eq!(status_of(&c, &path, &done.id).await, 204, "the end, on C");
    c.wait_line(&format!("job {n} ")).await;
    assert_eq!(c.lines(&format!("job {n} ")), 1);
}

// ------------------------------------------------------------ Redis restarted

/// The next `message` within `wait`, skipping a `resync` gap signal (what
/// may have been lost while Redis was away is allowed to be signalled).
async fn message_within(s: &mut Stream, wait: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let ev = tokio::time::timeout_at(deadline, next_event(s))
            .await
            .ok()
            .flatten()?;
        match ev.name.as_str() {
            "message" => return Some(ev.data),
            "resync" => continue,
            other => panic!("unexpected event {other}: {}", ev.data),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_under_running_demos_local_delivery_goes_on_and_the_bus_comes_back() {
    let mut redis = redis_or_return!();
    let [a, b] = demos(&redis, "restart", ["A", "B"]);
    let mut tab = open_on(&a, "?id=tab-r", None).await;
    b.post("/broadcast", "before").await;
    let got = message_within(&mut tab.stream, Duration::from_secs(5)).await;
    assert_eq!(got.as_deref(), Some("before"));

    redis.stop();
    // Local delivery on A neither waits for Redis nor fails.
    for i in 0..3 {
        let started = Instant::now();
        let (status, text) = a.post("/sessions/tab-r/send", &format!("local {i}")).await;
        assert_eq!((status, text.trim()), (200, "1 connection(s), 0 queued"));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
    for i in 0..3 {
        let got = message_within(&mut tab.stream, Duration::from_secs(5)).await;
        assert_eq!(got, Some(format!("local {i}")));
    }
    // A new tab is let in while the closed-ID store cannot answer (fail-open,
    // within its command timeout of 500 ms).
    let started = Instant::now();
    let fresh = open_on(&a, "?id=tab-while-down", None).await;
    assert_eq!(fresh.info["resume"], "new");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    redis.restart().await;
    // The bus comes back by itself: B broadcasts numbered events until the
    // tab on A gets one (bounded), then every later one arrives, in order.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    let first = loop {
        assert!(
            Instant::now() < deadline,
            "cross-process delivery did not come back within 20 s: A {} B {}",
            a.stats().await["bus"],
            b.stats().await["bus"]
        );
        b.post("/broadcast", &format!("after {n}")).await;
        n += 1;
        if let Some(data) = message_within(&mut tab.stream, Duration::from_millis(250)).await {
            break data;
        }
    };
    let mut last: usize = first
        .strip_prefix("after ")
        .and_then(|k| k.parse().ok())
        .unwrap_or_else(|| panic!("{first}"));
    for i in 0..3 {
        b.post("/broadcast", &format!("again {i}")).await;
    }
    let mut again = Vec::new();
    while again.len() < 3 {
        let data = message_within(&mut tab.stream, Duration::from_secs(5))
            .await
            .expect("the broadcasts after Redis came back");
        match data.strip_prefix("after ").map(|k| k.parse::<usize>()) {
            // Late ones of the probe, still in order.
            Some(Ok(k)) if k > last => last = k,
            _ => again.push(data),
        }
    }
    assert_eq!(again, ["again 0", "again 1", "again 2"]);
    let bus = a.stats().await["bus"].clone();
    assert!(
        bus["reconnects"].as_u64() >= Some(1) && bus["subscribed"] == true,
        "{bus}"
    );
}

// ------------------------------------------------------------ replay across processes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_cut_on_a_reconnects_to_b_and_is_replayed_every_missed_event_once_in_order() {
    let redis = redis_or_return!();
    let [a, b, c] = demos(&redis, "cut", ["A", "B", "C"]);

    let mut tab = open_on(&a, "?id=tab-cut", None).await;
    send_settled(&a, "/sessions/tab-cut/send", "before").await;
    let before = event(&mut tab.stream, "the event before the cut").await;
    assert_eq!(before.data, "before");

    // Cut: the connection ends (A holds the tab's reconnects to A; the tab
    // comes back to B instead).
    let (status, text) = a.post("/sessions/tab-cut/cut?seconds=60", "").await;
    assert_eq!((status, text.trim()), (200, "1 connection(s) cut for 60 s"));
    client::within("the end of the cut stream", tab.stream.expect_end()).await;

    // Sends on A, B and C while the tab is away, each in Redis before the next.
    let missed = [
        (&a, "/sessions/tab-cut/send", "missed 1, a send on A"),
        (&c, "/sessions/tab-cut/send", "missed 2, a send on C"),
        (&b, "/broadcast", "missed 3, a broadcast on B"),
        (&c, "/broadcast", "missed 4, a broadcast on C"),
        (&a, "/sessions/tab-cut/send", "missed 5, a send on A"),
    ];
    for (demo, path, body) in missed {
        send_settled(demo, path, body).await;
    }

    let mut back = open_on(&b, "", Some(&before.id)).await;
    let replayed: Vec<(&str, &str)> = back
        .before
        .iter()
        .map(|e| (e.name.as_str(), e.data.as_str()))
        .collect();
    let want: Vec<(&str, &str)> = missed
        .iter()
        .map(|(_, _, body)| ("message", *body))
        .collect();
    assert_eq!(
        replayed, want,
        "B replays every event missed on A, B and C, once, in order, before `connect` \
         (info {})",
        back.info
    );
    assert_eq!(back.info["resume"], "recovered", "{}", back.info);
    assert_eq!(back.info["replayed"], 5);
    b.wait_line("events tab-cut Header -> open recovered 5")
        .await;
    assert_eq!(b.lines("events tab-cut Header -> open recovered 5"), 1);

    // Live again, on B: a send on C arrives once, after the replay.
    send_settled(&c, "/sessions/tab-cut/send", "after, a send on C").await;
    let after = event(&mut back.stream, "the send after the reconnect").await;
    assert_eq!(after.data, "after, a send on C");
    let more = quiet_for(&mut back.stream, Duration::from_millis(300)).await;
    assert_eq!(more, None, "nothing twice");
    let ids: Vec<&str> = std::iter::once(before.id.as_str())
        .chain(back.before.iter().map(|e| e.id.as_str()))
        .chain([after.id.as_str()])
        .collect();
    let seqs: Vec<u64> = ids.iter().map(|c| seq(c, "tab-cut")).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "cursors increase: {ids:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_of_a_killed_process_recovers_its_missed_events_on_another() {
    let redis = redis_or_return!();
    let [mut a, b, c] = demos(&redis, "kill", ["A", "B", "C"]);

    let mut tab = open_on(&a, "?id=tab-kill", None).await;
    let mut other = open_on(&b, "?id=tab-other", None).await;
    send_settled(&a, "/sessions/tab-kill/send", "before").await;
    let before = event(&mut tab.stream, "the event before the kill").await;

    a.kill(); // SIGKILL: no goodbye to the tab, to Redis or to B and C
    client::within("the end of the killed stream", tab.stream.expect_end()).await;

    let missed = [
        (&b, "/sessions/tab-kill/send", "missed 1, a send on B"),
        (&c, "/broadcast", "missed 2, a broadcast on C"),
        (&c, "/sessions/tab-kill/send", "missed 3, a send on C"),
    ];
    for (demo, path, body) in missed {
        send_settled(demo, path, body).await;
    }
    // B and C go on serving: the broadcast on C reached the tab on B.
    let live = event(&mut other.stream, "the broadcast on C, on B").await;
    assert_eq!(live.data, "missed 2, a broadcast on C");

    let back = open_on(&c, "", Some(&before.id)).await;
    let replayed: Vec<&str> = back.before.iter().map(|e| e.data.as_str()).collect();
    let want: Vec<&str> = missed.iter().map(|(_, _, body)| *body).collect();
    assert_eq!(
        replayed, want,
        "C replays what the tab of the killed A missed, once, in order (info {})",
        back.info
    );
    assert!(back.before.iter().all(|e| e.name == "message"));
    assert_eq!(back.info["resume"], "recovered", "{}", back.info);
    assert_eq!(back.info["replayed"], 3);
}

// ------------------------------------------------------------ Redis unreachable at start

/// Runs the demo with `args` until it exits (at most `limit`): its exit
/// code, its stdout and stderr, and how long it ran.
fn run_demo(args: &[&str], limit: Duration) -> (Option<i32>, String, String, Duration) {
    let bin = tool::example("demo");
    let started = Instant::now();
    let mut child = Command::new(&bin)
        .arg("127.0.0.1:0")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the demo with {args:?} still ran after {limit:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = started.elapsed();
    let (mut out, mut err) = (String::new(), String::new());
    let _ = child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out);
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err);
    (status.code(), out, err, took)
}

#[test]
fn redis_unreachable_at_start_ends_the_demo_with_status_1_and_a_message_fast() {
    // Refused: nobody listens on the port.
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let (code, out, err, took) = run_demo(&["--redis", &url], Duration::from_secs(10));
    assert_eq!(code, Some(1), "stderr: {err}");
    assert!(
        err.starts_with(&format!(
            "demo: cannot start on redis {url}: redis is unreachable"
        )),
        "{err}"
    );
    assert!(!out.contains("listening"), "it never listened: {out}");
    assert!(took < Duration::from_secs(3), "refused is fast: {took:?}");

    // Mute: a listener that takes the connection and never answers. The
    // connect timeout (2 s) ends the wait.
    let mute = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("redis://{}", mute.local_addr().unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let held = std::thread::spawn({
        let done = Arc::clone(&done);
        move || {
            // Holds what it accepted open (never a byte back) until the demo
            // exited; bounded in time.
            let mut conns = Vec::new();
            mute.set_nonblocking(true).unwrap();
            let deadline = Instant::now() + Duration::from_secs(15);
            while !done.load(Ordering::Relaxed) && Instant::now() < deadline {
                match mute.accept() {
                    Ok((conn, _)) => conns.push(conn),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            conns.len()
        }
    });
    let (code, out, err, took) = run_demo(&["--redis", &url], Duration::from_secs(10));
    assert_eq!(code, Some(1), "stderr: {err}");
    assert!(
        err.starts_with(&format!(
            "demo: cannot start on redis {url}: redis did not answer in time"
        )),
        "{err}"
    );
    assert!(!out.contains("listening"), "{out}");
    assert!(
        took >= Duration::from_millis(1_900) && took < Duration::from_secs(6),
        "within the connect timeout (2 s): {took:?}"
    );
    done.store(true, Ordering::Relaxed);
    assert!(
        held.join().unwrap() >= 1,
        "the demo did connect to the mute port"
    );

    // Not a Redis URL; a password in it is not shown.
    let (code, _, err, _) = run_demo(
        &["--redis", "http://user:secret@127.0.0.1:1"],
        Duration::from_secs(10),
    );
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with(
            "demo: cannot start on redis http://user:***@127.0.0.1:1: invalid redis url"
        ),
        "{err}"
    );
    assert!(!err.contains("secret"), "{err}");

    // Flags: a usage error is status 2.
    let (code, _, err, _) = run_demo(&["--namespace", "x"], Duration::from_secs(10));
    assert_eq!(
        (code, err.trim()),
        (Some(2), "demo: --namespace needs --redis")
    );
}
