//! The service's Prometheus metrics: requests by route and status, latency
//! histograms by route, detections and errors, in the text exposition
//! format (version 0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    detections: BTreeMap<&'static str, u64>,
    errors: BTreeMap<&'static str, u64>,
}

/// Counters shared by every request.
#[derive(Default)]
pub(crate) struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn with(&self, f: impl FnOnce(&mut Inner)) {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// One finished request.
    pub(crate) fn request(&self, route: &str, status: u16, took: Duration) {
        let secs = took.as_secs_f64();
        self.with(|m| {
            *m.requests.entry((route.to_string(), status)).or_default() += 1;
            let h = m.latency.entry(route.to_string()).or_default();
            h.count += 1;
            h.sum += secs;
            for (i, &bound) in BUCKETS.iter().enumerate() {
                if secs <= bound {
                    h.counts[i] += 1;
                }
            }
        });
    }

    /// One upload screened: `marked` or `unmarked`.
    pub(crate) fn detection(&self, result: &'static str) {
        self.with(|m| *m.detections.entry(result).or_default() += 1);
    }

    /// One failure of `kind` (e.g. `not_audio`, `too_large`, `timeout`,
    /// `catalogue_unavailable`, `client_disconnected`).
    pub(crate) fn error(&self, kind: &'static str) {
        self.with(|m| *m.errors.entry(kind).or_default() += 1);
    }

    /// Everything, in the Prometheus text format.
    pub(crate) fn render(&self) -> String {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        out.push_str(
            "# HELP earmark_http_requests_total HTTP requests answered, by route and status.\n",
        );
        out.push_str("# TYPE earmark_http_requests_total counter\n");
        for ((route, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "earmark_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str(
            "# HELP earmark_http_request_duration_seconds Time to answer a request, by route.\n",
        );
        out.push_str("# TYPE earmark_http_request_duration_seconds histogram\n");
        for (route, h) in &m.latency {
            let route = escape(route);
            for (bound, n) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "earmark_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "earmark_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "earmark_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "earmark_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        out.push_str(
            "# HELP earmark_detections_total Uploads screened for the marker, by result.\n",
        );
        out.push_str("# TYPE earmark_detections_total counter\n");
        for result in ["marked", "unmarked"] {
            let n = m.detections.get(result).copied().unwrap_or(0);
            let _ = writeln!(out, "earmark_detections_total{{result=\"{result}\"}} {n}");
        }
        out.push_str("# HELP earmark_errors_total Requests that failed, by kind.\n");
        out.push_str("# TYPE earmark_errors_total counter\n");
        for (kind, n) in &m.errors {
            let _ = writeln!(out, "earmark_errors_total{{kind=\"{kind}\"}} {n}");
        }
        out
    }
}

/// A label value as the text format wants it.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.request("/matches/byBinding", 200, Duration::from_millis(3));
        m.request("/matches/byBinding", 200, Duration::from_millis(40));
        m.request("/v1/verify", 422, Duration::from_millis(7));
        m.detection("marked");
        m.error("not_audio");
        let text = m.render();
        assert!(text.contains(
            "earmark_http_requests_total{route=\"/matches/byBinding\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "earmark_http_request_duration_seconds_bucket{route=\"/matches/byBinding\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "earmark_http_request_duration_seconds_bucket{route=\"/matches/byBinding\",le=\"0.05\"} 2"
        ));
        assert!(text.contains("earmark_detections_total{result=\"marked\"} 1"));
        assert!(text.contains("earmark_detections_total{result=\"unmarked\"} 0"));
        assert!(text.contains("earmark_errors_total{kind=\"not_audio\"} 1"));
    }
}
