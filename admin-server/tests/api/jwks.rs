//! ES256 and RS256 admin JWTs, signed with keys each test generates and
//! served as a JWKS by a loopback HTTP server the test runs (or a file):
//! acceptance, the admin claim, expiry, the key's algorithm, unknown keys
//! (fetched again at most once per interval), rotation, keys past their age,
//! and a JWKS that cannot be had, which never lets a token in.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use admin_server::{AppConfig, JwksSource};
use axum::extract::State;
use axum::http::StatusCode as AxumStatus;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::server::{self, in_an_hour};

/// A generated signing key: its private half for `jsonwebtoken`, its
/// public half as a JWK.
struct TestKey {
    kid: String,
    algorithm: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
}

impl TestKey {
    /// A fresh P-256 key (ring).
    fn es256(kid: &str) -> TestKey {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        // The uncompressed point: 0x04, x, y.
        let point = pair.public_key().as_ref();
        assert_eq!(point.len(), 65);
        TestKey {
            kid: kid.to_owned(),
            algorithm: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk: json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..])}),
        }
    }

    /// A fresh 2048-bit RSA key (the `rsa` crate).
    fn rs256(kid: &str) -> TestKey {
        let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
        let der = private.to_pkcs1_der().unwrap();
        TestKey {
            kid: kid.to_owned(),
            algorithm: Algorithm::RS256,
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            jwk: json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                "n": URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(private.e().to_bytes_be())}),
        }
    }

    /// A token of `claims` signed with this key, its header naming `alg`
    /// and this key's `kid`.
    fn sign_as(&self, alg: Algorithm, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.kid = Some(self.kid.clone());
        encode(&header, claims, &self.encoding).unwrap()
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_as(self.algorithm, claims)
    }
}

fn admin_claims() -> Value {
    json!({"sub": "a", "exp": in_an_hour(), "app_metadata": {"role": "admin"}})
}

fn user_claims() -> Value {
    json!({"sub": "u", "exp": in_an_hour(), "app_metadata": {"role": "user"}})
}

fn expired_claims() -> Value {
    // Past the verifier's clock-skew leeway.
    json!({"sub": "a", "exp": chrono::Utc::now().timestamp() - 120,
        "app_metadata": {"role": "admin"}})
}

/// The loopback JWKS endpoint: serves the current set, counts fetches, and
/// can answer 503 instead.
#[derive(Default)]
struct JwksEndpoint {
    set: Mutex<Value>,
    fetches: AtomicUsize,
    failing: AtomicBool,
}

