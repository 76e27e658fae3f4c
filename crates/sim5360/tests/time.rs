//! Network time end to end: AT+CNTP against chrony on a loopback port, AT+CHTPUPDATE
//! against nginx's `Date`, with CR and CR LF DTEs; the clock is set wrong first, so only
//! the server can have put it right.
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use chrono::{NaiveDateTime, Utc};
use std::path::Path;
use std::time::Duration;
use testbench::{Dte, HttpServer, ModemProcess, NtpServer, TestCa};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sim5360"))
}

const ENDINGS: [&[u8]; 2] = [b"\r", b"\r\n"];

fn modem(line_end: &'static [u8]) -> (ModemProcess, Dte) {
    let (m, mut dte) = testbench::ready_modem(bin(), &[]).unwrap();
    dte.line_end = line_end;
    dte.timeout = Duration::from_secs(15);
    dte.cmd_expect("AT+CMEE=1", &["OK"]);
    (m, dte)
}

/// `+CCLK: "yy/MM/dd,hh:mm:ss±zz"` as (UTC time, quarter hours).
fn cclk(dte: &mut Dte) -> (NaiveDateTime, i32) {
    let got = dte.cmd("AT+CCLK?");
    assert_eq!(got.len(), 2, "{got:?}");
    let v = got[0].strip_prefix("+CCLK: \"").and_then(|v| v.strip_suffix('"')).unwrap();
    let (local, zone) = v.split_at(17);
    let quarters: i32 = zone.parse().unwrap();
    let local = NaiveDateTime::parse_from_str(local, "%y/%m/%d,%H:%M:%S").unwrap();
    (local - chrono::Duration::minutes(15 * i64::from(quarters)), quarters)
}

fn assert_now(dte: &mut Dte, zone: i32) {
    let (utc, quarters) = cclk(dte);
    let off = (utc - Utc::now().naive_utc()).num_seconds().abs();
    assert!(off <= 5, "the clock is {off} s off after the sync: {utc}");
    assert_eq!(quarters, zone);
}

#[test]
fn cntp_sets_the_clock_from_chrony() {
    let ntp = NtpServer::start().unwrap();
    for end in ENDINGS {
        let (_m, mut dte) = modem(end);
        dte.cmd_expect("AT+CCLK=\"01/01/01,00:00:00+00\"", &["OK"]);
        // TinyGSM's NTPServerSync(): CNTPCID, the server and zone, the sync.
        dte.cmd_expect("AT+CNTPCID=1", &["OK"]);
        dte.cmd_expect(&format!("AT+CNTP=\"127.0.0.1:{}\",8", ntp.port), &["OK"]);
        dte.cmd_expect("AT+CNTP", &["OK"]);
        let result = dte.wait_for("+CNTP:");
        assert_eq!(result, "+CNTP: 0", "chronyd log:\n{}", ntp.log_tail());
        assert_now(&mut dte, 8);
        dte.cmd_expect("AT+CNTP?", &[&format!("+CNTP: \"127.0.0.1:{}\",8", ntp.port), "OK"]);
    }
}

#[test]
fn cntp_without_a_server_reports_the_failure_and_keeps_the_clock() {
    let port = testbench::process::free_port().unwrap();
    let (_m, mut dte) = modem(b"\r\n");
    dte.cmd_expect("AT+CCLK=\"01/01/01,00:00:00+00\"", &["OK"]);
    dte.cmd_expect(&format!("AT+CNTP=\"127.0.0.1:{port}\""), &["OK"]);
    dte.cmd_expect("AT+CNTP", &["OK"]);
    assert_eq!(dte.wait_for("+CNTP:"), "+CNTP: 3");
    let (utc, _) = cclk(&mut dte);
    assert!(utc.format("%y/%m/%d").to_string() == "01/01/01", "{utc}");
    dte.cmd_expect("AT", &["OK"]);
}

