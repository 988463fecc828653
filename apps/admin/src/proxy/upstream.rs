//! The proxy's connection to the server: connect where the target is, log in with the
//! credential current at that moment (SCRAM-SHA-256, MD5 or cleartext, whichever the server
//! asks for), and keep what the server said up to its first ReadyForQuery.

use bytes::{Bytes, BytesMut};
use domain::{ExposeSecret, SecretString, TargetIdentity};
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{ChannelBinding, SCRAM_SHA_256, ScramSha256};
use postgres_protocol::message::frontend;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::wire::{self, Frame, WireError};

/// A byte stream to the server, over TCP or a Unix socket.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Connects to the target: a host, or a socket directory (`/…/.s.PGSQL.<port>`).
pub async fn connect(identity: &TargetIdentity) -> std::io::Result<Box<dyn Stream>> {
    let port = identity.port.unwrap_or(5432);
    match identity.host.as_deref() {
        Some(dir) if dir.starts_with('/') => {
            let path = std::path::Path::new(dir).join(format!(".s.PGSQL.{port}"));
            Ok(Box::new(tokio::net::UnixStream::connect(path).await?))
        }
        host => {
            let stream =
                tokio::net::TcpStream::connect((host.unwrap_or("localhost"), port)).await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(stream))
        }
    }
}

/// A logged-in server connection.
pub struct Login {
    /// NegotiateProtocolVersion, which comes before AuthenticationOk.
    pub before_ok: Vec<Bytes>,
    /// The server's process id and secret key, for cancel requests.
    pub key: Option<(i32, i32)>,
    /// ParameterStatus and NoticeResponse frames, in order, to pass on.
    pub said: Vec<Bytes>,
    /// The closing ReadyForQuery.
    pub ready: Bytes,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The server ended the login with this ErrorResponse (passed on to the client).
    #[error("the server refused the login: {}", wire::error_message(&.0.body))]
    Refused(Frame),
    #[error("{0}")]
    Unsupported(String),
}

/// Where a SCRAM exchange with the server stands.
#[derive(Default)]
struct Exchange {
    scram: Option<ScramSha256>,
    /// The server proved it knows the password (SASL final verified), or none was asked for.
    verified: bool,
}

/// Logs in as `user` with `password`, sending `parameters` (database included).
/// `over_socket`: the server is a local Unix socket (a cleartext password is sent only there).
pub async fn login(
    server: &mut dyn Stream,
    user: &str,
    password: Option<&SecretString>,
    parameters: &[(String, String)],
    over_socket: bool,
) -> Result<Login, LoginError> {
    let mut out = BytesMut::new();
    let all = std::iter::once(("user", user))
        .chain(parameters.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    frontend::startup_message(all, &mut out).map_err(WireError::Io)?;
    server.write_all(&out).await.map_err(WireError::Io)?;
    let mut exchange = Exchange::default();
    let mut key = None;
    let mut said = Vec::new();
    let mut before_ok = Vec::new();
    loop {
        let frame = wire::read_frame(server).await?;
        match frame.tag {
            b'R' => {
                let reply = authenticate(&frame.body, user, password, over_socket, &mut exchange)?;
                if let Some(reply) = reply {
                    server.write_all(&reply).await.map_err(WireError::Io)?;
                }
            }
            b'v' => before_ok.push(frame.encode()),
            b'E' => return Err(LoginError::Refused(frame)),
            b'K' if frame.body.len() == 8 => {
                let b = &frame.body;
                key = Some((
                    i32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                    i32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                ));
            }
            b'Z' => {
                return Ok(Login {
                    before_ok,
                    key,
                    said,
                    ready: frame.encode(),
                });
            }
            _ => said.push(frame.encode()),
        }
    }
}

/// The answer to one Authentication message, if it wants one.
fn authenticate(
    body: &[u8],
    user: &str,
    password: Option<&SecretString>,
    over_socket: bool,
    exchange: &mut Exchange,
) -> Result<Option<BytesMut>, LoginError> {
    let protocol = |what: &str| LoginError::Wire(WireError::Protocol(what.to_owned()));
    let kind = body
        .get(..4)
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| protocol("a short authentication message"))?;
    let data = &body[4..];
    let need_password = || {
        password
            .map(|p| p.expose_secret().as_bytes())
            .ok_or_else(|| {
                LoginError::Unsupported(
                    "the server asks for a password and the target's chain supplied none".into(),
                )
            })
    };
    let mut out = BytesMut::new();
    let io = |e: std::io::Error| LoginError::Wire(WireError::Io(e));
    match kind {
        // A SCRAM exchange that began must end with the server's proof: an "ok" before it is a
        // server (or someone between) that never knew the password.
        0 if exchange.scram.is_some() && !exchange.verified => {
            return Err(LoginError::Unsupported(
                "the server ended SCRAM without proving it knows the password".into(),
            ));
        }
        0 => return Ok(None),
        3 if !over_socket => {
            return Err(LoginError::Unsupported(
                "the server asks for the password in cleartext over TCP without TLS; the proxy sends it so only over a Unix socket".into(),
            ));
        }
        3 => frontend::password_message(need_password()?, &mut out).map_err(io)?,
        5 => {
            let salt: [u8; 4] = data
                .try_into()
                .map_err(|_| protocol("an MD5 request without a 4-byte salt"))?;
            let hash = md5_hash(user.as_bytes(), need_password()?, salt);
            frontend::password_message(hash.as_bytes(), &mut out).map_err(io)?;
        }
        10 => {
            let offered = data
                .split(|b| *b == 0)
                .any(|m| m == SCRAM_SHA_256.as_bytes());
            if !offered {
                return Err(LoginError::Unsupported(
                    "the server offers no SASL mechanism the proxy speaks (SCRAM-SHA-256)".into(),
                ));
            }
            let client = ScramSha256::new(need_password()?, ChannelBinding::unsupported());
            frontend::sasl_initial_response(SCRAM_SHA_256, client.message(), &mut out)
                .map_err(io)?;
            exchange.scram = Some(client);
        }
        11 => {
            let client = exchange
                .scram
                .as_mut()
                .ok_or_else(|| protocol("a SASL continuation before SASL began"))?;
            client
                .update(data)
                .map_err(|e| LoginError::Unsupported(format!("SCRAM: {e}")))?;
            frontend::sasl_response(client.message(), &mut out).map_err(io)?;
        }
        12 => {
            let client = exchange
                .scram
                .as_mut()
                .ok_or_else(|| protocol("a SASL final message before SASL began"))?;
            client.finish(data).map_err(|e| {
                LoginError::Unsupported(format!("SCRAM: the server's proof does not verify ({e})"))
            })?;
            exchange.verified = true;
            return Ok(None);
        }
        other => {
            return Err(LoginError::Unsupported(format!(
                "the server asks for authentication method {other}, which the proxy does not speak"
            )));
        }
    }
    Ok(Some(out))
}

