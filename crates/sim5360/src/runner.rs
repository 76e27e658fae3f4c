//! The async pump: the only place that awaits. It moves bytes between a transport and a
//! [`Modem`], sleeps until the modem's next timer, paces the line when asked, and records
//! the trace.

use crate::modem::Modem;
use crate::transport::pace::Pacer;
use crate::transport::trace::{Dir, Trace, TraceSession};
use std::io;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

/// Output gathered from the modem before one write.
const WRITE_BATCH: usize = 64 * 1024;

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The DTE side closed (EOF, TCP close, device gone).
    HangUp,
    /// The process was asked to stop.
    Shutdown,
}

/// Per-session options.
pub struct Session {
    pub pace: bool,
    pub trace: Option<(Arc<Trace>, TraceSession)>,
    /// Called after the answer to `AT+IPR=<rate>` has been written, with the new rate.
    pub on_baud: Option<Box<dyn FnMut(u32) + Send>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("pace", &self.pace).finish_non_exhaustive()
    }
}

impl Session {
    pub fn plain() -> Self {
        Self { pace: false, trace: None, on_baud: None }
    }
}

/// Resolves once `stop` is true (never, if its sender is gone without saying so).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

fn is_hangup(e: &io::Error) -> bool {
    // EIO is what a tty master or a vanished serial device reports.
    matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof)
        || e.raw_os_error() == Some(libc::EIO)
}

/// Run `modem` over `io` until hang-up or `stop` turns true.
pub async fn run<R, W>(
    mut rd: R,
    mut wr: W,
    mut modem: Modem,
    mut s: Session,
    mut stop: watch::Receiver<bool>,
) -> io::Result<End>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    let mut out = Vec::with_capacity(WRITE_BATCH);
    let mut tx_pace = Pacer::default();
    let mut rx_pace = Pacer::default();
    let mut baud = modem.baud();
    let result = loop {
        // Everything the modem has to say goes out before more input is read.
        loop {
            out.clear();
            while out.len() < WRITE_BATCH {
                match modem.poll_transmit() {
                    Some(chunk) => out.extend_from_slice(&chunk),
                    None => break,
                }
            }
            if out.is_empty() {
                break;
            }
            if let Some((t, ts)) = s.trace.as_mut() {
                t.record(ts, Dir::Out, &out);
            }
            let written = if s.pace {
                let mut r = Ok(());
                for piece in out.chunks(Pacer::chunk(baud)) {
                    tx_pace.wait(piece.len(), baud).await;
                    r = wr.write_all(piece).await;
                    if r.is_err() {
                        break;
                    }
                }
                r
            } else {
                wr.write_all(&out).await
            };
            match written.and(wr.flush().await) {
                Ok(()) => {}
                Err(e) if is_hangup(&e) => return Ok(End::HangUp),
                Err(e) => return Err(e),
            }
        }
        if modem.baud() != baud {
            baud = modem.baud();
            if let Some(f) = s.on_baud.as_mut() {
                f(baud);
            }
        }
        let deadline = modem.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) => break End::HangUp,
                Ok(n) => {
                    if s.pace {
                        rx_pace.wait(n, baud).await;
                    }
                    if let Some((t, ts)) = s.trace.as_mut() {
                        t.record(ts, Dir::In, &buf[..n]);
                    }
                    modem.handle_input(&buf[..n], std::time::Instant::now());
                }
                Err(e) if is_hangup(&e) => break End::HangUp,
                Err(e) => return Err(e),
            },
            _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {
                modem.handle_timeout(std::time::Instant::now());
            }
            () = stopped(&mut stop) => break End::Shutdown,
        }
    };
    if let Some((t, ts)) = s.trace.as_mut() {
        t.flush(ts);
    }
    Ok(result)
}
