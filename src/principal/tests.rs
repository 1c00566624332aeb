use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;

use super::*;

fn claims(value: Value) -> Claims {
    match value {
        Value::Object(map) => map,
        _ => Claims::new(),
    }
}

fn jwt(value: Value) -> Principal {
    Principal::from_claims(VerifierKind::Jwt, claims(value))
}

fn scopes(p: &Principal) -> Vec<&str> {
    p.scopes().collect()
}

#[test]
fn league_subject_gives_owner_type_and_id() {
    let user = ResourceOwner::parse("Users:1");
    assert_eq!(
        user.map(|o| (o.kind(), o.id())),
        Some((OwnerKind::User, "1"))
    );
    let contact = ResourceOwner::parse("Contacts:7");
    assert_eq!(
        contact.map(|o| (o.kind(), o.id())),
        Some((OwnerKind::Contact, "7"))
    );
    for not_league in ["1", "Users:", "Accounts:3", "users:1", ""] {
        assert_eq!(ResourceOwner::parse(not_league), None, "{not_league}");
    }
}

#[test]
fn the_owner_is_read_from_the_subject_and_borrows_its_id() {
    let p = Principal::builder(VerifierKind::Remote)
        .subject("Users:a:b")
        .build();
    let owner = p.owner();
    assert_eq!(owner.map(|o| o.kind()), Some(OwnerKind::User));
    let id = owner.map(|o| o.id()).unwrap_or_default();
    assert_eq!(id, "a:b");
    // The id is the subject's own bytes, not a copy.
    let subject = p.subject().unwrap_or_default();
    assert_eq!(id.as_ptr(), subject[6..].as_ptr());
    assert_eq!(
        Principal::builder(VerifierKind::Remote).build().owner(),
        None
    );
    let p = Principal::builder(VerifierKind::Remote)
        .subject("alice")
        .build();
    assert_eq!(p.owner(), None);
}

#[test]
fn scopes_come_from_scope_scopes_or_scp() {
    assert_eq!(
        scopes(&jwt(json!({"scope": "read  write\tx"}))),
        ["read", "write", "x"]
    );
    assert_eq!(
        scopes(&jwt(json!({"scopes": ["read", "write", "profile"]}))),
        ["read", "write", "profile"]
    );
    assert_eq!(scopes(&jwt(json!({"scp": ["a", "b"]}))), ["a", "b"]);
    assert_eq!(scopes(&jwt(json!({"scp": "a b"}))), ["a", "b"]);
    // The first present claim counts, even of the wrong type.
    assert_eq!(scopes(&jwt(json!({"scope": "a", "scopes": ["b"]}))), ["a"]);
    assert!(scopes(&jwt(json!({"scope": 5, "scopes": ["b"]}))).is_empty());
    assert!(scopes(&jwt(json!({"scope": null, "scp": "b"}))).is_empty());
    assert!(scopes(&jwt(json!({}))).is_empty());
    assert_eq!(jwt(json!({})).scope(), "");
}

#[test]
fn a_scope_that_is_empty_or_holds_a_space_is_ignored_never_split() {
    let p = jwt(json!({"scopes": ["read", "admin write", "", " ", 7, "profile"]}));
    assert_eq!(scopes(&p), ["read", "profile"]);
    assert_eq!(p.scope(), "read profile");
    assert!(!p.has_scope("admin"));
    assert!(!p.has_scope("write"));
    assert!(!p.has_scope("admin write"));
    assert!(!p.has_scope(""));
    let p = Principal::builder(VerifierKind::Custom("test"))
        .scopes(["admin write", "read", "", "x y z"])
        .build();
    assert_eq!(scopes(&p), ["read"]);
    assert!(!p.has_scope("admin"));
    let none = Principal::builder(VerifierKind::Custom("test"))
        .scopes(["a b"])
        .build();
    assert_eq!(none.scope(), "");
    assert_eq!(none.scopes().next(), None);
}

