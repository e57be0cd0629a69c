//! The console's trust boundary (issue 12) against the sandbox, without a cluster: only the host
//! names it answers to (DNS rebinding), an `Origin` among them, what an authenticating proxy may
//! claim about a person, session ids renewed at sign-in, and HTTPS-only cookies and HSTS.

mod common;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use common::{
    cookie_pair, fast_sandbox, form_post, good_sign_in, loopback, open_live, send, session_policy,
    StandInAccess,
};
use futures::StreamExt;
use server::auth::{Gate, Mode, ProxyPolicy, SessionPolicy};
use server::host::{AllowedHost, AllowedHosts};
use server::Edge;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite;
use wukong_cluster::{Access, Console, OpenAccess};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

async fn console_app(mode: Mode, access: Arc<dyn Access>, edge: Edge) -> axum::Router {
    let console = Console::start(fast_sandbox(), access.clone());
    console.store.wait_ready().await;
    common::console_router(console, Gate::new(mode, access), edge)
}

fn get(path: &str, host: &str) -> Request<Body> {
    Request::get(path)
        .header(header::HOST, host)
        .body(Body::empty())
        .expect("request builds")
}

fn post(path: &str, host: &str, headers: &[(&str, &str)], form: &str) -> Request<Body> {
    let mut request = form_post(path, headers, form);
    request
        .headers_mut()
        .insert(header::HOST, host.parse().expect("a host header value"));
    request
}

// ---- A. Host allow-list -------------------------------------------------------------------

#[tokio::test]
async fn a_rebound_host_is_refused_on_pages_server_functions_and_the_socket_but_not_on_probes() {
    let listener = tokio::net::TcpListener::bind((LOOPBACK, 0))
        .await
        .expect("listen");
    let addr = listener.local_addr().expect("address");
    let port = addr.port();
    // --auth=none on loopback: the setup a rebinding page would act through.
    let app = console_app(Mode::None, Arc::new(OpenAccess), loopback(Some(port))).await;
    let rebound = format!("rebind.example:{port}");

    let answer = send(&app, get("/", &rebound)).await;
    assert_eq!(answer.status, StatusCode::MISDIRECTED_REQUEST);
    assert!(
        answer.body.contains("--allowed-hosts=rebind.example")
            && answer.body.contains("--public-url"),
        "says which flag to set: {}",
        answer.body
    );
    assert!(!answer.body.contains("vm-row"));

    // A rebound page is same-origin with itself: Origin agrees with Host, and still it is refused.
    let origin = format!("http://{rebound}");
    let answer = send(
        &app,
        post(
            "/api/request_action",
            &rebound,
            &[("origin", &origin), ("sec-fetch-site", "same-origin")],
            "namespace=team-a&name=web-01&action=stop",
        ),
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::MISDIRECTED_REQUEST,
        "{}",
        answer.body
    );
    let answer = send(&app, post("/api/list_vms", &rebound, &[], "")).await;
    assert_eq!(answer.status, StatusCode::MISDIRECTED_REQUEST);

    // Probes answer by any name (kubelets and Prometheus use the pod IP), but only to reads.
    let answer = send(&app, get("/healthz", &rebound)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "ok");
    let answer = send(&app, get("/healthz", "10.1.2.3:3000")).await;
    assert_eq!(answer.status, StatusCode::OK);
    let answer = send(&app, post("/healthz", &rebound, &[], "")).await;
    assert_eq!(answer.status, StatusCode::MISDIRECTED_REQUEST);

    // The console's own names work.
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ] {
        let answer = send(&app, get("/", &host)).await;
        assert_eq!(answer.status, StatusCode::OK, "{host}");
        assert!(answer.body.contains("data-testid=\"vm-row\""), "{host}");
    }
    let own = format!("127.0.0.1:{port}");
    let answer = send(
        &app,
        post(
            "/api/list_vms",
            &own,
            &[("origin", &format!("http://{own}"))],
            "",
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    // Another port on the same name is another console (or not one at all).
    let answer = send(
        &app,
        get("/", &format!("localhost:{}", port.wrapping_add(1))),
    )
    .await;
    assert_eq!(answer.status, StatusCode::MISDIRECTED_REQUEST);

    // The websocket handshake, over the network.
    tokio::spawn(async move { axum::serve(listener, app).await });
    match open_live(addr, "", &[("host", &rebound)]).await {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::MISDIRECTED_REQUEST)
        }
        Err(other) => panic!("a rebound websocket must be refused with 421: {other}"),
        Ok(_) => panic!("a rebound websocket must be refused with 421, it was opened"),
    }
    let mut socket = open_live(addr, "", &[("host", &own)])
        .await
        .expect("the console's own host");
    let frame = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("a frame in time")
        .expect("open")
        .expect("a frame");
    let text = frame.into_text().expect("text");
    assert!(
        matches!(
            serde_json::from_str::<wukong_view::LiveMessage>(&text),
            Ok(wukong_view::LiveMessage::Snapshot(_))
        ),
        "the first frame is a snapshot: {text}"
    );
}

