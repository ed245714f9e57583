use super::*;

const S: [u8; 10] = *b"TESTSESS01";

/// A MoldUDP64 data packet of `count` one-byte messages (the byte is the sequence number's
/// low byte) starting at `first`.
fn pkt(first: u64, count: u16) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&S);
    b.extend_from_slice(&first.to_be_bytes());
    b.extend_from_slice(&count.to_be_bytes());
    for i in 0..u64::from(count) {
        b.extend_from_slice(&1u16.to_be_bytes());
        b.push((first + i) as u8);
    }
    b
}

fn first_of(b: &[u8]) -> (u64, u64) {
    let m = mold_id(b).unwrap();
    (m.first, m.count)
}

/// Collects what the arbiter delivers as `(first, count)`.
#[derive(Default)]
struct Out(Vec<(u64, u64)>);

impl Out {
    /// Sequence numbers covered, in delivery order, each counted once (the engine skips
    /// overlaps), checking nothing goes backwards.
    fn contiguous_to(&self) -> u64 {
        let mut next = self.0[0].0;
        for &(f, c) in &self.0 {
            assert!(
                f <= next,
                "delivered {f} while {next} was expected: {:?}",
                self.0
            );
            next = next.max(f + c);
        }
        next
    }
}

fn cfg(servers: usize) -> RecoveryConfig {
    RecoveryConfig {
        servers: (0..servers)
            .map(|i| SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 9000 + i as u16))
            .collect(),
        gap_wait_ns: 1_000,
        request_timeout_ns: 100_000,
        hold_packets: 64,
        hold_bytes: 64 * 1024,
        ..RecoveryConfig::default()
    }
}

#[test]
fn first_copy_wins_and_the_other_line_fills_a_hole() {
    let mut a = Arbiter::new(cfg(0), 2);
    let mut out = Out::default();
    let mut d = |b: &[u8]| out.0.push(first_of(b));
    // Line A loses 11..=20; line B brings it late.
    a.on_datagram(0, 0, &pkt(1, 10), &mut d);
    a.on_datagram(1, 1, &pkt(1, 10), &mut d);
    a.on_datagram(2, 0, &pkt(21, 10), &mut d);
    assert_eq!(a.missing(), 10);
    assert_eq!(a.held_now(), 1);
    a.on_datagram(500, 1, &pkt(11, 10), &mut d);
    a.on_datagram(501, 1, &pkt(21, 10), &mut d);
    assert_eq!(a.missing(), 0);
    let r = a.report();
    assert_eq!(out.0, vec![(1, 10), (11, 10), (21, 10)]);
    assert_eq!(r.lines[0].1.first, 2);
    assert_eq!(r.lines[1].1.first, 1);
    assert_eq!(r.lines[1].1.saves, 1);
    assert_eq!(r.lines[0].1.gaps, 1);
    assert_eq!(r.lines[1].1.duplicates, 2);
    assert_eq!(r.filled_by_line, 1);
    assert_eq!(r.latency_count, 1);
}

