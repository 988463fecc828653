//! ingest under hostile values: out of range as the server would refuse them, ragged rows,
//! bad bytes, long lines, JSON values as written, endless records.

use super::*;

/// Spellings a server takes and ingest documents that it refuses: hexadecimal floats, dates
/// not written `YYYY-MM-DD`, MariaDB's zero dates, integers written as decimals.
const STRICTER: &[&str] = &[
    "0x1p3",
    "2024-1-5",
    "20240105",
    "2024-00-10",
    "2024-01-00",
    "0000-01-01",
    "7.0",
    "1e3",
    "2024-01-01 12",
];

/// Values at and past the edges of each type, per kind: what --dry-run accepts the server
/// accepts, and what it rejects the server refuses (but for the documented `STRICTER`).
#[tokio::test]
async fn out_of_range_values_are_rejected_as_the_server_would() {
    let ints = [
        "0",
        "-1",
        "32767",
        "32768",
        "-32768",
        "-32769",
        "127",
        "128",
        "-128",
        "-129",
        "255",
        "256",
        "65535",
        "65536",
        "8388607",
        "8388608",
        "16777215",
        "16777216",
        "2147483647",
        "2147483648",
        "-2147483648",
        "-2147483649",
        "4294967295",
        "4294967296",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999",
        " 7",
        "+7",
        "7.0",
        "0x10",
        "1e3",
        "٣",
    ];
    let decimals = [
        "999.99",
        "-999.99",
        "1000",
        "999.994",
        "999.995",
        "-999.995",
        "0.001",
        "1e2",
        "1e3",
        "1E-2",
        ".5",
        "5.",
        "-.5",
        "+1",
        "1e999999999999",
        "1e-999999999999",
        "NaN",
        "Infinity",
        "-inf",
        "1,5",
        "1.2.3",
        "",
        "e5",
        "1e",
    ];
    let floats = [
        "1.5",
        "-0",
        "3.4e38",
        "3.5e38",
        "1e39",
        "1.7e308",
        "1.8e308",
        "1e-30",
        "1e-50",
        "1e-400",
        "NaN",
        "inf",
        "-Infinity",
        "0x1p3",
        "1_000",
    ];
    let dates = [
        "2024-02-29",
        "2023-02-29",
        "2024-02-30",
        "2024-04-31",
        "2024-13-01",
        "2024-00-10",
        "2024-01-00",
        "0000-01-01",
        "0001-01-01",
        "9999-12-31",
        "2024-1-5",
        "20240105",
        "2024-01-01 ",
    ];
    let timestamps = [
        "2024-02-29 23:59:59",
        "2023-02-29 00:00:00",
        "2024-01-01 24:00:01",
        "2024-01-01 23:60:00",
        "2024-01-01T12:00:00",
        "2024-01-01 12:00:00.123456",
        "2024-01-01 12:00",
        "2024-01-01",
        "2024-01-01 12",
        "2024-01-01 12:00:00+02",
        "2024-01-01 12:00:00Z",
        "2024-01-01 12:00:00 junk",
    ];
    let uuids = [
        "123e4567-e89b-12d3-a456-426614174000",
        "123E4567-E89B-12D3-A456-426614174000",
        "123e4567e89b12d3a456426614174000",
        "urn:uuid:123e4567-e89b-12d3-a456-426614174000",
        "123e4567-e89b-12d3-a456-42661417400",
        "123e4567-e89b-12d3-a456-4266141740000",
        "g23e4567-e89b-12d3-a456-426614174000",
    ];
    let pg: Vec<(&str, &[&str])> = vec![
        ("smallint", &ints),
        ("integer", &ints),
        ("bigint", &ints),
        ("numeric(5,2)", &decimals),
        ("numeric(3,0)", &decimals),
        ("numeric", &decimals),
        ("real", &floats),
        ("double precision", &floats),
        ("date", &dates),
        ("timestamp", &timestamps),
        ("timestamptz", &timestamps),
        ("uuid", &uuids),
        ("interval", &["1 day", "2 hours", "1", "x"]),
        ("point", &["(1,2)", "1,2", "x"]),
        ("int4range", &["[1,5)", "x"]),
        ("boolean", &["t", "yes", "OFF", "1", "maybe", "2"]),
    ];
    let my: Vec<(&str, &[&str])> = vec![
        ("tinyint", &ints),
        ("tinyint unsigned", &ints),
        ("smallint", &ints),
        ("smallint unsigned", &ints),
        ("mediumint", &ints),
        ("mediumint unsigned", &ints),
        ("int", &ints),
        ("int unsigned", &ints),
        ("bigint", &ints),
        ("bigint unsigned", &ints),
        ("decimal(5,2)", &decimals),
        ("decimal(3,0)", &decimals),
        ("date", &dates),
        ("datetime", &timestamps),
        ("uuid", &uuids),
        ("point", &["x"]),
    ];
    let mut targets = Vec::new();
    targets.extend(Target::postgres("hi_range_pg").await.map(|t| (t, pg)));
    targets.extend(Target::mariadb("hi_range_my").await.map(|t| (t, my)));
    let mut all_disagree = Vec::new();
    for (target, columns) in targets {
        for (i, (ty, values)) in columns.iter().enumerate() {
            let table = format!("v{i}");
            target
                .exec(&format!(
                    "create table {table} (id int primary key, x {ty})"
                ))
                .await;
            let mut csv = "id,x\n".to_owned();
            for (row, v) in values.iter().enumerate() {
                // A quoted value, so that an empty one is '' and not NULL.
                csv.push_str(&format!("{row},\"{v}\"\n"));
            }
            let file = target.file(&format!("{table}.csv"), csv.as_bytes());
            let dry = target.ingest(&[&table, &file, "--dry-run"]);
            let mut disagree = Vec::new();
            for (row, v) in values.iter().enumerate() {
                if v.is_empty() {
                    continue; // an empty field is NULL, for ingest as for COPY
                }
                let line = row + 2;
                let rejected = dry.stderr.contains(&format!("line {line}, column x:"));
                let server = target.server_accepts(&table, "x", v).await;
                // Types ingest does not check are the server's to refuse, never ingest's.
                let checked = !["interval", "point", "int4range"].contains(ty);
                let false_approval = !rejected && !server && checked;
                let false_rejection = rejected && server && !STRICTER.contains(v);
                if false_approval || false_rejection {
                    disagree.push(format!(
                        "{v:?}: server {}, --dry-run {}",
                        if server { "accepts" } else { "refuses" },
                        if rejected { "rejects" } else { "accepts" }
                    ));
                }
            }
            all_disagree.extend(
                disagree
                    .into_iter()
                    .map(|d| format!("{:?} {ty}: {d}", target.kind)),
            );
            // And a real load with --max-errors loads exactly what the server accepts.
            if ["interval", "point", "int4range"].contains(ty) {
                continue;
            }
            let load = target.ingest(&[&table, &file, "--max-errors", "1000"]);
            if load.code != Some(0) {
                all_disagree.push(format!("{:?} {ty}: the load failed: {load:?}", target.kind));
            }
        }
    }
    assert!(all_disagree.is_empty(), "{}", all_disagree.join("\n"));
}

