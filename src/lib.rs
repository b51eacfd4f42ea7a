//! sftpbox: an SSH/SFTP server in which every account lives in its own box.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod accounts;
pub mod cli;
pub mod config;
mod connection;
mod exec;
pub mod host_keys;
mod jail;
mod listing;
mod scp;
pub mod server;
mod service;
mod sftp;
