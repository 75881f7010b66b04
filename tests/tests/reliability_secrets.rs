//! Secret leak scan: a distinct secret in every place a client can put one, across normal, slow,
//! 404, panic and 5xx requests with Sentry on; then every stdout line and every stored Sentry
//! event is searched for each secret. Values that are not secret must still be there: the scan
//! proves scrubbing, not silence.
//!
//! Figures: `cargo test -p belfry-tests --test reliability_secrets -- --nocapture`.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use belfry_tests::{raw_request, unique, Demo, HttpResponse, SentryServer};
use serde_json::Value;

const EVENT_WAIT: Duration = Duration::from_secs(30);
const LOG_WAIT: Duration = Duration::from_secs(10);

/// Standard base64, for `Authorization: Basic`.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The routes covered, with the status each must answer.
const ROUTES: [(&str, &str, u16); 5] = [
    ("normal", "/users/1", 200),
    ("slow", "/slow", 200),
    ("404", "/no/such/route", 404),
    ("panic", "/panic", 500),
    ("5xx", "/error", 500),
];

/// How the request carries its credentials.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Variant {
    /// `Authorization: Bearer`, origin-form target.
    Bearer,
    /// `Authorization: Basic`, origin-form target.
    Basic,
    /// Absolute-form target with userinfo: `GET http://user:secret@host/path`.
    Userinfo,
}

/// One request sent, and what must (not) show up for it.
struct Sent {
    label: String,
    request_id: String,
    route: &'static str,
    /// Where each secret was put, by secret.
    secrets: BTreeMap<String, String>,
    /// A header value that is not secret and must reach Sentry.
    visible: String,
    response: HttpResponse,
}

fn send(demo: &Demo, run: &str, route: (&'static str, &'static str, u16), variant: Variant) -> Sent {
    let (name, path, status) = route;
    let label = format!("{name}/{variant:?}");
    let tag = format!("{name}-{variant:?}").to_lowercase();
    // Letters and digits only: valid in a query value, a header and a cookie as they are.
    let secret = |location: &str| {
        let text = format!("sk{run}{tag}{location}");
        text.chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
    };
    let mut secrets = BTreeMap::new();
    let mut plant = |location: &str| {
        let value = secret(location);
        secrets.insert(value.clone(), location.to_owned());
        value
    };

    let mut query = String::new();
    if path == "/slow" {
        query.push_str("ms=50&");
    }
    for param in [
        "token",
        "access_token",
        "password",
        "api_key",
        "X-Amz-Signature",
        "acc%65ss_token",
    ] {
        query.push_str(&format!("{param}={}&", plant(&format!("query {param}"))));
    }
    query.push_str("page=2");

    let request_id = format!("secrets-{run}-{tag}");
    let visible = format!("visible-{run}-{tag}");
    let address = demo.address();
    let target = match variant {
        Variant::Userinfo => format!("http://alice:{}@{address}{path}?{query}", plant("url userinfo")),
        Variant::Bearer | Variant::Basic => format!("{path}?{query}"),
    };
    let mut encoded = Vec::new();
    let authorization = match variant {
        Variant::Basic => {
            // What travels is the base64 text: that is what must not show up.
            let credentials = base64(format!("alice:{}", plant("basic password")).as_bytes());
            encoded.push((credentials.clone(), "authorization basic (base64)"));
            format!("Basic {credentials}")
        }
        Variant::Bearer | Variant::Userinfo => format!("Bearer {}", plant("authorization bearer")),
    };
    let proxy_credentials = base64(format!("proxy:{}", plant("proxy-authorization")).as_bytes());
    encoded.push((proxy_credentials.clone(), "proxy-authorization (base64)"));
    let mut request = format!(
        "GET {target} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\nuser-agent: belfry-reliability/{visible}\r\n\
         x-request-id: {request_id}\r\nx-trace-note: {visible}\r\nauthorization: {authorization}\r\n\
         proxy-authorization: Basic {proxy_credentials}\r\n"
    );
    request.push_str(&format!("cookie: session={}; theme=dark\r\n", plant("cookie")));
    request.push_str(&format!("x-api-key: {}\r\n", plant("x-api-key")));
    request.push_str(&format!("x-session-token: {}\r\n", plant("x-session-token")));
    for (value, location) in encoded {
        secrets.insert(value, location.to_owned());
    }
    request.push_str("\r\n");

    let response = raw_request(address, request.as_bytes());
    if variant == Variant::Userinfo && response.status == 400 {
        // hyper may refuse userinfo in the request target: fine, as long as nothing leaks.
    } else {
        assert_eq!(response.status, status, "{label}: {response:?}");
        assert_eq!(
            response.header("x-request-id"),
            Some(request_id.as_str()),
            "{label}"
        );
    }
    for secret in secrets.keys() {
        assert!(
            !response.body.contains(secret.as_str()),
            "{label}: the response body echoed a secret"
        );
    }
    Sent {
        label,
        request_id,
        route: name,
        secrets,
        visible,
        response,
    }
}

