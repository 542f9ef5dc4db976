//! Service roots and the URL policy: which URLs may receive which token. Owns
//! [`Audience`], [`ServiceRoot`] and [`SecretUrl`]; must not know any service's routes.
//!
//! A token for an audience is sent only to that audience's configured service root: a URL
//! is accepted when, after a real URL parser (the `url` crate, WHATWG rules) has resolved
//! it against the root, its scheme, host and port equal the root's and it carries no
//! userinfo. Relative references, protocol-relative `//host`, backslashes, surrounding or
//! embedded whitespace, percent-encoded and mixed-case hosts, IPv6 literals and `user@host`
//! are therefore judged by what they resolve to, never by how they are spelled. A refusal
//! names the host the URL pointed to, never its path or query (they may carry secrets).

use std::fmt;

use url::Url;

use super::error::ServiceError;

/// Whom a token is for: one audience per service closeout talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Audience {
    /// Microsoft Graph (`https://graph.microsoft.com/.default` in the global cloud).
    Graph,
    /// Azure Resource Manager (`https://management.azure.com/.default`), Microsoft.Billing too.
    Arm,
    /// Partner Center (`https://api.partnercenter.microsoft.com/.default`).
    PartnerCenter,
}

impl Audience {
    /// The environment variable `--auth token` reads this service's token from.
    pub fn token_variable(self) -> &'static str {
        match self {
            Audience::Graph => "CLOSEOUT_ACCESS_TOKEN",
            Audience::Arm => "CLOSEOUT_ARM_ACCESS_TOKEN",
            Audience::PartnerCenter => "CLOSEOUT_PARTNER_CENTER_ACCESS_TOKEN",
        }
    }

    /// The service's name in messages ("Graph answered 503 ...").
    pub fn name(self) -> &'static str {
        match self {
            Audience::Graph => "Graph",
            Audience::Arm => "Azure Resource Manager",
            Audience::PartnerCenter => "Partner Center",
        }
    }
}

/// `true` for `localhost`, 127.0.0.0/8 and `::1`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The host (and port, when not the scheme's default) of `url`, as messages name it. The
/// `url` crate serialises hosts in ASCII (punycode, lower case, IPv6 in brackets), so the
/// result carries no control characters.
pub fn host_of(url: &Url) -> String {
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .unwrap_or("(no host)");
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// Path and query of `url`, as errors show a request closeout made itself.
pub fn shown(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{}", url.path(), q),
        None => url.path().to_string(),
    }
}

/// The path of `url` without its query: how a request is named where the query could carry
/// server-chosen values (body bounds, paging limits).
pub fn route(url: &Url) -> String {
    url.path().to_string()
}

/// One configured service root (scheme, host, port, base path) and the audience whose
/// token it may receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRoot {
    audience: Audience,
    base: Url,
}

impl ServiceRoot {
    /// The root `base_url` (e.g. `https://graph.microsoft.com`) for `audience`: `https`, or
    /// plain `http` on loopback only (graph-sim), no userinfo; query and fragment dropped,
    /// trailing `/` trimmed.
    ///
    /// # Errors
    /// [`ServiceError::BadUrl`] naming the URL and what is wrong with it.
    pub fn new(audience: Audience, base_url: &str) -> Result<ServiceRoot, ServiceError> {
        let bad = |reason: &str| ServiceError::BadUrl {
            service: audience.name(),
            url: super::redact::server_text(base_url, 200),
            reason: reason.to_string(),
        };
        let mut base = Url::parse(base_url).map_err(|e| bad(&e.to_string()))?;
        match base.scheme() {
            "https" => {}
            "http" if is_loopback(&base) => {}
            "http" => {
                return Err(bad(
                    "plain http is only allowed on loopback (127.0.0.1, localhost)",
                ))
            }
            _ => return Err(bad("only https URLs are allowed")),
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(bad("credentials in the URL are not allowed; use --auth"));
        }
        if base.host().is_none() {
            return Err(bad("no host"));
        }
        base.set_query(None);
        base.set_fragment(None);
        let trimmed = base.path().trim_end_matches('/').to_string();
        base.set_path(&trimmed);
        Ok(ServiceRoot { audience, base })
    }

