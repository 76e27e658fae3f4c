//! The core's side of jobs and offloaded work: what the runner starts and stops, the
//! inputs it moves to the jobs, the events it brings back (each to its job's typed sink,
//! on behalf of the port the job belongs to), and work run off the core's thread.

use super::port::{Active, PortId};
use super::{Modem, Offload, Resume, Urc, WorkId, jobs};
use crate::job::{JobEvent, JobId, JobInput, JobSpec};
use std::any::Any;
use std::time::Instant;
use tracing::debug;

impl Modem {
    /// A job to start, if any (the runner spawns it).
    pub fn poll_job(&mut self) -> Option<(JobId, JobSpec)> {
        self.ctx.jobs.to_start.pop_front()
    }

    /// A job to stop, if any.
    pub fn poll_job_abort(&mut self) -> Option<JobId> {
        self.ctx.jobs.to_abort.pop()
    }

    /// Jobs that may have input for [`Modem::poll_job_input`].
    pub fn jobs_with_input(&self) -> Vec<JobId> {
        self.ctx.jobs.with_input()
    }

    /// The next input for job `id` (upload data, session operations), if any: from its
    /// queue, else from its sink (an EFS file being uploaded).
    pub fn poll_job_input(&mut self, id: JobId) -> Option<JobInput> {
        if let Some(input) = self.ctx.jobs.pop_input(id) {
            // Room was made: an upload held back for this job may go on.
            self.process_rx();
            return Some(input);
        }
        if !self.ctx.jobs.pulling(id) {
            return None;
        }
        let mut sink = self.ctx.jobs.take_sink(id)?;
        match sink.pull(&mut self.ctx) {
            None => {
                self.ctx.jobs.put_sink(id, sink);
                None
            }
            Some(Ok(input)) => {
                self.ctx.jobs.put_sink(id, sink);
                if matches!(input, JobInput::End) {
                    self.ctx.jobs.set_pulling(id, false);
                }
                Some(input)
            }
            Some(Err(stopped)) => {
                let to = self.port_of_job(id);
                self.stop_job(id, to, sink, stopped);
                None
            }
        }
    }

    /// The core ends job `id` with `result` (its sink refused data or could not supply it).
    fn stop_job(&mut self, id: JobId, to: Option<PortId>, sink: Box<dyn jobs::AnySink>, result: Box<dyn Any + Send>) {
        self.ctx.jobs.to_abort.push(id);
        self.ctx.jobs.ended(id);
        let mut urcs = Vec::new();
        let resume = sink.done(&mut self.ctx, result, &mut urcs);
        self.finish_event(id, to, urcs, resume);
    }

    /// Queue a job event's URCs for port `to` and resume the line waiting on the job, if
    /// any.
    fn finish_event(&mut self, id: JobId, to: Option<PortId>, urcs: Vec<Urc>, resume: Resume) {
        for u in urcs {
            self.route(u, to);
        }
        self.take_ctx_urcs(to);
        if let Some(res) = resume {
            let waiting =
                self.ports.iter().position(|p| matches!(p.active, Active::Upload(w) | Active::Wait(w) if w == id));
            match waiting {
                Some(p) if matches!(self.ports[p].active, Active::Upload(_)) => {
                    // The job ended while the DTE is still sending: swallow the rest.
                    self.ports[p].active = Active::Drain(res);
                }
                Some(p) => {
                    self.ports[p].active = Active::Idle;
                    self.resume(p, "job", res);
                }
                None => debug!(id, "job result with no command waiting"),
            }
        }
        self.process_rx();
    }

    /// Jobs whose events must wait (their sink says so: a receive cache full until the
    /// DTE reads it). Only those are held back, so the others go on meanwhile.
    pub fn paused_jobs(&self) -> Vec<JobId> {
        self.ctx
            .jobs
            .sinks()
            .filter(|(id, s)| s.paused(&self.ctx, self.frames.held_bytes(*id)))
            .map(|(id, _)| id)
            .collect()
    }