#[test]
fn requests_cover_a_hole_in_capped_pieces_and_partial_answers_are_asked_again() {
    let mut c = cfg(2);
    c.request_messages = 4;
    let mut a = Arbiter::new(c, 2);
    let (q, _) = a.queue();
    let mut out = Out::default();
    let mut d = |b: &[u8]| out.0.push(first_of(b));
    a.on_datagram(0, 0, &pkt(1, 5), &mut d);
    a.on_datagram(10, 0, &pkt(16, 5), &mut d); // hole 6..=15, on both lines
    a.on_datagram(11, 1, &pkt(16, 5), &mut d);
    a.poll(500, &mut d); // before the wait: nothing
    a.poll(30_000, &mut d); // (the timers run at most every 20 µs)
    let reqs: Vec<Request> = std::iter::from_fn(|| q.pop()).collect();
    assert_eq!(
        reqs.iter().map(|r| (r.first, r.count)).collect::<Vec<_>>(),
        vec![(6, 4), (10, 4), (14, 2)]
    );
    assert_eq!(reqs[0].server, 0);
    assert_eq!(reqs[1].server, 1, "requests spread over the servers");
    // The server answers 2 of the first 4, and the others in full.
    a.on_datagram(40_000, 2, &pkt(6, 2), &mut d);
    a.on_datagram(40_001, 2, &pkt(10, 4), &mut d);
    a.on_datagram(40_002, 2, &pkt(14, 2), &mut d);
    a.poll(40_100, &mut d);
    let again: Vec<(u64, u16)> = std::iter::from_fn(|| q.pop())
        .map(|r| (r.first, r.count))
        .collect();
    assert_eq!(
        again,
        vec![(8, 2)],
        "only the uncovered part is asked again"
    );
    a.on_datagram(50_000, 2, &pkt(8, 2), &mut d);
    assert_eq!(a.missing(), 0);
    let r = a.report();
    assert_eq!(out.contiguous_to(), 21);
    assert_eq!(r.responses, 4);
    assert_eq!(
        r.filled_by_request, 2,
        "the middle answer split the hole in two"
    );
    assert_eq!(r.gave_up, 0);
}

#[test]
fn unanswered_requests_time_out_retry_and_give_up_listing_the_range() {
    let mut c = cfg(1);
    c.retries = 2;
    let mut a = Arbiter::new(c, 2);
    let (q, _) = a.queue();
    let mut out = Out::default();
    let mut d = |b: &[u8]| out.0.push(first_of(b));
    a.on_datagram(0, 0, &pkt(1, 5), &mut d);
    a.on_datagram(10, 0, &pkt(9, 5), &mut d); // hole 6..=8
    let mut t = 2_000;
    for _ in 0..10 {
        a.poll(t, &mut d);
        t += 150_000;
    }
    let n = std::iter::from_fn(|| q.pop()).count();
    assert_eq!(n, 3, "the first request and two retries");
    assert_eq!(a.missing(), 0);
    let r = a.report();
    assert_eq!(r.gave_up, 1);
    assert_eq!(r.lost, vec![[6, 8]]);
    assert_eq!(r.lost_messages, 3);
    assert_eq!(
        out.0,
        vec![(1, 5), (9, 5)],
        "the packets behind the hole still go on"
    );
}

#[test]
fn a_full_hold_buffer_gives_up_the_oldest_hole() {
    let mut c = cfg(0);
    c.hold_packets = 4;
    c.gap_wait_ns = u64::MAX / 2;
    let mut a = Arbiter::new(c, 1);
    let mut out = Out::default();
    let mut d = |b: &[u8]| out.0.push(first_of(b));
    a.on_datagram(0, 0, &pkt(1, 1), &mut d);
    for s in 3..10 {
        a.on_datagram(s, 0, &pkt(s, 1), &mut d);
    }
    let r = a.report();
    assert_eq!(r.lost, vec![[2, 2]]);
    assert!(r.hold_overflows >= 1);
    let firsts: Vec<u64> = out.0.iter().map(|x| x.0).collect();
    assert_eq!(
        firsts,
        vec![1, 3, 4, 5, 6, 7, 8, 9],
        "in order, past the given-up hole"
    );
}

#[test]
fn heartbeats_reveal_a_lost_tail_and_wait_for_it() {
    let mut a = Arbiter::new(cfg(0), 2);
    let mut out = Out::default();
    let mut d = |b: &[u8]| out.0.push(first_of(b));
    a.on_datagram(0, 0, &pkt(1, 5), &mut d);
    let mut hb = pkt(11, 0);
    hb.truncate(20);
    a.on_datagram(5, 0, &hb, &mut d); // 6..=10 lost on A, revealed by the heartbeat
    assert_eq!(a.missing(), 5);
    a.on_datagram(6, 1, &pkt(6, 5), &mut d);
    a.on_datagram(7, 1, &hb, &mut d);
    assert_eq!(out.0, vec![(1, 5), (6, 5), (11, 0), (11, 0)]);
}

