//! Events per second end to end over loopback: a client connects to a server on
//! 127.0.0.1 (port 0, started inside the bench), reads one stream of N events and
//! checks each one. Three clients, in the same run:
//!
//! - `sse-session`: `sse_session::client::EventSource` (reqwest 0.13, hyper 1, this
//!   crate's parser, the reconnect machine);
//! - `reqwest-eventsource`: reqwest-eventsource 0.6.0 over reqwest 0.12
//!   (eventsource-stream's parser);
//! - `eventsource-client`: LaunchDarkly's eventsource-client 0.18.0 over its hyper 1
//!   transport (`launchdarkly-sdk-transport`), reconnects off.
//!
//! The server runs on its own thread and runtime and writes one pre-encoded body
//! (HTTP/1.1, `Content-Length`) to each connection, so every client reads exactly
//! the same bytes; the client side runs on a current-thread runtime on the bench's
//! thread. A pass is: build the client, connect, read N events, check every event's
//! data, ID and order, drop the client. The connection setup is inside the timing
//! (under 1 % of a pass at N = 20 000).
//!
//! Like `interleaved`, every contender runs once in every round, the order rotates
//! each round, and the report gives each one's median over the rounds and the
//! ratios of the medians, so that a noisy host (2 shared cores) tilts all of them
//! alike.
//!
//! ```sh
//! cargo bench --bench client            # 15 rounds, 20 000 events of ~70 bytes
//! cargo bench --bench client -- 31      # 31 rounds
//! ```

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const EVENTS: usize = 20_000;

/// The data of event `i` (an LLM-style token delta).
fn data(i: usize) -> String {
    format!(r#"{{"delta":"token {i:06}","index":{i}}}"#)
}

/// The whole response: head and body.
fn response() -> Bytes {
    let mut body = String::new();
    for i in 0..EVENTS {
        body.push_str(&format!("id: {i}\ndata: {}\n\n", data(i)));
    }
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    Bytes::from(head + &body)
}

/// A server on 127.0.0.1 port 0 on its own thread: every connection gets `response`.
fn server(response: Bytes) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            tx.send(listener.local_addr().expect("addr"))
                .expect("send addr");
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    continue;
                };
                let response = response.clone();
                tokio::spawn(async move {
                    let _ = socket.set_nodelay(true);
                    // Read the request head (bounded), then write the response.
                    let mut head = Vec::with_capacity(1024);
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    // A client that stops reading after N events may close first.
                    let _ = socket.write_all(&response).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
    });
    rx.recv().expect("server address")
}

/// Checks event `i` of a pass.
fn check(i: usize, data_got: &str, id: &str) {
    assert_eq!(data_got, data(i), "event {i}'s data");
    assert_eq!(id, i.to_string(), "event {i}'s id");
}

async fn ours(url: &str) {
    use sse_session::client::{EventSource, Item};
    let mut es = EventSource::new(url).expect("client");
    let mut i = 0;
    while i < EVENTS {
        match es.next().await.expect("stream goes on").expect("no error") {
            Item::Event(e) => {
                check(i, e.data(), e.last_event_id());
                i += 1;
            }
            Item::Open { .. } => {}
            other => panic!("{other:?}"),
        }
    }
}

async fn reqwest_eventsource(url: &str) {
    use reqwest_eventsource::{Event, EventSource};
    let mut es = EventSource::new(reqwest_0_12::Client::new().get(url)).expect("client");
    let mut i = 0;
    while i < EVENTS {
        match es.next().await.expect("stream goes on").expect("no error") {
            Event::Message(m) => {
                check(i, &m.data, &m.id);
                i += 1;
            }
            Event::Open => {}
        }
    }
    es.close();
}

async fn eventsource_client(url: &str) {
    use eventsource_client::{Client, ClientBuilder, ReconnectOptions, SSE};
    use launchdarkly_sdk_transport::HyperTransport;
    let client = ClientBuilder::for_url(url)
        .expect("url")
        .reconnect(ReconnectOptions::reconnect(false).build())
        .build_with_transport(HyperTransport::builder().build_http().expect("transport"));
    let mut stream = client.stream();
    let mut i = 0;
    while i < EVENTS {
        match stream
            .next()
            .await
            .expect("stream goes on")
            .expect("no error")
        {
            SSE::Event(e) => {
                check(i, &e.data, e.id.as_deref().unwrap_or(""));
                i += 1;
            }
            SSE::Connected(_) | SSE::Comment(_) => {}
        }
    }
}

const NAMES: [&str; 3] = ["sse-session", "reqwest-eventsource", "eventsource-client"];

async fn pass(which: usize, url: &str) -> Duration {
    let start = Instant::now();
    match which {
        0 => ours(url).await,
        1 => reqwest_eventsource(url).await,
        _ => eventsource_client(url).await,
    }
    start.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(15);
    let response = response();
    let bytes = response.len();
    let addr = server(response);
    let url = format!("http://{addr}/events");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    println!(
        "client: {EVENTS} events ({} bytes) per pass over loopback, {rounds} rounds",
        bytes
    );
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); NAMES.len()];
    rt.block_on(async {
        // Warm-up: one untimed pass each.
        for which in 0..NAMES.len() {
            pass(which, &url).await;
        }
        for round in 0..rounds {
            for k in 0..NAMES.len() {
                let which = (round + k) % NAMES.len();
                times[which].push(pass(which, &url).await);
            }
        }
    });
    let medians: Vec<Duration> = times.into_iter().map(median).collect();
    let rate = |d: Duration| EVENTS as f64 / d.as_secs_f64();
    for (name, m) in NAMES.iter().zip(&medians) {
        println!(
            "  {name:<20} median {:>8.2} ms  {:>10.0} events/s  {:>7.1} MiB/s",
            m.as_secs_f64() * 1e3,
            rate(*m),
            bytes as f64 / m.as_secs_f64() / (1 << 20) as f64
        );
    }
    for (name, m) in NAMES.iter().zip(&medians).skip(1) {
        println!(
            "  sse-session / {name}: {:.2}x the events/s",
            rate(medians[0]) / rate(*m)
        );
    }
}
