//! Load test over loopback: N real SSE connections to an axum server holding a `Hub`
//! (or, with `--baseline axum-broadcast`, axum's `Sse` over a `tokio::sync::broadcast`
//! channel, the way it is usually done), fixed-rate broadcasts, and a report of
//! delivery, latency from broadcast to client receipt, server memory per connection
//! and slow-consumer disconnects.
//!
//! ```text
//! cargo run --release --example load -- --connections 5000 --rate 100 --seconds 10 --bytes 100
//! cargo run --release --example load -- --baseline axum-broadcast
//! cargo run --release --example load -- --churn 10
//! ```
//!
//! `--churn P` [0]: P % of the connections each drop twice during the run, stay away
//! up to `--churn-away MS` [1000], and reconnect with `Last-Event-ID` as a browser
//! does; the report counts lost, duplicated and out-of-order broadcasts per
//! connection (0 each inside the hub's resume window), the events replayed, and the
//! latency of the events received live.
//!
//! Latency runs from the broadcast's timestamp (in its data) to the client's read
//! that returned it. With `--arrival on`, also to its bytes' arrival in the client's
//! socket: the kernel's receive timestamp (`SO_TIMESTAMPNS`) of the newest packet in
//! that read, so never earlier than the event arrived. The clients run on the
//! server's cores: with 5,000 sockets ready at once, a socket waits for its task's
//! turn before it is read, which the read time counts and a browser on its own
//! machine would not. The timestamps cost the client CPU (about 0.04 cores here),
//! which the server then lacks: the read-time line is higher with them on.
//!
//! The tool runs itself twice: `load server ...` is a child process that only serves
//! (so its RSS is the server's alone), and this process is the client. The server
//! binds 127.0.0.1 port 0 and exits when its stdin closes. Every loop is bounded in
//! count and in time.
//!
//! Flags (defaults in brackets): `--connections N` [5000], `--rate R` broadcasts per
//! second [100], `--seconds S` [10], `--bytes B` data bytes per event [100],
//! `--baseline axum-broadcast` (instead of the hub), `--baseline floor` (with `--serve
//! hyper-fn`: `/events` answers with the SSE headers and one comment frame, then
//! nothing, with no session state at all: what hyper and tokio alone hold per idle
//! SSE connection), server settings:
//! `--serve axum|hyper|hyper-fn` [hyper: hyper's http1 builder with the settings below
//! around the axum `Router`; hyper-fn: the same builder with a plain `service_fn` that
//! answers `/events` with `Hub::accept_request` (no router, no axum body box), its future
//! boxed; axum: `axum::serve` with its defaults], `--box-future on|off` [off] (`--serve
//! hyper`: box the router's future, so the box hyper keeps per connection for the
//! service's future is one pointer), `--backlog N` [4096], `--nodelay on|off` [on],
//! `--max-buf-size N` [hyper's default], `--writev on|off|auto` [auto],
//! `--queue-frames N` (hub queue bound), `--server-threads N` [2; 0: tokio's
//! current-thread runtime, everything on one thread],
//! `--client-threads N` [2], `--connect-concurrency N` handshakes in flight [256],
//! `--http2` (h2c with prior knowledge; then `--streams-per-conn K` [1] streams share
//! each TCP connection, and `--h2-max-send-buf N` sets hyper's per-stream send buffer).
//!
//! `LOAD_SERVER_WRAPPER="heaptrack"` (any command prefix) runs the server child under a
//! profiler, e.g. to see where its memory per connection goes.
//!
//! `--demo PATH` drives a real binary instead of `load server`: the demo as shipped
//! (`cargo build --release --all-features --example demo`, then `--demo
//! target/release/examples/demo`). It is started as `PATH 127.0.0.1:0`, its address
//! read from its first line (`listening on http://ADDR/`), its log drained; the
//! clients read its `GET /events` (counting `message` events only: the demo's own
//! `connect` event is not a broadcast), this process `POST`s each broadcast (from a
//! thread and runtime of its own, not the clients') to its
//! `/broadcast` over one keep-alive connection, and the server's RSS and CPU come
//! from `/proc/PID/status` and `/proc/PID/stat`. `--connections`, `--rate`,
//! `--seconds`, `--bytes`, `--client-threads` and `--connect-concurrency` apply.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::ready;
use std::io::{BufRead, BufReader, Write as _};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::response::sse::{Event as AxumEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt as _;
use axum::Router;
use futures_util::StreamExt as _;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sse_session::event::Event;
use sse_session::live::{Hub, SessionConfig};
use sse_session::parse::{Frame, Parser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{broadcast, watch, OwnedSemaphorePermit, Semaphore};
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Hub,
    AxumBroadcast,
    /// `--baseline floor` (with `--serve hyper-fn`): `/events` answers with the
    /// two SSE headers and one comment frame, then nothing, with no session,
    /// queue or timer: what hyper and tokio alone hold per idle SSE connection.
    Floor,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Hub => "hub",
            Mode::AxumBroadcast => "axum-broadcast",
            Mode::Floor => "floor",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Serve {
    Axum,
    Hyper,
    /// hyper's http1 builder with a plain `service_fn` (no axum `Router` on the
    /// `/events` route; the control routes go through the router).
    HyperFn,
}

#[derive(Clone, Debug)]
struct Opts {
    connections: usize,
    rate: u32,
    seconds: u64,
    bytes: usize,
    mode: Mode,
    serve: Serve,
    backlog: u32,
    nodelay: bool,
    max_buf_size: Option<usize>,
    writev: Option<bool>,
    queue_frames: Option<usize>,
    server_threads: usize,
    client_threads: usize,
    connect_concurrency: usize,
    http2: bool,
    streams_per_conn: usize,
    h2_max_send_buf: Option<usize>,
    /// `--serve hyper`: box the router's response future (hyper keeps a
    /// per-connection box sized for the service's future).
    box_future: bool,
    /// `--churn P`: P % of the connections drop and reconnect (with
    /// `Last-Event-ID`) during the run.
    churn_percent: u32,
    /// `--churn-away MS`: the longest a churning connection stays away.
    churn_away_ms: u64,
    /// `--demo PATH`: drive that binary (the shipped demo) instead of `load server`.
    demo: Option<String>,
    /// `--processes N` (with `--demo`): N demos on one Redis.
    processes: usize,
    /// `--redis URL` (with `--demo`): the Redis of the demos (else one of our own).
    redis: Option<String>,
    /// `--compare on|off` [on]: after the run on Redis, the single in-memory demo.
    compare: bool,
    /// `--arrival on`: also time each event to its bytes' arrival in the client's
    /// socket (kernel receive timestamps).
    arrival: bool,
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        connections: 5_000,
        rate: 100,
        seconds: 10,
        bytes: 100,
        mode: Mode::Hub,
        serve: Serve::Hyper,
        backlog: 4096,
        nodelay: true,
        max_buf_size: None,
        writev: None,
        queue_frames: None,
        server_threads: 2,
        client_threads: 2,
        connect_concurrency: 256,
        http2: false,
        streams_per_conn: 1,
        h2_max_send_buf: None,
        box_future: false,
        churn_percent: 0,
        churn_away_ms: 1_000,
        demo: None,
        processes: 1,
        redis: None,
        compare: true,
        arrival: false,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{flag} needs a value"));
        let num = |v: String| v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--connections" => o.connections = num(value()?)?,
            "--rate" => o.rate = num(value()?)?.clamp(1, 100_000) as u32,
            "--seconds" => o.seconds = num(value()?)?.clamp(1, 3_600) as u64,
            "--bytes" => o.bytes = num(value()?)?.clamp(32, 1 << 20),
            "--baseline" => match value()?.as_str() {
                "axum-broadcast" => o.mode = Mode::AxumBroadcast,
                "floor" => o.mode = Mode::Floor,
                "none" | "hub" => o.mode = Mode::Hub,
                other => return Err(format!("unknown baseline {other:?}")),
            },
            "--serve" => match value()?.as_str() {
                "axum" => o.serve = Serve::Axum,
                "hyper" => o.serve = Serve::Hyper,
                "hyper-fn" => o.serve = Serve::HyperFn,
                other => return Err(format!("unknown server {other:?}")),
            },
            "--box-future" => o.box_future = value()? == "on",
            "--demo" => o.demo = Some(value()?),
            "--processes" => o.processes = num(value()?)?.clamp(1, 16),
            "--redis" => o.redis = Some(value()?),
            "--compare" => o.compare = value()? != "off",
            "--arrival" => o.arrival = value()? == "on",
            "--backlog" => o.backlog = num(value()?)?.clamp(1, 65_535) as u32,
            "--nodelay" => o.nodelay = value()? == "on",
            "--max-buf-size" => o.max_buf_size = Some(num(value()?)?.max(8192)),
            "--writev" => {
                o.writev = match value()?.as_str() {
                    "on" => Some(true),
                    "off" => Some(false),
                    _ => None,
                }
            }
            "--queue-frames" => o.queue_frames = Some(num(value()?)?.max(1)),
            "--server-threads" => o.server_threads = num(value()?)?.min(64),
            "--client-threads" => o.client_threads = num(value()?)?.clamp(1, 64),
            "--http2" => o.http2 = true,
            "--streams-per-conn" => o.streams_per_conn = num(value()?)?.clamp(1, 1_000),
            "--h2-max-send-buf" => o.h2_max_send_buf = Some(num(value()?)?.max(1024)),
            "--churn" => o.churn_percent = num(value()?)?.min(100) as u32,
            "--churn-away" => o.churn_away_ms = num(value()?)?.clamp(1, 60_000) as u64,
            "--connect-concurrency" => o.connect_concurrency = num(value()?)?.clamp(1, 100_000),
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    if o.churn_percent > 0 && (o.mode != Mode::Hub || o.http2) {
        return Err("--churn needs the hub over HTTP/1.1 (resume is the hub's)".to_owned());
    }
    if (o.processes > 1 || o.redis.is_some()) && o.demo.is_none() {
        return Err("--processes and --redis need --demo PATH".to_owned());
    }
    if o.mode == Mode::Floor && (o.serve != Serve::HyperFn || o.http2) {
        return Err("--baseline floor needs --serve hyper-fn (HTTP/1.1)".to_owned());
    }
    Ok(o)
}

fn server_args(o: &Opts) -> Vec<String> {
    let mut a = vec![
        "--baseline".into(),
        o.mode.name().into(),
        "--serve".into(),
        match o.serve {
            Serve::Axum => "axum",
            Serve::Hyper => "hyper",
            Serve::HyperFn => "hyper-fn",
        }
        .into(),
        "--box-future".into(),
        if o.box_future { "on" } else { "off" }.into(),
        "--backlog".into(),
        o.backlog.to_string(),
        "--nodelay".into(),
        if o.nodelay { "on" } else { "off" }.into(),
        "--server-threads".into(),
        o.server_threads.to_string(),
    ];
    if let Some(n) = o.max_buf_size {
        a.extend(["--max-buf-size".into(), n.to_string()]);
    }
    if let Some(w) = o.writev {
        a.extend(["--writev".into(), if w { "on" } else { "off" }.into()]);
    }
    if let Some(n) = o.queue_frames {
        a.extend(["--queue-frames".into(), n.to_string()]);
    }
    if o.http2 {
        a.push("--http2".into());
    }
    if let Some(n) = o.h2_max_send_buf {
        a.extend(["--h2-max-send-buf".into(), n.to_string()]);
    }
    a
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (server, rest) = match args.first().map(String::as_str) {
        Some("server") => (true, &args[1..]),
        _ => (false, &args[..]),
    };
    let opts = match parse_opts(rest) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("load: {e}");
            std::process::exit(2);
        }
    };
    if server {
        run_server(opts);
    } else if let Some(path) = opts.demo.clone() {
        if let Err(e) = run_demo_driver(&opts, &path) {
            eprintln!("load: {e}");
            std::process::exit(1);
        }
    } else {
        run_driver(opts);
    }
}

