//! AT command syntax per ITU-T V.250 (formerly V.25ter), with no I/O and no knowledge of
//! any particular module.
//!
//! - [`line`]: the line discipline: bytes in, command lines and data-mode payloads out,
//!   with echo, S3/S5 handling, `A/` repeat and a bounded line length.
//! - [`syntax`]: one command line (`+CSQ;E0`) split into [`syntax::Invocation`]s.
//! - [`args`]: a typed cursor over one invocation's parameters.
//! - [`format`]: framing of information text, result codes and `+CME ERROR`.

pub mod args;
pub mod format;
pub mod line;
pub mod syntax;

pub use args::{ArgError, ArgErrorKind, Args, FromParam};
pub use format::{CmeMode, Framing, ResultCode, escape};
pub use line::{Event, LineConfig, LineDiscipline};
pub use syntax::{Form, Invocation, SyntaxError, parse_line};
