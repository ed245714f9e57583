//! The integration tests of fh-feed: each file of this folder is a module of this one test
//! binary (one build and one link for them all). `ring_no_alloc` installs the binary's global
//! allocator, which counts only the allocations of threads that armed it.

mod books_model;
mod ring_no_alloc;
mod ring_stress;
