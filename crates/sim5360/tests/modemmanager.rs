//! ModemManager 1.20 (Debian) against the binary's USB view: it is given the AT and modem
//! ports (as a real SIM5360 at 05c6:9000 it gets the generic plugin), finds the modem with
//! both as AT ports (one its primary), identifies it, enables it, reports it registered and
//! disables it; connects a PPP bearer (the data call) and disconnects it; reads the SIM
//! (ICCID and SPN through AT+CRSM), network time, the 3GPP location, USSD; sends, receives,
//! lists and deletes SMS; finds no reset in its plugin (as with hardware). Forced onto its
//! simtech plugin, it reads the access technology and follows signal changes.
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use std::path::Path;
use std::time::Duration;
use testbench::{ModemManager, ModemProcess, Transport};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sim5360"))
}

#[test]
fn modemmanager_finds_enables_and_registers_the_usb_modem() {
    let m = ModemProcess::start(bin(), Transport::Pty, &["--usb", "--ready-json", "--no-nmea"]).unwrap();
    let at = m.port("at").unwrap();
    let modem = m.port("modem").unwrap();
    let mm = ModemManager::start(&[at, modem], "generic").unwrap();
    let list = mm.mmcli(&["-L"]).unwrap();
    assert!(list.contains("[SIMCOM INCORPORATED] SIMCOM_SIM5360E"), "{list}");
    let report = mm.mmcli(&["-m", "0", "-K"]).unwrap();
    let field = |r: &str, f: &str| ModemManager::field(r, f).unwrap_or_else(|| panic!("no {f:?} in:\n{r}"));
    // Both ports are AT ports; one of them is the primary (test mode has no udev hints, so
    // ModemManager takes either).
    let socks: Vec<String> = mm.sockets.iter().map(|s| s.display().to_string()).collect();
    assert_eq!(field(&report, "modem.generic.ports.length"), "2", "{report}");
    for (i, s) in socks.iter().enumerate() {
        assert_eq!(field(&report, &format!("modem.generic.ports.value[{}]", i + 1)), format!("{s} (at)"), "{report}");
    }
    assert!(socks.contains(&field(&report, "modem.generic.primary-port")), "{report}");
    assert_eq!(field(&report, "modem.generic.manufacturer"), "SIMCOM INCORPORATED");
    assert_eq!(field(&report, "modem.generic.model"), "SIMCOM_SIM5360E");
    assert_eq!(field(&report, "modem.generic.revision"), "SIM5360E_V3.5");
    assert_eq!(field(&report, "modem.generic.equipment-identifier"), "861311000000421");
    assert_eq!(field(&report, "modem.generic.own-numbers.value[1]"), "+15555550100");
    enable(&mm);
    let report = mm.mmcli(&["-m", "0", "-K"]).unwrap();
    assert_eq!(field(&report, "modem.3gpp.registration-state"), "home", "{report}");
    assert_eq!(field(&report, "modem.3gpp.operator-name"), "Test Network", "{report}");
    assert_eq!(field(&report, "modem.3gpp.packet-service-state"), "attached", "{report}");
    // ModemManager ran its port set-up on the second port too (its `ATE0`).
    let sent = mm.commands();
    assert!(sent.iter().filter(|c| *c == "ATE0").count() >= 2, "{sent:?}");
    let disabled = mm.mmcli(&["-m", "0", "-d"]).unwrap();
    assert!(disabled.contains("successfully disabled the modem"), "{disabled}");
}

/// The modem's state report from the control API.
fn state(m: &ModemProcess) -> serde_json::Value {
    testbench::control_http(m.control.as_deref().unwrap(), "GET", "/api/v1/modems/0", &[], None).1
}

