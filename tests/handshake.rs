//! The session handshake on real `http::Request`s: precedence, decoding, invalid
//! input ignored and never echoed, and (proptest) agreement with a naive reference
//! implementation of the documented rules on arbitrary query and header bytes.

use http::header::{HeaderValue, ACCEPT};
use http::{Method, Request};
use proptest::prelude::*;
use sse_session::session::{Handshake, HandshakeConfig, IdSource, ResumeToken, SessionId};

const LAST_EVENT_ID: &str = "last-event-id";

fn run(req: &Request<()>) -> Handshake {
    Handshake::from_request(req, &HandshakeConfig::default())
}

fn get(uri: &str) -> http::request::Builder {
    Request::builder().method(Method::GET).uri(uri)
}

#[test]
fn new_connection_gets_a_fresh_uuid() {
    let req = get("/events")
        .header(ACCEPT, "text/event-stream")
        .body(())
        .unwrap();
    let hs = run(&req);
    assert_eq!(hs.source(), IdSource::Fresh);
    assert!(hs.is_event_stream());
    assert_eq!(hs.seq(), None);
    let id = hs.session_id().as_str();
    assert_eq!(id.len(), 36);
    assert_eq!(id.as_bytes()[14], b'4', "UUID version 4: {id}");
    assert_ne!(hs.session_id(), run(&req).session_id());
}

#[test]
fn reconnect_with_header_keeps_the_id() {
    let first = run(&get("/events").body(()).unwrap());
    let token = first.token().to_string();
    let again = run(&get("/events")
        .header(LAST_EVENT_ID, token.as_str())
        .body(())
        .unwrap());
    assert_eq!(again.source(), IdSource::Header);
    assert_eq!(again.session_id(), first.session_id());
}

#[test]
fn reconnect_with_query_keeps_the_id() {
    let first = run(&get("/events").body(()).unwrap());
    let uri = format!("/events?id={}", first.session_id());
    let again = run(&get(&uri).body(()).unwrap());
    assert_eq!(again.source(), IdSource::Query);
    assert_eq!(again.session_id(), first.session_id());
}

#[test]
fn client_chosen_id_and_seq_are_kept() {
    let hs = run(&get("/events?x=1&id=my_tab-1.99&id=other").body(()).unwrap());
    assert_eq!(hs.source(), IdSource::Query);
    assert_eq!(hs.session_id().as_str(), "my_tab-1");
    assert_eq!(hs.seq(), Some(99));
}

#[test]
fn header_beats_query_when_they_disagree() {
    let req = get("/events?id=from-query.1")
        .header(LAST_EVENT_ID, "from-header.2")
        .body(())
        .unwrap();
    let hs = run(&req);
    assert_eq!(hs.source(), IdSource::Header);
    assert_eq!(hs.token().to_string(), "from-header.2");
}

#[test]
fn invalid_header_then_query_then_fresh() {
    let req = get("/events?id=from-query")
        .header(LAST_EVENT_ID, "not valid")
        .body(())
        .unwrap();
    assert_eq!(run(&req).source(), IdSource::Query);
    let req = get("/events?id=not%20valid")
        .header(LAST_EVENT_ID, "not valid")
        .body(())
        .unwrap();
    assert_eq!(run(&req).source(), IdSource::Fresh);
}

