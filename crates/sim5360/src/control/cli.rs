//! `sim5360 ctl ...`: the control API from a shell (toxiproxy-cli style, CONTROL-DESIGN.md
//! §6.4). The running modem is found from `--control URL`, `SIM5360_CONTROL`, or the
//! `<link>.control` file the modem writes beside its PTY link (default link:
//! `$XDG_RUNTIME_DIR/ttySIM5360`).

use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// `10s`, `300ms`, `1.5s`, or milliseconds: a duration of at most an hour.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        (s, 0.001)
    };
    let v: f64 = num.trim().parse().map_err(|_| format!("`{s}` is not a duration like 300ms or 15s"))?;
    if !(0.0..=3600.0).contains(&(v * mult)) {
        return Err(format!("`{s}` is outside 0..1h"));
    }
    Ok(Duration::from_secs_f64(v * mult))
}

/// The file beside a PTY link that holds its modem's control URL.
pub fn control_file(link: &Path) -> PathBuf {
    let mut s = link.as_os_str().to_owned();
    s.push(".control");
    PathBuf::from(s)
}

fn default_link() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) => PathBuf::from(d).join("ttySIM5360"),
        None => PathBuf::from(format!("/tmp/ttySIM5360-{}", nix::unistd::getuid())),
    }
}

/// Drive a running sim5360 through its control API.
#[derive(Debug, Parser)]
#[command(name = "sim5360 ctl")]
struct Ctl {
    /// The control API's URL (default: SIM5360_CONTROL, then the file beside --link).
    #[arg(long, env = "SIM5360_CONTROL", value_name = "URL")]
    control: Option<String>,
    /// The modem's PTY link, whose `.control` file names its API.
    #[arg(long, value_name = "PATH")]
    link: Option<PathBuf>,
    /// Bearer token (`--control-token` of the modem).
    #[arg(long, env = "SIM5360_CONTROL_TOKEN", value_name = "TOKEN")]
    token: Option<String>,
    /// Which modem of a fleet.
    #[arg(long, default_value_t = 0)]
    modem: u32,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Debug, Subcommand)]
enum Verb {
    /// The whole state, as JSON.
    State,
    /// Deliver an SMS, or list the stored messages or the outbox.
    Sms {
        #[command(subcommand)]
        what: SmsVerb,
    },
    /// Emit a raw line as a URC.
    Urc { line: String },
    /// Change registration or signal.
    Radio(RadioArgs),
    /// Take coverage away, or give it back.
    Coverage {
        #[command(subcommand)]
        what: CoverageVerb,
    },
    /// Take the SIM out, or put it back.
    Sim {
        #[arg(value_parser = ["remove", "insert"])]
        action: String,
    },
    /// Set the GNSS position, or hide the sky.
    Gnss {
        #[arg(long, allow_hyphen_values = true, required_unless_present = "no_fix")]
        lat: Option<f64>,
        #[arg(long, allow_hyphen_values = true, required_unless_present = "no_fix")]
        lon: Option<f64>,
        #[arg(long, allow_hyphen_values = true)]
        alt: Option<f64>,
        #[arg(long, conflicts_with_all = ["lat", "lon", "alt"])]
        no_fix: bool,
    },
    /// A call comes in, or the remote party hangs up.
    Call {
        #[command(subcommand)]
        what: CallVerb,
    },
    /// Answer overrides.
    Override {
        #[command(subcommand)]
        what: OverrideVerb,
    },
    /// Link faults per service (Toxiproxy's toxics).
    Fault {
        #[command(subcommand)]
        what: FaultVerb,
    },
    /// Network conditions: a preset (gprs, edge, umts, hspa, lte-cat1, lte-m, nb-iot,
    /// slow-3g, slow-4g, fast-4g, full; `+noisy` and the like add loss) or figures.
    Net(NetArgs),
    /// The AT trace's latest lines (both directions, masked); `-f` follows it.
    Trace {
        #[arg(short = 'f', long)]
        follow: bool,
        #[arg(long, default_value_t = 200)]
        limit: usize,
    },
    /// Restart the module (as AT+CRESET).
    Reboot,
    /// Everything injected back to the defaults.
    Reset,
}

#[derive(Debug, Subcommand)]
enum SmsVerb {
    Deliver {
        #[arg(long)]
        from: String,
        /// An SMS-DELIVER TPDU in hex instead of TEXT.
        #[arg(long, conflicts_with = "text")]
        pdu: Option<String>,
        #[arg(long)]
        class: Option<u8>,
        #[arg(required_unless_present = "pdu")]
        text: Option<String>,
    },
    Inbox,
    Outbox,
}

