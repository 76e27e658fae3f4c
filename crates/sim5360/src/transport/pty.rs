//! A pseudo-terminal standing in for the module's UART. The DTE opens the slave side
//! (`/dev/pts/N`, or the stable symlink); the modem talks on the master side.
//!
//! The modem keeps its own handle on the slave open, so a DTE can close and reopen the
//! port (as a terminal program or a test script does) without the modem seeing a hang-up:
//! a real module stays powered when the host closes its serial port.

use super::fd::FdStream;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// The PTY pair and its symlink (removed on drop).
#[derive(Debug)]
pub struct Pty {
    pub path: PathBuf,
    slave: OwnedFd,
    link: Option<PathBuf>,
}

impl Pty {
    /// Create a raw PTY at `baud`; point `link` at it if given.
    pub fn open(baud: u32, link: Option<&Path>) -> io::Result<(Self, FdStream)> {
        let pair = nix::pty::openpty(None, None)?;
        super::make_raw(&pair.slave, baud)?;
        let path = nix::unistd::ttyname(&pair.slave)?;
        let link = match link {
            Some(l) => {
                replace_link(l, &path)?;
                Some(l.to_path_buf())
            }
            None => None,
        };
        let stream = FdStream::new(pair.master)?;
        Ok((Self { path, slave: pair.slave, link }, stream))
    }

    pub fn link(&self) -> Option<&Path> {
        self.link.as_deref()
    }

    /// A second descriptor of the reader's side, to see how much waits unread there and
    /// to drop it ([`unread`], [`drop_unread`]).
    pub fn reader_side(&self) -> io::Result<OwnedFd> {
        self.slave.try_clone()
    }
}

/// Bytes written to the PTY that its reader has not read yet, or None when the kernel does
/// not say.
pub fn unread(reader_side: &OwnedFd) -> Option<usize> {
    super::queued(reader_side, libc::TIOCINQ)
}

/// Drop what waits unread on the PTY (TCIFLUSH on the reader's side).
pub fn drop_unread(reader_side: &OwnedFd) -> io::Result<()> {
    Ok(nix::sys::termios::tcflush(reader_side, nix::sys::termios::FlushArg::TCIFLUSH)?)
}

impl Drop for Pty {
    fn drop(&mut self) {
        if let Some(l) = &self.link {
            // Remove only our own link: another instance may have replaced it since.
            if std::fs::read_link(l).is_ok_and(|t| t == self.path) {
                let _ = std::fs::remove_file(l);
            }
        }
    }
}

/// Make `link` a symlink to `target`, replacing an older symlink but never a real file.
fn replace_link(link: &Path, target: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(link) {
        Ok(m) if m.file_type().is_symlink() => std::fs::remove_file(link)?,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a symlink; refusing to replace it", link.display()),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(dir) = link.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    std::os::unix::fs::symlink(target, link)
}
