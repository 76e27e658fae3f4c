//! The control channel's model (docs/control.md): one typed [`Control`] the sans-IO
//! core handles like DTE input ([`crate::modem::Modem::handle_control`]), whatever front
//! end sent it: the REST API (`http.rs`), `sim5360 ctl` (`cli.rs`), transcripts
//! (`@ control`). Each action changes the module's world the way the network, the SIM
//! slot or the sky would, through the same functions the module's own network uses
//! (`network::set_coverage`, `sms::deliver`, ...), so the DTE sees exactly the URCs and
//! answers a real module gives.

pub mod chaos;
pub mod cli;
pub mod dashboard;
pub mod fleet;
pub mod http;

use crate::modem::overrides::OverrideSpec;
use crate::modem::{Ctx, Modem};
use crate::network::{self, RegStat, Sim};
use crate::service::{gnss, sms, voice};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The control channel's family in the registry (no commands): its power-on hook.
#[derive(Debug, Default)]
pub struct World;

impl crate::modem::Service for World {}

/// Why a control action was refused: the HTTP status and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error} ({status})")]
pub struct ControlError {
    pub status: u16,
    pub error: String,
}

impl ControlError {
    pub fn bad(error: impl Into<String>) -> Self {
        Self { status: 400, error: error.into() }
    }
    pub fn not_found(error: impl Into<String>) -> Self {
        Self { status: 404, error: error.into() }
    }
    /// Valid, but impossible in the module's state (an SMS to a module without a SIM).
    pub fn impossible(error: impl Into<String>) -> Self {
        Self { status: 422, error: error.into() }
    }
}

/// An SMS from the network (`POST /sms`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsIn {
    /// The sender: a number (`+15551234567`) or an alphanumeric name (`Bank`).
    pub from: String,
    /// The text (7-bit when the GSM alphabet has every character, else UCS2), or...
    #[serde(default)]
    pub text: Option<String>,
    /// ... a whole SMS-DELIVER TPDU in hex (no SMSC field).
    #[serde(default)]
    pub pdu: Option<String>,
    /// Data coding scheme to force for `text` (0 7-bit, 8 UCS2; a class in the F0 group).
    #[serde(default)]
    pub dcs: Option<u8>,
    /// Message class 0-3 for `text`.
    #[serde(default)]
    pub class: Option<u8>,
}

/// Registration states by name (Android console's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegName {
    Home,
    Roaming,
    Searching,
    Denied,
    Unregistered,
}

impl RegName {
    fn stat(self) -> RegStat {
        match self {
            Self::Home => RegStat::Home,
            Self::Roaming => RegStat::Roaming,
            Self::Searching => RegStat::Searching,
            Self::Denied => RegStat::Denied,
            Self::Unregistered => RegStat::NotSearching,
        }
    }
}

/// `PATCH /radio`: what changes, each optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadioPatch {
    #[serde(default)]
    pub cs: Option<RegName>,
    #[serde(default)]
    pub ps: Option<RegName>,
    #[serde(default)]
    pub rssi: Option<u8>,
    #[serde(default)]
    pub ber: Option<u8>,
    #[serde(default)]
    pub lac: Option<u16>,
    #[serde(default)]
    pub ci: Option<u32>,
}

impl RadioPatch {
    /// ` field=value` for each field it sets (the trace's words).
    fn describe(&self) -> String {
        let mut out = String::new();
        let reg = |r: RegName| match r {
            RegName::Home => "home",
            RegName::Roaming => "roaming",
            RegName::Searching => "searching",
            RegName::Denied => "denied",
            RegName::Unregistered => "unregistered",
        };
        if let Some(r) = self.cs {
            out += &format!(" cs={}", reg(r));
        }
        if let Some(r) = self.ps {
            out += &format!(" ps={}", reg(r));
        }
        for (name, v) in [("rssi", self.rssi), ("ber", self.ber)] {
            if let Some(v) = v {
                out += &format!(" {name}={v}");
            }
        }
        if let Some(v) = self.lac {
            out += &format!(" lac={v:04X}");
        }
        if let Some(v) = self.ci {
            out += &format!(" ci={v:07X}");
        }
        out
    }
}