#[derive(Debug, Args)]
struct RadioArgs {
    /// home, roaming, searching, denied, unregistered
    #[arg(long)]
    cs: Option<String>,
    #[arg(long)]
    ps: Option<String>,
    #[arg(long)]
    rssi: Option<u8>,
    #[arg(long)]
    ber: Option<u8>,
    #[arg(long)]
    lac: Option<u16>,
    #[arg(long)]
    ci: Option<u32>,
}

#[derive(Debug, Subcommand)]
enum CoverageVerb {
    Lose {
        /// Coverage comes back by itself after this long.
        #[arg(long = "for", value_parser = parse_duration)]
        for_: Option<Duration>,
        #[arg(long, value_parser = parse_duration)]
        reregister: Option<Duration>,
    },
    Restore {
        #[arg(long, value_parser = parse_duration)]
        reregister: Option<Duration>,
    },
}

#[derive(Debug, Subcommand)]
enum FaultVerb {
    /// A fault on SERVICE (ftp, ftps, http, https, smtp, pop3, sockets, time, dns, *).
    Add {
        service: String,
        /// latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data,
        /// refuse, dns_fail, tls_fail
        #[arg(short = 't', long = "type")]
        kind: String,
        /// An attribute, NAME=VALUE (Toxiproxy's names and units).
        #[arg(short = 'a', long = "attribute", value_parser = parse_attribute)]
        attributes: Vec<(String, f64)>,
        #[arg(short = 'n', long)]
        name: Option<String>,
        /// On what the module sends (default: what it receives).
        #[arg(long)]
        upstream: bool,
        #[arg(long)]
        toxicity: Option<f64>,
        #[arg(long)]
        seed: Option<u64>,
        /// Affect this many connections, then stop.
        #[arg(long)]
        times: Option<u32>,
    },
    Ls,
    Rm {
        name: String,
    },
    Clear,
}

fn parse_attribute(s: &str) -> Result<(String, f64), String> {
    let (k, v) = s.split_once('=').ok_or("expected NAME=VALUE, e.g. timeout=0")?;
    Ok((k.trim().to_owned(), v.trim().parse().map_err(|_| format!("{v:?} is not a number"))?))
}

#[derive(Debug, Args)]
struct NetArgs {
    /// A preset; without one, the figures below replace the conditions.
    preset: Option<String>,
    #[arg(long, value_parser = parse_duration)]
    rtt: Option<Duration>,
    #[arg(long, value_parser = parse_duration)]
    jitter: Option<Duration>,
    /// kbit/s towards the module.
    #[arg(long)]
    down: Option<f64>,
    /// kbit/s from the module.
    #[arg(long)]
    up: Option<f64>,
    /// Per cent of KiB lost (each costs one 1 s retransmission timeout); needs --seed.
    #[arg(long)]
    loss: Option<f64>,
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long, value_parser = parse_duration)]
    promote: Option<Duration>,
    #[arg(long, value_parser = parse_duration)]
    idle: Option<Duration>,
    #[arg(long, value_parser = parse_duration)]
    dns: Option<Duration>,
}

#[derive(Debug, Subcommand)]
enum CallVerb {
    Ring { from: String },
    Hangup,
}

#[derive(Debug, Subcommand)]
enum OverrideVerb {
    /// Answer COMMAND (`+CSQ`) with these lines and result.
    Add {
        command: String,
        #[arg(long = "line")]
        lines: Vec<String>,
        #[arg(long, default_value = "OK")]
        result: String,
        /// exec, read, test, write or any
        #[arg(long, default_value = "any")]
        form: String,
        /// A regular expression the arguments must match.
        #[arg(long = "args")]
        args_match: Option<String>,
        #[arg(long, value_parser = parse_duration)]
        delay: Option<Duration>,
        /// Answer this many times (default once).
        #[arg(long, conflicts_with = "always")]
        times: Option<u32>,
        #[arg(long)]
        always: bool,
        /// Give no answer at all.
        #[arg(long, conflicts_with = "hang")]
        drop: bool,
        /// Keep the line busy until the override is removed.
        #[arg(long)]
        hang: bool,
    },
    Rm {
        id: u64,
    },
    Clear,
    Ls,
}

