//! ModemManager 1.20 (Debian) against the binary's USB view: it is given the AT and modem
//! ports (as a real SIM5360 at 05c6:9000 it gets the generic plugin), finds the modem with
//! both as AT ports (one its primary), identifies it, enables it, reports it registered and
//! disables it; connects a PPP bearer (the data call) and disconnects it.
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
    assert_eq!(field(&report, "modem.generic.equipment-identifier"), "861311000000421");
    assert_eq!(field(&report, "modem.generic.own-numbers.value[1]"), "+15555550100");
    let enabled = mm.mmcli(&["-m", "0", "-e"]).unwrap();
    assert!(enabled.contains("successfully enabled the modem"), "{enabled}");
    mm.wait_for("registration", Duration::from_secs(20), |mm| {
        mm.mmcli(&["-m", "0", "-K"])
            .is_ok_and(|r| ModemManager::field(&r, "modem.generic.state").as_deref() == Some("registered"))
    })
    .unwrap();
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
    let out = mm.mmcli(&["-m", "0", "-e"]).unwrap();
    assert!(out.contains("successfully enabled"), "{out}");
    mm.wait_for("registration", Duration::from_secs(20), |mm| {
        mm.mmcli(&["-m", "0", "-K"])
            .is_ok_and(|r| ModemManager::field(&r, "modem.generic.state").as_deref() == Some("registered"))
    })
    .unwrap();
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
