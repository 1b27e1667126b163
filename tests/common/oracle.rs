//! A slow, obviously-correct reference parser: a line-by-line transcription of
//! WHATWG HTML "Parsing an event stream" and "Interpreting an event stream"
//! (https://html.spec.whatwg.org/multipage/server-sent-events.html), run on
//! the whole input at once. No limits, no cleverness: it decodes the whole
//! stream first, splits it into lines with a char loop, and keeps the three
//! buffers as plain `String`s, exactly as the spec words them.
//!
//! Used by tests/conformance.rs and tests/parse_chunking.rs to check the real
//! (incremental, in-place) parser.

// The nesting follows the spec text, step by step.
#![allow(dead_code, clippy::collapsible_match)]

use sse_session::{Comment, Frame, MessageEvent, RetryDelay};

/// What the oracle saw: the frames, and the state after the stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub frames: Vec<Frame>,
    pub last_event_id: String,
    pub reconnection_time: Option<RetryDelay>,
}

/// Parses a complete stream (the end of `input` is the end of the stream).
pub fn parse(input: &[u8]) -> Outcome {
    // "Streams must be decoded using the UTF-8 decode algorithm." That
    // algorithm strips one leading BOM and replaces errors with U+FFFD.
    let decoded = String::from_utf8_lossy(input);
    let text = decoded.strip_prefix('\u{FEFF}').unwrap_or(&decoded);

    // "Lines must be separated by either a U+000D CARRIAGE RETURN U+000A LINE
    // FEED (CRLF) character pair, a single U+000A LINE FEED (LF) character, or
    // a single U+000D CARRIAGE RETURN (CR) character."
    let chars: Vec<char> = text.chars().collect();
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\r' => {
                lines.push(std::mem::take(&mut current));
                if chars.get(i + 1) == Some(&'\n') {
                    i += 1;
                }
            }
            '\n' => lines.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
        i += 1;
    }
    // "Once the end of the file is reached, any pending data must be
    // discarded." `current` (an unterminated line) is dropped here.

    // "When a stream is parsed, a data buffer, an event type buffer, and a
    // last event ID buffer must be associated with it. They must be
    // initialized to the empty string."
    let mut data = String::new();
    let mut event_type = String::new();
    let mut last_event_id_buffer = String::new();
    let mut last_event_id = String::new();
    let mut reconnection_time = None;
    let mut frames = Vec::new();

    for line in lines {
        if line.is_empty() {
            // "If the line is empty (a blank line): Dispatch the event."
            // 1. "Set the last event ID string of the event source to the
            //    value of the last event ID buffer."
            last_event_id = last_event_id_buffer.clone();
            // 2. "If the data buffer is an empty string, set the data buffer
            //    and the event type buffer to the empty string and return."
            if data.is_empty() {
                data.clear();
                event_type.clear();
                continue;
            }
            // 3. "If the data buffer's last character is a U+000A LINE FEED
            //    (LF) character, then remove the last character."
            if data.ends_with('\n') {
                data.pop();
            }
            // 4-5. The event's type is the event type buffer, or "message"
            //    if that is empty; data and lastEventId as above.
            let ty = if event_type.is_empty() {
                "message"
            } else {
                &event_type
            };
            frames.push(Frame::Event(MessageEvent::new(ty, &data, &last_event_id)));
            // 6. "Set the data buffer and the event type buffer to the empty
            //    string."
            data.clear();
            event_type.clear();
        } else if let Some(rest) = line.strip_prefix(':') {
            // "If the line starts with a U+003A COLON character (:): Ignore
            // the line." (We report it as a comment, the text with one
            // leading space removed.)
            let text = rest.strip_prefix(' ').unwrap_or(rest);
            frames.push(Frame::Comment(Comment::new(text)));
        } else {
            // "If the line contains a U+003A COLON character: Collect the
            // characters on the line before the first U+003A COLON character,
            // and let field be that string. Collect the characters on the
            // line after the first U+003A COLON character, and let value be
            // that string. If value starts with a U+0020 SPACE character,
            // remove it from value."
            // "Otherwise, ... using the whole line as the field name, and the
            // empty string as the field value."
            let (field, value) = match line.find(':') {
                Some(colon) => {
                    let value = &line[colon + 1..];
                    (&line[..colon], value.strip_prefix(' ').unwrap_or(value))
                }
                None => (line.as_str(), ""),
            };
            // "Process the field": the field names are compared literally.
            match field {
                "event" => {
                    event_type = value.to_owned();
                }
                "data" => {
                    data.push_str(value);
                    data.push('\n');
                }
                "id" => {
                    if !value.contains('\0') {
                        last_event_id_buffer = value.to_owned();
                    }
                }
                "retry" => {
                    // "If the field value consists of only ASCII digits, then
                    // interpret the field value as an integer in base ten" (a
                    // value that does not fit in u64 is ignored, our choice).
                    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
                        if let Ok(ms) = value.parse::<u64>() {
                            let delay = RetryDelay::from_millis(ms);
                            reconnection_time = Some(delay);
                            frames.push(Frame::Retry(delay));
                        }
                    }
                }
                _ => {} // "Otherwise: The field is ignored."
            }
        }
    }

    Outcome {
        frames,
        last_event_id,
        reconnection_time,
    }
}
