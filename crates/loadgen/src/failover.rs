//! `skypod-loadgen failover`: SIGKILL one node of a Skypod cluster and time what its members
//! and the members elsewhere see (bench/cluster/run.sh, docs/benchmarks.md "Cluster").
//!
//! Setup: `--rooms` realms, each founded on the first survivor; per realm one observer on every
//! survivor (the founder is the first) and `--members / --rooms` members on the victim node.
//! Once every observer has seen every victim member's `peer-joined`, the victim process is
//! killed with SIGKILL. Every `--ghost-every`-th victim member never comes back (a device that
//! went away with the node): the others see its `peer-left` only when the cluster declares the
//! node dead. The rest reconnect the way the web app does (`web/src/realm/backoff.ts`: first try
//! after 250–500 ms, then doubling, jitter 50 %) to a survivor (member i → survivor i mod n) and
//! authenticate again (`preauth.authn`).
//!
//! Reported (ms after the SIGKILL): sockets seeing the close; `peer-left` of the ghosts at the
//! observers (first, 50 %, 99 %, last); members authenticated again elsewhere (50 %, 99 %,
//! last); their `peer-joined` seen again by the observers (99 %, last).

use anyhow::{Context, bail};
use serde::Serialize;
use skypod_client::{RealmClient, dat};
use skypod_protocol::messages::{PEER_JOINED, PEER_LEFT};
use skypod_protocol::{IdentityKey, RealmId, invitation, unix_now};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(clap::Args, Clone)]
pub struct FailoverArgs {
    /// Surviving nodes (host:port), comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    survivors: Vec<SocketAddr>,
    /// The node that is killed.
    #[arg(long)]
    victim: SocketAddr,
    /// Its process id (sent SIGKILL).
    #[arg(long)]
    victim_pid: u32,
    /// Members connected to the victim node.
    #[arg(long, default_value_t = 3000)]
    members: usize,
    /// Realms they are spread over (each also has one observer per survivor).
    #[arg(long, default_value_t = 30)]
    rooms: usize,
    /// Every n-th victim member does not reconnect (0: all reconnect).
    #[arg(long, default_value_t = 10)]
    ghost_every: usize,
    /// Local source addresses 127.0.0.1..=127.0.0.N.
    #[arg(long, default_value_t = 1)]
    sources: u8,
    /// Sockets opened concurrently during setup.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Give up waiting this many seconds after the kill.
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
}

fn source_addr(i: usize, sources: u8) -> SocketAddr {
    let last = 1 + (i % sources.max(1) as usize) as u8;
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)), 0)
}

fn url_of(s: SocketAddr) -> String {
    format!("ws://{s}/realm")
}

/// A deterministic value in [0, 1) per (member, attempt): the backoff jitter.
fn unit(i: usize, attempt: u32) -> f64 {
    let mut z = (i as u64) << 8 ^ attempt as u64;
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// The web app's reconnect delay before try `attempt` (0-based): 500 ms doubling, capped at
/// 30 s, the upper half jittered.
fn backoff(i: usize, attempt: u32) -> Duration {
    let exp = (500.0 * 2f64.powi(attempt.min(30) as i32)).min(30_000.0);
    Duration::from_secs_f64((exp * 0.5 + exp * 0.5 * unit(i, attempt)) / 1000.0)
}

/// What one observer saw, per victim member: first `peer-left` and first `peer-joined` after
/// the kill.
#[derive(Default)]
struct Seen {
    joined_before: usize,
    left: HashMap<usize, Instant>,
    rejoined: HashMap<usize, Instant>,
}

#[derive(Serialize, Default)]
struct Quantiles {
    n: usize,
    first_ms: Option<f64>,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    last_ms: Option<f64>,
}

fn quantiles(mut v: Vec<f64>, expected: usize) -> Quantiles {
    v.sort_by(|a, b| a.total_cmp(b));
    // Quantiles over the expected count: a missing event counts as "not yet".
    let at = |q: f64| {
        let k = ((q * expected as f64).ceil() as usize).max(1);
        v.get(k - 1).copied()
    };
    Quantiles {
        n: v.len(),
        first_ms: v.first().copied(),
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        last_ms: if v.len() == expected {
            v.last().copied()
        } else {
            None
        },
    }
}

#[derive(Serialize)]
struct FailoverResult {
    mode: &'static str,
    survivors: usize,
    victim_members: usize,
    ghosts: usize,
    reconnecting: usize,
    observers: usize,
    setup_secs: f64,
    /// Victim sockets that saw their connection end.
    closed_seen: Quantiles,
    /// Ghosts' `peer-left`, over (observer, ghost) pairs.
    ghost_peer_left: Quantiles,
    /// Reconnecting members' `peer-left` (a newer session replaces the dead one), over
    /// (observer, member) pairs.
    reconnecting_peer_left: Quantiles,
    /// Reconnecting members authenticated on a survivor.
    reauthenticated: Quantiles,
    /// Their `peer-joined` seen by the observers, over (observer, member) pairs.
    rejoined_seen: Quantiles,
    reconnect_attempts: usize,
    reconnect_failures: usize,
    /// Why reconnect attempts failed: the error, with numbers masked, and how often.
    reconnect_failure_reasons: BTreeMap<String, usize>,
    /// For the failed tries that got through the WebSocket handshake: the time from the
    /// handshake's end (this process saw the 101) to the failure. About the server's
    /// authentication timeout (3 s) means this process sent its token at once and the
    /// server did not read it in time; much less means the 101 reached this process late.
    handshake_to_failure: Quantiles,
    /// Where the members that had not re-authenticated by the end of the run were:
    /// still waiting for their old socket to close, waiting out a backoff after a failed
    /// try, or in the middle of a try.
    not_reconnected: BTreeMap<&'static str, usize>,
}

/// Where a victim member is in its failover (for `not_reconnected`).
#[derive(Clone, Copy)]
enum Stage {
    WaitingForClose,
    BackingOff,
    Connecting,
    Done,
}

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Stage::WaitingForClose => "waiting_for_close",
            Stage::BackingOff => "backing_off",
            Stage::Connecting => "connecting",
            Stage::Done => "done",
        }
    }
}

