/**
 * DSP benchmark: log-Mel filterbank throughput (× real time) of trnet against torchaudio's kaldi.fbank,
 * kaldi-native-fbank and a plain TypeScript implementation, plus decode and decode+resample throughput,
 * all on the same RAVDESS audio in the same run. Ratios are against torchaudio measured here and now.
 *
 * Also GTCRN's STFT and inverse STFT (the SE stage's own framing) against torch.stft / torch.istft.
 *
 *   npx tsx bench/dsp.ts [--files 120] [--repeats 3]
 *
 * Python baselines need the dev venv (scripts/setup-dev.sh, made on first use). Single-thread figures pin
 * torch to one thread and call trnet's one-waveform API; "all threads" uses trnet's batch API.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { decodeAudio, fbank, fbankBatch, GTCRN_STFT, info, istft, loadAudioBatch, PAPER_FBANK, stft } from '../ts/index.js';
import { PlainFbank } from './lib/plain-fbank.js';
import { bestOf, devPython, ravdessFiles, repoRoot, table, wav16 } from './lib/timing.js';

const { values } = parseArgs({ options: { files: { type: 'string', default: '120' }, repeats: { type: 'string', default: '3' } } });
const repeats = Number(values.repeats);
const files = ravdessFiles(Number(values.files));
const waves = files.map((f) => decodeAudio(f).samples);
const audioSeconds = waves.reduce((s, w) => s + w.length, 0) / 16_000;
const cores = info().cpuCount;
console.log(`${files.length} RAVDESS files, ${audioSeconds.toFixed(1)} s of audio; ${cores} CPU(s); best of ${repeats}\n`);

const work = mkdtempSync(join(tmpdir(), 'trnet-bench-'));
try {
  // The same audio for everyone: raw float32 for the Python fbanks, 48 kHz WAV for decode + resample.
  const raw = waves.map((w, i) => {
    const p = join(work, `${i}.f32`);
    writeFileSync(p, Buffer.from(w.buffer, w.byteOffset, w.byteLength));
    return p;
  });
  const wav48k = files.map((f, i) => {
    const p = join(work, `${i}.wav`);
    writeFileSync(p, wav16(decodeAudio(f, { targetRate: 48_000 }).samples, 48_000));
    return p;
  });

  const t: Record<string, number> = {};
  t['trnet fbank, 1 thread'] = await bestOf(repeats, () => {
    for (const w of waves) fbank(w, PAPER_FBANK);
  });
  t[`trnet fbankBatch, ${cores} threads`] = await bestOf(repeats, () => fbankBatch(waves, PAPER_FBANK));
  const plain = new PlainFbank(80);
  t['plain TypeScript fbank, 1 thread'] = await bestOf(repeats, () => {
    for (const w of waves) plain.compute(w);
  });
  t['trnet decode FLAC 16k, 1 thread'] = await bestOf(repeats, () => {
    for (const f of files) decodeAudio(f);
  });
  t[`trnet loadAudioBatch FLAC 16k, ${cores} threads`] = await bestOf(repeats, () => loadAudioBatch(files));
  t['trnet decode WAV 48k + resample to 16k, 1 thread'] = await bestOf(repeats, () => {
    for (const f of wav48k) decodeAudio(f);
  });
  t[`trnet loadAudioBatch WAV 48k→16k, ${cores} threads`] = await bestOf(repeats, () => loadAudioBatch(wav48k));
  t['trnet STFT + inverse STFT (GTCRN framing), 1 thread'] = await bestOf(repeats, () => {
    for (const w of waves) istft(stft(w, GTCRN_STFT), GTCRN_STFT, w.length);
  });

  const { python, why } = devPython();
  if (python) {
    const manifest = join(work, 'manifest.json');
    writeFileSync(manifest, JSON.stringify({ raw, wav48k, threads: 1, repeats }));
    const py = JSON.parse(execFileSync(python, [join(repoRoot, 'bench/reference/dsp_baselines.py'), manifest], { encoding: 'utf8' }));
    t[`torchaudio ${py.torch} kaldi.fbank, 1 thread`] = py.torchaudio_fbank_s;
    t['kaldi-native-fbank, compute only, 1 thread'] = py.kaldi_native_fbank_compute_s;
    t['kaldi-native-fbank, compute + read frames from Python, 1 thread'] = py.kaldi_native_fbank_s;
    t['soundfile + torchaudio resample 48k→16k, 1 thread'] = py.soundfile_torchaudio_resample_s;
    t[`torch ${py.torch} stft + istft (GTCRN framing), 1 thread`] = py.torch_stft_istft_s;
  } else {
    console.log(`Python baselines unavailable (${why}); ratios use the plain TypeScript fbank instead.\n`);
  }

  const baselineName = Object.keys(t).find((k) => k.startsWith('torchaudio')) ?? 'plain TypeScript fbank, 1 thread';
  const fbankRows = Object.keys(t).filter((k) => /fbank/i.test(k));
  const stftRows = Object.keys(t).filter((k) => /stft/i.test(k));
  const ioRows = Object.keys(t).filter((k) => !/fbank|stft/i.test(k));
  const resampleBase = t['soundfile + torchaudio resample 48k→16k, 1 thread'];
  console.log('Log-Mel filterbank (80 bins, 25/10 ms, povey, dither 0)');
  console.log(
    table([
      ['', 'seconds', '× real time', `ratio vs ${baselineName}`],
      ...fbankRows.map((k) => [k, t[k]!.toFixed(4), Math.round(audioSeconds / t[k]!), (t[baselineName]! / t[k]!).toFixed(2)]),
    ]),
  );
  console.log('\nDecode and resample');
  console.log(
    table([
      ['', 'seconds', '× real time', 'ratio vs soundfile + torchaudio'],
      ...ioRows.map((k) => [k, t[k]!.toFixed(4), Math.round(audioSeconds / t[k]!), resampleBase ? (resampleBase / t[k]!).toFixed(2) : 'n/a']),
    ]),
  );
  const stftBase = t[stftRows.find((k) => k.startsWith('torch ')) ?? ''];
  console.log('\nSTFT + inverse STFT (n_fft 512, hop 256, √Hann, centred; the SE stage around GTCRN)');
  console.log(
    table([
      ['', 'seconds', '× real time', 'ratio vs torch'],
      ...stftRows.map((k) => [k, t[k]!.toFixed(4), Math.round(audioSeconds / t[k]!), stftBase ? (stftBase / t[k]!).toFixed(2) : 'n/a']),
    ]),
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
