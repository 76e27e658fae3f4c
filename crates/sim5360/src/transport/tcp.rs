//! `--tcp ADDR:PORT`: every connection is one DTE talking to a freshly powered-on modem
//! (same EFS and NV); closing the connection ends that session only.

use crate::modem::Modem;
use crate::runner::{self, SessionOptions};
use anyhow::{Context, Result};
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

/// `ADDR:PORT`, or a bare port on 127.0.0.1.
pub fn parse_addr(addr: &str) -> Result<SocketAddr> {
    match addr.parse::<u16>() {
        Ok(port) => Ok(SocketAddr::from(([127, 0, 0, 1], port))),
        Err(_) => addr.parse().with_context(|| format!("--tcp {addr}: expected ADDR:PORT or PORT")),
    }
}

/// Bind the listener; a non-loopback address is a warning (anyone who reaches it can use
/// the modem's Internet access).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    if !addr.ip().is_loopback() {
        warn!("listening on {addr}: anyone who can reach it can use this modem's Internet access");
        eprintln!("sim5360: warning: {addr} is not a loopback address; anyone who reaches it can use the modem");
    }
    TcpListener::bind(addr).await.with_context(|| format!("bind {addr}"))
}

/// Serve connections until `stop`: the first gets `first`, each later one a modem from
/// `power_on`, each its own session options from `session`.
pub async fn serve(
    listener: TcpListener,
    first: Modem,
    power_on: impl Fn() -> Result<Modem>,
    session: impl Fn() -> SessionOptions,
    stop: watch::Receiver<bool>,
) -> Result<()> {
    let mut first = Some(first);
    let mut stop_accept = stop.clone();
    loop {
        let (sock, peer) = tokio::select! {
            r = listener.accept() => r?,
            () = runner::stopped(&mut stop_accept) => return Ok(()),
        };
        let _ = sock.set_nodelay(true);
        let modem = match first.take() {
            Some(m) => m,
            None => match power_on() {
                Ok(m) => m,
                Err(e) => {
                    warn!("cannot power on a modem for {peer}: {e:#}");
                    continue;
                }
            },
        };
        let options = session();
        let stop = stop.clone();
        info!("DTE connected from {peer}");
        tokio::spawn(async move {
            let (rd, wr) = sock.into_split();
            match runner::run(rd, wr, modem, options, stop).await {
                Ok(end) => info!("DTE {peer}: {end:?}"),
                Err(e) => warn!("DTE {peer}: {e}"),
            }
        });
    }
}
