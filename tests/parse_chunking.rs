//! Property tests for the incremental parser:
//!
//! - any split of any byte string parses to the same frames as the whole
//!   input, and to what the spec transcription (tests/common/oracle.rs) says;
//! - the parser never panics on arbitrary bytes, whatever the limits;
//! - the limits produce the typed error at the right point (checked against a
//!   small model of the documented recovery rule).

#[path = "common/oracle.rs"]
mod oracle;

use proptest::prelude::*;
use sse_session::{Comment, Frame, MessageEvent, ParseErrorKind, Parser, ParserConfig, RetryDelay};

type Item = Result<Frame, (ParseErrorKind, usize)>;

/// Feeds `input` cut at `cuts` (sorted, deduplicated offsets), drains after
/// every feed, then finishes.
fn run(
    config: ParserConfig,
    input: &[u8],
    cuts: &[usize],
) -> (Vec<Item>, String, Option<RetryDelay>) {
    let mut parser = Parser::with_config(config);
    let mut items = Vec::new();
    let drain = |parser: &mut Parser, items: &mut Vec<Item>| loop {
        match parser.next_frame() {
            Ok(Some(frame)) => items.push(Ok(frame)),
            Ok(None) => break,
            Err(e) => items.push(Err((e.kind(), e.limit()))),
        }
    };
    let mut start = 0;
    for (n, &cut) in cuts.iter().chain(std::iter::once(&input.len())).enumerate() {
        let cut = cut.min(input.len()).max(start);
        // Both inputs: `feed_bytes` may parse the chunk in place.
        if n % 2 == 0 {
            parser.feed_bytes(bytes::Bytes::copy_from_slice(&input[start..cut]));
        } else {
            parser.feed(&input[start..cut]);
        }
        drain(&mut parser, &mut items);
        start = cut;
    }
    parser.finish();
    drain(&mut parser, &mut items);
    (
        items,
        parser.last_event_id().to_owned(),
        parser.reconnection_time(),
    )
}

/// `default` cases per property, or `PROPTEST_CASES` when set, for a longer
/// soak: `PROPTEST_CASES=200000 cargo test --release --test parse_chunking`.
fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// Cut points from arbitrary numbers.
fn cuts_for(len: usize, raw: &[usize]) -> Vec<usize> {
    let mut cuts: Vec<usize> = raw.iter().map(|c| c % (len + 1)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// Byte strings made mostly of event-stream pieces, so that fields, line
/// breaks, BOMs, NULs and bad UTF-8 meet each other and chunk edges often.
fn stream_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(&b"data"[..]),
        Just(&b"data:"[..]),
        Just(&b"data: "[..]),
        Just(&b"event:"[..]),
        Just(&b"id:"[..]),
        Just(&b"id"[..]),
        Just(&b"retry:"[..]),
        Just(&b"retry: 12"[..]),
        Just(&b":"[..]),
        Just(&b" "[..]),
        Just(&b"\n"[..]),
        Just(&b"\r"[..]),
        Just(&b"\r\n"[..]),
        Just(&b"\n\n"[..]),
        Just(&b"\0"[..]),
        Just(&b"\xEF\xBB\xBF"[..]),
        Just(&b"\xEF\xBB"[..]),
        Just(&b"\xFF"[..]),
        Just(&b"\xE2\x82"[..]),
        Just(&b"\xAC"[..]),
        Just("\u{e9}\u{2026}".as_bytes()),
        Just(&b"x"[..]),
        Just(&b"longer than an inline event"[..]),
        Just(&b"7"[..]),
        Just(&b"Data"[..]),
    ];
    prop_oneof![
        3 => prop::collection::vec(piece, 0..40).prop_map(|ps| ps.concat()),
        2 => field_lines(),
        1 => prop::collection::vec(any::<u8>(), 0..200),
    ]
}

