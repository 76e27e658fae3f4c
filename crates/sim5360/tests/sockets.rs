//! The TCP/IP socket family end to end: the real binary on a PTY, a DTE that ends its
//! lines with CR LF as Arduino firmware does, against real servers on 127.0.0.1: socat
//! TCP and UDP echo, nginx, mosquitto (with mosquitto_sub / mosquitto_pub on the other
//! side), misbehaving peers, and host clients of the module's own TCP server.
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use bytes::BytesMut;
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::{self, Packet};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};
use testbench::http::pattern;
use testbench::{Dte, EchoServer, HttpServer, ModemProcess, MqttBroker, Peer, TestCa, Unanswered};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sim5360"))
}

fn sha(b: &[u8]) -> String {
    format!("{:x}", Sha256::digest(b))
}

/// A modem on a PTY with a CR LF DTE and the socket service open, TinyGSM's settings.
fn modem(extra: &[&str]) -> (ModemProcess, Dte) {
    let (m, mut dte) = testbench::ready_modem(bin(), extra).unwrap();
    dte.line_end = b"\r\n";
    dte.cmd_expect("AT+CIPCCFG=10,0,0,0,1,0,75000", &["OK"]);
    dte.cmd_expect("AT+CIPTIMEOUT=75000,15000,15000", &["OK"]);
    dte.cmd_expect("AT+CIPRXGET=1", &["OK"]);
    dte.cmd_expect("AT+NETOPEN", &["OK"]);
    dte.expect("+NETOPEN: 0");
    (m, dte)
}

/// `AT+CIPOPEN=<l>,"TCP","127.0.0.1",<port>`: `OK`, then `+CIPOPEN: <l>,<err>`; the code.
fn open(dte: &mut Dte, l: usize, host: &str, port: u16) -> String {
    dte.cmd_expect(&format!("AT+CIPOPEN={l},\"TCP\",\"{host}\",{port}"), &["OK"]);
    dte.wait_for(&format!("+CIPOPEN: {l},")).rsplit(',').next().unwrap().to_owned()
}

/// One `AT+CIPSEND=<l>,<n>` as TinyGSM writes it: the line, `>`, the bytes, `OK`,
/// `+CIPSEND: <l>,<n>,<n>`.
fn send(dte: &mut Dte, l: usize, data: &[u8]) {
    dte.send_line(&format!("AT+CIPSEND={l},{}", data.len()));
    // A URC released before the command was read may come first.
    dte.wait_for(">");
    dte.send(data);
    dte.expect("OK");
    let n = data.len();
    let want = format!("+CIPSEND: {l},{n},{n}");
    let got = dte.wait_for("+CIPSEND:");
    if got != want {
        dte.fail(&format!("expected {want:?}, got {got:?}"));
    }
}

/// One `AT+CIPRXGET=2,<l>,<max>`: the bytes read (none when the buffer is empty) and the
/// rest the module reports.
fn read(dte: &mut Dte, l: usize, max: usize) -> (Vec<u8>, usize) {
    dte.send_line(&format!("AT+CIPRXGET=2,{l},{max}"));
    let head = format!("+CIPRXGET: 2,{l},");
    loop {
        let line = dte.line();
        if line == "ERROR" {
            return (Vec::new(), 0);
        }
        if let Some(rest) = line.strip_prefix(&head) {
            let (n, left) = rest.split_once(',').unwrap();
            let (n, left): (usize, usize) = (n.parse().unwrap(), left.parse().unwrap());
            assert!(n <= max && n <= 1500, "read {n} bytes for a request of {max}");
            let data = dte.bytes(n);
            dte.expect("OK");
            return (data, left);
        }
        // A `+CIPRXGET: 1,<l>` URC, `+IP ERROR: No data`, a send confirmation.
        dte.urcs.push(line);
    }
}

