//! Integration tests: the `closeout` binary against graph-sim over loopback HTTP.
//! One test binary; each scenario lives in its own module.

mod common;
mod scenarios;
