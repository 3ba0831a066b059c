//! Perfect negotiation for one remote member, sans-IO.
//!
//! Every connection attempt gets a fresh connection id (`cid`) and, in the IO layer, a fresh
//! `RTCPeerConnection`. Signals name their `cid`, so an offer, answer or candidate from an
//! abandoned attempt is recognised and ignored instead of corrupting the live connection.
//!
//! Roles: `polite = local identid < remote identid` (both sides compute the same answer
//! without talking). On glare (both sent an offer for new connections) the impolite side
//! ignores the incoming offer and the polite side drops its own attempt and answers.
//!
//! Repair order: when an established link fails, the side that offered it first tries an
//! ICE restart on the same connection (a new offer with the same `cid`); only if that does
//! not bring the link back within `ice_restart_timeout` does anyone start over with a fresh
//! connection. Lost offers/answers and stuck attempts time out and retry with backoff.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use skypod_protocol::link::timing;

use super::backoff::{Backoff, BackoffConfig, Rng01};

#[derive(Clone, Debug, PartialEq)]
pub struct NegotiationConfig {
    /// How long an offer may wait for its answer.
    pub answer_timeout: Duration,
    /// How long an answered attempt may take to open its data channel.
    pub connect_timeout: Duration,
    /// How long an ICE restart may take before starting over.
    pub ice_restart_timeout: Duration,
    /// When the remote is expected to offer (it is the newcomer), how long to wait for that
    /// before offering ourselves.
    pub wait_for_offer: Duration,
    pub backoff: BackoffConfig,
}

