//! The `wukong-console` server: configuration and axum wiring around the `app` crate.
//!
//! Routes: the SSR page and its server functions (`/api/*`), the live websocket (`/live`),
//! `/healthz`, `/readyz`, `/metrics` (counts for Prometheus: `metrics`), the site's WASM/JS/CSS (`/pkg/*`, hashed names cached for a year, gzip written by
//! the release build: `pkg_service`), and the other static files as the fallback. Everything but
//! the websocket is gzipped when the browser takes it. Requests for a host the console does
//! not answer to are refused first (`host`), then cross-origin writes and websocket handshakes
//! (`origin`), then requests without an identity (`auth`).

pub mod auth;
pub mod config;
pub mod host;
mod live;
mod metrics;
mod origin;
mod prefs;
pub mod sockets;
mod status;

use app::{shell, App};
use auth::Gate;
use axum::extract::FromRef;
use axum::http::StatusCode;
use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use host::AllowedHosts;
use leptos::nonce::use_nonce;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes, ResponseOptions};
use std::sync::Arc;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use wukong_cluster::Console;

/// Largest request body accepted (server function arguments are a few hundred bytes).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// HSTS for a console reached over HTTPS: a year, this host only (subdomains are not ours).
const HSTS: &str = "max-age=31536000";

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub console: Console,
    pub gate: Arc<Gate>,
    pub edge: Edge,
    /// Which build this is ([`site_build`]): the page names it, and every live socket says it
    /// first, so a tab left open across an upgrade learns that it runs an old WASM.
    pub build: Option<Arc<str>>,
}

/// How the console meets the network.
#[derive(Clone, Debug)]
pub struct Edge {
    /// The host names it answers to (`--public-url`, `--allowed-hosts`, or the loopback names).
    pub hosts: AllowedHosts,
    /// People reach it over HTTPS (`--secure-cookie`): every response carries HSTS.
    pub https: bool,
    /// The reverse proxies in front of it (`--forwarded-trusted`): from these, the client is the
    /// one their `X-Forwarded-For` names (`auth::client_address`).
    pub forwarders: Vec<ipnet::IpNet>,
    /// `/metrics` is served here, on the pages' address (no `--metrics-addr`); otherwise only
    /// [`metrics_router`] serves it, on its own address.
    pub metrics_on_main: bool,
}

impl FromRef<AppState> for Arc<Gate> {
    fn from_ref(state: &AppState) -> Self {
        state.gate.clone()
    }
}

/// The page's content security policy: scripts only from this server or with this response's
/// nonce (Leptos' hydration scripts carry it), WASM allowed to compile, nothing framed or framing.
fn page_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// For every other response (files, server functions, errors).
const BASE_POLICY: &str = "object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

impl FromRef<AppState> for Edge {
    fn from_ref(state: &AppState) -> Self {
        state.edge.clone()
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The whole HTTP surface of the console.
/// The hash file (`hash.txt`) the release build writes beside the binary when it hashes the
/// site's file names, if it is there.
pub fn hash_file_beside_exe(options: &LeptosOptions) -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.join(options.hash_file.as_ref());
    path.is_file().then_some(path)
}

/// The build's name: the hashes of its site files, as the release build wrote them in `hash.txt`
/// beside the binary (the JS, the WASM, the CSS, the split-off pieces' manifest), so a change in
/// any of them, a lazily loaded piece included, is another build. `None` for a build whose file
/// names carry no hash: its tabs are not told about upgrades.
pub fn site_build(options: &LeptosOptions) -> Option<Arc<str>> {
    if !options.hash_files {
        return None;
    }
    build_name(&std::fs::read_to_string(hash_file_beside_exe(options)?).ok()?)
}

/// The values of a `hash.txt` (`js: …`, `wasm: …`, one per line), joined with dots in the
/// file's order; `None` without a WASM hash.
fn build_name(hashes: &str) -> Option<Arc<str>> {
    let mut wasm = false;
    let mut parts = Vec::new();
    for line in hashes.lines() {
        let Some((kind, hash)) = line.split_once(':') else {
            continue;
        };
        let hash = hash.trim();
        if hash.is_empty() {
            continue;
        }
        wasm |= kind.trim() == "wasm";
        parts.push(hash);
    }
    wasm.then(|| Arc::from(parts.join(".")))
}

/// How long a browser keeps a file whose name carries its content's hash: a year, unchanged
/// (a new build is a new name).
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Whether a `/pkg` file name carries a content hash as cargo-leptos writes it:
/// `name.<22 characters of URL-safe base64 (an MD5)>.ext`, maybe with `.gz`.
fn is_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(name);
    let mut parts = name.rsplit('.');
    let (Some(_ext), Some(hash), Some(_stem)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    hash.len() == 22
        && hash
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The site's WASM, JS and CSS (`/pkg`): the gzip file the release build writes beside each one
/// when the browser takes gzip (a third of the bytes), compressed on the fly otherwise. A file
/// whose name carries its hash (the release build's) is cached for a year, immutable: a repeat
/// visit downloads nothing, and an upgraded console is new names, never an old WASM. Any other
/// name is revalidated on every visit (`no-cache` with `Last-Modified`: a 304).
fn pkg_service(options: &LeptosOptions) -> axum::routing::MethodRouter {
    let dir = std::path::Path::new(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref());
    let files = tower::ServiceBuilder::new()
        .layer(tower_http::compression::CompressionLayer::new())
        .service(tower_http::services::ServeDir::new(dir).precompressed_gzip());
    axum::routing::get_service(files).layer(axum::middleware::from_fn(cache_control))
}

/// `Cache-Control` for a `/pkg` answer (see [`pkg_service`]).
async fn cache_control(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let hashed = is_hashed(request.uri().path());
    let mut response = next.run(request).await;
    let value = if hashed && response.status().is_success() {
        IMMUTABLE
    } else {
        "no-cache"
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    response
}

/// `/readyz`: ready once the process's one watch has listed everything (until then a page would
/// show an empty list), and while it is not shutting down. `/healthz` only says the process runs.
async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> impl IntoResponse {
    if state.gate.is_closing() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    } else if !state.gate.sessions_synced() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the sign-in sessions have not been loaded yet",
        )
    } else if state.console.store.is_ready() {
        (StatusCode::OK, "ok")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the watch on the cluster has not listed the VMs yet",
        )
    }
}

