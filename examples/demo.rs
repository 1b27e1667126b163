//! A chat-like demo of per-tab sessions, for a person and for the browser
//! test (`tests/browser.rs`).
//!
//! ```text
//! cargo run --example demo -- 127.0.0.1:3000 [--resume-window SECONDS]
//!     [--redis redis://127.0.0.1:6379 [--namespace NAME]] [--workers N]
//! ```
//!
//! Open the printed URL in two tabs: each shows its tab ID, its connection
//! state and a live log; "Broadcast" reaches both, "Drop connection" ends the
//! stream (the browser reconnects into the same session), "Cut 5 s" drops it
//! and holds the tab's reconnects for five seconds (broadcast from the other
//! tab meanwhile: the missed events arrive, marked *replayed*, after the
//! reconnect), "Cut past the window" holds them longer than the resume window
//! (the reconnect starts with a `resync` event instead), "Start a job" opens
//! a job channel that ends by itself, and "Close my session" ends the session
//! for good (the reconnect gets `204` and `EventSource` stops).
//!
//! The resume window is 20 s here (`--resume-window`, default 20), so that
//! its end can be seen without waiting two minutes (the crate's default).
//!
//! With `--redis URL` several demo processes serve the same tabs (behind a
//! load balancer, or on ports of their own): the hub's closed-ID store is a
//! `RedisClosedIds` (a session closed on one process gets `204` on every
//! process) and every handler goes through a `RedisBus` (accepts, sends,
//! broadcasts, closes, drops and cuts, job events and job ends reach the
//! connections of every process); `GET /stats` adds the bus's counters.
//! `--namespace NAME` (default the crate's, `sse-session`) keeps several
//! groups of demos apart on one Redis. A Redis that cannot be reached at
//! start ends the demo with a message and exit status 1 within the connect
//! timeout (2 s), before it listens. Without `--redis` the demo needs
//! nothing: an in-memory hub, one process. The hold of a cut is this
//! process's (a tab that reconnects to another process is not held).
//!
//! Routes:
//!
//! - `GET /`: the page (`examples/demo/index.html`).
//! - `GET /events`: the stream. Every connection gets an event named
//!   `connect` with JSON data: the session ID, how the connection resumed
//!   (`new`, `recovered` with the number of replayed events, which come
//!   before it, or `gap`, after a `resync` event) and the resume window.
//! - `POST /sessions/{id}/send`: the text body as a `message` to every
//!   connection of that session; `404` if it has none (with `--redis`:
//!   `202` when this process has none, as another process may).
//! - `POST /sessions/{id}/close`: closes the session (after a last `closed`
//!   event); its reconnects get `204`.
//! - `POST /sessions/{id}/drop`: ends its connections, resumable; `404` if it
//!   has none (with `--redis`: `202` when this process has none).
//! - `POST /sessions/{id}/cut?seconds=N`: ends its connections and holds its
//!   reconnects (the `/events` request waits) for N seconds (at most 600), as
//!   a network outage would.
//! - `POST /jobs`: starts a job that publishes `progress` events to its topic
//!   for about three seconds, then ends the topic with a `done` event;
//!   answers the job's ID (with `--redis`, a random one, so that jobs of
//!   several processes do not share a topic).
//! - `GET /jobs/{id}/events`: a stream scoped to the job's topic.
//! - `POST /broadcast`: the text body as a `message` to every connection.
//! - `GET /sessions`: JSON array of the session IDs with a live connection.
//! - `GET /stats`: JSON counters (for the browser test); with `--redis`,
//!   also `bus` (`RedisBus::stats`) and `closed_errors` (failed lookups of
//!   the closed-ID store).
//!
//! Every `/events` request is logged to stdout as
//! `events <session id> <how the ID was found> -> <open | 204> [<resume>]`,
//! and every job stream request as `job <job id> <session id> -> <open | 204>`.
//! The first line is `listening on http://ADDR/`; with `--redis` the next
//! one is `redis <url without password> namespace <name>`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{request::Parts, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use sse_session::live::{Accepted, Delivery, Hub, HubConfig, Resume, SessionConfig};
use sse_session::redis::{RedisBus, RedisClosedIds, RedisConfig};
use sse_session::{Event, EventName, RetryDelay, SessionId};
use tokio::time::Instant;

