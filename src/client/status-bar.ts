// The status bar item: the model, where it runs (CPU/GPU), whether an adapter is applied, and a
// spinner while the server scores. It mirrors the server's `nasaLens/status` notifications;
// clicking it opens Select Model.

import * as path from 'node:path';
import * as vscode from 'vscode';
import { COMMAND } from '../command-ids.ts';
import type { ModelInfo, StatusParams } from '../protocol.ts';

export class LensStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('nasaLens.status', vscode.StatusBarAlignment.Right, 100);

  constructor() {
    this.item.name = 'NASA Lens';
    this.item.command = COMMAND.selectModel;
    this.set('$(sync~spin) NASA Lens', 'Starting the NASA Lens server…');
    this.item.show();
  }

  get text(): string {
    return this.item.text;
  }

  /** Untrusted workspace: nothing runs until trust is granted. */
  showRestricted(): void {
    this.set('$(shield) NASA Lens', 'NASA Lens runs a model only in a trusted workspace.', 'workbench.trust.manage');
  }

  update(s: StatusParams): void {
    const name = s.model?.name ?? 'NASA Lens';
    const where = s.model ? ` · ${device(s.model)} · adapter ${s.adapter ? 'on' : 'off'}` : '';
    switch (s.state) {
      case 'no-model':
        return this.set('$(circle-slash) NASA Lens: no model', 'No model selected. Click to select a model directory.');
      case 'loading':
        return this.set(`$(sync~spin) ${name}`, s.message ?? `Loading ${name}…`);
      case 'scoring':
        return this.set(`$(sync~spin) ${name}${where}`, tooltip(s, 'Scoring prompts…'));
      case 'ready':
        return this.set(`$(telescope) ${name}${where}`, tooltip(s, 'Click to select another model.'));
      case 'error':
        return this.set(`$(error) ${name}`, s.message ?? 'The model could not be loaded.', undefined, true);
    }
  }

  private set(text: string, tooltip: string | vscode.MarkdownString, command: string = COMMAND.selectModel, error = false): void {
    this.item.text = text;
    this.item.tooltip = tooltip;
    this.item.command = command;
    this.item.backgroundColor = error ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}

function device(m: ModelInfo): string {
  return m.provider === 'cpu' ? 'CPU' : `GPU (${m.provider})`;
}

function tooltip(s: StatusParams, hint: string): vscode.MarkdownString {
  const m = s.model;
  const lines = m
    ? [
        `**${m.name}** (${m.arch}: ${m.layers} layers × ${m.heads} heads, ${m.kvHeads} KV heads)`,
        `Path: \`${m.path}\``,
        `Provider: ${m.provider} · weights ${m.precision}`,
        `Adapter: ${s.adapter ? `\`${path.basename(s.adapter)}\`` : 'none'}`,
      ]
    : [];
  return new vscode.MarkdownString([...lines, s.message ?? '', hint].filter(Boolean).join('\n\n'));
}
