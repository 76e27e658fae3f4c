//! FTP and FTPS end to end: the real binary on a PTY against pyftpdlib on 127.0.0.1.
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use sha2::{Digest, Sha256};
use std::path::Path;
use testbench::{Dte, FtpServer, ModemProcess, TestCa};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sim5360"))
}

fn data(len: usize, seed: u32) -> Vec<u8> {
    testbench::http::pattern(len, seed)
}

fn sha(b: &[u8]) -> String {
    format!("{:x}", Sha256::digest(b))
}

/// A modem on a PTY, echo off, verbose CME errors, FTP server configured.
fn modem(ftp: &FtpServer, extra: &[&str]) -> (ModemProcess, Dte) {
    let (m, mut dte) = ftps_modem(extra);
    ftp.configure(&mut dte);
    (m, dte)
}

fn get_to_dte(dte: &mut Dte, path: &str) -> (Vec<u8>, String) {
    dte.cmd_expect(&format!("AT+CFTPGET=\"{path}\""), &["OK"]);
    dte.blocks("+CFTPGET")
}

#[test]
fn transfers_through_the_serial_port_and_the_efs() {
    let ca = TestCa::new().unwrap();
    let ftp = FtpServer::start(&ca).unwrap();
    let (m, mut dte) = modem(&ftp, &[]);
    dte.cmd_expect("AT+CFTPMKD=\"/up\"", &["OK"]);
    for mode in [1, 0] {
        dte.cmd_expect(&format!("AT+CFTPMODE={mode}"), &["OK"]);
        for (len, seed) in [(0usize, 1u32), (1, 2), (1 << 20, 3), (10 << 20, 4)] {
            let name = format!("m{mode}-{len}.bin");
            let content = data(len, seed);
            ftp.put(&format!("down/{name}"), &content).unwrap();
            // Server -> serial port.
            let (got, code) = get_to_dte(&mut dte, &format!("/down/{name}"));
            assert_eq!(code, "0", "{name}");
            assert_eq!(sha(&got), sha(&content), "CFTPGET {name}");
            // Server -> EFS (current directory C:/).
            dte.cmd_expect(&format!("AT+CFTPGETFILE=\"/down/{name}\",0"), &["OK"]);
            dte.expect("+CFTPGETFILE: 0");
            let local = std::fs::read(m.efs().join("C").join(&name)).unwrap();
            assert_eq!(sha(&local), sha(&content), "CFTPGETFILE {name}");
            // EFS -> server.
            dte.cmd_expect(&format!("AT+CFTPPUTFILE=\"/up/{name}\",0"), &["OK"]);
            dte.expect("+CFTPPUTFILE: 0");
            assert_eq!(
                sha(&std::fs::read(ftp.root().join("up").join(&name)).unwrap()),
                sha(&content),
                "PUTFILE {name}"
            );
        }
    }
    dte.cmd_expect("AT", &["OK"]);
}

/// Upload from the serial port: `+CFTPPUT: BEGIN`, the data, Ctrl-Z, `OK`.
fn put_from_dte(dte: &mut Dte, path: &str, content: &[u8]) -> Vec<String> {
    dte.send_line(&format!("AT+CFTPPUT=\"{path}\""));
    let first = dte.line();
    if first != "+CFTPPUT: BEGIN" {
        return vec![first];
    }
    for piece in content.chunks(64 * 1024) {
        dte.send(piece);
    }
    dte.send(b"\x1a");
    vec![first, dte.line()]
}

#[test]
fn upload_from_the_serial_port() {
    let ca = TestCa::new().unwrap();
    let ftp = FtpServer::start(&ca).unwrap();
    let (_m, mut dte) = modem(&ftp, &[]);
    dte.cmd_expect("AT+CFTPMODE=1", &["OK"]);
    for (len, seed) in [(0usize, 11u32), (1, 12), (1 << 20, 13), (10 << 20, 14)] {
        // Ctrl-Z ends the data: this form cannot carry 0x1A (spec §5.10), every other byte goes.
        let content: Vec<u8> = data(len + len / 200, seed).into_iter().filter(|b| *b != 0x1a).take(len).collect();
        let name = format!("serial-{len}.bin");
        assert_eq!(put_from_dte(&mut dte, &format!("/{name}"), &content), ["+CFTPPUT: BEGIN", "OK"], "{name}");
        assert_eq!(sha(&std::fs::read(ftp.root().join(&name)).unwrap()), sha(&content), "{name}");
    }
    dte.cmd_expect("AT", &["OK"]);
}

