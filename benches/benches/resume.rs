//! Resume: what a reconnecting tab costs, and what the hub holds for tabs that are
//! away.
//!
//! Timed (criterion): a session that missed 10,000 events reconnects with its
//! cursor; the accept (the hub merges and snapshots the missed events) plus draining
//! the whole replay from the body with `poll_frame`, checking the byte count. Two
//! cases: 10,000 events sent to the session itself (its mailbox), and 10,000
//! broadcasts (the shared history). Throughput is in replayed events.
//!
//! Printed once, outside timing (a global allocator that counts live heap bytes):
//!
//! - heap per away session with an empty mailbox (10,000 sessions whose connection
//!   dropped);
//! - heap per queued event reference: one `send_to_user` event reaching 1,000 away
//!   sessions of a user, 100 times: the growth minus the 100 stored events, divided
//!   by 100,000 references;
//! - heap per broadcast held for 10,000 away sessions (stored once: independent of
//!   how many sessions are away).
//!
//! Run from `benches/`: `cargo bench --bench resume`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::pin::Pin;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use http_body::Body;
use sse_session::event::Event;
use sse_session::live::{Accepted, Hub, HubConfig, Resume, SessionConfig, SseBody, UserKey};
use sse_session::SessionId;

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

const MISSED: usize = 10_000;
const DATA: &str = "a 36-byte payload of the missed event";

fn request(query: &str) -> http::request::Parts {
    http::Request::get(format!("/events{query}"))
        .header("accept", "text/event-stream")
        .body(())
        .expect("request")
        .into_parts()
        .0
}

fn new_hub() -> Hub {
    // Room for every missed event in the histories.
    Hub::with_config(
        SessionConfig::default().keep_alive(None),
        HubConfig::default()
            .mailbox_events(MISSED)
            .history_events(MISSED),
    )
}

/// Opens `query`'s session and drops the connection (the session is then away);
/// returns its cursor.
fn away(rt: &tokio::runtime::Runtime, hub: &Hub, query: &str) -> u64 {
    rt.block_on(async {
        let Accepted::Open(conn) = hub.accept(&request(query), None).await else {
            unreachable!("nothing is closed")
        };
        conn.cursor().expect("a hub numbers its streams")
    })
}

/// Drains a body that has everything ready; returns the bytes it yielded.
fn drain(body: &mut SseBody) -> usize {
    let mut cx = Context::from_waker(Waker::noop());
    let mut total = 0;
    loop {
        match Pin::new(&mut *body).poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(frame))) => total += frame.into_data().map_or(0, |d| d.len()),
            Poll::Ready(Some(Err(never))) => match never {},
            Poll::Ready(None) | Poll::Pending => return total,
        }
    }
}

/// A hub whose session `tab` missed `MISSED` events (sent to it, or broadcast);
/// the reconnect request and the bytes its stream must carry.
fn missed(rt: &tokio::runtime::Runtime, broadcast: bool) -> (Hub, http::request::Parts, usize) {
    let hub = new_hub();
    let cursor = away(rt, &hub, "?id=tab");
    let id = SessionId::from_static("tab");
    let event = Event::new(DATA);
    let mut bytes = 0;
    for _ in 0..MISSED {
        let sent = if broadcast {
            hub.broadcast(&event)
        } else {
            hub.send_to_session(&id, &event)
        };
        let seq = sent.seq.expect("queued");
        bytes += format!("id: tab.{seq}\n").len() + event.encoded_len();
    }
    let back = request(&format!("?id=tab.{cursor}"));
    let first = format!("retry: 3000\nid: tab.{cursor}\n\n").len();
    (hub, back, bytes + first)
}

fn replay(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let _enter = rt.enter();
    let mut group = c.benchmark_group("resume/replay-10k");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(MISSED as u64));
    for (name, broadcast) in [("mailbox", false), ("broadcast-history", true)] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || missed(&rt, broadcast),
                |(hub, back, bytes)| {
                    let conn = rt.block_on(async {
                        match hub.accept(&back, None).await {
                            Accepted::Open(conn) => conn,
                            Accepted::Closed(_) => unreachable!("not closed"),
                        }
                    });
                    assert_eq!(conn.resume(), Resume::Recovered { replayed: MISSED });
                    let (tx, mut body) = conn.into_parts();
                    assert_eq!(drain(&mut body), bytes);
                    (hub, tx, body) // dropped outside the timing
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
    memory(&rt);
}

fn memory(rt: &tokio::runtime::Runtime) {
    // Away sessions with an empty mailbox.
    const SESSIONS: usize = 10_000;
    let hub = new_hub();
    let before = live_bytes();
    for i in 0..SESSIONS {
        away(rt, &hub, &format!("?id=away-{i:05}"));
    }
    let per_session = (live_bytes() - before) as f64 / SESSIONS as f64;
    assert_eq!(hub.away_count(), SESSIONS);

    // Broadcasts held for them: stored once each.
    const BROADCASTS: usize = 100;
    let event = Event::new(DATA);
    let before = live_bytes();
    for _ in 0..BROADCASTS {
        assert_eq!(hub.broadcast(&event).queued, SESSIONS);
    }
    let per_broadcast = (live_bytes() - before) as f64 / BROADCASTS as f64;
    drop(hub);

    // Queued references: a user's 1,000 away sessions, 100 user events.
    const USER_SESSIONS: usize = 1_000;
    const EVENTS: usize = 100;
    let hub = new_hub();
    let user = UserKey::from("alice");
    rt.block_on(async {
        for i in 0..USER_SESSIONS {
            let parts = request(&format!("?id=u-{i:04}"));
            let Accepted::Open(conn) = hub.accept(&parts, Some(user.clone())).await else {
                unreachable!("nothing is closed")
            };
            drop(conn);
        }
    });
    // One event stored alone, for its own size.
    let lone = hub.send_to_session(&SessionId::from_static("u-0000"), &event);
    assert_eq!(lone.queued, 1);
    let before = live_bytes();
    for _ in 0..EVENTS {
        assert_eq!(hub.send_to_user(&user, &event).queued, USER_SESSIONS);
    }
    let grown = (live_bytes() - before) as f64;
    let per_reference = (grown - EVENTS as f64 * per_broadcast) / (EVENTS * USER_SESSIONS) as f64;
    drop(hub);

    println!(
        "resume/memory: heap per away session (empty mailbox) {per_session:.0} bytes; \
         per stored event ({}-byte frame) {per_broadcast:.0} bytes, once for all \
         {SESSIONS} away sessions; per queued event reference in a mailbox \
         {per_reference:.1} bytes",
        event.encoded_len()
    );
}

criterion_group!(benches, replay);
criterion_main!(benches);
