//! Messages shared by IEX DEEP 1.0 and TOPS 1.6 (same type byte, same layout in both feeds).
//!
//! Each struct is a `#[repr(C)]` view over the message bytes as they lie in the segment (byte 0
//! is the type), built from little-endian field types, so a `&T` can be cast from any byte
//! offset. Sizes are asserted at compile time against the spec tables. Accessors never fail:
//! timestamps are `u64` ns since the Unix epoch (`i64` on the wire, never negative),
//! prices are [`Price4`] (4 implied decimals), symbols are trimmed of their space padding,
//! flag bytes are small typed wrappers ([`SaleConditions`], [`SecurityDirectoryFlags`]).
//!
//! The DEEP-only (`E`, `8`, `5`) and TOPS-only (`Q`) messages live in the `deep` and `tops`
//! modules; both re-export everything here. This module depends on neither of them nor on
//! `iextp` (they all depend on it).
//!
//! ## Field names ([`Fields`]) and the oracle decode
//! Every view visits its fields in wire order (the type byte excepted) under its spec name in
//! `snake_case`, except the two bytes the spec just calls "Flags", which take the dissector's
//! specific name (`security_directory_flags`, `quote_update_flags`). With underscores removed
//! the names equal the keys of the OMI Wireshark dissector decodes in
//! `shared/pcaps/real/*/oracle/`. The differences are in how values are printed:
//!
//! | visited name | spec field | oracle key(s) and format |
//! |---|---|---|
//! | `security_directory_flags` (`D`) | Flags | `securitydirectoryflags`: names of the set bits (`"Test Security"`), key absent when 0; bits also as `testsecurity` (0x80), `whenissued` (0x40), `etp` (0x20), `unused5` (low 5 bits) |
//! | `quote_update_flags` (`Q`) | Flags | `quoteupdateflags`: names of the set bits, absent when 0; bits as `symbolavailability` (0x80), `marketsession` (0x40), `unused6` (low 6 bits) |
//! | `sale_condition_flags` (`T`, `B`) | Sale Condition Flags | `saleconditionflags`: names of the set bits (`"Odd Lot\|Extended Hours"`), absent when 0; bits as `intermarketsweep` (0x80), `extendedhours` (0x40), `oddlot` (0x20), `tradethroughexempt` (0x10), `singlepricecrosstrade` (0x08), `unused3` (low 3 bits); TOPS 1.56 dissector: no `singlepricecrosstrade`, `unused4` (low 4 bits) |
//! | `symbol`, `reason` | Symbol, Reason | trimmed; the key is absent when the field is all spaces (e.g. `reason` for status `T`) |
//! | price fields ([`FieldValue::Price4`]) | Price | decimal string without trailing zeros (`"25.2"`, `"100"`): compare as exact decimals |
//! | `extension_number` (`A`) | Extension Number | not printed by the TOPS 1.56 dissector |
//! | char fields ([`FieldValue::Char`]) | e.g. Detail | one-character string, a space kept (`" "`) |
//!
//! The oracle's block-level keys `messageindex`, `messagelength` and `messagetype` are not
//! message fields: they come from `iextp::Blocks` and [`Fields::type_byte`].

use zerocopy::little_endian::{I64, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::fields::{trim_alpha, FieldValue, FieldVisitor, Fields};
use crate::price::{Fixed, Price4};

/// Casts the start of `data` to `T` if it is long enough (a longer message is accepted: IEX
/// may append fields). Never panics.
#[inline]
pub(crate) fn view<T: FromBytes + KnownLayout + Immutable>(data: &[u8]) -> Option<&T> {
    T::ref_from_prefix(data).ok().map(|(t, _)| t)
}

#[inline]
fn ts(v: I64) -> u64 {
    v.get() as u64
}

/// Timestamp and symbol accessors shared by the message views.
macro_rules! timestamp_accessor {
    ($t:ty) => {
        impl $t {
            /// Event time, ns since the Unix epoch (UTC).
            #[inline]
            pub fn timestamp(&self) -> u64 {
                self.timestamp.get() as u64
            }
        }
    };
}
macro_rules! symbol_accessors {
    ($t:ty) => {
        impl $t {
            /// Symbol with its space padding removed.
            #[inline]
            pub fn symbol(&self) -> &[u8] {
                $crate::fields::trim_alpha(&self.symbol)
            }
            /// Symbol as `&str` (`None` if not valid UTF-8, which IEX never sends).
            #[inline]
            pub fn symbol_str(&self) -> Option<&str> {
                core::str::from_utf8(self.symbol()).ok()
            }
        }
    };
}
pub(crate) use {symbol_accessors, timestamp_accessor};

/// Declares the wire-struct constants `TYPE` and `LEN` and the compile-time size assert.
macro_rules! wire_consts {
    ($t:ty, $type:expr, $len:expr) => {
        impl $t {
            /// Message type byte.
            pub const TYPE: u8 = $type;
            /// Size in the spec table (the minimum accepted message length).
            pub const LEN: usize = $len;
        }
        const _: () = assert!(core::mem::size_of::<$t>() == $len);
    };
}
pub(crate) use wire_consts;

/// Why a DEEP or TOPS message could not be decoded (`deep::Message::parse`,
/// `tops::Message::parse`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageError {
    /// Zero-length message block.
    Empty,
    /// Shorter than the spec size of its type (the type byte is given).
    Truncated(u8),
}

/// Symbol field: 8 ASCII bytes, left-justified, space-padded.
pub type Symbol = [u8; 8];

// ---------------------------------------------------------------------------------------------
// Flag bytes

/// `T`/`B` Sale Condition Flags (spec table E4). Unlisted bits are ignored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SaleConditions(pub u8);

