//! Nasdaq TotalView-ITCH 5.0 messages as zero-copy views (spec: `shared/specs/itch50.md`).
//!
//! Every one of the 23 message types is a `#[repr(C)]` struct of alignment 1 whose fields are
//! the wire fields in wire order (`u8` for `char`, `[u8; N]` for `alpha(N)`, big-endian
//! [`U16`](zerocopy::byteorder::big_endian::U16)/[`U32`]/[`U64`] for integers and prices, `[u8; 6]` for the 48-bit timestamp). Each
//! derives `FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned`, so a message is read by
//! casting a prefix of the packet's bytes and written by filling the `pub` fields and calling
//! `as_bytes()`. Each struct's size is asserted at compile time against the spec's length.
//!
//! ```text
//!   message bytes (one MoldUDP64 block)  ──Message::parse──►  Message::AddOrder(&AddOrder) …
//!                                                            └► Message::Unknown(type byte)
//! ```
//!
//! ## Invariants
//! - [`Message::parse`] is the only check: it needs at least [`len_of`]`(type)` bytes and
//!   accepts more (a venue may append fields; the caller decides whether to count that). After
//!   it succeeds, no accessor can fail or panic.
//! - Accessors return native values: integers as `u16/u32/u64`, the timestamp as `u64`
//!   nanoseconds since midnight, prices as [`Price4`] (4 implied decimals) or [`Price8`]
//!   (MWCB levels), `char` fields as the raw byte, `alpha` fields as bytes with trailing spaces
//!   trimmed. A field and its accessor share the spec's `snake_case` name (`m.shares` is the
//!   wire field, `m.shares()` the value).
//! - [`Fields`] walks every field (except the type byte) in wire order under the same names.
//!
//! ## Building a message (encoders, tests)
//! ```
//! use fh_decoders::itch50::{alpha, price4, AddOrder, Message};
//! use fh_decoders::price::{Fixed, Price4};
//! use zerocopy::{IntoBytes, byteorder::big_endian::{U32, U64}};
//!
//! let mut m = AddOrder::new(7, 0, 34_200_000_000_000); // locate, tracking, timestamp (ns)
//! m.order_reference_number = U64::new(42);
//! m.buy_sell_indicator = b'B';
//! m.shares = U32::new(100);
//! m.stock = alpha(b"AAPL");
//! m.price = price4(Fixed(1_234_500)); // 123.45
//! let Ok(Message::AddOrder(v)) = Message::parse(m.as_bytes()) else { panic!() };
//! assert_eq!((v.stock(), v.price(), v.timestamp()), (&b"AAPL"[..], Fixed::<4>(1_234_500), 34_200_000_000_000));
//! ```
//!
//! ## Field names and the OMI-dissector oracle
//! Field names are the spec's names in `snake_case`. With underscores removed they equal the
//! keys of the independent decodes in `shared/pcaps/real/omi-data-packets/Nasdaq/*/oracle/`,
//! except for these (the oracle follows older dissector labels):
//!
//! | message | our name (spec) | oracle key |
//! |---|---|---|
//! | `Y` Reg SHO | `stock_locate` | `locatecode` |
//! | `X` Order Cancel | `cancelled_shares` | `canceledshares` |
//! | `Q` Cross Trade | `shares` | `crossshares` |
//!
//! The oracle also trims alpha fields and omits an alpha field that is all spaces (e.g. `reason`
//! of `H`), prints prices without trailing zeros (`"80.52"`), and has `messagetype`,
//! `messageindex` and `messagelength` keys that are not message fields here (see
//! [`Fields::type_byte`] and the MoldUDP64 block).

mod messages;

pub use messages::*;

use crate::fields::{FieldVisitor, Fields};
use crate::price::{Price4, Price8};
use zerocopy::byteorder::big_endian::{U32, U64};
use zerocopy::FromBytes;

/// Length of the header every ITCH message starts with (type, locate, tracking, timestamp).
pub const COMMON_HEADER_LEN: usize = 11;

/// Why a message could not be viewed. Small and `Copy`: meant to be counted, not printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MsgError {
    /// Zero bytes: not even a type byte.
    Empty,
    /// Fewer bytes than the spec's length for this (known) type.
    Truncated {
        /// The message type byte.
        msg_type: u8,
        /// How many bytes there were.
        len: usize,
    },
}

/// Order side, from a `Buy/Sell Indicator` byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// `B`
    Buy,
    /// `S`
    Sell,
}

impl Side {
    /// `B` → `Buy`, `S` → `Sell`, anything else → `None`.
    #[inline]
    pub const fn from_byte(b: u8) -> Option<Side> {
        match b {
            b'B' => Some(Side::Buy),
            b'S' => Some(Side::Sell),
            _ => None,
        }
    }

    /// The wire byte (`B` or `S`).
    #[inline]
    pub const fn to_byte(self) -> u8 {
        match self {
            Side::Buy => b'B',
            Side::Sell => b'S',
        }
    }
}

/// Reads a 48-bit big-endian integer (the ITCH timestamp).
#[inline]
pub const fn read_u48(b: &[u8; 6]) -> u64 {
    ((b[0] as u64) << 40)
        | ((b[1] as u64) << 32)
        | ((b[2] as u64) << 24)
        | ((b[3] as u64) << 16)
        | ((b[4] as u64) << 8)
        | (b[5] as u64)
}

