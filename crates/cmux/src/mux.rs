//! The module's side of a basic-option multiplexer: DLCI 0 (the control channel) and data
//! channels 1..=N, as a SIM5360 answers them (27.010 §5.4; the frames of a real SIM5360 in
//! `frame.rs`'s tests).
//!
//! - SABM on DLCI 0 or a channel: UA with the command's address and P/F; a channel also
//!   gets one MSC from the module (its V.24 signals with DV set: carrier, which Linux's
//!   n_gsm waits for). SABM on a DLCI past N: DM.
//! - DISC on an open channel: UA, the channel closes; on a closed one: DM; on DLCI 0: UA
//!   and close-down.
//! - UIH/UI on an open channel: its data; on a closed one: dropped and counted.
//! - DLCI 0 commands: CLD → its response, then close-down; MSC → the response, and the
//!   channel's DTR (RTC) and flow control (FC) as the DTE signals them; FCon/FCoff → the
//!   response, output on every channel on or off; TEST → the same value back; PN → the
//!   response with the frame size the module takes; anything else → NSC. Responses from
//!   the DTE (to the module's MSC) are taken silently.
//! - Data for the DTE goes out as UIH with C/R 0 and P/F 1 (control `0xFF`), at most
//!   `send_max` octets a frame, as the SIM5360 sends it.

use crate::control::{Message, kind, v24};
use crate::frame::{Counters, Deframer, Frame, Kind};
use std::collections::VecDeque;

/// What the module's multiplexer is set to (from `AT+CMUX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Data channels: DLCI 1..=channels.
    pub channels: u8,
    /// Most information octets in a frame the module sends.
    pub send_max: usize,
    /// Most information octets in a frame the module takes; longer ones are dropped.
    pub recv_max: usize,
}

/// What the DTE did, for the module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A channel was opened (SABM).
    Opened(u8),
    /// A channel was closed (DISC).
    Closed(u8),
    /// Data on a channel.
    Data(u8, Vec<u8>),
    /// The DTE's DTR (the RTC bit of an MSC) on a channel changed.
    Dtr { dlci: u8, on: bool },
    /// Close-down (CLD, or DISC on DLCI 0): the port is a plain AT port again once the
    /// output queued so far is out.
    CloseDown,
}

/// Counters of one DLCI.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelStats {
    pub frames_in: u64,
    pub frames_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Channel {
    open: bool,
    /// The DTE's DTR as its last MSC said (on until it says otherwise).
    dtr_off: bool,
    /// The DTE asked the module to hold this channel's output (MSC FC).
    held: bool,
    stats: ChannelStats,
}

/// See the module documentation.
#[derive(Debug)]
pub struct Mux {
    cfg: Config,
    deframer: Deframer,
    /// DLCI 0 and the channels.
    dlcis: Vec<Channel>,
    /// FCoff from the DTE: no data out on any channel.
    all_held: bool,
    /// Data for a DLCI that is not open, frames of other types the module ignores.
    pub dropped: u64,
    out: Vec<u8>,
    events: VecDeque<Event>,
    closed_down: bool,
}

impl Mux {
    pub fn new(cfg: Config) -> Self {
        Self {
            deframer: Deframer::new(cfg.recv_max),
            dlcis: vec![Channel::default(); usize::from(cfg.channels) + 1],
            cfg,
            all_held: false,
            dropped: 0,
            out: Vec::new(),
            events: VecDeque::new(),
            closed_down: false,
        }
    }

    pub fn config(&self) -> Config {
        self.cfg
    }

    /// The de-framer's counts (bad FCS, too long, bad frames, garbage).
    pub fn counters(&self) -> Counters {
        self.deframer.counters
    }

    /// Counters of DLCI `dlci` (0 is the control channel).
    pub fn stats(&self, dlci: u8) -> ChannelStats {
        self.dlcis.get(usize::from(dlci)).map(|c| c.stats).unwrap_or_default()
    }

    pub fn is_open(&self, dlci: u8) -> bool {
        self.dlcis.get(usize::from(dlci)).is_some_and(|c| c.open)
    }

