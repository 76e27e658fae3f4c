//! What goes out of each port: answers (written by the line machine into the port's
//! output), streamed answers produced as the runner takes them, and URCs.
//!
//! Where a URC goes:
//! - one raised by a command line (its handler, its prompt's sink) goes to that line's
//!   port;
//! - one of a job (its sink's result, its data) goes to the port that is online with the
//!   job, else to the port that started it;
//! - the network's own (timers, the control channel, the SIM, registration) follow
//!   `AT+CATR` ([`UrcRoute`]): by default every AT port in command state gets a copy (a
//!   port in a data mode gets none; when every port is in one, each keeps it for later);
//!   `AT+CATR=<port>` sends them to that port only, held while it is in data mode.
//!
//! A port releases its URCs only at a quiet point (no line running, no prompt, no stream),
//! so a URC never lands inside an answer of its own port, and the ports' outputs are
//! separate byte streams, so never inside another's either.

use super::port::{Active, PortId};
use super::{Modem, Urc, UrcRoute};
use crate::job::JobId;
use tracing::debug;

/// While this much output waits unsent (the DTE is not reading), echo is dropped.
pub(super) const ECHO_BACKLOG_MAX: usize = 32 * 1024;
/// While this much output waits unsent, input is not interpreted: it stays in the FIFO, so
/// answers never pile up without bound (and are never dropped).
pub(super) const ANSWER_BACKLOG_MAX: usize = 48 * 1024;
/// Queued URCs move to the output only while less than this waits unsent; `DATA` blocks of
/// a download go a few at a time.
const RELEASE_BACKLOG_MAX: usize = 16 * 1024;
/// Largest piece [`Modem::poll_transmit_on`] hands out, so what waits beyond one write
/// stays in the modem, where it counts as backlog.
const TRANSMIT_MAX: usize = 64 * 1024;
/// Service events are taken only while fewer URC bytes than this wait to be sent on any
/// port, so a DTE that reads slowly slows the server instead of filling memory.
const URC_BACKLOG_MAX: usize = 256 * 1024;
/// With several ports, one whose DTE leaves this much of the network's URCs unread gets
/// no more copies of them (they are counted), so a port nobody reads never holds back
/// the others.
const SHARED_URC_MAX: usize = 64 * 1024;

impl Modem {
    /// The URCs handlers and timers raised, to port `to` (`None`: the network's, routed by
    /// `AT+CATR`).
    pub(super) fn take_ctx_urcs(&mut self, to: Option<PortId>) {
        if self.ctx.urcs.is_empty() {
            return;
        }
        let urcs = std::mem::take(&mut self.ctx.urcs);
        for u in urcs {
            self.route(u, to);
        }
    }

    /// Queue `u` for port `to`, or for the ports `AT+CATR` names.
    pub(super) fn route(&mut self, u: Urc, to: Option<PortId>) {
        match to {
            Some(p) if self.ports.get(p).is_some_and(|port| port.attached) => self.ports[p].push_urc(u),
            // The port it was for takes none now (a multiplexer's channel that was closed).
            Some(p) => debug!(port = p, "URC for a port that is closed dropped"),
            None => self.share(u),
        }
    }

    /// The port a job's URCs go to: the one online with it, else the one that started it.
    pub(super) fn port_of_job(&self, id: JobId) -> Option<PortId> {
        self.ports.iter().position(|p| p.online_job() == Some(id)).or_else(|| self.ctx.jobs.owner(id))
    }

    /// A URC of the network to the ports `AT+CATR` names.
    fn share(&mut self, u: Urc) {
        let all: Vec<PortId> = (0..self.ports.len()).filter(|p| self.ports[*p].attached).collect();
        let targets = match self.ctx.urc_route {
            UrcRoute::Only(role) => {
                let named: Vec<PortId> = all.iter().copied().filter(|p| self.ports[*p].role == role).collect();
                if named.is_empty() { self.in_command_state(all) } else { named }
            }
            UrcRoute::All => self.in_command_state(all),
        };
        let several = self.ports.len() > 1;
        let last = targets.len().saturating_sub(1);
        let mut u = Some(u);
        for (i, p) in targets.into_iter().enumerate() {
            let port = &mut self.ports[p];
            if several && port.urc_bytes >= SHARED_URC_MAX {
                port.dropped_urcs += 1;
                debug!(port = %port.role, total = port.dropped_urcs, "URC dropped: the port's DTE is not reading");
                continue;
            }
            let copy = if i == last { u.take() } else { u.clone() };
            if let Some(c) = copy {
                port.push_urc(c);
            }
        }
    }

    /// Of `ports`, those in command state; all of them if none is.
    fn in_command_state(&self, ports: Vec<PortId>) -> Vec<PortId> {
        let quiet: Vec<PortId> = ports.iter().copied().filter(|p| !self.ports[*p].in_data_mode()).collect();
        if quiet.is_empty() { ports } else { quiet }
    }

