//! The publisher and a subscriber in one process, driven update by update: what a subscriber
//! that falls behind loses, exactly; a late joiner; the end marker; cleanup.

use fh_feed::directory::SymbolDirectory;
use fh_feed::engine::levels::Bbo;
use fh_feed::pipeline::tap::Tapped;
use fh_feed::update::{BookUpdate, Flags};
use fh_shm::{ServiceSettings, ShmPublisher, Subscriber, SubscriberOptions};

fn unique(tag: &str) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("test-{tag}-{}-{t}", std::process::id())
}

fn update(seq: u64, instrument: u32) -> BookUpdate {
    BookUpdate {
        seq,
        instrument,
        price: 1_000_000 + seq as i64,
        shares: seq,
        flags: Flags::LAST_IN_EVENT,
        ..Default::default()
    }
}

#[test]
fn a_subscriber_that_falls_behind_loses_the_oldest_samples_and_counts_them_exactly() {
    let name = unique("overflow");
    let settings = ServiceSettings {
        max_buffer: 2,
        ..ServiceSettings::default()
    };
    let p = ShmPublisher::create(&name, &settings, 16).unwrap();
    let dir = SymbolDirectory::new(16);
    dir.set(3, b"AAPL    ");
    let mut p = Tapped::new(p, &dir);
    let opts = SubscriberOptions {
        buffer: 2,
        ..SubscriberOptions::default()
    };
    let mut s = Subscriber::open(&name, &opts).unwrap();
    assert_eq!(p.tap.subscribers(), 1);
    // 10 datagrams of 3 updates, none read: the queue keeps the last 2.
    let mut seq = 0;
    for _ in 0..10 {
        for _ in 0..3 {
            seq += 1;
            p.push(&update(seq, 3));
        }
        p.bbo(
            seq * 10,
            3,
            &Bbo {
                bid: Some((1_000_000, 5)),
                ask: Some((1_000_100, 7)),
            },
        );
        p.datagram_end();
        p.idle();
    }
    let a = s.receive().unwrap().expect("a sample");
    assert_eq!((a.header().first, a.header().count), (24, 3));
    assert_eq!(
        a.missed(),
        24,
        "subscribed before the first send: it lost 8 samples of 3"
    );
    assert_eq!(
        a.updates().iter().map(|u| u.seq).collect::<Vec<_>>(),
        [25, 26, 27]
    );
    assert_eq!(a.updates()[0].update(), update(25, 3));
    drop(a);
    let b = s.receive().unwrap().expect("a sample");
    assert_eq!(b.header().first, 27);
    drop(b);
    assert!(s.receive().unwrap().is_none());
    // Two more datagrams read at once, then five unread: exactly 3 * 3 lost.
    for k in 0..7 {
        for _ in 0..3 {
            seq += 1;
            p.push(&update(seq, 3));
        }
        p.datagram_end();
        p.idle();
        if k < 2 {
            let got = s.receive().unwrap().expect("kept up");
            assert_eq!(got.missed(), 0);
        }
    }
    let c = s.receive().unwrap().unwrap();
    assert_eq!((c.missed(), c.header().first), (9, 45));
    drop(c);
    let _ = s.receive().unwrap().unwrap();
    assert_eq!(s.missed(), 24 + 9);
    assert_eq!(s.received(), 3 * 6);
    assert_eq!(s.joined_at(), Some(0));
    // The table holds the last top of book and the symbol.
    let top = s.top(3).unwrap();
    assert_eq!(
        (top.bid_price, top.bid_shares, top.ask_shares, top.seq),
        (1_000_000, 5, 7, 30)
    );
    assert_eq!(top.symbol(), Some("AAPL"));
    assert_eq!(s.table().unwrap().updates(), 51);
    // The end marker.
    let figures = p.finish();
    assert!(figures
        .0
        .iter()
        .any(|(k, v)| k == "updates" && v.to_string() == "51"));
    let end = s.receive().unwrap().unwrap();
    assert!(end.is_end() && end.updates().is_empty());
    drop(end);
    assert!(s.ended());
    drop(p);
    assert!(
        !fh_shm::top::table_path(&name).exists(),
        "the table is removed"
    );
    assert!(!s.publisher_alive());
}

#[test]
fn a_datagram_larger_than_a_sample_is_split_and_a_late_joiner_reads_the_current_top() {
    let name = unique("split");
    let p = ShmPublisher::create(&name, &ServiceSettings::default(), 8).unwrap();
    let dir = SymbolDirectory::new(8);
    let mut p = Tapped::new(p, &dir);
    for i in 0..10u64 {
        p.push(&update(i, 1));
    }
    p.bbo(
        5,
        1,
        &Bbo {
            bid: Some((42, 1)),
            ask: None,
        },
    );
    p.datagram_end();
    p.idle();
    // Joins after the first datagram: reads its top of book, then gets what follows.
    let mut s = Subscriber::open(&name, &SubscriberOptions::default()).unwrap();
    let n = fh_shm::layout::MAX_SAMPLE_UPDATES as u64 + 5;
    for i in 0..n {
        p.push(&update(100 + i, 1));
    }
    p.datagram_end();
    p.idle();
    let a = s.receive().unwrap().unwrap();
    assert_eq!(
        (a.header().first, a.updates().len()),
        (10, fh_shm::layout::MAX_SAMPLE_UPDATES)
    );
    drop(a);
    let b = s.receive().unwrap().unwrap();
    assert_eq!((b.header().first, b.updates().len()), (10 + n - 5, 5));
    drop(b);
    assert_eq!((s.missed(), s.received(), s.joined_at()), (0, n, Some(10)));
    let top = s.top(1).unwrap();
    assert_eq!(
        (top.bid_price, top.bid_shares, top.ask_shares, top.seq),
        (42, 1, 0, 9)
    );
    assert_eq!(p.tap.stats().full_samples, 1);
}

#[test]
fn datagrams_handled_back_to_back_share_a_sample_sent_when_the_engine_is_idle() {
    let name = unique("coalesce");
    let p = ShmPublisher::create(&name, &ServiceSettings::default(), 8).unwrap();
    let mut p = Tapped::new(p, &SymbolDirectory::new(8));
    let mut s = Subscriber::open(&name, &SubscriberOptions::default()).unwrap();
    for i in 0..9u64 {
        p.push(&update(i, 2));
        if i % 3 == 2 {
            p.datagram_end();
        }
    }
    assert!(
        s.receive().unwrap().is_none(),
        "nothing sent while the engine is busy"
    );
    p.idle();
    let a = s.receive().unwrap().unwrap();
    assert_eq!((a.header().first, a.updates().len()), (0, 9));
    assert_eq!(a.header().flags, fh_shm::layout::SAMPLE_DATAGRAM_END);
    drop(a);
    p.idle();
    assert!(
        s.receive().unwrap().is_none(),
        "an idle engine with nothing new sends nothing"
    );
    assert_eq!(p.tap.stats().samples, 1);
}
