//! The link between the module and the servers it reaches, made worse on purpose: faults
//! per service with Toxiproxy's toxic types and attribute names (CONTROL-DESIGN.md §6.3),
//! and network conditions (presets or custom figures, §6.5) for every connection.
//!
//! Every service connects through [`super::net::NetConfig::connect`]; when a fault or a
//! condition applies, the service gets a loopback socket whose other end is a relay task
//! (a Toxiproxy inside the process) that forwards to the real server, delaying, slicing,
//! throttling, stalling, cutting or resetting as the rules say. The services stay as they
//! are: what breaks is their socket, so each reports what it reports for that failure on
//! a real network, its own error code. The rules are read on every chunk, so a fault
//! added while a transfer runs bites that transfer.

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The toxic types: Toxiproxy's, plus `refuse`, `dns_fail` and `tls_fail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Latency,
    Bandwidth,
    SlowClose,
    Timeout,
    ResetPeer,
    Slicer,
    LimitData,
    /// The connection is refused.
    Refuse,
    /// The name does not resolve.
    DnsFail,
    /// The TLS handshake fails (the server's first bytes are spoilt).
    TlsFail,
}

impl Kind {
    /// Acts before a connection exists (the others act on its bytes).
    fn before_connect(self) -> bool {
        matches!(self, Self::Refuse | Self::DnsFail)
    }
}

/// Which direction a toxic acts on (Toxiproxy: upstream is client to server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Upstream,
    #[default]
    Downstream,
}

fn one() -> f64 {
    1.0
}

/// A fault (a Toxiproxy toxic with a service selector).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Unique; default `<service>_<type>`.
    #[serde(default)]
    pub name: String,
    /// `ftp`, `ftps`, `http`, `https`, `smtp`, `pop3`, `sockets`, `time`, or `*`; `dns`
    /// for name resolution of every service.
    pub service: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    #[serde(default)]
    pub stream: Direction,
    /// The share of connections it applies to (decided per connection, from `seed`).
    #[serde(default = "one")]
    pub toxicity: f64,
    /// How many connections it affects before it is gone; null: all.
    #[serde(default)]
    pub times: Option<u32>,
    /// Toxiproxy's attributes: `latency`/`jitter` (ms), `rate` (KB/s), `delay` (ms;
    /// `slicer`: µs), `timeout` (ms), `bytes`, `average_size`, `size_variation`.
    #[serde(default)]
    pub attributes: BTreeMap<String, f64>,
    /// The random choices' seed (required when `toxicity` is below 1).
    #[serde(default)]
    pub seed: Option<u64>,
}

impl Fault {
    fn attr(&self, name: &str) -> f64 {
        self.attributes.get(name).copied().unwrap_or(0.0).max(0.0)
    }

    fn ms(&self, name: &str) -> Duration {
        Duration::from_secs_f64(self.attr(name).min(3_600_000.0) / 1000.0)
    }

    fn matches(&self, service: &str) -> bool {
        self.service == "*" || self.service == service || (self.service == "dns" && self.kind == Kind::DnsFail)
    }

    /// Check a fault from a client: known attributes in range, a seed for chance.
    pub fn validate(&mut self) -> Result<(), String> {
        const SERVICES: [&str; 10] = ["ftp", "ftps", "http", "https", "smtp", "pop3", "sockets", "time", "dns", "*"];
        if !SERVICES.contains(&self.service.as_str()) {
            return Err(format!("service {:?}: one of {}", self.service, SERVICES.join(", ")));
        }
        if self.service == "dns" && self.kind != Kind::DnsFail {
            return Err("service dns takes only dns_fail".into());
        }
        if !(0.0..=1.0).contains(&self.toxicity) {
            return Err("toxicity is 0..1".into());
        }
        if self.toxicity < 1.0 && self.seed.is_none() {
            return Err("a toxicity below 1 needs a seed, so a run is repeatable".into());
        }
        let allowed: &[&str] = match self.kind {
            Kind::Latency => &["latency", "jitter"],
            Kind::Bandwidth => &["rate"],
            Kind::SlowClose => &["delay"],
            Kind::Timeout | Kind::ResetPeer => &["timeout"],
            Kind::Slicer => &["average_size", "size_variation", "delay"],
            Kind::LimitData => &["bytes"],
            Kind::Refuse | Kind::DnsFail | Kind::TlsFail => &[],
        };
        if let Some(bad) = self.attributes.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(format!("{:?} has no attribute {bad:?} (it has: {})", self.kind, allowed.join(", ")));
        }
        if self.attributes.values().any(|v| !v.is_finite() || *v < 0.0) {
            return Err("attributes are numbers of at least 0".into());
        }
        if self.kind == Kind::Bandwidth && self.attr("rate") <= 0.0 {
            return Err("bandwidth needs a rate above 0 (KB/s)".into());
        }
        if self.kind == Kind::Slicer && self.attr("average_size") < 1.0 {
            return Err("slicer needs an average_size of at least 1".into());
        }
        if self.name.is_empty() {
            self.name = self.label();
        }
        Ok(())
    }

    /// Its name, or the default one it gets (`<service>_<type>`).
    pub fn label(&self) -> String {
        if !self.name.is_empty() {
            return self.name.clone();
        }
        let kind = serde_json::to_value(self.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        format!("{}_{kind}", self.service.replace('*', "all"))
    }
}

