//! Property tests of the console's HTTP edge (issue 12, item 11), in process on the sandbox:
//! whatever is POSTed to a server function (any bytes, any content type, any form fields, any JSON
//! for `bulk_action`, huge values) gets no 5xx; a malformed or refused request gets a 4xx with a
//! message and changes nothing in the sandbox; any query string on the page gets no 5xx.
//! 64–128 cases per property; the file runs in a few seconds.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{console_router, loopback, percent_encode_some, run, runtime, sandbox};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{json, Value};
use server::auth::{Gate, Mode};
use std::sync::Arc;
use std::time::Duration;
use wukong_cluster::{ActionBudget, Console, OpenAccess};
use wukong_view::{Action, VmKey, MAX_BULK_KEYS};

/// The server functions that need arguments: nothing malformed may reach the cluster.
const WITH_ARGUMENTS: [&str; 4] = [
    "/api/request_action",
    "/api/delete_vm",
    "/api/vm_history",
    "/api/bulk_action",
];
/// The server functions whose arguments are all optional (any form may be a good one).
const WITHOUT_ARGUMENTS: [&str; 2] = ["/api/list_vms", "/api/session"];

struct Harness {
    runtime: tokio::runtime::Runtime,
    app: axum::Router,
    console: Console,
}

/// What a request could change in the sandbox: which Wukongs exist (and which object each is), and
/// the requests they carry. A VM's state may move on its own; these only move for a request.
type Fingerprint = Vec<(VmKey, String, Option<String>, Option<i64>, Option<Action>)>;

impl Harness {
    fn new() -> Harness {
        let runtime = runtime();
        let (app, console) = runtime.block_on(async {
            let mut console = Console::open(sandbox());
            // Refusals must come from validation, not from a spent budget.
            console.budget = Arc::new(ActionBudget::new(1_000_000));
            console.store.wait_ready().await;
            let app = console_router(
                console.clone(),
                Gate::new(Mode::None, Arc::new(OpenAccess)),
                loopback(None),
            );
            (app, console)
        });
        Harness {
            runtime,
            app,
            console,
        }
    }

    fn send(&self, request: Request<Body>) -> (StatusCode, String) {
        let answer = self.runtime.block_on(common::send(&self.app, request));
        (answer.status, answer.body)
    }

    fn post(&self, path: &str, content_type: Option<&str>, body: Vec<u8>) -> (StatusCode, String) {
        let mut request = Request::post(path);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        self.send(request.body(Body::from(body)).expect("a request"))
    }

    fn fingerprint(&self) -> Fingerprint {
        let rows = self.console.store.snapshot().rows;
        rows.into_iter()
            .map(|r| {
                (
                    r.key,
                    r.uid,
                    r.last_action,
                    r.last_action_time_ms,
                    r.pending,
                )
            })
            .collect()
    }

    /// Runs `property` over `strategy` and then checks that none of it changed the sandbox.
    fn check_unchanged<S: Strategy>(
        &self,
        cases: u32,
        strategy: S,
        property: impl Fn(&Harness, S::Value) -> Result<(), TestCaseError>,
    ) {
        let before = self.fingerprint();
        run(cases, strategy, |value| property(self, value));
        // A wrongly accepted request reaches the store through the watch: give it time to.
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            self.fingerprint(),
            before,
            "refused input changed the sandbox"
        );
    }
}

/// A 4xx with something a person can read.
fn refused(status: StatusCode, body: &str, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(status.is_client_error(), "{}: {} {}", what, status, body);
    prop_assert!(
        !body.trim().is_empty(),
        "{}: {} without a message",
        what,
        status
    );
    Ok(())
}

/// Any answer but a server error; a refusal says why.
fn answered(status: StatusCode, body: &str, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(!status.is_server_error(), "{}: {} {}", what, status, body);
    if !status.is_success() && !status.is_redirection() {
        refused(status, body, what)?;
    }
    Ok(())
}

/// Text a person or an attacker might send: anything, near misses, numbers, long multi-byte text.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9._~ %+&=\\[\\]-]{0,60}",
        "[ +-]?[0-9]{0,25}",
        any::<i64>().prop_map(|n| n.to_string()),
        "[a-zé中🙂]{250,400}",
    ]
}

