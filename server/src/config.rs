//! Command-line flags, each with an environment variable fallback.

use crate::auth::{Mode, ProxyPolicy, SessionPolicy};
use crate::host::{AllowedHost, AllowedHosts};
use crate::Edge;
use clap::{Parser, ValueEnum};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// How people sign in (`--auth`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AuthChoice {
    /// A Kubernetes bearer token on the sign-in page, reviewed by the cluster.
    Token,
    /// An authenticating reverse proxy (oauth2-proxy and the like) names the person in headers.
    Proxy,
    /// No sign-in: everyone acts as the console itself (sandbox or loopback only).
    None,
}

/// A CIDR, or a single address (taken as /32 or /128).
fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is not an address or CIDR (e.g. 10.0.0.0/8)"))
}

#[derive(Clone, Debug, Parser)]
#[command(
    name = "wukong-console",
    version,
    about = "Run KubeVirt VMs (Wukong resources) from a browser"
)]
pub struct Config {
    /// Address to listen on [default: LEPTOS_SITE_ADDR, else 127.0.0.1:3000].
    #[arg(long, env = "WUKONG_ADDR")]
    pub addr: Option<SocketAddr>,

    /// The address people open the console at, e.g. https://console.example.com (repeatable or
    /// comma-separated). The console answers only to these hosts and --allowed-hosts; a browser's
    /// Origin must use the URL's scheme. Without either flag it answers only to the names of a
    /// loopback --addr (127.0.0.1, localhost, [::1]) or to a specific --addr IP, and refuses to
    /// start on 0.0.0.0 / [::]. /healthz, /readyz and /metrics answer to any host.
    #[arg(long, env = "WUKONG_PUBLIC_URL", value_delimiter = ',', value_parser = AllowedHost::parse_public_url)]
    pub public_url: Vec<AllowedHost>,

    /// More host names the console answers to, as browsers send them in Host: HOST (any port) or
    /// HOST:PORT (repeatable or comma-separated), e.g. wukong-console.wukong-system.svc:3000 or
    /// localhost:8080 for kubectl port-forward.
    #[arg(long, env = "WUKONG_ALLOWED_HOSTS", value_delimiter = ',', value_parser = AllowedHost::parse_host)]
    pub allowed_hosts: Vec<AllowedHost>,

    /// Use the built-in simulated cluster even if a kubeconfig is found.
    #[arg(long, env = "WUKONG_SANDBOX")]
    pub sandbox: bool,

    /// Kubeconfig of the cluster to manage.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// Makes the sandbox's simulated VMs this many times faster (demos, tests).
    #[arg(long, env = "WUKONG_SANDBOX_SPEED", default_value_t = 1.0)]
    pub sandbox_speed: f64,

    /// How people sign in [default: none with the sandbox, token with a cluster].
    #[arg(long, env = "WUKONG_AUTH", value_enum)]
    pub auth: Option<AuthChoice>,

    /// `--auth=proxy`: source addresses of the authenticating proxy (comma-separated CIDRs);
    /// identity headers from anywhere else are refused.
    #[arg(long, env = "WUKONG_AUTH_PROXY_TRUSTED", value_delimiter = ',', value_parser = parse_net)]
    pub auth_proxy_trusted: Vec<IpNet>,

