//! The compiled snapshot as the modules see it: one mapped generation per
//! process, re-checked at most once per [`RECHECK`], replaced when the agent
//! renames a new file into place.
//!
//! Host-process rules apply here: no threads, no environment, no NSS calls.
//! The lock is held only to clone an `Arc` or to swap generations, and it is
//! only ever *tried*: a process forked while another thread held it (the lock
//! then stays held forever in the child) falls back to reading the file for
//! that one call instead of deadlocking.

use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use crate::host::compiled::{FormatError, Layout, View};

/// How stale a process's view of the file may be: a newly installed snapshot
/// is seen within this time, at the cost of one `lstat` per interval.
pub const RECHECK: Duration = Duration::from_secs(1);

/// Larger files are refused (the format's offsets are 32-bit per section).
const MAX_FILE: u64 = 4 << 30;

/// Read-only bytes of the snapshot file. The modules map it (see their ffi
/// module); tests and the CLI may read it into memory.
pub trait Mapping: Sized {
    fn map(file: &File, len: usize) -> io::Result<Self>;
    fn bytes(&self) -> &[u8];
}

impl Mapping for Vec<u8> {
    fn map(mut file: &File, len: usize) -> io::Result<Self> {
        use std::io::Read;
        let mut v = Vec::with_capacity(len);
        file.read_to_end(&mut v)?;
        Ok(v)
    }

    fn bytes(&self) -> &[u8] {
        self
    }
}

/// The snapshot read sparsely, for short-lived processes that make a few
/// certificate decisions and exit (the sshd gate, PAM): loading reads the
/// header, the section table and the small sections;
/// [`Generation::read_users`] then reads what looking up a few users needs.
/// The buffer has the file's size but is never touched elsewhere, so the
/// allocator's zero pages cost nothing, and a 100 MB snapshot costs a few
/// kilobytes of reads.
pub struct Sparse {
    file: File,
    buf: Vec<u8>,
}

impl Mapping for Sparse {
    fn map(file: &File, len: usize) -> io::Result<Sparse> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; len];
        let file = file.try_clone()?;
        let head = crate::host::compiled::HEADER_LEN.min(len);
        file.read_exact_at(&mut buf[..head], 0)?;
        let table_end = crate::host::compiled::table_end(&buf).min(len);
        file.read_exact_at(&mut buf[head..table_end], head as u64)?;
        // A bad header is the caller's finding (Layout::parse, again).
        if let Ok(layout) = Layout::parse(&buf) {
            for range in layout.small_sections() {
                file.read_exact_at(&mut buf[range.clone()], range.start as u64)?;
            }
        }
        Ok(Sparse { file, buf })
    }

    fn bytes(&self) -> &[u8] {
        &self.buf
    }
}

impl Generation<Sparse> {
    /// Reads what looking up these user names needs (see [`Sparse`]).
    pub fn read_users<'n>(
        &mut self,
        names: impl IntoIterator<Item = &'n str>,
    ) -> Result<(), LoadError> {
        use std::os::unix::fs::FileExt;
        let Sparse { file, buf } = &mut self.map;
        for name in names {
            self.layout
                .read_user_lookup(buf, name.as_bytes(), |at, dst| file.read_exact_at(dst, at))
                .map_err(LoadError::Io)?;
        }
        Ok(())
    }

    /// Reads what looking up these groups by gid needs.
    pub fn read_groups(&mut self, gids: &[u32]) -> Result<(), LoadError> {
        use std::os::unix::fs::FileExt;
        let Sparse { file, buf } = &mut self.map;
        for &gid in gids {
            self.layout
                .read_gid_lookup(buf, gid, |at, dst| file.read_exact_at(dst, at))
                .map_err(LoadError::Io)?;
        }
        Ok(())
    }
}

/// Why there is no usable snapshot.
#[derive(Debug)]
pub enum LoadError {
    /// No file (the host has never synced).
    Missing,
    /// A symlink, directory, device…
    NotRegular,
    /// The file or its directory is not owned by root.
    NotRootOwned,
    /// The file or its directory is group- or world-writable.
    Writable,
    /// The directory is missing or a symlink.
    UnsafeDirectory,
    Io(io::Error),
    Format(FormatError),
}

