//! The phase1 worker (filled in by the Phase1 worker issue).
