//! Encoders, one criterion group per workload: ours (appending into one `BytesMut`, and
//! `to_bytes` per event), axum 0.8 (its `Event` collected through its `Sse` body),
//! actix-web-lab (its `Sse` body), russe (its codec `Encoder` into one `BytesMut`),
//! sse-stream (`Sse::encode` per event), and a plain memcpy of the same wire bytes.
//!
//! Every bench checks its output: a cheap check inside the timed loop (byte and event
//! count) and, once before timing, a full check of every event with a naive reader.
//! Allocations per event are counted once, outside timing, with a counting allocator.

use std::convert::Infallible;
use std::hint::black_box;
use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use futures_util::stream;
use sse_session_benches::encoders::{ours_encode_into, ours_events};
use sse_session_benches::{
    check_wire, count_allocs, noop_cx, record_allocs, selected, workloads, Workload,
};

use sse_session::event::Event;

// ------------------------------------------------------------------ ours

fn ours_to_bytes(events: &[Event]) -> (usize, usize) {
    let mut n = 0;
    let mut len = 0;
    for e in events {
        let b: Bytes = e.to_bytes();
        len += b.len();
        n += 1;
        black_box(b);
    }
    (n, len)
}

// ------------------------------------------------------------------ axum

/// axum's `Event` is its encoder: the builder writes wire bytes as fields are set, and
/// the `Sse` body appends the blank line and freezes it. So the timed loop must build the
/// events; that is the cheapest public path from strings to axum's wire bytes.
fn axum_collect(w: &'static Workload, mut sink: impl FnMut(Bytes)) -> usize {
    use axum::response::{sse, IntoResponse};
    use http_body::Body as _;
    let events = stream::iter(w.events.iter().map(|i| {
        let mut e = sse::Event::default();
        if let Some(n) = i.name {
            e = e.event(n);
        }
        if let Some(id) = &i.id {
            e = e.id(id);
        }
        Ok::<_, Infallible>(e.data(&i.data))
    }));
    let mut body = sse::Sse::new(events).into_response().into_body();
    let mut cx = noop_cx();
    let mut n = 0;
    loop {
        match Pin::new(&mut body).poll_frame(&mut cx) {
            std::task::Poll::Ready(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    n += 1;
                    sink(data);
                }
            }
            std::task::Poll::Ready(None) => break n,
            other => panic!("axum body: {:?}", other.map(|_| ())),
        }
    }
}

// ------------------------------------------------------------------ actix-web-lab

fn actix_events(w: &Workload) -> Vec<actix_web_lab::sse::Event> {
    use actix_web_lab::sse::Data;
    w.events
        .iter()
        .map(|i| {
            let mut d = Data::new(i.data.clone());
            if let Some(n) = i.name {
                d = d.event(n);
            }
            if let Some(id) = &i.id {
                d = d.id(id.clone());
            }
            d.into()
        })
        .collect()
}

/// actix-web-lab's `Sse` body over a stream of its (prebuilt, cheaply cloned) events.
fn actix_collect(events: Vec<actix_web_lab::sse::Event>, mut sink: impl FnMut(Bytes)) -> usize {
    use actix_web::body::MessageBody;
    let mut body = actix_web_lab::sse::Sse::from_infallible_stream(stream::iter(events));
    let mut cx = noop_cx();
    let mut n = 0;
    loop {
        match Pin::new(&mut body).poll_next(&mut cx) {
            std::task::Poll::Ready(Some(Ok(data))) => {
                n += 1;
                sink(data);
            }
            std::task::Poll::Ready(None) => break n,
            _ => panic!("actix-web-lab body failed"),
        }
    }
}

// ------------------------------------------------------------------ russe

fn russe_events(w: &Workload) -> Vec<russe::Event> {
    w.events
        .iter()
        .map(|i| {
            russe::Event::Message(russe::Message {
                data: i.data.clone().into(),
                event: i.name.map(Into::into),
                retry: None,
                id: i.id.clone().map(Into::into),
            })
        })
        .collect()
}

/// russe's codec encoder (what actix-web-lab uses inside), appending into one `BytesMut`.
fn russe_encode(events: Vec<russe::Event>, buf: &mut BytesMut) -> usize {
    use tokio_util::codec::Encoder as _;
    buf.clear();
    let mut enc = russe::Encoder::default();
    for e in events {
        enc.encode(e, buf).expect("valid event");
    }
    buf.len()
}

// ------------------------------------------------------------------ sse-stream

fn sse_stream_events(w: &Workload) -> Vec<sse_stream::Sse> {
    w.events
        .iter()
        .map(|i| sse_stream::Sse {
            event: i.name.map(Into::into),
            data: Some(i.data.clone()),
            id: i.id.clone(),
            retry: None,
        })
        .collect()
}

fn sse_stream_encode(events: Vec<sse_stream::Sse>, mut sink: impl FnMut(Bytes)) -> usize {
    let mut n = 0;
    for e in events {
        sink(e.encode().expect("valid event"));
        n += 1;
    }
    n
}

// ------------------------------------------------------------------ benches

fn concat(parts: &mut Vec<u8>) -> impl FnMut(Bytes) + '_ {
    |b: Bytes| parts.extend_from_slice(&b)
}

