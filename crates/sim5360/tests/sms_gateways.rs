//! Linux SMS gateways against the modem: smstools' `smsd` (Debian) and serialport-gsm
//! (npm). Each sends a short, a long (concatenated) and a UCS2 message, asserted in the
//! network's outbox, and receives what the control API delivers, asserted in its own
//! files or callbacks.
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use testbench::{ModemProcess, SerialportGsm, Smsd, Transport, control_http};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sim5360"))
}

fn modem() -> ModemProcess {
    ModemProcess::start(bin(), Transport::Pty, &["--ready-json", "--control", "127.0.0.1:0"]).unwrap()
}

fn outbox(m: &ModemProcess) -> Vec<Value> {
    let v = control_http(m.control.as_deref().unwrap(), "GET", "/api/v1/modems/0/sms?box=outbox", &[], None).1;
    v.as_array().unwrap().clone()
}

fn deliver(m: &ModemProcess, from: &str, text: &str) {
    let body = serde_json::json!({"from": from, "text": text}).to_string();
    let (st, v) = control_http(m.control.as_deref().unwrap(), "POST", "/api/v1/modems/0/sms", &[], Some(&body));
    assert_eq!(st, 201, "{v}");
}

/// The texts the network got for `to`, parts joined in order.
fn sent_to(out: &[Value], to: &str) -> String {
    let mut parts: Vec<(u64, String)> = out
        .iter()
        .filter(|m| m["to"] == to)
        .map(|m| (m["concat"]["part"].as_u64().unwrap_or(1), m["text"].as_str().unwrap().to_owned()))
        .collect();
    parts.sort();
    parts.into_iter().map(|(_, t)| t).collect()
}

const LONG: &str = "A long message from a gateway, longer than one SMS can carry, so it goes in parts \
                    that the network puts together again: 0123456789 0123456789 0123456789 0123456789 end";

/// An smsd incoming file: its headers and its text (decoded per its `Alphabet:`).
fn smsd_message(file: &[u8]) -> (String, String) {
    let split = file.windows(2).position(|w| w == b"\n\n").unwrap();
    let head = String::from_utf8_lossy(&file[..split]).into_owned();
    let body = &file[split + 2..];
    let text = if head.contains("Alphabet: UCS2") {
        let units: Vec<u16> = body.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
        String::from_utf16_lossy(&units)
    } else {
        // ISO-8859-1, one byte a character.
        body.iter().map(|&b| char::from(b)).collect()
    };
    (head, text)
}

#[test]
fn smsd_sends_and_receives() {
    let m = modem();
    let smsd = Smsd::start(m.tty.as_deref().unwrap()).unwrap();
    smsd.queue("short", b"To: 15551230001\n\nHello from smsd\n").unwrap();
    smsd.queue("long", format!("To: 15551230002\n\n{LONG}\n").as_bytes()).unwrap();
    let mut ucs = b"To: 15551230003\nAlphabet: UCS2\n\n".to_vec();
    ucs.extend("Grüße, Привет".encode_utf16().flat_map(u16::to_be_bytes));
    smsd.queue("ucs", &ucs).unwrap();
    for name in ["short", "long", "ucs"] {
        smsd.wait_sent(name, Duration::from_secs(60)).unwrap();
    }
    let out = outbox(&m);
    assert_eq!(sent_to(&out, "+15551230001"), "Hello from smsd");
    assert_eq!(sent_to(&out, "+15551230002"), LONG);
    assert!(out.iter().filter(|m| m["to"] == "+15551230002").all(|m| m["concat"]["parts"] == 2), "{out:?}");
    assert_eq!(sent_to(&out, "+15551230003"), "Grüße, Привет");
    // Received: read from the SIM, written to incoming, deleted from the SIM.
    deliver(&m, "+15557654321", "to smsd, Grüße");
    deliver(&m, "+15557654322", "Привет 😀");
    let files = smsd.wait_incoming(2, Duration::from_secs(60)).unwrap();
    let msgs: Vec<(String, String)> = files.iter().map(|f| smsd_message(f)).collect();
    let find = |from: &str| {
        msgs.iter().find(|(h, _)| h.contains(&format!("From: {from}"))).unwrap_or_else(|| panic!("{msgs:?}"))
    };
    assert_eq!(find("15557654321").1, "to smsd, Grüße");
    assert_eq!(find("15557654322").1, "Привет 😀");
    // smsd deletes each message from the SIM once its file is written.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let inbox = control_http(m.control.as_deref().unwrap(), "GET", "/api/v1/modems/0/sms?box=inbox", &[], None).1;
        if inbox.as_array().map(Vec::len) == Some(0) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "smsd left {inbox} on the SIM:\n{}", smsd.log_tail());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn serialport_gsm_sends_and_receives() {
    let m = modem();
    let msgs = [("+15551230011", "short from node"), ("+15551230012", LONG), ("+15551230013", "Привет 😀")];
    let mut gw = SerialportGsm::start(m.tty.as_deref().unwrap(), &msgs, Duration::from_secs(60)).unwrap();
    for (to, _) in msgs {
        // node-pdu declares the last part's user-data length one septet short: the module
        // takes the PDU as declared instead of refusing it (+CMS ERROR: 304).
        assert_eq!(gw.wait_line("SENT", Duration::from_secs(30)).unwrap(), format!("success {to}"));
    }
    gw.wait_line("READY", Duration::from_secs(10)).unwrap();
    let out = outbox(&m);
    assert_eq!(sent_to(&out, "+15551230011"), "short from node");
    // node-pdu declares each part one septet short: the network delivers what the PDU
    // declares, so each part's last character is lost (as with a real module and network;
    // the bug is node-pdu's).
    let first = out.iter().find(|m| m["to"] == "+15551230012" && m["concat"]["part"] == 1).unwrap();
    let n1 = first["text"].as_str().unwrap().len();
    assert_eq!(sent_to(&out, "+15551230012"), format!("{}{}", &LONG[..n1], &LONG[n1 + 1..LONG.len() - 1]));
    assert_eq!(sent_to(&out, "+15551230013"), "Привет 😀");
    deliver(&m, "+15557654321", "to node, Grüße");
    let got: Value = serde_json::from_str(&gw.wait_line("RECEIVED", Duration::from_secs(30)).unwrap()).unwrap();
    assert_eq!(
        (got[0]["sender"].as_str(), got[0]["message"].as_str()),
        (Some("15557654321"), Some("to node, Grüße")),
        "{got}"
    );
}
