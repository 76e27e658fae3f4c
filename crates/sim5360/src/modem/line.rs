//! The line machine of one port: its line discipline's events become command lines, a
//! line's invocations are dispatched in turn, each handler's [`Reply`] is framed and
//! decides what follows (the next invocation, a prompt, a stream, a wait), and the
//! online data state passes DTE bytes to its job.

use super::output::{ANSWER_BACKLOG_MAX, ECHO_BACKLOG_MAX};
use super::port::{Active, PortId, QueuedInvocation};
use super::{CmdError, Ctx, Modem, Reply, Then, online, overrides, settings};
use crate::job::{JobId, JobInput};
use std::time::{Duration, Instant};
use tracing::{debug, info};
use v250::{Args, Event, Form, ResultCode, parse_line};

impl Modem {
    /// Whether port `p`'s input may be interpreted now.
    pub(super) fn interpreting(&self, p: PortId) -> bool {
        let port = &self.ports[p];
        !matches!(
            port.active,
            Active::Stream(_)
                | Active::Wait(_)
                | Active::Delayed { .. }
                | Active::Offloaded(_)
                | Active::Overridden { .. }
                | Active::Hung { .. }
        ) && port.out.len() < ANSWER_BACKLOG_MAX
            && !self.upload_blocked(p)
    }

    /// Port `p`'s DTE is sending data for a job that cannot take more now.
    fn upload_blocked(&self, p: PortId) -> bool {
        let job = match &self.ports[p].active {
            Active::Upload(id) | Active::Online { job: id, .. } => Some(*id),
            Active::Data { sink, .. } => sink.job(),
            _ => None,
        };
        job.is_some_and(|id| self.ctx.jobs.input_full(id))
    }

    /// Interpret what waits in the receive FIFOs, as far as nothing holds it back, and
    /// release what URCs may go.
    pub(super) fn process_rx(&mut self) {
        self.end_lost_jobs();
        self.check_orphans();
        for p in 0..self.ports.len() {
            if self.ports[p].rx.is_empty() || !self.interpreting(p) {
                continue;
            }
            self.focus(p);
            // Copied out a piece at a time: the FIFO cannot stay borrowed while a handler runs.
            let mut piece = [0u8; 4096];
            while self.interpreting(p) {
                let (front, _) = self.ports[p].rx.as_slices();
                let len = front.len().min(piece.len());
                piece[..len].copy_from_slice(&front[..len]);
                let (n, event) = self.feed(p, &piece[..len]);
                let rx = &mut self.ports[p].rx;
                rx.drain(..n.min(rx.len()));
                if !event && rx.is_empty() {
                    break;
                }
            }
        }
        for p in 0..self.ports.len() {
            self.release_urcs(p);
        }
    }

    /// One step of port `p`'s line discipline over `input`: the bytes consumed, and
    /// whether an event came of it.
    pub(super) fn feed(&mut self, p: PortId, input: &[u8]) -> (usize, bool) {
        if let Active::Online { job, esc, skip_lf, .. } = &mut self.ports[p].active {
            // Online data: no line discipline, no echo; payload less a possible escape,
            // and less the LF of the CR LF that ended the command line.
            let (job, mut data) = (*job, Vec::with_capacity(input.len()));
            let from = match input.first() {
                Some(&first) => usize::from(std::mem::take(skip_lf) && first == b'\n'),
                None => 0,
            };
            esc.feed(&input[from..], self.ctx.now, &mut data);
            self.online_data(job, data);
            return (input.len(), false);
        }
        let cfg = self.ctx.settings.line_config();
        let port = &mut self.ports[p];
        let (n, ev) = port.ld.feed(input, &cfg);
        let echo = port.ld.take_echo();
        if !echo.is_empty() {
            if port.out.len() < ECHO_BACKLOG_MAX {
                port.out.extend_from_slice(&echo);
            } else {
                if port.dropped_echo == 0 || port.out.len() == ECHO_BACKLOG_MAX {
                    info!(port = %port.role, "the DTE is not reading: echo dropped");
                }
                port.dropped_echo += echo.len() as u64;
                debug!(len = echo.len(), total = port.dropped_echo, "echo dropped");
            }
        }
        let event = ev.is_some();
        if let Some(ev) = ev {
            self.on_event(p, ev);
        }
        (n, event)
    }

