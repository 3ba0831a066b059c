//! Mounts the feed proxy (`skypod-feeds`) for realm members only.
//!
//! A member authorizes with `Authorization: Bearer <jwt>`: a token signed by its identity key
//! for purpose `skypod:proxy` (lifetime ≤ 5 min), so the server is never an open proxy.

use skypod_feeds::ProxyAuth;
use skypod_protocol::token::{self, Claims, NoClaims, Purpose};
use skypod_protocol::unix_now;

use crate::state::AppState;

pub struct RealmProxyAuth {
    pub state: AppState,
}

impl ProxyAuth for RealmProxyAuth {
    fn authorize(&self, bearer: &str) -> Result<String, String> {
        let rules = self.state.cfg.token_rules();
        let claims: Claims<NoClaims> = token::peek(bearer, &rules).map_err(|e| e.to_string())?;
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
        let key = realm
            .and_then(|r| r.member_key(&claims.iss))
            .ok_or_else(|| "unknown realm or identity: not a member of this realm".to_owned())?;
        token::verify::<NoClaims>(
            bearer,
            &key,
            Purpose::Proxy,
            &claims.realm,
            unix_now(),
            &rules,
        )
        .map_err(|e| e.to_string())?;
        Ok(claims.base.iss.to_string())
    }
}
