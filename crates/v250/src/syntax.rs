//! Splitting one command line (the bytes after `AT`) into invocations.
//!
//! Grammar accepted (V.250 §5.3-5.4, with the leniency real modules show):
//! - basic commands: a letter, or `&`/`\` and a letter, then optional digits (`E0`, `&W`,
//!   `\V1`); several may follow each other without separator (`E0V1`); `D` (dial) takes
//!   the rest of the line;
//! - S-parameters: `S<n>`, `S<n>?`, `S<n>=?`, `S<n>=<value>`;
//! - extended commands: a prefix (`+ $ ^ %`) and a name, then nothing (execute), `?`
//!   (read), `=?` (test) or `=<args>` (write); the arguments run to the next `;` that is
//!   not inside a quoted string;
//! - `;` separates commands; spaces outside quoted strings between commands are ignored.
//!
//! Names are returned in upper case; arguments are returned raw for [`crate::Args`].

use thiserror::Error;

/// Which of the four forms of a command was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Form {
    /// `AT+X` or a basic command with no value (`ATE`).
    Exec,
    /// `AT+X?`.
    Read,
    /// `AT+X=?`.
    Test,
    /// `AT+X=<args>` or a basic command with a value (`ATE1`, `ATS3=13`).
    Write,
}

/// One command of a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation<'a> {
    /// Upper-cased name: `E`, `&W`, `S3`, `+CSQ`.
    pub name: String,
    pub form: Form,
    /// Raw argument bytes (write form only; digits of a basic command).
    pub args: &'a [u8],
}

/// Why a command line could not be split.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SyntaxError {
    #[error("unexpected byte 0x{byte:02x} at column {pos}")]
    Unexpected { pos: usize, byte: u8 },
    #[error("quoted string opened at column {pos} is not closed")]
    UnterminatedQuote { pos: usize },
    #[error("extended command prefix at column {pos} has no name")]
    EmptyName { pos: usize },
}

fn is_ext_prefix(b: u8) -> bool {
    matches!(b, b'+' | b'$' | b'^' | b'%')
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'!' | b'%' | b'-' | b'.' | b'/' | b':' | b'_')
}

/// Split a command line body into invocations. An empty body (plain `AT`) gives none.
pub fn parse_line(line: &[u8]) -> Result<Vec<Invocation<'_>>, SyntaxError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < line.len() {
        let b = line[i];
        if b == b' ' || b == b';' {
            i += 1;
            continue;
        }
        if is_ext_prefix(b) {
            i = parse_extended(line, i, &mut out)?;
        } else if b.eq_ignore_ascii_case(&b's') && line.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i = parse_s_register(line, i, &mut out)?;
        } else if b.eq_ignore_ascii_case(&b'd') {
            out.push(Invocation { name: "D".into(), form: Form::Write, args: &line[i + 1..] });
            i = line.len();
        } else if b.is_ascii_alphabetic() || b == b'&' || b == b'\\' {
            i = parse_basic(line, i, &mut out)?;
        } else {
            return Err(SyntaxError::Unexpected { pos: i, byte: b });
        }
    }
    Ok(out)
}

fn parse_basic<'a>(line: &'a [u8], start: usize, out: &mut Vec<Invocation<'a>>) -> Result<usize, SyntaxError> {
    let mut i = start;
    let mut name = String::new();
    if line[i] == b'&' || line[i] == b'\\' {
        name.push(line[i] as char);
        i += 1;
        match line.get(i) {
            Some(b) if b.is_ascii_alphabetic() => {}
            Some(&byte) => return Err(SyntaxError::Unexpected { pos: i, byte }),
            None => return Err(SyntaxError::Unexpected { pos: i, byte: 0 }),
        }
    }
    name.push(line[i].to_ascii_uppercase() as char);
    i += 1;
    if line.get(i) == Some(&b'?') {
        out.push(Invocation { name, form: Form::Read, args: &[] });
        return Ok(i + 1);
    }
    if line.get(i) == Some(&b'=') && line.get(i + 1) == Some(&b'?') {
        out.push(Invocation { name, form: Form::Test, args: &[] });
        return Ok(i + 2);
    }
    let digits_start = i;
    while line.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let form = if i > digits_start { Form::Write } else { Form::Exec };
    out.push(Invocation { name, form, args: &line[digits_start..i] });
    Ok(i)
}

fn parse_s_register<'a>(line: &'a [u8], start: usize, out: &mut Vec<Invocation<'a>>) -> Result<usize, SyntaxError> {
    let mut i = start + 1;
    while line.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let name = format!("S{}", String::from_utf8_lossy(&line[start + 1..i]));
    match line.get(i) {
        Some(b'?') => {
            out.push(Invocation { name, form: Form::Read, args: &[] });
            Ok(i + 1)
        }
        Some(b'=') if line.get(i + 1) == Some(&b'?') => {
            out.push(Invocation { name, form: Form::Test, args: &[] });
            Ok(i + 2)
        }
        Some(b'=') => {
            let vstart = i + 1;
            let mut j = vstart;
            while line.get(j).is_some_and(|b| b.is_ascii_digit() || *b == b' ') {
                j += 1;
            }
            out.push(Invocation { name, form: Form::Write, args: &line[vstart..j] });
            Ok(j)
        }
        _ => {
            out.push(Invocation { name, form: Form::Exec, args: &[] });
            Ok(i)
        }
    }
}

