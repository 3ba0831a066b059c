//! A thin client for the realm protocol over one WebSocket: authenticate, send, receive.
//!
//! It does not reconnect or multiplex; that is the peer's job. Tests, the load generator and
//! the CLI build on it.

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use skypod_protocol::messages::{
    AuthnResponse, BROADCAST, MEMBER_REMOVE, PREAUTH_AUTHN, PREAUTH_EXCHANGE, PREAUTH_REGISTER,
    TokenRequest,
};
use skypod_protocol::token::{
    self, ExchangeClaims, NoClaims, Purpose, RegisterClaims, RevokeClaims,
};
use skypod_protocol::{Envelope, ErrorBody, IdentId, IdentityKey, RealmId, Typ, unix_now};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub use tokio_tungstenite::tungstenite;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("websocket: {0}")]
    Ws(#[from] tungstenite::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("server refused: {} {}", .0.status, .0.message)]
    Refused(ErrorBody),
    #[error("connection closed{}", .0.as_ref().map(|c| format!(": {} {}", c.code, c.reason)).unwrap_or_default())]
    Closed(Option<CloseFrame>),
    #[error("unexpected frame: {0}")]
    Unexpected(String),
    #[error("timed out")]
    Timeout,
    #[error("could not sign: {0}")]
    Sign(String),
}

/// A frame as received: an envelope with a JSON payload.
pub type Frame = Envelope<Value>;

pub struct RealmClient {
    ws: Ws,
    seq: u64,
}

impl RealmClient {
    /// Open a WebSocket to `url` (e.g. `ws://127.0.0.1:8080/realm`).
    pub async fn connect(url: &str) -> Result<Self, ClientError> {
        let (ws, _) = tokio_tungstenite::connect_async(url).await?;
        Ok(Self { ws, seq: 0 })
    }

    /// Connect from a chosen local address (load tests spread sockets over 127.x sources).
    pub async fn connect_from(
        url: &str,
        server: SocketAddr,
        local: SocketAddr,
    ) -> Result<Self, ClientError> {
        let sock = match server {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        sock.bind(local)?;
        let stream = sock.connect(server).await?;
        stream.set_nodelay(true)?;
        let (ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream)).await?;
        Ok(Self { ws, seq: 0 })
    }

