//! The app state on SQLite and on a real PostgreSQL server: the same
//! behaviour from the same queries, and migrations that leave a database
//! where they found it when run again.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use pipewise_state::{
    AuditEntry, Backend, Role, StateDb, hash_password, token_hash, verify_password,
};

const HOUR: i64 = 3_600_000_000;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Everything the server relies on, against one database.
async fn exercise(db: &StateDb) {
    assert_eq!(db.version().await.unwrap(), 4);
    let hash = hash_password("s3cret-enough").unwrap();
    let rep = db
        .add_user("ana", Role::Rep, Some("005000000000000008"), &hash, 10)
        .await
        .unwrap();
    assert_eq!(rep.role, Role::Rep);
    assert_eq!(rep.owner_id.as_deref(), Some("005000000000000008"));
    assert!(!rep.disabled);
    assert!(matches!(
        db.add_user("ana", Role::Admin, None, &hash, 11).await,
        Err(pipewise_state::Error::LoginTaken(_))
    ));
    assert!(
        db.add_user("has space", Role::Rep, None, &hash, 11)
            .await
            .is_err()
    );
    db.add_user("boss", Role::Admin, None, &hash, 12)
        .await
        .unwrap();
    let logins: Vec<String> = db
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.login)
        .collect();
    assert_eq!(logins, ["ana", "boss"]);
    let (u, h) = db.credentials("ana").await.unwrap().unwrap();
    assert_eq!(u, rep);
    assert!(verify_password("s3cret-enough", &h));
    assert!(db.credentials("nobody").await.unwrap().is_none());

    // sessions: live until they expire or are revoked
    let t = token_hash("session-token");
    db.create_session("ana", &t, "csrf-1", 100, 100 + HOUR)
        .await
        .unwrap();
    let s = db.session(&t, 200).await.unwrap().unwrap();
    assert_eq!((s.user.login.as_str(), s.csrf.as_str()), ("ana", "csrf-1"));
    assert!(
        db.session(&t, 100 + HOUR).await.unwrap().is_none(),
        "expired"
    );
    assert!(
        db.session(&token_hash("other"), 200)
            .await
            .unwrap()
            .is_none()
    );
    assert!(db.revoke_session(&t, 300).await.unwrap());
    assert!(db.session(&t, 400).await.unwrap().is_none(), "revoked");
    assert!(!db.revoke_session(&t, 500).await.unwrap(), "once only");

    // tokens, and disabling a user ends their sessions and tokens
    let t2 = token_hash("session-2");
    db.create_session("ana", &t2, "csrf-2", 600, 600 + HOUR)
        .await
        .unwrap();
    db.create_token("ana", "nightly export", &token_hash("pw_abc"), 700)
        .await
        .unwrap();
    assert_eq!(
        db.token_user(&token_hash("pw_abc"))
            .await
            .unwrap()
            .unwrap()
            .login,
        "ana"
    );
    assert!(db.create_token("nobody", "x", "h", 1).await.is_err());
    let d = db.set_disabled("ana", true, 800).await.unwrap();
    assert!(d.disabled);
    assert!(db.session(&t2, 900).await.unwrap().is_none());
    assert!(
        db.token_user(&token_hash("pw_abc"))
            .await
            .unwrap()
            .is_none()
    );
    db.set_disabled("ana", false, 1000).await.unwrap();
    assert!(
        db.session(&t2, 1100).await.unwrap().is_none(),
        "stays revoked"
    );
    assert!(db.set_disabled("nobody", true, 1).await.is_err());

    // the audit log keeps order
    for (i, target) in ["/api/deals?as_of=2026-03-31", "/api/session"]
        .iter()
        .enumerate()
    {
        db.audit(&AuditEntry {
            seq: 0,
            at: 2000 + i as i64,
            login: Some("boss".into()),
            role: Some("admin".into()),
            method: "GET".into(),
            target: (*target).into(),
            scope: Some("everything".into()),
            status: 200,
            detail: None,
        })
        .await
        .unwrap();
    }
    let log = db.audit_log(0, 10).await.unwrap();
    assert_eq!(log.len(), 2);
    assert!(log[0].seq < log[1].seq);
    assert_eq!(log[1].target, "/api/session");
    assert_eq!(db.audit_log(log[0].seq, 10).await.unwrap().len(), 1);

    // saved views: per user, names unique per user, deleted only by their owner
    let v = db
        .save_view(
            "ana",
            "my Q1",
            "/pipeline?period=2026-Q1&as_of=2026-03-31",
            20,
        )
        .await
        .unwrap();
    assert_eq!(
        (v.name.as_str(), v.login.as_str(), v.created_at),
        ("my Q1", "ana", 20)
    );
    assert!(matches!(
        db.save_view("ana", "my Q1", "/deals", 21).await,
        Err(pipewise_state::Error::Invalid(_))
    ));
    let w = db
        .save_view("boss", "my Q1", "/forecast", 22)
        .await
        .unwrap();
    assert_ne!(v.id, w.id);
    db.save_view("ana", "a first", "/deals", 23).await.unwrap();
    let names: Vec<String> = db
        .views("ana")
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, ["a first", "my Q1"]);
    assert!(
        !db.delete_view("boss", v.id).await.unwrap(),
        "not boss's to delete"
    );
    assert!(db.delete_view("ana", v.id).await.unwrap());
    assert_eq!(db.views("ana").await.unwrap().len(), 1);
    assert_eq!(db.views("boss").await.unwrap(), [w]);

    // forecast calls made in the browser: kept as given, numbered, oldest first
    let mut call = pipewise_state::Call {
        id: 0,
        login: "ana".into(),
        submitter: "005A".into(),
        period: "2026-Q1".into(),
        first_day: 20_454,
        last_day: 20_543,
        level: "own".into(),
        commit: 41_250.5,
        best_case: 60_000.0,
        most_likely: 50_000.25,
        note: Some("two big ones in legal".into()),
        submitted_at: 30,
    };
    let first = db.record_call(&call).await.unwrap();
    call.id = first;
    let mut team = call.clone();
    team.login = "boss".into();
    team.level = "team".into();
    team.note = None;
    team.submitted_at = 31;
    team.id = db.record_call(&team).await.unwrap();
    assert!(team.id > first);
    assert_eq!(db.calls().await.unwrap(), [call.clone(), team.clone()]);
    assert!(db.delete_call(team.id).await.unwrap());
    assert!(!db.delete_call(team.id).await.unwrap());
    assert_eq!(db.calls().await.unwrap(), [call]);
}

#[test]
fn sqlite_state_keeps_users_sessions_tokens_and_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("state.sqlite").display());
    rt().block_on(async {
        let db = StateDb::open(&url).await.unwrap();
        assert_eq!(db.backend(), Backend::Sqlite);
        exercise(&db).await;
        // reopened: migrated once, the data kept
        let again = StateDb::open(&url).await.unwrap();
        assert_eq!(again.version().await.unwrap(), 4);
        assert_eq!(again.users().await.unwrap().len(), 2);
    });
    let bad = rt().block_on(StateDb::open("mysql://x")).unwrap_err();
    assert!(bad.is_user(), "{bad}");
}

#[test]
fn postgres_state_behaves_as_sqlite_does() {
    let Some(bin) = pipewise_testkit::pg_bin() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = pipewise_testkit::Server::start(bin, dir.path(), 7);
    let url = server.url("postgres");
    rt().block_on(async {
        let db = StateDb::open(&url).await.unwrap();
        assert_eq!(db.backend(), Backend::Postgres);
        exercise(&db).await;
        let again = StateDb::open(&url).await.unwrap();
        assert_eq!(again.version().await.unwrap(), 4);
    });
}
