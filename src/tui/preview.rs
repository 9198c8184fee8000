//! Inline image previews: which graphics protocol to use, the keys of the images the UI shows,
//! and the cache of encoded images keyed by image and area.
//!
//! The terminal is queried at most once, at start-up, beside the running UI (see
//! [`crate::tui::termquery`]); drawing never queries it. Decoding and encoding happen in the worker (see
//! [`crate::tui::worker`]); the renderer only copies cached, already encoded images.

use image::DynamicImage;
use ratatui::layout::Rect;
use ratatui_image::picker::{Picker, ProtocolType};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Largest side, in pixels, of a decoded preview (bigger images are shrunk once, in the worker).
pub const PREVIEW_MAX_SIDE: u32 = 1024;

/// Most encoded images kept; beyond this, the ones not on screen are dropped.
const CACHE_MAX: usize = 48;

/// Most decoded images kept (each up to 1024x1024 px, about 4 MB); beyond this the oldest
/// not on screen are dropped and decoded again from their file if shown later.
pub const DECODED_MAX: usize = 32;

/// Most bytes of decoded pixels kept (24 previews of 1024x1024 RGBA); beyond this, as beyond
/// [`DECODED_MAX`], the oldest not on screen are dropped. What is on screen always stays.
pub const DECODED_BYTES_MAX: usize = 96 * 1024 * 1024;

/// The pixel bytes a decoded preview holds.
fn decoded_bytes(d: &Decoded) -> usize {
    d.as_ref().map_or(0, |img| img.as_bytes().len())
}

/// `--image-protocol` / `ui.image_protocol`: what the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProtocolChoice {
    /// Ask the terminal at start-up; environment hints when it cannot be asked; half-blocks
    /// when nothing better is known.
    Auto,
    /// The kitty graphics protocol (kitty, WezTerm, Ghostty, Konsole).
    Kitty,
    /// Sixel (xterm -ti vt340, foot, mlterm, WezTerm, Windows Terminal, iTerm2 3.5).
    Sixel,
    /// iTerm2's inline images (iTerm2, WezTerm, mintty, VS Code).
    Iterm2,
    /// Unicode half-blocks with 24-bit colour: works in every terminal.
    Halfblocks,
    /// No previews: labels only.
    None,
}

impl std::str::FromStr for ProtocolChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        <Self as clap::ValueEnum>::from_str(s.trim(), true).map_err(|_| {
            format!("unknown image protocol {s:?} (auto, kitty, sixel, iterm2, halfblocks or none)")
        })
    }
}

/// The protocol in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The kitty graphics protocol.
    Kitty,
    /// Sixel.
    Sixel,
    /// iTerm2 inline images.
    Iterm2,
    /// Unicode half-blocks.
    Halfblocks,
    /// No previews.
    None,
}

impl Protocol {
    /// The name shown to the user.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Kitty => "kitty",
            Protocol::Sixel => "sixel",
            Protocol::Iterm2 => "iterm2",
            Protocol::Halfblocks => "halfblocks",
            Protocol::None => "none",
        }
    }

    fn ratatui(self) -> Option<ProtocolType> {
        match self {
            Protocol::Kitty => Some(ProtocolType::Kitty),
            Protocol::Sixel => Some(ProtocolType::Sixel),
            Protocol::Iterm2 => Some(ProtocolType::Iterm2),
            Protocol::Halfblocks => Some(ProtocolType::Halfblocks),
            Protocol::None => None,
        }
    }
}

/// What the environment says about the terminal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvHints {
    /// `TERM`.
    pub term: String,
    /// `TERM_PROGRAM`.
    pub term_program: String,
    /// `LC_TERMINAL` (iTerm2 sets it, and it survives SSH when forwarded).
    pub lc_terminal: String,
    /// `KITTY_WINDOW_ID` is set.
    pub kitty_window: bool,
    /// `TMUX` is set (or `TERM` starts with `tmux`/`screen`).
    pub tmux: bool,
    /// Both stdin and stdout are terminals, so a query can be answered.
    pub tty: bool,
    /// `KONSOLE_VERSION` is set (Konsole's sixel and kitty placements are unreliable).
    pub konsole: bool,
}

