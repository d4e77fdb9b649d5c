//! `pam_roster.so` — the PAM side of roster.
//!
//! Skeleton until the certificate-login issue: it builds, loads, and answers
//! every phase with `PAM_IGNORE`, so a stack that lists it behaves as if it
//! were absent. The account and session phases land with the certificate
//! policy in the core.

use pam::constants::{PamFlag, PamResultCode};
use pam::module::{PamHandle, PamHooks};
use std::ffi::CStr;

struct Roster;

// `pam_hooks!` wraps every hook in catch_unwind (with `panic = "unwind"`,
// which every profile of the workspace sets).
pam::pam_hooks!(Roster);

impl PamHooks for Roster {
    fn acct_mgmt(_pamh: &mut PamHandle, _args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        PamResultCode::PAM_IGNORE
    }
}