/// `POST /coverage`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageReq {
    pub lost: bool,
    /// Coverage comes back by itself after this long.
    #[serde(default)]
    pub for_ms: Option<u64>,
    /// From coverage back to registered (default 1 s).
    #[serde(default)]
    pub reregister_ms: Option<u64>,
}

/// `PUT /gnss`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GnssReq {
    /// `false`: the sky is hidden (no fix); `true` with a position or a track.
    pub fix: bool,
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lon: Option<f64>,
    #[serde(default)]
    pub alt_m: Option<f64>,
    /// A track replayed from now: `{t_ms, lat, lon, alt_m?}` points.
    #[serde(default)]
    pub track: Option<Vec<TrackPoint>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackPoint {
    pub t_ms: u64,
    pub lat: f64,
    pub lon: f64,
    #[serde(default)]
    pub alt_m: f64,
}

/// `PATCH /faults/<name>`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPatch {
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, f64>,
    #[serde(default)]
    pub toxicity: Option<f64>,
}

/// Which stored messages `GET /sms` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsBox {
    Inbox,
    Outbox,
}

/// Every control action.
#[derive(Debug, Clone)]
pub enum Control {
    State,
    /// Everything injected back to the configured defaults.
    Reset,
    /// As `AT+CRESET`.
    Reboot,
    DeliverSms(SmsIn),
    Messages(SmsBox),
    /// A raw line as a URC.
    Urc(String),
    Radio(RadioPatch),
    Coverage(CoverageReq),
    Sim {
        present: bool,
    },
    Gnss(GnssReq),
    /// A voice call comes in from this number.
    Ring(String),
    /// The remote party ends the call.
    Hangup,
    /// The other modem of a fleet call: ringing, answered, busy, no answer or hung up.
    Peer {
        from: String,
        event: crate::network::CallEvent,
    },
    AddOverride(OverrideSpec),
    RemoveOverride(u64),
    ClearOverrides,
    Overrides,
    AddFault(crate::net::link::Fault),
    Faults,
    UpdateFault {
        name: String,
        patch: FaultPatch,
    },
    RemoveFault(String),
    ClearFaults,
    /// `PUT` (replace) or `PATCH` (merge) the network conditions.
    SetNetwork {
        merge: bool,
        body: Value,
    },
    Network,
    /// Timer of a coverage loss that ends by itself (`for_ms`).
    #[doc(hidden)]
    RestoreCoverage,
}

impl Control {
    /// One line for the trace (`control: coverage lost`).
    pub fn describe(&self) -> String {
        match self {
            Self::State => "state".into(),
            Self::Reset => "reset".into(),
            Self::Reboot => "reboot".into(),
            Self::DeliverSms(s) => format!("SMS from {}", s.from),
            Self::Messages(SmsBox::Inbox) => "list the inbox".into(),
            Self::Messages(SmsBox::Outbox) => "list the outbox".into(),
            Self::Urc(l) => format!("URC {l:?}"),
            Self::Radio(r) => format!("radio{}", r.describe()),
            Self::Coverage(c) if c.lost => match c.for_ms {
                Some(ms) => format!("coverage lost (for {ms} ms)"),
                None => "coverage lost".into(),
            },
            Self::Coverage(_) | Self::RestoreCoverage => "coverage back".into(),
            Self::Sim { present: true } => "SIM inserted".into(),
            Self::Sim { present: false } => "SIM removed".into(),
            Self::Gnss(g) => match (g.fix, g.lat, g.lon, &g.track) {
                (false, ..) => "GNSS no fix".into(),
                (true, _, _, Some(t)) => format!("GNSS track of {} points", t.len()),
                (true, Some(lat), Some(lon), None) => format!("GNSS fix at {lat},{lon}"),
                (true, ..) => "GNSS fix".into(),
            },
            Self::Ring(n) => format!("call from {n}"),
            Self::Hangup => "remote hang-up".into(),
            Self::Peer { from, event } => format!("call peer {from}: {event}"),
            Self::AddOverride(o) => format!("override {} ({})", o.command, o.action.as_str()),
            Self::RemoveOverride(id) => format!("override {id} removed"),
            Self::ClearOverrides => "overrides cleared".into(),
            Self::Overrides => "list overrides".into(),
            Self::AddFault(f) => format!("fault {} on {} ({})", f.kind, f.service, f.label()),
            Self::Faults => "list faults".into(),
            Self::UpdateFault { name, .. } => format!("fault {name} changed"),
            Self::RemoveFault(n) => format!("fault {n} removed"),
            Self::ClearFaults => "faults cleared".into(),
            Self::SetNetwork { body, .. } => format!("network {body}"),
            Self::Network => "network conditions".into(),
        }
    }