impl LoadError {
    /// Out of descriptors or memory, or interrupted: a passing state of the
    /// process (a tight `RLIMIT_NOFILE` or `RLIMIT_AS`), not of the file.
    pub fn is_transient(&self) -> bool {
        let transient = [
            libc::EMFILE,
            libc::ENFILE,
            libc::ENOMEM,
            libc::EAGAIN,
            libc::EINTR,
        ];
        matches!(self, Self::Io(e) if e.raw_os_error().is_some_and(|n| transient.contains(&n)))
    }
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing => f.write_str("no compiled snapshot installed"),
            Self::NotRegular => f.write_str("snapshot is not a regular file"),
            Self::NotRootOwned => f.write_str("snapshot or its directory is not owned by root"),
            Self::Writable => f.write_str("snapshot or its directory is group/world-writable"),
            Self::UnsafeDirectory => f.write_str("snapshot directory is missing or a symlink"),
            Self::Io(e) => write!(f, "cannot read snapshot: {e}"),
            Self::Format(e) => write!(f, "snapshot is corrupt: {e}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// What identifies one installed file: a rename gives a new inode, an
/// in-place rewrite a new size or mtime, a chmod or chown a new ctime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Identity {
    fn of(m: &Metadata) -> Identity {
        Identity {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// One mapped, header-checked snapshot file.
#[derive(Debug)]
pub struct Generation<M> {
    map: M,
    layout: Layout,
    identity: Identity,
}

impl<M: Mapping> Generation<M> {
    /// Opens, checks and maps the file at `path`.
    pub fn load(path: &Path) -> Result<Generation<M>, LoadError> {
        let dir = path.parent().ok_or(LoadError::UnsafeDirectory)?;
        let dir_meta = std::fs::symlink_metadata(dir).map_err(|_| LoadError::UnsafeDirectory)?;
        if !dir_meta.is_dir() {
            return Err(LoadError::UnsafeDirectory);
        }
        check_owner(&dir_meta)?;
        let file = OpenOptions::new()
            .read(true)
            // A symlink at the final component fails with ELOOP; O_NONBLOCK
            // keeps a FIFO planted at the path from blocking the open (and
            // with it every lookup in the host process). It has no effect on
            // the regular file we then insist on.
            .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ENOENT) => LoadError::Missing,
                Some(libc::ELOOP) => LoadError::NotRegular,
                _ => LoadError::Io(e),
            })?;
        let meta = file.metadata().map_err(LoadError::Io)?;
        if !meta.is_file() {
            return Err(LoadError::NotRegular);
        }
        check_owner(&meta)?;
        if meta.len() > MAX_FILE {
            return Err(LoadError::Format(FormatError::TooLarge("file")));
        }
        if meta.len() < 64 {
            return Err(LoadError::Format(FormatError::TooShort));
        }
        // Bounded by MAX_FILE above, so it fits in usize.
        let map = M::map(&file, meta.len() as usize).map_err(LoadError::Io)?;
        let layout = Layout::parse(map.bytes()).map_err(LoadError::Format)?;
        Ok(Generation {
            map,
            layout,
            identity: Identity::of(&meta),
        })
    }

    pub fn view(&self) -> View<'_> {
        View::with_layout(self.map.bytes(), &self.layout)
    }
}

fn check_owner(m: &Metadata) -> Result<(), LoadError> {
    if m.uid() != 0 {
        return Err(LoadError::NotRootOwned);
    }
    if m.mode() & 0o022 != 0 {
        return Err(LoadError::Writable);
    }
    Ok(())
}

/// The per-process cache of the current generation.
pub struct Store<M> {
    path: &'static str,
    state: Mutex<Loaded<M>>,
}

struct Loaded<M> {
    current: Option<Arc<Generation<M>>>,
    /// What the last check saw when it found no usable file, so a missing or
    /// broken file is not re-opened on every call.
    failed: Option<(Option<Identity>, LoadErrorKind)>,
    next_check: Option<Instant>,
}

/// A copyable summary of a [`LoadError`], to repeat it from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadErrorKind {
    Missing,
    Unusable,
}

impl LoadError {
    pub fn kind(&self) -> LoadErrorKind {
        match self {
            Self::Missing => LoadErrorKind::Missing,
            _ => LoadErrorKind::Unusable,
        }
    }
}

impl<M: Mapping> Store<M> {
    pub const fn new(path: &'static str) -> Store<M> {
        Store {
            path,
            state: Mutex::new(Loaded {
                current: None,
                failed: None,
                next_check: None,
            }),
        }
    }