// ---------------------------------------------------------------- server

#[derive(Clone)]
struct App {
    mode: Mode,
    hub: Hub,
    tx: broadcast::Sender<String>,
    lagged: Arc<AtomicU64>,
    /// Streams answered in `Mode::Floor` (never decremented: idle runs only).
    floor_streams: Arc<AtomicUsize>,
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) of this process so far, in milliseconds.
fn cpu_ms() -> u64 {
    // Fields 14 and 15 of /proc/self/stat (after the parenthesised name), in clock
    // ticks of 10 ms on Linux.
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = f.get(11)?.parse().ok()?;
            let stime: u64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) * 10)
        })
        .unwrap_or(0)
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn run_server(o: Opts) {
    // Exit when the driver goes away (it holds our stdin).
    std::thread::spawn(|| {
        let mut sink = String::new();
        while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
        std::process::exit(0);
    });
    // `--server-threads 0`: tokio's current-thread scheduler (accept loop,
    // connections and broadcasts on one thread, one unbounded run queue).
    let rt = if o.server_threads == 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(o.server_threads)
            .enable_all()
            .build()
    }
    .expect("runtime");
    rt.block_on(async move {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("reuseaddr");
        socket
            .bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind");
        let listener = socket.listen(o.backlog).expect("listen");
        let addr = listener.local_addr().expect("local addr");

        let mut config = SessionConfig::default();
        if let Some(n) = o.queue_frames {
            config = config.queue_frames(n);
        }
        let app = App {
            mode: o.mode,
            hub: Hub::new(config),
            tx: broadcast::channel(128).0,
            lagged: Arc::new(AtomicU64::new(0)),
            floor_streams: Arc::new(AtomicUsize::new(0)),
        };
        let router = Router::new()
            .route("/events", get(events))
            .route("/stats", get(stats))
            .route("/run", post(run))
            .with_state(app.clone());
        let fn_state = Arc::new((
            app,
            hyper_util::service::TowerToHyperService::new(router.clone()),
        ));

        println!("listening {addr}");
        std::io::stdout().flush().ok();

        match o.serve {
            Serve::Axum => {
                let nodelay = o.nodelay;
                let listener = listener.tap_io(move |tcp| {
                    let _ = tcp.set_nodelay(nodelay);
                });
                axum::serve(listener, router).await.expect("serve");
            }
            Serve::Hyper | Serve::HyperFn => loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = tcp.set_nodelay(o.nodelay);
                let svc = hyper_util::service::TowerToHyperService::new(router.clone());
                if o.http2 {
                    // HTTP/1.1 and h2c (prior knowledge) on one port: the load
                    // client speaks h2, the control requests HTTP/1.1.
                    let mut builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    builder.http2().max_concurrent_streams(1_000);
                    if let Some(n) = o.h2_max_send_buf {
                        builder.http2().max_send_buf_size(n);
                    }
                    tokio::spawn(async move {
                        let _ = builder.serve_connection(TokioIo::new(tcp), svc).await;
                    });
                    continue;
                }
                let mut builder = hyper::server::conn::http1::Builder::new();
                if let Some(n) = o.max_buf_size {
                    builder.max_buf_size(n);
                }
                if let Some(w) = o.writev {
                    builder.writev(w);
                }
                let io = TokioIo::new(tcp);
                match (o.serve, o.box_future) {
                    (Serve::HyperFn, _) => {
                        // One pointer: the service is part of every connection's
                        // task (tokio rounds a task up to 128 bytes; with the app and
                        // router captured apart it took 896 instead of 768 here).
                        let both = Arc::clone(&fn_state);
                        let svc = hyper::service::service_fn(move |req| {
                            serve_fn(both.0.clone(), both.1.clone(), req)
                        });
                        tokio::spawn(builder.serve_connection(io, svc));
                    }
                    (_, true) => {
                        let svc = hyper::service::service_fn(move |req| -> BoxFuture {
                            Box::pin(hyper::service::Service::call(&svc, req))
                        });
                        tokio::spawn(builder.serve_connection(io, svc));
                    }
                    // Spawned as it is: an `async` block around it would
                    // hold the builder, the stream and the service besides
                    // (0.6 KiB more per connection measured, with the
                    // connection future moved into the block's await state).
                    _ => drop(tokio::spawn(builder.serve_connection(io, svc))),
                }
            },
        }
    });
}

type BoxFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Response, Infallible>> + Send + 'static>,
>;
type FnBody =
    http_body_util::Either<http_body_util::Either<sse_session::live::SseBody, IdleBody>, Body>;

/// `--baseline floor`: a response body that sends one comment frame (as every
/// SSE stream sends something: hyper allocates its write queue at the first
/// body chunk) and then stays open without yielding again.
struct IdleBody {
    sent: bool,
}

impl http_body::Body for IdleBody {
    type Data = bytes::Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Infallible>>> {
        if std::mem::replace(&mut self.sent, true) {
            return std::task::Poll::Pending;
        }
        let frame = http_body::Frame::data(bytes::Bytes::from_static(b":\n\n"));
        std::task::Poll::Ready(Some(Ok(frame)))
    }
}
type FnFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<http::Response<FnBody>, Infallible>> + Send>,
>;

/// `--serve hyper-fn`: the hub's `/events` straight from hyper (no axum body box, no
/// router future), everything else through the router. The future is boxed, so the
/// box hyper keeps per connection for it is one pointer.
fn serve_fn(
    app: App,
    router: hyper_util::service::TowerToHyperService<Router>,
    req: http::Request<hyper::body::Incoming>,
) -> FnFuture {
    use http_body_util::Either;
    if app.mode == Mode::Hub && req.uri().path() == "/events" {
        return Box::pin(async move {
            let accepted = app.hub.accept_request(&req, None).await;
            Ok(accepted
                .into_response()
                .map(|body| Either::Left(Either::Left(body))))
        });
    }
    if app.mode == Mode::Floor && req.uri().path() == "/events" {
        app.floor_streams.fetch_add(1, Ordering::Relaxed);
        // The header map sized for its two headers (hyper keeps it per
        // connection), as the hub sizes its own.
        let mut headers = http::HeaderMap::with_capacity(2);
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-cache"),
        );
        let mut res = http::Response::new(Either::Left(Either::Right(IdleBody { sent: false })));
        *res.headers_mut() = headers;
        return Box::pin(ready(Ok(res)));
    }
    Box::pin(async move {
        let res = hyper::service::Service::call(&router, req).await?;
        Ok(res.map(Either::Right))
    })
}

