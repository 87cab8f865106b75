//! Making free text (an LLM's answer, a command's stderr) acceptable to the platform.
//!
//! The platform refuses text fields holding control characters other than `\n`, `\t`
//! and `\r`: one stray `ESC` from a coloured terminal, or a `NUL`, gets the whole
//! request refused with 422. Pass text you did not write yourself through [`clean`].

/// `text` without control characters other than `\n`, `\t` and `\r` (exactly what the
/// platform's text fields allow), trimmed. ANSI escape sequences (`ESC [ 31 m`) go
/// whole rather than leave `[31m` behind.
///
/// ```
/// use agentops_sdk::text::clean;
/// assert_eq!(clean("  \u{1b}[1;31mfailed\u{1b}[0m: disk\u{0} full\n"), "failed: disk full");
/// assert_eq!(clean("line 1\n\tline 2"), "line 1\n\tline 2");
/// ```
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.next_if_eq(&'[').is_some() {
            // A CSI sequence: parameter and intermediate bytes, then one final byte.
            while chars
                .next_if(|c| ('\u{20}'..='\u{3f}').contains(c))
                .is_some()
            {}
            chars.next_if(|c| ('\u{40}'..='\u{7e}').contains(c));
        } else if !c.is_control() || matches!(c, '\n' | '\t' | '\r') {
            out.push(c);
        }
    }
    out.trim().to_owned()
}

/// `text` cut to at most `max` characters, a cut one ending with `…`.
///
/// ```
/// use agentops_sdk::text::truncate;
/// assert_eq!(truncate("abcdef", 4), "abc…");
/// assert_eq!(truncate("abc", 4), "abc");
/// ```
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    if max > 0 {
        cut.push('…');
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_keeps_what_the_platform_takes_and_drops_the_rest() {
        assert_eq!(
            clean("  \u{1b}[1;31mRed\u{1b}[0m alert\u{0}!\r\n\tnext\u{7f}\u{85} "),
            "Red alert!\r\n\tnext"
        );
        assert_eq!(clean("\u{0}\u{1b}[m \n"), "");
        assert_eq!(clean("a\u{1b}b [c]"), "ab [c]");
        assert_eq!(clean("Grüße 👍"), "Grüße 👍");
    }

    #[test]
    fn truncate_counts_characters_not_bytes() {
        assert_eq!(truncate(&"é".repeat(5), 5), "é".repeat(5));
        assert_eq!(truncate(&"é".repeat(6), 5), format!("{}…", "é".repeat(4)));
        assert_eq!(truncate("abc", 0), "");
    }
}