fn content_type() -> impl Strategy<Value = Option<&'static str>> {
    proptest::sample::select(vec![
        None,
        Some("application/x-www-form-urlencoded"),
        Some("application/json"),
        Some("text/plain"),
        Some("multipart/form-data; boundary=x"),
        Some("application/cbor"),
        Some("application/x-www-form-urlencoded; charset=utf-16"),
        Some("application/json; charset=latin1"),
        Some("*/*"),
    ])
}

fn form(fields: &[(String, String)]) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
        .into_bytes()
}

/// A field name a server function knows, or any other.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(vec![
            "namespace",
            "name",
            "action",
            "grace_period_seconds",
            "uid",
            "q",
            "sort",
            "page",
            "size",
            "target",
            "namespace[]",
            "name[0]",
        ])
        .prop_map(str::to_owned),
        any::<String>(),
    ]
}

#[test]
fn any_bytes_with_any_content_type_get_an_answer_and_change_nothing() {
    let harness = Harness::new();
    let strategy = (
        proptest::sample::select(
            WITH_ARGUMENTS
                .iter()
                .chain(&WITHOUT_ARGUMENTS)
                .collect::<Vec<_>>(),
        ),
        content_type(),
        prop_oneof![
            vec(any::<u8>(), 0..2048),
            text().prop_map(String::into_bytes),
        ],
    );
    harness.check_unchanged(128, strategy, |h, (path, content_type, body)| {
        let (status, answer) = h.post(path, content_type, body.clone());
        let what = format!(
            "{path} {content_type:?} {:?}",
            String::from_utf8_lossy(&body)
        );
        if WITH_ARGUMENTS.contains(path) {
            refused(status, &answer, &what)
        } else {
            answered(status, &answer, &what)
        }
    });
}

#[test]
fn any_form_fields_for_vms_that_do_not_exist_are_refused_with_a_reason() {
    let harness = Harness::new();
    // Names no seeded VM has: a well-formed request still gets 404, so no case may change anything.
    let strategy = (
        proptest::sample::select(WITH_ARGUMENTS[..3].to_vec()),
        vec(
            (
                field_name(),
                prop_oneof![text(), "fuzz-[a-z0-9-]{0,20}[a-z0-9]".prop_map(|s| s)],
            ),
            0..7,
        ),
    );
    harness.check_unchanged(128, strategy, |h, (path, fields)| {
        let fields: Vec<(String, String)> = fields
            .into_iter()
            .filter(|(k, v)| k != "name" || v.starts_with("fuzz-"))
            .collect();
        let body = form(&fields);
        let (status, answer) = h.post(path, Some("application/x-www-form-urlencoded"), body);
        refused(status, &answer, &format!("{path} {fields:?}"))
    });
}

/// A good request for a seeded VM, with one part made bad, dropped or doubled.
fn spoiled_request() -> impl Strategy<Value = (&'static str, Vec<(String, String)>)> {
    let bad_namespace = text().prop_filter("a bad namespace", |v| {
        wukong_view::validate_dns1123_label("namespace", v).is_err()
    });
    let bad_name = text().prop_filter("a bad name", |v| {
        wukong_view::validate_dns1123_subdomain("name", v).is_err()
    });
    let bad_action = text().prop_filter("an unknown action", |v| v.parse::<Action>().is_err());
    let bad_grace = prop_oneof![
        text().prop_filter("not a grace period", |v| v
            .trim()
            .parse::<i64>()
            .map_or(true, |g| !(0..=3600).contains(&g))),
        (3601..i64::MAX).prop_map(|g| g.to_string()),
        (i64::MIN..0).prop_map(|g| g.to_string()),
        Just("1e3".to_owned()),
        Just("99999999999999999999999".to_owned()),
    ];
    // An empty form field is no field (`uid=` reads as no uid, the same as leaving it out), so
    // it is not a spoiled uid: such a request is whole and may well be carried out.
    let bad_uid = text().prop_filter("a bad uid", |v| {
        !v.is_empty() && wukong_view::validate_uid(v).is_err()
    });
    let spoil = prop_oneof![
        bad_namespace.prop_map(|v| ("namespace", Some(v))),
        bad_name.prop_map(|v| ("name", Some(v))),
        bad_action.prop_map(|v| ("action", Some(v))),
        bad_grace.prop_map(|v| ("grace_period_seconds", Some(v))),
        bad_uid.prop_map(|v| ("uid", Some(v))),
        proptest::sample::select(vec!["namespace", "name", "action"]).prop_map(|f| (f, None)),
    ];
    (
        proptest::sample::select(vec!["/api/request_action", "/api/delete_vm"]),
        spoil,
    )
        // delete_vm has no action or grace period (unknown fields are ignored, as in any form).
        .prop_filter("a field of this function", |(path, (field, _))| {
            *path == "/api/request_action" || !matches!(*field, "action" | "grace_period_seconds")
        })
        .prop_map(|(path, (field, value))| {
            let mut fields = vec![
                ("namespace", "team-a".to_owned()),
                ("name", "web-01".to_owned()),
            ];
            if path == "/api/request_action" {
                fields.push(("action", "stop".to_owned()));
                fields.push(("grace_period_seconds", "30".to_owned()));
            }
            fields.retain(|(f, _)| *f != field);
            if let Some(value) = value {
                fields.push((field, value));
            }
            let fields = fields.into_iter().map(|(f, v)| (f.to_owned(), v)).collect();
            (path, fields)
        })
}

