//! Conformance table: one case per rule of WHATWG HTML "Parsing an event
//! stream" / "Interpreting an event stream", most of them taken from
//! web-platform-tests' `eventsource/format-*` tests (their wire bytes: the
//! wpt server appends "\n\n" and then "\n" to each message, or only "\n" with
//! `newline=none`).
//!
//! Every case runs three ways and must give the same frames, last event ID
//! and reconnection time: the whole input in one `feed`, one byte per `feed`,
//! and the reference transcription in tests/common/oracle.rs.

#[path = "common/oracle.rs"]
mod oracle;

use sse_session::{Comment, Frame, MessageEvent, ParseErrorKind, Parser, ParserConfig, RetryDelay};

struct Case {
    name: &'static str,
    input: Vec<u8>,
    frames: Vec<Frame>,
    last_event_id: &'static str,
    retry: Option<u64>,
}

fn case(name: &'static str, input: impl AsRef<[u8]>, frames: Vec<Frame>) -> Case {
    Case {
        name,
        input: input.as_ref().to_vec(),
        frames,
        last_event_id: "",
        retry: None,
    }
}

impl Case {
    fn id(mut self, last_event_id: &'static str) -> Self {
        self.last_event_id = last_event_id;
        self
    }
    fn retry(mut self, ms: u64) -> Self {
        self.retry = Some(ms);
        self
    }
}

fn ev(data: &str) -> Frame {
    Frame::Event(MessageEvent::new("message", data, ""))
}
fn ev_id(data: &str, id: &str) -> Frame {
    Frame::Event(MessageEvent::new("message", data, id))
}
fn ev_type(ty: &str, data: &str) -> Frame {
    Frame::Event(MessageEvent::new(ty, data, ""))
}
fn com(text: &str) -> Frame {
    Frame::Comment(Comment::new(text))
}
fn retry(ms: u64) -> Frame {
    Frame::Retry(RetryDelay::from_millis(ms))
}

