//! What a person with a directory account sees at login, and what an operator sees in the
//! database and on the command line.

use authd::ldap::{Ldap, LdapSecurity, Target, Verdict};
use serde_json::{Value, json};

use super::{ALICE_PASSWORD, BOB_PASSWORD, Slapd, authd_ldap};
use crate::{
    clients::claims_of,
    helpers::{AppOptions, TestApp, spawn_app_with},
};

async fn app_on(slapd: &Slapd, security: LdapSecurity) -> TestApp {
    spawn_app_with(AppOptions {
        ldap: Some(slapd.settings(security)),
        ..AppOptions::default()
    })
    .await
}

/// The password grant for `username`, asking for the `groups` claim.
async fn password_grant(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
            ("scope", "groups"),
        ])
        .send()
        .await
        .unwrap()
}

/// The claims of the access token a successful login gets.
pub(super) async fn logged_in(app: &TestApp, username: &str, password: &str) -> Value {
    let response = password_grant(app, username, password).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{username}: {body}");
    claims_of(body["access_token"].as_str().unwrap())
}

/// How many accounts are directory-backed.
async fn directory_accounts(app: &TestApp) -> i64 {
    app.db()
        .await
        .query_one("SELECT count(*) FROM ldap_accounts", &[])
        .await
        .unwrap()
        .get(0)
}

