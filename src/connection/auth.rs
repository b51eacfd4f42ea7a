//! Authentication decisions, asked of [`Accounts`]: password checks run off the
//! connection's event loop, and an unknown account costs the same as a wrong
//! password.

use std::sync::Arc;

use russh::keys::{Algorithm, PublicKey};

use crate::accounts::{self, Accounts};

/// Checks `password` for `user`. An unknown, disabled or password-less account
/// still pays for one hash verification, so timing does not tell them apart.
pub async fn verify_password(accounts: Arc<Accounts>, user: &str, password: &str) -> bool {
    let user = user.to_owned();
    let password = accounts::Secret::new(password.to_owned());
    tokio::task::spawn_blocking(move || match accounts.get(&user) {
        Some(account) if !account.disabled && account.password.is_some() => {
            account.verify_password(password.expose())
        }
        _ => {
            accounts::verify_dummy_password(password.expose());
            false
        }
    })
    .await
    .unwrap_or(false)
}

/// Whether `user` may log in with `key` signed by `algorithm`. SHA-1 RSA
/// signatures (`ssh-rsa`) are refused.
pub fn key_is_allowed(
    accounts: &Accounts,
    user: &str,
    key: &PublicKey,
    algorithm: &Algorithm,
) -> bool {
    if *algorithm == (Algorithm::Rsa { hash: None }) {
        return false;
    }
    match accounts.get(user) {
        Some(account) => !account.disabled && account.accepts_key(key),
        None => false,
    }
}
