//! Property tests across the wire: `parse(encode(e)) == e` for arbitrary
//! valid events (line breaks in data and comments come back as `\n`), in any
//! chunking, several events in a row; and names/IDs that could inject fields
//! are always rejected.

#[path = "common/event.rs"]
mod common_event;

use proptest::prelude::*;
use sse_session::{
    Comment, Event, EventId, EventName, FieldErrorKind, Frame, MessageEvent, Parser,
};

/// Text that stresses the encoder and parser: leading/trailing spaces, every
/// kind of line break, colons, non-ASCII, NUL.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just(" "),
        Just("  "),
        Just("\n"),
        Just("\r"),
        Just("\r\n"),
        Just("\n\r"),
        Just(":"),
        Just("data: x"),
        Just("\0"),
        Just("\u{e9}"),
        Just("\u{2026}"),
        Just("\u{1F600}"),
        Just("\u{FEFF}"),
        Just("a"),
        Just("{\"k\":1}"),
    ];
    prop_oneof![
        3 => prop::collection::vec(piece, 0..12).prop_map(|ps| ps.concat()),
        1 => any::<String>(),
    ]
}

/// Text without CR/LF (and, for IDs, without NUL).
fn field_text(allow_nul: bool) -> impl Strategy<Value = String> {
    text().prop_map(move |s| {
        s.chars()
            .filter(|&c| c != '\r' && c != '\n' && (allow_nul || c != '\0'))
            .collect()
    })
}

fn event() -> impl Strategy<Value = Event> {
    (
        prop::option::of(text()),
        prop::option::of(field_text(true)),
        prop::option::of(field_text(false)),
        prop::option::of(any::<u64>()),
        prop::collection::vec(text(), 0..3),
    )
        .prop_map(|(data, name, id, retry, comments)| {
            common_event::assemble(data, name, id, retry, comments)
        })
}

/// CRLF, lone CR and LF all become LF.
fn normalise(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\r', "\n")
}

/// The frames a client must see for `events` sent in a row, and its last
/// event ID at the end.
fn expected(events: &[Event]) -> (Vec<Frame>, String) {
    let mut frames = Vec::new();
    let mut last_id = String::new();
    for e in events {
        for c in e.comments() {
            for line in normalise(c).split('\n') {
                frames.push(Frame::Comment(Comment::new(line)));
            }
        }
        if let Some(id) = e.id() {
            last_id = id.as_str().to_owned();
        }
        if let Some(r) = e.retry() {
            frames.push(Frame::Retry(r));
        }
        if let Some(data) = e.data() {
            let ty = e.name().map_or("", |n| n.as_str());
            frames.push(Frame::Event(MessageEvent::new(
                ty,
                &normalise(data),
                &last_id,
            )));
        }
    }
    (frames, last_id)
}

