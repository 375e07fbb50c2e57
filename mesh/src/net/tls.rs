//! libp2p's TLS 1.3 handshake (`/tls/1.0.0`) with AES-GCM preferred.
//!
//! Shard bytes are already sealed by the gateway, so what the mesh's transport
//! must add is peer authentication and integrity; its cipher is pure cost on
//! every byte, paid twice per shard (sender and receiver). libp2p-tls offers
//! ChaCha20-Poly1305 first and does not let the order be changed, and noise
//! only has ChaCha; on CPUs with AES-NI, AES-128-GCM costs a fraction of that.
//! This upgrade speaks the same protocol as libp2p-tls (a self-signed
//! certificate carrying the libp2p identity key's signature, checked with
//! `libp2p_tls::certificate`), so it interoperates with any libp2p TLS peer,
//! but offers AES-128-GCM, AES-256-GCM and then ChaCha20-Poly1305. In TLS 1.3
//! the server picks the first of the client's suites it supports, so two
//! Cairn peers always settle on AES-GCM.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::io::{BufReader, BufWriter};
use futures_util::{AsyncRead, AsyncWrite, FutureExt};
use libp2p::PeerId;
use libp2p::core::UpgradeInfo;
use libp2p::core::upgrade::{InboundConnectionUpgrade, OutboundConnectionUpgrade};
use libp2p::identity::Keypair;
use libp2p_tls::TlsStream;
use libp2p_tls::certificate;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::aws_lc_rs::cipher_suite::{
    TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384, TLS13_CHACHA20_POLY1305_SHA256,
};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// How many bytes are gathered before a write reaches TLS, and read from the
/// socket at once. rustls seals each write as records of its own and sends
/// them at once, and reads the socket 4 KiB at a time: without these
/// buffers a yamux frame header becomes a record and a system call of its
/// own, and a 16 KiB frame takes four reads.
const BUFFER: usize = 64 << 10;

/// A TLS connection with its two buffers: plaintext gathered until a flush
/// (as noise does), ciphertext read from the socket in large chunks.
pub type BufferedTls<C> = BufWriter<TlsStream<BufReader<C>>>;

/// The multistream-select name: the libp2p TLS handshake.
const PROTOCOL: &str = "/tls/1.0.0";
/// ALPN value the libp2p TLS specification requires.
const ALPN: &[u8] = b"libp2p";

