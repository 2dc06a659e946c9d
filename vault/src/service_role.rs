//! What the service's own database role may do to the audit trail. The triggers that
//! refuse `UPDATE`, `DELETE` and `TRUNCATE` on `audit` bind every role, but the table's
//! owner (or a superuser) can drop or disable them, and a role with those privileges is one
//! statement from erasing its tracks once they are gone. So on PostgreSQL the service
//! refuses to run as such a role ([`Vault::check_service_role`]). On SQLite there is no
//! role: the service's user can write the file, and the triggers guard against mistakes
//! only, not against that user.

use sqlx::Row;

use crate::db::Db;
use crate::error::VaultError;
use crate::vault::Vault;

impl Vault {
    /// On PostgreSQL, an error when the connected role owns the `audit` table (or is a
    /// member of its owner, or a superuser) or holds `UPDATE`, `DELETE` or `TRUNCATE` on
    /// it: the service must connect as a role that may read the vault and insert audit
    /// rows, nothing more (see the crate's documentation for its grants). The admin
    /// command, which runs as the owner, does not call it. On SQLite, `Ok`.
    pub async fn check_service_role(&self) -> Result<(), VaultError> {
        let Db::Postgres(pool) = &self.db else {
            return Ok(());
        };
        let row = sqlx::query(
            "SELECT current_user::text, pg_has_role(current_user, c.relowner, 'USAGE'), \
             has_table_privilege(c.oid, 'UPDATE'), has_table_privilege(c.oid, 'DELETE'), \
             has_table_privilege(c.oid, 'TRUNCATE') \
             FROM pg_class c WHERE c.oid = 'audit'::regclass",
        )
        .fetch_one(pool)
        .await?;
        let role: String = row.try_get(0)?;
        for (column, privilege) in [
            (1, "ownership"),
            (2, "UPDATE"),
            (3, "DELETE"),
            (4, "TRUNCATE"),
        ] {
            if row.try_get::<bool, _>(column)? {
                return Err(VaultError::AuditNotProtected { role, privilege });
            }
        }
        Ok(())
    }

    /// The value of a PostgreSQL setting on one of the pool's connections (`None` on
    /// SQLite): for tests of what each connection is set to.
    #[doc(hidden)]
    pub async fn postgres_setting(&self, name: &str) -> Result<Option<String>, VaultError> {
        let Db::Postgres(pool) = &self.db else {
            return Ok(None);
        };
        Ok(Some(
            sqlx::query_scalar("SELECT current_setting($1)")
                .bind(name)
                .fetch_one(pool)
                .await?,
        ))
    }
}
