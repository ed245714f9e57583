//! TODO(issue 2): see ../../shared/specs.
