//! Property-style checks: the parsers that take user and network input never panic, whatever
//! they are given. A deterministic generator keeps failures reproducible (the seed is printed).
//!
//! Two kinds: generated inputs (first), and a mutation fuzzer over the committed seed corpus
//! in `tests/corpus/<target>/` (a deterministic, coverage-blind cousin of cargo-fuzz, which
//! needs nightly). The corpus targets check properties beyond "no panic": the history's
//! image reduction restores every body byte for byte, every Go duration string parses back
//! exactly, config errors never quote a secret's value, imported curl commands keep no header
//! or option value. The number of mutated inputs per target is `VOLCV_FUZZ_ITERATIONS`
//! (default 3000, what CI runs); `VOLCV_FUZZ_SEED` picks another sequence. A failing input is
//! written to `<cargo target tmp>/fuzz-failures/<target>/`, with its seed and iteration
//! printed, so it can be reproduced and added to the corpus.

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

// ---------------------------------------------------------------------------------------------
// Corpus mutation fuzzing.

/// Mutated inputs per target: `VOLCV_FUZZ_ITERATIONS`, default 3000.
fn fuzz_iterations() -> usize {
    std::env::var("VOLCV_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(3000)
}

/// The base seed: `VOLCV_FUZZ_SEED` (decimal or 0x hex), default fixed.
fn fuzz_seed() -> u64 {
    std::env::var("VOLCV_FUZZ_SEED")
        .ok()
        .and_then(|v| {
            let v = v.trim();
            match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => v.parse().ok(),
            }
        })
        .unwrap_or(0x00C0_FFEE)
}

/// The seeds of a target: every file in `tests/corpus/<target>/`; a file named `seeds.txt`
/// holds one input per line.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bytes = std::fs::read(&f).expect("read corpus file");
        if name == "seeds.txt" {
            for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
                if !line.is_empty() {
                    out.push((format!("{name}:{}", i + 1), line.to_vec()));
                }
            }
        } else {
            out.push((name, bytes));
        }
    }
    assert!(!out.is_empty(), "corpus {target} is empty");
    out
}

/// Byte-level mutations, stacked 1-4 per input: flips, interesting bytes, dictionary tokens,
/// deletions, duplications, truncation, number swaps and splicing with another seed.
struct Mutator<'a> {
    rng: Rng,
    seeds: &'a [(String, Vec<u8>)],
    dict: &'a [&'a str],
}

const INTERESTING_BYTES: &[u8] = &[
    0, 0xFF, 0x7F, 0x80, b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b'=', b'\n', b'.', b'-',
    b'0', 0x1B, b'\'', b'$', b' ',
];
const INTERESTING_NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1e309",
    "-0",
    "NaN",
    "4294967296",
    "9223372036854775808",
    "18446744073709551616",
    "0.0000000001",
    "99999999999999999999999",
    "65535",
    "2147483648",
];
const MAX_INPUT: usize = 256 * 1024;