    fn on_event(&mut self, p: PortId, ev: Event) {
        match ev {
            Event::Line(line) => {
                self.ports[p].last_line.clone_from(&line);
                self.run_line(p, &line);
            }
            Event::Repeat => {
                let line = self.ports[p].last_line.clone();
                self.run_line(p, &line);
            }
            Event::LineTooLong => {
                info!("ERROR: command line longer than {} bytes", settings::MAX_LINE);
                self.final_error(p, &CmdError::Refused("command line too long"));
            }
            Event::Data(chunk) => match &mut self.ports[p].active {
                Active::Upload(id) => self.ctx.jobs.send(*id, JobInput::Data(chunk)),
                Active::Drain(_) => {}
                Active::Data { sink, err } => {
                    if err.is_none()
                        && let Err(e) = sink.write(&mut self.ctx, &chunk)
                    {
                        *err = Some(e);
                    }
                }
                _ => {}
            },
            Event::DataEnd => match std::mem::replace(&mut self.ports[p].active, Active::Idle) {
                Active::Drain(res) => self.resume(p, "upload", res),
                Active::Upload(id) => {
                    self.ctx.jobs.send(id, JobInput::End);
                    self.ports[p].active = Active::Wait(id);
                }
                Active::Data { sink, err } => {
                    let res = match err {
                        Some(e) => Err(e),
                        None => sink.finish(&mut self.ctx),
                    };
                    self.resume(p, "data", res);
                }
                other => self.ports[p].active = other,
            },
            Event::Text(text) => {
                if let Active::Text(sink, _) = std::mem::replace(&mut self.ports[p].active, Active::Idle) {
                    let res = sink.finish(&mut self.ctx, text);
                    self.resume(p, "text", res);
                }
            }
            Event::TextNewLine => {
                if let Active::Text(_, prompt) = self.ports[p].active {
                    self.prompt(p, prompt.as_bytes());
                }
            }
            Event::TextCancelled => match std::mem::replace(&mut self.ports[p].active, Active::Idle) {
                Active::Text(sink, _) => {
                    let res = sink.cancel(&mut self.ctx);
                    self.resume(p, "text", res);
                }
                Active::Data { sink, .. } => {
                    let res = sink.cancel(&mut self.ctx);
                    self.resume(p, "data", res);
                }
                other => self.ports[p].active = other,
            },
        }
    }

    fn run_line(&mut self, p: PortId, line: &[u8]) {
        debug!(port = %self.ports[p].role, line = %String::from_utf8_lossy(&self.ctx.catalog.redact(line)), "command line");
        match parse_line(line) {
            Ok(invs) => {
                self.ports[p].queue = invs
                    .into_iter()
                    .map(|i| QueuedInvocation { name: i.name, form: i.form, args: i.args.to_vec() })
                    .collect();
                self.advance(p);
            }
            Err(e) => self.fail(p, "line", CmdError::Syntax(e)),
        }
    }

    /// Run port `p`'s queued invocations until the line ends or one opens a prompt or a
    /// stream, or waits.
    pub(super) fn advance(&mut self, p: PortId) {
        self.focus(p);
        while let Some(inv) = self.ports[p].queue.pop_front() {
            if let Some((id, spec)) = self.ctx.overrides.take(&inv.name, inv.form, &inv.args) {
                info!(command = %inv.name, id, "answered by an override");
                match spec.action {
                    overrides::Action::Drop => {
                        self.ports[p].queue.clear();
                        self.after_line(p);
                        return;
                    }
                    overrides::Action::Hang => {
                        self.ports[p].active = Active::Hung { id, inv };
                        return;
                    }
                    overrides::Action::Respond if spec.delay_ms > 0 => {
                        let at = self.ctx.now + Duration::from_millis(spec.delay_ms);
                        self.ports[p].active = Active::Overridden { at, spec };
                        return;
                    }
                    overrides::Action::Respond if !self.override_answer(p, &spec) => return,
                    overrides::Action::Respond => continue,
                }
            }
            let res = dispatch(&mut self.ctx, &inv);
            if !self.apply(p, &inv.name, res) {
                return;
            }
        }
        self.finish_line(p);
    }

