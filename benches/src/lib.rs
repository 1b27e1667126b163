//! Shared pieces of the benchmarks: the four workloads, a counting global allocator,
//! a naive reference reader that checks every encoder's output, and a poll helper for
//! the peers' async types (all of them are always ready on in-memory input).
//!
//! The workloads (see issue 2):
//! - W1: 10,000 events, name `update`, a 36-char ID, ~100-byte JSON data
//! - W2: 1,000 events of 4 KiB data in 64 lines
//! - W3: 100 events of 64 KiB single-line data
//! - W4: 100,000 `data: x` events

pub mod encoders;
pub mod parsers;

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

// ---------------------------------------------------------------- allocations

/// A global allocator that counts every allocation (and reallocation) it serves.
pub struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Counting is on only inside [`count_allocs`], so the timed loops pay one relaxed
/// load per allocation, not a locked add.
static COUNTING: AtomicBool = AtomicBool::new(false);

#[inline(always)]
fn note_alloc() {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards every call unchanged to `System`; only adds a relaxed counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap allocations (including reallocations) counted so far, process-wide.
pub fn allocs() -> u64 {
    ALLOCS.load(Ordering::Relaxed)
}

/// Runs `f` once and returns how many heap allocations it made. Call it outside the
/// timed loop; the result is printed and saved for `report.py` by [`record_allocs`].
pub fn count_allocs<R>(f: impl FnOnce() -> R) -> (u64, R) {
    let before = allocs();
    COUNTING.store(true, Ordering::SeqCst);
    let r = f();
    COUNTING.store(false, Ordering::SeqCst);
    let n = allocs() - before;
    (n, r)
}

/// Prints allocations per event for one bench and saves them next to criterion's
/// results, where `report.py` finds them:
/// `<criterion dir>/bench-allocs/<group>/<id>.txt` (the id's `/` become `__`).
pub fn record_allocs(group: &str, id: &str, allocs: u64, events: usize) {
    let per = allocs as f64 / events as f64;
    println!("allocs {group}/{id}: {allocs} for {events} events = {per:.3} per event");
    let dir = criterion_dir().join("bench-allocs").join(group);
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(
        dir.join(format!("{}.txt", id.replace('/', "__"))),
        format!("{allocs} {events}\n"),
    );
}

/// Where criterion writes: `$CRITERION_HOME`, else `<target dir>/criterion`.
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("criterion")
}

// ---------------------------------------------------------------- workloads

/// One event of a workload, as plain strings (each encoder builds its own type from it).
#[derive(Clone, Debug)]
pub struct Input {
    pub name: Option<&'static str>,
    pub id: Option<String>,
    pub data: String,
}

/// A workload: events plus the canonical wire bytes (`event:`, `id:`, `data:` lines,
/// LF endings, a blank line after each event), as our encoder writes them.
#[derive(Debug)]
pub struct Workload {
    pub name: &'static str,
    pub events: Vec<Input>,
    pub wire: Vec<u8>,
    /// LF count in `wire` (what the memchr limit must find).
    pub lines: usize,
}

impl Workload {
    fn new(name: &'static str, events: Vec<Input>) -> Self {
        let mut wire = Vec::new();
        for e in &events {
            if let Some(n) = e.name {
                wire.extend_from_slice(b"event: ");
                wire.extend_from_slice(n.as_bytes());
                wire.push(b'\n');
            }
            if let Some(id) = &e.id {
                wire.extend_from_slice(b"id: ");
                wire.extend_from_slice(id.as_bytes());
                wire.push(b'\n');
            }
            for line in e.data.split('\n') {
                wire.extend_from_slice(b"data: ");
                wire.extend_from_slice(line.as_bytes());
                wire.push(b'\n');
            }
            wire.push(b'\n');
        }
        let lines = memchr::memchr_iter(b'\n', &wire).count();
        Workload {
            name,
            events,
            wire,
            lines,
        }
    }

    /// Total data bytes over all events (what a parser must hand back).
    pub fn data_bytes(&self) -> usize {
        self.events.iter().map(|e| e.data.len()).sum()
    }

