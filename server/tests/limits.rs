//! Limits with clear answers (issue 12, item 7), without a cluster: sign-in attempts per client
//! address, the per-person bulk budget and the cap on one bulk action. Every 429 says when to try
//! again, in its message and in `Retry-After`, with the limiter's own figure.

mod common;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, Request, StatusCode};
use common::{console_router, fast_sandbox, form_post, loopback, session_policy, GOOD_TOKEN};
use server::auth::{Gate, Mode};
use server::sockets::SocketLimits;
use std::net::SocketAddr;
use std::sync::Arc;
use wukong_cluster::{Access, ActionBudget, Console};

struct Limits {
    sign_in_per_minute: u32,
    actions_per_minute: u32,
    bulk_vms_per_minute: u32,
    bulk_max_vms: usize,
}

async fn app(limits: Limits) -> axum::Router {
    app_behind(limits, &[]).await
}

/// The console behind the reverse proxies at `forwarders` (`--forwarded-trusted`).
async fn app_behind(limits: Limits, forwarders: &[&str]) -> axum::Router {
    let mut console = Console::start(fast_sandbox(), Arc::new(common::StandInAccess::default()));
    console.budget = Arc::new(ActionBudget::new(limits.actions_per_minute));
    console.bulk_budget = Arc::new(ActionBudget::new(limits.bulk_vms_per_minute));
    console.bulk_max_vms = limits.bulk_max_vms;
    console.store.wait_ready().await;
    let access: Arc<dyn Access> = console.access.clone();
    let gate = Gate::with_limits(
        Mode::Token(session_policy()),
        access,
        SocketLimits::default(),
        limits.sign_in_per_minute,
    );
    let edge = server::Edge {
        forwarders: forwarders
            .iter()
            .map(|n| n.parse().expect("a CIDR"))
            .collect(),
        ..loopback(None)
    };
    console_router(console, gate, edge)
}

fn limits() -> Limits {
    Limits {
        sign_in_per_minute: 100,
        actions_per_minute: 100,
        bulk_vms_per_minute: 1000,
        bulk_max_vms: 1000,
    }
}

/// A request as it arrives from `peer` (the listener adds the connection's address).
async fn send(
    app: &axum::Router,
    mut request: Request<Body>,
    peer: &str,
) -> (StatusCode, HeaderMap, String) {
    let peer: SocketAddr = peer.parse().expect("a socket address");
    request.extensions_mut().insert(ConnectInfo(peer));
    common::send(app, request).await.into_parts()
}

async fn sign_in_from(
    app: &axum::Router,
    peer: &str,
    token: &str,
) -> (StatusCode, HeaderMap, String) {
    let request = form_post("/auth/login", &[], &format!("token={token}"));
    send(app, request, peer).await
}

async fn signed_in(app: &axum::Router) -> String {
    let (status, headers, _) = sign_in_from(app, "127.0.0.1:40000", GOOD_TOKEN).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = headers[header::SET_COOKIE].to_str().expect("text");
    common::cookie_pair(cookie).to_owned()
}

async fn bulk(
    app: &axum::Router,
    cookie: &str,
    body: serde_json::Value,
) -> (StatusCode, HeaderMap, String) {
    let request = Request::post("/api/bulk_action")
        .header("content-type", "application/json")
        .header(header::COOKIE, cookie)
        .body(Body::from(body.to_string()))
        .expect("a request");
    send(app, request, "127.0.0.1:40000").await
}

/// The `Retry-After` of a 429, in seconds.
fn retry_after(headers: &HeaderMap) -> u64 {
    headers
        .get(header::RETRY_AFTER)
        .expect("every 429 says when to try again")
        .to_str()
        .expect("text")
        .parse()
        .expect("whole seconds")
}

#[tokio::test]
async fn too_many_sign_in_attempts_from_one_address_get_429_with_when_to_try_again() {
    let app = app(Limits {
        sign_in_per_minute: 3,
        ..limits()
    })
    .await;
    for _ in 0..3 {
        let (status, headers, _) = sign_in_from(&app, "192.0.2.7:50000", "wrong").await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers[header::LOCATION], "/login?error=invalid");
    }
    // The fourth, even with the right token and from another port of the same address.
    let (status, headers, body) = sign_in_from(&app, "192.0.2.7:50001", GOOD_TOKEN).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let wait = retry_after(&headers);
    assert!(
        (1..=20).contains(&wait),
        "one attempt frees up in 20 s: {wait}"
    );
    assert!(headers.get(header::SET_COOKIE).is_none(), "no session");
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/html"),
        "a page the sign-in form (no JavaScript) can show"
    );
    assert!(body.contains("Too many sign-in attempts"), "{body}");
    assert!(body.contains(&format!("Wait {wait} seconds")), "{body}");
    assert!(body.contains("href=\"/login\""), "{body}");
    // Other addresses are not affected.
    let (status, _, _) = sign_in_from(&app, "192.0.2.8:50000", GOOD_TOKEN).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

