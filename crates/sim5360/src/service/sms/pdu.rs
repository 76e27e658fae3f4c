//! SMS PDUs (3GPP TS 23.040) and the GSM 7-bit default alphabet (TS 23.038): pure encoding
//! and decoding of SMS-SUBMIT, SMS-DELIVER and SMS-STATUS-REPORT, addresses, time stamps and
//! user data with its header (concatenation).
//!
//! Written here rather than taken from a crate: the crates on the registry decode only, or
//! do not encode status reports, and the module needs the user data kept byte for byte
//! (a SUBMIT's user data becomes a DELIVER's unchanged, so packing and fill bits survive),
//! which a text-level API loses.

use std::fmt::Write as _;

/// Why a PDU could not be taken apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    #[error("PDU ends early, at octet {0}")]
    Short(usize),
    #[error("not a hex string")]
    Hex,
    #[error("message type {0} is not the one expected")]
    Type(u8),
    #[error("address of {0} digits is too long")]
    Address(usize),
    #[error("user data length {0} does not fit the message")]
    UserData(usize),
}

// ---------------------------------------------------------------------------------------
// GSM 7-bit default alphabet and its extension table (TS 23.038 §6.2.1).

const ESC7: u8 = 0x1B;

#[rustfmt::skip]
const BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å',
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1b}', 'Æ', 'æ', 'ß', 'É',
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/',
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?',
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
];

const EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{c}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// The septets of `c` (one, or ESC and one for the extension table), if it has any.
pub fn gsm7_char(c: char) -> Option<(u8, Option<u8>)> {
    if c != '\u{1b}'
        && let Some(i) = BASIC.iter().position(|b| *b == c)
    {
        return Some((i as u8, None));
    }
    EXTENSION.iter().find(|(_, e)| *e == c).map(|(s, _)| (ESC7, Some(*s)))
}

/// `text` as septets, or the first character the alphabet lacks.
pub fn gsm7_encode(text: &str) -> Result<Vec<u8>, char> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        let (a, b) = gsm7_char(c).ok_or(c)?;
        out.push(a);
        out.extend(b);
    }
    Ok(out)
}

/// `text` as septets, each character the alphabet lacks replaced by `?`.
pub fn gsm7_encode_lossy(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        let (a, b) = gsm7_char(c).unwrap_or((0x3F, None));
        out.push(a);
        out.extend(b);
    }
    out
}

/// Septets as text. An escape with an unknown follower shows the follower from the basic
/// table (TS 23.038: "the receiving entity shall display the character of the default
/// alphabet"); a trailing lone escape shows as a space.
pub fn gsm7_decode(septets: &[u8]) -> String {
    let mut out = String::with_capacity(septets.len());
    let mut it = septets.iter().map(|s| s & 0x7F);
    while let Some(s) = it.next() {
        if s == ESC7 {
            match it.next() {
                Some(n) => out.push(EXTENSION.iter().find(|(e, _)| *e == n).map_or(BASIC[n as usize], |(_, c)| *c)),
                None => out.push(' '),
            }
        } else {
            out.push(BASIC[s as usize]);
        }
    }
    out
}

/// Pack septets into octets, after `fill` zero bits (0-6) that align them after a header.
pub fn pack7(septets: &[u8], fill: u32) -> Vec<u8> {
    let bits = fill as usize + septets.len() * 7;
    let mut out = vec![0u8; bits.div_ceil(8)];
    for (i, s) in septets.iter().enumerate() {
        let pos = fill as usize + i * 7;
        let v = u16::from(s & 0x7F) << (pos % 8);
        out[pos / 8] |= v as u8;
        if v > 0xFF {
            out[pos / 8 + 1] |= (v >> 8) as u8;
        }
    }
    out
}

/// Unpack `count` septets from `octets`, skipping `fill` bits first; stops early at the
/// end of the octets.
pub fn unpack7(octets: &[u8], count: usize, fill: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let pos = fill as usize + i * 7;
        let Some(lo) = octets.get(pos / 8) else { break };
        let hi = octets.get(pos / 8 + 1).copied().unwrap_or(0);
        let v = (u16::from(*lo) | (u16::from(hi) << 8)) >> (pos % 8);
        if pos % 8 > 1 && pos / 8 + 1 >= octets.len() {
            break;
        }
        out.push((v & 0x7F) as u8);
    }
    out
}

// ---------------------------------------------------------------------------------------
// Hex, as the AT interface carries PDUs.