/// What one verb sends: method, path below the modem, body.
fn request(verb: Verb) -> (&'static str, String, Option<Value>) {
    let ms = |d: Option<Duration>| d.map(|d| d.as_millis() as u64);
    match verb {
        Verb::State => ("GET", String::new(), None),
        Verb::Sms { what: SmsVerb::Deliver { from, pdu, class, text } } => {
            ("POST", "sms".into(), Some(json!({ "from": from, "text": text, "pdu": pdu, "class": class })))
        }
        Verb::Sms { what: SmsVerb::Inbox } => ("GET", "sms?box=inbox".into(), None),
        Verb::Sms { what: SmsVerb::Outbox } => ("GET", "sms?box=outbox".into(), None),
        Verb::Urc { line } => ("POST", "urc".into(), Some(json!({ "line": line }))),
        Verb::Radio(r) => (
            "PATCH",
            "radio".into(),
            Some(json!({ "cs": r.cs, "ps": r.ps, "rssi": r.rssi, "ber": r.ber, "lac": r.lac, "ci": r.ci })),
        ),
        Verb::Coverage { what: CoverageVerb::Lose { for_, reregister } } => (
            "POST",
            "coverage".into(),
            Some(json!({ "lost": true, "for_ms": ms(for_), "reregister_ms": ms(reregister) })),
        ),
        Verb::Coverage { what: CoverageVerb::Restore { reregister } } => {
            ("POST", "coverage".into(), Some(json!({ "lost": false, "reregister_ms": ms(reregister) })))
        }
        Verb::Sim { action } => ("PATCH", "sim".into(), Some(json!({ "present": action == "insert" }))),
        Verb::Gnss { no_fix: true, .. } => ("PUT", "gnss".into(), Some(json!({ "fix": false }))),
        Verb::Gnss { lat, lon, alt, .. } => {
            ("PUT", "gnss".into(), Some(json!({ "fix": true, "lat": lat, "lon": lon, "alt_m": alt })))
        }
        Verb::Call { what: CallVerb::Ring { from } } => ("POST", "call".into(), Some(json!({ "from": from }))),
        Verb::Call { what: CallVerb::Hangup } => ("DELETE", "call".into(), None),
        Verb::Override {
            what: OverrideVerb::Add { command, lines, result, form, args_match, delay, times, always, drop, hang },
        } => {
            let then = if drop {
                "drop"
            } else if hang {
                "hang"
            } else {
                "respond"
            };
            let times = if always { Value::Null } else { json!(times.unwrap_or(1)) };
            let body = json!({
                "command": command, "lines": lines, "result": result, "form": form, "args_match": args_match,
                "delay_ms": ms(delay).unwrap_or(0), "times": times, "then": then,
            });
            ("POST", "overrides".into(), Some(body))
        }
        Verb::Override { what: OverrideVerb::Rm { id } } => ("DELETE", format!("overrides/{id}"), None),
        Verb::Override { what: OverrideVerb::Clear } => ("DELETE", "overrides".into(), None),
        Verb::Override { what: OverrideVerb::Ls } => ("GET", "overrides".into(), None),
        Verb::Fault { what: FaultVerb::Add { service, kind, attributes, name, upstream, toxicity, seed, times } } => {
            let attrs: serde_json::Map<String, Value> = attributes.into_iter().map(|(k, v)| (k, json!(v))).collect();
            let body = json!({
                "service": service, "type": kind, "attributes": attrs, "name": name,
                "stream": if upstream { "upstream" } else { "downstream" },
                "toxicity": toxicity, "seed": seed, "times": times,
            });
            ("POST", "faults".into(), Some(body))
        }
        Verb::Fault { what: FaultVerb::Ls } => ("GET", "faults".into(), None),
        Verb::Fault { what: FaultVerb::Rm { name } } => ("DELETE", format!("faults/{name}"), None),
        Verb::Fault { what: FaultVerb::Clear } => ("DELETE", "faults".into(), None),
        Verb::Net(n) => {
            let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
            let body = match n.preset {
                Some(p) => json!({ "preset": p }),
                None => json!({
                    "rtt_ms": ms(n.rtt), "jitter_ms": ms(n.jitter), "down_kbps": n.down, "up_kbps": n.up,
                    "loss_pct": n.loss, "seed": n.seed, "promote_ms": ms(n.promote), "idle_after_ms": ms(n.idle),
                    "dns_ms": ms(n.dns),
                }),
            };
            ("PUT", "network".into(), Some(body))
        }
        Verb::Trace { limit, .. } => ("GET", format!("trace?limit={limit}"), None),
        Verb::Reboot => ("POST", "reboot".into(), None),
        Verb::Reset => ("POST", "reset".into(), None),
    }
}

