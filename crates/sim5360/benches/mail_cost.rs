//! What a mail with a 1, 5 and 10 MB attachment costs: `AT+SMTPSEND` from a PTY (the time
//! from the command to `+SMTP: SUCCESS`, message building included) against Python's
//! smtplib building and sending the same mail to the same aiosmtpd server, and the peak RSS
//! of each during its send (the modem's peak is reset, through /proc/<pid>/clear_refs,
//! right before `AT+SMTPSEND`, so the upload into the EFS does not count; Python's is its
//! whole run, which is the send). Needs the test bench (scripts/install-deps.sh). Run:
//! `cargo bench -p sim5360 --bench mail_cost` (sizes in MB: `MAIL_SIZES=1,5,10`).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::time::Instant;
use testbench::{ModemProcess, SmtpOptions, SmtpServer, TestCa, Transport};

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

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a kB figure")
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("mail_cost: bench");
        return;
    }
    let sizes: Vec<usize> = std::env::var("MAIL_SIZES")
        .unwrap_or_else(|_| "1,5,10".into())
        .split(',')
        .map(|s| s.trim().parse::<usize>().expect("MAIL_SIZES: MB figures") * 1000 * 1000)
        .collect();
    let ca = TestCa::new().expect("CA");
    let srv =
        SmtpServer::start(&ca, SmtpOptions { auth_required: true, ..SmtpOptions::default() }).expect("SMTP server");
    let dir = tempfile::tempdir().expect("tmp");
    let m = ModemProcess::start(Path::new(env!("CARGO_BIN_EXE_sim5360")), Transport::Pty, &["--efs-size", "67108864"])
        .expect("sim5360");
    let f = testbench::raw_tty(m.tty.as_ref().expect("tty")).expect("open tty");
    let mut w = f.try_clone().expect("clone");
    let mut r = BufReader::new(f);
    read_until(&mut r, "PB DONE");
    let cmd = |w: &mut std::fs::File, r: &mut BufReader<std::fs::File>, line: &str| {
        w.write_all(format!("{line}\r").as_bytes()).expect("write");
        read_until(r, "OK");
    };
    cmd(&mut w, &mut r, "ATE0");
    let idle = status_kib(m.pid(), "VmRSS:");
    println!("Mails with one attachment (base64 on the wire); peak RSS during the send");
    println!("  sim5360 RSS before the first send     : {idle} kB");
    for (k, size) in sizes.iter().copied().enumerate() {
        let attachment = testbench::http::pattern(size, 77 + k as u32);
        let name = format!("big{k}.bin");
        let path = dir.path().join(&name);
        std::fs::write(&path, &attachment).expect("write");
        // The attachment goes into the EFS first (not timed, not in the peak).
        w.write_all(format!("AT+CFTRANRX=\"C:/{name}\",{size}\r").as_bytes()).expect("write");
        let mut b = [0u8; 1];
        while b[0] != b'>' {
            r.read_exact(&mut b).expect("prompt");
        }
        w.write_all(&attachment).expect("data");
        read_until(&mut r, "OK");
        drop(attachment);
        for c in [
            format!("AT+SMTPSRV=\"127.0.0.1\",{}", srv.port),
            format!("AT+SMTPAUTH=1,\"{}\",\"{}\"", srv.user, srv.password),
            "AT+SMTPFROM=\"sim@example.test\",\"Modem\"".to_owned(),
            "AT+SMTPRCPT=0,0,\"bob@example.test\",\"Bob\"".to_owned(),
            format!("AT+SMTPSUB=\"{} MB\"", size / 1_000_000),
            "AT+SMTPBODY=\"see attached\"".to_owned(),
            format!("AT+SMTPFILE=1,\"C:/{name}\""),
        ] {
            cmd(&mut w, &mut r, &c);
        }
        // Linux: writing 5 resets the peak RSS (VmHWM) to the current RSS.
        std::fs::write(format!("/proc/{}/clear_refs", m.pid()), "5").expect("clear_refs");
        let t0 = Instant::now();
        cmd(&mut w, &mut r, "AT+SMTPSEND");
        read_until(&mut r, "+SMTP: SUCCESS");
        let modem_secs = t0.elapsed().as_secs_f64();
        let modem_hwm = status_kib(m.pid(), "VmHWM:");

        let script = format!(
            r#"
import smtplib, time, resource
from email.message import EmailMessage
t0 = time.perf_counter()
m = EmailMessage()
m["From"] = "Modem <sim@example.test>"
m["To"] = "Bob <bob@example.test>"
m["Subject"] = "{mb} MB"
m.set_content("see attached")
m.add_attachment(open({path:?}, "rb").read(), maintype="application", subtype="octet-stream", filename={name:?})
with smtplib.SMTP("127.0.0.1", {port}) as s:
    s.login({user:?}, {pw:?})
    s.send_message(m)
print(time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"#,
            mb = size / 1_000_000,
            path = path.to_str().expect("path"),
            port = srv.port,
            user = srv.user,
            pw = srv.password,
        );
        let py = testbench::process::venv_python().expect("venv");
        let out = std::process::Command::new(py).arg("-c").arg(script).output().expect("python");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut fields = out.split_whitespace();
        let py_secs: f64 = fields.next().and_then(|f| f.parse().ok()).expect("seconds");
        let py_hwm: u64 = fields.next().and_then(|f| f.parse().ok()).expect("max RSS");
        let got = srv.received().expect("received");
        assert_eq!(got.len(), 2 * (k + 1), "both mails arrived");
        let (mine, theirs) = (&got[2 * k], &got[2 * k + 1]);
        println!("A {:.0} MB attachment", size as f64 / 1e6);
        println!("  sim5360 AT+SMTPSEND -> +SMTP: SUCCESS : {modem_secs:7.3} s  (message {} bytes)", mine.data.len());
        println!("  Python smtplib build + send           : {py_secs:7.3} s  (message {} bytes)", theirs.data.len());
        println!("  ratio sim5360 / smtplib               : {:7.2}", modem_secs / py_secs);
        println!(
            "  peak RSS sim5360 {:.1} MiB (+{:.1} MiB over its RSS before), smtplib {:.1} MiB, ratio {:.2}",
            modem_hwm as f64 / 1024.0,
            modem_hwm.saturating_sub(idle) as f64 / 1024.0,
            py_hwm as f64 / 1024.0,
            modem_hwm as f64 / py_hwm as f64
        );
        std::fs::remove_file(&path).expect("rm");
        cmd(&mut w, &mut r, &format!("AT+FSDEL=\"C:/{name}\""));
    }
}