/// Upper-case hex.
pub fn to_hex(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len() * 2);
    for b in data {
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// Octets from hex digits (either case); odd length or another character is an error.
pub fn from_hex(s: &[u8]) -> Result<Vec<u8>, PduError> {
    if !s.len().is_multiple_of(2) {
        return Err(PduError::Hex);
    }
    s.chunks(2)
        .map(|p| {
            let d = |c: u8| (c as char).to_digit(16).ok_or(PduError::Hex);
            Ok((d(p[0])? * 16 + d(p[1])?) as u8)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Addresses.

/// Type of address: international (`+`), and alphanumeric senders.
pub const TOA_INTERNATIONAL: u8 = 0x91;
pub const TOA_UNKNOWN: u8 = 0x81;
pub const TOA_ALPHANUMERIC: u8 = 0xD0;

/// A phone number (or an alphanumeric sender) with its type of address.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Address {
    /// Digits (and `*#abc`), with a leading `+` when the type is international; the text
    /// of an alphanumeric address.
    pub number: String,
    pub toa: u8,
}

impl Address {
    /// A number as the DTE writes it: `+` makes it international (145), else 129.
    pub fn parse(number: &str) -> Self {
        match number.strip_prefix('+') {
            Some(_) => Self { number: number.to_owned(), toa: TOA_INTERNATIONAL },
            None => Self { number: number.to_owned(), toa: TOA_UNKNOWN },
        }
    }

    /// A number with an explicit type (`AT+CMGS="<da>",<toda>`): 145 adds the `+`.
    pub fn with_type(number: &str, toa: u8) -> Self {
        let digits = number.trim_start_matches('+');
        if toa & 0x70 == 0x10 {
            Self { number: format!("+{digits}"), toa }
        } else {
            Self { number: digits.into(), toa }
        }
    }

    /// The digits without `+`.
    pub fn digits(&self) -> &str {
        self.number.trim_start_matches('+')
    }

    fn is_alpha(&self) -> bool {
        self.toa & 0x70 == 0x50
    }

    /// The address field of a TPDU: length in semi-octets, type, digits.
    fn encode(&self, out: &mut Vec<u8>) {
        if self.is_alpha() {
            let septets = gsm7_encode_lossy(&self.number);
            let packed = pack7(&septets, 0);
            out.push(((septets.len() * 7).div_ceil(4)).min(255) as u8);
            out.push(self.toa);
            out.extend(packed);
            return;
        }
        let digits = self.digits().as_bytes();
        out.push(digits.len().min(255) as u8);
        out.push(self.toa);
        out.extend(semi_octets(digits));
    }

    /// The SMSC field: length in octets (0 for none), type, digits.
    pub fn encode_smsc(sca: Option<&Address>, out: &mut Vec<u8>) {
        match sca {
            Some(a) if !a.digits().is_empty() => {
                let bcd = semi_octets(a.digits().as_bytes());
                out.push(bcd.len() as u8 + 1);
                out.push(a.toa);
                out.extend(bcd);
            }
            _ => out.push(0),
        }
    }
}

fn digit_nibble(d: u8) -> u8 {
    match d {
        b'0'..=b'9' => d - b'0',
        b'*' => 0xA,
        b'#' => 0xB,
        b'a' | b'A' => 0xC,
        b'b' | b'B' => 0xD,
        b'c' | b'C' => 0xE,
        _ => 0xF,
    }
}

fn nibble_digit(n: u8) -> Option<char> {
    match n {
        0..=9 => Some((b'0' + n) as char),
        0xA => Some('*'),
        0xB => Some('#'),
        0xC => Some('a'),
        0xD => Some('b'),
        0xE => Some('c'),
        _ => None,
    }
}

fn semi_octets(digits: &[u8]) -> Vec<u8> {
    digits.chunks(2).map(|p| digit_nibble(p[0]) | (p.get(1).map_or(0xF, |d| digit_nibble(*d)) << 4)).collect()
}

fn bcd_digits(octets: &[u8], count: usize) -> String {
    let mut s = String::with_capacity(count);
    for b in octets {
        for n in [b & 0xF, b >> 4] {
            if s.len() < count
                && let Some(c) = nibble_digit(n)
            {
                s.push(c);
            }
        }
    }
    s
}

// ---------------------------------------------------------------------------------------
// Time stamps.

/// A service-centre time stamp: local time and its offset from UTC in quarter hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Scts {
    pub year: u8,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub tz_quarters: i8,
}

impl Scts {
    pub fn from_time(t: chrono::DateTime<chrono::FixedOffset>) -> Self {
        use chrono::{Datelike, Timelike};
        Self {
            year: (t.year().rem_euclid(100)) as u8,
            month: t.month() as u8,
            day: t.day() as u8,
            hour: t.hour() as u8,
            minute: t.minute() as u8,
            second: t.second() as u8,
            tz_quarters: (t.offset().local_minus_utc() / 900).clamp(-79, 79) as i8,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let sw = |v: u8| ((v % 10) << 4) | ((v / 10) % 10);
        for v in [self.year, self.month, self.day, self.hour, self.minute, self.second] {
            out.push(sw(v));
        }
        let q = self.tz_quarters.unsigned_abs().min(79);
        let mut tz = sw(q);
        if self.tz_quarters < 0 {
            tz |= 0x08;
        }
        out.push(tz);
    }

    fn decode(b: &[u8]) -> Self {
        let sw = |v: u8| (v & 0xF).min(9) * 10 + (v >> 4).min(9);
        let q = ((b[6] & 0x7) * 10 + (b[6] >> 4).min(9)) as i8;
        Self {
            year: sw(b[0]),
            month: sw(b[1]),
            day: sw(b[2]),
            hour: sw(b[3]),
            minute: sw(b[4]),
            second: sw(b[5]),
            tz_quarters: if b[6] & 0x08 != 0 { -q } else { q },
        }
    }

    /// Text-mode form: `yy/MM/dd,hh:mm:ss±zz`.
    pub fn text(&self) -> String {
        format!(
            "{:02}/{:02}/{:02},{:02}:{:02}:{:02}{}{:02}",
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            if self.tz_quarters < 0 { '-' } else { '+' },
            self.tz_quarters.unsigned_abs()
        )
    }
}

// ---------------------------------------------------------------------------------------
// Data coding scheme and user data.

/// How user data is coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    Gsm7,
    Eight,
    Ucs2,
}

/// The alphabet a data coding scheme names (TS 23.038 §4). Reserved groups count as 8-bit,
/// so their data is passed through untouched.
pub fn alphabet(dcs: u8) -> Alphabet {
    let by_bits = |d: u8| match (d >> 2) & 3 {
        1 => Alphabet::Eight,
        2 => Alphabet::Ucs2,
        _ => Alphabet::Gsm7,
    };
    match dcs >> 4 {
        0x0..=0x7 if dcs & 0x20 != 0 => Alphabet::Eight, // compressed: opaque
        0x0..=0x7 => by_bits(dcs),
        0xC | 0xD => Alphabet::Gsm7,
        0xE => Alphabet::Ucs2,
        0xF if dcs & 0x04 != 0 => Alphabet::Eight,
        0xF => Alphabet::Gsm7,
        _ => Alphabet::Eight,
    }
}

/// The message class a data coding scheme gives (0-3), if any.
pub fn class(dcs: u8) -> Option<u8> {
    match dcs >> 4 {
        0x0..=0x7 if dcs & 0x10 != 0 => Some(dcs & 3),
        0xF => Some(dcs & 3),
        _ => None,
    }
}

/// User data as carried: its length field (septets for 7-bit, else octets) and its octets,
/// header included.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserData {
    pub udl: u8,
    pub raw: Vec<u8>,
}

/// User data taken apart: the header's information elements (without the length octet)
/// and the body, as septet codes (7-bit) or octets (8-bit, UCS2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decoded {
    pub header: Vec<u8>,
    pub body: Vec<u8>,
}

