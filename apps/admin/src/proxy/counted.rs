//! The proxy's health metrics: client connections, upstream logins and the bytes relayed,
//! counted as they pass rather than when a session ends (a session can last for days).

use std::pin::Pin;
use std::task::{Context, Poll};

use metrics::{Counter, Gauge};
use project_core::health::{PROXY_ACTIVE_CLIENTS, PROXY_BYTES, PROXY_CLIENTS};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A client's stream that counts what it reads (bytes on their way to the server) and what
/// is written to it (bytes on their way to the client), and is one active client while it
/// lives.
pub struct Counted<S> {
    inner: S,
    to_server: Counter,
    to_client: Counter,
    active: Gauge,
}

impl<S> Counted<S> {
    pub fn new(inner: S, target: &str) -> Self {
        metrics::counter!(PROXY_CLIENTS, "target" => target.to_owned()).increment(1);
        let active = metrics::gauge!(PROXY_ACTIVE_CLIENTS, "target" => target.to_owned());
        active.increment(1.0);
        Self {
            inner,
            to_server: metrics::counter!(PROXY_BYTES, "target" => target.to_owned(), "direction" => "to_server"),
            to_client: metrics::counter!(PROXY_BYTES, "target" => target.to_owned(), "direction" => "to_client"),
            active,
        }
    }
}

impl<S> Drop for Counted<S> {
    fn drop(&mut self) {
        self.active.decrement(1.0);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if polled.is_ready() {
            let read = buf.filled().len().saturating_sub(before);
            self.to_server.increment(read as u64);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = &polled {
            self.to_client.increment(*written as u64);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
