//! Models and presets as a user meets them: the real binary against the embedded mock on
//! 127.0.0.1, every model's defaults, model switches, and named presets in the config dir.

mod common;

use serde_json::{Value, json};
use std::path::Path;
use volcv::api::schema::{self, ImageRule, Kind, SCHEMAS};
use volcv::mock::{MockConfig, MockServer};

const API_KEY: &str = "sk-preset-SECRET-key-9911";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the binary with a clean environment: its own HOME and XDG dirs, no inherited keys.
fn volcv(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let out = common::volcv_with(home, env, args)
        .output()
        .expect("run volcv");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn volcv_async(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let home = home.to_owned();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        volcv(&home, &env, &args)
    })
    .await
    .expect("join")
}

async fn mock(cfg: MockConfig) -> MockServer {
    MockServer::start(MockConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        quiet: true,
        ..cfg
    })
    .await
    .expect("mock starts")
}

fn presets_file(home: &Path) -> std::path::PathBuf {
    home.join("config/volcv/presets.toml")
}

/// The JSON body printed by `send --dry-run` (after the blank line ending the headers).
fn dry_run_body(stdout: &str) -> Value {
    let (_, body) = stdout.split_once("\n\n").expect("headers then body");
    serde_json::from_str(body.trim()).expect("dry-run body is JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_model_default_body_succeeds_against_the_mock() {
    let home = tempfile::tempdir().expect("tmp");
    let server = mock(MockConfig::default()).await;
    let url = server.url();
    for s in SCHEMAS {
        let out = home.path().join(s.req_key);
        let mut args = vec![
            "send",
            "--endpoint",
            &url,
            "--auth",
            "none",
            "--req-key",
            s.req_key,
            "--set",
            "prompt=a lighthouse at dusk",
            "--set",
            "return_url=false",
            "--no-history",
            "--json",
            "--out",
            out.to_str().expect("utf8"),
        ];
        if s.images == ImageRule::ExactlyOne {
            args.extend(["--image", "https://example.com/ref.jpg"]);
        }
        let run = volcv_async(home.path(), &[], &args).await;
        assert_eq!(run.code, 0, "{}: {} {}", s.req_key, run.stdout, run.stderr);
        let j: Value = serde_json::from_str(run.stdout.trim()).expect("json");
        assert_eq!(j["code"], 10000, "{}: {j}", s.req_key);
        assert_eq!(j["warnings"], json!([]), "{}: {j}", s.req_key);
        let saved = j["images"][0].as_str().expect("one image saved");
        let img = image::open(saved).expect("decodes");
        // A model without sizes (SeedEdit) gets the mock's 512 px; use_sr doubles.
        let side = |name: &str| {
            let v = s.default_body()[name].as_u64().unwrap_or(512);
            let sr = s.default_body()["use_sr"] == true;
            u32::try_from(v).expect("small") * if sr { 2 } else { 1 }
        };
        assert_eq!(
            (img.width(), img.height()),
            (side("width"), side("height")),
            "{}",
            s.req_key
        );
    }
}

/// One step past each range edge of every model, sent raw to the mock: 50200 naming the field.
#[tokio::test(flavor = "multi_thread")]
async fn the_mock_refuses_out_of_range_values_of_every_model() {
    let server = mock(MockConfig::default()).await;
    let http = reqwest::Client::new();
    let endpoint = format!("{}?Action=CVProcess&Version=2022-08-31", server.url());
    let mut checked = 0;
    for s in SCHEMAS {
        for f in s.fields {
            let (Some(range), Some(step)) = (f.range, f.step) else {
                continue;
            };
            let int = f.kind == Kind::Int;
            let past = if int { 1.0 } else { step.min(0.01) };
            for x in [range.min - past, range.max + past] {
                let mut body = s.default_body();
                schema::set_path(&mut body, "prompt", json!("x"));
                if s.images == ImageRule::ExactlyOne {
                    schema::set_path(&mut body, "image_urls", json!(["https://e.com/a.jpg"]));
                }
                let v = if int {
                    json!(x as i64)
                } else {
                    schema::float_value(x)
                };
                schema::set_path(&mut body, f.name, v);
                let resp = http
                    .post(&endpoint)
                    .header("Content-Type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await
                    .expect("answer");
                assert_eq!(resp.status().as_u16(), 400, "{} {}", s.req_key, f.name);
                let j: Value =
                    serde_json::from_slice(&resp.bytes().await.expect("body")).expect("json");
                assert_eq!(j["code"], 50200, "{} {} = {x}: {j}", s.req_key, f.name);
                assert!(
                    j["message"].as_str().is_some_and(|m| m.contains(f.name)),
                    "{j}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 2 * SCHEMAS.len(), "{checked}");
}

#[test]
fn switching_a_request_file_to_another_model_drops_and_reports_fields() {
    let home = tempfile::tempdir().expect("tmp");
    let request = home.path().join("request.json");
    let mut body = schema::default_schema().default_body();
    schema::set_path(&mut body, "prompt", json!("a fox"));
    schema::set_path(&mut body, "image_urls", json!(["https://e.com/a.jpg"]));
    schema::set_path(&mut body, "scale", json!(6.5));
    std::fs::write(&request, body.to_string()).expect("write");
    let run = volcv(
        home.path(),
        &[],
        &[
            "send",
            request.to_str().expect("utf8"),
            "--set",
            "req_key=high_aes_general_v20",
            "--endpoint",
            "http://127.0.0.1:9/",
            "--auth",
            "none",
            "--dry-run",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "warning: high_aes_general_v20 does not take desc_pushback, cfg_rescale, \
             ref_ip_weight, ref_id_weight, image_urls; not sent"
        ),
        "{}",
        run.stderr
    );
    let sent = dry_run_body(&run.stdout);
    assert_eq!(sent["req_key"], "high_aes_general_v20");
    assert_eq!(sent["model_version"], "general_v2.0");
    assert_eq!(sent["scale"], 6.5, "the user's value is kept");
    for gone in [
        "image_urls",
        "desc_pushback",
        "cfg_rescale",
        "ref_id_weight",
    ] {
        assert!(sent.get(gone).is_none(), "{gone} sent: {sent}");
    }
    // A field only another model takes, written into a request file, is not sent either.
    let mut body = schema::default_schema().default_body();
    schema::set_path(&mut body, "prompt", json!("a fox"));
    schema::set_path(&mut body, "image_urls", json!(["https://e.com/a.jpg"]));
    schema::set_path(&mut body, "use_pre_llm", json!(true));
    std::fs::write(&request, body.to_string()).expect("write");
    let run = volcv(
        home.path(),
        &[],
        &[
            "send",
            request.to_str().expect("utf8"),
            "--endpoint",
            "http://127.0.0.1:9/",
            "--auth",
            "none",
            "--dry-run",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("use_pre_llm is not a field of high_aes_ip_v20")
    );
    assert!(dry_run_body(&run.stdout).get("use_pre_llm").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn preset_round_trip_through_the_cli_and_the_mock() {
    let home = tempfile::tempdir().expect("tmp");
    let h = home.path();
    let run = volcv(h, &[], &["preset", "list"]);
    assert_eq!(run.code, 0);
    assert!(run.stderr.contains("no presets yet"), "{}", run.stderr);

    let run = volcv(
        h,
        &[],
        &[
            "preset",
            "save",
            "fast draft",
            "--req-key",
            "high_aes_general_v21_L",
            "--set",
            "ddim_steps=12",
            "--set",
            "use_pre_llm=true",
            "--set",
            "logo_info.position=top-left",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("saved preset \"fast draft\" (high_aes_general_v21_L, 3 values)"),
        "{}",
        run.stderr
    );
    let text = std::fs::read_to_string(presets_file(h)).expect("presets file");
    assert!(
        text.contains(
            "[\"fast draft\"]\nreq_key = \"high_aes_general_v21_L\"\nuse_pre_llm = true\n\
             ddim_steps = 12\nlogo_info.position = 2\n"
        ),
        "{text}"
    );
    let run = volcv(h, &[], &["preset", "save", "fast draft"]);
    assert_eq!(run.code, 2, "an existing preset needs --force");
    assert!(run.stderr.contains("--force"), "{}", run.stderr);

    let run = volcv(h, &[], &["preset", "show", "fast draft", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(j["req_key"], "high_aes_general_v21_L");
    assert_eq!(
        j["values"],
        json!({"use_pre_llm": true, "ddim_steps": 12, "logo_info.position": 2})
    );
    assert_eq!(j["patch"]["logo_info"]["position"], 2);

    // Applied before --set, from the model's defaults (the default model's request switches).
    let server = mock(MockConfig::default()).await;
    let url = server.url();
    let out = h.join("out");
    let run = volcv_async(
        h,
        &[],
        &[
            "send",
            "--endpoint",
            &url,
            "--auth",
            "none",
            "--preset",
            "fast draft",
            "--set",
            "ddim_steps=20",
            "--set",
            "prompt=a harbour at night",
            "--set",
            "return_url=false",
            "--no-history",
            "--json",
            "--out",
            out.to_str().expect("utf8"),
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    let args = [
        "send",
        "--endpoint",
        "http://127.0.0.1:9/",
        "--auth",
        "none",
        "--preset",
        "fast draft",
        "--set",
        "ddim_steps=20",
        "--set",
        "prompt=p",
        "--dry-run",
    ];
    let run = volcv(h, &[], &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let sent = dry_run_body(&run.stdout);
    assert_eq!(sent["req_key"], "high_aes_general_v21_L");
    assert_eq!(sent["ddim_steps"], 20, "--set wins over the preset");
    assert_eq!(sent["use_pre_llm"], true);
    assert_eq!(sent["logo_info"]["position"], 2);

    // A preset with --req-key of another model is a usage error.
    let run = volcv(
        h,
        &[],
        &[
            "send",
            "--preset",
            "fast draft",
            "--req-key",
            "byteedit_v2.0",
            "--auth",
            "none",
            "--dry-run",
        ],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("disagree"), "{}", run.stderr);

    let run = volcv(h, &[], &["preset", "rename", "fast draft", "fast"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = volcv(h, &[], &["preset", "list"]);
    assert!(
        run.stdout.starts_with("fast  high_aes_general_v21_L"),
        "{}",
        run.stdout
    );
    let run = volcv(h, &[], &["preset", "rm", "fast"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = volcv(h, &[], &["preset", "show", "fast"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no preset \"fast\""), "{}", run.stderr);
}

#[test]
fn a_malformed_presets_file_names_the_file_and_line() {
    let home = tempfile::tempdir().expect("tmp");
    let h = home.path();
    let file = presets_file(h);
    std::fs::create_dir_all(file.parent().expect("dir")).expect("mkdir");
    let bad = "# mine\n[ok]\nreq_key = \"high_aes_ip_v20\"\n\n[broken\nscale = 3\n";
    std::fs::write(&file, bad).expect("write");
    for args in [
        &["preset", "list"][..],
        &["preset", "save", "x"],
        &["send", "--preset", "ok", "--auth", "none", "--dry-run"],
    ] {
        let run = volcv(h, &[], args);
        assert_eq!(run.code, 2, "{args:?}");
        assert!(
            run.stderr
                .contains(&format!("presets file {}, line 5,", file.display())),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert_eq!(std::fs::read_to_string(&file).expect("file"), bad);

    // A value out of range: file, line, preset and field.
    std::fs::write(
        &file,
        "[wide]\nreq_key = \"high_aes_general_v20\"\n# too wide\nwidth = 700\n",
    )
    .expect("write");
    let run = volcv(
        h,
        &[],
        &["send", "--preset", "wide", "--auth", "none", "--dry-run"],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(&format!(
            "{}:4: preset \"wide\", field width: width 700 is outside 256..680 px",
            file.display()
        )),
        "{}",
        run.stderr
    );
    let run = volcv(h, &[], &["preset", "list"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.contains("INVALID: line 4, field width"),
        "{}",
        run.stdout
    );
}

#[test]
fn presets_never_contain_secrets() {
    let home = tempfile::tempdir().expect("tmp");
    let h = home.path();
    let config = h.join("config/volcv/config.toml");
    std::fs::create_dir_all(config.parent().expect("dir")).expect("mkdir");
    std::fs::write(
        &config,
        format!(
            "[profiles.default]\nendpoint = \"http://127.0.0.1:9/\"\napi_key = \"{API_KEY}\"\n"
        ),
    )
    .expect("config");
    let request = h.join("request.json");
    let mut body = schema::default_schema().default_body();
    schema::set_path(&mut body, "prompt", json!("secret prompt text"));
    schema::set_path(&mut body, "binary_data_base64", json!(["iVBORw0KGgo="]));
    schema::set_path(
        &mut body,
        "image_urls",
        json!(["https://cdn.example.com/a.jpg?x-signature=SIGSECRET"]),
    );
    schema::set_path(&mut body, "api_key", json!(API_KEY));
    schema::set_path(
        &mut body,
        "Authorization",
        json!(format!("Bearer {API_KEY}")),
    );
    schema::set_path(&mut body, "seed", json!(42));
    std::fs::write(&request, body.to_string()).expect("request");
    let run = volcv(
        h,
        &[("VOLCV_API_KEY", API_KEY)],
        &["preset", "save", "mine", request.to_str().expect("utf8")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "not kept (a preset holds parameters only): prompt, binary_data_base64, image_urls, \
             api_key, Authorization"
        ),
        "{}",
        run.stderr
    );
    for out in [&run.stdout, &run.stderr] {
        assert!(
            !out.contains(API_KEY) && !out.contains("SIGSECRET"),
            "{out}"
        );
    }
    let text = std::fs::read_to_string(presets_file(h)).expect("presets");
    for secret in [API_KEY, "SIGSECRET", "iVBORw0KGgo", "secret prompt"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(
        text.contains("[mine]\nreq_key = \"high_aes_ip_v20\"\nseed = 42\n"),
        "{text}"
    );
}

#[test]
fn schema_command_covers_every_model() {
    let home = tempfile::tempdir().expect("tmp");
    let run = volcv(home.path(), &[], &["schema", "--all", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let all: Value = serde_json::from_str(&run.stdout).expect("json");
    let keys: Vec<&str> = all
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|s| s["req_key"].as_str())
        .collect();
    assert_eq!(keys, SCHEMAS.iter().map(|s| s.req_key).collect::<Vec<_>>());
    for s in SCHEMAS {
        let run = volcv(
            home.path(),
            &[],
            &["schema", "--req-key", s.req_key, "--markdown"],
        );
        assert_eq!(run.code, 0);
        assert_eq!(run.stdout, s.markdown());
    }
    let run = volcv(home.path(), &[], &["schema", "--all", "--markdown"]);
    assert_eq!(run.stdout, schema::markdown_all());
    let run = volcv(home.path(), &[], &["schema", "--req-key", "nope"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("known: high_aes_ip_v20, high_aes_general_v20")
    );
}
