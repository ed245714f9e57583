//! The 23 ITCH 5.0 message structs, generated from one table per message.
//!
//! `itch_message!` turns a field list into: the `#[repr(C)]` wire struct (common header first),
//! a compile-time size assert against the spec length, a `new(locate, tracking, timestamp)`
//! constructor (other fields zero, `char`/`alpha` fields spaces), one typed accessor per field,
//! and the [`Fields`] impl. Field kinds: `u16 u32 u64` (big-endian), `char` (one byte),
//! `alpha2 alpha4 alpha8` (space-padded ASCII), `price4` (`u32`, 4 decimals), `price8` (`u64`,
//! 8 decimals). Offsets in the docs are from the type byte, as in the spec.

// zerocopy 0.8's derives emit one hidden marker type per field (named after the field), which
// trips this lint; every type written here derives `Debug`.
#![allow(missing_debug_implementations)]

use super::{read_u48, write_u48, Side};
use crate::fields::{trim_alpha, FieldValue, FieldVisitor, Fields};
use crate::price::{Fixed, Price4, Price8, UFixed};
use zerocopy::byteorder::big_endian::{U16, U32, U64};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

macro_rules! wire_ty {
    (u16) => {
        U16
    };
    (u32) => {
        U32
    };
    (u64) => {
        U64
    };
    (char) => {
        u8
    };
    (price4) => {
        U32
    };
    (price8) => {
        U64
    };
    (alpha2) => {
        [u8; 2]
    };
    (alpha4) => {
        [u8; 4]
    };
    (alpha8) => {
        [u8; 8]
    };
}

macro_rules! ret_ty {
    (u16) => {
        u16
    };
    (u32) => {
        u32
    };
    (u64) => {
        u64
    };
    (char) => {
        u8
    };
    (price4) => {
        Price4
    };
    (price8) => {
        Price8
    };
    (alpha2) => {
        &[u8]
    };
    (alpha4) => {
        &[u8]
    };
    (alpha8) => {
        &[u8]
    };
}

macro_rules! get {
    (u16, $e:expr) => {
        $e.get()
    };
    (u32, $e:expr) => {
        $e.get()
    };
    (u64, $e:expr) => {
        $e.get()
    };
    (char, $e:expr) => {
        $e
    };
    (price4, $e:expr) => {
        Fixed::<4>(i64::from($e.get()))
    };
    // Unsigned on the wire, unsigned here: every u64 is the positive price it says.
    (price8, $e:expr) => {
        UFixed::<8>($e.get())
    };
    (alpha2, $e:expr) => {
        trim_alpha(&$e)
    };
    (alpha4, $e:expr) => {
        trim_alpha(&$e)
    };
    (alpha8, $e:expr) => {
        trim_alpha(&$e)
    };
}

macro_rules! value {
    (u16, $v:expr) => {
        FieldValue::U64(u64::from($v))
    };
    (u32, $v:expr) => {
        FieldValue::U64(u64::from($v))
    };
    (u64, $v:expr) => {
        FieldValue::U64($v)
    };
    (char, $v:expr) => {
        FieldValue::Char($v)
    };
    (price4, $v:expr) => {
        FieldValue::Price4($v)
    };
    (price8, $v:expr) => {
        FieldValue::Price8($v)
    };
    (alpha2, $v:expr) => {
        FieldValue::Alpha($v)
    };
    (alpha4, $v:expr) => {
        FieldValue::Alpha($v)
    };
    (alpha8, $v:expr) => {
        FieldValue::Alpha($v)
    };
}

macro_rules! blank {
    ($m:ident . $f:ident, char) => {
        $m.$f = b' '
    };
    ($m:ident . $f:ident, alpha2) => {
        $m.$f = [b' '; 2]
    };
    ($m:ident . $f:ident, alpha4) => {
        $m.$f = [b' '; 4]
    };
    ($m:ident . $f:ident, alpha8) => {
        $m.$f = [b' '; 8]
    };
    ($m:ident . $f:ident, $other:tt) => {};
}

