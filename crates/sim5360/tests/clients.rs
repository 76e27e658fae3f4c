//! The start-up sequences of real clients, from their public code (TinyGSM,
//! python-gsmmodem, gammu, Freematics, FONA, mbed, OVMS, IOXhop, ModemManager), replayed in
//! their order over a PTY with CR LF line endings (Arduino `println`), each answer checked the
//! way that client parses it. The SMS and socket steps of these sequences belong to later
//! issues; each test says which steps it leaves out. The real programs that exist in the
//! registries (gammu, python-gsmmodem-new) run in tests/real_clients.rs.
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use std::path::Path;
use std::time::Duration;
use testbench::{Dte, ModemProcess, NtpServer, Transport};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sim5360"))
}

/// The modem on a PTY, `extra` arguments, and a CR LF DTE that has seen `PB DONE`.
fn booted(extra: &[&str]) -> (ModemProcess, Dte) {
    let m = ModemProcess::start(bin(), Transport::Pty, extra).unwrap();
    let mut dte = m.open_pty().unwrap();
    dte.line_end = b"\r\n";
    dte.expect_eventually("PB DONE");
    (m, dte)
}

/// The information lines of a command that must answer OK.
fn ok(dte: &mut Dte, line: &str) -> Vec<String> {
    let mut got = dte.cmd(line);
    if got.last().map(String::as_str) != Some("OK") {
        dte.fail(&format!("{line}: expected OK, got {got:?}"));
    }
    got.pop();
    // With echo on, the first line is the command itself.
    if got.first().is_some_and(|l| l == line) {
        got.remove(0);
    }
    got
}

/// The one line of `line`'s OK answer that starts with `prefix`, without the prefix.
fn value(dte: &mut Dte, line: &str, prefix: &str) -> String {
    let got = ok(dte, line);
    match got.iter().find_map(|l| l.strip_prefix(prefix)) {
        Some(v) => v.to_owned(),
        None => dte.fail(&format!("{line}: no {prefix:?} line in {got:?}")),
    }
}

/// C `atof`: the longest number at the start of `s` (0.0 if none).
fn atof(s: &str) -> f64 {
    let s = s.trim_start();
    let end = s
        .char_indices()
        .take_while(|&(i, c)| c.is_ascii_digit() || c == '.' || (i == 0 && (c == '-' || c == '+')))
        .map(|(i, c)| i + c.len_utf8())
        .last()
        .unwrap_or(0);
    s[..end].parse().unwrap_or(0.0)
}

/// C `atoi`.
fn atoi(s: &str) -> i64 {
    atof(s).trunc() as i64
}

/// `ddmm.mmmm` (or `dddmm.mmmm`) as degrees, as Freematics' `parseDegree` reads it.
fn parse_degree(s: &str) -> f64 {
    let v = atof(s);
    let deg = (v / 100.0).trunc();
    deg + (v - deg * 100.0) / 60.0
}

