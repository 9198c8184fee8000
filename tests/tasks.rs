//! Async tasks as a user meets them: `volcv send --mode async`, `volcv tasks` and `volcv tasks
//! resume` (the real binary) and the library's `tasks::run` against the embedded mock on
//! 127.0.0.1:0, including a SIGKILL between submit and done, expired and unknown tasks, and
//! that no secret reaches the history.

mod common;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use volcv::api::client::{Auth, Client, DEFAULT_VERSION, Options, Target};
use volcv::api::secret::Secret;
use volcv::api::tasks::{PollPolicy, SUBMIT_ACTION, TaskEvent};
use volcv::exchange::tasks::{Ending, RunOptions};
use volcv::mock::{MockConfig, MockServer};
use volcv::store::tasks::TaskOwner;
use volcv::store::{NewEntry, OutcomeKind, Store};

const API_KEY: &str = "sk-test-SECRET-key-4711";
const AK: &str = "AKLTtestACCESSkey0815";
const SK: &str = "c2VjcmV0LXNlY3JldC1rZXktdGVzdA==";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).expect("stdout is one JSON value")
    }
    fn describe(&self) -> String {
        format!(
            "exit {}\nstdout: {}\nstderr: {}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `volcv` with a clean environment: its own HOME, config and data dir, no inherited keys.
fn command(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = common::volcv_with(home, env, args);
    cmd.env("VOLCV_DATA_DIR", home.join("data"));
    cmd
}

fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn volcv(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let out = common::output_async(command(home, env, args)).await;
    finish(out)
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

fn timings(queue_ms: u64, generate_ms: u64) -> MockConfig {
    MockConfig {
        task_queue_time: Duration::from_millis(queue_ms),
        task_generate_time: Duration::from_millis(generate_ms),
        ..Default::default()
    }
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn reference_png(dir: &Path) -> PathBuf {
    let img = image::RgbImage::from_fn(160, 160, |x, y| {
        image::Rgb([(x * 3 % 256) as u8, (y * 5 % 256) as u8, 77])
    });
    let path = dir.join("ref.png");
    img.save(&path).expect("write reference");
    path
}

fn client_for(server: &MockServer) -> Client {
    Client::new(
        Target {
            endpoint: url::Url::parse(&server.url()).expect("url"),
            action: "CVProcess".into(),
            version: DEFAULT_VERSION.into(),
            auth: Auth::None,
        },
        Options::default(),
    )
    .expect("client")
}

/// The same request (seed fixed) sent sync and async gives byte-identical images, saved the
/// same way; the async run reports its task on stderr and in the history.
#[tokio::test(flavor = "multi_thread")]
async fn async_and_sync_give_the_same_image() {
    let home = tempfile::tempdir().expect("tmp");
    let server = mock(timings(200, 300)).await;
    let reference = reference_png(home.path());
    let url = server.url();
    let send = |mode: &'static str, out: &'static str| {
        let reference = reference.to_str().expect("utf8").to_owned();
        let url = url.clone();
        let home = home.path().to_path_buf();
        async move {
            volcv(
                &home,
                &[],
                &[
                    "send",
                    "--endpoint",
                    &url,
                    "--auth",
                    "none",
                    "--mode",
                    mode,
                    "--image",
                    &reference,
                    "--set",
                    "prompt=a heron at dawn",
                    "--set",
                    "seed=4242",
                    "--set",
                    "logo_info.add_logo=true",
                    "--out",
                    out,
                ],
            )
            .await
        }
    };
    let sync = send("sync", "sync").await;
    assert_eq!(sync.code, 0, "{}", sync.describe());
    let run = send("async", "async").await;
    assert_eq!(run.code, 0, "{}", run.describe());
    assert!(run.stderr.contains("submitted"), "{}", run.describe());
    assert!(run.stderr.contains("done after"), "{}", run.describe());
    assert!(
        run.stdout.contains("saved: async/volcv-"),
        "{}",
        run.describe()
    );
    let (a, s) = (
        files_in(&home.path().join("async")),
        files_in(&home.path().join("sync")),
    );
    assert_eq!((a.len(), s.len()), (1, 1), "{a:?} {s:?}");
    assert_eq!(
        std::fs::read(&a[0]).expect("async image"),
        std::fs::read(&s[0]).expect("sync image"),
        "async and sync results differ for the same seed"
    );
    // The history entry: success, with the task and the whole request as the user wrote it.
    let store = Store::open(&home.path().join("data")).expect("open");
    let rows = store.list(&Default::default()).expect("list");
    let entry = store.get(rows[0].id).expect("get").expect("entry");
    assert_eq!(entry.summary.outcome, OutcomeKind::Success);
    assert_eq!(entry.action, SUBMIT_ACTION);
    assert_eq!(entry.summary.task_status.as_deref(), Some("done"));
    assert!(entry.summary.task_id.is_some());
    let body: Value = serde_json::from_str(&entry.request_body).expect("body");
    assert_eq!(body["logo_info"]["add_logo"], true, "{body}");
    assert_eq!(body["prompt"], "a heron at dawn");
    // The exchange a UI shows for it is the same kind as a sync one.
    let ex = store
        .exchange(entry.summary.id)
        .expect("exchange")
        .expect("some");
    assert!(ex.outcome().is_some_and(|o| o.is_success()));
    let show = volcv(
        home.path(),
        &[],
        &["history", "show", &entry.summary.id.to_string()],
    )
    .await;
    assert!(
        show.stdout.contains(&format!(
            "task:      {} done",
            entry.summary.task_id.as_deref().unwrap_or_default()
        )),
        "{}",
        show.describe()
    );
    // --json carries the task's fields next to the sync ones.
    let j = volcv(
        home.path(),
        &[],
        &[
            "send",
            "--endpoint",
            &server.url(),
            "--auth",
            "none",
            "--mode",
            "async",
            "--image",
            "https://example.com/heron.jpg",
            "--set",
            "prompt=json",
            "--out",
            "json",
            "--json",
        ],
    )
    .await;
    assert_eq!(j.code, 0, "{}", j.describe());
    assert!(
        j.stderr.is_empty(),
        "--json keeps stderr quiet: {}",
        j.describe()
    );
    let v = j.json();
    assert_eq!(v["outcome"], "success");
    assert_eq!(v["mode"], "async");
    assert_eq!(v["task_status"], "done");
    assert!(v["task_id"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(v["images"].as_array().map(Vec::len), Some(1));
    server.shutdown().await;
}

/// The library run reports every status change in order and records each in the history, and
/// the submit carries no output options while every poll carries them in a req_json string.
#[tokio::test(flavor = "multi_thread")]
async fn status_transitions_are_reported_and_recorded() {
    let home = tempfile::tempdir().expect("tmp");
    let server = mock(timings(1000, 1000)).await;
    let client = client_for(&server);
    let store = Store::open(&home.path().join("data")).expect("open");
    let body = json!({
        "req_key": "high_aes_ip_v20",
        "image_urls": ["https://example.com/a.jpg"],
        "prompt": "transitions",
        "seed": 5,
        "return_url": false,
        "logo_info": {"add_logo": true, "position": 3}
    });
    let id = volcv::exchange::tasks::begin_entry(&store, "default", &client, &body).expect("begin");
    let policy = PollPolicy {
        first_delay: Duration::from_millis(100),
        factor: 1.0,
        max_delay: Duration::from_millis(100),
        ..PollPolicy::default()
    };
    let events: Arc<Mutex<Vec<TaskEvent>>> = Arc::default();
    let seen_in_store: Arc<Mutex<Vec<String>>> = Arc::default();
    let (ev, st) = (events.clone(), seen_in_store.clone());
    let store_ref = &store;
    let f = volcv::exchange::tasks::run(
        &client,
        &body,
        Some((&store, id)),
        &RunOptions {
            policy,
            out_dir: None,
        },
        &CancellationToken::new(),
        move |e| {
            ev.lock().expect("events").push(e.clone());
            if let TaskEvent::Status { changed: true, .. } = e {
                let row = store_ref.get(id).expect("get").expect("row");
                st.lock()
                    .expect("seen")
                    .push(row.summary.task_status.unwrap_or_default());
            }
        },
    )
    .await
    .expect("run");
    assert_eq!(f.ending, Ending::Collected);
    assert_eq!(f.collected.kept.len(), 1, "one base64 result kept");
    let changes: Vec<String> = events
        .lock()
        .expect("events")
        .iter()
        .filter_map(|e| match e {
            TaskEvent::Submitted { .. } => Some("submitted".to_owned()),
            TaskEvent::Status {
                status,
                changed: true,
                ..
            } => Some(status.as_str().to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(changes, ["submitted", "in_queue", "generating", "done"]);
    // Every running status says when the next poll comes (what the TUI shows); done does not.
    for e in events.lock().expect("events").iter() {
        if let TaskEvent::Status {
            status, next_poll, ..
        } = e
        {
            assert_eq!(
                next_poll.is_some(),
                status.as_str() != "done",
                "{status:?}: {next_poll:?}"
            );
        }
    }
    // Each running status was in the history when it was reported (done is recorded with
    // the result, after the event).
    assert_eq!(
        *seen_in_store.lock().expect("seen"),
        ["in_queue", "generating", "generating"]
    );
    let entry = store.get(id).expect("get").expect("row");
    assert_eq!(entry.summary.outcome, OutcomeKind::Success);
    assert_eq!(entry.summary.task_status.as_deref(), Some("done"));
    assert_eq!(entry.summary.result_images, 1);
    // The combined exchange: the request as written, the final poll's answer.
    let ex = f.exchange.expect("exchange");
    let sent: Value = serde_json::from_str(&ex.request_body).expect("body");
    assert_eq!(sent, body);
    assert!(
        ex.url.contains("Action=CVSync2AsyncGetResult"),
        "{}",
        ex.url
    );
    assert!(
        ex.attempts
            .first()
            .is_some_and(|a| a.result.starts_with("submit: 10000"))
    );
    server.shutdown().await;
}

/// What `--dry-run` shows in async mode: the submit without return_url/logo_info, then the
/// poll with them inside the req_json string.
#[tokio::test(flavor = "multi_thread")]
async fn dry_run_shows_the_split() {
    let home = tempfile::tempdir().expect("tmp");
    let run = volcv(
        home.path(),
        &[],
        &[
            "send",
            "--endpoint",
            "http://127.0.0.1:9/",
            "--auth",
            "none",
            "--mode",
            "async",
            "--image",
            "https://example.com/a.jpg",
            "--set",
            "prompt=dry",
            "--set",
            "logo_info.add_logo=true",
            "--dry-run",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.describe());
    let (submit, poll) = run
        .stdout
        .split_once("# then polled until done with")
        .expect("two requests");
    assert!(submit.contains("Action=CVSync2AsyncSubmitTask"), "{submit}");
    assert!(
        !submit.contains("return_url") && !submit.contains("logo_info"),
        "{submit}"
    );
    assert!(poll.contains("Action=CVSync2AsyncGetResult"), "{poll}");
    assert!(
        poll.contains(r#""req_json":"{\"return_url\":true,\"logo_info\":{\"add_logo\":true"#),
        "{poll}"
    );
    assert!(poll.contains(r#""task_id":"<task_id>""#), "{poll}");
}

/// A real `volcv send --mode async` killed with SIGKILL after its submit is recorded and before
/// the task is done leaves a resumable entry; `volcv tasks` lists it and `volcv tasks resume`
/// collects the result into the entry and --out.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_send_is_resumed_and_collected() {
    let home = tempfile::tempdir().expect("tmp");
    let data = home.path().join("data");
    // Done 6 s after the submit; the killed process would poll at about 1, 2.5, 4.75 and 8 s.
    let server = mock(timings(2000, 4000)).await;
    let url = server.url();
    let mut child = command(
        home.path(),
        &[],
        &[
            "send",
            "--endpoint",
            &url,
            "--auth",
            "none",
            "--mode",
            "async",
            "--image",
            "https://example.com/otter.jpg",
            "--set",
            "prompt=an otter",
            "--set",
            "seed=99",
            "--out",
            "first",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("spawn volcv");
    // Wait until the task id is in the history, then kill.
    let deadline = Instant::now() + Duration::from_secs(30);
    let task = loop {
        assert!(
            Instant::now() < deadline,
            "the task id never reached the history"
        );
        if data.join(volcv::store::DB_FILE).exists()
            && let Ok(store) = Store::open(&data)
            && let Ok(tasks) = store.pending_tasks()
            && let Some(t) = tasks.into_iter().next()
        {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    assert_eq!(task.prompt.as_deref(), Some("an otter"));
    // The entry survives recovery as a resumable pending task, not "interrupted".
    let store = Store::open(&data).expect("reopen");
    assert!(store.recover().expect("recover").is_empty());
    let pending = store.pending_tasks().expect("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].owner, TaskOwner::Nobody);
    let entry = store.get(task.id).expect("get").expect("row");
    assert_eq!(
        entry.summary.outcome,
        OutcomeKind::Pending,
        "killed before done"
    );
    assert!(files_in(&home.path().join("first")).is_empty());
    drop(store);
    let list = volcv(home.path(), &[], &["tasks"]).await;
    assert_eq!(list.code, 0, "{}", list.describe());
    assert!(list.stdout.contains(&task.task_id), "{}", list.describe());
    assert!(list.stdout.contains("resumable"), "{}", list.describe());
    let hist = volcv(home.path(), &[], &["history", "list"]).await;
    assert!(hist.stdout.contains("task "), "{}", hist.describe());
    let resume = volcv(
        home.path(),
        &[],
        &[
            "tasks",
            "resume",
            "--endpoint",
            &url,
            "--auth",
            "none",
            "--out",
            "collected",
        ],
    )
    .await;
    assert_eq!(resume.code, 0, "{}", resume.describe());
    assert!(
        resume.stdout.contains("saved: collected/volcv-"),
        "{}",
        resume.describe()
    );
    assert!(
        resume.stderr.contains("done after"),
        "{}",
        resume.describe()
    );
    let saved = files_in(&home.path().join("collected"));
    assert_eq!(saved.len(), 1, "{saved:?}");
    let store = Store::open(&data).expect("reopen");
    let entry = store.get(task.id).expect("get").expect("row");
    assert_eq!(entry.summary.outcome, OutcomeKind::Success);
    assert_eq!(entry.summary.task_status.as_deref(), Some("done"));
    assert_eq!(entry.summary.result_images, 1);
    let result = entry
        .images
        .iter()
        .find(|i| i.part == volcv::store::ImagePart::Result)
        .expect("result image");
    assert_eq!(
        std::fs::read(&result.file).expect("stored"),
        std::fs::read(&saved[0]).expect("saved")
    );
    assert!(store.pending_tasks().expect("pending").is_empty());
    // Nothing left: resuming again needs no endpoint at all.
    let again = volcv(home.path(), &[], &["tasks", "resume"]).await;
    assert_eq!(again.code, 0, "{}", again.describe());
    assert!(
        again.stdout.contains("no pending tasks"),
        "{}",
        again.describe()
    );
    // Asking for an entry that is not a pending task is a usage error.
    let asked = volcv(
        home.path(),
        &[],
        &[
            "tasks",
            "resume",
            &task.id.to_string(),
            "--endpoint",
            &url,
            "--auth",
            "none",
        ],
    )
    .await;
    assert_eq!(asked.code, 2, "{}", asked.describe());
    assert!(
        asked.stderr.contains("not a pending async task"),
        "{}",
        asked.describe()
    );
    server.shutdown().await;
}

/// A task the service reports expired ends with a clear error outcome, exit code 3.
#[tokio::test(flavor = "multi_thread")]
async fn an_expired_task_is_a_clear_error() {
    let home = tempfile::tempdir().expect("tmp");
    let server = mock(MockConfig {
        task_queue_time: Duration::from_secs(30),
        task_ttl: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let run = volcv(
        home.path(),
        &[],
        &[
            "send",
            "--endpoint",
            &server.url(),
            "--auth",
            "none",
            "--mode",
            "async",
            "--image",
            "https://example.com/a.jpg",
            "--set",
            "prompt=too late",
            "--json",
        ],
    )
    .await;
    assert_eq!(run.code, 3, "{}", run.describe());
    let v = run.json();
    assert_eq!(v["outcome"], "service_error");
    assert_eq!(v["task_status"], "expired");
    assert!(
        v["message"].as_str().is_some_and(|m| m.contains("expired")),
        "{v}"
    );
    let id = v["history_id"].as_i64().expect("history id");
    let store = Store::open(&home.path().join("data")).expect("open");
    let entry = store.get(id).expect("get").expect("row");
    assert_eq!(entry.summary.outcome, OutcomeKind::ServiceError);
    assert_eq!(entry.summary.task_status.as_deref(), Some("expired"));
    assert!(
        entry
            .message
            .as_deref()
            .is_some_and(|m| m.contains("expired before its result")),
        "{:?}",
        entry.message
    );
    assert!(store.pending_tasks().expect("pending").is_empty());
    // The human form says so on stderr.
    let human = volcv(
        home.path(),
        &[],
        &[
            "send",
            "--endpoint",
            &server.url(),
            "--auth",
            "none",
            "--mode",
            "async",
            "--image",
            "https://example.com/a.jpg",
            "--set",
            "prompt=too late again",
        ],
    )
    .await;
    assert_eq!(human.code, 3, "{}", human.describe());
    assert!(human.stderr.contains("error: task"), "{}", human.describe());
    assert!(human.stderr.contains("expired"), "{}", human.describe());
    server.shutdown().await;
}

/// Pending tasks the service does not know end as not_found; tasks submitted to another
/// endpoint are left alone (or closed as expired once their lifetime has passed).
#[tokio::test(flavor = "multi_thread")]
async fn unknown_and_foreign_tasks_on_resume() {
    let home = tempfile::tempdir().expect("tmp");
    let data = home.path().join("data");
    let server = mock(MockConfig::default()).await;
    let body = br#"{"req_key":"high_aes_ip_v20","image_urls":["https://example.com/a.jpg"],"prompt":"lost","return_url":true}"#;
    let now = i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .expect("ms");
    let (unknown, foreign, old_foreign) = {
        let store = Store::open(&data).expect("open");
        let add = |endpoint: &str, submitted: i64, lifetime: i64| {
            let id = store
                .begin(&NewEntry {
                    profile: "default",
                    endpoint,
                    action: SUBMIT_ACTION,
                    request_headers: &[],
                    request_body: body,
                })
                .expect("begin");
            store
                .task_submitted(id, "123456789", submitted, submitted + lifetime, &[])
                .expect("submitted");
            id
        };
        (
            add(&server.url(), now, 86_400_000),
            add("http://127.0.0.1:9/", now, 86_400_000),
            add("http://127.0.0.1:9/", now - 90_000_000, 86_400_000),
        )
    };
    // The entries belong to this (live) test process, so another process would leave them
    // alone: make them ownerless, as a writer that died leaves them.
    {
        let conn = rusqlite::Connection::open(data.join(volcv::store::DB_FILE)).expect("raw");
        conn.execute(
            "UPDATE entries SET owner_pid = NULL, owner_token = NULL",
            [],
        )
        .expect("orphan");
    }
    let run = volcv(
        home.path(),
        &[],
        &[
            "tasks",
            "resume",
            "--endpoint",
            &server.url(),
            "--auth",
            "none",
            "--json",
        ],
    )
    .await;
    // not_found is a service error; the foreign task is skipped without failing the run.
    assert_eq!(run.code, 3, "{}", run.describe());
    let v = run.json();
    let by_id = |id: i64| {
        v.as_array()
            .and_then(|a| a.iter().find(|x| x["history_id"] == id))
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(by_id(unknown)["outcome"], "service_error", "{v}");
    assert_eq!(by_id(unknown)["task_status"], "not_found", "{v}");
    assert_eq!(by_id(foreign)["outcome"], "skipped", "{v}");
    assert!(
        by_id(foreign)["message"]
            .as_str()
            .is_some_and(|m| m.contains("127.0.0.1:9")),
        "{v}"
    );
    assert_eq!(by_id(old_foreign)["outcome"], "service_error", "{v}");
    let store = Store::open(&data).expect("open");
    let get = |id: i64| store.get(id).expect("get").expect("row");
    assert_eq!(get(unknown).summary.outcome, OutcomeKind::ServiceError);
    assert!(
        get(unknown)
            .message
            .as_deref()
            .is_some_and(|m| m.contains("not found")),
        "{:?}",
        get(unknown).message
    );
    assert_eq!(get(foreign).summary.outcome, OutcomeKind::Pending);
    assert_eq!(get(old_foreign).summary.outcome, OutcomeKind::ServiceError);
    assert_eq!(
        get(old_foreign).summary.task_status.as_deref(),
        Some("expired")
    );
    // Asked for explicitly, a task that belongs elsewhere is a usage error.
    let asked = volcv(
        home.path(),
        &[],
        &[
            "tasks",
            "resume",
            &foreign.to_string(),
            "--endpoint",
            &server.url(),
            "--auth",
            "none",
        ],
    )
    .await;
    assert_eq!(asked.code, 2, "{}", asked.describe());
    server.shutdown().await;
}

/// `mode = "async"` in a profile makes `send` async; `--mode sync` overrides it; a typo is
/// refused naming the key and the allowed values.
#[tokio::test(flavor = "multi_thread")]
async fn mode_comes_from_the_profile_and_the_flag_wins() {
    let home = tempfile::tempdir().expect("tmp");
    let server = mock(timings(100, 100)).await;
    let config = home.path().join("config/volcv/config.toml");
    std::fs::create_dir_all(config.parent().expect("dir")).expect("mkdir");
    std::fs::write(
        &config,
        format!(
            "[profiles.default]\nendpoint = \"{}\"\nauth = \"none\"\nmode = \"async\"\n",
            server.url()
        ),
    )
    .expect("config");
    let args = |extra: &[&'static str]| {
        let mut v = vec![
            "send",
            "--image",
            "https://example.com/a.jpg",
            "--set",
            "prompt=mode",
            "--json",
            "--no-history",
        ];
        v.extend_from_slice(extra);
        v
    };
    let from_profile = volcv(home.path(), &[], &args(&[])).await;
    assert_eq!(from_profile.code, 0, "{}", from_profile.describe());
    assert_eq!(from_profile.json()["mode"], "async");
    let flag = volcv(home.path(), &[], &args(&["--mode", "sync"])).await;
    assert_eq!(flag.code, 0, "{}", flag.describe());
    assert_eq!(
        flag.json().get("mode"),
        None,
        "a sync send has no mode field"
    );
    std::fs::write(&config, "[profiles.default]\nmode = \"asnyc\"\n").expect("config");
    let typo = volcv(home.path(), &[], &args(&[])).await;
    assert_eq!(typo.code, 2, "{}", typo.describe());
    let message = typo.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("mode must be \"sync\" or \"async\""),
        "{message}"
    );
    assert!(message.contains("line 2"), "{message}");
    server.shutdown().await;
}

/// Async sends with a Bearer key and with AK/SK, one of them killed and resumed: no byte of
/// the data dir holds a secret, nor does any output.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_the_history() {
    let home = tempfile::tempdir().expect("tmp");
    let data = home.path().join("data");
    let server = mock(MockConfig {
        api_key: Some(Secret::new(API_KEY)),
        ak_sk: Some((AK.to_owned(), Secret::new(SK))),
        task_queue_time: Duration::from_millis(1500),
        task_generate_time: Duration::from_millis(1500),
        ..Default::default()
    })
    .await;
    let url = server.url();
    let reference = reference_png(home.path());
    let common = |auth: &'static str| {
        vec![
            "send".to_owned(),
            "--endpoint".to_owned(),
            url.clone(),
            "--auth".to_owned(),
            auth.to_owned(),
            "--mode".to_owned(),
            "async".to_owned(),
            "--image".to_owned(),
            reference.to_str().expect("utf8").to_owned(),
            "--set".to_owned(),
            "prompt=secret test".to_owned(),
            "--out".to_owned(),
            "out".to_owned(),
        ]
    };
    let bearer_args = common("bearer");
    let bearer_args: Vec<&str> = bearer_args.iter().map(String::as_str).collect();
    let bearer = volcv(home.path(), &[("VOLCV_API_KEY", API_KEY)], &bearer_args).await;
    assert_eq!(bearer.code, 0, "{}", bearer.describe());
    // A signed one, killed once its task is recorded, then resumed with the same keys.
    let volc_args = common("volc");
    let volc_args: Vec<&str> = volc_args.iter().map(String::as_str).collect();
    let mut child = command(
        home.path(),
        &[("VOLC_ACCESSKEY", AK), ("VOLC_SECRETKEY", SK)],
        &volc_args,
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "no task recorded");
        if let Ok(store) = Store::open(&data)
            && store.pending_tasks().is_ok_and(|t| !t.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("kill");
    child.wait().expect("reap");
    let resume = volcv(
        home.path(),
        &[("VOLC_ACCESSKEY", AK), ("VOLC_SECRETKEY", SK)],
        &[
            "tasks",
            "resume",
            "--endpoint",
            &url,
            "--auth",
            "volc",
            "--out",
            "out",
        ],
    )
    .await;
    assert_eq!(resume.code, 0, "{}", resume.describe());
    let store = Store::open(&data).expect("open");
    let rows = store.list(&Default::default()).expect("list");
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter().all(|r| r.outcome == OutcomeKind::Success),
        "{rows:?}"
    );
    let show = volcv(
        home.path(),
        &[],
        &["history", "show", &rows[0].id.to_string()],
    )
    .await;
    for run in [&bearer, &resume, &show] {
        for secret in [API_KEY, AK, SK] {
            assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret));
        }
    }
    let files = files_under(&data);
    assert!(
        files.iter().any(|f| f.to_string_lossy().ends_with("-wal")),
        "{files:?}"
    );
    for f in &files {
        let bytes = std::fs::read(f).expect("read");
        for secret in [API_KEY, AK, SK] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} found in {}",
                f.display()
            );
        }
    }
    // The expected shapes: redacted headers are kept.
    let headers = store
        .get(rows[0].id)
        .expect("get")
        .expect("row")
        .request_headers;
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "Authorization" && v.contains("<redacted>")),
        "{headers:?}"
    );
    server.shutdown().await;
}

/// A demo async task lives in the mock inside the volcv process that sent it: left pending
/// when that process ends (here `--max-wait` stops polling first), it can never be collected.
/// The next open of the demo store marks it lost, with the reason, and `history` and `tasks`
/// say so; it was recorded in the demo store, never the real one. A real task left pending
/// the same way stays resumable.
#[tokio::test(flavor = "multi_thread")]
async fn a_demo_task_left_pending_is_marked_lost_and_a_real_one_stays_resumable() {
    let home = tempfile::tempdir().expect("tmp");
    let data = home.path().join("data");
    let demo = data.join("demo");
    // The demo mock takes 1 s queued and 3 s generating: polling stops well before that.
    let sent = volcv(
        home.path(),
        &[],
        &[
            "--demo",
            "send",
            "--mode",
            "async",
            "--max-wait",
            "1s",
            "--set",
            "prompt=a demo otter",
            "--image",
            "https://example.com/otter.jpg",
            "--out",
            "out",
        ],
    )
    .await;
    assert_eq!(sent.code, 4, "left pending: {}", sent.describe());
    assert!(sent.stderr.contains("still pending"), "{}", sent.describe());
    assert!(
        !data.join(volcv::store::DB_FILE).exists(),
        "nothing reached the real store"
    );
    // The demo process has ended: the next `--demo` open marks its task lost.
    let tasks = volcv(home.path(), &[], &["--demo", "tasks"]).await;
    assert_eq!(tasks.code, 0, "{}", tasks.describe());
    assert!(
        tasks.stdout.contains("(no pending tasks)"),
        "{}",
        tasks.describe()
    );
    let id = {
        let store = Store::open(&demo).expect("demo store");
        let rows = store.list(&volcv::store::Query::default()).expect("list");
        assert_eq!(rows.len(), 1, "{rows:?}");
        let e = store.get(rows[0].id).expect("get").expect("row");
        assert_eq!(e.summary.outcome, OutcomeKind::Interrupted);
        assert_eq!(e.summary.task_status.as_deref(), Some("lost"));
        let message = e.message.clone().unwrap_or_default();
        assert!(
            message.starts_with("lost: demo task") && message.contains("has ended"),
            "{message}"
        );
        assert!(
            tasks
                .stderr
                .contains(&format!("history entry {}: {message}", e.summary.id)),
            "{}",
            tasks.describe()
        );
        e.summary.id
    };
    let list = volcv(home.path(), &[], &["--demo", "history", "list"]).await;
    assert_eq!(list.code, 0, "{}", list.describe());
    assert!(
        list.stdout.contains("task lost") && list.stdout.contains("a demo otter"),
        "{}",
        list.describe()
    );
    assert!(list.stderr.is_empty(), "said once: {}", list.describe());
    let show = volcv(
        home.path(),
        &[],
        &["--demo", "history", "show", &id.to_string()],
    )
    .await;
    assert!(
        show.stdout.contains("outcome:   lost: demo task"),
        "{}",
        show.describe()
    );
    assert!(!show.stdout.contains("collect it"), "{}", show.describe());
    // The real history is apart from the demo's: empty.
    let real = volcv(home.path(), &[], &["history", "list"]).await;
    assert!(real.stdout.contains("(no entries)"), "{}", real.describe());

    // A real task left pending the same way (its service outlives volcv) stays resumable.
    let server = mock(timings(2000, 4000)).await;
    let url = server.url();
    let sent = volcv(
        home.path(),
        &[],
        &[
            "send",
            "--endpoint",
            &url,
            "--auth",
            "none",
            "--mode",
            "async",
            "--max-wait",
            "1s",
            "--set",
            "prompt=a real otter",
            "--image",
            "https://example.com/otter.jpg",
            "--out",
            "out",
        ],
    )
    .await;
    assert_eq!(sent.code, 4, "left pending: {}", sent.describe());
    let tasks = volcv(home.path(), &[], &["tasks"]).await;
    assert!(
        tasks.stdout.contains("(resumable)") && tasks.stdout.contains("a real otter"),
        "{}",
        tasks.describe()
    );
    assert!(!tasks.stderr.contains("lost"), "{}", tasks.describe());
    let store = Store::open(&data).expect("real store");
    assert_eq!(store.pending_tasks().expect("pending").len(), 1);
    server.shutdown().await;
}

/// The lost-marking judges each task's poller: this (live) process's task is left alone; an
/// ownerless one (its writer died) is lost in the demo store, and stays pending in a real one.
#[test]
fn only_tasks_whose_poller_is_gone_are_lost_and_only_in_the_demo_store() {
    let home = tempfile::tempdir().expect("tmp");
    let body = br#"{"req_key":"high_aes_ip_v20","prompt":"kept?"}"#;
    let now = i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .expect("ms");
    for dir in ["demo", "real"] {
        let data = home.path().join(dir);
        let store = Store::open(&data).expect("open");
        for _ in 0..2 {
            let id = store
                .begin(&NewEntry {
                    profile: "demo",
                    endpoint: "http://127.0.0.1:9/",
                    action: SUBMIT_ACTION,
                    request_headers: &[],
                    request_body: body,
                })
                .expect("begin");
            store
                .task_submitted(id, &format!("t{id}"), now, now + 86_400_000, &[])
                .expect("submitted");
        }
        let conn = rusqlite::Connection::open(data.join(volcv::store::DB_FILE)).expect("raw");
        conn.execute(
            "UPDATE entries SET owner_pid = NULL, owner_token = NULL WHERE id = 1",
            [],
        )
        .expect("orphan");
    }
    let (demo, lost) = Store::open_demo(&home.path().join("demo")).expect("demo");
    assert_eq!(
        lost.iter().map(|t| t.id).collect::<Vec<_>>(),
        [1],
        "{lost:?}"
    );
    assert_eq!(lost[0].task_id, "t1");
    let left = demo.pending_tasks().expect("pending");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].owner, TaskOwner::ThisProcess);
    // Opening it again finds nothing more.
    assert!(
        Store::open_demo(&home.path().join("demo"))
            .expect("again")
            .1
            .is_empty()
    );
    let real = Store::open(&home.path().join("real")).expect("real");
    assert_eq!(real.pending_tasks().expect("pending").len(), 2);
}

/// The TUI's demo (`volcv --demo`) opens the demo store through its worker: a task an earlier
/// demo left pending is marked lost there too, and not taken up for resuming.
#[tokio::test(flavor = "multi_thread")]
async fn the_tuis_demo_worker_marks_tasks_of_ended_demos_lost() {
    let home = tempfile::tempdir().expect("tmp");
    let demo = home.path().join("demo");
    let now = i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .expect("ms");
    {
        let store = Store::open(&demo).expect("open");
        let id = store
            .begin(&NewEntry {
                profile: "demo",
                endpoint: "http://127.0.0.1:9/",
                action: SUBMIT_ACTION,
                request_headers: &[],
                request_body: br#"{"req_key":"high_aes_ip_v20","prompt":"left behind"}"#,
            })
            .expect("begin");
        store
            .task_submitted(id, "t-left", now, now + 86_400_000, &[])
            .expect("submitted");
        let conn = rusqlite::Connection::open(demo.join(volcv::store::DB_FILE)).expect("raw");
        conn.execute(
            "UPDATE entries SET owner_pid = NULL, owner_token = NULL",
            [],
        )
        .expect("orphan");
    }
    let server = mock(MockConfig::default()).await;
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let _worker = volcv::tui::worker::Worker::new(tx, client_for(&server), demo.join("images"))
        .with_demo_history(demo.clone(), "demo");
    let deadline = Instant::now() + Duration::from_secs(30);
    let entry = loop {
        assert!(Instant::now() < deadline, "never marked lost");
        let store = Store::open(&demo).expect("open");
        let e = store.get(1).expect("get").expect("row");
        if e.summary.outcome != OutcomeKind::Pending {
            break e;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(entry.summary.outcome, OutcomeKind::Interrupted);
    assert_eq!(entry.summary.task_status.as_deref(), Some("lost"));
    assert!(
        entry
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("lost: demo task t-left")),
        "{:?}",
        entry.message
    );
    server.shutdown().await;
}
