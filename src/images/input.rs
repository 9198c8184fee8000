//! Reading an image file the user named (a reference image, for the CLI's `--image` and the
//! TUI's reference field). Every way a path can be wrong gets an error that names the file
//! and says what is expected: missing, a dangling symlink, a directory, a FIFO or a device
//! (never opened in a way that could block), unreadable, empty, too large to read, not an
//! image, a format the service does not take, or a truncated or damaged image (the whole
//! image is decoded, within bounds, not just its header). A symlink to a regular image file is
//! followed. A decompression bomb is refused from its header, before any pixel is allocated.

use super::Format;
use super::decode::{self, DecodeError, NotWhole};
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// The largest file read at all (64 MiB): enough for any camera image `--fit-image` can
/// shrink, and a bound on memory for anything bigger.
pub const READ_CAP: u64 = 64 * 1024 * 1024;

/// What is wrong with an input file, without its name (see [`InputError`]).
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("no such file; a JPEG or PNG file is expected")]
    Missing,
    #[error("a symlink to {0}, which does not exist")]
    DanglingSymlink(PathBuf),
    #[error("a directory; a JPEG or PNG file is expected")]
    Directory,
    #[error("{0}, not a regular file; a JPEG or PNG file is expected")]
    NotRegular(&'static str),
    #[error("permission denied: volcv cannot read it (check its mode: ls -l)")]
    PermissionDenied,
    #[error("cannot read it: {0}")]
    Io(std::io::Error),
    #[error("the file is empty; a JPEG or PNG image is expected")]
    Empty,
    #[error(
        "{} ({size} bytes), too large to read (at most {} are read; the service takes images of \
         at most 4.7 MB)",
        crate::text::human_size(*size),
        crate::text::human_size(*cap)
    )]
    TooLarge { size: u64, cap: u64 },
    #[error("a {0} image; the service takes JPEG or PNG")]
    WrongFormat(&'static str),
    #[error("not an image (it starts with {0}); a JPEG or PNG image is expected")]
    NotImage(String),
    #[error("refused: {0}")]
    Bomb(DecodeError),
    #[error("a truncated or damaged {format}: {detail}")]
    Damaged {
        format: &'static str,
        detail: String,
    },
}

/// An input file that cannot be used: `PATH: what is wrong` (and the symlink it went through).
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}{}", path.display(), via.as_ref().map(|t| format!(" (through the symlink to {})", t.display())).unwrap_or_default())]
pub struct InputError {
    /// The path as given.
    pub path: PathBuf,
    /// Where the path's symlink points, when it is one and the problem is with its target.
    pub via: Option<PathBuf>,
    /// What is wrong.
    pub problem: Problem,
}

/// A checked JPEG or PNG read from a file.
#[derive(Debug, Clone)]
pub struct ImageFile {
    pub bytes: Vec<u8>,
    pub format: Format,
    pub width: u32,
    pub height: u32,
}

fn file_kind(t: std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt as _;
    if t.is_fifo() {
        Some("a named pipe (FIFO)")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_socket() {
        Some("a socket")
    } else if t.is_dir() || t.is_file() {
        None
    } else {
        Some("not a file")
    }
}

fn io_problem(e: std::io::Error) -> Problem {
    match e.kind() {
        std::io::ErrorKind::NotFound => Problem::Missing,
        std::io::ErrorKind::PermissionDenied => Problem::PermissionDenied,
        _ => Problem::Io(e),
    }
}

/// A printable sample of the first bytes: text as text (escaped), else hex.
fn first_bytes(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(12)];
    if head
        .iter()
        .all(|b| b.is_ascii_graphic() || *b == b' ' || *b == b'\n' || *b == b'\t')
    {
        format!("{:?}", String::from_utf8_lossy(head))
    } else {
        let hex: Vec<String> = head.iter().map(|b| format!("{b:02x}")).collect();
        format!("bytes {}", hex.join(" "))
    }
}

