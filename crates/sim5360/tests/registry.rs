//! Every registered service is back at its power-on state after a restart: each family's
//! sample commands change its state, `AT+CRESET` restarts, and the state is the default.
//! And the core names no service (`modem/` is checked for service names).
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use chrono::{TimeZone, Utc};
use sim5360::modem::{Modem, ModemConfig};
use sim5360::profile::Model;
use sim5360::registry::SERVICES;
use std::time::Instant;

fn modem() -> Modem {
    let cfg = ModemConfig::in_memory(&sim5360::registry::CATALOG, Model::Sim5360, 1 << 20);
    let t = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
    let mut m = Modem::new(cfg, Box::new(move || t), Instant::now()).unwrap();
    m.drain_output();
    m
}

/// Restart with `line`; a port in the online data state (a data call's sample) takes no
/// command, so the control channel's reboot restarts it instead.
fn restart(m: &mut Modem, line: &[u8], now: Instant) {
    if m.in_data_mode_on(0) {
        sim5360::control::handle(m, now, sim5360::control::Control::Reboot).unwrap();
    } else {
        m.handle_input(line, now);
    }
    m.drain_output();
}

fn state_of(m: &Modem, name: &str) -> String {
    let (_, s) = m.ctx().services.states().find(|(n, _)| *n == name).unwrap();
    format!("{s:?}")
}

#[test]
fn every_service_is_reset_by_a_restart() {
    assert!(!SERVICES.is_empty());
    for def in SERVICES {
        if def.commands.is_empty() && def.sample.is_empty() {
            // No commands: nothing a DTE does changes its state (the control channel's
            // and chaos's families, whose state is made at power-on).
            continue;
        }
        assert!(!def.sample.is_empty(), "service {} has no sample commands to change its state", def.name);
        let mut m = modem();
        let fresh = state_of(&m, def.name);
        let now = Instant::now();
        for line in def.sample {
            m.handle_input(format!("AT{line}\r").as_bytes(), now);
            let out = String::from_utf8_lossy(&m.drain_output()).into_owned();
            assert!(!out.contains("ERROR"), "{}: AT{line} answered {out:?}", def.name);
        }
        let changed = state_of(&m, def.name);
        assert_ne!(changed, fresh, "{}: the sample did not change the state", def.name);
        restart(&mut m, b"AT+CRESET\r", now);
        assert_eq!(state_of(&m, def.name), fresh, "{}: not at its power-on state after AT+CRESET", def.name);
        // The same through AT+CFUN=1,1.
        for line in def.sample {
            m.handle_input(format!("AT{line}\r").as_bytes(), now);
        }
        m.drain_output();
        restart(&mut m, b"AT+CFUN=1,1\r", now);
        assert_eq!(state_of(&m, def.name), fresh, "{}: not at its power-on state after AT+CFUN=1,1", def.name);
    }
}

/// The core (`src/modem/`) names no service: a service family is added under `service/`
/// and in `registry.rs`, never in the core. Names are looked for as code spells them:
/// module paths and fields in lower case (`ftp::`, `ctx.ftp`), types capitalised
/// (`FtpState`); the AT commands (`+CFTPGET`) and prose (`FTP`) may appear in comments.
#[test]
fn the_core_names_no_service() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/modem");
    let mut names: Vec<String> = SERVICES.iter().map(|s| s.name.to_owned()).collect();
    names.extend(["ftp", "http", "smtp", "pop3"].map(String::from));
    let capitalised: Vec<String> = names.iter().map(|n| n[..1].to_ascii_uppercase() + &n[1..]).collect();
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for n in names.iter().chain(&capitalised) {
            assert!(!text.contains(n.as_str()), "{} names the service {n:?}", path.display());
        }
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} files under {}", dir.display());
}

/// The core (`src/modem/`) stands on the ground floor: every `crate::` path it names is
/// the core itself, the job vocabulary (`job`), the file system's store (`efs`), the model
/// (`profile`) or a plain state type (`network::state`, `general::device_state`). Whatever
/// has handlers (the device's areas, the services, the control channel) plugs in from above
/// through the catalog in `ModemConfig`, so the core compiles and reads without them.
#[test]
fn the_core_imports_only_the_ground_floor() {
    const ALLOWED: [&str; 6] = ["modem", "job", "efs", "profile", "network::state", "general::device_state"];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/modem");
    let re = regex::Regex::new(r"crate::([a-z_]+(?:::[a-z_]+)?)").unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            for m in re.captures_iter(line) {
                let p = &m[1];
                assert!(
                    ALLOWED.iter().any(|a| p == *a || p.starts_with(&format!("{a}::"))),
                    "{}:{}: the core imports crate::{p} ({line})",
                    path.display(),
                    n + 1
                );
            }
            // `super::super` would climb out of the core just the same.
            assert!(!line.contains("super::super"), "{}:{}: climbs out of the core", path.display(), n + 1);
        }
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} files under {}", dir.display());
}
