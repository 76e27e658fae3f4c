//! ModemManager 1.20 (Debian) against the binary's USB view: it is given the AT and modem
//! ports (as a real SIM5360 at 05c6:9000 it gets the generic plugin), finds the modem with
//! both as AT ports (one its primary), identifies it, enables it, reports it registered and
//! disables it.
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
