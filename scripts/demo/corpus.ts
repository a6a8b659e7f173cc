/**
 * The built-in demo corpus: synthesized speech (espeak-ng compiled to WebAssembly; a devDependency used only here,
 * never by the package) from 10 voices in 5 sessions, four emotions expressed through prosody (pitch level and
 * range, rate, loudness) with per-utterance jitter so the classes overlap, and two noise environments built from
 * synthetic families: matched = babble (mixed voices) and coloured stationary noise; unmatched = impulsive noise
 * (knocks and clicks) over a mains hum. Deterministic: the same seed gives the same files. It is a demo, not an
 * emotion corpus: prosody rules stand in for acted emotion.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { splitmix } from '../../ts/experiment/data.js';
import { decodeAudioBytes, writeWav } from '../../ts/index.js';

/** 2: draws from the experiment's SplitMix64 (`splitmix`) instead of a private copy with another seed offset. */
export const DEMO_VERSION = 2;
export const DEMO_EMOTIONS = ['angry', 'happy', 'neutral', 'sad'] as const;

/** Voices (espeak-ng voice + variant) as speakers; sessions pair a male and a female voice, as IEMOCAP's. */
const VOICES = [
  { id: 'spk01', voice: 'en-us+m1', gender: 'male', pitch: 0 },
  { id: 'spk02', voice: 'en-us+f1', gender: 'female', pitch: 0 },
  { id: 'spk03', voice: 'en-gb+m3', gender: 'male', pitch: -6 },
  { id: 'spk04', voice: 'en-gb+f2', gender: 'female', pitch: 4 },
  { id: 'spk05', voice: 'en-us+m4', gender: 'male', pitch: 5 },
  { id: 'spk06', voice: 'en-us+f3', gender: 'female', pitch: -4 },
  { id: 'spk07', voice: 'en-gb-scotland+m2', gender: 'male', pitch: 2 },
  { id: 'spk08', voice: 'en-us+f4', gender: 'female', pitch: 6 },
  { id: 'spk09', voice: 'en-029+m7', gender: 'male', pitch: -3 },
  { id: 'spk10', voice: 'en-gb-x-rp+f5', gender: 'female', pitch: -2 },
] as const;

const SENTENCES = [
  'The boxes are stacked beside the old garage',
  'We will meet again after the long weekend',
  'Somebody left the window open last night',
  'The train to the city leaves at seven',
  'Please put the folders back on the shelf',
  'I saw the letter on the kitchen table',
  'They painted the fence a different colour',
  'The meeting was moved to the second floor',
  'Her brother bought a new bicycle yesterday',
  'The museum closes early on Sundays',
];

const BABBLE_TEXTS = [
  'Could you tell me where the station is from here',
  'I think the weather will change before the evening',
  'Our neighbours are planning a small party on Friday',
  'The report has to be finished by the end of the month',
  'He always forgets his umbrella at the office',
  'Let us take the shorter road through the village',
];

/** Prosody per emotion: pitch offset (%), range (%), rate (%), volume (dB); jitter is added per utterance. */
const PROSODY: Record<(typeof DEMO_EMOTIONS)[number], { pitch: number; range: number; rate: number; volume: number }> = {
  angry: { pitch: 10, range: 150, rate: 118, volume: 5 },
  happy: { pitch: 25, range: 190, rate: 108, volume: 2 },
  neutral: { pitch: 0, range: 100, rate: 100, volume: 0 },
  sad: { pitch: -15, range: 55, rate: 82, volume: -5 },
};
const JITTER = { pitch: 12, range: 45, rate: 12, volume: 3 };

/** The few WebAssembly calls used here (the project's tsconfig has no DOM lib, which declares them). */
interface Wasm {
  compile(bytes: Uint8Array): Promise<object>;
  instantiate(module: object, imports: object): Promise<object>;
}
const wasm = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;

type ESpeakModule = { FS: { readFile(path: string): Uint8Array } };
type ESpeakFactory = (options: {
  arguments: string[];
  instantiateWasm?: unknown;
  print?: (s: string) => void;
  printErr?: (s: string) => void;
}) => Promise<ESpeakModule>;

/** espeak-ng's WebAssembly, compiled once and instantiated per utterance (its CLI runs once per instance). */
async function synthesizer(): Promise<(voice: string, ssml: string) => Promise<Float32Array>> {
  const require = createRequire(import.meta.url);
  const entry = require.resolve('espeak-ng');
  const factory = ((await import(entry)) as { default: ESpeakFactory }).default;
  const compiled = await wasm.compile(readFileSync(join(entry, '..', 'espeak-ng.wasm')));
  return async (voice, ssml) => {
    const es = await factory({
      arguments: ['-m', '-w', 'out.wav', '-v', voice, ssml],
      print: () => {},
      printErr: () => {},
      instantiateWasm: (imports: object, done: (instance: object, module: object) => void) => {
        void wasm.instantiate(compiled, imports).then((instance) => done(instance, compiled));
        return {};
      },
    });
    return decodeAudioBytes(Buffer.from(es.FS.readFile('out.wav')), 'espeak.wav').samples;
  };
}

function ssml(text: string, p: { pitch: number; range: number; rate: number; volume: number }): string {
  const sign = (x: number) => (x >= 0 ? `+${x.toFixed(0)}` : x.toFixed(0));
  return `<speak><prosody pitch="${sign(p.pitch)}%" range="${Math.max(10, p.range).toFixed(0)}%" rate="${Math.max(40, p.rate).toFixed(0)}%" volume="${sign(p.volume)}dB">${text}</prosody></speak>`;
}

