//! The demo (`examples/demo.rs`) in a real browser: Debian's Chromium,
//! headless, driven over the DevTools protocol (chromiumoxide). Every check
//! reads the browser's own `EventSource` and the page's state (`window.demo`,
//! see `examples/demo/index.html`).
//!
//! Checks, in order, against one demo server on `127.0.0.1:0` (resume window
//! 7 s):
//!
//! 1. a new tab gets its tab ID in a `connect` event, shows it, and stores its
//!    cursor (`<session>.<seq>`) in `sessionStorage`;
//! 2. a dropped connection reconnects by itself into the same session, with
//!    the cursor sent back as `Last-Event-ID`;
//! 3. targeted sends arrive with exactly the data sent (multi-line, unicode,
//!    CR/CRLF line breaks, trailing line break), positions increasing;
//! 4. a reload within the window keeps the cursor (`?id=` from
//!    `sessionStorage`): events sent while the page was gone are replayed;
//! 5. two tabs both get a broadcast, from the test and from the page's own
//!    button;
//! 6. events sent while a tab's connection was cut (its reconnect held for
//!    5 s) arrive after the browser's automatic reconnect, in order, none
//!    twice, marked replayed (a screenshot is taken here);
//! 7. a job channel ends with its `done` event, `readyState == CLOSED`, one
//!    `204` and no further request;
//! 8. a cut longer than the window: the reconnect starts with the `resync`
//!    gap signal, and nothing of the freed session is replayed;
//! 9. closing the session ends with `readyState == CLOSED`, one `204`, and no
//!    further requests to `/events` for that session; the other tab stays
//!    open; the page's "New session" button then starts a fresh one.
//!
//! A second test drives one tab across two demo processes on one Redis
//! (`--redis`, a `redis-server` of the test's own), through a TCP proxy of
//! the test's own in front of demo A: the proxied connections are cut, the
//! proxy is pointed at demo B, and the tab's own reconnect must be replayed
//! what was sent on A and B meanwhile, in order, once; a close made on B
//! then gets `204` (from A) and the tab stops for good. The two tests take
//! turns with the browser.
//!
//! Chromium is `/usr/bin/chromium` (Debian's package `chromium`), or the
//! path in `SSE_SESSION_CHROMIUM`. Without it the test does not run: it says so loudly on
//! stderr, and fails when `CI=true`.
//!
//! The screenshot goes to `$CARGO_TARGET_TMPDIR/demo.png`; with
//! `SSE_SESSION_SCREENSHOT=docs/demo.png` it is written there instead (that is
//! how the README's `docs/demo.png` was made).

use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chromiumoxide::cdp::browser_protocol::page::CaptureScreenshotFormat;
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::handler::viewport::Viewport;
use chromiumoxide::page::ScreenshotParams;
use chromiumoxide::{Browser, BrowserConfig, Page};
use futures_util::{FutureExt, StreamExt};
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::{sleep, timeout};

#[path = "common/redis_server.rs"]
mod redis_server;

use redis_server::RedisServer;

const CHROMIUM: &str = "/usr/bin/chromium";
/// Upper bound for any single wait (a page state, an HTTP exchange).
const WAIT: Duration = Duration::from_secs(10);
/// Upper bound for the whole browser session.
const WHOLE: Duration = Duration::from_secs(180);
/// The demo's resume window here: the cut of step 6 (5 s) must fit in it, the
/// long cut of step 8 (window + 3 s) not.
const RESUME_WINDOW_SECS: &str = "7";
/// The page's `sessionStorage` key.
const KEY: &str = "sse-session-demo-id";

/// The Chromium to drive, or `None` (after a loud warning) where it is
/// missing outside CI.
fn chromium() -> Option<String> {
    let chromium = std::env::var("SSE_SESSION_CHROMIUM").unwrap_or_else(|_| CHROMIUM.into());
    if Path::new(&chromium).exists() {
        return Some(chromium);
    }
    let msg = format!(
        "{chromium} not found: the real-browser test of the demo did NOT run \
         (install it with `apt-get install chromium`)"
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}; CI=true, so this is a failure");
    }
    // Straight to the process's stderr: the test harness captures
    // `eprintln!` of passing tests.
    let banner = "!".repeat(78);
    let _ = writeln!(
        std::io::stderr(),
        "\n{banner}\n!!! WARNING: {msg}\n{banner}\n"
    );
    None
}

