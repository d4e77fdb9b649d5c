//! Creating a user's home directory from inside sshd (PAM session), safely:
//! every step is relative to an open directory, nothing follows a symlink,
//! every parent must be root-owned and not group/world-writable, and the
//! owner and mode are set on the new directory's descriptor. An existing
//! home is left exactly as it is, if it is the user's own: a directory (not
//! a symlink, not a file) owned by their uid. Anything else refuses the
//! login rather than hand one account another's files.
//!
//! Errors read after "cannot create home PATH: " (the PAM session's reason).

use rustix::fs::{AtFlags, CWD, FileType, Gid, Mode, OFlags, Uid};
use rustix::io::Errno;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// Deepest directory tree copied from the skeleton.
const MAX_SKEL_DEPTH: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Home {
    Existed,
    Created,
}

/// Creates `home` (absolute) for `uid`/`gid` with mode 0700 and the contents
/// of `skel`, unless it exists as `uid`'s own directory.
pub fn ensure(home: &Path, uid: u32, gid: u32, skel: Option<&Path>) -> io::Result<Home> {
    let root = rustix::fs::openat(CWD, "/", dir_flags(), Mode::empty())?;
    let relative = home
        .strip_prefix("/")
        .map_err(|_| invalid("home is not absolute"))?;
    ensure_under(root, relative, uid, gid, skel)
}

/// [`ensure`], relative to the directory `root` (tests start below /tmp).
pub fn ensure_under(
    root: OwnedFd,
    home: &Path,
    uid: u32,
    gid: u32,
    skel: Option<&Path>,
) -> io::Result<Home> {
    let name = home
        .file_name()
        .ok_or_else(|| invalid("home has no name"))?;
    let mut dir = root;
    // Named in errors as if `root` were /, which it is outside tests.
    let mut parent = PathBuf::from("/");
    for c in home.parent().into_iter().flat_map(Path::components) {
        let Component::Normal(part) = c else {
            return Err(invalid("home is not a normalised path"));
        };
        parent.push(part);
        let at = parent.display();
        dir = match rustix::fs::openat(&dir, part, dir_flags(), Mode::empty()) {
            Ok(d) => d,
            Err(Errno::NOENT) => return Err(invalid(&format!("its parent {at} does not exist"))),
            Err(Errno::LOOP | Errno::NOTDIR) => {
                let what = not_a_directory(&dir, part);
                return Err(invalid(&format!("its parent {at} {what}")));
            }
            Err(e) => return Err(e.into()),
        };
        let st = rustix::fs::fstat(&dir)?;
        if st.st_uid != 0 {
            let owner = st.st_uid;
            return Err(invalid(&format!(
                "its parent {at} belongs to uid {owner}, not root"
            )));
        }
        if st.st_mode & 0o022 != 0 {
            let mode = st.st_mode & 0o7777;
            return Err(invalid(&format!(
                "its parent {at} is writable by others (mode {mode:04o})"
            )));
        }
    }
    match rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o700)) {
        Ok(()) => {}
        Err(Errno::EXIST) => {
            let existing = match rustix::fs::openat(&dir, name, dir_flags(), Mode::empty()) {
                Ok(d) => d,
                Err(Errno::LOOP | Errno::NOTDIR) => {
                    let what = not_a_directory(&dir, name);
                    return Err(invalid(&format!("it exists and {what}")));
                }
                Err(e) => return Err(e.into()),
            };
            // Checked on the open descriptor: what was checked is what exists.
            let owner = rustix::fs::fstat(&existing)?.st_uid;
            if owner != uid {
                return Err(invalid(&format!(
                    "it exists and belongs to uid {owner}, not {uid}: another account's home \
                     is never handed over"
                )));
            }
            return Ok(Home::Existed);
        }
        Err(e) => return Err(e.into()),
    }
    let new = rustix::fs::openat(&dir, name, dir_flags(), Mode::empty())?;
    let copied = skel.map(|skel| copy_tree(skel, &new, uid, gid, 0));
    // Owner last: until now only root could enter the directory. Set even if
    // the skeleton could not be copied whole, so the home is never left
    // root-owned; that error is still reported.
    chown(&new, uid, gid)?;
    rustix::fs::fchmod(&new, Mode::from_raw_mode(0o700))?;
    copied.transpose()?;
    Ok(Home::Created)
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// Why `name` in `dir` did not open as a directory without following a
/// symlink (with O_DIRECTORY, Linux says ENOTDIR for a symlink too).
fn not_a_directory(dir: &OwnedFd, name: &std::ffi::OsStr) -> &'static str {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => "is a symbolic link",
        _ => "is not a directory",
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_owned())
}

