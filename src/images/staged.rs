//! Files that appear complete or not at all, even if the process is killed while writing.
//!
//! On Linux the bytes go into an anonymous file (`O_TMPFILE`) in the target directory, are
//! synced, and only then get a name (`linkat` through `/proc/self/fd`). A `kill -9` in the
//! middle leaves nothing behind: the kernel frees a file that never got a name. Where
//! `O_TMPFILE` is not available (another OS, a filesystem without it, no `/proc`), a hidden
//! temporary file `.<hint>.<pid>.<random>.<suffix>` is used instead and removed on every exit
//! path that runs destructors; a kill can then leave that hidden file (never a file under the
//! final name).
//!
//! Every file is created readable and writable by its owner only (0600, set explicitly, so
//! whatever the umask): saved results and history images are prompts' and people's pictures.

use std::fs::File;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// A complete, synced file in a directory, waiting for its name.
#[derive(Debug)]
pub struct Staged {
    file: File,
    dir: PathBuf,
    hint: String,
    suffix: String,
    /// The hidden temporary name, when the file has one (the fallback).
    named: Option<PathBuf>,
}

/// A hidden temporary name in `dir`: `.<hint>.<pid>.<random>.<suffix>`.
fn temp_name(dir: &Path, hint: &str, suffix: &str) -> PathBuf {
    dir.join(format!(
        ".{hint}.{}.{:08x}.{suffix}",
        std::process::id(),
        rand::random::<u32>()
    ))
}

#[cfg(target_os = "linux")]
fn anonymous(dir: &Path) -> Option<File> {
    use rustix::fs::{Mode, OFlags};
    if !Path::new("/proc/self/fd").is_dir() {
        return None;
    }
    rustix::fs::open(
        dir,
        OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .ok()
    .map(File::from)
}

#[cfg(not(target_os = "linux"))]
fn anonymous(_dir: &Path) -> Option<File> {
    None
}

impl Staged {
    /// Writes `bytes` into a new file in `dir` (which must exist) and syncs it. The file has no
    /// visible name until [`Staged::link_new`] or [`Staged::persist`]. `hint` and `suffix`
    /// shape the hidden name of the fallback.
    pub fn write(dir: &Path, hint: &str, suffix: &str, bytes: &[u8]) -> io::Result<Staged> {
        let (file, named) = match anonymous(dir) {
            Some(f) => (f, None),
            None => {
                let tmp = temp_name(dir, hint, suffix);
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt as _;
                    opts.mode(0o600);
                }
                (opts.open(&tmp)?, Some(tmp))
            }
        };
        // The mode asked for at open is narrowed by the umask only; set it outright.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        let mut staged = Staged {
            file,
            dir: dir.to_path_buf(),
            hint: hint.to_owned(),
            suffix: suffix.to_owned(),
            named,
        };
        // On error `staged` is dropped, which removes a named temporary file.
        staged.file.write_all(bytes)?;
        staged.file.sync_all()?;
        Ok(staged)
    }

    /// Whether the file is anonymous (`O_TMPFILE`) rather than a hidden temporary file.
    pub fn is_anonymous(&self) -> bool {
        self.named.is_none()
    }

    /// Gives the file the name `dest` (in the same directory) unless that name is taken: then
    /// the error is [`io::ErrorKind::AlreadyExists`] and the file stays staged, so another
    /// name can be tried. Never replaces a file.
    pub fn link_new(&self, dest: &Path) -> io::Result<()> {
        match &self.named {
            Some(tmp) => std::fs::hard_link(tmp, dest),
            None => self.link_anonymous(dest),
        }
    }

    #[cfg(target_os = "linux")]
    fn link_anonymous(&self, dest: &Path) -> io::Result<()> {
        use rustix::fs::{AtFlags, CWD};
        use std::os::fd::AsRawFd as _;
        let proc_path = format!("/proc/self/fd/{}", self.file.as_raw_fd());
        rustix::fs::linkat(CWD, proc_path.as_str(), CWD, dest, AtFlags::SYMLINK_FOLLOW)
            .map_err(io::Error::from)
    }

    #[cfg(not(target_os = "linux"))]
    fn link_anonymous(&self, _dest: &Path) -> io::Result<()> {
        Err(io::Error::other("anonymous files are not supported here"))
    }

    /// Gives the file the name `dest` (in the same directory), atomically replacing a file of
    /// that name. An anonymous file is first linked under a hidden temporary name, complete,
    /// then renamed.
    pub fn persist(self, dest: &Path) -> io::Result<()> {
        let tmp = match &self.named {
            Some(tmp) => tmp.clone(),
            None => {
                let tmp = temp_name(&self.dir, &self.hint, &self.suffix);
                self.link_anonymous(&tmp)?;
                tmp
            }
        };
        let renamed = std::fs::rename(&tmp, dest);
        if renamed.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        renamed
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(tmp) = &self.named {
            // After a rename the name is gone already; the error is expected then.
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Creates `dir` and any missing parents readable only by the owner (0700, set explicitly on
/// the directory itself). A directory that already exists is left as it is.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .expect("list")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn nothing_is_visible_until_linked_and_a_taken_name_is_never_replaced() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = Staged::write(dir.path(), "img", "part", b"bytes").expect("stage");
        #[cfg(target_os = "linux")]
        {
            // ext4/tmpfs/btrfs/xfs all have O_TMPFILE; the test dirs live on one of them.
            assert!(s.is_anonymous(), "O_TMPFILE expected on Linux");
            assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
        }
        std::fs::write(dir.path().join("taken.jpg"), b"mine").expect("write");
        let e = s
            .link_new(&dir.path().join("taken.jpg"))
            .expect_err("taken");
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(
            std::fs::read(dir.path().join("taken.jpg")).expect("read"),
            b"mine"
        );
        s.link_new(&dir.path().join("new.jpg")).expect("link");
        drop(s);
        assert_eq!(names(dir.path()), ["new.jpg", "taken.jpg"]);
        assert_eq!(
            std::fs::read(dir.path().join("new.jpg")).expect("read"),
            b"bytes"
        );
    }

    #[test]
    fn persist_replaces_atomically_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let dest = dir.path().join("a.jpg");
        std::fs::write(&dest, b"old").expect("write");
        Staged::write(dir.path(), "a", "tmp", b"new")
            .expect("stage")
            .persist(&dest)
            .expect("persist");
        assert_eq!(std::fs::read(&dest).expect("read"), b"new");
        assert_eq!(names(dir.path()), ["a.jpg"]);
    }

    #[test]
    fn a_dropped_staged_file_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        drop(Staged::write(dir.path(), "x", "part", b"abc").expect("stage"));
        assert!(names(dir.path()).is_empty());
    }
}
