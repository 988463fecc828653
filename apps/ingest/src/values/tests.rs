use proptest::prelude::*;

use super::*;

fn pg(t: &str) -> Check {
    Check::of(DbKind::Postgres, t)
}

fn my(t: &str) -> Check {
    Check::of(DbKind::MySql, t)
}

#[test]
fn types_are_classified_by_name_not_substring() {
    assert_eq!(pg("integer"), int(32, false, "integer"));
    assert_eq!(pg("smallint"), int(16, false, "smallint"));
    assert_eq!(pg("bigint"), int(64, false, "bigint"));
    for text in [
        "interval",
        "point",
        "int4range",
        "integer[]",
        "character varying(80)",
        "time without time zone",
        "money",
    ] {
        assert_eq!(pg(text), Check::Text, "{text}");
    }
    assert_eq!(
        pg("timestamp with time zone"),
        Check::Timestamp { zone: true }
    );
    assert_eq!(
        pg("timestamp(3) without time zone"),
        Check::Timestamp { zone: true }
    );
    assert!(matches!(pg("numeric(12,2)"), Check::Decimal(r) if r.digits == Some((12, 2))));
    assert_eq!(my("int(10) unsigned"), int(32, true, "int unsigned"));
    assert_eq!(my("tinyint(4)"), int(8, false, "tinyint"));
    assert_eq!(
        my("mediumint(8) unsigned zerofill"),
        int(24, true, "mediumint unsigned")
    );
    assert_eq!(my("enum('int','unsigned')"), Check::Text);
    assert_eq!(my("point"), Check::Text);
    assert!(
        matches!(my("decimal(10,2) unsigned"), Check::Decimal(r) if r.unsigned && r.digits == Some((10, 2)))
    );
    assert_eq!(Check::of(DbKind::Sqlite, "POINT"), Check::Text);
    assert_eq!(Check::of(DbKind::Sqlite, "INT2"), int(64, false, "integer"));
}

#[test]
fn integers_stop_at_their_type() {
    let small = pg("smallint");
    assert!(check(&small, "32767").is_ok());
    assert!(check(&small, "-32768").is_ok());
    assert_eq!(
        check(&small, "32768").unwrap_err(),
        "\"32768\" is out of range for smallint (-32768 to 32767)"
    );
    assert!(check(&pg("bigint"), "9223372036854775807").is_ok());
    assert!(check(&pg("bigint"), "9223372036854775808").is_err());
    assert!(check(&pg("bigint"), &"9".repeat(500)).is_err());
    assert!(check(&my("bigint unsigned"), "18446744073709551615").is_ok());
    assert!(check(&my("tinyint unsigned"), "-1").is_err());
    assert!(check(&my("tinyint unsigned"), "255").is_ok());
    assert!(check(&pg("integer"), "4x").is_err());
    assert!(check(&pg("integer"), "१२").is_err());
}

#[test]
fn decimals_round_then_count_digits() {
    let n = pg("numeric(5,2)");
    for ok in [
        "999.99", "-999.99", "999.994", "0.001", "1e2", ".5", "5.", "NaN", "0e1000",
    ] {
        assert!(check(&n, ok).is_ok(), "{ok}");
    }
    for bad in [
        "1000",
        "999.995",
        "-999.995",
        "1e3",
        "Infinity",
        "1e999999999999",
        "0e1001",
        "1,5",
        "1.2.3",
        "e5",
        "1e",
    ] {
        assert!(check(&n, bad).is_err(), "{bad}");
    }
    assert!(check(&pg("numeric"), "Infinity").is_ok());
    assert!(check(&pg("numeric"), "1e-999999999999").is_err());
    assert!(check(&my("decimal(3,0)"), "999.4").is_ok());
    assert!(check(&my("decimal(3,0)"), "999.5").is_err());
    assert!(check(&my("decimal(3,0)"), "NaN").is_err());
}

