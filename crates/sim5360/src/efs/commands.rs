//! FS* and CFTRAN* commands (spec §12, §13). Errors are plain `ERROR`, except a write that
//! does not fit, which is `+CME ERROR: 20` (memory full); see docs/commands.md.

use super::{EfsError, EfsPath, StagedFile};
use crate::modem::table::CommandSpec;
use crate::modem::{CmdError, Ctx, DataSink, OutputStream, Reply, Then};
use chrono::Datelike;
use std::io::{Read, Seek, SeekFrom, Write};
use v250::{Args, Framing};

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("+FSCD").read(fscd_read).write(fscd_write).test_ok(),
    CommandSpec::new("+FSMKDIR").write(fsmkdir).test_ok(),
    CommandSpec::new("+FSRMDIR").write(fsrmdir).test_ok(),
    CommandSpec::new("+FSLS").exec(fsls_all).read(fsls_count).write(fsls_write).test_text("+FSLS: (0-2)"),
    CommandSpec::new("+FSDEL").write(fsdel).test_ok(),
    CommandSpec::new("+FSRENAME").write(fsrename).test_ok(),
    CommandSpec::new("+FSATTRI").write(fsattri).test_ok(),
    CommandSpec::new("+FSMEM").exec(fsmem).test_ok(),
    CommandSpec::new("+FSLOCA").read(fsloca_read).write(fsloca_write).test_text("+FSLOCA: (0-1)"),
    CommandSpec::new("+CFTRANRX").write(cftranrx).test_ok(),
    CommandSpec::new("+CFTRANTX").write(cftrantx).test_ok(),
];

/// Largest file `AT+CFTRANRX` accepts in one go.
const CFTRANRX_MAX: i64 = 2_147_483_647;
/// `+CFTRANTX: DATA, <len>` block size, as seen on real modules.
const CFTRANTX_BLOCK: usize = 512;

/// The next argument as a path resolved against the current directory.
fn path_arg(ctx: &Ctx, args: &mut Args<'_>) -> Result<EfsPath, CmdError> {
    let s = args.next_str()?;
    Ok(ctx.efs.resolve(s)?)
}

/// `C:/` for a root, `C:/Picture/` for a directory (as `+FSCD` prints them).
fn dir_display(p: &EfsPath) -> String {
    if p.is_root() { p.to_string() } else { format!("{p}/") }
}

fn fscd_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+FSCD: {}", dir_display(&ctx.efs.cwd))))
}

/// `AT+FSCD=<path>`: change directory; answers the new current directory.
fn fscd_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let p = path_arg(ctx, &mut args)?;
    args.finish()?;
    if !ctx.efs.store.stat(&p)?.is_dir {
        return Err(EfsError::NotADirectory.into());
    }
    ctx.efs.cwd = p;
    fscd_read(ctx, Args::parse(b"")?)
}

/// `AT+FSMKDIR=<dir>`.
fn fsmkdir(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let p = path_arg(ctx, &mut args)?;
    args.finish()?;
    ctx.efs.store.mkdir(&p)?;
    Ok(Reply::ok())
}

/// `AT+FSRMDIR=<dir>`: only an empty directory, never the current one's ancestors.
fn fsrmdir(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let p = path_arg(ctx, &mut args)?;
    args.finish()?;
    if ctx.efs.cwd.drive() == p.drive() && ctx.efs.cwd.parts().starts_with(p.parts()) {
        return Err(CmdError::Refused("directory is (or contains) the current directory"));
    }
    ctx.efs.store.rmdir(&p)?;
    Ok(Reply::ok())
}

fn listing(ctx: &Ctx, kind: i64) -> Result<Vec<String>, CmdError> {
    let entries = ctx.efs.store.list(&ctx.efs.cwd)?;
    let mut lines = Vec::new();
    if kind != 2 {
        lines.push("+FSLS: SUBDIRECTORIES:".to_owned());
        lines.extend(entries.iter().filter(|e| e.1.is_dir).map(|e| e.0.clone()));
    }
    if kind == 0 {
        lines.push(String::new());
    }
    if kind != 1 {
        lines.push("+FSLS: FILES:".to_owned());
        lines.extend(entries.iter().filter(|e| !e.1.is_dir).map(|e| e.0.clone()));
    }
    Ok(lines)
}

