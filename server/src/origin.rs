//! Cross-origin requests are refused where they could change something or read live data: every
//! request that is not GET/HEAD (the server functions) and the `/live` websocket handshake.
//!
//! A browser says where a request comes from: `Sec-Fetch-Site` (anything but `same-origin` or
//! `none` is refused) and `Origin` (it must name the request's `Host`, and be one of the addresses
//! the console answers to, `host::AllowedHosts`, in the `--public-url`'s scheme where one is
//! given). Requests carrying neither come from non-browser clients, which a page elsewhere cannot
//! make a person's browser send.

use crate::host::{request_host, AllowedHosts};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub async fn same_origin_only(
    State(hosts): State<AllowedHosts>,
    request: Request,
    next: Next,
) -> Response {
    let guarded =
        !matches!(*request.method(), Method::GET | Method::HEAD) || request.uri().path() == "/live";
    if guarded {
        if let Some(reason) = cross_origin(&request, &hosts) {
            tracing::warn!(path = %request.uri().path(), %reason, "cross-origin request refused");
            return (
                StatusCode::FORBIDDEN,
                format!("cross-origin request refused: {reason}"),
            )
                .into_response();
        }
    }
    next.run(request).await
}

fn cross_origin(request: &Request, hosts: &AllowedHosts) -> Option<String> {
    let headers = request.headers();
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        if !matches!(site, "same-origin" | "none") {
            return Some(format!("Sec-Fetch-Site is {site}"));
        }
    }
    let origin = text(header::ORIGIN.as_str())?;
    let host = request_host(request).unwrap_or_default();
    // Origin is scheme://host[:port]; compare its authority with Host.
    let authority = origin
        .split_once("://")
        .map_or(origin, |(_, authority)| authority);
    if origin == "null" || !authority.eq_ignore_ascii_case(&host) {
        return Some(format!("Origin {origin} is not this server ({host})"));
    }
    // Host alone proves nothing on paths the host guard lets through for any name (the probes),
    // and with --public-url the scheme matters too (an http:// page is not the https:// console).
    if !hosts.admits_origin(origin) {
        return Some(format!(
            "Origin {origin} is not an address this console answers to"
        ));
    }
    None
}
