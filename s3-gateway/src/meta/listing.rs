//! The page assembly every engine's ListObjects shares.
//!
//! A listing is the sorted sequence of *entries* (keys without the
//! delimiter after the prefix, and distinct common prefixes) greater than
//! `start_after`. A common prefix sorts before every key under it and after
//! every key before them, so one in-order pass over a bucket's keys meets
//! the entries in sorted order. An engine walks its keys in binary order
//! from [`PageWalk::start`] and offers each to [`PageWalk::offer`], which
//! says whether it is an object to add, a common prefix after which the
//! walk should seek past every key under it (instead of reading them), or
//! the end of the page. Keys here are relative to the bucket.

use std::ops::Bound;

use super::{ListPage, ListQuery, ObjectMeta};

/// The smallest byte string greater than every string starting with `p`, or
/// `None` if there is none (`p` empty or all `0xff`).
pub(crate) fn prefix_successor(p: &[u8]) -> Option<Vec<u8>> {
    let mut out = p.to_vec();
    while let Some(last) = out.pop() {
        if last < 0xff {
            out.push(last + 1);
            return Some(out);
        }
    }
    None
}

/// What to do after offering a key.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// The key is an entry of the page: add its object with
    /// [`PageWalk::push`], then go on with the next key.
    Object,
    /// The key rolled up into a common prefix: go on from this key
    /// (inclusive), past every key under the prefix.
    SeekTo(Vec<u8>),
    /// The page is complete.
    Stop,
}

/// One page being assembled.
pub(crate) struct PageWalk<'q> {
    q: &'q ListQuery,
    delimiter: Option<&'q str>,
    page: ListPage,
    count: usize,
    last: Option<String>,
}

impl<'q> PageWalk<'q> {
    /// A walk for `q`.
    pub(crate) fn new(q: &'q ListQuery) -> Self {
        Self {
            q,
            delimiter: q.delimiter.as_deref().filter(|d| !d.is_empty()),
            page: ListPage::default(),
            count: 0,
            last: None,
        }
    }

    /// The first key to look at, or `None` if the page is empty whatever
    /// the bucket holds (`max_keys` 0).
    pub(crate) fn start(&self) -> Option<Bound<Vec<u8>>> {
        if self.q.max_keys == 0 {
            return None;
        }
        let prefix = self.q.prefix.as_bytes();
        Some(match self.q.start_after.as_deref() {
            Some(after) if after.as_bytes() >= prefix => Bound::Excluded(after.as_bytes().to_vec()),
            _ => Bound::Included(prefix.to_vec()),
        })
    }

    /// The next key of the walk (in binary order, starting with the
    /// prefix: the engine stops at the first key past it).
    pub(crate) fn offer(&mut self, key: &str) -> Next {
        let rest = &key[self.q.prefix.len()..];
        if let Some(d) = self.delimiter
            && let Some(at) = rest.find(d)
        {
            let common = &key[..self.q.prefix.len() + at + d.len()];
            // A common prefix at or before `start_after` was returned on an
            // earlier page (or lies before the requested start).
            if self
                .q
                .start_after
                .as_deref()
                .is_none_or(|after| common > after)
            {
                if self.count == self.q.max_keys {
                    self.page.is_truncated = true;
                    return Next::Stop;
                }
                self.page.common_prefixes.push(common.to_owned());
                self.last = Some(common.to_owned());
                self.count += 1;
            }
            return match prefix_successor(common.as_bytes()) {
                Some(next) => Next::SeekTo(next),
                None => Next::Stop,
            };
        }
        if self.count == self.q.max_keys {
            self.page.is_truncated = true;
            return Next::Stop;
        }
        Next::Object
    }

    /// Adds the object whose key [`offer`](Self::offer) answered
    /// [`Next::Object`] to.
    pub(crate) fn push(&mut self, key: String, meta: ObjectMeta) {
        self.last = Some(key.clone());
        self.page.objects.push((key, meta));
        self.count += 1;
    }

    /// The page, with its continuation marker if it is truncated.
    pub(crate) fn finish(mut self) -> ListPage {
        if self.page.is_truncated {
            self.page.next_marker = self.last;
        }
        self.page
    }
}