    /// An override's answer: its lines and its result. Returns true when the line goes on
    /// (the result is `OK`).
    fn override_answer(&mut self, p: PortId, spec: &overrides::OverrideSpec) -> bool {
        let framing = self.framing(p);
        if !spec.lines.is_empty() {
            framing.info(&spec.lines, &mut self.ports[p].out);
        }
        match spec.result.as_str() {
            "OK" => true,
            "none" => {
                self.ports[p].queue.clear();
                self.after_line(p);
                false
            }
            "ERROR" => {
                self.ports[p].queue.clear();
                framing.result(ResultCode::Error, &mut self.ports[p].out);
                self.after_line(p);
                false
            }
            text => {
                self.end_line_with(p, text, ResultCode::Error);
                false
            }
        }
    }

    /// Lines held by a `hang` override whose override is gone: their command runs now.
    pub(super) fn release_hung(&mut self) {
        for p in 0..self.ports.len() {
            if let Active::Hung { id, .. } = &self.ports[p].active
                && !self.ctx.overrides.contains(*id)
                && let Active::Hung { inv, .. } = std::mem::replace(&mut self.ports[p].active, Active::Idle)
            {
                self.ports[p].queue.push_front(inv);
                self.advance(p);
            }
        }
    }

    /// Emit a handler's result on port `p`. Returns true when the line may continue at
    /// once.
    fn apply(&mut self, p: PortId, name: &str, res: Result<Reply, CmdError>) -> bool {
        let reply = match res {
            Ok(r) => r,
            Err(e) => {
                self.fail(p, name, e);
                return false;
            }
        };
        let framing = self.framing(p);
        if !reply.lines.is_empty() {
            framing.info(&reply.lines, &mut self.ports[p].out);
        }
        let port = &mut self.ports[p];
        match reply.then {
            Then::Done => true,
            Then::Data { len, prompt, sink } => {
                if !prompt.is_empty() {
                    self.prompt(p, prompt.as_bytes());
                }
                let port = &mut self.ports[p];
                match len {
                    Some(0) => {
                        let res = sink.finish(&mut self.ctx);
                        return self.apply(p, name, res);
                    }
                    Some(n) => port.ld.expect_data(n),
                    None if sink.escaped() => port.ld.expect_stream_escaped(true),
                    None => port.ld.expect_stream(true),
                }
                port.active = Active::Data { sink, err: None };
                false
            }
            Then::Text { max, prompt, lines, sink } => {
                self.prompt(p, prompt.as_bytes());
                let port = &mut self.ports[p];
                port.active = Active::Text(sink, prompt);
                if lines {
                    port.ld.expect_text_lines(max);
                } else {
                    port.ld.expect_text(max);
                }
                false
            }
            Then::Stream(s) => {
                port.active = Active::Stream(s);
                false
            }
            Then::Wait(id) => {
                port.active = Active::Wait(id);
                false
            }
            Then::After { delay, resume } => {
                port.active = Active::Delayed { at: self.ctx.now + delay, resume };
                false
            }
            Then::Offloaded(id) => {
                port.active = Active::Offloaded(id);
                false
            }
            Then::Online { job, banner, mode } => {
                self.go_online(p, job, &banner, mode);
                false
            }
            Then::Resume => {
                let resumed = self.ports[p].suspended.take().filter(|j| self.ctx.jobs.is_running(*j)).and_then(|job| {
                    let mut sink = self.ctx.jobs.take_sink(job)?;
                    let mut urcs = Vec::new();
                    let banner = sink.resume(&mut self.ctx, &mut urcs);
                    self.ctx.jobs.put_sink(job, sink);
                    for u in urcs {
                        self.route(u, Some(p));
                    }
                    banner.map(|(banner, mode)| (job, banner, mode))
                });
                match resumed {
                    Some((job, banner, mode)) => self.go_online(p, job, &banner, mode),
                    None => self.end_line_with(p, "NO CARRIER", ResultCode::NoCarrier),
                }
                false
            }
            Then::Final(text) => {
                self.end_line_with(p, &text, ResultCode::NoCarrier);
                false
            }
        }
    }