impl SaleConditions {
    /// 0x80: intermarket sweep order.
    pub const ISO: u8 = 0x80;
    /// 0x40: extended-hours trade (Form T).
    pub const EXTENDED_HOURS: u8 = 0x40;
    /// 0x20: odd-lot trade.
    pub const ODD_LOT: u8 = 0x20;
    /// 0x10: trade-through exempt.
    pub const TRADE_THROUGH_EXEMPT: u8 = 0x10;
    /// 0x08: single-price cross trade.
    pub const SINGLE_PRICE_CROSS: u8 = 0x08;

    /// Intermarket sweep order.
    #[inline]
    pub const fn is_iso(self) -> bool {
        self.0 & Self::ISO != 0
    }
    /// Extended-hours trade (Form T).
    #[inline]
    pub const fn is_extended_hours(self) -> bool {
        self.0 & Self::EXTENDED_HOURS != 0
    }
    /// Odd-lot trade.
    #[inline]
    pub const fn is_odd_lot(self) -> bool {
        self.0 & Self::ODD_LOT != 0
    }
    /// Trade-through exempt (not subject to Rule 611).
    #[inline]
    pub const fn is_trade_through_exempt(self) -> bool {
        self.0 & Self::TRADE_THROUGH_EXEMPT != 0
    }
    /// Single-price cross trade.
    #[inline]
    pub const fn is_single_price_cross(self) -> bool {
        self.0 & Self::SINGLE_PRICE_CROSS != 0
    }
    /// Eligible for last sale and high/low: neither extended-hours nor odd-lot.
    #[inline]
    pub const fn is_last_sale_eligible(self) -> bool {
        self.0 & (Self::EXTENDED_HOURS | Self::ODD_LOT) == 0
    }
}

/// `D` Security Directory Flags (spec table E4). Unlisted bits are ignored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SecurityDirectoryFlags(pub u8);

impl SecurityDirectoryFlags {
    /// 0x80: test security.
    pub const TEST_SECURITY: u8 = 0x80;
    /// 0x40: when-issued security.
    pub const WHEN_ISSUED: u8 = 0x40;
    /// 0x20: exchange-traded product.
    pub const ETP: u8 = 0x20;

    /// Test security.
    #[inline]
    pub const fn is_test_security(self) -> bool {
        self.0 & Self::TEST_SECURITY != 0
    }
    /// When-issued security.
    #[inline]
    pub const fn is_when_issued(self) -> bool {
        self.0 & Self::WHEN_ISSUED != 0
    }
    /// Exchange-traded product.
    #[inline]
    pub const fn is_etp(self) -> bool {
        self.0 & Self::ETP != 0
    }
}

// ---------------------------------------------------------------------------------------------
// S System Event

/// `S` System Event codes (spec table E1).
pub mod system_event {
    /// Start of messages.
    pub const START_OF_MESSAGES: u8 = b'O';
    /// Start of system hours.
    pub const START_OF_SYSTEM_HOURS: u8 = b'S';
    /// Start of regular market hours.
    pub const START_OF_REGULAR_MARKET_HOURS: u8 = b'R';
    /// End of regular market hours.
    pub const END_OF_REGULAR_MARKET_HOURS: u8 = b'M';
    /// End of system hours.
    pub const END_OF_SYSTEM_HOURS: u8 = b'E';
    /// End of messages (always last).
    pub const END_OF_MESSAGES: u8 = b'C';
}

/// `S` (0x53) System Event, 10 bytes.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq, Hash,
)]
#[repr(C)]
pub struct SystemEvent {
    /// `S`.
    pub message_type: u8,
    /// Event code ([`system_event`]).
    pub system_event: u8,
    /// ns since the Unix epoch.
    pub timestamp: I64,
}
wire_consts!(SystemEvent, b'S', 10);
timestamp_accessor!(SystemEvent);

impl Fields for SystemEvent {
    fn type_byte(&self) -> u8 {
        self.message_type
    }
    fn visit_fields(&self, v: &mut dyn FieldVisitor) {
        v.field("system_event", FieldValue::Char(self.system_event));
        v.field("timestamp", FieldValue::U64(ts(self.timestamp)));
    }
}

// ---------------------------------------------------------------------------------------------
// D Security Directory

/// `D` (0x44) Security Directory, 31 bytes.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq, Hash,
)]
#[repr(C)]
pub struct SecurityDirectory {
    /// `D`.
    pub message_type: u8,
    /// Flag bits ([`SecurityDirectoryFlags`]); visited as `security_directory_flags`.
    pub flags: u8,
    /// ns since the Unix epoch.
    pub timestamp: I64,
    /// Space-padded symbol.
    pub symbol: Symbol,
    /// Shares per round lot.
    pub round_lot_size: U32,
    /// Previous official close adjusted for corporate actions (4 decimals).
    pub adjusted_poc_price: I64,
    /// `0` n/a, `1` Tier 1 NMS stock, `2` Tier 2 NMS stock.
    pub luld_tier: u8,
}
wire_consts!(SecurityDirectory, b'D', 31);
timestamp_accessor!(SecurityDirectory);
symbol_accessors!(SecurityDirectory);

impl SecurityDirectory {
    /// Typed flag bits.
    #[inline]
    pub fn flags(&self) -> SecurityDirectoryFlags {
        SecurityDirectoryFlags(self.flags)
    }
    /// Shares per round lot.
    #[inline]
    pub fn round_lot_size(&self) -> u32 {
        self.round_lot_size.get()
    }
    /// Adjusted previous official closing price.
    #[inline]
    pub fn adjusted_poc_price(&self) -> Price4 {
        Fixed(self.adjusted_poc_price.get())
    }
}

