//! Who is signed in, and the refresh tick every panel reloads on.
//!
//! The server decides whether the page's token is accepted before it
//! renders ([`InitialSession`]); the browser starts from the same answer,
//! so the page it hydrates is the page the server rendered.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::api::FetchError;
use crate::auth;

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

/// The sign-in form's notice after a 401, from the API or the server's check.
pub const UNAUTHORIZED_NOTICE: &str =
    "The token is missing, expired or not accepted (401). Sign in again.";
/// The sign-in form's notice after a 403.
pub const FORBIDDEN_NOTICE: &str =
    "This account is not an admin (403): the token is valid, but only admins may see the runtime.";

/// How the server found the page's request, handed to the browser inside
/// the page (the token itself is not: the browser has its cookie).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct InitialSession {
    /// The request carried an admin token the API accepts.
    pub signed_in: bool,
    /// Why the sign-in form is shown instead (a rejected token).
    pub notice: Option<String>,
    /// When the server rendered the page's data (ms since the epoch).
    pub rendered_at_ms: f64,
}

impl Session {
    pub fn new() -> Self {
        let initial =
            SharedValue::new(|| use_context::<InitialSession>().unwrap_or_default()).into_inner();
        let token = initial.signed_in.then(auth::stored_token).flatten();
        Session {
            last_updated: RwSignal::new(token.as_ref().map(|_| initial.rendered_at_ms)),
            token: RwSignal::new(token),
            notice: RwSignal::new(initial.notice),
            tick: RwSignal::new(0),
        }
    }

    /// Signs in with a `#token=` fragment, which only the browser sees:
    /// after hydration, so the page hydrated is the one rendered.
    pub fn take_fragment_token(&self) {
        if let Some(token) = auth::take_fragment_token() {
            self.sign_in(token);
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

    #[cfg(target_arch = "wasm32")]
    pub fn mark_updated(&self) {
        self.last_updated.set(Some(crate::time::now_ms()));
    }

    /// Sends a 401 back to sign-in and a 403 to sign-in with an explanation.
    /// Returns the message a panel shows for any other error.
    pub fn handle_error(&self, error: &FetchError) -> Option<String> {
        match error {
            FetchError::Unauthorized => {
                self.sign_out(Some(UNAUTHORIZED_NOTICE.into()));
                None
            }
            FetchError::Forbidden => {
                self.sign_out(Some(FORBIDDEN_NOTICE.into()));
                None
            }
            other => Some(other.to_string()),
        }
    }
}

pub fn use_session() -> Session {
    expect_context::<Session>()
}