#[test]
fn list_mkdir_rmdir_delete() {
    let ca = TestCa::new().unwrap();
    let ftp = FtpServer::start(&ca).unwrap();
    ftp.put("d/a.txt", b"hello").unwrap();
    let (_m, mut dte) = modem(&ftp, &[]);
    dte.cmd_expect("AT+CFTPMODE=1", &["OK"]);
    dte.cmd_expect("AT+CFTPLIST=\"/d\"", &["OK"]);
    let (listing, code) = dte.blocks("+CFTPLIST");
    assert_eq!(code, "0");
    let listing = String::from_utf8(listing).unwrap();
    assert!(listing.lines().any(|l| l.ends_with(" a.txt") && l.split_whitespace().nth(4) == Some("5")), "{listing}");
    dte.cmd_expect("AT+CFTPMKD=\"/d/new\"", &["OK"]);
    assert!(ftp.root().join("d/new").is_dir());
    dte.cmd_expect("AT+CFTPMKD=\"/d/new\"", &["+CME ERROR: 211"]);
    dte.cmd_expect("AT+CFTPRMD=\"/d/new\"", &["OK"]);
    assert!(!ftp.root().join("d/new").exists());
    dte.cmd_expect("AT+CFTPDELE=\"/d/a.txt\"", &["OK"]);
    assert!(!ftp.root().join("d/a.txt").exists());
    dte.cmd_expect("AT+CFTPDELE=\"/d/a.txt\"", &["+CME ERROR: 211"]);
    // Listing the login directory (no argument).
    dte.cmd_expect("AT+CFTPLIST", &["OK"]);
    let (listing, code) = dte.blocks("+CFTPLIST");
    assert_eq!(code, "0");
    assert!(String::from_utf8(listing).unwrap().lines().any(|l| l.ends_with(" d")));
}

#[test]
fn ascii_type_converts_line_ends_and_rest_resumes() {
    let ca = TestCa::new().unwrap();
    let ftp = FtpServer::start(&ca).unwrap();
    ftp.put("text.txt", b"one\ntwo\nthree\n").unwrap();
    let (m, mut dte) = modem(&ftp, &[]);
    dte.cmd_expect("AT+CFTPMODE=1", &["OK"]);
    dte.cmd_expect("AT+CFTPTYPE=A", &["OK"]);
    dte.cmd_expect("AT+CFTPTYPE?", &["+CFTPTYPE: A", "OK"]);
    let (got, code) = get_to_dte(&mut dte, "/text.txt");
    assert_eq!(code, "0");
    assert_eq!(got, b"one\r\ntwo\r\nthree\r\n", "ASCII type: CR LF on the wire");
    // Uploading LF text in ASCII type: CR LF on the wire, the server stores its own line end.
    assert_eq!(put_from_dte(&mut dte, "/up.txt", b"a\nb\n"), ["+CFTPPUT: BEGIN", "OK"]);
    assert_eq!(std::fs::read(ftp.root().join("up.txt")).unwrap(), b"a\nb\n");
    dte.cmd_expect("AT+CFTPTYPE=I", &["OK"]);
    let (got, _) = get_to_dte(&mut dte, "/text.txt");
    assert_eq!(got, b"one\ntwo\nthree\n", "binary type: bytes as stored");

    // REST: the rest of a file from an offset, to the DTE and into the EFS.
    let big = data(100_000, 21);
    ftp.put("big.bin", &big).unwrap();
    dte.cmd_expect("AT+CFTPGET=\"/big.bin\",60000", &["OK"]);
    let (tail, code) = dte.blocks("+CFTPGET");
    assert_eq!(code, "0");
    assert_eq!(tail, big[60000..]);
    // A partial local file completed with REST.
    dte.send_line("AT+CFTRANRX=\"C:/big.bin\",40000");
    dte.expect(">");
    dte.send(&big[..40000]);
    dte.expect("OK");
    dte.cmd_expect("AT+CFTPGETFILE=\"/big.bin\",0,40000", &["OK"]);
    dte.expect("+CFTPGETFILE: 0");
    assert_eq!(sha(&std::fs::read(m.efs().join("C/big.bin")).unwrap()), sha(&big));
    // Upload resumed: the server has the first 30000 bytes, REST + STOR sends the rest.
    std::fs::write(ftp.root().join("resume.bin"), &big[..30000]).unwrap();
    testbench::process::give(&ftp.root().join("resume.bin")).unwrap();
    std::fs::copy(m.efs().join("C/big.bin"), m.efs().join("C/resume.bin")).unwrap();
    dte.cmd_expect("AT+CFTPPUTFILE=\"/resume.bin\",0,30000", &["OK"]);
    dte.expect("+CFTPPUTFILE: 0");
    assert_eq!(sha(&std::fs::read(ftp.root().join("resume.bin")).unwrap()), sha(&big));
}

