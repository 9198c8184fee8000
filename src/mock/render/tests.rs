//! Tests of the mock's renderer: determinism, every knob's visible effect, bounds and speed.

use super::glyphs::{CJK_GLYPHS, TOFU, glyph, glyph_mask, glyph_px};
use super::maths::{atan2_turns, cos_turns, hsv, sin_turns, to_u8};
use super::sampler::{Crop, taps};
use super::style::{Style, colour_hint};
use super::tone::{NOISE_PAD, synthetic_portrait, tone_lut};
use super::watermark::draw_watermark;
use super::*;
use image::ImageFormat;
use std::io::Cursor;
use std::time::{Duration, Instant};

/// A synthetic reference: a diagonal gradient with a bright disc in the middle.
fn gradient_with_circle(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
        let (dx, dy) = (fx - 0.5, fy - 0.45);
        if dx * dx + dy * dy < 0.04 {
            image::Rgb([250, 235, 120])
        } else {
            image::Rgb([
                (40.0 + 180.0 * fx) as u8,
                (60.0 + 120.0 * fy) as u8,
                (200.0 - 150.0 * fx) as u8,
            ])
        }
    })
}

fn spec<'a>(w: u32, h: u32, prompt: &'a str, reference: Reference<'a>) -> RenderSpec<'a> {
    RenderSpec {
        seed: 42,
        reference,
        ..RenderSpec::new(w, h, prompt)
    }
}

/// Mean absolute per-channel difference over a rectangle.
fn mean_diff(a: &RgbImage, b: &RgbImage, x0: u32, y0: u32, w: u32, h: u32) -> f64 {
    let mut sum = 0u64;
    for y in y0..y0 + h {
        for x in x0..x0 + w {
            let (p, q) = (a.get_pixel(x, y).0, b.get_pixel(x, y).0);
            sum += (0..3).map(|c| u64::from(p[c].abs_diff(q[c]))).sum::<u64>();
        }
    }
    sum as f64 / f64::from(w * h * 3)
}

fn changed_pixels(a: &RgbImage, b: &RgbImage) -> Vec<(u32, u32)> {
    a.enumerate_pixels()
        .filter(|(x, y, p)| b.get_pixel(*x, *y) != *p)
        .map(|(x, y, _)| (x, y))
        .collect()
}

#[test]
fn output_has_the_requested_size() {
    let reference = gradient_with_circle(300, 200);
    for (w, h) in [(512, 512), (300, 200), (200, 300), (1024, 768), (7, 513)] {
        for r in [
            Reference::None,
            Reference::Image(&reference),
            Reference::Url("https://e.x/a.png"),
        ] {
            let img = render(&spec(w, h, "a cat", r));
            assert_eq!(img.dimensions(), (w, h), "{r:?}");
        }
    }
}

#[test]
fn jpeg_decodes_back_to_the_requested_size() {
    let reference = gradient_with_circle(64, 64);
    let bytes =
        render_jpeg(&spec(320, 256, "a dog", Reference::Image(&reference))).expect("encodes");
    assert_eq!(&bytes[..3], &[0xFF, 0xD8, 0xFF]);
    let decoded = image::load_from_memory(&bytes).expect("decodes");
    assert_eq!((decoded.width(), decoded.height()), (320, 256));
}

#[test]
fn same_spec_gives_identical_bytes() {
    let reference = gradient_with_circle(100, 80);
    for r in [
        Reference::None,
        Reference::Image(&reference),
        Reference::Url("https://e.x/1.jpg"),
    ] {
        let s = RenderSpec {
            watermark: Some(Watermark {
                text: "AI生成",
                position: 0,
                opacity: 0.8,
            }),
            ..spec(256, 192, "同一个提示 same prompt", r)
        };
        assert_eq!(
            render_jpeg(&s).expect("a"),
            render_jpeg(&s).expect("b"),
            "{r:?}"
        );
    }
}

