//! End to end: the real binary on a PTY, over TCP and over stdio, driven as a DTE would.
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use nix::sys::signal::Signal;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::{Duration, Instant};
use testbench::{Dte, ModemProcess, Transport};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sim5360"))
}

const BOOT: [&str; 7] = ["START", "+CPIN: READY", "OPL UPDATING", "PNN UPDATING", "SMS DONE", "CALL READY", "PB DONE"];

/// Deterministic pseudo-random bytes with every byte value (CR, Ctrl-Z, ESC included).
fn binary(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if i < 256 { i as u8 } else { (x >> 8) as u8 }
        })
        .collect()
}

/// Boot, echo, a concatenated line and a CFTRANRX/CFTRANTX round trip.
fn conversation(dte: &mut Dte, efs: &Path) {
    for urc in BOOT {
        dte.expect(urc);
    }
    // Echo is on at power-on.
    dte.send_line("AT");
    dte.expect("AT");
    dte.expect("OK");
    dte.cmd_expect("ATE0", &["ATE0", "OK"]);
    dte.cmd_expect("AT+CSQ;+CGMM;+CMEE=2;+CMEE?", &["+CSQ: 21,99", "SIMCOM_SIM5360E", "+CMEE: 2", "OK"]);

    let data = binary(100_000);
    dte.send_line(&format!("AT+CFTRANRX=\"C:/blob.bin\",{}", data.len()));
    dte.expect(">");
    for piece in data.chunks(7000) {
        dte.send(piece);
    }
    dte.expect("OK");
    let on_host = std::fs::read(efs.join("C/blob.bin")).expect("file stored in the EFS directory");
    assert_eq!(Sha256::digest(&on_host), Sha256::digest(&data));

    dte.send_line("AT+CFTRANTX=\"C:/blob.bin\"");
    let mut back = Vec::new();
    loop {
        let l = dte.line();
        if let Some(n) = l.strip_prefix("+CFTRANTX: DATA, ") {
            let n: usize = n.parse().expect("block length");
            assert!(n <= 512, "block of {n}");
            back.extend(dte.bytes(n));
        } else if l == "+CFTRANTX: 0" {
            break;
        } else {
            dte.fail(&format!("unexpected {l:?}"));
        }
    }
    dte.expect("OK");
    assert_eq!(Sha256::digest(&back), Sha256::digest(&data), "CFTRANTX returned the same bytes");
    dte.cmd_expect("AT", &["OK"]);
}

#[test]
fn pty_end_to_end() {
    let mut m = ModemProcess::start(bin(), Transport::Pty, &["--boot-delay", "200ms"]).unwrap();
    let link = m.link.clone().unwrap();
    assert_eq!(std::fs::read_link(&link).unwrap(), *m.tty.as_ref().unwrap(), "stable symlink to the PTY");
    let mut dte = testbench::open_tty(&link).unwrap();
    conversation(&mut dte, &m.efs());
    // The DTE closes the port and opens it again: the modem is still there.
    drop(dte);
    let mut dte = m.open_pty().unwrap();
    dte.cmd_expect("AT", &["OK"]);
    let st = m.signal(Signal::SIGTERM, Duration::from_secs(5)).unwrap();
    assert!(st.success(), "clean exit on SIGTERM: {st}");
    assert!(std::fs::symlink_metadata(&link).is_err(), "symlink removed on exit");
}

#[test]
fn pty_sigint_removes_link() {
    let mut m = ModemProcess::start(bin(), Transport::Pty, &[]).unwrap();
    let link = m.link.clone().unwrap();
    let st = m.signal(Signal::SIGINT, Duration::from_secs(5)).unwrap();
    assert!(st.success(), "{st}");
    assert!(std::fs::symlink_metadata(&link).is_err());
}

