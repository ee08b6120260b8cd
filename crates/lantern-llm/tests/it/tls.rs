//! A hosted model over TLS: the scripted server behind a real TLS handshake, with a certificate
//! signed by a private CA made for the test.

use std::net::SocketAddr;
use std::sync::Arc;

use lantern_llm::{ErrorKind, LlmClient};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::scripted::{ScriptedHandle, ScriptedServer, ScriptedTurn};
use crate::support::{API_KEY, ask, test_config, unwrap_error};

/// Accepts TCP connections and completes the TLS handshake before handing them to axum; a
/// failed handshake (the client refusing our certificate) drops that connection only.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, address)) = self.tcp.accept().await else { continue };
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, address);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A CA and a `localhost` certificate it signed; returns the CA's PEM and the server's TLS
/// configuration.
fn private_ca_and_server() -> (String, Arc<ServerConfig>) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let server_certificate = server_params.signed_by(&server_key, &ca).unwrap();
    let chain: Vec<CertificateDer<'static>> = vec![server_certificate.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    (ca.pem(), Arc::new(config))
}

async fn serve_tls(script: Vec<ScriptedTurn>) -> (ScriptedHandle, String, String) {
    let (ca_pem, config) = private_ca_and_server();
    let tcp = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let listener = TlsListener { tcp, acceptor: TlsAcceptor::from(config) };
    let (_, handle) = ScriptedServer::serve(listener, "https", script).unwrap();
    // The certificate names localhost, so the client must ask for that name.
    (handle, format!("https://localhost:{port}/v1"), ca_pem)
}

#[tokio::test]
async fn an_https_endpoint_signed_by_a_configured_ca_streams_an_answer() {
    let (server, base_url, ca_pem) = serve_tls(vec![ScriptedTurn::text(&["大杯", "珍珠奶茶"])]).await;
    let directory = std::env::temp_dir().join(format!("lantern-llm-tls-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let ca_file = directory.join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let mut config = test_config(base_url);
    config.ca_cert_file = ca_file.to_string_lossy().into_owned();
    let client = LlmClient::new(config, Some(API_KEY.to_string())).unwrap();
    let answer = client.complete(ask("有什么奶茶"), |_| {}).await.unwrap();
    assert_eq!(answer.text, "大杯珍珠奶茶");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].authorization.as_deref(), Some(format!("Bearer {API_KEY}").as_str()));
    std::fs::remove_dir_all(&directory).ok();
}

#[tokio::test]
async fn a_certificate_from_an_untrusted_ca_is_refused_before_any_prompt_is_sent() {
    let (server, base_url, _) = serve_tls(vec![ScriptedTurn::text(&["never"])]).await;
    let client = LlmClient::new(test_config(base_url), Some(API_KEY.to_string())).unwrap();
    let error = unwrap_error(client.complete(ask("hi"), |_| {}).await);
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    assert!(server.requests().is_empty(), "the prompt crossed an unverified connection");
}

#[test]
fn an_unreadable_or_empty_ca_file_is_a_configuration_error_naming_the_field() {
    let directory = std::env::temp_dir().join(format!("lantern-llm-ca-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let empty = directory.join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    for file in [directory.join("missing.pem"), empty] {
        let mut config = test_config("https://localhost:1/v1".to_string());
        config.ca_cert_file = file.to_string_lossy().into_owned();
        let error = LlmClient::new(config, None).unwrap_err();
        assert!(error.to_string().starts_with("llm.ca_cert_file:"), "{error}");
    }
    std::fs::remove_dir_all(&directory).ok();
}