    /// Reads nothing it changes (not worth a trace note).
    pub fn is_query(&self) -> bool {
        matches!(self, Self::State | Self::Messages(_) | Self::Overrides | Self::Faults | Self::Network)
    }
}

/// Handle `c` on `modem` at `now` (the runner and the transcripts call this): noted in the
/// log, then applied as the network, the SIM slot or the sky would change the module,
/// through [`Modem::act`], which releases the URCs it raises, restarts the module for a
/// reboot and lets a line held by a removed `hang` override go on.
pub fn handle(modem: &mut Modem, now: Instant, c: Control) -> Result<Value, ControlError> {
    if !c.is_query() {
        tracing::info!("control: {}", c.describe());
    }
    modem.act(now, |ctx| apply(ctx, c))
}

/// Apply `c` to the module's state (a reboot is asked for with `ctx.power`).
pub fn apply(ctx: &mut Ctx, c: Control) -> Result<Value, ControlError> {
    match c {
        Control::State => Ok(state(ctx)),
        Control::Reset => {
            link(ctx).clear();
            ctx.profile.act = crate::profile::Profile::new(ctx.profile.model).act;
            ctx.overrides.clear();
            ctx.injected.clear();
            network::set_sim_present(ctx, true);
            network::set_coverage(ctx, false, Duration::ZERO);
            let d = network::Radio::default();
            network::radio::set_signal(ctx, d.rssi, d.ber);
            Ok(Value::Null)
        }
        Control::Reboot => {
            ctx.power = crate::modem::PowerRequest::Restart;
            Ok(Value::Null)
        }
        Control::DeliverSms(s) => deliver_sms(ctx, s),
        Control::Messages(b) => Ok(sms::messages(ctx, b == SmsBox::Outbox)),
        Control::Urc(line) => {
            if line.contains(['\r', '\n']) || line.len() > 1024 {
                return Err(ControlError::bad("a URC is one line of at most 1024 characters"));
            }
            ctx.urcs.push(crate::modem::Urc::Line(line));
            Ok(Value::Null)
        }
        Control::Radio(r) => radio(ctx, r),
        Control::Coverage(c) => {
            let reregister = Duration::from_millis(c.reregister_ms.unwrap_or(1000));
            network::set_coverage(ctx, c.lost, reregister);
            ctx.injected.remove::<CoverageBack>();
            if c.lost
                && let Some(ms) = c.for_ms
            {
                let back = CoverageBack { at: ctx.now + Duration::from_millis(ms), reregister };
                ctx.injected.set(back);
                ctx.after(Duration::from_millis(ms), "coverage back", coverage_back, 0);
            }
            Ok(Value::Null)
        }
        Control::RestoreCoverage => {
            network::set_coverage(ctx, false, Duration::from_secs(1));
            Ok(Value::Null)
        }
        Control::Sim { present } => {
            network::set_sim_present(ctx, present);
            Ok(Value::Null)
        }
        Control::Gnss(g) => gnss_set(ctx, g),
        Control::Ring(n) => voice::ring(ctx, &n).map(|()| Value::Null).map_err(ControlError::impossible),
        Control::Hangup => {
            if voice::remote_hangup(ctx) {
                Ok(Value::Null)
            } else {
                Err(ControlError::impossible("no call"))
            }
        }
        Control::Peer { from, event } => {
            voice::peer_event(ctx, &from, event).map(|()| Value::Null).map_err(ControlError::impossible)
        }
        Control::AddOverride(o) => ctx.overrides.add(o).map(|id| json!({ "id": id })).map_err(ControlError::bad),
        Control::RemoveOverride(id) => {
            if ctx.overrides.remove(id) {
                Ok(Value::Null)
            } else {
                Err(ControlError::not_found("override not found"))
            }
        }
        Control::ClearOverrides => {
            ctx.overrides.clear();
            Ok(Value::Null)
        }
        Control::Overrides => Ok(Value::Array(ctx.overrides.list())),
        Control::AddFault(f) => link(ctx)
            .add(f)
            .map(|f| serde_json::to_value(f).unwrap_or_default())
            .map_err(|(status, error)| ControlError { status, error }),
        Control::Faults => Ok(serde_json::to_value(link(ctx).faults()).unwrap_or_default()),
        Control::UpdateFault { name, patch } => link(ctx)
            .update(&name, patch.attributes, patch.toxicity)
            .map(|f| serde_json::to_value(f).unwrap_or_default())
            .map_err(|(status, error)| ControlError { status, error }),
        Control::RemoveFault(name) => {
            if link(ctx).remove(&name) {
                Ok(Value::Null)
            } else {
                Err(ControlError::not_found(format!("no fault named {name:?}")))
            }
        }
        Control::ClearFaults => {
            for f in link(ctx).faults() {
                link(ctx).remove(&f.name);
            }
            Ok(Value::Null)
        }
        Control::SetNetwork { merge, body } => set_network(ctx, merge, body),
        Control::Network => Ok(serde_json::to_value(link(ctx).condition()).unwrap_or_default()),
    }
}

