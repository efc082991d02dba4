use super::*;

const SVC: &str = "svc";

fn key(b: u8) -> Key {
    Key::from_bytes(&[b; KEY_LEN]).unwrap()
}

fn bad_reason(bytes: &[u8]) -> String {
    match parse(bytes, SVC) {
        Err(ParseError::Bad(r)) => r,
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_record_round_trips_byte_exactly() {
    let rec = KeyRecord {
        id: 7,
        created: 1_765_000_000,
        status: Stored::Enabled,
        changed: 1_765_000_001,
        seals: 65_536,
        key: key(0xa5),
    };
    let text = encode_key_record(SVC, &rec);
    assert_eq!(
        &*text,
        r#"{"format":2,"kind":"key","service":"svc","id":7,"created":1765000000,"status":"enabled","changed":1765000001,"seals":65536,"key":"paWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaU="}"#
    );
    match parse(text.as_bytes(), SVC).unwrap() {
        Record::Key(back) => {
            assert_eq!(
                (back.id, back.created, back.status, back.changed, back.seals),
                (7, 1_765_000_000, Stored::Enabled, 1_765_000_001, 65_536)
            );
            assert_eq!(back.key.expose_secret(), &[0xa5; KEY_LEN]);
        }
        other => panic!("{other:?}"),
    }
    let p = encode_primary(
        SVC,
        PrimaryRecord {
            primary: 7,
            since: 9,
        },
    );
    assert_eq!(
        p,
        r#"{"format":2,"kind":"primary","service":"svc","primary":7,"since":9}"#
    );
    assert!(matches!(
        parse(p.as_bytes(), SVC),
        Ok(Record::Primary(PrimaryRecord {
            primary: 7,
            since: 9
        }))
    ));
    let index = IndexRecord {
        keys: vec![
            (7, Listed::Live(Stored::Enabled), 1),
            (5, Listed::Destroyed, 2),
            (3, Listed::Live(Stored::Destroying), 3),
        ],
        v1_primary: None,
    };
    let i = encode_index(SVC, &index).unwrap();
    assert_eq!(
        i,
        r#"{"format":2,"kind":"index","service":"svc","keys":[[7,"enabled",1],[5,"destroyed",2],[3,"destroying",3]]}"#
    );
    match parse(i.as_bytes(), SVC).unwrap() {
        Record::Index(back) => assert_eq!(back, index),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_largest_records_stay_under_the_windows_blob_limit() {
    let index = IndexRecord {
        keys: (0..MAX_KEYS)
            .map(|i| {
                (
                    u32::MAX - u32::try_from(i).unwrap(),
                    Listed::Live(Stored::Destroying),
                    u64::MAX,
                )
            })
            .collect(),
        v1_primary: None,
    };
    let svc = "s".repeat(64);
    let text = encode_index(&svc, &index).unwrap();
    assert!(text.len() <= MAX_RECORD_LEN);
    const { assert!(MAX_RECORD_LEN < 2560) };
    let rec = KeyRecord {
        id: u32::MAX,
        created: u64::MAX,
        status: Stored::Destroying,
        changed: u64::MAX,
        seals: MAX_SEALS_PER_KEY,
        key: key(1),
    };
    assert!(encode_key_record(&svc, &rec).len() < 400);
}

#[test]
fn a_field_given_twice_is_refused_in_every_record_kind() {
    let cases: &[&[u8]] = &[
        br#"{"format":2,"kind":"primary","service":"svc","primary":1,"primary":2,"since":1}"#,
        br#"{"format":2,"kind":"index","service":"svc","keys":[],"keys":[[1,"enabled",1]]}"#,
        br#"{"format":2,"kind":"key","service":"svc","id":7,"id":8,"created":1,"status":"enabled","changed":1,"seals":0,"key":"paWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaU="}"#,
        br#"{"format":1,"primary":1,"primary":2,"keys":[[1,"enabled",1],[2,"enabled",1]]}"#,
        br#"{"format":2,"format":2,"kind":"primary","service":"svc","primary":1,"since":1}"#,
    ];
    for c in cases {
        let r = bad_reason(c);
        assert!(
            r.contains("duplicate field"),
            "{}: {r}",
            String::from_utf8_lossy(c)
        );
    }
}

#[test]
fn malformed_records_are_refused_with_a_reason_that_never_echoes_them() {
    let k = "paWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaU=";
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "not a record (not JSON)"),
        ("[]".into(), "not a record (a field has the wrong type)"),
        (r#"{"format":3}"#.into(), "format 3, this secllama reads formats 1 and 2"),
        (r#"{"format":2,"kind":"primary","primary":1,"since":1}"#.into(), "no service"),
        (r#"{"format":2,"service":"svc"}"#.into(), "no kind"),
        (r#"{"format":2,"kind":"blob","service":"svc"}"#.into(), "unknown kind"),
        (r#"{"format":2,"kind":"primary","service":"svc","primary":1,"since":1,"x":1}"#.into(), "bad primary record (unknown field `x`)"),
        (r#"{"format":2,"kind":"primary","service":"svc","primary":0,"since":1}"#.into(), "primary record naming key 0"),
        (format!(r#"{{"format":2,"kind":"key","service":"svc","id":7,"created":1,"status":"on","changed":1,"seals":0,"key":"{k}"}}"#), "unknown status"),
        (format!(r#"{{"format":2,"kind":"key","service":"svc","id":7,"created":1,"status":"enabled","changed":1,"key":"{k}"}}"#), "missing field `seals`"),
        (format!(r#"{{"format":2,"kind":"key","service":"svc","id":7,"created":1,"status":"enabled","changed":1,"seals":"{k}","key":"{k}"}}"#), "a field has the wrong type"),
        (r#"{"format":2,"kind":"key","service":"svc","id":7,"created":1,"status":"enabled","changed":1,"seals":0,"key":"abc"}"#.into(), "key 7: 3 bytes where 44"),
        (format!(r#"{{"format":2,"kind":"key","service":"svc","id":7,"created":1,"status":"enabled","changed":1,"seals":1073741825,"key":"{k}"}}"#), "more seals than any key may make"),
        (r#"{"format":2,"kind":"index","service":"svc","keys":[[1,"enabled",1],[1,"disabled",1]]}"#.into(), "index lists key 1 twice"),
        (r#"{"format":1,"primary":2,"keys":[[1,"enabled",1]]}"#.into(), "does not list as enabled"),
    ];
    for (text, want) in cases {
        let r = bad_reason(text.as_bytes());
        assert!(r.contains(want), "{text}: {r}");
        assert!(!r.contains(k), "{r}");
    }
    assert!(bad_reason(&vec![b' '; MAX_RECORD_LEN + 1]).contains("more than the 2048"));
}

#[test]
fn a_record_of_another_service_is_not_ours() {
    let p = encode_primary(
        "svc2",
        PrimaryRecord {
            primary: 7,
            since: 9,
        },
    );
    assert_eq!(
        parse(p.as_bytes(), SVC).unwrap_err(),
        ParseError::OtherService
    );
}

#[test]
fn format_1_entries_are_still_read() {
    let v1 = br#"{"format":1,"primary":7,"keys":[[3,"destroyed",1],[7,"enabled",2]]}"#;
    match parse(v1, SVC).unwrap() {
        Record::Index(i) => {
            assert_eq!(i.v1_primary, Some(7));
            assert_eq!(
                i.keys,
                vec![
                    (3, Listed::Destroyed, 1),
                    (7, Listed::Live(Stored::Enabled), 2)
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    let k = encode_key(&key(3));
    assert!(matches!(parse(k.as_bytes(), SVC), Ok(Record::KeyV1(_))));
}

#[test]
fn entry_names_are_recognised_exactly() {
    assert_eq!(key_id_of_user("key-42"), Some(42));
    for bad in [
        "key-",
        "key-0",
        "key-x",
        "key-12345678901",
        "key-+1",
        "index2",
        "key-4294967296",
    ] {
        assert_eq!(key_id_of_user(bad), None, "{bad}");
    }
    assert!(is_our_user("index") && is_our_user("primary") && is_our_user("key-1"));
    assert!(!is_our_user("probe"));
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_parser(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000)) {
        let _ = parse(&bytes, SVC);
        let _ = decode_key(&bytes);
    }
}
