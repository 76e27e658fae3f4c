//! Real third-party clients against the modem's PTY: gammu (Debian) and
//! python-gsmmodem-new (PyPI), installed by scripts/install-deps.sh.
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;
use testbench::{ModemProcess, Transport};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sim5360"))
}

fn modem() -> ModemProcess {
    let m = ModemProcess::start(bin(), Transport::Pty, &["--no-nmea"]).unwrap();
    // Booted: the DTE sees PB DONE (then closes; the modem stays on).
    let mut dte = m.open_pty().unwrap();
    dte.expect_eventually("PB DONE");
    drop(dte);
    std::thread::sleep(Duration::from_millis(100));
    m
}

/// Run `program args` with a deadline; its output, or a failure that shows it.
fn run(program: &str, args: &[&str], deadline: Duration) -> Output {
    let out = Command::new("timeout")
        .arg(format!("{}s", deadline.as_secs()))
        .arg(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (run scripts/install-deps.sh)"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// gammu configured for the modem's PTY: a function running one gammu command (60 s at
/// most) and returning its output.
fn gammu_on(m: &ModemProcess) -> impl Fn(&[&str]) -> String {
    let rc = m.dir.path().join("gammurc");
    let tty = m.link.as_ref().unwrap();
    std::fs::write(&rc, format!("[gammu]\ndevice = {}\nconnection = at\n", tty.display())).unwrap();
    let rc = rc.to_str().unwrap().to_owned();
    move |args: &[&str]| {
        let mut all = vec!["-c", rc.as_str()];
        all.extend_from_slice(args);
        let out = run("gammu", &all, Duration::from_secs(60));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// `Key : value` lines of gammu's output.
fn gammu_field<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim())
        })
        .unwrap_or_else(|| panic!("no {key:?} in:\n{text}"))
}

#[test]
fn gammu_identify_networkinfo_securitystatus_and_monitor() {
    let m = modem();
    let gammu = gammu_on(&m);

    let id = gammu(&["identify"]);
    assert_eq!(gammu_field(&id, "Manufacturer"), "SIMCOM INCORPORATED");
    assert_eq!(gammu_field(&id, "Model"), "unknown (SIMCOM_SIM5360E)");
    assert_eq!(gammu_field(&id, "Firmware"), "SIM5360E_V3.5");
    let imei = gammu_field(&id, "IMEI");
    assert!(imei.len() == 15 && imei.bytes().all(|b| b.is_ascii_digit()), "{id}");
    assert!(gammu_field(&id, "SIM IMSI").starts_with("00101"), "{id}");

    let net = gammu(&["networkinfo"]);
    assert_eq!(gammu_field(&net, "Network state"), "home network");
    assert!(gammu_field(&net, "Network").contains("LAC 00C3, CID 0A1B2C3"), "{net}");
    assert_eq!(gammu_field(&net, "Name in phone"), "\"Test Network\"");
    assert_eq!(gammu_field(&net, "Packet network state"), "home network");
    assert_eq!(gammu_field(&net, "GPRS"), "attached");

    let sec = gammu(&["getsecuritystatus"]);
    assert_eq!(sec.trim(), "Nothing to enter.");

    let mon = gammu(&["monitor", "1"]);
    assert_eq!(gammu_field(&mon, "Battery level"), "92 percent");
    assert_eq!(gammu_field(&mon, "Signal strength"), "-71 dBm");
    assert_eq!(gammu_field(&mon, "Network state"), "home network");
    assert!(gammu_field(&mon, "Network").contains("LAC 00C3, CID 0A1B2C3"), "{mon}");
    assert_eq!(gammu_field(&mon, "Enabling info about calls"), "No error.");
    assert_eq!(gammu_field(&mon, "Enabling info about incoming SMS"), "No error.");
    assert_eq!(gammu_field(&mon, "Enabling info about USSD"), "No error.");
}

/// gammu's message commands: folders, a saved message, a 200-character message to the
/// own number sent as two linked parts and coming back, listing and deleting.
#[test]
fn gammu_sms_folders_save_send_list_delete_and_ussd() {
    let m = modem();
    let gammu = gammu_on(&m);

    let folders = gammu(&["getsmsfolders"]);
    for f in ["SIM memory, Inbox folder", "SIM memory, Outbox folder", "phone memory, Inbox folder"] {
        assert!(folders.contains(f), "{f}:\n{folders}");
    }
    let saved = gammu(&["savesms", "TEXT", "-folder", "2", "-text", "Saved by gammu"]);
    assert!(saved.contains("Saved in folder"), "{saved}");

    let long: String = (0..200).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let sent = gammu(&["sendsms", "TEXT", "+15555550100", "-len", "200", "-text", &long]);
    assert!(sent.contains("Sending SMS 1/2") && sent.contains("Sending SMS 2/2"), "{sent}");
    assert_eq!(sent.matches("OK, message reference=").count(), 2, "{sent}");

    // Both parts come back from the network (1 s each) into the SIM's inbox.
    std::thread::sleep(Duration::from_millis(2500));
    let all = gammu(&["getallsms"]);
    assert!(all.contains("3 SMS parts in 3 SMS sequences"), "{all}");
    assert!(all.contains("Saved by gammu"), "{all}");
    assert!(all.contains("part 1 of 2") && all.contains("part 2 of 2"), "{all}");
    let joined: String = all.lines().filter(|l| l.chars().all(|c| c.is_ascii_lowercase()) && l.len() > 40).collect();
    assert_eq!(joined, long, "{all}");

    let deleted = gammu(&["deletesms", "2", "1"]);
    assert!(!deleted.contains("rror"), "{deleted}");
    let all = gammu(&["getallsms"]);
    assert!(all.contains("2 SMS parts in 2 SMS sequences") && !all.contains("Saved by gammu"), "{all}");
    gammu(&["deleteallsms", "1"]);
    let all = gammu(&["getallsms"]);
    assert!(all.contains("0 SMS parts in 0 SMS sequences"), "{all}");

    let ussd = gammu(&["getussd", "*100#"]);
    assert!(ussd.contains("Your balance is 10.00 EUR."), "{ussd}");
}

