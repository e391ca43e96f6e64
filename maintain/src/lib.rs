//! The upkeep of `ai_runtime_events`, a table partitioned by UTC day: one
//! maintenance pass premakes the partitions of the coming days, moves events
//! that landed in the default partition (their day had none) into a
//! partition of their own, and drops the days past the retention.
//!
//! Plain SQL on the table owner's connection: no superuser, no extension, so
//! it runs on Supabase as it does here. Only one pass runs at a time per
//! database (an advisory lock); a second one skips. Every DDL statement waits
//! at most [`Options::lock_timeout`] for its lock, so a pass never holds up the
//! writers' inserts for longer; what could not get its lock is postponed to
//! the next pass.
//!
//! [`day`] names the partitions; [`pass`] runs one pass.

pub mod day;
mod flags;
mod pass;

pub use flags::RetentionFlags;
pub use pass::{run_pass, spawn_periodic, Options, Outcome, PassError, Report, ADVISORY_LOCK_KEY};
