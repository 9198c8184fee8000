//! Configuration: a TOML file with named profiles and request defaults, overridden by env
//! variables and flags. Shared by the CLI and the TUI.

use crate::api::auth::AkSk;
use crate::api::client::{self, Auth, AuthMode, Options, Target};
use crate::api::schema::Schema;
use crate::api::secret::{REDACTED, Secret};
use crate::api::tasks::Mode;
use crate::images::input::{TEXT_FILE_CAP, read_text_file};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

/// Env: the config file path.
pub const ENV_CONFIG: &str = "VOLCV_CONFIG";
/// Env: the data dir (history, images).
pub const ENV_DATA_DIR: &str = "VOLCV_DATA_DIR";
/// Env: the endpoint URL.
pub const ENV_ENDPOINT: &str = "VOLCV_ENDPOINT";
/// Env: the credentials, named in the protocol layer (`api::auth`) and re-exported here with
/// the other variables.
pub use crate::api::auth::{ENV_ACCESS_KEY, ENV_API_KEY, ENV_SECRET_KEY};

/// A sweep's requests per second when neither `--qps` nor the profile's `qps` says.
pub const DEFAULT_SWEEP_QPS: f64 = 1.0;
/// A sweep's requests in flight when neither `--concurrency` nor the profile says.
pub const DEFAULT_SWEEP_CONCURRENCY: usize = 4;
/// Most requests a sweep may have in flight.
pub const MAX_SWEEP_CONCURRENCY: usize = 64;

/// The config file format version this build writes and reads.
pub const CONFIG_VERSION: u32 = 1;

/// The config file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Format version; files from a newer volcv are refused with a clear message.
    pub version: u32,
    /// The profile used when `--profile` is not given.
    pub profile: String,
    pub profiles: BTreeMap<String, Profile>,
    /// Request field defaults by dotted field name (`seed = 42`, `"logo_info.add_logo" = true`),
    /// applied over the schema's defaults when no request file is given.
    pub defaults: BTreeMap<String, toml::Value>,
    pub ui: Ui,
    /// Key bindings: action name -> key or list of keys.
    pub keys: BTreeMap<String, toml::Value>,
    /// What one successful request costs, by model (`req_key`), in the user's own currency:
    /// `volcv history stats` shows spend with them. No price is known to volcv (they depend
    /// on the account), so there are no defaults.
    pub prices: BTreeMap<String, f64>,
    /// A daily limit that `send` and `sweep` ask before going over.
    pub budget: Budget,
}

/// `[budget]`: how much one (local) day may use; `send` and `sweep` ask before going over it
/// (`--yes` goes over without asking; without a terminal to ask they refuse).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Budget {
    /// Requests per day (every request counts, whatever its outcome).
    pub requests: Option<u64>,
    /// Spend per day at `[prices]` (successful requests times their model's price).
    pub spend: Option<f64>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            version: CONFIG_VERSION,
            profile: "default".to_owned(),
            profiles: BTreeMap::new(),
            defaults: BTreeMap::new(),
            ui: Ui::default(),
            keys: BTreeMap::new(),
            prices: BTreeMap::new(),
            budget: Budget::default(),
        }
    }
}

/// Terminal UI settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ui {
    pub theme: String,
    pub image_protocol: String,
}

impl Default for Ui {
    fn default() -> Self {
        Self {
            theme: "default".to_owned(),
            image_protocol: "auto".to_owned(),
        }
    }
}

