//! axum 0.8 adapter (through `axum-core` 0.5): extractors for the
//! handshake and `IntoResponse` for the stream and the `204`.
//!
//! - [`Accepted`] is an extractor when [`Sessions`] can be taken from the
//!   router state ([`FromRef`]). It never rejects: a missing or invalid
//!   session token is a fresh session, not an error (an error response
//!   would stop the browser's `EventSource` for good).
//! - [`Handshake`] is an extractor on the same terms, for handlers that only
//!   want to know the session (it does not look at the closed-ID store).
//! - [`Accepted`] and [`Connection`] implement [`IntoResponse`]: `204 No
//!   Content` for a closed session, the stream otherwise.
//!
//! ```
//! use axum::{routing::get, Router};
//! use sse_session::live::{Accepted, Sessions};
//! use sse_session::Event;
//!
//! async fn events(accepted: Accepted) -> Accepted {
//!     if let Some(tx) = accepted.sender() {
//!         tokio::spawn(async move {
//!             let _ = tx.send(Event::new("hello"));
//!             tx.closed().await; // keep the stream open until the client leaves
//!         });
//!     }
//!     accepted // 204 for a closed session, else the stream
//! }
//!
//! let app: Router = Router::new()
//!     .route("/events", get(events))
//!     .with_state(Sessions::default());
//! # let _ = app;
//! ```

use std::convert::Infallible;

use axum_core::body::Body;
use axum_core::extract::{FromRef, FromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;

use crate::live::{Accepted, Connection, Sessions};
use crate::session::Handshake;

/// Extracts the handshake and checks the closed-ID store
/// ([`Sessions::accept`]). Never rejects.
///
/// ```
/// use axum::{routing::get, Router};
/// use sse_session::live::{Accepted, Sessions};
///
/// async fn events(accepted: Accepted) -> Accepted {
///     accepted
/// }
/// let app: Router = Router::new().route("/events", get(events)).with_state(Sessions::default());
/// # let _ = app;
/// ```
impl<S> FromRequestParts<S> for Accepted
where
    Sessions: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Sessions::from_ref(state).accept(parts).await)
    }
}

/// Extracts the handshake alone ([`Sessions::handshake`]): the session, how
/// it was found, and whether the request is an `EventSource` one. Never
/// rejects.
///
/// ```
/// use axum::{routing::get, Router};
/// use sse_session::live::Sessions;
/// use sse_session::session::Handshake;
///
/// async fn whoami(handshake: Handshake) -> String {
///     handshake.session_id().to_string()
/// }
/// let app: Router = Router::new().route("/whoami", get(whoami)).with_state(Sessions::default());
/// # let _ = app;
/// ```
impl<S> FromRequestParts<S> for Handshake
where
    Sessions: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Sessions::from_ref(state).handshake(parts))
    }
}

/// `204 No Content` with an empty body for a closed session, else the
/// stream ([`Accepted::into_response`]).
impl IntoResponse for Accepted {
    fn into_response(self) -> Response {
        Accepted::into_response(self).map(Body::new)
    }
}

/// The stream: `200` with the SSE headers ([`Connection::into_response`]).
impl IntoResponse for Connection {
    fn into_response(self) -> Response {
        Connection::into_response(self).map(Body::new)
    }
}
