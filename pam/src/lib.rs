//! `pam_roster.so` — the PAM side of roster.
//!
//! Every decision is `roster::host::login`'s; this crate adapts the PAM handle to
//! its `Pam` trait (in `ffi.rs`, with all the unsafe code) and maps the
//! verdict to a PAM return code in one place.
//!
//! pam.d options: `debug`, `mkhomedir=no` (see pam_roster(8)).

mod ffi;

use pam::constants::{PamFlag, PamResultCode};
use pam::module::{PamHandle, PamHooks};
use roster::host::login::{self, Login, Options, Paths, Priority, Verdict};
use std::ffi::CStr;

struct Roster;

// `pam_hooks!` wraps every hook in catch_unwind (PAM_ABORT on a panic) —
// with `panic = "unwind"`, which every profile of the workspace sets.
pam::pam_hooks!(Roster);

impl PamHooks for Roster {
    fn acct_mgmt(pamh: &mut PamHandle, args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        run(pamh, &args, login::account)
    }

    fn sm_open_session(pamh: &mut PamHandle, args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        run(pamh, &args, login::open_session)
    }

    fn sm_close_session(pamh: &mut PamHandle, args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        run(pamh, &args, login::close_session)
    }
}

fn run(
    pamh: &mut PamHandle,
    args: &[&CStr],
    phase: fn(&mut Login<'_>) -> Verdict,
) -> PamResultCode {
    let mut handle = ffi::Handle::new(pamh);
    let args: Vec<&str> = args.iter().filter_map(|a| a.to_str().ok()).collect();
    let (options, unknown) = Options::parse(args);
    for arg in unknown {
        login::Pam::log(
            &handle,
            Priority::Err,
            &format!("ignoring unknown option {arg:?}"),
        );
    }
    let paths = Paths::default();
    let mut login = Login {
        pam: &mut handle,
        options: &options,
        paths: &paths,
        now: now(),
    };
    code(phase(&mut login))
}

/// The one place a verdict becomes a PAM return code.
fn code(verdict: Verdict) -> PamResultCode {
    match verdict {
        Verdict::Success => PamResultCode::PAM_SUCCESS,
        Verdict::Ignore => PamResultCode::PAM_IGNORE,
        Verdict::UserUnknown => PamResultCode::PAM_USER_UNKNOWN,
        Verdict::Denied => PamResultCode::PAM_PERM_DENIED,
        Verdict::SessionError => PamResultCode::PAM_SESSION_ERR,
        Verdict::ServiceError => PamResultCode::PAM_SERVICE_ERR,
    }
}

fn now() -> roster::time::UnixTime {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as roster::time::UnixTime)
}