#[test]
fn scopes_iterate_both_ways_and_scope_joins_them_with_spaces() {
    let p = Principal::builder(VerifierKind::Custom("test"))
        .scopes(vec!["a".to_owned(), "bb".to_owned(), "ccc".to_owned()])
        .build();
    assert_eq!(p.scope(), "a bb ccc");
    assert_eq!(p.scopes().rev().collect::<Vec<_>>(), ["ccc", "bb", "a"]);
    let mut both = p.scopes();
    assert_eq!(
        (both.next(), both.next_back(), both.next(), both.next()),
        (Some("a"), Some("ccc"), Some("bb"), None)
    );
    assert_eq!(both.next_back(), None);
    let (low, high) = p.scopes().size_hint();
    assert!(low <= 3 && high.is_some_and(|high| high >= 3));
    assert_eq!(format!("{:?}", p.scopes()), r#"["a", "bb", "ccc"]"#);
}

#[test]
fn has_scope_compares_whole_scopes() {
    let p = jwt(json!({"scope": "orders:read profile"}));
    assert!(p.has_scope("orders:read"));
    assert!(p.has_scope("profile"));
    for not_held in [
        "orders",
        "read",
        "orders:read profile",
        "profil",
        "Profile",
        "",
    ] {
        assert!(!p.has_scope(not_held), "{not_held}");
    }
}

#[test]
fn from_claims_reads_subject_owner_and_expiry() {
    let p = jwt(json!({"sub": "Contacts:7", "exp": 1_700_000_000}));
    assert_eq!(p.subject(), Some("Contacts:7"));
    assert_eq!(
        p.owner().map(|o| (o.kind(), o.id())),
        Some((OwnerKind::Contact, "7"))
    );
    assert_eq!(
        p.expires_at(),
        Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
    );
    let p = jwt(json!({"exp": 1_700_000_000.25}));
    assert_eq!(
        p.expires_at(),
        Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_250))
    );
    for wrong in [
        json!({"exp": "soon"}),
        json!({"exp": -1}),
        json!({"sub": 5}),
    ] {
        let p = jwt(wrong.clone());
        assert_eq!((p.subject(), p.expires_at()), (None, None), "{wrong}");
    }
}

#[test]
fn the_claims_text_is_the_compact_json_of_the_map_and_parses_back() {
    let map =
        claims(json!({"sub": "Users:1", "tenant": "acme", "n": [1, {"x": null}], "e": "a\"b"}));
    let p = Principal::from_claims(VerifierKind::Jwt, map.clone());
    assert_eq!(
        p.claims_json(),
        serde_json::to_string(&map).unwrap_or_default()
    );
    assert!(!p.claims_json().contains(' '));
    assert_eq!(p.claims(), map);
    let built = Principal::builder(VerifierKind::Jwt)
        .claims(map.clone())
        .build();
    assert_eq!(built.claims_json(), p.claims_json());
    assert_eq!(
        Principal::builder(VerifierKind::Jwt).build().claims_json(),
        "{}"
    );
    assert!(
        Principal::builder(VerifierKind::Jwt)
            .build()
            .claims()
            .is_empty()
    );
}

#[test]
fn claim_parses_one_member() {
    let p = jwt(json!({"tenant": "acme", "roles": ["a", "b"], "nested": {"k": 1}, "nil": null}));
    assert_eq!(p.claim("tenant"), Some(json!("acme")));
    assert_eq!(p.claim("roles"), Some(json!(["a", "b"])));
    assert_eq!(p.claim("nested"), Some(json!({"k": 1})));
    assert_eq!(p.claim("nil"), Some(Value::Null));
    assert_eq!(p.claim("missing"), None);
    assert_eq!(p.claim("k"), None);
}