#[tokio::test]
async fn ragged_rows_bad_bytes_and_long_lines() {
    let long = "x".repeat(20_000);
    for target in Target::all("hi_rag").await {
        target
            .exec("create table g (id int primary key, name text, v int)")
            .await;
        let mut csv = b"id,name,v\n1,a,1\n2,b\n3,c,3,extra\n4,\xff\xfeoops,4\n5,\"multi\nline\",5\n6,\n7,g,7\n8,\xc3,8\n9,\"unterminated\n".to_vec();
        csv.extend_from_slice(format!("10,{long},10\n").as_bytes());
        let file = target.file("g.csv", &csv);
        let what = format!("{:?} csv", target.kind);
        let dry = target.ingest(&["g", &file, "--dry-run"]);
        assert_eq!(dry.code, Some(1), "{what}: {dry:?}");
        for line in [3, 4, 5, 8, 10, 11] {
            assert!(
                dry.stderr.contains(&format!("line {line}")),
                "{what}: line {line}:\n{}",
                dry.stderr
            );
        }
        let load = target.ingest(&["g", &file, "--max-errors", "20"]);
        assert_eq!(load.code, Some(0), "{what}: {load:?}");
        assert_eq!(target.ids("g").await, vec![1, 5, 7], "{what}: {load:?}");
        let rejects = std::fs::read(target.path("g.rejects.csv")).unwrap();
        assert!(
            rejects.windows(2).any(|w| w == b"\xff\xfe"),
            "the reject file keeps the raw bytes"
        );
        target.exec("delete from g").await;

        let mut jsonl = String::new();
        jsonl.push_str("{\"id\":1,\"name\":\"a\",\"v\":1}\n");
        jsonl.push_str(&format!("{{\"id\":2,\"name\":\"{long}\",\"v\":2}}\n"));
        jsonl.push_str(&format!("{{\"id\":3,\"name\":\"{long}\",\"v\":\"x\"}}\n"));
        jsonl.push_str(&format!("{{\"id\":4,\"name\":\"{long}\n"));
        jsonl.push_str("\n{\"id\":6,\"v\":6}\n");
        let mut bytes = jsonl.into_bytes();
        bytes.extend_from_slice(b"{\"id\":7,\"name\":\"\xff\"}\n[1,2]\n{\"id\":9}");
        let file = target.file("g.jsonl", &bytes);
        let what = format!("{:?} jsonl", target.kind);
        let dry = target.ingest(&["g", &file, "--dry-run"]);
        assert_eq!(dry.code, Some(1), "{what}: {dry:?}");
        for line in [3, 4, 7, 8] {
            assert!(
                dry.stderr.contains(&format!("line {line}")),
                "{what}: line {line}:\n{}",
                dry.stderr
            );
        }
        let load = target.ingest(&["g", &file, "--max-errors", "20"]);
        assert_eq!(load.code, Some(0), "{what}: {load:?}");
        assert_eq!(target.ids("g").await, vec![1, 2, 6, 9], "{what}: {load:?}");
    }
}

