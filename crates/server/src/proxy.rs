//! Mounts the feed proxy (`skypod-feeds`) for realm members only.
//!
//! A member authorizes with `Authorization: Bearer <jwt>`: a token signed by its identity key
//! for purpose `skypod:proxy` (lifetime ≤ 5 min), so the server is never an open proxy.
//!
//! `/proxy/media` also takes a stream token in its URL (purpose `skypod:proxy.media`, bound to
//! the one enclosure URL): media elements cannot send headers, and they keep making Range
//! requests while an episode plays. The same membership check applies to every request.
//!
//! A client reuses its token for many requests, so a verified token is remembered until it
//! expires: later requests skip the ECDSA verification, but still check that the issuer is a
//! member with the same key right now (a removed member is refused at once).

use std::collections::HashMap;
use std::sync::Mutex;

use skypod_feeds::ProxyAuth;
use skypod_protocol::token::{self, Claims, MediaClaims, NoClaims, Purpose};
use skypod_protocol::{IdentId, PublicJwk, RealmId, unix_now};

use crate::state::AppState;

/// Verified tokens remembered at most (expired ones are dropped first when full).
const VERIFIED_TOKENS: usize = 4096;

struct Verified {
    iss: IdentId,
    realm: RealmId,
    key: PublicJwk,
    exp: i64,
}

pub struct RealmProxyAuth {
    state: AppState,
    verified: Mutex<HashMap<String, Verified>>,
}

impl RealmProxyAuth {
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// The issuer of a token verified earlier, if it has not expired (same rule as
    /// `token::verify`) and its issuer is still a member with the same key.
    fn remembered(&self, bearer: &str, now: i64, skew: i64) -> Option<String> {
        let map = self.verified.lock().ok()?;
        let v = map.get(bearer)?;
        if v.exp <= now.saturating_sub(skew) {
            return None;
        }
        let realm = self.state.hub.cached(&v.realm)?;
        (realm.member_key(&v.iss).as_ref() == Some(&v.key)).then(|| v.iss.to_string())
    }

    fn remember(&self, bearer: &str, v: Verified, now: i64, skew: i64) {
        let Ok(mut map) = self.verified.lock() else {
            return;
        };
        if map.len() >= VERIFIED_TOKENS {
            map.retain(|_, v| v.exp > now.saturating_sub(skew));
            if map.len() >= VERIFIED_TOKENS {
                map.clear();
            }
        }
        map.insert(bearer.to_owned(), v);
    }
}

impl RealmProxyAuth {
    /// The realm and the issuer's current key for a token's claims: the issuer must be a
    /// member of the realm right now.
    fn member_key(&self, claims: &Claims<NoClaims>) -> Result<PublicJwk, String> {
        let realm = match self.state.hub.cached(&claims.realm) {
            Some(r) => Some(r),
            // A member that has not connected since the server started: load its realm. The
            // trait is synchronous, so this needs the multi-threaded runtime `skypod serve` uses.
            None if tokio::runtime::Handle::current().runtime_flavor()
                == tokio::runtime::RuntimeFlavor::MultiThread =>
            {
                tokio::task::block_in_place(|| {
                    tokio::runtime::Handle::current().block_on(self.state.hub.realm(&claims.realm))
                })
                .map_err(|e| e.to_string())?
            }
            None => None,
        };
        realm
            .and_then(|r| r.member_key(&claims.iss))
            .ok_or_else(|| "unknown realm or identity: not a member of this realm".to_owned())
    }
}

impl RealmProxyAuth {
    /// Verify `tok` for `purpose` (signed by a member of its realm right now), check its own
    /// claims with `accept`, and remember it under `cache_key` until it expires.
    fn verify_remembered<X: serde::de::DeserializeOwned>(
        &self,
        tok: &str,
        cache_key: &str,
        purpose: Purpose,
        accept: impl FnOnce(&X) -> Result<(), String>,
    ) -> Result<String, String> {
        let rules = self.state.cfg.token_rules();
        let now = unix_now();
        if let Some(iss) = self.remembered(cache_key, now, rules.skew) {
            return Ok(iss);
        }
        let claims: Claims<NoClaims> = token::peek(tok, &rules).map_err(|e| e.to_string())?;
        let key = self.member_key(&claims)?;
        let verified = token::verify::<X>(tok, &key, purpose, &claims.realm, now, &rules)
            .map_err(|e| e.to_string())?;
        accept(&verified.ext)?;
        let iss = verified.base.iss.to_string();
        self.remember(
            cache_key,
            Verified {
                iss: verified.base.iss,
                realm: verified.base.realm,
                key,
                exp: verified.base.exp,
            },
            now,
            rules.skew,
        );
        Ok(iss)
    }
}

impl ProxyAuth for RealmProxyAuth {
    fn authorize_media(&self, tok: &str, url: &str) -> Result<String, String> {
        // The URL is part of the key: a remembered token opens only its own enclosure.
        let cache_key = format!("media|{url}|{tok}");
        self.verify_remembered(tok, &cache_key, Purpose::Media, |c: &MediaClaims| {
            if c.url == url {
                Ok(())
            } else {
                Err("this stream token is for another enclosure URL".into())
            }
        })
    }

    fn authorize(&self, bearer: &str) -> Result<String, String> {
        self.verify_remembered(bearer, bearer, Purpose::Proxy, |_: &NoClaims| Ok(()))
    }
}
