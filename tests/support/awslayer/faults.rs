//! Faults on demand: 5xx bursts, added latency, connection resets and timeouts on chosen
//! operations, each a given number of times and with a given probability. Pure state plus a
//! deterministic PRNG seeded per layer, so a test that injects `probability: 0.5` sees the same
//! sequence on every run. No IO; the proxy acts on the fault it is handed.
//!
//! What the faults stand for: AWS documents that "500-series response codes (server errors) …
//! The error is caused by an AWS server-side issue and is generally transient. Repeat the request
//! with an appropriate back-off strategy" (Ensuring idempotency, retry recommendations,
//! <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/ECS_Idempotency.html>), and that
//! operations "might also time out or encounter other server issues before they complete".

use std::time::Duration;

/// One fault to inject.
#[derive(Clone, Debug)]
pub struct Fault {
    /// The operation it applies to (`"DescribeServices"`); `None` for every operation.
    pub operation: Option<String>,
    pub kind: FaultKind,
    /// How many requests it hits; `None` until cleared.
    pub times: Option<u32>,
    /// The chance that a matching request is hit (1.0 = always).
    pub probability: f64,
}

impl Fault {
    /// `kind` on every request of `operation` until cleared.
    pub fn on(operation: &str, kind: FaultKind) -> Fault {
        Fault { operation: Some(operation.into()), kind, times: None, probability: 1.0 }
    }

    /// The same fault, for the next `times` matching requests only.
    pub fn times(mut self, times: u32) -> Fault {
        self.times = Some(times);
        self
    }
}

/// What happens to a request hit by a fault.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultKind {
    /// HTTP 500 with the service's server-error shape (`ServerException` for ECS and ECR,
    /// `InternalFailure` for ELBv2 and CodeBuild, `InternalServiceError` for Secrets Manager,
    /// `ServiceUnavailableException` for CloudWatch Logs).
    ServerError,
    /// The request is held this long, then handled normally.
    Latency(Duration),
    /// The connection is closed without a response.
    Reset,
    /// The request is held this long, then the connection is closed without a response.
    Timeout(Duration),
    /// The service's throttling error, whatever the rate: a share of requests throttled, as
    /// when other tools in the account use up the shared bucket.
    Throttle,
}

/// The faults in force and the PRNG that decides the probabilistic ones.
#[derive(Debug)]
pub struct Faults {
    active: Vec<Fault>,
    rng: Rng,
}

impl Faults {
    pub fn new(seed: u64) -> Faults {
        Faults { active: Vec::new(), rng: Rng::new(seed) }
    }

    pub fn inject(&mut self, fault: Fault) {
        self.active.push(fault);
    }

    pub fn clear(&mut self) {
        self.active.clear();
    }

    /// The fault that hits a request of `operation`, if any: the first matching fault whose
    /// probability draw succeeds. Using it counts against its `times`.
    pub fn pick(&mut self, operation: &str) -> Option<FaultKind> {
        let mut hit = None;
        for fault in self.active.iter_mut() {
            let matches = fault.operation.as_deref().is_none_or(|op| op == operation);
            if !matches || fault.times == Some(0) {
                continue;
            }
            if fault.probability < 1.0 && self.rng.next_f64() >= fault.probability {
                continue;
            }
            if let Some(times) = fault.times.as_mut() {
                *times -= 1;
            }
            hit = Some(fault.kind.clone());
            break;
        }
        self.active.retain(|f| f.times != Some(0));
        hit
    }
}

/// SplitMix64: small, fast, good enough for test randomness, and reproducible from its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `n` decimal digits.
    pub fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + (self.next_u64() % 10) as u8)).collect()
    }

    /// `n` lower-case hex digits.
    pub fn hex(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from_digit((self.next_u64() % 16) as u32, 16).unwrap_or('0')).collect()
    }
}
