//! The public encoding API: validated fields, the builder, and the exact wire
//! bytes of every encoding rule (WHATWG HTML, "Server-sent events").

#[path = "common/event.rs"]
mod common_event;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sse_session::{
    Event, EventBuilder, EventId, EventName, FieldErrorKind, FieldKind, InvalidField, RetryDelay,
    KEEP_ALIVE,
};

/// Encodes `e` both ways and checks they agree with each other and with
/// `encoded_len`.
fn wire(e: &Event) -> String {
    let bytes = e.to_bytes();
    assert_eq!(bytes.len(), e.encoded_len(), "encoded_len of {e:?}");
    let mut buf = BytesMut::from(&b"before"[..]);
    e.encode_into(&mut buf);
    assert_eq!(&buf[..6], b"before", "encode_into appends");
    assert_eq!(&buf[6..], &bytes[..], "encode_into == to_bytes for {e:?}");
    String::from_utf8(bytes.to_vec()).expect("frames are UTF-8")
}

fn err(field: FieldKind, kind: FieldErrorKind, offset: usize, e: InvalidField) {
    assert_eq!(
        (e.field(), e.kind(), e.offset()),
        (field, kind, offset),
        "{e}"
    );
}

// ------------------------------------------------------------ field injection

#[test]
fn injection_through_the_name_is_rejected_at_the_break() {
    let e = EventName::try_from("x\ndata: injected").unwrap_err();
    err(FieldKind::Event, FieldErrorKind::LineFeed, 1, e);
    assert_eq!(e.to_string(), "event name contains a line feed at byte 1");

    let e = EventName::try_from("update\r\nid: 0").unwrap_err();
    err(FieldKind::Event, FieldErrorKind::CarriageReturn, 6, e);

    let e = Event::builder()
        .name("x\ndata: injected")
        .data("real")
        .build()
        .unwrap_err();
    err(FieldKind::Event, FieldErrorKind::LineFeed, 1, e);
}

#[test]
fn injection_through_the_id_is_rejected_at_the_break() {
    for (id, kind, at) in [
        ("42\nretry: 1", FieldErrorKind::LineFeed, 2),
        ("42\rdata: x", FieldErrorKind::CarriageReturn, 2),
        ("\r\n\r\n", FieldErrorKind::CarriageReturn, 0),
        ("4\u{0}2", FieldErrorKind::Nul, 1),
    ] {
        err(FieldKind::Id, kind, at, EventId::try_from(id).unwrap_err());
        err(FieldKind::Id, kind, at, id.parse::<EventId>().unwrap_err());
        err(
            FieldKind::Id,
            kind,
            at,
            EventId::try_from(id.to_owned()).unwrap_err(),
        );
        err(
            FieldKind::Id,
            kind,
            at,
            EventId::try_from(Bytes::copy_from_slice(id.as_bytes())).unwrap_err(),
        );
        err(
            FieldKind::Id,
            kind,
            at,
            Event::builder().id(id).build().unwrap_err(),
        );
    }
}

#[test]
fn non_ascii_values_are_fine_and_offsets_are_bytes() {
    let name = EventName::try_from("données").unwrap();
    assert_eq!(
        wire(&Event::new("x").with_name(name)),
        "event: données\ndata: x\n\n"
    );
    // "é" is two bytes: the LF is at byte 3, not char 2.
    let e = EventId::try_from("é\n").unwrap_err();
    assert_eq!(e.offset(), 2);
    let e = EventId::try_from("aé\n").unwrap_err();
    assert_eq!(e.to_string(), "event id contains a line feed at byte 3");
}

#[test]
fn bytes_must_be_utf8() {
    let e = EventName::try_from(Bytes::from_static(b"ok\xc3(")).unwrap_err();
    err(FieldKind::Event, FieldErrorKind::InvalidUtf8, 2, e);
    assert_eq!(e.to_string(), "event name is not valid UTF-8 at byte 2");
    let id = EventId::try_from(Bytes::from_static("ü".as_bytes())).unwrap();
    assert_eq!(id, "ü");
}

#[test]
fn nul_is_fine_in_a_name_but_not_in_an_id() {
    let name = EventName::try_from("a\0b").unwrap();
    assert_eq!(
        wire(&Event::new("x").with_name(name)),
        "event: a\0b\ndata: x\n\n"
    );
    assert!(EventId::try_from("a\0b").is_err());
}

