// The npm registry mirror this project is built against lacks the other platforms' prebuilt
// binaries of some tools (Biome's), so `npm install` leaves their optional entries out of
// package-lock.json and `npm ci` then refuses the lock. This adds the missing entries with their
// os/cpu/libc, so npm ci skips them on this platform and installs them elsewhere.
// Run after any `npm install`: node scripts/lock-platforms.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const platform = (name) => {
  const m = /-(android|darwin|linux|win32|freebsd)-(arm64|x64|ia32|arm)(-musl)?$/.exec(name);
  return m ? { os: [m[1]], cpu: [m[2]], ...(m[3] ? { libc: ['musl'] } : {}) } : undefined;
};
let added = 0;
for (const [path, entry] of Object.entries(lock.packages)) {
  for (const [dep, range] of Object.entries(entry.optionalDependencies ?? {})) {
    const at = `${path ? `${path}/` : ''}node_modules/${dep}`;
    const top = `node_modules/${dep}`;
    if (lock.packages[at] || lock.packages[top]) continue;
    const p = platform(dep);
    if (!p) continue;
    lock.packages[top] = { version: range.replace(/^[\^~]/, ''), ...p, optional: true };
    added++;
  }
}
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`lock-platforms: ${added} entr${added === 1 ? 'y' : 'ies'} added`);