/// Writes the low 48 bits of `v` big-endian (higher bits are dropped; a day has fewer than
/// 2^47 ns).
#[inline]
pub const fn write_u48(v: u64) -> [u8; 6] {
    let b = v.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// An `alpha(N)` field from `s`: left-justified, padded with spaces, cut at `N` bytes.
#[inline]
pub fn alpha<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut out = [b' '; N];
    let n = s.len().min(N);
    out[..n].copy_from_slice(&s[..n]);
    out
}

/// A trimmed alpha field as `&str`; `None` if it is not UTF-8 (the spec says ASCII).
#[inline]
pub fn alpha_str(b: &[u8]) -> Option<&str> {
    core::str::from_utf8(b).ok()
}

/// A `Price(4)` wire field; values outside `0..=u32::MAX` saturate.
#[inline]
pub fn price4(p: Price4) -> U32 {
    U32::new(p.0.clamp(0, i64::from(u32::MAX)) as u32)
}

/// A `Price(8)` wire field (unsigned, every value representable).
#[inline]
pub fn price8(p: Price8) -> U64 {
    U64::new(p.0)
}

/// Casts the prefix of `b` (a message of type `t`) to `T`, or reports it as truncated.
#[inline(always)]
fn view<T: FromBytes + zerocopy::KnownLayout + zerocopy::Immutable>(
    t: u8,
    b: &[u8],
) -> Result<&T, MsgError> {
    match T::ref_from_prefix(b) {
        Ok((m, _rest)) => Ok(m),
        Err(_) => Err(MsgError::Truncated {
            msg_type: t,
            len: b.len(),
        }),
    }
}

macro_rules! message_enum {
    ($($variant:ident),* $(,)?) => {
        /// One ITCH message, borrowed from the packet's bytes.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Message<'a> {
            $(
                #[doc = concat!("See [`", stringify!($variant), "`].")]
                $variant(&'a $variant),
            )*
            /// A type byte that ITCH 5.0 does not define (skip it using the length on the wire).
            Unknown(u8),
        }

        /// The spec's length of message type `t` (without the 2-byte MoldUDP64 length prefix),
        /// or `None` for a type ITCH 5.0 does not define.
        #[inline]
        pub const fn len_of(t: u8) -> Option<usize> {
            match t {
                $( $variant::TYPE => Some($variant::LEN), )*
                _ => None,
            }
        }

        /// Every message type byte ITCH 5.0 defines (23), in the spec's order.
        pub const ALL_TYPES: [u8; 23] = [$( $variant::TYPE, )*];

        impl<'a> Message<'a> {
            /// Views the message data of one block (type byte first).
            ///
            /// Unknown types give `Ok(Message::Unknown(t))`. A known type needs at least
            /// [`len_of`] bytes (else [`MsgError::Truncated`]); extra bytes are allowed and
            /// ignored. Never panics.
            #[inline(always)]
            pub fn parse(b: &'a [u8]) -> Result<Message<'a>, MsgError> {
                let Some(&t) = b.first() else {
                    return Err(MsgError::Empty);
                };
                match t {
                    $( $variant::TYPE => view::<$variant>(t, b).map(Message::$variant), )*
                    _ => Ok(Message::Unknown(t)),
                }
            }

            /// Stock Locate of a known message, `None` for `Unknown`.
            #[inline]
            pub fn stock_locate(&self) -> Option<u16> {
                match self {
                    $( Message::$variant(m) => Some(m.stock_locate()), )*
                    Message::Unknown(_) => None,
                }
            }

            /// Tracking Number of a known message, `None` for `Unknown`.
            #[inline]
            pub fn tracking_number(&self) -> Option<u16> {
                match self {
                    $( Message::$variant(m) => Some(m.tracking_number()), )*
                    Message::Unknown(_) => None,
                }
            }

            /// Timestamp (ns since midnight) of a known message, `None` for `Unknown`.
            #[inline]
            pub fn timestamp(&self) -> Option<u64> {
                match self {
                    $( Message::$variant(m) => Some(m.timestamp()), )*
                    Message::Unknown(_) => None,
                }
            }

            /// The message's bytes (exactly the spec's length); empty for `Unknown`.
            #[inline]
            pub fn as_bytes(&self) -> &'a [u8] {
                match self {
                    $( Message::$variant(m) => zerocopy::IntoBytes::as_bytes(*m), )*
                    Message::Unknown(_) => &[],
                }
            }
        }

        impl Fields for Message<'_> {
            #[inline]
            fn type_byte(&self) -> u8 {
                match self {
                    $( Message::$variant(m) => m.type_byte(), )*
                    Message::Unknown(t) => *t,
                }
            }

            /// Visits the fields of the message; `Unknown` has none.
            fn visit_fields(&self, v: &mut dyn FieldVisitor) {
                match self {
                    $( Message::$variant(m) => m.visit_fields(v), )*
                    Message::Unknown(_) => {}
                }
            }
        }
    };
}

message_enum!(
    SystemEvent,
    StockDirectory,
    StockTradingAction,
    RegShoRestriction,
    MarketParticipantPosition,
    MwcbDeclineLevel,
    MwcbStatus,
    IpoQuotingPeriodUpdate,
    LuldAuctionCollar,
    OperationalHalt,
    AddOrder,
    AddOrderMpid,
    OrderExecuted,
    OrderExecutedWithPrice,
    OrderCancel,
    OrderDelete,
    OrderReplace,
    Trade,
    CrossTrade,
    BrokenTrade,
    Noii,
    Rpii,
    Dlcr,
);

#[cfg(test)]
mod golden;
#[cfg(test)]
mod tests;