// ------------------------------------------------------------ the builder

#[test]
fn builder_keeps_the_first_error() {
    let e = Event::builder()
        .data("fine")
        .id("bad\n")
        .name("also\rbad")
        .comment("fine")
        .build()
        .unwrap_err();
    err(FieldKind::Id, FieldErrorKind::LineFeed, 3, e);

    let e = Event::builder()
        .name("first\r")
        .id("second\n")
        .build()
        .unwrap_err();
    err(FieldKind::Event, FieldErrorKind::CarriageReturn, 5, e);
}

#[test]
fn builder_overwrites_fields_and_appends_comments() {
    let e = EventBuilder::new()
        .name("a")
        .name("b")
        .id("1")
        .id("2")
        .retry_ms(1)
        .retry_ms(2)
        .data("x")
        .data("y")
        .comment("c1")
        .comment("c2")
        .build()
        .unwrap();
    assert_eq!(
        wire(&e),
        ": c1\n: c2\nevent: b\nid: 2\nretry: 2\ndata: y\n\n"
    );
}

#[test]
fn builder_and_typed_setters_agree() {
    let built = Event::builder()
        .name("update")
        .id("7")
        .retry_ms(3000)
        .data("d")
        .comment("c")
        .build()
        .unwrap();
    let typed = Event::new("d")
        .with_name(EventName::from_static("update"))
        .with_id(EventId::from_static("7"))
        .with_retry(RetryDelay::from_millis(3000))
        .with_comment("c");
    assert_eq!(built, typed);
    assert_eq!(built.to_bytes(), typed.to_bytes());
}

#[test]
fn getters() {
    let e = Event::new("d")
        .with_name(EventName::from_static("n"))
        .with_id(EventId::from_static("i"))
        .with_retry(RetryDelay::from_millis(5))
        .with_comment("c");
    assert_eq!(e.data(), Some("d"));
    assert_eq!(e.name().map(EventName::as_str), Some("n"));
    assert_eq!(e.id().map(EventId::as_str), Some("i"));
    assert_eq!(e.retry(), Some(RetryDelay::from_millis(5)));
    assert_eq!(e.comments(), ["c"]);
    let empty = Event::default();
    assert_eq!(
        (empty.data(), empty.name(), empty.id(), empty.retry()),
        (None, None, None, None)
    );
    assert!(empty.comments().is_empty());
}

// ------------------------------------------------------------ encoding rules

#[test]
fn data_rules() {
    let cases = [
        ("x", "data: x\n\n"),
        ("", "data: \n\n"),
        (" lead", "data:  lead\n\n"),
        ("  two", "data:   two\n\n"),
        ("trail ", "data: trail \n\n"),
        ("a\nb", "data: a\ndata: b\n\n"),
        ("a\rb", "data: a\ndata: b\n\n"),
        ("a\r\nb", "data: a\ndata: b\n\n"),
        ("a\n\nb", "data: a\ndata: \ndata: b\n\n"),
        ("a\r\rb", "data: a\ndata: \ndata: b\n\n"),
        ("a\n\rb", "data: a\ndata: \ndata: b\n\n"),
        ("a\r\n\r\nb", "data: a\ndata: \ndata: b\n\n"),
        ("a\n", "data: a\ndata: \n\n"),
        ("a\r", "data: a\ndata: \n\n"),
        ("a\r\n", "data: a\ndata: \n\n"),
        ("\n", "data: \ndata: \n\n"),
        ("\r\n", "data: \ndata: \n\n"),
        ("\n\n", "data: \ndata: \ndata: \n\n"),
        ("data: x", "data: data: x\n\n"),
        (": not a comment", "data: : not a comment\n\n"),
        ("tab\there", "data: tab\there\n\n"),
        ("nul\0here", "data: nul\0here\n\n"),
        ("ünï\u{2028}cøde", "data: ünï\u{2028}cøde\n\n"),
    ];
    for (data, expected) in cases {
        assert_eq!(wire(&Event::new(data)), expected, "data {data:?}");
    }
}