/// TinyGSM SIM5360 class [TG]: restart(), init(), the status getters, battery,
/// temperature, GPS, NTP, sleep, radio off and power off. (Its SMS, USSD and socket
/// functions come with those issues.)
#[test]
fn tinygsm_sim5360() {
    let ntp = NtpServer::start().unwrap();
    let (_m, mut dte) = booted(&["--boot-delay", "1s", "--gnss-ttff", "1s", "--no-nmea"]);
    // restart(): AT, AT+REBOOT → OK, then PB DONE within 40 s.
    dte.timeout = Duration::from_secs(40);
    ok(&mut dte, "AT");
    ok(&mut dte, "AT+REBOOT");
    dte.expect_eventually("PB DONE");
    // init(): AT until OK, ATE0 must OK, CMEE any, CGMI/CGMM, CTZR=0 and CTZU=1 must OK.
    dte.timeout = Duration::from_secs(10);
    ok(&mut dte, "AT");
    assert_eq!(dte.cmd("ATE0"), ["ATE0", "OK"]);
    dte.cmd("AT+CMEE=0");
    assert_eq!(ok(&mut dte, "AT+CGMI"), ["SIMCOM INCORPORATED"]);
    assert_eq!(ok(&mut dte, "AT+CGMM"), ["SIMCOM_SIM5360E"]);
    ok(&mut dte, "AT+CTZR=0");
    ok(&mut dte, "AT+CTZU=1");
    assert_eq!(value(&mut dte, "AT+CPIN?", "+CPIN: "), "READY");
    // Status: text answers are taken whole (minus OK).
    assert!(ok(&mut dte, "ATI").iter().any(|l| l == "Model: SIMCOM_SIM5360E"));
    assert_eq!(ok(&mut dte, "AT+CGMR"), ["+CGMR: SIM5360E_V3.5"]);
    let imei = ok(&mut dte, "AT+CGSN");
    assert!(imei.len() == 1 && imei[0].len() == 15 && imei[0].bytes().all(|b| b.is_ascii_digit()), "{imei:?}");
    assert_eq!(ok(&mut dte, "AT+GSN"), imei);
    let iccid = value(&mut dte, "AT+CICCID", "+ICCID: ");
    assert!((19..=20).contains(&iccid.len()) && iccid.starts_with("89"), "{iccid}");
    let imsi = ok(&mut dte, "AT+CIMI");
    assert!(imsi[0].starts_with("00101"), "{imsi:?}");
    // getOperator(): the first quoted string.
    let cops = value(&mut dte, "AT+COPS?", "+COPS: ");
    assert_eq!(cops.split('"').nth(1), Some("Test Network"));
    let spn = value(&mut dte, "AT+CSPN?", "+CSPN: ");
    assert!(spn.starts_with('"'), "{spn}");
    // getSignalQuality(): the int before ','.
    let csq = value(&mut dte, "AT+CSQ", "+CSQ: ");
    let rssi = atoi(csq.split(',').next().unwrap());
    assert!((1..=31).contains(&rssi), "{csq}");
    // isNetworkConnected(): stat after the first ',' is 1 or 5.
    let cgreg = value(&mut dte, "AT+CGREG?", "+CGREG: ");
    assert!(matches!(atoi(cgreg.split(',').nth(1).unwrap()), 1 | 5), "{cgreg}");
    // getNetworkModes / getNetworkMode / setNetworkMode.
    let modes = value(&mut dte, "AT+CNMP=?", "+CNMP: ");
    assert!(modes.starts_with('(') && modes.contains("13") && modes.contains("14"), "{modes}");
    assert_eq!(atoi(&value(&mut dte, "AT+CNMP?", "+CNMP: ")), 2);
    ok(&mut dte, "AT+CNMP=2");
    // getGSMDateTime(): waits for `+CCLK: "`.
    let cclk = value(&mut dte, "AT+CCLK?", "+CCLK: \"");
    assert_eq!(cclk.len(), 21, "{cclk}");
    // getBattVoltage(): skip two fields, float volts before LF, ×1000.
    let cbc = value(&mut dte, "AT+CBC", "+CBC: ");
    let fields: Vec<&str> = cbc.splitn(3, ',').collect();
    assert_eq!(fields.len(), 3, "{cbc}");
    let mv = (atof(fields[2]) * 1000.0).round() as i64;
    assert!((3300..=4300).contains(&mv), "{cbc}");
    let pct = atoi(fields[1]);
    assert!((1..=100).contains(&pct), "{cbc}");
    // getTemperature(): CMTE=1 must OK, then a float before LF.
    ok(&mut dte, "AT+CMTE=1");
    let t = atof(&value(&mut dte, "AT+CMTE?", "+CMTE: "));
    assert!((-40.0..=85.0).contains(&t) && t != 1.0, "{t}");
    // GPS: enableGPS, getGPS before and after the fix, disableGPS.
    ok(&mut dte, "AT+CGPS=1");
    let info = value(&mut dte, "AT+CGPSINFO", "+CGPSINFO:");
    // streamGetFloatBefore(',') on an empty field is -9999: no fix. A space would read 0.0.
    assert!(info.starts_with(','), "no-fix form {info:?}");
    std::thread::sleep(Duration::from_millis(1500));
    let info = value(&mut dte, "AT+CGPSINFO", "+CGPSINFO:");
    let f: Vec<&str> = info.split(',').collect();
    assert_eq!(f.len(), 9, "{info}");
    let lat = parse_degree(f[0]);
    assert!(lat > 0.0 && f[1].len() == 1 && f[3].len() == 1, "{info}");
    // Day, month, hour, minute: exactly two digits each.
    assert!(f[4].len() == 6 && f[5].len() >= 6 && f[5].as_bytes()[6] == b'.', "{info}");
    assert!(atof(f[6]) != 0.0 && !f[7].is_empty() && !f[8].is_empty(), "alt, speed and course {info}");
    ok(&mut dte, "AT+CGPS=0");
    // NTPServerSync(): CNTPCID any, the server must OK, the sync: +CNTP: within 10 s.
    dte.cmd("AT+CNTPCID=1");
    ok(&mut dte, &format!("AT+CNTP=\"127.0.0.1:{}\",0", ntp.port));
    ok(&mut dte, "AT+CNTP");
    assert_eq!(atoi(dte.wait_for("+CNTP:").strip_prefix("+CNTP:").unwrap()), 0, "{}", ntp.log_tail());
    // sleepEnable(), radioOff() and back, poweroff().
    ok(&mut dte, "AT+CSCLK=1");
    ok(&mut dte, "AT+CSCLK=0");
    ok(&mut dte, "AT+CFUN=4");
    ok(&mut dte, "AT+CFUN=1");
    ok(&mut dte, "AT+CPOF");
    // Powered off: nothing answers.
    dte.send_line("AT");
    let after = dte.idle(Duration::from_millis(500));
    assert!(after.is_empty(), "answered after AT+CPOF: {}", testbench::escape(&after));
}