impl Default for NegotiationConfig {
    fn default() -> Self {
        Self {
            answer_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            // The shared policy (skypod_protocol::link::timing explains the values).
            ice_restart_timeout: timing::ICE_RESTART_TIMEOUT,
            wait_for_offer: timing::WAIT_FOR_OFFER,
            backoff: BackoffConfig::default(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Offerer,
    Answerer,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Not connected and not trying (remote offline).
    Idle,
    /// The remote should offer; we offer ourselves at `until`.
    WaitingForOffer {
        until: Instant,
    },
    /// Our offer is out; waiting for the answer.
    Offering {
        cid: String,
        since: Instant,
    },
    /// Offer and answer exchanged; waiting for the data channel to open.
    Connecting {
        cid: String,
        role: Role,
        deadline: Instant,
    },
    Connected {
        cid: String,
        role: Role,
    },
    /// We sent an ICE-restart offer on the live connection.
    Restarting {
        cid: String,
        since: Instant,
    },
    /// A failed attempt; the next starts at `until`.
    Backoff {
        until: Instant,
    },
}

/// Something the IO layer must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Create a connection with a data channel, make an offer for `cid`, send it.
    StartOffer { cid: String },
    /// ICE restart on the live connection `cid`: new offer with `iceRestart`, send it.
    RestartIce { cid: String },
    /// Tear the connection `cid` down.
    Close { cid: String },
    /// The link is usable (data channel open).
    LinkUp { cid: String },
    /// The link is not usable any more (messages fall back to the relay).
    LinkDown,
}

/// What to do with an incoming signal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Create a connection for this offer, answer it (any previous one is closed through a
    /// queued [`Action::Close`]).
    AcceptOffer,
    /// An offer for the live connection (the remote's ICE restart): apply it and answer.
    AnswerRenegotiation,
    ApplyAnswer,
    ApplyCandidate,
    Ignore(IgnoreReason),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IgnoreReason {
    /// For a connection id that was abandoned.
    Stale,
    /// We are impolite and have our own offer out.
    Glare,
    /// Not expected in the current state (e.g. an answer without an offer).
    Unexpected,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalKind {
    Offer,
    Answer,
    Candidate,
}

/// How many abandoned connection ids are remembered to recognise stale signals.
const RETIRED: usize = 32;

pub struct Negotiator {
    cfg: NegotiationConfig,
    polite: bool,
    state: State,
    retired: VecDeque<String>,
    actions: VecDeque<Action>,
    backoff: Backoff,
    rng: Box<dyn Rng01 + Send>,
    cid_prefix: u64,
    cid_counter: u64,
    link_up: bool,
}

impl std::fmt::Debug for Negotiator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Negotiator")
            .field("polite", &self.polite)
            .field("state", &self.state)
            .finish()
    }
}

impl Negotiator {
    /// `polite` comes from [`is_polite`]; `cid_prefix` should be random so that ids never
    /// repeat across process restarts.
    pub fn new(
        cfg: NegotiationConfig,
        polite: bool,
        cid_prefix: u64,
        rng: Box<dyn Rng01 + Send>,
    ) -> Self {
        Self {
            backoff: Backoff::new(cfg.backoff.clone()),
            cfg,
            polite,
            state: State::Idle,
            retired: VecDeque::new(),
            actions: VecDeque::new(),
            rng,
            cid_prefix,
            cid_counter: 0,
            link_up: false,
        }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn is_polite(&self) -> bool {
        self.polite
    }

    /// The connection id in use, if any.
    pub fn current_cid(&self) -> Option<&str> {
        match &self.state {
            State::Offering { cid, .. }
            | State::Connecting { cid, .. }
            | State::Connected { cid, .. }
            | State::Restarting { cid, .. } => Some(cid),
            _ => None,
        }
    }

    pub fn is_retired(&self, cid: &str) -> bool {
        self.retired.iter().any(|c| c == cid)
    }

    fn fresh_cid(&mut self) -> String {
        self.cid_counter += 1;
        format!("{:016x}-{}", self.cid_prefix, self.cid_counter)
    }

    fn retire_current(&mut self) {
        if let Some(cid) = self.current_cid().map(str::to_owned) {
            self.actions.push_back(Action::Close { cid: cid.clone() });
            self.retired.push_back(cid);
            while self.retired.len() > RETIRED {
                self.retired.pop_front();
            }
        }
        self.set_link(false);
    }

    fn set_link(&mut self, up: bool) {
        if self.link_up && !up {
            self.actions.push_back(Action::LinkDown);
        }
        self.link_up = up;
    }

    fn start_offer(&mut self, now: Instant) {
        let cid = self.fresh_cid();
        self.actions
            .push_back(Action::StartOffer { cid: cid.clone() });
        self.state = State::Offering { cid, since: now };
    }

    fn fail_and_backoff(&mut self, now: Instant) {
        self.retire_current();
        let until = self.backoff.next_at(now, &mut *self.rng);
        self.state = State::Backoff { until };
    }

    /// The remote is online. `initiate`: we should offer now (it was already there when we
    /// arrived); otherwise it is the newcomer and will offer to us, so we only wait.
    pub fn peer_present(&mut self, now: Instant, initiate: bool) {
        match self.state {
            State::Idle | State::Backoff { .. } | State::WaitingForOffer { .. } => {
                if initiate {
                    self.start_offer(now);
                } else {
                    self.state = State::WaitingForOffer {
                        until: now + self.cfg.wait_for_offer,
                    };
                }
            }
            // A live or in-progress connection survives a signaling reconnect.
            _ => {}
        }
    }

    /// The remote went offline.
    pub fn peer_left(&mut self) {
        self.retire_current();
        self.backoff.reset();
        self.state = State::Idle;
    }

    /// Decide what to do with a verified signal.
    pub fn on_signal(&mut self, now: Instant, cid: &str, kind: SignalKind) -> Decision {
        if self.is_retired(cid) {
            return Decision::Ignore(IgnoreReason::Stale);
        }
        let current = self.current_cid().map(str::to_owned);
        let is_current = current.as_deref() == Some(cid);
        match kind {
            SignalKind::Candidate => {
                if is_current {
                    Decision::ApplyCandidate
                } else {
                    Decision::Ignore(IgnoreReason::Unexpected)
                }
            }
            SignalKind::Answer => match &self.state {
                State::Offering { cid: c, .. } if c == cid => {
                    self.state = State::Connecting {
                        cid: cid.to_owned(),
                        role: Role::Offerer,
                        deadline: now + self.cfg.connect_timeout,
                    };
                    Decision::ApplyAnswer
                }
                State::Restarting { cid: c, .. } if c == cid => Decision::ApplyAnswer,
                _ => Decision::Ignore(IgnoreReason::Unexpected),
            },
            SignalKind::Offer => {
                if is_current {
                    return match &self.state {
                        // The remote offered this connection, so it may ICE-restart it.
                        State::Connected {
                            role: Role::Answerer,
                            ..
                        }
                        | State::Connecting {
                            role: Role::Answerer,
                            ..
                        } => Decision::AnswerRenegotiation,
                        _ => Decision::Ignore(IgnoreReason::Unexpected),
                    };
                }
                if matches!(self.state, State::Offering { .. }) && !self.polite {
                    return Decision::Ignore(IgnoreReason::Glare);
                }
                // Polite glare, or the remote started over (it restarted, or gave up on
                // the old connection): the new attempt wins.
                self.retire_current();
                self.state = State::Connecting {
                    cid: cid.to_owned(),
                    role: Role::Answerer,
                    deadline: now + self.cfg.connect_timeout,
                };
                Decision::AcceptOffer
            }
        }
    }

    /// The data channel of `cid` is open (or, after an ICE restart, connected again).
    pub fn on_link_up(&mut self, cid: &str) {
        let role = match &self.state {
            State::Connecting { cid: c, role, .. } if c == cid => *role,
            State::Restarting { cid: c, .. } if c == cid => Role::Offerer,
            State::Connected { cid: c, .. } if c == cid => return,
            _ => return,
        };
        self.state = State::Connected {
            cid: cid.to_owned(),
            role,
        };
        self.backoff.reset();
        if !self.link_up {
            self.link_up = true;
            self.actions.push_back(Action::LinkUp {
                cid: cid.to_owned(),
            });
        }
    }

    /// The connection `cid` failed (ICE failed, channel closed, or health checks declared
    /// it dead).
    pub fn on_failed(&mut self, now: Instant, cid: &str) {
        if self.current_cid() != Some(cid) {
            return;
        }
        match self.state.clone() {
            State::Connected {
                role: Role::Offerer,
                ..
            } => {
                self.set_link(false);
                self.actions.push_back(Action::RestartIce {
                    cid: cid.to_owned(),
                });
                self.state = State::Restarting {
                    cid: cid.to_owned(),
                    since: now,
                };
            }
            State::Connected {
                role: Role::Answerer,
                ..
            } => {
                // The offerer repairs it; if it does not, we start over ourselves.
                self.set_link(false);
                self.state = State::Connecting {
                    cid: cid.to_owned(),
                    role: Role::Answerer,
                    deadline: now + self.cfg.ice_restart_timeout,
                };
            }
            State::Restarting { .. } => {
                // ICE restart did not help: full renegotiation right away.
                self.retire_current();
                self.start_offer(now);
            }
            _ => self.fail_and_backoff(now),
        }
    }

    /// When to call [`Self::poll`] next.
    /// Actions queued by an input are returned by the next [`Self::poll`] whatever the time,
    /// so callers drain `poll` after every input.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Idle | State::Connected { .. } => None,
            State::WaitingForOffer { until } | State::Backoff { until } => Some(*until),
            State::Offering { since, .. } => Some(*since + self.cfg.answer_timeout),
            State::Connecting { deadline, .. } => Some(*deadline),
            State::Restarting { since, .. } => Some(*since + self.cfg.ice_restart_timeout),
        }
    }