/// Network conditions for every connection (§6.5).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The preset these came from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    #[serde(default)]
    pub down_kbps: Option<f64>,
    #[serde(default)]
    pub up_kbps: Option<f64>,
    #[serde(default)]
    pub rtt_ms: f64,
    #[serde(default)]
    pub jitter_ms: f64,
    /// Chance per KiB of a stall of one retransmission timeout (1 s).
    #[serde(default)]
    pub loss_pct: f64,
    /// Added to the first byte after `idle_after_ms` of silence (radio promotion).
    #[serde(default)]
    pub promote_ms: f64,
    #[serde(default)]
    pub idle_after_ms: f64,
    #[serde(default)]
    pub dns_ms: f64,
    #[serde(default)]
    pub seed: Option<u64>,
}

/// One preset: its figures and what the DTE sees with it (`+COPS` AcT, `+CSQ` rssi).
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    pub name: &'static str,
    pub down_kbps: f64,
    pub up_kbps: f64,
    pub rtt_ms: f64,
    pub jitter_ms: f64,
    pub promote_ms: f64,
    pub idle_after_ms: f64,
    pub act: u8,
    pub rssi: u8,
    pub anchors: &'static str,
}

/// The presets of CONTROL-DESIGN.md §6.5 (`full` is no shaping at all).
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "gprs",
        down_kbps: 50.0,
        up_kbps: 20.0,
        rtt_ms: 600.0,
        jitter_ms: 200.0,
        promote_ms: 500.0,
        idle_after_ms: 5000.0,
        act: 0,
        rssi: 12,
        anchors: "CS-2 x 4/2 slots; HPBN 2G 300-1000 ms; TBF setup",
    },
    Preset {
        name: "edge",
        down_kbps: 200.0,
        up_kbps: 100.0,
        rtt_ms: 300.0,
        jitter_ms: 100.0,
        promote_ms: 300.0,
        idle_after_ms: 5000.0,
        act: 3,
        rssi: 14,
        anchors: "MCS-9 x 4/2 = 236.8/118.4; Android edge 80-400 ms",
    },
    Preset {
        name: "umts",
        down_kbps: 384.0,
        up_kbps: 64.0,
        rtt_ms: 200.0,
        jitter_ms: 50.0,
        promote_ms: 2500.0,
        idle_after_ms: 20000.0,
        act: 2,
        rssi: 18,
        anchors: "R99 384/64; wirelessmoves 226-236 ms, idle to DCH 2.5 s",
    },
    Preset {
        name: "hspa",
        down_kbps: 3000.0,
        up_kbps: 1000.0,
        rtt_ms: 110.0,
        jitter_ms: 20.0,
        promote_ms: 1200.0,
        idle_after_ms: 5000.0,
        act: 6,
        rssi: 21,
        anchors: "HSDPA 7.2/HSUPA 5.76 peaks; 100-120 ms; FACH to DCH 1-1.5 s",
    },
    Preset {
        name: "lte-cat1",
        down_kbps: 5000.0,
        up_kbps: 2000.0,
        rtt_ms: 50.0,
        jitter_ms: 10.0,
        promote_ms: 80.0,
        idle_after_ms: 10000.0,
        act: 7,
        rssi: 24,
        anchors: "Cat-1 10/5 peak; Codavel 25-50 ms; HPBN < 100 ms",
    },
    Preset {
        name: "lte-m",
        down_kbps: 300.0,
        up_kbps: 375.0,
        rtt_ms: 150.0,
        jitter_ms: 50.0,
        promote_ms: 100.0,
        idle_after_ms: 10000.0,
        act: 7,
        rssi: 18,
        anchors: "Cat-M1 HD-FDD 300/375 kbit/s; RTT an estimate",
    },
    Preset {
        name: "nb-iot",
        down_kbps: 26.0,
        up_kbps: 62.0,
        rtt_ms: 2000.0,
        jitter_ms: 1000.0,
        promote_ms: 0.0,
        idle_after_ms: 0.0,
        act: 9,
        rssi: 8,
        anchors: "Cat-NB1 26/62 kbit/s, 1.6-10 s latency",
    },
    Preset {
        name: "slow-3g",
        down_kbps: 500.0,
        up_kbps: 500.0,
        rtt_ms: 400.0,
        jitter_ms: 0.0,
        promote_ms: 0.0,
        idle_after_ms: 0.0,
        act: 2,
        rssi: 14,
        anchors: "DevTools target values",
    },
    Preset {
        name: "slow-4g",
        down_kbps: 1600.0,
        up_kbps: 750.0,
        rtt_ms: 150.0,
        jitter_ms: 0.0,
        promote_ms: 0.0,
        idle_after_ms: 0.0,
        act: 7,
        rssi: 18,
        anchors: "DevTools target values",
    },
    Preset {
        name: "fast-4g",
        down_kbps: 9000.0,
        up_kbps: 1500.0,
        rtt_ms: 60.0,
        jitter_ms: 0.0,
        promote_ms: 0.0,
        idle_after_ms: 0.0,
        act: 7,
        rssi: 24,
        anchors: "DevTools target values",
    },
];

