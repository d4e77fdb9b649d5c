//! `libnss_roster.so.2` — glibc NSS for roster: passwd, group, initgroups.
//!
//! Answers come from the compiled snapshot only (see `roster::host::store`): no
//! threads, no sockets, no environment, no calls back into NSS. This file
//! holds the safe logic — lookups, cursors, laying out answers in the
//! caller's buffer, and the one mapping from outcomes to NSS status codes;
//! `ffi.rs` holds the exported C functions and every `unsafe` block.

mod ffi;
mod pack;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use libnss::interop::NssStatus;
use roster::host::compiled::{FormatError, View};
use roster::host::store::{Generation, LoadErrorKind, Store, lock_briefly};

use ffi::Mmap;

static STORE: Store<Mmap> = Store::new(roster::paths::SNAPSHOT);

/// What one NSS call came to, before it becomes a status and an errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Found,
    NotFound,
    /// The caller's buffer cannot hold the answer; it will retry with more.
    BufferTooSmall,
    /// No usable snapshot: the file is missing, unsafe or corrupt.
    Unavailable(LoadErrorKind),
    /// A panic was caught at the C boundary.
    Panicked,
    OutOfMemory,
}

/// The one place outcomes become glibc NSS status codes and errno values.
/// Follows glibc's contract: TRYAGAIN with ERANGE only for a short buffer;
/// a missing or broken snapshot is UNAVAIL, so `files` keeps answering.
pub(crate) fn status(outcome: Outcome) -> (NssStatus, Option<i32>) {
    match outcome {
        Outcome::Found => (NssStatus::Success, None),
        Outcome::NotFound => (NssStatus::NotFound, Some(libc::ENOENT)),
        Outcome::BufferTooSmall => (NssStatus::TryAgain, Some(libc::ERANGE)),
        Outcome::Unavailable(LoadErrorKind::Missing) => (NssStatus::Unavail, Some(libc::ENOENT)),
        Outcome::Unavailable(LoadErrorKind::Unusable) | Outcome::Panicked => {
            (NssStatus::Unavail, Some(libc::EIO))
        }
        Outcome::OutOfMemory => (NssStatus::TryAgain, Some(libc::ENOMEM)),
    }
}

fn generation() -> Result<Arc<Generation<Mmap>>, Outcome> {
    STORE.current(Instant::now()).map_err(Outcome::Unavailable)
}

/// Runs one lookup on the current generation.
pub(crate) fn lookup<T>(f: impl FnOnce(View<'_>) -> Result<T, Outcome>) -> Result<T, Outcome> {
    let g = generation()?;
    f(g.view())
}

/// A lookup result as an outcome: a corrupt record counts as a corrupt file.
pub(crate) fn found<E>(r: Result<Option<E>, FormatError>) -> Result<E, Outcome> {
    r.map_err(|_| Outcome::Unavailable(LoadErrorKind::Unusable))?
        .ok_or(Outcome::NotFound)
}

/// Test-only: the integration tests prove that a panic inside a hook is
/// caught at the C boundary by looking up this name in a build with the
/// `test-panic` feature.
pub(crate) fn maybe_test_panic(name: &[u8]) {
    if cfg!(feature = "test-panic") && name == b"roster-test-panic" {
        panic!("roster-test-panic: forced panic (test-panic feature)");
    }
}

/// An enumeration in progress (setpwent … endpwent), pinned to the
/// generation it started on so that it never mixes two snapshots.
pub(crate) struct Cursor {
    generation: Option<Arc<Generation<Mmap>>>,
    pos: usize,
}

pub(crate) static USER_CURSOR: Mutex<Cursor> = Mutex::new(Cursor::new());
pub(crate) static GROUP_CURSOR: Mutex<Cursor> = Mutex::new(Cursor::new());

impl Cursor {
    const fn new() -> Cursor {
        Cursor {
            generation: None,
            pos: 0,
        }
    }

    /// setXXent: start over on the current generation.
    pub(crate) fn rewind(cursor: &Mutex<Cursor>) -> Outcome {
        let Some(mut c) = lock_briefly(cursor) else {
            return Outcome::Unavailable(LoadErrorKind::Unusable);
        };
        c.pos = 0;
        match generation() {
            Ok(g) => {
                c.generation = Some(g);
                Outcome::Found
            }
            Err(outcome) => {
                c.generation = None;
                outcome
            }
        }
    }

    /// endXXent: let go of the pinned generation.
    pub(crate) fn close(cursor: &Mutex<Cursor>) {
        if let Some(mut c) = lock_briefly(cursor) {
            *c = Cursor::new();
        }
    }

    /// getXXent_r: `step` reads the entry at the position it is given and
    /// returns its answer and the next position. The cursor advances only if
    /// the answer fit in the caller's buffer: glibc retries the same entry
    /// after ERANGE with a larger one.
    pub(crate) fn next<T>(
        cursor: &Mutex<Cursor>,
        step: impl FnOnce(View<'_>, usize) -> Result<(T, usize), Outcome>,
    ) -> Result<T, Outcome> {
        let Some(mut c) = lock_briefly(cursor) else {
            return Err(Outcome::Unavailable(LoadErrorKind::Unusable));
        };
        let g = match &c.generation {
            Some(g) => Arc::clone(g),
            None => {
                let g = generation()?;
                c.generation = Some(Arc::clone(&g));
                c.pos = 0;
                g
            }
        };
        let (answer, next) = step(g.view(), c.pos)?;
        c.pos = next;
        Ok(answer)
    }
}
