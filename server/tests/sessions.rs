//! Sessions and limits of the console's edge, with a stand-in for the cluster's TokenReview (the
//! real one is exercised in `rbac.rs` against the apiserver): idle and absolute timeouts, the
//! action rate limit, and no token in any answer.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use leptos::prelude::LeptosOptions;
use server::auth::{Gate, Mode, SessionPolicy};
use server::host::AllowedHosts;
use server::{router, AppState, Edge};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;
use wukong_cluster::{
    sandbox_seed, Access, ActionBudget, ClusterError, Console, Grants, Identity, OpenAccess,
    Person, Sandbox,
};
use wukong_sim::Timings;

const GOOD_TOKEN: &str = "good-token-0123456789";

/// Accepts exactly one token, as the person `ann`; grants everything.
struct OneToken;

impl Access for OneToken {
    fn grants<'a>(
        &'a self,
        _: &'a Identity,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Grants, wukong_cluster::AccessUnknown>> {
        Box::pin(async { Ok(Grants::ALL) })
    }
    fn review_token<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<Person>, ClusterError>> {
        Box::pin(async move {
            Ok((token == GOOD_TOKEN).then(|| Person {
                user: "ann".into(),
                groups: vec!["system:authenticated".into()],
                token: Some(wukong_cluster::BearerToken::new(token)),
            }))
        })
    }
    fn lifetime(&self) -> Duration {
        Duration::from_secs(10)
    }
}

async fn app(policy: SessionPolicy, actions_per_minute: u32) -> axum::Router {
    let mut console = Console::start(
        Arc::new(Sandbox::start(
            sandbox_seed(),
            Timings::default().scaled(20.0),
        )),
        Arc::new(OneToken),
    );
    console.budget = Arc::new(ActionBudget::new(actions_per_minute));
    console.store.wait_ready().await;
    let access: Arc<dyn Access> = console.access.clone();
    router(AppState {
        leptos_options: LeptosOptions::builder()
            .output_name("wukong-console")
            .build(),
        console,
        edge: Edge {
            hosts: AllowedHosts::loopback(Ipv4Addr::LOCALHOST.into(), None),
            https: policy.secure_cookie,
        },
        gate: Gate::new(Mode::Token(policy), access),
    })
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
    let mut request =
        Request::post(path).header("content-type", "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        request = request.header(header::COOKIE, c);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(form.to_owned())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

async fn sign_in(app: &axum::Router) -> String {
    let (status, headers, _) = post(app, "/auth/login", None, &format!("token={GOOD_TOKEN}")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("; Secure"),
        "--secure-cookie marks it Secure: {cookie}"
    );
    cookie.split(';').next().unwrap().to_owned()
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
    let console = Console::open(Arc::new(Sandbox::start(sandbox_seed(), Timings::default())));
    let open = router(AppState {
        leptos_options: LeptosOptions::builder()
            .output_name("wukong-console")
            .build(),
        console,
        gate: Gate::new(Mode::None, Arc::new(OpenAccess)),
        edge: Edge {
            hosts: AllowedHosts::loopback(Ipv4Addr::LOCALHOST.into(), None),
            https: false,
        },
    });
    let (status, _, _) = post(&open, "/auth/login", None, &format!("token={GOOD_TOKEN}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
