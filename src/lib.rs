//! Server-Sent Events for servers that need to know *which browser tab* is on
//! the other end of a stream.
//!
//! `sse-session` is three layers, each usable alone:
//!
//! - **Wire format** ([`event`], [`field`], [`parse`]): an encoder whose
//!   fields are validated at construction (no CR/LF/NUL injection, no panics),
//!   and an incremental parser that follows the [WHATWG event-stream
//!   algorithm] byte for byte, for any chunking, in bounded memory.
//! - **Sessions** ([`session`]): per-tab session IDs taken from the
//!   `Last-Event-ID` header or an `?id=` query parameter (a fresh UUID v4
//!   otherwise), and a bounded store of closed IDs so that a closed session's
//!   reconnect is answered `204 No Content`, which stops a browser's
//!   `EventSource` for good.
//! - **Delivery** ([`live`], feature `live`): the response body with
//!   keep-alive and instant disconnect detection, a cloneable sender, and a
//!   [`Hub`] that reaches live connections by tab, by user and by
//!   topic, encoding each broadcast once. Thin adapters serve [`hyper`] 1.x
//!   and [`axum`] 0.8.
//! - **Client** ([`reconnect`] in the core, [`client`] with feature
//!   `client`): a sans-IO `EventSource` reconnect machine (204 stops,
//!   `Last-Event-ID` only when not empty, `retry:` kept, backoff with a floor,
//!   `Retry-After`, timeouts) and an async client over reqwest that it drives.
//!
//! [WHATWG event-stream algorithm]: https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
//!
//! # Quick start
//!
//! Encode events, and parse them back the way a browser does:
//!
//! ```
//! use sse_session::{parse_all, Event, EventName, Frame};
//!
//! let event = Event::new("first line\nsecond line")
//!     .with_name(EventName::from_static("update"));
//! let wire = event.to_bytes();
//! assert_eq!(&wire[..], b"event: update\ndata: first line\ndata: second line\n\n");
//!
//! // Field values are checked once, at construction: no field injection.
//! assert!(EventName::try_from("x\ndata: injected").is_err());
//!
//! let frames = parse_all(&wire).expect("within the default size limits");
//! let Frame::Event(parsed) = &frames[0] else { panic!("an event") };
//! assert_eq!(parsed.event_type(), "update");
//! assert_eq!(parsed.data(), "first line\nsecond line");
//! ```
//!
//! Serve tabs that keep their identity (the same code runs inside an axum or
//! hyper handler; here the request is built by hand):
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use sse_session::live::{Accepted, Hub};
//! use sse_session::{Event, SessionId};
//!
//! let hub = Hub::default();
//! let request = |uri: &str| http::Request::get(uri).body(()).unwrap().into_parts().0;
//!
//! // A tab reconnects with the ID it stored in sessionStorage: it keeps it.
//! let Accepted::Open(tab) = hub.accept(&request("/events?id=tab-7"), None).await
//! else { unreachable!("a new session") };
//! let id = *tab.session_id();
//! assert_eq!(id.as_str(), "tab-7");
//! let response = tab.into_response(); // 200, text/event-stream; first frame `id: tab-7.<cursor>`
//!
//! // Reach it later by its ID: the event is encoded once for every connection.
//! assert_eq!(hub.send_to_session(&id, &Event::new("hello, tab 7")).live, 1);
//!
//! // Close it for good: its next reconnect gets 204 No Content.
//! hub.close_session(&id, None).await;
//! let again = hub.accept(&request("/events?id=tab-7"), None).await;
//! assert_eq!(again.into_response().status(), http::StatusCode::NO_CONTENT);
//! # drop(response);
//! # }
//! ```
//!
//! With axum, [`Accepted`] is an extractor (it never rejects: a bad or
//! missing ID is a fresh session) and a response; see the [`axum`] module and
//! `examples/axum_server.rs`, `examples/demo.rs`.
//!
//! # Design: sans-IO
//!
//! The wire format and the sessions never block, spawn, or read a clock:
//! bytes go in through [`Parser::feed`] and frames come
//! out of [`Parser::next_frame`]; a handshake is a
//! function of the request's parts; the closed-ID store takes the current
//! [`Instant`](std::time::Instant) as an argument, so tests step a fake clock.
//! Only [`live`] touches tokio (its `sync` and `time` parts), and the
//! [`hyper`] and [`axum`] modules only translate types. This is the split of
//! `quinn-proto`/`quinn` and `tungstenite`/`tokio-tungstenite`, and the core
//! builds with `--no-default-features` on `bytes`, `http`, `memchr`,
//! `simdutf8` (SIMD UTF-8 checks for long event data) and `uuid` alone.
//!
//! # Design: resume
//!
//! A [`Hub`] numbers every event it delivers from one sequence and sends it
//! with `id: <session>.<seq>`, so the browser's `lastEventId` names the tab
//! *and* the last event it got. A reconnecting `EventSource` sends it back
//! as `Last-Event-ID` by itself; after a reload the page passes it as `?id=`.
//! The hub keeps an away session (its user, its topics, a mailbox of what was
//! addressed to it) for a resume window and replays what came after the
//! cursor, in order, before anything live; or it opens with a `resync` event
//! (see [`Resume`](live::Resume) and [`GapReason`](live::GapReason)) when it
//! cannot.
//!
//! **Why the cursor lives in `id:`.** It is the only field the browser keeps
//! and sends back on its own, with no client code, across every automatic
//! reconnect; the protocol has no other place that survives a cut. Putting
//! the session in the same field keeps the tab's identity and its position
//! one atomic value: a tab cannot present its ID with someone else's
//! position, a cursor is checked against the session that presents it (a
//! token from another session, a forged or future `seq` is a gap, never a
//! replay of events that were not its own), and comments and keep-alives,
//! which carry no `id:`, never move it.
//!
//! **How a broadcast stays encoded once.** An event's fields are encoded once
//! into a shared `Bytes` without an `id:` line; the journal stores that one
//! frame (reference-counted) with its `seq`, and every mailbox and topic
//! history holds a reference, not a copy. What is per connection is only the
//! `id: <session>.<seq>\n` line, written in front of the shared fields (a
//! frame's fields may come in any order, and `id` before `data` is what the
//! spec dispatches the same way); large frames go out as the id line and the
//! uncopied shared bytes, two chunks of one write.
//!
//! # Guarantees
//!
//! - **No panics on input.** No function reachable with bytes from a client
//!   (request parts, query strings, headers, event-stream bytes) panics.
//!   Invalid field values are typed errors ([`InvalidField`],
//!   [`InvalidSessionId`]) that never contain the rejected input; the only
//!   panicking constructor is `from_static` on a bad *literal*, which fails at
//!   compile time in a `const`.
//! - **Spec-exact parsing.** CRLF, LF and a lone CR end lines, also when a CR
//!   ends one chunk and the LF starts the next; one leading BOM is stripped at
//!   the start only; an `id` containing NUL is ignored; `retry` applies only to
//!   ASCII digits; empty data dispatches nothing; an unfinished event at the
//!   end of the stream is dropped. The result is the same for every chunking.
//! - **Invalid UTF-8** is replaced with U+FFFD, as `String::from_utf8_lossy`
//!   does (maximal subparts), never an error and never the end of a stream.
//! - **Linear time, bounded memory.** Each input byte is scanned about once
//!   (no rescans of a growing buffer); the parser's line and event sizes are
//!   limited by [`ParserConfig`] (on by default), and
//!   exceeding them is the parser's only error. Per-connection queues and the
//!   closed-ID store are bounded too.
//! - **Round trip.** `parse(encode(e)) == e` for every valid event, with line
//!   breaks normalised to LF (the client cannot tell CRLF from LF in data).
//!
//! # Crate features
//!
//! | feature  | default | what it adds | pulls in |
//! |----------|---------|--------------|----------|
//! | `json`   | yes     | [`Event::json`] | `serde`, `serde_json` |
//! | `stream` | no      | [`FrameStream`]: the parser over any `http_body::Body` or `Stream` of byte chunks | `http-body`, `futures-core`, `pin-project-lite` |
//! | `live`   | no      | [`live`]: the SSE body, its sender, [`Sessions`] and the [`Hub`] | `stream` + `tokio` (`sync`, `time`) |
//! | `hyper`  | no      | [`hyper::respond`] | `live` + `hyper` 1 |
//! | `axum`   | no      | extractors and `IntoResponse` for axum 0.8 | `live` + `axum-core` 0.5 |
//! | `redis`  | no      | [`redis`]: closed IDs, sends and resume shared by several processes on one Redis | `live` + `redis` (redis-rs, tokio) |
//! | `client` | no      | `client::EventSource`: an async client driving [`reconnect::Reconnect`] | `reqwest` 0.13 (rustls on *ring*), `rustls-platform-verifier`, `tokio` (`time`), `futures-core`, `http-body` |
//!
//! # Unsafe code
//!
//! Only in one private module (an SSE2 line search, and event texts checked
//! for UTF-8 once, when built, rather than on every read, in a one-word
//! event); each block states
//! why it is sound, and CI runs that module's tests under Miri. The rest of
//! the crate is `#![deny(unsafe_code)]`.
//!
//! # Minimum supported Rust version
//!
//! Rust 1.85 (declared in `Cargo.toml`; the floor of tokio and hyper-util).
//! Raising it is a minor-version change.
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod event;
pub mod field;
pub mod parse;
pub mod reconnect;
pub mod session;
mod unchecked;

