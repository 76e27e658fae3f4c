//! The whole modem: the same DTE bytes, cut into any chunks, give the same answer bytes.
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use sim5360::modem::{Modem, ModemConfig};
use sim5360::profile::Model;
use std::time::Instant;

const SCRIPT: &[u8] = b"AT\rATE0\rAT+CSQ;+CMEE=2\rAT+CFTRANRX=\"C:/f.bin\",6\rAT\r\x1a\x1bzAT+CFTRANTX=\"f.bin\",1\r\
AT+FSLS\rAT+NOPE\r\x00\xffATV0\rAT+CPIN=\"1\"\rATV1\rA/AT+FSCD=Email\rAT+FSCD=..\rATS3=33\rATS3=13!AT\r";

fn modem() -> Modem {
    let cfg = ModemConfig::in_memory(&sim5360::registry::CATALOG, Model::Sim5360, 1 << 20);
    let t = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
    Modem::new(cfg, Box::new(move || t), Instant::now()).unwrap()
}

fn run(chunks: &[&[u8]]) -> Vec<u8> {
    let mut m = modem();
    let mut out = m.drain_output();
    let now = Instant::now();
    for c in chunks {
        m.handle_input(c, now);
        // Work the modem moves off its thread (the upload's commit) runs here.
        m.run_offloads_inline();
        out.extend(m.drain_output());
    }
    out
}

#[test]
fn script_answers_something() {
    let out = String::from_utf8_lossy(&run(&[SCRIPT])).into_owned();
    assert!(out.contains("+CFTRANTX: DATA, 5\r\nT\r\x1a\x1bz"), "{out}");
    assert!(out.contains("+CME ERROR: operation not allowed"), "{out}");
    assert!(out.ends_with("!\nOK!\n\r\nOK\r\n\r\nOK\r\n"), "{out:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn any_chunking_same_answer(cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..40)) {
        let whole = run(&[SCRIPT]);
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(SCRIPT.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut prev = 0;
        for p in points {
            chunks.push(&SCRIPT[prev..p]);
            prev = p;
        }
        chunks.push(&SCRIPT[prev..]);
        prop_assert_eq!(run(&chunks), whole);
    }
}
