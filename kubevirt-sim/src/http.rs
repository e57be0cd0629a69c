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
use wukong_sim::kubevirt::{ApiError, Handler, Received};

const GROUP: &str = "subresources.kubevirt.io";
const GROUP_VERSION: &str = "subresources.kubevirt.io/v1";

pub fn router(calls: mpsc::Sender<CallRequest>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/apis", get(api_group_list))
        .route("/apis/subresources.kubevirt.io", get(api_group))
        .route("/apis/subresources.kubevirt.io/v1", get(api_resource_list))
        .route("/apis/subresources.kubevirt.io/v1/version", get(version))
        .route(
            "/apis/subresources.kubevirt.io/v1/namespaces/{namespace}/{resource}/{name}/{subresource}",
            put(subresource),
        )
        .fallback(|| async { status(&not_found_route("the server could not find the requested resource")) })
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
            resource("virtualmachineinstances/softreboot", "VirtualMachineInstance"),
        ],
    }))
}

/// The KubeVirt version this simulator answers as (virt-api's `version.Get()`, which `virtctl
/// version` and other commands read).
async fn version() -> Json<Value> {
    Json(json!({
        "gitVersion": "v1.8.0",
        "gitCommit": "wukong-kubevirt-sim",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "simulated",
        "compiler": "gc",
        "platform": "linux/amd64",
    }))
}

/// A 404 of the router itself (an unknown path), in the apiserver's shape.
fn not_found_route(message: impl Into<String>) -> ApiError {
    ApiError {
        code: 404,
        reason: "NotFound",
        message: message.into(),
        details: None,
    }
}

/// A `metav1.Status` failure, as virt-api's `writeError` writes it.
fn status(e: &ApiError) -> Response {
    let code = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": e.message, "reason": e.reason, "code": e.code,
    });
    if let Some(d) = &e.details {
        let mut details = serde_json::Map::new();
        if let Some(name) = &d.name {
            details.insert("name".into(), json!(name));
        }
        if let Some(group) = d.group {
            details.insert("group".into(), json!(group));
        }
        if let Some(kind) = d.kind {
            details.insert("kind".into(), json!(kind));
        }
        if !d.causes.is_empty() {
            let causes: Vec<Value> = d.causes.iter().map(|m| json!({ "message": m })).collect();
            details.insert("causes".into(), json!(causes));
        }
        body["details"] = Value::Object(details);
    }
    (code, Json(body)).into_response()
}

/// `decodeBody`'s refusal of a body it cannot read.
fn unreadable_body(detail: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!(
        "Can not unmarshal Request body to struct, error: {detail}"
    ))
}

/// An optional int64 field of an options body, read as virt-api's Go decoder reads it into an
/// `*int64`: a JSON integer from i64::MIN to i64::MAX, else 400. A float (`9e18`, `30.0`) or an
/// integer beyond int64 is refused, never rounded or clamped: Go's `encoding/json` refuses them
/// too, and a silently changed grace period would be worse than a clear refusal. The range of
/// values that are accepted is the model's to judge ([`wukong_sim::kubevirt::answer`]); the model
/// clamps what it counts on its clock.
fn int64_field(body: &Value, field: &str) -> Result<Option<i64>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| {
            unreadable_body(format!(
                "{field} must be an integer from {} to {} (seconds), not {v}",
                i64::MIN,
                i64::MAX
            ))
        }),
    }
}

/// Whether a call is a dry run, as each handler reads `dryRun`: pause and unpause only when its
/// first value is `All`; soft reboot ignores it; start, stop and restart hand it to the API server's
/// `PatchOptions`, which takes only `All` (anything else fails the patch: a 500 from virt-api).
fn dry_run_of(handler: Handler, body: &Value) -> Result<bool, ApiError> {
    let values: Vec<&str> = body
        .get("dryRun")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    match handler {
        Handler::SoftReboot => Ok(false),
        Handler::Pause | Handler::Unpause => Ok(values.first() == Some(&"All")),
        Handler::Start | Handler::Stop | Handler::Restart => {
            match values.iter().find(|v| **v != "All") {
                Some(other) => Err(ApiError::internal(format!(
                    "dryRun: Unsupported value: \"{other}\": supported values: \"All\""
                ))),
                None => Ok(!values.is_empty()),
            }
        }
    }
}

/// The handler a path reaches, `None` for a path virt-api does not serve.
fn handler_of(resource: &str, subresource: &str) -> Option<Handler> {
    Some(match (resource, subresource) {
        ("virtualmachines", "start") => Handler::Start,
        ("virtualmachines", "stop") => Handler::Stop,
        ("virtualmachines", "restart") => Handler::Restart,
        ("virtualmachineinstances", "pause") => Handler::Pause,
        ("virtualmachineinstances", "unpause") => Handler::Unpause,
        ("virtualmachineinstances", "softreboot") => Handler::SoftReboot,
        _ => return None,
    })
}