/// One named endpoint setup.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Profile {
    /// The URL to POST to (Action and Version are added).
    pub endpoint: Option<String>,
    /// `volc`, `bearer` or `none`; by default `volc` for visual.volcengineapi.com, else `bearer`.
    pub auth: Option<AuthMode>,
    /// Bearer key (prefer the VOLCV_API_KEY env variable).
    pub api_key: Option<String>,
    /// Volcengine access key (prefer VOLC_ACCESSKEY or ~/.volc/credentials).
    pub access_key: Option<String>,
    /// Volcengine secret key (prefer VOLC_SECRETKEY or ~/.volc/credentials).
    pub secret_key: Option<String>,
    pub region: Option<String>,
    pub service: Option<String>,
    pub action: Option<String>,
    pub api_version: Option<String>,
    pub timeout_secs: Option<f64>,
    pub connect_timeout_secs: Option<f64>,
    pub retries: Option<u32>,
    /// Largest response body accepted, in MB.
    pub body_cap_mb: Option<u64>,
    /// `sync` (one CVProcess call) or `async` (submit a task, poll for the result).
    pub mode: Option<Mode>,
    /// Requests per second a sweep sends (`volcv sweep --qps`); default 1.
    pub qps: Option<f64>,
    /// Requests a sweep has in flight at once (`volcv sweep --concurrency`); default 4.
    pub concurrency: Option<usize>,
    /// A PEM file of certificate authorities to trust besides the system's (a company CA);
    /// relative to the config file's directory.
    pub ca_file: Option<PathBuf>,
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hide = |s: &Option<String>| s.as_ref().map(|_| REDACTED);
        f.debug_struct("Profile")
            .field("endpoint", &self.endpoint)
            .field("auth", &self.auth)
            .field("api_key", &hide(&self.api_key))
            .field("access_key", &hide(&self.access_key))
            .field("secret_key", &hide(&self.secret_key))
            .field("region", &self.region)
            .field("service", &self.service)
            .field("action", &self.action)
            .field("api_version", &self.api_version)
            .field("timeout_secs", &self.timeout_secs)
            .field("connect_timeout_secs", &self.connect_timeout_secs)
            .field("retries", &self.retries)
            .field("body_cap_mb", &self.body_cap_mb)
            .field("mode", &self.mode)
            .field("qps", &self.qps)
            .field("concurrency", &self.concurrency)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl Profile {
    fn holds_secret(&self) -> bool {
        self.api_key.is_some() || self.secret_key.is_some() || self.access_key.is_some()
    }
}

/// What flags (and their env variables) say; `None` leaves the config's value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config_path: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub profile: Option<String>,
    pub endpoint: Option<String>,
    pub auth: Option<AuthMode>,
    pub timeout: Option<f64>,
}

/// A config file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {err}")]
    Read { path: PathBuf, err: std::io::Error },
    #[error("invalid config file {path}: {msg}")]
    Parse { path: PathBuf, msg: String },
    #[error("{0}")]
    Invalid(String),
    /// The profile's authentication needs a key or an AK/SK that is nowhere to be found (the
    /// UI still opens: browsing needs none; sending says this).
    #[error("{0}")]
    Credentials(String),
}

/// The subdir of the data dir that holds the demo's history ([`Paths::history_dir`]).
pub const DEMO_DIR: &str = "demo";

/// The standard places.
#[derive(Debug, Clone)]
pub struct Paths {
    pub config_file: PathBuf,
    pub data_dir: PathBuf,
    pub state_dir: PathBuf,
}

impl Paths {
    /// The config file, data and state dirs after flags and env.
    pub fn resolve(o: &Overrides) -> Paths {
        let dirs = directories::ProjectDirs::from("", "", "volcv");
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        let config_dir = dirs
            .as_ref()
            .map(|d| d.config_dir().to_path_buf())
            .unwrap_or_else(|| home.join(".config/volcv"));
        let data_dir = o.data_dir.clone().unwrap_or_else(|| {
            dirs.as_ref()
                .map(|d| d.data_dir().to_path_buf())
                .unwrap_or_else(|| home.join(".local/share/volcv"))
        });
        let state_dir = dirs
            .as_ref()
            .and_then(|d| d.state_dir().map(Path::to_path_buf))
            .unwrap_or_else(|| home.join(".local/state/volcv"));
        Paths {
            config_file: o
                .config_path
                .clone()
                .unwrap_or_else(|| config_dir.join("config.toml")),
            data_dir,
            state_dir,
        }
    }

    /// Where the history store is: the data dir, or for `--demo` (every subcommand and the
    /// TUI) its `demo/` subdir, so requests to the embedded mock never mix with real ones.
    pub fn history_dir(&self, demo: bool) -> PathBuf {
        if demo {
            self.data_dir.join(DEMO_DIR)
        } else {
            self.data_dir.clone()
        }
    }

    /// The directory user themes and presets live in.
    pub fn config_dir(&self) -> PathBuf {
        self.config_file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }
}

/// A loaded config with the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub paths: Paths,
    /// Whether the file existed.
    pub from_file: bool,
    pub warnings: Vec<String>,
}

