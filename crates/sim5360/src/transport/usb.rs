//! `--usb`: the module's USB interface set as pseudo-terminals.
//!
//! On USB a SIM5360 (05c6:9000) is a composite device; Linux's `option` driver marks
//! interfaces 0-3 as serial ports and reserves interface 4 (the network interface, no
//! tty), so with nothing else attached they become `ttyUSB0`..`ttyUSB3`:
//!
//! | if | role | here |
//! |----|------|------|
//! | 0 | diagnostics (Qualcomm DM) | opened and drained; it answers nothing (QCDM is out of scope) |
//! | 1 | NMEA | the GNSS sentences while `AT+CGPS=1` runs, as the UART view's NMEA port |
//! | 2 | AT | an AT port |
//! | 3 | modem | an AT port that also dials data calls |
//!
//! Each gets a stable link named after its role (`<base>-diag`, `-nmea`, `-at`, `-modem`)
//! and is announced in interface order, so `ttyUSB<n>` of a real host maps to the link
//! of interface `n`.

use super::fd::FdStream;
use super::pty::Pty;
use crate::modem::PortRole;
use std::io;
use std::path::{Path, PathBuf};

/// One interface of the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsbIf {
    Diag,
    Nmea,
    At,
    Modem,
}

impl UsbIf {
    /// Every interface that has a tty, in the `option` driver's order.
    pub const ALL: [UsbIf; 4] = [Self::Diag, Self::Nmea, Self::At, Self::Modem];

    /// The USB interface number (and the `ttyUSB<n>` it becomes on a host with nothing
    /// else attached).
    pub fn number(self) -> u8 {
        match self {
            Self::Diag => 0,
            Self::Nmea => 1,
            Self::At => 2,
            Self::Modem => 3,
        }
    }

    /// Its name in links, ready lines and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Diag => "diag",
            Self::Nmea => "nmea",
            Self::At => "at",
            Self::Modem => "modem",
        }
    }

    /// The AT port it is to the module, if it takes commands.
    pub fn role(self) -> Option<PortRole> {
        match self {
            Self::At => Some(PortRole::UsbAt),
            Self::Modem => Some(PortRole::UsbModem),
            Self::Diag | Self::Nmea => None,
        }
    }
}

/// The AT ports of the USB view, in the order the core numbers them.
pub const AT_PORTS: [PortRole; 2] = [PortRole::UsbAt, PortRole::UsbModem];

/// `base` with `-<suffix>` appended (`ttySIM5360` -> `ttySIM5360-at`).
pub fn link_for(base: &Path, suffix: &str) -> PathBuf {
    let mut s = base.to_path_buf().into_os_string();
    s.push("-");
    s.push(suffix);
    PathBuf::from(s)
}

/// One opened interface: its PTY (and link) and the module's side of it.
#[derive(Debug)]
pub struct UsbPort {
    pub interface: UsbIf,
    pub pty: Pty,
    pub stream: FdStream,
}

/// Open the interface set as PTYs at `baud`, each with the link `<base>-<name>` when a
/// base is given; without `nmea`, no NMEA interface.
pub fn open(base: Option<&Path>, baud: u32, nmea: bool) -> io::Result<Vec<UsbPort>> {
    UsbIf::ALL
        .into_iter()
        .filter(|i| nmea || *i != UsbIf::Nmea)
        .map(|interface| {
            let link = base.map(|b| link_for(b, interface.name()));
            let (pty, stream) = Pty::open(baud, link.as_deref())?;
            Ok(UsbPort { interface, pty, stream })
        })
        .collect()
}