#[tokio::test]
async fn with_a_public_url_only_its_host_and_its_origin_are_accepted() {
    let edge = Edge {
        hosts: AllowedHosts::new(vec![
            AllowedHost::parse_public_url("https://console.example.com").expect("a URL"),
            AllowedHost::parse_host("wukong-console.wukong-system.svc:3000").expect("a host"),
        ]),
        https: false,
        forwarders: Vec::new(),
        metrics_on_main: true,
    };
    let app = console_app(Mode::None, Arc::new(OpenAccess), edge).await;
    let list = |host: &str, origin: &str| post("/api/list_vms", host, &[("origin", origin)], "");

    let answer = send(
        &app,
        list("console.example.com", "https://console.example.com"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    // Origin agrees with Host but is not the public URL: the http:// page is another origin.
    let answer = send(
        &app,
        list("console.example.com", "http://console.example.com"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(answer
        .body
        .contains("not an address this console answers to"));
    let answer = send(&app, list("console.example.com", "https://evil.example")).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    // An allowed host name works with either scheme (TLS may end in front of the console).
    let answer = send(
        &app,
        list(
            "wukong-console.wukong-system.svc:3000",
            "http://wukong-console.wukong-system.svc:3000",
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    // The loopback names are not implied once names are given.
    let answer = send(&app, get("/", "127.0.0.1:3000")).await;
    assert_eq!(answer.status, StatusCode::MISDIRECTED_REQUEST);
}

// ---- B. Proxy identity headers ------------------------------------------------------------

fn proxy(allow_system_names: bool) -> Mode {
    Mode::Proxy(ProxyPolicy {
        trusted: vec!["127.0.0.2/32".parse().expect("a CIDR")],
        user_header: "x-forwarded-user".into(),
        groups_header: "x-forwarded-groups".into(),
        allow_system_names,
    })
}

/// A list request through the proxy (from its trusted address) with these identity headers.
fn proxied(headers: &[(&str, &str)]) -> Request<Body> {
    let mut request = post("/api/list_vms", "localhost:3000", headers, "");
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 2], 5000))));
    request
}

#[tokio::test]
async fn a_repeated_user_or_groups_header_is_refused_with_400() {
    let access = Arc::new(StandInAccess::asked_every_time());
    let app = console_app(proxy(false), access.clone(), loopback(Some(3000))).await;
    let answer = send(
        &app,
        proxied(&[
            ("x-forwarded-user", "ann@example.com"),
            ("x-forwarded-user", "admin@example.com"),
        ]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert!(answer.body.contains("more than once"), "{}", answer.body);
    assert!(access
        .asked
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .is_empty());

    // Two groups headers: the same (a proxy that appends its header to the browser's would pass
    // the browser's groups on).
    let answer = send(
        &app,
        proxied(&[
            ("x-forwarded-user", "ann@example.com"),
            ("x-forwarded-groups", "team-a"),
            ("x-forwarded-groups", "team-b"),
        ]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert!(
        answer.body.contains("groups more than once"),
        "{}",
        answer.body
    );
    assert!(access
        .asked
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .is_empty());

    // One user header and one groups header: fine.
    let answer = send(&app, proxied(&[("x-forwarded-user", "ann@example.com")])).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let answer = send(
        &app,
        proxied(&[
            ("x-forwarded-user", "ann@example.com"),
            ("x-forwarded-groups", "team-a,team-b"),
        ]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[tokio::test]
async fn system_masters_and_system_users_are_refused_unless_allowed() {
    let access = Arc::new(StandInAccess::asked_every_time());
    let app = console_app(proxy(false), access.clone(), loopback(Some(3000))).await;
    let answer = send(
        &app,
        proxied(&[
            ("x-forwarded-user", "nobody@example.com"),
            ("x-forwarded-groups", "team-a,system:masters"),
        ]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(answer.body.contains("system:masters"), "{}", answer.body);
    assert!(
        answer.body.contains("--auth-proxy-allow-system-names"),
        "{}",
        answer.body
    );
    // Alone, and in any case.
    for groups in ["system:masters", "ops, SYSTEM:MASTERS"] {
        let answer = send(
            &app,
            proxied(&[
                ("x-forwarded-user", "nobody@example.com"),
                ("x-forwarded-groups", groups),
            ]),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{groups}: {}",
            answer.body
        );
    }
    for user in ["system:admin", "system:serviceaccount:kube-system:default"] {
        let answer = send(&app, proxied(&[("x-forwarded-user", user)])).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{user}: {}",
            answer.body
        );
        assert!(answer.body.contains("reserved"), "{}", answer.body);
    }
    assert!(access
        .asked
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .is_empty());

    // With the flag, the proxy is believed about them.
    let access = Arc::new(StandInAccess::asked_every_time());
    let app = console_app(proxy(true), access.clone(), loopback(Some(3000))).await;
    let answer = send(
        &app,
        proxied(&[
            ("x-forwarded-user", "system:admin"),
            ("x-forwarded-groups", "system:masters"),
        ]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(access.groups(), ["system:masters", "system:authenticated"]);
}

#[tokio::test]
async fn other_system_groups_are_dropped_and_the_console_adds_system_authenticated() {
    let access = Arc::new(StandInAccess::asked_every_time());
    let app = console_app(proxy(false), access.clone(), loopback(Some(3000))).await;
    let answer = send(
        &app,
        proxied(&[
            ("x-forwarded-user", "ann@example.com"),
            (
                "x-forwarded-groups",
                "team-a, system:foo,system:serviceaccounts,ops",
            ),
        ]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        access.groups(),
        ["team-a", "ops", "system:authenticated"],
        "system:foo and system:serviceaccounts dropped; the console adds system:authenticated"
    );
    let answer = send(
        &app,
        proxied(&[
            ("x-forwarded-user", "ann@example.com"),
            ("x-forwarded-groups", "team-a,ops"),
        ]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(access.groups(), ["team-a", "ops", "system:authenticated"]);
}

// ---- C. Sessions --------------------------------------------------------------------------

fn token_mode(secure_cookie: bool) -> Mode {
    Mode::Token(SessionPolicy {
        secure_cookie,
        ..session_policy()
    })
}

/// Signs in (with the cookie the browser already has, if any); the `Set-Cookie` it got.
async fn sign_in(app: &axum::Router, host: &str, cookie: Option<&str>) -> String {
    let mut headers = vec![];
    if let Some(cookie) = cookie {
        headers.push(("cookie", cookie));
    }
    let mut request = good_sign_in(&headers);
    request
        .headers_mut()
        .insert(header::HOST, host.parse().expect("a host header value"));
    let answer = send(app, request).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(answer.headers[header::LOCATION], "/");
    answer.headers[header::SET_COOKIE]
        .to_str()
        .expect("a cookie")
        .to_owned()
}

#[tokio::test]
async fn signing_in_gives_a_new_session_id_and_ends_the_old_one() {
    let app = console_app(
        token_mode(false),
        Arc::new(StandInAccess::asked_every_time()),
        loopback(Some(3000)),
    )
    .await;
    let host = "127.0.0.1:3000";
    let first = sign_in(&app, host, None).await;
    let first = cookie_pair(&first).to_owned();
    let answer = send(&app, post("/api/list_vms", host, &[("cookie", &first)], "")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);

    let second = sign_in(&app, host, Some(&first)).await;
    let second = cookie_pair(&second).to_owned();
    assert_ne!(second, first, "a new id at sign-in");
    let answer = send(&app, post("/api/list_vms", host, &[("cookie", &first)], "")).await;
    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "the old id is gone: {}",
        answer.body
    );
    let answer = send(
        &app,
        post("/api/list_vms", host, &[("cookie", &second)], ""),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[tokio::test]
async fn over_https_the_cookie_is_host_prefixed_and_responses_carry_hsts() {
    let edge = Edge {
        hosts: AllowedHosts::new(vec![AllowedHost::parse_public_url(
            "https://console.example.com",
        )
        .expect("a URL")]),
        https: true,
        forwarders: Vec::new(),
        metrics_on_main: true,
    };
    let app = console_app(
        token_mode(true),
        Arc::new(StandInAccess::asked_every_time()),
        edge,
    )
    .await;
    let host = "console.example.com";
    let set_cookie = sign_in(&app, host, None).await;
    assert!(
        set_cookie.starts_with("__Host-wukong_session="),
        "{set_cookie}"
    );
    let attributes: Vec<&str> = set_cookie.split(';').map(str::trim).collect();
    assert!(attributes.contains(&"Secure"), "{set_cookie}");
    assert!(attributes.contains(&"Path=/"), "{set_cookie}");
    assert!(
        !set_cookie.to_ascii_lowercase().contains("domain="),
        "{set_cookie}"
    );
    let cookie = cookie_pair(&set_cookie).to_owned();
    let answer = send(
        &app,
        post("/api/list_vms", host, &[("cookie", &cookie)], ""),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        answer.headers[header::STRICT_TRANSPORT_SECURITY],
        "max-age=31536000"
    );
    for path in ["/login", "/healthz"] {
        let answer = send(&app, get(path, host)).await;
        assert_eq!(
            answer.headers[header::STRICT_TRANSPORT_SECURITY],
            "max-age=31536000",
            "{path}"
        );
    }
    // The same id under the unprefixed name (which a sibling host could set) is not a session.
    let unprefixed = cookie.replacen("__Host-", "", 1);
    let answer = send(
        &app,
        post("/api/list_vms", host, &[("cookie", &unprefixed)], ""),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    // Sign-out clears it with the attributes a __Host- cookie needs.
    let answer = send(&app, post("/auth/logout", host, &[("cookie", &cookie)], "")).await;
    let cleared = answer.headers[header::SET_COOKIE]
        .to_str()
        .expect("a cookie");
    assert!(
        cleared.starts_with("__Host-wukong_session=;") && cleared.contains("Secure"),
        "{cleared}"
    );
}

#[tokio::test]
async fn without_https_the_cookie_and_headers_stay_as_they_were() {
    let app = console_app(
        token_mode(false),
        Arc::new(StandInAccess::asked_every_time()),
        loopback(Some(3000)),
    )
    .await;
    let set_cookie = sign_in(&app, "127.0.0.1:3000", None).await;
    assert!(set_cookie.starts_with("wukong_session="), "{set_cookie}");
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    let answer = send(&app, get("/login", "127.0.0.1:3000")).await;
    assert!(answer
        .headers
        .get(header::STRICT_TRANSPORT_SECURITY)
        .is_none());
}