async fn events(State(app): State<App>, req: Request) -> Response {
    match app.mode {
        Mode::Hub => {
            let (parts, _) = req.into_parts();
            app.hub
                .accept(&parts, None)
                .await
                .into_response()
                .map(Body::new)
        }
        // Rejected with any other `--serve` when the options are read.
        Mode::Floor => http::StatusCode::NOT_FOUND.into_response(),
        Mode::AxumBroadcast => {
            // The usual way: one broadcast receiver per connection
            // (`BroadcastStream`), each event turned into an axum `Event` (and
            // encoded) per connection; lagged receivers skip events (counted here).
            let lagged = app.lagged.clone();
            let stream = BroadcastStream::new(app.tx.subscribe()).filter_map(move |item| {
                ready(match item {
                    Ok(data) => Some(Ok::<_, Infallible>(AxumEvent::default().data(data))),
                    Err(BroadcastStreamRecvError::Lagged(n)) => {
                        lagged.fetch_add(n, Ordering::Relaxed);
                        None
                    }
                })
            });
            Sse::new(stream)
                .keep_alive(KeepAlive::default())
                .into_response()
        }
    }
}

async fn stats(State(app): State<App>) -> String {
    let (connections, slow) = match app.mode {
        Mode::Hub => (app.hub.connection_count(), app.hub.stats().slow_disconnects),
        Mode::AxumBroadcast => (app.tx.receiver_count(), 0),
        Mode::Floor => (app.floor_streams.load(Ordering::Relaxed), 0),
    };
    format!(
        "rss_kib={} cpu_ms={} connections={connections} slow={slow} lagged={}",
        rss_kib(),
        cpu_ms(),
        app.lagged.load(Ordering::Relaxed)
    )
}

async fn run(State(app): State<App>, Query(q): Query<HashMap<String, String>>) -> String {
    let get = |k: &str, d: u64| q.get(k).and_then(|v| v.parse().ok()).unwrap_or(d);
    let rate = get("rate", 100).clamp(1, 100_000);
    let seconds = get("seconds", 10).clamp(1, 3_600);
    let bytes = get("bytes", 100).clamp(32, 1 << 20) as usize;
    let total = rate * seconds;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let started = Instant::now();
    let mut sent = 0u64;
    let mut reached = 0u64;
    let mut send_time = Duration::ZERO;
    for seq in 0..total {
        tick.tick().await;
        let mut data = format!("{seq} {} ", now_micros());
        data.extend(std::iter::repeat_n('x', bytes.saturating_sub(data.len())));
        let t = Instant::now();
        match app.mode {
            Mode::Hub => reached += app.hub.broadcast(&Event::new(data)).live as u64,
            Mode::AxumBroadcast => reached += app.tx.send(data).unwrap_or(0) as u64,
            Mode::Floor => {}
        }
        send_time += t.elapsed();
        sent += 1;
    }
    format!(
        "sent={sent} reached={reached} elapsed_ms={} send_us_avg={}",
        started.elapsed().as_millis(),
        send_time.as_micros() / u128::from(sent.max(1))
    )
}

// ---------------------------------------------------------------- client (driver)

/// Undoes HTTP/1.1 chunked transfer coding, incrementally.
#[derive(Default)]
struct Dechunk {
    state: ChunkState,
    size: usize,
}

#[derive(Default, Clone, Copy, PartialEq)]
enum ChunkState {
    #[default]
    Size,
    Ext,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    Done,
}

impl Dechunk {
    /// Feeds bytes; `Ok(true)` once the last chunk (`0\r\n`) was seen: the
    /// response has ended (the connection itself stays open for keep-alive).
    fn feed(&mut self, mut input: &[u8], mut out: impl FnMut(&[u8])) -> Result<bool, String> {
        use ChunkState::*;
        while let Some(&b) = input.first() {
            if self.state == Data {
                let n = self.size.min(input.len());
                out(&input[..n]);
                self.size -= n;
                input = &input[n..];
                if self.size == 0 {
                    self.state = DataCr;
                }
                continue;
            }
            input = &input[1..];
            self.state = match (self.state, b) {
                (Size, b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F') => {
                    let digit = (b as char).to_digit(16).unwrap_or(0) as usize;
                    self.size = self
                        .size
                        .checked_mul(16)
                        .and_then(|s| s.checked_add(digit))
                        .ok_or("chunk size overflow")?;
                    Size
                }
                (Size | Ext, b';') | (Ext, _) if b != b'\r' && b != b'\n' => Ext,
                (Size | Ext, b'\r') => SizeLf,
                (Size | Ext | SizeLf, b'\n') if self.size == 0 => Done,
                (Size | Ext | SizeLf, b'\n') => Data,
                (DataCr, b'\r') => DataLf,
                (DataLf, b'\n') => Size,
                (Done, _) => return Ok(true),
                (state, b) => {
                    return Err(format!(
                        "bad chunked coding: byte {b:#x} in {}",
                        state as u8
                    ))
                }
            };
        }
        Ok(self.state == Done)
    }
}

#[derive(Default)]
struct ClientResult {
    connected: bool,
    /// Streams this result covers that got a `200` (1 on HTTP/1.1).
    streams: usize,
    /// Events received, duplicates included.
    events: u64,
    /// Distinct broadcasts received (by the sequence number in their data).
    distinct: u64,
    /// Broadcasts received a second time.
    duplicates: u64,
    /// Broadcasts received after one with a higher sequence number.
    out_of_order: u64,
    /// Broadcasts sent while this client was away, received on its reconnect.
    replayed: u64,
    /// Reconnects (`--churn`), and how many of them opened with a `resync` gap event.
    reconnects: u64,
    gaps: u64,
    /// Broadcast->receipt latency of the events received live: until the read that
    /// returned them.
    latencies_us: Vec<u32>,
    /// The same events, until their bytes arrived in the client's socket (the
    /// kernel's receive timestamp of the last packet the read took; where the
    /// kernel gives none, the read's return).
    arrivals_us: Vec<u32>,
    /// Which broadcasts arrived (one bit per sequence number) and the highest.
    seen: Vec<u64>,
    max_seq: Option<u64>,
    error: Option<String>,
    ended_by_server: bool,
}

impl ClientResult {
    fn new(expect: usize) -> Self {
        ClientResult {
            latencies_us: Vec::with_capacity(expect),
            arrivals_us: Vec::with_capacity(expect),
            seen: vec![0; expect.div_ceil(64)],
            ..ClientResult::default()
        }
    }

    fn merge(&mut self, r: ClientResult) {
        self.connected |= r.connected;
        self.streams += r.streams;
        self.events += r.events;
        self.distinct += r.distinct;
        self.duplicates += r.duplicates;
        self.out_of_order += r.out_of_order;
        self.replayed += r.replayed;
        self.reconnects += r.reconnects;
        self.gaps += r.gaps;
        self.latencies_us.extend(r.latencies_us);
        self.arrivals_us.extend(r.arrivals_us);
        self.ended_by_server |= r.ended_by_server;
        if self.error.is_none() {
            self.error = r.error;
        }
    }
}

/// `--churn`: when this client drops its connection (after how many events, each)
/// and how long it then stays away before it reconnects with `Last-Event-ID`.
#[derive(Clone, Default)]
struct Churn {
    drop_after: Vec<u64>,
    away: Duration,
}

