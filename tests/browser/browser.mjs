// Starts Debian's Chromium for the browser tests through playwright-core (which never downloads
// a browser here): headless, no sandbox, no GPU, no network services, a fresh profile that is
// removed on close. Throws when Chromium cannot start, so callers can tell "skip" from "fail".
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function playwright() {
    const require = createRequire(path.join(REPO, 'package.json'));
    return require('playwright-core');
}

/** {context, close()}: a persistent Chromium context on a temporary profile. */
export async function launchBrowser() {
    const { chromium } = playwright();
    if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is not installed (scripts/setup.sh installs it)`);
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sdc-webui-chromium-'));
    let context;
    try {
        context = await chromium.launchPersistentContext(profile, {
            executablePath: CHROMIUM,
            headless: true,
            viewport: { width: 1280, height: 860 },
            timeout: 30000,
            args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
                '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
        });
    } catch (err) {
        fs.rmSync(profile, { recursive: true, force: true });
        throw err;
    }
    return {
        context,
        close: async () => {
            await context.close().catch(() => {});
            fs.rmSync(profile, { recursive: true, force: true });
        },
    };
}