    /// `--auth=proxy`: the header naming the user.
    #[arg(
        long,
        env = "WUKONG_AUTH_PROXY_USER_HEADER",
        default_value = "X-Forwarded-User"
    )]
    pub auth_proxy_user_header: String,

    /// `--auth=proxy`: the header listing the user's groups (comma-separated, and/or repeated).
    #[arg(
        long,
        env = "WUKONG_AUTH_PROXY_GROUPS_HEADER",
        default_value = "X-Forwarded-Groups"
    )]
    pub auth_proxy_groups_header: String,

    /// `--auth=proxy`: believe Kubernetes' reserved names from the proxy: users named system:…
    /// and the group system:masters (otherwise refused with 403) and other system:… groups
    /// (otherwise dropped). Only for a proxy that signs in ServiceAccounts or cluster admins.
    #[arg(long, env = "WUKONG_AUTH_PROXY_ALLOW_SYSTEM_NAMES")]
    pub auth_proxy_allow_system_names: bool,

    /// `--auth=token`: a session ends after this many minutes without a request.
    #[arg(long, env = "WUKONG_SESSION_IDLE_MINUTES", default_value_t = 30)]
    pub session_idle_minutes: u64,

    /// `--auth=token`: a session ends this many hours after sign-in at the latest.
    #[arg(long, env = "WUKONG_SESSION_MAX_HOURS", default_value_t = 8)]
    pub session_max_hours: u64,

    /// `--auth=token`: a session's token is reviewed by the cluster again this often; a token
    /// that expired or was revoked ends the session.
    #[arg(long, env = "WUKONG_TOKEN_RECHECK_SECONDS", default_value_t = 60)]
    pub token_recheck_seconds: u64,

    /// People reach the console over HTTPS (set it then): the session cookie is Secure and named
    /// __Host-wukong_session (no other host can set it), and responses carry
    /// Strict-Transport-Security (max-age one year).
    #[arg(long, env = "WUKONG_SECURE_COOKIE")]
    pub secure_cookie: bool,

    /// How long a person's RBAC answers are reused (and how soon an RBAC change shows).
    #[arg(long, env = "WUKONG_RBAC_CACHE_SECONDS", default_value_t = 10)]
    pub rbac_cache_seconds: u64,

    /// Lifecycle actions and deletes each person may ask for per minute.
    #[arg(long, env = "WUKONG_ACTIONS_PER_MINUTE", default_value_t = wukong_cluster::DEFAULT_ACTIONS_PER_MINUTE)]
    pub actions_per_minute: u32,

    /// VMs each person's bulk actions may write per minute: each VM of a bulk action counts (bulk
    /// actions do not count against --actions-per-minute). A bulk action over what is left is
    /// refused whole with 429 and when it will fit; one larger than a minute's allowance starts
    /// from a full allowance and uses up the next minutes'.
    #[arg(long, env = "WUKONG_BULK_VMS_PER_MINUTE", default_value_t = wukong_cluster::DEFAULT_BULK_VMS_PER_MINUTE)]
    pub bulk_vms_per_minute: u32,

    /// The most VMs one bulk action may write ("all matching the filter" included); more is
    /// refused with 400 before anything is written.
    #[arg(long, env = "WUKONG_BULK_MAX_VMS", default_value_t = wukong_cluster::DEFAULT_BULK_MAX_VMS)]
    pub bulk_max_vms: usize,

    /// `--auth=token`: sign-in attempts per client address per minute (each is a TokenReview on
    /// the apiserver; IPv6 clients count per /64). More get 429 with Retry-After. The address is
    /// the connection's peer, or the client a trusted proxy names (`--forwarded-trusted`).
    #[arg(long, env = "WUKONG_SIGN_IN_ATTEMPTS_PER_MINUTE", default_value_t = crate::auth::DEFAULT_SIGN_IN_ATTEMPTS_PER_MINUTE)]
    pub sign_in_attempts_per_minute: u32,

    /// The reverse proxies or ingress controllers in front of the console (comma-separated
    /// CIDRs). A request from one of them counts, for the per-address sign-in limit, against the
    /// client its `X-Forwarded-For` names (the rightmost address that is not itself one of these);
    /// from any other address the header is ignored (anyone could send it). Without it, everyone
    /// behind a proxy shares the proxy's allowance.
    #[arg(long, env = "WUKONG_FORWARDED_TRUSTED", value_delimiter = ',', value_parser = parse_net)]
    pub forwarded_trusted: Vec<IpNet>,

    /// Serve `/metrics` on this address (e.g. 0.0.0.0:9090) instead of the pages' address, which
    /// then answers 404 for it. Behind an Ingress everything on the pages' address is public; on
    /// its own port only Prometheus need reach it (the install's NetworkPolicy).
    #[arg(long, env = "WUKONG_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Live connections (one per browser tab) a signed-in person may hold at once; more are
    /// refused with 429. Not counted without sign-in (--auth=none).
    #[arg(long, env = "WUKONG_SOCKETS_PER_PERSON", default_value_t = 20)]
    pub sockets_per_person: usize,

    /// View changes (filter, sort, page) one live connection may send per second; a connection
    /// sending more is closed (1008) and reconnects.
    #[arg(long, env = "WUKONG_SOCKET_VIEWS_PER_SECOND", default_value_t = 20)]
    pub socket_views_per_second: u32,

    /// A live connection is closed after this many minutes and the browser reconnects, checked
    /// again on the way in. In --auth=proxy mode this is how soon a person removed at the proxy
    /// stops receiving changes.
    #[arg(long, env = "WUKONG_SOCKET_MAX_MINUTES", default_value_t = 60)]
    pub socket_max_minutes: u64,

    /// The lifecycle controller's leader-election Lease, `NAMESPACE/NAME`: while nobody holds it
    /// the page says that no controller is running and requests wait. `none`: do not look (rows
    /// then read "waiting for the controller" only after a request has gone unanswered for 15 s).
    /// The console's ServiceAccount needs get/list/watch on that Lease (deploy/base/rbac/console.yaml).
    #[arg(long, env = "WUKONG_CONTROLLER_LEASE", default_value = "wukong-system/wukong-controller", value_parser = parse_lease)]
    pub controller_lease: LeaseChoice,

    /// `--auth=token`: where sessions are kept. `secrets`: one Secret per session in
    /// --session-namespace, so several replicas share them and a restart signs nobody out (the
    /// ServiceAccount needs the Role in deploy/base/rbac/console.yaml). `memory`: this process only
    /// (one replica; a restart signs everyone out).
    #[arg(long, env = "WUKONG_SESSION_STORE", value_enum, default_value_t = SessionStoreChoice::Secrets)]
    pub session_store: SessionStoreChoice,

    /// The namespace of the session Secrets [default: POD_NAMESPACE, else the pod's
    /// ServiceAccount namespace, else wukong-system].
    #[arg(long, env = "WUKONG_SESSION_NAMESPACE")]
    pub session_namespace: Option<String>,

    /// Log as JSON lines (each with the request id of the request it was written for).
    #[arg(long, env = "WUKONG_LOG_JSON")]
    pub log_json: bool,

    /// On SIGTERM: every live socket is closed at once (1001: its browser reconnects, to another
    /// replica), no new connection is accepted, and requests in flight (actions being written)
    /// get this many seconds to finish before the process exits. Keep it under the pod's
    /// terminationGracePeriodSeconds.
    #[arg(long, env = "WUKONG_SHUTDOWN_SECONDS", default_value_t = 20)]
    pub shutdown_seconds: u64,
}

