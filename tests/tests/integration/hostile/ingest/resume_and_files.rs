//! ingest under hostile input: exact resume after every kind of error, multi-byte text,
//! planted or existing reject files, numeric flags at their edges.

use std::os::unix::fs::PermissionsExt;

use super::*;

#[tokio::test]
async fn resume_is_exact_after_every_kind_of_error() {
    // (name, rows, flags, the hint a correct load gives); a clash is id 100, held already.
    let cases: Vec<(&str, Vec<Line>, &[&str], u64)> = vec![
        (
            "value errors past --max-errors",
            vec![good(1), good(2), good(3), good(4), bad(b"5,x"), bad(b"6,y")],
            &["--batch-size", "3", "--max-errors", "1"],
            3,
        ),
        (
            "a rejected row inside a committed batch",
            vec![
                good(1),
                bad(b"2,two"),
                good(3),
                good(4),
                good(5),
                bad(b"6,"),
            ],
            &["--batch-size", "3", "--max-errors", "1"],
            4,
        ),
        (
            "the server refuses a batch holding a rejected row",
            vec![
                good(1),
                good(2),
                good(3),
                good(4),
                bad(b"5,1.5"),
                clash(100),
                good(7),
            ],
            &["--batch-size", "3", "--max-errors", "5"],
            3,
        ),
        (
            "ragged rows and bad bytes past --max-errors",
            vec![
                good(1),
                good(2),
                good(3),
                good(4),
                bad(b"5"),
                bad(b"6,\xff\xfe"),
                good(7),
            ],
            &["--batch-size", "3", "--max-errors", "1"],
            3,
        ),
        (
            "a multi-byte value past --max-errors",
            vec![
                good(1),
                bad("2,2€".as_bytes()),
                good(3),
                bad("4,\u{10348}".as_bytes()),
            ],
            &["--batch-size", "1", "--max-errors", "1"],
            3,
        ),
    ];
    for target in Target::all("hi_resume").await {
        for (i, (name, lines, flags, hint)) in cases.iter().enumerate() {
            let table = format!("r{i}");
            target
                .exec(&format!(
                    "create table {table} (id int primary key, v int not null)"
                ))
                .await;
            target
                .exec(&format!("insert into {table} (id, v) values (100, 0)"))
                .await;
            let file = target.file(&format!("{table}.csv"), &csv(lines));
            let rejects = target.path(&format!("{table}.rejects.csv"));
            let what = format!("{:?}, {name}", target.kind);

            // All-or-nothing: nothing written, no reject file left behind.
            let mut args = vec![table.as_str(), file.as_str()];
            args.extend_from_slice(flags);
            let whole = target.ingest(&args);
            assert_eq!(whole.code, Some(1), "{what}: {whole:?}");
            assert!(
                whole.stderr.contains("nothing was written"),
                "{what}: {whole:?}"
            );
            assert_eq!(target.ids(&table).await, vec![100], "{what}");
            assert!(!rejects.exists(), "{what}: a failed load left {rejects:?}");

            // Per-batch: the hint names exactly the rows behind the committed batches.
            args.extend_from_slice(&["--mode", "per-batch"]);
            let first = target.ingest(&args);
            assert_eq!(first.code, Some(1), "{what}: {first:?}");
            let skip = skip_hint(&first);
            assert_eq!(skip, *hint, "{what}: {}", first.stderr);
            let behind = usize::try_from(skip).unwrap();
            let mut expected: Vec<i64> = lines[..behind].iter().filter_map(|l| l.good).collect();
            expected.push(100);
            expected.sort_unstable();
            assert_eq!(target.ids(&table).await, expected, "{what}: committed");
            let rejected_behind = lines[..behind].iter().filter(|l| l.good.is_none()).count();
            if rejected_behind == 0 {
                assert!(
                    !rejects.exists(),
                    "{what}: rejects of rolled-back batches kept"
                );
            } else {
                let kept = std::fs::read(&rejects).unwrap();
                let rows = kept
                    .split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .count();
                assert_eq!(
                    rows,
                    1 + rejected_behind,
                    "{what}: {:?}",
                    String::from_utf8_lossy(&kept)
                );
                std::fs::rename(&rejects, target.path(&format!("{table}.first.csv"))).unwrap();
            }

            // The user clears the clash and resumes: every good row exactly once.
            target
                .exec(&format!("delete from {table} where id = 100"))
                .await;
            let skip = skip.to_string();
            let resumed = target.ingest(&[
                &table,
                &file,
                "--mode",
                "per-batch",
                "--max-errors",
                "10",
                "--skip",
                &skip,
            ]);
            assert_eq!(resumed.code, Some(0), "{what}: {resumed:?}");
            let mut all: Vec<i64> = lines
                .iter()
                .filter_map(|l| l.good)
                .chain(lines.iter().any(|l| l.bytes == b"100,100").then_some(100))
                .collect();
            all.sort_unstable();
            assert_eq!(target.ids(&table).await, all, "{what}: after resuming");
        }
    }
}

