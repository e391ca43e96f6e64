//! The dashboard's pages and the paths they live at: the shell
//! (`components::app`) routes these paths with `<FlatRoutes>`; links are
//! built from [`Page`] (`view_state::UrlView::href`).
//!
//! Every page shares the URL query (the view state, `view_state`), so
//! moving between pages keeps the time range and the filters.

use uuid::Uuid;

/// Where the admin server serves the dashboard (`admin_server::ui::UI_BASE`),
/// and the router's base. The server answers every path under it with the
/// page, so each is deep-linkable.
pub const BASE: &str = "/admin/ai/runtime";

/// A page of the dashboard. A path under [`BASE`] that is none of these
/// shows "no such page".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// Health, queue, trends, events and tasks at [`BASE`].
    Overview,
    /// One task's whole story at `{BASE}/tasks/{id}`.
    Task(Uuid),
}

impl Page {
    /// The absolute path of the page (no query).
    pub fn path(self) -> String {
        match self {
            Page::Overview => BASE.to_owned(),
            Page::Task(id) => format!("{BASE}/tasks/{id}"),
        }
    }
}
