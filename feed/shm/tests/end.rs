//! The end of a stream: a publisher sends its last samples and its end marker and leaves at
//! once; a subscriber that finds its queue empty and then no publisher must still receive
//! them (`Subscriber::publisher_gone` is false while anything is left to receive).

use std::time::{Duration, Instant};

use fh_feed::directory::SymbolDirectory;
use fh_feed::pipeline::tap::Tapped;
use fh_feed::update::{BookUpdate, Flags};
use fh_shm::{ServiceSettings, ShmPublisher, Subscriber, SubscriberOptions};

fn unique(tag: &str, k: usize) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("test-{tag}-{}-{k}-{t}", std::process::id())
}

fn update(seq: u64) -> BookUpdate {
    BookUpdate {
        seq,
        instrument: 1,
        price: 1_000_000 + seq as i64,
        shares: seq,
        flags: Flags::LAST_IN_EVENT,
        ..Default::default()
    }
}

/// Sends `datagrams` datagrams of 2 updates, each in its own sample.
fn publish(p: &mut Tapped<ShmPublisher>, datagrams: u64) {
    for d in 0..datagrams {
        p.push(&update(2 * d + 1));
        p.push(&update(2 * d + 2));
        p.datagram_end();
        p.idle();
    }
}

#[test]
fn samples_sent_right_before_the_publisher_leaves_are_received_after_it_left() {
    let name = unique("leave", 0);
    let p = ShmPublisher::create(&name, &ServiceSettings::default(), 4).unwrap();
    let mut p = Tapped::new(p, &SymbolDirectory::new(4));
    let mut s = Subscriber::open(&name, &SubscriberOptions::default()).unwrap();
    publish(&mut p, 3);
    for _ in 0..3 {
        assert_eq!(s.receive().unwrap().expect("a sample").updates().len(), 2);
    }
    // The subscriber finds nothing; the publisher then sends its last datagram and its end
    // marker and leaves before the subscriber looks again.
    assert!(s.receive().unwrap().is_none());
    assert!(!s.publisher_gone().unwrap());
    p.push(&update(7));
    p.datagram_end();
    let _ = p.finish();
    drop(p);
    assert!(!s.publisher_alive());
    assert!(
        !s.publisher_gone().unwrap(),
        "the publisher left, but its last samples are still to be received"
    );
    let last = s.receive().unwrap().expect("the last data sample");
    assert_eq!(
        (last.header().first, last.updates().len(), last.is_end()),
        (6, 1, false)
    );
    drop(last);
    let end = s.receive().unwrap().expect("the end marker");
    assert!(end.is_end());
    drop(end);
    assert!(s.ended());
    assert_eq!((s.received(), s.missed()), (7, 0));
    assert!(s.receive().unwrap().is_none());
    assert!(s.publisher_gone().unwrap(), "nothing is left to receive");
}

#[test]
fn every_short_run_ends_with_the_end_marker_at_its_subscriber() {
    const RUNS: usize = 50;
    const DATAGRAMS: u64 = 20;
    for k in 0..RUNS {
        let name = unique("runs", k);
        let p = ShmPublisher::create(&name, &ServiceSettings::default(), 4).unwrap();
        let mut p = Tapped::new(p, &SymbolDirectory::new(4));
        let sub_name = name.clone();
        // The subscriber reads as `fh shm-tail` does: until the end marker, or until the
        // publisher is gone and left nothing to receive.
        let reader = std::thread::spawn(move || {
            let mut s = Subscriber::open(&sub_name, &SubscriberOptions::default()).unwrap();
            let t0 = Instant::now();
            while !s.ended() && t0.elapsed() < Duration::from_secs(10) {
                if s.receive().unwrap().is_none() {
                    if s.samples() > 0 && s.publisher_gone().unwrap() {
                        break;
                    }
                    std::thread::yield_now();
                }
            }
            (s.ended(), s.received(), s.missed())
        });
        assert_eq!(
            p.tap.wait_for_subscribers(1, Duration::from_secs(10)),
            1,
            "run {k}"
        );
        publish(&mut p, DATAGRAMS);
        p.push(&update(2 * DATAGRAMS + 1));
        p.datagram_end();
        let _ = p.finish();
        drop(p);
        let (ended, received, missed) = reader.join().unwrap();
        assert!(ended, "run {k}: the subscriber missed the end marker");
        assert_eq!((received, missed), (2 * DATAGRAMS + 1, 0), "run {k}");
    }
}
