//! The harness the server's integration tests share: a stand-in for the cluster's TokenReview and
//! grants (the real ones are exercised in `rbac.rs` against the apiserver), the console's router on
//! the sandbox, requests sent in process, the live websocket over a loopback listener, and the
//! property-test runner. Each test binary uses a part of it.

#![allow(dead_code)]

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, Request, StatusCode};
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use leptos::prelude::LeptosOptions;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;
use server::auth::{Gate, SessionPolicy};
use server::host::AllowedHosts;
use server::{router, AppState, Edge};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tower::ServiceExt;
use wukong_cluster::{
    sandbox_seed, Access, AccessUnknown, BearerToken, ClusterError, Console, Grants, Identity,
    Person, Sandbox,
};
use wukong_sim::Timings;

// ---- A stand-in for the cluster's Access ----------------------------------------------------

/// The one token [`StandInAccess`] accepts.
pub const GOOD_TOKEN: &str = "good-token-0123456789";

/// Accepts exactly [`GOOD_TOKEN`], as the person `ann`, until it is revoked; grants everything;
/// and remembers whom it was asked about (to see which groups a proxied person reaches the
/// cluster with).
pub struct StandInAccess {
    /// Set to refuse the token from then on (as the cluster does with a deleted token).
    pub revoked: AtomicBool,
    /// Every identity `grants` was asked about, in order.
    pub asked: Mutex<Vec<Identity>>,
    lifetime: Duration,
}

impl Default for StandInAccess {
    fn default() -> StandInAccess {
        StandInAccess {
            revoked: AtomicBool::new(false),
            asked: Mutex::new(Vec::new()),
            lifetime: Duration::from_secs(10),
        }
    }
}

impl StandInAccess {
    /// Answers that are stale at once, so every request asks again and [`Self::groups`] sees
    /// this request's person.
    pub fn asked_every_time() -> StandInAccess {
        StandInAccess {
            lifetime: Duration::from_millis(1),
            ..StandInAccess::default()
        }
    }

    /// The groups of the person last asked about.
    pub fn groups(&self) -> Vec<String> {
        let asked = self.asked.lock().unwrap_or_else(|p| p.into_inner());
        match asked.last() {
            Some(Identity::Person(person)) => person.groups.clone(),
            other => panic!("no person was asked about: {other:?}"),
        }
    }
}

impl Access for StandInAccess {
    fn grants<'a>(
        &'a self,
        who: &'a Identity,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Grants, AccessUnknown>> {
        self.asked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(who.clone());
        Box::pin(async { Ok(Grants::ALL) })
    }
    fn review_token<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<Person>, ClusterError>> {
        Box::pin(async move {
            let good = token == GOOD_TOKEN && !self.revoked.load(Ordering::SeqCst);
            Ok(good.then(|| Person {
                user: "ann".into(),
                groups: vec!["system:authenticated".into()],
                token: Some(BearerToken::new(token)),
            }))
        })
    }
    fn lifetime(&self) -> Duration {
        self.lifetime
    }
    fn may_schedules<'a>(
        &'a self,
        _: &'a Identity,
        _: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, Result<bool, AccessUnknown>> {
        Box::pin(async { Ok(true) })
    }
}

// ---- The console on the sandbox -------------------------------------------------------------

/// The sandbox at 20 times the pace: for tests of wiring, not of the simulation's pace.
pub fn fast_sandbox() -> Arc<Sandbox> {
    Arc::new(Sandbox::start(
        sandbox_seed(),
        Timings::default().scaled(20.0),
    ))
}

/// The sandbox at its own pace.
pub fn sandbox() -> Arc<Sandbox> {
    Arc::new(Sandbox::start(sandbox_seed(), Timings::default()))
}

/// The console's router, assembled as `main` does.
pub fn console_router(console: Console, gate: Arc<Gate>, edge: Edge) -> axum::Router {
    router(AppState {
        leptos_options: LeptosOptions::builder()
            .output_name("wukong-console")
            .build(),
        console,
        gate,
        edge,
        build: None,
    })
}

