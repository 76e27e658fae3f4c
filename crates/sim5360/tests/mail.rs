//! E-mail end to end: the real binary on a PTY against aiosmtpd (SMTP) and dovecot (POP3).
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use mail_parser::{MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;
use testbench::{Dte, ModemProcess, Peer, SmtpOptions, SmtpServer, TestCa};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sim5360"))
}

fn sha(b: &[u8]) -> String {
    format!("{:x}", Sha256::digest(b))
}

fn modem(extra: &[&str]) -> (ModemProcess, Dte) {
    testbench::ready_modem(bin(), extra).unwrap()
}

/// Server, sender, one recipient.
fn minimal(dte: &mut Dte, port: u16) {
    dte.cmd_expect(&format!("AT+SMTPSRV=\"127.0.0.1\",{port}"), &["OK"]);
    dte.cmd_expect("AT+SMTPFROM=\"sim@example.test\",\"Modem\"", &["OK"]);
    dte.cmd_expect("AT+SMTPRCPT=0,0,\"bob@example.test\",\"Bob\"", &["OK"]);
    dte.cmd_expect("AT+SMTPSUB=\"hello\"", &["OK"]);
    dte.cmd_expect("AT+SMTPBODY=\"short body\"", &["OK"]);
}

fn send(dte: &mut Dte) -> String {
    dte.cmd_expect("AT+SMTPSEND", &["OK"]);
    dte.wait_for("+SMTP: ")
}

#[test]
fn smtp_full_mail_with_attachments() {
    let ca = TestCa::new().unwrap();
    let srv = SmtpServer::start(&ca, SmtpOptions { auth_required: true, ..SmtpOptions::default() }).unwrap();
    let (_m, mut dte) = modem(&[]);
    let txt = b"plain attachment\n".to_vec();
    let jpg = testbench::http::pattern(200_000, 61);
    let bin = testbench::http::pattern(3000, 62);
    dte.efs_put("C:/note.txt", &txt);
    dte.efs_put("C:/Picture/photo.jpg", &jpg);
    dte.efs_put("C:/data.bin", &bin);
    dte.cmd_expect("AT+CCLK=\"26/03/04,05:06:07+08\"", &["OK"]);
    dte.cmd_expect(&format!("AT+SMTPSRV=\"127.0.0.1\",{}", srv.port), &["OK"]);
    dte.cmd_expect(&format!("AT+SMTPAUTH=1,\"{}\",\"{}\"", srv.user, srv.password), &["OK"]);
    dte.cmd_expect("AT+SMTPFROM=\"sim@example.test\",\"Modem\"", &["OK"]);
    dte.cmd_expect("AT+SMTPRCPT=0,0,\"to1@example.test\",\"To One\"", &["OK"]);
    dte.cmd_expect("AT+SMTPRCPT=0,1,\"to2@example.test\"", &["OK"]);
    dte.cmd_expect("AT+SMTPRCPT=1,0,\"cc@example.test\",\"Cee\"", &["OK"]);
    dte.cmd_expect("AT+SMTPRCPT=2,0,\"hidden@example.test\",\"Secret\"", &["OK"]);
    dte.cmd_expect("AT+SMTPSUB=\"Grüße vom Modul ✓\"", &["OK"]);
    dte.send_line("AT+SMTPBODY");
    dte.expect(">>");
    dte.send("Zeile eins: äöü\r\n.dot line\r\nend\x1a".as_bytes());
    dte.expect_eventually("OK");
    dte.cmd_expect("AT+SMTPFILE=1,\"note.txt\"", &["OK"]);
    dte.cmd_expect("AT+SMTPFILE=2,\"C:/Picture/photo.jpg\"", &["OK"]);
    dte.cmd_expect("AT+SMTPFILE=3,\"C:/data.bin\"", &["OK"]);
    assert_eq!(send(&mut dte), "+SMTP: SUCCESS");
    let got = srv.received().unwrap();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.mail_from, "sim@example.test");
    assert_eq!(r.rcpt_tos, ["to1@example.test", "to2@example.test", "cc@example.test", "hidden@example.test"]);
    assert_eq!(r.auth_user.as_deref(), Some("simuser"));
    let msg = MessageParser::default().parse(&r.data).unwrap();
    let raw = String::from_utf8_lossy(&r.data);
    assert!(!raw.to_ascii_lowercase().contains("\nbcc:") && !raw.contains("hidden@"), "Bcc in the headers:\n{raw}");
    assert_eq!(msg.subject(), Some("Grüße vom Modul ✓"));
    let from = msg.from().unwrap().first().unwrap();
    assert_eq!((from.name(), from.address()), (Some("Modem"), Some("sim@example.test")));
    let to: Vec<_> =
        msg.to().unwrap().iter().map(|a| (a.name().map(str::to_owned), a.address().unwrap().to_owned())).collect();
    assert_eq!(to, [(Some("To One".into()), "to1@example.test".into()), (None, "to2@example.test".into())]);
    assert_eq!(msg.cc().unwrap().first().unwrap().name(), Some("Cee"));
    assert!(
        raw.contains("Date: Wed, 04 Mar 2026 05:06:") && raw.contains("+0200"),
        "Date from the module clock:\n{raw}"
    );
    assert!(msg.message_id().is_some());
    assert_eq!(msg.body_text(0).unwrap().replace("\r\n", "\n"), "Zeile eins: äöü\n.dot line\nend");
    let atts: Vec<_> =
        msg.attachments().map(|a| (a.attachment_name().unwrap().to_owned(), sha(a.contents()))).collect();
    assert_eq!(atts, [("note.txt".into(), sha(&txt)), ("photo.jpg".into(), sha(&jpg)), ("data.bin".into(), sha(&bin))]);
    let ct = msg.attachments().nth(1).unwrap().content_type().unwrap();
    assert_eq!((ct.ctype(), ct.subtype()), ("image", Some("jpeg")));
    // After a success: recipients, subject, body and attachments are cleared; the rest stays.
    dte.cmd_expect("AT+SMTPRCPT?", &["OK"]);
    dte.cmd_expect("AT+SMTPSUB?", &["+SMTPSUB: \"\"", "OK"]);
    dte.cmd_expect("AT+SMTPBODY?", &["+SMTPBODY: \"\"", "OK"]);
    dte.cmd_expect("AT+SMTPFILE?", &["OK"]);
    dte.cmd_expect("AT+SMTPFROM?", &["+SMTPFROM: \"sim@example.test\", \"Modem\"", "OK"]);
}

