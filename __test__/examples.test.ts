// Every runnable example (examples/*.mjs) runs in its own process, as a user
// runs it, and must exit by itself with code 0 and print what its
// `// expect:` lines declare. The README's snippets are regions of these
// files (scripts/check-examples.js, tested below), so they run too.
// The examples import 'nquic', i.e. the built package: run `npm run build` first.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkExample } from './support/examples';

const ROOT = path.resolve(__dirname, '..');
const EXAMPLES = path.join(ROOT, 'examples');
const BROKEN = path.join(__dirname, 'fixtures', 'examples');
/** Bound on one example's run; each should exit within a few seconds. */
const RUN_MS = 30_000;

const examples = fs
  .readdirSync(EXAMPLES)
  .filter((name) => name.endsWith('.mjs'))
  .sort();

function newestSource(dir: string): { file: string; mtime: number } {
  let newest = { file: '', mtime: 0 };
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    const candidate = entry.isDirectory() ? newestSource(file) : entry.name.endsWith('.ts') ? { file, mtime: fs.statSync(file).mtimeMs } : newest;
    if (candidate.mtime > newest.mtime) newest = candidate;
  }
  return newest;
}

describe('runnable examples', () => {
  test('the package is built, and built from the current lib/ sources', () => {
    const entry = path.join(ROOT, 'dist', 'index.mjs');
    expect({ built: fs.existsSync(entry), hint: 'run `npm run build` before the examples' }).toEqual({ built: true, hint: expect.any(String) });
    const newest = newestSource(path.join(ROOT, 'lib'));
    const builtAt = fs.statSync(path.join(ROOT, 'dist', 'index.js')).mtimeMs;
    expect({ stale: newest.mtime > builtAt ? path.relative(ROOT, newest.file) : undefined, hint: 'run `npm run build:ts`' }).toEqual({
      stale: undefined,
      hint: expect.any(String),
    });
  });

  test('there are examples to run', () => {
    expect(examples.length).toBeGreaterThan(0);
  });

  test.each(examples)('examples/%s exits by itself with code 0 and prints what it declares', async (name) => {
    expect(await checkExample(path.join(EXAMPLES, name), ROOT, RUN_MS)).toEqual([]);
  }, RUN_MS + 15_000);
});

describe('the example harness fails broken examples', () => {
  test.each([
    ['wrong-output.mjs', /no line of its output matches \/\/ expect: \^echoed hello\$/, 10_000],
    ['exits-nonzero.mjs', /exited with code 1/, 10_000],
    ['hangs.mjs', /did not exit by itself within 1500 ms/, 1_500],
    ['forbidden-output.mjs', /matches \/\/ expect-not: \^server: connection from mallory\$/, 10_000],
    ['undeclared.mjs', /declares no "\/\/ expect: <regex>" line/, 10_000],
    ['bad-regex.mjs', /is not a regular expression/, 10_000],
  ])('%s is reported: %s', async (name, problem, bound) => {
    const problems = await checkExample(path.join(BROKEN, name), ROOT, bound);
    expect(problems).toContainEqual(expect.stringMatching(problem));
  }, 30_000);
});

describe('README snippets are the examples\' regions (scripts/check-examples.js)', () => {
  const script = path.join(ROOT, 'scripts', 'check-examples.js');
  const check = (...args: string[]) => spawnSync(process.execPath, [script, ...args], { encoding: 'utf8' });

  /** A scratch copy of the README, docs/ and examples/, to break without touching the checkout. */
  function scratchCopy(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nquic-snippets-'));
    fs.copyFileSync(path.join(ROOT, 'README.md'), path.join(dir, 'README.md'));
    fs.cpSync(EXAMPLES, path.join(dir, 'examples'), { recursive: true });
    if (fs.existsSync(path.join(ROOT, 'docs'))) {
      fs.mkdirSync(path.join(dir, 'docs'));
      for (const f of fs.readdirSync(path.join(ROOT, 'docs'))) {
        if (f.endsWith('.md')) fs.copyFileSync(path.join(ROOT, 'docs', f), path.join(dir, 'docs', f));
      }
    }
    return dir;
  }

  const scratch: string[] = [];
  afterAll(() => {
    for (const dir of scratch) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('every marked README block matches its region, and no js/ts block is unmarked', () => {
    const result = check();
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
  });

  test('a README block that drifted from its region fails the check, and --write puts the region back', () => {
    const dir = scratchCopy();
    scratch.push(dir);
    const readme = path.join(dir, 'README.md');
    const original = fs.readFileSync(readme, 'utf8');
    expect(original).toContain("stream.end('hello');");
    fs.writeFileSync(readme, original.replace("stream.end('hello');", "stream.end('hi');"));

    const failed = check('--root', dir);
    expect(failed.status).toBe(1);
    expect(failed.stderr).toMatch(/README\.md:\d+: differs from examples\/tour\.mjs#tour/);
    expect(failed.stderr).toContain("stream.end('hi');");

    expect(check('--root', dir, '--write').status).toBe(0);
    expect(fs.readFileSync(readme, 'utf8')).toBe(original);
    expect(check('--root', dir).status).toBe(0);
  });

  test('an example changed under its README block fails the check the same way', () => {
    const dir = scratchCopy();
    scratch.push(dir);
    const tour = path.join(dir, 'examples', 'tour.mjs');
    fs.writeFileSync(tour, fs.readFileSync(tour, 'utf8').replace('// echo streams', '// echo every stream'));
    const failed = check('--root', dir);
    expect(failed.status).toBe(1);
    expect(failed.stderr).toMatch(/differs from examples\/tour\.mjs#tour/);
  });

  test('a js block with no example marker, or a marker naming a missing region, fails the check', () => {
    const dir = scratchCopy();
    scratch.push(dir);
    const readme = path.join(dir, 'README.md');
    const original = fs.readFileSync(readme, 'utf8');
    fs.writeFileSync(
      readme,
      `${original}\n\n\`\`\`js\nconsole.log('not from an example');\n\`\`\`\n\n<!-- example: examples/tour.mjs#nope -->\n\`\`\`js\n\`\`\`\n`,
    );
    const failed = check('--root', dir);
    expect(failed.status).toBe(1);
    expect(failed.stderr).toMatch(/a ```js block that is not taken from an example/);
    expect(failed.stderr).toMatch(/examples\/tour\.mjs has no region "nope"/);
    // --write cannot invent a region: it still fails.
    expect(check('--root', dir, '--write').status).toBe(1);
  });
});
