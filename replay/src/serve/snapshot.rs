//! # Snapshots over SoupBinTCP 3.0, GLIMPSE-style: the one module that knows the layout
//!
//! The byte layout fh's snapshot server writes and `fh live --snapshot` reads. SoupBinTCP 3.0
//! framing follows Nasdaq's *SoupBinTCP* specification 3.0 (`moldudp64.md` cites it): every
//! packet is a big-endian `u16` length (type byte + payload), a type byte and the payload;
//! alpha fields are ASCII, left-justified, space-padded; numeric fields are ASCII digits,
//! right-justified, space-padded.
//!
//! | dir | type | payload | fh's use |
//! |---|---|---|---|
//! | C→S | `L` Login Request | username a(6), password a(10), requested session a(10), requested sequence number n(20) | session blank = the current one; sequence `1` = the whole snapshot |
//! | S→C | `A` Login Accepted | session a(10), sequence number n(20) | the MoldUDP64 session of the live stream; `1` |
//! | S→C | `J` Login Rejected | reason a(1) | `S`: no such session |
//! | S→C | `S` Sequenced Data | one ITCH 5.0 message | the snapshot, in the order below |
//! | S→C | `Z` End of Session | — | after the end-of-snapshot message; then the server closes |
//! | C→S | `O` Logout Request | — | optional |
//!
//! The snapshot's messages, each one `S` packet, in this order: every System Event (`S`) so
//! far, in order; per stock locate in order of first appearance its Stock Directory (`R`), last
//! Stock Trading Action (`H`), last Reg SHO Restriction (`Y`) and last Retail Price Improvement
//! Indicator (`N`); an Add Order for every order live at the snapshot point in time priority
//! (its original `A` or `F` bytes with the shares left, or an `A` made from the Order Replace
//! that created it); then the **end-of-snapshot message**.
//!
//! ## End-of-snapshot message (fh's layout; not confirmed from a public specification)
//! Nasdaq GLIMPSE 5.0 ends a snapshot with an "End of Snapshot" message carrying the ITCH
//! sequence number the snapshot reflects. Its exact bytes could not be confirmed from a public
//! copy of the GLIMPSE specification, so fh uses this layout, kept here only:
//!
//! | off | len | field | value |
//! |---:|---:|---|---|
//! | 0 | 1 | Message Type | `G` (0x47; no ITCH 5.0 message uses it) |
//! | 1 | 20 | Sequence Number | numeric(20): the last ITCH (MoldUDP64) sequence number the snapshot includes; the live stream resumes at this + 1 |
//!
//! 21 bytes; as a SoupBinTCP packet `00 16 'S' 'G' <20 digits>`.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{Log, Progress};

/// Message type of the end-of-snapshot message.
pub const END_OF_SNAPSHOT: u8 = b'G';
/// Length of the end-of-snapshot message.
pub const END_OF_SNAPSHOT_LEN: usize = 21;
/// Payload length of a Login Request.
pub const LOGIN_REQUEST_LEN: usize = 46;
/// Payload length of a Login Accepted.
pub const LOGIN_ACCEPTED_LEN: usize = 30;

/// Writes ASCII digits right-justified in `out`, space-padded.
pub fn numeric(out: &mut [u8], v: u64) {
    let s = v.to_string();
    let n = s.len().min(out.len());
    out.fill(b' ');
    let w = out.len();
    out[w - n..].copy_from_slice(&s.as_bytes()[s.len() - n..]);
}