impl Churn {
    /// Client `i`'s plan: `percent` % of the clients, picked evenly, drop twice, at
    /// points spread over the run (by a fixed hash of `i`, so runs compare), and stay
    /// away between a tenth of `away_ms` and all of it.
    fn plan(i: usize, percent: u32, expect: usize, away_ms: u64) -> Churn {
        if percent == 0 || (i * 7919) % 100 >= percent as usize || expect < 10 {
            return Churn::default();
        }
        let h = splitmix(i as u64);
        let e = expect as u64;
        let first = e / 10 + h % (e * 35 / 100);
        let second = first + e / 10 + (h >> 20) % (e / 4);
        let away = away_ms / 10 + (h >> 40) % (away_ms - away_ms / 10).max(1);
        Churn {
            drop_after: vec![first, second],
            away: Duration::from_millis(away),
        }
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// One HTTP/1.1 SSE request; returns the stream, the bytes read past the response
/// head, and whether the body is chunked.
async fn open_stream(
    addr: SocketAddr,
    last_event_id: &str,
) -> Result<(TcpStream, Vec<u8>, bool), String> {
    let mut tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let mut req =
        b"GET /events HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: text/event-stream\r\n".to_vec();
    if !last_event_id.is_empty() {
        req.extend_from_slice(format!("last-event-id: {last_event_id}\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    tcp.write_all(&req)
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::with_capacity(4096);
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = tcp
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("closed before the response head".to_owned());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 16 * 1024 {
            return Err("response head too large".to_owned());
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    if !head.starts_with("http/1.1 200") {
        return Err(format!("status: {}", head.lines().next().unwrap_or("")));
    }
    let chunked = head.contains("transfer-encoding: chunked");
    Ok((tcp, buf.split_off(head_end), chunked))
}

/// Asks the kernel to timestamp the packets this socket receives
/// (`SO_TIMESTAMPNS`), for [`read_stamped`]. Without it (or off Linux), reads
/// carry no timestamp and arrival counts as the read's return.
fn stamp_receipts(tcp: &TcpStream) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd as _;
        let on: libc::c_int = 1;
        // SAFETY: a valid socket descriptor (owned by `tcp`, alive for the call),
        // and a pointer to a `c_int` with its size, as `SO_TIMESTAMPNS` takes.
        let _ = unsafe {
            libc::setsockopt(
                tcp.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                std::ptr::from_ref(&on).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = tcp;
}

/// Reads like `AsyncReadExt::read`, and also returns when the bytes arrived:
/// the kernel's receive timestamp (microseconds since the epoch) of the last
/// packet the read took, if [`stamp_receipts`] turned them on. On TCP that
/// is the newest packet in the read, so no event in it arrived later.
///
/// This is the receipt a browser on its own machine sees: the load client's
/// tasks share the server's two cores, and a socket that is readable waits
/// for its task's turn (up to tens of milliseconds with 5,000 of them ready),
/// which the read's return counts and a browser would not.
async fn read_stamped(tcp: &TcpStream, buf: &mut [u8]) -> std::io::Result<(usize, Option<u64>)> {
    loop {
        tcp.readable().await?;
        match tcp.try_io(tokio::io::Interest::READABLE, || recv_stamped(tcp, buf)) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            other => return other,
        }
    }
}

#[cfg(target_os = "linux")]
fn recv_stamped(tcp: &TcpStream, buf: &mut [u8]) -> std::io::Result<(usize, Option<u64>)> {
    use std::os::fd::AsRawFd as _;
    // Room for one `SCM_TIMESTAMPNS` message (a header and a `timespec`),
    // aligned for `cmsghdr`.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `msghdr` is plain data; all-zero is a valid (empty) value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: `msg` points at `iov` (which points at `buf`, `buf.len()` bytes)
    // and at `control`, all alive and writable for the call.
    let n = unsafe { libc::recvmsg(tcp.as_raw_fd(), &raw mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut stamp = None;
    // SAFETY: `msg` was filled by `recvmsg`; the CMSG_* macros walk its control
    // buffer within `msg_controllen`, and a `SCM_TIMESTAMPNS` message carries
    // one `timespec` (read unaligned, as the data need not be aligned for it).
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                stamp = Some(ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000);
            }
            cmsg = libc::CMSG_NXTHDR(&raw const msg, cmsg);
        }
    }
    Ok((n as usize, stamp))
}

#[cfg(not(target_os = "linux"))]
fn recv_stamped(tcp: &TcpStream, buf: &mut [u8]) -> std::io::Result<(usize, Option<u64>)> {
    Ok((tcp.try_read(buf)?, None))
}

async fn client(
    addr: SocketAddr,
    connected: Arc<AtomicUsize>,
    mut stop: watch::Receiver<bool>,
    expect: usize,
    permit: OwnedSemaphorePermit,
    churn: Churn,
    arrival: bool,
) -> ClientResult {
    let mut r = ClientResult::new(expect);
    let mut permit = Some(permit);
    let mut drops = churn.drop_after.iter().copied().peekable();
    // The cursor a browser keeps (`lastEventId`), and when the current stream's
    // request went out: broadcasts sent before it were missed and come as a replay.
    let mut last_event_id = String::new();
    let mut live_since = 0u64;
    // Created once, not per read: a fresh `changed()` future per read cost
    // the client 2-3 % of its CPU.
    let stopped = stop.changed();
    tokio::pin!(stopped);
    let run = async {
        loop {
            let (tcp, rest, chunked) = open_stream(addr, &last_event_id).await?;
            if arrival {
                stamp_receipts(&tcp);
            }
            if let Some(permit) = permit.take() {
                connected.fetch_add(1, Ordering::Relaxed);
                drop(permit);
                r.connected = true;
                r.streams = 1;
            }
            let mut dechunk = Dechunk::default();
            let mut parser = Parser::new();
            let mut chunk = vec![0u8; rest.len().max(16 * 1024)];
            chunk[..rest.len()].copy_from_slice(&rest);
            let mut n = rest.len();
            let mut stamp = None;
            let dropped = loop {
                // Receipt time: when the read returned; every event in it arrived then.
                // And when its bytes arrived (the kernel's timestamp of the last packet
                // the read took, so no earlier than any event in it arrived).
                let received = now_micros();
                let arrived = stamp.take().unwrap_or(received);
                let data = &chunk[..n];
                let ended = if chunked {
                    dechunk.feed(data, |data| parser.feed(data))?
                } else {
                    parser.feed(data);
                    false
                };
                while let Some(frame) = parser.next_frame().map_err(|e| e.to_string())? {
                    if let Frame::Event(ev) = frame {
                        // Broadcasts are `message`s; the demo also sends its own
                        // `connect` event first, and a gap opens with `resync`.
                        match ev.event_type() {
                            "message" => {
                                record(&mut r, ev.data(), received, arrived, live_since);
                            }
                            "resync" => r.gaps += 1,
                            _ => {}
                        }
                    }
                }
                if !parser.last_event_id().is_empty() {
                    parser.last_event_id().clone_into(&mut last_event_id);
                }
                if drops.peek().is_some_and(|&at| r.events >= at) {
                    drops.next();
                    break true;
                }
                if ended {
                    // The server ended the stream (a slow-consumer disconnect): a browser
                    // would reconnect and resume; this client stops counting.
                    r.ended_by_server = true;
                    return Ok(());
                }
                // (tokio clears the socket's readiness itself after a short read, so
                // this is one `read` per wake-up, not one more that fails.)
                (n, stamp) = tokio::select! {
                    n = read_stamped(&tcp, &mut chunk) => n.map_err(|e| format!("read: {e}"))?,
                    _ = &mut stopped => return Ok(()),
                };
                if n == 0 {
                    r.ended_by_server = true;
                    return Ok(());
                }
            };
            debug_assert!(dropped);
            // Cut: close the TCP connection, stay away, come back with the cursor.
            drop(tcp);
            tokio::select! {
                _ = tokio::time::sleep(churn.away) => {}
                _ = &mut stopped => return Ok(()),
            }
            r.reconnects += 1;
            live_since = now_micros();
        }
    };
    if let Err(e) = run.await {
        r.error = Some(e);
    }
    r
}

/// `streams` SSE streams over one HTTP/2 connection (h2c, prior knowledge), read
/// with hyper's client; one result for all of them.
async fn client_h2(
    addr: SocketAddr,
    connected: Arc<AtomicUsize>,
    stop: watch::Receiver<bool>,
    expect: usize,
    permit: OwnedSemaphorePermit,
    streams: usize,
) -> ClientResult {
    use http_body_util::BodyExt as _;
    let mut total = ClientResult::default();
    let setup = async {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let (sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                .await
                .map_err(|e| format!("h2 handshake: {e}"))?;
        tokio::spawn(conn);
        Ok::<_, String>(sender)
    };
    let sender = match setup.await {
        Ok(s) => s,
        Err(e) => {
            total.error = Some(e);
            return total;
        }
    };
    let mut tasks = Vec::with_capacity(streams);
    for _ in 0..streams {
        let mut sender = sender.clone();
        let connected = connected.clone();
        let mut stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut r = ClientResult::new(expect);
            let req = http::Request::get(format!("http://{addr}/events"))
                .header("accept", "text/event-stream")
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .expect("request");
            let res = match sender.send_request(req).await {
                Ok(res) if res.status() == 200 => res,
                Ok(res) => {
                    r.error = Some(format!("status {}", res.status()));
                    return r;
                }
                Err(e) => {
                    r.error = Some(format!("request: {e}"));
                    return r;
                }
            };
            connected.fetch_add(1, Ordering::Relaxed);
            r.connected = true;
            r.streams = 1;
            let mut body = res.into_body();
            let mut parser = Parser::new();
            loop {
                let frame = tokio::select! {
                    f = body.frame() => f,
                    _ = stop.changed() => return r,
                };
                match frame {
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            parser.feed(&data);
                        }
                    }
                    Some(Err(e)) => {
                        r.error = Some(format!("body: {e}"));
                        return r;
                    }
                    None => {
                        r.ended_by_server = true;
                        return r;
                    }
                }
                let received = now_micros();
                while let Ok(Some(frame)) = parser.next_frame() {
                    if let Frame::Event(ev) = frame {
                        record(&mut r, ev.data(), received, received, 0);
                    }
                }
            }
        }));
    }
    drop(permit);
    for t in tasks {
        if let Ok(r) = t.await {
            total.merge(r);
        }
    }
    total
}

/// Counts one received broadcast (`data` starts with `<seq> <sent micros> `);
/// `now`: when the read that returned it returned, `arrived`: when its bytes
/// arrived in the socket (see [`read_stamped`]); `live_since`: when the current
/// stream's request went out (earlier broadcasts arrived as a replay, and their
/// latency is how long the client was away).
fn record(r: &mut ClientResult, data: &str, now: u64, arrived: u64, live_since: u64) {
    let mut fields = data.split(' ');
    let seq: u64 = fields
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX);
    let sent: u64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(now);
    r.events += 1;
    let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
    let Some(w) = r.seen.get_mut(word) else {
        // Not a broadcast of this run: neither lost nor distinct.
        return;
    };
    if *w & bit != 0 {
        r.duplicates += 1;
        return;
    }
    *w |= bit;
    r.distinct += 1;
    if r.max_seq.is_some_and(|m| seq < m) {
        r.out_of_order += 1;
    }
    r.max_seq = Some(r.max_seq.map_or(seq, |m| m.max(seq)));
    if sent < live_since {
        r.replayed += 1;
    } else {
        let us = |t: u64| t.saturating_sub(sent).min(u64::from(u32::MAX)) as u32;
        r.latencies_us.push(us(now));
        r.arrivals_us.push(us(arrived.min(now)));
    }
}

