//! TODO: see the issues.
