//! The proxy's connection to the server: connect where the target is, log in with the
//! credential current at that moment (SCRAM-SHA-256, MD5 or cleartext, whichever the server
//! asks for), and keep what the server said up to its first ReadyForQuery.

use bytes::{Bytes, BytesMut};
use domain::{ExposeSecret, SecretString, TargetIdentity};
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{
    ChannelBinding, SCRAM_SHA_256, SCRAM_SHA_256_PLUS, ScramSha256,
};
use postgres_protocol::message::frontend;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::tls::{ConnectError, Plan, TlsPolicy};
use super::wire::{self, Frame, WireError};

/// A byte stream to the server, over TCP, TLS or a Unix socket.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// How the bytes travel, which decides what may be sent over them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A local Unix socket.
    Socket,
    /// TCP in the clear.
    Tcp,
    /// TLS; `end_point` is the certificate hash for SCRAM channel binding, when it has one;
    /// `verified` when the certificate was checked against the target's CA.
    Tls {
        end_point: Option<Vec<u8>>,
        verified: bool,
    },
}

/// A connection to the server, before the login.
pub struct Link {
    pub stream: Box<dyn Stream>,
    pub transport: Transport,
}

/// Connects to the target (a host, or a socket directory `/…/.s.PGSQL.<port>`), asking for
/// TLS when `tls` and the policy's mode allow it.
async fn connect(
    identity: &TargetIdentity,
    policy: &TlsPolicy,
    tls: bool,
) -> Result<Link, ConnectError> {
    let port = identity.port.unwrap_or(5432);
    let host = identity.host.as_deref();
    if let Some(dir) = host.filter(|h| h.starts_with('/')) {
        let path = std::path::Path::new(dir).join(format!(".s.PGSQL.{port}"));
        let stream = tokio::net::UnixStream::connect(path).await?;
        return Ok(Link {
            stream: Box::new(stream),
            transport: Transport::Socket,
        });
    }
    let stream = tokio::net::TcpStream::connect((host.unwrap_or("localhost"), port)).await?;
    stream.set_nodelay(true)?;
    if !tls {
        return Ok(Link {
            stream: Box::new(stream),
            transport: Transport::Tcp,
        });
    }
    Ok(match policy.negotiate(stream).await? {
        Ok(encrypted) => Link {
            stream: Box::new(encrypted.stream),
            transport: Transport::Tls {
                end_point: encrypted.end_point,
                verified: encrypted.verified,
            },
        },
        Err(clear) => Link {
            stream: Box::new(clear),
            transport: Transport::Tcp,
        },
    })
}