/// One Chromium at a time: the tests of this file run in parallel
/// otherwise, and two browsers on two cores make every wait flaky.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Launches Chromium with a profile in `profile`; the browser and the task
/// that drives its DevTools connection.
async fn launch(chromium: &str, profile: &TempDir) -> (Browser, tokio::task::JoinHandle<()>) {
    let config = BrowserConfig::builder()
        .chrome_executable(chromium)
        .no_sandbox() // we run as root
        .user_data_dir(&profile.0)
        .window_size(1200, 720)
        .viewport(Viewport {
            width: 1200,
            height: 720,
            ..Viewport::default()
        })
        .request_timeout(WAIT)
        .launch_timeout(Duration::from_secs(30))
        .args([
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // A page that leaves must close its EventSource (a page frozen in the
            // back-forward cache would keep the stream open).
            "--disable-features=BackForwardCache",
        ])
        .build()
        .expect("browser config");
    let (browser, mut handler) = Browser::launch(config)
        .await
        .unwrap_or_else(|e| panic!("launching {chromium}: {e}"));
    let events = tokio::spawn(async move { while handler.next().await.is_some() {} });
    (browser, events)
}

/// Closes the browser (kills it if it does not close within 5 s).
async fn shut(mut browser: Browser, events: tokio::task::JoinHandle<()>) {
    let _ = timeout(Duration::from_secs(5), browser.close()).await;
    if timeout(Duration::from_secs(5), browser.wait())
        .await
        .is_err()
    {
        let _ = browser.kill().await;
    }
    events.abort();
}

