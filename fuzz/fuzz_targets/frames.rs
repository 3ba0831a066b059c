//! Raw bytes from the network into the server's WebSocket reader: the frame guard
//! (`skypod_server::wsio`) under tungstenite, as `/realm` reads a socket. Whatever the bytes,
//! reading ends in messages, an error or the end of the stream — never a panic — and every
//! byte of the shared read budget is back once the socket is gone.

#![no_main]

use futures_util::StreamExt;
use libfuzzer_sys::fuzz_target;
use skypod_server::wsio::{GuardedIo, ReadLimits};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

const BUDGET: usize = 8 * 1024;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    // First byte: authenticated or not (the limits differ).
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    runtime().block_on(async {
        let limits = ReadLimits::new(256, 4096, 512, BUDGET, Duration::from_millis(50));
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let mut io = GuardedIo::new(server, limits.clone());
        if mode & 1 == 1 {
            io.authenticated();
        }
        let cfg = WebSocketConfig::default()
            .read_buffer_size(512)
            .max_message_size(Some(4096))
            .max_frame_size(Some(4096));
        let mut ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(cfg)).await;
        let _ = client.write_all(bytes).await;
        let _ = client.shutdown().await;
        let read = async {
            while let Some(m) = ws.next().await {
                if m.is_err() {
                    break;
                }
            }
        };
        // A stalled message is cut by the frame timeout; the bound only guards the fuzzer.
        let _ = tokio::time::timeout(Duration::from_secs(2), read).await;
        drop(ws);
        assert_eq!(limits.budget.available_permits(), BUDGET, "budget leaked");
    });
});
