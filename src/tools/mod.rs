//! What operators run off the host: the user CA (`roster ca`), the snapshot
//! from a people file (`roster snapshot build`), and the demo.

pub mod ca;
#[cfg(feature = "agent")]
pub mod demo;
pub mod people;