/// Read `n` bytes of link `l`, polling as TinyGSM does.
fn read_exactly(dte: &mut Dte, l: usize, n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while out.len() < n {
        let (d, _) = read(dte, l, 1500.min(n - out.len()));
        if d.is_empty() {
            assert!(Instant::now() < deadline, "link {l}: {} of {n} bytes after 30 s", out.len());
            std::thread::sleep(Duration::from_millis(5));
        }
        out.extend(d);
    }
    out
}

/// Line `want`, which may have come already (kept in `dte.urcs` by an earlier wait).
fn saw(dte: &mut Dte, want: &str) {
    if let Some(i) = dte.urcs.iter().position(|u| u == want) {
        dte.urcs.remove(i);
        return;
    }
    dte.wait_for(want);
}

/// After an error path: the modem answers and a new link works.
fn still_works(dte: &mut Dte, echo: &EchoServer) {
    dte.cmd_expect("AT", &["OK"]);
    assert_eq!(open(dte, 5, "127.0.0.1", echo.port), "0");
    send(dte, 5, b"alive?");
    assert_eq!(read_exactly(dte, 5, 6), b"alive?");
    dte.cmd_expect("AT+CIPCLOSE=5", &["OK"]);
    dte.expect("+CIPCLOSE: 5,0");
}

/// TinyGSM's whole ordered flow (spec §2.10) against a TCP echo server: init,
/// gprsConnect, connect, write, buffered reads, idle polling, stop, gprsDisconnect.
#[test]
fn tinygsm_flow_against_a_tcp_echo_server() {
    let echo = EchoServer::tcp().unwrap();
    let (_m, mut dte) = testbench::ready_modem(bin(), &[]).unwrap();
    dte.line_end = b"\r\n";
    for (cmd, want) in [
        ("AT+CMEE=0", &["OK"][..]),
        ("AT+CTZR=0", &["OK"]),
        ("AT+CTZU=1", &["OK"]),
        ("AT+CPIN?", &["+CPIN: READY", "OK"]),
        ("AT+CGREG?", &["+CGREG: 0,1", "OK"]),
        ("AT+CIPCLOSE=0", &["+CIPCLOSE: 0,4", "ERROR"]),
        ("AT+NETCLOSE", &["+NETCLOSE: 2", "ERROR"]),
        ("AT+CGDCONT=1,\"IP\",\"internet\",\"0.0.0.0\",0,0", &["OK"]),
        ("AT+CGSOCKCONT=1,\"IP\",\"internet\"", &["OK"]),
        ("AT+CSOCKSETPN=1", &["OK"]),
        ("AT+CIPMODE=0", &["OK"]),
        ("AT+CIPSENDMODE=0", &["OK"]),
        ("AT+CIPCCFG=10,0,0,0,1,0,75000", &["OK"]),
        ("AT+CIPTIMEOUT=75000,15000,15000", &["OK"]),
    ] {
        dte.cmd_expect(cmd, want);
    }
    dte.cmd_expect("AT+NETOPEN", &["OK"]);
    dte.expect("+NETOPEN: 0");
    dte.cmd_expect("AT+NETOPEN?", &["+NETOPEN: 1", "OK"]);
    let ip = dte.cmd("AT+IPADDR");
    assert!(ip[0].starts_with("+IPADDR: 10."), "{ip:?}");
    dte.cmd_expect("AT+CIPCLOSE=0", &["+CIPCLOSE: 0,4", "ERROR"]);
    dte.cmd_expect("AT+CIPRXGET=1", &["OK"]);
    // By name, as TinyGSM connects.
    assert_eq!(open(&mut dte, 0, "localhost", echo.port), "0");
    let msg = b"\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x02ab";
    send(&mut dte, 0, msg);
    dte.wait_for("+CIPRXGET: 1,0");
    let avail = dte.cmd("AT+CIPRXGET=4,0");
    assert_eq!(avail, [format!("+CIPRXGET: 4,0,{}", msg.len()), "OK".into()]);
    // TinyGSM's default 64-byte FIFO reads 63 at most.
    assert_eq!(read(&mut dte, 0, 63), (msg.to_vec(), 0));
    dte.cmd_expect("AT+CIPRXGET=4,0", &["+CIPRXGET: 4,0,0", "OK"]);
    dte.cmd_expect("AT+CIPCLOSE?", &["+CIPCLOSE: 1,0,0,0,0,0,0,0,0,0", "OK"]);
    dte.cmd_expect("AT+CIPCLOSE=0", &["OK"]);
    dte.expect("+CIPCLOSE: 0,0");
    dte.cmd_expect("AT+CIPCLOSE=0", &["+CIPCLOSE: 0,4", "ERROR"]);
    dte.cmd_expect("AT+NETCLOSE", &["OK"]);
    dte.expect("+NETCLOSE: 0");
    dte.cmd_expect("AT+NETOPEN?", &["+NETOPEN: 0", "OK"]);
}

