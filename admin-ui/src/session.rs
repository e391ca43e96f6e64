//! Who is signed in, and the refresh tick every panel reloads on.

use leptos::prelude::*;

use crate::api::FetchError;
use crate::auth;
use crate::time;

/// Shared by every component through the context.
#[derive(Clone, Copy)]
pub struct Session {
    /// The admin token; `None` shows the sign-in form.
    pub token: RwSignal<Option<String>>,
    /// Why the sign-in form is shown (a rejected token, a non-admin).
    pub notice: RwSignal<Option<String>>,
    /// Bumped by the polling timer and the refresh button.
    pub tick: RwSignal<u64>,
    /// When a panel last got fresh data (ms since the epoch).
    pub last_updated: RwSignal<Option<f64>>,
}

impl Session {
    pub fn new() -> Self {
        Session {
            token: RwSignal::new(auth::initial_token()),
            notice: RwSignal::new(None),
            tick: RwSignal::new(0),
            last_updated: RwSignal::new(None),
        }
    }

    pub fn sign_in(&self, token: String) {
        auth::store(&token);
        self.notice.set(None);
        self.token.set(Some(token));
    }

    pub fn sign_out(&self, notice: Option<String>) {
        auth::forget();
        self.notice.set(notice);
        self.token.set(None);
    }

    /// Asks every panel to reload now.
    pub fn refresh(&self) {
        self.tick.update(|t| *t += 1);
    }

    pub fn mark_updated(&self) {
        self.last_updated.set(Some(time::now_ms()));
    }

    /// Sends a 401 back to sign-in and a 403 to sign-in with an explanation.
    /// Returns the message a panel shows for any other error.
    pub fn handle_error(&self, error: &FetchError) -> Option<String> {
        match error {
            FetchError::Unauthorized => {
                self.sign_out(Some(
                    "The token is missing, expired or not accepted (401). Sign in again.".into(),
                ));
                None
            }
            FetchError::Forbidden => {
                self.sign_out(Some(
                    "This account is not an admin (403): the token is valid, but only admins may see the runtime."
                        .into(),
                ));
                None
            }
            other => Some(other.to_string()),
        }
    }
}

pub fn use_session() -> Session {
    expect_context::<Session>()
}