#[test]
fn a_spoiled_request_for_a_real_vm_is_refused_with_a_reason_and_changes_nothing() {
    let harness = Harness::new();
    harness.check_unchanged(128, spoiled_request(), |h, (path, fields)| {
        let (status, answer) = h.post(
            path,
            Some("application/x-www-form-urlencoded"),
            form(&fields),
        );
        let what = format!("{path} {fields:?}");
        refused(status, &answer, &what)?;
        prop_assert_eq!(status, StatusCode::BAD_REQUEST, "{}: {}", what, answer);
        Ok(())
    });
}

/// A JSON value of any shape, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    let keys = vec![
        "target",
        "action",
        "Keys",
        "Matching",
        "namespace",
        "name",
        "search",
        "grace_period_seconds",
    ];
    common::json_value(leaf, keys, 4, 48, 6)
}

/// A bulk action body that must be refused: one part replaced by something bad.
fn spoiled_bulk() -> impl Strategy<Value = String> {
    let good_keys = || json!({"Keys": [{"namespace": "team-a", "name": "web-01"}]});
    let bad_action = prop_oneof![
        text()
            .prop_filter("an unknown action", |v| v.parse::<Action>().is_err())
            .prop_map(Value::String),
        json_value().prop_filter("not a string", |v| !v.is_string()),
    ];
    let bad_grace = prop_oneof![
        (3601..i64::MAX).prop_map(Value::from),
        (i64::MIN..0).prop_map(Value::from),
        any::<f64>()
            .prop_filter("not a whole number", |f| f.fract() != 0.0 || !f.is_finite())
            .prop_map(Value::from),
        json_value().prop_filter("not a number", |v| !v.is_number() && !v.is_null()),
    ];
    let bad_key = prop_oneof![
        (text(), "[a-z]{1,5}")
            .prop_filter("a bad namespace", |(ns, _)| {
                wukong_view::validate_dns1123_label("n", ns).is_err()
            })
            .prop_map(|(ns, n)| json!({"namespace": ns, "name": n})),
        ("[a-z]{1,5}", text())
            .prop_filter("a bad name", |(_, n)| {
                wukong_view::validate_dns1123_subdomain("n", n).is_err()
            })
            .prop_map(|(ns, n)| json!({"namespace": ns, "name": n})),
        json_value(),
    ];
    let bad_target = prop_oneof![
        vec(bad_key, 1..4).prop_map(|keys| json!({"Keys": keys})),
        Just(json!({"Keys": []})),
        Just(
            json!({"Keys": vec![json!({"namespace": "team-a", "name": "web-01"}); MAX_BULK_KEYS + 1]})
        ),
        json_value().prop_filter("not a target", |v| serde_json::from_value::<
            wukong_view::BulkTarget,
        >(v.clone())
        .is_err()),
        // A filter no VM matches: nothing selected.
        "[a-z]{1,10}"
            .prop_map(|ns| json!({"Matching": {"namespace": format!("fuzz-{ns}"), "search": ""}})),
    ];
    prop_oneof![
        bad_action.prop_map(move |a| json!({"target": good_keys(), "action": a})),
        bad_grace.prop_map(
            move |g| json!({"target": good_keys(), "action": "stop", "grace_period_seconds": g})
        ),
        bad_target.prop_map(|t| json!({"target": t, "action": "stop"})),
        json_value(),
    ]
    .prop_map(|v| v.to_string())
}

