//! The core with a DTE that does not read: what it keeps is bounded, echo goes first,
//! then input (as a UART overrun), and no answer to a command it took is lost.
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use chrono::{TimeZone, Utc};
use sim5360::modem::{Modem, ModemConfig};
use sim5360::profile::Model;
use std::time::Instant;

fn modem() -> Modem {
    let cfg = ModemConfig::in_memory(&sim5360::registry::CATALOG, Model::Sim5360, 1 << 20);
    let t = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
    let mut m = Modem::new(cfg, Box::new(move || t), Instant::now()).unwrap();
    m.drain_output();
    m
}

#[test]
fn unread_output_is_bounded_and_nothing_taken_is_lost() {
    let mut m = modem();
    let now = Instant::now();
    let mut sent = 0usize;
    for _ in 0..256 {
        m.handle_input(&b"AT\r".repeat(1365), now);
        sent += 1365;
    }
    let (lost_input, lost_echo) = m.dropped();
    assert!(lost_echo > 0, "echo is dropped first");
    assert!(lost_input > 0, "then input");
    let out = m.drain_output();
    assert!(out.len() < 256 * 1024, "{} bytes kept", out.len());
    // Every command that was taken is answered: those dropped whole, and the one cut by the
    // overrun, are not.
    let oks = out.windows(6).filter(|w| w == b"\r\nOK\r\n").count();
    let taken = (sent * 3 - lost_input as usize) / 3;
    assert!(oks == taken || oks + 1 == taken, "{oks} answers for {taken} commands taken");
    // Reading again, the modem answers at once.
    m.handle_input(b"\rATE0\r", now);
    m.drain_output();
    m.handle_input(b"AT+CSQ\r", now);
    assert_eq!(m.drain_output(), b"\r\n+CSQ: 21,99\r\n\r\nOK\r\n");
}

#[test]
fn a_reading_dte_loses_nothing() {
    let mut m = modem();
    let now = Instant::now();
    let mut out = Vec::new();
    for _ in 0..100 {
        m.handle_input(&b"AT\r".repeat(1000), now);
        out.extend(m.drain_output());
    }
    assert_eq!(m.dropped(), (0, 0));
    assert_eq!(out.windows(6).filter(|w| w == b"\r\nOK\r\n").count(), 100_000);
}
