//! IEX TOPS 1.6 messages (protocol id `0x8003`; `0x8002` TOPS 1.5 is decoded with the same
//! tables): views, the [`Message`] enum and the per-segment iterator [`Messages`].
//!
//! TOPS carries IEX's best bid and offer ([`QuoteUpdate`]) and last sale; everything but `Q`
//! is shared with DEEP and defined in [`crate::iex_common`] (re-exported here). DEEP's `E`,
//! `8` and `5` are not TOPS messages: in a TOPS segment they are unknown types.
//!
//! ## TOPS 1.5
//! TOPS 1.5 Trade Report and Trade Break carried 4 trailing reserved bytes (42 instead of 38
//! bytes). Longer-than-spec messages decode normally (the tail is ignored), so a 1.5 stream
//! decodes correctly; each such message is counted in [`Counters::oversized`].
//!
//! ## Invariants
//! Same as for DEEP: [`Message::parse`] never panics, accepts messages longer than the
//! spec and rejects shorter ones with a `Copy` [`MessageError`]; [`Messages`] skips and
//! counts truncated messages, counts unknown types (yielded as [`Message::Unknown`]) and
//! oversized ones.

use zerocopy::little_endian::{I64, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

pub use crate::iex_common::*;

use crate::fields::{trim_alpha, FieldValue, FieldVisitor, Fields};
use crate::iex_common::{symbol_accessors, timestamp_accessor, view, wire_consts};
use crate::iextp::{bump, Blocks, Counters, Family, MessagesOf, Segment};
use crate::price::{Fixed, Price4};

/// `Q` Quote Update flag bits (spec table E4). Unlisted bits are ignored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct QuoteFlags(pub u8);

impl QuoteFlags {
    /// 0x80: symbol halted, paused or otherwise not available on IEX.
    pub const SYMBOL_UNAVAILABLE: u8 = 0x80;
    /// 0x40: pre-/post-market session.
    pub const PRE_POST_MARKET: u8 = 0x40;

    /// Symbol halted, paused or otherwise not available for trading on IEX.
    #[inline]
    pub const fn is_symbol_unavailable(self) -> bool {
        self.0 & Self::SYMBOL_UNAVAILABLE != 0
    }
    /// Quote from the pre-/post-market session (clear: regular market session).
    #[inline]
    pub const fn is_pre_post_market(self) -> bool {
        self.0 & Self::PRE_POST_MARKET != 0
    }
}

/// `Q` (0x51) Quote Update, 42 bytes (TOPS only): IEX's best bid and offer.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq, Hash,
)]
#[repr(C)]
pub struct QuoteUpdate {
    /// `Q`.
    pub message_type: u8,
    /// Flag bits ([`QuoteFlags`]); visited as `quote_update_flags`.
    pub flags: u8,
    /// ns since the Unix epoch.
    pub timestamp: I64,
    /// Space-padded symbol.
    pub symbol: Symbol,
    /// Aggregate size at the best bid.
    pub bid_size: U32,
    /// Best bid (4 decimals).
    pub bid_price: I64,
    /// Best ask (4 decimals).
    pub ask_price: I64,
    /// Aggregate size at the best ask.
    pub ask_size: U32,
}
wire_consts!(QuoteUpdate, b'Q', 42);
timestamp_accessor!(QuoteUpdate);
symbol_accessors!(QuoteUpdate);

impl QuoteUpdate {
    /// Typed flags.
    #[inline]
    pub fn flags(&self) -> QuoteFlags {
        QuoteFlags(self.flags)
    }
    /// Size at the best bid.
    #[inline]
    pub fn bid_size(&self) -> u32 {
        self.bid_size.get()
    }
    /// Best bid.
    #[inline]
    pub fn bid_price(&self) -> Price4 {
        Fixed(self.bid_price.get())
    }
    /// Best ask.
    #[inline]
    pub fn ask_price(&self) -> Price4 {
        Fixed(self.ask_price.get())
    }
    /// Size at the best ask.
    #[inline]
    pub fn ask_size(&self) -> u32 {
        self.ask_size.get()
    }
    /// The pre-open "zero quote": all four sizes and prices are 0.
    #[inline]
    pub fn is_zero_quote(&self) -> bool {
        self.bid_size.get() == 0
            && self.bid_price.get() == 0
            && self.ask_price.get() == 0
            && self.ask_size.get() == 0
    }
}

