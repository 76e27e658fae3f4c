//! The 27.010 multiplexer end to end on the real binary, driven by the test bench's
//! 27.010 client (written from the standard) over the UART PTY as firmware drives it:
//! esp_modem's and Zephyr's opening sequences, OVMS's (service ports, `AT+CATR=6`, NMEA on
//! DLCI 1), AT on two channels at once, an SMS's `+CMTI` on the right channel while the
//! other is mid-answer, lwIP's PPP on one channel while another answers `AT+CSQ`, a DTR
//! drop by MSC, close-down back to AT, the trace and the control API.
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use std::path::Path;
use std::time::{Duration, Instant};
use testbench::{EchoServer, LwipClient, ModemProcess, MuxClient, Transport};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sim5360"))
}

const T: Duration = Duration::from_secs(10);

fn modem(extra: &[&str]) -> ModemProcess {
    let mut args = vec!["--no-nmea", "--control", "127.0.0.1:0", "--ready-json"];
    args.extend_from_slice(extra);
    let m = ModemProcess::start(bin(), Transport::Pty, &args).unwrap();
    // Booted, echo off, before the multiplexer.
    let mut d = m.open_pty().unwrap();
    d.line_end = b"\r\n";
    d.send_line("ATE0");
    d.expect_eventually("OK");
    m
}

fn api(m: &ModemProcess, method: &str, path: &str, body: Option<&str>) -> serde_json::Value {
    let url = m.control.as_deref().unwrap();
    testbench::control_http(url, method, &format!("/api/v1/modems/0/{path}"), &[], body).1
}

#[test]
fn esp_modems_sequence_two_channels_at_once_and_close_down() {
    let m = modem(&[]);
    // esp_modem: AT+CMUX=0, OK, then SABM 0, 1, 2, each answered UA|PF within 1 s; data
    // from the DTE with C/R 0.
    let mut mux = MuxClient::start(&m.link.clone().unwrap(), "AT+CMUX=0", true).unwrap();
    mux.cr = false;
    mux.open(&[1, 2]).unwrap();
    for ch in [1, 2] {
        mux.send_line(ch, "ATE0").unwrap();
        mux.expect(ch, "OK\r\n", T).unwrap();
    }
    // Both channels' commands on the wire before either answer is read.
    for i in 0..20 {
        mux.send_line(1, "AT+CSQ").unwrap();
        mux.send_line(2, if i % 2 == 0 { "AT+CGMM" } else { "AT" }).unwrap();
        let a = mux.expect(1, "OK\r\n", T).unwrap();
        assert!(a.contains("+CSQ: 21,99"), "{a}");
        let b = mux.expect(2, "OK\r\n", T).unwrap();
        assert_eq!(b.contains("SIMCOM_SIM5360E"), i % 2 == 0, "{b}");
    }
    // Every frame the module sent carries at most 31 octets (N1 not given) and a good FCS.
    let (sizes, bad) = mux.sizes();
    assert!(sizes.iter().all(|s| *s <= 31) && bad == 0, "{sizes:?} {bad}");
    let state = api(&m, "GET", "", None);
    let ch = &state["mux"]["channels"];
    assert_eq!(
        (&ch[0]["open"], &ch[1]["open"], &ch[2]["open"]),
        (&true.into(), &true.into(), &false.into()),
        "{state}"
    );
    assert!(ch[0]["frames_in"].as_u64().unwrap() >= 21, "{state}");
    // DISC 1, DISC 2, CLD: the UART answers AT again.
    assert_eq!(mux.disc(1).unwrap().control, 0x63 | 0x10);
    assert_eq!(mux.disc(2).unwrap().control, 0x63 | 0x10);
    let cld = mux.close_down().unwrap();
    assert_eq!(cld.encode(), [0xF9, 0x03, 0xEF, 0x05, 0xC1, 0x01, 0xF2, 0xF9]);
    drop(mux);
    let mut d = m.open_pty().unwrap();
    d.line_end = b"\r\n";
    d.cmd_expect("AT", &["OK"]);
    assert_eq!(api(&m, "GET", "", None)["mux"], serde_json::Value::Null);
}

