//! sftpbox: an SSH/SFTP server in which every account lives in its own box.
//!
//! Dependencies point one way: `server → connection → {sftp, exec, scp} → jail`,
//! plus `connection → accounts` and `server → {config, host_keys}`.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod accounts;
mod builtin_names;
pub mod cli;
pub mod config;
pub mod connection;
pub mod exec;
pub mod host_keys;
pub mod jail;
mod listing;
pub mod scp;
pub mod server;
pub mod sftp;
