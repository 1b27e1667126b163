//! Fan-out: one broadcast to 1k, 10k and 100k live connections, bodies polled
//! in-process, for the hub next to the way it is usually done with axum (`Sse` over a
//! `tokio::sync::broadcast` channel: `BroadcastStream` → `axum::response::sse::Event` →
//! `Sse::new(..).keep_alive(..).into_response()`).
//!
//! Timed: one broadcast of a 100-byte event plus draining every connection's body
//! with `poll_frame`, checking that each one produced the frame (what a server does
//! for each connection, minus the socket write). Three ways:
//!
//! - `hub`: `Hub::broadcast`: the event is numbered and stored once, each connection
//!   gets the shared frame and writes its own `id: <session>.<seq>` line in front of it
//!   when its body is polled (one small copy per connection);
//! - `shared-frame`: the same connections fed one shared `Bytes` frame with no `id:`
//!   line (`Sender::send_bytes` on each): what the hub did before events carried a
//!   cursor, so `hub / shared-frame` is the cost of the per-connection part;
//! - `axum-broadcast`: the usual way.
//!
//! Printed once per size, outside timing: bytes of heap per idle connection (a global
//! allocator that counts live bytes: bytes held after opening N connections and
//! polling each body once, divided by N). Both sides keep the default 15 s keep-alive,
//! so both hold an armed timer per connection.
//!
//! Run from `benches/`: `cargo bench --bench fanout`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::convert::Infallible;
use std::future::ready;
use std::pin::Pin;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::response::sse::{Event as AxumEvent, KeepAlive, Sse};
use axum::response::IntoResponse;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures_util::StreamExt;
use http_body::Body;
use sse_session::event::Event;
use sse_session::live::{Accepted, Hub, Sender, SessionConfig, Sessions, SseBody};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

// ------------------------------------------------------------- live heap bytes

struct CountingBytes;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call unchanged to `System`; only adds a relaxed counter.
unsafe impl GlobalAlloc for CountingBytes {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingBytes = CountingBytes;

fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}

// ------------------------------------------------------------- helpers

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
const DATA_LEN: usize = 100;

fn data() -> String {
    "x".repeat(DATA_LEN)
}

fn cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

/// Polls a body once; returns the length of the data frame it had ready, if any.
fn poll_once<B>(body: &mut B, cx: &mut Context<'_>) -> Option<usize>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    match Pin::new(body).poll_frame(cx) {
        Poll::Ready(Some(Ok(frame))) => Some(frame.into_data().map_or(0, |d| d.len())),
        Poll::Ready(Some(Err(e))) => panic!("body failed: {e:?}"),
        Poll::Ready(None) => panic!("body ended"),
        Poll::Pending => None,
    }
}

/// Drains what each body has ready; every body must yield exactly one frame of
/// `frame_len` bytes. Returns the number of bodies that did.
fn drain_all<B>(bodies: &mut [B], frame_len: impl Fn(usize) -> usize) -> usize
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    let mut cx = cx();
    let mut got = 0;
    for (i, body) in bodies.iter_mut().enumerate() {
        let len = poll_once(body, &mut cx).expect("a frame for every connection");
        assert_eq!(len, frame_len(i));
        assert_eq!(poll_once(body, &mut cx), None, "exactly one frame");
        got += 1;
    }
    got
}

// ------------------------------------------------------------- the hub

/// The parts of an `EventSource` request for the stream.
fn event_stream_request() -> axum::http::request::Parts {
    axum::http::Request::get("/events")
        .header("accept", "text/event-stream")
        .body(())
        .expect("request")
        .into_parts()
        .0
}

/// Polls a new connection's first frame (its `id:`) out, and checks that the
/// body is then idle with its keep-alive armed.
fn take_first_frame(body: &mut SseBody, cx: &mut Context<'_>) {
    assert!(poll_once(body, cx).is_some(), "the first frame (id:)");
    assert_eq!(poll_once(body, cx), None, "idle, keep-alive armed");
}

struct HubSide {
    hub: Hub,
    bodies: Vec<SseBody>,
}

fn hub_side(rt: &tokio::runtime::Runtime, n: usize) -> HubSide {
    let parts = event_stream_request();
    let hub = Hub::new(SessionConfig::default());
    let mut bodies = Vec::with_capacity(n);
    rt.block_on(async {
        let mut cx = cx();
        for _ in 0..n {
            let Accepted::Open(conn) = hub.accept(&parts, None).await else {
                unreachable!("a fresh session is never closed")
            };
            let (tx, mut body) = conn.into_parts();
            drop(tx); // the hub keeps its own sender
            take_first_frame(&mut body, &mut cx);
            bodies.push(body);
        }
    });
    HubSide { hub, bodies }
}

