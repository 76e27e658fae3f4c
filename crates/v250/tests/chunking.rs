//! The same bytes cut into any chunks give the same events and the same echo.
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use proptest::prelude::*;
use v250::{Event, LineConfig, LineDiscipline};

fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => prop::sample::select(b"ATat/+CSQ;=?\",01\r\n\x08\x1a\x1b\x03 ".to_vec()),
        1 => any::<u8>(),
    ]
}

/// Feed `chunks` in order; a `Line` of `+D<n>` opens an n-byte data entry, a line of
/// `+T` a text entry, `+S` a stream and `+E` an escaped stream, as a modem would after
/// such commands.
fn run(chunks: &[&[u8]]) -> (Vec<Event>, Vec<u8>) {
    let cfg = LineConfig { max_line: 32, ..LineConfig::default() };
    let mut ld = LineDiscipline::new();
    let mut events = Vec::new();
    let mut echo = Vec::new();
    for chunk in chunks {
        let mut rest = *chunk;
        loop {
            let (n, ev) = ld.feed(rest, &cfg);
            rest = &rest[n..];
            echo.extend(ld.take_echo());
            match ev {
                Some(Event::Line(l)) => {
                    if let Some(n) = l.strip_prefix(b"+D").and_then(|d| std::str::from_utf8(d).ok()?.parse().ok()) {
                        ld.expect_data(n);
                    } else if l == b"+T" {
                        ld.expect_text(16);
                    } else if l == b"+S" {
                        ld.expect_stream(true);
                    } else if l == b"+E" {
                        ld.expect_stream_escaped(true);
                    }
                    events.push(Event::Line(l));
                }
                // Data may be split differently; merge adjacent pieces before comparing.
                Some(Event::Data(d)) => match events.last_mut() {
                    Some(Event::Data(prev)) => prev.extend(d),
                    _ => events.push(Event::Data(d)),
                },
                Some(e) => events.push(e),
                None if rest.is_empty() => break,
                None => {}
            }
        }
    }
    (events, echo)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_chunking_same_result(
        mut input in prop::collection::vec(byte(), 0..300),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
        extra in prop::sample::select(vec![
            &b"AT+D5\r12\r45AT\r"[..],
            b"AT+T\rab\x08c\x1aAT\r",
            b"AT+T\rx\x1bAT\r",
            b"AT+D3\r\n\nabAT\r\n",
            b"AT+T\r\nab\x1aAT\r\n",
            b"AT+S\r\na\x03\x1aAT\r",
            b"AT+E\r\na\x03\x1ab\x03\x03\x03c\x1bAT\r",
            b"AT+E\ra\x03\x1b\x03z\x1aAT\r",
        ]),
    ) {
        input.extend_from_slice(extra);
        let whole = run(&[&input]);
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut prev = 0;
        for p in points {
            chunks.push(&input[prev..p]);
            prev = p;
        }
        chunks.push(&input[prev..]);
        prop_assert_eq!(run(&chunks), whole);
    }
}
