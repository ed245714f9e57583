//! IEX DEEP 1.0 messages (protocol id `0x8004`): views, the [`Message`] enum and the
//! per-segment iterator [`Messages`].
//!
//! DEEP carries the price-level book: `8` (buy) and `5` (sell) [`PriceLevelUpdate`]s give the
//! new aggregate displayed size at a price; an event that changes several levels is published
//! as updates with Event Flags `0` closed by one with flag `1`
//! ([`EventFlags::is_event_complete`]). `E` [`SecurityEvent`] is a sync point. All messages
//! shared with TOPS are defined in [`crate::iex_common`] and re-exported here.
//!
//! ## Invariants
//! - [`Message::parse`] accepts a message whose length is at least the spec size (a longer one
//!   is decoded, its tail ignored) and rejects a shorter or empty one with a `Copy`
//!   [`MessageError`]. It never panics.
//! - [`Messages`] yields `(sequence number, Message)` for each block of a validated segment;
//!   it skips truncated messages and counts them, counts unknown types (yielded as
//!   [`Message::Unknown`] so tools can show them) and longer-than-spec messages, in
//!   [`Counters`].

use zerocopy::little_endian::{I64, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

pub use crate::iex_common::*;

use crate::fields::{trim_alpha, FieldValue, FieldVisitor, Fields};
use crate::iex_common::{symbol_accessors, timestamp_accessor, view, wire_consts};
use crate::iextp::{bump, Blocks, Counters, Family, MessagesOf, Protocol, Segment};
use crate::price::{Fixed, Price4};

/// Book side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Buy (bid) side: message type `8`.
    Buy,
    /// Sell (ask) side: message type `5`.
    Sell,
}

/// `E` (0x45) Security Event, 18 bytes (DEEP only): all earlier price-level updates for the
/// symbol have been sent.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq, Hash,
)]
#[repr(C)]
pub struct SecurityEvent {
    /// `E`.
    pub message_type: u8,
    /// `O` opening process complete, `C` closing process complete.
    pub security_event: u8,
    /// ns since the Unix epoch.
    pub timestamp: I64,
    /// Space-padded symbol.
    pub symbol: Symbol,
}
wire_consts!(SecurityEvent, b'E', 18);
timestamp_accessor!(SecurityEvent);
symbol_accessors!(SecurityEvent);

impl Fields for SecurityEvent {
    fn type_byte(&self) -> u8 {
        self.message_type
    }
    fn visit_fields(&self, v: &mut dyn FieldVisitor) {
        v.field("security_event", FieldValue::Char(self.security_event));
        v.field("timestamp", FieldValue::U64(self.timestamp.get() as u64));
        v.field("symbol", FieldValue::Alpha(trim_alpha(&self.symbol)));
    }
}

/// Event Flags of a Price Level Update.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EventFlags(pub u8);

impl EventFlags {
    /// Event processing complete: publish the book (spec value `1`).
    pub const EVENT_COMPLETE: u8 = 0x01;

    /// True when this update completes the matching-engine event (value `1`); false while the
    /// book is in transition (value `0`). Only bit 0 is read, so flag bits IEX might add later
    /// do not change the answer.
    #[inline]
    pub const fn is_event_complete(self) -> bool {
        self.0 & Self::EVENT_COMPLETE != 0
    }
}

/// `8` (0x38, buy) / `5` (0x35, sell) Price Level Update, 30 bytes (DEEP only).
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq, Hash,
)]
#[repr(C)]
pub struct PriceLevelUpdate {
    /// `8` buy side, `5` sell side.
    pub message_type: u8,
    /// `0` book in transition, `1` event processing complete ([`EventFlags`]).
    pub event_flags: u8,
    /// ns since the Unix epoch.
    pub timestamp: I64,
    /// Space-padded symbol.
    pub symbol: Symbol,
    /// New aggregate displayed size at the level (`0` = level removed).
    pub size: U32,
    /// Level price (4 decimals).
    pub price: I64,
}
wire_consts!(PriceLevelUpdate, b'8', 30);
timestamp_accessor!(PriceLevelUpdate);
symbol_accessors!(PriceLevelUpdate);

impl PriceLevelUpdate {
    /// Type byte of a buy-side update.
    pub const TYPE_BUY: u8 = b'8';
    /// Type byte of a sell-side update.
    pub const TYPE_SELL: u8 = b'5';

