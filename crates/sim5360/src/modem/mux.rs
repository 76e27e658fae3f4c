//! The 27.010 multiplexer on the UART (`AT+CMUX`): after the line's `OK` the UART speaks
//! frames (crates/cmux, the module's side), and each of its channels, DLCI 1-4, is an AT
//! port of its own ([`PortRole::Mux`]) with its own line, settings and online data state,
//! sharing the module: a PPP call on one while the others answer AT. URCs go to the
//! channels as to any port (`AT+CATR=4..7` names one). A channel whose `AT+CMUXSRVPORT`
//! service is 5 carries the NMEA stream instead of AT.
//!
//! The channels' ports are added after the module's other ports at the first `AT+CMUX`
//! and stay (so no port's place changes under a line or a job), each taking input and
//! URCs only while its DLCI is open. The
//! UART's own line is not an AT port meanwhile: its bytes go to the de-framer and its
//! output is the channels' output in frames. Close-down (CLD, DISC on DLCI 0) ends the
//! calls on the channels and gives the UART back to AT; a restart does too.

use super::port::{Port, PortId, PortRole};
use super::{DataMode, Modem};
use std::time::Instant;

/// The multiplexer's data channels (DLCI 1-4), as the A76XX manual gives a SIMCom module
/// four virtual ports and OVMS opens four on a SIM5360.
pub const CHANNELS: u8 = 4;
/// The `AT+CMUXSRVPORT` service that makes a channel the NMEA stream.
pub const SERVICE_NMEA: u8 = 5;
/// Channel output is framed while less than this waits on the UART.
const UART_BACKLOG_MAX: usize = 16 * 1024;

/// `AT+CMUX`'s parameters (27.007 §5.7), as last set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MuxParams {
    pub mode: u8,
    pub subset: u8,
    /// `<port_speed>` 1-8 (9600 ... 921600; 5 is 115200).
    pub speed: u8,
    /// `<N1>`, the largest information field; `None` when not given.
    pub n1: Option<u16>,
    pub t1: u8,
    pub n2: u8,
    pub t2: u8,
    pub t3: u8,
    pub k: u8,
}

impl Default for MuxParams {
    /// 27.010's defaults for the basic option (N1 31, T1 100 ms, N2 3, T2 300 ms, T3 10 s,
    /// k 2) at 115200 bit/s.
    fn default() -> Self {
        Self { mode: 0, subset: 0, speed: 5, n1: None, t1: 10, n2: 3, t2: 30, t3: 10, k: 2 }
    }
}

impl MuxParams {
    /// Most information octets a frame of the module carries: N1 (31 when not given),
    /// never more than 127, so every frame has a one-octet length (ArduPilot parses no
    /// other; Zephyr sizes its buffer for 127).
    pub fn send_max(&self) -> usize {
        usize::from(self.n1.unwrap_or(31)).min(127)
    }

    /// Most information octets the module takes in a frame: N1 when given, else 1500:
    /// clients send 127-octet frames after a bare `AT+CMUX=0` (esp_modem, OVMS).
    pub fn recv_max(&self) -> usize {
        usize::from(self.n1.unwrap_or(1500))
    }
}

/// The multiplexer's settings and state as handlers see them (`Ctx::mux`).
#[derive(Debug, Clone, Default)]
pub struct MuxState {
    /// `AT+CMUX`'s values (`AT+CMUX?`).
    pub params: MuxParams,
    /// `AT+CMUXSRVPORT`'s service of each virtual port (0-3 = DLCI 1-4).
    pub services: [u8; CHANNELS as usize],
    /// An `AT+CMUX` whose line has not ended yet: the multiplexer starts after its `OK`.
    pub request: Option<MuxParams>,
    /// Whether the UART is multiplexed now.
    pub active: bool,
    /// Counters for the control channel's state report (refreshed before each action).
    pub status: Option<MuxStatus>,
}

/// The multiplexer for the state report.
#[derive(Debug, Clone)]
pub struct MuxStatus {
    pub send_max: usize,
    pub recv_max: usize,
    /// The DTE's FCoff holds every channel's output.
    pub held: bool,
    pub deframer: cmux::Counters,
    /// Frames for a DLCI that was not open.
    pub dropped: u64,
    pub control: cmux::ChannelStats,
    pub channels: Vec<ChannelStatus>,
}

/// One channel for the state report.
#[derive(Debug, Clone)]
pub struct ChannelStatus {
    pub dlci: u8,
    pub open: bool,
    pub nmea: bool,
    pub held: bool,
    pub data_mode: Option<DataMode>,
    pub stats: cmux::ChannelStats,
}

