//! 27.010 basic option frames (§5.2): `F9 | address | control | length | information |
//! FCS | F9`. The address is `DLCI << 2 | C/R << 1 | EA`; the length one octet
//! (`L << 1 | 1`) up to 127, else two (`L << 1` with EA 0, then `L >> 7`); the FCS is
//! `0xFF - CRC-8` (reflected polynomial 0xE0, initial 0xFF) over the address, control and
//! length octets, and over the information too for frames other than UIH and UI (§5.2.1.6).

/// The flag that opens and closes every basic-option frame.
pub const FLAG: u8 = 0xF9;
/// The P/F bit of the control octet.
pub const PF: u8 = 0x10;

/// The frame types of the basic option (§5.2.1.3), the P/F bit aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Set Asynchronous Balanced Mode: open a DLCI.
    Sabm,
    /// Unnumbered Acknowledgement.
    Ua,
    /// Disconnected Mode: the DLCI is not open (a refused SABM).
    Dm,
    /// Disconnect: close a DLCI.
    Disc,
    /// Unnumbered Information with Header check: data, FCS over the header only.
    Uih,
    /// Unnumbered Information: data, FCS over the information too.
    Ui,
}

impl Kind {
    /// Its control octet with P/F clear.
    pub fn control(self) -> u8 {
        match self {
            Self::Sabm => 0x2F,
            Self::Ua => 0x63,
            Self::Dm => 0x0F,
            Self::Disc => 0x43,
            Self::Uih => 0xEF,
            Self::Ui => 0x03,
        }
    }

    /// The type of control octet `c` (P/F either way).
    pub fn from_control(c: u8) -> Option<Self> {
        Some(match c & !PF {
            0x2F => Self::Sabm,
            0x63 => Self::Ua,
            0x0F => Self::Dm,
            0x43 => Self::Disc,
            0xEF => Self::Uih,
            0x03 => Self::Ui,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sabm => "SABM",
            Self::Ua => "UA",
            Self::Dm => "DM",
            Self::Disc => "DISC",
            Self::Uih => "UIH",
            Self::Ui => "UI",
        }
    }

    /// Whether the FCS covers the header only: UIH's does ("with header check",
    /// §5.2.1.6); every other type's covers the information too.
    fn header_only_fcs(self) -> bool {
        self == Self::Uih
    }
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub dlci: u8,
    /// The address octet's C/R bit.
    pub cr: bool,
    /// The control octet's P/F bit.
    pub pf: bool,
    pub kind: Kind,
    pub info: Vec<u8>,
}

/// The 27.010 FCS is CRC-8/ROHC (reflected polynomial 0x07, initial 0xFF) complemented.
const CRC8: crc::Crc<u8> = crc::Crc::<u8>::new(&crc::CRC_8_ROHC);

/// The FCS octet over `bytes`.
pub fn fcs(bytes: &[u8]) -> u8 {
    !CRC8.checksum(bytes)
}

impl Frame {
    /// A frame with no information field.
    pub fn bare(dlci: u8, cr: bool, pf: bool, kind: Kind) -> Self {
        Self { dlci, cr, pf, kind, info: Vec::new() }
    }

    /// The address octet.
    pub fn address(&self) -> u8 {
        (self.dlci << 2) | (u8::from(self.cr) << 1) | 1
    }

    /// The control octet.
    pub fn control(&self) -> u8 {
        self.kind.control() | if self.pf { PF } else { 0 }
    }

    /// Append the frame, both flags included, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let len = self.info.len();
        let mut header = vec![self.address(), self.control()];
        if len <= 127 {
            header.push(((len as u8) << 1) | 1);
        } else {
            header.push(((len & 0x7F) as u8) << 1);
            header.push((len >> 7) as u8);
        }
        let fcs = if self.kind.header_only_fcs() {
            fcs(&header)
        } else {
            let mut all = header.clone();
            all.extend_from_slice(&self.info);
            fcs(&all)
        };
        out.reserve(len + header.len() + 3);
        out.push(FLAG);
        out.extend_from_slice(&header);
        out.extend_from_slice(&self.info);
        out.push(fcs);
        out.push(FLAG);
    }

    /// The frame as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }
}

/// What the de-framer met besides good frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames whose FCS was wrong.
    pub bad_fcs: u64,
    /// Frames longer than the largest the de-framer takes.
    pub too_long: u64,
    /// Frames with an unknown control octet, or no closing flag.
    pub bad_frames: u64,
    /// Bytes outside any frame (between a closing flag and the next opening one; an
    /// "address" whose EA bit is 0 is no frame's).
    pub garbage: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Looking for a flag.
    Hunt,
    /// After a flag: an address, or more flags.
    Address,
    Control,
    Length,
    /// The second length octet.
    Length2,
    Info,
    Fcs,
    /// After the FCS: the closing flag.
    Close,
}