#[test]
fn failures_have_their_codes_and_the_modem_stays_responsive() {
    let ca = TestCa::new().unwrap();
    let ftp = FtpServer::start(&ca).unwrap();
    ftp.put("f.bin", &data(5000, 31)).unwrap();
    let (m, mut dte) = modem(&ftp, &["--efs-size", "1048576"]);
    dte.cmd_expect("AT+CFTPMODE=1", &["OK"]);
    // Wrong password: 208.
    dte.cmd_expect("AT+CFTPPW=\"wrong\"", &["OK"]);
    assert_eq!(get_to_dte(&mut dte, "/f.bin"), (Vec::new(), "208".to_owned()));
    dte.cmd_expect("AT+CFTPMKD=\"/x\"", &["+CME ERROR: 208"]);
    dte.cmd_expect(&format!("AT+CFTPPW=\"{}\"", ftp.password), &["OK"]);
    // Missing remote file: 211, and no local file left behind.
    dte.cmd_expect("AT+CFTPGETFILE=\"/nope.bin\",0", &["OK"]);
    dte.expect("+CFTPGETFILE: 211");
    assert!(!m.efs().join("C/nope.bin").exists());
    // Missing local file for an upload: 205 at once.
    dte.cmd_expect("AT+CFTPPUTFILE=\"/nothing.bin\",0", &["+CME ERROR: 205"]);
    // The EFS runs out of room: 206, nothing stored.
    ftp.put("huge.bin", &data(2 << 20, 32)).unwrap();
    dte.cmd_expect("AT+CFTPGETFILE=\"/huge.bin\",0", &["OK"]);
    dte.expect("+CFTPGETFILE: 206");
    assert!(!m.efs().join("C/huge.bin").exists());
    dte.cmd_expect("AT", &["OK"]);
    // Busy: a second operation while one runs gets 202; setters answer ERROR (the line
    // starts the transfer, so it is surely running). URCs wait for the line's answer.
    ftp.put("slow.bin", &data(10 << 20, 33)).unwrap();
    dte.cmd_expect("AT+CFTPGET=\"/slow.bin\";+CFTPGET=\"/f.bin\"", &["+CME ERROR: 202"]);
    let (got, code) = dte.blocks("+CFTPGET");
    assert_eq!((got.len(), code.as_str()), (10 << 20, "0"));
    dte.cmd_expect("AT+CFTPGET=\"/slow.bin\";+CFTPPORT=21", &["ERROR"]);
    assert_eq!(dte.blocks("+CFTPGET").1, "0");
    dte.cmd_expect("AT+CFTPGET=\"/slow.bin\";+CFTPSERV=\"localhost\"", &["ERROR"]);
    assert_eq!(dte.blocks("+CFTPGET").1, "0");
    // While data flows the serial line still answers: an AT sent after the first block is
    // answered between two blocks, never inside one.
    dte.cmd_expect("AT+CFTPGET=\"/slow.bin\"", &["OK"]);
    let mut got = Vec::new();
    let mut sent_at = false;
    let mut answered = false;
    loop {
        let l = dte.line();
        if let Some(n) = l.strip_prefix("+CFTPGET: DATA,") {
            got.extend(dte.bytes(n.parse().unwrap()));
            if !sent_at {
                dte.send_line("AT+CSQ");
                sent_at = true;
            }
        } else if l == "+CSQ: 21,99" {
            dte.expect("OK");
            answered = true;
        } else {
            assert_eq!(l, "+CFTPGET: 0");
            break;
        }
    }
    assert!(answered, "AT+CSQ answered during the transfer");
    assert_eq!(sha(&got), sha(&data(10 << 20, 33)), "no byte lost around the answer");

    // Nothing listening: 214.
    let closed = testbench::process::free_port().unwrap();
    dte.cmd_expect(&format!("AT+CFTPPORT={closed}"), &["OK"]);
    assert_eq!(get_to_dte(&mut dte, "/f.bin").1, "214");
    // Unresolvable name (a label over 63 bytes is refused by the resolver itself, so no
    // query leaves the machine): 203.
    dte.cmd_expect(&format!("AT+CFTPSERV=\"{}.invalid\"", "x".repeat(64)), &["OK"]);
    assert_eq!(get_to_dte(&mut dte, "/f.bin").1, "203");
    dte.cmd_expect("AT", &["OK"]);
}