#[test]
fn smtp_auth_login_and_failures() {
    let ca = TestCa::new().unwrap();
    let login_only =
        SmtpServer::start(&ca, SmtpOptions { auth_required: true, login_only: true, ..SmtpOptions::default() })
            .unwrap();
    let (_m, mut dte) = modem(&["--net-timeout", "2s"]);
    minimal(&mut dte, login_only.port);
    dte.cmd_expect(&format!("AT+SMTPAUTH=1,\"{}\",\"{}\"", login_only.user, login_only.password), &["OK"]);
    assert_eq!(send(&mut dte), "+SMTP: SUCCESS");
    assert_eq!(login_only.received().unwrap()[0].auth_user.as_deref(), Some("simuser"));
    // Wrong password: server error, everything kept for a retry.
    minimal(&mut dte, login_only.port);
    dte.cmd_expect("AT+SMTPAUTH=1,\"simuser\",\"wrong\"", &["OK"]);
    assert_eq!(send(&mut dte), "+SMTP: SERVER ERROR");
    dte.cmd_expect("AT+SMTPSUB?", &["+SMTPSUB: \"hello\"", "OK"]);
    dte.cmd_expect("AT", &["OK"]);
    dte.cmd_expect(&format!("AT+SMTPAUTH=1,\"{}\",\"{}\"", login_only.user, login_only.password), &["OK"]);
    assert_eq!(send(&mut dte), "+SMTP: SUCCESS");
    // Nothing listening: network error.
    minimal(&mut dte, testbench::process::free_port().unwrap());
    assert_eq!(send(&mut dte), "+SMTP: NETWORK ERROR");
    dte.cmd_expect("AT", &["OK"]);
    // A server that drops the connection in the middle of DATA.
    let drop = testbench::smtp_dropping_in_data(20).unwrap();
    minimal(&mut dte, drop.port);
    assert_eq!(send(&mut dte), "+SMTP: NETWORK ERROR");
    dte.cmd_expect("AT", &["OK"]);
    // A silent server: timeout.
    let silent = Peer::silent().unwrap();
    minimal(&mut dte, silent.port);
    assert_eq!(send(&mut dte), "+SMTP: TIMEOUT");
    // A missing attachment (deleted after it was chosen): file error, no connection made.
    minimal(&mut dte, login_only.port);
    dte.efs_put("C:/gone.txt", b"x");
    dte.cmd_expect("AT+SMTPFILE=1,\"gone.txt\"", &["OK"]);
    dte.cmd_expect("AT+FSDEL=\"gone.txt\"", &["OK"]);
    let before = login_only.received().unwrap().len();
    assert_eq!(send(&mut dte), "+SMTP: FILE ERROR");
    assert_eq!(login_only.received().unwrap().len(), before);
    dte.cmd_expect("AT+SMTPFILE=1", &["OK"]);
    // Choosing a file that does not exist is refused at once.
    dte.cmd_expect("AT+SMTPFILE=2,\"nope.txt\"", &["ERROR"]);
    // And the next send works.
    assert_eq!(send(&mut dte), "+SMTP: SUCCESS");
}