/// The control API's link rules reach AT+CNTP as far as a datagram exchange can have
/// them: a `refuse` or `dns_fail` fault on `time` fails the sync at once (`+CNTP: 3`,
/// chrony running all along, the clock kept), a preset's round trip delays it, and with
/// the faults gone it works.
#[test]
fn cntp_meets_the_faults_and_conditions_of_the_time_service() {
    let ntp = NtpServer::start().unwrap();
    let args = ["--no-nmea", "--control", "127.0.0.1:0", "--ready-json"];
    let (m, mut dte) = testbench::ready_modem(bin(), &args).unwrap();
    let url = m.control.clone().unwrap();
    dte.timeout = Duration::from_secs(15);
    dte.line_end = b"\r\n";
    dte.cmd_expect("AT+CCLK=\"01/01/01,00:00:00+00\"", &["OK"]);
    dte.cmd_expect(&format!("AT+CNTP=\"127.0.0.1:{}\"", ntp.port), &["OK"]);
    let api = |method: &str, path: &str, body: &str| {
        testbench::control_http(&url, method, &format!("/api/v1/modems/0/{path}"), &[], Some(body)).0
    };
    for fault in [r#"{"service": "time", "type": "refuse"}"#, r#"{"service": "dns", "type": "dns_fail"}"#] {
        assert_eq!(api("POST", "faults", fault), 201, "{fault}");
        let t = std::time::Instant::now();
        dte.cmd_expect("AT+CNTP", &["OK"]);
        assert_eq!(dte.wait_for("+CNTP:"), "+CNTP: 3", "{fault}");
        // Told at once, not after the 10 s the module waits for a silent server (a bound
        // no busy machine comes near).
        assert!(t.elapsed() < Duration::from_secs(9), "{fault}: {:?}", t.elapsed());
        assert_eq!(cclk(&mut dte).0.format("%y/%m/%d").to_string(), "01/01/01", "{fault}");
        assert_eq!(api("DELETE", "faults", ""), 204);
    }
    // gprs: 600 ms ± 200 of round trip before the exchange.
    assert_eq!(api("PUT", "network", r#"{"preset": "gprs"}"#), 200);
    let t = std::time::Instant::now();
    dte.cmd_expect("AT+CNTP", &["OK"]);
    assert_eq!(dte.wait_for("+CNTP:"), "+CNTP: 0", "chronyd log:\n{}", ntp.log_tail());
    assert!(t.elapsed() >= Duration::from_millis(400), "{:?}", t.elapsed());
    assert_now(&mut dte, 0);
}

#[test]
fn chtpupdate_sets_the_clock_from_an_http_date() {
    let ca = TestCa::new().unwrap();
    let web = HttpServer::start(&ca).unwrap();
    for end in ENDINGS {
        let (_m, mut dte) = modem(end);
        dte.cmd_expect("AT+CCLK=\"01/01/01,00:00:00-16\"", &["OK"]);
        dte.cmd_expect(&format!("AT+CHTPSERV=\"ADD\",\"127.0.0.1\",{},1", web.port), &["OK"]);
        dte.cmd_expect("AT+CHTPUPDATE", &["OK"]);
        assert_eq!(dte.wait_for("+CHTPUPDATE:"), "+CHTPUPDATE: 0", "nginx log:\n{}", web.log_tail());
        // The zone the clock had is kept.
        assert_now(&mut dte, -16);
    }
}

#[test]
fn chtpupdate_tries_the_next_server() {
    let ca = TestCa::new().unwrap();
    let web = HttpServer::start(&ca).unwrap();
    let dead = testbench::process::free_port().unwrap();
    let (_m, mut dte) = modem(b"\r\n");
    dte.cmd_expect("AT+CCLK=\"01/01/01,00:00:00+00\"", &["OK"]);
    dte.cmd_expect(&format!("AT+CHTPSERV=\"ADD\",\"127.0.0.1\",{dead},1"), &["OK"]);
    dte.cmd_expect("AT+CHTPUPDATE", &["OK"]);
    assert_eq!(dte.wait_for("+CHTPUPDATE:"), "+CHTPUPDATE: 2");
    dte.cmd_expect(&format!("AT+CHTPSERV=\"ADD\",\"127.0.0.1\",{},0", web.port), &["OK"]);
    dte.cmd_expect("AT+CHTPUPDATE", &["OK"]);
    assert_eq!(dte.wait_for("+CHTPUPDATE:"), "+CHTPUPDATE: 0");
    assert_now(&mut dte, 0);
}