    /// Advance timers to `now` and return the next action, if any.
    pub fn poll(&mut self, now: Instant) -> Option<Action> {
        if let Some(a) = self.actions.pop_front() {
            return Some(a);
        }
        match self.state.clone() {
            State::WaitingForOffer { until } | State::Backoff { until } if now >= until => {
                self.start_offer(now);
            }
            State::Offering { since, .. } if now >= since + self.cfg.answer_timeout => {
                // Lost offer or answer.
                self.fail_and_backoff(now);
            }
            State::Connecting { deadline, .. } if now >= deadline => {
                self.fail_and_backoff(now);
            }
            State::Restarting { since, .. } if now >= since + self.cfg.ice_restart_timeout => {
                self.retire_current();
                self.start_offer(now);
            }
            _ => {}
        }
        self.actions.pop_front()
    }
}

/// The deterministic role rule: the side with the smaller id is polite.
pub fn is_polite(local: &str, remote: &str) -> bool {
    local < remote
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sm::backoff::tests::Seq;

    fn neg(polite: bool, prefix: u64) -> Negotiator {
        Negotiator::new(
            NegotiationConfig::default(),
            polite,
            prefix,
            Box::new(Seq(vec![0.0], 0)),
        )
    }

    fn drain(n: &mut Negotiator, now: Instant) -> Vec<Action> {
        let mut v = vec![];
        while let Some(a) = n.poll(now) {
            v.push(a);
        }
        v
    }

    fn offered_cid(actions: &[Action]) -> String {
        actions
            .iter()
            .find_map(|a| match a {
                Action::StartOffer { cid } => Some(cid.clone()),
                _ => None,
            })
            .expect("an offer")
    }

    #[test]
    fn roles_are_deterministic_and_opposite() {
        assert!(is_polite("a", "b"));
        assert!(!is_polite("b", "a"));
    }

    #[test]
    fn happy_path_offer_answer_open() {
        let t = Instant::now();
        let mut a = neg(true, 1);
        let mut b = neg(false, 2);
        a.peer_present(t, true);
        b.peer_present(t, false);
        let cid = offered_cid(&drain(&mut a, t));
        assert!(drain(&mut b, t).is_empty());
        assert_eq!(
            b.on_signal(t, &cid, SignalKind::Offer),
            Decision::AcceptOffer
        );
        assert_eq!(
            b.on_signal(t, &cid, SignalKind::Candidate),
            Decision::ApplyCandidate
        );
        assert_eq!(
            a.on_signal(t, &cid, SignalKind::Answer),
            Decision::ApplyAnswer
        );
        assert_eq!(
            a.on_signal(t, &cid, SignalKind::Candidate),
            Decision::ApplyCandidate
        );
        a.on_link_up(&cid);
        b.on_link_up(&cid);
        assert_eq!(drain(&mut a, t), vec![Action::LinkUp { cid: cid.clone() }]);
        assert_eq!(drain(&mut b, t), vec![Action::LinkUp { cid: cid.clone() }]);
        assert!(matches!(
            a.state(),
            State::Connected {
                role: Role::Offerer,
                ..
            }
        ));
        assert!(matches!(
            b.state(),
            State::Connected {
                role: Role::Answerer,
                ..
            }
        ));
        assert_eq!(a.poll_timeout(), None);
    }

    #[test]
    fn glare_yields_exactly_one_connection() {
        let t = Instant::now();
        let mut polite = neg(true, 1);
        let mut impolite = neg(false, 2);
        polite.peer_present(t, true);
        impolite.peer_present(t, true);
        let pc = offered_cid(&drain(&mut polite, t));
        let ic = offered_cid(&drain(&mut impolite, t));
        assert_ne!(pc, ic);
        // offers cross on the wire
        assert_eq!(
            impolite.on_signal(t, &pc, SignalKind::Offer),
            Decision::Ignore(IgnoreReason::Glare)
        );
        assert_eq!(
            polite.on_signal(t, &ic, SignalKind::Offer),
            Decision::AcceptOffer
        );
        // the polite side abandons its own attempt
        assert_eq!(
            drain(&mut polite, t),
            vec![Action::Close { cid: pc.clone() }]
        );
        assert_eq!(
            impolite.on_signal(t, &ic, SignalKind::Answer),
            Decision::ApplyAnswer
        );
        // late signals of the abandoned attempt are stale on the polite side
        assert_eq!(
            polite.on_signal(t, &pc, SignalKind::Answer),
            Decision::Ignore(IgnoreReason::Stale)
        );
        assert_eq!(
            polite.on_signal(t, &pc, SignalKind::Candidate),
            Decision::Ignore(IgnoreReason::Stale)
        );
        // and candidates for it are not applied by the impolite side either
        assert_eq!(
            impolite.on_signal(t, &pc, SignalKind::Candidate),
            Decision::Ignore(IgnoreReason::Unexpected)
        );
        polite.on_link_up(&ic);
        impolite.on_link_up(&ic);
        assert_eq!(polite.current_cid(), Some(ic.as_str()));
        assert_eq!(impolite.current_cid(), Some(ic.as_str()));
    }

    #[test]
    fn lost_answer_times_out_and_retries_with_a_fresh_id() {
        let t = Instant::now();
        let mut a = neg(false, 7);
        a.peer_present(t, true);
        let first = offered_cid(&drain(&mut a, t));
        let deadline = a.poll_timeout().unwrap();
        assert_eq!(deadline, t + Duration::from_secs(5));
        assert!(drain(&mut a, deadline - Duration::from_millis(1)).is_empty());
        assert_eq!(
            drain(&mut a, deadline),
            vec![Action::Close { cid: first.clone() }]
        );
        let State::Backoff { until } = *a.state() else {
            panic!("{:?}", a.state())
        };
        assert_eq!(until, deadline + Duration::from_millis(250));
        let second = offered_cid(&drain(&mut a, until));
        assert_ne!(first, second);
        // the answer to the first attempt finally arrives: ignored
        assert_eq!(
            a.on_signal(until, &first, SignalKind::Answer),
            Decision::Ignore(IgnoreReason::Stale)
        );
        // repeated losses back off exponentially
        let d2 = a.poll_timeout().unwrap();
        drain(&mut a, d2);
        let State::Backoff { until: u2 } = *a.state() else {
            panic!()
        };
        assert_eq!(u2 - d2, Duration::from_millis(500));
    }

    #[test]
    fn stale_offer_for_an_old_id_is_ignored() {
        let t = Instant::now();
        let mut b = neg(false, 3);
        b.peer_present(t, false);
        assert_eq!(
            b.on_signal(t, "x-1", SignalKind::Offer),
            Decision::AcceptOffer
        );
        // the remote restarted and offers again with a new id: replaces the old one
        assert_eq!(
            b.on_signal(t, "x-2", SignalKind::Offer),
            Decision::AcceptOffer
        );
        assert_eq!(drain(&mut b, t), vec![Action::Close { cid: "x-1".into() }]);
        // a delayed duplicate of the first offer must not tear down the second
        assert_eq!(
            b.on_signal(t, "x-1", SignalKind::Offer),
            Decision::Ignore(IgnoreReason::Stale)
        );
        assert_eq!(b.current_cid(), Some("x-2"));
    }

    #[test]
    fn answer_without_offer_is_unexpected() {
        let t = Instant::now();
        let mut b = neg(true, 3);
        assert_eq!(
            b.on_signal(t, "zz", SignalKind::Answer),
            Decision::Ignore(IgnoreReason::Unexpected)
        );
    }

    #[test]
    fn newcomer_is_waited_for_then_offered_to() {
        let t = Instant::now();
        let mut b = neg(true, 3);
        b.peer_present(t, false);
        assert!(drain(&mut b, t).is_empty());
        let until = b.poll_timeout().unwrap();
        assert_eq!(until, t + timing::WAIT_FOR_OFFER);
        offered_cid(&drain(&mut b, until));
    }

    #[test]
    fn failure_tries_ice_restart_before_renegotiating() {
        let t = Instant::now();
        let mut a = neg(false, 9);
        a.peer_present(t, true);
        let cid = offered_cid(&drain(&mut a, t));
        a.on_signal(t, &cid, SignalKind::Answer);
        a.on_link_up(&cid);
        drain(&mut a, t);
        a.on_failed(t, &cid);
        assert_eq!(
            drain(&mut a, t),
            vec![Action::LinkDown, Action::RestartIce { cid: cid.clone() }]
        );
        // the restart's answer applies to the same connection
        assert_eq!(
            a.on_signal(t, &cid, SignalKind::Answer),
            Decision::ApplyAnswer
        );
        // it worked
        a.on_link_up(&cid);
        assert_eq!(drain(&mut a, t), vec![Action::LinkUp { cid: cid.clone() }]);
        // fails again and the restart does not help: full renegotiation with a fresh id
        a.on_failed(t, &cid);
        drain(&mut a, t);
        let later = a.poll_timeout().unwrap();
        let acts = drain(&mut a, later);
        assert_eq!(acts[0], Action::Close { cid: cid.clone() });
        assert_ne!(offered_cid(&acts), cid);
    }

    #[test]
    fn answerer_accepts_the_remote_ice_restart() {
        let t = Instant::now();
        let mut b = neg(true, 1);
        assert_eq!(
            b.on_signal(t, "r-1", SignalKind::Offer),
            Decision::AcceptOffer
        );
        b.on_link_up("r-1");
        drain(&mut b, t);
        b.on_failed(t, "r-1");
        assert_eq!(drain(&mut b, t), vec![Action::LinkDown]);
        assert_eq!(
            b.on_signal(t, "r-1", SignalKind::Offer),
            Decision::AnswerRenegotiation
        );
        b.on_link_up("r-1");
        assert_eq!(drain(&mut b, t), vec![Action::LinkUp { cid: "r-1".into() }]);
        // if the offerer never repairs it, the answerer starts over itself
        b.on_failed(t, "r-1");
        drain(&mut b, t);
        let at = b.poll_timeout().unwrap();
        assert_eq!(at, t + timing::ICE_RESTART_TIMEOUT);
        drain(&mut b, at);
        assert!(matches!(b.state(), State::Backoff { .. }));
    }

    #[test]
    fn stuck_connecting_times_out() {
        let t = Instant::now();
        let mut b = neg(true, 1);
        b.on_signal(t, "r-1", SignalKind::Offer);
        let at = b.poll_timeout().unwrap();
        assert_eq!(at, t + Duration::from_secs(10));
        assert_eq!(drain(&mut b, at), vec![Action::Close { cid: "r-1".into() }]);
    }

    #[test]
    fn peer_left_closes_and_present_keeps_live_links() {
        let t = Instant::now();
        let mut b = neg(true, 1);
        b.on_signal(t, "r-1", SignalKind::Offer);
        b.on_link_up("r-1");
        drain(&mut b, t);
        // signaling reconnect: the peer is listed again, the link stays
        b.peer_present(t, true);
        assert!(drain(&mut b, t).is_empty());
        b.peer_left();
        assert_eq!(
            drain(&mut b, t),
            vec![Action::Close { cid: "r-1".into() }, Action::LinkDown]
        );
        assert_eq!(b.state(), &State::Idle);
        // failures for an old id change nothing
        b.on_failed(t, "r-1");
        assert!(drain(&mut b, t).is_empty());
    }

    #[test]
    fn defaults_are_the_shared_policy() {
        let c = NegotiationConfig::default();
        assert_eq!(c.ice_restart_timeout, timing::ICE_RESTART_TIMEOUT);
        assert_eq!(c.wait_for_offer, timing::WAIT_FOR_OFFER);
    }
}