#[test]
fn floats_refuse_overflow_and_pg_underflow() {
    assert!(check(&pg("real"), "3.4e38").is_ok());
    assert!(check(&pg("real"), "3.5e38").is_err());
    assert!(check(&pg("real"), "1e-50").is_err());
    assert!(check(&pg("double precision"), "1e-400").is_err());
    assert!(check(&pg("double precision"), "-Infinity").is_ok());
    assert!(check(&my("double"), "inf").is_err());
    assert!(check(&pg("real"), "0").is_ok());
}

#[test]
fn dates_follow_the_calendar() {
    let d = pg("date");
    assert!(check(&d, "2024-02-29").is_ok());
    for bad in [
        "2023-02-29",
        "2024-02-30",
        "2024-04-31",
        "2024-13-01",
        "2024-00-10",
        "0000-01-01",
        "2024-01-0€",
        "€024-01-01",
        "２０２４-01-01",
    ] {
        assert!(check(&d, bad).is_err(), "{bad}");
    }
    let ts = pg("timestamp with time zone");
    for ok in [
        "2024-02-29 23:59:59",
        "2024-01-01T12:00",
        "2024-01-01 12:00:00.123456+02",
        "2024-01-01 12:00:00Z",
        "2024-01-01 12:00:00+05:30",
        "2024-01-01",
    ] {
        assert!(check(&ts, ok).is_ok(), "{ok}");
    }
    for bad in [
        "2023-02-29 00:00:00",
        "2024-01-01 24:00:01",
        "2024-01-01 23:60:00",
        "2024-01-01 12:00:0€",
        "2024-01-01 12:00:00 junk",
        "2024-01-01€",
    ] {
        assert!(check(&ts, bad).is_err(), "{bad}");
    }
    assert!(check(&my("datetime"), "2024-01-01 12:00:00+02").is_err());
}

#[test]
fn messages_show_a_bounded_excerpt() {
    let long = "€".repeat(10_000);
    let message = check(&pg("integer"), &long).unwrap_err();
    assert!(message.len() < 300, "{message}");
    assert!(message.contains("10000 characters"), "{message}");
    assert!(check(&pg("uuid"), "urn:uuid:123e4567-e89b-12d3-a456-426614174000").is_err());
    assert!(check(&pg("uuid"), "123e4567e89b12d3a456426614174000").is_ok());
}

fn any_check() -> impl Strategy<Value = Check> {
    let declared = prop_oneof![
        proptest::sample::select(vec![
            "smallint",
            "integer",
            "bigint",
            "numeric(5,2)",
            "numeric(3,5)",
            "numeric(2,-3)",
            "numeric",
            "real",
            "double precision",
            "boolean",
            "date",
            "timestamp",
            "json",
            "uuid",
            "int(10) unsigned",
            "decimal(65,30)",
        ])
        .prop_map(str::to_owned),
        ".*",
    ];
    (
        prop_oneof![
            Just(DbKind::Postgres),
            Just(DbKind::MySql),
            Just(DbKind::Sqlite)
        ],
        declared,
    )
        .prop_map(|(kind, t)| Check::of(kind, &t))
}

proptest! {
    #[test]
    fn no_value_panics_a_check(c in any_check(), v in ".*") {
        let _ = check(&c, &v);
    }

    #[test]
    fn no_number_shaped_value_panics_a_check(
        c in any_check(),
        v in "[+-]?[0-9]{0,40}(\\.[0-9]{0,40})?([eE][+-]?[0-9]{0,25})?",
    ) {
        let _ = check(&c, &v);
    }

    #[test]
    fn no_date_shaped_value_panics_a_check(
        c in any_check(),
        v in "[0-9€]{4}-[0-9€]{2}-[0-9€]{2}([ T][0-9€:.]{0,15})?([ +-Z][0-9:€]{0,6})?",
    ) {
        let _ = check(&c, &v);
    }

    #[test]
    fn no_declared_type_panics_classification(t in ".*") {
        for kind in DbKind::ALL {
            let _ = Check::of(kind, &t);
        }
    }

    #[test]
    fn integers_in_range_pass_and_outside_fail(n in any::<i64>()) {
        let ok = check(&pg("integer"), &n.to_string()).is_ok();
        prop_assert_eq!(ok, i32::try_from(n).is_ok());
    }
}