fn cases() -> Vec<Case> {
    let long = "x".repeat(32768);
    vec![
        // --- decoding: BOM and UTF-8 ---
        case("bom_stripped_at_stream_start", b"\xEF\xBB\xBFdata: 1\n\n", vec![ev("1")]),
        // wpt format-bom.any.js: a BOM after the start is part of the field name
        case(
            "bom_only_at_stream_start",
            b"\xEF\xBB\xBFdata:1\n\n\xEF\xBB\xBFdata:2\n\ndata:3\n\n\n",
            vec![ev("1"), ev("3")],
        ),
        // wpt format-bom-2.any.js: only one BOM is stripped
        case(
            "bom_twice_second_is_content",
            b"\xEF\xBB\xBF\xEF\xBB\xBFdata:1\n\ndata:2\n\ndata:3\n\n\n",
            vec![ev("2"), ev("3")],
        ),
        case(
            "partial_bom_is_content",
            b"\xEF\xBBdata: 1\n\ndata: 2\n\n",
            vec![ev("2")],
        ),
        case("bom_alone_then_eof", b"\xEF\xBB\xBF", vec![]),
        // wpt format-utf-8.any.js: always UTF-8, whatever the charset says
        case("utf8_decoded", b"data:ok\xE2\x80\xA6\n\n\n", vec![ev("ok\u{2026}")]),
        case(
            "invalid_utf8_replaced_by_u_fffd",
            b"data: a\xFFb\n\n",
            vec![ev("a\u{FFFD}b")],
        ),
        case(
            "invalid_utf8_maximal_subpart_truncated_sequence_is_one_fffd",
            b"data: \xE2\x82x\n\n",
            vec![ev("\u{FFFD}x")],
        ),
        case(
            "invalid_utf8_maximal_subpart_bad_second_byte",
            b"data: \xF0\x80\xC0\xAF\n\n",
            vec![ev("\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}")],
        ),
        case(
            "invalid_utf8_before_line_break_does_not_eat_it",
            b"data: \xE2\x82\ndata: y\n\n",
            vec![ev("\u{FFFD}\ny")],
        ),
        case(
            "invalid_utf8_in_field_name_makes_it_unknown",
            b"d\xFFata: x\ndata: y\n\n",
            vec![ev("y")],
        ),
        case(
            "invalid_utf8_in_type_id_comment",
            b":\xFF\nevent: \xFF\nid: \xFF\ndata: x\n\n",
            vec![
                com("\u{FFFD}"),
                Frame::Event(MessageEvent::new("\u{FFFD}", "x", "\u{FFFD}")),
            ],
        )
        .id("\u{FFFD}"),
        // The stream is decoded before it is split into lines, so a line
        // break always ends a broken sequence: the bytes of two fields never
        // join into one character (here data long enough to take the parser's
        // one-copy path, ending with half a euro sign, and an ID of the rest).
        case(
            "invalid_utf8_does_not_join_across_fields",
            b"id: \xAC\ndata: a long line of event data\xE2\x82\n\n",
            vec![Frame::Event(MessageEvent::new(
                "",
                "a long line of event data\u{FFFD}",
                "\u{FFFD}",
            ))],
        )
        .id("\u{FFFD}"),
        // wpt format-null-character.any.js
        case("nul_in_data_is_kept", b"data:\x00\n\n\n", vec![ev("\0")]),
        // --- line endings ---
        case("lf_ends_lines", b"data: a\ndata: b\n\n", vec![ev("a\nb")]),
        case("crlf_ends_lines", b"data: a\r\ndata: b\r\n\r\n", vec![ev("a\nb")]),
        case("lone_cr_ends_lines", b"data: a\rdata: b\r\r", vec![ev("a\nb")]),
        // wpt format-newlines.any.js
        case(
            "mixed_line_endings",
            b"data:test\r\ndata\ndata:test\r\n\r\n",
            vec![ev("test\n\ntest")],
        ),
        // "\r\r\n\n" is three line endings (CR, CRLF, LF)
        case(
            "cr_crlf_lf_is_three_line_endings",
            b"data: a\r\r\n\ndata: b\n\n",
            vec![ev("a"), ev("b")],
        ),
        case("lf_cr_is_two_line_endings", b"data: a\n\rdata: b\n\n", vec![ev("a"), ev("b")]),
        case("cr_at_end_of_stream_ends_the_line", b"retry: 5\r", vec![retry(5)]).retry(5),
        case("blank_lines_only", b"\n\n\r\n\r\r", vec![]),
        case("empty_input", b"", vec![]),
        // --- fields ---
        // wpt format-leading-space.any.js
        case(
            "one_leading_space_removed_tab_kept",
            b"data:\ttest\rdata: \ndata:test\n\n\n",
            vec![ev("\ttest\n\ntest")],
        ),
        case("leading_space_removed_only_once", b"data:  two\n\n", vec![ev(" two")]),
        case("no_space_after_colon", b"data:x\n\n", vec![ev("x")]),
        case("trailing_space_kept", b"data: x \n\n", vec![ev("x ")]),
        case("colon_in_value_kept", b"data: a:b: c\n\n", vec![ev("a:b: c")]),
        case("field_without_colon_has_empty_value", b"data\n\n", vec![ev("")]),
        // wpt format-field-data.any.js
        case(
            "data_field_forms",
            b"data:\n\ndata\ndata\n\ndata:test\n\n\n",
            vec![ev(""), ev("\n"), ev("test")],
        ),
        case(
            "field_names_are_case_sensitive",
            b"Data: x\nDATA: y\ndata: z\n\n",
            vec![ev("z")],
        ),
        case(
            "space_before_colon_is_part_of_the_name",
            b"data : x\ndata: y\n\n",
            vec![ev("y")],
        ),
        // wpt format-field-unknown.any.js
        case(
            "unknown_fields_ignored",
            b"data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test\n\n\n",
            vec![com("thisisacommentyay"), ev("test\n\ntest")],
        ),
        // wpt format-field-parsing.any.js
        case(
            "field_parsing_fest",
            b"data:\x00\ndata:  2\rData:1\ndata\x00:2\ndata:1\r\x00data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n data:32\ndata:4\n\n",
            vec![ev("\0\n 2\n1\n3\n\n4")],
        ),
        // --- comments ---
        // wpt format-comments.any.js
        case(
            "comments_fest",
            format!(
                "data:1\r:\0\n:\r\ndata:2\n:{long}\rdata:3\n:data:fail\r:{long}\ndata:4\n\n"
            ),
            vec![
                com("\0"),
                com(""),
                com(&long),
                com("data:fail"),
                com(&long),
                ev("1\n2\n3\n4"),
            ],
        ),
        case("comment_one_leading_space_removed", b":  x\n", vec![com(" x")]),
        case("comment_only_event_not_dispatched", b": x\n\n", vec![com("x")]),
        case("unterminated_comment_at_eof_dropped", b": bye", vec![]),
        // --- event type ---
        case("event_sets_type", b"event: add\ndata: 1\n\n", vec![ev_type("add", "1")]),
        // wpt format-field-event-empty.any.js
        case(
            "empty_event_type_means_message",
            b"event: \ndata:data\n\n\n",
            vec![ev("data")],
        ),
        case("last_event_field_wins", b"event: a\nevent: b\ndata: x\n\n", vec![ev_type("b", "x")]),
        case(
            "event_type_reset_after_dispatch",
            b"event: a\ndata: 1\n\ndata: 2\n\n",
            vec![ev_type("a", "1"), ev("2")],
        ),
        case(
            "event_type_reset_after_empty_data_dispatch",
            b"event: a\n\ndata: 2\n\n",
            vec![ev("2")],
        ),
        case(
            "event_type_non_ascii",
            "event: \u{fc}n\u{ef}\ndata: x\n\n",
            vec![ev_type("\u{fc}n\u{ef}", "x")],
        ),
        case(
            "event_type_literal_message",
            b"event: message\ndata: x\n\n",
            vec![ev("x")],
        ),
        // --- data and dispatch ---
        case("empty_data_not_dispatched", b"event: x\n\n", vec![]),
        case("one_trailing_lf_removed", b"data: a\ndata:\n\n", vec![ev("a\n")]),
        case("data_lines_joined_with_lf", b"data: a\ndata: b\ndata: c\n\n", vec![ev("a\nb\nc")]),
        case(
            "unfinished_event_at_eof_dropped",
            b"data: a\n\ndata: b\n",
            vec![ev("a")],
        ),
        case(
            "unterminated_last_line_dropped",
            b"data: a\n\nretry: 5",
            vec![ev("a")],
        ),
        case(
            "retry_applies_at_its_line_not_at_dispatch",
            b"data: x\nretry: 10\n\n",
            vec![retry(10), ev("x")],
        )
        .retry(10),
        // --- id ---
        case("id_sets_last_event_id", b"id: 1\ndata: a\n\n", vec![ev_id("a", "1")]).id("1"),
        case(
            "id_persists_across_events",
            b"id: 1\ndata: a\n\ndata: b\n\n",
            vec![ev_id("a", "1"), ev_id("b", "1")],
        )
        .id("1"),
        case(
            "empty_id_resets",
            b"id: 1\ndata: a\n\nid\ndata: b\n\nid: 2\ndata: c\n\nid:\ndata: d\n\n",
            vec![ev_id("a", "1"), ev_id("b", ""), ev_id("c", "2"), ev_id("d", "")],
        ),
        // wpt format-field-id-null.window.js
        case("id_nul_nul_ignored", b"id: \x00\x00\ndata: hello\n\n", vec![ev("hello")]),
        case("id_x_nul_ignored", b"id: x\x00\ndata: hello\n\n", vec![ev("hello")]),
        case("id_nul_x_ignored", b"id: \x00x\ndata: hello\n\n", vec![ev("hello")]),
        case("id_x_nul_x_ignored", b"id: x\x00x\ndata: hello\n\n", vec![ev("hello")]),
        case("id_space_nul_ignored", b"id:  \x00\ndata: hello\n\n", vec![ev("hello")]),
        case(
            "id_with_nul_keeps_previous_id",
            b"id: a\ndata: 1\n\nid: x\x00\ndata: 2\n\n",
            vec![ev_id("1", "a"), ev_id("2", "a")],
        )
        .id("a"),
        case(
            "id_without_data_sets_last_event_id",
            b"id: s1\n\ndata: x\n\n",
            vec![ev_id("x", "s1")],
        )
        .id("s1"),
        case("id_only_then_eof", b"id: s1\n\n", vec![]).id("s1"),
        // wpt format-data-before-final-empty-line.any.js
        case(
            "id_of_unfinished_event_not_applied",
            b"retry:1000\ndata:test1\n\nid:test\ndata:test2\n",
            vec![retry(1000), ev("test1")],
        )
        .retry(1000),
        case("id_leading_space_removed_once", b"id:  x\ndata: d\n\n", vec![ev_id("d", " x")])
            .id(" x"),
        // wpt format-field-id-2.any.js
        case(
            "id_non_ascii",
            "id: \u{2026}\ndata: hello\n\n",
            vec![ev_id("hello", "\u{2026}")],
        )
        .id("\u{2026}"),
        // --- retry ---
        case("retry_sets_reconnection_time", b"retry: 3000\n", vec![retry(3000)]).retry(3000),
        // wpt format-field-retry.any.js: base ten, leading zeros fine
        case(
            "retry_is_decimal",
            b"retry:03000\ndata:x\n\n\n",
            vec![retry(3000), ev("x")],
        )
        .retry(3000),
        // wpt format-field-retry-bogus.any.js
        case(
            "retry_with_non_digits_ignored",
            b"retry:3000\nretry:1000x\ndata:x\n\n\n",
            vec![retry(3000), ev("x")],
        )
        .retry(3000),
        // wpt format-field-retry-empty.any.js
        case(
            "retry_empty_ignored",
            b"retry\nretry:\nretry: \ndata:test\n\n\n",
            vec![ev("test")],
        ),
        case(
            "retry_signs_spaces_fractions_ignored",
            "retry: -1\nretry: +1\nretry:  1\nretry: 1 \nretry: 1.5\nretry: 1e3\nretry: \u{ff15}\n",
            vec![],
        ),
        case(
            "retry_max_u64",
            b"retry: 18446744073709551615\n",
            vec![retry(u64::MAX)],
        )
        .retry(u64::MAX),
        case("retry_overflow_ignored", b"retry: 18446744073709551616\n", vec![]),
        case("retry_zero", b"retry: 0\n", vec![retry(0)]).retry(0),
        case(
            "retry_case_sensitive",
            b"Retry: 5\nRETRY: 6\n",
            vec![],
        ),
    ]
}

