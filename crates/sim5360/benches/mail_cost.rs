//! What a mail with a 5 MB attachment costs: `AT+SMTPSEND` from a PTY (the time from the
//! command to `+SMTP: SUCCESS`, message building included) against Python's smtplib
//! building and sending the same mail to the same aiosmtpd server, and the modem's peak
//! RSS. Needs the test bench (scripts/install-deps.sh). Run:
//! `cargo bench -p sim5360 --bench mail_cost`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::time::Instant;
use testbench::{ModemProcess, SmtpOptions, SmtpServer, TestCa, Transport};

const SIZE: usize = 5 * 1000 * 1000;

fn read_until(r: &mut BufReader<std::fs::File>, want: &str) {
    let mut l = String::new();
    loop {
        l.clear();
        assert!(r.read_line(&mut l).expect("read") > 0, "port closed");
        if l.trim_end() == want {
            return;
        }
        assert!(!l.contains("ERROR"), "{l}");
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("mail_cost: bench");
        return;
    }
    let ca = TestCa::new().expect("CA");
    let srv =
        SmtpServer::start(&ca, SmtpOptions { auth_required: true, ..SmtpOptions::default() }).expect("SMTP server");
    let attachment = testbench::http::pattern(SIZE, 77);
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("big.bin"), &attachment).expect("write");

    let m = ModemProcess::start(Path::new(env!("CARGO_BIN_EXE_sim5360")), Transport::Pty, &[]).expect("sim5360");
    let f = testbench::raw_tty(m.tty.as_ref().expect("tty")).expect("open tty");
    let mut w = f.try_clone().expect("clone");
    let mut r = BufReader::new(f);
    read_until(&mut r, "PB DONE");
    let cmd = |w: &mut std::fs::File, r: &mut BufReader<std::fs::File>, line: &str| {
        w.write_all(format!("{line}\r").as_bytes()).expect("write");
        read_until(r, "OK");
    };
    cmd(&mut w, &mut r, "ATE0");
    // The attachment goes into the EFS first (not timed).
    w.write_all(format!("AT+CFTRANRX=\"C:/big.bin\",{SIZE}\r").as_bytes()).expect("write");
    let mut b = [0u8; 1];
    while b[0] != b'>' {
        r.read_exact(&mut b).expect("prompt");
    }
    w.write_all(&attachment).expect("data");
    read_until(&mut r, "OK");
    for c in [
        format!("AT+SMTPSRV=\"127.0.0.1\",{}", srv.port),
        format!("AT+SMTPAUTH=1,\"{}\",\"{}\"", srv.user, srv.password),
        "AT+SMTPFROM=\"sim@example.test\",\"Modem\"".to_owned(),
        "AT+SMTPRCPT=0,0,\"bob@example.test\",\"Bob\"".to_owned(),
        "AT+SMTPSUB=\"five megabytes\"".to_owned(),
        "AT+SMTPBODY=\"see attached\"".to_owned(),
        "AT+SMTPFILE=1,\"C:/big.bin\"".to_owned(),
    ] {
        cmd(&mut w, &mut r, &c);
    }
    let t0 = Instant::now();
    cmd(&mut w, &mut r, "AT+SMTPSEND");
    read_until(&mut r, "+SMTP: SUCCESS");
    let modem_secs = t0.elapsed().as_secs_f64();
    let status = std::fs::read_to_string(format!("/proc/{}/status", m.pid())).expect("status");
    let hwm = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap_or("?").trim().to_owned();

    let script = format!(
        r#"
import smtplib, time
from email.message import EmailMessage
t0 = time.perf_counter()
m = EmailMessage()
m["From"] = "Modem <sim@example.test>"
m["To"] = "Bob <bob@example.test>"
m["Subject"] = "five megabytes"
m.set_content("see attached")
m.add_attachment(open({path:?}, "rb").read(), maintype="application", subtype="octet-stream", filename="big.bin")
with smtplib.SMTP("127.0.0.1", {port}) as s:
    s.login({user:?}, {pw:?})
    s.send_message(m)
print(time.perf_counter() - t0)
"#,
        path = dir.path().join("big.bin").to_str().expect("path"),
        port = srv.port,
        user = srv.user,
        pw = srv.password,
    );
    let py = testbench::process::venv_python().expect("venv");
    let out = std::process::Command::new(py).arg("-c").arg(script).output().expect("python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let py_secs: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("seconds");
    let got = srv.received().expect("received");
    assert_eq!(got.len(), 2, "both mails arrived");
    println!("A mail with a {:.1} MB attachment (base64 on the wire)", SIZE as f64 / 1e6);
    println!("  sim5360 AT+SMTPSEND -> +SMTP: SUCCESS : {:7.3} s  (message {} bytes)", modem_secs, got[0].data.len());
    println!("  Python smtplib build + send           : {:7.3} s  (message {} bytes)", py_secs, got[1].data.len());
    println!("  ratio sim5360 / smtplib               : {:7.2}", modem_secs / py_secs);
    println!("  sim5360 peak RSS (VmHWM)              : {hwm}");
}