    /// The current generation, checking the file at most once per
    /// [`RECHECK`]. `now` is a monotonic clock reading.
    ///
    /// The lock is held only to read or swap the cached `Arc`: the `lstat`,
    /// the load of a new file and the unmapping of the old one all happen
    /// outside it, so a thread that forks while another is in here leaves
    /// the child a lock that is almost never taken.
    pub fn current(&self, now: Instant) -> Result<Arc<Generation<M>>, LoadErrorKind> {
        let (cached, checked) = {
            let Some(mut state) = lock_briefly(&self.state) else {
                return self.uncached();
            };
            // Until the first check completes there is nothing to answer
            // from: every caller checks (and loads) for itself meanwhile.
            let checked = state.checked();
            if checked.is_some() && state.next_check.is_some_and(|due| now < due) {
                return state.answer();
            }
            // This caller re-checks; others keep the cached answer meanwhile.
            state.next_check = Some(now + RECHECK);
            (state.answer(), checked)
        };
        let seen = std::fs::symlink_metadata(self.path)
            .ok()
            .map(|m| Identity::of(&m));
        if checked == Some(seen) {
            return cached;
        }
        let (current, failed) = match Generation::load(Path::new(self.path)) {
            Ok(g) => (Some(Arc::new(g)), None),
            // Out of descriptors or memory is the process's state, not the
            // file's: answer as before, and look again at the next call
            // rather than remember the failure until the file changes.
            Err(e) if e.is_transient() => {
                if let Some(mut state) = lock_briefly(&self.state)
                    && state.checked() == checked
                {
                    state.next_check = None;
                }
                return cached.map_err(|_| e.kind());
            }
            Err(e) => (None, Some((seen, e.kind()))),
        };
        let answer = Loaded {
            current: current.clone(),
            failed,
            next_check: None,
        }
        .answer();
        // Swap in what we loaded, unless another caller swapped since we
        // looked (a slow caller must not put back an older generation).
        let old = lock_briefly(&self.state).and_then(|mut state| {
            (state.checked() == checked).then(|| {
                state.failed = failed;
                std::mem::replace(&mut state.current, current)
            })
        });
        // The previous generation, if this was its last user, is unmapped
        // here, outside the lock.
        drop(old);
        answer
    }

    /// Answers from the file directly, without the cache: for a process
    /// whose lock is unavailable (held across a fork). Slower, still correct.
    fn uncached(&self) -> Result<Arc<Generation<M>>, LoadErrorKind> {
        Generation::load(Path::new(self.path))
            .map(Arc::new)
            .map_err(|e| e.kind())
    }
}

/// Takes a lock if it is free now or very soon, for code inside host
/// processes. Our critical sections are a few instructions, so a short spin
/// and a couple of yields cover a holder that was preempted; a lock that
/// stays taken was inherited across fork from a thread that no longer
/// exists, and waiting for it would hang the child. `None` then: the caller
/// takes a slower path (or fails soft) instead of waiting.
pub fn lock_briefly<T>(lock: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    const SPINS: u32 = 100;
    const YIELDS: u32 = 3;
    for attempt in 0..SPINS + YIELDS {
        match lock.try_lock() {
            Ok(guard) => return Some(guard),
            // Our critical sections cannot panic, but never trust that.
            Err(TryLockError::Poisoned(p)) => return Some(p.into_inner()),
            Err(TryLockError::WouldBlock) if attempt < SPINS => std::hint::spin_loop(),
            Err(TryLockError::WouldBlock) => std::thread::yield_now(),
        }
    }
    None
}

impl<M> Loaded<M> {
    /// What the last check saw at the path: `None` if never checked.
    fn checked(&self) -> Option<Option<Identity>> {
        match (&self.current, &self.failed) {
            (Some(g), _) => Some(Some(g.identity)),
            (None, Some((seen, _))) => Some(*seen),
            (None, None) => None,
        }
    }

    fn answer(&self) -> Result<Arc<Generation<M>>, LoadErrorKind> {
        match (&self.current, &self.failed) {
            (Some(g), _) => Ok(Arc::clone(g)),
            (None, Some((_, kind))) => Err(*kind),
            (None, None) => Err(LoadErrorKind::Missing),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::compiled::compile;
    use crate::local::LocalTables;
    use crate::snapshot::{Policy, validate};

    fn compiled(serial: u64) -> Vec<u8> {
        let json = format!(
            r#"{{"format":"roster-snapshot/1","serial":{serial},"issued_at":"2026-01-01T00:00:00Z",
            "valid_until":"2099-01-01T00:00:00Z","groups":[],
            "users":[{{"name":"alice","uid":10001,"gid":10001,"home":"/home/alice",
            "shell":"/bin/sh","state":"active","role":"user"}}]}}"#
        );
        let local = LocalTables::parse("", "", "/bin/sh\n");
        let s = validate(json.as_bytes(), &Policy::default(), &local, 1_800_000_000).unwrap();
        compile(
            &s,
            &crate::host::compiled::HostPolicy::with_defaults("test"),
            0,
        )
        .unwrap()
    }

