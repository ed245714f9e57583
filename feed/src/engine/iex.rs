//! The IEX half of the engine: IEX-TP segments → sequencing → DEEP L2 books (events applied
//! atomically: held updates are published when the flag-1 PLU closes the event), trading
//! status, operational halts, security events, trades and trade breaks; TOPS messages are
//! decoded and counted.

use super::levels::Bbo;
use super::seq::PacketClass;
use super::{Ctx, DatagramMeta, Engine, UpdateSink, IEX_INSTRUMENT_BASE, IEX_SYSTEM_INSTRUMENT};
use crate::update::{Flags, InstrumentId, Side, UpdateKind};
use fh_decoders::{deep, iextp, tops};

impl Engine {
    #[inline]
    pub(super) fn on_iextp<S: UpdateSink>(
        &mut self,
        now: u64,
        meta: &DatagramMeta,
        bytes: &[u8],
        sink: &mut S,
    ) {
        let seg = match iextp::Segment::parse(bytes) {
            Ok(s) => s,
            Err(_) => {
                self.stats.iextp_malformed += 1;
                return;
            }
        };
        let key = u64::from(seg.channel_id()) << 32 | u64::from(seg.session_id());
        let count = u64::from(seg.message_count());
        let (class, changed) = self.iex_seq.on_packet(key, seg.first_seq(), count, false);
        if changed {
            self.reset_deep();
            if S::WANTS_ORDERS {
                use crate::update::{Flags, OrderAction, OrderEvent, Side};
                sink.order_event(&OrderEvent {
                    seq: seg.first_seq(),
                    recv_ts: meta.recv_ts,
                    instrument: OrderEvent::ALL_INSTRUMENTS,
                    action: OrderAction::Clear,
                    side: Side::None,
                    flags: Flags::LAST_IN_EVENT,
                    ..OrderEvent::default()
                });
            }
        }
        let deep_feed = match seg.protocol() {
            iextp::Protocol::Deep => true,
            p if p.is_tops() => false,
            _ => {
                self.stats.iex_other_protocol += 1;
                return;
            }
        };
        let send_time = seg.send_time();
        let skip = match class {
            PacketClass::Duplicate | PacketClass::Empty => return,
            PacketClass::InOrder { skip } => skip,
            PacketClass::Gap { .. } | PacketClass::Late => 0,
        };
        let late = class == PacketClass::Late;
        for (this, block) in seg.blocks().skip(skip as usize) {
            if late && !self.iex_seq.take_late(this) {
                continue;
            }
            let stale = self.stale_flag_iex();
            let ctx = Ctx {
                seq: this,
                exch_ts: send_time,
                recv_ts: meta.recv_ts,
                now,
                stale,
            };
            if deep_feed {
                self.deep_message(ctx, block, sink);
            } else {
                self.tops_message(ctx, block);
            }
        }
    }