/// Loads the config file (a missing file is an empty config unless its path was given
/// explicitly).
pub fn load(o: &Overrides) -> Result<Loaded, ConfigError> {
    let paths = Paths::resolve(o);
    let path = paths.config_file.clone();
    let text = match read_text_file(&path, TEXT_FILE_CAP) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && o.config_path.is_none() => None,
        Err(err) => return Err(ConfigError::Read { path, err }),
    };
    let mut warnings = Vec::new();
    let config = match &text {
        None => Config::default(),
        Some(t) => parse(t).map_err(|msg| ConfigError::Parse {
            path: path.clone(),
            msg,
        })?,
    };
    if text.is_some()
        && config.profiles.values().any(Profile::holds_secret)
        && let Some(w) = readable_by_others_warning(&path)
    {
        warnings.push(w);
    }
    Ok(Loaded {
        config,
        paths,
        from_file: text.is_some(),
        warnings,
    })
}

/// Profile keys that hold secrets: their values never appear in messages.
const SECRET_KEYS: [&str; 3] = ["api_key", "access_key", "secret_key"];

/// Whether a line of TOML sets a secret: its key (plain, quoted or dotted, e.g.
/// `profiles.default.api_key`) ends in one of [`SECRET_KEYS`], or an inline table on it
/// (`default = { api_key = .. }`) names one.
fn line_sets_secret(line: &str) -> Option<&'static str> {
    let bare = |k: &str| {
        k.trim()
            .trim_matches(|c| c == '"' || c == '\'')
            .trim()
            .to_owned()
    };
    // Every `key =` on the line: the key itself and the keys of any inline table.
    let mut rest = line;
    while let Some((left, right)) = rest.split_once('=') {
        let key = left.rsplit(['{', ',']).next().unwrap_or(left);
        let last = key.rsplit('.').next().map(bare).unwrap_or_default();
        if let Some(s) = SECRET_KEYS.iter().find(|s| **s == last) {
            return Some(s);
        }
        rest = right;
    }
    None
}

/// What a TOML error on a secret's line says, without anything of the value: the value must
/// be a quoted string, the key is set twice, or it is in the wrong place.
fn secret_error(key: &str, toml_msg: &str) -> String {
    if toml_msg.contains("duplicate key") {
        format!(
            "{key} is set twice in the same table; keep one (the values are not shown: they are secrets)"
        )
    } else if toml_msg.contains("unknown field") {
        format!(
            "{key} is not allowed here: it belongs in a profile, e.g. [profiles.default] \
             {key} = \"...\" (the value is not shown: it is a secret)"
        )
    } else if toml_msg.contains("invalid type") {
        "the value must be a quoted string (the value is not shown: it is a secret)".to_owned()
    } else {
        format!("{key} has an invalid value (the value is not shown: it is a secret)")
    }
}

