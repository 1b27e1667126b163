//! Builds an `Event` from optional parts: what the property tests' event
//! strategies (tests/encode.rs, tests/roundtrip.rs) generate, put together.

use sse_session::{Event, EventId, EventName, RetryDelay};

/// An event with the given parts; `name` must have no CR/LF and `id` no
/// CR/LF/NUL (the strategies generate them so).
pub fn assemble(
    data: Option<String>,
    name: Option<String>,
    id: Option<String>,
    retry: Option<u64>,
    comments: Vec<String>,
) -> Event {
    let mut e = Event::default();
    if let Some(d) = data {
        e = e.with_data(d);
    }
    if let Some(n) = name {
        e = e.with_name(EventName::try_from(n).expect("no CR/LF"));
    }
    if let Some(i) = id {
        e = e.with_id(EventId::try_from(i).expect("no CR/LF/NUL"));
    }
    if let Some(ms) = retry {
        e = e.with_retry(RetryDelay::from_millis(ms));
    }
    for c in comments {
        e = e.with_comment(c);
    }
    e
}
