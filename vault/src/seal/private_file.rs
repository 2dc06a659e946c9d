//! Reading a file that holds a secret (the KEK file, a token's PIN file) the way ssh reads
//! a private key: opened once without following a symbolic link, and its type, size, mode
//! and owner checked on the open file, so that the file checked is the file read (a path
//! swapped between a check and the read changes nothing).

use std::io::Read;
use std::path::Path;

use zeroize::Zeroizing;

/// Why a secret's file was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FileProblem {
    #[error("{0}")]
    Io(std::io::Error),
    #[error("it is a symbolic link; name the file itself")]
    Symlink,
    #[error("it is not a regular file")]
    NotAFile,
    #[error(
        "it is accessible by group or others (mode {0:o}); chmod 600 it (it holds a secret of \
         every sealed private key)"
    )]
    Permissions(u32),
    #[error("it is owned by uid {owner}, neither this process's user (uid {me}) nor root")]
    Owner { owner: u32, me: u32 },
    #[error("it is larger than {0} bytes")]
    TooLarge(u64),
    #[error("{0}")]
    Syntax(&'static str),
}

/// The contents of the secret's file at `path`, at most `max` bytes, in a wiped buffer.
pub(crate) fn read(path: &Path, max: u64) -> Result<Zeroizing<Vec<u8>>, FileProblem> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    }
    let mut file = options.open(path).map_err(|e| {
        #[cfg(unix)]
        if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
            return FileProblem::Symlink;
        }
        FileProblem::Io(e)
    })?;
    let meta = file.metadata().map_err(FileProblem::Io)?;
    if !meta.is_file() {
        return Err(FileProblem::NotAFile);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let mode = meta.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(FileProblem::Permissions(mode));
        }
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me && meta.uid() != 0 {
            return Err(FileProblem::Owner {
                owner: meta.uid(),
                me,
            });
        }
    }
    if meta.len() > max {
        return Err(FileProblem::TooLarge(max));
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(meta.len() as usize + 1));
    // Read at most one byte past the limit: a file that grew after the check is refused.
    (&mut file)
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(FileProblem::Io)?;
    if bytes.len() as u64 > max {
        return Err(FileProblem::TooLarge(max));
    }
    Ok(bytes)
}
