//! Sessions: which browser tab is on the other end of a stream, across
//! reconnects, reloads and server-initiated closes.
//!
//! This module is sans-IO: it takes request parts and clock readings and
//! returns decisions. It never spawns, sleeps or reads a clock, and it needs
//! no async runtime (the [`ClosedIds`] futures of the in-memory store are
//! ready at once).
//!
//! - [`SessionId`]: 1–64 characters of `A-Z a-z 0-9 _ -`; fresh ones are random UUID v4s.
//! - [`ResumeToken`]: what travels in `id:`, `Last-Event-ID` and `?id=`: the session
//!   ID, optionally followed by `.` and a decimal sequence number.
//! - [`Handshake`]: from a request's method, URI and headers, decide the session:
//!   a valid `Last-Event-ID` header wins, then a valid query parameter, else a fresh
//!   ID. Invalid input is ignored, never echoed, never an error.
//! - [`ClosedIds`]: the store of sessions the server closed for good; a handshake for
//!   one of them is answered `204 No Content` so the browser's `EventSource` stops.
//!   [`MemoryClosedIds`] is the bounded in-process default.
//!
//! ```
//! use std::time::Instant;
//! use sse_session::session::{Handshake, HandshakeConfig, IdSource, MemoryClosedIds};
//!
//! let closed = MemoryClosedIds::default();
//! let req = http::Request::get("/events")
//!     .header("accept", "text/event-stream")
//!     .header("last-event-id", "tab-7.3")
//!     .body(())?;
//! let hs = Handshake::from_request(&req, &HandshakeConfig::default());
//! assert_eq!(hs.source(), IdSource::Header);
//! assert_eq!(hs.session_id().as_str(), "tab-7");
//!
//! // The server closes the session; the next handshake for it gets a 204.
//! closed.insert(hs.session_id(), Instant::now());
//! assert!(closed.contains(hs.session_id(), Instant::now()));
//! # Ok::<(), http::Error>(())
//! ```

mod closed;
mod handshake;
mod id;

pub use closed::{ClosedIds, ClosedIdsConfig, MemoryClosedIds};
#[allow(unused_imports)]
pub(crate) use closed::{DynClosedIds, SharedClosedIds};
pub use handshake::{Handshake, HandshakeConfig, IdSource};
pub use id::{InvalidSessionId, ResumeToken, SessionId, SessionIdErrorKind};
