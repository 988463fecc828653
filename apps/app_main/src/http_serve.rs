//! Serving an axum router with the two limits `axum::serve` leaves out.
//!
//! Design decision: hyper's HTTP/1 connection driven here, with a timer, instead of
//! `axum::serve`. That one sets no timer, so hyper's header-read timeout never runs: a client
//! that opens a connection and sends half a request line (or nothing, or keeps an idle
//! keep-alive connection) holds it, and a file descriptor, for ever, and a few thousand such
//! clients take the descriptors that `dbcore proxy` beside the metrics endpoint needs for its
//! own clients. Here every request's head must arrive within a deadline (which also closes
//! idle keep-alive connections), and open connections are capped: beyond the cap a new one is
//! closed at once, as pgbouncer does beyond `max_client_conn`, so what a stalled client can
//! hold is bounded even while it reads a response slowly.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How much one HTTP server lets its clients hold.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// From the start of a request (or of the wait for the next one on a kept-alive
    /// connection) until its whole head has arrived.
    pub header_read_timeout: Duration,
    /// Connections open at once; more are closed as they arrive.
    pub max_connections: usize,
}

/// Serves `router` on `listener` until the process ends. Accept errors (out of file
/// descriptors, a connection reset before it was accepted) are logged and waited out, never
/// the end of the server.
pub async fn serve_http(listener: TcpListener, router: Router, limits: HttpLimits) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let mut refused_since_logged = 0u64;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "accepting an HTTP connection failed");
                // EMFILE stays until a connection ends: do not spin on it.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            drop(stream);
            // One line per hundred refusals: a flood must not become a flood of log lines.
            if refused_since_logged.is_multiple_of(100) {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    "closing a new HTTP connection: the connection limit is reached"
                );
            }
            refused_since_logged = refused_since_logged.wrapping_add(1);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!(%error, "an HTTP connection ended with an error");
            }
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// A server for one test, on a port of its own.
    async fn start(limits: HttpLimits) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route("/", get(|| async { "ok" }));
        tokio::spawn(serve_http(listener, router, limits));
        addr
    }

    /// What the server sends before it closes the connection, or `None` when it is still
    /// open after `wait` (long enough that only a missing limit explains it).
    async fn until_closed(stream: &mut TcpStream, wait: Duration) -> Option<String> {
        let mut received = Vec::new();
        let read = tokio::time::timeout(wait, stream.read_to_end(&mut received)).await;
        match read {
            Ok(_) => Some(String::from_utf8_lossy(&received).into_owned()),
            Err(_) => None,
        }
    }

    async fn get_root(addr: std::net::SocketAddr) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        until_closed(&mut stream, Duration::from_secs(10))
            .await
            .expect("a whole request is answered")
    }

    #[tokio::test]
    async fn a_half_sent_request_and_an_idle_connection_are_closed_at_the_deadline() {
        let addr = start(HttpLimits {
            header_read_timeout: Duration::from_millis(200),
            max_connections: 8,
        })
        .await;
        let mut half = TcpStream::connect(addr).await.unwrap();
        half.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
        let mut silent = TcpStream::connect(addr).await.unwrap();
        for stream in [&mut half, &mut silent] {
            assert!(
                until_closed(stream, Duration::from_secs(10))
                    .await
                    .is_some(),
                "a client that sends no whole request head is not kept"
            );
        }
        // A kept-alive connection that asks nothing more is closed too.
        let mut kept = TcpStream::connect(addr).await.unwrap();
        kept.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let answered = until_closed(&mut kept, Duration::from_secs(10))
            .await
            .expect("closed after the deadline");
        assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
        assert!(
            get_root(addr).await.ends_with("ok"),
            "the server still serves"
        );
    }

    #[tokio::test]
    async fn beyond_the_connection_limit_a_new_connection_is_closed_until_one_ends() {
        let addr = start(HttpLimits {
            header_read_timeout: Duration::from_secs(60),
            max_connections: 2,
        })
        .await;
        let first = TcpStream::connect(addr).await.unwrap();
        let mut second = TcpStream::connect(addr).await.unwrap();
        // The server has taken both once it answers on the second.
        second
            .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let mut head = [0u8; 12];
        second.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
        let mut third = TcpStream::connect(addr).await.unwrap();
        assert_eq!(
            until_closed(&mut third, Duration::from_secs(10)).await,
            Some(String::new()),
            "closed at once, unanswered"
        );
        drop(first);
        // The freed place is taken by the next connection (the server sees the close when
        // it next reads, so allow it a moment).
        let mut answered = String::new();
        for _ in 0..50 {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let _ = stream
                .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .await;
            answered = until_closed(&mut stream, Duration::from_secs(10))
                .await
                .unwrap_or_default();
            if !answered.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(answered.starts_with("HTTP/1.1 200"), "{answered:?}");
    }
}