/// `AT+FSLS`: subdirectories and files of the current directory.
fn fsls_all(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::lines(listing(ctx, 0)?))
}

/// `AT+FSLS=<type>`: 0 both, 1 directories, 2 files.
fn fsls_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let kind = args.next_int_in(0..=2)?;
    args.finish()?;
    Ok(Reply::lines(listing(ctx, kind)?))
}

/// `AT+FSLS?`: how many subdirectories and files.
fn fsls_count(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let entries = ctx.efs.store.list(&ctx.efs.cwd)?;
    let dirs = entries.iter().filter(|e| e.1.is_dir).count();
    Ok(Reply::line(format!("+FSLS: SUBDIRECTORIES:{dirs},FILES:{}", entries.len() - dirs)))
}

/// `AT+FSDEL=<file>`; `*.*` deletes every file of the current directory.
fn fsdel(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let name = args.next_str()?;
    args.finish()?;
    if name == "*.*" {
        let cwd = ctx.efs.cwd.clone();
        for (n, m) in ctx.efs.store.list(&cwd)? {
            if !m.is_dir {
                ctx.efs.store.remove_file(&cwd.child(&n)?)?;
            }
        }
        return Ok(Reply::ok());
    }
    let p = ctx.efs.resolve(name)?;
    ctx.efs.store.remove_file(&p)?;
    Ok(Reply::ok())
}

/// `AT+FSRENAME=<old>,<new>`: the new name must not exist.
fn fsrename(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let from = path_arg(ctx, &mut args)?;
    let to = path_arg(ctx, &mut args)?;
    args.finish()?;
    if from.is_root() {
        return Err(EfsError::InvalidPath("drive root").into());
    }
    ctx.efs.store.rename(&from, &to)?;
    Ok(Reply::ok())
}

/// `AT+FSATTRI=<file>`: `+FSATTRI: <size>, <YYYY/MM/DD HH:MM:SS Weekday>`.
fn fsattri(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let p = path_arg(ctx, &mut args)?;
    args.finish()?;
    let m = ctx.efs.store.stat(&p)?;
    if m.is_dir {
        return Err(EfsError::IsADirectory.into());
    }
    let t = ctx.clock.local(m.modified);
    let weekday = match t.weekday() {
        chrono::Weekday::Mon => "Monday",
        chrono::Weekday::Tue => "Tuesday",
        chrono::Weekday::Wed => "Wednesday",
        chrono::Weekday::Thu => "Thursday",
        chrono::Weekday::Fri => "Friday",
        chrono::Weekday::Sat => "Saturday",
        chrono::Weekday::Sun => "Sunday",
    };
    Ok(Reply::line(format!("+FSATTRI: {}, {} {weekday}", m.size, t.format("%Y/%m/%d %H:%M:%S"))))
}

/// `AT+FSMEM`: `+FSMEM: C:(<total>, <used>), D:(<total>, <used>)` in bytes.
fn fsmem(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    let store = &ctx.efs.store;
    let mut parts = Vec::new();
    for d in super::Drive::ALL {
        parts.push(format!("{}:({}, {})", d.letter(), store.capacity(d), store.used(d)?));
    }
    Ok(Reply::line(format!("+FSMEM: {}", parts.join(", "))))
}

fn fsloca_read(ctx: &mut Ctx, _: Args<'_>) -> Result<Reply, CmdError> {
    Ok(Reply::line(format!("+FSLOCA: {}", ctx.efs.loca)))
}

/// `AT+FSLOCA=<loca>`: 0 store on `C:`, 1 on the SD card `D:`.
fn fsloca_write(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let v = args.next_int_in(0..=1)?;
    args.finish()?;
    ctx.efs.loca = u8::from(v == 1);
    Ok(Reply::ok())
}

