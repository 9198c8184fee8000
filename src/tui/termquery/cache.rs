//! Remembered answers of the start-up query, per terminal, in `<state dir>/terminals.json`:
//! the next start picks the protocol at once (the query still runs and refreshes them).

use crate::tui::preview::EnvHints;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The remembered answers' file in the state dir.
pub(super) const CACHE_FILE: &str = "terminals.json";

/// Most terminals remembered.
const CACHE_MAX: usize = 32;

/// The remembered answers' format version.
const CACHE_VERSION: u32 = 1;

/// One terminal's remembered answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Remembered {
    /// It answered the kitty graphics query with OK.
    pub kitty: bool,
    /// It reported sixel.
    pub sixel: bool,
    /// Its cell size in pixels.
    pub cell: Option<(u16, u16)>,
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct CacheFile {
    version: u32,
    terminals: BTreeMap<String, Remembered>,
}

/// Which terminal an answer belongs to.
pub fn cache_key(hints: &EnvHints, tmux_client: &str) -> String {
    format!(
        "TERM={} TERM_PROGRAM={} tmux={} client={tmux_client}",
        hints.term, hints.term_program, hints.tmux
    )
}

fn read_cache(path: &Path) -> Option<CacheFile> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::info!("{}: not read ({e}); ignored", path.display());
            return None;
        }
    };
    match serde_json::from_str::<CacheFile>(&text) {
        Ok(c) if c.version == CACHE_VERSION => Some(c),
        Ok(c) => {
            tracing::info!(
                "{}: format version {} is not {CACHE_VERSION}; ignored",
                path.display(),
                c.version
            );
            None
        }
        Err(e) => {
            tracing::info!(
                "{}: not a terminal answer file ({e}); ignored",
                path.display()
            );
            None
        }
    }
}

/// The answer remembered for terminal `key`, if any (a missing, corrupt or foreign file is
/// ignored with a log line).
pub fn load_answer(path: &Path, key: &str) -> Option<Remembered> {
    read_cache(path)?.terminals.get(key).copied()
}

/// Remembers `answer` for terminal `key` (written to a temporary file, then renamed; failures
/// are logged, never shown).
pub fn save_answer(path: &Path, key: &str, answer: Remembered) {
    let mut file = read_cache(path).unwrap_or_default();
    file.version = CACHE_VERSION;
    if file.terminals.get(key) == Some(&answer) {
        return;
    }
    file.terminals.insert(key.to_owned(), answer);
    while file.terminals.len() > CACHE_MAX {
        let Some(k) = file.terminals.keys().find(|k| *k != key).cloned() else {
            break;
        };
        file.terminals.remove(&k);
    }
    let write = || -> std::io::Result<()> {
        let dir = path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join(format!(".{CACHE_FILE}.{}", std::process::id()));
        let text = serde_json::to_string_pretty(&file).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)
    };
    if let Err(e) = write() {
        tracing::info!("{}: answer not remembered ({e})", path.display());
    }
}
