//! Where EFS files live: the `Store` trait, with a host-directory backend (the real thing)
//! and an in-memory one (transcript tests).
//!
//! Both enforce a per-drive capacity and stage every write: a file appears under its name
//! only when [`StagedFile::commit`] succeeds, so a failed or abandoned write leaves nothing.

use super::EfsError;
use super::path::{Drive, EfsPath};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs;
use std::io::{self, Cursor, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// What `stat` tells about an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub is_dir: bool,
    pub size: u64,
    pub modified: SystemTime,
}

/// A file being read.
pub trait FileReader: Read + Seek + Send + Debug {}
impl<T: Read + Seek + Send + Debug> FileReader for T {}

/// A file being written; dropped without `commit` it disappears.
pub trait StagedFile: Write + Send + Debug {
    fn commit(self: Box<Self>) -> Result<(), EfsError>;
}

/// Backend of the module file system. Paths are already validated [`EfsPath`]s.
pub trait Store: Send + Debug {
    fn stat(&self, p: &EfsPath) -> Result<Meta, EfsError>;
    /// Entries of a directory, sorted by name.
    fn list(&self, dir: &EfsPath) -> Result<Vec<(String, Meta)>, EfsError>;
    fn mkdir(&mut self, p: &EfsPath) -> Result<(), EfsError>;
    /// Remove an empty directory.
    fn rmdir(&mut self, p: &EfsPath) -> Result<(), EfsError>;
    fn remove_file(&mut self, p: &EfsPath) -> Result<(), EfsError>;
    fn rename(&mut self, from: &EfsPath, to: &EfsPath) -> Result<(), EfsError>;
    fn open(&self, p: &EfsPath) -> Result<Box<dyn FileReader>, EfsError>;
    /// Start writing `p` (replacing a file of that name on commit). `size_hint`, when
    /// known, is checked against free space at once.
    fn create(&mut self, p: &EfsPath, size_hint: Option<u64>) -> Result<Box<dyn StagedFile>, EfsError>;
    /// Start writing `p` after its first `keep` bytes (a resumed download): on commit the
    /// file is those bytes of the existing `p`, then what was written. The copy of the
    /// kept bytes is part of the commit, so it happens where commits do (off the core's
    /// thread), not here.
    fn resume(&mut self, p: &EfsPath, keep: u64) -> Result<Box<dyn StagedFile>, EfsError>;
    fn capacity(&self, d: Drive) -> u64;
    fn used(&self, d: Drive) -> Result<u64, EfsError>;
}

/// Bytes a new file at `p` may take: free space plus the size of the file it replaces.
fn budget(store: &dyn Store, p: &EfsPath, size_hint: Option<u64>) -> Result<u64, EfsError> {
    let replaced = match store.stat(p) {
        Ok(m) if m.is_dir => return Err(EfsError::IsADirectory),
        Ok(m) => m.size,
        Err(EfsError::NotFound) => 0,
        Err(e) => return Err(e),
    };
    match p.parent().map(|d| store.stat(&d)) {
        Some(Ok(m)) if m.is_dir => {}
        Some(Ok(_)) => return Err(EfsError::NotADirectory),
        Some(Err(e)) => return Err(e),
        None => return Err(EfsError::IsADirectory),
    }
    let free = store.capacity(p.drive()).saturating_sub(store.used(p.drive())?);
    let budget = free + replaced;
    if size_hint.is_some_and(|n| n > budget) {
        return Err(EfsError::NoSpace);
    }
    Ok(budget)
}

/// Counts bytes against a budget; shared by both backends' staged files.
#[derive(Debug)]
struct Budget {
    left: u64,
}

impl Budget {
    fn take(&mut self, n: usize) -> io::Result<()> {
        let n = n as u64;
        if n > self.left {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "EFS capacity exceeded"));
        }
        self.left -= n;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Host directory backend.

/// EFS kept in a host directory: `<root>/C/...`, `<root>/D/...`, staging in
/// `<root>/.staging`. Symbolic links anywhere on the way are refused.
#[derive(Debug)]
pub struct HostStore {
    root: PathBuf,
    capacity: [u64; 2],
}

impl HostStore {
    /// Open (creating if needed) an EFS rooted at `root`.
    pub fn open(root: &Path, capacity_c: u64, capacity_d: u64) -> io::Result<Self> {
        for sub in ["C", "D", ".staging"] {
            fs::create_dir_all(root.join(sub))?;
        }
        // Leftovers of a crash are never visible (they are outside the drives), but clean up.
        if let Ok(rd) = fs::read_dir(root.join(".staging")) {
            for e in rd.flatten() {
                let _ = fs::remove_file(e.path());
            }
        }
        Ok(Self { root: root.to_path_buf(), capacity: [capacity_c, capacity_d] })
    }