/// The `flaky` modifiers: loss per KiB added to a preset (Perfecto's names).
pub const FLAKY: &[(&str, f64)] = &[("steady", 1.0), ("noisy", 2.0), ("unstable", 3.0), ("very-unstable", 5.0)];

impl Condition {
    /// A preset by name (`umts`, or `umts+noisy` with a flaky modifier; `full`: none).
    pub fn preset(name: &str) -> Result<(Self, Option<Preset>), String> {
        let (base, flaky) = name.split_once('+').map_or((name, None), |(b, f)| (b, Some(f)));
        let loss = match flaky {
            None => 0.0,
            Some(f) => FLAKY
                .iter()
                .find(|(n, _)| *n == f)
                .map(|(_, l)| *l)
                .ok_or(format!("flaky modifier {f:?}: steady, noisy, unstable, very-unstable"))?,
        };
        if base == "full" {
            return Ok((Self { preset: Some(name.into()), loss_pct: loss, seed: Some(0), ..Self::default() }, None));
        }
        let p = PRESETS.iter().find(|p| p.name == base).ok_or_else(|| format!("no preset {base:?}"))?;
        Ok((
            Self {
                preset: Some(name.into()),
                down_kbps: Some(p.down_kbps),
                up_kbps: Some(p.up_kbps),
                rtt_ms: p.rtt_ms,
                jitter_ms: p.jitter_ms,
                loss_pct: loss,
                promote_ms: p.promote_ms,
                idle_after_ms: p.idle_after_ms,
                dns_ms: 0.0,
                seed: Some(0),
            },
            Some(*p),
        ))
    }

    pub fn validate(&self) -> Result<(), String> {
        let nums = [self.rtt_ms, self.jitter_ms, self.loss_pct, self.promote_ms, self.idle_after_ms, self.dns_ms];
        if nums.iter().any(|v| !v.is_finite() || *v < 0.0) || self.rtt_ms > 60_000.0 || self.dns_ms > 60_000.0 {
            return Err("figures are numbers of at least 0 (rtt and dns at most 60 s)".into());
        }
        if self.loss_pct > 100.0 {
            return Err("loss_pct is 0..100".into());
        }
        if self.loss_pct > 0.0 && self.seed.is_none() {
            return Err("loss needs a seed, so a run is repeatable".into());
        }
        if [self.down_kbps, self.up_kbps].iter().flatten().any(|r| !r.is_finite() || *r <= 0.0) {
            return Err("down_kbps and up_kbps are above 0 (omit them for no limit)".into());
        }
        Ok(())
    }