/// The outcome of a browser session: the panic re-raised with the demos'
/// output, or a timeout after [`WHOLE`].
fn report<T>(
    run: Result<std::thread::Result<T>, tokio::time::error::Elapsed>,
    demos: &[(&str, Vec<String>)],
) {
    let logs = || {
        demos
            .iter()
            .map(|(name, log)| format!("demo {name} output:\n{}", log.join("\n")))
            .collect::<Vec<_>>()
            .join("\n")
    };
    match run {
        Ok(Ok(_)) => {}
        Ok(Err(panic)) => {
            eprintln!("{}", logs());
            std::panic::resume_unwind(panic);
        }
        Err(_) => panic!("the browser test took more than {WHOLE:?}\n{}", logs()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_in_chromium() {
    let Some(chromium) = chromium() else { return };
    let _one = ONE_BROWSER.lock().await;
    let demo = Demo::start(&["--resume-window", RESUME_WINDOW_SECS]);
    let profile = TempDir::new("sse-session-chromium");
    let (browser, events) = launch(&chromium, &profile).await;

    let run = timeout(
        WHOLE,
        AssertUnwindSafe(checks(&browser, &demo)).catch_unwind(),
    )
    .await;

    // Clean up before reporting, on success and on failure alike (the drop
    // guards also kill the demo and Chromium if we never get here).
    shut(browser, events).await;
    let log = demo.log();
    drop(demo);
    drop(profile);
    report(run, &[("in-memory", log)]);
}

async fn checks(browser: &Browser, demo: &Demo) {
    let url = demo.url.as_str();

    // 1. A fresh tab gets an ID, shows it and stores its place in the stream.
    let a = open(browser, url).await;
    wait_for(
        &a,
        "demo.state === 'open' && demo.tabId !== null",
        "tab A opens",
    )
    .await;
    let id: String = js(&a, "demo.tabId").await;
    assert_eq!(id.len(), 36, "a fresh ID is a hyphenated UUID: {id}");
    let shown: String = js(&a, "document.getElementById('tab-id').textContent").await;
    assert_eq!(shown, id, "the page shows the tab ID");
    let first: Ev = js(&a, "demo.events[0]").await;
    assert_eq!(first.name, "connect");
    let info: serde_json::Value = serde_json::from_str(&first.data).expect("connect is JSON");
    assert_eq!(info["id"], id.as_str());
    assert_eq!(info["resume"], "new");
    let cursor = seq_of(&first.last_event_id, &id);
    let stored: String = js(&a, &format!("sessionStorage.getItem('{KEY}')")).await;
    assert_eq!(
        stored, first.last_event_id,
        "the cursor is in sessionStorage"
    );
    assert_eq!(js::<u32>(&a, "demo.es.readyState").await, 1, "OPEN");
    assert_eq!(demo.lines(&format!("events {id} Fresh -> open new")), 1);

    // 2. A dropped connection comes back by itself, into the same session,
    //    presenting its cursor as Last-Event-ID.
    let (status, _) = post(demo, &format!("/sessions/{id}/drop"), "").await;
    assert_eq!(status, 200, "drop {id}");
    wait_for(
        &a,
        "demo.connects === 2 && demo.state === 'open'",
        "tab A reconnects",
    )
    .await;
    let again: Ev = js(&a, "demo.events.filter(e => e.name === 'connect')[1]").await;
    assert_eq!(
        again.last_event_id,
        format!("{id}.{cursor}"),
        "same session, same place"
    );
    assert_eq!(js::<String>(&a, "demo.tabId").await, id);
    assert_eq!(
        demo.lines(&format!("events {id} Header -> open recovered 0")),
        1
    );

    // 3. Targeted sends arrive exactly (line breaks become `\n`, per spec), each
    //    with `id: <session>.<seq>`, the seq increasing.
    let sent = [
        ("héllo\nwörld ✓\n  indented", "héllo\nwörld ✓\n  indented"),
        ("crlf\r\nand lone\rcr", "crlf\nand lone\ncr"),
        ("trailing line break\n", "trailing line break\n"),
    ];
    for (body, _) in sent {
        let (status, _) = post(demo, &format!("/sessions/{id}/send"), body).await;
        assert_eq!(status, 200, "send to {id}");
    }
    wait_for(&a, "messages().length >= 3", "tab A gets 3 messages").await;
    let got: Vec<String> = js(&a, "messages()").await;
    let want: Vec<&str> = sent.iter().map(|(_, want)| *want).collect();
    assert_eq!(got, want, "targeted sends arrive with exactly their data");
    let ids: Vec<String> = js(
        &a,
        "demo.events.filter(e => e.name === 'message').map(e => e.lastEventId)",
    )
    .await;
    let seqs: Vec<u64> = ids.iter().map(|l| seq_of(l, &id)).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]) && seqs[0] > cursor,
        "positions increase: {ids:?}"
    );
    let (status, _) = post(demo, "/sessions/no-such-tab/send", "x").await;
    assert_eq!(status, 404, "a send to a session the hub does not have");

    // 4. A reload within the window keeps the cursor: the tab's connection is
    //    cut (its reconnects held for 3 s), the page reloads (its new
    //    EventSource asks with `?id=<session>.<seq>` from sessionStorage, and
    //    waits), two events are sent meanwhile, and the reloaded page gets both.
    let (status, _) = post(demo, &format!("/sessions/{id}/cut?seconds=3"), "").await;
    assert_eq!(status, 200);
    wait_stats(demo, "connections", 0).await;
    a.reload().await.expect("reload tab A");
    for body in ["while away 1", "while away 2"] {
        let (status, text) = post(demo, &format!("/sessions/{id}/send"), body).await;
        assert_eq!((status, text.trim()), (200, "0 connection(s), 1 queued"));
    }
    wait_for(
        &a,
        "demo.state === 'open' && demo.tabId !== null",
        "tab A reloads",
    )
    .await;
    assert_eq!(
        js::<String>(&a, "demo.tabId").await,
        id,
        "same ID after reload"
    );
    assert_eq!(js::<u32>(&a, "demo.connects").await, 1, "a new page");
    let back: Vec<Ev> = js(&a, "demo.events").await;
    let names: Vec<(&str, &str, bool)> = back
        .iter()
        .map(|e| (e.name.as_str(), e.data.as_str(), e.replayed))
        .collect();
    assert_eq!(
        names[..2],
        [
            ("message", "while away 1", true),
            ("message", "while away 2", true)
        ],
        "replayed first, in order"
    );
    assert_eq!(back[2].name, "connect");
    assert_eq!(
        demo.lines(&format!("events {id} Query -> open recovered 2")),
        1
    );

    // 5. Two tabs, one broadcast each way.
    let b = open(browser, url).await;
    wait_for(
        &b,
        "demo.state === 'open' && demo.tabId !== null",
        "tab B opens",
    )
    .await;
    let id_b: String = js(&b, "demo.tabId").await;
    assert_ne!(id_b, id, "tab B has a session of its own");
    wait_stats(demo, "connections", 2).await;
    let (status, text) = post(demo, "/broadcast", "to every tab ✓").await;
    assert_eq!((status, text.trim()), (200, "2 connection(s), 0 queued"));
    for (tab, name) in [(&a, "A"), (&b, "B")] {
        let cond = "messages().includes('to every tab ✓')";
        wait_for(tab, cond, &format!("tab {name} gets the broadcast")).await;
    }
    let (_, list) = get(demo, "/sessions").await;
    let mut live: Vec<String> = serde_json::from_str(&list).expect("GET /sessions is JSON");
    live.sort();
    let mut both = vec![id.clone(), id_b.clone()];
    both.sort();
    assert_eq!(live, both, "GET /sessions lists both tabs");
    // The page's own button, from each tab.
    // (The page prefixes the first 8 characters of its tab ID.)
    click(&b, Some("hi from tab B"), "broadcast").await;
    click(&a, Some("hello B, this is tab A"), "broadcast").await;
    let from_b = format!("{}: hi from tab B", &id_b[..8]);
    let from_a = format!("{}: hello B, this is tab A", &id[..8]);
    for (tab, name) in [(&a, "A"), (&b, "B")] {
        let cond = format!("messages().includes('{from_b}') && messages().includes('{from_a}')");
        wait_for(
            tab,
            &cond,
            &format!("tab {name} gets both button broadcasts"),
        )
        .await;
    }

    // 6. Tab A's connection is cut (its reconnects are held for a few seconds,
    //    inside the window) while tab B keeps sending: after the browser's own
    //    reconnect (Last-Event-ID), tab A has every event, in order, none twice,
    //    the missed ones marked replayed.
    let before: u32 = js(&a, "messages().length").await;
    click(&a, None, "cut").await;
    wait_for(&a, "demo.state === 'connecting'", "tab A is cut").await;
    let missed: Vec<String> = (1..=3).map(|i| format!("missed {i}")).collect();
    for text in &missed {
        click(&b, Some(text), "broadcast").await;
        let from_b = format!("{}: {text}", &id_b[..8]);
        wait_for(
            &b,
            &format!("messages().includes('{from_b}')"),
            "tab B sends",
        )
        .await;
    }
    let (status, text) = post(demo, &format!("/sessions/{id}/send"), "direct while cut").await;
    assert_eq!((status, text.trim()), (200, "0 connection(s), 1 queued"));
    wait_for_long(
        &a,
        "demo.connects === 2 && demo.state === 'open'",
        "tab A reconnects after the cut",
        Duration::from_secs(15),
    )
    .await;
    let after: Vec<Ev> = js(&a, "demo.events.filter(e => e.name === 'message')").await;
    let tail: Vec<(String, bool)> = after[before as usize..]
        .iter()
        .map(|e| (e.data.clone(), e.replayed))
        .collect();
    let mut want: Vec<(String, bool)> = missed
        .iter()
        .map(|t| (format!("{}: {t}", &id_b[..8]), true))
        .collect();
    want.push(("direct while cut".into(), true));
    assert_eq!(tail, want, "every missed event once, in order, replayed");
    let all_ids: Vec<String> = after.iter().map(|e| e.last_event_id.clone()).collect();
    let seqs: Vec<u64> = all_ids.iter().map(|l| seq_of(l, &id)).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "no repeat: {all_ids:?}"
    );
    assert_eq!(
        demo.lines(&format!("events {id} Header -> open recovered 4")),
        1
    );
    screenshot(&a).await;

    // 7. A job channel: progress, then `done`; then the stream ends, its
    //    reconnect gets 204, the EventSource is CLOSED and asks nothing more.
    click(&b, None, "job").await;
    wait_for_long(
        &b,
        "demo.jobs.length === 1 && demo.jobs[0].state === 'closed'",
        "the job channel ends CLOSED",
        Duration::from_secs(15),
    )
    .await;
    let job: Vec<Ev> = js(&b, "demo.jobs[0].events").await;
    let last = job.last().expect("job events");
    assert_eq!(
        (last.name.as_str(), last.data.as_str()),
        ("done", "job-1: report ready")
    );
    assert!(
        job[..job.len() - 1].iter().all(|e| e.name == "progress"),
        "progress, then done: {job:?}"
    );
    let job_session = last
        .last_event_id
        .split('.')
        .next()
        .expect("a session")
        .to_owned();
    assert_eq!(demo.lines(&format!("job 1 {job_session} -> 204")), 1);
    let requests = demo.lines("job 1 ");
    sleep(Duration::from_secs(3)).await; // three retry delays
    assert_eq!(demo.lines("job 1 "), requests, "no request after the 204");
    assert_eq!(
        js::<u32>(&b, "demo.jobs[0].es.readyState").await,
        2,
        "CLOSED"
    );
    assert_eq!(
        js::<u32>(&b, "demo.es.readyState").await,
        1,
        "tab B's own stream is open"
    );

    // 8. Past the window: tab A is cut longer than the resume window; its
    //    reconnect starts with the gap signal, and what was sent meanwhile is not
    //    replayed (its session was freed).
    click(&a, None, "cut-long").await;
    wait_for(&a, "demo.state === 'connecting'", "tab A is cut again").await;
    let (status, _) = post(demo, &format!("/sessions/{id}/send"), "lost").await;
    assert_eq!(status, 200, "queued: the session still waits");
    wait_for_long(
        &a,
        "demo.connects === 3 && demo.state === 'open'",
        "tab A reconnects after the window",
        Duration::from_secs(30),
    )
    .await;
    let resync: Ev = js(&a, "demo.events.filter(e => e.name === 'resync')[0]").await;
    let gap: serde_json::Value = serde_json::from_str(&resync.data).expect("resync is JSON");
    assert_eq!(gap["reason"], "expired");
    assert!(gap["lost"].is_null(), "the count is unknown");
    assert_eq!(js::<String>(&a, "demo.resume.resume").await, "gap");
    assert!(
        !js::<bool>(&a, "messages().includes('lost')").await,
        "a freed session's events are not replayed"
    );
    assert_eq!(
        demo.lines(&format!("events {id} Header -> open gap expired")),
        1
    );

    // 9. Closing the session: a last `closed` event, one 204, then silence.
    let (status, text) = post(demo, &format!("/sessions/{id}/close"), "").await;
    assert_eq!((status, text.trim()), (200, "1 connection(s)"));
    wait_for(
        &a,
        "demo.es.readyState === 2 && demo.state === 'closed'",
        "tab A ends CLOSED",
    )
    .await;
    assert!(
        js::<bool>(&a, "demo.events.some(e => e.name === 'closed')").await,
        "the last event before the close arrived"
    );
    let requests = demo.lines(&format!("events {id} "));
    assert_eq!(demo.lines(&format!("events {id} Header -> 204")), 1);
    // The retry delay is 1 s: three of them without a request is silence.
    sleep(Duration::from_secs(3)).await;
    assert_eq!(
        demo.lines(&format!("events {id} ")),
        requests,
        "no request to /events after the 204"
    );
    assert_eq!(js::<u32>(&a, "demo.es.readyState").await, 2, "still CLOSED");
    assert_eq!(
        js::<u32>(&b, "demo.es.readyState").await,
        1,
        "tab B unaffected"
    );
    let (status, _) = post(demo, &format!("/sessions/{id_b}/send"), "still here").await;
    assert_eq!(status, 200);
    wait_for(
        &b,
        "messages().includes('still here')",
        "tab B still receives",
    )
    .await;

    // The page's "New session" button: forget the closed ID, start afresh.
    click(&a, None, "fresh").await;
    wait_for(
        &a,
        "demo.state === 'open' && demo.tabId !== null",
        "tab A opens a new session",
    )
    .await;
    let fresh: String = js(&a, "demo.tabId").await;
    assert!(fresh != id && fresh != id_b, "a fresh session: {fresh}");
    assert_eq!(demo.lines(&format!("events {fresh} Fresh -> open new")), 1);
}

