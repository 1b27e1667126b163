//! The parser ratios of issue 2, and the encoder's share of memcpy, measured so that a
//! noisy host cannot tilt them: every contender runs in every round, one after
//! another, and each keeps its best (fastest) pass.
//!
//! On a shared 2-core VM a criterion group runs each contender for seconds in turn,
//! and the host's speed changes on that scale: back-to-back criterion runs here put
//! ours at 0.7-1.25 GiB/s on W1, so a ratio between two benches taken seconds apart
//! can be off by 30 % either way. Here a round is tens of milliseconds, every
//! contender sees the same phases of the host, and the minimum over rounds is each
//! one's undisturbed speed. Each timed pass follows untimed passes of the same
//! contender, for at least 2 ms (so its data is in cache and its allocator warm, as
//! in a criterion loop), and the order rotates every round.
//!
//! Each round also times the least any driver does with 1 KiB chunks: clone each
//! chunk's `Bytes` and drop it (two locked reference-count updates, about 20 ns a
//! chunk on this host). The report says how far below the whole-input speed that
//! floor alone puts 1 KiB chunks, next to the 20 % spread target.
//!
//! Same drivers and the same in-loop check of every event as the `parse` bench; the
//! encoder is timed as in the `encode` bench (`encode_into` one reused buffer,
//! against one memcpy of the same bytes into a reused buffer).
//!
//! Then build + encode, as users pay for it (issue 17): every event built from
//! borrowed `&str` fields (name, id, data) inside the timed pass and encoded into
//! one reused buffer, ours (`EventRef`, and `Event::builder`) beside
//! tokio_sse_codec, russe and sse-stream, each driven the cheapest public way from
//! `&str` (`sse_session_benches::encoders::build_contenders`). Reported: MB/s of
//! wire bytes, ours against the fastest peer, and heap allocations per event
//! (counted once, outside timing).
//!
//! ```sh
//! cargo bench --bench interleaved              # 30 rounds per workload, all parts
//! cargo bench --bench interleaved -- 60 W1     # 60 rounds, W1 only
//! cargo bench --bench interleaved -- 30 build  # build + encode only, every workload
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use sse_session_benches::encoders::{
    build_contenders, ours_encode_into, ours_events, without_empty_names, BuildFn,
};
use sse_session_benches::parsers::{chunk_label, contenders, run, too_slow_whole, Expect, ParseFn};
use sse_session_benches::{check_wire, count_allocs, workloads, Workload};

/// Untimed passes of a contender before its timed one, at least one and for at
/// least this long. After a slow contender's pass (eventsource-stream takes 25 ms
/// on W3) the next contender runs its first 64 KiB-line passes at half speed here,
/// and takes 3-5 passes (about a millisecond) to reach its steady speed; one warm
/// pass left the fast parsers' W3 numbers to whichever contender ran before them.
const WARM: Duration = Duration::from_millis(2);

/// Rounds stop early once a workload has taken this long.
const BUDGET: Duration = Duration::from_secs(40);

/// One parser at one chunk size, with its best pass so far.
struct Run {
    name: &'static str,
    size: usize,
    f: ParseFn,
    chunks: Vec<Bytes>,
    best: f64,
}

impl Run {
    fn size_label(&self) -> &'static str {
        chunk_label(self.size)
    }

    fn label(&self) -> String {
        format!("{}/{}", self.name, self.size_label())
    }
}

/// Every parser at each of its chunk sizes, as the `parse` bench runs them.
fn runs(w: &Workload) -> Vec<Run> {
    let mut out = Vec::new();
    for c in contenders() {
        for &size in c.sizes {
            if too_slow_whole(c.name, size, w) {
                continue;
            }
            out.push(Run {
                name: c.name,
                size,
                f: c.f,
                chunks: w.chunks(size),
                best: f64::MAX,
            });
        }
    }
    out
}

fn main() {
    // `cargo bench` passes `--bench`; the rest are ours: a round count and workloads.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let rounds: usize = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(30)
        .clamp(1, 1000);
    let only: Vec<&str> = args
        .iter()
        .filter(|a| a.parse::<usize>().is_err() && a.as_str() != "build")
        .map(String::as_str)
        .collect();
    let build_only = args.iter().any(|a| a == "build");
    let mut checks = Vec::new();
    for w in workloads() {
        if !only.is_empty() && !only.contains(&w.name) {
            continue;
        }
        if build_only {
            build_encode(w, rounds, &mut checks);
            continue;
        }
        let x = Expect::new(w);
        let mut cs = runs(w);
        let kib = w.chunks(1024);
        let mut floor = f64::MAX;
        let start = Instant::now();
        let mut done = 0;
        while done < rounds && start.elapsed() < BUDGET {
            let n = cs.len();
            for k in 0..n {
                let c = &mut cs[(done + k) % n];
                let who = c.label();
                warm_up(|| {
                    run(c.f, black_box(&c.chunks), &x, &who);
                });
                let t = Instant::now();
                run(c.f, black_box(&c.chunks), &x, &who);
                c.best = c.best.min(t.elapsed().as_secs_f64());
            }
            floor = floor.min(chunk_floor(&kib));
            done += 1;
        }
        report(w, &cs, done, floor, &mut checks);
        encoder(w, rounds, &mut checks);
        build_encode(w, rounds, &mut checks);
    }
    if !checks.is_empty() {
        let met = checks.iter().filter(|(ok, _)| *ok).count();
        println!(
            "\n### Targets, interleaved: {met} of {} met\n",
            checks.len()
        );
        for (ok, line) in &checks {
            let mark = if *ok { "met" } else { "**MISSED**" };
            println!("- {mark}: {line}");
        }
    }
}

