//! One line per PPP packet, for traces: pppd's notation for control packets
//! (`LCP ConfReq id=0x1 <asyncmap 0x0> <magic 0x1f85caa3> <pcomp> <accomp>`), a summary
//! for IP packets (`IP TCP 10.64.0.2:40112 > 10.64.64.64:80 [S] len=0`). PAP passwords and
//! CHAP responses are masked.

use crate::hdlc::{self, Deframer};
use crate::packet::{Packet, code, options};
use crate::proto;
use std::fmt::Write;
use std::net::Ipv4Addr;

fn code_name(c: u8) -> String {
    match c {
        code::CONF_REQ => "ConfReq".into(),
        code::CONF_ACK => "ConfAck".into(),
        code::CONF_NAK => "ConfNak".into(),
        code::CONF_REJ => "ConfRej".into(),
        code::TERM_REQ => "TermReq".into(),
        code::TERM_ACK => "TermAck".into(),
        code::CODE_REJ => "CodeRej".into(),
        code::PROT_REJ => "ProtRej".into(),
        code::ECHO_REQ => "EchoReq".into(),
        code::ECHO_REP => "EchoRep".into(),
        code::DISC_REQ => "DiscReq".into(),
        c => format!("code=0x{c:x}"),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ")
}

fn ip4(v: &[u8]) -> String {
    <[u8; 4]>::try_from(v).map(|a| Ipv4Addr::from(a).to_string()).unwrap_or_else(|_| hex(v))
}

fn lcp_option(kind: u8, v: &[u8]) -> String {
    let u32v = || <[u8; 4]>::try_from(v).map(u32::from_be_bytes).ok();
    match (kind, v.len()) {
        (1, 2) => format!("<mru {}>", u16::from_be_bytes([v[0], v[1]])),
        (2, 4) => format!("<asyncmap 0x{:x}>", u32v().unwrap_or(0)),
        (3, _) if v.starts_with(&[0xC0, 0x23]) => "<auth pap>".into(),
        (3, _) if v == [0xC2, 0x23, 0x05] => "<auth chap MD5>".into(),
        (3, _) if v.starts_with(&[0xC2, 0x23]) => format!("<auth chap {}>", hex(&v[2..])),
        (5, 4) => format!("<magic 0x{:x}>", u32v().unwrap_or(0)),
        (7, 0) => "<pcomp>".into(),
        (8, 0) => "<accomp>".into(),
        _ => format!("<option {kind} {}>", hex(v)),
    }
}

fn ipcp_option(kind: u8, v: &[u8]) -> String {
    match kind {
        2 => {
            format!("<compress {}>", if v.starts_with(&[0x00, 0x2D]) { format!("VJ {}", hex(&v[2..])) } else { hex(v) })
        }
        3 => format!("<addr {}>", ip4(v)),
        129 => format!("<ms-dns1 {}>", ip4(v)),
        130 => format!("<ms-wins {}>", ip4(v)),
        131 => format!("<ms-dns2 {}>", ip4(v)),
        132 => format!("<ms-wins {}>", ip4(v)),
        _ => format!("<option {kind} {}>", hex(v)),
    }
}

fn control(name: &str, info: &[u8], opt: fn(u8, &[u8]) -> String) -> String {
    let Some(p) = Packet::parse(info) else { return format!("{name} malformed ({} bytes)", info.len()) };
    let mut s = format!("{name} {} id=0x{:x}", code_name(p.code), p.id);
    match p.code {
        code::CONF_REQ | code::CONF_ACK | code::CONF_NAK | code::CONF_REJ => match options(p.data) {
            Some(opts) => {
                for o in opts {
                    s.push(' ');
                    s.push_str(&opt(o.kind, o.value));
                }
            }
            None => s.push_str(" (malformed options)"),
        },
        code::ECHO_REQ | code::ECHO_REP | code::DISC_REQ if p.data.len() >= 4 => {
            let _ = write!(s, " magic=0x{:x}", u32::from_be_bytes([p.data[0], p.data[1], p.data[2], p.data[3]]));
        }
        code::PROT_REJ if p.data.len() >= 2 => {
            let _ = write!(s, " proto=0x{:04x}", u16::from_be_bytes([p.data[0], p.data[1]]));
        }
        _ => {}
    }
    s
}

/// A length-prefixed field at the start of `b`, and what follows it.
fn field(b: &[u8]) -> (&[u8], &[u8]) {
    match b.split_first() {
        Some((&n, rest)) => rest.split_at(usize::from(n).min(rest.len())),
        None => (&[], &[]),
    }
}

fn pap(info: &[u8]) -> String {
    let Some(p) = Packet::parse(info) else { return "PAP malformed".into() };
    match p.code {
        1 => {
            let (user, _password) = field(p.data);
            format!("PAP AuthReq id=0x{:x} user={:?} password=***", p.id, String::from_utf8_lossy(user))
        }
        2 | 3 => {
            let (msg, _) = field(p.data);
            let what = if p.code == 2 { "AuthAck" } else { "AuthNak" };
            format!("PAP {what} id=0x{:x} {:?}", p.id, String::from_utf8_lossy(msg))
        }
        c => format!("PAP code=0x{c:x} id=0x{:x}", p.id),
    }
}

fn chap(info: &[u8]) -> String {
    let Some(p) = Packet::parse(info) else { return "CHAP malformed".into() };
    match p.code {
        1 | 2 => {
            let (_value, name) = field(p.data);
            let (what, value) = if p.code == 1 { ("Challenge", "<challenge>") } else { ("Response", "***") };
            format!("CHAP {what} id=0x{:x} name={:?} value={value}", p.id, String::from_utf8_lossy(name))
        }
        3 | 4 => {
            let what = if p.code == 3 { "Success" } else { "Failure" };
            format!("CHAP {what} id=0x{:x} {:?}", p.id, String::from_utf8_lossy(p.data))
        }
        c => format!("CHAP code=0x{c:x} id=0x{:x}", p.id),
    }
}

/// `IP <proto> <src> > <dst> ...` for an IPv4 packet.
fn ipv4(pkt: &[u8]) -> String {
    if pkt.len() < 20 || pkt[0] >> 4 != 4 {
        return format!("IP malformed ({} bytes)", pkt.len());
    }
    let ihl = usize::from(pkt[0] & 0x0F) * 4;
    let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
    let (src, dst) = (ip4(&pkt[12..16]), ip4(&pkt[16..20]));
    let body = pkt.get(ihl..total.min(pkt.len())).unwrap_or_default();
    match pkt[9] {
        6 if body.len() >= 20 => {
            let (sp, dp) = (u16::from_be_bytes([body[0], body[1]]), u16::from_be_bytes([body[2], body[3]]));
            let off = usize::from(body[12] >> 4) * 4;
            let f = body[13];
            let flags: String = [(0x02, 'S'), (0x10, '.'), (0x01, 'F'), (0x04, 'R'), (0x08, 'P')]
                .iter()
                .filter(|(bit, _)| f & bit != 0)
                .map(|(_, c)| *c)
                .collect();
            format!("IP TCP {src}:{sp} > {dst}:{dp} [{flags}] len={}", body.len().saturating_sub(off))
        }
        17 if body.len() >= 8 => {
            let (sp, dp) = (u16::from_be_bytes([body[0], body[1]]), u16::from_be_bytes([body[2], body[3]]));
            format!("IP UDP {src}:{sp} > {dst}:{dp} len={}", body.len() - 8)
        }
        1 if body.len() >= 8 => {
            let what = match body[0] {
                8 => "echo request".to_owned(),
                0 => "echo reply".to_owned(),
                3 => format!("unreachable code {}", body[1]),
                t => format!("type {t}"),
            };
            format!("IP ICMP {src} > {dst} {what} len={}", body.len())
        }
        p => format!("IP proto {p} {src} > {dst} len={}", body.len()),
    }
}

/// One line for a frame payload (address, control, protocol, information).
pub fn describe(frame: &[u8]) -> String {
    let Some((protocol, info)) = hdlc::split(frame) else { return format!("PPP runt ({} bytes)", frame.len()) };
    match protocol {
        proto::LCP => control("LCP", info, lcp_option),
        proto::IPCP => control("IPCP", info, ipcp_option),
        proto::IPV6CP => control("IPV6CP", info, |k, v| format!("<option {k} {}>", hex(v))),
        proto::CCP => control("CCP", info, |k, v| format!("<option {k} {}>", hex(v))),
        proto::PAP => pap(info),
        proto::CHAP => chap(info),
        proto::IPV4 => ipv4(info),
        p => format!("PPP proto 0x{p:04x} len={}", info.len()),
    }
}

/// A byte stream of one direction turned into one line per frame (and one per bad frame).
#[derive(Debug, Default)]
pub struct TraceDecoder {
    deframer: Deframer,
    bad: u64,
}

impl TraceDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether no frame is in progress (what comes next without a flag in it is not PPP:
    /// a `+++`, a typed `AT`).
    pub fn between_frames(&self) -> bool {
        self.deframer.idle()
    }

    /// The lines for `data`.
    pub fn feed(&mut self, data: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        self.deframer.feed(data, |f| lines.push(describe(f)));
        let c = self.deframer.counters;
        let bad = c.bad_fcs + c.bad_length + c.aborted;
        if bad > self.bad {
            lines.push(format!("PPP {} bad frame(s) dropped", bad - self.bad));
            self.bad = bad;
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(protocol: u16, info: &[u8]) -> Vec<u8> {
        let mut f = vec![0xFF, 0x03];
        f.extend_from_slice(&protocol.to_be_bytes());
        f.extend_from_slice(info);
        f
    }

    #[test]
    fn pppd_notation() {
        let lcp = Packet::encode(1, 1, &[2, 6, 0, 0, 0, 0, 5, 6, 0xE2, 0x8F, 0x68, 0xA6, 7, 2, 8, 2]);
        assert_eq!(
            describe(&frame(proto::LCP, &lcp)),
            "LCP ConfReq id=0x1 <asyncmap 0x0> <magic 0xe28f68a6> <pcomp> <accomp>"
        );
        let ipcp = Packet::encode(
            3,
            1,
            &[3, 6, 10, 64, 0, 2, 129, 6, 10, 64, 64, 53, 131, 6, 10, 64, 64, 54, 2, 6, 0, 0x2D, 0x0F, 1],
        );
        assert_eq!(
            describe(&frame(proto::IPCP, &ipcp)),
            "IPCP ConfNak id=0x1 <addr 10.64.0.2> <ms-dns1 10.64.64.53> <ms-dns2 10.64.64.54> <compress VJ 0f 01>"
        );
    }

    #[test]
    fn secrets_are_masked() {
        let pap = Packet::encode(1, 7, b"\x04user\x06s3cr3t");
        let line = describe(&frame(proto::PAP, &pap));
        assert_eq!(line, "PAP AuthReq id=0x7 user=\"user\" password=***");
        assert!(!line.contains("s3cr3t"));
        let mut resp = vec![16];
        resp.extend_from_slice(&[0xAB; 16]);
        resp.extend_from_slice(b"user");
        let line = describe(&frame(proto::CHAP, &Packet::encode(2, 9, &resp)));
        assert_eq!(line, "CHAP Response id=0x9 name=\"user\" value=***");
    }

    #[test]
    fn ip_summaries() {
        let mut ip = vec![0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 64, 0, 2, 10, 64, 64, 64];
        ip.extend_from_slice(&[0x9C, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xFF, 0xFF, 0, 0, 0, 0]);
        assert_eq!(describe(&frame(proto::IPV4, &ip)), "IP TCP 10.64.0.2:40000 > 10.64.64.64:80 [S] len=0");
        assert_eq!(describe(&[0x21, 0x45]), "IP malformed (1 bytes)");
        let mut d = TraceDecoder::new();
        let mut stream = Vec::new();
        hdlc::encode(&frame(proto::IPV4, &ip), 0, &mut stream);
        stream.extend_from_slice(&[0x7E, 1, 2, 3, 4, 0x7E]);
        assert_eq!(
            d.feed(&stream),
            ["IP TCP 10.64.0.2:40000 > 10.64.64.64:80 [S] len=0", "PPP 1 bad frame(s) dropped"]
        );
    }
}