    /// Move port `p`'s queued URCs to its output, as far as it is quiet.
    pub(super) fn release_urcs(&mut self, p: PortId) {
        let framing = self.framing(p);
        let port = &mut self.ports[p];
        if !port.attached {
            return;
        }
        if port.in_data_mode() {
            // Online: only payload goes out; the rest waits for command state.
            // A large piece goes out in parts, so what waits unsent stays below the backlog
            // at which a DTE counts as not reading.
            while port.out.len() < RELEASE_BACKLOG_MAX {
                let Some(i) = port.urcs.iter().position(|u| matches!(u, Urc::Raw(_))) else { break };
                let Some(Urc::Raw(mut data)) = port.urcs.remove(i) else { break };
                let room = RELEASE_BACKLOG_MAX - port.out.len();
                if data.len() > room {
                    let rest = data.split_off(room);
                    port.urcs.insert(i, Urc::Raw(rest));
                }
                port.urc_bytes = port.urc_bytes.saturating_sub(data.len());
                port.out.extend_from_slice(&data);
            }
            return;
        }
        if !port.quiet() {
            return;
        }
        while port.out.len() < RELEASE_BACKLOG_MAX {
            let Some(u) = port.urcs.pop_front() else { break };
            port.urc_bytes = port.urc_bytes.saturating_sub(u.len());
            match u {
                Urc::Line(l) => framing.urc(l.as_bytes(), &mut port.out),
                Urc::Block { header, data } => {
                    framing.urc(header.as_bytes(), &mut port.out);
                    port.out.extend_from_slice(&data);
                }
                Urc::Raw(data) => port.out.extend_from_slice(&data),
                Urc::Blocks { prefix, mut data, max } => {
                    let max = max.max(1);
                    while !data.is_empty() && port.out.len() < RELEASE_BACKLOG_MAX {
                        let piece = data.split_to(data.len().min(max));
                        framing.urc(format!("{prefix}: DATA,{}", piece.len()).as_bytes(), &mut port.out);
                        port.out.extend_from_slice(&piece);
                    }
                    if !data.is_empty() {
                        let rest = Urc::Blocks { prefix, data, max };
                        port.urc_bytes += rest.len();
                        port.urcs.push_front(rest);
                    }
                }
            }
        }
    }

    /// Whether the core takes job events now (false while too much output waits on a
    /// port).
    pub fn accepting_events(&self) -> bool {
        self.ports.iter().all(|p| p.urc_bytes < URC_BACKLOG_MAX && p.out.len() < URC_BACKLOG_MAX)
    }

    /// Next bytes to send on the first port (see [`Modem::poll_transmit_on`]).
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.poll_transmit_on(0)
    }

    /// Next bytes to send to port `p`'s DTE, if any (at most 64 KiB at a time). Long
    /// answers are produced piece by piece here, so a slow DTE slows the producer instead
    /// of filling memory.
    pub fn poll_transmit_on(&mut self, p: PortId) -> Option<Vec<u8>> {
        if p >= self.ports.len() {
            return None;
        }
        if self.mux_on(p) {
            self.pump_mux();
        } else if self.ports[p].out.is_empty() {
            self.pump_stream(p);
        }
        let out = &mut self.ports[p].out;
        if out.is_empty() {
            return None;
        }
        let chunk = if out.len() <= TRANSMIT_MAX {
            std::mem::take(out)
        } else {
            let rest = out.split_off(TRANSMIT_MAX);
            std::mem::replace(out, rest)
        };
        // Room was made: input and URCs held back by the backlog may go on.
        self.process_rx();
        Some(chunk)
    }

    /// Everything pending on the first port, streamed answers included (tests).
    pub fn drain_output(&mut self) -> Vec<u8> {
        self.drain_output_on(0)
    }

    /// Everything pending on port `p`, streamed answers included (tests).
    pub fn drain_output_on(&mut self, p: PortId) -> Vec<u8> {
        let mut all = Vec::new();
        while let Some(chunk) = self.poll_transmit_on(p) {
            all.extend_from_slice(&chunk);
        }
        all
    }

    /// The next piece of port `p`'s streamed answer, if it is streaming one.
    pub(super) fn pump_stream(&mut self, p: PortId) {
        if !matches!(self.ports[p].active, Active::Stream(_)) {
            return;
        }
        self.focus(p);
        let framing = self.framing(p);
        // A step may produce nothing; go on until there is output or the stream ends.
        let step = loop {
            let port = &mut self.ports[p];
            let Active::Stream(stream) = &mut port.active else { return };
            match stream.next(&mut self.ctx, &framing, &mut port.out) {
                Ok(true) if port.out.is_empty() => continue,
                other => break other,
            }
        };
        match step {
            Ok(true) => return,
            Ok(false) => {
                self.ports[p].active = Active::Idle;
                self.advance(p);
            }
            Err(e) => {
                self.ports[p].active = Active::Idle;
                self.fail(p, "stream", e);
            }
        }
        self.process_rx();
    }
}
