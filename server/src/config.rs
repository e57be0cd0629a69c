//! Command-line flags, each with an environment variable fallback.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

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

    /// Use the built-in simulated cluster even if a kubeconfig is found.
    #[arg(long, env = "WUKONG_SANDBOX")]
    pub sandbox: bool,

    /// Kubeconfig of the cluster to manage.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// Makes the sandbox's simulated VMs this many times faster (demos, tests).
    #[arg(long, env = "WUKONG_SANDBOX_SPEED", default_value_t = 1.0)]
    pub sandbox_speed: f64,
}

/// Which cluster the console talks to, and why.
#[derive(Clone, Debug, PartialEq)]
pub enum BackendChoice {
    Sandbox { reason: String },
    Kubernetes { source: String },
}

impl Config {
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
    fn a_kubeconfig_or_in_cluster_config_selects_kubernetes() {
        let choice = config(&["--kubeconfig", "/tmp/kc"]).backend(None, false);
        assert!(matches!(choice, BackendChoice::Kubernetes { .. }));
        let choice = config(&[]).backend(None, true);
        assert!(matches!(choice, BackendChoice::Kubernetes { .. }));
    }
}