/// python-gsmmodem `GsmModem.connect()` in the traced order (steps 1–19), and the
/// functions a gateway calls (signalStrength, networkName, ownNumber,
/// waitForNetworkCoverage). `tests/real_clients.rs` runs the library itself.
#[test]
fn python_gsmmodem_connect_system_steps() {
    let (_m, mut dte) = booted(&["--no-nmea"]);
    // ATZ with echo still on: the echo is part of the answer, OK ends it.
    let atz = dte.cmd("ATZ");
    assert_eq!(atz.last().unwrap(), "OK");
    assert_eq!(dte.cmd("ATE0"), ["ATE0", "OK"]);
    let cfun = value(&mut dte, "AT+CFUN?", "+CFUN: ");
    assert_eq!(atoi(&cfun), 1);
    ok(&mut dte, "AT+CMEE=1");
    // The line must equal `+CPIN: READY`.
    assert_eq!(ok(&mut dte, "AT+CPIN?"), ["+CPIN: READY"]);
    // CLAC: more than two lines, one `AT<cmd>` each.
    let clac = ok(&mut dte, "AT+CLAC");
    assert!(clac.len() > 2 && clac.iter().all(|l| l.starts_with("AT")), "{clac:?}");
    let commands: Vec<&str> = clac.iter().map(|l| &l[2..]).collect();
    assert!(commands.contains(&"+CNUM") && commands.contains(&"+CLIP"), "{commands:?}");
    // The manufacturer: the first line, containing "simcom".
    let cgmi = ok(&mut dte, "AT+CGMI");
    assert!(cgmi[0].to_lowercase().contains("simcom"));
    ok(&mut dte, "AT+DDET=1");
    ok(&mut dte, "AT+CGMI");
    assert_eq!(dte.cmd("AT+ZPAS?").last().unwrap(), "ERROR");
    ok(&mut dte, "AT+COPS=3,0");
    ok(&mut dte, "AT+CMGF=0");
    // \+CSCA:\s*"([^,]+)",(\d+)$ : no space before the type.
    let csca = ok(&mut dte, "AT+CSCA?");
    let (num, toa) = csca[0].strip_prefix("+CSCA: \"").unwrap().split_once("\",").unwrap();
    assert!(!num.contains(',') && toa.parse::<u8>().is_ok(), "{csca:?}");
    ok(&mut dte, "AT+CSMP=49,167,0,0");
    // split(' ',1)[1].split('),(') : three lists, each with "ME", "SM" or "SR".
    let cpms = ok(&mut dte, "AT+CPMS=?");
    let lists: Vec<&str> = cpms[0].split_once(' ').unwrap().1.split("),(").collect();
    assert_eq!(lists.len(), 3, "{cpms:?}");
    assert!(lists.iter().all(|l| l.contains("\"ME\"")), "{cpms:?}");
    assert_eq!(ok(&mut dte, "AT+CPMS=\"ME\",\"ME\",\"ME\""), ["+CPMS: 0,23,0,23,0,23"]);
    ok(&mut dte, "AT+CNMI=2,1,0,2");
    ok(&mut dte, "AT+CLIP=1");
    ok(&mut dte, "AT+CRC=1");
    ok(&mut dte, "AT+CVHU=0");
    // signalStrength: ^\+CSQ:\s*(\d+), on the first line.
    let csq = ok(&mut dte, "AT+CSQ");
    let rssi = csq[0].strip_prefix("+CSQ:").unwrap().trim_start().split(',').next().unwrap();
    assert!(rssi.parse::<u8>().is_ok_and(|r| r <= 31), "{csq:?}");
    // networkName: ^\+COPS: (\d),(\d),"(.+)",{0,1}\d*$
    let cops = ok(&mut dte, "AT+COPS?");
    let rest = cops[0].strip_prefix("+COPS: ").unwrap();
    let parts: Vec<&str> = rest.splitn(3, ',').collect();
    assert!(parts[0].len() == 1 && parts[1].len() == 1, "{cops:?}");
    let (name, tail) = parts[2].strip_prefix('"').unwrap().rsplit_once('"').unwrap();
    assert_eq!(name, "Test Network");
    let tail = tail.strip_prefix(',').unwrap_or(tail);
    assert!(tail.bytes().all(|b| b.is_ascii_digit()), "{cops:?}");
    // ownNumber: ^\+CNUM:\s*".*?","(\+{0,1}\d+)",(\d+).*$
    let cnum = ok(&mut dte, "AT+CNUM");
    let f: Vec<&str> = cnum[0].strip_prefix("+CNUM:").unwrap().trim_start().split(',').collect();
    assert!(f[0].starts_with('"') && f[0].ends_with('"'), "{cnum:?}");
    let number = f[1].trim_matches('"');
    assert!(number.trim_start_matches('+').bytes().all(|b| b.is_ascii_digit()) && !number.is_empty(), "{cnum:?}");
    assert!(f[2].parse::<u16>().is_ok(), "{cnum:?}");
    // waitForNetworkCoverage: ^\+CREG:\s*(\d),(\d)(,[^,]*,[^,]*)?$, stat 1.
    for n in ["0", "2"] {
        ok(&mut dte, &format!("AT+CREG={n}"));
        let creg = ok(&mut dte, "AT+CREG?");
        let f: Vec<&str> = creg[0].strip_prefix("+CREG:").unwrap().trim_start().split(',').collect();
        assert!(f.len() == 2 || f.len() == 4, "{creg:?}");
        assert!(f[0].len() == 1 && f[1] == "1", "{creg:?}");
    }
}

