//! The message schema on the wire (version 1): JSON requests, responses and errors.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::plan::{Encoding, Tier};

/// The schema version of JSON messages.
pub const VERSION: u32 = 1;
/// The schema version of binary requests (`broker.encoding: binary`).
pub const BINARY_VERSION: u8 = 2;
/// The first bytes of a binary request.
pub const BINARY_MAGIC: &[u8; 4] = b"SIMR";
/// The element type code of float32 values in a binary request.
const DTYPE_F32: u8 = 1;
/// The kind code of a request.
const KIND_REQUEST: u8 = 1;
/// How the error reply to a request refused for a full worker queue begins.
pub const OVERLOADED: &str = "overloaded";
/// Dimensions a binary request's shape may have.
pub const MAX_DIMS: usize = 8;
/// The request-size limit for small inputs: larger requests are rejected
/// without parsing.
pub const MIN_REQUEST_LIMIT: usize = 64 * 1024;
/// No message simrun sends or accepts is larger (the MQTT limit is 256 MiB).
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024 * 1024;

/// The largest request a worker accepts for samples of `values` values: room
/// for each as JSON text (at most 16 bytes a float, rounded up to 24) and
/// the envelope, never below `MIN_REQUEST_LIMIT` nor above `MAX_MESSAGE_BYTES`.
/// A binary request needs 4 bytes a value and its header, so fits too.
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
    /// How long after its due end the hold ended (0 when on time or early);
    /// present with `held_us`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_late_us: Option<u64>,
    /// How many requests ran in the inference call this one ran in, when the
    /// tier batches (`tiers.<tier>.batching`); `infer_us` is that call's time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u32>,
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

/// What an edge worker under `placement: offload` publishes on
/// `simrun/<run-id>/edge/offloaded` when it forwards a request to the
/// cloud's request topic instead of serving it, and under `placement:
/// partition` when it forwards a request's intermediate tensor: the
/// measurement's side channel, so that the device's record says why and
/// what the head took (docs/wire.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offloaded {
    pub v: u32,
    pub id: String,
    pub worker: String,
    /// `edge queue 5 ≥ 4`, `split at r4`
    pub reason: String,
    /// Under `placement: partition`: what the head took and sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<Head>,
}

/// The head's part of a partitioned request, as the edge worker saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Waiting for a slot, the inference call, and the slowdown's hold.
    pub queue_us: u64,
    pub infer_us: u64,
    #[serde(default)]
    pub held_us: u64,
    /// The payload forwarded to the cloud, in bytes.
    pub bytes: u32,
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
    #[error("binary request: {0}")]
    Binary(String),
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
    /// An offloading edge says which requests it forwarded to the cloud.
    Offloaded,
}

impl Topic {
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Request => "request",
            Topic::Response => "response",
            Topic::Error => "error",
            Topic::Offloaded => "offloaded",
        }
    }
}

/// The topic for one tier's requests, responses, errors or offload notices
/// to and from the devices of one slot:
/// `simrun/<run-id>/<tier>/<request|response|error|offloaded>/<slot>`.
/// Slot 0 is the run's own devices, slot `k` device host `k`'s: a worker
/// answers on the slot a request came in on, so each collector receives the
/// answers its own devices wait for and no others.
pub fn topic(run_id: &str, tier: Tier, kind: Topic, slot: u32) -> String {
    with_slot(&prefix(run_id, tier, kind), slot)
}

/// A topic without its slot: `simrun/<run-id>/<tier>/<kind>`.
pub fn prefix(run_id: &str, tier: Tier, kind: Topic) -> String {
    format!("simrun/{run_id}/{tier}/{}", kind.as_str())
}

/// The filter that matches `kind` of `tier` in every slot (what a tier's
/// workers subscribe to).
pub fn every_slot(run_id: &str, tier: Tier, kind: Topic) -> String {
    with_slot(&prefix(run_id, tier, kind), "+")
}

/// The slot a topic names: its last level.
pub fn slot_of(topic: &str) -> &str {
    topic.rsplit('/').next().unwrap_or(topic)
}

/// A topic `prefix` in `slot`; how a worker turns the slot a request came in
/// on into the topic its answer goes to.
pub fn with_slot(prefix: &str, slot: impl std::fmt::Display) -> String {
    format!("{prefix}/{slot}")
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

/// A request as bytes: JSON (version 1) or binary (version 2), `shape`
/// being one sample's dimensions.
pub fn encode_request(request: &Request, shape: &[usize], encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Json => serde_json::to_vec(request).unwrap_or_default(),
        Encoding::Binary => encode_binary(request, shape),
    }
}

