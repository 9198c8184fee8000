//! The mock's stand-in for the service's prompt rewriter (`rephraser_result`): a deterministic
//! expansion that keeps the user's words and adds the kind of detail the real rewriter adds,
//! in the prompt's language.

use sha2::{Digest, Sha256};

const STYLES_EN: &[&str] = &[
    "cinematic composition",
    "soft natural light",
    "vivid, balanced colours",
    "shallow depth of field",
    "warm golden-hour tones",
    "clean studio lighting",
];

const STYLES_ZH: &[&str] = &[
    "电影感构图",
    "柔和自然光",
    "色彩鲜明而均衡",
    "浅景深",
    "温暖的黄金时刻色调",
    "干净的影棚布光",
];

/// Whether the text is mostly written in Chinese (any CJK ideograph counts).
fn is_chinese(text: &str) -> bool {
    text.chars()
        .any(|c| matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}'))
}

/// The rewritten prompt for `prompt` (already stripped of mock triggers). With a reference
/// image it says how the subject relates to it (`desc_pushback` mentions the caption of the
/// reference, as the service's pushback does); a text-to-image request has no such clause.
pub(crate) fn rephrase(prompt: &str, has_reference: bool, desc_pushback: bool) -> String {
    let prompt = prompt.trim();
    if prompt.is_empty() {
        return String::new();
    }
    let digest = Sha256::digest(prompt.as_bytes());
    let pick = usize::from(digest[0]);
    if is_chinese(prompt) {
        let style = STYLES_ZH[pick % STYLES_ZH.len()];
        let subject = match (has_reference, desc_pushback) {
            (false, _) => "",
            (true, true) => "主体保持参考图中的外貌与特征，",
            (true, false) => "主体参考输入图像，",
        };
        let end = prompt.trim_end_matches(['。', '，', '.', ',']);
        format!("{end}，{subject}{style}，细节丰富，光影自然，画面清晰，高质量。")
    } else {
        let style = STYLES_EN[pick % STYLES_EN.len()];
        let subject = match (has_reference, desc_pushback) {
            (false, _) => "",
            (true, true) => "the subject keeps the look and features of the reference image, ",
            (true, false) => "the subject follows the reference image, ",
        };
        let end = prompt.trim_end_matches(['.', ',', ';', '!']);
        format!(
            "{end}, {subject}{style}, rich detail, natural lighting, sharp focus, high quality."
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_words_and_is_deterministic() {
        let a = rephrase("Vast armies charging forward", true, true);
        assert!(a.starts_with("Vast armies charging forward, "), "{a}");
        assert_eq!(a, rephrase("Vast armies charging forward", true, true));
        assert_ne!(a, rephrase("Vast armies charging forward", true, false));
        let zh = rephrase("一只猫坐在窗台上。", true, true);
        assert!(zh.starts_with("一只猫坐在窗台上，"), "{zh}");
        assert!(zh.contains("参考图"));
        let t2i = rephrase("Vast armies charging forward", false, true);
        assert!(!t2i.contains("reference"), "{t2i}");
        assert!(!rephrase("一只猫坐在窗台上。", false, false).contains("参考"));
    }
}
