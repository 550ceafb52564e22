//! The spool itself: whose segments an instance may adopt, its bound, and
//! what it does with lines that cannot land.

use agentlocator::db::calls::CallMode;
use agentlocator::db::{Db, migrate};
use agentlocator::domain::Timestamp;
use agentlocator::spool::{Detour, Landing, REJECTED_FILE, Spool, SpoolError, Write};

use crate::helpers::fresh_database_url;

fn mode_write(sid: &str) -> Write {
    Write::Mode {
        call_sid: sid.to_string(),
        mode: CallMode::Record,
        reason: Some("stream_ended".into()),
    }
}

#[tokio::test]
async fn a_live_instances_segment_is_left_to_it_and_adopted_once_it_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let live = Spool::open(&spool_dir);
    live.append(mode_write("CA1")).await.unwrap();
    assert_eq!(live.waiting(), 1);

    let neighbour = Spool::open(&spool_dir);
    assert_eq!(neighbour.waiting(), 0, "a live instance replays its own");

    drop(live);
    let next = Spool::open(&spool_dir);
    assert_eq!(next.waiting(), 1, "what a gone instance left is adopted");
    let again = Spool::open(&spool_dir);
    assert_eq!(again.waiting(), 0, "and by one instance only");
}

#[tokio::test]
async fn a_full_spool_refuses_whole_writes_and_keeps_those_it_took() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::with_max_bytes(dir.path().join("spool"), 600);
    let mut taken = 0;
    let refused = loop {
        match spool.append(mode_write(&format!("CA{taken}"))).await {
            Ok(()) => taken += 1,
            Err(e) => break e,
        }
    };
    assert!(taken >= 2, "{taken}");
    assert!(matches!(refused, SpoolError::Full { max_bytes: 600 }));
    assert_eq!(spool.waiting(), taken);

    // Through `land`, with the database stopped: lost, and said so.
    let db = Db::connect(
        &format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("db.sqlite").display()
        ),
        crate::helpers::TEST_PG_CONNECTIONS,
    )
    .await
    .unwrap();
    db.pool.close().await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
    let landing = spool.land(&db, deadline, mode_write("CAlast")).await;
    assert!(
        matches!(
            landing,
            Landing::Lost(Detour::Behind, SpoolError::Full { .. })
        ),
        "{landing:?}"
    );

    let segment = std::fs::read_dir(dir.path().join("spool"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("segment-"))
        .unwrap();
    let text = std::fs::read_to_string(segment).unwrap();
    assert!(text.ends_with('\n'));
    assert_eq!(text.lines().count(), taken, "no half line after a refusal");
}

#[tokio::test]
async fn a_line_that_is_not_a_write_and_an_unfinished_last_line_do_not_hold_up_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(
        &fresh_database_url(&dir).await,
        crate::helpers::TEST_PG_CONNECTIONS,
    )
    .await
    .unwrap();
    migrate::run(&db).await.unwrap();
    let spool_dir = dir.path().join("spool");
    std::fs::create_dir_all(&spool_dir).unwrap();
    let line =
        |w: Write| serde_json::json!({ "at": Timestamp::now(), "write": w }).to_string() + "\n";
    // What a crashed instance could leave: whole lines, one that is not a
    // write, and a last one it never finished.
    let text = line(mode_write("CA1"))
        + "not a write\n"
        + &line(mode_write("CA2"))
        + r#"{"at":"2025-01-31T09:05"#;
    std::fs::write(spool_dir.join("segment-0000-left.jsonl"), text).unwrap();

    let spool = Spool::open(&spool_dir);
    assert_eq!(spool.waiting(), 3);
    let report = spool.replay(&db).await;
    assert_eq!((report.landed, report.rejected, report.waiting), (2, 1, 0));
    assert_eq!(report.stopped, None);
    let kept = std::fs::read_to_string(spool_dir.join(REJECTED_FILE)).unwrap();
    assert_eq!(kept, "not a write\n", "kept for an operator, never deleted");
    assert!(!spool_dir.join("segment-0000-left.jsonl").exists());
}

fn call_row(sid: &str, business_id: i64) -> Write {
    Write::Incoming {
        call_sid: sid.to_string(),
        business_id,
        from_number: "+972501234567".into(),
        to_number: "+97235550001".into(),
        status: "ringing".into(),
        mode: CallMode::Stream,
        at: Timestamp::now(),
    }
}

#[tokio::test]
async fn call_rows_of_a_burst_land_together_and_one_the_database_refuses_takes_no_other_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(
        &fresh_database_url(&dir).await,
        crate::helpers::TEST_PG_CONNECTIONS,
    )
    .await
    .unwrap();
    migrate::run(&db).await.unwrap();
    let business = agentlocator::db::business::create(
        &db,
        &agentlocator::domain::settings::BusinessName::parse("מכבסת הכרמל").unwrap(),
        &agentlocator::domain::PhoneNumber::parse("+97235550001").unwrap(),
    )
    .await
    .unwrap();
    let spool = Spool::open(dir.path().join("spool"));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);

    // 40 callers at once; one row names a business that does not exist.
    let landings = futures::future::join_all((0..40).map(|i| {
        let business_id = if i == 17 {
            business.id + 1000
        } else {
            business.id
        };
        let (spool, db) = (spool.clone(), db.clone());
        async move {
            spool
                .land_grouped(
                    &db,
                    deadline,
                    call_row(&format!("CAburst{i:02}"), business_id),
                )
                .await
        }
    }))
    .await;

    for (i, landing) in landings.iter().enumerate() {
        match (i, landing) {
            (17, Landing::Refused(_)) => {}
            (17, other) => panic!("the orphan row: {other:?}"),
            (_, Landing::Written(_)) => {}
            (i, other) => panic!("row {i}: {other:?}"),
        }
    }
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM call_log")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 39);
    assert_eq!(spool.waiting(), 0);
}
