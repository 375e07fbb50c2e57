//! HTTP preconditions as S3 evaluates them (RFC 9110 §13.2.2 order).
//!
//! * Reads (GetObject, HeadObject): `If-Match`, then `If-Unmodified-Since`
//!   only when there is no `If-Match` (so If-Match true with
//!   If-Unmodified-Since false proceeds), then `If-None-Match`, then
//!   `If-Modified-Since` only when there is no `If-None-Match` (so
//!   If-None-Match false with If-Modified-Since true is 304). A failed
//!   If-Match or If-Unmodified-Since is 412; a failed If-None-Match or
//!   If-Modified-Since is 304.
//! * Copy sources (`x-amz-copy-source-if-*` on CopyObject and
//!   UploadPartCopy): the same order, but every failure is 412, as AWS
//!   documents.
//! * Writes (PutObject, CompleteMultipartUpload): `If-None-Match: *` (only
//!   `*` is supported) refuses to replace an existing key; `If-Match`
//!   requires the current ETag; both at once is NotImplemented.
//!
//! Pure logic over the object's ETag and last modification time; the
//! service maps the verdicts to S3 errors.

use s3s::dto::{ETag, ETagCondition, Timestamp, TimestampFormat};

/// What a request's preconditions decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Proceed,
    /// 304 Not Modified (reads only).
    NotModified,
    /// 412 Precondition Failed.
    PreconditionFailed,
}

/// The four conditional headers of a read or of a copy source. Times are in
/// whole seconds since the Unix epoch (HTTP dates have no finer resolution).
#[derive(Clone, Copy, Debug, Default)]
pub struct Preconditions<'a> {
    /// `If-Match` / `x-amz-copy-source-if-match`.
    pub if_match: Option<&'a ETagCondition>,
    /// `If-None-Match` / `x-amz-copy-source-if-none-match`.
    pub if_none_match: Option<&'a ETagCondition>,
    /// `If-Modified-Since` / `x-amz-copy-source-if-modified-since`.
    pub if_modified_since: Option<i64>,
    /// `If-Unmodified-Since` / `x-amz-copy-source-if-unmodified-since`.
    pub if_unmodified_since: Option<i64>,
}

/// The validators of an existing object.
#[derive(Clone, Copy, Debug)]
pub struct Validators<'a> {
    /// The ETag, quoted or not.
    pub etag: &'a str,
    /// Last modification, in milliseconds since the Unix epoch.
    pub last_modified_ms: u64,
}

impl Preconditions<'_> {
    /// Whether no condition was given.
    pub fn is_empty(&self) -> bool {
        self.if_match.is_none()
            && self.if_none_match.is_none()
            && self.if_modified_since.is_none()
            && self.if_unmodified_since.is_none()
    }

    /// The verdict for a GET or HEAD of an object with `v`, at `now_ms`.
    pub fn evaluate_read(&self, v: Validators<'_>, now_ms: u64) -> Verdict {
        let modified = v.last_modified_ms / 1000;
        if let Some(cond) = self.if_match {
            if !strong_match(cond, v.etag) {
                return Verdict::PreconditionFailed;
            }
        } else if let Some(since) = self.if_unmodified_since
            && modified_after(modified, since)
        {
            return Verdict::PreconditionFailed;
        }
        if let Some(cond) = self.if_none_match {
            if weak_match(cond, v.etag) {
                return Verdict::NotModified;
            }
        } else if let Some(since) = self.if_modified_since
            // A date in the future is not a valid validator: ignore it.
            && since <= (now_ms / 1000) as i64
            && !modified_after(modified, since)
        {
            return Verdict::NotModified;
        }
        Verdict::Proceed
    }

    /// The verdict for the source of a copy: as for a read, but a condition
    /// that would give 304 gives 412.
    pub fn evaluate_copy_source(&self, v: Validators<'_>, now_ms: u64) -> Verdict {
        match self.evaluate_read(v, now_ms) {
            Verdict::NotModified => Verdict::PreconditionFailed,
            other => other,
        }
    }
}

/// Why a conditional write is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteRefusal {
    /// 501 NotImplemented: `If-None-Match` other than `*`, or both headers.
    NotImplemented,
    /// 412 PreconditionFailed.
    PreconditionFailed,
    /// 404 NoSuchKey: `If-Match` on a key that does not exist.
    NoSuchKey,
}

/// `If-Match` / `If-None-Match` of a write (PutObject,
/// CompleteMultipartUpload).
#[derive(Clone, Copy, Debug, Default)]
pub struct WriteConditions<'a> {
    /// `If-Match`: write only over an object with this ETag.
    pub if_match: Option<&'a ETagCondition>,
    /// `If-None-Match`: only `*` (write only if the key does not exist).
    pub if_none_match: Option<&'a ETagCondition>,
}

