//! Tests of the schema: the sample body, every range edge, the sibling models' differences,
//! switching models, validation messages, `--set` parsing, nudges and paths.

use super::*;
use serde_json::json;

/// The request body of the user's sample (`shared/reference/000_...txt`), with its one
/// `// "binary_data_base64": []` comment line removed.
const SAMPLE_BODY: &str = r#"{
"req_key": "high_aes_ip_v20",
"image_urls": ["https://xxx"],
"prompt": "Vast armies charging forward",
"desc_pushback": true,
"seed": -1,
"scale": 3.5,
"ddim_steps": 9,
"width": 512,
"height": 512,
"cfg_rescale": 0.7,
"ref_ip_weight": 0.7,
"ref_id_weight": 0.36,
"use_sr": true,
"return_url": true,
"logo_info": {
"add_logo": false,
"position": 0,
"language": 0,
"opacity": 0.3,
"logo_text_content": "This is a visible watermark"
}
}"#;

fn sample_body() -> Value {
    serde_json::from_str(SAMPLE_BODY).expect("sample parses")
}

fn valid_body() -> Value {
    let s = default_schema();
    let mut b = s.default_body();
    set_path(&mut b, "prompt", json!("a cat"));
    set_path(&mut b, "image_urls", json!(["https://example.com/a.jpg"]));
    s.normalize(&b)
}

#[test]
fn defaults_plus_prompt_and_url_reproduce_the_sample_exactly() {
    let s = default_schema();
    let mut b = s.default_body();
    s.apply_set(&mut b, "prompt=Vast armies charging forward")
        .expect("set prompt");
    s.apply_set(&mut b, "image_urls=https://xxx")
        .expect("set url");
    let b = s.normalize(&b);
    // Same keys in the same order, same nesting, same types, same values.
    assert_eq!(
        serde_json::to_string(&b).expect("ser"),
        serde_json::to_string(&sample_body()).expect("ser")
    );
}

#[test]
fn the_sample_itself_validates_clean() {
    let r = default_schema().validate(&sample_body());
    assert!(r.issues.is_empty(), "{:?}", r.issues);
}

#[test]
fn the_sample_in_the_reference_file_matches_the_embedded_copy() {
    // Guard against the embedded copy drifting from the user's sample when it is present.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/reference/000_5c2f26570e58dd89.txt"
    );
    let Ok(text) = std::fs::read_to_string(path) else {
        return; // The reference lives beside the repo, not in it.
    };
    let start = text.find("--data-raw '").expect("curl body") + "--data-raw '".len();
    let end = start + text[start..].find("}'").expect("end of body") + 1;
    let body: String = text[start..end]
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let v: Value = serde_json::from_str(&body).expect("reference body parses");
    assert_eq!(v, sample_body());
}

fn errors_for(body: &Value, field: &str) -> Vec<String> {
    default_schema()
        .validate(body)
        .for_field(field)
        .filter(|i| i.severity == Severity::Error)
        .map(|i| i.message.clone())
        .collect()
}

/// A body `s` accepts: its defaults, a prompt and, when it takes one, a reference image.
fn valid_body_for(s: &'static Schema) -> Value {
    let mut b = s.default_body();
    set_path(&mut b, "prompt", json!("a cat"));
    if s.images == ImageRule::ExactlyOne {
        set_path(&mut b, "image_urls", json!(["https://example.com/a.jpg"]));
    }
    s.normalize(&b)
}

