// NASA Lens's own LSP methods, each typed by its params and its result so that the client's calls
// and the server's handlers are checked against the same declaration. The data types are in
// src/protocol.ts (which the webviews import without this file's LSP library).

import { NotificationType, RequestType } from 'vscode-languageserver-protocol';
import type {
  AlignDoneParams,
  AlignProgressParams,
  AlignStartRequestParams,
  AlignStopParams,
  DashboardData,
  EvalReport,
  EvaluateParams,
  SaveAdapterParams,
  SaveAdapterResult,
  ScanWorkspaceParams,
  ScanWorkspaceResult,
  StatusParams,
  TemplateDataParams,
  TemplateDataResult,
  TokenAttention,
  TokensParams,
} from './protocol.ts';

/** server → client: what the status bar shows. */
export const StatusNotification = new NotificationType<StatusParams>('nasaLens/status');

/** client → server: the dashboard's data. */
export const DashboardRequest = new RequestType<Record<string, never>, DashboardData, void>('nasaLens/dashboard');

/** client → server: find and score the prompts of every workspace file matching fileGlobs. */
export const ScanWorkspaceRequest = new RequestType<ScanWorkspaceParams, ScanWorkspaceResult, void>('nasaLens/scanWorkspace');

/** client → server: metrics of a labelled JSONL file (docs/design.md §4). */
export const EvaluateRequest = new RequestType<EvaluateParams, EvalReport, void>('nasaLens/evaluate');

/** client → server: fill the templates of a file with the rows of a JSONL (keys = placeholders) and score them. */
export const TemplateDataRequest = new RequestType<TemplateDataParams, TemplateDataResult, void>('nasaLens/templateData');

/** client → server: start NASA; progress comes as AlignProgressNotification, the end as AlignDoneNotification. */
export const AlignStartRequest = new RequestType<AlignStartRequestParams, null, void>('nasaLens/align/start');

export const AlignStopRequest = new RequestType<AlignStopParams, null, void>('nasaLens/align/stop');

export const AlignProgressNotification = new NotificationType<AlignProgressParams>('nasaLens/align/progress');

export const AlignDoneNotification = new NotificationType<AlignDoneParams>('nasaLens/align/done');

/** client → server: write the finished job's adapter (atomically) to `path`. */
export const SaveAdapterRequest = new RequestType<SaveAdapterParams, SaveAdapterResult, void>('nasaLens/adapter/save');

/**
 * client → server: the tokens of the prompt at a position and every head's attention from the last
 * position over them (the token view).
 */
export const TokensRequest = new RequestType<TokensParams, TokenAttention, void>('nasaLens/tokens');
