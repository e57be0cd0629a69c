//! Calls to KubeVirt's `subresources.kubevirt.io/v1` API (virt-api, behind kube-apiserver's
//! aggregation layer), with the option bodies KubeVirt defines.

use kube::Client;
use serde_json::{json, Value};
use wukong_lifecycle::kubevirt::Call;

/// KubeVirt's API path; configurable for a virt-api reached some other way.
pub const DEFAULT_BASE_PATH: &str = "/apis/subresources.kubevirt.io/v1";

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// KubeVirt answered and said no (400, 403, 404, 409, "already underway"): the request is over.
    #[error("{message}")]
    Refused { code: u16, message: String },
    /// Not answered (network, API server down, 5xx): try again.
    #[error(transparent)]
    Unanswered(#[from] kube::Error),
}

#[derive(Clone)]
pub struct KubevirtClient {
    client: Client,
    base_path: String,
}

impl KubevirtClient {
    pub fn new(client: Client, base_path: impl Into<String>) -> KubevirtClient {
        KubevirtClient {
            client,
            base_path: base_path.into().trim_end_matches('/').to_owned(),
        }
    }

    pub async fn call(&self, namespace: &str, name: &str, call: Call) -> Result<(), CallError> {
        let path = format!(
            "{}/namespaces/{namespace}/{}/{name}/{}",
            self.base_path,
            call.resource(),
            call.subresource()
        );
        let request = http::Request::put(path)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(&body(call)).unwrap_or_default())
            .map_err(|e| CallError::Unanswered(kube::Error::HttpError(e)))?;
        match self.client.request_text(request).await {
            Ok(_) => Ok(()),
            // KubeVirt's answers to a request it will not carry out. 500 "already underway" is
            // one too (a state change is pending); other 5xx mean it did not answer. A 403 is
            // final either way: the controller's own RBAC, or KubeVirt refusing to pause a VM with
            // a non-guest-agent liveness probe; retrying would not change it, the message says it.
            Err(kube::Error::Api(status))
                if matches!(status.code, 400 | 403 | 404 | 409 | 422)
                    || (status.code == 500 && status.message.contains("already underway")) =>
            {
                Err(CallError::Refused {
                    code: status.code,
                    message: status.message.clone(),
                })
            }
            Err(e) => Err(CallError::Unanswered(e)),
        }
    }
}

/// `StartOptions`, `StopOptions`, `RestartOptions`, or the empty options of pause, unpause and
/// soft-reboot.
pub fn body(call: Call) -> Value {
    match call {
        Call::Start { paused: false } => json!({}),
        Call::Start { paused: true } => json!({ "paused": true }),
        Call::Stop {
            grace_period: Some(g),
        } => json!({ "gracePeriod": g }),
        Call::Stop { grace_period: None } => json!({}),
        Call::Restart {
            grace_period_seconds: Some(g),
        } => json!({ "gracePeriodSeconds": g }),
        Call::Restart {
            grace_period_seconds: None,
        } => json!({}),
        Call::Pause | Call::Unpause | Call::SoftReboot => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_kubevirts_options() {
        assert_eq!(
            body(Call::Stop {
                grace_period: Some(0)
            }),
            json!({ "gracePeriod": 0 })
        );
        assert_eq!(
            body(Call::Restart {
                grace_period_seconds: Some(0)
            }),
            json!({ "gracePeriodSeconds": 0 })
        );
        assert_eq!(body(Call::Start { paused: false }), json!({}));
    }
}