// ------------------------------------------------------------ two processes

/// The demo's resume window in the two-process test (long enough for the
/// cut, which lasts as long as the test sends).
const TWO_WINDOW_SECS: &str = "30";

/// One tab across two demo processes on one Redis: the tab's page and
/// stream go through a TCP proxy of the test's own, in front of demo A; the
/// test cuts every proxied connection, holds new ones while it sends on A
/// and on B, then points the proxy at demo B: the tab reconnects by itself
/// (EventSource, `Last-Event-ID`) and gets every event sent meanwhile, in
/// order, once, marked replayed. Then a close made on B ends it: its
/// reconnect, which the proxy takes to A, gets `204`, and it asks nothing
/// more of either process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tab_across_two_demo_processes_on_redis() {
    let Some(chromium) = chromium() else { return };
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    let url = redis.url();
    let args = [
        "--resume-window",
        TWO_WINDOW_SECS,
        "--redis",
        url.as_str(),
        "--namespace",
        "browser",
    ];
    let (a, b) = (Demo::start(&args), Demo::start(&args));
    let proxy = Proxy::start(a.socket_addr()).await;
    let profile = TempDir::new("sse-session-chromium-two");
    let (browser, events) = launch(&chromium, &profile).await;

    let run = timeout(
        WHOLE,
        AssertUnwindSafe(across(&browser, &proxy, &a, &b)).catch_unwind(),
    )
    .await;

    shut(browser, events).await;
    proxy.stop();
    let logs = [("A", a.log()), ("B", b.log())];
    drop((a, b, profile, redis));
    report(run, &logs);
}