/// `data` cut after each LF that ends some text: `\r\n+CSQ: 21,99\r\n` and `\r\nOK\r\n`
/// stay whole, an echo `AT\r` goes with the answer's first line.
fn lines_of(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut text = false;
        let end = rest
            .iter()
            .position(|&b| {
                text |= b != b'\r' && b != b'\n';
                b == b'\n' && text
            })
            .map_or(rest.len(), |i| i + 1);
        let (line, after) = rest.split_at(end);
        rest = after;
        Some(line)
    })
}

/// A running multiplexer.
#[derive(Debug)]
pub(super) struct Session {
    /// The UART's port.
    phys: PortId,
    engine: cmux::Mux,
    /// The port of DLCI 1 (the others follow).
    first: PortId,
}

impl Modem {
    /// Whether port `p` is multiplexed now (its bytes are frames).
    pub fn mux_on(&self, p: PortId) -> bool {
        self.mux.as_ref().is_some_and(|m| m.phys == p)
    }

    /// The port of the multiplexer's channel `dlci`, while it runs.
    pub fn mux_channel_port(&self, dlci: u8) -> Option<PortId> {
        let m = self.mux.as_ref()?;
        (1..=CHANNELS).contains(&dlci).then(|| m.first + usize::from(dlci) - 1)
    }

    /// What the port of channel `dlci` carries in its online data state (the trace
    /// decodes PPP there).
    pub fn mux_channel_mode(&self, dlci: u8) -> Option<DataMode> {
        self.data_mode_on(self.mux_channel_port(dlci)?)
    }

    fn nmea_channel(&self, dlci: u8) -> bool {
        self.ctx.mux.services.get(usize::from(dlci).wrapping_sub(1)) == Some(&SERVICE_NMEA)
    }

    /// Whether the NMEA stream goes to a channel of the multiplexer now (not to the NMEA
    /// port).
    pub(super) fn nmea_on_mux(&self) -> bool {
        self.mux.as_ref().is_some_and(|m| (1..=CHANNELS).any(|d| self.nmea_channel(d) && m.engine.is_open(d)))
    }

    /// After the line with `AT+CMUX` on port `p` ended with `OK`: the port speaks frames
    /// from now on.
    pub(super) fn start_mux(&mut self, p: PortId) {
        let Some(params) = self.ctx.mux.request.take() else { return };
        if self.mux.is_some() {
            return;
        }
        tracing::info!(port = %self.ports[p].role, n1 = ?params.n1, "multiplexer started (27.010 basic option)");
        // The channels' ports are made at the first `AT+CMUX` and kept (detached) after
        // close-down, so no port's place ever changes under a line or a job.
        let first = match self.ports.iter().position(|port| port.role == PortRole::Mux(1)) {
            Some(first) => first,
            None => {
                let first = self.ports.len();
                let settings = self.power_on_settings();
                for n in 1..=CHANNELS {
                    let mut port = Port::new(PortRole::Mux(n), settings.clone());
                    port.attached = false;
                    self.ports.push(port);
                    self.ctx.port_roles.push(PortRole::Mux(n));
                }
                first
            }
        };
        let settings = self.power_on_settings();
        for port in &mut self.ports[first..first + usize::from(CHANNELS)] {
            port.settings = settings.clone();
        }
        let phys = &mut self.ports[p];
        phys.attached = false;
        phys.urcs.clear();
        phys.urc_bytes = 0;
        phys.ld.reset();
        phys.rx.clear();
        let cfg = cmux::Config { channels: CHANNELS, send_max: params.send_max(), recv_max: params.recv_max() };
        self.mux = Some(Session { phys: p, engine: cmux::Mux::new(cfg), first });
        self.ctx.mux.active = true;
    }

    /// Close-down: every channel's call ends, their ports go, the UART answers AT again.
    pub(super) fn stop_mux(&mut self) {
        // What the channels have said so far goes out first (a restart's `OK`).
        self.pump_mux();
        let Some(mut m) = self.mux.take() else { return };
        tracing::info!("multiplexer closed down; the UART is an AT port again");
        if let Some(out) = m.engine.poll_output() {
            self.ports[m.phys].out.extend_from_slice(&out);
        }
        for port in m.first..m.first + usize::from(CHANNELS) {
            self.hang_up_port(port);
        }
        let phys = &mut self.ports[m.phys];
        phys.attached = true;
        phys.reset();
        self.ctx.mux.active = false;
    }

    /// A channel's port goes (close-down, DISC): the call it is online with ends at once
    /// (as DTR dropped under `AT&D2`), its line is dropped.
    fn hang_up_port(&mut self, port: PortId) {
        if let Some(job) = self.ports[port].online_job().or(self.ports[port].suspended) {
            self.hang_up_job(job);
            self.leave_online(port);
        }
        let p = &mut self.ports[port];
        p.reset();
        p.out.clear();
        p.attached = false;
    }

