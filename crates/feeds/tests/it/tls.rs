//! HTTPS through the workspace's one client builder: reqwest is built without a crypto
//! provider of its own (`rustls-no-provider`), so a client opens a TLS handshake only if
//! `fetch::http_client` installed rustls' ring provider.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::test]
async fn https_requests_open_a_tls_handshake_with_the_ring_provider() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut record = [0u8; 5];
        sock.read_exact(&mut record).await.unwrap();
        // Not a TLS server: the client must give up with an error, not hang or panic.
        let _ = sock.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        record
    });
    let client = skypod_feeds::fetch::http_client().build().unwrap();
    let err = client
        .get(format!("https://{addr}/"))
        .send()
        .await
        .unwrap_err();
    let record = server.await.unwrap();
    // A TLS record header: content type 22 (handshake), protocol version 3.x.
    assert_eq!(
        record[0], 22,
        "the client opened with a TLS handshake record"
    );
    assert_eq!(record[1], 3, "TLS record version");
    assert!(
        err.is_connect(),
        "a TLS failure is a connect error: {err:?}"
    );
}
