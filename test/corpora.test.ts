import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeAudio, isTrnetError, losoFolds, readEsc50, readIemocap, readMusanNoise, readNoiseFolder, readRavdess, select, writeWav } from '../ts/index.js';
import { sharedPath } from './shared.js';

const work = mkdtempSync(join(tmpdir(), 'trnet-corpora-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const tone = new Float32Array(1600).map((_, i) => 0.1 * Math.sin(i / 5));

function codeAndMessage(fn: () => unknown): [string | undefined, string] {
  try {
    fn();
  } catch (err) {
    return [isTrnetError(err) ? err.code : undefined, String(err)];
  }
  return [undefined, 'no error'];
}

describe('RAVDESS reader (real corpus)', () => {
  const all = readRavdess(sharedPath('data/ravdess'));

  it('reads all 1440 utterances with labels, speakers, genders and actor-pair sessions', () => {
    expect(all.length).toBe(1440);
    expect(new Set(all.map((u) => u.speaker)).size).toBe(24);
    expect(new Set(all.map((u) => u.session)).size).toBe(12);
    const count = (e: string) => all.filter((u) => u.emotion === e).length;
    expect(count('neutral')).toBe(96);
    expect(count('angry')).toBe(192);
    const a1 = all.find((u) => u.speaker === 'Actor_01')!;
    expect([a1.gender, a1.session]).toEqual(['male', 'pair01']);
    expect(all.find((u) => u.speaker === 'Actor_02')!.gender).toBe('female');
  });

  it('keeps only the asked emotions', () => {
    const four = readRavdess(sharedPath('data/ravdess'), { emotions: ['neutral', 'happy', 'sad', 'angry'] });
    expect(four.length).toBe(96 + 3 * 192);
  });

  it('refuses a file whose name does not follow the scheme, naming it', () => {
    const root = join(work, 'ravdess-bad');
    mkdirSync(join(root, 'Actor_01'), { recursive: true });
    writeFileSync(join(root, 'Actor_01', 'take1.wav'), '');
    const [code, message] = codeAndMessage(() => readRavdess(root));
    expect(code).toBe('TRNET_CORPUS');
    expect(message).toContain('take1.wav');
    expect(codeAndMessage(() => readRavdess(join(work, 'nowhere')))[0]).toBe('TRNET_CORPUS');
  });
});

describe('ESC-50 reader (real fold 4)', () => {
  it('reads fold 4: 400 clips, 50 categories, Freesound source ids', () => {
    const clips = readEsc50(sharedPath('data/esc50'), { folds: [4] });
    expect(clips.length).toBe(400);
    expect(new Set(clips.map((c) => c.category)).size).toBe(50);
    expect(clips[0]!.source).toMatch(/^esc50:\d+$/);
    expect(decodeAudio(clips[0]!.path).durationSeconds).toBeCloseTo(5, 1);
  });

  it('says which folds to restrict to when listed audio is absent', () => {
    const [code, message] = codeAndMessage(() => readEsc50(sharedPath('data/esc50')));
    expect(code).toBe('TRNET_CORPUS');
    expect(message).toMatch(/folds/);
  });

  it('reads a plain folder of noise recordings (Speech Commands)', () => {
    const clips = readNoiseFolder(sharedPath('data/noise-speechcommands'));
    expect(clips.map((c) => c.id)).toContain('running_tap');
    expect(clips.length).toBe(6);
  });
});

describe('IEMOCAP and MUSAN readers (generated fixtures in the real layouts)', () => {
  const iemocap = join(work, 'IEMOCAP_full_release');
  const utterances: [number, string, string][] = [
    [1, 'Ses01F_impro01_F000', 'neu'],
    [1, 'Ses01F_impro01_M000', 'exc'],
    [1, 'Ses01F_impro01_M001', 'fru'],
    [1, 'Ses01M_script02_F003', 'ang'],
    [2, 'Ses02F_impro03_M010', 'sad'],
    [2, 'Ses02F_impro03_F011', 'hap'],
  ];
  for (const [s, id, label] of utterances) {
    const dialog = id.slice(0, id.lastIndexOf('_'));
    mkdirSync(join(iemocap, `Session${s}/sentences/wav/${dialog}`), { recursive: true });
    mkdirSync(join(iemocap, `Session${s}/dialog/EmoEvaluation`), { recursive: true });
    writeWav(join(iemocap, `Session${s}/sentences/wav/${dialog}/${id}.wav`), tone);
    const evalFile = join(iemocap, `Session${s}/dialog/EmoEvaluation/${dialog}.txt`);
    writeFileSync(evalFile, `% header\n\n[1.0100 - 3.2000]\t${id}\t${label}\t[2.5000, 3.0000, 3.0000]\nC-E1:\tNeutral;\t()\n`, { flag: 'a' });
  }

  it('maps labels to the paper’s four classes (excited → happy, others dropped) and speakers to session + gender', () => {
    const u = readIemocap(iemocap);
    expect(u.map((x) => [x.id, x.emotion, x.speaker, x.session])).toEqual([
      ['Ses01F_impro01_F000', 'neutral', 'Ses01F', 'Ses01'],
      ['Ses01F_impro01_M000', 'happy', 'Ses01M', 'Ses01'],
      ['Ses01M_script02_F003', 'angry', 'Ses01F', 'Ses01'],
      ['Ses02F_impro03_M010', 'sad', 'Ses02M', 'Ses02'],
      ['Ses02F_impro03_F011', 'happy', 'Ses02F', 'Ses02'],
    ]);
    expect(decodeAudio(u[0]!.path).samples.length).toBe(1600);
  });

  it('reports a labelled utterance whose audio is missing', () => {
    const broken = join(work, 'iemocap-broken');
    mkdirSync(join(broken, 'Session1/dialog/EmoEvaluation'), { recursive: true });
    writeFileSync(join(broken, 'Session1/dialog/EmoEvaluation/Ses01F_impro01.txt'), '[1.0 - 2.0]\tSes01F_impro01_F000\tang\t[1, 1, 1]\n');
    const [code, message] = codeAndMessage(() => readIemocap(broken));
    expect(code).toBe('TRNET_CORPUS');
    expect(message).toContain('Ses01F_impro01_F000.wav does not exist');
  });

  it('reads MUSAN noise with one source per recording', () => {
    const musan = join(work, 'musan');
    for (const [sub, name] of [
      ['free-sound', 'noise-free-sound-0000'],
      ['sound-bible', 'noise-sound-bible-0001'],
    ] as const) {
      mkdirSync(join(musan, 'noise', sub), { recursive: true });
      writeWav(join(musan, 'noise', sub, `${name}.wav`), tone);
    }
    const clips = readMusanNoise(musan);
    expect(clips.map((c) => [c.category, c.source])).toEqual([
      ['free-sound', 'musan:noise-free-sound-0000'],
      ['sound-bible', 'musan:noise-sound-bible-0001'],
    ]);
  });
});

describe('LOSO folds', () => {
  it('give RAVDESS 24 folds: test one actor, validate on the pair partner, train on the other pairs', () => {
    const all = readRavdess(sharedPath('data/ravdess'));
    const folds = losoFolds(all);
    expect(folds.length).toBe(24);
    const f = folds[0]!;
    expect([f.test, f.validation]).toEqual([['Actor_01'], ['Actor_02']]);
    expect(f.train.length).toBe(22);
    for (const fold of folds) {
      const parts = [fold.test, fold.validation, fold.train].flat();
      expect(new Set(parts).size).toBe(24);
    }
    expect(select(all, f.test).length).toBe(60);
  });

  it('refuse a session with a single speaker', () => {
    const [code] = codeAndMessage(() =>
      losoFolds([
        { corpus: 'x', path: 'a', id: 'a', speaker: 's1', session: 'A', gender: 'male', emotion: 'sad' },
        { corpus: 'x', path: 'b', id: 'b', speaker: 's2', session: 'B', gender: 'male', emotion: 'sad' },
      ]),
    );
    expect(code).toBe('TRNET_CORPUS');
  });
});
