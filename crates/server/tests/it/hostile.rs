//! The realm server against a hostile network: half-open connections, oversized and broken
//! frames, stalled frames, Nagle. Real sockets on loopback; frames written by hand where no
//! library would send them.

use crate::common::{
    SOCKET_FLOOD, TestServer, client_frame, raw_websocket, read_close_code, read_frame, realm_with,
};
use futures_util::StreamExt;
use skypod_client::RealmClient;
use skypod_protocol::messages::SIGNAL;
use skypod_protocol::{IdentityKey, RealmId, close};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// True once the server has closed `s` (end of stream or reset), within `within`.
async fn is_cut(s: &mut TcpStream, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

async fn register(server: &TestServer) -> RealmClient {
    let mut c = server.client().await;
    c.register(&IdentityKey::generate_ed25519(), &RealmId::random())
        .await
        .expect("a real client is served");
    c
}

#[tokio::test]
async fn half_open_connections_are_cut_and_real_clients_still_served() {
    let _flood = SOCKET_FLOOD.lock().await;
    let (_dir, server) = TestServer::fresh_with(|cfg| {
        cfg.header_timeout_ms = 1_000;
        cfg.max_http_phase = 256;
    })
    .await;

    // 2,000 silent sockets and 200 that trickle a request head one byte every 100 ms.
    let mut silent = Vec::new();
    for _ in 0..2_000 {
        silent.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let mut trickling = Vec::new();
    for _ in 0..200 {
        trickling.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let trickle = tokio::spawn(async move {
        let head = b"GET /realm HTTP/1.1\r\nHost: test\r\nX-Slow: ";
        for i in 0..40 {
            for s in trickling.iter_mut() {
                let _ = s.write_all(&[head[i % head.len()]]).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        trickling
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        server.state.http_phase.len() <= 256,
        "the HTTP phase is capped"
    );
    // The flood is held open: a real client is served now, and again later.
    let started = Instant::now();
    let _first = register(&server).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let _second = register(&server).await;
    assert!(started.elapsed() < Duration::from_secs(1));

    // Every silent socket is cut: the oldest ones at once (the cap), the rest by the
    // header timeout.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    for (i, s) in silent.iter_mut().enumerate() {
        assert!(
            is_cut(s, Duration::from_millis(500)).await,
            "silent socket {i} still open"
        );
    }
    let mut trickling = trickle.await.unwrap();
    for (i, s) in trickling.iter_mut().enumerate() {
        assert!(
            is_cut(s, Duration::from_millis(500)).await,
            "trickling socket {i} still open"
        );
    }
    assert_eq!(server.state.http_phase.len(), 0);
    let metrics = server.metrics().await;
    assert!(metrics.contains("reason=\"header_timeout\""), "{metrics}");
    assert!(
        metrics.contains("reason=\"http_phase_evicted\""),
        "{metrics}"
    );
    let _third = register(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn a_large_first_frame_is_refused_at_its_header_with_1009() {
    let (_dir, server) = TestServer::fresh_with(|cfg| cfg.auth_timeout_ms = 5_000).await;
    let mut s = raw_websocket(server.addr).await;
    // The header of an 8 KiB text frame, and none of its payload: the server must not wait
    // for (and buffer) the payload to refuse it.
    let frame = client_frame(0x81, &vec![b'a'; 8 * 1024], true);
    s.write_all(&frame[..8]).await.unwrap();
    let code = tokio::time::timeout(Duration::from_secs(1), read_close_code(&mut s))
        .await
        .expect("closed at once, not after the auth timeout");
    assert_eq!(code, Some(close::TOO_BIG));
    // a 3 KiB first frame is read (and refused as a bad token, not as too big)
    let mut s = raw_websocket(server.addr).await;
    let text = format!(
        r#"{{"typ":"req","msg":"preauth.authn","seq":1,"dat":{{"token":"{}"}}}}"#,
        "a".repeat(3 * 1024)
    );
    s.write_all(&client_frame(0x81, text.as_bytes(), true))
        .await
        .unwrap();
    let code = tokio::time::timeout(Duration::from_secs(2), read_close_code(&mut s))
        .await
        .unwrap();
    assert_eq!(code, Some(close::UNAUTHENTICATED));
    server.stop().await;
}

#[tokio::test]
async fn protocol_violations_get_a_close_frame_with_the_right_code() {
    let (_dir, server) = TestServer::fresh().await;
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "invalid UTF-8",
            client_frame(0x81, &[0xff, 0xfe, 0xfd], true),
            close::INVALID_DATA,
        ),
        (
            "invalid UTF-8 across fragments",
            [
                client_frame(0x01, b"ok \xe2\x82", true),
                client_frame(0x80, b"\x28", true),
            ]
            .concat(),
            close::INVALID_DATA,
        ),
        (
            "oversized",
            client_frame(0x81, &vec![b' '; 64 * 1024 + 1], true)[..14].to_vec(),
            close::TOO_BIG,
        ),
        (
            "RSV1 set",
            client_frame(0xC1, b"{}", true),
            close::PROTOCOL_ERROR,
        ),
        (
            "reserved opcode",
            client_frame(0x83, b"{}", true),
            close::PROTOCOL_ERROR,
        ),
        (
            "unmasked",
            client_frame(0x81, b"{}", false),
            close::PROTOCOL_ERROR,
        ),
        (
            "continuation first",
            client_frame(0x80, b"{}", true),
            close::PROTOCOL_ERROR,
        ),
        (
            "new message inside a fragmented one",
            [
                client_frame(0x01, b"{", true),
                client_frame(0x81, b"{}", true),
            ]
            .concat(),
            close::PROTOCOL_ERROR,
        ),
        (
            "fragmented ping",
            client_frame(0x09, b"", true),
            close::PROTOCOL_ERROR,
        ),
        (
            "oversized ping",
            client_frame(0x89, &[0; 126], true),
            close::PROTOCOL_ERROR,
        ),
    ];
    for (name, bytes, want) in &cases {
        let mut s = raw_websocket(server.addr).await;
        s.write_all(bytes).await.unwrap();
        let code = tokio::time::timeout(Duration::from_secs(2), read_close_code(&mut s))
            .await
            .unwrap_or(None);
        assert_eq!(code, Some(*want), "{name} (before authentication)");
    }
    // the same after authentication
    for (name, bytes, want) in &cases {
        let c = register(&server).await;
        let mut ws = c.into_inner();
        let tokio_tungstenite::MaybeTlsStream::Plain(tcp) = ws.get_mut() else {
            unreachable!("plain ws")
        };
        tcp.write_all(bytes).await.unwrap();
        let code = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(m) = ws.next().await {
                match m {
                    Ok(Message::Close(Some(f))) => return Some(u16::from(f.code)),
                    Ok(_) => continue,
                    Err(_) => return None,
                }
            }
            None
        })
        .await
        .unwrap_or(None);
        assert_eq!(code, Some(*want), "{name} (after authentication)");
    }
    let _still = register(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn signals_answered_in_several_frames_are_not_held_back_by_nagle() {
    let (_dir, server) = TestServer::fresh_with(|cfg| cfg.ws_write_buffer = 1024).await;
    let (_, keys, mut clients) = realm_with(&server, 2).await;
    let mut b = clients.pop().unwrap().into_inner();
    let mut a = clients.pop().unwrap();
    // drain presence
    tokio::time::sleep(Duration::from_millis(200)).await;
    // 8 KiB: delivered to b as eight 1 KiB frames (in one write since coalesce.rs; before,
    // each its own write, held back by Nagle until the delayed ACK)
    let payload = "s".repeat(8 * 1024);
    let mut times = Vec::new();
    for _ in 0..21 {
        let t = Instant::now();
        a.evt(
            SIGNAL,
            serde_json::json!({"remoteid": keys[1].identid(), "connectionid": "c", "payload": payload}),
        )
        .await
        .unwrap();
        loop {
            match b.next().await.unwrap().unwrap() {
                Message::Text(t) if t.contains("\"realm.rtc.signal\"") => break,
                _ => continue,
            }
        }
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    // Nagle plus delayed ACKs: ~20-40 ms; without them: well under a millisecond.
    assert!(median < Duration::from_millis(10), "median {median:?}");
    b.close(None).await.ok();
    server.stop().await;
}

/// Read server text frames (unmasked) until one whose JSON has `"seq": seq`.
async fn read_reply(s: &mut TcpStream, seq: u64) -> serde_json::Value {
    loop {
        let (opcode, payload) = read_frame(s).await.expect("a frame");
        if opcode != 1 {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        if v["seq"] == seq {
            return v;
        }
    }
}

/// The connection starts its message loop on a fresh WebSocket layer after authentication
/// (smaller buffers for idle members): a request the client sent right behind its first
/// frame, in the same TCP write, must still be answered.
#[tokio::test]
async fn a_request_pipelined_behind_the_first_frame_is_answered() {
    use skypod_protocol::messages::{PING, PREAUTH_REGISTER};
    use skypod_protocol::token::{self, RegisterClaims};
    use skypod_protocol::{Purpose, unix_now};
    let (_dir, server) = TestServer::fresh().await;
    let key = IdentityKey::generate_es256();
    let realm = RealmId::random();
    let claims = RegisterClaims {
        pubkey: key.public_jwk().clone(),
    };
    let t = token::sign(&key, Purpose::Register, &realm, unix_now(), 60, claims).unwrap();
    let register =
        serde_json::json!({"typ": "req", "msg": PREAUTH_REGISTER, "seq": 1, "dat": {"token": t}});
    let ping = serde_json::json!({"typ": "req", "msg": PING, "seq": 2});
    let mut s = raw_websocket(server.addr).await;
    let both = [
        client_frame(0x81, register.to_string().as_bytes(), true),
        client_frame(0x81, ping.to_string().as_bytes(), true),
    ]
    .concat();
    s.write_all(&both).await.unwrap();
    let within = Duration::from_secs(5);
    let res = tokio::time::timeout(within, read_reply(&mut s, 1))
        .await
        .unwrap();
    assert_eq!(res["typ"], "res", "{res}");
    let pong = tokio::time::timeout(within, read_reply(&mut s, 2))
        .await
        .expect("the pipelined ping is answered, not lost with the auth-phase buffers");
    assert_eq!(pong["typ"], "res", "{pong}");
    server.stop().await;
}
