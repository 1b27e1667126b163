//! The demo (`examples/demo.rs`) in a real browser: Debian's Chromium,
//! headless, driven over the DevTools protocol (chromiumoxide). Every check
//! reads the browser's own `EventSource` and the page's state (`window.demo`,
//! see `examples/demo/index.html`).
//!
//! Checks, in order, against one demo server on `127.0.0.1:0`:
//!
//! 1. a new tab gets its tab ID in a `connect` event, shows it, and stores it
//!    in `sessionStorage`;
//! 2. a dropped connection reconnects by itself into the same session, with
//!    the ID sent back as `Last-Event-ID`;
//! 3. a reload reconnects into the same session through `?id=` from
//!    `sessionStorage`;
//! 4. targeted sends arrive with exactly the data sent (multi-line, unicode,
//!    CR/CRLF line breaks, trailing line break);
//! 5. two tabs both get a broadcast, from the test and from the page's own
//!    button (a screenshot is taken here);
//! 6. closing the session ends with `readyState == CLOSED`, one `204`, and no
//!    further requests to `/events` for that session; the other tab stays
//!    open; the page's "New session" button then starts a fresh one.
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
use tokio::time::{sleep, timeout};

const CHROMIUM: &str = "/usr/bin/chromium";
/// Upper bound for any single wait (a page state, an HTTP exchange).
const WAIT: Duration = Duration::from_secs(10);
/// Upper bound for the whole browser session.
const WHOLE: Duration = Duration::from_secs(120);
/// The page's `sessionStorage` key.
const KEY: &str = "sse-session-demo-id";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_in_chromium() {
    let chromium = std::env::var("SSE_SESSION_CHROMIUM").unwrap_or_else(|_| CHROMIUM.into());
    if !Path::new(&chromium).exists() {
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
        return;
    }

    let demo = Demo::start();
    let profile = TempDir::new("sse-session-chromium");
    let config = BrowserConfig::builder()
        .chrome_executable(&chromium)
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
        ])
        .build()
        .expect("browser config");
    let (mut browser, mut handler) = Browser::launch(config)
        .await
        .unwrap_or_else(|e| panic!("launching {chromium}: {e}"));
    let events = tokio::spawn(async move { while handler.next().await.is_some() {} });

    let run = timeout(
        WHOLE,
        AssertUnwindSafe(checks(&browser, &demo)).catch_unwind(),
    )
    .await;

    // Clean up before reporting, on success and on failure alike (the drop
    // guards also kill the demo and Chromium if we never get here).
    let _ = timeout(Duration::from_secs(5), browser.close()).await;
    if timeout(Duration::from_secs(5), browser.wait())
        .await
        .is_err()
    {
        let _ = browser.kill().await;
    }
    events.abort();
    drop(browser);
    let log = demo.log().join("\n");
    drop(demo);
    drop(profile);

    match run {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => {
            eprintln!("demo output:\n{log}");
            std::panic::resume_unwind(panic);
        }
        Err(_) => panic!("the browser test took more than {WHOLE:?}\ndemo output:\n{log}"),
    }
}

async fn checks(browser: &Browser, demo: &Demo) {
    let url = demo.url.as_str();

    // 1. A fresh tab gets an ID, shows it and stores it.
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
    let stored: String = js(&a, &format!("sessionStorage.getItem('{KEY}')")).await;
    assert_eq!(stored, id, "the tab ID is in sessionStorage");
    let first: Ev = js(&a, "demo.events[0]").await;
    assert_eq!(
        (first.name.as_str(), first.data.as_str()),
        ("connect", id.as_str())
    );
    assert_eq!(first.last_event_id, id, "the `id:` line set lastEventId");
    assert_eq!(js::<u32>(&a, "demo.es.readyState").await, 1, "OPEN");
    assert_eq!(demo.lines(&format!("events {id} Fresh -> open")), 1);

    // 2. A dropped connection comes back by itself, into the same session,
    //    presenting the ID as Last-Event-ID.
    let (status, _) = post(demo, &format!("/sessions/{id}/drop"), "").await;
    assert_eq!(status, 200, "drop {id}");
    wait_for(
        &a,
        "demo.connects === 2 && demo.state === 'open'",
        "tab A reconnects",
    )
    .await;
    let again: Ev = js(&a, "demo.events.filter(e => e.name === 'connect')[1]").await;
    assert_eq!(again.data, id, "reconnected into the same session");
    assert_eq!(js::<String>(&a, "demo.tabId").await, id);
    assert_eq!(demo.lines(&format!("events {id} Header -> open")), 1);

    // 3. A reload keeps the session through sessionStorage and `?id=`.
    a.reload().await.expect("reload tab A");
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
    assert_eq!(demo.lines(&format!("events {id} Query -> open")), 1);

    // 4. Targeted sends arrive exactly (line breaks become `\n`, per spec).
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
    let (status, _) = post(demo, "/sessions/no-such-tab/send", "x").await;
    assert_eq!(status, 404, "a send to a session without connections");

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
    // The connection from before the reload has left the hub by now (or
    // soon: the server notices the closed socket).
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, stats) = get(demo, "/stats").await;
        let stats: serde_json::Value = serde_json::from_str(&stats).expect("GET /stats is JSON");
        if stats["connections"] == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server still counts {} connections, want 2 (one per tab)",
            stats["connections"]
        );
        sleep(Duration::from_millis(50)).await;
    }
    let (status, text) = post(demo, "/broadcast", "to every tab ✓").await;
    assert_eq!((status, text.trim()), (200, "2 connection(s)"));
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
    click_broadcast(&b, "hi from tab B").await;
    click_broadcast(&a, "hello B, this is tab A").await;
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
    screenshot(&a).await;

    // 6. Closing the session: a last `closed` event, one 204, then silence.
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
    assert!(js::<bool>(&a, "document.getElementById('fresh').click(); true").await);
    wait_for(
        &a,
        "demo.state === 'open' && demo.tabId !== null",
        "tab A opens a new session",
    )
    .await;
    let fresh: String = js(&a, "demo.tabId").await;
    assert!(fresh != id && fresh != id_b, "a fresh session: {fresh}");
    assert_eq!(demo.lines(&format!("events {fresh} Fresh -> open")), 1);
}

/// One received event, as the page records it.
#[derive(serde::Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
struct Ev {
    name: String,
    data: String,
    last_event_id: String,
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
    let expr = format!(
        "(() => {{ if (typeof window.demo !== 'object') return false; \
         window.messages = () => demo.events.filter(e => e.name === 'message').map(e => e.data); \
         return !!({cond}); }})()"
    );
    let deadline = Instant::now() + WAIT;
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
    panic!("timed out after {WAIT:?} waiting for: {what} ({cond})\npage state: {state}");
}

async fn click_broadcast(page: &Page, text: &str) {
    let text = serde_json::to_string(text).expect("a JSON string");
    let expr = format!(
        "document.getElementById('text').value = {text}; \
         document.getElementById('broadcast').click(); true"
    );
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
    fn start() -> Demo {
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

    /// How many output lines start with `prefix`.
    fn lines(&self, prefix: &str) -> usize {
        self.log().iter().filter(|l| l.starts_with(prefix)).count()
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
        let mut stream = tokio::net::TcpStream::connect(&demo.addr).await?;
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
