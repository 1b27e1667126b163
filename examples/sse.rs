//! `sse`: a small tool for debugging event streams.
//!
//! ```text
//! cargo run --example sse -- decode [--chunk N] [--max-line-len N] [--max-event-len N]
//! cargo run --example sse -- encode
//! cargo run --features client --example sse -- get URL [options]
//! ```
//!
//! `decode` reads an event stream on stdin and prints one JSON object per line
//! for each frame, in order, as soon as it is complete:
//!
//! ```text
//! {"kind":"event","event":TYPE,"data":DATA,"id":LAST_EVENT_ID}
//! {"kind":"retry","ms":N}
//! {"kind":"comment","text":TEXT}
//! ```
//!
//! `TEXT` is the comment without the colon and without one leading space.
//! `--chunk N` feeds the parser N bytes at a time (to check that chunking does
//! not change the result); the `--max-*` options set the parser's limits. A
//! limit error is printed on stderr and the exit status is 1.
//!
//! `encode` reads JSON lines `{"event":..,"data":..,"id":..,"retry":ms,"comment":..}`
//! (every key optional; without `data` the frame has no data line, e.g. a
//! comment-only frame; blank lines are skipped) and writes the wire bytes of
//! each event to stdout. An invalid line (bad JSON, an unknown key, or an
//! invalid field such as an ID with a line break) is reported on stderr with
//! its line number, nothing is written for it, and the tool stops with exit
//! status 1 (events before it have been written).
//!
//! ```text
//! $ printf '{"event":"greet","data":"hi\\nthere","id":"1"}\n' | cargo run -q --example sse -- encode
//! event: greet
//! id: 1
//! data: hi
//! data: there
//!
//! $ printf 'data: a\r\n\r\n: ping\n' | cargo run -q --example sse -- decode
//! {"kind":"event","event":"message","data":"a","id":""}
//! {"kind":"comment","text":"ping"}
//! ```
//!
//! `get` (feature `client`) follows a stream the way a browser's
//! `EventSource` does, with `sse_session::client::EventSource`: it reconnects
//! after the stream ends, sends `Last-Event-ID`, honours `retry:` and
//! `Retry-After`, and stops on 204. It prints one JSON line per frame (as
//! `decode`) and one per lifecycle change:
//!
//! ```text
//! {"kind":"open","attempt":N}
//! {"kind":"skipped","error":MESSAGE}                       an event over a limit
//! {"kind":"reconnecting","attempt":N,"delay_ms":N,"reason":TEXT[,"error":TEXT]}
//! {"kind":"stopped","why":TEXT}                            after 204: exit status 0
//! {"kind":"error","error":KIND,"message":TEXT}             fatal: exit status 1
//! ```
//!
//! Options: `-H/--header 'K: V'` (repeatable), `-X/--method M`, `-d/--data
//! BODY` (also `--body`), `--last-event-id ID`, `--max-line-len N`,
//! `--max-event-len N`, `--max-attempts N`, `--connect-timeout S`,
//! `--idle-timeout S` (seconds, `0` switches it off). Bad options exit with
//! status 2.

use std::io::{self, BufRead, Read, Write};
use std::process::ExitCode;

use bytes::BytesMut;
use serde::{Deserialize, Serialize};
use sse_session::parse::{Frame, Parser, ParserConfig};
use sse_session::Event;

const USAGE: &str = "usage: sse decode [--chunk N] [--max-line-len N] [--max-event-len N]
       sse encode
       sse get URL [-H 'K: V']... [-X METHOD] [-d BODY] [--last-event-id ID]
               [--max-line-len N] [--max-event-len N] [--max-attempts N]
               [--connect-timeout SECS] [--idle-timeout SECS]";

const GET_HELP: &str = "sse get URL: follow an event stream like a browser's EventSource
(reconnects with Last-Event-ID, honours retry: and Retry-After, stops on 204)
and print one JSON line per event, retry, comment and lifecycle change.

options:
  -H, --header 'K: V'      add a request header (repeatable), e.g. authorization
  -X, --method METHOD      request method (default GET)
  -d, --data BODY          request body, sent again on every reconnect (--body too)
      --last-event-id ID   start from this ID (sent as Last-Event-ID)
      --max-line-len N     parser limit on one line, in bytes (default 8 MiB)
      --max-event-len N    parser limit on one event's data, in bytes (default 8 MiB)
      --max-attempts N     give up after N failed reconnects in a row (default never)
      --connect-timeout S  seconds to wait for a response head (default 30)
      --idle-timeout S     reconnect a stream silent this long, 0 = never (default 300)