    /// Whether data may go out on `dlci` now (open, and no flow control holds it).
    pub fn can_send(&self, dlci: u8) -> bool {
        dlci != 0 && !self.all_held && self.dlcis.get(usize::from(dlci)).is_some_and(|c| c.open && !c.held)
    }

    /// Whether the DTE holds all output (FCoff), or this channel's (MSC FC).
    pub fn held(&self, dlci: u8) -> bool {
        self.all_held || self.dlcis.get(usize::from(dlci)).is_some_and(|c| c.held)
    }

    /// Bytes from the DTE.
    pub fn input(&mut self, data: &[u8]) {
        if self.closed_down {
            return;
        }
        let mut frames = Vec::new();
        self.deframer.feed(data, |f| frames.push(f));
        for f in frames {
            self.frame(f);
            if self.closed_down {
                return;
            }
        }
    }

    /// Data for the DTE on channel `dlci`: UIH frames of at most `send_max` octets. Data
    /// for a channel that is not open is dropped (counted).
    pub fn send(&mut self, dlci: u8, data: &[u8]) {
        if !self.is_open(dlci) || dlci == 0 {
            self.dropped += 1;
            return;
        }
        for piece in data.chunks(self.cfg.send_max.max(1)) {
            let f = Frame { dlci, cr: false, pf: true, kind: Kind::Uih, info: piece.to_vec() };
            f.encode(&mut self.out);
            let s = &mut self.dlcis[usize::from(dlci)].stats;
            s.frames_out += 1;
            s.bytes_out += piece.len() as u64;
        }
    }