impl EnvHints {
    /// Reads the hints from the process environment.
    pub fn from_env() -> EnvHints {
        use std::io::IsTerminal as _;
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        let term = var("TERM");
        let tmux = std::env::var_os("TMUX").is_some()
            || term.starts_with("tmux")
            || term.starts_with("screen");
        EnvHints {
            term_program: var("TERM_PROGRAM"),
            lc_terminal: var("LC_TERMINAL"),
            kitty_window: std::env::var_os("KITTY_WINDOW_ID").is_some(),
            tmux,
            tty: std::io::stdin().is_terminal() && std::io::stdout().is_terminal(),
            konsole: std::env::var_os("KONSOLE_VERSION").is_some_and(|v| !v.is_empty()),
            term,
        }
    }

    /// Whether the start-up query is worth making: `auto`, both ends are terminals, and the
    /// terminal is not `dumb`.
    pub fn can_query(&self) -> bool {
        self.tty && !self.term.is_empty() && self.term != "dumb"
    }
}

/// What the terminal answered to the start-up query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryAnswer {
    /// It answered (it always answers device status); these capabilities were reported.
    Answered {
        /// Kitty graphics.
        kitty: bool,
        /// Sixel (device attributes code 4).
        sixel: bool,
    },
    /// No answer within the timeout.
    Silent,
    /// Not asked (not `auto`, no terminal, or `TERM=dumb`).
    NotAsked,
}

fn iterm2_hint(h: &EnvHints) -> bool {
    let p = h.term_program.as_str();
    p.contains("iTerm")
        || p.contains("WezTerm")
        || p.contains("mintty")
        || p.contains("vscode")
        || h.lc_terminal.contains("iTerm")
}

/// Decides the protocol from the user's choice, the environment and the query's answer. Pure:
/// tests call it without a terminal.
///
/// An explicit choice wins. With `auto`, the terminal's own answer decides (kitty before
/// sixel); environment hints fill in what the query cannot tell (iTerm2 has no query) or
/// when there was no answer. Inside tmux, `KITTY_WINDOW_ID` and `TERM` describe the tmux
/// client's terminal at attach time and may be stale, so only the query counts for kitty,
/// and sixel (which tmux's redraws do not keep when passed through) gives way to
/// half-blocks unless asked for explicitly. Half-blocks when nothing is known.
pub fn choose_protocol(choice: ProtocolChoice, hints: &EnvHints, query: QueryAnswer) -> Protocol {
    match choice {
        ProtocolChoice::Kitty => return Protocol::Kitty,
        ProtocolChoice::Sixel => return Protocol::Sixel,
        ProtocolChoice::Iterm2 => return Protocol::Iterm2,
        ProtocolChoice::Halfblocks => return Protocol::Halfblocks,
        ProtocolChoice::None => return Protocol::None,
        ProtocolChoice::Auto => {}
    }
    if let QueryAnswer::Answered { kitty, sixel } = query {
        // iTerm2 cannot be queried; WezTerm answers kitty but draws iTerm2 images better;
        // Konsole answers both but places neither reliably (as ratatui-image notes).
        if iterm2_hint(hints) {
            return Protocol::Iterm2;
        }
        if hints.konsole {
            return Protocol::Halfblocks;
        }
        if kitty {
            return Protocol::Kitty;
        }
        // Through tmux the query reaches the outer terminal, but sixel passed through is not
        // kept by tmux's redraws (seen with tmux 3.3a in xterm): only kitty survives there.
        if sixel && !hints.tmux {
            return Protocol::Sixel;
        }
        return Protocol::Halfblocks;
    }
    if iterm2_hint(hints) {
        return Protocol::Iterm2;
    }
    if !hints.tmux && (hints.kitty_window || hints.term == "xterm-kitty") {
        return Protocol::Kitty;
    }
    if !hints.tmux && matches!(hints.term.as_str(), "foot" | "foot-extra" | "mlterm") {
        return Protocol::Sixel;
    }
    Protocol::Halfblocks
}

