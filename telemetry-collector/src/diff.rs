//! Schema and plan diffs.
