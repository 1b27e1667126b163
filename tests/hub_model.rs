//! The hub under random operations, against a plain `HashMap` model (http's
//! `header_map_fuzz.rs` style), with the clock stepped by hand (a paused Tokio
//! clock): connects (fresh, with a client-chosen ID, with a cursor by header or by
//! query, with a stale or forged cursor), connections that drop and reconnect the way
//! a browser does, sends to a session, a user, a topic and everybody, subscriptions,
//! job channels and their end, expiry of the resume window, drops and closes.
//!
//! After every operation every client must have received exactly the events the model
//! says, each once, in order, each with `id: <session>.<seq>`; every reconnect must
//! replay exactly the events its session was sent after its cursor, or start with the
//! gap signal exactly when the model says events cannot be known; every `Delivery`
//! must count what the model counts; and the hub must be empty once everything left
//! and the window passed.

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use http_body::Body;
use proptest::prelude::*;
use sse_session::event::Event;
use sse_session::live::{
    Accepted, Delivery, GapReason, Hub, HubConfig, Resume, SessionConfig, SseBody, UserKey,
};
use sse_session::parse::{Frame, Parser};
use sse_session::session::SessionId;

const WINDOW: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
enum How {
    /// No token: a fresh ID.
    Fresh,
    /// `?id=<session>` without a cursor.
    Bare(u8),
    /// A cursor: the last event ID a client (index) saw, sent back by header or query.
    Cursor { client: usize, header: bool },
    /// A cursor the hub never gave out (before its base, or after its newest position).
    Forged { session: u8, ahead: bool },
}

#[derive(Clone, Debug)]
enum Op {
    Open {
        how: How,
        user: u8,
        job: Option<u8>,
    },
    /// The client's connection drops and it reconnects with its cursor, as a browser does.
    Reconnect {
        client: usize,
        header: bool,
    },
    /// The client goes away for good (tab closed).
    Leave(usize),
    Broadcast,
    ToSession(u8),
    ToUser(u8),
    Subscribe(u8, u8),
    Unsubscribe(u8, u8),
    Publish(u8),
    PublishJob(u8),
    EndJob(u8),
    DropSession(u8),
    Close(u8),
    Advance(u64),
}

fn how() -> impl Strategy<Value = How> {
    prop_oneof![
        1 => Just(How::Fresh),
        2 => (0..5u8).prop_map(How::Bare),
        4 => (any::<usize>(), any::<bool>()).prop_map(|(client, header)| How::Cursor { client, header }),
        1 => (0..5u8, any::<bool>()).prop_map(|(session, ahead)| How::Forged { session, ahead }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (how(), 0..3u8, prop_oneof![4 => Just(None), 1 => (0..2u8).prop_map(Some)])
            .prop_map(|(how, user, job)| Op::Open { how, user, job }),
        4 => (any::<usize>(), any::<bool>()).prop_map(|(client, header)| Op::Reconnect { client, header }),
        1 => any::<usize>().prop_map(Op::Leave),
        2 => Just(Op::Broadcast),
        2 => (0..5u8).prop_map(Op::ToSession),
        1 => (1..3u8).prop_map(Op::ToUser),
        1 => (0..5u8, 0..2u8).prop_map(|(s, t)| Op::Subscribe(s, t)),
        1 => (0..5u8, 0..2u8).prop_map(|(s, t)| Op::Unsubscribe(s, t)),
        2 => (0..2u8).prop_map(Op::Publish),
        1 => (0..2u8).prop_map(Op::PublishJob),
        1 => (0..2u8).prop_map(Op::EndJob),
        1 => (0..5u8).prop_map(Op::DropSession),
        1 => (0..5u8).prop_map(Op::Close),
        1 => prop_oneof![Just(1_000u64), Just(4_000), Just(11_000)].prop_map(Op::Advance),
    ]
}

fn sid(s: u8) -> SessionId {
    SessionId::try_from(format!("s{s}").as_str()).expect("valid")
}

fn user_key(user: u8) -> Option<UserKey> {
    (user > 0).then(|| UserKey::from(format!("u{user}")))
}

fn topic(t: u8) -> String {
    format!("t{t}")
}

fn job(j: u8) -> String {
    format!("job{j}")
}

/// What a client saw: (event type, data, last event ID) of each event.
type Seen = (String, String, String);

struct Client {
    session: SessionId,
    /// `None` once its connection is gone (its body dropped).
    body: Option<SseBody>,
    parser: Parser,
    /// Events the model says are on their way, in order.
    expected: Vec<Seen>,
    /// The stream is expected to end after `expected` (a finished job channel).
    ends: bool,
    user: u8,
    job: Option<u8>,
}

impl Client {
    /// Polls the body dry; returns what arrived and whether the stream ended (the body
    /// is then dropped, as hyper does).
    fn poll(&mut self) -> (Vec<Seen>, bool) {
        let mut cx = Context::from_waker(Waker::noop());
        let mut ended = false;
        while let Some(body) = self.body.as_mut() {
            match Pin::new(body).poll_frame(&mut cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        self.parser.feed(&data);
                    }
                }
                Poll::Ready(Some(Err(never))) => match never {},
                Poll::Ready(None) => {
                    ended = true;
                    self.body = None;
                }
                Poll::Pending => break,
            }
        }
        let mut out = Vec::new();
        while let Some(frame) = self.parser.next_frame().expect("within limits") {
            if let Frame::Event(e) = frame {
                out.push((
                    e.event_type().to_owned(),
                    e.data().to_owned(),
                    e.last_event_id().to_owned(),
                ));
            }
        }
        (out, ended)
    }

    fn cursor(&self) -> String {
        self.parser.last_event_id().to_owned()
    }
}

