//! The dashboard's pages and the paths they live at. The router
//! (`components::app`) matches these paths; links are built from [`Page`].
//!
//! Every page shares the URL query (the view state, `view_state`), so
//! moving between pages keeps the time range and the filters.

/// Where the admin server serves the dashboard (`admin_server::ui::UI_BASE`).
pub const BASE: &str = "/admin/ai/runtime";

/// A page of the dashboard. The next one is a task's own page at
/// `{BASE}/tasks/{id}`: a variant here, a `<Route>` in `components::app`.
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