    fn drive_dir(&self, d: Drive) -> PathBuf {
        self.root.join(d.letter().to_string())
    }

    /// Host path of `p`, refusing any symlink on the way (the last component included).
    fn host(&self, p: &EfsPath) -> Result<PathBuf, EfsError> {
        let mut h = self.drive_dir(p.drive());
        for part in p.parts() {
            h.push(part);
            match fs::symlink_metadata(&h) {
                Ok(m) if m.file_type().is_symlink() => return Err(EfsError::InvalidPath("symbolic link")),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(h)
    }

    fn dir_size(dir: &Path) -> io::Result<u64> {
        let mut total = 0;
        for e in fs::read_dir(dir)? {
            let e = e?;
            let ft = e.file_type()?;
            if ft.is_dir() {
                total += Self::dir_size(&e.path())?;
            } else if ft.is_file() {
                total += e.metadata()?.len();
            }
        }
        Ok(total)
    }
}

fn meta_of(m: &fs::Metadata) -> Meta {
    Meta {
        is_dir: m.is_dir(),
        size: if m.is_dir() { 0 } else { m.len() },
        modified: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    }
}

#[derive(Debug)]
struct HostStaged {
    file: tempfile::NamedTempFile,
    target: PathBuf,
    budget: Budget,
    /// The first bytes of the file come from this file at commit (a resumed download).
    prefix: Option<(PathBuf, u64)>,
}

impl Write for HostStaged {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.budget.take(buf.len())?;
        self.file.write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl StagedFile for HostStaged {
    fn commit(self: Box<Self>) -> Result<(), EfsError> {
        let mut this = *self;
        if let Some((source, keep)) = &this.prefix {
            let mut old = fs::File::open(source)?.take(*keep);
            this.file.as_file_mut().seek(io::SeekFrom::Start(0))?;
            let copied = io::copy(&mut old, this.file.as_file_mut())?;
            if copied != *keep {
                return Err(EfsError::Io(io::Error::new(io::ErrorKind::UnexpectedEof, "the resumed file got shorter")));
            }
        }
        this.file.as_file().sync_data()?;
        this.file.persist(&this.target).map_err(|e| EfsError::Io(e.error))?;
        Ok(())
    }
}

impl Store for HostStore {
    fn stat(&self, p: &EfsPath) -> Result<Meta, EfsError> {
        let h = self.host(p)?;
        match fs::symlink_metadata(&h) {
            Ok(m) if m.is_dir() || m.is_file() => Ok(meta_of(&m)),
            Ok(_) => Err(EfsError::InvalidPath("not a regular file or directory")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(EfsError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    fn list(&self, dir: &EfsPath) -> Result<Vec<(String, Meta)>, EfsError> {
        if !self.stat(dir)?.is_dir {
            return Err(EfsError::NotADirectory);
        }
        let mut out = Vec::new();
        for e in fs::read_dir(self.host(dir)?)? {
            let e = e?;
            let ft = e.file_type()?;
            if !(ft.is_dir() || ft.is_file()) {
                continue; // symlinks and specials are not part of the EFS
            }
            let Ok(name) = e.file_name().into_string() else { continue };
            if dir.child(&name).is_err() {
                continue; // a name the module could not address
            }
            out.push((name, meta_of(&e.metadata()?)));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    fn mkdir(&mut self, p: &EfsPath) -> Result<(), EfsError> {
        match self.stat(p) {
            Ok(_) => return Err(EfsError::AlreadyExists),
            Err(EfsError::NotFound) => {}
            Err(e) => return Err(e),
        }
        let parent = p.parent().ok_or(EfsError::AlreadyExists)?;
        if !self.stat(&parent)?.is_dir {
            return Err(EfsError::NotADirectory);
        }
        fs::create_dir(self.host(p)?)?;
        Ok(())
    }

    fn rmdir(&mut self, p: &EfsPath) -> Result<(), EfsError> {
        if p.is_root() {
            return Err(EfsError::InvalidPath("drive root"));
        }
        if !self.stat(p)?.is_dir {
            return Err(EfsError::NotADirectory);
        }
        if !self.list(p)?.is_empty() {
            return Err(EfsError::NotEmpty);
        }
        fs::remove_dir(self.host(p)?).map_err(|e| match e.kind() {
            io::ErrorKind::DirectoryNotEmpty => EfsError::NotEmpty,
            _ => e.into(),
        })
    }

    fn remove_file(&mut self, p: &EfsPath) -> Result<(), EfsError> {
        if self.stat(p)?.is_dir {
            return Err(EfsError::IsADirectory);
        }
        fs::remove_file(self.host(p)?)?;
        Ok(())
    }

    fn rename(&mut self, from: &EfsPath, to: &EfsPath) -> Result<(), EfsError> {
        self.stat(from)?;
        match self.stat(to) {
            Ok(_) => return Err(EfsError::AlreadyExists),
            Err(EfsError::NotFound) => {}
            Err(e) => return Err(e),
        }
        if from.drive() != to.drive() {
            return Err(EfsError::InvalidPath("rename across drives"));
        }
        if to.parts().starts_with(from.parts()) {
            return Err(EfsError::InvalidPath("rename into itself"));
        }
        match to.parent().map(|d| self.stat(&d)) {
            Some(Ok(m)) if m.is_dir => {}
            Some(Ok(_)) => return Err(EfsError::NotADirectory),
            Some(Err(e)) => return Err(e),
            None => return Err(EfsError::AlreadyExists),
        }
        fs::rename(self.host(from)?, self.host(to)?)?;
        Ok(())
    }

    fn open(&self, p: &EfsPath) -> Result<Box<dyn FileReader>, EfsError> {
        if self.stat(p)?.is_dir {
            return Err(EfsError::IsADirectory);
        }
        Ok(Box::new(fs::File::open(self.host(p)?)?))
    }

    fn create(&mut self, p: &EfsPath, size_hint: Option<u64>) -> Result<Box<dyn StagedFile>, EfsError> {
        let left = budget(self, p, size_hint)?;
        let target = self.host(p)?;
        let file = tempfile::NamedTempFile::new_in(self.root.join(".staging"))?;
        Ok(Box::new(HostStaged { file, target, budget: Budget { left }, prefix: None }))
    }

    fn resume(&mut self, p: &EfsPath, keep: u64) -> Result<Box<dyn StagedFile>, EfsError> {
        if self.stat(p)?.size < keep {
            return Err(EfsError::InvalidPath("resume offset past the end of the file"));
        }
        let left = budget(self, p, Some(keep))?.saturating_sub(keep);
        let target = self.host(p)?;
        let mut file = tempfile::NamedTempFile::new_in(self.root.join(".staging"))?;
        file.as_file_mut().seek(io::SeekFrom::Start(keep))?;
        Ok(Box::new(HostStaged { file, target: target.clone(), budget: Budget { left }, prefix: Some((target, keep)) }))
    }

    fn capacity(&self, d: Drive) -> u64 {
        self.capacity[d as usize]
    }

    fn used(&self, d: Drive) -> Result<u64, EfsError> {
        Ok(Self::dir_size(&self.drive_dir(d))?)
    }
}

// ---------------------------------------------------------------------------------------
// In-memory backend.

#[derive(Debug, Clone)]
enum Node {
    Dir,
    File(Arc<Vec<u8>>),
}

type Tree = BTreeMap<EfsPath, (Node, SystemTime)>;

/// EFS in memory, for tests. Cloning shares the same tree.
#[derive(Debug, Clone)]
pub struct MemStore {
    tree: Arc<Mutex<Tree>>,
    capacity: [u64; 2],
    /// Time stamped on changes (tests set it; starts at the Unix epoch).
    time: Arc<Mutex<SystemTime>>,
}

impl MemStore {
    pub fn new(capacity_c: u64, capacity_d: u64) -> Self {
        let mut tree = BTreeMap::new();
        for d in Drive::ALL {
            tree.insert(EfsPath::root(d), (Node::Dir, SystemTime::UNIX_EPOCH));
        }
        Self {
            tree: Arc::new(Mutex::new(tree)),
            capacity: [capacity_c, capacity_d],
            time: Arc::new(Mutex::new(SystemTime::UNIX_EPOCH)),
        }
    }

    /// Set the time stamped on files created or changed from now on.
    pub fn set_time(&self, t: SystemTime) {
        *self.time.lock().unwrap_or_else(|e| e.into_inner()) = t;
    }

    fn now(&self) -> SystemTime {
        *self.time.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tree> {
        // A poisoned lock only means another test thread panicked; the data is still usable.
        self.tree.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Contents of a file, for test assertions.
    pub fn read_all(&self, p: &EfsPath) -> Option<Vec<u8>> {
        match self.lock().get(p) {
            Some((Node::File(b), _)) => Some(b.as_ref().clone()),
            _ => None,
        }
    }
}

fn mem_meta(n: &(Node, SystemTime)) -> Meta {
    match &n.0 {
        Node::Dir => Meta { is_dir: true, size: 0, modified: n.1 },
        Node::File(b) => Meta { is_dir: false, size: b.len() as u64, modified: n.1 },
    }
}

#[derive(Debug)]
struct MemStaged {
    tree: Arc<Mutex<Tree>>,
    time: SystemTime,
    target: EfsPath,
    data: Vec<u8>,
    budget: Budget,
}

impl Write for MemStaged {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.budget.take(buf.len())?;
        self.data.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl StagedFile for MemStaged {
    fn commit(self: Box<Self>) -> Result<(), EfsError> {
        let mut t = self.tree.lock().unwrap_or_else(|e| e.into_inner());
        t.insert(self.target, (Node::File(Arc::new(self.data)), self.time));
        Ok(())
    }
}

impl Store for MemStore {
    fn stat(&self, p: &EfsPath) -> Result<Meta, EfsError> {
        self.lock().get(p).map(mem_meta).ok_or(EfsError::NotFound)
    }

    fn list(&self, dir: &EfsPath) -> Result<Vec<(String, Meta)>, EfsError> {
        if !self.stat(dir)?.is_dir {
            return Err(EfsError::NotADirectory);
        }
        let t = self.lock();
        let depth = dir.parts().len() + 1;
        Ok(t.iter()
            .filter(|(k, _)| k.drive() == dir.drive() && k.parts().len() == depth && k.parts().starts_with(dir.parts()))
            .filter_map(|(k, v)| Some((k.name()?.to_owned(), mem_meta(v))))
            .collect())
    }

    fn mkdir(&mut self, p: &EfsPath) -> Result<(), EfsError> {
        if self.stat(p).is_ok() {
            return Err(EfsError::AlreadyExists);
        }
        let parent = p.parent().ok_or(EfsError::AlreadyExists)?;
        if !self.stat(&parent)?.is_dir {
            return Err(EfsError::NotADirectory);
        }
        let now = self.now();
        self.lock().insert(p.clone(), (Node::Dir, now));
        Ok(())
    }

    fn rmdir(&mut self, p: &EfsPath) -> Result<(), EfsError> {
        if p.is_root() {
            return Err(EfsError::InvalidPath("drive root"));
        }
        if !self.stat(p)?.is_dir {
            return Err(EfsError::NotADirectory);
        }
        if !self.list(p)?.is_empty() {
            return Err(EfsError::NotEmpty);
        }
        self.lock().remove(p);
        Ok(())
    }

    fn remove_file(&mut self, p: &EfsPath) -> Result<(), EfsError> {
        if self.stat(p)?.is_dir {
            return Err(EfsError::IsADirectory);
        }
        self.lock().remove(p);
        Ok(())
    }

    fn rename(&mut self, from: &EfsPath, to: &EfsPath) -> Result<(), EfsError> {
        self.stat(from)?;
        if self.stat(to).is_ok() {
            return Err(EfsError::AlreadyExists);
        }
        if from.drive() != to.drive() {
            return Err(EfsError::InvalidPath("rename across drives"));
        }
        if to.parts().starts_with(from.parts()) {
            return Err(EfsError::InvalidPath("rename into itself"));
        }
        let parent = to.parent().ok_or(EfsError::AlreadyExists)?;
        if !self.stat(&parent)?.is_dir {
            return Err(EfsError::NotADirectory);
        }
        let mut t = self.lock();
        let moved: Vec<_> =
            t.keys().filter(|k| k.drive() == from.drive() && k.parts().starts_with(from.parts())).cloned().collect();
        for k in moved {
            if let Some(v) = t.remove(&k) {
                let mut nk = to.clone();
                for part in &k.parts()[from.parts().len()..] {
                    nk = nk.child(part)?;
                }
                t.insert(nk, v);
            }
        }
        Ok(())
    }

    fn open(&self, p: &EfsPath) -> Result<Box<dyn FileReader>, EfsError> {
        match self.lock().get(p) {
            Some((Node::File(b), _)) => Ok(Box::new(Cursor::new(SharedBytes(b.clone())))),
            Some((Node::Dir, _)) => Err(EfsError::IsADirectory),
            None => Err(EfsError::NotFound),
        }
    }

    fn create(&mut self, p: &EfsPath, size_hint: Option<u64>) -> Result<Box<dyn StagedFile>, EfsError> {
        let left = budget(self, p, size_hint)?;
        Ok(Box::new(MemStaged {
            tree: self.tree.clone(),
            time: self.now(),
            target: p.clone(),
            data: Vec::new(),
            budget: Budget { left },
        }))
    }

    fn resume(&mut self, p: &EfsPath, keep: u64) -> Result<Box<dyn StagedFile>, EfsError> {
        let old = self.read_all(p).ok_or(EfsError::NotFound)?;
        let keep = usize::try_from(keep).ok().filter(|k| *k <= old.len());
        let keep = keep.ok_or(EfsError::InvalidPath("resume offset past the end of the file"))?;
        let left = budget(self, p, Some(keep as u64))?.saturating_sub(keep as u64);
        Ok(Box::new(MemStaged {
            tree: self.tree.clone(),
            time: self.now(),
            target: p.clone(),
            data: old[..keep].to_vec(),
            budget: Budget { left },
        }))
    }

    fn capacity(&self, d: Drive) -> u64 {
        self.capacity[d as usize]
    }

    fn used(&self, d: Drive) -> Result<u64, EfsError> {
        Ok(self
            .lock()
            .iter()
            .filter(|(k, _)| k.drive() == d)
            .map(|(_, v)| match &v.0 {
                Node::File(b) => b.len() as u64,
                Node::Dir => 0,
            })
            .sum())
    }
}

#[derive(Debug)]
struct SharedBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(store: &mut dyn Store) {
        let c = EfsPath::root(Drive::C);
        let dir = c.child("dir").unwrap();
        store.mkdir(&dir).unwrap();
        assert!(matches!(store.mkdir(&dir), Err(EfsError::AlreadyExists)));
        let f = dir.child("f.bin").unwrap();
        let mut w = store.create(&f, Some(4)).unwrap();
        w.write_all(b"abcd").unwrap();
        assert!(matches!(store.stat(&f), Err(EfsError::NotFound)), "visible before commit");
        w.commit().unwrap();
        assert_eq!(store.stat(&f).unwrap().size, 4);
        assert_eq!(store.used(Drive::C).unwrap(), 4);
        // Too big for the capacity: refused up front, and while streaming.
        assert!(matches!(store.create(&c.child("big").unwrap(), Some(100)), Err(EfsError::NoSpace)));
        let mut w = store.create(&c.child("big").unwrap(), None).unwrap();
        assert!(w.write_all(&[0; 20]).is_err());
        drop(w);
        assert!(matches!(store.stat(&c.child("big").unwrap()), Err(EfsError::NotFound)));
        // Replacing a file may reuse its own space.
        let w = store.create(&f, Some(16)).unwrap();
        drop(w);
        assert_eq!(store.stat(&f).unwrap().size, 4, "abandoned write left the old file intact");
        assert!(matches!(store.rmdir(&dir), Err(EfsError::NotEmpty)));
        // A resumed write keeps the first bytes of the old file, copied at commit; the old
        // file stays as it was until then.
        let mut w = store.resume(&f, 2).unwrap();
        w.write_all(b"XYZ").unwrap();
        assert_eq!(store.stat(&f).unwrap().size, 4);
        w.commit().unwrap();
        let mut s = String::new();
        store.open(&f).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "abXYZ");
        assert!(store.resume(&f, 6).is_err(), "resume past the end");
        let mut w = store.resume(&f, 5).unwrap();
        assert!(w.write_all(&[0; 12]).is_err(), "the kept bytes count against the capacity");
        drop(w);
        let g = c.child("g.bin").unwrap();
        store.rename(&f, &g).unwrap();
        let mut s = String::new();
        store.open(&g).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "abXYZ");
        assert_eq!(store.list(&c).unwrap().iter().map(|e| e.0.as_str()).collect::<Vec<_>>(), ["dir", "g.bin"]);
        store.remove_file(&g).unwrap();
        store.rmdir(&dir).unwrap();
        assert!(store.list(&c).unwrap().is_empty());
    }

    #[test]
    fn mem_store() {
        exercise(&mut MemStore::new(16, 16));
    }

    #[test]
    fn host_store() {
        let tmp = tempfile::tempdir().unwrap();
        exercise(&mut HostStore::open(tmp.path(), 16, 16).unwrap());
    }

    #[test]
    fn host_store_refuses_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"x").unwrap();
        let store = HostStore::open(tmp.path(), 1 << 20, 1 << 20).unwrap();
        std::os::unix::fs::symlink(outside.path(), tmp.path().join("C/link")).unwrap();
        let p = EfsPath::parse("C:/link/secret", &EfsPath::root(Drive::C)).unwrap();
        assert!(matches!(store.open(&p), Err(EfsError::InvalidPath(_))));
        assert!(store.list(&EfsPath::root(Drive::C)).unwrap().is_empty(), "symlink hidden");
    }
}
