//! The host names the console answers to, checked before anything else (DNS rebinding).
//!
//! A page on an attacker's domain whose DNS name is re-pointed at the console's address is, to the
//! browser, the same origin as the console: its requests carry the attacker's name in both `Host`
//! and `Origin`, so comparing the two proves nothing, and with `--auth=none` on loopback the page
//! would act with the developer's kubeconfig. A page cannot choose the `Host` its browser sends, so
//! answering only to names the operator listed (`--public-url`, `--allowed-hosts`, or the names of a
//! loopback `--addr`) shuts it out. Health and metrics probes are exempt: kubelets and Prometheus
//! reach them by pod IP, and they read nothing a page could use.

use axum::extract::{Request, State};
use axum::http::uri::{Authority, Scheme, Uri};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;
use std::sync::Arc;

/// One name people reach the console by, as `Host` carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHost {
    /// Lower case; IPv6 literals in brackets, as in `Host`.
    host: String,
    /// `None`: any port.
    port: Option<u16>,
    /// Set from `--public-url`: browsers open it only with this scheme, so `Origin` must use it.
    scheme: Option<Scheme>,
}

/// `Host` (or `Origin`'s authority) split into name and port.
struct Presented {
    host: String,
    port: Option<u16>,
}

fn presented(authority: &str) -> Option<Presented> {
    // `Authority` accepts `user@host`, which no browser puts in `Host`.
    if authority.contains('@') {
        return None;
    }
    let authority: Authority = authority.parse().ok()?;
    Some(Presented {
        host: authority.host().to_ascii_lowercase(),
        port: authority.port_u16(),
    })
}

fn default_port(scheme: Option<&Scheme>) -> Option<u16> {
    match scheme {
        Some(s) if *s == Scheme::HTTP => Some(80),
        Some(s) if *s == Scheme::HTTPS => Some(443),
        _ => None,
    }
}

impl AllowedHost {
    /// `--public-url`: `http(s)://host[:port]`, the address people open in a browser.
    pub fn parse_public_url(text: &str) -> Result<AllowedHost, String> {
        let text = text.trim();
        let example = "(e.g. https://console.example.com or http://10.0.0.5:3000)";
        let uri: Uri = text
            .parse()
            .map_err(|_| format!("{text:?} is not a URL {example}"))?;
        let scheme = uri
            .scheme()
            .filter(|s| **s == Scheme::HTTP || **s == Scheme::HTTPS)
            .ok_or_else(|| format!("{text:?} must start with https:// or http:// {example}"))?;
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(format!(
                "{text:?}: the console is served at the root of its host; give the URL without a path {example}"
            ));
        }
        let authority = uri
            .authority()
            .and_then(|a| presented(a.as_str()))
            .ok_or_else(|| format!("{text:?} names no host {example}"))?;
        Ok(AllowedHost {
            port: authority.port.or(default_port(Some(scheme))),
            host: authority.host,
            scheme: Some(scheme.clone()),
        })
    }

    /// `--allowed-hosts`: `host` (any port) or `host:port`, as browsers send it in `Host`.
    pub fn parse_host(text: &str) -> Result<AllowedHost, String> {
        let text = text.trim();
        if text.contains("://") || text.contains('/') {
            return Err(format!(
                "{text:?}: give a host name, optionally with :port (e.g. console.example.com or \
                 wukong-console.wukong-system.svc:3000); full URLs go to --public-url"
            ));
        }
        let authority = presented(text)
            .filter(|a| !a.host.is_empty())
            .ok_or_else(|| {
                format!("{text:?} is not a host name or host:port (e.g. console.example.com:3000)")
            })?;
        Ok(AllowedHost {
            host: authority.host,
            port: authority.port,
            scheme: None,
        })
    }

    fn address(ip: IpAddr, port: Option<u16>) -> AllowedHost {
        let host = match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        AllowedHost {
            host,
            port,
            scheme: None,
        }
    }

    fn admits(&self, name: &Presented, scheme: Option<&Scheme>) -> bool {
        if self.host != name.host {
            return false;
        }
        if let (Some(mine), Some(theirs)) = (&self.scheme, scheme) {
            if mine != theirs {
                return false;
            }
        }
        // A browser leaves the scheme's default port out of `Host` and `Origin`.
        self.port.is_none_or(|port| {
            name.port
                .or_else(|| default_port(scheme.or(self.scheme.as_ref())))
                == Some(port)
        })
    }
}

impl std::fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(scheme) = &self.scheme {
            write!(f, "{scheme}://")?;
        }
        f.write_str(&self.host)?;
        match self.port {
            Some(port) => write!(f, ":{port}"),
            None => f.write_str(":*"),
        }
    }
}

/// Every name the console answers to.
#[derive(Clone, Debug)]
pub struct AllowedHosts(Arc<[AllowedHost]>);

impl AllowedHosts {
    pub fn new(hosts: Vec<AllowedHost>) -> AllowedHosts {
        AllowedHosts(hosts.into())
    }

    /// The names of a loopback listen address: `127.0.0.1`, `localhost`, `[::1]` and the address
    /// itself, on `port` (`None`: any port, for tests that listen on a port chosen by the system).
    /// No DNS name an attacker controls is among them.
    pub fn loopback(ip: IpAddr, port: Option<u16>) -> AllowedHosts {
        let mut hosts = vec![
            AllowedHost::address(IpAddr::from([127, 0, 0, 1]), port),
            AllowedHost {
                host: "localhost".into(),
                port,
                scheme: None,
            },
            AllowedHost::address(std::net::Ipv6Addr::LOCALHOST.into(), port),
        ];
        let own = AllowedHost::address(ip, port);
        if !hosts.contains(&own) {
            hosts.push(own);
        }
        AllowedHosts::new(hosts)
    }