impl Mutator<'_> {
    fn token(&mut self) -> &[u8] {
        self.dict[self.rng.below(self.dict.len())].as_bytes()
    }

    fn mutate(&mut self, input: &[u8]) -> Vec<u8> {
        let mut v = input.to_vec();
        for _ in 0..=self.rng.below(4) {
            let len = v.len();
            let at = self.rng.below(len + 1);
            match self.rng.below(10) {
                0 if len > 0 => {
                    let i = self.rng.below(len);
                    v[i] ^= 1 << self.rng.below(8);
                }
                1 if len > 0 => {
                    let i = self.rng.below(len);
                    v[i] = INTERESTING_BYTES[self.rng.below(INTERESTING_BYTES.len())];
                }
                2 => {
                    let t = self.token().to_vec();
                    v.splice(at..at, t);
                }
                3 if len > 0 => {
                    let start = self.rng.below(len);
                    let n = 1 + self.rng.below((len - start).min(64));
                    v.drain(start..start + n);
                }
                4 if len > 0 => {
                    let start = self.rng.below(len);
                    let n = 1 + self.rng.below((len - start).min(256));
                    let chunk = v[start..start + n].to_vec();
                    let to = self.rng.below(len + 1);
                    v.splice(to..to, chunk);
                }
                5 => v.truncate(at),
                6 => {
                    // Replace a run of digits with an interesting number.
                    if let Some(p) = (at..len).find(|&i| v[i].is_ascii_digit()) {
                        let end = (p..len).find(|&i| !v[i].is_ascii_digit()).unwrap_or(len);
                        let n = INTERESTING_NUMBERS[self.rng.below(INTERESTING_NUMBERS.len())];
                        v.splice(p..end, n.bytes());
                    }
                }
                7 => {
                    // Splice: our head, another seed's tail.
                    let other = &self.seeds[self.rng.below(self.seeds.len())].1;
                    let from = self.rng.below(other.len() + 1);
                    v.truncate(at);
                    v.extend_from_slice(&other[from..]);
                }
                8 => {
                    let n = 1 + self.rng.below(8);
                    let bytes: Vec<u8> = (0..n).map(|_| self.rng.next() as u8).collect();
                    v.splice(at..at, bytes);
                }
                _ if len > 0 => {
                    // Overwrite with a dictionary token.
                    let t = self.token().to_vec();
                    let end = (at + t.len()).min(len);
                    v.splice(at.min(len)..end, t);
                }
                _ => {}
            }
        }
        v.truncate(MAX_INPUT);
        v
    }
}

/// Runs `check` on every seed as is, then on `VOLCV_FUZZ_ITERATIONS` mutations of them. A
/// failure (a panic, or a property `check` asserts) is saved and reported with its seed.
fn fuzz(target: &str, dict: &[&str], check: impl Fn(&[u8])) {
    let seeds = corpus(target);
    for (name, bytes) in &seeds {
        run_one(target, &format!("seed {name}"), bytes, &check);
    }
    let base = fuzz_seed();
    let salt = target
        .bytes()
        .fold(0u64, |h, b| h.rotate_left(5) ^ u64::from(b));
    let mut m = Mutator {
        rng: Rng((base ^ salt) | 1),
        seeds: &seeds,
        dict,
    };
    let iterations = fuzz_iterations();
    for i in 0..iterations {
        let seed = seeds[m.rng.below(seeds.len())].1.clone();
        let input = m.mutate(&seed);
        run_one(
            target,
            &format!("iteration {i} of VOLCV_FUZZ_SEED={base:#x}"),
            &input,
            &check,
        );
    }
    eprintln!(
        "fuzz {target}: {} seeds and {iterations} mutations: ok",
        seeds.len()
    );
}

fn run_one(target: &str, what: &str, input: &[u8], check: &impl Fn(&[u8])) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(input)));
    if outcome.is_err() {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("fuzz-failures")
            .join(target);
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join(format!(
            "{}.bin",
            &volcv::store::blobs::sha256_hex(input)[..16]
        ));
        let _ = std::fs::write(&file, input);
        panic!(
            "fuzz target {target} failed on {what}; input saved to {} ({} bytes): {:?}",
            file.display(),
            input.len(),
            String::from_utf8_lossy(&input[..input.len().min(300)])
        );
    }
}