#[derive(Clone)]
struct App {
    hub: Hub,
    /// With `--redis`: every send goes through it (and so reaches every
    /// process), and the closed-ID store it shares with the hub.
    redis: Option<(RedisBus, Arc<RedisClosedIds>)>,
    /// `GET /events` requests so far, `204`s included.
    events_requests: Arc<AtomicU64>,
    /// Sessions whose reconnects are held, until when (`POST .../cut`).
    cuts: Arc<Mutex<HashMap<SessionId, Instant>>>,
    jobs: Arc<AtomicU64>,
    window: Duration,
}

/// Every send of the demo, through the bus with `--redis`, else through the
/// hub: the same calls, so that each handler is written once.
impl App {
    fn bus(&self) -> Option<&RedisBus> {
        self.redis.as_ref().map(|(bus, _)| bus)
    }

    async fn accept(&self, parts: &Parts) -> Accepted {
        // No authentication in this demo, so no user key.
        match self.bus() {
            Some(bus) => bus.accept(parts, None).await,
            None => self.hub.accept(parts, None).await,
        }
    }

    async fn accept_scoped(&self, parts: &Parts, topic: &str) -> Accepted {
        match self.bus() {
            Some(bus) => bus.accept_scoped(parts, None, topic).await,
            None => self.hub.accept_scoped(parts, None, topic).await,
        }
    }

    async fn send_to_session(&self, id: &SessionId, event: &Event) -> Delivery {
        match self.bus() {
            Some(bus) => bus.send_to_session(id, event).await,
            None => self.hub.send_to_session(id, event),
        }
    }

    async fn broadcast(&self, event: &Event) -> Delivery {
        match self.bus() {
            Some(bus) => bus.broadcast(event).await,
            None => self.hub.broadcast(event),
        }
    }

    async fn publish(&self, topic: &str, event: &Event) -> Delivery {
        match self.bus() {
            Some(bus) => bus.publish(topic, event).await,
            None => self.hub.publish(topic, event),
        }
    }

    async fn end_topic(&self, topic: &str, last: &Event) -> Delivery {
        match self.bus() {
            Some(bus) => bus.end_topic(topic, last).await,
            None => self.hub.end_topic(topic, last),
        }
    }

    async fn close_session(&self, id: &SessionId, last: Option<Event>) -> usize {
        match self.bus() {
            Some(bus) => bus.close_session(id, last).await,
            None => self.hub.close_session(id, last).await,
        }
    }

    async fn drop_session(&self, id: &SessionId) -> usize {
        match self.bus() {
            Some(bus) => bus.drop_session(id).await.live,
            None => self.hub.drop_session(id),
        }
    }

    /// The status of a send or a drop that reached `live` connections here:
    /// `200`; none here: `404` for one process, `202` with `--redis` (the
    /// bus took it to the other processes, which this one cannot count).
    fn status(&self, live: usize) -> StatusCode {
        match (live, &self.redis) {
            (0, None) => StatusCode::NOT_FOUND,
            (0, Some(_)) => StatusCode::ACCEPTED,
            _ => StatusCode::OK,
        }
    }
}

const PAGE: &str = include_str!("demo/index.html");

/// The command line: the address, then flags.
struct Settings {
    addr: String,
    resume_window: Duration,
    /// `--redis URL`: several processes on one Redis.
    redis: Option<String>,
    /// `--namespace NAME` (with `--redis`).
    namespace: Option<String>,
    /// `--workers N`: tokio worker threads (default: one per core). Several
    /// processes on one machine do best with the cores shared out between
    /// them.
    workers: Option<usize>,
}

