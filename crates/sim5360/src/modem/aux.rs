//! Auxiliary output ports: byte streams besides the AT port that a service produces (the
//! GNSS engine's NMEA port) and the runner writes to their own transport. Each is bounded:
//! what its reader does not take in time is dropped, as a UART into a reader that is not
//! listening would lose it; the AT port is never held back by one.

use std::collections::BTreeMap;

/// Bytes one port keeps for its reader before dropping new ones.
pub const PORT_MAX: usize = 64 * 1024;

/// Pending output per port name (part of `Ctx`).
#[derive(Debug, Default)]
pub struct AuxPorts {
    pending: BTreeMap<&'static str, Vec<u8>>,
    dropped: u64,
}

impl AuxPorts {
    /// Queue `data` for port `name`; dropped when the port already holds [`PORT_MAX`].
    pub fn write(&mut self, name: &'static str, data: &[u8]) {
        let buf = self.pending.entry(name).or_default();
        if buf.len() + data.len() > PORT_MAX {
            self.dropped += data.len() as u64;
            tracing::debug!(port = name, len = data.len(), "auxiliary port not read: output dropped");
            return;
        }
        buf.extend_from_slice(data);
    }

    /// Everything queued for port `name`.
    pub fn take(&mut self, name: &str) -> Option<Vec<u8>> {
        self.pending.remove(name).filter(|b| !b.is_empty())
    }

    /// Bytes dropped since power-on, on all ports.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}