    /// A private directory with a store pointing into it.
    fn setup(name: &str) -> (std::path::PathBuf, Store<Vec<u8>>) {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("roster-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path: &'static str = Box::leak(dir.join("snapshot").to_str().unwrap().into());
        (dir, Store::new(path))
    }

    fn install(dir: &Path, bytes: &[u8]) {
        crate::install::write_atomic(&dir.join("snapshot"), bytes, 0o644).unwrap();
    }

    fn serial(store: &Store<Vec<u8>>, now: Instant) -> Result<u64, LoadErrorKind> {
        store.current(now).map(|g| g.view().header().serial)
    }

    // These tests create root-owned files: the suite runs as root (see README).
    #[test]
    fn picks_up_a_new_generation_after_the_recheck_interval() {
        let (dir, store) = setup("recheck");
        let t0 = Instant::now();
        assert_eq!(serial(&store, t0), Err(LoadErrorKind::Missing));
        install(&dir, &compiled(1));
        // Still within the interval: the cached answer stands.
        assert_eq!(
            serial(&store, t0 + Duration::from_millis(500)),
            Err(LoadErrorKind::Missing)
        );
        assert_eq!(serial(&store, t0 + RECHECK), Ok(1));
        install(&dir, &compiled(2));
        assert_eq!(serial(&store, t0 + RECHECK), Ok(1));
        assert_eq!(serial(&store, t0 + RECHECK * 2), Ok(2));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn refuses_unsafe_files() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, store) = setup("unsafe");
        let path = dir.join("snapshot");
        let mut now = Instant::now();
        let mut check = |expect: Result<u64, LoadErrorKind>| {
            now += RECHECK;
            assert_eq!(serial(&store, now), expect);
        };
        install(&dir, &compiled(1));
        check(Ok(1));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        check(Err(LoadErrorKind::Unusable));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        check(Ok(1));
        std::os::unix::fs::chown(&path, Some(1), None).unwrap();
        check(Err(LoadErrorKind::Unusable));
        std::fs::remove_file(&path).unwrap();
        std::fs::write(dir.join("real"), compiled(3)).unwrap();
        std::os::unix::fs::symlink(dir.join("real"), &path).unwrap();
        check(Err(LoadErrorKind::Unusable));
        std::fs::remove_file(&path).unwrap();
        let mut truncated = compiled(4);
        truncated.pop();
        install(&dir, &truncated);
        check(Err(LoadErrorKind::Unusable));
        install(&dir, &compiled(5));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        check(Err(LoadErrorKind::Unusable));
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Regression: while one thread made the first load, the others used to
    /// answer "no snapshot" from the empty cache.
    #[test]
    fn concurrent_first_calls_all_see_the_snapshot() {
        let (dir, store) = setup("first");
        install(&dir, &compiled(1));
        let store = &store;
        let now = Instant::now();
        std::thread::scope(|s| {
            let calls: Vec<_> = (0..8)
                .map(|_| s.spawn(move || serial(store, now)))
                .collect();
            for c in calls {
                assert_eq!(c.join().unwrap(), Ok(1));
            }
        });
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_sparse_read_answers_the_users_and_groups_it_read_like_the_whole_file() {
        let (dir, _) = setup("sparse");
        let groups: Vec<String> = (0..3000)
            .map(|i| {
                format!(
                    r#"{{"name":"g{i}","gid":{},"members":["u{i}"]}}"#,
                    200_000 + i
                )
            })
            .collect();
        let json = format!(
            r#"{{"format":"roster-snapshot/1","serial":4,"issued_at":"2026-01-01T00:00:00Z",
            "valid_until":"2099-01-01T00:00:00Z","groups":[{}],"users":[{}],
            "grants":[],"revoked":{{"serials":[5]}}}}"#,
            groups.join(","),
            crate::testing::generated_users(3000)
        );
        let local = LocalTables::parse("", "", "/bin/sh\n");
        let s = validate(json.as_bytes(), &Policy::default(), &local, 0).unwrap();
        let host = crate::host::compiled::HostPolicy::with_defaults("web-01");
        install(&dir, &compile(&s, &host, 0).unwrap());
        let path = dir.join("snapshot");
        let full = Generation::<Vec<u8>>::load(&path).unwrap();
        let mut sparse = Generation::<Sparse>::load(&path).unwrap();
        sparse.read_users(["u7", "u2999", "nobody-here"]).unwrap();
        let gids = [200_007, 202_999, 7];
        sparse.read_groups(&gids).unwrap();
        let (f, sp) = (full.view(), sparse.view());
        for gid in gids {
            assert_eq!(sp.group_by_gid(gid), f.group_by_gid(gid), "{gid}");
        }
        assert!(sp.group_by_gid(200_007).unwrap().is_some());
        for name in ["u7", "u2999", "nobody-here"] {
            assert_eq!(
                sp.user_by_name(name.as_bytes()),
                f.user_by_name(name.as_bytes()),
                "{name}"
            );
        }
        assert_eq!(sp.host_policy().unwrap(), host);
        assert_eq!(sp.is_revoked(5, "", ""), Ok(true));
        assert_eq!(sp.header().serial, 4);
        // Far less than the file was read.
        let touched = sparse.map.buf.iter().filter(|b| **b != 0).count();
        assert!(
            touched * 20 < sparse.map.buf.len(),
            "{touched} of {}",
            sparse.map.buf.len()
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
