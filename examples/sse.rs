//! `sse`: a small tool for debugging event streams.
//!
//! ```text
//! cargo run --example sse -- decode [--chunk N] [--max-line-len N] [--max-event-len N]
//! cargo run --example sse -- encode
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

use std::io::{self, BufRead, Read, Write};
use std::process::ExitCode;

use bytes::BytesMut;
use serde::{Deserialize, Serialize};
use sse_session::parse::{Frame, Parser, ParserConfig};
use sse_session::Event;

const USAGE: &str = "usage: sse decode [--chunk N] [--max-line-len N] [--max-event-len N]
       sse encode";

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
        Some("-h" | "--help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => return usage("expected a subcommand: decode or encode"),
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
