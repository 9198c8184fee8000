//! The documentation (README.md and the reference pages in docs/) must agree with the code and
//! with itself: each generated block equals what the code generates (the parameter tables, the
//! exit codes, the mock help, the key map), every env variable the code reads is documented,
//! every local link resolves to a file and a heading, and the README indexes every page.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A documentation file's text, by its path from the crate root (`"docs/models.md"`).
fn doc(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The text between `<!-- generated:NAME -->` and the next `<!-- /generated -->` in `path`.
fn block(path: &str, name: &str) -> String {
    let text = doc(path);
    let start_marker = format!("<!-- generated:{name} -->\n");
    let start = text
        .find(&start_marker)
        .unwrap_or_else(|| panic!("{path} has no {start_marker:?} block"))
        + start_marker.len();
    let len = text[start..]
        .find("<!-- /generated -->")
        .unwrap_or_else(|| panic!("{path}: the {name} block is not closed"));
    text[start..start + len].to_owned()
}

/// README.md and every docs/*.md page, as paths from the crate root, sorted.
fn doc_files() -> Vec<String> {
    let mut files = vec!["README.md".to_owned()];
    let mut pages: Vec<String> = std::fs::read_dir(Path::new(ROOT).join("docs"))
        .expect("docs/")
        .map(|e| {
            e.expect("docs/ entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    pages.sort();
    files.extend(pages);
    files
}

/// The lines of a Markdown text that are outside fenced code blocks.
fn prose_lines(text: &str) -> Vec<&str> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            out.push(line);
        }
    }
    out
}

/// GitHub's anchor for a heading: lower case, letters, digits, `-` and `_` kept, spaces turned
/// into `-`, everything else (backticks, dots, parentheses, colons) dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// Every anchor a page's headings give, with GitHub's `-1`, `-2`... for repeated headings.
fn anchors(text: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    for line in prose_lines(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        let Some(title) = line[hashes..].strip_prefix(' ') else {
            continue;
        };
        if !(1..=6).contains(&hashes) {
            continue;
        }
        let base = slug(title);
        let mut anchor = base.clone();
        let mut n = 0;
        while !seen.insert(anchor.clone()) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
    }
    seen
}

/// Every link target (`[text](target)` and `![alt](target)`) outside code blocks and code spans.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose_lines(text) {
        // Drop code spans, so `[a](b)` written as code is not taken for a link.
        let prose: String = line
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, part)| part)
            .collect::<Vec<_>>()
            .join(" ");
        let mut rest = prose.as_str();
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let end = rest.find(')').unwrap_or(rest.len());
            targets.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    targets
}

#[test]
fn parameter_tables_are_the_schemas() {
    let expected = volcv::api::schema::markdown_all();
    assert_eq!(
        block("docs/models.md", "schema"),
        expected,
        "docs/models.md parameter tables are stale: paste `cargo run -- schema --all --markdown` into them"
    );
    // Every model has its table (markdown_all is built from SCHEMAS, so this guards the block).
    for s in volcv::api::schema::SCHEMAS {
        assert!(
            expected.contains(&format!("`{}`: {}.", s.req_key, s.title)),
            "{}",
            s.req_key
        );
    }
}

#[test]
fn exit_code_table_is_the_help_text() {
    assert_eq!(
        block("docs/send.md", "exit-codes"),
        format!("```\n{}\n```\n", volcv::cli::EXIT_CODES_HELP)
    );
}

#[test]
fn every_env_variable_the_code_reads_is_documented() {
    let r = doc("docs/configuration.md");
    for var in [
        volcv::config::ENV_CONFIG,
        volcv::config::ENV_DATA_DIR,
        volcv::config::ENV_ENDPOINT,
        volcv::config::ENV_API_KEY,
        volcv::config::ENV_ACCESS_KEY,
        volcv::config::ENV_SECRET_KEY,
    ] {
        assert!(
            r.contains(&format!("`{var}`")),
            "docs/configuration.md does not mention {var}"
        );
    }
}

#[test]
fn mock_section_is_the_mock_help() {
    assert_eq!(
        block("docs/mock.md", "mock-help"),
        format!("```\n{}```\n", volcv::mock::MOCK_HELP)
    );
}

#[test]
fn key_table_is_the_key_map() {
    assert_eq!(
        block("docs/tui.md", "keys"),
        volcv::tui::key_table_markdown(),
        "docs/tui.md key table is stale: paste volcv::tui::key_table_markdown() into it"
    );
}

#[test]
fn every_generated_block_is_in_one_file_only() {
    for name in ["schema", "exit-codes", "mock-help", "keys"] {
        let marker = format!("<!-- generated:{name} -->");
        let holders: Vec<String> = doc_files()
            .into_iter()
            .filter(|f| doc(f).contains(&marker))
            .collect();
        assert_eq!(holders.len(), 1, "{marker} is in {holders:?}");
    }
}

#[test]
fn every_local_link_resolves_to_a_file_and_a_heading() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in doc_files() {
        let text = doc(&file);
        let dir = Path::new(&file).parent().unwrap_or(Path::new(""));
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, anchor) = match target.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (target.as_str(), None),
            };
            let linked: PathBuf = if path.is_empty() {
                PathBuf::from(&file)
            } else {
                dir.join(path)
            };
            let full = Path::new(ROOT).join(&linked);
            if !full.exists() {
                broken.push(format!("{file}: ({target}): no file {}", linked.display()));
                continue;
            }
            if let Some(anchor) = anchor {
                let page = std::fs::read_to_string(&full).unwrap_or_default();
                if !anchors(&page).contains(anchor) {
                    broken.push(format!(
                        "{file}: ({target}): no heading #{anchor} in {}",
                        linked.display()
                    ));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(
        checked > 20,
        "only {checked} local links found: is the scan broken?"
    );
}

#[test]
fn the_readme_links_every_docs_page() {
    let targets = link_targets(&doc("README.md"));
    for page in doc_files().into_iter().skip(1) {
        assert!(
            targets
                .iter()
                .any(|t| t.split('#').next() == Some(page.as_str())),
            "README.md does not link {page}"
        );
    }
}

#[test]
fn the_readme_stays_short_and_keeps_the_quick_start() {
    let readme = doc("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= 300,
        "README.md has {lines} lines: move reference text into docs/"
    );
    for needed in [
        "cargo run --release -- --demo\ncargo test --locked\n",
        "cargo install --locked --path .",
        "](docs/inline-preview.png)",
    ] {
        assert!(readme.contains(needed), "README.md lost {needed:?}");
    }
}

#[test]
fn slugs_follow_github() {
    assert_eq!(
        slug("`volcv curl`: curl in and out"),
        "volcv-curl-curl-in-and-out"
    );
    assert_eq!(slug("Sweeps (`volcv sweep`)"), "sweeps-volcv-sweep");
    assert_eq!(
        slug("General 2.0 text-to-image (`high_aes_general_v20`)"),
        "general-20-text-to-image-high_aes_general_v20"
    );
    let repeated = anchors("# A\n## A\n```\n# not a heading\n```\n#no\n");
    assert_eq!(repeated, HashSet::from(["a".to_owned(), "a-1".to_owned()]));
}
