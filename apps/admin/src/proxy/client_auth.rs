//! SCRAM-SHA-256 for clients of the proxy's TCP listener (RFC 5802 / 7677, as PostgreSQL
//! speaks it: no channel binding on a plain loopback connection, the user name in the client's
//! first message ignored).
//!
//! The verifier is PostgreSQL's own (`postgres_protocol::password::scram_sha_256`, SASLprep
//! included): this file only runs the exchange — nonces, the AuthMessage, the proof check —
//! on the HMAC and SHA-256 of the RustCrypto crates. The client's password is never kept, only
//! the stored and server keys derived from it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::{BufMut, BytesMut};
use hmac::{Hmac, KeyInit as _, Mac as _};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::wire::{self, WireError};

/// What the proxy checks a client against: PostgreSQL's SCRAM verifier of the client
/// password.
pub struct Verifier {
    salt: Vec<u8>,
    iterations: u32,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("the client's SCRAM exchange is malformed: {0}")]
    Malformed(&'static str),
    #[error("password authentication failed")]
    WrongPassword,
}

impl Verifier {
    pub fn new(password: &SecretString) -> Self {
        let text = postgres_protocol::password::scram_sha_256(password.expose_secret().as_bytes());
        Self::parse(&text)
            .unwrap_or_else(|| unreachable!("postgres-protocol writes its own format"))
    }

    /// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
    fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix("SCRAM-SHA-256$")?;
        let (params, keys) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        Some(Self {
            salt: BASE64.decode(salt).ok()?,
            iterations: iterations.parse().ok()?,
            stored_key: BASE64.decode(stored).ok()?,
            server_key: BASE64.decode(server).ok()?,
        })
    }
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// Runs the exchange with a client that has sent its startup packet; `Ok` once its proof
/// verified (the caller then goes on to AuthenticationOk).
pub async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut S,
    verifier: &Verifier,
) -> Result<(), AuthError> {
    client
        .write_all(&authentication(10, b"SCRAM-SHA-256\0\0"))
        .await
        .map_err(WireError::Io)?;
    let initial = read_password_message(client).await?;
    let (mechanism, rest) = split_cstr(&initial).ok_or(AuthError::Malformed("no mechanism"))?;
    if mechanism != b"SCRAM-SHA-256" {
        return Err(AuthError::Malformed("a mechanism other than SCRAM-SHA-256"));
    }
    let length = rest
        .get(..4)
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(AuthError::Malformed("no length"))?;
    let client_first = rest
        .get(4..)
        .filter(|d| usize::try_from(length).is_ok_and(|l| l == d.len()))
        .ok_or(AuthError::Malformed("a wrong length"))?;
    let client_first =
        std::str::from_utf8(client_first).map_err(|_| AuthError::Malformed("not UTF-8"))?;
    // gs2 header: `n,,` (no channel binding) or `y,,` (the client could but thinks we can't).
    let header = ["n,,", "y,,"]
        .into_iter()
        .find(|h| client_first.starts_with(h))
        .ok_or(AuthError::Malformed(
            "channel binding or an authorization identity",
        ))?;
    let bare = &client_first[header.len()..];
    let client_nonce = bare
        .split(',')
        .find_map(|a| a.strip_prefix("r="))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b','))
        .ok_or(AuthError::Malformed("no client nonce"))?;
    let server_nonce: [u8; 18] = rand::random();
    let nonce = format!("{client_nonce}{}", BASE64.encode(server_nonce));
    let server_first = format!(
        "r={nonce},s={},i={}",
        BASE64.encode(&verifier.salt),
        verifier.iterations
    );
    client
        .write_all(&authentication(11, server_first.as_bytes()))
        .await
        .map_err(WireError::Io)?;

    let client_final = read_password_message(client).await?;
    let client_final =
        std::str::from_utf8(&client_final).map_err(|_| AuthError::Malformed("not UTF-8"))?;
    let (without_proof, proof) = client_final
        .rsplit_once(",p=")
        .ok_or(AuthError::Malformed("no proof"))?;
    let mut attributes = without_proof.split(',');
    let binding = attributes.next().and_then(|c| c.strip_prefix("c="));
    let echoed = attributes.next().and_then(|r| r.strip_prefix("r="));
    // The channel binding attribute repeats the first message's header (RFC 5802 5.1).
    if binding != Some(BASE64.encode(header).as_str()) || echoed != Some(nonce.as_str()) {
        return Err(AuthError::Malformed(
            "a channel binding or nonce that does not match",
        ));
    }
    let proof = BASE64
        .decode(proof)
        .map_err(|_| AuthError::Malformed("a proof that is not base64"))?;
    let auth_message = format!("{bare},{server_first},{without_proof}");
    let signature = hmac(&verifier.stored_key, auth_message.as_bytes());
    if proof.len() != signature.len() {
        return Err(AuthError::WrongPassword);
    }
    let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
    let stored = Sha256::digest(&client_key);
    if !bool::from(stored.as_slice().ct_eq(&verifier.stored_key)) {
        return Err(AuthError::WrongPassword);
    }
    let server_signature = hmac(&verifier.server_key, auth_message.as_bytes());
    let server_final = format!("v={}", BASE64.encode(server_signature));
    client
        .write_all(&authentication(12, server_final.as_bytes()))
        .await
        .map_err(WireError::Io)?;
    Ok(())
}

