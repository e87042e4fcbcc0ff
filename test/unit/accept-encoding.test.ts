/** The stream page route's Accept-Encoding reading (src/api/routes/streams.ts acceptsGzip). */
import { describe, expect, it } from 'vitest';
import { acceptsGzip } from '../../src/api/routes/streams.js';

describe('acceptsGzip', () => {
  it.each([
    ['gzip', true],
    ['gzip, deflate, br', true],
    ['deflate, gzip;q=0.5', true],
    ['x-gzip', true],
    ['*', true],
    ['gzip;q=0', false],
    ['gzip; q=0.0, identity', false],
    ['*;q=0', false],
    ['identity', false],
    ['', false],
    [undefined, false],
    ['br, *;q=0.1', true],
    ['gzip;q=0, *', false],
  ] as const)('%s → %s', (header, expected) => {
    expect(acceptsGzip(header)).toBe(expected);
  });
});
