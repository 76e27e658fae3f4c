//! Smoke tests: each real server answers an ordinary client (curl) on every port it opens,
//! TLS verified against the test CA (and refused with an unrelated CA).
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::{Command, Output};
use testbench::{FtpServer, HttpServer, Pop3Server, SmtpOptions, SmtpServer, TestCa};

fn curl(args: &[&str]) -> Output {
    Command::new("curl").args(["-sS", "--max-time", "20"]).args(args).output().expect("curl (scripts/install-deps.sh)")
}

fn ok(args: &[&str]) -> Vec<u8> {
    let out = curl(args);
    assert!(out.status.success(), "curl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// curl's exit code for `args` (must fail).
fn fails(args: &[&str]) -> i32 {
    let out = curl(args);
    assert!(!out.status.success(), "curl {args:?} should fail");
    out.status.code().unwrap_or(-1)
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

const MAIL: &str = "From: Alice <alice@example.test>\nTo: simuser@example.test\nSubject: Test message 1\n\
Message-ID: <m1@example.test>\n\nHello from message one.\n.leading dot line\n";

#[test]
fn pop3_plain_stls_and_pop3s() {
    let ca = TestCa::new().unwrap();
    let s = Pop3Server::start(&ca).unwrap();
    s.add_message(MAIL.as_bytes()).unwrap();
    s.add_message(b"Subject: second\n\nTwo.\n").unwrap();
    let user = format!("{}:{}", s.user, s.password);
    let plain = format!("pop3://127.0.0.1:{}/", s.port);
    let list = String::from_utf8(ok(&["-u", &user, &plain])).unwrap();
    assert_eq!(list.lines().count(), 2, "{list}");
    // RETR gives the message with CRLF line ends and the leading dot intact.
    let m1 = ok(&["-u", &user, &format!("{plain}1")]);
    assert_eq!(String::from_utf8(m1).unwrap().replace("\r\n", "\n").trim_end(), MAIL.trim_end());
    // STLS upgrade on the plain port, verified against the test CA by name.
    let stls = format!("pop3://localhost:{}/", s.port);
    assert_eq!(ok(&["--ssl-reqd", "--cacert", p(&ca.ca), "-u", &user, &stls]).len(), list.len());
    // POP3S by name and by IP.
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("pop3s://{host}:{}/", s.tls_port);
        assert_eq!(ok(&["--cacert", p(&ca.ca), "-u", &user, &url]).len(), list.len());
    }
    // Wrong CA: certificate problem (60); wrong password: login denied (67).
    assert_eq!(fails(&["--cacert", p(&ca.other_ca), "-u", &user, &format!("pop3s://localhost:{}/", s.tls_port)]), 60);
    assert_eq!(fails(&["-u", "simuser:nope", &plain]), 67);
    // DELE through curl's custom request, committed at QUIT.
    ok(&["-u", &user, "-X", "DELE", "-I", &format!("{plain}1")]);
    assert_eq!(s.message_count().unwrap(), 1);
}

#[test]
fn smtp_auth_plain_login_starttls_and_implicit_tls() {
    let ca = TestCa::new().unwrap();
    let s = SmtpServer::start(&ca, SmtpOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("mail.txt");
    std::fs::write(&mail, "Subject: hi\r\n\r\nline one\r\n.dot line\r\n").unwrap();
    let user = format!("{}:{}", s.user, s.password);
    let send = |url: &str, extra: &[&str]| {
        let mut args = vec![url, "--mail-from", "sim@example.test", "--mail-rcpt", "bob@example.test", "-T", p(&mail)];
        args.extend_from_slice(extra);
        ok(&args);
    };
    let plain = format!("smtp://127.0.0.1:{}", s.port);
    send(&plain, &["-u", &user, "--login-options", "AUTH=PLAIN"]);
    send(&plain, &["-u", &user, "--login-options", "AUTH=LOGIN"]);
    send(&format!("smtp://localhost:{}", s.port), &["--ssl-reqd", "--cacert", p(&ca.ca), "-u", &user]);
    send(&format!("smtps://localhost:{}", s.tls_port), &["--cacert", p(&ca.ca), "-u", &user]);
    send(&plain, &[]);
    let got = s.received().unwrap();
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|m| m.mail_from == "sim@example.test" && m.rcpt_tos == ["bob@example.test"]));
    assert_eq!(got.iter().map(|m| m.auth_user.is_some()).collect::<Vec<_>>(), [true, true, true, true, false]);
    assert_eq!(got.iter().map(|m| m.tls).collect::<Vec<_>>(), [false, false, true, true, false]);
    // Dot-unstuffed, CRLF kept.
    assert!(got[0].data.ends_with(b"line one\r\n.dot line\r\n"), "{:?}", String::from_utf8_lossy(&got[0].data));
    // Wrong password (67) and the wrong CA (60).
    let wrong = ["--mail-from", "a@b", "--mail-rcpt", "c@d", "-T", p(&mail), "-u", "simuser:bad"];
    assert_eq!(fails(&[&[plain.as_str()][..], &wrong[..]].concat()), 67);
    let smtps = format!("smtps://localhost:{}", s.tls_port);
    assert_eq!(
        fails(&[
            smtps.as_str(),
            "--cacert",
            p(&ca.other_ca),
            "--mail-from",
            "a@b",
            "--mail-rcpt",
            "c@d",
            "-T",
            p(&mail)
        ]),
        60
    );
    assert_eq!(s.received().unwrap().len(), 5);
}

#[test]
fn smtp_auth_required() {
    let ca = TestCa::new().unwrap();
    let s = SmtpServer::start(&ca, SmtpOptions { auth_required: true, ..SmtpOptions::default() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("m");
    std::fs::write(&mail, "Subject: x\r\n\r\nx\r\n").unwrap();
    let url = format!("smtp://127.0.0.1:{}", s.port);
    fails(&[&url, "--mail-from", "a@b", "--mail-rcpt", "c@d", "-T", p(&mail)]);
    assert!(s.received().unwrap().is_empty());
}

#[test]
fn ftp_plain_explicit_implicit_passive_active() {
    let ca = TestCa::new().unwrap();
    let s = FtpServer::start(&ca).unwrap();
    let blob = testbench::http::pattern(1 << 20, 7);
    s.put("dir/blob.bin", &blob).unwrap();
    let user = format!("{}:{}", s.user, s.password);
    let dir = tempfile::tempdir().unwrap();
    let up = dir.path().join("up.bin");
    std::fs::write(&up, testbench::http::pattern(300_000, 9)).unwrap();
    let urls = [
        (format!("ftp://127.0.0.1:{}/", s.port), vec![]),
        (format!("ftp://localhost:{}/", s.explicit_port), vec!["--ssl-reqd", "--cacert", p(&ca.ca)]),
        (format!("ftps://localhost:{}/", s.implicit_port), vec!["--cacert", p(&ca.ca)]),
    ];
    for (i, (base, tls)) in urls.iter().enumerate() {
        // Active mode on the plain port only: curl 7.88 stalls in active mode over TLS
        // against pyftpdlib, so that case is left to the modem's own FTPS tests.
        let modes: &[&[&str]] = if i == 0 { &[&["--ftp-pasv"], &["--ftp-port", "-"]] } else { &[&["--ftp-pasv"]] };
        for mode in modes.iter().copied() {
            let args = |extra: &[&str]| -> Vec<String> {
                [tls.as_slice(), mode, &["-u", user.as_str()], extra].concat().into_iter().map(str::to_owned).collect()
            };
            let ok = |a: Vec<String>| ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
            let names = String::from_utf8(ok(args(&["-l", &format!("{base}dir/")]))).unwrap();
            assert!(names.lines().any(|l| l == "blob.bin"), "{names}");
            let got = ok(args(&[&format!("{base}dir/blob.bin")]));
            assert_eq!(Sha256::digest(&got), Sha256::digest(&blob));
            let target = format!("{base}up/{i}-{}.bin", mode.len());
            ok(args(&["--ftp-create-dirs", "-T", p(&up), &target]));
        }
    }
    for f in ["0-1", "0-2", "1-1", "2-1"] {
        let on_disk = std::fs::read(s.root().join(format!("up/{f}.bin"))).unwrap();
        assert_eq!(on_disk, std::fs::read(&up).unwrap(), "{f}");
    }
    // TLS required on the explicit port; wrong CA refused; wrong password refused.
    fails(&["-u", &user, "-l", &format!("ftp://127.0.0.1:{}/", s.explicit_port)]);
    assert_eq!(
        fails(&["--cacert", p(&ca.other_ca), "-u", &user, "-l", &format!("ftps://localhost:{}/", s.implicit_port)]),
        60
    );
    assert_eq!(fails(&["-u", "simuser:bad", "-l", &format!("ftp://127.0.0.1:{}/", s.port)]), 67);
}

#[test]
fn http_and_https() {
    let ca = TestCa::new().unwrap();
    let s = HttpServer::start(&ca).unwrap();
    let bases = [
        (format!("http://127.0.0.1:{}", s.port), vec![]),
        (format!("https://localhost:{}", s.tls_port), vec!["--cacert", p(&ca.ca)]),
        (format!("https://127.0.0.1:{}", s.tls_port), vec!["--cacert", p(&ca.ca)]),
    ];
    for (base, tls) in &bases {
        let get = |path: &str, extra: &[&str]| ok(&[tls.as_slice(), extra, &[&format!("{base}{path}")]].concat());
        assert_eq!(get("/hello.txt", &[]), b"hello from nginx\n");
        for (name, bytes) in testbench::http::static_files() {
            assert_eq!(Sha256::digest(get(&format!("/{name}"), &[])), Sha256::digest(&bytes), "{name}");
        }
        assert_eq!(get("/echo", &["--data-binary", "a=1&b=two"]), b"a=1&b=two");
        let raw = String::from_utf8(get("/chunked", &["--raw", "-i"])).unwrap();
        assert!(
            raw.contains("Transfer-Encoding: chunked") && raw.contains("chunk one") && raw.ends_with("0\r\n\r\n"),
            "{raw}"
        );
        let head = String::from_utf8(get("/redirect", &["-i"])).unwrap();
        assert!(head.starts_with("HTTP/1.1 302"), "{head}");
        let nf = String::from_utf8(get("/status/404", &["-i"])).unwrap();
        assert!(nf.starts_with("HTTP/1.1 404") && nf.ends_with("not here\n"), "{nf}");
        let code = get("/upload/sub/put.txt", &["-T", "-", "-w", "%{http_code}", "-o", "/dev/null"]);
        assert!(code == b"201" || code == b"204", "{code:?}");
    }
    assert!(s.www().join("upload/sub/put.txt").exists());
    assert_eq!(fails(&["--cacert", p(&ca.other_ca), &format!("https://localhost:{}/hello.txt", s.tls_port)]), 60);
}
