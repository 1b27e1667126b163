//! The session handshake: which session does a request belong to?

use std::borrow::Cow;

use http::header::{HeaderMap, HeaderName, ACCEPT};
use http::{request::Parts, Method, Request};

use super::id::{ResumeToken, SessionId};

/// The `Last-Event-ID` request header.
static LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// How a request's session is found.
///
/// `#[non_exhaustive]` with [`Default`] and chained setters:
///
/// ```
/// use sse_session::session::HandshakeConfig;
///
/// let config = HandshakeConfig::default().query_param("tab");
/// assert_eq!(config.query_param_name(), "tab");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct HandshakeConfig {
    query_param: Cow<'static, str>,
}

impl Default for HandshakeConfig {
    /// The query parameter is `id` (`/events?id=<token>`): short, and what
    /// the crate's examples and the DESIGN use.
    ///
    /// ```
    /// use sse_session::session::HandshakeConfig;
    ///
    /// assert_eq!(HandshakeConfig::default().query_param_name(), "id");
    /// ```
    fn default() -> Self {
        Self {
            query_param: Cow::Borrowed("id"),
        }
    }
}

impl HandshakeConfig {
    /// Sets the name of the query parameter that carries a client-chosen
    /// resume token (default `id`).
    ///
    /// The name is compared with each parameter name *after* percent-decoding
    /// it (so `%69d` matches `id`), case-sensitively. An empty name turns the
    /// query lookup off: only `Last-Event-ID` can then resume a session.
    ///
    /// ```
    /// use http::Request;
    /// use sse_session::session::{Handshake, HandshakeConfig, IdSource};
    ///
    /// let req = Request::get("/events?tab=abc").body(())?;
    /// let hs = Handshake::from_request(&req, &HandshakeConfig::default().query_param("tab"));
    /// assert_eq!(hs.source(), IdSource::Query);
    ///
    /// let off = HandshakeConfig::default().query_param("");
    /// let req = Request::get("/events?id=abc").body(())?;
    /// assert_eq!(Handshake::from_request(&req, &off).source(), IdSource::Fresh);
    /// # Ok::<(), http::Error>(())
    /// ```
    pub fn query_param(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.query_param = name.into();
        self
    }

    /// The configured query parameter name.
    ///
    /// ```
    /// use sse_session::session::HandshakeConfig;
    ///
    /// assert_eq!(HandshakeConfig::default().query_param_name(), "id");
    /// ```
    #[must_use]
    pub fn query_param_name(&self) -> &str {
        &self.query_param
    }
}

/// Where a handshake's session ID came from.
///
/// ```
/// use sse_session::session::{Handshake, HandshakeConfig, IdSource};
///
/// let req = http::Request::get("/events").body(())?;
/// assert_eq!(Handshake::from_request(&req, &HandshakeConfig::default()).source(), IdSource::Fresh);
/// # Ok::<(), http::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdSource {
    /// No valid token was presented: a new random ID was generated.
    Fresh,
    /// Chosen by the client through the query parameter (typically a page that
    /// kept its ID in `sessionStorage` across a reload).
    Query,
    /// Resumed from the `Last-Event-ID` header (a browser `EventSource`
    /// reconnecting after the stream ended or the network dropped).
    Header,
}

