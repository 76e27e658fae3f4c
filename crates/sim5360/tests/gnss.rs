//! GNSS end to end: gpsd (Debian) reads the modem's NMEA port and reports the configured
//! position; AT+CGPSINFO over a CR LF DTE, once and periodic; a GPX track replayed in
//! real time; bad positions and track files refused at start.
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use testbench::{Dte, Gpsd, ModemProcess};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sim5360"))
}

fn modem(extra: &[&str]) -> (ModemProcess, Dte) {
    let (m, mut dte) = testbench::ready_modem(bin(), extra).unwrap();
    dte.line_end = b"\r\n";
    dte.timeout = Duration::from_secs(10);
    (m, dte)
}

/// `ddmm.mmmmmm,N,dddmm.mmmmmm,E` fields as signed degrees.
fn degrees(v: &str, hemi: &str, deg_digits: usize) -> f64 {
    let d: f64 = v[..deg_digits].parse().unwrap();
    let m: f64 = v[deg_digits..].parse().unwrap();
    let x = d + m / 60.0;
    if hemi == "S" || hemi == "W" { -x } else { x }
}

/// The fields of `+CGPSINFO:<fields>` (the SIM5360 form: no space after the colon).
fn cgpsinfo(line: &str) -> Vec<String> {
    let rest = line.strip_prefix("+CGPSINFO:").unwrap_or_else(|| panic!("not +CGPSINFO: {line:?}"));
    assert!(!rest.starts_with(' '), "SIM5360 prints no space after the colon: {line:?}");
    rest.split(',').map(str::to_owned).collect()
}

/// A reader that opens the NMEA port late gets the latest sentences, as from a UART, not
/// a backlog the kernel kept while nobody read: after 12 s unread, the first GGA it sees
/// is at most a few seconds old.
#[test]
fn a_late_nmea_reader_gets_fresh_sentences() {
    use chrono::Timelike;
    let (m, mut dte) = modem(&["--gnss-ttff", "1s"]);
    dte.cmd_expect("AT+CGPS=1,1", &["OK"]);
    std::thread::sleep(Duration::from_secs(12));
    let mut nmea = testbench::open_tty(m.nmea.as_ref().unwrap()).unwrap();
    let gga = loop {
        let line = nmea.try_line(Duration::from_secs(5)).expect("NMEA sentences");
        if let Some(rest) = line.strip_prefix("$GPGGA,") {
            break rest.to_owned();
        }
    };
    let hhmmss: u32 = gga[..6].parse().unwrap();
    let at = hhmmss / 10000 * 3600 + hhmmss / 100 % 100 * 60 + hhmmss % 100;
    let now = chrono::Utc::now().num_seconds_from_midnight();
    let age = (now + 86_400 - at) % 86_400;
    assert!(age <= 5, "the first GGA a late reader got is {age} s old: $GPGGA,{gga}");
}