impl Settings {
    fn from_args() -> Result<Settings, String> {
        let mut settings = Settings {
            addr: "127.0.0.1:3000".into(),
            resume_window: Duration::from_secs(20),
            redis: None,
            namespace: None,
            workers: None,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--resume-window" => {
                    let secs: u64 = args
                        .next()
                        .and_then(|v| v.parse().ok())
                        .filter(|&s| s <= 86_400)
                        .ok_or("--resume-window needs a number of seconds (at most 86400)")?;
                    settings.resume_window = Duration::from_secs(secs);
                }
                "--redis" => {
                    let url = args
                        .next()
                        .ok_or("--redis needs a url (redis://127.0.0.1:6379)")?;
                    settings.redis = Some(url);
                }
                "--workers" => {
                    let n = args
                        .next()
                        .and_then(|v| v.parse().ok())
                        .filter(|n: &usize| (1..=1024).contains(n))
                        .ok_or("--workers needs a number of threads (1 to 1024)")?;
                    settings.workers = Some(n);
                }
                "--namespace" => {
                    let name = args.next().filter(|n| !n.is_empty());
                    settings.namespace = Some(name.ok_or("--namespace needs a name")?);
                }
                flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}")),
                addr => settings.addr = addr.to_owned(),
            }
        }
        if settings.namespace.is_some() && settings.redis.is_none() {
            return Err("--namespace needs --redis".into());
        }
        Ok(settings)
    }
}