const MAIL1: &str = "From: Alice <alice@example.test>\nTo: simuser@example.test\nSubject: Test message 1\nMessage-ID: <m1@example.test>\n\nHello from message one.\n.leading dot line\n";
const MAIL2: &str = "From: Bob <bob@example.test>\nSubject: Second\n\nTwo.\n";
const MAIL3: &str = "From: Carol <carol@example.test>\nSubject: Third\n\nThree.\n";

fn crlf(s: &str) -> Vec<u8> {
    s.replace('\n', "\r\n").into_bytes()
}

fn pop3_login(dte: &mut Dte, port: u16, pwd: &str) -> String {
    dte.cmd_expect(&format!("AT+POP3SRV=\"127.0.0.1\",\"simuser\",\"{pwd}\",{port}"), &["OK"]);
    dte.cmd_expect("AT+POP3IN", &["OK"]);
    dte.wait_for("+POP3: ")
}

#[test]
fn pop3_against_dovecot() {
    let ca = TestCa::new().unwrap();
    let srv = testbench::Pop3Server::start(&ca).unwrap();
    for m in [MAIL1, MAIL2, MAIL3] {
        srv.add_message(m.as_bytes()).unwrap();
    }
    let (m, mut dte) = modem(&[]);
    dte.cmd_expect("AT+POP3NUM", &["ERROR"]);
    assert_eq!(pop3_login(&mut dte, srv.port, "wrong"), "+POP3: SERVER ERROR");
    dte.cmd_expect("AT", &["OK"]);
    assert_eq!(pop3_login(&mut dte, srv.port, "simpass"), "+POP3: SUCCESS");
    dte.cmd_expect("AT+POP3IN", &["ERROR"]);
    dte.cmd_expect("AT+POP3SRV=\"x\",\"y\",\"z\"", &["ERROR"]);
    let sizes: Vec<usize> = [MAIL1, MAIL2, MAIL3].iter().map(|m| crlf(m).len()).collect();
    let total: usize = sizes.iter().sum();
    dte.cmd_expect("AT+POP3NUM", &[&format!("+POP3: 3,{total}"), "OK"]);
    let list: Vec<String> = sizes.iter().enumerate().map(|(i, s)| format!("+POP3: {},{s}", i + 1)).collect();
    let mut want: Vec<&str> = list.iter().map(String::as_str).collect();
    want.push("OK");
    dte.cmd_expect("AT+POP3LIST", &want);
    dte.cmd_expect("AT+POP3LIST=2", &[&list[1], "OK"]);
    let hdr = dte.cmd("AT+POP3HDR=1");
    assert_eq!(hdr.last().unwrap(), "OK");
    assert!(
        hdr.iter().any(|l| l == "Subject: Test message 1")
            && hdr.iter().any(|l| l == "From: Alice <alice@example.test>"),
        "{hdr:?}"
    );
    assert!(!hdr.iter().any(|l| l.contains("Hello from")), "header only");
    // GET stores the mail under C:/Email/ with a stable name; the file holds the message.
    dte.cmd_expect("AT+POP3GET=1", &["OK"]);
    dte.expect("+POP3: SUCCESS");
    let path = dte.line();
    assert!(path.starts_with("C:/Email/") && path.ends_with(".eml") && !path.contains([' ', ',']), "{path}");
    let name = path.trim_start_matches("C:/Email/").to_owned();
    let stored = std::fs::read(m.efs().join("C/Email").join(&name)).unwrap();
    assert_eq!(stored, crlf(MAIL1));
    // The same mail again: the same name.
    dte.cmd_expect("AT+POP3GET=1", &["OK"]);
    dte.expect("+POP3: SUCCESS");
    assert_eq!(dte.line(), path);
    // POP3READ prints it.
    dte.cmd_expect("AT+FSCD=C:/Email", &["+FSCD: C:/Email/", "OK"]);
    let shown = dte.cmd(&format!("AT+POP3READ=0,\"{name}\""));
    assert!(
        shown.contains(&"Hello from message one.".to_owned()) && shown.contains(&".leading dot line".to_owned()),
        "{shown:?}"
    );
    let head = dte.cmd(&format!("AT+POP3READ=1,\"{name}\""));
    assert!(
        head.contains(&"Subject: Test message 1".to_owned()) && !head.iter().any(|l| l.contains("Hello")),
        "{head:?}"
    );
    // DEL + OUT removes it on the server.
    dte.cmd_expect("AT+POP3DEL=2", &["OK"]);
    dte.expect("+POP3: SUCCESS");
    dte.cmd_expect("AT+POP3OUT", &["OK"]);
    dte.expect("+POP3: SUCCESS");
    assert_eq!(srv.message_count().unwrap(), 2);
    // GET with delete, then STOP: the deletion is discarded.
    assert_eq!(pop3_login(&mut dte, srv.port, "simpass"), "+POP3: SUCCESS");
    dte.cmd_expect("AT+POP3GET=1,1", &["OK"]);
    dte.expect("+POP3: SUCCESS");
    assert!(dte.line().starts_with("C:/Email/"));
    dte.cmd_expect("AT+POP3STOP", &["OK"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(srv.message_count().unwrap(), 2);
    // A missing message: server error, the session goes on.
    assert_eq!(pop3_login(&mut dte, srv.port, "simpass"), "+POP3: SUCCESS");
    dte.cmd_expect("AT+POP3GET=9", &["OK"]);
    dte.expect("+POP3: SERVER ERROR");
    dte.cmd_expect("AT+POP3HDR=9", &["ERROR"]);
    dte.cmd_expect("AT+POP3NUM", &[&format!("+POP3: 2,{}", sizes[0] + sizes[2]), "OK"]);
    dte.cmd_expect("AT+POP3OUT", &["OK"]);
    dte.expect("+POP3: SUCCESS");
}

#[test]
fn pop3_server_gone_or_dropping() {
    let (_m, mut dte) = modem(&[]);
    // Nothing listening.
    assert_eq!(pop3_login(&mut dte, testbench::process::free_port().unwrap(), "p"), "+POP3: NETWORK ERROR");
    dte.cmd_expect("AT", &["OK"]);
    // A server that drops the session after login: noticed and reported.
    let peer = testbench::pop3_dropping_after_login(Duration::from_millis(300)).unwrap();
    assert_eq!(pop3_login(&mut dte, peer.port, "p"), "+POP3: SUCCESS");
    dte.expect("+POP3: NETWORK ERROR");
    dte.cmd_expect("AT+POP3NUM", &["ERROR"]);
    // The next login works.
    let ca = TestCa::new().unwrap();
    let srv = testbench::Pop3Server::start(&ca).unwrap();
    assert_eq!(pop3_login(&mut dte, srv.port, "simpass"), "+POP3: SUCCESS");
    dte.cmd_expect("AT+POP3NUM", &["+POP3: 0,0", "OK"]);
}

#[test]
fn smtp_and_pop3_over_tls_when_asked() {
    // Beyond the real module: --smtp-tls / --pop3-tls (off by default).
    let ca = TestCa::new().unwrap();
    let smtp = SmtpServer::start(&ca, SmtpOptions { auth_required: true, ..SmtpOptions::default() }).unwrap();
    let pop3 = testbench::Pop3Server::start(&ca).unwrap();
    pop3.add_message(MAIL2.as_bytes()).unwrap();
    let ca_file = ca.ca.to_str().unwrap();
    for (mode, smtp_port, pop3_port) in [("starttls", smtp.port, pop3.port), ("implicit", smtp.tls_port, pop3.tls_port)]
    {
        let (_m, mut dte) = modem(&["--ca", ca_file, "--smtp-tls", mode, "--pop3-tls", mode]);
        minimal(&mut dte, smtp_port);
        // By name: the certificate is checked against it.
        dte.cmd_expect(&format!("AT+SMTPSRV=\"localhost\",{smtp_port}"), &["OK"]);
        dte.cmd_expect(&format!("AT+SMTPAUTH=1,\"{}\",\"{}\"", smtp.user, smtp.password), &["OK"]);
        assert_eq!(send(&mut dte), "+SMTP: SUCCESS", "{mode}");
        assert!(smtp.received().unwrap().last().unwrap().tls, "{mode}: the mail went over TLS");
        dte.cmd_expect(&format!("AT+POP3SRV=\"localhost\",\"simuser\",\"simpass\",{pop3_port}"), &["OK"]);
        dte.cmd_expect("AT+POP3IN", &["OK"]);
        assert_eq!(dte.wait_for("+POP3: "), "+POP3: SUCCESS", "{mode}");
        dte.cmd_expect("AT+POP3NUM", &[&format!("+POP3: 1,{}", crlf(MAIL2).len()), "OK"]);
        dte.cmd_expect("AT+POP3OUT", &["OK"]);
        dte.expect("+POP3: SUCCESS");
    }
    // The wrong CA: refused.
    let (_m, mut dte) = modem(&["--ca", ca.other_ca.to_str().unwrap(), "--smtp-tls", "implicit"]);
    minimal(&mut dte, smtp.tls_port);
    dte.cmd_expect(&format!("AT+SMTPSRV=\"localhost\",{}", smtp.tls_port), &["OK"]);
    assert_eq!(send(&mut dte), "+SMTP: NETWORK ERROR");
}
