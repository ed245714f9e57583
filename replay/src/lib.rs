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
//! It also holds the exchange side for tests and demos: [`gen`] (a synthetic ITCH day with
//! line faults and its truth file) and [`serve`] (that day or a capture sent on lines A and B
//! with independent faults, a MoldUDP64 request server and a SoupBinTCP snapshot server).
//!
//! [`capture::Capture::open`] tells the format from the bytes, never from the name: pcap (µs or
//! ns, either byte order), pcapng, gzip (inflated and looked into again) or a bare ITCH 5.0
//! stream; `-` is standard input.
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
pub mod serve;
pub mod wire;
pub mod writer;

/// An I/O error in plain words for one-line messages ("no such file or directory", "is a
/// directory", "permission denied"), without the OS error number.
pub fn io_words(e: &std::io::Error) -> String {
    match io_kind_words(e.kind()) {
        Some(w) => w.to_string(),
        None => {
            let s = e.to_string();
            let s = match s.find(" (os error") {
                Some(i) => &s[..i],
                None => &s,
            };
            s.to_lowercase()
        }
    }
}

/// The plain words for the common I/O error kinds ([`io_words`]), `None` for the others.
pub fn io_kind_words(k: std::io::ErrorKind) -> Option<&'static str> {
    use std::io::ErrorKind as K;
    Some(match k {
        K::NotFound => "no such file or directory",
        K::PermissionDenied => "permission denied",
        K::IsADirectory => "is a directory",
        K::NotADirectory => "a path component is not a directory",
        K::AlreadyExists => "already exists",
        K::StorageFull => "no space left on device",
        K::ReadOnlyFilesystem => "read-only file system",
        K::UnexpectedEof => "ends early",
        K::BrokenPipe => "broken pipe",
        K::OutOfMemory => "out of memory",
        K::InvalidData => "invalid data",
        K::Interrupted => "interrupted",
        K::WouldBlock => "would block (non-blocking input with nothing to read)",
        _ => return None,
    })
}
