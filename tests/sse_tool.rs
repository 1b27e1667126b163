//! The `sse` debugging tool (examples/sse.rs): exact output of `decode` and
//! `encode`, error reporting and exit codes, by running the built example.

use std::io::Write;
use std::process::{Command, Output, Stdio};

#[path = "common/tool.rs"]
mod tool;
use tool::tool;

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(tool())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sse");
    let mut input = child.stdin.take().expect("stdin");
    let stdin = stdin.to_vec();
    // Write from another thread: the tool writes output while it reads.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let out = child.wait_with_output().expect("wait for sse");
    writer.join().expect("stdin writer");
    out
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("UTF-8 output")
}

// ------------------------------------------------------------ decode

const STREAM: &[u8] = b"\xef\xbb\xbf: hello\n:no space\n:  two spaces\nretry: 1500\n\
event: add\nid: 7\ndata: 1\ndata:2\n\n\
data: \"quoted\" \\ back\r\n\r\n\
retry: x\n\
data: next\rid\rdata: after-reset\r\r\
data: unfinished";

const DECODED: &str = r#"{"kind":"comment","text":"hello"}
{"kind":"comment","text":"no space"}
{"kind":"comment","text":" two spaces"}
{"kind":"retry","ms":1500}
{"kind":"event","event":"add","data":"1\n2","id":"7"}
{"kind":"event","event":"message","data":"\"quoted\" \\ back","id":"7"}
{"kind":"event","event":"message","data":"next\nafter-reset","id":""}
"#;

#[test]
fn decode_prints_one_json_line_per_frame() {
    let out = run(&["decode"], STREAM);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), DECODED);
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn decode_gives_the_same_output_for_every_chunk_size() {
    for chunk in ["1", "2", "3", "7", "64", "4096"] {
        let out = run(&["decode", "--chunk", chunk], STREAM);
        assert!(
            out.status.success(),
            "--chunk {chunk}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout), DECODED, "--chunk {chunk}");
    }
}

#[test]
fn decode_empty_input_prints_nothing() {
    let out = run(&["decode"], b"");
    assert!(out.status.success());
    assert_eq!(out.stdout, b"");
}

#[test]
fn decode_replaces_invalid_utf8() {
    let out = run(&["decode"], b"data: a\xffb\n\n");
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout),
        "{\"kind\":\"event\",\"event\":\"message\",\"data\":\"a\u{fffd}b\",\"id\":\"\"}\n"
    );
}

#[test]
fn decode_limit_error_goes_to_stderr_with_nonzero_exit() {
    let out = run(
        &["decode", "--max-line-len", "8"],
        b"data: ok\n\ndata: far too long\n\ndata: never\n\n",
    );
    assert_eq!(out.status.code(), Some(1));
    // Frames before the error are still printed.
    assert_eq!(
        text(&out.stdout),
        "{\"kind\":\"event\",\"event\":\"message\",\"data\":\"ok\",\"id\":\"\"}\n"
    );
    assert_eq!(text(&out.stderr), "sse decode: line exceeds 8-byte limit\n");

    let out = run(
        &["decode", "--chunk", "3", "--max-event-len", "4"],
        b"data: abc\ndata: de\n\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stdout, b"");
    assert_eq!(
        text(&out.stderr),
        "sse decode: event data exceeds 4-byte limit\n"
    );
}

#[test]
fn decode_default_limit_applies() {
    // A 5 MiB event passes the default limits (8 MiB)...
    let mut input = b"data: ".to_vec();
    input.resize(input.len() + (5 << 20), b'x');
    input.extend_from_slice(b"\n\n");
    let out = run(&["decode"], &input);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    assert!(line.starts_with("{\"kind\":\"event\"") && line.len() > 5 << 20);
    // ... one line over the default 8 MiB line limit does not.
    let mut input = b"data: ".to_vec();
    input.resize(input.len() + (8 << 20), b'x');
    input.extend_from_slice(b"\n\n");
    let out = run(&["decode"], &input);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("line exceeds"),
        "{}",
        text(&out.stderr)
    );
}

