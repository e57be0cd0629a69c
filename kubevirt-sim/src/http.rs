//! virt-api's side: the `subresources.kubevirt.io/v1` API as kube-apiserver's aggregation layer
//! calls it, plus the discovery documents the aggregator needs to mark the APIService available.

use crate::hypervisor::CallRequest;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tracing::info;
use wukong_lifecycle::kubevirt::Call;
use wukong_sim::kubevirt::ApiError;

const GROUP: &str = "subresources.kubevirt.io";
const GROUP_VERSION: &str = "subresources.kubevirt.io/v1";

pub fn router(calls: mpsc::Sender<CallRequest>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/apis", get(api_group_list))
        .route("/apis/subresources.kubevirt.io", get(api_group))
        .route("/apis/subresources.kubevirt.io/v1", get(api_resource_list))
        .route(
            "/apis/subresources.kubevirt.io/v1/namespaces/{namespace}/{resource}/{name}/{subresource}",
            put(subresource),
        )
        .fallback(|| async { status(&ApiError { code: 404, message: "the server could not find the requested resource".into() }) })
        .with_state(calls)
}

fn group() -> Value {
    json!({
        "name": GROUP,
        "versions": [{ "groupVersion": GROUP_VERSION, "version": "v1" }],
        "preferredVersion": { "groupVersion": GROUP_VERSION, "version": "v1" },
    })
}

async fn api_group_list() -> Json<Value> {
    Json(json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": [group()] }))
}

async fn api_group() -> Json<Value> {
    let mut g = group();
    g["kind"] = "APIGroup".into();
    g["apiVersion"] = "v1".into();
    Json(g)
}

async fn api_resource_list() -> Json<Value> {
    let resource = |name: &str, kind: &str| json!({ "name": name, "singularName": "", "namespaced": true, "kind": kind, "verbs": ["update"] });
    Json(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": GROUP_VERSION,
        "resources": [
            resource("virtualmachines/start", "VirtualMachine"),
            resource("virtualmachines/stop", "VirtualMachine"),
            resource("virtualmachines/restart", "VirtualMachine"),
            resource("virtualmachineinstances/pause", "VirtualMachineInstance"),
            resource("virtualmachineinstances/unpause", "VirtualMachineInstance"),
        ],
    }))
}

/// A `metav1.Status` failure, as KubeVirt answers.
fn status(e: &ApiError) -> Response {
    let code = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": e.message, "reason": e.reason(), "code": e.code,
    });
    (code, Json(body)).into_response()
}

fn bad_request(message: impl Into<String>) -> Response {
    status(&ApiError {
        code: 400,
        message: message.into(),
    })
}

/// Reads the options body KubeVirt defines for each subresource.
fn parse_call(resource: &str, subresource: &str, body: &Value) -> Result<Call, ApiError> {
    let int = |field: &str| match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| ApiError {
            code: 400,
            message: format!("{field} must be an integer"),
        }),
    };
    match (resource, subresource) {
        ("virtualmachines", "start") => Ok(Call::Start {
            paused: body.get("paused").and_then(Value::as_bool).unwrap_or(false),
        }),
        ("virtualmachines", "stop") => Ok(Call::Stop {
            grace_period: int("gracePeriod")?,
        }),
        ("virtualmachines", "restart") => Ok(Call::Restart {
            grace_period_seconds: int("gracePeriodSeconds")?,
        }),
        ("virtualmachineinstances", "pause") => Ok(Call::Pause),
        ("virtualmachineinstances", "unpause") => Ok(Call::Unpause),
        _ => Err(ApiError {
            code: 404,
            message: format!(
                "the server could not find the requested resource ({resource}/{subresource})"
            ),
        }),
    }
}

async fn subresource(
    State(calls): State<mpsc::Sender<CallRequest>>,
    Path((namespace, resource, name, subresource)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return bad_request(format!("the request body is not valid JSON: {e}")),
        }
    };
    let call = match parse_call(&resource, &subresource, &body) {
        Ok(call) => call,
        Err(e) => return status(&e),
    };
    let dry_run = body
        .get("dryRun")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let user = headers
        .get("x-remote-user")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    info!(%namespace, %name, %resource, %subresource, %user, "subresource call");
    let (reply, answer) = oneshot::channel();
    let request = CallRequest {
        namespace,
        name,
        call,
        dry_run,
        reply,
    };
    if calls.send(request).await.is_err() {
        return status(&ApiError {
            code: 503,
            message: "the simulator is shutting down".into(),
        });
    }
    match answer.await {
        Ok(Ok(())) => StatusCode::ACCEPTED.into_response(),
        Ok(Err(e)) => status(&e),
        Err(_) => status(&ApiError {
            code: 503,
            message: "the simulator is shutting down".into(),
        }),
    }
}
