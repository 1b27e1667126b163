//! Model test for `MemoryClosedIds`: random operations against a `HashMap` model
//! with a fake clock (quinn's `Pair` style: time only moves when the test says so).
//!
//! The model keeps, per ID, the time and the sequence number of its latest mark.
//! The store's documented behaviour then predicts every answer exactly:
//!
//! - an ID reads as closed iff the model holds it, it is younger than the TTL,
//!   and fewer than `capacity` *other* IDs were marked after its latest mark
//!   (otherwise it was evicted, oldest first, because the store was full);
//! - so an ID younger than the TTL is missing only if it was evicted for capacity,
//!   and that needs `capacity` newer marks; no ID is ever reported closed that the
//!   model does not hold fresh (no false positives);
//! - the store never holds more than `capacity` entries.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use sse_session::session::{ClosedIds, ClosedIdsConfig, MemoryClosedIds, SessionId};

#[derive(Debug, Clone)]
enum Op {
    Insert(usize),
    Contains(usize),
    Advance(u64),
    RemoveExpired,
}

fn op(ids: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..ids).prop_map(Op::Insert),
        4 => (0..ids).prop_map(Op::Contains),
        2 => (0..20u64).prop_map(Op::Advance),
        1 => Just(Op::RemoveExpired),
    ]
}

fn id(n: usize) -> SessionId {
    SessionId::try_from(format!("tab-{n}").as_str()).expect("valid test id")
}

/// What the model predicts for `n` at `now`.
fn expected(
    model: &HashMap<usize, (Instant, u64)>,
    n: usize,
    now: Instant,
    ttl: Duration,
    capacity: usize,
) -> bool {
    let Some(&(marked, seq)) = model.get(&n) else {
        return false;
    };
    let fresh = now.saturating_duration_since(marked) < ttl;
    let newer = model.values().filter(|&&(_, s)| s > seq).count();
    fresh && newer < capacity
}

fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn store_matches_model(
        capacity in 1usize..8,
        ttl_ms in 1u64..60,
        ops in proptest::collection::vec(op(12), 1..300),
        use_trait in any::<bool>(),
    ) {
        let ttl = Duration::from_millis(ttl_ms);
        let store = MemoryClosedIds::new(ClosedIdsConfig::default().capacity(capacity).ttl(ttl));
        let mut model: HashMap<usize, (Instant, u64)> = HashMap::new();
        let mut now = Instant::now();
        let mut seq = 0u64;

        for op in ops {
            match op {
                Op::Insert(n) => {
                    if use_trait {
                        block_on(store.mark_closed(&id(n), now));
                    } else {
                        store.insert(&id(n), now);
                    }
                    seq += 1;
                    model.insert(n, (now, seq));
                }
                Op::Contains(n) => {
                    let want = expected(&model, n, now, ttl, capacity);
                    let got = if use_trait {
                        block_on(store.is_closed(&id(n), now))
                    } else {
                        store.contains(&id(n), now)
                    };
                    prop_assert_eq!(got, want, "id {} at op seq {}", n, seq);
                }
                Op::Advance(ms) => now += Duration::from_millis(ms),
                Op::RemoveExpired => {
                    let before = store.len();
                    let removed = store.remove_expired(now);
                    prop_assert_eq!(store.len(), before - removed);
                }
            }
            prop_assert!(store.len() <= capacity, "len {} > capacity {}", store.len(), capacity);
            // Every ID the model says is fresh and within the newest `capacity` is held.
            let held = (0..12).filter(|&n| expected(&model, n, now, ttl, capacity)).count();
            prop_assert!(store.len() >= held);
        }

        // Final sweep: every ID agrees with the model.
        for n in 0..12 {
            prop_assert_eq!(store.contains(&id(n), now), expected(&model, n, now, ttl, capacity));
        }
    }
}

/// An evicted ID reads as open (false negative), and evictions are counted.
#[test]
fn eviction_is_a_counted_false_negative() {
    let store = MemoryClosedIds::new(ClosedIdsConfig::default().capacity(3));
    let now = Instant::now();
    for n in 0..5 {
        store.insert(&id(n), now);
    }
    assert_eq!(store.evictions(), 2);
    assert!(!store.contains(&id(0), now));
    assert!(!store.contains(&id(1), now));
    assert!((2..5).all(|n| store.contains(&id(n), now)));
}

/// Forgets after the TTL, with a fake clock.
#[test]
fn forgets_after_ttl() {
    let store = MemoryClosedIds::default();
    let t0 = Instant::now();
    store.insert(&id(1), t0);
    let day = Duration::from_secs(24 * 3600);
    assert!(store.contains(&id(1), t0 + day - Duration::from_nanos(1)));
    assert!(!store.contains(&id(1), t0 + day));
    assert!(store.is_empty());
}

// --- memory bound of the default configuration ---------------------------------

/// Counts this thread's live heap bytes and their peak (other test threads are
/// not counted, so tests can run in parallel).
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let v = live.get().saturating_add_signed(delta);
        live.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

// SAFETY: forwards to `System` unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as isize));
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(new_size as isize - layout.size() as isize);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The default store (100 000 entries) stays under the 20 MiB documented on
/// `ClosedIdsConfig::capacity`, even when IDs are re-marked (stale queue entries).
#[test]
fn default_capacity_memory_bound() {
    let ids: Vec<SessionId> = (0..150_000).map(|_| SessionId::random()).collect();
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let store = MemoryClosedIds::default();
    let now = Instant::now();
    for (i, sid) in ids.iter().enumerate() {
        store.insert(sid, now);
        // Re-mark a recent ID too, which leaves a stale queue entry behind.
        store.insert(&ids[i / 2], now);
    }
    assert_eq!(store.len(), 100_000);
    let peak = PEAK.with(Cell::get) - base;
    let held = LIVE.with(Cell::get) - base;
    eprintln!("closed-id store: {held} bytes held, {peak} bytes peak for 100 000 entries");
    assert!(peak < 20 << 20, "peak {peak} bytes");
    drop(store);
}
