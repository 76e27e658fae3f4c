//! The engine against scripted DTEs: what lwIP 2.1.3 (esp_modem's stack), pppd, Zephyr and
//! an authenticating client send, frame by frame, with the engine's answers checked.
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use ppp::packet::{Packet, code, opt, options};
use ppp::{Auth, Config, DownReason, Engine, Event, Phase, hdlc, proto};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const ADDR: Ipv4Addr = Ipv4Addr::new(10, 64, 0, 2);
const DNS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 64, 64, 53), Ipv4Addr::new(10, 64, 64, 54)];

fn config(auth: Auth, credentials: Option<(&str, &str)>) -> Config {
    Config {
        auth,
        credentials: credentials.map(|(u, p)| (u.to_owned(), p.to_owned())),
        peer_addr: ADDR,
        dns: DNS,
        seed: 42,
        name: "sim5360".into(),
    }
}

/// A scripted DTE: frames it sends, frames it got.
struct Dte {
    engine: Engine,
    now: Instant,
}

impl Dte {
    fn new(cfg: Config) -> Self {
        let now = Instant::now();
        Self { engine: Engine::new(cfg, now), now }
    }

    fn send(&mut self, protocol: u16, packet: &[u8]) {
        let mut payload = vec![0xFF, 0x03];
        payload.extend_from_slice(&protocol.to_be_bytes());
        payload.extend_from_slice(packet);
        let mut bytes = Vec::new();
        hdlc::encode(&payload, 0xFFFF_FFFF, &mut bytes);
        self.engine.input(&bytes, self.now);
    }

    /// Every packet the engine sent since the last call: (protocol, code, id, data).
    fn got(&mut self) -> Vec<(u16, u8, u8, Vec<u8>)> {
        let mut out = Vec::new();
        let mut d = hdlc::Deframer::new();
        let bytes = self.engine.poll_output().unwrap_or_default();
        d.feed(&bytes, |f| {
            let (p, info) = hdlc::split(f).unwrap();
            if p == proto::IPV4 {
                out.push((p, 0, 0, info.to_vec()));
            } else {
                let pk = Packet::parse(info).unwrap();
                out.push((p, pk.code, pk.id, pk.data.to_vec()));
            }
        });
        assert_eq!(d.counters.bad_fcs, 0);
        out
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.engine.handle_timeout(self.now);
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.engine.poll_event()).collect()
    }
}

fn opts(data: &[u8]) -> Vec<(u8, Vec<u8>)> {
    options(data).unwrap().into_iter().map(|o| (o.kind, o.value.to_vec())).collect()
}

/// LCP as lwIP does it: its request, the engine's Ack and own request, lwIP's Ack.
fn lcp_up(d: &mut Dte, request: &[u8]) -> Vec<(u8, Vec<u8>)> {
    d.send(proto::LCP, &Packet::encode(code::CONF_REQ, 1, request));
    let got = d.got();
    assert_eq!(got.len(), 2, "{got:?}");
    // Its own request first (the DTE's first frame starts LCP), then the Ack.
    let (p, c, id, ours) = got[0].clone();
    assert_eq!((p, c), (proto::LCP, code::CONF_REQ));
    assert_eq!(got[1], (proto::LCP, code::CONF_ACK, 1, request.to_vec()));
    d.send(proto::LCP, &Packet::encode(code::CONF_ACK, id, &ours));
    opts(&ours)
}