/// Where `--auth=token` keeps its sessions (`--session-store`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SessionStoreChoice {
    /// One Secret per session in the console's namespace: shared by every replica.
    Secrets,
    /// This process's memory: one replica only.
    Memory,
}

/// `--controller-lease`: a Lease, or `none`.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaseChoice(pub Option<wukong_cluster::presence::LeaseRef>);

fn parse_lease(text: &str) -> Result<LeaseChoice, String> {
    if text == "none" {
        return Ok(LeaseChoice(None));
    }
    wukong_cluster::presence::LeaseRef::parse(text).map(|l| LeaseChoice(Some(l)))
}

/// Which cluster the console talks to, and why.
#[derive(Clone, Debug, PartialEq)]
pub enum BackendChoice {
    Sandbox { reason: String },
    Kubernetes { source: String },
}

impl Config {
    /// The live connections' limits from the flags.
    pub fn socket_limits(&self) -> crate::sockets::SocketLimits {
        crate::sockets::SocketLimits {
            per_person: self.sockets_per_person.max(1),
            views_per_second: self.socket_views_per_second.max(1),
            max_age: Duration::from_secs(self.socket_max_minutes.max(1) * 60),
        }
    }

    /// The sign-in mode, checked against where the console runs: `none` only with the sandbox or
    /// on a loopback address, `token` only with a cluster, `proxy` only with trusted addresses.
    pub fn auth_mode(&self, sandbox: bool, addr: SocketAddr) -> Result<Mode, String> {
        let choice = self.auth.unwrap_or(if sandbox {
            AuthChoice::None
        } else {
            AuthChoice::Token
        });
        match choice {
            AuthChoice::None if sandbox || addr.ip().is_loopback() => Ok(Mode::None),
            AuthChoice::None => Err(format!(
                "--auth=none lets everyone who reaches {addr} act as the console itself; it is allowed only with --sandbox or on a loopback address (use --auth=token or --auth=proxy)"
            )),
            AuthChoice::Token if sandbox => Err(
                "--auth=token signs people in with Kubernetes tokens; the sandbox has none (use --auth=none)".into(),
            ),
            AuthChoice::Token => Ok(Mode::Token(SessionPolicy {
                idle: Duration::from_secs(self.session_idle_minutes.max(1) * 60),
                absolute: Duration::from_secs(self.session_max_hours.max(1) * 3600),
                token_recheck: Duration::from_secs(self.token_recheck_seconds.max(1)),
                secure_cookie: self.secure_cookie,
            })),
            AuthChoice::Proxy if self.auth_proxy_trusted.is_empty() => Err(
                "--auth=proxy needs --auth-proxy-trusted=CIDR[,CIDR]: the addresses of the authenticating proxy".into(),
            ),
            AuthChoice::Proxy => Ok(Mode::Proxy(ProxyPolicy {
                trusted: self.auth_proxy_trusted.clone(),
                user_header: self.auth_proxy_user_header.to_ascii_lowercase(),
                groups_header: self.auth_proxy_groups_header.to_ascii_lowercase(),
                allow_system_names: self.auth_proxy_allow_system_names,
            })),
        }
    }