/// Why a TLS upgrade failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate for our identity could not be made.
    #[error("making the libp2p TLS certificate: {0}")]
    Certificate(#[from] certificate::GenError),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// The handshake failed (bad certificate, wrong peer, I/O).
    #[error("TLS handshake: {0}")]
    Handshake(std::io::Error),
    /// The peer's certificate did not carry a valid libp2p identity.
    #[error("peer certificate: {0}")]
    PeerCertificate(#[from] certificate::ParseError),
}

/// The security upgrade for TCP connections: TLS 1.3 with AES-GCM first.
#[derive(Clone)]
pub struct AesFirstTls {
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
}

impl AesFirstTls {
    /// Makes a fresh certificate for `identity` and the two configurations.
    pub fn new(identity: &Keypair) -> Result<Self, TlsError> {
        let (cert, key) = certificate::generate(identity)?;
        let provider = provider();
        // rustls's own single-certificate helpers parse the certificate with
        // webpki, which refuses libp2p's critical extension: hand it the
        // certificate and key as they are.
        let signing_key = provider.key_provider.load_private_key(key)?;
        let ours = Arc::new(OurCertificate(Arc::new(rustls::sign::CertifiedKey::new(
            vec![cert],
            signing_key,
        ))));
        let verifier = Arc::new(PeerCertificateVerifier);

        let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(verifier.clone())
            .with_cert_resolver(ours.clone());
        server.alpn_protocols = vec![ALPN.to_vec()];
        // Every peer has the same (absent) server name, so cached sessions
        // would be offered to the wrong peers; connections are long-lived
        // anyway, so resumption gains nothing.
        server.send_tls13_tickets = 0;

        let mut client = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_cert_resolver(ours);
        client.alpn_protocols = vec![ALPN.to_vec()];
        client.resumption = rustls::client::Resumption::disabled();

        Ok(Self {
            server: Arc::new(server),
            client: Arc::new(client),
        })
    }
}

/// Our one certificate, offered as server and as client.
#[derive(Debug)]
struct OurCertificate(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for OurCertificate {
    fn resolve(
        &self,
        _: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
}

impl rustls::client::ResolvesClientCert for OurCertificate {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _schemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// aws-lc-rs with only the TLS 1.3 suites, AES-GCM before ChaCha20-Poly1305.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.cipher_suites = vec![
        TLS13_AES_128_GCM_SHA256,
        TLS13_AES_256_GCM_SHA384,
        TLS13_CHACHA20_POLY1305_SHA256,
    ];
    Arc::new(provider)
}

impl UpgradeInfo for AesFirstTls {
    type Info = &'static str;
    type InfoIter = std::iter::Once<Self::Info>;

    fn protocol_info(&self) -> Self::InfoIter {
        std::iter::once(PROTOCOL)
    }
}

impl<C> InboundConnectionUpgrade<C> for AesFirstTls
where
    C: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Output = (PeerId, BufferedTls<C>);
    type Error = TlsError;
    type Future = BoxFuture<'static, Result<Self::Output, Self::Error>>;

    fn upgrade_inbound(self, socket: C, _: Self::Info) -> Self::Future {
        async move {
            let stream = futures_rustls::TlsAcceptor::from(self.server)
                .accept(BufReader::with_capacity(BUFFER, socket))
                .await
                .map_err(TlsError::Handshake)?;
            let peer = peer_id(stream.get_ref().1)?;
            Ok((peer, BufWriter::with_capacity(BUFFER, stream.into())))
        }
        .boxed()
    }
}

impl<C> OutboundConnectionUpgrade<C> for AesFirstTls
where
    C: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Output = (PeerId, BufferedTls<C>);
    type Error = TlsError;
    type Future = BoxFuture<'static, Result<Self::Output, Self::Error>>;

    fn upgrade_outbound(self, socket: C, _: Self::Info) -> Self::Future {
        async move {
            // The specification forbids a server name (no SNI): an unspecified
            // address is how rustls is told to send none.
            let name = ServerName::IpAddress(IpAddr::V4(Ipv4Addr::UNSPECIFIED).into());
            let stream = futures_rustls::TlsConnector::from(self.client)
                .connect(name, BufReader::with_capacity(BUFFER, socket))
                .await
                .map_err(TlsError::Handshake)?;
            let peer = peer_id(stream.get_ref().1)?;
            Ok((peer, BufWriter::with_capacity(BUFFER, stream.into())))
        }
        .boxed()
    }
}

/// The peer id in the certificate the handshake verified. The swarm then
/// refuses the connection if it is not the peer that was dialled.
fn peer_id(state: &rustls::CommonState) -> Result<PeerId, TlsError> {
    match state.peer_certificates() {
        Some([cert]) => Ok(certificate::parse(cert)?.peer_id()),
        _ => Err(TlsError::Handshake(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the peer must present exactly one certificate",
        ))),
    }
}

/// Checks both sides' certificates the libp2p way: exactly one, self-signed,
/// with a valid libp2p extension (the identity key's signature over the
/// certificate key), and handshake signatures made by the certificate key.
#[derive(Debug)]
struct PeerCertificateVerifier;

impl PeerCertificateVerifier {
    fn check(
        end_entity: &CertificateDer,
        intermediates: &[CertificateDer],
    ) -> Result<(), rustls::Error> {
        if !intermediates.is_empty() {
            return Err(rustls::Error::General(
                "a libp2p peer presents exactly one certificate".into(),
            ));
        }
        certificate::parse(end_entity).map_err(|e| bad_certificate(&e))?;
        Ok(())
    }

    fn signature(
        message: &[u8],
        cert: &CertificateDer,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        certificate::parse(cert)
            .map_err(|e| bad_certificate(&e))?
            .verify_signature(dss.scheme, message, dss.signature())
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadSignature))?;
        Ok(HandshakeSignatureValid::assertion())
    }

    fn schemes() -> Vec<SignatureScheme> {
        vec![
            SignatureScheme::ECDSA_NISTP256_SHA256,
            SignatureScheme::ECDSA_NISTP384_SHA384,
            SignatureScheme::ED25519,
            SignatureScheme::RSA_PSS_SHA256,
            SignatureScheme::RSA_PSS_SHA384,
            SignatureScheme::RSA_PSS_SHA512,
            SignatureScheme::RSA_PKCS1_SHA256,
            SignatureScheme::RSA_PKCS1_SHA384,
            SignatureScheme::RSA_PKCS1_SHA512,
        ]
    }
}