#[derive(Default)]
struct MSession {
    user: u8,
    job: Option<u8>,
    topics: HashSet<u8>,
    /// Every event addressed to the session: (seq, data).
    history: Vec<(u64, String)>,
    /// When each event of `history` was sent (model time, ms).
    sent_at: Vec<u64>,
    start: u64,
    /// Model time the last connection left.
    away_since: Option<u64>,
}

#[derive(Default)]
struct Model {
    sessions: HashMap<SessionId, MSession>,
    closed: HashSet<SessionId>,
    /// Ended jobs: their final event (seq, data).
    ended: HashMap<u8, (u64, String)>,
    now_ms: u64,
    mismatches: u64,
}

impl Model {
    fn expired(&self, s: &MSession) -> bool {
        s.away_since
            .is_some_and(|t| self.now_ms - t >= WINDOW.as_millis() as u64)
    }

    /// The session if it exists and its window has not passed.
    fn live_session(&self, id: &SessionId) -> Option<&MSession> {
        self.sessions.get(id).filter(|s| !self.expired(s))
    }
}

fn message(session: &SessionId, seq: u64, data: &str) -> Seen {
    ("message".into(), data.into(), format!("{session}.{seq}"))
}

fn resync(session: &SessionId, cursor: u64, reason: GapReason) -> Seen {
    (
        "resync".into(),
        format!("{{\"reason\":\"{reason}\",\"lost\":null}}"),
        format!("{session}.{cursor}"),
    )
}

struct World {
    rt: std::sync::Arc<tokio::runtime::Runtime>,
    hub: Hub,
    model: Model,
    clients: Vec<Client>,
    /// Sends so far (each event's data is unique).
    sent: u64,
    /// Whether history bounds are small (trimming allowed: a gap may replace a replay).
    tight: bool,
}