/// Push mode on a TCP link opened by name: `RECV FROM:` shows the address the name led
/// to, as the module does, while `AT+CIPOPEN?` keeps the name as given. Then the Ctrl-Z
/// send form with its 0x03 escapes: a Ctrl-Z and a 0x03 reach the peer as data; and an
/// acknowledged send (`AT+CIPSENDMODE=1` set while the link is open).
#[test]
fn push_mode_by_name_and_the_escaped_ctrl_z_form() {
    let echo = EchoServer::tcp().unwrap();
    let (_m, mut dte) = modem(&[]);
    dte.cmd_expect("AT+CIPRXGET=0", &["OK"]);
    assert_eq!(open(&mut dte, 0, "localhost", echo.port), "0");
    let listed = dte.cmd("AT+CIPOPEN?");
    assert_eq!(listed[0], format!("+CIPOPEN: 0,\"TCP\",\"localhost\",{},-1", echo.port));
    send(&mut dte, 0, b"ping");
    dte.expect(&format!("RECV FROM:127.0.0.1:{}", echo.port));
    dte.expect("+RECEIVE,0,4");
    assert_eq!(dte.bytes(4), b"ping");
    dte.send_line("AT+CIPSEND=0");
    dte.wait_for(">");
    dte.send(b"\x03\x1a\x03\x03z\x1a");
    dte.expect("OK");
    dte.expect("+CIPSEND: 0,3,3");
    dte.expect(&format!("RECV FROM:127.0.0.1:{}", echo.port));
    dte.expect("+RECEIVE,0,3");
    assert_eq!(dte.bytes(3), b"\x1a\x03z");
    // AT+CIPSENDMODE=1, set on the open link: +CIPSEND once the peer has acknowledged
    // every byte, before or after the echo (the ACK may ride on it).
    dte.cmd_expect("AT+CIPSENDMODE=1", &["OK"]);
    dte.send_line("AT+CIPSEND=0,5");
    dte.wait_for(">");
    dte.send(b"acked");
    dte.expect("OK");
    let (mut acked, mut echoed) = (false, false);
    while !(acked && echoed) {
        match dte.line() {
            l if l == "+CIPSEND: 0,5,5" && !acked => acked = true,
            l if l == format!("RECV FROM:127.0.0.1:{}", echo.port) && !echoed => {
                dte.expect("+RECEIVE,0,5");
                assert_eq!(dte.bytes(5), b"acked");
                echoed = true;
            }
            l => dte.fail(&format!("after an acknowledged send: {l:?}")),
        }
    }
}