fn bad_certificate(error: &certificate::ParseError) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(
        std::io::Error::new(std::io::ErrorKind::InvalidData, error.to_string()),
    ))))
}

/// The handshake-signature methods both verifier traits have.
macro_rules! handshake_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            _message: &[u8],
            _cert: &CertificateDer,
            _dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            // Only TLS 1.3 is offered or accepted.
            Err(rustls::Error::PeerIncompatible(
                rustls::PeerIncompatible::Tls12NotOffered,
            ))
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Self::signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            Self::schemes()
        }
    };
}

impl ServerCertVerifier for PeerCertificateVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer,
        intermediates: &[CertificateDer],
        _server_name: &ServerName,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Self::check(end_entity, intermediates)?;
        Ok(ServerCertVerified::assertion())
    }

    handshake_signatures!();
}

impl ClientCertVerifier for PeerCertificateVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer,
        intermediates: &[CertificateDer],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Self::check(end_entity, intermediates)?;
        Ok(ClientCertVerified::assertion())
    }

    handshake_signatures!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{AsyncReadExt, AsyncWriteExt};

    /// A connected pair of loopback TCP sockets, as libp2p's TCP transport
    /// hands them to the security upgrade.
    async fn socket_pair() -> (libp2p::tcp::tokio::TcpStream, libp2p::tcp::tokio::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dial = tokio::net::TcpStream::connect(listener.local_addr().unwrap());
        let (accepted, dialled) = tokio::join!(listener.accept(), dial);
        (
            libp2p::tcp::tokio::TcpStream(accepted.unwrap().0),
            libp2p::tcp::tokio::TcpStream(dialled.unwrap()),
        )
    }

    /// Checks that bytes cross both ways.
    async fn exchange(
        mut server: impl AsyncRead + AsyncWrite + Unpin,
        mut client: impl AsyncRead + AsyncWrite + Unpin,
    ) {
        client.write_all(b"shard").await.unwrap();
        client.flush().await.unwrap();
        let mut got = [0u8; 5];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"shard");
        server.write_all(b"ok").await.unwrap();
        server.flush().await.unwrap();
        let mut got = [0u8; 2];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ok");
    }

    /// The cipher suite a connection settled on.
    fn suite<C>(tls: &TlsStream<C>) -> rustls::CipherSuite {
        let state = match tls {
            TlsStream::Client(s) => s.get_ref().1.negotiated_cipher_suite(),
            TlsStream::Server(s) => s.get_ref().1.negotiated_cipher_suite(),
        };
        state.unwrap().suite()
    }

    type Connected = (PeerId, BufferedTls<libp2p::tcp::tokio::TcpStream>);

    /// Two Cairn peers, `s` listening and `c` dialling, after the handshake:
    /// what each side learned and its stream.
    async fn cairn_pair(s: &Keypair, c: &Keypair) -> (Connected, Connected) {
        let (a, b) = socket_pair().await;
        let (inbound, outbound) = tokio::join!(
            AesFirstTls::new(s).unwrap().upgrade_inbound(a, PROTOCOL),
            AesFirstTls::new(c).unwrap().upgrade_outbound(b, PROTOCOL)
        );
        (inbound.unwrap(), outbound.unwrap())
    }

    #[tokio::test]
    async fn cairn_peers_agree_on_aes_gcm_and_learn_each_others_ids() {
        let (s, c) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
        let ((client_seen, server), (server_seen, client)) = cairn_pair(&s, &c).await;
        assert_eq!(client_seen, c.public().to_peer_id());
        assert_eq!(server_seen, s.public().to_peer_id());
        assert_eq!(
            suite(client.get_ref()),
            rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
        );
        exchange(server, client).await;
    }

    #[tokio::test]
    async fn stock_libp2p_tls_peers_connect_both_ways() {
        let (s, c) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
        // A stock dialler offers ChaCha20-Poly1305 first and gets it.
        let (a, b) = socket_pair().await;
        let (inbound, outbound) = tokio::join!(
            AesFirstTls::new(&s).unwrap().upgrade_inbound(a, PROTOCOL),
            libp2p_tls::Config::new(&c)
                .unwrap()
                .upgrade_outbound(b, PROTOCOL)
        );
        let (client_seen, server) = inbound.unwrap();
        let (server_seen, client) = outbound.unwrap();
        assert_eq!(
            (client_seen, server_seen),
            (c.public().to_peer_id(), s.public().to_peer_id())
        );
        assert_eq!(
            suite(&client),
            rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
        );
        exchange(server, client).await;
        // A stock listener follows a Cairn dialler's order: AES-GCM.
        let (a, b) = socket_pair().await;
        let (inbound, outbound) = tokio::join!(
            libp2p_tls::Config::new(&s)
                .unwrap()
                .upgrade_inbound(a, PROTOCOL),
            AesFirstTls::new(&c).unwrap().upgrade_outbound(b, PROTOCOL)
        );
        let (_, server) = inbound.unwrap();
        let (_, client) = outbound.unwrap();
        assert_eq!(
            suite(client.get_ref()),
            rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
        );
        exchange(server, client).await;
    }

    #[tokio::test]
    async fn megabytes_cross_both_ways_at_once_through_the_buffers() {
        let (s, c) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
        let ((_, server), (_, client)) = cairn_pair(&s, &c).await;
        // Writes of every size, a yamux-like 12-byte header before each body,
        // from both ends while both read: nothing is lost, reordered or stuck
        // in a buffer.
        let data: Vec<u8> = (0..3u32 << 20).map(|i| (i * 7 + i / 4093) as u8).collect();
        async fn pump(stream: impl AsyncRead + AsyncWrite + Unpin, data: &[u8]) -> Vec<u8> {
            let (mut reader, mut writer) = stream.split();
            let send = async {
                let mut sizes = [1usize, 12, 4096, 16384, 65535, 65536, 200_000]
                    .iter()
                    .cycle();
                let mut at = 0;
                while at < data.len() {
                    let n = (*sizes.next().unwrap()).min(data.len() - at);
                    writer.write_all(&data[at..at + n]).await.unwrap();
                    at += n;
                    if n < 4096 {
                        writer.flush().await.unwrap();
                    }
                }
                writer.flush().await.unwrap();
            };
            let receive = async {
                let mut got = vec![0u8; data.len()];
                reader.read_exact(&mut got).await.unwrap();
                got
            };
            tokio::join!(send, receive).1
        }
        let (from_client, from_server) = tokio::join!(pump(server, &data), pump(client, &data));
        assert!(from_client == data, "server received other bytes");
        assert!(from_server == data, "client received other bytes");
    }

    #[tokio::test]
    async fn a_client_without_a_certificate_is_refused() {
        let s = Keypair::generate_ed25519();
        let (a, b) = socket_pair().await;
        // A client that checks the server the libp2p way but proves nothing
        // about itself.
        let anonymous = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PeerCertificateVerifier))
            .with_no_client_auth();
        let name = ServerName::IpAddress(IpAddr::V4(Ipv4Addr::UNSPECIFIED).into());
        let (inbound, outbound) = tokio::join!(
            AesFirstTls::new(&s).unwrap().upgrade_inbound(a, PROTOCOL),
            async {
                let mut stream = futures_rustls::TlsConnector::from(Arc::new(anonymous))
                    .connect(name, b)
                    .await?;
                // TLS 1.3 clients finish before the server has checked
                // them; the refusal shows on the first read.
                stream.write_all(b"hello").await?;
                stream.flush().await?;
                let mut byte = [0u8; 1];
                stream.read(&mut byte).await
            }
        );
        assert!(matches!(inbound, Err(TlsError::Handshake(_))));
        assert!(!matches!(outbound, Ok(n) if n > 0), "the server sent data");
    }

    #[tokio::test]
    async fn a_peer_speaking_plain_bytes_is_refused() {
        let s = Keypair::generate_ed25519();
        let (a, b) = socket_pair().await;
        let mut rogue = b;
        let (inbound, _) = tokio::join!(
            AesFirstTls::new(&s).unwrap().upgrade_inbound(a, PROTOCOL),
            async {
                rogue
                    .write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])
                    .await
                    .unwrap();
                rogue.close().await.unwrap();
            }
        );
        assert!(matches!(inbound, Err(TlsError::Handshake(_))));
    }
}
