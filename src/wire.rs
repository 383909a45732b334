//! The message schema on the wire (version 1): JSON requests, responses and errors.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::plan::Tier;

/// The schema version this build speaks.
pub const VERSION: u32 = 1;
/// The request-size limit for small inputs: larger requests are rejected
/// without parsing.
pub const MIN_REQUEST_LIMIT: usize = 64 * 1024;
/// No message simrun sends or accepts is larger (the MQTT limit is 256 MiB).
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024 * 1024;

/// The largest request a worker accepts for samples of `values` values: room
/// for each as JSON text (at most 16 bytes a float, rounded up to 24) and
/// the envelope, never below `MIN_REQUEST_LIMIT` nor above `MAX_MESSAGE_BYTES`.
pub fn request_limit(values: usize) -> usize {
    values.saturating_mul(24).saturating_add(4096).clamp(MIN_REQUEST_LIMIT, MAX_MESSAGE_BYTES)
}

/// What a device publishes on `simrun/<run-id>/<tier>/request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub v: u32,
    pub id: String,
    pub device: String,
    pub features: Vec<f32>,
}

/// What a worker publishes on `simrun/<run-id>/<tier>/response`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub v: u32,
    pub id: String,
    pub tier: Tier,
    pub worker: String,
    /// The score of a one-value output; the top class's value when the
    /// output has more values.
    pub probability: f32,
    /// The top class (index of the largest output value) when the output
    /// has more than one value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<u32>,
    /// Time between the worker receiving the request and starting inference.
    pub queue_us: u64,
    /// Time spent in the inference call.
    pub infer_us: u64,
    /// Time the worker then held its slot to compute as a slower machine
    /// (`compute.slowdown`); absent when it held none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_us: Option<u64>,
}

/// What a worker publishes on `simrun/<run-id>/<tier>/error` for a request it cannot serve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub v: u32,
    /// The request's id when it could be read.
    pub id: Option<String>,
    pub tier: Tier,
    pub worker: String,
    pub error: String,
}

/// Why a request was rejected.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DecodeError {
    #[error("payload of {got} bytes is larger than {limit}")]
    TooLarge { got: usize, limit: usize },
    #[error("not a valid request: {0}")]
    Malformed(String),
    #[error("unsupported schema version {0} (expected {VERSION})")]
    Version(u64),
    #[error("features: expected {expected} values, got {got}")]
    FeatureCount { expected: usize, got: usize },
    #[error("features[{0}] is not a finite 32-bit number")]
    NotFinite(usize),
}

/// Which of a tier's three topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// Devices publish requests; the tier's workers subscribe.
    Request,
    /// Workers publish answers; the collector subscribes.
    Response,
    /// Workers answer a request they cannot serve here.
    Error,
}

impl Topic {
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Request => "request",
            Topic::Response => "response",
            Topic::Error => "error",
        }
    }
}

/// The topic for one tier's requests, responses or errors:
/// `simrun/<run-id>/<tier>/<request|response|error>`.
pub fn topic(run_id: &str, tier: Tier, kind: Topic) -> String {
    format!("simrun/{run_id}/{tier}/{}", kind.as_str())
}

