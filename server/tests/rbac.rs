//! Identity and RBAC against the real kube-apiserver (`./dev/cluster up`; `./dev/test` runs these).
//!
//! The console runs as its own ServiceAccount with exactly the RBAC in `deploy/base/rbac/`, and three
//! people sign in with ServiceAccount tokens: an editor of team-a (role `wukong-team-lead`), a
//! viewer of team-b (role `wukong-viewer`) and somebody with no access. Namespaces get a random
//! suffix: without kube-controller-manager they are never really deleted.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use futures::StreamExt;
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleBinding};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::config::AuthInfo;
use kube::Client;
use leptos::prelude::LeptosOptions;
use serde_json::{json, Value};
use server::auth::{Gate, Mode, ProxyPolicy, SessionPolicy};
use server::host::AllowedHosts;
use server::{router, AppState, Edge};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tower::ServiceExt;
use wukong_api::Wukong;
use wukong_cluster::actions::{request_action, ActionRequest};
use wukong_cluster::{
    Access, ClusterError, Console, Identity, KubeAccess, KubeCluster, OpenAccess,
};
use wukong_view::{Action, LiveMessage, Snapshot, VmKey};

const RBAC_LIFETIME: Duration = Duration::from_secs(3);
const IDS_NS: &str = "wukong-test-ids";

// The local control plane's admin kubeconfig, shared with the cluster crate's tests.
#[path = "../../cluster/tests/common/mod.rs"]
mod common;
use common::admin_config;
mod apiserver;
use apiserver::{
    apply_rbac, bind, ensure_namespace, running_wukong, service_account, set_message, token,
};

fn sa_subject(name: &str) -> Value {
    json!({ "kind": "ServiceAccount", "name": name, "namespace": IDS_NS })
}

fn sa_user(name: &str) -> String {
    format!("system:serviceaccount:{IDS_NS}:{name}")
}

/// The console as deployed: its ServiceAccount's token, nothing else.
/// The console's ServiceAccount with `console.yaml` only, as `--auth=token` runs: no right to
/// impersonate anyone (an earlier run's proxy-mode binding is removed first).
async fn console_as_its_service_account(admin: &Client) -> (KubeCluster, Arc<KubeAccess>) {
    ensure_namespace(admin, "wukong-system").await;
    match Api::<ClusterRoleBinding>::all(admin.clone())
        .delete("wukong-console-impersonate", &DeleteParams::default())
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => panic!("remove the proxy-mode binding: {e}"),
    }
    apply_rbac(admin, "console.yaml").await;
    apply_rbac(admin, "team-roles.yaml").await;
    let token = token(admin, "wukong-system", "wukong-console").await;
    let mut config = admin_config().await;
    config.auth_info = serde_json::from_value::<AuthInfo>(json!({ "token": token })).unwrap();
    let cluster = KubeCluster::from_config(config).expect("console cluster");
    let access = KubeAccess::new(cluster.client(), RBAC_LIFETIME);
    access.clone().forget_on_rbac_changes();
    (cluster, access)
}

fn state(console: &Console, mode: Mode) -> AppState {
    AppState {
        leptos_options: LeptosOptions::builder()
            .output_name("wukong-console")
            .build(),
        console: console.clone(),
        gate: Gate::new(mode, console.access.clone()),
        edge: Edge {
            hosts: AllowedHosts::loopback(std::net::Ipv4Addr::LOCALHOST.into(), None),
            https: false,
            forwarders: Vec::new(),
            metrics_on_main: true,
        },
        build: None,
    }
}

fn token_mode() -> Mode {
    Mode::Token(SessionPolicy {
        idle: Duration::from_secs(600),
        absolute: Duration::from_secs(3600),
        token_recheck: Duration::from_secs(1),
        secure_cookie: false,
    })
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn send(app: &axum::Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.expect("router answers");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn post(path: &str, cookie: Option<&str>, form: &str) -> Request<Body> {
    let mut request =
        Request::post(path).header("content-type", "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        request = request.header(header::COOKIE, c);
    }
    request.body(Body::from(form.to_owned())).unwrap()
}

/// Signs in with `token`; the session cookie (`name=value`).
async fn sign_in(app: &axum::Router, token: &str) -> String {
    let answer = send(app, post("/auth/login", None, &format!("token={token}"))).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(answer.headers[header::LOCATION], "/");
    let cookie = answer.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let id = cookie.split(';').next().unwrap().to_owned();
    assert_eq!(
        id.len(),
        "wukong_session=".len() + 32,
        "128 random bits in hex: {id}"
    );
    id
}

async fn list(app: &axum::Router, cookie: &str) -> Snapshot {
    let answer = send(app, post("/api/list_vms", Some(cookie), "")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    serde_json::from_str(&answer.body).expect("snapshot")
}

fn in_namespace<'a>(snapshot: &'a Snapshot, ns: &str) -> Vec<&'a wukong_view::VmRow> {
    snapshot
        .rows
        .iter()
        .filter(|r| r.key.namespace == ns)
        .collect()
}

async fn eventually<F, Fut>(what: &str, seconds: u64, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..seconds * 5 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("timed out after {seconds} s waiting until {what}");
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_socket(addr: SocketAddr, cookie: &str) -> Socket {
    open_socket_at(addr, cookie, "/live").await
}

async fn open_socket_at(addr: SocketAddr, cookie: &str, path: &str) -> Socket {
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    request
        .headers_mut()
        .insert(header::COOKIE, cookie.parse().unwrap());
    request
        .headers_mut()
        .insert(header::ORIGIN, format!("http://{addr}").parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket")
        .0
}

/// The next frame's text, within `seconds`.
async fn next_text(socket: &mut Socket, seconds: u64) -> Option<String> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(seconds), socket.next())
            .await
            .ok()??
            .ok()?;
        if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
            return Some(text.to_string());
        }
    }
}

