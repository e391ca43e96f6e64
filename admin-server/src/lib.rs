//! The admin server (filled in by the Admin server issue).
