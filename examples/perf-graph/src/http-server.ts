/**
 * The local web server of the live chart: the page (src/page/), uPlot from node_modules, and
 * `/events`, a server-sent-events stream: `hello` (the run's settings) and `history` (every point
 * so far) to each page that connects or reconnects, then one `point` per ping and `end`.
 */
import { readFile } from 'node:fs/promises';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface LiveServerOptions {
  readonly host: string;
  readonly port: number;
  /** Sent as `hello` to each new page. */
  readonly hello: () => unknown;
  /** Sent as `history` to each new page. */
  readonly history: () => unknown;
}

export interface LiveServer {
  readonly url: string;
  /** Send an event to every connected page. */
  broadcast(event: string, data: unknown): void;
  /** End the event streams and stop listening. */
  close(): Promise<void>;
}

const pageDir = join(dirname(fileURLToPath(import.meta.url)), 'page');
const uplotDir = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');

/** Path → file and content type; nothing else is served. */
const STATIC: Record<string, [string, string]> = {
  '/': [join(pageDir, 'index.html'), 'text/html; charset=utf-8'],
  '/index.html': [join(pageDir, 'index.html'), 'text/html; charset=utf-8'],
  '/page.js': [join(pageDir, 'page.js'), 'text/javascript; charset=utf-8'],
  '/page.css': [join(pageDir, 'page.css'), 'text/css; charset=utf-8'],
  '/uPlot.iife.min.js': [join(uplotDir, 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
  '/uPlot.min.css': [join(uplotDir, 'uPlot.min.css'), 'text/css; charset=utf-8'],
};

export async function startLiveServer(opts: LiveServerOptions): Promise<LiveServer> {
  const pages = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return void send(res, 405, 'method not allowed');
    if (path === '/events') return openStream(req, res);
    if (path === '/favicon.ico') return void res.writeHead(204).end();
    const entry = STATIC[path];
    if (!entry) return void send(res, 404, 'not found');
    readFile(entry[0]).then(
      (body) => send(res, 200, body, entry[1]),
      () => send(res, 500, `cannot read ${path}`),
    );
  });
  const openStream = (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write('retry: 1000\n\n');
    write(res, 'hello', opts.hello());
    write(res, 'history', opts.history());
    pages.add(res);
    req.on('close', () => pages.delete(res));
  };
  const keepAlive = setInterval(() => pages.forEach((res) => res.write(': keep-alive\n\n')), 15_000);
  keepAlive.unref();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const shown = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
  return {
    url: `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}/`,
    broadcast(event, data) {
      for (const res of pages) write(res, event, data);
    },
    async close() {
      clearInterval(keepAlive);
      for (const res of pages) res.end();
      pages.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

function write(res: ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

function send(res: ServerResponse, status: number, body: string | Buffer, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}
