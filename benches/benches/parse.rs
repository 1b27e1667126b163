//! Parsers, one criterion group per workload, fed the same wire bytes in 4 KiB chunks and
//! whole (ours also in 1 KiB chunks): ours, sse-stream, eventsource-stream, sse-codec,
//! and a `memchr` newline count over the same bytes (the limit).
//!
//! Inside the timed loop every event is checked against the workload: count, type,
//! last event ID and data length. Once before timing, every parser's full output
//! (including the data text) is compared with the workload. Allocations per event are
//! counted once, outside timing.
//!
//! eventsource-stream is not run on whole input except for W3: it copies the rest of
//! its buffer after every line (`String::split_off`), so one pass over a whole
//! multi-megabyte input with many lines takes seconds (quadratic); one untimed-by-
//! criterion single pass on W1 is printed instead, to show the effect.

use std::convert::Infallible;
use std::hint::black_box;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::{stream, Stream};
use sse_session_benches::{
    check_plain, count_allocs, noop_cx, record_allocs, selected, workloads, Plain, Workload,
};

use sse_session::parse::{Frame, Parser};

/// Per-event expectations for the in-loop check.
struct Expect {
    items: Vec<(&'static str, &'static str, usize)>,
}

impl Expect {
    fn new(w: &'static Workload) -> Self {
        let mut last_id: &'static str = "";
        let items = w
            .events
            .iter()
            .map(|e| {
                if let Some(id) = &e.id {
                    last_id = id.as_str();
                }
                (e.name.unwrap_or("message"), last_id, e.data.len())
            })
            .collect();
        Expect { items }
    }

    /// Checks event `i`; returns `i + 1`.
    #[inline]
    fn check(&self, i: usize, ty: &str, id: &str, data_len: usize) -> usize {
        let (t, d, l) = self.items[i];
        assert!(
            same(ty, t) && same(id, d) && data_len == l,
            "event {i}: {ty:?} {id:?} {data_len}"
        );
        i + 1
    }

    fn done(&self, n: usize, who: &str) {
        assert_eq!(n, self.items.len(), "{who}: event count");
    }
}

/// String equality for the short type and id strings, without calling libc's
/// `memcmp`: its AVX-512 version does a masked 32-byte load, which takes a very slow
/// fault-suppression assist when the window crosses into the next page. Whether a
/// 7-byte `"message"` sits near a page end depends on the binary's layout, and when it
/// did, half of every W4 parser bench was spent in that one compare.
#[inline]
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        let x = u64::from_ne_bytes(x.try_into().expect("8 bytes"));
        let y = u64::from_ne_bytes(y.try_into().expect("8 bytes"));
        if x != y {
            return false;
        }
    }
    let mut diff = 0u8;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        diff |= x ^ y;
    }
    diff == 0
}

// ------------------------------------------------------------------ ours

fn ours(chunks: &[Bytes], mut on: impl FnMut(&str, &str, &str)) {
    let mut p = Parser::new();
    let mut drain = |p: &mut Parser| loop {
        match p.next_frame() {
            Ok(Some(Frame::Event(e))) => on(e.event_type(), e.last_event_id(), e.data()),
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => panic!("{e}"),
        }
    };
    for c in chunks {
        p.feed_bytes(c.clone());
        drain(&mut p);
    }
    p.finish();
    drain(&mut p);
}

// ------------------------------------------------------------------ peers

fn source(chunks: &[Bytes]) -> impl Stream<Item = Result<Bytes, Infallible>> + '_ {
    stream::iter(chunks.iter().cloned().map(Ok))
}

fn drive<S: Stream>(s: S, mut on: impl FnMut(S::Item)) {
    let mut s = std::pin::pin!(s);
    let mut cx = noop_cx();
    loop {
        match s.as_mut().poll_next(&mut cx) {
            Poll::Ready(Some(item)) => on(item),
            Poll::Ready(None) => return,
            Poll::Pending => panic!("in-memory stream returned Pending"),
        }
    }
}

fn sse_stream(chunks: &[Bytes], mut on: impl FnMut(&str, &str, &str)) {
    drive(
        sse_stream::SseByteStream::new(source(chunks)),
        |item| match item {
            Ok(sse_stream::Sse {
                data: Some(data),
                event,
                id,
                ..
            }) => on(
                event.as_deref().unwrap_or("message"),
                id.as_deref().unwrap_or(""),
                &data,
            ),
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        },
    );
}