/// Parses config text; errors name the line and the key. A secret's value is never quoted
/// back, whatever the error and however the key is written (plain, dotted, inline table).
pub fn parse(text: &str) -> Result<Config, String> {
    let config: Config = toml::from_str(text).map_err(|e| {
        let mut msg = e.message().to_owned();
        if let Some(span) = e.span() {
            let start = text.floor_char_boundary(span.start.min(text.len()));
            let upto = &text[..start];
            let line = upto.matches('\n').count() + 1;
            let col = upto.rfind('\n').map_or(upto.len(), |i| upto.len() - i - 1) + 1;
            // The key of the line the error is on, for errors that do not name it (a value of
            // the wrong type).
            let line_text = text[upto.rfind('\n').map_or(0, |i| i + 1)..]
                .lines()
                .next()
                .unwrap_or_default();
            let key = line_text
                .split_once('=')
                .map(|(k, _)| k.trim().trim_matches('"').to_owned())
                .filter(|k| !k.is_empty() && !k.starts_with('['));
            // The span may cover several lines (a multi-line inline table): any of them.
            let end = text
                .floor_char_boundary(span.end.min(text.len()))
                .max(start);
            let spanned = &text[upto.rfind('\n').map_or(0, |i| i + 1)..end];
            let secret = spanned
                .lines()
                .chain(std::iter::once(line_text))
                .find_map(line_sets_secret)
                .or_else(|| {
                    SECRET_KEYS
                        .iter()
                        .copied()
                        .find(|k| msg.contains(&format!("`{k}`")))
                });
            // On a secret's line only a key that reads as one is quoted: a garbled line's
            // text before `=` may hold the secret's value itself.
            let key = key.filter(|k| {
                secret.is_none()
                    || k.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"' | '\'' | ' ')
                    })
            });
            msg = match (secret, key) {
                (Some(s), Some(k)) => {
                    format!(
                        "line {line}, column {col}, key {k:?}: {}",
                        secret_error(s, &msg)
                    )
                }
                (Some(s), None) => format!("line {line}, column {col}: {}", secret_error(s, &msg)),
                (None, Some(k)) => format!("line {line}, column {col}, key {k:?}: {msg}"),
                (None, None) => format!("line {line}, column {col}: {msg}"),
            };
        } else if let Some(s) = SECRET_KEYS.iter().find(|k| msg.contains(*k)) {
            msg = secret_error(s, &msg);
        }
        msg
    })?;
    if let Some((model, price)) = config
        .prices
        .iter()
        .find(|(_, p)| !p.is_finite() || **p < 0.0)
    {
        return Err(format!(
            "key \"prices.{model}\": {price} is not a price; give what one successful request \
             costs, a number >= 0 (e.g. {model} = 0.2)"
        ));
    }
    if let Some(spend) = config.budget.spend
        && (!spend.is_finite() || spend < 0.0)
    {
        return Err(format!(
            "key \"budget.spend\": {spend} is not an amount; give the most a day may spend at \
             [prices], a number >= 0"
        ));
    }
    if config.version > CONFIG_VERSION {
        return Err(format!(
            "version {} is newer than this volcv understands ({CONFIG_VERSION}); upgrade volcv",
            config.version
        ));
    }
    Ok(config)
}

#[cfg(unix)]
fn readable_by_others_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "config file {} holds a secret and is readable by others (mode {:o}); run: chmod 600 {}",
            path.display(),
            mode & 0o777,
            path.display()
        )
    })
}

#[cfg(not(unix))]
fn readable_by_others_warning(_path: &Path) -> Option<String> {
    None
}

/// Everything needed to talk to an endpoint.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub profile: String,
    pub target: Target,
    pub options: Options,
    /// The profile's request mode (`sync` unless it says `async`).
    pub mode: Mode,
}

impl Loaded {
    /// The active profile's name.
    pub fn profile_name(&self, o: &Overrides) -> String {
        o.profile
            .clone()
            .unwrap_or_else(|| self.config.profile.clone())
    }

