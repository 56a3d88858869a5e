import assert from 'node:assert/strict';
import { didYouMean, levenshtein, suggest } from '../../cli/did-you-mean.js';

describe('cli did-you-mean', () => {
  it('levenshtein counts insertions, deletions and substitutions', () => {
    assert.equal(levenshtein('apply', 'apply'), 0);
    assert.equal(levenshtein('aply', 'apply'), 1);
    assert.equal(levenshtein('kitten', 'sitting'), 3);
    assert.equal(levenshtein('', 'abc'), 3);
    assert.equal(levenshtein('dve', 'dev'), 1, 'a swap of neighbours is one edit');
  });

  it('suggests the closest word only when it is a plausible typo', () => {
    const verbs = ['apply', 'get', 'describe', 'delete', 'diff', 'scale'];
    assert.equal(suggest('aply', verbs), 'apply');
    assert.equal(suggest('dlete', verbs), 'delete');
    assert.equal(suggest('descirbe', verbs), 'describe');
    assert.equal(suggest('desc', verbs), 'describe', 'a prefix');
    assert.equal(suggest('frobnicate', verbs), undefined);
    assert.equal(suggest('x', verbs), undefined);
  });

  it('formats the tail of an error line', () => {
    assert.equal(didYouMean('--outptu', ['--output', '--service']), ': did you mean "--output"?');
    assert.equal(didYouMean('zzz', ['--output']), '');
  });
});