/// The outcome of a session handshake: the session a request belongs to, how
/// that was decided, and whether the request looks like an `EventSource`.
///
/// # Precedence
///
/// 1. The **first** `Last-Event-ID` header, if it holds a valid [`ResumeToken`]
///    (after trimming the spaces and tabs around it, as HTTP does for every field
///    value). It is the newest thing the browser saw, so it wins. Browsers send
///    at most one; if a request carries several, only the first is looked at and
///    later ones are ignored even when the first is invalid, so that an
///    intermediary appending a header cannot change the outcome.
/// 2. Else the **first** occurrence of the query parameter (see
///    [`HandshakeConfig::query_param`]), if its value is a valid token after
///    `application/x-www-form-urlencoded` decoding: `%XX` is a byte, `+` is a
///    space (so `a+b` is invalid, `a%2Db` is `a-b`). A malformed escape (`%4`,
///    `%zz`) or a non-ASCII result makes the value invalid. Later occurrences are
///    ignored even when the first is invalid, for the same reason as above.
/// 3. Else a fresh [`SessionId::random`].
///
/// Invalid input is ignored: it is never an error, never echoed, and never
/// panics, whatever the bytes. (An error response would make a browser's
/// `EventSource` give up; a fresh session keeps it working.)
///
/// # Complexity
///
/// Linear in the length of the query string and of the `Accept` values; the
/// `Last-Event-ID` value is read once. No heap allocation: a query value is
/// decoded into an 85-byte stack buffer (a longer one cannot be a valid token).
///
/// ```
/// use http::Request;
/// use sse_session::session::{Handshake, HandshakeConfig, IdSource};
///
/// let config = HandshakeConfig::default();
/// let req = Request::get("/events?id=from-query")
///     .header("last-event-id", "from-header.7")
///     .header("accept", "text/event-stream")
///     .body(())?;
/// let hs = Handshake::from_request(&req, &config);
/// assert_eq!(hs.session_id().as_str(), "from-header");
/// assert_eq!(hs.seq(), Some(7));
/// assert_eq!(hs.source(), IdSource::Header);
/// assert!(hs.is_event_stream());
///
/// // An invalid header falls through to the query; an invalid query to a fresh ID.
/// let req = Request::get("/events?id=bad%0Aid").header("last-event-id", "a b").body(())?;
/// let hs = Handshake::from_request(&req, &config);
/// assert_eq!(hs.source(), IdSource::Fresh);
/// # Ok::<(), http::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    token: ResumeToken,
    source: IdSource,
    event_stream: bool,
}

impl Handshake {
    /// Runs the handshake on request head `parts` (method, URI, headers).
    ///
    /// ```
    /// use sse_session::session::{Handshake, HandshakeConfig, IdSource};
    ///
    /// let (parts, ()) = http::Request::get("/events?id=tab-1").body(())?.into_parts();
    /// let hs = Handshake::from_parts(&parts, &HandshakeConfig::default());
    /// assert_eq!(hs.session_id().as_str(), "tab-1");
    /// assert_eq!(hs.source(), IdSource::Query);
    /// # Ok::<(), http::Error>(())
    /// ```
    #[must_use]
    pub fn from_parts(parts: &Parts, config: &HandshakeConfig) -> Self {
        Self::decide(&parts.method, parts.uri.query(), &parts.headers, config)
    }

    /// Runs the handshake on a whole request (the body is not looked at).
    ///
    /// ```
    /// use sse_session::session::{Handshake, HandshakeConfig, IdSource};
    ///
    /// let req = http::Request::get("/events").header("last-event-id", "tab-1").body(())?;
    /// let hs = Handshake::from_request(&req, &HandshakeConfig::default());
    /// assert_eq!(hs.source(), IdSource::Header);
    /// # Ok::<(), http::Error>(())
    /// ```
    #[must_use]
    pub fn from_request<B>(request: &Request<B>, config: &HandshakeConfig) -> Self {
        Self::decide(
            request.method(),
            request.uri().query(),
            request.headers(),
            config,
        )
    }

    fn decide(
        method: &Method,
        query: Option<&str>,
        headers: &HeaderMap,
        config: &HandshakeConfig,
    ) -> Self {
        let event_stream = method == Method::GET && accepts_event_stream(headers);
        let from_header = headers
            .get(&LAST_EVENT_ID)
            .and_then(|v| ResumeToken::parse_bytes(trim_ows(v.as_bytes())).ok());
        let (token, source) = if let Some(token) = from_header {
            (token, IdSource::Header)
        } else if let Some(token) = query.and_then(|q| query_token(q, &config.query_param)) {
            (token, IdSource::Query)
        } else {
            (ResumeToken::from(SessionId::random()), IdSource::Fresh)
        };
        Self {
            token,
            source,
            event_stream,
        }
    }

    /// The session ID (fresh, from the header or from the query).
    ///
    /// ```
    /// use sse_session::session::{Handshake, HandshakeConfig};
    ///
    /// let req = http::Request::get("/?id=tab-1.5").body(())?;
    /// let hs = Handshake::from_request(&req, &HandshakeConfig::default());
    /// assert_eq!(hs.session_id().as_str(), "tab-1");
    /// # Ok::<(), http::Error>(())
    /// ```
    #[must_use]
    pub fn session_id(&self) -> &SessionId {
        self.token.session()
    }