#[test]
fn lwip_esp_modem_negotiation() {
    let mut d = Dte::new(config(Auth::None, None));
    let lwip = [opt(2, &[0; 4]), opt(5, &0xE28F_68A6u32.to_be_bytes()), opt(7, &[]), opt(8, &[])].concat();
    let ours = lcp_up(&mut d, &lwip);
    // The module's request: <asyncmap 0x0> <magic ...> <pcomp> <accomp>, no auth.
    let kinds: Vec<u8> = ours.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, [2, 5, 7, 8]);
    // LCP is up: IPCP's empty request goes out.
    let got = d.got();
    assert_eq!(got.len(), 1);
    let (p, c, ipcp_id, data) = got[0].clone();
    assert_eq!((p, c, data.len()), (proto::IPCP, code::CONF_REQ, 0));
    // lwIP asks VJ, address and both DNS: VJ is rejected first.
    let ask = |addr: [u8; 4], d1: [u8; 4], d2: [u8; 4], vj: bool| {
        let mut o = Vec::new();
        if vj {
            o.extend(opt(2, &[0x00, 0x2D, 0x0F, 0x01]));
        }
        o.extend(opt(3, &addr));
        o.extend(opt(129, &d1));
        o.extend(opt(131, &d2));
        o
    };
    d.send(proto::IPCP, &Packet::encode(code::CONF_REQ, 1, &ask([0; 4], [0; 4], [0; 4], true)));
    d.send(proto::IPCP, &Packet::encode(code::CONF_ACK, ipcp_id, &[]));
    let got = d.got();
    assert_eq!(got[0].1, code::CONF_REJ);
    assert_eq!(opts(&got[0].3), [(2, vec![0x00, 0x2D, 0x0F, 0x01])]);
    d.send(proto::IPCP, &Packet::encode(code::CONF_REQ, 2, &ask([0; 4], [0; 4], [0; 4], false)));
    let got = d.got();
    assert_eq!(got[0].1, code::CONF_NAK);
    assert_eq!(
        opts(&got[0].3),
        [(3, ADDR.octets().to_vec()), (129, DNS[0].octets().to_vec()), (131, DNS[1].octets().to_vec())]
    );
    d.send(
        proto::IPCP,
        &Packet::encode(code::CONF_REQ, 3, &ask(ADDR.octets(), DNS[0].octets(), DNS[1].octets(), false)),
    );
    let got = d.got();
    assert_eq!((got[0].1, got[0].2), (code::CONF_ACK, 3));
    assert_eq!(d.events(), [Event::Up { addr: ADDR, dns: DNS }]);
    assert_eq!(d.engine.phase(), Phase::Network);
    // IP both ways; the engine compresses as lwIP allowed (no FF 03, one-byte protocol).
    let pkt = vec![0x45u8; 40];
    d.send(proto::IPV4, &pkt);
    assert_eq!(d.engine.poll_ip(), Some(pkt.clone()));
    d.engine.send_ip(&pkt);
    let raw = d.engine.poll_output().unwrap();
    let mut frames = Vec::new();
    hdlc::Deframer::new().feed(&raw, |f| frames.push(f.to_vec()));
    assert_eq!(frames[0][0], 0x21, "compressed: {:02x?}", &frames[0][..4]);
    // Echo: answered with the module's magic.
    d.send(proto::LCP, &Packet::encode(code::ECHO_REQ, 9, &0xE28F_68A6u32.to_be_bytes()));
    let got = d.got();
    assert_eq!((got[0].1, got[0].2), (code::ECHO_REP, 9));
    // CCP and IPV6CP: Protocol-Reject.
    d.send(proto::CCP, &Packet::encode(code::CONF_REQ, 1, &[]));
    let got = d.got();
    assert_eq!(got[0].1, code::PROT_REJ);
    assert_eq!(&got[0].3[..2], &proto::CCP.to_be_bytes());
    // lwIP's ppp_close: Terminate-Request; the engine Acks and the link is down.
    d.send(proto::LCP, &Packet::encode(code::TERM_REQ, 2, &[]));
    let got = d.got();
    assert_eq!((got[0].1, got[0].2), (code::TERM_ACK, 2));
    assert_eq!(d.events(), [Event::Down(DownReason::PeerTerminated)]);
    assert_eq!(d.engine.phase(), Phase::Dead);
}

#[test]
fn a_dte_that_rejects_every_option_and_asks_none_still_comes_up() {
    // Zephyr rejects every LCP option; pppd `noauth nomagic novj` asks none of its own.
    let mut d = Dte::new(config(Auth::None, None));
    d.send(proto::LCP, &Packet::encode(code::CONF_REQ, 1, &[]));
    let got = d.got();
    let (_, _, id, ours) = got[0].clone();
    assert_eq!(got[1].1, code::CONF_ACK);
    d.send(proto::LCP, &Packet::encode(code::CONF_REJ, id, &ours));
    let got = d.got();
    assert_eq!(got.len(), 1);
    let (_, c, id2, again) = got[0].clone();
    assert_eq!((c, again.len()), (code::CONF_REQ, 0), "{again:?}");
    d.send(proto::LCP, &Packet::encode(code::CONF_ACK, id2, &again));
    let got = d.got();
    assert_eq!(got[0].0, proto::IPCP);
    // An IPCP request with no address is offered one.
    d.send(proto::IPCP, &Packet::encode(code::CONF_REQ, 1, &[]));
    let got = d.got();
    assert_eq!((got[0].1, opts(&got[0].3)), (code::CONF_NAK, vec![(3, ADDR.octets().to_vec())]));
}

#[test]
fn the_engine_starts_lcp_itself_when_the_dte_is_silent() {
    let mut d = Dte::new(config(Auth::None, None));
    assert_eq!(d.got(), []);
    d.advance(Duration::from_millis(1100));
    let got = d.got();
    assert_eq!((got.len(), got[0].1), (1, code::CONF_REQ));
    // Retransmitted every restart period, then given up on.
    for _ in 0..9 {
        d.advance(Duration::from_secs(3));
        assert_eq!(d.got().len(), 1);
    }
    d.advance(Duration::from_secs(3));
    assert_eq!(d.events(), [Event::Down(DownReason::NoResponse)]);
}