/// An Authentication message of `kind` with `data`.
fn authentication(kind: i32, data: &[u8]) -> BytesMut {
    let mut out = BytesMut::with_capacity(data.len() + 9);
    out.put_u8(b'R');
    out.put_i32(i32::try_from(data.len() + 8).unwrap_or(i32::MAX));
    out.put_i32(kind);
    out.put_slice(data);
    out
}

/// The body of the client's next message, which must be a `p` (password / SASL) message.
async fn read_password_message<S: AsyncRead + Unpin>(client: &mut S) -> Result<Vec<u8>, AuthError> {
    let tag = client.read_u8().await.map_err(WireError::Io)?;
    if tag != b'p' {
        return Err(AuthError::Malformed("a message other than a SASL response"));
    }
    let frame = wire::read_body(client).await?;
    Ok(frame)
}

fn split_cstr(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = bytes.iter().position(|b| *b == 0)?;
    Some((&bytes[..end], &bytes[end + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
    use postgres_protocol::message::frontend;

    /// The data of the next Authentication message.
    async fn read_auth(c: &mut tokio::io::DuplexStream) -> Result<Vec<u8>, String> {
        let frame = wire::read_frame(c).await.map_err(|e| e.to_string())?;
        Ok(frame.body[4..].to_vec())
    }

    /// The proxy's server side against postgres-protocol's client (the one the proxy uses
    /// toward PostgreSQL), over an in-memory pipe.
    async fn exchange(
        client_password: &str,
        proxy_password: &str,
    ) -> (Result<(), AuthError>, Result<(), String>) {
        let verifier = Verifier::new(&SecretString::from(proxy_password.to_owned()));
        let (mut proxy_side, mut client_side) = tokio::io::duplex(1 << 16);
        let password = client_password.to_owned();
        let client = tokio::spawn(async move {
            let _mechanisms = read_auth(&mut client_side).await?;
            let mut scram = ScramSha256::new(password.as_bytes(), ChannelBinding::unsupported());
            let mut out = BytesMut::new();
            frontend::sasl_initial_response("SCRAM-SHA-256", scram.message(), &mut out)
                .map_err(|e| e.to_string())?;
            client_side
                .write_all(&out)
                .await
                .map_err(|e| e.to_string())?;
            let first = read_auth(&mut client_side).await?;
            scram.update(&first).map_err(|e| e.to_string())?;
            let mut out = BytesMut::new();
            frontend::sasl_response(scram.message(), &mut out).map_err(|e| e.to_string())?;
            client_side
                .write_all(&out)
                .await
                .map_err(|e| e.to_string())?;
            let last = read_auth(&mut client_side).await?;
            scram.finish(&last).map_err(|e| e.to_string())
        });
        let proxy = authenticate(&mut proxy_side, &verifier).await;
        drop(proxy_side);
        (proxy, client.await.unwrap())
    }

    #[tokio::test]
    async fn the_right_password_verifies_both_ways() {
        let (proxy, client) = exchange("pässwörd with spaces", "pässwörd with spaces").await;
        proxy.unwrap();
        client.unwrap();
    }

    #[tokio::test]
    async fn a_binding_flag_that_differs_from_the_first_message_is_refused() {
        let verifier = Verifier::new(&SecretString::from("pw"));
        let (mut proxy_side, mut client_side) = tokio::io::duplex(1 << 16);
        let client = tokio::spawn(async move {
            read_auth(&mut client_side).await?;
            let mut out = BytesMut::new();
            frontend::sasl_initial_response("SCRAM-SHA-256", b"n,,n=,r=abcdef", &mut out)
                .map_err(|e| e.to_string())?;
            client_side
                .write_all(&out)
                .await
                .map_err(|e| e.to_string())?;
            let first = String::from_utf8(read_auth(&mut client_side).await?).unwrap();
            let nonce = first
                .split(',')
                .next()
                .unwrap()
                .trim_start_matches("r=")
                .to_owned();
            let mut out = BytesMut::new();
            // `eSws` is `y,,`, not the `n,,` the first message said.
            frontend::sasl_response(format!("c=eSws,r={nonce},p=AAAA").as_bytes(), &mut out)
                .map_err(|e| e.to_string())?;
            client_side
                .write_all(&out)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(())
        });
        let result = authenticate(&mut proxy_side, &verifier).await;
        assert!(matches!(result, Err(AuthError::Malformed(_))), "{result:?}");
        client.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_wrong_password_is_refused() {
        let (proxy, client) = exchange("wrong", "right").await;
        assert!(matches!(proxy, Err(AuthError::WrongPassword)), "{proxy:?}");
        assert!(client.is_err(), "the client never got a server signature");
    }

    #[test]
    fn debug_shows_no_key() {
        let verifier = Verifier::new(&SecretString::from("canary"));
        let shown = format!("{verifier:?}");
        assert!(!shown.contains(&BASE64.encode(&verifier.stored_key)));
    }
}