macro_rules! itch_message {
    (
        $(#[$meta:meta])*
        $name:ident = $ty:literal, $len:literal {
            $( $(#[$fmeta:meta])* $field:ident : $kind:tt ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name {
            /// Message Type (0, `char`): always [`Self::TYPE`] in a parsed message.
            pub message_type: u8,
            /// Stock Locate (1, `u16`): instrument index for the day, 0 if none.
            pub stock_locate: U16,
            /// Tracking Number (3, `u16`): Nasdaq internal.
            pub tracking_number: U16,
            /// Timestamp (5, `u48`): ns since midnight; see [`read_u48`]/[`write_u48`].
            pub timestamp: [u8; 6],
            $( $(#[$fmeta])* pub $field: wire_ty!($kind), )*
        }

        const _: () = assert!(core::mem::size_of::<$name>() == $len);

        impl $name {
            /// The message type byte.
            pub const TYPE: u8 = $ty;
            /// The spec's length in bytes.
            pub const LEN: usize = $len;

            /// A message with the header set, integer fields 0 and `char`/`alpha` fields
            /// spaces; fill the other `pub` fields, then write `as_bytes()`.
            #[inline]
            pub fn new(stock_locate: u16, tracking_number: u16, timestamp: u64) -> Self {
                let mut m = Self::new_zeroed();
                m.message_type = $ty;
                m.stock_locate = U16::new(stock_locate);
                m.tracking_number = U16::new(tracking_number);
                m.timestamp = write_u48(timestamp);
                $( blank!(m.$field, $kind); )*
                m
            }

            /// Stock Locate.
            #[inline]
            pub fn stock_locate(&self) -> u16 {
                self.stock_locate.get()
            }

            /// Tracking Number.
            #[inline]
            pub fn tracking_number(&self) -> u16 {
                self.tracking_number.get()
            }

            /// Timestamp, ns since midnight.
            #[inline]
            pub fn timestamp(&self) -> u64 {
                read_u48(&self.timestamp)
            }

            $(
                $(#[$fmeta])*
                #[inline]
                pub fn $field(&self) -> ret_ty!($kind) {
                    get!($kind, self.$field)
                }
            )*
        }

        impl Fields for $name {
            #[inline]
            fn type_byte(&self) -> u8 {
                $ty
            }

            fn visit_fields(&self, v: &mut dyn FieldVisitor) {
                v.field("stock_locate", FieldValue::U64(u64::from(self.stock_locate())));
                v.field("tracking_number", FieldValue::U64(u64::from(self.tracking_number())));
                v.field("timestamp", FieldValue::U64(self.timestamp()));
                $( v.field(stringify!($field), value!($kind, self.$field())); )*
            }
        }
    };
}

itch_message! {
    /// `S` System Event (12 bytes): session control, see spec table E1.
    SystemEvent = b'S', 12 {
        /// Event Code (11, `char`): `O S Q M E C` (table E1).
        event_code: char,
    }
}

itch_message! {
    /// `R` Stock Directory (39 bytes): defines locate → symbol for the day.
    StockDirectory = b'R', 39 {
        /// Stock (11, `alpha(8)`).
        stock: alpha8,
        /// Market Category (19, `char`, table E2).
        market_category: char,
        /// Financial Status Indicator (20, `char`, table E3).
        financial_status_indicator: char,
        /// Round Lot Size (21, `u32`): shares in one round lot.
        round_lot_size: u32,
        /// Round Lots Only (25, `char`): `Y`/`N`.
        round_lots_only: char,
        /// Issue Classification (26, `char`, table E4).
        issue_classification: char,
        /// Issue Sub-Type (27, `alpha(2)`, table E5).
        issue_sub_type: alpha2,
        /// Authenticity (29, `char`): `P` production, `T` test.
        authenticity: char,
        /// Short Sale Threshold Indicator (30, `char`): `Y`, `N`, space.
        short_sale_threshold_indicator: char,
        /// IPO Flag (31, `char`): `Y`, `N`, `Z`, space.
        ipo_flag: char,
        /// LULD Reference Price Tier (32, `char`): `1`, `2`, space.
        luld_reference_price_tier: char,
        /// ETP Flag (33, `char`): `Y`, `N`, space.
        etp_flag: char,
        /// ETP Leverage Factor (34, `u32`).
        etp_leverage_factor: u32,
        /// Inverse Indicator (38, `char`): `Y`/`N`.
        inverse_indicator: char,
    }
}

itch_message! {
    /// `H` Stock Trading Action (25 bytes): trading state of one stock.
    StockTradingAction = b'H', 25 {
        /// Stock (11, `alpha(8)`).
        stock: alpha8,
        /// Trading State (19, `char`): `H` halted, `P` paused, `Q` quotation only, `T` trading.
        trading_state: char,
        /// Reserved (20, `char`).
        reserved: char,
        /// Reason (21, `alpha(4)`, table E6); empty when not available.
        reason: alpha4,
    }
}

itch_message! {
    /// `Y` Reg SHO Short Sale Price Test Restricted Indicator (20 bytes).
    RegShoRestriction = b'Y', 20 {
        /// Stock (11, `alpha(8)`).
        stock: alpha8,
        /// Reg SHO Action (19, `char`): `0` none, `1` in effect (intraday drop), `2` remains.
        reg_sho_action: char,
    }
}

itch_message! {
    /// `L` Market Participant Position (26 bytes).
    MarketParticipantPosition = b'L', 26 {
        /// MPID (11, `alpha(4)`).
        mpid: alpha4,
        /// Stock (15, `alpha(8)`).
        stock: alpha8,
        /// Primary Market Maker (23, `char`): `Y`/`N`.
        primary_market_maker: char,
        /// Market Maker Mode (24, `char`): `N P S R L`.
        market_maker_mode: char,
        /// Market Participant State (25, `char`): `A E W S D`.
        market_participant_state: char,
    }
}

itch_message! {
    /// `V` MWCB Decline Level (35 bytes): market-wide circuit breaker levels, `Price(8)`.
    MwcbDeclineLevel = b'V', 35 {
        /// Level 1 (11, `Price(8)`).
        level_1: price8,
        /// Level 2 (19, `Price(8)`).
        level_2: price8,
        /// Level 3 (27, `Price(8)`).
        level_3: price8,
    }
}

itch_message! {
    /// `W` MWCB Status (12 bytes).
    MwcbStatus = b'W', 12 {
        /// Breached Level (11, `char`): `1`, `2` or `3`.
        breached_level: char,
    }
}

itch_message! {
    /// `K` IPO Quoting Period Update (28 bytes).
    IpoQuotingPeriodUpdate = b'K', 28 {
        /// Stock (11, `alpha(8)`).
        stock: alpha8,
        /// IPO Quotation Release Time (19, `u32`): seconds since midnight, 0 if canceled.
        ipo_quotation_release_time: u32,
        /// IPO Quotation Release Qualifier (23, `char`): `A` anticipated, `C` canceled.
        ipo_quotation_release_qualifier: char,
        /// IPO Price (24, `Price(4)`).
        ipo_price: price4,
    }
}

itch_message! {
    /// `J` LULD Auction Collar (35 bytes).
    LuldAuctionCollar = b'J', 35 {
        /// Stock (11, `alpha(8)`).
        stock: alpha8,
        /// Auction Collar Reference Price (19, `Price(4)`).
        auction_collar_reference_price: price4,
        /// Upper Auction Collar Price (23, `Price(4)`).
        upper_auction_collar_price: price4,
        /// Lower Auction Collar Price (27, `Price(4)`).
        lower_auction_collar_price: price4,
        /// Auction Collar Extension (31, `u32`): number of extensions.
        auction_collar_extension: u32,
    }
}

itch_message! {
    /// `h` Operational Halt (21 bytes).
    OperationalHalt = b'h', 21 {
        /// Stock (11, `alpha(8)`).
        stock: alpha8,
        /// Market Code (19, `char`): `Q` Nasdaq, `B` Nasdaq Texas (BX), `X` PSX.
        market_code: char,
        /// Operational Halt Action (20, `char`): `H` halted, `T` lifted.
        operational_halt_action: char,
    }
}

itch_message! {
    /// `A` Add Order, no MPID attribution (36 bytes): **adds** an order to the book.
    AddOrder = b'A', 36 {
        /// Order Reference Number (11, `u64`): day-unique order id.
        order_reference_number: u64,
        /// Buy/Sell Indicator (19, `char`): `B`/`S`; see also `side()`.
        buy_sell_indicator: char,
        /// Shares (20, `u32`): displayed shares.
        shares: u32,
        /// Stock (24, `alpha(8)`).
        stock: alpha8,
        /// Price (32, `Price(4)`): display price.
        price: price4,
    }
}

itch_message! {
    /// `F` Add Order with MPID Attribution (40 bytes): **adds** an order to the book.
    AddOrderMpid = b'F', 40 {
        /// Order Reference Number (11, `u64`): day-unique order id.
        order_reference_number: u64,
        /// Buy/Sell Indicator (19, `char`): `B`/`S`; see also `side()`.
        buy_sell_indicator: char,
        /// Shares (20, `u32`): displayed shares.
        shares: u32,
        /// Stock (24, `alpha(8)`).
        stock: alpha8,
        /// Price (32, `Price(4)`): display price.
        price: price4,
        /// Attribution (36, `alpha(4)`): MPID of the entering participant.
        attribution: alpha4,
    }
}

itch_message! {
    /// `E` Order Executed (31 bytes): **reduces** an order by the executed shares.
    OrderExecuted = b'E', 31 {
        /// Order Reference Number (11, `u64`).
        order_reference_number: u64,
        /// Executed Shares (19, `u32`).
        executed_shares: u32,
        /// Match Number (23, `u64`).
        match_number: u64,
    }
}

itch_message! {
    /// `C` Order Executed With Price (36 bytes): **reduces** an order; trade at another price.
    OrderExecutedWithPrice = b'C', 36 {
        /// Order Reference Number (11, `u64`).
        order_reference_number: u64,
        /// Executed Shares (19, `u32`).
        executed_shares: u32,
        /// Match Number (23, `u64`).
        match_number: u64,
        /// Printable (31, `char`): `Y`/`N` (`N` still reduces the book).
        printable: char,
        /// Execution Price (32, `Price(4)`).
        execution_price: price4,
    }
}

itch_message! {
    /// `X` Order Cancel (23 bytes): **reduces** an order by the cancelled shares.
    OrderCancel = b'X', 23 {
        /// Order Reference Number (11, `u64`).
        order_reference_number: u64,
        /// Cancelled Shares (19, `u32`). Oracle key: `canceledshares`.
        cancelled_shares: u32,
    }
}

itch_message! {
    /// `D` Order Delete (19 bytes): **removes** an order.
    OrderDelete = b'D', 19 {
        /// Order Reference Number (11, `u64`).
        order_reference_number: u64,
    }
}

itch_message! {
    /// `U` Order Replace (35 bytes): **removes** the original order and **adds** the new one
    /// with the same side, stock and MPID.
    OrderReplace = b'U', 35 {
        /// Original Order Reference Number (11, `u64`).
        original_order_reference_number: u64,
        /// New Order Reference Number (19, `u64`).
        new_order_reference_number: u64,
        /// Shares (27, `u32`): new displayed shares.
        shares: u32,
        /// Price (31, `Price(4)`): new display price.
        price: price4,
    }
}

itch_message! {
    /// `P` Trade, non-cross (44 bytes): execution of a non-displayed order; no book change.
    Trade = b'P', 44 {
        /// Order Reference Number (11, `u64`): always 0 since 2010.
        order_reference_number: u64,
        /// Buy/Sell Indicator (19, `char`): always `B` since 2014.
        buy_sell_indicator: char,
        /// Shares (20, `u32`).
        shares: u32,
        /// Stock (24, `alpha(8)`).
        stock: alpha8,
        /// Price (32, `Price(4)`).
        price: price4,
        /// Match Number (36, `u64`).
        match_number: u64,
    }
}

itch_message! {
    /// `Q` Cross Trade (40 bytes): bulk print of a cross; no book change.
    CrossTrade = b'Q', 40 {
        /// Shares (11, `u64`): cross volume, may be 0. Oracle key: `crossshares`.
        shares: u64,
        /// Stock (19, `alpha(8)`).
        stock: alpha8,
        /// Cross Price (27, `Price(4)`).
        cross_price: price4,
        /// Match Number (31, `u64`).
        match_number: u64,
        /// Cross Type (39, `char`): `O C H` (and `I`, `A`; see spec E7).
        cross_type: char,
    }
}

itch_message! {
    /// `B` Broken Trade (19 bytes): an execution was broken; no book change.
    BrokenTrade = b'B', 19 {
        /// Match Number (11, `u64`).
        match_number: u64,
    }
}

itch_message! {
    /// `I` Net Order Imbalance Indicator (NOII) (50 bytes).
    Noii = b'I', 50 {
        /// Paired Shares (11, `u64`).
        paired_shares: u64,
        /// Imbalance Shares (19, `u64`).
        imbalance_shares: u64,
        /// Imbalance Direction (27, `char`): `B S N O P`.
        imbalance_direction: char,
        /// Stock (28, `alpha(8)`).
        stock: alpha8,
        /// Far Price (36, `Price(4)`).
        far_price: price4,
        /// Near Price (40, `Price(4)`).
        near_price: price4,
        /// Current Reference Price (44, `Price(4)`).
        current_reference_price: price4,
        /// Cross Type (48, `char`): `O C H A`.
        cross_type: char,
        /// Price Variation Indicator (49, `char`, table E8).
        price_variation_indicator: char,
    }
}

itch_message! {
    /// `N` Retail Price Improvement Indicator (RPII) (20 bytes).
    Rpii = b'N', 20 {
        /// Stock (11, `alpha(8)`).
        stock: alpha8,
        /// Interest Flag (19, `char`): `B S A N`.
        interest_flag: char,
    }
}

itch_message! {
    /// `O` Direct Listing with Capital Raise Price Discovery (48 bytes).
    Dlcr = b'O', 48 {
        /// Stock (11, `alpha(8)`).
        stock: alpha8,
        /// Open Eligibility Status (19, `char`): `N`/`Y`.
        open_eligibility_status: char,
        /// Minimum Allowable Price (20, `Price(4)`).
        minimum_allowable_price: price4,
        /// Maximum Allowable Price (24, `Price(4)`).
        maximum_allowable_price: price4,
        /// Near Execution Price (28, `Price(4)`).
        near_execution_price: price4,
        /// Near Execution Time (32, `u64`): unit not stated by the spec.
        near_execution_time: u64,
        /// Lower Price Range Collar (40, `Price(4)`).
        lower_price_range_collar: price4,
        /// Upper Price Range Collar (44, `Price(4)`).
        upper_price_range_collar: price4,
    }
}

/// `side()` and `stock_str()` for the messages that have those fields.
macro_rules! side_and_symbol {
    (side: $($s:ident),*; stock: $($t:ident),* $(,)?) => {
        $(
            impl $s {
                /// Buy/Sell Indicator as a [`Side`]; `None` for a byte other than `B`/`S`.
                #[inline]
                pub fn side(&self) -> Option<Side> {
                    Side::from_byte(self.buy_sell_indicator)
                }
            }
        )*
        $(
            impl $t {
                /// Stock, trimmed, as `&str`; `None` if it is not UTF-8.
                #[inline]
                pub fn stock_str(&self) -> Option<&str> {
                    super::alpha_str(self.stock())
                }
            }
        )*
    };
}

side_and_symbol!(
    side: AddOrder, AddOrderMpid, Trade;
    stock: StockDirectory, StockTradingAction, RegShoRestriction, MarketParticipantPosition,
        IpoQuotingPeriodUpdate, LuldAuctionCollar, OperationalHalt, AddOrder, AddOrderMpid,
        Trade, CrossTrade, Noii, Rpii, Dlcr,
);