    fn shapes(&self) -> bool {
        self.down_kbps.is_some()
            || self.up_kbps.is_some()
            || self.rtt_ms > 0.0
            || self.loss_pct > 0.0
            || self.promote_ms > 0.0
    }
}

#[derive(Debug, Default)]
struct Rules {
    faults: Vec<Fault>,
    condition: Condition,
    /// Per fault name: its random source, and how many connections it has affected.
    rngs: HashMap<String, StdRng>,
    used: HashMap<String, u32>,
    /// Per connection and fault: whether the fault applies to it (decided once).
    decided: HashMap<(u64, String), bool>,
    loss_rng: Option<StdRng>,
    /// When the link last carried data (for the promotion delay).
    last_activity: Option<Instant>,
}

/// The faults and conditions in force (one per process; shared by the control channel and
/// every job's connections).
#[derive(Debug, Default)]
pub struct LinkRules {
    inner: Mutex<Rules>,
    next_conn: AtomicU64,
}

/// What applies to one connection now.
#[derive(Debug, Default, Clone)]
struct Plan {
    faults: Vec<Fault>,
    condition: Condition,
}

impl LinkRules {
    fn lock(&self) -> std::sync::MutexGuard<'_, Rules> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add a fault; a duplicate name is an error (409 for the API).
    pub fn add(&self, mut f: Fault) -> Result<Fault, (u16, String)> {
        f.validate().map_err(|e| (400, e))?;
        let mut r = self.lock();
        if r.faults.iter().any(|g| g.name == f.name) {
            return Err((409, format!("a fault named {:?} exists", f.name)));
        }
        r.rngs.insert(f.name.clone(), StdRng::seed_from_u64(f.seed.unwrap_or(0)));
        r.faults.push(f.clone());
        Ok(f)
    }

    pub fn remove(&self, name: &str) -> bool {
        let mut r = self.lock();
        let before = r.faults.len();
        r.faults.retain(|f| f.name != name);
        r.used.remove(name);
        r.rngs.remove(name);
        r.faults.len() != before
    }

    /// Change a fault's attributes (and toxicity).
    pub fn update(
        &self,
        name: &str,
        attributes: BTreeMap<String, f64>,
        toxicity: Option<f64>,
    ) -> Result<Fault, (u16, String)> {
        let mut r = self.lock();
        let f = r.faults.iter_mut().find(|f| f.name == name).ok_or((404, "fault not found".to_owned()))?;
        let mut g = f.clone();
        g.attributes.extend(attributes);
        if let Some(t) = toxicity {
            g.toxicity = t;
        }
        g.validate().map_err(|e| (400, e))?;
        *f = g.clone();
        Ok(g)
    }

    pub fn faults(&self) -> Vec<Fault> {
        self.lock().faults.clone()
    }

    pub fn set_condition(&self, c: Condition) -> Result<(), String> {
        c.validate()?;
        let mut r = self.lock();
        r.loss_rng = Some(StdRng::seed_from_u64(c.seed.unwrap_or(0)));
        r.condition = c;
        Ok(())
    }

    pub fn condition(&self) -> Condition {
        self.lock().condition.clone()
    }

    /// Everything back to a clean link.
    pub fn clear(&self) {
        *self.lock() = Rules::default();
    }

    /// The faults of `service` that apply to connection `conn` (decided once per
    /// connection and fault: toxicity by the fault's seed, `times` counted). `connecting`:
    /// the faults that act before a connection exists (`refuse`, `dns_fail`); otherwise
    /// those that act on its bytes, so neither kind spends a count where it cannot act.
    fn plan(&self, service: &str, conn: u64, connecting: bool) -> Plan {
        let mut r = self.lock();
        let Rules { faults, rngs, used, decided, condition, .. } = &mut *r;
        let mut out = Vec::new();
        for f in faults.iter().filter(|f| f.matches(service) && f.kind.before_connect() == connecting) {
            let key = (conn, f.name.clone());
            let applies = *decided.entry(key).or_insert_with(|| {
                let n = used.entry(f.name.clone()).or_insert(0);
                if f.times.is_some_and(|t| *n >= t) {
                    return false;
                }
                let hit = f.toxicity >= 1.0 || rngs.get_mut(&f.name).is_some_and(|g| g.random::<f64>() < f.toxicity);
                if hit {
                    *n += 1;
                }
                hit
            });
            if applies {
                out.push(f.clone());
            }
        }
        // A fault that has used up its `times` stays for the connections it chose.
        Plan { faults: out, condition: condition.clone() }
    }