fn fetch(addr: SocketAddr, method: &str, path: &str) -> Result<String, String> {
    use std::io::Read as _;
    let mut tcp = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(3_700))).ok();
    write!(
        tcp,
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut out = String::new();
    tcp.read_to_string(&mut out).map_err(|e| e.to_string())?;
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    Ok(body)
}

fn field(s: &str, key: &str) -> u64 {
    s.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn spawn_server(o: &Opts) -> (Child, SocketAddr) {
    let exe = std::env::current_exe().expect("current exe");
    // `LOAD_SERVER_WRAPPER="heaptrack"` (or any command prefix) runs the server under
    // a profiler; the profiler's own output lines before `listening` are skipped.
    let wrapper = std::env::var("LOAD_SERVER_WRAPPER").unwrap_or_default();
    let mut prefix = wrapper.split_whitespace();
    let mut cmd = match prefix.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(prefix).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    let mut child = cmd
        .arg("server")
        .args(server_args(o))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the server process");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stdout = BufReader::new(stdout);
    let mut line = String::new();
    let mut addr = None;
    for _ in 0..100 {
        line.clear();
        if stdout.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        addr = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|a| a.parse().ok());
        if addr.is_some() {
            break;
        }
    }
    let addr = addr.expect("server prints `listening ADDR`");
    (child, addr)
}

/// The clients' results summed, for the report of either driver.
struct Summary {
    /// Clients whose stream the server ended.
    ended: usize,
    delivered: u64,
    out_of_order: u64,
    duplicates: u64,
    replayed: u64,
    reconnects: u64,
    gaps: u64,
    /// Broadcasts of the `sent` that a stream never got.
    lost: u64,
    /// Every live event's latency until the read returned it, sorted.
    lat: Vec<u32>,
    /// The same until its bytes arrived in the socket, sorted.
    arr: Vec<u32>,
}

impl Summary {
    fn of(results: &[ClientResult], sent: u64) -> Summary {
        let sum = |f: fn(&ClientResult) -> u64| results.iter().map(f).sum::<u64>();
        let mut lat: Vec<u32> = results
            .iter()
            .flat_map(|r| r.latencies_us.iter().copied())
            .collect();
        lat.sort_unstable();
        let mut arr: Vec<u32> = results
            .iter()
            .flat_map(|r| r.arrivals_us.iter().copied())
            .collect();
        arr.sort_unstable();
        Summary {
            ended: results.iter().filter(|r| r.ended_by_server).count(),
            delivered: sum(|r| r.events),
            out_of_order: sum(|r| r.out_of_order),
            duplicates: sum(|r| r.duplicates),
            replayed: sum(|r| r.replayed),
            reconnects: sum(|r| r.reconnects),
            gaps: sum(|r| r.gaps),
            lost: results
                .iter()
                .map(|r| (sent * r.streams as u64).saturating_sub(r.distinct))
                .sum(),
            lat,
            arr,
        }
    }

    /// The two latency lines of the report.
    fn print_latency(&self, arrival: bool) {
        let line = |what: &str, v: &[u32]| {
            println!(
                "latency broadcast->{what} (events received live): p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
                percentile(v, 0.50),
                percentile(v, 0.99),
                percentile(v, 0.999),
                percentile(v, 1.0)
            );
        };
        line("client read", &self.lat);
        if arrival {
            line("arrival in the client's socket", &self.arr);
        }
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

/// The clients' runtime: `--client-threads` workers.
fn client_runtime(o: &Opts) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(o.client_threads)
        .enable_all()
        .build()
        .expect("client runtime")
}

fn run_driver(o: Opts) {
    let (mut child, addr) = spawn_server(&o);
    let _ = fetch(addr, "GET", "/stats"); // warm up
    std::thread::sleep(Duration::from_millis(200));
    let before = fetch(addr, "GET", "/stats").unwrap_or_default();

    let rt = client_runtime(&o);
    let expect = (o.rate as u64 * o.seconds) as usize;
    let (stop_tx, stop_rx) = watch::channel(false);
    let connected = Arc::new(AtomicUsize::new(0));

    let report = rt.block_on(async {
        // Connect, at most `connect_concurrency` handshakes in flight.
        let t0 = Instant::now();
        let gate = Arc::new(Semaphore::new(o.connect_concurrency));
        let mut tasks = Vec::with_capacity(o.connections);
        let mut left = o.connections;
        while left > 0 {
            let permit = gate.clone().acquire_owned().await.expect("semaphore");
            let (c, s) = (connected.clone(), stop_rx.clone());
            if o.http2 {
                let streams = left.min(o.streams_per_conn);
                left -= streams;
                tasks.push(tokio::spawn(client_h2(addr, c, s, expect, permit, streams)));
            } else {
                let churn = Churn::plan(left, o.churn_percent, expect, o.churn_away_ms);
                left -= 1;
                tasks.push(tokio::spawn(client(
                    addr, c, s, expect, permit, churn, o.arrival,
                )));
            }
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while connected.load(Ordering::Relaxed) < o.connections && Instant::now() < deadline {
            if tasks.iter().all(|t| t.is_finished()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let connect_time = t0.elapsed();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle =
            tokio::task::spawn_blocking(move || fetch(addr, "GET", "/stats").unwrap_or_default())
                .await
                .unwrap_or_default();

        let client_cpu0 = cpu_ms();
        let q = format!(
            "/run?rate={}&seconds={}&bytes={}",
            o.rate, o.seconds, o.bytes
        );
        let run = tokio::task::spawn_blocking(move || fetch(addr, "POST", &q).unwrap_or_default())
            .await
            .unwrap_or_default();
        // Let the last events arrive.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after =
            tokio::task::spawn_blocking(move || fetch(addr, "GET", "/stats").unwrap_or_default())
                .await
                .unwrap_or_default();
        let client_cpu = cpu_ms().saturating_sub(client_cpu0);
        let _ = stop_tx.send(true);
        let mut results = Vec::with_capacity(tasks.len());
        for t in tasks {
            if let Ok(Ok(r)) = tokio::time::timeout(Duration::from_secs(10), t).await {
                results.push(r);
            }
        }
        (connect_time, idle, run, after, results, client_cpu)
    });
    drop(child.stdin.take()); // the server exits when its stdin closes
    let _ = child.wait();

    let (connect_time, idle, run, after, results, client_cpu) = report;
    let held: usize = results.iter().map(|r| r.streams).sum();
    let tcp_conns = results.iter().filter(|r| r.connected).count();
    let errors: Vec<&String> = results.iter().filter_map(|r| r.error.as_ref()).collect();
    let churners = results.iter().filter(|r| r.reconnects > 0).count();
    let sent = field(&run, "sent");
    let expected = sent * held as u64;
    let summary = Summary::of(&results, sent);
    let Summary {
        ended,
        delivered,
        out_of_order,
        duplicates,
        replayed,
        reconnects,
        gaps,
        lost,
        ..
    } = summary;
    let rss0 = field(&before, "rss_kib");
    let rss1 = field(&idle, "rss_kib");
    let rss2 = field(&after, "rss_kib");
    let per_conn = (rss1.saturating_sub(rss0) as f64 * 1024.0) / held.max(1) as f64;
    let elapsed_ms = field(&run, "elapsed_ms").max(1);

    println!(
        "mode={} serve={:?} box_future={} nodelay={} max_buf_size={:?} writev={:?} backlog={} http2={} streams_per_conn={} h2_max_send_buf={:?}",
        o.mode.name(),
        o.serve,
        o.box_future,
        o.nodelay,
        o.max_buf_size,
        o.writev,
        o.backlog,
        o.http2,
        o.streams_per_conn,
        o.h2_max_send_buf
    );
    println!(
        "connections held {held}/{} over {tcp_conns} TCP connections ({}) (connected in {:.1} s), client errors {}{}",
        o.connections,
        if o.http2 { "HTTP/2" } else { "HTTP/1.1" },
        connect_time.as_secs_f64(),
        errors.len(),
        errors
            .first()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    );
    println!(
        "broadcasts sent {sent} at {}/s for {} s ({} bytes each): {run}",
        o.rate, o.seconds, o.bytes
    );
    println!(
        "delivered {delivered}/{expected} ({:.3}%), {:.0} events/s, lost {lost}, duplicated {duplicates}, out of order {out_of_order}, streams ended by server {ended}",
        100.0 * delivered as f64 / expected.max(1) as f64,
        delivered as f64 * 1000.0 / elapsed_ms as f64,
    );
    if o.churn_percent > 0 {
        println!(
            "churn: {churners} connections ({}%) dropped and reconnected {reconnects} times with Last-Event-ID (away up to {} ms): {replayed} events replayed, {gaps} gap signals",
            o.churn_percent, o.churn_away_ms
        );
    }
    summary.print_latency(o.arrival);
    println!(
        "server RSS: {rss0} KiB before, {rss1} KiB with {held} idle connections ({:.0} bytes = {:.1} KiB per connection), {rss2} KiB after the run",
        per_conn,
        per_conn / 1024.0
    );
    let run_ms = elapsed_ms + 500;
    let server_cpu = field(&after, "cpu_ms").saturating_sub(field(&idle, "cpu_ms"));
    println!(
        "CPU during the run: server {:.2} cores, client {:.2} cores (of {} on this machine; load average {})",
        server_cpu as f64 / run_ms as f64,
        client_cpu as f64 / run_ms as f64,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .next()
            .unwrap_or("?")
    );
    println!(
        "slow-consumer disconnects {} (hub), lagged events {} (broadcast channel)",
        field(&after, "slow"),
        field(&after, "lagged")
    );
}

// ---------------------------------------------------------------- `--demo PATH`

/// A field of `/proc/PID/status` (in KiB for `VmRSS`), 0 if unreadable.
fn proc_status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) of process `pid` so far, in milliseconds.
fn proc_cpu_ms(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = f.get(11)?.parse().ok()?;
            let stime: u64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) * 10)
        })
        .unwrap_or(0)
}