async fn across(browser: &Browser, proxy: &Proxy, a: &Demo, b: &Demo) {
    let tab = open(browser, &proxy.url()).await;
    wait_for(
        &tab,
        "demo.state === 'open' && demo.tabId !== null",
        "the tab opens (on A)",
    )
    .await;
    let id: String = js(&tab, "demo.tabId").await;
    a.wait_line(&format!("events {id} Fresh -> open new")).await;
    assert_eq!(a.lines(&format!("events {id} Fresh -> open new")), 1);
    assert_eq!(b.lines("events "), 0, "the proxy took the tab to A");

    // Live across processes: a send on B reaches the tab on A.
    let (status, text) = settled_post(b, &format!("/sessions/{id}/send"), "from B, live").await;
    assert_eq!((status, text.trim()), (202, "0 connection(s), 0 queued"));
    wait_for(
        &tab,
        "messages().includes('from B, live')",
        "the send on B reaches the tab on A",
    )
    .await;
    let before: u32 = js(&tab, "messages().length").await;

    // The network between the tab and A goes down: every proxied connection
    // is cut and new ones are held.
    proxy.point(None);
    assert!(proxy.cut() >= 1, "the tab's stream went through the proxy");
    wait_for(&tab, "demo.state === 'connecting'", "the tab is cut").await;
    wait_stats(a, "connections", 0).await;

    let missed = [
        (a, format!("/sessions/{id}/send"), "missed 1, a send on A"),
        (b, "/broadcast".to_owned(), "missed 2, a broadcast on B"),
        (b, format!("/sessions/{id}/send"), "missed 3, a send on B"),
    ];
    for (demo, path, body) in &missed {
        let (status, text) = settled_post(demo, path, body).await;
        assert!(matches!(status, 200 | 202), "POST {path}: {status} {text}");
    }

    // The network comes back, to B.
    proxy.point(Some(b.socket_addr()));
    wait_for_long(
        &tab,
        "demo.connects === 2 && demo.state === 'open'",
        "the tab reconnects, to B",
        Duration::from_secs(15),
    )
    .await;
    b.wait_line(&format!("events {id} Header -> ")).await;
    assert_eq!(
        b.lines(&format!("events {id} Header -> ")),
        1,
        "the reconnect went to B"
    );
    let after: Vec<Ev> = js(&tab, "demo.events.filter(e => e.name !== 'connect')").await;
    let got: Vec<(&str, &str, bool)> = after
        .iter()
        .skip(before as usize)
        .map(|e| (e.name.as_str(), e.data.as_str(), e.replayed))
        .collect();
    let want: Vec<(&str, &str, bool)> = missed
        .iter()
        .map(|(_, _, body)| ("message", *body, true))
        .collect();
    assert_eq!(
        got,
        want,
        "B replays what the tab missed on A and B, in order, once (resume: {})",
        js::<String>(&tab, "JSON.stringify(demo.resume)").await
    );
    assert_eq!(
        b.lines(&format!("events {id} Header -> open recovered 3")),
        1
    );
    let ids: Vec<String> = after.iter().map(|e| e.last_event_id.clone()).collect();
    let seqs: Vec<u64> = ids.iter().map(|l| seq_of(l, &id)).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "no repeat: {ids:?}");

    // A close made on B ends the tab's stream after a last `closed` event;
    // once the tab has it, the proxy sends new connections to A and cuts the
    // ones it holds (Chromium would reuse an idle keep-alive connection to B
    // otherwise). The tab reconnects after its retry delay (1 s), to A,
    // which answers 204 (the closed ID is on Redis), and stops for good.
    let (status, text) = post(b, &format!("/sessions/{id}/close"), "").await;
    assert_eq!((status, text.trim()), (200, "1 connection(s)"));
    wait_for(
        &tab,
        "demo.events.some(e => e.name === 'closed')",
        "the last event before the close arrives",
    )
    .await;
    proxy.point(Some(a.socket_addr()));
    proxy.cut();
    wait_for(
        &tab,
        "demo.es.readyState === 2 && demo.state === 'closed'",
        "the tab ends CLOSED",
    )
    .await;
    assert_eq!(
        b.lines(&format!("events {id} Header -> 204")),
        0,
        "not on B"
    );
    a.wait_line(&format!("events {id} Header -> 204")).await;
    assert_eq!(a.lines(&format!("events {id} Header -> 204")), 1, "on A");
    let requests = (
        a.lines(&format!("events {id} ")),
        b.lines(&format!("events {id} ")),
    );
    sleep(Duration::from_secs(3)).await; // three retry delays
    assert_eq!(
        (
            a.lines(&format!("events {id} ")),
            b.lines(&format!("events {id} "))
        ),
        requests,
        "no request to /events after the 204, on either process"
    );
    assert_eq!(
        js::<u32>(&tab, "demo.es.readyState").await,
        2,
        "still CLOSED"
    );
}

