// The documentation cannot drift from the code: the API reference builds from
// the public docstrings without a warning (every public class, member and
// option documented, every link resolving), every event a public class emits
// is documented in lib/events.ts (and nothing else is), and the README's
// Errors table lists exactly the codes of ERROR_CODES, which hold every code
// lib/ raises.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { ERROR_CODES } from '../lib';

const ROOT = path.resolve(__dirname, '..');

function libFiles(dir = path.join(ROOT, 'lib')): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const file = path.join(dir, e.name);
    return e.isDirectory() ? libFiles(file) : e.name.endsWith('.ts') ? [file] : [];
  });
}

describe('API reference (TypeDoc, typedoc.json)', () => {
  test('builds without warnings: every public item documented, every {@link} and {@includeCode} resolving', () => {
    const typedoc = path.join(ROOT, 'node_modules', 'typedoc', 'bin', 'typedoc');
    const run = spawnSync(process.execPath, [typedoc, '--emit', 'none'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    const output = `${run.stdout}${run.stderr}`.replace(/\x1b\[[0-9;]*m/g, '');
    const complaints = output.split('\n').filter((line) => /\[(warning|error)\]/.test(line));
    expect({ status: run.status, complaints }).toEqual({ status: 0, complaints: [] });
  }, 150_000);
});

describe('events', () => {
  /** Public class name → its events interface's keys (from lib/index.ts's exports). */
  function documentedEvents(checker: ts.TypeChecker, index: ts.SourceFile): { classes: Set<string>; events: Map<string, Set<string>> } {
    const module = checker.getSymbolAtLocation(index)!;
    const classes = new Set<string>();
    const events = new Map<string, Set<string>>();
    for (const exported of checker.getExportsOfModule(module)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      if (symbol.flags & ts.SymbolFlags.Class) classes.add(exported.name);
      if (symbol.flags & ts.SymbolFlags.Interface && exported.name.endsWith('Events')) {
        const type = checker.getDeclaredTypeOfSymbol(symbol);
        events.set(exported.name.slice(0, -'Events'.length), new Set(type.getProperties().map((p) => p.name)));
      }
    }
    return { classes, events };
  }

  /** Every `x.emit('literal', …)` in lib/ whose receiver is one of `classes`: class → event → where. */
  function emittedEvents(program: ts.Program, checker: ts.TypeChecker, classes: Set<string>): Map<string, Map<string, string>> {
    const emitted = new Map<string, Map<string, string>>();
    const visit = (node: ts.Node, file: ts.SourceFile): void => {
      if (
        ts.isCallExpression(node) &&
        ts.isPropertyAccessExpression(node.expression) &&
        node.expression.name.text === 'emit' &&
        node.arguments.length > 0 &&
        ts.isStringLiteralLike(node.arguments[0])
      ) {
        const owner = checker.getTypeAtLocation(node.expression.expression).getSymbol()?.name;
        if (owner !== undefined && classes.has(owner)) {
          const { line } = file.getLineAndCharacterOfPosition(node.getStart(file));
          if (!emitted.has(owner)) emitted.set(owner, new Map());
          emitted.get(owner)!.set(node.arguments[0].text, `${path.relative(ROOT, file.fileName)}:${line + 1}`);
        }
      }
      ts.forEachChild(node, (child) => visit(child, file));
    };
    for (const file of program.getSourceFiles()) {
      if (file.fileName.startsWith(path.join(ROOT, 'lib') + path.sep) || file.fileName.startsWith(`${ROOT}/lib/`)) visit(file, file);
    }
    return emitted;
  }

  test('every event a public class emits is documented in its <Class>Events interface, and every documented event is emitted', () => {
    const config = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!;
    const program = ts.createProgram({ rootNames: config.fileNames, options: { ...config.options, noEmit: true } });
    const checker = program.getTypeChecker();
    const index = program.getSourceFile(path.join(ROOT, 'lib', 'index.ts'))!;
    const { classes, events } = documentedEvents(checker, index);
    const emitted = emittedEvents(program, checker, classes);

    const problems: string[] = [];
    for (const [cls, names] of emitted) {
      const documented = events.get(cls);
      for (const [name, where] of names) {
        if (!documented) problems.push(`${where}: ${cls} emits '${name}', but there is no exported ${cls}Events interface (lib/events.ts)`);
        else if (!documented.has(name)) problems.push(`${where}: ${cls} emits '${name}', which ${cls}Events does not document`);
      }
    }
    for (const [cls, names] of events) {
      if (!classes.has(cls)) problems.push(`${cls}Events documents events of ${cls}, which is not an exported class`);
      for (const name of names) {
        if (!emitted.get(cls)?.has(name)) problems.push(`${cls}Events documents '${name}', which ${cls} never emits`);
      }
    }
    expect(problems).toEqual([]);
    // The check found the emits it is about (it would pass vacuously otherwise).
    expect(emitted.get('QuicConnection')?.has('stream')).toBe(true);
  }, 60_000);
});

describe('error codes', () => {
  test("the README's Errors table lists exactly the codes of ERROR_CODES", () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const table = [...readme.matchAll(/^\| `((?:ERR|ABORT)_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
    expect(table.length).toBeGreaterThan(0);
    expect(new Set(table).size).toBe(table.length);
    expect([...table].sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  test('every error code lib/ raises is in ERROR_CODES', () => {
    const known = new Set(Object.keys(ERROR_CODES));
    const unknown: string[] = [];
    for (const file of libFiles()) {
      const source = fs.readFileSync(file, 'utf8');
      for (const m of source.matchAll(/['"`]((?:ERR|ABORT)_[A-Z0-9_]*[A-Z0-9])['"`]/g)) {
        const prefixTest = /startsWith\(\s*$/.test(source.slice(0, m.index));
        if (!prefixTest && !known.has(m[1])) unknown.push(`${path.relative(ROOT, file)}: ${m[1]}`);
      }
    }
    expect(unknown).toEqual([]);
  });
});