#[test]
fn long_data_with_breaks_near_the_ends() {
    // Long enough for the vectorised search; breaks at the first and last byte.
    let mut data = String::from("\r");
    data.push_str(&"x".repeat(100));
    data.push_str("\r\n");
    data.push_str(&"y".repeat(100));
    data.push('\r');
    let expected = format!(
        "data: \ndata: {}\ndata: {}\ndata: \n\n",
        "x".repeat(100),
        "y".repeat(100)
    );
    assert_eq!(wire(&Event::new(data)), expected);
}

#[test]
fn many_short_lines() {
    let data: String = (0..64).map(|i| format!("line {i}\n")).collect();
    let mut expected: String = (0..64).map(|i| format!("data: line {i}\n")).collect();
    expected.push_str("data: \n\n");
    assert_eq!(wire(&Event::new(data)), expected);
}

#[test]
fn comment_rules() {
    let cases = [
        ("hi", ": hi\n\n"),
        ("", ":\n\n"),
        (" lead", ":  lead\n\n"),
        ("a\nb", ": a\n: b\n\n"),
        ("a\r\nb\rc", ": a\n: b\n: c\n\n"),
        ("a\n\nb", ": a\n:\n: b\n\n"),
        ("a\n", ": a\n:\n\n"),
        ("data: x", ": data: x\n\n"),
    ];
    for (comment, expected) in cases {
        assert_eq!(
            wire(&Event::default().with_comment(comment)),
            expected,
            "comment {comment:?}"
        );
    }
    assert_eq!(
        wire(&Event::new("x").with_comment("one").with_comment("two")),
        ": one\n: two\ndata: x\n\n"
    );
}

#[test]
fn field_lines() {
    let id = |s: &'static str| Event::default().with_id(EventId::from_static(s));
    assert_eq!(wire(&id("")), "id: \n\n");
    assert_eq!(wire(&id("42")), "id: 42\n\n");
    assert_eq!(wire(&id(" 42")), "id:  42\n\n");
    let name = Event::new("x").with_name(EventName::from_static("update"));
    assert_eq!(wire(&name), "event: update\ndata: x\n\n");
    let retry = |ms| Event::default().with_retry(RetryDelay::from_millis(ms));
    assert_eq!(wire(&retry(0)), "retry: 0\n\n");
    assert_eq!(wire(&retry(3000)), "retry: 3000\n\n");
    assert_eq!(wire(&retry(u64::MAX)), "retry: 18446744073709551615\n\n");
}

#[test]
fn full_frame_order() {
    let e = Event::new("line 1\nline 2")
        .with_comment("note")
        .with_retry(RetryDelay::from_millis(10))
        .with_id(EventId::from_static("id-1"))
        .with_name(EventName::from_static("update"));
    assert_eq!(
        wire(&e),
        ": note\nevent: update\nid: id-1\nretry: 10\ndata: line 1\ndata: line 2\n\n"
    );
}

#[test]
fn frames_without_data() {
    assert_eq!(wire(&Event::default()), "\n");
    let e = Event::default()
        .with_id(EventId::from_static("s1"))
        .with_retry(RetryDelay::from_millis(3000));
    assert_eq!(wire(&e), "id: s1\nretry: 3000\n\n");
}

#[test]
fn keep_alive_is_a_static_comment_frame() {
    assert_eq!(&KEEP_ALIVE[..], b":\n\n");
    assert_eq!(KEEP_ALIVE, Event::default().with_comment("").to_bytes());
}

#[cfg(feature = "json")]
#[test]
fn json_data_is_one_line() {
    #[derive(serde::Serialize)]
    struct Msg<'a> {
        text: &'a str,
        n: u32,
    }
    let e = Event::json(&Msg {
        text: "two\nlines\r",
        n: 1,
    })
    .unwrap();
    assert_eq!(wire(&e), "data: {\"text\":\"two\\nlines\\r\",\"n\":1}\n\n");
    assert!(Event::json(&std::collections::HashMap::from([((1u8, 2u8), 3u8)])).is_err());
}

// ------------------------------------------------------------ buffers

#[test]
fn encode_into_appends_and_to_bytes_is_exact() {
    let events = [
        Event::new("x"),
        Event::new("a\r\nb\rc\n").with_comment("c\nd"),
        Event::default().with_id(EventId::from_static("")),
        Event::new("").with_name(EventName::from_static("n")),
    ];
    let mut buf = BytesMut::new();
    let mut expected = Vec::new();
    for e in &events {
        e.encode_into(&mut buf);
        expected.extend_from_slice(&e.to_bytes());
    }
    assert_eq!(&buf[..], &expected[..]);
    let total: usize = events.iter().map(Event::encoded_len).sum();
    assert_eq!(buf.len(), total);
}

