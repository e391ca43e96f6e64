//! The auth matrix on every endpoint.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, Header};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::server::{self, admin_jwt, in_an_hour, jwt, sign, SECRET, TOKEN};

const ENDPOINTS: &[&str] = &["status", "events", "tasks", "trends", "openapi.json"];

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn every_endpoint_enforces_the_admin_guard(pool: PgPool) {
    let server = server::start(pool).await;
    let admin_claims = json!({"sub": "a", "exp": in_an_hour(), "app_metadata": {"role": "admin"}});
    let none_token = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT"}).to_string()),
        URL_SAFE_NO_PAD.encode(admin_claims.to_string())
    );
    let hs512_token = sign(&Header::new(Algorithm::HS512), &admin_claims, SECRET);
    let bad_signature = sign(&Header::default(), &admin_claims, "another-secret");
    // Past the verifier's clock-skew leeway.
    let expired = jwt(
        json!({"sub": "a", "exp": chrono::Utc::now().timestamp() - 120,
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
                StatusCode::UNAUTHORIZED => {
                    assert_eq!(body["error"], "unauthorized", "{name}");
                    // RFC 6750: a presented token that is refused is an
                    // `invalid_token`; no token at all is a bare challenge.
                    let presented = !matches!(*name, "no header" | "not bearer" | "empty bearer");
                    let challenge = if presented {
                        r#"Bearer error="invalid_token""#
                    } else {
                        "Bearer"
                    };
                    assert_eq!(
                        server
                            .challenge(endpoint, header.as_deref())
                            .await
                            .as_deref(),
                        Some(challenge),
                        "{endpoint} / {name}"
                    );
                }
                _ => {
                    let challenge = server.challenge(endpoint, header.as_deref()).await;
                    assert_eq!(challenge, None, "{endpoint} / {name}");
                    if *expected == StatusCode::FORBIDDEN {
                        assert_eq!(body["error"], "forbidden", "{name}");
                    }
                }
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

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn audience_and_issuer_are_enforced_when_configured(pool: PgPool) {
    let config = admin_server::AppConfig {
        jwt_audience: Some("authenticated".into()),
        jwt_issuer: Some("https://project.example/auth/v1".into()),
        ..server::config()
    };
    let server = server::start_with(config, pool).await;
    let token = |aud: &str, iss: &str| {
        jwt(
            json!({"sub": "a", "exp": in_an_hour(), "aud": aud, "iss": iss,
            "app_metadata": {"role": "admin"}}),
        )
    };
    for (name, token, expected) in [
        (
            "both match",
            token("authenticated", "https://project.example/auth/v1"),
            StatusCode::OK,
        ),
        (
            "other audience",
            token("anon", "https://project.example/auth/v1"),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "other issuer",
            token("authenticated", "https://elsewhere.example/auth/v1"),
            StatusCode::UNAUTHORIZED,
        ),
        ("neither claim", admin_jwt(), StatusCode::UNAUTHORIZED),
    ] {
        let (status, body) = server
            .api_as("status", Some(&format!("Bearer {token}")))
            .await;
        assert_eq!(status, expected, "{name}: {body}");
    }
    server.stop().await;
}