/// The default of a loopback `--addr` (on `port`, when the test listens on one).
pub fn loopback(port: Option<u16>) -> Edge {
    Edge {
        hosts: AllowedHosts::loopback(Ipv4Addr::LOCALHOST.into(), port),
        https: false,
        forwarders: Vec::new(),
        metrics_on_main: true,
    }
}

/// Sessions that outlast any test; the token rechecked every minute; a cookie without `Secure`.
pub fn session_policy() -> SessionPolicy {
    SessionPolicy {
        idle: Duration::from_secs(600),
        absolute: Duration::from_secs(3600),
        token_recheck: Duration::from_secs(60),
        secure_cookie: false,
    }
}

/// A loopback listener and its address (the edge needs the port before the router exists).
pub async fn listen() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    (listener, addr)
}

/// Serves `app` on `listener` in the background, each request with its connection's address
/// (as `main` serves it).
pub fn serve_in_background(listener: tokio::net::TcpListener, app: axum::Router) {
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
}

/// A runtime for the property tests, which drive the console from a synchronous test runner.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

// ---- Plain HTTP, in process -----------------------------------------------------------------

/// An answer with its body as text.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn into_parts(self) -> (StatusCode, HeaderMap, String) {
        (self.status, self.headers, self.body)
    }
}

/// Sends `request` to `app` in process.
pub async fn send(app: &axum::Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.expect("router answers");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// A form POST, as the page's server functions and the sign-in form send it, with `headers`.
pub fn form_post(path: &str, headers: &[(&str, &str)], form: &str) -> Request<Body> {
    let mut request =
        Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .body(Body::from(form.to_owned()))
        .expect("request builds")
}

/// The sign-in form's POST with the stand-in's good token.
pub fn good_sign_in(headers: &[(&str, &str)]) -> Request<Body> {
    form_post("/auth/login", headers, &format!("token={GOOD_TOKEN}"))
}

/// `name=value` of a `Set-Cookie`.
pub fn cookie_pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap_or_default()
}

// ---- The live websocket ---------------------------------------------------------------------

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `/live{query}` on `addr` with `headers` in the handshake.
pub async fn open_live(
    addr: SocketAddr,
    query: &str,
    headers: &[(&str, &str)],
) -> Result<Socket, tungstenite::Error> {
    let mut request = format!("ws://{addr}/live{query}").into_client_request()?;
    for (name, value) in headers {
        request.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
            value.parse().expect("a header value"),
        );
    }
    // Bounded: a handshake that never completes is a failure to report, not a hung CI run.
    match tokio::time::timeout(
        std::time::Duration::from_secs(15),
        tokio_tungstenite::connect_async(request),
    )
    .await
    {
        Ok(answer) => answer.map(|(socket, _)| socket),
        Err(_) => Err(tungstenite::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "no websocket handshake answer within 15 s",
        ))),
    }
}

// ---- Property tests -------------------------------------------------------------------------

/// Runs `property` over `cases` values of `strategy`, without persisting failures (the seed comes
/// from `PROPTEST_RNG_SEED` when set).
pub fn run<S: Strategy>(
    cases: u32,
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    if let Err(failure) = runner.run(&strategy, property) {
        panic!("{failure}");
    }
}

/// Raw query bytes the way a hostile client writes them: the URL's special characters and `%` as
/// they are (so `%zz`, a lone `%` and encoded invalid UTF-8 all occur), everything else encoded.
pub fn percent_encode_some(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"&=+%-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// JSON of any shape, up to `depth` levels of `leaf` values: arrays of fewer than `branch`
/// items, and objects keyed by names the server reads (`keys`) or any others.
pub fn json_value(
    leaf: impl Strategy<Value = Value> + 'static,
    keys: Vec<&'static str>,
    depth: u32,
    size: u32,
    branch: u32,
) -> impl Strategy<Value = Value> {
    leaf.prop_recursive(depth, size, branch, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..branch as usize).prop_map(Value::Array),
            btree_map(
                prop_oneof![
                    proptest::sample::select(keys.clone()).prop_map(str::to_owned),
                    any::<String>(),
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
