//! The hub under random operations, against a plain `HashMap` model (http's
//! `header_map_fuzz.rs` style): every count it returns, every event each client
//! receives, and the user-key rule must match the model, and the hub must be empty
//! once every client has gone.

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use http_body::Body;
use proptest::prelude::*;
use sse_session::event::Event;
use sse_session::live::{Accepted, Hub, SseBody, UserKey};
use sse_session::parse::{Frame, Parser};
use sse_session::session::SessionId;

#[derive(Clone, Debug)]
enum Op {
    Open { session: u8, user: u8 },
    Leave(usize),
    Broadcast,
    ToSession(u8),
    ToUser(u8),
    Subscribe(u8, u8),
    Unsubscribe(u8, u8),
    Publish(u8),
    DropSession(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..5u8, 0..3u8).prop_map(|(session, user)| Op::Open { session, user }),
        2 => any::<usize>().prop_map(Op::Leave),
        1 => Just(Op::Broadcast),
        1 => (0..5u8).prop_map(Op::ToSession),
        1 => (1..3u8).prop_map(Op::ToUser),
        1 => (0..5u8, 0..2u8).prop_map(|(s, t)| Op::Subscribe(s, t)),
        1 => (0..5u8, 0..2u8).prop_map(|(s, t)| Op::Unsubscribe(s, t)),
        1 => (0..2u8).prop_map(Op::Publish),
        1 => (0..5u8).prop_map(Op::DropSession),
    ]
}

fn name(session: u8) -> String {
    format!("s{session}")
}

fn user_key(user: u8) -> Option<UserKey> {
    (user > 0).then(|| UserKey::from(format!("u{user}")))
}

struct Client {
    body: SseBody,
    parser: Parser,
    session: SessionId,
    /// Events the model says this client must have received (and not yet checked).
    expected: usize,
    /// The model says its stream has ended (dropped by `drop_session`).
    ended: bool,
}

impl Client {
    fn received(&mut self) -> (usize, bool) {
        let mut cx = Context::from_waker(Waker::noop());
        let mut ended = false;
        loop {
            match Pin::new(&mut self.body).poll_frame(&mut cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        self.parser.feed(&data);
                    }
                }
                Poll::Ready(Some(Err(never))) => match never {},
                Poll::Ready(None) => {
                    ended = true;
                    break;
                }
                Poll::Pending => break,
            }
        }
        let mut events = 0;
        while let Some(frame) = self.parser.next_frame().expect("within limits") {
            if matches!(frame, Frame::Event(_)) {
                events += 1;
            }
        }
        (events, ended)
    }
}

#[derive(Default)]
struct Model {
    /// Live sessions: their user and topics.
    sessions: HashMap<SessionId, (u8, HashSet<u8>)>,
    /// Owners of departed sessions (the hub remembers them for 10 minutes).
    owners: HashMap<SessionId, u8>,
    mismatches: u64,
}

