//! Fleets (`--modems N`): many modems in one process, each with its own identity, PTY,
//! EFS and state, and a network between them. The network is the process's
//! [`CoreNetwork`]: an SMS one modem sends to another's MSISDN arrives there as an
//! incoming SMS, and a call to another's number rings there; what is not a fleet number
//! goes to the outbox (and calls are answered as before).
//!
//! A modem's core never waits on another: it queues what it sends beyond itself
//! (`Ctx::uplink`, a typed `Uplink`: an SMS or a call event), its runner hands that to the core
//! network (the one place that gives it a wire form, JSON on a broker), which delivers it to
//! the other modem as a control action through that modem's hub. A message for a member
//! that cannot take it now (no SIM, no coverage) is held and tried again (store and
//! forward), a bounded number of times.

use super::Control;
use super::http::Hub;
use crate::network::{CallEvent, Uplink};
use crate::profile::{Identity, luhn_complete};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The MSISDNs of the fleet (given to every member's configuration, so its SMS and voice
/// families know which numbers the fleet reaches). With a broker (`--core-network`) any
/// number may be a modem of another process: every number counts.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    digits: std::collections::HashSet<String>,
    everyone: bool,
}

impl Directory {
    pub fn new<'a>(numbers: impl IntoIterator<Item = &'a str>) -> Self {
        Self { digits: numbers.into_iter().map(|n| n.trim_start_matches('+').to_owned()).collect(), everyone: false }
    }

    /// Every number may be reached (through the broker).
    pub fn with_everyone(mut self) -> Self {
        self.everyone = true;
        self
    }

    /// Whether `number` (with or without `+`) is a modem of the fleet.
    pub fn contains(&self, number: &str) -> bool {
        self.everyone || self.digits.contains(number.trim_start_matches('+'))
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

/// One modem of a fleet file (`--fleet FILE`, TOML): what differs from the command line's
/// settings and the identity the index gives.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSpec {
    /// `sim5360`, `sim5320` or `sim7600`.
    pub profile: Option<String>,
    pub pin: Option<String>,
    pub imei: Option<String>,
    pub imsi: Option<String>,
    pub iccid: Option<String>,
    pub msisdn: Option<String>,
    /// Its EFS and state directories, and its PTY link.
    pub efs: Option<std::path::PathBuf>,
    pub state: Option<std::path::PathBuf>,
    pub link: Option<std::path::PathBuf>,
}

/// A fleet file: `[[modem]]` tables, one per modem, in order.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetFile {
    #[serde(default)]
    pub modem: Vec<MemberSpec>,
}

impl FleetFile {
    /// Read and check `path`: a clear error for what is wrong, with the modem's index.
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let f: Self = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if f.modem.is_empty() {
            return Err(format!("{}: no [[modem]] table", path.display()));
        }
        let mut numbers = std::collections::HashSet::new();
        for (i, m) in f.modem.iter().enumerate() {
            let bad = |what: &str| format!("{}: modem {i}: {what}", path.display());
            if let Some(p) = &m.profile
                && !["sim5360", "sim5320", "sim7600"].contains(&p.as_str())
            {
                return Err(bad("profile is sim5360, sim5320 or sim7600"));
            }
            if let Some(pin) = &m.pin
                && (!(4..=8).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(bad("pin is 4-8 digits"));
            }
            if let Some(imei) = &m.imei
                && !crate::profile::imei_is_valid(imei)
            {
                return Err(bad("imei is 15 digits with a valid check digit"));
            }
            if let Some(imsi) = &m.imsi
                && (!(6..=15).contains(&imsi.len()) || !imsi.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(bad("imsi is 6-15 digits"));
            }
            if let Some(iccid) = &m.iccid {
                let body = iccid.strip_suffix(['F', 'f']).unwrap_or(iccid);
                if !(19..=20).contains(&iccid.len()) || !body.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad("iccid is 19-20 digits (or 19 and F)"));
                }
            }
            if let Some(n) = &m.msisdn {
                let d = n.strip_prefix('+').unwrap_or(n);
                if !(3..=15).contains(&d.len()) || !d.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad("msisdn is 3-15 digits, optionally after +"));
                }
                if !numbers.insert(d.to_owned()) {
                    return Err(bad("msisdn is another modem's"));
                }
            }
        }
        Ok(f)
    }
}

/// How many times a message for a member that cannot take it is tried, and how often.
const RETRIES: u32 = 30;
const RETRY_EVERY: Duration = Duration::from_secs(2);

