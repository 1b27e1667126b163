//! An SSE endpoint on plain hyper: `GET /events` sends a `tick` event every
//! second to each connection, on HTTP/1.1 and HTTP/2 (h2c).
//!
//! ```text
//! cargo run --example hyper_server -- 127.0.0.1:3000
//! curl -N http://127.0.0.1:3000/events
//! ```
//! Reconnect with `curl -N -H 'Last-Event-ID: <id>' ...` or `...?id=<id>` to
//! keep the session ID the first frame gave you.

use std::convert::Infallible;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use sse_session::live::{Sender, Sessions, SseBody};
use sse_session::{Event, EventName};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on http://{}/events", listener.local_addr()?);
    let sessions = Sessions::default();
    loop {
        let (tcp, _) = listener.accept().await?;
        let sessions = sessions.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, sessions.clone()));
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}

async fn handle(
    req: Request<Incoming>,
    sessions: Sessions,
) -> Result<Response<SseBody>, Infallible> {
    if req.method() != Method::GET || req.uri().path() != "/events" {
        let mut not_found = Response::new(SseBody::empty());
        *not_found.status_mut() = StatusCode::NOT_FOUND;
        return Ok(not_found);
    }
    // 204 for a closed session, else the stream and its sender.
    let (response, sender) = sse_session::hyper::respond(&req, &sessions).await;
    if let Some(tx) = sender {
        tokio::spawn(tick(tx));
    }
    Ok(response)
}

/// One task per connection: a `tick` event every second until the client
/// goes away (`closed()` resolves as soon as hyper drops the body).
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
