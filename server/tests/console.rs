//! The console's HTTP surface against the sandbox: the server-rendered page, the server functions
//! (with bad input, refusals and missing VMs) and the live websocket.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{console_router, fast_sandbox, form_post, loopback, open_live};
use futures::StreamExt;
use http_body_util::BodyExt;
use server::auth::{Gate, Mode};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;
use wukong_cluster::{sandbox_seed, Console, OpenAccess};
use wukong_view::{LiveMessage, VmKey, VmState};

async fn console() -> (axum::Router, Console) {
    // Fast VMs: these tests check wiring, not the simulation's pace.
    let console = Console::open(fast_sandbox());
    console.store.wait_ready().await;
    let gate = Gate::new(Mode::None, Arc::new(OpenAccess));
    (
        console_router(console.clone(), gate, loopback(None)),
        console,
    )
}

/// The server-rendered page at `path` (asserting a 200).
async fn page(app: &axum::Router, path: &str) -> String {
    let response = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

async fn call(app: &axum::Router, path: &str, form: &str) -> (StatusCode, String) {
    let answer = common::send(app, form_post(path, &[], form)).await;
    (answer.status, answer.body)
}

async fn wait_for_state(console: &Console, key: &VmKey, want: VmState) {
    for _ in 0..100 {
        if console.store.row(key).map(|r| r.state) == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{key} never became {want}: {:?}",
        console.store.row(key).map(|r| r.state)
    );
}

#[tokio::test]
async fn the_page_lists_every_vm_without_javascript() {
    let (app, _console) = console().await;
    let html = page(&app, "/").await;
    assert_eq!(
        html.matches("data-testid=\"vm-row\"").count(),
        sandbox_seed().len()
    );
    assert!(html.contains("data-testid=\"sandbox-banner\""));
    assert!(html.contains("data-namespace=\"team-a\" data-name=\"web-01\""));
    assert!(html.contains("data-state=\"Running\""));
}

#[tokio::test]
async fn a_stop_request_is_accepted_and_carried_out() {
    let (app, console) = console().await;
    let (status, body) = call(
        &app,
        "/api/request_action",
        "namespace=team-a&name=web-01&action=stop&grace_period_seconds=30",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("request_id"), "{body}");
    let key = VmKey::new("team-a", "web-01");
    wait_for_state(&console, &key, VmState::Stopped).await;
}

#[tokio::test]
async fn bad_input_is_refused_with_a_reason_and_changes_nothing() {
    let (app, console) = console().await;
    let before = console.store.snapshot();
    for (form, expected) in [
        (
            "namespace=team-a&name=web-01&action=reboot",
            "unknown action",
        ),
        ("namespace=team-a&name=Web_01&action=stop", "DNS-1123"),
        ("namespace=Team-A&name=web-01&action=stop", "DNS-1123"),
        (
            "namespace=team-a&name=web-01&action=stop&grace_period_seconds=-5",
            "negative",
        ),
        (
            "namespace=team-a&name=web-01&action=stop&grace_period_seconds=7200",
            "3600",
        ),
        (
            "namespace=team-a&name=web-01&action=stop&grace_period_seconds=soon",
            "invalid request",
        ),
        ("namespace=team-a&action=stop", "invalid request"),
    ] {
        let (status, body) = call(&app, "/api/request_action", form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form}: {body}");
        assert!(body.contains(expected), "{form}: {body}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(console.store.snapshot(), before);
}

#[tokio::test]
async fn the_server_renders_one_page_of_the_filtered_list() {
    let (app, _console) = console().await;
    let html = page(&app, "/?q=0&size=5&page=2&sort=name").await;
    let mut matching: Vec<_> = sandbox_seed()
        .iter()
        .map(|vm| (vm.name.to_owned(), vm.namespace.to_owned()))
        .filter(|(name, namespace)| name.contains('0') || namespace.contains('0'))
        .collect();
    matching.sort();
    let second_page = &matching[5..10.min(matching.len())];
    assert_eq!(
        html.matches("data-testid=\"vm-row\"").count(),
        second_page.len()
    );
    for (name, namespace) in second_page {
        assert!(
            html.contains(&format!(
                "data-namespace=\"{namespace}\" data-name=\"{name}\""
            )),
            "{namespace}/{name} is on page 2"
        );
    }
    assert!(html.contains(&format!(
        "6–{} of {}",
        5 + second_page.len(),
        matching.len()
    )));

    // The list function takes the same parameters.
    let (status, body) = call(&app, "/api/list_vms", "q=0&size=5&page=2").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page: wukong_view::Snapshot = serde_json::from_str(&body).unwrap();
    let names: Vec<_> = page.rows.iter().map(|r| r.key.name.clone()).collect();
    let expected: Vec<_> = second_page.iter().map(|(name, _)| name.clone()).collect();
    assert_eq!(names, expected);
    assert_eq!(page.matching as usize, matching.len());
    assert_eq!(page.total as usize, sandbox_seed().len());
}

#[tokio::test]
async fn refusals_and_missing_vms_map_to_409_and_404() {
    let (app, _console) = console().await;
    let (status, body) = call(
        &app,
        "/api/request_action",
        "namespace=team-a&name=db-02&action=suspend",
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("not running"), "{body}");
    let (status, body) = call(&app, "/api/delete_vm", "namespace=team-a&name=ghost").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("no longer exists"), "{body}");
}

#[tokio::test]
async fn the_list_server_function_returns_rows_with_their_actions() {
    let (app, _console) = console().await;
    let (status, body) = call(&app, "/api/list_vms", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let snapshot: wukong_view::Snapshot = serde_json::from_str(&body).unwrap();
    let cache = snapshot
        .rows
        .iter()
        .find(|r| r.key == VmKey::new("team-a", "cache-01"))
        .unwrap();
    assert_eq!(cache.state, VmState::Suspended);
    assert!(
        cache.offers(wukong_view::Action::Resume) && !cache.offers(wukong_view::Action::Suspend)
    );
}

#[tokio::test]
async fn the_websocket_sends_a_snapshot_then_deltas() {
    let (app, console) = console().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/live"))
        .await
        .unwrap();
    let LiveMessage::Snapshot(snapshot) = next(&mut socket).await else {
        panic!("first frame must be a snapshot")
    };
    assert_eq!(snapshot.rows.len(), sandbox_seed().len());
    let key = VmKey::new("team-b", "worker-02");
    wukong_cluster::actions::request_action(
        console.cluster.as_ref(),
        console.access.as_ref(),
        &wukong_cluster::Identity::Console,
        wukong_cluster::actions::ActionRequest {
            key: key.clone(),
            action: wukong_view::Action::Start,
            grace_period_seconds: None,
            uid: None,
        },
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    let mut last_seq = snapshot.seq;
    while !seen.contains(&VmState::Running) {
        match next(&mut socket).await {
            LiveMessage::Upsert { seq, row } if row.key == key => {
                assert!(seq > last_seq, "deltas are in order");
                last_seq = seq;
                seen.push(row.state);
            }
            _ => {}
        }
    }
    assert!(seen.contains(&VmState::Starting), "{seen:?}");
}

/// A tab left open across an upgrade must learn it runs an old WASM: the page names its build,
/// and every socket names the build that answers, first.
#[tokio::test]
async fn the_page_and_every_socket_name_the_build_that_serves_them() {
    let console = Console::open(fast_sandbox());
    console.store.wait_ready().await;
    let built = |build: Option<&str>| {
        server::router(server::AppState {
            leptos_options: leptos::config::LeptosOptions::builder()
                .output_name("wukong-console")
                .build(),
            console: console.clone(),
            gate: Gate::new(Mode::None, Arc::new(OpenAccess)),
            edge: loopback(None),
            build: build.map(Arc::from),
        })
    };
    let html = page(&built(Some("build-one")), "/").await;
    assert!(
        html.contains(r#"<meta name="wukong-build" content="build-one">"#),
        "{html}"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    common::serve_in_background(listener, built(Some("build-two")));
    for _ in 0..2 {
        let mut socket = open_live(addr, "", &[]).await.unwrap();
        assert_eq!(
            next(&mut socket).await,
            LiveMessage::Hello {
                build: "build-two".into()
            }
        );
        assert!(matches!(next(&mut socket).await, LiveMessage::Snapshot(_)));
    }
    // A build without hashed file names names none (and its tabs are never told to reload).
    assert!(!page(&built(None), "/").await.contains("wukong-build"));
}

/// With `--metrics-addr`, the pages' address (public behind an Ingress) does not serve
/// `/metrics`; its own listener does.
#[tokio::test]
async fn metrics_on_their_own_address_are_not_on_the_pages_address() {
    let console = Console::open(fast_sandbox());
    console.store.wait_ready().await;
    let state = server::AppState {
        leptos_options: leptos::config::LeptosOptions::builder()
            .output_name("wukong-console")
            .build(),
        console: console.clone(),
        gate: Gate::new(Mode::None, Arc::new(OpenAccess)),
        edge: server::Edge {
            metrics_on_main: false,
            ..loopback(None)
        },
        build: None,
    };
    let get = |app: axum::Router| async move {
        let response = app
            .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    let (status, _) = get(server::router(state.clone())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, text) = get(server::metrics_router(state)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("wukong_console_rows "), "{text}");
}

async fn next<S>(socket: &mut S) -> LiveMessage
where
    S: futures::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    let frame = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("a frame in time");
    let text = frame.expect("open").expect("ok").into_text().expect("text");
    serde_json::from_str::<LiveMessage>(&text).expect("a live message")
}

#[tokio::test]
async fn cross_origin_writes_and_websockets_are_refused_and_change_nothing() {
    let (app, console) = console().await;
    let before = console.store.snapshot();
    let form = "namespace=team-a&name=web-01&action=stop";
    for (name, value) in [
        ("origin", "http://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ] {
        let request = Request::post("/api/request_action")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("host", "127.0.0.1:3000")
            .header(name, value)
            .body(Body::from(form))
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{name}: {value}");
    }
    // The same request from the console's own page goes through.
    let request = Request::post("/api/request_action")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("host", "127.0.0.1:3000")
        .header("origin", "http://127.0.0.1:3000")
        .header("sec-fetch-site", "same-origin")
        .body(Body::from("namespace=team-a&name=web-02&action=stop"))
        .unwrap();
    assert_eq!(
        app.clone().oneshot(request).await.unwrap().status(),
        StatusCode::OK
    );
    let web01 = VmKey::new("team-a", "web-01");
    let row = |s: &wukong_view::Snapshot| s.rows.iter().find(|r| r.key == web01).cloned();
    assert_eq!(
        row(&console.store.snapshot()),
        row(&before),
        "web-01 untouched"
    );

    // A websocket handshake from another origin is refused before the upgrade.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    match open_live(addr, "", &[("origin", "http://evil.example")]).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::FORBIDDEN)
        }
        other => panic!("a cross-origin websocket must be refused: {other:?}"),
    }
}

#[tokio::test]
async fn a_bulk_action_reports_every_vm_and_all_matching_uses_the_filter() {
    let (app, _console) = console().await;
    let post_json = |body: serde_json::Value| {
        let app = app.clone();
        async move {
            let request = Request::post("/api/bulk_action")
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap();
            let response = app.oneshot(request).await.unwrap();
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    // Listed VMs: each decided on its own; a refusal names its reason, nothing hides it.
    let (status, body) = post_json(serde_json::json!({
        "target": { "Keys": [
            { "namespace": "team-b", "name": "worker-01" },
            { "namespace": "team-b", "name": "api-01" },
            { "namespace": "team-b", "name": "ghost" },
        ] },
        "action": "start",
    }))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let outcomes: Vec<wukong_view::BulkOutcome> = serde_json::from_str(&body).unwrap();
    let by_name = |n: &str| outcomes.iter().find(|o| o.key.name == n).unwrap().clone();
    assert!(by_name("worker-01").accepted);
    assert!(
        !by_name("api-01").accepted && by_name("api-01").message.contains("cannot start"),
        "{outcomes:?}"
    );
    assert!(!by_name("ghost").accepted && by_name("ghost").message.contains("no longer exists"));

    // All matching a filter: exactly the VMs the table would show for it.
    let (status, body) = post_json(serde_json::json!({
        "target": { "Matching": { "namespace": "team-a", "search": "web" } },
        "action": "suspend",
    }))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let outcomes: Vec<wukong_view::BulkOutcome> = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = outcomes.iter().map(|o| o.key.name.as_str()).collect();
    assert_eq!(names, ["web-01", "web-02", "web-03"]);

    // Bad input changes nothing.
    let (status, body) = post_json(serde_json::json!({
        "target": { "Keys": [{ "namespace": "Team_A", "name": "x" }] }, "action": "start" }))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let too_many: Vec<serde_json::Value> = (0..501)
        .map(|i| serde_json::json!({ "namespace": "team-a", "name": format!("vm-{i}") }))
        .collect();
    let (status, body) =
        post_json(serde_json::json!({ "target": { "Keys": too_many }, "action": "start" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("at most 500"), "{body}");
}

/// Issue 14: what goes over the wire. The page and server functions' answers are gzipped for a
/// browser that takes gzip; the live websocket, whose handshake a browser sends with
/// `Accept-Encoding` too, still opens and delivers its page.
#[tokio::test]
async fn pages_and_answers_go_gzipped_and_the_live_socket_is_left_alone() {
    let (app, _console) = console().await;
    let get = |path: &str, encoding: Option<&str>| {
        let mut request = Request::get(path);
        if let Some(encoding) = encoding {
            request = request.header("accept-encoding", encoding);
        }
        app.clone().oneshot(request.body(Body::empty()).unwrap())
    };
    let plain = get("/", None).await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.into_body().collect().await.unwrap().to_bytes();
    let gzipped = get("/", Some("gzip, deflate, br")).await.unwrap();
    assert_eq!(gzipped.status(), StatusCode::OK);
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    let gzipped = gzipped.into_body().collect().await.unwrap().to_bytes();
    assert!(
        gzipped.len() * 3 < plain.len(),
        "the page is {} bytes, {} gzipped",
        plain.len(),
        gzipped.len()
    );

    let answer = app
        .clone()
        .oneshot(
            Request::post("/api/list_vms")
                .header("accept-encoding", "gzip")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(""))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()["content-encoding"], "gzip");
    // An error keeps its own status for a client that takes gzip (every browser): bad input is
    // a 400, not the 500 server functions answer every error with.
    let refused = app
        .clone()
        .oneshot(
            Request::post("/api/request_action")
                .header("accept-encoding", "gzip")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from("namespace=Team_A&name=web-01&action=start"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);

    let (listener, addr) = common::listen().await;
    let gate = Gate::new(Mode::None, Arc::new(OpenAccess));
    let served = console_router(
        Console::open(fast_sandbox()),
        gate,
        loopback(Some(addr.port())),
    );
    common::serve_in_background(listener, served);
    let mut socket = open_live(addr, "", &[("accept-encoding", "gzip, deflate, br")])
        .await
        .expect("the websocket opens");
    let first = tokio::time::timeout(Duration::from_secs(15), socket.next())
        .await
        .expect("a first frame")
        .expect("a frame")
        .expect("a text frame");
    let message: LiveMessage = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert!(matches!(message, LiveMessage::Snapshot(_)), "{message:?}");
}

/// `/metrics` counts what an operator watches: open live connections (up and down again), the
/// rows of the one watch, that it is connected and that the (built-in) controller leads.
#[tokio::test]
async fn metrics_count_live_connections_rows_and_the_controller() {
    let (app, _console) = console().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let gauge = |text: &str, name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {text}"))
    };
    let metrics = || async move { http_get(addr, "/metrics").await };
    let text = metrics().await;
    assert_eq!(gauge(&text, "wukong_console_live_connections"), 0.0);
    assert_eq!(
        gauge(&text, "wukong_console_rows"),
        sandbox_seed().len() as f64
    );
    assert_eq!(gauge(&text, "wukong_console_watch_connected"), 1.0);
    assert_eq!(gauge(&text, "wukong_console_controller_leading"), 1.0);
    assert!(gauge(&text, "wukong_console_tasks") > 0.0);
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/live"))
        .await
        .unwrap();
    let _ = next(&mut socket).await;
    assert_eq!(
        gauge(&metrics().await, "wukong_console_live_connections"),
        1.0
    );
    drop(socket);
    let mut closed = false;
    for _ in 0..50 {
        if gauge(&metrics().await, "wukong_console_live_connections") == 0.0 {
            closed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(closed, "a closed connection is no longer counted");
}

/// A bare HTTP/1.0 GET on loopback; the body.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}