#[test]
fn encode_into_does_not_grow_a_roomy_buffer() {
    let e = Event::new("{\"price\":1}")
        .with_name(EventName::from_static("update"))
        .with_id(EventId::from_static("0123"));
    let mut buf = BytesMut::with_capacity(100 * e.encoded_len());
    let ptr = buf.as_ptr();
    for _ in 0..100 {
        e.encode_into(&mut buf);
    }
    assert_eq!(buf.as_ptr(), ptr, "no reallocation");
    assert_eq!(buf.len(), 100 * e.encoded_len());
}

#[test]
fn to_bytes_is_shared_by_clones() {
    let frame = Event::new("broadcast").to_bytes();
    let a = frame.clone();
    let b = frame.clone();
    assert_eq!(a.as_ptr(), b.as_ptr());
    assert_eq!(&a[..], b"data: broadcast\n\n");
}

// ------------------------------------------------------------ retry values

#[test]
fn retry_delay_conversions() {
    assert_eq!(
        RetryDelay::try_from(Duration::from_secs(3)).unwrap(),
        RetryDelay::from_millis(3000)
    );
    let e = RetryDelay::try_from(Duration::from_micros(2500)).unwrap_err();
    err(FieldKind::Retry, FieldErrorKind::NotWholeMillis, 0, e);
    let e = RetryDelay::try_from(Duration::MAX).unwrap_err();
    assert_eq!(e.field(), FieldKind::Retry);
    let e = RetryDelay::try_from(Duration::from_secs(u64::MAX)).unwrap_err();
    err(FieldKind::Retry, FieldErrorKind::TooLarge, 0, e);
    assert_eq!("3000".parse::<RetryDelay>().unwrap().as_millis(), 3000);
    let e = "3s".parse::<RetryDelay>().unwrap_err();
    err(FieldKind::Retry, FieldErrorKind::NotDigits, 1, e);
    let e = "-1".parse::<RetryDelay>().unwrap_err();
    err(FieldKind::Retry, FieldErrorKind::NotDigits, 0, e);
    assert_eq!(
        Duration::from(RetryDelay::from_millis(7)),
        Duration::from_millis(7)
    );
}

#[test]
fn errors_are_std_errors_and_send_sync() {
    fn assert_error<E: std::error::Error + Send + Sync + Copy + Eq + 'static>(_: &E) {}
    let e = EventName::try_from("\n").unwrap_err();
    assert_error(&e);
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
    assert_eq!(
        boxed.to_string(),
        "event name contains a line feed at byte 0"
    );
}

// ------------------------------------------------------------ allocations

/// Counts the allocations made by the current thread (tests run in parallel).
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static ALLOCS: Cell<u64> = const { Cell::new(0) };
    }

    pub struct Counting;

    fn count() {
        // `try_with`: the slot may be gone while a thread shuts down.
        let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
    }

    // SAFETY: forwards every call unchanged to `System`; only adds a
    // thread-local counter (a const-initialised `Cell`, which never allocates).
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            count();
            // SAFETY: same contract as ours.
            unsafe { System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            count();
            // SAFETY: same contract as ours.
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            count();
            // SAFETY: same contract as ours.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: same contract as ours.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    /// Allocations made by `f` on this thread.
    pub fn allocs<R>(f: impl FnOnce() -> R) -> (u64, R) {
        let before = ALLOCS.with(Cell::get);
        let r = f();
        (ALLOCS.with(Cell::get) - before, r)
    }
}

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

fn sample_events() -> Vec<Event> {
    vec![
        Event::new("x"),
        Event::new(""),
        Event::new("{\"price\":12.5,\"tags\":[\"a\",\"b\"],\"note\":\"a longer single line\"}")
            .with_name(EventName::from_static("update"))
            .with_id(EventId::from_static("0b7e1c2a-5f7d-4f57-9d3c-2f9c1f1f8e11")),
        Event::new("x".repeat(70_000)),
        Event::new("line\n".repeat(64)),
        Event::new("a\r\nb\rc\n\n"),
        Event::default()
            .with_comment("c\nd")
            .with_retry(RetryDelay::from_millis(3000)),
        Event::default().with_id(EventId::from_static("")),
        Event::default(),
    ]
}

