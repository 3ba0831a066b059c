//! Programme loudness (ITU-R BS.1770-4 / EBU R128) and true peak without a
//! full decode where the codec allows it.
//!
//! **Integrated loudness from the spectrum.** BS.1770 K-weights the signal
//! (a high shelf and the RLB high-pass, two biquads) and gates the mean square
//! of 400 ms blocks. A linear filter is a gain per frequency, and the MDCT
//! codecs (MP3, AAC, Vorbis) hand us the signal as spectral lines whose power,
//! times a constant of the transform, is the PCM's power (Parseval; the
//! constants are derived in `vendor/README.md`). So the patched decoders
//! weight every line's power by [`k_weighting_gain`], the squared magnitude
//! response of the very filter libebur128 and ffmpeg apply at that sample rate,
//! and report the K-weighted mean square per granule / frame / packet and
//! channel; [`Gating`] spreads those over 100 ms steps and gates 400 ms blocks
//! exactly as BS.1770 does. Nothing is synthesised.
//!
//! **True peak, exact where it can matter.** The true peak is a maximum over
//! the 4× oversampled PCM, so it needs PCM, but only where the peak can be.
//! Each patched decoder also reports, per packet and channel, a rigorous upper
//! bound of what that packet's coefficients can add to any PCM sample (Σ|c|
//! times the synthesis basis' largest magnitude, see the vendor patches). A
//! packet's PCM depends on its own coefficients and those of the `reach`
//! packets before it, and an oversampled value on 12 consecutive samples, so
//! `Λ · max(bound of this packet's PCM, bound of the previous packet's)`
//! bounds every oversampled value the packet's samples end ([`PeakPlanner`];
//! `Λ` is the interpolator's largest sum of |taps|). Only a packet whose bound
//! exceeds the true peak found so far is decoded to PCM (by a second, ordinary
//! decoder, warmed up on the packets before it) and scanned; every other
//! packet provably cannot raise the peak. Within decoded PCM the oversampling
//! itself is skipped for stretches whose sample peak times `Λ` is below the
//! running peak ([`TruePeakScanner`]). The result equals a full scan with the
//! same interpolator (libebur128's 48-tap, 4× polyphase FIR).

use std::collections::VecDeque;

use symphonia::core::audio::{Audio, GenericAudioBufferRef};
use symphonia::core::codecs::audio::AudioDecoder;
use symphonia::core::packet::Packet;

/// libebur128's K-weighting biquads (pre-filter shelf, RLB high-pass) for a
/// sample rate, combined into one 4th-order filter `(b, a)`: the same bilinear
/// design as the `ebur128` crate (MIT), so the spectral and PCM paths weight
/// identically.
#[allow(non_snake_case)]
fn k_filter(rate: f64) -> ([f64; 5], [f64; 5]) {
    let f0 = 1681.974450955533;
    let G = 3.999843853973347;
    let Q = 0.7071752369554196;
    let K = (std::f64::consts::PI * f0 / rate).tan();
    let Vh = 10f64.powf(G / 20.0);
    let Vb = Vh.powf(0.4996667741545416);
    let a0 = 1.0 + K / Q + K * K;
    let pb = [
        (Vh + Vb * K / Q + K * K) / a0,
        2.0 * (K * K - Vh) / a0,
        (Vh - Vb * K / Q + K * K) / a0,
    ];
    let pa = [1.0, 2.0 * (K * K - 1.0) / a0, (1.0 - K / Q + K * K) / a0];
    let f0 = 38.13547087602444;
    let Q = 0.5003270373238773;
    let K = (std::f64::consts::PI * f0 / rate).tan();
    let rb = [1.0, -2.0, 1.0];
    let ra = [
        1.0,
        2.0 * (K * K - 1.0) / (1.0 + K / Q + K * K),
        (1.0 - K / Q + K * K) / (1.0 + K / Q + K * K),
    ];
    let conv = |p: [f64; 3], r: [f64; 3]| {
        [
            p[0] * r[0],
            p[0] * r[1] + p[1] * r[0],
            p[0] * r[2] + p[1] * r[1] + p[2] * r[0],
            p[1] * r[2] + p[2] * r[1],
            p[2] * r[2],
        ]
    };
    (conv(pb, rb), conv(pa, ra))
}

