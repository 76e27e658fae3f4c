//! What a service's async job and the core say to each other ([`protocol`]) and the
//! channels that carry it ([`io`]). Below the core: it knows no `Ctx` and no handler, so
//! the core and every service can use it without importing each other.

mod io;
mod protocol;

pub use io::{EventRoom, Input, JobIo, JobLink, JobRx, JobTx};
pub use protocol::{JobBody, JobEvent, JobId, JobInput, JobSpec, NoOp, Protocol, network_lost_event};