/// A field value of text, runs longer than an inline event, broken UTF-8
/// and NUL.
fn field_value() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(&b"some text longer than an inline event"[..]),
        Just(&b"\xE2\x82"[..]),
        Just(&b"\xE2"[..]),
        Just(&b"\x82\xAC"[..]),
        Just(&b"\xAC"[..]),
        Just("\u{e9}".as_bytes()),
        Just(&b"\0"[..]),
    ];
    prop::collection::vec(piece, 0..4).prop_map(|pieces| pieces.concat())
}

/// One event of one to three `data`, `id` and `event` lines (values from
/// [`field_value`]) ended by the same line break, then a blank line made of
/// that break too (a blank `\n` after a `\r` would only make it a CRLF).
fn field_event() -> impl Strategy<Value = Vec<u8>> {
    let name = prop_oneof![Just(&b"data"[..]), Just(&b"id"[..]), Just(&b"event"[..])];
    let colon = prop_oneof![Just(&b":"[..]), Just(&b": "[..])];
    let end = prop_oneof![Just(&b"\n"[..]), Just(&b"\r\n"[..]), Just(&b"\r"[..])];
    let lines = prop::collection::vec((name, colon, field_value()), 1..4);
    (lines, end).prop_map(|(lines, end)| {
        let mut event = Vec::new();
        for (name, colon, value) in lines {
            event.extend_from_slice(name);
            event.extend_from_slice(colon);
            event.extend_from_slice(&value);
            event.extend_from_slice(end);
        }
        event.extend_from_slice(end);
        event
    })
}

/// A few [`field_event`]s, so that the bytes of one field meet those of
/// another in the same event.
fn field_lines() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(field_event(), 0..8).prop_map(|events| events.concat())
}

/// The documented limit behaviour on top of the spec: a line longer than
/// `max_line` (or an unterminated tail that is) and an event whose data grows
/// past `max_event` give one error, then everything up to and including the
/// next blank line is skipped and the skipped event has no effect.
fn model_with_limits(original: &[u8], max_line: usize, max_event: usize) -> Vec<Item> {
    let input = original.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(original);
    let mut lines: Vec<&[u8]> = Vec::new();
    let mut rest = input;
    let tail;
    loop {
        match rest.iter().position(|&b| b == b'\r' || b == b'\n') {
            Some(i) => {
                lines.push(&rest[..i]);
                let skip = if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                rest = &rest[i + skip..];
            }
            None => {
                tail = rest;
                break;
            }
        }
    }
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut items = Vec::new();
    let mut skip = false;
    let (mut data, mut has_data, mut data_len) = (String::new(), false, 0usize);
    let mut ty = String::new();
    let (mut id_buf, mut last_id) = (String::new(), String::new());
    for line in lines {
        if skip {
            skip = !line.is_empty();
            continue;
        }
        if line.len() > max_line {
            items.push(Err((ParseErrorKind::LineTooLong, max_line)));
            skip = true;
            (data, has_data, data_len, ty, id_buf) =
                (String::new(), false, 0, String::new(), last_id.clone());
            continue;
        }
        if line.is_empty() {
            last_id = id_buf.clone();
            if has_data {
                items.push(Ok(Frame::Event(MessageEvent::new(&ty, &data, &last_id))));
            }
            (data, has_data, data_len, ty) = (String::new(), false, 0, String::new());
            continue;
        }
        if line[0] == b':' {
            let text = line[1..].strip_prefix(b" ").unwrap_or(&line[1..]);
            items.push(Ok(Frame::Comment(Comment::new(lossy(text)))));
            continue;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(c) => (
                &line[..c],
                line[c + 1..].strip_prefix(b" ").unwrap_or(&line[c + 1..]),
            ),
            None => (line, &b""[..]),
        };
        match name {
            b"data" => {
                let len = data_len + usize::from(has_data) + value.len();
                if len > max_event {
                    items.push(Err((ParseErrorKind::EventTooLarge, max_event)));
                    skip = true;
                    (data, has_data, data_len, ty, id_buf) =
                        (String::new(), false, 0, String::new(), last_id.clone());
                    continue;
                }
                if has_data {
                    data.push('\n');
                }
                data.push_str(&lossy(value));
                (has_data, data_len) = (true, len);
            }
            b"event" => ty = lossy(value),
            b"id" if !value.contains(&0) => id_buf = lossy(value),
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                if let Ok(ms) = std::str::from_utf8(value).unwrap().parse::<u64>() {
                    items.push(Ok(Frame::Retry(RetryDelay::from_millis(ms))));
                }
            }
            _ => {}
        }
    }
    // A stream that is only the start of a BOM waits for the rest of it.
    let bom_prefix_only = original.len() < 3 && b"\xEF\xBB\xBF".starts_with(original);
    if !skip && tail.len() > max_line && !bom_prefix_only {
        items.push(Err((ParseErrorKind::LineTooLong, max_line)));
    }
    items
}