    pub fn into_inner(self) -> Ws {
        self.ws
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Send raw text (tests use it for malformed frames).
    pub async fn send_text(&mut self, text: impl Into<String>) -> Result<(), ClientError> {
        self.ws.send(Message::text(text.into())).await?;
        Ok(())
    }

    pub async fn send<D: Serialize>(&mut self, env: &Envelope<D>) -> Result<(), ClientError> {
        self.send_text(env.to_json()).await
    }

    /// Send an event.
    pub async fn evt<D: Serialize>(&mut self, msg: &str, dat: D) -> Result<(), ClientError> {
        self.send(&Envelope::evt(msg, dat)).await
    }

    /// Send a request and wait for its `res` (events that arrive meanwhile are returned too,
    /// in order, so nothing is lost).
    pub async fn request<D: Serialize>(
        &mut self,
        msg: &str,
        dat: D,
    ) -> Result<(Value, Vec<Frame>), ClientError> {
        let seq = self.next_seq();
        self.send(&Envelope::req(msg, seq, dat)).await?;
        let mut others = vec![];
        loop {
            let f = self.recv().await?;
            if f.seq == Some(seq) && matches!(f.typ, Typ::Res | Typ::Err) {
                return match f.typ {
                    Typ::Res => Ok((f.dat.unwrap_or(Value::Null), others)),
                    _ => Err(refusal(f)),
                };
            }
            others.push(f);
        }
    }

    /// The next protocol frame (skipping WebSocket pings/pongs).
    pub async fn recv(&mut self) -> Result<Frame, ClientError> {
        loop {
            match self.ws.next().await {
                None => return Err(ClientError::Closed(None)),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Message::Text(t))) => {
                    return serde_json::from_str(t.as_str())
                        .map_err(|e| ClientError::Unexpected(format!("{e}: {t}")));
                }
                Some(Ok(Message::Close(c))) => return Err(ClientError::Closed(c)),
                Some(Ok(Message::Binary(_))) => {
                    return Err(ClientError::Unexpected("binary frame".into()));
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next frame within `d`.
    pub async fn recv_timeout(&mut self, d: Duration) -> Result<Frame, ClientError> {
        tokio::time::timeout(d, self.recv())
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    /// The next frame whose `msg` is `msg`, skipping others.
    pub async fn recv_msg(&mut self, msg: &str, d: Duration) -> Result<Frame, ClientError> {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            let f = tokio::time::timeout_at(deadline, self.recv())
                .await
                .map_err(|_| ClientError::Timeout)??;
            if f.msg == msg {
                return Ok(f);
            }
        }
    }

    /// Sign a short-lived token for `purpose` and send it as the `preauth.*` request `msg`.
    async fn preauth<X: Serialize>(
        &mut self,
        msg: &str,
        key: &IdentityKey,
        purpose: Purpose,
        realm: &RealmId,
        ext: X,
    ) -> Result<AuthnResponse, ClientError> {
        let token = token::sign(key, purpose, realm, unix_now(), purpose.ttl(), ext)
            .map_err(|e| ClientError::Sign(e.to_string()))?;
        let (v, _) = self.request(msg, TokenRequest { token }).await?;
        serde_json::from_value(v).map_err(|e| ClientError::Unexpected(e.to_string()))
    }

    /// Create `realm` with `key` as its first member.
    pub async fn register(
        &mut self,
        key: &IdentityKey,
        realm: &RealmId,
    ) -> Result<AuthnResponse, ClientError> {
        self.preauth(
            PREAUTH_REGISTER,
            key,
            Purpose::Register,
            realm,
            RegisterClaims {
                pubkey: key.public_jwk().clone(),
            },
        )
        .await
    }

    /// Authenticate as an existing member.
    pub async fn authn(
        &mut self,
        key: &IdentityKey,
        realm: &RealmId,
    ) -> Result<AuthnResponse, ClientError> {
        self.preauth(PREAUTH_AUTHN, key, Purpose::Authn, realm, NoClaims {})
            .await
    }

    /// Join `realm` with an invitation.
    pub async fn exchange(
        &mut self,
        key: &IdentityKey,
        realm: &RealmId,
        invitation: &str,
    ) -> Result<AuthnResponse, ClientError> {
        self.preauth(
            PREAUTH_EXCHANGE,
            key,
            Purpose::Exchange,
            realm,
            ExchangeClaims {
                pubkey: key.public_jwk().clone(),
                invitation: invitation.to_owned(),
            },
        )
        .await
    }

    /// Remove `member` from `realm` (`realm.member.remove`, signed by `key`); the response and
    /// the frames that arrived meanwhile, as [`Self::request`].
    pub async fn remove_member(
        &mut self,
        key: &IdentityKey,
        realm: &RealmId,
        member: &IdentId,
    ) -> Result<(Value, Vec<Frame>), ClientError> {
        let purpose = Purpose::Revoke;
        let claims = RevokeClaims {
            sub: member.clone(),
        };
        let token = token::sign(key, purpose, realm, unix_now(), purpose.ttl(), claims)
            .map_err(|e| ClientError::Sign(e.to_string()))?;
        self.request(MEMBER_REMOVE, TokenRequest { token }).await
    }

    /// Broadcast an (already encrypted) payload.
    pub async fn broadcast(
        &mut self,
        payload: &str,
        recipients: Option<Vec<skypod_protocol::IdentId>>,
    ) -> Result<(), ClientError> {
        self.evt(
            BROADCAST,
            skypod_protocol::messages::BroadcastRequest {
                payload: payload.to_owned(),
                recipients,
            },
        )
        .await
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

fn refusal(f: Frame) -> ClientError {
    match f
        .dat
        .and_then(|d| serde_json::from_value::<ErrorBody>(d).ok())
    {
        Some(e) => ClientError::Refused(e),
        None => ClientError::Unexpected(format!("err without a body for {}", f.msg)),
    }
}

/// Decode a frame's `dat` as `T`.
pub fn dat<T: DeserializeOwned>(f: &Frame) -> Result<T, ClientError> {
    serde_json::from_value(f.dat.clone().unwrap_or(Value::Null))
        .map_err(|e| ClientError::Unexpected(e.to_string()))
}
