//! The C side: glibc's `_nss_roster_*` entry points and the file mapping.
//! Every `unsafe` block of the NSS module is in this file.
//!
//! Each entry point converts its C arguments, runs the safe logic inside
//! `answer` (which catches panics and maps the outcome through
//! `crate::status`), and writes pointers into the caller's structs.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;

use libc::{c_char, c_int, c_long, gid_t, size_t, uid_t};
use libnss::group::CGroup;
use libnss::passwd::CPasswd;
use roster::host::store::Mapping;

use crate::{Cursor, GROUP_CURSOR, Outcome, USER_CURSOR, found, lookup, pack};

/// A read-only private mapping of the snapshot file.
pub(crate) struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is read-only and never changes address while it lives;
// sharing `&[u8]` views of it between threads is sound.
unsafe impl Send for Mmap {}
// SAFETY: as above: no interior mutability.
unsafe impl Sync for Mmap {}

impl Mapping for Mmap {
    fn map(file: &File, len: usize) -> io::Result<Mmap> {
        // SAFETY: a fresh mapping chosen by the kernel (addr NULL), of a file
        // descriptor we own, for `len` bytes (> 0: the store refuses files
        // shorter than a header). The fd may be closed afterwards.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap NULL"))?;
        Ok(Mmap { ptr, len })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` is a live PROT_READ mapping of `len` bytes, unmapped
        // only in Drop, so the slice cannot outlive it. The agent replaces the
        // file by rename, never in place, so the bytes do not change.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping created in `map`; no slice of it
        // survives (they borrow `self`).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Runs `f`, catching any panic, and returns the NSS status for C, setting
/// `*errnop` as glibc expects.
fn answer(errnop: *mut c_int, f: impl FnOnce() -> Result<(), Outcome>) -> c_int {
    let outcome = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => Outcome::Found,
        Ok(Err(outcome)) => outcome,
        Err(payload) => {
            // Dropping a panic payload can itself panic; never let it unwind.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            Outcome::Panicked
        }
    };
    let (status, errno) = crate::status(outcome);
    if let Some(errno) = errno
        && !errnop.is_null()
    {
        // SAFETY: glibc passes a valid pointer to the calling thread's
        // errno (checked non-NULL above).
        unsafe { *errnop = errno };
    }
    status as c_int
}

/// The caller's buffer as a slice.
///
/// # Safety
/// `buf` must point to `len` writable bytes that nothing else accesses during
/// the call (glibc's contract for the `_r` functions), or be NULL.
unsafe fn caller_buffer<'a>(buf: *mut c_char, len: size_t) -> &'a mut [u8] {
    if buf.is_null() {
        return &mut [];
    }
    // SAFETY: per this function's contract.
    unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), len) }
}

/// A C string argument as bytes (without the NUL); empty for NULL.
///
/// # Safety
/// `s` must be NULL or point to a NUL-terminated string that outlives the call.
unsafe fn c_bytes<'a>(s: *const c_char) -> &'a [u8] {
    if s.is_null() {
        return b"";
    }
    // SAFETY: per this function's contract.
    unsafe { CStr::from_ptr(s) }.to_bytes()
}

/// Fills `*result` with pointers into `buf` at the offsets `pack` chose.
///
/// # Safety
/// `result` must be valid for writes; `buf` must be the buffer `f` was
/// packed into.
unsafe fn set_passwd(result: *mut CPasswd, buf: *mut c_char, f: &pack::PasswdFields) {
    if result.is_null() {
        return;
    }
    // SAFETY: the offsets lie inside the caller's buffer (pack checked them
    // against its length); `result` is valid per this function's contract.
    unsafe {
        *result = CPasswd {
            name: buf.add(f.name),
            passwd: buf.add(f.passwd),
            uid: f.uid,
            gid: f.gid,
            gecos: buf.add(f.gecos),
            dir: buf.add(f.dir),
            shell: buf.add(f.shell),
        };
    }
}

/// Like [`set_passwd`], for `struct group`.
///
/// # Safety
/// As for [`set_passwd`].
unsafe fn set_group(result: *mut CGroup, buf: *mut c_char, f: &pack::GroupFields) {
    if result.is_null() {
        return;
    }
    // SAFETY: as in set_passwd; the member array at `f.members` is
    // pointer-aligned and NULL-terminated (pack wrote it).
    unsafe {
        *result = CGroup {
            name: buf.add(f.name),
            passwd: buf.add(f.passwd),
            gid: f.gid,
            members: buf.add(f.members).cast::<*mut c_char>(),
        };
    }
}

// ---- passwd ---------------------------------------------------------------

#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_roster_getpwnam_r(
    name: *const c_char,
    result: *mut CPasswd,
    buf: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> c_int {
    // SAFETY: glibc passes a NUL-terminated name and a buffer of `buflen`
    // bytes that is ours for the duration of the call.
    let (name, out) = unsafe { (c_bytes(name), caller_buffer(buf, buflen)) };
    answer(errnop, || {
        crate::maybe_test_panic(name);
        let f = lookup(|v| Ok(pack::passwd(&found(v.user_by_name(name))?, out)?))?;
        // SAFETY: `result` is glibc's struct; `f` was packed into `buf`.
        unsafe { set_passwd(result, buf, &f) };
        Ok(())
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_roster_getpwuid_r(
    uid: uid_t,
    result: *mut CPasswd,
    buf: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> c_int {
    // SAFETY: as in getpwnam_r.
    let out = unsafe { caller_buffer(buf, buflen) };
    answer(errnop, || {
        let f = lookup(|v| Ok(pack::passwd(&found(v.user_by_uid(uid))?, out)?))?;
        // SAFETY: as in getpwnam_r.
        unsafe { set_passwd(result, buf, &f) };
        Ok(())
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn _nss_roster_setpwent(_stayopen: c_int) -> c_int {
    let mut errno = 0;
    answer(&mut errno, || match Cursor::rewind(&USER_CURSOR) {
        Outcome::Found => Ok(()),
        other => Err(other),
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn _nss_roster_endpwent() -> c_int {
    let mut errno = 0;
    answer(&mut errno, || {
        Cursor::close(&USER_CURSOR);
        Ok(())
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_roster_getpwent_r(
    result: *mut CPasswd,
    buf: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> c_int {
    // SAFETY: as in getpwnam_r.
    let out = unsafe { caller_buffer(buf, buflen) };
    answer(errnop, || {
        let f = Cursor::next(&USER_CURSOR, |v, pos| {
            let (u, next) = found(v.user_at(pos))?;
            Ok((pack::passwd(&u, out)?, next))
        })?;
        // SAFETY: as in getpwnam_r.
        unsafe { set_passwd(result, buf, &f) };
        Ok(())
    })
}

// ---- group ----------------------------------------------------------------

#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_roster_getgrnam_r(
    name: *const c_char,
    result: *mut CGroup,
    buf: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> c_int {
    // SAFETY: as in getpwnam_r.
    let (name, out) = unsafe { (c_bytes(name), caller_buffer(buf, buflen)) };
    answer(errnop, || {
        let f = lookup(|v| Ok(pack::group(&found(v.group_by_name(name))?, out)?))?;
        // SAFETY: `result` is glibc's struct; `f` was packed into `buf`.
        unsafe { set_group(result, buf, &f) };
        Ok(())
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_roster_getgrgid_r(
    gid: gid_t,
    result: *mut CGroup,
    buf: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> c_int {
    // SAFETY: as in getpwnam_r.
    let out = unsafe { caller_buffer(buf, buflen) };
    answer(errnop, || {
        let f = lookup(|v| Ok(pack::group(&found(v.group_by_gid(gid))?, out)?))?;
        // SAFETY: as in getgrnam_r.
        unsafe { set_group(result, buf, &f) };
        Ok(())
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn _nss_roster_setgrent(_stayopen: c_int) -> c_int {
    let mut errno = 0;
    answer(&mut errno, || match Cursor::rewind(&GROUP_CURSOR) {
        Outcome::Found => Ok(()),
        other => Err(other),
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn _nss_roster_endgrent() -> c_int {
    let mut errno = 0;
    answer(&mut errno, || {
        Cursor::close(&GROUP_CURSOR);
        Ok(())
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_roster_getgrent_r(
    result: *mut CGroup,
    buf: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> c_int {
    // SAFETY: as in getpwnam_r.
    let out = unsafe { caller_buffer(buf, buflen) };
    answer(errnop, || {
        let f = Cursor::next(&GROUP_CURSOR, |v, pos| {
            let (g, next) = found(v.group_at(pos))?;
            Ok((pack::group(&g, out)?, next))
        })?;
        // SAFETY: as in getgrnam_r.
        unsafe { set_group(result, buf, &f) };
        Ok(())
    })
}

// ---- initgroups -----------------------------------------------------------

/// Appends `user`'s snapshot groups to glibc's growing array `*groupsp`
/// (`*start` used of `*size` allocated, at most `limit` if positive),
/// skipping `skip_gid` (the primary group) and gids already present.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_roster_initgroups_dyn(
    user: *const c_char,
    skip_gid: gid_t,
    start: *mut c_long,
    size: *mut c_long,
    groupsp: *mut *mut gid_t,
    limit: c_long,
    errnop: *mut c_int,
) -> c_int {
    if start.is_null() || size.is_null() || groupsp.is_null() {
        return answer(errnop, || Err(Outcome::NotFound));
    }
    // SAFETY: glibc passes a NUL-terminated user name.
    let name = unsafe { c_bytes(user) };
    answer(errnop, || {
        lookup(|v| {
            for gid in found(v.groups_of(name, skip_gid))? {
                // SAFETY: glibc's array holds `*size` gids, `*start` of them in
                // use; `add_group` keeps that invariant.
                if !unsafe { add_group(gid, skip_gid, start, size, groupsp, limit) }? {
                    break;
                }
            }
            Ok(())
        })
    })
}

/// Adds one gid; `Ok(false)` when `limit` is reached.
///
/// # Safety
/// `*groupsp` must be a malloc'ed array of `*size` gids with `*start` in use.
unsafe fn add_group(
    gid: gid_t,
    skip_gid: gid_t,
    start: *mut c_long,
    size: *mut c_long,
    groupsp: *mut *mut gid_t,
    limit: c_long,
) -> Result<bool, Outcome> {
    // SAFETY: per this function's contract; glibc keeps 0 <= start <= size.
    let (used, cap, groups) = unsafe { (*start as usize, *size as usize, *groupsp) };
    if limit > 0 && used >= limit as usize {
        return Ok(false);
    }
    // SAFETY: the first `used` entries are initialised gids.
    let present =
        !groups.is_null() && unsafe { std::slice::from_raw_parts(groups, used) }.contains(&gid);
    if gid == skip_gid || present {
        return Ok(true);
    }
    let groups = if used < cap && !groups.is_null() {
        groups
    } else {
        let mut new_cap = (cap.max(1)).saturating_mul(2);
        if limit > 0 {
            new_cap = new_cap.min(limit as usize);
        }
        let bytes = new_cap
            .checked_mul(size_of::<gid_t>())
            .ok_or(Outcome::OutOfMemory)?;
        // SAFETY: `groups` is NULL or glibc's malloc'ed array; on failure the
        // old array stays valid and owned by glibc.
        let grown = unsafe { libc::realloc(groups.cast(), bytes) }.cast::<gid_t>();
        if grown.is_null() {
            return Err(Outcome::OutOfMemory);
        }
        // SAFETY: valid out-pointers per this function's contract.
        unsafe {
            *groupsp = grown;
            *size = new_cap as c_long;
        }
        grown
    };
    // SAFETY: `used < new capacity`, so the slot is inside the array.
    unsafe {
        *groups.add(used) = gid;
        *start = (used + 1) as c_long;
    }
    Ok(true)
}