/// Connects and logs in as the target's sslmode says: `allow` tries TLS after a refusal in
/// the clear, `prefer` the clear after a failed handshake (libpq's two fallbacks).
pub async fn open(
    identity: &TargetIdentity,
    policy: &TlsPolicy,
    user: &str,
    password: Option<&SecretString>,
    parameters: &[(String, String)],
) -> Result<(Box<dyn Stream>, Login), LoginError> {
    let attempt = async |tls: bool| {
        let mut link = connect(identity, policy, tls).await?;
        let login = login(&mut link, user, password, parameters).await?;
        Ok::<_, LoginError>((link.stream, login))
    };
    match policy.plan() {
        Plan::Plain => attempt(false).await,
        Plan::TlsOnly => attempt(true).await,
        Plan::PlainThenTls => match attempt(false).await {
            // libpq's allow: a refusal in the clear is tried again over TLS (when the server
            // says N to that, the second attempt is in the clear again, as libpq's is).
            Err(LoginError::Refused(frame)) => match attempt(true).await {
                Err(LoginError::Connect(ConnectError::TlsRefused(_))) => {
                    Err(LoginError::Refused(frame))
                }
                other => other,
            },
            other => other,
        },
        Plan::TlsIfOffered => match attempt(true).await {
            Err(LoginError::Connect(error)) if error.is_handshake() => {
                tracing::warn!(%error, "trying again without TLS (sslmode prefer)");
                attempt(false).await
            }
            other => other,
        },
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
    Connect(#[from] ConnectError),
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
async fn login(
    link: &mut Link,
    user: &str,
    password: Option<&SecretString>,
    parameters: &[(String, String)],
) -> Result<Login, LoginError> {
    let server = link.stream.as_mut();
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
                let reply =
                    authenticate(&frame.body, user, password, &link.transport, &mut exchange)?;
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
    transport: &Transport,
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
        // Only to a peer known to be the server: a local socket, or TLS with a checked
        // certificate. Anyone between can ask for it otherwise, over TLS as well.
        3 if !matches!(
            transport,
            Transport::Socket | Transport::Tls { verified: true, .. }
        ) =>
        {
            return Err(LoginError::Unsupported(
                "the server asks for the password in cleartext; the proxy sends it only over a Unix socket or over TLS with sslmode verify-ca or verify-full".into(),
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
            let (mechanism, binding) = scram_mechanism(data, transport)?;
            tracing::debug!(mechanism, "SASL login to the server");
            let client = ScramSha256::new(need_password()?, binding);
            frontend::sasl_initial_response(mechanism, client.message(), &mut out).map_err(io)?;
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

/// The SASL mechanism and channel binding for the mechanisms the server offers (`data`):
/// SCRAM-SHA-256-PLUS whenever TLS gives a certificate hash; else SCRAM-SHA-256, saying
/// whether we could have bound ("y": a server that offered PLUS and sees "y" knows someone
/// between removed it).
fn scram_mechanism(
    data: &[u8],
    transport: &Transport,
) -> Result<(&'static str, ChannelBinding), LoginError> {
    let offers = |name: &str| data.split(|b| *b == 0).any(|m| m == name.as_bytes());
    let refuse = |why: &str| Err(LoginError::Unsupported(why.to_owned()));
    match transport {
        Transport::Tls {
            end_point: Some(hash),
            ..
        } if offers(SCRAM_SHA_256_PLUS) => Ok((
            SCRAM_SHA_256_PLUS,
            ChannelBinding::tls_server_end_point(hash.clone()),
        )),
        // Logging in unbound where the server wants binding is what someone between, showing
        // a certificate of a kind we cannot hash, would want (libpq refuses too).
        Transport::Tls {
            end_point: None, ..
        } if offers(SCRAM_SHA_256_PLUS) => refuse(
            "the server offers SCRAM-SHA-256-PLUS but its certificate's signature algorithm has no channel-binding hash the proxy computes (Ed25519, RSA-PSS); refusing to log in unbound",
        ),
        Transport::Tcp | Transport::Socket if offers(SCRAM_SHA_256_PLUS) => {
            refuse("the server offers SCRAM-SHA-256-PLUS over a connection without TLS")
        }
        _ if !offers(SCRAM_SHA_256) => Err(LoginError::Unsupported(
            "the server offers no SASL mechanism the proxy speaks (SCRAM-SHA-256)".into(),
        )),
        Transport::Tls {
            end_point: Some(_), ..
        } => Ok((SCRAM_SHA_256, ChannelBinding::unrequested())),
        _ => Ok((SCRAM_SHA_256, ChannelBinding::unsupported())),
    }
}

/// Sends a cancel request for the server process `key` over a new connection, encrypted
/// as a login would be (the key is what lets anyone cancel the query).
pub async fn cancel(
    identity: &TargetIdentity,
    policy: &TlsPolicy,
    (process_id, secret_key): (i32, i32),
) -> Result<(), ConnectError> {
    let mut link = match policy.plan() {
        Plan::Plain | Plan::PlainThenTls => connect(identity, policy, false).await?,
        Plan::TlsOnly => connect(identity, policy, true).await?,
        Plan::TlsIfOffered => match connect(identity, policy, true).await {
            Err(error) if error.is_handshake() => connect(identity, policy, false).await?,
            other => other?,
        },
    };
    let mut out = BytesMut::new();
    frontend::cancel_request(process_id, secret_key, &mut out);
    link.stream.write_all(&out).await?;
    link.stream.flush().await?;
    // The server closes the connection when it has read the request.
    let mut rest = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut link.stream, &mut rest).await;
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
            &Transport::Tcp,
            &mut exchange,
        );
        assert!(started.unwrap().is_some(), "the initial response");
        let ok = authenticate(
            &message(0, b""),
            "u",
            Some(&password),
            &Transport::Tcp,
            &mut exchange,
        );
        assert!(matches!(ok, Err(LoginError::Unsupported(m)) if m.contains("without proving")));
    }

    #[test]
    fn a_cleartext_password_goes_over_a_socket_only() {
        let password = SecretString::from("canary-clear");
        let mut exchange = Exchange::default();
        let tcp = authenticate(
            &message(3, b""),
            "u",
            Some(&password),
            &Transport::Tcp,
            &mut exchange,
        );
        assert!(
            matches!(tcp, Err(LoginError::Unsupported(m)) if m.contains("cleartext") && !m.contains("canary"))
        );
        let socket = authenticate(
            &message(3, b""),
            "u",
            Some(&password),
            &Transport::Socket,
            &mut exchange,
        );
        assert!(socket.unwrap().is_some());
        for verified in [false, true] {
            let tls = Transport::Tls {
                end_point: None,
                verified,
            };
            let answer = authenticate(&message(3, b""), "u", Some(&password), &tls, &mut exchange);
            assert_eq!(
                answer.is_ok(),
                verified,
                "over TLS only to a checked certificate: anyone between could ask otherwise"
            );
        }
        assert!(
            authenticate(
                &message(0, b""),
                "u",
                None,
                &Transport::Socket,
                &mut Exchange::default()
            )
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
            &Transport::Tcp,
            &mut Exchange::default(),
        );
        assert!(matches!(refused, Err(LoginError::Unsupported(m)) if m.contains("supplied none")));
        let short = authenticate(
            &message(5, b"sal"),
            "u",
            Some(&SecretString::from("p")),
            &Transport::Tcp,
            &mut Exchange::default(),
        );
        assert!(short.is_err());
        assert!(authenticate(b"ab", "u", None, &Transport::Tcp, &mut Exchange::default()).is_err());
        assert!(
            authenticate(
                &message(7, b""),
                "u",
                None,
                &Transport::Tcp,
                &mut Exchange::default()
            )
            .is_err(),
            "GSSAPI"
        );
    }

    #[test]
    fn scram_binds_to_the_certificate_whenever_tls_gives_a_hash() {
        let hash = Transport::Tls {
            end_point: Some(vec![7; 32]),
            verified: false,
        };
        let no_hash = Transport::Tls {
            end_point: None,
            verified: false,
        };
        let both = b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0";
        let plain_only = b"SCRAM-SHA-256\0\0";
        let gs2 = |data: &[u8], transport: &Transport| {
            let (mechanism, binding) = scram_mechanism(data, transport).unwrap();
            let scram = ScramSha256::new(b"pw", binding);
            let first = String::from_utf8(scram.message().to_vec()).unwrap();
            (mechanism, first.split(',').next().unwrap().to_owned())
        };
        assert_eq!(
            gs2(both, &hash),
            (SCRAM_SHA_256_PLUS, "p=tls-server-end-point".to_owned())
        );
        assert_eq!(gs2(plain_only, &hash), (SCRAM_SHA_256, "y".to_owned()));
        assert_eq!(gs2(plain_only, &no_hash), (SCRAM_SHA_256, "n".to_owned()));
        assert_eq!(
            gs2(plain_only, &Transport::Tcp),
            (SCRAM_SHA_256, "n".to_owned())
        );
        // No silent downgrade: PLUS offered and no binding possible is a refused login.
        assert!(
            scram_mechanism(both, &no_hash).is_err(),
            "an unhashable certificate"
        );
        assert!(
            scram_mechanism(both, &Transport::Tcp).is_err(),
            "PLUS without TLS"
        );
        assert!(scram_mechanism(both, &Transport::Socket).is_err());
        assert!(scram_mechanism(b"SCRAM-SHA-256-PLUS\0\0", &Transport::Tcp).is_err());
        assert!(scram_mechanism(b"SCRAM-SHA-1\0\0", &hash).is_err());
    }
}
