// Starts the Chromium that browser tests and the browser benchmark drive:
// Debian's /usr/bin/chromium (scripts/ensure-chromium.mjs installs it), with
// the flags /work/shared/NOTES.md lists, in a fresh profile directory that
// close() removes. playwright-core never downloads a browser of its own.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox', // runs as root in a container
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/**
 * Launches headless Chromium; resolves with a browser context (one blank page
 * open) whose close() also deletes its profile directory.
 * @param {{ viewport?: { width: number, height: number }, deviceScaleFactor?: number }} [options]
 */
export async function launchChromium(options = {}) {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} is missing: run \`node scripts/ensure-chromium.mjs\` (npm test does it first)`);
  }
  const profile = await mkdtemp(join(tmpdir(), 'wasmap-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: options.viewport ?? { width: 1280, height: 800 },
      deviceScaleFactor: options.deviceScaleFactor ?? 1,
    });
  } catch (err) {
    await rm(profile, { recursive: true, force: true });
    throw err;
  }
  const close = context.close.bind(context);
  context.close = async (...args) => {
    try {
      await close(...args);
    } finally {
      await rm(profile, { recursive: true, force: true });
    }
  };
  return context;
}