/// Power gain |H(e^{jω})|² of the K-weighting filter at `freq` Hz for a signal
/// sampled at `rate` Hz.
pub(crate) fn k_weighting_gain(freq: f64, rate: f64) -> f64 {
    let (b, a) = k_filter(rate);
    let w = 2.0 * std::f64::consts::PI * freq / rate;
    // Σ c_k e^{-jωk}
    let eval = |c: &[f64; 5]| {
        let (mut re, mut im) = (0.0, 0.0);
        for (k, c) in c.iter().enumerate() {
            re += c * (w * k as f64).cos();
            im -= c * (w * k as f64).sin();
        }
        re * re + im * im
    };
    eval(&b) / eval(&a)
}

/// BS.1770 channel weights in libebur128's default order (L, R, C, Ls, Rs);
/// further channels are not measured (as libebur128's default map).
fn channel_weight(channel: usize) -> f64 {
    match channel {
        0..=2 => 1.0,
        3 | 4 => 1.41,
        _ => 0.0,
    }
}

/// BS.1770 gating over K-weighted mean squares handed in per stretch of audio.
///
/// Time is cut into 100 ms steps (as libebur128: `(rate + 5) / 10` frames); a
/// stretch's energy (mean square × frames, channel-weighted) is spread evenly
/// over the frames it covers. Every 100 ms a 400 ms block (the last four
/// steps) is complete; the integrated loudness gates those blocks at −70 LUFS
/// and then 10 LU below the loudness of the blocks above that.
pub(crate) struct Gating {
    step_frames: u64,
    /// Energy of the step being filled, and its index.
    step: u64,
    step_energy: f64,
    /// The last three complete steps' energies.
    recent: [f64; 3],
    complete_steps: u64,
    /// Mean square (channel-weighted sum) of every complete 400 ms block.
    blocks: Vec<f64>,
}

impl Gating {
    pub(crate) fn new(rate: u32) -> Self {
        Self {
            step_frames: u64::from(rate.saturating_add(5) / 10).max(1),
            step: 0,
            step_energy: 0.0,
            recent: [0.0; 3],
            complete_steps: 0,
            blocks: Vec::new(),
        }
    }

    /// Add `frames` frames starting at frame `start` whose K-weighted mean
    /// square per channel is `mean_squares`. Stretches must come in order.
    pub(crate) fn push(&mut self, start: u64, frames: u64, mean_squares: &[f32]) {
        let weighted: f64 = mean_squares
            .iter()
            .enumerate()
            .map(|(c, m)| channel_weight(c) * f64::from(*m))
            .sum();
        let mut at = start;
        let end = start + frames;
        while at < end {
            let step = at / self.step_frames;
            while self.step < step {
                self.close_step();
            }
            let step_end = (step + 1) * self.step_frames;
            let take = step_end.min(end) - at;
            self.step_energy += weighted * take as f64;
            at += take;
        }
    }

    fn close_step(&mut self) {
        let e = self.step_energy;
        if self.complete_steps >= 3 {
            let sum = self.recent.iter().sum::<f64>() + e;
            self.blocks.push(sum / (4 * self.step_frames) as f64);
        }
        self.recent = [self.recent[1], self.recent[2], e];
        self.complete_steps += 1;
        self.step += 1;
        self.step_energy = 0.0;
    }

    /// Close the step in progress if `end_frame` completes it (a partial last
    /// step is dropped, as libebur128 drops a partial block).
    pub(crate) fn finish(&mut self, end_frame: u64) {
        while (self.step + 1) * self.step_frames <= end_frame {
            self.close_step();
        }
    }

    /// Integrated loudness in LUFS; `None` when no block passes the gates.
    pub(crate) fn integrated(&self) -> Option<f64> {
        integrated_lufs(&self.blocks)
    }
}

fn lufs(mean_square: f64) -> f64 {
    -0.691 + 10.0 * mean_square.log10()
}