/// [`post`], then waits until the demo's bus wrote the message to Redis, so
/// that sends made one after the other on two processes reach Redis (and
/// every process) in that order.
async fn settled_post(demo: &Demo, path: &str, body: &str) -> (u16, String) {
    let published = || async {
        let (_, stats) = get(demo, "/stats").await;
        let stats: serde_json::Value = serde_json::from_str(&stats).expect("GET /stats is JSON");
        stats["bus"]["published"].as_u64().expect("bus.published")
    };
    let before = published().await;
    let answer = post(demo, path, body).await;
    let deadline = Instant::now() + WAIT;
    while published().await <= before {
        assert!(Instant::now() < deadline, "`POST {path}` was not published");
        sleep(Duration::from_millis(10)).await;
    }
    answer
}

/// A loopback TCP proxy: each accepted connection is joined to the current
/// target (held while there is none, at most [`WHOLE`]) and copied both
/// ways; [`cut`](Self::cut) ends every joined connection at once.
struct Proxy {
    addr: SocketAddr,
    target: watch::Sender<Option<SocketAddr>>,
    joined: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("proxy address");
        let (target, rx) = watch::channel(Some(target));
        let joined = Arc::new(Mutex::new(Vec::<tokio::task::AbortHandle>::new()));
        let list = Arc::clone(&joined);
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut rx = rx.clone();
                let task = tokio::spawn(async move {
                    // (The watch's guard is gone at the end of this statement.)
                    let to = match timeout(WHOLE, rx.wait_for(Option::is_some)).await {
                        Ok(Ok(to)) => *to,
                        _ => None,
                    };
                    let Some(to) = to else { return };
                    let Ok(mut server) = TcpStream::connect(to).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
                let mut list = list.lock().unwrap();
                list.retain(|t| !t.is_finished());
                list.push(task.abort_handle());
            }
        });
        Proxy {
            addr,
            target,
            joined,
            accept,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Where new connections go from now on (`None`: held until there is a
    /// target again).
    fn point(&self, to: Option<SocketAddr>) {
        self.target.send_replace(to);
    }

    /// Ends every connection the proxy holds (both sides close); how many
    /// were open.
    fn cut(&self) -> usize {
        let mut list = self.joined.lock().unwrap();
        let open = list.iter().filter(|t| !t.is_finished()).count();
        for task in list.drain(..) {
            task.abort();
        }
        open
    }

    fn stop(&self) {
        self.accept.abort();
        self.cut();
    }
}

/// The seq of a last event ID `<session>.<seq>`, checking the session.
fn seq_of(last_event_id: &str, session: &str) -> u64 {
    let (s, seq) = last_event_id
        .split_once('.')
        .unwrap_or_else(|| panic!("`{last_event_id}` is not <session>.<seq>"));
    assert_eq!(s, session, "the cursor names the tab");
    seq.parse()
        .unwrap_or_else(|_| panic!("`{last_event_id}`: the seq is a number"))
}

/// Waits until `GET /stats` shows `value` for `key`.
async fn wait_stats(demo: &Demo, key: &str, value: u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, stats) = get(demo, "/stats").await;
        let stats: serde_json::Value = serde_json::from_str(&stats).expect("GET /stats is JSON");
        if stats[key] == value {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the server's {key} is {}, want {value}",
            stats[key]
        );
        sleep(Duration::from_millis(50)).await;
    }
}

