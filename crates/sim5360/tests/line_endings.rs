//! Every prompt, end to end against real servers, with a DTE that ends its lines with CR
//! (python-gsmmodem, gammu) and one that ends them with CR LF (Arduino `println`, TinyGSM),
//! sending the payload after the prompt and, as clients that do not wait for it do, in the
//! same write as the command. The LF of CR LF is never payload (docs/commands.md). POP3,
//! which has no prompt, runs the same with both.
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use std::path::Path;
use testbench::{Dte, FtpServer, HttpServer, ModemProcess, SmtpOptions, SmtpServer, TestCa};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sim5360"))
}

const ENDINGS: [&[u8]; 2] = [b"\r", b"\r\n"];

fn modem(line_end: &'static [u8], extra: &[&str]) -> (ModemProcess, Dte) {
    let (m, mut dte) = testbench::ready_modem(bin(), extra).unwrap();
    dte.line_end = line_end;
    dte.cmd_expect("AT+CMEE=1", &["OK"]);
    (m, dte)
}

#[test]
fn efs_upload_prompt() {
    for end in ENDINGS {
        let (m, mut dte) = modem(end, &[]);
        // After the prompt; the payload ends with CR LF of its own.
        dte.efs_put("C:/after.txt", b"hello\r\n");
        // Before the prompt, in the same write.
        dte.send_line_with("AT+CFTRANRX=\"C:/before.txt\",5", b"early");
        dte.expect(">");
        dte.expect("OK");
        assert_eq!(std::fs::read(m.efs().join("C/after.txt")).unwrap(), b"hello\r\n", "{end:?}");
        assert_eq!(std::fs::read(m.efs().join("C/before.txt")).unwrap(), b"early", "{end:?}");
        dte.cmd_expect("AT", &["OK"]);
    }
}

fn request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").into_bytes()
}

#[test]
fn http_request_entries() {
    let ca = TestCa::new().unwrap();
    let web = HttpServer::start(&ca).unwrap();
    for end in ENDINGS {
        let (_m, mut dte) = modem(end, &["--ca", ca.ca.to_str().unwrap()]);
        // CHTTPACT, up to Ctrl-Z, after +CHTTPACT: REQUEST.
        dte.send_line(&format!("AT+CHTTPACT=\"127.0.0.1\",{}", web.port));
        dte.expect("+CHTTPACT: REQUEST");
        dte.send(&request("/hello.txt"));
        dte.send(b"\x1a");
        dte.expect("OK");
        let (raw, code) = dte.blocks("+CHTTPACT");
        assert_eq!(code, "0");
        assert!(raw.starts_with(b"HTTP/1.1 200") && raw.ends_with(b"hello from nginx\n"), "{end:?}");
        // The length form, with the request in the same write as the command.
        let req = request("/hello.txt");
        dte.send_line_with(&format!("AT+CHTTPACT=\"127.0.0.1\",{},{}", web.port, req.len()), &req);
        dte.expect("+CHTTPACT: REQUEST");
        dte.expect("OK");
        let (raw, code) = dte.blocks("+CHTTPACT");
        assert_eq!(code, "0");
        assert!(raw.starts_with(b"HTTP/1.1 200"), "{end:?}");
        // CHTTPSSEND over TLS: `>` then exactly <len> bytes; then one sent before the prompt.
        dte.cmd_expect("AT+CHTTPSSTART", &["OK"]);
        dte.cmd_expect(&format!("AT+CHTTPSOPSE=\"localhost\",{}", web.tls_port), &["OK"]);
        let req = request("/hello.txt");
        let (head, tail) = req.split_at(10);
        dte.send_line(&format!("AT+CHTTPSSEND={}", head.len()));
        dte.expect(">");
        dte.send(head);
        dte.expect("OK");
        dte.send_line_with(&format!("AT+CHTTPSSEND={}", tail.len()), tail);
        dte.expect(">");
        dte.expect("OK");
        dte.expect("+CHTTPS: RECV EVENT");
        dte.send_line("AT+CHTTPSRECV=4096");
        dte.expect("OK");
        let l = dte.line();
        let n: usize = l.strip_prefix("+CHTTPSRECV: DATA,").unwrap().parse().unwrap();
        let body = dte.bytes(n);
        assert!(body.starts_with(b"HTTP/1.1 200") && body.ends_with(b"hello from nginx\n"), "{end:?}");
        dte.expect("+CHTTPSRECV: 0");
        dte.cmd_expect("AT+CHTTPSCLSE", &["OK"]);
        dte.cmd_expect("AT+CHTTPSSTOP", &["OK"]);
    }
}