    /// The whole resume token that was presented (session ID and sequence number).
    ///
    /// ```
    /// use sse_session::session::{Handshake, HandshakeConfig};
    ///
    /// let req = http::Request::get("/?id=tab-1.5").body(())?;
    /// let hs = Handshake::from_request(&req, &HandshakeConfig::default());
    /// assert_eq!(hs.token().to_string(), "tab-1.5");
    /// # Ok::<(), http::Error>(())
    /// ```
    #[must_use]
    pub fn token(&self) -> &ResumeToken {
        &self.token
    }

    /// Where the session ID came from.
    ///
    /// ```
    /// use sse_session::session::{Handshake, HandshakeConfig, IdSource};
    ///
    /// let req = http::Request::get("/?id=a+b").body(())?; // `+` decodes to a space: invalid
    /// let hs = Handshake::from_request(&req, &HandshakeConfig::default());
    /// assert_eq!(hs.source(), IdSource::Fresh);
    /// # Ok::<(), http::Error>(())
    /// ```
    #[must_use]
    pub fn source(&self) -> IdSource {
        self.source
    }

    /// The sequence number of the presented token, if it had one (always
    /// `None` for a fresh ID).
    ///
    /// ```
    /// use sse_session::session::{Handshake, HandshakeConfig};
    ///
    /// let req = http::Request::get("/").header("last-event-id", "tab.41").body(())?;
    /// assert_eq!(Handshake::from_request(&req, &HandshakeConfig::default()).seq(), Some(41));
    /// # Ok::<(), http::Error>(())
    /// ```
    #[must_use]
    pub fn seq(&self) -> Option<u64> {
        self.token.seq()
    }

    /// `true` if the request looks like a browser `EventSource` request: method
    /// `GET` and an `Accept` header that lists `text/event-stream` explicitly.
    ///
    /// Every `Accept` header and every comma-separated entry counts; the media
    /// type is compared case-insensitively, parameters (quoted strings included)
    /// are skipped, and an entry with `q=0` ("not acceptable") does not count.
    /// Wildcards (`*/*`, `text/*`) do **not** count: `EventSource` always sends
    /// `text/event-stream` itself, while `*/*` is what generic clients, link
    /// prefetchers and crawlers send. This flag is advisory; the crate does not
    /// refuse a request because of it.
    ///
    /// ```
    /// use sse_session::session::{Handshake, HandshakeConfig};
    ///
    /// let config = HandshakeConfig::default();
    /// let sse = http::Request::get("/")
    ///     .header("accept", "text/html;q=0.9, Text/Event-Stream ; charset=utf-8")
    ///     .body(())?;
    /// assert!(Handshake::from_request(&sse, &config).is_event_stream());
    ///
    /// let any = http::Request::get("/").header("accept", "*/*").body(())?;
    /// assert!(!Handshake::from_request(&any, &config).is_event_stream());
    /// # Ok::<(), http::Error>(())
    /// ```
    #[must_use]
    pub fn is_event_stream(&self) -> bool {
        self.event_stream
    }

    /// The same request with a fresh random session ID ([`IdSource::Fresh`], no
    /// sequence number); [`is_event_stream`](Self::is_event_stream) is kept.
    ///
    /// For callers that refuse the presented ID for their own reasons (for example a
    /// session that belongs to another user) and start a new session instead.
    ///
    /// ```
    /// use sse_session::session::{Handshake, HandshakeConfig, IdSource};
    ///
    /// let req = http::Request::get("/?id=taken").body(())?;
    /// let hs = Handshake::from_request(&req, &HandshakeConfig::default()).into_fresh();
    /// assert_eq!(hs.source(), IdSource::Fresh);
    /// assert_ne!(hs.session_id().as_str(), "taken");
    /// # Ok::<(), http::Error>(())
    /// ```
    #[must_use]
    pub fn into_fresh(self) -> Self {
        Self {
            token: ResumeToken::from(SessionId::random()),
            source: IdSource::Fresh,
            event_stream: self.event_stream,
        }
    }
}

/// Strips optional whitespace (SP, HTAB) around a field value (RFC 9110 §5.5).
fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Finds the first `name=value` pair whose decoded name is `name` and parses
/// its decoded value as a token. `None` if absent, invalid or `name` is empty.
fn query_token(query: &str, name: &str) -> Option<ResumeToken> {
    if name.is_empty() {
        return None;
    }
    for pair in query.as_bytes().split(|&b| b == b'&') {
        let (key, value) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &[][..]),
        };
        if decoded_equals(key, name.as_bytes()) {
            // First occurrence decides, valid or not.
            let mut buf = [0u8; ResumeToken::MAX_LEN];
            let len = decode_into(value, &mut buf)?;
            return ResumeToken::parse_bytes(&buf[..len]).ok();
        }
    }
    None
}