#[test]
fn modemmanager_connects_a_ppp_bearer_and_disconnects_it() {
    let m =
        ModemProcess::start(bin(), Transport::Pty, &["--usb", "--ready-json", "--no-nmea", "--control", "127.0.0.1:0"])
            .unwrap();
    let mm = ModemManager::start(&[m.port("at").unwrap(), m.port("modem").unwrap()], "generic").unwrap();
    enable(&mm);
    // Simple-connect: ModemManager stores its profile (AT+CGDCONT=<cid>,...) and dials it
    // on a port of its choosing; CONNECT makes the bearer connected with PPP as its IP
    // method (NetworkManager would now run pppd on the port).
    let out = mm.mmcli(&["-m", "0", "--simple-connect=apn=internet,ip-type=ipv4"]).unwrap();
    assert!(out.contains("successfully connected the modem"), "{out}\n{}", mm.log_tail());
    let sent = mm.commands();
    let dial = sent.iter().find(|c| c.starts_with("ATD*99")).unwrap_or_else(|| panic!("no dial in {sent:?}"));
    let cid: u64 = dial.trim_start_matches("ATD*99***").trim_end_matches('#').parse().unwrap();
    let bearer = mm.mmcli(&["-b", "0", "-K"]).unwrap();
    let field = |r: &str, f: &str| ModemManager::field(r, f).unwrap_or_else(|| panic!("no {f:?} in:\n{r}"));
    assert_eq!(field(&bearer, "bearer.status.connected"), "yes", "{bearer}");
    assert_eq!(field(&bearer, "bearer.ipv4-config.method"), "ppp", "{bearer}");
    assert_eq!(field(&bearer, "bearer.properties.apn"), "internet", "{bearer}");
    let report = mm.mmcli(&["-m", "0", "-K"]).unwrap();
    assert_eq!(field(&report, "modem.generic.state"), "connected", "{report}");
    let st = state(&m);
    assert_eq!(st["ppp"]["call"]["cid"], cid, "{st}");
    // Simple-disconnect: AT+CGACT=0,<cid> on the other port ends the call; the data port
    // is back in command state for ModemManager's set-up of it.
    let out = mm.mmcli(&["-m", "0", "--simple-disconnect"]).unwrap();
    assert!(out.contains("successfully disconnected"), "{out}\n{}", mm.log_tail());
    let sent = mm.commands();
    assert!(sent.iter().any(|c| *c == format!("AT+CGACT=0,{cid}")), "{sent:?}");
    assert_eq!(state(&m)["ppp"]["call"], serde_json::Value::Null);
    mm.wait_for("the modem registered again", Duration::from_secs(10), |mm| {
        mm.mmcli(&["-m", "0", "-K"])
            .is_ok_and(|r| ModemManager::field(&r, "modem.generic.state").as_deref() == Some("registered"))
    })
    .unwrap();
    let bearer = mm.mmcli(&["-b", "0", "-K"]).unwrap();
    assert_eq!(field(&bearer, "bearer.status.connected"), "no", "{bearer}");
    // The data port answers again: a second connect dials once more.
    let out = mm.mmcli(&["-m", "0", "--simple-connect=apn=internet,ip-type=ipv4"]).unwrap();
    assert!(out.contains("successfully connected the modem"), "{out}\n{}", mm.log_tail());
    assert_eq!(mm.commands().iter().filter(|c| c.starts_with("ATD*99")).count(), 2);
    let out = mm.mmcli(&["-m", "0", "--simple-disconnect"]).unwrap();
    assert!(out.contains("successfully disconnected"), "{out}");
}

/// Enable and wait until registered.
fn enable(mm: &ModemManager) {
    let out = mm.mmcli(&["-m", "0", "-e"]).unwrap();
    assert!(out.contains("successfully enabled"), "{out}");
    mm.wait_for("registration", Duration::from_secs(20), |mm| {
        mm.mmcli(&["-m", "0", "-K"])
            .is_ok_and(|r| ModemManager::field(&r, "modem.generic.state").as_deref() == Some("registered"))
    })
    .unwrap();
}

