/**
 * The time-sync service for replays (spec §4.8; upstream's notigen/bin/time_sync.py):
 * `POST /time` stores the body (the replay time the yagi-workers post, ≤ 4096 bytes),
 * `GET /time` returns the last one stored (empty before the first POST).
 */
import { createServer, type Server } from 'node:http';

const MAX_BODY = 4096;

export function createTimeSyncServer(): Server {
  let current = '';
  return createServer((req, res) => {
    if (req.url !== '/time') {
      res.writeHead(404).end();
      return;
    }
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(current);
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405).end();
      return;
    }
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString('utf8');
      if (body.length > MAX_BODY) req.destroy();
    });
    req.on('end', () => {
      current = body.trim();
      res.writeHead(200, { 'content-type': 'text/plain' }).end(current);
    });
  });
}
