// Bundles the CLI (and later the extension, the language server and the webview) with esbuild.
// onnxruntime-node stays external: esbuild has no loader for its native `.node` binding.
import * as esbuild from 'esbuild';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  external: ['onnxruntime-node'],
  logLevel: 'warning',
};

await esbuild.build({
  ...common,
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/cli.js',
  banner: { js: '#!/usr/bin/env node' },
});