impl Fields for SecurityDirectory {
    fn type_byte(&self) -> u8 {
        self.message_type
    }
    fn visit_fields(&self, v: &mut dyn FieldVisitor) {
        v.field(
            "security_directory_flags",
            FieldValue::U64(self.flags.into()),
        );
        v.field("timestamp", FieldValue::U64(ts(self.timestamp)));
        v.field("symbol", FieldValue::Alpha(trim_alpha(&self.symbol)));
        v.field(
            "round_lot_size",
            FieldValue::U64(self.round_lot_size.get().into()),
        );
        v.field(
            "adjusted_poc_price",
            FieldValue::Price4(self.adjusted_poc_price()),
        );
        v.field("luld_tier", FieldValue::U64(self.luld_tier.into()));
    }
}

// ---------------------------------------------------------------------------------------------
// H Trading Status

/// `H` Trading Status codes (spec table E2).
pub mod trading_status {
    /// Halted across all US equity markets.
    pub const HALTED: u8 = b'H';
    /// Halt released into an order acceptance period on IEX.
    pub const ORDER_ACCEPTANCE_PERIOD: u8 = b'O';
    /// Paused with an order acceptance period on IEX.
    pub const PAUSED: u8 = b'P';
    /// Trading on IEX.
    pub const TRADING: u8 = b'T';
}

/// `H` (0x48) Trading Status, 22 bytes.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq, Hash,
)]
#[repr(C)]
pub struct TradingStatus {
    /// `H`.
    pub message_type: u8,
    /// Status code ([`trading_status`]).
    pub trading_status: u8,
    /// ns since the Unix epoch.
    pub timestamp: I64,
    /// Space-padded symbol.
    pub symbol: Symbol,
    /// Reason (`T1`, `IPO1`, `NA`, …), space-padded; blank for `P`/`T`.
    pub reason: [u8; 4],
}
wire_consts!(TradingStatus, b'H', 22);
timestamp_accessor!(TradingStatus);
symbol_accessors!(TradingStatus);

impl TradingStatus {
    /// Reason with its space padding removed (empty when blank).
    #[inline]
    pub fn reason(&self) -> &[u8] {
        trim_alpha(&self.reason)
    }
}

impl Fields for TradingStatus {
    fn type_byte(&self) -> u8 {
        self.message_type
    }
    fn visit_fields(&self, v: &mut dyn FieldVisitor) {
        v.field("trading_status", FieldValue::Char(self.trading_status));
        v.field("timestamp", FieldValue::U64(ts(self.timestamp)));
        v.field("symbol", FieldValue::Alpha(trim_alpha(&self.symbol)));
        v.field("reason", FieldValue::Alpha(trim_alpha(&self.reason)));
    }
}

// ---------------------------------------------------------------------------------------------
// I Retail Liquidity Indicator

/// `I` (0x49) Retail Liquidity Indicator, 18 bytes.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq, Hash,
)]
#[repr(C)]
pub struct RetailLiquidityIndicator {
    /// `I`.
    pub message_type: u8,
    /// Space none, `A` retail buy interest, `B` retail sell interest, `C` both.
    pub retail_liquidity_indicator: u8,
    /// ns since the Unix epoch.
    pub timestamp: I64,
    /// Space-padded symbol.
    pub symbol: Symbol,
}
wire_consts!(RetailLiquidityIndicator, b'I', 18);
timestamp_accessor!(RetailLiquidityIndicator);
symbol_accessors!(RetailLiquidityIndicator);

impl Fields for RetailLiquidityIndicator {
    fn type_byte(&self) -> u8 {
        self.message_type
    }
    fn visit_fields(&self, v: &mut dyn FieldVisitor) {
        v.field(
            "retail_liquidity_indicator",
            FieldValue::Char(self.retail_liquidity_indicator),
        );
        v.field("timestamp", FieldValue::U64(ts(self.timestamp)));
        v.field("symbol", FieldValue::Alpha(trim_alpha(&self.symbol)));
    }
}

// ---------------------------------------------------------------------------------------------
// O Operational Halt Status

/// `O` (0x4F) Operational Halt Status, 18 bytes.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq, Hash,
)]
#[repr(C)]
pub struct OperationalHaltStatus {
    /// `O`.
    pub message_type: u8,
    /// `O` operationally halted on IEX, `N` not halted.
    pub operational_halt_status: u8,
    /// ns since the Unix epoch.
    pub timestamp: I64,
    /// Space-padded symbol.
    pub symbol: Symbol,
}
wire_consts!(OperationalHaltStatus, b'O', 18);
timestamp_accessor!(OperationalHaltStatus);
symbol_accessors!(OperationalHaltStatus);

impl OperationalHaltStatus {
    /// True when IEX has operationally halted the symbol (status `O`).
    #[inline]
    pub fn is_halted(&self) -> bool {
        self.operational_halt_status == b'O'
    }
}

impl Fields for OperationalHaltStatus {
    fn type_byte(&self) -> u8 {
        self.message_type
    }
    fn visit_fields(&self, v: &mut dyn FieldVisitor) {
        v.field(
            "operational_halt_status",
            FieldValue::Char(self.operational_halt_status),
        );
        v.field("timestamp", FieldValue::U64(ts(self.timestamp)));
        v.field("symbol", FieldValue::Alpha(trim_alpha(&self.symbol)));
    }
}

// ---------------------------------------------------------------------------------------------
// P Short Sale Price Test Status

/// `P` (0x50) Short Sale Price Test Status, 19 bytes.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq, Hash,
)]
#[repr(C)]
pub struct ShortSalePriceTestStatus {
    /// `P`.
    pub message_type: u8,
    /// `0` Rule 201 price test not in effect, `1` in effect.
    pub short_sale_price_test_status: u8,
    /// ns since the Unix epoch.
    pub timestamp: I64,
    /// Space-padded symbol.
    pub symbol: Symbol,
    /// Space none, `A` activated, `C` continued, `D` deactivated, `N` not available.
    pub detail: u8,
}
wire_consts!(ShortSalePriceTestStatus, b'P', 19);
timestamp_accessor!(ShortSalePriceTestStatus);
symbol_accessors!(ShortSalePriceTestStatus);