#[test]
fn zephyrs_sequence_with_127_octet_frames() {
    let m = modem(&[]);
    // Zephyr's SIMCom script sends AT+CMUX=0,0,5,127 without waiting, then SABM 0 (again
    // every 330 ms until UA), 1 and 2, data with C/R 1.
    let mux = MuxClient::start(&m.link.clone().unwrap(), "AT+CMUX=0,0,5,127", false).unwrap();
    mux.open(&[1, 2]).unwrap();
    mux.send_line(2, "AT+CREG?").unwrap();
    mux.expect(2, "+CREG: 0,1", T).unwrap();
    mux.send_line(1, "AT+CGACT=0,1").unwrap();
    mux.expect(1, "OK\r\n", T).unwrap();
    mux.send_line(1, "ATI").unwrap();
    let ati = mux.expect(1, "OK\r\n", T).unwrap();
    assert!(ati.contains("IMEI: 861311000000421"), "{ati}");
    let (sizes, bad) = mux.sizes();
    assert!(sizes.iter().all(|s| *s <= 127) && sizes.iter().any(|s| *s > 31) && bad == 0, "{sizes:?}");
    // A 200-octet frame is over N1 (127): dropped, counted; the channel goes on.
    let f = testbench::cmux::MuxFrame {
        address: 0x07,
        control: 0xEF,
        info: [b"AT+CGMM".as_slice(), &[b' '; 192], b"\r"].concat(),
    };
    mux.send_raw(&f.encode()).unwrap();
    mux.send_line(1, "AT").unwrap();
    let after = mux.expect(1, "OK\r\n", T).unwrap();
    assert!(!after.contains("SIMCOM"), "{after}");
    let state = api(&m, "GET", "", None);
    assert_eq!(state["mux"]["too_long"], 1, "{state}");
    assert_eq!(state["mux"]["send_max"], 127, "{state}");
}

