//! The runtime event Layer (filled in by the Layer issue).
