//! A chat-like demo of per-tab sessions, for a person and for the browser
//! test (`tests/browser.rs`).
//!
//! ```text
//! cargo run --example demo -- 127.0.0.1:3000
//! ```
//!
//! Open the printed URL in two tabs: each shows its tab ID, its connection
//! state and a live log; "Broadcast" reaches both, "Drop connection" ends the
//! stream (the browser reconnects into the same session), "Close my session"
//! ends it for good (the reconnect gets `204` and `EventSource` stops).
//!
//! Routes:
//!
//! - `GET /`: the page (`examples/demo/index.html`).
//! - `GET /events`: the stream; the first event of every connection is
//!   named `connect` and carries the session ID.
//! - `POST /sessions/{id}/send`: the text body as a `message` to every
//!   connection of that session; `404` if it has none.
//! - `POST /sessions/{id}/close`: closes the session (after a last `closed`
//!   event); its reconnects get `204`.
//! - `POST /sessions/{id}/drop`: ends its connections, resumable; `404` if it
//!   has none.
//! - `POST /broadcast`: the text body as a `message` to every connection.
//! - `GET /sessions`: JSON array of the session IDs with a live connection.
//! - `GET /stats`: JSON counters (for the browser test).
//!
//! Every `/events` request is logged to stdout as
//! `events <session id> <how the ID was found> -> <open | 204>`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{request::Parts, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use sse_session::live::{Accepted, Hub, SessionConfig};
use sse_session::{Event, EventName, RetryDelay, SessionId};

#[derive(Clone)]
struct App {
    hub: Hub,
    /// `GET /events` requests so far, `204`s included.
    events_requests: Arc<AtomicU64>,
}

const PAGE: &str = include_str!("demo/index.html");

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let local: SocketAddr = listener.local_addr()?;
    // The first line of output; tests/browser.rs reads the port from it.
    println!("listening on http://{local}/");
    axum::serve(listener, router()).await
}

fn router() -> Router {
    // Reconnect after 1 s (instead of the default 3 s): snappier when you
    // press "Drop connection".
    let config = SessionConfig::default().retry(Some(RetryDelay::from_millis(1000)));
    let app = App {
        hub: Hub::new(config),
        events_requests: Arc::default(),
    };
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/events", get(events))
        .route("/sessions", get(sessions))
        .route("/sessions/{id}/send", post(send))
        .route("/sessions/{id}/close", post(close))
        .route("/sessions/{id}/drop", post(drop_session))
        .route("/broadcast", post(broadcast))
        .route("/stats", get(stats))
        .with_state(app)
}

async fn events(State(app): State<App>, parts: Parts) -> Accepted {
    app.events_requests.fetch_add(1, Ordering::Relaxed);
    // No authentication in this demo, so no user key.
    let accepted = app.hub.accept(&parts, None).await;
    let handshake = accepted.handshake();
    let id = handshake.session_id();
    match accepted.sender() {
        Some(tx) => {
            println!("events {id} {:?} -> open", handshake.source());
            // First in this connection's queue, so first on the wire after the
            // `retry:`/`id:` frame. The hub's own sender keeps the stream open.
            let connect = Event::new(id.as_str()).with_name(EventName::from_static("connect"));
            let _ = tx.send(connect);
        }
        None => println!("events {id} {:?} -> 204", handshake.source()),
    }
    accepted
}

/// `200` with how many connections were reached, `404` for none. (An ID that
/// is not a valid session ID has no connections: `404` too.)
fn reached(n: usize) -> Response {
    let status = if n == 0 {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    (status, format!("{n} connection(s)\n")).into_response()
}

async fn send(State(app): State<App>, Path(id): Path<String>, body: String) -> Response {
    match SessionId::try_from(id.as_str()) {
        Ok(id) => reached(app.hub.send_to_session(&id, &Event::new(body))),
        Err(_) => reached(0),
    }
}

async fn close(State(app): State<App>, Path(id): Path<String>) -> Response {
    let Ok(id) = SessionId::try_from(id.as_str()) else {
        return reached(0);
    };
    let last =
        Event::new("session closed by the server").with_name(EventName::from_static("closed"));
    let n = app.hub.close_session(&id, Some(last)).await;
    // Closed either way (a tab that comes back gets 204), so never 404.
    (StatusCode::OK, format!("{n} connection(s)\n")).into_response()
}

async fn drop_session(State(app): State<App>, Path(id): Path<String>) -> Response {
    match SessionId::try_from(id.as_str()) {
        Ok(id) => reached(app.hub.drop_session(&id)),
        Err(_) => reached(0),
    }
}

async fn broadcast(State(app): State<App>, body: String) -> Response {
    let n = app.hub.broadcast(&Event::new(body));
    (StatusCode::OK, format!("{n} connection(s)\n")).into_response()
}

async fn sessions(State(app): State<App>) -> Json<Vec<String>> {
    Json(app.hub.sessions().iter().map(|id| id.to_string()).collect())
}

async fn stats(State(app): State<App>) -> Json<serde_json::Value> {
    let hub = app.hub.stats();
    Json(serde_json::json!({
        "events_requests": app.events_requests.load(Ordering::Relaxed),
        "connections": hub.connections,
        "sessions": hub.sessions,
        "connections_accepted": hub.connections_accepted,
        "slow_disconnects": hub.slow_disconnects,
    }))
}