    /// Book side: [`Side::Buy`] for type `8`, [`Side::Sell`] otherwise ([`Message::parse`]
    /// builds this view only for `8` and `5`).
    #[inline]
    pub fn side(&self) -> Side {
        if self.message_type == Self::TYPE_BUY {
            Side::Buy
        } else {
            Side::Sell
        }
    }
    /// Typed event flags.
    #[inline]
    pub fn event_flags(&self) -> EventFlags {
        EventFlags(self.event_flags)
    }
    /// Shorthand for `event_flags().is_event_complete()`.
    #[inline]
    pub fn is_event_complete(&self) -> bool {
        self.event_flags().is_event_complete()
    }
    /// Aggregate displayed size (`0` = remove the level).
    #[inline]
    pub fn size(&self) -> u32 {
        self.size.get()
    }
    /// Level price.
    #[inline]
    pub fn price(&self) -> Price4 {
        Fixed(self.price.get())
    }
}

impl Fields for PriceLevelUpdate {
    fn type_byte(&self) -> u8 {
        self.message_type
    }
    fn visit_fields(&self, v: &mut dyn FieldVisitor) {
        v.field("event_flags", FieldValue::U64(self.event_flags.into()));
        v.field("timestamp", FieldValue::U64(self.timestamp.get() as u64));
        v.field("symbol", FieldValue::Alpha(trim_alpha(&self.symbol)));
        v.field("size", FieldValue::U64(self.size.get().into()));
        v.field("price", FieldValue::Price4(self.price()));
    }
}

/// Spec size of a DEEP message type, `None` for a type DEEP 1.0 does not define.
#[inline]
pub const fn spec_len(message_type: u8) -> Option<usize> {
    Some(match message_type {
        SystemEvent::TYPE => SystemEvent::LEN,
        SecurityDirectory::TYPE => SecurityDirectory::LEN,
        TradingStatus::TYPE => TradingStatus::LEN,
        RetailLiquidityIndicator::TYPE => RetailLiquidityIndicator::LEN,
        OperationalHaltStatus::TYPE => OperationalHaltStatus::LEN,
        ShortSalePriceTestStatus::TYPE => ShortSalePriceTestStatus::LEN,
        SecurityEvent::TYPE => SecurityEvent::LEN,
        PriceLevelUpdate::TYPE_BUY | PriceLevelUpdate::TYPE_SELL => PriceLevelUpdate::LEN,
        TradeReport::TYPE => TradeReport::LEN,
        OfficialPrice::TYPE => OfficialPrice::LEN,
        TradeBreak::TYPE => TradeBreak::LEN,
        AuctionInformation::TYPE => AuctionInformation::LEN,
        _ => return None,
    })
}

