//! Property-style checks: the parsers that take user and network input never panic, whatever
//! they are given. A deterministic generator keeps failures reproducible (the seed is printed).

use serde_json::{Value, json};
use volcv::api::response::{parse_go_duration, parse_response};
use volcv::api::schema::{self, default_schema};

/// xorshift64*: small, deterministic, good enough to shake parsers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const ATOMS: &[&str] = &[
    "",
    "0",
    "-1",
    "1e309",
    "NaN",
    "inf",
    "-0",
    "3.5",
    "4294967296",
    "9223372036854775808",
    "true",
    "false",
    "yes",
    "top-left",
    "[",
    "]",
    "[\"x\"]",
    "{",
    "\"",
    "\\",
    "=",
    "==",
    ".",
    "\u{0}",
    "\u{1b}[31m",
    "生成",
    "\u{202e}",
    "data:image/png;base64,",
    "https://",
    "a.b.c",
    "logo_info",
    "logo_info.",
    ".opacity",
    " ",
    "\n",
    "\t",
    "%",
    "é",
    "🦀",
];

fn random_text(rng: &mut Rng) -> String {
    let n = rng.below(6);
    (0..n).map(|_| rng.pick(ATOMS)).collect()
}

fn random_json(rng: &mut Rng, depth: u32) -> Value {
    match (rng.below(if depth > 3 { 5 } else { 8 }), depth) {
        (0, _) => Value::Null,
        (1, _) => json!(rng.below(2) == 0),
        (2, _) => json!((rng.next() as i64) >> rng.below(64)),
        (3, _) => json!(f64::from_bits(rng.next()).clamp(-1e300, 1e300)),
        (4, _) => json!(random_text(rng)),
        (5, d) => Value::Array((0..rng.below(4)).map(|_| random_json(rng, d + 1)).collect()),
        (_, d) => {
            let mut m = serde_json::Map::new();
            for _ in 0..rng.below(5) {
                let key = if rng.below(2) == 0 {
                    let f = default_schema().fields;
                    f[rng.below(f.len())]
                        .name
                        .split('.')
                        .next()
                        .unwrap_or("x")
                        .to_owned()
                } else {
                    random_text(rng)
                };
                m.insert(key, random_json(rng, d + 1));
            }
            Value::Object(m)
        }
    }
}

#[test]
fn set_parsing_and_validation_never_panic() {
    let s = default_schema();
    let mut rng = Rng(0x5EED_0001);
    for _ in 0..20_000 {
        let mut body = if rng.below(3) == 0 {
            random_json(&mut rng, 0)
        } else {
            s.default_body()
        };
        let f = &s.fields[rng.below(s.fields.len())];
        let assignment = match rng.below(3) {
            0 => format!("{}={}", f.name, random_text(&mut rng)),
            1 => random_text(&mut rng),
            _ => format!("{}={}", random_text(&mut rng), random_text(&mut rng)),
        };
        let _ = s.apply_set(&mut body, &assignment);
        let _ = f.nudge(schema::get_path(&body, f.name), rng.below(41) as i32 - 20);
        let report = s.validate(&body);
        // Every finding names a field (or the body) and says something.
        assert!(report.issues.iter().all(|i| !i.message.is_empty()));
        let _ = s.normalize(&body);
    }
}

#[test]
fn config_parsing_never_panics() {
    let mut rng = Rng(0x5EED_0002);
    let keys = [
        "version",
        "profile",
        "[profiles.a]",
        "[defaults]",
        "[ui]",
        "[keys]",
        "endpoint",
        "auth",
        "timeout_secs",
        "retries",
        "body_cap_mb",
        "seed",
        "\"logo_info.add_logo\"",
    ];
    for _ in 0..5_000 {
        let mut text = String::new();
        for _ in 0..rng.below(6) {
            let k = keys[rng.below(keys.len())];
            text.push_str(k);
            if !k.starts_with('[') {
                text.push_str(" = ");
                text.push_str(
                    rng.pick(&["1", "-1", "\"x\"", "true", "[1]", "{", "1e400", "\"volc\""]),
                );
            }
            text.push('\n');
        }
        if let Err(e) = volcv::config::parse(&text) {
            assert!(!e.is_empty());
        }
    }
}

#[test]
fn response_and_duration_parsing_never_panic_on_random_json() {
    let mut rng = Rng(0x5EED_0003);
    for _ in 0..5_000 {
        let body = random_json(&mut rng, 0);
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let status = [200u16, 400, 429, 500, 502][rng.below(5)];
        let outcome = parse_response(status, Some("application/json"), &bytes);
        let _ = outcome.summary();
        let _ = parse_go_duration(&random_text(&mut rng));
    }
}

#[test]
fn every_model_validates_and_switches_without_panicking() {
    let mut rng = Rng(0x5EED_0004);
    for _ in 0..5_000 {
        let from = schema::SCHEMAS[rng.below(schema::SCHEMAS.len())];
        let to = schema::SCHEMAS[rng.below(schema::SCHEMAS.len())];
        let mut body = if rng.below(3) == 0 {
            random_json(&mut rng, 0)
        } else {
            from.default_body()
        };
        let f = &from.fields[rng.below(from.fields.len())];
        let _ = from.apply_set(&mut body, &format!("{}={}", f.name, random_text(&mut rng)));
        let switched = schema::switch_schema(&body, to);
        assert_eq!(switched.body["req_key"], to.req_key);
        for (k, _) in &switched.dropped {
            assert!(schema::get_path(&switched.body, k).is_none(), "{k}");
        }
        let report = to.validate(&switched.body);
        assert!(report.issues.iter().all(|i| !i.message.is_empty()));
    }
}

#[test]
fn presets_files_never_panic() {
    let mut rng = Rng(0x5EED_0005);
    let dir = tempfile::tempdir().expect("tmp");
    let store = volcv::presets::PresetStore::new(dir.path().join("presets.toml"));
    let pieces = [
        "[p]\n",
        "[\"q r\"]\n",
        "[p.logo_info]\n",
        "[[p]]\n",
        "version = ",
        "req_key = ",
        "scale = ",
        "width = ",
        "logo_info.position = ",
        "prompt = ",
        "x = { a = ",
        "\"high_aes_ip_v20\"",
        "\"byteedit_v2.0\"",
        "1979-05-27",
        "nan",
        "\"top-left\"",
        "[1, \"a\"]",
        "}",
        "# c\n",
        "\n",
    ];
    // Fewer rounds than the pure parsers: every save, rename and delete syncs a file to disk.
    for _ in 0..800 {
        let text: String = (0..rng.below(10))
            .map(|_| {
                if rng.below(4) == 0 {
                    random_text(&mut rng)
                } else {
                    pieces[rng.below(pieces.len())].to_owned()
                }
            })
            .collect();
        std::fs::write(store.path(), &text).expect("write");
        if let Ok(list) = store.list() {
            for p in list {
                let _ = store.load(&p.name).map(|preset| {
                    preset.apply(&json!({"prompt": "x"}), &preset.schema.default_body())
                });
            }
        }
        let mut body = default_schema().default_body();
        schema::set_path(&mut body, "seed", json!(rng.below(100)));
        let _ = store.save("p", &body, &default_schema().default_body());
        let _ = store.rename("p", "q r");
        let _ = store.delete("q r");
    }
}
