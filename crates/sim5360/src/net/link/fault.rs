//! Faults: Toxiproxy's toxic types with a service selector (`Fault`), as the control
//! API takes them and the relay applies them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

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
    /// Its wire name, as the API takes it (`reset_peer`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Latency => "latency",
            Self::Bandwidth => "bandwidth",
            Self::SlowClose => "slow_close",
            Self::Timeout => "timeout",
            Self::ResetPeer => "reset_peer",
            Self::Slicer => "slicer",
            Self::LimitData => "limit_data",
            Self::Refuse => "refuse",
            Self::DnsFail => "dns_fail",
            Self::TlsFail => "tls_fail",
        }
    }

    /// Acts before a connection exists (the others act on its bytes).
    pub(super) fn before_connect(self) -> bool {
        matches!(self, Self::Refuse | Self::DnsFail)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
    pub(super) fn attr(&self, name: &str) -> f64 {
        self.attributes.get(name).copied().unwrap_or(0.0).max(0.0)
    }

    pub(super) fn ms(&self, name: &str) -> Duration {
        Duration::from_secs_f64(self.attr(name).min(3_600_000.0) / 1000.0)
    }

    pub(super) fn matches(&self, service: &str) -> bool {
        self.service == "*" || self.service == service || (self.service == "dns" && self.kind == Kind::DnsFail)
    }

    /// Check a fault from a client: known attributes in range, a seed for chance.
    pub fn validate(&mut self) -> Result<(), String> {
        const SERVICES: [&str; 11] =
            ["ftp", "ftps", "http", "https", "smtp", "pop3", "sockets", "ppp", "time", "dns", "*"];
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
            let has = if allowed.is_empty() { "none".to_owned() } else { allowed.join(", ") };
            return Err(format!("a {} fault has no attribute {bad:?} (its attributes: {has})", self.kind.as_str()));
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
        format!("{}_{}", self.service.replace('*', "all"), self.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::Kind;

    /// The wire names of `as_str` are serde's, one for one.
    #[test]
    fn wire_names_are_serdes() {
        for k in [
            Kind::Latency,
            Kind::Bandwidth,
            Kind::SlowClose,
            Kind::Timeout,
            Kind::ResetPeer,
            Kind::Slicer,
            Kind::LimitData,
            Kind::Refuse,
            Kind::DnsFail,
            Kind::TlsFail,
        ] {
            assert_eq!(serde_json::to_value(k).unwrap_or_default(), k.as_str());
        }
    }
}
