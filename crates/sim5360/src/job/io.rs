//! A job's link to the core: the runner gives each job a [`JobLink`] (its own bounded
//! event queue and input queue, tokio channels); the job sees it as a typed [`JobIo`] of
//! its protocol, or split in two ([`JobIo::split`]) when it reads and writes at once.

use super::{JobEvent, JobId, JobInput, Protocol};
use crate::net::NetConfig;
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
    pub net: Arc<NetConfig>,
}

impl JobLink {
    pub fn new(
        id: JobId,
        events: mpsc::Sender<(JobId, JobEvent)>,
        input: mpsc::Receiver<JobInput>,
        room: Arc<Notify>,
        net: Arc<NetConfig>,
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
    pub net: Arc<NetConfig>,
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
        next_input::<P>(self.link.id, &mut self.link.input, &self.link.room).await
    }

    /// The two directions apart, for a job that reads its server and takes input at the
    /// same time (a socket whose peer echoes: writing must never stop reading).
    pub fn split(self) -> (JobTx<P>, JobRx<P>) {
        let JobLink { id, events, input, room, net } = self.link;
        (JobTx { id, events, net, _p: PhantomData }, JobRx { id, input, room, _p: PhantomData })
    }
}

async fn next_input<P: Protocol>(
    id: JobId,
    input: &mut mpsc::Receiver<JobInput>,
    room: &Notify,
) -> Option<Input<P::Op>> {
    loop {
        let next = input.recv().await;
        room.notify_one();
        return Some(match next? {
            JobInput::Data(d) => Input::Data(d),
            JobInput::End => Input::End,
            JobInput::Close => Input::Close,
            JobInput::Op { op, label } => match op.downcast::<P::Op>() {
                Ok(op) => Input::Op(*op),
                Err(_) => {
                    tracing::error!("job {id}: an operation of another service ({label}) ignored");
                    continue;
                }
            },
        });
    }
}

/// What a split job reports to the core (see [`JobIo::split`]).
#[derive(Debug)]
pub struct JobTx<P: Protocol> {
    id: JobId,
    events: mpsc::Sender<(JobId, JobEvent)>,
    pub net: Arc<NetConfig>,
    _p: PhantomData<fn() -> P>,
}

impl<P: Protocol> Clone for JobTx<P> {
    fn clone(&self) -> Self {
        Self { id: self.id, events: self.events.clone(), net: self.net.clone(), _p: PhantomData }
    }
}

/// Room for one event of a split job's, taken with [`JobTx::reserve`].
#[derive(Debug)]
pub struct EventRoom<'a> {
    id: JobId,
    permit: mpsc::Permit<'a, (JobId, JobEvent)>,
}

impl EventRoom<'_> {
    /// Payload bytes, in the room reserved.
    pub fn data(self, data: Vec<u8>) {
        self.permit.send((self.id, JobEvent::Data(data)));
    }
}

impl<P: Protocol> JobTx<P> {
    /// Wait for room for one event (cancel-safe: dropped, nothing is taken); `None` once
    /// the core is gone. A job that must also read its inputs while it waits selects on
    /// this instead of awaiting [`JobTx::data`].
    pub async fn reserve(&self) -> Option<EventRoom<'_>> {
        Some(EventRoom { id: self.id, permit: self.events.reserve().await.ok()? })
    }

    async fn send(&self, ev: JobEvent) -> bool {
        self.events.send((self.id, ev)).await.is_ok()
    }

    /// Payload bytes; false once the core is gone.
    pub async fn data(&self, data: Vec<u8>) -> bool {
        self.send(JobEvent::Data(data)).await
    }

    /// One operation finished.
    pub async fn step(&self, result: Result<P::Step, P::Error>) -> bool {
        self.send(JobEvent::Step(Box::new(result))).await
    }

    /// The job is over.
    pub async fn done(self, result: Result<(), P::Error>) {
        self.send(JobEvent::Done(Box::new(result))).await;
    }
}

/// The inputs of a split job (see [`JobIo::split`]).
#[derive(Debug)]
pub struct JobRx<P: Protocol> {
    id: JobId,
    input: mpsc::Receiver<JobInput>,
    room: Arc<Notify>,
    _p: PhantomData<fn() -> P>,
}

impl<P: Protocol> JobRx<P> {
    /// Next input from the core; `None` once the core is gone.
    pub async fn recv(&mut self) -> Option<Input<P::Op>> {
        next_input::<P>(self.id, &mut self.input, &self.room).await
    }
}