/// Behind an ingress every sign-in arrives from the ingress: the limit counts the client the
/// ingress names, and believes nobody else's `X-Forwarded-For`.
#[tokio::test]
async fn behind_a_trusted_proxy_sign_ins_count_per_client_it_names() {
    let app = app_behind(
        Limits {
            sign_in_per_minute: 2,
            ..limits()
        },
        &["10.0.0.0/24"],
    )
    .await;
    let from = |client: &str, peer: &'static str| {
        let mut request = form_post("/auth/login", &[], "token=wrong");
        request
            .headers_mut()
            .insert("x-forwarded-for", client.parse().expect("a header value"));
        let app = app.clone();
        async move { send(&app, request, peer).await }
    };
    // What the client wrote itself ("198.51.100.1") is left of what the ingress appended.
    for _ in 0..2 {
        let (status, _, _) = from("198.51.100.1, 192.0.2.7", "10.0.0.5:40000").await;
        assert_eq!(status, StatusCode::SEE_OTHER);
    }
    let (status, _, _) = from("203.0.113.9, 192.0.2.7", "10.0.0.6:40000").await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "192.0.2.7 used its allowance"
    );
    // Another person behind the same ingress is not affected; two proxies in a row are passed.
    let (status, _, _) = from("192.0.2.8", "10.0.0.5:40000").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = from("192.0.2.9, 10.0.0.7", "10.0.0.5:40000").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // From an address that is not a trusted proxy, the header is not believed: a client cannot
    // take another's allowance, nor escape its own, by writing one.
    for _ in 0..2 {
        let (status, _, _) = from("192.0.2.10", "192.0.2.66:40000").await;
        assert_eq!(status, StatusCode::SEE_OTHER);
    }
    let (status, _, _) = from("192.0.2.11", "192.0.2.66:40001").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _, _) = from("192.0.2.66", "10.0.0.5:40000").await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the same client, now via the ingress"
    );
    let (status, _, _) = from("192.0.2.10", "10.0.0.5:40000").await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "192.0.2.10 was never counted"
    );
}

#[tokio::test]
async fn a_bulk_action_over_the_cap_is_refused_whole_with_400() {
    let app = app(Limits {
        bulk_max_vms: 5,
        ..limits()
    })
    .await;
    let cookie = signed_in(&app).await;
    let all = serde_json::json!({
        "target": {"Matching": {"namespace": "", "search": ""}},
        "action": "start",
    });
    let (status, _, body) = bulk(&app, &cookie, all).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("would write 29 VMs"), "{body}");
    assert!(body.contains("at most 5"), "{body}");
}

#[tokio::test]
async fn a_bulk_action_over_the_bulk_budget_is_refused_whole_with_when_it_fits() {
    let app = app(Limits {
        bulk_vms_per_minute: 10,
        ..limits()
    })
    .await;
    let cookie = signed_in(&app).await;
    let team_b = serde_json::json!({
        "target": {"Matching": {"namespace": "team-b", "search": ""}},
        "action": "start",
    });
    // The sandbox's team-b has fewer than 10 VMs: the first fits, the second does not.
    let (status, _, body) = bulk(&app, &cookie, team_b.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let outcomes: Vec<wukong_view::BulkOutcome> = serde_json::from_str(&body).expect("outcomes");
    let vms = outcomes.len();
    assert!(vms > 0 && vms < 10, "{vms}");
    let (status, headers, body) = bulk(&app, &cookie, team_b).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body.contains(&format!("would write {vms} VMs")), "{body}");
    assert!(body.contains("nothing was done"), "{body}");
    let wait = retry_after(&headers);
    assert!(
        body.contains(&format!("possible in {wait} s")),
        "the message and Retry-After agree: {wait} / {body}"
    );
    // 10 per minute: the missing VMs come back at 6 s each.
    let missing = (2 * vms).saturating_sub(10) as u64;
    assert!(
        wait >= missing * 6 && wait <= missing * 6 + 1,
        "{wait} for {missing}"
    );
}

#[tokio::test]
async fn the_action_budget_429_carries_retry_after_from_the_budget() {
    let app = app(Limits {
        actions_per_minute: 1,
        ..limits()
    })
    .await;
    let cookie = signed_in(&app).await;
    let ask = |name: &'static str| {
        let request = form_post(
            "/api/request_action",
            &[("cookie", &cookie)],
            &format!("namespace=team-b&name={name}&action=start"),
        );
        send(&app, request, "127.0.0.1:40000")
    };
    assert_eq!(ask("worker-01").await.0, StatusCode::OK);
    let (status, headers, body) = ask("worker-02").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let wait = retry_after(&headers);
    assert!((59..=60).contains(&wait), "one a minute: {wait}");
    assert!(body.contains(&format!("possible in {wait} s")), "{body}");
    // And the browser gets the same figure in the error itself.
    let error: app::ConsoleError = serde_json::from_str(&body).expect("a ConsoleError");
    assert_eq!(error.retry_after_seconds(), Some(wait));
}