#[test]
fn seed_and_prompt_change_the_bytes() {
    let reference = gradient_with_circle(128, 128);
    for r in [
        Reference::None,
        Reference::Image(&reference),
        Reference::Url("https://e.x/2.png"),
    ] {
        let base = spec(256, 256, "a red fox in snow", r);
        let bytes = render_jpeg(&base).expect("base");
        let reseeded = render_jpeg(&RenderSpec { seed: 43, ..base }).expect("seed");
        let reprompted = render_jpeg(&RenderSpec {
            prompt: "a blue whale",
            ..base
        })
        .expect("prompt");
        assert_ne!(bytes, reseeded, "{r:?}");
        assert_ne!(bytes, reprompted, "{r:?}");
        // ... and not by a stray pixel: the pictures differ broadly.
        let (a, b, c) = (
            render(&base),
            render(&RenderSpec { seed: 43, ..base }),
            render(&RenderSpec {
                prompt: "a blue whale",
                ..base
            }),
        );
        assert!(mean_diff(&a, &b, 0, 0, 256, 256) > 3.0, "{r:?}");
        assert!(mean_diff(&a, &c, 0, 0, 256, 256) > 3.0, "{r:?}");
    }
}

#[test]
fn prompts_pick_different_pattern_families() {
    let families: std::collections::BTreeSet<String> = (0..40)
        .map(|i| format!("{:?}", Style::from_prompt(&format!("prompt {i}")).family))
        .collect();
    assert!(families.len() >= 6, "{families:?}");
}

#[test]
fn colour_words_steer_the_palette() {
    let red = Style::from_prompt("a red car").palette[150];
    let blue = Style::from_prompt("a blue car").palette[150];
    assert!(red[0] > red[2] + 40, "{red:?}");
    assert!(blue[2] > blue[0] + 40, "{blue:?}");
    assert_eq!(colour_hint("a bored cat"), None);
    assert_eq!(colour_hint("红色的花"), Some(0.0));
}

#[test]
fn ip_weight_moves_the_picture_towards_the_reference() {
    let reference = gradient_with_circle(256, 256);
    let base = RenderSpec {
        ref_id_weight: 0.0,
        ..spec(256, 256, "stained glass", Reference::Image(&reference))
    };
    let far = render(&RenderSpec {
        ref_ip_weight: 0.0,
        ..base
    });
    let mid = render(&RenderSpec {
        ref_ip_weight: 0.5,
        ..base
    });
    let near = render(&RenderSpec {
        ref_ip_weight: 1.0,
        ..base
    });
    let (d0, d5, d1) = (
        mean_diff(&far, &reference, 0, 0, 256, 256),
        mean_diff(&mid, &reference, 0, 0, 256, 256),
        mean_diff(&near, &reference, 0, 0, 256, 256),
    );
    assert!(d1 < d5 && d5 < d0, "{d0} {d5} {d1}");
    assert!(d0 > 30.0 && d1 < 0.5 * d0, "{d0} {d1}");
}

#[test]
fn ip_weight_zero_is_pure_pattern() {
    let reference = gradient_with_circle(200, 200);
    let s = RenderSpec {
        ref_ip_weight: 0.0,
        ref_id_weight: 0.0,
        ..spec(200, 200, "waves", Reference::None)
    };
    let alone = render(&s);
    let with_ref = render(&RenderSpec {
        reference: Reference::Image(&reference),
        ..s
    });
    assert_eq!(alone, with_ref);
}

#[test]
fn id_weight_changes_the_centre_not_the_corners() {
    for r in [Reference::Url("https://e.x/face.jpg"), Reference::None] {
        let reference = gradient_with_circle(240, 240);
        let r = if matches!(r, Reference::None) {
            Reference::Image(&reference)
        } else {
            r
        };
        let base = RenderSpec {
            ref_ip_weight: 0.3,
            ..spec(240, 240, "portrait", r)
        };
        let off = render(&RenderSpec {
            ref_id_weight: 0.0,
            ..base
        });
        let on = render(&RenderSpec {
            ref_id_weight: 1.0,
            ..base
        });
        let centre = mean_diff(&off, &on, 100, 88, 40, 40);
        let corners = [(0, 0), (200, 0), (0, 200), (200, 200)]
            .iter()
            .map(|&(x, y)| mean_diff(&off, &on, x, y, 40, 40))
            .fold(0.0, f64::max);
        assert!(centre > 15.0, "{r:?}: centre {centre}");
        assert_eq!(corners, 0.0, "{r:?}");
    }
    // At full strength the middle of the oval is the reference itself.
    let reference = gradient_with_circle(240, 240);
    let on = render(&RenderSpec {
        ref_id_weight: 1.0,
        ..spec(240, 240, "x", Reference::Image(&reference))
    });
    assert_eq!(on.get_pixel(120, 108), reference.get_pixel(120, 108));
}