/// Starts `path 127.0.0.1:0 ARGS..`, reads `listening on http://ADDR/` from
/// its first lines, and drains the rest of its stdout on a thread (it logs
/// every stream request; an undrained pipe would stall it). An error if it
/// exits, or says nothing of the kind within 100 lines or 15 s.
fn spawn_demo(path: &str, args: &[String]) -> Result<(Child, SocketAddr), String> {
    let mut child = Command::new(path)
        .arg("127.0.0.1:0")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn {path}: {e}"))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads the address from the first lines, then drains the rest; bounded
    // by the child's life (read_until returns 0 once it exits).
    std::thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        for _ in 0..100 {
            line.clear();
            if stdout.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let addr: Option<SocketAddr> = line
                .trim()
                .strip_prefix("listening on http://")
                .and_then(|a| a.trim_end_matches('/').parse().ok());
            if let Some(addr) = addr {
                let _ = tx.send(addr);
                break;
            }
        }
        let mut sink = Vec::with_capacity(4096);
        while stdout.read_until(b'\n', &mut sink).unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    let Ok(addr) = rx.recv_timeout(Duration::from_secs(15)) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!(
            "{path} exited, or did not print `listening on http://ADDR/` within 15 s"
        ));
    };
    Ok((child, addr))
}

/// `rate` broadcasts a second for `seconds` to the demo's `POST /broadcast`, each
/// body `SEQ MICROS xxx..` of `bytes` bytes, over one keep-alive HTTP/1.1
/// connection; returns how many were answered `200`.
async fn demo_broadcasts(addr: SocketAddr, rate: u32, seconds: u64, bytes: usize) -> u64 {
    use http_body_util::BodyExt as _;
    let Ok(tcp) = TcpStream::connect(addr).await else {
        return 0;
    };
    let _ = tcp.set_nodelay(true);
    let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await
    else {
        return 0;
    };
    tokio::spawn(conn);
    let total = u64::from(rate) * seconds;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    let mut ok = 0;
    for seq in 0..total {
        tick.tick().await;
        let mut data = format!("{seq} {} ", now_micros());
        data.extend(std::iter::repeat_n('x', bytes.saturating_sub(data.len())));
        let req = http::Request::post(format!("http://{addr}/broadcast"))
            .header("host", "127.0.0.1")
            .header("content-type", "text/plain")
            .body(http_body_util::Full::new(bytes::Bytes::from(data)))
            .expect("request");
        if sender.ready().await.is_err() {
            eprintln!("load: broadcast connection closed after {seq} requests");
            break;
        }
        // Each exchange bounded: a server that stops answering ends the run.
        let exchange = async {
            let res = sender.send_request(req).await?;
            let status = res.status();
            res.into_body().collect().await.map(|_| status)
        };
        let status = match tokio::time::timeout(Duration::from_secs(10), exchange).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => {
                eprintln!("load: broadcast {seq}: {e}");
                break;
            }
            Err(_) => {
                eprintln!("load: broadcast {seq}: no answer within 10 s");
                break;
            }
        };
        if status == http::StatusCode::OK {
            ok += 1;
        }
    }
    ok
}

/// What one `--demo` run measured.
struct DemoRun {
    label: String,
    processes: usize,
    held: usize,
    sent: u64,
    summary: Summary,
    expected: u64,
    /// Sum over the processes of their RSS growth with the idle connections.
    per_conn_bytes: f64,
    /// Redis commands during the broadcasts (`INFO commandstats`), when on Redis.
    redis: Option<CommandCounts>,
}

/// `--demo PATH`: the shipped demo under the same load as the other modes; with
/// `--processes N` (N > 1) or `--redis URL`, N demos on one Redis first, then
/// the single in-memory demo (unless `--compare off`), and both side by side.
fn run_demo_driver(o: &Opts, path: &str) -> Result<(), String> {
    if o.processes <= 1 && o.redis.is_none() {
        run_demos(o, path, 1, None).map(|_| ())
    } else {
        // Our own redis-server when no URL is given; killed on drop.
        let own = match &o.redis {
            Some(_) => None,
            None => Some(OwnRedis::start()?),
        };
        let url = o
            .redis
            .clone()
            .or_else(|| own.as_ref().map(OwnRedis::url))
            .expect("a Redis URL");
        let on_redis = run_demos(o, path, o.processes.max(1), Some(&url))?;
        drop(own);
        if !o.compare {
            return Ok(());
        }
        println!();
        let alone = run_demos(o, path, 1, None)?;
        println!();
        compare(&[&on_redis, &alone]);
        Ok(())
    }
}

/// The kill-on-drop demo processes of one run.
struct Demos(Vec<(Child, SocketAddr)>);