fn bench_workload(c: &mut Criterion, w: &'static Workload) {
    let group_name = format!("encode/{}", w.name);
    let mut g = c.benchmark_group(&group_name);
    g.throughput(Throughput::Bytes(w.wire.len() as u64));
    let n = w.events.len();
    let total = w.wire.len();

    // Ours: encode_into one caller-owned buffer (kept across iterations: zero allocations).
    if selected(&format!("{group_name}/ours/encode_into"))
        || selected(&format!("{group_name}/ours/to_bytes"))
    {
        let events = ours_events(w);
        let mut buf = BytesMut::new();
        ours_encode_into(&events, &mut buf);
        check_wire(w, &buf, "ours/encode_into");
        let (a, _) = count_allocs(|| ours_encode_into(&events, &mut buf));
        record_allocs(&group_name, "ours/encode_into", a, n);
        g.bench_function("ours/encode_into", |b| {
            b.iter(|| assert_eq!(ours_encode_into(black_box(&events), &mut buf), total))
        });

        let mut out = Vec::new();
        for e in &events {
            out.extend_from_slice(&e.to_bytes());
        }
        check_wire(w, &out, "ours/to_bytes");
        let (a, _) = count_allocs(|| ours_to_bytes(&events));
        record_allocs(&group_name, "ours/to_bytes", a, n);
        g.bench_function("ours/to_bytes", |b| {
            b.iter(|| assert_eq!(ours_to_bytes(black_box(&events)), (n, total)))
        });
    }

    // axum.
    if selected(&format!("{group_name}/axum")) {
        let mut out = Vec::new();
        axum_collect(w, concat(&mut out));
        check_wire(w, &out, "axum");
        let (a, _) = count_allocs(|| axum_collect(w, |b| drop(black_box(b))));
        record_allocs(&group_name, "axum", a, n);
        g.bench_function("axum", |b| {
            b.iter(|| {
                let mut len = 0;
                assert_eq!(axum_collect(black_box(w), |b| len += b.len()), n);
                assert_eq!(len, total);
            })
        });
    }

    // actix-web-lab (events prebuilt: its fields are refcounted, cloning is a few bumps;
    // the clone happens in untimed batch setup).
    if selected(&format!("{group_name}/actix-web-lab")) {
        let events = actix_events(w);
        let mut out = Vec::new();
        actix_collect(events.clone(), concat(&mut out));
        check_wire(w, &out, "actix-web-lab");
        let batch = events.clone();
        let (a, _) = count_allocs(|| actix_collect(batch, |b| drop(black_box(b))));
        record_allocs(&group_name, "actix-web-lab", a, n);
        g.bench_function("actix-web-lab", |b| {
            b.iter_batched(
                || events.clone(),
                |ev| {
                    let mut len = 0;
                    assert_eq!(actix_collect(ev, |b| len += b.len()), n);
                    assert_eq!(len, total);
                },
                BatchSize::LargeInput,
            )
        });
    }

    // russe (codec encoder into one reused BytesMut; events cloned in untimed setup).
    if selected(&format!("{group_name}/russe")) {
        let events = russe_events(w);
        let mut buf = BytesMut::new();
        russe_encode(events.clone(), &mut buf);
        check_wire(w, &buf, "russe");
        let batch = events.clone();
        let (a, _) = count_allocs(|| russe_encode(batch, &mut buf));
        record_allocs(&group_name, "russe", a, n);
        g.bench_function("russe", |b| {
            b.iter_batched(
                || events.clone(),
                |ev| assert_eq!(russe_encode(ev, &mut buf), total),
                BatchSize::LargeInput,
            )
        });
    }

    // sse-stream (`encode(self)` consumes the event: owned Strings are cloned in
    // untimed setup).
    if selected(&format!("{group_name}/sse-stream")) {
        let events = sse_stream_events(w);
        let mut out = Vec::new();
        sse_stream_encode(events.clone(), concat(&mut out));
        check_wire(w, &out, "sse-stream");
        let batch = events.clone();
        let (a, _) = count_allocs(|| sse_stream_encode(batch, |b| drop(black_box(b))));
        record_allocs(&group_name, "sse-stream", a, n);
        g.bench_function("sse-stream", |b| {
            b.iter_batched(
                || events.clone(),
                |ev| {
                    let mut len = 0;
                    assert_eq!(sse_stream_encode(ev, |b| len += b.len()), n);
                    assert_eq!(len, total);
                },
                BatchSize::LargeInput,
            )
        });
    }

    // The limit: one memcpy of the same wire bytes into a reused buffer.
    if selected(&format!("{group_name}/memcpy")) {
        let mut buf: Vec<u8> = Vec::with_capacity(total);
        record_allocs(&group_name, "memcpy", 0, n);
        g.bench_function("memcpy", |b| {
            b.iter(|| {
                buf.clear();
                buf.extend_from_slice(black_box(&w.wire));
                assert_eq!(buf.len(), total);
            })
        });
    }
    g.finish();
}

fn encoders(c: &mut Criterion) {
    for w in workloads() {
        bench_workload(c, w);
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .configure_from_args()
}

criterion_group! { name = benches; config = config(); targets = encoders }
criterion_main!(benches);
