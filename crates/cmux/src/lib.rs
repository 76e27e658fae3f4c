//! 3GPP TS 27.010 (the GSM multiplexer), basic option, as a cellular module runs it for
//! the DTE that asked for it with `AT+CMUX`: the module's side.
//!
//! Written here, not taken from a crate: the 27.010 crates on crates.io are the host's
//! side for embedded targets (they open channels on a module); none answers as a module
//! does (UA/DM, its MSC, close-down, NSC). Everything is sans-IO: bytes in, events and
//! bytes out, so it is tested byte for byte against a real SIM5360's frames and fuzzed.
//!
//! - [`frame`]: frames, the FCS, a de-framer that resynchronises on flags and counts
//!   what it drops.
//! - [`control`]: the control channel's messages (PN, MSC, CLD, TEST, FCon/FCoff, NSC).
//! - [`Mux`]: DLCI 0 and the data channels, the module's answers.
//! - [`describe`], [`TraceDecoder`]: one line per frame for traces.

pub mod control;
pub mod frame;
mod mux;

pub use control::Message;
pub use frame::{Counters, Deframer, FLAG, Frame, Kind};
pub use mux::{ChannelStats, Config, Event, Mux};

/// One line for a trace: `SABM dlci=1 P`, `UIH dlci=2 len=12`, `UIH dlci=0 MSC cmd
/// dlci=1 v24=0x8d`.
pub fn describe(f: &Frame) -> String {
    let pf = if f.pf { " P" } else { "" };
    match f.kind {
        Kind::Uih | Kind::Ui if f.dlci == 0 => match Message::parse(&f.info) {
            Some(m) => format!("{} dlci=0 {}", f.kind.name(), m.describe()),
            None => format!("{} dlci=0 len=0", f.kind.name()),
        },
        Kind::Uih | Kind::Ui => format!("{} dlci={} len={}{pf}", f.kind.name(), f.dlci, f.info.len()),
        k => format!("{} dlci={}{pf}", k.name(), f.dlci),
    }
}

/// What a trace shows of a multiplexed byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceItem {
    /// One frame, described.
    Frame(String),
    /// A data frame's information, for the channel's own trace lines.
    Data(u8, Vec<u8>),
}

/// Frames and channel data from a multiplexed byte stream in any cut, for traces; bad
/// frames are reported as a count.
#[derive(Debug)]
pub struct TraceDecoder {
    deframer: Deframer,
    reported: Counters,
}

impl Default for TraceDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl TraceDecoder {
    pub fn new() -> Self {
        Self { deframer: Deframer::new(32 * 1024), reported: Counters::default() }
    }

    pub fn feed(&mut self, data: &[u8]) -> Vec<TraceItem> {
        let mut items = Vec::new();
        self.deframer.feed(data, |f| {
            items.push(TraceItem::Frame(describe(&f)));
            if f.dlci != 0 && matches!(f.kind, Kind::Uih | Kind::Ui) && !f.info.is_empty() {
                items.push(TraceItem::Data(f.dlci, f.info));
            }
        });
        let c = self.deframer.counters;
        let bad = |c: Counters| c.bad_fcs + c.too_long + c.bad_frames;
        let new_bad = bad(c) - bad(self.reported);
        let new_garbage = c.garbage - self.reported.garbage;
        if new_bad > 0 {
            items.push(TraceItem::Frame(format!("{new_bad} bad frame(s) dropped")));
        }
        if new_garbage > 0 {
            items.push(TraceItem::Frame(format!("{new_garbage} byte(s) outside frames")));
        }
        self.reported = c;
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_lines() {
        let mut t = TraceDecoder::new();
        let mut wire = Frame::bare(1, true, true, Kind::Sabm).to_bytes();
        wire.extend(Frame { dlci: 2, cr: false, pf: true, kind: Kind::Uih, info: b"AT\r".to_vec() }.to_bytes());
        wire.extend(
            Frame { dlci: 0, cr: false, pf: false, kind: Kind::Uih, info: vec![0xE3, 0x05, 0x07, 0x8D] }.to_bytes(),
        );
        wire.extend(b"junk");
        let items = t.feed(&wire);
        assert_eq!(
            items,
            [
                TraceItem::Frame("SABM dlci=1 P".into()),
                TraceItem::Frame("UIH dlci=2 len=3 P".into()),
                TraceItem::Data(2, b"AT\r".to_vec()),
                TraceItem::Frame("UIH dlci=0 MSC cmd dlci=1 v24=0x8d".into()),
                TraceItem::Frame("4 byte(s) outside frames".into()),
            ]
        );
    }
}
