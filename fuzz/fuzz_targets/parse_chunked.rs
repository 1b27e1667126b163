//! Chunking never changes the result: the leading bytes choose split points (and whether
//! each chunk goes in as `&[u8]` or as `Bytes`), and the frames (and the limit error,
//! if any) must equal those of a one-shot parse of the same input, as must the final
//! last event ID and reconnection time.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sse_session::parse::{Frame, ParseErrorKind, Parser, ParserConfig};

#[derive(Debug, PartialEq)]
struct Outcome {
    frames: Vec<Frame>,
    error: Option<ParseErrorKind>,
    last_event_id: String,
    retry: Option<u64>,
}

fn config(small: bool) -> ParserConfig {
    if small {
        ParserConfig::default().max_line_len(64).max_event_len(256)
    } else {
        ParserConfig::default()
    }
}

/// Drains frames into `out`; returns false after an error.
fn drain(p: &mut Parser, out: &mut Outcome) -> bool {
    loop {
        match p.next_frame() {
            Ok(Some(f)) => out.frames.push(f),
            Ok(None) => return true,
            Err(e) => {
                out.error = Some(e.kind());
                return false;
            }
        }
    }
}

fn parse<'a>(small: bool, chunks: impl IntoIterator<Item = (&'a [u8], bool)>) -> Outcome {
    let mut p = Parser::with_config(config(small));
    let mut out = Outcome { frames: Vec::new(), error: None, last_event_id: String::new(), retry: None };
    let mut ok = true;
    for (chunk, as_bytes) in chunks {
        if as_bytes {
            p.feed_bytes(bytes::Bytes::copy_from_slice(chunk));
        } else {
            p.feed(chunk);
        }
        ok = drain(&mut p, &mut out);
        if !ok {
            break;
        }
    }
    if ok {
        p.finish();
        drain(&mut p, &mut out);
    }
    if out.error.is_none() {
        out.last_event_id = p.last_event_id().to_owned();
        out.retry = p.reconnection_time().map(|r| r.as_millis());
    }
    out
}

fuzz_target!(|data: &[u8]| {
    // Header: [flags, n, len_1 .. len_n], then the input. Chunk lengths cycle until
    // the input is used up; a zero length feeds an empty chunk.
    let Some((&flags, rest)) = data.split_first() else { return };
    let Some((&n, rest)) = rest.split_first() else { return };
    let n = usize::from(n % 16).min(rest.len());
    let (lens, input) = rest.split_at(n);
    let small = flags & 1 != 0;

    let whole = parse(small, [(input, false)]);

    let mut chunks = Vec::new();
    if lens.is_empty() {
        // One byte at a time: the hardest case for state carried across chunks.
        chunks.extend(input.chunks(1).enumerate().map(|(i, c)| (c, (flags >> (1 + i % 7)) & 1 != 0)));
    } else {
        let mut at = 0;
        let mut i = 0;
        while at < input.len() {
            let len = usize::from(lens[i % lens.len()]).min(input.len() - at);
            chunks.push((&input[at..at + len], (flags >> (1 + i % 7)) & 1 != 0));
            at += len;
            i += 1;
            if i > 4 * input.len() + 16 {
                break; // all-zero lengths: stop feeding empty chunks
            }
        }
        if at < input.len() {
            chunks.push((&input[at..], false));
        }
    }
    let split = parse(small, chunks.iter().copied());

    assert_eq!(split, whole, "chunked parse differs from the one-shot parse");
});
