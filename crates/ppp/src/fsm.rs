//! The option negotiation automaton of RFC 1661 §4, shared by LCP and IPCP: states,
//! events, and the actions of the state transition table. What the options mean is the
//! [`Layer`]'s.

use crate::packet::{Opt, Packet, code, options};
use std::time::{Duration, Instant};

/// The peer's Configure-Request judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Ack,
    /// These options with the values we want.
    Nak(Vec<u8>),
    /// These options are not negotiable.
    Rej(Vec<u8>),
}

/// What a protocol's options mean.
pub(crate) trait Layer {
    /// Our Configure-Request's options.
    fn request(&mut self) -> Vec<u8>;
    /// Judge the peer's request (and remember what it asked for, for when it is acked).
    fn check(&mut self, opts: &[Opt<'_>]) -> Verdict;
    /// The peer Nak'd our request with these values; false: we cannot go on.
    fn nak(&mut self, opts: &[Opt<'_>]) -> bool;
    /// The peer rejected these options of our request; false: we cannot go on.
    fn rej(&mut self, opts: &[Opt<'_>]) -> bool;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Closed,
    Stopped,
    Closing,
    Stopping,
    ReqSent,
    AckRcvd,
    AckSent,
    Opened,
}

/// What the automaton asks of the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Out {
    /// Send this packet (code, identifier, data) of the layer's protocol.
    Send(Vec<u8>),
    /// This-Layer-Up.
    Up,
    /// This-Layer-Down.
    Down,
    /// This-Layer-Finished: the lower layer is no longer needed.
    Finished,
    /// A Configure-Nak or -Reject of ours could not be followed.
    Failed,
}

/// RFC 1661's restart timer and counters.
const MAX_CONFIGURE: u8 = 10;
const MAX_TERMINATE: u8 = 2;

#[derive(Debug)]
pub(crate) struct Fsm {
    pub state: State,
    /// Identifier of our latest Configure-Request (Acks and Naks must match it).
    req_id: u8,
    next_id: u8,
    restart_count: u8,
    /// When the restart timer expires.
    timer: Option<Instant>,
    /// The restart period.
    period: Duration,
    pub out: Vec<Out>,
}

impl Fsm {
    pub fn new(period: Duration, first_id: u8) -> Self {
        Self {
            state: State::Closed,
            req_id: 0,
            next_id: first_id,
            restart_count: 0,
            timer: None,
            period,
            out: Vec::new(),
        }
    }

    fn id(&mut self) -> u8 {
        self.next_id = self.next_id.wrapping_add(1);
        self.next_id
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timer
    }

    pub fn is_opened(&self) -> bool {
        self.state == State::Opened
    }

    /// Up and Open at once (the lower layer is there): our request goes out.
    pub fn open(&mut self, layer: &mut impl Layer, now: Instant) {
        if matches!(self.state, State::Closed | State::Stopped) {
            self.irc(MAX_CONFIGURE);
            self.scr(layer, now);
            self.state = State::ReqSent;
        }
    }

    /// The administrative Close (our hang-up): a Terminate-Request, or finished at once.
    pub fn close(&mut self, now: Instant) {
        match self.state {
            State::Closed | State::Stopped => {
                self.state = State::Closed;
                self.out.push(Out::Finished);
            }
            State::Closing | State::Stopping => self.state = State::Closing,
            State::ReqSent | State::AckRcvd | State::AckSent | State::Opened => {
                if self.state == State::Opened {
                    self.out.push(Out::Down);
                }
                self.irc(MAX_TERMINATE);
                self.str(now);
                self.state = State::Closing;
            }
        }
    }

    /// The lower layer went (our own end: no packets any more).
    pub fn down(&mut self) {
        if self.state == State::Opened {
            self.out.push(Out::Down);
        }
        self.state = State::Closed;
        self.timer = None;
    }

    pub fn handle_timeout(&mut self, layer: &mut impl Layer, now: Instant) {
        if self.timer.is_none_or(|t| t > now) {
            return;
        }
        self.timer = None;
        if self.restart_count > 0 {
            // TO+
            match self.state {
                State::Closing | State::Stopping => self.str(now),
                State::ReqSent | State::AckRcvd => {
                    self.scr(layer, now);
                    self.state = State::ReqSent;
                }
                State::AckSent => self.scr(layer, now),
                _ => {}
            }
        } else {
            // TO-
            match self.state {
                State::Closing => {
                    self.state = State::Closed;
                    self.out.push(Out::Finished);
                }
                State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent => {
                    self.state = State::Stopped;
                    self.out.push(Out::Finished);
                }
                _ => {}
            }
        }
    }

    /// A packet of the layer's protocol. Codes other than the common ones come back as
    /// `Err(packet)` for the protocol's own handling (LCP's Echo, Protocol-Reject, ...).
    pub fn input<'a>(&mut self, layer: &mut impl Layer, p: Packet<'a>, now: Instant) -> Result<(), Packet<'a>> {
        match p.code {
            code::CONF_REQ => self.rcr(layer, p, now),
            code::CONF_ACK if p.id == self.req_id => self.rca(layer, now),
            code::CONF_NAK | code::CONF_REJ if p.id == self.req_id => {
                let ok = match options(p.data) {
                    Some(opts) if p.code == code::CONF_NAK => layer.nak(&opts),
                    Some(opts) => layer.rej(&opts),
                    None => true,
                };
                if !ok {
                    self.out.push(Out::Failed);
                    return Ok(());
                }
                self.rcn(layer, now);
            }
            // A stale Ack, Nak or Reject: ignored.
            code::CONF_ACK | code::CONF_NAK | code::CONF_REJ => {}
            code::TERM_REQ => self.rtr(p.id, now),
            code::TERM_ACK => self.rta(layer, now),
            _ => return Err(p),
        }
        Ok(())
    }

    /// RXJ-: the peer rejected something this layer cannot do without.
    pub fn fatal_reject(&mut self, now: Instant) {
        match self.state {
            State::Opened => {
                self.out.push(Out::Down);
                self.irc(MAX_TERMINATE);
                self.str(now);
                self.state = State::Stopping;
            }
            State::Closing | State::Closed => {
                self.state = State::Closed;
                self.out.push(Out::Finished);
            }
            _ => {
                self.state = State::Stopped;
                self.out.push(Out::Finished);
            }
        }
    }

    fn rcr(&mut self, layer: &mut impl Layer, p: Packet<'_>, now: Instant) {
        let verdict = match options(p.data) {
            Some(opts) => layer.check(&opts),
            // A malformed request: reject it whole (RFC 1661 leaves it to the
            // implementation; rejecting nothing makes the peer resend).
            None => Verdict::Rej(Vec::new()),
        };
        let good = verdict == Verdict::Ack;
        match self.state {
            State::Closed => return self.sta(p.id),
            State::Closing | State::Stopping => return,
            State::Stopped => {
                self.irc(MAX_CONFIGURE);
                self.scr(layer, now);
            }
            State::Opened => {
                self.out.push(Out::Down);
                self.scr(layer, now);
            }
            _ => {}
        }
        self.answer(p, verdict);
        self.state = match (self.state, good) {
            (State::AckRcvd, true) => {
                self.out.push(Out::Up);
                State::Opened
            }
            (State::AckRcvd, false) => State::AckRcvd,
            (_, true) => State::AckSent,
            (_, false) => State::ReqSent,
        };
    }

    fn answer(&mut self, p: Packet<'_>, verdict: Verdict) {
        let bytes = match verdict {
            Verdict::Ack => Packet::encode(code::CONF_ACK, p.id, p.data),
            Verdict::Nak(opts) => Packet::encode(code::CONF_NAK, p.id, &opts),
            Verdict::Rej(opts) => Packet::encode(code::CONF_REJ, p.id, &opts),
        };
        self.out.push(Out::Send(bytes));
    }

    fn rca(&mut self, layer: &mut impl Layer, now: Instant) {
        match self.state {
            State::Closed | State::Stopped => self.sta(self.req_id),
            State::ReqSent => {
                self.irc(MAX_CONFIGURE);
                self.state = State::AckRcvd;
            }
            State::AckRcvd => {
                self.scr(layer, now);
                self.state = State::ReqSent;
            }
            State::AckSent => {
                self.irc(MAX_CONFIGURE);
                self.timer = None;
                self.state = State::Opened;
                self.out.push(Out::Up);
            }
            State::Opened => {
                self.out.push(Out::Down);
                self.scr(layer, now);
                self.state = State::ReqSent;
            }
            State::Closing | State::Stopping => {}
        }
    }

    fn rcn(&mut self, layer: &mut impl Layer, now: Instant) {
        match self.state {
            State::Closed | State::Stopped => self.sta(self.req_id),
            State::ReqSent | State::AckSent => {
                self.irc(MAX_CONFIGURE);
                self.scr(layer, now);
            }
            State::AckRcvd => {
                self.scr(layer, now);
                self.state = State::ReqSent;
            }
            State::Opened => {
                self.out.push(Out::Down);
                self.scr(layer, now);
                self.state = State::ReqSent;
            }
            State::Closing | State::Stopping => {}
        }
    }

    fn rtr(&mut self, id: u8, now: Instant) {
        self.sta(id);
        match self.state {
            State::AckRcvd | State::AckSent => self.state = State::ReqSent,
            State::Opened => {
                self.out.push(Out::Down);
                // zrc: one restart period to let the Terminate-Ack go out. The engine ends
                // the link as soon as the Ack is sent, so it expires at once here.
                self.restart_count = 0;
                self.timer = Some(now);
                self.state = State::Stopping;
            }
            _ => {}
        }
    }

    fn rta(&mut self, layer: &mut impl Layer, now: Instant) {
        match self.state {
            State::Closing => {
                self.timer = None;
                self.state = State::Closed;
                self.out.push(Out::Finished);
            }
            State::Stopping => {
                self.timer = None;
                self.state = State::Stopped;
                self.out.push(Out::Finished);
            }
            State::AckRcvd => self.state = State::ReqSent,
            State::Opened => {
                self.out.push(Out::Down);
                self.scr(layer, now);
                self.state = State::ReqSent;
            }
            _ => {}
        }
    }

    fn irc(&mut self, n: u8) {
        self.restart_count = n;
    }

    fn scr(&mut self, layer: &mut impl Layer, now: Instant) {
        self.req_id = self.id();
        let opts = layer.request();
        self.out.push(Out::Send(Packet::encode(code::CONF_REQ, self.req_id, &opts)));
        self.restart_count = self.restart_count.saturating_sub(1);
        self.timer = Some(now + self.period);
    }

    fn str(&mut self, now: Instant) {
        let id = self.id();
        self.out.push(Out::Send(Packet::encode(code::TERM_REQ, id, &[])));
        self.restart_count = self.restart_count.saturating_sub(1);
        self.timer = Some(now + self.period);
    }

    fn sta(&mut self, id: u8) {
        self.out.push(Out::Send(Packet::encode(code::TERM_ACK, id, &[])));
    }
}
