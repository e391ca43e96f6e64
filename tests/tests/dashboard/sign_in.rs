//! Sign-in: a missing, bad or non-admin token.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use sqlx::PgPool;

use super::browser::*;
use super::seed::*;

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn missing_or_bad_token_lands_on_sign_in(pool: PgPool) {
    seed(&pool).await;
    let b = Browser::open(pool).await;
    let signed_out =
        "return !!document.querySelector('#sign-in') && !document.querySelector('#dashboard')";
    let stored = "return document.cookie.includes('ai_runtime_admin_token=')";

    // No token at all.
    b.goto("").await;
    b.wait_for("the sign-in form", signed_out).await;

    // A wrong token: 401, back to sign-in, the token forgotten and never left in the address bar.
    b.goto("?a=1#token=not-the-admin-token").await;
    let notice = b.text("#sign-in [role=alert]").await;
    assert!(notice.contains("401"), "{notice}");
    assert!(!b.url().await.contains("token"), "the fragment is removed");
    assert_eq!(
        b.js(stored).await,
        Value::Bool(false),
        "the refused token is forgotten"
    );

    // A valid JWT of a non-admin: 403, "not an admin".
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 3600;
    let editor = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "editor-1", "exp": exp, "app_metadata": {"role": "editor"}}),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("an HS256 JWT");
    b.goto(&format!("?b=1#token={editor}")).await;
    let notice = b.text("#sign-in [role=alert]").await;
    assert!(notice.contains("not an admin"), "{notice}");

    // The form signs in; the token survives a reload (the session cookie),
    // where the server renders the page with its data.
    b.type_into("#token-input", ADMIN_TOKEN).await;
    b.click("#sign-in button[type=submit]").await;
    b.text("[data-worker='worker-b'] .breaker").await;
    assert_eq!(b.js(stored).await, Value::Bool(true));
    b.reload().await;
    b.text("[data-worker='worker-b'] .breaker").await;
    // The page the browser got with its cookie was rendered on the server
    // with the data: the worker's breaker is in its HTML, before any WASM.
    let served = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(location.href).then(r => r.text()).then(html => {
                 const page = new DOMParser().parseFromString(html, 'text/html');
                 const breaker = page.querySelector(\"[data-worker='worker-b'] .breaker\");
                 done(breaker ? breaker.textContent : null);
             }, e => done('fetch failed: ' + e));",
            vec![],
        )
        .await
        .expect("fetch the page");
    assert!(
        served.as_str().is_some_and(|b| b.contains("OPEN")),
        "the server's page shows worker-b's open breaker: {served}"
    );

    // Signing out forgets it.
    b.click("#sign-out").await;
    b.wait_for("the sign-in form", signed_out).await;
    assert_eq!(b.js(stored).await, Value::Bool(false));

    // A kept token the server no longer accepts: the server says so.
    b.js("document.cookie = 'ai_runtime_admin_token=revoked-token; Path=/admin/ai/runtime; SameSite=Strict'; return null")
        .await;
    b.reload().await;
    b.wait_for("sign-in after a 401", signed_out).await;
    assert!(b.text("#sign-in [role=alert]").await.contains("401"));
    assert_eq!(
        b.js(stored).await,
        Value::Bool(false),
        "the server cleared it"
    );
    b.close().await;
}
