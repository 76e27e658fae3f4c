//! The SIM's identity from the command line, and bad identity flags refused at start.
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use std::path::Path;
use std::process::Command;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sim5360"))
}

#[test]
fn msisdn_and_iccid_flags_reach_the_answers() {
    let (_m, mut dte) =
        testbench::ready_modem(bin(), &["--msisdn", "+4915112345678", "--iccid", "89490200001234567890", "--no-nmea"])
            .unwrap();
    dte.line_end = b"\r\n";
    dte.cmd_expect("AT+CNUM", &["+CNUM: \"\",\"+4915112345678\",145", "OK"]);
    dte.cmd_expect("AT+CICCID", &["+ICCID: 89490200001234567890", "OK"]);
    dte.cmd_expect("AT+CCID", &["+CCID: 89490200001234567890", "OK"]);
    // A national number has type 129; `none`: a SIM without a number.
    let (_m, mut dte) = testbench::ready_modem(bin(), &["--msisdn", "015112345678", "--no-nmea"]).unwrap();
    dte.cmd_expect("AT+CNUM", &["+CNUM: \"\",\"015112345678\",129", "OK"]);
    let (_m, mut dte) = testbench::ready_modem(bin(), &["--msisdn", "none", "--no-nmea"]).unwrap();
    dte.cmd_expect("AT+CNUM", &["OK"]);
}

#[test]
fn bad_identity_flags_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    for (args, want) in [
        (["--msisdn", "+12"], "--msisdn"),
        (["--msisdn", "12a45"], "--msisdn"),
        (["--iccid", "8949"], "--iccid"),
        (["--iccid", "8949020000123456789X"], "--iccid"),
    ] {
        let out = Command::new(bin())
            .args(["--stdio", "--efs"])
            .arg(dir.path().join("efs"))
            .arg("--state")
            .arg(dir.path().join("state"))
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} accepted");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}
