//! The CLI peer end to end: a real `skypod serve` process and two device homes on loopback.

use crate::common::{Kill, TestServer, run, skypod, stdout_lines};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn init_invite_join_and_messages_over_p2p_and_relay() {
    let srv = TestServer::start();
    let server = &srv.url;

    let (a, b) = (srv.path("a"), srv.path("b"));
    srv.init(&a);
    let link = run(&["--home", &a, "invite", "--no-qr"]);
    let link = link.trim();
    assert!(link.starts_with(&format!("{server}/#join=")), "{link}");

    // device A listens; its stdout is the console
    let mut listener = Kill(
        skypod()
            .args(["--home", &a, "listen"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let rx = stdout_lines(&mut listener, Some);
    std::thread::sleep(Duration::from_secs(1));

    let joined = run(&["--home", &b, "join", link, "--key-timeout", "15"]);
    assert!(joined.contains("Realm key received"), "{joined}");
    // an invitation is single use
    let again = skypod()
        .args(["--home", &srv.path("c"), "join", link, "--key-timeout", "1"])
        .output()
        .unwrap();
    assert!(!again.status.success());

    run(&["--home", &b, "send", "hello over p2p", "--settle", "3"]);
    run(&["--home", &b, "send", "hello over relay", "--relay"]);
    let mut seen = vec![];
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.len() < 2 && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200))
            && line.contains("hello over")
        {
            seen.push(line);
        }
    }
    assert!(
        seen.iter()
            .any(|l| l.starts_with("[p2p]") && l.contains("hello over p2p")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|l| l.starts_with("[relay]") && l.contains("hello over relay")),
        "{seen:?}"
    );
}
