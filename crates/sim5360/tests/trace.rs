//! The AT trace around prompts: every byte each way, in the order and at the time it
//! crossed the line, data-mode input included, secrets masked. For each prompt family
//! (the SMS `> `, a `>` upload, the `>>` mail body, `+CHTTPACT: REQUEST`, transparent
//! mode) a CR LF DTE thinks 400 ms at the prompt before it sends; the trace, from the
//! control API's ring and from the `--trace` file, must show the command, the prompt
//! stamped when it was sent, the DTE's data as an `rx` line stamped when it came (so
//! 400 ms after the prompt), then the answer.
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use testbench::{Dte, EchoServer, HttpServer, ModemProcess, TestCa, Transport, control_http};

const THINK: Duration = Duration::from_millis(400);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sim5360"))
}

struct Rig {
    m: ModemProcess,
    dte: Dte,
    file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trace.log");
    let m = ModemProcess::start(
        bin(),
        Transport::Pty,
        &["--ready-json", "--control", "127.0.0.1:0", "--trace", file.to_str().unwrap(), "--boot-delay", "0"],
    )
    .unwrap();
    let mut dte = m.open_pty().unwrap();
    dte.line_end = b"\r\n";
    dte.expect_eventually("PB DONE");
    dte.cmd_expect("ATE0", &["ATE0", "OK"]);
    Rig { m, dte, file, _dir: dir }
}

/// One trace line: direction, text, time.
#[derive(Debug, Clone)]
struct Line {
    dir: String,
    text: String,
    t: f64,
}

/// The control API's ring.
fn ring(m: &ModemProcess) -> Vec<Line> {
    let v = control_http(m.control.as_deref().unwrap(), "GET", "/api/v1/modems/0/trace?limit=1000", &[], None).1;
    v.as_array()
        .unwrap()
        .iter()
        .map(|l: &Value| Line {
            dir: l["dir"].as_str().unwrap().to_owned(),
            text: l["text"].as_str().unwrap().to_owned(),
            t: l["t"].as_f64().unwrap(),
        })
        .collect()
}

/// The `--trace` file: `[    0.016026] #1 DTE> text` / `<MOD` / `NOTE`.
fn file(path: &Path) -> Vec<Line> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let (t, rest) = l.trim_start_matches('[').split_once("] ").unwrap();
            let rest = rest.split_once(' ').unwrap().1;
            let (tag, text) = rest.split_once(' ').unwrap_or((rest, ""));
            let dir = match tag {
                "DTE>" => "rx",
                "<MOD" => "tx",
                _ => "note",
            };
            Line { dir: dir.to_owned(), text: text.to_owned(), t: t.trim().parse().unwrap() }
        })
        .collect()
}

/// The first line after index `from` in direction `dir` whose text contains `needle`.
fn find(lines: &[Line], from: usize, dir: &str, needle: &str) -> usize {
    (from..lines.len())
        .find(|&i| lines[i].dir == dir && lines[i].text.contains(needle))
        .unwrap_or_else(|| panic!("no {dir} line with {needle:?} after line {from}:\n{}", show(lines)))
}

fn show(lines: &[Line]) -> String {
    lines.iter().map(|l| format!("{:10.6} {} {}", l.t, l.dir, l.text)).collect::<Vec<_>>().join("\n")
}

/// In both traces: `command` (rx), then `prompt` (tx), then `data` (rx) at least the DTE's
/// think time after the prompt (a prompt stamped when the data was complete fails this),
/// then `answer` (tx), in that order. Only lower bounds: a busy machine can make the
/// module later, never earlier.
fn check(r: &Rig, command: &str, prompt: &str, data: &str, answer: &str) {
    for lines in [ring(&r.m), file(&r.file)] {
        let c = find(&lines, 0, "rx", command);
        let p = find(&lines, c, "tx", prompt);
        let d = find(&lines, p, "rx", data);
        let a = find(&lines, d, "tx", answer);
        let (tc, tp, td, ta) = (lines[c].t, lines[p].t, lines[d].t, lines[a].t);
        let all = show(&lines);
        assert!(tp >= tc, "{all}");
        assert!(td - tp >= THINK.as_secs_f64() - 0.05, "the data is stamped when it came ({tp} -> {td}):\n{all}");
        assert!(ta >= td, "{all}");
    }
}

