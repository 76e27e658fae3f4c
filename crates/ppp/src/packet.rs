//! Control packets of LCP, IPCP, PAP and CHAP (RFC 1661 §5): code, identifier, length,
//! data; the configuration options inside (type, length, value).

/// LCP/IPCP codes (RFC 1661 §5).
pub mod code {
    pub const CONF_REQ: u8 = 1;
    pub const CONF_ACK: u8 = 2;
    pub const CONF_NAK: u8 = 3;
    pub const CONF_REJ: u8 = 4;
    pub const TERM_REQ: u8 = 5;
    pub const TERM_ACK: u8 = 6;
    pub const CODE_REJ: u8 = 7;
    pub const PROT_REJ: u8 = 8;
    pub const ECHO_REQ: u8 = 9;
    pub const ECHO_REP: u8 = 10;
    pub const DISC_REQ: u8 = 11;
}

/// One control packet, borrowed from a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    pub code: u8,
    pub id: u8,
    pub data: &'a [u8],
}

impl<'a> Packet<'a> {
    /// The packet at the start of `info`; padding after its length is ignored. `None` for
    /// fewer than 4 bytes or a length field that says less than 4 or more than there is.
    pub fn parse(info: &'a [u8]) -> Option<Self> {
        let [code, id, hi, lo, ..] = *info else { return None };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if len < 4 || len > info.len() {
            return None;
        }
        Some(Self { code, id, data: &info[4..len] })
    }

    /// The packet's bytes.
    pub fn encode(code: u8, id: u8, data: &[u8]) -> Vec<u8> {
        let len = u16::try_from(data.len() + 4).unwrap_or(u16::MAX);
        let mut out = Vec::with_capacity(data.len() + 4);
        out.extend_from_slice(&[code, id]);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&data[..usize::from(len) - 4]);
        out
    }
}

/// One configuration option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opt<'a> {
    pub kind: u8,
    pub value: &'a [u8],
}

impl Opt<'_> {
    /// The option's bytes (type, length, value).
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = vec![self.kind, (self.value.len() + 2) as u8];
        out.extend_from_slice(self.value);
        out
    }

    /// A 32-bit value (ACCM, magic number, an IPv4 address).
    pub fn u32(&self) -> Option<u32> {
        Some(u32::from_be_bytes(self.value.try_into().ok()?))
    }

    /// A 16-bit value (MRU, a protocol).
    pub fn u16(&self) -> Option<u16> {
        Some(u16::from_be_bytes(self.value.get(..2)?.try_into().ok()?))
    }
}

/// An option's bytes from its type and value.
pub fn opt(kind: u8, value: &[u8]) -> Vec<u8> {
    Opt { kind, value }.bytes()
}

/// The options of a Configure packet's data; `None` when one is malformed (a length
/// below 2 or past the end), which makes the whole packet invalid.
pub fn options(data: &[u8]) -> Option<Vec<Opt<'_>>> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let [kind, len, ..] = *rest else { return None };
        let len = usize::from(len);
        if len < 2 || len > rest.len() || len > 255 {
            return None;
        }
        out.push(Opt { kind, value: &rest[2..len] });
        rest = &rest[len..];
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_encode() {
        let bytes = Packet::encode(code::CONF_REQ, 7, &[2, 6, 0, 0, 0, 0, 7, 2]);
        assert_eq!(bytes, [1, 7, 0, 12, 2, 6, 0, 0, 0, 0, 7, 2]);
        let mut padded = bytes.clone();
        padded.extend_from_slice(&[0, 0]);
        let p = Packet::parse(&padded).unwrap();
        assert_eq!((p.code, p.id, p.data.len()), (1, 7, 8));
        let opts = options(p.data).unwrap();
        assert_eq!(opts.len(), 2);
        assert_eq!((opts[0].kind, opts[0].u32()), (2, Some(0)));
        assert_eq!((opts[1].kind, opts[1].value), (7, &[][..]));
        assert_eq!(Packet::parse(&[1, 1, 0, 3]), None);
        assert_eq!(Packet::parse(&[1, 1, 0, 9, 0]), None);
        assert_eq!(options(&[2, 1]), None);
        assert_eq!(options(&[2, 9, 0]), None);
    }
}
