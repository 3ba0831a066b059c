// Symphonia
// Copyright (c) 2019-2026 The Project Symphonia Developers.
//
// Previous Author: Kostya Shishkov <kostya.shiskov@gmail.com>
//
// This source file includes code originally written for the NihAV
// project. With the author's permission, it has been relicensed for,
// and ported to the Symphonia project.
//
// This Source Code Form is subject to the terms of the Mozilla Public
// License, v. 2.0. If a copy of the MPL was not distributed with this
// file, You can obtain one at https://mozilla.org/MPL/2.0/.

use symphonia_core::dsp::mdct::Imdct;

use crate::aac::common::*;
use crate::aac::window::*;

const SHORT_WIN_POINT0: usize = 512 - 64;
const SHORT_WIN_POINT1: usize = 512 + 64;

pub struct Dsp {
    kbd_long_win: [f32; 1024],
    kbd_short_win: [f32; 128],
    sine_long_win: [f32; 1024],
    sine_short_win: [f32; 128],
    imdct_long: Imdct,
    imdct_short: Imdct,
    pcm_long: [f32; 2048],
    pcm_short: [f32; 1152],
    /// Skypod patch: emit each frame's power instead of PCM (see `AacDecoder::set_power_output`).
    pub power_output: bool,
    /// Skypod patch: per-line weights (power gain × PCM mean-square scale) for long and short
    /// windows (see `AacDecoder::set_spectral_weighting`).
    pub weights: Option<(Box<[f32; 1024]>, Box<[f32; 128]>)>,
    /// Skypod patch: per channel of the last frame, the weighted mean square.
    pub weighted: Vec<f32>,
    /// Skypod patch: per channel of the last frame, the amplitude bound of its coefficients.
    pub amplitude_bounds: Vec<f32>,
}

impl Dsp {
    pub fn new() -> Self {
        let mut kbd_long_win: [f32; 1024] = [0.0; 1024];
        let mut kbd_short_win: [f32; 128] = [0.0; 128];
        generate_window(WindowType::KaiserBessel(4.0), 1.0, 1024, true, &mut kbd_long_win);
        generate_window(WindowType::KaiserBessel(6.0), 1.0, 128, true, &mut kbd_short_win);
        let mut sine_long_win: [f32; 1024] = [0.0; 1024];
        let mut sine_short_win: [f32; 128] = [0.0; 128];
        generate_window(WindowType::Sine, 1.0, 1024, true, &mut sine_long_win);
        generate_window(WindowType::Sine, 1.0, 128, true, &mut sine_short_win);

        Self {
            kbd_long_win,
            kbd_short_win,
            sine_long_win,
            sine_short_win,
            imdct_long: Imdct::new_scaled(1024, 1.0 / 2048.0),
            imdct_short: Imdct::new_scaled(128, 1.0 / 256.0),
            pcm_long: [0.0; 2048],
            pcm_short: [0.0; 1152],
            power_output: false,
            weights: None,
            weighted: Vec::new(),
            amplitude_bounds: Vec::new(),
        }
    }

