//! Shared test support.
pub mod host_device;
