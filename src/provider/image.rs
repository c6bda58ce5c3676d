//! Image parts: a path inside the project, an `http(s)` URL or a `data:` URL becomes an
//! [`Image`] ready for any wire format. Inline images are checked against a size limit and
//! their MIME type is read from the content's magic bytes, not from the file extension or the
//! data URL's claim, because APIs reject a mismatch.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::error::ProviderError;
use super::types::Image;

/// The largest inline image accepted (OpenAI and Anthropic both refuse larger ones).
pub const MAX_IMAGE_BYTES: usize = 20_000_000;

/// The image formats the chat APIs accept, recognised by their first bytes.
pub fn sniff_media_type(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some("image/png"),
        [0xFF, 0xD8, 0xFF, ..] => Some("image/jpeg"),
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some("image/gif"),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some("image/webp"),
        _ => None,
    }
}

/// Resolves an image part's text (after rendering) against the project root.
pub fn load_image(source: &str, root: &Path) -> Result<Image, ProviderError> {
    let source = source.trim();
    if source.is_empty() {
        return Err(image_error("(empty)", "the image part is empty"));
    }
    if source.starts_with("http://") || source.starts_with("https://") {
        return Ok(Image::Url { url: source.to_owned() });
    }
    if let Some(rest) = source.strip_prefix("data:") {
        return from_data_url(source, rest);
    }
    let path = inside_project(source, root)?;
    let read_error = |err| ProviderError::ImageRead { path: path.clone(), source: err };
    // Checked before opening: opening a FIFO blocks until something writes to it.
    let metadata = std::fs::metadata(&path).map_err(read_error)?;
    if !metadata.is_file() {
        return Err(image_error(source, "it is not a regular file"));
    }
    if metadata.len() > MAX_IMAGE_BYTES as u64 {
        return Err(too_large(source, metadata.len() as usize));
    }
    // Read at most one byte past the limit: the file may grow between the check and the read.
    let file = std::fs::File::open(&path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_IMAGE_BYTES as u64 + 1).read_to_end(&mut bytes).map_err(read_error)?;
    inline(source, &bytes)
}

/// The file `source` names, which must be inside the project once `..` and symbolic links are
/// resolved: a prompt or a dataset row must not be able to send any file on the machine to a
/// provider.
fn inside_project(source: &str, root: &Path) -> Result<PathBuf, ProviderError> {
    if Path::new(source).is_absolute() {
        return Err(image_error(source, "it is an absolute path, and image files must be inside the project"));
    }
    let path = root.join(source);
    let canonical = path.canonicalize().map_err(|err| ProviderError::ImageRead { path: path.clone(), source: err })?;
    let root = root.canonicalize().map_err(|err| ProviderError::ImageRead { path: root.to_owned(), source: err })?;
    if !canonical.starts_with(&root) {
        return Err(image_error(source, "it resolves to a file outside the project (through `..` or a symbolic link)"));
    }
    Ok(canonical)
}

fn from_data_url(source: &str, rest: &str) -> Result<Image, ProviderError> {
    let shown = shorten(source);
    let Some((header, payload)) = rest.split_once(',') else {
        return Err(image_error(&shown, "a data URL needs a `,` before its data"));
    };
    if !header.ends_with(";base64") {
        return Err(image_error(&shown, "only base64 data URLs (`data:image/png;base64,...`) are supported"));
    }
    if payload.len() / 4 * 3 > MAX_IMAGE_BYTES {
        return Err(too_large(&shown, payload.len() / 4 * 3));
    }
    let bytes = STANDARD
        .decode(payload.trim())
        .map_err(|err| image_error(&shown, &format!("the base64 data is invalid ({err})")))?;
    inline(&shown, &bytes)
}

fn inline(shown: &str, bytes: &[u8]) -> Result<Image, ProviderError> {
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(too_large(shown, bytes.len()));
    }
    let Some(media_type) = sniff_media_type(bytes) else {
        return Err(image_error(shown, "the content is not a PNG, JPEG, GIF or WebP image"));
    };
    Ok(Image::Base64 { media_type: media_type.to_owned(), data: STANDARD.encode(bytes) })
}

fn too_large(shown: &str, size: usize) -> ProviderError {
    image_error(shown, &format!("it is {size} bytes, over the limit of {MAX_IMAGE_BYTES} bytes"))
}

fn image_error(shown: &str, reason: &str) -> ProviderError {
    ProviderError::Image { source_ref: shown.to_owned(), reason: reason.to_owned() }
}

/// A data URL is shown by its first characters only: it can be megabytes long.
fn shorten(source: &str) -> String {
    match source.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &source[..at]),
        None => source.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1×1 PNG.
    pub(crate) const PNG: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89,
    ];

    #[test]
    fn media_type_comes_from_the_content_not_the_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("photo.jpg"), PNG).expect("write");
        let image = load_image("photo.jpg", dir.path()).expect("loads");
        assert!(matches!(image, Image::Base64 { ref media_type, .. } if media_type == "image/png"), "{image:?}");
        assert!(image.to_url().starts_with("data:image/png;base64,iVBORw0KGgo"));
    }

    #[test]
    fn urls_pass_through_and_data_urls_are_checked() {
        let url = load_image("https://example.com/cat.png", Path::new(".")).expect("url");
        assert_eq!(url, Image::Url { url: "https://example.com/cat.png".into() });
        let data = format!("data:image/jpeg;base64,{}", STANDARD.encode(PNG));
        let image = load_image(&data, Path::new(".")).expect("data url");
        assert!(matches!(image, Image::Base64 { ref media_type, .. } if media_type == "image/png"));
        let err = load_image("data:text/plain;base64,aGVsbG8=", Path::new(".")).expect_err("not an image");
        assert!(err.to_string().contains("not a PNG, JPEG, GIF or WebP"), "{err}");
    }

    #[test]
    fn paths_outside_the_project_are_refused_before_reading() {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = dir.path().join("project");
        std::fs::create_dir_all(project.join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("secret.png"), PNG).expect("write");
        for source in ["/dev/zero", "../secret.png", "sub/../../secret.png"] {
            let err = load_image(source, &project).expect_err("outside");
            assert!(
                err.to_string().contains("inside the project") || err.to_string().contains("outside the project"),
                "{source}: {err}"
            );
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/dev/zero", project.join("zero.png")).expect("symlink");
            std::os::unix::fs::symlink(dir.path().join("secret.png"), project.join("link.png")).expect("symlink");
            for source in ["zero.png", "link.png"] {
                let err = load_image(source, &project).expect_err("a link out");
                assert!(err.to_string().contains("outside the project"), "{source}: {err}");
            }
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_file_that_is_not_regular_is_refused_without_reading_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("pipe.png");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
        assert!(made.success());
        // Reading a FIFO with no writer would block forever; the check comes first.
        let err = load_image("pipe.png", dir.path()).expect_err("not a file");
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    #[test]
    fn unreadable_and_oversized_images_are_clear_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = load_image("missing.png", dir.path()).expect_err("missing");
        assert!(err.to_string().starts_with("failed to read image"), "{err}");
        let big = dir.path().join("big.png");
        let file = std::fs::File::create(&big).expect("create");
        file.set_len(MAX_IMAGE_BYTES as u64 + 1).expect("grow");
        let err = load_image("big.png", dir.path()).expect_err("too big");
        assert!(err.to_string().contains("over the limit"), "{err}");
    }
}