/// The protocol in use and the picker that encodes for it (none for [`Protocol::None`]).
#[derive(Clone)]
pub struct Setup {
    /// The protocol chosen.
    pub protocol: Protocol,
    /// Encodes images (cell size known from the query, else 10x20 px).
    pub picker: Option<Picker>,
    /// How it was decided, for the log.
    pub how: String,
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup")
            .field("protocol", &self.protocol)
            .field("how", &self.how)
            .finish_non_exhaustive()
    }
}

impl Setup {
    /// Half-blocks, without touching the terminal (tests, and the fallback).
    pub fn halfblocks() -> Setup {
        Setup::with(Picker::halfblocks(), Protocol::Halfblocks, "half-blocks")
    }

    /// `protocol` with cells of `font` pixels (width, height), without asking the terminal:
    /// what the start-up query decides, for tests and benchmarks.
    pub fn for_protocol(protocol: Protocol, font: (u16, u16)) -> Setup {
        #[expect(
            deprecated,
            reason = "the only public constructor of a Picker with a known cell size"
        )]
        let picker = Picker::from_fontsize(ratatui_image::FontSize::new(font.0, font.1));
        Setup::with(picker, protocol, "chosen by the caller")
    }

    /// No previews.
    pub fn none() -> Setup {
        Setup {
            protocol: Protocol::None,
            picker: None,
            how: "previews off".to_owned(),
        }
    }

    /// `picker` set to `protocol` (none for [`Protocol::None`]); `how` is for the log.
    pub(crate) fn with(mut picker: Picker, protocol: Protocol, how: &str) -> Setup {
        match protocol.ratatui() {
            Some(t) => {
                picker.set_protocol_type(t);
                Setup {
                    protocol,
                    picker: Some(picker),
                    how: how.to_owned(),
                }
            }
            None => Setup::none(),
        }
    }

    /// `NO_COLOR` decides colours, not whether images are drawn: kitty, sixel and iTerm2
    /// images stay. Half-block previews are nothing but colours (without them, `▀` noise), so
    /// with `no_color` they give way to labels.
    pub fn respecting_no_color(self, no_color: bool) -> Setup {
        if no_color && self.protocol == Protocol::Halfblocks {
            let mut s = Setup::none();
            s.how = format!(
                "labels only: half-blocks need colour and NO_COLOR is set ({})",
                self.how
            );
            return s;
        }
        self
    }
}

/// An image the UI can show.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ImageKey {
    /// Result `index` of request `id`.
    Result {
        /// The request.
        id: u64,
        /// Which result.
        index: usize,
    },
    /// The reference image sent with request `id`.
    Reference {
        /// The request.
        id: u64,
    },
    /// The reference image loaded in the form from this input.
    Form(String),
    /// The first result of cell `cell` of this run's sweep number `sweep`.
    Cell {
        /// The sweep.
        sweep: u64,
        /// The cell.
        cell: usize,
    },
}

/// An encoded image ready to draw.
#[derive(Clone)]
pub enum Encoded {
    /// Encoded by ratatui-image: half-blocks, sixel, iTerm2, and kitty inside tmux
    /// (U+10EEEE image cells, which tmux keeps in place as text).
    Widget(Arc<ratatui_image::protocol::Protocol>),
    /// kitty outside tmux: one graphics command that transmits the image as PNG and places it
    /// at the cursor, over `cells` (columns, rows). Placed images are supported by every kitty
    /// version (and WezTerm, Ghostty, Konsole); the U+10EEEE image cells ratatui-image uses
    /// need kitty 0.28 or later, and older versions (Debian 12 has 0.26) drew `▯` boxes.
    KittyPlaced {
        /// The whole command sequence (chunked APCs), sent each time the image is drawn.
        seq: Arc<str>,
        /// How many cells the placed image covers.
        cells: (u16, u16),
    },
}

impl std::fmt::Debug for Encoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Encoded::Widget(_) => f.write_str("Encoded::Widget(..)"),
            Encoded::KittyPlaced { seq, cells } => f
                .debug_struct("Encoded::KittyPlaced")
                .field("bytes", &seq.len())
                .field("cells", cells)
                .finish(),
        }
    }
}