#[test]
fn scale_raises_pattern_contrast() {
    let spread = |scale: f32| {
        let img = render(&RenderSpec {
            scale,
            ddim_steps: 200,
            ..spec(128, 128, "rings", Reference::None)
        });
        let lum: Vec<f64> = img
            .pixels()
            .map(|p| f64::from(p.0[0]) + f64::from(p.0[1]) + f64::from(p.0[2]))
            .collect();
        let mean = lum.iter().sum::<f64>() / lum.len() as f64;
        (lum.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / lum.len() as f64).sqrt()
    };
    let (low, high) = (spread(1.0), spread(10.0));
    assert!(high > 2.0 * low, "{low} {high}");
}

#[test]
fn scale_strengthens_the_pattern_over_the_reference() {
    let reference = gradient_with_circle(128, 128);
    let distance = |scale: f32| {
        let s = RenderSpec {
            scale,
            ref_id_weight: 0.0,
            ..spec(128, 128, "scale", Reference::Image(&reference))
        };
        mean_diff(&render(&s), &reference, 0, 0, 128, 128)
    };
    let (weak, strong) = (distance(1.0), distance(10.0));
    assert!(strong > weak + 10.0, "{weak} {strong}");
}

#[test]
fn cfg_rescale_shifts_the_tone() {
    let reference = gradient_with_circle(128, 128);
    let mean = |cfg_rescale: f32| {
        let img = render(&RenderSpec {
            cfg_rescale,
            ..spec(128, 128, "tone", Reference::Image(&reference))
        });
        img.as_raw().iter().map(|&v| f64::from(v)).sum::<f64>() / img.as_raw().len() as f64
    };
    let (bright, neutral, dark) = (mean(0.0), mean(0.7), mean(1.0));
    assert!(
        bright > neutral + 15.0 && neutral > dark + 5.0,
        "{bright} {neutral} {dark}"
    );
    assert_eq!(
        tone_lut(0.7)[NOISE_PAD..NOISE_PAD + 256].to_vec(),
        (0..=255u8).collect::<Vec<_>>()
    );
}

#[test]
fn few_steps_look_rougher_than_many() {
    let reference = gradient_with_circle(192, 192);
    let roughness = |ddim_steps: u32| {
        let img = render(&RenderSpec {
            ddim_steps,
            ..spec(192, 192, "plasma", Reference::Image(&reference))
        });
        let mut sum = 0u64;
        for y in 0..192 {
            for x in 1..192 {
                sum += u64::from(img.get_pixel(x, y).0[1].abs_diff(img.get_pixel(x - 1, y).0[1]));
            }
        }
        sum as f64 / (192.0 * 191.0)
    };
    let (rough, default, smooth) = (roughness(1), roughness(9), roughness(200));
    assert!(
        rough > default && default > smooth,
        "{rough} {default} {smooth}"
    );
    assert!(rough > 3.0 * smooth, "{rough} {smooth}");
}

#[test]
fn url_reference_is_a_stable_stand_in() {
    let a = render(&spec(160, 160, "p", Reference::Url("https://e.x/a.png")));
    let a2 = render(&spec(160, 160, "p", Reference::Url("https://e.x/a.png")));
    let b = render(&spec(160, 160, "p", Reference::Url("https://e.x/b.png")));
    let none = render(&spec(160, 160, "p", Reference::None));
    assert_eq!(a, a2);
    assert!(mean_diff(&a, &b, 0, 0, 160, 160) > 3.0);
    assert!(mean_diff(&a, &none, 0, 0, 160, 160) > 3.0);
}