/// UDP to socat's echo: push mode shows the sender and the length; buffer mode too.
#[test]
fn udp_datagrams_to_an_echo_server() {
    let echo = EchoServer::udp().unwrap();
    let (_m, mut dte) = modem(&[]);
    dte.cmd_expect("AT+CIPRXGET=0", &["OK"]);
    dte.cmd_expect(&format!("AT+CIPOPEN=1,\"UDP\",\"127.0.0.1\",{},0", echo.port), &["+CIPOPEN: 1,0", "OK"]);
    send(&mut dte, 1, b"datagram one");
    dte.expect(&format!("RECV FROM:127.0.0.1:{}", echo.port));
    dte.expect("+RECEIVE,1,12");
    assert_eq!(dte.bytes(12), b"datagram one");
    // A destination in the send, the Ctrl-Z form; buffer mode.
    dte.cmd_expect("AT+CIPRXGET=1", &["OK"]);
    dte.send_line(&format!("AT+CIPSEND=1,,\"127.0.0.1\",{}", echo.port));
    dte.expect(">");
    dte.send(b"two\x1a");
    dte.expect("OK");
    dte.expect("+CIPSEND: 1,3,3");
    dte.wait_for("+CIPRXGET: 1,1");
    assert_eq!(read_exactly(&mut dte, 1, 3), b"two");
    // With AT+CIPSENDMODE=1 a datagram is still reported at once: it has no ACK to wait for.
    dte.cmd_expect("AT+CIPSENDMODE=1", &["OK"]);
    send(&mut dte, 1, b"three");
    dte.cmd_expect("AT+CIPCLOSE=1", &["+CIPCLOSE: 1,0", "OK"]);
}

/// nginx through a raw HTTP request over AT+CIPSEND: the server closes after the
/// response, and every byte stays readable after `+IPCLOSE`.
#[test]
fn raw_http_request_to_nginx_readable_after_the_close() {
    let ca = TestCa::new().unwrap();
    let web = HttpServer::start(&ca).unwrap();
    let (_m, mut dte) = modem(&[]);
    assert_eq!(open(&mut dte, 2, "127.0.0.1", web.port), "0");
    // As Arduino's HttpClient prints it: several sends.
    send(&mut dte, 2, b"GET /1M.bin HTTP/1.1\r\n");
    send(&mut dte, 2, b"Host: 127.0.0.1\r\n");
    send(&mut dte, 2, b"Connection: close\r\n\r\n");
    let mut raw = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (d, _) = read(&mut dte, 2, 1500);
        if d.is_empty() {
            if dte.urcs.iter().any(|u| u == "+IPCLOSE: 2,1") {
                break;
            }
            assert!(Instant::now() < deadline, "{} bytes after 60 s", raw.len());
            // Collect URCs that came meanwhile.
            let idle = dte.idle(Duration::from_millis(20));
            dte.urcs.extend(String::from_utf8_lossy(&idle).lines().map(str::to_owned));
        }
        raw.extend(d);
    }
    let body_at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(raw.starts_with(b"HTTP/1.1 200 OK\r\n"), "{}", String::from_utf8_lossy(&raw[..body_at]));
    assert_eq!(sha(&raw[body_at..]), sha(&pattern(1 << 20, 2)));
    dte.cmd_expect("AT+CIPCLOSE?", &["+CIPCLOSE: 0,0,0,0,0,0,0,0,0,0", "OK"]);
}

fn mqtt(p: impl FnOnce(&mut BytesMut) -> Result<usize, rumqttc::mqttbytes::Error>) -> Vec<u8> {
    let mut b = BytesMut::new();
    p(&mut b).unwrap();
    b.to_vec()
}

/// The next whole MQTT packet from link `l`.
fn mqtt_packet(dte: &mut Dte, l: usize, pending: &mut BytesMut) -> Packet {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match v4::read(pending, 1 << 20) {
            Ok(p) => return p,
            Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {}
            Err(e) => panic!("bad MQTT from the broker: {e}"),
        }
        assert!(Instant::now() < deadline, "no whole MQTT packet after 10 s");
        let (d, _) = read(dte, l, 1500);
        if d.is_empty() {
            std::thread::sleep(Duration::from_millis(10));
        }
        pending.extend_from_slice(&d);
    }
}

