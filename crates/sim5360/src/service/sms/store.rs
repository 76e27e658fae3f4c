//! The message storages: SM (the SIM), ME (the module) and SR (status reports), each a
//! fixed number of slots holding a message's status and its PDU (SMSC field and TPDU, as
//! PDU mode shows it; text mode is rendered from it, so both views agree). All of them are
//! kept as one JSON file in the state directory (`sms-store.json`), rewritten on each
//! change.

use super::pdu::{self, Address, Tpdu};
use serde::{Deserialize, Serialize};

/// A storage's name as the commands spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mem {
    SM,
    ME,
    /// SM then ME, as one (27.005 "MT"): indexes of SM, then those of ME after them.
    MT,
    SR,
}

impl Mem {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "SM" => Some(Self::SM),
            "ME" => Some(Self::ME),
            "MT" => Some(Self::MT),
            "SR" => Some(Self::SR),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::SM => "SM",
            Self::ME => "ME",
            Self::MT => "MT",
            Self::SR => "SR",
        }
    }
}

/// Message status (27.005 `<stat>`): received unread/read, stored unsent/sent.
pub const REC_UNREAD: u8 = 0;
pub const REC_READ: u8 = 1;
pub const STO_UNSENT: u8 = 2;
pub const STO_SENT: u8 = 3;

/// Text-mode status names, by number.
pub const STAT_NAMES: [&str; 5] = ["REC UNREAD", "REC READ", "STO UNSENT", "STO SENT", "ALL"];

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub stat: u8,
    /// The SMSC field and the TPDU, hex.
    #[serde(with = "hex_bytes")]
    pub pdu: Vec<u8>,
}

impl Stored {
    pub fn new(stat: u8, sca: Option<&Address>, tpdu: &[u8]) -> Self {
        Self { stat, pdu: pdu::with_smsc(sca, tpdu) }
    }

    /// The SMSC address and the decoded TPDU (a damaged one from an edited file is None).
    pub fn parts(&self) -> Option<(Option<Address>, Tpdu, usize)> {
        let (sca, tpdu) = pdu::split_smsc(&self.pdu).ok()?;
        let len = tpdu.len();
        Some((sca, Tpdu::decode(tpdu).ok()?, len))
    }

    /// TPDU octets (the `<length>` of PDU mode).
    pub fn tpdu_len(&self) -> usize {
        pdu::split_smsc(&self.pdu).map_or(0, |(_, t)| t.len())
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::pdu::to_hex(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        super::pdu::from_hex(s.as_bytes()).map_err(serde::de::Error::custom)
    }
}

/// One storage: `slots[i]` is index `i + 1`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Storage {
    pub slots: Vec<Option<Stored>>,
}

impl Storage {
    fn with_capacity(n: usize) -> Self {
        Self { slots: vec![None; n] }
    }

    pub fn used(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    pub fn total(&self) -> usize {
        self.slots.len()
    }

    /// Store in the lowest free index; None when full.
    pub fn add(&mut self, m: Stored) -> Option<usize> {
        let i = self.slots.iter().position(Option::is_none)?;
        self.slots[i] = Some(m);
        Some(i + 1)
    }
}

/// What is saved: each storage's messages with their indexes.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    #[serde(default)]
    sm: Vec<(usize, Stored)>,
    #[serde(default)]
    me: Vec<(usize, Stored)>,
    #[serde(default)]
    sr: Vec<(usize, Stored)>,
}

/// The three storages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stores {
    pub sm: Storage,
    pub me: Storage,
    pub sr: Storage,
}

/// NV key of the storages.
pub const NV_STORE: &str = "sms-store.json";

impl Stores {
    pub fn empty(sm: usize, me: usize, sr: usize) -> Self {
        Self { sm: Storage::with_capacity(sm), me: Storage::with_capacity(me), sr: Storage::with_capacity(sr) }
    }

    /// Load what `raw` holds into empty storages of these capacities. Messages beyond a
    /// capacity (the SIM capacity was lowered) are kept out and counted in the returned
    /// number, never silently merged.
    pub fn load(raw: &[u8], sm: usize, me: usize, sr: usize) -> Result<(Self, usize), serde_json::Error> {
        let saved: Saved = serde_json::from_slice(raw)?;
        let mut s = Self::empty(sm, me, sr);
        let mut dropped = 0;
        for (list, st) in [(saved.sm, &mut s.sm), (saved.me, &mut s.me), (saved.sr, &mut s.sr)] {
            for (i, m) in list {
                match st.slots.get_mut(i.wrapping_sub(1)) {
                    Some(slot @ None) => *slot = Some(m),
                    _ => dropped += 1,
                }
            }
        }
        Ok((s, dropped))
    }