    /// The audience whose token this root receives.
    pub fn audience(&self) -> Audience {
        self.audience
    }

    /// The root URL.
    pub fn url(&self) -> &Url {
        &self.base
    }

    /// The root's host (and non-default port), for messages.
    pub fn host(&self) -> String {
        host_of(&self.base)
    }

    /// `true` when `url` may receive this root's token: same scheme, host and port, no
    /// userinfo.
    pub fn admits(&self, url: &Url) -> bool {
        url.scheme() == self.base.scheme()
            && url.host() == self.base.host()
            && url.port_or_known_default() == self.base.port_or_known_default()
            && url.username().is_empty()
            && url.password().is_none()
    }

    /// A path closeout composed itself (`/v1.0/users?$select=id`), under the root's base
    /// path. Absolute URLs are judged like server links.
    ///
    /// # Errors
    /// [`ServiceError::BadUrl`] when the result does not parse;
    /// [`ServiceError::OffService`] when it leaves the root.
    pub fn join(&self, path: &str) -> Result<Url, ServiceError> {
        if !path.starts_with('/') {
            return self.follow(path, "URL");
        }
        let joined = format!("{}{}", self.base.as_str().trim_end_matches('/'), path);
        let url = Url::parse(&joined).map_err(|e| ServiceError::BadUrl {
            service: self.audience.name(),
            url: super::redact::server_text(path, 200),
            reason: e.to_string(),
        })?;
        self.judge(url, "URL")
    }

    /// A link the service handed out (`@odata.nextLink`, `nextLink`, `Location`), named
    /// `what` in messages: resolved against the root by the URL parser, then accepted only
    /// if [`ServiceRoot::admits`] it. Fragments are dropped.
    ///
    /// # Errors
    /// [`ServiceError::OffService`] naming only the host it pointed to, or
    /// [`ServiceError::BadLink`] when it is no URL at all (nothing of it is shown).
    pub fn follow(&self, link: &str, what: &'static str) -> Result<Url, ServiceError> {
        let url = self.base.join(link).map_err(|e| ServiceError::BadLink {
            service: self.audience.name(),
            what,
            reason: e.to_string(),
        })?;
        self.judge(url, what)
    }

    fn judge(&self, mut url: Url, what: &'static str) -> Result<Url, ServiceError> {
        if !self.admits(&url) {
            let pointed = if !matches!(url.scheme(), "http" | "https") {
                // A non-HTTP URL's "host" may be anything: name its scheme only.
                format!("a {}: URL", url.scheme())
            } else if url.username().is_empty() && url.password().is_none() {
                host_of(&url)
            } else {
                format!("{} (with credentials in the URL)", host_of(&url))
            };
            return Err(ServiceError::OffService {
                service: self.audience.name(),
                what,
                host: pointed,
                root: self.host(),
            });
        }
        url.set_fragment(None);
        Ok(url)
    }
}

/// A pre-authenticated URL a service handed out (a usage report's download link): it is
/// itself a credential. It is fetched without any `Authorization` header, and never shown,
/// stored or logged: `Debug` and `Display` show its host only.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(Url);

