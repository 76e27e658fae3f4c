//! The call job: the DTE's bytes into the PPP engine, IP packets between the engine and
//! the NAT, the engine's frames back to the DTE, until PPP is down.

use super::nat::{Done, Nat};
use super::{CallEnd, CallOp, Counters, DNS, Ppp, PppStep};
use crate::job::{Input, JobIo};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tokio::sync::{Notify, mpsc};

/// What one call is set up with.
#[derive(Debug)]
pub struct CallJob {
    pub link: ppp::Config,
    pub alias: Ipv4Addr,
    pub counters: Arc<Counters>,
}

/// Bytes for the DTE gathered into one event at most.
const OUT_BATCH: usize = 64 * 1024;

pub async fn run(job: CallJob, io: JobIo<Ppp>) {
    let net = io.net.clone();
    let (tx, mut rx) = io.split();
    let mut engine = ppp::Engine::new(job.link.clone(), Instant::now());
    let wake = Arc::new(Notify::new());
    let (done_tx, mut done_rx) = mpsc::channel::<Done>(64);
    let mut nat = Nat::new(job.link.peer_addr, job.alias, DNS, net, done_tx, wake.clone(), job.counters.clone());
    let counters = job.counters;
    // Frames for the DTE not yet handed to the core.
    let mut out: Vec<u8> = Vec::new();
    loop {
        let now = Instant::now();
        while let Some(ev) = engine.poll_event() {
            match ev {
                ppp::Event::Up { addr, .. } => {
                    if !tx.step(Ok(PppStep::Up { addr })).await {
                        return;
                    }
                }
                ppp::Event::Down(reason) => {
                    // The last frames (a Terminate-Ack) go before the end.
                    out.extend(engine.poll_output().unwrap_or_default());
                    if !out.is_empty() && !tx.data(std::mem::take(&mut out)).await {
                        return;
                    }
                    *counters.phase.lock().unwrap_or_else(|e| e.into_inner()) = "dead";
                    tx.done(Err(CallEnd::from(reason))).await;
                    return;
                }
            }
        }
        while let Some(p) = engine.poll_ip() {
            nat.from_dte(&p, now);
        }
        nat.poll(now);
        while engine.ready_for_ip() {
            let Some(p) = nat.to_dte() else { break };
            engine.send_ip(&p);
        }
        if out.len() < OUT_BATCH
            && let Some(more) = engine.poll_output()
        {
            out.extend_from_slice(&more);
        }
        let stats = engine.stats();
        counters.bytes_in.store(stats.bytes_in, Ordering::Relaxed);
        counters.bytes_out.store(stats.bytes_out, Ordering::Relaxed);
        *counters.phase.lock().unwrap_or_else(|e| e.into_inner()) = engine.phase().as_str();
        let deadline = [engine.poll_timeout(), nat.poll_at(now)].into_iter().flatten().min();
        let mut hung_up = false;
        // Work that is ready goes first (biased), so the frames of everything it yields
        // leave together: fewer, larger writes to the DTE's port. A full batch waits for
        // nothing but the core.
        let more = out.len() < OUT_BATCH;
        tokio::select! {
            biased;
            input = rx.recv(), if more => match input {
                Some(Input::Data(d)) => engine.input(&d, Instant::now()),
                Some(Input::Close) => engine.close(Instant::now()),
                Some(Input::Op(CallOp::HangUp)) => hung_up = true,
                Some(Input::End) => {}
                None => return,
            },
            () = wake.notified(), if more => {}
            Some(d) = done_rx.recv(), if more => nat.on_done(d, Instant::now()),
            room = tx.reserve(), if !out.is_empty() => match room {
                Some(room) => room.data(std::mem::take(&mut out)),
                None => return,
            },
            () = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                    None => std::future::pending().await,
                }
            } => engine.handle_timeout(Instant::now()),
        }
        if hung_up {
            *counters.phase.lock().unwrap_or_else(|e| e.into_inner()) = "dead";
            tx.done(Err(CallEnd::Closed)).await;
            return;
        }
    }
}