#[derive(Deserialize)]
struct LooseRequest {
    v: u64,
    id: String,
    #[serde(default)]
    device: String,
    features: Vec<f64>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

/// Decodes and checks a request. On failure returns the request id where it
/// could be read, so the error reply can name it.
pub fn decode_request(payload: &[u8], features: usize) -> Result<Request, (Option<String>, DecodeError)> {
    let limit = request_limit(features);
    if payload.len() > limit {
        return Err((None, DecodeError::TooLarge { got: payload.len(), limit }));
    }
    let loose: LooseRequest = match serde_json::from_slice(payload) {
        Ok(r) => r,
        Err(e) => {
            let id = serde_json::from_slice::<IdOnly>(payload).ok().map(|x| x.id);
            return Err((id, DecodeError::Malformed(e.to_string())));
        }
    };
    let id = Some(loose.id.clone());
    if loose.v != u64::from(VERSION) {
        return Err((id, DecodeError::Version(loose.v)));
    }
    if loose.features.len() != features {
        return Err((id, DecodeError::FeatureCount { expected: features, got: loose.features.len() }));
    }
    let mut out = Vec::with_capacity(features);
    for (i, x) in loose.features.iter().enumerate() {
        let f = *x as f32;
        if !f.is_finite() {
            return Err((id, DecodeError::NotFinite(i)));
        }
        out.push(f);
    }
    Ok(Request { v: VERSION, id: loose.id, device: loose.device, features: out })
}

/// A response's `probability` and `class` from one sample's outputs.
pub fn score(output: &[f32]) -> (f32, Option<u32>) {
    match output {
        [one] => (*one, None),
        _ => {
            let (i, top) =
                output
                    .iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |best, (i, x)| if *x > best.1 { (i, *x) } else { best });
            (top, Some(i as u32))
        }
    }
}

/// The predicted label of a response: its class, or 1 when a one-value
/// score is at least 0.5, else 0.
pub fn prediction(probability: f32, class: Option<u32>) -> i64 {
    match class {
        Some(c) => i64::from(c),
        None => i64::from(probability >= 0.5),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_good_request() {
        let r = decode_request(br#"{"v":1,"id":"r/0.0/7","device":"dev-001","features":[0.5,1]}"#, 2).unwrap();
        assert_eq!(r.id, "r/0.0/7");
        assert_eq!(r.features, vec![0.5, 1.0]);
    }

    #[test]
    fn rejects_bad_requests_and_keeps_the_id() {
        let cases: [(&[u8], Option<&str>, &str); 6] = [
            (b"\xff\x00garbage", None, "not a valid request"),
            (br#"{"v":2,"id":"a","features":[1,2]}"#, Some("a"), "unsupported schema version 2"),
            (br#"{"v":1,"id":"b","features":[1]}"#, Some("b"), "expected 2 values, got 1"),
            (br#"{"v":1,"id":"c","features":[1,1e300]}"#, Some("c"), "features[1] is not a finite"),
            (br#"{"v":1,"id":"d","features":"x"}"#, Some("d"), "not a valid request"),
            (br#"{"v":1,"features":[1,2]}"#, None, "missing field `id`"),
        ];
        for (payload, id, text) in cases {
            let (got_id, err) = decode_request(payload, 2).unwrap_err();
            assert_eq!(got_id.as_deref(), id);
            assert!(err.to_string().contains(text), "{err}");
        }
        let big = vec![b' '; MIN_REQUEST_LIMIT + 1];
        let too_large = DecodeError::TooLarge { got: MIN_REQUEST_LIMIT + 1, limit: MIN_REQUEST_LIMIT };
        assert_eq!(decode_request(&big, 2).unwrap_err().1, too_large);
    }

    #[test]
    fn the_request_limit_grows_with_the_input_within_bounds() {
        assert_eq!(request_limit(32), MIN_REQUEST_LIMIT);
        // A 3×96×96 image as JSON text fits; a lone maximal float takes 16 bytes with its comma.
        assert_eq!(request_limit(3 * 96 * 96), 3 * 96 * 96 * 24 + 4096);
        assert!(serde_json::to_vec(&vec![-1.234_567_8e-38f32; 27_648]).unwrap().len() < request_limit(27_648));
        assert_eq!(request_limit(usize::MAX), MAX_MESSAGE_BYTES);
    }

    /// The predicted class of an output: its top index, or the score against
    /// 0.5 for one value.
    #[test]
    fn responses_carry_a_class_only_for_outputs_of_several_values() {
        let (p, c) = score(&[0.1, 0.7, 0.2]);
        assert_eq!((p, c), (0.7, Some(1)));
        assert_eq!(score(&[0.3]), (0.3, None));
        assert_eq!(prediction(0.3, None), 0);
        assert_eq!(prediction(0.5, None), 1);
        assert_eq!(prediction(0.9, Some(4)), 4);
    }
}