/// The network answer: parsed into an outcome whatever the bytes and status, and stored in
/// the history (inline images reduced to files) in a way that restores every byte.
#[test]
fn fuzz_response_parsing_and_history_storage() {
    let dict = [
        "\"code\"",
        "\"data\"",
        "\"message\"",
        "\"status\"",
        "\"request_id\"",
        "\"time_elapsed\"",
        "\"binary_data_base64\"",
        "\"image_urls\"",
        "\"rephraser_result\"",
        "\"ResponseMetadata\"",
        "\"Error\"",
        "\"CodeN\"",
        "\"error\"",
        "10000",
        "50411",
        "100010",
        "null",
        "true",
        "[]",
        "{}",
        "\"\"",
        "\"/9j/\"",
        "\"iVBORw0KGgo=\"",
        "\\u0000",
        "\\ud800",
        "\\/",
        "<html>",
        "\u{202e}",
        "\u{1b}[2J",
    ];
    fuzz("response", &dict, |body| {
        for (status, ct) in [
            (200, Some("application/json")),
            (502, Some("text/html; charset=utf-8")),
            (429, None),
        ] {
            let outcome = parse_response(status, ct, body);
            assert!(!outcome.summary().is_empty());
            let _ = (outcome.code(), outcome.request_id(), outcome.retry());
            let _ = outcome.http_status();
        }
        let reduced = volcv::store::blobs::reduce(body);
        let refs: Vec<volcv::store::blobs::Ref> = reduced
            .images
            .iter()
            .map(|f| volcv::store::blobs::Ref {
                pos: f.pos,
                sha256: f.sha256.clone(),
                slash_escaped: f.slash_escaped,
            })
            .collect();
        let restored = volcv::store::blobs::restore(&reduced.text, &refs, |sha| {
            reduced
                .images
                .iter()
                .find(|f| f.sha256 == sha)
                .map(|f| f.bytes.clone())
                .ok_or_else(|| "missing".to_owned())
        })
        .expect("a reduced body restores");
        assert!(restored == body, "the stored body restores byte for byte");
    });
}

/// Go's `Duration.String()`, to generate what the service writes in `time_elapsed`.
fn go_duration_string(nanos: u64) -> String {
    fn frac(v: u64, digits: u32) -> (String, u64) {
        let scale = 10u64.pow(digits);
        let (whole, rest) = (v / scale, v % scale);
        let mut f = format!("{rest:0width$}", width = digits as usize);
        while f.ends_with('0') {
            f.pop();
        }
        let f = if f.is_empty() {
            String::new()
        } else {
            format!(".{f}")
        };
        (f, whole)
    }
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        let (f, w) = frac(nanos, 3);
        return format!("{w}{f}µs");
    }
    if nanos < 1_000_000_000 {
        let (f, w) = frac(nanos, 6);
        return format!("{w}{f}ms");
    }
    let (f, secs) = frac(nanos, 9);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}{f}s")
    } else if m > 0 {
        format!("{m}m{s}{f}s")
    } else {
        format!("{s}{f}s")
    }
}

/// `time_elapsed`: every duration Go can print parses back to the same nanosecond, and
/// mutations of real values never panic.
#[test]
fn fuzz_time_elapsed_parsing() {
    let mut rng = Rng(fuzz_seed() ^ 0xD0_0D);
    for _ in 0..fuzz_iterations() {
        let nanos = match rng.below(4) {
            0 => rng.next() % 1_000_000,
            1 => rng.next() % 60_000_000_000,
            2 => rng.next() % 86_400_000_000_000,
            _ => rng.next() >> 1,
        };
        let text = go_duration_string(nanos);
        assert_eq!(
            parse_go_duration(&text),
            Some(std::time::Duration::from_nanos(nanos)),
            "{text}"
        );
    }
    let dict = [
        "ns", "us", "µs", "μs", "ms", "s", "m", "h", ".", "-", "+", "0", "9", " ",
    ];
    fuzz("time_elapsed", &dict, |b| {
        let text = String::from_utf8_lossy(b);
        if let Some(d) = parse_go_duration(&text) {
            assert!(
                d.as_nanos() <= i64::MAX as u128,
                "{text}: within Go's range"
            );
        }
    });
}

