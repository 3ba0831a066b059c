// Skypod patch (new file): spectral loudness statistics of Layer 3 granules. See
// `MpaDecoder::set_spectral_weighting`. MPL-2.0, as the rest of this crate.

use super::common::{BlockType, SFB_MIXED_BANDS, SFB_MIXED_SWITCH_POINT, SFB_SHORT_BANDS};
use crate::synthesis;

/// PCM mean square per unit of squared long-block spectral sample, per granule: the lapped
/// 36-point IMDCT is unnormalised (power gain 18 / 2 = 9 per line), the polyphase filterbank
/// has a power gain of 32, and 576 samples come out of a granule (same constant as the
/// power path's `LONG_POWER_SCALE`, over 576).
const LONG_MEAN_SQUARE: f32 = 288.0 / 576.0;
/// Short blocks: the 12-point IMDCT has a third of the 36-point one's power gain.
const SHORT_MEAN_SQUARE: f32 = LONG_MEAN_SQUARE / 3.0;

/// A power gain per frequency, `gain(frequency_hz, sample_rate_hz)`.
pub type GainFn = fn(f64, f64) -> f64;

/// Per-line weights (power gain × PCM scale) for the three block layouts of one sample rate.
pub struct Weights {
    sample_rate_idx: usize,
    long: Box<[f32; 576]>,
    short: Box<[f32; 576]>,
    mixed: Box<[f32; 576]>,
}

impl Weights {
    pub fn new(gain: GainFn, sample_rate: u32, sample_rate_idx: usize) -> Self {
        let rate = f64::from(sample_rate);
        // Long blocks: line i is centred on (i + ½) · fs / 1152 (the hybrid filterbank's
        // 32 × 18 lines are in frequency order once the odd sub-bands' inversion is undone).
        let long_gain = |i: usize| gain((i as f64 + 0.5) * rate / 1152.0, rate) as f32;
        // Short blocks: 192 lines of fs / 384 each, stored per scale factor band as three
        // windows of the band's width.
        let short_gain = |line: usize| gain((line as f64 + 0.5) * rate / 384.0, rate) as f32;
        let mut long = Box::new([0f32; 576]);
        for (i, w) in long.iter_mut().enumerate() {
            *w = long_gain(i) * LONG_MEAN_SQUARE;
        }
        let fill_short = |bands: &[usize], out: &mut [f32; 576]| {
            for t in bands.windows(4).step_by(3) {
                let (s0, s1) = (t[0], t[1]);
                let width = s1 - s0;
                for p in s0..t[3] {
                    let line = s0 / 3 + (p - s0) % width;
                    out[p] = short_gain(line) * SHORT_MEAN_SQUARE;
                }
            }
        };
        let mut short = Box::new([0f32; 576]);
        fill_short(&SFB_SHORT_BANDS[sample_rate_idx], &mut short);
        let mut mixed = Box::new([0f32; 576]);
        let switch = SFB_MIXED_SWITCH_POINT[sample_rate_idx];
        let bands = SFB_MIXED_BANDS[sample_rate_idx];
        mixed[..bands[switch]].copy_from_slice(&long[..bands[switch]]);
        fill_short(&bands[switch..], &mut mixed);
        Weights { sample_rate_idx, long, short, mixed }
    }

    pub fn sample_rate_idx(&self) -> usize {
        self.sample_rate_idx
    }

    /// The weighted mean square, at PCM level, of one granule of spectral samples.
    pub fn weighted_mean_square(&self, block_type: &BlockType, samples: &[f32; 576]) -> f32 {
        let w = match block_type {
            BlockType::Short { is_mixed: false } => &self.short,
            BlockType::Short { is_mixed: true } => &self.mixed,
            _ => &self.long,
        };
        let mut acc = [0f32; 8];
        for (c, w) in samples.chunks_exact(8).zip(w.chunks_exact(8)) {
            for i in 0..8 {
                acc[i] += w[i] * c[i] * c[i];
            }
        }
        acc.iter().sum()
    }
}

/// Sum of absolute values with eight accumulators, so the loop vectorises.
pub fn sum_abs(x: &[f32; 576]) -> f32 {
    let mut acc = [0f32; 8];
    for c in x.chunks_exact(8) {
        for i in 0..8 {
            acc[i] += c[i].abs();
        }
    }
    acc.iter().sum()
}

/// An upper bound of any PCM sample's magnitude per unit of `Σ|x|` over the spectral samples
/// of the granules it is synthesised from (see `MpaDecoder::amplitude_bounds`).
///
/// Each step is linear: the anti-aliasing butterflies turn two lines (a, b) into
/// (cs·a − ca·b, cs·b + ca·a), so the sum of magnitudes grows at most by max(cs + |ca|); the
/// IMDCT's basis functions (cosines times a window ≤ 1) are at most 1 in magnitude, so a
/// sub-band sample is at most the sum of the magnitudes of the lines of the two overlapping
/// blocks; and a PCM sample is a sum over sub-bands and the 16 most recent sub-band samples
/// of the synthesis filterbank's impulse responses, so it is at most the largest sum of
/// |impulse response| over one output phase (measured here on this crate's own filterbank)
/// times the sum of the sub-bands' largest magnitudes.
pub fn amplitude_gain() -> f32 {
    static GAIN: std::sync::OnceLock<f32> = std::sync::OnceLock::new();
    *GAIN.get_or_init(measure_amplitude_gain)
}

fn measure_amplitude_gain() -> f32 {
    // max(cs + |ca|) over the eight butterflies: cs = 1/√(1+c²), ca = c/√(1+c²).
    const C: [f64; 8] = [-0.6, -0.535, -0.33, -0.185, -0.095, -0.041, -0.0142, -0.0037];
    let alias = C.iter().map(|c| (1.0 + c.abs()) / (1.0 + c * c).sqrt()).fold(1.0, f64::max);
    let mut worst = 0f64;
    for sb in 0..32 {
        let mut state = synthesis::SynthesisState::default();
        // One unit sub-band sample, then silence until the impulse response has passed.
        let mut input = [0f32; 32 * 18];
        input[18 * sb] = 1.0;
        let mut response = [0f32; 576 * 2];
        synthesis::synthesis(&mut state, 18, &input, &mut response[..576]);
        synthesis::synthesis(&mut state, 18, &[0f32; 32 * 18], &mut response[576..]);
        for phase in 0..32 {
            let sum: f64 = response[phase..].iter().step_by(32).map(|v| f64::from(v.abs())).sum();
            worst = worst.max(sum);
        }
    }
    // A little headroom for f32 rounding in the decoder.
    (alias * worst * 1.001) as f32
}
