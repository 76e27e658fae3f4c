//! The module's Internet services. Each folder holds one service: its state and flow
//! (`mod.rs`), its command rows and handlers (`commands.rs`), pure protocol parsing
//! (`codec.rs`) and the async dialogue with the real server (`job.rs`). Jobs run in the
//! runner; their events come back to the core through [`crate::modem::JobSink`]s.

pub mod cache;
pub mod ftp;
pub mod gnss;
pub mod http;
pub mod https;
pub mod outcome;
pub mod pop3;
pub mod ppp;
pub mod sms;
pub mod smtp;
pub mod sockets;
pub mod time;
pub mod voice;