#[test]
fn modemmanager_reads_the_sim_time_location_ussd_and_handles_sms() {
    let m =
        ModemProcess::start(bin(), Transport::Pty, &["--usb", "--ready-json", "--no-nmea", "--control", "127.0.0.1:0"])
            .unwrap();
    let url = m.control.clone().unwrap();
    let mm = ModemManager::start(&[m.port("at").unwrap(), m.port("modem").unwrap()], "generic").unwrap();
    let field = |r: &str, f: &str| ModemManager::field(r, f).unwrap_or_else(|| panic!("no {f:?} in:\n{r}"));
    // The SIM's identity, read through AT+CRSM (ICCID, EF-AD, EF-SPN) and AT+CIMI.
    let sim = mm.mmcli(&["-i", "0", "-K"]).unwrap();
    assert_eq!(field(&sim, "sim.properties.iccid"), "89860012345678901234", "{sim}");
    assert_eq!(field(&sim, "sim.properties.imsi"), "001010123456789", "{sim}");
    assert_eq!(field(&sim, "sim.properties.operator-code"), "00101", "{sim}");
    assert_eq!(field(&sim, "sim.properties.operator-name"), "Test Network", "{sim}");
    enable(&mm);
    // What it asked for once it found the module could: RTS/CTS and packet-domain events.
    let sent = mm.commands();
    for probe in ["AT+CRSM=176,12258,0,0,10", "AT+CRSM=176,28486,0,0,17", "AT+IFC=2,2", "AT+CGEREP=2"] {
        assert!(sent.iter().any(|c| c == probe), "{probe} not sent: {sent:?}");
    }
    // Network time (AT+CCLK?).
    let time = mm.mmcli(&["-m", "0", "--time", "-K"]).unwrap();
    let now = field(&time, "modem.time.current");
    assert!(now.len() == 20 && now.starts_with("20") && now.ends_with('Z'), "{time}");
    // Location: the serving cell from +CREG: 2,... (the only source a test-mode modem has).
    let out = mm.mmcli(&["-m", "0", "--location-enable-3gpp"]).unwrap();
    assert!(out.contains("successfully setup location gathering"), "{out}");
    let loc = mm.mmcli(&["-m", "0", "--location-get", "-K"]).unwrap();
    assert_eq!(
        ["mcc", "mnc", "lac", "cid"].map(|k| field(&loc, &format!("modem.location.3gpp.{k}"))),
        ["001", "01", "00C3", "00A1B2C3"],
        "{loc}"
    );
    // USSD: the network's answer comes back.
    let out = mm.mmcli(&["-m", "0", "--3gpp-ussd-initiate=*100#"]).unwrap();
    assert!(out.contains("new reply from network: 'Your balance is 10.00 EUR.'"), "{out}");
    // SMS: create and send (it reaches the network's outbox), receive one the control API
    // delivers, read and delete it.
    let out = mm.mmcli(&["-m", "0", "--messaging-create-sms=text='Hello from MM',number='+15551234567'"]).unwrap();
    let path = out.split_whitespace().last().unwrap().to_owned();
    let out = mm.mmcli(&["-s", &path, "--send"]).unwrap();
    assert!(out.contains("successfully sent the SMS"), "{out}\n{}", mm.log_tail());
    let outbox = testbench::control_http(&url, "GET", "/api/v1/modems/0/sms?box=outbox", &[], None).1;
    assert_eq!((outbox[0]["to"].as_str(), outbox[0]["text"].as_str()), (Some("+15551234567"), Some("Hello from MM")));
    let (st, _) = testbench::control_http(
        &url,
        "POST",
        "/api/v1/modems/0/sms",
        &[],
        Some(r#"{"from": "+15557654321", "text": "to ModemManager"}"#),
    );
    assert_eq!(st, 201);
    let received = |mm: &ModemManager| {
        mm.mmcli(&["-m", "0", "--messaging-list-sms"]).ok().and_then(|l| {
            l.lines().find(|l| l.contains("(received)")).map(|l| l.split_whitespace().next().unwrap().to_owned())
        })
    };
    mm.wait_for("the delivered SMS in the list", Duration::from_secs(10), |mm| received(mm).is_some()).unwrap();
    let rx = received(&mm).unwrap();
    let sms = mm.mmcli(&["-s", &rx, "-K"]).unwrap();
    assert_eq!(field(&sms, "sms.content.number"), "+15557654321", "{sms}");
    assert_eq!(field(&sms, "sms.content.text"), "to ModemManager", "{sms}");
    assert_eq!(field(&sms, "sms.properties.state"), "received", "{sms}");
    let out = mm.mmcli(&["-m", "0", &format!("--messaging-delete-sms={rx}")]).unwrap();
    assert!(out.contains("successfully deleted"), "{out}");
    assert!(mm.commands().iter().any(|c| c.starts_with("AT+CMGD=")), "no AT+CMGD");
    assert_eq!(received(&mm), None);
    let inbox = testbench::control_http(&url, "GET", "/api/v1/modems/0/sms?box=inbox", &[], None).1;
    assert_eq!(inbox.as_array().map(Vec::len), Some(0), "{inbox}");
    // Reset: ModemManager's generic plugin (which a SIM5360 gets) has no reset, on
    // hardware as here; the modem stays registered and usable.
    let err = mm.mmcli(&["-m", "0", "-r"]).unwrap_err().to_string();
    assert!(err.contains("Unsupported"), "{err}");
    let report = mm.mmcli(&["-m", "0", "-K"]).unwrap();
    assert_eq!(field(&report, "modem.generic.state"), "registered", "{report}");
}

/// Forced onto its simtech plugin (what a udev rule for the module's ports would pick),
/// ModemManager reads the access technology from AT+CNSMOD and follows the signal through
/// AT+AUTOCSQ's URCs; the generic plugin has neither (CREG on a SIM5360 carries no AcT).
#[test]
fn modemmanager_simtech_plugin_reads_access_technology_and_signal() {
    let m =
        ModemProcess::start(bin(), Transport::Pty, &["--usb", "--ready-json", "--no-nmea", "--control", "127.0.0.1:0"])
            .unwrap();
    let url = m.control.clone().unwrap();
    let mm = ModemManager::start(&[m.port("at").unwrap(), m.port("modem").unwrap()], "simtech").unwrap();
    enable(&mm);
    let field = |r: &str, f: &str| ModemManager::field(r, f).unwrap_or_else(|| panic!("no {f:?} in:\n{r}"));
    mm.wait_for("the access technology", Duration::from_secs(10), |mm| {
        mm.mmcli(&["-m", "0", "-K"]).is_ok_and(|r| {
            ModemManager::field(&r, "modem.generic.access-technologies.value[1]").as_deref() == Some("umts")
        })
    })
    .unwrap();
    let report = mm.mmcli(&["-m", "0", "-K"]).unwrap();
    assert_eq!(field(&report, "modem.generic.signal-quality.value"), "67", "{report}");
    // +CSQ 3 of 31: ModemManager shows 9 %.
    let (st, _) = testbench::control_http(&url, "PATCH", "/api/v1/modems/0/radio", &[], Some(r#"{"rssi": 3}"#));
    assert_eq!(st, 204);
    mm.wait_for("the new signal", Duration::from_secs(10), |mm| {
        mm.mmcli(&["-m", "0", "-K"])
            .is_ok_and(|r| ModemManager::field(&r, "modem.generic.signal-quality.value").as_deref() == Some("9"))
    })
    .unwrap();
    let sent = mm.commands();
    assert!(sent.iter().any(|c| c == "AT+AUTOCSQ=1,1") && sent.iter().any(|c| c == "AT+CNSMOD?"), "{sent:?}");
}
