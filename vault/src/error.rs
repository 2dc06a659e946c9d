//! The vault's error type, [`VaultError`], and [`is_unavailable`], which tells a database
//! that passes (unreachable, busy) from a fault of the data. Every other module returns
//! it, so it sits at the bottom with nothing of the vault below it but [`crate::seal`]'s
//! errors.

use cert_download::CertificateId;

use crate::seal::SealError;

/// Why the vault failed. The texts name ids, paths and causes, never key bytes, tokens or
/// passwords.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The URL is neither `sqlite://` nor `postgres://` (or `postgresql://`).
    #[error("unsupported database URL (use sqlite://FILE or postgres://...)")]
    UnsupportedUrl,

    /// A `postgres://` URL off loopback without `sslmode=verify-full`.
    #[error(
        "refusing an unverified PostgreSQL link to {host:?}: a host that is not loopback or a \
         Unix socket needs sslmode=verify-full in the URL (and sslrootcert=FILE where the \
         system's roots do not apply), or --insecure-database-transport"
    )]
    InsecureTransport {
        /// The host of the URL.
        host: String,
    },
    /// The service's PostgreSQL role could change or erase audit rows.
    #[error(
        "the database role {role:?} holds {privilege} on the audit table: run the service as a \
         role with SELECT and INSERT on audit only (the crate documents its grants)"
    )]
    AuditNotProtected {
        /// The role.
        role: String,
        /// `ownership`, `UPDATE`, `DELETE` or `TRUNCATE`.
        privilege: &'static str,
    },
    /// The new SQLite file could not be created.
    #[error("cannot create the SQLite file: {0}")]
    CreateFile(#[source] std::io::Error),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the schema failed.
    #[error("schema migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The schema is missing or older than this build: run `init`.
    #[error("the database has no vault schema or an older one: run `cert-download-vault init`")]
    NotInitialized,
    /// The SQLite file does not exist: run `init`.
    #[error("the SQLite file {0} does not exist: run `cert-download-vault init` to create it")]
    NoSuchFile(String),
    /// The KEK file was refused.
    #[error(transparent)]
    KekFile(#[from] crate::seal::KekFileError),
    /// A KEK of the file does not open its check value: it is not the key this vault was
    /// initialized with.
    #[error("KEK {0:?} of the KEK file is not the KEK of that id this vault was sealed with")]
    KekMismatch(String),
    /// Keys in the database are sealed under a KEK the file does not hold.
    #[error("{count} sealed keys use KEK {kek_id:?}, which the KEK file does not hold")]
    KekMissing {
        /// The KEK id.
        kek_id: String,
        /// How many keys use it.
        count: i64,
    },
    /// None of the file's KEKs was ever used by this vault.
    #[error("the KEK file holds none of the KEKs this vault was initialized with")]
    UnknownKeks,
    /// A token's KEK could not be reached or was refused.
    #[error(transparent)]
    Token(#[from] crate::seal::TokenError),
    /// Sealing or opening a key failed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// A record failed the crate's checks and was not stored.
    #[error("certificate {id} was refused: {reason}")]
    Rejected {
        /// The record's id.
        id: CertificateId,
        /// The crate's error (its `Display`: never key bytes).
        reason: cert_download::Error,
    },
    /// A bad argument (principal name, id, token).
    #[error("{0}")]
    Invalid(String),
    /// The token is unknown.
    #[error("no such token")]
    UnknownToken,
    /// A principal the vault does not know (`principal add-cert` creates none).
    #[error("no principal {0:?} (a grant or `token create` creates one)")]
    UnknownPrincipal(String),
    /// Not a certificate: the file holds no PEM `CERTIFICATE`, or its DER is not X.509.
    #[error("not a certificate: {0}")]
    NotACertificate(String),
    /// The client certificate is registered already (to that principal).
    #[error(
        "the client certificate {fingerprint} is registered already, to principal \
         {principal:?}: remove it first (`principal remove-cert`) to register it again"
    )]
    DuplicateClientCertificate {
        /// `sha256:<hex>`.
        fingerprint: String,
        /// Its principal.
        principal: String,
    },
    /// No such client certificate registered to that principal.
    #[error("no client certificate {fingerprint} is registered to principal {principal:?}")]
    UnknownClientCertificate {
        /// `sha256:<hex>`.
        fingerprint: String,
        /// The principal named.
        principal: String,
    },
    /// The vault was opened without KEKs and this needs them.
    #[error("this needs the KEKs: open the vault with the KEK file")]
    NeedsKeks,
    /// A certificate id that the vault does not hold.
    #[error("no certificate {0}")]
    UnknownCertificate(u64),
    /// A KEK cannot be retired: keys or a check value still need it, or it is the newest.
    #[error("KEK {kek_id:?} cannot be retired: {why}")]
    KekInUse {
        /// The KEK id.
        kek_id: String,
        /// What still needs it.
        why: String,
    },
    /// The operation exists for SQLite only.
    #[error("{0}")]
    SqliteOnly(&'static str),
    /// The vault has no audit signing key to sign checkpoints with: run `init`.
    #[error("the vault has no audit signing key: run `cert-download-vault init`")]
    NoAuditKey,
    /// The sealed audit signing key does not open under its KEK (tampered or a wrong KEK).
    #[error("the audit signing key does not open under its KEK (tampered, or a wrong KEK)")]
    AuditKeyDoesNotOpen,
}

impl From<crate::seal::KeyringError> for VaultError {
    fn from(e: crate::seal::KeyringError) -> Self {
        match e {
            crate::seal::KeyringError::File(e) => VaultError::KekFile(e),
            crate::seal::KeyringError::Token(e) => VaultError::Token(e),
            other => VaultError::Invalid(other.to_string()),
        }
    }
}

impl VaultError {
    /// A stable snake_case code for scripts.
    pub fn code(&self) -> &'static str {
        match self {
            VaultError::UnsupportedUrl => "unsupported_url",
            VaultError::InsecureTransport { .. } => "insecure_database_transport",
            VaultError::AuditNotProtected { .. } => "audit_not_protected",
            VaultError::CreateFile(_) => "create_file",
            VaultError::Database(_) => "database",
            VaultError::Migrate(_) => "migration",
            VaultError::NotInitialized | VaultError::NoSuchFile(_) => "not_initialized",
            VaultError::KekFile(_) => "kek_file",
            VaultError::KekMismatch(_) => "kek_mismatch",
            VaultError::KekMissing { .. } => "kek_missing",
            VaultError::UnknownKeks => "unknown_keks",
            VaultError::Token(_) => "kek_token",
            VaultError::Seal(SealError::Custody { .. }) => "key_custody_unavailable",
            VaultError::Seal(_) => "seal",
            VaultError::Rejected { .. } => "rejected",
            VaultError::Invalid(_) => "invalid_argument",
            VaultError::UnknownToken => "unknown_token",
            VaultError::UnknownPrincipal(_) => "unknown_principal",
            VaultError::NotACertificate(_) => "not_a_certificate",
            VaultError::DuplicateClientCertificate { .. } => "duplicate_client_certificate",
            VaultError::UnknownClientCertificate { .. } => "unknown_client_certificate",
            VaultError::NeedsKeks => "needs_keks",
            VaultError::UnknownCertificate(_) => "not_found",
            VaultError::KekInUse { .. } => "kek_in_use",
            VaultError::SqliteOnly(_) => "sqlite_only",
            VaultError::NoAuditKey => "no_audit_key",
            VaultError::AuditKeyDoesNotOpen => "audit_key_does_not_open",
        }
    }
}