impl SecretUrl {
    /// Wraps a link resolved against `root` (so a relative `Location` works), accepting
    /// `https` anywhere and `http` on loopback only, never userinfo.
    ///
    /// # Errors
    /// [`ServiceError::BadLink`] (nothing of the link shown).
    pub fn resolve(root: &ServiceRoot, link: &str) -> Result<SecretUrl, ServiceError> {
        let bad = |reason: String| ServiceError::BadLink {
            service: root.audience.name(),
            what: "download link",
            reason,
        };
        let url = root.base.join(link).map_err(|e| bad(e.to_string()))?;
        let ok_scheme = url.scheme() == "https" || (url.scheme() == "http" && is_loopback(&url));
        if !ok_scheme {
            return Err(bad(format!("not https ({})", host_of(&url))));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(format!("credentials in the URL ({})", host_of(&url))));
        }
        Ok(SecretUrl(url))
    }

    /// The host (and non-default port), the only part messages may name.
    pub fn host(&self) -> String {
        host_of(&self.0)
    }

    /// The URL, for the HTTP request only.
    pub(crate) fn expose(&self) -> &Url {
        &self.0
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({}/<redacted>)", self.host())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a download link on {}", self.host())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> ServiceRoot {
        ServiceRoot::new(Audience::Graph, "https://graph.microsoft.com").unwrap()
    }

    #[test]
    fn links_are_judged_after_the_parser_resolved_them() {
        let r = root();
        let same = [
            "/v1.0/users?$skiptoken=a",
            "v1.0/users",
            "https://graph.microsoft.com/v1.0/users?$skiptoken=b",
            "https://GRAPH.Microsoft.COM/v1.0/users",
            "https://gr%61ph.microsoft.com/v1.0/users",
            "https://graph.microsoft.com:443/v1.0/users",
            "  https://graph.microsoft.com/v1.0/users  ",
            "https://graph.microsoft.com/v1.0/users#frag",
        ];
        for l in same {
            let u = r
                .follow(l, "@odata.nextLink")
                .unwrap_or_else(|e| panic!("{l}: {e}"));
            assert_eq!(u.host_str(), Some("graph.microsoft.com"), "{l}");
            assert!(u.fragment().is_none());
        }
        let off = [
            ("//evil.example/v1.0/users", "evil.example"),
            (
                "https://evil.example/v1.0?$skiptoken=SECRET",
                "evil.example",
            ),
            (
                "http://graph.microsoft.com/v1.0/users",
                "graph.microsoft.com",
            ),
            (
                "https://graph.microsoft.com:8443/v1.0",
                "graph.microsoft.com:8443",
            ),
            ("https:\\\\evil.example\\v1.0", "evil.example"),
            ("/\\evil.example/v1.0", "evil.example"),
            ("https://graph.microsoft.com@evil.example/", "evil.example"),
            (
                "https://user:pw@graph.microsoft.com/v1.0",
                "graph.microsoft.com",
            ),
            ("https://[::1]/v1.0", "[::1]"),
            (
                "https://graph.microsoft.com.evil.example/",
                "graph.microsoft.com.evil.example",
            ),
            ("\thttps://ev\nil.example/x", "evil.example"),
            ("https://%65vil.example/", "evil.example"),
        ];
        for (l, host) in off {
            let e = r.follow(l, "@odata.nextLink").unwrap_err();
            let text = e.to_string();
            assert!(matches!(e, ServiceError::OffService { .. }), "{l}: {text}");
            assert!(text.contains(host), "{l}: {text}");
            assert!(
                !text.contains("SECRET") && !text.contains("v1.0"),
                "{l}: {text}"
            );
            assert!(!text.contains("pw"), "{l}: {text}");
        }
        let e = r.follow("https://", "Location").unwrap_err();
        assert!(matches!(e, ServiceError::BadLink { .. }), "{e}");
    }

    #[test]
    fn roots_are_https_or_loopback_http_without_credentials() {
        for ok in [
            "https://graph.microsoft.com/",
            "http://127.0.0.1:9",
            "http://[::1]:9",
            "http://localhost:1",
        ] {
            ServiceRoot::new(Audience::Graph, ok).unwrap();
        }
        for bad in [
            "http://graph.microsoft.com",
            "ftp://127.0.0.1",
            "https://u:p@graph.microsoft.com",
            "not a url",
        ] {
            assert!(ServiceRoot::new(Audience::Graph, bad).is_err(), "{bad}");
        }
        let loopback = ServiceRoot::new(Audience::Graph, "http://127.0.0.1:8080").unwrap();
        for other in [
            "http://127.0.0.2:8080/x",
            "http://127.0.0.1:8081/x",
            "http://localhost:8080/x",
            "http://[::1]:8080/x",
        ] {
            assert!(loopback.follow(other, "nextLink").is_err(), "{other}");
        }
    }

    #[test]
    fn a_secret_url_shows_only_its_host() {
        let s =
            SecretUrl::resolve(&root(), "https://reports.example.net/r.csv?sig=SECRET").unwrap();
        assert!(!format!("{s} {s:?}").contains("SECRET"));
        assert_eq!(s.host(), "reports.example.net");
        assert!(SecretUrl::resolve(&root(), "http://reports.example.net/x").is_err());
    }

    /// Seeded property test over generated link spellings: whatever the parser makes of a
    /// link, it is accepted exactly when it resolves to the root's scheme, host and port
    /// without userinfo, and a refusal never shows the path or query.
    /// `CLOSEOUT_URL_FUZZ_ITERATIONS=1000000 cargo test --lib protocol::root` for a long run.
    #[test]
    fn generated_link_spellings_never_leave_the_root() {
        use rand::{Rng, SeedableRng};
        let iterations: usize = std::env::var("CLOSEOUT_URL_FUZZ_ITERATIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20_000);
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x10_c105e);
        let pick =
            |rng: &mut rand::rngs::StdRng, xs: &[&'static str]| xs[rng.random_range(0..xs.len())];
        let ws = ["", "", " ", "\t", "\n", "\r", "\u{0}", "\u{a0}"];
        let schemes = ["https", "http", "HTTPS", "hTtPs", "ftp", "javascript", ""];
        let seps = [
            "://", "://", ":/", ":\\\\", "//", "\\\\", "/\\", ":", "", ":///",
        ];
        let users = [
            "",
            "",
            "",
            "user@",
            "u:p@",
            "graph.microsoft.com@",
            "%40@",
            "@",
        ];
        let hosts = [
            "graph.microsoft.com",
            "GRAPH.Microsoft.Com",
            "gr%61ph.microsoft.com",
            "evil.example",
            "graph.microsoft.com.evil.example",
            "[::1]",
            "127.0.0.1",
            "graph.microsoft.com.",
            "xn--grph-6qa.microsoft.com",
            "gr\u{0430}ph.microsoft.com",
            "graph%2emicrosoft.com",
            "",
        ];
        let ports = ["", "", ":443", ":80", ":8443", ":0443", ":", ":99999"];
        let paths = [
            "/v1.0/users",
            "",
            "/..//evil.example/x",
            "/v1.0\\..\\x",
            "/%2e%2e/x",
            "/a b",
        ];
        let queries = ["", "?$skiptoken=QSECRET", "?sig=QSECRET#frag", "#QSECRET"];
        let r = root();
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..iterations {
            let link = format!(
                "{}{}{}{}{}{}{}{}{}",
                pick(&mut rng, &ws),
                pick(&mut rng, &schemes),
                pick(&mut rng, &seps),
                pick(&mut rng, &users),
                pick(&mut rng, &hosts),
                pick(&mut rng, &ports),
                pick(&mut rng, &paths),
                pick(&mut rng, &queries),
                pick(&mut rng, &ws),
            );
            let oracle = r.url().join(&link).ok().filter(|u| {
                u.scheme() == "https"
                    && u.host_str() == Some("graph.microsoft.com")
                    && u.port_or_known_default() == Some(443)
                    && u.username().is_empty()
                    && u.password().is_none()
            });
            match r.follow(&link, "@odata.nextLink") {
                Ok(u) => {
                    accepted += 1;
                    assert!(oracle.is_some(), "{link:?} accepted as {u}");
                    assert_eq!(u.host_str(), Some("graph.microsoft.com"), "{link:?}");
                    assert_eq!(u.scheme(), "https", "{link:?}");
                    assert_eq!(u.port_or_known_default(), Some(443), "{link:?}");
                    assert!(
                        u.username().is_empty() && u.password().is_none(),
                        "{link:?}"
                    );
                }
                Err(e) => {
                    refused += 1;
                    assert!(oracle.is_none(), "{link:?} refused: {e}");
                    let text = e.to_string();
                    assert!(
                        !text.contains("QSECRET") && !text.contains("v1.0"),
                        "{link:?}: {text}"
                    );
                    assert!(!text.chars().any(char::is_control), "{link:?}: {text:?}");
                }
            }
        }
        assert!(
            accepted > iterations / 50 && refused > iterations / 5,
            "{accepted} / {refused}"
        );
    }
}
