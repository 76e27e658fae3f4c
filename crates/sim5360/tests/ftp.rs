//! FTP and FTPS end to end: the real binary on a PTY against pyftpdlib on 127.0.0.1.
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;
use testbench::{Dte, FtpServer, ModemProcess, TestCa, Transport};

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
    let m = ModemProcess::start(bin(), Transport::Pty, extra).unwrap();
    let mut dte = m.open_pty().unwrap();
    dte.timeout = Duration::from_secs(60);
    dte.expect_eventually("PB DONE");
    dte.cmd_expect("ATE0", &["ATE0", "OK"]);
    dte.cmd_expect("AT+CMEE=1", &["OK"]);
    dte.cmd_expect("AT+CFTPSERV=\"127.0.0.1\"", &["OK"]);
    dte.cmd_expect(&format!("AT+CFTPPORT={}", ftp.port), &["OK"]);
    dte.cmd_expect(&format!("AT+CFTPUN=\"{}\"", ftp.user), &["OK"]);
    dte.cmd_expect(&format!("AT+CFTPPW=\"{}\"", ftp.password), &["OK"]);
    (m, dte)
}

/// Read `+<prefix>: DATA,<len>` blocks up to `+<prefix>: <code>`; returns (bytes, code).
fn collect(dte: &mut Dte, prefix: &str) -> (Vec<u8>, String) {
    let mut out = Vec::new();
    loop {
        let l = dte.line();
        if let Some(n) = l.strip_prefix(&format!("{prefix}: DATA,")) {
            let n: usize = n.parse().unwrap();
            assert!(n <= 1024, "block of {n}");
            out.extend(dte.bytes(n));
        } else if let Some(code) = l.strip_prefix(&format!("{prefix}: ")) {
            return (out, code.to_owned());
        } else {
            dte.fail(&format!("unexpected line {l:?}"));
        }
    }
}

fn get_to_dte(dte: &mut Dte, path: &str) -> (Vec<u8>, String) {
    dte.cmd_expect(&format!("AT+CFTPGET=\"{path}\""), &["OK"]);
    collect(dte, "+CFTPGET")
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
