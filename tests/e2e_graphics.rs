//! Inline images in real graphics terminals, decided from the pixels on the screen.
//!
//! Each case starts its own X server (Xvfb), opens a real terminal on it (xterm `-ti vt340`
//! for sixel, kitty with software GL for the kitty protocol), runs `volcv --demo` in it with a
//! photo-like 4 MB JPEG as the reference, presses F5 through the X server (xdotool) and
//! takes screenshots (ImageMagick's `import`). A character cell of text or half-blocks holds
//! two colours (antialiased glyphs add only blends of those two); a cell of a photo holds many
//! colours that are no blend of two. The test counts such "photo cells" in each pane:
//!
//! * after F5: in the Images tab, under the form (the reference) and in History (thumbnail);
//! * full screen (`f`): across the screen; and back;
//! * the Body tab: none left in the Response pane (no stale image); the Images tab again;
//! * help over the panes: none inside the overlay; closed: the images again.
//!
//! The detector's own check: the same run with `--image-protocol halfblocks` must find no photo
//! cell anywhere, or the detector would pass protocol text and half-blocks for images.
//!
//! The tools come from Debian's packages (xvfb, xterm, kitty, xdotool, imagemagick), which
//! `.ci/run` installs. Without them the test says what is missing and passes, except under
//! `CI`, where it fails: CI must run it.

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ratatui::layout::Rect;

/// One X server at a time: the machine has two cores and kitty renders in software.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const COLS: u16 = 160;
const ROWS: u16 = 48;

/// Tools every case needs.
const TOOLS: &[&str] = &["Xvfb", "xdotool", "import"];

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `Some(reason)` when this machine cannot run the case; under `CI` that is a failure.
fn missing(terminal: &str) -> Option<String> {
    let lacking: Vec<&str> = TOOLS
        .iter()
        .copied()
        .chain([terminal])
        .filter(|t| !have(t))
        .collect();
    if lacking.is_empty() {
        return None;
    }
    let why = format!(
        "not installed: {} (Debian: xvfb xterm kitty xdotool imagemagick)",
        lacking.join(", ")
    );
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run the graphics terminal test: {why}"
    );
    Some(why)
}

/// Kills a child process (and waits for it) when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An X server of its own on a free display (`-displayfd` picks the number).
struct X {
    _server: Reaped,
    display: String,
}

fn start_x() -> X {
    let mut server = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1920x1200x24",
            "-nolisten",
            "tcp",
            "-noreset",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start Xvfb");
    let mut line = String::new();
    BufReader::new(server.stdout.take().expect("Xvfb stdout"))
        .read_line(&mut line)
        .expect("read the display number");
    let n = line.trim();
    assert!(
        !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()),
        "Xvfb gave no display number ({line:?})"
    );
    X {
        _server: Reaped(server),
        display: format!(":{n}"),
    }
}