// ------------------------------------------------------------ encode

#[test]
fn encode_writes_exact_wire_bytes() {
    let input = concat!(
        r#"{"event":"greet","data":"hi\nthere","id":"1"}"#,
        "\n\n",
        r#"{"comment":"only a comment"}"#,
        "\n",
        r#"{"retry":3000,"id":""}"#,
        "\n",
        r#"{"data":""}"#,
        "\n",
        r#"{"data":" lead\r\nCRLF\rCR","comment":"c1\nc2"}"#,
        "\n",
        r#"{"event":null,"data":"nulls are absent"}"#,
        "\n",
        "{}\n",
    );
    let out = run(&["encode"], input.as_bytes());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "event: greet\nid: 1\ndata: hi\ndata: there\n\n\
         : only a comment\n\n\
         id: \nretry: 3000\n\n\
         data: \n\n\
         : c1\n: c2\ndata:  lead\ndata: CRLF\ndata: CR\n\n\
         data: nulls are absent\n\n\
         \n"
    );
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn encode_rejects_an_invalid_field_naming_the_line() {
    let input = concat!(
        r#"{"data":"first"}"#,
        "\n\n",
        r#"{"id":"7\ndata: injected","data":"x"}"#,
        "\n",
        r#"{"data":"never written"}"#,
        "\n",
    );
    let out = run(&["encode"], input.as_bytes());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "data: first\n\n");
    assert_eq!(
        text(&out.stderr),
        "sse encode: line 3: event id contains a line feed at byte 1\n"
    );

    let out = run(&["encode"], br#"{"event":"a\rb","data":"x"}"#);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stdout, b"");
    assert_eq!(
        text(&out.stderr),
        "sse encode: line 1: event name contains a carriage return at byte 1\n"
    );
}

#[test]
fn encode_rejects_bad_json_and_unknown_keys() {
    for (input, needle) in [
        ("{\"data\":\n", "line 1: invalid input"),
        (
            "{\"data\":\"x\"}\n{\"name\":\"typo\"}\n",
            "line 2: invalid input: unknown field `name`",
        ),
        ("{\"retry\":-1}\n", "line 1: invalid input"),
        ("{\"retry\":\"3000\"}\n", "line 1: invalid input"),
    ] {
        let out = run(&["encode"], input.as_bytes());
        assert_eq!(out.status.code(), Some(1), "{input:?}");
        let err = text(&out.stderr);
        assert!(err.starts_with("sse encode: "), "{err}");
        assert!(err.contains(needle), "{input:?}: {err}");
    }
}

#[test]
fn encode_then_decode_round_trips() {
    let input = concat!(
        r#"{"event":"update","id":"42","data":"a\nb\r\nc"}"#,
        "\n",
        r#"{"data":" spaced "}"#,
        "\n",
    );
    let encoded = run(&["encode"], input.as_bytes());
    assert!(encoded.status.success());
    let decoded = run(&["decode", "--chunk", "5"], &encoded.stdout);
    assert!(decoded.status.success());
    assert_eq!(
        text(&decoded.stdout),
        concat!(
            r#"{"kind":"event","event":"update","data":"a\nb\nc","id":"42"}"#,
            "\n",
            r#"{"kind":"event","event":"message","data":" spaced ","id":"42"}"#,
            "\n",
        )
    );
}

// ------------------------------------------------------------ usage

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["nope"][..],
        &["decode", "--chunk"][..],
        &["decode", "--chunk", "0"][..],
        &["decode", "--chunk", "99999999999"][..],
        &["decode", "--bogus", "1"][..],
        &["encode", "extra"][..],
    ] {
        let out = run(args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out.stderr).contains("usage: sse decode"), "{args:?}");
    }
}
