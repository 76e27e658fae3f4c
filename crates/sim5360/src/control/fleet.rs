//! Fleets (`--modems N`): many modems in one process, each with its own identity, PTY,
//! EFS and state, and a network between them. The network is the process's
//! [`CoreNetwork`]: an SMS one modem sends to another's MSISDN arrives there as an
//! incoming SMS, and a call to another's number rings there; what is not a fleet number
//! goes to the outbox (and calls are answered as before).
//!
//! A modem's core never waits on another: it queues what it sends beyond itself
//! (`Ctx::uplink`, JSON), its runner hands that to the core network, which delivers it to
//! the other modem as a control action through that modem's hub. A message for a member
//! that cannot take it now (no SIM, no coverage) is held and tried again (store and
//! forward), a bounded number of times.

use super::Control;
use super::http::Hub;
use crate::profile::{Identity, luhn_complete};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The MSISDNs of the fleet (given to every member's configuration, so its SMS and voice
/// families know which numbers the fleet reaches).
#[derive(Debug, Clone, Default)]
pub struct Directory {
    digits: std::collections::HashSet<String>,
}

impl Directory {
    pub fn new<'a>(numbers: impl IntoIterator<Item = &'a str>) -> Self {
        Self { digits: numbers.into_iter().map(|n| n.trim_start_matches('+').to_owned()).collect() }
    }

    /// Whether `number` (with or without `+`) is a modem of the fleet.
    pub fn contains(&self, number: &str) -> bool {
        self.digits.contains(number.trim_start_matches('+'))
    }
}

/// Modem `index`'s identity: the base's with an IMEI (serial = index, a valid check
/// digit), an IMSI, an ICCID and an MSISDN that each end in the index.
pub fn identity(base: &Identity, index: u32, msisdn_base: u64) -> Identity {
    let mut id = base.clone();
    let tac = &base.imei[..8];
    id.imei = luhn_complete(&format!("{tac}{index:06}")).unwrap_or_else(|| base.imei.clone());
    id.imsi = format!("{}{:010}", &base.imsi[..5], index);
    let iccid_body = &base.iccid[..base.iccid.len().min(19) - 6];
    id.iccid = format!("{iccid_body}{index:06}");
    id.msisdn = format!("+{}", msisdn_base + u64::from(index));
    id
}

/// How many times a message for a member that cannot take it is tried, and how often.
const RETRIES: u32 = 30;
const RETRY_EVERY: Duration = Duration::from_secs(2);

/// The network between the modems of a process.
#[derive(Debug, Default)]
pub struct CoreNetwork {
    /// Member by MSISDN digits: its hub.
    members: HashMap<String, Arc<Hub>>,
}

impl CoreNetwork {
    pub fn new(members: impl IntoIterator<Item = (String, Arc<Hub>)>) -> Self {
        Self { members: members.into_iter().map(|(n, h)| (n.trim_start_matches('+').to_owned(), h)).collect() }
    }

    fn member(&self, number: &str) -> Option<Arc<Hub>> {
        self.members.get(number.trim_start_matches('+')).cloned()
    }

    /// Take `msg` from the modem with number `from` and deliver it (in the background).
    pub fn send(self: &Arc<Self>, from: &str, msg: Value) {
        let me = self.clone();
        let from = from.to_owned();
        tokio::spawn(async move { me.deliver(&from, msg).await });
    }

    async fn deliver(&self, from: &str, msg: Value) {
        let Some(to) = msg["to"].as_str() else { return };
        let Some(hub) = self.member(to) else {
            tracing::debug!("core network: {to} is not a member; dropped");
            return;
        };
        let control = match msg["kind"].as_str() {
            Some("sms") => {
                let Some(pdu) = msg["pdu"].as_str() else { return };
                Control::DeliverSms(super::SmsIn {
                    from: from.to_owned(),
                    text: None,
                    pdu: Some(pdu.to_owned()),
                    dcs: None,
                    class: None,
                })
            }
            Some("dial") => Control::Ring(from.to_owned()),
            Some(event @ ("ringing" | "answered" | "busy" | "hangup" | "noanswer")) => {
                Control::Peer { from: from.to_owned(), event: event.to_owned() }
            }
            _ => return,
        };
        let is_sms = matches!(control, Control::DeliverSms(_));
        for attempt in 0..RETRIES {
            match hub.send(control.clone()).await {
                Ok(_) => return,
                // A call to a member that cannot take it: the caller hears busy.
                Err(e) if !is_sms => {
                    tracing::info!("core network: call from {from} to {to} refused: {}", e.error);
                    if msg["kind"] == "dial"
                        && let Some(back) = self.member(from)
                    {
                        let _ = back.send(Control::Peer { from: to.to_owned(), event: "busy".into() }).await;
                    }
                    return;
                }
                // Store and forward: the SMS waits until its target can take it.
                Err(e) => {
                    tracing::debug!("core network: SMS for {to} held ({}), attempt {attempt}", e.error);
                    tokio::time::sleep(RETRY_EVERY).await;
                }
            }
        }
        tracing::info!("core network: SMS from {from} to {to} dropped after {RETRIES} attempts");
    }
}

/// An uplink message (what a modem's families queue for the core network).
pub fn message(kind: &str, to: &str, extra: Value) -> Value {
    let mut v = json!({ "kind": kind, "to": to });
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in e {
            o.insert(k.clone(), x.clone());
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Model, Profile, imei_is_valid};

    #[test]
    fn identities_differ_and_are_valid() {
        let base = Profile::new(Model::Sim5360).identity;
        let a = identity(&base, 0, 15550000000);
        let b = identity(&base, 999, 15550000000);
        assert!(imei_is_valid(&a.imei) && imei_is_valid(&b.imei));
        assert_ne!(a.imei, b.imei);
        assert_eq!((a.msisdn.as_str(), b.msisdn.as_str()), ("+15550000000", "+15550000999"));
        assert_eq!(a.imsi.len(), 15);
        assert_eq!(b.iccid.len(), 19);
        assert_ne!(a.iccid, b.iccid);
        let d = Directory::new([a.msisdn.as_str()]);
        assert!(d.contains("15550000000") && !d.contains("+15550000001"));
    }
}
