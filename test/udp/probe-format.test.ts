import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { summarizeProbes } from '../../src/metrics/probe-summary.ts';
import {
  MAX_PROBE_SIZE,
  MIN_PROBE_SIZE,
  PROBE_MAC_SIZE,
  ProbeKind,
  REPLAY_WINDOW,
  ReplayWindow,
  encodeProbe,
  peekProbe,
  replyTo,
  verifyProbe,
} from '../../src/protocol/probe.ts';

const key = Buffer.alloc(32, 7);
const keyId = Buffer.from('0102030405060708', 'hex');
const fields = { kind: ProbeKind.PROBE, keyId, seq: 42, sentAt: 1_700_000_000_123.25 };

test('layout: magic, kind, key id, seq, timestamp, zero padding, 16-byte MAC; fields read back', () => {
  const p = encodeProbe(fields, key, 64);
  assert.is(p.length, 64);
  assert.is(p.subarray(0, 4).toString('latin1'), 'FSP1');
  assert.is(p[4], 1);
  assert.equal(p.subarray(5, 13), keyId);
  assert.is(p.readUInt32BE(13), 42);
  assert.is(p.readDoubleBE(17), fields.sentAt);
  assert.ok(p.subarray(25, 64 - PROBE_MAC_SIZE).every((b) => b === 0));
  const back = peekProbe(p)!;
  assert.is(back.kind, ProbeKind.PROBE);
  assert.is(back.seq, 42);
  assert.is(back.sentAt, fields.sentAt);
  assert.equal(back.keyId, keyId);
  assert.ok(verifyProbe(p, key));
});

test('sizes: 41 to 1472 bytes; anything else is refused when encoding and ignored when received', () => {
  assert.is(MIN_PROBE_SIZE, 41);
  assert.is(encodeProbe(fields, key, MIN_PROBE_SIZE).length, 41);
  assert.is(encodeProbe(fields, key, MAX_PROBE_SIZE).length, 1472);
  assert.throws(() => encodeProbe(fields, key, 40), RangeError);
  assert.throws(() => encodeProbe(fields, key, 1473), RangeError);
  assert.throws(() => encodeProbe({ ...fields, seq: 2 ** 32 }, key, 64), RangeError);
  assert.throws(() => encodeProbe({ ...fields, keyId: Buffer.alloc(4) }, key, 64), RangeError);
  assert.is(peekProbe(encodeProbe(fields, key, 64).subarray(0, 40)), undefined);
  assert.is(peekProbe(Buffer.concat([encodeProbe(fields, key, MAX_PROBE_SIZE), Buffer.alloc(1)])), undefined);
  assert.is(peekProbe(Buffer.alloc(64)), undefined, 'no magic');
  const badKind = encodeProbe(fields, key, 64);
  badKind[4] = 3;
  assert.is(peekProbe(badKind), undefined);
});

test('MAC: a wrong key, any flipped bit and a truncated datagram all fail verification', () => {
  const p = encodeProbe(fields, key, 100);
  assert.not.ok(verifyProbe(p, Buffer.alloc(32, 8)));
  for (let bit = 0; bit < p.length * 8; bit += 7) {
    const q = Buffer.from(p);
    q[bit >> 3]! ^= 1 << (bit & 7);
    assert.not.ok(verifyProbe(q, key), `bit ${bit} flipped still verified`);
  }
  assert.not.ok(verifyProbe(p.subarray(0, 99), key));
  assert.not.ok(verifyProbe(Buffer.alloc(10), key));
});

test('a reply is the probe with kind REPLY and a new MAC; neither verifies as the other', () => {
  const p = encodeProbe(fields, key, 200);
  const r = replyTo(p, key);
  assert.is(peekProbe(r)!.kind, ProbeKind.REPLY);
  assert.ok(verifyProbe(r, key));
  // a probe with its kind byte rewritten (a reflection dressed up as a reply) does not verify
  const forged = Buffer.from(p);
  forged[4] = ProbeKind.REPLY;
  assert.not.ok(verifyProbe(forged, key));
  assert.not.ok(r.subarray(-16).equals(p.subarray(-16)));
  assert.ok(p.readUInt32BE(13) === r.readUInt32BE(13) && p.readDoubleBE(17) === r.readDoubleBE(17), 'seq and timestamp echoed');
});

test('no amplification: the reply is never larger than the datagram received, for every size', () => {
  for (let size = MIN_PROBE_SIZE; size <= MAX_PROBE_SIZE; size += 13) {
    const p = encodeProbe({ ...fields, seq: size }, randomBytes(32), size);
    assert.ok(replyTo(p, key).length <= p.length);
    assert.is(replyTo(p, key).length, p.length);
  }
});

test('replay window: each sequence number is accepted once; 0 and numbers older than the window are refused', () => {
  const w = new ReplayWindow();
  assert.not.ok(w.accept(0));
  assert.ok(w.accept(1));
  assert.not.ok(w.accept(1));
  assert.ok(w.accept(5));
  assert.ok(w.accept(3), 'late but inside the window');
  assert.not.ok(w.accept(3));
  assert.ok(w.accept(5000));
  assert.not.ok(w.accept(5000 - REPLAY_WINDOW), 'too old');
  assert.ok(w.accept(5000 - REPLAY_WINDOW + 1));
  assert.not.ok(w.accept(5000 - REPLAY_WINDOW + 1));
  // slots reused after the window moved on are fresh again
  assert.ok(w.accept(5000 + REPLAY_WINDOW + 3));
  assert.ok(w.accept(5000 + REPLAY_WINDOW + 2));
  assert.not.ok(w.accept(5000 + REPLAY_WINDOW + 2));
});

test('summary: loss, late, duplicated, reordered, RTT quantiles and RFC 3550 jitter', () => {
  const r = (rttMs: number | null, extra: Partial<{ late: boolean; duplicates: number; reordered: boolean }> = {}) => ({
    rttMs,
    late: false,
    duplicates: 0,
    reordered: false,
    ...extra,
  });
  const records = [r(10), r(12), r(null, { late: true }), r(null), r(14, { reordered: true, duplicates: 2 })];
  const s = summarizeProbes(records, [10, 12, 14], 64, 4450);
  if (!s.available) throw new Error(s.reason);
  assert.is(s.sent, 5);
  assert.is(s.received, 3);
  assert.is(s.lost, 2);
  assert.is(s.lossPercent, 40);
  assert.is(s.late, 1);
  assert.is(s.duplicated, 2);
  assert.is(s.reordered, 1);
  assert.equal(s.rtt, { min: 10, avg: 12, p50: 12, p95: 13.8, max: 14 });
  // J1 = 0 + (2 - 0)/16 = 0.125; J2 = 0.125 + (2 - 0.125)/16 = 0.2421875
  assert.is(s.jitterMs, 0.2421875);
  assert.equal(s.samples, [10, 12, null, null, 14]);
});

test('summary: no answer at all is "unavailable" (UDP blocked), not 100 % loss', () => {
  const s = summarizeProbes([{ rttMs: null, late: false, duplicates: 0, reordered: false }], [], 64, 4450);
  assert.is(s.available, false);
  if (s.available) return;
  assert.match(s.reason, /blocked/);
  assert.match(s.reason, /4450/);
  assert.is(s.sent, 1);
});

test.run();
