/**
 * Leave-one-speaker-out folds as in the paper (§4.3): for each session and each of its speakers, that speaker
 * is the test set, the other speaker(s) of the session validate, and every other session trains. IEMOCAP gives
 * 10 folds; RAVDESS (sessions = actor pairs) 24. Pure functions of the utterance list.
 */
import type { Utterance } from '../data/corpora.js';
import { corpusError } from '../data/corpora.js';
import { arrayOf, invalid, string } from '../validate.js';

/** Utterance records: only the fields folds are made of are checked (the records carry others). */
const record =
  (...fields: string[]) =>
  (v: unknown, name: string) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      throw invalid(name, `an utterance (an object with ${fields.join(' and ')})`, v, 'Pass the list a corpus reader returns.');
    for (const f of fields) string()((v as Record<string, unknown>)[f], `${name}.${f}`);
  };

export interface Fold {
  name: string;
  test: string[];
  validation: string[];
  train: string[];
}

export function losoFolds(utterances: Utterance[]): Fold[] {
  arrayOf(record('session', 'speaker'))(utterances, 'utterances');
  const bySession = new Map<string, Set<string>>();
  for (const u of utterances) {
    if (!bySession.has(u.session)) bySession.set(u.session, new Set());
    bySession.get(u.session)!.add(u.speaker);
  }
  const sessions = [...bySession.keys()].sort();
  if (sessions.length < 2) throw corpusError(`LOSO needs at least 2 sessions to train on one and test on another, found ${sessions.length}.`);
  const folds: Fold[] = [];
  for (const session of sessions) {
    const speakers = [...bySession.get(session)!].sort();
    if (speakers.length < 2)
      throw corpusError(`LOSO: session ${session} has one speaker (${speakers[0]}); each session needs a second speaker to validate on.`);
    const train = sessions.filter((s) => s !== session).flatMap((s) => [...bySession.get(s)!].sort());
    for (const test of speakers) folds.push({ name: `${session}-${test}`, test: [test], validation: speakers.filter((s) => s !== test), train });
  }
  return folds;
}

/** The utterances of a fold's part. */
export function select(utterances: Utterance[], speakers: string[]): Utterance[] {
  arrayOf(record('speaker'))(utterances, 'utterances');
  arrayOf(string())(speakers, 'speakers');
  const set = new Set(speakers);
  return utterances.filter((u) => set.has(u.speaker));
}
