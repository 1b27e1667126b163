//! Our encoder's drivers (shared by `encode` and `interleaved`), and the
//! build-and-encode drivers of ours and the peers: every event built from
//! borrowed `&str` fields (name, id, data) inside the timed loop, then encoded
//! into one reused buffer, each the cheapest public way that starts from `&str`.

use std::borrow::Cow;

use bytes::BytesMut;
use sse_session::event::{Event, EventRef};
use sse_session::field::{EventId, EventName};

use crate::Workload;

/// The workload as our `Event`s (built once, outside timing).
pub fn ours_events(w: &Workload) -> Vec<Event> {
    w.events
        .iter()
        .map(|i| {
            let mut e = Event::new(i.data.clone());
            if let Some(n) = i.name {
                e = e.with_name(EventName::try_from(n).expect("valid name"));
            }
            if let Some(id) = &i.id {
                e = e.with_id(EventId::try_from(id.as_str()).expect("valid id"));
            }
            e
        })
        .collect()
}

/// Encodes every event into one reused buffer; returns the bytes written.
pub fn ours_encode_into(events: &[Event], buf: &mut BytesMut) -> usize {
    buf.clear();
    for e in events {
        e.encode_into(buf);
    }
    buf.len()
}

/// A build-and-encode driver: every event of the workload from its `&str`
/// fields into `buf` (cleared first); returns the bytes written.
pub type BuildFn = fn(&Workload, &mut BytesMut) -> usize;

/// The build-and-encode contenders, ours first.
pub fn build_contenders() -> Vec<(&'static str, BuildFn)> {
    vec![
        ("ours/EventRef", ours_borrowed),
        ("ours/builder", ours_builder),
        ("tokio_sse_codec", tokio_sse_codec_build),
        ("russe", russe_build),
        ("sse-stream", sse_stream_build),
    ]
}

/// Ours, encode-only: `EventRef` over the borrowed fields (validated), no copy.
pub fn ours_borrowed(w: &Workload, buf: &mut BytesMut) -> usize {
    buf.clear();
    for i in &w.events {
        let mut e = EventRef::new(&i.data);
        if let Some(n) = i.name {
            e = e.name(n).expect("valid name");
        }
        if let Some(id) = &i.id {
            e = e.id(id).expect("valid id");
        }
        e.encode_into(buf);
    }
    buf.len()
}

/// Ours, owned: `Event::builder()` from the same `&str`s (the data is copied;
/// name and ID are stored inline), then `encode_into`.
pub fn ours_builder(w: &Workload, buf: &mut BytesMut) -> usize {
    buf.clear();
    for i in &w.events {
        let mut b = Event::builder().data(i.data.as_str());
        if let Some(n) = i.name {
            b = b.name(n);
        }
        if let Some(id) = &i.id {
            b = b.id(id);
        }
        b.build().expect("valid event").encode_into(buf);
    }
    buf.len()
}

/// tokio_sse_codec's `SseEncoder` (a tokio-util codec). Its name and ID are
/// `Cow<'static, str>`, so borrowed `&str`s become owned; data is any
/// `AsRef<[u8]>` and is borrowed. An event without a name gets `event: `
/// (empty, which clients read as `message`).
pub fn tokio_sse_codec_build(w: &Workload, buf: &mut BytesMut) -> usize {
    use tokio_util::codec::Encoder as _;
    buf.clear();
    let mut enc = tokio_sse_codec::SseEncoder::new();
    for i in &w.events {
        let name: &str = i.name.unwrap_or("");
        let frame = tokio_sse_codec::Frame::Event(tokio_sse_codec::Event {
            id: i.id.as_deref().map(|id| Cow::Owned(id.to_owned())),
            name: if name.is_empty() {
                Cow::Borrowed("")
            } else {
                Cow::Owned(name.to_owned())
            },
            data: i.data.as_str(),
        });
        enc.encode(frame, buf).expect("valid event");
    }
    buf.len()
}

/// russe's codec `Encoder`: each field a `ByteString` copied from the `&str`.
pub fn russe_build(w: &Workload, buf: &mut BytesMut) -> usize {
    use tokio_util::codec::Encoder as _;
    buf.clear();
    let mut enc = russe::Encoder::default();
    for i in &w.events {
        let e = russe::Event::Message(russe::Message {
            data: i.data.as_str().into(),
            event: i.name.map(Into::into),
            retry: None,
            id: i.id.as_deref().map(Into::into),
        });
        enc.encode(e, buf).expect("valid event");
    }
    buf.len()
}

/// sse-stream's `Sse::encode` (owned `String` fields, a `Bytes` per event),
/// appended to the buffer.
pub fn sse_stream_build(w: &Workload, buf: &mut BytesMut) -> usize {
    buf.clear();
    for i in &w.events {
        let e = sse_stream::Sse {
            event: i.name.map(str::to_owned),
            data: Some(i.data.as_str().to_owned()),
            id: i.id.as_deref().map(str::to_owned),
            retry: None,
        };
        buf.extend_from_slice(&e.encode().expect("valid event"));
    }
    buf.len()
}

/// `wire` without `event: ` lines that carry no name (tokio_sse_codec writes one
/// for every event; a client reads it as no name), for the full output check.
pub fn without_empty_names(wire: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(wire.len());
    let mut at_line_start = true;
    let mut i = 0;
    while i < wire.len() {
        if at_line_start && wire[i..].starts_with(b"event: \n") {
            i += b"event: \n".len();
            continue;
        }
        at_line_start = wire[i] == b'\n';
        out.push(wire[i]);
        i += 1;
    }
    out
}
