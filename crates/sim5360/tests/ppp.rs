//! PPP data calls end to end on the real binary with a real PPP client: lwIP 2.1.3's PPPoS
//! (the PPP code ESP-IDF's esp_modem runs) in the test bench's harness, dialling over a
//! PTY with CR LF lines as firmware does, negotiating LCP, PAP/CHAP and IPCP, then moving
//! TCP, HTTP and DNS through the module's NAT to real servers on 127.0.0.1 (socat, nginx)
//! at the host alias 10.64.64.64; kernel programs (curl) through a TUN device in a
//! network namespace of their own; and every way a call ends.
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use testbench::{Dte, EchoServer, HttpServer, LwipClient, LwipRun, ModemProcess, TestCa, Transport, run_lwip};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sim5360"))
}

const RUN: Duration = Duration::from_secs(90);
const STEP: Duration = Duration::from_secs(30);

/// A modem on a UART PTY with the control API.
fn modem(extra: &[&str]) -> ModemProcess {
    let mut args = vec!["--no-nmea", "--control", "127.0.0.1:0", "--ready-json"];
    args.extend_from_slice(extra);
    ModemProcess::start(bin(), Transport::Pty, &args).unwrap()
}

fn tty(m: &ModemProcess) -> PathBuf {
    m.link.clone().unwrap()
}

/// A CR LF DTE on the modem's PTY (booted, or after a call), echo off.
fn at(m: &ModemProcess) -> Dte {
    echo_off(m.open_pty().unwrap())
}

fn echo_off(mut d: Dte) -> Dte {
    d.line_end = b"\r\n";
    d.timeout = STEP;
    d.send_line("ATE0");
    d.expect_eventually("OK");
    d
}

fn api(url: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let body = body.map(|b| b.to_string());
    testbench::control_http(url, method, &format!("/api/v1/modems/0/{path}"), &[], body.as_deref())
}

/// Every listed line of `run` is there, in this order among its lines.
fn assert_lines(run: &LwipRun, want: &[&str]) {
    let mut at = 0;
    for w in want {
        match run.lines[at..].iter().position(|l| l == w) {
            Some(i) => at += i + 1,
            None => panic!("no line {w:?} (in order) in the lwIP client's run:\n{}", run.show()),
        }
    }
}

const UP: &str = "up 10.64.0.2 dns 10.64.64.53 10.64.64.54";

#[test]
fn every_dial_form_connects_and_each_call_follows_the_last() {
    let echo = EchoServer::tcp().unwrap();
    let m = modem(&[]);
    // DTR dropped hangs up (pppd's way) with `AT&D2`.
    let mut d = at(&m);
    d.cmd_expect("AT&D2", &["OK"]);
    drop(d);
    let target = format!("10.64.64.64:{}:20000", echo.port);
    for (dial, end, ended) in [
        ("ATD*99#", "terminate", "end NO CARRIER"),
        ("ATD*99##", "escape-ath", "end ATH OK"),
        ("ATD*99***1#", "dtr", "end NO CARRIER"),
        ("AT+CGDATA=\"PPP\",1", "terminate", "end NO CARRIER"),
        ("ATDT*99#", "terminate", "end NO CARRIER"),
    ] {
        let run = run_lwip(&tty(&m), &["--dial", dial, "--end", end, "--echo", &target], RUN).unwrap();
        assert!(run.status.success(), "{dial} / {end}:\n{}", run.show());
        assert_lines(&run, &["dial CONNECT 115200", UP, "echo ok 20000", ended]);
    }
    // The port is back in command state, the context inactive again.
    let mut d = at(&m);
    d.cmd_expect("AT+CGACT?", &["+CGACT: 1,0", "OK"]);
    let (_, state) = api(m.control.as_deref().unwrap(), "GET", "", None);
    assert_eq!(state["ppp"]["call"], Value::Null, "{state}");
}