/// The edges of every range in every schema table, and one step past each: generated from
/// the tables, so a new field or model is covered without touching this test.
#[test]
fn every_range_edge_is_accepted_and_one_past_it_rejected() {
    let mut checked = 0;
    for s in SCHEMAS {
        let clean = s.validate(&valid_body_for(s));
        assert!(clean.issues.is_empty(), "{}: {:?}", s.req_key, clean.issues);
        for f in s.fields {
            let (Some(range), Some(step)) = (f.range, f.step) else {
                continue;
            };
            let past = if f.kind == Kind::Int {
                1.0
            } else {
                step.min(0.01)
            };
            for (x, ok) in [
                (range.min, true),
                (range.max, true),
                (range.min - past, false),
                (range.max + past, false),
            ] {
                let mut b = valid_body_for(s);
                let v = if f.kind == Kind::Int {
                    Value::from(x as i64)
                } else {
                    float_value(x)
                };
                set_path(&mut b, f.name, v.clone());
                let errs: Vec<String> = s
                    .validate(&b)
                    .for_field(f.name)
                    .filter(|i| i.severity == Severity::Error)
                    .map(|i| i.message.clone())
                    .collect();
                assert_eq!(
                    errs.is_empty(),
                    ok,
                    "{}: {} = {v}: {errs:?}",
                    s.req_key,
                    f.name
                );
                if !ok {
                    assert!(
                        errs[0].contains(f.name) && errs[0].contains("outside"),
                        "{errs:?}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 4 * SCHEMAS.len(), "only {checked} edges checked");
}

#[test]
fn siblings_have_the_reference_differences() {
    let g20 = schema_for("high_aes_general_v20").expect("general 2.0");
    assert_eq!(g20.images, ImageRule::NoImage);
    assert_eq!(
        g20.field("width").and_then(|f| f.range),
        Some(Range::new(256.0, 680.0))
    );
    assert_eq!(g20.default_body()["model_version"], "general_v2.0");
    let pro = schema_for("high_aes_general_v20_L").expect("2.0 pro");
    assert_eq!(pro.default_body()["model_version"], "general_v2.0_L");
    for f in ["req_schedule_conf", "use_pre_llm"] {
        let field = pro.field(f).expect("pro field");
        assert_eq!(field.default, None, "{f}: the reference gives no default");
    }
    assert_eq!(
        pro.field("width").and_then(|f| f.range),
        Some(Range::new(256.0, 768.0))
    );
    let g21 = schema_for("high_aes_general_v21_L").expect("2.1");
    assert_eq!(g21.default_body()["ddim_steps"], 25);
    assert!(g21.field("use_pre_llm").is_some() && g21.field("use_sr").is_some());
    let g30 = schema_for("high_aes_general_v30l_zt2i").expect("3.0");
    assert!(g30.field("ddim_steps").is_none() && g30.field("use_sr").is_none());
    assert_eq!(g30.default_body()["scale"], 2.5);
    assert_eq!(g30.default_body()["width"], 1328);
    assert_eq!(g30.field("width").and_then(|f| f.range), None);
    let edit = schema_for("byteedit_v2.0").expect("seededit");
    assert_eq!(edit.images, ImageRule::ExactlyOne);
    assert_eq!(edit.default_body()["scale"], 0.5);
    assert_eq!(
        edit.field("scale").and_then(|f| f.range),
        Some(Range::new(0.0, 1.0))
    );
    assert!(edit.field("negative_prompt").is_some());
    // Without a range in the reference, any value of the field's JSON type is accepted.
    let mut b = valid_body_for(g30);
    set_path(&mut b, "width", json!(5000));
    assert!(g30.validate(&b).is_ok());
    set_path(&mut b, "width", json!("wide"));
    assert!(!g30.validate(&b).is_ok());
}

#[test]
fn the_default_schema_is_first_and_every_req_key_is_unique() {
    assert!(std::ptr::eq(SCHEMAS[0], default_schema()));
    let mut keys: Vec<&str> = SCHEMAS.iter().map(|s| s.req_key).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), SCHEMAS.len());
    for s in SCHEMAS {
        assert_eq!(s.default_body()["req_key"], s.req_key);
        assert!(s.field("prompt").is_some_and(|f| f.required));
    }
}

#[test]
fn switching_keeps_what_the_target_takes_and_reports_the_rest() {
    let from = default_schema();
    let mut b = valid_body_for(from);
    set_path(&mut b, "width", json!(600));
    set_path(&mut b, "scale", json!(4.5));
    set_path(&mut b, "extra", json!("kept"));
    let to = schema_for("high_aes_general_v30l_zt2i").expect("3.0");
    let sw = switch_schema(&b, to);
    let dropped: Vec<&str> = sw.dropped.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        dropped,
        [
            "image_urls",
            "desc_pushback",
            "ddim_steps",
            "cfg_rescale",
            "ref_ip_weight",
            "ref_id_weight",
            "use_sr"
        ]
    );
    assert_eq!(sw.dropped[0].1, json!(["https://example.com/a.jpg"]));
    assert_eq!(sw.body["req_key"], to.req_key);
    // User edits stay; untouched defaults follow the new model.
    assert_eq!(sw.body["width"], 600);
    assert_eq!(sw.body["height"], 1328);
    assert_eq!(sw.body["scale"], 4.5);
    assert_eq!(sw.body["prompt"], "a cat");
    assert_eq!(sw.body["extra"], "kept");
    assert_eq!(sw.defaulted, ["height"]);
    assert!(to.validate(&sw.body).is_ok());
    for (k, _) in &sw.dropped {
        assert!(get_path(&sw.body, k).is_none(), "{k} still in the body");
    }

    // And back: the fields the target lacks come back as its defaults.
    let back = switch_schema(&sw.body, from);
    assert!(back.dropped.is_empty(), "{:?}", back.dropped);
    assert_eq!(back.body["scale"], 4.5);
    assert_eq!(back.body["height"], 512, "3.0's default follows back");
    assert_eq!(back.body["ddim_steps"], 9);
    assert!(back.defaulted.contains(&"ddim_steps") && back.defaulted.contains(&"height"));
    // Without an image it is not yet valid: the image is the user's to give again.
    assert!(!from.validate(&back.body).is_ok());
}

#[test]
fn switching_to_seededit_keeps_the_image_and_takes_its_scale() {
    let edit = schema_for("byteedit_v2.0").expect("seededit");
    let sw = switch_schema(&valid_body_for(default_schema()), edit);
    assert_eq!(sw.body["image_urls"], json!(["https://example.com/a.jpg"]));
    assert_eq!(sw.body["scale"], 0.5);
    assert!(
        edit.validate(&sw.body).is_ok(),
        "{:?}",
        edit.validate(&sw.body)
    );
    let dropped: Vec<&str> = sw.dropped.iter().map(|(k, _)| k.as_str()).collect();
    assert!(dropped.contains(&"ddim_steps") && !dropped.contains(&"image_urls"));
    // A changed scale is kept, and validation shows it is out of the new range.
    let mut b = valid_body_for(default_schema());
    set_path(&mut b, "scale", json!(7.0));
    let sw = switch_schema(&b, edit);
    assert_eq!(sw.body["scale"], 7.0);
    assert!(!edit.validate(&sw.body).is_ok());
}

#[test]
fn fields_of_other_models_are_never_sent() {
    let s = default_schema();
    let mut b = valid_body();
    set_path(&mut b, "use_pre_llm", json!(true));
    set_path(&mut b, "model_version", json!("general_v2.0"));
    set_path(&mut b, "unheard_of", json!(1));
    let r = s.validate(&b);
    assert!(r.is_ok());
    let w: Vec<String> = r.warnings().map(|i| i.message.clone()).collect();
    assert!(
        w.iter().any(|m| m
            == "use_pre_llm is not a field of high_aes_ip_v20 (only of \
                high_aes_general_v20_L, high_aes_general_v21_L); it is not sent"),
        "{w:?}"
    );
    let n = s.normalize(&b);
    assert!(n.get("use_pre_llm").is_none() && n.get("model_version").is_none());
    assert_eq!(
        n["unheard_of"], 1,
        "fields no model knows are passed through"
    );

    let t2i = schema_for("high_aes_general_v20").expect("2.0");
    let mut b = valid_body_for(t2i);
    set_path(&mut b, "image_urls", json!(["https://a/b.jpg"]));
    let r = t2i.validate(&b);
    let w: Vec<&str> = r.warnings().map(|i| i.message.as_str()).collect();
    assert_eq!(
        w,
        ["high_aes_general_v20 takes no reference image; image_urls is not sent"]
    );
    assert!(t2i.normalize(&b).get("image_urls").is_none());
}

#[test]
fn preset_fields_are_parameters_only() {
    for s in SCHEMAS {
        for f in s.fields {
            let content =
                matches!(f.name, "req_key" | "prompt") || matches!(f.kind, Kind::ImageList(_));
            assert_eq!(f.in_preset(), !content, "{}: {}", s.req_key, f.name);
        }
    }
}

#[test]
fn markdown_all_has_every_schema() {
    let md = markdown_all();
    for s in SCHEMAS {
        assert!(md.contains(&s.markdown()), "{}", s.req_key);
        assert!(md.contains(&format!("### {} (`{}`)", s.title, s.req_key)));
    }
}

#[test]
fn messages_name_field_value_and_allowed_range() {
    let mut b = valid_body();
    set_path(&mut b, "width", json!(900));
    assert_eq!(
        errors_for(&b, "width"),
        ["width 900 is outside 256..768 px"]
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut b = valid_body();
    set_path(&mut b, "width", json!(900));
    set_path(&mut b, "scale", json!("high"));
    set_path(&mut b, "logo_info.position", json!(7));
    set_path(&mut b, "prompt", json!("  "));
    let r = default_schema().validate(&b);
    let fields: Vec<&str> = r.errors().map(|i| i.field.as_str()).collect();
    assert_eq!(fields, ["prompt", "scale", "width", "logo_info.position"]);
}

#[test]
fn recommended_range_gives_a_warning_not_an_error() {
    let mut b = valid_body();
    set_path(&mut b, "ref_id_weight", json!(0.8));
    let r = default_schema().validate(&b);
    assert!(r.is_ok());
    let w: Vec<_> = r.warnings().map(|i| i.message.clone()).collect();
    assert_eq!(w, ["ref_id_weight 0.8 is outside the recommended 0.2..0.4"]);
}

#[test]
fn image_count_rules() {
    let mut b = valid_body();
    set_path(
        &mut b,
        "image_urls",
        json!(["https://a/1.jpg", "https://a/2.jpg"]),
    );
    assert_eq!(
        errors_for(&b, "image_urls"),
        ["exactly one reference image is needed, got 2"]
    );
    remove_path(&mut b, "image_urls");
    assert_eq!(
        errors_for(&b, "image_urls"),
        ["exactly one reference image is needed (binary_data_base64 or image_urls), got none"]
    );
}

#[test]
fn base64_must_be_bare_and_an_image() {
    let mut b = valid_body();
    remove_path(&mut b, "image_urls");
    set_path(
        &mut b,
        "binary_data_base64",
        json!(["data:image/png;base64,iVBORw0KGgo="]),
    );
    let e = errors_for(&b, "binary_data_base64");
    assert!(
        e[0].contains("must be bare base64, not a data: URI"),
        "{e:?}"
    );
    set_path(&mut b, "binary_data_base64", json!(["not base64!!"]));
    assert!(errors_for(&b, "binary_data_base64")[0].contains("not valid base64"));
    set_path(&mut b, "binary_data_base64", json!(["aGVsbG8="]));
    assert!(errors_for(&b, "binary_data_base64")[0].contains("not a JPEG or PNG"));
    set_path(&mut b, "binary_data_base64", json!(["iVBORw0KGgo="]));
    assert!(errors_for(&b, "binary_data_base64").is_empty());
}

#[test]
fn types_are_checked() {
    let mut b = valid_body();
    set_path(&mut b, "width", json!(512.5));
    set_path(&mut b, "use_sr", json!("yes"));
    set_path(&mut b, "image_urls", json!(["ftp://x/y"]));
    set_path(&mut b, "req_key", json!("other"));
    let r = default_schema().validate(&b);
    let msgs: Vec<String> = r.errors().map(|i| i.message.clone()).collect();
    assert!(
        msgs.contains(&"width must be a whole number, got 512.5".to_owned()),
        "{msgs:?}"
    );
    assert!(msgs.contains(&"use_sr must be true or false, got \"yes\"".to_owned()));
    assert!(msgs.iter().any(|m| m.contains("must be an http(s) URL")));
    assert!(
        msgs.iter()
            .any(|m| m.contains("req_key must be \"high_aes_ip_v20\""))
    );
}

#[test]
fn unknown_fields_warn_and_are_kept_after_known_ones() {
    let s = default_schema();
    let mut b = valid_body();
    set_path(&mut b, "extra", json!(1));
    set_path(&mut b, "logo_info.size", json!(2));
    let r = s.validate(&b);
    assert!(r.is_ok());
    let warned: Vec<&str> = r.warnings().map(|i| i.field.as_str()).collect();
    assert_eq!(warned, ["logo_info.size", "extra"]);
    let n = s.normalize(&b);
    assert_eq!(n.get("extra"), Some(&json!(1)));
    assert_eq!(get_path(&n, "logo_info.size"), Some(&json!(2)));
}

#[test]
fn set_parses_by_schema_type() {
    let s = default_schema();
    let mut b = s.default_body();
    s.apply_set(&mut b, "logo_info.add_logo=true")
        .expect("bool");
    s.apply_set(&mut b, "logo_info.position=top-left")
        .expect("enum label");
    s.apply_set(&mut b, "logo_info.language=1")
        .expect("enum value");
    s.apply_set(&mut b, "seed=42").expect("int");
    s.apply_set(&mut b, "scale=4").expect("float");
    s.apply_set(&mut b, "image_urls=[\"https://a/b.jpg\"]")
        .expect("array");
    assert_eq!(get_path(&b, "logo_info.add_logo"), Some(&json!(true)));
    assert_eq!(get_path(&b, "logo_info.position"), Some(&json!(2)));
    assert_eq!(get_path(&b, "logo_info.language"), Some(&json!(1)));
    assert_eq!(get_path(&b, "seed"), Some(&json!(42)));
    assert_eq!(get_path(&b, "scale"), Some(&json!(4.0)));
    assert_eq!(
        get_path(&b, "image_urls"),
        Some(&json!(["https://a/b.jpg"]))
    );
    let e = s.apply_set(&mut b, "seed=abc").expect_err("not an int");
    assert_eq!(e, "seed must be a whole number, got \"abc\"");
    let e = s.apply_set(&mut b, "nope=1").expect_err("unknown");
    assert!(e.starts_with("unknown field \"nope\" for high_aes_ip_v20; known fields: req_key"));
    let e = s.apply_set(&mut b, "seed").expect_err("no =");
    assert!(e.contains("FIELD=VALUE"));
    let e = s
        .apply_set(&mut b, "logo_info.position=middle")
        .expect_err("bad enum");
    assert!(e.contains("0=bottom-right, 1=bottom-left, 2=top-left, 3=top-right"));
}

#[test]
fn nudge_steps_clamps_toggles_and_cycles() {
    let s = default_schema();
    let scale = s.field("scale").expect("scale");
    assert_eq!(scale.nudge(None, 1), Some(json!(3.6)));
    assert_eq!(scale.nudge(Some(&json!(9.95)), 10), Some(json!(10.0)));
    assert_eq!(scale.nudge(Some(&json!(1.0)), -10), Some(json!(1.0)));
    let w = s.field("width").expect("width");
    assert_eq!(w.nudge(Some(&json!(760)), 1), Some(json!(768)));
    assert_eq!(w.nudge(Some(&json!(512)), -10), Some(json!(432)));
    let op = s.field("logo_info.opacity").expect("opacity");
    assert_eq!(op.nudge(Some(&json!(0.3)), 1), Some(json!(0.35)));
    let sr = s.field("use_sr").expect("use_sr");
    assert_eq!(sr.nudge(Some(&json!(true)), 1), Some(json!(false)));
    let pos = s.field("logo_info.position").expect("pos");
    assert_eq!(pos.nudge(Some(&json!(3)), 1), Some(json!(0)));
    assert_eq!(pos.nudge(Some(&json!(0)), -1), Some(json!(3)));
    assert_eq!(s.field("prompt").expect("prompt").nudge(None, 1), None);
}

#[test]
fn paths_set_get_remove() {
    let mut v = json!({});
    set_path(&mut v, "a.b", json!(1));
    assert_eq!(get_path(&v, "a.b"), Some(&json!(1)));
    assert_eq!(remove_path(&mut v, "a.b"), Some(json!(1)));
    assert_eq!(v, json!({}));
    let mut v = json!({"a": 5});
    set_path(&mut v, "a.b", json!(1));
    assert_eq!(v, json!({"a": {"b": 1}}));
}

#[test]
fn non_object_body_is_one_clear_error() {
    let r = default_schema().validate(&json!([1, 2]));
    assert_eq!(
        r.errors().map(|i| i.message.as_str()).collect::<Vec<_>>(),
        ["the request body must be a JSON object, got an array"]
    );
}

#[test]
fn markdown_lists_every_field_once() {
    let md = default_schema().markdown();
    for f in default_schema().fields {
        assert_eq!(
            md.matches(&format!("| `{}` |", f.name)).count(),
            1,
            "{}",
            f.name
        );
    }
    assert!(md.contains("| `width` | int | `512` | 256..768 px |"));
}