#[test]
fn server_dropping_the_data_connection() {
    let ca = TestCa::new().unwrap();
    let ftp = FtpServer::start(&ca).unwrap();
    let peer = testbench::ftp_truncating(100_000, 30_000).unwrap();
    let (m, mut dte) = modem(&ftp, &["--net-timeout", "2s"]);
    dte.cmd_expect(&format!("AT+CFTPPORT={}", peer.port), &["OK"]);
    dte.cmd_expect("AT+CFTPMODE=1", &["OK"]);
    dte.cmd_expect("AT+CFTPGETFILE=\"/f.bin\",0", &["OK"]);
    dte.expect("+CFTPGETFILE: 210");
    assert!(!m.efs().join("C/f.bin").exists(), "no partial file");
    assert!(std::fs::read_dir(m.efs().join(".staging")).unwrap().next().is_none(), "staging cleaned");
    dte.cmd_expect("AT", &["OK"]);
    let (got, code) = get_to_dte(&mut dte, "/f.bin");
    assert_eq!((got.len(), code.as_str()), (30_000, "210"));
    // A silent server: the FTP timeout code (after --net-timeout).
    let silent = testbench::Peer::silent().unwrap();
    dte.cmd_expect(&format!("AT+CFTPPORT={}", silent.port), &["OK"]);
    assert_eq!(get_to_dte(&mut dte, "/f.bin").1, "204");
    // A reply too large for the module's buffers: memory error.
    let mut huge = b"220 ".to_vec();
    huge.extend(std::iter::repeat_n(b'x', 20_000));
    let n = huge.len();
    let big = testbench::Peer::close_after(huge, n).unwrap();
    dte.cmd_expect(&format!("AT+CFTPPORT={}", big.port), &["OK"]);
    assert_eq!(get_to_dte(&mut dte, "/f.bin").1, "212");
    // Garbage instead of FTP: unknown error.
    let garbage = testbench::Peer::garbage(64).unwrap();
    dte.cmd_expect(&format!("AT+CFTPPORT={}", garbage.port), &["OK"]);
    assert_eq!(get_to_dte(&mut dte, "/f.bin").1, "201");
    dte.cmd_expect("AT", &["OK"]);
}

/// A modem that trusts `ca_file`, echo off, numeric CME errors.
fn ftps_modem(extra: &[&str]) -> (ModemProcess, Dte) {
    let (m, mut dte) = testbench::ready_modem(bin(), extra).unwrap();
    dte.cmd_expect("AT+CMEE=1", &["OK"]);
    (m, dte)
}