impl World {
    fn new(tight: bool) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("runtime");
        let rt = std::sync::Arc::new(rt);
        let mut config = HubConfig::default()
            .resume_window(WINDOW)
            .owner_ttl(Duration::ZERO);
        if tight {
            config = config.mailbox_events(3).history_events(4);
        }
        let hub = {
            let _enter = rt.enter();
            Hub::with_config(SessionConfig::default().keep_alive(None), config)
        };
        World {
            rt,
            hub,
            model: Model::default(),
            clients: Vec::new(),
            sent: 0,
            tight,
        }
    }

    fn live_clients(&self, session: &SessionId) -> usize {
        self.clients
            .iter()
            .filter(|c| c.body.is_some() && c.session == *session)
            .count()
    }

    /// Model: the session's connections are all gone (at the current time).
    fn maybe_away(&mut self, session: &SessionId) {
        if self.live_clients(session) == 0 {
            let now = self.model.now_ms;
            if let Some(s) = self.model.sessions.get_mut(session) {
                if s.away_since.is_none() {
                    s.away_since = Some(now);
                }
            }
        }
    }

    fn open(
        &mut self,
        token: Option<(SessionId, Option<u64>)>,
        header: bool,
        user: u8,
        job_id: Option<u8>,
    ) -> Result<(), TestCaseError> {
        let position = self.hub.position();
        let mut req = http::Request::get("/events");
        if let Some((s, seq)) = &token {
            let value = match seq {
                Some(n) => format!("{s}.{n}"),
                None => s.to_string(),
            };
            req = if header {
                req.header("last-event-id", value)
            } else {
                http::Request::get(format!("/events?id={value}"))
            };
        }
        let parts = req.body(()).expect("request").into_parts().0;
        let accepted = self.rt.block_on(async {
            match job_id {
                Some(j) => {
                    self.hub
                        .accept_scoped(&parts, user_key(user), &job(j))
                        .await
                }
                None => self.hub.accept(&parts, user_key(user)).await,
            }
        });

        // The model's decision.
        let end = job_id.and_then(|j| self.model.ended.get(&j).cloned());
        if let Some((s, _)) = &token {
            if self.model.closed.contains(s) {
                prop_assert!(matches!(accepted, Accepted::Closed(_)), "closed: 204");
                return Ok(());
            }
        }
        let existing = token
            .as_ref()
            .and_then(|(s, _)| self.model.live_session(s).map(|m| (m.user, m.job, m.start)));
        // (new session?, resume, cursor, replay, ends)
        let mut new_id = None;
        let mut aged = false;
        let (resume, cursor, replay, ends): (Resume, u64, Vec<(u64, String)>, bool);
        match (&token, existing) {
            (Some((s, seq)), Some((owner, scope, start))) if owner == user && scope == job_id => {
                let gap_cursor = end.as_ref().map_or(position, |(f, _)| f - 1);
                let final_only = end.iter().cloned().collect::<Vec<_>>();
                match seq {
                    None => {
                        (resume, cursor, replay, ends) = (
                            Resume::Gap(GapReason::NoCursor),
                            gap_cursor,
                            final_only,
                            end.is_some(),
                        )
                    }
                    Some(n) if *n < start || *n > position => {
                        (resume, cursor, replay, ends) = (
                            Resume::Gap(GapReason::UnknownCursor),
                            gap_cursor,
                            final_only,
                            end.is_some(),
                        )
                    }
                    Some(n) if end.as_ref().is_some_and(|(f, _)| n >= f) => {
                        prop_assert!(matches!(accepted, Accepted::Closed(_)), "job over: 204");
                        self.model.sessions.remove(s);
                        self.model.closed.insert(*s);
                        return Ok(());
                    }
                    Some(n) => {
                        let m = &self.model.sessions[s];
                        let now = self.model.now_ms;
                        let window = WINDOW.as_millis() as u64;
                        // An event older than the window may have been dropped (every
                        // history is bounded by age too): then a gap is right.
                        aged = m
                            .history
                            .iter()
                            .zip(&m.sent_at)
                            .any(|((q, _), t)| q > n && now - t >= window);
                        let missed: Vec<_> =
                            m.history.iter().filter(|(q, _)| q > n).cloned().collect();
                        (resume, cursor, replay, ends) = (
                            Resume::Recovered {
                                replayed: missed.len(),
                            },
                            *n,
                            missed,
                            end.is_some(),
                        );
                    }
                }
            }
            other => {
                let mismatch = matches!(other, (Some(_), Some(_)));
                if mismatch {
                    self.model.mismatches += 1;
                } else if let Some((s, _)) = &token {
                    new_id = Some(*s);
                }
                let start = end.as_ref().map_or(position, |(f, _)| f - 1);
                let gap = !mismatch && token.as_ref().is_some_and(|(_, seq)| seq.is_some());
                (resume, cursor, replay, ends) = (
                    if gap {
                        Resume::Gap(GapReason::Expired)
                    } else {
                        Resume::New
                    },
                    start,
                    end.iter().cloned().collect(),
                    end.is_some(),
                );
            }
        }
        let Accepted::Open(conn) = accepted else {
            return Err(TestCaseError::fail(format!(
                "expected a stream, {resume:?}"
            )));
        };
        let session = *conn.session_id();
        if let Some(asked) = new_id {
            prop_assert_eq!(session, asked);
        }
        let is_new = !self.model.sessions.contains_key(&session)
            || self
                .model
                .sessions
                .get(&session)
                .is_some_and(|m| self.model.expired(m));
        let got_resume = conn.resume();
        let tight_gap = (self.tight || aged)
            && matches!(resume, Resume::Recovered { .. })
            && got_resume == Resume::Gap(GapReason::Trimmed);
        if tight_gap {
            prop_assert!(!replay.is_empty(), "trimmed, yet nothing was missed");
        } else {
            prop_assert_eq!(got_resume, resume);
        }
        let cursor = if tight_gap {
            end.as_ref().map_or(position, |(f, _)| f - 1)
        } else {
            cursor
        };
        prop_assert_eq!(conn.cursor(), Some(cursor));
        if is_new {
            let mut m = MSession {
                user,
                job: job_id,
                start: cursor,
                ..MSession::default()
            };
            if let Some(j) = job_id {
                m.topics.insert(100 + j);
                if let Some(f) = &end {
                    m.history.push(f.clone());
                    m.sent_at.push(self.model.now_ms);
                }
            }
            self.model.sessions.insert(session, m);
        }
        if let Some(m) = self.model.sessions.get_mut(&session) {
            m.away_since = None;
        }
        let mut expected = Vec::new();
        let gap_reason = got_resume.gap();
        if let Some(reason) = gap_reason {
            expected.push(resync(&session, cursor, reason));
        }
        let replayed = if tight_gap || gap_reason.is_some() {
            end.iter().cloned().collect()
        } else {
            replay
        };
        expected.extend(replayed.iter().map(|(q, d)| message(&session, *q, d)));
        let (_tx, body) = conn.into_parts();
        self.clients.push(Client {
            session,
            body: Some(body),
            parser: Parser::new(),
            expected,
            ends,
            user,
            job: job_id,
        });
        Ok(())
    }

    /// Sends to `targets` (model sessions); checks the delivery against the model.
    fn check_send(
        &mut self,
        sent: Delivery,
        targets: Vec<SessionId>,
        data: &str,
    ) -> Result<(), TestCaseError> {
        let mut live = 0;
        let mut queued = 0;
        for t in &targets {
            let n = self.live_clients(t);
            if n == 0 {
                queued += 1;
            }
            live += n;
        }
        prop_assert_eq!((sent.live, sent.queued), (live, queued), "{}", data);
        if targets.is_empty() {
            return Ok(());
        }
        let seq = sent
            .seq
            .ok_or_else(|| TestCaseError::fail("reached, so numbered"))?;
        let now = self.model.now_ms;
        for t in &targets {
            let m = self.model.sessions.get_mut(t).expect("a target");
            m.history.push((seq, data.to_owned()));
            m.sent_at.push(now);
        }
        for c in self.clients.iter_mut().filter(|c| c.body.is_some()) {
            if targets.contains(&c.session) {
                c.expected.push(message(&c.session, seq, data));
            }
        }
        Ok(())
    }

    fn targets(&self, pick: impl Fn(&MSession, &SessionId) -> bool) -> Vec<SessionId> {
        self.model
            .sessions
            .iter()
            .filter(|(id, s)| !self.model.expired(s) && pick(s, id))
            .map(|(id, _)| *id)
            .collect()
    }

    fn next_data(&mut self) -> String {
        self.sent += 1;
        format!("e{}", self.sent)
    }

    fn step(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Open { how, user, job } => {
                let (token, header) = match how {
                    How::Fresh => (None, false),
                    How::Bare(s) => (Some((sid(s), None)), false),
                    How::Cursor { client, header } => {
                        if self.clients.is_empty() {
                            return Ok(());
                        }
                        let c = &self.clients[client % self.clients.len()];
                        let Some((s, n)) = c.cursor().split_once('.').map(|(s, n)| {
                            (SessionId::try_from(s).expect("a session"), n.parse().ok())
                        }) else {
                            return Ok(());
                        };
                        (Some((s, n)), header)
                    }
                    How::Forged { session, ahead } => {
                        let p = self.hub.position();
                        let n = if ahead { p + 1 + u64::from(session) } else { 7 };
                        (Some((sid(session), Some(n))), true)
                    }
                };
                self.open(token, header, user, job)?;
            }
            Op::Reconnect { client, header } => {
                if self.clients.is_empty() {
                    return Ok(());
                }
                let i = client % self.clients.len();
                let mut c = self.clients.swap_remove(i);
                let (user, job) = (c.user, c.job);
                let cursor = c.cursor();
                let session = c.session;
                c.body = None; // the connection drops
                drop(c);
                self.maybe_away(&session);
                let Some((s, n)) = cursor.split_once('.') else {
                    return Err(TestCaseError::fail(format!("cursor {cursor:?}")));
                };
                let s = SessionId::try_from(s).expect("a session");
                let n = n.parse().ok();
                self.open(Some((s, n)), header, user, job)?;
            }
            Op::Leave(i) => {
                if self.clients.is_empty() {
                    return Ok(());
                }
                let c = self.clients.swap_remove(i % self.clients.len());
                let session = c.session;
                drop(c);
                self.maybe_away(&session);
            }
            Op::Broadcast => {
                let data = self.next_data();
                let sent = self.hub.broadcast(&Event::new(data.as_str()));
                let targets = self.targets(|s, _| s.job.is_none());
                self.check_send(sent, targets, &data)?;
            }
            Op::ToSession(s) => {
                let data = self.next_data();
                let id = sid(s);
                let sent = self.hub.send_to_session(&id, &Event::new(data.as_str()));
                let targets = self.targets(|_, t| *t == id);
                self.check_send(sent, targets, &data)?;
            }
            Op::ToUser(u) => {
                let data = self.next_data();
                let key = user_key(u).expect("u > 0");
                let sent = self.hub.send_to_user(&key, &Event::new(data.as_str()));
                let targets = self.targets(|s, _| s.user == u && s.job.is_none());
                self.check_send(sent, targets, &data)?;
            }
            Op::Subscribe(s, t) => {
                let id = sid(s);
                let exists = self.model.live_session(&id).is_some();
                prop_assert_eq!(self.hub.subscribe(&id, &topic(t)), exists);
                if exists {
                    self.model
                        .sessions
                        .get_mut(&id)
                        .expect("exists")
                        .topics
                        .insert(t);
                }
            }
            Op::Unsubscribe(s, t) => {
                let id = sid(s);
                let was = self.model.live_session(&id).is_some()
                    && self
                        .model
                        .sessions
                        .get_mut(&id)
                        .is_some_and(|m| m.topics.remove(&t));
                let got = self.hub.unsubscribe(&id, &topic(t));
                // An expired session not yet freed still answers; only check the model's.
                if was {
                    prop_assert!(got);
                }
            }
            Op::Publish(t) => {
                let data = self.next_data();
                let sent = self.hub.publish(&topic(t), &Event::new(data.as_str()));
                let targets = self.targets(|s, _| s.topics.contains(&t));
                self.check_send(sent, targets, &data)?;
            }
            Op::PublishJob(j) => {
                let data = self.next_data();
                let sent = self.hub.publish(&job(j), &Event::new(data.as_str()));
                let targets = if self.model.ended.contains_key(&j) {
                    Vec::new() // an ended topic takes no more events
                } else {
                    self.targets(|s, _| s.topics.contains(&(100 + j)))
                };
                self.check_send(sent, targets, &data)?;
            }
            Op::EndJob(j) => {
                let data = self.next_data();
                let sent = self.hub.end_topic(&job(j), &Event::new(data.as_str()));
                if self.model.ended.contains_key(&j) {
                    prop_assert_eq!(sent, Delivery::default(), "ended twice");
                    return Ok(());
                }
                let targets = self.targets(|s, _| s.topics.contains(&(100 + j)));
                self.check_send(sent, targets, &data)?;
                let seq = sent
                    .seq
                    .ok_or_else(|| TestCaseError::fail("an end is numbered"))?;
                self.model.ended.insert(j, (seq, data));
                for c in self.clients.iter_mut() {
                    if c.body.is_some() && c.job == Some(j) {
                        c.ends = true;
                    }
                }
            }
            Op::DropSession(s) => {
                let id = sid(s);
                let n = self.live_clients(&id);
                prop_assert_eq!(self.hub.drop_session(&id), n);
                for c in self.clients.iter_mut().filter(|c| c.session == id) {
                    if c.body.is_some() {
                        c.ends = true; // ends now, nothing queued (every client is polled)
                    }
                }
            }
            Op::Close(s) => {
                let id = sid(s);
                let n = self.live_clients(&id);
                prop_assert_eq!(self.rt.block_on(self.hub.close_session(&id, None)), n);
                self.model.sessions.remove(&id);
                self.model.closed.insert(id);
                for c in self.clients.iter_mut().filter(|c| c.session == id) {
                    if c.body.is_some() {
                        c.ends = true;
                    }
                }
            }
            Op::Advance(ms) => {
                self.rt
                    .block_on(tokio::time::advance(Duration::from_millis(ms)));
                self.model.now_ms += ms;
            }
        }
        self.check()
    }

    /// Every client got exactly what the model says; ended streams drop their bodies
    /// (the sessions go away); the hub's counts agree.
    fn check(&mut self) -> Result<(), TestCaseError> {
        let mut gone = Vec::new();
        for c in &mut self.clients {
            if c.body.is_none() {
                continue;
            }
            let (got, ended) = c.poll();
            let expected = std::mem::take(&mut c.expected);
            prop_assert_eq!(&got, &expected, "client of {}", c.session);
            prop_assert_eq!(ended, c.ends, "end of the stream of {}", c.session);
            if ended {
                gone.push(c.session);
            }
        }
        for s in gone {
            self.maybe_away(&s);
        }
        let live = self.clients.iter().filter(|c| c.body.is_some()).count();
        prop_assert_eq!(self.hub.connection_count(), live);
        prop_assert_eq!(self.hub.stats().user_mismatches, self.model.mismatches);
        let mut listed = self.hub.sessions();
        let mut expected: Vec<SessionId> = self
            .model
            .sessions
            .iter()
            .filter(|(id, _)| self.live_clients(id) > 0)
            .map(|(id, _)| *id)
            .collect();
        listed.sort();
        expected.sort();
        prop_assert_eq!(listed, expected);
        Ok(())
    }

    fn finish(mut self) -> Result<(), TestCaseError> {
        self.clients.clear();
        self.rt
            .block_on(tokio::time::advance(WINDOW + Duration::from_secs(1)));
        self.hub.sweep();
        prop_assert_eq!(self.hub.connection_count(), 0);
        prop_assert_eq!(self.hub.session_count(), 0);
        prop_assert_eq!(self.hub.away_count(), 0);
        Ok(())
    }
}

fn run(ops: Vec<Op>, tight: bool) -> Result<(), TestCaseError> {
    let mut world = World::new(tight);
    // Every call, in or out of `block_on`, reads the runtime's paused clock.
    let rt = std::sync::Arc::clone(&world.rt);
    let enter = rt.enter();
    for op in ops {
        world.step(op)?;
    }
    let result = world.finish();
    drop(enter);
    result
}

/// `PROPTEST_CASES` for a longer soak, else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(384)))]
    /// Histories large enough for every run: every reconnect inside the window replays
    /// exactly what was missed.
    #[test]
    fn hub_matches_a_hashmap_model(ops in proptest::collection::vec(op(), 1..90)) {
        run(ops, false)?;
    }

    /// Histories of 3 (mailbox) and 4 (shared) events: a replay is exact or replaced by
    /// the gap signal when something the session was sent was dropped, never wrong.
    #[test]
    fn with_small_histories_a_replay_is_exact_or_a_gap(ops in proptest::collection::vec(op(), 1..90)) {
        run(ops, true)?;
    }
}