/// One step of `application/x-www-form-urlencoded` decoding at `input[i]`:
/// the decoded byte and how many input bytes it used, or `None` for a bad escape.
fn decode_at(input: &[u8], i: usize) -> Option<(u8, usize)> {
    match *input.get(i)? {
        b'+' => Some((b' ', 1)),
        b'%' => {
            let hi = hex(*input.get(i + 1)?)?;
            let lo = hex(*input.get(i + 2)?)?;
            Some(((hi << 4) | lo, 3))
        }
        b => Some((b, 1)),
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `true` if `encoded` decodes (without error) to exactly `expected`.
fn decoded_equals(encoded: &[u8], expected: &[u8]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < encoded.len() {
        match decode_at(encoded, i) {
            Some((b, used)) if expected.get(j) == Some(&b) => {
                i += used;
                j += 1;
            }
            _ => return false,
        }
    }
    j == expected.len()
}

/// Decodes `encoded` into `buf`; `None` on a bad escape or if it does not fit
/// (then it cannot be a valid token anyway).
fn decode_into(encoded: &[u8], buf: &mut [u8]) -> Option<usize> {
    let (mut i, mut len) = (0, 0);
    while i < encoded.len() {
        let (b, used) = decode_at(encoded, i)?;
        *buf.get_mut(len)? = b;
        len += 1;
        i += used;
    }
    Some(len)
}

/// `true` if any `Accept` header lists `text/event-stream` with a non-zero q.
fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .any(|value| split_unquoted(value.as_bytes(), b',').any(is_event_stream_range))
}

/// One `media-range *( OWS ";" OWS parameter )` entry of an `Accept` list.
fn is_event_stream_range(entry: &[u8]) -> bool {
    let mut parts = split_unquoted(entry, b';');
    let media = trim_ows(parts.next().unwrap_or_default());
    if !media.eq_ignore_ascii_case(b"text/event-stream") {
        return false;
    }
    for param in parts {
        let param = trim_ows(param);
        let (name, value) = match param.iter().position(|&b| b == b'=') {
            Some(eq) => (trim_ows(&param[..eq]), trim_ows(&param[eq + 1..])),
            None => (param, &[][..]),
        };
        if name.eq_ignore_ascii_case(b"q") {
            return !is_zero_qvalue(value);
        }
    }
    true
}

/// `true` for a qvalue of zero: `0`, `0.`, `0.0`, ... (RFC 9110 §12.4.2). Any
/// other value, malformed ones included, counts as acceptable.
fn is_zero_qvalue(v: &[u8]) -> bool {
    match v {
        [b'0'] => true,
        [b'0', b'.', rest @ ..] => rest.len() <= 3 && rest.iter().all(|&b| b == b'0'),
        _ => false,
    }
}

/// Splits `input` at `sep` bytes that are outside double-quoted strings
/// (a backslash escapes the next byte inside quotes). Never panics.
fn split_unquoted(input: &[u8], sep: u8) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(input);
    std::iter::from_fn(move || {
        let s = rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, &b) in s.iter().enumerate() {
            if escaped {
                escaped = false;
            } else if quoted && b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                quoted = !quoted;
            } else if !quoted && b == sep {
                rest = Some(&s[i + 1..]);
                return Some(&s[..i]);
            }
        }
        rest = None;
        Some(s)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn hs(uri: &str, headers: &[(&str, &[u8])]) -> Handshake {
        hs_with(uri, headers, &HandshakeConfig::default())
    }

    fn hs_with(uri: &str, headers: &[(&str, &[u8])], config: &HandshakeConfig) -> Handshake {
        let mut req = Request::get(uri).body(()).unwrap();
        for (name, value) in headers {
            req.headers_mut().append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        Handshake::from_request(&req, config)
    }

    fn query(uri: &str) -> Option<String> {
        let h = hs(uri, &[]);
        (h.source() == IdSource::Query).then(|| h.token().to_string())
    }

    #[test]
    fn fresh_without_input() {
        let h = hs("/events", &[]);
        assert_eq!(h.source(), IdSource::Fresh);
        assert_eq!(h.seq(), None);
        assert_eq!(h.session_id().as_str().len(), 36);
        assert_ne!(h.session_id(), hs("/events", &[]).session_id());
    }

    #[test]
    fn query_decoding() {
        assert_eq!(query("/?id=abc").as_deref(), Some("abc"));
        assert_eq!(query("/?id=abc.12").as_deref(), Some("abc.12"));
        assert_eq!(query("/?id=a%2Db").as_deref(), Some("a-b"));
        assert_eq!(query("/?id=a%2db").as_deref(), Some("a-b"));
        assert_eq!(query("/?id=a%2Eb%2E3").as_deref(), None); // decodes to a.b.3: invalid seq
        assert_eq!(query("/?id=ab%2E3").as_deref(), Some("ab.3"));
        assert_eq!(query("/?%69%64=abc").as_deref(), Some("abc"));
        assert_eq!(query("/?x=1&id=abc&y").as_deref(), Some("abc"));
        assert_eq!(query("/?id=a+b"), None);
        assert_eq!(query("/?id=a%20b"), None);
        assert_eq!(query("/?id=abc%0D"), None);
        assert_eq!(query("/?id=abc%0A"), None);
        assert_eq!(query("/?id=abc%0D%0Adata:%20x"), None);
        assert_eq!(query("/?id=abc%"), None);
        assert_eq!(query("/?id=abc%4"), None);
        assert_eq!(query("/?id=abc%zz"), None);
        assert_eq!(query("/?id=%C3%A9"), None);
        assert_eq!(query("/?id=%FF"), None);
        assert_eq!(query("/?id="), None);
        assert_eq!(query("/?id"), None);
        assert_eq!(query("/?id=abc."), None);
        assert_eq!(query(&format!("/?id={}", "a".repeat(65))), None);
        assert_eq!(
            query(&format!("/?id={}", "a".repeat(64))),
            Some("a".repeat(64))
        );
        assert_eq!(query("/?id=a.123456789012345678901"), None);
        assert_eq!(query("/?ID=abc"), None);
        assert_eq!(query("/?idx=abc"), None);
        assert_eq!(query("/?i=abc"), None);
        assert_eq!(query("/?id%=abc"), None);
    }

    #[test]
    fn first_query_occurrence_decides() {
        assert_eq!(query("/?id=one&id=two").as_deref(), Some("one"));
        assert_eq!(query("/?id=bad!&id=two"), None);
        assert_eq!(query("/?i%64=one&id=two").as_deref(), Some("one"));
    }

    #[test]
    fn long_encoded_value_does_not_overflow_buffer() {
        let v = "%41".repeat(200);
        assert_eq!(query(&format!("/?id={v}")), None);
        let v = "%41".repeat(64);
        assert_eq!(query(&format!("/?id={v}")), Some("A".repeat(64)));
    }

    #[test]
    fn custom_param_name() {
        let config = HandshakeConfig::default().query_param("tab");
        let h = hs_with("/?id=nope&tab=yes", &[], &config);
        assert_eq!(
            (h.session_id().as_str(), h.source()),
            ("yes", IdSource::Query)
        );
        let h = hs_with("/?id=nope", &[], &config);
        assert_eq!(h.source(), IdSource::Fresh);
        let config = HandshakeConfig::default().query_param(String::from("tab id"));
        let h = hs_with("/?tab+id=yes", &[], &config);
        assert_eq!(h.source(), IdSource::Query);
        let h = hs_with("/?tab%20id=yes", &[], &config);
        assert_eq!(h.source(), IdSource::Query);
    }

    #[test]
    fn header_wins_over_query() {
        let h = hs("/?id=query", &[("last-event-id", b"header.3")]);
        assert_eq!(h.session_id().as_str(), "header");
        assert_eq!(h.seq(), Some(3));
        assert_eq!(h.source(), IdSource::Header);
    }

    #[test]
    fn invalid_header_falls_back_to_query() {
        for bad in [
            &b""[..],
            b"a b",
            b"a.",
            b"a\x80",
            b"\xc3\xa9",
            b"a,b",
            b"a.123456789012345678901",
        ] {
            let h = hs("/?id=query.1", &[("last-event-id", bad)]);
            assert_eq!(h.source(), IdSource::Query, "{bad:?}");
            assert_eq!(h.token().to_string(), "query.1");
        }
        let long = "a".repeat(65);
        let h = hs("/", &[("last-event-id", long.as_bytes())]);
        assert_eq!(h.source(), IdSource::Fresh);
    }

    #[test]
    fn header_whitespace_is_trimmed() {
        let h = hs("/", &[("last-event-id", b" \tabc.1 ")]);
        assert_eq!(
            (h.source(), h.token().to_string().as_str()),
            (IdSource::Header, "abc.1")
        );
    }

    #[test]
    fn first_header_decides() {
        let h = hs("/", &[("last-event-id", b"one"), ("last-event-id", b"two")]);
        assert_eq!(h.session_id().as_str(), "one");
        let h = hs(
            "/?id=q",
            &[("last-event-id", b"b d"), ("last-event-id", b"two")],
        );
        assert_eq!(
            (h.session_id().as_str(), h.source()),
            ("q", IdSource::Query)
        );
    }

    fn es(method: Method, accepts: &[&[u8]]) -> bool {
        let mut req = Request::builder().method(method).uri("/").body(()).unwrap();
        for a in accepts {
            req.headers_mut()
                .append(ACCEPT, HeaderValue::from_bytes(a).unwrap());
        }
        Handshake::from_request(&req, &HandshakeConfig::default()).is_event_stream()
    }

    #[test]
    fn event_stream_detection() {
        let yes: &[&[u8]] = &[
            b"text/event-stream",
            b"TEXT/Event-Stream",
            b"  text/event-stream  ",
            b"text/html, text/event-stream",
            b"text/event-stream;q=0.5",
            b"text/event-stream ; Q = 1.0",
            b"text/event-stream;q=0.001",
            b"text/event-stream;charset=utf-8",
            b"text/html;x=\"a,b\", text/event-stream",
            b"text/event-stream;q=bogus",
        ];
        for a in yes {
            assert!(es(Method::GET, &[a]), "{:?}", String::from_utf8_lossy(a));
        }
        let no: &[&[u8]] = &[
            b"",
            b"*/*",
            b"text/*",
            b"text/html",
            b"text/event-stream;q=0",
            b"text/event-stream;q=0.000",
            b"text/event-streams",
            b"text/html;x=\"a, text/event-stream\"",
            b"text/html;x=\"\\\", text/event-stream\"",
            b"application/json,text/plain",
            b"text/event-stream\xff",
        ];
        for a in no {
            assert!(!es(Method::GET, &[a]), "{:?}", String::from_utf8_lossy(a));
        }
        assert!(es(Method::GET, &[b"text/html", b"text/event-stream"]));
        assert!(!es(Method::POST, &[b"text/event-stream"]));
        assert!(!es(Method::HEAD, &[b"text/event-stream"]));
        assert!(!es(Method::GET, &[]));
    }

    #[test]
    fn qvalue_zero_forms() {
        assert!(is_zero_qvalue(b"0"));
        assert!(is_zero_qvalue(b"0."));
        assert!(is_zero_qvalue(b"0.000"));
        assert!(!is_zero_qvalue(b"0.0000"));
        assert!(!is_zero_qvalue(b"0.001"));
        assert!(!is_zero_qvalue(b"1"));
        assert!(!is_zero_qvalue(b""));
    }

    #[test]
    fn split_unquoted_edges() {
        let parts: Vec<&[u8]> = split_unquoted(b"a,\"b,c\",d\\,e", b',').collect();
        assert_eq!(parts, [&b"a"[..], b"\"b,c\"", b"d\\", b"e"]);
        let parts: Vec<&[u8]> = split_unquoted(b"", b',').collect();
        assert_eq!(parts, [&b""[..]]);
        let parts: Vec<&[u8]> = split_unquoted(b"\"unterminated,x", b',').collect();
        assert_eq!(parts.len(), 1);
    }

    #[test]
    fn into_fresh_keeps_event_stream_flag() {
        let h = hs("/?id=abc", &[("accept", b"text/event-stream")]).into_fresh();
        assert!(h.is_event_stream());
        assert_eq!(h.source(), IdSource::Fresh);
        assert_eq!(h.seq(), None);
    }

    #[test]
    fn from_parts_equals_from_request() {
        let req = Request::get("/?id=abc.2").body(()).unwrap();
        let a = Handshake::from_request(&req, &HandshakeConfig::default());
        let (parts, ()) = req.into_parts();
        let b = Handshake::from_parts(&parts, &HandshakeConfig::default());
        assert_eq!(a, b);
    }
}
