//! E-mail end to end: the real binary on a PTY against aiosmtpd (SMTP) and dovecot (POP3).
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use mail_parser::{MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;
use testbench::{Dte, ModemProcess, Peer, SmtpOptions, SmtpServer, TestCa, Transport};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sim5360"))
}

fn sha(b: &[u8]) -> String {
    format!("{:x}", Sha256::digest(b))
}

fn modem(extra: &[&str]) -> (ModemProcess, Dte) {
    let m = ModemProcess::start(bin(), Transport::Pty, extra).unwrap();
    let mut dte = m.open_pty().unwrap();
    dte.timeout = Duration::from_secs(60);
    dte.expect_eventually("PB DONE");
    dte.cmd_expect("ATE0", &["ATE0", "OK"]);
    (m, dte)
}

fn efs_put(dte: &mut Dte, path: &str, content: &[u8]) {
    dte.send_line(&format!("AT+CFTRANRX=\"{path}\",{}", content.len()));
    dte.expect(">");
    dte.send(content);
    dte.expect("OK");
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
    efs_put(&mut dte, "C:/note.txt", &txt);
    efs_put(&mut dte, "C:/Picture/photo.jpg", &jpg);
    efs_put(&mut dte, "C:/data.bin", &bin);
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
    let (_m, mut dte) = modem(&["--net-timeout", "2"]);
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
    efs_put(&mut dte, "C:/gone.txt", b"x");
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
