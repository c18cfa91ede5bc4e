// Bundles the CLI, the extension (client), the language server and the webviews with esbuild.
// onnxruntime-node stays external: esbuild has no loader for its native `.node` binding, so the
// .vsix ships the package itself (see .vscodeignore). `vscode` is provided by the editor.
import * as esbuild from 'esbuild';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

const node = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  external: ['onnxruntime-node', 'vscode'],
  logLevel: 'warning',
};

const browser = {
  bundle: true,
  platform: 'browser',
  target: 'es2022',
  format: 'iife',
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
};

const builds = [
  { ...node, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } },
  { ...node, entryPoints: ['src/client/extension.ts'], outfile: 'dist/extension.js' },
  { ...node, entryPoints: ['src/server/server.ts'], outfile: 'dist/server.js' },
  // The chat-template worker (src/model/chat-template.ts) loads this file next to the CLI and server bundles.
  { ...node, entryPoints: ['src/model/chat-template-worker.ts'], outfile: 'dist/chat-template-worker.js' },
  { ...browser, entryPoints: ['webview-ui/align.ts'], outfile: 'dist/webview/align.js' },
  { ...browser, entryPoints: ['webview-ui/dashboard.ts'], outfile: 'dist/webview/dashboard.js' },
  { ...browser, entryPoints: ['webview-ui/tokens.ts'], outfile: 'dist/webview/tokens.js' },
];

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