/// Runs `pass` untimed, at least once and for at least [`WARM`].
fn warm_up(mut pass: impl FnMut()) {
    let start = Instant::now();
    while {
        pass();
        start.elapsed() < WARM
    } {}
}

/// Seconds to do with the 1 KiB chunks only what every driver does with each
/// chunk, whatever the parser: clone its `Bytes` (the bench reuses its chunks)
/// and drop it (the parser owns it). Each is a locked reference-count update.
fn chunk_floor(chunks: &[Bytes]) -> f64 {
    let t = Instant::now();
    for c in chunks {
        drop(black_box(c.clone()));
    }
    t.elapsed().as_secs_f64()
}

fn report(w: &Workload, cs: &[Run], rounds: usize, floor: f64, checks: &mut Vec<(bool, String)>) {
    let mbs = |c: &Run| w.wire.len() as f64 / c.best / 1e6;
    let find = |label: &str| cs.iter().find(|c| c.label() == label);
    println!(
        "\n**{}** (best of {rounds} interleaved rounds, MB/s of wire bytes)\n",
        w.name
    );
    println!("| parser / chunks | MB/s | ours (same chunks) is |");
    println!("|---|---:|---:|");
    for c in cs {
        let vs = match find(&format!("ours/{}", c.size_label())) {
            Some(o) if c.name != "ours" => format!("{:.2}x", c.best / o.best),
            _ => "–".to_owned(),
        };
        println!("| {} | {:.0} | {vs} |", c.label(), mbs(c));
    }
    let ratio = |peer: &str, size: &str| -> Option<f64> {
        Some(find(&format!("{peer}/{size}"))?.best / find(&format!("ours/{size}"))?.best)
    };
    let need_sse = if matches!(w.name, "W1" | "W4") {
        2.0
    } else {
        1.0
    };
    for size in ["4k", "whole"] {
        if let Some(r) = ratio("sse-stream", size) {
            checks.push((
                r >= need_sse,
                format!(
                    "{} {size}: ours = {r:.2}x sse-stream, target >= {need_sse}x",
                    w.name
                ),
            ));
        }
        if let Some(r) = ratio("eventsource-stream", size) {
            checks.push((
                r >= 10.0,
                format!(
                    "{} {size}: ours = {r:.1}x eventsource-stream, target >= 10x",
                    w.name
                ),
            ));
        }
    }
    let ours: Vec<&Run> = cs.iter().filter(|c| c.name == "ours").collect();
    let fastest = ours.iter().map(|c| c.best).fold(f64::MAX, f64::min);
    let slowest = ours.iter().map(|c| c.best).fold(0.0, f64::max);
    let spread = 1.0 - fastest / slowest;
    // The least spread any parser as fast as ours could show here: its
    // fastest pass, plus the 1 KiB chunks' clone and drop alone.
    let least = 1.0 - fastest / (fastest + floor);
    let kib_chunks = w.wire.len().div_ceil(1024);
    println!(
        "\nchunk floor: cloning and dropping the {kib_chunks} chunks of 1 KiB takes {:.0} µs a \
         pass ({:.1} ns a chunk); at ours' fastest that alone puts 1 KiB {:.0} % below it",
        floor * 1e6,
        floor * 1e9 / kib_chunks as f64,
        least * 100.0
    );
    checks.push((
        spread <= 0.20,
        format!(
            "{}: ours 1k/4k/whole = {}, slowest {:.0} % below fastest, target <= 20 % \
             (the chunk floor alone: {:.0} %)",
            w.name,
            ours.iter()
                .map(|c| format!("{:.0}", mbs(c)))
                .collect::<Vec<_>>()
                .join("/"),
            spread * 100.0,
            least * 100.0
        ),
    ));
}