/// BS.1770-4's two gates over 400 ms blocks' channel-weighted mean squares.
pub(crate) fn integrated_lufs(blocks: &[f64]) -> Option<f64> {
    // −70 LUFS absolute gate.
    let absolute = 10f64.powf((-70.0 + 0.691) / 10.0);
    let above: Vec<f64> = blocks.iter().copied().filter(|z| *z > absolute).collect();
    if above.is_empty() {
        return None;
    }
    let relative = above.iter().sum::<f64>() / above.len() as f64 * 10f64.powf(-10.0 / 10.0);
    let gated: Vec<f64> = above.into_iter().filter(|z| *z > relative).collect();
    if gated.is_empty() {
        return None;
    }
    Some(lufs(gated.iter().sum::<f64>() / gated.len() as f64)).filter(|l| l.is_finite())
}

/// BS.1770 loudness of PCM: the K-weighting filter (libebur128's 4th-order
/// direct form, in f64) and [`Gating`]. Filters two channels per loop so the
/// two recursions overlap, and sums squares per 100 ms step instead of storing
/// the filtered signal and summing every 400 ms block again (what the
/// `ebur128` crate does; same result, see the tests).
pub(crate) struct PcmMeter {
    b: [f64; 5],
    a: [f64; 5],
    /// Per channel: the filter's last four internal values.
    state: Vec<[f64; 4]>,
    gating: Gating,
    frames: u64,
    mean_squares: Vec<f32>,
    planar: Vec<Vec<f32>>,
}

impl PcmMeter {
    pub(crate) fn new(channels: usize, rate: u32) -> Self {
        let (b, a) = k_filter(f64::from(rate.max(1)));
        Self {
            b,
            a,
            state: vec![[0.0; 4]; channels.max(1)],
            gating: Gating::new(rate),
            frames: 0,
            mean_squares: vec![0.0; channels.max(1)],
            planar: vec![Vec::new(); channels.max(1)],
        }
    }

    pub(crate) fn push_interleaved(&mut self, samples: &[f32], channels: usize) {
        let channels = channels.max(1);
        let n = samples.len() / channels;
        let mut planar = std::mem::take(&mut self.planar);
        planar.resize(channels, Vec::new());
        for (c, p) in planar.iter_mut().enumerate() {
            p.clear();
            p.extend(samples.iter().skip(c).step_by(channels).take(n));
        }
        let refs: Vec<&[f32]> = planar.iter().map(|p| &p[..]).collect();
        self.push_planes(&refs);
        self.planar = planar;
    }

    pub(crate) fn push_planes(&mut self, planes: &[&[f32]]) {
        let n = planes.iter().map(|p| p.len()).min().unwrap_or(0);
        let channels = planes.len().min(self.state.len());
        let step = self.gating.step_frames;
        let mut pos = 0;
        while pos < n {
            // Chunks end on 100 ms step boundaries.
            let at = self.frames;
            let len = ((step - at % step) as usize).min(n - pos);
            let mut c = 0;
            while c < channels {
                if c + 1 < channels {
                    let (s0, s1) = filter_pair(
                        &self.b,
                        &self.a,
                        &planes[c][pos..pos + len],
                        &planes[c + 1][pos..pos + len],
                        &mut self.state[c..c + 2],
                    );
                    self.mean_squares[c] = (s0 / len as f64) as f32;
                    self.mean_squares[c + 1] = (s1 / len as f64) as f32;
                    c += 2;
                } else {
                    let s = filter_one(
                        &self.b,
                        &self.a,
                        &planes[c][pos..pos + len],
                        &mut self.state[c],
                    );
                    self.mean_squares[c] = (s / len as f64) as f32;
                    c += 1;
                }
            }
            self.gating
                .push(at, len as u64, &self.mean_squares[..channels]);
            self.frames += len as u64;
            pos += len;
            // Flush values that would decay into subnormals in long silences.
            for st in &mut self.state {
                for v in st.iter_mut() {
                    if v.abs() < 1e-30 {
                        *v = 0.0;
                    }
                }
            }
        }
    }

    pub(crate) fn integrated(&mut self) -> Option<f64> {
        self.gating.finish(self.frames);
        self.gating.integrated()
    }
}

