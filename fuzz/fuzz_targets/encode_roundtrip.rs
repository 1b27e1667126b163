//! Encoder round trip: for arbitrary data, name, id, retry and comments, the builder
//! accepts exactly the valid fields (name: no CR/LF; id: no CR/LF/NUL), the typed path
//! builds the same event, `encoded_len` is exact, `encode_into` appends exactly
//! `to_bytes`, and parsing the bytes gives back the event with line endings normalised
//! to LF: one comment frame per comment line, the retry, then the event (if it has data).
#![no_main]

use arbitrary::Arbitrary;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sse_session::event::Event;
use sse_session::field::{EventId, EventName, FieldKind, RetryDelay};
use sse_session::parse::{parse_all, Frame};

#[derive(Arbitrary, Debug)]
struct Input {
    data: Option<String>,
    name: Option<String>,
    id: Option<String>,
    retry: Option<u64>,
    comments: Vec<String>,
    /// Bytes already in the caller's buffer (encode_into must append).
    prefix: Vec<u8>,
}

/// Splits on CRLF, lone CR and LF (CRLF counts once), as the encoder must.
fn lines(s: &str) -> Vec<String> {
    s.replace("\r\n", "\n").replace('\r', "\n").split('\n').map(str::to_owned).collect()
}

fuzz_target!(|input: Input| {
    let mut b = Event::builder();
    if let Some(n) = &input.name {
        b = b.name(n);
    }
    if let Some(id) = &input.id {
        b = b.id(id);
    }
    if let Some(ms) = input.retry {
        b = b.retry_ms(ms);
    }
    if let Some(d) = &input.data {
        b = b.data(d);
    }
    for c in &input.comments {
        b = b.comment(c);
    }
    let name_bad = input.name.as_deref().is_some_and(|n| n.contains(['\r', '\n']));
    let id_bad = input.id.as_deref().is_some_and(|i| i.contains(['\r', '\n', '\0']));
    let event = match b.build() {
        Ok(e) => {
            assert!(!name_bad && !id_bad, "builder accepted an invalid field: {input:?}");
            e
        }
        Err(err) => {
            assert!(name_bad || id_bad, "builder rejected valid fields: {err:?} for {input:?}");
            // The first error is kept: the name is set before the id.
            let want = if name_bad { FieldKind::Event } else { FieldKind::Id };
            assert_eq!(err.field(), want);
            return;
        }
    };

    // The typed path builds the same event.
    let mut typed = match &input.data {
        Some(d) => Event::new(d.clone()),
        None => Event::default(),
    };
    if let Some(n) = &input.name {
        typed = typed.with_name(EventName::try_from(n.as_str()).expect("valid name"));
    }
    if let Some(id) = &input.id {
        typed = typed.with_id(EventId::try_from(id.as_str()).expect("valid id"));
    }
    if let Some(ms) = input.retry {
        typed = typed.with_retry(RetryDelay::from_millis(ms));
    }
    for c in &input.comments {
        typed = typed.with_comment(c.clone());
    }
    assert_eq!(typed, event);
    assert_eq!(event.data(), input.data.as_deref());
    assert_eq!(event.name().map(|n| n.as_str()), input.name.as_deref());
    assert_eq!(event.id().map(|i| i.as_str()), input.id.as_deref());
    assert_eq!(event.retry().map(RetryDelay::as_millis), input.retry);
    assert_eq!(event.comments(), &input.comments[..]);

    // Encoding: exact length, append semantics.
    let bytes = event.to_bytes();
    assert_eq!(bytes.len(), event.encoded_len(), "encoded_len is not exact");
    let mut buf = BytesMut::from(&input.prefix[..]);
    event.encode_into(&mut buf);
    assert_eq!(&buf[..input.prefix.len()], &input.prefix[..], "encode_into changed the prefix");
    assert_eq!(&buf[input.prefix.len()..], &bytes[..], "encode_into differs from to_bytes");
    // A frame is its field lines plus a blank line; an event with nothing set is the
    // blank line alone.
    let empty = input.data.is_none()
        && input.name.is_none()
        && input.id.is_none()
        && input.retry.is_none()
        && input.comments.is_empty();
    if empty {
        assert_eq!(&bytes[..], b"\n");
    } else {
        assert!(bytes.ends_with(b"\n\n"), "a frame ends with a blank line");
    }

    // Round trip through the parser.
    let frames = match parse_all(&bytes) {
        Ok(f) => f,
        Err(_) => return, // a default limit (only reachable with huge fields)
    };
    let mut want = Vec::new();
    for c in &input.comments {
        want.extend(lines(c).into_iter().map(|l| format!("comment {l:?}")));
    }
    if let Some(ms) = input.retry {
        want.push(format!("retry {ms}"));
    }
    if let Some(d) = &input.data {
        let ty = match input.name.as_deref() {
            None | Some("") => "message",
            Some(n) => n,
        };
        let id = input.id.as_deref().unwrap_or("");
        want.push(format!("event {ty:?} {id:?} {:?}", lines(d).join("\n")));
    }
    let got: Vec<String> = frames
        .iter()
        .map(|f| match f {
            Frame::Comment(c) => format!("comment {:?}", c.text()),
            Frame::Retry(r) => format!("retry {}", r.as_millis()),
            Frame::Event(e) => format!("event {:?} {:?} {:?}", e.event_type(), e.last_event_id(), e.data()),
            other => format!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(got, want, "parse(encode(e)) != e for {input:?}\nwire: {:?}", String::from_utf8_lossy(&bytes));
});