/// Ours `encode_into` against memcpy, interleaved the same way; checks the share of
/// memcpy that issue 2 sets for W2 (50 %) and W3 (80 %).
fn encoder(w: &Workload, rounds: usize, checks: &mut Vec<(bool, String)>) {
    let events = ours_events(w);
    let mut buf = BytesMut::new();
    ours_encode_into(&events, &mut buf);
    assert_eq!(&buf[..], &w.wire[..], "ours/encode_into: wire bytes");
    let mut copy: Vec<u8> = Vec::with_capacity(w.wire.len());
    let (mut ours, mut limit) = (f64::MAX, f64::MAX);
    let start = Instant::now();
    for round in 0..rounds {
        if start.elapsed() >= BUDGET {
            break;
        }
        let mut time_ours = || {
            warm_up(|| {
                ours_encode_into(&events, &mut buf);
            });
            let t = Instant::now();
            assert_eq!(ours_encode_into(black_box(&events), &mut buf), w.wire.len());
            ours = ours.min(t.elapsed().as_secs_f64());
        };
        let mut copy_once = || {
            copy.clear();
            copy.extend_from_slice(black_box(&w.wire));
            copy.len()
        };
        let mut time_copy = || {
            warm_up(|| {
                copy_once();
            });
            let t = Instant::now();
            assert_eq!(copy_once(), w.wire.len());
            limit = limit.min(t.elapsed().as_secs_f64());
        };
        if round % 2 == 0 {
            time_ours();
            time_copy();
        } else {
            time_copy();
            time_ours();
        }
    }
    let mbs = |t: f64| w.wire.len() as f64 / t / 1e6;
    let share = limit / ours;
    println!(
        "\nencoder {}: ours/encode_into {:.0} MB/s, memcpy {:.0} MB/s: {:.1} % of memcpy",
        w.name,
        mbs(ours),
        mbs(limit),
        share * 100.0
    );
    let need = match w.name {
        "W2" => 0.5,
        "W3" => 0.8,
        _ => return,
    };
    checks.push((
        share >= need,
        format!(
            "encode {}: ours = {:.1} % of memcpy, target >= {:.0} %",
            w.name,
            share * 100.0,
            need * 100.0
        ),
    ));
}

/// Build + encode from borrowed fields: ours and the peers interleaved, each
/// keeping its best pass; checks issue 17's targets (W1 and W4 at least 2x the
/// fastest peer, W2 and W3 at least 1x, at most one allocation per W1 event).
fn build_encode(w: &Workload, rounds: usize, checks: &mut Vec<(bool, String)>) {
    struct Build {
        name: &'static str,
        f: BuildFn,
        buf: BytesMut,
        best: f64,
        allocs: f64,
    }
    let n = w.events.len();
    let mut cs: Vec<Build> = build_contenders()
        .into_iter()
        .map(|(name, f)| {
            let mut buf = BytesMut::new();
            f(w, &mut buf);
            let wire = if name == "tokio_sse_codec" {
                without_empty_names(&buf)
            } else {
                buf.to_vec()
            };
            check_wire(w, &wire, name);
            // Counted with the buffer already grown, as in the timed passes.
            let (a, _) = count_allocs(|| f(w, &mut buf));
            Build {
                name,
                f,
                buf,
                best: f64::MAX,
                allocs: a as f64 / n as f64,
            }
        })
        .collect();
    let lens: Vec<usize> = cs.iter().map(|c| c.buf.len()).collect();
    let start = Instant::now();
    let mut done = 0;
    while done < rounds && start.elapsed() < BUDGET {
        let k = cs.len();
        for j in 0..k {
            let at = (done + j) % k;
            let c = &mut cs[at];
            warm_up(|| {
                (c.f)(w, &mut c.buf);
            });
            let t = Instant::now();
            let len = (c.f)(black_box(w), &mut c.buf);
            c.best = c.best.min(t.elapsed().as_secs_f64());
            assert_eq!(len, lens[at], "{}: bytes written", c.name);
        }
        done += 1;
    }
    // MB/s of the canonical wire bytes (tokio_sse_codec writes a few more on
    // W2-W4, `event: ` lines, which are not counted in its favour).
    let mbs = |c: &Build| w.wire.len() as f64 / c.best / 1e6;
    let peers = cs.iter().filter(|c| !c.name.starts_with("ours"));
    let Some(fastest) = peers.min_by(|a, b| a.best.total_cmp(&b.best)) else {
        return;
    };
    println!(
        "\n**{} build + encode** from borrowed `&str` fields into one reused buffer \
         (best of {done} interleaved rounds)\n",
        w.name
    );
    println!(
        "| contender | MB/s | vs fastest peer ({}) | allocations per event |",
        fastest.name
    );
    println!("|---|---:|---:|---:|");
    for c in &cs {
        println!(
            "| {} | {:.0} | {:.2}x | {:.2} |",
            c.name,
            mbs(c),
            fastest.best / c.best,
            c.allocs
        );
    }
    let ours = &cs[0];
    let ratio = fastest.best / ours.best;
    let need = if matches!(w.name, "W1" | "W4") {
        2.0
    } else {
        1.0
    };
    checks.push((
        ratio >= need,
        format!(
            "build+encode {}: ours/EventRef = {ratio:.2}x {} ({:.0} vs {:.0} MB/s), target >= {need}x",
            w.name,
            fastest.name,
            mbs(ours),
            mbs(fastest)
        ),
    ));
    if w.name == "W1" {
        checks.push((
            ours.allocs <= 1.0,
            format!(
                "build+encode W1: ours/EventRef {:.2} allocations per event, target <= 1",
                ours.allocs
            ),
        ));
    }
}