impl ShortSalePriceTestStatus {
    /// True when the Rule 201 price test is in effect.
    #[inline]
    pub fn in_effect(&self) -> bool {
        self.short_sale_price_test_status != 0
    }
}

impl Fields for ShortSalePriceTestStatus {
    fn type_byte(&self) -> u8 {
        self.message_type
    }
    fn visit_fields(&self, v: &mut dyn FieldVisitor) {
        v.field(
            "short_sale_price_test_status",
            FieldValue::U64(self.short_sale_price_test_status.into()),
        );
        v.field("timestamp", FieldValue::U64(ts(self.timestamp)));
        v.field("symbol", FieldValue::Alpha(trim_alpha(&self.symbol)));
        v.field("detail", FieldValue::Char(self.detail));
    }
}

// ---------------------------------------------------------------------------------------------
// T Trade Report, B Trade Break

/// `T` (0x54) Trade Report, 38 bytes.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq, Hash,
)]
#[repr(C)]
pub struct TradeReport {
    /// `T`.
    pub message_type: u8,
    /// Flag bits ([`SaleConditions`]).
    pub sale_condition_flags: u8,
    /// ns since the Unix epoch.
    pub timestamp: I64,
    /// Space-padded symbol.
    pub symbol: Symbol,
    /// Shares traded.
    pub size: U32,
    /// Execution price (4 decimals).
    pub price: I64,
    /// Day-unique trade id.
    pub trade_id: I64,
}

/// `B` (0x42) Trade Break, 38 bytes: cancels the Trade Report with the same trade id.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq, Hash,
)]
#[repr(C)]
pub struct TradeBreak {
    /// `B`.
    pub message_type: u8,
    /// Flag bits ([`SaleConditions`]) of the broken trade.
    pub sale_condition_flags: u8,
    /// ns since the Unix epoch.
    pub timestamp: I64,
    /// Space-padded symbol.
    pub symbol: Symbol,
    /// Shares of the broken trade.
    pub size: U32,
    /// Price of the broken trade (4 decimals).
    pub price: I64,
    /// Trade id of the earlier Trade Report.
    pub trade_id: I64,
}

/// Accessors and [`Fields`] of the two trade-shaped messages (same layout).
macro_rules! trade_like {
    ($name:ident, $type:expr) => {
        wire_consts!($name, $type, 38);
        timestamp_accessor!($name);
        symbol_accessors!($name);

        impl $name {
            /// Typed sale condition flags.
            #[inline]
            pub fn sale_conditions(&self) -> SaleConditions {
                SaleConditions(self.sale_condition_flags)
            }
            /// Shares.
            #[inline]
            pub fn size(&self) -> u32 {
                self.size.get()
            }
            /// Price.
            #[inline]
            pub fn price(&self) -> Price4 {
                Fixed(self.price.get())
            }
            /// Trade id.
            #[inline]
            pub fn trade_id(&self) -> i64 {
                self.trade_id.get()
            }
        }

        impl Fields for $name {
            fn type_byte(&self) -> u8 {
                self.message_type
            }
            fn visit_fields(&self, v: &mut dyn FieldVisitor) {
                v.field(
                    "sale_condition_flags",
                    FieldValue::U64(self.sale_condition_flags.into()),
                );
                v.field("timestamp", FieldValue::U64(ts(self.timestamp)));
                v.field("symbol", FieldValue::Alpha(trim_alpha(&self.symbol)));
                v.field("size", FieldValue::U64(self.size.get().into()));
                v.field("price", FieldValue::Price4(self.price()));
                v.field("trade_id", FieldValue::I64(self.trade_id.get()));
            }
        }
    };
}

trade_like!(TradeReport, b'T');
trade_like!(TradeBreak, b'B');

// ---------------------------------------------------------------------------------------------
// X Official Price

/// `X` (0x58) Official Price, 26 bytes.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq, Hash,
)]
#[repr(C)]
pub struct OfficialPrice {
    /// `X`.
    pub message_type: u8,
    /// `Q` official opening price, `M` official closing price.
    pub price_type: u8,
    /// ns since the Unix epoch.
    pub timestamp: I64,
    /// Space-padded symbol.
    pub symbol: Symbol,
    /// Official price (4 decimals).
    pub official_price: I64,
}
wire_consts!(OfficialPrice, b'X', 26);
timestamp_accessor!(OfficialPrice);
symbol_accessors!(OfficialPrice);

impl OfficialPrice {
    /// Official opening or closing price.
    #[inline]
    pub fn official_price(&self) -> Price4 {
        Fixed(self.official_price.get())
    }
}

impl Fields for OfficialPrice {
    fn type_byte(&self) -> u8 {
        self.message_type
    }
    fn visit_fields(&self, v: &mut dyn FieldVisitor) {
        v.field("price_type", FieldValue::Char(self.price_type));
        v.field("timestamp", FieldValue::U64(ts(self.timestamp)));
        v.field("symbol", FieldValue::Alpha(trim_alpha(&self.symbol)));
        v.field("official_price", FieldValue::Price4(self.official_price()));
    }
}

// ---------------------------------------------------------------------------------------------
// A Auction Information

