//! A uniform, allocation-free way to walk every field of any decoded message.
//!
//! Every message view implements [`Fields`]: it calls [`FieldVisitor::field`] once per field,
//! in wire order, under the field's spec name in `snake_case` (`stock_locate`,
//! `order_reference_number`, `buy_sell_indicator`, …). The `fh decode` text and JSON writers
//! and the oracle comparison tests are written once against this trait.

use crate::price::{Price4, Price8};

/// One field's value, borrowed from the packet where possible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValue<'a> {
    /// Unsigned integer (counts, sequence numbers, locates, timestamps, flag bytes).
    U64(u64),
    /// Signed integer (IEX `Long` fields that are not prices or timestamps).
    I64(i64),
    /// A one-byte character code (`char` in the specs).
    Char(u8),
    /// An alpha field with trailing spaces removed (symbols, MPIDs, reasons).
    Alpha(&'a [u8]),
    /// Price with 4 implied decimals.
    Price4(Price4),
    /// Price with 8 implied decimals.
    Price8(Price8),
}

/// Receives fields from [`Fields::visit_fields`].
pub trait FieldVisitor {
    /// Called once per field, in wire order. `name` is the spec name in `snake_case`.
    fn field(&mut self, name: &'static str, value: FieldValue<'_>);
}

/// Implemented by every message view (and message enum) of this crate.
pub trait Fields {
    /// The message type byte (`b'A'`, `b'8'`, …).
    fn type_byte(&self) -> u8;
    /// Visits every field except the message type itself.
    fn visit_fields(&self, v: &mut dyn FieldVisitor);
}

/// Trims trailing ASCII spaces from an alpha field.
#[inline]
pub fn trim_alpha(b: &[u8]) -> &[u8] {
    let mut end = b.len();
    while end > 0 && b[end - 1] == b' ' {
        end -= 1;
    }
    &b[..end]
}
