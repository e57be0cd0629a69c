//! Property tests of the edge (issue 12, item 11): the view parser, the checks every request goes
//! through and the websocket's client messages never panic on anything a browser (or anyone
//! else) can send, and accept only what they should. Each property runs 256 cases; the whole
//! file takes well under a second.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
use wukong_view::{
    validate_action, validate_dns1123_label, validate_dns1123_subdomain, validate_request,
    validate_uid, Action, ClientMessage, View, MAX_GRACE_PERIOD_SECONDS, MAX_PAGE_SIZE,
    MAX_SEARCH_LEN, MIN_PAGE_SIZE,
};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        // A failure is written down as a plain regression test instead (see the end of the file).
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The DNS-1123 label grammar, written independently of the code under test.
fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (1..=63).contains(&b.len())
        && b.iter().all(|c| alnum(c) || *c == b'-')
        && b.first().is_some_and(alnum)
        && b.last().is_some_and(alnum)
}

fn is_subdomain(s: &str) -> bool {
    (1..=253).contains(&s.len()) && s.split('.').all(is_label)
}

/// Text a person or an attacker might send: anything, near misses of the grammar, numbers.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9._~ %+&=-]{0,80}",
        "[a-z0-9-]{0,70}",
        "[ +-]?[0-9]{0,25}[ ]?",
        any::<u32>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        // Longer than every bound, multi-byte at the cut.
        ("[a-zé中🙂]{200,400}").prop_map(|s| s),
    ]
}

fn query_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("namespace".to_owned()),
        Just("q".to_owned()),
        Just("name".to_owned()),
        Just("sort".to_owned()),
        Just("page".to_owned()),
        Just("size".to_owned()),
        any::<String>(),
    ]
}

fn view_of(query: &BTreeMap<String, String>) -> View {
    View::from_query(|name| query.get(name).cloned())
}