#[test]
fn gpsd_reads_the_nmea_port_and_reports_the_configured_position() {
    let (m, mut dte) = modem(&["--gnss", "48.858370,2.294481,35.5", "--gnss-ttff", "1s"]);
    let gpsd = Gpsd::start(m.nmea.as_ref().unwrap()).unwrap();
    dte.cmd_expect("AT+CGPS=1,1", &["OK"]);
    // Two 3D fixes in a row, each at the configured place.
    let tpv = gpsd
        .reports("TPV", 4, Duration::from_secs(20))
        .unwrap()
        .into_iter()
        .filter(|t| t["mode"] == 3 && t["time"].is_string())
        .take(2)
        .collect::<Vec<_>>();
    assert_eq!(tpv.len(), 2, "gpsd log:\n{}", gpsd.log_tail());
    for t in &tpv {
        assert!((t["lat"].as_f64().unwrap() - 48.858370).abs() < 1e-6, "{t}");
        assert!((t["lon"].as_f64().unwrap() - 2.294481).abs() < 1e-6, "{t}");
        assert!((t["altMSL"].as_f64().unwrap() - 35.5).abs() < 0.05, "{t}");
        // The fix time is the module's clock (the host's here).
        let when = chrono::DateTime::parse_from_rfc3339(t["time"].as_str().unwrap()).unwrap();
        assert!((when.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds().abs() < 10, "{t}");
    }
    // The satellites gpsd saw in GSV.
    let sky = gpsd.reports("SKY", 1, Duration::from_secs(10)).unwrap();
    assert!(sky[0]["satellites"].as_array().is_some_and(|s| s.len() >= 4), "{}", sky[0]);
    // And the AT port agrees.
    let got = dte.cmd("AT+CGPSINFO");
    let f = cgpsinfo(&got[0]);
    assert!((degrees(&f[0], &f[1], 2) - 48.858370).abs() < 1e-6, "{got:?}");
    assert!((degrees(&f[2], &f[3], 3) - 2.294481).abs() < 1e-6, "{got:?}");
    assert_eq!(f[6], "35.5");
    assert_eq!(got.last().unwrap(), "OK");
}

#[test]
fn cgpsinfo_is_empty_until_the_first_fix_then_periodic() {
    let (_m, mut dte) = modem(&["--gnss=-33.8152,151.0033,12", "--gnss-ttff", "2s", "--no-nmea"]);
    dte.cmd_expect("AT+CGPS=1", &["OK"]);
    dte.cmd_expect("AT+CGPSINFO", &["+CGPSINFO:,,,,,,,,", "AmpI/AmpQ: 443/434", "OK"]);
    // Freematics: periodic reports, harvested from whatever answer they land in.
    dte.cmd_expect("AT+CGPSINFO=1", &["OK"]);
    let line = dte.wait_for("+CGPSINFO:");
    let first = cgpsinfo(&line);
    assert!(first[0].is_empty(), "before the fix: {line:?}");
    let mut fix = None;
    for _ in 0..10 {
        let f = cgpsinfo(&dte.wait_for("+CGPSINFO:"));
        if !f[0].is_empty() {
            fix = Some(f);
            break;
        }
    }
    let f = fix.expect("a fix within 10 reports");
    assert_eq!(f.len(), 9, "{f:?}");
    assert_eq!((f[1].as_str(), f[3].as_str()), ("S", "E"));
    assert!((degrees(&f[0], &f[1], 2) + 33.8152).abs() < 1e-6, "{f:?}");
    assert!((degrees(&f[2], &f[3], 3) - 151.0033).abs() < 1e-6, "{f:?}");
    assert_eq!(f[4], chrono::Utc::now().format("%d%m%y").to_string());
    dte.cmd_expect("AT+CGPSINFO=0", &["OK"]);
    dte.cmd_expect("AT+CGPS=0", &["OK"]);
    assert_eq!(dte.wait_for("+CGPS:"), "+CGPS: 0");
    dte.cmd_expect("AT+CGPS?", &["+CGPS: 0,1", "OK"]);
}

#[test]
fn a_gpx_track_is_replayed_in_real_time() {
    let dir = tempfile::tempdir().unwrap();
    let gpx = dir.path().join("walk.gpx");
    // Due north, 0.01° (1.11 km) in 100 s: 21.6 knots.
    std::fs::write(
        &gpx,
        r#"<?xml version="1.0"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">
 <trk><trkseg>
  <trkpt lat="52.000000" lon="13.000000"><ele>40</ele><time>2024-05-01T10:00:00Z</time></trkpt>
  <trkpt lat="52.010000" lon="13.000000"><ele>60</ele><time>2024-05-01T10:01:40Z</time></trkpt>
 </trkseg></trk>
</gpx>"#,
    )
    .unwrap();
    let (m, mut dte) = modem(&["--gnss-track", gpx.to_str().unwrap(), "--gnss-ttff", "0s"]);
    let gpsd = Gpsd::start(m.nmea.as_ref().unwrap()).unwrap();
    dte.cmd_expect("AT+CGPS=1", &["OK"]);
    let read = |dte: &mut Dte| {
        let got = dte.cmd("AT+CGPSINFO");
        let f = cgpsinfo(&got[0]);
        (degrees(&f[0], &f[1], 2), f[7].parse::<f64>().unwrap(), f[8].parse::<f64>().unwrap())
    };
    let (lat1, speed, course) = read(&mut dte);
    std::thread::sleep(Duration::from_secs(2));
    let (lat2, _, _) = read(&mut dte);
    assert!(lat2 > lat1 && lat1 >= 52.0 && lat2 < 52.01, "{lat1} then {lat2}");
    // 1e-4 °/s of latitude: about 0.2 s of movement tolerance either way.
    let moved = lat2 - lat1;
    assert!((1.5e-4..3.5e-4).contains(&moved), "moved {moved}° in 2 s");
    assert!((speed - 21.6).abs() < 0.2, "speed {speed} kn");
    assert!(!(1.0..359.0).contains(&course), "course {course}");
    // gpsd sees it move too.
    let tpv: Vec<_> = gpsd
        .reports("TPV", 4, Duration::from_secs(20))
        .unwrap()
        .into_iter()
        .filter(|t| t["mode"] == 3 && t["speed"].is_f64())
        .collect();
    assert!(tpv.len() >= 2, "gpsd log:\n{}", gpsd.log_tail());
    let (a, b) = (&tpv[0], &tpv[tpv.len() - 1]);
    assert!(b["lat"].as_f64().unwrap() > a["lat"].as_f64().unwrap(), "{a} then {b}");
    // gpsd reports metres per second: 21.6 kn = 11.1 m/s.
    assert!((b["speed"].as_f64().unwrap() - 11.11).abs() < 0.2, "{b}");
}

#[test]
fn bad_positions_and_track_files_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.gpx");
    std::fs::write(&empty, "<gpx></gpx>").unwrap();
    let missing = dir.path().join("missing.nmea");
    let empty_s = empty.display().to_string();
    let missing_s = missing.display().to_string();
    for (args, want) in [
        (vec!["--gnss", "91,0"], "latitude"),
        (vec!["--gnss", "north"], "LAT,LON"),
        (vec!["--gnss-track", empty_s.as_str()], "empty.gpx"),
        (vec!["--gnss-track", missing_s.as_str()], "missing.nmea"),
        (vec!["--gnss-ttff", "soon"], "soon"),
    ] {
        let out = Command::new(bin())
            .args(["--stdio", "--efs"])
            .arg(dir.path().join("efs"))
            .arg("--state")
            .arg(dir.path().join("state"))
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} accepted");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}
