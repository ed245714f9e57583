//! The integration tests of fh-shm: each file of this folder is a module of this one test
//! binary (one build and one link for them all).

mod end;
mod overflow;