#[test]
fn a_ten_mib_download_through_the_call_arrives_intact() {
    let ca = TestCa::new().unwrap();
    let http = HttpServer::start(&ca).unwrap();
    let m = modem(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("10M.bin");
    let get = format!("10.64.64.64:{}:/10M.bin:{}", http.port, file.display());
    let run = run_lwip(&tty(&m), &["--get", &get], RUN).unwrap();
    assert!(run.status.success(), "{}\nnginx: {}", run.show(), http.log_tail());
    let got = run.line("get ok").unwrap_or_else(|| panic!("{}", run.show()));
    let want = testbench::http::pattern(10 << 20, 3);
    let body = std::fs::read(&file).unwrap();
    assert_eq!(body.len(), want.len(), "{got}");
    assert_eq!(Sha256::digest(&body), Sha256::digest(&want), "{got}");
    assert!(got.starts_with("get ok 200 10485760 "), "{got}");
    let ms: f64 = got.rsplit(' ').next().unwrap().parse().unwrap();
    eprintln!("10 MiB through PPP (lwIP TCP) in {ms} ms: {:.1} MB/s", 10.0 * 1.048_576 / (ms / 1000.0));
    assert_lines(&run, &["end NO CARRIER"]);
}

#[test]
fn names_resolve_at_the_dns_servers_ipcp_gave() {
    let m = modem(&[]);
    let run = run_lwip(&tty(&m), &["--dns", "localhost"], RUN).unwrap();
    assert!(run.status.success(), "{}", run.show());
    assert_lines(&run, &[UP, "dns localhost 127.0.0.1", "end NO CARRIER"]);
}

#[test]
fn escape_keeps_the_call_and_ato_resumes_it() {
    let echo = EchoServer::tcp().unwrap();
    let m = modem(&[]);
    let target = format!("10.64.64.64:{}:50000", echo.port);
    let run = run_lwip(&tty(&m), &["--echo", &target, "--escape-ato", "--echo", &target], RUN).unwrap();
    assert!(run.status.success(), "{}", run.show());
    assert_lines(&run, &[UP, "echo ok 50000", "escape OK", "ato CONNECT 115200", "echo ok 50000", "end NO CARRIER"]);
}

/// `--ppp-auth <auth>` with `AT+CGAUTH=1,<type>,"user","secret"`: the right password brings
/// the call up, a wrong one ends it (`NO CARRIER`); the trace never shows the secrets.
fn auth_case(auth: &str, cgauth_type: u8) {
    let trace = tempfile::NamedTempFile::new().unwrap();
    let trace_path = trace.path().display().to_string();
    let m = modem(&["--ppp-auth", auth, "--trace", &trace_path]);
    let mut d = at(&m);
    d.cmd_expect(&format!("AT+CGAUTH=1,{cgauth_type},\"user\",\"secret\""), &["OK"]);
    drop(d);
    let good = run_lwip(&tty(&m), &["--auth", auth, "--user", "user", "--pass", "secret"], RUN).unwrap();
    assert!(good.status.success(), "{auth}: {}", good.show());
    assert_lines(&good, &[UP, "end NO CARRIER"]);
    let bad = run_lwip(&tty(&m), &["--auth", auth, "--user", "user", "--pass", "wrong"], RUN).unwrap();
    assert_eq!(bad.line("up"), None, "{auth}: {}", bad.show());
    assert_lines(&bad, &["dial CONNECT 115200", "end NO CARRIER"]);
    // A DTE that offers no authentication when the network asks for it gets nowhere.
    let none = run_lwip(&tty(&m), &[], RUN).unwrap();
    assert_eq!(none.line("up"), None, "{auth}: {}", none.show());
    let text = std::fs::read_to_string(trace.path()).unwrap();
    let word = if auth == "pap" { "PAP AuthReq" } else { "CHAP Response" };
    assert!(text.contains(word), "{auth}: no {word} in the trace:\n{text}");
    // One decoded line per frame in pppd's notation, not raw bytes.
    assert!(text.contains("<MOD PPP LCP ConfReq id=") && text.contains("<asyncmap 0x0>"), "{auth}:\n{text}");
    assert!(text.contains("DTE> PPP IPCP ConfReq id="), "{auth}:\n{text}");
    assert!(!text.contains("secret") && !text.contains("wrong"), "{auth}: a secret in the trace:\n{text}");
}

#[test]
fn the_network_checks_pap_credentials() {
    auth_case("pap", 1);
}

#[test]
fn the_network_checks_chap_credentials() {
    auth_case("chap", 2);
}

#[test]
fn the_other_usb_port_sees_the_call_and_ends_it() {
    let m = ModemProcess::start(bin(), Transport::Pty, &["--usb", "--control", "127.0.0.1:0", "--ready-json"]).unwrap();
    let url = m.control.clone().unwrap();
    let mut ctl = echo_off(m.open_port("at").unwrap());
    let mut call = LwipClient::spawn(&m.port("modem").unwrap(), &["--sleep", "60000", "--end", "none"]).unwrap();
    assert_eq!(call.wait_line("up", STEP).unwrap(), UP);
    ctl.cmd_expect("AT+CGACT?", &["+CGACT: 1,1", "OK"]);
    ctl.cmd_expect("AT+CGPADDR=1", &["+CGPADDR: 1,10.64.0.2", "OK"]);
    let (_, state) = api(&url, "GET", "", None);
    let c = &state["ppp"]["call"];
    assert_eq!((&c["phase"], &c["addr"], &c["cid"]), (&"network".into(), &"10.64.0.2".into(), &1.into()), "{state}");
    assert!(c["bytes_in"].as_u64().unwrap() > 0 && c["bytes_out"].as_u64().unwrap() > 0, "{state}");
    // The socket service cannot have the context the call holds.
    ctl.cmd_expect("AT+NETOPEN", &["OK"]);
    ctl.expect("+NETOPEN: 1");
    // Deactivating the context ends the call: the DTE's PPP goes down, its port says
    // NO CARRIER; the network's +PPPD: DISCONNECTED follows on the AT port.
    ctl.cmd_expect("AT+CGACT=0,1", &["OK"]);
    call.wait_line("down", STEP).unwrap();
    let run = call.finish(STEP).unwrap();
    assert_lines(&run, &["end NO CARRIER"]);
    ctl.expect_eventually("+PPPD: DISCONNECTED");
    ctl.cmd_expect("AT+CGACT?", &["+CGACT: 1,0", "OK"]);
    // And the socket service gets it now.
    ctl.cmd_expect("AT+NETOPEN", &["OK"]);
    ctl.expect("+NETOPEN: 0");
}

#[test]
fn the_socket_service_holds_its_context_unless_told_to_share() {
    let echo = EchoServer::tcp().unwrap();
    let target = format!("10.64.64.64:{}:1000", echo.port);
    for (extra, dial) in [(&[][..], "dial NO CARRIER"), (&["--ppp-share-context"][..], "dial CONNECT 115200")] {
        let m = modem(extra);
        let mut d = at(&m);
        d.cmd_expect("AT+NETOPEN", &["OK"]);
        d.expect("+NETOPEN: 0");
        drop(d);
        let run = run_lwip(&tty(&m), &["--echo", &target], RUN).unwrap();
        assert_eq!(run.line("dial"), Some(dial), "{extra:?}: {}", run.show());
        if run.line("up").is_some() {
            assert_lines(&run, &["echo ok 1000", "end NO CARRIER"]);
        }
        // The socket service is still open after the call.
        let mut d = at(&m);
        d.cmd_expect("AT+NETOPEN?", &["+NETOPEN: 1", "OK"]);
        d.cmd_expect("AT+CGACT?", &["+CGACT: 1,1", "OK"]);
    }
}

/// `ip` or `curl` in the harness's network namespace.
fn in_netns(pid: u32, program: &str, args: &[&str]) -> std::process::Output {
    let out = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-n", program])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("nsenter {program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn kernel_programs_use_the_call_through_a_tun_device() {
    let ca = TestCa::new().unwrap();
    let http = HttpServer::start(&ca).unwrap();
    let m = modem(&[]);
    let mut call = LwipClient::spawn_netns(&tty(&m), &["--tun", "ppp0"]).unwrap();
    assert_eq!(call.wait_line("up", STEP).unwrap(), UP);
    call.wait_line("tun ready", STEP).unwrap();
    let pid = call.pid();
    in_netns(pid, "ip", &["addr", "add", "10.64.0.2", "peer", "10.64.64.64", "dev", "ppp0"]);
    in_netns(pid, "ip", &["link", "set", "ppp0", "up"]);
    in_netns(pid, "ip", &["route", "add", "default", "dev", "ppp0"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("1M.bin");
    let url = format!("http://10.64.64.64:{}/1M.bin", http.port);
    let file_arg = file.display().to_string();
    in_netns(pid, "curl", &["-sS", "--max-time", "60", "-o", &file_arg, &url]);
    assert_eq!(std::fs::read(&file).unwrap(), testbench::http::pattern(1 << 20, 2));
    call.terminate();
    let run = call.finish(STEP).unwrap();
    assert_lines(&run, &["tun ready", "end NO CARRIER"]);
}

#[test]
fn a_dte_that_never_speaks_ppp_is_hung_up_on() {
    // LCP's ten Configure-Requests, 3 s apart, go unanswered: the call ends after ~31 s.
    let m = modem(&[]);
    let run = run_lwip(&tty(&m), &["--silent"], RUN).unwrap();
    assert!(run.status.success(), "{}", run.show());
    assert_lines(&run, &["dial CONNECT 115200", "end NO CARRIER"]);
    let mut d = at(&m);
    d.cmd_expect("AT", &["OK"]);
}

#[test]
fn the_links_latency_reaches_the_calls_flows() {
    // A fault on service `ppp` applies to every flow of the call: 400 ms of latency on an
    // HTTP GET (connect and answer) shows in the DTE's own measure.
    let ca = TestCa::new().unwrap();
    let http = HttpServer::start(&ca).unwrap();
    let m = modem(&[]);
    let url = m.control.clone().unwrap();
    let (st, v) = api(
        &url,
        "POST",
        "faults",
        Some(serde_json::json!({"service": "ppp", "type": "latency", "attributes": {"latency": 400}})),
    );
    assert_eq!(st, 201, "{v}");
    let dir = tempfile::tempdir().unwrap();
    let get = format!("10.64.64.64:{}:/1k.bin:{}", http.port, dir.path().join("1k.bin").display());
    let run = run_lwip(&tty(&m), &["--get", &get], RUN).unwrap();
    let got = run.line("get ok 200 1024 ").unwrap_or_else(|| panic!("{}", run.show()));
    let ms: u64 = got.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(ms >= 400, "{got}");
}