/// The link's rules: the ones every job's connections use (given by the command line's
/// configuration), or, in a modem without a runner (transcripts), its own.
pub(crate) fn link(ctx: &mut Ctx) -> std::sync::Arc<crate::net::link::LinkRules> {
    type Rules = std::sync::Arc<crate::net::link::LinkRules>;
    if let Some(r) = ctx.configs.get::<Rules>() {
        return r.clone();
    }
    if ctx.injected.get::<Rules>().is_none() {
        ctx.injected.set(Rules::default());
    }
    ctx.injected.get::<Rules>().cloned().unwrap_or_default()
}

/// `PUT`/`PATCH /network`: `{"preset": "umts"}` (also `umts+noisy`, `full`) or custom
/// figures; a preset also sets what the DTE sees (the AcT of `+COPS?`, the `+CSQ` rssi).
fn set_network(ctx: &mut Ctx, merge: bool, body: Value) -> Result<Value, ControlError> {
    use crate::net::link::Condition;
    let rules = link(ctx);
    let preset = body.get("preset").and_then(Value::as_str).map(str::to_owned);
    let condition = match preset {
        Some(name) => {
            if body.as_object().is_some_and(|o| o.len() > 1) {
                return Err(ControlError::bad("give a preset or figures, not both"));
            }
            let (c, p) = Condition::preset(&name).map_err(ControlError::bad)?;
            let default = crate::profile::Profile::new(ctx.profile.model);
            let (act, rssi) = p.map_or((default.act, network::Radio::default().rssi), |p| (p.act, p.rssi));
            ctx.profile.act = act;
            network::radio::set_signal(ctx, rssi, 99);
            c
        }
        // Figures that replace the conditions describe the link alone: the radio the DTE
        // sees is the module's own again, as with `full` (PATCH keeps a preset's radio).
        None if !merge => {
            let v = body.as_object().map(|o| o.iter().filter(|(k, _)| *k != "preset")).into_iter().flatten();
            let v: serde_json::Map<String, Value> = v.map(|(k, val)| (k.clone(), val.clone())).collect();
            let c =
                serde_json::from_value::<Condition>(Value::Object(v)).map_err(|e| ControlError::bad(json_error(&e)))?;
            c.validate().map_err(ControlError::bad)?;
            let default = crate::profile::Profile::new(ctx.profile.model);
            ctx.profile.act = default.act;
            network::radio::set_signal(ctx, network::Radio::default().rssi, 99);
            c
        }
        // PATCH: the figures in force, with the body's over them.
        None => {
            let mut v = serde_json::to_value(rules.condition()).unwrap_or_default();
            if let (Some(dst), Some(src)) = (v.as_object_mut(), body.as_object()) {
                for (k, val) in src {
                    dst.insert(k.clone(), val.clone());
                }
                dst.remove("preset");
            }
            serde_json::from_value::<Condition>(v).map_err(|e| ControlError::bad(json_error(&e)))?
        }
    };
    rules.set_condition(condition).map_err(ControlError::bad)?;
    Ok(serde_json::to_value(rules.condition()).unwrap_or_default())
}