    /// Only the listen address itself (a specific, non-loopback IP).
    pub fn address(ip: IpAddr, port: u16) -> AllowedHosts {
        AllowedHosts::new(vec![AllowedHost::address(ip, Some(port))])
    }

    /// Whether a request's `Host` names this console.
    pub fn admits_host(&self, host: &str) -> bool {
        presented(host).is_some_and(|name| self.0.iter().any(|h| h.admits(&name, None)))
    }

    /// Whether an `Origin` (`scheme://host[:port]`) is one of this console's own addresses (with
    /// `--public-url`, in its scheme).
    pub fn admits_origin(&self, origin: &str) -> bool {
        let Ok(uri) = origin.parse::<Uri>() else {
            return false;
        };
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return false;
        };
        presented(authority.as_str())
            .is_some_and(|name| self.0.iter().any(|h| h.admits(&name, Some(scheme))))
    }
}

impl std::fmt::Display for AllowedHosts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&names.join(", "))
    }
}

/// The authority a request was sent to: `Host`, or the URI's authority (HTTP/2 carries it there).
/// `None` only for clients that send neither, which no browser does. An unreadable `Host` is
/// returned empty, so that no name admits it.
pub(crate) fn request_host(request: &Request) -> Option<String> {
    match request.headers().get(header::HOST) {
        Some(value) => Some(value.to_str().unwrap_or_default().to_owned()),
        None => request.uri().authority().map(|a| a.as_str().to_owned()),
    }
}

/// Probes that kubelets and Prometheus send by pod IP; they only read.
fn is_probe(request: &Request) -> bool {
    matches!(*request.method(), Method::GET | Method::HEAD)
        && matches!(request.uri().path(), "/healthz" | "/readyz" | "/metrics")
}

/// Middleware: a request for any other host is answered 421 before it reaches a route.
pub async fn known_hosts_only(
    State(hosts): State<AllowedHosts>,
    request: Request,
    next: Next,
) -> Response {
    if is_probe(&request) {
        return next.run(request).await;
    }
    // Browsers always send a host; a client that sends none cannot be a rebound page.
    let Some(host) = request_host(&request) else {
        return next.run(request).await;
    };
    if hosts.admits_host(&host) {
        return next.run(request).await;
    }
    tracing::warn!(%host, allowed = %hosts, path = %request.uri().path(), "request for an unknown host refused");
    let shown: String = host.chars().take(253).collect();
    (
        StatusCode::MISDIRECTED_REQUEST,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!(
            "This console does not answer to the host name {shown:?} (a guard against DNS rebinding).\n\
             If people reach it by that name, start it with --public-url=https://{shown} \
             (the address they open) or --allowed-hosts={shown}.\n"
        ),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_on_the_listen_port() {
        let hosts = AllowedHosts::loopback("127.0.0.1".parse().unwrap(), Some(3000));
        for host in [
            "127.0.0.1:3000",
            "localhost:3000",
            "LOCALHOST:3000",
            "[::1]:3000",
        ] {
            assert!(hosts.admits_host(host), "{host}");
        }
        for host in [
            "rebind.example:3000",
            "localhost:3001",
            "localhost",
            "",
            "user@localhost:3000",
            "localhost.rebind.example:3000",
        ] {
            assert!(!hosts.admits_host(host), "{host}");
        }
        assert!(hosts.admits_origin("http://localhost:3000"));
        assert!(!hosts.admits_origin("http://rebind.example:3000"));
        assert!(!hosts.admits_origin("null"));
    }

    #[test]
    fn a_public_url_admits_its_host_and_only_its_own_origin() {
        let hosts = AllowedHosts::new(vec![AllowedHost::parse_public_url(
            "https://Console.Example.com/",
        )
        .unwrap()]);
        assert!(hosts.admits_host("console.example.com"));
        assert!(hosts.admits_host("console.example.com:443"));
        assert!(!hosts.admits_host("console.example.com:3000"));
        assert!(hosts.admits_origin("https://console.example.com"));
        assert!(!hosts.admits_origin("http://console.example.com"));
        assert!(!hosts.admits_origin("https://console.example.com:8443"));
        let with_port = AllowedHost::parse_public_url("http://10.0.0.5:3000").unwrap();
        assert_eq!(with_port.to_string(), "http://10.0.0.5:3000");
    }

    #[test]
    fn allowed_hosts_with_and_without_a_port() {
        let hosts = AllowedHosts::new(vec![
            AllowedHost::parse_host("console.internal").unwrap(),
            AllowedHost::parse_host("wukong-console.wukong-system.svc:3000").unwrap(),
            AllowedHost::parse_host("[fd00::5]:3000").unwrap(),
        ]);
        assert!(hosts.admits_host("console.internal"));
        assert!(hosts.admits_host("console.internal:8080"));
        assert!(hosts.admits_host("wukong-console.wukong-system.svc:3000"));
        assert!(!hosts.admits_host("wukong-console.wukong-system.svc"));
        assert!(hosts.admits_host("[fd00::5]:3000"));
        assert!(hosts.admits_origin("https://console.internal"));
    }

    #[test]
    fn bad_flag_values_say_what_to_write() {
        for bad in [
            "console.example.com",
            "ftp://x",
            "https://x/console",
            "https://",
        ] {
            assert!(AllowedHost::parse_public_url(bad).is_err(), "{bad}");
        }
        for bad in ["https://x", "x/y", "", "a b"] {
            assert!(AllowedHost::parse_host(bad).is_err(), "{bad}");
        }
    }
}
