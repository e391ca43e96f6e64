//! The upkeep of `ai_runtime_events`, a table partitioned by UTC day: one
//! maintenance pass premakes the partitions of the coming days, moves events
//! that landed in the default partition (their day had none) into a
//! partition of their own, and drops the days past the retention.
//!
//! Plain SQL, as the `ai_runtime_maintainer` role (or the tables' owner): no
//! superuser, no extension, so it runs on Supabase as it does here. The DDL
//! goes through two functions the roles migration makes, which run as the
//! events table's owner and touch only one day's partition. Only one pass runs at a time per
//! database (an advisory lock); a second one skips. Every DDL statement waits
//! at most [`Options::lock_timeout`] for its lock, so a pass never holds up the
//! writers' inserts for longer; what could not get its lock is postponed to
//! the next pass.
//!
//! A pass then rolls the events and the task transitions up per minute
//! ([`rollup`], under a lock of its own), for the trends panel and
//! `/status`; [`spawn_periodic`] runs the roll-ups alone every minute
//! between passes.
//!
//! [`day`] names the partitions; [`pass`] runs one pass; [`failure`] is the
//! failure class of reason codes the roll-ups count.

pub mod day;
pub mod failure;
mod flags;
mod pass;
pub mod rollup;

pub use flags::RetentionFlags;
pub use pass::{
    run_pass, run_rollup, spawn_periodic, Options, Outcome, PassError, Report, ADVISORY_LOCK_KEY,
};
