//! HDLC-like framing on an asynchronous line (RFC 1662 §4): each frame between `0x7E`
//! flags, `0x7D` escaping a flag, an escape and every control character the peer's ACCM
//! names, and a 16-bit FCS (RFC 1662 appendix C.2) before the closing flag.

/// The flag that starts and ends every frame.
pub const FLAG: u8 = 0x7E;
/// The escape: the next byte is XORed with [`XOR`].
pub const ESC: u8 = 0x7D;
pub const XOR: u8 = 0x20;
/// Largest frame payload (address, control, protocol, information) the deframer keeps;
/// longer frames are dropped and counted. An MRU of 1500 plus headroom for peers that
/// negotiate more.
pub const MAX_FRAME: usize = 4096;

/// FCS-16 (RFC 1662 appendix C.2) is CRC-16/IBM-SDLC (X.25): reflected polynomial 0x1021,
/// initial 0xFFFF, complemented. The `crc` crate's slice-by-16 tables keep it off the
/// profile of a bulk transfer.
const FCS16: crc::Crc<u16, crc::Table<16>> = crc::Crc::<u16, crc::Table<16>>::new(&crc::CRC_16_IBM_SDLC);

/// The FCS a frame of `data` carries (sent low byte first).
pub fn fcs(data: &[u8]) -> u16 {
    FCS16.checksum(data)
}

/// Whether `b` goes out escaped under `accm`.
fn needs_escape(b: u8, accm: u32) -> bool {
    b == FLAG || b == ESC || (b < 0x20 && accm & (1 << b) != 0)
}

/// Append one frame of `payload` to `out`: flag, payload and FCS escaped per `accm` (bit
/// `n` set: control character `n` is escaped; flags and escapes always are), flag. Runs
/// that need no escape are copied whole (an IP packet at ACCM 0 has a few escapes in
/// 1500 bytes).
pub fn encode(payload: &[u8], accm: u32, out: &mut Vec<u8>) {
    let fcs = fcs(payload);
    out.reserve(payload.len() + payload.len() / 8 + 6);
    out.push(FLAG);
    let next = |rest: &[u8]| {
        if accm == 0 { memchr::memchr2(FLAG, ESC, rest) } else { rest.iter().position(|&b| needs_escape(b, accm)) }
    };
    let escaped = |data: &[u8], out: &mut Vec<u8>| {
        let mut rest = data;
        while let Some(i) = next(rest) {
            out.extend_from_slice(&rest[..i]);
            out.extend_from_slice(&[ESC, rest[i] ^ XOR]);
            rest = &rest[i + 1..];
        }
        out.extend_from_slice(rest);
    };
    escaped(payload, out);
    escaped(&fcs.to_le_bytes(), out);
    out.push(FLAG);
}

/// What the deframer found besides good frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames whose FCS was wrong.
    pub bad_fcs: u64,
    /// Frames longer than [`MAX_FRAME`], or too short to hold an FCS.
    pub bad_length: u64,
    /// Frames aborted by `0x7D 0x7E`.
    pub aborted: u64,
}

/// Turns a byte stream into frame payloads (FCS checked and removed); control characters
/// arrive escaped or not. Received liberally: a first frame whose opening flag is missing
/// (a sender that shares flags between frames from its very first) is taken too; bytes
/// that are no frame fail the FCS and are counted.
#[derive(Debug, Clone)]
pub struct Deframer {
    buf: Vec<u8>,
    escaped: bool,
    too_long: bool,
    pub counters: Counters,
}

impl Default for Deframer {
    fn default() -> Self {
        Self::new()
    }
}

impl Deframer {
    pub fn new() -> Self {
        Self { buf: Vec::new(), escaped: false, too_long: false, counters: Counters::default() }
    }

    /// No frame in progress: nothing since the last flag.
    pub fn idle(&self) -> bool {
        self.buf.is_empty() && !self.escaped
    }

