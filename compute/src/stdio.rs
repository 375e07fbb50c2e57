//! A task's stdout and stderr: memory buffers with a cap.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// What a capped buffer holds, shared between the task (writing) and the
/// runner (taking it at the end).
#[derive(Default)]
struct Held {
    bytes: Vec<u8>,
    /// Bytes offered beyond the cap.
    over: u64,
}

/// A buffer that keeps at most `cap` bytes. Past the cap it either fails
/// the write (stdout: the task asked for more than its output limit) or
/// drops the excess quietly (stderr: a chatty log must not fail a task).
#[derive(Clone)]
pub(crate) struct Capped {
    held: Arc<Mutex<Held>>,
    cap: usize,
    fail_over: bool,
}

impl Capped {
    /// A buffer for stdout: writing past `cap` is an error.
    pub(crate) fn failing(cap: u64) -> Self {
        Self::new(cap, true)
    }

    /// A buffer for stderr: bytes past `cap` are dropped.
    pub(crate) fn truncating(cap: u64) -> Self {
        Self::new(cap, false)
    }

    fn new(cap: u64, fail_over: bool) -> Self {
        Self {
            held: Arc::default(),
            cap: usize::try_from(cap).unwrap_or(usize::MAX),
            fail_over,
        }
    }

    /// Keeps `buf`, or as much as fits; `false` when some did not fit.
    fn push(&self, buf: &[u8]) -> bool {
        let mut held = self.held.lock().expect("not poisoned");
        let room = self.cap - held.bytes.len();
        if buf.len() > room {
            held.over += (buf.len() - room) as u64;
            if !self.fail_over {
                held.bytes.extend_from_slice(&buf[..room]);
            }
            return false;
        }
        held.bytes.extend_from_slice(buf);
        true
    }

    /// The bytes kept, and whether more were offered.
    pub(crate) fn take(&self) -> (Vec<u8>, bool) {
        let mut held = self.held.lock().expect("not poisoned");
        (std::mem::take(&mut held.bytes), held.over > 0)
    }
}

impl AsyncWrite for Capped {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if !self.push(buf) && self.fail_over {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "output limit reached",
            )));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for Capped {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capped {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

/// The stream WASI writes through. Past the cap of a failing buffer the
/// task traps at once: a module that ignores write errors and keeps
/// writing would otherwise spin until its fuel or time runs out.
impl OutputStream for Capped {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        if !self.push(&bytes) && self.fail_over {
            return Err(StreamError::trap("output limit reached"));
        }
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capped {
    async fn ready(&mut self) {}
}