/// gammu's AT-driver initialisation (run twice: model detection), then the system part
/// of `gammu monitor` (its CNMI/CPBS/CUSD steps are SMS and USSD). Replies are routed by
/// the echoed command line, so every answer must start with its echo.
#[test]
fn gammu_init_and_monitor_system_steps() {
    let (_m, mut dte) = booted(&["--no-nmea"]);
    // gammu ends its lines with CR; this replay uses CR LF, which a module takes alike.
    let echoed = |dte: &mut Dte, line: &str| -> Vec<String> {
        let got = dte.cmd(line);
        if got.first().map(String::as_str) != Some(line) {
            dte.fail(&format!("{line}: answer without its echo: {got:?}"));
        }
        got[1..].to_vec()
    };
    for pass in 0..2 {
        // ESC CR (leaves any prompt), echoed as it came.
        dte.send(b"\x1b\r");
        dte.expect("\u{1b}");
        echoed(&mut dte, "AT");
        assert_eq!(echoed(&mut dte, "ATE1"), ["OK"]);
        assert_eq!(echoed(&mut dte, "AT+MODE=2").last().unwrap(), "ERROR");
        assert_eq!(echoed(&mut dte, "AT+CMEE=1"), ["OK"]);
        // AT+CSCS? and =? are SMS (survivable errors for gammu).
        echoed(&mut dte, "AT+CSCS?");
        echoed(&mut dte, "AT+CSCS=?");
        if pass == 0 {
            assert_eq!(echoed(&mut dte, "AT+CGMM"), ["SIMCOM_SIM5360E", "OK"]);
        }
        assert_eq!(echoed(&mut dte, "AT+CGMI"), ["SIMCOM INCORPORATED", "OK"]);
        for probe in ["AT+CPROT=?", "AT+SYNCML=?", "AT$TSSPCSW=?", "AT+CHUP=?"] {
            let got = echoed(&mut dte, probe);
            assert!(matches!(got.last().map(String::as_str), Some("OK" | "ERROR")), "{probe}: {got:?}");
        }
    }
    assert_eq!(echoed(&mut dte, "AT+CGMR"), ["+CGMR: SIM5360E_V3.5", "OK"]);
    assert_eq!(echoed(&mut dte, "AT+CFUN=1"), ["OK"]);
    // monitor: battery `+CBC: @i, @i` (charge state, percent).
    let cbc = echoed(&mut dte, "AT+CBC");
    let f: Vec<&str> = cbc[0].strip_prefix("+CBC: ").unwrap().split(',').collect();
    assert!(f[0].parse::<u8>().is_ok() && f[1].parse::<u8>().is_ok_and(|p| p <= 100), "{cbc:?}");
    let csq = echoed(&mut dte, "AT+CSQ");
    assert!(csq[0].starts_with("+CSQ: "), "{csq:?}");
    assert_eq!(echoed(&mut dte, "AT+CREG=2"), ["OK"]);
    assert_eq!(echoed(&mut dte, "AT+CGREG=2"), ["OK"]);
    assert_eq!(echoed(&mut dte, "AT+CGATT?"), ["+CGATT: 1", "OK"]);
    // LAC and CID, quoted hex, printed by gammu as "LAC 00C3, CID 0A1B2C3".
    for (cmd, prefix) in [("AT+CREG?", "+CREG: 2,1,"), ("AT+CGREG?", "+CGREG: 2,1,")] {
        let got = echoed(&mut dte, cmd);
        let cell = got[0].strip_prefix(prefix).unwrap_or_else(|| panic!("{cmd}: {got:?}"));
        let ids: Vec<&str> = cell.split(',').map(|s| s.trim_matches('"')).collect();
        assert!(ids.len() == 2 && ids.iter().all(|i| u32::from_str_radix(i, 16).is_ok()), "{got:?}");
    }
    // The numeric operator after AT+COPS=3,2.
    assert_eq!(echoed(&mut dte, "AT+COPS=3,2"), ["OK"]);
    let cops = echoed(&mut dte, "AT+COPS?");
    assert!(cops[0].starts_with("+COPS: 0,2,\"00101\""), "{cops:?}");
    assert_eq!(echoed(&mut dte, "AT+COPS=3,0"), ["OK"]);
}

