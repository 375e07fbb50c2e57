//! The console's stylesheet and script, built into the binary.

use super::Answer;
use super::render;

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// `GET /assets/<name>`.
pub fn serve(path: &str) -> Answer {
    let (content_type, text) = match path {
        "/assets/console.css" => ("text/css; charset=utf-8", CSS),
        "/assets/console.js" => ("text/javascript; charset=utf-8", JS),
        _ => return render::html(404, "<p>No such file.</p>".into()),
    };
    let mut a = render::answer(200, content_type, text.as_bytes().to_vec());
    a.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("max-age=300"),
    );
    a
}