fn eventsource_stream(chunks: &[Bytes], mut on: impl FnMut(&str, &str, &str)) {
    use eventsource_stream::Eventsource as _;
    drive(source(chunks).eventsource(), |item| match item {
        Ok(e) => on(&e.event, &e.id, &e.data),
        Err(e) => panic!("{e}"),
    });
}

fn sse_codec(chunks: &[Bytes], mut on: impl FnMut(&str, &str, &str)) {
    use futures_codec::Decoder as _;
    let mut codec = sse_codec::SSECodec::default();
    let mut buf = BytesMut::new();
    for c in chunks {
        buf.extend_from_slice(c);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(sse_codec::Event::Message { id, event, data })) => {
                    on(&event, id.as_deref().unwrap_or(""), &data)
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => panic!("{e}"),
            }
        }
    }
    let _ = codec.decode_eof(&mut buf);
}

type ParseFn = fn(&[Bytes], &mut dyn FnMut(&str, &str, &str));

fn run(f: ParseFn, chunks: &[Bytes], x: &Expect, who: &str) {
    let mut i = 0;
    f(chunks, &mut |ty, id, data| {
        i = x.check(i, ty, id, data.len())
    });
    x.done(i, who);
}

fn collect(f: ParseFn, chunks: &[Bytes]) -> Vec<Plain> {
    let mut out = Vec::new();
    f(chunks, &mut |ty, id, data| {
        out.push(Plain {
            event_type: ty.to_owned(),
            id: id.to_owned(),
            data: data.to_owned(),
        })
    });
    out
}

// ------------------------------------------------------------------ benches

const KIB: usize = 1024;
const WHOLE: usize = usize::MAX;

fn bench_workload(c: &mut Criterion, w: &'static Workload) {
    let group_name = format!("parse/{}", w.name);
    let mut g = c.benchmark_group(&group_name);
    g.throughput(Throughput::Bytes(w.wire.len() as u64));
    let x = Expect::new(w);
    let n = w.events.len();

    let parsers: [(&str, ParseFn, bool, &[usize]); 4] = [
        ("ours", |c, on| ours(c, on), true, &[KIB, 4 * KIB, WHOLE]),
        (
            "sse-stream",
            |c, on| sse_stream(c, on),
            false,
            &[4 * KIB, WHOLE],
        ),
        (
            "eventsource-stream",
            |c, on| eventsource_stream(c, on),
            true,
            &[4 * KIB, WHOLE],
        ),
        (
            "sse-codec",
            |c, on| sse_codec(c, on),
            true,
            &[4 * KIB, WHOLE],
        ),
    ];
    for (name, f, inherits_id, sizes) in parsers {
        for &size in sizes {
            let label = match size {
                KIB => "1k",
                s if s == 4 * KIB => "4k",
                _ => "whole",
            };
            let id = format!("{name}/{label}");
            if !selected(&format!("{group_name}/{id}")) {
                continue;
            }
            let chunks = w.chunks(size);
            if name == "eventsource-stream" && size == WHOLE && w.name != "W3" {
                if w.name == "W1" {
                    let t = Instant::now();
                    run(f, &chunks, &x, &id);
                    let secs = t.elapsed().as_secs_f64();
                    println!(
                        "single pass {group_name}/{id}: {:.3} s = {:.1} MB/s (quadratic; not a criterion bench)",
                        secs,
                        w.wire.len() as f64 / secs / 1e6
                    );
                }
                continue;
            }
            check_plain(w, &collect(f, &chunks), &id, inherits_id);
            let (a, _) = count_allocs(|| run(f, &chunks, &x, &id));
            record_allocs(&group_name, &id, a, n);
            g.bench_function(&id, |b| b.iter(|| run(f, black_box(&chunks), &x, &id)));
        }
    }

    // The limit: count the LF bytes with memchr.
    if !selected(&format!("{group_name}/memchr/whole")) {
        return;
    }
    record_allocs(&group_name, "memchr/whole", 0, n);
    g.bench_function("memchr/whole", |b| {
        b.iter(|| {
            assert_eq!(
                memchr::memchr_iter(b'\n', black_box(&w.wire)).count(),
                w.lines
            )
        })
    });
    g.finish();
}

fn parsers(c: &mut Criterion) {
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

criterion_group! { name = benches; config = config(); targets = parsers }
criterion_main!(benches);
