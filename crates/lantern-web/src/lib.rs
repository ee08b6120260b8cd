//! Lantern's web pages, embedded in the binary so they work with no internet: the shopper's chat
//! (`/`), the operator's live dashboard (`/ops`) and the merchant console (`/merchant`). Plain
//! HTML, CSS and ES modules with no framework and no CDN; the charts are hand-written SVG.
//!
//! This crate knows nothing of HTTP: [`page`] and [`asset`] hand the gateway bytes, a content
//! type and an entity tag (a hash of the bytes computed at compile time), and the gateway serves
//! them.

/// One embedded file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Asset {
    pub body: &'static [u8],
    pub content_type: &'static str,
    /// A strong entity tag, quoted, for `ETag` / `If-None-Match`.
    pub etag: &'static str,
}

/// FNV-1a, 64 bits: cheap, deterministic, and enough to tell two versions of a file apart.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut index = 0;
    while index < bytes.len() {
        hash ^= bytes[index] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        index += 1;
    }
    hash
}

/// The hash as a quoted 16-digit hex entity tag, at compile time.
const fn etag_of(bytes: &[u8]) -> [u8; 18] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hash = fnv1a(bytes);
    let mut out = [b'"'; 18];
    let mut index = 0;
    while index < 16 {
        out[1 + index] = HEX[((hash >> (60 - 4 * index)) & 0xf) as usize];
        index += 1;
    }
    out
}

macro_rules! embedded {
    ($( $name:literal => $content_type:literal ),* $(,)?) => {
        /// Every file, by its path under `/assets/` (pages by their file name).
        const FILES: &[(&str, Asset)] = &[
            $((
                $name,
                Asset {
                    body: include_bytes!(concat!("../assets/", $name)),
                    content_type: $content_type,
                    etag: {
                        const TAG: [u8; 18] = etag_of(include_bytes!(concat!("../assets/", $name)));
                        match std::str::from_utf8(&TAG) {
                            Ok(text) => text,
                            Err(_) => panic!("entity tags are ASCII"),
                        }
                    },
                },
            )),*
        ];
    };
}

embedded! {
    "chat.html" => "text/html; charset=utf-8",
    "ops.html" => "text/html; charset=utf-8",
    "merchant.html" => "text/html; charset=utf-8",
    "starting.html" => "text/html; charset=utf-8",
    "lantern.css" => "text/css; charset=utf-8",
    "common.js" => "text/javascript; charset=utf-8",
    "chat.js" => "text/javascript; charset=utf-8",
    "ops.js" => "text/javascript; charset=utf-8",
    "merchant.js" => "text/javascript; charset=utf-8",
    "starting.js" => "text/javascript; charset=utf-8",
    "charts.js" => "text/javascript; charset=utf-8",
    "icon.svg" => "image/svg+xml",
}

/// The pages the gateway serves at their own paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    /// `/`: the shopper's chat.
    Chat,
    /// `/ops`: the operator's live dashboard.
    Ops,
    /// `/merchant`: the merchant console.
    Merchant,
    /// What `/`, `/ops` and `/merchant` show while the gateway starts: its progress, opening
    /// the real page once the gateway is ready.
    Starting,
}

/// A page's HTML.
pub fn page(page: Page) -> Asset {
    let name = match page {
        Page::Chat => "chat.html",
        Page::Ops => "ops.html",
        Page::Merchant => "merchant.html",
        Page::Starting => "starting.html",
    };
    match asset(name) {
        Some(asset) => asset,
        None => unreachable!("every page is embedded"),
    }
}

/// A file under `/assets/`, by its path there; `None` for anything not embedded (no path is
/// ever looked up on disk, so `..` and the like simply do not exist).
pub fn asset(path: &str) -> Option<Asset> {
    FILES.iter().find(|(name, _)| *name == path).map(|(_, asset)| *asset)
}

/// Every embedded path, for tests and listings.
pub fn paths() -> impl Iterator<Item = &'static str> {
    FILES.iter().map(|(name, _)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(asset: Asset) -> &'static str {
        std::str::from_utf8(asset.body).unwrap_or_else(|error| panic!("assets are UTF-8: {error}"))
    }

    #[test]
    fn every_page_links_only_embedded_assets_and_nothing_remote() {
        for page_kind in [Page::Chat, Page::Ops, Page::Merchant, Page::Starting] {
            let html = text(page(page_kind));
            let mut rest = html;
            let mut n_links = 0;
            while let Some(start) = rest.find("/assets/") {
                let tail = &rest[start + "/assets/".len()..];
                let end = tail.find(['"', '\'', ')']).unwrap_or(tail.len());
                assert!(
                    asset(&tail[..end]).is_some(),
                    "{page_kind:?} links /assets/{} which is not embedded",
                    &tail[..end]
                );
                n_links += 1;
                rest = &tail[end..];
            }
            assert!(n_links >= 2, "{page_kind:?} links its stylesheet and script");
            assert!(html.contains("<html lang="), "{page_kind:?} declares its language");
            assert!(html.contains("name=\"viewport\""), "{page_kind:?} is mobile-first");
        }
        for path in paths() {
            let body = text(asset(path).unwrap_or_else(|| panic!("{path} listed")));
            for remote in ["http://", "https://", "//cdn"] {
                let allowed =
                    body.matches(remote).count() == body.matches(&format!("{remote}www.w3.org")).count();
                assert!(allowed, "{path} refers to a remote address ({remote}); assets must work offline");
            }
        }
    }

    #[test]
    fn modules_import_only_embedded_modules() {
        for path in paths().filter(|path| path.ends_with(".js")) {
            let body = text(asset(path).unwrap_or_else(|| panic!("{path} listed")));
            for line in body.lines().filter(|line| line.starts_with("import ")) {
                let from = line.split(['\'', '"']).nth(1).unwrap_or_else(|| panic!("{path}: {line}"));
                let name = from.trim_start_matches("./");
                assert!(asset(name).is_some(), "{path} imports {from}, which is not embedded");
            }
        }
    }

    #[test]
    fn unknown_paths_and_traversal_find_nothing_and_tags_differ_by_content() {
        assert_eq!(asset("../Cargo.toml"), None);
        assert_eq!(asset(""), None);
        assert_eq!(asset("chat.js/"), None);
        let chat = page(Page::Chat);
        assert_eq!(chat.etag.len(), 18);
        assert!(chat.etag.starts_with('"') && chat.etag.ends_with('"'));
        assert_ne!(chat.etag, page(Page::Ops).etag);
        assert_eq!(std::str::from_utf8(&etag_of(b"")).ok(), Some("\"cbf29ce484222325\""));
    }
}