    /// End port `p`'s line with `banner` (`CONNECT 115200`) and enter the online data state
    /// with `job`, if it still runs.
    fn go_online(&mut self, p: PortId, job: JobId, banner: &str, mode: super::DataMode) {
        self.end_line_with(p, banner, ResultCode::Connect);
        if self.ctx.jobs.is_running(job) {
            let guard = Duration::from_millis(u64::from(self.settings_of(p).sreg[12]) * 20);
            let port = &mut self.ports[p];
            let skip_lf = port.ld.lf_pending();
            port.ld.reset();
            port.suspended = None;
            port.active = Active::Online { job, esc: online::Escape::new(guard, self.ctx.now), skip_lf, mode };
            self.ctx.online.insert(job);
        }
    }

    /// End port `p`'s line with a final result of its own text (verbose), or `numeric`'s
    /// number (ATV0); the rest of the line is not run.
    pub(super) fn end_line_with(&mut self, p: PortId, text: &str, numeric: ResultCode) {
        let framing = self.framing(p);
        let out = &mut self.ports[p].out;
        if framing.verbose {
            if !framing.quiet {
                framing.info(&[text], out);
            }
        } else {
            framing.result(numeric, out);
        }
        self.ports[p].queue.clear();
        self.after_line(p);
    }

    fn prompt(&mut self, p: PortId, prompt: &[u8]) {
        let f = self.framing(p);
        let out = &mut self.ports[p].out;
        out.extend_from_slice(&[f.s3, f.s4]);
        out.extend_from_slice(prompt);
    }

    /// A prompt, stream or wait of port `p` completed with `res`; continue the line.
    pub(super) fn resume(&mut self, p: PortId, what: &str, res: Result<Reply, CmdError>) {
        self.focus(p);
        if self.apply(p, what, res) {
            self.advance(p);
        }
        self.release_urcs(p);
    }

    fn finish_line(&mut self, p: PortId) {
        let framing = self.framing(p);
        framing.result(ResultCode::Ok, &mut self.ports[p].out);
        self.after_line(p);
        // `AT+CMUX` takes effect once its line's `OK` is out.
        self.start_mux(p);
    }

    pub(super) fn fail(&mut self, p: PortId, name: &str, e: CmdError) {
        info!(command = name, "answered error: {e}");
        self.ports[p].queue.clear();
        self.ctx.mux.request = None;
        self.final_error(p, &e);
        self.after_line(p);
    }

    fn final_error(&mut self, p: PortId, e: &CmdError) {
        let framing = self.framing(p);
        let cmee = self.settings_of(p).cmee;
        let out = &mut self.ports[p].out;
        if let CmdError::Reported { lines, .. } = e {
            framing.info(lines, out);
        }
        if let CmdError::Coded { prefix, code, text, .. } = e {
            return framing.error_report(prefix, cmee, *code, text, out);
        }
        match e.cme_code() {
            Some(c) => framing.cme(cmee, c.code(), c.text(), out),
            None => framing.result(ResultCode::Error, out),
        }
    }

    /// Port `p`'s line is over: the URCs it raised go to it; a restart or a power-off it
    /// asked for happens now.
    fn after_line(&mut self, p: PortId) {
        self.take_ctx_urcs(Some(p));
        self.power_request();
    }