/// Serves the way the load tool (`examples/load.rs --demo`) found cheapest per
/// connection, with the same routes and handlers: hyper's HTTP/1.1 connection
/// builder, one task per connection (`axum::serve` runs hyper-util's
/// HTTP/1-or-2 builder, which held about 11 KiB more per idle connection:
/// 25 KiB against 11.4), `TCP_NODELAY` on, tokio's multi-thread runtime (the
/// current-thread one used as little memory but fanned broadcasts out to
/// 5,000 streams slower on two cores).
fn main() -> ExitCode {
    let settings = match Settings::from_args() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::from(2);
        }
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = settings.workers {
        runtime.worker_threads(n);
    }
    let run = runtime
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
        .and_then(|rt| rt.block_on(serve(settings)));
    match run {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> Result<(), String> {
    // Redis first: a demo that cannot reach it says so and exits before it
    // listens (each connect gives up after the connect timeout).
    let app = app(&settings).await?;
    let listener = tokio::net::TcpListener::bind(&settings.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", settings.addr))?;
    let local: SocketAddr = listener
        .local_addr()
        .map_err(|e| format!("local address: {e}"))?;
    // The first line of output; tests/browser.rs reads the port from it.
    println!("listening on http://{local}/");
    if let Some(url) = &settings.redis {
        let namespace = settings.namespace.as_deref().unwrap_or("sse-session");
        println!("redis {} namespace {namespace}", without_password(url));
    }
    let router = router(app);
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            // Out of file descriptors, say: wait a little instead of spinning.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let connection = hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(tcp), service);
        // Spawned as it is (an `async` block around it would hold more per
        // connection); a connection's error only ends that connection.
        drop(tokio::spawn(connection));
    }
}

/// `url` with the password of its user part (`redis://user:pw@host`) hidden.
fn without_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user = &url[scheme + 3..at];
            let name = user.split(':').next().unwrap_or_default();
            format!("{}{name}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// The hub, and with `--redis` its closed-ID store on Redis and the bus.
async fn app(settings: &Settings) -> Result<App, String> {
    // Reconnect after 1 s (instead of the default 3 s): snappier when you
    // press "Drop connection".
    let config = SessionConfig::default().retry(Some(RetryDelay::from_millis(1000)));
    let hub_config = HubConfig::default().resume_window(settings.resume_window);
    let Some(url) = &settings.redis else {
        return Ok(App::new(
            Hub::with_config(config, hub_config),
            None,
            settings,
        ));
    };
    let mut redis_config = RedisConfig::new(url.as_str());
    if let Some(namespace) = &settings.namespace {
        redis_config = redis_config.namespace(namespace.as_str());
    }
    let failed = |e| format!("cannot start on redis {}: {e}", without_password(url));
    let closed = Arc::new(
        RedisClosedIds::connect(&redis_config)
            .await
            .map_err(failed)?,
    );
    let hub = Hub::with_config(config.closed_ids(Arc::clone(&closed)), hub_config);
    let bus = RedisBus::connect(hub.clone(), &redis_config)
        .await
        .map_err(failed)?;
    Ok(App::new(hub, Some((bus, closed)), settings))
}

impl App {
    fn new(hub: Hub, redis: Option<(RedisBus, Arc<RedisClosedIds>)>, settings: &Settings) -> App {
        App {
            hub,
            redis,
            events_requests: Arc::default(),
            cuts: Arc::default(),
            jobs: Arc::default(),
            window: settings.resume_window,
        }
    }
}

fn router(app: App) -> Router {
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/events", get(events))
        .route("/sessions", get(sessions))
        .route("/sessions/{id}/send", post(send))
        .route("/sessions/{id}/close", post(close))
        .route("/sessions/{id}/drop", post(drop_session))
        .route("/sessions/{id}/cut", post(cut))
        .route("/broadcast", post(broadcast))
        .route("/jobs", post(start_job))
        .route("/jobs/{id}/events", get(job_events))
        .route("/stats", get(stats))
        .with_state(app)
}

async fn events(State(app): State<App>, parts: Parts) -> Accepted {
    app.events_requests.fetch_add(1, Ordering::Relaxed);
    // A cut session's reconnect waits until the cut is over, as it would
    // behind a network that is down.
    let session = *app.hub.as_sessions().handshake(&parts).session_id();
    let until = app.cuts.lock().unwrap().get(&session).copied();
    if let Some(until) = until {
        tokio::time::sleep_until(until).await;
        app.cuts.lock().unwrap().remove(&session);
    }
    let accepted = app.accept(&parts).await;
    let handshake = accepted.handshake();
    let id = handshake.session_id();
    match &accepted {
        Accepted::Open(conn) => {
            let resume = conn.resume();
            println!(
                "events {id} {:?} -> open {}",
                handshake.source(),
                describe(resume)
            );
            // After the replayed events (they come first), before anything
            // sent later. The hub's own sender keeps the stream open.
            let data = serde_json::json!({
                "id": id.as_str(),
                "resume": match resume {
                    Resume::Recovered { .. } => "recovered",
                    Resume::Gap(_) => "gap",
                    _ => "new",
                },
                "replayed": match resume { Resume::Recovered { replayed } => replayed, _ => 0 },
                "window": app.window.as_secs(),
            });
            let connect = Event::new(data.to_string()).with_name(EventName::from_static("connect"));
            let _ = conn.sender().send(connect);
        }
        Accepted::Closed(_) => println!("events {id} {:?} -> 204", handshake.source()),
    }
    accepted
}

fn describe(resume: Resume) -> String {
    match resume {
        Resume::Recovered { replayed } => format!("recovered {replayed}"),
        Resume::Gap(reason) => format!("gap {reason}"),
        _ => "new".into(),
    }
}

/// What was reached, with [`App::status`].
fn reached(app: &App, sent: Delivery) -> Response {
    (app.status(sent.live + sent.queued), report(sent)).into_response()
}

fn report(sent: Delivery) -> String {
    format!("{} connection(s), {} queued\n", sent.live, sent.queued)
}

async fn send(State(app): State<App>, Path(id): Path<String>, body: String) -> Response {
    // An ID that is not a valid session ID reaches nobody: `404`, with or
    // without Redis.
    match SessionId::try_from(id.as_str()) {
        Ok(id) => reached(&app, app.send_to_session(&id, &Event::new(body)).await),
        Err(_) => (StatusCode::NOT_FOUND, report(Delivery::default())).into_response(),
    }
}

async fn close(State(app): State<App>, Path(id): Path<String>) -> Response {
    let Ok(id) = SessionId::try_from(id.as_str()) else {
        return (StatusCode::NOT_FOUND, report(Delivery::default())).into_response();
    };
    let last =
        Event::new("session closed by the server").with_name(EventName::from_static("closed"));
    let n = app.close_session(&id, Some(last)).await;
    // Closed either way (a tab that comes back gets 204), so never 404.
    (StatusCode::OK, format!("{n} connection(s)\n")).into_response()
}

async fn drop_session(State(app): State<App>, Path(id): Path<String>) -> Response {
    let n = match SessionId::try_from(id.as_str()) {
        Ok(id) => app.drop_session(&id).await,
        Err(_) => return (StatusCode::NOT_FOUND, "0 connection(s)\n").into_response(),
    };
    (app.status(n), format!("{n} connection(s)\n")).into_response()
}

async fn cut(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let seconds = q
        .get("seconds")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(5)
        .min(600);
    let Ok(id) = SessionId::try_from(id.as_str()) else {
        return (StatusCode::NOT_FOUND, "0 connection(s)\n").into_response();
    };
    let until = Instant::now() + Duration::from_secs(seconds);
    app.cuts.lock().unwrap().insert(id, until);
    // With `--redis` the drop reaches every process; the hold is this one's.
    let n = app.drop_session(&id).await;
    (
        StatusCode::OK,
        format!("{n} connection(s) cut for {seconds} s\n"),
    )
        .into_response()
}

async fn broadcast(State(app): State<App>, body: String) -> Response {
    let sent = app.broadcast(&Event::new(body)).await;
    (StatusCode::OK, report(sent)).into_response()
}

/// Starts a job: ten `progress` events 300 ms apart on its topic, then the
/// topic's end with a `done` event (every stream of the job then ends, and
/// its reconnect gets `204`). With `--redis` the job runs here and its
/// events reach its streams on every process.
async fn start_job(State(app): State<App>) -> Json<serde_json::Value> {
    let n = match app.redis {
        None => app.jobs.fetch_add(1, Ordering::Relaxed) + 1,
        // Unique across processes (a per-process count would give two jobs
        // one topic); 53 bits, so that JavaScript reads it exactly.
        Some(_) => uuid::Uuid::new_v4().as_u64_pair().0 >> 11,
    };
    let topic = format!("job-{n}");
    let app = app.clone();
    tokio::spawn(async move {
        let progress = EventName::from_static("progress");
        for step in 1..=10 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let data = format!("{}%", step * 10);
            let _ = app
                .publish(&topic, &Event::new(data).with_name(progress.clone()))
                .await;
        }
        let done =
            Event::new(format!("{topic}: report ready")).with_name(EventName::from_static("done"));
        let _ = app.end_topic(&topic, &done).await;
    });
    Json(serde_json::json!({ "id": n }))
}

async fn job_events(State(app): State<App>, Path(id): Path<u64>, parts: Parts) -> Accepted {
    let topic = format!("job-{id}");
    let accepted = app.accept_scoped(&parts, &topic).await;
    let session = accepted.handshake().session_id();
    let state = if matches!(accepted, Accepted::Open(_)) {
        "open"
    } else {
        "204"
    };
    println!("job {id} {session} -> {state}");
    accepted
}

async fn sessions(State(app): State<App>) -> Json<Vec<String>> {
    // This process's sessions (with `--redis`, each process lists its own).
    Json(app.hub.sessions().iter().map(|id| id.to_string()).collect())
}

async fn stats(State(app): State<App>) -> Json<serde_json::Value> {
    let hub = app.hub.stats();
    let mut stats = serde_json::json!({
        "events_requests": app.events_requests.load(Ordering::Relaxed),
        "connections": hub.connections,
        "sessions": hub.sessions,
        "away_sessions": hub.away_sessions,
        "connections_accepted": hub.connections_accepted,
        "recovered": hub.recovered,
        "replayed_events": hub.replayed_events,
        "gaps": hub.gaps,
        "slow_disconnects": hub.slow_disconnects,
    });
    if let Some((bus, closed)) = &app.redis {
        let b = bus.stats();
        stats["bus"] = serde_json::json!({
            "published": b.published,
            "lost": b.lost,
            "received": b.received,
            "malformed": b.malformed,
            "reconnects": b.reconnects,
            "subscribed": b.subscribed,
        });
        stats["closed_errors"] = closed.errors().into();
    }
    Json(stats)
}
