//! Heap allocations made to build and encode one event, counted by a global
//! allocator (per thread, so tests running beside each other do not mix).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::{Bytes, BytesMut};
use sse_session::{Event, EventId, EventName, EventRef};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: the thread's slot may be gone while the thread exits.
    let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: forwards every call unchanged to `System`; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
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

/// Allocations `f` makes on this thread.
fn allocs<R>(f: impl FnOnce() -> R) -> (u64, R) {
    let before = ALLOCS.with(Cell::get);
    let r = f();
    (ALLOCS.with(Cell::get) - before, r)
}

const UUID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const DATA: &str = r#"{"seq":1,"user":"user-0001","status":"active","score":1.5,"note":"hello"}"#;

/// A buffer with room for `n` frames, so that encoding does not grow it.
fn roomy() -> BytesMut {
    BytesMut::with_capacity(64 * 1024)
}

#[test]
fn borrowed_event_allocates_nothing() {
    let mut buf = roomy();
    let (n, ()) = allocs(|| {
        for _ in 0..100 {
            EventRef::new(DATA)
                .name("update")
                .and_then(|e| e.id(UUID))
                .expect("valid fields")
                .encode_into(&mut buf);
        }
    });
    assert_eq!(n, 0);
    assert_eq!(buf.len(), 100 * (14 + 41 + 6 + DATA.len() + 2));
}

#[test]
fn builder_with_inline_name_and_id_allocates_only_for_copied_data() {
    let mut buf = roomy();
    // Data given as &str is copied: one allocation. Name and ID fit inline: none.
    let (n, e) = allocs(|| {
        Event::builder()
            .name("update")
            .id(UUID)
            .data(DATA)
            .build()
            .expect("valid fields")
    });
    assert_eq!(n, 1);
    let (n, ()) = allocs(|| e.encode_into(&mut buf));
    assert_eq!(n, 0);
    assert_eq!(
        &buf[..],
        format!("event: update\nid: {UUID}\ndata: {DATA}\n\n").as_bytes()
    );
}

#[test]
fn owned_static_and_shared_data_are_not_copied() {
    let owned = String::from(DATA);
    let shared = Bytes::from_static(DATA.as_bytes());
    let (n, events) = allocs(|| {
        let a = Event::new(owned)
            .with_name(EventName::from_static("update"))
            .with_id(EventId::try_from(UUID).expect("valid id"));
        let b = Event::from_static(DATA).with_id(EventId::try_from("7").expect("valid id"));
        let c = Event::from_bytes(shared).expect("UTF-8");
        [a, b, c]
    });
    assert_eq!(n, 0);
    for e in &events {
        assert_eq!(e.data(), Some(DATA));
    }
}

#[test]
fn long_ids_and_names_allocate_once_each() {
    let long = "x".repeat(39);
    let (n, e) = allocs(|| Event::builder().name(&long).id(&long).build());
    assert_eq!(n, 2);
    assert_eq!(e.expect("valid").id().map(EventId::len), Some(39));
}

#[test]
fn to_bytes_allocates_once() {
    let e = EventRef::new(DATA).id(UUID).expect("valid id");
    let (n, frame) = allocs(|| e.to_bytes());
    assert_eq!(n, 1);
    assert_eq!(frame.len(), e.encoded_len());
}
