//! An SSE endpoint on axum with a `Hub`: `GET /events` gets a `tick` event
//! every second (one broadcast, encoded once for every connection). Closed
//! sessions get `204 No Content`. Ctrl-C shuts down gracefully: every stream
//! ends with `retry: 1000`, so browsers reconnect a second later (to another
//! process behind the load balancer, or to this one restarted) and resume.
//!
//! ```text
//! cargo run --features axum --example axum_server -- 127.0.0.1:3000
//! curl -N http://127.0.0.1:3000/events
//! ```
//! Reconnect with `curl -N -H 'Last-Event-ID: <id>' ...` (the `id:` of the
//! last event you got, `<session>.<seq>`) to resume: the ticks you missed come
//! first.

use std::time::Duration;

use axum::extract::State;
use axum::http::request::Parts;
use axum::routing::get;
use axum::Router;
use sse_session::live::{Accepted, Hub};
use sse_session::{Event, EventName};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let hub = Hub::default();
    tokio::spawn(tick(hub.clone()));
    let app = Router::new()
        .route("/events", get(events))
        .with_state(hub.clone());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on http://{}/events", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            // Open SSE streams would keep the graceful shutdown waiting for
            // ever; ended with a retry hint, they let it finish.
            let ended = hub.shutdown(Duration::from_secs(1));
            println!("shutting down: {ended} stream(s) told to reconnect in 1 s");
        })
        .await
}

/// A tab's ID and cursor come from `Last-Event-ID` or `?id=`; a closed one
/// gets `204`, a known one its missed events first.
async fn events(State(hub): State<Hub>, parts: Parts) -> Accepted {
    hub.accept(&parts, None).await
}

/// One task for every connection: a `tick` broadcast each second.
async fn tick(hub: Hub) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    for n in 1u64.. {
        every.tick().await;
        if hub.is_shutting_down() {
            break;
        }
        let event = Event::new(n.to_string()).with_name(EventName::from_static("tick"));
        hub.broadcast(&event);
    }
}
