//! Golden bytes for all 23 ITCH 5.0 messages: bytes → every field, and fields → bytes.
//!
//! The 16 types present in real captures (`A C D E F H I J L N P Q S U X Y`) are cut from
//! packets in `shared/pcaps/real/omi-data-packets/Nasdaq/` (file, frame and block named on each
//! test); their expected values are those of the OMI-dissector oracle decode of the same frame
//! (`oracle/*.jsonl.gz`), keys mapped as in the table of the `itch50` module docs. The other 7
//! (`R V W K h B O`) never appear in public captures; they are written by hand from the spec's
//! offsets.

extern crate std;

use super::*;
use crate::fields::FieldValue::{self, Alpha, Char, Price4, Price8, U64};
use crate::fields::{FieldVisitor, Fields};
use crate::price::{Fixed, UFixed};
use std::vec::Vec;
use zerocopy::IntoBytes;

// The setters below name the wire types U32/U64; `U64` is also a FieldValue
// variant here, so give the wire types their own module path.
mod wire {
    pub use zerocopy::byteorder::big_endian::{U32, U64};
}
use wire as w;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

struct Collect(Vec<(&'static str, std::string::String)>);

impl FieldVisitor for Collect {
    fn field(&mut self, name: &'static str, value: FieldValue<'_>) {
        self.0.push((name, std::format!("{value:?}")));
    }
}

/// Visits every field of `m` and compares names, order and values with `expected`.
fn assert_fields(m: &dyn Fields, expected: &[(&str, FieldValue<'_>)]) {
    let mut c = Collect(Vec::new());
    m.visit_fields(&mut c);
    let want: Vec<(&str, std::string::String)> = expected
        .iter()
        .map(|(n, v)| (*n, std::format!("{v:?}")))
        .collect();
    assert_eq!(c.0, want);
}

/// `S` from `omi-data-packets/Nasdaq/Nasdaq.Equities.TotalView.Itch.v5.0.20230822/SystemEvent.pcap`, frame 1, message 1.
#[test]
fn golden_system_event() {
    const BYTES: &str = "53000000001f1acedb02f051";
    let bytes = hex(BYTES);
    let Ok(Message::SystemEvent(v)) = Message::parse(&bytes) else {
        panic!("not a SystemEvent");
    };
    assert_eq!(v.type_byte(), b'S');
    let expected: &[(&str, FieldValue<'_>)] = &[
        ("stock_locate", U64(0)),
        ("tracking_number", U64(0)),
        ("timestamp", U64(34200000070384)),
        ("event_code", Char(b'Q')),
    ];
    assert_fields(v, expected);
    assert_fields(&Message::SystemEvent(v), expected);
    let mut m = SystemEvent::new(0, 0, 34200000070384);
    m.event_code = b'Q';
    assert_eq!(m.as_bytes(), &bytes[..]);
    assert_fields(&m, expected);
}

/// `H` from `omi-data-packets/Nasdaq/Nasdaq.Equities.TotalView.Itch.v5.0.20230822/StockTradingAction.pcap`, frame 1, message 1.
#[test]
fn golden_stock_trading_action() {
    const BYTES: &str = "482c3d00001f1e7036e4655a585a5a5420202050204c554450";
    let bytes = hex(BYTES);
    let Ok(Message::StockTradingAction(v)) = Message::parse(&bytes) else {
        panic!("not a StockTradingAction");
    };
    assert_eq!(v.type_byte(), b'H');
    let expected: &[(&str, FieldValue<'_>)] = &[
        ("stock_locate", U64(11325)),
        ("tracking_number", U64(0)),
        ("timestamp", U64(34215592125541)),
        ("stock", Alpha(b"ZXZZT")),
        ("trading_state", Char(b'P')),
        ("reserved", Char(b' ')),
        ("reason", Alpha(b"LUDP")),
    ];
    assert_fields(v, expected);
    assert_fields(&Message::StockTradingAction(v), expected);
    let mut m = StockTradingAction::new(11325, 0, 34215592125541);
    m.stock = alpha(b"ZXZZT");
    m.trading_state = b'P';
    m.reserved = b' ';
    m.reason = alpha(b"LUDP");
    assert_eq!(m.as_bytes(), &bytes[..]);
    assert_fields(&m, expected);
}

/// `Y` from `omi-data-packets/Nasdaq/Nasdaq.Equities.TotalView.Itch.v5.0.20230822/RegSHORestriction.pcap`, frame 1, message 1.
#[test]
fn golden_reg_sho_restriction() {
    const BYTES: &str = "5924bd00001f1ad5cc18b7534f50412020202031";
    let bytes = hex(BYTES);
    let Ok(Message::RegShoRestriction(v)) = Message::parse(&bytes) else {
        panic!("not a RegShoRestriction");
    };
    assert_eq!(v.type_byte(), b'Y');
    let expected: &[(&str, FieldValue<'_>)] = &[
        ("stock_locate", U64(9405)),
        ("tracking_number", U64(0)),
        ("timestamp", U64(34200116533431)),
        ("stock", Alpha(b"SOPA")),
        ("reg_sho_action", Char(b'1')),
    ];
    assert_fields(v, expected);
    assert_fields(&Message::RegShoRestriction(v), expected);
    let mut m = RegShoRestriction::new(9405, 0, 34200116533431);
    m.stock = alpha(b"SOPA");
    m.reg_sho_action = b'1';
    assert_eq!(m.as_bytes(), &bytes[..]);
    assert_fields(&m, expected);
}

/// `L` from `omi-data-packets/Nasdaq/Nasdaq.Equities.TotalView.Itch.v5.0.20230822/MarketParticipantPosition.pcap`, frame 1, message 1.
#[test]
fn golden_market_participant_position() {
    const BYTES: &str = "4c0e4000001f208142f8464d41584d46444c5320202020594e41";
    let bytes = hex(BYTES);
    let Ok(Message::MarketParticipantPosition(v)) = Message::parse(&bytes) else {
        panic!("not a MarketParticipantPosition");
    };
    assert_eq!(v.type_byte(), b'L');
    let expected: &[(&str, FieldValue<'_>)] = &[
        ("stock_locate", U64(3648)),
        ("tracking_number", U64(0)),
        ("timestamp", U64(34224468064326)),
        ("mpid", Alpha(b"MAXM")),
        ("stock", Alpha(b"FDLS")),
        ("primary_market_maker", Char(b'Y')),
        ("market_maker_mode", Char(b'N')),
        ("market_participant_state", Char(b'A')),
    ];
    assert_fields(v, expected);
    assert_fields(&Message::MarketParticipantPosition(v), expected);
    let mut m = MarketParticipantPosition::new(3648, 0, 34224468064326);
    m.mpid = alpha(b"MAXM");
    m.stock = alpha(b"FDLS");
    m.primary_market_maker = b'Y';
    m.market_maker_mode = b'N';
    m.market_participant_state = b'A';
    assert_eq!(m.as_bytes(), &bytes[..]);
    assert_fields(&m, expected);
}

/// `J` from `omi-data-packets/Nasdaq/Nasdaq.Equities.TotalView.Itch.v5.0.20230822/LULDAuctionCollar.pcap`, frame 1, message 1.
#[test]
fn golden_luld_auction_collar() {
    const BYTES: &str = "4a2c3d00001f1e703b4f955a585a5a5420202000020918000223440001aa9000000000";
    let bytes = hex(BYTES);
    let Ok(Message::LuldAuctionCollar(v)) = Message::parse(&bytes) else {
        panic!("not a LuldAuctionCollar");
    };
    assert_eq!(v.type_byte(), b'J');
    let expected: &[(&str, FieldValue<'_>)] = &[
        ("stock_locate", U64(11325)),
        ("tracking_number", U64(0)),
        ("timestamp", U64(34215592415125)),
        ("stock", Alpha(b"ZXZZT")),
        ("auction_collar_reference_price", Price4(Fixed(133400))),
        ("upper_auction_collar_price", Price4(Fixed(140100))),
        ("lower_auction_collar_price", Price4(Fixed(109200))),
        ("auction_collar_extension", U64(0)),
    ];
    assert_fields(v, expected);
    assert_fields(&Message::LuldAuctionCollar(v), expected);
    let mut m = LuldAuctionCollar::new(11325, 0, 34215592415125);
    m.stock = alpha(b"ZXZZT");
    m.auction_collar_reference_price = price4(Fixed(133400));
    m.upper_auction_collar_price = price4(Fixed(140100));
    m.lower_auction_collar_price = price4(Fixed(109200));
    m.auction_collar_extension = w::U32::new(0);
    assert_eq!(m.as_bytes(), &bytes[..]);
    assert_fields(&m, expected);
}

/// `A` from `omi-data-packets/Nasdaq/Nasdaq.Equities.TotalView.Itch.v5.0.20230822/AddOrderNoMPID.pcap`, frame 1, message 1.
#[test]
fn golden_add_order() {
    const BYTES: &str = "41159800001f1aced85306000000000166b53e420000064049564f4f20202020000d55ac";
    let bytes = hex(BYTES);
    let Ok(Message::AddOrder(v)) = Message::parse(&bytes) else {
        panic!("not a AddOrder");
    };
    assert_eq!(v.type_byte(), b'A');
    let expected: &[(&str, FieldValue<'_>)] = &[
        ("stock_locate", U64(5528)),
        ("tracking_number", U64(0)),
        ("timestamp", U64(34199999894278)),
        ("order_reference_number", U64(23508286)),
        ("buy_sell_indicator", Char(b'B')),
        ("shares", U64(1600)),
        ("stock", Alpha(b"IVOO")),
        ("price", Price4(Fixed(873900))),
    ];
    assert_fields(v, expected);
    assert_fields(&Message::AddOrder(v), expected);
    let mut m = AddOrder::new(5528, 0, 34199999894278);
    m.order_reference_number = w::U64::new(23508286);
    m.buy_sell_indicator = b'B';
    m.shares = w::U32::new(1600);
    m.stock = alpha(b"IVOO");
    m.price = price4(Fixed(873900));
    assert_eq!(m.as_bytes(), &bytes[..]);
    assert_fields(&m, expected);
}

/// `F` from `omi-data-packets/Nasdaq/Nasdaq.Equities.TotalView.Itch.v5.0.20230822/AddOrderWithMPID.pcap`, frame 1, message 1.
#[test]
fn golden_add_order_mpid() {
    const BYTES: &str =
        "4606ca00001f1aced99936000000000120be75530000006443415359202020200026fd40464c5455";
    let bytes = hex(BYTES);
    let Ok(Message::AddOrderMpid(v)) = Message::parse(&bytes) else {
        panic!("not a AddOrderMpid");
    };
    assert_eq!(v.type_byte(), b'F');
    let expected: &[(&str, FieldValue<'_>)] = &[
        ("stock_locate", U64(1738)),
        ("tracking_number", U64(0)),
        ("timestamp", U64(34199999977782)),
        ("order_reference_number", U64(18923125)),
        ("buy_sell_indicator", Char(b'S')),
        ("shares", U64(100)),
        ("stock", Alpha(b"CASY")),
        ("price", Price4(Fixed(2555200))),
        ("attribution", Alpha(b"FLTU")),
    ];
    assert_fields(v, expected);
    assert_fields(&Message::AddOrderMpid(v), expected);
    let mut m = AddOrderMpid::new(1738, 0, 34199999977782);
    m.order_reference_number = w::U64::new(18923125);
    m.buy_sell_indicator = b'S';
    m.shares = w::U32::new(100);
    m.stock = alpha(b"CASY");
    m.price = price4(Fixed(2555200));
    m.attribution = alpha(b"FLTU");
    assert_eq!(m.as_bytes(), &bytes[..]);
    assert_fields(&m, expected);
}

/// `E` from `omi-data-packets/Nasdaq/Nasdaq.Equities.TotalView.Itch.v5.0.20230822/OrderExecuted.pcap`, frame 1, message 1.
#[test]
fn golden_order_executed() {
    const BYTES: &str = "45092900021f1aced8f061000000000166929a00000019000000000003e63b";
    let bytes = hex(BYTES);
    let Ok(Message::OrderExecuted(v)) = Message::parse(&bytes) else {
        panic!("not a OrderExecuted");
    };
    assert_eq!(v.type_byte(), b'E');
    let expected: &[(&str, FieldValue<'_>)] = &[
        ("stock_locate", U64(2345)),
        ("tracking_number", U64(2)),
        ("timestamp", U64(34199999934561)),
        ("order_reference_number", U64(23499418)),
        ("executed_shares", U64(25)),
        ("match_number", U64(255547)),
    ];
    assert_fields(v, expected);
    assert_fields(&Message::OrderExecuted(v), expected);
    let mut m = OrderExecuted::new(2345, 2, 34199999934561);
    m.order_reference_number = w::U64::new(23499418);
    m.executed_shares = w::U32::new(25);
    m.match_number = w::U64::new(255547);
    assert_eq!(m.as_bytes(), &bytes[..]);
    assert_fields(&m, expected);
}

/// `C` from `omi-data-packets/Nasdaq/Nasdaq.Equities.TotalView.Itch.v5.0.20230822/OrderExecutedWithPrice.pcap`, frame 1, message 1.
#[test]
fn golden_order_executed_with_price() {
    const BYTES: &str = "4313e400011f1aceebb03b00000000013113de0000133e000000000003e65d4e00036e20";
    let bytes = hex(BYTES);
    let Ok(Message::OrderExecutedWithPrice(v)) = Message::parse(&bytes) else {
        panic!("not a OrderExecutedWithPrice");
    };
    assert_eq!(v.type_byte(), b'C');
    let expected: &[(&str, FieldValue<'_>)] = &[
        ("stock_locate", U64(5092)),
        ("tracking_number", U64(1)),
        ("timestamp", U64(34200001163323)),
        ("order_reference_number", U64(19993566)),
        ("executed_shares", U64(4926)),
        ("match_number", U64(255581)),
        ("printable", Char(b'N')),
        ("execution_price", Price4(Fixed(224800))),
    ];
    assert_fields(v, expected);
    assert_fields(&Message::OrderExecutedWithPrice(v), expected);
    let mut m = OrderExecutedWithPrice::new(5092, 1, 34200001163323);
    m.order_reference_number = w::U64::new(19993566);
    m.executed_shares = w::U32::new(4926);
    m.match_number = w::U64::new(255581);
    m.printable = b'N';
    m.execution_price = price4(Fixed(224800));
    assert_eq!(m.as_bytes(), &bytes[..]);
    assert_fields(&m, expected);
}

/// `X` from `omi-data-packets/Nasdaq/Nasdaq.Equities.TotalView.Itch.v5.0.20230822/OrderCancel.pcap`, frame 1, message 1.
#[test]
fn golden_order_cancel() {
    const BYTES: &str = "5824c500001f1acefe785d0000000002041a0000000064";
    let bytes = hex(BYTES);
    let Ok(Message::OrderCancel(v)) = Message::parse(&bytes) else {
        panic!("not a OrderCancel");
    };
    assert_eq!(v.type_byte(), b'X');
    let expected: &[(&str, FieldValue<'_>)] = &[
        ("stock_locate", U64(9413)),
        ("tracking_number", U64(0)),
        ("timestamp", U64(34200002394205)),
        ("order_reference_number", U64(33823232)),
        ("cancelled_shares", U64(100)),
    ];
    assert_fields(v, expected);
    assert_fields(&Message::OrderCancel(v), expected);
    let mut m = OrderCancel::new(9413, 0, 34200002394205);
    m.order_reference_number = w::U64::new(33823232);
    m.cancelled_shares = w::U32::new(100);
    assert_eq!(m.as_bytes(), &bytes[..]);
    assert_fields(&m, expected);
}

/// `D` from `omi-data-packets/Nasdaq/Nasdaq.Equities.TotalView.Itch.v5.0.20230822/OrderDelete.pcap`, frame 1, message 1.
#[test]
fn golden_order_delete() {
    const BYTES: &str = "440d1900001f1aced840ed000000000165b51a";
    let bytes = hex(BYTES);
    let Ok(Message::OrderDelete(v)) = Message::parse(&bytes) else {
        panic!("not a OrderDelete");
    };
    assert_eq!(v.type_byte(), b'D');
    let expected: &[(&str, FieldValue<'_>)] = &[
        ("stock_locate", U64(3353)),
        ("tracking_number", U64(0)),
        ("timestamp", U64(34199999889645)),
        ("order_reference_number", U64(23442714)),
    ];
    assert_fields(v, expected);
    assert_fields(&Message::OrderDelete(v), expected);
    let mut m = OrderDelete::new(3353, 0, 34199999889645);
    m.order_reference_number = w::U64::new(23442714);
    assert_eq!(m.as_bytes(), &bytes[..]);
    assert_fields(&m, expected);
}

/// `U` from `omi-data-packets/Nasdaq/Nasdaq.Equities.TotalView.Itch.v5.0.20230822/OrderReplace.pcap`, frame 1, message 1.
#[test]
fn golden_order_replace() {
    const BYTES: &str = "551db300001f1aced771e90000000000e6897f000000000145f2c700000064001036c8";
    let bytes = hex(BYTES);
    let Ok(Message::OrderReplace(v)) = Message::parse(&bytes) else {
        panic!("not a OrderReplace");
    };
    assert_eq!(v.type_byte(), b'U');
    let expected: &[(&str, FieldValue<'_>)] = &[
        ("stock_locate", U64(7603)),
        ("tracking_number", U64(0)),
        ("timestamp", U64(34199999836649)),
        ("original_order_reference_number", U64(15108479)),
        ("new_order_reference_number", U64(21361351)),
        ("shares", U64(100)),
        ("price", Price4(Fixed(1062600))),
    ];
    assert_fields(v, expected);
    assert_fields(&Message::OrderReplace(v), expected);
    let mut m = OrderReplace::new(7603, 0, 34199999836649);
    m.original_order_reference_number = w::U64::new(15108479);
    m.new_order_reference_number = w::U64::new(21361351);
    m.shares = w::U32::new(100);
    m.price = price4(Fixed(1062600));
    assert_eq!(m.as_bytes(), &bytes[..]);
    assert_fields(&m, expected);
}

/// `P` from `omi-data-packets/Nasdaq/Nasdaq.Equities.TotalView.Itch.v5.0.20230822/NonCrossTrade.pcap`, frame 1, message 1.
#[test]
fn golden_trade() {
    const BYTES: &str =
        "50119300021f1acee462a900000000000000004200000064474f4f474c202020001399f8000000000003e642";
    let bytes = hex(BYTES);
    let Ok(Message::Trade(v)) = Message::parse(&bytes) else {
        panic!("not a Trade");
    };
    assert_eq!(v.type_byte(), b'P');
    let expected: &[(&str, FieldValue<'_>)] = &[
        ("stock_locate", U64(4499)),
        ("tracking_number", U64(2)),
        ("timestamp", U64(34200000684713)),
        ("order_reference_number", U64(0)),
        ("buy_sell_indicator", Char(b'B')),
        ("shares", U64(100)),
        ("stock", Alpha(b"GOOGL")),
        ("price", Price4(Fixed(1284600))),
        ("match_number", U64(255554)),
    ];
    assert_fields(v, expected);
    assert_fields(&Message::Trade(v), expected);
    let mut m = Trade::new(4499, 2, 34200000684713);
    m.order_reference_number = w::U64::new(0);
    m.buy_sell_indicator = b'B';
    m.shares = w::U32::new(100);
    m.stock = alpha(b"GOOGL");
    m.price = price4(Fixed(1284600));
    m.match_number = w::U64::new(255554);
    assert_eq!(m.as_bytes(), &bytes[..]);
    assert_fields(&m, expected);
}

/// `Q` from `omi-data-packets/Nasdaq/Nasdaq.Equities.TotalView.Itch.v5.0.20230822/CrossTrade.pcap`, frame 1, message 1.
#[test]
fn golden_cross_trade() {
    const BYTES: &str =
        "5103d700011f1acee1500300000000000000004241432d5120202000000000000000000003e63e4f";
    let bytes = hex(BYTES);
    let Ok(Message::CrossTrade(v)) = Message::parse(&bytes) else {
        panic!("not a CrossTrade");
    };
    assert_eq!(v.type_byte(), b'Q');
    let expected: &[(&str, FieldValue<'_>)] = &[
        ("stock_locate", U64(983)),
        ("tracking_number", U64(1)),
        ("timestamp", U64(34200000483331)),
        ("shares", U64(0)),
        ("stock", Alpha(b"BAC-Q")),
        ("cross_price", Price4(Fixed(0))),
        ("match_number", U64(255550)),
        ("cross_type", Char(b'O')),
    ];
    assert_fields(v, expected);
    assert_fields(&Message::CrossTrade(v), expected);
    let mut m = CrossTrade::new(983, 1, 34200000483331);
    m.shares = w::U64::new(0);
    m.stock = alpha(b"BAC-Q");
    m.cross_price = price4(Fixed(0));
    m.match_number = w::U64::new(255550);
    m.cross_type = b'O';
    assert_eq!(m.as_bytes(), &bytes[..]);
    assert_fields(&m, expected);
}

/// `I` from `omi-data-packets/Nasdaq/Nasdaq.Equities.TotalView.Itch.v5.0.20230822/NetOrderImbalanceIndicator.pcap`, frame 1, message 1.
#[test]
fn golden_noii() {
    const BYTES: &str = "491ead00001f1acedb43f1000000000000000000000000000000004f50465441572020200000000000000000000000004f20";
    let bytes = hex(BYTES);
    let Ok(Message::Noii(v)) = Message::parse(&bytes) else {
        panic!("not a Noii");
    };
    assert_eq!(v.type_byte(), b'I');
    let expected: &[(&str, FieldValue<'_>)] = &[
        ("stock_locate", U64(7853)),
        ("tracking_number", U64(0)),
        ("timestamp", U64(34200000087025)),
        ("paired_shares", U64(0)),
        ("imbalance_shares", U64(0)),
        ("imbalance_direction", Char(b'O')),
        ("stock", Alpha(b"PFTAW")),
        ("far_price", Price4(Fixed(0))),
        ("near_price", Price4(Fixed(0))),
        ("current_reference_price", Price4(Fixed(0))),
        ("cross_type", Char(b'O')),
        ("price_variation_indicator", Char(b' ')),
    ];
    assert_fields(v, expected);
    assert_fields(&Message::Noii(v), expected);
    let mut m = Noii::new(7853, 0, 34200000087025);
    m.paired_shares = w::U64::new(0);
    m.imbalance_shares = w::U64::new(0);
    m.imbalance_direction = b'O';
    m.stock = alpha(b"PFTAW");
    m.far_price = price4(Fixed(0));
    m.near_price = price4(Fixed(0));
    m.current_reference_price = price4(Fixed(0));
    m.cross_type = b'O';
    m.price_variation_indicator = b' ';
    assert_eq!(m.as_bytes(), &bytes[..]);
    assert_fields(&m, expected);
}

/// `N` from `omi-data-packets/Nasdaq/Bx.Equities.TotalView.Itch.v5.0.20230822/RetailInterestMessage.pcap`, frame 1, message 1.
#[test]
fn golden_rpii() {
    const BYTES: &str = "4e04ea00001f1aceceff2f42495a44202020204e";
    let bytes = hex(BYTES);
    let Ok(Message::Rpii(v)) = Message::parse(&bytes) else {
        panic!("not a Rpii");
    };
    assert_eq!(v.type_byte(), b'N');
    let expected: &[(&str, FieldValue<'_>)] = &[
        ("stock_locate", U64(1258)),
        ("tracking_number", U64(0)),
        ("timestamp", U64(34199999282991)),
        ("stock", Alpha(b"BIZD")),
        ("interest_flag", Char(b'N')),
    ];
    assert_fields(v, expected);
    assert_fields(&Message::Rpii(v), expected);
    let mut m = Rpii::new(1258, 0, 34199999282991);
    m.stock = alpha(b"BIZD");
    m.interest_flag = b'N';
    assert_eq!(m.as_bytes(), &bytes[..]);
    assert_fields(&m, expected);
}

// ---- Hand-built from the spec's offsets (no public capture has these types). ----
// Common header used below: locate 0x0102 = 258, tracking 0x0304 = 772,
// timestamp 0x1f1acedb02f0 = 34 200 000 070 384 ns (09:30:00.000070384).
const HDR: &str = "0102" /* locate */;
const TRK: &str = "0304";
const TS: &str = "1f1acedb02f0";

fn hand(t: u8, rest: &[&str]) -> Vec<u8> {
    let mut s = std::format!("{t:02x}{HDR}{TRK}{TS}");
    for r in rest {
        s.push_str(r);
    }
    hex(&s)
}

fn header_fields() -> [(&'static str, FieldValue<'static>); 3] {
    [
        ("stock_locate", U64(258)),
        ("tracking_number", U64(772)),
        ("timestamp", U64(34_200_000_070_384)),
    ]
}

fn with_header<'a>(rest: &[(&'static str, FieldValue<'a>)]) -> Vec<(&'static str, FieldValue<'a>)> {
    let mut v: Vec<_> = header_fields().into_iter().collect();
    v.extend_from_slice(rest);
    v
}

#[test]
fn golden_stock_directory_by_hand() {
    let bytes = hand(
        b'R',
        &[
            "4141504c20202020", // 11 stock "AAPL    "
            "51",               // 19 market category Q
            "4e",               // 20 financial status N
            "00000064",         // 21 round lot size 100
            "4e",               // 25 round lots only N
            "43",               // 26 issue classification C
            "5a20",             // 27 issue sub-type "Z "
            "50",               // 29 authenticity P
            "4e",               // 30 short sale threshold N
            "20",               // 31 IPO flag space
            "31",               // 32 LULD tier 1
            "59",               // 33 ETP flag Y
            "00000003",         // 34 ETP leverage factor 3
            "59",               // 38 inverse Y
        ],
    );
    assert_eq!(bytes.len(), StockDirectory::LEN);
    let Ok(Message::StockDirectory(v)) = Message::parse(&bytes) else {
        panic!("not R")
    };
    let expected = with_header(&[
        ("stock", Alpha(b"AAPL")),
        ("market_category", Char(b'Q')),
        ("financial_status_indicator", Char(b'N')),
        ("round_lot_size", U64(100)),
        ("round_lots_only", Char(b'N')),
        ("issue_classification", Char(b'C')),
        ("issue_sub_type", Alpha(b"Z")),
        ("authenticity", Char(b'P')),
        ("short_sale_threshold_indicator", Char(b'N')),
        ("ipo_flag", Char(b' ')),
        ("luld_reference_price_tier", Char(b'1')),
        ("etp_flag", Char(b'Y')),
        ("etp_leverage_factor", U64(3)),
        ("inverse_indicator", Char(b'Y')),
    ]);
    assert_fields(v, &expected);
    assert_eq!(v.stock_str(), Some("AAPL"));
    let mut m = StockDirectory::new(258, 772, 34_200_000_070_384);
    m.stock = alpha(b"AAPL");
    m.market_category = b'Q';
    m.financial_status_indicator = b'N';
    m.round_lot_size = w::U32::new(100);
    m.round_lots_only = b'N';
    m.issue_classification = b'C';
    m.issue_sub_type = alpha(b"Z");
    m.authenticity = b'P';
    m.short_sale_threshold_indicator = b'N';
    m.luld_reference_price_tier = b'1';
    m.etp_flag = b'Y';
    m.etp_leverage_factor = w::U32::new(3);
    m.inverse_indicator = b'Y';
    assert_eq!(m.as_bytes(), &bytes[..]);
}

#[test]
fn golden_mwcb_decline_level_by_hand() {
    let bytes = hand(
        b'V',
        &[
            "000000b2d05e0000", // 11 level 1 = 7680.00000000 (768 000 000 000)
            "000000a7a3580000", // 19 level 2
            "0000008bb2c97000", // 27 level 3
        ],
    );
    assert_eq!(bytes.len(), MwcbDeclineLevel::LEN);
    let Ok(Message::MwcbDeclineLevel(v)) = Message::parse(&bytes) else {
        panic!("not V")
    };
    let (l1, l2, l3) = (0xb2d05e0000u64, 0xa7a3580000u64, 0x8bb2c97000u64);
    assert_eq!(l1, 768_000_000_000);
    assert_eq!(std::format!("{}", v.level_1()), "7680.00000000");
    let expected = with_header(&[
        ("level_1", Price8(UFixed(l1))),
        ("level_2", Price8(UFixed(l2))),
        ("level_3", Price8(UFixed(l3))),
    ]);
    assert_fields(v, &expected);
    let mut m = MwcbDeclineLevel::new(258, 772, 34_200_000_070_384);
    m.level_1 = price8(UFixed(l1));
    m.level_2 = price8(UFixed(l2));
    m.level_3 = price8(UFixed(l3));
    assert_eq!(m.as_bytes(), &bytes[..]);
}

/// `Price(8)` is an unsigned 8-byte integer: values at and above 2^63 are large positive
/// prices, never negative ones.
#[test]
fn golden_mwcb_decline_level_at_the_unsigned_extremes() {
    let bytes = hand(
        b'V',
        &[
            "ffffffffffffffff", // 11 level 1 = u64::MAX = 184467440737.09551615
            "8000000000000000", // 19 level 2 = 2^63 = 92233720368.54775808
            "7fffffffffffffff", // 27 level 3 = i64::MAX
        ],
    );
    let Ok(Message::MwcbDeclineLevel(v)) = Message::parse(&bytes) else {
        panic!("not V")
    };
    assert_eq!(v.level_1(), UFixed(u64::MAX));
    assert_eq!(std::format!("{}", v.level_1()), "184467440737.09551615");
    assert_eq!(std::format!("{}", v.level_2()), "92233720368.54775808");
    assert_eq!(std::format!("{}", v.level_3()), "92233720368.54775807");
    let expected = with_header(&[
        ("level_1", Price8(UFixed(u64::MAX))),
        ("level_2", Price8(UFixed(1 << 63))),
        ("level_3", Price8(UFixed(i64::MAX as u64))),
    ]);
    assert_fields(v, &expected);
    let mut m = MwcbDeclineLevel::new(258, 772, 34_200_000_070_384);
    m.level_1 = price8(UFixed(u64::MAX));
    m.level_2 = price8(UFixed(1 << 63));
    m.level_3 = price8(UFixed(i64::MAX as u64));
    assert_eq!(m.as_bytes(), &bytes[..]);
}

#[test]
fn golden_mwcb_status_by_hand() {
    let bytes = hand(b'W', &["32" /* 11 breached level 2 */]);
    assert_eq!(bytes.len(), MwcbStatus::LEN);
    let Ok(Message::MwcbStatus(v)) = Message::parse(&bytes) else {
        panic!("not W")
    };
    assert_fields(v, &with_header(&[("breached_level", Char(b'2'))]));
    let mut m = MwcbStatus::new(258, 772, 34_200_000_070_384);
    m.breached_level = b'2';
    assert_eq!(m.as_bytes(), &bytes[..]);
}

#[test]
fn golden_ipo_quoting_period_update_by_hand() {
    let bytes = hand(
        b'K',
        &[
            "5a56495054202020", // 11 stock "ZVIPT   "
            "00008ca0",         // 19 release time 36 000 s (10:00)
            "41",               // 23 qualifier A
            "000186a0",         // 24 IPO price 10.0000
        ],
    );
    assert_eq!(bytes.len(), IpoQuotingPeriodUpdate::LEN);
    let Ok(Message::IpoQuotingPeriodUpdate(v)) = Message::parse(&bytes) else {
        panic!("not K")
    };
    assert_fields(
        v,
        &with_header(&[
            ("stock", Alpha(b"ZVIPT")),
            ("ipo_quotation_release_time", U64(36_000)),
            ("ipo_quotation_release_qualifier", Char(b'A')),
            ("ipo_price", Price4(Fixed(100_000))),
        ]),
    );
    let mut m = IpoQuotingPeriodUpdate::new(258, 772, 34_200_000_070_384);
    m.stock = alpha(b"ZVIPT");
    m.ipo_quotation_release_time = w::U32::new(36_000);
    m.ipo_quotation_release_qualifier = b'A';
    m.ipo_price = price4(Fixed(100_000));
    assert_eq!(m.as_bytes(), &bytes[..]);
}

#[test]
fn golden_operational_halt_by_hand() {
    let bytes = hand(
        b'h',
        &[
            "4d53465420202020", // 11 stock "MSFT    "
            "51",               // 19 market code Q
            "48",               // 20 action H
        ],
    );
    assert_eq!(bytes.len(), OperationalHalt::LEN);
    let Ok(Message::OperationalHalt(v)) = Message::parse(&bytes) else {
        panic!("not h")
    };
    assert_fields(
        v,
        &with_header(&[
            ("stock", Alpha(b"MSFT")),
            ("market_code", Char(b'Q')),
            ("operational_halt_action", Char(b'H')),
        ]),
    );
    let mut m = OperationalHalt::new(258, 772, 34_200_000_070_384);
    m.stock = alpha(b"MSFT");
    m.market_code = b'Q';
    m.operational_halt_action = b'H';
    assert_eq!(m.as_bytes(), &bytes[..]);
}

#[test]
fn golden_broken_trade_by_hand() {
    let bytes = hand(b'B', &["00000000000003e6" /* 11 match number 998 */]);
    assert_eq!(bytes.len(), BrokenTrade::LEN);
    let Ok(Message::BrokenTrade(v)) = Message::parse(&bytes) else {
        panic!("not B")
    };
    assert_fields(v, &with_header(&[("match_number", U64(998))]));
    let mut m = BrokenTrade::new(258, 772, 34_200_000_070_384);
    m.match_number = w::U64::new(998);
    assert_eq!(m.as_bytes(), &bytes[..]);
}

#[test]
fn golden_dlcr_by_hand() {
    let bytes = hand(
        b'O',
        &[
            "444c435220202020", // 11 stock "DLCR    "
            "59",               // 19 open eligibility Y
            "00013880",         // 20 min allowable 8.0000
            "0002bf20",         // 24 max allowable 18.0000
            "000186a0",         // 28 near execution price 10.0000
            "00001f1acedb02f0", // 32 near execution time
            "00015f90",         // 40 lower collar 9.0000
            "0001adb0",         // 44 upper collar 11.0000
        ],
    );
    assert_eq!(bytes.len(), Dlcr::LEN);
    let Ok(Message::Dlcr(v)) = Message::parse(&bytes) else {
        panic!("not O")
    };
    assert_fields(
        v,
        &with_header(&[
            ("stock", Alpha(b"DLCR")),
            ("open_eligibility_status", Char(b'Y')),
            ("minimum_allowable_price", Price4(Fixed(80_000))),
            ("maximum_allowable_price", Price4(Fixed(180_000))),
            ("near_execution_price", Price4(Fixed(100_000))),
            ("near_execution_time", U64(34_200_000_070_384)),
            ("lower_price_range_collar", Price4(Fixed(90_000))),
            ("upper_price_range_collar", Price4(Fixed(110_000))),
        ]),
    );
    let mut m = Dlcr::new(258, 772, 34_200_000_070_384);
    m.stock = alpha(b"DLCR");
    m.open_eligibility_status = b'Y';
    m.minimum_allowable_price = price4(Fixed(80_000));
    m.maximum_allowable_price = price4(Fixed(180_000));
    m.near_execution_price = price4(Fixed(100_000));
    m.near_execution_time = w::U64::new(34_200_000_070_384);
    m.lower_price_range_collar = price4(Fixed(90_000));
    m.upper_price_range_collar = price4(Fixed(110_000));
    assert_eq!(m.as_bytes(), &bytes[..]);
}

// ---- Typed accessors beyond the field walk. ----

/// `A` from `Nasdaq.Equities.TotalView.Itch.v5.0.20230822/AddOrderNoMPID.pcap`, frame 1.
const ADD_ORDER_NO_MPID: &str =
    "41159800001f1aced85306000000000166b53e420000064049564f4f20202020000d55ac";

#[test]
fn typed_accessors_of_a_real_add_order() {
    let bytes = hex(ADD_ORDER_NO_MPID);
    let Ok(Message::AddOrder(v)) = Message::parse(&bytes) else {
        panic!("not A")
    };
    assert_eq!(v.side(), Some(Side::Buy));
    assert_eq!(v.stock_str(), Some("IVOO"));
    assert_eq!(v.stock, *b"IVOO    ");
    assert_eq!(v.price(), Fixed::<4>(873_900));
    assert_eq!(std::format!("{}", v.price()), "87.3900");
    assert_eq!(v.timestamp(), 34_199_999_894_278);
    assert_eq!(v.shares(), 1600);
    let m = Message::AddOrder(v);
    assert_eq!(
        (m.stock_locate(), m.tracking_number(), m.timestamp()),
        (Some(5528), Some(0), Some(34_199_999_894_278))
    );
    // A venue appending fields: the longer message still decodes to the same values.
    let mut longer = bytes.clone();
    longer.extend_from_slice(b"extra");
    assert_eq!(Message::parse(&longer), Ok(m));
    assert_eq!(Message::parse(&bytes[..35]).ok(), None);
}
