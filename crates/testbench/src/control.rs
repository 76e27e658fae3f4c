//! A client of the emulator's control API for tests and benches: one raw HTTP/1.1
//! request, so every header is the caller's own (the guards are tested with it).

use serde_json::Value;
use std::io::{Read, Write};
use std::time::Duration;

/// `method path` on the control server at `url` (`http://HOST:PORT`) with `headers` (a
/// `Host` of its own replaces the server's address; a body gets `Content-Type:
/// application/json` unless given); the status and the JSON body (`Null` when none).
/// Panics on an I/O error, as a test should.
pub fn control_http(url: &str, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> (u16, Value) {
    let addr = url.strip_prefix("http://").expect("an http:// control URL");
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the control server");
    s.set_read_timeout(Some(Duration::from_secs(15))).expect("read timeout");
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).expect("send the request");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read the answer");
    let status = out.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status in {out:?}"));
    let text = out.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(text).unwrap_or(Value::Null))
}
