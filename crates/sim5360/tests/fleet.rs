//! Fleets on the real binary (`--modems 3`): each modem answers with its own IMEI on its
//! own PTY; modem 0 sends an SMS to modem 2's number and modem 2 gets `+CMTI` and reads
//! it; modem 1 calls modem 0, which answers, and a hang-up ends both; the control API
//! lists every modem and drives each; a modem's SIM taken out holds its SMS until it is
//! back (store and forward); a modem in trouble (full EFS, stuck job, held line, a fault)
//! leaves the others alone. DTEs end lines with CR LF.
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use testbench::{Dte, FtpServer, TestCa, Unanswered};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sim5360"))
}

/// A fleet process and the ready line of each modem.
struct Fleet {
    child: Child,
    modems: Vec<Value>,
    _dir: tempfile::TempDir,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary with `--boot-delay 0 --ready-json`, EFS and state in a temporary directory,
/// the options `more` adds (given that directory), and the ready lines of its `n` modems.
fn start(n: usize, more: impl FnOnce(&mut Command, &Path)) -> Fleet {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut cmd = Command::new(bin());
    cmd.args(["--boot-delay", "0", "--ready-json"]).arg("--efs").arg(d.join("efs")).arg("--state").arg(d.join("state"));
    more(&mut cmd, d);
    let mut child =
        cmd.stdout(Stdio::piped()).stderr(std::fs::File::create(d.join("stderr.log")).unwrap()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let modems = (0..n)
        .map(|_| {
            let mut l = String::new();
            out.read_line(&mut l).unwrap();
            serde_json::from_str::<Value>(&l).unwrap_or_else(|e| panic!("{e}: {l:?}"))
        })
        .collect();
    Fleet { child, modems, _dir: dir }
}

fn fleet(n: usize) -> Fleet {
    start(n, |c, d| {
        c.args(["--modems", &n.to_string(), "--control", "127.0.0.1:0", "--call-answer-delay", "300ms"])
            .arg("--link-dir")
            .arg(d);
    })
}

fn dte(f: &Fleet, i: usize) -> Dte {
    let mut d = dte_booted(f, i);
    d.cmd_expect("ATE0", &["ATE0", "OK"]);
    d
}

/// The DTE once the modem's boot URCs are out, echo still on.
fn dte_booted(f: &Fleet, i: usize) -> Dte {
    let link = f.modems[i]["link"].as_str().unwrap();
    let mut d = testbench::open_tty(Path::new(link)).unwrap();
    d.timeout = Duration::from_secs(20);
    d.line_end = b"\r\n";
    d.expect_eventually("PB DONE");
    d
}

fn api(url: &str, method: &str, path: &str, body: &str) -> (u16, Value) {
    testbench::control_http(url, method, path, &[], Some(body))
}

/// `sim5360 ctl --link <a fleet modem's link>` drives that modem: the link's `.control`
/// file names the API and the modem's index.
#[test]
fn ctl_finds_a_fleet_modem_by_its_link() {
    let f = fleet(2);
    let link = f.modems[1]["link"].as_str().unwrap();
    let out = Command::new(bin()).args(["ctl", "--link", link, "state"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let state: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Modem 1's own number, not modem 0's.
    assert_eq!(state["msisdn"], f.modems[1]["msisdn"], "{state}");
    assert_ne!(state["msisdn"], f.modems[0]["msisdn"], "{state}");
}

#[test]
fn three_modems_message_and_call_each_other() {
    let f = fleet(3);
    // The API answers for every modem as soon as its ready line is out (no 503 race).
    for (i, m) in f.modems.iter().enumerate() {
        let (status, state) = api(m["control"].as_str().unwrap(), "GET", &format!("/api/v1/modems/{i}"), "");
        assert_eq!((status, state["msisdn"].as_str()), (200, m["msisdn"].as_str()), "{state}");
    }
    let mut d: Vec<Dte> = (0..3).map(|i| dte(&f, i)).collect();
    // Each its own identity.
    let imeis: Vec<String> = (0..3).map(|i| d[i].cmd("AT+CGSN")[0].clone()).collect();
    assert!(imeis.iter().all(|i| i.len() == 15 && sim5360::profile::imei_is_valid(i)), "{imeis:?}");
    assert!(imeis[0] != imeis[1] && imeis[1] != imeis[2], "{imeis:?}");
    for (i, m) in f.modems.iter().enumerate() {
        assert_eq!(m["imei"].as_str(), Some(imeis[i].as_str()));
        let n = m["msisdn"].as_str().unwrap();
        d[i].cmd_expect("AT+CNUM", &[&format!("+CNUM: \"\",\"{n}\",145"), "OK"]);
    }
    // An SMS from modem 0 to modem 2.
    let to = f.modems[2]["msisdn"].as_str().unwrap().to_owned();
    d[0].cmd_expect("AT+CMGF=1", &["OK"]);
    d[0].send_line(&format!("AT+CMGS=\"{to}\""));
    assert_eq!(d[0].bytes(4), b"\r\n> ");
    d[0].send(b"from modem 0\x1a");
    assert_eq!(d[0].wait_for("+CMGS:"), "+CMGS: 0");
    assert_eq!(d[2].wait_for("+CMTI:"), "+CMTI: \"SM\",1");
    d[2].cmd_expect("AT+CMGF=1", &["OK"]);
    let read = d[2].cmd("AT+CMGR=1");
    let from = f.modems[0]["msisdn"].as_str().unwrap();
    assert!(read[0].starts_with(&format!("+CMGR: \"REC UNREAD\",\"{from}\",\"\",")), "{read:?}");
    assert_eq!(read[1], "from modem 0");
    // Modem 1 calls modem 0, which answers; modem 0 hangs up: both calls end.
    let callee = f.modems[0]["msisdn"].as_str().unwrap().to_owned();
    let caller = f.modems[1]["msisdn"].as_str().unwrap().to_owned();
    d[0].cmd_expect("AT+CLIP=1", &["OK"]);
    d[1].cmd_expect(&format!("ATD{callee};"), &["OK"]);
    assert_eq!(d[0].wait_for("RING"), "RING");
    assert_eq!(d[0].wait_for("+CLIP:"), format!("+CLIP: \"{caller}\",145,\"\",0,\"\",0"));
    // The caller alerts once the callee's ring has come back to it (asynchronously).
    let alerting = format!("+CLCC: 1,0,3,0,0,\"{callee}\",145");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while d[1].cmd("AT+CLCC")[0] != alerting {
        assert!(std::time::Instant::now() < deadline, "the caller never alerted");
        std::thread::sleep(Duration::from_millis(20));
    }
    d[0].cmd_expect("ATA", &["OK"]);
    assert_eq!(d[0].wait_for("VOICE CALL:"), "VOICE CALL: BEGIN");
    assert_eq!(d[1].wait_for("VOICE CALL:"), "VOICE CALL: BEGIN");
    d[1].cmd_expect("AT+CLCC", &[&format!("+CLCC: 1,0,0,0,0,\"{callee}\",145"), "OK"]);
    d[0].cmd_expect("ATH", &["OK"]);
    assert!(d[1].wait_for("VOICE CALL:").starts_with("VOICE CALL: END"));
    assert_eq!(d[1].wait_for("NO CARRIER"), "NO CARRIER");
    d[1].cmd_expect("AT+CLCC", &["OK"]);
    // A call to a modem in a call is busy.
    d[2].cmd_expect(&format!("ATD{callee};"), &["OK"]);
    d[0].wait_for("RING");
    d[1].cmd_expect(&format!("ATD{callee};"), &["OK"]);
    assert_eq!(d[1].wait_for("BUSY"), "BUSY");
    d[2].cmd_expect("ATH", &["OK"]);
    assert_eq!(d[0].wait_for("NO CARRIER"), "NO CARRIER");
    d[0].cmd_expect("AT+CLCC", &["OK"]);

    // The control API lists every modem and reaches each.
    let url = f.modems[0]["control"].as_str().unwrap();
    let (st, v) = api(url, "GET", "/api/v1/modems", "");
    assert_eq!(st, 200);
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 3, "{v}");
    for (i, m) in list.iter().enumerate() {
        assert_eq!((m["id"].as_u64(), m["imei"].as_str()), (Some(i as u64), Some(imeis[i].as_str())), "{v}");
    }
    let (st, _) = api(url, "POST", "/api/v1/modems/1/urc", r#"{"line": "ONLY ONE"}"#);
    assert_eq!(st, 204);
    d[1].expect_eventually("ONLY ONE");
    assert_eq!(api(url, "GET", "/api/v1/modems/3", "").0, 404);
    // Store and forward: modem 2's SIM is out; the SMS arrives once it is back.
    api(url, "PATCH", "/api/v1/modems/2/sim", r#"{"present": false}"#);
    d[2].expect_eventually("+SIMCARD: NOT AVAILABLE");
    d[0].send_line(&format!("AT+CMGS=\"{to}\""));
    assert_eq!(d[0].bytes(4), b"\r\n> ");
    d[0].send(b"held\x1a");
    assert_eq!(d[0].wait_for("+CMGS:"), "+CMGS: 1");
    std::thread::sleep(Duration::from_millis(2500));
    api(url, "PATCH", "/api/v1/modems/2/sim", r#"{"present": true}"#);
    assert_eq!(d[2].wait_for("+CMTI:"), "+CMTI: \"SM\",2");
}

#[test]
fn a_fleet_member_keeps_its_own_state() {
    let f = fleet(2);
    let mut d0 = dte(&f, 0);
    let mut d1 = dte(&f, 1);
    d0.cmd_expect("AT+FSMKDIR=C:/only0", &["OK"]);
    d1.cmd_expect("AT+FSCD=C:/only0", &["ERROR"]);
    d0.cmd_expect("AT+CSCA=\"+4911\"", &["OK"]);
    d1.cmd("AT+CMEE=1");
    let csca = d1.cmd("AT+CSCA?");
    assert!(!csca[0].contains("+4911"), "{csca:?}");
}

/// One modem in trouble (a full EFS, a socket job stuck connecting, its line held by a
/// `hang` override, a fault on its FTP) leaves the other alone: that one answers at once,
/// downloads into its own EFS, and the control API accounts each modem's jobs apart.
#[test]
fn a_modem_in_trouble_leaves_the_others_alone() {
    let ca = TestCa::new().unwrap();
    let ftp = FtpServer::start(&ca).unwrap();
    ftp.put("small.bin", &testbench::http::pattern(4096, 3)).unwrap();
    ftp.put("big.bin", &testbench::http::pattern(1 << 20, 4)).unwrap();
    let unanswered = Unanswered::start().unwrap();
    let f = start(2, |c, d| {
        c.args(["--modems", "2", "--control", "127.0.0.1:0", "--efs-size", "65536"]).arg("--link-dir").arg(d);
    });
    let url = f.modems[0]["control"].as_str().unwrap();
    let mut d: Vec<Dte> = (0..2).map(|i| dte(&f, i)).collect();
    for dte in &mut d {
        ftp.configure(dte);
    }
    // Modem 0: its EFS fills up, a link hangs in its connect, its FTP is refused.
    d[0].cmd_expect("AT+CFTPGETFILE=\"/big.bin\",0", &["OK"]);
    assert_eq!(d[0].wait_for("+CFTPGETFILE: "), "+CFTPGETFILE: 206");
    d[0].cmd_expect("AT+NETOPEN", &["OK"]);
    assert_eq!(d[0].wait_for("+NETOPEN:"), "+NETOPEN: 0");
    d[0].cmd_expect(&format!("AT+CIPOPEN=0,\"TCP\",\"127.0.0.1\",{}", unanswered.port), &["OK"]);
    let fault = r#"{"service": "ftp", "type": "refuse"}"#;
    assert_eq!(api(url, "POST", "/api/v1/modems/0/faults", fault).0, 201);
    let hang = r#"{"command": "+CSQ", "then": "hang", "times": null}"#;
    let (status, added) = api(url, "POST", "/api/v1/modems/0/overrides", hang);
    assert_eq!(status, 201, "{added}");
    d[0].send_line("AT+CSQ");

    // Modem 1 meanwhile: its own line, its own EFS, its own link rules.
    d[1].cmd_expect("AT", &["OK"]);
    let csq = d[1].cmd("AT+CSQ");
    assert!(csq[0].starts_with("+CSQ: "), "{csq:?}");
    d[1].cmd_expect("AT+CFTPGETFILE=\"/small.bin\",0", &["OK"]);
    assert_eq!(d[1].wait_for("+CFTPGETFILE: "), "+CFTPGETFILE: 0");
    let state = |i: usize| api(url, "GET", &format!("/api/v1/modems/{i}"), "").1;
    let (s0, s1) = (state(0), state(1));
    let jobs = |s: &Value| s["jobs"].as_array().unwrap().len();
    assert_eq!((jobs(&s0), jobs(&s1)), (1, 0), "{s0}\n{s1}");
    assert!(s0["jobs"][0].as_str().unwrap().contains("socket 0 tcp"), "{s0}");
    assert_eq!(s0["faults"].as_array().map(Vec::len), Some(1), "{s0}");
    assert_eq!(s1["faults"].as_array().map(Vec::len), Some(0), "{s1}");
    let used = |s: &Value| s["efs"]["C"]["used"].as_u64().unwrap();
    assert!(used(&s1) >= 4096, "{s1}");
    // Modem 0's line was held all along; once the override goes, its AT+CSQ runs.
    assert_eq!(d[0].try_line(Duration::from_millis(200)), None);
    let id = added["id"].as_u64().unwrap();
    assert_eq!(api(url, "DELETE", &format!("/api/v1/modems/0/overrides/{id}"), "").0, 204);
    assert!(d[0].wait_for("+CSQ: ").starts_with("+CSQ: "));
    d[0].expect("OK");
}

/// A fleet process on a broker (`--core-network`): its modems' lines and the process.
fn on_broker(port: u16, base: &str) -> Fleet {
    start(1, |c, d| {
        c.args(["--modems", "1", "--msisdn-base", base])
            .arg("--core-network")
            .arg(format!("mqtt://127.0.0.1:{port}"))
            .arg("--link-dir")
            .arg(d);
    })
}

fn send_sms(d: &mut Dte, to: &str, text: &str) {
    d.send_line(&format!("AT+CMGS=\"{to}\""));
    assert_eq!(d.bytes(4), b"\r\n> ");
    d.send(format!("{text}\x1a").as_bytes());
    d.wait_for("+CMGS:");
}

#[test]
fn two_processes_message_through_a_broker_that_restarts() {
    let mut broker = testbench::MqttBroker::start().unwrap();
    let a = on_broker(broker.port, "15551000000");
    let b = on_broker(broker.port, "15552000000");
    let mut da = dte(&a, 0);
    let mut db = dte(&b, 0);
    // Both subscribed (the broker logs each client's subscriptions).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while broker.log_tail().matches("sim5360/v1/sms/").count() < 2 {
        assert!(std::time::Instant::now() < deadline, "not subscribed:\n{}", broker.log_tail());
        std::thread::sleep(Duration::from_millis(50));
    }
    da.cmd_expect("AT+CMGF=1", &["OK"]);
    db.cmd_expect("AT+CMGF=1", &["OK"]);
    send_sms(&mut da, "+15552000000", "across processes");
    assert_eq!(db.wait_for("+CMTI:"), "+CMTI: \"SM\",1");
    let r = db.cmd("AT+CMGR=1");
    assert!(r[0].contains("\"+15551000000\""), "{r:?}");
    assert_eq!(r[1], "across processes");
    // The broker restarts (nothing persisted); both reconnect and subscribe again.
    broker.restart().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while broker.log_tail().matches("sim5360/v1/sms/").count() < 2 {
        assert!(std::time::Instant::now() < deadline, "not subscribed again:\n{}", broker.log_tail());
        std::thread::sleep(Duration::from_millis(100));
    }
    send_sms(&mut db, "+15551000000", "after the restart");
    assert_eq!(da.wait_for("+CMTI:"), "+CMTI: \"SM\",1");
    let r = da.cmd("AT+CMGR=1");
    assert_eq!(r[1], "after the restart");
    // A call through the broker rings at the other process, and both ends see the answer.
    db.cmd_expect("ATD+15551000000;", &["OK"]);
    assert_eq!(da.wait_for("RING"), "RING");
    da.cmd_expect("ATA", &["OK"]);
    assert_eq!(db.wait_for("VOICE CALL:"), "VOICE CALL: BEGIN");
    db.cmd_expect("ATH", &["OK"]);
    assert_eq!(da.wait_for("NO CARRIER"), "NO CARRIER");
    // Process B goes away; what A sends it meanwhile waits in the broker (B's persistent
    // session) and arrives when B is back with the same number.
    drop(db);
    drop(b);
    send_sms(&mut da, "+15552000000", "while you were away");
    std::thread::sleep(Duration::from_millis(500));
    let b = on_broker(broker.port, "15552000000");
    // The stored SMS may come right after the boot URCs: wait for it before any command.
    let mut db = dte_booted(&b, 0);
    assert_eq!(db.wait_for("+CMTI:"), "+CMTI: \"SM\",1");
    db.cmd_expect("ATE0", &["ATE0", "OK"]);
    db.cmd_expect("AT+CMGF=1", &["OK"]);
    assert_eq!(db.cmd("AT+CMGR=1")[1], "while you were away");
}

#[test]
fn a_fleet_file_sets_each_modem() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = d.join("fleet.toml");
    let efs1 = d.join("efs-of-one");
    std::fs::write(
        &file,
        format!(
            "[[modem]]\nmsisdn = \"+4915112345678\"\n\n[[modem]]\nprofile = \"sim7600\"\npin = \"1234\"\nimei = \"356938035643809\"\nefs = \"{}\"\nlink = \"{}\"\n",
            efs1.display(),
            d.join("tracker").display()
        ),
    )
    .unwrap();
    let f = start(2, |c, fd| {
        c.arg("--fleet").arg(&file).arg("--link-dir").arg(fd);
    });
    assert_eq!(f.modems[0]["msisdn"], "+4915112345678");
    assert_eq!(f.modems[1]["imei"], "356938035643809");
    assert!(f.modems[1]["link"].as_str().unwrap().ends_with("/tracker"));
    let mut d0 = dte(&f, 0);
    d0.cmd_expect("AT+CGMM", &["SIMCOM_SIM5360E", "OK"]);
    let link = f.modems[1]["link"].as_str().unwrap();
    let mut d1 = testbench::open_tty(Path::new(link)).unwrap();
    d1.timeout = Duration::from_secs(20);
    d1.expect_eventually("+CPIN: SIM PIN");
    d1.cmd_expect("AT+CPIN=\"1234\"", &["AT+CPIN=\"1234\"", "OK"]);
    d1.expect_eventually("PB DONE");
    d1.cmd_expect("ATE0", &["ATE0", "OK"]);
    d1.cmd_expect("AT+CGMM", &["SIMCOM_SIM7600E", "OK"]);
    d1.cmd_expect("AT+FSMKDIR=C:/mine", &["OK"]);
    // Its EFS is where the file put it.
    assert!(walk(&efs1).iter().any(|p| p.ends_with("mine")), "{:?}", walk(&efs1));
    // A file that is wrong is refused before anything starts.
    std::fs::write(&file, "[[modem]]\npin = \"12\"\n").unwrap();
    let out = Command::new(bin()).arg("--fleet").arg(&file).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("modem 0: pin is 4-8 digits"), "{out:?}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

#[test]
fn a_tcp_fleet_has_a_port_per_modem() {
    let f = start(2, |c, _| {
        c.args(["--modems", "2", "--tcp", "127.0.0.1:0"]);
    });
    let lines = &f.modems;
    let connect = |i: usize| {
        let s = std::net::TcpStream::connect(lines[i]["tcp"].as_str().unwrap()).unwrap();
        let mut d = Dte::new(s.try_clone().unwrap(), Box::new(s));
        d.timeout = Duration::from_secs(20);
        d.line_end = b"\r\n";
        d.expect_eventually("PB DONE");
        d.cmd_expect("ATE0", &["ATE0", "OK"]);
        d
    };
    let mut d0 = connect(0);
    let mut d1 = connect(1);
    assert_ne!(d0.cmd("AT+CGSN")[0], d1.cmd("AT+CGSN")[0]);
    d0.cmd_expect("AT+CMGF=1", &["OK"]);
    d0.send_line(&format!("AT+CMGS=\"{}\"", lines[1]["msisdn"].as_str().unwrap()));
    assert_eq!(d0.bytes(4), b"\r\n> ");
    d0.send(b"over tcp\x1a");
    d0.wait_for("+CMGS:");
    assert_eq!(d1.wait_for("+CMTI:"), "+CMTI: \"SM\",1");
}