#[test]
fn ftps_sessions_explicit_implicit_and_plain() {
    let ca = TestCa::new().unwrap();
    let ftp = FtpServer::start(&ca).unwrap();
    let (m, mut dte) = ftps_modem(&["--ca", ca.ca.to_str().unwrap()]);
    let big = data(1 << 20, 41);
    dte.efs_put("C:/big.bin", &big);
    // Not started / not logged in: 207.
    dte.cmd_expect("AT+CFTPSLOGIN=\"localhost\",21,\"u\",\"p\"", &["+CME ERROR: 207"]);
    dte.cmd_expect("AT+CFTPSSTART", &["OK"]);
    dte.cmd_expect("AT+CFTPSSTART", &["ERROR"]);
    dte.cmd_expect("AT+CFTPSMKD=\"x\"", &["+CME ERROR: 207"]);
    for (port, server_type) in [(ftp.explicit_port, 2), (ftp.implicit_port, 3), (ftp.explicit_port, 1), (ftp.port, 0)] {
        let dir = format!("s{server_type}");
        let login = format!("AT+CFTPSLOGIN=\"localhost\",{port},\"{}\",\"{}\",{server_type}", ftp.user, ftp.password);
        dte.cmd_expect(&login, &["OK"]);
        dte.expect("+CFTPSLOGIN: 0");
        dte.cmd_expect(&format!("AT+CFTPSMKD=\"{dir}\""), &["OK"]);
        dte.cmd_expect(&format!("AT+CFTPSCWD=\"{dir}\""), &["OK"]);
        dte.cmd_expect("AT+CFTPSPWD", &[&format!("+CFTPSPWD: \"/{dir}\""), "OK"]);
        dte.cmd_expect("AT+CFTPSPUTFILE=\"big.bin\",0", &["OK"]);
        dte.expect("+CFTPSPUTFILE: 0");
        let up = std::fs::read(ftp.root().join(&dir).join("big.bin")).unwrap();
        assert_eq!((up.len(), sha(&up)), (big.len(), sha(&big)), "{dir}");
        dte.cmd_expect("AT+CFTPSGET=\"big.bin\"", &["OK"]);
        let (got, code) = dte.blocks("+CFTPSGET");
        assert_eq!((sha(&got), code.as_str()), (sha(&big), "0"), "{dir}");
        dte.cmd_expect("AT+CFTPSGETFILE=\"big.bin\",1", &["OK"]);
        dte.expect("+CFTPSGETFILE: 0");
        assert_eq!(sha(&std::fs::read(m.efs().join("C/Picture/big.bin")).unwrap()), sha(&big));
        std::fs::remove_file(m.efs().join("C/Picture/big.bin")).unwrap();
        dte.send_line("AT+CFTPSPUT=\"typed.txt\"");
        dte.expect("+CFTPSPUT: BEGIN");
        dte.send(b"typed over the serial port\r\n\x1a");
        dte.expect("OK");
        assert_eq!(std::fs::read(ftp.root().join(&dir).join("typed.txt")).unwrap(), b"typed over the serial port\r\n");
        dte.cmd_expect("AT+CFTPSLIST", &["OK"]);
        let (listing, code) = dte.blocks("+CFTPSLIST");
        assert_eq!(code, "0");
        let listing = String::from_utf8(listing).unwrap();
        assert!(listing.contains("big.bin") && listing.contains("typed.txt"), "{listing}");
        dte.cmd_expect("AT+CFTPSDEL=\"big.bin\"", &["OK"]);
        dte.cmd_expect("AT+CFTPSDELE=\"typed.txt\"", &["OK"]);
        dte.cmd_expect("AT+CFTPSDEL=\"typed.txt\"", &["+CME ERROR: 211"]);
        dte.cmd_expect("AT+CFTPSCWD=\"/\"", &["OK"]);
        dte.cmd_expect(&format!("AT+CFTPSRMD=\"{dir}\""), &["OK"]);
        assert!(!ftp.root().join(&dir).exists());
        // A second login while logged in is not allowed.
        dte.cmd_expect(&login, &["+CME ERROR: 207"]);
        dte.cmd_expect("AT+CFTPSLOGOUT", &["OK"]);
        dte.expect("+CFTPSLOGOUT: 0");
        dte.cmd_expect("AT+CFTPSLOGOUT", &["+CME ERROR: 207"]);
    }
    dte.cmd_expect("AT+CFTPSSTOP", &["OK"]);
    dte.expect("+CFTPSSTOP: 0");
    dte.cmd_expect("AT+CFTPSSTOP", &["ERROR"]);
}