/// One step of the direct-form K-filter; returns the output.
#[inline(always)]
fn k_step(b: &[f64; 5], a: &[f64; 5], s: &mut [f64; 4], x: f64) -> f64 {
    let v = x - a[1] * s[0] - a[2] * s[1] - a[3] * s[2] - a[4] * s[3];
    let y = b[0] * v + b[1] * s[0] + b[2] * s[1] + b[3] * s[2] + b[4] * s[3];
    *s = [v, s[0], s[1], s[2]];
    y
}

/// K-filter one channel; the sum of the squared output.
fn filter_one(b: &[f64; 5], a: &[f64; 5], x: &[f32], s: &mut [f64; 4]) -> f64 {
    let mut st = *s;
    let mut sum = 0.0;
    for v in x {
        let y = k_step(b, a, &mut st, f64::from(*v));
        sum += y * y;
    }
    *s = st;
    sum
}

/// K-filter two channels in one loop (independent recursions, interleaved).
fn filter_pair(
    b: &[f64; 5],
    a: &[f64; 5],
    x0: &[f32],
    x1: &[f32],
    s: &mut [[f64; 4]],
) -> (f64, f64) {
    let (mut s0, mut s1) = (s[0], s[1]);
    let (mut sum0, mut sum1) = (0.0, 0.0);
    for (v0, v1) in x0.iter().zip(x1) {
        let y0 = k_step(b, a, &mut s0, f64::from(*v0));
        let y1 = k_step(b, a, &mut s1, f64::from(*v1));
        sum0 += y0 * y0;
        sum1 += y1 * y1;
    }
    s[0] = s0;
    s[1] = s1;
    (sum0, sum1)
}

/// Taps of the interpolator, per phase.
const TP_TAPS: usize = 12;
/// Oversampling factor below 96 kHz (libebur128).
const TP_FACTOR: usize = 4;
/// Frames per stretch whose sample peak decides whether to oversample it.
const TP_STRETCH: usize = 64;

/// libebur128's true-peak interpolator (48 Hann-windowed sinc taps, 4 phases
/// of 12), run only where it can raise the peak.
pub(crate) struct TruePeakScanner {
    /// `taps[phase][t]` multiplies the sample `t` frames back.
    taps: [[f32; TP_TAPS]; TP_FACTOR],
    /// Largest Σ|taps| of a phase: no oversampled value exceeds `lambda` times
    /// the largest magnitude of the 12 samples it is made of.
    lambda: f32,
    /// Per channel: the last `TP_TAPS − 1` samples, then the new ones.
    work: Vec<Vec<f32>>,
    /// Outputs to ignore (their history is unknown after a reset mid-stream).
    ignore: usize,
    peak: f32,
}

impl TruePeakScanner {
    pub(crate) fn new(channels: usize) -> Self {
        let mut taps = [[0f32; TP_TAPS]; TP_FACTOR];
        let total = (TP_TAPS * TP_FACTOR) as f64;
        for t in 0..TP_TAPS {
            for (p, phase) in taps.iter_mut().enumerate() {
                let j = (t * TP_FACTOR + p) as f64;
                let w = 0.5 * (1.0 - (2.0 * std::f64::consts::PI * j / total).cos());
                let m = j - total / 2.0;
                let x = m * std::f64::consts::PI / TP_FACTOR as f64;
                phase[t] = if m.abs() > 1e-6 { w * x.sin() / x } else { w } as f32;
            }
        }
        let lambda = taps
            .iter()
            .map(|p| p.iter().map(|t| t.abs()).sum::<f32>())
            .fold(0f32, f32::max)
            * 1.0001;
        Self {
            taps,
            lambda,
            work: vec![vec![0.0; TP_TAPS - 1]; channels.max(1)],
            ignore: 0,
            peak: 0.0,
        }
    }

    pub(crate) fn lambda(&self) -> f32 {
        self.lambda
    }

    pub(crate) fn peak(&self) -> f32 {
        self.peak
    }

