//! The console against a real Kubernetes API server (kube-rs): one watcher for all Wukongs,
//! lifecycle requests as merge patches of `spec.lifecycleAction` under the `wukong-console` field
//! manager, deletes with background propagation.

use crate::{Cluster, ClusterError, WatchEvent, WatchStream};
use futures::future::BoxFuture;
use futures::StreamExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PropagationPolicy};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, Config};
use std::path::Path;
use wukong_api::{LifecycleAction, Wukong, CONSOLE_FIELD_MANAGER};
use wukong_view::{Action, ClusterInfo, ClusterKind, VmKey};

#[derive(Clone)]
pub struct KubeCluster {
    client: Client,
    info: ClusterInfo,
}

impl KubeCluster {
    /// Connects through `kubeconfig`, else the usual inference (`KUBECONFIG`, `~/.kube/config`,
    /// in-cluster service account).
    pub async fn connect(kubeconfig: Option<&Path>) -> Result<KubeCluster, ClusterError> {
        let unavailable = |e: &dyn std::fmt::Display| ClusterError::Unavailable(e.to_string());
        let config = match kubeconfig {
            Some(path) => {
                let kubeconfig = Kubeconfig::read_from(path).map_err(|e| {
                    ClusterError::Unavailable(format!(
                        "cannot read kubeconfig {}: {e}",
                        path.display()
                    ))
                })?;
                Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                    .await
                    .map_err(|e| unavailable(&e))?
            }
            None => Config::infer().await.map_err(|e| unavailable(&e))?,
        };
        KubeCluster::from_config(config)
    }

    /// A cluster from an explicit client configuration (tests use it for impersonation).
    pub fn from_config(config: Config) -> Result<KubeCluster, ClusterError> {
        let name = config
            .cluster_url
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_else(|| config.cluster_url.to_string());
        let client =
            Client::try_from(config).map_err(|e| ClusterError::Unavailable(e.to_string()))?;
        let info = ClusterInfo {
            kind: ClusterKind::Kubernetes,
            name,
        };
        Ok(KubeCluster { client, info })
    }

    fn api(&self, namespace: &str) -> Api<Wukong> {
        Api::namespaced(self.client.clone(), namespace)
    }
}

/// Maps an API error to what the person can do about it.
pub fn api_error(key: &VmKey, action: Action, error: kube::Error) -> ClusterError {
    match error {
        kube::Error::Api(status) => match status.code {
            404 => ClusterError::NotFound { key: key.clone() },
            403 => ClusterError::Forbidden {
                key: key.clone(),
                action,
                message: status.message,
            },
            409 => ClusterError::Conflict {
                key: key.clone(),
                message: status.message,
            },
            400 | 422 => ClusterError::Invalid(status.message),
            _ => ClusterError::Unavailable(format!("{} ({})", status.message, status.code)),
        },
        other => ClusterError::Unavailable(other.to_string()),
    }
}

impl Cluster for KubeCluster {
    fn info(&self) -> ClusterInfo {
        self.info.clone()
    }

    fn watch(&self) -> WatchStream {
        let api: Api<Wukong> = Api::all(self.client.clone());
        // Buffers a (re)list between Init and InitDone so the store sees one complete list; a
        // 410 Gone or a dropped connection restarts the watcher with backoff, ending in a relist.
        watcher(api, watcher::Config::default())
            .default_backoff()
            .scan(Vec::new(), |buffer: &mut Vec<Wukong>, event| {
                let out = match event {
                    Ok(watcher::Event::Init) => {
                        buffer.clear();
                        None
                    }
                    Ok(watcher::Event::InitApply(wukong)) => {
                        buffer.push(wukong);
                        None
                    }
                    Ok(watcher::Event::InitDone) => {
                        Some(WatchEvent::Restarted(std::mem::take(buffer)))
                    }
                    Ok(watcher::Event::Apply(wukong)) => Some(WatchEvent::Applied(wukong)),
                    Ok(watcher::Event::Delete(wukong)) => Some(WatchEvent::Deleted(wukong)),
                    Err(e) => Some(WatchEvent::Interrupted(format!(
                        "watch on the API server failed: {e}"
                    ))),
                };
                futures::future::ready(Some(out))
            })
            .filter_map(futures::future::ready)
            .boxed()
    }

    fn get<'a>(&'a self, key: &'a VmKey) -> BoxFuture<'a, Result<Wukong, ClusterError>> {
        Box::pin(async move {
            self.api(&key.namespace)
                .get(&key.name)
                .await
                .map_err(|e| api_error(key, Action::Start, e))
        })
    }

    fn request_action<'a>(
        &'a self,
        key: &'a VmKey,
        request: LifecycleAction,
        resource_version: Option<String>,
    ) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async move {
            let action = request.action();
            // The resource version makes the write conditional: a concurrent change answers 409.
            let patch = serde_json::json!({
                "metadata": { "resourceVersion": resource_version },
                "spec": { "lifecycleAction": request },
            });
            let params = PatchParams {
                field_manager: Some(CONSOLE_FIELD_MANAGER.to_owned()),
                ..PatchParams::default()
            };
            self.api(&key.namespace)
                .patch(&key.name, &params, &Patch::Merge(&patch))
                .await
                .map(drop)
                .map_err(|e| api_error(key, action, e))
        })
    }

    fn delete<'a>(&'a self, key: &'a VmKey) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async move {
            // Background: the Wukong goes at once from the API's point of view and its finalizer
            // (the lifecycle controller) stops and deletes the VM. Foreground would wait for the
            // garbage collector to remove owned objects first.
            let params = DeleteParams {
                propagation_policy: Some(PropagationPolicy::Background),
                ..DeleteParams::default()
            };
            self.api(&key.namespace)
                .delete(&key.name, &params)
                .await
                .map(drop)
                .map_err(|e| api_error(key, Action::Delete, e))
        })
    }
}