#[test]
fn the_builder_keeps_claims_without_deriving_fields_from_them() {
    let p = Principal::builder(VerifierKind::Introspection)
        .subject("ann")
        .claims(claims(
            json!({"sub": "Users:9", "scope": "admin", "exp": 1}),
        ))
        .build();
    assert_eq!(p.subject(), Some("ann"));
    assert_eq!(p.owner(), None);
    assert_eq!(p.scope(), "");
    assert_eq!(p.expires_at(), None);
    assert_eq!(p.claim("scope"), Some(json!("admin")));
}

#[test]
fn from_claims_json_keeps_the_text_and_agrees_with_from_claims() {
    let text =
        r#"{ "sub": "Users:3", "scp": ["a", "b c", "d"], "exp": 2000000000, "x": {"y": [1]} }"#;
    let p = Principal::from_claims_json(VerifierKind::Custom("text"), text.to_owned())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.claims_json(), text);
    let from_map = Principal::from_claims(
        VerifierKind::Custom("text"),
        serde_json::from_str(text).unwrap_or_default(),
    );
    assert_eq!(p.subject(), from_map.subject());
    assert_eq!(p.scope(), "a d");
    assert_eq!(p.scope(), from_map.scope());
    assert_eq!(p.expires_at(), from_map.expires_at());
    assert_eq!(p.owner(), from_map.owner());
    assert_eq!(p.claims(), from_map.claims());
    // A name given twice counts with its last value, as in the map.
    let twice = r#"{"sub":"first","sub":"last","scope":"a","scope":5}"#;
    let p = Principal::from_claims_json(VerifierKind::Jwt, twice.to_owned())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((p.subject(), p.scope()), (Some("last"), ""));
    assert_eq!(p.claim("sub"), Some(json!("last")));
    assert_eq!(p.claims().get("sub"), Some(&json!("last")));
    for bad in ["", "[]", "\"x\"", "{\"sub\":", "{} {}"] {
        assert!(
            Principal::from_claims_json(VerifierKind::Jwt, bad.to_owned()).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn claims_deserialize_into_a_user_type_owned_or_borrowed() {
    #[derive(serde::Deserialize)]
    struct Mine {
        tenant: String,
        level: u8,
    }
    #[derive(serde::Deserialize)]
    struct Borrowed<'a> {
        tenant: &'a str,
    }
    let p = jwt(json!({"tenant": "acme", "level": 3, "other": [1]}));
    let mine: Mine = p.deserialize_claims().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((mine.tenant.as_str(), mine.level), ("acme", 3));
    let borrowed: Borrowed<'_> = p.deserialize_claims().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(borrowed.tenant, "acme");
    assert!(p.claims_json().contains(borrowed.tenant));
    let wrong = jwt(json!({"tenant": 5, "level": 3}));
    assert!(wrong.deserialize_claims::<Mine>().is_err());
}

#[test]
fn debug_shows_claim_names_and_no_claim_values() {
    let p =
        jwt(json!({"sub": "Users:1", "email": "alice@example.com", "pin": 4711, "scope": "read"}));
    let shown = format!("{p:?}");
    for name in ["\"email\"", "\"pin\"", "Users:1", "read", "User", "Jwt"] {
        assert!(shown.contains(name), "{name} missing from {shown}");
    }
    assert!(!shown.contains("alice@example.com"), "{shown}");
    assert!(!shown.contains("4711"), "{shown}");
    let builder = Principal::builder(VerifierKind::Jwt).claims(claims(json!({"secret": "s3cret"})));
    let shown = format!("{builder:?}");
    assert!(
        shown.contains("\"secret\"") && !shown.contains("s3cret"),
        "{shown}"
    );
}

/// The size of the shared part of every cached verdict (the `Arc` adds its two counts): 80
/// bytes on 64-bit targets, was 144 with owned strings, a vector and a map.
#[cfg(target_pointer_width = "64")]
#[test]
fn the_principal_inner_is_80_bytes() {
    assert_eq!(std::mem::size_of::<PrincipalInner>(), 80);
}
