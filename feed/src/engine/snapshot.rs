//! Snapshots of the engine's counters: named values for reports, monitoring and JSON.

use serde::Serialize;

use super::seq::SeqStats;
use super::Engine;

/// A snapshot of the engine's named counters ([`Engine::stats`]).
#[derive(Clone, Debug, Default, Serialize)]
pub struct EngineSnapshot {
    /// Datagrams given to the engine.
    pub datagrams: u64,
    /// ITCH messages decoded.
    pub itch_messages: u64,
    /// ITCH messages by type (printable type byte or `0xNN`; a JSON object).
    #[serde(serialize_with = "as_map")]
    pub itch_types: Vec<(String, u64)>,
    /// IEX messages decoded.
    pub iex_messages: u64,
    /// IEX messages by type (a JSON object).
    #[serde(serialize_with = "as_map")]
    pub iex_types: Vec<(String, u64)>,
    /// Malformed MoldUDP64 packets.
    pub mold_malformed: u64,
    /// Malformed IEX-TP segments.
    pub iextp_malformed: u64,
    /// Malformed ITCH messages.
    pub itch_malformed: u64,
    /// Malformed IEX messages.
    pub iex_malformed: u64,
    /// IEX-TP segments of another protocol.
    pub iex_other_protocol: u64,
    /// Live: datagrams of the other protocol than the one asked for, dropped.
    pub foreign: u64,
    /// Datagrams that are neither MoldUDP64 nor IEX-TP (another venue's feed: CME MDP3, Cboe
    /// PITCH…), dropped.
    pub unknown_protocol: u64,
    /// MoldUDP64 sequencing (absent when no MoldUDP64 packet was seen).
    pub moldudp64: Option<SequencingSnapshot>,
    /// IEX-TP sequencing.
    pub iextp: Option<SequencingSnapshot>,
    /// ITCH instruments with levels at the end.
    pub itch_books: u64,
    /// Live ITCH orders at the end.
    pub live_orders: u64,
    /// Order store slots.
    pub order_slots: u64,
    /// Order store growths past the configured size.
    pub order_growths: u64,
    /// IEX DEEP symbols with levels at the end.
    pub deep_books: u64,
    /// IEX symbols seen.
    pub deep_symbols: u64,
    /// ITCH book anomalies.
    pub itch_anomalies: super::itch_book::ItchAnomalies,
    /// DEEP book anomalies.
    pub deep_anomalies: super::deep_book::DeepAnomalies,
    /// Level storage growths.
    pub level_growths: u64,
    /// Book resets (session changes).
    pub book_resets: u64,
}

/// One transport's sequencing.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SequencingSnapshot {
    /// The counters.
    #[serde(flatten)]
    pub stats: SeqStats,
    /// Messages of gaps still open at the end.
    pub open_gap_messages: u64,
}

fn as_map<S: serde::Serializer>(v: &[(String, u64)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(v.len()))?;
    for (k, n) in v {
        m.serialize_entry(k, n)?;
    }
    m.end()
}

fn type_name(t: usize) -> String {
    let c = t as u8;
    if c.is_ascii_graphic() {
        (c as char).to_string()
    } else {
        format!("0x{t:02x}")
    }
}

fn by_type(types: &[u64; 256]) -> Vec<(String, u64)> {
    types
        .iter()
        .enumerate()
        .filter(|(_, &n)| n > 0)
        .map(|(t, &n)| (type_name(t), n))
        .collect()
}

impl EngineSnapshot {
    /// The counters of `e`.
    pub(super) fn of(e: &Engine) -> Self {
        let s = &e.stats;
        let seq = |q: &SeqStats, open: u64| {
            (q.packets > 0).then_some(SequencingSnapshot {
                stats: *q,
                open_gap_messages: open,
            })
        };
        EngineSnapshot {
            datagrams: s.datagrams,
            itch_messages: s.itch_messages(),
            itch_types: by_type(&s.itch_types),
            iex_messages: s.iex_messages(),
            iex_types: by_type(&s.iex_types),
            mold_malformed: s.mold_malformed,
            iextp_malformed: s.iextp_malformed,
            itch_malformed: s.itch_malformed,
            iex_malformed: s.iex_malformed,
            iex_other_protocol: s.iex_other_protocol,
            foreign: 0,
            unknown_protocol: s.unknown_protocol,
            moldudp64: seq(&e.mold_seq.stats, e.mold_seq.open_gap_messages()),
            iextp: seq(&e.iex_seq.stats, e.iex_seq.open_gap_messages()),
            itch_books: e.itch.instruments().filter(|(_, i)| !i.is_empty()).count() as u64,
            live_orders: e.itch.orders.len() as u64,
            order_slots: e.itch.orders.capacity() as u64,
            order_growths: e.itch.orders.growths(),
            deep_books: e
                .deep
                .instruments()
                .filter(|(_, d)| !d.bids.is_empty() || !d.asks.is_empty())
                .count() as u64,
            deep_symbols: e.deep.len() as u64,
            itch_anomalies: e.itch.anomalies,
            deep_anomalies: e.deep.anomalies,
            level_growths: e.itch.level_growths() + e.deep.level_growths(),
            book_resets: s.book_resets,
        }
    }

    /// Messages decoded (ITCH and IEX).
    pub fn messages(&self) -> u64 {
        self.itch_messages + self.iex_messages
    }

    /// Malformed packets and messages, all kinds.
    pub fn malformed(&self) -> u64 {
        self.mold_malformed + self.iextp_malformed + self.itch_malformed + self.iex_malformed
    }
}
