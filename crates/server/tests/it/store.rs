//! One store test suite, run against both backends: the embedded SQLite store and PostgreSQL
//! (a fresh database per test on the machine's server).

use crate::common::pg::FreshDb;
use skypod_protocol::{IdentityKey, RealmId};
use skypod_server::store::postgres::PgStore;
use skypod_server::store::sqlite::{Durability, SqliteStore};
use skypod_server::store::{Admission, RealmStore, StoreError, StoredMember};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

fn member() -> StoredMember {
    let k = IdentityKey::generate_ed25519();
    StoredMember {
        identid: k.identid().clone(),
        pubkey: k.public_jwk().clone(),
    }
}

/// `inviter` admitting `invitee` into `realm` with one fixed nonce, at time 3.
fn invitation<'a>(
    realm: &'a RealmId,
    inviter: &'a StoredMember,
    invitee: &'a StoredMember,
) -> Admission<'a> {
    Admission {
        realm,
        nonce: "nonce-0000000000001",
        nonce_expires_at: 10,
        inviter: &inviter.identid,
        invitee,
        now: 3,
    }
}

type Opened = Pin<Box<dyn Future<Output = Arc<dyn RealmStore>>>>;

/// Opens the same store again (a restart, or another node on the same database).
trait Opener: Fn() -> Opened {}
impl<F: Fn() -> Opened> Opener for F {}

async fn realms_members_and_nonces_persist(open: impl Opener) {
    let realm = RealmId::random();
    let (a, b) = (member(), member());
    {
        let s = open().await;
        s.create_realm(&realm, &a, 1).await.unwrap();
        assert!(matches!(
            s.create_realm(&realm, &b, 2).await,
            Err(StoreError::RealmExists)
        ));
        let adm = invitation(&realm, &a, &b);
        s.admit(adm.clone()).await.unwrap();
        assert!(matches!(s.admit(adm).await, Err(StoreError::NonceUsed)));
        s.close().await;
    }
    let s = open().await;
    assert_eq!(
        s.members(&realm).await.unwrap().unwrap(),
        vec![a.clone(), b.clone()]
    );
    assert!(s.members(&RealmId::random()).await.unwrap().is_none());
    assert!(s.remove_member(&realm, &b.identid).await.unwrap());
    assert!(!s.remove_member(&realm, &b.identid).await.unwrap());
    assert_eq!(s.members(&realm).await.unwrap().unwrap(), vec![a.clone()]);
    // A realm whose members are all gone still exists (its id stays taken).
    assert!(s.remove_member(&realm, &a.identid).await.unwrap());
    assert_eq!(s.members(&realm).await.unwrap(), Some(vec![]));
    assert_eq!(s.realm_count().await.unwrap(), 1);
    s.ping().await.unwrap();
    s.close().await;
}

async fn admission_into_a_missing_realm_is_refused(open: impl Opener) {
    let s = open().await;
    let (a, b) = (member(), member());
    let realm = RealmId::random();
    let adm = invitation(&realm, &a, &b);
    assert!(matches!(s.admit(adm).await, Err(StoreError::NoSuchRealm)));
    assert!(s.members(&realm).await.unwrap().is_none());
    s.close().await;
}

/// One invitation redeemed by many invitees at once, through several store handles (as
/// several nodes would): exactly one is admitted.
async fn concurrent_redemptions_admit_exactly_one(open: impl Opener) {
    let stores = [open().await, open().await, open().await];
    let (first, realm) = (member(), RealmId::random());
    stores[0].create_realm(&realm, &first, 1).await.unwrap();
    let invitees: Vec<StoredMember> = (0..12).map(|_| member()).collect();
    let tasks: Vec<_> = invitees
        .iter()
        .enumerate()
        .map(|(i, inv)| {
            let (s, realm, inviter, inv) = (
                stores[i % 3].clone(),
                realm.clone(),
                first.identid.clone(),
                inv.clone(),
            );
            tokio::spawn(async move {
                s.admit(Admission {
                    realm: &realm,
                    nonce: "the-one-nonce-000001",
                    nonce_expires_at: 100,
                    inviter: &inviter,
                    invitee: &inv,
                    now: 2,
                })
                .await
            })
        })
        .collect();
    let mut admitted = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => admitted += 1,
            Err(StoreError::NonceUsed) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(admitted, 1, "exactly one redemption wins");
    assert_eq!(stores[1].members(&realm).await.unwrap().unwrap().len(), 2);
    for s in stores {
        s.close().await;
    }
}