/// Freematics `CellSIMCOM` (SIM5360 branch) [FREEM]: begin(), checkSIM(), setup() up to
/// the socket PDP (AT+CIPMODE and AT+NETOPEN are the socket issue's), setGPS() with the
/// periodic reports it harvests from later answers, end().
#[test]
fn freematics_sim5360() {
    let (_m, mut dte) = booted(&["--gnss", "52.5163,13.3777,34", "--gnss-ttff", "1s", "--no-nmea"]);
    // check(): `AT\rAT\r`, waiting for `\r\nOK`.
    dte.send(b"AT\rAT\r");
    dte.expect_eventually("OK");
    let _ = dte.idle(Duration::from_millis(200));
    let out = dte.cmd("ATE0");
    assert_eq!(out.last().unwrap(), "OK");
    // ATI: the model after `Model: ` and its first `_` contains 5360; the IMEI after `IMEI: `.
    let ati = ok(&mut dte, "ATI");
    let model = ati.iter().find_map(|l| l.strip_prefix("Model: ")).unwrap();
    assert!(model.split_once('_').unwrap().1.contains("5360"), "{ati:?}");
    let imei = ati.iter().find_map(|l| l.strip_prefix("IMEI: ")).unwrap();
    assert_eq!(imei.len(), 15);
    // checkSIM(): `: READY`, RPMPARAM any, CPIN? again.
    assert!(ok(&mut dte, "AT+CPIN?")[0].ends_with(": READY"));
    dte.cmd("AT+RPMPARAM=0");
    assert!(ok(&mut dte, "AT+CPIN?")[0].ends_with(": READY"));
    // setup(): CPSI? must contain `,Online` (ERROR fails setup at once), then `+CREG: 0,1`.
    let cpsi = ok(&mut dte, "AT+CPSI?");
    assert!(cpsi[0].contains(",Online"), "{cpsi:?}");
    let creg = ok(&mut dte, "AT+CREG?");
    assert!(creg[0].starts_with("+CREG: 0,") && matches!(&creg[0][9..], "1" | "5" | "6"), "{creg:?}");
    ok(&mut dte, "AT+CGSOCKCONT=1,\"IP\",\"internet\"");
    ok(&mut dte, "AT+CSOCKAUTH=1,1,\"user\",\"secret\"");
    ok(&mut dte, "AT+CSOCKSETPN=1");
    // setGPS(true): the antenna (results ignored), then CGPS=1,1 and CGPSINFO=1 both OK.
    dte.cmd("AT+CVAUXV=61");
    dte.cmd("AT+CVAUXS=1");
    ok(&mut dte, "AT+CGPS=1,1");
    ok(&mut dte, "AT+CGPSINFO=1");
    // getLocation(): +CGPSINFO: lines found in whatever arrives; `,` after the colon = no fix.
    let mut fix = None;
    for _ in 0..10 {
        let line = dte.wait_for("+CGPSINFO:");
        let p = line.strip_prefix("+CGPSINFO:").unwrap();
        if !p.starts_with(',') {
            fix = Some(p.to_owned());
            break;
        }
    }
    let p = fix.expect("a fix within 10 reports");
    let f: Vec<&str> = p.split(',').collect();
    let lat = parse_degree(f[0]) * if f[1] == "S" { -1.0 } else { 1.0 };
    let lon = parse_degree(f[2]) * if f[3] == "W" { -1.0 } else { 1.0 };
    assert!((lat - 52.5163).abs() < 1e-5 && (lon - 13.3777).abs() < 1e-5, "{p}");
    let date = atoi(f[4]);
    let time = (atof(f[5]) * 100.0) as i64;
    assert!(date > 10100 && time >= 0, "{p}");
    assert!((atof(f[6]) - 34.0).abs() < 0.05 && atoi(f[8]) >= 0, "{p}");
    ok(&mut dte, "AT+CGPSINFO=0");
    ok(&mut dte, "AT+CGPS=0");
    ok(&mut dte, "AT+CPOF");
}