    /// Event type the parser must report for event `i`.
    pub fn event_type(&self, i: usize) -> &str {
        self.events[i].name.unwrap_or("message")
    }

    /// Last event ID the parser must report for event `i` (IDs persist per the spec).
    pub fn last_id(&self, i: usize) -> &str {
        self.events[..=i]
            .iter()
            .rev()
            .find_map(|e| e.id.as_deref())
            .unwrap_or("")
    }

    /// Whole wire split into chunks of `size` bytes (`usize::MAX` = one chunk).
    pub fn chunks(&self, size: usize) -> Vec<bytes::Bytes> {
        let whole = bytes::Bytes::from(self.wire.clone());
        if size >= whole.len() {
            return vec![whole];
        }
        (0..whole.len())
            .step_by(size)
            .map(|at| whole.slice(at..(at + size).min(whole.len())))
            .collect()
    }
}

/// A cheap deterministic generator (xorshift), so every run benchmarks the same bytes.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn text(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] =
            b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,.-_{}[]\"";
        (0..len)
            .map(|_| ALPHABET[(self.next() % ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
}

/// W1: 10,000 events, name `update`, 36-char ID (UUID form), ~100-byte JSON data.
pub fn w1() -> Workload {
    let mut rng = Rng(0x5eed_0001);
    let events = (0..10_000u64)
        .map(|i| {
            let r = rng.next();
            let id = format!(
                "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                r >> 32,
                (r >> 16) & 0xffff,
                r & 0xfff,
                i & 0xfff,
                i
            );
            let mut data = format!(
                r#"{{"seq":{i},"user":"user-{:04}","status":"active","score":{}.{:03},"note":""#,
                r % 10_000,
                r % 100,
                (r >> 8) % 1000
            );
            let pad = 98usize.saturating_sub(data.len());
            data.push_str(&rng.text(pad).replace('"', "'"));
            data.push_str("\"}");
            Input {
                name: Some("update"),
                id: Some(id),
                data,
            }
        })
        .collect();
    Workload::new("W1", events)
}

/// W2: 1,000 events of 4 KiB data in 64 lines (64 lines of 63 bytes, LF-separated).
pub fn w2() -> Workload {
    let mut rng = Rng(0x5eed_0002);
    let events = (0..1_000)
        .map(|_| {
            let lines: Vec<String> = (0..64).map(|_| rng.text(63)).collect();
            Input {
                name: None,
                id: None,
                data: lines.join("\n"),
            }
        })
        .collect();
    Workload::new("W2", events)
}

/// W3: 100 events of 64 KiB single-line data.
pub fn w3() -> Workload {
    let mut rng = Rng(0x5eed_0003);
    let events = (0..100)
        .map(|_| Input {
            name: None,
            id: None,
            data: rng.text(64 * 1024),
        })
        .collect();
    Workload::new("W3", events)
}

/// W4: 100,000 `data: x` events.
pub fn w4() -> Workload {
    let events = (0..100_000)
        .map(|_| Input {
            name: None,
            id: None,
            data: "x".to_owned(),
        })
        .collect();
    Workload::new("W4", events)
}

/// All four, each leaked so peers that need `'static` streams can borrow them.
pub fn workloads() -> Vec<&'static Workload> {
    vec![w1(), w2(), w3(), w4()]
        .into_iter()
        .map(|w| &*Box::leak(Box::new(w)))
        .collect()
}

// ---------------------------------------------------------------- checking

/// A naive, obviously-correct reader for the subset of the format the encoders write
/// (LF endings, no comments, no retry): checks that `wire` carries exactly the
/// workload's events (type, id, data), in any field order. Panics on a mismatch.
pub fn check_wire(w: &Workload, wire: &[u8], who: &str) {
    let text = std::str::from_utf8(wire).unwrap_or_else(|e| panic!("{who}: not UTF-8: {e}"));
    let blocks: Vec<&str> = text.split_terminator("\n\n").collect();
    assert_eq!(
        blocks.len(),
        w.events.len(),
        "{who} on {}: event count",
        w.name
    );
    for (i, (block, want)) in blocks.iter().zip(&w.events).enumerate() {
        let (mut name, mut id, mut data) = (None, None, Vec::new());
        for line in block.split('\n') {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => name = Some(value),
                "id" => id = Some(value),
                "data" => data.push(value),
                other => panic!("{who} on {}: event {i}: unexpected field {other:?}", w.name),
            }
        }
        assert_eq!(name, want.name, "{who} on {}: event {i} name", w.name);
        assert_eq!(id, want.id.as_deref(), "{who} on {}: event {i} id", w.name);
        assert_eq!(
            data.join("\n"),
            want.data,
            "{who} on {}: event {i} data",
            w.name
        );
    }
}