#[test]
fn watermark_lands_in_the_requested_corner_only() {
    let reference = gradient_with_circle(200, 150);
    let (w, h) = (800, 300);
    let plain = spec(w, h, "a lighthouse", Reference::Image(&reference));
    let without = render(&plain);
    for (position, text) in (0..=3u8).flat_map(|p| [(p, "AI生成"), (p, "Generated by AI")]) {
        let marked = render(&RenderSpec {
            watermark: Some(Watermark {
                text,
                position,
                opacity: 1.0,
            }),
            ..plain
        });
        let changed = changed_pixels(&without, &marked);
        assert!(
            changed.len() > 500,
            "position {position}: {} pixels",
            changed.len()
        );
        let right = matches!(position, 0 | 3);
        let bottom = matches!(position, 0 | 1);
        for &(x, y) in &changed {
            assert_eq!(x >= w / 2, right, "position {position}: ({x}, {y})");
            assert_eq!(y >= h / 2, bottom, "position {position}: ({x}, {y})");
        }
        // The diagonally opposite corner is untouched.
        let (ox, oy) = (
            if right { 0 } else { w / 2 },
            if bottom { 0 } else { h / 2 },
        );
        assert_eq!(mean_diff(&without, &marked, ox, oy, w / 2, h / 2), 0.0);
    }
}

#[test]
fn out_of_range_position_falls_back_to_bottom_right() {
    let s = spec(200, 200, "x", Reference::None);
    let mark = |position| {
        render(&RenderSpec {
            watermark: Some(Watermark {
                text: "AI",
                position,
                opacity: 1.0,
            }),
            ..s
        })
    };
    assert_eq!(mark(9), mark(0));
}

#[test]
fn zero_opacity_leaves_the_image_unchanged() {
    let s = spec(256, 256, "fog", Reference::Url("https://e.x/c.png"));
    let without = render(&s);
    for position in 0..=3 {
        let marked = render(&RenderSpec {
            watermark: Some(Watermark {
                text: "AI生成",
                position,
                opacity: 0.0,
            }),
            ..s
        });
        assert_eq!(without, marked);
    }
    let faint = render(&RenderSpec {
        watermark: Some(Watermark {
            text: "AI生成",
            position: 0,
            opacity: 0.3,
        }),
        ..s
    });
    let solid = render(&RenderSpec {
        watermark: Some(Watermark {
            text: "AI生成",
            position: 0,
            opacity: 1.0,
        }),
        ..s
    });
    assert!(
        mean_diff(&without, &faint, 128, 128, 128, 128)
            < mean_diff(&without, &solid, 128, 128, 128, 128)
    );
}

/// Draws `text` as a watermark at the top left of a black 800x400 image (16 px glyphs,
/// 10 px margin, 4 px padding).
fn draw_on_black(text: &str) -> RgbImage {
    let mut img = RgbImage::new(800, 400);
    draw_watermark(
        &mut img,
        &Watermark {
            text,
            position: 2,
            opacity: 1.0,
        },
    );
    img
}

#[test]
fn chinese_default_text_draws_real_glyphs() {
    assert_eq!(default_watermark_text(0), "AI生成");
    assert_eq!(default_watermark_text(1), "Generated by AI");
    for c in ['生', '成'] {
        let (bitmap, wide) = glyph(c);
        assert!(wide);
        assert_ne!(bitmap, TOFU);
        assert!(
            bitmap.iter().map(|r| r.count_ones()).sum::<u32>() > 30,
            "{c}"
        );
    }
    assert_ne!(glyph('生').0, glyph('成').0);
    // Drawn: the CJK cells differ from tofu boxes and from each other, and are lit.
    let text = draw_on_black("AI生成");
    let tofu = draw_on_black("AI\u{E000}\u{E000}");
    let ai = draw_on_black("AI");
    assert!(!changed_pixels(&ai, &text).is_empty());
    assert_eq!(text.get_pixel(1, 1), ai.get_pixel(1, 1));
    let px = glyph_px(400);
    assert_eq!(px, 16);
    let (x0, y0) = (10 + 4 + 2 * px, 10 + 4); // margin + padding (+ "AI")
    let cell = |img: &RgbImage, i: u32| {
        let mut lit = Vec::new();
        for y in 0..px {
            for x in 0..px {
                lit.push(img.get_pixel(x0 + i * (px + 1) + x, y0 + y).0[0] > 200);
            }
        }
        lit
    };
    for i in 0..2 {
        let (drawn, boxed) = (cell(&text, i), cell(&tofu, i));
        assert!(
            drawn.iter().filter(|&&b| b).count() > 30,
            "glyph {i} is lit"
        );
        assert_ne!(drawn, boxed, "glyph {i} is not tofu");
    }
    assert_ne!(cell(&text, 0), cell(&text, 1));
}