/// The binary request: magic, version, kind, dtype, rank, then the id and
/// the device (u16 length and UTF-8 each), the dimensions (u32 each), and
/// the values, float32; every number little-endian (docs/wire.md).
fn encode_binary(request: &Request, shape: &[usize]) -> Vec<u8> {
    let (id, device) = (request.id.as_bytes(), request.device.as_bytes());
    let mut out = Vec::with_capacity(16 + id.len() + device.len() + 4 * shape.len() + 4 * request.features.len());
    out.extend_from_slice(BINARY_MAGIC);
    out.extend_from_slice(&[BINARY_VERSION, KIND_REQUEST, DTYPE_F32, shape.len() as u8]);
    for text in [id, device] {
        out.extend_from_slice(&(text.len().min(usize::from(u16::MAX)) as u16).to_le_bytes());
        out.extend_from_slice(&text[..text.len().min(usize::from(u16::MAX))]);
    }
    for d in shape {
        out.extend_from_slice(&(*d as u32).to_le_bytes());
    }
    for x in &request.features {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// Reads a binary request; `features` is the number of values a sample must hold.
fn decode_binary(payload: &[u8], features: usize) -> Result<Request, (Option<String>, DecodeError)> {
    let fail = |id: Option<String>, m: String| (id, DecodeError::Binary(m));
    let mut at = BINARY_MAGIC.len();
    let header = payload.get(at..at + 4).ok_or_else(|| fail(None, "truncated header".into()))?;
    let (version, kind, dtype, rank) = (header[0], header[1], header[2], usize::from(header[3]));
    at += 4;
    let mut text = |what: &str| -> Result<String, (Option<String>, DecodeError)> {
        let len = payload.get(at..at + 2).ok_or_else(|| fail(None, format!("truncated before the {what}")))?;
        let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
        let bytes = payload.get(at + 2..at + 2 + len).ok_or_else(|| fail(None, format!("truncated {what}")))?;
        at += 2 + len;
        String::from_utf8(bytes.to_vec()).map_err(|_| fail(None, format!("the {what} is not UTF-8")))
    };
    let id = text("id");
    if version != BINARY_VERSION {
        // Another version's layout may differ: its id is carried only where it reads as ours would.
        let message = format!("unsupported binary version {version} (expected {BINARY_VERSION})");
        return Err(fail(id.ok(), message));
    }
    let id = id?;
    let device = text("device")?;
    let known = Some(id.clone());
    if kind != KIND_REQUEST {
        return Err(fail(known, format!("kind {kind} is not a request (1)")));
    }
    if dtype != DTYPE_F32 {
        return Err(fail(known, format!("dtype {dtype} is not supported (1: float32)")));
    }
    if rank > MAX_DIMS {
        return Err(fail(known, format!("{rank} dimensions, more than {MAX_DIMS}")));
    }
    let dims = payload.get(at..at + 4 * rank).ok_or_else(|| fail(known.clone(), "truncated shape".into()))?;
    let shape: Vec<usize> =
        dims.chunks_exact(4).map(|d| u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize).collect();
    at += 4 * rank;
    let values = shape.iter().try_fold(1usize, |n, d| n.checked_mul(*d)).unwrap_or(usize::MAX);
    if values != features {
        let shown: Vec<String> = shape.iter().map(usize::to_string).collect();
        let m = format!("shape [{}] holds {values} values, expected {features}", shown.join(", "));
        return Err(fail(known, m));
    }
    let body = &payload[at..];
    if body.len() != 4 * features {
        return Err(fail(known, format!("body of {} bytes, the shape needs {}", body.len(), 4 * features)));
    }
    let mut out = Vec::with_capacity(features);
    for (i, b) in body.chunks_exact(4).enumerate() {
        let x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if !x.is_finite() {
            return Err((known, DecodeError::NotFinite(i)));
        }
        out.push(x);
    }
    Ok(Request { v: u32::from(BINARY_VERSION), id, device, features: out })
}

/// Decodes and checks a request, JSON (version 1) or binary (version 2,
/// recognised by its first bytes), whatever the run's encoding. On failure
/// returns the request id where it could be read, so the error reply can name it.
pub fn decode_request(payload: &[u8], features: usize) -> Result<Request, (Option<String>, DecodeError)> {
    let limit = request_limit(features);
    if payload.len() > limit {
        return Err((None, DecodeError::TooLarge { got: payload.len(), limit }));
    }
    if payload.starts_with(BINARY_MAGIC) {
        return decode_binary(payload, features);
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

    fn binary(shape: &[usize], values: &[f32]) -> Vec<u8> {
        let r = Request { v: 2, id: "r/0.0/7".into(), device: "dev-001".into(), features: values.to_vec() };
        encode_request(&r, shape, Encoding::Binary)
    }

    #[test]
    fn binary_requests_read_back_and_name_their_faults() {
        let good = binary(&[2, 2], &[0.5, -1.0, 2.0, 3.5]);
        assert_eq!(&good[..8], b"SIMR\x02\x01\x01\x02");
        assert_eq!(good.len(), 8 + 2 + 7 + 2 + 7 + 8 + 16);
        let r = decode_request(&good, 4).unwrap();
        assert_eq!(
            (r.v, r.id.as_str(), r.device.as_str(), r.features),
            (2, "r/0.0/7", "dev-001", vec![0.5, -1.0, 2.0, 3.5])
        );
        let fault = |payload: &[u8], expected: usize| {
            let (id, e) = decode_request(payload, expected).unwrap_err();
            (id, e.to_string())
        };
        assert_eq!(fault(&good, 3).1, "binary request: shape [2, 2] holds 4 values, expected 3");
        assert_eq!(
            fault(&good[..good.len() - 1], 4),
            (Some("r/0.0/7".into()), "binary request: body of 15 bytes, the shape needs 16".into())
        );
        assert_eq!(fault(&good[..6], 4), (None, "binary request: truncated header".into()));
        assert_eq!(fault(&good[..12], 4).1, "binary request: truncated id");
        let mut v3 = good.clone();
        v3[4] = 3;
        assert_eq!(
            fault(&v3, 4),
            (Some("r/0.0/7".into()), "binary request: unsupported binary version 3 (expected 2)".into()),
            "the id travels back where it can be read, and the version named is the binary one"
        );
        let mut int8 = good.clone();
        int8[6] = 7;
        assert_eq!(fault(&int8, 4).1, "binary request: dtype 7 is not supported (1: float32)");
        let nan = binary(&[4], &[0.0, f32::NAN, 0.0, 0.0]);
        assert_eq!(fault(&nan, 4).1, "features[1] is not a finite 32-bit number");
        // JSON stays readable next to binary.
        assert!(decode_request(br#"{"v":1,"id":"a","features":[1,2]}"#, 2).is_ok());
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
