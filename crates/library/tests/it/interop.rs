//! Interop with npm @automerge/automerge 3.x (what the web app uses): a document saved
//! by Rust is loaded, edited and saved by Node and merged back; and a live sync over a
//! pipe between Rust and Node converges. Needs `node` and `npm`; `npm ci` installs the
//! locked package from the npm registry if node_modules is missing. Set
//! SKYPOD_SKIP_NODE_INTEROP=1 to skip on a machine without Node.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use skypod_library::{Library, NewFeed, SyncPeer, episode_key, genesis_bytes};

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// Make sure node and the npm package are there. `None` = skip (explicitly requested).
fn node_ready() -> Option<()> {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    if std::env::var_os("SKYPOD_SKIP_NODE_INTEROP").is_some() {
        eprintln!("SKYPOD_SKIP_NODE_INTEROP set: skipping the Node interop test");
        return None;
    }
    let r = READY.get_or_init(|| {
        let v = Command::new("node")
            .arg("--version")
            .output()
            .map_err(|e| {
                format!("`node` not found ({e}); install Node.js or set SKYPOD_SKIP_NODE_INTEROP=1")
            })?;
        if !v.status.success() {
            return Err("`node --version` failed".into());
        }
        let dir = interop_dir();
        if !dir
            .join("node_modules/@automerge/automerge/package.json")
            .exists()
        {
            let out = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&dir)
                .output()
                .map_err(|e| format!("`npm` not found: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "npm ci failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        Ok(())
    });
    match r {
        Ok(()) => Some(()),
        Err(e) => panic!("{e}"),
    }
}

fn rust_library(ep: &str) -> Library {
    let mut lib = Library::new("rust-dev").expect("lib");
    lib.subscribe(NewFeed {
        url: "https://rust.example/feed.xml".into(),
        title: Some("From Rust".into()),
        folder: vec!["Rust".into()],
        ..Default::default()
    })
    .expect("sub");
    lib.set_position(ep, 120.25, Some(1800.0)).expect("pos");
    lib.set_device_name("Rust device").expect("name");
    lib
}

#[test]
fn node_loads_edits_and_rust_merges_back() {
    if node_ready().is_none() {
        return;
    }
    let ep = episode_key("https://rust.example/feed.xml", "ep-1").expect("key");
    let mut lib = rust_library(&ep);
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("in.automerge");
    let output = tmp.path().join("out.automerge");
    std::fs::write(&input, lib.save()).expect("write");
    let out = Command::new("node")
        .arg(interop_dir().join("interop.mjs"))
        .args(["edit"])
        .arg(&input)
        .arg(&output)
        .arg(&ep)
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let edited = std::fs::read(&output).expect("read");
    // Rust keeps editing concurrently before merging.
    lib.set_position(&ep, 130.0, None).expect("pos");
    lib.merge_bytes(&edited).expect("merge");
    check_node_edits(&lib, &ep, "node-dev", "https://node.example/feed.xml");
    assert_eq!(lib.play("rust-dev", &ep).expect("rust").position, 130.0);
    // Loading the Node-saved file directly works too.
    let direct = Library::load(&edited, "other").expect("load node file");
    check_node_edits(&direct, &ep, "node-dev", "https://node.example/feed.xml");
}

fn check_node_edits(lib: &Library, ep: &str, device: &str, url: &str) {
    let rec = lib.play(device, ep).expect("node play record");
    assert_eq!(rec.position, 42.5);
    assert_eq!(rec.duration, Some(3600.0));
    assert_eq!(rec.speed, 1.5);
    assert!(rec.updated > 0);
    let f = lib.feed(url).expect("ok").expect("node subscription");
    assert_eq!(f.title, "Added by Node");
    assert_eq!(f.folder, vec!["From", "Node"]);
    assert!(f.tags.contains("js"));
    assert!(
        lib.feed("https://rust.example/feed.xml")
            .expect("ok")
            .is_some()
    );
    assert_eq!(lib.queue_of(device), vec![ep.to_owned()]);
    let names: Vec<_> = lib.devices().into_iter().filter_map(|d| d.name).collect();
    assert!(names.contains(&"Node device".to_owned()), "{names:?}");
    let cont = lib.continue_from(ep);
    assert_eq!(cont.len(), 2);
}

fn write_frame(w: &mut impl Write, b: &[u8]) {
    w.write_all(&(b.len() as u32).to_be_bytes()).expect("write");
    w.write_all(b).expect("write");
    w.flush().expect("flush");
}

fn read_frame(r: &mut impl Read) -> Vec<u8> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).expect("frame length");
    let mut b = vec![0u8; u32::from_be_bytes(len) as usize];
    r.read_exact(&mut b).expect("frame body");
    b
}

#[test]
fn live_sync_with_node_over_a_pipe() {
    if node_ready().is_none() {
        return;
    }
    let ep = episode_key("https://rust.example/feed.xml", "ep-1").expect("key");
    let tmp = tempfile::tempdir().expect("tmp");
    // Node starts from the shared genesis only and edits on its own; Rust likewise.
    let start = tmp.path().join("genesis.automerge");
    std::fs::write(&start, genesis_bytes()).expect("write");
    let mut lib = rust_library(&ep);
    let mut child = Command::new("node")
        .arg(interop_dir().join("interop.mjs"))
        .arg("sync")
        .arg(&start)
        .arg(&ep)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn node");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut peer = SyncPeer::new();
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds < 50, "no convergence");
        let ours = lib.generate_sync_message(&mut peer);
        write_frame(&mut stdin, ours.as_deref().unwrap_or_default());
        let theirs = read_frame(&mut stdout);
        if !theirs.is_empty() {
            lib.receive_sync_message(&mut peer, &theirs)
                .expect("receive from node");
        }
        if ours.is_none() && theirs.is_empty() {
            break;
        }
    }
    drop(stdin);
    let result: serde_json::Value =
        serde_json::from_slice(&read_frame(&mut stdout)).expect("result json");
    assert!(child.wait().expect("wait").success());
    let mut ours: Vec<String> = lib.heads().iter().map(|h| h.to_string()).collect();
    ours.sort();
    let mut theirs: Vec<String> = result["heads"]
        .as_array()
        .expect("heads")
        .iter()
        .map(|h| h.as_str().expect("hex").to_owned())
        .collect();
    theirs.sort();
    assert_eq!(ours, theirs, "same heads on both sides");
    assert_eq!(result["laptop"], serde_json::json!(120.25));
    // JS sees the same genesis change hash.
    assert_eq!(
        result["genesis"],
        serde_json::json!([skypod_library::GENESIS_HASH])
    );
    assert_eq!(
        result["feeds"],
        serde_json::json!([
            "https://node-live.example/feed.xml",
            "https://rust.example/feed.xml"
        ])
    );
    check_node_edits(&lib, &ep, "node-live", "https://node-live.example/feed.xml");
}