#[tokio::test]
async fn multibyte_text_anywhere() {
    let values = [
        "2024-01-0€",
        "2024-01-€1",
        "€024-01-01",
        "2024-01-01 12:00:0€",
        "2024-01-01T12:€",
        "２０２４-01-01",
        "2024\u{2013}01\u{2013}01",
        "1€",
        "１２",
        "e\u{301}",
        "\u{1F600}",
        "123e4567-e89b-12d3-a456-42661417400€",
    ];
    for target in Target::all("hi_mb").await {
        let ts = if target.kind == Kind::MariaDb {
            "datetime"
        } else {
            "timestamp"
        };

        target
            .exec(&format!(
                "create table m (id int primary key, d date, ts {ts}, n numeric(8,2), i int, u uuid)"
            ))
            .await;
        for column in ["d", "ts", "n", "i", "u"] {
            let mut csv = format!("id,{column}\n");
            let mut jsonl = String::new();
            for (i, v) in values.iter().enumerate() {
                csv.push_str(&format!("{i},{v}\n"));
                jsonl.push_str(&format!(
                    "{{\"id\":{i},\"{column}\":{}}}\n",
                    serde_json::json!(v)
                ));
            }
            for (ext, body) in [("csv", csv), ("jsonl", jsonl)] {
                let file = target.file(&format!("m_{column}.{ext}"), body.as_bytes());
                let what = format!("{:?}, column {column}, {ext}", target.kind);
                let dry = target.ingest(&["m", &file, "--dry-run"]);
                assert_eq!(dry.code, Some(1), "{what}: {dry:?}");
                let first = if ext == "csv" { 2 } else { 1 };
                for line in first..first + values.len() {
                    assert!(
                        dry.stderr
                            .contains(&format!("line {line}, column {column}:")),
                        "{what}: line {line} not reported:\n{}",
                        dry.stderr
                    );
                }
                let load = target.ingest(&["m", &file, "--max-errors", "100"]);
                assert_eq!(load.code, Some(0), "{what}: {load:?}");
                assert!(
                    load.stdout
                        .contains(&format!("0 written, {} rejected", values.len())),
                    "{what}: {load:?}"
                );
                std::fs::remove_file(target.path(&format!("m_{column}.rejects.{ext}"))).unwrap();
            }
        }
        // Multi-byte column names in the header and the keys: an error naming line 1.
        let file = target.file("m_head.csv", "id,d€\n1,2024-01-01\n".as_bytes());
        let head = target.ingest(&["m", &file]);
        assert_eq!(head.code, Some(1), "{head:?}");
        assert!(head.stderr.contains("line 1"), "{head:?}");
        let file = target.file("m_head.jsonl", "{\"id\":1,\"€\":2}\n".as_bytes());
        let head = target.ingest(&["m", &file]);
        assert_eq!(head.code, Some(1), "{head:?}");
        assert!(head.stderr.contains("line 1"), "{head:?}");
        assert!(target.ids("m").await.is_empty());
    }
}