/// The span every log line of a request is written in: its id, method and path (never the query:
/// it may hold a filter a person typed).
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path()
    )
}

/// `/metrics` alone, for `--metrics-addr`: an address Prometheus reaches and people do not (behind
/// an Ingress, everything on the pages' address is public).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::metrics))
        .with_state(state)
}

pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let console = state.console.clone();
    let options = state.leptos_options.clone();
    let pkg = pkg_service(&state.leptos_options);
    let sign_in = state.gate.sign_in();
    let gate = state.gate.clone();
    let edge = state.edge.clone();
    let build = state.build.clone().map(app::SiteBuild);
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz));
    let app = if edge.metrics_on_main {
        app.route("/metrics", get(metrics::metrics))
    } else {
        app
    };
    let app = app
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/lang", post(prefs::choose))
        .route("/theme", post(prefs::theme))
        .nest_service(&format!("/{}", state.leptos_options.site_pkg_dir), pkg)
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                provide_context(console.clone());
                provide_context(sign_in);
                if let Some(build) = &build {
                    provide_context(build.clone());
                }
                if let (Some(nonce), Some(response)) =
                    (use_nonce(), use_context::<ResponseOptions>())
                {
                    if let Ok(value) = HeaderValue::from_str(&page_policy(&nonce.to_string())) {
                        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
                    }
                }
            },
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        // Inside compression: it reads a server function's error body to give the answer its
        // status, which it cannot once gzipped (a browser's every error was a 500 until
        // 2026-12-03).
        .layer(axum::middleware::from_fn(status::server_fn_status))
        // HTML, server functions' JSON and the other files, gzipped when the browser takes it
        // (the `/pkg` files come gzipped already and are left alone). Not the websocket: it is
        // added after this layer.
        .layer(tower_http::compression::CompressionLayer::new())
        .route("/live", get(live::upgrade))
        .layer(axum::middleware::from_fn_with_state(gate, auth::identify))
        .layer(axum::middleware::from_fn_with_state(
            edge.hosts.clone(),
            origin::same_origin_only,
        ))
        // Outside the other guards, so a rebound page learns nothing from them.
        .layer(axum::middleware::from_fn_with_state(
            edge.hosts.clone(),
            host::known_hosts_only,
        ))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        // Every request gets an id (a proxy's X-Request-Id is kept), returned in X-Request-Id and
        // a field of every log line written while it is served, audit lines included.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(axum::middleware::from_fn(metrics::count_requests))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(BASE_POLICY),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .with_state(state);
    if edge.https {
        app.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        ))
    } else {
        app
    }
}