#[test]
fn unknown_characters_draw_as_tofu() {
    assert_eq!(glyph('\u{E000}').0, TOFU);
    assert_eq!(glyph('猫').0, TOFU);
    assert_eq!(glyph('\u{7}').0, TOFU);
    assert_eq!(glyph(' ').0, [0; 16]);
    let (a, _) = glyph('A');
    assert_ne!(a, TOFU);
    assert_ne!(a, [0; 16]);
    let tofu = draw_on_black("\u{E000}");
    let lit = tofu.pixels().filter(|p| p.0[0] > 200).count();
    // At 16 px glyphs a bitmap cell is one pixel: every box cell is drawn, nothing else.
    assert_eq!(lit as u32, TOFU.iter().map(|r| r.count_ones()).sum::<u32>());
    assert_eq!(draw_on_black("猫"), tofu);
}

#[test]
fn glyph_masks_keep_thin_strokes_when_shrunk() {
    for (c, _) in CJK_GLYPHS {
        let (bitmap, _) = glyph(c);
        for px in [8, 16, 48] {
            let mask = glyph_mask(&bitmap, px);
            assert!(
                mask.iter().filter(|&&b| b).count() * 8 > (px * px) as usize,
                "{c} at {px}"
            );
        }
        let full = glyph_mask(&bitmap, 16);
        for r in 0..16 {
            for col in 0..16 {
                assert_eq!(full[r * 16 + col], bitmap[r] >> (15 - col) & 1 == 1);
            }
        }
    }
}

#[test]
fn watermark_scales_with_the_image_and_clips() {
    assert_eq!(glyph_px(1024), 48);
    assert_eq!(glyph_px(1536), 64);
    assert_eq!(glyph_px(512), 16);
    assert_eq!(glyph_px(100), 8);
    // A long custom text on a narrow image neither panics nor spills into the top half.
    let s = RenderSpec {
        watermark: Some(Watermark {
            text: &"很长的水印 long custom text ".repeat(50),
            position: 0,
            opacity: 1.0,
        }),
        ..spec(300, 300, "x", Reference::None)
    };
    let marked = render(&s);
    let plain = render(&RenderSpec {
        watermark: None,
        ..s
    });
    let changed = changed_pixels(&plain, &marked);
    assert!(!changed.is_empty());
    assert!(changed.iter().all(|&(_, y)| y >= 150));
}

#[test]
fn tiny_and_empty_sizes_do_not_panic() {
    let reference = gradient_with_circle(3, 2);
    let one_px = RgbImage::new(1, 1);
    for (w, h) in [(1, 1), (2, 3), (16, 16), (1, 40), (40, 1)] {
        for r in [
            Reference::None,
            Reference::Image(&reference),
            Reference::Image(&one_px),
            Reference::Url("u"),
        ] {
            for text in ["AI生成", "Generated by AI", "\u{E000}"] {
                for position in 0..=3 {
                    let s = RenderSpec {
                        watermark: Some(Watermark {
                            text,
                            position,
                            opacity: 1.0,
                        }),
                        ..spec(w, h, "tiny", r)
                    };
                    assert_eq!(render(&s).dimensions(), (w, h));
                    let decoded = image::load_from_memory(&render_jpeg(&s).expect("encodes"))
                        .expect("decodes");
                    assert_eq!((decoded.width(), decoded.height()), (w, h));
                }
            }
        }
    }
    let empty = RgbImage::new(0, 0);
    let s = spec(0, 5, "none", Reference::Image(&empty));
    assert_eq!(render(&s).dimensions(), (0, 5));
    assert!(matches!(
        render_jpeg(&s),
        Err(RenderError::InvalidSize {
            width: 0,
            height: 5
        })
    ));
    // An empty reference counts as none.
    let s = spec(32, 32, "none", Reference::Image(&empty));
    assert_eq!(render(&s), render(&spec(32, 32, "none", Reference::None)));
}

