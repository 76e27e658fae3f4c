//! The message service end to end on the real binary over a PTY, with a DTE that ends its
//! lines with CR LF (Arduino style): 100 messages stored and read back across a restart,
//! a full storage refused, UCS2 text with an emoji sent to the own number and read back,
//! the network outbox, and USSD and a voice call as firmware drives them.
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use std::path::Path;
use std::time::Duration;
use testbench::{Dte, ModemProcess, Transport};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sim5360"))
}

/// Booted, echo off, CR LF line ends, numeric errors.
fn dte_of(m: &ModemProcess) -> Dte {
    let mut dte = m.open_pty().unwrap();
    dte.timeout = Duration::from_secs(20);
    dte.line_end = b"\r\n";
    dte.expect_eventually("PB DONE");
    dte.cmd_expect("ATE0", &["ATE0", "OK"]);
    dte.cmd_expect("AT+CMEE=1", &["OK"]);
    dte
}

/// Type `body` after the `> ` prompt of `line` and end it with Ctrl-Z; the answer.
fn entry(dte: &mut Dte, line: &str, body: &[u8]) -> Vec<String> {
    dte.send_line(line);
    let prompt = dte.bytes(4);
    assert_eq!(prompt, b"\r\n> ", "{line}: prompt");
    let mut b = body.to_vec();
    b.push(0x1A);
    dte.send(&b);
    let mut out = Vec::new();
    loop {
        let l = dte.line();
        let last = l == "OK" || l.contains("ERROR");
        out.push(l);
        if last {
            return out;
        }
    }
}

#[test]
fn a_hundred_messages_survive_a_restart_and_a_full_storage_refuses() {
    let m = ModemProcess::start(bin(), Transport::Pty, &["--no-nmea", "--sim-sms-capacity", "100"]).unwrap();
    let mut dte = dte_of(&m);
    dte.cmd_expect("AT+CMGF=1", &["OK"]);
    for i in 1..=100 {
        let got = entry(&mut dte, &format!("AT+CMGW=\"+1555000{i:04}\""), format!("Message number {i}").as_bytes());
        assert_eq!(got, [format!("+CMGW: {i}"), "OK".into()]);
    }
    let full = entry(&mut dte, "AT+CMGW=\"+15550009999\"", b"one too many");
    assert_eq!(full, ["+CMS ERROR: 322"]);
    drop(dte);
    let dir = m.stop().unwrap();

    let m = ModemProcess::start_in(bin(), Transport::Pty, &["--no-nmea", "--sim-sms-capacity", "100"], dir).unwrap();
    let mut dte = dte_of(&m);
    dte.cmd_expect("AT+CPMS?", &["+CPMS: \"SM\",100,100,\"SM\",100,100,\"SM\",100,100", "OK"]);
    dte.cmd_expect("AT+CMGF=1", &["OK"]);
    let list = dte.cmd("AT+CMGL=\"ALL\"");
    assert_eq!(list.len(), 201, "{list:?}");
    for i in 1..=100usize {
        assert_eq!(list[2 * i - 2], format!("+CMGL: {i},\"STO UNSENT\",\"+1555000{i:04}\",\"\","));
        assert_eq!(list[2 * i - 1], format!("Message number {i}"));
    }
    // PDU mode shows the same messages.
    dte.cmd_expect("AT+CMGF=0", &["OK"]);
    let one = dte.cmd("AT+CMGR=42");
    assert_eq!(one[0], "+CMGR: 2,,29", "{one:?}");
    assert_eq!(one[1], "0011000B915155000040F20000A711CDF27C1E3E9741EE7A5B5C96836832");
    dte.cmd_expect("AT+CMGD=0,4", &["OK"]);
    dte.cmd_expect("AT+CPMS?", &["+CPMS: \"SM\",0,100,\"SM\",0,100,\"SM\",0,100", "OK"]);
}