#[test]
fn tcp_end_to_end() {
    let m = ModemProcess::start(bin(), Transport::Tcp, &["--boot-delay", "100ms"]).unwrap();
    let mut dte = m.connect().unwrap();
    conversation(&mut dte, &m.efs());
    // A second DTE at the same time gets its own freshly booted modem, same EFS.
    let mut other = m.connect().unwrap();
    for urc in BOOT {
        other.expect(urc);
    }
    other.cmd_expect("ATE0", &["ATE0", "OK"]);
    let attr = other.cmd("AT+FSATTRI=\"C:/blob.bin\"");
    assert!(attr[0].starts_with("+FSATTRI: 100000, "), "{attr:?}");
}

#[test]
fn tcp_reconnect_is_a_fresh_power_on() {
    let m = ModemProcess::start(bin(), Transport::Tcp, &[]).unwrap();
    let mut dte = m.connect().unwrap();
    dte.expect_eventually("PB DONE");
    dte.cmd_expect("ATE0", &["ATE0", "OK"]);
    dte.cmd_expect("AT&W", &["OK"]);
    drop(dte);
    let mut dte = m.connect().unwrap();
    dte.expect_eventually("PB DONE");
    // AT&W survived: echo stays off.
    dte.cmd_expect("AT", &["OK"]);
}

#[test]
fn stdio_end_to_end() {
    let mut m = ModemProcess::start(bin(), Transport::Stdio, &[]).unwrap();
    let mut dte = m.stdio().unwrap();
    conversation(&mut dte, &m.efs());
    // End of input is a hang-up: the modem exits cleanly.
    dte.close_write();
    let st = m.wait(Duration::from_secs(5)).unwrap();
    assert!(st.success(), "{st}");
}

