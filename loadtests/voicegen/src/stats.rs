//! Measurement core shared by both protocols: the stamp every speaker writes at the front of
//! its Opus-sized payload, a log-linear latency histogram, and per-thread counters.

use serde::Serialize;

/// Stamp layout at the front of each payload: send time on CLOCK_MONOTONIC (windows and
/// in-process latency) and on CLOCK_REALTIME (compared with kernel receive timestamps), both
/// ns LE, then speaker id, sequence and run id. The rest of the payload is random filler.
pub const STAMP_LEN: usize = 28;

pub fn write_stamp(payload: &mut [u8], st: &Stamp) {
    payload[0..8].copy_from_slice(&st.sent_mono_ns.to_le_bytes());
    payload[8..16].copy_from_slice(&st.sent_real_ns.to_le_bytes());
    payload[16..20].copy_from_slice(&st.speaker.to_le_bytes());
    payload[20..24].copy_from_slice(&st.seq.to_le_bytes());
    payload[24..28].copy_from_slice(&st.run_id.to_le_bytes());
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub sent_mono_ns: u64,
    pub sent_real_ns: u64,
    pub speaker: u32,
    pub seq: u32,
    pub run_id: u32,
}

pub fn read_stamp(payload: &[u8]) -> Option<Stamp> {
    let p = payload.get(..STAMP_LEN)?;
    let u64_at = |i: usize| u64::from_le_bytes(p[i..i + 8].try_into().expect("8 bytes"));
    let u32_at = |i: usize| u32::from_le_bytes(p[i..i + 4].try_into().expect("4 bytes"));
    Some(Stamp {
        sent_mono_ns: u64_at(0),
        sent_real_ns: u64_at(8),
        speaker: u32_at(16),
        seq: u32_at(20),
        run_id: u32_at(24),
    })
}

/// Latencies in microseconds: exact below 128 µs, then 64 sub-buckets per power of two
/// (about 1.6% resolution), enough for p99 without storing every sample.
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum: u128,
    max: u64,
}

const LINEAR: u64 = 128;
const SUB: u64 = 64;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; (LINEAR + 58 * SUB) as usize],
            total: 0,
            sum: 0,
            max: 0,
        }
    }
}

fn bucket(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros() as u64; // >= 7
    let shift = msb - 6;
    (LINEAR + (msb - 7) * SUB + ((v >> shift) & (SUB - 1))) as usize
}

/// Upper edge of a bucket, the value percentiles report (a conservative bound).
fn bucket_high(i: usize) -> u64 {
    let i = i as u64;
    if i < LINEAR {
        return i;
    }
    let msb = (i - LINEAR) / SUB + 7;
    let shift = msb - 6;
    let mantissa = SUB + (i - LINEAR) % SUB;
    ((mantissa + 1) << shift) - 1
}

impl Histogram {
    pub fn add(&mut self, us: u64) {
        self.counts[bucket(us)] += 1;
        self.total += 1;
        self.sum += u128::from(us);
        self.max = self.max.max(us);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    pub fn percentile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_high(i).min(self.max);
            }
        }
        self.max
    }

    pub fn summary(&self) -> LatencySummary {
        LatencySummary {
            samples: self.total,
            mean: if self.total == 0 {
                0.0
            } else {
                (self.sum as f64 / self.total as f64 * 10.0).round() / 10.0
            },
            p50: self.percentile(0.50),
            p90: self.percentile(0.90),
            p99: self.percentile(0.99),
            p999: self.percentile(0.999),
            max: self.max,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct LatencySummary {
    pub samples: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// What one data-plane thread counted.
#[derive(Default, Clone)]
pub struct Counters {
    /// Packets sent whose stamp falls in the measured window.
    pub sent_window: u64,
    pub sent_total: u64,
    /// Deliveries the window's sends should produce (room size - 1 each).
    pub expected_window: u64,
    /// Deliveries of window packets that arrived before the drain ended.
    pub received_window: u64,
    /// Deliveries of warm-up packets (ignored for loss and latency).
    pub received_warmup: u64,
    pub received_total: u64,
    /// Datagrams that failed authentication/decryption with the listener's own key.
    pub decrypt_failures: u64,
    /// Datagrams that decrypted but were not stamped voice of this run.
    pub foreign: u64,
    /// Voice whose sender field (Mumble session / RTP SSRC) named the wrong speaker.
    pub misattributed: u64,
    /// Keepalive/ping echoes and discovery answers seen.
    pub control_echoes: u64,
    pub send_errors: u64,
    pub recv_errors: u64,
    /// How late sends left relative to their schedule: a saturated generator shows here.
    pub sends_late_over_2ms: u64,
    pub max_send_lateness_us: u64,
    /// Send to kernel arrival at the listener's socket: what the server adds (plus two
    /// loopback hops), without the generator's own queueing.
    pub latency: Histogram,
    /// Send to the generator reading the datagram: includes the generator's queueing.
    pub latency_app: Histogram,
}

impl Counters {
    pub fn merge(&mut self, o: &Counters) {
        self.sent_window += o.sent_window;
        self.sent_total += o.sent_total;
        self.expected_window += o.expected_window;
        self.received_window += o.received_window;
        self.received_warmup += o.received_warmup;
        self.received_total += o.received_total;
        self.decrypt_failures += o.decrypt_failures;
        self.foreign += o.foreign;
        self.misattributed += o.misattributed;
        self.control_echoes += o.control_echoes;
        self.send_errors += o.send_errors;
        self.recv_errors += o.recv_errors;
        self.sends_late_over_2ms += o.sends_late_over_2ms;
        self.max_send_lateness_us = self.max_send_lateness_us.max(o.max_send_lateness_us);
        self.latency.merge(&o.latency);
        self.latency_app.merge(&o.latency_app);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for v in 0..5_000_000u64 {
            let b = bucket(v);
            assert!(b >= last);
            last = b;
            let hi = bucket_high(b);
            assert!(hi >= v, "{v} -> {b} -> {hi}");
            assert!(hi as f64 <= v as f64 * 1.016 + 1.0, "{v} -> {hi}");
        }
    }

    #[test]
    fn percentiles() {
        let mut h = Histogram::default();
        for v in 1..=1000 {
            h.add(v);
        }
        // Percentiles report the bucket's upper edge: within 1.6% above the true value.
        let p50 = h.percentile(0.5);
        assert!((500..=508).contains(&p50), "{p50}");
        let p99 = h.percentile(0.99);
        assert!((990..=1000).contains(&p99), "{p99}");
        assert_eq!(h.summary().max, 1000);
    }

    #[test]
    fn stamp_round_trip() {
        let mut p = [0u8; 40];
        let st = Stamp {
            sent_mono_ns: 123_456_789,
            sent_real_ns: 987_654_321,
            speaker: 7,
            seq: 9,
            run_id: 42,
        };
        write_stamp(&mut p, &st);
        assert_eq!(read_stamp(&p), Some(st));
        assert_eq!(read_stamp(&p[..STAMP_LEN - 1]), None);
    }
}
