//! The few pieces of the PostgreSQL wire protocol the proxy reads and writes itself: a
//! client's first packet (startup, SSL/GSS request, cancel request), whole backend frames
//! during the upstream login, and the three messages it sends a client of its own
//! (AuthenticationOk, BackendKeyData, ErrorResponse). Frames toward the server are built by
//! `postgres-protocol`; after the login, bytes are relayed untouched.

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const PROTOCOL_3_0: i32 = 196_608;
const SSL_REQUEST: i32 = 80_877_103;
const GSSENC_REQUEST: i32 = 80_877_104;
const CANCEL_REQUEST: i32 = 80_877_102;
/// A startup packet is a few hundred bytes; PostgreSQL itself refuses more than 10 000.
const MAX_STARTUP: usize = 10_000;
/// The largest backend frame read during a login (an error, a SASL challenge).
const MAX_LOGIN_FRAME: usize = 1 << 20;
/// The largest message a client may send before it has proven its password (a SASL message is
/// a few hundred bytes; PostgreSQL allows 65 535 before authentication).
const MAX_UNAUTHENTICATED: usize = 65_535;

/// Reads a length (which counts its own 4 bytes) and then the rest; a length outside
/// `min..=max` is refused before anything is read or allocated. `what` names it in the error.
async fn read_sized<S: AsyncRead + Unpin + ?Sized>(
    stream: &mut S,
    min: usize,
    max: usize,
    what: &str,
) -> Result<Vec<u8>, WireError> {
    let length = stream.read_i32().await?;
    let length = usize::try_from(length)
        .ok()
        .filter(|l| (min..=max).contains(l))
        .ok_or_else(|| WireError::Protocol(format!("{what} of {length} bytes")))?;
    let mut body = vec![0; length - 4];
    stream.read_exact(&mut body).await?;
    Ok(body)
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("protocol violation: {0}")]
    Protocol(String),
}

/// What a client's first packet asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Hello {
    Startup(Vec<(String, String)>),
    Cancel { process_id: i32, secret_key: i32 },
}

/// Reads the client's first packet, refusing SSL and GSS encryption requests ('N': the
/// socket is local and private) as a server that offers neither does.
pub async fn read_hello<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut S,
) -> Result<Hello, WireError> {
    loop {
        let body = read_sized(client, 8, MAX_STARTUP, "a startup packet").await?;
        let code = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        let rest = &body[4..];
        match code {
            SSL_REQUEST | GSSENC_REQUEST => client.write_all(b"N").await?,
            CANCEL_REQUEST if rest.len() == 8 => {
                return Ok(Hello::Cancel {
                    process_id: i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]),
                    secret_key: i32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]),
                });
            }
            PROTOCOL_3_0 => return parse_parameters(rest).map(Hello::Startup),
            other => {
                return Err(WireError::Protocol(format!(
                    "unsupported protocol {}.{}",
                    other >> 16,
                    other & 0xffff
                )));
            }
        }
    }
}

/// `name\0value\0 … \0`: the startup parameters, in order.
fn parse_parameters(body: &[u8]) -> Result<Vec<(String, String)>, WireError> {
    let bad = || WireError::Protocol("a malformed startup packet".into());
    let mut rest = body;
    let mut next = || -> Result<String, WireError> {
        let end = rest.iter().position(|b| *b == 0).ok_or_else(bad)?;
        let field = String::from_utf8(rest[..end].to_vec()).map_err(|_| bad())?;
        rest = &rest[end + 1..];
        Ok(field)
    };
    let mut parameters = Vec::new();
    loop {
        let name = next()?;
        if name.is_empty() {
            break;
        }
        let value = next()?;
        parameters.push((name, value));
    }
    if rest.is_empty() {
        Ok(parameters)
    } else {
        Err(bad())
    }
}

/// One backend frame: its tag and body.
#[derive(Debug)]
pub struct Frame {
    pub tag: u8,
    pub body: Bytes,
}

impl Frame {
    /// The frame as it was on the wire, to pass on.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.body.len() + 5);
        out.put_u8(self.tag);
        out.put_i32(i32::try_from(self.body.len() + 4).unwrap_or(i32::MAX));
        out.put_slice(&self.body);
        out.freeze()
    }
}

/// Reads one whole backend frame during the login.
pub async fn read_frame<S: AsyncRead + Unpin + ?Sized>(server: &mut S) -> Result<Frame, WireError> {
    let tag = server.read_u8().await?;
    let body = read_sized(server, 4, MAX_LOGIN_FRAME, "a server frame").await?;
    Ok(Frame {
        tag,
        body: body.into(),
    })
}

/// The body of a frontend message whose tag was read, before the client has proven its
/// password: its length, then that many bytes.
pub async fn read_body<S: AsyncRead + Unpin + ?Sized>(
    client: &mut S,
) -> Result<Vec<u8>, WireError> {
    read_sized(client, 4, MAX_UNAUTHENTICATED, "a client message").await
}

pub fn authentication_ok() -> Bytes {
    let mut out = BytesMut::with_capacity(9);
    out.put_u8(b'R');
    out.put_i32(8);
    out.put_i32(0);
    out.freeze()
}

pub fn backend_key_data(process_id: i32, secret_key: i32) -> Bytes {
    let mut out = BytesMut::with_capacity(13);
    out.put_u8(b'K');
    out.put_i32(12);
    out.put_i32(process_id);
    out.put_i32(secret_key);
    out.freeze()
}

/// A FATAL ErrorResponse with SQLSTATE `code`, which the client shows as the server's.
pub fn fatal(code: &str, message: &str) -> Bytes {
    let mut fields = BytesMut::new();
    for (kind, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', code),
        (b'M', message),
    ] {
        fields.put_u8(kind);
        fields.put_slice(value.replace('\0', " ").as_bytes());
        fields.put_u8(0);
    }
    fields.put_u8(0);
    Frame {
        tag: b'E',
        body: fields.freeze(),
    }
    .encode()
}

/// The `M` (message) field of an ErrorResponse body, for logs.
pub fn error_message(body: &[u8]) -> String {
    body.split(|b| *b == 0)
        .find_map(|field| field.strip_prefix(b"M"))
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
