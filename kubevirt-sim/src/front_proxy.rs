//! Who may call the simulator: kube-apiserver's front proxy, and no one else.
//!
//! The aggregation layer forwards a person's request with `X-Remote-User`/`X-Remote-Group`
//! headers and proves it is the apiserver with its front-proxy client certificate. Anyone else
//! holding a certificate from the same CA could set those headers too, so, like the apiserver's
//! own `--requestheader-allowed-names` and KubeVirt's virt-api (which reads the same list from the
//! `extension-apiserver-authentication` ConfigMap and checks it in `VerifyPeerCertificate`), the
//! certificate's subject CN must be one of the allowed names. An empty list allows any name the
//! CA signed: the apiserver's semantics.
//!
//! The check runs inside the TLS handshake, after webpki has verified the chain, so a refused
//! client never reaches the HTTP side (no body parsing, no discovery) and no route can forget the
//! check. The client gets the `access_denied` alert; the reason, with the name it presented, is
//! in the simulator's log.

use crate::subject::subject_common_names;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::fmt;
use std::sync::Arc;
use tracing::warn;

/// The subject common names allowed to call (`--requestheader-allowed-names`); empty: any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedNames(Vec<String>);

impl AllowedNames {
    /// Empty entries are dropped, as the apiserver's comma-separated flag drops them.
    pub fn new(names: impl IntoIterator<Item = String>) -> AllowedNames {
        AllowedNames(names.into_iter().filter(|n| !n.is_empty()).collect())
    }

    pub fn is_any(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a certificate whose subject has these common names may call.
    ///
    /// Go's crypto/x509 keeps the last CN of a subject with several; front-proxy certificates
    /// have exactly one, so several are refused as ambiguous rather than picking one.
    pub fn check(&self, common_names: &[String]) -> Result<(), NameRefusal> {
        if self.is_any() {
            return Ok(());
        }
        match common_names {
            [] => Err(NameRefusal::NoCommonName),
            [name] if self.0.contains(name) => Ok(()),
            [name] => Err(NameRefusal::NotAllowed(name.clone())),
            _ => Err(NameRefusal::Several(common_names.to_vec())),
        }
    }
}

impl fmt::Display for AllowedNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_any() {
            f.write_str("any name the client CA signed")
        } else {
            f.write_str(&self.0.join(", "))
        }
    }
}

/// Why a client certificate's name was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameRefusal {
    NoCommonName,
    Several(Vec<String>),
    NotAllowed(String),
    Unreadable(String),
}

impl fmt::Display for NameRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameRefusal::NoCommonName => f.write_str("the client certificate has no subject CN"),
            NameRefusal::Several(names) => write!(
                f,
                "the client certificate has several subject CNs ({})",
                names.join(", ")
            ),
            NameRefusal::NotAllowed(name) => write!(
                f,
                "the client certificate's subject CN {name:?} is not an allowed front-proxy name"
            ),
            NameRefusal::Unreadable(e) => write!(f, "the client certificate: {e}"),
        }
    }
}

/// webpki's chain verification (mandatory client certificate), then the name check.
#[derive(Debug)]
pub struct FrontProxyVerifier {
    chain: Arc<dyn ClientCertVerifier>,
    allowed: AllowedNames,
}

impl FrontProxyVerifier {
    pub fn new(chain: Arc<dyn ClientCertVerifier>, allowed: AllowedNames) -> FrontProxyVerifier {
        FrontProxyVerifier { chain, allowed }
    }

    fn check_name(&self, end_entity: &CertificateDer<'_>) -> Result<(), NameRefusal> {
        if self.allowed.is_any() {
            return Ok(());
        }
        let names =
            subject_common_names(end_entity).map_err(|e| NameRefusal::Unreadable(e.to_string()))?;
        self.allowed.check(&names)
    }
}

impl ClientCertVerifier for FrontProxyVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        // Never anonymous, whatever the wrapped verifier says.
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.chain.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // The chain first: names in a certificate nobody trusted mean nothing.
        let verified = self
            .chain
            .verify_client_cert(end_entity, intermediates, now)?;
        match self.check_name(end_entity) {
            Ok(()) => Ok(verified),
            Err(refusal) => {
                warn!(allowed = %self.allowed, "TLS client refused: {refusal}");
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::ApplicationVerificationFailure,
                ))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn only_an_allowed_single_common_name_passes() {
        let allowed = AllowedNames::new(names(&["front-proxy-client", "aggregator"]));
        assert_eq!(allowed.check(&names(&["front-proxy-client"])), Ok(()));
        assert_eq!(allowed.check(&names(&["aggregator"])), Ok(()));
        assert_eq!(
            allowed.check(&names(&["intruder"])),
            Err(NameRefusal::NotAllowed("intruder".into()))
        );
        assert_eq!(
            allowed.check(&names(&["Front-Proxy-Client"])),
            Err(NameRefusal::NotAllowed("Front-Proxy-Client".into())),
            "names compare exactly, as the apiserver compares them"
        );
        assert_eq!(allowed.check(&[]), Err(NameRefusal::NoCommonName));
        assert_eq!(
            allowed.check(&names(&["intruder", "front-proxy-client"])),
            Err(NameRefusal::Several(names(&[
                "intruder",
                "front-proxy-client"
            ])))
        );
    }

    #[test]
    fn no_allowed_names_means_any_name_the_ca_signed() {
        let any = AllowedNames::new(names(&["", ""]));
        assert!(any.is_any(), "empty entries are dropped");
        assert_eq!(any.check(&names(&["whoever"])), Ok(()));
        assert_eq!(any.check(&[]), Ok(()));
        assert_eq!(any.to_string(), "any name the client CA signed");
    }

    #[test]
    fn refusals_name_the_certificate() {
        let message = NameRefusal::NotAllowed("intruder".into()).to_string();
        assert!(message.contains("\"intruder\""), "{message}");
        assert!(
            message.contains("not an allowed front-proxy name"),
            "{message}"
        );
    }
}
