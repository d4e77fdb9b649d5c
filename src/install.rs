//! Files: replacing them so that readers see the old or the new ones, never
//! a mix, and reading them with the path in the error.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A file written in full to a temporary name beside its destination and
/// fsynced, but not yet visible there. [`Staged::commit`] renames it into
/// place; dropping it uncommitted removes it. Staging every file of an
/// install before committing any means a failure (a full disk) changes
/// nothing.
#[derive(Debug)]
pub struct Staged {
    tmp: Option<PathBuf>,
    path: PathBuf,
    /// fsync the file and, on commit, its directory.
    durable: bool,
}

/// Writes `bytes` to a temporary file beside `path`, with `mode` (and the
/// caller's owner: root when the agent runs it), and fsyncs it.
pub fn stage(path: &Path, bytes: &[u8], mode: u32) -> io::Result<Staged> {
    stage_as(path, bytes, mode, true)
}

fn stage_as(path: &Path, bytes: &[u8], mode: u32, durable: bool) -> io::Result<Staged> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("path has no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let staged = Staged {
        tmp: Some(dir_of(path).join(tmp_name)),
        path: path.to_owned(),
        durable,
    };
    let tmp = staged.tmp.as_deref().unwrap_or(path);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(tmp)?;
    f.write_all(bytes)?;
    // create_new's mode is filtered by the umask; set it exactly.
    f.set_permissions(fs::Permissions::from_mode(mode))?;
    if durable {
        f.sync_all()?;
    }
    Ok(staged)
}

impl Staged {
    /// Where the staged content is until [`Staged::commit`].
    pub fn path(&self) -> &Path {
        self.tmp.as_deref().unwrap_or(&self.path)
    }

    /// [`Staged::commit`] for a file that other processes map: the new file
    /// is made immutable (`chattr +i`), so that nothing — an operator's `cp`
    /// or `>` over it — can truncate it under their mappings, which would kill
    /// them with SIGBUS. rename(2) cannot replace an immutable file, so the
    /// old one is made mutable first; both need `CAP_LINUX_IMMUTABLE`. On a
    /// filesystem without the flag the file is installed without it.
    pub fn commit_immutable(self) -> io::Result<()> {
        let path = self.path.clone();
        match set_immutable(&path, false) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(io::Error::new(
                    e.kind(),
                    format!(
                        "{e}: it is immutable, and making it mutable needs CAP_LINUX_IMMUTABLE"
                    ),
                ));
            }
            Err(e) if unsupported(&e) => {}
            Err(e) => return Err(e),
        }
        self.commit()?;
        match set_immutable(&path, true) {
            Err(e) if !unsupported(&e) => Err(e),
            _ => Ok(()),
        }
    }

    /// Renames the file into place and fsyncs the directory. A crash at any
    /// moment leaves either the old or the new file at the destination.
    pub fn commit(mut self) -> io::Result<()> {
        if let Some(tmp) = self.tmp.take()
            && let Err(e) = fs::rename(&tmp, &self.path)
        {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        match self.durable {
            true => File::open(dir_of(&self.path))?.sync_all(),
            false => Ok(()),
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Sets or clears `FS_IMMUTABLE_FL` on `path` (a missing file is left alone).
pub(crate) fn set_immutable(path: &Path, on: bool) -> io::Result<()> {
    use rustix::fs::{IFlags, ioctl_getflags, ioctl_setflags};
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let flags = ioctl_getflags(&file)?;
    let wanted = if on {
        flags | IFlags::IMMUTABLE
    } else {
        flags - IFlags::IMMUTABLE
    };
    if wanted != flags {
        ioctl_setflags(&file, wanted)?;
    }
    Ok(())
}

/// The filesystem has no inode flags (`ENOTTY`, `EOPNOTSUPP`, `EINVAL`).
fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOTTY | libc::EOPNOTSUPP | libc::EINVAL)
    )
}

/// Removes `dir` and everything in it, making immutable files (an installed
/// snapshot, see [`Staged::commit_immutable`]) mutable first: for a state
/// folder that is thrown away whole (`roster demo`, tests).
pub fn remove_tree(dir: &Path) -> io::Result<()> {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => remove_tree(&path)?,
                Ok(t) if t.is_file() => {
                    let _ = set_immutable(&path, false);
                }
                _ => {}
            }
        }
    }
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn dir_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Removes temporary files that [`stage`] left in `dir` for a process that
/// no longer runs (one killed mid-install): `.NAME.tmpPID`.
pub fn remove_stale(dir: &Path) {
    remove_stale_where(dir, |_| true);
}