impl WriteConditions<'_> {
    /// Whether no condition was given.
    pub fn is_empty(&self) -> bool {
        self.if_match.is_none() && self.if_none_match.is_none()
    }

    /// Refusals that do not depend on the current object.
    pub fn validate(&self) -> Result<(), WriteRefusal> {
        match (self.if_match, self.if_none_match) {
            (Some(_), Some(_)) => Err(WriteRefusal::NotImplemented),
            (None, Some(cond)) if !cond.is_any() => Err(WriteRefusal::NotImplemented),
            _ => Ok(()),
        }
    }

    /// Whether the write may replace `current` (the current object's ETag,
    /// `None` if the key does not exist).
    /// The condition as the metadata store evaluates it (after
    /// [`WriteConditions::validate`]).
    pub fn condition(&self) -> crate::meta::WriteCondition {
        use crate::meta::WriteCondition;
        match (self.if_match, self.if_none_match) {
            (Some(ETagCondition::ETag(ETag::Strong(etag))), _) => {
                WriteCondition::IfMatch(unquoted(etag).to_owned())
            }
            // A weak tag never matches in the strong comparison If-Match
            // uses; no stored ETag starts with `W/`.
            (Some(ETagCondition::ETag(ETag::Weak(etag))), _) => {
                WriteCondition::IfMatch(format!("W/{etag}"))
            }
            (Some(_), _) => WriteCondition::IfExists,
            (None, Some(_)) => WriteCondition::IfAbsent,
            (None, None) => WriteCondition::Always,
        }
    }

    pub fn check(&self, current: Option<&str>) -> Result<(), WriteRefusal> {
        self.validate()?;
        if self.if_none_match.is_some() && current.is_some() {
            return Err(WriteRefusal::PreconditionFailed);
        }
        if let Some(cond) = self.if_match {
            let Some(etag) = current else {
                return Err(WriteRefusal::NoSuchKey);
            };
            if !strong_match(cond, etag) {
                return Err(WriteRefusal::PreconditionFailed);
            }
        }
        Ok(())
    }
}

/// Whether the object was modified after `since` (both in whole seconds).
fn modified_after(modified: u64, since: i64) -> bool {
    since < 0 || modified > since as u64
}

fn unquoted(etag: &str) -> &str {
    etag.trim_matches('"')
}

/// RFC 9110 strong comparison (for If-Match): a weak tag never matches.
fn strong_match(cond: &ETagCondition, etag: &str) -> bool {
    match cond {
        ETagCondition::Any => true,
        ETagCondition::ETag(ETag::Strong(given)) => unquoted(given) == unquoted(etag),
        ETagCondition::ETag(ETag::Weak(_)) => false,
    }
}

/// RFC 9110 weak comparison (for If-None-Match): the opaque tags match.
fn weak_match(cond: &ETagCondition, etag: &str) -> bool {
    match cond {
        ETagCondition::Any => true,
        ETagCondition::ETag(given) => unquoted(given.value()) == unquoted(etag),
    }
}