impl Fields for QuoteUpdate {
    fn type_byte(&self) -> u8 {
        self.message_type
    }
    fn visit_fields(&self, v: &mut dyn FieldVisitor) {
        v.field("quote_update_flags", FieldValue::U64(self.flags.into()));
        v.field("timestamp", FieldValue::U64(self.timestamp.get() as u64));
        v.field("symbol", FieldValue::Alpha(trim_alpha(&self.symbol)));
        v.field("bid_size", FieldValue::U64(self.bid_size.get().into()));
        v.field("bid_price", FieldValue::Price4(self.bid_price()));
        v.field("ask_price", FieldValue::Price4(self.ask_price()));
        v.field("ask_size", FieldValue::U64(self.ask_size.get().into()));
    }
}

/// Spec size of a TOPS message type, `None` for a type TOPS 1.6 does not define.
#[inline]
pub const fn spec_len(message_type: u8) -> Option<usize> {
    Some(match message_type {
        SystemEvent::TYPE => SystemEvent::LEN,
        SecurityDirectory::TYPE => SecurityDirectory::LEN,
        TradingStatus::TYPE => TradingStatus::LEN,
        RetailLiquidityIndicator::TYPE => RetailLiquidityIndicator::LEN,
        OperationalHaltStatus::TYPE => OperationalHaltStatus::LEN,
        ShortSalePriceTestStatus::TYPE => ShortSalePriceTestStatus::LEN,
        QuoteUpdate::TYPE => QuoteUpdate::LEN,
        TradeReport::TYPE => TradeReport::LEN,
        OfficialPrice::TYPE => OfficialPrice::LEN,
        TradeBreak::TYPE => TradeBreak::LEN,
        AuctionInformation::TYPE => AuctionInformation::LEN,
        _ => return None,
    })
}