#[test]
fn odd_knob_values_are_clamped_not_fatal() {
    let reference = gradient_with_circle(50, 50);
    let s = RenderSpec {
        scale: f32::NAN,
        ddim_steps: 0,
        cfg_rescale: -3.0,
        ref_ip_weight: f32::INFINITY,
        ref_id_weight: 7.0,
        watermark: Some(Watermark {
            text: "AI",
            position: 200,
            opacity: f32::NAN,
        }),
        ..spec(64, 64, "", Reference::Image(&reference))
    };
    let clamped = RenderSpec {
        scale: DEFAULT_SCALE,
        ddim_steps: 1,
        cfg_rescale: 0.0,
        ref_ip_weight: DEFAULT_REF_IP_WEIGHT,
        ref_id_weight: 1.0,
        watermark: Some(Watermark {
            text: "AI",
            position: 0,
            opacity: 1.0,
        }),
        ..s
    };
    assert_eq!(render(&s), render(&clamped));
}

#[test]
fn crops_keep_the_centre_and_the_aspect_ratio() {
    assert_eq!(
        Crop::centred(400, 100, 100, 100),
        Crop {
            x: 150,
            y: 0,
            w: 100,
            h: 100
        }
    );
    assert_eq!(
        Crop::centred(100, 400, 200, 100),
        Crop {
            x: 0,
            y: 175,
            w: 100,
            h: 50
        }
    );
    assert_eq!(
        Crop::centred(1, 1, 300, 10),
        Crop {
            x: 0,
            y: 0,
            w: 1,
            h: 1
        }
    );
    let identity = taps(5, 2, 5, false);
    assert!(
        identity
            .iter()
            .enumerate()
            .all(|(i, t)| t.a == i + 2 && t.f == 0)
    );
}

#[test]
fn maths_helpers_are_accurate() {
    assert_eq!(hsv(-1e-9, 1.0, 1.0), [1.0, 0.0, 0.0]);
    assert_eq!(hsv(1.0 / 3.0, 1.0, 1.0).map(to_u8), [0, 255, 0]);
    for i in 0..1000 {
        let x = i as f32 / 137.0 - 3.0;
        let expected = (x as f64 * std::f64::consts::TAU).sin() as f32;
        assert!((sin_turns(x) - expected).abs() < 1e-5, "sin {x}");
        let (y, z) = (sin_turns(x), cos_turns(x));
        let angle = atan2_turns(y, z);
        let wrapped = x - x.floor();
        let err = (angle - wrapped).abs().min(1.0 - (angle - wrapped).abs());
        assert!(err < 1e-4, "atan2 {x}: {angle} vs {wrapped}");
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// A PNG signature and IHDR chunk, and nothing else.
fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = b"IHDR".to_vec();
    chunk.extend_from_slice(&width.to_be_bytes());
    chunk.extend_from_slice(&height.to_be_bytes());
    chunk.extend_from_slice(&[8, 6, 0, 0, 0]); // 8-bit RGBA, deflate, no interlace
    bytes.extend_from_slice(&13u32.to_be_bytes());
    bytes.extend_from_slice(&chunk);
    bytes.extend_from_slice(&crc32(&chunk).to_be_bytes());
    bytes
}

#[test]
fn decode_reference_refuses_a_png_bomb_from_its_header() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    let bomb = png_header(60_000, 60_000);
    let started = Instant::now();
    let result = decode_reference(&bomb);
    assert!(started.elapsed() < Duration::from_secs(1));
    // TooLarge (not an allocation or truncation failure) shows the header alone was read.
    assert!(
        matches!(
            result,
            Err(RenderError::TooLarge {
                width: 60_000,
                height: 60_000
            })
        ),
        "{result:?}"
    );
    let wide = png_header(4097, 16);
    assert!(matches!(
        decode_reference(&wide),
        Err(RenderError::TooLarge {
            width: 4097,
            height: 16
        })
    ));
}

