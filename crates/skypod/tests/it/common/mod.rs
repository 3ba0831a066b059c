//! Shared harness for the CLI tests: the `skypod` binary, a server on a free loopback port.

#![allow(dead_code)]

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

/// `skypod serve` on a free 127.0.0.1 port with its store in `data_dir`; returns the process
/// (killed on drop) and `host:port` once it accepts connections.
pub fn start_server(data_dir: &str) -> (Kill, String) {
    start_server_with(data_dir, &[])
}

/// [`start_server`] with extra environment variables (e.g. the proxy's loopback allow-list).
pub fn start_server_with(data_dir: &str, env: &[(&str, &str)]) -> (Kill, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let srv = Kill(
        skypod()
            .args(["serve", "--listen", &listen, "--data-dir", data_dir])
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
    (srv, listen)
}