exit status: 0 after 204 No Content, 1 on a fatal error (a status that is not
retried, a content type that is not text/event-stream, attempts exhausted),
2 on bad options.";

const MAX_CHUNK: usize = 64 << 20;

/// Why the tool stops with a non-zero status (already reported on stderr).
struct Failed;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("decode") => match decode_options(&args[1..]) {
            Ok((chunk, config)) => decode(chunk, config),
            Err(msg) => return usage(&msg),
        },
        Some("encode") if args.len() == 1 => encode(),
        Some("get") if args[1..].iter().any(|a| a == "-h" || a == "--help") => {
            println!("{GET_HELP}");
            return ExitCode::SUCCESS;
        }
        #[cfg(feature = "client")]
        Some("get") => match get::options(&args[1..]) {
            Ok(builder) => get::run(builder),
            Err(msg) => return usage(&msg),
        },
        #[cfg(not(feature = "client"))]
        Some("get") => return usage(
            "get needs the client feature: cargo run --features client --example sse -- get URL",
        ),
        Some("-h" | "--help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => return usage("expected a subcommand: decode, encode or get"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failed) => ExitCode::FAILURE,
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("sse: {msg}\n{USAGE}");
    ExitCode::from(2)
}

fn decode_options(args: &[String]) -> Result<(Option<usize>, ParserConfig), String> {
    let mut chunk = None;
    let mut config = ParserConfig::default();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let n: usize = value
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("{flag} needs a positive number, got {value:?}"))?;
        match flag.as_str() {
            // The chunk is one buffer: keep an absurd value from aborting on allocation.
            "--chunk" if n > MAX_CHUNK => {
                return Err(format!("--chunk is at most {MAX_CHUNK} bytes"));
            }
            "--chunk" => chunk = Some(n),
            "--max-line-len" => config = config.max_line_len(n),
            "--max-event-len" => config = config.max_event_len(n),
            _ => return Err(format!("unknown option {flag:?}")),
        }
    }
    Ok((chunk, config))
}

/// One output line of `decode`; the tag comes first, then the fields in order.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Out<'a> {
    Event {
        event: &'a str,
        data: &'a str,
        id: &'a str,
    },
    Retry {
        ms: u64,
    },
    Comment {
        text: &'a str,
    },
}

fn decode(chunk: Option<usize>, config: ParserConfig) -> Result<(), Failed> {
    let mut parser = Parser::with_config(config);
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut buf = vec![0; chunk.unwrap_or(64 * 1024)];
    loop {
        let n = match chunk {
            // Exactly N bytes per feed (fewer only at the end of input).
            Some(_) => read_full(&mut input, &mut buf),
            // Whatever arrives: frames show up as soon as they are complete.
            None => read_some(&mut input, &mut buf),
        }
        .map_err(|e| io_error("reading stdin", &e))?;
        if n == 0 {
            parser.finish();
        } else {
            parser.feed(&buf[..n]);
        }
        print_frames(&mut parser, &mut out)?;
        if let Err(e) = out.flush() {
            return quiet_on_broken_pipe(e);
        }
        if n == 0 {
            return Ok(());
        }
    }
}

fn read_some(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match input.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match read_some(input, &mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn print_frames(parser: &mut Parser, out: &mut impl Write) -> Result<(), Failed> {
    loop {
        let frame = match parser.next_frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => return Ok(()),
            Err(e) => {
                // Show what came before the error, then stop.
                let _ = out.flush();
                eprintln!("sse decode: {e}");
                return Err(Failed);
            }
        };
        let line = match &frame {
            Frame::Event(e) => Out::Event {
                event: e.event_type(),
                data: e.data(),
                id: e.last_event_id(),
            },
            Frame::Retry(delay) => Out::Retry {
                ms: delay.as_millis(),
            },
            Frame::Comment(c) => Out::Comment { text: c.text() },
            // A frame kind added after this tool was written.
            _ => continue,
        };
        let json = serde_json::to_string(&line).expect("serialising strings and numbers");
        if let Err(e) = writeln!(out, "{json}") {
            return quiet_on_broken_pipe(e);
        }
    }
}

/// One input line of `encode`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct In {
    event: Option<String>,
    data: Option<String>,
    id: Option<String>,
    retry: Option<u64>,
    comment: Option<String>,
}