/// Whole seconds since the Unix epoch of an s3s timestamp (fractions
/// truncated; HTTP dates have none).
pub fn unix_seconds(ts: &Timestamp) -> Option<i64> {
    let mut out = Vec::with_capacity(24);
    ts.format(TimestampFormat::EpochSeconds, &mut out).ok()?;
    let text = std::str::from_utf8(&out).ok()?;
    let whole = text.split('.').next()?;
    whole.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETAG: &str = "\"9e107d9d372bb6826bd81d3542a419d6\"";
    /// Last modified 1000.5 s after the epoch; "now" is 2000 s.
    const V: Validators<'static> = Validators {
        etag: ETAG,
        last_modified_ms: 1_000_500,
    };
    const NOW: u64 = 2_000_000;

    fn tag(s: &str) -> ETagCondition {
        s.parse().unwrap()
    }

    fn read(
        if_match: Option<&str>,
        if_none_match: Option<&str>,
        if_modified_since: Option<i64>,
        if_unmodified_since: Option<i64>,
    ) -> Verdict {
        let (m, n) = (if_match.map(tag), if_none_match.map(tag));
        Preconditions {
            if_match: m.as_ref(),
            if_none_match: n.as_ref(),
            if_modified_since,
            if_unmodified_since,
        }
        .evaluate_read(V, NOW)
    }

    use Verdict::*;

    #[test]
    fn etags_compare_with_or_without_quotes_and_star() {
        assert_eq!(read(Some(ETAG), None, None, None), Proceed);
        assert_eq!(
            read(Some("9e107d9d372bb6826bd81d3542a419d6"), None, None, None),
            Proceed
        );
        assert_eq!(read(Some("*"), None, None, None), Proceed);
        assert_eq!(
            read(Some("\"other\""), None, None, None),
            PreconditionFailed
        );
        // If-Match uses the strong comparison; If-None-Match the weak one.
        let weak = "W/\"9e107d9d372bb6826bd81d3542a419d6\"";
        assert_eq!(read(Some(weak), None, None, None), PreconditionFailed);
        assert_eq!(read(None, Some(weak), None, None), NotModified);
        assert_eq!(read(None, Some(ETAG), None, None), NotModified);
        assert_eq!(read(None, Some("*"), None, None), NotModified);
        assert_eq!(read(None, Some("other"), None, None), Proceed);
    }

    #[test]
    fn dates_have_second_resolution() {
        // Modified at 1000.5 s: the Last-Modified header says 1000.
        assert_eq!(read(None, None, Some(1000), None), NotModified);
        assert_eq!(read(None, None, Some(999), None), Proceed);
        assert_eq!(read(None, None, None, Some(1000)), Proceed);
        assert_eq!(read(None, None, None, Some(999)), PreconditionFailed);
    }

    #[test]
    fn a_future_if_modified_since_is_ignored() {
        assert_eq!(read(None, None, Some(1500), None), NotModified);
        assert_eq!(read(None, None, Some(2001), None), Proceed);
    }

    #[test]
    fn aws_precedence() {
        // If-Match true and If-Unmodified-Since false: 200.
        assert_eq!(read(Some(ETAG), None, None, Some(999)), Proceed);
        // If-None-Match false and If-Modified-Since true: 304.
        assert_eq!(read(None, Some(ETAG), Some(999), None), NotModified);
        // If-None-Match true and If-Modified-Since false: 200.
        assert_eq!(read(None, Some("x"), Some(1000), None), Proceed);
        // If-Match false wins over everything.
        assert_eq!(
            read(Some("x"), Some(ETAG), Some(1000), Some(2000)),
            PreconditionFailed
        );
        // If-Unmodified-Since false (no If-Match) wins over If-None-Match.
        assert_eq!(read(None, Some(ETAG), None, Some(999)), PreconditionFailed);
        // If-Match true, then If-None-Match false: 304.
        assert_eq!(read(Some(ETAG), Some(ETAG), None, None), NotModified);
        // If-Match true, If-Modified-Since false: 304.
        assert_eq!(read(Some(ETAG), None, Some(1000), None), NotModified);
        assert_eq!(read(None, None, None, None), Proceed);
    }

    #[test]
    fn copy_sources_fail_with_412_only() {
        let n = tag(ETAG);
        let p = Preconditions {
            if_none_match: Some(&n),
            ..Default::default()
        };
        assert_eq!(p.evaluate_read(V, NOW), NotModified);
        assert_eq!(p.evaluate_copy_source(V, NOW), PreconditionFailed);
        let p = Preconditions {
            if_modified_since: Some(1000),
            ..Default::default()
        };
        assert_eq!(p.evaluate_copy_source(V, NOW), PreconditionFailed);
        assert!(Preconditions::default().is_empty());
        assert_eq!(
            Preconditions::default().evaluate_copy_source(V, NOW),
            Proceed
        );
    }

    #[test]
    fn conditional_writes() {
        let (star, good, bad) = (tag("*"), tag(ETAG), tag("\"nope\""));
        fn w<'a>(
            m: Option<&'a ETagCondition>,
            n: Option<&'a ETagCondition>,
        ) -> WriteConditions<'a> {
            WriteConditions {
                if_match: m,
                if_none_match: n,
            }
        }
        assert!(w(None, None).is_empty());
        assert_eq!(w(None, None).check(Some(ETAG)), Ok(()));
        assert_eq!(w(None, Some(&star)).check(None), Ok(()));
        assert_eq!(
            w(None, Some(&star)).check(Some(ETAG)),
            Err(WriteRefusal::PreconditionFailed)
        );
        assert_eq!(w(Some(&good), None).check(Some(ETAG)), Ok(()));
        assert_eq!(
            w(Some(&bad), None).check(Some(ETAG)),
            Err(WriteRefusal::PreconditionFailed)
        );
        assert_eq!(
            w(Some(&good), None).check(None),
            Err(WriteRefusal::NoSuchKey)
        );
        assert_eq!(w(Some(&star), None).check(Some(ETAG)), Ok(()));
        // Only `*` is supported in If-None-Match, and not with If-Match.
        assert_eq!(
            w(None, Some(&good)).check(None),
            Err(WriteRefusal::NotImplemented)
        );
        assert_eq!(
            w(Some(&good), Some(&star)).validate(),
            Err(WriteRefusal::NotImplemented)
        );
    }

    #[test]
    fn timestamps_to_seconds() {
        let ts =
            Timestamp::parse(TimestampFormat::HttpDate, "Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(unix_seconds(&ts), Some(1_445_412_480));
        let ts = Timestamp::from(std::time::UNIX_EPOCH + std::time::Duration::from_millis(1500));
        assert_eq!(unix_seconds(&ts), Some(1));
    }
}