#[tokio::test]
async fn planted_or_existing_reject_files_are_never_touched() {
    let target = Target::sqlite().await;
    target
        .exec("create table p (id int primary key, v int not null)")
        .await;
    let file = target.file("p.csv", b"id,v\n1,1\n2,two\n3,3\n");
    let rejects = target.path("p.rejects.csv");
    let victim = target.file("victim.txt", b"precious\n");

    // A symlink planted where the reject file goes: an error, the link's target untouched.
    for planted in [victim.clone(), target.path("absent").display().to_string()] {
        std::os::unix::fs::symlink(&planted, &rejects).unwrap();
        for mode in ["all-or-nothing", "per-batch"] {
            let out = target.ingest(&["p", &file, "--max-errors", "5", "--mode", mode]);
            assert_eq!(out.code, Some(1), "{out:?}");
            assert!(out.stderr.contains("p.rejects.csv"), "{out:?}");
            assert!(out.stderr.contains("exists"), "{out:?}");
            assert!(
                out.stderr.contains("move it") || out.stderr.contains("remove it"),
                "{out:?}"
            );
            assert_eq!(std::fs::read(&victim).unwrap(), b"precious\n");
            assert!(
                !target.path("absent").exists(),
                "a dangling link was followed"
            );
            assert!(target.ids("p").await.is_empty(), "nothing loaded: {out:?}");
        }
        std::fs::remove_file(&rejects).unwrap();
    }

    // An existing reject file (an earlier run's): kept as it was.
    std::fs::write(&rejects, b"earlier\n").unwrap();
    let out = target.ingest(&["p", &file, "--max-errors", "5"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("exists"), "{out:?}");
    assert_eq!(std::fs::read(&rejects).unwrap(), b"earlier\n");
    std::fs::remove_file(&rejects).unwrap();

    // A dry run writes no reject file, reports every bad row and fails.
    let many = target.file("q.csv", b"id,v\n1,x\n2,2\n3,\n4,4.5\n");
    let dry = target.ingest(&["p", &many, "--dry-run"]);
    assert_eq!(dry.code, Some(1), "{dry:?}");
    for line in [2, 4, 5] {
        assert!(dry.stderr.contains(&format!("line {line}")), "{dry:?}");
    }
    assert!(!target.path("q.rejects.csv").exists());
    let dry = target.ingest(&["p", &many, "--dry-run", "--max-errors", "10"]);
    assert_eq!(dry.code, Some(1), "{dry:?}");
    assert!(!target.path("q.rejects.csv").exists());

    // A real load: a new file, mode 0600, each row with its reason.
    let out = target.ingest(&["p", &many, "--max-errors", "10"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let made = target.path("q.rejects.csv");
    let mode = std::fs::metadata(&made).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&made).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,v,_reject_reason"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert!(
        rows[0].starts_with("1,x,") && rows[0].contains("line 2"),
        "{text}"
    );
    assert!(
        rows[1].starts_with("3,,") && rows[1].contains("NOT NULL"),
        "{text}"
    );
    assert!(
        rows[2].starts_with("4,4.5,") && rows[2].contains("line 5"),
        "{text}"
    );
    assert_eq!(target.ids("p").await, vec![2]);
}

#[tokio::test]
async fn numeric_flags_at_their_edges() {
    let target = Target::sqlite().await;
    target
        .exec("create table n (id int primary key, v int not null)")
        .await;
    let file = target.file("n.csv", b"id,v\n1,1\n2,x\n");
    let huge = i64::MAX.to_string();
    let over = u64::MAX.to_string() + "0";
    for flag in ["--batch-size", "--max-errors", "--skip"] {
        for value in ["-1", huge.as_str(), over.as_str(), "1e3", "", " 3"] {
            let out = target.ingest(&["n", &file, "--dry-run", flag, value]);
            assert_eq!(out.code, Some(2), "{flag} {value:?}: {out:?}");
            assert!(out.stderr.contains(flag), "{flag} {value:?}: {out:?}");
        }
    }
    for dry in [true, false] {
        let mut args = vec!["n", file.as_str(), "--batch-size", "0"];
        if dry {
            args.push("--dry-run");
        }
        let out = target.ingest(&args);
        assert_eq!(out.code, Some(2), "--batch-size 0: {out:?}");
        assert!(out.stderr.contains("--batch-size"), "{out:?}");
    }
    // Zero is a fine --skip and --max-errors; skipping past the end is an error that says so.
    let out = target.ingest(&["n", &file, "--skip", "0", "--max-errors", "0", "--dry-run"]);
    assert_eq!(out.code, Some(1), "row 2 is bad: {out:?}");
    let out = target.ingest(&["n", &file, "--skip", "5"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("--skip 5"), "{out:?}");
    assert!(target.ids("n").await.is_empty());
    let out = target.ingest(&["n", &file, "--skip", "1", "--batch-size", "1000000"]);
    assert_eq!(out.code, Some(1), "row 2 is bad: {out:?}");
}