    #[allow(clippy::cognitive_complexity)]
    pub fn synth(
        &mut self,
        coeffs: &[f32; 1024],
        delay: &mut [f32; 1024],
        seq: u8,
        window_shape: bool,
        prev_window_shape: bool,
        dst: &mut [f32],
    ) {
        // Skypod patch: spectral loudness statistics (see `AacDecoder::set_spectral_weighting`).
        if let Some((long, short)) = &self.weights {
            let mut acc = [0f32; 8];
            let mut abs = [0f32; 8];
            let short_seq = seq == EIGHT_SHORT_SEQUENCE;
            for (j, c) in coeffs.chunks_exact(8).enumerate() {
                let w = if short_seq {
                    &short[(j * 8) % 128..(j * 8) % 128 + 8]
                }
                else {
                    &long[j * 8..j * 8 + 8]
                };
                for i in 0..8 {
                    acc[i] += w[i] * c[i] * c[i];
                    abs[i] += c[i].abs();
                }
            }
            self.weighted.push(acc.iter().sum());
            let amp = if short_seq { SHORT_AMPLITUDE } else { LONG_AMPLITUDE };
            self.amplitude_bounds.push(abs.iter().sum::<f32>() * amp);
        }

        // Skypod patch: in power mode every output sample of the frame carries the frame's RMS,
        // taken from its spectral coefficients; the IMDCT, windowing and overlap are skipped.
        if self.power_output {
            dst.fill(frame_rms(coeffs, seq));
            return;
        }

        let (long_win, short_win) = match window_shape {
            true => (&self.kbd_long_win, &self.kbd_short_win),
            false => (&self.sine_long_win, &self.sine_short_win),
        };

        let (prev_long_win, prev_short_win) = match prev_window_shape {
            true => (&self.kbd_long_win, &self.kbd_short_win),
            false => (&self.sine_long_win, &self.sine_short_win),
        };

        // Inverse MDCT
        if seq != EIGHT_SHORT_SEQUENCE {
            self.imdct_long.imdct(coeffs, &mut self.pcm_long);
        }
        else {
            for (ain, aout) in coeffs.chunks_exact(128).zip(self.pcm_long.chunks_exact_mut(256)) {
                self.imdct_short.imdct(ain, aout);
            }

            // Zero the eight short sequence buffer.
            self.pcm_short.fill(0.0);

            for (w, src) in self.pcm_long.chunks_exact(256).enumerate() {
                if w > 0 {
                    for i in 0..128 {
                        self.pcm_short[w * 128 + i] += src[i] * short_win[i];
                        self.pcm_short[w * 128 + i + 128] += src[i + 128] * short_win[127 - i];
                    }
                }
                else {
                    for i in 0..128 {
                        self.pcm_short[i] = src[i] * prev_short_win[i];
                        self.pcm_short[i + 128] = src[i + 128] * short_win[127 - i];
                    }
                }
            }
        }

        // Output new audio samples.
        match seq {
            ONLY_LONG_SEQUENCE | LONG_START_SEQUENCE => {
                for i in 0..1024 {
                    dst[i] = delay[i] + (self.pcm_long[i] * prev_long_win[i]);
                }
            }
            EIGHT_SHORT_SEQUENCE => {
                dst[..SHORT_WIN_POINT0].copy_from_slice(&delay[..SHORT_WIN_POINT0]);

                for i in SHORT_WIN_POINT0..1024 {
                    dst[i] = delay[i] + self.pcm_short[i - SHORT_WIN_POINT0];
                }
            }
            LONG_STOP_SEQUENCE => {
                dst[..SHORT_WIN_POINT0].copy_from_slice(&delay[..SHORT_WIN_POINT0]);

                for i in SHORT_WIN_POINT0..SHORT_WIN_POINT1 {
                    dst[i] = delay[i] + self.pcm_long[i] * prev_short_win[i - SHORT_WIN_POINT0];
                }
                for i in SHORT_WIN_POINT1..1024 {
                    dst[i] = delay[i] + self.pcm_long[i];
                }
            }
            _ => unreachable!(),
        };

        // Save delay for overlap.
        match seq {
            ONLY_LONG_SEQUENCE | LONG_STOP_SEQUENCE => {
                for i in 0..1024 {
                    delay[i] = self.pcm_long[i + 1024] * long_win[1023 - i];
                }
            }
            EIGHT_SHORT_SEQUENCE => {
                for i in 0..SHORT_WIN_POINT1 {
                    // Last part is already windowed.
                    delay[i] = self.pcm_short[i + 512 + 64];
                }

                delay[SHORT_WIN_POINT1..].fill(0.0);
            }
            LONG_START_SEQUENCE => {
                delay[..SHORT_WIN_POINT0]
                    .copy_from_slice(&self.pcm_long[1024..(SHORT_WIN_POINT0 + 1024)]);

                for i in SHORT_WIN_POINT0..SHORT_WIN_POINT1 {
                    delay[i] = self.pcm_long[i + 1024] * short_win[127 - (i - SHORT_WIN_POINT0)];
                }

                delay[SHORT_WIN_POINT1..].fill(0.0);
            }
            _ => unreachable!(),
        };
    }
}

/// Skypod patch: mean PCM power per unit of spectral power, for the scaled IMDCTs above. The
/// MDCT with a Princen-Bradley window is a lapped orthogonal transform, so the windowed,
/// overlapped output keeps the coefficients' power up to the transform's scale: for an
/// `Imdct::new_scaled(n, s)` that is `s² · n / 2` per coefficient, spread over the window's
/// `n` new samples — `2^-23` for the long transform (n = 1024, s = 1/2048) and `2^-20` for the
/// eight short ones (n = 128, s = 1/256). Checked against the PCM path by skypod-feeds' silence
/// tests.
pub const LONG_POWER_SCALE: f32 = 1.0 / 8_388_608.0;
pub const SHORT_POWER_SCALE: f32 = 1.0 / 1_048_576.0;

/// Skypod patch: the largest magnitude one coefficient adds to any PCM sample: the scaled IMDCTs'
/// basis functions are the scale times a cosine, windowed by at most 1 (with a little headroom
/// for f32 rounding). Each coefficient belongs to one (long or short) transform, and a sample is
/// the sum of the two transforms that overlap there (this frame's and the previous frame's, or
/// two neighbouring short windows of one frame), so the sum of magnitudes of the coefficients of
/// a frame and the one before it, times this, bounds every sample the frame outputs.
const LONG_AMPLITUDE: f32 = 1.001 / 2048.0;
const SHORT_AMPLITUDE: f32 = 1.001 / 256.0;

/// Skypod patch: the RMS, at PCM level, of one frame of 1024 spectral coefficients.
fn frame_rms(coeffs: &[f32; 1024], seq: u8) -> f32 {
    // Eight accumulators so the loop vectorises.
    let mut acc = [0f32; 8];
    for c in coeffs.chunks_exact(8) {
        for i in 0..8 {
            acc[i] += c[i] * c[i];
        }
    }
    let sum: f32 = acc.iter().sum();
    let scale = if seq == EIGHT_SHORT_SEQUENCE { SHORT_POWER_SCALE } else { LONG_POWER_SCALE };
    (sum * scale).sqrt()
}