/// Sends a cancel request for the server process `key` over a new connection.
pub async fn cancel(
    identity: &TargetIdentity,
    (process_id, secret_key): (i32, i32),
) -> std::io::Result<()> {
    let mut server = connect(identity).await?;
    let mut out = BytesMut::new();
    frontend::cancel_request(process_id, secret_key, &mut out);
    server.write_all(&out).await?;
    server.flush().await?;
    // The server closes the connection when it has read the request.
    let mut rest = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut server, &mut rest).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: i32, data: &[u8]) -> Vec<u8> {
        let mut body = kind.to_be_bytes().to_vec();
        body.extend(data);
        body
    }

    #[test]
    fn an_ok_in_the_middle_of_scram_is_refused() {
        let password = SecretString::from("pw");
        let mut exchange = Exchange::default();
        let started = authenticate(
            &message(10, b"SCRAM-SHA-256\0\0"),
            "u",
            Some(&password),
            false,
            &mut exchange,
        );
        assert!(started.unwrap().is_some(), "the initial response");
        let ok = authenticate(&message(0, b""), "u", Some(&password), false, &mut exchange);
        assert!(matches!(ok, Err(LoginError::Unsupported(m)) if m.contains("without proving")));
    }

    #[test]
    fn a_cleartext_password_goes_over_a_socket_only() {
        let password = SecretString::from("canary-clear");
        let mut exchange = Exchange::default();
        let tcp = authenticate(&message(3, b""), "u", Some(&password), false, &mut exchange);
        assert!(
            matches!(tcp, Err(LoginError::Unsupported(m)) if m.contains("cleartext") && !m.contains("canary"))
        );
        let socket = authenticate(&message(3, b""), "u", Some(&password), true, &mut exchange);
        assert!(socket.unwrap().is_some());
        assert!(
            authenticate(&message(0, b""), "u", None, true, &mut Exchange::default())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_password_asked_for_and_none_given_is_said() {
        let refused = authenticate(
            &message(5, b"salt"),
            "u",
            None,
            false,
            &mut Exchange::default(),
        );
        assert!(matches!(refused, Err(LoginError::Unsupported(m)) if m.contains("supplied none")));
        let short = authenticate(
            &message(5, b"sal"),
            "u",
            Some(&SecretString::from("p")),
            false,
            &mut Exchange::default(),
        );
        assert!(short.is_err());
        assert!(authenticate(b"ab", "u", None, false, &mut Exchange::default()).is_err());
        assert!(
            authenticate(&message(7, b""), "u", None, false, &mut Exchange::default()).is_err(),
            "GSSAPI"
        );
    }
}
