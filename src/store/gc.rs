//! Forgetting: deleting entries, pruning old ones, and removing the image files no entry
//! references any more (with crash debris).

use crate::clock::now_ms;
use rusqlite::Transaction;
use std::path::PathBuf;
use std::time::Duration;

use super::queries::{SUMMARY_COLUMNS, summary_from_row};
use super::{DeleteReport, PruneReport, Store, StoreError, Summary};

/// The entries a prune deletes (`?1`: the cutoff in Unix ms): older, not starred, not pending.
const PRUNABLE: &str = "e.created_ms < ?1 AND e.star = 0 AND e.outcome != 'pending'";

/// Temporary image files older than this are debris of a crashed writer.
const TEMP_GRACE: Duration = Duration::from_secs(3600);

impl Store {
    /// Removes image files no entry references any more, among `candidates` (or all files in
    /// the image dir when `None`). Runs inside a write transaction so no writer can link a
    /// file between the check and the removal (writers re-check their files under the lock).
    fn collect_garbage(
        &self,
        tx: &Transaction<'_>,
        candidates: Option<&[String]>,
    ) -> Result<(usize, u64), StoreError> {
        let mut files: Vec<PathBuf> = Vec::new();
        match candidates {
            Some(shas) => {
                for sha in shas {
                    let mut st = tx
                        .prepare_cached("SELECT 1 FROM entry_images WHERE sha256 = ?1 LIMIT 1")
                        .map_err(|e| self.sql(e))?;
                    let used: bool = st.exists([sha]).map_err(|e| self.sql(e))?;
                    if !used {
                        files.extend(self.files_of(sha)?);
                    }
                }
            }
            None => {
                let rd = std::fs::read_dir(self.images.dir()).map_err(|e| StoreError::Dir {
                    path: self.images.dir().to_path_buf(),
                    source: e,
                })?;
                let mut st = tx
                    .prepare_cached("SELECT 1 FROM entry_images WHERE sha256 = ?1 LIMIT 1")
                    .map_err(|e| self.sql(e))?;
                for ent in rd.filter_map(Result::ok) {
                    let name = ent.file_name().to_string_lossy().into_owned();
                    let path = ent.path();
                    if name.starts_with('.') && name.ends_with(".tmp") {
                        let old = ent
                            .metadata()
                            .and_then(|m| m.modified())
                            .ok()
                            .and_then(|t| t.elapsed().ok())
                            .is_some_and(|age| age > TEMP_GRACE);
                        if old {
                            files.push(path);
                        }
                        continue;
                    }
                    let Some((sha, _)) = name.split_once('.') else {
                        continue;
                    };
                    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                        continue;
                    }
                    if !st.exists([sha]).map_err(|e| self.sql(e))? {
                        files.push(path);
                    }
                }
            }
        }
        let mut removed = 0;
        let mut bytes = 0;
        for f in files {
            let size = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
            if std::fs::remove_file(&f).is_ok() {
                removed += 1;
                bytes += size;
            }
        }
        Ok((removed, bytes))
    }

    /// The files in the image dir named after `sha` (whatever their extension).
    fn files_of(&self, sha: &str) -> Result<Vec<PathBuf>, StoreError> {
        let rd = std::fs::read_dir(self.images.dir()).map_err(|e| StoreError::Dir {
            path: self.images.dir().to_path_buf(),
            source: e,
        })?;
        let prefix = format!("{sha}.");
        Ok(rd
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path())
            .collect())
    }

    /// Deletes entries, and the image files only they used.
    pub fn delete(&self, ids: &[i64]) -> Result<DeleteReport, StoreError> {
        self.write(std::iter::empty(), |tx, _seq| {
            let mut report = DeleteReport::default();
            let mut shas = Vec::new();
            for &id in ids {
                {
                    let mut st = tx
                        .prepare_cached(
                            "SELECT DISTINCT sha256 FROM entry_images WHERE entry_id = ?1",
                        )
                        .map_err(|e| self.sql(e))?;
                    let found: Vec<String> = st
                        .query_map([id], |r| r.get(0))
                        .map_err(|e| self.sql(e))?
                        .collect::<rusqlite::Result<_>>()
                        .map_err(|e| self.sql(e))?;
                    shas.extend(found);
                }
                let n = tx
                    .execute("DELETE FROM entries WHERE id = ?1", [id])
                    .map_err(|e| self.sql(e))?;
                if n > 0 {
                    report.removed.push(id);
                } else {
                    report.missing.push(id);
                }
            }
            shas.sort();
            shas.dedup();
            report.files_removed = self.collect_garbage(tx, Some(&shas))?.0;
            Ok(report)
        })
    }

    /// Which of `ids` no entry has, in the order given.
    pub fn missing(&self, ids: &[i64]) -> Result<Vec<i64>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached("SELECT 1 FROM entries WHERE id = ?1")
            .map_err(|e| self.sql(e))?;
        let mut missing = Vec::new();
        for &id in ids {
            if !st.exists([id]).map_err(|e| self.sql(e))? {
                missing.push(id);
            }
        }
        Ok(missing)
    }

    /// The oldest creation time (Unix ms) an entry may have to survive a prune of
    /// `older_than`.
    fn prune_cutoff(older_than: Duration) -> Result<i64, StoreError> {
        let age = i64::try_from(older_than.as_millis()).map_err(|_| StoreError::Invalid {
            field: "older_than",
            detail: format!("{older_than:?} is too long"),
        })?;
        Ok(now_ms().saturating_sub(age))
    }

    /// The entries [`Store::prune`] would delete now, oldest first (for a dry run).
    pub fn prunable(&self, older_than: Duration) -> Result<Vec<Summary>, StoreError> {
        let cutoff = Self::prune_cutoff(older_than)?;
        let sql = format!("SELECT {SUMMARY_COLUMNS} FROM entries e WHERE {PRUNABLE} ORDER BY e.id");
        let conn = self.conn();
        let mut st = conn.prepare_cached(&sql).map_err(|e| self.sql(e))?;
        st.query_map([cutoff], summary_from_row)
            .map_err(|e| self.sql(e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sql(e))
    }

    /// Deletes entries created more than `older_than` ago (starred and pending entries are
    /// kept), then every image file no entry references and temporary files left by crashed
    /// writers.
    pub fn prune(&self, older_than: Duration) -> Result<PruneReport, StoreError> {
        let cutoff = Self::prune_cutoff(older_than)?;
        self.write(std::iter::empty(), |tx, _seq| {
            let mut removed: Vec<i64> = {
                let mut st = tx
                    .prepare(&format!(
                        "DELETE FROM entries AS e WHERE {PRUNABLE} RETURNING id"
                    ))
                    .map_err(|e| self.sql(e))?;
                st.query_map([cutoff], |r| r.get(0))
                    .map_err(|e| self.sql(e))?
                    .collect::<rusqlite::Result<_>>()
                    .map_err(|e| self.sql(e))?
            };
            removed.sort_unstable();
            let (files_removed, bytes_freed) = self.collect_garbage(tx, None)?;
            Ok(PruneReport {
                entries_removed: removed.len(),
                removed,
                files_removed,
                bytes_freed,
            })
        })
    }
}
