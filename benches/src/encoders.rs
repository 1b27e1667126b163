//! Our encoder's drivers (shared by `encode` and `interleaved`).

use bytes::BytesMut;
use sse_session::event::Event;
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