/// The presets with their figures (`GET /api/v1/presets`).
pub fn presets() -> Value {
    use crate::net::link::{FLAKY, PRESETS};
    let list: Vec<Value> = PRESETS
        .iter()
        .map(|p| {
            json!({
                "name": p.name, "down_kbps": p.down_kbps, "up_kbps": p.up_kbps, "rtt_ms": p.rtt_ms,
                "jitter_ms": p.jitter_ms, "promote_ms": p.promote_ms, "idle_after_ms": p.idle_after_ms,
                "act": p.act, "csq": p.rssi, "anchors": p.anchors,
            })
        })
        .collect();
    json!({ "presets": list, "flaky": FLAKY.iter().map(|(n, l)| json!({"name": n, "loss_pct": l})).collect::<Vec<_>>() })
}

/// A coverage loss that ends by itself: when, and the registration delay after it. Kept
/// with what was injected, so a reboot meanwhile does not lose the return.
#[derive(Debug, Clone, Copy)]
struct CoverageBack {
    at: std::time::Instant,
    reregister: Duration,
}

fn coverage_back(ctx: &mut Ctx, _: u64) {
    if let Some(b) = ctx.injected.get::<CoverageBack>().copied() {
        ctx.injected.remove::<CoverageBack>();
        network::set_coverage(ctx, false, b.reregister);
    }
}

/// At every power-on: what the world was about to do still happens (a coverage loss with
/// `for_ms` still ends).
pub fn power_on(ctx: &mut Ctx) {
    if let Some(b) = ctx.injected.get::<CoverageBack>().copied() {
        ctx.after(b.at.saturating_duration_since(ctx.now), "coverage back", coverage_back, 0);
    }
}

fn deliver_sms(ctx: &mut Ctx, s: SmsIn) -> Result<Value, ControlError> {
    if ctx.net.sim != Sim::Ready {
        return Err(ControlError::impossible("the module's SIM is not ready"));
    }
    if !ctx.net.registered() {
        return Err(ControlError::impossible("the module is not registered"));
    }
    let d = match (s.text, s.pdu) {
        (Some(t), None) => sms::network_message(ctx, &s.from, &t, s.dcs, s.class).map_err(ControlError::bad)?,
        (None, Some(p)) => sms::network_pdu(&p).map_err(ControlError::bad)?,
        _ => return Err(ControlError::bad("give text or pdu")),
    };
    match sms::deliver(ctx, d) {
        Ok(sms::Delivered::Stored(mem, index)) => Ok(json!({ "mem": mem.name(), "index": index })),
        Ok(sms::Delivered::Routed) => Ok(json!({ "routed": true })),
        Err(e) => Err(ControlError::impossible(format!("not delivered: {}", e.text()))),
    }
}

fn radio(ctx: &mut Ctx, r: RadioPatch) -> Result<Value, ControlError> {
    if r.rssi.is_some_and(|v| v > 31 && v != 99) || r.ber.is_some_and(|v| v > 7 && v != 99) {
        return Err(ControlError::bad("rssi is 0-31 or 99, ber 0-7 or 99"));
    }
    if let Some(lac) = r.lac {
        ctx.net.radio.lac = lac;
    }
    if let Some(ci) = r.ci {
        if ci > 0x0FFF_FFFF {
            return Err(ControlError::bad("ci is at most 28 bits"));
        }
        ctx.net.radio.ci = ci;
    }
    if r.rssi.is_some() || r.ber.is_some() {
        let rssi = r.rssi.unwrap_or(ctx.net.radio.rssi);
        let ber = r.ber.unwrap_or(ctx.net.radio.ber);
        network::radio::set_signal(ctx, rssi, ber);
    }
    if r.cs.is_some() || r.ps.is_some() {
        let cs = r.cs.map_or(ctx.net.cs, RegName::stat);
        let ps = r.ps.map_or(ctx.net.ps, RegName::stat);
        network::set_registration(ctx, cs, ps);
    }
    Ok(Value::Null)
}

