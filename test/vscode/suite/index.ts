// The entry that @vscode/test-electron loads in the extension host (--extensionTestsPath): it must
// export run(). Bundled by test/vscode/run.ts into out/test-vscode/suite.js.

import './extension.test.ts';
import { runAll } from './harness.ts';

export function run(): Promise<void> {
  return runAll();
}
