//! The CLI's own files: where the rejects file (`--rejects FILE`) goes, checked against the
//! files the call reads before anything is read.
//!
//! The path is resolved first — the file itself when it exists (links followed), else its
//! directory plus its name — and refused ([`Error::InvalidOption`] naming `--rejects`, exit
//! status 2) when it is:
//!
//! - an input file or the schema file (the same resolved path, or on Unix the same device and
//!   inode: a hard link);
//! - standard input or standard output: `-`, `/dev/stdin`, `/dev/stdout`, `/dev/fd/0|1`,
//!   `/proc/self/fd/0|1`, or on Unix a file with the device and inode of standard input or
//!   output (a character device such as `/dev/null` or a terminal excepted: writing there
//!   destroys nothing);
//! - a directory.
//!
//! A regular file (or one to create) is [`Target::Replace`]: written to a temporary file in
//! its directory and moved over it when the call ends (see `output::Report`). Anything else
//! that exists — `/dev/null`, a terminal, a FIFO — and a name of an open descriptor
//! (`/dev/fd/3`) is [`Target::Direct`]: opened for appending and written as it is, since
//! renaming a file over a device would replace it; standard error (`/dev/stderr`, `/dev/fd/2`)
//! is [`Target::Stderr`], written through the process's own descriptor.

use std::fs::Metadata;
use std::path::{Path, PathBuf};

use bulkinup::{Error, Result};

use bulkinup::input::Source;

/// Where the rejects go, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejects {
    /// The path as given on the command line, for messages.
    pub given: String,
    /// How it is written.
    pub target: Target,
}

/// How the rejects file is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A regular file, existing or not, by its resolved path: written to a temporary file
    /// beside it, moved into place when the call ends.
    Replace(PathBuf),
    /// Not a regular file (a device, a terminal, a FIFO), or another open descriptor
    /// (`/dev/fd/3`): opened for appending and written directly.
    Direct(PathBuf),
    /// Standard error itself (its descriptor, duplicated: the records interleave with the
    /// messages instead of overwriting them).
    Stderr,
}

/// The names of standard input and output, beside `-`.
const STDIO_NAMES: [&str; 6] = [
    "/dev/stdin",
    "/dev/stdout",
    "/dev/fd/0",
    "/dev/fd/1",
    "/proc/self/fd/0",
    "/proc/self/fd/1",
];

/// Checks the rejects path against the inputs and the schema file (see the module docs).
///
/// # Errors
/// [`Error::InvalidOption`] naming `--rejects`.
pub fn rejects(path: &Path, inputs: &[Source], schema: &Path) -> Result<Rejects> {
    let given = path.display().to_string();
    let refuse = |why: String| Error::option("--rejects", format!("`{given}` {why}"), None);
    if path.as_os_str() == "-" {
        return Err(refuse(
            "would be standard output, which carries the summary line; name a file".into(),
        ));
    }

    // The directory, resolved; the file name as given (not yet following a final link).
    let name = path.file_name().ok_or_else(|| match path.is_dir() {
        true => refuse("is a directory".into()),
        false => refuse("names no file".into()),
    })?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = std::fs::canonicalize(parent)
        .map_err(|e| refuse(format!("cannot be created: `{}`: {e}", parent.display())))?;
    let lexical = dir.join(name);
    let own_fd = PathBuf::from(format!("/proc/{}/fd", std::process::id()));
    let names_stdio = [path, lexical.as_path()].into_iter().any(|p| {
        STDIO_NAMES.iter().any(|n| p == Path::new(n))
            || ["0", "1"].iter().any(|fd| p == own_fd.join(fd))
    });
    if names_stdio {
        return Err(refuse(
            "is standard input or output (the input, or the summary line); name a file".into(),
        ));
    }

    let (resolved, meta) = match std::fs::canonicalize(path) {
        Ok(resolved) => {
            let meta = std::fs::metadata(&resolved).map_err(|e| refuse(e.to_string()))?;
            (resolved, Some(meta))
        }
        // Not there yet (or a dangling link, which the file then replaces).
        Err(_) => (lexical.clone(), None),
    };
    if let Some(meta) = &meta {
        if meta.is_dir() {
            return Err(refuse("is a directory".into()));
        }
        if same_as_stdio(meta) {
            return Err(refuse(
                "is the same file as standard input or output; name another file".into(),
            ));
        }
    }

    for input in inputs {
        if let Source::File(p) = input
            && same_file(&resolved, meta.as_ref(), p)
        {
            return Err(refuse(format!(
                "is the input file `{}`: writing the rejects there would overwrite it",
                p.display()
            )));
        }
    }
    if same_file(&resolved, meta.as_ref(), schema) {
        return Err(refuse(format!(
            "is the schema file `{}` (--schema): writing the rejects there would overwrite it",
            schema.display()
        )));
    }

    let target = match &meta {
        Some(m) if !m.is_file() => Target::Direct(path.to_path_buf()),
        _ if names_stderr(path, &lexical, &own_fd) => Target::Stderr,
        _ if names_a_descriptor(&dir, &own_fd) => Target::Direct(path.to_path_buf()),
        _ => Target::Replace(resolved),
    };
    Ok(Rejects { given, target })
}

