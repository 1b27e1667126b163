//! Field validation: for arbitrary bytes, `EventName`, `EventId` and `RetryDelay` accept
//! exactly what a reference predicate accepts, report the first problem (kind and byte
//! offset) the predicate finds, keep accepted values unchanged, and never panic.
#![no_main]

use std::time::Duration;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sse_session::field::{EventId, EventName, FieldErrorKind, FieldKind, InvalidField, RetryDelay};

/// The reference: the first forbidden byte, then UTF-8 only up to it.
fn reference_text(input: &[u8], forbidden: &[u8]) -> Result<(), (FieldErrorKind, usize)> {
    let first_bad = input.iter().position(|b| forbidden.contains(b));
    let prefix = &input[..first_bad.unwrap_or(input.len())];
    if let Err(e) = std::str::from_utf8(prefix) {
        return Err((FieldErrorKind::InvalidUtf8, e.valid_up_to()));
    }
    match first_bad {
        None => Ok(()),
        Some(at) => Err((
            match input[at] {
                b'\r' => FieldErrorKind::CarriageReturn,
                b'\n' => FieldErrorKind::LineFeed,
                _ => FieldErrorKind::Nul,
            },
            at,
        )),
    }
}

fn agree<T: AsRef<str>>(
    what: &str,
    field: FieldKind,
    input: &[u8],
    got: Result<T, InvalidField>,
    want: Result<(), (FieldErrorKind, usize)>,
) {
    match (got, want) {
        (Ok(v), Ok(())) => assert_eq!(v.as_ref().as_bytes(), input, "{what}: value changed"),
        (Err(e), Err((kind, at))) => {
            assert_eq!(e.field(), field, "{what}: field");
            assert_eq!((e.kind(), e.offset()), (kind, at), "{what}: kind/offset");
            assert!(!e.to_string().is_empty());
        }
        (Ok(_), Err(w)) => panic!("{what}: accepted a value the reference rejects: {w:?}"),
        (Err(e), Ok(())) => panic!("{what}: rejected a valid value: {e:?}"),
    }
}

/// The reference for retry text: digits only, non-empty, at most u64::MAX ms.
fn reference_retry(s: &str) -> Result<u64, (FieldErrorKind, usize)> {
    if s.is_empty() {
        return Err((FieldErrorKind::Empty, 0));
    }
    if let Some(at) = s.bytes().position(|b| !b.is_ascii_digit()) {
        return Err((FieldErrorKind::NotDigits, at));
    }
    let mut v: u128 = 0;
    for (i, b) in s.bytes().enumerate() {
        v = v * 10 + u128::from(b - b'0');
        if v > u128::from(u64::MAX) {
            return Err((FieldErrorKind::TooLarge, i));
        }
    }
    Ok(v as u64)
}

fuzz_target!(|input: &[u8]| {
    let name_ref = reference_text(input, b"\r\n");
    let id_ref = reference_text(input, b"\r\n\0");

    // From Bytes: UTF-8 is checked too.
    let b = Bytes::copy_from_slice(input);
    agree("EventName(Bytes)", FieldKind::Event, input, EventName::try_from(b.clone()), name_ref);
    agree("EventId(Bytes)", FieldKind::Id, input, EventId::try_from(b), id_ref);

    if let Ok(s) = std::str::from_utf8(input) {
        agree("EventName(&str)", FieldKind::Event, input, EventName::try_from(s), name_ref);
        agree("EventName(String)", FieldKind::Event, input, EventName::try_from(s.to_owned()), name_ref);
        agree("EventName::from_str", FieldKind::Event, input, s.parse::<EventName>(), name_ref);
        agree("EventId(&str)", FieldKind::Id, input, EventId::try_from(s), id_ref);
        agree("EventId(String)", FieldKind::Id, input, EventId::try_from(s.to_owned()), id_ref);
        agree("EventId::from_str", FieldKind::Id, input, s.parse::<EventId>(), id_ref);

        // Accepted values behave like the text they hold.
        if let Ok(n) = EventName::try_from(s) {
            assert!(n == *s && n == s && n.to_string() == s && n.as_str() == s);
            assert_eq!(n, EventName::try_from(n.to_string()).expect("round trip"));
        }
        if let Ok(id) = EventId::try_from(s) {
            assert!(id == *s && id == s && id.to_string() == s && id.as_str() == s);
        }

        match (s.parse::<RetryDelay>(), reference_retry(s)) {
            (Ok(r), Ok(ms)) => {
                assert_eq!(r.as_millis(), ms);
                assert_eq!(r.to_string().parse::<u64>().ok(), Some(ms), "Display");
                assert_eq!(r.as_duration(), Duration::from_millis(ms));
                assert_eq!(RetryDelay::try_from(r.as_duration()).map(RetryDelay::as_millis), Ok(ms));
            }
            (Err(e), Err((kind, at))) => {
                assert_eq!(e.field(), FieldKind::Retry);
                assert_eq!((e.kind(), e.offset()), (kind, at), "RetryDelay::from_str({s:?})");
            }
            (got, want) => panic!("RetryDelay::from_str({s:?}): got {got:?}, reference {want:?}"),
        }
    }

    // Duration -> RetryDelay: whole milliseconds only, at most u64::MAX of them.
    if input.len() >= 12 {
        let secs = u64::from_le_bytes(input[..8].try_into().expect("8 bytes"));
        let nanos = u32::from_le_bytes(input[8..12].try_into().expect("4 bytes")) % 1_000_000_000;
        let d = Duration::new(secs, nanos);
        let millis = d.as_millis();
        let want = if nanos % 1_000_000 != 0 {
            Err(FieldErrorKind::NotWholeMillis)
        } else if millis > u128::from(u64::MAX) {
            Err(FieldErrorKind::TooLarge)
        } else {
            Ok(millis as u64)
        };
        let got = RetryDelay::try_from(d).map(RetryDelay::as_millis).map_err(|e| e.kind());
        assert_eq!(got, want, "RetryDelay::try_from({d:?})");
    }
});
