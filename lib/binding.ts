// The only module that imports the napi-generated binding. When no prebuilt
// binary fits, the error names the platform and what to do.
type Native = typeof import('../index.js');

/** napi-rs's platform suffix for this process, e.g. `linux-x64-gnu`, `win32-arm64-msvc`. */
function platformName(): string {
  const { platform, arch } = process;
  if (platform === 'linux') {
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
    const libc = report?.header?.glibcVersionRuntime ? 'gnu' : 'musl';
    return arch === 'arm' ? `linux-arm-${libc}eabihf` : `linux-${arch}-${libc}`;
  }
  if (platform === 'win32') return `win32-${arch}-msvc`;
  if (platform === 'android') return arch === 'arm' ? 'android-arm-eabi' : `android-${arch}`;
  return `${platform}-${arch}`;
}

function causes(err: unknown): string[] {
  const out: string[] = [];
  for (let e = err, depth = 0; e instanceof Error && depth < 20; e = e.cause, depth++) {
    out.push(e.message.split('\n')[0]);
  }
  return out;
}

function load(): Native {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('../index.js') as Native;
  } catch (err) {
    const name = platformName();
    const error = new Error(
      `nquic: no prebuilt native binary could be loaded for ${name} ` +
        `(Node.js ${process.version}, N-API ${process.versions.napi ?? '?'}). ` +
        `It comes from the optional dependency "nquic-${name}": reinstall without --omit=optional / --no-optional, ` +
        `or delete node_modules and package-lock.json and run npm install again. ` +
        `If ${name} is not a supported platform (see "Install" in the README), build from source.\n` +
        causes(err)
          .map((m) => `  - ${m}`)
          .join('\n'),
      { cause: err },
    );
    (error as NodeJS.ErrnoException).code = 'ERR_NQUIC_NATIVE_BINDING';
    throw error;
  }
}

const native: Native = load();

export = native;
