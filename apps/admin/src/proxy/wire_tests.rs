use super::*;
use proptest::prelude::*;

fn packet(code: i32, rest: &[u8]) -> Vec<u8> {
    let mut out = ((rest.len() + 8) as i32).to_be_bytes().to_vec();
    out.extend(code.to_be_bytes());
    out.extend(rest);
    out
}

async fn hello(bytes: Vec<u8>) -> (Result<Hello, WireError>, Vec<u8>) {
    let (mut ours, mut theirs) = tokio::io::duplex(1 << 16);
    theirs.write_all(&bytes).await.unwrap();
    // End of input after the bytes, as a client that hangs up.
    theirs.shutdown().await.unwrap();
    let result = read_hello(&mut ours).await;
    drop(ours);
    let mut answered = Vec::new();
    theirs.read_to_end(&mut answered).await.unwrap();
    (result, answered)
}

#[tokio::test]
async fn a_startup_packet_gives_its_parameters_in_order() {
    let (result, answered) = hello(packet(
        PROTOCOL_3_0,
        b"user\0me\0database\0project\0application_name\0psql\0\0",
    ))
    .await;
    assert_eq!(
        result.unwrap(),
        Hello::Startup(vec![
            ("user".into(), "me".into()),
            ("database".into(), "project".into()),
            ("application_name".into(), "psql".into()),
        ])
    );
    assert!(answered.is_empty());
}

#[tokio::test]
async fn ssl_and_gss_requests_are_declined_then_the_startup_is_read() {
    let mut bytes = packet(SSL_REQUEST, b"");
    bytes.extend(packet(GSSENC_REQUEST, b""));
    bytes.extend(packet(PROTOCOL_3_0, b"user\0me\0\0"));
    let (result, answered) = hello(bytes).await;
    assert!(matches!(result.unwrap(), Hello::Startup(p) if p.len() == 1));
    assert_eq!(answered, b"NN");
}

#[tokio::test]
async fn a_cancel_request_gives_its_key() {
    let mut rest = 42i32.to_be_bytes().to_vec();
    rest.extend((-7i32).to_be_bytes());
    let (result, _) = hello(packet(CANCEL_REQUEST, &rest)).await;
    assert_eq!(
        result.unwrap(),
        Hello::Cancel {
            process_id: 42,
            secret_key: -7
        }
    );
}

#[tokio::test]
async fn bad_first_packets_are_protocol_errors() {
    for bytes in [
        (-1i32).to_be_bytes().to_vec(),
        0i32.to_be_bytes().to_vec(),
        i32::MAX.to_be_bytes().to_vec(),
        packet(0x0002_0000, b"user\0me\0\0"),
        packet(PROTOCOL_3_0, b"user\0me\0"),
        packet(PROTOCOL_3_0, b"user\0\0"),
        packet(PROTOCOL_3_0, b"us\xffer\0me\0\0"),
        packet(CANCEL_REQUEST, b"short"),
    ] {
        let (result, _) = hello(bytes.clone()).await;
        assert!(
            matches!(result, Err(WireError::Protocol(_))),
            "{bytes:?}: {result:?}"
        );
    }
    let (result, _) = hello(packet(PROTOCOL_3_0, b"")[..6].to_vec()).await;
    assert!(
        matches!(result, Err(WireError::Io(_))),
        "a packet cut short"
    );
}

#[test]
fn a_fatal_error_carries_its_code_and_message() {
    let frame = fatal("3D000", "no such database");
    assert_eq!(frame[0], b'E');
    let length = i32::from_be_bytes([frame[1], frame[2], frame[3], frame[4]]) as usize;
    assert_eq!(length, frame.len() - 1);
    assert_eq!(error_message(&frame[5..]), "no such database");
    assert!(frame.windows(6).any(|w| w == b"C3D000"));
}

proptest! {
    /// No first packet, however malformed, panics the reader.
    #[test]
    fn no_input_panics_the_reader(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async { let _ = hello(bytes).await; });
    }

    #[test]
    fn parameters_round_trip(pairs in proptest::collection::vec(("[a-z_]{1,10}", "[^\0]{0,20}"), 0..5)) {
        let mut body = Vec::new();
        for (k, v) in &pairs {
            body.extend(k.as_bytes()); body.push(0); body.extend(v.as_bytes()); body.push(0);
        }
        body.push(0);
        let parsed = parse_parameters(&body).unwrap();
        prop_assert_eq!(parsed, pairs);
    }
}

/// Before a client has proven its password, a message of more than 64 KiB is refused without
/// being read (PostgreSQL allows 65 535 bytes then): 300 connections of 1 MiB each held 300 MB.
#[tokio::test]
async fn an_unauthenticated_message_over_64_kib_is_refused_unread() {
    let (mut ours, mut theirs) = tokio::io::duplex(1 << 16);
    theirs.write_all(&70_000i32.to_be_bytes()).await.unwrap();
    let result = tokio::time::timeout(std::time::Duration::from_secs(5), read_body(&mut ours))
        .await
        .expect("refused at once, not waited for");
    assert!(
        matches!(&result, Err(WireError::Protocol(m)) if m == "a client message of 70000 bytes"),
        "{result:?}"
    );
    theirs.write_all(&100i32.to_be_bytes()).await.unwrap();
    theirs.write_all(&[7; 96]).await.unwrap();
    assert_eq!(read_body(&mut ours).await.unwrap(), vec![7; 96]);
}
