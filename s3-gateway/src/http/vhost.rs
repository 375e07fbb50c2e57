//! Virtual-hosted-style addressing: `Host: <bucket>.<domain>` names the
//! bucket, as on AWS (`bucket.s3.example.com/key`).
//!
//! s3s asks an [`S3Host`] for the bucket in the Host header (except when
//! the host is an IP address, which is always path style). s3s's own
//! `MultiDomain` compares the Host header with its port against the
//! domains and takes any other host name, port included, for a bucket (a
//! CNAME-style bucket), which would break path-style requests to
//! `localhost:9000`. This one ignores the port, and answers path style for
//! the configured domains themselves and for every host that is not under
//! one of them. The longest matching domain wins.

use s3s::S3Result;
use s3s::host::{S3Host, VirtualHost};

/// A configured domain is not a valid DNS name.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a domain name (letters, digits, hyphens and dots; no port)")]
pub struct InvalidDomain(pub String);

/// The domains under which `<bucket>.<domain>` addresses a bucket.
#[derive(Clone, Debug)]
pub struct Domains {
    /// Lower-cased, longest first.
    domains: Vec<String>,
}

impl Domains {
    /// Checks and keeps `domains` (e.g. `s3.example.com`).
    pub fn new<I, S>(domains: I) -> Result<Self, InvalidDomain>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = Vec::new();
        for domain in domains {
            let domain = domain.as_ref().trim_end_matches('.').to_ascii_lowercase();
            let valid = !domain.is_empty()
                && domain.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if !valid {
                return Err(InvalidDomain(domain));
            }
            out.push(domain);
        }
        out.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        out.dedup();
        Ok(Self { domains: out })
    }

    /// The bucket `host` (a Host header, port allowed) addresses, if it is
    /// `<bucket>.<domain>` for one of the domains.
    pub fn bucket_of(&self, host: &str) -> Option<String> {
        let name = strip_port(host).trim_end_matches('.').to_ascii_lowercase();
        self.domains.iter().find_map(|domain| {
            let bucket = name.strip_suffix(domain.as_str())?.strip_suffix('.')?;
            (!bucket.is_empty()).then(|| bucket.to_owned())
        })
    }
}

/// `host` without a trailing `:port` (IPv6 literals keep their brackets).
fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port))
            if !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!name.contains(':') || name.ends_with(']')) =>
        {
            name
        }
        _ => host,
    }
}

impl S3Host for Domains {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        Ok(match self.bucket_of(host) {
            Some(bucket) => VirtualHost::new(host).with_bucket(bucket),
            None => VirtualHost::new(host),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_come_from_subdomains_of_the_configured_domains() {
        let d = Domains::new(["s3.example.test", "Other.Test."]).unwrap();
        assert_eq!(
            d.bucket_of("photos.s3.example.test").as_deref(),
            Some("photos")
        );
        assert_eq!(
            d.bucket_of("photos.s3.example.test:9000").as_deref(),
            Some("photos")
        );
        assert_eq!(
            d.bucket_of("My.Dotted.Bucket.S3.Example.Test").as_deref(),
            Some("my.dotted.bucket")
        );
        assert_eq!(d.bucket_of("b.other.test.").as_deref(), Some("b"));
        // Path style: the domains themselves, and everything else.
        for host in [
            "s3.example.test",
            "s3.example.test:9000",
            ".s3.example.test",
            "localhost:9000",
            "localhost",
            "xs3.example.test",
            "example.test",
            "[::1]:9000",
            "127.0.0.1:9000",
        ] {
            assert_eq!(d.bucket_of(host), None, "{host}");
        }
    }

    #[test]
    fn the_longest_domain_wins() {
        let d = Domains::new(["example.test", "s3.example.test"]).unwrap();
        assert_eq!(d.bucket_of("b.s3.example.test").as_deref(), Some("b"));
        assert_eq!(d.bucket_of("b.example.test").as_deref(), Some("b"));
    }

    #[test]
    fn invalid_domains_are_refused() {
        for bad in [
            "",
            "a..b",
            "host:9000",
            "under_score.test",
            "*.example.test",
        ] {
            assert!(Domains::new([bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_host_parser_answers_virtual_or_path_style() {
        let d = Domains::new(["s3.example.test"]).unwrap();
        let vh = d.parse_host_header("pics.s3.example.test:443").unwrap();
        assert_eq!(vh.bucket(), Some("pics"));
        let vh = d.parse_host_header("localhost:9000").unwrap();
        assert_eq!(vh.bucket(), None);
    }
}
