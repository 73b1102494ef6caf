//! The console's and the customer page's static files, embedded in the binary at build time
//! (`include_str!`): one stylesheet and two small scripts, no build step, no CDN.

use actix_web::{HttpResponse, web};

const FILES: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("assets/app.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/live.js"),
    ),
    (
        "track.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/live.js"),
    ),
];

/// `GET /assets/{name}`.
pub async fn serve(name: web::Path<String>) -> HttpResponse {
    match FILES.iter().find(|(file, _, _)| *file == name.as_str()) {
        Some((_, content_type, body)) => HttpResponse::Ok().content_type(*content_type).body(*body),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("no such asset"),
    }
}
