/**
 * Loudness normalisation: the gain that brings an episode's measured integrated loudness
 * (from the server's analysis) to −16 LUFS, and the Web Audio graph that applies it with a
 * limiter keeping the true peak under −1 dBTP; "boost" adds light compression for noisy rooms.
 * `gainFor` and `mediaSource` are pure; `LoudnessGraph` wires an <audio> element through Web Audio.
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

/** How the <audio> element loads a source so that Web Audio may read its samples. */
export interface MediaSourcePlan {
  /** The element's `crossOrigin` before `src` is set (null: no attribute). */
  crossOrigin: "anonymous" | null;
  /** Whether a MediaElementAudioSourceNode on it gives the samples (else it would give silence). */
  processable: boolean;
}

/**
 * A downloaded copy (a blob: URL this page made) and a stream from our own origin
 * (`/proxy/media` of `skypod serve`) are same-origin: the graph hears them as they are. A stream
 * from a realm server on another origin (`?server=`, development) is loaded in CORS mode: the
 * proxy answers every request with `Access-Control-Allow-Origin: *`, and without CORS mode the
 * browser would feed the graph silence. Anything else is left alone and not processed.
 */
export function mediaSource(src: string, pageOrigin: string): MediaSourcePlan {
  let u: URL;
  try {
    u = new URL(src, pageOrigin);
  } catch {
    return { crossOrigin: null, processable: false };
  }
  if (u.protocol === "blob:") return { crossOrigin: null, processable: u.origin === pageOrigin };
  if (u.protocol !== "http:" && u.protocol !== "https:") return { crossOrigin: null, processable: false };
  if (u.origin === pageOrigin) return { crossOrigin: null, processable: true };
  return { crossOrigin: "anonymous", processable: true };
}

/** source → gain → [compressor when boosting] → limiter → destination. */
export class LoudnessGraph {
  readonly ctx: AudioContext;
  readonly gain: GainNode;
  readonly compressor: DynamicsCompressorNode;
  readonly limiter: DynamicsCompressorNode;
  private boost = false;
  private probe: AnalyserNode | null = null;
  private probeBuf: Float32Array<ArrayBuffer> | null = null;

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
    if (this.probe) this.limiter.connect(this.probe);
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

  /**
   * The largest sample magnitude the graph sends out now (after the limiter), from an
   * analyser tapped on first use. Zero while the source is silent — or tainted: a cross-origin
   * source loaded without CORS gives the graph zeros, which is what this lets a test see.
   */
  outputPeak(): number {
    if (!this.probe) {
      this.probe = this.ctx.createAnalyser();
      this.probe.fftSize = 2048;
      this.probeBuf = new Float32Array(this.probe.fftSize);
      this.limiter.connect(this.probe);
    }
    const buf = this.probeBuf as Float32Array<ArrayBuffer>;
    this.probe.getFloatTimeDomainData(buf);
    let peak = 0;
    for (const v of buf) peak = Math.max(peak, Math.abs(v));
    return peak;
  }
}