proptest! {
    #![proptest_config(cases(2000))]

    #[test]
    fn any_split_equals_whole_and_oracle(
        input in stream_bytes(),
        raw_cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let config = ParserConfig::default();
        let whole = run(config, &input, &[]);
        let split = run(config, &input, &cuts_for(input.len(), &raw_cuts));
        prop_assert_eq!(&split, &whole);

        let expected = oracle::parse(&input);
        let frames: Vec<Frame> = whole.0.into_iter().map(|i| i.expect("no limit")).collect();
        prop_assert_eq!(frames, expected.frames);
        prop_assert_eq!(whole.1, expected.last_event_id);
        prop_assert_eq!(whole.2, expected.reconnection_time);
    }

    #[test]
    fn each_field_is_decoded_on_its_own(input in field_event()) {
        // The parser keeps field values as received until the event ends,
        // and then must decode each value by itself (data ending
        // mid-character followed by an ID of continuation bytes is two
        // errors, not one character).
        let expected = oracle::parse(&input);
        let whole = run(ParserConfig::default(), &input, &[]);
        let frames: Vec<Frame> = whole.0.into_iter().map(|i| i.expect("no limit")).collect();
        prop_assert_eq!(frames, expected.frames);
        prop_assert_eq!(whole.1, expected.last_event_id);
    }

    #[test]
    fn byte_by_byte_equals_whole(input in stream_bytes()) {
        let config = ParserConfig::default();
        let every: Vec<usize> = (1..input.len()).collect();
        prop_assert_eq!(run(config, &input, &every), run(config, &input, &[]));
    }

    #[test]
    fn never_panics_and_limits_are_chunking_invariant(
        input in prop::collection::vec(any::<u8>(), 0..300),
        raw_cuts in prop::collection::vec(any::<usize>(), 0..12),
        max_line in 0usize..24,
        max_event in 0usize..24,
    ) {
        let config = ParserConfig::default().max_line_len(max_line).max_event_len(max_event);
        let whole = run(config, &input, &[]);
        let split = run(config, &input, &cuts_for(input.len(), &raw_cuts));
        prop_assert_eq!(&split, &whole);
    }

    #[test]
    fn limits_error_at_the_right_point(
        input in stream_bytes(),
        raw_cuts in prop::collection::vec(any::<usize>(), 0..12),
        max_line in 0usize..16,
        max_event in 0usize..16,
    ) {
        let config = ParserConfig::default().max_line_len(max_line).max_event_len(max_event);
        let split = run(config, &input, &cuts_for(input.len(), &raw_cuts));
        prop_assert_eq!(split.0, model_with_limits(&input, max_line, max_event));
    }

    #[test]
    fn feed_after_finish_is_a_fresh_stream(a in stream_bytes(), b in stream_bytes()) {
        // Two streams through one parser = the second stream alone, except
        // that the last event ID and reconnection time carry over.
        let mut parser = Parser::new();
        parser.feed(&a);
        parser.finish();
        parser.feed(&b);
        parser.finish();
        let mut frames = Vec::new();
        while let Some(frame) = parser.next_frame().expect("no limit") {
            frames.push(frame);
        }
        let first = oracle::parse(&a);
        let n = first.frames.len();
        prop_assert_eq!(&frames[..n], &first.frames[..]);
        let second = oracle::parse(&b);
        prop_assert_eq!(frames.len(), n + second.frames.len());
        for (got, want) in frames[n..].iter().zip(&second.frames) {
            match (got, want) {
                (Frame::Event(g), Frame::Event(w)) => {
                    prop_assert_eq!(g.event_type(), w.event_type());
                    prop_assert_eq!(g.data(), w.data());
                }
                _ => prop_assert_eq!(got, want),
            }
        }
    }
}

