//! Authentication decisions, asked of [`Accounts`]: password checks run off the
//! connection's event loop, and an unknown account costs the same as a wrong
//! password.

use std::sync::Arc;

use russh::keys::{Algorithm, PublicKey};

use crate::accounts::{self, Accounts};

/// Verifications running or about to run; the rest wait here, holding
/// nothing but their connection (whose number `max_startups` bounds).
static VERIFY_SLOTS: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(accounts::MAX_CONCURRENT_VERIFIES);

/// Checks `password` for `user`. An unknown, disabled or password-less account
/// still pays for one hash verification, so timing does not tell them apart.
/// At most [`accounts::MAX_CONCURRENT_VERIFIES`] run at once; the last one of
/// a burst gives the hashing memory back.
pub async fn verify_password(accounts: Arc<Accounts>, user: &str, password: &str) -> bool {
    let Ok(slot) = VERIFY_SLOTS.acquire().await else {
        return false;
    };
    let user = user.to_owned();
    let password = accounts::Secret::new(password.to_owned());
    let verified = tokio::task::spawn_blocking(move || match accounts.get(&user) {
        Some(account) if !account.disabled && account.password.is_some() => {
            account.verify_password(password.expose())
        }
        _ => {
            accounts::verify_dummy_password(password.expose());
            false
        }
    })
    .await
    .unwrap_or(false);
    // Ours is the only slot taken: no verification is running or waiting.
    if VERIFY_SLOTS.available_permits() + 1 == accounts::MAX_CONCURRENT_VERIFIES {
        tokio::task::spawn_blocking(accounts::release_verify_memory);
    }
    drop(slot);
    verified
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
