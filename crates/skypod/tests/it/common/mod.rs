//! Shared harness for the CLI tests: the `skypod` binary, a server on a free loopback port.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn skypod() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_skypod"));
    c.env("SKYPOD_LOG", "warn");
    c
}

pub struct Kill(pub Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    if let Ok(l) = std::net::TcpListener::bind("127.0.0.1:0") {
        return l.local_addr().unwrap().port();
    }
    // The ephemeral range can be exhausted on a busy machine (load tests): look below it.
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64;
    for i in 0..2000u64 {
        let port = 20_000 + ((seed + i * 7919) % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1");
}

pub fn run(args: &[&str]) -> String {
    let out = skypod().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "skypod {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `skypod serve` on a free 127.0.0.1 port with its store in a temporary directory, in which
/// the test's device homes and files go too. Stopped (killed) before the directory goes.
pub struct TestServer {
    _proc: Kill,
    /// `http://127.0.0.1:<port>`
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A server whose feed proxy may fetch from 127.0.0.0/8 (the tests' fixtures).
    pub fn fetching_loopback() -> Self {
        Self::start_with(&[("SKYPOD_PROXY_ALLOW_FOR_TESTS", "127.0.0.0/8")])
    }

    /// With extra environment variables.
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listen = format!("127.0.0.1:{}", free_port());
        let proc = Kill(
            skypod()
                .args(["serve", "--listen", &listen])
                .arg("--data-dir")
                .arg(dir.path().join("srv"))
                .envs(env.iter().copied())
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let start = Instant::now();
        while std::net::TcpStream::connect(&listen).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            _proc: proc,
            url: format!("http://{listen}"),
            dir,
        }
    }

    /// `name` in the test's directory (a device home, a file).
    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    /// `skypod init` in `home`: a new realm on this server, with `home` its first device.
    pub fn init(&self, home: &str) {
        let out = run(&["--home", home, "init", "--server", &self.url]);
        assert!(out.contains("Created realm"), "{out}");
    }
}

/// An RSS feed host on loopback: every request gets `body(its address)` as the feed; returns
/// the feed's URL (`http://<addr>/feed.xml`).
pub fn serve_feed(body: impl Fn(SocketAddr) -> String + Send + 'static) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let body = body(addr);
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}/feed.xml")
}

/// `skypod --home <home> node` with `env` added, its output discarded; it is not waited for.
pub fn quiet_node(home: &str, env: &[(&str, &str)]) -> Kill {
    Kill(
        skypod()
            .args(["--home", home, "node"])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// What `pick` makes of each line the child writes to its (piped) stdout, until it exits. The
/// pipe is read to the end even when nobody listens any more, so the child never blocks on it.
pub fn stdout_lines<T: Send + 'static>(
    child: &mut Kill,
    mut pick: impl FnMut(String) -> Option<T> + Send + 'static,
) -> std::sync::mpsc::Receiver<T> {
    let out = child.0.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(v) = pick(line) {
                let _ = tx.send(v);
            }
        }
    });
    rx
}

/// `skypod --home <home> node <args>`, returned once it has opened (and locked) the library.
pub fn start_node(home: &str, args: &[&str]) -> Kill {
    let mut node = Kill(
        skypod()
            .args(["--home", home, "node"])
            .args(args)
            .env("SKYPOD_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = stdout_lines(&mut node, |line| {
        line.contains("library node running").then_some(())
    });
    started
        .recv_timeout(Duration::from_secs(60))
        .expect("the node did not start");
    node
}