/// How the server reads a page address (`application/x-www-form-urlencoded`).
fn parse_query(query: &str) -> BTreeMap<String, String> {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn assert_normalized(view: &View) {
    assert!(
        (MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&view.page_size),
        "{view:?}"
    );
    assert!(
        u64::from(view.page + 1) * u64::from(view.page_size) <= u64::from(u32::MAX),
        "the page's end must be a u32 row index: {view:?}"
    );
    assert!(view.filter.search.len() <= MAX_SEARCH_LEN, "{view:?}");
    assert!(view.filter.name.len() <= MAX_SEARCH_LEN, "{view:?}");
    assert_eq!(
        &view.clone().normalized(),
        view,
        "normalizing twice changes it"
    );
}

/// A JSON value of any shape, a few levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(
                prop_oneof![
                    Just("type".to_owned()),
                    Just("view".to_owned()),
                    Just("filter".to_owned()),
                    Just("namespace".to_owned()),
                    Just("search".to_owned()),
                    Just("sort".to_owned()),
                    Just("page".to_owned()),
                    Just("page_size".to_owned()),
                    any::<String>(),
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A well-formed view message with one part replaced by anything.
fn mutated_view_message() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            Just("type"),
            Just("filter"),
            Just("sort"),
            Just("page"),
            Just("page_size")
        ],
        json(),
    )
        .prop_map(|(field, value)| {
            let mut message = serde_json::to_value(ClientMessage::View(View::default()))
                .expect("a view message is JSON");
            message[field] = value;
            message
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_page_address_gives_a_normalized_view_that_reads_back_the_same(
        query in btree_map(query_key(), text(), 0..8)
    ) {
        let view = view_of(&query);
        assert_normalized(&view);
        let address = view.to_query();
        let again = view_of(&parse_query(&address));
        prop_assert_eq!(&again, &view, "address {:?}", address);
        prop_assert_eq!(again.to_query(), address);
    }

    #[test]
    fn any_raw_query_string_gives_a_normalized_view(raw in text()) {
        let view = view_of(&parse_query(&raw));
        assert_normalized(&view);
    }

    #[test]
    fn a_page_and_size_in_range_are_kept(page in 1..=1000u32, size in MIN_PAGE_SIZE..=MAX_PAGE_SIZE) {
        let query = BTreeMap::from([
            ("page".to_owned(), page.to_string()),
            ("size".to_owned(), size.to_string()),
        ]);
        let view = view_of(&query);
        prop_assert_eq!((view.page, view.page_size), (page - 1, size));
    }

    #[test]
    fn an_accepted_label_is_a_dns1123_label(value in text()) {
        match validate_dns1123_label("namespace", &value) {
            Ok(()) => prop_assert!(is_label(&value), "{:?}", value),
            Err(message) => {
                prop_assert!(!is_label(&value), "{:?} refused: {}", value, message);
                prop_assert!(message.contains("namespace"), "{}", message);
            }
        }
    }

    #[test]
    fn every_dns1123_label_is_accepted(value in "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?") {
        prop_assert_eq!(validate_dns1123_label("namespace", &value), Ok(()));
    }

    #[test]
    fn an_accepted_name_is_a_dns1123_subdomain(
        value in prop_oneof![text(), "[a-z0-9.-]{0,260}", vec("[a-z0-9-]{0,70}", 1..6).prop_map(|l| l.join("."))]
    ) {
        match validate_dns1123_subdomain("name", &value) {
            Ok(()) => prop_assert!(is_subdomain(&value), "{:?}", value),
            Err(message) => {
                prop_assert!(!is_subdomain(&value), "{:?} refused: {}", value, message);
                prop_assert!(message.contains("name"), "{}", message);
            }
        }
    }

    #[test]
    fn an_accepted_uid_is_letters_digits_and_dashes(value in prop_oneof![text(), "[0-9a-f-]{0,140}"]) {
        let well_formed = (1..=128).contains(&value.len())
            && value.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-');
        match validate_uid(&value) {
            Ok(()) => prop_assert!(well_formed, "{:?}", value),
            Err(message) => prop_assert!(!well_formed && message.contains("uid"), "{:?}: {}", value, message),
        }
    }

    #[test]
    fn an_accepted_action_is_known_and_only_stop_takes_a_grace_period(
        action in prop_oneof![
            text(),
            proptest::sample::select(Action::ALL.to_vec()).prop_map(|a| a.as_str().to_owned()),
        ],
        grace in proptest::option::of(prop_oneof![any::<i64>(), -5..3700i64]),
    ) {
        match validate_action(&action, grace) {
            Ok((parsed, accepted_grace)) => {
                prop_assert_eq!(parsed.as_str(), action.as_str());
                match grace {
                    None => prop_assert_eq!(accepted_grace, None),
                    Some(g) => {
                        prop_assert_eq!(parsed, Action::Stop);
                        prop_assert!((0..=i64::from(MAX_GRACE_PERIOD_SECONDS)).contains(&g));
                        prop_assert_eq!(accepted_grace.map(i64::from), Some(g));
                    }
                }
            }
            Err(message) => prop_assert!(!message.is_empty()),
        }
    }

    #[test]
    fn an_accepted_request_has_valid_parts_and_a_refusal_says_why(
        namespace in text(),
        name in prop_oneof![text(), "[a-z0-9.-]{1,30}"],
        action in prop_oneof![text(), Just("stop".to_owned()), Just("start".to_owned())],
        grace in proptest::option::of(any::<i64>()),
    ) {
        match validate_request(&namespace, &name, &action, grace) {
            Ok(valid) => {
                prop_assert!(is_label(&namespace) && is_subdomain(&name));
                prop_assert_eq!(valid.key.namespace, namespace);
                prop_assert_eq!(valid.key.name, name);
                prop_assert_eq!(valid.action.as_str(), action.as_str());
            }
            Err(message) => prop_assert!(!message.is_empty()),
        }
    }

    #[test]
    fn any_text_on_the_socket_is_a_view_or_an_error(raw in prop_oneof![
        any::<String>(),
        json().prop_map(|v| v.to_string()),
        mutated_view_message().prop_map(|v| v.to_string()),
    ]) {
        if let Ok(ClientMessage::View(view)) = serde_json::from_str::<ClientMessage>(&raw) {
            // The server normalizes every view it is sent; that must hold for any it can parse.
            assert_normalized(&view.normalized());
        }
    }

    #[test]
    fn any_view_sent_on_the_socket_normalizes(
        namespace in text(), search in text(), page in any::<u32>(), page_size in any::<u32>(), by_state in any::<bool>()
    ) {
        let message = serde_json::json!({
            "type": "view",
            "filter": {"namespace": namespace, "search": search},
            "sort": if by_state { "state" } else { "name" },
            "page": page,
            "page_size": page_size,
        });
        let parsed = serde_json::from_value::<ClientMessage>(message).expect("a well-formed view message");
        let ClientMessage::View(view) = parsed;
        assert_normalized(&view.normalized());
    }
}

#[test]
fn a_view_message_has_the_shape_the_properties_assume() {
    let json = serde_json::to_value(ClientMessage::View(View::default())).expect("JSON");
    for field in ["type", "filter", "sort", "page", "page_size"] {
        assert!(json.get(field).is_some(), "{field} in {json}");
    }
}