/// Mends a sixel image that ratatui-image wrapped for tmux passthrough. Inside `ESC P tmux;
/// ... ESC \` every ESC of the wrapped sequence must be doubled; ratatui-image doubles the first
/// one but not the sixel's own terminator, so the passthrough ended there, and the outer
/// terminal got a sixel sequence that was never terminated (it then took what followed for
/// sixel data: seen with tmux 3.3a, where no image stayed and text went missing). The data is
/// `ESC P tmux;` + (doubled escapes) + sixel + `ESC \` + `ESC \`; this doubles the ESC of the
/// sixel's `ESC \`.
pub fn close_tmux_sixel(data: &mut String) {
    const ST: &str = "\x1b\\";
    let broken = data.starts_with("\x1bPtmux;")
        && data.ends_with(&format!("{ST}{ST}"))
        && !data.ends_with(&format!("\x1b{ST}{ST}"));
    if broken {
        data.truncate(data.len() - 2 * ST.len());
        data.push_str("\x1b\x1b\\");
        data.push_str(ST);
    }
}

/// kitty's graphics command that deletes every placement on the screen and frees the images'
/// data: sent before a frame that places kitty images anew (see [`Encoded::KittyPlaced`]).
pub const KITTY_DELETE_ALL: &str = "\x1b_Ga=d,d=A,q=2;\x1b\\";

/// Encodes `image` for a direct kitty placement that fits `width` x `height` cells of
/// `font` (pixels per cell), keeping its aspect ratio. The image is scaled to the pixels it
/// will cover and sent as PNG, in chunks of 4096 base64 characters as the protocol asks;
/// `q=2` keeps kitty's answers off the input, `C=1` leaves the cursor where it was.
pub fn kitty_placed(
    image: &DynamicImage,
    width: u16,
    height: u16,
    font: (u16, u16),
) -> Result<Encoded, String> {
    use base64::Engine as _;
    use std::sync::atomic::{AtomicU32, Ordering};
    /// Image numbers, unique in this process (kitty keeps one image per number and window).
    static NEXT_ID: AtomicU32 = AtomicU32::new(0x00A1_0000);
    let (cw, ch) = (u32::from(font.0.max(1)), u32::from(font.1.max(1)));
    let (box_w, box_h) = (u32::from(width) * cw, u32::from(height) * ch);
    if box_w == 0 || box_h == 0 || image.width() == 0 || image.height() == 0 {
        return Err("no room for the image".to_owned());
    }
    // Fit inside the box, up or down, aspect kept.
    let scale = f64::min(
        f64::from(box_w) / f64::from(image.width()),
        f64::from(box_h) / f64::from(image.height()),
    );
    let px = |v: u32, max: u32| ((f64::from(v) * scale).round() as u32).clamp(1, max);
    let (w, h) = (px(image.width(), box_w), px(image.height(), box_h));
    let fitted = image.resize_exact(w, h, image::imageops::FilterType::Triangle);
    let mut png = Vec::new();
    fitted
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| format!("cannot encode the preview: {e}"))?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&png);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let chunks: Vec<&[u8]> = b64.as_bytes().chunks(4096).collect();
    let mut seq = String::with_capacity(b64.len() + chunks.len() * 16 + 64);
    for (i, chunk) in chunks.iter().enumerate() {
        let more = u8::from(i + 1 < chunks.len());
        if i == 0 {
            seq.push_str(&format!("\x1b_Ga=T,f=100,i={id},q=2,C=1,m={more};"));
        } else {
            seq.push_str(&format!("\x1b_Gm={more};"));
        }
        // Base64 is ASCII.
        seq.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        seq.push_str("\x1b\\");
    }
    let cells = (
        u16::try_from(w.div_ceil(cw)).unwrap_or(width).min(width),
        u16::try_from(h.div_ceil(ch)).unwrap_or(height).min(height),
    );
    Ok(Encoded::KittyPlaced {
        seq: seq.into(),
        cells,
    })
}

/// A decoded image, or why there is none.
pub type Decoded = Result<Arc<DynamicImage>, String>;