/// The invalid tokens of issue 3: each yields a fresh ID by header and by query,
/// and nothing of the rejected value shows up in the handshake or its Debug output.
#[test]
fn invalid_tokens_get_a_fresh_id_and_are_not_echoed() {
    let long = "A".repeat(65);
    let long_seq = "tab.123456789012345678901";
    // (raw header bytes, query-encoded form)
    let cases: Vec<(Vec<u8>, String)> = vec![
        (b"bad tab".to_vec(), "bad+tab".into()),
        (b"bad tab".to_vec(), "bad%20tab".into()),
        (long.clone().into_bytes(), long.clone()),
        (b"tab.".to_vec(), "tab.".into()),
        (b"tab.".to_vec(), "tab%2E".into()),
        (long_seq.as_bytes().to_vec(), long_seq.into()),
        ("t\u{e4}b".as_bytes().to_vec(), "t%C3%A4b".into()),
        (b"tab\xff".to_vec(), "tab%FF".into()),
        (b"tab.1.2".to_vec(), "tab.1.2".into()),
        (b"tab,other".to_vec(), "tab,other".into()),
        (b"".to_vec(), "".into()),
        // Percent-encoded CR/LF: an attempt to inject SSE fields through `id:`.
        (b"tab".to_vec(), "tab%0D%0Adata:%20x".into()),
        (b"tab".to_vec(), "tab%0A".into()),
        (b"tab".to_vec(), "tab%0D".into()),
        (b"tab".to_vec(), "tab%".into()),
        (b"tab".to_vec(), "tab%0".into()),
        (b"tab".to_vec(), "tab%GG".into()),
    ];
    for (header, query) in cases {
        let uri = format!("/events?id={query}");
        let by_query = run(&get(&uri).body(()).unwrap());
        assert_eq!(by_query.source(), IdSource::Fresh, "query {query:?}");
        assert_eq!(by_query.seq(), None);

        // Valid header bytes only (http refuses CR/LF in a HeaderValue anyway).
        if header == b"tab" {
            continue;
        }
        let mut req = get("/events").body(()).unwrap();
        req.headers_mut().insert(
            LAST_EVENT_ID,
            HeaderValue::from_bytes(&header).expect("header bytes"),
        );
        let by_header = run(&req);
        assert_eq!(by_header.source(), IdSource::Fresh, "header {header:?}");
        let shown = format!("{by_header:?} {}", by_header.token());
        if header.len() > 3 {
            let needle = String::from_utf8_lossy(&header[..4]).into_owned();
            assert!(!shown.contains(&needle), "{shown} echoes {needle}");
        }
    }
}

#[test]
fn percent_decoding_is_correct() {
    let hs = run(&get("/events?id=a%2Db%5Fc%2E7").body(()).unwrap());
    assert_eq!(hs.session_id().as_str(), "a-b_c");
    assert_eq!(hs.seq(), Some(7));
    let hs = run(&get("/events?%69d=x").body(()).unwrap());
    assert_eq!(hs.session_id().as_str(), "x");
}

#[test]
fn custom_query_param_name() {
    let config = HandshakeConfig::default().query_param("tab");
    let req = get("/events?id=ignored&tab=chosen").body(()).unwrap();
    let hs = Handshake::from_request(&req, &config);
    assert_eq!(hs.source(), IdSource::Query);
    assert_eq!(hs.session_id().as_str(), "chosen");
    let (parts, ()) = req.into_parts();
    assert_eq!(
        Handshake::from_parts(&parts, &config).session_id().as_str(),
        "chosen"
    );
}

#[test]
fn event_stream_detection_on_real_requests() {
    let es = |method: Method, accept: Option<&str>| {
        let mut b = Request::builder().method(method).uri("/events");
        if let Some(a) = accept {
            b = b.header(ACCEPT, a);
        }
        run(&b.body(()).unwrap()).is_event_stream()
    };
    assert!(es(Method::GET, Some("text/event-stream")));
    assert!(es(Method::GET, Some("text/html, text/event-stream;q=0.5")));
    assert!(!es(Method::GET, Some("*/*")));
    assert!(!es(Method::GET, Some("text/event-stream;q=0")));
    assert!(!es(Method::GET, None));
    assert!(!es(Method::POST, Some("text/event-stream")));
}

#[test]
fn debug_does_not_print_the_whole_id() {
    let req = get("/events?id=abcdefghijklmnop").body(()).unwrap();
    let shown = format!("{:?}", run(&req));
    assert!(shown.contains("abcd"), "{shown}");
    assert!(!shown.contains("abcdefghijklmnop"), "{shown}");
}

// --- reference model ---------------------------------------------------------

fn is_valid_id(s: &[u8]) -> bool {
    (1..=64).contains(&s.len())
        && s.iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
}

