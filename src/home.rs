//! Creating a user's home directory from inside sshd (PAM session), safely:
//! every step is relative to an open directory, nothing follows a symlink,
//! every parent must be root-owned and not group/world-writable, and the
//! owner and mode are set on the new directory's descriptor. An existing
//! home is left exactly as it is.

use rustix::fs::{AtFlags, CWD, Gid, Mode, OFlags, Uid};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path};

/// Deepest directory tree copied from the skeleton.
const MAX_SKEL_DEPTH: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Home {
    Existed,
    Created,
}

/// Creates `home` (absolute) for `uid`/`gid` with mode 0700 and the contents
/// of `skel`, unless it exists.
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
    for c in home.parent().into_iter().flat_map(Path::components) {
        let Component::Normal(part) = c else {
            return Err(invalid("home is not a normalised path"));
        };
        dir = rustix::fs::openat(&dir, part, dir_flags(), Mode::empty())?;
        let st = rustix::fs::fstat(&dir)?;
        if st.st_uid != 0 || st.st_mode & 0o022 != 0 {
            return Err(invalid(
                "a parent of the home directory is not root-owned or is writable by others",
            ));
        }
    }
    match rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o700)) {
        Ok(()) => {}
        Err(rustix::io::Errno::EXIST) => {
            // Exists: make sure it is a directory and not a symlink, then leave it.
            rustix::fs::openat(&dir, name, dir_flags(), Mode::empty())?;
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
            ensure_under(fd, Path::new("home/alice"), 1, 1, Some(&skel)).unwrap(),
            Home::Existed
        );
        assert_eq!(std::fs::metadata(&home).unwrap().uid(), 10001);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn refuses_symlinks_and_unsafe_parents() {
        let (dir, fd) = scratch("unsafe");
        std::fs::create_dir(dir.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(dir.join("elsewhere"), dir.join("home/mallory")).unwrap();
        assert!(ensure_under(fd, Path::new("home/mallory"), 1, 1, None).is_err());
        std::os::unix::fs::symlink(dir.join("elsewhere"), dir.join("linkdir")).unwrap();
        let fd = rustix::fs::openat(CWD, &dir, dir_flags(), Mode::empty()).unwrap();
        assert!(ensure_under(fd, Path::new("linkdir/bob"), 1, 1, None).is_err());
        assert!(!dir.join("elsewhere/bob").exists());
        std::fs::set_permissions(dir.join("home"), std::fs::Permissions::from_mode(0o777)).unwrap();
        let fd = rustix::fs::openat(CWD, &dir, dir_flags(), Mode::empty()).unwrap();
        assert!(ensure_under(fd, Path::new("home/carol"), 1, 1, None).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
