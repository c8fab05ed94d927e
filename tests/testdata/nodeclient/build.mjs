// Builds the test client into .build/: the example's connector and attachment adapter
// (examples/typescript-connector, written for @powersync/web) copied with their SDK import
// pointed at @powersync/node — both SDKs re-export the same @powersync/common 2.3.0, so
// nothing else changes — beside src/main.ts, then compiled by tsc into .build/out.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const example = join(here, '..', '..', '..', 'examples', 'typescript-connector');
const src = join(here, '.build', 'src');
rmSync(join(here, '.build'), { recursive: true, force: true });
mkdirSync(src, { recursive: true });

for (const file of ['SyncgateConnector.ts', 'SyncgateStorageAdapter.ts']) {
  const text = readFileSync(join(example, file), 'utf8');
  const imports = text.match(/from '@powersync\/web';/g) ?? [];
  if (imports.length !== 1) {
    throw new Error(`build: ${file}: want one import from '@powersync/web', found ${imports.length}`);
  }
  writeFileSync(join(src, file), text.replace("from '@powersync/web';", "from '@powersync/node';"));
}
writeFileSync(join(src, 'main.ts'), readFileSync(join(here, 'src', 'main.ts')));

execFileSync(process.execPath, [join(here, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', here], {
  stdio: 'inherit',
});