/// A basic-option de-framer: bytes in any cut, frames out. A frame longer than `max_info`
/// octets of information, with a bad FCS or without its closing flag is dropped and
/// counted; the next flag resynchronises.
#[derive(Debug, Clone)]
pub struct Deframer {
    max_info: usize,
    state: State,
    header: Vec<u8>,
    len: usize,
    info: Vec<u8>,
    fcs_ok: bool,
    pub counters: Counters,
}

impl Deframer {
    pub fn new(max_info: usize) -> Self {
        Self {
            max_info,
            state: State::Hunt,
            header: Vec::with_capacity(4),
            len: 0,
            info: Vec::new(),
            fcs_ok: false,
            counters: Counters::default(),
        }
    }

    /// The largest information field taken.
    pub fn set_max_info(&mut self, max_info: usize) {
        self.max_info = max_info;
    }

    /// Between frames: nothing of one is held.
    pub fn idle(&self) -> bool {
        matches!(self.state, State::Hunt | State::Address)
    }

    /// Feed `data`; every good frame goes to `frame`.
    pub fn feed(&mut self, mut data: &[u8], mut frame: impl FnMut(Frame)) {
        while let Some((&b, rest)) = data.split_first() {
            match self.state {
                State::Hunt => {
                    // Skip to the next flag at once.
                    match rest.iter().position(|&c| c == FLAG) {
                        _ if b == FLAG => {
                            self.state = State::Address;
                            data = rest;
                        }
                        Some(i) => {
                            self.counters.garbage += 1 + i as u64;
                            self.state = State::Address;
                            data = &rest[i + 1..];
                        }
                        None => {
                            self.counters.garbage += data.len() as u64;
                            data = &[];
                        }
                    }
                    continue;
                }
                State::Address => {
                    if b != FLAG {
                        if b & 1 == 0 {
                            // EA 0: no 27.010 address (esp_modem rejects these too):
                            // bytes outside frames until the next flag.
                            self.counters.garbage += 1;
                            self.state = State::Hunt;
                        } else {
                            self.header.clear();
                            self.header.push(b);
                            self.state = State::Control;
                        }
                    }
                }
                State::Control => {
                    self.header.push(b);
                    self.state = State::Length;
                }
                State::Length => {
                    self.header.push(b);
                    if b & 1 == 1 {
                        self.start_info(usize::from(b >> 1));
                    } else {
                        self.len = usize::from(b >> 1);
                        self.state = State::Length2;
                    }
                }
                State::Length2 => {
                    self.header.push(b);
                    self.start_info(self.len | (usize::from(b) << 7));
                }
                State::Info => {
                    let take = (self.len - self.info.len()).min(data.len());
                    self.info.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if self.info.len() == self.len {
                        self.state = State::Fcs;
                    }
                    continue;
                }
                State::Fcs => {
                    let header_only = Kind::from_control(self.header[1]).is_some_and(|k| k.header_only_fcs());
                    let want = if header_only {
                        fcs(&self.header)
                    } else {
                        let mut all = self.header.clone();
                        all.extend_from_slice(&self.info);
                        fcs(&all)
                    };
                    self.fcs_ok = want == b;
                    self.state = State::Close;
                }
                State::Close => {
                    if b == FLAG {
                        self.deliver(&mut frame);
                        // A closing flag may open the next frame.
                        self.state = State::Address;
                    } else {
                        self.counters.bad_frames += 1;
                        self.state = State::Hunt;
                        // This byte may itself be garbage before the next flag.
                        continue;
                    }
                }
            }
            data = rest;
        }
    }

    fn start_info(&mut self, len: usize) {
        if len > self.max_info {
            self.counters.too_long += 1;
            self.state = State::Hunt;
            return;
        }
        self.len = len;
        self.info.clear();
        self.state = if len == 0 { State::Fcs } else { State::Info };
    }

