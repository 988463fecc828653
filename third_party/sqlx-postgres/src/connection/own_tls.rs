//! TLS with a rustls `ClientConfig` the application built (dbcore's PATCH.md item 6): the exact
//! trust libpq has — only the CAs of `sslrootcert`, a CRL, a verify-ca that skips the name —
//! which sqlx-core's TLS cannot express (it adds the webpki roots to a CA file and has no CRL).
//!
//! rustls is a sans-I/O state machine; this drives it over a sqlx `Socket` with that trait's
//! non-blocking reads and writes, waiting for readiness whenever rustls would block.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};
use sqlx_core::io::ReadBuf;
use sqlx_core::net::Socket;

use crate::error::Error;

/// A socket as `std::io` wants it: a read or write that would block is `WouldBlock`, and
/// which direction was waiting is remembered for the readiness poll.
struct Blocking<S> {
    socket: S,
    wants_read: bool,
    wants_write: bool,
}

impl<S: Socket> Blocking<S> {
    /// Ready when a direction that blocked may go on (either one, so neither waits on the
    /// other), or at once when nothing blocked.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut ready = !self.wants_read && !self.wants_write;
        if self.wants_write && self.socket.poll_write_ready(cx)?.is_ready() {
            self.wants_write = false;
            ready = true;
        }
        if self.wants_read && self.socket.poll_read_ready(cx)?.is_ready() {
            self.wants_read = false;
            ready = true;
        }
        if ready {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }
}

impl<S: Socket> Read for Blocking<S> {
    fn read(&mut self, mut buf: &mut [u8]) -> io::Result<usize> {
        self.wants_read = true;
        let n = self.socket.try_read(&mut buf)?;
        self.wants_read = false;
        Ok(n)
    }
}

impl<S: Socket> Write for Blocking<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.wants_write = true;
        let n = self.socket.try_write(buf)?;
        self.wants_write = false;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A TLS connection over a socket, itself a socket for the rest of the driver.
pub(crate) struct OwnTlsSocket<S: Socket> {
    io: Blocking<S>,
    tls: ClientConnection,
    closing: bool,
}

impl<S: Socket> OwnTlsSocket<S> {
    /// Moves records until rustls has nothing to send and enough to read, waiting for the
    /// socket whenever it would block.
    fn poll_io(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match self.tls.complete_io(&mut self.io) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready!(self.io.poll_ready(cx))?,
                done => return Poll::Ready(done.map(|_| ())),
            }
        }
    }
}

impl<S: Socket> Socket for OwnTlsSocket<S> {
    fn try_read(&mut self, buf: &mut dyn ReadBuf) -> io::Result<usize> {
        self.tls.reader().read(buf.init_mut())
    }

    fn try_write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.tls.writer().write(buf) {
            // rustls takes nothing when its buffer is full: try again once records moved.
            Ok(0) if !buf.is_empty() => Err(io::ErrorKind::WouldBlock.into()),
            other => other,
        }
    }

    fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_io(cx)
    }

    fn poll_write_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_io(cx)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_io(cx)
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.closing {
            self.tls.send_close_notify();
            self.closing = true;
        }
        ready!(self.poll_io(cx))?;
        // The server may close as soon as it has the close_notify; its own is not awaited.
        let _ = ready!(self.io.socket.poll_shutdown(cx));
        Poll::Ready(Ok(()))
    }
}

/// The handshake with `config`, naming the server `host` (an IP address or a DNS name; what
/// the name must match is the config's verifier's business).
pub(crate) async fn handshake<S: Socket>(
    socket: S,
    config: Arc<ClientConfig>,
    host: &str,
) -> Result<OwnTlsSocket<S>, Error> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| Error::Tls(format!("`{host}` cannot be a TLS server name: {e}").into()))?;
    let tls = ClientConnection::new(config, name).map_err(|e| Error::Tls(Box::new(e)))?;
    let mut socket = OwnTlsSocket {
        io: Blocking {
            socket,
            wants_read: false,
            wants_write: false,
        },
        tls,
        closing: false,
    };
    // The handshake is done when rustls has nothing more to say before application data.
    // A refused certificate comes back as an I/O error around rustls's own error.
    while socket.tls.is_handshaking() {
        std::future::poll_fn(|cx| socket.poll_io(cx))
            .await
            .map_err(Error::Io)?;
    }
    Ok(socket)
}
