//! Session handshake on arbitrary request heads: arbitrary query bytes, arbitrary
//! `Last-Event-ID` and `Accept` header bytes, any method, default or custom query
//! parameter name. Whenever `http` accepts the request, `Handshake` must not panic,
//! must yield a valid session ID (1–64 bytes of `A-Z a-z 0-9 _ -`), and must agree
//! with a naive transcription of the documented precedence rules.
#![no_main]

use arbitrary::Arbitrary;
use http::header::{HeaderValue, ACCEPT};
use http::{Method, Request, Uri};
use libfuzzer_sys::fuzz_target;
use sse_session::session::{Handshake, HandshakeConfig, IdSource, ResumeToken};

#[derive(Arbitrary, Debug)]
struct Input {
    post: bool,
    custom_param: bool,
    query: Vec<u8>,
    last_event_ids: Vec<Vec<u8>>,
    accepts: Vec<Vec<u8>>,
}

fn is_valid_id(s: &[u8]) -> bool {
    (1..=64).contains(&s.len())
        && s.iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
}

/// `id` or `id.seq` with 1–20 digits fitting u64.
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

/// Strict application/x-www-form-urlencoded decoding.
fn ref_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(s.get(i + 1..i + 3)?).ok()?;
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

fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| *b != b' ' && *b != b'\t');
    let end = v.iter().rposition(|b| *b != b' ' && *b != b'\t');
    match (start, end) {
        (Some(s), Some(e)) => &v[s..=e],
        _ => &[],
    }
}

fn reference(
    query: Option<&str>,
    first_header: Option<&[u8]>,
    param: &str,
) -> Option<(IdSource, Vec<u8>, Option<u64>)> {
    if let Some((id, seq)) = first_header.and_then(|h| ref_token(trim(h))) {
        return Some((IdSource::Header, id, seq));
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

fuzz_target!(|input: Input| {
    let param = if input.custom_param { "tab" } else { "id" };
    let config = HandshakeConfig::default().query_param(param);

    let mut uri = b"/events?".to_vec();
    uri.extend_from_slice(&input.query);
    let Ok(uri) = Uri::try_from(uri) else { return };
    let method = if input.post {
        Method::POST
    } else {
        Method::GET
    };
    let Ok(mut req) = Request::builder().method(method).uri(uri).body(()) else {
        return;
    };

    let mut first_header: Option<Vec<u8>> = None;
    for h in &input.last_event_ids {
        if let Ok(v) = HeaderValue::from_bytes(h) {
            first_header.get_or_insert_with(|| h.clone());
            req.headers_mut().append("last-event-id", v);
        }
    }
    for a in &input.accepts {
        if let Ok(v) = HeaderValue::from_bytes(a) {
            req.headers_mut().append(ACCEPT, v);
        }
    }

    let hs = Handshake::from_request(&req, &config);
    let (parts, ()) = req.into_parts();
    let again = Handshake::from_parts(&parts, &config);

    // Always a valid ID, whatever came in.
    assert!(is_valid_id(hs.session_id().as_bytes()));
    assert!(ResumeToken::parse(&hs.token().to_string()).is_ok());
    if input.post {
        assert!(!hs.is_event_stream());
    }
    assert_eq!(hs.is_event_stream(), again.is_event_stream());
    assert_eq!(hs.source(), again.source());

    match reference(parts.uri.query(), first_header.as_deref(), param) {
        Some((source, id, seq)) => {
            assert_eq!(hs.source(), source);
            assert_eq!(hs.session_id().as_bytes(), &id[..]);
            assert_eq!(hs.seq(), seq);
            assert_eq!(hs, again);
        }
        None => {
            assert_eq!(hs.source(), IdSource::Fresh);
            assert_eq!(hs.seq(), None);
            assert_eq!(hs.session_id().as_str().len(), 36);
        }
    }
});
