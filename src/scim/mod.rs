//! The SCIM 2.0 service: identity providers (Okta, Entra ID) provision
//! people into it (RFC 7643, RFC 7644), it keeps them in SQLite and
//! publishes the signed snapshot each project's hosts pull. Its own binary,
//! `roster-scim`; nothing here is linked into the agent or the modules.

pub mod error;
pub mod filter;
pub mod schema;

use std::ffi::OsString;
use std::process::ExitCode;

/// `roster-scim ARGS`.
pub fn main(args: impl Iterator<Item = OsString>) -> ExitCode {
    let _ = args;
    ExitCode::SUCCESS
}