/// One DEEP 1.0 message, borrowed from the segment.
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
    /// `E`.
    SecurityEvent(&'a SecurityEvent),
    /// `8` (buy) or `5` (sell): see [`PriceLevelUpdate::side`].
    PriceLevelUpdate(&'a PriceLevelUpdate),
    /// `T`.
    TradeReport(&'a TradeReport),
    /// `X`.
    OfficialPrice(&'a OfficialPrice),
    /// `B`.
    TradeBreak(&'a TradeBreak),
    /// `A`.
    AuctionInformation(&'a AuctionInformation),
    /// A type DEEP 1.0 does not define (the type byte); IEX may add types without notice.
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
            SecurityEvent::TYPE => view(data).map(Message::SecurityEvent),
            PriceLevelUpdate::TYPE_BUY | PriceLevelUpdate::TYPE_SELL => {
                view(data).map(Message::PriceLevelUpdate)
            }
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
            Message::SecurityEvent(m) => m,
            Message::PriceLevelUpdate(m) => m,
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
            Message::SecurityEvent(m) => m.timestamp(),
            Message::PriceLevelUpdate(m) => m.timestamp(),
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
            Message::SecurityEvent(m) => m.message_type,
            Message::PriceLevelUpdate(m) => m.message_type,
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

/// Iterator over the DEEP messages of one segment: `(sequence number, message)`.
///
/// Built by [`crate::iextp::Segment::deep`]. Truncated messages are skipped; every outcome is
/// counted in the borrowed [`Counters`].
pub type Messages<'a, 'c> = MessagesOf<'a, 'c, Message<'a>>;

// Defined here rather than in `iextp` so that the transport does not depend on the families it
// carries (`deep` -> `iextp`, never back).
impl<'a> Segment<'a> {
    /// The DEEP messages of this segment. Yields nothing (and bumps `unknown_protocol`) when
    /// the protocol id is not DEEP 1.0.
    #[inline]
    pub fn deep<'c>(&self, c: &'c mut Counters) -> Messages<'a, 'c> {
        let blocks = if self.protocol() == Protocol::Deep {
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
    use crate::fields::FieldValue;
    use crate::iex_common::testutil::*;
    use crate::iextp::Counters;
    use crate::iextp::{Header, Segment, PROTOCOL_DEEP_1_0};
    use std::vec::Vec;
    use zerocopy::little_endian::U16;

    /// iex-deep-20231002-sai271828/test.pcap frame 2234 message 1.
    const PLU_BUY: &str = "3801d613e4ad91488a175442462020202020a60b000060d8030000000000";
    /// iex-deep-20231002-sai271828/test.pcap frame 2234 message 2.
    const PLU_SELL: &str = "35017e78f5ad91488a175442462020202020a60b000030e0030000000000";
    /// omi-data-packets Deep.IexTp.v1.0/PriceLevelBuyUpdateMessage.pcap frame 1 message 1.
    const PLU_BUY_OMI: &str = "3801be7f13353ae25d165620202020202020be000000b4f01e0000000000";
    /// omi-data-packets Deep.IexTp.v1.0/PriceLevelSellUpdateMessage.pcap frame 1 message 1.
    const PLU_SELL_OMI: &str = "35012ab9d8623ae25d16554e48202020202052000000f882340000000000";
    /// omi-data-packets DeepPlus.IexTp.1.0.2/E_SecurityEvent.pcap frame 1 message 1 (DEEP+
    /// carries `E` with the DEEP layout; no DEEP capture has one).
    const E_DEEPPLUS: &str = "454f307fca1e4e57fa174120202020202020";

    /// iex-deep-20231002-sai271828/test.pcap frame 2: 67 messages (S, then P O H I per symbol).
    pub(crate) const DEEP_FRAME_2: &str = "01000480010000000000b04c85054300000000000000000001000000000000009ddd10942e478a170a00534fc43b10942e478a1713005000c43b10942e478a1741202020202020202012004f4ec43b10942e478a17412020202020202016004854c43b10942e478a1741202020202020202020202012004920c43b10942e478a174120202020202020130050007c5510942e478a1741412020202020202012004f4e7c5510942e478a174141202020202020160048547c5510942e478a17414120202020202020202020120049207c5510942e478a17414120202020202013005000805e10942e478a1741414120202020202012004f4e805e10942e478a17414141202020202016004854805e10942e478a1741414120202020202020202012004920805e10942e478a174141412020202020130050003a6910942e478a1741414155202020202012004f4e3a6910942e478a174141415520202020160048543a6910942e478a17414141552020202020202020120049203a6910942e478a17414141552020202013005000b27210942e478a1741414320202020202012004f4eb27210942e478a17414143202020202016004854b27210942e478a1741414320202020202020202012004920b27210942e478a17414143202020202013005000f27610942e478a174141432b202020202012004f4ef27610942e478a174141432b2020202016004854f27610942e478a174141432b202020202020202012004920f27610942e478a174141432b2020202013005000648210942e478a174141433d202020202012004f4e648210942e478a174141433d2020202016004854648210942e478a174141433d202020202020202012004920648210942e478a174141433d20202020130050001e8c10942e478a1741414347202020202012004f4e1e8c10942e478a174141434720202020160048541e8c10942e478a17414143472020202020202020120049201e8c10942e478a1741414347202020201300500041a510942e478a1741414349202020202012004f4e41a510942e478a1741414349202020201600485441a510942e478a174141434920202020202020201200492041a510942e478a17414143492020202013005000eea510942e478a1741414349552020202012004f4eeea510942e478a17414143495520202016004854eea510942e478a1741414349552020202020202012004920eea510942e478a1741414349552020201300500073ac10942e478a1741414349572020202012004f4e73ac10942e478a1741414349572020201600485473ac10942e478a174141434957202020202020201200492073ac10942e478a17414143495720202013005000d3b410942e478a1741414354202020202012004f4ed3b410942e478a17414143542020202016004854d3b410942e478a1741414354202020202020202012004920d3b410942e478a17414143542020202013005000dabb10942e478a17414143542b2020202012004f4edabb10942e478a17414143542b20202016004854dabb10942e478a17414143542b2020202020202012004920dabb10942e478a17414143542b20202013005000a5ca10942e478a17414143543d2020202012004f4ea5ca10942e478a17414143543d20202016004854a5ca10942e478a17414143543d2020202020202012004920a5ca10942e478a17414143543d202020130050004ecd10942e478a1741414449202020202012004f4e4ecd10942e478a174141444920202020160048544ecd10942e478a17414144492020202020202020120049204ecd10942e478a174141444920202020130050003cd410942e478a1741414452202020202012004f4e3cd410942e478a174141445220202020160048543cd410942e478a17414144522020202020202020120049203cd410942e478a174141445220202020130050009ddd10942e478a1741414943202020202012004f4e9ddd10942e478a174141494320202020";

    fn plu(hexs: &str) -> (Vec<u8>, PriceLevelUpdate) {
        let b = hex(hexs);
        let m = match Message::parse(&b).unwrap() {
            Message::PriceLevelUpdate(p) => *p,
            other => panic!("not a PLU: {other:?}"),
        };
        (b, m)
    }

    #[test]
    fn price_level_update_buy_golden() {
        for (h, ts, sym, size, price) in [
            (PLU_BUY, "1696248000183276502", "TBF", "2982", "25.2"),
            (PLU_BUY_OMI, "1611692981294956478", "V", "190", "202.77"),
        ] {
            let (b, m) = plu(h);
            assert_fields(
                &m,
                &[
                    ("event_flags", "1"),
                    ("timestamp", ts),
                    ("symbol", sym),
                    ("size", size),
                    ("price", price),
                ],
            );
            assert_eq!(m.side(), Side::Buy);
            assert!(m.is_event_complete());
            assert_eq!(m.as_bytes(), &b[..]);
        }
        let (b, m) = plu(PLU_BUY);
        assert_eq!(m.price(), Price4::parse("25.2").unwrap());
        assert_eq!(m.size(), 2982);
        assert_eq!(m.symbol_str(), Some("TBF"));
        let built = PriceLevelUpdate {
            message_type: PriceLevelUpdate::TYPE_BUY,
            event_flags: EventFlags::EVENT_COMPLETE,
            timestamp: I64::new(1_696_248_000_183_276_502),
            symbol: *b"TBF     ",
            size: U32::new(2982),
            price: I64::new(252_000),
        };
        assert_eq!(built.as_bytes(), &b[..]);
        assert_eq!(fields_of(&built), fields_of(&m));
    }

    #[test]
    fn price_level_update_sell_golden() {
        for (h, ts, sym, size, price) in [
            (PLU_SELL, "1696248000184416382", "TBF", "2982", "25.4"),
            (PLU_SELL_OMI, "1611692982062856490", "UNH", "82", "344.14"),
        ] {
            let (b, m) = plu(h);
            assert_fields(
                &m,
                &[
                    ("event_flags", "1"),
                    ("timestamp", ts),
                    ("symbol", sym),
                    ("size", size),
                    ("price", price),
                ],
            );
            assert_eq!(m.side(), Side::Sell);
            assert_eq!(m.type_byte(), b'5');
            assert_eq!(m.as_bytes(), &b[..]);
        }
        let (b, m) = plu(PLU_SELL);
        let built = PriceLevelUpdate {
            message_type: PriceLevelUpdate::TYPE_SELL,
            event_flags: 1,
            timestamp: I64::new(1_696_248_000_184_416_382),
            symbol: *b"TBF     ",
            size: U32::new(2982),
            price: I64::new(254_000),
        };
        assert_eq!(built.as_bytes(), &b[..]);
        assert_eq!(fields_of(&built), fields_of(&m));
    }

    #[test]
    fn event_flags_in_transition_and_removal() {
        // Hand-built from the spec: flag 0 (book in transition), size 0 (level removed).
        let built = PriceLevelUpdate {
            message_type: b'5',
            event_flags: 0,
            timestamp: I64::new(1),
            symbol: *b"ZIEXT   ",
            size: U32::new(0),
            price: I64::new(251_000),
        };
        let m = match Message::parse(built.as_bytes()).unwrap() {
            Message::PriceLevelUpdate(p) => p,
            other => panic!("{other:?}"),
        };
        assert!(!m.is_event_complete());
        assert_eq!(m.size(), 0);
        assert_eq!(m.price(), Price4::parse("25.10").unwrap());
        assert!(EventFlags(1).is_event_complete());
        assert!(!EventFlags(0).is_event_complete());
    }

    #[test]
    fn security_event_golden() {
        let b = hex(E_DEEPPLUS);
        let Ok(Message::SecurityEvent(m)) = Message::parse(&b) else {
            panic!("not E")
        };
        assert_fields(
            m,
            &[
                ("security_event", "O"),
                ("timestamp", "1727789400085659440"),
                ("symbol", "A"),
            ],
        );
        let built = SecurityEvent {
            message_type: b'E',
            security_event: b'O',
            timestamp: I64::new(1_727_789_400_085_659_440),
            symbol: *b"A       ",
        };
        assert_eq!(built.as_bytes(), &b[..]);
        assert_eq!(fields_of(&built), fields_of(m));
    }

    /// Every DEEP type dispatches to its own variant, with the same fields as the struct view.
    #[test]
    fn every_deep_type_dispatches() {
        let mut all: Vec<(u8, Vec<u8>)> = GOLDEN.iter().map(|(t, h)| (*t, hex(h))).collect();
        all.push((b'8', hex(PLU_BUY)));
        all.push((b'5', hex(PLU_SELL)));
        all.push((b'E', hex(E_DEEPPLUS)));
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
                    | (b'E', Message::SecurityEvent(_))
                    | (b'8' | b'5', Message::PriceLevelUpdate(_))
                    | (b'T', Message::TradeReport(_))
                    | (b'X', Message::OfficialPrice(_))
                    | (b'B', Message::TradeBreak(_))
                    | (b'A', Message::AuctionInformation(_))
            );
            assert!(ok, "{} -> {m:?}", *t as char);
            assert_eq!(fields_of(&m), fields_of(m.as_fields().unwrap()));
            assert!(!fields_of(&m).is_empty());
            let ts = fields_of(&m)
                .into_iter()
                .find(|(k, _)| *k == "timestamp")
                .unwrap()
                .1;
            assert_eq!(std::format!("{}", m.timestamp().unwrap()), ts);
            // One byte short of the spec is a counted error, never a view.
            assert_eq!(
                Message::parse(&b[..b.len() - 1]),
                Err(MessageError::Truncated(*t))
            );
        }
        // `Q` is TOPS only: unknown in DEEP.
        assert_eq!(Message::parse(b"Q"), Ok(Message::Unknown(b'Q')));
        assert_eq!(Message::parse(&[]), Err(MessageError::Empty));
        let u = Message::Unknown(b'z');
        assert_eq!(u.type_byte(), b'z');
        assert!(fields_of(&u).is_empty() && u.timestamp().is_none());
    }

    /// Builds a DEEP segment holding `blocks`.
    fn segment_bytes(blocks: &[&[u8]]) -> Vec<u8> {
        let mut payload = Vec::new();
        for b in blocks {
            payload.extend_from_slice(&(b.len() as u16).to_le_bytes());
            payload.extend_from_slice(b);
        }
        let mut h = Header::read_from_bytes(&hex(DEEP_FRAME_2)[..40]).unwrap();
        h.message_protocol_id = U16::new(PROTOCOL_DEEP_1_0);
        h.payload_length = U16::new(payload.len() as u16);
        h.message_count = U16::new(blocks.len() as u16);
        let mut v = h.as_bytes().to_vec();
        v.extend_from_slice(&payload);
        v
    }

    #[test]
    fn iterator_skips_and_counts() {
        let buy = hex(PLU_BUY);
        let mut long = hex(PLU_SELL);
        long.extend_from_slice(&[0xab; 6]); // IEX appended fields: still decodes
        let short = &buy[..29];
        let bytes = segment_bytes(&[&buy, b"", short, b"\x7fnew type", &long, b"Q0123"]);
        let seg = Segment::parse(&bytes).unwrap();
        let mut c = Counters::new();
        let got: Vec<(u64, Message<'_>)> = seg.deep(&mut c).collect();
        // Sequence numbers are implicit and count the skipped blocks too.
        let first = seg.first_seq();
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].0, first);
        assert!(matches!(got[0].1, Message::PriceLevelUpdate(p) if p.side() == Side::Buy));
        assert_eq!(got[1], (first + 3, Message::Unknown(0x7f)));
        let Message::PriceLevelUpdate(p) = got[2].1 else {
            panic!("{:?}", got[2])
        };
        assert_eq!(
            (got[2].0, p.side(), p.size()),
            (first + 4, Side::Sell, 2982)
        );
        assert_eq!(got[3], (first + 5, Message::Unknown(b'Q')));
        assert_eq!(c.messages, 2);
        assert_eq!(c.truncated, 2, "empty block and 29-byte PLU");
        assert_eq!(c.unknown_types, 2);
        assert_eq!(c.oversized, 1);
        assert_eq!(c.unknown_protocol, 0);
    }

    /// `Segment::deep`/`Segment::tops` (defined in `deep` and `tops`) check the protocol id.
    #[test]
    fn wrong_protocol_is_counted_and_yields_nothing() {
        fn segment(b: &[u8]) -> Segment<'_> {
            Segment::parse(b).unwrap()
        }
        let deep = segment_bytes(&[b"S\x4f12345678"]);
        let mut other = deep.clone();
        other[2..4].copy_from_slice(&0x8005u16.to_le_bytes());
        let mut tops = deep.clone();
        tops[2..4].copy_from_slice(&crate::iextp::PROTOCOL_TOPS_1_6.to_le_bytes());
        let heartbeat = segment_bytes(&[]);
        let mut c = Counters::new();
        assert_eq!(segment(&deep).tops(&mut c).count(), 0);
        assert_eq!(segment(&tops).deep(&mut c).count(), 0);
        assert_eq!(segment(&other).deep(&mut c).count(), 0);
        assert_eq!(segment(&other).tops(&mut c).count(), 0);
        assert_eq!(c.unknown_protocol, 4);
        assert_eq!(segment(&heartbeat).deep(&mut c).count(), 0);
        assert_eq!(segment(&deep).deep(&mut c).count(), 1);
        assert_eq!(c.unknown_protocol, 4);
        assert_eq!(c.messages, 1);
    }

    #[test]
    fn real_segment_of_67_messages() {
        let bytes = hex(DEEP_FRAME_2);
        let seg = Segment::parse(&bytes).unwrap();
        let mut c = Counters::new();
        let msgs: Vec<_> = seg.deep(&mut c).collect();
        // Oracle: frame 2 has 67 messages, seq 1..=67: S, then P O H I for A, AA, AAA, ...
        assert_eq!(msgs.len(), 67);
        assert_eq!(c.messages, 67);
        assert_eq!(c.truncated + c.unknown_types + c.oversized, 0);
        assert_eq!(msgs.first().unwrap().0, 1);
        assert_eq!(msgs.last().unwrap().0, 67);
        let types: std::string::String = msgs[..9]
            .iter()
            .map(|(_, m)| m.type_byte() as char)
            .collect();
        assert_eq!(types, "SPOHIPOHI");
        let Message::OperationalHaltStatus(o) = msgs[66].1 else {
            panic!("{:?}", msgs[66])
        };
        assert_eq!(o.symbol(), b"AAIC");
    }

    /// xorshift64*: deterministic pseudo-random bytes for the robustness test.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn fill(&mut self, b: &mut [u8]) {
            for x in b {
                *x = self.next() as u8;
            }
        }
    }

    struct Sink(usize);
    impl FieldVisitor for Sink {
        fn field(&mut self, name: &'static str, _v: FieldValue<'_>) {
            self.0 += name.len();
        }
    }

    /// Parses `bytes` as a segment, walks it as DEEP and as TOPS, visits every field, and
    /// checks the counters account for every block.
    fn exercise(bytes: &[u8], c: &mut Counters) {
        let Some(seg) = Segment::parse_counted(bytes, c) else {
            return;
        };
        assert_eq!(seg.blocks().count(), usize::from(seg.message_count()));
        let mut sink = Sink(0);
        seg.header().visit_fields(&mut sink);
        for deep in [true, false] {
            let before = *c;
            let mut n = 0u64;
            if deep {
                for (_, m) in seg.deep(c) {
                    m.visit_fields(&mut sink);
                    let _ = m.type_byte();
                    n += 1;
                }
            } else {
                for (_, m) in seg.tops(c) {
                    m.visit_fields(&mut sink);
                    n += 1;
                }
            }
            let yielded = (c.messages - before.messages) + (c.unknown_types - before.unknown_types);
            assert_eq!(n, yielded);
            let decoded = yielded + (c.truncated - before.truncated);
            if c.unknown_protocol == before.unknown_protocol {
                assert_eq!(decoded, u64::from(seg.message_count()));
            } else {
                assert_eq!(decoded, 0);
            }
        }
    }

    const TYPES: &[u8] = b"SDHIOPE85QTXBAz\x00";

    /// A segment with a valid header and random blocks (random types and lengths around the
    /// spec sizes); sometimes a header field is off by one.
    fn random_segment(r: &mut Rng, template: &Header) -> Vec<u8> {
        let count = r.below(8) as usize;
        let mut payload = Vec::new();
        for _ in 0..count {
            let t = TYPES[r.below(TYPES.len() as u64) as usize];
            let base = spec_len(t).unwrap_or(10) as i64;
            let len = (base + r.below(7) as i64 - 3).max(0) as usize;
            let mut body = std::vec![0u8; len];
            r.fill(&mut body);
            if let Some(b) = body.first_mut() {
                *b = t;
            }
            payload.extend_from_slice(&(len as u16).to_le_bytes());
            payload.extend_from_slice(&body);
        }
        let mut h = *template;
        let protos = [0x8004u16, 0x8003, 0x8002, 0x8005];
        h.message_protocol_id = U16::new(protos[r.below(4) as usize]);
        h.payload_length = U16::new(payload.len() as u16);
        h.message_count = U16::new(count as u16);
        match r.below(6) {
            0 => h.message_count = U16::new(h.message_count.get().wrapping_add(1)),
            1 => h.message_count = U16::new(h.message_count.get().wrapping_sub(1)),
            2 => h.payload_length = U16::new(h.payload_length.get().wrapping_sub(1)),
            _ => {}
        }
        let mut v = h.as_bytes().to_vec();
        v.extend_from_slice(&payload);
        if r.below(8) == 0 {
            v.push(0);
        }
        v
    }

    /// Never panics, whatever the bytes: random buffers, random well-framed segments with
    /// random messages, every truncation and many single-byte mutations of real segments.
    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        let mut c = Counters::new();
        for _ in 0..20_000 {
            let len = r.below(160) as usize;
            let mut b = std::vec![0u8; len];
            r.fill(&mut b);
            if len > 0 && r.below(2) == 0 {
                b[0] = 1; // get past the version check more often
            }
            exercise(&b, &mut c);
        }
        let template = Header::read_from_bytes(&hex(DEEP_FRAME_2)[..40]).unwrap();
        for _ in 0..20_000 {
            let b = random_segment(&mut r, &template);
            exercise(&b, &mut c);
        }
        let reals = [
            hex(DEEP_FRAME_2),
            segment_bytes(&[&hex(PLU_BUY), &hex(PLU_SELL)]),
        ];
        for real in &reals {
            for cut in 0..real.len() {
                let before = c.malformed.total();
                exercise(&real[..cut], &mut c);
                assert_eq!(c.malformed.total(), before + 1, "every cut is malformed");
            }
            for pos in 0..real.len() {
                for x in [0u8, 0xff, r.next() as u8] {
                    let mut m = real.clone();
                    m[pos] = x;
                    exercise(&m, &mut c);
                }
            }
        }
        // Every prefix of every golden message through both message parsers.
        let mut goldens: Vec<Vec<u8>> = GOLDEN.iter().map(|(_, h)| hex(h)).collect();
        goldens.extend([hex(PLU_BUY), hex(E_DEEPPLUS)]);
        for g in &goldens {
            for cut in 0..=g.len() {
                let _ = Message::parse(&g[..cut]);
                let _ = crate::tops::Message::parse(&g[..cut]);
            }
        }
        // The random inputs reached every outcome.
        assert!(c.segments > 1000 && c.heartbeats > 0 && c.messages > 1000);
        assert!(c.unknown_types > 0 && c.truncated > 0 && c.oversized > 0);
        let m = c.malformed;
        assert!(m.too_short > 0 && m.unsupported_version > 0 && m.payload_truncated > 0);
        assert!(m.trailing_bytes > 0, "{m:?}");
        assert!(m.block_overrun > 0 && m.missing_blocks > 0, "{m:?}");
        assert!(m.extra_bytes > 0 && c.unknown_protocol > 0);
    }
}
