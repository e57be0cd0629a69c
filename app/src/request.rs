//! The request being rendered (server side): its headers as one text each.

use leptos::prelude::use_context;

/// Every value of header `name` joined with `separator` (a header may come more than once: HTTP/2
/// splits cookies, RFC 9110 lets lists be split); `None` outside a request.
pub fn header_text(name: http::header::HeaderName, separator: &str) -> Option<String> {
    let parts = use_context::<http::request::Parts>()?;
    Some(
        parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(separator),
    )
}

/// The request's cookies, as one `Cookie` header.
pub fn cookies() -> Option<String> {
    header_text(http::header::COOKIE, "; ")
}
