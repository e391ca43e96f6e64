//! The auth matrix on every endpoint.

use admin_server::jwt::sign_with_header;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::server::{self, admin_jwt, in_an_hour, jwt, SECRET, TOKEN};

const ENDPOINTS: &[&str] = &["status", "events", "tasks", "openapi.json"];

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn every_endpoint_enforces_the_admin_guard(pool: PgPool) {
    let server = server::start(pool).await;
    let admin_claims = json!({"sub": "a", "exp": in_an_hour(), "app_metadata": {"role": "admin"}});
    let none_token = {
        let signed = sign_with_header(&json!({"alg": "none", "typ": "JWT"}), &admin_claims, b"");
        format!("{}.", signed.rsplit_once('.').unwrap().0)
    };
    let hs512_token = sign_with_header(&json!({"alg": "HS512"}), &admin_claims, SECRET.as_bytes());
    let bad_signature = admin_server::jwt::sign_hs256(&admin_claims, b"another-secret");
    let expired = jwt(
        json!({"sub": "a", "exp": chrono::Utc::now().timestamp() - 5,
        "app_metadata": {"role": "admin"}}),
    );
    let non_admin = jwt(
        json!({"sub": "u", "exp": in_an_hour(), "role": "authenticated",
        "app_metadata": {"role": "user"}, "user_metadata": {"role": "admin"}}),
    );
    let admin_by_roles = jwt(json!({"sub": "b", "exp": in_an_hour(),
        "app_metadata": {"roles": ["support", "admin"]}}));

    let cases: Vec<(&str, Option<String>, StatusCode)> = vec![
        ("no header", None, StatusCode::UNAUTHORIZED),
        (
            "not bearer",
            Some(format!("Basic {TOKEN}")),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "empty bearer",
            Some("Bearer ".into()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "garbage",
            Some("Bearer not.a.jwt".into()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "wrong static token",
            Some(format!("Bearer {TOKEN}x")),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "bad signature",
            Some(format!("Bearer {bad_signature}")),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "expired",
            Some(format!("Bearer {expired}")),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "alg none",
            Some(format!("Bearer {none_token}")),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "alg HS512",
            Some(format!("Bearer {hs512_token}")),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "non-admin",
            Some(format!("Bearer {non_admin}")),
            StatusCode::FORBIDDEN,
        ),
        (
            "admin jwt",
            Some(format!("Bearer {}", admin_jwt())),
            StatusCode::OK,
        ),
        (
            "admin by roles",
            Some(format!("Bearer {admin_by_roles}")),
            StatusCode::OK,
        ),
        (
            "static token",
            Some(format!("Bearer {TOKEN}")),
            StatusCode::OK,
        ),
    ];
    for endpoint in ENDPOINTS {
        for (name, header, expected) in &cases {
            let (status, body) = server.api_as(endpoint, header.as_deref()).await;
            assert_eq!(status, *expected, "{endpoint} / {name}: {body}");
            match *expected {
                StatusCode::UNAUTHORIZED => assert_eq!(body["error"], "unauthorized", "{name}"),
                StatusCode::FORBIDDEN => assert_eq!(body["error"], "forbidden", "{name}"),
                _ => {}
            }
            // A refusal never echoes the token back.
            if let Some(h) = header {
                let token = h.split_once(' ').map_or("", |(_, t)| t);
                if token.len() > 8 {
                    assert!(!body.to_string().contains(token), "{name} echoed the token");
                }
            }
        }
    }
    // Admin data is never cached, refusals included.
    for authorization in [format!("Bearer {TOKEN}"), "Bearer nope".to_owned()] {
        let response = server
            .client
            .get(format!("{}/api/admin/ai/runtime/status", server.base))
            .header("Authorization", authorization)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn jwts_are_refused_when_no_secret_is_configured(pool: PgPool) {
    let config = admin_server::AppConfig {
        jwt_secret: None,
        ..server::config()
    };
    let server = server::start_with(config, pool).await;
    let (status, _) = server
        .api_as("status", Some(&format!("Bearer {}", admin_jwt())))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server.api("status").await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}