/// One received event, as the page records it.
#[derive(serde::Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
struct Ev {
    name: String,
    data: String,
    last_event_id: String,
    #[serde(default)]
    replayed: bool,
}

async fn open(browser: &Browser, url: &str) -> Page {
    let page = timeout(WAIT, browser.new_page(url))
        .await
        .expect("opening a tab timed out")
        .expect("opening a tab");
    wait_for(&page, "true", "the page script runs").await;
    page
}

/// `expr` as a `Runtime.evaluate` that returns its value (as JSON) and
/// awaits a promise.
fn eval(expr: &str) -> EvaluateParams {
    EvaluateParams::builder()
        .expression(expr)
        .return_by_value(true)
        .await_promise(true)
        .build()
        .expect("an expression is set")
}

/// Evaluates `expr` in the page and deserializes its (JSON) value.
async fn js<T: DeserializeOwned>(page: &Page, expr: &str) -> T {
    let result = timeout(WAIT, page.evaluate(eval(expr)))
        .await
        .unwrap_or_else(|_| panic!("evaluating `{expr}` timed out"))
        .unwrap_or_else(|e| panic!("evaluating `{expr}`: {e}"));
    result
        .into_value()
        .unwrap_or_else(|e| panic!("the value of `{expr}`: {e}"))
}

/// Polls `cond` (a JS expression) until it is true; fails after [`WAIT`]
/// with the page's state. `cond` may use `messages()`: the data of every
/// `message` event the page got so far.
async fn wait_for(page: &Page, cond: &str, what: &str) {
    wait_for_long(page, cond, what, WAIT).await;
}

/// [`wait_for`] with a longer bound (for waits that include a held reconnect).
async fn wait_for_long(page: &Page, cond: &str, what: &str, wait: Duration) {
    let expr = format!(
        "(() => {{ if (typeof window.demo !== 'object') return false; \
         window.messages = () => demo.events.filter(e => e.name === 'message').map(e => e.data); \
         return !!({cond}); }})()"
    );
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        // A reload can destroy the context mid-call: treat an error as "not yet".
        if let Ok(Ok(v)) = timeout(WAIT, page.evaluate(eval(&expr))).await {
            if v.into_value::<bool>().unwrap_or(false) {
                return;
            }
        }
        sleep(Duration::from_millis(50)).await;
    }
    let state: String = js(
        page,
        "JSON.stringify({state: demo.state, tabId: demo.tabId, connects: demo.connects, \
         readyState: demo.es && demo.es.readyState, events: demo.events})",
    )
    .await;
    panic!("timed out after {wait:?} waiting for: {what} ({cond})\npage state: {state}");
}

