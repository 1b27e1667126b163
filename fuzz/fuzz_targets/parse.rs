//! The parser on arbitrary bytes: never panics; every frame it yields is well formed
//! (an event's type and data carry no CR, its last event ID no CR, LF or NUL, a
//! comment no line break); its only errors are the two limit kinds. The first byte
//! picks small limits sometimes, so the limit paths are fuzzed too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sse_session::parse::{Frame, ParseErrorKind, Parser, ParserConfig};

fn check_frame(frame: &Frame) {
    match frame {
        Frame::Event(e) => {
            assert!(!e.event_type().contains('\r'), "CR in type {:?}", e.event_type());
            assert!(!e.event_type().contains('\n'), "LF in type {:?}", e.event_type());
            assert!(!e.event_type().is_empty(), "empty type (the default is \"message\")");
            assert!(!e.data().contains('\r'), "CR in data {:?}", e.data());
            let id = e.last_event_id();
            assert!(!id.contains(['\r', '\n', '\0']), "bad id {id:?}");
            assert_eq!(e.clone().into_data(), e.data());
        }
        Frame::Comment(c) => {
            assert!(!c.text().contains(['\r', '\n']), "line break in comment {:?}", c.text());
        }
        Frame::Retry(_) => {}
        _ => {}
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, input)) = input.split_first() else { return };
    let config = match mode % 4 {
        0 => ParserConfig::default(),
        1 => ParserConfig::default().max_line_len(16),
        2 => ParserConfig::default().max_event_len(32),
        _ => ParserConfig::default()
            .max_line_len(usize::from(mode >> 2) + 1)
            .max_event_len(usize::from(mode >> 4) * 3 + 1),
    };
    let mut p = Parser::with_config(config);
    // Feed in two halves when the mode's top bit is set, to reach resumption too.
    if mode & 0x80 != 0 {
        let (a, b) = input.split_at(input.len() / 2);
        p.feed(a);
        if !drain(&mut p) {
            return;
        }
        p.feed_bytes(bytes::Bytes::copy_from_slice(b));
    } else {
        p.feed(input);
    }
    if !drain(&mut p) {
        return;
    }
    p.finish();
    drain(&mut p);
    assert!(!p.last_event_id().contains(['\r', '\n', '\0']));
});

/// Drains frames; returns false after a (limit) error.
fn drain(p: &mut Parser) -> bool {
    loop {
        match p.next_frame() {
            Ok(Some(frame)) => check_frame(&frame),
            Ok(None) => return true,
            Err(e) => {
                match e.kind() {
                    ParseErrorKind::LineTooLong | ParseErrorKind::EventTooLarge => {}
                    other => panic!("parse error of a non-limit kind: {other:?}"),
                }
                assert!(!e.to_string().is_empty());
                return false;
            }
        }
    }
}