/// An error's chain with every run of digits replaced by `N`, so that the same failure on
/// different ports or after different waits counts once.
fn failure_reason(e: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut in_digits = false;
    for c in format!("{e:#}").chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('N');
            }
            in_digits = true;
        } else {
            out.push(c);
            in_digits = false;
        }
    }
    out
}

pub async fn run(a: FailoverArgs) -> anyhow::Result<()> {
    if a.survivors.is_empty() || a.rooms == 0 || a.members < a.rooms {
        bail!("need survivors and at least one member per realm");
    }
    let t_setup = Instant::now();
    let sem = Arc::new(Semaphore::new(a.connect_concurrency));

    // Realms: founder (= first observer) on survivor 0, one more observer per other survivor.
    struct Realm {
        founder: IdentityKey,
        realm: RealmId,
    }
    let mut realms = vec![];
    let mut observers = vec![]; // (realm index, client)
    for r in 0..a.rooms {
        let founder = IdentityKey::generate_es256();
        let realm = RealmId::random();
        let s = a.survivors[0];
        let mut c = RealmClient::connect_from(&url_of(s), s, source_addr(r, a.sources)).await?;
        c.register(&founder, &realm).await.context("register")?;
        observers.push((r, c));
        realms.push(Realm { founder, realm });
    }
    for (k, &s) in a.survivors.iter().enumerate().skip(1) {
        for (r, realm) in realms.iter().enumerate() {
            let key = IdentityKey::generate_es256();
            let inv = invitation::create(
                &realm.founder,
                &realm.realm,
                unix_now(),
                3600,
                Some(key.identid().clone()),
            )?;
            let mut c =
                RealmClient::connect_from(&url_of(s), s, source_addr(k * a.rooms + r, a.sources))
                    .await?;
            c.exchange(&key, &realm.realm, &inv)
                .await
                .context("observer exchange")?;
            observers.push((r, c));
        }
    }

    // Victim members.
    let mut keys = vec![];
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut tasks = vec![];
    for i in 0..a.members {
        let r = i % a.rooms;
        let key = IdentityKey::generate_es256();
        let inv = invitation::create(
            &realms[r].founder,
            &realms[r].realm,
            unix_now(),
            3600,
            Some(key.identid().clone()),
        )?;
        index.insert(key.identid().to_string(), i);
        let (realm, sem, local, victim) = (
            realms[r].realm.clone(),
            sem.clone(),
            source_addr(i, a.sources),
            a.victim,
        );
        let k2 = key.clone();
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await?;
            let mut c = RealmClient::connect_from(&url_of(victim), victim, local).await?;
            c.exchange(&k2, &realm, &inv).await.context("exchange")?;
            anyhow::Ok(c)
        }));
        keys.push(key);
    }
    let mut members = vec![];
    for t in tasks {
        members.push(t.await??);
    }
    let index = Arc::new(index);
    let per_room: Vec<usize> = (0..a.rooms)
        .map(|r| (0..a.members).filter(|i| i % a.rooms == r).count())
        .collect();

    // Observers: read everything, note peer-joined before the kill and events after it.
    let armed: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let mut seen = vec![];
    for (_r, mut c) in observers {
        let s = Arc::new(Mutex::new(Seen::default()));
        seen.push((_r, s.clone()));
        let (index, armed) = (index.clone(), armed.clone());
        tokio::spawn(async move {
            while let Ok(f) = c.recv().await {
                if f.msg != PEER_LEFT && f.msg != PEER_JOINED {
                    continue;
                }
                let Ok(v) = dat::<serde_json::Value>(&f) else {
                    continue;
                };
                let Some(&i) = v
                    .get("identid")
                    .and_then(|x| x.as_str())
                    .and_then(|id| index.get(id))
                else {
                    continue;
                };
                let now = Instant::now();
                let after_kill = armed.lock().map(|g| g.is_some()).unwrap_or(false);
                let mut s = s.lock().expect("not poisoned");
                match (after_kill, f.msg == PEER_LEFT) {
                    (false, false) => s.joined_before += 1,
                    (false, true) => {}
                    (true, true) => {
                        s.left.entry(i).or_insert(now);
                    }
                    (true, false) => {
                        s.rejoined.entry(i).or_insert(now);
                    }
                }
            }
        });
    }
    // Wait until every observer knows every victim member of its realm.
    let ready_by = Instant::now() + Duration::from_secs(120);
    loop {
        let missing: usize = seen
            .iter()
            .map(|(r, s)| per_room[*r].saturating_sub(s.lock().expect("ok").joined_before))
            .sum();
        if missing == 0 {
            break;
        }
        if Instant::now() > ready_by {
            bail!("observers still miss {missing} peer-joined after 120 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let setup_secs = t_setup.elapsed().as_secs_f64();
    eprintln!(
        "{} victim members, {} observers ready in {setup_secs:.1}s; killing pid {}",
        a.members,
        seen.len(),
        a.victim_pid
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Members: wait for the close, then (unless a ghost) reconnect to a survivor.
    let closed: Arc<Mutex<Vec<Instant>>> = Arc::new(Mutex::new(vec![]));
    let reauth: Arc<Mutex<Vec<(usize, Instant)>>> = Arc::new(Mutex::new(vec![]));
    let attempts = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let reasons: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let after_handshake: Arc<Mutex<Vec<f64>>> = Arc::default();
    let stages = Arc::new(Mutex::new(vec![Stage::WaitingForClose; a.members]));
    let is_ghost = |i: usize| a.ghost_every > 0 && i.is_multiple_of(a.ghost_every);
    let mut member_tasks = vec![];
    for (i, (mut c, key)) in members.into_iter().zip(keys).enumerate() {
        let ghost = is_ghost(i);
        let (closed, reauth, attempts, failures, reasons, stages, after_handshake) = (
            closed.clone(),
            reauth.clone(),
            attempts.clone(),
            failures.clone(),
            reasons.clone(),
            stages.clone(),
            after_handshake.clone(),
        );
        let stage = move |s: Stage| stages.lock().expect("ok")[i] = s;
        let realm = realms[i % a.rooms].realm.clone();
        let target = a.survivors[i % a.survivors.len()];
        let local = source_addr(i, a.sources);
        member_tasks.push(tokio::spawn(async move {
            while c.recv().await.is_ok() {}
            closed.lock().expect("ok").push(Instant::now());
            if ghost {
                return;
            }
            for attempt in 0u32.. {
                stage(Stage::BackingOff);
                tokio::time::sleep(backoff(i, attempt)).await;
                stage(Stage::Connecting);
                attempts.fetch_add(1, Ordering::Relaxed);
                let mut handshake_done = None;
                let r = async {
                    let mut c = RealmClient::connect_from(&url_of(target), target, local).await?;
                    handshake_done = Some(Instant::now());
                    c.authn(&key, &realm).await?;
                    anyhow::Ok(c)
                }
                .await;
                match r {
                    Ok(c) => {
                        stage(Stage::Done);
                        reauth.lock().expect("ok").push((i, Instant::now()));
                        // Hold the new session until the run ends.
                        let mut c = c;
                        while c.recv().await.is_ok() {}
                        return;
                    }
                    Err(e) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        if let Some(t) = handshake_done {
                            let ms = t.elapsed().as_secs_f64() * 1000.0;
                            after_handshake.lock().expect("ok").push(ms);
                        }
                        *reasons
                            .lock()
                            .expect("ok")
                            .entry(failure_reason(&e))
                            .or_default() += 1;
                    }
                }
            }
        }));
    }

    let t0 = Instant::now();
    *armed.lock().expect("ok") = Some(t0);
    let st = std::process::Command::new("kill")
        .args(["-KILL", &a.victim_pid.to_string()])
        .status()?;
    if !st.success() {
        bail!("kill -KILL {} failed", a.victim_pid);
    }

    let ghosts = (0..a.members).filter(|&i| is_ghost(i)).count();
    let reconnecting = a.members - ghosts;
    let pairs = |f: &dyn Fn(usize) -> bool| -> usize {
        seen.iter()
            .map(|(r, _)| {
                (0..a.members)
                    .filter(|&i| i % a.rooms == *r && f(i))
                    .count()
            })
            .sum()
    };
    let ghost_pairs = pairs(&is_ghost);
    let member_pairs = pairs(&|i| !is_ghost(i));
    let deadline = t0 + Duration::from_secs(a.timeout_secs);
    loop {
        // The reconnecting members' `peer-left` is reported, not waited for: a session
        // replaced from another node is not always announced as left (see the docs).
        let done_left: usize = seen
            .iter()
            .map(|(_, s)| {
                s.lock()
                    .expect("ok")
                    .left
                    .keys()
                    .filter(|&&i| is_ghost(i))
                    .count()
            })
            .sum();
        let done_joined: usize = seen
            .iter()
            .map(|(_, s)| s.lock().expect("ok").rejoined.len())
            .sum();
        let done_auth = reauth.lock().expect("ok").len();
        if (done_left >= ghost_pairs && done_joined >= member_pairs && done_auth >= reconnecting)
            || Instant::now() > deadline
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ms = |t: Instant| t.saturating_duration_since(t0).as_secs_f64() * 1000.0;
    let (mut gl, mut ml, mut rj) = (vec![], vec![], vec![]);
    for (_, s) in &seen {
        let s = s.lock().expect("ok");
        for (&i, &t) in &s.left {
            if is_ghost(i) {
                gl.push(ms(t))
            } else {
                ml.push(ms(t))
            }
        }
        for (&i, &t) in &s.rejoined {
            if !is_ghost(i) {
                rj.push(ms(t));
            }
        }
    }
    let closed_ms: Vec<f64> = closed.lock().expect("ok").iter().map(|&t| ms(t)).collect();
    let auth_ms: Vec<f64> = reauth
        .lock()
        .expect("ok")
        .iter()
        .map(|&(_, t)| ms(t))
        .collect();
    let r = FailoverResult {
        mode: "failover",
        survivors: a.survivors.len(),
        victim_members: a.members,
        ghosts,
        reconnecting,
        observers: seen.len(),
        setup_secs,
        closed_seen: quantiles(closed_ms, a.members),
        ghost_peer_left: quantiles(gl, ghost_pairs),
        reconnecting_peer_left: quantiles(ml, member_pairs),
        reauthenticated: quantiles(auth_ms, reconnecting),
        rejoined_seen: quantiles(rj, member_pairs),
        reconnect_attempts: attempts.load(Ordering::Relaxed),
        reconnect_failures: failures.load(Ordering::Relaxed),
        reconnect_failure_reasons: reasons.lock().expect("ok").clone(),
        handshake_to_failure: {
            let v = after_handshake.lock().expect("ok").clone();
            let n = v.len();
            quantiles(v, n)
        },
        not_reconnected: {
            let mut m = BTreeMap::new();
            for (i, s) in stages.lock().expect("ok").iter().enumerate() {
                if !is_ghost(i) && !matches!(s, Stage::Done) {
                    *m.entry(s.name()).or_default() += 1;
                }
            }
            m
        },
    };
    println!("{}", serde_json::to_string(&r)?);
    for t in member_tasks {
        t.abort();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_matches_the_web_apps_first_delays() {
        for i in 0..100 {
            let d0 = backoff(i, 0).as_secs_f64();
            assert!((0.25..=0.5).contains(&d0), "{d0}");
            let d1 = backoff(i, 1).as_secs_f64();
            assert!((0.5..=1.0).contains(&d1), "{d1}");
        }
        assert!(backoff(0, 20).as_secs_f64() <= 30.0);
    }

    #[test]
    fn failure_reasons_group_the_same_error_whatever_its_numbers() {
        let a = anyhow::anyhow!("connection refused (os error 111)")
            .context("connect to 127.0.0.1:40123");
        let b = anyhow::anyhow!("connection refused (os error 111)")
            .context("connect to 127.0.0.1:40999");
        assert_eq!(failure_reason(&a), failure_reason(&b));
        assert_eq!(
            failure_reason(&a),
            "connect to N.N.N.N:N: connection refused (os error N)"
        );
    }

    #[test]
    fn quantiles_count_missing_events_as_not_yet() {
        let q = quantiles(vec![1.0, 2.0, 3.0, 4.0], 4);
        assert_eq!(q.p50_ms, Some(2.0));
        assert_eq!(q.last_ms, Some(4.0));
        let q = quantiles(vec![1.0, 2.0], 4);
        assert_eq!(q.p50_ms, Some(2.0));
        assert_eq!(q.p99_ms, None);
        assert_eq!(q.last_ms, None);
    }
}
