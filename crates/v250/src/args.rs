//! A typed cursor over the parameters of one write-form invocation.
//!
//! Parameters are separated by commas outside double quotes. Each is empty (omitted),
//! quoted, or bare. Bare strings are accepted wherever a string is expected, as real SIMCom
//! firmware does (`AT+FSCD=C:/Email`). Conversions check ranges so a handler receives only
//! values it can use ("parse, don't validate").

use std::ops::RangeInclusive;
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Param<'a> {
    Empty,
    Quoted(&'a [u8]),
    Bare(&'a [u8]),
}

/// Why a parameter was refused; `index` counts from 1 as people do.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("parameter {index}: {kind}")]
pub struct ArgError {
    pub index: usize,
    pub kind: ArgErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ArgErrorKind {
    #[error("missing")]
    Missing,
    #[error("not an integer")]
    NotInteger,
    #[error("{value} is outside {min}..={max}")]
    OutOfRange { value: i64, min: i64, max: i64 },
    #[error("not valid UTF-8")]
    NotUtf8,
    #[error("quoted string not closed")]
    Unterminated,
    #[error("text after the closing quote")]
    TrailingAfterQuote,
    #[error("unexpected extra parameter")]
    Extra,
    #[error("string longer than {max} bytes")]
    TooLong { max: usize },
    #[error("a quoted string is required")]
    NotQuoted,
    #[error("{0}")]
    Invalid(&'static str),
}

/// Cursor over parameters. See the module documentation.
#[derive(Debug, Clone)]
pub struct Args<'a> {
    params: Vec<Param<'a>>,
    pos: usize,
    name: &'static str,
}

/// A value a parameter can be read as with [`Args::next_as`]: an enum of the command's
/// modes, from the number that selects it.
pub trait FromParam: Sized {
    /// What the values mean, for the error when none matches.
    const EXPECTED: &'static str;
    fn from_param(v: i64) -> Option<Self>;
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' '] = s {
        s = rest;
    }
    s
}

impl<'a> Args<'a> {
    /// Split raw argument bytes. `""` gives zero parameters.
    pub fn parse(raw: &'a [u8]) -> Result<Self, ArgError> {
        let mut params = Vec::new();
        if trim(raw).is_empty() {
            return Ok(Self { params, pos: 0, name: "" });
        }
        let mut i = 0;
        loop {
            let index = params.len() + 1;
            let start = i;
            let mut in_quote = false;
            while i < raw.len() && (in_quote || raw[i] != b',') {
                if raw[i] == b'"' {
                    in_quote = !in_quote;
                }
                i += 1;
            }
            if in_quote {
                return Err(ArgError { index, kind: ArgErrorKind::Unterminated });
            }
            params.push(Self::classify(trim(&raw[start..i]), index)?);
            if i >= raw.len() {
                break;
            }
            i += 1; // the comma
        }
        Ok(Self { params, pos: 0, name: "" })
    }

    /// The same cursor, knowing the name of the command it belongs to.
    pub fn with_name(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// The name of the command (as its table row spells it, e.g. `+CFTPSGET`), so a
    /// handler shared by several commands, or one naming itself in its answer, does not
    /// spell it again.
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn classify(p: &'a [u8], index: usize) -> Result<Param<'a>, ArgError> {
        match p {
            [] => Ok(Param::Empty),
            [b'"', inner @ .., b'"'] if !inner.contains(&b'"') => Ok(Param::Quoted(inner)),
            [b'"', ..] => Err(ArgError { index, kind: ArgErrorKind::TrailingAfterQuote }),
            _ => Ok(Param::Bare(p)),
        }
    }

    /// Number of parameters given (including empty ones).
    pub fn len(&self) -> usize {
        self.params.len()
    }

    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// 1-based index of the parameter the next call reads.
    pub fn position(&self) -> usize {
        self.pos + 1
    }

    fn err(&self, kind: ArgErrorKind) -> ArgError {
        ArgError { index: self.pos, kind }
    }

    fn take(&mut self) -> Option<Param<'a>> {
        let p = self.params.get(self.pos).copied();
        self.pos += 1;
        p
    }

    /// Next integer, which must be present.
    pub fn next_int(&mut self) -> Result<i64, ArgError> {
        self.opt_int()?.ok_or_else(|| self.err(ArgErrorKind::Missing))
    }

    /// Next integer in `range`, which must be present.
    pub fn next_int_in(&mut self, range: RangeInclusive<i64>) -> Result<i64, ArgError> {
        self.opt_int_in(range)?.ok_or_else(|| self.err(ArgErrorKind::Missing))
    }

    /// Next integer if given; `None` when omitted or past the end.
    pub fn opt_int(&mut self) -> Result<Option<i64>, ArgError> {
        match self.take() {
            None | Some(Param::Empty) => Ok(None),
            Some(Param::Bare(b)) | Some(Param::Quoted(b)) => {
                let s = std::str::from_utf8(b).map_err(|_| self.err(ArgErrorKind::NotInteger))?;
                s.parse::<i64>().map(Some).map_err(|_| self.err(ArgErrorKind::NotInteger))
            }
        }
    }

    /// Next integer in `range` if given.
    pub fn opt_int_in(&mut self, range: RangeInclusive<i64>) -> Result<Option<i64>, ArgError> {
        match self.opt_int()? {
            Some(v) if !range.contains(&v) => {
                Err(self.err(ArgErrorKind::OutOfRange { value: v, min: *range.start(), max: *range.end() }))
            }
            v => Ok(v),
        }
    }

    /// Next integer in `range`, as the type of the range (`next_in::<u16>(1..=65535)`).
    pub fn next_in<T>(&mut self, range: RangeInclusive<T>) -> Result<T, ArgError>
    where
        T: Copy + Into<i64> + TryFrom<i64>,
    {
        self.opt_in(range)?.ok_or_else(|| self.err(ArgErrorKind::Missing))
    }

    /// Next integer in `range` if given, as the type of the range.
    pub fn opt_in<T>(&mut self, range: RangeInclusive<T>) -> Result<Option<T>, ArgError>
    where
        T: Copy + Into<i64> + TryFrom<i64>,
    {
        let (min, max) = ((*range.start()).into(), (*range.end()).into());
        match self.opt_int_in(min..=max)? {
            None => Ok(None),
            // In range of `T`'s own bounds, so the conversion cannot fail.
            Some(v) => T::try_from(v).map(Some).map_err(|_| self.err(ArgErrorKind::OutOfRange { value: v, min, max })),
        }
    }

    /// Next parameter as one of a command's modes, which must be present.
    pub fn next_as<T: FromParam>(&mut self) -> Result<T, ArgError> {
        self.opt_as()?.ok_or_else(|| self.err(ArgErrorKind::Missing))
    }

    /// Next parameter as one of a command's modes, if given.
    pub fn opt_as<T: FromParam>(&mut self) -> Result<Option<T>, ArgError> {
        match self.opt_int()? {
            None => Ok(None),
            Some(v) => T::from_param(v).map(Some).ok_or_else(|| self.err(ArgErrorKind::Invalid(T::EXPECTED))),
        }
    }

    /// Next string (quoted or bare), which must be present; `""` is a present empty string.
    pub fn next_str(&mut self) -> Result<&'a str, ArgError> {
        self.opt_str()?.ok_or_else(|| self.err(ArgErrorKind::Missing))
    }

    /// Next string if given.
    pub fn opt_str(&mut self) -> Result<Option<&'a str>, ArgError> {
        Ok(match self.opt_bytes()? {
            None => None,
            Some(b) => Some(std::str::from_utf8(b).map_err(|_| self.err(ArgErrorKind::NotUtf8))?),
        })
    }

    /// Next string of at most `max` bytes, which must be present.
    pub fn next_str_max(&mut self, max: usize) -> Result<&'a str, ArgError> {
        let s = self.next_str()?;
        if s.len() > max {
            return Err(self.err(ArgErrorKind::TooLong { max }));
        }
        Ok(s)
    }

    /// Next parameter's raw bytes (quotes removed) if given.
    pub fn opt_bytes(&mut self) -> Result<Option<&'a [u8]>, ArgError> {
        Ok(match self.take() {
            None | Some(Param::Empty) => None,
            Some(Param::Quoted(b)) => Some(b),
            Some(Param::Bare(b)) => Some(b),
        })
    }

    /// Next string, which must be written in double quotes.
    pub fn next_quoted(&mut self) -> Result<&'a str, ArgError> {
        match self.take() {
            Some(Param::Quoted(b)) => std::str::from_utf8(b).map_err(|_| self.err(ArgErrorKind::NotUtf8)),
            None | Some(Param::Empty) => Err(self.err(ArgErrorKind::Missing)),
            Some(Param::Bare(_)) => Err(self.err(ArgErrorKind::NotQuoted)),
        }
    }

    /// Whether the next parameter is written in double quotes (for commands whose first
    /// parameter is either a quoted string or a number).
    pub fn next_is_quoted(&self) -> bool {
        matches!(self.params.get(self.pos), Some(Param::Quoted(_)))
    }

    /// Error for the parameter just read (for handler-level validation).
    pub fn invalid(&self, why: &'static str) -> ArgError {
        self.err(ArgErrorKind::Invalid(why))
    }

    /// Refuse parameters beyond those read.
    pub fn finish(&self) -> Result<(), ArgError> {
        if self.params.len() > self.pos {
            return Err(ArgError { index: self.pos + 1, kind: ArgErrorKind::Extra });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed() {
        let mut a = Args::parse(br#"1, "a,b" ,,C:/x"#).unwrap();
        assert_eq!(a.len(), 4);
        assert_eq!(a.next_int().unwrap(), 1);
        assert_eq!(a.next_str().unwrap(), "a,b");
        assert_eq!(a.opt_int().unwrap(), None);
        assert_eq!(a.next_str().unwrap(), "C:/x");
        a.finish().unwrap();
        assert_eq!(a.opt_int().unwrap(), None);
    }

    #[test]
    fn errors() {
        let mut a = Args::parse(b"x,300").unwrap();
        assert_eq!(a.next_int().unwrap_err(), ArgError { index: 1, kind: ArgErrorKind::NotInteger });
        assert_eq!(a.next_int_in(0..=255).unwrap_err().kind, ArgErrorKind::OutOfRange { value: 300, min: 0, max: 255 });
        assert_eq!(Args::parse(b"\"abc").unwrap_err().kind, ArgErrorKind::Unterminated);
        assert_eq!(Args::parse(b"\"a\"b").unwrap_err().kind, ArgErrorKind::TrailingAfterQuote);
        let a = Args::parse(b"1,2").unwrap();
        assert_eq!(a.finish().unwrap_err(), ArgError { index: 1, kind: ArgErrorKind::Extra });
        let mut a = Args::parse(b"\xff").unwrap();
        assert_eq!(a.next_str().unwrap_err().kind, ArgErrorKind::NotUtf8);
        let mut a = Args::parse(b"").unwrap();
        assert_eq!(a.next_int().unwrap_err().kind, ArgErrorKind::Missing);
        let mut a = Args::parse(b"abc").unwrap();
        assert_eq!(a.next_quoted().unwrap_err().kind, ArgErrorKind::NotQuoted);
    }

    #[test]
    fn peek_quoted() {
        let mut a = Args::parse(br#""p",12"#).unwrap();
        assert!(a.next_is_quoted());
        a.next_str().unwrap();
        assert!(!a.next_is_quoted());
        a.next_int().unwrap();
        assert!(!a.next_is_quoted());
    }

    #[test]
    fn typed_ranges_and_modes() {
        #[derive(Debug, PartialEq)]
        enum Mode {
            Active,
            Passive,
        }
        impl FromParam for Mode {
            const EXPECTED: &'static str = "0 active or 1 passive";
            fn from_param(v: i64) -> Option<Self> {
                match v {
                    0 => Some(Mode::Active),
                    1 => Some(Mode::Passive),
                    _ => None,
                }
            }
        }
        let mut a = Args::parse(b"65535,1,0,2,").unwrap().with_name("+X");
        assert_eq!(a.name(), "+X");
        assert_eq!(a.next_in::<u16>(1..=65535).unwrap(), 65535);
        assert_eq!(a.next_as::<Mode>().unwrap(), Mode::Passive);
        assert_eq!(a.next_in::<u8>(1..=9).unwrap_err().kind, ArgErrorKind::OutOfRange { value: 0, min: 1, max: 9 });
        assert_eq!(a.next_as::<Mode>().unwrap_err().kind, ArgErrorKind::Invalid("0 active or 1 passive"));
        assert_eq!(a.opt_as::<Mode>().unwrap(), None);
    }

    #[test]
    fn empty_quoted_is_present() {
        let mut a = Args::parse(b"\"\"").unwrap();
        assert_eq!(a.next_str().unwrap(), "");
    }
}