/// The config file: errors name a line (and never quote a secret's value back).
#[test]
fn fuzz_config_parsing() {
    let dict = [
        "[profiles.x]",
        "[defaults]",
        "[ui]",
        "[keys]",
        "api_key = ",
        "secret_key = ",
        "access_key = ",
        "endpoint = ",
        "\"",
        "'''",
        "\"\"\"",
        "=",
        "\n",
        "#",
        "version = 2",
        "retries = ",
        "timeout_secs = ",
        "-1",
        "1e400",
        "inf",
        "nan",
        "[[profiles]]",
        "{",
        "}",
        "\"logo_info.add_logo\" = ",
        "é",
        "\u{0}",
        "qps = ",
        "concurrency = ",
        "1e-20",
        "18446744073709551615",
        "profiles.default.api_key = ",
        "default = { api_key = ",
        "profiles.default.",
    ];
    fuzz("config", &dict, |b| {
        let text = String::from_utf8_lossy(b);
        let msg = match volcv::config::parse(&text) {
            Ok(config) => {
                // The numbers a profile holds (qps, concurrency, timeouts, caps) are checked
                // where they are used, never a panic (`qps = 1e-20` overflowed the pacer).
                let o = volcv::config::Overrides::default();
                let loaded = volcv::config::Loaded {
                    config,
                    paths: volcv::config::Paths::resolve(&o),
                    from_file: true,
                    warnings: Vec::new(),
                };
                if let Ok((qps, n)) = loaded.sweep_limits(&o, None, None) {
                    assert!(
                        qps.is_finite() && qps >= volcv::sweep::bucket::MIN_QPS,
                        "{qps}"
                    );
                    let mut bucket = volcv::sweep::bucket::TokenBucket::clamped(qps);
                    let t = bucket.reserve(std::time::Duration::ZERO);
                    let _ = bucket.reserve(t.at);
                    assert!(n >= 1);
                }
                let _ = loaded.resolve(&o);
                return;
            }
            Err(msg) => msg,
        };
        assert!(!msg.is_empty());
        // An error on a secret's line never quotes its value.
        let Some(line_no) = msg
            .strip_prefix("line ")
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse::<usize>().ok())
        else {
            return;
        };
        let Some(line) = text.lines().nth(line_no.saturating_sub(1)) else {
            return;
        };
        // Every `key = value` on the line, inline tables and dotted keys included.
        let parts: Vec<&str> = line.split('=').collect();
        // The keys as the message may name them (a dotted key holds other names).
        // (A key's own name may contain the value's text: the key as the message quotes it,
        // `key "..."`, and the secret keys' names are left out.)
        let mut rest = msg.clone();
        for pair in parts.windows(2) {
            let key = pair[0].rsplit(['{', ',']).next().unwrap_or(pair[0]);
            rest = rest.replace(&format!("key {:?}", key.trim().trim_matches('"')), "");
        }
        let rest = ["api_key", "access_key", "secret_key"]
            .iter()
            .fold(rest, |r, k| r.replace(k, ""));
        for pair in parts.windows(2) {
            let key = pair[0].rsplit(['{', ',']).next().unwrap_or(pair[0]);
            let key = key.rsplit('.').next().unwrap_or(key);
            let key = key.trim().trim_matches(|c| c == '"' || c == '\'').trim();
            let value = pair[1].split([',', '}']).next().unwrap_or(pair[1]);
            let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
            if ["api_key", "access_key", "secret_key"].contains(&key) && value.len() >= 6 {
                assert!(!rest.contains(value), "{msg} quotes the secret {value:?}");
            }
        }
    });
}

/// `--vary FIELD=SPEC`: values or a clear error; a number field's values are all numbers
/// within the field's range (a rounding overflow once gave `null`, sent unchecked), and the
/// sweep built from them validates.
#[test]
fn fuzz_sweep_spec() {
    let s = default_schema();
    let mut dict: Vec<&str> = s.fields.iter().map(|f| f.name).collect();
    dict.extend([
        "=",
        "..",
        ":",
        ",",
        "[",
        "]",
        "\"",
        "1e308",
        "1.79e308",
        "-1e308",
        "1e-320",
        "0.1",
        "9223372036854775807",
        "-",
        "true",
        "生成",
    ]);
    let base = s.default_body();
    fuzz("sweep", &dict, |b| {
        let arg = String::from_utf8_lossy(b);
        match volcv::sweep::spec::parse_vary(s, &arg) {
            Ok(axis) => {
                assert!(!axis.values.is_empty());
                let field = s.lookup(&axis.field).expect("the axis names a field");
                if matches!(
                    field.kind,
                    schema::Kind::Int | schema::Kind::Float | schema::Kind::Enum(_)
                ) {
                    for v in &axis.values {
                        let x = v
                            .as_f64()
                            .unwrap_or_else(|| panic!("{arg}: {v} not a number"));
                        if let Some(r) = field.range {
                            assert!(r.contains(x), "{arg}: {x} outside {r}");
                        }
                    }
                }
            }
            Err(e) => assert!(!e.is_empty()),
        }
        let _ = volcv::sweep::prepare(base.clone(), &[arg.into_owned()]);
    });
}