impl In {
    fn into_event(self) -> Result<Event, sse_session::InvalidField> {
        let mut b = Event::builder();
        if let Some(comment) = self.comment {
            b = b.comment(comment);
        }
        if let Some(name) = self.event {
            b = b.name(name);
        }
        if let Some(id) = self.id {
            b = b.id(id);
        }
        if let Some(ms) = self.retry {
            b = b.retry_ms(ms);
        }
        if let Some(data) = self.data {
            b = b.data(data);
        }
        b.build()
    }
}

fn encode() -> Result<(), Failed> {
    let stdin = io::stdin();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut buf = BytesMut::new();
    for (i, line) in stdin.lock().lines().enumerate() {
        let n = i + 1;
        let line = line.map_err(|e| io_error("reading stdin", &e))?;
        if line.trim().is_empty() {
            continue;
        }
        let event = match serde_json::from_str::<In>(&line) {
            Ok(input) => input.into_event().map_err(|e| e.to_string()),
            Err(e) => Err(format!("invalid input: {e}")),
        };
        let event = event.map_err(|msg| {
            eprintln!("sse encode: line {n}: {msg}");
            Failed
        })?;
        buf.clear();
        event.encode_into(&mut buf);
        // Unbuffered on purpose: each event is written (and visible downstream)
        // as soon as its line is read, and nothing of a rejected line is.
        if let Err(e) = out.write_all(&buf).and_then(|()| out.flush()) {
            return quiet_on_broken_pipe(e);
        }
    }
    Ok(())
}

fn io_error(what: &str, e: &io::Error) -> Failed {
    eprintln!("sse: {what}: {e}");
    Failed
}

/// A closed stdout (`sse decode | head`) ends the tool quietly.
fn quiet_on_broken_pipe(e: io::Error) -> Result<(), Failed> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(io_error("writing stdout", &e))
    }
}

/// `sse get`: the client, one JSON line per item.
#[cfg(feature = "client")]
mod get {
    use std::io::{self, Write};
    use std::time::Duration;

    use futures_util::StreamExt;
    use serde::Serialize;
    use sse_session::client::{Builder, ErrorKind, EventSource, Item};
    use sse_session::parse::ParserConfig;

    use super::{io_error, quiet_on_broken_pipe, Failed, Out};

