//! sftpbox: an SSH/SFTP server in which every account lives in its own box.
//!
//! Three layers; dependencies point down (the checked graph is in
//! docs/ARCHITECTURE.md, and `tests/architecture.rs` holds the code to it):
//! - the edge: `main` → `cli` (argv, exit codes, signals) → `server` (accept
//!   loop, caps, the russh configuration, shutdown) → `connection` (the russh
//!   handler: auth, the channel table, routing a channel to a service);
//! - the services: `service` (what a logged-in account can do, built once
//!   per connection) over `sftp` (SFTP v3 over a byte stream), `exec`
//!   (commands, built-ins, the shell, the sandbox) and `scp` (legacy scp),
//!   with `listing` (how files are shown to people) and `builtin_names`
//!   (the one table of commands served in-process, which accounts.toml's
//!   check reads too) and `checksum` (the hash algorithms of check-file
//!   and the sum commands), `transfer` (the one set of counters of
//!   bytes moved, per file and per connection), `budget` (what one
//!   account may hold of the process: blocking-pool slots and open handles)
//!   and `rate` (the per-account token buckets of `upload_rate` and
//!   `download_rate`, shared by all the account's sessions);
//! - the box: `jail`, the only door to the disk.
//!
//! `accounts` (accounts.toml, passwords), `config` (sftpbox.toml),
//! `host_keys` and `penalties` (per-source penalties) are read by the edge;
//! so are `control` (the control socket's protocol, for `sessions`, `kick`
//! and `reload`) and `metrics` (Prometheus text at `/metrics`);
//! `diagnostics` turns TOML spans into `file:line:column` problems for both
//! loaders. `admin` is `sftpbox account`: accounts.toml listed and
//! changed in place, validated by the loader before it is written.
//! `cluster` makes the server a node of a cluster (accounts, namespace and
//! quota in PostgreSQL, contents in S3: the jail's object box), for `cli`.
//! Only what `main`, the tests and the benches use is public: `cli`,
//! `server`, `accounts`, `config`, `host_keys`, and (hidden from the docs)
//! `fuzzing`, the byte-taking entry points into the parsers that the fuzz
//! targets in `fuzz/` and the corpus replay in `tests/fuzz_corpus.rs` call;
//! the server itself never calls it.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod accounts;
mod admin;
mod budget;
mod builtin_names;
mod checksum;
pub mod cli;
mod cluster;
pub mod config;
mod connection;
mod control;
mod diagnostics;
mod exec;
#[doc(hidden)]
pub mod fuzzing;
pub mod host_keys;
mod jail;
mod listing;
mod metrics;
mod penalties;
mod rate;
mod scp;
pub mod server;
mod service;
mod sftp;
mod transfer;
