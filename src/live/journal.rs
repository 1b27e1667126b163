//! What the hub remembers of the events it sent, so that a tab that
//! reconnects gets the ones it missed: one position counter for the whole
//! hub, and bounded histories of stored events.
//!
//! Every event the hub delivers gets the next *position* (`seq`) of the hub,
//! and goes out as `id: <session>.<seq>`, so the browser's `lastEventId`
//! names the tab and the last event it got. Positions are strictly
//! increasing across the hub, hence per session too (a session sees a
//! subsequence). They start at a random base, so a cursor handed out by an
//! earlier run of the server (or another hub) is, with overwhelming
//! probability, outside the range this hub gave out and reads as a gap
//! rather than as someone else's events.
//!
//! An event is stored once ([`Stored`], behind an `Arc`): a broadcast in the
//! hub's broadcast history, a publish in its topic's history, a direct send
//! in each target session's mailbox (a reference each). A session's replay
//! is the merge, in position order, of the histories that concern it.
//!
//! Everything here is plain data: no clock is read (times come in as `now`),
//! nothing blocks.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::hub::Topic;

/// One event as the hub delivers and keeps it.
#[derive(Debug)]
pub(crate) struct Stored {
    /// Its position in the hub.
    pub(crate) seq: u64,
    /// When it was sent (for the age bound).
    pub(crate) at: Instant,
    /// The event's frame without an `id:` line, ending in a blank line:
    /// the part every connection shares. Each connection writes its own
    /// `id: <session>.<seq>` line in front of it.
    pub(crate) frame: Bytes,
}

/// The bounds of one history: at most `events` events and `bytes` bytes of
/// frames, none older than `age`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) events: usize,
    pub(crate) bytes: usize,
    pub(crate) age: Duration,
}

/// A bounded history of stored events, in position order.
///
/// Dropping an event (a bound was reached) raises `dropped_to`: a cursor
/// below it may have missed something, which is a gap, never a silent loss.
#[derive(Debug, Default)]
pub(crate) struct Log {
    entries: VecDeque<Arc<Stored>>,
    bytes: usize,
    /// The highest position dropped from this log (0: nothing dropped).
    dropped_to: u64,
}

/// A `VecDeque` is shrunk when its length falls under a quarter of its
/// capacity (and the capacity is above this), to twice its length.
const MIN_SHRINK: usize = 32;

impl Log {
    /// Appends `event` (its position must be above every stored one) and
    /// drops what the bounds no longer allow, oldest first. The newest event
    /// is kept even when it alone is over the byte bound, so that one large
    /// event can still be replayed.
    pub(crate) fn push(&mut self, event: Arc<Stored>, limits: Limits) {
        debug_assert!(self.entries.back().is_none_or(|e| e.seq < event.seq));
        let now = event.at;
        self.bytes += event.frame.len();
        self.entries.push_back(event);
        self.trim(limits, now);
    }

    /// Drops the events the bounds no longer allow at `now`.
    pub(crate) fn trim(&mut self, limits: Limits, now: Instant) {
        while let Some(front) = self.entries.front() {
            let over_count = self.entries.len() > limits.events;
            let over_bytes = self.bytes > limits.bytes && self.entries.len() > 1;
            let too_old = now.saturating_duration_since(front.at) > limits.age;
            if !(over_count || over_bytes || too_old) {
                break;
            }
            self.dropped_to = self.dropped_to.max(front.seq);
            self.bytes -= front.frame.len();
            self.entries.pop_front();
        }
        if self.entries.capacity() > MIN_SHRINK && self.entries.len() * 4 < self.entries.capacity()
        {
            self.entries.shrink_to(self.entries.len() * 2);
        }
    }

    /// Whether every event after position `after` that was ever stored here
    /// is still here.
    pub(crate) fn complete_after(&self, after: u64) -> bool {
        self.dropped_to <= after
    }

    /// The stored events with a position above `after`, in order.
    pub(crate) fn after(&self, after: u64) -> impl Iterator<Item = &Arc<Stored>> {
        let start = self.entries.partition_point(|e| e.seq <= after);
        self.entries.range(start..)
    }