/// `POST /login` with a secret password in the JSON body: a string (a wrong password: 401), or a
/// number (the wrong type: the rejection message quotes what it could not read).
fn send_login(demo: &Demo, run: &str, tag: &str, status: u16) -> Sent {
    let digits: String = run.chars().filter(char::is_ascii_digit).collect();
    let (secret, password) = if tag == "login-number" {
        // A number that fits a u64, so the parser quotes it as it was sent.
        let number = format!("7{}", &digits[digits.len().saturating_sub(17)..]);
        (number.clone(), number)
    } else {
        let secret = format!("sk{digits}loginpassword");
        (secret.clone(), format!("\"{secret}\""))
    };
    let request_id = format!("secrets-{run}-{tag}");
    let body = format!(r#"{{"username":"alice","password":{password}}}"#);
    let request = format!(
        "POST /login HTTP/1.1\r\nhost: {}\r\nconnection: close\r\nx-request-id: {request_id}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        demo.address(),
        body.len()
    );
    let response = raw_request(demo.address(), request.as_bytes());
    assert_eq!(response.status, status, "{tag}: {response:?}");
    Sent {
        label: format!("{tag}/body"),
        request_id,
        route: "login",
        secrets: BTreeMap::from([(secret, "json body password".to_owned())]),
        visible: String::new(),
        response,
    }
}

#[test]
fn no_planted_secret_reaches_stdout_or_sentry_and_the_rest_is_kept() {
    let started = Instant::now();
    let sentry = SentryServer::shared();
    let demo = Demo::builder()
        .env("SENTRY_DSN", sentry.dsn())
        // Every request's transaction is sent too: it carries the request as well.
        .env("SENTRY_TRACES_SAMPLE_RATE", "1.0")
        .start();
    let run = unique("r");

    let mut sent = Vec::new();
    for route in ROUTES {
        for variant in [Variant::Bearer, Variant::Basic, Variant::Userinfo] {
            sent.push(send(&demo, &run, route, variant));
        }
    }
    sent.push(send_login(&demo, &run, "login", 401));
    sent.push(send_login(&demo, &run, "login-number", 422));
    let all_secrets: BTreeMap<&str, (&str, &str)> =
        sent.iter()
            .flat_map(|request| {
                request.secrets.iter().map(move |(secret, location)| {
                    (secret.as_str(), (request.label.as_str(), location.as_str()))
                })
            })
            .collect();

    // Wait until every request was logged, and every panic and 5xx reached Sentry.
    for request in &sent {
        if request.response.status != 400 {
            demo.logs()
                .wait_for_request(&request.request_id, "request completed", LOG_WAIT)
                .unwrap_or_else(|| panic!("{}: no access log line", request.label));
        }
    }
    let reported: BTreeSet<&str> = sent
        .iter()
        .filter(|request| matches!(request.route, "panic" | "5xx") && request.response.status == 500)
        .map(|request| request.request_id.as_str())
        .collect();
    let deadline = Instant::now() + EVENT_WAIT;
    let events = loop {
        let events = sentry.events();
        let tagged: BTreeSet<&str> = events
            .iter()
            .filter_map(|event| event["tags"]["request_id"].as_str())
            .filter(|id| reported.contains(id))
            .collect();
        if tagged.len() == reported.len() || Instant::now() >= deadline {
            break events;
        }
        std::thread::sleep(Duration::from_millis(500));
    };

    // The scan: every stdout line, and every stored event (not only ours: the secrets are unique).
    let lines = demo.logs().all();
    let event_texts: Vec<String> = events.iter().map(Value::to_string).collect();
    let mut hits = Vec::new();
    for (secret, (label, location)) in &all_secrets {
        for line in lines.iter().filter(|line| line.contains(secret)) {
            hits.push(format!("stdout: {label} {location}: {line}"));
        }
        for text in event_texts.iter().filter(|text| text.contains(secret)) {
            hits.push(format!("sentry: {label} {location}: {text}"));
        }
    }
    let ours: Vec<&Value> = events
        .iter()
        .filter(|event| {
            event["tags"]["request_id"]
                .as_str()
                .is_some_and(|id| sent.iter().any(|request| request.request_id == id))
        })
        .collect();
    println!(
        "secrets: {} requests ({} routes x 3 credential variants, 2 login bodies), {} distinct secrets planted, \
         {} stdout lines and {} stored events scanned ({} of them for these requests): {} hits, {:.1} s",
        sent.len(),
        ROUTES.len(),
        all_secrets.len(),
        lines.len(),
        events.len(),
        ours.len(),
        hits.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(hits.is_empty(), "secrets leaked:\n{}", hits.join("\n"));

    // Not silence: what is not secret is still there.
    for request in sent.iter().filter(|request| request.route != "login") {
        let label = &request.label;
        if request.response.status == 400 {
            continue;
        }
        let line = demo
            .logs()
            .wait_for_request(&request.request_id, "request completed", LOG_WAIT)
            .unwrap();
        let query = line["url.query"]
            .as_str()
            .unwrap_or_else(|| panic!("{label}: no url.query: {line}"));
        assert!(query.contains("page=2"), "{label}: {query}");
        assert!(
            query.contains("access_token=[REDACTED]"),
            "{label}: names are kept: {query}"
        );
        assert!(query.contains("acc%65ss_token=[REDACTED]"), "{label}: {query}");
    }
    for id in &reported {
        let request = sent.iter().find(|request| request.request_id == *id).unwrap();
        let label = &request.label;
        let mine: Vec<&&Value> = ours
            .iter()
            .filter(|event| event["tags"]["request_id"] == *id)
            .collect();
        assert_eq!(mine.len(), 1, "{label}: one event per failure");
        let event_request = &mine[0]["request"];
        let headers = &event_request["headers"];
        assert_eq!(
            headers["user-agent"],
            format!("belfry-reliability/{}", request.visible).as_str(),
            "{label}: {event_request}"
        );
        // Not on the allow-list: the name is kept, the value is not sent.
        assert_eq!(headers["x-trace-note"], "[Filtered]", "{label}: {event_request}");
        assert_eq!(headers["authorization"], "[REDACTED]", "{label}: {event_request}");
        assert_eq!(
            headers["x-session-token"], "[REDACTED]",
            "{label}: {event_request}"
        );
        let query = event_request["query_string"].as_str().unwrap_or_default();
        assert!(
            query.contains("page=2") && query.contains("access_token=[REDACTED]"),
            "{label}: {query}"
        );
        let url = event_request["url"].as_str().unwrap_or_default();
        assert!(url.contains("page=2") && !url.contains('@'), "{label}: {url}");
    }
    assert!(!reported.is_empty() && ours.len() >= reported.len());
    demo.logs().json();
}

/// Found by this suite: a `Host` header carrying userinfo and a `Referer` whose query has a token
/// used to reach the Sentry event verbatim (headers were scrubbed by name only). URL-valued
/// headers (`belfry_scrub::URL_HEADERS`) are now scrubbed like URLs.
#[test]
fn host_userinfo_and_referer_tokens_do_not_reach_sentry() {
    let sentry = SentryServer::shared();
    let demo = Demo::builder().env("SENTRY_DSN", sentry.dsn()).start();
    let run = unique("r");
    let host_secret = format!("skhost{run}");
    let referer_secret = format!("skreferer{run}");
    let request_id = format!("secrets-host-{run}");
    let request = format!(
        "GET /panic?page=2 HTTP/1.1\r\nhost: alice:{host_secret}@{}\r\nconnection: close\r\n\
         x-request-id: {request_id}\r\nreferer: http://app.example/cb?access_token={referer_secret}&page=2\r\n\r\n",
        demo.address()
    );
    assert_eq!(raw_request(demo.address(), request.as_bytes()).status, 500);
    let events = sentry.wait_for_events(&request_id, EVENT_WAIT);
    assert_eq!(events.len(), 1);
    let text = events[0].to_string();
    assert!(
        !text.contains(&host_secret),
        "Host userinfo leaked: {}",
        events[0]["request"]
    );
    assert!(
        !text.contains(&referer_secret),
        "Referer token leaked: {}",
        events[0]["request"]
    );
}

/// Where a vector puts its secret: `{S}` in the template is replaced by the secret.
#[derive(Clone, Copy)]
enum Place {
    /// A request header: `(name, value)`.
    Header(&'static str, &'static str),
    /// A `name=value` pair of the query.
    Query(&'static str),
    /// The `{token}` segment of `/reset-password/{token}`.
    Path,
}

/// The issue's vectors, then credentials and URL-carrying headers that gateways and identity
/// proxies add (Envoy, nginx with oauth2-proxy, Traefik, AWS ALB and API Gateway, Google IAP and
/// Cloud Endpoints, Cloudflare Access, GitHub and other webhook senders, Azure), then query
/// names and nested URLs.
const VECTORS: &[(&str, Place)] = &[
    // The issue's.
    (
        "issue: x-forwarded-authorization",
        Place::Header("x-forwarded-authorization", "Bearer {S}"),
    ),
    (
        "issue: google iap jwt",
        Place::Header("x-goog-iap-jwt-assertion", "eyJhbGciOiJFUzI1NiJ9.{S}.c2ln"),
    ),
    ("issue: apikey", Place::Header("apikey", "{S}")),
    (
        "issue: x-original-uri",
        Place::Header("x-original-uri", "/panic?token={S}&page=2"),
    ),
    (
        "issue: x-forwarded-uri",
        Place::Header("x-forwarded-uri", "/login?jwt={S}"),
    ),
    (
        "issue: forwarded host userinfo",
        Place::Header(
            "forwarded",
            "for=192.0.2.60;proto=https;host=\"alice:{S}@api.example\"",
        ),
    ),
    ("issue: jwt query", Place::Query("jwt={S}")),
    (
        "issue: nested redirect",
        Place::Query("redirect=https%3A%2F%2Fx%2F%3Ftoken%3D{S}"),
    ),
    ("issue: reset-password path", Place::Path),
    // Envoy.
    (
        "envoy: x-forwarded-client-cert",
        Place::Header(
            "x-forwarded-client-cert",
            "By=spiffe://cluster.local/ns/default/sa/api;Hash={S};Subject=\"CN=client\"",
        ),
    ),
    (
        "envoy: x-envoy-original-path",
        Place::Header("x-envoy-original-path", "/panic?access_token={S}"),
    ),
    ("envoy: jwt_authn payload", Place::Header("x-jwt-payload", "{S}")),
    (
        "envoy: forwarded unquoted",
        Place::Header("forwarded", "for=192.0.2.61;host=bob:{S}@api.example"),
    ),
    // nginx (auth_request with oauth2-proxy, ingress-nginx), IIS.
    (
        "nginx: x-auth-request-access-token",
        Place::Header("x-auth-request-access-token", "{S}"),
    ),
    (
        "nginx: x-auth-request-email",
        Place::Header("x-auth-request-email", "{S}@example.com"),
    ),
    (
        "nginx: x-auth-request-user",
        Place::Header("x-auth-request-user", "{S}"),
    ),
    (
        "nginx: x-auth-request-redirect",
        Place::Header("x-auth-request-redirect", "https://app.example/cb?code={S}"),
    ),
    (
        "nginx: x-forwarded-access-token",
        Place::Header("x-forwarded-access-token", "{S}"),
    ),
    (
        "nginx: x-forwarded-user",
        Place::Header("x-forwarded-user", "{S}"),
    ),
    (
        "nginx: x-forwarded-email",
        Place::Header("x-forwarded-email", "{S}@example.com"),
    ),
    (
        "nginx: x-original-url",
        Place::Header("x-original-url", "https://api.example/panic?code={S}"),
    ),
    (
        "nginx: x-ssl-client-cert",
        Place::Header("x-ssl-client-cert", "-----BEGIN%20CERTIFICATE-----{S}"),
    ),
    (
        "iis: x-rewrite-url",
        Place::Header("x-rewrite-url", "/panic?pwd={S}"),
    ),
    // Traefik.
    (
        "traefik: x-forwarded-tls-client-cert",
        Place::Header("x-forwarded-tls-client-cert", "{S}"),
    ),
    (
        "traefik: x-forwarded-tls-client-cert-info",
        Place::Header("x-forwarded-tls-client-cert-info", "Subject%3D%22CN%3D{S}%22"),
    ),
    (
        "traefik: x-forwarded-host userinfo",
        Place::Header("x-forwarded-host", "alice:{S}@api.example"),
    ),
    (
        "traefik: basicauth header field",
        Place::Header("x-webauth-user", "{S}"),
    ),
    (
        "traefik: x-forwarded-prefix",
        Place::Header("x-forwarded-prefix", "/api?token={S}"),
    ),
    // AWS ALB and API Gateway.
    (
        "aws alb: x-amzn-oidc-accesstoken",
        Place::Header("x-amzn-oidc-accesstoken", "{S}"),
    ),
    (
        "aws alb: x-amzn-oidc-identity",
        Place::Header("x-amzn-oidc-identity", "{S}"),
    ),
    (
        "aws alb: x-amzn-oidc-data",
        Place::Header("x-amzn-oidc-data", "eyJ0eXAiOiJKV1QifQ.{S}.c2ln"),
    ),
    (
        "aws: x-amz-security-token",
        Place::Header("x-amz-security-token", "{S}"),
    ),
    (
        "aws: X-Amz-Credential query",
        Place::Query("X-Amz-Credential={S}"),
    ),
    // Google Cloud.
    (
        "google iap: authenticated user email",
        Place::Header(
            "x-goog-authenticated-user-email",
            "accounts.google.com:{S}@example.com",
        ),
    ),
    (
        "google iap: authenticated user id",
        Place::Header("x-goog-authenticated-user-id", "accounts.google.com:{S}"),
    ),
    (
        "google endpoints: x-endpoint-api-userinfo",
        Place::Header("x-endpoint-api-userinfo", "{S}"),
    ),
    (
        "google api gateway: userinfo",
        Place::Header("x-apigateway-api-userinfo", "{S}"),
    ),
    (
        "google cloud run: x-serverless-authorization",
        Place::Header("x-serverless-authorization", "Bearer {S}"),
    ),
    // Cloudflare Access.
    (
        "cloudflare: cf-access-jwt-assertion",
        Place::Header("cf-access-jwt-assertion", "{S}"),
    ),
    (
        "cloudflare: cf-access-client-id",
        Place::Header("cf-access-client-id", "{S}.access"),
    ),
    (
        "cloudflare: cf-access-client-secret",
        Place::Header("cf-access-client-secret", "{S}"),
    ),
    (
        "cloudflare: authenticated user email",
        Place::Header("cf-access-authenticated-user-email", "{S}@example.com"),
    ),
    (
        "cloudflare: CF_Authorization cookie",
        Place::Header("cookie", "CF_Authorization={S}"),
    ),
    // Webhooks.
    (
        "github: x-hub-signature",
        Place::Header("x-hub-signature", "sha1={S}"),
    ),
    (
        "github: x-hub-signature-256",
        Place::Header("x-hub-signature-256", "sha256={S}"),
    ),
    ("gitlab: x-gitlab-token", Place::Header("x-gitlab-token", "{S}")),
    (
        "stripe: stripe-signature",
        Place::Header("stripe-signature", "t=1700000000,v1={S}"),
    ),
    (
        "slack: x-slack-signature",
        Place::Header("x-slack-signature", "v0={S}"),
    ),
    (
        "shopify: x-shopify-hmac-sha256",
        Place::Header("x-shopify-hmac-sha256", "{S}"),
    ),
    // Azure, DPoP, callback URLs, browsers.
    (
        "azure apim: subscription key",
        Place::Header("ocp-apim-subscription-key", "{S}"),
    ),
    (
        "azure app service: client principal",
        Place::Header("x-ms-client-principal", "{S}"),
    ),
    (
        "azure app service: aad token",
        Place::Header("x-ms-token-aad-access-token", "{S}"),
    ),
    (
        "dpop proof",
        Place::Header("dpop", "eyJ0eXAiOiJkcG9wK2p3dCJ9.{S}.c2ln"),
    ),
    (
        "callback url header",
        Place::Header("x-my-callback-url", "https://hooks.example/cb?sig={S}"),
    ),
    (
        "referer with nested url",
        Place::Header(
            "referer",
            "https://app.example/login?next=https%3A%2F%2Fapp.example%2Fcb%3Ftoken%3D{S}",
        ),
    ),
    (
        "origin userinfo",
        Place::Header("origin", "https://alice:{S}@app.example"),
    ),
    // Query names and nested URLs.
    ("query: pwd", Place::Query("pwd={S}")),
    ("query: pass", Place::Query("pass={S}")),
    ("query: SAMLResponse", Place::Query("SAMLResponse={S}")),
    ("query: cas ticket", Place::Query("ticket=ST-{S}")),
    ("query: PHPSESSID", Place::Query("PHPSESSID={S}")),
    ("query: client_assertion", Place::Query("client_assertion={S}")),
    ("query: raw nested path", Place::Query("next=/cb?code={S}")),
    (
        "query: doubly encoded",
        Place::Query("return_to=https%253A%252F%252Fx%252F%253Fapi_key%253D{S}"),
    ),
    (
        "query: encoded query in a value",
        Place::Query("state=a%3D1%26id_token%3D{S}"),
    ),
    (
        "query: nested userinfo",
        Place::Query("u=https%3A%2F%2Falice%3A{S}%40x.example%2F"),
    ),
];

/// The requests the vectors ride on: (name, path before the query, status, reported to Sentry).
const SHAPES: [(&str, &str, u16, bool); 3] = [
    ("panic", "/panic", 500, true),
    ("reset-down", "/reset-password/{S}", 503, true),
    ("reset", "/reset-password/{S}", 200, false),
];

/// The harmless header that must reach Sentry as sent.
const USER_AGENT: &str = "belfry-gateway-vectors/1.0";

#[test]
fn gateway_vectors_leave_no_secret_in_sentry_stdout_or_metrics() {
    let started = Instant::now();
    let sentry = SentryServer::shared();
    let demo = Demo::builder().env("SENTRY_DSN", sentry.dsn()).start();
    let run: String = unique("g").chars().filter(char::is_ascii_digit).collect();
    let mut secrets: BTreeMap<String, String> = BTreeMap::new();
    let mut sent = Vec::new();
    for (shape, path, status, reported) in SHAPES {
        let mut plant = |label: &str| {
            // Ends in a letter: no secret is a prefix of another.
            let secret = format!("sk{run}{shape}{}z", secrets.len()).replace('-', "");
            secrets.insert(secret.clone(), format!("{shape}: {label}"));
            secret
        };
        let mut target = path.replace("{S}", &plant("issue: reset-password path"));
        target.push_str("?page=2");
        if shape == "reset-down" {
            target.push_str("&identity=down");
        }
        let mut headers = String::new();
        for (label, place) in VECTORS {
            match place {
                Place::Header(name, value) => {
                    headers.push_str(&format!("{name}: {}\r\n", value.replace("{S}", &plant(label))));
                }
                Place::Query(pair) => {
                    target.push('&');
                    target.push_str(&pair.replace("{S}", &plant(label)));
                }
                Place::Path => {}
            }
        }
        let request_id = format!("gateway-{run}-{shape}");
        let request = format!(
            "GET {target} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\nuser-agent: {USER_AGENT}\r\n\
             x-request-id: {request_id}\r\nx-tenant: acme\r\n{headers}\r\n",
            demo.address()
        );
        let response = raw_request(demo.address(), request.as_bytes());
        assert_eq!(response.status, status, "{shape}: {response:?}");
        sent.push((shape, request_id, reported, response));
    }
    let planted_vectors = VECTORS.len();
    assert!(planted_vectors >= 7 + 30, "{planted_vectors} vectors");

    // Wait for what could carry a secret: every access log line, every event, the metrics.
    let mut lines = Vec::new();
    for (shape, request_id, _, _) in &sent {
        let line = demo
            .logs()
            .wait_for_request(request_id, "request completed", LOG_WAIT)
            .unwrap_or_else(|| panic!("{shape}: no access log line"));
        lines.push((*shape, line));
    }
    let mut events = BTreeMap::new();
    for (shape, request_id, reported, _) in &sent {
        if *reported {
            let mine = sentry.wait_for_events(request_id, EVENT_WAIT);
            assert_eq!(mine.len(), 1, "{shape}: one event per failure: {mine:?}");
            events.insert(*shape, mine.into_iter().next().unwrap());
        }
    }
    let deadline = Instant::now() + LOG_WAIT;
    let metrics = loop {
        let metrics = belfry_tests::get(&demo.url("/metrics"), &[]).body;
        let reset_series = metrics
            .lines()
            .filter(|line| {
                line.starts_with("http_server_request_duration_seconds_count")
                    && line.contains("http_route=\"/reset-password/{token}\"")
            })
            .count();
        if reset_series >= 2 || Instant::now() >= deadline {
            break metrics;
        }
        std::thread::sleep(Duration::from_millis(200));
    };

    // The scan: every stdout line, every stored event, the whole exposition.
    let stdout = demo.logs().all();
    let stored: Vec<String> = sentry.events().iter().map(Value::to_string).collect();
    let mut hits = Vec::new();
    for (secret, label) in &secrets {
        hits.extend(
            stdout
                .iter()
                .filter(|line| line.contains(secret))
                .map(|line| format!("stdout: {label}: {line}")),
        );
        hits.extend(
            stored
                .iter()
                .filter(|event| event.contains(secret))
                .map(|event| format!("sentry: {label}: {event}")),
        );
        if metrics.contains(secret) {
            hits.push(format!("metrics: {label}"));
        }
    }
    println!(
        "gateway vectors: {planted_vectors} vectors x {} requests, {} distinct secrets; {} stdout lines, {} stored \
         events, {} bytes of /metrics scanned: {} hits, {:.1} s",
        SHAPES.len(),
        secrets.len(),
        stdout.len(),
        stored.len(),
        metrics.len(),
        hits.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(hits.is_empty(), "secrets leaked:\n{}", hits.join("\n"));

    // Not silence: `page=2`, the route and a harmless header are still there.
    for (shape, line) in &lines {
        let query = line["url.query"].as_str().unwrap_or_default();
        assert!(query.starts_with("page=2&"), "{shape}: {line}");
        assert!(query.contains("jwt=[REDACTED]"), "{shape}: {line}");
        assert_eq!(line["user_agent.original"], USER_AGENT, "{shape}: {line}");
        if *shape == "panic" {
            assert_eq!(line["http.route"], "/panic", "{shape}: {line}");
            assert_eq!(line["url.path"], "/panic", "{shape}: {line}");
        } else {
            assert_eq!(line["http.route"], "/reset-password/{token}", "{shape}: {line}");
            assert_eq!(line["url.path"], "/reset-password/[REDACTED]", "{shape}: {line}");
        }
    }
    for (shape, event) in &events {
        let request = &event["request"];
        let headers = &request["headers"];
        assert_eq!(headers["user-agent"], USER_AGENT, "{shape}: {request}");
        assert_eq!(headers["x-tenant"], "[Filtered]", "{shape}: {request}");
        assert_eq!(headers["x-original-uri"], "[Filtered]", "{shape}: {request}");
        assert_eq!(
            headers["x-forwarded-authorization"], "[REDACTED]",
            "{shape}: {request}"
        );
        assert_eq!(
            headers["x-goog-iap-jwt-assertion"], "[REDACTED]",
            "{shape}: {request}"
        );
        let query = request["query_string"].as_str().unwrap_or_default();
        assert!(query.starts_with("page=2&"), "{shape}: {request}");
        let url = request["url"].as_str().unwrap_or_default();
        let url = url.split('?').next().unwrap_or_default();
        if *shape == "panic" {
            assert!(url.ends_with("/panic"), "{shape}: {url}");
        } else {
            assert!(url.ends_with("/reset-password/[REDACTED]"), "{shape}: {url}");
            assert_eq!(
                event["transaction"], "GET /reset-password/{token}",
                "{shape}: {event}"
            );
        }
    }
    assert!(
        metrics.contains("http_route=\"/reset-password/{token}\""),
        "the route is on /metrics"
    );
}