    /// Feed `data`; every complete good frame's payload goes to `frame`. Runs of plain
    /// bytes are copied whole.
    pub fn feed(&mut self, mut data: &[u8], mut frame: impl FnMut(&[u8])) {
        while let Some((&b, rest)) = data.split_first() {
            if b == FLAG {
                if self.escaped {
                    // 0x7D 0x7E aborts the frame.
                    self.counters.aborted += 1;
                } else if !self.buf.is_empty() {
                    self.finish(&mut frame);
                }
                self.buf.clear();
                self.escaped = false;
                self.too_long = false;
                data = rest;
                continue;
            }
            if b == ESC {
                self.escaped = true;
                data = rest;
                continue;
            }
            if std::mem::take(&mut self.escaped) {
                self.keep(&[b ^ XOR]);
                data = rest;
                continue;
            }
            let run = data.iter().position(|&c| c == FLAG || c == ESC).unwrap_or(data.len());
            self.keep(&data[..run]);
            data = &data[run..];
        }
    }

    /// Bytes of the frame in progress, up to the longest frame kept.
    fn keep(&mut self, bytes: &[u8]) {
        let room = (MAX_FRAME + 2).saturating_sub(self.buf.len());
        if bytes.len() > room {
            self.too_long = true;
        }
        self.buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn finish(&mut self, frame: &mut impl FnMut(&[u8])) {
        if self.too_long || self.buf.len() < 3 {
            self.counters.bad_length += 1;
            return;
        }
        let n = self.buf.len() - 2;
        if fcs(&self.buf[..n]).to_le_bytes() != self.buf[n..] {
            self.counters.bad_fcs += 1;
            return;
        }
        frame(&self.buf[..n]);
    }
}

/// A frame payload's protocol and information, with the address and control fields
/// (`FF 03`) removed if present and a compressed (one-byte) protocol field expanded.
pub fn split(payload: &[u8]) -> Option<(u16, &[u8])> {
    let p = payload.strip_prefix(&[0xFF, 0x03]).unwrap_or(payload);
    let first = *p.first()?;
    if first & 1 == 1 {
        // A protocol number's low byte is odd, its high byte even: an odd first byte is a
        // compressed field.
        return Some((u16::from(first), &p[1..]));
    }
    let second = *p.get(1)?;
    Some((u16::from_be_bytes([first, second]), &p[2..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fcs_of_rfc1662_check_value() {
        // The well-known CRC-16/X-25 check value of "123456789".
        assert_eq!(fcs(b"123456789"), 0x906E);
        // The residue over a frame followed by its own FCS is RFC 1662 C.2's good FCS
        // (0xF0B8 before the complement).
        let data = b"\xff\x03\xc0\x21\x01\x01\x00\x04";
        let mut with = data.to_vec();
        with.extend_from_slice(&fcs(data).to_le_bytes());
        assert_eq!(!fcs(&with), 0xF0B8);
        // A frame with a wrong FCS is dropped and counted.
        let mut wire = Vec::new();
        encode(data, 0, &mut wire);
        let last = wire.len() - 2;
        wire[last] ^= 1;
        let mut d = Deframer::new();
        let mut got = 0;
        d.feed(&wire, |_| got += 1);
        assert_eq!((got, d.counters.bad_fcs), (0, 1));
    }

    #[test]
    fn lwips_first_frame_decodes() {
        // lwIP's first LCP ConfReq as it goes out after CONNECT (every control byte
        // escaped): FF 03 C0 21 01 01 00 14 02 06 00 00 00 00 05 06 ...
        let mut out = Vec::new();
        let payload = [
            0xFF, 0x03, 0xC0, 0x21, 0x01, 0x01, 0x00, 0x14, 0x02, 0x06, 0, 0, 0, 0, 0x05, 0x06, 0xE2, 0x8F, 0x68, 0xA6,
            0x07, 0x02, 0x08, 0x02,
        ];
        encode(&payload, 0xFFFF_FFFF, &mut out);
        assert_eq!(&out[..5], &[0x7E, 0xFF, 0x7D, 0x23, 0xC0]);
        let mut got = Vec::new();
        let mut d = Deframer::new();
        d.feed(&out, |f| got.push(f.to_vec()));
        assert_eq!(got, [payload.to_vec()]);
        assert_eq!(split(&got[0]), Some((0xC021, &payload[4..])));
    }

    #[test]
    fn unescaped_control_bytes_garbage_and_bad_frames() {
        // esp_modem's mode probe: a raw LCP Echo-Request with no escaping at all.
        let probe = [0x7E, 0xFF, 0x03, 0xC0, 0x21, 0x09, 0x01, 0x00, 0x08, 0x99, 0xD1, 0x35, 0xC1, 0x8E, 0x2C, 0x7E];
        let mut d = Deframer::new();
        let mut got = Vec::new();
        d.feed(b"AT\r\ngarbage", |f| got.push(f.to_vec()));
        d.feed(&probe, |f| got.push(f.to_vec()));
        // The garbage before the first flag is one bad frame.
        assert_eq!((got.len(), d.counters.bad_fcs), (1, 1));
        d.counters = Counters::default();
        assert_eq!(split(&got[0]).map(|(p, _)| p), Some(0xC021));
        // A corrupted frame is counted, not delivered; the next one is.
        let mut bad = probe;
        bad[9] ^= 1;
        d.feed(&bad, |f| got.push(f.to_vec()));
        d.feed(&probe, |f| got.push(f.to_vec()));
        assert_eq!((got.len(), d.counters.bad_fcs), (2, 1));
        // Flags in a row are empty frames, ignored.
        d.feed(&[0x7E, 0x7E, 0x7E], |f| got.push(f.to_vec()));
        assert_eq!(got.len(), 2);
        // Too long.
        let mut long = vec![0x7E];
        long.extend(std::iter::repeat_n(0x41, MAX_FRAME + 10));
        long.push(0x7E);
        d.feed(&long, |f| got.push(f.to_vec()));
        assert_eq!((got.len(), d.counters.bad_length), (2, 1));
    }

    #[test]
    fn a_first_frame_without_its_opening_flag_is_taken() {
        let mut stream = Vec::new();
        encode(&[0xFF, 0x03, 0xC0, 0x21, 1, 1, 0, 4], 0xFFFF_FFFF, &mut stream);
        let mut got = Vec::new();
        Deframer::new().feed(&stream[1..], |f| got.push(f.to_vec()));
        assert_eq!(got, [vec![0xFF, 0x03, 0xC0, 0x21, 1, 1, 0, 4]]);
    }

    #[test]
    fn any_split_of_the_stream_gives_the_same_frames() {
        let mut stream = Vec::new();
        for i in 0..5u8 {
            encode(&[0xFF, 0x03, 0x00, 0x21, i, 0x7E, 0x7D, 0x11, i], 0x000A_0000, &mut stream);
        }
        let mut whole = Vec::new();
        Deframer::new().feed(&stream, |f| whole.push(f.to_vec()));
        assert_eq!(whole.len(), 5);
        for cut in 0..stream.len() {
            let mut d = Deframer::new();
            let mut parts = Vec::new();
            d.feed(&stream[..cut], |f| parts.push(f.to_vec()));
            d.feed(&stream[cut..], |f| parts.push(f.to_vec()));
            assert_eq!(parts, whole, "cut at {cut}");
        }
    }

    #[test]
    fn compressed_fields() {
        assert_eq!(split(&[0x21, 0x45]), Some((0x0021, &[0x45][..])));
        assert_eq!(split(&[0xFF, 0x03, 0x80, 0x21, 1]), Some((0x8021, &[1][..])));
        assert_eq!(split(&[0xFF, 0x03]), None);
        assert_eq!(split(&[0x80]), None);
    }
}