/// An MQTT session with mosquitto spoken through AT+CIPSEND / AT+CIPRXGET; mosquitto_sub
/// sees the modem's message, and the modem gets what mosquitto_pub sends.
#[test]
fn mqtt_session_with_mosquitto() {
    let broker = MqttBroker::start().unwrap();
    let (_m, mut dte) = modem(&[]);
    assert_eq!(open(&mut dte, 0, "127.0.0.1", broker.port), "0");
    let mut pending = BytesMut::new();
    let mut connect = v4::Connect::new("sim5360-e2e");
    connect.keep_alive = 60;
    send(&mut dte, 0, &mqtt(|b| connect.write(b)));
    match mqtt_packet(&mut dte, 0, &mut pending) {
        Packet::ConnAck(a) => assert_eq!(a.code, v4::ConnectReturnCode::Success),
        p => panic!("expected CONNACK, got {p:?}"),
    }
    let mut subscribe = v4::Subscribe::new("sim5360/in", QoS::AtMostOnce);
    subscribe.pkid = 1;
    send(&mut dte, 0, &mqtt(|b| subscribe.write(b)));
    assert!(matches!(mqtt_packet(&mut dte, 0, &mut pending), Packet::SubAck(_)));
    let sub = broker.subscribe("sim5360/out", 1).unwrap();
    let publish = v4::Publish::new("sim5360/out", QoS::AtMostOnce, "hello from the modem");
    send(&mut dte, 0, &mqtt(|b| publish.write(b)));
    assert_eq!(sub.messages(Duration::from_secs(10)).unwrap(), "hello from the modem\n");
    broker.publish("sim5360/in", "hello to the modem").unwrap();
    match mqtt_packet(&mut dte, 0, &mut pending) {
        Packet::Publish(p) => {
            assert_eq!((p.topic.as_str(), &p.payload[..]), ("sim5360/in", &b"hello to the modem"[..]));
        }
        p => panic!("expected PUBLISH, got {p:?}"),
    }
    // Keep-alive as PubSubClient sends it.
    send(&mut dte, 0, &[0xc0, 0x00]);
    assert!(matches!(mqtt_packet(&mut dte, 0, &mut pending), Packet::PingResp));
    // DISCONNECT: the broker closes the connection, and the link reports the peer's close.
    send(&mut dte, 0, &[0xe0, 0x00]);
    saw(&mut dte, "+IPCLOSE: 0,1");
    // The link is free again.
    assert_eq!(open(&mut dte, 0, "127.0.0.1", broker.port), "0");
    dte.cmd_expect("AT+CIPCLOSE=0", &["OK"]);
    dte.expect("+CIPCLOSE: 0,0");
}

/// Ten links at once, each moving 1 MiB both ways through socat's echo, sha256 equal.
#[test]
fn ten_links_each_move_a_mib_both_ways() {
    const N: usize = 1 << 20;
    let echo = EchoServer::tcp().unwrap();
    let (_m, mut dte) = modem(&[]);
    for l in 0..10 {
        assert_eq!(open(&mut dte, l, "127.0.0.1", echo.port), "0", "link {l}");
    }
    let payloads: Vec<Vec<u8>> = (0..10).map(|l| pattern(N, 100 + l as u32)).collect();
    let mut sent = [0usize; 10];
    let mut got: Vec<Vec<u8>> = (0..10).map(|_| Vec::with_capacity(N)).collect();
    let deadline = Instant::now() + Duration::from_secs(300);
    while got.iter().any(|g| g.len() < N) {
        assert!(Instant::now() < deadline, "not done after 300 s: {:?}", got.iter().map(Vec::len).collect::<Vec<_>>());
        for l in 0..10 {
            if sent[l] < N {
                let n = 1500.min(N - sent[l]);
                send(&mut dte, l, &payloads[l][sent[l]..sent[l] + n]);
                sent[l] += n;
            }
            if got[l].len() < sent[l] {
                let (d, _) = read(&mut dte, l, 1500);
                got[l].extend(d);
            }
        }
    }
    for l in 0..10 {
        assert_eq!(sha(&got[l]), sha(&payloads[l]), "link {l}");
    }
    dte.cmd_expect("AT+CIPCLOSE?", &["+CIPCLOSE: 1,1,1,1,1,1,1,1,1,1", "OK"]);
    dte.cmd_expect("AT+NETCLOSE", &["OK"]);
    for l in 0..10 {
        dte.expect(&format!("+CIPCLOSE: {l},0"));
    }
    dte.expect("+NETCLOSE: 0");
}

