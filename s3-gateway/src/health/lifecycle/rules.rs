//! Lifecycle rules as stored (the bucket configuration `lifecycle`), and
//! which versions they reach.

use serde::{Deserialize, Serialize};

/// A bucket's lifecycle configuration: its rules, in the order given.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Lifecycle {
    /// The rules.
    pub rules: Vec<Rule>,
}

/// One lifecycle rule: a filter and the actions it takes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Its id.
    pub id: String,
    /// `Status` is `Enabled` (a disabled rule is kept but does nothing).
    pub enabled: bool,
    /// Which objects it applies to.
    pub filter: Filter,
    /// Current versions expire this many days after they were written.
    pub expiration_days: Option<u32>,
    /// Current versions expire from this date on (ms since the epoch).
    pub expiration_date: Option<u64>,
    /// A delete marker with no version left under it is removed.
    pub expired_object_delete_marker: bool,
    /// Noncurrent versions go this many days after they became
    /// noncurrent...
    pub noncurrent_days: Option<u32>,
    /// ...except this many newest noncurrent versions of each key.
    pub newer_noncurrent_versions: Option<u32>,
    /// Multipart uploads are aborted this many days after they started.
    pub abort_incomplete_days: Option<u32>,
}

/// Which objects a rule applies to: every condition holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    /// The key starts with this.
    pub prefix: String,
    /// The object carries every one of these tags.
    pub tags: Vec<(String, String)>,
    /// The object is larger than this many bytes.
    pub size_greater_than: Option<u64>,
    /// The object is smaller than this many bytes.
    pub size_less_than: Option<u64>,
}

impl Filter {
    /// Whether an object with `key`, `size` and `tags` is in.
    pub fn matches(&self, key: &str, size: u64, tags: &[(String, String)]) -> bool {
        key.starts_with(&self.prefix)
            && self.tags.iter().all(|t| tags.contains(t))
            && self.size_greater_than.is_none_or(|n| size > n)
            && self.size_less_than.is_none_or(|n| size < n)
    }

    /// Whether the filter looks at anything but the key (delete markers
    /// and uploads have no size or tags, so such rules pass them by).
    pub fn needs_object(&self) -> bool {
        !self.tags.is_empty() || self.size_greater_than.is_some() || self.size_less_than.is_some()
    }
}

impl Lifecycle {
    /// As stored.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serializable")
    }

    /// From [`Lifecycle::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }

    /// The enabled rules.
    pub fn enabled(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().filter(|r| r.enabled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_need_every_condition() {
        let f = Filter {
            prefix: "logs/".into(),
            tags: vec![("keep".into(), "no".into())],
            size_greater_than: Some(10),
            size_less_than: Some(100),
        };
        let tags = vec![("a".into(), "b".into()), ("keep".into(), "no".into())];
        assert!(f.matches("logs/1", 50, &tags));
        assert!(!f.matches("data/1", 50, &tags), "prefix");
        assert!(!f.matches("logs/1", 50, &tags[..1]), "tag");
        assert!(!f.matches("logs/1", 10, &tags), "not larger");
        assert!(!f.matches("logs/1", 100, &tags), "not smaller");
        assert!(f.needs_object());
        assert!(Filter::default().matches("anything", 0, &[]));
        assert!(!Filter::default().needs_object());
    }

    #[test]
    fn configurations_round_trip() {
        let l = Lifecycle {
            rules: vec![Rule {
                id: "r".into(),
                enabled: true,
                noncurrent_days: Some(3),
                ..Default::default()
            }],
        };
        assert_eq!(Lifecycle::from_bytes(&l.to_bytes()), Some(l));
        assert_eq!(Lifecycle::from_bytes(b"nope"), None);
    }
}