impl Drop for Demos {
    fn drop(&mut self) {
        for (child, _) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `processes` demos (on `redis`, in a namespace of this run's own), the
/// connections split between them round-robin, the broadcasts sent to the
/// first one's `POST /broadcast`.
fn run_demos(
    o: &Opts,
    path: &str,
    processes: usize,
    redis: Option<&str>,
) -> Result<DemoRun, String> {
    let mut args = Vec::new();
    if let Some(url) = redis {
        let namespace = format!("load-{}-{}", std::process::id(), now_micros());
        args.extend([
            "--redis".into(),
            url.to_owned(),
            "--namespace".into(),
            namespace,
        ]);
    }
    if processes > 1 {
        // The processes share the machine's cores, as they would be told to
        // (`--workers`), rather than each run a thread per core.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        args.extend(["--workers".into(), (cores / processes).max(1).to_string()]);
    }
    let mut demos = Demos(Vec::with_capacity(processes));
    for _ in 0..processes {
        demos.0.push(spawn_demo(path, &args)?);
    }
    let addrs: Vec<SocketAddr> = demos.0.iter().map(|(_, a)| *a).collect();
    let pids: Vec<u32> = demos.0.iter().map(|(c, _)| c.id()).collect();
    for &addr in &addrs {
        let _ = fetch(addr, "GET", "/stats"); // warm up
    }
    std::thread::sleep(Duration::from_millis(200));
    let rss = |pids: &[u32]| -> u64 { pids.iter().map(|&p| proc_status_kib(p, "VmRSS:")).sum() };
    let cpu = |pids: &[u32]| -> u64 { pids.iter().map(|&p| proc_cpu_ms(p)).sum() };
    let rss0 = rss(&pids);
    let redis_addr = redis.map(redis_socket_addr).transpose()?;
    let stats0 = redis_addr.map(commandstats).transpose()?;

    // The publisher has a thread and a runtime of its own, as the application
    // that publishes would: on the clients' runtime, its requests waited behind
    // the 5,000 readers' tasks after their timestamp was taken.
    let (go, start) = std::sync::mpsc::channel::<()>();
    let (rate, seconds, bytes) = (o.rate, o.seconds, o.bytes);
    let publish_to = addrs[0];
    let publisher = std::thread::spawn(move || {
        if start.recv().is_err() {
            return 0;
        }
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_or(0, |rt| {
                rt.block_on(demo_broadcasts(publish_to, rate, seconds, bytes))
            })
    });
    let rt = client_runtime(o);
    let expect = (o.rate as u64 * o.seconds) as usize;
    let (stop_tx, stop_rx) = watch::channel(false);
    let connected = Arc::new(AtomicUsize::new(0));
    let measured = rt.block_on(async {
        let t0 = Instant::now();
        let gate = Arc::new(Semaphore::new(o.connect_concurrency));
        let mut tasks = Vec::with_capacity(o.connections);
        for i in 0..o.connections {
            let permit = gate.clone().acquire_owned().await.expect("semaphore");
            let (c, s) = (connected.clone(), stop_rx.clone());
            let churn = Churn::plan(i, o.churn_percent, expect, o.churn_away_ms);
            let addr = addrs[i % addrs.len()];
            tasks.push(tokio::spawn(client(
                addr, c, s, expect, permit, churn, o.arrival,
            )));
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while connected.load(Ordering::Relaxed) < o.connections && Instant::now() < deadline {
            if tasks.iter().all(|t| t.is_finished()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let connect_time = t0.elapsed();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss1 = rss(&pids);
        let cpu1 = cpu(&pids);
        let stats1 = redis_addr.map(commandstats).transpose()?;
        let client_cpu0 = cpu_ms();
        let t = Instant::now();
        let _ = go.send(());
        let sent = tokio::task::spawn_blocking(move || publisher.join().unwrap_or(0))
            .await
            .unwrap_or(0);
        // Let the last events arrive.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let stats2 = redis_addr.map(commandstats).transpose()?;
        let run_ms = t.elapsed().as_millis() as u64;
        let client_cpu = cpu_ms().saturating_sub(client_cpu0);
        let _ = stop_tx.send(true);
        // With the process each client read (client `i` read process `i % N`).
        let mut results = Vec::with_capacity(tasks.len());
        for (i, t) in tasks.into_iter().enumerate() {
            if let Ok(Ok(r)) = tokio::time::timeout(Duration::from_secs(10), t).await {
                results.push((i % addrs.len(), r));
            }
        }
        Ok::<_, String>((
            connect_time,
            rss1,
            cpu1,
            [stats1, stats2],
            sent,
            run_ms,
            results,
            client_cpu,
        ))
    });
    let (connect_time, rss1, cpu1, [stats1, stats2], sent, run_ms, results, client_cpu) = measured?;
    let rss2 = rss(&pids);
    let server_cpu = cpu(&pids).saturating_sub(cpu1);
    // The bus counters of every process, before they go.
    let bus: Vec<String> = addrs
        .iter()
        .map(|&a| fetch(a, "GET", "/stats").unwrap_or_default())
        .collect();
    drop(demos);

    // Latency by the process the clients read: the first one got each
    // broadcast from its own handler, the others from Redis.
    let mut by_process = vec![Vec::new(); processes];
    for (p, r) in &results {
        by_process[*p].extend_from_slice(&r.latencies_us);
    }
    let results: Vec<ClientResult> = results.into_iter().map(|(_, r)| r).collect();
    let held = results.iter().filter(|r| r.connected).count();
    let errors: Vec<&String> = results.iter().filter_map(|r| r.error.as_ref()).collect();
    let expected = sent * held as u64;
    let summary = Summary::of(&results, sent);
    let per_conn = (rss1.saturating_sub(rss0) as f64 * 1024.0) / held.max(1) as f64;
    let label = match redis {
        Some(url) if processes > 1 => format!(
            "{processes} demo processes on Redis {url} (--workers {} each)",
            (std::thread::available_parallelism().map_or(2, |n| n.get()) / processes).max(1)
        ),
        Some(url) => format!("1 demo process on Redis {url}"),
        None => "1 demo process, in-memory hub".to_owned(),
    };
    println!("demo={path}: {label}");
    println!(
        "connections held {held}/{} split between {processes} process(es) (connected in {:.1} s), client errors {}{}",
        o.connections,
        connect_time.as_secs_f64(),
        errors.len(),
        errors
            .first()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    );
    println!(
        "broadcasts sent {sent} at {}/s for {} s ({} bytes each) to POST /broadcast of the first process",
        o.rate, o.seconds, o.bytes
    );
    let Summary {
        ended,
        delivered,
        out_of_order,
        duplicates,
        replayed,
        reconnects,
        gaps,
        lost,
        ..
    } = &summary;
    println!(
        "delivered {delivered}/{expected} ({:.3}%), lost {lost}, duplicated {duplicates}, out of order {out_of_order}, streams ended by server {ended}",
        100.0 * *delivered as f64 / expected.max(1) as f64,
    );
    if o.churn_percent > 0 {
        println!(
            "churn: {reconnects} reconnects with Last-Event-ID ({}% of the connections, away up to {} ms): {replayed} events replayed, {gaps} gap signals",
            o.churn_percent, o.churn_away_ms
        );
    }
    summary.print_latency(o.arrival);
    if processes > 1 {
        for (p, lat) in by_process.iter_mut().enumerate() {
            lat.sort_unstable();
            println!(
                "  clients of process {p} ({}): p50 {:.2} ms, p99 {:.2} ms",
                if p == 0 {
                    "it takes the POSTs"
                } else {
                    "from Redis"
                },
                percentile(lat, 0.50),
                percentile(lat, 0.99)
            );
        }
    }
    println!(
        "server RSS (sum of the processes): {rss0} KiB before, {rss1} KiB with {held} idle connections ({per_conn:.0} bytes = {:.1} KiB per connection), {rss2} KiB after the run",
        per_conn / 1024.0
    );
    println!(
        "CPU during the run: servers {:.2} cores, client {:.2} cores (load average {})",
        server_cpu as f64 / run_ms.max(1) as f64,
        client_cpu as f64 / run_ms.max(1) as f64,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .next()
            .unwrap_or("?")
    );
    let mut counts = None;
    if let (Some(addr), Some(s0), Some(s1), Some(s2)) = (redis_addr, stats0, stats1, stats2) {
        let flags = command_flags(addr, s2.keys().map(String::as_str))?;
        let accept = CommandCounts::between(&s0, &s1, &flags);
        let run = CommandCounts::between(&s1, &s2, &flags);
        println!(
            "redis commands while {held} connections opened: {} writes, {} reads, {} other = {:.2} writes + {:.2} reads per connection [{}]",
            accept.writes + accept.records,
            accept.reads,
            accept.other,
            (accept.writes + accept.records) as f64 / held.max(1) as f64,
            accept.reads as f64 / held.max(1) as f64,
            accept.detail
        );
        println!(
            "redis commands during the {sent} broadcasts: {} writes, {} reads, {} other = {:.2} writes + {:.2} reads + {:.2} other per broadcast, and {} writes of session records ({:.2} per connection) [{}]",
            run.writes,
            run.reads,
            run.other,
            run.writes as f64 / sent.max(1) as f64,
            run.reads as f64 / sent.max(1) as f64,
            run.other as f64 / sent.max(1) as f64,
            run.records,
            run.records as f64 / held.max(1) as f64,
            run.detail
        );
        for (i, stats) in bus.iter().enumerate() {
            let json: serde_json::Value = serde_json::from_str(stats).unwrap_or_default();
            println!("process {i} bus: {}", json["bus"]);
        }
        counts = Some(run);
    }
    Ok(DemoRun {
        label,
        processes,
        held,
        sent,
        summary,
        expected,
        per_conn_bytes: per_conn,
        redis: counts,
    })
}

/// The runs side by side.
fn compare(runs: &[&DemoRun]) {
    println!("| demo | processes | held | delivered | lost | p50 | p99 | server RSS / connection | Redis writes / broadcast | Redis reads / broadcast |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in runs {
        let per_broadcast = |n: u64| n as f64 / r.sent.max(1) as f64;
        let (w, rd) = r.redis.as_ref().map_or(("—".into(), "—".into()), |c| {
            (
                format!("{:.2}", per_broadcast(c.writes)),
                format!("{:.2}", per_broadcast(c.reads)),
            )
        });
        println!(
            "| {} | {} | {} | {:.3} % | {} | {:.1} ms | {:.1} ms | {:.1} KiB | {w} | {rd} |",
            r.label,
            r.processes,
            r.held,
            100.0 * r.summary.delivered as f64 / r.expected.max(1) as f64,
            r.summary.lost,
            percentile(&r.summary.lat, 0.50),
            percentile(&r.summary.lat, 0.99),
            r.per_conn_bytes / 1024.0
        );
    }
    if let [on_redis, alone] = runs {
        println!(
            "p99 on Redis / p99 in memory: {:.2}x",
            percentile(&on_redis.summary.lat, 0.99) / percentile(&alone.summary.lat, 0.99)
        );
    }
}

// ---------------------------------------------------------------- Redis

/// A `redis-server` of the tool's own (`--processes N` without `--redis`):
/// 127.0.0.1, a free port, no persistence, a temporary directory; killed on
/// drop. Debian's `/usr/bin/redis-server` (`apt-get install redis-server`).
struct OwnRedis {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl OwnRedis {
    const BIN: &'static str = "/usr/bin/redis-server";

    fn start() -> Result<OwnRedis, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("a free port: {e}"))?
            .port();
        let dir =
            std::env::temp_dir().join(format!("sse-session-load-redis-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let child = Command::new(Self::BIN)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "starting {} ({e}): install it (apt-get install redis-server) or pass --redis URL",
                    Self::BIN
                )
            })?;
        let own = OwnRedis { child, port, dir };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !matches!(resp_command(addr, &["PING"]), Ok(Resp::Simple(ref s)) if s == "PONG") {
            if Instant::now() > deadline {
                return Err(format!(
                    "{} on port {port} did not answer PING in 10 s",
                    Self::BIN
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(own)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `host:port` of a `redis://[user[:password]@]host:port[/db]` URL (the tool
/// asks that Redis `INFO commandstats` itself; no authentication).
fn redis_socket_addr(url: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs as _;
    let rest = url.strip_prefix("redis://").ok_or_else(|| {
        format!("{url}: the load tool reads commandstats from redis:// URLs only")
    })?;
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = host.split('/').next().unwrap_or(host);
    let host = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:6379")
    };
    host.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("{url}: cannot resolve {host}"))
}

/// One RESP2 reply.
#[derive(Debug)]
enum Resp {
    Simple(String),
    Error(String),
    /// (Its value is not needed here.)
    Int,
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Resp>>),
}

/// Sends one command and reads its reply (at most 5 s).
fn resp_command(addr: SocketAddr, args: &[&str]) -> Result<Resp, String> {
    let tcp = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("redis {addr}: {e}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    (&tcp)
        .write_all(req.as_bytes())
        .map_err(|e| format!("redis {addr}: {e}"))?;
    match read_resp(&mut BufReader::new(tcp), 0)? {
        Resp::Error(e) => Err(format!("redis {addr}: {} answered {e}", args.join(" "))),
        reply => Ok(reply),
    }
}

/// Reads one reply; nesting bounded (the replies read here are 3 deep).
fn read_resp(r: &mut impl BufRead, depth: u32) -> Result<Resp, String> {
    if depth > 8 {
        return Err("redis reply nested too deep".into());
    }
    let mut line = String::new();
    r.read_line(&mut line)
        .map_err(|e| format!("redis reply: {e}"))?;
    let line = line.trim_end_matches("\r\n");
    let (kind, rest) = line
        .split_at_checked(1)
        .ok_or("redis closed the connection")?;
    let len = || {
        rest.parse::<i64>()
            .map_err(|_| format!("redis reply: bad length {rest:?}"))
    };
    Ok(match kind {
        "+" => Resp::Simple(rest.to_owned()),
        "-" => Resp::Error(rest.to_owned()),
        ":" => {
            len()?;
            Resp::Int
        }
        "$" => match usize::try_from(len()?) {
            Err(_) => Resp::Bulk(None),
            Ok(n) if n > 64 << 20 => return Err("redis reply too large".into()),
            Ok(n) => {
                let mut buf = vec![0; n + 2];
                r.read_exact(&mut buf)
                    .map_err(|e| format!("redis reply: {e}"))?;
                buf.truncate(n);
                Resp::Bulk(Some(buf))
            }
        },
        "*" => match usize::try_from(len()?) {
            Err(_) => Resp::Array(None),
            Ok(n) if n > 1 << 16 => return Err("redis reply too long".into()),
            Ok(n) => {
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(read_resp(r, depth + 1)?);
                }
                Resp::Array(Some(items))
            }
        },
        other => return Err(format!("redis reply: unknown type {other:?}")),
    })
}

/// `calls` per command from `INFO commandstats` (`cmdstat_<name>:calls=N,..`).
fn commandstats(addr: SocketAddr) -> Result<HashMap<String, u64>, String> {
    let Resp::Bulk(Some(info)) = resp_command(addr, &["INFO", "commandstats"])? else {
        return Err("INFO commandstats: not a bulk string".into());
    };
    Ok(String::from_utf8_lossy(&info)
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect())
}

/// Whether each command writes (`write` flag, `PUBLISH`, and the scripts
/// the bus numbers its sends with), only reads
/// (`readonly`), or neither (subscriptions, `PING`, other connection and
/// server commands), from `COMMAND INFO`.
fn command_flags<'a>(
    addr: SocketAddr,
    names: impl Iterator<Item = &'a str>,
) -> Result<HashMap<String, Class>, String> {
    let names: Vec<&str> = names.collect();
    let mut args = vec!["COMMAND", "INFO"];
    args.extend(names.iter().copied());
    let Resp::Array(Some(infos)) = resp_command(addr, &args)? else {
        return Err("COMMAND INFO: not an array".into());
    };
    let mut classes = HashMap::new();
    for (name, info) in names.iter().zip(infos) {
        // `PUBLISH` has no `write` flag (it stores nothing), nor do the
        // script commands (their flags are the script's): the bus's sends
        // are `EVALSHA` of a script that writes. Counted as writes.
        let mut class = if matches!(*name, "publish" | "spublish" | "evalsha" | "eval" | "fcall") {
            Class::Write
        } else {
            Class::Other
        };
        if let Resp::Array(Some(fields)) = info {
            if let Some(Resp::Array(Some(flags))) = fields.get(2) {
                for flag in flags {
                    match flag {
                        Resp::Simple(f) if f == "write" => class = Class::Write,
                        Resp::Simple(f) if f == "readonly" && class == Class::Other => {
                            class = Class::Read;
                        }
                        _ => {}
                    }
                }
            }
        }
        classes.insert((*name).to_owned(), class);
    }
    Ok(classes)
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Class {
    Write,
    Read,
    Other,
}

/// Commands called between two `INFO commandstats`, by class.
struct CommandCounts {
    writes: u64,
    /// Writes of session records (`HSET`, `HDEL`, `PEXPIRE`, `DEL`): per
    /// connection (an accept, and a refresh every half resume window), not
    /// per broadcast; left out of `writes`.
    records: u64,
    reads: u64,
    other: u64,
    /// `name: calls` of each command called (the tool's own `INFO` left out).
    detail: String,
}

impl CommandCounts {
    fn between(
        before: &HashMap<String, u64>,
        after: &HashMap<String, u64>,
        flags: &HashMap<String, Class>,
    ) -> CommandCounts {
        let mut c = CommandCounts {
            writes: 0,
            records: 0,
            reads: 0,
            other: 0,
            detail: String::new(),
        };
        let calls = |name: &str| {
            after
                .get(name)
                .copied()
                .unwrap_or(0)
                .saturating_sub(before.get(name).copied().unwrap_or(0))
        };
        // Redis counts the commands a script runs in `commandstats` too: each
        // `EVALSHA` of the bus's numbering script runs one `EXISTS`, one
        // `INCR` and one `XADD` inside it. Those are part of the one command
        // the client sent, not commands of their own.
        let scripts = calls("evalsha");
        let mut names: Vec<&String> = after.keys().collect();
        names.sort();
        for name in names {
            // The tool's own questions.
            if name == "info" || name.starts_with("command") {
                continue;
            }
            let mut n = calls(name);
            if matches!(name.as_str(), "exists" | "incr" | "xadd") {
                let inner = n.min(scripts);
                if inner > 0 {
                    c.detail.push_str(&format!(
                        "{}{name} {inner} inside evalsha",
                        if c.detail.is_empty() { "" } else { ", " }
                    ));
                }
                n -= inner;
            }
            if n == 0 {
                continue;
            }
            let class = flags.get(name).copied().unwrap_or(Class::Other);
            let record = matches!(name.as_str(), "hset" | "hdel" | "pexpire" | "del");
            match class {
                Class::Write if record => c.records += n,
                Class::Write => c.writes += n,
                Class::Read => c.reads += n,
                Class::Other => c.other += n,
            }
            if !c.detail.is_empty() {
                c.detail.push_str(", ");
            }
            let tag = match class {
                Class::Write => "w",
                Class::Read => "r",
                Class::Other => "o",
            };
            c.detail.push_str(&format!("{name} {n} ({tag})"));
        }
        c
    }
}