/// `--set FIELD=VALUE`: typed by the schema, errors say something, the body stays an object.
#[test]
fn fuzz_set_parsing() {
    let s = default_schema();
    let mut dict: Vec<&str> = s.fields.iter().map(|f| f.name).collect();
    dict.extend([
        "=", ".", "[", "]", "\"", ",", "true", "-1", "1e309", "top-left", "生成",
    ]);
    fuzz("set", &dict, |b| {
        let assignment = String::from_utf8_lossy(b);
        let mut body = s.default_body();
        match s.apply_set(&mut body, &assignment) {
            Ok(()) => {
                assert!(body.is_object());
                let report = s.validate(&body);
                assert!(report.issues.iter().all(|i| !i.message.is_empty()));
                let _ = s.normalize(&body);
            }
            Err(e) => assert!(!e.is_empty()),
        }
    });
}

/// `volcv curl --import`: any pasted text gives a request or a clear error; only header names
/// are kept and ignored options are named, never their values (either may be a key).
#[test]
fn fuzz_curl_import_parsing() {
    let dict = [
        "curl ",
        " -H ",
        " --header ",
        " -d ",
        " --data-raw ",
        " -X ",
        "POST",
        " -u ",
        " --url ",
        "'",
        "\"",
        "$'",
        "\\",
        "\\\n",
        "`",
        "$(",
        "https://",
        "?Action=CVProcess",
        "&Version=2022-08-31",
        "Authorization: Bearer ",
        "{",
        "}",
        "//",
        "@",
        "=",
    ];
    fuzz("curl", &dict, |b| {
        let text = String::from_utf8_lossy(b);
        let _ = volcv::api::curl::shell_words(&text);
        match volcv::api::curl::parse_curl(&text) {
            Ok(imp) => {
                assert!(
                    imp.headers.iter().all(|h| !h.contains(':')),
                    "{:?}",
                    imp.headers
                );
                assert!(
                    imp.ignored
                        .iter()
                        .all(|i| i.starts_with('-') || i.starts_with("an extra argument")),
                    "{:?}",
                    imp.ignored
                );
            }
            Err(e) => assert!(!e.is_empty()),
        }
    });
}

/// Image bytes from disk or the network: checked, decoded within bounds or refused; never a
/// panic, and never an allocation a header asks for beyond the bounds.
#[test]
fn fuzz_image_checks_and_decoding() {
    use volcv::images::decode::{
        check_complete, decode_preview, png_claimed_size, reference_problems,
    };
    let dict = [
        "\u{ff}\u{d8}",
        "IHDR",
        "IDAT",
        "IEND",
        "\u{ff}\u{d9}",
        "\u{ff}\u{da}",
    ];
    for (name, bytes) in &corpus("image") {
        assert!(
            check_complete(bytes).is_ok(),
            "seed {name} is a whole image"
        );
    }
    fuzz("image", &dict, |b| {
        let whole = check_complete(b);
        let preview = decode_preview(b, 64);
        if let Ok((w, h)) = whole {
            let img = preview.expect("a whole image decodes for a preview");
            assert!(img.width() <= w.max(1) && img.height() <= h.max(1));
        }
        let _ = reference_problems(b);
        let _ = png_claimed_size(b);
        let _ = volcv::images::dimensions(b);
        let _ = volcv::images::sniff(b);
    });
}
