//! The control API's contract on the real binary (`--control 127.0.0.1:0 --ready-json`):
//! every endpoint's status codes and error bodies, the Host/Origin/Content-Type/token
//! guards, that each action reaches the DTE on the PTY (a CR LF DTE) as the module's own
//! URCs, the trace notes, and `sim5360 ctl` against the running modem.
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;
use testbench::{Dte, ModemProcess, Transport, control_http as http};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sim5360"))
}

fn start(extra: &[&str]) -> (ModemProcess, Dte, String) {
    let mut args = vec!["--no-nmea", "--control", "127.0.0.1:0", "--ready-json"];
    args.extend_from_slice(extra);
    let m = ModemProcess::start(bin(), Transport::Pty, &args).unwrap();
    let url = m.control.clone().expect("the ready line names the control URL");
    let mut dte = m.open_pty().unwrap();
    dte.timeout = Duration::from_secs(20);
    dte.line_end = b"\r\n";
    dte.expect_eventually("PB DONE");
    dte.cmd_expect("ATE0", &["ATE0", "OK"]);
    (m, dte, url)
}

fn call(url: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let b = body.map(|b| b.to_string());
    http(url, method, path, &[], b.as_deref())
}

const M: &str = "/api/v1/modems/0";

#[test]
fn every_endpoint_and_its_effect_on_the_dte() {
    let (_m, mut dte, url) = start(&[]);
    let (st, v) = call(&url, "GET", "/api/v1", None);
    assert_eq!((st, v["modems"].clone()), (200, json!([0])), "{v}");
    // The runtime's figures: the modem's session task at least, on some workers.
    assert!(v["runtime"]["tasks"].as_u64().is_some_and(|n| n >= 1), "{v}");
    assert!(v["runtime"]["workers"].as_u64().is_some_and(|n| n >= 1), "{v}");
    let (st, v) = call(&url, "GET", "/api/v1/modems", None);
    assert_eq!(st, 200);
    assert_eq!(v[0]["msisdn"], "+15555550100", "{v}");
    let (st, v) = call(&url, "GET", M, None);
    assert_eq!((st, v["registration"]["cs"].as_str()), (200, Some("home")), "{v}");
    assert_eq!(v["sms"]["SM"], json!({"used": 0, "total": 50}), "{v}");

    // SMS in: 201 with the index, +CMTI at the DTE, listed in the inbox.
    let (st, v) = call(&url, "POST", &format!("{M}/sms"), Some(json!({"from": "+15557654321", "text": "hello"})));
    assert_eq!((st, v.clone()), (201, json!({"mem": "SM", "index": 1})), "{v}");
    assert_eq!(dte.wait_for("+CMTI:"), "+CMTI: \"SM\",1");
    let (st, v) = call(&url, "GET", &format!("{M}/sms?box=inbox"), None);
    assert_eq!((st, v[0]["text"].as_str()), (200, Some("hello")), "{v}");
    // What the DTE sends is in the outbox at once.
    dte.cmd_expect("AT+CMGF=1", &["OK"]);
    dte.send_line("AT+CMGS=\"+15550001111\"");
    assert_eq!(dte.bytes(4), b"\r\n> ");
    dte.send(b"report\x1a");
    assert_eq!(dte.wait_for("+CMGS:"), "+CMGS: 0");
    dte.expect("OK");
    let (st, v) = call(&url, "GET", &format!("{M}/sms?box=outbox"), None);
    assert_eq!((st, v[0]["to"].as_str(), v[0]["text"].as_str()), (200, Some("+15550001111"), Some("report")), "{v}");
    let (st, v) = call(&url, "GET", &format!("{M}/sms?box=junk"), None);
    assert_eq!((st, v["status"].as_u64()), (400, Some(400)), "{v}");

    // A raw URC; radio; coverage with the registration URCs the DTE enabled.
    let (st, _) = call(&url, "POST", &format!("{M}/urc"), Some(json!({"line": "UNDER-VOLTAGE WARNNING"})));
    assert_eq!(st, 204);
    dte.expect("UNDER-VOLTAGE WARNNING");
    dte.cmd_expect("AT+CREG=1", &["OK"]);
    let (st, _) = call(&url, "PATCH", &format!("{M}/radio"), Some(json!({"rssi": 7})));
    assert_eq!(st, 204);
    dte.cmd_expect("AT+CSQ", &["+CSQ: 7,99", "OK"]);
    let (st, v) = call(&url, "PATCH", &format!("{M}/radio"), Some(json!({"rssi": 77})));
    assert_eq!(st, 400, "{v}");
    let (st, _) =
        call(&url, "POST", &format!("{M}/coverage"), Some(json!({"lost": true, "for_ms": 1500, "reregister_ms": 200})));
    assert_eq!(st, 204);
    dte.expect("+CREG: 2");
    dte.expect("+CREG: 0");
    dte.cmd_expect("AT+CSQ", &["+CSQ: 99,99", "OK"]);
    dte.expect("+CREG: 1");
    dte.cmd_expect("AT", &["OK"]);

    // SIM out and back; GNSS; a call; overrides; errors of each.
    let (st, _) = call(&url, "PATCH", &format!("{M}/sim"), Some(json!({"present": false})));
    assert_eq!(st, 204);
    dte.expect("+SIMCARD: NOT AVAILABLE");
    let (st, v) = call(&url, "POST", &format!("{M}/sms"), Some(json!({"from": "+1555", "text": "x"})));
    assert_eq!(st, 422, "{v}");
    let (st, _) = call(&url, "PATCH", &format!("{M}/sim"), Some(json!({"present": true})));
    assert_eq!(st, 204);
    dte.expect_eventually("+CPIN: READY");
    dte.expect_eventually("+CREG: 1");
    let (st, _) = call(&url, "PUT", &format!("{M}/gnss"), Some(json!({"fix": true, "lat": 48.8584, "lon": 2.2945})));
    assert_eq!(st, 204);
    let (st, _) = call(&url, "PUT", &format!("{M}/gnss"), Some(json!({"fix": true})));
    assert_eq!(st, 400);
    let (st, _) = call(&url, "POST", &format!("{M}/call"), Some(json!({"from": "+15550009"})));
    assert_eq!(st, 204);
    dte.expect("RING");
    let (st, _) = call(&url, "DELETE", &format!("{M}/call"), None);
    assert_eq!(st, 204);
    let (st, v) = call(&url, "DELETE", &format!("{M}/call"), None);
    assert_eq!((st, v["error"].as_str()), (422, Some("no call")), "{v}");
    dte.expect_eventually("NO CARRIER");

    let (st, v) =
        call(&url, "POST", &format!("{M}/overrides"), Some(json!({"command": "+CSQ", "lines": ["+CSQ: 31,0"]})));
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_u64().unwrap();
    let (st, v) = call(&url, "GET", &format!("{M}/overrides"), None);
    assert_eq!((st, v[0]["id"].as_u64()), (200, Some(id)), "{v}");
    dte.cmd_expect("AT+CSQ", &["+CSQ: 31,0", "OK"]);
    let (st, _) = call(&url, "DELETE", &format!("{M}/overrides/{id}"), None);
    assert_eq!(st, 404, "a used once override is gone");
    let (st, v) = call(&url, "POST", &format!("{M}/overrides"), Some(json!({"command": "+CSQ", "bogus": 1})));
    assert_eq!((st, v["status"].as_u64()), (400, Some(400)), "{v}");
    let (st, _) = call(&url, "DELETE", &format!("{M}/overrides"), None);
    assert_eq!(st, 204);

    // Faults and network conditions: their resources' statuses (their effects:
    // tests/faults.rs).
    let f = json!({"service": "ftp", "type": "latency", "attributes": {"latency": 10}});
    let (st, v) = call(&url, "POST", &format!("{M}/faults"), Some(f.clone()));
    assert_eq!((st, v["name"].as_str()), (201, Some("ftp_latency")), "{v}");
    let (st, v) = call(&url, "POST", &format!("{M}/faults"), Some(f));
    assert_eq!((st, v["status"].as_u64()), (409, Some(409)), "{v}");
    let (st, v) = call(&url, "PATCH", &format!("{M}/faults/ftp_latency"), Some(json!({"attributes": {"jitter": 5}})));
    assert_eq!((st, v["attributes"].clone()), (200, json!({"latency": 10.0, "jitter": 5.0})), "{v}");
    let (st, _) = call(&url, "PATCH", &format!("{M}/faults/nope"), Some(json!({})));
    assert_eq!(st, 404);
    let (st, v) = call(&url, "PATCH", &format!("{M}/faults/ftp_latency"), Some(json!({"attributes": {"rate": 5}})));
    assert_eq!(st, 400, "{v}");
    let (st, v) = call(&url, "GET", &format!("{M}/faults"), None);
    assert_eq!((st, v.as_array().map(Vec::len)), (200, Some(1)), "{v}");
    let (st, v) =
        call(&url, "POST", &format!("{M}/faults"), Some(json!({"service": "ftp", "type": "refuse", "toxicity": 0.3})));
    assert_eq!(st, 400, "a toxicity below 1 needs a seed: {v}");
    assert_eq!(call(&url, "DELETE", &format!("{M}/faults/ftp_latency"), None).0, 204);
    assert_eq!(call(&url, "DELETE", &format!("{M}/faults/ftp_latency"), None).0, 404);
    let (st, v) = call(&url, "PUT", &format!("{M}/network"), Some(json!({"preset": "edge"})));
    assert_eq!((st, v["rtt_ms"].as_f64()), (200, Some(300.0)), "{v}");
    let (st, v) = call(&url, "GET", &format!("{M}/network"), None);
    assert_eq!((st, v["preset"].as_str()), (200, Some("edge")), "{v}");
    let (st, v) = call(&url, "PUT", &format!("{M}/network"), Some(json!({"rtt": 1})));
    assert_eq!(st, 400, "an unknown figure: {v}");
    assert_eq!(call(&url, "PUT", &format!("{M}/network"), Some(json!({"preset": "full"}))).0, 200);
    let (st, v) = call(&url, "GET", "/api/v1/presets", None);
    assert_eq!((st, v["presets"].as_array().map(Vec::len)), (200, Some(10)), "{v}");
    assert_eq!(v["presets"][0]["name"], "gprs");

    // The trace: both directions, masked, with the control notes; after a sequence number.
    dte.cmd_expect("AT+CPIN=\"9999\"", &["ERROR"]);
    let (st, v) = call(&url, "GET", &format!("{M}/trace?limit=400"), None);
    assert_eq!(st, 200);
    let lines = v.as_array().unwrap();
    assert!(
        lines.iter().any(|l| l["dir"] == "rx" && l["text"].as_str().unwrap().contains("AT+CPIN=\"***\"<CR>")),
        "{v}"
    );
    assert!(lines.iter().any(|l| l["dir"] == "note" && l["text"].as_str().unwrap().starts_with("control: ")), "{v}");
    assert!(lines.iter().all(|l| !l["text"].as_str().unwrap().contains("9999")), "the PIN is masked: {v}");
    let last = lines.last().unwrap()["seq"].as_u64().unwrap();
    let (_, v) = call(&url, "GET", &format!("{M}/trace?since={last}"), None);
    assert_eq!(v, json!([]));
    assert_eq!(call(&url, "GET", &format!("{M}/trace?since=x"), None).0, 400);

    // Unknown things.
    assert_eq!(call(&url, "GET", "/api/v1/modems/1", None).0, 404);
    assert_eq!(call(&url, "GET", &format!("{M}/nowhere"), None).0, 404);
    assert_eq!(call(&url, "GET", "/elsewhere", None).0, 404);
    assert_eq!(call(&url, "DELETE", &format!("{M}/radio"), None).0, 405);
    assert_eq!(call(&url, "PUT", "/api/v1/reset", None).0, 405);

    // Reboot: the boot URCs again; reset: everything injected gone.
    let (st, _) = call(&url, "POST", &format!("{M}/reboot"), None);
    assert_eq!(st, 204);
    dte.expect_eventually("PB DONE");
    dte.cmd_expect("ATE0", &["ATE0", "OK"]);
    call(&url, "PATCH", &format!("{M}/radio"), Some(json!({"rssi": 3})));
    call(&url, "POST", &format!("{M}/overrides"), Some(json!({"command": "+CGMI", "lines": ["X"], "times": null})));
    call(&url, "PUT", &format!("{M}/gnss"), Some(json!({"fix": false})));
    dte.cmd_expect("AT+CSQ", &["+CSQ: 3,99", "OK"]);
    let (st, _) = call(&url, "POST", "/api/v1/reset", None);
    assert_eq!(st, 204);
    dte.cmd_expect("AT+CSQ", &["+CSQ: 21,99", "OK"]);
    dte.cmd_expect("AT+CGMI", &["SIMCOM INCORPORATED", "OK"]);
    let (_, v) = call(&url, "GET", M, None);
    assert_eq!((v["gnss"]["sky_hidden"].as_bool(), v["overrides"].clone()), (Some(false), json!([])), "{v}");
}