#[test]
fn serial_device() {
    // One end of a PTY pair stands in for a real serial device.
    let pair = nix::pty::openpty(None, None).unwrap();
    let dev = nix::unistd::ttyname(&pair.slave).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(bin())
        .args(["--boot-delay", "0", "--serial", dev.to_str().unwrap(), "--baud", "9600"])
        .arg("--efs")
        .arg(dir.path().join("efs"))
        .arg("--state")
        .arg(dir.path().join("state"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let master = std::fs::File::from(pair.master);
    let mut dte = Dte::new(master.try_clone().unwrap(), Box::new(master));
    dte.expect_eventually("PB DONE");
    dte.cmd_expect("ATE0", &["ATE0", "OK"]);
    dte.cmd_expect("AT+IPR?", &["+IPR: 9600", "OK"]);
    // AT+IPR reprograms the device after the OK.
    dte.cmd_expect("AT+IPR=115200", &["OK"]);
    std::thread::sleep(Duration::from_millis(200));
    let t = nix::sys::termios::tcgetattr(&pair.slave).unwrap();
    assert_eq!(nix::sys::termios::cfgetospeed(&t), nix::sys::termios::BaudRate::B115200);
    // A module rate the device cannot take is refused, and the speed stays.
    dte.cmd_expect("AT+IPR=3200000", &["ERROR"]);
    dte.cmd_expect("AT+IPR?", &["+IPR: 115200", "OK"]);
    // AT+IFC=2,2 (RTS/CTS, as SMS gateways set it) turns the device's hardware flow
    // control on after the OK; AT+IFC=0,0 turns it off again.
    let rtscts = || {
        let t = nix::sys::termios::tcgetattr(&pair.slave).unwrap();
        t.control_flags.contains(nix::sys::termios::ControlFlags::CRTSCTS)
    };
    assert!(!rtscts());
    dte.cmd_expect("AT+IFC=?", &["+IFC: (0,2),(0,2)", "OK"]);
    dte.cmd_expect("AT+IFC=2,2", &["OK"]);
    dte.cmd_expect("AT+IFC?", &["+IFC: 2,2", "OK"]);
    std::thread::sleep(Duration::from_millis(200));
    assert!(rtscts());
    dte.cmd_expect("AT+IFC=1,1", &["ERROR"]);
    dte.cmd_expect("AT+IFC=0,0", &["OK"]);
    std::thread::sleep(Duration::from_millis(200));
    assert!(!rtscts());
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn pace_emulates_the_line_rate() {
    // 2000 bytes at 9600 bit/s (10 bits a byte) need at least 2 s on the wire. Only a lower
    // bound is asserted: a busy machine can make it slower, never faster.
    let mut m = ModemProcess::start(bin(), Transport::Stdio, &["--pace", "--baud", "9600"]).unwrap();
    let mut dte = m.stdio().unwrap();
    dte.expect_eventually("PB DONE");
    dte.cmd_expect("ATE0", &["ATE0", "OK"]);
    dte.send_line("AT+CFTRANRX=\"C:/p.bin\",2000");
    dte.expect(">");
    dte.send(&vec![b'x'; 2000]);
    dte.expect("OK");
    let start = Instant::now();
    dte.send_line("AT+CFTRANTX=\"C:/p.bin\"");
    dte.expect_eventually("+CFTRANTX: 0");
    dte.expect("OK");
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(1900), "paced transfer took only {took:?}");
}

#[test]
fn trace_masks_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.log");
    let mut m =
        ModemProcess::start(bin(), Transport::Stdio, &["--pin", "7531", "--trace", trace.to_str().unwrap()]).unwrap();
    let mut dte = m.stdio().unwrap();
    dte.expect("START");
    dte.expect("+CPIN: SIM PIN");
    dte.send_line("AT+CPIN=\"7531\"");
    dte.expect("AT+CPIN=\"7531\"");
    dte.expect("OK");
    dte.expect_eventually("PB DONE");
    dte.cmd_expect(
        "AT+CSOCKAUTH=1,1,\"hunter22\",\"bob\";+CSOCKAUTH?",
        &["AT+CSOCKAUTH=1,1,\"hunter22\",\"bob\";+CSOCKAUTH?", "+CSOCKAUTH: 1,1,\"hunter22\",\"bob\"", "OK"],
    );
    dte.close_write();
    m.wait(Duration::from_secs(5)).unwrap();
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(text.contains("DTE> AT+CPIN=\"***\"<CR>"), "{text}");
    assert!(text.contains("+CSOCKAUTH: 1,1,\"***\",\"bob\""), "{text}");
    // The records without their timestamps (a stamp such as `0.017531` is not a secret).
    let records: String = text.lines().map(|l| l.split_once("] ").map_or(l, |(_, r)| r)).collect();
    assert!(!records.contains("7531") && !records.contains("hunter22"), "secret in trace:\n{text}");
    assert!(text.lines().all(|l| l.starts_with('[')), "every record is timestamped:\n{text}");
}

#[test]
fn bad_flags_are_refused_clearly() {
    for (args, needle) in [
        (&["--imei", "123456789012345"][..], "Luhn"),
        (&["--baud", "1234"], "not a rate"),
        (&["--boot-delay", "soon"], "duration"),
        (&["--pin", "12"], "4-8 digits"),
        (&["--tcp", "nonsense"], "ADDR:PORT"),
        (&["--serial", "/dev/null", "--baud", "3200000"], "cannot be set to this rate"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(bin())
            .args(args)
            .arg("--efs")
            .arg(dir.path().join("e"))
            .arg("--state")
            .arg(dir.path().join("s"))
            .arg("--no-link")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn efs_state_survives_restart() {
    let mut m = ModemProcess::start(bin(), Transport::Stdio, &[]).unwrap();
    let mut dte = m.stdio().unwrap();
    dte.expect_eventually("PB DONE");
    dte.cmd_expect("ATE0V1", &["ATE0V1", "OK"]);
    dte.cmd_expect("AT&W", &["OK"]);
    dte.cmd_expect("AT+FSMKDIR=C:/kept", &["OK"]);
    dte.close_write();
    m.wait(Duration::from_secs(5)).unwrap();
    let dir = std::mem::replace(&mut m.dir, tempfile::tempdir().unwrap());
    drop(m);
    let mut m = ModemProcess::start_in(bin(), Transport::Stdio, &[], dir).unwrap();
    let mut dte = m.stdio().unwrap();
    dte.expect_eventually("PB DONE");
    dte.cmd_expect("AT+FSCD=kept", &["+FSCD: C:/kept/", "OK"]);
}

#[test]
fn errors_are_logged_with_their_reason() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(bin())
        .args(["--stdio", "--boot-delay", "0", "-v"])
        .arg("--efs")
        .arg(dir.path().join("e"))
        .arg("--state")
        .arg(dir.path().join("s"))
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Give the boot URCs a moment: input before START is ignored.
    std::thread::sleep(Duration::from_millis(300));
    child.stdin.as_mut().unwrap().write_all(b"AT+CMEE=5\rAT+NOPE\rAT+FSCD=\"../..\"\r").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("\r\nERROR\r\n").count(), 3, "{stdout}");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("parameter 1: 5 is outside 0..=2"), "{log}");
    assert!(log.contains("no such command or form: +NOPE"), "{log}");
    assert!(log.contains("climbs above the drive root"), "{log}");
}

#[test]
fn urcs_are_collected_while_waiting() {
    let mut m = ModemProcess::start(bin(), Transport::Stdio, &["--pin", "1234"]).unwrap();
    let mut dte = m.stdio().unwrap();
    dte.expect("START");
    dte.expect("+CPIN: SIM PIN");
    dte.send_line("ATE0;+CPIN=1234;+CSQ");
    assert_eq!(dte.wait_for("+CSQ:"), "+CSQ: 21,99");
    // Only the echo came before the answer: the URCs wait until the line is done.
    assert_eq!(std::mem::take(&mut dte.urcs), ["ATE0;+CPIN=1234;+CSQ"]);
    dte.expect("OK");
    assert_eq!(dte.wait_for("PB DONE"), "PB DONE");
    assert_eq!(dte.urcs, ["+CPIN: READY", "SMS DONE", "CALL READY"]);
}

/// Pseudo-random garbage with no `A`/`a` in it, so none of it can start a command line.
fn garbage(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            match (x >> 8) as u8 {
                b'A' | b'a' => b'B',
                b => b,
            }
        })
        .collect()
}

