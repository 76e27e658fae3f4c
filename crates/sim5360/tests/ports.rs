//! The module's ports end to end on the real binary: `--usb` makes the USB interface set
//! (diagnostics, NMEA, AT, modem) as PTYs with role-named links in the option driver's
//! order; the AT and modem ports answer side by side (CR LF DTEs, as Arduino-style
//! firmware and ModemManager end lines), one keeps answering while the other carries a
//! transparent-mode connection, gpsd reads the NMEA interface, the diagnostics port
//! answers nothing; fleets get the same set per modem.
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};
use testbench::{Dte, EchoServer, Gpsd, ModemProcess, Transport};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sim5360"))
}

fn usb_modem(extra: &[&str]) -> ModemProcess {
    let mut args = vec!["--usb", "--ready-json"];
    args.extend_from_slice(extra);
    ModemProcess::start(bin(), Transport::Pty, &args).unwrap()
}

/// A CR LF DTE on port `role`, booted, echo off.
fn dte(m: &ModemProcess, role: &str) -> Dte {
    let mut d = m.open_port(role).unwrap();
    d.line_end = b"\r\n";
    d.send_line("ATE0");
    d.expect_eventually("OK");
    d
}

#[test]
fn the_usb_view_lists_its_interfaces_in_the_option_drivers_order() {
    let m = usb_modem(&[]);
    let ready = m.ready.clone().unwrap();
    let ports = ready["ports"].as_array().unwrap();
    let roles: Vec<&str> = ports.iter().map(|p| p["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["diag", "nmea", "at", "modem"], "{ready}");
    for (n, p) in ports.iter().enumerate() {
        assert_eq!(p["usb_interface"], n, "{p}");
        let link = Path::new(p["link"].as_str().unwrap());
        assert!(link.file_name().unwrap().to_str().unwrap().ends_with(&format!("-{}", p["role"].as_str().unwrap())));
        assert_eq!(std::fs::read_link(link).unwrap(), Path::new(p["pty"].as_str().unwrap()), "{p}");
    }
    // The JSON line's `pty`/`link` are the AT port's, so tools that read them find a port
    // that answers AT.
    assert_eq!(ready["link"], ports[2]["link"]);
    // The text form announces the same, one `role: path` and `role-link: path` each.
    let t = ModemProcess::start(bin(), Transport::Pty, &["--usb"]).unwrap();
    let names: Vec<&str> = t.ports.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(names, ["diag", "nmea", "at", "modem"]);
    let mut at = t.open_port("at").unwrap();
    at.line_end = b"\r\n";
    at.expect_eventually("PB DONE");
    at.cmd_expect("AT", &["AT", "OK"]);
}

#[test]
fn at_and_modem_ports_answer_at_the_same_time() {
    let m = usb_modem(&[]);
    let mut at = dte(&m, "at");
    let mut modem = dte(&m, "modem");
    for i in 0..50 {
        // Both commands are on the wire before either answer is read.
        at.send_line("AT+CSQ");
        modem.send_line(if i % 2 == 0 { "AT" } else { "AT+CGMM" });
        at.expect("+CSQ: 21,99");
        at.expect("OK");
        if i % 2 == 1 {
            modem.expect("SIMCOM_SIM5360E");
        }
        modem.expect("OK");
    }
    // Each keeps its own settings: echo is off on both, numeric results (`0<CR>`) on one
    // only.
    modem.send_line("ATV0");
    assert_eq!(modem.bytes(2), b"0\r");
    modem.send_line("AT");
    assert_eq!(modem.bytes(2), b"0\r");
    at.cmd_expect("AT", &["OK"]);
    // The module behind them is one: what one port sets, the other reads.
    at.cmd_expect("AT+CGDCONT=1,\"IP\",\"apn.one\"", &["OK"]);
    modem.send_line("AT+CGDCONT?");
    let want = b"+CGDCONT: 1,\"IP\",\"apn.one\",\"0.0.0.0\",0,0\r\n0\r";
    assert_eq!(modem.bytes(want.len()), want);
}

#[test]
fn the_at_port_answers_at_once_while_the_modem_port_is_online() {
    let echo = EchoServer::tcp().unwrap();
    let m = usb_modem(&[]);
    let mut at = dte(&m, "at");
    let mut modem = dte(&m, "modem");
    modem.cmd_expect("AT+CIPMODE=1", &["OK"]);
    modem.send_line("AT+NETOPEN");
    modem.expect("OK");
    modem.expect("+NETOPEN: 0");
    modem.send_line(&format!("AT+CIPOPEN=0,\"TCP\",\"127.0.0.1\",{}", echo.port));
    modem.expect("CONNECT 115200");
    // The modem port streams data through the echo server while the AT port is asked.
    let chunk = vec![b'x'; 4096];
    let mut got = 0;
    for _ in 0..20 {
        modem.send(&chunk);
        let t = Instant::now();
        at.send_line("AT+CSQ");
        at.expect("+CSQ: 21,99");
        at.expect("OK");
        assert!(t.elapsed() < Duration::from_secs(5), "the AT port waited on the online port");
        got += modem.bytes(chunk.len()).len();
    }
    assert_eq!(got, 20 * 4096);
    // `AT` typed on the online port is data for the connection, never a command.
    modem.send(b"AT\r\n");
    assert_eq!(modem.bytes(4), b"AT\r\n");
    // The network's URCs go to the port in command state.
    std::thread::sleep(Duration::from_millis(1100));
    modem.send(b"+++");
    std::thread::sleep(Duration::from_millis(1100));
    modem.expect("OK");
    modem.cmd_expect("AT+CIPCLOSE=0", &["OK"]);
}

#[test]
fn gpsd_reads_the_usb_nmea_interface() {
    let m = usb_modem(&["--gnss", "52.520008,13.404954,34", "--gnss-ttff", "1s"]);
    let gpsd = Gpsd::start(&m.port("nmea").unwrap()).unwrap();
    let mut at = dte(&m, "at");
    at.cmd_expect("AT+CGPS=1,1", &["OK"]);
    let tpv: Vec<_> =
        gpsd.reports("TPV", 4, Duration::from_secs(20)).unwrap().into_iter().filter(|t| t["mode"] == 3).collect();
    assert!(!tpv.is_empty(), "gpsd log:\n{}", gpsd.log_tail());
    assert!((tpv[0]["lat"].as_f64().unwrap() - 52.520008).abs() < 1e-6, "{}", tpv[0]);
    assert!((tpv[0]["lon"].as_f64().unwrap() - 13.404954).abs() < 1e-6, "{}", tpv[0]);
}

#[test]
fn the_diagnostics_port_is_drained_and_answers_nothing() {
    let m = usb_modem(&[]);
    let mut diag = testbench::raw_tty(&m.port("diag").unwrap()).unwrap();
    // QCDM and AT alike: read and dropped, nothing comes back, the port never fills.
    let junk = vec![0x7eu8; 64 * 1024];
    diag.write_all(b"AT\r\n").unwrap();
    diag.write_all(&junk).unwrap();
    let mut at = dte(&m, "at");
    at.cmd_expect("AT", &["OK"]);
    let fd = std::os::fd::AsFd::as_fd(&diag);
    let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
    let ready = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(500u16)).unwrap();
    let mut buf = [0u8; 64];
    let read = if ready > 0 { diag.read(&mut buf).unwrap_or(0) } else { 0 };
    assert_eq!(read, 0, "the diagnostics port answered {:?}", &buf[..read]);
}

#[test]
fn a_usb_fleet_gives_each_modem_the_interface_set() {
    let dir = tempfile::tempdir().unwrap();
    let links = dir.path().join("links");
    let mut child = std::process::Command::new(bin())
        .args(["--modems", "2", "--usb", "--ready-json", "--boot-delay", "0", "--link-dir"])
        .arg(&links)
        .arg("--efs")
        .arg(dir.path().join("efs"))
        .arg("--state")
        .arg(dir.path().join("state"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..2 {
        let mut l = String::new();
        std::io::BufRead::read_line(&mut out, &mut l).unwrap();
        lines.push(serde_json::from_str::<serde_json::Value>(&l).unwrap());
    }
    for (i, l) in lines.iter().enumerate() {
        let roles: Vec<&str> = l["ports"].as_array().unwrap().iter().map(|p| p["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["diag", "nmea", "at", "modem"], "{l}");
        for role in ["at", "modem"] {
            let link = links.join(format!("ttySIM5360-{i}-{role}"));
            let mut d = testbench::open_tty(&link).unwrap();
            d.line_end = b"\r\n";
            d.send_line("AT+CNUM");
            let want = format!("+CNUM: \"\",\"{}\",145", l["msisdn"].as_str().unwrap());
            d.expect_eventually(&want);
        }
    }
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM);
    let _ = child.wait();
}