/// Concatenation information of a user data header: reference, parts, this part (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Concat {
    pub reference: u16,
    pub parts: u8,
    pub part: u8,
}

/// Most octets of user data in one message.
pub const MAX_UD: usize = 140;

impl UserData {
    /// 7-bit user data: `header` (information elements, may be empty) then `septets`.
    pub fn gsm7(septets: &[u8], header: &[u8]) -> Result<Self, PduError> {
        let (mut raw, hdr_bits) = Self::header_octets(header);
        let fill = (7 - hdr_bits % 7) % 7;
        let hdr_septets = (hdr_bits + fill) / 7;
        let total = hdr_septets + septets.len();
        if total > MAX_UD * 8 / 7 {
            return Err(PduError::UserData(total));
        }
        let packed = pack7(septets, fill as u32);
        raw.extend(packed);
        Ok(Self { udl: total as u8, raw })
    }

    /// 8-bit or UCS2 user data: `header` then `body` octets.
    pub fn octets(body: &[u8], header: &[u8]) -> Result<Self, PduError> {
        let (mut raw, _) = Self::header_octets(header);
        raw.extend_from_slice(body);
        if raw.len() > MAX_UD {
            return Err(PduError::UserData(raw.len()));
        }
        Ok(Self { udl: raw.len() as u8, raw })
    }

    fn header_octets(header: &[u8]) -> (Vec<u8>, usize) {
        if header.is_empty() {
            return (Vec::new(), 0);
        }
        let mut raw = Vec::with_capacity(header.len() + 1 + MAX_UD);
        raw.push(header.len().min(255) as u8);
        raw.extend_from_slice(header);
        let bits = raw.len() * 8;
        (raw, bits)
    }