    /// The builder the options describe.
    pub(super) fn options(args: &[String]) -> Result<Builder, String> {
        let mut url = None;
        let mut headers = Vec::new();
        let mut method = None;
        let mut body = None;
        let mut last_event_id = None;
        let mut parser = ParserConfig::default();
        let mut attempts = None;
        let mut connect = None;
        let mut idle = None;
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            if !arg.starts_with('-') {
                if url.replace(arg.clone()).is_some() {
                    return Err(format!("one URL only, got a second: {arg:?}"));
                }
                continue;
            }
            let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
            let count = || -> Result<usize, String> {
                value
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("{arg} needs a positive number, got {value:?}"))
            };
            let seconds = || -> Result<Option<Duration>, String> {
                let s: f64 = value
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| format!("{arg} needs seconds, got {value:?}"))?;
                let d = Duration::try_from_secs_f64(s)
                    .map_err(|_| format!("{arg}: {value:?} is too long"))?;
                Ok((!d.is_zero()).then_some(d))
            };
            match arg.as_str() {
                "-H" | "--header" => {
                    let (name, v) = value
                        .split_once(':')
                        .ok_or_else(|| format!("{arg} needs 'Name: value', got {value:?}"))?;
                    headers.push((name.trim().to_owned(), v.trim().to_owned()));
                }
                "-X" | "--method" => {
                    method = Some(
                        http::Method::from_bytes(value.as_bytes())
                            .map_err(|_| format!("invalid method {value:?}"))?,
                    );
                }
                "-d" | "--data" | "--body" => body = Some(value.clone()),
                "--last-event-id" => last_event_id = Some(value.clone()),
                "--max-line-len" => parser = parser.max_line_len(count()?),
                "--max-event-len" => parser = parser.max_event_len(count()?),
                "--max-attempts" => {
                    attempts = Some(
                        u32::try_from(count()?)
                            .map_err(|_| format!("{arg}: {value:?} is too many"))?,
                    );
                }
                "--connect-timeout" => connect = Some(seconds()?),
                "--idle-timeout" => idle = Some(seconds()?),
                _ => return Err(format!("unknown option {arg:?}")),
            }
        }
        let url = url.ok_or("get needs a URL")?;
        let mut b = EventSource::builder(&url);
        for (name, value) in headers {
            b = b.header(name, value);
        }
        if let Some(method) = method {
            b = b.method(method);
        }
        if let Some(body) = body {
            b = b.body(body);
        }
        if let Some(id) = last_event_id {
            b = b.last_event_id(&id);
        }
        b = b.parser(parser).max_attempts(attempts);
        if let Some(t) = connect {
            b = b.connect_timeout(t);
        }
        if let Some(t) = idle {
            b = b.idle_timeout(t);
        }
        Ok(b)
    }

    /// A lifecycle line; frames print as `decode` prints them.
    #[derive(Serialize)]
    #[serde(tag = "kind", rename_all = "lowercase")]
    enum Life<'a> {
        Open {
            attempt: u32,
        },
        Skipped {
            error: String,
        },
        Reconnecting {
            attempt: u32,
            delay_ms: u128,
            reason: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            error: Option<String>,
        },
        Stopped {
            why: String,
        },
        Error {
            error: &'a str,
            message: String,
        },
    }

    fn kind_name(kind: ErrorKind) -> &'static str {
        match kind {
            ErrorKind::Build => "build",
            ErrorKind::Connect => "connect",
            ErrorKind::Read => "read",
            ErrorKind::Status => "status",
            ErrorKind::ContentType => "content_type",
            ErrorKind::AttemptsExhausted => "attempts_exhausted",
            _ => "other",
        }
    }

    fn line(out: &mut impl Write, value: &impl Serialize) -> Result<(), Failed> {
        let json = serde_json::to_string(value).expect("serialising strings and numbers");
        match writeln!(out, "{json}").and_then(|()| out.flush()) {
            Ok(()) => Ok(()),
            Err(e) => {
                quiet_on_broken_pipe(e)?;
                // stdout is gone (`sse get URL | head`): stop following, quietly.
                std::process::exit(0)
            }
        }
    }

    pub(super) fn run(builder: Builder) -> Result<(), Failed> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| io_error("starting the runtime", &e))?;
        runtime.block_on(follow(builder))
    }

    async fn follow(builder: Builder) -> Result<(), Failed> {
        let stdout = io::stdout();
        let mut out = stdout.lock();
        let mut events = match builder.build() {
            Ok(es) => es,
            Err(e) => {
                eprintln!("sse get: {e}");
                return Err(Failed);
            }
        };
        while let Some(item) = events.next().await {
            match item {
                Ok(Item::Open { attempt, .. }) => line(&mut out, &Life::Open { attempt })?,
                Ok(Item::Event(e)) => line(
                    &mut out,
                    &Out::Event {
                        event: e.event_type(),
                        data: e.data(),
                        id: e.last_event_id(),
                    },
                )?,
                Ok(Item::Retry(r)) => line(&mut out, &Out::Retry { ms: r.as_millis() })?,
                Ok(Item::Comment(c)) => line(&mut out, &Out::Comment { text: c.text() })?,
                Ok(Item::Skipped(e)) => line(
                    &mut out,
                    &Life::Skipped {
                        error: e.to_string(),
                    },
                )?,
                Ok(Item::Reconnecting {
                    attempt,
                    delay,
                    reason,
                    error,
                    ..
                }) => line(
                    &mut out,
                    &Life::Reconnecting {
                        attempt,
                        delay_ms: delay.as_millis(),
                        reason: reason.to_string(),
                        error: error.map(|e| e.to_string()),
                    },
                )?,
                Ok(Item::Stopped(why)) => {
                    line(
                        &mut out,
                        &Life::Stopped {
                            why: why.to_string(),
                        },
                    )?;
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) => {
                    line(
                        &mut out,
                        &Life::Error {
                            error: kind_name(e.kind()),
                            message: e.to_string(),
                        },
                    )?;
                    eprintln!("sse get: {e}");
                    return Err(Failed);
                }
            }
        }
        Ok(())
    }
}