    #[inline]
    fn deep_message<S: UpdateSink>(&mut self, mut ctx: Ctx, bytes: &[u8], sink: &mut S) {
        let msg = match deep::Message::parse(bytes) {
            Ok(m) => m,
            Err(_) => {
                self.stats.iex_malformed += 1;
                return;
            }
        };
        self.stats.iex_types[usize::from(bytes[0])] += 1;
        if let Some(ts) = msg.timestamp() {
            ctx.exch_ts = ts;
        }
        use deep::Message as M;
        match msg {
            M::PriceLevelUpdate(m) => {
                let slot = self.deep.slot(&m.symbol);
                if !self.deep.instrument(slot).keep {
                    return;
                }
                let side = match m.side() {
                    deep::Side::Buy => Side::Bid,
                    deep::Side::Sell => Side::Ask,
                };
                let complete = m.is_event_complete();
                let was_open = self.deep.instrument(slot).in_event;
                let c = self
                    .deep
                    .price_level(slot, side, m.price.get(), m.size.get(), complete);
                let id = IEX_INSTRUMENT_BASE + slot;
                if complete && !was_open {
                    // A one-PLU event: publish at once; BEST_CHANGED is exact per level.
                    if let Some(c) = c {
                        let u = ctx.level(id, side, &c, true);
                        self.publish(&u, sink);
                        if S::WANTS_BBO && c.at_best {
                            let d = self.deep.instrument(slot);
                            sink.bbo_changed(ctx.exch_ts, id, &d.symbol, &d.published_bbo());
                        }
                    }
                    return;
                }
                if let Some(c) = c {
                    let mut u = ctx.level(id, side, &c, false);
                    u.flags &= !Flags::BEST_CHANGED;
                    if self.pending.len() == self.pending_cap {
                        self.grow_pending();
                    }
                    self.pending.push(u);
                }
                if complete {
                    self.close_event(slot, ctx.exch_ts, sink);
                }
            }
            M::TradeReport(m) => {
                if let Some(id) = self.deep_kept(&m.symbol) {
                    let mut u = ctx.update(id, Side::None, UpdateKind::Trade);
                    u.price = m.price.get();
                    u.shares = u64::from(m.size.get());
                    u.flags |= Flags::LAST_IN_EVENT;
                    self.publish(&u, sink);
                }
            }
            M::TradeBreak(m) => {
                if let Some(id) = self.deep_kept(&m.symbol) {
                    let mut u = ctx.update(id, Side::None, UpdateKind::TradeBreak);
                    u.price = m.price.get();
                    u.shares = u64::from(m.size.get());
                    u.flags |= Flags::LAST_IN_EVENT;
                    self.publish(&u, sink);
                }
            }
            M::TradingStatus(m) => {
                let slot = self.deep.slot(&m.symbol);
                self.deep.instrument_mut(slot).trading_status = m.trading_status;
                if self.deep.instrument(slot).keep {
                    self.status(
                        &ctx,
                        IEX_INSTRUMENT_BASE + slot,
                        m.trading_status,
                        b'H',
                        sink,
                    );
                }
            }
            M::OperationalHaltStatus(m) => {
                let slot = self.deep.slot(&m.symbol);
                self.deep.instrument_mut(slot).op_halt = m.operational_halt_status;
                if self.deep.instrument(slot).keep {
                    self.status(
                        &ctx,
                        IEX_INSTRUMENT_BASE + slot,
                        m.operational_halt_status,
                        b'O',
                        sink,
                    );
                }
            }
            M::SecurityEvent(m) => {
                let slot = self.deep.slot(&m.symbol);
                self.deep.instrument_mut(slot).security_event = m.security_event;
                if self.deep.instrument(slot).keep {
                    self.status(
                        &ctx,
                        IEX_INSTRUMENT_BASE + slot,
                        m.security_event,
                        b'E',
                        sink,
                    );
                }
            }
            M::SystemEvent(m) => {
                if m.system_event == b'C' {
                    // End of messages: the IEX-TP session is over.
                    self.iex_seq.end_session();
                }
                self.status(&ctx, IEX_SYSTEM_INSTRUMENT, m.system_event, b'S', sink);
            }
            _ => {}
        }
    }

    #[inline]
    fn deep_kept(&mut self, symbol: &[u8; 8]) -> Option<InstrumentId> {
        let slot = self.deep.slot(symbol);
        self.deep
            .instrument(slot)
            .keep
            .then_some(IEX_INSTRUMENT_BASE + slot)
    }

    #[cold]
    #[inline(never)]
    fn grow_pending(&mut self) {
        self.stats.pending_growths += 1;
        self.pending_cap *= 2;
        self.pending.reserve(self.pending_cap - self.pending.len());
    }

    /// Publishes the held updates of the event that just closed on `slot`, in order, the last
    /// one flagged `LAST_IN_EVENT` (and `BEST_CHANGED` if the published BBO moved).
    fn close_event<S: UpdateSink>(&mut self, slot: u32, exch_ts: u64, sink: &mut S) {
        let id = IEX_INSTRUMENT_BASE + slot;
        let d = self.deep.instrument(slot);
        let after = Bbo::of(&d.bids, &d.asks);
        let moved = after != d.event_start_bbo;
        let Some(last) = self.pending.iter().rposition(|u| u.instrument == id) else {
            return;
        };
        let mut w = 0;
        for i in 0..self.pending.len() {
            let mut u = self.pending[i];
            if u.instrument == id {
                if i == last {
                    u.flags |= Flags::LAST_IN_EVENT;
                    if moved {
                        u.flags |= Flags::BEST_CHANGED;
                    }
                }
                self.stats.updates += 1;
                sink.publish(&u);
            } else {
                self.pending[w] = u;
                w += 1;
            }
        }
        self.pending.truncate(w);
        if S::WANTS_BBO && moved {
            let d = self.deep.instrument(slot);
            sink.bbo_changed(exch_ts, id, &d.symbol, &after);
        }
    }

    fn tops_message(&mut self, _ctx: Ctx, bytes: &[u8]) {
        match tops::Message::parse(bytes) {
            Ok(_) => self.stats.iex_types[usize::from(bytes[0])] += 1,
            Err(_) => self.stats.iex_malformed += 1,
        }
    }
}