/// Reads the options body KubeVirt defines for each handler.
fn parse_call(handler: Handler, body: &Value) -> Result<Call, ApiError> {
    let int = |field: &str| int64_field(body, field);
    match handler {
        Handler::Start => Ok(Call::Start {
            paused: match body.get("paused") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(paused)) => *paused,
                Some(v) => {
                    return Err(unreadable_body(format!(
                        "paused must be true or false, not {v}"
                    )))
                }
            },
        }),
        Handler::Stop => Ok(Call::Stop {
            grace_period: int("gracePeriod")?,
        }),
        Handler::Restart => Ok(Call::Restart {
            grace_period_seconds: int("gracePeriodSeconds")?,
        }),
        Handler::Pause => Ok(Call::Pause),
        Handler::Unpause => Ok(Call::Unpause),
        Handler::SoftReboot => Ok(Call::SoftReboot),
    }
}

async fn subresource(
    State(calls): State<mpsc::Sender<CallRequest>>,
    Path((namespace, resource, name, subresource)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(handler) = handler_of(&resource, &subresource) else {
        return status(&not_found_route(format!(
            "the server could not find the requested resource ({resource}/{subresource})"
        )));
    };
    // Decoded here, judged by the model in the handler's own order (a start on a running VM says
    // "already running" before it looks at the body).
    let body: Result<Value, ApiError> = if body.iter().all(u8::is_ascii_whitespace) {
        Ok(json!({}))
    } else {
        serde_json::from_slice(&body).map_err(unreadable_body)
    };
    let received = Received {
        handler,
        body: body
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|body| parse_call(handler, body)),
        dry_run: body
            .as_ref()
            .map_or(Ok(false), |body| dry_run_of(handler, body)),
    };
    let user = headers
        .get("x-remote-user")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    info!(%namespace, %name, %resource, %subresource, %user, "subresource call");
    let (reply, answer) = oneshot::channel();
    let request = CallRequest {
        namespace,
        name,
        received,
        reply,
    };
    if calls.send(request).await.is_err() {
        return status(&shutting_down());
    }
    match answer.await {
        Ok(Ok(code)) => StatusCode::from_u16(code)
            .unwrap_or(StatusCode::ACCEPTED)
            .into_response(),
        Ok(Err(e)) => status(&e),
        Err(_) => status(&shutting_down()),
    }
}

