//! Personas: created, shared and changed as their owners say; versions kept; provider
//! keys sealed at rest and never shown.

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use agentops_sdk::secrets::MasterKey;
use agentops_testkit::{Backend, TestApp};

/// A provider key no answer, event or database byte may show in clear.
const CANARY: &str = "sk-canary-3f9a1c7e5b2d";
/// The secret part of the persona's Telegram bot token, looked for like [`CANARY`].
const BOT_SECRET: &str = "tgcanary-8e1d4b6f9a3c7e2d50";
const BOT_ID: &str = "555666777";

/// Whether `text` holds a secret in clear.
fn holds_secret(text: &str) -> bool {
    text.contains(CANARY) || text.contains(BOT_SECRET)
}

/// A request as `key` (the admin key when `None`) acting for `person`, if any.
async fn act(
    app: &TestApp,
    key: Option<&str>,
    person: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app
        .http
        .request(method, app.url(path))
        .bearer_auth(key.unwrap_or(&app.key));
    if let Some(person) = person {
        request = request.header("X-On-Behalf-Of", person);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// As `person`, through the admin key (an interface acting for them).
async fn as_person(
    app: &TestApp,
    person: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    act(app, None, Some(person), method, path, body).await
}

fn pirate() -> Value {
    json!({
        "name": "Captain Byte",
        "description": "Explains computers like a pirate.",
        "system_prompt": "You are Captain Byte, a cheerful pirate who explains computers.",
        "model": "llama-3.3-70b-instruct",
        "greeting": "Ahoy! What be yer question?",
        "visibility": "link",
        "daily_limit": 20,
        "provider_api_key": CANARY,
    })
}

async fn owners_create_share_change_and_delete_their_personas(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, made) = as_person(
        &app,
        "telegram:ana",
        Method::POST,
        "/api/v1/personas",
        Some(pirate()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["slug"], "captain-byte");
    assert_eq!(made["owner"], "telegram:ana");
    assert_eq!(made["version"], 1);
    assert_eq!(made["temperature"], 0.7);
    assert_eq!(made["visibility"], "link");
    assert_eq!(made["status"], "active");
    assert_eq!(made["daily_limit"], 20);
    assert_eq!(made["has_provider_key"], true);
    assert!(made.get("provider_api_key").is_none(), "{made}");
    assert!(
        made["system_prompt"]
            .as_str()
            .unwrap()
            .starts_with("You are Captain Byte")
    );
    let id = made["id"].as_str().unwrap().to_owned();

    // Anyone with the link (its slug, in any case) finds it, without its prompt.
    let (status, seen) = as_person(
        &app,
        "telegram:bob",
        Method::GET,
        "/api/v1/personas/Captain-BYTE",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["id"], id.as_str());
    assert!(seen["system_prompt"].is_null());
    assert_eq!(seen["greeting"], "Ahoy! What be yer question?");
    // A second persona of the same name gets its own slug.
    let mut twin = pirate();
    twin["visibility"] = json!("public");
    twin.as_object_mut().unwrap().remove("provider_api_key");
    let (status, second) = as_person(
        &app,
        "telegram:bob",
        Method::POST,
        "/api/v1/personas",
        Some(twin),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(second["slug"], "captain-byte-2");
    assert_eq!(second["has_provider_key"], false);

    // Lists: public ones and one's own; a link persona is never listed to others.
    let listed = |body: &Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["slug"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, bobs) = as_person(&app, "telegram:bob", Method::GET, "/api/v1/personas", None).await;
    assert_eq!(listed(&bobs), ["captain-byte-2"]);
    let (_, anas) = as_person(&app, "telegram:ana", Method::GET, "/api/v1/personas", None).await;
    assert_eq!(listed(&anas), ["captain-byte-2", "captain-byte"]);
    let (_, mine) = as_person(
        &app,
        "telegram:ana",
        Method::GET,
        "/api/v1/personas?owner=me",
        None,
    )
    .await;
    assert_eq!(listed(&mine), ["captain-byte"]);
    let (_, operator) = act(
        &app,
        None,
        None,
        Method::GET,
        "/api/v1/personas?visibility=link",
        None,
    )
    .await;
    assert_eq!(listed(&operator), ["captain-byte"]);

    // Only the owner changes it; a new prompt is a new version, the old one readable.
    let path = format!("/api/v1/personas/{id}");
    let (status, refused) = as_person(
        &app,
        "telegram:bob",
        Method::PATCH,
        &path,
        Some(json!({"name": "Mine now"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (status, changed) = as_person(&app, "telegram:ana", Method::PATCH, &path,
        Some(json!({"system_prompt": "You are Captain Byte, now a grumpy pirate.", "temperature": 1.1}))).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["version"], 2);
    assert_eq!(changed["temperature"], 1.1);
    let (_, renamed) = as_person(
        &app,
        "telegram:ana",
        Method::PATCH,
        &path,
        Some(json!({"name": "Captain Bit"})),
    )
    .await;
    assert_eq!(
        (renamed["version"].clone(), renamed["name"].clone()),
        (json!(2), json!("Captain Bit"))
    );
    let (_, versions) = as_person(
        &app,
        "telegram:ana",
        Method::GET,
        &format!("{path}/versions"),
        None,
    )
    .await;
    let prompts: Vec<&str> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["system_prompt"].as_str().unwrap())
        .collect();
    assert_eq!(
        prompts,
        [
            "You are Captain Byte, now a grumpy pirate.",
            "You are Captain Byte, a cheerful pirate who explains computers."
        ]
    );
    let (_, first) = as_person(
        &app,
        "telegram:bob",
        Method::GET,
        &format!("{path}/versions/1"),
        None,
    )
    .await;
    assert_eq!(first["version"], 1);
    assert!(
        first["system_prompt"].is_null(),
        "others never see a prompt"
    );

    // A private persona is not found by others.
    let (_, private) = as_person(
        &app,
        "telegram:ana",
        Method::POST,
        "/api/v1/personas",
        Some(json!({"name": "Diary", "system_prompt": "You keep my diary.", "model": "m"})),
    )
    .await;
    assert_eq!(private["visibility"], "private");
    let (status, body) = as_person(
        &app,
        "telegram:bob",
        Method::GET,
        "/api/v1/personas/diary",
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("persona_not_found"))
    );

    // Deleting: only the owner; the persona stays for them, marked, its key dropped.
    let (status, _) = as_person(&app, "telegram:bob", Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = as_person(&app, "telegram:ana", Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, gone) = as_person(&app, "telegram:ana", Method::GET, &path, None).await;
    assert_eq!(
        (gone["status"].clone(), gone["has_provider_key"].clone()),
        (json!("deleted"), json!(false))
    );
    let (status, _) = as_person(&app, "telegram:bob", Method::GET, &path, None).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a deleted persona is gone for others"
    );
    let (status, body) = as_person(
        &app,
        "telegram:ana",
        Method::PATCH,
        &path,
        Some(json!({"name": "Back"})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::GONE, Some("persona_deleted"))
    );
    let (status, _) = as_person(
        &app,
        "telegram:ana",
        Method::DELETE,
        &format!("{path}?purge=true"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = as_person(&app, "telegram:ana", Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "purged");

    // Events tell of each change, without prompts or keys.
    let kinds: Vec<(String, Value)> = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.kind.starts_with("persona."))
        .map(|e| (e.kind, e.data))
        .collect();
    let names: Vec<&str> = kinds.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "persona.created",
            "persona.created",
            "persona.updated",
            "persona.updated",
            "persona.created",
            "persona.deleted",
            "persona.deleted"
        ]
    );
    for (_, data) in &kinds {
        let text = data.to_string();
        assert!(
            !text.contains("system_prompt") && !holds_secret(&text) && !text.contains("pirate who"),
            "{text}"
        );
    }
}

async fn provider_keys_are_sealed_at_rest_and_never_shown(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, made) = as_person(
        &app,
        "web:ana",
        Method::POST,
        "/api/v1/personas",
        Some({
            let mut pirate = pirate();
            pirate["telegram_bot_token"] = json!(format!("{BOT_ID}:{BOT_SECRET}"));
            pirate
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let id: uuid::Uuid = made["id"].as_str().unwrap().parse().unwrap();
    for body in [
        &made,
        &as_person(
            &app,
            "web:ana",
            Method::GET,
            &format!("/api/v1/personas/{id}"),
            None,
        )
        .await
        .1,
    ] {
        assert!(!holds_secret(&body.to_string()), "{body}");
        assert_eq!(body["telegram_bot_id"], 555_666_777);
    }

    // What the database holds is sealed under the platform's master key, for this record.
    let db = &app.state.db;
    let backend_kind = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend_kind,
            "SELECT provider_key_sealed FROM personas",
        ))
        .await
        .unwrap()
        .unwrap();
    let sealed: String = row.try_get("", "provider_key_sealed").unwrap();
    assert!(
        sealed.starts_with("v1.") && !sealed.contains(CANARY),
        "{sealed}"
    );
    let master = MasterKey::parse(agentops_testkit::server::SECRET_KEY).unwrap();
    assert_eq!(
        master
            .open(&sealed, &format!("persona:{id}:provider_api_key"))
            .unwrap(),
        CANARY
    );

    // No byte of the database has the key in clear: every column of every table, and
    // for SQLite the files themselves (with the write-ahead log).
    match backend {
        Backend::Postgres => {
            let tables = db
                .query_all_raw(Statement::from_string(
                    backend_kind,
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
                ))
                .await
                .unwrap();
            for table in tables {
                let name: String = table.try_get("", "tablename").unwrap();
                let found = db
                    .query_one_raw(Statement::from_string(
                        backend_kind,
                        format!(
                            "SELECT count(*) AS n FROM \"{name}\" t \
                             WHERE t::text LIKE '%{CANARY}%' OR t::text LIKE '%{BOT_SECRET}%'"
                        ),
                    ))
                    .await
                    .unwrap()
                    .unwrap();
                let n: i64 = found.try_get("", "n").unwrap();
                assert_eq!(n, 0, "table {name} holds the key in clear");
            }
        }
        Backend::Sqlite => {
            db.execute_unprepared("PRAGMA wal_checkpoint(FULL)")
                .await
                .unwrap();
            let url = app.state.cfg.effective_database_url();
            let path = url
                .trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:");
            let path = path.split('?').next().unwrap();
            let mut files = 0;
            for file in [path.to_owned(), format!("{path}-wal")] {
                if let Ok(bytes) = std::fs::read(&file) {
                    files += 1;
                    for secret in [CANARY, BOT_SECRET] {
                        assert!(
                            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                            "{file} holds a secret in clear"
                        );
                    }
                }
            }
            assert!(files >= 1, "the database file {path} was read");
        }
    }

    // Rotating the master key seals every key again under the new one.
    let new = MasterKey::generate();
    let resealed = agentops_api::domain::personas::reseal(db, &master, &new)
        .await
        .unwrap();
    assert_eq!(resealed, 1);
    let row = db
        .query_one_raw(Statement::from_string(
            backend_kind,
            "SELECT provider_key_sealed FROM personas",
        ))
        .await
        .unwrap()
        .unwrap();
    let sealed: String = row.try_get("", "provider_key_sealed").unwrap();
    assert_eq!(agentops_sdk::secrets::sealed_with(&sealed), Some(new.id()));
    assert_eq!(
        new.open(&sealed, &format!("persona:{id}:provider_api_key"))
            .unwrap(),
        CANARY
    );
    let row = db
        .query_one_raw(Statement::from_string(
            backend_kind,
            "SELECT telegram_token_sealed FROM personas",
        ))
        .await
        .unwrap()
        .unwrap();
    let sealed: String = row.try_get("", "telegram_token_sealed").unwrap();
    assert_eq!(
        new.open(&sealed, &format!("persona:{id}:telegram_bot_token"))
            .unwrap(),
        format!("{BOT_ID}:{BOT_SECRET}")
    );
    assert_eq!(
        agentops_api::domain::personas::reseal(db, &master, &new)
            .await
            .unwrap(),
        0,
        "done once"
    );
    // A re-seal writes only if the sealed secrets are still what it read: one that read
    // them before the owner added the bot token (the provider key as it is, no token)
    // writes nothing.
    let persona: uuid::Uuid = id.to_string().parse().unwrap();
    let provider: String = db
        .query_one_raw(Statement::from_string(
            backend_kind,
            "SELECT provider_key_sealed FROM personas",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "provider_key_sealed")
        .unwrap();
    let swapped = agentops_api::store::personas::swap_sealed(
        db,
        persona,
        (Some(provider.as_str()), None),
        (Some("overwritten".to_owned()), None),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert!(!swapped, "a stale re-seal wrote");
    assert_eq!(
        agentops_api::domain::personas::reseal(db, &new, &MasterKey::generate())
            .await
            .unwrap(),
        1,
        "the persona's secrets were left as they were, so a rotation still finds them"
    );
}

async fn who_may_act_and_bad_personas_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.create_key("agent").await;
    let viewer = app.create_key("viewer").await;
    let body = json!({"name": "Helper", "system_prompt": "Help.", "model": "m"});
    // A non-admin key acts as itself, and may not act for anyone else.
    let (status, made) = act(
        &app,
        Some(&agent),
        None,
        Method::POST,
        "/api/v1/personas",
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert!(made["owner"].as_str().unwrap().starts_with("key:"));
    let (status, _) = act(
        &app,
        Some(&agent),
        Some("telegram:ana"),
        Method::POST,
        "/api/v1/personas",
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = act(
        &app,
        Some(&viewer),
        None,
        Method::POST,
        "/api/v1/personas",
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A person names no other owner.
    let mut other = body.clone();
    other["owner"] = json!("telegram:bob");
    let (status, _) = as_person(
        &app,
        "telegram:ana",
        Method::POST,
        "/api/v1/personas",
        Some(other.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The operator may.
    let (status, theirs) = act(
        &app,
        None,
        None,
        Method::POST,
        "/api/v1/personas",
        Some(other),
    )
    .await;
    assert_eq!(
        (status, theirs["owner"].as_str()),
        (StatusCode::CREATED, Some("telegram:bob"))
    );

    let mut slugged = body.clone();
    slugged["slug"] = json!("My_Helper-1");
    let (status, _) = as_person(
        &app,
        "telegram:ana",
        Method::POST,
        "/api/v1/personas",
        Some(slugged.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    slugged["slug"] = json!("my_helper-1");
    let (status, taken) = as_person(
        &app,
        "telegram:ana",
        Method::POST,
        "/api/v1/personas",
        Some(slugged),
    )
    .await;
    assert_eq!(
        (status, taken["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_exists"))
    );

    for (bad, field) in [
        (json!({"slug": "no spaces"}), "slug"),
        (json!({"slug": "x".repeat(65)}), "slug"),
        (json!({"temperature": 2.5}), "temperature"),
        (json!({"system_prompt": "  "}), "system_prompt"),
        (json!({"daily_limit": 0}), "daily_limit"),
        (json!({"name": ""}), "name"),
        (json!({"greeting": "x".repeat(1_001)}), "greeting"),
    ] {
        let mut input = body.clone();
        for (k, v) in bad.as_object().unwrap() {
            input[k] = v.clone();
        }
        let (status, answer) = as_person(
            &app,
            "telegram:ana",
            Method::POST,
            "/api/v1/personas",
            Some(input),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["error"]["details"][0]["field"], field, "{answer}");
    }
    let (status, _) = as_person(
        &app,
        "telegram:ana",
        Method::POST,
        "/api/v1/personas",
        Some(json!({"name": "x", "system_prompt": "y", "model": "m", "colour": "red"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = as_person(
        &app,
        &"x".repeat(201),
        Method::GET,
        "/api/v1/personas",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = as_person(
        &app,
        "telegram:ana",
        Method::GET,
        "/api/v1/personas/nope/versions/x",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn without_a_master_key_a_provider_key_is_refused(backend: Backend) {
    if backend == Backend::Sqlite {
        // An embedded platform makes its own key (`<data dir>/secret.key`).
        let app = TestApp::spawn_with(backend, |cfg| cfg.secret_key = None).await;
        let (status, made) = as_person(
            &app,
            "web:ana",
            Method::POST,
            "/api/v1/personas",
            Some(pirate()),
        )
        .await;
        assert_eq!(
            (status, made["has_provider_key"].clone()),
            (StatusCode::CREATED, json!(true))
        );
        let saved = std::fs::read_to_string(app.state.cfg.data_dir.join("secret.key")).unwrap();
        assert!(MasterKey::parse(&saved).is_ok());
        return;
    }
    let app = TestApp::spawn_with(backend, |cfg| cfg.secret_key = None).await;
    let (status, refused) = as_person(
        &app,
        "web:ana",
        Method::POST,
        "/api/v1/personas",
        Some(pirate()),
    )
    .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("secrets_unavailable"))
    );
    let mut keyless = pirate();
    keyless.as_object_mut().unwrap().remove("provider_api_key");
    let (status, _) = as_person(
        &app,
        "web:ana",
        Method::POST,
        "/api/v1/personas",
        Some(keyless),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

/// The owner reads who talked to their persona and what was said (to export it), a
/// deleted persona's too; nobody else does, and a thread of another persona is not
/// reachable through this one.
async fn owners_read_their_personas_conversations(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut body = pirate();
    body.as_object_mut().unwrap().remove("provider_api_key");
    let (status, made) = as_person(
        &app,
        "web:ana",
        Method::POST,
        "/api/v1/personas",
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let slug = made["slug"].as_str().unwrap().to_owned();
    let (status, other) = as_person(
        &app,
        "web:ana",
        Method::POST,
        "/api/v1/personas",
        Some(json!({"name": "Other", "system_prompt": "x", "model": "m", "visibility": "public"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    let mut threads = Vec::new();
    for (person, text) in [
        ("telegram:7", "ahoy"),
        ("telegram:8", "what is RAM?"),
        ("telegram:7", "again"),
    ] {
        let (status, chat) = as_person(
            &app,
            person,
            Method::POST,
            &format!("/api/v1/personas/{slug}/chat?wait=0"),
            Some(json!({"text": text})),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{chat}");
        threads.push(chat["thread_id"].as_str().unwrap().to_owned());
    }
    let (_, elsewhere) = as_person(
        &app,
        "telegram:7",
        Method::POST,
        &format!(
            "/api/v1/personas/{}/chat?wait=0",
            other["slug"].as_str().unwrap()
        ),
        Some(json!({"text": "hi"})),
    )
    .await;
    let elsewhere = elsewhere["thread_id"].as_str().unwrap().to_owned();

    let path = format!("/api/v1/personas/{slug}/conversations");
    let (status, listed) = as_person(&app, "web:ana", Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{listed}");
    // Newest first: Cy's conversation began after Bo's.
    assert_eq!(items[0]["person"], "telegram:8");
    assert_eq!(items[0]["thread_id"], threads[1].as_str());
    assert_eq!(items[1]["person"], "telegram:7");
    // The greeting and the person's messages.
    assert_eq!(items[0]["messages"], 2, "{listed}");
    assert_eq!(items[1]["messages"], 3, "{listed}");
    assert!(
        items[1]["last_message_at"].as_str().unwrap() >= items[1]["started_at"].as_str().unwrap()
    );
    let (status, first) = as_person(
        &app,
        "web:ana",
        Method::GET,
        &format!("{path}?limit=1"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, second) = as_person(
        &app,
        "web:ana",
        Method::GET,
        &format!(
            "{path}?limit=1&cursor={}",
            first["next_cursor"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(second["items"][0]["person"], "telegram:7", "{second}");

    let (status, said) = as_person(
        &app,
        "web:ana",
        Method::GET,
        &format!("{path}/{}", threads[0]),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{said}");
    let texts: Vec<&str> = said["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["again", "ahoy", "Ahoy! What be yer question?"]);
    // The operator may read it too.
    let (status, _) = app.get(&format!("{path}/{}", threads[0])).await;
    assert_eq!(status, StatusCode::OK);

    // Not through another persona, not a thread id, not for someone else.
    let (status, refused) = as_person(
        &app,
        "web:ana",
        Method::GET,
        &format!("{path}/{elsewhere}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{refused}");
    assert_eq!(refused["error"]["code"], "thread_not_found");
    let (status, refused) =
        as_person(&app, "web:ana", Method::GET, &format!("{path}/nope"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    for who in ["telegram:7", "telegram:9"] {
        for route in [path.clone(), format!("{path}/{}", threads[0])] {
            let (status, refused) = as_person(&app, who, Method::GET, &route, None).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{who} {route}: {refused}");
            assert!(!refused.to_string().contains("ahoy"));
        }
    }

    // Deleted, the history stays for its owner.
    let (status, _) = as_person(
        &app,
        "web:ana",
        Method::DELETE,
        &format!("/api/v1/personas/{slug}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, listed) = as_person(&app, "web:ana", Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    let (status, _) = as_person(&app, "telegram:7", Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The operator's models are listed to everyone, and a persona naming another is
/// refused; without a list any name is taken.
async fn personas_think_with_the_models_the_operator_lists(backend: Backend) {
    let open = TestApp::spawn(backend).await;
    assert_eq!(open.get_ok("/api/v1/models").await, json!({"models": []}));
    let app = TestApp::spawn_with(backend, |cfg| {
        cfg.persona_models = vec!["llama-a".into(), " mistral-b".into(), String::new()];
    })
    .await;
    let viewer = app.create_key("viewer").await;
    let (status, listed) = act(
        &app,
        Some(&viewer),
        None,
        Method::GET,
        "/api/v1/models",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed, json!({"models": ["llama-a", "mistral-b"]}));
    let persona =
        |model: &str| json!({"name": "Sage", "system_prompt": "Be calm.", "model": model});
    let (status, refused) = as_person(
        &app,
        "web:ana",
        Method::POST,
        "/api/v1/personas",
        Some(persona("gpt-9")),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["details"][0]["field"], "model");
    assert!(
        refused["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("llama-a, mistral-b")
    );
    let (status, made) = as_person(
        &app,
        "web:ana",
        Method::POST,
        "/api/v1/personas",
        Some(persona("mistral-b")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let path = format!("/api/v1/personas/{}", made["slug"].as_str().unwrap());
    let (status, refused) = as_person(
        &app,
        "web:ana",
        Method::PATCH,
        &path,
        Some(json!({"model": "gpt-9"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, changed) = as_person(
        &app,
        "web:ana",
        Method::PATCH,
        &path,
        Some(json!({"model": "llama-a"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["model"], "llama-a");
    let (status, _) = act(
        &app,
        Some("nope"),
        None,
        Method::GET,
        "/api/v1/models",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

crate::on_both_backends!(
    personas_think_with_the_models_the_operator_lists,
    owners_read_their_personas_conversations,
    owners_create_share_change_and_delete_their_personas,
    provider_keys_are_sealed_at_rest_and_never_shown,
    who_may_act_and_bad_personas_are_refused,
    without_a_master_key_a_provider_key_is_refused,
);
