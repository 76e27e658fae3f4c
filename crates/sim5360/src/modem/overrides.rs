//! Answer overrides (the control channel's, after Renode's one-shot command overrides):
//! a command matched by its parsed name and form (and, optionally, a pattern on its
//! arguments) answers given lines and a given result instead of its handler, after a
//! delay, a number of times or always; or it gets no answer at all (`drop`), or keeps the
//! line busy until the override is removed (`hang`, then the command runs as usual).
//! Overrides are checked before the handler, in the order they were added.

use serde::{Deserialize, Serialize};
use std::time::Duration;
use v250::Form;

/// Most overrides at once, and the longest delay: bounds for what a client can ask.
pub const MAX_OVERRIDES: usize = 256;
pub const MAX_DELAY: Duration = Duration::from_secs(600);

/// Which forms an override matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FormSel {
    Exec,
    Read,
    Test,
    Write,
    #[default]
    Any,
}

impl FormSel {
    fn matches(self, f: Form) -> bool {
        matches!(
            (self, f),
            (Self::Any, _)
                | (Self::Exec, Form::Exec)
                | (Self::Read, Form::Read)
                | (Self::Test, Form::Test)
                | (Self::Write, Form::Write)
        )
    }
}

/// What a matched command does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Answer `lines` and `result` (after `delay_ms`).
    #[default]
    Respond,
    /// Answer nothing; the line ends (the DTE's timeout is what is tested).
    Drop,
    /// Keep the line busy (input waits) until the override is removed; then the command
    /// runs as usual.
    Hang,
}

impl Action {
    /// Its wire name (`respond`, `drop`, `hang`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Respond => "respond",
            Self::Drop => "drop",
            Self::Hang => "hang",
        }
    }
}

fn one() -> Option<u32> {
    Some(1)
}

fn ok() -> String {
    "OK".into()
}

/// An override as the control channel gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideSpec {
    /// The command as the manual spells it: `+CSQ`, `+CFTPGET`, `D`, `E`.
    pub command: String,
    #[serde(default)]
    pub form: FormSel,
    /// A regular expression the arguments (as typed) must match.
    #[serde(default)]
    pub args_match: Option<String>,
    /// Information lines of the answer.
    #[serde(default)]
    pub lines: Vec<String>,
    /// The final result: `OK` (the line goes on), `ERROR`, any other result text
    /// (`+CME ERROR: 30`, `NO CARRIER`), or `none` (no final result; the line ends).
    #[serde(default = "ok")]
    pub result: String,
    #[serde(default)]
    pub delay_ms: u64,
    /// How many commands it answers before it is gone; `null`: always. Default 1.
    #[serde(default = "one")]
    pub times: Option<u32>,
    #[serde(default, rename = "then")]
    pub action: Action,
}

/// An override in force.
#[derive(Debug, Clone)]
struct Active {
    id: u64,
    spec: OverrideSpec,
    name: String,
    pattern: Option<regex::Regex>,
    used: u32,
}

/// The overrides in force, in the order they were added.
#[derive(Debug, Default)]
pub struct Overrides {
    list: Vec<Active>,
    next_id: u64,
}

/// A command's name as the parser gives it: upper case, `+` kept (`CSQ` alone becomes
/// `+CSQ`, a basic command stays as it is).
fn normalize(name: &str) -> String {
    let n = name.trim().to_ascii_uppercase();
    let n = n.strip_prefix("AT").filter(|r| !r.is_empty()).map_or(n.clone(), str::to_owned);
    if n.len() > 2 && n.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) { format!("+{n}") } else { n }
}