/// The documented token rule, written out naively.
fn ref_token(s: &[u8]) -> Option<(Vec<u8>, Option<u64>)> {
    let s = std::str::from_utf8(s).ok()?;
    let (id, seq) = match s.split_once('.') {
        Some((id, seq)) => (id, Some(seq)),
        None => (s, None),
    };
    if !is_valid_id(id.as_bytes()) {
        return None;
    }
    let seq = match seq {
        None => None,
        Some(d) if (1..=20).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) => {
            Some(d.parse::<u64>().ok()?)
        }
        Some(_) => return None,
    };
    Some((id.as_bytes().to_vec(), seq))
}

/// application/x-www-form-urlencoded decoding, strict about `%` escapes.
fn ref_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

fn ref_handshake(
    query: Option<&str>,
    headers: &[Vec<u8>],
    param: &str,
) -> Option<(IdSource, Vec<u8>, Option<u64>)> {
    if let Some(first) = headers.first() {
        let trimmed = first
            .iter()
            .position(|b| *b != b' ' && *b != b'\t')
            .map(|start| {
                let end = first
                    .iter()
                    .rposition(|b| *b != b' ' && *b != b'\t')
                    .unwrap();
                &first[start..=end]
            })
            .unwrap_or(&[]);
        if let Some((id, seq)) = ref_token(trimmed) {
            return Some((IdSource::Header, id, seq));
        }
    }
    if param.is_empty() {
        return None;
    }
    for pair in query?.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if ref_decode(k.as_bytes()).as_deref() == Some(param.as_bytes()) {
            let (id, seq) = ref_token(&ref_decode(v.as_bytes())?)?;
            return Some((IdSource::Query, id, seq));
        }
    }
    None
}

fn query_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"id".to_vec()),
        Just(b"=".to_vec()),
        Just(b"&".to_vec()),
        Just(b"%".to_vec()),
        Just(b"+".to_vec()),
        Just(b".".to_vec()),
        Just(b"%2D".to_vec()),
        Just(b"%69".to_vec()),
        Just(b"%0A".to_vec()),
        Just(b"tab-1".to_vec()),
        Just(b"42".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..4),
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"tab-1".to_vec()),
        Just(b".".to_vec()),
        Just(b"7".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\t".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..4),
    ];
    proptest::collection::vec(piece, 0..6).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Never panics; always yields a valid ID; agrees with the reference model.
    #[test]
    fn agrees_with_reference(
        query in query_bytes(),
        headers in proptest::collection::vec(header_bytes(), 0..3),
        custom in any::<bool>(),
    ) {
        let param = if custom { "tab" } else { "id" };
        let config = HandshakeConfig::default().query_param(param);
        let mut uri = b"/events?".to_vec();
        uri.extend_from_slice(&query);
        let mut builder = Request::get("/events");
        let mut query_used = None;
        if let Ok(u) = http::Uri::try_from(uri) {
            query_used = u.query().map(str::to_owned);
            builder = builder.uri(u);
        }
        let mut req = builder.body(()).unwrap();
        let mut accepted = Vec::new();
        for h in &headers {
            if let Ok(v) = HeaderValue::from_bytes(h) {
                req.headers_mut().append(LAST_EVENT_ID, v);
                accepted.push(h.clone());
            }
        }
        let hs = Handshake::from_request(&req, &config);
        prop_assert!(is_valid_id(hs.session_id().as_bytes()));
        prop_assert!(SessionId::try_from(hs.session_id().as_str()).is_ok());
        prop_assert!(ResumeToken::parse(&hs.token().to_string()).is_ok());
        match ref_handshake(query_used.as_deref(), &accepted, param) {
            Some((source, id, seq)) => {
                prop_assert_eq!(hs.source(), source);
                prop_assert_eq!(hs.session_id().as_bytes(), &id[..]);
                prop_assert_eq!(hs.seq(), seq);
            }
            None => {
                prop_assert_eq!(hs.source(), IdSource::Fresh);
                prop_assert_eq!(hs.seq(), None);
            }
        }
    }
}
