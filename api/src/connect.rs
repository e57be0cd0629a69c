//! How every Wukong process finds its cluster, in one order: the console, the lifecycle
//! controller and the KubeVirt simulator all call [`Source::choose`] and [`Source::config`].
//!
//! 1. an explicit kubeconfig (the console's `--kubeconfig`);
//! 2. `KUBECONFIG` in the environment (kube's own loading: a list of files is merged);
//! 3. in a pod (`KUBERNETES_SERVICE_HOST` and `_PORT` set): the pod's ServiceAccount, from the
//!    files Kubernetes mounts (`token`, `ca.crt`, `namespace`) in
//!    `/var/run/secrets/kubernetes.io/serviceaccount`, or in `WUKONG_SERVICE_ACCOUNT_DIR` (tests
//!    write them elsewhere: kube's own in-cluster loading has no such override);
//! 4. `~/.kube/config`.
//!
//! The token file is read again as kube reads any `tokenFile` (projected tokens rotate).

use kube::config::{
    AuthInfo, Cluster, Context, KubeConfigOptions, Kubeconfig, NamedAuthInfo, NamedCluster,
    NamedContext,
};
use std::fmt;
use std::path::{Path, PathBuf};

/// Where Kubernetes mounts a pod's ServiceAccount.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// Overrides [`SERVICE_ACCOUNT_DIR`] (tests).
pub const SERVICE_ACCOUNT_DIR_ENV: &str = "WUKONG_SERVICE_ACCOUNT_DIR";

/// Where the cluster's address and credentials come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A kubeconfig file named on the command line.
    Kubeconfig(PathBuf),
    /// `KUBECONFIG` or `~/.kube/config`, loaded by kube.
    Inferred,
    /// A pod's ServiceAccount files and the apiserver's address from the environment.
    InCluster { server: String, dir: PathBuf },
}

impl Source {
    /// The source for this process's environment.
    pub fn choose(kubeconfig: Option<&Path>) -> Source {
        Source::choose_from(kubeconfig, |name| std::env::var(name).ok())
    }

    /// [`Source::choose`] with the environment given (tests).
    pub fn choose_from(kubeconfig: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Source {
        if let Some(path) = kubeconfig {
            return Source::Kubeconfig(path.to_owned());
        }
        let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        if set("KUBECONFIG").is_some() {
            return Source::Inferred;
        }
        match (
            set("KUBERNETES_SERVICE_HOST"),
            set("KUBERNETES_SERVICE_PORT"),
        ) {
            (Some(host), Some(port)) => {
                let host = host.trim();
                // An IPv6 address is bracketed in a URL.
                let host = if host.contains(':') && !host.starts_with('[') {
                    format!("[{host}]")
                } else {
                    host.to_owned()
                };
                Source::InCluster {
                    server: format!("https://{host}:{}", port.trim()),
                    dir: set(SERVICE_ACCOUNT_DIR_ENV)
                        .map(PathBuf::from)
                        .unwrap_or_else(|| PathBuf::from(SERVICE_ACCOUNT_DIR)),
                }
            }
            _ => Source::Inferred,
        }
    }

    /// The client configuration, or why there is none (a message a person can act on).
    pub async fn config(&self) -> Result<kube::Config, String> {
        match self {
            Source::Kubeconfig(path) => {
                let kubeconfig = Kubeconfig::read_from(path)
                    .map_err(|e| format!("cannot read kubeconfig {}: {e}", path.display()))?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                    .await
                    .map_err(|e| format!("kubeconfig {}: {e}", path.display()))
            }
            Source::Inferred => kube::Config::infer()
                .await
                .map_err(|e| format!("no cluster found: set KUBECONFIG, or run in a pod ({e})")),
            Source::InCluster { server, dir } => {
                let file = |name: &str| {
                    let path = dir.join(name);
                    if path.is_file() {
                        Ok(path)
                    } else {
                        Err(format!(
                            "in a pod but {} is missing (is the ServiceAccount token mounted? automountServiceAccountToken)",
                            path.display()
                        ))
                    }
                };
                let token = file("token")?;
                let ca = file("ca.crt")?;
                let namespace = std::fs::read_to_string(dir.join("namespace"))
                    .ok()
                    .map(|n| n.trim().to_owned())
                    .filter(|n| !n.is_empty());
                kube::Config::from_custom_kubeconfig(
                    in_cluster_kubeconfig(server, &token, &ca, namespace),
                    &KubeConfigOptions::default(),
                )
                .await
                .map_err(|e| format!("in-cluster configuration from {}: {e}", dir.display()))
            }
        }
    }

    /// The namespace this process runs in, when it runs in a pod (its ServiceAccount's).
    pub fn pod_namespace(&self) -> Option<String> {
        match self {
            Source::InCluster { dir, .. } => std::fs::read_to_string(dir.join("namespace"))
                .ok()
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty()),
            _ => None,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Kubeconfig(path) => write!(f, "kubeconfig {}", path.display()),
            Source::Inferred => f.write_str("KUBECONFIG or ~/.kube/config"),
            Source::InCluster { server, dir } => {
                write!(f, "in-cluster ServiceAccount ({server}, {})", dir.display())
            }
        }
    }
}