#[test]
fn to_bytes_allocates_once() {
    for e in sample_events() {
        let (n, bytes) = counting::allocs(|| e.to_bytes());
        assert_eq!(n, 1, "to_bytes of {:?}", bytes);
        // `bytes` makes the buffer shareable on the first clone (one small
        // header); every later clone is a refcount bump.
        let (n, first) = counting::allocs(|| bytes.clone());
        assert!(n <= 1, "first clone: {n} allocations");
        let (n, _) = counting::allocs(|| [(); 100].map(|()| first.clone()));
        assert_eq!(n, 0, "later clones are refcount bumps");
    }
}

#[test]
fn encode_into_a_roomy_buffer_never_allocates() {
    let events = sample_events();
    let total: usize = events.iter().map(Event::encoded_len).sum();
    let mut buf = BytesMut::with_capacity(total);
    let (n, ()) = counting::allocs(|| {
        for e in &events {
            e.encode_into(&mut buf);
        }
    });
    assert_eq!(n, 0);
    assert_eq!(buf.len(), total);
    // And again into the same (cleared) buffer, as a server loop would.
    let (n, ()) = counting::allocs(|| {
        buf.clear();
        for e in &events {
            e.encode_into(&mut buf);
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn encode_into_an_empty_buffer_allocates_once_for_single_line_data() {
    for e in sample_events() {
        let multi_line = e.data().is_some_and(|d| d.contains(['\r', '\n']))
            || e.comments().iter().any(|c| c.contains(['\r', '\n']));
        if multi_line || e.encoded_len() == 0 {
            continue;
        }
        let mut buf = BytesMut::new();
        let (n, ()) = counting::allocs(|| e.encode_into(&mut buf));
        assert_eq!(n, 1, "{e:?}");
    }
}

// ------------------------------------------------------------ properties

mod props {
    use super::*;
    use proptest::prelude::*;

    /// Text rich in line breaks, spaces and colons (and some non-ASCII).
    fn text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just('\n'),
                Just('\r'),
                Just(' '),
                Just(':'),
                Just('é'),
                Just('\u{2028}'),
                proptest::char::range('a', 'e'),
            ],
            0..40,
        )
        .prop_map(|chars| chars.into_iter().collect())
    }

    /// `text` with CRLF, CR and LF each turned into one LF.
    fn normalise(text: &str) -> String {
        text.replace("\r\n", "\n").replace('\r', "\n")
    }

    prop_compose! {
        fn event()(
            data in proptest::option::of(text()),
            name in proptest::option::of("[a-z :]{0,8}"),
            id in proptest::option::of("[a-z0-9 ]{0,8}"),
            retry in proptest::option::of(any::<u64>()),
            comments in proptest::collection::vec(text(), 0..3),
        ) -> Event {
            common_event::assemble(data, name, id, retry, comments)
        }
    }

    proptest! {
        #[test]
        fn frames_are_well_formed(e in event()) {
            let frame = wire(&e);
            prop_assert!(!frame.contains('\r'), "no CR on the wire: {frame:?}");
            // One blank line, at the end, and nowhere else.
            let body = frame.strip_suffix('\n').expect("ends with a blank line");
            prop_assert!(body.is_empty() || body.ends_with('\n'));
            let lines: Vec<&str> = body.lines().collect();
            let mut comments = Vec::new();
            let mut data = Vec::new();
            for line in &lines {
                if let Some(c) = line.strip_prefix(": ") {
                    prop_assert!(!c.is_empty(), "an empty comment line is `:`");
                    comments.push(c);
                } else if *line == ":" {
                    comments.push("");
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push(d);
                } else {
                    prop_assert!(
                        ["event: ", "id: ", "retry: "].iter().any(|p| line.starts_with(p)),
                        "unexpected line {line:?}"
                    );
                }
            }
            // Data and comments come back line by line, line breaks normalised.
            match e.data() {
                Some(d) => prop_assert_eq!(data.join("\n"), normalise(d)),
                None => prop_assert!(data.is_empty()),
            }
            let expected: Vec<String> = e.comments().iter().map(|c| normalise(c)).collect();
            prop_assert_eq!(comments.join("\n"), expected.join("\n"));
        }
    }
}