fn shutting_down() -> ApiError {
    ApiError {
        code: 503,
        reason: "ServiceUnavailable",
        message: "the simulator is shutting down".into(),
        details: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use std::sync::{Arc, Mutex, PoisonError};
    use tower::ServiceExt;
    use wukong_sim::kubevirt::KvRunStrategy;
    use wukong_sim::virt::{Exit, VirtVm, MAX_COUNTED_GRACE_SECONDS};
    use wukong_sim::{Guest, Timings};

    /// The real model for one VM behind the real router; the clock is set by the test.
    struct Model {
        vm: VirtVm,
        now_ms: u64,
    }

    fn serve_model(model: Arc<Mutex<Model>>) -> Router {
        let (calls, mut receiver) = mpsc::channel::<CallRequest>(8);
        tokio::spawn(async move {
            while let Some(call) = receiver.recv().await {
                let mut m = model.lock().unwrap_or_else(PoisonError::into_inner);
                let now = m.now_ms;
                // As the hypervisor does: a dry run is answered on a copy.
                let result = if call.received.dry_run == Ok(true) {
                    m.vm.clone().receive(call.received, &call.name, now)
                } else {
                    m.vm.receive(call.received, &call.name, now)
                };
                let _ = call.reply.send(result);
            }
        });
        router(calls)
    }

    async fn put(router: &Router, subresource: &str, body: &str) -> (u16, String) {
        let resource = if matches!(subresource, "pause" | "unpause" | "softreboot") {
            "virtualmachineinstances"
        } else {
            "virtualmachines"
        };
        let request = Request::put(format!(
            "/apis/subresources.kubevirt.io/v1/namespaces/ns/{resource}/vm/{subresource}"
        ))
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .expect("a valid request");
        let response = router.clone().oneshot(request).await.expect("infallible");
        let code = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("a body");
        (code, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn huge_float_and_negative_grace_periods_end_in_a_clear_answer_never_a_panic() {
        // A running guest that ignores ACPI: only the grace deadline (or a force stop) ends it.
        let stubborn = Guest {
            ignores_acpi: true,
            ..Guest::default()
        };
        let mut vm = VirtVm::new(KvRunStrategy::Manual, None, stubborn, Timings::default());
        vm.request(Call::Start { paused: false }, "vm", 0)
            .expect("a stopped Manual VM starts");
        vm.tick(10_000);
        assert_eq!(vm.printable_status(), "Running");
        let model = Arc::new(Mutex::new(Model { vm, now_ms: 10_000 }));
        let router = serve_model(model.clone());

        // Refused at the edge, exactly as before (Go's int64 decoding refuses these too); the
        // message says what is wrong, and the VM is untouched.
        for body in [
            r#"{"gracePeriod": 9e18}"#,
            r#"{"gracePeriod": 30.0}"#,
            r#"{"gracePeriod": 9223372036854775808}"#,
            r#"{"gracePeriod": "30"}"#,
        ] {
            let (code, message) = put(&router, "stop", body).await;
            assert_eq!(code, 400, "{body}: {message}");
            assert!(
                message.contains("Can not unmarshal Request body to struct, error: gracePeriod must be an integer from"),
                "{message}"
            );
        }
        for body in [
            r#"{"gracePeriodSeconds": 9223372036854775807}"#,
            r#"{"gracePeriodSeconds": -1}"#,
            r#"{"gracePeriodSeconds": 9e18}"#,
        ] {
            let (code, message) = put(&router, "restart", body).await;
            assert_eq!(code, 400, "{body}: {message}");
        }
        assert_eq!(
            model
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .vm
                .printable_status(),
            "Running"
        );

        // Accepted as KubeVirt accepts them; the VMI keeps the value, the clock counts the clamp.
        let (code, message) = put(&router, "stop", r#"{"gracePeriod": 9000000000000000000}"#).await;
        assert_eq!(code, 202, "{message}");
        let (code, message) = put(
            &router,
            "stop",
            &format!(r#"{{"gracePeriod": {}}}"#, i64::MAX),
        )
        .await;
        assert_eq!(code, 202, "{message}");
        {
            let m = model.lock().unwrap_or_else(PoisonError::into_inner);
            assert_eq!(
                m.vm.vmi().and_then(|vmi| vmi.grace_period_seconds),
                Some(i64::MAX)
            );
            let clamped_ms = u64::try_from(MAX_COUNTED_GRACE_SECONDS).unwrap_or(0) * 1000;
            assert_eq!(m.vm.next_event_at(), Some(10_000 + clamped_ms));
            assert_eq!(m.vm.printable_status(), "Stopping");
        }

        // The force stop still ends it promptly.
        model.lock().unwrap_or_else(PoisonError::into_inner).now_ms = 12_000;
        let (code, message) = put(&router, "stop", r#"{"gracePeriod": 0}"#).await;
        assert_eq!(code, 202, "{message}");
        let mut m = model.lock().unwrap_or_else(PoisonError::into_inner);
        let due = m.vm.next_event_at().expect("a kill is due");
        assert!(due <= 13_000, "killed within kill_ms, due at {due}");
        m.vm.tick(due);
        assert_eq!(m.vm.printable_status(), "Stopped");
        assert_eq!(m.vm.last_exit(), Some(Exit::Killed));
    }

    #[tokio::test]
    async fn answers_have_kubevirts_codes_status_bodies_and_dry_run_rules() {
        let mut vm = VirtVm::new(
            KvRunStrategy::Manual,
            None,
            Guest::default(),
            Timings::default(),
        );
        vm.tick(0);
        let model = Arc::new(Mutex::new(Model { vm, now_ms: 0 }));
        let router = serve_model(model.clone());

        // No VMI: pause is a 404 with KubeVirt's Status body and details.
        let (code, body) = put(&router, "pause", "{}").await;
        assert_eq!(code, 404, "{body}");
        let status: Value = serde_json::from_str(&body).expect("a JSON Status");
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["reason"], "NotFound");
        assert_eq!(
            status["message"],
            "virtualmachineinstance.kubevirt.io \"vm\" not found"
        );
        assert_eq!(status["details"]["kind"], "virtualmachineinstance");
        assert_eq!(status["details"]["group"], "kubevirt.io");

        // A start's paused must be a boolean.
        let (code, body) = put(&router, "start", r#"{"paused": "yes"}"#).await;
        assert_eq!(code, 400, "{body}");
        // start/stop/restart take only dryRun ["All"], as the API server does.
        let (code, body) = put(&router, "start", r#"{"dryRun": ["Some"]}"#).await;
        assert_eq!(code, 500, "{body}");
        assert!(body.contains("Internal error occurred: dryRun"), "{body}");
        let (code, _) = put(&router, "start", r#"{"dryRun": ["All"]}"#).await;
        assert_eq!(code, 202);
        assert!(
            model
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .vm
                .vmi()
                .is_none(),
            "a dry run changes nothing"
        );
        let (code, _) = put(&router, "start", "{}").await;
        assert_eq!(code, 202);
        {
            let mut m = model.lock().unwrap_or_else(PoisonError::into_inner);
            m.vm.tick(10_000);
            m.now_ms = 10_000;
        }
        // Pause of a running VMI: 200 with no body; a second one: 409 with details.
        let (code, body) = put(&router, "pause", "{}").await;
        assert_eq!((code, body.as_str()), (200, ""));
        let (code, body) = put(&router, "softreboot", "").await;
        assert_eq!(code, 200, "{body}");

        let version = router
            .clone()
            .oneshot(
                Request::get("/apis/subresources.kubevirt.io/v1/version")
                    .body(Body::empty())
                    .expect("a valid request"),
            )
            .await
            .expect("infallible");
        assert_eq!(version.status().as_u16(), 200);
        let bytes = axum::body::to_bytes(version.into_body(), 1 << 20)
            .await
            .expect("a body");
        let info: Value = serde_json::from_slice(&bytes).expect("version info");
        assert_eq!(info["gitVersion"], "v1.8.0");
    }
}
