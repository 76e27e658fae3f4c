//! The module's file system (EFS): drives `C:` (flash) and `D:` (SD card) kept in a
//! [`Store`], the current directory, and the FS*/CFTRAN* commands.
//!
//! Flow: every path the DTE gives is parsed into an [`EfsPath`] against the current
//! directory (which cannot leave its drive), then handed to the store, which stages
//! writes and enforces capacity.

mod commands;
pub mod path;
pub mod store;

pub use commands::COMMANDS;
pub use path::{Drive, EfsPath};
pub use store::{HostStore, MemStore, Meta, StagedFile, Store};

use std::io;
use thiserror::Error;

/// Why the file system refused.
#[derive(Debug, Error)]
pub enum EfsError {
    #[error("invalid path: {0}")]
    InvalidPath(&'static str),
    #[error("no such file or directory")]
    NotFound,
    #[error("already exists")]
    AlreadyExists,
    #[error("not a directory")]
    NotADirectory,
    #[error("is a directory")]
    IsADirectory,
    #[error("directory not empty")]
    NotEmpty,
    #[error("not enough free space")]
    NoSpace,
    #[error("host I/O: {0}")]
    Io(io::Error),
}

impl From<io::Error> for EfsError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::StorageFull => EfsError::NoSpace,
            _ => EfsError::Io(e),
        }
    }
}

/// Folders a SIM5360 has out of the box.
pub const DEFAULT_FOLDERS: &[&str] = &["C:/Picture", "C:/Video", "C:/VideoCall", "C:/Audio", "C:/Email"];

fn ensure_dir(store: &mut dyn Store, p: &EfsPath) -> Result<(), EfsError> {
    match store.mkdir(p) {
        Ok(()) | Err(EfsError::AlreadyExists) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The file system as the command handlers see it.
#[derive(Debug)]
pub struct Efs {
    pub store: Box<dyn Store>,
    pub cwd: EfsPath,
    /// `AT+FSLOCA`: 0 = local flash `C:`, 1 = SD card `D:`.
    pub loca: u8,
}

impl Efs {
    /// Wrap a store, creating the default folders where missing.
    pub fn new(mut store: Box<dyn Store>) -> Result<Self, EfsError> {
        let root = EfsPath::root(Drive::C);
        for f in DEFAULT_FOLDERS {
            ensure_dir(store.as_mut(), &EfsPath::parse(f, &root)?)?;
        }
        Ok(Self { store, cwd: root, loca: 0 })
    }

    /// Create folder `p` unless it is there already.
    pub fn ensure_dir(&mut self, p: &EfsPath) -> Result<(), EfsError> {
        ensure_dir(self.store.as_mut(), p)
    }

    /// Parse a DTE path relative to the current directory.
    pub fn resolve(&self, s: &str) -> Result<EfsPath, EfsError> {
        EfsPath::parse(s, &self.cwd)
    }
}
