//! Rendering jobs: one per CVProcess request or async task, run on the blocking pool.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use image::RgbImage;
use rand::Rng as _;
use tokio::sync::OnceCell;

use crate::api::schema::SEED_MAX;

use super::render::{self, Reference, RenderError, RenderSpec, Watermark};
use super::rephrase::rephrase;
use super::util::lock;
use super::validate::{ImageInput, OutputOpts, Params, Rejection, WatermarkOpts};

/// Distinct watermark variants rendered and kept per async task.
const MAX_RENDERS_PER_TASK: usize = 8;

/// The reference image a job renders from.
#[derive(Debug)]
enum RefSource {
    None,
    Url(String),
    /// JPEG or PNG bytes, decoded at render time.
    Encoded(Arc<Vec<u8>>),
}

/// Everything needed to render one result (the seed already drawn).
#[derive(Debug)]
pub(super) struct Job {
    prompt: String,
    pub rephrased: String,
    params: Params,
    seed: u64,
    reference: RefSource,
}

impl Job {
    pub fn new(prompt: String, params: Params, image: ImageInput) -> Self {
        let seed = params
            .seed
            .unwrap_or_else(|| rand::rng().random_range(0..=SEED_MAX as u64));
        Self {
            rephrased: rephrase(
                &prompt,
                !matches!(image, ImageInput::None),
                params.desc_pushback,
            ),
            prompt,
            seed,
            params,
            reference: match image {
                ImageInput::None => RefSource::None,
                ImageInput::Url(u) => RefSource::Url(u),
                ImageInput::Bytes(b) => RefSource::Encoded(Arc::new(b)),
            },
        }
    }

    /// Checks on the blocking pool that the reference decodes, so that an async submit refuses
    /// what CVProcess would refuse when rendering.
    pub async fn check_reference(&self) -> Result<(), Rejection> {
        let RefSource::Encoded(bytes) = &self.reference else {
            return Ok(());
        };
        let bytes = bytes.clone();
        tokio::task::spawn_blocking(move || render::decode_reference(&bytes).map(drop))
            .await
            .map_err(join_failed)?
            .map_err(|e| render_rejection(&e))
    }

    /// Bytes the job holds (for the task store's cap).
    pub fn size(&self) -> usize {
        let reference = match &self.reference {
            RefSource::Encoded(b) => b.len(),
            RefSource::Url(u) => u.len(),
            RefSource::None => 0,
        };
        reference + self.prompt.len()
    }
}

/// An async task.
#[derive(Debug)]
pub(super) struct Task {
    pub created: Instant,
    pub req_key: &'static str,
    pub job: Arc<Job>,
    /// Results by watermark, each rendered once.
    renders: Mutex<Vec<(Option<WatermarkOpts>, RenderCell)>>,
}

type RenderCell = Arc<OnceCell<Arc<Vec<u8>>>>;

impl Task {
    /// A task for `job`, submitted now.
    pub fn new(req_key: &'static str, job: Job) -> Self {
        Self {
            created: Instant::now(),
            req_key,
            job: Arc::new(job),
            renders: Mutex::default(),
        }
    }

    /// The result for these output options, rendered on first use and kept.
    pub async fn rendered(&self, opts: &OutputOpts) -> Result<Arc<Vec<u8>>, Rejection> {
        let cell = {
            let mut renders = lock(&self.renders);
            match renders.iter().find(|(w, _)| *w == opts.watermark) {
                Some((_, cell)) => cell.clone(),
                None => {
                    if renders.len() >= MAX_RENDERS_PER_TASK {
                        renders.remove(0);
                    }
                    let cell = RenderCell::default();
                    renders.push((opts.watermark.clone(), cell.clone()));
                    cell
                }
            }
        };
        cell.get_or_try_init(|| generate(self.job.clone(), opts.watermark.clone()))
            .await
            .cloned()
    }
}

/// The business code of a render failure: 50215 for a reference with too many pixels, 50207
/// for one that does not decode, 50500 when the output cannot be encoded.
fn render_rejection(e: &RenderError) -> Rejection {
    match e {
        RenderError::TooLarge { .. } => Rejection::new(50215, e.to_string()),
        RenderError::UnsupportedFormat | RenderError::Decode(_) => {
            Rejection::new(50207, e.to_string())
        }
        RenderError::InvalidSize { .. } | RenderError::Encode(_) => {
            Rejection::new(50500, e.to_string())
        }
    }
}

fn join_failed(e: tokio::task::JoinError) -> Rejection {
    Rejection::new(50500, format!("the renderer stopped: {e}"))
}

/// Decodes the reference and renders the JPEG on the blocking pool.
pub(super) async fn generate(
    job: Arc<Job>,
    watermark: Option<WatermarkOpts>,
) -> Result<Arc<Vec<u8>>, Rejection> {
    tokio::task::spawn_blocking(move || {
        let decoded: Option<RgbImage> = match &job.reference {
            RefSource::Encoded(bytes) => {
                Some(render::decode_reference(bytes).map_err(|e| render_rejection(&e))?)
            }
            _ => None,
        };
        let reference = match (&job.reference, &decoded) {
            (_, Some(img)) => Reference::Image(img),
            (RefSource::Url(u), _) => Reference::Url(u),
            _ => Reference::None,
        };
        let text = watermark.as_ref().map(|w| {
            w.text
                .clone()
                .unwrap_or_else(|| render::default_watermark_text(w.language).to_owned())
        });
        let p = &job.params;
        let sr = if p.use_sr { 2 } else { 1 };
        let spec = RenderSpec {
            width: p.width * sr,
            height: p.height * sr,
            seed: job.seed,
            prompt: &job.prompt,
            reference,
            scale: p.scale as f32,
            ddim_steps: p.ddim_steps,
            cfg_rescale: p.cfg_rescale as f32,
            ref_ip_weight: p.ref_ip_weight as f32,
            ref_id_weight: p.ref_id_weight as f32,
            watermark: match (&watermark, &text) {
                (Some(w), Some(text)) => Some(Watermark {
                    text,
                    position: w.position,
                    opacity: w.opacity,
                }),
                _ => None,
            },
        };
        render::render_jpeg(&spec)
            .map(Arc::new)
            .map_err(|e| render_rejection(&e))
    })
    .await
    .map_err(join_failed)?
}