/// The largest settings file read (config, `~/.volc/credentials`, `presets.toml`): far more
/// than any real one, and a bound on what a symlink to `/dev/zero` can cost.
pub const TEXT_FILE_CAP: u64 = 4 * 1024 * 1024;

/// Reads a small UTF-8 text file (a settings file) with the checks `--image` makes: it must
/// be a regular file (a FIFO, a device such as `/dev/zero` or a socket is refused without
/// being opened in a way that could block), of at most `cap` bytes. A symlink to a regular
/// file is followed. A missing file is [`std::io::ErrorKind::NotFound`], as from
/// `std::fs::read_to_string`; every other refusal is [`std::io::ErrorKind::InvalidInput`]
/// saying what the file is and what is expected.
pub fn read_text_file(path: &Path, cap: u64) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind};
    let refuse = |what: String| Error::new(ErrorKind::InvalidInput, what);
    let check = |meta: &std::fs::Metadata| {
        let t = meta.file_type();
        if t.is_dir() {
            return Err(refuse("a directory; a text file is expected".to_owned()));
        }
        if let Some(kind) = file_kind(t) {
            return Err(refuse(format!(
                "{kind}, not a regular file; a text file is expected"
            )));
        }
        if meta.len() > cap {
            return Err(refuse(format!(
                "{} bytes, larger than the {cap} bytes a settings file may have",
                meta.len()
            )));
        }
        Ok(())
    };
    check(&std::fs::metadata(path)?)?;
    // Non-blocking, so a file swapped for a FIFO after the check cannot hang the open.
    let fd = rustix::fs::open(
        path,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(Error::from)?;
    let file = std::fs::File::from(fd);
    check(&file.metadata()?)?;
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(refuse(format!(
            "larger than the {cap} bytes a settings file may have"
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        refuse(format!(
            "not UTF-8 text (invalid byte at {}); a text file is expected",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Reads a JPEG or PNG file of at most `cap` bytes, checking everything about the file but
/// not yet its pixels (see [`read_image`] for the full check).
pub fn read_image_bytes(path: &Path, cap: u64) -> Result<(Vec<u8>, Format), InputError> {
    let err = |via: Option<PathBuf>, problem| InputError {
        path: path.to_path_buf(),
        via,
        problem,
    };
    let link = std::fs::symlink_metadata(path).map_err(|e| err(None, io_problem(e)))?;
    let via = if link.file_type().is_symlink() {
        Some(std::fs::read_link(path).unwrap_or_default())
    } else {
        None
    };
    let meta = std::fs::metadata(path).map_err(|e| match (&via, e.kind()) {
        (Some(target), std::io::ErrorKind::NotFound) => {
            err(None, Problem::DanglingSymlink(target.clone()))
        }
        _ => err(via.clone(), io_problem(e)),
    })?;
    let check_type = |t: std::fs::FileType| {
        if t.is_dir() {
            Err(Problem::Directory)
        } else if let Some(kind) = file_kind(t) {
            Err(Problem::NotRegular(kind))
        } else {
            Ok(())
        }
    };
    check_type(meta.file_type()).map_err(|p| err(via.clone(), p))?;
    if meta.len() > cap {
        return Err(err(
            via,
            Problem::TooLarge {
                size: meta.len(),
                cap,
            },
        ));
    }
    // Non-blocking, so a file swapped for a FIFO after the check above cannot hang the open;
    // the opened file's own type is checked again.
    let fd = rustix::fs::open(
        path,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| err(via.clone(), io_problem(e.into())))?;
    let file = std::fs::File::from(fd);
    let opened = file
        .metadata()
        .map_err(|e| err(via.clone(), io_problem(e)))?;
    check_type(opened.file_type()).map_err(|p| err(via.clone(), p))?;
    let mut bytes = Vec::with_capacity(usize::try_from(opened.len().min(cap)).unwrap_or(0));
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| err(via.clone(), io_problem(e)))?;
    let size = bytes.len() as u64;
    if size > cap {
        return Err(err(via, Problem::TooLarge { size, cap }));
    }
    if bytes.is_empty() {
        return Err(err(via, Problem::Empty));
    }
    match super::sniff(&bytes) {
        Some(f @ (Format::Jpeg | Format::Png)) => Ok((bytes, f)),
        Some(other) => Err(err(via, Problem::WrongFormat(other.name()))),
        None => Err(err(via, Problem::NotImage(first_bytes(&bytes)))),
    }
}

/// Reads a JPEG or PNG file of at most `cap` bytes and checks that it is a whole image: its
/// header within [`decode::PREVIEW_BOUNDS`] (a bomb is refused before decoding), its structure
/// complete to the end marker, and every pixel decodable. Slow for big images (a full
/// decode): call it off a UI task.
pub fn read_image(path: &Path, cap: u64) -> Result<ImageFile, InputError> {
    let (bytes, format) = read_image_bytes(path, cap)?;
    match decode::check_complete(&bytes) {
        Ok((width, height)) => Ok(ImageFile {
            bytes,
            format,
            width,
            height,
        }),
        Err(e) => Err(InputError {
            path: path.to_path_buf(),
            via: std::fs::read_link(path).ok(),
            problem: match e {
                NotWhole::Decode(e @ DecodeError::TooLarge { .. }) => Problem::Bomb(e),
                NotWhole::Decode(DecodeError::Unsupported) => {
                    Problem::NotImage(first_bytes(&bytes))
                }
                NotWhole::Cut(detail) => Problem::Damaged {
                    format: format.name(),
                    detail,
                },
                NotWhole::Decode(DecodeError::Decode(e)) => Problem::Damaged {
                    format: format.name(),
                    detail: e.to_string(),
                },
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)
            .expect("png");
        out.into_inner()
    }

    #[test]
    fn messages_name_the_file_and_the_symlink() {
        let dir = tempfile::tempdir().expect("tmp");
        let good = dir.path().join("good.png");
        std::fs::write(&good, png(200, 150)).expect("write");
        let link = dir.path().join("link.png");
        std::os::unix::fs::symlink(&good, &link).expect("symlink");
        let img = read_image(&link, READ_CAP).expect("a symlink to an image is followed");
        assert_eq!((img.format, img.width, img.height), (Format::Png, 200, 150));

        let to_dir = dir.path().join("dir.png");
        std::os::unix::fs::symlink(dir.path(), &to_dir).expect("symlink");
        let e = read_image(&to_dir, READ_CAP).expect_err("dir").to_string();
        assert!(e.starts_with(&to_dir.display().to_string()), "{e}");
        assert!(
            e.contains("a directory; a JPEG or PNG file is expected"),
            "{e}"
        );
        assert!(e.contains("through the symlink to"), "{e}");

        let dangling = dir.path().join("gone.png");
        std::os::unix::fs::symlink(dir.path().join("nothing"), &dangling).expect("symlink");
        let e = read_image(&dangling, READ_CAP)
            .expect_err("dangling")
            .to_string();
        assert!(
            e.contains("a symlink to ") && e.contains("which does not exist"),
            "{e}"
        );

        let text = dir.path().join("notes.png");
        std::fs::write(&text, "hello world").expect("write");
        let e = read_image(&text, READ_CAP).expect_err("text").to_string();
        assert!(
            e.contains("not an image (it starts with \"hello world\")"),
            "{e}"
        );

        let e = read_image(&good, 10).expect_err("cap").to_string();
        assert!(
            e.contains("too large to read (at most 10 B are read"),
            "{e}"
        );
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().expect("tmp");
        let fifo = dir.path().join("pipe.png");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .expect("mkfifo");
        let e = read_image(&fifo, READ_CAP).expect_err("fifo").to_string();
        assert!(e.contains("a named pipe (FIFO), not a regular file"), "{e}");
    }
}