/// Streams with long lines (over the parser's internal 2 KiB threshold for
/// receiving a long `data` line straight into its own buffer, and over the
/// 16 KiB from which it decodes a line in pieces).
fn long_line_bytes() -> impl Strategy<Value = Vec<u8>> {
    let blob = |n: usize, b: u8| vec![b; n];
    let piece = prop_oneof![
        Just(b"data: ".to_vec()),
        Just(b"data:".to_vec()),
        Just(b"data".to_vec()),
        Just(b"event: e".to_vec()),
        Just(b"id: 1".to_vec()),
        Just(b": c".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n\n".to_vec()),
        Just(b"\xE2\x82".to_vec()),
        Just("\u{2026}".as_bytes().to_vec()),
        (1usize..5000).prop_map(move |n| blob(n, b'a')),
        // Characters of every width, to be cut by the chunks and by the
        // parser's own pieces (long data is decoded 8 KiB at a time).
        (1usize..700).prop_map(|n| "\u{e9}\u{20ac}\u{1f600}x".repeat(n).into_bytes()),
        Just(blob(2047, b'b')),
        Just(blob(2048, b'c')),
        Just(blob(16 * 1024 + 1, b'd')),
    ];
    prop::collection::vec(piece, 0..16).prop_map(|ps| ps.concat())
}

proptest! {
    #![proptest_config(cases(500))]

    #[test]
    fn long_lines_any_split_equals_whole_and_oracle(
        input in long_line_bytes(),
        raw_cuts in prop::collection::vec(any::<usize>(), 0..40),
    ) {
        let config = ParserConfig::default();
        let whole = run(config, &input, &[]);
        let split = run(config, &input, &cuts_for(input.len(), &raw_cuts));
        prop_assert_eq!(&split, &whole);
        let expected = oracle::parse(&input);
        let frames: Vec<Frame> = whole.0.into_iter().map(|i| i.expect("no limit")).collect();
        prop_assert_eq!(frames, expected.frames);
        prop_assert_eq!(whole.1, expected.last_event_id);
    }

    #[test]
    fn long_lines_limits_error_at_the_right_point(
        input in long_line_bytes(),
        raw_cuts in prop::collection::vec(any::<usize>(), 0..40),
        max_line in 1000usize..9000,
        max_event in 1000usize..12000,
    ) {
        let config = ParserConfig::default().max_line_len(max_line).max_event_len(max_event);
        let split = run(config, &input, &cuts_for(input.len(), &raw_cuts));
        prop_assert_eq!(split.0, model_with_limits(&input, max_line, max_event));
    }
}

#[test]
fn chunk_sizes_1_7_64_4096_agree_on_a_large_stream() {
    let mut input = Vec::new();
    for i in 0..2000 {
        input.extend_from_slice(
            format!(
                "event: update\r\nid: {i:036}\rdata: {{\"n\":{i},\"text\":\"caf\u{e9} \u{2026}\"}}\ndata\n\r\n: tick\n"
            )
            .as_bytes(),
        );
    }
    let whole = run(ParserConfig::default(), &input, &[]);
    assert_eq!(whole.0.len(), 4000);
    for size in [1usize, 7, 64, 4096] {
        let cuts: Vec<usize> = (size..input.len()).step_by(size).collect();
        assert_eq!(
            run(ParserConfig::default(), &input, &cuts),
            whole,
            "chunk {size}"
        );
    }
}