/// A JSON value arrives as written: a number is its digits (never rounded through a float, in
/// a text column or an exact numeric one), and a key given twice in one line is a bad row (which
/// of the two values is meant is not for ingest to guess), never a silent choice.
#[tokio::test]
async fn json_values_arrive_exactly_and_repeated_keys_are_bad_rows() {
    for target in Target::all("hi_jx").await {
        let (text, exact) = match target.kind {
            Kind::Sqlite => ("text", "text"),
            _ => ("varchar(200)", "numeric(60,25)"),
        };
        target
            .exec(&format!(
                "create table j (id int primary key, t {text}, x {exact})"
            ))
            .await;
        let digits = [
            "12345678901234567890123",
            "123456789012345678901234567890.1234567890123456789012345",
            "0.1000000000000000055511151",
            "9007199254740993",
            "-0.0000000000000000000000001",
        ];
        let mut jsonl = String::new();
        for (i, d) in digits.iter().enumerate() {
            jsonl.push_str(&format!("{{\"id\":{i},\"t\":{d},\"x\":{d}}}\n"));
        }
        jsonl.push_str("{\"id\":10,\"t\":\"a\",\"t\":\"b\"}\n");
        jsonl.push_str("{\"id\":11,\"id\":12}\n");
        let file = target.file("j.jsonl", jsonl.as_bytes());
        let what = format!("{:?}", target.kind);
        let dry = target.ingest(&["j", &file, "--dry-run"]);
        assert_eq!(dry.code, Some(1), "{what}: {dry:?}");
        for line in [6, 7] {
            assert!(
                dry.stderr.contains(&format!("line {line}")),
                "{what}: line {line} not reported: {dry:?}"
            );
        }
        let load = target.ingest(&["j", &file, "--max-errors", "2"]);
        assert_eq!(load.code, Some(0), "{what}: {load:?}");
        assert_eq!(
            target.ids("j").await,
            vec![0, 1, 2, 3, 4],
            "{what}: {load:?}"
        );
        let cast = match target.kind {
            Kind::MariaDb => "cast(t as char)",
            Kind::Postgres => "t::text",
            Kind::Sqlite => "t",
        };
        let sql = format!("select {cast} from j order by id");
        let got: Vec<String> = match &target.pool {
            Pool::Pg(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_all(p)
                    .await
            }
            Pool::My(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_all(p)
                    .await
            }
            Pool::Lite(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_all(p)
                    .await
            }
        }
        .unwrap();
        assert_eq!(
            got, digits,
            "{what}: text columns hold the digits as written"
        );
        if target.kind == Kind::Postgres {
            let Pool::Pg(p) = &target.pool else {
                unreachable!()
            };
            let exact: Vec<bool> = sqlx::query_scalar("select x = t::numeric from j order by id")
                .fetch_all(p)
                .await
                .unwrap();
            assert!(
                exact.iter().all(|e| *e),
                "{what}: numeric columns exact: {exact:?}"
            );
        }
    }
}

/// A CSV record is read under the same cap as a JSON line: a file with no newline (or one
/// quoted field that never ends, like /dev/zero or `yes` behind a quote) ends the load with
/// a message naming the cap, instead of being gathered in memory until the process dies.
#[tokio::test]
async fn an_endless_csv_record_is_refused_at_the_cap_not_read_into_memory() {
    let target = Target::sqlite().await;
    target
        .exec("create table e (id int primary key, name text)")
        .await;
    let cap = 64 << 20;
    for (what, mut body) in [
        ("no newline", b"id,name\n1,".to_vec()),
        ("an open quote", b"id,name\n1,\"".to_vec()),
    ] {
        let fill: &[u8] = if what == "no newline" { b"a" } else { b"y\n" };
        while body.len() < cap + (1 << 20) {
            body.extend(std::iter::repeat_n(fill, 1 << 16).flatten());
        }
        let file = target.file("e.csv", &body);
        let load = target.ingest(&["e", &file, "--max-errors", "5"]);
        assert_eq!(load.code, Some(1), "{what}: {load:?}");
        assert!(load.stderr.contains("64 MiB"), "{what}: {load:?}");
        assert!(target.ids("e").await.is_empty(), "{what}");
    }
}
