//! A cheap structural check of a POST body before rmcp parses it.
//!
//! rmcp answers an unparsable body with a plain-text 400 that quotes the
//! parser's message, and cannot echo the id of a request it could not decode.
//! Checking the envelope here gives every malformed message a JSON-RPC error
//! (`-32700` or `-32600`, id echoed whenever the body has a usable one), bounds
//! bodies without a `Content-Length`, and leaves the fully-parsed dispatch to
//! rmcp. Later layers (scope checks) read the method and tool name from here.

use std::borrow::Cow;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt as _, Limited};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

/// What the envelope says, for routing decisions.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    pub id: Option<Value>,
    pub method: Option<String>,
    /// `params.name` of a `tools/call` (for per-tool limits and scopes).
    pub tool: Option<String>,
}

#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(default)]
    id: Option<Value>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<Params<'a>>,
    #[serde(default)]
    result: Option<IgnoredAny>,
    #[serde(default)]
    error: Option<IgnoredAny>,
}

/// `params`, of which only a string `name` member is kept; anything else
/// (arrays, scalars, the arguments) is skipped without being built. What
/// `tools/call` needs of its shape is noted on the way.
#[derive(Default)]
struct Params<'a> {
    name: Option<Cow<'a, str>>,
    /// An object (not an array or a scalar).
    object: bool,
    /// A `name` member that is not a string.
    bad_name: bool,
    /// An `arguments` member that is neither an object nor null.
    bad_arguments: bool,
}

impl<'de: 'a, 'a> Deserialize<'de> for Params<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Params<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("JSON-RPC params")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Self::Value, M::Error> {
                let mut out = Params {
                    object: true,
                    ..Params::default()
                };
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    if key == "name" && out.name.is_none() && !out.bad_name {
                        out.name = map.next_value::<NameValue<'de>>()?.0;
                        out.bad_name = out.name.is_none();
                    } else if key == "arguments" {
                        out.bad_arguments = !map.next_value::<ArgumentsShape>()?.0;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(out)
            }
            fn visit_seq<S: serde::de::SeqAccess<'de>>(
                self,
                mut seq: S,
            ) -> Result<Self::Value, S::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Params::default())
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Params::default())
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Params::default())
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Params::default())
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Params::default())
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Params::default())
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Params::default())
            }
        }
        d.deserialize_any(Visit(std::marker::PhantomData))
    }
}

/// A `name` value: kept when it is a string, ignored otherwise (rmcp
/// judges a malformed call).
struct NameValue<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for NameValue<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either<'a> {
            Str(#[serde(borrow)] Cow<'a, str>),
            Other(IgnoredAny),
        }
        Ok(match Either::deserialize(d)? {
            Either::Str(s) => Self(Some(s)),
            Either::Other(_) => Self(None),
        })
    }
}

/// Whether a value is an object or null (what `arguments` may be),
/// skipped without being built.
struct ArgumentsShape(bool);

impl<'de> Deserialize<'de> for ArgumentsShape {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = ArgumentsShape;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("tool arguments")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut m: M,
            ) -> Result<Self::Value, M::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(ArgumentsShape(true))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(ArgumentsShape(true))
            }
            fn visit_seq<S: serde::de::SeqAccess<'de>>(
                self,
                mut q: S,
            ) -> Result<Self::Value, S::Error> {
                while q.next_element::<IgnoredAny>()?.is_some() {}
                Ok(ArgumentsShape(false))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(ArgumentsShape(false))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(ArgumentsShape(false))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(ArgumentsShape(false))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(ArgumentsShape(false))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(ArgumentsShape(false))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// A JSON-RPC error response with an HTTP status; its wire shape is in
/// [`crate::wire`], with every other refusal's.
pub use crate::wire::RpcError;

fn bad(code: i64, message: &'static str, id: Option<Value>) -> RpcError {
    RpcError {
        status: StatusCode::BAD_REQUEST,
        code,
        message: Cow::Borrowed(message),
        id,
    }
}

/// Read at most `limit` bytes of `body`.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, RpcError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(RpcError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                code: -32600,
                message: Cow::Borrowed("Payload Too Large"),
                id: None,
            })
        }
        Err(e) if crate::http::conn::is_body_timeout(e.as_ref()) => Err(RpcError {
            status: StatusCode::REQUEST_TIMEOUT,
            code: -32600,
            message: Cow::Borrowed("Request Timeout: the body did not arrive in time"),
            id: None,
        }),
        Err(_) => Err(bad(
            -32700,
            "Parse error: the request body could not be read",
            None,
        )),
    }
}