/// Adafruit FONA 3G / botletics on the sim5320 profile [FONA][BOT]: begin() type detection,
/// battery volts, ADC, GPS on, status, off (its SMS steps are the SMS issue's).
#[test]
fn fona_3g_sim5320() {
    let (_m, mut dte) = booted(&["--profile", "sim5320", "--gnss-ttff", "1s", "--no-nmea"]);
    let first = dte.cmd("AT");
    assert_eq!(first.last().unwrap(), "OK");
    dte.cmd("ATE0");
    assert_eq!(dte.cmd("ATE0"), ["OK"]);
    dte.cmd("AT+CVHU=0");
    // Type detection: ATI contains SIMCOM_SIM5320E.
    assert!(ok(&mut dte, "ATI").iter().any(|l| l.contains("SIMCOM_SIM5320E")));
    // getBattVoltage() (3G): field 2 after `+CBC: ` as float volts.
    let cbc = value(&mut dte, "AT+CBC", "+CBC: ");
    let mv = (atof(cbc.split(',').nth(2).unwrap()) * 1000.0) as i64;
    assert!((3300..=4300).contains(&mv), "{cbc}");
    // getADCVoltage(): `+CADC: 1,<value>`.
    let cadc = value(&mut dte, "AT+CADC?", "+CADC: ");
    let (one, v) = cadc.split_once(',').unwrap();
    assert!(one == "1" && v.parse::<u32>().is_ok(), "{cadc}");
    // enableGPS(true) (3G): AT+CGPS? first, then on.
    assert_eq!(atoi(&value(&mut dte, "AT+CGPS?", "+CGPS: ")), 0);
    ok(&mut dte, "AT+CGPS=1");
    // GPSstatus(): p[10] != ',' after `+CGPSINFO:` is a fix.
    let line = ok(&mut dte, "AT+CGPSINFO")[0].clone();
    assert_eq!(line.as_bytes()[10], b',', "no fix yet: {line}");
    std::thread::sleep(Duration::from_millis(1500));
    let line = ok(&mut dte, "AT+CGPSINFO")[0].clone();
    assert_ne!(line.as_bytes()[10], b',', "fixed: {line}");
    // getGPS(): strtok(",") fields; alt, speed and course are numbers.
    let f: Vec<&str> = line[10..].split(',').filter(|s| !s.is_empty()).collect();
    assert_eq!(f.len(), 9, "{line}");
    // enableGPS(false): CGPS=0, then readline(2000) eats `+CGPS: 0`.
    ok(&mut dte, "AT+CGPS=0");
    match dte.try_line(Duration::from_millis(2000)) {
        Some(l) => assert_eq!(l, "+CGPS: 0"),
        None => panic!("no +CGPS: 0 within FONA's 2 s"),
    }
}

