//! The dashboard (filled in by the Dashboard issue).
