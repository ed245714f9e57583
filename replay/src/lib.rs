//! # fh-replay: captures in and out
//!
//! Reads captured market data where it lies and writes captures of our own.
//!
//! ```text
//!   file ──mmap──► capture::Capture (pcap | pcapng | NASDAQ_ITCH50[.gz])
//!                      │  Record { ts_ns, link, data: &[u8] }   (a slice of the mapping)
//!                      ▼
//!                  frame::udp_payload (Ethernet/802.1Q/QinQ, SLL, SLL2, raw IPv4 → IPv4 → UDP)
//!                      │  Datagram { src, dst, payload: &[u8] }
//!                      ▼
//!                  fh-feed engine / fh decode
//! ```
//!
//! ## Invariants
//! - **Zero copy**: a record's bytes are a slice of the memory map; nothing is copied to read a
//!   packet (a gzip'd ITCH file is the one exception: it is streamed through a reusable buffer).
//! - **Bad input never panics.** A file that is not a capture, an absurd record length or a
//!   record cut in the middle is a [`capture::Error`] naming the byte offset; malformed frames
//!   inside a good file are counted by kind and skipped.
//! - Timestamps are nanoseconds since the Unix epoch, whatever the file's resolution.
pub mod capture;
pub mod frame;
pub mod gen;
pub mod pace;
pub mod wire;
pub mod writer;