/// Re-admitting an identity (a new invitation for a device that lost its key) replaces its
/// public key rather than adding a second row.
async fn readmission_replaces_the_key(open: impl Opener) {
    let s = open().await;
    let (a, b, realm) = (member(), member(), RealmId::random());
    s.create_realm(&realm, &a, 1).await.unwrap();
    for (i, key) in [b.pubkey.clone(), member().pubkey].into_iter().enumerate() {
        let invitee = StoredMember {
            identid: b.identid.clone(),
            pubkey: key.clone(),
        };
        let nonce = format!("nonce-000000000000{i}");
        s.admit(Admission {
            realm: &realm,
            nonce: &nonce,
            nonce_expires_at: 10,
            inviter: &a.identid,
            invitee: &invitee,
            now: 2 + i as i64,
        })
        .await
        .unwrap();
        let members = s.members(&realm).await.unwrap().unwrap();
        assert_eq!(members.len(), 2);
        assert_eq!(members[1].pubkey, key);
    }
    s.close().await;
}

fn sqlite(dir: &tempfile::TempDir) -> impl Opener + use<> {
    let path = dir.path().to_path_buf();
    move || {
        let path = path.clone();
        Box::pin(async move {
            Arc::new(SqliteStore::open(&path, Durability::Normal).await.unwrap())
                as Arc<dyn RealmStore>
        }) as Opened
    }
}

fn postgres(db: &FreshDb) -> impl Opener + use<> {
    let url = db.url.clone();
    move || {
        let url = url.clone();
        Box::pin(
            async move { Arc::new(PgStore::connect(&url).await.unwrap()) as Arc<dyn RealmStore> },
        ) as Opened
    }
}

macro_rules! both_backends {
    ($($case:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    super::$case(super::sqlite(&dir)).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = super::FreshDb::create().await;
                    super::$case(super::postgres(&db)).await;
                }
            )*
        }
    };
}

both_backends!(
    realms_members_and_nonces_persist,
    admission_into_a_missing_realm_is_refused,
    concurrent_redemptions_admit_exactly_one,
    readmission_replaces_the_key,
);

/// Shared feed-proxy analyses do not pile up: rows stored before the cutoff are deleted,
/// newer ones stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_analyses_are_pruned_and_new_ones_kept() {
    use skypod_feeds::analyses::AnalysisStore;
    use skypod_server::store::postgres::PgAnalyses;
    let db = FreshDb::create().await;
    let store = PgStore::connect(&db.url).await.unwrap(); // runs the migrations
    let a = PgAnalyses::connect(&db.url).unwrap();
    let stored_at = skypod_protocol::unix_now();
    a.put("old", "silence", "{}").await.unwrap();
    assert_eq!(
        a.prune(stored_at - 60).await.unwrap(),
        0,
        "nothing is that old"
    );
    assert!(a.get("old", "silence").await.unwrap().is_some());
    assert_eq!(a.prune(stored_at + 60).await.unwrap(), 1);
    assert!(a.get("old", "silence").await.unwrap().is_none());
    store.close().await;
}

#[tokio::test]
async fn a_bad_postgres_url_is_a_clear_error() {
    let err = PgStore::connect("postgres://nobody@127.0.0.1:1/none")
        .await
        .err()
        .expect("nothing listens on port 1");
    assert!(
        err.to_string().contains("cannot connect to PostgreSQL"),
        "{err}"
    );
}
