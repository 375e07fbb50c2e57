//! The per-connection service: counts each request in flight on its
//! connection's [`Activity`] from its head to the end of its response
//! body, and gives the request body a read timeout.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::activity::{Activity, InFlight};

/// The error a request body fails with when it stops arriving.
#[derive(Debug, thiserror::Error)]
#[error("the request body stopped arriving: no data for {0:?}")]
pub struct BodyTimedOut(pub Duration);

/// A request body that fails once no data has arrived for its timeout.
pub struct TimedBody {
    inner: Incoming,
    timeout: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    waiting: bool,
    on_timeout: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl TimedBody {
    /// `inner`, failing after `timeout` without data.
    pub fn new(
        inner: Incoming,
        timeout: Duration,
        on_timeout: Option<Arc<dyn Fn() + Send + Sync>>,
    ) -> Self {
        Self {
            inner,
            timeout,
            timer: None,
            waiting: false,
            on_timeout,
        }
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.waiting = false;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let deadline = Instant::now() + this.timeout;
                if !this.waiting {
                    this.waiting = true;
                    match &mut this.timer {
                        Some(timer) => timer.as_mut().reset(deadline),
                        None => this.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
                    }
                }
                let timer = this.timer.as_mut().expect("armed above");
                if timer.as_mut().poll(cx).is_ready() {
                    if let Some(report) = this.on_timeout.take() {
                        report();
                    }
                    return Poll::Ready(Some(Err(Box::new(BodyTimedOut(this.timeout)))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that ends its request's [`InFlight`] when it is done
/// (dropped).
pub struct Ticketed<B> {
    inner: B,
    _ticket: InFlight,
}

impl<B: Body + Unpin> Body for Ticketed<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The service of one connection.
#[derive(Clone)]
pub struct Tracked<S> {
    inner: S,
    client: super::ClientInfo,
    activity: Arc<Activity>,
    body_timeout: Duration,
    on_body_timeout: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl<S> Tracked<S> {
    /// `inner` on the connection of `activity` from `client` (put in each
    /// request's extensions); request bodies fail after
    /// `body_timeout` without data (`on_body_timeout` is told).
    pub fn new(
        inner: S,
        client: super::ClientInfo,
        activity: Arc<Activity>,
        body_timeout: Duration,
        on_body_timeout: Option<Arc<dyn Fn() + Send + Sync>>,
    ) -> Self {
        Self {
            inner,
            client,
            activity,
            body_timeout,
            on_body_timeout,
        }
    }
}

impl<S, B> hyper::service::Service<http::Request<Incoming>> for Tracked<S>
where
    S: hyper::service::Service<http::Request<s3s::Body>, Response = http::Response<B>>,
    S::Future: Send + 'static,
    B: Body + Unpin + Send + 'static,
{
    type Response = http::Response<Ticketed<B>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn call(&self, req: http::Request<Incoming>) -> Self::Future {
        let ticket = self.activity.begin();
        let mut req = req;
        req.extensions_mut().insert(self.client);
        let req = req.map(|body| {
            if body.is_end_stream() {
                s3s::Body::from(body)
            } else {
                s3s::Body::http_body_unsync(TimedBody::new(
                    body,
                    self.body_timeout,
                    self.on_body_timeout.clone(),
                ))
            }
        });
        let response = self.inner.call(req);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|inner| Ticketed {
                inner,
                _ticket: ticket,
            }))
        })
    }
}