fn gnss_set(ctx: &mut Ctx, g: GnssReq) -> Result<Value, ControlError> {
    if !g.fix {
        ctx.injected.set(gnss::NoSky);
        return Ok(Value::Null);
    }
    let source = match (g.track, g.lat, g.lon) {
        (Some(points), None, None) => {
            let pts = points.iter().map(|p| (p.t_ms as f64 / 1000.0, p.lat, p.lon, p.alt_m)).collect();
            gnss::PositionSource::Track(std::sync::Arc::new(gnss::track::Track::new(pts).map_err(ControlError::bad)?))
        }
        (None, Some(lat), Some(lon)) => {
            let alt = g.alt_m.unwrap_or(0.0);
            let fix = gnss::track::parse_position(&format!("{lat},{lon},{alt}")).map_err(ControlError::bad)?;
            gnss::PositionSource::Fixed(fix)
        }
        _ => return Err(ControlError::bad("give lat and lon, or a track")),
    };
    let base = ctx.setting::<gnss::GnssConfig>().cloned();
    let ttff = base.as_ref().map_or(Duration::from_secs(5), |c| c.ttff);
    ctx.injected.set(gnss::GnssConfig::new(source, ttff, ctx.now));
    ctx.injected.remove::<gnss::NoSky>();
    Ok(Value::Null)
}

fn reg_name(s: RegStat) -> &'static str {
    match s {
        RegStat::Home => "home",
        RegStat::Roaming => "roaming",
        RegStat::Searching => "searching",
        RegStat::Denied => "denied",
        RegStat::NotSearching => "unregistered",
        _ => "unknown",
    }
}

/// The whole state report (docs/control.md lists the fields).
fn state(ctx: &mut Ctx) -> Value {
    let net = &ctx.net;
    let sim = match net.sim {
        Sim::Ready => "ready",
        Sim::PinRequired => "pin",
        Sim::PukRequired => "puk",
        Sim::Absent => "absent",
    };
    let id = &ctx.profile.identity;
    let mut v = json!({
        "model": id.model,
        "imei": id.imei,
        "imsi": id.imsi,
        "iccid": id.iccid,
        "msisdn": id.msisdn,
        "awake": ctx.awake,
        "cfun": net.cfun,
        "sim": sim,
        "coverage": net.coverage,
        "registration": {
            "cs": reg_name(net.cs), "ps": reg_name(net.ps),
            "cs_stat": net.cs as u8, "ps_stat": net.ps as u8,
        },
        "signal": { "rssi": net.radio.rssi, "ber": net.radio.ber, "csq": network::radio::csq_line(ctx) },
        "operator": { "name": id.operator, "numeric": id.imsi.chars().take(5).collect::<String>(), "act": ctx.profile.act },
        "cell": { "lac": net.radio.lac, "ci": net.radio.ci },
        "pdp_active": net.active_contexts(),
        "jobs": ctx.jobs.labels(),
        "overrides": ctx.overrides.list(),
    });
    let store = &ctx.efs.store;
    for d in crate::efs::Drive::ALL {
        v["efs"][d.letter().to_string()] = json!({ "used": store.used(d).ok(), "total": store.capacity(d) });
    }
    let rules = link(ctx);
    v["mux"] = mux_report(ctx);
    v["faults"] = serde_json::to_value(rules.faults()).unwrap_or_default();
    v["network"] = serde_json::to_value(rules.condition()).unwrap_or_default();
    for def in crate::registry::SERVICES {
        if let Some(report) = def.on_state {
            v[def.name] = report(ctx);
        }
    }
    v
}

/// The 27.010 multiplexer: `null` when the UART is not multiplexed, else its frame
/// sizes, the de-framer's counts and each channel's state and counters.
fn mux_report(ctx: &Ctx) -> Value {
    let Some(s) = &ctx.mux.status else { return Value::Null };
    let stats = |c: &cmux::ChannelStats| json!({ "frames_in": c.frames_in, "frames_out": c.frames_out, "bytes_in": c.bytes_in, "bytes_out": c.bytes_out });
    let channels: Vec<Value> = s
        .channels
        .iter()
        .map(|c| {
            let mut v = stats(&c.stats);
            v["dlci"] = json!(c.dlci);
            v["port"] = json!(crate::modem::PortRole::Mux(c.dlci).name());
            v["open"] = json!(c.open);
            v["nmea"] = json!(c.nmea);
            v["held"] = json!(c.held);
            v["data"] = json!(c.data_mode.map(|m| m.as_str()));
            v
        })
        .collect();
    json!({
        "send_max": s.send_max,
        "recv_max": s.recv_max,
        "held": s.held,
        "bad_fcs": s.deframer.bad_fcs,
        "too_long": s.deframer.too_long,
        "bad_frames": s.deframer.bad_frames,
        "garbage": s.deframer.garbage,
        "dropped": s.dropped,
        "control": stats(&s.control),
        "channels": channels,
    })
}

