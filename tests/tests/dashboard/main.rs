//! The dashboard in a real browser: headless Chromium (Debian's `chromium`
//! and `chromium-driver`) driven over WebDriver, against the in-process admin
//! server over a fresh database holding data the test wrote. The server
//! serves the shipped, optimised build in `admin-ui/dist` (`scripts/test`
//! builds it before the tests run).
//!
//! One module per page (and one per panel of the overview); `browser` drives
//! Chromium and `seed` writes the data.

mod browser;
mod event_stream;
mod otlp_ingest;
mod overview;
mod screenshots;
mod seed;
mod sign_in;
mod task_page;
mod tasks_panel;
mod trends;
