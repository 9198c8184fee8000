//! The house plan, checked: the top-level modules import only from the layers below them
//! (ARCHITECTURE.md), the files of each directory module import each other without cycles, and
//! no source file is over 1,000 lines before its tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first; a module may import from lower layers only.
const LAYERS: &[&[&str]] = &[
    &["text", "clock"],
    &["api"],
    &["images"],
    &["mock", "store"],
    &["exchange"],
    &["sweep"],
    &["config"],
    &["presets"],
    &["tui"],
    &["cli"],
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)
            .expect("read src")
            .filter_map(Result::ok)
        {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The code of a file: its lines that are not comments (doc links name modules too).
fn code_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("read source")
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(str::to_owned)
        .collect()
}

/// The names that follow `prefix` in `line` (`crate::api::x` -> `api` for `crate::`).
fn names_after(line: &str, prefix: &str) -> Vec<String> {
    line.match_indices(prefix)
        .filter(|(i, _)| {
            // Not part of a longer path like `mycrate::`.
            line[..*i]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'))
        })
        .map(|(i, _)| {
            line[i + prefix.len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|n| !n.is_empty())
        .collect()
}

/// The top-level module a file belongs to (`src/api/client.rs` -> `api`, `src/text.rs` -> `text`).
fn top_module(path: &Path) -> String {
    let rel = path.strip_prefix(src()).expect("under src");
    let first = rel.components().next().expect("a component");
    Path::new(first.as_os_str())
        .file_stem()
        .expect("a name")
        .to_string_lossy()
        .into_owned()
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

#[test]
fn modules_import_only_from_lower_layers() {
    let mut breaches = BTreeSet::new();
    let mut unknown = BTreeSet::new();
    for file in rust_files(&src()) {
        let from = top_module(&file);
        if from == "lib" || from == "main" {
            continue;
        }
        let Some(from_layer) = layer_of(&from) else {
            unknown.insert(from.clone());
            continue;
        };
        for line in code_lines(&file) {
            for to in names_after(&line, "crate::") {
                if to == from {
                    continue;
                }
                match layer_of(&to) {
                    Some(l) if l < from_layer => {}
                    Some(_) => {
                        breaches.insert(format!(
                            "{}: {from} imports {to}",
                            file.strip_prefix(src()).expect("src").display()
                        ));
                    }
                    None => {
                        unknown.insert(to);
                    }
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "modules missing from LAYERS (and ARCHITECTURE.md): {unknown:?}"
    );
    assert!(
        breaches.is_empty(),
        "imports against the layers:\n{breaches:#?}"
    );
}

/// The sibling modules `file` (in directory module `dir`) refers to.
fn sibling_refs(file: &Path, dir: &Path, siblings: &BTreeSet<String>) -> BTreeSet<String> {
    let rel_dir = dir.strip_prefix(src()).expect("under src");
    let crate_path = format!("crate::{}::", rel_dir.to_string_lossy().replace('/', "::"));
    let is_mod_rs = file.file_name().is_some_and(|n| n == "mod.rs");
    let mut out = BTreeSet::new();
    for line in code_lines(file) {
        let mut names = names_after(&line, &crate_path);
        if is_mod_rs {
            names.extend(names_after(&line, "self::"));
        } else {
            names.extend(names_after(&line, "super::"));
        }
        for n in names {
            if siblings.contains(&n) {
                out.insert(n);
            }
        }
    }
    out
}

#[test]
fn the_files_of_each_directory_module_form_no_cycle() {
    let mut cycles = Vec::new();
    let mut dirs: Vec<PathBuf> = rust_files(&src())
        .into_iter()
        .filter(|f| f.file_name().is_some_and(|n| n == "mod.rs"))
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect();
    dirs.sort();
    for dir in dirs {
        // The files of this directory (not of subdirectories), by module name; `mod.rs` is the
        // parent and may use every child, so only the children's edges are checked.
        let mut files = BTreeMap::new();
        for e in std::fs::read_dir(&dir)
            .expect("read dir")
            .filter_map(Result::ok)
        {
            let p = e.path();
            let name = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if p.is_dir() && p.join("mod.rs").exists() {
                files.insert(name, p.join("mod.rs"));
            } else if p.extension().is_some_and(|x| x == "rs") && name != "mod" && name != "tests" {
                files.insert(name, p);
            }
        }
        let names: BTreeSet<String> = files.keys().cloned().collect();
        let edges: BTreeMap<String, BTreeSet<String>> = files
            .iter()
            .map(|(n, f)| {
                let mut refs = sibling_refs(f, &dir, &names);
                refs.remove(n);
                (n.clone(), refs)
            })
            .collect();
        // Depth-first search for a back edge.
        fn visit(
            n: &str,
            edges: &BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<String>,
            done: &mut BTreeSet<String>,
            found: &mut Vec<String>,
        ) {
            if let Some(i) = path.iter().position(|p| p == n) {
                let mut cycle = path[i..].to_vec();
                cycle.push(n.to_owned());
                found.push(cycle.join(" -> "));
                return;
            }
            if done.contains(n) {
                return;
            }
            path.push(n.to_owned());
            for m in edges.get(n).into_iter().flatten() {
                visit(m, edges, path, done, found);
            }
            path.pop();
            done.insert(n.to_owned());
        }
        let mut done = BTreeSet::new();
        let mut found = Vec::new();
        for n in edges.keys() {
            visit(n, &edges, &mut Vec::new(), &mut done, &mut found);
        }
        for c in found {
            cycles.push(format!(
                "{}: {c}",
                dir.strip_prefix(src()).expect("src").display()
            ));
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{cycles:#?}");
}

#[test]
fn no_source_file_is_over_1000_lines_before_its_tests() {
    let mut long = Vec::new();
    for file in rust_files(&src()) {
        let text = std::fs::read_to_string(&file).expect("read");
        let before_tests = text
            .lines()
            .take_while(|l| l.trim() != "#[cfg(test)]")
            .count();
        if before_tests > 1000 {
            long.push(format!(
                "{}: {before_tests} lines",
                file.strip_prefix(src()).expect("src").display()
            ));
        }
    }
    assert!(long.is_empty(), "files to split at their seams:\n{long:#?}");
}
