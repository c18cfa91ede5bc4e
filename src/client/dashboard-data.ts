// The server's DashboardData (model, heat map, scored prompts, last evaluation), fetched on demand
// and shared by the dashboard view, the prompt tree and the align panel, so they never disagree.

import * as vscode from 'vscode';
import type { DashboardData } from '../protocol.ts';
import { DashboardRequest } from '../lsp-ext.ts';
import type { LensClient } from './language-client.ts';

export class DashboardStore implements vscode.Disposable {
  private data: DashboardData | null = null;
  private inFlight: Promise<DashboardData | null> | null = null;
  private again = false;
  private readonly changed = new vscode.EventEmitter<DashboardData>();
  readonly onDidChange = this.changed.event;

  constructor(private readonly lens: LensClient) {}

  get current(): DashboardData | null {
    return this.data;
  }

  /**
   * Fetches the data again. Calls while a fetch is running coalesce into one more fetch after it,
   * so a burst of "scoring finished" notifications costs two requests, not one per notification.
   */
  refresh(): Promise<DashboardData | null> {
    if (this.inFlight) {
      this.again = true;
      return this.inFlight;
    }
    this.inFlight = this.fetch().finally(() => {
      this.inFlight = null;
      if (this.again) {
        this.again = false;
        void this.refresh();
      }
    });
    return this.inFlight;
  }

  /** The current data, fetched first if there is none yet. */
  async get(): Promise<DashboardData | null> {
    return this.data ?? this.refresh();
  }

  private async fetch(): Promise<DashboardData | null> {
    // Before trust is granted there is no server to ask: the views show their welcome content.
    if (!vscode.workspace.isTrusted) return this.data;
    try {
      this.data = await this.lens.request(DashboardRequest, {});
      this.changed.fire(this.data);
    } catch (err) {
      // A background refresh: log it instead of interrupting the user; commands report their own errors.
      this.lens.client.outputChannel.warn(`dashboard data: ${err instanceof Error ? err.message : String(err)}`);
    }
    return this.data;
  }

  dispose(): void {
    this.changed.dispose();
  }
}