fn parse_chunked(wire: &[u8], cuts: &[usize]) -> (Vec<Frame>, String) {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    cuts.sort_unstable();
    let mut parser = Parser::new();
    let mut frames = Vec::new();
    let mut start = 0;
    for cut in cuts.into_iter().chain(std::iter::once(wire.len())) {
        parser.feed(&wire[start..cut.max(start)]);
        start = cut.max(start);
        while let Some(f) = parser.next_frame().expect("no limit") {
            frames.push(f);
        }
    }
    parser.finish();
    while let Some(f) = parser.next_frame().expect("no limit") {
        frames.push(f);
    }
    (frames, parser.last_event_id().to_owned())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn parse_of_encode_is_identity(e in event(), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let wire = e.to_bytes();
        prop_assert_eq!(
            parse_chunked(&wire, &cuts),
            expected(std::slice::from_ref(&e)),
            "wire: {:?}",
            wire
        );
    }

    #[test]
    fn a_sequence_of_events_round_trips(
        events in prop::collection::vec(event(), 0..6),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let mut wire = bytes::BytesMut::new();
        for e in &events {
            e.encode_into(&mut wire);
        }
        prop_assert_eq!(parse_chunked(&wire, &cuts), expected(&events));
    }

    #[test]
    fn names_with_line_breaks_are_rejected(s in field_text(true), at in any::<prop::sample::Index>(), bad in prop::sample::select(vec!['\r', '\n'])) {
        let mut s = s;
        let at = char_boundary(&s, at);
        s.insert(at, bad);
        let first_bad = s.find(['\r', '\n']).expect("inserted");
        let err = EventName::try_from(s.as_str()).unwrap_err();
        prop_assert_eq!(err.offset(), first_bad);
        prop_assert_eq!(err.kind(), kind_of(s.as_bytes()[first_bad]));
        prop_assert!(EventName::try_from(s.clone()).is_err());
        prop_assert!(EventName::try_from(bytes::Bytes::from(s.clone())).is_err());
        prop_assert!(s.parse::<EventName>().is_err());
        prop_assert!(Event::builder().data("x").name(&s).build().is_err());
    }

    #[test]
    fn ids_with_line_breaks_or_nul_are_rejected(s in field_text(false), at in any::<prop::sample::Index>(), bad in prop::sample::select(vec!['\r', '\n', '\0'])) {
        let mut s = s;
        let at = char_boundary(&s, at);
        s.insert(at, bad);
        let first_bad = s.find(['\r', '\n', '\0']).expect("inserted");
        let err = EventId::try_from(s.as_str()).unwrap_err();
        prop_assert_eq!(err.offset(), first_bad);
        prop_assert_eq!(err.kind(), kind_of(s.as_bytes()[first_bad]));
        prop_assert!(EventId::try_from(s.clone()).is_err());
        prop_assert!(EventId::try_from(bytes::Bytes::from(s.clone())).is_err());
        prop_assert!(s.parse::<EventId>().is_err());
        prop_assert!(Event::builder().data("x").id(&s).build().is_err());
    }

    #[test]
    fn valid_names_and_ids_are_accepted_unchanged(name in field_text(true), id in field_text(false)) {
        let valid_name = EventName::try_from(name.as_str()).unwrap();
        let valid_id = EventId::try_from(id.as_str()).unwrap();
        prop_assert_eq!(valid_name.as_str(), name.as_str());
        prop_assert_eq!(valid_id.as_str(), id.as_str());
    }
}

fn char_boundary(s: &str, at: prop::sample::Index) -> usize {
    let boundaries: Vec<usize> = s
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(s.len()))
        .collect();
    boundaries[at.index(boundaries.len())]
}

fn kind_of(b: u8) -> FieldErrorKind {
    match b {
        b'\r' => FieldErrorKind::CarriageReturn,
        b'\n' => FieldErrorKind::LineFeed,
        _ => FieldErrorKind::Nul,
    }
}

#[test]
fn leading_space_empty_data_and_trailing_newline_survive() {
    for data in [
        " x",
        "  x",
        "",
        "\n",
        "x\n",
        "a\rb",
        "a\r\nb",
        "\u{e9}\u{2026}",
    ] {
        let wire = Event::new(data).to_bytes();
        let (frames, _) = parse_chunked(&wire, &[]);
        assert_eq!(
            frames,
            [Frame::Event(MessageEvent::new("", &normalise(data), ""))],
            "{data:?}"
        );
    }
}

#[test]
fn empty_id_resets_the_client() {
    let mut wire = Event::new("a")
        .with_id(EventId::from_static("7"))
        .to_bytes()
        .to_vec();
    wire.extend_from_slice(&Event::new("b").with_id(EventId::from_static("")).to_bytes());
    let (frames, last) = parse_chunked(&wire, &[]);
    assert_eq!(
        frames,
        [
            Frame::Event(MessageEvent::new("", "a", "7")),
            Frame::Event(MessageEvent::new("", "b", "")),
        ]
    );
    assert_eq!(last, "");
}
