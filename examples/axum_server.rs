//! An SSE endpoint on axum: `GET /events` sends a `tick` event every second
//! to each connection. Closed sessions get `204 No Content`.
//!
//! ```text
//! cargo run --example axum_server -- 127.0.0.1:3000
//! curl -N http://127.0.0.1:3000/events
//! ```
//! Reconnect with `curl -N -H 'Last-Event-ID: <id>' ...` or `...?id=<id>` to
//! keep the session ID the first frame gave you.

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use sse_session::live::{Accepted, Sender, Sessions};
use sse_session::{Event, EventName};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let app = Router::new()
        .route("/events", get(events))
        .with_state(Sessions::default());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on http://{}/events", listener.local_addr()?);
    axum::serve(listener, app).await
}

/// The extractor reads the session from `Last-Event-ID` or `?id=` (a fresh
/// one if neither is valid) and checks whether it was closed.
async fn events(accepted: Accepted) -> Accepted {
    if let Some(tx) = accepted.sender() {
        tokio::spawn(tick(tx));
    }
    accepted // 204 for a closed session, else the stream
}

/// One task per connection: a `tick` event every second until the client
/// goes away (`closed()` resolves as soon as the body is dropped).
async fn tick(tx: Sender) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    let mut n = 0u64;
    loop {
        tokio::select! {
            () = tx.closed() => break,
            _ = every.tick() => {
                n += 1;
                let event = Event::new(n.to_string()).with_name(EventName::from_static("tick"));
                if tx.send(event).is_err() {
                    break;
                }
            }
        }
    }
}
