#!/usr/bin/env node
'use strict';
// `npm run pack:local`: builds the addon for this machine and writes two tarballs into pack/:
//   pack/nquic-<version>.tgz                    the main package (JS, types, loader; no Rust sources,
//                                               no `prepare` script)
//   pack/nquic-<platform>-<version>.tgz         this platform's binary package (npm/<platform>/)
// Install both into any project (`npm install ./nquic-*.tgz`): no compiler is needed there.
//
// The main package is assembled in pack/.staging/ (package.json, README.md, the freshly generated
// index.js/index.d.ts and a dist/ compiled from lib/), so it never picks up a stale root dist/ or a
// stray .node file, and `npm pack --ignore-scripts` keeps the `prepare` script (a full cargo build)
// from running at pack time.
//
// Options:
//   --prebuilt <file.node>  skip the cargo build and package this binary (uses the root index.js/index.d.ts)
//   --debug                 debug build instead of release
// Env: CARGO_TARGET_DIR is honoured (e.g. CARGO_TARGET_DIR=/tmp/nquic-pack npm run pack:local).

const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const packDir = path.join(root, 'pack');
const staging = path.join(packDir, '.staging');
const isWin = process.platform === 'win32';

function parseArgs(argv) {
  const args = { prebuilt: null, debug: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--prebuilt') args.prebuilt = path.resolve(argv[++i]);
    else if (argv[i] === '--debug') args.debug = true;
    else throw new Error(`unknown option ${argv[i]}`);
  }
  return args;
}

// The napi-rs platform suffix of this Node (same rules as the generated loader in index.js).
function hostPlatform() {
  const { platform, arch } = process;
  if (platform === 'linux') {
    const report = process.report && process.report.getReport ? process.report.getReport() : null;
    const glibc = report && report.header && report.header.glibcVersionRuntime;
    const libc = glibc ? 'gnu' : 'musl';
    if (arch === 'arm') return libc === 'gnu' ? 'linux-arm-gnueabihf' : 'linux-arm-musleabihf';
    return `linux-${arch}-${libc}`;
  }
  if (platform === 'win32') return `win32-${arch}-msvc`;
  if (platform === 'android') return arch === 'arm' ? 'android-arm-eabi' : `android-${arch}`;
  return `${platform}-${arch}`;
}

function run(cmd, args, opts = {}) {
  console.log(`$ ${cmd} ${args.join(' ')}`);
  return execFileSync(cmd, args, { stdio: 'inherit', cwd: root, shell: isWin, ...opts });
}

function npmPack(dir) {
  // --ignore-scripts: the main package's `prepare` would rebuild everything from source.
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], {
    cwd: dir,
    encoding: 'utf8',
    shell: isWin,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [info] = JSON.parse(out.slice(out.indexOf('[')));
  return info;
}

function copy(from, to) {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(from, to);
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const binaryName = pkg.napi.binaryName;
  const plat = hostPlatform();
  const npmDir = path.join(root, 'npm', plat);
  if (!fs.existsSync(path.join(npmDir, 'package.json'))) {
    throw new Error(`this host is ${plat}, which has no npm/${plat}/ package (not in package.json napi.targets)`);
  }
  const nodeFile = `${binaryName}.${plat}.node`;

  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });

  // 1. The native addon, plus the loader and types napi generates next to it.
  const built = path.join(packDir, '.native');
  if (args.prebuilt) {
    fs.rmSync(built, { recursive: true, force: true });
    copy(args.prebuilt, path.join(built, nodeFile));
    copy(path.join(root, 'index.js'), path.join(built, 'index.js'));
    copy(path.join(root, 'index.d.ts'), path.join(built, 'index.d.ts'));
  } else {
    run(process.execPath, [path.join(root, 'scripts', 'check-prerequisites.js')]);
    run(process.execPath, [path.join(root, 'scripts', 'patch-quiche.js')]);
    const napiArgs = ['napi', 'build', '--platform', '--output-dir', built, '--js', 'index.js', '--dts', 'index.d.ts'];
    if (!args.debug) napiArgs.push('--release');
    run('npx', napiArgs);
  }
  copy(path.join(built, nodeFile), path.join(npmDir, nodeFile));

  // 2. The main package: metadata, loader, types and a dist/ compiled from lib/.
  for (const f of ['package.json', 'README.md']) copy(path.join(root, f), path.join(staging, f));
  // The packed manifest carries no `prepare`: it builds from Rust sources the tarball does not
  // contain. npm does not run `prepare` for a tarball or registry dependency anyway, but npm 11's
  // install-script audit would still list it, and other clients need not agree.
  const manifest = JSON.parse(fs.readFileSync(path.join(staging, 'package.json'), 'utf8'));
  delete manifest.scripts.prepare;
  fs.writeFileSync(path.join(staging, 'package.json'), JSON.stringify(manifest, null, 2) + '\n');
  for (const f of ['index.js', 'index.d.ts']) copy(path.join(built, f), path.join(staging, f));
  run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json', '--outDir', path.join(staging, 'dist')]);
  // write-esm-entry.js loads dist/index.js to list its exports; point the loader at the new binary.
  copy(path.join(root, 'scripts', 'write-esm-entry.js'), path.join(staging, 'scripts', 'write-esm-entry.js'));
  run(process.execPath, [path.join(staging, 'scripts', 'write-esm-entry.js')], {
    cwd: staging,
    env: { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: path.join(npmDir, nodeFile) },
  });
  fs.rmSync(path.join(staging, 'scripts'), { recursive: true });

  // 3. Tarballs.
  fs.mkdirSync(packDir, { recursive: true });
  const results = [npmPack(staging), npmPack(npmDir)];
  fs.rmSync(staging, { recursive: true, force: true });
  console.log('');
  for (const r of results) {
    console.log(`pack/${r.filename}  ${(r.size / 1024).toFixed(1)} kB packed, ` +
      `${(r.unpackedSize / 1024).toFixed(1)} kB unpacked, ${r.entryCount} files`);
  }
  console.log(`\nInstall with: npm install ${results.map((r) => path.join(packDir, r.filename)).join(' ')}`);
}

try {
  main();
} catch (err) {
  console.error(`pack:local failed: ${err.message}`);
  process.exit(1);
}
