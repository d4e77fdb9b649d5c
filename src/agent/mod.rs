//! The host agent: its own process (`roster sync`, `roster agent`, and the
//! commands an operator runs on a host). It fetches and verifies the
//! published snapshot, installs it for the modules, renders sudo rules,
//! and ends the sessions the snapshot no longer admits. The modules never
//! call into this room; its network parts are built only with the `agent`
//! feature, which the modules' crates leave off.

pub mod config;
#[cfg(feature = "agent")]
pub mod fetch;
#[cfg(feature = "agent")]
pub mod offboard;
pub mod sudoers;
#[cfg(feature = "agent")]
pub mod sync;
