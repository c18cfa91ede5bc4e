// The workspace files a scan reads: a walk of the workspace folders matched against the
// `nasaLens.fileGlobs` globs (VS Code glob syntax: **, *, ?, {a,b}, [abc]). Dependency and hidden
// folders (node_modules, .git, .venv…) are not entered, symbolic links are not followed, and very
// large files are skipped: prompts live in small files, and a scan must not read a dataset dump.

import type { Dirent } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

export interface WalkLimits {
  maxFiles: number;
  maxBytes: number;
}

export const DEFAULT_WALK_LIMITS: WalkLimits = { maxFiles: 5000, maxBytes: 1024 * 1024 };

const SKIPPED_DIRS = new Set(['node_modules', '__pycache__', 'dist', 'out', 'build', 'site-packages']);

/** Absolute paths of the files under `roots` matching any glob (relative to their root), sorted. */
export async function findWorkspaceFiles(
  roots: readonly string[],
  globs: readonly string[],
  limits = DEFAULT_WALK_LIMITS,
): Promise<string[]> {
  const patterns = globs.map(globToRegExp);
  const found: string[] = [];
  for (const root of roots) {
    await walk(root, '', patterns, limits, found);
    if (found.length >= limits.maxFiles) break;
  }
  return found.slice(0, limits.maxFiles).sort();
}

async function walk(root: string, rel: string, patterns: RegExp[], limits: WalkLimits, found: string[]): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await fs.readdir(path.join(root, rel), { withFileTypes: true });
  } catch {
    return; // unreadable folder: skip it, the rest of the workspace still counts
  }
  for (const e of entries) {
    if (found.length >= limits.maxFiles) return;
    const childRel = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory() && !e.name.startsWith('.') && !SKIPPED_DIRS.has(e.name)) {
      await walk(root, childRel, patterns, limits, found);
    } else if (e.isFile() && patterns.some((re) => re.test(childRel)) && (await sizeOf(path.join(root, childRel))) <= limits.maxBytes) {
      found.push(path.join(root, childRel));
    }
  }
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await fs.stat(file)).size;
  } catch {
    return Infinity;
  }
}

/** A glob as an anchored regular expression over '/'-separated relative paths. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  let braces = 0;
  const g = glob.replace(/\\/g, '/').replace(/^\.\//, '');
  for (let i = 0; i < g.length; i++) {
    const c = g[i]!;
    if (c === '*' && g[i + 1] === '*') {
      // "**/" matches zero or more folders; a trailing "**" matches anything.
      const slash = g[i + 2] === '/';
      re += slash ? '(?:[^/]*/)*' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '{') {
      braces++;
      re += '(?:';
    } else if (c === '}' && braces > 0) {
      braces--;
      re += ')';
    } else if (c === ',' && braces > 0) re += '|';
    else if (c === '[') {
      const close = g.indexOf(']', i + 1);
      if (close < 0) re += '\\[';
      else {
        re += `[${g
          .slice(i + 1, close)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\')}]`;
        i = close;
      }
    } else re += c.replace(/[.+^$()|\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 'i');
}