/// One TOPS 1.6 message, borrowed from the segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// `S`.
    SystemEvent(&'a SystemEvent),
    /// `D`.
    SecurityDirectory(&'a SecurityDirectory),
    /// `H`.
    TradingStatus(&'a TradingStatus),
    /// `I`.
    RetailLiquidityIndicator(&'a RetailLiquidityIndicator),
    /// `O`.
    OperationalHaltStatus(&'a OperationalHaltStatus),
    /// `P`.
    ShortSalePriceTestStatus(&'a ShortSalePriceTestStatus),
    /// `Q`.
    QuoteUpdate(&'a QuoteUpdate),
    /// `T`.
    TradeReport(&'a TradeReport),
    /// `X`.
    OfficialPrice(&'a OfficialPrice),
    /// `B`.
    TradeBreak(&'a TradeBreak),
    /// `A`.
    AuctionInformation(&'a AuctionInformation),
    /// A type TOPS 1.6 does not define (the type byte); IEX may add types without notice.
    Unknown(u8),
}

impl<'a> Message<'a> {
    /// Decodes one message (the bytes of one block; byte 0 is the type). Longer than the spec
    /// size is accepted, shorter is [`MessageError::Truncated`].
    #[inline]
    pub fn parse(data: &'a [u8]) -> Result<Self, MessageError> {
        let &t = data.first().ok_or(MessageError::Empty)?;
        let m = match t {
            SystemEvent::TYPE => view(data).map(Message::SystemEvent),
            SecurityDirectory::TYPE => view(data).map(Message::SecurityDirectory),
            TradingStatus::TYPE => view(data).map(Message::TradingStatus),
            RetailLiquidityIndicator::TYPE => view(data).map(Message::RetailLiquidityIndicator),
            OperationalHaltStatus::TYPE => view(data).map(Message::OperationalHaltStatus),
            ShortSalePriceTestStatus::TYPE => view(data).map(Message::ShortSalePriceTestStatus),
            QuoteUpdate::TYPE => view(data).map(Message::QuoteUpdate),
            TradeReport::TYPE => view(data).map(Message::TradeReport),
            OfficialPrice::TYPE => view(data).map(Message::OfficialPrice),
            TradeBreak::TYPE => view(data).map(Message::TradeBreak),
            AuctionInformation::TYPE => view(data).map(Message::AuctionInformation),
            other => Some(Message::Unknown(other)),
        };
        m.ok_or(MessageError::Truncated(t))
    }

    /// The message as a [`Fields`] view (`None` for [`Message::Unknown`]).
    #[inline]
    pub fn as_fields(&self) -> Option<&'a dyn Fields> {
        Some(match *self {
            Message::SystemEvent(m) => m,
            Message::SecurityDirectory(m) => m,
            Message::TradingStatus(m) => m,
            Message::RetailLiquidityIndicator(m) => m,
            Message::OperationalHaltStatus(m) => m,
            Message::ShortSalePriceTestStatus(m) => m,
            Message::QuoteUpdate(m) => m,
            Message::TradeReport(m) => m,
            Message::OfficialPrice(m) => m,
            Message::TradeBreak(m) => m,
            Message::AuctionInformation(m) => m,
            Message::Unknown(_) => return None,
        })
    }

    /// Event timestamp, ns since the Unix epoch (`None` for [`Message::Unknown`]).
    #[inline]
    pub fn timestamp(&self) -> Option<u64> {
        Some(match *self {
            Message::SystemEvent(m) => m.timestamp(),
            Message::SecurityDirectory(m) => m.timestamp(),
            Message::TradingStatus(m) => m.timestamp(),
            Message::RetailLiquidityIndicator(m) => m.timestamp(),
            Message::OperationalHaltStatus(m) => m.timestamp(),
            Message::ShortSalePriceTestStatus(m) => m.timestamp(),
            Message::QuoteUpdate(m) => m.timestamp(),
            Message::TradeReport(m) => m.timestamp(),
            Message::OfficialPrice(m) => m.timestamp(),
            Message::TradeBreak(m) => m.timestamp(),
            Message::AuctionInformation(m) => m.timestamp(),
            Message::Unknown(_) => return None,
        })
    }
}

impl Fields for Message<'_> {
    #[inline]
    fn type_byte(&self) -> u8 {
        match *self {
            Message::SystemEvent(m) => m.message_type,
            Message::SecurityDirectory(m) => m.message_type,
            Message::TradingStatus(m) => m.message_type,
            Message::RetailLiquidityIndicator(m) => m.message_type,
            Message::OperationalHaltStatus(m) => m.message_type,
            Message::ShortSalePriceTestStatus(m) => m.message_type,
            Message::QuoteUpdate(m) => m.message_type,
            Message::TradeReport(m) => m.message_type,
            Message::OfficialPrice(m) => m.message_type,
            Message::TradeBreak(m) => m.message_type,
            Message::AuctionInformation(m) => m.message_type,
            Message::Unknown(t) => t,
        }
    }
    fn visit_fields(&self, v: &mut dyn FieldVisitor) {
        if let Some(f) = self.as_fields() {
            f.visit_fields(v);
        }
    }
}

/// Iterator over the TOPS messages of one segment: `(sequence number, message)`.
///
/// Built by [`crate::iextp::Segment::tops`]. Truncated messages are skipped; every outcome is
/// counted in the borrowed [`Counters`].
pub type Messages<'a, 'c> = MessagesOf<'a, 'c, Message<'a>>;

// Defined here rather than in `iextp` so that the transport does not depend on the families it
// carries (`tops` -> `iextp`, never back).
impl<'a> Segment<'a> {
    /// The TOPS messages of this segment. Yields nothing (and bumps `unknown_protocol`) when
    /// the protocol id is not TOPS 1.6 or 1.5.
    #[inline]
    pub fn tops<'c>(&self, c: &'c mut Counters) -> Messages<'a, 'c> {
        let blocks = if self.protocol().is_tops() {
            self.blocks()
        } else {
            bump(&mut c.unknown_protocol);
            Blocks::EMPTY
        };
        Messages::new(blocks, c)
    }
}

impl<'a> Family<'a> for Message<'a> {
    #[inline]
    fn view(data: &'a [u8]) -> Option<Self> {
        Message::parse(data).ok()
    }
    #[inline]
    fn is_unknown(&self) -> bool {
        matches!(self, Message::Unknown(_))
    }
    #[inline]
    fn spec_len(message_type: u8) -> Option<usize> {
        spec_len(message_type)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::iex_common::testutil::*;
    use crate::iextp::{Protocol, Segment};
    use std::vec::Vec;

    /// omi-data-packets Tops.IexTp.v1.6/QuoteUpdateMessage.pcap frame 1 message 1.
    const Q_TOPS16: &str =
        "5100c048e39c37b30d15415453472020202055490000ecb003000000000044b303000000000005ed0000";
    /// iex-tops-20180103-iextools example1-complete-2pkts.pcap frame 2 message 5 (zero quote).
    const Q_ZERO: &str =
        "51408a31c9a4084d06154120202020202020000000000000000000000000000000000000000000000000";
    /// omi-data-packets Tops.IexTp.v1.5/OperationalHaltStatusMessage.pcap frame 1: O H Q S.
    const TOPS_SEGMENT_4: &str = "01000380010000000000964464000400553f0e0000000000da85000000000000\
        27d18cbf3aac0d1512004f4e538162793aac0d155a594e452020202016004854538162793aac0d155a594e45\
        2020202020202020\
        2a005140538162793aac0d155a594e452020202000000000000000000000000000000000000000000000\
        00000a0053531a604d9c3aac0d15";

    #[test]
    fn quote_update_golden() {
        let b = hex(Q_TOPS16);
        let Ok(Message::QuoteUpdate(m)) = Message::parse(&b) else {
            panic!("not Q")
        };
        // Oracle: flags 0 (key absent), ATSG 18773 @ 24.19 x 24.25 @ 60677.
        assert_fields(
            m,
            &[
                ("quote_update_flags", "0"),
                ("timestamp", "1517065700930439360"),
                ("symbol", "ATSG"),
                ("bid_size", "18773"),
                ("bid_price", "24.19"),
                ("ask_price", "24.25"),
                ("ask_size", "60677"),
            ],
        );
        assert_eq!(m.bid_price(), Price4::parse("24.19").unwrap());
        assert_eq!(m.ask_price(), Price4::parse("24.25").unwrap());
        assert_eq!((m.bid_size(), m.ask_size()), (18_773, 60_677));
        assert!(!m.is_zero_quote());
        assert!(!m.flags().is_symbol_unavailable() && !m.flags().is_pre_post_market());
        let built = QuoteUpdate {
            message_type: b'Q',
            flags: 0,
            timestamp: I64::new(1_517_065_700_930_439_360),
            symbol: *b"ATSG    ",
            bid_size: U32::new(18_773),
            bid_price: I64::new(241_900),
            ask_price: I64::new(242_500),
            ask_size: U32::new(60_677),
        };
        assert_eq!(built.as_bytes(), &b[..]);
        assert_eq!(fields_of(&built), fields_of(m));
    }

    #[test]
    fn zero_quote_with_session_flag() {
        let b = hex(Q_ZERO);
        let Ok(Message::QuoteUpdate(m)) = Message::parse(&b) else {
            panic!("not Q")
        };
        // Oracle: quoteupdateflags "Market Session" (0x40), marketsession 1, availability 0.
        assert_eq!(m.flags, 0x40);
        assert!(m.flags().is_pre_post_market() && !m.flags().is_symbol_unavailable());
        assert!(m.is_zero_quote());
        assert_eq!(m.symbol(), b"A");
        assert!(QuoteFlags(0x80).is_symbol_unavailable());
    }

    /// Every TOPS type dispatches to its own variant; DEEP-only types are unknown here.
    #[test]
    fn every_tops_type_dispatches() {
        let mut all: Vec<(u8, Vec<u8>)> = GOLDEN.iter().map(|(t, h)| (*t, hex(h))).collect();
        all.push((b'Q', hex(Q_TOPS16)));
        for (t, b) in &all {
            let m = Message::parse(b).unwrap();
            assert_eq!(m.type_byte(), *t);
            assert_eq!(spec_len(*t), Some(b.len()));
            let ok = matches!(
                (t, m),
                (b'S', Message::SystemEvent(_))
                    | (b'D', Message::SecurityDirectory(_))
                    | (b'H', Message::TradingStatus(_))
                    | (b'I', Message::RetailLiquidityIndicator(_))
                    | (b'O', Message::OperationalHaltStatus(_))
                    | (b'P', Message::ShortSalePriceTestStatus(_))
                    | (b'Q', Message::QuoteUpdate(_))
                    | (b'T', Message::TradeReport(_))
                    | (b'X', Message::OfficialPrice(_))
                    | (b'B', Message::TradeBreak(_))
                    | (b'A', Message::AuctionInformation(_))
            );
            assert!(ok, "{} -> {m:?}", *t as char);
            assert!(!fields_of(&m).is_empty());
            assert_eq!(fields_of(&m), fields_of(m.as_fields().unwrap()));
            let ts = fields_of(&m)
                .into_iter()
                .find(|(k, _)| *k == "timestamp")
                .unwrap()
                .1;
            assert_eq!(std::format!("{}", m.timestamp().unwrap()), ts);
            assert_eq!(
                Message::parse(&b[..b.len() - 1]),
                Err(MessageError::Truncated(*t))
            );
        }
        for t in [b'E', b'8', b'5'] {
            assert_eq!(Message::parse(&[t; 40]), Ok(Message::Unknown(t)));
            assert_eq!(spec_len(t), None);
        }
    }

    #[test]
    fn real_tops_segment() {
        let bytes = hex(TOPS_SEGMENT_4);
        let seg = Segment::parse(&bytes).unwrap();
        assert_eq!(seg.protocol(), Protocol::Tops16);
        let mut c = crate::iextp::Counters::new();
        let msgs: Vec<_> = seg.tops(&mut c).collect();
        // Oracle: O H Q S for ZYNE, last a System Event 'S' (start of system hours).
        let types: Vec<u8> = msgs.iter().map(|(_, m)| m.type_byte()).collect();
        assert_eq!(types, b"OHQS");
        assert_eq!(msgs[0].0, seg.first_seq());
        assert_eq!(msgs[3].0, seg.first_seq() + 3);
        let Message::SystemEvent(s) = msgs[3].1 else {
            panic!("{:?}", msgs[3])
        };
        assert_eq!(s.system_event, system_event::START_OF_SYSTEM_HOURS);
        assert_eq!(s.timestamp(), 1_517_058_017_224_122_394);
        assert_eq!(c.messages, 4);
        assert_eq!(c.unknown_protocol, 0);
    }

    /// A TOPS 1.5 Trade Report (42 bytes: 4 trailing reserved bytes) decodes and is counted
    /// as oversized.
    #[test]
    fn tops_1_5_trade_report_is_oversized_but_decoded() {
        let mut t = hex(GOLDEN.iter().find(|(t, _)| *t == b'T').unwrap().1);
        t.extend_from_slice(&[0, 0, 0, 0]);
        let mut seg = hex(TOPS_SEGMENT_4)[..40].to_vec();
        seg[2..4].copy_from_slice(&crate::iextp::PROTOCOL_TOPS_1_5.to_le_bytes());
        seg[12..14].copy_from_slice(&44u16.to_le_bytes());
        seg[14..16].copy_from_slice(&1u16.to_le_bytes());
        seg.extend_from_slice(&42u16.to_le_bytes());
        seg.extend_from_slice(&t);
        let s = Segment::parse(&seg).unwrap();
        assert_eq!(s.protocol(), Protocol::Tops15);
        let mut c = crate::iextp::Counters::new();
        let msgs: Vec<_> = s.tops(&mut c).collect();
        let Message::TradeReport(tr) = msgs[0].1 else {
            panic!("{msgs:?}")
        };
        assert_eq!(tr.symbol(), b"TSLA");
        assert_eq!((c.messages, c.oversized), (1, 1));
    }
}
