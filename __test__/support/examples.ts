// Runs one runnable example (examples/*.mjs) in its own Node process and
// checks it against what the file declares about itself:
//   // expect: <regular expression>       some line of stdout must match it
//   // expect-not: <regular expression>   no line of stdout may match it
// and the process must exit by itself with code 0 within the time bound.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';

export interface Expectations {
  expect: RegExp[];
  expectNot: RegExp[];
  /** Malformed declarations (a regular expression that does not compile). */
  errors: string[];
}

export interface ExampleRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

/** Output kept per stream; an example printing more than this is cut (and likely broken). */
const MAX_OUTPUT = 1024 * 1024;
const DECLARATION = /^\s*\/\/\s*(expect|expect-not):\s?(.*)$/;

/** The `// expect:` and `// expect-not:` declarations of an example's source. */
export function expectationsOf(source: string): Expectations {
  const result: Expectations = { expect: [], expectNot: [], errors: [] };
  source.split(/\r?\n/).forEach((line, i) => {
    const m = DECLARATION.exec(line);
    if (!m) return;
    const pattern = m[2].trim();
    try {
      const re = new RegExp(pattern);
      (m[1] === 'expect' ? result.expect : result.expectNot).push(re);
    } catch (err) {
      result.errors.push(`line ${i + 1}: // ${m[1]}: ${pattern} is not a regular expression (${(err as Error).message})`);
    }
  });
  return result;
}

/** Runs `node <file>` in `cwd`; kills it (SIGKILL) if it has not exited after `timeoutMs`. */
export function runExample(file: string, cwd: string, timeoutMs: number): Promise<ExampleRun> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.NODE_DEBUG;
    delete env.NODE_OPTIONS; // jest's own flags do not belong in the example's process
    const child = spawn(process.execPath, [file], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = { stdout: '', stderr: '' };
    const collect = (key: 'stdout' | 'stderr') => (chunk: Buffer) => {
      if (out[key].length < MAX_OUTPUT) out[key] += chunk.toString('utf8').slice(0, MAX_OUTPUT - out[key].length);
    };
    child.stdout.on('data', collect('stdout'));
    child.stderr.on('data', collect('stderr'));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut, ...out });
    });
  });
}

/** What is wrong with a run of the example whose source is `source` (nothing: it passed). */
export function problemsOf(source: string, run: ExampleRun, timeoutMs: number): string[] {
  const declared = expectationsOf(source);
  const problems = [...declared.errors];
  if (declared.expect.length === 0) problems.push('declares no "// expect: <regex>" line, so its output is not checked');
  if (run.timedOut) problems.push(`did not exit by itself within ${timeoutMs} ms (killed)`);
  else if (run.code !== 0) problems.push(`exited with ${run.code === null ? `signal ${run.signal}` : `code ${run.code}`}`);
  const lines = run.stdout.split(/\r?\n/);
  for (const re of declared.expect) {
    if (!lines.some((line) => re.test(line))) problems.push(`no line of its output matches // expect: ${re.source}`);
  }
  for (const re of declared.expectNot) {
    const line = lines.find((l) => re.test(l));
    if (line !== undefined) problems.push(`its output has ${JSON.stringify(line)}, which matches // expect-not: ${re.source}`);
  }
  return problems;
}

/** Runs the example at `file` and returns its problems, with its output appended when there are any. */
export async function checkExample(file: string, cwd: string, timeoutMs: number): Promise<string[]> {
  const run = await runExample(file, cwd, timeoutMs);
  const problems = problemsOf(fs.readFileSync(file, 'utf8'), run, timeoutMs);
  if (problems.length > 0) problems.push(`stdout:\n${run.stdout || '(empty)'}\nstderr:\n${run.stderr || '(empty)'}`);
  return problems;
}
