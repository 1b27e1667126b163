//! A `redis-server` process of the test's own: 127.0.0.1, a free port, no
//! persistence, a temporary directory; killed on drop. Fault tests stop and
//! restart it on the same port.
//!
//! Debian's `/usr/bin/redis-server` (`apt-get install redis-server`; `.ci/run`
//! installs it). When it is missing, [`RedisServer::start`] fails the test if
//! the `CI` variable is set, and otherwise says so loudly on stderr and returns
//! `None` (the test then returns early).
#![allow(dead_code, unreachable_pub)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where Debian puts it.
pub const REDIS_SERVER: &str = "/usr/bin/redis-server";
/// The bound on waiting for a started server to answer `PING`.
const READY: Duration = Duration::from_secs(10);

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers `PING`.
    /// `None` (after a loud message) if `redis-server` is not installed and
    /// this is not CI.
    pub async fn start() -> Option<Self> {
        if !Path::new(REDIS_SERVER).exists() {
            let msg = format!(
                "\n!!! {REDIS_SERVER} is not installed: the Redis tests did NOT run.\n\
                 !!! Install it with `apt-get install -y redis-server` (.ci/run does).\n"
            );
            if std::env::var_os("CI").is_some() {
                panic!("{msg}(CI is set, so this is a failure)");
            }
            eprintln!("{msg}");
            return None;
        }
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "sse-session-redis-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let mut server = Self {
            port,
            dir,
            child: None,
        };
        server.restart().await;
        Some(server)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Kills the server (SIGKILL: no goodbye to its clients) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again (empty: nothing is persisted) on the same port.
    pub async fn restart(&mut self) {
        self.stop();
        let child = Command::new(REDIS_SERVER)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + READY;
        while !self.pings().await {
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer PING within {READY:?}",
                self.port
            );
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("redis-server exited at start: {status}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the server answers `PING` with `+PONG` (within 1 s).
    pub async fn pings(&self) -> bool {
        let attempt = async {
            let mut s = TcpStream::connect(self.addr()).await.ok()?;
            s.write_all(b"PING\r\n").await.ok()?;
            let mut buf = [0u8; 7];
            s.read_exact(&mut buf).await.ok()?;
            Some(&buf == b"+PONG\r\n")
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(1), attempt).await,
            Ok(Some(true))
        )
    }

    /// Sends one command (inline form) and returns the raw reply, read until
    /// the reply is complete (bulk string length honoured).
    pub async fn command(&self, args: &[&str]) -> String {
        let mut s = TcpStream::connect(self.addr())
            .await
            .expect("connect redis");
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
                .await
                .expect("redis reply")
                .unwrap();
            assert!(n > 0, "redis closed the connection");
            out.extend_from_slice(&buf[..n]);
            if reply_complete(&out) {
                break;
            }
            assert!(Instant::now() < deadline, "incomplete redis reply");
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// `calls` of one command in `INFO commandstats` (0 if never called).
    pub async fn calls(&self, command: &str) -> u64 {
        let info = self.command(&["INFO", "commandstats"]).await;
        let prefix = format!("cmdstat_{command}:calls=");
        info.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|rest| rest.split(',').next())
            .map_or(0, |n| n.parse().unwrap())
    }
}

/// Whether `reply` holds one whole RESP reply (simple, integer, error or bulk).
fn reply_complete(reply: &[u8]) -> bool {
    let Some(end) = reply.windows(2).position(|w| w == b"\r\n") else {
        return false;
    };
    match reply[0] {
        b'$' => {
            let len: i64 = std::str::from_utf8(&reply[1..end])
                .unwrap()
                .parse()
                .unwrap();
            len < 0 || reply.len() >= end + 2 + len as usize + 2
        }
        _ => true,
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port nobody listens on right now: bind port 0, read it, let it go.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}
