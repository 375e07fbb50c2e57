//! What a connection is doing, and when it has been quiet too long.
//!
//! Every connection has an [`Activity`]: requests in flight (counted by the
//! per-connection service, from the request head to the end of the
//! response body) and, between requests, when it went idle and whether
//! bytes of a next request have arrived since (seen by [`Watched`], the IO
//! wrapper under hyper, and under TLS). [`Activity::expired`] resolves
//! when the connection must be closed:
//!
//! * no first request within the header timeout of the connection's start
//!   (silent or slow-header connections, h1 and h2 alike);
//! * after a request, the first byte of the next one arrived but its
//!   headers did not within the header timeout (HTTP/1 only; hyper's own
//!   `header_read_timeout` would also run while the connection is idle);
//! * no next request within the idle timeout of the last one ending
//!   (keep-alive, h1 and h2).
//!
//! A connection with a request in flight is never closed for silence:
//! waiting on the mesh is not idleness. A request body that stops arriving
//! fails that request (`tracked`), and [`Watched`] fails writes that make
//! no progress for the body timeout (a client that stops reading its
//! response).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

/// Why a quiet connection was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// No complete request head within the header timeout.
    Header,
    /// No next request within the idle timeout.
    Idle,
}

impl Expiry {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Idle => "idle",
        }
    }
}

/// The timeouts a connection is held to.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// For a request head (from the connection's start, or from the first
    /// byte after an idle period).
    pub header: Duration,
    /// Between requests.
    pub idle: Duration,
}

/// One connection's activity, shared by its IO wrapper, its service and
/// its watchdog.
pub struct Activity {
    start: Instant,
    in_flight: AtomicU32,
    /// Whether any request has started.
    served: AtomicBool,
    /// Milliseconds from `start` to when the last request ended.
    idle_since: AtomicU64,
    /// Idle, and no byte read since.
    awaiting_bytes: AtomicBool,
    /// Milliseconds from `start` to the first byte read after going idle.
    bytes_since: AtomicU64,
    /// Whether a started next request is held to the header timeout (not
    /// for h2, whose idle connections exchange pings and settings).
    header_rule: AtomicBool,
    changed: Notify,
}

impl Activity {
    /// A connection starting now.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            in_flight: AtomicU32::new(0),
            served: AtomicBool::new(false),
            idle_since: AtomicU64::new(0),
            awaiting_bytes: AtomicBool::new(false),
            bytes_since: AtomicU64::new(0),
            header_rule: AtomicBool::new(true),
            changed: Notify::new(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }

    /// The connection speaks h2: a next request is only held to the idle
    /// timeout.
    pub fn set_h2(&self) {
        self.header_rule.store(false, Ordering::Relaxed);
        self.changed.notify_one();
    }

    /// A request head arrived; the returned ticket ends the request when
    /// dropped (after its response body).
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.served.store(true, Ordering::Relaxed);
        if self.in_flight.fetch_add(1, Ordering::AcqRel) == 0 {
            self.changed.notify_one();
        }
        InFlight(self.clone())
    }

    fn end(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle_since.store(self.now_ms(), Ordering::Relaxed);
            self.awaiting_bytes.store(true, Ordering::Release);
            self.changed.notify_one();
        }
    }

    /// Bytes were read from the client.
    fn read_some(&self) {
        if self.awaiting_bytes.load(Ordering::Relaxed)
            && self.awaiting_bytes.swap(false, Ordering::AcqRel)
        {
            self.bytes_since.store(self.now_ms(), Ordering::Relaxed);
            self.changed.notify_one();
        }
    }

    /// When the connection must close if nothing changes, and why; `None`
    /// while a request is in flight.
    fn deadline(&self, timeouts: Timeouts) -> Option<(Instant, Expiry)> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        if !self.served.load(Ordering::Relaxed) {
            return Some((self.start + timeouts.header, Expiry::Header));
        }
        if self.header_rule.load(Ordering::Relaxed) && !self.awaiting_bytes.load(Ordering::Acquire)
        {
            let since = self.bytes_since.load(Ordering::Relaxed);
            return Some((self.at(since) + timeouts.header, Expiry::Header));
        }
        let since = self.idle_since.load(Ordering::Relaxed);
        Some((self.at(since) + timeouts.idle, Expiry::Idle))
    }

    /// Resolves when the connection has been quiet past its deadline.
    pub async fn expired(&self, timeouts: Timeouts) -> Expiry {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.deadline(timeouts) {
                None => changed.await,
                Some((at, why)) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {
                            if let Some((now_at, now_why)) = self.deadline(timeouts)
                                && now_at <= Instant::now()
                            {
                                debug_assert_eq!(now_why, why);
                                return now_why;
                            }
                        }
                        () = &mut changed => {}
                    }
                }
            }
        }
    }
}

/// A request in flight on a connection; ends it when dropped.
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// A connection's IO, reporting reads to its [`Activity`] and failing
/// writes that make no progress for `write_timeout`.
pub struct Watched<IO> {
    inner: IO,
    activity: Arc<Activity>,
    first_read: bool,
    write_timeout: Duration,
    write_timer: Option<Pin<Box<Sleep>>>,
    write_stalled: bool,
    on_write_timeout: Option<Box<dyn FnOnce() + Send + Sync>>,
}

/// The client preface every h2 connection starts with.
const H2_PREFACE_START: &[u8] = b"PRI * HTTP/2.0";

