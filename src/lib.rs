//! sftpbox: an SSH/SFTP server in which every account lives in its own box.
//!
//! Dependencies point one way: `server → connection → {sftp, exec, scp} → jail`,
//! plus `connection → accounts`, `server → {config, host_keys}` and
//! `{config, accounts} → diagnostics`.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod accounts;
pub mod cli;
pub mod config;
pub mod connection;
pub mod diagnostics;
pub mod exec;
pub mod host_keys;
pub mod jail;
mod listing;
mod penalties;
pub mod scp;
pub mod server;
pub mod sftp;
