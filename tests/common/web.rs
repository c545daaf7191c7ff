//! A real HTTP client for the daemon's listener (ureq), and a PNG reader
//! for screenshots.

use std::time::Duration;

/// An answer: status, headers (lower-case names, in order) and body.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    /// Every value of header `name`.
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// `GET http://127.0.0.1:PORT{path}` with `authorization` (the whole header
/// value) if given. 4xx and 5xx are answers, not errors.
pub fn get(port: u16, path: &str, authorization: Option<&str>) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut request = agent.get(&format!("http://127.0.0.1:{port}{path}"));
    if let Some(a) = authorization {
        request = request.header("Authorization", a);
    }
    let mut response = request.call().unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_ascii_lowercase(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_else(|e| panic!("GET {path}: body: {e}"));
    Answer { status, headers, body }
}

/// A decoded screenshot: width, height and RGBA pixels.
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

/// Reads a PNG as 8-bit RGBA.
pub fn read_png(path: &std::path::Path) -> Picture {
    let file = std::io::BufReader::new(std::fs::File::open(path).expect("open png"));
    let mut decoder = png::Decoder::new(file);
    decoder.set_transformations(png::Transformations::normalize_to_color8() | png::Transformations::ALPHA);
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("png frame");
    assert_eq!(info.color_type, png::ColorType::Rgba, "RGBA after the transformations");
    buf.truncate(info.buffer_size());
    Picture { width: info.width, height: info.height, rgba: buf }
}