/// A refused login's status and body.
pub(super) async fn refused(app: &TestApp, username: &str, password: &str) -> (u16, Value) {
    let response = password_grant(app, username, password).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_directory_user_is_provisioned_at_the_first_login_with_groups_and_no_password_hash() {
    let slapd = Slapd::start().await;
    let app = app_on(&slapd, LdapSecurity::Tls).await;

    let claims = logged_in(&app, "alice", ALICE_PASSWORD).await;
    assert_eq!(claims["groups"], json!(["engineering", "staff"]));
    let again = logged_in(&app, "ALICE", ALICE_PASSWORD).await;
    assert_eq!(
        again["sub"], claims["sub"],
        "the second login is the same account"
    );

    let db = app.db().await;
    let row = db
        .query_one(
            "SELECT u.username, u.email, u.password_hash, u.email_verified_at IS NOT NULL AS \
             verified, a.entry_id, a.dn, a.groups
             FROM users u JOIN ldap_accounts a ON a.user_id = u.id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>("username"), "alice");
    assert_eq!(row.get::<_, String>("email"), "alice@example.org");
    assert_eq!(
        row.get::<_, Option<String>>("password_hash"),
        None,
        "the directory's password is never stored"
    );
    assert!(
        !row.get::<_, bool>("verified"),
        "AUTHD_LDAP_TRUST_EMAIL is off"
    );
    assert_eq!(
        row.get::<_, String>("dn"),
        "uid=alice,ou=people,dc=example,dc=org"
    );
    assert_eq!(row.get::<_, String>("entry_id").len(), 36, "entryUUID");
    assert_eq!(
        row.get::<_, Vec<String>>("groups"),
        ["engineering", "staff"]
    );
    let created: i64 = db
        .query_one(
            "SELECT count(*) FROM audit_events WHERE event_type = 'user.created' \
             AND detail->>'ldap' = 'true'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(created, 1);
}

#[tokio::test]
async fn wrong_passwords_and_unknown_names_get_one_answer_and_filters_cannot_be_injected() {
    let slapd = Slapd::start().await;
    let app = app_on(&slapd, LdapSecurity::StartTls).await;
    // Alice's account exists here after this; her wrong password is then a known account's.
    logged_in(&app, "alice", ALICE_PASSWORD).await;

    let wrong = refused(&app, "alice", "not alice's passphrase").await;
    assert_eq!(wrong.0, 400);
    assert_eq!(wrong.1["error"], "invalid_grant");
    for (username, password) in [
        ("nobody", "any passphrase at all"),
        // A directory entry that has no account here yet, with a wrong password.
        ("bob", "not bob's passphrase"),
        // Filter characters are escaped: `*` matches no one, and no clause can be added.
        ("*", ALICE_PASSWORD),
        ("alice)(uid=*", ALICE_PASSWORD),
        ("al*", ALICE_PASSWORD),
    ] {
        let answer = refused(&app, username, password).await;
        assert_eq!(answer, wrong, "{username:?} / {password:?}");
    }
    assert_eq!(
        directory_accounts(&app).await,
        1,
        "only alice's login made an account"
    );

    // An empty password, which the token endpoint refuses first, would be an unauthenticated
    // bind, which some directories accept (RFC 4513 §5.1.2): the directory client refuses it
    // before sending anything.
    let (status, _) = refused(&app, "alice", "").await;
    assert_eq!(status, 400);
    let ldap = Ldap::new(slapd.settings(LdapSecurity::StartTls));
    assert!(matches!(
        ldap.verify(Target::Name("alice"), "").await.unwrap(),
        Verdict::Refused
    ));
    assert!(matches!(
        ldap.verify(Target::Name("alice"), ALICE_PASSWORD)
            .await
            .unwrap(),
        Verdict::Verified(_)
    ));
}

#[tokio::test]
async fn local_accounts_keep_their_passwords_and_addresses_and_the_directory_cannot_open_them() {
    let slapd = Slapd::start().await;
    let app = app_on(&slapd, LdapSecurity::Tls).await;
    // A local bob, and a directory bob with another password and address.
    let local_password = app.register("bob").await;

    let claims = logged_in(&app, "bob", &local_password).await;
    let (status, body) = refused(&app, "bob", BOB_PASSWORD).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(directory_accounts(&app).await, 0);
    assert!(claims["sub"].is_string());

    // A local account with alice's directory address: alice's entry gets no account, and does
    // not sign in as that one. She is told why (she proved her password).
    let registered = app
        .post_json(
            "/register",
            json!({"username": "alice-local", "email": "alice@example.org"}),
        )
        .await;
    assert_eq!(registered.status(), 201);
    let (status, body) = refused(&app, "alice", ALICE_PASSWORD).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already has your address"),
        "{body}"
    );
    assert_eq!(directory_accounts(&app).await, 0);
}

#[tokio::test]
async fn group_memberships_follow_the_directory_but_an_administrators_and_the_admin_group_do_not() {
    let slapd = Slapd::start().await;
    let app = app_on(&slapd, LdapSecurity::StartTls).await;
    logged_in(&app, "alice", ALICE_PASSWORD).await;
    // An administrator puts alice in `ops` by hand.
    let db = app.db().await;
    db.batch_execute(
        "INSERT INTO groups (id, name, created_at) VALUES (gen_random_uuid(), 'ops', now());
         INSERT INTO group_members (group_id, user_id, added_at)
           SELECT g.id, u.id, now() FROM groups g, users u WHERE g.name = 'ops';",
    )
    .await
    .unwrap();

    slapd
        .modify(
            "dn: cn=engineering,ou=groups,dc=example,dc=org\nchangetype: modify\n\
             add: member\nmember: uid=bob,ou=people,dc=example,dc=org\n-\n\
             delete: member\nmember: uid=alice,ou=people,dc=example,dc=org\n-\n\n\
             dn: cn=design,ou=groups,dc=example,dc=org\nchangetype: add\n\
             objectClass: groupOfNames\ncn: design\n\
             member: uid=alice,ou=people,dc=example,dc=org\n\n\
             dn: cn=authd-admins,ou=groups,dc=example,dc=org\nchangetype: add\n\
             objectClass: groupOfNames\ncn: authd-admins\n\
             member: uid=alice,ou=people,dc=example,dc=org\n",
        )
        .await;
    let claims = logged_in(&app, "alice", ALICE_PASSWORD).await;
    assert_eq!(
        claims["groups"],
        json!(["design", "ops", "staff"]),
        "engineering taken away, ops kept, and the admin group (AUTHD_ADMIN_GROUP) not the \
         directory's to grant"
    );
}

#[tokio::test]
async fn with_the_directory_down_its_users_get_503_and_local_logins_go_on() {
    let slapd = Slapd::start().await;
    let mut settings = slapd.settings(LdapSecurity::Tls);
    settings.timeout = std::time::Duration::from_millis(500);
    let app = spawn_app_with(AppOptions {
        ldap: Some(settings.clone()),
        ..AppOptions::default()
    })
    .await;
    let local_password = app.register("carol").await;
    logged_in(&app, "alice", ALICE_PASSWORD).await;

    // Hung: connections are taken and never answered.
    slapd.freeze().await;
    for username in ["alice", "nobody"] {
        let (status, body) = refused(&app, username, ALICE_PASSWORD).await;
        assert_eq!(status, 503, "{username}: {body}");
        assert_eq!(body["error"], "temporarily_unavailable");
    }
    logged_in(&app, "carol", &local_password).await;
    let (status, _) = refused(&app, "carol", "a wrong local password").await;
    assert_eq!(status, 400, "a local failure is not the directory's");
    slapd.thaw().await;
    logged_in(&app, "alice", ALICE_PASSWORD).await;

    // Gone: a port nothing listens on (bound here, so no one else takes it meanwhile).
    let closed = tokio::net::TcpSocket::new_v4().unwrap();
    closed.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    settings.url = format!("ldaps://127.0.0.1:{}", closed.local_addr().unwrap().port());
    let gone = Ldap::new(settings);
    let err = gone
        .verify(Target::Name("alice"), ALICE_PASSWORD)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot connect"), "{err}");
}

#[tokio::test]
async fn a_username_the_directory_gives_to_someone_else_does_not_open_the_old_account() {
    let slapd = Slapd::start().await;
    let app = app_on(&slapd, LdapSecurity::Tls).await;
    let first = logged_in(&app, "alice", ALICE_PASSWORD).await;

    // Alice is renamed `alice.l` (the same entry, its entryUUID kept), and a newcomer gets the
    // uid `alice` (a new entry).
    slapd
        .modify(
            "dn: uid=alice,ou=people,dc=example,dc=org\nchangetype: modrdn\n\
             newrdn: uid=alice.l\ndeleteoldrdn: 1\n",
        )
        .await;
    slapd
        .add_person("alice", "Alice Newcomer", "the newcomer's passphrase")
        .await;
    let (status, body) = refused(&app, "alice", "the newcomer's passphrase").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "the account named alice is the first alice's"
    );
    let renamed = logged_in(&app, "alice.l", ALICE_PASSWORD).await;
    assert_eq!(
        renamed["sub"], first["sub"],
        "the entry, not its name, is the account"
    );
    // Her account's own name still works for her (its entry is bound at its DN, which the
    // last login recorded), and still not for the newcomer: the profile's re-authentication
    // asks by that name.
    let by_account_name = logged_in(&app, "alice", ALICE_PASSWORD).await;
    assert_eq!(by_account_name["sub"], first["sub"]);
    let (status, _) = refused(&app, "alice", "the newcomer's passphrase").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn an_operator_checks_the_settings_and_hands_a_local_account_to_the_directory() {
    let slapd = Slapd::start().await;
    let app = app_on(&slapd, LdapSecurity::Tls).await;
    let local_password = app.register("bob").await;
    let env = slapd.env();

    let (ok, checked) = authd_ldap(&app, &["check", "bob"], &env).await;
    assert!(ok);
    assert_eq!(
        checked["entry"]["dn"],
        "uid=bob,ou=people,dc=example,dc=org"
    );
    assert_eq!(checked["entry"]["groups"], json!(["staff"]));
    let (ok, missing) = authd_ldap(&app, &["check", "nobody"], &env).await;
    assert!(!ok);
    assert_eq!(missing["found"], false);
    let mut intruder = env.clone();
    intruder.push((
        "AUTHD_LDAP_BIND_DN",
        "cn=intruder,ou=services,dc=example,dc=org".to_owned(),
    ));
    let (ok, _) = authd_ldap(&app, &["check", "bob"], &intruder).await;
    assert!(!ok, "a service bind the directory refuses fails the check");

    let (ok, adopted) = authd_ldap(&app, &["adopt", "bob"], &env).await;
    assert!(ok);
    assert_eq!(adopted["username"], "bob");
    let (status, _) = refused(&app, "bob", &local_password).await;
    assert_eq!(status, 400, "the local password is gone");
    let claims = logged_in(&app, "bob", BOB_PASSWORD).await;
    assert_eq!(claims["groups"], json!(["staff"]));
}

#[tokio::test]
async fn the_login_page_takes_directory_passwords_and_the_profile_says_where_to_change_them() {
    let slapd = Slapd::start().await;
    let app = app_on(&slapd, LdapSecurity::StartTls).await;
    let mut browser = crate::browser::Browser::new(&app);

    let wrong = browser.log_in("alice", "not alice's passphrase").await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    let page = browser.log_in("alice", ALICE_PASSWORD).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let profile = browser.get("/ui/profile").await;
    assert!(
        profile
            .body
            .contains("kept by your organisation's directory"),
        "{}",
        profile.body
    );
    assert!(
        !profile.body.contains("Stop using a password"),
        "no passkey-only switch for a directory password"
    );
    let set = browser
        .post_raw(
            "/ui/profile/password",
            &[
                ("csrf", &profile.input("csrf")),
                ("new_password", "a local passphrase of mine 7"),
            ],
        )
        .await;
    assert_eq!(set.status, 422, "{}", set.body);
    assert!(set.body.contains("directory"), "{}", set.body);
}
