//! Property tests of the parsers that read untrusted input: the JSON-RPC
//! envelope, the config file, sealed values and PKCE, SQL placeholders and
//! the binding of declared tool arguments, `Host`/`Origin` and forwarded
//! headers. For arbitrary input (very deep JSON and huge numbers included)
//! they must not panic, and must answer in bounded time.
//!
//! CI runs proptest's default 256 cases per property. Run longer with
//! `PROPTEST_CASES=100000 cargo test -p mcp-connector --lib proptests`
//! (a failing case is shrunk and printed; add it to the unit tests).

use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{Map, Value};

use crate::declared::args::{Caller, bind};
use crate::declared::placeholder::{Segment, render, scan};
use crate::declared::spec::{Engine, JsonType, ParamDef};
use crate::http::edge::EdgePolicy;
use crate::mcp::envelope::check;
use crate::network::TrustedProxies;

/// Arbitrary JSON, a few levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A JSON-RPC-shaped object with arbitrary members mixed in.
fn envelope_like() -> impl Strategy<Value = Value> {
    (
        prop::option::of(prop_oneof![Just(Value::from("2.0")), json()]),
        prop::option::of(json()),
        prop::option::of(prop_oneof![
            Just(Value::from("tools/call")),
            Just(Value::from("initialize")),
            json()
        ]),
        prop::option::of(json()),
    )
        .prop_map(|(jsonrpc, id, method, params)| {
            let mut m = Map::new();
            for (k, v) in [
                ("jsonrpc", jsonrpc),
                ("id", id),
                ("method", method),
                ("params", params),
            ] {
                if let Some(v) = v {
                    m.insert(k.to_owned(), v);
                }
            }
            Value::Object(m)
        })
}

fn quick<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{what} took {:?}",
        started.elapsed()
    );
    out
}

