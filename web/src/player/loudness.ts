/**
 * Loudness normalisation: the gain that brings an episode's measured integrated loudness
 * (from the server's analysis) to −16 LUFS, and the Web Audio graph that applies it with a
 * limiter keeping the true peak under −1 dBTP; "boost" adds light compression for noisy rooms.
 * `gainFor` is pure; `LoudnessGraph` wires an <audio> element through Web Audio.
 */
export const TARGET_LUFS = -16;
export const CEILING_DBTP = -1;
/** Never more than this much gain: a near-silent episode must not become a noise blast. */
export const MAX_GAIN_DB = 18;

export interface Loudness {
  integrated_lufs: number;
  true_peak_dbtp: number;
}

export interface GainPlan {
  /** Gain applied before the limiter (dB). */
  gainDb: number;
  /** Whether the limiter has work to do (the gained true peak would pass the ceiling). */
  limiting: boolean;
}

export function gainFor(l: Loudness | null, target = TARGET_LUFS): GainPlan {
  if (!l || !Number.isFinite(l.integrated_lufs) || l.integrated_lufs < -70) return { gainDb: 0, limiting: false };
  const gainDb = Math.max(-MAX_GAIN_DB, Math.min(MAX_GAIN_DB, target - l.integrated_lufs));
  const peak = Number.isFinite(l.true_peak_dbtp) ? l.true_peak_dbtp : 0;
  return { gainDb: Math.round(gainDb * 100) / 100, limiting: peak + gainDb > CEILING_DBTP };
}

export const dbToGain = (db: number) => Math.pow(10, db / 20);

/** source → gain → [compressor when boosting] → limiter → destination. */
export class LoudnessGraph {
  readonly ctx: AudioContext;
  readonly gain: GainNode;
  readonly compressor: DynamicsCompressorNode;
  readonly limiter: DynamicsCompressorNode;
  private boost = false;

  constructor(audio: HTMLMediaElement) {
    this.ctx = new AudioContext();
    const src = this.ctx.createMediaElementSource(audio);
    this.gain = this.ctx.createGain();
    // Light compression for noisy rooms: 3:1 above −24 dBFS, soft knee.
    this.compressor = this.ctx.createDynamicsCompressor();
    this.compressor.threshold.value = -24;
    this.compressor.ratio.value = 3;
    this.compressor.knee.value = 12;
    this.compressor.attack.value = 0.01;
    this.compressor.release.value = 0.25;
    // A brick-wall-ish limiter a little under the ceiling: the browser's compressor has no
    // look-ahead, so it sits at −2 dBFS to keep inter-sample peaks under −1 dBTP.
    this.limiter = this.ctx.createDynamicsCompressor();
    this.limiter.threshold.value = CEILING_DBTP - 1;
    this.limiter.ratio.value = 20;
    this.limiter.knee.value = 0;
    this.limiter.attack.value = 0.001;
    this.limiter.release.value = 0.1;
    src.connect(this.gain);
    this.route(false);
  }

  private route(boost: boolean): void {
    this.gain.disconnect();
    this.compressor.disconnect();
    this.limiter.disconnect();
    if (boost) {
      this.gain.connect(this.compressor);
      this.compressor.connect(this.limiter);
    } else this.gain.connect(this.limiter);
    this.limiter.connect(this.ctx.destination);
  }

  /** Apply a gain (dB) and the boost setting; boost adds +3 dB of make-up after compression. */
  set(gainDb: number, boost: boolean): void {
    const db = gainDb + (boost ? 3 : 0);
    // The value setter applies at once (and reads back), unlike a scheduled change, which
    // waits for the audio thread.
    this.gain.gain.value = dbToGain(db);
    if (boost !== this.boost) {
      this.boost = boost;
      this.route(boost);
    }
  }

  resume(): void {
    if (this.ctx.state === "suspended") void this.ctx.resume();
  }
}