    /// The active profile with env and flag overrides applied and credentials looked up.
    pub fn resolve(&self, o: &Overrides) -> Result<Resolved, ConfigError> {
        let name = self.profile_name(o);
        let profile = match self.config.profiles.get(&name) {
            Some(p) => p.clone(),
            None if name == "default" => Profile::default(),
            None => {
                let known: Vec<&str> = self.config.profiles.keys().map(String::as_str).collect();
                return Err(ConfigError::Invalid(format!(
                    "no profile {name:?} in {}; known profiles: {}",
                    self.paths.config_file.display(),
                    if known.is_empty() {
                        "(none)".to_owned()
                    } else {
                        known.join(", ")
                    }
                )));
            }
        };
        let endpoint_text = o
            .endpoint
            .clone()
            .or(profile.endpoint.clone())
            .unwrap_or_else(|| client::DIRECT_ENDPOINT.to_owned());
        let endpoint = Url::parse(&endpoint_text)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "endpoint {endpoint_text:?} is not an http(s) URL (e.g. {})",
                    client::DIRECT_ENDPOINT
                ))
            })?;
        let mode = o
            .auth
            .or(profile.auth)
            .unwrap_or_else(|| AuthMode::default_for(&endpoint));
        let auth = match mode {
            AuthMode::None => Auth::None,
            AuthMode::Bearer => {
                let key = env_nonempty(ENV_API_KEY)
                    .or(profile.api_key.clone())
                    .ok_or_else(|| {
                        ConfigError::Credentials(format!(
                            "auth bearer needs an API key: set {ENV_API_KEY} or api_key in profile {name:?} (or use --auth none)"
                        ))
                    })?;
                Auth::Bearer(Secret::new(key))
            }
            AuthMode::Volc => Auth::Volc {
                creds: find_ak_sk(&profile)?,
                region: profile
                    .region
                    .clone()
                    .unwrap_or_else(|| client::DEFAULT_REGION.to_owned()),
                service: profile
                    .service
                    .clone()
                    .unwrap_or_else(|| client::DEFAULT_SERVICE.to_owned()),
            },
        };
        let mut options = Options::default();
        if let Some(t) = o.timeout.or(profile.timeout_secs) {
            options.timeout = secs("timeout", t)?;
        }
        if let Some(t) = profile.connect_timeout_secs {
            options.connect_timeout = secs("connect_timeout_secs", t)?;
        }
        if let Some(r) = profile.retries {
            options.max_retries = r;
        }
        if let Some(mb) = profile.body_cap_mb {
            options.body_cap =
                usize::try_from(mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX);
        }
        if let Some(file) = &profile.ca_file {
            options.extra_roots = load_ca_file(&self.paths.config_dir().join(file))?;
        }
        Ok(Resolved {
            profile: name,
            target: Target {
                endpoint,
                action: profile
                    .action
                    .clone()
                    .unwrap_or_else(|| client::DEFAULT_ACTION.to_owned()),
                version: profile
                    .api_version
                    .clone()
                    .unwrap_or_else(|| client::DEFAULT_VERSION.to_owned()),
                auth,
            },
            options,
            mode: profile.mode.unwrap_or_default(),
        })
    }

    /// A sweep's rate and concurrency cap: the flags', else the active profile's, else
    /// [`DEFAULT_SWEEP_QPS`] and [`DEFAULT_SWEEP_CONCURRENCY`]; checked, with errors naming
    /// where a bad value came from.
    pub fn sweep_limits(
        &self,
        o: &Overrides,
        qps_flag: Option<f64>,
        concurrency_flag: Option<usize>,
    ) -> Result<(f64, usize), ConfigError> {
        let name = self.profile_name(o);
        let profile = self.config.profiles.get(&name);
        let (qps, qps_from) = match (qps_flag, profile.and_then(|p| p.qps)) {
            (Some(q), _) => (q, "--qps".to_owned()),
            (None, Some(q)) => (q, format!("qps in profile {name:?}")),
            (None, None) => (DEFAULT_SWEEP_QPS, "the default qps".to_owned()),
        };
        let qps = crate::sweep::bucket::check_qps(qps)
            .map_err(|e| ConfigError::Invalid(format!("{qps_from}: {e}")))?;
        let (n, n_from) = match (concurrency_flag, profile.and_then(|p| p.concurrency)) {
            (Some(n), _) => (n, "--concurrency".to_owned()),
            (None, Some(n)) => (n, format!("concurrency in profile {name:?}")),
            (None, None) => (DEFAULT_SWEEP_CONCURRENCY, "the default".to_owned()),
        };
        if !(1..=MAX_SWEEP_CONCURRENCY).contains(&n) {
            return Err(ConfigError::Invalid(format!(
                "{n_from}: concurrency {n} must be 1..{MAX_SWEEP_CONCURRENCY} requests in flight"
            )));
        }
        Ok((qps, n))
    }

    /// The schema's defaults with the config's `[defaults]` applied over them. A default for a
    /// field only other models take (`ddim_steps` for General 3.0) does not apply to this one.
    pub fn default_body(&self, schema: &Schema) -> Result<serde_json::Value, ConfigError> {
        let mut body = schema.default_body();
        let mut errors = Vec::new();
        for (name, value) in &self.config.defaults {
            if schema.is_foreign(name) {
                continue;
            }
            let text = match value {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if let Err(e) = schema.apply_set(&mut body, &format!("{name}={text}")) {
                errors.push(format!("[defaults] {name}: {e}"));
            }
        }
        if errors.is_empty() {
            Ok(schema.normalize(&body))
        } else {
            Err(ConfigError::Invalid(format!(
                "{}: {}",
                self.paths.config_file.display(),
                errors.join("; ")
            )))
        }
    }
}

