// The Prompts view: workspace files → their scored yes/no prompts with NAS and P(No); clicking a
// prompt reveals it in its file. Its rows are the dashboard data's, so both views always agree.

import * as vscode from 'vscode';
import { formatHead } from '../bias/nas.ts';
import type { PromptRow } from '../protocol.ts';
import type { DashboardStore } from './dashboard-data.ts';

type Node = { kind: 'file'; uri: string; rows: PromptRow[] } | { kind: 'prompt'; row: PromptRow };

export class PromptTree implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscription: vscode.Disposable;

  constructor(private readonly store: DashboardStore) {
    this.subscription = store.onDidChange(() => this.changed.fire());
  }

  getChildren(node?: Node): Node[] {
    if (node?.kind === 'file') return node.rows.map((row) => ({ kind: 'prompt', row }));
    if (node) return [];
    const byFile = new Map<string, PromptRow[]>();
    for (const row of this.store.current?.prompts ?? []) {
      const rows = byFile.get(row.uri) ?? [];
      rows.push(row);
      byFile.set(row.uri, rows);
    }
    return [...byFile]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([uri, rows]) => ({ kind: 'file', uri, rows: rows.sort((a, b) => a.range.start.line - b.range.start.line) }));
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if (node.kind === 'file') {
      const uri = vscode.Uri.parse(node.uri);
      const item = new vscode.TreeItem(vscode.workspace.asRelativePath(uri), vscode.TreeItemCollapsibleState.Expanded);
      item.resourceUri = uri;
      item.iconPath = vscode.ThemeIcon.File;
      item.description = `${node.rows.length} prompt${node.rows.length === 1 ? '' : 's'}`;
      return item;
    }
    const { row } = node;
    const item = new vscode.TreeItem(oneLine(row.text), vscode.TreeItemCollapsibleState.None);
    const top = row.topHeads[0];
    const topNas = top ? ` · NAS (top head) ${top.nas.toFixed(2)}` : '';
    item.description = `P(Yes) ${row.pYes.toFixed(2)}${topNas} · ΣNAS ${row.nasTotal.toFixed(2)}`;
    item.tooltip = tooltip(row);
    // The answer the model gives: No is where negative bias shows.
    item.iconPath = new vscode.ThemeIcon(row.pNo > row.pYes ? 'thumbsdown' : 'thumbsup');
    const r = row.range;
    const selection = new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character);
    item.command = { title: 'Reveal Prompt', command: 'vscode.open', arguments: [vscode.Uri.parse(row.uri), { selection }] };
    return item;
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}

function oneLine(text: string): string {
  const s = text.replace(/\s+/g, ' ').trim();
  return s.length > 80 ? `${s.slice(0, 79)}…` : s;
}

function tooltip(row: PromptRow): vscode.MarkdownString {
  const md = new vscode.MarkdownString();
  md.appendText(row.text);
  md.appendMarkdown(`\n\nP(Yes) ${row.pYes.toFixed(3)} · P(No) ${row.pNo.toFixed(3)} · ΣNAS (all heads) ${row.nasTotal.toFixed(3)}\n\n`);
  md.appendMarkdown(`NAS (top head): ${row.topHeads.map((h) => `${formatHead(h)} ${h.nas.toFixed(2)}`).join(', ')}\n\n`);
  const ko = row.knockout;
  if (ko && ko.heads.length > 0)
    md.appendMarkdown(
      `Knockout: without ${ko.heads.map(formatHead).join(', ')} looking at the negative answer, P(Yes) ${ko.pYes.toFixed(2)}\n\n`,
    );
  md.appendMarkdown('NAS > 0: the head looks more at the negative answer than at the positive one.');
  return md;
}