/// Whether the path names one of the process's own open descriptors (`/dev/stderr`,
/// `/dev/fd/2`): a link to whatever the descriptor is — written through, never replaced.
fn names_a_descriptor(dir: &Path, own_fd: &Path) -> bool {
    dir == own_fd || dir == Path::new("/proc/self/fd") || dir == Path::new("/dev/fd")
}

/// Whether the path names standard error (`/dev/stderr`, `/dev/fd/2`, `/proc/self/fd/2`).
fn names_stderr(path: &Path, lexical: &Path, own_fd: &Path) -> bool {
    [path, lexical].into_iter().any(|p| {
        ["/dev/stderr", "/dev/fd/2", "/proc/self/fd/2"]
            .iter()
            .any(|n| p == Path::new(n))
            || p == own_fd.join("2")
    })
}

/// Whether the rejects file (`resolved`, with its metadata when it exists) is `other`.
fn same_file(resolved: &Path, meta: Option<&Metadata>, other: &Path) -> bool {
    if std::fs::canonicalize(other).is_ok_and(|o| o == resolved) {
        return true;
    }
    match (meta, std::fs::metadata(other)) {
        (Some(a), Ok(b)) => same_inode(a, &b),
        _ => false,
    }
}

#[cfg(unix)]
fn same_inode(a: &Metadata, b: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_inode(_: &Metadata, _: &Metadata) -> bool {
    false
}

/// Whether `meta` is the file of standard input or output (not a character device).
#[cfg(unix)]
fn same_as_stdio(meta: &Metadata) -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;
    if meta.file_type().is_char_device() {
        return false;
    }
    let of = |fd: std::os::fd::BorrowedFd<'_>| {
        fd.try_clone_to_owned()
            .and_then(|fd| std::fs::File::from(fd).metadata())
            .ok()
    };
    [of(std::io::stdin().as_fd()), of(std::io::stdout().as_fd())]
        .iter()
        .flatten()
        .any(|m| same_inode(meta, m))
}

#[cfg(not(unix))]
fn same_as_stdio(_: &Metadata) -> bool {
    false
}

/// Removes the SQLite file at `path` (and the journal files beside it) when it is empty: a
/// call that created it and failed before writing anything leaves no 0-byte file behind. A
/// file with content, or one that cannot be looked at, is left as it is.
pub fn remove_if_empty(path: &Path) {
    let empty = std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0);
    if !empty {
        return;
    }
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(side));
    }
    let _ = std::fs::remove_file(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_in_an_existing_directory_is_replaced_at_its_resolved_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("r.ndjson");
        let got = rejects(&path, &[Source::Stdin], Path::new("/nonexistent.toml")).expect("ok");
        let resolved = std::fs::canonicalize(dir.path())
            .expect("dir")
            .join("r.ndjson");
        assert_eq!(got.target, Target::Replace(resolved));
    }

    #[test]
    fn dev_null_is_written_directly() {
        let got = rejects(Path::new("/dev/null"), &[], Path::new("/nonexistent.toml"));
        assert_eq!(
            got.expect("ok").target,
            Target::Direct(PathBuf::from("/dev/null"))
        );
    }

    #[test]
    fn a_hard_link_to_an_input_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let input = dir.path().join("in.ndjson");
        std::fs::write(&input, "{}\n").expect("write");
        let link = dir.path().join("link.ndjson");
        std::fs::hard_link(&input, &link).expect("hard link");
        let err = rejects(
            &link,
            &[Source::File(input)],
            Path::new("/nonexistent.toml"),
        );
        assert!(err.is_err(), "{err:?}");
    }

    #[test]
    fn a_directory_and_dev_stdout_are_refused() {
        let schema = Path::new("/nonexistent.toml");
        assert!(rejects(Path::new("/tmp"), &[], schema).is_err());
        assert!(rejects(Path::new("/dev/stdout"), &[], schema).is_err());
        assert!(rejects(Path::new("/dev/./fd/1"), &[], schema).is_err());
    }
}
