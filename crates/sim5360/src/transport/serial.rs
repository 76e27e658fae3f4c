//! A real serial device (`/dev/ttyUSB0`, `/dev/ttyS1`, one end of a null-modem pair).

use super::fd::FdStream;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;
use std::io;
use std::path::Path;

/// Open `dev` raw 8N1 at `baud`.
pub fn open_serial(dev: &Path, baud: u32) -> io::Result<FdStream> {
    let fd = open(dev, OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("{}: {e}", dev.display())))?;
    super::make_raw(&fd, baud).map_err(|e| io::Error::other(format!("{}: not a terminal: {e}", dev.display())))?;
    FdStream::new(fd)
}
