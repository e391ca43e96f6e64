//! The retention flags, the same for `ai-runtime-maintain` and for the
//! admin server's periodic pass (`#[command(flatten)]` them).

use clap::Args;

use crate::Options;

#[derive(Debug, Clone, Args)]
pub struct RetentionFlags {
    /// Days of events kept; a day's partition is dropped once all of it is older.
    #[arg(long, env = "AI_RUNTIME_EVENTS_RETENTION_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub retention_days: u32,
    /// Days after today whose partitions are made ahead of time.
    #[arg(long, env = "AI_RUNTIME_EVENTS_PREMAKE_DAYS", default_value_t = 7,
          value_parser = clap::value_parser!(u32).range(0..=366))]
    pub premake_days: u32,
}

impl RetentionFlags {
    /// The pass's options for these flags (the rest at their defaults).
    pub fn options(&self) -> Options {
        Options {
            retention_days: self.retention_days,
            premake_days: self.premake_days,
            ..Options::default()
        }
    }
}
