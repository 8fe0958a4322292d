//! Another authd as the upstream OpenID Connect provider.

use reqwest::StatusCode;

use super::{Federated, path_of, through_upstream, upstream_answer};
use crate::{
    browser::Browser,
    code_flow::{
        answer_after, authorize_path, follow, pkce, public_client, redeem, request, visit,
    },
    tokens::claims_of,
};

#[tokio::test]
async fn a_first_login_creates_the_user_and_the_next_finds_them_by_the_upstream_subject() {
    let federated = Federated::start(&[]).await;
    let password = federated.upstream_user("alice", "alice@corp.example").await;
    let mut up = Browser::new(&federated.upstream);
    let mut down = Browser::new(&federated.down);

    let login = down.get("/ui/login").await;
    assert!(
        login
            .body
            .contains(r#"href="/ui/login/upstream/corp">Log in with Corp</a>"#),
        "{}",
        login.body
    );
    let answer = through_upstream(
        &federated,
        &mut down,
        &mut up,
        "/ui/login/upstream/corp",
        ("alice", &password),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(answer.location(), "/ui/profile");
    let profile = down.get("/ui/profile").await;
    assert_eq!(profile.status, StatusCode::OK);
    assert!(profile.body.contains("alice"), "{}", profile.body);
    let sub = claims_of(&down.access_token())["sub"]
        .as_str()
        .unwrap()
        .to_owned();

    // The identity is the pair (upstream, the upstream's subject).
    let upstream_sub = federated
        .upstream
        .db()
        .await
        .query_one("SELECT id FROM users WHERE username = 'alice'", &[])
        .await
        .unwrap()
        .get::<_, uuid::Uuid>(0)
        .to_string();
    let row = federated
        .down
        .db()
        .await
        .query_one(
            "SELECT user_id, users.email, password_hash IS NULL AS no_password
             FROM federated_identities JOIN users ON users.id = user_id
             WHERE upstream_id = 'corp' AND subject = $1",
            &[&upstream_sub],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, uuid::Uuid>("user_id").to_string(), sub);
    assert_eq!(row.get::<_, String>("email"), "alice@corp.example");
    assert!(row.get::<_, bool>("no_password"), "no password is stored");
    let created: String = federated
        .down
        .db()
        .await
        .query_one(
            "SELECT detail->>'upstream' FROM audit_events
             WHERE event_type = 'user.created' AND user_id = $1::text::uuid",
            &[&sub],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(created, "corp");

    // Another browser, another login: the same user, not a second one.
    let mut again = Browser::new(&federated.down);
    let answer = through_upstream(
        &federated,
        &mut again,
        &mut up,
        "/ui/login/upstream/corp",
        ("alice", &password),
    )
    .await;
    assert_eq!(answer.location(), "/ui/profile", "{}", answer.body);
    assert_eq!(claims_of(&again.access_token())["sub"], sub.as_str());
    let users: i64 = federated
        .down
        .db()
        .await
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(users, 1);
}

#[tokio::test]
async fn a_relying_party_gets_an_id_token_that_names_the_upstream_login() {
    let federated = Federated::start(&[]).await;
    let password = federated.upstream_user("dana", "dana@corp.example").await;
    let client_id = public_client(&federated.down, "openid profile");
    let (verifier, challenge) = pkce();
    let mut up = Browser::new(&federated.upstream);
    let mut down = Browser::new(&federated.down);

    // RP → authd → its login page, which offers the upstream for this request.
    let login = visit(
        &mut down,
        &authorize_path(&request(&client_id, &challenge, "openid profile")),
    )
    .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let authorization = login.input("authorization");
    let start = format!("/ui/login/upstream/corp?authorization={authorization}");
    assert!(
        login.body.contains(&start.replace('&', "&amp;")),
        "{}",
        login.body
    );

    // → upstream → authd (the other replica) → on with the authorization request → RP.
    let back = through_upstream(&federated, &mut down, &mut up, &start, ("dana", &password)).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    let answer = answer_after(&mut down, back).await;
    let tokens: serde_json::Value = redeem(&federated.down, &client_id, &answer["code"], &verifier)
        .await
        .json()
        .await
        .unwrap();
    let id_token = claims_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["amr"], serde_json::json!(["fed"]));
    assert_eq!(id_token["idp"], "corp");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let auth_time = id_token["auth_time"].as_i64().unwrap();
    assert!(
        (now - 60..=now).contains(&auth_time),
        "authd's own auth_time"
    );
}

#[tokio::test]
async fn an_upstream_asserting_a_local_users_address_does_not_sign_in_as_them_unless_trusted() {
    let federated = Federated::start(&[]).await;
    // A local account, and someone at the upstream claiming its address.
    federated.down.register("carol").await;
    let password = federated
        .upstream_user("mallory", "carol@example.com")
        .await;
    let mut up = Browser::new(&federated.upstream);
    let mut down = Browser::new(&federated.down);
    let refused = through_upstream(
        &federated,
        &mut down,
        &mut up,
        "/ui/login/upstream/corp",
        ("mallory", &password),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(refused.body.contains("exists already"), "{}", refused.body);
    assert!(!down.cookies.contains_key("authd_session"), "not signed in");

    // Trusted for addresses, but the address is not verified there: still refused.
    federated
        .upstreams(&["update", "corp", "--trust-email", "true"], &[])
        .await;
    let refused = through_upstream(
        &federated,
        &mut down,
        &mut up,
        "/ui/login/upstream/corp",
        ("mallory", &password),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

    // Verified at a trusted upstream: the identity is linked to the local account.
    let verified = tokio::process::Command::new(env!("CARGO_BIN_EXE_authd"))
        .env_clear()
        .args(["users", "verify-email", "mallory"])
        .env("DATABASE_URL", federated.upstream.resources.database_url())
        .env("REDIS_URL", crate::helpers::redis_url())
        .env(
            "AUTHD_REDIS_PREFIX",
            &federated.upstream.resources.redis_prefix,
        )
        .output()
        .await
        .unwrap();
    assert!(verified.status.success(), "{verified:?}");
    let linked = through_upstream(
        &federated,
        &mut down,
        &mut up,
        "/ui/login/upstream/corp",
        ("mallory", &password),
    )
    .await;
    assert_eq!(linked.location(), "/ui/profile", "{}", linked.body);
    let carol: uuid::Uuid = federated
        .down
        .db()
        .await
        .query_one("SELECT id FROM users WHERE username = 'carol'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(claims_of(&down.access_token())["sub"], carol.to_string());
}

#[tokio::test]
async fn a_login_cancelled_upstream_or_finished_in_another_browser_signs_nobody_in() {
    let federated = Federated::start(&[]).await;
    let password = federated.upstream_user("erin", "erin@corp.example").await;
    let mut up = Browser::new(&federated.upstream);
    let mut down = Browser::new(&federated.down);

    // Denied at the upstream's consent page.
    let leaving = down.get("/ui/login/upstream/corp").await;
    let mut page = visit(&mut up, &path_of(leaving.location())).await;
    let csrf = page.input("csrf");
    let authorization = page.input("authorization");
    let logged_in = up
        .post_raw(
            "/ui/login",
            &[
                ("csrf", &csrf),
                ("authorization", &authorization),
                ("username", "erin"),
                ("password", &password),
            ],
        )
        .await;
    page = follow(&mut up, logged_in).await;
    let denied = crate::code_flow::answer_consent(&mut up, &page, "deny").await;
    let cancelled = down.get(&path_of(denied.location())).await;
    assert_eq!(
        cancelled.status,
        StatusCode::BAD_REQUEST,
        "{}",
        cancelled.body
    );
    assert!(
        cancelled.body.contains("was cancelled"),
        "{}",
        cancelled.body
    );
    assert!(!down.cookies.contains_key("authd_session"));

    // A response planted in another browser (login CSRF): its state is not that browser's.
    let leaving = down.get("/ui/login/upstream/corp").await;
    let back = upstream_answer(&mut up, &path_of(leaving.location()), ("erin", &password)).await;
    let mut victim = Browser::new(&federated.down);
    let planted = victim.get(&path_of(&back)).await;
    assert_eq!(planted.status, StatusCode::BAD_REQUEST, "{}", planted.body);
    assert!(!victim.cookies.contains_key("authd_session"));
    // And the state cannot be used twice, even by the browser that started it.
    let first = down.get(&path_of(&back)).await;
    assert_eq!(first.location(), "/ui/profile", "{}", first.body);
}

#[tokio::test]
async fn a_signed_in_user_links_and_unlinks_an_upstream_identity_after_reauthenticating() {
    let federated = Federated::start(&[]).await;
    let corp_password = federated
        .upstream_user("frank.corp", "frank@corp.example")
        .await;
    let mut up = Browser::new(&federated.upstream);
    let mut down = Browser::new(&federated.down);
    let password = down.signed_in_as("frank").await;
    let frank = claims_of(&down.access_token())["sub"]
        .as_str()
        .unwrap()
        .to_owned();

    let profile = down.get("/ui/profile").await;
    assert!(profile.body.contains("Link Corp"), "{}", profile.body);
    let csp = profile.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains(&format!(
            "form-action 'self' {}",
            federated.upstream.address
        )),
        "the link form may go on to the upstream: {csp}"
    );

    // Not without the password.
    let refused = down
        .submit(
            "/ui/profile",
            "/ui/profile/identities/corp/link",
            &[("password", "not the password")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);

    let csrf = down.get("/ui/profile").await.input("csrf");
    let leaving = down
        .post_raw(
            "/ui/profile/identities/corp/link",
            &[("csrf", &csrf), ("password", &password)],
        )
        .await;
    assert_eq!(leaving.status, StatusCode::SEE_OTHER, "{}", leaving.body);
    let back = upstream_answer(
        &mut up,
        &path_of(leaving.location()),
        ("frank.corp", &corp_password),
    )
    .await;
    let linked = down.get(&path_of(&back)).await;
    assert_eq!(
        linked.location(),
        "/ui/profile?notice=identity-linked",
        "{}",
        linked.body
    );
    let profile = down.get("/ui/profile").await;
    assert!(
        profile.body.contains("linked as frank.corp"),
        "{}",
        profile.body
    );

    // Logging in with Corp is now logging in as frank.
    let mut elsewhere = Browser::new(&federated.down);
    let answer = through_upstream(
        &federated,
        &mut elsewhere,
        &mut up,
        "/ui/login/upstream/corp",
        ("frank.corp", &corp_password),
    )
    .await;
    assert_eq!(answer.location(), "/ui/profile", "{}", answer.body);
    assert_eq!(claims_of(&elsewhere.access_token())["sub"], frank.as_str());

    // Another account cannot take the same identity.
    let mut gina = Browser::new(&federated.down);
    let gina_password = gina.signed_in_as("gina").await;
    let csrf = gina.get("/ui/profile").await.input("csrf");
    let leaving = gina
        .post_raw(
            "/ui/profile/identities/corp/link",
            &[("csrf", &csrf), ("password", &gina_password)],
        )
        .await;
    let back = upstream_answer(
        &mut up,
        &path_of(leaving.location()),
        ("frank.corp", &corp_password),
    )
    .await;
    let taken = gina.get(&path_of(&back)).await;
    assert_eq!(taken.status, StatusCode::FORBIDDEN, "{}", taken.body);
    assert!(
        taken.body.contains("linked to another account"),
        "{}",
        taken.body
    );

    // Unlinked, the identity opens frank's account no more.
    let unlinked = down
        .submit(
            "/ui/profile",
            "/ui/profile/identities/corp/unlink",
            &[("password", &password)],
        )
        .await;
    assert_eq!(
        unlinked.location(),
        "/ui/profile?notice=identity-unlinked",
        "{}",
        unlinked.body
    );
    let mut later = Browser::new(&federated.down);
    through_upstream(
        &federated,
        &mut later,
        &mut up,
        "/ui/login/upstream/corp",
        ("frank.corp", &corp_password),
    )
    .await;
    assert_ne!(claims_of(&later.access_token())["sub"], frank.as_str());

    // Each link and unlink is in the audit trail, with who did it.
    let events: Vec<(String, String, String)> = federated
        .down
        .db()
        .await
        .query(
            "SELECT event_type, actor, detail->>'by' FROM audit_events
             WHERE event_type LIKE 'identity.%' AND user_id = $1::text::uuid ORDER BY id",
            &[&frank],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| {
            (
                row.get(0),
                row.get(1),
                row.get::<_, Option<String>>(2).unwrap_or_default(),
            )
        })
        .collect();
    let actor = format!("user:{frank}");
    assert_eq!(
        events,
        [
            (
                "identity.linked".to_owned(),
                actor.clone(),
                "user".to_owned()
            ),
            ("identity.unlinked".to_owned(), actor, String::new()),
        ]
    );
}