impl<IO> Watched<IO> {
    /// Wraps `inner`; `on_write_timeout` runs once if a write stalls.
    pub fn new(
        inner: IO,
        activity: Arc<Activity>,
        write_timeout: Duration,
        on_write_timeout: impl FnOnce() + Send + Sync + 'static,
    ) -> Self {
        Self {
            inner,
            activity,
            first_read: true,
            write_timeout,
            write_timer: None,
            write_stalled: false,
            on_write_timeout: Some(Box::new(on_write_timeout)),
        }
    }

    /// The wrapped IO.
    pub fn get_ref(&self) -> &IO {
        &self.inner
    }

    /// `result` of a write, flush or shutdown, failing it once it has been
    /// pending for the write timeout.
    fn stall_checked<T>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if result.is_ready() {
            self.write_stalled = false;
            return result;
        }
        let deadline = Instant::now() + self.write_timeout;
        if !self.write_stalled {
            self.write_stalled = true;
            match &mut self.write_timer {
                Some(timer) => timer.as_mut().reset(deadline),
                None => self.write_timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
        }
        let timer = self.write_timer.as_mut().expect("armed above");
        if timer.as_mut().poll(cx).is_ready() {
            if let Some(report) = self.on_write_timeout.take() {
                report();
            }
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client read nothing of the response for the body timeout",
            )));
        }
        Poll::Pending
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result
            && buf.filled().len() > before
        {
            if self.first_read {
                self.first_read = false;
                let got = &buf.filled()[before..];
                let n = got.len().min(H2_PREFACE_START.len());
                if got[..n] == H2_PREFACE_START[..n] {
                    self.activity.set_h2();
                }
            }
            self.activity.read_some();
        }
        result
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.stall_checked(cx, result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.stall_checked(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.stall_checked(cx, result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.stall_checked(cx, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const T: Timeouts = Timeouts {
        header: Duration::from_secs(10),
        idle: Duration::from_secs(60),
    };

    async fn expires_after(activity: &Activity) -> (Duration, Expiry) {
        let started = Instant::now();
        let why = activity.expired(T).await;
        (started.elapsed(), why)
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_gets_the_header_timeout() {
        let activity = Activity::new();
        assert_eq!(
            expires_after(&activity).await,
            (Duration::from_secs(10), Expiry::Header)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_keep_alive_connection_gets_the_idle_timeout() {
        let activity = Activity::new();
        let ticket = activity.begin();
        // In flight for longer than any timeout: never closed.
        let waited = tokio::time::timeout(Duration::from_secs(300), activity.expired(T)).await;
        assert!(waited.is_err(), "closed with a request in flight");
        drop(ticket);
        assert_eq!(
            expires_after(&activity).await,
            (Duration::from_secs(60), Expiry::Idle)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_next_request_gets_the_header_timeout_from_its_first_byte() {
        let activity = Activity::new();
        drop(activity.begin());
        tokio::time::sleep(Duration::from_secs(30)).await;
        activity.read_some();
        assert_eq!(
            expires_after(&activity).await,
            (Duration::from_secs(10), Expiry::Header)
        );
        // An h2 connection's bytes between requests (pings) do not start it.
        let h2 = Activity::new();
        h2.set_h2();
        drop(h2.begin());
        h2.read_some();
        assert_eq!(
            expires_after(&h2).await,
            (Duration::from_secs(60), Expiry::Idle)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_arriving_in_time_keeps_the_connection() {
        let activity = Activity::new();
        let watcher = {
            let activity = activity.clone();
            tokio::spawn(async move { expires_after(&activity).await })
        };
        tokio::time::sleep(Duration::from_secs(9)).await;
        let ticket = activity.begin();
        tokio::time::sleep(Duration::from_secs(100)).await;
        drop(ticket);
        let (took, why) = watcher.await.unwrap();
        assert_eq!((took, why), (Duration::from_secs(169), Expiry::Idle));
    }

    #[tokio::test(start_paused = true)]
    async fn reads_are_reported_and_the_h2_preface_recognised() {
        let (client, server) = tokio::io::duplex(64);
        let activity = Activity::new();
        drop(activity.begin());
        let mut watched = Watched::new(server, activity.clone(), Duration::from_secs(5), || {});
        let mut client = client;
        client.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
        let mut buf = [0u8; 64];
        let n = watched.read(&mut buf).await.unwrap();
        assert_eq!(n, 16);
        assert!(!activity.header_rule.load(Ordering::Relaxed));
        assert!(!activity.awaiting_bytes.load(Ordering::Relaxed));
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_the_client_never_reads_fails_after_the_timeout() {
        let (client, server) = tokio::io::duplex(16);
        let reported = Arc::new(AtomicBool::new(false));
        let flag = reported.clone();
        let mut watched =
            Watched::new(server, Activity::new(), Duration::from_secs(5), move || {
                flag.store(true, Ordering::Relaxed);
            });
        let started = Instant::now();
        let e = watched.write_all(&[0u8; 1024]).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert!(reported.load(Ordering::Relaxed));
        drop(client);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_but_steady_reader_is_not_cut() {
        let (mut client, server) = tokio::io::duplex(16);
        let mut watched = Watched::new(server, Activity::new(), Duration::from_secs(5), || {});
        let reader = tokio::spawn(async move {
            let mut got = 0;
            let mut buf = [0u8; 16];
            while got < 256 {
                tokio::time::sleep(Duration::from_secs(4)).await;
                got += client.read(&mut buf).await.unwrap();
            }
            got
        });
        watched.write_all(&[1u8; 256]).await.unwrap();
        assert_eq!(reader.await.unwrap(), 256);
    }
}