    pub fn to_json(&self) -> Vec<u8> {
        let list = |st: &Storage| -> Vec<(usize, Stored)> {
            st.slots.iter().enumerate().filter_map(|(i, m)| m.clone().map(|m| (i + 1, m))).collect()
        };
        let saved = Saved { sm: list(&self.sm), me: list(&self.me), sr: list(&self.sr) };
        serde_json::to_vec_pretty(&saved).unwrap_or_default()
    }

    pub fn storage(&self, m: Mem) -> &Storage {
        match m {
            Mem::SM | Mem::MT => &self.sm,
            Mem::ME => &self.me,
            Mem::SR => &self.sr,
        }
    }

    /// Used and total slots of a memory (MT: SM and ME together).
    pub fn counts(&self, m: Mem) -> (usize, usize) {
        match m {
            Mem::MT => (self.sm.used() + self.me.used(), self.sm.total() + self.me.total()),
            _ => (self.storage(m).used(), self.storage(m).total()),
        }
    }

    /// The slot of `index` in memory `m` (MT: SM's indexes, then ME's).
    pub fn slot(&mut self, m: Mem, index: usize) -> Option<&mut Option<Stored>> {
        let i = index.checked_sub(1)?;
        match m {
            Mem::SM => self.sm.slots.get_mut(i),
            Mem::ME => self.me.slots.get_mut(i),
            Mem::SR => self.sr.slots.get_mut(i),
            Mem::MT => {
                let n = self.sm.slots.len();
                if i < n { self.sm.slots.get_mut(i) } else { self.me.slots.get_mut(i - n) }
            }
        }
    }

    /// Every used index of `m`, in order.
    pub fn indexes(&self, m: Mem) -> Vec<usize> {
        let of = |st: &Storage, base: usize| -> Vec<usize> {
            st.slots.iter().enumerate().filter(|(_, s)| s.is_some()).map(|(i, _)| base + i + 1).collect()
        };
        match m {
            Mem::MT => {
                let mut v = of(&self.sm, 0);
                v.extend(of(&self.me, self.sm.total()));
                v
            }
            _ => of(self.storage(m), 0),
        }
    }

    /// Store `msg` in `m` (MT: SM first, then ME); the index, or None when full.
    pub fn add(&mut self, m: Mem, msg: Stored) -> Option<usize> {
        match m {
            Mem::SM => self.sm.add(msg),
            Mem::ME => self.me.add(msg),
            Mem::SR => self.sr.add(msg),
            Mem::MT => match self.sm.add(msg.clone()) {
                Some(i) => Some(i),
                None => self.me.add(msg).map(|i| i + self.sm.total()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_and_load_keep_indexes() {
        let mut s = Stores::empty(3, 2, 1);
        let m = Stored::new(REC_UNREAD, None, &[0x04, 0x00, 0x81, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(s.add(Mem::SM, m.clone()), Some(1));
        assert_eq!(s.add(Mem::MT, m.clone()), Some(2));
        *s.slot(Mem::SM, 1).unwrap() = None;
        assert_eq!(s.add(Mem::ME, m.clone()), Some(1));
        let (back, dropped) = Stores::load(&s.to_json(), 3, 2, 1).unwrap();
        assert_eq!((back.clone(), dropped), (s, 0));
        assert_eq!(back.indexes(Mem::MT), vec![2, 4]);
        let (small, dropped) = Stores::load(&back.to_json(), 1, 2, 1).unwrap();
        assert_eq!((small.sm.used(), dropped), (0, 1));
    }

    #[test]
    fn full_storage_refuses() {
        let mut s = Stores::empty(1, 1, 0);
        let m = Stored::new(STO_UNSENT, None, &[1]);
        assert_eq!(s.add(Mem::MT, m.clone()), Some(1));
        assert_eq!(s.add(Mem::MT, m.clone()), Some(2));
        assert_eq!(s.add(Mem::MT, m.clone()), None);
        assert_eq!(s.add(Mem::SR, m), None);
        assert_eq!(s.counts(Mem::MT), (2, 2));
    }
}
