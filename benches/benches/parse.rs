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

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sse_session_benches::parsers::{
    chunk_label, collect, contenders, run, too_slow_whole, Contender, Expect,
};
use sse_session_benches::{
    check_plain, count_allocs, record_allocs, selected, workloads, Workload,
};

// ------------------------------------------------------------------ benches

fn bench_workload(c: &mut Criterion, w: &'static Workload) {
    let group_name = format!("parse/{}", w.name);
    let mut g = c.benchmark_group(&group_name);
    g.throughput(Throughput::Bytes(w.wire.len() as u64));
    let x = Expect::new(w);
    let n = w.events.len();

    for Contender {
        name,
        f,
        inherits_id,
        sizes,
    } in contenders()
    {
        for &size in sizes {
            let id = format!("{name}/{}", chunk_label(size));
            if !selected(&format!("{group_name}/{id}")) {
                continue;
            }
            let chunks = w.chunks(size);
            if too_slow_whole(name, size, w) {
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
