//! The control channel's messages (27.010 §5.4.6): UIH frames on DLCI 0 whose information
//! is a type octet (`command << 2 | C/R << 1 | EA`; C/R 1 a command, 0 a response), a
//! length octet (`L << 1 | EA`, extended like the frame's) and the value.

/// Multiplexer command types, the C/R and EA bits clear.
pub mod kind {
    /// Parameter negotiation.
    pub const PN: u8 = 0x80;
    /// Power saving control.
    pub const PSC: u8 = 0x40;
    /// Multiplexer close down.
    pub const CLD: u8 = 0xC0;
    /// Test: the value comes back.
    pub const TEST: u8 = 0x20;
    /// Flow control on: the other side may send again.
    pub const FCON: u8 = 0xA0;
    /// Flow control off: the other side must not send data.
    pub const FCOFF: u8 = 0x60;
    /// Modem status: a DLCI's V.24 signals.
    pub const MSC: u8 = 0xE0;
    /// Non-supported command response.
    pub const NSC: u8 = 0x10;
    /// Remote port negotiation.
    pub const RPN: u8 = 0x90;
    /// Remote line status.
    pub const RLS: u8 = 0x50;
    /// Service negotiation.
    pub const SNC: u8 = 0xD0;
}

/// V.24 signal bits of an MSC's signal octet.
pub mod v24 {
    /// Flow control: 1 = the sender of the MSC cannot take data on the DLCI.
    pub const FC: u8 = 0x02;
    /// Ready to communicate (DSR/DTR).
    pub const RTC: u8 = 0x04;
    /// Ready to receive (RTS/CTS).
    pub const RTR: u8 = 0x08;
    /// Incoming call (RI).
    pub const IC: u8 = 0x40;
    /// Data valid (DCD).
    pub const DV: u8 = 0x80;
}

/// One control message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its type, C/R and EA clear (see [`kind`]).
    pub kind: u8,
    /// A command (C/R 1) or a response (0).
    pub command: bool,
    pub value: Vec<u8>,
}

impl Message {
    pub fn new(kind: u8, command: bool, value: Vec<u8>) -> Self {
        Self { kind, command, value }
    }

    /// Parse the information of a DLCI 0 UIH frame. A bare `C3` (the close-down frame of
    /// the n_gsm HOWTO, without a length octet) is a CLD command; a length past the end
    /// takes what there is.
    pub fn parse(info: &[u8]) -> Option<Self> {
        let (&t, rest) = info.split_first()?;
        let (kind, command) = (t & 0xFC, t & 0x02 != 0);
        if t & 1 == 0 {
            // A multi-octet type: none is defined; not for us.
            return Some(Self { kind: t & 0xFC, command, value: Vec::new() });
        }
        let mut len = 0usize;
        let mut i = 0;
        loop {
            let Some(&b) = rest.get(i) else {
                return Some(Self { kind, command, value: Vec::new() });
            };
            len |= usize::from(b >> 1) << (7 * i);
            i += 1;
            if b & 1 == 1 || i >= 3 {
                break;
            }
        }
        let value = rest[i..].iter().copied().take(len).collect();
        Some(Self { kind, command, value })
    }

    /// The information field carrying it.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![self.kind | (u8::from(self.command) << 1) | 1];
        let len = self.value.len();
        if len <= 127 {
            v.push(((len as u8) << 1) | 1);
        } else {
            v.push(((len & 0x7F) as u8) << 1);
            v.push((((len >> 7) as u8) << 1) | 1);
        }
        v.extend_from_slice(&self.value);
        v
    }

    /// The short name of its type (`MSC`, `CLD`, ...; `0x??` for others).
    pub fn name(&self) -> String {
        match self.kind {
            kind::PN => "PN".into(),
            kind::PSC => "PSC".into(),
            kind::CLD => "CLD".into(),
            kind::TEST => "TEST".into(),
            kind::FCON => "FCon".into(),
            kind::FCOFF => "FCoff".into(),
            kind::MSC => "MSC".into(),
            kind::NSC => "NSC".into(),
            kind::RPN => "RPN".into(),
            kind::RLS => "RLS".into(),
            kind::SNC => "SNC".into(),
            k => format!("0x{k:02x}"),
        }
    }

    /// One line for traces: `MSC cmd dlci=1 v24=0x8d`.
    pub fn describe(&self) -> String {
        let dir = if self.command { "cmd" } else { "resp" };
        let detail = match self.kind {
            kind::MSC if self.value.len() >= 2 => {
                format!(" dlci={} v24=0x{:02x}", self.value[0] >> 2, self.value[1])
            }
            kind::PN if self.value.len() >= 8 => {
                let n1 = u16::from_le_bytes([self.value[4], self.value[5]]);
                format!(" dlci={} n1={n1} k={}", self.value[0] & 0x3F, self.value[7] & 7)
            }
            kind::NSC if !self.value.is_empty() => format!(" type=0x{:02x}", self.value[0]),
            _ if !self.value.is_empty() => format!(" len={}", self.value.len()),
            _ => String::new(),
        };
        format!("{} {dir}{detail}", self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_encode() {
        // esp_modem's CLD and the module's answer (information of `f9 03 ef 05 c3 01 f2 f9`).
        let cld = Message::parse(&[0xC3, 0x01]).unwrap();
        assert_eq!(cld, Message::new(kind::CLD, true, vec![]));
        assert_eq!(Message::new(kind::CLD, false, vec![]).encode(), [0xC1, 0x01]);
        // The n_gsm HOWTO's bare close-down.
        assert_eq!(Message::parse(&[0xC3]).unwrap(), Message::new(kind::CLD, true, vec![]));
        // An MSC for DLCI 1 with DTR on (RTC), as n_gsm sends when a gsmtty opens.
        let msc = Message::parse(&[0xE3, 0x05, 0x07, 0x0D]).unwrap();
        assert_eq!(msc, Message::new(kind::MSC, true, vec![0x07, 0x0D]));
        assert_eq!(msc.encode(), [0xE3, 0x05, 0x07, 0x0D]);
        assert_eq!(msc.describe(), "MSC cmd dlci=1 v24=0x0d");
        // A long value takes two length octets.
        let t = Message::new(kind::TEST, true, vec![7; 200]);
        let wire = t.encode();
        assert_eq!(&wire[..3], &[0x23, 0x90, 0x03]);
        assert_eq!(Message::parse(&wire).unwrap(), t);
        assert_eq!(Message::parse(&[]), None);
    }
}
