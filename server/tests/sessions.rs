//! Sessions and limits of the console's edge, with a stand-in for the cluster's TokenReview (the
//! real one is exercised in `rbac.rs` against the apiserver): idle and absolute timeouts, the
//! action rate limit, and no token in any answer.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{console_router, fast_sandbox, form_post, loopback, sandbox, send, GOOD_TOKEN};
use server::auth::{Gate, Mode, SessionPolicy};
use server::Edge;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;
use wukong_cluster::{Access, ActionBudget, Console, OpenAccess};

async fn app(policy: SessionPolicy, actions_per_minute: u32) -> axum::Router {
    let mut console = Console::start(fast_sandbox(), Arc::new(common::StandInAccess::default()));
    console.budget = Arc::new(ActionBudget::new(actions_per_minute));
    console.store.wait_ready().await;
    let access: Arc<dyn Access> = console.access.clone();
    let edge = Edge {
        https: policy.secure_cookie,
        ..loopback(None)
    };
    console_router(console, Gate::new(Mode::Token(policy), access), edge)
}

fn policy(idle: u64, absolute: u64) -> SessionPolicy {
    SessionPolicy {
        idle: Duration::from_millis(idle),
        absolute: Duration::from_millis(absolute),
        token_recheck: Duration::from_secs(60),
        secure_cookie: true,
    }
}

async fn post(
    app: &axum::Router,
    path: &str,
    cookie: Option<&str>,
    form: &str,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let cookie: Vec<_> = cookie.map(|c| ("cookie", c)).into_iter().collect();
    send(app, form_post(path, &cookie, form)).await.into_parts()
}

async fn sign_in(app: &axum::Router) -> String {
    let (status, headers, _) = post(app, "/auth/login", None, &format!("token={GOOD_TOKEN}")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("; Secure"),
        "--secure-cookie marks it Secure: {cookie}"
    );
    common::cookie_pair(&cookie).to_owned()
}

#[tokio::test]
async fn an_idle_session_ends_and_says_why() {
    let app = app(policy(300, 60_000), 100).await;
    let cookie = sign_in(&app).await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let (status, _, body) = post(&app, "/api/list_vms", Some(&cookie), "").await;
        assert_eq!(status, StatusCode::OK, "activity keeps it alive: {body}");
        assert!(!body.contains(GOOD_TOKEN));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, _, body) = post(&app, "/api/list_vms", Some(&cookie), "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("inactivity"), "{body}");
    // And the page sends the person to sign in, with the reason as a fixed code.
    let response = app
        .clone()
        .oneshot(
            Request::get("/")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/login?reason=ended");
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_limit_even_when_busy() {
    let app = app(policy(60_000, 500), 100).await;
    let cookie = sign_in(&app).await;
    let mut last = StatusCode::OK;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        last = post(&app, "/api/list_vms", Some(&cookie), "").await.0;
    }
    assert_eq!(last, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn too_many_actions_are_refused_with_when_to_try_again() {
    let app = app(policy(60_000, 60_000), 2).await;
    let cookie = sign_in(&app).await;
    let ask = |name: &'static str| {
        let (app, cookie) = (app.clone(), cookie.clone());
        async move {
            post(
                &app,
                "/api/request_action",
                Some(&cookie),
                &format!("namespace=team-b&name={name}&action=start"),
            )
            .await
        }
    };
    assert_eq!(ask("worker-01").await.0, StatusCode::OK);
    assert_eq!(ask("worker-02").await.0, StatusCode::OK);
    let (status, _, body) = ask("edge-01").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body.contains("more than 2 actions in the last minute"),
        "{body}"
    );
    assert!(body.contains("possible in 3"), "{body}");
}

#[tokio::test]
async fn a_bad_token_makes_no_session_and_sign_in_needs_token_mode() {
    let app = app(policy(60_000, 60_000), 10).await;
    let (status, headers, _) = post(&app, "/auth/login", None, "token=wrong").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/login?error=invalid");
    assert!(headers.get(header::SET_COOKIE).is_none());
    let (status, _, _) = post(&app, "/auth/login", None, "token=").await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    // Without token sign-in there is no sign-in endpoint to probe.
    let console = Console::open(sandbox());
    let open = console_router(
        console,
        Gate::new(Mode::None, Arc::new(OpenAccess)),
        loopback(None),
    );
    let (status, _, _) = post(&open, "/auth/login", None, &format!("token={GOOD_TOKEN}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Sessions kept in memory, whose reads fail while `unanswered` is set, as the Secrets store's do
/// when the apiserver does not answer for a session this replica has not seen yet.
#[derive(Default)]
struct Unanswering {
    inner: wukong_cluster::sessions::MemorySessions,
    unanswered: std::sync::atomic::AtomicBool,
}

impl wukong_cluster::sessions::SessionStore for Unanswering {
    fn peek(&self, key: &str) -> Option<wukong_cluster::sessions::SessionRecord> {
        self.inner.peek(key)
    }
    fn get<'a>(
        &'a self,
        key: &'a str,
    ) -> futures::future::BoxFuture<
        'a,
        Result<Option<wukong_cluster::sessions::SessionRecord>, wukong_cluster::ClusterError>,
    > {
        if self.unanswered.load(std::sync::atomic::Ordering::SeqCst) {
            return Box::pin(async {
                Err(wukong_cluster::ClusterError::Unavailable(
                    "the apiserver did not answer in time".into(),
                ))
            });
        }
        self.inner.get(key)
    }
    fn insert<'a>(
        &'a self,
        key: &'a str,
        record: wukong_cluster::sessions::SessionRecord,
    ) -> futures::future::BoxFuture<'a, Result<(), wukong_cluster::ClusterError>> {
        self.inner.insert(key, record)
    }
    fn seen<'a>(
        &'a self,
        key: &'a str,
        at_ms: i64,
    ) -> futures::future::BoxFuture<'a, Result<(), wukong_cluster::ClusterError>> {
        self.inner.seen(key, at_ms)
    }
    fn remove<'a>(
        &'a self,
        key: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<(), wukong_cluster::ClusterError>> {
        self.inner.remove(key)
    }
    fn all(&self) -> Vec<(String, wukong_cluster::sessions::SessionRecord)> {
        self.inner.all()
    }
    fn synced(&self) -> bool {
        true
    }
}