#[test]
fn ftps_certificate_verification() {
    let ca = TestCa::new().unwrap();
    let ftp = FtpServer::start(&ca).unwrap();
    let login = format!("AT+CFTPSLOGIN=\"localhost\",{},\"{}\",\"{}\",3", ftp.implicit_port, ftp.user, ftp.password);
    // The wrong CA: the network error code, and a log line saying why.
    let (m, mut dte) = ftps_modem(&["--ca", ca.other_ca.to_str().unwrap()]);
    dte.cmd_expect("AT+CFTPSSTART", &["OK"]);
    dte.cmd_expect(&login, &["+CME ERROR: 214"]);
    let log = m.stderr_log();
    assert!(log.contains("TLS handshake with localhost failed") && log.contains("certificate"), "{log}");
    dte.cmd_expect("AT", &["OK"]);
    // The same wrong CA with --tls-insecure: no verification, as the real module.
    let (_m, mut dte) = ftps_modem(&["--ca", ca.other_ca.to_str().unwrap(), "--tls-insecure"]);
    dte.cmd_expect("AT+CFTPSSTART", &["OK"]);
    dte.cmd_expect(&login, &["OK"]);
    dte.expect("+CFTPSLOGIN: 0");
    dte.cmd_expect("AT+CFTPSPWD", &["+CFTPSPWD: \"/\"", "OK"]);
    // The right CA, and a certificate for another name: refused.
    let (_m, mut dte) = ftps_modem(&["--ca", ca.ca.to_str().unwrap()]);
    let wrong = testbench::Peer::tls_wrong_name(&ca, b"220 hello\r\n".to_vec()).unwrap();
    dte.cmd_expect("AT+CFTPSSTART", &["OK"]);
    dte.cmd_expect(&format!("AT+CFTPSLOGIN=\"localhost\",{},\"u\",\"p\",3", wrong.port), &["+CME ERROR: 214"]);
    dte.cmd_expect(&login, &["OK"]);
    dte.expect("+CFTPSLOGIN: 0");
}

#[test]
fn sim7600_profile_reports_asynchronously() {
    let ca = TestCa::new().unwrap();
    let ftp = FtpServer::start(&ca).unwrap();
    let (_m, mut dte) = ftps_modem(&["--profile", "sim7600", "--ca", ca.ca.to_str().unwrap()]);
    dte.cmd_expect("AT+CFTPSSTART", &["OK"]);
    dte.expect("+CFTPSSTART: 0");
    dte.cmd_expect("AT+CFTPSSINGLEIP=1", &["OK"]);
    dte.cmd_expect(
        &format!("AT+CFTPSLOGIN=\"localhost\",{},\"{}\",\"{}\",2", ftp.explicit_port, ftp.user, ftp.password),
        &["OK"],
    );
    dte.expect("+CFTPSLOGIN: 0");
    dte.cmd_expect("AT+CFTPSMKD=\"d\"", &["OK"]);
    dte.expect("+CFTPSMKD: 0");
    dte.cmd_expect("AT+CFTPSCWD=\"d\"", &["OK"]);
    dte.expect("+CFTPSCWD: 0");
    dte.cmd_expect("AT+CFTPSPWD", &["OK"]);
    dte.expect("+CFTPSPWD: \"/d\"");
    // The length form of uploads: `>`, exactly <len> bytes (0x1A included), OK, result.
    let blob = data(200_000, 51);
    dte.send_line(&format!("AT+CFTPSPUT=\"blob.bin\",{}", blob.len()));
    dte.expect(">");
    dte.send(&blob);
    dte.expect("OK");
    dte.expect("+CFTPSPUT: 0");
    assert_eq!(sha(&std::fs::read(ftp.root().join("d/blob.bin")).unwrap()), sha(&blob));
    dte.cmd_expect("AT+CFTPSDELE=\"blob.bin\"", &["OK"]);
    dte.expect("+CFTPSDELE: 0");
    dte.cmd_expect("AT+CFTPSDELE=\"blob.bin\"", &["OK"]);
    dte.expect("+CFTPSDELE: 9");
    dte.cmd_expect("AT+CFTPSLOGOUT", &["OK"]);
    dte.expect("+CFTPSLOGOUT: 0");
    dte.cmd_expect("AT+CFTPSMKD=\"x\"", &["OK"]);
    dte.expect("+CFTPSMKD: 11");
    dte.cmd_expect("AT+CFTPSSTOP", &["OK"]);
    dte.expect("+CFTPSSTOP: 0");
}