fn auth_flow(auth: Auth, creds: Option<(&str, &str)>, user: &str, pass: &str, dte_naks_to_pap: bool) -> Vec<Event> {
    let mut d = Dte::new(config(auth, creds));
    d.send(proto::LCP, &Packet::encode(code::CONF_REQ, 1, &opt(2, &[0; 4])));
    let got = d.got();
    let (_, _, mut id, mut ours) = got[0].clone();
    if dte_naks_to_pap {
        d.send(proto::LCP, &Packet::encode(code::CONF_NAK, id, &opt(3, &[0xC0, 0x23])));
        let got = d.got();
        (id, ours) = (got[0].2, got[0].3.clone());
        assert!(opts(&ours).contains(&(3, vec![0xC0, 0x23])), "{ours:?}");
    }
    d.send(proto::LCP, &Packet::encode(code::CONF_ACK, id, &ours));
    let asked = opts(&ours).into_iter().find(|(k, _)| *k == 3).map(|(_, v)| v).unwrap();
    if asked == [0xC0, 0x23] {
        let mut data = vec![user.len() as u8];
        data.extend_from_slice(user.as_bytes());
        data.push(pass.len() as u8);
        data.extend_from_slice(pass.as_bytes());
        d.send(proto::PAP, &Packet::encode(1, 5, &data));
    } else {
        assert_eq!(asked, [0xC2, 0x23, 0x05]);
        let got = d.got();
        let (p, c, cid, challenge) = got[0].clone();
        assert_eq!((p, c, challenge[0]), (proto::CHAP, 1, 16));
        use md5::Digest;
        let mut h = md5::Md5::new();
        h.update([cid]);
        h.update(pass.as_bytes());
        h.update(&challenge[1..17]);
        let mut data = vec![16];
        data.extend_from_slice(h.finalize().as_slice());
        data.extend_from_slice(user.as_bytes());
        d.send(proto::CHAP, &Packet::encode(2, cid, &data));
    }
    let got = d.got();
    let answer = got.iter().find(|g| g.0 == proto::PAP || g.0 == proto::CHAP).unwrap();
    let ok = matches!(answer.1, 2 | 3) && !(answer.0 == proto::PAP && answer.1 == 3);
    if ok {
        assert!(got.iter().any(|g| g.0 == proto::IPCP && g.1 == code::CONF_REQ), "{got:?}");
        assert_eq!(d.engine.phase(), Phase::Network);
    } else {
        // Refused: LCP Terminate-Request; the DTE Acks and the link is down.
        let term = got.iter().find(|g| g.0 == proto::LCP && g.1 == code::TERM_REQ).unwrap();
        d.send(proto::LCP, &Packet::encode(code::TERM_ACK, term.2, &[]));
    }
    d.events()
}

#[test]
fn pap_and_chap_checked_against_the_credentials() {
    let good = Some(("user", "secret"));
    assert_eq!(auth_flow(Auth::Pap, good, "user", "secret", false), []);
    assert_eq!(auth_flow(Auth::Pap, good, "user", "wrong", false), [Event::Down(DownReason::AuthFailed)]);
    assert_eq!(auth_flow(Auth::Chap, good, "user", "secret", false), []);
    assert_eq!(auth_flow(Auth::Chap, good, "user", "wrong", false), [Event::Down(DownReason::AuthFailed)]);
    assert_eq!(auth_flow(Auth::Chap, good, "other", "secret", false), [Event::Down(DownReason::AuthFailed)]);
    // A DTE that Naks CHAP for PAP gets PAP.
    assert_eq!(auth_flow(Auth::Chap, good, "user", "secret", true), []);
    // No credentials set: any are taken.
    assert_eq!(auth_flow(Auth::Pap, None, "x", "y", false), []);
}

#[test]
fn closing_sends_terminate_and_ends_on_the_ack_or_after_two_tries() {
    let mut d = Dte::new(config(Auth::None, None));
    lcp_up(&mut d, &[]);
    d.got();
    d.engine.close(d.now);
    let got = d.got();
    assert_eq!(got[0].1, code::TERM_REQ);
    d.send(proto::LCP, &Packet::encode(code::TERM_ACK, got[0].2, &[]));
    assert_eq!(d.events(), [Event::Down(DownReason::Closed)]);

    let mut d = Dte::new(config(Auth::None, None));
    lcp_up(&mut d, &[]);
    d.got();
    d.engine.close(d.now);
    assert_eq!(d.got().len(), 1);
    d.advance(Duration::from_secs(3));
    assert_eq!(d.got().len(), 1);
    d.advance(Duration::from_secs(3));
    assert_eq!(d.events(), [Event::Down(DownReason::Closed)]);
}

#[test]
fn garbage_never_panics_and_unknown_codes_are_rejected() {
    let mut d = Dte::new(config(Auth::None, None));
    lcp_up(&mut d, &[]);
    d.got();
    d.send(proto::LCP, &Packet::encode(77, 3, &[1, 2, 3]));
    let got = d.got();
    assert_eq!(got[0].1, code::CODE_REJ);
    for junk in [&[][..], &[1], &[1, 2, 0, 1], &[1, 2, 0, 200, 9], &[1, 2, 0, 6, 3, 9]] {
        d.send(proto::LCP, junk);
        d.send(proto::IPCP, junk);
    }
    d.engine.input(&[0x7E, 0x7D, 0x7E, 0xFF, 0x7E], d.now);
    assert!(d.engine.stats().bad_frames >= 1);
}