    /// Connection `conn` is over. A fault whose `times` are used up goes once no open
    /// connection it chose is left, so one-shot faults do not pile up over a long run.
    fn forget(&self, conn: u64) {
        let mut r = self.lock();
        let Rules { faults, rngs, used, decided, .. } = &mut *r;
        decided.retain(|(c, _), _| *c != conn);
        faults.retain(|f| {
            let spent = f.times.is_some_and(|t| used.get(&f.name).is_some_and(|n| *n >= t));
            let keep = !spent || decided.iter().any(|((_, name), hit)| *hit && *name == f.name);
            if !keep {
                used.remove(&f.name);
                rngs.remove(&f.name);
            }
            keep
        });
    }

    /// A stall of one RTO for this KiB, by the condition's loss.
    fn lost(&self) -> bool {
        let mut r = self.lock();
        let p = r.condition.loss_pct / 100.0;
        p > 0.0 && r.loss_rng.as_mut().is_some_and(|g| g.random::<f64>() < p)
    }

    /// The promotion delay the first byte after a silence pays, and the activity noted.
    fn promotion(&self) -> Duration {
        let mut r = self.lock();
        let c = &r.condition;
        let now = Instant::now();
        let idle =
            r.last_activity.is_none_or(|t| now.saturating_duration_since(t).as_secs_f64() * 1000.0 >= c.idle_after_ms);
        let d =
            if c.promote_ms > 0.0 && idle { Duration::from_secs_f64(c.promote_ms / 1000.0) } else { Duration::ZERO };
        r.last_activity = Some(now + d);
        d
    }
}

/// What connecting must do before and instead of connecting, by the rules.
#[derive(Debug)]
pub enum Before {
    Go { extra_delay: Duration },
    Refuse,
    DnsFail,
}

impl LinkRules {
    /// Checked before a connection is made: a refusal or a resolution failure, or the
    /// delay the conditions add (DNS, one RTT for the handshake).
    pub fn before_connect(&self, service: &str) -> Before {
        let probe = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let plan = self.plan(service, probe | (1 << 63), true);
        self.forget(probe | (1 << 63));
        if plan.faults.iter().any(|f| f.kind == Kind::DnsFail) {
            return Before::DnsFail;
        }
        if plan.faults.iter().any(|f| f.kind == Kind::Refuse) {
            return Before::Refuse;
        }
        let c = &plan.condition;
        Before::Go { extra_delay: Duration::from_secs_f64((c.dns_ms + c.rtt_ms) / 1000.0) }
    }

    /// Whether connections of `service` need the relay now (a stream fault or a shaping
    /// condition; the relay also picks up faults added later).
    pub fn needs_relay(&self, service: &str) -> bool {
        let r = self.lock();
        r.condition.shapes() || r.faults.iter().any(|f| f.matches(service) && !f.kind.before_connect())
    }
}

/// The service's end of a relayed connection to `server`: a loopback socket whose peer is
/// a relay task applying the rules.
pub async fn relay(
    rules: std::sync::Arc<LinkRules>,
    service: &'static str,
    server: TcpStream,
) -> std::io::Result<TcpStream> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let client = TcpStream::connect(addr).await?;
    let (inner, _) = listener.accept().await?;
    let _ = client.set_nodelay(true);
    let _ = inner.set_nodelay(true);
    let conn = rules.next_conn.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(run_relay(rules, service, conn, inner, server));
    Ok(client)
}

/// How one direction of a relay ended.
enum Ended {
    /// The source closed: pass the close on.
    Eof,
    /// Close both ends now.
    Close,
    /// Reset the module's side.
    Reset,
}