#[test]
fn decode_reference_refuses_an_oversized_jpeg_from_its_header() {
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 80)
        .encode(
            gradient_with_circle(64, 48).as_raw(),
            64,
            48,
            ExtendedColorType::Rgb8,
        )
        .expect("encodes");
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("baseline SOF0 marker");
    jpeg[sof + 7..sof + 9].copy_from_slice(&5000u16.to_be_bytes()); // width
    let result = decode_reference(&jpeg);
    assert!(
        matches!(
            result,
            Err(RenderError::TooLarge {
                width: 5000,
                height: 48
            })
        ),
        "{result:?}"
    );
}

#[test]
fn decode_reference_reads_png_and_jpeg() {
    let original = gradient_with_circle(90, 70);
    let mut png = Vec::new();
    original
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .expect("png");
    assert_eq!(decode_reference(&png).expect("decodes png"), original);
    let mut jpeg = Vec::new();
    original
        .write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
        .expect("jpeg");
    assert_eq!(
        decode_reference(&jpeg).expect("decodes jpeg").dimensions(),
        (90, 70)
    );
    assert!(matches!(
        decode_reference(b"GIF89a......"),
        Err(RenderError::UnsupportedFormat)
    ));
    assert!(matches!(
        decode_reference(b""),
        Err(RenderError::UnsupportedFormat)
    ));
    assert!(matches!(
        decode_reference(&png[..png.len() / 2]),
        Err(RenderError::Decode(_))
    ));
}

/// Writes a sample (reference + Chinese watermark) to /tmp for a human to look at:
/// `cargo test --lib mock::render::tests::write_sample -- --ignored`.
#[test]
#[ignore = "writes /tmp/volcv-render-sample.jpg for manual inspection"]
fn write_sample() {
    let reference = gradient_with_circle(700, 500);
    let s = RenderSpec {
        watermark: Some(Watermark {
            text: default_watermark_text(0),
            position: 0,
            opacity: 0.9,
        }),
        ..spec(
            1024,
            1024,
            "a woman in a red coat, cinematic light",
            Reference::Image(&reference),
        )
    };
    let bytes = render_jpeg(&s).expect("encodes");
    std::fs::write("/tmp/volcv-render-sample.jpg", &bytes).expect("writes");
    image::load_from_memory(&bytes)
        .expect("decodes")
        .save("/tmp/volcv-render-sample.png")
        .expect("png");
    // The watermark at the glyph sizes an image 150, 400, 800 and 2000 px tall gets.
    let mut sheet = RgbImage::from_pixel(760, 420, image::Rgb([90, 120, 160]));
    let mut top = 0;
    for (height, show) in [(150, 30), (400, 50), (800, 70), (2000, 140)] {
        let mut img = RgbImage::from_pixel(2000, height, image::Rgb([90, 120, 160]));
        draw_watermark(
            &mut img,
            &Watermark {
                text: "AI生成 \u{E000}Ag",
                position: 2,
                opacity: 1.0,
            },
        );
        image::imageops::replace(
            &mut sheet,
            &image::imageops::crop_imm(&img, 0, 0, 760, show).to_image(),
            0,
            top,
        );
        top += i64::from(show) + 10;
    }
    sheet.save("/tmp/volcv-render-glyphs.png").expect("png");
}