/// `A` (0x41) Auction Information, 80 bytes.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq, Hash,
)]
#[repr(C)]
pub struct AuctionInformation {
    /// `A`.
    pub message_type: u8,
    /// `O` opening, `C` closing, `I` IPO, `H` halt, `V` volatility.
    pub auction_type: u8,
    /// ns since the Unix epoch.
    pub timestamp: I64,
    /// Space-padded symbol.
    pub symbol: Symbol,
    /// Shares paired at the reference price.
    pub paired_shares: U32,
    /// Reference price.
    pub reference_price: I64,
    /// Indicative clearing price.
    pub indicative_clearing_price: I64,
    /// Unpaired shares at the reference price.
    pub imbalance_shares: U32,
    /// `B` buy-side, `S` sell-side, `N` none.
    pub imbalance_side: u8,
    /// Automatic extensions received.
    pub extension_number: u8,
    /// Projected match time, **seconds** since the Unix epoch.
    pub scheduled_auction_time: U32,
    /// Clearing price using auction-book orders.
    pub auction_book_clearing_price: I64,
    /// Collar reference price (0 if no collar).
    pub collar_reference_price: I64,
    /// Lower auction collar (0 if unused).
    pub lower_auction_collar: I64,
    /// Upper auction collar (0 if unused).
    pub upper_auction_collar: I64,
}
wire_consts!(AuctionInformation, b'A', 80);
timestamp_accessor!(AuctionInformation);
symbol_accessors!(AuctionInformation);

impl AuctionInformation {
    /// Shares paired at the reference price.
    #[inline]
    pub fn paired_shares(&self) -> u32 {
        self.paired_shares.get()
    }
    /// Unpaired shares at the reference price.
    #[inline]
    pub fn imbalance_shares(&self) -> u32 {
        self.imbalance_shares.get()
    }
    /// Reference price.
    #[inline]
    pub fn reference_price(&self) -> Price4 {
        Fixed(self.reference_price.get())
    }
    /// Indicative clearing price.
    #[inline]
    pub fn indicative_clearing_price(&self) -> Price4 {
        Fixed(self.indicative_clearing_price.get())
    }
    /// Auction-book clearing price.
    #[inline]
    pub fn auction_book_clearing_price(&self) -> Price4 {
        Fixed(self.auction_book_clearing_price.get())
    }
    /// Collar reference price.
    #[inline]
    pub fn collar_reference_price(&self) -> Price4 {
        Fixed(self.collar_reference_price.get())
    }
    /// Lower auction collar.
    #[inline]
    pub fn lower_auction_collar(&self) -> Price4 {
        Fixed(self.lower_auction_collar.get())
    }
    /// Upper auction collar.
    #[inline]
    pub fn upper_auction_collar(&self) -> Price4 {
        Fixed(self.upper_auction_collar.get())
    }
    /// Scheduled auction time in **ns** since the Unix epoch (the wire carries seconds).
    #[inline]
    pub fn scheduled_auction_time_ns(&self) -> u64 {
        u64::from(self.scheduled_auction_time.get()) * 1_000_000_000
    }
}

impl Fields for AuctionInformation {
    fn type_byte(&self) -> u8 {
        self.message_type
    }
    fn visit_fields(&self, v: &mut dyn FieldVisitor) {
        v.field("auction_type", FieldValue::Char(self.auction_type));
        v.field("timestamp", FieldValue::U64(ts(self.timestamp)));
        v.field("symbol", FieldValue::Alpha(trim_alpha(&self.symbol)));
        v.field(
            "paired_shares",
            FieldValue::U64(self.paired_shares.get().into()),
        );
        v.field(
            "reference_price",
            FieldValue::Price4(self.reference_price()),
        );
        v.field(
            "indicative_clearing_price",
            FieldValue::Price4(self.indicative_clearing_price()),
        );
        v.field(
            "imbalance_shares",
            FieldValue::U64(self.imbalance_shares.get().into()),
        );
        v.field("imbalance_side", FieldValue::Char(self.imbalance_side));
        v.field(
            "extension_number",
            FieldValue::U64(self.extension_number.into()),
        );
        v.field(
            "scheduled_auction_time",
            FieldValue::U64(self.scheduled_auction_time.get().into()),
        );
        v.field(
            "auction_book_clearing_price",
            FieldValue::Price4(self.auction_book_clearing_price()),
        );
        v.field(
            "collar_reference_price",
            FieldValue::Price4(self.collar_reference_price()),
        );
        v.field(
            "lower_auction_collar",
            FieldValue::Price4(self.lower_auction_collar()),
        );
        v.field(
            "upper_auction_collar",
            FieldValue::Price4(self.upper_auction_collar()),
        );
    }
}

/// Test helpers shared by the DEEP and TOPS golden tests.
#[cfg(test)]
pub(crate) mod testutil {
    extern crate std;
    use super::*;
    use std::string::{String, ToString};
    use std::vec::Vec;

    /// Hex to bytes; whitespace ignored.
    pub fn hex(s: &str) -> Vec<u8> {
        let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        s.chunks(2)
            .map(|p| u8::from_str_radix(core::str::from_utf8(p).unwrap(), 16).unwrap())
            .collect()
    }

    /// Renders a value the way the oracle prints it (prices as decimals without trailing
    /// zeros, alpha trimmed, chars as one-character strings).
    pub fn render(v: FieldValue<'_>) -> String {
        fn price(p: String) -> String {
            let t = p.trim_end_matches('0');
            t.trim_end_matches('.').to_string()
        }
        match v {
            FieldValue::U64(x) => x.to_string(),
            FieldValue::I64(x) => x.to_string(),
            FieldValue::Char(c) => (c as char).to_string(),
            FieldValue::Alpha(a) => String::from_utf8_lossy(a).into_owned(),
            FieldValue::Price4(p) => price(p.to_string()),
            FieldValue::Price8(p) => price(p.to_string()),
        }
    }