/// The network between the modems of a process, and through a broker to other
/// processes.
#[derive(Default)]
pub struct CoreNetwork {
    /// Member by MSISDN digits: its hub.
    members: HashMap<String, Arc<Hub>>,
    /// The broker (`--core-network mqtt://...`), when there is one.
    broker: Option<rumqttc::AsyncClient>,
}

impl std::fmt::Debug for CoreNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreNetwork")
            .field("members", &self.members.len())
            .field("broker", &self.broker.is_some())
            .finish()
    }
}

/// The topic a message for `number` goes to: `sim5360/v1/<kind>/<digits>`.
pub fn topic(kind: &str, number: &str) -> String {
    format!("sim5360/v1/{kind}/{}", number.trim_start_matches('+'))
}

/// `mqtt://HOST:PORT` (port 1883 by default).
pub fn parse_broker(url: &str) -> Result<(String, u16), String> {
    let rest = url.strip_prefix("mqtt://").ok_or("expected mqtt://HOST[:PORT]")?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("{p:?} is not a port"))?),
        None => (rest, 1883),
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    Ok((host.trim_matches(['[', ']']).to_owned(), port))
}

impl CoreNetwork {
    pub fn new(members: impl IntoIterator<Item = (String, Arc<Hub>)>) -> Self {
        Self {
            members: members.into_iter().map(|(n, h)| (n.trim_start_matches('+').to_owned(), h)).collect(),
            broker: None,
        }
    }

