//! The wildcards of the policy language: `*` matches any run of
//! characters (none included), `?` exactly one.

/// Whether `text` matches `pattern`; with `fold`, ASCII case is ignored
/// (actions are case-insensitive, resources are not). Walks both strings
/// in place (no allocation: it runs for every statement of a bucket's
/// policy on every request).
pub fn matches(pattern: &str, text: &str, fold: bool) -> bool {
    let same = |a: char, b: char| {
        if fold {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let at = |s: &str, i: usize| s[i..].chars().next();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it matched up to.
    let mut star: Option<(usize, usize)> = None;
    while let Some(tc) = at(text, ti) {
        match at(pattern, pi) {
            Some(pc) if pc == '?' || (pc != '*' && same(pc, tc)) => {
                pi += pc.len_utf8();
                ti += tc.len_utf8();
            }
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            _ => match star {
                // Let the last `*` take one more character.
                Some((sp, st)) => {
                    let st = st + at(text, st).map_or(1, char::len_utf8);
                    pi = sp + 1;
                    ti = st;
                    star = Some((sp, st));
                }
                None => return false,
            },
        }
    }
    pattern[pi..].chars().all(|c| c == '*')
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