    /// Collects `(name, rendered value)` pairs.
    #[derive(Default)]
    pub struct Collect(pub Vec<(&'static str, String)>);

    impl FieldVisitor for Collect {
        fn field(&mut self, name: &'static str, value: FieldValue<'_>) {
            self.0.push((name, render(value)));
        }
    }

    /// All fields of `m`, rendered.
    pub fn fields_of(m: &dyn Fields) -> Vec<(&'static str, String)> {
        let mut c = Collect::default();
        m.visit_fields(&mut c);
        c.0
    }

    /// Asserts `m`'s fields equal `want` (name, rendered value), in order.
    pub fn assert_fields(m: &dyn Fields, want: &[(&str, &str)]) {
        let got = fields_of(m);
        let got: Vec<(&str, &str)> = got.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(got, want);
    }

    /// Casts `bytes` to `T` (exact prefix) or panics (tests only).
    pub fn cast<T: FromBytes + KnownLayout + Immutable>(bytes: &[u8]) -> &T {
        view::<T>(bytes).expect("long enough")
    }

    // Golden bytes: each is one message (block data, without the length prefix) cut from a real
    // capture named in the comment; expected values are the OMI oracle's for that message.

    /// iex-deep-20231002-sai271828/test.pcap frame 2 message 1.
    pub const S_DEEP: &str = "534fc43b10942e478a17";
    /// iex-deep-20231002-sai271828/test.pcap frame 674 message 12.
    pub const D_DEEP: &str = "44800bc3a2952e478a175a4558495420202064000000a08601000000000001";
    /// Tops.IexTp.v1.5/TradingStatusMessage.pcap frame 1 message 1.
    pub const H_TOPS: &str = "4848f13dda36a7b30d154a484d55202020204e412020";
    /// iex-deep-20231002-sai271828/test.pcap frame 2 message 5.
    pub const I_DEEP: &str = "4920c43b10942e478a174120202020202020";
    /// iex-deep-20231002-sai271828/test.pcap frame 2 message 3.
    pub const O_DEEP: &str = "4f4ec43b10942e478a174120202020202020";
    /// Tops.IexTp.v1.5/ShortSalePriceTestStatusMessage.pcap frame 1 message 1.
    pub const P_TOPS: &str = "500142b39ef24cac0d1541484c20202020204e";
    /// iex-deep-20231002-sai271828/test.pcap frame 2683 message 1.
    pub const T_DEEP: &str =
        "546007e36ae191488a1754534c41202020200a000000a03e2600000000001f8c160000000000";
    /// DeepPlus.IexTp.1.0.2/B_TradeBreak.pcap frame 1 message 1 (DEEP+ carries `B` with the
    /// DEEP layout; the oracle decodes it with the same keys).
    pub const B_DEEPPLUS: &str =
        "42002728e4dd2858fa175446432020202020640000007070060000000000ee01000000006300";
    /// Tops.IexTp.v1.5/OfficialPriceMessage.pcap frame 1 message 1.
    pub const X_TOPS: &str = "5851f85f3a86d5b10d155a5849455420202040420f0000000000";
    /// Tops.IexTp.v1.5/AuctionInformationMessage.pcap frame 1 message 1.
    pub const A_TOPS: &str =
        "41484736456c65ae0d155a494558542020200000000010270000000000001027000000000000\
        fb00000053005c826c5a1027000000000000000000000000000000000000000000000000000000000000";

    pub const GOLDEN: [(u8, &str); 10] = [
        (b'S', S_DEEP),
        (b'D', D_DEEP),
        (b'H', H_TOPS),
        (b'I', I_DEEP),
        (b'O', O_DEEP),
        (b'P', P_TOPS),
        (b'T', T_DEEP),
        (b'B', B_DEEPPLUS),
        (b'X', X_TOPS),
        (b'A', A_TOPS),
    ];
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use zerocopy::little_endian::{I64, U32};

    #[test]
    fn golden_lengths_match_spec() {
        let lens = [
            SystemEvent::LEN,
            SecurityDirectory::LEN,
            TradingStatus::LEN,
            RetailLiquidityIndicator::LEN,
            OperationalHaltStatus::LEN,
            ShortSalePriceTestStatus::LEN,
            TradeReport::LEN,
            TradeBreak::LEN,
            OfficialPrice::LEN,
            AuctionInformation::LEN,
        ];
        for ((t, h), len) in GOLDEN.iter().zip(lens) {
            let b = hex(h);
            assert_eq!(b.len(), len, "{}", *t as char);
            assert_eq!(b[0], *t);
        }
    }

    #[test]
    fn system_event_golden() {
        let b = hex(S_DEEP);
        let m: &SystemEvent = cast(&b);
        assert_fields(
            m,
            &[("system_event", "O"), ("timestamp", "1696246475036572612")],
        );
        assert_eq!(m.timestamp(), 1_696_246_475_036_572_612);
        assert_eq!(m.type_byte(), b'S');
        let built = SystemEvent {
            message_type: b'S',
            system_event: system_event::START_OF_MESSAGES,
            timestamp: I64::new(1_696_246_475_036_572_612),
        };
        assert_eq!(built.as_bytes(), &b[..]);
        assert_eq!(fields_of(&built), fields_of(m));
    }

    #[test]
    fn security_directory_golden() {
        let b = hex(D_DEEP);
        let m: &SecurityDirectory = cast(&b);
        // Oracle: testsecurity 1, whenissued 0, etp 0; adjustedpocprice "10".
        assert_fields(
            m,
            &[
                ("security_directory_flags", "128"),
                ("timestamp", "1696246475062952715"),
                ("symbol", "ZEXIT"),
                ("round_lot_size", "100"),
                ("adjusted_poc_price", "10"),
                ("luld_tier", "1"),
            ],
        );
        assert!(m.flags().is_test_security());
        assert!(!m.flags().is_when_issued() && !m.flags().is_etp());
        assert_eq!(m.symbol(), b"ZEXIT");
        assert_eq!(m.symbol_str(), Some("ZEXIT"));
        assert_eq!(m.round_lot_size(), 100);
        assert_eq!(m.adjusted_poc_price(), Fixed(100_000));
        let built = SecurityDirectory {
            message_type: b'D',
            flags: SecurityDirectoryFlags::TEST_SECURITY,
            timestamp: I64::new(1_696_246_475_062_952_715),
            symbol: *b"ZEXIT   ",
            round_lot_size: U32::new(100),
            adjusted_poc_price: I64::new(100_000),
            luld_tier: 1,
        };
        assert_eq!(built.as_bytes(), &b[..]);
        assert_eq!(fields_of(&built), fields_of(m));
    }

    #[test]
    fn security_directory_flag_bits() {
        let f = SecurityDirectoryFlags(0x40 | 0x20 | 0x01);
        assert!(!f.is_test_security() && f.is_when_issued() && f.is_etp());
    }

    #[test]
    fn trading_status_golden() {
        let b = hex(H_TOPS);
        let m: &TradingStatus = cast(&b);
        assert_fields(
            m,
            &[
                ("trading_status", "H"),
                ("timestamp", "1517066180254907889"),
                ("symbol", "JHMU"),
                ("reason", "NA"),
            ],
        );
        assert_eq!(m.reason(), b"NA");
        assert_eq!(m.trading_status, trading_status::HALTED);
        let built = TradingStatus {
            message_type: b'H',
            trading_status: b'H',
            timestamp: I64::new(1_517_066_180_254_907_889),
            symbol: *b"JHMU    ",
            reason: *b"NA  ",
        };
        assert_eq!(built.as_bytes(), &b[..]);
        assert_eq!(fields_of(&built), fields_of(m));
    }

    #[test]
    fn retail_liquidity_indicator_golden() {
        let b = hex(I_DEEP);
        let m: &RetailLiquidityIndicator = cast(&b);
        assert_fields(
            m,
            &[
                ("retail_liquidity_indicator", " "),
                ("timestamp", "1696246475036572612"),
                ("symbol", "A"),
            ],
        );
        let built = RetailLiquidityIndicator {
            message_type: b'I',
            retail_liquidity_indicator: b' ',
            timestamp: I64::new(1_696_246_475_036_572_612),
            symbol: *b"A       ",
        };
        assert_eq!(built.as_bytes(), &b[..]);
        assert_eq!(fields_of(&built), fields_of(m));
    }

    #[test]
    fn operational_halt_status_golden() {
        let b = hex(O_DEEP);
        let m: &OperationalHaltStatus = cast(&b);
        assert_fields(
            m,
            &[
                ("operational_halt_status", "N"),
                ("timestamp", "1696246475036572612"),
                ("symbol", "A"),
            ],
        );
        assert!(!m.is_halted());
        let built = OperationalHaltStatus {
            message_type: b'O',
            operational_halt_status: b'N',
            timestamp: I64::new(1_696_246_475_036_572_612),
            symbol: *b"A       ",
        };
        assert_eq!(built.as_bytes(), &b[..]);
        assert_eq!(fields_of(&built), fields_of(m));
    }

    #[test]
    fn short_sale_price_test_status_golden() {
        let b = hex(P_TOPS);
        let m: &ShortSalePriceTestStatus = cast(&b);
        assert_fields(
            m,
            &[
                ("short_sale_price_test_status", "1"),
                ("timestamp", "1517058095981704002"),
                ("symbol", "AHL"),
                ("detail", "N"),
            ],
        );
        assert!(m.in_effect());
        let built = ShortSalePriceTestStatus {
            message_type: b'P',
            short_sale_price_test_status: 1,
            timestamp: I64::new(1_517_058_095_981_704_002),
            symbol: *b"AHL     ",
            detail: b'N',
        };
        assert_eq!(built.as_bytes(), &b[..]);
        assert_eq!(fields_of(&built), fields_of(m));
    }

    #[test]
    fn trade_report_golden() {
        let b = hex(T_DEEP);
        let m: &TradeReport = cast(&b);
        // Oracle: "Odd Lot|Extended Hours" = 0x60, price "250.64", trade id 1477663.
        assert_fields(
            m,
            &[
                ("sale_condition_flags", "96"),
                ("timestamp", "1696248001047749383"),
                ("symbol", "TSLA"),
                ("size", "10"),
                ("price", "250.64"),
                ("trade_id", "1477663"),
            ],
        );
        let sc = m.sale_conditions();
        assert!(sc.is_odd_lot() && sc.is_extended_hours());
        assert!(!sc.is_iso() && !sc.is_trade_through_exempt() && !sc.is_single_price_cross());
        assert!(!sc.is_last_sale_eligible());
        assert_eq!(m.price(), Fixed(2_506_400));
        assert_eq!((m.size(), m.trade_id()), (10, 1_477_663));
        let built = TradeReport {
            message_type: b'T',
            sale_condition_flags: SaleConditions::ODD_LOT | SaleConditions::EXTENDED_HOURS,
            timestamp: I64::new(1_696_248_001_047_749_383),
            symbol: *b"TSLA    ",
            size: U32::new(10),
            price: I64::new(2_506_400),
            trade_id: I64::new(1_477_663),
        };
        assert_eq!(built.as_bytes(), &b[..]);
        assert_eq!(fields_of(&built), fields_of(m));
    }

    #[test]
    fn sale_condition_bits() {
        let sc = SaleConditions(0x80 | 0x10 | 0x08);
        assert!(sc.is_iso() && sc.is_trade_through_exempt() && sc.is_single_price_cross());
        assert!(sc.is_last_sale_eligible());
        assert!(!SaleConditions(0x20).is_last_sale_eligible());
    }

    #[test]
    fn trade_break_golden() {
        let b = hex(B_DEEPPLUS);
        let m: &TradeBreak = cast(&b);
        assert_fields(
            m,
            &[
                ("sale_condition_flags", "0"),
                ("timestamp", "1727790339594659879"),
                ("symbol", "TFC"),
                ("size", "100"),
                ("price", "42.2"),
                ("trade_id", "27866022694355438"),
            ],
        );
        assert_eq!(m.type_byte(), b'B');
        let built = TradeBreak {
            message_type: b'B',
            sale_condition_flags: 0,
            timestamp: I64::new(1_727_790_339_594_659_879),
            symbol: *b"TFC     ",
            size: U32::new(100),
            price: I64::new(422_000),
            trade_id: I64::new(27_866_022_694_355_438),
        };
        assert_eq!(built.as_bytes(), &b[..]);
        assert_eq!(fields_of(&built), fields_of(m));
    }

    #[test]
    fn official_price_golden() {
        let b = hex(X_TOPS);
        let m: &OfficialPrice = cast(&b);
        assert_fields(
            m,
            &[
                ("price_type", "Q"),
                ("timestamp", "1517064180131848184"),
                ("symbol", "ZXIET"),
                ("official_price", "100"),
            ],
        );
        assert_eq!(m.official_price(), Fixed(1_000_000));
        let built = OfficialPrice {
            message_type: b'X',
            price_type: b'Q',
            timestamp: I64::new(1_517_064_180_131_848_184),
            symbol: *b"ZXIET   ",
            official_price: I64::new(1_000_000),
        };
        assert_eq!(built.as_bytes(), &b[..]);
        assert_eq!(fields_of(&built), fields_of(m));
    }

    #[test]
    fn auction_information_golden() {
        let b = hex(A_TOPS);
        let m: &AuctionInformation = cast(&b);
        assert_fields(
            m,
            &[
                ("auction_type", "H"),
                ("timestamp", "1517060400125130311"),
                ("symbol", "ZIEXT"),
                ("paired_shares", "0"),
                ("reference_price", "1"),
                ("indicative_clearing_price", "1"),
                ("imbalance_shares", "251"),
                ("imbalance_side", "S"),
                ("extension_number", "0"),
                ("scheduled_auction_time", "1517060700"),
                ("auction_book_clearing_price", "1"),
                ("collar_reference_price", "0"),
                ("lower_auction_collar", "0"),
                ("upper_auction_collar", "0"),
            ],
        );
        assert_eq!(m.scheduled_auction_time_ns(), 1_517_060_700_000_000_000);
        assert_eq!(m.imbalance_shares(), 251);
        assert_eq!(m.reference_price(), Fixed(10_000));
        let built = AuctionInformation {
            message_type: b'A',
            auction_type: b'H',
            timestamp: I64::new(1_517_060_400_125_130_311),
            symbol: *b"ZIEXT   ",
            paired_shares: U32::new(0),
            reference_price: I64::new(10_000),
            indicative_clearing_price: I64::new(10_000),
            imbalance_shares: U32::new(251),
            imbalance_side: b'S',
            extension_number: 0,
            scheduled_auction_time: U32::new(1_517_060_700),
            auction_book_clearing_price: I64::new(10_000),
            collar_reference_price: I64::new(0),
            lower_auction_collar: I64::new(0),
            upper_auction_collar: I64::new(0),
        };
        assert_eq!(built.as_bytes(), &b[..]);
        assert_eq!(fields_of(&built), fields_of(m));
    }

    /// Hand-built from the spec table: every field distinct, so a swapped offset would show.
    #[test]
    fn auction_information_every_offset() {
        let mut b = [0u8; 80];
        b[0] = b'A';
        b[1] = b'V';
        b[2..10].copy_from_slice(&1_600_000_000_000_000_001i64.to_le_bytes());
        b[10..18].copy_from_slice(b"ABC D   ");
        b[18..22].copy_from_slice(&11u32.to_le_bytes());
        b[22..30].copy_from_slice(&22i64.to_le_bytes());
        b[30..38].copy_from_slice(&33i64.to_le_bytes());
        b[38..42].copy_from_slice(&44u32.to_le_bytes());
        b[42] = b'B';
        b[43] = 3;
        b[44..48].copy_from_slice(&1_600_000_300u32.to_le_bytes());
        b[48..56].copy_from_slice(&55i64.to_le_bytes());
        b[56..64].copy_from_slice(&(-66i64).to_le_bytes());
        b[64..72].copy_from_slice(&77i64.to_le_bytes());
        b[72..80].copy_from_slice(&88i64.to_le_bytes());
        let m: &AuctionInformation = cast(&b);
        assert_fields(
            m,
            &[
                ("auction_type", "V"),
                ("timestamp", "1600000000000000001"),
                ("symbol", "ABC D"),
                ("paired_shares", "11"),
                ("reference_price", "0.0022"),
                ("indicative_clearing_price", "0.0033"),
                ("imbalance_shares", "44"),
                ("imbalance_side", "B"),
                ("extension_number", "3"),
                ("scheduled_auction_time", "1600000300"),
                ("auction_book_clearing_price", "0.0055"),
                ("collar_reference_price", "-0.0066"),
                ("lower_auction_collar", "0.0077"),
                ("upper_auction_collar", "0.0088"),
            ],
        );
        assert_eq!(
            m.symbol_str(),
            Some("ABC D"),
            "only trailing spaces are trimmed"
        );
        assert_eq!(m.as_bytes(), &b[..]);
    }

    #[test]
    fn view_accepts_longer_and_rejects_shorter() {
        let mut b = hex(S_DEEP);
        assert!(view::<SystemEvent>(&b[..9]).is_none());
        b.extend_from_slice(&[0xee; 5]);
        assert_eq!(view::<SystemEvent>(&b).unwrap().system_event, b'O');
    }

    #[test]
    fn invalid_utf8_symbol_has_no_str() {
        let mut b = hex(O_DEEP);
        b[10] = 0xff;
        let m: &OperationalHaltStatus = cast(&b);
        assert_eq!(m.symbol_str(), None);
        assert_eq!(m.symbol()[0], 0xff);
    }
}