fn parse_extended<'a>(line: &'a [u8], start: usize, out: &mut Vec<Invocation<'a>>) -> Result<usize, SyntaxError> {
    let mut i = start + 1;
    while line.get(i).is_some_and(|b| is_name_char(*b)) {
        i += 1;
    }
    if i == start + 1 {
        return Err(SyntaxError::EmptyName { pos: start });
    }
    let name = String::from_utf8_lossy(&line[start..i]).to_ascii_uppercase();
    while line.get(i) == Some(&b' ') {
        i += 1;
    }
    match line.get(i) {
        None | Some(b';') => {
            out.push(Invocation { name, form: Form::Exec, args: &[] });
            Ok(i)
        }
        Some(b'?') => {
            out.push(Invocation { name, form: Form::Read, args: &[] });
            expect_end_of_command(line, i + 1)
        }
        Some(b'=') if line.get(i + 1) == Some(&b'?') => {
            out.push(Invocation { name, form: Form::Test, args: &[] });
            expect_end_of_command(line, i + 2)
        }
        Some(b'=') => {
            let vstart = i + 1;
            let end = args_end(line, vstart)?;
            out.push(Invocation { name, form: Form::Write, args: &line[vstart..end] });
            Ok(end)
        }
        Some(&byte) => Err(SyntaxError::Unexpected { pos: i, byte }),
    }
}

/// After `?` or `=?` only spaces may come before the `;` or the end of the line.
fn expect_end_of_command(line: &[u8], mut i: usize) -> Result<usize, SyntaxError> {
    while line.get(i) == Some(&b' ') {
        i += 1;
    }
    match line.get(i) {
        None | Some(b';') => Ok(i),
        Some(&byte) => Err(SyntaxError::Unexpected { pos: i, byte }),
    }
}

/// Index of the `;` ending the arguments starting at `start` (or the line's end).
fn args_end(line: &[u8], start: usize) -> Result<usize, SyntaxError> {
    let mut i = start;
    let mut quote_start = None;
    while i < line.len() {
        match (line[i], quote_start) {
            (b'"', None) => quote_start = Some(i),
            (b'"', Some(_)) => quote_start = None,
            (b';', None) => return Ok(i),
            _ => {}
        }
        i += 1;
    }
    match quote_start {
        Some(pos) => Err(SyntaxError::UnterminatedQuote { pos }),
        None => Ok(i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(line: &str) -> Vec<(String, Form, String)> {
        parse_line(line.as_bytes())
            .unwrap_or_else(|e| panic!("{line}: {e}"))
            .into_iter()
            .map(|i| (i.name, i.form, String::from_utf8_lossy(i.args).into_owned()))
            .collect()
    }

    #[test]
    fn empty() {
        assert!(names("").is_empty());
    }

    #[test]
    fn basic_concatenated() {
        assert_eq!(
            names("E0V1&W\\Q3i"),
            vec![
                ("E".into(), Form::Write, "0".into()),
                ("V".into(), Form::Write, "1".into()),
                ("&W".into(), Form::Exec, "".into()),
                ("\\Q".into(), Form::Write, "3".into()),
                ("I".into(), Form::Exec, "".into()),
            ]
        );
    }

    #[test]
    fn s_registers() {
        assert_eq!(
            names("S3=13S4?S0=?S7"),
            vec![
                ("S3".into(), Form::Write, "13".into()),
                ("S4".into(), Form::Read, "".into()),
                ("S0".into(), Form::Test, "".into()),
                ("S7".into(), Form::Exec, "".into()),
            ]
        );
    }

    #[test]
    fn extended_forms() {
        assert_eq!(
            names("+csq;+CMEE=?;+cmee?;+CMEE=2;E0"),
            vec![
                ("+CSQ".into(), Form::Exec, "".into()),
                ("+CMEE".into(), Form::Test, "".into()),
                ("+CMEE".into(), Form::Read, "".into()),
                ("+CMEE".into(), Form::Write, "2".into()),
                ("E".into(), Form::Write, "0".into()),
            ]
        );
    }

    #[test]
    fn quoted_semicolon() {
        assert_eq!(
            names("+FSCD=\"C:/a;b\";+FSLS"),
            vec![("+FSCD".into(), Form::Write, "\"C:/a;b\"".into()), ("+FSLS".into(), Form::Exec, "".into())]
        );
    }

    #[test]
    fn errors() {
        assert_eq!(parse_line(b"+X=\"abc"), Err(SyntaxError::UnterminatedQuote { pos: 3 }));
        assert_eq!(parse_line(b"+"), Err(SyntaxError::EmptyName { pos: 0 }));
        assert!(parse_line(b"+CSQ?x").is_err());
        assert!(parse_line(b"\x00").is_err());
        assert!(parse_line(b"&").is_err());
        assert!(parse_line(b"&1").is_err());
    }

    #[test]
    fn dial_takes_rest() {
        assert_eq!(names("D*99#;"), vec![("D".into(), Form::Write, "*99#;".into())]);
    }
}