    /// Time passed for port `p`'s line: a delayed answer, an override's answer, the
    /// online escape's guard time.
    pub(super) fn line_timeout(&mut self, p: PortId, now: Instant) {
        let port = &mut self.ports[p];
        if let Active::Delayed { at, resume } = port.active
            && at <= now
        {
            port.active = Active::Idle;
            self.focus(p);
            let res = resume(&mut self.ctx);
            self.resume(p, "timed answer", res);
            return;
        }
        if matches!(&port.active, Active::Overridden { at, .. } if *at <= now)
            && let Active::Overridden { spec, .. } = std::mem::replace(&mut port.active, Active::Idle)
        {
            self.focus(p);
            if self.override_answer(p, &spec) {
                self.advance(p);
            }
            return;
        }
        if let Active::Online { job, esc, .. } = &mut port.active {
            let (job, mut data) = (*job, Vec::new());
            let escaped = esc.fire(now, &mut data);
            self.online_data(job, data);
            if escaped {
                info!(job, "escape sequence: back to command state, the connection stays");
                self.leave_online(p);
                self.ports[p].suspended = Some(job);
                let framing = self.framing(p);
                framing.result(ResultCode::Ok, &mut self.ports[p].out);
            }
        }
    }

    /// Port `p` back to command state from the online data state.
    pub(super) fn leave_online(&mut self, p: PortId) {
        if let Active::Online { job, esc, .. } = &mut self.ports[p].active {
            let (job, mut held) = (*job, Vec::new());
            esc.flush(&mut held);
            self.online_data(job, held);
            self.ports[p].active = Active::Idle;
            self.ctx.online.remove(&job);
        }
        self.ports[p].ld.reset();
    }

    /// Payload of the online data state for its job (nothing when empty).
    fn online_data(&mut self, job: JobId, data: Vec<u8>) {
        if !data.is_empty() {
            self.ctx.jobs.send(job, JobInput::Data(data));
        }
    }

    /// Lines waiting on a job, or the online state with one, whose job was stopped
    /// (a restart of the service, coverage lost): the line ends, the state is left.
    pub(super) fn check_orphans(&mut self) {
        for p in 0..self.ports.len() {
            match self.ports[p].active {
                Active::Wait(id) if !self.ctx.jobs.is_running(id) => {
                    self.ports[p].active = Active::Idle;
                    self.resume(p, "job", Err(CmdError::Refused("the job was stopped")));
                }
                Active::Online { job, .. } if !self.ctx.jobs.is_running(job) => {
                    info!(job, "the online connection is gone");
                    self.leave_online(p);
                    let framing = self.framing(p);
                    framing.result(ResultCode::NoCarrier, &mut self.ports[p].out);
                }
                _ => {}
            }
        }
    }
}

fn sreg_number(name: &str) -> Option<usize> {
    let digits = name.strip_prefix('S')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn dispatch(ctx: &mut Ctx, inv: &QueuedInvocation) -> Result<Reply, CmdError> {
    let args = Args::parse(&inv.args)?;
    if let Some(n) = sreg_number(&inv.name) {
        return settings::s_register(ctx, n, inv.form, args);
    }
    let spec = ctx
        .catalog
        .lookup(&inv.name)
        .filter(|s| s.exists_on(&ctx.profile))
        .ok_or_else(|| CmdError::Unknown(inv.name.clone()))?;
    let unknown = || CmdError::Unknown(format!("{} ({:?} form)", inv.name, inv.form));
    if !spec.has(inv.form) {
        return Err(unknown());
    }
    if spec.needs_sim {
        ctx.net.require_sim()?;
    }
    if let (Form::Test, Some(text)) = (inv.form, spec.test_text) {
        return Ok(if text.is_empty() { Reply::ok() } else { Reply::line(text) });
    }
    let handler = spec.handler(inv.form).ok_or_else(unknown)?;
    handler(ctx, args.with_name(spec.name))
}