/// The certificates of a PEM bundle for `ca_file`; errors name the file and say what a
/// bundle is.
fn load_ca_file(path: &Path) -> Result<Vec<reqwest::Certificate>, ConfigError> {
    let bad = |why: String| {
        ConfigError::Invalid(format!(
            "ca_file {}: {why} (expected PEM certificates: -----BEGIN CERTIFICATE----- blocks)",
            path.display()
        ))
    };
    let text = read_text_file(path, TEXT_FILE_CAP).map_err(|e| bad(e.to_string()))?;
    let certs = reqwest::Certificate::from_pem_bundle(text.as_bytes())
        .map_err(|e| bad(format!("not a certificate bundle: {e}")))?;
    if certs.is_empty() {
        return Err(bad("no certificate in it".to_owned()));
    }
    Ok(certs)
}

fn secs(name: &str, t: f64) -> Result<Duration, ConfigError> {
    Duration::try_from_secs_f64(t)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            ConfigError::Invalid(format!("{name} {t} must be a positive number of seconds"))
        })
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// AK/SK as the official SDKs look them up: env, then (volcv's addition) the profile, then
/// `~/.volc/credentials` (INI, `[default]`), then `~/.volc/config` (JSON `{"ak","sk"}`).
fn find_ak_sk(profile: &Profile) -> Result<AkSk, ConfigError> {
    let make = |ak: String, sk: String| AkSk::new(ak, sk);
    if let (Some(ak), Some(sk)) = (env_nonempty(ENV_ACCESS_KEY), env_nonempty(ENV_SECRET_KEY)) {
        return Ok(make(ak, sk));
    }
    if let (Some(ak), Some(sk)) = (&profile.access_key, &profile.secret_key) {
        return Ok(make(ak.clone(), sk.clone()));
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let cred_file = home.join(".volc/credentials");
    // A missing file is skipped; one that cannot be used (a FIFO, /dev/zero, too large) is
    // said, never read for ever.
    let read = |path: &Path| match read_text_file(path, TEXT_FILE_CAP) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ConfigError::Invalid(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    };
    if let Some(text) = read(&cred_file)?
        && let Some((ak, sk)) = parse_volc_credentials(&text)
    {
        return Ok(make(ak, sk));
    }
    let cfg_file = home.join(".volc/config");
    if let Some(text) = read(&cfg_file)?
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        && let (Some(ak), Some(sk)) = (v["ak"].as_str(), v["sk"].as_str())
    {
        return Ok(make(ak.to_owned(), sk.to_owned()));
    }
    Err(ConfigError::Credentials(format!(
        "auth volc needs an access key and secret key: set {ENV_ACCESS_KEY} and {ENV_SECRET_KEY}, \
         or write them to {} ([default] access_key_id, secret_access_key), \
         or use --auth bearer / --auth none",
        cred_file.display()
    )))
}

/// `[default]` `access_key_id` / `secret_access_key` from an INI credentials file.
fn parse_volc_credentials(text: &str) -> Option<(String, String)> {
    let mut section = String::new();
    let (mut ak, mut sk) = (None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.trim().to_owned();
            continue;
        }
        if section != "default" {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().trim_matches('"').to_owned();
            match k.trim() {
                "access_key_id" => ak = Some(v),
                "secret_access_key" => sk = Some(v),
                _ => {}
            }
        }
    }
    Some((ak?, sk?))
}

/// The config as TOML with secrets replaced (for `volcv config show`).
pub fn show_redacted(config: &Config) -> String {
    let mut c = config.clone();
    for p in c.profiles.values_mut() {
        for s in [&mut p.api_key, &mut p.access_key, &mut p.secret_key] {
            if s.is_some() {
                *s = Some(REDACTED.to_owned());
            }
        }
    }
    toml::to_string_pretty(&c).unwrap_or_default()
}

/// The commented starting config written by `volcv config init`.
pub const TEMPLATE: &str = r#"# volcv configuration. Every key is optional; flags and env variables override it.
version = 1

# The profile used when --profile is not given.
profile = "default"