/// Clicks the page's button `button`, after typing `text` in the text field.
async fn click(page: &Page, text: Option<&str>, button: &str) {
    let set = text.map_or(String::new(), |t| {
        let t = serde_json::to_string(t).expect("a JSON string");
        format!("document.getElementById('text').value = {t}; ")
    });
    let expr = format!("{set}document.getElementById('{button}').click(); true");
    assert!(js::<bool>(page, &expr).await);
}

async fn screenshot(page: &Page) {
    let _ = page.bring_to_front().await;
    let png = timeout(
        WAIT,
        page.screenshot(
            ScreenshotParams::builder()
                .format(CaptureScreenshotFormat::Png)
                .build(),
        ),
    )
    .await
    .expect("screenshot timed out")
    .expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = match std::env::var_os("SSE_SESSION_SCREENSHOT") {
        Some(path) => Path::new(env!("CARGO_MANIFEST_DIR")).join(path),
        None => Path::new(env!("CARGO_TARGET_TMPDIR")).join("demo.png"),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("screenshot directory");
    }
    std::fs::write(&path, png).expect("writing the screenshot");
    eprintln!("screenshot of the demo: {}", path.display());
}

/// The demo server as a child process; killed on drop. Its stdout lines
/// (one per `/events` request) are collected for the checks.
struct Demo {
    child: Child,
    url: String,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Demo {
    /// Starts the demo on `127.0.0.1:0` with `args`.
    fn start(args: &[&str]) -> Demo {
        // target/debug/deps/browser-HASH -> target/debug/examples/demo
        let exe = std::env::current_exe().expect("test binary path");
        let bin = exe
            .parent()
            .and_then(Path::parent)
            .map(|dir| dir.join("examples").join("demo"))
            .expect("target directory");
        assert!(
            bin.exists(),
            "{} is missing: cargo builds examples before integration tests; \
             was the `axum` feature off?",
            bin.display()
        );
        // `cargo test` builds examples, `cargo test --test browser` does not.
        let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
        for source in ["examples/demo.rs", "examples/demo/index.html"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(source);
            let changed = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
            assert!(
                changed <= built,
                "{} is older than {source}: run `cargo build --example demo` \
                 (or plain `cargo test`, which builds examples) first",
                bin.display()
            );
        }
        let mut child = Command::new(&bin)
            .arg("127.0.0.1:0")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (first_tx, first_rx) = std::sync::mpsc::channel();
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = reader.next() {
                let _ = first_tx.send(first);
            }
            for line in reader.map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let mut demo = Demo {
            child,
            url: String::new(),
            addr: String::new(),
            log,
        };
        let first = first_rx
            .recv_timeout(WAIT)
            .expect("the demo prints `listening on http://ADDR/` first");
        let url = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from the demo: {first}"));
        demo.addr = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        demo.url = url.to_owned();
        demo
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn socket_addr(&self) -> SocketAddr {
        self.addr.parse().expect("the demo's address")
    }

    /// How many output lines start with `prefix`.
    fn lines(&self, prefix: &str) -> usize {
        self.log().iter().filter(|l| l.starts_with(prefix)).count()
    }

    /// Waits (at most [`WAIT`]) for a line that starts with `prefix` (the
    /// demo logs a request before it answers, and its log is read on a
    /// thread of its own).
    async fn wait_line(&self, prefix: &str) {
        let deadline = Instant::now() + WAIT;
        while self.lines(prefix) == 0 {
            assert!(
                Instant::now() < deadline,
                "no demo output line `{prefix}..` within {WAIT:?}"
            );
            sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `POST` with a `text/plain` body over a fresh HTTP/1.1 connection:
/// the status and the body.
async fn post(demo: &Demo, path: &str, body: &str) -> (u16, String) {
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        demo.addr,
        body.len()
    );
    exchange(demo, request).await
}

async fn get(demo: &Demo, path: &str) -> (u16, String) {
    let request = format!(
        "GET {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
        demo.addr
    );
    exchange(demo, request).await
}

async fn exchange(demo: &Demo, request: String) -> (u16, String) {
    let line = request.lines().next().unwrap_or_default().to_owned();
    bounded(&line, async {
        let mut stream = TcpStream::connect(&demo.addr).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        let response = String::from_utf8_lossy(&response).into_owned();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        // Responses here are small and not chunked (content-length).
        std::io::Result::Ok((status, body.to_owned()))
    })
    .await
}

async fn bounded<T>(what: &str, f: impl Future<Output = std::io::Result<T>>) -> T {
    timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("`{what}` timed out"))
        .unwrap_or_else(|e| panic!("`{what}`: {e}"))
}
