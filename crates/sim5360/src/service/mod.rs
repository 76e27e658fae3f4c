//! The module's Internet services. Each folder holds one service: its state and flow
//! (`mod.rs`), its command rows and handlers (`commands.rs`), pure protocol parsing
//! (`codec.rs`) and the async dialogue with the real server (`job.rs`). Jobs run in the
//! runner; their events come back to the core through [`crate::modem::JobSink`]s.

pub mod cache;
pub mod ftp;
pub mod http;
pub mod https;
pub mod net;
pub mod outcome;
pub mod pop3;
pub mod smtp;

use crate::modem::{JobId, JobInput, JobSpec, ServiceEvent};
use std::sync::Arc;
use tokio::sync::mpsc;

/// A job's link to the core, as the runner gives it.
#[derive(Debug)]
pub struct JobIo {
    pub id: JobId,
    events: mpsc::Sender<(JobId, ServiceEvent)>,
    input: mpsc::Receiver<JobInput>,
    pub net: Arc<net::NetConfig>,
}

impl JobIo {
    pub fn new(
        id: JobId,
        events: mpsc::Sender<(JobId, ServiceEvent)>,
        input: mpsc::Receiver<JobInput>,
        net: Arc<net::NetConfig>,
    ) -> Self {
        Self { id, events, input, net }
    }

    /// Send an event; false once the core is gone (the session ended).
    pub async fn send(&self, ev: ServiceEvent) -> bool {
        self.events.send((self.id, ev)).await.is_ok()
    }

    /// Next input from the core; `None` once the core is gone.
    pub async fn recv(&mut self) -> Option<JobInput> {
        self.input.recv().await
    }
}

/// Run one job to its end.
pub async fn run(spec: JobSpec, io: JobIo) {
    match spec {
        JobSpec::Ftp(job) => ftp::job::run(job, io).await,
        JobSpec::Http(job) => http::job::run(job, io).await,
        JobSpec::Smtp(job) => smtp::job::run(job, io).await,
        JobSpec::Pop3(job) => pop3::job::run(job, io).await,
    }
}