impl VaultError {
    /// Whether the database could not be reached or was too busy (connection refused or
    /// lost, no free connection within the acquire timeout, a server shutting down, a
    /// locked or full SQLite file): a condition that passes, where the same call may work
    /// when tried again. A host answers these 503 with `Retry-After`; the rest are faults
    /// of the data or the schema.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, VaultError::Database(e) if sqlx_unavailable(e))
    }
}

/// Whether `error`, or an error in its `source` chain, is a database that could not be
/// reached or was too busy (see [`VaultError::is_unavailable`]). For the `Backend` source
/// of a [`VaultStore`](crate::VaultStore) answer, as the host gets it back from
/// `cert_download::Error::source`.
pub fn is_unavailable(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(sqlx) = e.downcast_ref::<sqlx::Error>() {
            return sqlx_unavailable(sqlx);
        }
        if let Some(vault) = e.downcast_ref::<VaultError>() {
            return vault.is_unavailable();
        }
        current = e.source();
    }
    false
}

fn sqlx_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or("");
            match code.parse::<u32>() {
                // SQLite's (extended) result codes: BUSY, LOCKED, IOERR, FULL, CANTOPEN.
                Ok(n) if code.len() < 5 => matches!(n & 0xff, 5 | 6 | 10 | 13 | 14),
                // PostgreSQL's SQLSTATE: connection exceptions (08), insufficient
                // resources (53), operator intervention (57: shutting down, cannot connect
                // now), serialization failure and deadlock (40001, 40P01).
                _ => {
                    code.starts_with("08")
                        || code.starts_with("53")
                        || code.starts_with("57")
                        || matches!(code, "40001" | "40P01")
                }
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_is_the_database_not_the_data() {
        let io = |kind| sqlx::Error::Io(std::io::Error::from(kind));
        for e in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            io(std::io::ErrorKind::ConnectionRefused),
            io(std::io::ErrorKind::ConnectionReset),
        ] {
            assert!(VaultError::Database(e).is_unavailable());
        }
        for e in [
            VaultError::Database(sqlx::Error::RowNotFound),
            VaultError::NotInitialized,
            VaultError::UnknownToken,
        ] {
            assert!(!e.is_unavailable(), "{e}");
        }
        // Found through a source chain, as a host gets it from cert_download::Error.
        let store = cert_download::StoreError::backend(sqlx::Error::PoolTimedOut);
        let id = CertificateId::new(1).unwrap();
        let error = store.into_error(id);
        assert!(is_unavailable(std::error::Error::source(&error).unwrap()));
        let broken = cert_download::StoreError::backend(sqlx::Error::RowNotFound).into_error(id);
        assert!(!is_unavailable(std::error::Error::source(&broken).unwrap()));
    }
}
