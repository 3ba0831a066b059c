//! The realm server end to end, over real sockets on loopback with a real SQLite file.

use crate::common;

use crate::common::{TestServer, config, realm_with};
use serde_json::json;
use skypod_client::{ClientError, RealmClient, dat};
use skypod_protocol::messages::*;
use skypod_protocol::token::{self, InvitationClaims, NoClaims, Purpose};
use skypod_protocol::{IdentityKey, RealmId, close, invitation, unix_now};
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

fn refused_status(e: ClientError) -> u16 {
    match e {
        ClientError::Refused(b) => b.status,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Read until the socket closes; return the close code.
async fn close_code(c: &mut RealmClient) -> Option<u16> {
    loop {
        match c.recv_timeout(T).await {
            Ok(_) => continue,
            Err(ClientError::Closed(f)) => return f.map(|f| u16::from(f.code)),
            Err(ClientError::Ws(_)) => return None,
            Err(e) => panic!("expected close, got {e:?}"),
        }
    }
}

/// `c` broadcasts `payload` (to `recipients`, or to every member): the server's answer.
async fn broadcast(
    c: &mut RealmClient,
    payload: &str,
    recipients: Option<Vec<skypod_protocol::IdentId>>,
) -> serde_json::Value {
    let request = BroadcastRequest {
        payload: payload.into(),
        recipients,
    };
    let (v, _) = c.request(BROADCAST, request).await.unwrap();
    v
}

#[tokio::test]
async fn register_authn_status_and_presence() {
    let (_dir, s) = TestServer::fresh().await;
    let realm = RealmId::random();
    let alice = IdentityKey::generate_es256();
    let mut a = s.client().await;
    let res = a.register(&alice, &realm).await.unwrap();
    assert_eq!(&res.identid, alice.identid());
    assert!(res.peers.is_empty());
    assert_eq!(res.identities.len(), 1);
    let status = a.recv_msg(REALM_STATUS, T).await.unwrap();
    let status: RealmStatus = dat(&status).unwrap();
    assert_eq!(status.members, 1);
    // the newcomer also sees its own peer-joined
    let pj: PeerJoined = dat(&a.recv_msg(PEER_JOINED, T).await.unwrap()).unwrap();
    assert_eq!(&pj.identid, alice.identid());

    // re-registering the same realm id is refused, by anyone
    let mut again = s.client().await;
    assert_eq!(
        refused_status(
            again
                .register(&IdentityKey::generate_es256(), &realm)
                .await
                .unwrap_err()
        ),
        409
    );

    // a second device joins by invitation; alice sees it arrive and leave
    let bob = IdentityKey::generate_ed25519();
    let inv = invitation::create(&alice, &realm, unix_now(), 600, None).unwrap();
    let mut b = s.client().await;
    let res = b.exchange(&bob, &realm, &inv).await.unwrap();
    assert_eq!(res.peers, vec![alice.identid().clone()]);
    assert_eq!(res.identities.len(), 2);
    let pj: PeerJoined = dat(&a.recv_msg(PEER_JOINED, T).await.unwrap()).unwrap();
    assert_eq!(&pj.identid, bob.identid());
    assert_eq!(&pj.pubkey, bob.public_jwk());
    b.close().await;
    let pl: PeerLeft = dat(&a.recv_msg(PEER_LEFT, T).await.unwrap()).unwrap();
    assert_eq!(&pl.identid, bob.identid());

    // bob is a member now: plain authn works
    let mut b = s.client().await;
    let res = b.authn(&bob, &realm).await.unwrap();
    assert_eq!(res.peers, vec![alice.identid().clone()]);
    s.stop().await;
}

#[tokio::test]
async fn broadcast_reaches_listed_or_all_other_members_only() {
    let (_dir, s) = TestServer::fresh().await;
    let (_realm, keys, mut cs) = realm_with(&s, 4).await;
    let (_other_realm, _okeys, mut outsiders) = realm_with(&s, 2).await;
    // drain presence
    tokio::time::sleep(Duration::from_millis(100)).await;
    let v = broadcast(&mut cs[0], "c2VjcmV0", None).await;
    assert_eq!(v, json!({"delivered": 3}));
    for c in cs.iter_mut().skip(1) {
        let f = c.recv_msg(BROADCAST, T).await.unwrap();
        let d: BroadcastDelivery = dat(&f).unwrap();
        assert_eq!(&d.from, keys[0].identid());
        assert_eq!(d.payload, "c2VjcmV0");
    }
    // directed: only member 2 gets it
    let v = broadcast(&mut cs[1], "dG8tMg", Some(vec![keys[2].identid().clone()])).await;
    assert_eq!(v, json!({"delivered": 1}));
    let d: BroadcastDelivery = dat(&cs[2].recv_msg(BROADCAST, T).await.unwrap()).unwrap();
    assert_eq!(d.payload, "dG8tMg");
    // nobody else got anything: a ping round trip proves the queue is empty
    for i in [0usize, 3] {
        let (_, others) = cs[i].request(PING, Ping { t: Some(1.0) }).await.unwrap();
        assert!(
            others.iter().all(|f| f.msg != BROADCAST),
            "member {i} got a broadcast not meant for it"
        );
    }
    // realm isolation: naming a member of another realm delivers nothing there
    let v = broadcast(
        &mut outsiders[0],
        "eA",
        Some(vec![keys[3].identid().clone()]),
    )
    .await;
    assert_eq!(v, json!({"delivered": 0}));
    let (_, others) = cs[3].request(PING, Ping { t: None }).await.unwrap();
    assert!(others.iter().all(|f| f.msg != BROADCAST));
    let e = outsiders[1]
        .request(
            SIGNAL,
            SignalRequest {
                localid: None,
                remoteid: keys[0].identid().clone(),
                connectionid: "c1".into(),
                payload: "x".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refused_status(e), 404);
    s.stop().await;
}

#[tokio::test]
async fn signals_go_to_the_named_member_with_the_real_sender() {
    let (_dir, s) = TestServer::fresh().await;
    let (_realm, keys, mut cs) = realm_with(&s, 3).await;
    cs[0]
        .evt(
            SIGNAL,
            SignalRequest {
                localid: None,
                remoteid: keys[1].identid().clone(),
                connectionid: "conn-1".into(),
                payload: "signed.jwt.here".into(),
            },
        )
        .await
        .unwrap();
    let d: SignalDelivery = dat(&cs[1].recv_msg(SIGNAL, T).await.unwrap()).unwrap();
    assert_eq!(&d.localid, keys[0].identid());
    assert_eq!(d.connectionid, "conn-1");
    assert_eq!(d.payload, "signed.jwt.here");
    // spoofing another sender is refused
    let e = cs[2]
        .request(
            SIGNAL,
            SignalRequest {
                localid: Some(keys[0].identid().clone()),
                remoteid: keys[1].identid().clone(),
                connectionid: "c".into(),
                payload: "x".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refused_status(e), 403);
    let (_, others) = cs[2].request(PING, Ping { t: None }).await.unwrap();
    assert!(others.iter().all(|f| f.msg != SIGNAL));
    s.stop().await;
}

#[tokio::test]
async fn bad_frames_get_clear_errors_and_change_nothing() {
    let (_dir, s) = TestServer::fresh().await;
    let (_realm, _keys, mut cs) = realm_with(&s, 2).await;
    let c = &mut cs[0];
    // (frame, status, code, msg and seq the err names)
    for (frame, status, code, msg, seq) in [
        ("{not json", 400, "malformed", "invalid", None),
        ("[1,2,3]", 400, "malformed", "invalid", None),
        (
            r#"{"typ":"yell","msg":"ping","seq":3}"#,
            400,
            "malformed",
            "ping",
            Some(3),
        ),
        (
            r#"{"typ":"req","msg":"no.such.message","seq":5}"#,
            404,
            "unknown_msg",
            "no.such.message",
            Some(5),
        ),
        (
            r#"{"typ":"req","msg":"realm.broadcast","seq":8,"dat":{"payload":{"plaintext":"no"}}}"#,
            400,
            "malformed",
            "realm.broadcast",
            Some(8),
        ),
        (
            r#"{"typ":"evt","msg":"realm.broadcast","dat":{"payload":"x","extra":1}}"#,
            400,
            "malformed",
            "realm.broadcast",
            None,
        ),
        (
            r#"{"typ":"req","msg":"realm.rtc.signal","seq":9,"dat":{"remoteid":"x","connectionid":"c","payload":"p"}}"#,
            400,
            "malformed",
            "realm.rtc.signal",
            Some(9),
        ),
        (
            r#"{"typ":"req","msg":"preauth.authn","seq":6,"dat":{"token":"a.b.c"}}"#,
            409,
            "already_authenticated",
            "preauth.authn",
            Some(6),
        ),
        (
            r#"{"typ":"res","msg":"ping","seq":7}"#,
            400,
            "unexpected_res",
            "ping",
            Some(7),
        ),
    ] {
        c.send_text(frame).await.unwrap();
        let f = loop {
            let g = c.recv_timeout(T).await.unwrap();
            if g.msg != PEER_JOINED && g.msg != REALM_STATUS {
                break g;
            }
        };
        assert_eq!(f.typ, skypod_protocol::Typ::Err, "{frame}: {f:?}");
        assert_eq!((f.msg.as_str(), f.seq), (msg, seq), "{frame}");
        let body: skypod_protocol::ErrorBody = dat(&f).unwrap();
        assert_eq!(
            (body.status, body.code.as_str()),
            (status, code),
            "{frame}: {}",
            body.message
        );
        // a sentence, without the JSON parser's internals
        assert!(
            !body.message.contains('`') && !body.message.contains("expected one of"),
            "{frame}: {}",
            body.message
        );
    }
    // still connected and working
    let (v, _) = c.request(PING, Ping { t: Some(42.0) }).await.unwrap();
    assert_eq!(v, json!({"t": 42.0}));
    let m = s.metrics().await;
    assert!(
        m.contains("skypod_frames_rejected_total{reason=\"malformed\"}"),
        "{m}"
    );
    s.stop().await;
}

#[tokio::test]
async fn oversized_frames_close_with_1009_and_the_server_keeps_serving() {
    let (_dir, s) = TestServer::fresh_with(|cfg| cfg.max_frame_bytes = 4096).await;
    let (_realm, _keys, mut cs) = realm_with(&s, 1).await;
    let huge = format!(
        r#"{{"typ":"evt","msg":"realm.broadcast","dat":{{"payload":"{}"}}}}"#,
        "A".repeat(10_000)
    );
    cs[0].send_text(huge).await.unwrap();
    assert_eq!(close_code(&mut cs[0]).await, Some(close::TOO_BIG));
    let (_r, _k, mut again) = realm_with(&s, 1).await;
    again[0].request(PING, Ping { t: None }).await.unwrap();
    s.stop().await;
}

#[tokio::test]
async fn requests_before_auth_are_refused_and_closed() {
    let (_dir, s) = TestServer::fresh().await;
    for first in [
        r#"{"typ":"evt","msg":"realm.broadcast","dat":{"payload":"x"}}"#,
        r#"{"typ":"req","msg":"ping","seq":1}"#,
        "garbage",
    ] {
        let mut c = s.client().await;
        c.send_text(first).await.unwrap();
        let f = c.recv_timeout(T).await.unwrap();
        let body: skypod_protocol::ErrorBody = dat(&f).unwrap();
        assert!(matches!(body.status, 400 | 401), "{first}: {body:?}");
        assert!(
            close_code(&mut c).await.is_some_and(|c| c >= 4000),
            "{first}"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn silence_is_closed_after_the_auth_timeout() {
    let (_dir, s) = TestServer::fresh_with(|cfg| cfg.auth_timeout_ms = 300).await;
    let mut c = s.client().await;
    let started = std::time::Instant::now();
    assert_eq!(close_code(&mut c).await, Some(close::AUTH_TIMEOUT));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn forged_expired_and_foreign_tokens_are_refused() {
    let (_dir, s) = TestServer::fresh().await;
    let (realm, keys, _cs) = realm_with(&s, 1).await;
    let (realm_b, _kb, _cb) = realm_with(&s, 1).await;
    let alice = &keys[0];
    let mallory = IdentityKey::generate_es256();
    let now = unix_now();
    let send = |token: String, msg: &'static str| {
        let url = s.url();
        async move {
            let mut c = RealmClient::connect(&url).await.unwrap();
            let e = c.request(msg, TokenRequest { token }).await.unwrap_err();
            (refused_status(e), close_code(&mut c).await)
        }
    };
    // mallory signs "as alice": iss names alice, signature is mallory's
    let mut forged = token::claims(&mallory, Purpose::Authn, &realm, now, 60, NoClaims {});
    forged.base.iss = alice.identid().clone();
    assert_eq!(
        send(mallory.sign(&forged).unwrap(), PREAUTH_AUTHN).await,
        (401, Some(close::UNAUTHENTICATED))
    );
    // expired
    let old = token::sign(alice, Purpose::Authn, &realm, now - 600, 60, NoClaims {}).unwrap();
    assert_eq!(send(old, PREAUTH_AUTHN).await.0, 401);
    // alice's authn token for realm A presented... in realm B's name: she is not a member there
    let foreign = token::sign(alice, Purpose::Authn, &realm_b, now, 60, NoClaims {}).unwrap();
    assert_eq!(send(foreign, PREAUTH_AUTHN).await.0, 401);
    // a stranger
    let stranger = token::sign(&mallory, Purpose::Authn, &realm, now, 60, NoClaims {}).unwrap();
    assert_eq!(send(stranger, PREAUTH_AUTHN).await.0, 401);
    // an invitation is not an authn token
    let inv = invitation::create(alice, &realm, now, 600, None).unwrap();
    assert_eq!(send(inv, PREAUTH_AUTHN).await.0, 401);
    let m = s.metrics().await;
    assert!(
        m.contains("skypod_auth_failures_total{reason=\"bad_signature\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("skypod_auth_failures_total{reason=\"expired\"} 1"),
        "{m}"
    );
    s.stop().await;
}

#[tokio::test]
async fn invitations_refused_when_replayed_foreign_expired_or_bound_to_someone_else() {
    let (_dir, s) = TestServer::fresh().await;
    let (realm, keys, _cs) = realm_with(&s, 1).await;
    let (realm_b, keys_b, _cb) = realm_with(&s, 1).await;
    let alice = &keys[0];
    let now = unix_now();
    let try_join = |realm: RealmId, inv: String| {
        let url = s.url();
        async move {
            let k = IdentityKey::generate_es256();
            let mut c = RealmClient::connect(&url).await.unwrap();
            c.exchange(&k, &realm, &inv)
                .await
                .map(|_| ())
                .map_err(refused_status)
        }
    };
    let inv = invitation::create(alice, &realm, now, 600, None).unwrap();
    assert_eq!(try_join(realm.clone(), inv.clone()).await, Ok(()));
    assert_eq!(try_join(realm.clone(), inv).await, Err(409), "replay");
    // an invitation into realm B used for realm A
    let inv_b = invitation::create(&keys_b[0], &realm_b, now, 600, None).unwrap();
    assert_eq!(try_join(realm.clone(), inv_b).await, Err(403));
    // expired
    let old = token::sign(
        alice,
        Purpose::Invitation,
        &realm,
        now - 7200,
        3600,
        InvitationClaims {
            jti: "an-old-nonce-00000001".into(),
            sub: None,
        },
    )
    .unwrap();
    assert_eq!(try_join(realm.clone(), old).await, Err(401));
    // bound to another invitee
    let bound = invitation::create(
        alice,
        &realm,
        now,
        600,
        Some(IdentityKey::generate_es256().identid().clone()),
    )
    .unwrap();
    assert_eq!(try_join(realm.clone(), bound).await, Err(403));
    // signed by a non-member
    let rogue = invitation::create(&IdentityKey::generate_es256(), &realm, now, 600, None).unwrap();
    assert_eq!(try_join(realm.clone(), rogue).await, Err(403));
    s.stop().await;
}

#[tokio::test]
async fn fifty_concurrent_exchanges_of_one_invitation_admit_exactly_one() {
    let (_dir, s) = TestServer::fresh().await;
    let (realm, keys, _cs) = realm_with(&s, 1).await;
    let inv = invitation::create(&keys[0], &realm, unix_now(), 600, None).unwrap();
    let mut tasks = vec![];
    for _ in 0..50 {
        let (url, realm, inv) = (s.url(), realm.clone(), inv.clone());
        tasks.push(tokio::spawn(async move {
            let k = IdentityKey::generate_es256();
            let mut c = RealmClient::connect(&url).await.unwrap();
            let r = c
                .exchange(&k, &realm, &inv)
                .await
                .map(|_| ())
                .map_err(refused_status);
            (r, c)
        }));
    }
    let mut ok = 0;
    let mut conflicts = 0;
    let mut keep = vec![];
    for t in tasks {
        let (r, c) = t.await.unwrap();
        match r {
            Ok(()) => ok += 1,
            Err(409) => conflicts += 1,
            Err(other) => panic!("unexpected status {other}"),
        }
        keep.push(c);
    }
    assert_eq!((ok, conflicts), (1, 49));
    // and the store agrees: the realm has exactly two members
    let mut c = s.client().await;
    let res = c.authn(&keys[0], &realm).await.unwrap();
    assert_eq!(res.identities.len(), 2);
    s.stop().await;
}

#[tokio::test]
async fn a_new_connection_replaces_the_old_one_cleanly() {
    let (_dir, s) = TestServer::fresh().await;
    let (realm, keys, mut cs) = realm_with(&s, 2).await;
    let mut second = s.client().await;
    second.authn(&keys[1], &realm).await.unwrap();
    assert_eq!(close_code(&mut cs[1]).await, Some(close::REPLACED));
    // the new one gets traffic
    cs[0].broadcast("aGk", None).await.unwrap();
    let f = second.recv_msg(BROADCAST, T).await.unwrap();
    assert_eq!(dat::<BroadcastDelivery>(&f).unwrap().payload, "aGk");
    s.stop().await;
}

#[tokio::test]
async fn others_see_a_replaced_session_leave_before_the_new_one_joins() {
    let (_dir, s) = TestServer::fresh().await;
    let (realm, keys, mut cs) = realm_with(&s, 2).await;
    // member 0 has seen member 1 join once
    let mut presence = vec![];
    let (_, seen) = cs[0].request(PING, Ping { t: None }).await.unwrap();
    presence.extend(
        seen.into_iter()
            .filter(|f| f.msg == PEER_JOINED || f.msg == PEER_LEFT),
    );
    // member 1 logs in twice more, without closing the older sockets
    let mut later = vec![];
    for _ in 0..2 {
        let mut again = s.client().await;
        again.authn(&keys[1], &realm).await.unwrap();
        later.push(again);
    }
    let (_, seen) = cs[0].request(PING, Ping { t: None }).await.unwrap();
    presence.extend(
        seen.into_iter()
            .filter(|f| f.msg == PEER_JOINED || f.msg == PEER_LEFT),
    );
    let id = keys[1].identid().to_string();
    let sequence: Vec<&str> = presence
        .iter()
        .filter(|f| f.dat.as_ref().is_some_and(|d| d["identid"] == id.as_str()))
        .map(|f| f.msg.as_str())
        .collect();
    assert_eq!(
        sequence,
        [PEER_JOINED, PEER_LEFT, PEER_JOINED, PEER_LEFT, PEER_JOINED],
        "{presence:?}"
    );
    // the replaced sockets are closed with 4001; the last one is live
    assert_eq!(close_code(&mut cs[1]).await, Some(close::REPLACED));
    assert_eq!(close_code(&mut later[0]).await, Some(close::REPLACED));
    later[1].request(PING, Ping { t: None }).await.unwrap();
    s.stop().await;
}

#[tokio::test]
async fn members_survive_a_server_restart() {
    let (dir, s) = TestServer::fresh().await;
    let (realm, keys, cs) = realm_with(&s, 3).await;
    drop(cs);
    s.stop().await;
    let s = TestServer::start(config(dir.path())).await;
    for k in &keys {
        let mut c = s.client().await;
        let res = c.authn(k, &realm).await.unwrap();
        assert_eq!(res.identities.len(), 3);
    }
    // and a spent invitation stays spent
    s.stop().await;
}

#[tokio::test]
async fn shutdown_closes_sockets_with_going_away() {
    let (_dir, s) = TestServer::fresh().await;
    let (_realm, _keys, mut cs) = realm_with(&s, 1).await;
    let stopping = tokio::spawn(s.stop());
    assert_eq!(close_code(&mut cs[0]).await, Some(close::GOING_AWAY));
    stopping.await.unwrap();
}

/// A server going away closes every member; it does not tell them first that the others left
/// (a member would tear down its working P2P links for a departure the shutdown itself caused,
/// seen in the web app's E2E test). Several worker threads, as in `skypod serve`, so connection
/// tasks close while the shutdown is still closing the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_announces_no_departures() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let s = TestServer::start(config(dir.path())).await;
        let (_realm, _keys, mut cs) = realm_with(&s, 24).await;
        let stopping = tokio::spawn(s.stop());
        for (i, c) in cs.iter_mut().enumerate() {
            let code = loop {
                match c.recv_timeout(T).await {
                    Ok(f) => assert_ne!(f.msg, PEER_LEFT, "round {round}, member {i}: {f:?}"),
                    Err(ClientError::Closed(f)) => break f.map(|f| u16::from(f.code)),
                    Err(e) => panic!("round {round}, member {i}: expected a close, got {e:?}"),
                }
            };
            assert_eq!(code, Some(close::GOING_AWAY), "round {round}, member {i}");
        }
        stopping.await.unwrap();
    }
}

#[tokio::test]
async fn floods_are_rate_limited_then_disconnected() {
    let (_dir, s) = TestServer::fresh_with(|cfg| {
        cfg.rate_per_sec = 5.0;
        cfg.rate_burst = 10.0;
    })
    .await;
    let (_realm, _keys, mut cs) = realm_with(&s, 1).await;
    for _ in 0..40 {
        if cs[0]
            .send_text(r#"{"typ":"evt","msg":"ping"}"#)
            .await
            .is_err()
        {
            break;
        }
    }
    let mut saw_429 = false;
    let code = loop {
        match cs[0].recv_timeout(T).await {
            Ok(f) => {
                if f.typ == skypod_protocol::Typ::Err {
                    saw_429 |= dat::<skypod_protocol::ErrorBody>(&f).unwrap().status == 429;
                }
            }
            Err(ClientError::Closed(f)) => break f.map(|f| u16::from(f.code)),
            Err(e) => panic!("{e:?}"),
        }
    };
    assert!(saw_429);
    assert_eq!(code, Some(close::RATE_LIMITED));
    s.stop().await;
}

#[tokio::test]
async fn healthz_and_metrics() {
    let (_dir, s) = TestServer::fresh().await;
    let (_realm, _keys, _cs) = realm_with(&s, 2).await;
    assert!(
        common::http_get(s.addr, "/healthz")
            .await
            .starts_with("HTTP/1.1 200")
    );
    let m = s.metrics().await;
    assert!(m.contains("skypod_authenticated_connections 2"), "{m}");
    assert!(
        m.contains("skypod_auth_successes_total{kind=\"exchange\"} 1"),
        "{m}"
    );
    s.stop().await;
}

#[tokio::test]
async fn max_connections_is_enforced_with_503() {
    let (_dir, s) = TestServer::fresh_with(|cfg| cfg.max_connections = 2).await;
    let _a = s.client().await;
    let _b = s.client().await;
    let e = RealmClient::connect(&s.url())
        .await
        .err()
        .expect("third is refused");
    assert!(e.to_string().contains("503"), "{e}");
    drop(json!(null));
    s.stop().await;
}

#[tokio::test]
async fn the_server_keeps_only_public_keys_never_payloads() {
    let (dir, s) = TestServer::fresh().await;
    let (_realm, keys, mut cs) = realm_with(&s, 2).await;
    let secret_payload = "Y2lwaGVydGV4dC1tYXJrZXItMTIzNDU2Nzg";
    let secret_signal = "c2lnbmFsLW1hcmtlci05ODc2NTQzMjE";
    broadcast(&mut cs[0], secret_payload, None).await;
    cs[0]
        .request(
            SIGNAL,
            SignalRequest {
                localid: None,
                remoteid: keys[1].identid().clone(),
                connectionid: "c".into(),
                payload: secret_signal.into(),
            },
        )
        .await
        .unwrap();
    cs[1].recv_msg(SIGNAL, T).await.unwrap();
    drop(cs);
    s.stop().await;
    // Everything the server wrote to disk: the SQLite database, its WAL, anything else.
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            all.extend(std::fs::read(&p).unwrap());
        }
    }
    let has = |needle: &str| all.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(!has(secret_payload), "a broadcast payload reached the disk");
    assert!(!has(secret_signal), "a signal payload reached the disk");
    // what it does keep: members' public keys
    let jwk = serde_json::to_string(keys[0].public_jwk()).unwrap();
    assert!(has(&jwk[..40]), "public keys are stored");
    assert!(!has("\"d\""), "no private key material");
}

#[tokio::test]
async fn a_removed_device_is_locked_out() {
    let (dir, s) = TestServer::fresh().await;
    let (realm, keys, mut cs) = realm_with(&s, 3).await;
    let lost_phone = keys[2].identid().clone();
    // a forged request (signed by someone else's key) is refused
    let mallory = IdentityKey::generate_es256();
    let e = cs[0]
        .remove_member(&mallory, &realm, &lost_phone)
        .await
        .unwrap_err();
    assert_eq!(refused_status(e), 401);
    // the real one
    let (v, _) = cs[0]
        .remove_member(&keys[0], &realm, &lost_phone)
        .await
        .unwrap();
    assert_eq!(v["identid"], lost_phone.as_str());
    assert_eq!(close_code(&mut cs[2]).await, Some(close::FORBIDDEN));
    let removed: MemberRemoved = dat(&cs[1].recv_msg(MEMBER_REMOVED, T).await.unwrap()).unwrap();
    assert_eq!(removed.identid, lost_phone);
    let left: PeerLeft = dat(&cs[1].recv_msg(PEER_LEFT, T).await.unwrap()).unwrap();
    assert_eq!(left.identid, lost_phone);
    // it can no longer authenticate, even after a restart
    drop(cs);
    s.stop().await;
    let s = TestServer::start(config(dir.path())).await;
    let mut c = s.client().await;
    assert_eq!(
        refused_status(c.authn(&keys[2], &realm).await.unwrap_err()),
        401
    );
    let mut ok = s.client().await;
    assert_eq!(
        ok.authn(&keys[1], &realm).await.unwrap().identities.len(),
        2
    );
    s.stop().await;
}

#[tokio::test]
async fn silent_members_are_closed_after_the_idle_timeout_and_pings_keep_them() {
    let (_dir, s) = TestServer::fresh_with(|cfg| cfg.idle_timeout_secs = 1).await;
    let (_realm, _keys, mut cs) = realm_with(&s, 2).await;
    // member 1 pings every 300 ms for 1.8 s and stays; member 0 says nothing and is closed
    let pinger = async {
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            cs[1]
                .send_text(r#"{"typ":"evt","msg":"ping"}"#)
                .await
                .unwrap();
        }
    };
    pinger.await;
    assert_eq!(close_code(&mut cs[0]).await, Some(close::IDLE));
    cs[1].request(PING, Ping { t: None }).await.unwrap();
    s.stop().await;
}

#[tokio::test]
async fn the_server_pings_and_a_client_that_answers_stays() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let (_dir, s) = TestServer::fresh_with(|cfg| cfg.idle_timeout_secs = 1).await;
    let (_realm, _keys, cs) = realm_with(&s, 1).await;
    // This client never sends a message; it only reads, so its WebSocket layer answers the
    // server's pings (as browsers do) — and that keeps it for 3.5 idle timeouts.
    let mut ws = cs.into_iter().next().unwrap().into_inner();
    let mut pings = 0;
    let until = tokio::time::Instant::now() + Duration::from_millis(3_500);
    while let Ok(m) = tokio::time::timeout_at(until, ws.next()).await {
        match m {
            Some(Ok(Message::Ping(_))) => pings += 1,
            Some(Ok(Message::Close(f))) => panic!("closed: {f:?}"),
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(pings >= 6, "{pings} pings in 3.5 s at a 1 s idle timeout");
    s.stop().await;
}
