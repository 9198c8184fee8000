//! Helpers for tests that read what volcv writes to a terminal: a byte sink for the crossterm
//! backend, finding escape sequences in the bytes, checking their payloads, a pseudo-terminal.

use std::sync::{Arc, Mutex};

/// What a crossterm backend writes, kept for the test to read.
#[derive(Clone, Default)]
pub struct Sink(pub Arc<Mutex<Vec<u8>>>);

impl Sink {
    /// Everything written since the last call.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().expect("sink"))
    }
}

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("sink").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where `needle` first occurs in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The complete sequences in `out` that start with `start` and end with `end`.
pub fn sequences<'a>(out: &'a [u8], start: &[u8], end: &[u8]) -> Vec<&'a [u8]> {
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(s) = find(&out[i..], start) {
        let from = i + s;
        let Some(e) = find(&out[from + start.len()..], end) else {
            break;
        };
        let to = from + start.len() + e + end.len();
        found.push(&out[from..to]);
        i = to;
    }
    found
}

/// Whether every kitty graphics command in `apcs` (`ESC _G keys ; payload ESC \`) has keys
/// of `key=value` pairs and a payload of whole base64.
pub fn kitty_commands_well_formed(apcs: &[&[u8]]) -> bool {
    apcs.iter().all(|s| {
        let Some(semi) = s.iter().position(|b| *b == b';') else {
            return false;
        };
        s[3..semi]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"=,".contains(b))
            && s[semi + 1..s.len() - 2]
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(b))
    })
}

/// Whether `dcs` (`ESC P params q data ESC \`) is a sixel image: numeric parameters, then
/// nothing but sixel data.
pub fn sixel_well_formed(dcs: &[u8]) -> bool {
    let Some(q) = dcs.iter().position(|b| *b == b'q') else {
        return false;
    };
    dcs[2..q].iter().all(|b| b.is_ascii_digit() || *b == b';')
        && dcs[q + 1..dcs.len() - 2]
            .iter()
            .all(|b| (0x3f..=0x7e).contains(b) || b"#;!$-\"0123456789".contains(b))
}

/// A new pseudo-terminal of `cols` x `rows` cells (and `px` pixels): its master and slave.
#[cfg(target_os = "linux")]
pub fn open_pty(cols: u16, rows: u16, px: (u16, u16)) -> (std::fs::File, std::fs::File) {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master =
        openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).expect("openpt");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let name = ptsname(&master, Vec::new()).expect("ptsname");
    rustix::termios::tcsetwinsize(
        &master,
        rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: px.0,
            ws_ypixel: px.1,
        },
    )
    .expect("window size");
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().expect("pty name"))
        .expect("open the pty");
    (std::fs::File::from(master), slave)
}