    /// The host names the console answers to (see `--public-url`), and HSTS. Without a flag, a
    /// loopback address answers to its loopback names and a specific IP to itself; on every
    /// interface (0.0.0.0, [::]) no name is safe to assume, so the console does not start.
    pub fn edge(&self, addr: SocketAddr) -> Result<Edge, String> {
        let named: Vec<AllowedHost> = self
            .public_url
            .iter()
            .chain(&self.allowed_hosts)
            .cloned()
            .collect();
        let hosts = if !named.is_empty() {
            AllowedHosts::new(named)
        } else if addr.ip().is_loopback() {
            AllowedHosts::loopback(addr.ip(), Some(addr.port()))
        } else if addr.ip().is_unspecified() {
            return Err(format!(
                "--addr {addr} accepts connections for any host name; say which names people reach                  the console by, e.g. --public-url=https://console.example.com and/or                  --allowed-hosts=HOST[:PORT] (requests for other names are refused, which stops                  DNS-rebinding pages)"
            ));
        } else {
            AllowedHosts::address(addr.ip(), addr.port())
        };
        Ok(Edge {
            hosts,
            https: self.secure_cookie,
            forwarders: self.forwarded_trusted.clone(),
            metrics_on_main: self.metrics_addr.is_none(),
        })
    }