    /// Take the user data apart; `udhi` says whether a header leads it.
    pub fn decode(&self, dcs: u8, udhi: bool) -> Decoded {
        let (header, hdr_len) = match (udhi, self.raw.first()) {
            (true, Some(&l)) => {
                let end = (1 + l as usize).min(self.raw.len());
                (self.raw[1..end].to_vec(), end)
            }
            _ => (Vec::new(), 0),
        };
        let body = match alphabet(dcs) {
            Alphabet::Gsm7 => {
                let hdr_bits = hdr_len * 8;
                let fill = (7 - hdr_bits % 7) % 7;
                let skip = (hdr_bits + fill) / 7;
                let count = (self.udl as usize).saturating_sub(skip);
                unpack7(&self.raw[hdr_len.min(self.raw.len())..], count, fill as u32)
            }
            _ => self.raw[hdr_len.min(self.raw.len())..].to_vec(),
        };
        Decoded { header, body }
    }

    /// The user data field's octets: its length and data.
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.udl);
        out.extend_from_slice(&self.raw);
    }

    /// Octets the user data occupies, from its length field.
    fn octets_for(udl: u8, dcs: u8) -> usize {
        match alphabet(dcs) {
            Alphabet::Gsm7 => (udl as usize * 7).div_ceil(8),
            _ => udl as usize,
        }
    }
}

impl Decoded {
    /// The body as text: 7-bit through the GSM alphabet, UCS2 as UTF-16 (unpaired
    /// surrogates replaced), 8-bit as Latin-1.
    pub fn text(&self, dcs: u8) -> String {
        match alphabet(dcs) {
            Alphabet::Gsm7 => gsm7_decode(&self.body),
            Alphabet::Ucs2 => ucs2_decode(&self.body),
            Alphabet::Eight => self.body.iter().map(|b| *b as char).collect(),
        }
    }

    /// Concatenation information, if the header has any (IEI 0 or 8).
    pub fn concat(&self) -> Option<Concat> {
        let mut h = &self.header[..];
        while h.len() >= 2 {
            let (iei, len) = (h[0], h[1] as usize);
            let Some(data) = h.get(2..2 + len) else { break };
            match (iei, data) {
                (0x00, [r, n, i]) => return Some(Concat { reference: u16::from(*r), parts: *n, part: *i }),
                (0x08, [r1, r2, n, i]) => {
                    return Some(Concat { reference: u16::from_be_bytes([*r1, *r2]), parts: *n, part: *i });
                }
                _ => {}
            }
            h = &h[2 + len..];
        }
        None
    }
}

/// UTF-16BE octets as text.
pub fn ucs2_decode(octets: &[u8]) -> String {
    let units = octets.chunks_exact(2).map(|p| u16::from_be_bytes([p[0], p[1]]));
    char::decode_utf16(units).map(|c| c.unwrap_or('\u{FFFD}')).collect()
}

/// Text as UTF-16BE octets.
pub fn ucs2_encode(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// A concatenation header (8-bit reference).
pub fn concat_header(c: Concat) -> Vec<u8> {
    vec![0x00, 0x03, c.reference as u8, c.parts, c.part]
}

// ---------------------------------------------------------------------------------------
// TPDUs.

/// First-octet bits.
pub const MTI_MASK: u8 = 0x03;
pub const MTI_DELIVER: u8 = 0x00;
pub const MTI_SUBMIT: u8 = 0x01;
pub const MTI_STATUS: u8 = 0x02;
/// Status report requested (SUBMIT) / indicated (DELIVER): bit 5.
pub const SRR: u8 = 0x20;
/// A user data header leads the user data: bit 6.
pub const UDHI: u8 = 0x40;
/// More messages to send (DELIVER: bit 2 clear means more).
pub const MMS: u8 = 0x04;

/// An SMS-SUBMIT (mobile originated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submit {
    pub fo: u8,
    pub mr: u8,
    pub da: Address,
    pub pid: u8,
    pub dcs: u8,
    /// The validity period field as carried (0, 1 or 7 octets, per VPF).
    pub vp: Vec<u8>,
    pub ud: UserData,
}

/// An SMS-DELIVER (mobile terminated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deliver {
    pub fo: u8,
    pub oa: Address,
    pub pid: u8,
    pub dcs: u8,
    pub scts: Scts,
    pub ud: UserData,
}

/// An SMS-STATUS-REPORT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    pub fo: u8,
    pub mr: u8,
    pub ra: Address,
    pub scts: Scts,
    pub dt: Scts,
    pub st: u8,
}