proptest! {
    #[test]
    fn envelope_check_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = check(&bytes);
    }

    #[test]
    fn envelope_check_classifies_json(v in envelope_like()) {
        let text = v.to_string();
        match check(text.as_bytes()) {
            Ok(env) => {
                // Only JSON-RPC 2.0 messages get through, and an echoed id
                // is a string or a number.
                prop_assert_eq!(&v["jsonrpc"], "2.0");
                prop_assert!(env.id.as_ref().is_none_or(|id| id.is_string() || id.is_number()));
            }
            Err(e) => prop_assert!(
                e.code == -32600 || e.code == -32700 || (e.code == -32602 && v["method"] == "tools/call"),
                "{} for {}", e.code, v
            ),
        }
    }

    #[test]
    fn config_loader_never_panics(text in "[\\[\\]a-z_.= \"0-9\\n{}#,-]{0,300}") {
        if let Ok(file) = crate::config::Config::parse_file(&text) {
            let _ = crate::config::Config::from_parts(file, &crate::config::Overrides::default());
        }
    }

    #[test]
    fn config_loader_with_real_keys_never_panics(
        section in prop::sample::select(vec!["server", "limits", "auth", "network", "safety", "sources.x", "tools.x"]),
        key in prop::sample::select(vec!["listen", "requests_per_minute", "burst", "mode", "allow", "trusted_proxies",
            "max_sessions", "request_head_timeout_secs", "public_url", "kind", "url", "registrations_per_hour"]),
        value in prop::sample::select(vec!["0", "-1", "18446744073709551616", "1e999", "\"\"", "\"x\"", "[]", "[1,\"a\"]", "{}", "true", "\"256.1.1.1/33\""]),
    ) {
        let text = format!("[{section}]\n{key} = {value}\n");
        if let Ok(file) = crate::config::Config::parse_file(&text) {
            let _ = crate::config::Config::from_parts(file, &crate::config::Overrides::default());
        }
    }

    #[test]
    fn sealed_values_open_only_when_minted(text in ".{0,200}", payload in prop::collection::vec(any::<u8>(), 0..64)) {
        let s = mcp_connector_security::Sealer::new(&[7; 32]);
        prop_assert!(s.open("ctx", &text).is_err() || text == s.seal("ctx", b""));
        let sealed = s.seal("ctx", &payload);
        prop_assert_eq!(s.open("ctx", &sealed).ok(), Some(payload));
        prop_assert!(s.open("other", &sealed).is_err());
    }

    #[test]
    fn pkce_checks_never_panic(a in ".{0,200}", b in ".{0,200}") {
        use mcp_connector_security::pkce;
        let _ = pkce::is_valid_verifier(&a);
        let _ = pkce::is_valid_s256_challenge(&b);
        prop_assert!(!pkce::verify_s256(&a, &b) || pkce::s256_challenge(&a) == b);
    }

    #[test]
    fn sql_placeholders_become_positional_parameters(
        sql in "[a-z :'\"`$#\\-/*\\n;0-9()=]{0,200}",
        engine in prop::sample::select(vec![Engine::Sqlite, Engine::Postgres, Engine::MySql]),
    ) {
        let segments = quick("scan", || scan(&sql, engine));
        let params = segments.iter().filter(|s| matches!(s, Segment::Param(..))).count();
        let (rendered, order) = render(&segments, engine);
        // Every placeholder is one bound parameter; no text is spliced in.
        prop_assert_eq!(order.len(), params);
        let texts: usize = segments
            .iter()
            .map(|s| match s { Segment::Sql(t) => t.len(), Segment::Param(..) => 0 })
            .sum();
        prop_assert!(rendered.len() >= texts);
    }

    #[test]
    fn argument_binding_never_panics(args in prop::collection::btree_map("[a-z]{1,4}", json(), 0..5)) {
        let params = vec![
            ParamDef { name: "a".into(), ty: JsonType::String, description: None, default: None,
                required: true, allowed: None, minimum: None, maximum: None, min_length: Some(1), max_length: Some(8) },
            ParamDef { name: "b".into(), ty: JsonType::Integer, description: None, default: Some(Value::from(5)),
                required: false, allowed: None, minimum: Some(0.0), maximum: Some(100.0), min_length: None, max_length: None },
            ParamDef { name: "c".into(), ty: JsonType::Number, description: None, default: None,
                required: false, allowed: Some(vec![Value::from(1.5), Value::from(2)]), minimum: None, maximum: None,
                min_length: None, max_length: None },
        ];
        let args: Map<String, Value> = args.into_iter().collect();
        if let Ok(bound) = bind(&params, args, &Caller::default()) {
            // Bound values are the declared parameters, nothing else.
            prop_assert!(bound.keys().all(|k| params.iter().any(|p| &p.name == k)));
        }
    }

    #[test]
    fn host_and_origin_checks_never_panic(value in ".{0,120}") {
        let policy = EdgePolicy {
            allowed_hosts: Arc::from(vec!["tools.example.com".to_owned()]),
            allowed_origins: Arc::from(vec!["https://tools.example.com".to_owned()]),
            max_body_bytes: 1024,
            metrics: crate::telemetry::Metrics::disabled(),
        };
        let _ = policy.host_allowed(&value);
        let _ = policy.origin_allowed(&value);
    }

    #[test]
    fn forwarded_headers_never_panic_and_never_leave_the_chain(
        xff in "[0-9a-f.:, \\[\\]]{0,80}",
        fwd in "[0-9a-zA-Z.:;,=\" \\[\\]]{0,80}",
    ) {
        let proxies = TrustedProxies::new(vec!["127.0.0.1/32".parse().unwrap_or_else(|_| unreachable!())]);
        let mut headers = http::HeaderMap::new();
        if let Ok(v) = http::HeaderValue::from_str(&xff) {
            headers.insert("x-forwarded-for", v);
        }
        if let Ok(v) = http::HeaderValue::from_str(&fwd) {
            headers.insert("forwarded", v);
        }
        let peer: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap_or_else(|_| unreachable!());
        let _ = proxies.client_ip(peer, &headers);
        // An untrusted peer is always its own address, whatever it claims.
        let stranger: std::net::SocketAddr = "192.0.2.7:9".parse().unwrap_or_else(|_| unreachable!());
        prop_assert_eq!(proxies.client_ip(stranger, &headers), stranger.ip());
    }
}

#[test]
fn deep_nesting_and_huge_numbers_are_refused_quickly() {
    for depth in [64, 129, 10_000, 200_000] {
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        let in_params = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{objects}}}"
        );
        for text in [&arrays, &objects] {
            let r = quick("deep JSON", || check(text.as_bytes()));
            let e = r.err().unwrap_or_else(|| panic!("depth {depth} accepted"));
            assert!(e.code == -32600 || e.code == -32700);
        }
        // Deep `params` are skipped without recursion here (rmcp's full
        // parse refuses them with serde_json's depth limit); either way
        // in bounded time and without overflowing the stack.
        let _ = quick("deep params", || check(in_params.as_bytes()));
    }
    let huge = "9".repeat(100_000);
    for text in [
        format!("{{\"jsonrpc\":\"2.0\",\"id\":{huge},\"method\":\"ping\"}}"),
        r#"{"jsonrpc":"2.0","id":1e999999,"method":"ping"}"#.to_owned(),
        format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{{\"n\":-{huge}.5e-99999}}}}"
        ),
    ] {
        let _ = quick("huge number", || check(text.as_bytes()));
    }
    let deep_toml = format!("a = {}1{}", "[".repeat(5_000), "]".repeat(5_000));
    let _ = quick("deep TOML", || {
        crate::config::Config::parse_file(&deep_toml)
    });
}
