//! The wildcards of the policy language: `*` matches any run of
//! characters (none included), `?` exactly one.

/// Whether `text` matches `pattern`; with `fold`, ASCII case is ignored
/// (actions are case-insensitive, resources are not).
pub fn matches(pattern: &str, text: &str, fold: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let same = |a: char, b: char| {
        if fold {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it matched up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && same(p[pi], t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            // Let the last `*` take one more character.
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn stars_and_question_marks() {
        assert!(matches("*", "", false));
        assert!(matches("*", "anything/at/all", false));
        assert!(matches("arn:aws:s3:::b/*", "arn:aws:s3:::b/k", false));
        assert!(matches("arn:aws:s3:::b/*", "arn:aws:s3:::b/", false));
        assert!(!matches("arn:aws:s3:::b/*", "arn:aws:s3:::b", false));
        assert!(matches("a*b*c", "aXbYbZc", false));
        assert!(!matches("a*b*c", "aXbYbZ", false));
        assert!(matches("k?y", "key", false));
        assert!(!matches("k?y", "ky", false));
        assert!(matches("s3:get*", "s3:GetObject", true));
        assert!(!matches("s3:get*", "s3:GetObject", false));
        assert!(matches("photos/*/raw", "photos/2024/x/raw", false));
        assert!(matches("ünï*", "ünïcode", false));
    }
}