impl X {
    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("DISPLAY", &self.display)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        c
    }

    fn xdotool(&self, args: &[&str]) -> String {
        let out = self.cmd("xdotool").args(args).output().expect("xdotool");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn key(&self, keys: &[&str]) {
        for k in keys {
            self.xdotool(&["key", "--clearmodifiers", k]);
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    fn type_text(&self, text: &str) {
        self.xdotool(&["type", "--delay", "15", text]);
    }

    fn screenshot(&self, path: &Path) -> image::RgbImage {
        let status = self
            .cmd("import")
            .args(["-window", "root"])
            .arg(path)
            .status()
            .expect("import");
        assert!(status.success(), "screenshot failed");
        image::open(path).expect("read screenshot").to_rgb8()
    }
}

/// A terminal window running volcv, and where it is on the screen.
struct Term {
    _proc: Reaped,
    /// The window's text area in pixels (x, y, width, height).
    px: (u32, u32, u32, u32),
}

impl Term {
    fn cell(&self) -> (f64, f64) {
        (
            f64::from(self.px.2) / f64::from(COLS),
            f64::from(self.px.3) / f64::from(ROWS),
        )
    }

    /// `r` (in cells) in screenshot pixels.
    fn to_px(&self, r: Rect) -> (u32, u32, u32, u32) {
        let (cw, ch) = self.cell();
        let x = self.px.0 + (f64::from(r.x) * cw).round() as u32;
        let y = self.px.1 + (f64::from(r.y) * ch).round() as u32;
        (
            x,
            y,
            (f64::from(r.width) * cw).round() as u32,
            (f64::from(r.height) * ch).round() as u32,
        )
    }
}

/// The volcv command line the terminal runs (as `sh -c`), in a clean environment under `home`.
fn volcv_line(home: &Path, protocol: Option<&str>) -> String {
    let bin = env!("CARGO_BIN_EXE_volcv");
    let extra = protocol.map_or(String::new(), |p| format!(" --image-protocol {p}"));
    format!(
        "exec env -u TMUX -u KITTY_WINDOW_ID -u TERM_PROGRAM -u NO_COLOR {env} \
         LANG=C.UTF-8 '{bin}' --demo{extra}",
        env = common::home_env_line(home)
    )
}

fn start_terminal(x: &X, which: &str, home: &Path, protocol: Option<&str>) -> Term {
    let line = volcv_line(home, protocol);
    let fonts = home.join("fonts.conf");
    std::fs::write(&fonts, FONTS_CONF).expect("write fonts.conf");
    let geometry = format!("{COLS}x{ROWS}+0+0");
    let child = match which {
        "xterm" => x
            .cmd("xterm")
            .env("FONTCONFIG_FILE", &fonts)
            .args([
                "-ti",
                "vt340",
                "-xrm",
                "XTerm*numColorRegisters: 256",
                "-xrm",
                "XTerm*decTerminalID: vt340",
                "-geometry",
                &geometry,
                "-b",
                "0",
                "-bw",
                "0",
                "-fa",
                "DejaVu Sans Mono",
                "-fs",
                "9",
                "-e",
                "sh",
                "-c",
                &line,
            ])
            .spawn(),
        _ => x
            .cmd("kitty")
            .env("FONTCONFIG_FILE", &fonts)
            .env("LIBGL_ALWAYS_SOFTWARE", "1")
            .args([
                "--config",
                "NONE",
                "-o",
                "window_padding_width=0",
                "-o",
                &format!("initial_window_width={COLS}c"),
                "-o",
                &format!("initial_window_height={ROWS}c"),
                "-o",
                "remember_window_size=no",
                "-o",
                "font_size=9",
                "-o",
                "linux_display_server=x11",
                "-o",
                "enable_audio_bell=no",
                "sh",
                "-c",
                &line,
            ])
            .spawn(),
    }
    .unwrap_or_else(|e| panic!("start {which}: {e}"));
    let proc = Reaped(child);
    let win = common::wait_for(&format!("the {which} window"), 60, || {
        let pid = proc.0.id().to_string();
        let ids = x.xdotool(&["search", "--onlyvisible", "--pid", &pid]);
        let id = ids.lines().last()?.trim().to_owned();
        (!id.is_empty()).then_some(id)
    });
    let geo = x.xdotool(&["getwindowgeometry", "--shell", &win]);
    let get = |k: &str| {
        geo.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or_else(|| panic!("window geometry has no {k}: {geo}"))
    };
    let px = (get("X"), get("Y"), get("WIDTH"), get("HEIGHT"));
    // Keys go to the window under the pointer (no window manager here).
    x.xdotool(&[
        "mousemove",
        &(px.0 + px.2 / 2).to_string(),
        &(px.1 + px.3 / 2).to_string(),
    ]);
    Term { _proc: proc, px }
}

/// How many character cells in `region` hold a picture. A cell of text or half-blocks holds
/// its foreground, its background and, where glyphs are antialiased, blends of the two: all on
/// the line between two colours. A cell of a photo holds colours off any such line. A cell
/// counts when at least three of its pixels lie farther than 24 (of 255) from the segment
/// between its two most distant colours.
fn photo_cells(img: &image::RgbImage, t: &Term, region: Rect) -> usize {
    let (cw, ch) = t.cell();
    let mut n = 0;
    for row in 0..region.height {
        for col in 0..region.width {
            let cell = t.to_px(Rect::new(region.x + col, region.y + row, 1, 1));
            // A pixel in from each side: the neighbours' edges.
            let (x0, y0) = (cell.0 + 1, cell.1 + 1);
            let (x1, y1) = (
                (cell.0 + cw as u32).saturating_sub(1).min(img.width()),
                (cell.1 + ch as u32).saturating_sub(1).min(img.height()),
            );
            let mut px = Vec::new();
            for y in y0..y1 {
                for x in x0..x1 {
                    px.push(img.get_pixel(x, y).0.map(f64::from));
                }
            }
            if off_the_line(&px) >= 3 {
                n += 1;
            }
        }
    }
    n
}

/// How many of `px` lie farther than 24 from the segment between the two most distant colours
/// (found as the farthest from the mean, then the farthest from that one).
fn off_the_line(px: &[[f64; 3]]) -> usize {
    if px.is_empty() {
        return 0;
    }
    let d2 = |a: &[f64; 3], b: &[f64; 3]| (0..3).map(|i| (a[i] - b[i]).powi(2)).sum::<f64>();
    let len = px.len() as f64;
    let mean = [0, 1, 2].map(|i| px.iter().map(|p| p[i]).sum::<f64>() / len);
    let farthest = |from: &[f64; 3]| {
        px.iter()
            .copied()
            .max_by(|a, b| d2(a, from).total_cmp(&d2(b, from)))
            .unwrap_or(*from)
    };
    let a = farthest(&mean);
    let b = farthest(&a);
    let ab = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
    let l2 = ab.iter().map(|v| v * v).sum::<f64>();
    if l2 == 0.0 {
        return 0;
    }
    px.iter()
        .filter(|p| {
            let ap = [p[0] - a[0], p[1] - a[1], p[2] - a[2]];
            let t = ((0..3).map(|i| ap[i] * ab[i]).sum::<f64>() / l2).clamp(0.0, 1.0);
            (0..3).map(|i| (ap[i] - t * ab[i]).powi(2)).sum::<f64>() > 24.0 * 24.0
        })
        .count()
}

/// Fontconfig for the terminals: the system's fonts, drawn without antialiasing or subpixel
/// colour, so text puts exactly two colours into a cell.
const FONTS_CONF: &str = r#"<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>
  <match target="font">
    <edit name="antialias" mode="assign"><bool>false</bool></edit>
    <edit name="rgba" mode="assign"><const>none</const></edit>
    <edit name="embeddedbitmap" mode="assign"><bool>false</bool></edit>
  </match>
</fontconfig>
"#;

/// A photo-like reference of about 4 MB (what a phone's photo weighs), 2400x1800 JPEG: smooth
/// colour fields and rings under patches of random colour and per-channel grain, so that its
/// previews keep colours that are no blend of two at any scale a terminal shows them.
fn reference_photo(path: &Path) {
    let (w, h) = (2400u32, 1800u32);
    let mut seed = 0x9e37_79b9_u32;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    // One random colour per 20x20 patch.
    let (pw, ph) = (w.div_ceil(20), h.div_ceil(20));
    let patches: Vec<[i32; 3]> = (0..pw * ph)
        .map(|_| [0, 8, 16].map(|s| ((next() >> s) & 0xff) as i32))
        .collect();
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let fx = f64::from(x) / f64::from(w);
        let fy = f64::from(y) / f64::from(h);
        let d = ((fx - 0.5).powi(2) + (fy - 0.45).powi(2)).sqrt();
        let ring = ((d * 40.0).sin() * 60.0) as i32;
        let c = |v: f64| (v * 255.0) as i32;
        let base = [c(fx) + ring, c(fy) - ring / 2, c(1.0 - fx * fy) + ring / 3];
        let patch = patches[((y / 20) * pw + x / 20) as usize];
        let r = next();
        let grain = [0, 8, 16].map(|s| ((r >> s) & 0x3f) as i32 - 32);
        image::Rgb([0, 1, 2].map(|i| ((base[i] + patch[i]) / 2 + grain[i]).clamp(0, 255) as u8))
    });
    // The best quality under the service's limit of 4.7 MB.
    let mut bytes = Vec::new();
    for quality in (60..=95).rev().step_by(5) {
        bytes.clear();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
            .encode_image(&img)
            .expect("encode the reference");
        if bytes.len() < 4_600_000 {
            break;
        }
    }
    assert!(
        (3_500_000..4_700_000).contains(&bytes.len()),
        "the reference should weigh about 4 MB: {}",
        bytes.len()
    );
    std::fs::write(path, &bytes).expect("write the reference");
    eprintln!("reference: {w}x{h} JPEG, {} bytes", bytes.len());
}

