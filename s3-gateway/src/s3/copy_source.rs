//! The source side of server-side copies (CopyObject, UploadPartCopy): the
//! `x-amz-copy-source-range` header, and a stream wrapper that remembers
//! whether reading the source failed (a server fault, not the client's).

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

/// Why an `x-amz-copy-source-range` was refused (InvalidArgument, 400, and
/// InvalidRange, 416, as on AWS).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CopyRangeError {
    /// Not `bytes=first-last` with first ≤ last.
    #[error(
        "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"
    )]
    Malformed,
    /// Past the end of the source.
    #[error("Range specified is not valid for source object of size: {size}")]
    OutOfBounds {
        /// The source's size.
        size: u64,
    },
}

/// The byte range (end exclusive) that `header` selects from a source of
/// `size` bytes; the whole source when there is no header. Only
/// `bytes=first-last` is accepted: no suffix, open or multiple ranges.
pub fn parse_copy_range(header: Option<&str>, size: u64) -> Result<Range<u64>, CopyRangeError> {
    let Some(header) = header else {
        return Ok(0..size);
    };
    let spec = header
        .trim()
        .strip_prefix("bytes=")
        .ok_or(CopyRangeError::Malformed)?;
    let (first, last) = spec.split_once('-').ok_or(CopyRangeError::Malformed)?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(first) || !digits(last) {
        return Err(CopyRangeError::Malformed);
    }
    let first: u64 = first.parse().map_err(|_| CopyRangeError::Malformed)?;
    let last: u64 = last.parse().map_err(|_| CopyRangeError::Malformed)?;
    if first > last {
        return Err(CopyRangeError::Malformed);
    }
    if last >= size {
        return Err(CopyRangeError::OutOfBounds { size });
    }
    Ok(first..last + 1)
}

/// Set when a wrapped source stream yields an error.
#[derive(Clone, Default)]
pub struct SourceFailed(Arc<AtomicBool>);

impl SourceFailed {
    /// `source`, flagging this on its first error.
    pub fn watch<S, E>(&self, source: S) -> impl Stream<Item = Result<Bytes, E>> + use<S, E>
    where
        S: Stream<Item = Result<Bytes, E>>,
    {
        let flag = self.0.clone();
        source.map(move |item| {
            if item.is_err() {
                flag.store(true, Ordering::Relaxed);
            }
            item
        })
    }

    /// Whether the source failed.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_ranges() {
        assert_eq!(parse_copy_range(None, 10), Ok(0..10));
        assert_eq!(parse_copy_range(None, 0), Ok(0..0));
        assert_eq!(parse_copy_range(Some("bytes=0-9"), 10), Ok(0..10));
        assert_eq!(parse_copy_range(Some("bytes=3-3"), 10), Ok(3..4));
        for bad in [
            "0-2",
            "bytes=0",
            "bytes=hello-world",
            "bytes=0-bar",
            "bytes=hello-",
            "bytes=0-2,3-5",
            "bytes=-5",
            "bytes=5-",
            "bytes=200-100",
            "bytes=-2-300",
            "byte=1-2",
            "bytes=+1-2",
        ] {
            assert_eq!(
                parse_copy_range(Some(bad), 1000),
                Err(CopyRangeError::Malformed),
                "{bad}"
            );
        }
        for (out, size) in [
            ("bytes=100-1000", 1000),
            ("bytes=1250-3000", 1000),
            ("bytes=0-21", 5),
            ("bytes=0-0", 0),
        ] {
            assert_eq!(
                parse_copy_range(Some(out), size),
                Err(CopyRangeError::OutOfBounds { size }),
                "{out}"
            );
        }
        assert_eq!(
            CopyRangeError::OutOfBounds { size: 5 }.to_string(),
            "Range specified is not valid for source object of size: 5"
        );
    }

    #[tokio::test]
    async fn source_failures_are_noticed() {
        let failed = SourceFailed::default();
        let items: Vec<Result<Bytes, &str>> = vec![Ok(Bytes::from_static(b"a")), Err("lost")];
        let collected: Vec<_> = failed
            .watch(futures_util::stream::iter(items))
            .collect()
            .await;
        assert_eq!(collected.len(), 2);
        assert!(failed.get());
        let fine = SourceFailed::default();
        let _: Vec<_> = fine
            .watch(futures_util::stream::iter(vec![
                Ok::<_, &str>(Bytes::new()),
            ]))
            .collect()
            .await;
        assert!(!fine.get());
    }
}
