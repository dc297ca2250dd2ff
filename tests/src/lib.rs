//! Doorstep's end-to-end suite: the field simulator (real app engines against real server
//! processes), server process control, a fault-injecting TCP proxy, and the benchmarks.

pub mod admin;
pub mod field;
pub mod proxy;
pub mod server;
pub mod upgrade;
