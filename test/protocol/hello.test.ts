/** The HELLO's optional `maxRequests`: absent from older servers, a count when given, EPROTO when malformed. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareError } from '../../src/errors.ts';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import { PROTOCOL_VERSION } from '../../src/protocol/frame.ts';
import { encodeHello, parseHello, parseHelloFrame } from '../../src/protocol/hello.ts';

const base = { protocol: 'fileshare', version: [...PROTOCOL_VERSION], agent: 'test', maxFrameSize: 65536, window: 65536 };

test('a server HELLO carries maxRequests and it parses back', () => {
  const [frame] = new FrameDecoder(1 << 20).push(encodeHello({ maxFrameSize: 65536, window: 65536, maxRequests: 6 }));
  assert.is(parseHelloFrame(frame!.body).maxRequests, 6);
});

test('a HELLO without maxRequests (a client, or an older server) parses as 0: not announced', () => {
  const [frame] = new FrameDecoder(1 << 20).push(encodeHello({ maxFrameSize: 65536, window: 65536 }));
  assert.not.ok(frame!.body.toString().includes('maxRequests'));
  assert.is(parseHello(base).maxRequests, 0);
});

test('a malformed maxRequests is EPROTO naming the field', () => {
  for (const bad of [-1, 1.5, 'many', Number.MAX_SAFE_INTEGER + 2]) {
    try {
      parseHello({ ...base, maxRequests: bad });
      assert.unreachable(`accepted ${String(bad)}`);
    } catch (err) {
      assert.instance(err, FileShareError);
      assert.is((err as FileShareError).code, 'EPROTO');
      assert.match((err as Error).message, /maxRequests/);
    }
  }
});

test.run();