/// Read a cached download with `AT+CFTPSCACHERD` until the cache is empty and the result
/// `<prefix>: <code>` has come, as a SIM5320 driver does: each read answers one block of at
/// most 1024 bytes (then `OK`) or `OK` alone; the result line may come at any point.
fn cache_read_all(dte: &mut Dte, prefix: &str) -> (Vec<u8>, String) {
    let data = format!("{prefix}: DATA,");
    let result = format!("{prefix}: ");
    let (mut out, mut code) = (Vec::new(), None::<String>);
    loop {
        dte.send_line("AT+CFTPSCACHERD");
        let mut empty = true;
        loop {
            let l = dte.line();
            if l == "OK" {
                break;
            } else if let Some(n) = l.strip_prefix(&data) {
                let n: usize = n.parse().unwrap();
                assert!(n > 0 && n <= 1024, "block of {n}");
                out.extend(dte.bytes(n));
                empty = false;
            } else if let Some(c) = l.strip_prefix(&result) {
                code = Some(c.to_owned());
            } else {
                dte.fail(&format!("unexpected {l:?}"));
            }
        }
        match (&code, empty) {
            (Some(c), true) => return (out, c.clone()),
            (None, true) => std::thread::sleep(std::time::Duration::from_millis(5)),
            _ => {}
        }
    }
}

/// `AT+CFTPSSTART`, then a login with explicit TLS: `OK`, then `+CFTPSLOGIN: 0`.
fn start_and_log_in(dte: &mut Dte, ftp: &FtpServer) {
    dte.cmd_expect("AT+CFTPSSTART", &["OK"]);
    dte.send_line(&format!(
        "AT+CFTPSLOGIN=\"localhost\",{},\"{}\",\"{}\",2",
        ftp.explicit_port, ftp.user, ftp.password
    ));
    dte.expect("OK");
    dte.expect("+CFTPSLOGIN: 0");
}

