//! [`database_url`]: where the database URL comes from, so that a password in it need not
//! be on a command line (where every user sees it in `ps`): the URL itself, `env:NAME`
//! (an environment variable) or `file:PATH` (a file only its owner may read). PostgreSQL's
//! own `PGPASSFILE` (`~/.pgpass`) works as well: a `postgres://` URL without a password
//! takes it from there.

use std::path::Path;

use zeroize::Zeroizing;

use crate::error::VaultError;

/// The largest URL file read.
const MAX_URL_FILE: u64 = 64 * 1024;

/// The database URL that `spec` names:
///
/// - `env:NAME`: the value of the environment variable `NAME`;
/// - `file:PATH`: the file's content, surrounding whitespace trimmed; refused when its
///   group or others have any permission on it (mode & 0o077, as for the KEK file);
/// - anything else: the URL itself.
///
/// Errors name the variable or file, never the URL (it may hold a password).
pub fn database_url(spec: &str) -> Result<Zeroizing<String>, VaultError> {
    if let Some(name) = spec.strip_prefix("env:") {
        let value = std::env::var(name).map_err(|_| {
            VaultError::Invalid(format!(
                "--database env:{name}: the environment variable {name} is not set (or not UTF-8)"
            ))
        })?;
        return Ok(Zeroizing::new(value.trim().to_owned()));
    }
    if let Some(path) = spec.strip_prefix("file:") {
        return read_url_file(Path::new(path));
    }
    Ok(Zeroizing::new(spec.to_owned()))
}

fn read_url_file(path: &Path) -> Result<Zeroizing<String>, VaultError> {
    let shown = path.display();
    let io = |e: std::io::Error| VaultError::Invalid(format!("--database file:{shown}: {e}"));
    let meta = std::fs::metadata(path).map_err(io)?;
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(VaultError::Invalid(format!(
                "--database file:{shown} is accessible by group or others (mode {mode:o}); \
                 chmod 600 it (it holds the database's password)"
            )));
        }
    }
    if !meta.is_file() || meta.len() > MAX_URL_FILE {
        return Err(VaultError::Invalid(format!(
            "--database file:{shown} is not a file of at most 64 KiB"
        )));
    }
    let bytes = Zeroizing::new(std::fs::read(path).map_err(io)?);
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| VaultError::Invalid(format!("--database file:{shown} is not UTF-8")))?;
    let url = text.trim();
    if url.is_empty() {
        return Err(VaultError::Invalid(format!(
            "--database file:{shown} is empty"
        )));
    }
    Ok(Zeroizing::new(url.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_url_itself_an_environment_variable_or_an_owner_only_file() {
        assert_eq!(
            database_url("sqlite://x.db").unwrap().as_str(),
            "sqlite://x.db"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("url");
        std::fs::write(&file, "postgres://u:secret@127.0.0.1/db\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let spec = format!("file:{}", file.display());
        assert_eq!(
            database_url(&spec).unwrap().as_str(),
            "postgres://u:secret@127.0.0.1/db"
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = database_url(&spec).unwrap_err().to_string();
        assert!(
            error.contains("accessible by group or others (mode 644)"),
            "{error}"
        );
        assert!(!error.contains("secret"), "{error}");
        let error = database_url("env:CERT_DOWNLOAD_TEST_SURELY_UNSET")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("CERT_DOWNLOAD_TEST_SURELY_UNSET is not set"),
            "{error}"
        );
        // PATH is set in every test environment.
        assert_eq!(
            database_url("env:PATH").unwrap().as_str(),
            std::env::var("PATH").unwrap().trim()
        );
    }
}