[profiles.default]
# The URL to POST to; Action and Version are added by volcv.
# Direct Volcengine access (AK/SK signing):
endpoint = "https://visual.volcengineapi.com/"
# auth = "volc"            # volc | bearer | none; default: volc for visual.volcengineapi.com, else bearer
# region = "cn-north-1"
# service = "cv"
# timeout_secs = 60        # one attempt, body included
# connect_timeout_secs = 10
# retries = 3              # for 50429 / 50430
# body_cap_mb = 64
# mode = "sync"            # sync | async (submit a task, poll for it; see docs/async.md)
# qps = 1                  # volcv sweep: requests per second (set it a little under your account's QPS)
# concurrency = 4          # volcv sweep: requests in flight at once
# ca_file = "company-ca.pem" # trust this CA too (PEM; relative to this file's dir); SSL_CERT_FILE works too
# Credentials are best kept out of this file: VOLC_ACCESSKEY / VOLC_SECRETKEY, ~/.volc/credentials,
# or VOLCV_API_KEY for bearer relays. If you put them here, keep the file private (chmod 600).

# [profiles.relay]
# endpoint = "https://relay.example.com/volcv/v1"
# auth = "bearer"

# [profiles.mock]
# endpoint = "http://127.0.0.1:8787/"
# auth = "none"

[defaults]
# Request field defaults, by dotted name (see `volcv schema`).
# seed = 42
# "logo_info.add_logo" = true

[ui]
theme = "default"          # default | light | high-contrast, or a file in the config dir's themes/
image_protocol = "auto"    # auto | kitty | sixel | iterm2 | halfblocks | none
"#;

