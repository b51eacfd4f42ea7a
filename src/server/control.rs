//! The control socket's answers: the sessions table, kicking sessions
//! (by id or account) and reloading the accounts, for `sftpbox sessions`,
//! `kick`, `reload` and `account`.

use std::sync::Arc;

use tracing::info;

use super::Server;
use crate::control::{self, Request, Response};

impl Server {
    /// Answers control-socket requests on `listener` for as long as the
    /// returned task runs.
    pub fn serve_control(&self, listener: tokio::net::UnixListener) -> tokio::task::JoinHandle<()> {
        tokio::spawn(control::serve(listener, Arc::new(self.clone())))
    }
}

impl control::Handler for Server {
    fn handle(&self, request: Request) -> Response {
        match request {
            Request::Sessions => Response::Sessions {
                sessions: self.inner.sessions.list(),
            },
            Request::Kick { id, account } => {
                let ids = self.inner.sessions.kick(|session, name| {
                    id.is_none_or(|wanted| wanted == session)
                        && account.as_deref().is_none_or(|wanted| wanted == name)
                        && (id.is_some() || account.is_some())
                });
                if ids.is_empty() {
                    let message = match (id, account) {
                        (Some(id), _) => format!("no session {id}"),
                        (None, Some(account)) => format!("no session of account {account}"),
                        (None, None) => "say which session: an id or --account NAME".to_owned(),
                    };
                    return Response::Error { message };
                }
                info!(sessions = ?ids, "sessions kicked");
                Response::Kicked { ids }
            }
            Request::Reload => match self.reload_accounts() {
                Ok(accounts) => Response::Reloaded { accounts },
                Err(message) => Response::Error { message },
            },
        }
    }
}