fn run(input: &[u8], chunk: usize) -> oracle::Outcome {
    let mut parser = Parser::new();
    let mut frames = Vec::new();
    for piece in input.chunks(chunk.max(1)) {
        parser.feed(piece);
        while let Some(frame) = parser.next_frame().expect("no limit is reached") {
            frames.push(frame);
        }
    }
    parser.finish();
    while let Some(frame) = parser.next_frame().expect("no limit is reached") {
        frames.push(frame);
    }
    oracle::Outcome {
        frames,
        last_event_id: parser.last_event_id().to_owned(),
        reconnection_time: parser.reconnection_time(),
    }
}

#[test]
fn conformance_table() {
    let mut failures = Vec::new();
    for case in cases() {
        let expected = oracle::Outcome {
            frames: case.frames,
            last_event_id: case.last_event_id.to_owned(),
            reconnection_time: case.retry.map(RetryDelay::from_millis),
        };
        let runs = [
            ("whole", run(&case.input, usize::MAX)),
            ("byte by byte", run(&case.input, 1)),
            ("oracle", oracle::parse(&case.input)),
        ];
        for (how, got) in runs {
            if got != expected {
                failures.push(format!(
                    "{} ({how}):\n  expected {expected:?}\n  got      {got:?}",
                    case.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn case_names_are_unique() {
    let mut names: Vec<_> = cases().iter().map(|c| c.name).collect();
    let n = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), n);
}

/// DESIGN.md §4.6: async-sse gave two events here.
#[test]
fn cr_at_chunk_end_then_lf_at_next_chunk_start() {
    let mut parser = Parser::new();
    parser.feed(b"data: a\r");
    assert_eq!(parser.next_frame(), Ok(None));
    parser.feed(b"\ndata: b\r\n\r\n");
    assert_eq!(parser.next_frame(), Ok(Some(ev("a\nb"))));
    assert_eq!(parser.next_frame(), Ok(None));
}

#[test]
fn cr_at_chunk_end_then_other_byte() {
    let mut parser = Parser::new();
    parser.feed(b"data: a\r");
    assert_eq!(parser.next_frame(), Ok(None));
    parser.feed(b"\r");
    assert_eq!(parser.next_frame(), Ok(Some(ev("a"))));
}

#[test]
fn bom_split_across_chunks() {
    let mut parser = Parser::new();
    for piece in [&b"\xEF"[..], b"\xBB", b"\xBF", b"data: 1\n\n"] {
        parser.feed(piece);
    }
    assert_eq!(parser.next_frame(), Ok(Some(ev("1"))));
}

#[test]
fn line_too_long_skips_the_event_and_recovers() {
    let config = ParserConfig::default().max_line_len(9);
    let input = b": ok\ndata: 12345678\ndata: lost and long\n\nid: 1\ndata: yes\n\n";
    for chunk in [1, 3, input.len()] {
        let mut parser = Parser::with_config(config);
        let mut got = Vec::new();
        for piece in input.chunks(chunk) {
            parser.feed(piece);
            loop {
                match parser.next_frame() {
                    Ok(Some(frame)) => got.push(Ok(frame)),
                    Ok(None) => break,
                    Err(e) => got.push(Err((e.kind(), e.limit()))),
                }
            }
        }
        assert_eq!(
            got,
            [
                Ok(com("ok")),
                Err((ParseErrorKind::LineTooLong, 9)),
                Ok(ev_id("yes", "1")),
            ],
            "chunk {chunk}"
        );
    }
}

#[test]
fn event_too_large_skips_the_event_and_its_id() {
    let config = ParserConfig::default().max_event_len(5);
    let mut parser = Parser::with_config(config);
    parser.feed(b"id: 1\ndata: ab\ndata: cd\ndata: e\n: skipped\n\ndata: ok\n\n");
    let err = parser.next_frame().unwrap_err();
    assert_eq!(err.kind(), ParseErrorKind::EventTooLarge);
    assert_eq!(err.to_string(), "event data exceeds 5-byte limit");
    assert_eq!(parser.next_frame(), Ok(Some(ev("ok"))));
    assert_eq!(parser.last_event_id(), "");
}

#[test]
fn event_limit_is_inclusive() {
    // "ab" + "\n" + "cd" = 5 bytes: allowed with a limit of 5.
    let mut parser = Parser::with_config(ParserConfig::default().max_event_len(5));
    parser.feed(b"data: ab\ndata: cd\n\n");
    assert_eq!(parser.next_frame(), Ok(Some(ev("ab\ncd"))));
}

#[test]
fn line_limit_is_inclusive_and_excludes_the_line_break() {
    let mut parser = Parser::with_config(ParserConfig::default().max_line_len(7));
    parser.feed(b"data: x\r\n\r\n");
    assert_eq!(parser.next_frame(), Ok(Some(ev("x"))));
}

#[test]
fn over_long_unterminated_line_is_not_buffered() {
    let mut parser = Parser::with_config(ParserConfig::default().max_line_len(16));
    parser.feed(b"data: ");
    assert_eq!(parser.next_frame(), Ok(None));
    parser.feed(&[b'x'; 64]);
    assert_eq!(
        parser.next_frame().unwrap_err().kind(),
        ParseErrorKind::LineTooLong
    );
    for _ in 0..1000 {
        parser.feed(&[b'x'; 1024]);
        assert_eq!(parser.next_frame(), Ok(None));
    }
    let debug = format!("{parser:?}");
    assert!(debug.contains("unparsed: 0"), "{debug}");
    parser.feed(b"\n\ndata: ok\n\n");
    assert_eq!(parser.next_frame(), Ok(Some(ev("ok"))));
}

/// The default limits take the big events real streams send: a 5 MiB event on
/// one line (LaunchDarkly's SSE contract tests), a base64 image of several MiB
/// (LLM image streams), and an event of many lines; one byte over the line
/// limit is still refused.
#[test]
fn default_limits_take_a_5_mib_event_and_still_bound_memory() {
    let config = ParserConfig::default();
    assert_eq!(
        (config.line_limit(), config.event_limit()),
        (8 << 20, 8 << 20)
    );

    let big = "x".repeat(5 << 20);
    let mut wire = format!("id: 1\ndata: {big}\n\n").into_bytes();
    for chunk in [64 * 1024, 1 << 20, wire.len()] {
        let mut parser = Parser::new();
        let mut events = Vec::new();
        for piece in wire.chunks(chunk) {
            parser.feed(piece);
            while let Some(frame) = parser.next_frame().expect("within the default limits") {
                events.push(frame);
            }
        }
        assert_eq!(events.len(), 1, "chunk {chunk}");
        let Frame::Event(e) = &events[0] else {
            panic!("an event")
        };
        assert!(
            e.data().len() == big.len() && e.data() == big,
            "chunk {chunk}"
        );
    }

    // 6 MiB of base64 on one line, then 64 lines of 100 KiB in one event.
    wire.clear();
    wire.extend_from_slice(b"event: image\ndata: ");
    wire.resize(wire.len() + (6 << 20), b'A');
    wire.extend_from_slice(b"\n\n");
    for _ in 0..64 {
        wire.extend_from_slice(b"data: ");
        wire.resize(wire.len() + 100 * 1024, b'b');
        wire.push(b'\n');
    }
    wire.push(b'\n');
    let mut parser = Parser::new();
    parser.feed(&wire);
    let sizes: Vec<usize> = std::iter::from_fn(|| parser.next_frame().expect("within limits"))
        .map(|f| match f {
            Frame::Event(e) => e.data().len(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(sizes, [6 << 20, 64 * 100 * 1024 + 63]);

    // One byte over the line limit: refused, and the parser goes on.
    let mut parser = Parser::new();
    parser.feed(b"data: ");
    parser.feed(&vec![b'x'; (8 << 20) - 5]);
    assert_eq!(
        parser.next_frame().unwrap_err().kind(),
        ParseErrorKind::LineTooLong
    );
    parser.feed(b"\n\ndata: ok\n\n");
    assert_eq!(parser.next_frame(), Ok(Some(ev("ok"))));
}
