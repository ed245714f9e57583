//! # fh-decoders: market-data wire formats, read where they lie
//!
//! This crate turns the bytes of a UDP payload into typed, borrowed views of the
//! messages inside it. It knows MoldUDP64 framing with Nasdaq TotalView-ITCH 5.0
//! messages, and IEX-TP framing with IEX DEEP 1.0 and TOPS 1.6 messages.
//!
//! ```text
//!   &[u8] (UDP payload, in a ring slot or an mmapped capture)
//!      │  moldudp64::Packet::parse / iextp::Segment::parse   (checks framing once)
//!      ▼
//!   header view + iterator of message blocks  ──►  itch50::Message<'a> / deep::Message<'a> / tops::Message<'a>
//!                                                   (enums of &'a zerocopy structs)
//! ```
//!
//! ## Invariants
//! - **No I/O, no allocation, no `unsafe`** (`#![forbid(unsafe_code)]`). Every wire struct is
//!   `#[repr(C)]` over byte-order field types and derives `FromBytes`, `KnownLayout`,
//!   `Immutable`, `Unaligned`; casting is done by `zerocopy` and can never be unaligned or
//!   out of bounds. Each struct's size is asserted at compile time against the spec.
//! - **Never panics, whatever the bytes.** Framing is validated once; iterators step by the
//!   length on the wire (never by `size_of`), skip and count unknown message types, and report
//!   truncation and length mismatches as small `Copy` error values, never strings.
//! - **Exact numbers.** Prices are fixed-point integers ([`price::Fixed`]) with the spec's
//!   implied decimals; timestamps are `u64` nanoseconds. No `f64` anywhere.
//!
//! ## Not here
//! Reading capture files (see `fh-replay`), sequencing and books (see `fh-feed`).
#![forbid(unsafe_code)]
#![no_std]

pub mod deep;
pub mod fields;
pub mod iex_common;
pub mod iextp;
pub mod itch50;
pub mod moldudp64;
pub mod price;
pub mod sniff;
pub mod tops;