async fn run_relay(
    rules: std::sync::Arc<LinkRules>,
    service: &'static str,
    conn: u64,
    inner: TcpStream,
    server: TcpStream,
) {
    let started = Instant::now();
    let (mut ir, mut iw) = inner.into_split();
    let (mut sr, mut sw) = server.into_split();
    let end = {
        let leg = |dir| Leg { rules: &rules, service, conn, dir, started };
        let up = pump(leg(Direction::Upstream), &mut ir, &mut sw);
        let down = pump(leg(Direction::Downstream), &mut sr, &mut iw);
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        loop {
            tokio::select! {
                e = &mut up, if !up_done => match e {
                    Ended::Eof if down_done => break Ended::Eof,
                    Ended::Eof => up_done = true,
                    other => break other,
                },
                e = &mut down, if !down_done => match e {
                    Ended::Eof if up_done => break Ended::Eof,
                    Ended::Eof => down_done = true,
                    other => break other,
                },
            }
        }
    };
    if let Ended::Reset = end
        && let Ok(inner) = ir.reunite(iw)
    {
        // SO_LINGER 0: the close is a RST, "connection reset by peer" at the module. (The
        // deprecation is about a lingering close blocking the thread; a zero linger does
        // not wait.)
        #[allow(deprecated)]
        let _ = inner.set_linger(Some(Duration::ZERO));
        drop(inner);
    }
    rules.forget(conn);
}

/// Bytes a toxic-free relay moves at once; shaping works in KiB.
const CHUNK: usize = 16 * 1024;
const SHAPED_CHUNK: usize = 1024;
/// How often a stalled direction looks at the rules again.
const TICK: Duration = Duration::from_millis(20);
/// TCP's initial retransmission timeout (RFC 6298): what a lost KiB costs.
const RTO: Duration = Duration::from_secs(1);

/// A chunk on its way: when it is due at the other end, its bytes, and how to slice it
/// (average size, variation, gap) when a slicer applies.
type InFlight = (tokio::time::Instant, Vec<u8>, Option<(usize, usize, Duration)>);

/// One direction of one relayed connection.
#[derive(Clone, Copy)]
struct Leg<'a> {
    rules: &'a LinkRules,
    service: &'static str,
    conn: u64,
    dir: Direction,
    started: Instant,
}

async fn pump(
    leg: Leg<'_>,
    src: &mut tokio::net::tcp::OwnedReadHalf,
    dst: &mut tokio::net::tcp::OwnedWriteHalf,
) -> Ended {
    // A delay line: the reader stamps each chunk with when it is due at the other end
    // (its departure at the link's rate, plus the one-way latency), the writer delivers it
    // then; so latency is paid once per chunk in flight, not once per chunk in turn.
    let (tx, mut rx) =
        tokio::sync::mpsc::channel::<(tokio::time::Instant, Vec<u8>, Option<(usize, usize, Duration)>)>(64);
    let reader = read_side(leg, src, tx);
    let writer = async {
        let mut last_due = tokio::time::Instant::now();
        let mut rng = StdRng::seed_from_u64(leg.conn ^ 0x511ce);
        while let Some((due, data, slices)) = rx.recv().await {
            let due = due.max(last_due);
            last_due = due;
            tokio::time::sleep_until(due).await;
            let ok = match slices {
                None => dst.write_all(&data).await.is_ok(),
                Some((avg, var, gap)) => {
                    let mut rest = &data[..];
                    let mut ok = true;
                    while !rest.is_empty() && ok {
                        let size =
                            if var > 0 { rng.random_range(avg.saturating_sub(var).max(1)..=avg + var) } else { avg };
                        let (piece, tail) = rest.split_at(size.min(rest.len()));
                        ok = dst.write_all(piece).await.is_ok();
                        rest = tail;
                        if !rest.is_empty() {
                            tokio::time::sleep(gap).await;
                        }
                    }
                    ok
                }
            };
            if !ok {
                return false;
            }
        }
        // The source is done and what was in flight has arrived: pass the close on.
        let _ = dst.shutdown().await;
        true
    };
    tokio::pin!(reader, writer);
    let mut reading = true;
    loop {
        tokio::select! {
            e = &mut reader, if reading => match e {
                Ended::Eof => reading = false,
                other => return other,
            },
            ok = &mut writer => return if ok { Ended::Eof } else { Ended::Close },
        }
    }
}