/// Check that `bytes` is one JSON-RPC 2.0 message.
pub fn check(bytes: &[u8]) -> Result<Envelope, RpcError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        // Batches were removed in 2025-06-18; rmcp does not execute them.
        return Err(bad(
            -32600,
            "Invalid Request: batch requests are not supported",
            None,
        ));
    }
    let raw: Raw<'_> = match serde_json::from_slice(bytes) {
        Ok(raw) => raw,
        // Valid JSON that is not a request object (a number, a string,
        // null, a non-string `method`, ...) is an invalid request; only
        // text that is not JSON at all is a parse error.
        Err(_) if serde_json::from_slice::<IgnoredAny>(bytes).is_ok() => {
            return Err(bad(
                -32600,
                "Invalid Request: the body is not a JSON-RPC request object",
                None,
            ));
        }
        Err(_) => {
            return Err(bad(-32700, "Parse error: the body is not JSON", None));
        }
    };
    let id = raw.id.filter(|id| id.is_string() || id.is_number());
    if raw.jsonrpc.as_deref() != Some("2.0") {
        return Err(bad(
            -32600,
            "Invalid Request: \"jsonrpc\" must be \"2.0\"",
            id,
        ));
    }
    if raw.method.is_none() && raw.result.is_none() && raw.error.is_none() {
        return Err(bad(
            -32600,
            "Invalid Request: no method, result or error",
            id,
        ));
    }
    let tool = match (raw.method.as_deref(), raw.params) {
        (Some("tools/call"), Some(p)) if p.object && !p.bad_name && !p.bad_arguments => {
            match p.name {
                Some(name) => Some(name.into_owned()),
                None => return Err(bad(-32602, "Invalid params: `name` is required", id)),
            }
        }
        (Some("tools/call"), Some(p)) => {
            let message = if !p.object {
                "Invalid params: `params` must be an object"
            } else if p.bad_name {
                "Invalid params: `name` must be a string"
            } else {
                "Invalid params: `arguments` must be an object"
            };
            return Err(bad(-32602, message, id));
        }
        (Some("tools/call"), None) => {
            return Err(bad(
                -32602,
                "Invalid params: `params` with `name` is required",
                id,
            ));
        }
        _ => None,
    };
    Ok(Envelope {
        id,
        method: raw.method.map(Cow::into_owned),
        tool,
    })
}

/// Give a non-JSON 4xx from rmcp (missing session id, unknown session, wrong
/// media type) the JSON-RPC error shape, keeping its status.
pub async fn normalise_error(res: Response, id: Option<Value>) -> Response {
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/event-stream"));
    if !status.is_client_error() || is_json {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = match Limited::new(body, 1024).collect().await {
        Ok(b) => String::from_utf8_lossy(&b.to_bytes()).trim().to_owned(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() || text.len() > 200 {
        status
            .canonical_reason()
            .unwrap_or("Bad Request")
            .to_owned()
    } else {
        text
    };
    // rmcp answers 415 with its parser's message when a message that
    // passed the envelope check still does not decode (nesting beyond
    // serde_json's depth limit): an invalid request, told without quoting
    // the parser.
    if status == StatusCode::UNSUPPORTED_MEDIA_TYPE && message.starts_with("fail to deserialize") {
        return bad(
            -32600,
            "Invalid Request: the message could not be decoded",
            id,
        )
        .into_response();
    }
    let code = if status == StatusCode::NOT_FOUND {
        -32001
    } else {
        -32600
    };
    let mut out = RpcError {
        status,
        code,
        message: Cow::Owned(message),
        id,
    }
    .into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_checks() {
        assert!(check(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).is_ok());
        assert!(check(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).is_ok());
        assert!(check(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#).is_ok());
        let e = check(b"{not json").unwrap_err();
        assert_eq!((e.code, e.id), (-32700, None));
        // Valid JSON that is not a request object: -32600, id null.
        for body in [
            &b"5"[..],
            b"\"x\"",
            b"null",
            b"true",
            br#"{"jsonrpc":"2.0","id":1,"method":7}"#,
        ] {
            let e = check(body).unwrap_err();
            assert_eq!(
                (e.code, e.id),
                (-32600, None),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let e = check(br#"{"jsonrpc":"1.0","id":"x","method":"ping"}"#).unwrap_err();
        assert_eq!((e.code, e.id), (-32600, Some(Value::from("x"))));
        let e = check(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#).unwrap_err();
        assert_eq!(e.code, -32600);
        // An object id is not echoed; rmcp judges the rest of such a message.
        assert!(check(br#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#).is_ok());
        let e = check(br#"{"jsonrpc":"2.0","id":3}"#).unwrap_err();
        assert_eq!((e.code, e.id), (-32600, Some(Value::from(3))));
    }

    #[test]
    fn tool_name_of_tools_call() {
        let env = check(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"name":"x"},"name":"get_employee_count"}}"#).unwrap();
        assert_eq!(env.tool.as_deref(), Some("get_employee_count"));
        let env =
            check(br#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p"}}"#)
                .unwrap();
        assert_eq!(env.tool, None);
        // Malformed tools/call params are -32602 with the id echoed.
        for body in [
            &br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[1,"a"]}"#[..],
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}"#,
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":null}"#,
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{}}}"#,
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":[1]}}"#,
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":"x"}}"#,
        ] {
            let e = check(body).unwrap_err();
            assert_eq!((e.code, e.id), (-32602, Some(Value::from(1))), "{}", String::from_utf8_lossy(body));
        }
        let env = check(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a\u0062","arguments":null}}"#).unwrap();
        assert_eq!(env.tool.as_deref(), Some("ab"));
    }
}
