//! The parser on arbitrary bytes: never panics; every frame it yields is well formed
//! (an event's type and data carry no CR, its last event ID no CR, LF or NUL, a
//! comment no line break); its only errors are the two limit kinds. The first byte
//! picks small limits sometimes, so the limit paths are fuzzed too. With the default
//! limits (which fuzz inputs never reach) the frames must also equal those of a
//! line-by-line transcription of the WHATWG algorithm below.
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

/// The WHATWG event-stream interpretation, transcribed naively: decode the whole
/// stream as UTF-8 with replacement (a leading BOM dropped), split lines on CRLF, CR
/// or LF, drop an unterminated last line, and process each line as the spec says.
/// Frames are rendered as strings to compare.
fn oracle(input: &[u8]) -> (Vec<String>, String) {
    let text = String::from_utf8_lossy(input);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut lines = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(['\r', '\n']) {
        lines.push(&rest[..i]);
        let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
        rest = &rest[i + skip..];
    }
    let (mut out, mut data, mut ty, mut id_buf, mut last_id) =
        (Vec::new(), String::new(), String::new(), String::new(), String::new());
    for line in lines {
        if line.is_empty() {
            last_id = id_buf.clone();
            if data.is_empty() {
                ty.clear();
                continue;
            }
            if data.ends_with('\n') {
                data.pop();
            }
            let t = if ty.is_empty() { "message" } else { &ty };
            out.push(format!("event {t:?} {last_id:?} {data:?}"));
            data.clear();
            ty.clear();
            continue;
        }
        if let Some(comment) = line.strip_prefix(':') {
            out.push(format!("comment {:?}", comment.strip_prefix(' ').unwrap_or(comment)));
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => ty = value.to_owned(),
            "data" => {
                data.push_str(value);
                data.push('\n');
            }
            "id" if !value.contains('\0') => id_buf = value.to_owned(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(ms) = value.parse::<u64>() {
                    out.push(format!("retry {ms}"));
                }
            }
            _ => {}
        }
    }
    (out, last_id)
}

fn render(frame: &Frame) -> String {
    match frame {
        Frame::Event(e) => format!("event {:?} {:?} {:?}", e.event_type(), e.last_event_id(), e.data()),
        Frame::Comment(c) => format!("comment {:?}", c.text()),
        Frame::Retry(r) => format!("retry {}", r.as_millis()),
        other => format!("unknown {other:?}"),
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, input)) = input.split_first() else { return };
    if mode % 4 == 0 {
        // Default limits: compare with the spec transcription.
        let mut p = Parser::new();
        p.feed(input);
        p.finish();
        let mut got = Vec::new();
        loop {
            match p.next_frame() {
                Ok(Some(f)) => got.push(render(&f)),
                Ok(None) => break,
                Err(e) => panic!("default limits hit by a {}-byte input: {e}", input.len()),
            }
        }
        let (want, last_id) = oracle(input);
        assert_eq!(got, want, "frames differ from the spec transcription");
        assert_eq!(p.last_event_id(), last_id, "last event ID differs");
    }
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
