//! The demo (examples/demo.rs) as a child process of the test: started on
//! `127.0.0.1:0`, its address read from its first line, its stdout collected
//! line by line (one line per `/events` request), killed on drop. Plain
//! HTTP/1.1 requests to its control routes, each bounded in time.
//!
//! Include with `#[path = "common/demo.rs"] mod demo;` next to
//! `#[path = "common/tool.rs"] mod tool;`.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::tool;

/// The bound on the demo's start and on one HTTP exchange with it.
pub const DEMO_WAIT: Duration = Duration::from_secs(10);

pub struct DemoProcess {
    /// `None` once killed.
    child: Option<Child>,
    pub addr: SocketAddr,
    /// Stdout, line by line, after the `listening on` line.
    log: Arc<Mutex<Vec<String>>>,
    /// A name for messages (`A`, `B`, ...).
    pub name: &'static str,
}

impl DemoProcess {
    /// Starts `demo 127.0.0.1:0 ARGS..` and waits (at most [`DEMO_WAIT`]) for
    /// its `listening on http://ADDR/` line.
    pub fn start(name: &'static str, args: &[&str]) -> DemoProcess {
        let bin = tool::example("demo");
        let mut child = Command::new(&bin)
            .arg("127.0.0.1:0")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (first_tx, first_rx) = std::sync::mpsc::channel();
        let lines = Arc::clone(&log);
        // Ends when the demo's stdout closes (the demo exited).
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = reader.next() {
                let _ = first_tx.send(first);
            }
            for line in reader.map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let mut demo = DemoProcess {
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
            name,
        };
        let first = first_rx
            .recv_timeout(DEMO_WAIT)
            .unwrap_or_else(|_| panic!("demo {name} printed no `listening on` line"));
        demo.addr = first
            .strip_prefix("listening on http://")
            .and_then(|a| a.trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("demo {name}: unexpected first line {first:?}"));
        demo
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Kills the process with SIGKILL (no goodbye to its clients or to
    /// Redis) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Its exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// How many output lines start with `prefix`.
    pub fn lines(&self, prefix: &str) -> usize {
        self.log().iter().filter(|l| l.starts_with(prefix)).count()
    }

    /// Waits (at most [`DEMO_WAIT`]) until a line starts with `prefix`.
    pub async fn wait_line(&self, prefix: &str) -> String {
        let deadline = Instant::now() + DEMO_WAIT;
        loop {
            if let Some(line) = self.log().into_iter().find(|l| l.starts_with(prefix)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "demo {}: no line `{prefix}..` within {DEMO_WAIT:?}; its output:\n{}",
                self.name,
                self.log().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `POST path` with a `text/plain` body: the status and the body.
    pub async fn post(&self, path: &str, body: &str) -> (u16, String) {
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: text/plain; charset=utf-8\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        exchange(self.addr, &request).await
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let request = format!(
            "GET {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
            self.addr
        );
        exchange(self.addr, &request).await
    }

    /// `GET /stats` as JSON.
    pub async fn stats(&self) -> serde_json::Value {
        let (status, body) = self.get("/stats").await;
        assert_eq!(status, 200, "demo {}: GET /stats", self.name);
        serde_json::from_str(&body).expect("GET /stats is JSON")
    }

    /// Waits (at most [`DEMO_WAIT`]) until `GET /stats` shows `value` at
    /// `pointer` (a JSON pointer such as `/connections`).
    pub async fn wait_stat(&self, pointer: &str, value: u64) {
        let deadline = Instant::now() + DEMO_WAIT;
        loop {
            let stats = self.stats().await;
            if stats.pointer(pointer) == Some(&value.into()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "demo {}: {pointer} is {:?}, want {value}",
                self.name,
                stats.pointer(pointer)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for DemoProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One request over a fresh connection; responses here are small and have a
/// content length (no chunked coding), and the server closes after them.
async fn exchange(addr: SocketAddr, request: &str) -> (u16, String) {
    let what = request.lines().next().unwrap_or_default().to_owned();
    let run = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        std::io::Result::Ok(response)
    };
    let response = tokio::time::timeout(DEMO_WAIT, run)
        .await
        .unwrap_or_else(|_| panic!("`{what}` to {addr} timed out"))
        .unwrap_or_else(|e| panic!("`{what}` to {addr}: {e}"));
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("`{what}` to {addr}: no status in {head:?}"));
    (status, body.to_owned())
}