    /// The sandbox when asked for, or when there is no kubeconfig and no in-cluster config.
    pub fn backend(&self, home: Option<PathBuf>, in_cluster: bool) -> BackendChoice {
        if self.sandbox {
            return BackendChoice::Sandbox {
                reason: "--sandbox was given".into(),
            };
        }
        if let Some(path) = &self.kubeconfig {
            return BackendChoice::Kubernetes {
                source: format!("kubeconfig {}", path.display()),
            };
        }
        if in_cluster {
            return BackendChoice::Kubernetes {
                source: "in-cluster service account".into(),
            };
        }
        match home
            .map(|h| h.join(".kube").join("config"))
            .filter(|p| p.exists())
        {
            Some(path) => BackendChoice::Kubernetes {
                source: format!("kubeconfig {}", path.display()),
            },
            None => BackendChoice::Sandbox {
                reason: "no kubeconfig and no in-cluster config found".into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Config {
        Config::parse_from(std::iter::once("wukong-console").chain(args.iter().copied()))
    }

    /// The defaults the trust issue names (issue 12), written out here so that changing one is a
    /// deliberate act: a person who sets no flag gets exactly these.
    #[test]
    fn the_limits_default_to_what_the_documentation_promises() {
        let c = config(&[]);
        assert_eq!(c.sockets_per_person, 20);
        assert_eq!(c.socket_views_per_second, 20);
        assert_eq!(c.socket_max_minutes, 60);
        assert_eq!(c.bulk_vms_per_minute, 2_000);
        assert_eq!(c.bulk_max_vms, 5_000);
        assert_eq!(c.actions_per_minute, 120);
        assert_eq!(c.sign_in_attempts_per_minute, 10);
        assert_eq!(c.token_recheck_seconds, 60);
        assert_eq!(c.rbac_cache_seconds, 10);
        assert!(!c.auth_proxy_allow_system_names);
        assert!(!c.secure_cookie);
        let limits = c.socket_limits();
        assert_eq!(limits.per_person, 20);
        assert_eq!(limits.max_age, Duration::from_secs(3600));
    }

    #[test]
    fn sandbox_is_the_default_without_any_cluster_config() {
        let choice = config(&[]).backend(Some("/nonexistent-home".into()), false);
        assert!(
            matches!(choice, BackendChoice::Sandbox { .. }),
            "{choice:?}"
        );
    }

    #[test]
    fn an_explicit_sandbox_wins_over_a_kubeconfig() {
        let choice = config(&["--sandbox", "--kubeconfig", "/tmp/kc"]).backend(None, true);
        assert!(
            matches!(choice, BackendChoice::Sandbox { .. }),
            "{choice:?}"
        );
    }

    #[test]
    fn open_access_is_only_for_the_sandbox_or_loopback() {
        let local: SocketAddr = "127.0.0.1:3000".parse().unwrap();
        let public: SocketAddr = "0.0.0.0:3000".parse().unwrap();
        assert!(matches!(
            config(&[]).auth_mode(true, public),
            Ok(Mode::None)
        ));
        assert!(matches!(
            config(&[]).auth_mode(false, public),
            Ok(Mode::Token(_))
        ));
        assert!(matches!(
            config(&["--auth", "none"]).auth_mode(false, local),
            Ok(Mode::None)
        ));
        assert!(config(&["--auth", "none"])
            .auth_mode(false, public)
            .is_err());
        assert!(config(&["--auth", "token"]).auth_mode(true, local).is_err());
        assert!(config(&["--auth", "proxy"])
            .auth_mode(false, public)
            .is_err());
        let proxy = config(&[
            "--auth",
            "proxy",
            "--auth-proxy-trusted",
            "10.0.0.0/8,127.0.0.2",
        ])
        .auth_mode(false, public);
        let Ok(Mode::Proxy(policy)) = proxy else {
            panic!("{proxy:?}")
        };
        assert_eq!(policy.trusted.len(), 2);
        assert_eq!(policy.user_header, "x-forwarded-user");
        assert!(Config::try_parse_from(["c", "--auth-proxy-trusted", "nonsense"]).is_err());
    }

    #[test]
    fn the_console_answers_to_named_hosts_or_its_loopback_names() {
        let local: SocketAddr = "127.0.0.1:3300".parse().unwrap();
        let everywhere: SocketAddr = "0.0.0.0:3000".parse().unwrap();
        let pod: SocketAddr = "10.1.2.3:3000".parse().unwrap();

        let edge = config(&[]).edge(local).expect("loopback default");
        assert!(edge.hosts.admits_host("127.0.0.1:3300"));
        assert!(edge.hosts.admits_host("localhost:3300"));
        assert!(edge.hosts.admits_host("[::1]:3300"));
        assert!(!edge.hosts.admits_host("rebind.example:3300"));
        assert!(!edge.https);

        let refused = config(&[])
            .edge(everywhere)
            .expect_err("0.0.0.0 needs a name");
        assert!(refused.contains("--public-url"), "{refused}");
        let edge = config(&[]).edge(pod).expect("a specific address");
        assert!(edge.hosts.admits_host("10.1.2.3:3000"));
        assert!(!edge.hosts.admits_host("rebind.example:3000"));

        let edge = config(&[
            "--public-url",
            "https://console.example.com,https://vms.example.com",
            "--allowed-hosts",
            "localhost:8080",
            "--secure-cookie",
        ])
        .edge(everywhere)
        .expect("named hosts");
        assert!(edge.hosts.admits_host("console.example.com"));
        assert!(edge.hosts.admits_host("vms.example.com"));
        assert!(edge.hosts.admits_host("localhost:8080"));
        assert!(!edge.hosts.admits_host("localhost:3000"));
        assert!(edge.https);
        assert!(Config::try_parse_from(["c", "--public-url", "console.example.com"]).is_err());
        assert!(Config::try_parse_from(["c", "--allowed-hosts", "https://x"]).is_err());
    }

    #[test]
    fn a_kubeconfig_or_in_cluster_config_selects_kubernetes() {
        let choice = config(&["--kubeconfig", "/tmp/kc"]).backend(None, false);
        assert!(matches!(choice, BackendChoice::Kubernetes { .. }));
        let choice = config(&[]).backend(None, true);
        assert!(matches!(choice, BackendChoice::Kubernetes { .. }));
    }
}
