// Entry of the language server process (bundled to dist/server.js). The client starts it with an
// IPC or stdio transport, which createConnection reads from the command line.

import { createConnection, ProposedFeatures } from 'vscode-languageserver/node';
import { removeAllTempFiles } from '../fs/temp-files.ts';
import { startServer } from './lens-server.ts';

// Killed by a signal rather than the LSP exit notification: downloads' .part files and atomic
// writes' temp files go too (the 'exit' hook covers the normal ways out).
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.on(signal, () => {
    removeAllTempFiles();
    process.exit(128 + (signal === 'SIGHUP' ? 1 : signal === 'SIGINT' ? 2 : 15));
  });
}

startServer(createConnection(ProposedFeatures.all));
