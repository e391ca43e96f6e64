//! The shell, one component per page and one per panel. Each panel owns its
//! data (`polled`) and reloads on the session's tick. This module only
//! declares them: components import each other, never this module.

pub mod app;
mod boxed;
mod event_filters;
mod events;
mod health;
mod overview;
mod page_link;
mod polled;
mod queue;
mod signin;
mod status;
mod task_page;
mod tasks;
mod trends;
mod view_link;