/// Reads a numeric field (spaces around digits allowed); `None` if not a number.
pub fn parse_numeric(b: &[u8]) -> Option<u64> {
    let t = std::str::from_utf8(b).ok()?.trim();
    if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// The end-of-snapshot message for `seq`.
pub fn end_of_snapshot(seq: u64) -> [u8; END_OF_SNAPSHOT_LEN] {
    let mut m = [0u8; END_OF_SNAPSHOT_LEN];
    m[0] = END_OF_SNAPSHOT;
    numeric(&mut m[1..], seq);
    m
}

/// The sequence number of an end-of-snapshot message, if `m` is one.
pub fn parse_end_of_snapshot(m: &[u8]) -> Option<u64> {
    if m.len() != END_OF_SNAPSHOT_LEN || m[0] != END_OF_SNAPSHOT {
        return None;
    }
    parse_numeric(&m[1..])
}

/// A Login Request packet (length prefix included).
pub fn login_request(session: Option<&[u8; 10]>, seq: u64) -> [u8; 3 + LOGIN_REQUEST_LEN] {
    let mut p = [b' '; 3 + LOGIN_REQUEST_LEN];
    p[..2].copy_from_slice(&(1 + LOGIN_REQUEST_LEN as u16).to_be_bytes());
    p[2] = b'L';
    p[3..9].copy_from_slice(b"fh    ");
    if let Some(s) = session {
        p[19..29].copy_from_slice(s);
    }
    numeric(&mut p[29..49], seq);
    p
}

fn packet(w: &mut impl Write, ty: u8, payload: &[u8]) -> io::Result<()> {
    let len = (payload.len() + 1) as u16;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(&[ty])?;
    w.write_all(payload)
}

#[derive(Debug, Clone)]
struct Order {
    /// The add message as it will be sent (shares kept current).
    msg: Vec<u8>,
}

/// Book state rebuilt from ITCH messages: what a snapshot sends.
#[derive(Debug, Default)]
pub struct State {
    system: Vec<Vec<u8>>,
    locates: Vec<u16>,
    per_locate: HashMap<u16, [Option<Vec<u8>>; 4]>,
    orders: Vec<Option<Order>>,
    by_ref: HashMap<u64, usize>,
    /// Last sequence number applied.
    pub seq: u64,
}

fn be(b: &[u8], at: usize, n: usize) -> u64 {
    b.get(at..at + n)
        .map_or(0, |s| s.iter().fold(0u64, |a, &x| a << 8 | u64::from(x)))
}

impl State {
    /// Applies message `seq`.
    pub fn apply(&mut self, seq: u64, m: &[u8]) {
        self.seq = seq;
        let Some(&t) = m.first() else { return };
        let locate = be(m, 1, 2) as u16;
        let slot = match t {
            b'R' => Some(0),
            b'H' => Some(1),
            b'Y' => Some(2),
            b'N' => Some(3),
            _ => None,
        };
        if let Some(k) = slot {
            let e = self.per_locate.entry(locate).or_insert_with(|| {
                self.locates.push(locate);
                Default::default()
            });
            e[k] = Some(m.to_vec());
            return;
        }
        match t {
            b'S' => self.system.push(m.to_vec()),
            b'A' | b'F' if m.len() >= 36 => {
                self.add(be(m, 11, 8), m.to_vec());
            }
            b'E' | b'C' | b'X' if m.len() >= 23 => self.reduce(be(m, 11, 8), be(m, 19, 4)),
            b'D' if m.len() >= 19 => {
                if let Some(i) = self.by_ref.remove(&be(m, 11, 8)) {
                    self.orders[i] = None;
                }
            }
            b'U' if m.len() >= 35 => {
                let Some(i) = self.by_ref.remove(&be(m, 11, 8)) else {
                    return;
                };
                let Some(old) = self.orders[i].take() else {
                    return;
                };
                let mut a = [0u8; 36];
                a[0] = b'A';
                a[1..11].copy_from_slice(&m[1..11]);
                a[11..19].copy_from_slice(&m[19..27]);
                a[19] = old.msg[19];
                a[20..24].copy_from_slice(&m[27..31]);
                a[24..32].copy_from_slice(&old.msg[24..32]);
                a[32..36].copy_from_slice(&m[31..35]);
                self.add(be(m, 19, 8), a.to_vec());
            }
            _ => {}
        }
    }

    fn add(&mut self, r: u64, msg: Vec<u8>) {
        self.by_ref.insert(r, self.orders.len());
        self.orders.push(Some(Order { msg }));
    }

    fn reduce(&mut self, r: u64, by: u64) {
        let Some(&i) = self.by_ref.get(&r) else {
            return;
        };
        let Some(o) = self.orders[i].as_mut() else {
            return;
        };
        let left = be(&o.msg, 20, 4).saturating_sub(by);
        if left == 0 {
            self.orders[i] = None;
            self.by_ref.remove(&r);
        } else {
            o.msg[20..24].copy_from_slice(&(left as u32).to_be_bytes());
        }
    }

    /// Live orders.
    pub fn live_orders(&self) -> usize {
        self.by_ref.len()
    }

    /// Every snapshot message in order, the end-of-snapshot message last.
    pub fn messages(&self, mut f: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        for m in &self.system {
            f(m)?;
        }
        for l in &self.locates {
            if let Some(ms) = self.per_locate.get(l) {
                for m in ms.iter().flatten() {
                    f(m)?;
                }
            }
        }
        for o in self.orders.iter().flatten() {
            f(&o.msg)?;
        }
        f(&end_of_snapshot(self.seq))
    }
}

/// The state after message `seq` of `log`.
pub fn state_at(log: &Log, seq: u64) -> State {
    let mut s = State {
        seq: log.first_seq.saturating_sub(1),
        ..State::default()
    };
    for q in log.first_seq..=seq.min(log.last_seq()) {
        if let Some(m) = log.get(q) {
            s.apply(q, m);
        }
    }
    s
}

/// Accepts snapshot clients until `stop`, one at a time, each served at the sequence number
/// sent when it logged in.
/// With `gated`, the first client is served once the sender waits at the snapshot gate.
pub(super) fn serve(l: TcpListener, log: &Log, pr: &Progress, stop: &AtomicBool, gated: bool) {
    while !stop.load(Ordering::Relaxed) {
        match l.accept() {
            Ok((s, _)) => {
                let _ = serve_one(s, log, pr, gated, stop);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

fn serve_one(
    mut s: TcpStream,
    log: &Log,
    pr: &Progress,
    gated: bool,
    stop: &AtomicBool,
) -> io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_nodelay(true)?;
    let mut hdr = [0u8; 3];
    s.read_exact(&mut hdr)?;
    let len = usize::from(u16::from_be_bytes([hdr[0], hdr[1]]));
    if hdr[2] != b'L' || len != 1 + LOGIN_REQUEST_LEN {
        return Ok(());
    }
    let mut body = [0u8; LOGIN_REQUEST_LEN];
    s.read_exact(&mut body)?;
    let want = &body[16..26];
    if want.iter().any(|&c| c != b' ') && want != log.session {
        return packet(&mut s, b'J', b"S");
    }
    if gated && pr.snapshots.load(Ordering::Acquire) == 0 {
        while !pr.at_gate.load(Ordering::Acquire) && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let seq = pr.sent.load(Ordering::Acquire);
    pr.snapshot_seq.store(seq, Ordering::Relaxed);
    pr.snapshots.fetch_add(1, Ordering::Release);
    let state = state_at(log, seq);
    let mut w = io::BufWriter::with_capacity(1 << 16, s);
    let mut acc = [b' '; LOGIN_ACCEPTED_LEN];
    acc[..10].copy_from_slice(&log.session);
    numeric(&mut acc[10..], 1);
    packet(&mut w, b'A', &acc)?;
    state.messages(|m| packet(&mut w, b'S', m))?;
    packet(&mut w, b'Z', &[])?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layouts_round_trip() {
        let e = end_of_snapshot(123_456);
        assert_eq!(e.len(), 21);
        assert_eq!(&e[..2], b"G ");
        assert_eq!(&e[15..], b"123456");
        assert_eq!(parse_end_of_snapshot(&e), Some(123_456));
        assert_eq!(parse_end_of_snapshot(b"Gxx"), None);
        let l = login_request(Some(b"SESSION001"), 1);
        assert_eq!(&l[..3], &[0, 47, b'L']);
        assert_eq!(&l[19..29], b"SESSION001");
        assert_eq!(parse_numeric(&l[29..49]), Some(1));
    }

    #[test]
    fn orders_are_reduced_replaced_and_deleted() {
        let mut s = State::default();
        let add = |r: u64, shares: u32| {
            let mut a = vec![0u8; 36];
            a[0] = b'A';
            a[1..3].copy_from_slice(&7u16.to_be_bytes());
            a[11..19].copy_from_slice(&r.to_be_bytes());
            a[19] = b'B';
            a[20..24].copy_from_slice(&shares.to_be_bytes());
            a[32..36].copy_from_slice(&1000u32.to_be_bytes());
            a
        };
        s.apply(1, &add(1, 100));
        s.apply(2, &add(2, 50));
        let mut x = vec![0u8; 23];
        x[0] = b'X';
        x[11..19].copy_from_slice(&1u64.to_be_bytes());
        x[19..23].copy_from_slice(&30u32.to_be_bytes());
        s.apply(3, &x);
        let mut u = vec![0u8; 35];
        u[0] = b'U';
        u[11..19].copy_from_slice(&2u64.to_be_bytes());
        u[19..27].copy_from_slice(&9u64.to_be_bytes());
        u[27..31].copy_from_slice(&10u32.to_be_bytes());
        u[31..35].copy_from_slice(&1100u32.to_be_bytes());
        s.apply(4, &u);
        let mut out = Vec::new();
        s.messages(|m| {
            out.push(m.to_vec());
            Ok(())
        })
        .unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(be(&out[0], 20, 4), 70);
        assert_eq!(be(&out[1], 11, 8), 9);
        assert_eq!(out[1][19], b'B');
        assert_eq!(be(&out[1], 32, 4), 1100);
        assert_eq!(parse_end_of_snapshot(&out[2]), Some(4));
    }
}