/// What a parser bench folds its events into, inside the timed loop: count, total data
/// length, and the last event's type and id. `expect` compares it with the workload.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Seen {
    pub events: usize,
    pub data_bytes: usize,
    pub last_type: String,
    pub last_id: String,
}

impl Seen {
    /// Counts one event; type and id are only copied for the last one (cheap check).
    #[inline]
    pub fn add(&mut self, data_len: usize) {
        self.events += 1;
        self.data_bytes += data_len;
    }

    /// Panics unless the parser saw exactly the workload.
    pub fn expect(&self, w: &Workload, who: &str) {
        let last = w.events.len() - 1;
        let want = Seen {
            events: w.events.len(),
            data_bytes: w.data_bytes(),
            last_type: w.event_type(last).to_owned(),
            last_id: w.last_id(last).to_owned(),
        };
        assert_eq!(self, &want, "{who} on {}", w.name);
    }
}

/// A parsed event in plain form, for the full (untimed) check of every parser.
#[derive(Debug, PartialEq, Eq)]
pub struct Plain {
    pub event_type: String,
    pub id: String,
    pub data: String,
}

/// Full check: every event's type, last event ID and data. Peers that do not carry the
/// ID over to later events pass `inherit_id = false` (then only events with an ID are
/// compared on it).
pub fn check_plain(w: &Workload, got: &[Plain], who: &str, inherit_id: bool) {
    assert_eq!(
        got.len(),
        w.events.len(),
        "{who} on {}: event count",
        w.name
    );
    let mut last_id = "";
    for (i, (g, want)) in got.iter().zip(&w.events).enumerate() {
        assert_eq!(
            g.event_type,
            w.event_type(i),
            "{who} on {}: event {i} type",
            w.name
        );
        if let Some(id) = &want.id {
            last_id = id;
        }
        if inherit_id || want.id.is_some() {
            assert_eq!(g.id, last_id, "{who} on {}: event {i} id", w.name);
        }
        assert_eq!(g.data, want.data, "{who} on {}: event {i} data", w.name);
    }
}

// ---------------------------------------------------------------- selection

/// Whether the bench `id` (`group/function`) may run under the command line's filter,
/// so the untimed setup (output checks, allocation counts) of filtered-out benches is
/// skipped. Criterion applies its own (regex) filter afterwards; this one is a plain
/// substring test after dropping `^`/`$` anchors, and says yes when unsure.
pub fn selected(id: &str) -> bool {
    let mut args = std::env::args().skip(1);
    let mut filters = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" | "--test" | "--list" | "--exact" | "--noplot" | "--quiet" | "--verbose" => {}
            s if s.starts_with("--") => {
                if !s.contains('=') {
                    args.next(); // the option's value
                }
            }
            s => filters.push(s.trim_start_matches('^').trim_end_matches('$').to_owned()),
        }
    }
    let plain = |f: &str| !f.contains(['(', '[', '|', '*', '+', '?', '\\', '.']);
    filters.is_empty() || filters.iter().any(|f| !plain(f) || id.contains(f.as_str()))
}

// ---------------------------------------------------------------- polling

/// Polls a future that is ready without waiting (in-memory streams), once.
pub fn now<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("in-memory stream returned Pending"),
    }
}

/// A context whose waker does nothing, for polling always-ready streams and bodies.
pub fn noop_cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}
