//! Assertions on the output as text: equality, substrings, prefixes, regular expressions, length
//! and word-count bounds, and Levenshtein distance. Pure functions returning a [`Grade`].

use regex::Regex;

use super::Grade;

/// `equals`: the output, trimmed, equals the value (also trimmed).
pub fn equals(output: &str, expected: &str) -> Grade {
    Grade::binary(output.trim() == expected.trim(), || format!("expected `{}`, got `{}`", expected, excerpt(output)))
}

/// `contains` / `icontains`.
pub fn contains(output: &str, needle: &str, ignore_case: bool) -> Grade {
    let found =
        if ignore_case { output.to_lowercase().contains(&needle.to_lowercase()) } else { output.contains(needle) };
    Grade::binary(found, || format!("`{needle}` not found in `{}`", excerpt(output)))
}

/// `contains-any` / `icontains-any`: at least one of the values occurs.
pub fn contains_any(output: &str, needles: &[String], ignore_case: bool) -> Grade {
    let hay = fold(output, ignore_case);
    let found = needles.iter().any(|n| hay.contains(&fold(n, ignore_case)));
    Grade::binary(found, || format!("none of {} found in `{}`", quoted(needles), excerpt(output)))
}

/// `contains-all` / `icontains-all`: every value occurs; the score is the share found.
pub fn contains_all(output: &str, needles: &[String], ignore_case: bool) -> Grade {
    let hay = fold(output, ignore_case);
    let missing: Vec<String> = needles.iter().filter(|n| !hay.contains(&fold(n, ignore_case))).cloned().collect();
    let score = if needles.is_empty() { 1.0 } else { 1.0 - missing.len() as f64 / needles.len() as f64 };
    let reason = if missing.is_empty() { String::new() } else { format!("missing {}", quoted(&missing)) };
    Grade::scored(missing.is_empty(), score, reason)
}

/// `starts-with`: the output, without leading white space, starts with the value.
pub fn starts_with(output: &str, prefix: &str) -> Grade {
    Grade::binary(output.trim_start().starts_with(prefix), || {
        format!("expected to start with `{prefix}`, got `{}`", excerpt(output))
    })
}

/// `regex`: the pattern matches somewhere in the output.
pub fn regex(output: &str, pattern: &Regex) -> Grade {
    Grade::binary(pattern.is_match(output), || format!("/{}/ does not match `{}`", pattern.as_str(), excerpt(output)))
}

/// `length` (characters) and `word-count` (white-space separated words) within bounds.
pub fn bounds(what: &str, count: usize, min: Option<u64>, max: Option<u64>) -> Grade {
    let count = count as u64;
    let low = min.is_none_or(|m| count >= m);
    let high = max.is_none_or(|m| count <= m);
    let range = match (min, max) {
        (Some(a), Some(b)) => format!("between {a} and {b}"),
        (Some(a), None) => format!("at least {a}"),
        (None, Some(b)) => format!("at most {b}"),
        (None, None) => "any".to_owned(),
    };
    Grade::binary(low && high, || format!("{what} is {count}, expected {range}"))
}

/// The number of words in `text`.
pub fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// `levenshtein`: the edit distance to the value is at most `max_distance`. The score is the
/// similarity `1 - distance / longer length`.
pub fn levenshtein(output: &str, expected: &str, max_distance: u64) -> Grade {
    let (a, b) = (output.trim(), expected.trim());
    let distance = strsim::levenshtein(a, b) as u64;
    let longest = a.chars().count().max(b.chars().count()).max(1) as f64;
    let reason = if distance <= max_distance {
        String::new()
    } else {
        format!("edit distance {distance} to `{}` exceeds {max_distance}", excerpt(expected))
    };
    Grade::scored(distance <= max_distance, 1.0 - distance as f64 / longest, reason)
}

fn fold(text: &str, ignore_case: bool) -> String {
    if ignore_case { text.to_lowercase() } else { text.to_owned() }
}

fn quoted(values: &[String]) -> String {
    values.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
}

/// The start of `text` on one line, for reasons: at most 80 characters.
pub fn excerpt(text: &str) -> String {
    const MAX: usize = 80;
    let flat: String = text.trim().chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if flat.chars().count() <= MAX {
        return flat;
    }
    let cut: String = flat.chars().take(MAX - 1).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substring_family() {
        assert!(contains("Refund issued", "Refund", false).pass);
        assert!(!contains("Refund issued", "refund", false).pass);
        assert!(contains("Refund issued", "refund", true).pass);
        let needles = vec!["x".to_owned(), "issued".to_owned()];
        assert!(contains_any("Refund issued", &needles, false).pass);
        let all = contains_all("Refund issued", &needles, false);
        assert!(!all.pass);
        assert!((all.score - 0.5).abs() < 1e-9);
        assert_eq!(all.reason, "missing `x`");
    }

    #[test]
    fn equality_ignores_surrounding_space() {
        assert!(equals(" billing\n", "billing").pass);
        assert_eq!(equals("other", "billing").reason, "expected `billing`, got `other`");
    }

    #[test]
    fn bounds_and_words() {
        assert!(bounds("length", 5, Some(1), Some(5)).pass);
        assert_eq!(bounds("word count", 7, None, Some(5)).reason, "word count is 7, expected at most 5");
        assert_eq!(word_count("  a b\nc  "), 3);
    }

    #[test]
    fn levenshtein_scores_similarity() {
        let grade = levenshtein("kitten", "sitting", 3);
        assert!(grade.pass);
        assert!((grade.score - (1.0 - 3.0 / 7.0)).abs() < 1e-9);
        assert!(!levenshtein("kitten", "sitting", 2).pass);
    }

    #[test]
    fn excerpts_are_short_and_flat() {
        assert_eq!(excerpt("a\nb"), "a b");
        assert_eq!(excerpt(&"x".repeat(100)).chars().count(), 80);
    }
}