fn chown(fd: impl AsFd, uid: u32, gid: u32) -> io::Result<()> {
    rustix::fs::fchown(fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))?;
    Ok(())
}

/// Copies regular files, directories and symlinks of `src` (a trusted,
/// root-owned skeleton such as /etc/skel) into the directory `dst`.
fn copy_tree(src: &Path, dst: &OwnedFd, uid: u32, gid: u32, depth: usize) -> io::Result<()> {
    if depth >= MAX_SKEL_DEPTH {
        return Ok(());
    }
    let entries = match std::fs::read_dir(src) {
        Ok(e) => e,
        // No skeleton is not an error: the home is simply empty.
        Err(e) if e.kind() == io::ErrorKind::NotFound && depth == 0 => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let meta = std::fs::symlink_metadata(entry.path())?;
        let mode = Mode::from_raw_mode(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        );
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(entry.path())?;
            rustix::fs::symlinkat(&target, dst, &name)?;
            rustix::fs::chownat(
                dst,
                &name,
                Some(Uid::from_raw(uid)),
                Some(Gid::from_raw(gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )?;
        } else if meta.is_dir() {
            rustix::fs::mkdirat(dst, &name, Mode::from_raw_mode(0o700))?;
            let sub = rustix::fs::openat(dst, &name, dir_flags(), Mode::empty())?;
            copy_tree(&entry.path(), &sub, uid, gid, depth + 1)?;
            chown(&sub, uid, gid)?;
            rustix::fs::fchmod(&sub, mode)?;
        } else if meta.is_file() {
            let from = rustix::fs::openat(
                CWD,
                entry.path().as_path(),
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let to = rustix::fs::openat(
                dst,
                &name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )?;
            io::copy(&mut File::from(from), &mut File::from(to.try_clone()?))?;
            chown(&to, uid, gid)?;
            rustix::fs::fchmod(&to, mode)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    /// A root-owned 0755 scratch directory, opened (tests run as root).
    fn scratch(name: &str) -> (std::path::PathBuf, OwnedFd) {
        let dir = std::env::temp_dir().join(format!("roster-home-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("home")).unwrap();
        for d in [&dir, &dir.join("home")] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let fd = rustix::fs::openat(CWD, &dir, dir_flags(), Mode::empty()).unwrap();
        (dir, fd)
    }

    #[test]
    fn creates_a_private_home_with_the_skeleton() {
        let (dir, fd) = scratch("create");
        let skel = dir.join("skel");
        std::fs::create_dir_all(skel.join(".config")).unwrap();
        std::fs::write(skel.join(".profile"), "echo hi\n").unwrap();
        std::fs::write(skel.join(".config/app"), "x").unwrap();
        std::os::unix::fs::symlink(".profile", skel.join(".bash_profile")).unwrap();

        let r = ensure_under(fd, Path::new("home/alice"), 10001, 10001, Some(&skel)).unwrap();
        assert_eq!(r, Home::Created);
        let home = dir.join("home/alice");
        let m = std::fs::metadata(&home).unwrap();
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (10001, 10001, 0o700));
        assert_eq!(
            std::fs::read_to_string(home.join(".profile")).unwrap(),
            "echo hi\n"
        );
        assert_eq!(
            std::fs::metadata(home.join(".config/app")).unwrap().uid(),
            10001
        );
        let link = std::fs::symlink_metadata(home.join(".bash_profile")).unwrap();
        assert!(link.file_type().is_symlink() && link.uid() == 10001);

        // A second login leaves it alone.
        let fd = rustix::fs::openat(CWD, &dir, dir_flags(), Mode::empty()).unwrap();
        assert_eq!(
            ensure_under(fd, Path::new("home/alice"), 10001, 10001, Some(&skel)).unwrap(),
            Home::Existed
        );
        assert_eq!(std::fs::metadata(&home).unwrap().uid(), 10001);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// The error `ensure_under` gives for `home` below `dir` and uid 10002.
    fn refusal(dir: &Path, home: &str) -> String {
        let fd = rustix::fs::openat(CWD, dir, dir_flags(), Mode::empty()).unwrap();
        let e = ensure_under(fd, Path::new(home), 10002, 10002, None).unwrap_err();
        e.to_string()
    }

    #[test]
    fn refuses_another_accounts_home() {
        let (dir, _) = scratch("foreign");
        let alice = dir.join("home/alice");
        std::fs::create_dir(&alice).unwrap();
        std::fs::write(alice.join("secret"), "alice's").unwrap();
        std::os::unix::fs::chown(&alice, Some(10001), Some(10001)).unwrap();
        std::fs::set_permissions(&alice, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(
            refusal(&dir, "home/alice"),
            "it exists and belongs to uid 10001, not 10002: another account's home is never \
             handed over"
        );
        // Left exactly as it was.
        let m = std::fs::metadata(&alice).unwrap();
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (10001, 10001, 0o700));
        assert_eq!(
            std::fs::read_to_string(alice.join("secret")).unwrap(),
            "alice's"
        );
        // Root's is not the user's either.
        std::fs::create_dir(dir.join("home/rootowned")).unwrap();
        assert_eq!(
            refusal(&dir, "home/rootowned"),
            "it exists and belongs to uid 0, not 10002: another account's home is never \
             handed over"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn refuses_symlinks_files_and_unsafe_parents() {
        let (dir, _) = scratch("unsafe");
        let elsewhere = dir.join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::chown(&elsewhere, Some(10002), Some(10002)).unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir.join("home/mallory")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir.join("linkdir")).unwrap();
        std::fs::write(dir.join("home/file"), "").unwrap();
        std::fs::write(dir.join("plainfile"), "").unwrap();
        let user_owned = dir.join("userowned");
        std::fs::create_dir(&user_owned).unwrap();
        std::os::unix::fs::chown(&user_owned, Some(10002), Some(10002)).unwrap();
        let open = dir.join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let group_writable = dir.join("groupw");
        std::fs::create_dir(&group_writable).unwrap();
        std::fs::set_permissions(&group_writable, std::fs::Permissions::from_mode(0o775)).unwrap();
        for (home, reason) in [
            // A link to a directory the user even owns: never followed.
            ("home/mallory", "it exists and is a symbolic link"),
            ("home/file", "it exists and is not a directory"),
            ("linkdir/bob", "its parent /linkdir is a symbolic link"),
            ("plainfile/bob", "its parent /plainfile is not a directory"),
            ("missing/bob", "its parent /missing does not exist"),
            (
                "userowned/bob",
                "its parent /userowned belongs to uid 10002, not root",
            ),
            (
                "open/bob",
                "its parent /open is writable by others (mode 0777)",
            ),
            (
                "groupw/bob",
                "its parent /groupw is writable by others (mode 0775)",
            ),
        ] {
            assert_eq!(refusal(&dir, home), reason, "{home}");
        }
        for made in ["elsewhere/bob", "open/bob", "groupw/bob", "userowned/bob"] {
            assert!(!dir.join(made).exists(), "{made} was made");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