/// Any of the three.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tpdu {
    Submit(Submit),
    Deliver(Deliver),
    Status(StatusReport),
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PduError> {
        let s = self.data.get(self.pos..self.pos + n).ok_or(PduError::Short(self.data.len()))?;
        self.pos += n;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, PduError> {
        Ok(self.take(1)?[0])
    }

    fn address(&mut self) -> Result<Address, PduError> {
        let len = self.byte()? as usize;
        let toa = self.byte()?;
        if len > 20 {
            return Err(PduError::Address(len));
        }
        let octets = self.take(len.div_ceil(2))?;
        if toa & 0x70 == 0x50 {
            let text = gsm7_decode(&unpack7(octets, len * 4 / 7, 0));
            return Ok(Address { number: text, toa });
        }
        let digits = bcd_digits(octets, len);
        let number = if toa & 0x70 == 0x10 { format!("+{digits}") } else { digits };
        Ok(Address { number, toa })
    }

    fn scts(&mut self) -> Result<Scts, PduError> {
        Ok(Scts::decode(self.take(7)?))
    }

    fn user_data(&mut self, dcs: u8) -> Result<UserData, PduError> {
        let udl = self.byte()?;
        let n = UserData::octets_for(udl, dcs);
        if n > MAX_UD {
            return Err(PduError::UserData(udl as usize));
        }
        let raw = self.take(n)?.to_vec();
        Ok(UserData { udl, raw })
    }

    /// Octets left after the user data its length declared: ignored, as networks and
    /// modules do (node-pdu, under serialport-gsm, declares a concatenated part's length
    /// one septet short); the message is what the declared length says.
    fn end(&self) {
        let extra = self.data.len() - self.pos;
        if extra > 0 {
            tracing::debug!(extra, "octets after the declared user data ignored");
        }
    }
}

impl Tpdu {
    /// Decode a TPDU (no SMSC field). Extra octets after the user data (or a status
    /// report's optional parameters) are ignored: the declared lengths say what the
    /// message is. A PDU shorter than what it declares is refused.
    pub fn decode(data: &[u8]) -> Result<Self, PduError> {
        let mut r = Reader { data, pos: 0 };
        let fo = r.byte()?;
        match fo & MTI_MASK {
            MTI_SUBMIT => {
                let mr = r.byte()?;
                let da = r.address()?;
                let pid = r.byte()?;
                let dcs = r.byte()?;
                let vp = match (fo >> 3) & 3 {
                    0 => Vec::new(),
                    2 => r.take(1)?.to_vec(),
                    _ => r.take(7)?.to_vec(),
                };
                let ud = r.user_data(dcs)?;
                r.end();
                Ok(Tpdu::Submit(Submit { fo, mr, da, pid, dcs, vp, ud }))
            }
            MTI_DELIVER => {
                let oa = r.address()?;
                let pid = r.byte()?;
                let dcs = r.byte()?;
                let scts = r.scts()?;
                let ud = r.user_data(dcs)?;
                r.end();
                Ok(Tpdu::Deliver(Deliver { fo, oa, pid, dcs, scts, ud }))
            }
            MTI_STATUS => {
                let mr = r.byte()?;
                let ra = r.address()?;
                let scts = r.scts()?;
                let dt = r.scts()?;
                let st = r.byte()?;
                Ok(Tpdu::Status(StatusReport { fo, mr, ra, scts, dt, st }))
            }
            t => Err(PduError::Type(t)),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAX_UD + 40);
        match self {
            Tpdu::Submit(s) => {
                let mut fo = (s.fo & !MTI_MASK) | MTI_SUBMIT;
                fo = (fo & !0x18)
                    | match s.vp.len() {
                        0 => 0,
                        1 => 0x10,
                        _ => fo & 0x18 | 0x08,
                    };
                out.push(fo);
                out.push(s.mr);
                s.da.encode(&mut out);
                out.push(s.pid);
                out.push(s.dcs);
                out.extend_from_slice(&s.vp);
                s.ud.encode(&mut out);
            }
            Tpdu::Deliver(d) => {
                out.push(d.fo & !MTI_MASK);
                d.oa.encode(&mut out);
                out.push(d.pid);
                out.push(d.dcs);
                d.scts.encode(&mut out);
                d.ud.encode(&mut out);
            }
            Tpdu::Status(s) => {
                out.push((s.fo & !MTI_MASK) | MTI_STATUS);
                out.push(s.mr);
                s.ra.encode(&mut out);
                s.scts.encode(&mut out);
                s.dt.encode(&mut out);
                out.push(s.st);
            }
        }
        out
    }
}