    /// Bytes from the DTE on the multiplexed UART.
    pub(super) fn mux_input(&mut self, input: &[u8], now: Instant) {
        let Some(m) = self.mux.as_mut() else { return };
        m.engine.input(input);
        while let Some(ev) = self.mux.as_mut().and_then(|m| m.engine.poll_event()) {
            let first = self.mux.as_ref().map_or(0, |m| m.first);
            let port = |dlci: u8| first + usize::from(dlci) - 1;
            match ev {
                cmux::Event::Opened(d) => {
                    tracing::debug!(dlci = d, "multiplexer channel opened");
                    let p = &mut self.ports[port(d)];
                    p.reset();
                    p.attached = true;
                }
                cmux::Event::Closed(d) => {
                    tracing::debug!(dlci = d, "multiplexer channel closed");
                    self.hang_up_port(port(d));
                }
                cmux::Event::Data(d, bytes) => {
                    if !self.nmea_channel(d) {
                        self.handle_input_on(port(d), &bytes, now);
                    }
                }
                cmux::Event::Dtr { dlci, on: false } => self.dtr_off_on(port(dlci), now),
                cmux::Event::Dtr { .. } => {}
                cmux::Event::CloseDown => {
                    self.stop_mux();
                    return;
                }
            }
        }
        self.pump_mux();
    }

    /// Move what the open channels have for the DTE into frames on the UART, while the
    /// UART's own backlog allows and the DTE's flow control does not hold them.
    pub(super) fn pump_mux(&mut self) {
        let Some((phys, first)) = self.mux.as_ref().map(|m| (m.phys, m.first)) else { return };
        for dlci in 1..=CHANNELS {
            if self.ports[phys].out.len() >= UART_BACKLOG_MAX {
                break;
            }
            let port = first + usize::from(dlci) - 1;
            let Some(m) = self.mux.as_ref() else { return };
            if !m.engine.can_send(dlci) {
                continue;
            }
            let data = if self.nmea_channel(dlci) {
                self.ctx.aux.take("nmea").unwrap_or_default()
            } else {
                if self.ports[port].out.is_empty() {
                    self.pump_stream(port);
                }
                let room = UART_BACKLOG_MAX - self.ports[phys].out.len();
                let out = &mut self.ports[port].out;
                if out.len() <= room {
                    std::mem::take(out)
                } else {
                    let rest = out.split_off(room);
                    std::mem::replace(out, rest)
                }
            };
            let online = self.ports[port].in_data_mode();
            if let Some(m) = self.mux.as_mut() {
                if online {
                    m.engine.send(dlci, &data);
                } else {
                    // In command state one frame per line (`\r\nOK\r\n`), as a SIM5360
                    // sends its answers; a line longer than a frame takes several.
                    for line in lines_of(&data) {
                        m.engine.send(dlci, line);
                    }
                }
                if let Some(frames) = m.engine.poll_output() {
                    self.ports[phys].out.extend_from_slice(&frames);
                }
            }
        }
        if let Some(frames) = self.mux.as_mut().and_then(|m| m.engine.poll_output()) {
            self.ports[phys].out.extend_from_slice(&frames);
        }
    }

    /// The multiplexer's counters into `Ctx::mux.status` (for the control channel).
    pub(super) fn refresh_mux_status(&mut self) {
        let status = self.mux.as_ref().map(|m| {
            let e = &m.engine;
            let cfg = e.config();
            MuxStatus {
                send_max: cfg.send_max,
                recv_max: cfg.recv_max,
                held: e.held(0),
                deframer: e.counters(),
                dropped: e.dropped,
                control: e.stats(0),
                channels: (1..=CHANNELS)
                    .map(|d| ChannelStatus {
                        dlci: d,
                        open: e.is_open(d),
                        nmea: self.ctx.mux.services.get(usize::from(d) - 1) == Some(&SERVICE_NMEA),
                        held: e.held(d),
                        data_mode: self.data_mode_on(m.first + usize::from(d) - 1),
                        stats: e.stats(d),
                    })
                    .collect(),
            }
        });
        self.ctx.mux.status = status;
    }
}

#[cfg(test)]
mod tests {
    use super::lines_of;

    #[test]
    fn answers_go_one_line_a_frame() {
        let cut: Vec<&[u8]> = lines_of(b"AT+CSQ\r\r\n+CSQ: 21,99\r\n\r\nOK\r\n").collect();
        assert_eq!(cut, [&b"AT+CSQ\r\r\n"[..], b"+CSQ: 21,99\r\n", b"\r\nOK\r\n"]);
        let cut: Vec<&[u8]> = lines_of(b"\r\n> ").collect();
        assert_eq!(cut, [&b"\r\n> "[..]]);
    }
}
