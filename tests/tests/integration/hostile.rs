//! Hostile inputs, one class per test: what a hostile user or a web page visited by the user
//! would try. Each test drives the real binaries or the library with inputs of its own (paths
//! with `..`, FIFOs and devices, `i64::MAX`, multi-byte text, redirects, planted files) and
//! asserts that no secret leaves for an address the configuration did not name, nothing hangs,
//! nothing panics, and nothing stored is lost or clobbered.

mod cli;
mod files;
mod ingest;
mod leases;
mod settings;
mod vault;
mod viewer;
