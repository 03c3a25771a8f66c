//! Every route of the team server, driven without a socket: who may read
//! what, sessions, CSRF, tokens, the login limiter, the audit log, and the
//! deals checked against a naive reconstruction of the ledger.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use pipewise_ledger::{Cut, Store};
use pipewise_model::Role as CrmRole;
use pipewise_model::{Field, SalesProcess, Value};
use pipewise_server::{AppState, Workspace, router};
use pipewise_state::{Role, StateDb, hash_password, new_token, token_hash};
use serde_json::Value as Json;
use std::collections::BTreeSet;
use tower::ServiceExt;

const PASSWORD: &str = "a long enough password";

struct Fixture {
    app: axum::Router,
    db: StateDb,
    store: Store,
    /// ana's and bob's CRM ids (reps under different managers), ana's
    /// manager's, and everyone under that manager.
    ana: String,
    bob: String,
    manager: String,
    subtree: BTreeSet<String>,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let process = SalesProcess::default_process();
    let config = pipewise_synth::Config::new(5, pipewise_synth::Size::Opportunities(800));
    let company = pipewise_synth::generate(&config, &process, &mut |_, _| {});
    let store = Store::init(&ws).unwrap();
    std::fs::write(
        ws.join("pipewise.toml"),
        pipewise_model::process::DEFAULT_PROCESS_TOML,
    )
    .unwrap();
    company.commit(&store).unwrap();
    // two reps with different managers
    let reps: Vec<_> = company
        .users
        .iter()
        .filter(|u| u.role == CrmRole::Rep)
        .collect();
    let ana = reps[0];
    let bob = reps
        .iter()
        .find(|u| u.manager_id != ana.manager_id)
        .unwrap();
    let manager = ana.manager_id.clone().unwrap();
    let subtree: BTreeSet<String> = company
        .users
        .iter()
        .filter(|u| u.id == manager || u.manager_id.as_deref() == Some(manager.as_str()))
        .map(|u| u.id.clone())
        .collect();
    let db = StateDb::open(&format!(
        "sqlite:{}",
        dir.path().join("state.sqlite").display()
    ))
    .await
    .unwrap();
    let h = hash_password(PASSWORD).unwrap();
    for (login, role, owner) in [
        ("ana", Role::Rep, Some(ana.id.as_str())),
        ("bob", Role::Rep, Some(bob.id.as_str())),
        ("mgr", Role::Manager, Some(manager.as_str())),
        ("cfo", Role::Exec, None),
        ("root", Role::Admin, None),
        ("ghost", Role::Rep, None),
    ] {
        db.add_user(login, role, owner, &h, 0).await.unwrap();
    }
    let state = AppState::new(db.clone(), Workspace::open(&ws).unwrap(), 3600).unwrap();
    Fixture {
        app: router(state),
        db,
        store,
        ana: ana.id.clone(),
        bob: bob.id.clone(),
        manager,
        subtree,
        _dir: dir,
    }
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Json,
    text: String,
}

/// Credentials for a request.
#[derive(Clone, Default)]
struct Auth {
    cookie: Option<String>,
    csrf: Option<String>,
    bearer: Option<String>,
}

async fn send(f: &Fixture, method: Method, uri: &str, auth: &Auth, body: Option<Json>) -> Reply {
    let body = body.map(|b| ("application/json".to_string(), b.to_string().into_bytes()));
    send_raw(&f.app, method, uri, auth, body).await
}

/// A request with `auth`'s credentials and a body of its content type.
async fn send_raw(
    app: &axum::Router,
    method: Method,
    uri: &str,
    auth: &Auth,
    body: Option<(String, Vec<u8>)>,
) -> Reply {
    let mut r = Request::builder().method(method).uri(uri);
    if let Some(c) = &auth.cookie {
        r = r.header(header::COOKIE, c);
    }
    if let Some(c) = &auth.csrf {
        r = r.header("x-csrf-token", c);
    }
    if let Some(t) = &auth.bearer {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = match body {
        Some((ct, b)) => r.header(header::CONTENT_TYPE, ct).body(Body::from(b)),
        None => r.body(Body::empty()),
    }
    .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).to_string();
    Reply {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Json::Null),
        text,
    }
}

async fn login(f: &Fixture, who: &str) -> Auth {
    let r = send(
        f,
        Method::POST,
        "/api/session",
        &Auth::default(),
        Some(serde_json::json!({"login": who, "password": PASSWORD})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{who}: {}", r.text);
    let cookies: Vec<String> = r
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("pipewise_session="))
        .unwrap();
    for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(flag), "{session}");
    }
    let csrf_cookie = cookies
        .iter()
        .find(|c| c.starts_with("pipewise_csrf="))
        .unwrap();
    assert!(!csrf_cookie.contains("HttpOnly"), "the page reads it");
    let value = session.split(';').next().unwrap().to_string();
    Auth {
        cookie: Some(value),
        csrf: Some(r.body["csrf_token"].as_str().unwrap().to_string()),
        bearer: None,
    }
}

/// The deals a naive reconstruction gives: every opportunity's state at
/// the end of `day`, by ledger replay, owned by someone `keep` accepts.
fn reference(f: &Fixture, day: &str, open: bool, keep: impl Fn(&str) -> bool) -> BTreeSet<String> {
    let log = f.store.load(None, false).unwrap();
    let process = SalesProcess::default_process();
    let at = pipewise_model::time::parse_iso_instant(day, true).unwrap();
    pipewise_ledger::asof::states(&log, Cut::at(at))
        .into_iter()
        .filter(|s| {
            let owner = match s.get(&Field::OwnerId) {
                Value::Text(o) => o.clone(),
                _ => return false,
            };
            let closed = match s.get(&Field::Stage) {
                Value::Text(st) => process
                    .stage_code(st)
                    .is_some_and(|c| process.outcome(c) != pipewise_model::StageOutcome::Open),
                _ => false,
            };
            keep(&owner) && !(open && closed)
        })
        .map(|s| s.id)
        .collect()
}

fn ids(r: &Reply) -> BTreeSet<String> {
    r.body
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["opportunity_id"].as_str().unwrap().to_string())
        .collect()
}

fn owners(r: &Reply) -> BTreeSet<String> {
    r.body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["owner_id"].as_str().map(str::to_string))
        .collect()
}

