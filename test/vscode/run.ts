// `npm run test:vscode`: the extension tests in desktop VS Code through @vscode/test-electron.
// Writes the planted test model and a copy of demo/ (with settings naming the model) into a temp
// folder, bundles the suite (test/vscode/suite) for the extension host, and runs it. Desktop VS Code
// is downloaded at run time; where that is impossible (no network, as on the CI machine here, where
// the real-editor checks run in code-server instead) this says so and exits non-zero.
// VSCODE_EXECUTABLE=/path/to/code uses an installed VS Code instead. On Linux without a display,
// run it under xvfb-run.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { downloadAndUnzipVSCode, runTests } from '@vscode/test-electron';
import { writePlantedModel } from '../../scripts/planted-model.ts';

const ROOT = path.join(__dirname, '..', '..');
const MODEL_NAME = 'planted-model';

async function main(): Promise<number> {
  const suite = path.join(ROOT, 'out', 'test-vscode', 'suite.js');
  await esbuild.build({
    entryPoints: [path.join(__dirname, 'suite', 'index.ts')],
    outfile: suite,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: ['vscode'],
    sourcemap: 'inline',
    logLevel: 'warning',
  });
  if (!fs.existsSync(path.join(ROOT, 'dist', 'extension.js')) || !fs.existsSync(path.join(ROOT, 'dist', 'server.js'))) {
    console.error('test:vscode: dist/extension.js or dist/server.js is missing: run `node esbuild.mjs` first.');
    return 1;
  }

  let executable = process.env.VSCODE_EXECUTABLE;
  if (!executable) {
    try {
      executable = await downloadAndUnzipVSCode({
        version: process.env.VSCODE_VERSION ?? 'stable',
        cachePath: path.join(ROOT, '.cache', 'vscode-test'),
        timeout: 60_000,
      });
    } catch (err) {
      console.error(
        [
          `test:vscode: could not download VS Code (${err instanceof Error ? err.message : String(err)}).`,
          'This suite runs the extension inside desktop VS Code, which @vscode/test-electron downloads at run time.',
          'Run it on a machine with network access, or point VSCODE_EXECUTABLE at an installed VS Code.',
          'It is not part of `npm test`; the real-editor checks of this repository run in code-server (test/e2e).',
        ].join('\n'),
      );
      return 1;
    }
  }

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nasa-lens-vscode-'));
  const model = path.join(tmp, MODEL_NAME);
  writePlantedModel(model);
  const workspace = path.join(tmp, 'workspace');
  fs.cpSync(path.join(ROOT, 'demo'), workspace, { recursive: true });
  fs.mkdirSync(path.join(workspace, '.vscode'), { recursive: true });
  const settings = { 'nasaLens.modelPath': model, 'nasaLens.provider': 'cpu', 'nasaLens.adapterPath': '' };
  fs.writeFileSync(path.join(workspace, '.vscode', 'settings.json'), `${JSON.stringify(settings, null, 2)}\n`);

  try {
    return await runTests({
      vscodeExecutablePath: executable,
      extensionDevelopmentPath: ROOT,
      extensionTestsPath: suite,
      launchArgs: [workspace, '--disable-extensions', `--user-data-dir=${path.join(tmp, 'user-data')}`],
      extensionTestsEnv: { NASA_LENS_TEST_MODEL_NAME: MODEL_NAME },
    });
  } catch (err) {
    console.error(`test:vscode: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(`test:vscode: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 1;
  },
);
