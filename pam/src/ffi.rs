//! The PAM calls pam-bindings does not wrap (`pam_getenv`, `pam_putenv`,
//! `pam_syslog`), and the adapter from a PAM handle to `roster::host::login::Pam`.
//! Every `unsafe` block of the PAM module is in this file.

use libc::{c_char, c_int};
use pam::items::{RHost, Service};
use pam::module::PamHandle;
use roster::host::login::{Pam, Priority};
use std::ffi::{CStr, CString};

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_getenv(pamh: *mut PamHandle, name: *const c_char) -> *const c_char;
    fn pam_putenv(pamh: *mut PamHandle, name_value: *const c_char) -> c_int;
    fn pam_syslog(pamh: *const PamHandle, priority: c_int, fmt: *const c_char, ...);
}

/// The pam_set_data name of the session record open_session keeps for
/// close_session.
const SESSION_DATA: &str = "roster.session_record";

/// A PAM handle for the duration of one hook call.
pub(crate) struct Handle<'a> {
    pamh: &'a mut PamHandle,
}

impl<'a> Handle<'a> {
    pub(crate) fn new(pamh: &'a mut PamHandle) -> Handle<'a> {
        Handle { pamh }
    }

    fn raw(&self) -> *mut PamHandle {
        std::ptr::from_ref::<PamHandle>(self.pamh).cast_mut()
    }
}

/// A C string without interior NULs (they are dropped).
fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

impl Pam for Handle<'_> {
    fn user(&mut self) -> Option<String> {
        // PAM_USER as sshd/sudo set it; roster never changes it.
        self.pamh.get_user(None).ok()
    }

    fn service(&self) -> Option<String> {
        let item = self.pamh.get_item::<Service>().ok()??;
        item.0.to_str().ok().map(str::to_owned)
    }

    fn remote_host(&self) -> Option<String> {
        let item = self.pamh.get_item::<RHost>().ok()??;
        item.0.to_str().ok().map(str::to_owned)
    }

    fn audit_session(&self) -> Option<u32> {
        roster::host::process::session_of("self")
    }

    fn process_groups(&self) -> Vec<u32> {
        roster::host::process::groups_of("self")
    }

    fn keep(&mut self, value: String) -> bool {
        self.pamh.set_data(SESSION_DATA, Box::new(value)).is_ok()
    }

    fn kept(&self) -> Option<String> {
        // SAFETY: only this module stores data under SESSION_DATA (a name no
        // other module uses), always a `String` through `keep`, so the type
        // read back is the type stored; the reference is cloned at once,
        // before the handle can change.
        let value = unsafe { self.pamh.get_data::<String>(SESSION_DATA) };
        value.ok().cloned()
    }

    fn getenv(&self, name: &str) -> Option<String> {
        let name = c_string(name);
        // SAFETY: a valid handle for this call and a NUL-terminated name;
        // PAM returns NULL or a string it owns, valid until the environment
        // changes, which we copy at once.
        let value = unsafe { pam_getenv(self.raw(), name.as_ptr()) };
        if value.is_null() {
            return None;
        }
        // SAFETY: non-NULL, NUL-terminated (PAM's contract).
        let value = unsafe { CStr::from_ptr(value) };
        value.to_str().ok().map(str::to_owned)
    }

    fn putenv(&mut self, name: &str, value: &str) -> bool {
        let pair = c_string(&format!("{name}={value}"));
        // SAFETY: a valid handle and a NUL-terminated NAME=value; PAM copies it.
        unsafe { pam_putenv(self.raw(), pair.as_ptr()) == 0 }
    }

    fn log(&self, priority: Priority, line: &str) {
        let level = match priority {
            Priority::Err => libc::LOG_ERR,
            Priority::Notice => libc::LOG_NOTICE,
            Priority::Info => libc::LOG_INFO,
            Priority::Debug => libc::LOG_DEBUG,
        };
        let line = c_string(line);
        // SAFETY: a valid handle; a constant "%s" format with one
        // NUL-terminated string argument, so the line is never a format.
        unsafe { pam_syslog(self.raw(), level, c"%s".as_ptr(), line.as_ptr()) };
    }
}