#[test]
fn a_damaged_copy_is_left_to_the_engine_and_the_good_one_counts() {
    let mut a = Arbiter::new(cfg(0), 2);
    let mut out = Out::default();
    let mut d = |b: &[u8]| out.0.push((b.len() as u64, 0));
    a.on_datagram(0, 0, &pkt(1, 5), &mut d);
    let mut bad = pkt(6, 5);
    bad[19] += 1; // Message Count one more than the blocks
    a.on_datagram(1, 0, &bad, &mut d);
    a.on_datagram(2, 1, &pkt(6, 5), &mut d);
    a.on_datagram(3, 0, &pkt(11, 5), &mut d);
    let r = a.report();
    assert_eq!(r.passed_through, 1);
    assert_eq!(r.holes, 0);
    assert_eq!(
        out.0.len(),
        4,
        "the damaged one goes to the engine to be counted"
    );
    assert_eq!(r.lines[1].1.first, 1);
}

#[test]
fn iex_segments_are_arbitrated_by_their_first_sequence_number() {
    let seg = |first: u64, count: u16| {
        let mut b = vec![0u8; 40];
        b[0] = 1;
        b[2..4].copy_from_slice(&0x8004u16.to_le_bytes());
        b[4..8].copy_from_slice(&1u32.to_le_bytes());
        b[8..12].copy_from_slice(&7u32.to_le_bytes());
        b[14..16].copy_from_slice(&count.to_le_bytes());
        b[24..32].copy_from_slice(&first.to_le_bytes());
        b[12..14].copy_from_slice(&(3 * count).to_le_bytes());
        for _ in 0..count {
            b.extend_from_slice(&[1, 0, 0x51]);
        }
        b
    };
    let mut c = cfg(0);
    c.mold = false;
    let mut a = Arbiter::new(c, 2);
    let mut n = 0;
    let mut d = |_: &[u8]| n += 1;
    a.on_datagram(0, 0, &seg(1, 3), &mut d);
    a.on_datagram(1, 1, &seg(1, 3), &mut d);
    a.on_datagram(2, 1, &seg(4, 3), &mut d);
    a.on_datagram(3, 0, &seg(4, 3), &mut d);
    assert_eq!(n, 2);
    let r = a.report();
    assert_eq!(r.lines[0].1.duplicates + r.lines[1].1.duplicates, 2);
}

#[test]
fn requests_are_encoded_as_each_specification_lays_them_out() {
    let r = Request {
        server: 0,
        session: *b"SESSION001",
        first: 0x0102_0304_0506_0708,
        count: 36,
    };
    let mut b = [0u8; 32];
    assert_eq!(encode_request(&r, false, &mut b), 20);
    assert_eq!(&b[..10], b"SESSION001");
    assert_eq!(&b[10..18], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(&b[18..20], &[0, 36]);
    // IEX-TP: protocol 0x8004, channel 1, session 7 as the segment header has them.
    let mut key = [0u8; 10];
    key[0..2].copy_from_slice(&0x8004u16.to_le_bytes());
    key[2..6].copy_from_slice(&1u32.to_le_bytes());
    key[6..10].copy_from_slice(&7u32.to_le_bytes());
    let r = Request {
        session: key,
        first: 100,
        count: 5,
        ..r
    };
    assert_eq!(encode_request(&r, true, &mut b), 32);
    assert_eq!(
        &b[..2],
        &[1, 1],
        "version 1, request type 1 (sequenced messages)"
    );
    assert_eq!(&b[2..4], &[0x04, 0x80]);
    assert_eq!(&b[4..8], &1u32.to_le_bytes());
    assert_eq!(&b[8..12], &7u32.to_le_bytes());
    assert_eq!(&b[12..16], &1u32.to_le_bytes(), "one range");
    assert_eq!(&b[16..24], &100i64.to_le_bytes());
    assert_eq!(&b[24..32], &104i64.to_le_bytes(), "inclusive last");
}