    /// Forget the history: the next samples do not follow the previous ones.
    /// Outputs that would mix in unknown history are ignored.
    pub(crate) fn restart(&mut self) {
        for w in &mut self.work {
            w.clear();
            w.resize(TP_TAPS - 1, 0.0);
        }
        self.ignore = TP_TAPS - 1;
    }

    pub(crate) fn push_planes(&mut self, planes: &[&[f32]]) {
        let n = planes.iter().map(|p| p.len()).min().unwrap_or(0);
        for (c, p) in planes.iter().enumerate().take(self.work.len()) {
            self.work[c].extend_from_slice(&p[..n]);
        }
        self.scan(n);
    }

    pub(crate) fn push_interleaved(&mut self, samples: &[f32], channels: usize) {
        let channels = channels.max(1);
        let n = samples.len() / channels;
        for (c, w) in self.work.iter_mut().enumerate().take(channels) {
            w.extend(samples.iter().skip(c).step_by(channels).take(n));
        }
        self.scan(n);
    }

    fn scan(&mut self, n: usize) {
        let h = TP_TAPS - 1;
        let ignore = self.ignore.min(n);
        self.ignore -= ignore;
        let mut peak = self.peak;
        for w in &mut self.work {
            if w.len() < h + n {
                // A channel missing from this buffer: keep the lengths equal.
                w.resize(h + n, 0.0);
            }
            let mut s = ignore;
            while s < n {
                let e = (s + TP_STRETCH).min(n);
                // The outputs for frames s..e read samples s−11 ..= e−1 (offset h).
                let max = w[s..h + e].iter().fold(0f32, |m, v| m.max(v.abs()));
                if max * self.lambda > peak {
                    for i in s..e {
                        let newest = h + i;
                        for phase in &self.taps {
                            let mut acc = 0f32;
                            for (t, tap) in phase.iter().enumerate() {
                                acc += tap * w[newest - t];
                            }
                            peak = peak.max(acc.abs());
                        }
                    }
                }
                s = e;
            }
            let len = w.len();
            w.copy_within(len - h.., 0);
            w.truncate(h);
        }
        self.peak = peak;
    }
}

/// Decides which packets' PCM can hold the true peak and decodes only those.
pub(crate) struct PeakPlanner {
    pcm: Box<dyn AudioDecoder>,
    scanner: TruePeakScanner,
    /// Packets the spectral pass saw, newest last, with their index.
    ring: VecDeque<(u64, Packet)>,
    /// Per packet (same order): the per-channel bounds of what its
    /// coefficients add to a PCM sample.
    bounds: VecDeque<Vec<f32>>,
    /// Per packet: the bound of any sample of its PCM.
    pcm_bounds: VecDeque<f32>,
    /// How many earlier packets' coefficients a packet's PCM depends on.
    reach: usize,
    /// Bytes of earlier packets a packet's coefficients may need (MP3's bit
    /// reservoir: up to 511 bytes of main data from earlier frames).
    reservoir: usize,
    /// Index of the packet the PCM decoder would decode next in sequence.
    next_pcm: Option<u64>,
    /// Packets decoded to PCM (for the log and the benchmark).
    pub(crate) decoded: u64,
    pub(crate) seen: u64,
    buf: Vec<f32>,
}

/// Packets kept for warming up the PCM decoder.
const RING: usize = 16;

impl PeakPlanner {
    pub(crate) fn new(
        pcm: Box<dyn AudioDecoder>,
        channels: usize,
        reach: usize,
        reservoir: usize,
    ) -> Self {
        Self {
            pcm,
            scanner: TruePeakScanner::new(channels),
            ring: VecDeque::with_capacity(RING + 1),
            bounds: VecDeque::with_capacity(RING + 1),
            pcm_bounds: VecDeque::with_capacity(RING + 1),
            reach: reach.max(1),
            reservoir,
            next_pcm: None,
            decoded: 0,
            seen: 0,
            buf: Vec::new(),
        }
    }