/// A peer that sends 200 KB and closes at once: the receive buffer is bounded (the socket
/// is not read while it is full), and every byte is still readable after `+IPCLOSE`.
#[test]
fn a_peer_that_closes_after_sending_loses_nothing() {
    let payload = pattern(200_000, 7);
    let peer = Peer::close_after(payload.clone(), payload.len()).unwrap();
    let (_m, mut dte) = modem(&[]);
    assert_eq!(open(&mut dte, 0, "127.0.0.1", peer.port), "0");
    dte.wait_for("+CIPRXGET: 1,0");
    // The buffer fills to its bound and stays there while nothing is read.
    std::thread::sleep(Duration::from_millis(300));
    let avail = dte.cmd("AT+CIPRXGET=4,0");
    let n: usize = avail[0].rsplit(',').next().unwrap().parse().unwrap();
    assert!((28 * 1024..=32767).contains(&n), "buffered {n}");
    let mut got = Vec::new();
    while got.len() < payload.len() {
        let (d, rest) = read(&mut dte, 0, 1460);
        assert!(rest <= 32767);
        if d.is_empty() {
            panic!("no data after {} bytes", got.len());
        }
        got.extend(d);
    }
    assert_eq!(sha(&got), sha(&payload));
    let urcs = dte.idle(Duration::from_millis(200));
    let all = dte.urcs.join("\n") + &String::from_utf8_lossy(&urcs);
    assert!(all.contains("+IPCLOSE: 0,1"), "{all}");
    dte.cmd_expect("AT+CIPRXGET=4,0", &["+CIPRXGET: 4,0,0", "OK"]);
    dte.cmd_expect("AT+CIPCLOSE=0", &["+CIPCLOSE: 0,4", "ERROR"]);
}

