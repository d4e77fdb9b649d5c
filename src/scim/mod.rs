//! The SCIM 2.0 service: identity providers (Okta, Entra ID) provision
//! people into it (RFC 7643, RFC 7644), it keeps them in SQLite and
//! publishes the signed snapshot each project's hosts pull. Its own binary,
//! `roster-scim` (docs/scim.md); nothing here is linked into the agent or
//! the modules.
//!
//! The rooms: [`config`] (scim.toml), [`http`] (routes, tokens, limits),
//! [`directory`] (the SCIM resources and their rules), [`filter`] and
//! [`patch`] (the protocol's two small languages), [`schema`] and
//! [`discovery`] (what the service implements, and says it does), [`store`]
//! (SQLite), [`project`] (IdP groups → each project's snapshot), [`publish`]
//! (signed files, coalesced, with a heartbeat), [`metrics`].

#[cfg(feature = "scim")]
pub mod config;
#[cfg(feature = "scim")]
pub mod directory;
pub mod discovery;
pub mod error;
pub mod filter;
#[cfg(feature = "scim")]
pub mod http;
#[cfg(feature = "scim")]
pub mod metrics;
pub mod patch;
#[cfg(feature = "scim")]
pub mod project;
#[cfg(feature = "scim")]
pub mod publish;
pub mod schema;
#[cfg(feature = "scim")]
pub mod store;

#[cfg(feature = "scim")]
mod service;
#[cfg(feature = "scim")]
pub(crate) use service::now;
#[cfg(feature = "scim")]
pub use service::{hash_token, main};