/// mbed sim5320-driver [VZN]: reset with START then PB DONE, its start-up switches, the
/// cell-location read of AT+CCINFO and its GPS start (SMS steps: the SMS issue's).
#[test]
fn mbed_sim5320_driver() {
    let (_m, mut dte) = booted(&["--boot-delay", "1s", "--gnss-ttff", "1s", "--no-nmea"]);
    dte.timeout = Duration::from_secs(20);
    ok(&mut dte, "AT+CRESET");
    dte.expect_eventually("START");
    dte.expect_eventually("PB DONE");
    dte.timeout = Duration::from_secs(10);
    dte.cmd("ATE0");
    for c in ["AT+STK=0", "AT+CREG=0", "AT+CGREG=0", "AT+CNMP=2"] {
        ok(&mut dte, c);
    }
    // Cell location: [SCELL] first, then MCC:, MNC:, LAC:, ID:, RXLev:<n>dbm, UARFCN: (3G).
    let cc = value(&mut dte, "AT+CCINFO", "+CCINFO:");
    let f: Vec<&str> = cc.split(',').collect();
    assert_eq!(f[0], "[SCELL]", "{cc}");
    let field = |name: &str| f.iter().find_map(|x| x.strip_prefix(name)).unwrap_or_else(|| panic!("{name} in {cc}"));
    for name in ["MCC:", "MNC:", "LAC:", "ID:"] {
        assert!(field(name).parse::<i64>().is_ok(), "{name} {cc}");
    }
    assert!(field("RXLev:").strip_suffix("dbm").unwrap().parse::<i64>().is_ok_and(|v| v < 0), "{cc}");
    assert!(field("UARFCN:").parse::<i64>().is_ok(), "{cc}");
    // GPS: automatic start off, assistance data deleted while stopped, a cold start.
    ok(&mut dte, "AT+CGPSAUTO=0");
    ok(&mut dte, "AT+CGPSDEL");
    ok(&mut dte, "AT+CGPSCOLD");
    // `+CGPS: <on>,<mode>`: two integers.
    let cgps = value(&mut dte, "AT+CGPS?", "+CGPS: ");
    assert_eq!(cgps, "1,1");
    std::thread::sleep(Duration::from_millis(1500));
    let info = ok(&mut dte, "AT+CGPSINFO");
    assert!(info[0].starts_with("+CGPSINFO:") && !info[0][10..].starts_with(','), "{info:?}");
    // AmpI/AmpQ after the position (looked for, tolerated if absent).
    assert!(info.get(1).is_some_and(|l| l.starts_with("AmpI/AmpQ: ")), "{info:?}");
    ok(&mut dte, "AT+CGPS=0");
    // Polls AT+CGPS? until off.
    let mut off = false;
    for _ in 0..40 {
        if value(&mut dte, "AT+CGPS?", "+CGPS: ").starts_with('0') {
            off = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(off, "the engine never stopped");
}

/// OVMS (SIM5360 driver) [OVMS]: its identification and polling lines, concatenated with
/// `;` (its start-up line sets SMS modes: the SMS issue's; CMUX and PPP are out of scope).
#[test]
fn ovms_sim5360_polling() {
    let (_m, mut dte) = booted(&["--no-nmea"]);
    dte.cmd("ATE0");
    assert_eq!(ok(&mut dte, "AT+CGMM"), ["SIMCOM_SIM5360E"]);
    let id = ok(&mut dte, "AT+CGMR;+ICCID");
    assert!(id.iter().any(|l| l.starts_with("+CGMR: ")) && id.iter().any(|l| l.starts_with("+ICCID: ")), "{id:?}");
    ok(&mut dte, "AT+CREG=1;+CTZU=1;+CTZR=1;+CLIP=1;+CMEE=2;+CSQ;+AUTOCSQ=1,1");
    let poll = ok(&mut dte, "AT+CREG?;+CCLK?;+CSQ;+CPSI?;+COPS?");
    let prefixes: Vec<&str> = poll.iter().map(|l| l.split_once(':').map_or(l.as_str(), |p| p.0)).collect();
    assert_eq!(prefixes, ["+CREG", "+CCLK", "+CSQ", "+CPSI", "+COPS"], "{poll:?}");
}

/// IOXhop_SIM5360 [IOX]: waits for PB DONE after power-on, reads the IMEI, hangs up with
/// AT+CVHU=0 then ATH (voice: a later issue; only its switch here).
#[test]
fn ioxhop_sim5360() {
    let (_m, mut dte) = booted(&["--boot-delay", "1s", "--no-nmea"]);
    dte.cmd("ATE0");
    let imei = ok(&mut dte, "AT+CGSN");
    assert!(imei[0].len() == 15);
    ok(&mut dte, "AT+CVHU=0");
}

/// ModemManager's simtech plugin [MM]: the mode and signal URCs it enables, the access
/// technology, the mode preferences, GPS with NMEA on the GPS port, voice probes.
#[test]
fn modemmanager_simtech_plugin() {
    let (m, mut dte) = booted(&["--gnss-ttff", "0s"]);
    dte.cmd("ATE0");
    ok(&mut dte, "AT+CNSMOD=?");
    ok(&mut dte, "AT+CNSMOD=1");
    ok(&mut dte, "AT+AUTOCSQ=?");
    ok(&mut dte, "AT+AUTOCSQ=1,1");
    // Access technology: the digit after the first `,` (4 = UMTS on a WCDMA cell).
    let cnsmod = value(&mut dte, "AT+CNSMOD?", "+CNSMOD: ");
    let act = atoi(cnsmod.split(',').nth(1).unwrap());
    assert!((1..=8).contains(&act), "{cnsmod}");
    // `%d, %d`.
    let csq = value(&mut dte, "AT+CSQ", "+CSQ: ");
    assert!(csq.split(',').all(|v| v.trim().parse::<u8>().is_ok()), "{csq}");
    // Modes: CNMP 2 auto / 13 GSM / 14 WCDMA, CNAOP 0..2.
    assert_eq!(value(&mut dte, "AT+CNMP?", "+CNMP: "), "2");
    let cnaop = atoi(&value(&mut dte, "AT+CNAOP?", "+CNAOP: "));
    assert!((0..=2).contains(&cnaop));
    ok(&mut dte, "AT+CNAOP=2");
    // GPS: CGPS=? must succeed before GPS is offered; NMEA comes on the GPS port.
    ok(&mut dte, "AT+CGPS=?");
    let mut nmea = testbench::open_tty(m.nmea.as_ref().unwrap()).unwrap();
    ok(&mut dte, "AT+CGPS=1,1");
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 5 {
        let l = nmea.line();
        let (body, sum) = l.strip_prefix('$').and_then(|l| l.rsplit_once('*')).unwrap_or_else(|| panic!("{l:?}"));
        let want = body.bytes().fold(0u8, |a, b| a ^ b);
        assert_eq!(u8::from_str_radix(sum, 16).unwrap(), want, "checksum of {l}");
        seen.insert(body[2..5].to_owned());
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["GGA", "GSA", "GSV", "RMC", "VTG"]);
    ok(&mut dte, "AT+CGPS=0");
    // Voice: CLCC=? and CLCC=1 (CPCMREG is the voice issue's).
    ok(&mut dte, "AT+CLCC=?");
    ok(&mut dte, "AT+CLCC=1");
}