#[test]
fn ftp_uploads() {
    let ca = TestCa::new().unwrap();
    let ftp = FtpServer::start(&ca).unwrap();
    for (i, end) in ENDINGS.into_iter().enumerate() {
        let (_m, mut dte) = modem(end, &["--ca", ca.ca.to_str().unwrap()]);
        ftp.configure(&mut dte);
        dte.cmd_expect("AT+CFTPMODE=1", &["OK"]);
        // CFTPPUT: data after +CFTPPUT: BEGIN ...
        dte.send_line(&format!("AT+CFTPPUT=\"/a{i}.txt\""));
        dte.expect("+CFTPPUT: BEGIN");
        dte.send(b"after\r\n\x1a");
        dte.expect("OK");
        // ... and sent with the command, before BEGIN.
        dte.send_line_with(&format!("AT+CFTPPUT=\"/b{i}.txt\""), b"before\x1a");
        dte.expect("+CFTPPUT: BEGIN");
        dte.expect("OK");
        assert_eq!(std::fs::read(ftp.root().join(format!("a{i}.txt"))).unwrap(), b"after\r\n", "{end:?}");
        assert_eq!(std::fs::read(ftp.root().join(format!("b{i}.txt"))).unwrap(), b"before", "{end:?}");
        // CFTPSPUT over explicit TLS: a `>` chunk after the prompt, one before it, then the end.
        dte.cmd_expect("AT+CFTPSSTART", &["OK"]);
        let login =
            format!("AT+CFTPSLOGIN=\"localhost\",{},\"{}\",\"{}\",2", ftp.explicit_port, ftp.user, ftp.password);
        dte.cmd_expect(&login, &["OK"]);
        dte.expect("+CFTPSLOGIN: 0");
        dte.send_line(&format!("AT+CFTPSPUT=\"/c{i}.txt\",3"));
        dte.expect(">");
        dte.send(b"one");
        dte.expect("OK");
        dte.send_line_with("AT+CFTPSPUT=3", b"two");
        dte.expect(">");
        dte.expect("OK");
        dte.cmd_expect("AT+CFTPSPUT", &["OK"]);
        dte.expect("+CFTPSPUT: 0");
        assert_eq!(std::fs::read(ftp.root().join(format!("c{i}.txt"))).unwrap(), b"onetwo", "{end:?}");
        dte.cmd_expect("AT+CFTPSLOGOUT", &["OK"]);
        dte.expect("+CFTPSLOGOUT: 0");
        dte.cmd_expect("AT+CFTPSSTOP", &["OK"]);
        dte.expect("+CFTPSSTOP: 0");
    }
}

#[test]
fn smtp_body_entry() {
    let ca = TestCa::new().unwrap();
    let smtp = SmtpServer::start(&ca, SmtpOptions::default()).unwrap();
    for end in ENDINGS {
        let (_m, mut dte) = modem(end, &[]);
        dte.cmd_expect(&format!("AT+SMTPSRV=\"127.0.0.1\",{}", smtp.port), &["OK"]);
        dte.cmd_expect("AT+SMTPFROM=\"sim@example.test\"", &["OK"]);
        dte.cmd_expect("AT+SMTPRCPT=0,0,\"bob@example.test\"", &["OK"]);
        dte.cmd_expect("AT+SMTPSUB=\"endings\"", &["OK"]);
        // The >> entry after its prompt ...
        dte.send_line("AT+SMTPBODY");
        dte.expect(">>");
        dte.send(b"Body after the prompt\x1a");
        dte.expect("OK");
        dte.cmd_expect("AT+SMTPBODY?", &["+SMTPBODY: \"Body after the prompt\"", "OK"]);
        // ... and before it.
        dte.send_line_with("AT+SMTPBODY", b"Body before\x1a");
        dte.expect(">>");
        dte.expect("OK");
        dte.cmd_expect("AT+SMTPSEND", &["OK"]);
        assert_eq!(dte.wait_for("+SMTP: "), "+SMTP: SUCCESS");
    }
    let got = smtp.received().unwrap();
    assert_eq!(got.len(), 2);
    for mail in got {
        let text = String::from_utf8_lossy(&mail.data).into_owned();
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        assert!(body.starts_with("Body before"), "{text}");
    }
}

/// POP3 has no prompt; its commands and results are the same with either ending.
#[test]
fn pop3_session() {
    let ca = TestCa::new().unwrap();
    let srv = testbench::Pop3Server::start(&ca).unwrap();
    let mail = b"From: a@example.test\r\nTo: b@example.test\r\nSubject: endings\r\n\r\nbody line\r\n";
    srv.add_message(mail).unwrap();
    for end in ENDINGS {
        let (m, mut dte) = modem(end, &[]);
        dte.cmd_expect(&format!("AT+POP3SRV=\"127.0.0.1\",\"simuser\",\"simpass\",{}", srv.port), &["OK"]);
        dte.cmd_expect("AT+POP3IN", &["OK"]);
        assert_eq!(dte.wait_for("+POP3: "), "+POP3: SUCCESS");
        dte.cmd_expect("AT+POP3NUM", &[&format!("+POP3: 1,{}", mail.len()), "OK"]);
        dte.cmd_expect("AT+POP3GET=1", &["OK"]);
        dte.expect("+POP3: SUCCESS");
        let path = dte.line();
        let name = path.strip_prefix("C:/Email/").unwrap();
        assert_eq!(std::fs::read(m.efs().join("C/Email").join(name)).unwrap(), mail, "{end:?}");
        dte.cmd_expect("AT+POP3OUT", &["OK"]);
        dte.expect("+POP3: SUCCESS");
        dte.cmd_expect("AT", &["OK"]);
    }
}