/// Every error path produced by a real failure, each followed by a working AT and link.
#[test]
fn error_paths_from_real_failures() {
    let echo = EchoServer::tcp().unwrap();
    let (_m, mut dte) = modem(&[]);
    // Refused: nothing listens.
    let closed = testbench::process::free_port().unwrap();
    assert_eq!(open(&mut dte, 0, "127.0.0.1", closed), "1");
    dte.cmd_expect("AT+CIPCLOSE?", &["+CIPCLOSE: 0,0,0,0,0,0,0,0,0,0", "OK"]);
    dte.cmd_expect("AT+CIPSEND=0,1", &["+CIPERROR: 4", "ERROR"]);
    still_works(&mut dte, &echo);
    // Unresolvable (refused by the resolver itself: no query leaves the machine).
    assert_eq!(open(&mut dte, 0, &format!("{}.invalid", "x".repeat(64)), 80), "11");
    dte.cmd_expect(&format!("AT+CDNSGIP=\"{}.invalid\"", "x".repeat(64)), &["+CDNSGIP: 0,10", "ERROR"]);
    dte.cmd_expect("AT+CDNSGIP=\"localhost\"", &["+CDNSGIP: 1,\"localhost\",\"127.0.0.1\"", "OK"]);
    still_works(&mut dte, &echo);
    // A silent peer: the SYN unanswered, the CIPTIMEOUT open timeout (3 s) gives 10.
    let unanswered = Unanswered::start().unwrap();
    dte.cmd_expect("AT+CIPTIMEOUT=,3000", &["OK"]);
    let start = Instant::now();
    assert_eq!(open(&mut dte, 0, "127.0.0.1", unanswered.port), "10");
    assert!(start.elapsed() >= Duration::from_millis(2900), "{:?}", start.elapsed());
    still_works(&mut dte, &echo);
    // Reset mid-transfer: the peer sends part and closes; the link ends with +IPCLOSE.
    let cut = Peer::close_after(b"partial".to_vec(), 7).unwrap();
    assert_eq!(open(&mut dte, 1, "127.0.0.1", cut.port), "0");
    assert_eq!(read_exactly(&mut dte, 1, 7), b"partial");
    saw(&mut dte, "+IPCLOSE: 1,1");
    dte.cmd_expect("AT+CIPSEND=1,3", &["+CIPERROR: 4", "ERROR"]);
    still_works(&mut dte, &echo);
    // The network goes: the event, every link gone; NETOPEN after it comes back.
    assert_eq!(open(&mut dte, 2, "127.0.0.1", echo.port), "0");
    dte.cmd_expect("AT+CFUN=0", &["OK"]);
    dte.wait_for("+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY");
    dte.cmd_expect("AT+CIPCLOSE?", &["+CIPCLOSE: 0,0,0,0,0,0,0,0,0,0", "OK"]);
    dte.cmd_expect("AT+NETOPEN?", &["+NETOPEN: 0", "OK"]);
    dte.cmd_expect("AT+CIPOPEN=2,\"TCP\",\"127.0.0.1\",80", &["+CIPOPEN: 2,2", "ERROR"]);
    dte.cmd_expect("AT+CFUN=1", &["OK"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        dte.cmd_expect("AT+NETOPEN", &["OK"]);
        if dte.wait_for("+NETOPEN:") == "+NETOPEN: 0" {
            break;
        }
        assert!(Instant::now() < deadline, "no packet service 10 s after AT+CFUN=1");
        std::thread::sleep(Duration::from_millis(200));
    }
    still_works(&mut dte, &echo);
}

/// AT+SERVERSTART listens on the host port --server-port maps it to; a host client
/// becomes a link with `+CLIENT:`, and data goes both ways.
#[test]
fn server_mode_accepts_a_host_client() {
    let host_port = testbench::process::free_port().unwrap();
    let map = format!("5000={host_port}");
    let (_m, mut dte) = modem(&["--server-port", &map]);
    dte.cmd_expect("AT+CIPOPEN=0,\"UDP\",,,0", &["+CIPOPEN: 0,0", "OK"]);
    dte.cmd_expect("AT+SERVERSTART=5000,0", &["OK"]);
    dte.cmd_expect("AT+SERVERSTART?", &["+SERVERSTART: 0,5000", "OK"]);
    let mut client = std::net::TcpStream::connect(("127.0.0.1", host_port)).unwrap();
    let local = client.local_addr().unwrap().port();
    dte.expect(&format!("+CLIENT: 1,0,127.0.0.1:{local}"));
    client.write_all(b"hello module").unwrap();
    saw(&mut dte, "+CIPRXGET: 1,1");
    assert_eq!(read_exactly(&mut dte, 1, 12), b"hello module");
    send(&mut dte, 1, b"hello host");
    let mut buf = [0u8; 10];
    client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    client.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello host");
    let open = dte.cmd("AT+CIPOPEN?");
    assert_eq!(open[1], format!("+CIPOPEN: 1,\"TCP\",\"127.0.0.1\",{local},0"));
    dte.cmd_expect("AT+SERVERSTOP=0", &["+SERVERSTOP: 0,9", "ERROR"]);
    drop(client);
    saw(&mut dte, "+IPCLOSE: 1,1");
    dte.cmd_expect("AT+SERVERSTOP=0", &["OK"]);
    dte.expect("+SERVERSTOP: 0,0");
    assert!(std::net::TcpStream::connect(("127.0.0.1", host_port)).is_err(), "still listening");
    // AT+NETCLOSE with a server listening: once +NETCLOSE: 0 is out, so is the listener.
    dte.cmd_expect("AT+SERVERSTART=5000,2", &["OK"]);
    dte.cmd_expect("AT+SERVERSTART?", &["+SERVERSTART: 2,5000", "OK"]);
    dte.cmd_expect("AT+NETCLOSE", &["OK"]);
    saw(&mut dte, "+NETCLOSE: 0");
    assert!(std::net::TcpStream::connect(("127.0.0.1", host_port)).is_err(), "listening after +NETCLOSE: 0");
}

/// What `cmd args` printed (for a failure message).
fn command_output(cmd: &str, args: &[&str]) -> String {
    match std::process::Command::new(cmd).args(args).output() {
        Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
        Err(e) => format!("{cmd}: {e}"),
    }
}

/// Transparent mode: 10 MiB each way through the echo server, with `+++`, a command and
/// `ATO` in the middle.
#[test]
fn transparent_mode_moves_10_mib_each_way() {
    const HALF: usize = 5 << 20;
    let echo = EchoServer::tcp().unwrap();
    let (m, mut dte) = testbench::ready_modem(bin(), &["--control", "127.0.0.1:0", "--ready-json"]).unwrap();
    dte.line_end = b"\r\n";
    dte.cmd_expect("AT+CIPMODE=1", &["OK"]);
    dte.cmd_expect("AT+NETOPEN", &["OK"]);
    dte.expect("+NETOPEN: 0");
    dte.send_line(&format!("AT+CIPOPEN=0,\"TCP\",\"127.0.0.1\",{}", echo.port));
    dte.expect("CONNECT 115200");
    drop(dte);
    let payload = pattern(2 * HALF, 9);
    let tty = testbench::raw_tty(m.tty.as_ref().unwrap()).unwrap();
    let mut back = Vec::with_capacity(payload.len());
    let mut reader = tty.try_clone().unwrap();
    for half in payload.chunks(HALF) {
        let writer = {
            let mut w = tty.try_clone().unwrap();
            let half = half.to_vec();
            std::thread::spawn(move || w.write_all(&half).unwrap())
        };
        let want = back.len() + half.len();
        let mut buf = vec![0u8; 64 * 1024];
        while back.len() < want {
            use std::os::fd::AsFd;
            let mut fds = [nix::poll::PollFd::new(reader.as_fd(), nix::poll::PollFlags::POLLIN)];
            let ready = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(30_000u16)).unwrap();
            assert!(
                ready > 0,
                "nothing echoed for 30 s after {} of {want} bytes; the modem's log ends:\n{}\nsockets:\n{}\nmodem: {}",
                back.len(),
                testbench::process::tail_lines(&m.stderr_log(), 60),
                command_output("ss", &["-tnp", &format!("( sport = :{p} or dport = :{p} )", p = echo.port)]),
                command_output(
                    "curl",
                    &["-s", &format!("{}/api/v1/modems/0", m.control.as_deref().unwrap_or_default())]
                ),
            );
            let n = reader.read(&mut buf).unwrap();
            back.extend_from_slice(&buf[..n]);
        }
        writer.join().unwrap();
        assert_eq!(back.len(), want, "more came back than was sent");
        if back.len() == payload.len() {
            break;
        }
        // The escape: a second of silence, +++, a second of silence.
        std::thread::sleep(Duration::from_millis(1100));
        let mut dte = testbench::open_tty(m.tty.as_ref().unwrap()).unwrap();
        dte.line_end = b"\r\n";
        dte.send(b"+++");
        dte.timeout = Duration::from_secs(5);
        dte.expect("OK");
        dte.cmd_expect("AT+CIPCLOSE?", &["+CIPCLOSE: 1,0,0,0,0,0,0,0,0,0", "OK"]);
        dte.send_line("ATO");
        dte.expect("CONNECT 115200");
    }
    assert_eq!(sha(&back), sha(&payload));
}
