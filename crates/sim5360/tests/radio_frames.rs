//! Data that arrives in one burst is reported as one: an HTTP server (Python's
//! `http.server`) writes its headers, then 0.3 ms later its body, in two TCP segments. A
//! client that reads once per receive event gets the whole response, over
//! `AT+CHTTPS*`, `AT+CIPRXGET` and push mode, as on hardware where both land in one radio
//! frame (10 ms on UMTS).
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use testbench::Dte;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sim5360"))
}

/// Python's HTTP server with a handler that flushes its headers, waits 0.3 ms and writes
/// the body (the two writes are two segments on loopback; a client that reads as soon as
/// the first arrives, as the module did before radio frames, gets the headers alone).
const SERVER: &str = r#"
import http.server, socketserver, sys, time
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b"the body, written just after the headers"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        time.sleep(0.0003)
        self.wfile.write(body)
    def log_message(self, *a):
        pass
socketserver.TCPServer.allow_reuse_address = True
srv = socketserver.TCPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;

const BODY: &str = "the body, written just after the headers";

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start() -> Self {
        let mut child = Command::new("python3")
            .args(["-c", SERVER])
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("python3 (Debian package python3)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| panic!("the server printed {line:?}"));
        Self { child, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn request() -> Vec<u8> {
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_vec()
}

/// The lines up to `prefix`, dropping the others (a send's confirmation).
fn skip_to(dte: &mut Dte, prefix: &str) -> String {
    loop {
        let l = dte.line();
        if l.starts_with(prefix) {
            return l;
        }
    }
}

/// One read's bytes hold the headers and the body.
fn whole(read: &[u8]) {
    let text = String::from_utf8_lossy(read);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n") && text.ends_with(BODY), "one read got {text:?}");
}

#[test]
fn chttps_one_event_one_read_gets_headers_and_body() {
    let web = Server::start();
    let (_m, mut dte) = testbench::ready_modem(bin(), &[]).unwrap();
    dte.line_end = b"\r\n";
    dte.cmd_expect("AT+CHTTPSSTART", &["OK"]);
    dte.cmd_expect(&format!("AT+CHTTPSOPSE=\"127.0.0.1\",{},1", web.port), &["OK"]);
    let req = request();
    dte.send_line(&format!("AT+CHTTPSSEND={}", req.len()));
    dte.expect(">");
    dte.send(&req);
    dte.expect("OK");
    skip_to(&mut dte, "+CHTTPS: RECV EVENT");
    // Once per event, as Arduino HTTPS clients read.
    dte.send_line("AT+CHTTPSRECV=1000");
    // The server's close may be told first.
    skip_to(&mut dte, "OK");
    let n: usize = skip_to(&mut dte, "+CHTTPSRECV: DATA,")["+CHTTPSRECV: DATA,".len()..].parse().unwrap();
    whole(&dte.bytes(n));
    dte.expect("+CHTTPSRECV: 0");
}

/// The socket service open (buffer mode with `buffered`), link 0 to `port`, the request
/// sent on it.
fn socket_request(port: u16, buffered: bool) -> (testbench::ModemProcess, Dte) {
    let (m, mut dte) = testbench::ready_modem(bin(), &[]).unwrap();
    dte.line_end = b"\r\n";
    if buffered {
        dte.cmd_expect("AT+CIPRXGET=1", &["OK"]);
    }
    dte.cmd_expect("AT+NETOPEN", &["OK"]);
    dte.expect("+NETOPEN: 0");
    dte.cmd_expect(&format!("AT+CIPOPEN=0,\"TCP\",\"127.0.0.1\",{port}"), &["OK"]);
    dte.expect("+CIPOPEN: 0,0");
    let req = request();
    dte.send_line(&format!("AT+CIPSEND=0,{}", req.len()));
    dte.wait_for(">");
    dte.send(&req);
    (m, dte)
}

#[test]
fn ciprxget_one_event_one_read_gets_headers_and_body() {
    let web = Server::start();
    let (_m, mut dte) = socket_request(web.port, true);
    skip_to(&mut dte, "+CIPRXGET: 1,0");
    dte.send_line("AT+CIPRXGET=2,0,1500");
    let l = skip_to(&mut dte, "+CIPRXGET: 2,0,");
    let (n, left) = l["+CIPRXGET: 2,0,".len()..].split_once(',').unwrap();
    whole(&dte.bytes(n.parse().unwrap()));
    assert_eq!(left, "0");
}

#[test]
fn push_mode_one_event_carries_headers_and_body() {
    let web = Server::start();
    let (_m, mut dte) = socket_request(web.port, false);
    assert_eq!(skip_to(&mut dte, "RECV FROM:"), format!("RECV FROM:127.0.0.1:{}", web.port));
    let n: usize = dte.line().strip_prefix("+IPD").unwrap().parse().unwrap();
    whole(&dte.bytes(n));
}