/// [`remove_stale`] for the temporary files of `path` only
/// (`.NAME.tmpPID` beside it), in a folder that is not ours alone
/// (`/etc/sudoers.d`).
pub fn remove_stale_of(path: &Path) {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    remove_stale_where(dir_of(path), |staged| staged == name);
}

/// [`remove_stale`] for the files staged for a name that `wanted` accepts.
fn remove_stale_where(dir: &Path, wanted: impl Fn(&str) -> bool) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix('.'))
            .and_then(|n| n.rsplit_once(".tmp"))
            .filter(|(staged, _)| wanted(staged))
            .and_then(|(_, pid)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = Path::new("/proc").join(pid.to_string()).exists();
        if !alive {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Writes `bytes` to `path` atomically: [`stage`], then [`Staged::commit`].
/// On any error `path` is untouched and no temporary file is left.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    stage(path, bytes, mode)?.commit()
}

/// A file that could not be read or written, and why: every command's
/// message for it names the path.
#[derive(Debug)]
pub struct FileError {
    pub path: PathBuf,
    pub problem: FileProblem,
}

#[derive(Debug)]
pub enum FileProblem {
    Io(io::Error),
    NotUtf8,
    /// Read, but not what it should hold (the parser's words).
    Malformed(String),
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.problem {
            FileProblem::Io(e) => write!(f, "{}: {e}", self.path.display()),
            FileProblem::NotUtf8 => write!(f, "{}: not UTF-8", self.path.display()),
            FileProblem::Malformed(why) => write!(f, "{}: {why}", self.path.display()),
        }
    }
}

impl std::error::Error for FileError {}

impl FileError {
    pub fn io(path: &Path, error: io::Error) -> FileError {
        FileError {
            path: path.to_owned(),
            problem: FileProblem::Io(error),
        }
    }
}

/// The whole of `path`.
pub fn read(path: &Path) -> Result<Vec<u8>, FileError> {
    fs::read(path).map_err(|e| FileError::io(path, e))
}

/// The whole of `path`, which must be UTF-8.
pub fn read_text(path: &Path) -> Result<String, FileError> {
    String::from_utf8(read(path)?).map_err(|_| FileError {
        path: path.to_owned(),
        problem: FileProblem::NotUtf8,
    })
}

/// Replaces `path` atomically for its readers (they see the old file or the
/// new one, whole) but without fsync: for files that are made again after a
/// crash, whose every fsync would only slow down their writer (roster-scim
/// publishes every project again when it starts).
pub fn replace_for_readers(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FileError> {
    stage_as(path, bytes, mode, false)
        .and_then(Staged::commit)
        .map_err(|e| FileError::io(path, e))
}

/// [`write_atomic`], with the path in the error.
pub fn replace(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FileError> {
    write_atomic(path, bytes, mode).map_err(|e| FileError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_files_appear_only_on_commit() {
        let dir = std::env::temp_dir().join(format!("roster-install-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a"), dir.join("b"));
        fs::write(&a, "old").unwrap();
        let staged = stage(&a, b"new", 0o644).unwrap();
        assert_eq!(fs::read_to_string(&a).unwrap(), "old");
        drop(stage(&b, b"never", 0o644).unwrap());
        staged.commit().unwrap();
        assert_eq!(fs::read_to_string(&a).unwrap(), "new");
        assert_eq!(
            fs::metadata(&a).unwrap().permissions().mode() & 0o777,
            0o644
        );
        let left: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["a"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stale_files_of_one_name_are_removed_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!("roster-stale-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        // Above any pid_max (2^22): no process has it.
        let dead = 99_999_999;
        let me = std::process::id();
        let names = [
            format!(".rules.tmp{dead}"),
            format!(".rules.tmp{me}"),
            format!(".other.tmp{dead}"),
            "rules".to_owned(),
        ];
        for name in &names {
            fs::write(dir.join(name), "").unwrap();
        }
        remove_stale_of(&dir.join("rules"));
        let mut left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, [names[2].clone(), names[1].clone(), names[3].clone()]);
        remove_stale(&dir);
        let mut left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, [names[1].clone(), names[3].clone()]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