    /// The highest position dropped from this log (0: nothing dropped).
    pub(crate) fn dropped_to(&self) -> u64 {
        self.dropped_to
    }

    /// The position of the newest stored event (0 if none).
    pub(crate) fn last_seq(&self) -> u64 {
        self.entries.back().map_or(0, |e| e.seq)
    }

    /// Marks everything up to `seq` as possibly missing (for events that
    /// could not be kept).
    pub(crate) fn mark_dropped(&mut self, seq: u64) {
        self.dropped_to = self.dropped_to.max(seq);
    }

    /// Merges `more` (in position order, none already here) into the log,
    /// then applies the bounds.
    pub(crate) fn merge(&mut self, more: Vec<Arc<Stored>>, limits: Limits, now: Instant) {
        if more.is_empty() {
            return;
        }
        let mut merged = Vec::with_capacity(self.entries.len() + more.len());
        let mut mine = std::mem::take(&mut self.entries).into_iter().peekable();
        let mut theirs = more.into_iter().peekable();
        loop {
            let take_mine = match (mine.peek(), theirs.peek()) {
                (Some(a), Some(b)) => a.seq < b.seq,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let next = if take_mine {
                mine.next()
            } else {
                theirs.next()
            };
            merged.extend(next);
        }
        self.bytes = merged.iter().map(|e| e.frame.len()).sum();
        self.entries = merged.into();
        self.trim(limits, now);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the log holds nothing and knows of nothing dropped after
    /// `start` (it can be forgotten without changing any answer).
    pub(crate) fn is_pristine(&self, start: u64) -> bool {
        self.entries.is_empty() && self.dropped_to <= start
    }

    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

/// The end of a topic ([`Hub::end_topic`](super::Hub::end_topic)): its
/// final event and how long the end is remembered.
#[derive(Debug)]
pub(crate) struct End {
    pub(crate) last: Arc<Stored>,
    pub(crate) until: Instant,
}

/// What the hub keeps of one topic.
#[derive(Debug, Default)]
pub(crate) struct TopicHistory {
    /// Sessions subscribed (live or away), scoped streams included.
    pub(crate) subscribers: usize,
    pub(crate) log: Log,
    pub(crate) end: Option<End>,
}

/// The hub's position counter and shared histories. Held behind one lock
/// while an event is numbered and handed to every connection it reaches, so
/// that every connection sees the hub's events in position order.
#[derive(Debug)]
pub(crate) struct Journal {
    /// Positions start above this (random; see the module docs).
    pub(crate) base: u64,
    /// The last position given out (`base` before the first event).
    pub(crate) last: u64,
    /// Events up to this position may have been lost for every history
    /// (a hub fed by a shared log that missed part of it): a cursor below
    /// it is a gap. 0 when nothing was lost.
    pub(crate) lost_to: u64,
    /// Every broadcast, for the sessions that were away or whose
    /// connection dropped with events in flight.
    pub(crate) broadcast: Log,
    pub(crate) topics: HashMap<Topic, TopicHistory>,
    /// Ended topics in the order their ends expire.
    ended: VecDeque<(Topic, Instant)>,
}

/// The lowest random base: positions then have at least 10 digits.
const MIN_BASE: u64 = 1 << 32;
/// Bases are below `MIN_BASE + BASE_SPAN`: positions stay exact as
/// JavaScript numbers (below 2^53) for 2^52 events.
const BASE_SPAN: u64 = 1 << 48;

impl Journal {
    pub(crate) fn new() -> Self {
        let random = uuid::Uuid::new_v4().as_u128() as u64;
        let base = MIN_BASE + random % BASE_SPAN;
        Self {
            base,
            last: base,
            lost_to: 0,
            broadcast: Log::default(),
            topics: HashMap::new(),
            ended: VecDeque::new(),
        }
    }

    /// Numbers `frame` with the next position.
    pub(crate) fn stamp(&mut self, frame: Bytes, now: Instant) -> Arc<Stored> {
        self.last += 1;
        Arc::new(Stored {
            seq: self.last,
            at: now,
            frame,
        })
    }

    /// Whether `cursor` is a position this hub gave out (or its start).
    pub(crate) fn gave_out(&self, cursor: u64) -> bool {
        self.base <= cursor && cursor <= self.last
    }

    /// One more subscriber of `topic`.
    pub(crate) fn subscribed(&mut self, topic: &Topic) {
        match self.topics.get_mut(topic) {
            Some(h) => h.subscribers += 1,
            None => {
                self.topics.insert(
                    Arc::clone(topic),
                    TopicHistory {
                        subscribers: 1,
                        ..TopicHistory::default()
                    },
                );
            }
        }
    }

    /// One subscriber of `topic` fewer; its history goes with the last one
    /// (unless the topic's end is still remembered).
    pub(crate) fn unsubscribed(&mut self, topic: &str) {
        if let Some(h) = self.topics.get_mut(topic) {
            h.subscribers = h.subscribers.saturating_sub(1);
            if h.subscribers == 0 && h.end.is_none() {
                self.topics.remove(topic);
                shrink(&mut self.topics);
            }
        }
    }

    /// Records the end of `topic` with its final event, remembered until
    /// `until`.
    pub(crate) fn end(&mut self, topic: &Topic, last: Arc<Stored>, until: Instant, limits: Limits) {
        let h = self.topics.entry(Arc::clone(topic)).or_default();
        h.log.push(Arc::clone(&last), limits);
        h.end = Some(End { last, until });
        self.ended.push_back((Arc::clone(topic), until));
    }

    /// The end of `topic`, if it ended.
    pub(crate) fn end_of(&self, topic: &str) -> Option<&End> {
        self.topics.get(topic)?.end.as_ref()
    }

    /// Forgets the ends that expired by `now`, at most `budget` of them,
    /// and at most `cap` remembered at once (the oldest go first).
    pub(crate) fn forget_ends(&mut self, now: Instant, cap: usize, budget: usize) {
        for _ in 0..budget {
            let Some((topic, until)) = self.ended.front() else {
                break;
            };
            if *until > now && self.ended.len() <= cap {
                break;
            }
            let (topic, until) = (Arc::clone(topic), *until);
            self.ended.pop_front();
            if let Some(h) = self.topics.get_mut(&topic) {
                // A topic ended again later has a newer deadline: keep it.
                if h.end.as_ref().is_some_and(|e| e.until == until) {
                    h.end = None;
                    if h.subscribers == 0 {
                        self.topics.remove(&topic);
                    }
                }
            }
        }
        shrink(&mut self.topics);
        if self.ended.capacity() > MIN_SHRINK && self.ended.len() * 4 < self.ended.capacity() {
            self.ended.shrink_to(self.ended.len() * 2);
        }
    }
}

fn shrink<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>) {
    if map.capacity() > MIN_SHRINK && map.len() * 4 < map.capacity() {
        map.shrink_to(map.len() * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, at: Instant, len: usize) -> Arc<Stored> {
        Arc::new(Stored {
            seq,
            at,
            frame: Bytes::from(vec![b'x'; len]),
        })
    }

    const WIDE: Limits = Limits {
        events: 1_000,
        bytes: 1 << 20,
        age: Duration::from_secs(120),
    };

    #[test]
    fn count_bound_drops_the_oldest_and_marks_the_gap() {
        let t = Instant::now();
        let mut log = Log::default();
        let limits = Limits { events: 3, ..WIDE };
        for seq in [10, 12, 15, 20] {
            log.push(event(seq, t, 1), limits);
        }
        assert_eq!(log.len(), 3);
        assert!(
            log.complete_after(10),
            "10 itself was delivered to this cursor"
        );
        assert!(!log.complete_after(9));
        let seqs: Vec<u64> = log.after(12).map(|e| e.seq).collect();
        assert_eq!(seqs, [15, 20]);
        assert_eq!(log.after(20).count(), 0);
        assert_eq!(log.after(0).count(), 3);
    }

    #[test]
    fn byte_bound_keeps_one_oversized_event() {
        let t = Instant::now();
        let mut log = Log::default();
        let limits = Limits { bytes: 10, ..WIDE };
        log.push(event(1, t, 4), limits);
        log.push(event(2, t, 4), limits);
        assert_eq!((log.len(), log.bytes()), (2, 8));
        log.push(event(3, t, 50), limits);
        assert_eq!((log.len(), log.bytes()), (1, 50));
        assert!(log.complete_after(2) && !log.complete_after(1));
    }

    #[test]
    fn age_bound_applies_at_push_and_trim() {
        let t = Instant::now();
        let mut log = Log::default();
        let limits = Limits {
            age: Duration::from_secs(10),
            ..WIDE
        };
        log.push(event(1, t, 1), limits);
        log.push(event(2, t + Duration::from_secs(5), 1), limits);
        log.push(event(3, t + Duration::from_secs(11), 1), limits);
        assert_eq!(log.after(0).map(|e| e.seq).collect::<Vec<_>>(), [2, 3]);
        log.trim(limits, t + Duration::from_secs(30));
        assert!(log.is_empty());
        assert!(log.complete_after(3) && !log.complete_after(2));
        assert!(log.is_pristine(3) && !log.is_pristine(2));
    }

    #[test]
    fn merge_interleaves_in_position_order_and_bounds() {
        let t = Instant::now();
        let mut log = Log::default();
        for seq in [2, 5, 9] {
            log.push(event(seq, t, 1), WIDE);
        }
        log.merge(
            vec![event(1, t, 1), event(6, t, 1), event(10, t, 1)],
            WIDE,
            t,
        );
        let seqs: Vec<u64> = log.after(0).map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 2, 5, 6, 9, 10]);
        assert_eq!(log.bytes(), 6);
        let limits = Limits { events: 4, ..WIDE };
        log.merge(vec![event(7, t, 1)], limits, t);
        let seqs: Vec<u64> = log.after(0).map(|e| e.seq).collect();
        assert_eq!(seqs, [6, 7, 9, 10]);
        assert!(!log.complete_after(4));
    }

    #[test]
    fn positions_start_at_a_random_base_and_count_up() {
        let t = Instant::now();
        let (mut a, b) = (Journal::new(), Journal::new());
        assert_ne!(a.base, b.base, "two hubs share no positions (1 in 2^48)");
        assert!(a.base >= MIN_BASE && a.base < MIN_BASE + BASE_SPAN);
        let base = a.base;
        assert!(a.gave_out(base) && !a.gave_out(base + 1) && !a.gave_out(base - 1));
        assert_eq!(a.stamp(Bytes::new(), t).seq, base + 1);
        assert_eq!(a.stamp(Bytes::new(), t).seq, base + 2);
        assert!(a.gave_out(base + 2) && !a.gave_out(base + 3));
    }

    #[test]
    fn topic_histories_live_while_subscribed_or_ended() {
        let t = Instant::now();
        let mut j = Journal::new();
        let topic: Topic = Arc::from("jobs/1");
        j.subscribed(&topic);
        j.subscribed(&topic);
        j.unsubscribed("jobs/1");
        assert!(j.topics.contains_key("jobs/1"));
        j.unsubscribed("jobs/1");
        assert!(!j.topics.contains_key("jobs/1"));

        let last = j.stamp(Bytes::from_static(b"data: done\n\n"), t);
        j.end(&topic, last, t + Duration::from_secs(60), WIDE);
        assert_eq!(j.end_of("jobs/1").map(|e| e.last.seq), Some(j.last));
        j.forget_ends(t + Duration::from_secs(59), 10, 8);
        assert!(j.end_of("jobs/1").is_some());
        j.forget_ends(t + Duration::from_secs(61), 10, 8);
        assert!(j.end_of("jobs/1").is_none());
        assert!(!j.topics.contains_key("jobs/1"), "no subscriber left");
    }
}