/// Decoded and encoded previews. Filled only by worker messages; read by the renderer.
#[derive(Debug, Default)]
pub struct Previews {
    /// Whether previews are drawn at all (protocol other than none).
    pub enabled: bool,
    /// Decoded (and shrunk) images.
    pub decoded: HashMap<ImageKey, Decoded>,
    /// Encoded images by image and area size (width, height in cells).
    pub encoded: HashMap<(ImageKey, u16, u16), Result<Encoded, String>>,
    /// Encodings asked of the worker and not back yet.
    pub pending: HashSet<(ImageKey, u16, u16)>,
    /// Decoded keys, oldest first (for eviction).
    order: std::collections::VecDeque<ImageKey>,
    /// Keys dropped to bound memory: decoded again when they are shown.
    pub evicted: HashSet<ImageKey>,
    /// Decodes asked of the worker for evicted keys and not back yet.
    pub decoding: HashSet<ImageKey>,
}

impl Previews {
    /// Previews on or off.
    pub fn new(enabled: bool) -> Previews {
        Previews {
            enabled,
            ..Default::default()
        }
    }

    /// Stores a decoded image (replacing an older decode of the same key and its encodings),
    /// then drops the oldest decoded images not in `visible` beyond [`DECODED_MAX`] images or
    /// [`DECODED_BYTES_MAX`] bytes.
    pub fn insert_decoded(&mut self, key: ImageKey, image: Decoded, visible: &[(ImageKey, Rect)]) {
        self.encoded.retain(|(k, _, _), _| *k != key);
        self.decoding.remove(&key);
        self.evicted.remove(&key);
        self.order.retain(|k| *k != key);
        self.order.push_back(key.clone());
        self.decoded.insert(key, image);
        let mut bytes: usize = self.decoded.values().map(decoded_bytes).sum();
        let mut i = 0;
        while (self.decoded.len() > DECODED_MAX || bytes > DECODED_BYTES_MAX)
            && i < self.order.len()
        {
            let shown = visible.iter().any(|(k, _)| *k == self.order[i]);
            if shown {
                i += 1;
                continue;
            }
            if let Some(old) = self.order.remove(i) {
                if let Some(d) = self.decoded.remove(&old) {
                    bytes = bytes.saturating_sub(decoded_bytes(&d));
                }
                self.encoded.retain(|(k, _, _), _| *k != old);
                self.evicted.insert(old);
            }
        }
    }

    /// Marks an image as decodable on demand: decoded from its bytes when it is shown (an
    /// entry read back from the history store).
    pub fn on_demand(&mut self, key: ImageKey) {
        if !self.decoded.contains_key(&key) {
            self.evicted.insert(key);
        }
    }

    /// Drops everything held for request `id`'s images (its view left memory).
    pub fn forget_request(&mut self, id: u64) {
        let of = |k: &ImageKey| match k {
            ImageKey::Result { id: i, .. } | ImageKey::Reference { id: i } => *i == id,
            ImageKey::Form(_) | ImageKey::Cell { .. } => false,
        };
        self.decoded.retain(|k, _| !of(k));
        self.encoded.retain(|(k, _, _), _| !of(k));
        self.pending.retain(|(k, _, _)| !of(k));
        self.order.retain(|k| !of(k));
        self.evicted.retain(|k| !of(k));
        self.decoding.retain(|k| !of(k));
    }

    /// The encoded image for `key` at exactly `area`'s size, if ready.
    pub fn get(&self, key: &ImageKey, area: Rect) -> Option<&Result<Encoded, String>> {
        self.encoded.get(&(key.clone(), area.width, area.height))
    }