    /// The next packet in stream order, with its coefficients' per-channel
    /// amplitude bounds from the spectral decoder (`None` when that decoder
    /// failed on it: then nothing is known and the packet is decoded).
    pub(crate) fn push(&mut self, index: u64, packet: Packet, bounds: Option<&[f32]>) {
        self.seen += 1;
        let b = match bounds {
            Some(b) => b.to_vec(),
            None => vec![f32::INFINITY],
        };
        self.bounds.push_back(b);
        self.ring.push_back((index, packet));
        // Bound of any sample of this packet's PCM: the sum over the packets
        // its PCM depends on, per channel, then the largest channel.
        let channels = self.bounds.iter().map(Vec::len).max().unwrap_or(1);
        let back = self.bounds.len().min(self.reach + 1);
        let mut sample_bound = 0f32;
        for c in 0..channels {
            let s: f32 = self
                .bounds
                .iter()
                .rev()
                .take(back)
                .map(|b| b.get(c).or(b.first()).copied().unwrap_or(0.0))
                .sum();
            sample_bound = sample_bound.max(s);
        }
        let prev = self.pcm_bounds.back().copied().unwrap_or(0.0);
        self.pcm_bounds.push_back(sample_bound);
        // Oversampled values ending in this packet read it and the previous one.
        let bound = self.scanner.lambda() * sample_bound.max(prev);
        if bound > self.scanner.peak() {
            self.decode_through(index);
        }
        while self.ring.len() > RING {
            self.ring.pop_front();
            self.bounds.pop_front();
            self.pcm_bounds.pop_front();
        }
    }

    /// Decode up to and including packet `index` to PCM and scan it.
    fn decode_through(&mut self, index: u64) {
        let oldest = self.ring.front().map(|(i, _)| *i).unwrap_or(index);
        // The previous packet's samples are the interpolator's history and must
        // be exact: so must the coefficients its PCM depends on (`reach` packets
        // back), which may need the reservoir's bytes from packets before them.
        let first_coeffs = index.saturating_sub(1 + self.reach as u64);
        let mut start = first_coeffs;
        let mut bytes = 0;
        while bytes < self.reservoir && start > oldest {
            start -= 1;
            let len = self
                .ring
                .get((start - oldest) as usize)
                .map_or(0, |(_, p)| p.data.len());
            // Header and side information come before the main data.
            bytes += len.saturating_sub(38);
        }
        let start = start.max(oldest);
        // Carry on from where the PCM decoder stopped when that is no more work.
        let continuous = self.next_pcm.is_some_and(|n| n >= start && n <= index);
        let from = if continuous {
            self.next_pcm.unwrap_or(index)
        } else {
            self.pcm.reset();
            if start == 0 {
                // From the very start: nothing precedes, the history is zeros.
                self.scanner.ignore = 0;
                for w in &mut self.scanner.work {
                    w.iter_mut().for_each(|v| *v = 0.0);
                }
            } else {
                self.scanner.restart();
            }
            start
        };
        let exact_from = if continuous || from == 0 {
            from
        } else {
            index.saturating_sub(1).max(from)
        };
        for i in from..=index {
            let Some(pos) = self.ring.iter().position(|(j, _)| *j == i) else {
                continue;
            };
            self.decoded += 1;
            let decoded = match self.pcm.decode(&self.ring[pos].1) {
                Ok(d) => d,
                Err(_) => {
                    if i >= exact_from {
                        // The samples are missing: the history is gone.
                        self.scanner.restart();
                    }
                    continue;
                }
            };
            if i < exact_from {
                continue;
            }
            if let GenericAudioBufferRef::F32(b) = &decoded {
                let planes: Vec<&[f32]> = b.iter_planes().collect();
                self.scanner.push_planes(&planes);
            } else {
                let channels = decoded.spec().channels().count();
                decoded.copy_to_vec_interleaved::<f32>(&mut self.buf);
                self.scanner.push_interleaved(&self.buf, channels);
            }
        }
        self.next_pcm = Some(index + 1);
    }

