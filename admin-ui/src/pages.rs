//! The dashboard's pages and the paths they live at; links are built from
//! [`Page`] (`view_state::UrlView::href`).
//!
//! Every page shares the URL query (the view state, `view_state`), so
//! moving between pages keeps the time range and the filters.

use uuid::Uuid;

/// Where the admin server serves the dashboard (`admin_server::ui::UI_BASE`).
/// The server answers every path under it with the page, so each is
/// deep-linkable.
pub const BASE: &str = "/admin/ai/runtime";

/// A page of the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// Health, queue, trends, events and tasks at [`BASE`].
    Overview,
    /// One task's whole story at `{BASE}/tasks/{id}`.
    Task(Uuid),
    /// A path under [`BASE`] that is no page (a mistyped link).
    NotFound,
}

impl Page {
    /// The absolute path of the page (no query).
    pub fn path(self) -> String {
        match self {
            Page::Overview | Page::NotFound => BASE.to_owned(),
            Page::Task(id) => format!("{BASE}/tasks/{id}"),
        }
    }

    /// The page at `path` (the address bar's).
    pub fn from_path(path: &str) -> Page {
        let rest = path
            .strip_prefix(BASE)
            .unwrap_or(path)
            .trim_end_matches('/');
        if rest.is_empty() {
            return Page::Overview;
        }
        match rest.strip_prefix("/tasks/").map(Uuid::try_parse) {
            Some(Ok(id)) => Page::Task(id),
            _ => Page::NotFound,
        }
    }
}
