//! The README's generated blocks must equal what the code generates, so the docs cannot drift
//! from the schema, the exit codes and (later) the key map and mock triggers.

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md")
}

/// The text between `<!-- generated:NAME -->` and the next `<!-- /generated -->`.
fn block(readme: &str, name: &str) -> String {
    let start_marker = format!("<!-- generated:{name} -->\n");
    let start = readme
        .find(&start_marker)
        .unwrap_or_else(|| panic!("README has no {start_marker:?} block"))
        + start_marker.len();
    let len = readme[start..]
        .find("<!-- /generated -->")
        .expect("block is closed");
    readme[start..start + len].to_owned()
}

#[test]
fn parameter_tables_are_the_schemas() {
    let expected = volcv::api::schema::markdown_all();
    assert_eq!(
        block(&readme(), "schema"),
        expected,
        "README parameter tables are stale: paste `cargo run -- schema --all --markdown` into them"
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
        block(&readme(), "exit-codes"),
        format!("```\n{}\n```\n", volcv::cli::EXIT_CODES_HELP)
    );
}

#[test]
fn every_env_variable_the_code_reads_is_documented() {
    let r = readme();
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
            "README does not mention {var}"
        );
    }
}

#[test]
fn mock_section_is_the_mock_help() {
    assert_eq!(
        block(&readme(), "mock-help"),
        format!("```\n{}```\n", volcv::mock::MOCK_HELP)
    );
}