    /// Which of `wanted` (image, area) pairs need encoding; marks them pending. Drops cached
    /// encodings not wanted now once the cache is over its size.
    pub fn missing(
        &mut self,
        wanted: &[(ImageKey, Rect)],
    ) -> Vec<(ImageKey, Arc<DynamicImage>, u16, u16)> {
        if !self.enabled {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (key, area) in wanted {
            if area.width == 0 || area.height == 0 {
                continue;
            }
            let k = (key.clone(), area.width, area.height);
            if self.encoded.contains_key(&k) || self.pending.contains(&k) {
                continue;
            }
            if let Some(Ok(img)) = self.decoded.get(key) {
                self.pending.insert(k);
                out.push((key.clone(), Arc::clone(img), area.width, area.height));
            }
        }
        if self.encoded.len() > CACHE_MAX {
            let keep: HashSet<(ImageKey, u16, u16)> = wanted
                .iter()
                .map(|(k, a)| (k.clone(), a.width, a.height))
                .collect();
            self.encoded.retain(|k, _| keep.contains(k));
        }
        out
    }
}

/// A [`Setup`] in a command (compared by protocol and how it was decided).
#[derive(Debug, Clone)]
pub struct SetupRef(pub Arc<Setup>);

impl PartialEq for SetupRef {
    fn eq(&self, other: &Self) -> bool {
        self.0.protocol == other.0.protocol && self.0.how == other.0.how
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hints(term: &str) -> EnvHints {
        EnvHints {
            term: term.to_owned(),
            tty: true,
            ..Default::default()
        }
    }

    #[test]
    fn an_explicit_choice_wins_over_everything() {
        let kitty_term = EnvHints {
            kitty_window: true,
            ..hints("xterm-kitty")
        };
        let answered = QueryAnswer::Answered {
            kitty: true,
            sixel: true,
        };
        for (choice, want) in [
            (ProtocolChoice::Sixel, Protocol::Sixel),
            (ProtocolChoice::Iterm2, Protocol::Iterm2),
            (ProtocolChoice::Halfblocks, Protocol::Halfblocks),
            (ProtocolChoice::None, Protocol::None),
            (ProtocolChoice::Kitty, Protocol::Kitty),
        ] {
            assert_eq!(choose_protocol(choice, &kitty_term, answered), want);
        }
        assert_eq!(
            choose_protocol(ProtocolChoice::Kitty, &hints("dumb"), QueryAnswer::NotAsked),
            Protocol::Kitty
        );
    }

    #[test]
    fn auto_follows_the_terminals_answer() {
        let h = hints("xterm-256color");
        let ans = |kitty, sixel| QueryAnswer::Answered { kitty, sixel };
        let auto = ProtocolChoice::Auto;
        assert_eq!(choose_protocol(auto, &h, ans(true, true)), Protocol::Kitty);
        assert_eq!(choose_protocol(auto, &h, ans(false, true)), Protocol::Sixel);
        assert_eq!(
            choose_protocol(auto, &h, ans(false, false)),
            Protocol::Halfblocks
        );
        // iTerm2 cannot be queried: its environment says so.
        let iterm = EnvHints {
            term_program: "iTerm.app".into(),
            ..h.clone()
        };
        assert_eq!(
            choose_protocol(auto, &iterm, ans(false, true)),
            Protocol::Iterm2
        );
        // A terminal that says it has no graphics is believed over a stale KITTY_WINDOW_ID.
        let stale = EnvHints {
            kitty_window: true,
            ..h
        };
        assert_eq!(
            choose_protocol(auto, &stale, ans(false, false)),
            Protocol::Halfblocks
        );
    }

    #[test]
    fn without_an_answer_the_environment_decides() {
        let auto = ProtocolChoice::Auto;
        let silent = QueryAnswer::Silent;
        let kitty = EnvHints {
            kitty_window: true,
            ..hints("xterm-kitty")
        };
        assert_eq!(choose_protocol(auto, &kitty, silent), Protocol::Kitty);
        assert_eq!(
            choose_protocol(auto, &hints("xterm-kitty"), QueryAnswer::NotAsked),
            Protocol::Kitty
        );
        assert_eq!(
            choose_protocol(auto, &hints("foot"), silent),
            Protocol::Sixel
        );
        let wez = EnvHints {
            term_program: "WezTerm".into(),
            ..hints("xterm-256color")
        };
        assert_eq!(choose_protocol(auto, &wez, silent), Protocol::Iterm2);
        let lc = EnvHints {
            lc_terminal: "iTerm2".into(),
            ..hints("xterm-256color")
        };
        assert_eq!(choose_protocol(auto, &lc, silent), Protocol::Iterm2);
        // Inside tmux a sixel answer is not enough (passthrough sixel does not survive
        // tmux's redraws); kitty through passthrough is.
        let tmux = EnvHints {
            tmux: true,
            ..hints("screen-256color")
        };
        let ans = |kitty, sixel| QueryAnswer::Answered { kitty, sixel };
        assert_eq!(
            choose_protocol(auto, &tmux, ans(false, true)),
            Protocol::Halfblocks
        );
        assert_eq!(
            choose_protocol(auto, &tmux, ans(true, true)),
            Protocol::Kitty
        );
        assert_eq!(
            choose_protocol(ProtocolChoice::Sixel, &tmux, ans(false, true)),
            Protocol::Sixel
        );
        // Inside tmux the outer terminal's variables may be stale: half-blocks.
        let in_tmux = EnvHints {
            tmux: true,
            ..kitty
        };
        assert_eq!(
            choose_protocol(auto, &in_tmux, silent),
            Protocol::Halfblocks
        );
        assert_eq!(
            choose_protocol(auto, &hints("xterm-256color"), silent),
            Protocol::Halfblocks
        );
    }

    #[test]
    fn no_color_turns_half_blocks_into_labels_and_keeps_graphics() {
        let blocks = Setup::halfblocks().respecting_no_color(true);
        assert_eq!(blocks.protocol, Protocol::None);
        assert!(blocks.how.contains("NO_COLOR"), "{}", blocks.how);
        assert_eq!(
            Setup::halfblocks().respecting_no_color(false).protocol,
            Protocol::Halfblocks
        );
        for p in [Protocol::Kitty, Protocol::Sixel, Protocol::Iterm2] {
            let s = Setup::with(Picker::halfblocks(), p, "test").respecting_no_color(true);
            assert_eq!(s.protocol, p, "NO_COLOR turned {p:?} off");
        }
    }

    #[test]
    fn a_tmux_wrapped_sixel_ends_inside_the_passthrough() {
        let mut d = "\x1bPtmux;\x1b\x1b[3X\x1b\x1bP9;1;0q#0~\x1b\\\x1b\\".to_owned();
        close_tmux_sixel(&mut d);
        assert_eq!(d, "\x1bPtmux;\x1b\x1b[3X\x1b\x1bP9;1;0q#0~\x1b\x1b\\\x1b\\");
        // Once only, and nothing else is touched.
        let mut again = d.clone();
        close_tmux_sixel(&mut again);
        assert_eq!(again, d);
        let mut plain = "\x1bP9;1;0q#0~\x1b\\".to_owned();
        close_tmux_sixel(&mut plain);
        assert_eq!(plain, "\x1bP9;1;0q#0~\x1b\\");
    }

    #[test]
    fn kitty_placements_fit_their_cells_and_are_well_formed() {
        let img = DynamicImage::new_rgb8(400, 200);
        let Ok(Encoded::KittyPlaced { seq, cells }) = kitty_placed(&img, 20, 20, (10, 20)) else {
            panic!("not a placement");
        };
        // 200x400 px of room: 200x100 px, 20 columns and 5 rows.
        assert_eq!(cells, (20, 5));
        assert!(seq.starts_with("\x1b_Ga=T,f=100,i="));
        assert!(seq.contains(",q=2,C=1,"));
        assert!(seq.ends_with("\x1b\\"));
        let chunks = seq.matches("\x1b_G").count();
        assert_eq!(chunks, seq.matches("\x1b\\").count());
        let Ok(Encoded::KittyPlaced { seq: other, .. }) = kitty_placed(&img, 20, 20, (10, 20))
        else {
            panic!("not a placement");
        };
        assert_ne!(seq, other, "two encodings share an image number");
        assert!(kitty_placed(&img, 0, 5, (10, 20)).is_err());
    }

    #[test]
    fn queries_only_real_terminals() {
        assert!(hints("xterm-256color").can_query());
        assert!(!hints("dumb").can_query());
        assert!(!hints("").can_query());
        let piped = EnvHints {
            tty: false,
            ..hints("xterm-256color")
        };
        assert!(!piped.can_query());
    }

    #[test]
    fn choices_parse_from_config_text() {
        assert_eq!("auto".parse::<ProtocolChoice>(), Ok(ProtocolChoice::Auto));
        assert_eq!(
            " Sixel ".parse::<ProtocolChoice>(),
            Ok(ProtocolChoice::Sixel)
        );
        assert_eq!("none".parse::<ProtocolChoice>(), Ok(ProtocolChoice::None));
        assert!("png".parse::<ProtocolChoice>().is_err());
    }

    #[test]
    fn decoded_images_are_bounded_and_what_is_on_screen_stays() {
        let mut p = Previews::new(true);
        let key = |id| ImageKey::Result { id, index: 0 };
        let on_screen = [(key(0), Rect::new(0, 0, 4, 4))];
        for id in 0..(DECODED_MAX as u64 + 8) {
            p.insert_decoded(
                key(id),
                Ok(Arc::new(DynamicImage::new_rgb8(2, 2))),
                &on_screen,
            );
        }
        assert_eq!(p.decoded.len(), DECODED_MAX);
        assert!(p.decoded.contains_key(&key(0)), "the visible one stays");
        assert!(
            !p.decoded.contains_key(&key(1)),
            "the oldest hidden one goes"
        );
        assert!(p.evicted.contains(&key(1)));
        // Decoded again, it is no longer evicted.
        p.insert_decoded(key(1), Ok(Arc::new(DynamicImage::new_rgb8(2, 2))), &[]);
        assert!(!p.evicted.contains(&key(1)));
        assert_eq!(p.decoded.len(), DECODED_MAX);
    }

    #[test]
    fn decoded_images_are_bounded_by_bytes_too() {
        // 40 full-size previews (4 MiB each, as 40 copies of a large PNG in one entry make).
        let mut p = Previews::new(true);
        let key = |id| ImageKey::Result { id: 7, index: id };
        let big = || Ok(Arc::new(DynamicImage::new_rgba8(1024, 1024)));
        let on_screen = [(key(0), Rect::new(0, 0, 4, 4))];
        for i in 0..40 {
            p.insert_decoded(key(i), big(), &on_screen);
            let held: usize = p.decoded.values().map(decoded_bytes).sum();
            assert!(held <= DECODED_BYTES_MAX, "{held} bytes after {i}");
        }
        assert_eq!(p.decoded.len(), DECODED_BYTES_MAX / (4 * 1024 * 1024));
        assert!(p.decoded.contains_key(&key(0)), "the visible one stays");
        assert!(p.decoded.contains_key(&key(39)), "the newest stays");
        assert!(p.evicted.contains(&key(1)), "decoded again when shown");
        // What is on screen stays even over the bound.
        let all: Vec<(ImageKey, Rect)> = (0..30).map(|i| (key(i), Rect::new(0, 0, 1, 1))).collect();
        for i in 0..30 {
            p.insert_decoded(key(i), big(), &all);
        }
        assert!(all.iter().all(|(k, _)| p.decoded.contains_key(k)));
    }

    #[test]
    fn the_cache_asks_each_image_and_size_once() {
        let mut p = Previews::new(true);
        let key = ImageKey::Result { id: 1, index: 0 };
        let area = Rect::new(3, 4, 10, 5);
        assert!(
            p.missing(&[(key.clone(), area)]).is_empty(),
            "not decoded yet"
        );
        p.decoded
            .insert(key.clone(), Ok(Arc::new(DynamicImage::new_rgb8(4, 4))));
        assert_eq!(p.missing(&[(key.clone(), area)]).len(), 1);
        assert!(p.missing(&[(key.clone(), area)]).is_empty(), "pending");
        // Same size elsewhere on screen: same encoding.
        assert!(
            p.missing(&[(key.clone(), Rect::new(0, 0, 10, 5))])
                .is_empty()
        );
        assert_eq!(p.missing(&[(key, Rect::new(0, 0, 11, 5))]).len(), 1);
        let mut off = Previews::new(false);
        off.decoded.insert(
            ImageKey::Form("a".into()),
            Ok(Arc::new(DynamicImage::new_rgb8(4, 4))),
        );
        assert!(
            off.missing(&[(ImageKey::Form("a".into()), area)])
                .is_empty()
        );
    }
}