#[cfg(test)]
mod pkg_tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    /// A site root with `pkg/` holding `files`, and the `/pkg` service over it.
    fn site(files: &[(&str, &[u8])]) -> (std::path::PathBuf, Router) {
        let root = std::env::temp_dir().join(format!("wukong-pkg-{}", uuid::Uuid::new_v4()));
        let pkg = root.join("pkg");
        std::fs::create_dir_all(&pkg).expect("a temp dir");
        for (name, bytes) in files {
            std::fs::write(pkg.join(name), bytes).expect("write");
        }
        let options = LeptosOptions::builder()
            .output_name("app")
            .site_root(root.to_string_lossy().into_owned())
            .site_pkg_dir("pkg")
            .build();
        (
            root,
            Router::new().nest_service("/pkg", pkg_service(&options)),
        )
    }

    #[tokio::test]
    async fn site_files_go_gzipped_when_the_browser_takes_gzip_and_are_revalidated() {
        let (root, app) = site(&[("app.wasm", &[7u8; 4096]), ("app.wasm.gz", b"gzipped")]);
        let get = |encoding: Option<&str>| {
            let mut request = Request::get("/pkg/app.wasm");
            if let Some(encoding) = encoding {
                request = request.header(header::ACCEPT_ENCODING, encoding);
            }
            app.clone()
                .oneshot(request.body(Body::empty()).expect("a request"))
        };
        let plain = get(None).await.expect("infallible");
        assert_eq!(plain.status(), StatusCode::OK);
        assert_eq!(plain.headers()[header::CACHE_CONTROL], "no-cache");
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        let gzipped = get(Some("gzip, br")).await.expect("infallible");
        assert_eq!(gzipped.headers()[header::CONTENT_ENCODING], "gzip");
        let body = axum::body::to_bytes(gzipped.into_body(), 1 << 20)
            .await
            .expect("a body");
        assert_eq!(
            &body[..],
            b"gzipped",
            "the file the build wrote, not a fresh compression"
        );
        let modified = plain.headers()[header::LAST_MODIFIED].clone();
        let again = app
            .clone()
            .oneshot(
                Request::get("/pkg/app.wasm")
                    .header(header::IF_MODIFIED_SINCE, modified)
                    .body(Body::empty())
                    .expect("a request"),
            )
            .await
            .expect("infallible");
        assert_eq!(
            again.status(),
            StatusCode::NOT_MODIFIED,
            "a repeat visit downloads nothing"
        );
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn the_build_is_named_by_all_its_site_hashes() {
        let hashes = "js: uhihWz4ZEPUq6lQdE-lRVg\nwasm: aGZE8xS7HnjQKXdZG0JkIQ\ncss: 1UpjRK1q9kdRI1d-abLDnw\nsplit: CjBN_BTHO7EezMxEyhBj1A\n";
        assert_eq!(
            build_name(hashes).as_deref(),
            Some("uhihWz4ZEPUq6lQdE-lRVg.aGZE8xS7HnjQKXdZG0JkIQ.1UpjRK1q9kdRI1d-abLDnw.CjBN_BTHO7EezMxEyhBj1A")
        );
        // Only a split-off piece changed: another build.
        let piece = hashes.replace("CjBN_BTHO7EezMxEyhBj1A", "0000000000000000000000");
        assert_ne!(build_name(hashes), build_name(&piece));
        assert_eq!(build_name("js: x\nwasm: \n"), None);
        assert_eq!(build_name(""), None);
    }

    #[test]
    fn a_hashed_name_is_what_cargo_leptos_writes() {
        assert!(is_hashed("/pkg/wukong-console.Q2xhdWRlIHdhcyBoZXJlIQ.wasm"));
        assert!(is_hashed(
            "/pkg/wukong-console.Q2xhdWRlIHdhcyBoZXJlIQ.wasm.gz"
        ));
        assert!(is_hashed("/pkg/wukong-console.a-b_c0123456789ABCDEFG.css"));
        assert!(!is_hashed("/pkg/wukong-console.wasm"));
        assert!(!is_hashed("/pkg/snippets/x.js"));
        assert!(!is_hashed("/pkg/wukong-console.tooshort.js"));
    }

    #[tokio::test]
    async fn hashed_site_files_are_cached_for_a_year_and_others_revalidated() {
        let hashed = "app.Q2xhdWRlIHdhcyBoZXJlIQ.wasm";
        let (root, app) = site(&[(hashed, &[7u8; 4096]), ("app.wasm", &[7u8; 4096])]);
        let cache = |path: String| {
            let app = app.clone();
            async move {
                let answer = app
                    .oneshot(Request::get(path).body(Body::empty()).expect("a request"))
                    .await
                    .expect("infallible");
                (
                    answer.status(),
                    answer.headers()[header::CACHE_CONTROL].clone(),
                )
            }
        };
        assert_eq!(
            cache(format!("/pkg/{hashed}")).await,
            (StatusCode::OK, HeaderValue::from_static(IMMUTABLE))
        );
        assert_eq!(
            cache("/pkg/app.wasm".into()).await,
            (StatusCode::OK, HeaderValue::from_static("no-cache"))
        );
        // A name that is not there is never cached (a console upgraded meanwhile has new names).
        assert_eq!(
            cache("/pkg/app.Q2xhdWRlIHdhcyBoZXJlIR.wasm".into()).await,
            (StatusCode::NOT_FOUND, HeaderValue::from_static("no-cache"))
        );
        let _ = std::fs::remove_dir_all(root);
    }
}