#[test]
fn sms_prompt_and_body() {
    let mut r = rig();
    r.dte.cmd_expect("AT+CMGF=1", &["OK"]);
    r.dte.send_line("AT+CMGS=\"+15551234567\"");
    assert_eq!(r.dte.bytes(4), b"\r\n> ");
    std::thread::sleep(THINK);
    r.dte.send(b"hello from the trace\x1a");
    r.dte.wait_for("+CMGS:");
    r.dte.expect("OK");
    check(&r, "AT+CMGS=\"+15551234567\"<CR>", "<CR><LF>> ", "hello from the trace<x1A>", "+CMGS:");
}

#[test]
fn upload_prompt_and_bytes() {
    let mut r = rig();
    r.dte.send_line("AT+CFTRANRX=\"C:/trace.bin\",12");
    r.dte.wait_for(">");
    std::thread::sleep(THINK);
    r.dte.send(b"twelve bytes");
    r.dte.expect("OK");
    check(&r, "AT+CFTRANRX=", ">", "twelve bytes", "OK");
}

#[test]
fn mail_body_prompt_and_text() {
    let mut r = rig();
    r.dte.send_line("AT+SMTPBODY");
    r.dte.wait_for(">>");
    std::thread::sleep(THINK);
    r.dte.send(b"Dear reader,\x1a");
    r.dte.expect("OK");
    check(&r, "AT+SMTPBODY<CR>", ">>", "Dear reader,<x1A>", "OK");
}

#[test]
fn chttpact_request() {
    let ca = TestCa::new().unwrap();
    let web = HttpServer::start(&ca).unwrap();
    let mut r = rig();
    r.dte.send_line(&format!("AT+CHTTPACT=\"127.0.0.1\",{}", web.port));
    r.dte.expect("+CHTTPACT: REQUEST");
    std::thread::sleep(THINK);
    r.dte.send(b"GET /hello.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n\x1a");
    r.dte.expect("OK");
    r.dte.wait_for("+CHTTPACT: 0");
    check(&r, "AT+CHTTPACT=", "+CHTTPACT: REQUEST", "GET /hello.txt", "+CHTTPACT: DATA");
}

#[test]
fn transparent_mode_both_ways() {
    let echo = EchoServer::tcp().unwrap();
    let mut r = rig();
    r.dte.cmd_expect("AT+CIPMODE=1", &["OK"]);
    r.dte.cmd_expect("AT+NETOPEN", &["OK"]);
    r.dte.expect("+NETOPEN: 0");
    r.dte.send_line(&format!("AT+CIPOPEN=0,\"TCP\",\"127.0.0.1\",{}", echo.port));
    r.dte.wait_for("CONNECT");
    std::thread::sleep(THINK);
    r.dte.send(b"ping without a line end");
    assert_eq!(r.dte.bytes(23), b"ping without a line end");
    check(&r, "AT+CIPOPEN=0", "CONNECT", "ping without a line end", "ping without a line end");
}

#[test]
fn a_secret_typed_in_pieces_is_masked() {
    let mut r = rig();
    r.dte.send(b"AT+CSOCKAUTH=1,1,\"hun");
    std::thread::sleep(Duration::from_millis(200));
    r.dte.send(b"ter22\",\"bob\"\r\n");
    r.dte.expect("OK");
    for lines in [ring(&r.m), file(&r.file)] {
        let all = show(&lines);
        assert!(!all.contains("hunter22") && !all.contains("\"hun"), "a secret in the trace:\n{all}");
        find(&lines, 0, "rx", "AT+CSOCKAUTH=1,1,\"***\",\"bob\"<CR>");
    }
}