/// A PDU as the DTE gives it to `AT+CMGS`/`AT+CMGW`: the SMSC field, then the TPDU.
/// Returns the SMSC address (None for `00`) and the TPDU octets.
pub fn split_smsc(pdu: &[u8]) -> Result<(Option<Address>, &[u8]), PduError> {
    let len = *pdu.first().ok_or(PduError::Short(0))? as usize;
    if len == 0 {
        return Ok((None, &pdu[1..]));
    }
    let field = pdu.get(1..1 + len).ok_or(PduError::Short(pdu.len()))?;
    let toa = field[0];
    let digits = bcd_digits(&field[1..], (len - 1) * 2);
    let number = if toa & 0x70 == 0x10 { format!("+{digits}") } else { digits };
    Ok((Some(Address { number, toa }), &pdu[1 + len..]))
}

/// The SMSC field and a TPDU, as the module shows a stored message in PDU mode.
pub fn with_smsc(sca: Option<&Address>, tpdu: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(tpdu.len() + 12);
    Address::encode_smsc(sca, &mut out);
    out.extend_from_slice(tpdu);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        from_hex(s.as_bytes()).unwrap()
    }

    /// A concatenated part as node-pdu (serialport-gsm) writes it: its user-data length one
    /// septet short of the octets that follow.
    fn part_declared_short() -> Vec<u8> {
        let ud = UserData::gsm7(&gsm7_encode("Hello world").unwrap(), &[0x00, 0x03, 0x2A, 0x02, 0x01]).unwrap();
        assert_eq!((ud.udl, ud.raw.len()), (18, 16));
        let da = Address { number: "+15551234567".into(), toa: 0x91 };
        let mut tpdu = Tpdu::Submit(Submit { fo: 0x41, mr: 0, da, pid: 0, dcs: 0, vp: Vec::new(), ud }).encode();
        // fo, mr, the address (length, type, 6 octets), pid, dcs: the UDL is octet 12.
        assert_eq!(tpdu[12], 18);
        tpdu[12] = 17;
        tpdu
    }

    #[test]
    fn octets_past_the_declared_user_data_are_ignored() {
        // 17 septets fill 15 octets: the 16th is extra, and the message is the declared 17
        // (the header's 7, then 10 of text).
        let Tpdu::Submit(s) = Tpdu::decode(&part_declared_short()).unwrap() else { panic!("not a SUBMIT") };
        assert_eq!((s.ud.udl, s.ud.raw.len()), (17, 15));
        let d = s.ud.decode(s.dcs, true);
        assert_eq!((d.text(0), d.header), ("Hello worl".to_owned(), vec![0x00, 0x03, 0x2A, 0x02, 0x01]));
    }

    #[test]
    fn a_pdu_shorter_than_it_declares_is_still_refused() {
        let mut tpdu = part_declared_short();
        tpdu.truncate(tpdu.len() - 2);
        assert!(matches!(Tpdu::decode(&tpdu), Err(PduError::Short(_))));
        let mut tpdu = part_declared_short();
        tpdu[12] = 40;
        assert!(matches!(Tpdu::decode(&tpdu), Err(PduError::Short(_))));
    }

    #[test]
    fn hellohello_packs_as_in_ts_23_038() {
        let septets = gsm7_encode("hellohello").unwrap();
        assert_eq!(to_hex(&pack7(&septets, 0)), "E8329BFD4697D9EC37");
        assert_eq!(gsm7_decode(&unpack7(&hex("E8329BFD4697D9EC37"), 10, 0)), "hellohello");
    }

    #[test]
    fn eight_septets_fill_seven_octets() {
        // "12345678": the eighth septet sits in the top bits of the seventh octet.
        let p = pack7(&gsm7_encode("12345678").unwrap(), 0);
        assert_eq!(to_hex(&p), "31D98C56B3DD70");
        assert_eq!(gsm7_decode(&unpack7(&p, 8, 0)), "12345678");
    }

    #[test]
    fn extension_table_and_specials() {
        let s = gsm7_encode("€[]{}~^|\\ @£$Δ").unwrap();
        assert_eq!(&s[..2], &[0x1B, 0x65]);
        assert_eq!(gsm7_decode(&s), "€[]{}~^|\\ @£$Δ");
        assert_eq!(gsm7_encode("a😀"), Err('😀'));
        assert_eq!(gsm7_decode(&[0x1B]), " ");
    }

    #[test]
    fn deliver_of_the_classic_example() {
        // SMSC +27381000015, sender 27838890001 (type C8), "hellohello" (dreamfabric's
        // PDU tutorial, widely reused by the libraries' tests).
        let pdu = hex("07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37");
        let (sca, tpdu) = split_smsc(&pdu).unwrap();
        assert_eq!(sca.unwrap().number, "+27381000015");
        let Tpdu::Deliver(d) = Tpdu::decode(tpdu).unwrap() else { panic!("not a deliver") };
        assert_eq!(d.oa, Address { number: "27838890001".into(), toa: 0xC8 });
        assert_eq!(d.scts.text(), "99/03/29,15:16:59+08");
        assert_eq!(d.ud.decode(d.dcs, false).text(d.dcs), "hellohello");
        assert_eq!(Tpdu::Deliver(d).encode(), tpdu);
    }

    #[test]
    fn deliver_test_of_smspdudecoder() {
        let pdu = hex("07916407058099F9040B916407950303F100008921222140140004D4E2940A");
        let (sca, tpdu) = split_smsc(&pdu).unwrap();
        assert_eq!(sca.unwrap().number, "+46705008999");
        let Tpdu::Deliver(d) = Tpdu::decode(tpdu).unwrap() else { panic!("not a deliver") };
        assert_eq!(d.oa.number, "+46705930301");
        assert_eq!(d.scts.text(), "98/12/22,12:04:41+00");
        assert_eq!(d.ud.decode(d.dcs, false).text(d.dcs), "TEST");
    }

    #[test]
    fn submit_of_the_classic_example() {
        // To +46708251358, relative validity AA (4 days), "hellohello".
        let tpdu = hex("11000B916407281553F80000AA0AE8329BFD4697D9EC37");
        let Tpdu::Submit(s) = Tpdu::decode(&tpdu).unwrap() else { panic!("not a submit") };
        assert_eq!(s.da.number, "+46708251358");
        assert_eq!(s.vp, vec![0xAA]);
        assert_eq!(s.ud.decode(s.dcs, false).text(s.dcs), "hellohello");
        assert_eq!(Tpdu::Submit(s).encode(), tpdu);
    }

    #[test]
    fn what_python_gsmmodem_and_gammu_encode() {
        // python-gsmmodem's encodeSmsSubmitPdu("+15555550100", "Hello", reference=0,
        // requestStatusReport=True): SMSC 00, SRR, no validity period.
        let pdu = hex("0021000B915155550501F0000005C8329BFD06");
        let (sca, tpdu) = split_smsc(&pdu).unwrap();
        assert_eq!(sca, None);
        let Tpdu::Submit(s) = Tpdu::decode(tpdu).unwrap() else { panic!("not a submit") };
        assert_eq!((s.fo & SRR, s.da.number.as_str(), s.vp.len()), (SRR, "+15555550100", 0));
        assert_eq!(s.ud.decode(s.dcs, false).text(s.dcs), "Hello");
        // gammu 1.42's savesms: the SMSC copied in, the sender "Gammu" alphanumeric,
        // relative validity FF.
        let pdu = hex("07915155550500F011000AD0C770BB5D070000FF0BD3B0BD4C0685CFE1B41B");
        let (sca, tpdu) = split_smsc(&pdu).unwrap();
        assert_eq!(sca.unwrap().number, "+15555550000");
        let Tpdu::Submit(s) = Tpdu::decode(tpdu).unwrap() else { panic!("not a submit") };
        assert_eq!(s.da, Address { number: "Gammu".into(), toa: TOA_ALPHANUMERIC });
        assert_eq!(s.ud.decode(s.dcs, false).text(s.dcs), "Saved again");
        // gammu counts the alphanumeric address in whole octets (10 semi-octets for five
        // septets); this codec counts the useful ones (9), as TS 23.040 words it. Both
        // decode alike.
        let again = Tpdu::Submit(s.clone()).encode();
        assert_eq!(again[2], 9);
        assert_eq!(Tpdu::decode(&again).unwrap(), Tpdu::Submit(s));
    }

    #[test]
    fn concatenated_7bit_with_fill_bits() {
        let c = Concat { reference: 0x42, parts: 2, part: 1 };
        let text = "a".repeat(153);
        let ud = UserData::gsm7(&gsm7_encode(&text).unwrap(), &concat_header(c)).unwrap();
        assert_eq!(ud.udl, 160);
        assert_eq!(ud.raw.len(), 140);
        assert_eq!(&ud.raw[..6], &[5, 0, 3, 0x42, 2, 1]);
        let d = ud.decode(0, true);
        assert_eq!(d.concat(), Some(c));
        assert_eq!(d.text(0), text);
        assert!(UserData::gsm7(&gsm7_encode(&"a".repeat(154)).unwrap(), &concat_header(c)).is_err());
    }

    #[test]
    fn ucs2_with_emoji_and_16bit_reference() {
        let ud = UserData::octets(&ucs2_encode("Grüße 😀"), &[0x08, 0x04, 0x12, 0x34, 3, 2]).unwrap();
        let d = ud.decode(0x08, true);
        assert_eq!(d.text(0x08), "Grüße 😀");
        assert_eq!(d.concat(), Some(Concat { reference: 0x1234, parts: 3, part: 2 }));
    }

    #[test]
    fn status_report_round_trip() {
        let sr = StatusReport {
            fo: 0x06,
            mr: 7,
            ra: Address::parse("+15555550100"),
            scts: Scts { year: 26, month: 1, day: 2, hour: 3, minute: 4, second: 5, tz_quarters: -20 },
            dt: Scts { year: 26, month: 1, day: 2, hour: 3, minute: 4, second: 9, tz_quarters: 4 },
            st: 0,
        };
        let raw = Tpdu::Status(sr.clone()).encode();
        assert_eq!(to_hex(&raw[..3]), "06070B");
        assert_eq!(Tpdu::decode(&raw).unwrap(), Tpdu::Status(sr.clone()));
        assert_eq!(sr.scts.text(), "26/01/02,03:04:05-20");
    }

    #[test]
    fn alphanumeric_sender() {
        let a = Address { number: "Bank".into(), toa: TOA_ALPHANUMERIC };
        let mut out = Vec::new();
        a.encode(&mut out);
        let mut r = Reader { data: &out, pos: 0 };
        assert_eq!(r.address().unwrap(), a);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert_eq!(from_hex(b"0"), Err(PduError::Hex));
        assert_eq!(from_hex(b"zz"), Err(PduError::Hex));
        assert!(Tpdu::decode(&hex("11000B916407281553F80000AA0AE8")).is_err());
        // One octet past the declared user data is taken as declared (see above).
        assert!(Tpdu::decode(&hex("11000B916407281553F80000AA01E8FF")).is_ok());
        assert!(Tpdu::decode(&[0x03]).is_err());
        assert!(split_smsc(&[0x07, 0x91]).is_err());
    }

    #[test]
    fn dcs_groups() {
        assert_eq!(alphabet(0x00), Alphabet::Gsm7);
        assert_eq!(alphabet(0x04), Alphabet::Eight);
        assert_eq!(alphabet(0x08), Alphabet::Ucs2);
        assert_eq!(alphabet(0x18), Alphabet::Ucs2);
        assert_eq!(alphabet(0xF0), Alphabet::Gsm7);
        assert_eq!(alphabet(0xF4), Alphabet::Eight);
        assert_eq!(class(0x10), Some(0));
        assert_eq!(class(0xF2), Some(2));
        assert_eq!(class(0x00), None);
    }

    proptest::proptest! {
        #[test]
        fn random_messages_round_trip(
            text in "[ -_a-~äöüÄÖÜ€£@]{0,120}",
            number in "[0-9]{1,15}",
            intl: bool,
            mr: u8,
            with_header: bool,
        ) {
            let septets = gsm7_encode(&text).unwrap();
            let header = if with_header { concat_header(Concat { reference: mr.into(), parts: 2, part: 1 }) } else { Vec::new() };
            let ud = UserData::gsm7(&septets, &header).unwrap();
            let da = Address::parse(&if intl { format!("+{number}") } else { number.clone() });
            let fo = if with_header { UDHI | MTI_SUBMIT } else { MTI_SUBMIT };
            let s = Submit { fo: fo | 0x10, mr, da, pid: 0, dcs: 0, vp: vec![0xA7], ud };
            let raw = Tpdu::Submit(s.clone()).encode();
            let back = Tpdu::decode(&raw).unwrap();
            proptest::prop_assert_eq!(&back, &Tpdu::Submit(s.clone()));
            let d = s.ud.decode(0, with_header);
            proptest::prop_assert_eq!(d.text(0), text);
        }

        #[test]
        fn ucs2_round_trips(text in "\\PC{0,35}") {
            // At most 35 characters of 4 octets (outside the BMP): every one fits in 140.
            let body = ucs2_encode(&text);
            let ud = UserData::octets(&body, &[]);
            proptest::prop_assert!(ud.is_ok(), "{} octets refused", body.len());
            proptest::prop_assert_eq!(ud.unwrap().decode(8, false).text(8), text);
        }

        #[test]
        fn ucs2_too_long_is_refused(text in "[\\u{4e00}-\\u{9fff}]{71,100}") {
            // 71 or more BMP characters are over 140 octets.
            proptest::prop_assert!(UserData::octets(&ucs2_encode(&text), &[]).is_err());
        }

        #[test]
        fn decode_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = split_smsc(&data);
            if let Ok(t) = Tpdu::decode(&data) {
                let again = t.encode();
                proptest::prop_assert!(Tpdu::decode(&again).is_ok());
            }
        }
    }
}
