//! Serves `lantern-web`'s embedded pages and assets: `/` (the shopper's chat), `/ops` (the
//! operator's dashboard), `/merchant` (the merchant console) and `/assets/...`. Every answer
//! carries its entity tag (a repeat visit with `If-None-Match` gets 304 and no body), asks the
//! browser to revalidate (`no-cache`: the paths carry no version), and a content security
//! policy that allows only this origin, so the pages run no script and load nothing from
//! elsewhere.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lantern_web::{Asset, Page};

use crate::error::ApiError;

/// Only this origin, for everything; no inline script or style.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

pub(crate) fn serve(asset: Asset, headers: &HeaderMap) -> Response {
    let etag = HeaderValue::from_static(asset.etag);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == asset.etag || tag.trim() == "*"));
    let mut response =
        if fresh { StatusCode::NOT_MODIFIED.into_response() } else { asset.body.into_response() };
    let answer = response.headers_mut();
    answer.insert(header::ETAG, etag);
    answer.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    answer.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    answer.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    answer.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    answer.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

pub async fn chat_page(headers: HeaderMap) -> Response {
    serve(lantern_web::page(Page::Chat), &headers)
}

pub async fn ops_page(headers: HeaderMap) -> Response {
    serve(lantern_web::page(Page::Ops), &headers)
}

pub async fn merchant_page(headers: HeaderMap) -> Response {
    serve(lantern_web::page(Page::Merchant), &headers)
}

pub async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let asset = lantern_web::asset(&path).ok_or_else(|| {
        ApiError::not_found(format!("no asset {path:?}; the pages are /, /ops and /merchant"))
    })?;
    Ok(serve(asset, &headers))
}