/// Receives `AT+CFTRANRX` data into a staged file.
#[derive(Debug)]
struct Upload {
    file: Box<dyn StagedFile>,
}

impl DataSink for Upload {
    fn write(&mut self, _: &mut Ctx, data: &[u8]) -> Result<(), CmdError> {
        self.file.write_all(data).map_err(|e| CmdError::Efs(e.into()))
    }

    /// The commit (an fsync of up to 2 GB) runs off the core's thread; `OK` then.
    fn finish(self: Box<Self>, ctx: &mut Ctx) -> Result<Reply, CmdError> {
        let file = self.file;
        let id = ctx.jobs.offload(
            "commit an AT+CFTRANRX upload",
            move || file.commit(),
            |_, r, _| Some(r.map(|()| Reply::ok()).map_err(CmdError::Efs)),
        );
        Ok(Reply::ok().then(Then::Offloaded(id)))
    }
}

/// `AT+CFTRANRX="<path>",<len>`: `>` prompt, exactly `<len>` bytes, then `OK`. The file
/// appears (replacing one of that name) only once all bytes arrived.
fn cftranrx(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let p = path_arg(ctx, &mut args)?;
    let len = args.next_int_in(0..=CFTRANRX_MAX)?;
    args.finish()?;
    let len = u64::try_from(len).unwrap_or(0);
    let file = ctx.efs.store.create(&p, Some(len))?;
    Ok(Reply::ok().then(Then::Data { len: Some(len), prompt: ">", sink: Box::new(Upload { file }) }))
}

/// Sends a file as `+CFTRANTX: DATA, <len>` blocks.
#[derive(Debug)]
struct Download {
    file: Box<dyn super::store::FileReader>,
    left: u64,
    buf: Vec<u8>,
}

impl OutputStream for Download {
    fn next(&mut self, _: &mut Ctx, framing: &Framing, out: &mut Vec<u8>) -> Result<bool, CmdError> {
        if self.left == 0 {
            framing.info(&["+CFTRANTX: 0"], out);
            return Ok(false);
        }
        let want = usize::try_from(self.left).unwrap_or(usize::MAX).min(CFTRANTX_BLOCK);
        self.buf.resize(want, 0);
        let n = self.file.read(&mut self.buf).map_err(|e| CmdError::Efs(e.into()))?;
        if n == 0 {
            // The file shrank under us; end cleanly with what was sent.
            self.left = 0;
            framing.info(&["+CFTRANTX: 0"], out);
            return Ok(false);
        }
        framing.info(&[format!("+CFTRANTX: DATA, {n}")], out);
        out.extend_from_slice(&self.buf[..n]);
        self.left -= n as u64;
        Ok(true)
    }
}

/// `AT+CFTRANTX="<path>"[,<location>,<size>]`: send the file (from byte `<location>`,
/// `<size>` bytes, 0 = to the end) in blocks, then `+CFTRANTX: 0` and `OK`.
fn cftrantx(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let p = path_arg(ctx, &mut args)?;
    let location = args.opt_int_in(0..=CFTRANRX_MAX)?.unwrap_or(0);
    let size = args.opt_int_in(0..=CFTRANRX_MAX)?.unwrap_or(0);
    args.finish()?;
    let meta = ctx.efs.store.stat(&p)?;
    if meta.is_dir {
        return Err(EfsError::IsADirectory.into());
    }
    let (location, size) = (location as u64, size as u64);
    if location > meta.size {
        return Err(CmdError::Refused("location beyond the end of the file"));
    }
    let avail = meta.size - location;
    let left = if size == 0 { avail } else { size.min(avail) };
    let mut file = ctx.efs.store.open(&p)?;
    file.seek(SeekFrom::Start(location)).map_err(|e| CmdError::Efs(e.into()))?;
    Ok(Reply::ok().then(Then::Stream(Box::new(Download { file, left, buf: Vec::new() }))))
}
