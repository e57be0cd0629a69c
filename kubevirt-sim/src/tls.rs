//! HTTPS for the aggregated API: a serving certificate the API server trusts (its CA goes into the
//! APIService's `caBundle`), and only clients with a certificate from the client CA
//! (kube-apiserver's front-proxy CA) whose subject CN is an allowed front-proxy name
//! ([`crate::front_proxy`]), as virt-api requires. There is no anonymous mode.

use crate::front_proxy::{AllowedNames, FrontProxyVerifier};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: &Path,
    allowed_names: AllowedNames,
) -> Result<ServerConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("reading {}: {e}", cert.display()))?;
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("reading {}: {e}", key.display()))?;
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(client_ca)
        .map_err(|e| format!("reading the client CA {}: {e}", client_ca.display()))?
    {
        roots
            .add(c.map_err(|e| format!("reading the client CA {}: {e}", client_ca.display()))?)
            .map_err(|e| format!("the client CA {}: {e}", client_ca.display()))?;
    }
    // webpki refuses an empty root store, so a client CA file without certificates fails here,
    // at start-up, rather than refusing every client later.
    let chain = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("the client CA {}: {e}", client_ca.display()))?;
    let verifier = FrontProxyVerifier::new(chain, allowed_names);
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(certs, key)
        .map_err(|e| format!("the serving certificate: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A handshake that failed over the client's certificate (none, untrusted, or a refused name):
/// worth a warning, unlike a client that just hung up.
fn certificate_refusal(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .filter(|e| {
            matches!(
                e,
                rustls::Error::NoCertificatesPresented | rustls::Error::InvalidCertificate(_)
            )
        })
}

pub async fn serve(listener: TcpListener, config: ServerConfig, router: Router) {
    let acceptor = TlsAcceptor::from(Arc::new(config));
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                debug!(error = %e, "accept failed");
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(e) => {
                    match certificate_refusal(&e) {
                        Some(refusal) => warn!(%peer, error = %refusal, "TLS client refused"),
                        None => debug!(%peer, error = %e, "TLS handshake failed"),
                    }
                    return;
                }
            };
            if let Err(e) = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subject::subject_common_names;
    use crate::test_pki::TestPki;
    use rustls::pki_types::ServerName;
    use rustls::{AlertDescription, ClientConfig};
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::mpsc;
    use tokio_rustls::TlsConnector;

    const FRONT_PROXY_NAME: &str = "front-proxy-client";

    /// The cluster's layout in small: a serving CA, the front-proxy CA and its client, plus the
    /// clients that must be refused.
    fn pki() -> TestPki {
        let pki = TestPki::new("tls");
        pki.ca("serving-ca");
        pki.leaf(
            "server",
            "serving-ca",
            "/CN=wukong-kubevirt-sim",
            "serverAuth",
            Some("IP:127.0.0.1"),
        );
        pki.ca("front-proxy-ca");
        pki.leaf(
            "front-proxy",
            "front-proxy-ca",
            &format!("/CN={FRONT_PROXY_NAME}"),
            "clientAuth",
            None,
        );
        pki.leaf(
            "intruder",
            "front-proxy-ca",
            "/CN=intruder",
            "clientAuth",
            None,
        );
        pki.leaf(
            "nameless",
            "front-proxy-ca",
            "/O=wukong",
            "clientAuth",
            None,
        );
        pki.leaf(
            "two-names",
            "front-proxy-ca",
            &format!("/CN=intruder/CN={FRONT_PROXY_NAME}"),
            "clientAuth",
            None,
        );
        pki.leaf("utf8", "front-proxy-ca", "/CN=前端代理", "clientAuth", None);
        // The right name from a CA the simulator does not trust.
        pki.ca("other-ca");
        pki.leaf(
            "impostor",
            "other-ca",
            &format!("/CN={FRONT_PROXY_NAME}"),
            "clientAuth",
            None,
        );
        pki
    }

    fn der(pki: &TestPki, name: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_file(pki.path(&format!("{name}.crt"))).expect("a PEM certificate")
    }

    /// Serves the real router with the real TLS config on 127.0.0.1 (an ephemeral port).
    async fn start(
        pki: &TestPki,
        allowed: &[&str],
    ) -> (SocketAddr, mpsc::Receiver<crate::hypervisor::CallRequest>) {
        let allowed = AllowedNames::new(allowed.iter().map(|s| (*s).to_owned()));
        let config = server_config(
            &pki.path("server.crt"),
            &pki.path("server.key"),
            &pki.path("front-proxy-ca.crt"),
            allowed,
        )
        .expect("a valid TLS config");
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("a bound address");
        let (calls, receiver) = mpsc::channel(1);
        tokio::spawn(serve(listener, config, crate::http::router(calls)));
        (addr, receiver)
    }

    /// `GET /healthz` as `client` (its certificate and key), or with no certificate.
    async fn healthz(
        pki: &TestPki,
        addr: SocketAddr,
        client: Option<&str>,
    ) -> std::io::Result<String> {
        let mut roots = RootCertStore::empty();
        roots.add(der(pki, "serving-ca")).expect("the serving CA");
        let builder =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_root_certificates(roots);
        let config = match client {
            Some(name) => {
                let key =
                    PrivateKeyDer::from_pem_file(pki.path(&format!("{name}.key"))).expect("a key");
                builder
                    .with_client_auth_cert(vec![der(pki, name)], key)
                    .expect("a client certificate")
            }
            None => builder.with_no_client_auth(),
        };
        let tcp = TcpStream::connect(addr).await?;
        let server = ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into());
        let mut tls = TlsConnector::from(Arc::new(config))
            .connect(server, tcp)
            .await?;
        tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut answer = Vec::new();
        tls.read_to_end(&mut answer).await?;
        Ok(String::from_utf8_lossy(&answer).into_owned())
    }

    /// The TLS alert a refused client received.
    fn alert(result: std::io::Result<String>) -> AlertDescription {
        let e = result.expect_err("the simulator refuses this client");
        match e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(rustls::Error::AlertReceived(alert)) => *alert,
            _ => panic!("expected a TLS alert, got {e}"),
        }
    }

    #[tokio::test]
    async fn only_the_front_proxy_certificate_gets_through_on_loopback() {
        let pki = pki();
        let (addr, _calls) = start(&pki, &[FRONT_PROXY_NAME]).await;
        let answer = healthz(&pki, addr, Some("front-proxy"))
            .await
            .expect("the front proxy is served");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

        assert_eq!(
            alert(healthz(&pki, addr, None).await),
            AlertDescription::CertificateRequired
        );
        for refused in ["intruder", "nameless", "two-names", "utf8"] {
            assert_eq!(
                alert(healthz(&pki, addr, Some(refused)).await),
                AlertDescription::AccessDenied,
                "{refused}"
            );
        }
        assert_eq!(
            alert(healthz(&pki, addr, Some("impostor")).await),
            AlertDescription::UnknownCA
        );
    }

    #[tokio::test]
    async fn with_no_allowed_names_any_certificate_from_the_ca_gets_through_but_none_without() {
        let pki = pki();
        let (addr, _calls) = start(&pki, &[]).await;
        for accepted in ["front-proxy", "intruder", "nameless"] {
            let answer = healthz(&pki, addr, Some(accepted)).await.expect("served");
            assert!(answer.starts_with("HTTP/1.1 200"), "{accepted}: {answer}");
        }
        assert_eq!(
            alert(healthz(&pki, addr, None).await),
            AlertDescription::CertificateRequired
        );
        assert_eq!(
            alert(healthz(&pki, addr, Some("impostor")).await),
            AlertDescription::UnknownCA
        );
    }

    #[test]
    fn subject_common_names_are_read_from_real_certificates() {
        let pki = pki();
        let cns = |name: &str| subject_common_names(&der(&pki, name)).expect("a readable subject");
        assert_eq!(cns("front-proxy"), [FRONT_PROXY_NAME]);
        assert_eq!(cns("intruder"), ["intruder"]);
        assert!(cns("nameless").is_empty());
        assert_eq!(cns("two-names"), ["intruder", FRONT_PROXY_NAME]);
        assert_eq!(cns("utf8"), ["前端代理"]);
    }

    #[test]
    fn a_missing_or_empty_client_ca_fails_at_start_up() {
        let pki = pki();
        let missing = server_config(
            &pki.path("server.crt"),
            &pki.path("server.key"),
            &pki.path("absent.crt"),
            AllowedNames::default(),
        )
        .expect_err("no client CA, no server");
        assert!(missing.contains("the client CA"), "{missing}");
        std::fs::write(pki.path("empty.crt"), "").expect("an empty file");
        let empty = server_config(
            &pki.path("server.crt"),
            &pki.path("server.key"),
            &pki.path("empty.crt"),
            AllowedNames::default(),
        )
        .expect_err("an empty client CA, no server");
        assert!(empty.contains("the client CA"), "{empty}");
    }
}
