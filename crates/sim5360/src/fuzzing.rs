//! Entry points shared by the cargo-fuzz targets in `fuzz/` and by the test that replays
//! their corpora on stable (`tests/fuzz_corpus.rs`). Each must never panic or hang.

use crate::modem::{Modem, ModemConfig};
use crate::profile::Model;
use std::time::{Duration, Instant};
use v250::{Args, Event, LineConfig, LineDiscipline, parse_line};

/// Line discipline, syntax and argument cursor on arbitrary bytes.
pub fn line_syntax(data: &[u8]) {
    let cfg = LineConfig { max_line: 256, ..LineConfig::default() };
    let mut ld = LineDiscipline::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (n, ev) = ld.feed(rest, &cfg);
        rest = &rest[n..];
        ld.take_echo();
        if let Some(Event::Line(line)) = ev
            && let Ok(invs) = parse_line(&line)
        {
            for inv in invs {
                if let Ok(mut args) = Args::parse(inv.args) {
                    for _ in 0..args.len() {
                        let _ = args.clone().opt_int();
                        let _ = args.opt_str();
                    }
                    let _ = args.finish();
                }
            }
        }
    }
}

/// The FTP/SMTP reply parser on arbitrary server bytes, fed in two pieces.
pub fn ftp_reply(data: &[u8]) {
    let mut p = crate::service::ftp::codec::ReplyParser::default();
    let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    for piece in [&data[..cut], &data[cut..]] {
        p.push(piece);
        while let Ok(Some(r)) = p.next_reply() {
            let _ = crate::service::ftp::codec::parse_pasv(&r.text());
            let _ = crate::service::ftp::codec::parse_pwd(&r);
            let _ = crate::service::ftp::codec::parse_size(&r);
        }
    }
}

