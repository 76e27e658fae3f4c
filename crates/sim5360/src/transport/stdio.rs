//! `--stdio`: the DTE on standard input/output; end of input ends the modem. An
//! interactive stdin is put in raw mode (so CR reaches the modem as CR) and restored.

use crate::modem::Modem;
use crate::runner::{self, End, SessionOptions};
use tokio::sync::watch;

/// Run `modem` on stdin/stdout until end of input or `stop`.
pub async fn serve(modem: Modem, options: SessionOptions, stop: watch::Receiver<bool>) -> std::io::Result<End> {
    let mut raw = StdinRaw::enable();
    let end = runner::run(tokio::io::stdin(), tokio::io::stdout(), modem, options, stop).await;
    raw.restore();
    end
}

/// Puts an interactive stdin in raw mode, and restores it.
struct StdinRaw(Option<nix::sys::termios::Termios>);

impl StdinRaw {
    fn enable() -> Self {
        let stdin = std::io::stdin();
        let Ok(saved) = nix::sys::termios::tcgetattr(&stdin) else { return Self(None) };
        let mut raw = saved.clone();
        nix::sys::termios::cfmakeraw(&mut raw);
        // Keep output post-processing so the terminal still shows our CR LF properly.
        raw.output_flags = saved.output_flags;
        match nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &raw) {
            Ok(()) => Self(Some(saved)),
            Err(_) => Self(None),
        }
    }

    fn restore(&mut self) {
        if let Some(t) = self.0.take() {
            let _ = nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSANOW, &t);
        }
    }
}

impl Drop for StdinRaw {
    fn drop(&mut self) {
        self.restore();
    }
}
