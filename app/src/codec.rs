//! JSON for server functions, read the way the rest of the browser reads JSON.
//!
//! server_fn's own `Json` decodes answers with `serde_json::from_slice`; the live socket and a
//! resource's hydration data are read with `serde_json::from_str`. Every type received both ways
//! (rows, snapshots, `Said`) was compiled into the WASM twice, once per reader. Reading server
//! function answers from `&str` too leaves one copy of each decoder. The bytes on the wire are
//! the same JSON as before.

use leptos::server_fn::codec::Post;
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::{de::DeserializeOwned, Serialize};

/// `application/json`, decoded from text.
pub struct TextJsonEncoding;

/// A server function's answer (or its input) as JSON in a `POST` body, read from text.
pub type TextJson = Post<TextJsonEncoding>;

impl ContentType for TextJsonEncoding {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for TextJsonEncoding {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for TextJsonEncoding {
    type Error = serde_json::Error;

    fn encode(output: &T) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(output).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<T> for TextJsonEncoding {
    type Error = serde_json::Error;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(serde::de::Error::custom)?;
        serde_json::from_str(text)
    }
}