impl Model {
    fn live_conns<'a>(
        &'a self,
        clients: &'a mut [Client],
        pick: impl Fn(&SessionId, u8, &HashSet<u8>) -> bool + 'a,
    ) -> impl Iterator<Item = &'a mut Client> + 'a {
        clients.iter_mut().filter(move |c| {
            !c.ended
                && self
                    .sessions
                    .get(&c.session)
                    .is_some_and(|(u, t)| pick(&c.session, *u, t))
        })
    }

    fn remove_session(&mut self, session: &SessionId) {
        if let Some((user, _)) = self.sessions.remove(session) {
            if user > 0 {
                self.owners.insert(*session, user);
            }
        }
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let _enter = rt.enter();
    let hub = Hub::default();
    let mut model = Model::default();
    let mut clients: Vec<Client> = Vec::new();
    let event = Event::new("e");

    for op in ops {
        match op {
            Op::Open { session, user } => {
                let parts = http::Request::get(format!("/events?id={}", name(session)))
                    .body(())
                    .expect("request")
                    .into_parts()
                    .0;
                let Accepted::Open(conn) = rt.block_on(hub.accept(&parts, user_key(user))) else {
                    return Err(TestCaseError::fail("nothing is closed in this test"));
                };
                let asked = SessionId::try_from(name(session).as_str()).expect("valid");
                let may_join = match model.sessions.get(&asked) {
                    Some((owner, _)) => *owner == user,
                    None => model.owners.get(&asked).is_none_or(|o| *o == user),
                };
                if may_join {
                    prop_assert_eq!(conn.session_id(), &asked);
                    model.owners.remove(&asked);
                    model
                        .sessions
                        .entry(asked)
                        .or_insert_with(|| (user, HashSet::new()));
                } else {
                    prop_assert_ne!(conn.session_id(), &asked);
                    model.mismatches += 1;
                    model
                        .sessions
                        .insert(*conn.session_id(), (user, HashSet::new()));
                }
                let session = *conn.session_id();
                let (_tx, body) = conn.into_parts();
                let mut client = Client {
                    body,
                    parser: Parser::new(),
                    session,
                    expected: 0,
                    ended: false,
                };
                prop_assert_eq!(client.received(), (0, false)); // the id: frame
                clients.push(client);
            }
            Op::Leave(i) => {
                if clients.is_empty() {
                    continue;
                }
                let gone = clients.swap_remove(i % clients.len());
                let session = gone.session;
                let was_live = !gone.ended;
                drop(gone);
                let still = clients.iter().any(|c| c.session == session && !c.ended);
                if was_live && !still {
                    model.remove_session(&session);
                }
            }
            Op::Broadcast => {
                let n = model
                    .live_conns(&mut clients, |_, _, _| true)
                    .map(|c| c.expected += 1)
                    .count();
                prop_assert_eq!(hub.broadcast(&event), n);
            }
            Op::ToSession(s) => {
                let id = SessionId::try_from(name(s).as_str()).expect("valid");
                let n = model
                    .live_conns(&mut clients, |sid, _, _| *sid == id)
                    .map(|c| c.expected += 1)
                    .count();
                prop_assert_eq!(hub.send_to_session(&id, &event), n);
            }
            Op::ToUser(u) => {
                let n = model
                    .live_conns(&mut clients, |_, owner, _| owner == u)
                    .map(|c| c.expected += 1)
                    .count();
                let key = user_key(u).expect("u > 0");
                prop_assert_eq!(hub.send_to_user(&key, &event), n);
            }
            Op::Subscribe(s, t) => {
                let id = SessionId::try_from(name(s).as_str()).expect("valid");
                let live = match model.sessions.get_mut(&id) {
                    Some((_, topics)) => {
                        topics.insert(t);
                        true
                    }
                    None => false,
                };
                prop_assert_eq!(hub.subscribe(&id, &format!("t{t}")), live);
            }
            Op::Unsubscribe(s, t) => {
                let id = SessionId::try_from(name(s).as_str()).expect("valid");
                let was = model
                    .sessions
                    .get_mut(&id)
                    .is_some_and(|(_, topics)| topics.remove(&t));
                prop_assert_eq!(hub.unsubscribe(&id, &format!("t{t}")), was);
            }
            Op::Publish(t) => {
                let n = model
                    .live_conns(&mut clients, |_, _, topics| topics.contains(&t))
                    .map(|c| c.expected += 1)
                    .count();
                prop_assert_eq!(hub.publish(&format!("t{t}"), &event), n);
            }
            Op::DropSession(s) => {
                let id = SessionId::try_from(name(s).as_str()).expect("valid");
                let n = model
                    .live_conns(&mut clients, |sid, _, _| *sid == id)
                    .map(|c| c.ended = true)
                    .count();
                model.remove_session(&id);
                prop_assert_eq!(hub.drop_session(&id), n);
            }
        }
        // Every client got exactly what the model says (a dropped stream loses what was
        // queued: it resumes by reconnecting), and the hub's counts agree.
        for c in &mut clients {
            let (got, ended) = c.received();
            if c.ended {
                prop_assert!(ended);
            } else {
                prop_assert_eq!(got, c.expected);
                prop_assert!(!ended);
            }
            c.expected = 0;
        }
        let live = clients.iter().filter(|c| !c.ended).count();
        prop_assert_eq!(hub.connection_count(), live);
        prop_assert_eq!(hub.session_count(), model.sessions.len());
        prop_assert_eq!(hub.stats().user_mismatches, model.mismatches);
        let mut listed: Vec<SessionId> = hub.sessions();
        let mut expected: Vec<SessionId> = model.sessions.keys().copied().collect();
        listed.sort();
        expected.sort();
        prop_assert_eq!(listed, expected);
    }
    drop(clients);
    prop_assert_eq!(hub.connection_count(), 0);
    prop_assert_eq!(hub.session_count(), 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn hub_matches_a_hashmap_model(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops)?;
    }
}