/// Nesting deeper than any JSON parser should follow, written as text (a `Value` this deep would
/// overflow the test's own stack when dropped).
fn deep_json() -> impl Strategy<Value = String> {
    (
        100..20_000usize,
        proptest::sample::select(vec!["[", "{\"a\":"]),
    )
        .prop_map(|(depth, open)| {
            format!(
                "{{\"target\":{}null, \"action\":\"stop\"}}",
                open.repeat(depth)
            )
        })
}

#[test]
fn a_spoiled_bulk_action_is_refused_with_a_reason_and_changes_nothing() {
    let harness = Harness::new();
    let strategy = prop_oneof![4 => spoiled_bulk(), 1 => deep_json()];
    harness.check_unchanged(128, strategy, |h, text| {
        let (status, answer) = h.post(
            "/api/bulk_action",
            Some("application/json"),
            text.clone().into_bytes(),
        );
        let what: String = text.chars().take(300).collect();
        refused(status, &answer, &what)
    });
}

#[test]
fn a_body_larger_than_the_limit_is_refused_with_a_reason() {
    let harness = Harness::new();
    let strategy = (
        proptest::sample::select(
            WITH_ARGUMENTS
                .iter()
                .chain(&WITHOUT_ARGUMENTS)
                .collect::<Vec<_>>(),
        ),
        content_type(),
        (64 * 1024 + 1..300 * 1024usize),
        any::<u8>(),
    );
    harness.check_unchanged(16, strategy, |h, (path, content_type, size, byte)| {
        let (status, answer) = h.post(path, content_type, vec![byte; size]);
        refused(status, &answer, &format!("{path} {size} bytes"))
    });
}

#[test]
fn any_query_string_on_the_page_or_list_vms_gets_no_server_error() {
    let harness = Harness::new();
    let raw_query = prop_oneof![
        vec(any::<u8>(), 0..200).prop_map(|bytes| percent_encode_some(&bytes)),
        btree_map(field_name(), text(), 0..6).prop_map(|m| {
            let pairs: Vec<(String, String)> = m.into_iter().collect();
            String::from_utf8(form(&pairs)).expect("forms are ASCII")
        }),
    ];
    harness.check_unchanged(64, raw_query, |h, query| {
        for path in ["/", "/api/list_vms"] {
            let uri = format!("{path}?{query}");
            let Ok(request) = Request::builder()
                .method(if path == "/" { "GET" } else { "POST" })
                .uri(&uri)
                .body(Body::empty())
            else {
                // Not a request line any client could send.
                continue;
            };
            let (status, answer) = h.send(request);
            answered(status, &answer, &uri)?;
        }
        Ok(())
    });
}

#[test]
fn a_server_function_called_with_the_wrong_method_is_refused_with_a_reason() {
    let harness = Harness::new();
    for path in WITH_ARGUMENTS.iter().chain(&WITHOUT_ARGUMENTS) {
        for method in ["GET", "PUT", "DELETE", "PATCH"] {
            let request = Request::builder()
                .method(method)
                .uri(*path)
                .body(Body::empty())
                .expect("a request");
            let (status, answer) = harness.send(request);
            assert!(
                !status.is_server_error(),
                "{method} {path}: {status} {answer}"
            );
        }
    }
}

/// Found by the properties above: a JSON body that is not `bulk_action`'s arguments, and a body
/// over the limit sent without a length, were answered 500 ("error deserializing server function
/// results"); they are the caller's mistake, a 400 with the reason.
#[test]
fn a_body_that_cannot_be_read_as_the_arguments_is_a_400_with_a_reason() {
    let harness = Harness::new();
    let deep = format!("{{\"target\":{}null}}", "[".repeat(10_000));
    let cases: [(&str, &str, Vec<u8>); 5] = [
        ("/api/bulk_action", "application/json", b"null".to_vec()),
        ("/api/bulk_action", "application/json", b"not json".to_vec()),
        ("/api/bulk_action", "application/json", deep.into_bytes()),
        (
            "/api/bulk_action",
            "application/json",
            vec![0xff, 0xfe, b'{'],
        ),
        (
            "/api/request_action",
            "application/x-www-form-urlencoded",
            vec![b'a'; 100 * 1024],
        ),
    ];
    for (path, content_type, body) in cases {
        let size = body.len();
        let (status, answer) = harness.post(path, Some(content_type), body);
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{path} ({size} bytes): {answer}"
        );
        assert!(answer.contains("invalid request"), "{path}: {answer}");
    }
}