impl Overrides {
    /// Add one; its id, or why it cannot be.
    pub fn add(&mut self, spec: OverrideSpec) -> Result<u64, String> {
        if self.list.len() >= MAX_OVERRIDES {
            return Err(format!("at most {MAX_OVERRIDES} overrides"));
        }
        let name = normalize(&spec.command);
        if name.is_empty() || name.len() > 32 || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!("{:?} is not a command name", spec.command));
        }
        if Duration::from_millis(spec.delay_ms) > MAX_DELAY {
            return Err(format!("delay_ms is at most {}", MAX_DELAY.as_millis()));
        }
        if spec.times == Some(0) {
            return Err("times must be at least 1 (null: always)".into());
        }
        if spec.result.is_empty()
            || spec.result.contains(['\r', '\n'])
            || spec.lines.iter().any(|l| l.contains(['\r', '\n']))
        {
            return Err("result and lines are single lines of text".into());
        }
        let pattern = match &spec.args_match {
            None => None,
            Some(p) => {
                Some(regex::RegexBuilder::new(p).size_limit(1 << 20).build().map_err(|e| format!("args_match: {e}"))?)
            }
        };
        self.next_id += 1;
        let id = self.next_id;
        self.list.push(Active { id, spec, name, pattern, used: 0 });
        Ok(id)
    }

    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.list.len();
        self.list.retain(|o| o.id != id);
        self.list.len() != before
    }

    pub fn clear(&mut self) {
        self.list.clear();
    }

    pub fn contains(&self, id: u64) -> bool {
        self.list.iter().any(|o| o.id == id)
    }

    /// Every override with its id and how many answers it has given.
    pub fn list(&self) -> Vec<serde_json::Value> {
        self.list
            .iter()
            .map(|o| {
                let mut v = serde_json::to_value(&o.spec).unwrap_or_default();
                v["id"] = o.id.into();
                v["used"] = o.used.into();
                v
            })
            .collect()
    }

    /// The first override that matches this command, counted as used (and gone when it
    /// has answered its number of times); a `hang` stays until removed.
    pub fn take(&mut self, name: &str, form: Form, args: &[u8]) -> Option<(u64, OverrideSpec)> {
        let text = String::from_utf8_lossy(args);
        let i = self.list.iter().position(|o| {
            o.name.eq_ignore_ascii_case(name)
                && o.spec.form.matches(form)
                && o.pattern.as_ref().is_none_or(|p| p.is_match(&text))
        })?;
        let o = &mut self.list[i];
        o.used += 1;
        let found = (o.id, o.spec.clone());
        if o.spec.action != Action::Hang && o.spec.times.is_some_and(|t| o.used >= t) {
            self.list.remove(i);
        }
        Some(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> OverrideSpec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn once_by_default_always_with_null() {
        let mut o = Overrides::default();
        o.add(spec(r#"{"command": "+CSQ", "lines": ["+CSQ: 99,99"]}"#)).unwrap();
        assert!(o.take("+CSQ", Form::Exec, b"").is_some());
        assert!(o.take("+CSQ", Form::Exec, b"").is_none());
        let id = o.add(spec(r#"{"command": "csq", "times": null, "form": "exec"}"#)).unwrap();
        for _ in 0..3 {
            assert_eq!(o.take("+CSQ", Form::Exec, b"").map(|t| t.0), Some(id));
        }
        assert!(o.take("+CSQ", Form::Read, b"").is_none());
        assert!(o.remove(id) && !o.remove(id));
    }

    #[test]
    fn argument_patterns_and_bad_specs() {
        let mut o = Overrides::default();
        o.add(spec(r#"{"command": "+CFTPGET", "args_match": "^\"/big", "result": "ERROR"}"#)).unwrap();
        assert!(o.take("+CFTPGET", Form::Write, b"\"/small\"").is_none());
        assert!(o.take("+CFTPGET", Form::Write, b"\"/big.bin\"").is_some());
        assert!(o.add(spec(r#"{"command": "+X", "args_match": "("}"#)).is_err());
        assert!(o.add(spec(r#"{"command": "+X", "times": 0}"#)).is_err());
        assert!(o.add(spec(r#"{"command": "+X", "delay_ms": 3600000}"#)).is_err());
        assert!(o.add(spec(r#"{"command": ""}"#)).is_err());
        assert!(serde_json::from_str::<OverrideSpec>(r#"{"command": "+X", "bogus": 1}"#).is_err());
        assert_eq!(normalize("ATD"), "D");
        assert_eq!(normalize("E"), "E");
        assert_eq!(normalize("AT+CSQ"), "+CSQ");
    }
}
