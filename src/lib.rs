//! Server-Sent Events with per-tab sessions.
//!
//! (Crate docs are written as the modules land.)
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod event;
pub mod field;
pub mod parse;
pub mod session;

#[cfg(feature = "live")]
#[cfg_attr(docsrs, doc(cfg(feature = "live")))]
pub mod live;

#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub mod hyper;

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;

// --- re-exports (each module's owner adds its own lines here) ---
pub use event::{Event, EventBuilder, KEEP_ALIVE};
pub use field::{EventId, EventName, FieldErrorKind, FieldKind, InvalidField, RetryDelay};
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
#[cfg(feature = "live")]
#[cfg_attr(docsrs, doc(cfg(feature = "live")))]
pub use live::{
    Accepted, Connection, ConnectionId, SendError, SendErrorKind, Sender, SessionConfig, Sessions,
    SseBody,
};
#[cfg(feature = "live")]
#[cfg_attr(docsrs, doc(cfg(feature = "live")))]
pub use live::{Hub, HubConfig, HubStats, UserKey};