    /// The same, connected to a broker: every member's topics are subscribed with a
    /// persistent session (`clean_session=false`, client id `client_id`), so what is
    /// published while this process is away waits in the broker; after a broker restart
    /// the subscriptions are made again. Messages for numbers outside the process are
    /// published there (QoS 1).
    pub fn with_broker(
        members: impl IntoIterator<Item = (String, Arc<Hub>)>,
        host: &str,
        port: u16,
        client_id: &str,
    ) -> Arc<Self> {
        let mut opts = rumqttc::MqttOptions::new(client_id, host, port);
        opts.set_clean_session(false);
        opts.set_keep_alive(Duration::from_secs(5));
        let (client, mut events) = rumqttc::AsyncClient::new(opts, 1024);
        let mut me = Self::new(members);
        me.broker = Some(client.clone());
        let me = Arc::new(me);
        let topics: Vec<String> = me.members.keys().flat_map(|d| ["sms", "call"].map(|k| topic(k, d))).collect();
        let weak = Arc::downgrade(&me);
        tokio::spawn(async move {
            let mut up = false;
            loop {
                match events.poll().await {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) => {
                        tracing::info!("core network: connected to the broker");
                        up = true;
                        for t in &topics {
                            if let Err(e) = client.subscribe(t, rumqttc::QoS::AtLeastOnce).await {
                                tracing::warn!("core network: subscribe {t}: {e}");
                            }
                        }
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        let Some(net) = weak.upgrade() else { return };
                        match serde_json::from_slice::<Value>(&p.payload).ok().as_ref().and_then(from_wire) {
                            Some((from, msg)) => {
                                tokio::spawn(async move { net.deliver(&from, msg).await });
                            }
                            None => tracing::info!("core network: what came on {} is not a message", p.topic),
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if up {
                            tracing::warn!("core network: broker connection lost ({e}); reconnecting");
                        }
                        up = false;
                        if weak.strong_count() == 0 {
                            return;
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        me
    }

    fn member(&self, number: &str) -> Option<Arc<Hub>> {
        self.members.get(number.trim_start_matches('+')).cloned()
    }

    /// Take `msg` from the modem with number `from` and deliver it (in the background).
    pub fn send(self: &Arc<Self>, from: &str, msg: Uplink) {
        let me = self.clone();
        let from = from.to_owned();
        tokio::spawn(async move { me.deliver(&from, msg).await });
    }

    async fn deliver(&self, from: &str, msg: Uplink) {
        let to = msg.to().to_owned();
        let Some(hub) = self.member(&to) else {
            match &self.broker {
                Some(b) => {
                    let kind = if matches!(msg, Uplink::Sms { .. }) { "sms" } else { "call" };
                    let wire = to_wire(&msg, from).to_string();
                    if let Err(e) = b.publish(topic(kind, &to), rumqttc::QoS::AtLeastOnce, false, wire).await {
                        tracing::warn!("core network: publish for {to}: {e}");
                    }
                }
                None => tracing::debug!("core network: {to} is not a member; dropped"),
            }
            return;
        };
        let to = to.as_str();
        let control = match &msg {
            Uplink::Sms { pdu, .. } => Control::DeliverSms(super::SmsIn {
                from: from.to_owned(),
                text: None,
                pdu: Some(pdu.clone()),
                dcs: None,
                class: None,
            }),
            Uplink::Call { event: CallEvent::Dial, .. } => Control::Ring(from.to_owned()),
            Uplink::Call { event, .. } => Control::Peer { from: from.to_owned(), event: *event },
        };
        let is_sms = matches!(control, Control::DeliverSms(_));
        for attempt in 0..RETRIES {
            match hub.send(control.clone()).await {
                Ok(_) => return,
                // A call to a member that cannot take it: the caller hears busy.
                Err(e) if !is_sms => {
                    tracing::info!("core network: call from {from} to {to} refused: {}", e.error);
                    if matches!(msg, Uplink::Call { event: CallEvent::Dial, .. }) {
                        // The caller hears busy (through the broker if it is elsewhere).
                        let busy = Uplink::Call { to: from.to_owned(), event: CallEvent::Busy };
                        Box::pin(self.deliver(to, busy)).await;
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

/// A message's wire form on the broker: `{"kind": "sms", "to", "from", "pdu"}` or
/// `{"kind": <call event>, "to", "from"}`.
pub fn to_wire(msg: &Uplink, from: &str) -> Value {
    match msg {
        Uplink::Sms { to, pdu } => json!({ "kind": "sms", "to": to, "from": from, "pdu": pdu }),
        Uplink::Call { to, event } => json!({ "kind": event.as_str(), "to": to, "from": from }),
    }
}

/// A message from the broker (see [`to_wire`]) and who sent it; `None` for one that is
/// not a message.
pub fn from_wire(v: &Value) -> Option<(String, Uplink)> {
    let to = v["to"].as_str()?.to_owned();
    let from = v["from"].as_str().unwrap_or_default().to_owned();
    let msg = match v["kind"].as_str()? {
        "sms" => Uplink::Sms { to, pdu: v["pdu"].as_str()?.to_owned() },
        kind => Uplink::Call { to, event: CallEvent::parse(kind)? },
    };
    Some((from, msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Model, Profile, imei_is_valid};

    #[test]
    fn fleet_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fleet.toml");
        std::fs::write(&p, "[[modem]]\nprofile = \"sim7600\"\nmsisdn = \"+4911\"\n\n[[modem]]\npin = \"1234\"\n")
            .unwrap();
        let f = FleetFile::load(&p).unwrap();
        assert_eq!(f.modem.len(), 2);
        assert_eq!(f.modem[0].profile.as_deref(), Some("sim7600"));
        for bad in [
            "[[modem]]\nprofile = \"nokia\"\n",
            "[[modem]]\npin = \"12\"\n",
            "[[modem]]\nimei = \"123456789012345\"\n",
            "[[modem]]\nmsisdn = \"+4911\"\n[[modem]]\nmsisdn = \"4911\"\n",
            "[[modem]]\ncolour = \"red\"\n",
            "",
        ] {
            std::fs::write(&p, bad).unwrap();
            assert!(FleetFile::load(&p).is_err(), "{bad}");
        }
    }

    #[test]
    fn messages_round_trip_their_wire_form() {
        let sms = Uplink::Sms { to: "+1555".into(), pdu: "0400".into() };
        assert_eq!(to_wire(&sms, "+1444"), json!({"kind": "sms", "to": "+1555", "from": "+1444", "pdu": "0400"}));
        for event in CallEvent::ALL {
            let call = Uplink::Call { to: "+1555".into(), event };
            assert_eq!(from_wire(&to_wire(&call, "+1444")), Some(("+1444".to_owned(), call)));
        }
        assert_eq!(from_wire(&to_wire(&sms, "+1444")), Some(("+1444".to_owned(), sms)));
        assert_eq!(from_wire(&json!({"kind": "fax", "to": "+1"})), None);
        assert_eq!(from_wire(&json!({"kind": "sms", "to": "+1"})), None);
    }

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
        assert!(d.with_everyone().contains("+4912"));
        assert_eq!(parse_broker("mqtt://127.0.0.1:1884"), Ok(("127.0.0.1".into(), 1884)));
        assert_eq!(parse_broker("mqtt://broker"), Ok(("broker".into(), 1883)));
        assert!(parse_broker("http://x").is_err() && parse_broker("mqtt://:1").is_err());
        assert_eq!(topic("sms", "+1555"), "sim5360/v1/sms/1555");
    }
}