#[tokio::test]
#[ignore = "needs the local control plane: ./dev/cluster up (./dev/test runs these)"]
async fn three_people_see_and_do_exactly_what_rbac_allows() {
    let admin = Client::try_from(admin_config().await).unwrap();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let team_a = format!("team-a-{suffix}");
    let team_b = format!("team-b-{suffix}");
    for ns in [&team_a, &team_b] {
        ensure_namespace(&admin, ns).await;
    }
    ensure_namespace(&admin, IDS_NS).await;
    running_wukong(&admin, &team_a, "web").await;
    running_wukong(&admin, &team_b, "db").await;
    let editor = format!("editor-{suffix}");
    let viewer = format!("viewer-{suffix}");
    let nobody = format!("nobody-{suffix}");
    let editor_token = service_account(&admin, IDS_NS, &editor).await;
    let viewer_token = service_account(&admin, IDS_NS, &viewer).await;
    let nobody_token = service_account(&admin, IDS_NS, &nobody).await;
    bind(
        &admin,
        &team_a,
        "editor",
        "wukong-team-lead",
        sa_subject(&editor),
    )
    .await;
    bind(
        &admin,
        &team_b,
        "viewer",
        "wukong-viewer",
        sa_subject(&viewer),
    )
    .await;

    let (cluster, access) = console_as_its_service_account(&admin).await;
    let console = Console::start(Arc::new(cluster.clone()), access.clone());
    tokio::time::timeout(Duration::from_secs(30), console.store.wait_ready())
        .await
        .expect("the console's ServiceAccount may list and watch wukongs");
    // It may read the controller's Lease (held or not, depending on what else runs here).
    eventually("the controller's presence is known", 15, || {
        let known = console.store.snapshot().controller != wukong_view::ControllerPresence::Unknown;
        async move { known }
    })
    .await;
    let app = router(state(&console, token_mode()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = app.clone();
    tokio::spawn(async move {
        axum::serve(
            listener,
            served.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    // Wait for the shared watch to carry both new rows.
    let store = console.store.clone();
    let (a, b) = (team_a.clone(), team_b.clone());
    eventually("the shared watch has both rows", 30, || {
        let snapshot = store.snapshot();
        let (a, b) = (a.clone(), b.clone());
        async move {
            in_namespace(&snapshot, &a).len() == 1 && in_namespace(&snapshot, &b).len() == 1
        }
    })
    .await;

    // Without a session: the page sends you to sign in; server functions and the socket say 401.
    let page = send(&app, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.headers[header::LOCATION], "/login?reason=required");
    let anonymous = send(&app, post("/api/list_vms", None, "")).await;
    assert_eq!(
        anonymous.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        anonymous.body
    );
    assert!(anonymous.body.contains("sign in"), "{}", anonymous.body);
    let login_page = send(&app, Request::get("/login").body(Body::empty()).unwrap()).await;
    assert_eq!(login_page.status, StatusCode::OK);
    assert!(login_page.body.contains("data-testid=\"login-token\""));

    // An invalid token is refused, and no session is made.
    for bad in ["not-a-token", "eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl"] {
        let answer = send(&app, post("/auth/login", None, &format!("token={bad}"))).await;
        assert_eq!(answer.headers[header::LOCATION], "/login?error=invalid");
        assert!(answer.headers.get(header::SET_COOKIE).is_none());
    }
    // A made-up session id is no session.
    let forged = "wukong_session=0123456789abcdef0123456789abcdef";
    assert_eq!(
        send(&app, post("/api/list_vms", Some(forged), ""))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // The editor sees team-a only, with its actions, and can stop team-a's VM (as themselves).
    let editor_cookie = sign_in(&app, &editor_token).await;
    let seen = list(&app, &editor_cookie).await;
    assert_eq!(seen.viewer.name.as_deref(), Some(sa_user(&editor).as_str()));
    assert_eq!(in_namespace(&seen, &team_a).len(), 1);
    assert!(
        in_namespace(&seen, &team_b).is_empty(),
        "team-b is not the editor's"
    );
    assert!(
        in_namespace(&seen, &team_a)[0].offers(Action::Stop),
        "{:?}",
        in_namespace(&seen, &team_a)[0]
    );
    assert!(in_namespace(&seen, &team_a)[0].offers(Action::Delete));
    let page = send(
        &app,
        Request::get("/")
            .header(header::COOKIE, &editor_cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&team_a) && !page.body.contains(&team_b));
    assert!(
        !page.body.contains(&editor_token),
        "the token is never rendered"
    );
    let policy = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    let nonce = policy
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the page's policy names a nonce");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(
        page.body.contains(&format!("nonce=\"{nonce}\"")),
        "scripts carry the nonce"
    );

    // Deltas for team-b never reach the editor's socket.
    let mut editor_socket = open_socket(addr, &editor_cookie).await;
    let first = next_text(&mut editor_socket, 10).await.expect("snapshot");
    assert!(
        first.contains(&team_a) && !first.contains(&team_b),
        "{first}"
    );
    set_message(&admin, &team_b, "db", "team-b news").await;
    set_message(&admin, &team_a, "web", "team-a news").await;
    loop {
        let text = next_text(&mut editor_socket, 15)
            .await
            .expect("the team-a delta arrives");
        assert!(
            !text.contains(&team_b),
            "a team-b frame reached the editor: {text}"
        );
        if text.contains("team-a news") {
            break;
        }
    }

    let stop = |ns: &str, name: &str| format!("namespace={ns}&name={name}&action=stop");
    let answer = send(
        &app,
        post(
            "/api/request_action",
            Some(&editor_cookie),
            &stop(&team_a, "web"),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let written = Api::<Wukong>::namespaced(admin.clone(), &team_a)
        .get("web")
        .await
        .unwrap();
    let request = written
        .spec
        .lifecycle_action
        .expect("the request is written");
    assert_eq!(
        request.requested_by.as_deref(),
        Some(sa_user(&editor).as_str())
    );
    // Nobody can write a request in someone else's name (deploy/base/policy/requested-by.yaml): the
    // editor, writing directly to the apiserver, claims to be the viewer.
    let mut as_editor = admin_config().await;
    as_editor.auth_info.impersonate = Some(sa_user(&editor));
    as_editor.auth_info.impersonate_groups = Some(vec!["system:authenticated".into()]);
    let forged = json!({ "spec": { "lifecycleAction": {
        "action": "start", "requestId": "forged-1", "requestedBy": sa_user(&viewer) } } });
    let refused = Api::<Wukong>::namespaced(Client::try_from(as_editor).unwrap(), &team_a)
        .patch("web", &PatchParams::default(), &Patch::Merge(&forged))
        .await
        .expect_err("a request in another's name is refused");
    assert!(
        refused
            .to_string()
            .contains("requestedBy must be the user making the request"),
        "{refused}"
    );
    // The editor cannot reach team-b even by forging a request.
    let answer = send(
        &app,
        post(
            "/api/request_action",
            Some(&editor_cookie),
            &stop(&team_b, "db"),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(
        answer.body.contains("no access to namespace"),
        "{}",
        answer.body
    );

    // The viewer sees team-b with no actions offered; a forged stop is refused with a reason.
    let viewer_cookie = sign_in(&app, &viewer_token).await;
    let seen = list(&app, &viewer_cookie).await;
    assert!(in_namespace(&seen, &team_a).is_empty());
    let rows = in_namespace(&seen, &team_b);
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0].actions.is_empty(),
        "a viewer is offered nothing: {:?}",
        rows[0].actions
    );
    let answer = send(
        &app,
        post(
            "/api/request_action",
            Some(&viewer_cookie),
            &stop(&team_b, "db"),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(
        answer.body.contains("lets you view VMs but not stop them"),
        "{}",
        answer.body
    );
    // And the apiserver itself refuses the viewer, even if the console's own check were skipped:
    // the console's ServiceAccount can only act as the person. Without the person's token (as
    // proxy mode acts) it cannot even impersonate them: token mode needs no such right.
    let refused = request_action(
        &cluster,
        &OpenAccess,
        &Identity::person(
            sa_user(&viewer),
            vec![
                "system:serviceaccounts".into(),
                "system:authenticated".into(),
            ],
        ),
        ActionRequest {
            key: VmKey::new(&team_b, "db"),
            action: Action::Stop,
            grace_period_seconds: None,
            uid: None,
        },
    )
    .await
    .expect_err("the apiserver refuses");
    assert!(
        matches!(refused, ClusterError::Forbidden { .. }),
        "{refused:?}"
    );
    // Nor can the console's ServiceAccount write anything as itself.
    let own = wukong_cluster::Cluster::delete(
        &cluster,
        &Identity::Console,
        &VmKey::new(&team_b, "db"),
        wukong_api::Preconditions::default(),
    )
    .await;
    assert!(
        matches!(own, Err(ClusterError::Forbidden { .. })),
        "{own:?}"
    );

    // The no-access person sees an empty page that says why.
    let nobody_cookie = sign_in(&app, &nobody_token).await;
    let seen = list(&app, &nobody_cookie).await;
    assert!(
        in_namespace(&seen, &team_a).is_empty() && in_namespace(&seen, &team_b).is_empty(),
        "{:?}",
        seen.rows
    );
    let page = send(
        &app,
        Request::get("/")
            .header(header::COOKIE, &nobody_cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(!page.body.contains(&team_a) && !page.body.contains(&team_b));
    // Nor may they read a VM's history there: the console says no, and so does the apiserver
    // when asked with their own token, whatever the console's check said.
    let history = send(
        &app,
        post(
            "/api/vm_history",
            Some(&nobody_cookie),
            &format!("namespace={team_a}&name=web"),
        ),
    )
    .await;
    assert_eq!(history.status, StatusCode::FORBIDDEN, "{}", history.body);
    let as_nobody = Identity::Person(wukong_cluster::Person {
        user: sa_user(&nobody),
        groups: vec!["system:authenticated".into()],
        token: Some(wukong_cluster::BearerToken::new(nobody_token.clone())),
    });
    let refused =
        wukong_cluster::Cluster::history(&cluster, &as_nobody, &VmKey::new(&team_a, "web"))
            .await
            .expect_err("the apiserver refuses");
    assert!(
        matches!(refused, ClusterError::Forbidden { .. }),
        "{refused:?}"
    );

    // The VM page: each person sees their own VM's page, with KubeVirt's objects read as them
    // (the team roles' get on virtualmachines and virtualmachineinstances); anywhere they may
    // not list it is a 404 that reads exactly like a VM that does not exist.
    let vm_page = |cookie: &str, ns: &str, name: &str| {
        Request::get(format!("/vm/{ns}/{name}"))
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .unwrap()
    };
    for (cookie, ns, name) in [
        (&editor_cookie, &team_a, "web"),
        (&viewer_cookie, &team_b, "db"),
    ] {
        let page = send(&app, vm_page(cookie, ns, name)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(
            page.body.contains("data-testid=\"vm-page\""),
            "{}",
            page.body
        );
        assert!(
            !page.body.contains("kubevirt-unreadable"),
            "the team roles may read the VM and VMI: {}",
            page.body
        );
    }
    // A role that may list Wukongs but not read Events: the page says that neither the Events
    // nor the request history (which merges the controller's Events) could be read, instead of
    // showing an empty history.
    let lister = format!("lister-{suffix}");
    let list_only: ClusterRole = serde_json::from_value(json!({
        "metadata": { "name": "wukong-rbac-test-list-only" },
        "rules": [{ "apiGroups": ["vm.novasphere.dev"], "resources": ["wukongs"], "verbs": ["get", "list", "watch"] }],
    }))
    .unwrap();
    Api::<ClusterRole>::all(admin.clone())
        .patch(
            "wukong-rbac-test-list-only",
            &PatchParams::apply("wukong-rbac-test").force(),
            &Patch::Apply(&json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": list_only.metadata, "rules": list_only.rules,
            })),
        )
        .await
        .expect("list-only role");
    let lister_token = service_account(&admin, IDS_NS, &lister).await;
    bind(
        &admin,
        &team_a,
        &lister,
        "wukong-rbac-test-list-only",
        sa_subject(&lister),
    )
    .await;
    let lister_cookie = sign_in(&app, &lister_token).await;
    let page = send(&app, vm_page(&lister_cookie, &team_a, "web")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for unreadable in [
        "events-unreadable",
        "history-unreadable",
        "kubevirt-unreadable",
    ] {
        assert!(
            page.body.contains(&format!("data-testid=\"{unreadable}\"")),
            "{unreadable}: {}",
            page.body
        );
    }
    // The box with the VM's name taken out (its namespace first: a random suffix such as
    // "db1197" can hold the name "db").
    let not_found_text = |body: &str, ns: &str, name: &str| {
        let start = body
            .find("data-testid=\"vm-not-found\"")
            .expect("the not-found box");
        let end = body[start..]
            .find("</div>")
            .map_or(body.len(), |e| start + e);
        body[start..end]
            .replace(&format!("{ns}/"), "NS/")
            .replace(name, "NAME")
    };
    for (cookie, ns) in [(&editor_cookie, &team_b), (&nobody_cookie, &team_a)] {
        let hidden = send(
            &app,
            vm_page(cookie, ns, if ns == &team_a { "web" } else { "db" }),
        )
        .await;
        let missing = send(&app, vm_page(cookie, ns, "no-such-vm")).await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{}", hidden.body);
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
        assert_eq!(
            not_found_text(&hidden.body, ns, if ns == &team_a { "web" } else { "db" }),
            not_found_text(&missing.body, ns, "no-such-vm"),
            "a VM you may not see reads like one that does not exist"
        );
        assert!(!hidden.body.contains("printable-status"));
    }
    // Its socket carries the VM's row and what KubeVirt says, watched as the person.
    let mut page_socket = open_socket_at(
        addr,
        &editor_cookie,
        &format!("/live?namespace={team_a}&name=web"),
    )
    .await;
    let mut snapshot_rows = None;
    let mut kubevirt = None;
    for _ in 0..10 {
        let Some(text) = next_text(&mut page_socket, 10).await else {
            break;
        };
        match serde_json::from_str::<wukong_view::LiveMessage>(&text) {
            Ok(wukong_view::LiveMessage::Snapshot(s)) => snapshot_rows = Some(s.rows),
            Ok(wukong_view::LiveMessage::KubeVirt(facts)) => kubevirt = Some(facts),
            _ => {}
        }
        if snapshot_rows.is_some() && kubevirt.is_some() {
            break;
        }
    }
    let rows = snapshot_rows.expect("the page's snapshot");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].key, VmKey::new(&team_a, "web"));
    let facts = kubevirt.expect("KubeVirt's facts on the page's socket");
    assert_eq!(facts.unreadable, None, "{facts:?}");
    drop(page_socket);
    // The nobody's page socket for team-a carries nothing of it.
    let mut nobody_page = open_socket_at(
        addr,
        &nobody_cookie,
        &format!("/live?namespace={team_a}&name=web"),
    )
    .await;
    while let Some(text) = next_text(&mut nobody_page, 2).await {
        match serde_json::from_str::<wukong_view::LiveMessage>(&text) {
            Ok(wukong_view::LiveMessage::Snapshot(s)) => assert!(s.rows.is_empty(), "{text}"),
            Ok(wukong_view::LiveMessage::KubeVirt(_)) => panic!("KubeVirt's facts leaked: {text}"),
            Ok(wukong_view::LiveMessage::Upsert { .. }) => panic!("a row leaked: {text}"),
            _ => {}
        }
    }

    // Cross-origin writes and sockets are refused, session or not.
    let mut cross = post(
        "/api/request_action",
        Some(&editor_cookie),
        &stop(&team_a, "web"),
    );
    cross
        .headers_mut()
        .insert(header::ORIGIN, "http://evil.example".parse().unwrap());
    assert_eq!(send(&app, cross).await.status, StatusCode::FORBIDDEN);
    let mut request = format!("ws://{addr}/live").into_client_request().unwrap();
    request
        .headers_mut()
        .insert(header::COOKIE, editor_cookie.parse().unwrap());
    request
        .headers_mut()
        .insert(header::ORIGIN, "http://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::FORBIDDEN)
        }
        other => panic!("a cross-origin websocket must be refused: {other:?}"),
    }

    // An RBAC change takes effect within the cache lifetime: the viewer becomes a team-b editor,
    // in new lists and on the open socket.
    let mut viewer_socket = open_socket(addr, &viewer_cookie).await;
    let first = next_text(&mut viewer_socket, 10).await.expect("snapshot");
    assert!(first.contains(&team_b));
    let changed = tokio::time::Instant::now();
    bind(
        &admin,
        &team_b,
        "viewer-edits",
        "wukong-team-lead",
        sa_subject(&viewer),
    )
    .await;
    let app2 = app.clone();
    let (cookie, ns) = (viewer_cookie.clone(), team_b.clone());
    eventually("the viewer may stop team-b's VM", 10, || {
        let (app, cookie, ns) = (app2.clone(), cookie.clone(), ns.clone());
        async move {
            let seen = list(&app, &cookie).await;
            in_namespace(&seen, &ns)
                .first()
                .is_some_and(|r| r.offers(Action::Stop))
        }
    })
    .await;
    let took = changed.elapsed();
    assert!(
        took <= RBAC_LIFETIME + Duration::from_secs(2),
        "took {took:?}"
    );
    loop {
        let text = next_text(&mut viewer_socket, 10)
            .await
            .expect("the open socket learns of the new role");
        if let Ok(LiveMessage::Snapshot(s)) = serde_json::from_str::<LiveMessage>(&text) {
            if in_namespace(&s, &team_b)
                .first()
                .is_some_and(|r| r.offers(Action::Stop))
            {
                break;
            }
        }
    }

    // A role taken away reaches the open socket too: the viewer's row loses its Stop.
    let removed = tokio::time::Instant::now();
    Api::<RoleBinding>::namespaced(admin.clone(), &team_b)
        .delete("viewer-edits", &DeleteParams::default())
        .await
        .expect("remove the role");
    loop {
        let text = next_text(&mut viewer_socket, 10)
            .await
            .expect("the open socket learns the role is gone");
        if let Ok(LiveMessage::Snapshot(s)) = serde_json::from_str::<LiveMessage>(&text) {
            if in_namespace(&s, &team_b)
                .first()
                .is_some_and(|r| !r.offers(Action::Stop))
            {
                break;
            }
        }
    }
    assert!(
        removed.elapsed() <= RBAC_LIFETIME + Duration::from_secs(2),
        "re-filtered after {:?}",
        removed.elapsed()
    );

    // A token that stops being accepted ends its session (here: its ServiceAccount is deleted),
    // and its open socket closes although the person sends nothing.
    let temp = format!("temp-{suffix}");
    let temp_token = service_account(&admin, IDS_NS, &temp).await;
    let temp_cookie = sign_in(&app, &temp_token).await;
    list(&app, &temp_cookie).await;
    let mut temp_socket = open_socket(addr, &temp_cookie).await;
    assert!(
        next_text(&mut temp_socket, 10).await.is_some(),
        "a snapshot first"
    );
    Api::<ServiceAccount>::namespaced(admin.clone(), IDS_NS)
        .delete(&temp, &DeleteParams::default())
        .await
        .unwrap();
    // The apiserver caches a token's review for up to 10 s; the socket's session asks every
    // second (--token-recheck-seconds) and looks every 2 s.
    let revoked = tokio::time::Instant::now();
    while next_text(&mut temp_socket, 15).await.is_some() {
        assert!(
            revoked.elapsed() < Duration::from_secs(15),
            "the socket outlived its revoked token"
        );
    }
    assert!(revoked.elapsed() < Duration::from_secs(15));
    // The apiserver caches a token's review for up to 10 s; the console asks again every second.
    let mut answer = send(&app, post("/api/list_vms", Some(&temp_cookie), "")).await;
    for _ in 0..100 {
        if answer.status != StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        answer = send(&app, post("/api/list_vms", Some(&temp_cookie), "")).await;
    }
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    assert!(
        answer.body.contains("no longer accepts your token"),
        "{}",
        answer.body
    );
    let answer = send(
        &app,
        post("/auth/login", None, &format!("token={temp_token}")),
    )
    .await;
    assert_eq!(answer.headers[header::LOCATION], "/login?error=invalid");

    // Signing out ends the session for good, and closes its open sockets.
    let mut nobody_socket = open_socket(addr, &nobody_cookie).await;
    assert!(
        next_text(&mut nobody_socket, 10).await.is_some(),
        "a snapshot first"
    );
    let answer = send(&app, post("/auth/logout", Some(&nobody_cookie), "")).await;
    let closed_by = tokio::time::Instant::now() + Duration::from_secs(8);
    while next_text(&mut nobody_socket, 8).await.is_some() {
        assert!(
            tokio::time::Instant::now() < closed_by,
            "the socket outlived its session"
        );
    }
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert!(answer.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let answer = send(&app, post("/api/list_vms", Some(&nobody_cookie), "")).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);

    // Behind an authenticating proxy: its headers are believed from its address only.
    bind(
        &admin,
        &team_a,
        "proxy-ann",
        "wukong-viewer",
        json!({ "kind": "User", "name": "ann@example.com", "apiGroup": "rbac.authorization.k8s.io" }),
    )
    .await;
    let proxied = router(state(
        &console,
        Mode::Proxy(ProxyPolicy {
            trusted: vec!["127.0.0.2/32".parse().unwrap()],
            user_header: "x-forwarded-user".into(),
            groups_header: "x-forwarded-groups".into(),
            allow_system_names: false,
        }),
    ));
    let from = |peer: &str, user: &str| {
        let mut request = post("/api/list_vms", None, "");
        request
            .extensions_mut()
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        request
            .headers_mut()
            .insert("x-forwarded-user", user.parse().unwrap());
        request
    };
    let answer = send(&proxied, from("127.0.0.2:5000", "ann@example.com")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    // Writes for a proxied person are sent by impersonation, which needs console-proxy.yaml.
    running_wukong(&admin, &team_a, "ann-web").await;
    let ann_stops = || {
        let mut request = from("127.0.0.2:5000", "ann@example.com");
        *request.uri_mut() = "/api/request_action".parse().unwrap();
        *request.body_mut() = Body::from(stop(&team_a, "ann-web"));
        request
    };
    bind(
        &admin,
        &team_a,
        "proxy-ann-lead",
        "wukong-team-lead",
        json!({ "kind": "User", "name": "ann@example.com", "apiGroup": "rbac.authorization.k8s.io" }),
    )
    .await;
    eventually(
        "without console-proxy.yaml the apiserver refuses to impersonate ann",
        20,
        || async {
            let answer = send(&proxied, ann_stops()).await;
            answer.status == StatusCode::FORBIDDEN && answer.body.contains("impersonate")
        },
    )
    .await;
    apply_rbac(&admin, "console-proxy.yaml").await;
    eventually(
        "with it, ann stops ann-web through the proxy",
        20,
        || async { send(&proxied, ann_stops()).await.status == StatusCode::OK },
    )
    .await;
    let written = Api::<Wukong>::namespaced(admin.clone(), &team_a)
        .get("ann-web")
        .await
        .expect("read");
    assert_eq!(
        written
            .spec
            .lifecycle_action
            .and_then(|a| a.requested_by)
            .as_deref(),
        Some("ann@example.com"),
        "written as the person the proxy named"
    );
    let seen: Snapshot = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(in_namespace(&seen, &team_a).len(), 1);
    assert!(in_namespace(&seen, &team_a)[0].actions.is_empty());
    assert!(in_namespace(&seen, &team_b).is_empty());
    let answer = send(&proxied, from("127.0.0.3:5000", "system:admin")).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(access.lifetime() == RBAC_LIFETIME);

    // Behind the proxy nothing on the console notices that ann was removed there, so a socket
    // lives at most --socket-max-minutes (here 2 s) and then reconnects through the proxy.
    let mut aged = state(
        &console,
        Mode::Proxy(ProxyPolicy {
            trusted: vec!["127.0.0.1/32".parse().unwrap()],
            user_header: "x-forwarded-user".into(),
            groups_header: "x-forwarded-groups".into(),
            allow_system_names: false,
        }),
    );
    aged.gate = Gate::with_socket_limits(
        Mode::Proxy(ProxyPolicy {
            trusted: vec!["127.0.0.1/32".parse().unwrap()],
            user_header: "x-forwarded-user".into(),
            groups_header: "x-forwarded-groups".into(),
            allow_system_names: false,
        }),
        console.access.clone(),
        server::sockets::SocketLimits {
            max_age: Duration::from_secs(2),
            ..Default::default()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_addr = listener.local_addr().unwrap();
    let aged = router(aged);
    tokio::spawn(async move {
        axum::serve(
            listener,
            aged.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let mut request = format!("ws://{proxy_addr}/live")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("x-forwarded-user", "ann@example.com".parse().unwrap());
    let (mut ann_socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("ann's socket through the proxy");
    let first = next_text(&mut ann_socket, 10).await.expect("a snapshot");
    assert!(first.contains(&team_a));
    let opened = tokio::time::Instant::now();
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(10), ann_socket.next()).await {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame)))) => break frame,
            Ok(Some(Ok(_))) => continue,
            other => panic!("the socket should close with a frame: {other:?}"),
        }
    };
    assert_eq!(
        closed.map(|f| u16::from(f.code)),
        Some(1001),
        "renewed, so the proxy decides again"
    );
    assert!(opened.elapsed() < Duration::from_secs(5));

    // The console may now impersonate anyone (console-proxy.yaml), system:masters included; the
    // proxy's word is still not taken for that group, nor for a repeated groups header, and a
    // group no role binds sees nothing.
    let with_groups = |user: &str, groups: &[&str]| {
        let mut request = from("127.0.0.2:5000", user);
        for group in groups {
            request
                .headers_mut()
                .append("x-forwarded-groups", group.parse().unwrap());
        }
        request
    };
    let answer = send(
        &proxied,
        with_groups("nobody@example.com", &["system:masters"]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(answer.body.contains("system:masters"), "{}", answer.body);
    let answer = send(
        &proxied,
        with_groups("nobody@example.com", &["ops", "system:masters"]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    let answer = send(
        &proxied,
        with_groups("nobody@example.com", &["no-such-team"]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let seen: Snapshot = serde_json::from_str(&answer.body).unwrap();
    assert!(seen.rows.is_empty(), "{:?}", seen.rows);

    // A role removed for a person the proxy names is gone from their view within the RBAC cache.
    for binding in ["proxy-ann", "proxy-ann-lead"] {
        Api::<RoleBinding>::namespaced(admin.clone(), &team_a)
            .delete(binding, &DeleteParams::default())
            .await
            .expect("remove ann's roles");
    }
    let removed = tokio::time::Instant::now();
    eventually(
        "ann, named by the proxy, no longer sees team-a",
        20,
        || async {
            let answer = send(&proxied, from("127.0.0.2:5000", "ann@example.com")).await;
            answer.status == StatusCode::OK
                && serde_json::from_str::<Snapshot>(&answer.body)
                    .is_ok_and(|seen| in_namespace(&seen, &team_a).is_empty())
        },
    )
    .await;
    assert!(
        removed.elapsed() <= RBAC_LIFETIME + Duration::from_secs(2),
        "{:?}",
        removed.elapsed()
    );
}

/// Power schedules (issue 17) act with their owner's rights, so: a schedule's owner is whoever
/// writes it (deploy/base/policy/schedule-owner.yaml), a team lead may manage schedules and
/// calendars in their namespace (team-roles.yaml), and only the lifecycle controller's
/// ServiceAccount may write a request named `schedule:…` (requested-by.yaml), and nothing else.
#[tokio::test]
#[ignore = "needs the local control plane: ./dev/cluster up"]
async fn a_schedule_is_owned_by_its_writer_and_only_the_controller_writes_in_a_schedules_name() {
    let (admin, _) = common::admin().await;
    apply_rbac(&admin, "team-roles.yaml").await;
    let ns = common::fresh_namespace(&admin, "schedules").await;
    let lead = "schedule-lead";
    let lead_token = service_account(&admin, &ns, lead).await;
    let lead_user = format!("system:serviceaccount:{ns}:{lead}");
    bind(
        &admin,
        &ns,
        "lead",
        "wukong-team-lead",
        json!({ "kind": "ServiceAccount", "name": lead, "namespace": ns }),
    )
    .await;
    running_wukong(&admin, &ns, "dev-1").await;
    let as_user = |user: &str| {
        let user = user.to_owned();
        async move {
            let mut config = admin_config().await;
            config.auth_info.impersonate = Some(user);
            config.auth_info.impersonate_groups = Some(vec!["system:authenticated".into()]);
            Client::try_from(config).expect("client")
        }
    };
    let lead_client = as_user(&lead_user).await;
    let schedule = |owner: &str, groups: &[&str]| {
        json!({
            "apiVersion": "vm.novasphere.dev/v1alpha1", "kind": "WukongSchedule",
            "metadata": { "name": "dev-hours", "namespace": ns },
            "spec": {
                "owner": owner, "ownerGroups": groups, "timeZone": "Asia/Shanghai", "vms": ["dev-1"],
                "windows": [{ "days": ["Monday", "Friday"], "start": "08:00", "stop": "20:00" }]
            }
        })
    };
    let schedules: Api<wukong_api::WukongSchedule> = Api::namespaced(lead_client.clone(), &ns);
    let params = PatchParams::apply("wukong-rbac-test");
    let refused = schedules
        .patch(
            "dev-hours",
            &params,
            &Patch::Apply(schedule("someone-else", &["system:authenticated"])),
        )
        .await
        .expect_err("a schedule owned by someone else than its writer is refused");
    assert!(
        refused
            .to_string()
            .contains("spec.owner must be the user writing the schedule"),
        "{refused}"
    );
    let refused = schedules
        .patch(
            "dev-hours",
            &params,
            &Patch::Apply(schedule(
                &lead_user,
                &["system:authenticated", "team-admins"],
            )),
        )
        .await
        .expect_err("a group the writer is not in is refused");
    assert!(
        refused
            .to_string()
            .contains("spec.ownerGroups must be the groups"),
        "{refused}"
    );
    schedules
        .patch(
            "dev-hours",
            &params,
            &Patch::Apply(schedule(&lead_user, &["system:authenticated"])),
        )
        .await
        .expect("the team lead writes a schedule they own, with their groups");
    let calendars: Api<wukong_api::WukongCalendar> = Api::namespaced(lead_client.clone(), &ns);
    calendars
        .patch(
            "cn-2026",
            &params,
            &Patch::Apply(json!({
                "apiVersion": "vm.novasphere.dev/v1alpha1", "kind": "WukongCalendar",
                "metadata": { "name": "cn-2026", "namespace": ns },
                "spec": { "dates": [
                    { "date": "2026-10-01", "kind": "DayOff", "name": "国庆节" },
                    { "date": "2026-10-10", "kind": "Workday", "like": "Friday", "name": "调休" }
                ] }
            })),
        )
        .await
        .expect("and a calendar");

    // A request in a schedule's name: the controller's ServiceAccount only.
    let in_schedules_name = |id: &str| {
        json!({ "spec": { "lifecycleAction": {
            "action": "stop", "requestId": id,
            "requestedBy": wukong_api::schedule_requester(&ns, "dev-hours", &lead_user) } } })
    };
    let refused = Api::<Wukong>::namespaced(lead_client, &ns)
        .patch(
            "dev-1",
            &PatchParams::default(),
            &Patch::Merge(&in_schedules_name("by-lead")),
        )
        .await
        .expect_err("a person cannot write in a schedule's name");
    assert!(
        refused
            .to_string()
            .contains("schedule: names are written by the lifecycle controller only"),
        "{refused}"
    );
    let controller = as_user("system:serviceaccount:wukong-system:wukong-controller").await;
    Api::<Wukong>::namespaced(controller.clone(), &ns)
        .patch(
            "dev-1",
            &PatchParams::default(),
            &Patch::Merge(&in_schedules_name("by-controller")),
        )
        .await
        .expect("the controller writes a schedule's request");
    // ...and no other name than a schedule's or its own.
    let forged = json!({ "spec": { "lifecycleAction": {
        "action": "start", "requestId": "forged-by-controller", "requestedBy": lead_user } } });
    Api::<Wukong>::namespaced(controller, &ns)
        .patch("dev-1", &PatchParams::default(), &Patch::Merge(&forged))
        .await
        .expect_err("the controller cannot write in a person's name");

    // The schedules page, listed as each person by the console's ServiceAccount: the lead may
    // create, change and delete schedules here; a viewer reads them and is offered no change.
    let viewer = "schedule-viewer";
    let viewer_token = service_account(&admin, &ns, viewer).await;
    bind(
        &admin,
        &ns,
        "viewer",
        "wukong-viewer",
        json!({ "kind": "ServiceAccount", "name": viewer, "namespace": ns }),
    )
    .await;
    let (cluster, access) = console_as_its_service_account(&admin).await;
    let store = wukong_cluster::LiveStore::new(wukong_view::ClusterInfo {
        kind: wukong_view::ClusterKind::Kubernetes,
        name: "test".into(),
    });
    let person = |name: &str, token: String| {
        Identity::Person(wukong_cluster::Person {
            user: format!("system:serviceaccount:{ns}:{name}"),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".into(),
            ],
            token: Some(wukong_cluster::BearerToken::new(token.as_str())),
        })
    };
    for (who, may) in [
        (person(lead, lead_token), true),
        (person(viewer, viewer_token), false),
    ] {
        let page = wukong_cluster::schedules::views(
            &cluster,
            access.as_ref(),
            &store,
            &who,
            vec![ns.clone()],
        )
        .await
        .expect("the schedules page");
        let names: Vec<&str> = page
            .schedules
            .iter()
            .map(|s| s.form.name.as_str())
            .collect();
        assert_eq!(names, ["dev-hours"], "both read the schedule");
        let offered = if may { vec![ns.clone()] } else { vec![] };
        assert_eq!(
            (&page.creatable, &page.changeable, &page.deletable),
            (&offered, &offered, &offered),
            "{who:?}"
        );
    }
}
