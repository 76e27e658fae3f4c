//! The module's Internet services. Each folder holds one service: its state and flow
//! (`mod.rs`), its command rows and handlers (`commands.rs`), pure protocol parsing
//! (`codec.rs`) and the async dialogue with the real server (`job.rs`). Jobs run in the
//! runner; their events come back to the core through [`crate::modem::JobSink`]s.

pub mod cache;
pub mod ftp;
pub mod gnss;
pub mod http;
pub mod https;
pub mod net;
pub mod outcome;
pub mod pop3;
pub mod smtp;
pub mod time;

use crate::modem::{JobEvent, JobId, JobInput, Protocol};
use std::marker::PhantomData;
use std::sync::Arc;
use tokio::sync::{Notify, mpsc};

/// A job's link to the core, as the runner makes it (untyped; a job sees it as a
/// [`JobIo`] of its protocol).
#[derive(Debug)]
pub struct JobLink {
    pub id: JobId,
    events: mpsc::Sender<(JobId, JobEvent)>,
    input: mpsc::Receiver<JobInput>,
    /// Told each time the job takes an input, so the runner moves more to it.
    room: Arc<Notify>,
    pub net: Arc<net::NetConfig>,
}

impl JobLink {
    pub fn new(
        id: JobId,
        events: mpsc::Sender<(JobId, JobEvent)>,
        input: mpsc::Receiver<JobInput>,
        room: Arc<Notify>,
        net: Arc<net::NetConfig>,
    ) -> Self {
        Self { id, events, input, room, net }
    }
}

/// An input as a job of protocol `Op` sees it.
#[derive(Debug)]
pub enum Input<Op> {
    Data(Vec<u8>),
    End,
    Op(Op),
    Close,
}

/// A job's typed link to the core: it reports its protocol's steps and result, and takes
/// its protocol's operations.
#[derive(Debug)]
pub struct JobIo<P: Protocol> {
    link: JobLink,
    pub net: Arc<net::NetConfig>,
    _p: PhantomData<fn() -> P>,
}

impl<P: Protocol> JobIo<P> {
    pub fn new(link: JobLink) -> Self {
        let net = link.net.clone();
        Self { link, net, _p: PhantomData }
    }

    async fn send(&self, ev: JobEvent) -> bool {
        self.link.events.send((self.link.id, ev)).await.is_ok()
    }

    /// Payload bytes; false once the core is gone (the session ended).
    pub async fn data(&self, data: Vec<u8>) -> bool {
        self.send(JobEvent::Data(data)).await
    }

    /// Ready for upload data.
    pub async fn ready(&self) -> bool {
        self.send(JobEvent::ReadyForInput).await
    }

    /// One operation of a session finished.
    pub async fn step(&self, result: Result<P::Step, P::Error>) -> bool {
        self.send(JobEvent::Step(Box::new(result))).await
    }

    /// The job is over.
    pub async fn done(self, result: Result<(), P::Error>) {
        self.send(JobEvent::Done(Box::new(result))).await;
    }

    /// Next input from the core; `None` once the core is gone.
    pub async fn recv(&mut self) -> Option<Input<P::Op>> {
        loop {
            let input = self.link.input.recv().await;
            self.link.room.notify_one();
            return Some(match input? {
                JobInput::Data(d) => Input::Data(d),
                JobInput::End => Input::End,
                JobInput::Close => Input::Close,
                JobInput::Op { op, label } => match op.downcast::<P::Op>() {
                    Ok(op) => Input::Op(*op),
                    Err(_) => {
                        tracing::error!("job {}: an operation of another service ({label}) ignored", self.link.id);
                        continue;
                    }
                },
            });
        }
    }
}