/// The same connections without the hub (a `Sessions` and the senders kept in a
/// `Vec`): what the live stream costs by itself, to tell it apart from the hub's share.
fn sessions_side(rt: &tokio::runtime::Runtime, n: usize) -> (Vec<Sender>, Vec<SseBody>) {
    let parts = event_stream_request();
    let sessions = Sessions::new(SessionConfig::default());
    let mut senders = Vec::with_capacity(n);
    let mut bodies = Vec::with_capacity(n);
    rt.block_on(async {
        let mut cx = cx();
        for _ in 0..n {
            let Accepted::Open(conn) = sessions.accept(&parts).await else {
                unreachable!("a fresh session is never closed")
            };
            let (tx, mut body) = conn.into_parts();
            take_first_frame(&mut body, &mut cx);
            senders.push(tx);
            bodies.push(body);
        }
    });
    (senders, bodies)
}

// ------------------------------------------------------------- axum + broadcast

type AxumBody = axum::body::Body;

struct AxumSide {
    tx: broadcast::Sender<String>,
    bodies: Vec<AxumBody>,
}

fn axum_side(rt: &tokio::runtime::Runtime, n: usize) -> AxumSide {
    let (tx, _) = broadcast::channel::<String>(16);
    let mut bodies = Vec::with_capacity(n);
    rt.block_on(async {
        let mut cx = cx();
        for _ in 0..n {
            let stream = BroadcastStream::new(tx.subscribe()).filter_map(|item| {
                ready(
                    item.ok()
                        .map(|data| Ok::<_, Infallible>(AxumEvent::default().data(data))),
                )
            });
            let mut body = Sse::new(stream)
                .keep_alive(KeepAlive::default())
                .into_response()
                .into_body();
            assert_eq!(
                poll_once(&mut body, &mut cx),
                None,
                "idle, keep-alive armed"
            );
            bodies.push(body);
        }
    });
    AxumSide { tx, bodies }
}

// ------------------------------------------------------------- benches

fn memory_per_connection<T>(n: usize, make: impl FnOnce() -> T) -> (f64, T) {
    let before = live_bytes();
    let side = make();
    let after = live_bytes();
    ((after - before) as f64 / n as f64, side)
}

fn fanout(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let _enter = rt.enter();
    let event = Event::new(data());
    let frame_len = event.to_bytes().len();
    let axum_frame_len = format!("data: {}\n\n", data()).len();

    let mut group = c.benchmark_group("fanout");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    for n in SIZES {
        group.throughput(Throughput::Elements(n as u64));

        let (hub_mem, mut hub) = memory_per_connection(n, || hub_side(&rt, n));
        group.bench_with_input(BenchmarkId::new("hub", n), &n, |b, &n| {
            b.iter(|| {
                let sent = hub.hub.broadcast(&event);
                assert_eq!(sent.live, n);
                let seq = sent.seq.expect("numbered");
                // `id: <36-character session>.<seq>\n` in front of the shared frame.
                let with_id = frame_len + "id: .\n".len() + 36 + seq.to_string().len();
                assert_eq!(drain_all(&mut hub.bodies, |_| with_id), n);
            });
        });
        drop(hub);

        let (mut senders, mut bodies) = sessions_side(&rt, n);
        let shared = event.to_bytes();
        group.bench_with_input(BenchmarkId::new("shared-frame", n), &n, |b, &n| {
            b.iter(|| {
                for tx in &mut senders {
                    tx.send_bytes(shared.clone()).expect("room");
                }
                assert_eq!(drain_all(&mut bodies, |_| frame_len), n);
            });
        });
        drop((senders, bodies));

        let (axum_mem, mut axum) = memory_per_connection(n, || axum_side(&rt, n));
        group.bench_with_input(BenchmarkId::new("axum-broadcast", n), &n, |b, &n| {
            b.iter(|| {
                assert_eq!(axum.tx.send(data()).expect("receivers"), n);
                assert_eq!(drain_all(&mut axum.bodies, |_| axum_frame_len), n);
            });
        });
        drop(axum);

        let (live_mem, live) = memory_per_connection(n, || sessions_side(&rt, n));
        drop(live);

        println!(
            "fanout/memory/{n}: heap per idle connection: hub {hub_mem:.0} bytes \
             (of which the stream without the hub {live_mem:.0}), \
             axum-broadcast {axum_mem:.0} bytes"
        );
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