/// A JSON body that does not fit, said without the parser's position (the body is one
/// the user may never have written: `ctl` makes it).
fn json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = text.split(" at line ").next().unwrap_or(&text);
    format!("the request body: {text}")
}

fn body<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, ControlError> {
    serde_json::from_str(if body.trim().is_empty() { "{}" } else { body })
        .map_err(|e| ControlError::bad(json_error(&e)))
}

/// The control action a request asks for: `method` and `path` below `/api/v1/modems/<id>`
/// (`""`, `"sms"`, `"overrides/3"`), the query string and the JSON body. The one routing
/// table, shared by the REST API and transcripts.
pub fn route(method: &str, path: &str, query: &str, json: &str) -> Result<Control, ControlError> {
    let path = path.trim_matches('/');
    let (head, tail) = path.split_once('/').unwrap_or((path, ""));
    let wrong = || ControlError { status: 405, error: format!("{method} is not allowed on {path:?}") };
    Ok(match (head, tail) {
        ("", "") if method == "GET" => Control::State,
        ("reboot", "") if method == "POST" => Control::Reboot,
        ("reset", "") if method == "POST" => Control::Reset,
        ("sms", "") => match method {
            "POST" => Control::DeliverSms(body(json)?),
            "GET" => {
                let b = query.split('&').find_map(|kv| kv.strip_prefix("box=")).unwrap_or("inbox");
                match b {
                    "inbox" => Control::Messages(SmsBox::Inbox),
                    "outbox" => Control::Messages(SmsBox::Outbox),
                    _ => return Err(ControlError::bad("box is inbox or outbox")),
                }
            }
            _ => return Err(wrong()),
        },
        ("urc", "") if method == "POST" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Line {
                line: String,
            }
            Control::Urc(body::<Line>(json)?.line)
        }
        ("radio", "") if method == "PATCH" => Control::Radio(body(json)?),
        ("coverage", "") if method == "POST" => Control::Coverage(body(json)?),
        ("sim", "") if method == "PATCH" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Present {
                present: bool,
            }
            Control::Sim { present: body::<Present>(json)?.present }
        }
        ("gnss", "") if method == "PUT" => Control::Gnss(body(json)?),
        ("call", "") => match method {
            "POST" => {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct From {
                    from: String,
                }
                Control::Ring(body::<From>(json)?.from)
            }
            "DELETE" => Control::Hangup,
            _ => return Err(wrong()),
        },
        ("overrides", "") => match method {
            "GET" => Control::Overrides,
            "POST" => Control::AddOverride(body(json)?),
            "DELETE" => Control::ClearOverrides,
            _ => return Err(wrong()),
        },
        ("faults", "") => match method {
            "GET" => Control::Faults,
            "POST" => Control::AddFault(body(json)?),
            "DELETE" => Control::ClearFaults,
            _ => return Err(wrong()),
        },
        ("faults", name) => match method {
            "PATCH" => Control::UpdateFault { name: name.to_owned(), patch: body(json)? },
            "DELETE" => Control::RemoveFault(name.to_owned()),
            _ => return Err(wrong()),
        },
        ("network", "") => match method {
            "GET" => Control::Network,
            "PUT" | "PATCH" => Control::SetNetwork { merge: method == "PATCH", body: body(json)? },
            _ => return Err(wrong()),
        },
        ("overrides", id) if method == "DELETE" => {
            Control::RemoveOverride(id.parse().map_err(|_| ControlError::not_found("override not found"))?)
        }
        ("" | "reboot" | "reset" | "urc" | "radio" | "coverage" | "sim" | "gnss" | "overrides", _)
            if tail.is_empty() || head == "overrides" =>
        {
            return Err(wrong());
        }
        _ => return Err(ControlError::not_found(format!("no such resource {path:?}"))),
    })
}
