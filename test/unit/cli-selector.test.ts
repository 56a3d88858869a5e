import assert from 'node:assert/strict';
import { matchesSelector, parseSelector } from '../../cli/selector.js';

describe('cli label selectors', () => {
  const web = { app: 'web', tier: 'front', env: 'prod' };
  const db = { app: 'db', tier: 'back' };
  const bare = {};
  const match = (sel: string) => [web, db, bare].map((l) => matchesSelector(parseSelector(sel), l));

  it('key=value, key==value and key!=value (which also matches objects without the key)', () => {
    assert.deepEqual(match('app=web'), [true, false, false]);
    assert.deepEqual(match('app==web'), [true, false, false]);
    assert.deepEqual(match('app!=web'), [false, true, true]);
    assert.deepEqual(match('app = web'), [true, false, false], 'spaces around the operator');
  });

  it('in and notin, with commas inside the parentheses', () => {
    assert.deepEqual(match('app in (web,db)'), [true, true, false]);
    assert.deepEqual(match('app in ( web , cache )'), [true, false, false]);
    assert.deepEqual(match('tier notin (back)'), [true, false, true]);
  });

  it('existence: key and !key', () => {
    assert.deepEqual(match('env'), [true, false, false]);
    assert.deepEqual(match('!env'), [false, true, true]);
  });

  it('requirements are ANDed', () => {
    assert.deepEqual(match('app in (web,db),tier!=back'), [true, false, false]);
    assert.deepEqual(match('tier,!env'), [false, true, false]);
    assert.deepEqual(parseSelector('a=1,b in (x,y),!c'), [
      { key: 'a', op: '=', values: ['1'] },
      { key: 'b', op: 'in', values: ['x', 'y'] },
      { key: 'c', op: '!exists', values: [] },
    ]);
  });

  it('an empty value matches an empty label only', () => {
    assert.equal(matchesSelector(parseSelector('a='), { a: '' }), true);
    assert.equal(matchesSelector(parseSelector('a='), { a: 'x' }), false);
  });

  it('prefixed keys like example.com/team', () => {
    assert.equal(matchesSelector(parseSelector('example.com/team=core'), { 'example.com/team': 'core' }), true);
  });

  it('malformed selectors are one clear error naming the selector', () => {
    assert.throws(() => parseSelector(''), /invalid selector "": empty requirement/);
    assert.throws(() => parseSelector('app=web,'), /empty requirement \(stray comma\?\)/);
    assert.throws(() => parseSelector('app in (web'), /missing "\)"/);
    assert.throws(() => parseSelector('app in (web,)'), /empty value/);
    assert.throws(() => parseSelector('app=we b'), /"we b" is not a valid label value/);
    assert.throws(() => parseSelector('app foo'), /cannot read "app foo"/);
    assert.throws(() => parseSelector('-x=1'), /"-x" is not a valid label key/);
  });
});
