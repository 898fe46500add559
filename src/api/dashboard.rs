//! The web dashboard: static files from `dashboard/`, embedded in the binary
//! at build time, served at `/dashboard/` (and `/` redirects there).
//!
//! The page is plain HTML, CSS and JavaScript modules that call the REST
//! API with the user's key; nothing here reads the store. Files are
//! answered with their content type, a (weak) ETag, and `Cache-Control:
//! no-cache` (revalidate every load: the file names carry no version, so a
//! new engine's files must replace the old ones at once; a 304 costs a
//! round trip and no body).

use super::method_not_allowed;
use super::problem::Problem;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Compress;
use actix_web::{guard, web, HttpRequest, HttpResponse, ResponseError};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// One embedded file.
struct Asset {
    /// Path under `/dashboard/`; `""` is the page itself.
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $file:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/dashboard/", $file)),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

const ASSETS: &[Asset] = &[
    asset!("", "index.html", HTML),
    asset!("style.css", "style.css", CSS),
    asset!("js/app.js", "js/app.js", JS),
    asset!("js/api.js", "js/api.js", JS),
    asset!("js/events.js", "js/events.js", JS),
    asset!("js/dom.js", "js/dom.js", JS),
    asset!("js/format.js", "js/format.js", JS),
    asset!("js/phone.js", "js/phone.js", JS),
    asset!("js/overview.js", "js/overview.js", JS),
    asset!("js/agents.js", "js/agents.js", JS),
    asset!("js/schedule.js", "js/schedule.js", JS),
    asset!("js/calls.js", "js/calls.js", JS),
    asset!("js/call.js", "js/call.js", JS),
];

/// The page may load its own files and call its own API, nothing else.
const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; \
                   base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub fn configure(cfg: &mut web::ServiceConfig) {
    let read = || web::route().guard(guard::Any(guard::Get()).or(guard::Head()));
    cfg.service(
        web::resource("/")
            .route(read().to(|| redirect("/dashboard/")))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/dashboard")
            .route(read().to(|| redirect("/dashboard/")))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/dashboard/{path:.*}")
            .wrap(Compress::default())
            .route(read().to(serve))
            .default_service(web::to(method_not_allowed)),
    );
}

async fn redirect(to: &'static str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// Each asset's ETag: a digest of its bytes, computed once.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.body);
                let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
                // Weak: the gzip and plain answers share it.
                format!("W/\"{hex}\"")
            })
            .collect()
    })
}

/// Whether `If-None-Match` names `etag` (or is `*`), compared weakly as
/// RFC 9110 section 13.1.2 says.
fn not_modified(req: &HttpRequest, etag: &str) -> bool {
    let etag = etag.trim_start_matches("W/");
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

async fn serve(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let path = path.into_inner();
    let Some(i) = ASSETS.iter().position(|a| a.path == path) else {
        return Problem::not_found(format!("no dashboard file {path:?}")).error_response();
    };
    let (asset, etag) = (&ASSETS[i], &etags()[i]);
    let unchanged = not_modified(&req, etag);
    let mut res = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    if asset.content_type == HTML {
        res.insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ));
    }
    if unchanged {
        return res.finish();
    }
    res.content_type(asset.content_type).body(asset.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_known_type_and_a_distinct_path() {
        let mut paths: Vec<_> = ASSETS.iter().map(|a| a.path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), ASSETS.len());
        for a in ASSETS {
            assert!([HTML, CSS, JS].contains(&a.content_type), "{}", a.path);
            assert!(!a.body.is_empty(), "{} is empty", a.path);
        }
    }

    #[test]
    fn every_module_the_page_imports_is_embedded() {
        // `import ... from "./x.js"` in any script must name an asset, or
        // the browser gets a 404 for it.
        for a in ASSETS.iter().filter(|a| a.content_type == JS) {
            let text = std::str::from_utf8(a.body).unwrap();
            for spec in text.split("from \"./").skip(1) {
                let name = spec.split('"').next().unwrap();
                let path = format!("js/{name}");
                assert!(
                    ASSETS.iter().any(|b| b.path == path),
                    "{} imports {path}, which is not embedded",
                    a.path
                );
            }
        }
    }
}