/// POP3 server bytes, fed in pieces whose sizes the first byte picks: the lines taken and
/// the bytes held are exactly what came (none lost, none made up), each line ends with its
/// LF within the limit, and every line goes through the status, body and number readers.
pub fn pop3_reply(data: &[u8]) {
    use crate::service::pop3::reply::{self, BodyLine, LineReader, MAX_LINE};
    let Some((&first, input)) = data.split_first() else { return };
    let step = usize::from(first).max(1);
    let mut r = LineReader::default();
    let mut taken = 0;
    for piece in input.chunks(step) {
        r.push(piece);
        loop {
            match r.next_line() {
                Ok(Some(line)) => {
                    assert!(line.ends_with(b"\n") && line.len() <= MAX_LINE, "a bad line");
                    assert_eq!(&input[taken..taken + line.len()], &line[..], "a line not as it came");
                    taken += line.len();
                    let _ = reply::status(&line);
                    match reply::body_line(&line) {
                        BodyLine::End => assert!(line.len() <= 3),
                        BodyLine::Line(text) => assert!(text.len() + 1 >= line.len()),
                    }
                    let text = String::from_utf8_lossy(&line);
                    let _ = (reply::numbers(&text), reply::uidl(&text));
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    assert_eq!(taken + r.pending(), input.len(), "bytes lost or made up");
}

/// A track file (GPX or NMEA) and an HTTP time answer from arbitrary bytes: a track that
/// loads gives, at any time, a place on Earth with finite motion, which the NMEA port can
/// write; the `Date` reader never panics.
pub fn gnss_track(data: &[u8]) {
    use crate::service::gnss::{nmea, track::Track};
    let _ = crate::service::time::job::date_header(data);
    let Ok(track) = Track::parse(data) else { return };
    for secs in [0.0, 0.5, 1.0, 59.9, 3600.0, 86_400.5, 1e9, -5.0] {
        let f = track.at(secs);
        assert!((-90.0..=90.0).contains(&f.lat) && (-180.0..=180.0).contains(&f.lon), "{f:?} at {secs}");
        assert!(f.alt.is_finite() && f.speed_kn.is_finite() && f.course.is_finite(), "{f:?} at {secs}");
        let _ = (nmea::coord(f.lat, 2, 6, 'N', 'S'), nmea::coord(f.lon, 3, 6, 'E', 'W'));
    }
}

/// The HTTP response framer on arbitrary server bytes, fed in two pieces.
pub fn http_framer(data: &[u8]) {
    let method = if data.first().is_some_and(|b| b & 1 == 1) { "HEAD" } else { "GET" };
    let mut f = crate::service::http::codec::ResponseFramer::new(method);
    let cut = data.get(1).map_or(0, |b| usize::from(*b)).min(data.len());
    for piece in [&data[..cut], &data[cut..]] {
        match f.feed(piece) {
            Ok(n) => assert!(n <= piece.len(), "framer used more than it was given"),
            Err(_) => return,
        }
    }
}

/// The whole modem input path: the first byte picks a chunk size, the rest is DTE input.
pub fn modem_input(data: &[u8]) {
    let Some((&first, input)) = data.split_first() else { return };
    let cfg = ModemConfig {
        pin: (first & 0x80 != 0).then(|| "1234".to_owned()),
        ..ModemConfig::in_memory(&crate::registry::CATALOG, Model::Sim5360, 4096)
    };
    let t = chrono::DateTime::UNIX_EPOCH;
    let now = Instant::now();
    let Ok(mut m) = Modem::new(cfg, Box::new(move || t), now) else { return };
    let chunk = usize::from(first & 0x7f).max(1);
    let mut total = 0usize;
    for piece in input.chunks(chunk) {
        m.handle_input(piece, now);
        m.run_offloads_inline();
        // Bounded: output never grows without limit from bounded input.
        while let Some(out) = m.poll_transmit() {
            total += out.len();
            assert!(total < 64 * 1024 * 1024, "runaway output");
        }
    }
}

/// Command lines that start a job of every service (or feed one), for [`job_events`].
const JOB_LINES: &[&[u8]] = &[
    b"AT+CFTPSERV=\"h\";+CFTPUN=\"u\";+CFTPPW=\"p\"\r",
    b"AT+CFTPGET=\"/a\"\r",
    b"AT+CFTPGETFILE=\"/b.bin\",0,0\r",
    b"AT+CFTPGETFILE=\"/f.bin\",0,2\r",
    b"AT+CFTPPUTFILE=\"/f.bin\",0\r",
    b"AT+CFTPPUT=\"/c\"\r",
    b"AT+CFTPLIST\r",
    b"AT+CFTPMKD=\"/d\"\r",
    b"AT+CFTPSSTART\r",
    b"AT+CFTPSLOGIN=\"h\",990,\"u\",\"p\"\r",
    b"AT+CFTPSGET=\"/g\",0,1\r",
    b"AT+CFTPSLIST=\"/\",1\r",
    b"AT+CFTPSCACHERD\r",
    b"AT+CFTPSGETFILE=\"/h\"\r",
    b"AT+CFTPSPUT=\"/i\",4\rabcd",
    b"AT+CFTPSPUT=3\rxyz",
    b"AT+CFTPSPUT\r",
    b"AT+CFTPSPWD\r",
    b"AT+CFTPSSIZE=\"/j\"\r",
    b"AT+CFTPSLOGOUT\r",
    b"AT+CFTPSSTOP\r",
    b"AT+CHTTPACT=\"h\",80,3\rGET",
    b"AT+CHTTPSSTART\r",
    b"AT+CHTTPSOPSE=\"h\",443\r",
    b"AT+CHTTPSSEND=5\rhello",
    b"AT+CHTTPSRECV=100\r",
    b"AT+CHTTPSCLSE\r",
    b"AT+SMTPSRV=\"h\";+SMTPFROM=\"a@b\";+SMTPRCPT=0,0,\"c@d\";+SMTPFILE=1,\"C:/f.bin\"\r",
    b"AT+SMTPSEND\r",
    b"AT+SMTPSTOP\r",
    b"AT+POP3SRV=\"h\",\"u\",\"p\"\r",
    b"AT+POP3IN\r",
    b"AT+POP3NUM\r",
    b"AT+POP3LIST\r",
    b"AT+POP3HDR=1\r",
    b"AT+POP3GET=1,1\r",
    b"AT+POP3DEL=1\r",
    b"AT+POP3OUT\r",
    b"AT+POP3STOP\r",
    b"AT+CNTP=\"h\",8;+CNTP\r",
    b"AT+CHTPSERV=\"ADD\",\"h\",80,1;+CHTPUPDATE\r",
    b"AT+CGPS=1;+CGPSINFO=1\r",
    b"AT+CGPSINFO;+CGPS=0\r",
    b"AT+CFUN=4;+CFUN=1;+COPS=?\r",
    b"AT+CRESET\r",
    b"\x1a",
    b"\x1b",
];

/// The core with job events: every service's sinks (uploads, drains, caches, sessions)
/// driven by interleaved DTE bytes and typed events (data, steps, errors, ends) of the
/// jobs the modem started, as fuzz input picks them.
pub fn job_events(data: &[u8]) {
    // A file for the uploads and attachments.
    drive_jobs(data, b"ATE0\rAT+CFTRANRX=\"C:/f.bin\",8\r01234567", JOB_LINES);
}

/// Command lines of the socket family, for [`socket_events`].
const SOCKET_LINES: &[&[u8]] = &[
    b"AT+NETOPEN\r",
    b"AT+NETCLOSE\r",
    b"AT+CIPRXGET=1\r",
    b"AT+CIPRXGET=0\r",
    b"AT+CIPCCFG=10,0,0,0,1,0,75000\r",
    b"AT+CIPHEAD=0;+CIPSRIP=0\r",
    b"AT+CIPSENDMODE=1\r",
    b"AT+CIPOPEN=0,\"TCP\",\"h\",80\r",
    b"AT+CIPOPEN=1,\"TCP\",\"h\",80\r",
    b"AT+CIPOPEN=2,\"UDP\",\"h\",53,0\r",
    b"AT+CIPOPEN=3,\"UDP\",,,0\r",
    b"AT+CIPSEND=0,5\rhello",
    b"AT+CIPSEND=1\rabc\x1a",
    b"AT+CIPSEND=2,3\rudp",
    b"AT+CIPSEND=3,2,\"10.0.0.1\",9\rhi",
    b"AT+CIPRXGET=2,0,7\r",
    b"AT+CIPRXGET=3,1\r",
    b"AT+CIPRXGET=4,0\r",
    b"AT+CIPCLOSE=0\r",
    b"AT+CIPCLOSE=1\r",
    b"AT+CIPCLOSE?;+CIPOPEN?\r",
    b"AT+CIPACK=0\r",
    b"AT+SERVERSTART=5000,0\r",
    b"AT+SERVERSTOP=0\r",
    b"AT+CDNSGIP=\"h\"\r",
    b"AT+CPING=\"h\",1,2\r",
    b"AT+CIPMODE=1\r",
    b"AT+CIPMODE=0\r",
    b"+++",
    b"ATO\r",
    b"AT+CFUN=0\r",
    b"AT+CFUN=1\r",
    b"\x1a",
    b"\x1b",
];

/// The socket path: socket commands interleaved with socket events (connections, data,
/// datagrams, accepted clients, peer closes, errors) and time (the `+++` guard times), as
/// fuzz input picks them.
pub fn socket_events(data: &[u8]) {
    drive_jobs(data, b"ATE0\r", SOCKET_LINES);
}

/// Power on, run `setup`, then interpret `data` as a program of `lines`, raw input, job
/// events, job I/O and time.
fn drive_jobs(data: &[u8], setup: &[u8], lines: &[&[u8]]) {
    let model = if data.first().is_some_and(|b| b & 1 == 1) { Model::Sim7600 } else { Model::Sim5360 };
    let cfg = ModemConfig::in_memory(&crate::registry::CATALOG, model, 1 << 16);
    let t = chrono::DateTime::UNIX_EPOCH;
    let mut now = Instant::now();
    let Ok(mut m) = Modem::new(cfg, Box::new(move || t), now) else { return };
    m.handle_input(setup, now);
    m.run_offloads_inline();
    let mut total = 0usize;
    let mut rest = data.get(1..).unwrap_or(&[]);
    while let [op, arg, tail @ ..] = rest {
        rest = tail;
        match op % 5 {
            0 => m.handle_input(lines[usize::from(*arg) % lines.len()], now),
            1 => {
                let n = usize::from(*arg).min(rest.len());
                m.handle_input(&rest[..n], now);
                rest = &rest[n..];
            }
            2 => {
                let jobs = m.running_jobs();
                if !jobs.is_empty() {
                    let id = jobs[usize::from(*arg) % jobs.len()];
                    let n = usize::from(rest.first().copied().unwrap_or(0) % 64).min(rest.len());
                    let (payload, after) = rest.split_at(n);
                    rest = after;
                    if let Some(ev) = m.fuzz_job_event(id, arg / 16, payload) {
                        m.handle_job_event(id, ev, now);
                    }
                }
            }
            3 => {
                for id in m.jobs_with_input() {
                    while m.poll_job_input(id).is_some() {}
                }
                while m.poll_job().is_some() {}
                while m.poll_job_abort().is_some() {}
                m.run_offloads_inline();
            }
            _ => {
                now += Duration::from_millis(u64::from(*arg) * 10);
                m.handle_timeout(now);
            }
        }
        while let Some(out) = m.poll_transmit() {
            total += out.len();
            assert!(total < 64 * 1024 * 1024, "runaway output");
        }
    }
}

/// The SMS PDU codec and the message service on arbitrary PDUs: a TPDU that decodes
/// re-encodes to the same octets; its user data decodes in every character set; and the
/// bytes go through a modem as a PDU to store (`AT+CMGW`), to send (`AT+CMGS`, so a
/// SUBMIT to the own number comes back), and are listed in PDU and text mode.
pub fn sms_pdu(data: &[u8]) {
    use crate::service::sms::{pdu, store, text};
    if let Ok((_, tpdu)) = pdu::split_smsc(data)
        && let Ok(t) = pdu::Tpdu::decode(tpdu)
    {
        let again = t.encode();
        let back = pdu::Tpdu::decode(&again).map(|t| t.encode());
        assert_eq!(back.as_ref(), Ok(&again), "a decoded TPDU re-encodes differently");
        let (fo, dcs, ud) = match &t {
            pdu::Tpdu::Submit(s) => (s.fo, s.dcs, Some(&s.ud)),
            pdu::Tpdu::Deliver(d) => (d.fo, d.dcs, Some(&d.ud)),
            pdu::Tpdu::Status(_) => (0, 0, None),
        };
        if let Some(ud) = ud {
            let d = ud.decode(dcs, fo & pdu::UDHI != 0);
            let _ = (d.text(dcs), d.concat());
            for cs in [text::Charset::Ira, text::Charset::Gsm, text::Charset::Ucs2, text::Charset::Hex] {
                let _ = text::ud_to_body(cs, dcs, &d);
                let _ = text::body_to_ud(cs, dcs, data);
            }
        }
    }
    let _ = store::Stores::load(data, 5, 5, 5);

    let cfg = ModemConfig::in_memory(&crate::registry::CATALOG, Model::Sim5360, 4096);
    let t = chrono::DateTime::UNIX_EPOCH;
    let mut now = Instant::now();
    let Ok(mut m) = Modem::new(cfg, Box::new(move || t), now) else { return };
    let hex = pdu::to_hex(data);
    let tpdu_len = pdu::split_smsc(data).map_or(data.len(), |(_, t)| t.len()).clamp(7, 164);
    let mut input = Vec::new();
    for verb in ["CMGW", "CMGS"] {
        input.extend_from_slice(format!("AT+CMGF=0;+CNMI=2,1,0,2\rAT+{verb}={tpdu_len}\r{hex}\x1a").as_bytes());
    }
    input.extend_from_slice(
        b"AT+CMGL=4\rAT+CMGF=1;+CSDH=1;+CMGL=\"ALL\";+CSCS=\"UCS2\";+CMGL=\"ALL\";+CSCS=\"HEX\";+CMGR=1\r",
    );
    let mut total = 0usize;
    for step in 0..4 {
        if step == 0 {
            m.handle_input(&input, now);
        } else {
            now += Duration::from_secs(2);
            m.handle_timeout(now);
            m.handle_input(b"AT+CPMS=\"SR\";+CMGL=4;+CMGF=1;+CMGL=\"ALL\"\r", now);
        }
        m.run_offloads_inline();
        while let Some(out) = m.poll_transmit() {
            total += out.len();
            assert!(total < 16 * 1024 * 1024, "runaway output");
        }
    }
}

/// Control-API requests (the REST API's routing table and every action on a modem), with
/// DTE input and time between them: each request is a line `<m><path>\t<body>` where the
/// byte `m` picks the method; lines are separated by `\n`.
pub fn control_request(data: &[u8]) {
    const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    let cfg = ModemConfig::in_memory(&crate::registry::CATALOG, Model::Sim5360, 4096);
    let t = chrono::DateTime::UNIX_EPOCH;
    let mut now = Instant::now();
    let Ok(mut m) = Modem::new(cfg, Box::new(move || t), now) else { return };
    m.handle_input(b"AT+CREG=2;+CGREG=2;+CMGF=1;+CNMI=2,1,0,1;+CLIP=1;+AUTOCSQ=1,1\r", now);
    let mut total = 0usize;
    for req in data.split(|&b| b == b'\n').take(64) {
        let Some((&m_byte, rest)) = req.split_first() else { continue };
        let text = String::from_utf8_lossy(rest);
        let (target, body) = text.split_once('\t').unwrap_or((&text, ""));
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let method = METHODS[usize::from(m_byte) % METHODS.len()];
        if let Ok(c) = crate::control::route(method, path, query, body) {
            let _ = crate::control::handle(&mut m, now, c);
        }
        // Time passes (the high bits of the method byte), the DTE reads and asks.
        now += Duration::from_millis(u64::from(m_byte >> 3) * 250);
        m.handle_timeout(now);
        m.handle_input(b"AT+CREG?;+CSQ;+CMGL=\"ALL\";+CLCC\r", now);
        m.run_offloads_inline();
        while let Some(out) = m.poll_transmit() {
            total += out.len();
            assert!(total < 16 * 1024 * 1024, "runaway output");
        }
    }
}

/// PPP framing on arbitrary line bytes, fed in pieces whose size the first byte picks:
/// every frame the de-framer takes has a good FCS, so encoding it again (every control
/// character escaped) gives bytes it takes back as that frame alone; the trace's decoder
/// describes whatever comes, in any cut.
pub fn ppp_frames(data: &[u8]) {
    use ppp::hdlc::{Deframer, MAX_FRAME, encode};
    let Some((&first, input)) = data.split_first() else { return };
    let step = usize::from(first).max(1);
    let mut d = Deframer::new();
    let mut frames = Vec::new();
    let mut trace = ppp::TraceDecoder::new();
    for piece in input.chunks(step) {
        d.feed(piece, |f| frames.push(f.to_vec()));
        for line in trace.feed(piece) {
            assert!(!line.contains('\n'), "a trace line with a line break");
        }
    }
    for f in &frames {
        assert!(f.len() <= MAX_FRAME, "a frame longer than the de-framer keeps");
        let mut wire = Vec::new();
        encode(f, u32::MAX, &mut wire);
        let mut again = Vec::new();
        let mut fresh = Deframer::new();
        fresh.feed(&wire, |g| again.push(g.to_vec()));
        assert_eq!(again, std::slice::from_ref(f), "a frame did not survive encoding");
        assert_eq!(fresh.counters, Default::default());
        let _ = ppp::describe(f);
    }
}

/// The network's side of PPP against an arbitrary DTE. The first byte picks the
/// authentication asked; then records `[kind, ms/20, len, bytes..]`: the bytes as one
/// well-formed frame (kind bit 0; so the fuzzer reaches the negotiation without having to
/// find FCSs) or raw, at a time that moves on by the record's step, with the link closed
/// (bit 1) or the bytes sent as an IP packet (bit 2). Each of the engine's outputs
/// de-frames cleanly, its backlog stays bounded, a dead link says nothing more, and a
/// closed link is dead within its terminate tries.
pub fn ppp_negotiation(data: &[u8]) {
    use ppp::hdlc::{Deframer, encode};
    let Some((&first, mut rest)) = data.split_first() else { return };
    let auth = [ppp::Auth::None, ppp::Auth::Pap, ppp::Auth::Chap][usize::from(first % 3)];
    let cfg = ppp::Config {
        auth,
        credentials: (first & 4 != 0).then(|| ("user".to_owned(), "pass".to_owned())),
        peer_addr: std::net::Ipv4Addr::new(10, 64, 0, 2),
        dns: [std::net::Ipv4Addr::new(10, 64, 64, 53), std::net::Ipv4Addr::new(10, 64, 64, 54)],
        seed: u64::from(first),
        name: "sim5360".into(),
    };
    let mut now = Instant::now();
    let mut e = ppp::Engine::new(cfg, now);
    let mut closed_at = None;
    let check = |e: &mut ppp::Engine| {
        let mut d = Deframer::new();
        while let Some(out) = e.poll_output() {
            assert!(out.len() <= 512 * 1024, "output backlog {}", out.len());
            d.feed(&out, |f| assert!(ppp::hdlc::split(f).is_some(), "a frame with no protocol"));
        }
        assert_eq!(d.counters, Default::default(), "the engine sent a bad frame");
        while e.poll_event().is_some() {}
        while e.poll_ip().is_some() {}
    };
    while let [kind, step, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (bytes, after) = tail.split_at(n);
        rest = after;
        now += Duration::from_millis(u64::from(*step) * 20);
        e.handle_timeout(now);
        if kind & 1 == 1 {
            let mut wire = Vec::new();
            encode(bytes, u32::MAX, &mut wire);
            e.input(&wire, now);
        } else {
            e.input(bytes, now);
        }
        if kind & 2 == 2 {
            e.close(now);
            closed_at.get_or_insert(now);
        }
        if kind & 4 == 4 && e.ready_for_ip() {
            e.send_ip(bytes);
        }
        check(&mut e);
        if e.phase() == ppp::Phase::Dead {
            e.handle_timeout(now + Duration::from_secs(60));
            e.input(b"\x7e\xff\x03\xc0\x21\x01\x01\x00\x04\x7e", now);
            assert!(e.poll_output().is_none(), "a dead link spoke");
            return;
        }
    }
    // A closed link (Terminate-Request, two tries 3 s apart) is dead soon after.
    if let Some(at) = closed_at {
        for s in 1..=10 {
            e.handle_timeout(at.max(now) + Duration::from_secs(s));
            check(&mut e);
        }
        assert_eq!(e.phase(), ppp::Phase::Dead, "a closed link lived on");
    }
}

/// The module's 27.010 multiplexer against an arbitrary DTE: records `[kind, dlci, len,
/// bytes..]` sent as one well-formed frame of a type the kind picks (SABM, DISC, UIH, UI,
/// UA, DM; so the fuzzer reaches the control channel's commands without finding FCSs) or
/// as raw bytes, with data for the channels between. Every frame the module sends parses,
/// a channel's carry at most `send_max` octets, data only ever goes out on an open
/// channel, and after close-down nothing more.
pub fn cmux_frames(data: &[u8]) {
    use cmux::{Config, Deframer, Event, Frame, Kind, Mux};
    let Some((&first, mut rest)) = data.split_first() else { return };
    let send_max = usize::from(first % 127) + 1;
    let mut m = Mux::new(Config { channels: 4, send_max, recv_max: 1500 });
    let mut open = [false; 5];
    let mut closed = false;
    let check = |m: &mut Mux, open: &mut [bool; 5], closed: &mut bool| {
        while let Some(ev) = m.poll_event() {
            match ev {
                Event::Opened(d) => open[usize::from(d)] = true,
                Event::Closed(d) => open[usize::from(d)] = false,
                Event::Data(d, _) => assert!(open[usize::from(d)], "data on a closed channel"),
                Event::Dtr { .. } => {}
                Event::CloseDown => *closed = true,
            }
        }
        let out = m.poll_output().unwrap_or_default();
        let mut d = Deframer::new(1500);
        d.feed(&out, |f| {
            // Channel data keeps to N1; the control channel's answers echo what came.
            assert!(f.dlci == 0 || f.info.len() <= send_max, "a frame of {} octets", f.info.len());
        });
        assert_eq!(d.counters.bad_fcs + d.counters.bad_frames + d.counters.too_long, 0, "a bad frame out");
    };
    while let [kind, dlci, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (bytes, after) = tail.split_at(n);
        rest = after;
        let kinds = [Kind::Sabm, Kind::Disc, Kind::Uih, Kind::Ui, Kind::Ua, Kind::Dm];
        match kind % 8 {
            k @ 0..=5 => {
                let f = Frame {
                    dlci: dlci % 8,
                    cr: kind & 0x80 != 0,
                    pf: kind & 0x40 != 0,
                    kind: kinds[usize::from(k)],
                    info: bytes.to_vec(),
                };
                m.input(&f.to_bytes());
            }
            6 => m.input(bytes),
            _ => {
                let d = dlci % 6;
                let was_closed = closed;
                m.send(d, bytes);
                if was_closed || !m.is_open(d) {
                    assert!(
                        m.poll_output().is_none_or(|o| o.is_empty()),
                        "output after close-down or on a closed channel"
                    );
                }
            }
        }
        check(&mut m, &mut open, &mut closed);
        if closed {
            m.input(&Frame::bare(1, true, true, Kind::Sabm).to_bytes());
            assert!(m.poll_output().is_none(), "a closed-down multiplexer answered");
            return;
        }
    }
}

/// The core with a multiplexer: `AT+CMUX=0`, then records `[kind, dlci, len, bytes..]`:
/// a UIH frame of channel data, a SABM or DISC, a control message, raw bytes, or time.
/// Nothing panics, output stays bounded, and the module answers AT on the UART after a
/// close-down.
pub fn mux_modem(data: &[u8]) {
    use cmux::{Frame, Kind};
    let cfg = ModemConfig::in_memory(&crate::registry::CATALOG, Model::Sim5360, 1 << 16);
    let t = chrono::DateTime::UNIX_EPOCH;
    let mut now = Instant::now();
    let Ok(mut m) = Modem::new(cfg, Box::new(move || t), now) else { return };
    m.handle_input(b"ATE0\rAT+CMUX=0\r", now);
    let mut total = 0usize;
    let mut rest = data;
    while let [kind, dlci, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (bytes, after) = tail.split_at(n);
        rest = after;
        let d = dlci % 6;
        let frame =
            |kind: Kind, info: &[u8]| Frame { dlci: d, cr: true, pf: true, kind, info: info.to_vec() }.to_bytes();
        match kind % 6 {
            0 => m.handle_input(&frame(Kind::Uih, bytes), now),
            1 => m.handle_input(&frame(Kind::Sabm, &[]), now),
            2 => m.handle_input(&frame(Kind::Disc, &[]), now),
            3 => {
                let mut f = Frame { dlci: 0, cr: true, pf: false, kind: Kind::Uih, info: bytes.to_vec() };
                if let Some(t) = f.info.first_mut() {
                    // A command type with C/R and EA set: PN, MSC, TEST, FCon/off, CLD, ...
                    *t |= 0x03;
                }
                m.handle_input(&f.to_bytes(), now);
            }
            4 => m.handle_input(bytes, now),
            _ => {
                now += Duration::from_millis(u64::from(*dlci) * 20);
                m.handle_timeout(now);
            }
        }
        while m.poll_job().is_some() {}
        for id in m.jobs_with_input() {
            while m.poll_job_input(id).is_some() {}
        }
        m.run_offloads_inline();
        while let Some(out) = m.poll_transmit() {
            total += out.len();
            assert!(total < 64 * 1024 * 1024, "runaway output");
        }
    }
}
