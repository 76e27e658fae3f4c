//! Radio frames: data from the network reaches the module in the radio's frames, so what
//! a server writes in two segments a fraction of a millisecond apart lands in one frame
//! and one receive event (`+CHTTPS: RECV EVENT`, `+CIPRXGET: 1,<len>`, `RECV FROM`), and
//! a read after that event returns both. A client that reads once per event relies on it.
//!
//! A job's payload bytes that arrive while no port is online with it wait one frame, as
//! the network holds downlink data for the next transmission time interval; what arrives
//! for the job meanwhile goes in the same frame, and every event of that job behind them
//! waits too, in order. (A frame opens with the first byte rather than on a fixed grid:
//! segments a server writes within a frame time of each other always share an event.) Online data (a transparent link, a
//! data call) is a byte stream the DTE reads as it comes: it is not held. The frame time
//! follows the access technology in use (the profile's, or a network preset's): 20 ms on
//! GSM/EDGE (a GPRS radio block), 10 ms on UMTS (the WCDMA TTI, the SIM5360's own), 2 ms on
//! HSPA, 1 ms on LTE. What arrives beyond [`FRAME_MAX`] within one frame goes at once, so
//! a fast link keeps its throughput; the only cost is that frame of latency. A command line
//! from the DTE ends the frames early: a read returns everything received by then.

use super::Modem;
use crate::job::{JobEvent, JobId};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// Bytes held for one job within one frame before they go at once.
pub const FRAME_MAX: usize = 64 * 1024;

/// The frame time for an access technology (27.007 `<AcT>`).
pub fn frame_time(act: u8) -> Duration {
    match act {
        0 | 1 | 3 => Duration::from_millis(20),
        4..=6 => Duration::from_millis(2),
        7..=9 => Duration::from_millis(1),
        _ => Duration::from_millis(10),
    }
}

/// What waits for the end of a frame, per job.
#[derive(Debug, Default)]
pub(super) struct Frames {
    held: BTreeMap<JobId, Held>,
}

#[derive(Debug)]
struct Held {
    due: Instant,
    events: VecDeque<JobEvent>,
    bytes: usize,
}

impl Frames {
    /// The earliest end of a frame something waits for.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.held.values().map(|h| h.due).min()
    }

    /// The payload bytes held for job `id`.
    pub(super) fn held_bytes(&self, id: JobId) -> usize {
        self.held.get(&id).map_or(0, |h| h.bytes)
    }

    pub(super) fn clear(&mut self) {
        self.held.clear();
    }
}

impl Modem {
    /// The frame time in force (see the module docs).
    fn radio_frame(&self) -> Duration {
        frame_time(self.ctx.profile.act)
    }

    /// An event from job `id`: held for the end of the radio frame when it is payload
    /// for a job no port is online with (or when the job already has events held), else
    /// handled now.
    pub fn handle_job_event(&mut self, id: JobId, ev: JobEvent, now: Instant) {
        self.ctx.now = now;
        if let Some(h) = self.frames.held.get_mut(&id) {
            push(h, ev);
            if h.bytes >= FRAME_MAX {
                self.flush_frame(id);
            }
            return;
        }
        let online = self.ports.iter().any(|p| p.online_job() == Some(id));
        if let JobEvent::Data(d) = &ev
            && !online
            && self.ctx.jobs.has_sink(id)
        {
            let due = now + self.radio_frame();
            let bytes = d.len();
            self.frames.held.insert(id, Held { due, events: VecDeque::from([ev]), bytes });
            if bytes >= FRAME_MAX {
                self.flush_frame(id);
            }
            return;
        }
        self.deliver_job_event(id, ev);
    }

    /// Everything held for job `id`, in order, now.
    pub(super) fn flush_frame(&mut self, id: JobId) {
        let Some(h) = self.frames.held.remove(&id) else { return };
        for ev in h.events {
            self.deliver_job_event(id, ev);
        }
    }

    /// Every frame now, in the order they would end: a command about to run reads all
    /// that was received by then (its events come first, as the frame had ended).
    pub(super) fn flush_all_frames(&mut self) {
        if let Some(end) = self.frames.held.values().map(|h| h.due).max() {
            self.flush_due_frames(end);
        }
    }

    /// The frames that ended by `now`, in the order they end.
    pub(super) fn flush_due_frames(&mut self, now: Instant) {
        loop {
            let due =
                self.frames.held.iter().filter(|(_, h)| h.due <= now).min_by_key(|(_, h)| h.due).map(|(id, _)| *id);
            let Some(id) = due else { return };
            self.flush_frame(id);
        }
    }

    /// When the next radio frame ends with data held for it (transcripts deliver a
    /// scripted job's data there).
    #[doc(hidden)]
    pub fn next_radio_frame(&self) -> Option<Instant> {
        self.frames.next_due()
    }
}

/// Queue `ev` behind what is held; payload joins payload held last (one event a frame).
fn push(h: &mut Held, ev: JobEvent) {
    if let JobEvent::Data(d) = ev {
        h.bytes += d.len();
        if let Some(JobEvent::Data(last)) = h.events.back_mut() {
            last.extend_from_slice(&d);
        } else {
            h.events.push_back(JobEvent::Data(d));
        }
    } else {
        h.events.push_back(ev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_times_and_payload_joining() {
        assert_eq!(frame_time(2), Duration::from_millis(10));
        let t0 = Instant::now();
        let mut h = Held { due: t0, events: VecDeque::new(), bytes: 0 };
        push(&mut h, JobEvent::Data(b"HTTP/1.1 200 OK\r\n\r\n".to_vec()));
        push(&mut h, JobEvent::Data(b"body".to_vec()));
        push(&mut h, JobEvent::ReadyForInput);
        push(&mut h, JobEvent::Data(b"more".to_vec()));
        assert_eq!(h.events.len(), 3);
        assert!(matches!(&h.events[0], JobEvent::Data(d) if d == b"HTTP/1.1 200 OK\r\n\r\nbody"));
        assert_eq!(h.bytes, 27);
        assert_eq!(
            (frame_time(0), frame_time(6), frame_time(7)),
            (Duration::from_millis(20), Duration::from_millis(2), Duration::from_millis(1))
        );
    }
}
