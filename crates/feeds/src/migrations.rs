//! SQL migrations embedded in the binary, without sqlx's `migrate!` macro.
//!
//! The macro needs sqlx's `macros` feature, which builds a second copy of sqlx's SQLite
//! (bundled C) and PostgreSQL drivers, tokio and their dependencies for the compiler — about
//! 250 s of CPU, an eighth of a cold build — only to read a folder of `.sql` files. The files
//! are embedded with `include_str!` instead and given to sqlx's own
//! `Migrator::with_migrations`, with the version, description, checksum and no-transaction flag
//! the macro would give them (checked against `sqlx::migrate::resolve_blocking` by the tests
//! of every crate that uses this, so a file left out of a list fails a test).

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// One embedded migration file: its name (`<version>_<description>.sql`, as sqlx names them)
/// and its SQL, e.g. `("0001_cache.sql", include_str!("../migrations/0001_cache.sql"))`.
pub type MigrationFile = (&'static str, &'static str);

/// A migrator over `files`, in any order.
///
/// # Panics
/// When a name is not `<version>_<description>.sql` (a programming error the tests catch).
pub fn migrator(files: &[MigrationFile]) -> Migrator {
    Migrator::with_migrations(
        files
            .iter()
            .map(|&(name, sql)| migration(name, sql))
            .collect(),
    )
}

fn migration(name: &'static str, sql: &'static str) -> Migration {
    let (version, description) = name
        .strip_suffix(".sql")
        .and_then(|stem| stem.split_once('_'))
        .and_then(|(v, d)| Some((v.parse::<i64>().ok()?, d)))
        .unwrap_or_else(|| panic!("migration file {name:?} is not <version>_<description>.sql"));
    Migration::new(
        version,
        description.replace('_', " ").into(),
        MigrationType::Simple,
        sql.into_sql_str(),
        sql.starts_with("-- no-transaction"),
    )
}

/// Whether `migrator` holds exactly the migrations sqlx's `migrate!` would read from `dir`
/// (same versions, descriptions, types, checksums and flags): what each user's test asserts.
pub fn same_as_folder(migrator: &Migrator, dir: &std::path::Path) -> Result<(), String> {
    let mut from_dir = sqlx::migrate::resolve_blocking(dir)
        .map_err(|e| format!("reading {}: {e}", dir.display()))?
        .into_iter()
        .map(|(m, _)| m)
        .collect::<Vec<_>>();
    from_dir.sort();
    let key = |m: &Migration| {
        (
            m.version,
            m.description.to_string(),
            m.migration_type,
            m.checksum.to_vec(),
            m.no_tx,
        )
    };
    let ours = migrator.iter().map(key).collect::<Vec<_>>();
    let theirs = from_dir.iter().map(key).collect::<Vec<_>>();
    if ours == theirs {
        Ok(())
    } else {
        Err(format!(
            "embedded migrations differ from {}: embedded {:?}, folder {:?}",
            dir.display(),
            ours.iter().map(|k| (k.0, &k.1)).collect::<Vec<_>>(),
            theirs.iter().map(|k| (k.0, &k.1)).collect::<Vec<_>>()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_or_missing_file_is_noticed() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        assert_eq!(same_as_folder(&crate::cache::MIGRATOR, &dir), Ok(()));
        let real = include_str!("../migrations/0001_cache.sql");
        assert!(same_as_folder(&migrator(&[]), &dir).is_err());
        assert!(same_as_folder(&migrator(&[("0001_cache.sql", "SELECT 1;")]), &dir).is_err());
        assert!(same_as_folder(&migrator(&[("0001_store.sql", real)]), &dir).is_err());
    }
}
