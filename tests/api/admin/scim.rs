//! SCIM 2.0 at `/scim/v2`, checked by an independent checker: scim2-tester (PyPI) runs its
//! RFC 7643/7644 checks (discovery, create, read, list, partial responses, replace, delete,
//! PATCH add/replace/remove) against a live authd, with 0 failures; then the behaviour a
//! provisioning client relies on that it does not check (filters, paging, ETags, errors).

use reqwest::Method;
use serde_json::{Value, json};

use super::Admin;
use crate::helpers::spawn_app;

#[tokio::test]
async fn scim2_tester_finds_no_fault() {
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scim_conformance.py");
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .env("SCIM_URL", app.url("/scim/v2"))
        .env("SCIM_TOKEN", &admin.token)
        .output()
        .await
        .expect("python3 runs");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "scim2-tester:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains(" 0 failed"), "{report}");
}

async fn scim(
    admin: &Admin<'_>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = admin
        .app
        .client
        .request(method, admin.app.url(&format!("/scim/v2{path}")))
        .bearer_auth(&admin.token)
        .header("content-type", "application/scim+json");
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_provisioning_client_finds_filters_pages_and_is_told_why() {
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    for n in 0..5 {
        let created = scim(
            &admin,
            Method::POST,
            "/Users",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": format!("scim-{n}"),
                "externalId": format!("hr-{n}"),
                "displayName": format!("Person {n}"),
                "emails": [{ "value": format!("scim-{n}@example.com"), "primary": true }],
            })),
        )
        .await;
        assert_eq!(created.status(), 201);
        assert_eq!(created.headers()["content-type"], "application/scim+json");
        assert!(created.headers().contains_key("location"));
    }
    let found: Value = scim(
        &admin,
        Method::GET,
        "/Users?filter=userName%20eq%20%22SCIM-3%22",
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["externalId"], "hr-3");
    let by_external: Value = scim(
        &admin,
        Method::GET,
        "/Users?filter=externalId%20eq%20%22hr-1%22",
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(by_external["Resources"][0]["userName"], "scim-1");
    let several: Value = scim(
        &admin,
        Method::GET,
        "/Users?filter=userName%20sw%20%22scim-%22%20and%20displayName%20co%20%22son%22&startIndex=2&count=2",
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(several["totalResults"], 5);
    assert_eq!(several["startIndex"], 2);
    assert_eq!(several["itemsPerPage"], 2);

    let bad = scim(
        &admin,
        Method::GET,
        "/Users?filter=userName%20zz%20%22x%22",
        None,
    )
    .await;
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["scimType"], "invalidFilter");
    assert_eq!(body["status"], "400");
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );

    let taken = scim(
        &admin,
        Method::POST,
        "/Users",
        Some(
            json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                     "userName": "scim-0", "emails": [{ "value": "other@example.com" }] }),
        ),
    )
    .await;
    assert_eq!(taken.status(), 409);
    let body: Value = taken.json().await.unwrap();
    assert_eq!(body["scimType"], "uniqueness");

    // A stale ETag changes nothing; deactivating through PATCH disables the account.
    let id = found["Resources"][0]["id"].as_str().unwrap().to_owned();
    let read = scim(&admin, Method::GET, &format!("/Users/{id}"), None).await;
    let etag = read.headers()["etag"].to_str().unwrap().to_owned();
    let deactivate = json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                             "Operations": [{ "op": "replace", "path": "active", "value": false }] });
    let first = admin
        .app
        .client
        .patch(admin.app.url(&format!("/scim/v2/Users/{id}")))
        .bearer_auth(&admin.token)
        .header("if-match", &etag)
        .header("content-type", "application/scim+json")
        .body(deactivate.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let patched: Value = first.json().await.unwrap();
    assert_eq!(patched["active"], false);
    let again = admin
        .app
        .client
        .patch(admin.app.url(&format!("/scim/v2/Users/{id}")))
        .bearer_auth(&admin.token)
        .header("if-match", &etag)
        .header("content-type", "application/scim+json")
        .body(deactivate.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 412);
    let user: Value = admin
        .get(&format!("/admin/users/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(user["disabled"], true);

    let anonymous = app.get("/scim/v2/Users").await;
    assert_eq!(anonymous.status(), 401);
    let read_only = scim(
        &admin,
        Method::POST,
        "/ServiceProviderConfig",
        Some(json!({})),
    )
    .await;
    assert_eq!(read_only.status(), 405);
    assert_eq!(read_only.headers()["allow"], "GET");
    let unknown = scim(&admin, Method::GET, "/Nothing", None).await;
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn an_identity_providers_provisioning_run_goes_through() {
    // As Entra ID sends it: a principal name as userName, `"False"` as a string, members
    // removed by a value filter in the path.
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    let ann: Value = scim(
        &admin,
        Method::POST,
        "/Users",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ann.lee@corp.example", "active": true, "externalId": "00u1",
            "emails": [{ "value": "ann.lee@corp.example", "type": "work", "primary": true }],
        })),
    )
    .await
    .json()
    .await
    .unwrap();
    let bob: Value = scim(
        &admin,
        Method::POST,
        "/Users",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "bob@corp.example",
            "emails": [{ "value": "bob@corp.example" }],
        })),
    )
    .await
    .json()
    .await
    .unwrap();
    let group = scim(
        &admin,
        Method::POST,
        "/Groups",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Sales", "externalId": "g-1",
            "members": [{ "value": ann["id"] }, { "value": bob["id"] }],
        })),
    )
    .await;
    assert_eq!(group.status(), 201);
    let group: Value = group.json().await.unwrap();
    assert_eq!(group["members"].as_array().unwrap().len(), 2);

    let removed = scim(
        &admin,
        Method::PATCH,
        &format!("/Groups/{}", group["id"].as_str().unwrap()),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "Remove",
                             "path": format!("members[value eq \"{}\"]", bob["id"].as_str().unwrap()) }],
        })),
    )
    .await;
    assert_eq!(removed.status(), 200);
    let after: Value = removed.json().await.unwrap();
    assert_eq!(
        after["members"],
        json!([{
            "value": ann["id"], "$ref": ann["meta"]["location"], "type": "User"
        }])
    );
    let by_name: Value = scim(
        &admin,
        Method::GET,
        "/Groups?filter=displayName%20eq%20%22sales%22",
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(by_name["totalResults"], 1);

    let deactivated = scim(
        &admin,
        Method::PATCH,
        &format!("/Users/{}", ann["id"].as_str().unwrap()),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "Replace", "path": "active", "value": "False" }],
        })),
    )
    .await;
    assert_eq!(deactivated.status(), 200);
    let body: Value = deactivated.json().await.unwrap();
    assert_eq!(body["active"], false);
    assert_eq!(body["userName"], "ann.lee@corp.example");

    // The group claim follows: Ann is in Sales, as authd's admin API lists it.
    let members: Value = admin
        .get(&format!(
            "/admin/groups/{}/members",
            group["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(members["items"][0]["username"], "ann.lee@corp.example");
}