impl JwksEndpoint {
    fn publish(&self, keys: &[&TestKey]) {
        let keys: Vec<Value> = keys.iter().map(|k| k.jwk.clone()).collect();
        *self.set.lock().unwrap() = json!({ "keys": keys });
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

async fn serve_jwks(State(endpoint): State<Arc<JwksEndpoint>>) -> Response {
    endpoint.fetches.fetch_add(1, Ordering::SeqCst);
    if endpoint.failing.load(Ordering::SeqCst) {
        return AxumStatus::SERVICE_UNAVAILABLE.into_response();
    }
    axum::Json(endpoint.set.lock().unwrap().clone()).into_response()
}

/// Starts the JWKS endpoint on 127.0.0.1 and returns its URL.
async fn start_jwks(endpoint: Arc<JwksEndpoint>) -> String {
    let router = axum::Router::new()
        .route(
            "/auth/v1/.well-known/jwks.json",
            axum::routing::get(serve_jwks),
        )
        .with_state(endpoint);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}/auth/v1/.well-known/jwks.json")
}

/// The test server with only the JWKS configured (no HS256 secret, no
/// static token).
fn config(jwks: &str, min_refresh: Duration) -> AppConfig {
    AppConfig {
        admin_token: None,
        jwt_secret: None,
        jwks: Some(jwks.parse::<JwksSource>().unwrap()),
        jwks_min_refresh: min_refresh,
        ..server::config()
    }
}

async fn status_with(server: &server::TestServer, token: &str) -> (StatusCode, Value) {
    server
        .api_as("status", Some(&format!("Bearer {token}")))
        .await
}

/// The status code `/status` answers an admin token signed by `key`.
async fn admin_status(server: &server::TestServer, key: &TestKey) -> StatusCode {
    status_with(server, &key.sign(&admin_claims())).await.0
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn es256_and_rs256_admin_tokens_pass_and_others_do_not(pool: PgPool) {
    let ec = TestKey::es256("ec-1");
    let rsa = TestKey::rs256("rsa-1");
    let endpoint = Arc::new(JwksEndpoint::default());
    endpoint.publish(&[&ec, &rsa]);
    let url = start_jwks(Arc::clone(&endpoint)).await;
    let server = server::start_with(config(&url, Duration::from_secs(3600)), pool).await;

    assert_eq!(admin_status(&server, &ec).await, StatusCode::OK);
    assert_eq!(admin_status(&server, &rsa).await, StatusCode::OK);
    // Both keys came from one fetch.
    assert_eq!(endpoint.fetches(), 1);

    for key in [&ec, &rsa] {
        let (status, body) = status_with(&server, &key.sign(&user_claims())).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let (status, body) = status_with(&server, &key.sign(&expired_claims())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(body.to_string().contains("expired"), "{body}");
    }
    // A token without `kid` names no key.
    let no_kid = encode(
        &Header::new(Algorithm::ES256),
        &admin_claims(),
        &ec.encoding,
    )
    .unwrap();
    let (status, body) = status_with(&server, &no_kid).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.to_string().contains("kid"), "{body}");
    // A token signed by a key of the same kid that is not the published one.
    let impostor = TestKey::es256("ec-1");
    assert_eq!(
        status_with(&server, &impostor.sign(&admin_claims()))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn the_algorithm_must_be_the_keys(pool: PgPool) {
    let ec = TestKey::es256("ec-1");
    let rsa = TestKey::rs256("rsa-1");
    let endpoint = Arc::new(JwksEndpoint::default());
    endpoint.publish(&[&ec, &rsa]);
    let url = start_jwks(Arc::clone(&endpoint)).await;
    let server = server::start_with(config(&url, Duration::from_secs(3600)), pool).await;

    // The RSA key's signature, the header saying RS256, but naming the EC
    // key; and the other way round.
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("ec-1".into());
    let rs_on_ec = encode(&header, &admin_claims(), &rsa.encoding).unwrap();
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("rsa-1".into());
    let es_on_rsa = encode(&header, &admin_claims(), &ec.encoding).unwrap();
    // HS256 "signed" with the public key's JWK as the secret (the classic
    // confusion), and an algorithm no key has.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("ec-1".into());
    let confused = encode(
        &header,
        &admin_claims(),
        &EncodingKey::from_secret(ec.jwk.to_string().as_bytes()),
    )
    .unwrap();
    let ps256 = rsa.sign_as(Algorithm::PS256, &admin_claims());
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": "ec-1"}).to_string()),
        URL_SAFE_NO_PAD.encode(admin_claims().to_string())
    );
    for (what, token) in [
        ("RS256 on the EC key", rs_on_ec),
        ("ES256 on the RSA key", es_on_rsa),
        ("HS256 with the public key", confused),
        ("PS256", ps256),
        ("none", none),
    ] {
        let (status, body) = status_with(&server, &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert!(
            body.to_string().contains("algorithm") || what == "none",
            "{what}: {body}"
        );
    }
    // The right tokens still pass.
    assert_eq!(admin_status(&server, &ec).await, StatusCode::OK);
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn an_unknown_kid_fetches_the_set_at_most_once_per_interval(pool: PgPool) {
    let ec = TestKey::es256("ec-1");
    let stranger = TestKey::es256("not-published");
    let endpoint = Arc::new(JwksEndpoint::default());
    endpoint.publish(&[&ec]);
    let url = start_jwks(Arc::clone(&endpoint)).await;
    let server = server::start_with(config(&url, Duration::from_secs(3600)), pool).await;

    assert_eq!(admin_status(&server, &ec).await, StatusCode::OK);
    assert_eq!(endpoint.fetches(), 1);
    for _ in 0..5 {
        let (status, body) = status_with(&server, &stranger.sign(&admin_claims())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body.to_string().contains("not in the JWKS"), "{body}");
    }
    // The first fetch was moments ago: none of them fetched again.
    assert_eq!(endpoint.fetches(), 1);
    // Cached: the known key needs no fetch either.
    assert_eq!(admin_status(&server, &ec).await, StatusCode::OK);
    assert_eq!(endpoint.fetches(), 1);
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn rotation_brings_the_new_key_in_and_the_old_one_out(pool: PgPool) {
    let old = TestKey::es256("2026-11");
    let new = TestKey::rs256("2026-12");
    let endpoint = Arc::new(JwksEndpoint::default());
    endpoint.publish(&[&old]);
    let url = start_jwks(Arc::clone(&endpoint)).await;
    let server = server::start_with(config(&url, Duration::from_millis(200)), pool).await;
    assert_eq!(admin_status(&server, &old).await, StatusCode::OK);

    // The issuer publishes the new key beside the old one, then signs with it.
    endpoint.publish(&[&old, &new]);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(admin_status(&server, &new).await, StatusCode::OK);
    assert_eq!(endpoint.fetches(), 2);
    assert_eq!(admin_status(&server, &old).await, StatusCode::OK);

    // The old key is withdrawn: once the set is fetched again (another
    // unknown kid, past the interval), its tokens are refused.
    endpoint.publish(&[&new]);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let other = TestKey::es256("someone-else");
    assert_eq!(
        admin_status(&server, &other).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(endpoint.fetches(), 3);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(admin_status(&server, &old).await, StatusCode::UNAUTHORIZED);
    assert_eq!(admin_status(&server, &new).await, StatusCode::OK);
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_jwks_that_cannot_be_had_never_lets_a_token_in(pool: PgPool) {
    let ec = TestKey::es256("ec-1");
    let token = ec.sign(&admin_claims());

    // Nothing listens there.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let url = format!("http://{closed}/jwks.json");
    let server = server::start_with(config(&url, Duration::ZERO), pool.clone()).await;
    let (status, body) = status_with(&server, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.to_string().contains("could not be fetched"), "{body}");
    server.stop().await;

    // Answering 503, then garbage, then the set.
    let endpoint = Arc::new(JwksEndpoint::default());
    endpoint.failing.store(true, Ordering::SeqCst);
    let url = start_jwks(Arc::clone(&endpoint)).await;
    let server = server::start_with(config(&url, Duration::ZERO), pool).await;
    assert_eq!(
        status_with(&server, &token).await.0,
        StatusCode::UNAUTHORIZED
    );
    endpoint.failing.store(false, Ordering::SeqCst);
    *endpoint.set.lock().unwrap() = json!({"not": "a key set"});
    assert_eq!(
        status_with(&server, &token).await.0,
        StatusCode::UNAUTHORIZED
    );
    endpoint.publish(&[&ec]);
    assert_eq!(status_with(&server, &token).await.0, StatusCode::OK);
    assert_eq!(endpoint.fetches(), 3);
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn the_jwks_may_be_a_file(pool: PgPool) {
    let rsa = TestKey::rs256("file-key");
    let path = std::env::temp_dir().join(format!("jwks-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, json!({"keys": [rsa.jwk]}).to_string()).unwrap();
    let server = server::start_with(
        config(path.to_str().unwrap(), Duration::from_secs(3600)),
        pool,
    )
    .await;
    assert_eq!(admin_status(&server, &rsa).await, StatusCode::OK);
    assert_eq!(
        status_with(&server, &rsa.sign(&user_claims())).await.0,
        StatusCode::FORBIDDEN
    );
    server.stop().await;
    std::fs::remove_file(&path).unwrap();
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn keys_past_their_age_are_fetched_again_before_they_verify(pool: PgPool) {
    let key = TestKey::es256("revoked-soon");
    let successor = TestKey::es256("successor");
    let endpoint = Arc::new(JwksEndpoint::default());
    endpoint.publish(&[&key, &successor]);
    let url = start_jwks(Arc::clone(&endpoint)).await;
    let max_age = Duration::from_millis(300);
    let config = AppConfig {
        jwks_max_age: max_age,
        ..config(&url, Duration::ZERO)
    };
    let server = server::start_with(config, pool).await;
    let token = key.sign(&admin_claims());
    assert_eq!(status_with(&server, &token).await.0, StatusCode::OK);
    assert_eq!(status_with(&server, &token).await.0, StatusCode::OK);
    assert_eq!(endpoint.fetches(), 1, "cached within its age");

    // Past its age, with the JWKS failing: the cached key is not trusted.
    endpoint.failing.store(true, Ordering::SeqCst);
    tokio::time::sleep(max_age + Duration::from_millis(50)).await;
    let (status, body) = status_with(&server, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.to_string().contains("could not be fetched"), "{body}");

    // The key is withdrawn (revoked): refused with no unknown `kid` asked
    // for, once the cache is past its age; its successor passes.
    endpoint.failing.store(false, Ordering::SeqCst);
    endpoint.publish(&[&successor]);
    tokio::time::sleep(max_age + Duration::from_millis(50)).await;
    assert_eq!(
        status_with(&server, &token).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status_with(&server, &successor.sign(&admin_claims()))
            .await
            .0,
        StatusCode::OK
    );
    server.stop().await;
}