/// A pod's ServiceAccount written as a kubeconfig, so kube loads it as it loads any other: the
/// CA and token are files (the token is read again when it rotates).
fn in_cluster_kubeconfig(
    server: &str,
    token: &Path,
    ca: &Path,
    namespace: Option<String>,
) -> Kubeconfig {
    const NAME: &str = "in-cluster";
    Kubeconfig {
        clusters: vec![NamedCluster {
            name: NAME.into(),
            cluster: Some(Cluster {
                server: Some(server.to_owned()),
                certificate_authority: Some(ca.display().to_string()),
                ..Cluster::default()
            }),
            ..NamedCluster::default()
        }],
        auth_infos: vec![NamedAuthInfo {
            name: NAME.into(),
            auth_info: Some(AuthInfo {
                token_file: Some(token.display().to_string()),
                ..AuthInfo::default()
            }),
            ..NamedAuthInfo::default()
        }],
        contexts: vec![NamedContext {
            name: NAME.into(),
            context: Some(Context {
                cluster: NAME.into(),
                user: Some(NAME.into()),
                namespace,
                ..Context::default()
            }),
            ..NamedContext::default()
        }],
        current_context: Some(NAME.into()),
        ..Kubeconfig::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn an_explicit_kubeconfig_wins_then_kubeconfig_then_the_pod() {
        let pod = [
            ("KUBERNETES_SERVICE_HOST", "10.0.0.1"),
            ("KUBERNETES_SERVICE_PORT", "443"),
        ];
        assert_eq!(
            Source::choose_from(Some(Path::new("/k")), env(&pod)),
            Source::Kubeconfig("/k".into())
        );
        let both = [pod[0], pod[1], ("KUBECONFIG", "/x")];
        assert_eq!(Source::choose_from(None, env(&both)), Source::Inferred);
        assert_eq!(
            Source::choose_from(None, env(&pod)),
            Source::InCluster {
                server: "https://10.0.0.1:443".into(),
                dir: SERVICE_ACCOUNT_DIR.into()
            }
        );
        assert_eq!(Source::choose_from(None, env(&[])), Source::Inferred);
        // Only the host: not a pod (client-go wants both).
        assert_eq!(Source::choose_from(None, env(&pod[..1])), Source::Inferred);
    }

    #[test]
    fn the_service_account_directory_can_be_moved_and_ipv6_is_bracketed() {
        let vars = [
            ("KUBERNETES_SERVICE_HOST", "fd00::1"),
            ("KUBERNETES_SERVICE_PORT", "6443"),
            (SERVICE_ACCOUNT_DIR_ENV, "/tmp/sa"),
        ];
        assert_eq!(
            Source::choose_from(None, env(&vars)),
            Source::InCluster {
                server: "https://[fd00::1]:6443".into(),
                dir: "/tmp/sa".into()
            }
        );
    }

    #[tokio::test]
    async fn missing_service_account_files_are_named() {
        let source = Source::InCluster {
            server: "https://127.0.0.1:6443".into(),
            dir: "/nonexistent/sa".into(),
        };
        let error = source.config().await.err().unwrap_or_default();
        assert!(error.contains("/nonexistent/sa/token"), "{error}");
    }
}
