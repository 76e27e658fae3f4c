//! `EfsPath`: a module path (`C:/Email/mail1.eml`) parsed into a drive and checked name
//! components. Once parsed it cannot name anything outside its drive: `..` is resolved
//! here, against the components, and refused where it would climb above the drive root.

use super::EfsError;
use std::fmt;

/// Longest full path (`C:/...`) accepted, in bytes.
pub const MAX_PATH: usize = 255;

/// The module's drives: `C:` internal flash, `D:` the SD card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Drive {
    C,
    D,
}

impl Drive {
    pub fn letter(self) -> char {
        match self {
            Drive::C => 'C',
            Drive::D => 'D',
        }
    }

    pub const ALL: [Drive; 2] = [Drive::C, Drive::D];
}

/// A normalized, validated module path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EfsPath {
    drive: Drive,
    parts: Vec<String>,
}

fn check_name_bytes(s: &str) -> Result<(), EfsError> {
    for b in s.bytes() {
        match b {
            0 => return Err(EfsError::InvalidPath("NUL byte")),
            0x01..=0x1f | 0x7f => return Err(EfsError::InvalidPath("control character")),
            0x80..=0xff => return Err(EfsError::InvalidPath("non-ASCII character")),
            b'*' | b'?' | b'"' | b'<' | b'>' | b'|' | b':' => {
                return Err(EfsError::InvalidPath("reserved character"));
            }
            _ => {}
        }
    }
    Ok(())
}

impl EfsPath {
    pub fn root(drive: Drive) -> Self {
        Self { drive, parts: Vec::new() }
    }

    pub fn drive(&self) -> Drive {
        self.drive
    }

    pub fn parts(&self) -> &[String] {
        &self.parts
    }

    pub fn is_root(&self) -> bool {
        self.parts.is_empty()
    }

    /// Last component (`None` for a drive root).
    pub fn name(&self) -> Option<&str> {
        self.parts.last().map(String::as_str)
    }

    pub fn parent(&self) -> Option<EfsPath> {
        let mut p = self.clone();
        p.parts.pop()?;
        Some(p)
    }

    /// Parse what the DTE gave: `C:/a/b`, `d:\x`, or a name relative to `cwd`.
    pub fn parse(input: &str, cwd: &EfsPath) -> Result<EfsPath, EfsError> {
        if input.is_empty() {
            return Err(EfsError::InvalidPath("empty path"));
        }
        let bytes = input.as_bytes();
        let (mut path, rest) = if bytes.len() >= 2 && bytes[1] == b':' {
            let drive = match bytes[0].to_ascii_uppercase() {
                b'C' => Drive::C,
                b'D' => Drive::D,
                _ => return Err(EfsError::InvalidPath("unknown drive")),
            };
            let rest = &input[2..];
            if !(rest.is_empty() || rest.starts_with('/') || rest.starts_with('\\')) {
                return Err(EfsError::InvalidPath("drive must be followed by /"));
            }
            (EfsPath::root(drive), rest)
        } else if input.starts_with('/') || input.starts_with('\\') {
            return Err(EfsError::InvalidPath("absolute path without a drive"));
        } else {
            (cwd.clone(), input)
        };
        check_name_bytes(rest)?;
        for part in rest.split(['/', '\\']) {
            match part {
                "" | "." => {}
                ".." => {
                    if path.parts.pop().is_none() {
                        return Err(EfsError::InvalidPath("climbs above the drive root"));
                    }
                }
                name => path.parts.push(name.to_owned()),
            }
        }
        if path.to_string().len() > MAX_PATH {
            return Err(EfsError::InvalidPath("path too long"));
        }
        Ok(path)
    }

    /// Parse a single file or directory name (no separators) inside `dir`.
    pub fn child(&self, name: &str) -> Result<EfsPath, EfsError> {
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\']) {
            return Err(EfsError::InvalidPath("not a plain name"));
        }
        check_name_bytes(name)?;
        let mut p = self.clone();
        p.parts.push(name.to_owned());
        Ok(p)
    }
}

impl fmt::Display for EfsPath {
    /// `C:/` for a root, `C:/a/b` otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:/{}", self.drive.letter(), self.parts.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<String, EfsError> {
        let cwd = EfsPath::parse("C:/Email", &EfsPath::root(Drive::C))?;
        EfsPath::parse(s, &cwd).map(|p| p.to_string())
    }

    #[test]
    fn forms() {
        assert_eq!(p("C:/").unwrap(), "C:/");
        assert_eq!(p("c:").unwrap(), "C:/");
        assert_eq!(p("d:\\x\\y.txt").unwrap(), "D:/x/y.txt");
        assert_eq!(p("a.txt").unwrap(), "C:/Email/a.txt");
        assert_eq!(p("..").unwrap(), "C:/");
        assert_eq!(p("./x/../y").unwrap(), "C:/Email/y");
    }

    #[test]
    fn refused() {
        for bad in [
            "",
            "../..",
            "C:/..",
            "/etc/passwd",
            "\\x",
            "E:/a",
            "C:a",
            "a\0b",
            "a\x1bb",
            "caf\u{e9}",
            "\u{202e}txt",
            "a:b",
            "a*",
            "a?",
        ] {
            assert!(p(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(p(&"x".repeat(300)).is_err());
    }

    #[test]
    fn child_names() {
        let root = EfsPath::root(Drive::D);
        assert_eq!(root.child("a").unwrap().to_string(), "D:/a");
        for bad in ["", ".", "..", "a/b", "a\\b"] {
            assert!(root.child(bad).is_err());
        }
    }
}