/// The flow of an mbed driver written for the SIM5320: `OK` then `+CFTPSLOGIN: 0`; listing
/// and download in cache mode read with `AT+CFTPSCACHERD`; upload in chunks
/// (`AT+CFTPSPUT="<path>",<len>`, `AT+CFTPSPUT=<len>`..., polled with `AT+CFTPSPUT?`,
/// ended by `AT+CFTPSPUT`); `OK` then `+CFTPSLOGOUT: 0` and `+CFTPSSTOP: 0`.
#[test]
fn ftps_cache_mode_and_chunked_upload_as_a_sim5320_driver_does() {
    let ca = TestCa::new().unwrap();
    let ftp = FtpServer::start(&ca).unwrap();
    let (_m, mut dte) = ftps_modem(&["--ca", ca.ca.to_str().unwrap()]);
    // 600 KiB: more than the cache holds, so the session waits for the reader.
    let big = data(600 * 1024 + 5, 61);
    ftp.put("pub/big.bin", &big).unwrap();
    start_and_log_in(&mut dte, &ftp);
    dte.cmd_expect("AT+CFTPSTYPE=I", &["OK"]);
    dte.cmd_expect("AT+CFTPSCWD=\"pub\"", &["OK"]);
    dte.cmd_expect("AT+CFTPSPWD", &["+CFTPSPWD: \"/pub\"", "OK"]);
    dte.cmd_expect("AT+CFTPSSIZE=\"big.bin\"", &[&format!("+CFTPSSIZE: 0,{}", big.len()), "OK"]);
    dte.cmd_expect("AT+CFTPSSIZE=\"none.bin\"", &["+CME ERROR: 211"]);
    // Listing through the cache.
    dte.cmd_expect("AT+CFTPSLIST=\"/pub\",1", &["OK"]);
    let (listing, code) = cache_read_all(&mut dte, "+CFTPSLIST");
    assert_eq!(code, "0");
    assert!(String::from_utf8(listing).unwrap().contains("big.bin"));
    // Download through the cache.
    dte.cmd_expect("AT+CFTPSGET=\"big.bin\",0,1", &["OK"]);
    // Nobody reads for a while: the cache stops at its bound (256 KiB plus one read).
    std::thread::sleep(std::time::Duration::from_millis(300));
    dte.send_line("AT+CFTPSCACHERD?");
    let cached: usize = dte.line().strip_prefix("+CFTPSCACHERD: ").unwrap().parse().unwrap();
    dte.expect("OK");
    assert!((1..=(256 + 64) * 1024).contains(&cached), "{cached} bytes cached");
    let (got, code) = cache_read_all(&mut dte, "+CFTPSGET");
    assert_eq!(code, "0");
    assert_eq!((got.len(), sha(&got)), (big.len(), sha(&big)));
    // Upload in 1024-byte chunks, pacing on AT+CFTPSPUT?.
    let up = data(10 * 1024 + 7, 62);
    dte.cmd_expect("AT+CFTPSPUT?", &["+CFTPSPUT: 0", "OK"]);
    for (i, chunk) in up.chunks(1024).enumerate() {
        if i == 0 {
            dte.send_line(&format!("AT+CFTPSPUT=\"up.bin\",{}", chunk.len()));
        } else {
            dte.send_line(&format!("AT+CFTPSPUT={}", chunk.len()));
        }
        dte.expect(">");
        dte.send(chunk);
        dte.expect("OK");
        if i % 4 == 3 {
            dte.cmd_expect("AT+CFTPSPUT?", &["+CFTPSPUT: 0", "OK"]);
        }
    }
    dte.cmd_expect("AT+CFTPSPUT", &["OK"]);
    dte.expect("+CFTPSPUT: 0");
    assert_eq!(sha(&std::fs::read(ftp.root().join("pub/up.bin")).unwrap()), sha(&up));
    dte.cmd_expect("AT+CFTPSPUT=5", &["ERROR"]);
    dte.cmd_expect("AT+CFTPSDELE=\"up.bin\"", &["OK"]);
    dte.cmd_expect("AT+CFTPSLOGOUT", &["OK"]);
    dte.expect("+CFTPSLOGOUT: 0");
    dte.cmd_expect("AT+CFTPSSTOP", &["OK"]);
    dte.expect("+CFTPSSTOP: 0");
    // Stopping while a cached download has filled the cache: answered at once, the unread
    // data dropped, and the stack works again.
    start_and_log_in(&mut dte, &ftp);
    dte.cmd_expect("AT+CFTPSGET=\"/pub/big.bin\",0,1", &["OK"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    dte.cmd_expect("AT+CFTPSSTOP", &["OK"]);
    dte.expect("+CFTPSSTOP: 0");
    dte.cmd_expect("AT+CFTPSCACHERD?", &["+CFTPSCACHERD: 0", "OK"]);
    start_and_log_in(&mut dte, &ftp);
    dte.cmd_expect("AT+CFTPSPWD", &["+CFTPSPWD: \"/\"", "OK"]);
}
