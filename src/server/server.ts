// Entry of the language server process (bundled to dist/server.js). The client starts it with an
// IPC or stdio transport, which createConnection reads from the command line.

import { createConnection, ProposedFeatures } from 'vscode-languageserver/node';
import { startServer } from './lens-server.ts';

startServer(createConnection(ProposedFeatures.all));
