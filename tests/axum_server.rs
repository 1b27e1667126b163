//! The axum adapter (the `Accepted` extractor and its `IntoResponse`) against
//! a real `axum::serve` server on 127.0.0.1, port 0, with a real client
//! (HTTP/1.1 and h2c). The scenarios are in common/client.rs, shared with the
//! hyper tests.

#[macro_use]
#[path = "common/client.rs"]
mod client;

use axum::extract::{FromRef, State};
use axum::routing::get;
use axum::Router;
use sse_session::live::{Accepted, Sender, SessionConfig, Sessions};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

#[derive(Clone)]
struct AppState {
    sessions: Sessions,
    senders: mpsc::UnboundedSender<Sender>,
}

impl FromRef<AppState> for Sessions {
    fn from_ref(state: &AppState) -> Self {
        state.sessions.clone()
    }
}

async fn events(State(state): State<AppState>, accepted: Accepted) -> Accepted {
    if let Some(sender) = accepted.sender() {
        let _ = state.senders.send(sender);
    }
    accepted
}

async fn start(config: SessionConfig) -> client::TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sessions = Sessions::new(config);
    let (senders_tx, senders) = mpsc::unbounded_channel();
    let app = Router::new()
        .route("/events", get(events))
        .with_state(AppState {
            sessions: sessions.clone(),
            senders: senders_tx,
        });
    tokio::spawn(async move { axum::serve(listener, app).await });
    client::TestServer {
        addr,
        senders,
        sessions,
    }
}

scenarios!(start);