/// win_rate's numerator and denominator for 2026-Q1, through the API.
async fn win_rate(f: &Fixture, who: &Auth) -> (f64, f64) {
    let r = send(
        f,
        Method::GET,
        "/api/metrics/win_rate?period=2026-Q1",
        who,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    (
        r.body[0]["numerator"].as_f64().unwrap(),
        r.body[0]["denominator"].as_f64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_only_inside_the_callers_scope() {
    let f = fixture().await;
    let none = Auth::default();

    // no data without a session or token; the public routes answer
    for (m, uri) in [
        (Method::GET, "/api/me"),
        (Method::GET, "/api/deals?as_of=2026-03-31"),
        (Method::GET, "/api/users"),
        (Method::GET, "/api/audit"),
        (Method::DELETE, "/api/session"),
        (Method::GET, "/api/nothing-here"),
    ] {
        let r = send(&f, m.clone(), uri, &none, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{m} {uri}: {}", r.text);
        assert_eq!(r.body["code"], "unauthenticated");
        assert!(
            r.body["message"]
                .as_str()
                .unwrap()
                .contains("POST /api/session")
        );
    }
    assert_eq!(
        send(&f, Method::GET, "/api/health", &none, None)
            .await
            .status,
        StatusCode::OK
    );
    let doc = send(&f, Method::GET, "/api/openapi.json", &none, None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    for p in [
        "/api/session",
        "/api/me",
        "/api/deals",
        "/api/submissions",
        "/api/forecast",
        "/api/users",
        "/api/audit",
    ] {
        assert!(
            doc.body["paths"][p].is_object(),
            "{p} is not in the OpenAPI document"
        );
    }
    assert!(doc.body["components"]["schemas"]["DealRow"].is_object());

    let day = "2026-03-31";
    let uri = format!("/api/deals?as_of={day}&open=true");

    // a rep: exactly their own deals, as the ledger's replay gives them
    let ana = login(&f, "ana").await;
    let r = send(&f, Method::GET, &uri, &ana, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let mine = ids(&r);
    assert!(!mine.is_empty());
    assert_eq!(owners(&r), BTreeSet::from([f.ana.clone()]));
    assert_eq!(mine, reference(&f, day, true, |o| o == f.ana));
    // another rep's deals are not among them
    let bob = login(&f, "bob").await;
    let theirs = ids(&send(&f, Method::GET, &uri, &bob, None).await);
    assert_eq!(theirs, reference(&f, day, true, |o| o == f.bob));
    assert!(mine.is_disjoint(&theirs));
    // a rep mapped to no CRM user sees nothing
    let ghost = login(&f, "ghost").await;
    assert_eq!(
        send(&f, Method::GET, &uri, &ghost, None).await.body,
        serde_json::json!([])
    );

    // a manager: their subtree (ana's deals in it, bob's not)
    let mgr = login(&f, "mgr").await;
    let r = send(&f, Method::GET, &uri, &mgr, None).await;
    let team = ids(&r);
    assert!(owners(&r).is_subset(&f.subtree));
    assert_eq!(team, reference(&f, day, true, |o| f.subtree.contains(o)));
    assert!(mine.is_subset(&team));
    assert!(team.is_disjoint(&theirs));
    let me = send(&f, Method::GET, "/api/me", &mgr, None).await;
    assert_eq!(me.body["role"], "manager");
    assert_eq!(me.body["owner_id"], f.manager.as_str());
    assert_eq!(me.body["owners_in_scope"], f.subtree.len());

    // an exec: everything, but no administration
    let cfo = login(&f, "cfo").await;
    let all = ids(&send(&f, Method::GET, &uri, &cfo, None).await);
    assert_eq!(all, reference(&f, day, true, |_| true));
    assert!(team.is_subset(&all) && all.len() > team.len());
    for admin_route in ["/api/users", "/api/audit"] {
        let r = send(&f, Method::GET, admin_route, &cfo, None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{admin_route}");
        assert_eq!(r.body["code"], "forbidden");
        assert_eq!(
            send(&f, Method::GET, admin_route, &ana, None).await.status,
            StatusCode::FORBIDDEN
        );
    }

    // the as-of date moves every answer: closed and created deals differ
    let earlier = ids(&send(
        &f,
        Method::GET,
        "/api/deals?as_of=2025-09-30&open=true",
        &cfo,
        None,
    )
    .await);
    assert_eq!(earlier, reference(&f, "2025-09-30", true, |_| true));
    assert_ne!(earlier, all);
    // every deal, closed ones too, without open=true; paging
    let every = send(
        &f,
        Method::GET,
        &format!("/api/deals?as_of={day}"),
        &cfo,
        None,
    )
    .await;
    assert_eq!(ids(&every), reference(&f, day, false, |_| true));
    let page = send(
        &f,
        Method::GET,
        &format!("/api/deals?as_of={day}&limit=5&offset=5"),
        &cfo,
        None,
    )
    .await;
    let first_ten: Vec<Json> = every.body.as_array().unwrap()[5..10].to_vec();
    assert_eq!(page.body, Json::Array(first_ten));

    // metrics inside the scope: a rep's win rate is their own deals', a
    // manager's their subtree's, the exec's everyone's
    let lib = pipewise_metrics::Library::load(f.store.root()).unwrap();
    let direct = |engine: &pipewise_engine::Engine, under: Option<&str>| {
        let q = pipewise_metrics::MetricQuery {
            by: vec![],
            period: Some((20454, 20543)), // 2026-01-01..2026-03-31
            as_of: None,
            known: false,
            under: under.map(str::to_string),
            dialect: pipewise_metrics::Dialect::DataFusion,
        };
        let r = pipewise_metrics::evaluate(engine, lib.get("win_rate").unwrap(), &q).unwrap();
        (r[0].numerator, r[0].denominator)
    };
    let (ana_wr, mgr_wr, all_wr) = (
        win_rate(&f, &ana).await,
        win_rate(&f, &mgr).await,
        win_rate(&f, &cfo).await,
    );
    // (the engine runs its own runtime: evaluate off this test's)
    let (d_ana, d_mgr, d_all) = std::thread::scope(|s| {
        s.spawn(|| {
            let e =
                pipewise_engine::Engine::open(&f.store, &SalesProcess::default_process()).unwrap();
            (
                direct(&e, Some(&f.ana)),
                direct(&e, Some(&f.manager)),
                direct(&e, None),
            )
        })
        .join()
        .unwrap()
    });
    assert_eq!(ana_wr, d_ana);
    assert_eq!(mgr_wr, d_mgr);
    assert_eq!(all_wr, d_all);
    assert!(
        ana_wr.1 <= mgr_wr.1 && mgr_wr.1 < all_wr.1,
        "{ana_wr:?} {mgr_wr:?} {all_wr:?}"
    );
    let by_owner = send(
        &f,
        Method::GET,
        "/api/metrics/win_rate?period=2026-Q1&by=owner",
        &mgr,
        None,
    )
    .await;
    for row in by_owner.body.as_array().unwrap() {
        let o = row["dims"]["owner"].as_str().unwrap_or("");
        assert!(f.subtree.contains(o), "a manager's breakdown shows {o}");
    }
    let list = send(&f, Method::GET, "/api/metrics", &ana, None).await;
    assert!(
        list.body
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "win_rate")
    );
    assert_eq!(
        send(&f, Method::GET, "/api/metrics/no_such_metric", &ana, None)
            .await
            .body["code"],
        "not_found"
    );
    assert_eq!(
        send(
            &f,
            Method::GET,
            "/api/metrics/win_rate?period=someday",
            &ana,
            None
        )
        .await
        .body["code"],
        "bad_request"
    );

    // the forecast inside the scope: a subtree's number is its own, never
    // more than its manager's manager's
    let fc = "/api/forecast?period=2026-Q2&as_of=2026-04-15&method=stage_weighted,probabilistic";
    let total = |r: &Reply, method: &str| {
        r.body
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["group"] == "all" && x["method"] == method)
            .and_then(|x| x["value"].as_f64())
            .unwrap()
    };
    let (f_ana, f_mgr, f_all) = (
        send(&f, Method::GET, fc, &ana, None).await,
        send(&f, Method::GET, fc, &mgr, None).await,
        send(&f, Method::GET, fc, &cfo, None).await,
    );
    assert_eq!(f_all.status, StatusCode::OK, "{}", f_all.text);
    // asked again (the past and the recommendation now cached): the same bytes
    assert_eq!(send(&f, Method::GET, fc, &cfo, None).await.text, f_all.text);
    let sw = |r: &Reply| total(r, "stage_weighted");
    assert!(sw(&f_ana) > 0.0 && sw(&f_ana) <= sw(&f_mgr) && sw(&f_mgr) < sw(&f_all));
    for r in [&f_ana, &f_mgr, &f_all] {
        let rows = r.body.as_array().unwrap();
        assert_eq!(rows.iter().filter(|x| x["recommended"] == true).count(), 1);
        assert_eq!(
            rows[0]["recommended"], true,
            "the recommended method comes first"
        );
        assert!(rows[0]["why"].as_str().unwrap().contains("WAPE"));
        let p = rows
            .iter()
            .find(|x| x["method"] == "probabilistic")
            .unwrap();
        let q = |k: &str| p[k].as_f64().unwrap();
        assert!(q("p10") <= q("p50") && q("p50") <= q("p90"));
        assert!(rows.iter().all(|x| x["terms"].is_array()));
    }
    let by_owner = send(&f, Method::GET, &format!("{fc}&by=owner"), &mgr, None).await;
    for row in by_owner.body.as_array().unwrap() {
        let g = row["group"].as_str().unwrap();
        assert!(
            g == "all" || f.subtree.contains(g),
            "a manager's forecast shows {g}"
        );
    }
    let r = send(
        &f,
        Method::GET,
        "/api/forecast?period=2026-Q2&as_of=2026-09-01",
        &mgr,
        None,
    )
    .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );

    // bad input: one error body, 4xx
    let r = send(&f, Method::GET, "/api/deals?as_of=yesterday", &cfo, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["code"], "bad_request");
    assert!(r.body["message"].as_str().unwrap().contains("as_of"));
    let r = send(&f, Method::GET, "/api/nothing-here", &cfo, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["code"], "not_found");

    // an API token: no cookie, no CSRF, the same scope
    let token = new_token("pw_");
    f.db.create_token("ana", "script", &token_hash(&token), 0)
        .await
        .unwrap();
    let script = Auth {
        bearer: Some(token.clone()),
        ..Auth::default()
    };
    assert_eq!(ids(&send(&f, Method::GET, &uri, &script, None).await), mine);
    let wrong = Auth {
        bearer: Some("pw_wrong".into()),
        ..Auth::default()
    };
    assert_eq!(
        send(&f, Method::GET, &uri, &wrong, None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // calls: submitted as oneself with the CSRF token, read inside the scope
    let call = serde_json::json!({"period": "2026-Q2", "commit": 100.0, "best_case": 200.0, "most_likely": 150.0, "note": "from the browser"});
    let bare = Auth {
        csrf: None,
        ..ana.clone()
    };
    let r = send(
        &f,
        Method::POST,
        "/api/submissions",
        &bare,
        Some(call.clone()),
    )
    .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("csrf"))
    );
    let r = send(
        &f,
        Method::POST,
        "/api/submissions",
        &ana,
        Some(call.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["submitter"], f.ana.as_str());
    assert_eq!(r.body["level"], "own");
    assert_eq!(r.body["source"], "web:ana");
    let mut team_call = call.clone();
    team_call["team"] = Json::Bool(true);
    let r = send(
        &f,
        Method::POST,
        "/api/submissions",
        &ana,
        Some(team_call.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a rep makes no team call");
    let r = send(&f, Method::POST, "/api/submissions", &mgr, Some(team_call)).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["level"], "team");
    let r = send(
        &f,
        Method::POST,
        "/api/submissions",
        &ghost,
        Some(call.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "no CRM user, no call");
    let mut negative = call.clone();
    negative["commit"] = serde_json::json!(-1.0);
    let r = send(&f, Method::POST, "/api/submissions", &ana, Some(negative)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["message"].as_str().unwrap().starts_with("commit -1"));
    let mut bad = call.clone();
    bad["period"] = Json::String("2026-05".into());
    let r = send(&f, Method::POST, "/api/submissions", &ana, Some(bad)).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );
    let submitters = |r: &Reply| -> Vec<String> {
        r.body
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["submitter"].as_str().unwrap().to_string())
            .collect()
    };
    let q2 = "/api/submissions?period=2026-Q2";
    assert!(
        submitters(&send(&f, Method::GET, q2, &bob, None).await).is_empty(),
        "bob sees no one else's call"
    );
    assert_eq!(
        submitters(&send(&f, Method::GET, q2, &ana, None).await),
        std::slice::from_ref(&f.ana)
    );
    assert_eq!(
        submitters(&send(&f, Method::GET, q2, &mgr, None).await),
        [f.ana.clone(), f.manager.clone()]
    );
    assert_eq!(
        send(&f, Method::GET, q2, &cfo, None)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // kept in the workspace's journal, beside the CLI's calls
    let kept =
        pipewise_forecast::submissions::from_batches(&f.store.read_journal("submissions").unwrap());
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[0].note.as_deref(), Some("from the browser"));
    // and in the app state, by who made them in the browser: the same calls
    // (refused ones are in neither)
    let app_calls = f.db.calls().await.unwrap();
    assert_eq!(app_calls.len(), 2);
    for (a, k) in app_calls.iter().zip(&kept) {
        assert_eq!(
            (
                a.submitter.as_str(),
                a.period.as_str(),
                a.level.as_str(),
                a.commit,
                a.best_case,
                a.most_likely,
                a.note.as_deref(),
                a.submitted_at,
                a.first_day,
                a.last_day
            ),
            (
                k.submitter.as_str(),
                k.period.as_str(),
                k.level.as_str(),
                k.commit,
                k.best_case,
                k.most_likely,
                k.note.as_deref(),
                k.submitted_at,
                i64::from(k.first),
                i64::from(k.last)
            )
        );
    }
    assert_eq!(
        app_calls
            .iter()
            .map(|c| c.login.as_str())
            .collect::<Vec<_>>(),
        ["ana", "mgr"]
    );

    // CSRF: a state-changing request with the session cookie alone is refused
    let no_csrf = Auth {
        csrf: None,
        ..bob.clone()
    };
    let r = send(&f, Method::DELETE, "/api/session", &no_csrf, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["code"], "csrf");
    let forged = Auth {
        csrf: Some("not-the-token".into()),
        ..bob.clone()
    };
    assert_eq!(
        send(&f, Method::DELETE, "/api/session", &forged, None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // with it: logged out, and the cookie no longer works
    assert_eq!(
        send(&f, Method::DELETE, "/api/session", &bob, None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(&f, Method::GET, &uri, &bob, None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // a disabled user's sessions end
    f.db.set_disabled("ghost", true, pipewise_server::auth::now())
        .await
        .unwrap();
    assert_eq!(
        send(&f, Method::GET, "/api/me", &ghost, None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // the audit log: every read, with who and the scope, the refusals too
    let root = login(&f, "root").await;
    let log = send(&f, Method::GET, "/api/audit?limit=100000", &root, None).await;
    assert_eq!(log.status, StatusCode::OK);
    let lines = log.body.as_array().unwrap();
    let ana_read = lines
        .iter()
        .find(|l| l["login"] == "ana" && l["target"] == uri.as_str())
        .expect("ana's read is audited");
    assert_eq!(ana_read["status"], 200);
    assert_eq!(ana_read["scope"], format!("owners {}", f.ana));
    assert!(
        lines
            .iter()
            .any(|l| l["login"].is_null() && l["status"] == 401 && l["target"] == "/api/users")
    );
    assert!(
        lines
            .iter()
            .any(|l| l["login"] == "cfo" && l["status"] == 403)
    );
    assert!(
        lines
            .iter()
            .any(|l| l["login"] == "bob" && l["method"] == "DELETE" && l["status"] == 204)
    );
    let csv = send(&f, Method::GET, "/api/audit?format=csv", &root, None).await;
    assert!(
        csv.text
            .starts_with("seq,at,login,role,method,target,scope,status\n")
    );
    assert!(
        csv.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("audit.csv")
    );
    let users = send(&f, Method::GET, "/api/users", &root, None).await;
    assert_eq!(users.body.as_array().unwrap().len(), 6);
    assert!(
        users.text.find("password").is_none(),
        "no hash leaves the server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_are_limited_and_errors_say_nothing_of_internals() {
    let f = fixture().await;
    let none = Auth::default();
    let try_login = |password: &'static str| {
        send(
            &f,
            Method::POST,
            "/api/session",
            &none,
            Some(serde_json::json!({"login": "ana", "password": password})),
        )
    };
    for _ in 0..5 {
        let r = try_login("wrong password").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.body["code"], "bad_credentials");
    }
    // the sixth is refused even with the right password
    let r = try_login(PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert_eq!(r.body["code"], "too_many_attempts");
    // other logins are not locked out
    login(&f, "bob").await;
    // an unknown login reads as a wrong password
    let r = send(
        &f,
        Method::POST,
        "/api/session",
        &none,
        Some(serde_json::json!({"login": "nobody", "password": PASSWORD})),
    )
    .await;
    assert_eq!(r.body["code"], "bad_credentials");
    // a malformed body is a 400 in the same shape
    let r = send(
        &f,
        Method::POST,
        "/api/session",
        &none,
        Some(serde_json::json!({"user": "x"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["code"], "bad_request");
}

async fn get(f: &Fixture, uri: &str, who: &Auth) -> Reply {
    let r = send(f, Method::GET, uri, who, None).await;
    assert_eq!(r.status, StatusCode::OK, "GET {uri}: {}", r.text);
    r
}

fn set_of(v: &Json, key: &str) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x[key].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_pages_ask_is_computed_inside_the_scope() {
    let f = fixture().await;
    let none = Auth::default();

    // The pages: served without a session (they hold no data), from the
    // binary, under a Content-Security-Policy allowing this server only.
    let index = send(&f, Method::GET, "/", &none, None).await;
    assert_eq!(index.status, StatusCode::OK);
    assert!(
        index.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = index.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    let mut named = 0;
    for part in index.text.split('"').filter(|s| s.starts_with("/assets/")) {
        let a = send(&f, Method::GET, part, &none, None).await;
        assert_eq!(a.status, StatusCode::OK, "{part}");
        assert!(a.text.len() > 150, "{part} is too small to be real");
        named += 1;
    }
    assert_eq!(
        named, 4,
        "index.html names the icon, the style, the chart library and the app"
    );
    let chart = send(
        &f,
        Method::GET,
        "/assets/vendor/chart.umd.min.js",
        &none,
        None,
    )
    .await;
    assert!(chart.text.contains("Chart.js v4"), "the vendored Chart.js");
    assert_eq!(
        send(&f, Method::GET, "/assets/none.js", &none, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Every path the app asks for is a route in the OpenAPI document.
    let app = send(&f, Method::GET, "/assets/app.js", &none, None)
        .await
        .text;
    let doc = send(&f, Method::GET, "/api/openapi.json", &none, None)
        .await
        .body;
    // (each `api("…")` / `api(`…`)` of app.js: its path, a `${…}` part of
    // it standing for a path parameter)
    let documented: Vec<Vec<String>> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.split('/').map(str::to_string).collect())
        .collect();
    let mut calls = 0;
    for (i, _) in app.match_indices("api(") {
        let rest = &app[i + 4..];
        let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '`') else {
            continue;
        };
        let Some(end) = rest[1..].find(q) else {
            continue;
        };
        let path = rest[1..1 + end].split('?').next().unwrap();
        let want: Vec<String> = format!("/api/{path}")
            .split('/')
            .map(str::to_string)
            .collect();
        let found = documented.iter().any(|d| {
            d.len() == want.len()
                && d.iter().zip(&want).all(|(a, b)| {
                    a == b || (a.starts_with('{') && (b.contains("${") || !b.is_empty()))
                })
        });
        assert!(
            found,
            "app.js asks for /api/{path}, which is not in the OpenAPI document"
        );
        calls += 1;
    }
    assert!(
        calls >= 30,
        "only {calls} API calls found in app.js: the parse broke"
    );
    // No data without a session: every route of the document, each method,
    // its path parameters filled in, but the three public ones.
    let mut asked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let public = matches!(
                (method.as_str(), path.as_str()),
                ("post", "/api/session") | ("get", "/api/health") | ("get", "/api/openapi.json")
            );
            if public {
                continue;
            }
            let uri: String = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { "x" } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = send(&f, m, &uri, &none, None).await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{method} {uri}: {}",
                r.text
            );
            asked += 1;
        }
    }
    assert!(asked >= 35, "only {asked} routes in the document");

    let (ana, bob, mgr, cfo) = (
        login(&f, "ana").await,
        login(&f, "bob").await,
        login(&f, "mgr").await,
        login(&f, "cfo").await,
    );

    // people: a rep sees themselves, a manager the subtree, an exec all
    assert_eq!(
        set_of(&get(&f, "/api/people", &ana).await.body, "id"),
        BTreeSet::from([f.ana.clone()])
    );
    assert_eq!(
        set_of(&get(&f, "/api/people", &mgr).await.body, "id"),
        f.subtree
    );
    assert!(
        get(&f, "/api/people", &cfo)
            .await
            .body
            .as_array()
            .unwrap()
            .len()
            > f.subtree.len()
    );

    // the period: the fiscal quarter holding a day
    let q = get(&f, "/api/period?as_of=2026-02-15", &ana).await.body;
    assert_eq!(
        (
            q["quarter"].as_str(),
            q["first"].as_str(),
            q["last"].as_str()
        ),
        (Some("2026-Q1"), Some("2026-01-01"), Some("2026-03-31"))
    );

    // history: a deal's changes are the ledger's own, oldest first
    let later = "2099-12-31";
    let anas = reference(&f, later, false, |o| o == f.ana);
    let deal = anas.iter().next().unwrap().clone();
    let h = get(&f, &format!("/api/deals/{deal}/history"), &ana)
        .await
        .body;
    let log = f.store.load(None, true).unwrap();
    let mut theirs: Vec<(String, Option<String>)> = log
        .all_events()
        .into_iter()
        .filter(|(_, e)| e.opportunity_id == deal)
        .map(|(_, e)| {
            (
                e.field.name().into_owned(),
                e.new_value.to_canonical_string(),
            )
        })
        .collect();
    let mut ours: Vec<(String, Option<String>)> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_string(),
                e["value"].as_str().map(str::to_string),
            )
        })
        .collect();
    let times: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["effective_at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    theirs.sort();
    ours.sort();
    assert!(ours.len() >= 3);
    assert_eq!(ours, theirs);
    // … and no one outside the deal's scope reads it
    let r = send(
        &f,
        Method::GET,
        &format!("/api/deals/{deal}/history"),
        &bob,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    get(&f, &format!("/api/deals/{deal}/history"), &mgr).await;

    // explain: the counted rows add up to the number, and are in scope
    for (who, keep) in [(&ana, Some(f.ana.clone())), (&mgr, None), (&cfo, None)] {
        let (num, den) = win_rate(&f, who).await;
        let e = get(&f, "/api/metrics/win_rate/explain?period=2026-Q1", who)
            .await
            .body;
        let counted: Vec<&Json> = e
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["role"] == "counted")
            .collect();
        let n: f64 = counted
            .iter()
            .map(|r| r["numerator"].as_f64().unwrap())
            .sum();
        let d: f64 = counted
            .iter()
            .map(|r| r["denominator"].as_f64().unwrap())
            .sum();
        assert_eq!((n, d), (num, den));
        if let Some(o) = keep {
            let theirs = reference(&f, later, false, |x| x == o);
            assert!(
                counted
                    .iter()
                    .all(|r| theirs.contains(r["id"].as_str().unwrap()))
            );
        }
    }

    // scorecard: the numbers metric by metric gives, overall and by owner
    let s = get(
        &f,
        "/api/scorecard?period=2026-Q1&by=owner&metrics=win_rate,open_pipeline",
        &mgr,
    )
    .await
    .body;
    for m in ["win_rate", "open_pipeline"] {
        let total = get(&f, &format!("/api/metrics/{m}?period=2026-Q1"), &mgr)
            .await
            .body;
        let row = s
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["metric"] == m && r["dimension"].is_null())
            .unwrap();
        assert_eq!(row["value"], total[0]["value"], "{m}");
        let by = get(
            &f,
            &format!("/api/metrics/{m}?period=2026-Q1&by=owner"),
            &mgr,
        )
        .await
        .body;
        let mut want: Vec<(String, Json)> = by
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["dims"]["owner"].as_str().unwrap_or("").to_string(),
                    r["value"].clone(),
                )
            })
            .collect();
        let mut got: Vec<(String, Json)> = s
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["metric"] == m && r["dimension"] == "owner")
            .map(|r| {
                (
                    r["group"].as_str().unwrap_or("").to_string(),
                    r["value"].clone(),
                )
            })
            .collect();
        want.sort_by(|a, b| a.0.cmp(&b.0));
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(got, want, "{m} by owner");
        assert!(got.iter().all(|(o, _)| f.subtree.contains(o)));
    }

    // funnel: a rep's entries per stage are their deals' first entries in
    // the quarter, worked out here from the ledger's stage events
    let process = SalesProcess::default_process();
    let (from, to) = (
        pipewise_model::time::parse_iso_instant("2026-01-01", false).unwrap(),
        pipewise_model::time::parse_iso_instant("2026-03-31", true).unwrap(),
    );
    let mut first: std::collections::BTreeMap<(String, String), i64> = Default::default();
    for (_, e) in log.all_events() {
        if e.field == Field::Stage
            && anas.contains(&e.opportunity_id)
            && let Value::Text(st) = &e.new_value
        {
            let k = (e.opportunity_id.clone(), st.clone());
            let t = first.entry(k).or_insert(e.effective_at);
            *t = (*t).min(e.effective_at);
        }
    }
    let mut entered: std::collections::BTreeMap<String, u64> = Default::default();
    for ((_, st), t) in &first {
        let open = process
            .stage_code(st)
            .is_some_and(|c| process.outcome(c) == pipewise_model::StageOutcome::Open);
        if open && *t >= from && *t <= to {
            *entered.entry(st.clone()).or_default() += 1;
        }
    }
    let fa = get(&f, "/api/funnel?period=2026-Q1", &ana).await.body;
    let got: std::collections::BTreeMap<String, u64> = fa
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["entered"].as_u64().unwrap() > 0)
        .map(|r| {
            (
                r["stage"].as_str().unwrap().to_string(),
                r["entered"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(!got.is_empty());
    assert_eq!(got, entered);
    // a rep's funnel is inside the manager's, the manager's inside the exec's
    let fm = get(&f, "/api/funnel?period=2026-Q1", &mgr).await.body;
    let fc = get(&f, "/api/funnel?period=2026-Q1", &cfo).await.body;
    for ((a, m), c) in fa
        .as_array()
        .unwrap()
        .iter()
        .zip(fm.as_array().unwrap())
        .zip(fc.as_array().unwrap())
    {
        let e = |r: &Json| r["entered"].as_u64().unwrap();
        assert!(e(a) <= e(m) && e(m) <= e(c), "{a} {m} {c}");
    }
    assert!(
        fm.as_array()
            .unwrap()
            .iter()
            .map(|r| r["entered"].as_u64().unwrap())
            .sum::<u64>()
            < fc.as_array()
                .unwrap()
                .iter()
                .map(|r| r["entered"].as_u64().unwrap())
                .sum::<u64>()
    );

    // flow: the waterfall ends at the rep's open deals then, and adds up
    let fl = get(
        &f,
        "/api/flow?from=2026-01-31&to=2026-03-31&deals=true",
        &ana,
    )
    .await
    .body;
    let b = fl["buckets"].as_array().unwrap();
    let count = |name: &str| {
        b.iter().find(|x| x["bucket"] == name).unwrap()["count"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(
        count("end") as usize,
        reference(&f, "2026-03-31", true, |o| o == f.ana).len()
    );
    let moved: i64 = b
        .iter()
        .filter(|x| x["waterfall"] == true && x["bucket"] != "start" && x["bucket"] != "end")
        .map(|x| x["count"].as_i64().unwrap())
        .sum();
    assert_eq!(count("start") + moved, count("end"));
    let all_deals: BTreeSet<String> = reference(&f, later, false, |_| true);
    assert!(
        fl["deals"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| all_deals.contains(d["opportunity_id"].as_str().unwrap()))
    );
    let flc = get(&f, "/api/flow?from=2026-01-31&to=2026-03-31", &cfo)
        .await
        .body;
    let cend = flc["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["bucket"] == "end")
        .unwrap()["count"]
        .as_i64()
        .unwrap();
    assert_eq!(
        cend as usize,
        reference(&f, "2026-03-31", true, |_| true).len()
    );
    assert!(count("end") < cend);

    // a team filter narrows inside one's scope, never outside it
    let day = "/api/deals?as_of=2026-03-31&open=true";
    let under = |u: &str| format!("{day}&under={u}");
    assert_eq!(
        ids(&get(&f, &under(&f.manager), &cfo).await),
        ids(&get(&f, day, &mgr).await)
    );
    assert_eq!(
        ids(&get(&f, &under(&f.ana), &mgr).await),
        ids(&get(&f, day, &ana).await)
    );
    for (who, u) in [
        (&ana, f.manager.clone()),
        (&mgr, f.bob.clone()),
        (&cfo, "nobody".to_string()),
    ] {
        let r = send(&f, Method::GET, &under(&u), who, None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{u}: {}", r.text);
        assert_eq!(r.body["code"], "forbidden");
    }
    assert_eq!(win_rate(&f, &mgr).await, {
        let r = get(
            &f,
            &format!("/api/metrics/win_rate?period=2026-Q1&under={}", f.manager),
            &cfo,
        )
        .await;
        (
            r.body[0]["numerator"].as_f64().unwrap(),
            r.body[0]["denominator"].as_f64().unwrap(),
        )
    });
}

/// What `who` booked in the quarter `first..=last`, by a naive walk of the
/// ledger: their deals standing won at its end whose last stage change fell
/// in it.
fn booked(f: &Fixture, who: &str, first: &str, last: &str) -> f64 {
    let log = f.store.load(None, false).unwrap();
    let process = SalesProcess::default_process();
    let (first, end) = (
        pipewise_model::time::parse_iso_instant(first, false).unwrap(),
        pipewise_model::time::parse_iso_instant(last, true).unwrap(),
    );
    let mut last_stage: std::collections::HashMap<String, i64> = Default::default();
    for (_, e) in log.all_events() {
        if e.field == Field::Stage && e.effective_at <= end {
            let t = last_stage
                .entry(e.opportunity_id.clone())
                .or_insert(e.effective_at);
            *t = (*t).max(e.effective_at);
        }
    }
    pipewise_ledger::asof::states(&log, Cut::at(end))
        .into_iter()
        .filter(|s| *s.get(&Field::OwnerId) == Value::Text(who.into()))
        .filter(|s| match s.get(&Field::Stage) {
            Value::Text(st) => process
                .stage_code(st)
                .is_some_and(|c| process.outcome(c) == pipewise_model::StageOutcome::Won),
            _ => false,
        })
        .filter(|s| last_stage.get(&s.id).is_some_and(|&t| t >= first))
        .map(|s| s.get(&Field::Amount).as_number().unwrap_or(0.0))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_scored_and_de_biased_inside_the_scope() {
    use pipewise_forecast::submissions::{JOURNAL, Level, Submission, to_batch};
    let f = fixture().await;
    let day = |s: &str| pipewise_model::time::parse_iso_instant(s, false).unwrap();
    let date = |s: &str| pipewise_model::time::date_of(day(s));
    let call =
        |who: &str, period: &str, first: &str, last: &str, at: &str, commit: f64| Submission {
            period: period.into(),
            first: date(first),
            last: date(last),
            submitter: who.into(),
            level: Level::Own,
            commit,
            best_case: commit * 1.5,
            most_likely: commit * 1.2,
            note: None,
            submitted_at: day(at),
            recorded_at: day(at),
            source: "test".into(),
        };
    let subs = vec![
        call(
            &f.ana,
            "2025-Q4",
            "2025-10-01",
            "2025-12-31",
            "2025-11-15T12:00:00Z",
            50_000.0,
        ),
        call(
            &f.bob,
            "2025-Q4",
            "2025-10-01",
            "2025-12-31",
            "2025-11-15T12:00:00Z",
            30_000.0,
        ),
        call(
            &f.ana,
            "2026-Q1",
            "2026-01-01",
            "2026-03-31",
            "2026-02-15T12:00:00Z",
            40_000.0,
        ),
    ];
    f.store
        .append_journal(JOURNAL, &[to_batch(&subs).unwrap()])
        .unwrap();
    let (ana, bob, mgr, cfo) = (
        login(&f, "ana").await,
        login(&f, "bob").await,
        login(&f, "mgr").await,
        login(&f, "cfo").await,
    );
    let submitters = |v: &Json| set_of(v, "submitter");
    let b_ana = get(&f, "/api/submissions/bias", &ana).await.body;
    assert_eq!(submitters(&b_ana), BTreeSet::from([f.ana.clone()]));
    assert_eq!(
        submitters(&get(&f, "/api/submissions/bias", &bob).await.body),
        BTreeSet::from([f.bob.clone()])
    );
    assert_eq!(
        submitters(&get(&f, "/api/submissions/bias", &mgr).await.body),
        BTreeSet::from([f.ana.clone()])
    );
    assert_eq!(
        submitters(&get(&f, "/api/submissions/bias", &cfo).await.body),
        BTreeSet::from([f.ana.clone(), f.bob.clone()])
    );
    // the error is the mean of (call − booked) ÷ booked over both quarters
    // (both have ended in the synthetic company), booked worked out here
    let e = |call: f64, first: &str, last: &str| {
        let b = booked(&f, &f.ana, first, last);
        assert!(b > 0.0, "ana booked nothing in {first}..{last}");
        (call - b) / b
    };
    let want =
        (e(50_000.0, "2025-10-01", "2025-12-31") + e(40_000.0, "2026-01-01", "2026-03-31")) / 2.0;
    let row = b_ana
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["category"] == "commit" && r["week"].is_null())
        .unwrap();
    let error = row["error"].as_f64().unwrap();
    assert!((error - want).abs() < 1e-9, "{error} vs {want}");
    assert_eq!((&row["calls"], &row["quarters"]), (&2.into(), &2.into()));
    // the calls behind the row: each with what ana booked, worked out here
    let rows = get(
        &f,
        &format!("/api/submissions/scored?submitter={}&level=own", f.ana),
        &mgr,
    )
    .await
    .body;
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (r, (commit, first, last)) in rows.iter().zip([
        (50_000.0, "2025-10-01", "2025-12-31"),
        (40_000.0, "2026-01-01", "2026-03-31"),
    ]) {
        assert_eq!(r["commit"], commit);
        let b = booked(&f, &f.ana, first, last);
        assert!((r["booked"].as_f64().unwrap() - b).abs() < 1e-6);
        assert!((r["commit_error"].as_f64().unwrap() - (commit - b) / b).abs() < 1e-12);
        assert!((r["best_case_error"].as_f64().unwrap() - (1.5 * commit - b) / b).abs() < 1e-12);
    }
    // and only inside the scope: bob's are not ana's to read, nor the manager's
    for who in [&ana, &mgr] {
        let theirs = get(
            &f,
            &format!("/api/submissions/scored?submitter={}", f.bob),
            who,
        )
        .await
        .body;
        assert!(theirs.as_array().unwrap().is_empty());
    }
    assert_eq!(
        get(&f, "/api/submissions/scored", &cfo)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // de-biased: the latest 2026-Q1 call by the day, divided by 1 + the shrunk bias
    let d = get(
        &f,
        "/api/submissions/debiased?period=2026-Q1&as_of=2026-03-01",
        &ana,
    )
    .await
    .body;
    let d = d.as_array().unwrap();
    assert_eq!(d.len(), 1);
    let shrunk = row["shrunk"].as_f64().unwrap();
    let want = 40_000.0 / (1.0 + shrunk).max(pipewise_forecast::submissions::MIN_FACTOR);
    assert!((d[0]["commit_debiased"].as_f64().unwrap() - want).abs() < 1e-6);
    assert_eq!(d[0]["commit"], 40_000.0);
    // the forecast's rows carry the calls beside them, as the CLI's do: the
    // rep's own call (de-biased with her record as of the day: the 2025-Q4
    // call), the manager's roll-up of the own calls under them
    let total = |v: &Json| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|r| r["group"] == "all")
            .unwrap()
            .clone()
    };
    let fc = "/api/forecast?period=2026-Q1&as_of=2026-03-01&method=stage_weighted";
    let mine = total(&get(&f, fc, &ana).await.body);
    let c = &mine["calls"];
    assert_eq!(c["submitter"], f.ana.as_str(), "{c}");
    assert_eq!(c["call"]["level"], "own");
    let commit = &c["call"]["commit"];
    assert_eq!(commit["call"], 40_000.0);
    let bias = commit["bias"].as_f64().unwrap();
    assert!(bias != 0.0, "ana's 2025-Q4 call is her record by then");
    let de = 40_000.0 / (1.0 + bias).max(pipewise_forecast::submissions::MIN_FACTOR);
    assert!((commit["debiased"].as_f64().unwrap() - de).abs() < 1e-6);
    let team = total(&get(&f, fc, &mgr).await.body);
    let t = &team["calls"];
    assert_eq!(t["submitter"], f.manager.as_str(), "{t}");
    assert!(t["call"].is_null(), "the manager made no team call");
    assert_eq!(t["rollup"]["people"], 1);
    assert_eq!(t["rollup"]["commit"]["call"], 40_000.0);
    assert!((t["rollup"]["commit"]["debiased"].as_f64().unwrap() - de).abs() < 1e-6);
    let theirs = total(&get(&f, fc, &bob).await.body);
    assert!(
        theirs["calls"]["call"].is_null(),
        "bob made no 2026-Q1 call"
    );
    // by owner, ana's row carries her call
    let by_owner = get(&f, &format!("{fc}&by=owner"), &mgr).await.body;
    let row_ana = by_owner
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["group"] == f.ana.as_str())
        .unwrap();
    assert_eq!(row_ana["calls"]["call"]["commit"]["call"], 40_000.0);
    // before the call was made, there is none; bob sees none of ana's
    assert!(
        get(
            &f,
            "/api/submissions/debiased?period=2026-Q1&as_of=2026-02-01",
            &ana
        )
        .await
        .body
        .as_array()
        .unwrap()
        .is_empty()
    );
    assert!(
        get(
            &f,
            "/api/submissions/debiased?period=2026-Q1&as_of=2026-03-01",
            &bob
        )
        .await
        .body
        .as_array()
        .unwrap()
        .is_empty()
    );
    assert_eq!(
        send(
            &f,
            Method::GET,
            "/api/submissions/debiased?period=2026-Q7",
            &ana,
            None
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );

    // the saved backtest: none yet, then its scores for all, its points for the exec only
    let r = send(&f, Method::GET, "/api/backtest", &mgr, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("pipewise backtest")
    );
    let reports = f.store.root().join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    std::fs::write(
        reports.join("backtest.json"),
        r#"{"quarters":["2025-Q4"],"weeks":[4],"points":[{"quarter":"2025-Q4","week":4,"method":"category","forecast":1.0,"actual":2.0}],"scores":[{"method":"category","week":4,"n":1,"wape":0.5}],"leaderboard":[],"winners":{"4":"category"}}"#,
    )
    .unwrap();
    let m = get(&f, "/api/backtest", &mgr).await.body;
    assert_eq!(m["scores"][0]["wape"], 0.5);
    assert!(
        m.get("points").is_none(),
        "amounts are for roles that see everything"
    );
    assert_eq!(
        get(&f, "/api/backtest", &cfo).await.body["points"][0]["actual"],
        2.0
    );

    // win probabilities: none without a trained model
    let r = send(
        &f,
        Method::GET,
        "/api/deals/scores?as_of=2026-03-01",
        &ana,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("pipewise deals train")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leads_are_scored_and_judged_inside_the_scope() {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMicrosecondType;
    let f = fixture().await;
    let (ana, mgr, cfo) = (
        login(&f, "ana").await,
        login(&f, "mgr").await,
        login(&f, "cfo").await,
    );
    let day = "2026-03-31";
    let at = pipewise_model::time::parse_iso_instant(day, true).unwrap();
    let window = 90 * pipewise_model::time::MICROS_PER_DAY;
    // the leads table read here: (id, owner, created, converted)
    let mut table = Vec::new();
    for b in f.store.read_table("leads").unwrap() {
        let id = b.column_by_name("id").unwrap().as_string::<i32>().clone();
        let owner = b
            .column_by_name("owner_id")
            .unwrap()
            .as_string::<i32>()
            .clone();
        let created = b
            .column_by_name("created_at")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>()
            .clone();
        let converted = b
            .column_by_name("converted_at")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>()
            .clone();
        for i in 0..b.num_rows() {
            table.push((
                id.value(i).to_string(),
                owner.is_valid(i).then(|| owner.value(i).to_string()),
                created.value(i),
                converted.is_valid(i).then(|| converted.value(i)),
            ));
        }
    }
    let uri = format!("/api/leads?as_of={day}&limit=1000000");
    let mut totals = Vec::new();
    for (who, keep) in [
        (
            &ana,
            Box::new(|o: &str| o == f.ana) as Box<dyn Fn(&str) -> bool>,
        ),
        (&mgr, Box::new(|o: &str| f.subtree.contains(o))),
        (&cfo, Box::new(|_: &str| true)),
    ] {
        let r = get(&f, &uri, who).await.body;
        let mine: Vec<&(String, Option<String>, i64, Option<i64>)> = table
            .iter()
            .filter(|l| l.2 <= at && l.1.as_deref().is_some_and(&keep))
            .collect();
        assert!(!mine.is_empty());
        assert_eq!(r["total"], mine.len());
        let rows = r["leads"].as_array().unwrap();
        assert_eq!(rows.len(), mine.len());
        assert!(
            rows.iter()
                .all(|l| l["owner_id"].as_str().is_some_and(&keep))
        );
        // newest first
        let times: Vec<&str> = rows
            .iter()
            .map(|l| l["created_at"].as_str().unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] >= w[1]));
        // a lead's points are its criteria's: none met, none given
        let has_reasons = |l: &Json| !l["reasons"].as_array().unwrap().is_empty();
        assert!(
            rows.iter()
                .all(|l| (l["score"].as_f64().unwrap() > 0.0) == has_reasons(l))
        );
        let dist: u64 = r["distribution"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["leads"].as_u64().unwrap())
            .sum();
        assert_eq!(dist as usize, mine.len());
        // lift: over the leads whose 90 days had passed, converted within them
        let closed: Vec<_> = mine.iter().filter(|l| l.2 + window <= at).collect();
        let converted = closed
            .iter()
            .filter(|l| l.3.is_some_and(|c| c <= l.2 + window))
            .count();
        assert_eq!(r["judged_for_lift"], closed.len());
        let d = r["deciles"].as_array().unwrap();
        let sum = |k: &str| d.iter().map(|x| x[k].as_u64().unwrap()).sum::<u64>() as usize;
        assert_eq!((sum("leads"), sum("converted")), (closed.len(), converted));
        if converted > 0 {
            // the leads-weighted mean lift is 1
            let mean: f64 = d
                .iter()
                .map(|x| x["lift"].as_f64().unwrap() * x["leads"].as_f64().unwrap())
                .sum::<f64>()
                / closed.len() as f64;
            assert!((mean - 1.0).abs() < 1e-9, "{mean}");
        }
        let sla: u64 = r["sla_by_owner"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["leads"].as_u64().unwrap())
            .sum();
        assert_eq!(sla as usize, mine.len());
        assert!(
            r["breached"]
                .as_array()
                .unwrap()
                .iter()
                .all(|l| l["sla"] == "breached" || l["sla"] == "overdue")
        );
        // each decile's count opens its leads: the decile's share of the
        // ranking, converted within their 90 days as the table says
        for x in d {
            let n = x["decile"].as_u64().unwrap();
            let set = get(&f, &format!("{uri}&decile={n}"), who).await.body;
            let leads = set["leads"].as_array().unwrap();
            assert_eq!(set["matching"], x["leads"]);
            assert_eq!(leads.len() as u64, x["leads"].as_u64().unwrap());
            let conv = leads
                .iter()
                .filter(|l| {
                    let id = l["id"].as_str().unwrap();
                    let t = table.iter().find(|t| t.0 == id).unwrap();
                    t.2 + window <= at && t.3.is_some_and(|c| c <= t.2 + window)
                })
                .count();
            assert_eq!(conv as u64, x["converted"].as_u64().unwrap(), "decile {n}");
            let lowest = leads
                .iter()
                .map(|l| l["score"].as_f64().unwrap())
                .fold(f64::INFINITY, f64::min);
            assert_eq!(Some(lowest), x["min_score"].as_f64());
        }
        // each bin of the distribution opens its leads
        for b in r["distribution"].as_array().unwrap() {
            let (from, to) = (b["from"].as_f64().unwrap(), b["to"].as_f64().unwrap());
            let set = get(&f, &format!("{uri}&score_from={from}&score_to={to}"), who)
                .await
                .body;
            assert_eq!(set["matching"], b["leads"], "bin {from}..{to}");
            assert!(set["leads"].as_array().unwrap().iter().all(|l| {
                let s = l["score"].as_f64().unwrap();
                s >= from && s < to
            }));
        }
        // each SLA row's counts open their leads
        for s in r["sla_by_owner"].as_array().unwrap() {
            let o = s["group"].as_str().unwrap();
            let set = get(&f, &format!("{uri}&owner={o}"), who).await.body;
            assert_eq!(set["matching"], s["leads"]);
            let want = mine.iter().filter(|l| l.1.as_deref() == Some(o)).count();
            assert_eq!(set["leads"].as_array().unwrap().len(), want, "{o}");
            for state in ["breached", "overdue"] {
                let set = get(&f, &format!("{uri}&owner={o}&sla={state}"), who)
                    .await
                    .body;
                let rows = set["leads"].as_array().unwrap();
                assert_eq!(rows.len() as u64, s[state].as_u64().unwrap(), "{o} {state}");
                assert!(rows.iter().all(|l| l["sla"] == state && l["owner_id"] == o));
            }
        }
        for s in r["sla_by_band"].as_array().unwrap() {
            let b = s["group"].as_str().unwrap();
            let set = get(&f, &format!("{uri}&band={}", b.replace(' ', "%20")), who)
                .await
                .body;
            assert_eq!(set["matching"], s["leads"], "band {b}");
            assert!(
                set["leads"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|l| l["band"] == b)
            );
        }
        // contact details: masked for the exec only
        let masked = std::ptr::eq(who, &cfo);
        assert!(rows.iter().all(|l| l["masked"] == masked));
        totals.push(mine.len());
    }
    assert!(totals[0] < totals[1] && totals[1] < totals[2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_views_are_each_users_own() {
    let f = fixture().await;
    let (ana, bob) = (login(&f, "ana").await, login(&f, "bob").await);
    let view = serde_json::json!({"name": "Q1 close", "path": "/pipeline?period=2026-Q1&as_of=2026-03-31"});
    // a session without the CSRF token cannot save
    let no_csrf = Auth {
        csrf: None,
        ..ana.clone()
    };
    let r = send(&f, Method::POST, "/api/views", &no_csrf, Some(view.clone())).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = send(&f, Method::POST, "/api/views", &ana, Some(view.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["path"], view["path"]);
    // the same name again, a bad path, an empty name: refused with why
    for body in [
        view.clone(),
        serde_json::json!({"name": "x", "path": "javascript:alert(1)"}),
        serde_json::json!({"name": " ", "path": "/deals"}),
    ] {
        let r = send(&f, Method::POST, "/api/views", &ana, Some(body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    }
    assert_eq!(
        get(&f, "/api/views", &ana)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(
        get(&f, "/api/views", &bob)
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
    // bob cannot delete ana's; ana can
    let uri = format!("/api/views/{id}");
    assert_eq!(
        send(&f, Method::DELETE, &uri, &bob, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&f, Method::DELETE, &uri, &ana, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(
        get(&f, "/api/views", &ana)
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
    // and it is all in the audit log
    let root = login(&f, "root").await;
    let audit = get(&f, "/api/audit?limit=100000", &root).await.body;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["method"] == "DELETE" && a["target"] == uri.as_str() && a["login"] == "ana")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_filter_narrows_every_number_exactly() {
    let f = fixture().await;
    let (mgr, cfo) = (login(&f, "mgr").await, login(&f, "cfo").await);
    let day = "2026-03-31";
    // the segments of the open deals that day, by replay
    let log = f.store.load(None, false).unwrap();
    let at = pipewise_model::time::parse_iso_instant(day, true).unwrap();
    let states = pipewise_ledger::asof::states(&log, Cut::at(at));
    let seg_of: std::collections::HashMap<String, String> = states
        .iter()
        .filter_map(|s| match s.get(&Field::Segment) {
            Value::Text(x) => Some((s.id.clone(), x.clone())),
            _ => None,
        })
        .collect();
    let segments: BTreeSet<&String> = seg_of.values().collect();
    assert!(segments.len() >= 2, "{segments:?}");
    for seg in segments {
        let all = reference(&f, day, true, |_| true);
        let want: BTreeSet<String> = all
            .into_iter()
            .filter(|id| seg_of.get(id) == Some(seg))
            .collect();
        let got = ids(&get(
            &f,
            &format!("/api/deals?as_of={day}&open=true&segment={seg}"),
            &cfo,
        )
        .await);
        assert_eq!(got, want, "{seg}");
        // a metric's segment number is its by=segment row
        let by = get(&f, "/api/metrics/win_rate?period=2026-Q1&by=segment", &cfo)
            .await
            .body;
        let row = by
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["dims"]["segment"] == seg.as_str());
        let one = get(
            &f,
            &format!("/api/metrics/win_rate?period=2026-Q1&segment={seg}"),
            &cfo,
        )
        .await
        .body;
        match row {
            Some(r) => {
                assert_eq!(one[0]["numerator"], r["numerator"]);
                assert_eq!(one[0]["denominator"], r["denominator"]);
                assert!(one[0]["dims"].as_object().unwrap().is_empty());
            }
            None => assert!(one.as_array().unwrap().is_empty()),
        }
        // the scorecard and explain agree with it
        let sc = get(
            &f,
            &format!("/api/scorecard?period=2026-Q1&metrics=win_rate&by=owner&segment={seg}"),
            &mgr,
        )
        .await
        .body;
        let m = get(
            &f,
            &format!("/api/metrics/win_rate?period=2026-Q1&by=owner&segment={seg}"),
            &mgr,
        )
        .await
        .body;
        let owners = |v: &Json,
                      key: &dyn Fn(&Json) -> Option<String>|
         -> BTreeSet<(Option<String>, String)> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|r| (key(r), r["value"].to_string()))
                .collect()
        };
        assert_eq!(
            owners(
                &Json::Array(
                    sc.as_array()
                        .unwrap()
                        .iter()
                        .filter(|r| r["dimension"] == "owner")
                        .cloned()
                        .collect()
                ),
                &|r| r["group"].as_str().map(str::to_string)
            ),
            owners(&m, &|r| r["dims"]["owner"].as_str().map(str::to_string)),
        );
        let e = get(
            &f,
            &format!("/api/metrics/win_rate/explain?period=2026-Q1&segment={seg}"),
            &cfo,
        )
        .await
        .body;
        assert!(
            e.as_array()
                .unwrap()
                .iter()
                .all(|r| r["dims"].as_object().unwrap().is_empty())
        );
        // the forecast: that segment's, as the total
        let fc = get(
            &f,
            &format!("/api/forecast?period=2026-Q1&as_of=2026-03-01&method=category&segment={seg}"),
            &cfo,
        )
        .await
        .body;
        let fc = fc.as_array().unwrap();
        assert!(!fc.is_empty() && fc.iter().all(|r| r["group"] == "all"));
    }
    let r = send(
        &f,
        Method::GET,
        "/api/metrics/win_rate?by=segment&segment=smb",
        &cfo,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backtest_runs_as_a_job_with_its_progress() {
    let f = fixture().await;
    let (mgr, cfo, root) = (
        login(&f, "mgr").await,
        login(&f, "cfo").await,
        login(&f, "root").await,
    );
    let r = send(&f, Method::POST, "/api/jobs/backtest", &mgr, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let no_csrf = Auth {
        csrf: None,
        ..cfo.clone()
    };
    assert_eq!(
        send(&f, Method::POST, "/api/jobs/backtest", &no_csrf, None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let r = send(&f, Method::POST, "/api/jobs/backtest", &cfo, None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id = r.body["id"].as_u64().unwrap();
    // a second one while the first runs is refused; once it is done, allowed
    let again = send(&f, Method::POST, "/api/jobs/backtest", &cfo, None).await;
    let uri = format!("/api/jobs/{id}");
    let mut seen_progress = Vec::new();
    let job = loop {
        let j = get(&f, &uri, &cfo).await.body;
        seen_progress.push((j["done"].as_u64().unwrap(), j["total"].as_u64().unwrap()));
        if j["state"] != "running" {
            break j;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    match again.status {
        StatusCode::CONFLICT => {}
        StatusCode::ACCEPTED => panic!("a second backtest started while the first ran: {job}"),
        s => panic!("{s}: {}", again.text),
    }
    assert_eq!(job["state"], "done", "{job}");
    let total = job["total"].as_u64().unwrap();
    assert!(total > 0 && job["done"] == total);
    // progress only ever moves forward
    assert!(seen_progress.windows(2).all(|w| w[0].0 <= w[1].0));
    // the report is saved, and what the page reads
    let bt = get(&f, "/api/backtest", &mgr).await.body;
    assert_eq!(bt["weeks"].as_array().unwrap().len(), 13);
    assert!(!bt["leaderboard"].as_array().unwrap().is_empty());
    assert!(f.store.root().join("reports/backtest.md").exists());
    // a job is its starter's (and an admin's) to see
    assert_eq!(
        send(&f, Method::GET, &uri, &mgr, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(get(&f, &uri, &root).await.body["id"], id);
    assert!(
        get(&f, "/api/jobs", &mgr)
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_answers_are_the_same_bytes_until_a_commit_lands() {
    let f = fixture().await;
    let (ana, mgr, root) = (
        login(&f, "ana").await,
        login(&f, "mgr").await,
        login(&f, "root").await,
    );
    // a call made (the journal, not the ledger) is in the next forecast
    // answer at once, as is a saved backtest
    let fc = "/api/forecast?period=2026-Q1&as_of=2026-03-01&method=stage_weighted";
    let before = get(&f, fc, &ana).await.text;
    assert_eq!(get(&f, fc, &ana).await.text, before);
    let listed = "/api/submissions?period=2026-Q1";
    assert_eq!(get(&f, listed, &ana).await.text, "[]");
    let day = |s: &str| pipewise_model::time::parse_iso_instant(s, false).unwrap();
    let call = pipewise_forecast::submissions::Submission {
        period: "2026-Q1".into(),
        first: pipewise_model::time::date_of(day("2026-01-01")),
        last: pipewise_model::time::date_of(day("2026-03-31")),
        submitter: f.ana.clone(),
        level: pipewise_forecast::submissions::Level::Own,
        commit: 12_345.0,
        best_case: 20_000.0,
        most_likely: 15_000.0,
        note: None,
        submitted_at: day("2026-02-15T12:00:00Z"),
        recorded_at: day("2026-02-15T12:00:00Z"),
        source: "test".into(),
    };
    f.store
        .append_journal(
            pipewise_forecast::submissions::JOURNAL,
            &[pipewise_forecast::submissions::to_batch(&[call]).unwrap()],
        )
        .unwrap();
    let after: Json = serde_json::from_str(&get(&f, fc, &ana).await.text).unwrap();
    let all = after
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["group"] == "all")
        .unwrap();
    assert_eq!(all["calls"]["call"]["commit"]["call"], 12_345.0, "{all}");
    let calls: Json = serde_json::from_str(&get(&f, listed, &ana).await.text).unwrap();
    assert_eq!(calls[0]["commit"], 12_345.0, "{calls}");

    let uri = "/api/deals?as_of=2099-12-31&open=true";
    let a1 = get(&f, uri, &mgr).await.text;
    let a2 = get(&f, uri, &mgr).await.text;
    assert_eq!(a1, a2);
    // another scope, another answer (never the manager's kept one)
    assert_ne!(get(&f, uri, &ana).await.text, a1);
    // both reads are audited, kept or not
    let audit = get(&f, "/api/audit?limit=100000", &root).await.body;
    let reads = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["login"] == "mgr" && a["target"] == uri)
        .count();
    assert_eq!(reads, 2);
    // a commit lands: the next answer is the new version's
    let deal = ids(&get(&f, uri, &mgr).await).into_iter().next().unwrap();
    let m = f.store.manifest().unwrap();
    let at = pipewise_model::time::parse_iso_instant("2030-01-01", false).unwrap();
    let lost = pipewise_model::OpportunityEvent {
        opportunity_id: deal.clone(),
        field: Field::Stage,
        old_value: Value::Null,
        new_value: Value::Text("Closed Lost".into()),
        effective_at: at,
        recorded_at: at,
        source: "test".into(),
    };
    f.store
        .commit(&m, pipewise_ledger::store_commit(Vec::new(), vec![lost]))
        .unwrap();
    let after = ids(&get(&f, uri, &mgr).await);
    assert!(
        !after.contains(&deal),
        "the deal lost in the new version is still listed open"
    );
    let before: Json = serde_json::from_str(&a1).unwrap();
    assert_eq!(after.len() + 1, before.as_array().unwrap().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn velocity_and_its_factors_are_the_metrics_of_the_scope() {
    let f = fixture().await;
    let mgr = login(&f, "mgr").await;
    let v = get(&f, "/api/velocity?period=2026-Q1", &mgr).await.body;
    let v = v.as_array().unwrap();
    let row = |name: &str| v.iter().find(|r| r["factor"] == name).unwrap();
    let mut after = Vec::new();
    let mut before = Vec::new();
    for m in [
        "qualified_opportunities",
        "average_won_deal_size",
        "close_rate",
        "average_sales_cycle_days",
    ] {
        // each factor is the metric itself, in the manager's scope, this quarter and the one before
        let now = get(&f, &format!("/api/metrics/{m}?period=2026-Q1"), &mgr)
            .await
            .body[0]["value"]
            .as_f64()
            .unwrap();
        let then = get(&f, &format!("/api/metrics/{m}?period=2025-Q4"), &mgr)
            .await
            .body[0]["value"]
            .as_f64()
            .unwrap();
        assert_eq!(row(m)["after"].as_f64().unwrap(), now, "{m}");
        assert_eq!(row(m)["before"].as_f64().unwrap(), then, "{m}");
        after.push(now);
        before.push(then);
    }
    // seed 001: velocity = opportunities × deal size × close rate ÷ cycle days
    let vel = |x: &[f64]| x[0] * x[1] * x[2] / x[3];
    let total = row("sales_velocity_per_day");
    assert!((total["after"].as_f64().unwrap() - vel(&after)).abs() < 1e-6);
    assert!((total["before"].as_f64().unwrap() - vel(&before)).abs() < 1e-6);
    // the four contributions add up to the change
    let sum: f64 = v
        .iter()
        .take(4)
        .map(|r| r["contribution"].as_f64().unwrap())
        .sum();
    assert!((sum - (vel(&after) - vel(&before))).abs() < 1e-6, "{sum}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_funnel_stage_lists_the_deals_behind_its_numbers() {
    let f = fixture().await;
    let mgr = login(&f, "mgr").await;
    let funnel = get(&f, "/api/funnel?period=2026-Q1", &mgr).await.body;
    let theirs = reference(&f, "2099-12-31", false, |o| f.subtree.contains(o));
    let mut checked = 0;
    for st in funnel.as_array().unwrap() {
        let name = st["stage"].as_str().unwrap();
        let deals = get(
            &f,
            &format!(
                "/api/funnel/deals?period=2026-Q1&stage={}",
                name.replace(' ', "%20")
            ),
            &mgr,
        )
        .await
        .body;
        let deals = deals.as_array().unwrap();
        assert_eq!(
            deals.len() as u64,
            st["entered"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            deals.iter().filter(|d| d["advanced"] == true).count() as u64,
            st["advanced"].as_u64().unwrap(),
            "{name}"
        );
        assert!(
            deals
                .iter()
                .all(|d| theirs.contains(d["opportunity_id"].as_str().unwrap()))
        );
        checked += deals.len();
    }
    assert!(checked > 0);
    let r = send(
        &f,
        Method::GET,
        "/api/funnel/deals?stage=Nowhere",
        &mgr,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// A multipart form: (part name, file name, bytes) each.
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "pipewise-test-boundary-7d1f";
    let mut body = Vec::new();
    for (name, file, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some(f) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: text/csv\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(f: &Fixture, who: &Auth, parts: &[(&str, Option<&str>, &[u8])]) -> Reply {
    let (ct, body) = multipart(parts);
    send_raw(
        &f.app,
        Method::POST,
        "/api/jobs/ingest",
        who,
        Some((ct, body)),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_ingests_an_uploaded_export_as_a_job_and_sees_what_it_changed() {
    let f = fixture().await;
    let (ana, bob, cfo, root) = (
        login(&f, "ana").await,
        login(&f, "bob").await,
        login(&f, "cfo").await,
        login(&f, "root").await,
    );
    // A Salesforce Opportunity.csv written by hand from the documented
    // columns: three new deals of ana's (one of them an existing deal of
    // the ledger moved to Closed Lost would be another test), and the first
    // row again, which the ingest quarantines as a duplicate.
    let existing = ids(&get(&f, "/api/deals?as_of=2099-12-31&open=true", &ana).await)
        .into_iter()
        .next()
        .unwrap();
    let a = &f.ana;
    let csv = format!(
        "Id,Name,OwnerId,StageName,Amount,CloseDate,CreatedDate,IsClosed,IsWon\n\
         006UPLOAD00000001AAA,Upload one,{a},Discovery,12000,2027-06-30,2026-02-01T10:00:00Z,false,false\n\
         006UPLOAD00000002AAA,Upload two,{a},Proposal,30500,2027-05-31,2026-02-02T10:00:00Z,false,false\n\
         006UPLOAD00000003AAA,Upload three,{a},Qualification,8000,2027-07-31,2026-02-03T10:00:00Z,false,false\n\
         006UPLOAD00000001AAA,Upload one,{a},Discovery,12000,2027-06-30,2026-02-01T10:00:00Z,false,false\n"
    );
    let good = [
        ("connector", None, b"salesforce".as_slice()),
        ("files", Some("Opportunity.csv"), csv.as_bytes()),
    ];
    // only admins ingest; a session needs its CSRF token
    assert_eq!(upload(&f, &cfo, &good).await.status, StatusCode::FORBIDDEN);
    let no_csrf = Auth {
        csrf: None,
        ..root.clone()
    };
    let r = upload(&f, &no_csrf, &good).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.body["code"], "csrf");
    // a refused upload says why and keeps nothing
    let bad = [
        ("connector", None, b"salesforce".as_slice()),
        ("files", Some("../Opportunity.txt"), csv.as_bytes()),
    ];
    let r = upload(&f, &root, &bad).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(
        r.body["message"].as_str().unwrap().contains(".csv"),
        "{}",
        r.text
    );
    let r = upload(&f, &root, &[("connector", None, b"pipedrive".as_slice())]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["message"].as_str().unwrap().contains("pipedrive"));
    let uploads = f.store.root().join("uploads");
    let kept = || std::fs::read_dir(&uploads).map(|d| d.count()).unwrap_or(0);
    assert_eq!(kept(), 0, "refused uploads were kept");

    let before = f.store.manifest().unwrap();
    let r = upload(&f, &root, &good).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.body["kind"], "ingest");
    let uri = format!("/api/jobs/{}", r.body["id"]);
    let mut seen = Vec::new();
    let job = loop {
        let j = get(&f, &uri, &root).await.body;
        seen.push(j["done"].as_u64().unwrap());
        if j["state"] != "running" {
            break j;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(job["state"], "done", "{job}");
    assert!(job["total"].as_u64().unwrap() > 0 && job["done"] == job["total"]);
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    let after = f.store.manifest().unwrap();
    assert_eq!(after.version, before.version + 1);
    let rec = after.ingests.last().unwrap();
    assert!(job["message"].as_str().unwrap().contains(&rec.id), "{job}");
    // the file is kept as uploaded
    assert_eq!(kept(), 1);
    let dir = std::fs::read_dir(&uploads)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert!(dir.file_name().to_string_lossy().ends_with("-root"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("export/Opportunity.csv")).unwrap(),
        csv
    );

    // the data quality page's counts: 4 rows read, 3 landed, 1 quarantined
    let q = get(&f, "/api/quality", &root).await.body;
    let last = q["ingests"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "salesforce");
    let file = &last["files"][0];
    assert!(file["path"].as_str().unwrap().ends_with("Opportunity.csv"));
    assert_eq!(
        (
            &file["rows_read"],
            &file["rows_landed"],
            &file["rows_quarantined"]
        ),
        (&Json::from(4), &Json::from(3), &Json::from(1))
    );
    let quarantined = get(&f, "/api/quality/quarantine", &root).await.body;
    assert_eq!(quarantined.as_array().unwrap().len(), 1, "{quarantined}");
    // (line 5: the header is line 1)
    assert_eq!(quarantined[0]["row"], "5");
    assert_eq!(quarantined[0]["file"], "Opportunity.csv");

    // what it changed, against the ledger read directly: every event whose
    // seq is new since the version before
    let log = f.store.load(None, false).unwrap();
    let mut want: std::collections::BTreeMap<String, (usize, BTreeSet<String>)> =
        Default::default();
    let mut new_ids = BTreeSet::new();
    for (seq, e) in log.all_events() {
        if seq >= before.next_seq {
            let w = want.entry(e.field.name().into_owned()).or_default();
            w.0 += 1;
            w.1.insert(e.opportunity_id.clone());
            new_ids.insert(e.opportunity_id);
        }
    }
    let expected: BTreeSet<String> = (1..=3).map(|i| format!("006UPLOAD0000000{i}AAA")).collect();
    assert_eq!(new_ids, expected, "the ingest touched other deals");
    let c = get(&f, "/api/quality/changes", &root).await.body;
    assert_eq!(c["known"], true);
    assert_eq!(c["ingest"], rec.id.as_str());
    let got: std::collections::BTreeMap<String, (usize, usize)> = c["by_field"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["field"].as_str().unwrap().to_string(),
                (
                    r["changes"].as_u64().unwrap() as usize,
                    r["deals"].as_u64().unwrap() as usize,
                ),
            )
        })
        .collect();
    let want_counts: std::collections::BTreeMap<String, (usize, usize)> = want
        .iter()
        .map(|(k, (n, d))| (k.clone(), (*n, d.len())))
        .collect();
    assert_eq!(got, want_counts);
    assert_eq!(
        c["total"].as_u64().unwrap() as usize,
        want.values().map(|w| w.0).sum::<usize>()
    );
    // one field's rows: the amounts as uploaded
    let amounts = get(&f, "/api/quality/changes?field=amount", &root)
        .await
        .body;
    let rows: BTreeSet<(String, String)> = amounts["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["field"], "amount");
            (
                r["opportunity_id"].as_str().unwrap().to_string(),
                r["after"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let amount = |s: &str| {
        Value::Number(s.parse().unwrap())
            .to_canonical_string()
            .unwrap()
    };
    assert_eq!(
        rows,
        [
            ("006UPLOAD00000001AAA", amount("12000")),
            ("006UPLOAD00000002AAA", amount("30500")),
            ("006UPLOAD00000003AAA", amount("8000")),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b))
        .collect()
    );
    assert_eq!(
        send(
            &f,
            Method::GET,
            "/api/quality/changes?field=nonsense",
            &root,
            None
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    // in scope: the new deals are ana's; bob sees none of these changes
    let mine = get(&f, "/api/quality/changes", &ana).await.body;
    assert_eq!(mine["total"], c["total"]);
    let theirs = get(&f, "/api/quality/changes", &bob).await.body;
    assert_eq!(theirs["total"], 0);
    assert!(theirs["by_field"].as_array().unwrap().is_empty());
    // and ana's open deals now hold them
    let open = ids(&get(&f, "/api/deals?as_of=2099-12-31&open=true", &ana).await);
    assert!(expected.is_subset(&open) && open.contains(&existing));
    // a second ingest of the same file lands nothing new
    let r = upload(&f, &root, &good).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let uri = format!("/api/jobs/{}", r.body["id"]);
    let job = loop {
        let j = get(&f, &uri, &root).await.body;
        if j["state"] != "running" {
            break j;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(job["state"], "done", "{job}");
    let again = get(&f, "/api/quality/changes", &root).await.body;
    assert_eq!(again["total"], 0, "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leads_are_scored_by_the_trained_lead_model_when_there_is_one() {
    use pipewise_score::dataset::{LoadOptions, load_csv, load_for_scoring};
    use pipewise_score::model::{Candidates, LeadModel, TrainOptions};
    let f = fixture().await;
    let (ana, cfo) = (login(&f, "ana").await, login(&f, "cfo").await);
    let uri = "/api/leads?as_of=2026-03-31&limit=1000000";
    let points = get(&f, uri, &cfo).await.body;
    assert!(
        points["scorer"].as_str().unwrap().contains("001"),
        "{}",
        points["scorer"]
    );
    // `pipewise leads rows`, then `pipewise leads train --name leads`, by the library
    let rows = pipewise_score::leads::lead_rows(
        &f.store,
        &SalesProcess::default_process(),
        pipewise_score::leads::LeadOutcome::Converted,
        90,
        None,
    )
    .unwrap();
    let file = f.store.root().join("lead-rows.csv");
    let mut w = csv::Writer::from_path(&file).unwrap();
    w.write_record(&rows.header).unwrap();
    for r in &rows.rows {
        w.write_record(r).unwrap();
    }
    w.flush().unwrap();
    let load = LoadOptions {
        target: rows.header.last().unwrap().clone(),
        id: Some("id".into()),
        ..LoadOptions::default()
    };
    let ds = load_csv(&file, &load).unwrap();
    let o = TrainOptions {
        candidates: Candidates::Logistic,
        ..TrainOptions::default()
    };
    let model = LeadModel::train(&ds, "lead-rows.csv", &load, &o, None).unwrap();
    model
        .save(&f.store.root().join("models/leads"), "leads")
        .unwrap();
    // the same model scoring the same rows from the file, as `pipewise leads score` does
    let mut score_load = model.load_options();
    score_load.target = String::new();
    let (sd, _) = load_for_scoring(&file, &score_load, &model.positive, &model.expected).unwrap();
    let want: std::collections::HashMap<String, f64> = model
        .score(&sd, 0)
        .into_iter()
        .map(|s| (s.id, s.probability * 100.0))
        .collect();
    assert_eq!(want.len(), rows.rows.len());
    // many asks at once (the warming thread's too): one scoring, one answer
    let many = futures_answers(&f, uri, &cfo, 8).await;
    assert!(many.windows(2).all(|w| w[0] == w[1]));
    // leads are the model's now, for every role, inside their scope
    for who in [&cfo, &ana] {
        let r = get(&f, uri, who).await.body;
        assert!(
            r["scorer"].as_str().unwrap().contains("\"leads\""),
            "{}",
            r["scorer"]
        );
        let leads = r["leads"].as_array().unwrap();
        assert!(!leads.is_empty());
        for l in leads {
            let id = l["id"].as_str().unwrap();
            let got = l["score"].as_f64().unwrap();
            assert!((got - want[id]).abs() < 1e-9, "{id}: {got} vs {}", want[id]);
            assert!(
                l["reasons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|x| x.as_str().unwrap().contains("points"))
            );
        }
        // the lift table ranks by the model's scores
        let d = r["deciles"].as_array().unwrap();
        let mins: Vec<f64> = d.iter().map(|x| x["min_score"].as_f64().unwrap()).collect();
        assert!(mins.windows(2).all(|w| w[0] >= w[1]), "{mins:?}");
    }
    // the points on request; a model that is not there is a 404
    let again = get(&f, &format!("{uri}&model=points"), &cfo).await.body;
    assert_eq!(again["leads"], points["leads"]);
    let r = send(&f, Method::GET, &format!("{uri}&model=nope"), &cfo, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = send(&f, Method::GET, &format!("{uri}&model=../x"), &cfo, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    // a model trained on other columns: a 400 by name; as the default, the
    // points, saying why
    let odd_file = f.store.root().join("odd.csv");
    let mut text = String::from("id,budget_signal,won\n");
    for i in 0..400 {
        text.push_str(&format!("r{i},{},{}\n", i % 17, u8::from(i % 3 == 0)));
    }
    std::fs::write(&odd_file, text).unwrap();
    let odd_load = LoadOptions {
        target: "won".into(),
        id: Some("id".into()),
        ..LoadOptions::default()
    };
    let odd_ds = load_csv(&odd_file, &odd_load).unwrap();
    let odd = LeadModel::train(&odd_ds, "odd.csv", &odd_load, &o, None).unwrap();
    odd.save(&f.store.root().join("models/odd"), "odd").unwrap();
    let r = send(&f, Method::GET, &format!("{uri}&model=odd"), &cfo, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("budget_signal"),
        "{}",
        r.text
    );
    odd.save(&f.store.root().join("models/leads"), "leads")
        .unwrap();
    let fallback = get(&f, uri, &cfo).await.body;
    let scorer = fallback["scorer"].as_str().unwrap();
    assert!(
        scorer.contains("001") && scorer.contains("does not fit"),
        "{scorer}"
    );
    assert_eq!(fallback["leads"], points["leads"]);
}

/// `n` concurrent GETs of `uri`: their bodies.
async fn futures_answers(f: &Fixture, uri: &str, who: &Auth, n: usize) -> Vec<String> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (app, who, uri) = (f.app.clone(), who.clone(), uri.to_string());
        tasks.spawn(async move {
            let r = send_raw(&app, Method::GET, &uri, &who, None).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            r.text
        });
    }
    let mut out = Vec::new();
    while let Some(r) = tasks.join_next().await {
        out.push(r.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completeness_counts_the_open_deals_and_opens_those_missing_a_field() {
    let f = fixture().await;
    let mgr = login(&f, "mgr").await;
    let day = "2026-03-31";
    let open = get(&f, &format!("/api/deals?as_of={day}&open=true"), &mgr)
        .await
        .body;
    let open = open.as_array().unwrap();
    let q = get(&f, &format!("/api/quality?as_of={day}"), &mgr)
        .await
        .body;
    let fields = q["completeness"].as_array().unwrap();
    assert!(!fields.is_empty());
    for c in fields {
        let field = c["field"].as_str().unwrap();
        assert_eq!(c["deals"].as_u64().unwrap() as usize, open.len(), "{field}");
        let missing = get(
            &f,
            &format!("/api/deals?as_of={day}&open=true&missing={field}"),
            &mgr,
        )
        .await
        .body;
        let missing = missing.as_array().unwrap();
        let gap = c["deals"].as_u64().unwrap() - c["filled"].as_u64().unwrap();
        assert_eq!(missing.len() as u64, gap, "{field}");
        // fields the deal rows carry: counted from the open deals directly
        if open.first().is_some_and(|d| d.get(field).is_some()) {
            let nulls = open.iter().filter(|d| d[field].is_null()).count();
            assert_eq!(nulls as u64, gap, "{field} counted from /api/deals");
            assert!(missing.iter().all(|d| d[field].is_null()));
        }
    }
    let r = send(
        &f,
        Method::GET,
        &format!("/api/deals?as_of={day}&missing=nonsense"),
        &mgr,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
}
