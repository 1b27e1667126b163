//! The hyper adapter against a real hyper server (HTTP/1.1 and h2c via
//! hyper-util's auto builder) on 127.0.0.1, port 0, with a real client.
//! The scenarios are in common/client.rs, shared with the axum tests.

#[macro_use]
#[path = "common/client.rs"]
mod client;

use std::convert::Infallible;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use sse_session::live::{SessionConfig, Sessions};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Serves `sse_session::hyper::respond` on every path; each sender goes to
/// the test.
async fn start(config: SessionConfig) -> client::TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sessions = Sessions::new(config);
    let (senders_tx, senders) = mpsc::unbounded_channel();
    let served = sessions.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (sessions, senders_tx) = (served.clone(), senders_tx.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let (sessions, senders_tx) = (sessions.clone(), senders_tx.clone());
                    async move {
                        let (response, sender) = sse_session::hyper::respond(&req, &sessions).await;
                        if let Some(sender) = sender {
                            let _ = senders_tx.send(sender);
                        }
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    client::TestServer {
        addr,
        senders,
        sessions,
    }
}

scenarios!(start);