#[test]
fn guards_refuse_other_hosts_origins_bodies_and_missing_tokens() {
    let (_m, _dte, url) = start(&["--control-token", "s3cret"]);
    let auth = ("Authorization", "Bearer s3cret");
    let (st, v) = http(&url, "GET", "/api/v1", &[], None);
    assert_eq!((st, v["status"].as_u64()), (401, Some(401)), "{v}");
    assert_eq!(http(&url, "GET", "/api/v1", &[("Authorization", "Bearer wrong")], None).0, 401);
    assert_eq!(http(&url, "GET", "/api/v1", &[auth], None).0, 200);
    // DNS rebinding: a name that resolves here is still not this server.
    let (st, v) = http(&url, "GET", "/api/v1", &[auth, ("Host", "attacker.example:80")], None);
    assert_eq!(st, 403, "{v}");
    let port = url.rsplit(':').next().unwrap();
    assert_eq!(http(&url, "GET", "/api/v1", &[auth, ("Host", &format!("localhost:{port}"))], None).0, 200);
    // CSRF: another origin is refused, the same one accepted.
    let body = Some(r#"{"line": "X"}"#);
    let (st, _) = http(&url, "POST", &format!("{M}/urc"), &[auth, ("Origin", "http://attacker.example")], body);
    assert_eq!(st, 403);
    let same = format!("http://{}", url.strip_prefix("http://").unwrap());
    assert_eq!(http(&url, "POST", &format!("{M}/urc"), &[auth, ("Origin", &same)], body).0, 204);
    // Only JSON bodies, and not huge ones; a body that is not valid JSON is a 400.
    assert_eq!(http(&url, "POST", &format!("{M}/urc"), &[auth, ("Content-Type", "text/plain")], body).0, 415);
    let (st, v) = http(&url, "POST", &format!("{M}/urc"), &[auth], Some("{not json"));
    assert_eq!(st, 400, "{v}");
    assert!(v["error"].as_str().unwrap().starts_with("the request body:"), "{v}");
    let big = format!(r#"{{"line": "{}"}}"#, "x".repeat(70_000));
    assert_eq!(http(&url, "POST", &format!("{M}/urc"), &[auth], Some(&big)).0, 413);
}

/// `sim5360 ctl --link LINK ARGS`: whether it succeeded, its stdout and its stderr.
fn ctl(link: &Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(bin()).arg("ctl").arg("--link").arg(link).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn ctl_drives_the_running_modem_and_the_trace_notes_each_action() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("at.log");
    let (m, mut dte, _url) = start(&["--trace", trace.to_str().unwrap()]);
    let link = m.link.clone().unwrap();
    let ctl = |args: &[&str]| ctl(&link, args);
    let (ok, out, err) = ctl(&["state"]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["sim"], "ready");
    let (ok, _, err) = ctl(&["sms", "deliver", "--from", "+15550002", "from the shell"]);
    assert!(ok, "{err}");
    assert_eq!(dte.wait_for("+CMTI:"), "+CMTI: \"SM\",1");
    let (ok, _, err) = ctl(&["override", "add", "+CGMI", "--line", "ACME", "--always"]);
    assert!(ok, "{err}");
    dte.cmd_expect("AT+CGMI", &["ACME", "OK"]);
    dte.cmd_expect("AT+CGMI", &["ACME", "OK"]);
    let (ok, _, err) = ctl(&["override", "rm", "42"]);
    assert!(!ok && err.contains("override not found (404)"), "{err}");
    let (ok, out, err) = ctl(&["sms", "inbox"]);
    assert!(ok && out.contains("from the shell"), "{out}{err}");
    let (ok, out, err) = ctl(&["fault", "add", "http", "-t", "reset_peer", "-a", "timeout=250"]);
    assert!(ok && out.contains("\"http_reset_peer\""), "{out}{err}");
    let (ok, _, err) = ctl(&["fault", "add", "http", "-t", "reset_peer"]);
    assert!(!ok && err.contains("(409)"), "{err}");
    let (ok, out, _) = ctl(&["fault", "ls"]);
    assert!(ok && out.contains("\"timeout\": 250"), "{out}");
    let (ok, out, err) = ctl(&["net", "umts+noisy"]);
    assert!(ok && out.contains("\"down_kbps\": 384"), "{out}{err}");
    dte.cmd_expect("AT+CSQ", &["+CSQ: 18,99", "OK"]);
    let (ok, out, err) = ctl(&["net", "--rtt", "80ms", "--down", "1000"]);
    assert!(ok && out.contains("\"rtt_ms\": 80"), "{out}{err}");
    let (ok, _, err) = ctl(&["net", "--loss", "3"]);
    assert!(!ok && err.contains("seed"), "{err}");
    let (ok, _, err) = ctl(&["fault", "clear"]);
    assert!(ok, "{err}");
    let (ok, _, err) = ctl(&["coverage", "lose", "--for", "500ms"]);
    assert!(ok, "{err}");
    let (ok, out, err) = ctl(&["trace", "--limit", "1000"]);
    assert!(ok && out.contains("DTE> AT+CGMI<CR>") && out.contains("NOTE control: coverage lost"), "{out}{err}");
    drop(dte);
    drop(m);
    let t = std::fs::read_to_string(&trace).unwrap();
    for note in [
        "NOTE control: SMS from +15550002",
        "NOTE control: override +CGMI",
        "NOTE control: coverage lost",
        "NOTE control: fault reset_peer on http (http_reset_peer)",
        "NOTE control: faults cleared",
    ] {
        assert!(t.contains(note), "{note} not in the trace:\n{t}");
    }
    // Without a running modem's file: a clear error.
    let out = std::process::Command::new(bin()).args(["ctl", "--link", "/nonexistent/tty", "state"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no control URL"), "{out:?}");
}

/// What a new user types: `ctl net` alone shows the conditions (changes nothing); custom
/// figures after a preset give the module's own radio back; a duration without a unit is
/// refused; errors name what the user typed, in the API's words; an alphanumeric sender
/// over 11 characters is refused.
#[test]
fn ctl_is_safe_and_says_what_went_wrong() {
    let (m, mut dte, _url) = start(&[]);
    let link = m.link.clone().unwrap();
    let ctl = |args: &[&str]| ctl(&link, args);
    let (ok, _, err) = ctl(&["net", "gprs"]);
    assert!(ok, "{err}");
    dte.cmd_expect("AT+CSQ;+COPS?", &["+CSQ: 12,99", "+COPS: 0,0,\"Test Network\",0", "OK"]);
    // No arguments: the conditions in force, unchanged.
    let (ok, out, err) = ctl(&["net"]);
    assert!(ok && out.contains("\"preset\": \"gprs\""), "{out}{err}");
    let (ok, out, _) = ctl(&["net"]);
    assert!(ok && out.contains("\"preset\": \"gprs\""), "{out}");
    // Figures replace the preset, and the radio is the module's own again.
    let (ok, out, err) = ctl(&["net", "--rtt", "100ms"]);
    assert!(ok && out.contains("\"rtt_ms\": 100") && !out.contains("gprs"), "{out}{err}");
    dte.cmd_expect("AT+CSQ;+COPS?", &["+CSQ: 21,99", "+COPS: 0,0,\"Test Network\",2", "OK"]);
    // Durations carry their unit.
    let (ok, _, err) = ctl(&["coverage", "lose", "--for", "3"]);
    assert!(!ok && err.contains("`3` has no unit: write 3s or 3ms"), "{err}");
    // Errors in the user's words.
    let (ok, _, err) = ctl(&["fault", "add", "http", "-t", "latency", "-a", "lat=5"]);
    assert!(!ok && err.contains("a latency fault has no attribute \"lat\" (its attributes: latency, jitter)"), "{err}");
    assert!(!err.contains("Latency"), "{err}");
    let (ok, _, err) = ctl(&["fault", "rm", "nosuch"]);
    assert!(!ok && err.contains("no fault named \"nosuch\" (404)"), "{err}");
    let (ok, _, err) = ctl(&["net", "5g"]);
    assert!(!ok && err.contains("no preset \"5g\" (presets: gprs, edge,") && err.contains("full)"), "{err}");
    let (ok, _, err) = ctl(&["radio", "--cs", "elsewhere"]);
    assert!(!ok && err.contains("elsewhere") && !err.contains("line 1"), "{err}");
    // A sender the module could not show.
    let (ok, _, err) = ctl(&["sms", "deliver", "--from", "ABCDEFGHIJKL", "hi"]);
    assert!(!ok && err.contains("a name is 1-11 characters") && err.contains("(400)"), "{err}");
    let (ok, _, err) = ctl(&["sms", "deliver", "--from", "ABCDEFGHIJK", "hi"]);
    assert!(ok, "{err}");
    dte.wait_for("+CMTI:");
    dte.cmd_expect("AT+CMGF=1", &["OK"]);
    dte.send_line("AT+CMGR=1");
    assert!(dte.wait_for("+CMGR:").contains("\"ABCDEFGHIJK\""));
    dte.expect("hi");
    dte.expect("OK");
}

/// A raw GET whose answer is read for `for_ms` (an event stream never ends): the head and
/// what the body said meanwhile.
fn read_for(url: &str, path: &str, headers: &[(&str, &str)], for_ms: u64) -> (String, String) {
    let addr = url.strip_prefix("http://").unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let (mut out, mut buf) = (Vec::new(), [0u8; 8192]);
    let end = std::time::Instant::now() + Duration::from_millis(for_ms);
    while std::time::Instant::now() < end {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => continue,
        }
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.to_owned(), body.to_owned())
}

/// The `data:` of each `event: <kind>` in a stream, with its `id:`.
fn events_of(body: &str, kind: &str) -> Vec<(Option<u64>, Value)> {
    body.split("\n\n")
        .filter(|e| e.lines().any(|l| l == format!("event: {kind}")))
        .map(|e| {
            let id = e.lines().find_map(|l| l.strip_prefix("id: ")).and_then(|i| i.parse().ok());
            let data = e.lines().find_map(|l| l.strip_prefix("data: ")).unwrap_or("null");
            (id, serde_json::from_str(data).unwrap())
        })
        .collect()
}

#[test]
fn the_dashboard_is_served_with_its_event_stream() {
    let (_m, mut dte, url) = start(&["--control-token", "s3cret"]);
    let auth = ("Authorization", "Bearer s3cret");
    // The three embedded files, with a policy that allows nothing from elsewhere.
    for (path, kind, has) in [
        ("/", "text/html", "<script src=\"app.js\""),
        ("/app.js", "text/javascript", "EventSource"),
        ("/app.css", "text/css", "#trace"),
    ] {
        let (head, body) = read_for(&url, path, &[auth, ("Connection", "close")], 1500);
        assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
        assert!(head.to_ascii_lowercase().contains(&format!("content-type: {kind}")), "{path}: {head}");
        assert!(head.contains("default-src 'self'"), "{path}: {head}");
        assert!(body.contains(has), "{path}");
    }
    // The same guards as the API: the token (here in the query, as EventSource must),
    // the Host.
    assert!(read_for(&url, "/", &[("Connection", "close")], 500).0.starts_with("HTTP/1.1 401"));
    assert!(read_for(&url, "/?token=s3cret", &[("Connection", "close")], 500).0.starts_with("HTTP/1.1 200"));
    let (head, _) = read_for(&url, "/", &[auth, ("Host", "attacker.example"), ("Connection", "close")], 500);
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    assert_eq!(http(&url, "GET", "/nothing.js", &[auth], None).0, 404);
    // The stream: the boot URCs replayed as trace events with their seq as id, then the
    // state; a command from the DTE arrives while it is open.
    let stream = format!("{M}/events?token=s3cret");
    let reader = {
        let (url, stream) = (url.clone(), stream.clone());
        std::thread::spawn(move || read_for(&url, &stream, &[], 3000))
    };
    std::thread::sleep(Duration::from_millis(800));
    dte.cmd_expect("AT+CGMI", &["SIMCOM INCORPORATED", "OK"]);
    let (head, body) = reader.join().unwrap();
    assert!(head.to_ascii_lowercase().contains("content-type: text/event-stream"), "{head}");
    let trace = events_of(&body, "trace");
    assert!(trace.iter().any(|(_, l)| l["text"] == "<CR><LF>PB DONE<CR><LF>"), "{body}");
    let cgmi = trace.iter().find(|(_, l)| l["dir"] == "rx" && l["text"].as_str().unwrap().contains("AT+CGMI"));
    let (cgmi_id, cgmi) = cgmi.unwrap_or_else(|| panic!("no AT+CGMI in {body}"));
    assert_eq!(*cgmi_id, cgmi["seq"].as_u64());
    let ids: Vec<u64> = trace.iter().filter_map(|(i, _)| *i).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids in order: {ids:?}");
    let states = events_of(&body, "state");
    assert!(!states.is_empty() && states.iter().all(|(_, s)| s["imei"].is_string()), "{body}");
    assert!(states[0].1["efs"]["C"]["total"].as_u64().unwrap() > 0, "{}", states[0].1);
    // A reconnecting EventSource sends Last-Event-ID: only what came after it.
    let last = cgmi_id.unwrap();
    let (_, body) = read_for(&url, &stream, &[("Last-Event-ID", &last.to_string())], 800);
    let again = events_of(&body, "trace");
    assert!(!again.is_empty() && again.iter().all(|(i, _)| i.unwrap() > last), "{body}");
}