/// `ctl trace [-f]`: print the latest lines; with `-f` keep printing new ones (polling).
fn trace(ctl: &Ctl, follow: bool, limit: usize) -> Result<String, String> {
    let base = base_url(ctl)?;
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(15))).build().into();
    let mut since: Option<u64> = None;
    loop {
        let q = match since {
            Some(s) => format!("since={s}&limit=10000"),
            None => format!("limit={limit}"),
        };
        let url = format!("{base}/api/v1/modems/{}/trace?{q}", ctl.modem);
        let mut rq = agent.get(&url);
        if let Some(t) = &ctl.token {
            rq = rq.header("Authorization", &format!("Bearer {t}"));
        }
        let lines: Vec<Value> =
            rq.call().map_err(|e| format!("{url}: {e}"))?.body_mut().read_json().map_err(|e| format!("{url}: {e}"))?;
        for l in &lines {
            println!("{}", trace_line(l));
            since = l["seq"].as_u64().or(since);
        }
        if !follow {
            return Ok(String::new());
        }
        since = since.or(Some(0));
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Drop the `null` members of an object, so the server sees only what was given (but an
/// override's `times: null`, which means "always").
fn prune(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(k, v)| !v.is_null() || k == "times").collect()),
        other => other,
    }
}

fn base_url(ctl: &Ctl) -> Result<String, String> {
    if let Some(u) = &ctl.control {
        return Ok(u.trim_end_matches('/').to_owned());
    }
    let link = ctl.link.clone().unwrap_or_else(default_link);
    let file = control_file(&link);
    std::fs::read_to_string(&file).map(|s| s.trim().trim_end_matches('/').to_owned()).map_err(|e| {
        format!(
            "no control URL: give --control, set SIM5360_CONTROL, or run the modem with --control ({}: {e})",
            file.display()
        )
    })
}

/// Run `sim5360 ctl` with these arguments (after `ctl`).
pub fn main(args: impl Iterator<Item = OsString>) -> ExitCode {
    let ctl = Ctl::parse_from(std::iter::once(OsString::from("sim5360 ctl")).chain(args));
    match run(ctl) {
        Ok(out) => {
            if !out.is_empty() {
                println!("{out}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sim5360 ctl: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One trace line as `[t] #session DIR text`.
fn trace_line(v: &Value) -> String {
    let dir = match v["dir"].as_str() {
        Some("rx") => "DTE>",
        Some("tx") => "<MOD",
        _ => "NOTE",
    };
    format!("[{:12.6}] #{} {dir} {}", v["t"].as_f64().unwrap_or(0.0), v["session"], v["text"].as_str().unwrap_or(""))
}

fn run(ctl: Ctl) -> Result<String, String> {
    if let Verb::Trace { follow, limit } = ctl.verb {
        return trace(&ctl, follow, limit);
    }
    let base = base_url(&ctl)?;
    let token = ctl.token.clone();
    let modem = ctl.modem;
    let (method, path, body) = request(ctl.verb);
    let url = match (method, path.as_str()) {
        ("POST", "reset") => format!("{base}/api/v1/reset"),
        (_, "") => format!("{base}/api/v1/modems/{modem}"),
        _ => format!("{base}/api/v1/modems/{modem}/{path}"),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(15)))
        .build()
        .into();
    let auth = token.map(|t| format!("Bearer {t}"));
    let with_auth = |r: ureq::RequestBuilder<ureq::typestate::WithoutBody>| match &auth {
        Some(a) => r.header("Authorization", a),
        None => r,
    };
    let with_auth_body = |r: ureq::RequestBuilder<ureq::typestate::WithBody>| match &auth {
        Some(a) => r.header("Authorization", a),
        None => r,
    };
    let res = match (method, body) {
        ("GET", _) => with_auth(agent.get(&url)).call(),
        ("DELETE", _) => with_auth(agent.delete(&url)).call(),
        (m, body) => {
            let rb = match m {
                "PUT" => agent.put(&url),
                "PATCH" => agent.patch(&url),
                _ => agent.post(&url),
            };
            let text = body.map(prune).map(|b| b.to_string()).unwrap_or_default();
            with_auth_body(rb).header("Content-Type", "application/json").send(text)
        }
    };
    let mut res = res.map_err(|e| format!("{url}: {e}"))?;
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().map_err(|e| format!("{url}: {e}"))?;
    if status >= 400 {
        let msg = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or(text);
        return Err(format!("{msg} ({status})"));
    }
    Ok(match serde_json::from_str::<Value>(&text) {
        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or(text),
        Err(_) => text,
    })
}
