//! hyper 1.x adapter: one function from a request to the SSE response.
//!
//! [`respond`] gives `204 No Content` for a closed session, or the streaming
//! response and a [`Sender`] for it. The body type is [`SseBody`] either
//! way, so a hyper service that serves only SSE can use
//! `Response<SseBody>` as its response type ([`SseBody::empty`] for a 404).
//!
//! ```no_run
//! use std::convert::Infallible;
//! use hyper::{body::Incoming, service::service_fn, Request, Response};
//! use hyper_util::rt::{TokioExecutor, TokioIo};
//! use hyper_util::server::conn::auto;
//! use sse_session::live::{Sessions, SseBody};
//!
//! async fn handle(req: Request<Incoming>, sessions: Sessions) -> Result<Response<SseBody>, Infallible> {
//!     let (response, sender) = sse_session::hyper::respond(&req, &sessions).await;
//!     if let Some(tx) = sender {
//!         tokio::spawn(async move {
//!             let _ = tx.send(sse_session::Event::new("hello"));
//!             tx.closed().await; // keep the stream open until the client leaves
//!         });
//!     }
//!     Ok(response)
//! }
//!
//! # #[tokio::main] async fn main() -> std::io::Result<()> {
//! let sessions = Sessions::default();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! loop {
//!     let (tcp, _) = listener.accept().await?;
//!     let sessions = sessions.clone();
//!     tokio::spawn(async move {
//!         let service = service_fn(move |req| handle(req, sessions.clone()));
//!         let _ = auto::Builder::new(TokioExecutor::new())
//!             .serve_connection(TokioIo::new(tcp), service)
//!             .await;
//!     });
//! }
//! # }
//! ```
//!
//! # Many connections
//!
//! Each idle SSE connection costs what the server holds for it. Measured
//! with 5,000 connections (the crate's `examples/load.rs`, `LOAD.md`):
//! hyper's HTTP/1.1 connection (`hyper::server::conn::http1::Builder`)
//! needs about half the memory of hyper-util's `auto` builder (which
//! `axum::serve` uses), so use `auto` only where HTTP/2 is needed. Spawn the
//! future of `serve_connection` itself rather than an `async` block that
//! awaits it (the block's task was 0.6 KiB larger per connection there),
//! and keep the service small (an `Arc` or a few pointers) with a small or
//! boxed response future: hyper stores the service, and a box sized for its
//! future, per connection.
//!
//! A broadcast touches every connection's state twice: the push into its
//! queue, then its body's poll. On tokio's multi-thread runtime those two
//! usually run on different cores, so each connection's state moves between
//! caches on every event, and waking thousands of tasks at once overflows a
//! worker's local run queue (256 tasks) into the shared one. Measured with
//! 5,000 connections at 100 broadcasts a second on 2 cores shared with the
//! client, a current-thread runtime (`tokio::runtime::Builder::new_current_thread`)
//! cut the 99th-percentile latency from 61–68 ms to 41–45 ms. Give the SSE
//! server its own current-thread runtime when one core can carry its
//! traffic; beyond that, measure before choosing.
//!
//! hyper itself holds about 10 KiB per idle HTTP/1.1 connection, mostly the
//! touched pages of its 8 KiB read buffer and 8 KiB write buffer, and its
//! server builder (unlike its client builder) cannot size the read buffer.

use http::{Request, Response};

use crate::live::{Accepted, Sender, Sessions, SseBody};

/// Answers an SSE request: `204 No Content` (and `None`) for a closed
/// session, else `200` with the stream and the [`Sender`] that feeds it.
///
/// Only the request's method, URI and headers are read; the request body is
/// left alone. What the response contains is described in
/// [`crate::live`] (see "Responses"). The stream stays open while the
/// returned sender (or a clone) exists.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use sse_session::live::Sessions;
///
/// let sessions = Sessions::default();
/// let req = http::Request::get("/events?id=tab-1").body(()).unwrap();
/// let (response, sender) = sse_session::hyper::respond(&req, &sessions).await;
/// assert_eq!(response.status(), http::StatusCode::OK);
/// let sender = sender.unwrap();
/// assert_eq!(sender.session_id().as_str(), "tab-1");
///
/// sender.close().await;
/// let (response, sender) = sse_session::hyper::respond(&req, &sessions).await;
/// assert_eq!(response.status(), http::StatusCode::NO_CONTENT);
/// assert!(sender.is_none());
/// # }
/// ```
pub async fn respond<B>(
    req: &Request<B>,
    sessions: &Sessions,
) -> (Response<SseBody>, Option<Sender>) {
    match sessions.accept_request(req).await {
        Accepted::Open(conn) => {
            let sender = conn.sender();
            (conn.into_response(), Some(sender))
        }
        closed @ Accepted::Closed(_) => (closed.into_response(), None),
    }
}