const SR = 16_000;

function loopTo(x: Float32Array, length: number, offset: number): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = x[(i + offset) % x.length]!;
  return out;
}

function normalise(x: Float32Array, rms: number): Float32Array {
  const now = Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length) || 1;
  return x.map((v) => (v * rms) / now);
}

/** Coloured noise: white noise through a one-pole low-pass (brown-ish) mixed with white by `tilt`. */
function coloured(r: () => number, seconds: number, tilt: number): Float32Array {
  const n = seconds * SR;
  const out = new Float32Array(n);
  let lp = 0;
  for (let i = 0; i < n; i++) {
    const w = 2 * r() - 1;
    lp = 0.97 * lp + 0.03 * w;
    out[i] = tilt * lp * 6 + (1 - tilt) * w;
  }
  return normalise(out, 0.05);
}

/** Impulsive noise: decaying noise bursts (knocks) and clicks at random times over a faint 50 Hz hum. */
function impulsive(r: () => number, seconds: number): Float32Array {
  const n = seconds * SR;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 0.004 * Math.sin((2 * Math.PI * 50 * i) / SR) + 0.002 * Math.sin((2 * Math.PI * 150 * i) / SR);
  const events = 6 + Math.floor(r() * 10);
  for (let e = 0; e < events; e++) {
    const start = Math.floor(r() * (n - 4000));
    const decay = 200 + r() * 1500;
    const amp = 0.2 + r() * 0.6;
    const click = r() < 0.4;
    for (let i = 0; i < (click ? 80 : 4000); i++) out[start + i]! += amp * Math.exp(-i / (click ? 10 : decay)) * (2 * r() - 1);
  }
  return normalise(out, 0.05);
}

export interface DemoCorpus {
  dir: string;
  manifest: string;
  matched: string;
  unmatched: string;
}

/**
 * Makes the demo corpus under `root` once (an existing complete copy is reused): speech with a manifest.csv, and
 * noise/matched and noise/unmatched folders. Written to a temporary folder and renamed into place when whole.
 */
export async function ensureDemoCorpus(root: string, log: (line: string) => void = () => {}): Promise<DemoCorpus> {
  const dir = join(root, `demo-corpus-v${DEMO_VERSION}`);
  const paths = { dir, manifest: join(dir, 'manifest.csv'), matched: join(dir, 'noise', 'matched'), unmatched: join(dir, 'noise', 'unmatched') };
  if (existsSync(join(dir, 'complete.json'))) return paths;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, 'speech'), { recursive: true });
  mkdirSync(join(tmp, 'noise', 'matched'), { recursive: true });
  mkdirSync(join(tmp, 'noise', 'unmatched'), { recursive: true });
  const speak = await synthesizer();
  const r = splitmix(2024);
  const rows = ['path,label,speaker,session,gender'];
  const total = VOICES.length * DEMO_EMOTIONS.length * SENTENCES.length;
  let done = 0;
  for (const [v, voice] of VOICES.entries()) {
    for (const emotion of DEMO_EMOTIONS) {
      for (const [s, text] of SENTENCES.entries()) {
        const base = PROSODY[emotion];
        const jitter = (k: keyof typeof JITTER) => (2 * r() - 1) * JITTER[k];
        const samples = await speak(
          voice.voice,
          ssml(text, {
            pitch: base.pitch + voice.pitch + jitter('pitch'),
            range: base.range + jitter('range'),
            rate: base.rate + jitter('rate'),
            volume: base.volume + jitter('volume'),
          }),
        );
        const name = `${voice.id}_${emotion}_${String(s + 1).padStart(2, '0')}.wav`;
        writeWav(join(tmp, 'speech', name), samples);
        rows.push(`speech/${name},${emotion},${voice.id},session${Math.floor(v / 2) + 1},${voice.gender}`);
        if (++done % 50 === 0) log(`demo corpus: ${done}/${total} utterances synthesized`);
      }
    }
  }
  writeFileSync(join(tmp, 'manifest.csv'), `${rows.join('\n')}\n`);

  // Babble: five voices speaking other sentences at once, looped to 5 s; 8 clips.
  const babbleVoices = ['de+m2', 'fr-fr+f2', 'es+m3', 'it+f3', 'nl+m1', 'en-us+m6', 'en-gb+f4', 'pl+m2'];
  const talkers: Float32Array[] = [];
  for (const [i, voice] of babbleVoices.entries())
    talkers.push(await speak(voice, ssml(BABBLE_TEXTS[i % BABBLE_TEXTS.length]!, { pitch: 0, range: 100, rate: 100, volume: 0 })));
  for (let k = 0; k < 8; k++) {
    const mix = new Float32Array(5 * SR);
    for (let t = 0; t < 5; t++) {
      const talker = talkers[(k + t * 3) % talkers.length]!;
      const part = loopTo(talker, mix.length, Math.floor(r() * talker.length));
      for (let i = 0; i < mix.length; i++) mix[i]! += part[i]!;
    }
    writeWav(join(tmp, 'noise', 'matched', `babble_${k + 1}.wav`), normalise(mix, 0.05));
  }
  for (let k = 0; k < 8; k++) writeWav(join(tmp, 'noise', 'matched', `coloured_${k + 1}.wav`), coloured(r, 5, k / 7));
  for (let k = 0; k < 8; k++) writeWav(join(tmp, 'noise', 'unmatched', `impulsive_${k + 1}.wav`), impulsive(r, 5));
  writeFileSync(join(tmp, 'complete.json'), `${JSON.stringify({ version: DEMO_VERSION, utterances: total })}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return paths;
}