#[cfg(feature = "live")]
#[cfg_attr(docsrs, doc(cfg(feature = "live")))]
pub mod live;

#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub mod hyper;

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;

// --- re-exports (each module's owner adds its own lines here) ---
pub use event::{Event, EventBuilder, EventRef, KEEP_ALIVE};
pub use field::{EventId, EventName, FieldErrorKind, FieldKind, InvalidField, RetryDelay};
#[cfg(feature = "live")]
#[cfg_attr(docsrs, doc(cfg(feature = "live")))]
pub use live::{
    Accepted, Connection, ConnectionId, SendError, SendErrorKind, Sender, SessionConfig, Sessions,
    SseBody,
};
#[cfg(feature = "live")]
#[cfg_attr(docsrs, doc(cfg(feature = "live")))]
pub use live::{Hub, HubConfig, HubStats, UserKey};
pub use parse::{
    parse_all, Comment, Frame, MessageEvent, ParseError, ParseErrorKind, Parser, ParserConfig,
};
#[cfg(feature = "stream")]
#[cfg_attr(docsrs, doc(cfg(feature = "stream")))]
pub use parse::{BodyData, FrameStream, FrameStreamError};
pub use session::{
    ClosedIds, ClosedIdsConfig, Handshake, HandshakeConfig, IdSource, InvalidSessionId,
    MemoryClosedIds, ResumeToken, SessionId, SessionIdErrorKind,
};

/// The README's code blocks, compiled as doctests so the quick start stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
