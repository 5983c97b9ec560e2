#!/usr/bin/env node
'use strict';
// Run by `npm run build:native` before compiling the native addon from source: checks that the
// build tools are present and says exactly how to get the missing ones. NQUIC_SKIP_BUILD=1 skips it.

const fs = require('node:fs');
const path = require('node:path');

const isWin = process.platform === 'win32';
const isMac = process.platform === 'darwin';

if (process.env.NQUIC_SKIP_BUILD === '1') process.exit(0);

function onPath(cmd) {
  const exts = isWin ? (process.env.PATHEXT || '.EXE;.CMD;.BAT').split(';') : [''];
  const dirs = (process.env.PATH || '').split(path.delimiter).filter(Boolean);
  return dirs.some((d) => exts.some((e) => {
    try { fs.accessSync(path.join(d, cmd + e), fs.constants.X_OK); return true; } catch { return false; }
  }));
}

function hasLibclang() {
  const name = isWin ? /^libclang\.dll$/i : isMac ? /^libclang\.dylib$/ : /^libclang(-[0-9.]+)?\.so(\.[0-9.]+)?$/;
  const dirs = [];
  if (process.env.LIBCLANG_PATH) {
    const p = process.env.LIBCLANG_PATH;
    if (fs.existsSync(p) && fs.statSync(p).isFile()) return true;
    dirs.push(p);
  }
  if (isWin) dirs.push('C:\\Program Files\\LLVM\\bin');
  else if (isMac) {
    dirs.push('/Library/Developer/CommandLineTools/usr/lib', '/opt/homebrew/opt/llvm/lib', '/usr/local/opt/llvm/lib',
      '/Applications/Xcode.app/Contents/Developer/Toolchains/XcodeDefault.xctoolchain/usr/lib');
  } else {
    for (const base of ['/usr/lib', '/usr/lib64', '/usr/local/lib']) {
      let entries = [];
      try { entries = fs.readdirSync(base); } catch { continue; }
      dirs.push(base);
      for (const e of entries) {
        if (/^llvm(-[0-9.]+)?$/.test(e)) dirs.push(path.join(base, e, 'lib'));
        if (/-linux-gnu$/.test(e)) dirs.push(path.join(base, e));
      }
    }
  }
  return dirs.some((d) => { try { return fs.readdirSync(d).some((f) => name.test(f)); } catch { return false; } });
}

const fix = isMac
  ? { cmake: 'brew install cmake', clang: 'xcode-select --install   (or: brew install llvm)', libclang: 'xcode-select --install   (or: brew install llvm)' }
  : isWin
    ? { cmake: 'winget install Kitware.CMake', clang: 'winget install LLVM.LLVM', libclang: 'winget install LLVM.LLVM   (then set LIBCLANG_PATH=C:\\Program Files\\LLVM\\bin)' }
    : { cmake: 'sudo apt-get install -y cmake clang libclang-dev   (Fedora: sudo dnf install cmake clang clang-devel)',
        clang: 'sudo apt-get install -y cmake clang libclang-dev   (Fedora: sudo dnf install cmake clang clang-devel)',
        libclang: 'sudo apt-get install -y cmake clang libclang-dev   (or set LIBCLANG_PATH to the directory holding libclang.so)' };
const cargoHome = process.env.CARGO_HOME || path.join(require('node:os').homedir(), '.cargo');
fix.cargo = fs.existsSync(path.join(cargoHome, 'bin', isWin ? 'cargo.exe' : 'cargo'))
  ? `Rust is installed in ${path.join(cargoHome, 'bin')} but not on PATH: run  . "${path.join(cargoHome, 'env')}"  (or open a new shell)`
  : isWin ? 'install Rust from https://rustup.rs' : 'curl https://sh.rustup.rs -sSf | sh   (then open a new shell or run: . "$HOME/.cargo/env")';

const missing = [];
if (!onPath('cargo')) missing.push(['cargo (Rust toolchain)', fix.cargo]);
if (!onPath('cmake')) missing.push(['cmake', fix.cmake]);
if (!onPath('clang')) missing.push(['clang', fix.clang]);
if (!hasLibclang()) missing.push(['libclang (for bindgen)', fix.libclang]);

if (missing.length === 0) process.exit(0);

const lines = [
  '',
  'nquic: cannot build the native addon from source; no prebuilt binary for',
  `${process.platform}-${process.arch} was found and these build tools are missing:`,
  '',
  ...missing.map(([what, how]) => `  - ${what}\n      fix: ${how}`),
  '',
  'Install them and run npm install again (set NQUIC_SKIP_BUILD=1 to skip this check).',
  '',
];
console.error(lines.join('\n'));
process.exit(1);