/// Writes a contact sheet of 160 px renders, one knob varied per row, to
/// /tmp/volcv-render-sheet.png: `cargo test --lib mock::render::tests::write_sheet -- --ignored`.
#[test]
#[ignore = "writes /tmp/volcv-render-sheet.png for manual inspection"]
fn write_sheet() {
    const CELL: u32 = 160;
    let portrait = synthetic_portrait("https://example.com/me.jpg", 320, 320);
    let base = RenderSpec {
        seed: 7,
        ..spec(CELL, CELL, "a knight", Reference::Image(&portrait))
    };
    let prompts: Vec<String> = (0..8).map(|i| format!("prompt {i}")).collect();
    let mut rows: Vec<Vec<(String, RenderSpec)>> = Vec::new();
    rows.push(
        prompts
            .iter()
            .map(|p| {
                (
                    p.clone(),
                    RenderSpec {
                        prompt: p,
                        reference: Reference::None,
                        ..base
                    },
                )
            })
            .collect(),
    );
    rows.push(
        prompts
            .iter()
            .map(|p| {
                (
                    p.clone(),
                    RenderSpec {
                        prompt: p,
                        reference: Reference::Url("u"),
                        ..base
                    },
                )
            })
            .collect(),
    );
    rows.push(
        [0.0, 0.35, 0.7, 1.0]
            .iter()
            .map(|&v| {
                (
                    format!("ip {v}"),
                    RenderSpec {
                        ref_ip_weight: v,
                        ref_id_weight: 0.0,
                        ..base
                    },
                )
            })
            .chain([0.0, 0.36, 0.7, 1.0].iter().map(|&v| {
                (
                    format!("id {v}"),
                    RenderSpec {
                        ref_id_weight: v,
                        ..base
                    },
                )
            }))
            .collect(),
    );
    rows.push(
        [1.0, 3.5, 6.0, 10.0]
            .iter()
            .map(|&v| (format!("scale {v}"), RenderSpec { scale: v, ..base }))
            .chain([0.0, 0.35, 0.7, 1.0].iter().map(|&v| {
                (
                    format!("cfg {v}"),
                    RenderSpec {
                        cfg_rescale: v,
                        ..base
                    },
                )
            }))
            .collect(),
    );
    rows.push(
        [1, 2, 4, 9, 20, 200]
            .iter()
            .map(|&v| {
                (
                    format!("steps {v}"),
                    RenderSpec {
                        ddim_steps: v,
                        ..base
                    },
                )
            })
            .chain(
                [8, 9]
                    .iter()
                    .map(|&v| (format!("seed {v}"), RenderSpec { seed: v, ..base })),
            )
            .collect(),
    );
    let mut sheet = RgbImage::from_pixel(
        8 * CELL + 7 * 4,
        rows.len() as u32 * (CELL + 4),
        image::Rgb([20, 20, 20]),
    );
    for (r, row) in rows.iter().enumerate() {
        for (c, (label, s)) in row.iter().enumerate() {
            let mut img = render(s);
            draw_watermark(
                &mut img,
                &Watermark {
                    text: label,
                    position: 2,
                    opacity: 0.9,
                },
            );
            image::imageops::replace(
                &mut sheet,
                &img,
                c as i64 * i64::from(CELL + 4),
                r as i64 * i64::from(CELL + 4),
            );
        }
    }
    sheet.save("/tmp/volcv-render-sheet.png").expect("png");
}

/// Times a 1536x1536 render + encode: `cargo test --lib mock::render::tests::time_1536 -- --ignored --nocapture`.
#[test]
#[ignore = "timing report, not a check"]
fn time_1536() {
    let reference = gradient_with_circle(768, 768);
    for r in [
        Reference::Image(&reference),
        Reference::Url("https://e.x/t.png"),
        Reference::None,
    ] {
        let s = RenderSpec {
            watermark: Some(Watermark {
                text: "AI生成",
                position: 0,
                opacity: 1.0,
            }),
            ..spec(1536, 1536, "timing", r)
        };
        let started = Instant::now();
        let img = render(&s);
        let rendered = started.elapsed();
        let bytes = encode_jpeg(&img).expect("encodes");
        let total = started.elapsed();
        eprintln!(
            "{r:?}: render {rendered:?}, render + encode {total:?}, {} bytes",
            bytes.len()
        );
    }
}