/// python-gsmmodem's message functions: PDU send with a delivery report, the message to
/// the own number arriving through the incoming-SMS callback, a concatenated message,
/// listing and deleting stored messages, a text-mode send, USSD and a call.
#[test]
fn python_gsmmodem_sends_receives_lists_and_deletes_sms() {
    let m = modem();
    let py = testbench::process::venv_python().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testbench/py/gsmmodem-sms.py");
    let out = run(
        py.to_str().unwrap(),
        &[script.to_str().unwrap(), m.link.as_ref().unwrap().to_str().unwrap(), "+15555550100"],
        Duration::from_secs(120),
    );
    let log = String::from_utf8_lossy(&out.stderr);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{log}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(r["connect"], "ok", "{r}\n{log}");
    // Delivered (status 1 = DELIVERED in python-gsmmodem) with its reference.
    assert_eq!(r["sendSms"], serde_json::json!({"reference": 0, "status": 1}), "{r}\n{log}");
    assert_eq!(r["received"], serde_json::json!([{"number": "+15555550100", "text": "Alarm: door open"}]), "{r}");
    // The long message took two references (1 and 2).
    assert_eq!(r["sendLong"]["reference"], 2, "{r}\n{log}");
    assert!(log.lines().filter(|l| l.starts_with("write: AT+CMGS=")).count() >= 4, "{log}");
    assert_eq!(
        r["listStoredSms"],
        serde_json::json!([{"number": "+15555550100", "text": "Stored for listing"}]),
        "{r}"
    );
    assert_eq!(r["deleteMultipleStoredSms"], 0, "{r}");
    assert_eq!(r["sendSmsText"]["reference"], 4, "{r}\n{log}");
    assert_eq!(
        r["sendUssd"],
        serde_json::json!({"message": "Your balance is 10.00 EUR.", "sessionActive": false}),
        "{r}"
    );
    assert_eq!(r["dial"], serde_json::json!({"answered": true}), "{r}\n{log}");
    // The network's outbox has every message the DTE sent, in order.
    let dir = m.stop().unwrap();
    let outbox = std::fs::read_to_string(dir.path().join("state/sms-outbox.jsonl")).unwrap();
    let to: Vec<String> = outbox
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["to"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(to, ["+15555550100", "+15550001111", "+15550001111", "+15555550100", "+15550002222"], "{outbox}");
}

#[test]
fn python_gsmmodem_connect_passes_every_system_command() {
    let m = modem();
    let py = testbench::process::venv_python().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testbench/py/gsmmodem-client.py");
    let out = run(
        py.to_str().unwrap(),
        &[script.to_str().unwrap(), m.link.as_ref().unwrap().to_str().unwrap()],
        Duration::from_secs(120),
    );
    let log = String::from_utf8_lossy(&out.stderr);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{log}", String::from_utf8_lossy(&out.stdout)));
    // connect() goes all the way, through the SMS set-up.
    assert_eq!(r["connect"], "ok", "{r}\n{log}");
    for sent in [
        "ATZ",
        "ATE0",
        "AT+CFUN?",
        "AT+CMEE=1",
        "AT+CPIN?",
        "AT+CLAC",
        "AT+CGMI",
        "AT+DDET=1",
        "AT+COPS=3,0",
        "AT+CMGF=0",
        "AT+CSCA?",
        "AT+CPMS=?",
        "AT+CNMI=2,1,0,2",
        "AT+CLIP=1",
    ] {
        let line = format!("write: {sent}");
        assert!(log.lines().any(|l| l.trim_end() == line), "{sent} not sent:\n{log}");
    }
    assert_eq!(r["manufacturer"], "SIMCOM INCORPORATED", "{r}");
    assert_eq!(r["model"], "SIMCOM_SIM5360E", "{r}");
    assert_eq!(r["imei"].as_str().unwrap().len(), 15, "{r}");
    assert_eq!(r["signalStrength"], 21, "{r}");
    assert_eq!(r["networkName"], "Test Network", "{r}");
    assert_eq!(r["ownNumber"], "+15555550100", "{r}");
    assert_eq!(r["waitForNetworkCoverage"], 21, "{r}");
}
