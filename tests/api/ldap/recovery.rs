//! Forgotten passwords of directory accounts: the directory keeps them, so authd mails no
//! reset link, and a link mailed before an account was handed to the directory sets nothing.

use authd::ldap::LdapSecurity;
use reqwest::StatusCode;

use super::{ALICE_PASSWORD, BOB_PASSWORD, Slapd, authd_ldap, logins::logged_in};
use crate::{
    browser::Browser,
    helpers::AppOptions,
    mail::{
        ARRIVES, app_mailing,
        smtp::{Mode, SmtpServer},
    },
};

#[tokio::test]
async fn directory_accounts_get_no_reset_link_and_an_older_link_sets_no_password() {
    let slapd = Slapd::start().await;
    let server = SmtpServer::start(Mode::Plain).await;
    let app = app_mailing(
        &server,
        AppOptions {
            ldap: Some(slapd.settings(LdapSecurity::Tls)),
            ..AppOptions::default()
        },
    )
    .await;
    logged_in(&app, "alice", ALICE_PASSWORD).await;
    app.register("bob").await;

    let mut browser = Browser::new(&app);
    for account in ["alice", "bob"] {
        let page = browser
            .submit(
                "/ui/forgot-password",
                "/ui/forgot-password",
                &[("account", account)],
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("If an account matches"), "{}", page.body);
    }
    let mail = server
        .wait_for("bob@example.com", "Reset your password", ARRIVES)
        .await;
    let to_alice = server
        .all()
        .iter()
        .filter(|mail| mail.rcpt_tos.iter().any(|to| to.contains("alice@")))
        .count();
    assert_eq!(to_alice, 0, "alice's directory account got no link");

    // Bob's account goes to the directory; the link he holds no longer sets a password.
    let (ok, _) = authd_ldap(&app, &["adopt", "bob"], &slapd.env()).await;
    assert!(ok);
    let form = browser.get(&mail.link("/ui/reset-password")).await;
    let answer = browser
        .post_raw(
            "/ui/reset-password",
            &[
                ("csrf", &form.input("csrf")),
                ("token", &mail.token("/ui/reset-password")),
                ("new_password", "a brand new passphrase 7"),
            ],
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.body
    );
    assert!(answer.body.contains("directory"), "{}", answer.body);
    logged_in(&app, "bob", BOB_PASSWORD).await;
}