#[test]
fn ucs2_with_an_emoji_comes_back_from_the_own_number_and_lands_in_the_outbox() {
    let m = ModemProcess::start(bin(), Transport::Pty, &["--no-nmea", "--sms-delay", "200ms"]).unwrap();
    let mut dte = dte_of(&m);
    dte.cmd_expect("AT+CNUM", &["+CNUM: \"\",\"+15555550100\",145", "OK"]);
    dte.cmd_expect("AT+CMGF=1", &["OK"]);
    dte.cmd_expect("AT+CSCS=\"UCS2\"", &["OK"]);
    dte.cmd_expect("AT+CSMP=49,167,0,8", &["OK"]);
    dte.cmd_expect("AT+CNMI=2,1,0,1,0", &["OK"]);
    let text = "Grüße 😀 from the field";
    let hex: String = text.encode_utf16().map(|u| format!("{u:04X}")).collect();
    let own: String = "+15555550100".encode_utf16().map(|u| format!("{u:04X}")).collect();
    let got = entry(&mut dte, &format!("AT+CMGS=\"{own}\""), hex.as_bytes());
    assert_eq!(got, ["+CMGS: 0", "OK"]);
    let cmti = dte.wait_for("+CMTI:");
    assert_eq!(cmti, "+CMTI: \"SM\",1");
    let cds = dte.wait_for("+CDS:");
    assert!(cds.starts_with("+CDS: 6,0,\"+15555550100\",145,"), "{cds}");
    let read = dte.cmd("AT+CMGR=1");
    assert_eq!(read.len(), 3, "{read:?}");
    assert!(read[0].starts_with(&format!("+CMGR: \"REC UNREAD\",\"{own}\",\"\",")), "{read:?}");
    assert_eq!(read[1], hex);
    let units: Vec<u16> =
        (0..read[1].len() / 4).map(|i| u16::from_str_radix(&read[1][4 * i..4 * i + 4], 16).unwrap()).collect();
    assert_eq!(String::from_utf16(&units).unwrap(), text);

    // The network's record of what was sent.
    drop(dte);
    let dir = m.stop().unwrap();
    let outbox = std::fs::read_to_string(dir.path().join("state/sms-outbox.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = outbox.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{outbox}");
    assert_eq!(lines[0]["to"], "+15555550100");
    assert_eq!(lines[0]["text"], text);
    assert_eq!(lines[0]["dcs"], 8);
    assert_eq!(lines[0]["mr"], 0);
    assert_eq!(lines[0]["status_report"], true);
}

#[test]
fn ussd_and_a_voice_call_as_alarm_firmware_uses_them() {
    let m = ModemProcess::start(
        bin(),
        Transport::Pty,
        &["--no-nmea", "--call-answer-delay", "500ms", "--call-busy", "+15550000007"],
    )
    .unwrap();
    let mut dte = dte_of(&m);
    // TinyGSM: HEX, the code plain, OK first, then the answer hex-encoded.
    dte.cmd_expect("AT+CSCS=\"HEX\"", &["OK"]);
    dte.cmd_expect("AT+CUSD=1,\"*100#\"", &["OK"]);
    let cusd = dte.wait_for("+CUSD:");
    assert_eq!(cusd, "+CUSD: 0,\"596F75722062616C616E63652069732031302E3030204555522E\",15");
    // A call that connects, then ATH; a busy number.
    dte.cmd_expect("ATD+15550123;", &["OK"]);
    assert_eq!(dte.wait_for("VOICE CALL:"), "VOICE CALL: BEGIN");
    dte.cmd_expect("AT+CLCC", &["+CLCC: 1,0,0,0,0,\"+15550123\",145", "OK"]);
    dte.cmd_expect("ATH", &["OK"]);
    assert_eq!(dte.wait_for("VOICE CALL:"), "VOICE CALL: END: 000000");
    dte.cmd_expect("ATD+15550000007;", &["OK"]);
    assert_eq!(dte.wait_for("BUSY"), "BUSY");
    dte.cmd_expect("AT+CLCC", &["OK"]);
}