/// The reading half of one direction: chunks stamped with when they are due, until the
/// source ends (after the slow_close delay: the close comes later) or a fault ends the
/// connection.
async fn read_side(
    leg: Leg<'_>,
    src: &mut tokio::net::tcp::OwnedReadHalf,
    tx: tokio::sync::mpsc::Sender<InFlight>,
) -> Ended {
    let Leg { rules, service, conn, dir, started } = leg;
    let mut buf = vec![0u8; CHUNK];
    let mut moved: u64 = 0;
    let mut first = true;
    let mut jitter = StdRng::seed_from_u64(conn ^ 0x5eed);
    // When the link is free to send the next byte (the rate's token bucket).
    let mut free_at = tokio::time::Instant::now();
    loop {
        let plan = rules.plan(service, conn, false);
        let mine = |k: Kind| {
            plan.faults
                .iter()
                .find(|f| f.kind == k && (f.stream == dir || matches!(k, Kind::ResetPeer | Kind::Timeout)))
        };
        let slow_close = mine(Kind::SlowClose).map_or(Duration::ZERO, |f| f.ms("delay"));
        if let Some(f) = mine(Kind::ResetPeer)
            && started.elapsed() >= f.ms("timeout")
        {
            return Ended::Reset;
        }
        if let Some(f) = mine(Kind::Timeout) {
            // Nothing gets through; the connection closes after `timeout` (0: never).
            let t = f.ms("timeout");
            if !t.is_zero() && started.elapsed() >= t {
                return Ended::Close;
            }
            tokio::time::sleep(TICK).await;
            continue;
        }
        let shaped = !plan.faults.is_empty() || plan.condition.shapes();
        let want = if shaped { SHAPED_CHUNK } else { CHUNK };
        let n = tokio::select! {
            r = src.read(&mut buf[..want]) => match r {
                Ok(0) | Err(_) => {
                    tokio::time::sleep(slow_close).await;
                    return Ended::Eof;
                }
                Ok(n) => n,
            },
            () = tokio::time::sleep(TICK) => continue,
        };
        let mut data = buf[..n].to_vec();
        if let Some(f) = mine(Kind::LimitData) {
            let left = (f.attr("bytes") as u64).saturating_sub(moved);
            if left == 0 {
                return Ended::Close;
            }
            data.truncate(left as usize);
        }
        if first && dir == Direction::Downstream && mine(Kind::TlsFail).is_some() {
            // A TLS record nobody can parse: the handshake fails as with a broken peer.
            data.fill(0x17);
        }
        first = false;
        let c = &plan.condition;
        let now = tokio::time::Instant::now();
        // Departure: after what is queued ahead at the link's rate, after a radio
        // promotion if the link was idle, after a retransmission timeout per lost KiB.
        let mut depart = free_at.max(now) + rules.promotion();
        for _ in 0..data.len().div_ceil(1024) {
            if rules.lost() {
                depart += RTO;
            }
        }
        let rate_kbps = match dir {
            Direction::Downstream => c.down_kbps,
            Direction::Upstream => c.up_kbps,
        };
        let mut serialize = Duration::ZERO;
        if let Some(kbps) = rate_kbps {
            serialize += Duration::from_secs_f64(data.len() as f64 * 8.0 / (kbps * 1000.0));
        }
        if let Some(f) = mine(Kind::Bandwidth) {
            serialize += Duration::from_secs_f64(data.len() as f64 / (f.attr("rate") * 1000.0));
        }
        free_at = depart + serialize;
        // Arrival: one way is half an RTT (± jitter), plus a latency fault's delay.
        let mut latency = 0.0;
        if c.rtt_ms > 0.0 {
            let j = if c.jitter_ms > 0.0 { jitter.random_range(-c.jitter_ms..=c.jitter_ms) } else { 0.0 };
            latency += (c.rtt_ms / 2.0 + j).max(0.0);
        }
        if let Some(f) = mine(Kind::Latency) {
            let j = f.attr("jitter");
            latency += (f.attr("latency") + if j > 0.0 { jitter.random_range(-j..=j) } else { 0.0 }).max(0.0);
        }
        let due = free_at + Duration::from_secs_f64(latency / 1000.0);
        let slices = mine(Kind::Slicer).map(|f| {
            (
                f.attr("average_size").max(1.0) as usize,
                f.attr("size_variation") as usize,
                Duration::from_micros(f.attr("delay") as u64),
            )
        });
        moved += data.len() as u64;
        let done = mine(Kind::LimitData).is_some_and(|f| moved >= f.attr("bytes") as u64);
        if tx.send((due, data, slices)).await.is_err() {
            return Ended::Close;
        }
        if done {
            // What was allowed still goes out; then that direction is closed.
            return Ended::Eof;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(json: &str) -> Fault {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn validation_and_names() {
        let rules = LinkRules::default();
        let f = rules.add(fault(r#"{"service": "ftp", "type": "reset_peer", "attributes": {"timeout": 0}}"#)).unwrap();
        assert_eq!(f.name, "ftp_reset_peer");
        assert_eq!(rules.add(f.clone()).unwrap_err().0, 409);
        assert_eq!(rules.add(fault(r#"{"service": "gopher", "type": "refuse"}"#)).unwrap_err().0, 400);
        assert_eq!(
            rules.add(fault(r#"{"service": "http", "type": "latency", "attributes": {"rate": 1}}"#)).unwrap_err().0,
            400
        );
        assert_eq!(rules.add(fault(r#"{"service": "http", "type": "refuse", "toxicity": 0.5}"#)).unwrap_err().0, 400);
        assert!(rules.add(fault(r#"{"service": "http", "type": "refuse", "toxicity": 0.5, "seed": 7}"#)).is_ok());
        assert!(serde_json::from_str::<Fault>(r#"{"service": "http", "type": "nope"}"#).is_err());
        assert!(rules.remove("ftp_reset_peer") && !rules.remove("ftp_reset_peer"));
    }

    #[test]
    fn toxicity_is_repeatable_by_seed_and_times_count() {
        let pick = |seed: u64| {
            let rules = LinkRules::default();
            rules
                .add(fault(&format!(r#"{{"service": "http", "type": "refuse", "toxicity": 0.5, "seed": {seed}}}"#)))
                .unwrap();
            (0..40).map(|_| matches!(rules.before_connect("http"), Before::Refuse)).collect::<Vec<_>>()
        };
        assert_eq!(pick(3), pick(3));
        let hits = pick(3).iter().filter(|h| **h).count();
        assert!((8..=32).contains(&hits), "{hits}");
        let rules = LinkRules::default();
        rules.add(fault(r#"{"service": "*", "type": "refuse", "times": 2}"#)).unwrap();
        let r: Vec<bool> = (0..4).map(|_| matches!(rules.before_connect("smtp"), Before::Refuse)).collect();
        assert_eq!(r, [true, true, false, false]);
        assert!(rules.faults().is_empty(), "a spent fault is gone");
    }

    /// A one-shot stream fault is not spent by the connect check, and a one-shot refusal
    /// is not spent by a connection already open; each goes once used.
    #[test]
    fn one_shot_faults_act_where_they_can() {
        let rules = LinkRules::default();
        rules
            .add(fault(r#"{"service": "http", "type": "latency", "times": 1, "attributes": {"latency": 5}}"#))
            .unwrap();
        assert!(matches!(rules.before_connect("http"), Before::Go { .. }));
        let plan = rules.plan("http", 1, false);
        assert_eq!(plan.faults.len(), 1, "the latency applies to the connection");
        rules.add(fault(r#"{"service": "http", "type": "refuse", "times": 1}"#)).unwrap();
        assert_eq!(rules.plan("http", 1, false).faults.len(), 1, "an open connection keeps its latency only");
        assert_eq!(rules.faults().len(), 2);
        rules.forget(1);
        assert_eq!(rules.faults().len(), 1, "the spent latency is gone with its connection");
        assert!(matches!(rules.before_connect("http"), Before::Refuse), "the refusal was not spent");
        assert!(rules.faults().is_empty());
        assert!(matches!(rules.before_connect("http"), Before::Go { .. }));
    }

    #[test]
    fn presets() {
        let (c, p) = Condition::preset("umts+noisy").unwrap();
        assert_eq!((c.down_kbps, c.loss_pct, p.map(|p| p.act)), (Some(384.0), 2.0, Some(2)));
        assert!(Condition::preset("6g").is_err());
        assert!(Condition::preset("gprs+bumpy").is_err());
        assert!(Condition { loss_pct: 1.0, ..Condition::default() }.validate().is_err());
        assert!(Condition { down_kbps: Some(0.0), ..Condition::default() }.validate().is_err());
    }
}
