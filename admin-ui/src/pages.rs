//! The dashboard's pages and the paths they live at; links are built from
//! [`Page`] (`view_state::UrlView::href`).
//!
//! Every page shares the URL query (the view state, `view_state`), so
//! moving between pages keeps the time range and the filters.

/// Where the admin server serves the dashboard (`admin_server::ui::UI_BASE`).
/// The server answers every path under it with the page, so each is
/// deep-linkable.
pub const BASE: &str = "/admin/ai/runtime";

/// A page of the dashboard. The next one, a task's own page at
/// `{BASE}/tasks/{id}`, is a variant here, a `from_path` to read it back,
/// and an arm in the shell (`components::app`) that shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// Health, queue, events and tasks at [`BASE`].
    Overview,
}

impl Page {
    /// The absolute path of the page (no query).
    pub fn path(self) -> &'static str {
        match self {
            Page::Overview => BASE,
        }
    }
}
