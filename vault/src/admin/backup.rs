//! [`Vault::backup`]: a consistent copy of a SQLite vault while it runs, created readable
//! by its owner only (it holds sealed keys and token hashes, as the database does; a copy
//! made with `cp` gets the umask's 0644). PostgreSQL has its own tools: `pg_dump`.

use std::path::Path;

use crate::db::{Db, create_owner_only_new};
use crate::error::VaultError;
use crate::vault::Vault;

impl Vault {
    /// Writes a copy of the SQLite database to `path`, a new file (mode 0600; an existing
    /// file is refused), with SQLite's `VACUUM INTO`: one read transaction, so the copy is
    /// consistent while downloads and imports go on. On PostgreSQL,
    /// [`VaultError::SqliteOnly`]: use `pg_dump`.
    pub async fn backup(&self, path: &Path) -> Result<(), VaultError> {
        let Db::Sqlite(pool) = &self.db else {
            return Err(VaultError::SqliteOnly(
                "backup copies a SQLite vault; for PostgreSQL use pg_dump \
                 (e.g. pg_dump --format=custom --file=vault.dump DBNAME)",
            ));
        };
        let Some(target) = path.to_str() else {
            return Err(VaultError::Invalid(format!(
                "{} is not a UTF-8 path",
                path.display()
            )));
        };
        create_owner_only_new(path).map_err(VaultError::CreateFile)?;
        // VACUUM INTO writes into an empty file it finds, keeping its mode.
        let copied = sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(pool)
            .await;
        if let Err(e) = copied {
            let _ = std::fs::remove_file(path);
            return Err(e.into());
        }
        Ok(())
    }
}