    fn deliver(&mut self, frame: &mut impl FnMut(Frame)) {
        if !self.fcs_ok {
            self.counters.bad_fcs += 1;
            return;
        }
        let (addr, ctl) = (self.header[0], self.header[1]);
        let Some(kind) = Kind::from_control(ctl) else {
            self.counters.bad_frames += 1;
            return;
        };
        frame(Frame {
            dlci: addr >> 2,
            cr: addr & 2 != 0,
            pf: ctl & PF != 0,
            kind,
            info: std::mem::take(&mut self.info),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
    }

    fn frames(bytes: &[u8]) -> (Vec<Frame>, Counters) {
        let mut d = Deframer::new(1500);
        let mut got = Vec::new();
        d.feed(bytes, |f| got.push(f));
        (got, d.counters)
    }

    #[test]
    fn a_real_sim5360s_frames() {
        // Captured from a SIM5360 (OVMS mailing list): SABMs, UAs, and "AT"/"\r\nOK\r\n"
        // as UIH on DLCI 3.
        for (wire, want) in [
            ("f9 03 3f 01 1c f9", Frame::bare(0, true, true, Kind::Sabm)),
            ("f9 03 73 01 d7 f9", Frame::bare(0, true, true, Kind::Ua)),
            ("f9 07 3f 01 de f9", Frame::bare(1, true, true, Kind::Sabm)),
            ("f9 07 73 01 15 f9", Frame::bare(1, true, true, Kind::Ua)),
            ("f9 0b 3f 01 59 f9", Frame::bare(2, true, true, Kind::Sabm)),
            ("f9 0b 73 01 92 f9", Frame::bare(2, true, true, Kind::Ua)),
            ("f9 0f 3f 01 9b f9", Frame::bare(3, true, true, Kind::Sabm)),
            ("f9 0f 73 01 50 f9", Frame::bare(3, true, true, Kind::Ua)),
            ("f9 0d ff 05 41 54 01 f9", Frame { dlci: 3, cr: false, pf: true, kind: Kind::Uih, info: b"AT".to_vec() }),
            (
                "f9 0d ff 0d 0d 0a 4f 4b 0d 0a 0f f9",
                Frame { dlci: 3, cr: false, pf: true, kind: Kind::Uih, info: b"\r\nOK\r\n".to_vec() },
            ),
            // A DM for DLCI 5 and esp_modem's CLD and its answer.
            ("f9 17 1f 01 7e f9", Frame::bare(5, true, true, Kind::Dm)),
            (
                "f9 03 ef 05 c3 01 f2 f9",
                Frame { dlci: 0, cr: true, pf: false, kind: Kind::Uih, info: vec![0xC3, 0x01] },
            ),
            (
                "f9 03 ef 05 c1 01 f2 f9",
                Frame { dlci: 0, cr: true, pf: false, kind: Kind::Uih, info: vec![0xC1, 0x01] },
            ),
        ] {
            let bytes = hex(wire);
            assert_eq!(want.to_bytes(), bytes, "{wire}");
            let (got, c) = frames(&bytes);
            assert_eq!((got, c), (vec![want], Counters::default()), "{wire}");
        }
    }

    #[test]
    fn two_octet_lengths_and_long_frames() {
        let f = Frame { dlci: 1, cr: false, pf: true, kind: Kind::Uih, info: vec![0x55; 300] };
        let wire = f.to_bytes();
        // 300 = 0b1_0010_1100: first octet (300 & 0x7F) << 1 with EA 0, then 300 >> 7.
        assert_eq!(&wire[3..5], &[0x58, 0x02]);
        assert_eq!(frames(&wire).0, vec![f.clone()]);
        let mut d = Deframer::new(127);
        let mut got = 0;
        d.feed(&wire, |_| got += 1);
        assert_eq!((got, d.counters.too_long), (0, 1));
        // What follows is taken once a flag comes round.
        let next = Frame::bare(0, true, true, Kind::Sabm).to_bytes();
        d.feed(&next, |_| got += 1);
        assert_eq!(got, 1);
    }

    #[test]
    fn garbage_bad_fcs_shared_and_repeated_flags() {
        let a = Frame { dlci: 1, cr: true, pf: false, kind: Kind::Uih, info: b"AT\r".to_vec() }.to_bytes();
        let b = Frame { dlci: 2, cr: true, pf: false, kind: Kind::Uih, info: b"ATI\r".to_vec() }.to_bytes();
        // Garbage first; a shared flag between a and b; flags in a row; a frame whose
        // FCS is wrong; then a good one.
        let mut wire = b"\r\nOK\r\n".to_vec();
        wire.extend_from_slice(&a);
        wire.extend_from_slice(&b[1..]);
        wire.extend_from_slice(&[FLAG, FLAG, FLAG]);
        let mut bad = a.clone();
        let n = bad.len();
        bad[n - 2] ^= 0x55;
        wire.extend_from_slice(&bad);
        wire.extend_from_slice(&b);
        let (got, c) = frames(&wire);
        let dlcis: Vec<u8> = got.iter().map(|f| f.dlci).collect();
        assert_eq!(dlcis, [1, 2, 2]);
        assert_eq!((c.garbage, c.bad_fcs), (6, 1));
        // Any cut of the stream gives the same frames.
        for cut in 1..wire.len() {
            let mut d = Deframer::new(1500);
            let mut again = Vec::new();
            d.feed(&wire[..cut], |f| again.push(f));
            d.feed(&wire[cut..], |f| again.push(f));
            assert_eq!(again, got, "cut at {cut}");
        }
    }

    #[test]
    fn frames_without_a_closing_flag_or_with_a_bad_address() {
        let mut wire = Frame::bare(1, true, true, Kind::Sabm).to_bytes();
        wire.pop();
        wire.push(0x00);
        wire.extend_from_slice(&[FLAG, 0x02, 0x3F, 0x01, 0x00, FLAG]);
        let (got, c) = frames(&wire);
        assert!(got.is_empty());
        assert_eq!((c.bad_frames, c.garbage), (1, 5));
    }
}
