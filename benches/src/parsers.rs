//! The parsers under test, each driven the cheapest public way, and the per-event
//! check every bench runs inside its timed loop (shared by `parse` and `interleaved`).

use std::convert::Infallible;
use std::task::Poll;

use bytes::{Bytes, BytesMut};
use futures_util::{stream, Stream};
use sse_session::parse::{Frame, Parser};

use crate::{noop_cx, Plain, Workload};

/// Per-event expectations for the in-loop check.
pub struct Expect {
    items: Vec<(&'static str, &'static str, usize)>,
}

impl Expect {
    pub fn new(w: &'static Workload) -> Self {
        let mut last_id: &'static str = "";
        let items = w
            .events
            .iter()
            .map(|e| {
                if let Some(id) = &e.id {
                    last_id = id.as_str();
                }
                (e.name.unwrap_or("message"), last_id, e.data.len())
            })
            .collect();
        Expect { items }
    }

    /// Checks event `i`; returns `i + 1`.
    #[inline]
    pub fn check(&self, i: usize, ty: &str, id: &str, data_len: usize) -> usize {
        let (t, d, l) = self.items[i];
        assert!(
            same(ty, t) && same(id, d) && data_len == l,
            "event {i}: {ty:?} {id:?} {data_len}"
        );
        i + 1
    }

    pub fn done(&self, n: usize, who: &str) {
        assert_eq!(n, self.items.len(), "{who}: event count");
    }
}

/// String equality for the short type and id strings, without calling libc's
/// `memcmp`: its AVX-512 version does a masked 32-byte load, which takes a very slow
/// fault-suppression assist when the window crosses into the next page. Whether a
/// 7-byte `"message"` sits near a page end depends on the binary's layout, and when it
/// did, half of every W4 parser bench was spent in that one compare.
#[inline]
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        let x = u64::from_ne_bytes(x.try_into().expect("8 bytes"));
        let y = u64::from_ne_bytes(y.try_into().expect("8 bytes"));
        if x != y {
            return false;
        }
    }
    let mut diff = 0u8;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        diff |= x ^ y;
    }
    diff == 0
}

// ------------------------------------------------------------------ ours

pub fn ours(chunks: &[Bytes], mut on: impl FnMut(&str, &str, &str)) {
    let mut p = Parser::new();
    let mut drain = |p: &mut Parser| loop {
        match p.next_frame() {
            Ok(Some(Frame::Event(e))) => on(e.event_type(), e.last_event_id(), e.data()),
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => panic!("{e}"),
        }
    };
    for c in chunks {
        p.feed_bytes(c.clone());
        drain(&mut p);
    }
    p.finish();
    drain(&mut p);
}

// ------------------------------------------------------------------ peers

fn source(chunks: &[Bytes]) -> impl Stream<Item = Result<Bytes, Infallible>> + '_ {
    stream::iter(chunks.iter().cloned().map(Ok))
}

fn drive<S: Stream>(s: S, mut on: impl FnMut(S::Item)) {
    let mut s = std::pin::pin!(s);
    let mut cx = noop_cx();
    loop {
        match s.as_mut().poll_next(&mut cx) {
            Poll::Ready(Some(item)) => on(item),
            Poll::Ready(None) => return,
            Poll::Pending => panic!("in-memory stream returned Pending"),
        }
    }
}

pub fn sse_stream(chunks: &[Bytes], mut on: impl FnMut(&str, &str, &str)) {
    drive(
        sse_stream::SseByteStream::new(source(chunks)),
        |item| match item {
            Ok(sse_stream::Sse {
                data: Some(data),
                event,
                id,
                ..
            }) => on(
                event.as_deref().unwrap_or("message"),
                id.as_deref().unwrap_or(""),
                &data,
            ),
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        },
    );
}

pub fn eventsource_stream(chunks: &[Bytes], mut on: impl FnMut(&str, &str, &str)) {
    use eventsource_stream::Eventsource as _;
    drive(source(chunks).eventsource(), |item| match item {
        Ok(e) => on(&e.event, &e.id, &e.data),
        Err(e) => panic!("{e}"),
    });
}

pub fn sse_codec(chunks: &[Bytes], mut on: impl FnMut(&str, &str, &str)) {
    use futures_codec::Decoder as _;
    let mut codec = sse_codec::SSECodec::default();
    let mut buf = BytesMut::new();
    for c in chunks {
        buf.extend_from_slice(c);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(sse_codec::Event::Message { id, event, data })) => {
                    on(&event, id.as_deref().unwrap_or(""), &data)
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => panic!("{e}"),
            }
        }
    }
    let _ = codec.decode_eof(&mut buf);
}

pub type ParseFn = fn(&[Bytes], &mut dyn FnMut(&str, &str, &str));

/// Chunk sizes the parsers are fed: 1 KiB, 4 KiB, and the whole input at once.
pub const KIB: usize = 1024;
pub const WHOLE: usize = usize::MAX;

/// How a chunk size is named in bench ids: `1k`, `4k`, `whole`.
pub fn chunk_label(size: usize) -> &'static str {
    match size {
        KIB => "1k",
        s if s == 4 * KIB => "4k",
        _ => "whole",
    }
}

/// A contender: its name, driver, whether it carries the last event ID over to
/// events without an `id:` line (for the full output check), and its chunk sizes.
pub struct Contender {
    pub name: &'static str,
    pub f: ParseFn,
    pub inherits_id: bool,
    pub sizes: &'static [usize],
}

/// Every parser the benches run, in table order.
pub fn contenders() -> [Contender; 4] {
    [
        Contender {
            name: "ours",
            f: |c, on| ours(c, on),
            inherits_id: true,
            sizes: &[KIB, 4 * KIB, WHOLE],
        },
        Contender {
            name: "sse-stream",
            f: |c, on| sse_stream(c, on),
            inherits_id: false,
            sizes: &[4 * KIB, WHOLE],
        },
        Contender {
            name: "eventsource-stream",
            f: |c, on| eventsource_stream(c, on),
            inherits_id: true,
            sizes: &[4 * KIB, WHOLE],
        },
        Contender {
            name: "sse-codec",
            f: |c, on| sse_codec(c, on),
            inherits_id: true,
            sizes: &[4 * KIB, WHOLE],
        },
    ]
}

/// eventsource-stream copies the rest of its buffer after every line
/// (`String::split_off`): on whole input with many lines one pass takes seconds
/// (quadratic), so it is fed whole only on W3 (one line per event).
pub fn too_slow_whole(name: &str, size: usize, w: &Workload) -> bool {
    name == "eventsource-stream" && size == WHOLE && w.name != "W3"
}

pub fn run(f: ParseFn, chunks: &[Bytes], x: &Expect, who: &str) {
    let mut i = 0;
    f(chunks, &mut |ty, id, data| {
        i = x.check(i, ty, id, data.len())
    });
    x.done(i, who);
}

pub fn collect(f: ParseFn, chunks: &[Bytes]) -> Vec<Plain> {
    let mut out = Vec::new();
    f(chunks, &mut |ty, id, data| {
        out.push(Plain {
            event_type: ty.to_owned(),
            id: id.to_owned(),
            data: data.to_owned(),
        })
    });
    out
}
