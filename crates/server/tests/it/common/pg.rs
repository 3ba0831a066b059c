//! A fresh PostgreSQL database per test on the machine's server (127.0.0.1:5432, trust auth;
//! `SKYPOD_TEST_PG` overrides the admin URL), so tests never see each other's rows.

use sqlx::Connection;
use sqlx::postgres::PgConnection;

pub fn admin_url() -> String {
    std::env::var("SKYPOD_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A database that is dropped (forcibly) when this is dropped.
pub struct FreshDb {
    pub name: String,
    pub url: String,
}

impl FreshDb {
    pub async fn create() -> Self {
        let admin = admin_url();
        let mut c = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!("PostgreSQL must be running at {admin} (scripts/test.sh starts one): {e}")
        });
        let name = format!("skypod_t_{:016x}", rand::random::<u64>());
        // The name is generated hex, never input.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut c)
            .await
            .unwrap();
        let base = admin.rsplit_once('/').unwrap().0;
        Self {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        // Drop runs outside any runtime guarantee: use a short-lived one on a thread.
        let (admin, name) = (admin_url(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut c) = PgConnection::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut c)
                    .await;
                }
            });
        })
        .join();
    }
}