    /// Bytes for the DTE, everything queued.
    pub fn poll_output(&mut self) -> Option<Vec<u8>> {
        (!self.out.is_empty()).then(|| std::mem::take(&mut self.out))
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn emit(&mut self, f: Frame) {
        if let Some(c) = self.dlcis.get_mut(usize::from(f.dlci)) {
            c.stats.frames_out += 1;
            c.stats.bytes_out += f.info.len() as u64;
        }
        f.encode(&mut self.out);
    }

    /// A reply of the module on DLCI 0 (a UIH with the address the DTE used).
    fn control_reply(&mut self, cr: bool, m: &Message) {
        self.emit(Frame { dlci: 0, cr, pf: false, kind: Kind::Uih, info: m.encode() });
    }

    fn frame(&mut self, f: Frame) {
        let d = usize::from(f.dlci);
        if let Some(c) = self.dlcis.get_mut(d) {
            c.stats.frames_in += 1;
            c.stats.bytes_in += f.info.len() as u64;
        }
        match f.kind {
            Kind::Sabm => {
                if d >= self.dlcis.len() {
                    self.emit(Frame::bare(f.dlci, f.cr, true, Kind::Dm));
                    return;
                }
                self.emit(Frame::bare(f.dlci, f.cr, true, Kind::Ua));
                let was_open = std::mem::replace(&mut self.dlcis[d].open, true);
                if d > 0 && !was_open {
                    self.dlcis[d].dtr_off = false;
                    self.dlcis[d].held = false;
                    self.events.push_back(Event::Opened(f.dlci));
                    // The module's V.24 signals for the channel: ready, carrier.
                    let signals = 0x01 | v24::RTC | v24::RTR | v24::DV;
                    let m = Message::new(kind::MSC, true, vec![(f.dlci << 2) | 0x03, signals]);
                    self.emit(Frame { dlci: 0, cr: false, pf: false, kind: Kind::Uih, info: m.encode() });
                }
            }
            Kind::Disc => {
                if d == 0 {
                    self.emit(Frame::bare(0, f.cr, true, Kind::Ua));
                    self.close_down();
                } else if self.is_open(f.dlci) {
                    self.emit(Frame::bare(f.dlci, f.cr, true, Kind::Ua));
                    self.dlcis[d].open = false;
                    self.events.push_back(Event::Closed(f.dlci));
                } else {
                    self.emit(Frame::bare(f.dlci, f.cr, true, Kind::Dm));
                }
            }
            Kind::Uih | Kind::Ui if d == 0 => self.control(f),
            Kind::Uih | Kind::Ui => {
                if self.is_open(f.dlci) {
                    if !f.info.is_empty() {
                        self.events.push_back(Event::Data(f.dlci, f.info));
                    }
                } else {
                    self.dropped += 1;
                }
            }
            // The DTE answering the module (or confused): nothing to do.
            Kind::Ua | Kind::Dm => {}
        }
    }

    fn control(&mut self, f: Frame) {
        let Some(m) = Message::parse(&f.info) else { return };
        if !m.command {
            return;
        }
        match m.kind {
            kind::CLD => {
                self.control_reply(f.cr, &Message::new(kind::CLD, false, m.value));
                self.close_down();
            }
            kind::MSC => {
                self.control_reply(f.cr, &Message::new(kind::MSC, false, m.value.clone()));
                if let [addr, signals, ..] = m.value[..] {
                    let dlci = addr >> 2;
                    if let Some(c) = self.dlcis.get_mut(usize::from(dlci)).filter(|_| dlci > 0) {
                        c.held = signals & v24::FC != 0;
                        let off = signals & v24::RTC == 0;
                        if off != c.dtr_off {
                            c.dtr_off = off;
                            self.events.push_back(Event::Dtr { dlci, on: !off });
                        }
                    }
                }
            }
            kind::FCON | kind::FCOFF => {
                self.all_held = m.kind == kind::FCOFF;
                self.control_reply(f.cr, &Message::new(m.kind, false, m.value));
            }
            kind::TEST => self.control_reply(f.cr, &Message::new(kind::TEST, false, m.value)),
            kind::PN if m.value.len() >= 8 => {
                let mut v = m.value.clone();
                // UIH frames, and at most the frame size the module takes.
                v[1] &= 0x0F;
                let n1 = u16::from_le_bytes([v[4], v[5]]);
                let n1 = n1.min(u16::try_from(self.cfg.recv_max).unwrap_or(u16::MAX)).max(1);
                v[4..6].copy_from_slice(&n1.to_le_bytes());
                self.control_reply(f.cr, &Message::new(kind::PN, false, v));
            }
            _ => {
                let t = m.kind | 0x03;
                self.control_reply(f.cr, &Message::new(kind::NSC, false, vec![t]));
            }
        }
    }

    fn close_down(&mut self) {
        self.closed_down = true;
        for c in &mut self.dlcis {
            c.open = false;
        }
        self.events.push_back(Event::CloseDown);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mux() -> Mux {
        Mux::new(Config { channels: 4, send_max: 31, recv_max: 1500 })
    }

    fn out_frames(m: &mut Mux) -> Vec<Frame> {
        let mut d = Deframer::new(1500);
        let mut v = Vec::new();
        d.feed(&m.poll_output().unwrap_or_default(), |f| v.push(f));
        v
    }

    fn events(m: &mut Mux) -> Vec<Event> {
        std::iter::from_fn(|| m.poll_event()).collect()
    }

    #[test]
    fn esp_modems_opening_and_closing() {
        let mut m = mux();
        for d in 0..=2 {
            m.input(&Frame::bare(d, true, true, Kind::Sabm).to_bytes());
        }
        let got = out_frames(&mut m);
        // UA for 0, UA and an MSC for 1, UA and an MSC for 2.
        let kinds: Vec<(u8, Kind)> = got.iter().map(|f| (f.dlci, f.kind)).collect();
        assert_eq!(kinds, [(0, Kind::Ua), (1, Kind::Ua), (0, Kind::Uih), (2, Kind::Ua), (0, Kind::Uih)]);
        assert!(got[0].pf && got[0].cr);
        assert_eq!(got[2].info, [0xE3, 0x05, 0x07, 0x8D]);
        assert_eq!(events(&mut m), [Event::Opened(1), Event::Opened(2)]);
        // AT on channel 1 (esp_modem: C/R 0, control 0xEF); the answer as UIH 0xFF.
        m.input(&Frame { dlci: 1, cr: false, pf: false, kind: Kind::Uih, info: b"AT\r".to_vec() }.to_bytes());
        assert_eq!(events(&mut m), [Event::Data(1, b"AT\r".to_vec())]);
        m.send(1, b"\r\nOK\r\n");
        let f = out_frames(&mut m);
        assert_eq!(f[0].to_bytes()[1..3], [0x05, 0xFF]);
        // DISC 1, DISC 2, CLD.
        m.input(&Frame::bare(1, true, true, Kind::Disc).to_bytes());
        m.input(&Frame::bare(2, true, true, Kind::Disc).to_bytes());
        m.input(&[0xF9, 0x03, 0xEF, 0x05, 0xC3, 0x01, 0xF2, 0xF9]);
        let got = out_frames(&mut m);
        assert_eq!(got.last().unwrap().to_bytes(), [0xF9, 0x03, 0xEF, 0x05, 0xC1, 0x01, 0xF2, 0xF9]);
        assert_eq!(events(&mut m), [Event::Closed(1), Event::Closed(2), Event::CloseDown]);
    }

    #[test]
    fn refusals_control_commands_and_flow_control() {
        let mut m = mux();
        m.input(&Frame::bare(5, true, true, Kind::Sabm).to_bytes());
        assert_eq!(out_frames(&mut m)[0].to_bytes(), [0xF9, 0x17, 0x1F, 0x01, 0x7E, 0xF9]);
        m.input(&Frame::bare(3, true, true, Kind::Disc).to_bytes());
        assert_eq!(out_frames(&mut m)[0].kind, Kind::Dm);
        m.input(&Frame { dlci: 3, cr: true, pf: false, kind: Kind::Uih, info: b"AT\r".to_vec() }.to_bytes());
        assert_eq!(m.dropped, 1);
        let ctl = |info: Vec<u8>| Frame { dlci: 0, cr: true, pf: false, kind: Kind::Uih, info }.to_bytes();
        // TEST echoes; an unknown command gets NSC; PN is answered with the size taken.
        m.input(&ctl(Message::new(kind::TEST, true, b"ping".to_vec()).encode()));
        m.input(&ctl(Message::new(kind::RPN, true, vec![0x07]).encode()));
        m.input(&ctl(Message::new(kind::PN, true, vec![1, 0, 0, 10, 0xDC, 0x05 + 0x20, 3, 2]).encode()));
        let answers: Vec<Message> = out_frames(&mut m).iter().map(|f| Message::parse(&f.info).unwrap()).collect();
        assert_eq!(answers[0], Message::new(kind::TEST, false, b"ping".to_vec()));
        assert_eq!(answers[1], Message::new(kind::NSC, false, vec![0x93]));
        assert_eq!(u16::from_le_bytes([answers[2].value[4], answers[2].value[5]]), 1500);
        // FCoff holds every channel, MSC FC one; MSC without RTC is DTR off.
        m.input(&Frame::bare(1, true, true, Kind::Sabm).to_bytes());
        m.input(&Frame::bare(2, true, true, Kind::Sabm).to_bytes());
        let _ = out_frames(&mut m);
        assert!(m.can_send(1) && m.can_send(2));
        m.input(&ctl(Message::new(kind::FCOFF, true, vec![]).encode()));
        assert!(!m.can_send(1) && !m.can_send(2));
        m.input(&ctl(Message::new(kind::FCON, true, vec![]).encode()));
        m.input(&ctl(Message::new(kind::MSC, true, vec![(1 << 2) | 3, 0x01 | v24::FC | v24::RTC]).encode()));
        assert!(!m.can_send(1) && m.can_send(2));
        m.input(&ctl(Message::new(kind::MSC, true, vec![(2 << 2) | 3, 0x01]).encode()));
        let ev = events(&mut m);
        assert!(ev.contains(&Event::Dtr { dlci: 2, on: false }), "{ev:?}");
        // A frame larger than the module takes is dropped.
        let mut small = Mux::new(Config { channels: 4, send_max: 31, recv_max: 127 });
        small.input(&Frame::bare(1, true, true, Kind::Sabm).to_bytes());
        small.input(&Frame { dlci: 1, cr: true, pf: false, kind: Kind::Uih, info: vec![b'A'; 200] }.to_bytes());
        assert_eq!(small.counters().too_long, 1);
        // Output is cut at send_max.
        small.send(1, &[b'x'; 70]);
        let sizes: Vec<usize> = out_frames(&mut small).iter().filter(|f| f.dlci == 1).map(|f| f.info.len()).collect();
        assert_eq!(sizes, [0, 31, 31, 8]);
    }
}