/// Writes the template to `path` (mode 0600), refusing to overwrite an existing file.
pub fn init(path: &Path) -> Result<(), String> {
    if path.exists() {
        return Err(format!(
            "{} already exists; volcv never overwrites a config file",
            path.display()
        ));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    write_private(path, TEMPLATE.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Creates a file readable only by its owner.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses_and_empty_text_is_default() {
        let c = parse(TEMPLATE).expect("template");
        assert_eq!(c.profile, "default");
        assert!(c.profiles.contains_key("default"));
        let e = parse("").expect("empty");
        assert_eq!(e.version, CONFIG_VERSION);
    }

    #[test]
    fn errors_name_line_and_key() {
        let e = parse("version = 1\n[profiles.a]\nendpoitn = \"x\"\n").expect_err("typo");
        assert!(e.starts_with("line 3, column 1, key \"endpoitn\":"), "{e}");
        assert!(e.contains("endpoitn"), "{e}");
        let e = parse("[profiles.a]\nretries = \"three\"\n").expect_err("type");
        assert!(
            e.starts_with("line 2, column 11, key \"retries\": invalid type"),
            "{e}"
        );
        let e = parse("[profiles.a]\napi_key = 123456789\n").expect_err("type");
        assert!(
            e.contains("key \"api_key\": the value must be a quoted string"),
            "{e}"
        );
        assert!(!e.contains("123456789"), "{e}");
        let e = parse("version = 9").expect_err("newer");
        assert!(e.contains("newer than this volcv"), "{e}");
    }

    #[test]
    fn debug_and_show_redact_secrets() {
        let c = parse(
            "[profiles.p]\napi_key = \"sk-abc\"\naccess_key = \"AKX\"\nsecret_key = \"SKX\"\n",
        )
        .expect("parse");
        let dbg = format!("{c:?}");
        let shown = show_redacted(&c);
        for s in ["sk-abc", "AKX", "SKX"] {
            assert!(!dbg.contains(s), "{dbg}");
            assert!(!shown.contains(s), "{shown}");
        }
        assert!(shown.contains(REDACTED));
    }

    #[test]
    fn mode_is_sync_or_async_and_a_typo_names_key_and_values() {
        let c = parse("[profiles.a]\nmode = \"async\"\n[profiles.b]\n").expect("parse");
        assert_eq!(c.profiles["a"].mode, Some(Mode::Async));
        assert_eq!(c.profiles["b"].mode, None);
        let e = parse("[profiles.a]\nmode = \"asnyc\"\n").expect_err("typo");
        assert!(e.starts_with("line 2, column 8, key \"mode\":"), "{e}");
        assert!(e.contains("mode must be \"sync\" or \"async\""), "{e}");
        assert!(e.contains("asnyc"), "{e}");
        let e = parse("[profiles.a]\nmode = 1\n").expect_err("not a string");
        assert!(
            e.starts_with("line 2") && e.contains("mode \"sync\" or \"async\""),
            "{e}"
        );
    }

    #[test]
    fn sweep_limits_come_from_flags_then_the_profile() {
        let loaded = |text: &str| Loaded {
            config: parse(text).expect("parse"),
            paths: Paths::resolve(&Overrides::default()),
            from_file: true,
            warnings: vec![],
        };
        let o = Overrides::default();
        let none = loaded("");
        assert_eq!(
            none.sweep_limits(&o, None, None).expect("defaults"),
            (DEFAULT_SWEEP_QPS, DEFAULT_SWEEP_CONCURRENCY)
        );
        let set = loaded("[profiles.default]\nqps = 2.5\nconcurrency = 8\n");
        assert_eq!(set.sweep_limits(&o, None, None).expect("profile"), (2.5, 8));
        assert_eq!(
            set.sweep_limits(&o, Some(0.5), Some(1)).expect("flags"),
            (0.5, 1)
        );
        let bad = loaded("[profiles.default]\nqps = 0\nconcurrency = 0\n");
        let e = bad
            .sweep_limits(&o, None, Some(2))
            .expect_err("qps 0")
            .to_string();
        assert!(
            e.starts_with("qps in profile \"default\": qps 0 must be"),
            "{e}"
        );
        let e = bad
            .sweep_limits(&o, Some(1.0), None)
            .expect_err("conc 0")
            .to_string();
        assert!(
            e.contains("concurrency in profile \"default\": concurrency 0 must be 1..64"),
            "{e}"
        );
        let e = none
            .sweep_limits(&o, Some(f64::NAN), None)
            .expect_err("nan")
            .to_string();
        assert!(e.starts_with("--qps: "), "{e}");
        let e = none
            .sweep_limits(&o, None, Some(100))
            .expect_err("100")
            .to_string();
        assert!(e.starts_with("--concurrency: "), "{e}");
    }

    #[test]
    fn volc_credentials_ini() {
        let t = "[other]\naccess_key_id = no\n[default]\naccess_key_id = AK1\nsecret_access_key = \"SK1\"\n";
        assert_eq!(
            parse_volc_credentials(t),
            Some(("AK1".to_owned(), "SK1".to_owned()))
        );
        assert_eq!(parse_volc_credentials("[default]\naccess_key_id=a\n"), None);
    }

    #[test]
    fn defaults_section_applies_through_the_schema() {
        let config =
            parse("[defaults]\nseed = 42\n\"logo_info.add_logo\" = true\n").expect("parse");
        let loaded = Loaded {
            config,
            paths: Paths::resolve(&Overrides::default()),
            from_file: true,
            warnings: vec![],
        };
        let schema = crate::api::schema::default_schema();
        let body = loaded.default_body(schema).expect("defaults");
        assert_eq!(body["seed"], 42);
        assert_eq!(body["logo_info"]["add_logo"], true);
        let bad = Loaded {
            config: parse("[defaults]\nwidth = \"wide\"\n").expect("parse"),
            ..loaded
        };
        let e = bad
            .default_body(schema)
            .expect_err("bad default")
            .to_string();
        assert!(
            e.contains("[defaults] width: width must be a whole number"),
            "{e}"
        );
    }

    #[test]
    fn defaults_for_fields_of_other_models_apply_only_to_them() {
        let loaded = Loaded {
            config: parse(
                "[defaults]
ddim_steps = 4
use_pre_llm = true
",
            )
            .expect("parse"),
            paths: Paths::resolve(&Overrides::default()),
            from_file: true,
            warnings: vec![],
        };
        let ip = crate::api::schema::default_schema();
        let body = loaded.default_body(ip).expect("ip");
        assert_eq!(body["ddim_steps"], 4);
        assert!(body.get("use_pre_llm").is_none());
        let g30 = crate::api::schema::schema_for("high_aes_general_v30l_zt2i").expect("3.0");
        let body = loaded.default_body(g30).expect("3.0");
        assert!(body.get("ddim_steps").is_none() && body.get("use_pre_llm").is_none());
        let g21 = crate::api::schema::schema_for("high_aes_general_v21_L").expect("2.1");
        let body = loaded.default_body(g21).expect("2.1");
        assert_eq!(
            (&body["ddim_steps"], &body["use_pre_llm"]),
            (&4.into(), &true.into())
        );
    }
}
