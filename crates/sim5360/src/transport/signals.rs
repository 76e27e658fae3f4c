//! SIGINT, SIGTERM and SIGHUP stop every session and exit 0 (the PTY's symlink removed).
//! They are registered at creation, before anything is announced, so a signal that comes
//! right after the announcement still finds them.

use anyhow::{Context, Result};
use tracing::info;

/// The three signals, registered.
#[derive(Debug)]
pub struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn install() -> Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            int: signal(SignalKind::interrupt()).context("SIGINT handler")?,
            term: signal(SignalKind::terminate()).context("SIGTERM handler")?,
            hup: signal(SignalKind::hangup()).context("SIGHUP handler")?,
        })
    }

    /// Resolves at the first of them.
    pub async fn wait(mut self) {
        tokio::select! {
            _ = self.int.recv() => info!("SIGINT"),
            _ = self.term.recv() => info!("SIGTERM"),
            _ = self.hup.recv() => info!("SIGHUP"),
        }
    }
}
