//! Where an object's bytes fall among its segments.

use std::ops::Range;

/// The segment structure of an object: its size and segment size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectLayout {
    /// Object size in bytes.
    pub size: u64,
    /// Segment size in bytes.
    pub segment_size: u64,
}

impl ObjectLayout {
    /// Number of segments (0 for an empty object).
    pub fn segment_count(&self) -> u64 {
        self.size.div_ceil(self.segment_size)
    }

    /// Plaintext length of segment `index`.
    pub fn segment_len(&self, index: u64) -> usize {
        let start = index * self.segment_size;
        self.size.saturating_sub(start).min(self.segment_size) as usize
    }

    /// The segments that hold the bytes in `range` (end exclusive), and the
    /// offset of `range.start` within the first of them.
    pub fn segments_for(&self, range: Range<u64>) -> (Range<u64>, usize) {
        let end = range.end.min(self.size);
        if range.start >= end {
            return (0..0, 0);
        }
        let first = range.start / self.segment_size;
        let last = (end - 1) / self.segment_size;
        (first..last + 1, (range.start % self.segment_size) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_ranges() {
        let layout = ObjectLayout {
            size: 25,
            segment_size: 10,
        };
        assert_eq!(layout.segment_count(), 3);
        assert_eq!(
            (0..3).map(|i| layout.segment_len(i)).collect::<Vec<_>>(),
            [10, 10, 5]
        );
        assert_eq!(layout.segments_for(0..25), (0..3, 0));
        assert_eq!(layout.segments_for(9..11), (0..2, 9));
        assert_eq!(layout.segments_for(20..100), (2..3, 0));
        assert_eq!(layout.segments_for(25..30), (0..0, 0));
        let empty = ObjectLayout {
            size: 0,
            segment_size: 10,
        };
        assert_eq!(empty.segment_count(), 0);
    }
}