    /// An event from job `id`, to its sink now (after its radio frame, see `frames.rs`).
    pub(super) fn deliver_job_event(&mut self, id: JobId, ev: JobEvent) {
        let to = self.port_of_job(id);
        if let Some(p) = to {
            // What its sink starts (a server's accepted link) belongs to the same port.
            self.focus(p);
        }
        let Some(mut sink) = self.ctx.jobs.take_sink(id) else {
            debug!(id, "event for a finished job ignored");
            return;
        };
        let mut urcs = Vec::new();
        let mut resume = None;
        match ev {
            JobEvent::Data(d) => {
                if let Err(stopped) = sink.data(&mut self.ctx, d, &mut urcs) {
                    for u in urcs {
                        self.route(u, to);
                    }
                    return self.stop_job(id, to, sink, stopped);
                }
            }
            JobEvent::ReadyForInput => match sink.ready(&mut self.ctx) {
                jobs::InputSource::Sink => self.ctx.jobs.set_pulling(id, true),
                jobs::InputSource::Dte { prompt } => {
                    if let Some(p) = self.ports.iter().position(|p| matches!(p.active, Active::Wait(w) if w == id)) {
                        let framing = self.framing(p);
                        let port = &mut self.ports[p];
                        framing.info(&[prompt], &mut port.out);
                        port.active = Active::Upload(id);
                        port.ld.expect_stream(false);
                    }
                }
            },
            JobEvent::Step(r) => resume = sink.step(&mut self.ctx, r, &mut urcs),
            JobEvent::Done(r) => {
                self.ctx.jobs.ended(id);
                let resume = sink.done(&mut self.ctx, r, &mut urcs);
                if let Some(p) = self.ports.iter().position(|p| p.online_job() == Some(id)) {
                    // The connection is gone: command state (the sink said how it ended).
                    self.leave_online(p);
                }
                return self.finish_event(id, to, urcs, resume);
            }
        }
        self.ctx.jobs.put_sink(id, sink);
        self.finish_event(id, to, urcs, resume);
    }

    /// Jobs that packet service going has ended: their sinks get the network error (the
    /// line waiting on one resumes with it), and the runner stops them.
    pub(super) fn end_lost_jobs(&mut self) {
        let lost = std::mem::take(&mut self.ctx.jobs.lost);
        for (id, ev) in lost {
            // What the network delivered before it went comes first.
            self.flush_frame(id);
            self.deliver_job_event(id, ev);
            self.ctx.jobs.to_abort.push(id);
        }
    }

    /// Blocking work to run off the core's thread, if any: one at a time, in order; its
    /// result goes to [`Modem::handle_offload_done`].
    pub fn poll_offload(&mut self) -> Option<(WorkId, Offload)> {
        self.ctx.jobs.to_offload.pop_front()
    }

    /// Offloaded work `id` finished with `result`.
    pub fn handle_offload_done(&mut self, id: WorkId, result: Box<dyn Any + Send>, now: Instant) {
        self.ctx.now = now;
        if let Some((then, origin)) = self.ctx.jobs.take_continuation(id) {
            let waiting = self.ports.iter().position(|p| matches!(p.active, Active::Offloaded(w) if w == id));
            let to = waiting.or(Some(origin));
            if let Some(p) = to {
                self.focus(p);
            }
            let mut urcs = Vec::new();
            let resume = then(&mut self.ctx, result, &mut urcs);
            for u in urcs {
                self.route(u, to);
            }
            self.take_ctx_urcs(to);
            if let (Some(res), Some(p)) = (resume, waiting) {
                self.ports[p].active = Active::Idle;
                self.resume(p, "offloaded", res);
            }
        }
        self.process_rx();
    }

    /// Run every offloaded work item here and now (transcripts, fuzzing, and the last
    /// writes at a clean stop when no runtime is left).
    #[doc(hidden)]
    pub fn run_offloads_inline(&mut self) {
        while let Some((id, work)) = self.poll_offload() {
            let r = (work.work)();
            self.handle_offload_done(id, r, self.ctx.now);
        }
    }

    /// A scripted event for job `id`, in its protocol's words (transcripts): `step ok
    /// [TEXT]`, `step <error>`, `done ok`, `done <error>`.
    #[doc(hidden)]
    #[cfg(any(test, feature = "scripted"))]
    pub fn script_job_event(&self, id: JobId, verb: &str, text: &str) -> Result<JobEvent, String> {
        let sink = self.ctx.jobs.sink(id).ok_or(format!("job {id} is not running"))?;
        sink.script(verb, text)
    }

    /// An event for job `id` made from fuzz input, typed by its sink.
    #[doc(hidden)]
    #[cfg(any(test, feature = "scripted"))]
    pub fn fuzz_job_event(&self, id: JobId, kind: u8, data: &[u8]) -> Option<JobEvent> {
        Some(self.ctx.jobs.sink(id)?.fuzz(kind, data))
    }

    /// Jobs whose sinks are alive (fuzzing).
    #[doc(hidden)]
    #[cfg(any(test, feature = "scripted"))]
    pub fn running_jobs(&self) -> Vec<JobId> {
        self.ctx.jobs.sinks().map(|(id, _)| id).collect()
    }
}