/// A session that cannot be read for a moment is not an ended one: the person is asked to try
/// again (503, Retry-After), not sent to sign in, and the session works once the store answers.
#[tokio::test]
async fn a_session_that_cannot_be_read_asks_to_try_again_and_is_not_ended() {
    let console = Console::start(fast_sandbox(), Arc::new(common::StandInAccess::default()));
    console.store.wait_ready().await;
    let access: Arc<dyn Access> = console.access.clone();
    let store = Arc::new(Unanswering::default());
    let policy = policy(60_000, 60_000);
    let edge = Edge {
        https: policy.secure_cookie,
        ..loopback(None)
    };
    let gate = Gate::with_sessions(
        Mode::Token(policy),
        access,
        server::sockets::SocketLimits::default(),
        10,
        store.clone(),
    );
    let app = console_router(console, gate, edge);
    let cookie = sign_in(&app).await;
    store
        .unanswered
        .store(true, std::sync::atomic::Ordering::SeqCst);

    let (status, headers, body) = post(&app, "/api/list_vms", Some(&cookie), "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(headers[header::RETRY_AFTER], "5");
    assert!(body.contains("could not be checked"), "{body}");
    assert!(
        !body.contains("signed out") && !body.contains("SignedOut"),
        "{body}"
    );
    let page = app
        .clone()
        .oneshot(
            Request::get("/?q=web")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        page.headers().get(header::LOCATION).is_none(),
        "not sent to sign in"
    );
    let html = axum::body::to_bytes(page.into_body(), 1 << 16)
        .await
        .unwrap();
    let html = String::from_utf8_lossy(&html);
    assert!(html.contains("still signed in"), "{html}");
    assert!(html.contains(r#"href="/?q=web""#), "{html}");

    store
        .unanswered
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let (status, _, body) = post(&app, "/api/list_vms", Some(&cookie), "").await;
    assert_eq!(status, StatusCode::OK, "the session is still there: {body}");
}
