//! Masking of secrets (passwords, PINs) in anything written to a trace or a log.
//!
//! Works on raw text, so it serves both directions: a command line the DTE typed
//! (`AT+CSOCKAUTH=1,1,"pw","user"`), its echo, and a read-form answer
//! (`+CSOCKAUTH: 1,1,"pw","user"`). The secret positions come from the command table.

use super::registry::Catalog;
use std::borrow::Cow;

const MASK: &[u8] = b"***";

fn find_ci(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len()).find(|&i| hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

/// Replace the parameters at `positions` (1-based) of the list starting at `start`.
fn mask_params(line: &[u8], start: usize, positions: &[usize], out: &mut Vec<u8>) -> usize {
    let mut i = start;
    let mut index = 1;
    let mut in_quote = false;
    let mut masking = positions.contains(&index);
    let mut masked_this = false;
    while i < line.len() {
        let b = line[i];
        if !in_quote && (b == b';' || b == b'\r' || b == b'\n') {
            break;
        }
        if b == b'"' {
            in_quote = !in_quote;
            out.push(b);
        } else if !in_quote && b == b',' {
            index += 1;
            masking = positions.contains(&index);
            masked_this = false;
            out.push(b);
        } else if masking {
            if !masked_this {
                out.extend_from_slice(MASK);
                masked_this = true;
            }
        } else {
            out.push(b);
        }
        i += 1;
    }
    i
}

impl Catalog {
    /// `line` with every secret parameter (the rows' `.secret`) replaced by `***`.
    pub fn redact<'a>(&'static self, line: &'a [u8]) -> Cow<'a, [u8]> {
        let mut result: Option<Vec<u8>> = None;
        for spec in self.commands().filter(|c| !c.secret.is_empty()) {
            let cur: &[u8] = result.as_deref().unwrap_or(line);
            let name = spec.name.as_bytes();
            let mut out = Vec::with_capacity(cur.len());
            let mut copied = 0;
            let mut from = 0;
            let mut changed = false;
            while let Some(pos) = find_ci(cur, name, from) {
                let after = pos + name.len();
                let start = match cur.get(after..after + 2) {
                    Some([b'=', b'?']) => None,
                    Some([b'=', _]) | Some([b'=']) => Some(after + 1),
                    Some([b':', b' ']) if spec.secret_answer => Some(after + 2),
                    _ if cur.get(after) == Some(&b'=') => Some(after + 1),
                    _ => None,
                };
                let Some(start) = start else {
                    from = after;
                    continue;
                };
                out.extend_from_slice(&cur[copied..start]);
                let end = mask_params(cur, start, spec.secret, &mut out);
                copied = end;
                from = end.max(after);
                changed = true;
            }
            if changed {
                out.extend_from_slice(&cur[copied..]);
                result = Some(out);
            }
        }
        match result {
            Some(v) => Cow::Owned(v),
            None => Cow::Borrowed(line),
        }
    }
}
