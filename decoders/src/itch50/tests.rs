//! Layout and parse-boundary tests of the ITCH 5.0 views (golden bytes live in `golden.rs`).

use super::*;
use zerocopy::IntoBytes;

/// The spec's summary table: type byte and length of all 23 messages.
const SPEC: [(u8, usize); 23] = [
    (b'S', 12),
    (b'R', 39),
    (b'H', 25),
    (b'Y', 20),
    (b'L', 26),
    (b'V', 35),
    (b'W', 12),
    (b'K', 28),
    (b'J', 35),
    (b'h', 21),
    (b'A', 36),
    (b'F', 40),
    (b'E', 31),
    (b'C', 36),
    (b'X', 23),
    (b'D', 19),
    (b'U', 35),
    (b'P', 44),
    (b'Q', 40),
    (b'B', 19),
    (b'I', 50),
    (b'N', 20),
    (b'O', 48),
];

#[test]
fn len_of_matches_spec_table_and_nothing_else_is_known() {
    for (t, len) in SPEC {
        assert_eq!(len_of(t), Some(len), "type {}", t as char);
    }
    assert_eq!(ALL_TYPES.map(|t| (t, len_of(t).unwrap())), SPEC);
    let known = (0..=255u8).filter(|&t| len_of(t).is_some()).count();
    assert_eq!(known, 23);
}

#[test]
fn parse_needs_the_spec_length_and_accepts_more() {
    let mut buf = [0u8; 64];
    for (t, len) in SPEC {
        buf[0] = t;
        let m = Message::parse(&buf[..len]).unwrap();
        assert_eq!(m.type_byte(), t);
        assert_eq!(m.as_bytes().len(), len);
        assert!(Message::parse(&buf[..len + 5]).is_ok());
        assert_eq!(
            Message::parse(&buf[..len - 1]),
            Err(MsgError::Truncated {
                msg_type: t,
                len: len - 1
            })
        );
        assert_eq!(
            Message::parse(&buf[..1]),
            Err(MsgError::Truncated {
                msg_type: t,
                len: 1
            })
        );
    }
    assert_eq!(Message::parse(&[]), Err(MsgError::Empty));
    assert_eq!(Message::parse(b"z123"), Ok(Message::Unknown(b'z')));
    assert_eq!(Message::parse(b"z").unwrap().stock_locate(), None);
}

#[test]
fn new_sets_header_and_blanks_text_fields() {
    let m = StockDirectory::new(0x0102, 0x0304, 0x0000_1122_3344_5566);
    assert_eq!(
        &m.as_bytes()[..11],
        &[b'R', 1, 2, 3, 4, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66]
    );
    assert_eq!(m.stock, *b"        ");
    assert_eq!(m.issue_sub_type, *b"  ");
    assert_eq!(m.market_category, b' ');
    assert_eq!(m.round_lot_size(), 0);
    assert_eq!(m.stock(), b"");
}

#[test]
fn u48_round_trips_and_drops_high_bits() {
    for v in [
        0u64,
        1,
        34_200_000_000_000,
        86_400_000_000_000,
        (1 << 48) - 1,
    ] {
        assert_eq!(read_u48(&write_u48(v)), v);
    }
    assert_eq!(read_u48(&write_u48(1 << 48)), 0);
    assert_eq!(write_u48(0x0102_0304_0506), [1, 2, 3, 4, 5, 6]);
}

#[test]
fn encoder_helpers() {
    assert_eq!(alpha::<8>(b"AAPL"), *b"AAPL    ");
    assert_eq!(alpha::<4>(b"TOOLONG"), *b"TOOL");
    assert_eq!(price4(crate::price::Fixed(805_200)).get(), 805_200);
    assert_eq!(price4(crate::price::Fixed(-1)).get(), 0);
    assert_eq!(price4(crate::price::Fixed(1 << 40)).get(), u32::MAX);
    assert_eq!(price8(crate::price::UFixed(u64::MAX)).get(), u64::MAX);
    assert_eq!(Side::from_byte(b'B'), Some(Side::Buy));
    assert_eq!(Side::from_byte(b'S').map(Side::to_byte), Some(b'S'));
    assert_eq!(Side::from_byte(b'X'), None);
    assert_eq!(alpha_str(b"AAPL"), Some("AAPL"));
    assert_eq!(alpha_str(&[0xff]), None);
}
