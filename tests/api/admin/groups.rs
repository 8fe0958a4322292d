//! `/admin/groups`, and the `groups` claim in access tokens, ID tokens and UserInfo.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Admin, error_code};
use crate::{
    browser::Browser,
    code_flow::{code_for, pkce, public_client, redeem, refresh},
    helpers::spawn_app,
    tokens::claims_of,
};

#[tokio::test]
async fn groups_are_created_renamed_filled_and_deleted() {
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    let created = admin
        .post("/admin/groups", json!({ "name": "Engineering" }))
        .await;
    assert_eq!(created.status(), 201);
    let etag = created.headers()["etag"].to_str().unwrap().to_owned();
    let group: Value = created.json().await.unwrap();
    let path = format!("/admin/groups/{}", group["id"].as_str().unwrap());
    let taken = admin
        .post("/admin/groups", json!({ "name": "engineering" }))
        .await;
    assert_eq!(taken.status(), 409);
    assert_eq!(error_code(taken).await, "conflict");
    assert_eq!(
        admin
            .post("/admin/groups", json!({ "name": "  " }))
            .await
            .status(),
        422
    );

    let renamed = admin
        .send(
            Method::PATCH,
            &path,
            Some(json!({ "name": "Platform" })),
            Some(&etag),
        )
        .await;
    assert_eq!(renamed.status(), 200);
    let stale = admin
        .send(
            Method::PATCH,
            &path,
            Some(json!({ "name": "Lost" })),
            Some(&etag),
        )
        .await;
    assert_eq!(stale.status(), 412);

    let ann = admin.create_user("ann").await;
    let bea = admin.create_user("bea").await;
    for user in [&ann, &bea, &ann] {
        let added = admin
            .post(&format!("{path}/members"), json!({ "user_id": user["id"] }))
            .await;
        assert_eq!(added.status(), 204);
    }
    let unknown = admin
        .post(
            &format!("{path}/members"),
            json!({ "user_id": "00000000-0000-7000-8000-000000000000" }),
        )
        .await;
    assert_eq!(unknown.status(), 422);
    let members: Value = admin
        .get(&format!("{path}/members"))
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|member| member["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ann", "bea"]);
    let by_name: Value = admin
        .get("/admin/groups?name=platform")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_name["items"][0]["name"], "Platform");

    assert_eq!(admin.delete(&path).await.status(), 204);
    assert_eq!(admin.get(&path).await.status(), 404);
}

#[tokio::test]
async fn the_groups_scope_puts_the_users_groups_in_every_token_and_userinfo() {
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    let client_id = public_client(&app, "");
    let mut browser = Browser::new(&app);
    browser.signed_in_as("cleo").await;
    let cleo: Value = admin.get("/admin/users?q=cleo").await.json().await.unwrap();
    let cleo_id = cleo["items"][0]["id"].clone();
    for name in ["ops", "dev"] {
        let group: Value = admin
            .post("/admin/groups", json!({ "name": name }))
            .await
            .json()
            .await
            .unwrap();
        let added = admin
            .post(
                &format!("/admin/groups/{}/members", group["id"].as_str().unwrap()),
                json!({ "user_id": cleo_id }),
            )
            .await;
        assert_eq!(added.status(), 204);
    }

    let (verifier, challenge) = pkce();
    let code = code_for(
        &mut browser,
        &client_id,
        &challenge,
        "openid groups offline_access",
    )
    .await;
    let tokens: Value = redeem(&app, &client_id, &code, &verifier)
        .await
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(claims_of(access)["groups"], json!(["dev", "ops"]));
    assert_eq!(
        claims_of(tokens["id_token"].as_str().unwrap())["groups"],
        json!(["dev", "ops"])
    );
    let info: Value = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["groups"], json!(["dev", "ops"]));

    // A group added since shows in the next refresh.
    let later: Value = admin
        .post("/admin/groups", json!({ "name": "audit" }))
        .await
        .json()
        .await
        .unwrap();
    admin
        .post(
            &format!("/admin/groups/{}/members", later["id"].as_str().unwrap()),
            json!({ "user_id": cleo_id }),
        )
        .await;
    let refreshed: Value = refresh(&app, &client_id, tokens["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        claims_of(refreshed["access_token"].as_str().unwrap())["groups"],
        json!(["audit", "dev", "ops"])
    );

    // Without the scope, no claim.
    let (verifier, challenge) = pkce();
    let code = code_for(&mut browser, &client_id, &challenge, "openid").await;
    let plain: Value = redeem(&app, &client_id, &code, &verifier)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        claims_of(plain["access_token"].as_str().unwrap())
            .get("groups")
            .is_none()
    );
}