struct Shot {
    img: image::RgbImage,
}

/// Takes screenshots until `ok` holds for one that is the same as the two before it (a
/// terminal paints a big frame over some time: a picture may be there before the text after
/// it), or until the screen has not changed for four shots in a row while `settled` holds (so a
/// run whose pictures never come, as with half-blocks, ends once the UI is done drawing), or
/// `secs` have passed. Returns the last.
fn shoot_until(
    x: &X,
    dir: &Path,
    name: &str,
    secs: u64,
    settled: &dyn Fn() -> bool,
    ok: impl Fn(&image::RgbImage) -> bool,
) -> Shot {
    let path = dir.join(format!("{name}.png"));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (mut last, mut same) = (None::<image::RgbImage>, 0);
    loop {
        let img = x.screenshot(&path);
        if last.as_ref().is_some_and(|l| *l == img) {
            same += 1;
        } else {
            same = 0;
        }
        if (same >= 2 && ok(&img)) || (same >= 3 && settled()) || Instant::now() >= deadline {
            return Shot { img };
        }
        last = Some(img);
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn log_text(home: &Path) -> String {
    std::fs::read_to_string(home.join("state/volcv/tui.log")).unwrap_or_default()
}

/// What one run saw, pane by pane (photo cells).
#[derive(Debug, Default)]
struct Seen {
    protocol: String,
    reference_alone: usize,
    images_tab: usize,
    under_form: usize,
    history: usize,
    fullscreen: usize,
    fullscreen_over_form: usize,
    back_from_fullscreen: usize,
    body_tab: usize,
    images_again: usize,
    inside_help: usize,
    help_response: usize,
    after_help: usize,
}

/// Where screenshots are kept: `target/e2e-graphics/<case>/` (looked at by people; CI keeps the
/// last run's).
fn shots_dir(case: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("e2e-graphics")
        .join(case);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

fn run_case(which: &str, protocol: Option<&str>, case: &str) -> Seen {
    let home = tempfile::tempdir().expect("home");
    let shots = shots_dir(case);
    let reference = home.path().join("portrait.jpg");
    reference_photo(&reference);
    let x = start_x();
    let t = start_terminal(&x, which, home.path(), protocol);
    // The UI is up and has decided its protocol: with `auto`, once the terminal answered
    // (the UI starts on what the environment says); a protocol asked for is used at start.
    let line = if protocol.is_some() {
        "image previews at start: "
    } else {
        "image previews: "
    };
    let protocol = common::wait_for("the UI's start-up (tui.log)", 60, || {
        let log = log_text(home.path());
        log.lines()
            .find_map(|l| l.split_once(line).map(|(_, p)| p.to_owned()))
    });
    let mut seen = Seen {
        protocol,
        ..Seen::default()
    };
    let size = Rect::new(0, 0, COLS, ROWS);
    let areas = volcv::tui::layout::areas(size);
    // The reference: a local file typed into the form's reference row (top row, then one
    // down: the model comes first), the URL there cleared first. Its preview under the form
    // is waited for before sending.
    let _ = shoot_until(&x, &shots, "0-start", 0, &|| true, |_| true);
    x.key(&["g"]);
    for _ in 0..reference_row() {
        x.key(&["j"]);
    }
    x.key(&["Return", "ctrl+u"]);
    x.type_text(&reference.display().to_string());
    x.key(&["Return"]);
    let shot = shoot_until(&x, &shots, "0-reference", 60, &|| true, |img| {
        photo_cells(img, &t, areas.params) >= 40
    });
    seen.reference_alone = photo_cells(&shot.img, &t, areas.params);
    x.key(&["F5"]);
    let resp = areas.response;
    let count = |img: &image::RgbImage| {
        (
            photo_cells(img, &t, resp),
            photo_cells(img, &t, areas.params),
            photo_cells(img, &t, areas.history),
        )
    };
    // Every pane shows its picture: the reference and the result in the Images tab, the
    // reference under the form, the result's thumbnail in History.
    let all_three = |img: &image::RgbImage, least: usize| {
        let (r, p, h) = count(img);
        r >= least && p >= 40 && h >= 10
    };
    let results = home.path().join("data/volcv/demo/images");
    let answered = || std::fs::read_dir(&results).is_ok_and(|mut d| d.next().is_some());
    let shot = shoot_until(&x, &shots, "1-after-f5", 90, &answered, |img| {
        all_three(img, 40)
    });
    (seen.images_tab, seen.under_form, seen.history) = count(&shot.img);
    // What "all there again" means from now on: nine tenths of the first count.
    let again = (seen.images_tab * 9 / 10).max(40);
    // Full screen (the Response pane has the keys): one big picture, nothing of the panes.
    x.key(&["2", "f"]);
    // The form's text (its top half, where no picture ever is) is under the big picture.
    let form_text = Rect::new(
        areas.params.x + 1,
        areas.params.y + 1,
        areas.params.width.saturating_sub(2),
        areas.params.height / 2,
    );
    let shot = shoot_until(&x, &shots, "2-fullscreen", 60, &|| true, |img| {
        photo_cells(img, &t, size) >= 400 && photo_cells(img, &t, form_text) >= 100
    });
    seen.fullscreen = photo_cells(&shot.img, &t, size);
    seen.fullscreen_over_form = photo_cells(&shot.img, &t, form_text);
    x.key(&["Escape"]);
    let shot = shoot_until(&x, &shots, "3-back", 60, &|| true, |img| {
        all_three(img, again)
    });
    seen.back_from_fullscreen = photo_cells(&shot.img, &t, resp);
    // Another tab: no picture may stay behind in the Response pane.
    x.key(&["l"]);
    let shot = shoot_until(&x, &shots, "4-body-tab", 60, &|| true, |img| {
        let (r, p, h) = count(img);
        r == 0 && p >= 40 && h >= 10
    });
    seen.body_tab = photo_cells(&shot.img, &t, resp);
    x.key(&["h"]);
    let shot = shoot_until(&x, &shots, "5-images-again", 60, &|| true, |img| {
        all_three(img, again)
    });
    seen.images_again = photo_cells(&shot.img, &t, resp);
    // Help over the panes hides the pictures it covers (both in the Response pane), then
    // closed, they are all back.
    x.key(&["question"]);
    let help = Rect::new(COLS / 2 - 20, ROWS / 2 - 5, 40, 10);
    let shot = shoot_until(&x, &shots, "6-help", 60, &|| true, |img| {
        photo_cells(img, &t, help) == 0 && photo_cells(img, &t, resp) < 10
    });
    seen.inside_help = photo_cells(&shot.img, &t, help);
    seen.help_response = photo_cells(&shot.img, &t, resp);
    x.key(&["Escape"]);
    let shot = shoot_until(&x, &shots, "7-after-help", 60, &|| true, |img| {
        all_three(img, again)
    });
    seen.after_help = photo_cells(&shot.img, &t, resp);
    eprintln!("{case}: {seen:?} (screenshots in {})", shots.display());
    x.key(&["q"]);
    seen
}

/// The reference row's index in the default form.
fn reference_row() -> usize {
    let schema = volcv::api::schema::default_schema();
    let form = volcv::tui::form::Form::new(schema, &schema.default_body());
    form.rows
        .iter()
        .position(|r| matches!(r.kind, volcv::tui::form::RowKind::Reference))
        .expect("the form has a reference row")
}

fn assert_real_images(seen: &Seen, want_protocol: &str) {
    assert!(
        seen.protocol.starts_with(want_protocol),
        "protocol chosen: {}",
        seen.protocol
    );
    assert!(
        seen.reference_alone >= 40,
        "no reference picture under the form: {seen:?}"
    );
    assert!(
        seen.images_tab >= 40,
        "Images tab shows no picture: {seen:?}"
    );
    assert!(
        seen.under_form >= 40,
        "no reference picture under the form: {seen:?}"
    );
    assert!(seen.history >= 10, "no thumbnail in History: {seen:?}");
    assert!(
        seen.fullscreen >= 400,
        "full screen shows no picture: {seen:?}"
    );
    assert!(
        seen.fullscreen_over_form >= 100,
        "full screen is not over the panes: {seen:?}"
    );
    let again = (seen.images_tab * 9 / 10).max(40);
    assert!(
        seen.back_from_fullscreen >= again,
        "not all back after full screen: {seen:?}"
    );
    assert_eq!(
        seen.body_tab, 0,
        "a picture stayed behind on the Body tab: {seen:?}"
    );
    assert!(seen.images_again >= again, "{seen:?}");
    assert_eq!(
        seen.inside_help, 0,
        "a picture drawn through the help overlay: {seen:?}"
    );
    assert!(
        seen.help_response < 10,
        "pictures under help stayed: {seen:?}"
    );
    assert!(
        seen.after_help >= again,
        "pictures not back after help: {seen:?}"
    );
}

#[test]
fn xterm_sixel_shows_real_images() {
    let Some(()) = missing("xterm").map_or(Some(()), |why| {
        eprintln!("skipping: {why}");
        None
    }) else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let seen = run_case("xterm", None, "xterm-sixel");
    assert_real_images(&seen, "sixel");
    // The detector's self-check: half-blocks in the same terminal are no pictures to it.
    let blocks = run_case("xterm", Some("halfblocks"), "xterm-halfblocks");
    assert!(blocks.protocol.starts_with("halfblocks"), "{blocks:?}");
    assert_eq!(
        (
            blocks.images_tab,
            blocks.under_form,
            blocks.history,
            blocks.fullscreen
        ),
        (0, 0, 0, 0),
        "the detector takes half-blocks for pictures: {blocks:?}"
    );
}

#[test]
fn kitty_shows_real_images() {
    let Some(()) = missing("kitty").map_or(Some(()), |why| {
        eprintln!("skipping: {why}");
        None
    }) else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let seen = run_case("kitty", None, "kitty");
    assert_real_images(&seen, "kitty");
}
