//! The rule store: the faults and the condition in force (one per process), and what
//! they decide for each connection.

use super::{Condition, Fault, Kind};
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
    pub(super) next_conn: AtomicU64,
}

/// What applies to one connection now.
#[derive(Debug, Default, Clone)]
pub(super) struct Plan {
    pub(super) faults: Vec<Fault>,
    pub(super) condition: Condition,
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
        let f =
            r.faults.iter_mut().find(|f| f.name == name).ok_or_else(|| (404, format!("no fault named {name:?}")))?;
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
    pub(super) fn plan(&self, service: &str, conn: u64, connecting: bool) -> Plan {
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
    pub(super) fn forget(&self, conn: u64) {
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
    pub(super) fn lost(&self) -> bool {
        let mut r = self.lock();
        let p = r.condition.loss_pct / 100.0;
        p > 0.0 && r.loss_rng.as_mut().is_some_and(|g| g.random::<f64>() < p)
    }

    /// The promotion delay the first byte after a silence pays, and the activity noted.
    pub(super) fn promotion(&self) -> Duration {
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

#[cfg(test)]
mod tests {
    use super::super::*;
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
