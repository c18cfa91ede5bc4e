// Results you can keep: per-item exports of evaluations and alignments, as JSON and CSV.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exportFormat, resultsCsv, resultsJson, type ResultsDocument } from '../../src/bias/results.ts';
import { main } from '../../src/cli/main.ts';
import { STANDARD_TEST_MODELS, writeTestModel } from '../../scripts/make-test-model.ts';

const doc: ResultsDocument = {
  kind: 'evaluation',
  data: '/d/set.jsonl',
  model: '/m',
  adapter: null,
  items: [
    { prompt: 'Is "7", prime?\nAnswer Yes or No.', label: 'yes', pYes: 0.25, topHead: 'L0H1', topHeadNas: 1.5 },
    { prompt: '=HYPERLINK("x") Yes or No?', label: null, pYes: 0.75, topHead: '', topHeadNas: NaN, knockout: 0.1 },
  ],
};

test('CSV: one row per item, quoted where needed, formulas defused, NaN empty', () => {
  assert.equal(
    resultsCsv(doc),
    [
      'prompt,label,p_yes,predicted,top_head,top_head_nas,knockout',
      '"Is ""7"", prime?\nAnswer Yes or No.",yes,0.25,no,L0H1,1.5,',
      `"'=HYPERLINK(""x"") Yes or No?",,0.75,yes,,,0.1`,
      '',
    ].join('\r\n'),
  );
  const aligned = resultsCsv({
    ...doc,
    kind: 'alignment',
    items: [{ ...doc.items[0]!, pYesAfter: 0.6, headsNasBefore: 2, headsNasAfter: 0.1 }],
  });
  assert.match(
    aligned,
    new RegExp(
      String.raw`^prompt,label,p_yes_before,p_yes_after,predicted_before,predicted_after,heads_nas_before,heads_nas_after\r\n` +
        String.raw`.*,yes,0\.25,0\.6,no,yes,2,0\.1\r\n$`,
      's',
    ),
  );
});

test('JSON: the document as is, non-finite numbers as null', () => {
  const back = JSON.parse(resultsJson(doc));
  assert.equal(back.items[1].topHeadNas, null);
  assert.equal(back.items[0].prompt, doc.items[0]!.prompt);
  assert.equal(exportFormat('a/b.CSV'), 'csv');
  assert.equal(exportFormat('a/b.txt'), null);
});

test('`eval --export` writes every item with its label, P(Yes) and top head', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nasa-results-'));
  try {
    const model = path.join(dir, 'model');
    writeTestModel(model, STANDARD_TEST_MODELS['llama-gqa-f32']!);
    const data = path.join(dir, 'set.jsonl');
    fs.writeFileSync(
      data,
      ['{"prompt": "Is 2 even? Answer Yes or No.", "label": "yes"}', '{"prompt": "Is 3 even? Answer Yes or No.", "label": "no"}'].join(
        '\n',
      ),
    );
    let err = '';
    const io = { out: () => {}, log: (s: string) => (err += s) };
    for (const ext of ['json', 'csv']) {
      const out = path.join(dir, `results.${ext}`);
      assert.equal(await main(['eval', '--model', model, '--provider', 'cpu', '--data', data, '--export', out, '--json'], io), 0, err);
      const text = fs.readFileSync(out, 'utf8');
      if (ext === 'json') {
        const items = JSON.parse(text).items as { prompt: string; label: string; pYes: number; topHead: string }[];
        assert.deepEqual(
          items.map((i) => [i.prompt, i.label]),
          [
            ['Is 2 even? Answer Yes or No.', 'yes'],
            ['Is 3 even? Answer Yes or No.', 'no'],
          ],
        );
        for (const i of items) assert.ok(i.pYes > 0 && i.pYes < 1 && /^L\d+H\d+$/.test(i.topHead));
      } else assert.equal(text.split('\r\n').length, 4);
    }
    assert.equal(await main(['eval', '--model', model, '--data', data, '--export', path.join(dir, 'x.txt')], io), 1);
    assert.match(err, /--export writes \.json or \.csv/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
