//! Logging: `tracing` to stderr, human-readable or JSON, filtered by
//! `RUST_LOG` (default `info`). The S3 library never logs below `info`
//! whatever `RUST_LOG` says: its debug events print whole requests,
//! SSE-C keys and form fields included.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = filter.add_directive("s3s=info".parse().expect("a valid directive"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