#[test]
fn an_sms_reaches_the_channel_that_is_free_at_once_and_the_busy_one_after() {
    let m = modem(&[]);
    let mux = MuxClient::start(&m.link.clone().unwrap(), "AT+CMUX=0", true).unwrap();
    mux.open(&[1, 2]).unwrap();
    for ch in [1, 2] {
        mux.send_line(ch, "ATE0;+CMGF=1").unwrap();
        mux.expect(ch, "OK\r\n", T).unwrap();
    }
    // Channel 1 mid-answer: its SMS prompt is open.
    mux.send_line(1, "AT+CMGS=\"+15550009\"").unwrap();
    mux.expect(1, "> ", T).unwrap();
    api(&m, "POST", "sms", Some(r#"{"from": "+15550001", "text": "hello"}"#));
    mux.expect(2, "+CMTI: \"SM\",1", T).unwrap();
    // Not on channel 1 while its line runs; there after.
    std::thread::sleep(Duration::from_millis(300));
    assert!(!String::from_utf8_lossy(&mux.take(1)).contains("+CMTI"));
    mux.send(1, b"hi\x1a").unwrap();
    let rest = mux.expect(1, "+CMTI: \"SM\",1", T).unwrap();
    assert!(rest.contains("+CMGS: 0") && rest.find("OK").unwrap() < rest.find("+CMTI").unwrap(), "{rest}");
}

#[test]
fn lwips_ppp_on_channel_1_while_channel_2_answers_and_an_msc_dtr_drop_hangs_up() {
    let echo = EchoServer::tcp().unwrap();
    let m = modem(&[]);
    let mut mux = MuxClient::start(&m.link.clone().unwrap(), "AT+CMUX=0,0,5,127", true).unwrap();
    mux.open(&[1, 2]).unwrap();
    mux.send_line(2, "ATE0").unwrap();
    mux.expect(2, "OK\r\n", T).unwrap();
    let tty = mux.bridge(1).unwrap();
    // 2 MiB through the echo server on channel 1, then DTR dropped (MSC with RTC clear).
    let target = format!("10.64.64.64:{}:2097152", echo.port);
    let mut call = LwipClient::spawn(&tty, &["--echo", &target, "--end", "dtr"]).unwrap();
    call.wait_line("up ", T).unwrap();
    let mut answered = 0;
    let started = Instant::now();
    let mut during = 0;
    while answered < 30 {
        mux.send_line(2, "AT+CSQ").unwrap();
        mux.expect(2, "+CSQ: 21,99\r\n\r\nOK\r\n", T).unwrap();
        answered += 1;
        if api(&m, "GET", "", None)["ppp"]["call"]["phase"] == "network" {
            during += 1;
        }
    }
    let run = call.finish(Duration::from_secs(120)).unwrap();
    assert!(run.status.success(), "{}", run.show());
    assert_eq!(run.line("echo"), Some("echo ok 2097152"), "{}", run.show());
    assert_eq!(run.line("end"), Some("end NO CARRIER"), "{}", run.show());
    assert!(during > 0, "no AT+CSQ answered while the call was up ({:?})", started.elapsed());
    // The call's PPP went through channel 1, the state report counts it.
    let state = api(&m, "GET", "", None);
    assert!(state["mux"]["channels"][0]["bytes_in"].as_u64().unwrap() > 2 << 20, "{state}");
    assert_eq!(state["ppp"]["call"], serde_json::Value::Null, "{state}");
    mux.send_line(2, "AT+CGACT?").unwrap();
    let act = mux.expect(2, "OK\r\n", T).unwrap();
    assert!(act.contains("+CGACT: 1,0"), "{act}");
}

#[test]
fn ovms_opens_four_channels_with_nmea_on_one_and_urcs_on_another() {
    let m = modem(&["--gnss-ttff", "0s"]);
    // OVMS's SIM5360 driver: service ports one by one, then AT+CMUX=0;+CATR=6.
    let mut d = m.open_pty().unwrap();
    d.line_end = b"\r\n";
    for line in ["AT+CMUXSRVPORT=3,1", "AT+CMUXSRVPORT=2,1", "AT+CMUXSRVPORT=1,1", "AT+CMUXSRVPORT=0,5"] {
        d.cmd_expect(line, &["OK"]);
    }
    drop(d);
    let mux = MuxClient::start(&m.link.clone().unwrap(), "AT+CMUX=0;+CATR=6", true).unwrap();
    mux.open(&[1, 2, 3, 4]).unwrap();
    mux.send_line(4, "ATE0").unwrap();
    mux.expect(4, "OK\r\n", T).unwrap();
    mux.send_line(4, "AT+CGPSNMEA=66;+CGPS=1,1").unwrap();
    mux.expect(4, "OK\r\n", T).unwrap();
    // NMEA sentences on DLCI 1.
    mux.expect(1, "$GPRMC,", Duration::from_secs(15)).unwrap();
    // The network's URCs on DLCI 3 only.
    api(&m, "POST", "sms", Some(r#"{"from": "+15550001", "text": "to the poll channel"}"#));
    mux.expect(3, "+CMTI: \"SM\",1", T).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for ch in [2, 4] {
        assert!(!String::from_utf8_lossy(&mux.take(ch)).contains("+CMTI"), "channel {ch}");
    }
    // AT typed on the NMEA channel is not answered.
    let _ = mux.take(1);
    mux.send_line(1, "AT").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!String::from_utf8_lossy(&mux.take(1)).contains("OK"));
    let state = api(&m, "GET", "", None);
    assert_eq!(state["mux"]["channels"][0]["nmea"], true, "{state}");
}

#[test]
fn the_trace_shows_frames_and_each_channels_lines() {
    let trace = tempfile::NamedTempFile::new().unwrap();
    let path = trace.path().display().to_string();
    let m = modem(&["--trace", &path]);
    let mux = MuxClient::start(&m.link.clone().unwrap(), "AT+CMUX=0", true).unwrap();
    mux.open(&[1, 2]).unwrap();
    mux.send_line(2, "AT+CGMM").unwrap();
    mux.expect(2, "OK\r\n", T).unwrap();
    mux.close_down().unwrap();
    drop(mux);
    std::thread::sleep(Duration::from_millis(300));
    let text = std::fs::read_to_string(trace.path()).unwrap();
    for want in
        ["MUX SABM dlci=1 P", "MUX UA dlci=2 P", "MUX UIH dlci=0 MSC cmd dlci=1 v24=0x8d", "MUX UIH dlci=0 CLD resp"]
    {
        assert!(text.contains(want), "no {want:?} in the trace:\n{text}");
    }
    // The OK of AT+CMUX went out as text, before the first frame.
    assert!(!text.contains("outside frames"), "{text}");
    let channel: Vec<&str> = text.lines().filter(|l| l.contains("mux2")).collect();
    assert!(channel.iter().any(|l| l.contains("AT+CGMM")), "{text}");
    assert!(channel.iter().any(|l| l.contains("SIMCOM_SIM5360E")), "{text}");
}