    /// The true peak (linear, over all channels).
    pub(crate) fn peak(&self) -> f32 {
        self.scanner.peak()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Power gain of the `ebur128` crate's K-filter at `freq`: its momentary
    /// loudness of a sine after a settling second (−0.691 + 10·log10 of the
    /// filtered mean square; the sine's own mean square is A²/2).
    fn ebur128_gain(freq: f64, rate: u32) -> f64 {
        let mut m = ebur128::EbuR128::new(1, rate, ebur128::Mode::M).expect("meter");
        let amp = 0.1f64;
        let n = rate as usize * 2;
        let x: Vec<f32> = (0..n)
            .map(|i| {
                (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin())
                    as f32
            })
            .collect();
        m.add_frames_f32(&x).expect("frames");
        let l = m.loudness_momentary().expect("momentary");
        10f64.powf((l + 0.691) / 10.0) / (amp * amp / 2.0)
    }

    /// The spectral weighting is the K-filter's response: against the
    /// `ebur128` crate filtering sines (an independent time-domain check) at
    /// both ends of the curve and across the shelf, at three sample rates; and
    /// BS.1770's anchor, a 997 Hz tone reads 0.691 dB louder.
    #[test]
    fn k_weighting_gain_is_the_filters_response() {
        for rate in [8_000u32, 44_100, 48_000] {
            for freq in [
                25.0, 40.0, 100.0, 997.0, 1_500.0, 3_000.0, 3_900.0, 10_000.0, 18_000.0,
            ] {
                if freq >= f64::from(rate) / 2.0 * 0.98 {
                    continue;
                }
                let ours = 10.0 * k_weighting_gain(freq, f64::from(rate)).log10();
                let theirs = 10.0 * ebur128_gain(freq, rate).log10();
                assert!(
                    (ours - theirs).abs() < 0.05,
                    "{rate} Hz, {freq} Hz: {ours:.3} dB vs ebur128 {theirs:.3} dB"
                );
            }
        }
        let at_997 = 10.0 * k_weighting_gain(997.0, 48_000.0).log10();
        assert!((at_997 - 0.691).abs() < 0.01, "{at_997}");
        // The shelf: about +4 dB at high frequencies; the RLB high-pass cuts 20 Hz.
        assert!((10.0 * k_weighting_gain(10_000.0, 48_000.0).log10() - 4.0).abs() < 0.3);
        assert!(10.0 * k_weighting_gain(20.0, 48_000.0).log10() < -8.0);
    }

    fn ms_of(lufs: f64) -> f64 {
        10f64.powf((lufs + 0.691) / 10.0)
    }

    /// BS.1770's gates, with hand-computed results: blocks below −70 LUFS
    /// never count, then blocks 10 LU under the mean of the rest are dropped.
    #[test]
    fn gating_follows_bs1770() {
        // Ten blocks at −20 LUFS and ten at −35: the mean of all twenty is
        // about −23 LUFS, so the relative gate (−33) drops the −35 blocks.
        let mut blocks = vec![ms_of(-20.0); 10];
        blocks.extend(vec![ms_of(-35.0); 10]);
        blocks.extend(vec![ms_of(-80.0); 30]);
        let i = integrated_lufs(&blocks).expect("integrated");
        assert!((i - -20.0).abs() < 1e-9, "{i}");
        // −20 and −28 both pass: the result is the mean of their powers.
        let mut blocks = vec![ms_of(-20.0); 10];
        blocks.extend(vec![ms_of(-28.0); 10]);
        let want = lufs((ms_of(-20.0) + ms_of(-28.0)) / 2.0);
        let i = integrated_lufs(&blocks).expect("integrated");
        assert!((i - want).abs() < 1e-9, "{i} vs {want}");
        // Everything under the absolute gate: no loudness.
        assert_eq!(integrated_lufs(&[ms_of(-75.0); 20]), None);
        assert_eq!(integrated_lufs(&[]), None);
    }

    /// Stretches of any length land in 100 ms steps; a 400 ms block closes
    /// every step from the fourth on; a partial last step is dropped.
    #[test]
    fn gating_blocks_from_stretches() {
        let rate = 44_100;
        let mut g = Gating::new(rate);
        // 2.05 s in stretches of 576 frames at −23 LUFS, channel weights 1 + 1.
        let half = ms_of(-23.0) / 2.0;
        let total = rate as u64 * 205 / 100;
        let mut at = 0;
        while at < total {
            let len = 576.min(total - at);
            g.push(at, len, &[half as f32, half as f32]);
            at += len;
        }
        g.finish(total);
        // 20 complete steps → 17 blocks.
        assert_eq!(g.blocks.len(), 17);
        for b in &g.blocks {
            assert!((lufs(*b) - -23.0).abs() < 1e-4, "{}", lufs(*b));
        }
        let i = g.integrated().expect("integrated");
        assert!((i - -23.0).abs() < 1e-4, "{i}");
        // One loud 100 ms step moves the four blocks that contain it.
        let mut g = Gating::new(rate);
        let step = 4_410;
        for s in 0..10u64 {
            let level = if s == 5 { ms_of(-13.0) } else { ms_of(-23.0) };
            g.push(s * step, step, &[level as f32]);
        }
        g.finish(10 * step);
        let loud: Vec<usize> = (0..g.blocks.len())
            .filter(|&k| lufs(g.blocks[k]) > -22.0)
            .collect();
        assert_eq!(loud, vec![2, 3, 4, 5], "{:?}", g.blocks);
    }

    /// The PCM meter's integrated loudness equals the `ebur128` crate's on
    /// speech-like bursts of noise with pauses, mono and stereo, fed in odd
    /// chunk sizes.
    #[test]
    fn pcm_meter_matches_ebur128() {
        for (channels, rate) in [(1usize, 8_000u32), (2, 44_100), (2, 48_000)] {
            let mut seed = 7u32;
            let frames = rate as usize * 12;
            let mut x = Vec::with_capacity(frames * channels);
            for i in 0..frames {
                let burst = (i / (rate as usize / 3)) % 3 != 2;
                let level = if burst { 0.3 } else { 0.003 };
                for c in 0..channels {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    let n = f64::from(seed >> 8) / f64::from(1u32 << 24) - 0.5;
                    x.push((n * level * (1.0 + c as f64 * 0.5)) as f32);
                }
            }
            let mut theirs =
                ebur128::EbuR128::new(channels as u32, rate, ebur128::Mode::I).expect("meter");
            theirs.add_frames_f32(&x).expect("frames");
            let theirs = theirs.loudness_global().expect("I");
            let mut ours = PcmMeter::new(channels, rate);
            for chunk in x.chunks(channels * 1_000 + channels * 7) {
                ours.push_interleaved(chunk, channels);
            }
            let ours = ours.integrated().expect("I");
            assert!(
                (ours - theirs).abs() < 0.01,
                "{channels} ch, {rate} Hz: {ours} vs ebur128 {theirs}"
            );
        }
    }

    /// The scanner equals the `ebur128` crate's true peak on a signal with
    /// inter-sample overs, and skipping stretches does not change it.
    #[test]
    fn true_peak_scanner_matches_ebur128() {
        let rate = 44_100u32;
        // A quarter-rate sine sampled off its crests (true peak above every
        // sample), quiet noise elsewhere.
        let mut x = Vec::new();
        let mut seed = 1u32;
        for i in 0..rate as usize {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = (f64::from(seed >> 8) / f64::from(1u32 << 24) - 0.5) * 0.01;
            let tone = if (20_000..20_400).contains(&i) {
                0.9 * (std::f64::consts::PI / 2.0 * i as f64 + std::f64::consts::PI / 4.0).sin()
            } else {
                0.0
            };
            x.push((tone + noise) as f32);
        }
        let mut m = ebur128::EbuR128::new(1, rate, ebur128::Mode::TRUE_PEAK).expect("meter");
        m.add_frames_f32(&x).expect("frames");
        let theirs = m.true_peak(0).expect("tp") as f32;
        let mut s = TruePeakScanner::new(1);
        for chunk in x.chunks(1000) {
            s.push_interleaved(chunk, 1);
        }
        assert!(
            theirs > 0.9 * std::f32::consts::FRAC_1_SQRT_2 * 1.2,
            "{theirs}"
        );
        assert!((s.peak() - theirs).abs() < 1e-5, "{} vs {theirs}", s.peak());
        assert!(s.lambda() > 1.0 && s.lambda() < 2.0, "{}", s.lambda());
    }
}