/// A DTE that writes with echo on and never reads must not deadlock the modem: it keeps
/// reading (into bounded buffers, echo dropped first, then input, each drop logged), the
/// DTE's writes complete, and once the DTE reads again `AT` is answered. First 70 KB of
/// garbage (only echo piles up), then 1 MiB of `AT` lines (answers pile up too, so input
/// is dropped once the receive buffer is full; no answer to a command taken is lost).
#[test]
fn a_dte_that_does_not_read_never_blocks_the_modem() {
    let m = ModemProcess::start(bin(), Transport::Pty, &["-v"]).unwrap();
    let tty = m.tty.clone().unwrap();
    // Wait for the boot to end, then stop reading.
    let mut dte = m.open_pty().unwrap();
    dte.expect_eventually("PB DONE");
    drop(dte);
    let commands: Vec<u8> = b"AT\r".iter().copied().cycle().take(1 << 20).collect();
    for data in [garbage(70_000, 7), commands] {
        let len = data.len();
        let mut f = testbench::raw_tty(&tty).unwrap();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            for piece in data.chunks(4096) {
                f.write_all(piece).unwrap();
            }
            done_tx.send(()).unwrap();
            f
        });
        // Without the fix the PTY fills both ways and the writer blocks for good.
        if done_rx.recv_timeout(Duration::from_secs(30)).is_err() {
            panic!("the DTE's {len}-byte write did not complete: the modem stopped reading");
        }
        let f = writer.join().unwrap();
        let mut dte = Dte::new(f.try_clone().unwrap(), Box::new(f));
        // What was kept is bounded; then a fresh line, and AT works.
        let kept = dte.idle(Duration::from_millis(700));
        assert!(kept.len() < 1024 * 1024, "{} bytes of output kept for {len} bytes", kept.len());
        dte.send(b"\r");
        dte.idle(Duration::from_millis(300));
        dte.cmd_expect("ATE0", &["ATE0", "OK"]);
        dte.cmd_expect("AT+CSQ", &["+CSQ: 21,99", "OK"]);
        dte.cmd_expect("ATE1", &["OK"]);
    }
    let log = m.stderr_log();
    assert!(log.contains("echo dropped"), "no echo drop logged:\n{log}");
    assert!(log.contains("input dropped"), "no input drop logged:\n{log}");
}
